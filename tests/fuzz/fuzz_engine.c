// tests/fuzz/fuzz_engine.c - stateful libFuzzer target for the engine and
// the store together.
//
// Built as a libFuzzer binary with -DHF_FUZZ=ON (clang); tools/fuzz.sh runs
// it for a bounded time over tests/fuzz/corpus/engine, and every CTest run
// replays that corpus (test fuzz_engine_replay).
/*
 * The input is a program for four clients of one broker (tests/engine/
 * eharness.h: the real engine over in-memory connections and a real LMDB
 * store in a temporary folder). Each instruction is an opcode byte (low two
 * bits: the client slot; the rest: the operation) and up to three argument
 * bytes: CONNECT (version, clean start, session expiry, will with its QoS,
 * retain and delay, Receive Maximum, Maximum Packet Size, one of five
 * client ids so that sessions are shared and taken over), SUBSCRIBE and
 * UNSUBSCRIBE (a dozen filters with wildcards and a shared group, every
 * option), PUBLISH (five topics, QoS 0-2, retain, DUP, empty payloads that
 * clear retained messages, message expiry, topic aliases, reused packet
 * ids), acknowledgments of what the client received, in order, out of
 * order or for ids never sent, answering everything received, DISCONNECT
 * with and without a will and with a new session expiry, a dropped
 * connection, raw bytes, the end of a loop turn, time moving forward
 * (keepalive, will delay, session expiry), a restart of the broker, clean
 * or as a crash (the open transaction lost), and the failure of the Nth
 * allocation from now (tests/engine/alloc_fail.c).
 *
 * After every turn the harness commits and checks the engine against the
 * store (hf_dur_check) and the store against itself (hf_store_check); any
 * violation, a packet from the broker that does not decode, or a failed
 * store aborts the run: that input is a finding.
 *
 * Threading: single-threaded; one harness per input, in a folder under
 * /dev/shm (or TMPDIR when /dev/shm is missing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eharness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS 256

static const char *const ids[] = {"a", "b", "c", "dd", ""};
static const char *const topics[] = {"t/a", "t/b", "t/a/b", "w/x", "$x/a"};
static const char *const filters[] = {
    "t/a", "t/+",          "t/#",          "#",          "+/a",   "t/a/b",
    "w/#", "$share/g/t/a", "$share/g/t/#", "$share/h/#", "+/+/+", "$x/#",
};
static const uint32_t expiries[] = {0, 5, 60, UINT32_MAX};

struct prog {
	const uint8_t *p;
	size_t n;
};

static uint8_t
arg(struct prog *g)
{
	if (!g->n)
		return 0;
	g->n--;
	return *g->p++;
}

/* Per-slot memory of what the client was sent, for acknowledgments. */
struct seen {
	uint16_t pids[16]; /* packet ids of QoS 1/2 PUBLISHes received */
	uint8_t qos[16];
	uint8_t n;
	uint16_t rel[16]; /* PUBRELs received */
	uint8_t nrel;
	uint16_t next_pid;
};

static struct seen seen[EH_CONNS];

static void
send_pkt(struct eh *e, int i, const struct hf_packet *p, uint8_t ver)
{
	struct hf_wbuf w = {0};
	if (hf_encode(p, ver, &w) == HF_OK)
		eh_feed(e, i, w.p, w.len);
	hf_wbuf_free(&w);
}

static uint8_t
slot_ver(struct eh *e, int i)
{
	struct eh_conn *m = e->slot[i];
	struct hf_client *c = eh_client(e, i);
	if (c && c->proto)
		return c->proto;
	return m && m->proto ? m->proto : HF_PROTO_V311;
}

static void
op_connect(struct eh *e, int i, struct prog *g)
{
	uint8_t a = arg(g), b = arg(g), c = arg(g);
	static const uint8_t vers[] = {HF_PROTO_V31, HF_PROTO_V311, HF_PROTO_V5,
	                               HF_PROTO_V5};
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_CONNECT;
	struct hf_connect *k = &p.u.connect;
	k->proto_ver = vers[a & 3];
	k->clean_start = (a >> 2) & 1;
	k->will = (a >> 3) & 1;
	k->will_qos = (a >> 4) & 3;
	if (k->will_qos > 2)
		k->will_qos = 2;
	k->will_retain = (a >> 6) & 1;
	k->keepalive = (a >> 7) ? 2 : 60;
	const char *id = ids[(b & 7) % 5];
	k->client_id.p = (const uint8_t *)id;
	k->client_id.len = (uint32_t)strlen(id);
	if (k->will) {
		k->will_topic.p = (const uint8_t *)topics[(c >> 5) % 4];
		k->will_topic.len = (uint32_t)strlen(topics[(c >> 5) % 4]);
		k->will_payload.p = (const uint8_t *)"bye";
		k->will_payload.len = (c & 16) ? 0 : 3;
	}
	if (k->proto_ver == HF_PROTO_V5) {
		uint32_t ex = expiries[(b >> 3) & 3];
		if (ex) {
			k->props.present |= HF_PP_SESSION_EXPIRY;
			k->props.session_expiry = ex;
		}
		static const uint16_t rmax[] = {0, 1, 2, 20};
		if (rmax[(b >> 5) & 3]) {
			k->props.present |= HF_PP_RECEIVE_MAX;
			k->props.receive_max = rmax[(b >> 5) & 3];
		}
		if (c & 1) {
			k->props.present |= HF_PP_MAX_PACKET_SIZE;
			k->props.max_packet_size = 40;
		}
		if (c & 2) {
			k->props.present |= HF_PP_TOPIC_ALIAS_MAX;
			k->props.topic_alias_max = 2;
		}
		if (k->will && (c & 12)) {
			k->will_props.present |= HF_PP_WILL_DELAY;
			k->will_props.will_delay = (c & 12) == 4 ? 2 : 30;
		}
	}
	struct eh_conn *m = eh_connect(e, i);
	if (!m)
		return;
	m->proto = k->proto_ver;
	memset(&seen[i], 0, sizeof(seen[i]));
	send_pkt(e, i, &p, k->proto_ver);
}

static void
op_subscribe(struct eh *e, int i, struct prog *g, bool unsub)
{
	uint8_t a = arg(g), o = arg(g), sid = arg(g);
	uint8_t ver = slot_ver(e, i);
	const char *f = filters[a % (sizeof(filters) / sizeof(filters[0]))];
	uint8_t entry[64];
	size_t fl = strlen(f), n = 0;
	entry[n++] = (uint8_t)(fl >> 8);
	entry[n++] = (uint8_t)fl;
	memcpy(entry + n, f, fl);
	n += fl;
	if (!unsub) {
		uint8_t opts = o & 3;
		if (opts == 3)
			opts = 1;
		if (ver == HF_PROTO_V5)
			opts |= o & 0x3c; /* NL, RAP, retain handling */
		if ((opts & 0x30) == 0x30)
			opts &= (uint8_t)~0x10;
		entry[n++] = opts;
	}
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = unsub ? HF_UNSUBSCRIBE : HF_SUBSCRIBE;
	p.u.subscribe.pid =
	    (uint16_t)(++seen[i].next_pid ? seen[i].next_pid : 1);
	p.u.subscribe.entries.p = entry;
	p.u.subscribe.entries.len = (uint32_t)n;
	p.u.subscribe.n = 1;
	if (!unsub && ver == HF_PROTO_V5 && (sid & 1)) {
		static uint32_t idv;
		idv = (uint32_t)(sid >> 1) + 1;
		p.u.subscribe.props.present |= HF_PP_SUBSCRIPTION_ID;
		p.u.subscribe.props.sub_ids = &idv;
		p.u.subscribe.props.n_sub_ids = 1;
	}
	send_pkt(e, i, &p, ver);
}

static void
op_publish(struct eh *e, int i, struct prog *g)
{
	static uint8_t payload[200];
	static const uint32_t sizes[] = {0, 1, 8, 200};
	uint8_t a = arg(g), b = arg(g), c = arg(g);
	uint8_t ver = slot_ver(e, i);
	const char *t = topics[(a & 15) % 5];
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	struct hf_publish *u = &p.u.publish;
	u->qos = (a >> 4) & 3;
	if (u->qos == 3)
		u->qos = 1;
	u->retain = (a >> 6) & 1;
	u->dup = (a >> 7) & 1;
	u->pid = u->qos ? (uint16_t)(c % 8 + 1) : 0;
	u->topic.p = (const uint8_t *)t;
	u->topic.len = (uint32_t)strlen(t);
	memset(payload, 'x', sizeof(payload));
	u->payload.p = payload;
	u->payload.len = sizes[b & 3];
	if (ver == HF_PROTO_V5) {
		switch ((b >> 2) & 3) {
		case 1: /* set alias 1 */
			u->props.present |= HF_PP_TOPIC_ALIAS;
			u->props.topic_alias = 1;
			break;
		case 2: /* use alias 1 */
			u->props.present |= HF_PP_TOPIC_ALIAS;
			u->props.topic_alias = 1;
			u->topic.len = 0;
			break;
		default:
			break;
		}
		if (b & 16) {
			u->props.present |= HF_PP_MESSAGE_EXPIRY;
			u->props.message_expiry = (b & 32) ? 1 : 100;
		}
		if (b & 64) {
			u->props.present |= HF_PP_PAYLOAD_FORMAT;
			u->props.payload_format = 1;
		}
	}
	send_pkt(e, i, &p, ver);
}

/* Read what slot i was sent; remember ids to acknowledge. Returns -1 when
 * the broker sent something that does not decode. */
static int
drain(struct eh *e, int i)
{
	struct hf_packet p;
	uint8_t *body;
	int rc;
	struct seen *s = &seen[i];
	while ((rc = eh_next_packet(e, i, &p, &body)) == 1) {
		if (p.type == HF_PUBLISH && p.u.publish.qos && s->n < 16) {
			s->pids[s->n] = p.u.publish.pid;
			s->qos[s->n++] = p.u.publish.qos;
		} else if (p.type == HF_PUBREL && s->nrel < 16) {
			s->rel[s->nrel++] = p.u.ack.pid;
		}
		free(body);
	}
	free(body);
	return rc;
}

static void
send_ack(struct eh *e, int i, uint8_t type, uint16_t pid, uint8_t rc)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.ack.pid = pid;
	p.u.ack.rc = rc;
	send_pkt(e, i, &p, slot_ver(e, i));
}

/* Acknowledge one received item: a PUBLISH (PUBACK or PUBREC, or a
 * refusal), a PUBREL (PUBCOMP), or an id never sent. */
static void
op_ack(struct eh *e, int i, struct prog *g)
{
	uint8_t a = arg(g), b = arg(g);
	struct seen *s = &seen[i];
	static const uint8_t types[] = {HF_PUBACK, HF_PUBREC, HF_PUBREL,
	                                HF_PUBCOMP};
	uint8_t rc = (b & 0x80) && slot_ver(e, i) == HF_PROTO_V5 ? 0x80 : 0;
	if ((a & 3) == 3 && s->nrel) {
		uint8_t k = (uint8_t)(b % s->nrel);
		send_ack(e, i, HF_PUBCOMP, s->rel[k], 0);
		s->rel[k] = s->rel[--s->nrel];
		return;
	}
	if ((a & 3) != 3 && s->n) {
		uint8_t k = (uint8_t)(b % s->n);
		send_ack(e, i, s->qos[k] == 1 ? HF_PUBACK : HF_PUBREC,
		         s->pids[k], rc);
		s->pids[k] = s->pids[--s->n];
		s->qos[k] = s->qos[s->n];
		return;
	}
	send_ack(e, i, types[(a >> 2) & 3], (uint16_t)(b % 8 + 1), 0);
}

/* Answer everything received so far, in order. */
static void
op_ack_all(struct eh *e, int i)
{
	struct seen *s = &seen[i];
	for (uint8_t k = 0; k < s->n; k++)
		send_ack(e, i, s->qos[k] == 1 ? HF_PUBACK : HF_PUBREC,
		         s->pids[k], 0);
	for (uint8_t k = 0; k < s->nrel; k++)
		send_ack(e, i, HF_PUBCOMP, s->rel[k], 0);
	s->n = s->nrel = 0;
}

static void
op_disconnect(struct eh *e, int i, struct prog *g)
{
	uint8_t a = arg(g);
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_DISCONNECT;
	p.u.ack.rc = (a & 1) ? HF_RC_DISCONNECT_WITH_WILL : 0;
	if (slot_ver(e, i) == HF_PROTO_V5 && (a & 8)) {
		p.u.ack.props.present |= HF_PP_SESSION_EXPIRY;
		p.u.ack.props.session_expiry = expiries[(a >> 1) & 3];
	}
	send_pkt(e, i, &p, slot_ver(e, i));
}

static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_engine: %s\n", why);
	abort();
}

/* Allocation failures injected since the last check. */
static uint64_t failures_seen;

/* End the turn, read what each client got, check every invariant. */
static void
turn(struct eh *e)
{
	eh_turn(e);
	eh_alloc_fail_at(0); /* the checks themselves allocate */
	if (e->b.shutting_down) {
		/* The broker stops only when it cannot even go back to its
		 * last commit: out of memory again while resetting. That
		 * is by design; a supervisor starts it again, which must
		 * find a sound store. Any other stop is a finding. */
		if (eh_alloc_failures() < failures_seen + 2)
			fail("the broker stopped");
		memset(seen, 0, sizeof(seen));
		if (eh_restart(e, true) != 0)
			fail("the broker does not start again");
		eh_turn(e);
	}
	failures_seen = eh_alloc_failures();
	for (int i = 0; i < EH_CONNS; i++)
		if (e->slot[i] && drain(e, i) < 0)
			fail("the broker sent a packet that does not decode");
	if (eh_check(e) != 0)
		fail("invariants violated (above)");
}

static const char *
tmp_base(void)
{
	if (access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	const char *t = getenv("TMPDIR");
	return t ? t : "/tmp";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eh e;
	struct prog g = {data, size};
	memset(&e, 0, sizeof(e));
	memset(seen, 0, sizeof(seen));
	e.quiet = false;
	if (eh_open(&e, tmp_base()) != 0)
		fail("cannot start the harness");
	eh_alloc_fail_at(0);
	failures_seen = eh_alloc_failures();
	for (int step = 0; step < MAX_STEPS && g.n; step++) {
		uint8_t op = arg(&g);
		int i = op & 3;
		switch ((op >> 2) % 15) {
		case 0:
			op_connect(&e, i, &g);
			break;
		case 1:
			op_subscribe(&e, i, &g, false);
			break;
		case 2:
			op_subscribe(&e, i, &g, true);
			break;
		case 3:
		case 4:
			op_publish(&e, i, &g);
			break;
		case 5:
			op_ack(&e, i, &g);
			break;
		case 6:
			op_ack_all(&e, i);
			break;
		case 7:
			op_disconnect(&e, i, &g);
			break;
		case 8:
			eh_drop(&e, i);
			break;
		case 9: {
			uint8_t n = arg(&g) % 32, raw[32];
			size_t k;
			for (k = 0; k < n && g.n; k++)
				raw[k] = arg(&g);
			eh_feed(&e, i, raw, k);
			break;
		}
		case 10:
		case 11:
			turn(&e);
			break;
		case 12:
			turn(&e);
			eh_advance(&e, (int64_t)(arg(&g) % 64 + 1) * 1000);
			turn(&e);
			break;
		case 13:
			/* A crash drops the turn's open transaction and its
			 * held output; a clean stop commits first. */
			if (!(op & 0x80))
				turn(&e);
			eh_alloc_fail_at(0); /* start-up: e01_alloc_faults */
			if (eh_restart(&e, op & 0x80) != 0)
				fail("the broker does not start again");
			memset(seen, 0, sizeof(seen));
			turn(&e);
			break;
		case 14:
			/* Out of memory: the Nth allocation of the broker's
			 * code from here fails (until the turn ends). */
			eh_alloc_fail_at((uint64_t)arg(&g) + 1);
			break;
		}
	}
	turn(&e);
	eh_close(&e);
	return 0;
}
