/* tests/engine/e01_alloc_faults.c - allocation failure at every point of
 * CONNECT, SUBSCRIBE, PUBLISH, acknowledgment, session resumption and
 * start-up (issue 8, item 5).
 *
 * The engine runs in-process (eharness.h) with every malloc, calloc,
 * realloc and strdup of the broker's own code wrapped (alloc_fail.c). A
 * scenario is run once to count its allocations, then once for each N,
 * with the Nth allocation failing. After each run, with failures off:
 *   - the engine and the store agree and the store is sound (eh_check);
 *   - a fresh client is served (CONNECT, SUBSCRIBE, PUBLISH QoS 1, its
 *     PUBACK and the delivery);
 *   - every message the publisher got a success PUBACK/PUBREC for reaches
 *     the persistent subscriber after a restart: the failure cost at most
 *     a refusal, a closed connection or a reset to the last commit, never
 *     an acknowledged message;
 *   - nothing leaks (LeakSanitizer, in the ASan build, at exit).
 * The start-up case fails the Nth allocation while a broker opens a store
 * holding sessions, subscriptions, queued messages and a retained message;
 * start-up may fail, but cleanly, and the next start must find everything.
 *
 * Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eharness.h"
#include "test.h"

#define SUB   0
#define PUB   1
#define SUB2  2
#define FRESH 3

static void
feed(struct eh *e, int i, struct hf_packet *p, uint8_t ver)
{
	struct hf_wbuf w = {0};
	if (hf_encode(p, ver, &w) == HF_OK)
		eh_feed(e, i, w.p, w.len);
	hf_wbuf_free(&w);
}

static void
conn(struct eh *e, int i, uint8_t ver, const char *id, bool clean,
     uint32_t expiry, const char *will)
{
	struct hf_packet p;
	static const uint8_t user[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
	memset(&p, 0, sizeof(p));
	p.type = HF_CONNECT;
	p.u.connect.proto_ver = ver;
	p.u.connect.clean_start = clean;
	p.u.connect.keepalive = 60;
	p.u.connect.client_id.p = (const uint8_t *)id;
	p.u.connect.client_id.len = (uint32_t)strlen(id);
	if (will) {
		p.u.connect.will = true;
		p.u.connect.will_qos = 1;
		p.u.connect.will_topic.p = (const uint8_t *)will;
		p.u.connect.will_topic.len = (uint32_t)strlen(will);
		p.u.connect.will_payload.p = (const uint8_t *)"gone";
		p.u.connect.will_payload.len = 4;
	}
	if (ver == HF_PROTO_V5) {
		if (expiry) {
			p.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
			p.u.connect.props.session_expiry = expiry;
		}
		p.u.connect.props.present |= HF_PP_USER_PROPERTY;
		p.u.connect.props.user.p = user;
		p.u.connect.props.user.len = sizeof(user);
		p.u.connect.props.n_user = 1;
	}
	if (eh_connect(e, i))
		feed(e, i, &p, ver);
}

static void
subscribe(struct eh *e, int i, uint8_t ver, const char *f, uint8_t qos,
          uint32_t id)
{
	struct hf_packet p;
	uint8_t entry[128];
	size_t n = strlen(f);
	entry[0] = (uint8_t)(n >> 8);
	entry[1] = (uint8_t)n;
	memcpy(entry + 2, f, n);
	entry[2 + n] = qos;
	memset(&p, 0, sizeof(p));
	p.type = HF_SUBSCRIBE;
	p.u.subscribe.pid = 7;
	p.u.subscribe.entries.p = entry;
	p.u.subscribe.entries.len = (uint32_t)n + 3;
	p.u.subscribe.n = 1;
	if (id && ver == HF_PROTO_V5) {
		p.u.subscribe.props.present |= HF_PP_SUBSCRIPTION_ID;
		p.u.subscribe.props.sub_ids = &id;
		p.u.subscribe.props.n_sub_ids = 1;
	}
	feed(e, i, &p, ver);
}

static void
publish(struct eh *e, int i, uint8_t ver, const char *t, const char *payload,
        uint8_t qos, bool retain, uint16_t pid)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.retain = retain;
	p.u.publish.pid = pid;
	p.u.publish.topic.p = (const uint8_t *)t;
	p.u.publish.topic.len = (uint32_t)strlen(t);
	p.u.publish.payload.p = (const uint8_t *)payload;
	p.u.publish.payload.len = (uint32_t)strlen(payload);
	feed(e, i, &p, ver);
}

static void
ack(struct eh *e, int i, uint8_t ver, uint8_t type, uint16_t pid)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.ack.pid = pid;
	feed(e, i, &p, ver);
}

/* What one slot saw in a turn. */
struct got {
	bool connack_ok;
	uint16_t acked[8]; /* pids of success PUBACK/PUBREC */
	int n_acked;
	char payloads[16][16];
	int n_payloads;
	bool puback_seen;
};

/* Read slot i's packets; answer PUBLISH (PUBACK/PUBREC), PUBREL
 * (PUBCOMP) and PUBREC (PUBREL). */
static void
read_slot(struct eh *e, int i, uint8_t ver, struct got *g)
{
	struct hf_packet p;
	uint8_t *body;
	int rc;
	while ((rc = eh_next_packet(e, i, &p, &body)) == 1) {
		switch (p.type) {
		case HF_CONNACK:
			g->connack_ok = p.u.connack.rc == 0;
			break;
		case HF_PUBACK:
		case HF_PUBREC:
			g->puback_seen = true;
			if (p.u.ack.rc < 0x80 && g->n_acked < 8)
				g->acked[g->n_acked++] = p.u.ack.pid;
			if (p.type == HF_PUBREC)
				ack(e, i, ver, HF_PUBREL, p.u.ack.pid);
			break;
		case HF_PUBREL:
			ack(e, i, ver, HF_PUBCOMP, p.u.ack.pid);
			break;
		case HF_PUBLISH:
			if (g->n_payloads < 16)
				snprintf(g->payloads[g->n_payloads++], 16,
				         "%.*s", (int)p.u.publish.payload.len,
				         (const char *)p.u.publish.payload.p);
			if (p.u.publish.qos == 1)
				ack(e, i, ver, HF_PUBACK, p.u.publish.pid);
			else if (p.u.publish.qos == 2)
				ack(e, i, ver, HF_PUBREC, p.u.publish.pid);
			break;
		default:
			break;
		}
		free(body);
	}
	free(body);
}

static bool
got_payload(const struct got *g, const char *s)
{
	for (int k = 0; k < g->n_payloads; k++)
		if (strcmp(g->payloads[k], s) == 0)
			return true;
	return false;
}

static bool
acked(const struct got *g, uint16_t pid)
{
	for (int k = 0; k < g->n_acked; k++)
		if (g->acked[k] == pid)
			return true;
	return false;
}

/* Setup, never failing: a persistent subscriber to t/# at QoS 2, offline. */
static int
setup(struct eh *e)
{
	memset(e, 0, sizeof(*e));
	e->quiet = false;
	if (eh_open(e, "/tmp") != 0)
		return -1;
	conn(e, SUB, HF_PROTO_V5, "sub", true, 600, "w/sub");
	subscribe(e, SUB, HF_PROTO_V5, "t/#", 2, 0);
	eh_turn(e);
	eh_drop(e, SUB);
	eh_turn(e);
	return eh_check(e) == 0 ? 0 : -1;
}

/* The scenario under fault: what the publisher saw acknowledged, what the
 * persistent subscriber received. */
static void
scenario(struct eh *e, struct got *pub, struct got *sub)
{
	struct got g2;
	struct got *g0 = sub;
	memset(&g2, 0, sizeof(g2));
	conn(e, PUB, HF_PROTO_V5, "pub", true, 0, "w/pub");
	subscribe(e, PUB, HF_PROTO_V5, "t/y", 1, 5);
	publish(e, PUB, HF_PROTO_V5, "t/a", "m1", 1, false, 1);
	publish(e, PUB, HF_PROTO_V5, "t/b", "m2", 2, false, 2);
	publish(e, PUB, HF_PROTO_V5, "t/r", "m3", 1, true, 3);
	publish(e, PUB, HF_PROTO_V5, "t/c", "m4", 0, false, 0);
	eh_turn(e);
	read_slot(e, PUB, HF_PROTO_V5, pub);
	eh_turn(e);
	conn(e, SUB2, HF_PROTO_V311, "sub2", false, 0, NULL);
	subscribe(e, SUB2, HF_PROTO_V311, "t/#", 1, 0);
	/* Enough subscriptions for the session's filter index. */
	for (int k = 0; k < 20; k++) {
		char f[16];
		snprintf(f, sizeof(f), "many/%d", k);
		subscribe(e, SUB2, HF_PROTO_V311, f, (uint8_t)(k % 3), 0);
	}
	eh_turn(e);
	read_slot(e, SUB2, HF_PROTO_V311, &g2);
	publish(e, PUB, HF_PROTO_V5, "t/a", "m5", 1, false, 4);
	eh_turn(e);
	read_slot(e, PUB, HF_PROTO_V5, pub);
	conn(e, SUB, HF_PROTO_V5, "sub", false, 600, NULL);
	eh_turn(e);
	read_slot(e, SUB, HF_PROTO_V5, g0);
	eh_turn(e);
	read_slot(e, SUB, HF_PROTO_V5, g0);
	read_slot(e, SUB2, HF_PROTO_V311, &g2);
	eh_turn(e);
}

/* After the fault: sound, serving, nothing acknowledged lost. */
static void
verify(struct eh *e, const struct got *pub, struct got *sub)
{
	struct got f;
	struct got s = *sub; /* what it already had, and more */
	static const char *const pl[] = {"", "m1", "m2", "m3", "m5"};
	memset(&f, 0, sizeof(f));
	s.connack_ok = false;
	eh_turn(e);
	CHECK_EQ(eh_check(e), 0);
	conn(e, FRESH, HF_PROTO_V5, "fresh", true, 0, NULL);
	subscribe(e, FRESH, HF_PROTO_V5, "f/#", 1, 0);
	publish(e, FRESH, HF_PROTO_V5, "f/1", "hello", 1, false, 9);
	eh_turn(e);
	read_slot(e, FRESH, HF_PROTO_V5, &f);
	CHECK(f.connack_ok);
	CHECK(acked(&f, 9));
	CHECK(got_payload(&f, "hello"));
	CHECK_EQ(eh_restart(e, true), 0);
	CHECK_EQ(eh_check(e), 0);
	conn(e, SUB, HF_PROTO_V5, "sub", false, 600, NULL);
	for (int t = 0; t < 6; t++) {
		eh_turn(e);
		read_slot(e, SUB, HF_PROTO_V5, &s);
	}
	CHECK(s.connack_ok);
	for (uint16_t pid = 1; pid <= 4; pid++) {
		if (acked(pub, pid) && !got_payload(&s, pl[pid])) {
			fprintf(stderr,
			        "acknowledged %s never arrived (%d acked, "
			        "subscriber got %d)\n",
			        pl[pid], pub->n_acked, s.n_payloads);
			CHECK(0);
		}
	}
	CHECK_EQ(eh_check(e), 0);
}

static void
faults_in_traffic(void)
{
	struct eh e;
	struct got pub, sub;
	uint64_t total, n, failed_runs = 0;

	/* Count the scenario's allocations. */
	CHECK_EQ(setup(&e), 0);
	memset(&pub, 0, sizeof(pub));
	memset(&sub, 0, sizeof(sub));
	uint64_t before = eh_alloc_count();
	scenario(&e, &pub, &sub);
	total = eh_alloc_count() - before;
	CHECK_EQ(pub.n_acked, 4); /* m1, m2, m3, m5 */
	verify(&e, &pub, &sub);
	eh_close(&e);
	fprintf(stderr, "scenario: %llu allocations\n",
	        (unsigned long long)total);
	CHECK(total > 50);

	n = getenv("E01_N") ? strtoull(getenv("E01_N"), NULL, 10) : 1;
	for (; n <= total + 1; n++) {
		CHECK_EQ(setup(&e), 0);
		memset(&pub, 0, sizeof(pub));
		memset(&sub, 0, sizeof(sub));
		eh_alloc_fail_at(n);
		scenario(&e, &pub, &sub);
		failed_runs += eh_alloc_failed();
		eh_alloc_fail_at(0);
		verify(&e, &pub, &sub);
		if (hf_test_failed_)
			fprintf(stderr, "after failing allocation %llu\n",
			        (unsigned long long)n);
		eh_close(&e);
		if (hf_test_failed_)
			return;
	}
	CHECK(failed_runs >= total);
}

/* A store with something in it: the subscriber's session, a queued QoS 1
 * and QoS 2 message, a retained message. */
static int
populate(struct eh *e)
{
	struct got pub;
	memset(&pub, 0, sizeof(pub));
	if (setup(e) != 0)
		return -1;
	conn(e, PUB, HF_PROTO_V5, "pub", true, 0, NULL);
	publish(e, PUB, HF_PROTO_V5, "t/a", "q1", 1, false, 1);
	publish(e, PUB, HF_PROTO_V5, "t/b", "q2", 2, true, 2);
	eh_turn(e);
	read_slot(e, PUB, HF_PROTO_V5, &pub);
	eh_turn(e);
	return pub.n_acked == 2 && eh_check(e) == 0 ? 0 : -1;
}

static void
faults_at_startup(void)
{
	struct eh e;
	struct got s;
	uint64_t n, total;

	CHECK_EQ(populate(&e), 0);
	uint64_t before = eh_alloc_count();
	CHECK_EQ(eh_restart(&e, false), 0);
	total = eh_alloc_count() - before;
	eh_close(&e);
	for (n = 1; n <= total + 1; n++) {
		CHECK_EQ(populate(&e), 0);
		eh_alloc_fail_at(n);
		(void)eh_restart(&e, false); /* may fail, cleanly */
		eh_alloc_fail_at(0);
		CHECK_EQ(eh_restart(&e, false), 0);
		CHECK_EQ(eh_check(&e), 0);
		memset(&s, 0, sizeof(s));
		conn(&e, SUB, HF_PROTO_V5, "sub", false, 600, NULL);
		for (int t = 0; t < 4; t++) {
			eh_turn(&e);
			read_slot(&e, SUB, HF_PROTO_V5, &s);
		}
		CHECK(s.connack_ok);
		CHECK(got_payload(&s, "q1"));
		CHECK(got_payload(&s, "q2"));
		eh_close(&e);
		if (hf_test_failed_) {
			fprintf(stderr,
			        "after failing start-up allocation %llu\n",
			        (unsigned long long)n);
			return;
		}
	}
}

int
main(void)
{
	HF_RUN(faults_in_traffic);
	HF_RUN(faults_at_startup);
	return HF_DONE();
}
