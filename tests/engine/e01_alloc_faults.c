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

#include "eclient.h"
#include "eharness.h"
#include "test.h"

#define SUB   0
#define PUB   1
#define SUB2  2
#define FRESH 3

/* Setup, never failing: a persistent subscriber to t/# at QoS 2, offline. */
static int
setup(struct eh *e)
{
	memset(e, 0, sizeof(*e));
	e->quiet = false;
	if (eh_open(e, "/tmp") != 0)
		return -1;
	eh_cl_connect(e, SUB, HF_PROTO_V5, "sub", true, 600, "w/sub");
	eh_cl_subscribe(e, SUB, HF_PROTO_V5, "t/#", 2, 0);
	eh_turn(e);
	eh_drop(e, SUB);
	eh_turn(e);
	return eh_check(e) == 0 ? 0 : -1;
}

/* The scenario under fault: what the publisher saw acknowledged, what the
 * persistent subscriber received. */
static void
scenario(struct eh *e, struct eh_got *pub, struct eh_got *sub)
{
	struct eh_got g2;
	struct eh_got *g0 = sub;
	memset(&g2, 0, sizeof(g2));
	eh_cl_connect(e, PUB, HF_PROTO_V5, "pub", true, 0, "w/pub");
	eh_cl_subscribe(e, PUB, HF_PROTO_V5, "t/y", 1, 5);
	eh_cl_publish(e, PUB, HF_PROTO_V5, "t/a", "m1", 1, false, 1);
	eh_cl_publish(e, PUB, HF_PROTO_V5, "t/b", "m2", 2, false, 2);
	eh_cl_publish(e, PUB, HF_PROTO_V5, "t/r", "m3", 1, true, 3);
	eh_cl_publish(e, PUB, HF_PROTO_V5, "t/c", "m4", 0, false, 0);
	eh_turn(e);
	eh_cl_read(e, PUB, HF_PROTO_V5, pub);
	eh_turn(e);
	eh_cl_connect(e, SUB2, HF_PROTO_V311, "sub2", false, 0, NULL);
	eh_cl_subscribe(e, SUB2, HF_PROTO_V311, "t/#", 1, 0);
	/* Enough subscriptions for the session's filter index. */
	for (int k = 0; k < 20; k++) {
		char f[16];
		snprintf(f, sizeof(f), "many/%d", k);
		eh_cl_subscribe(e, SUB2, HF_PROTO_V311, f, (uint8_t)(k % 3), 0);
	}
	eh_turn(e);
	eh_cl_read(e, SUB2, HF_PROTO_V311, &g2);
	eh_cl_publish(e, PUB, HF_PROTO_V5, "t/a", "m5", 1, false, 4);
	eh_turn(e);
	eh_cl_read(e, PUB, HF_PROTO_V5, pub);
	eh_cl_connect(e, SUB, HF_PROTO_V5, "sub", false, 600, NULL);
	eh_turn(e);
	eh_cl_read(e, SUB, HF_PROTO_V5, g0);
	eh_turn(e);
	eh_cl_read(e, SUB, HF_PROTO_V5, g0);
	eh_cl_read(e, SUB2, HF_PROTO_V311, &g2);
	eh_turn(e);
}

/* After the fault: sound, serving, nothing acknowledged lost. */
static void
verify(struct eh *e, const struct eh_got *pub, struct eh_got *sub)
{
	struct eh_got f;
	struct eh_got s = *sub; /* what it already had, and more */
	static const char *const pl[] = {"", "m1", "m2", "m3", "m5"};
	memset(&f, 0, sizeof(f));
	s.connack_ok = false;
	eh_turn(e);
	CHECK_EQ(eh_check(e), 0);
	eh_cl_connect(e, FRESH, HF_PROTO_V5, "fresh", true, 0, NULL);
	eh_cl_subscribe(e, FRESH, HF_PROTO_V5, "f/#", 1, 0);
	eh_cl_publish(e, FRESH, HF_PROTO_V5, "f/1", "hello", 1, false, 9);
	eh_turn(e);
	eh_cl_read(e, FRESH, HF_PROTO_V5, &f);
	CHECK(f.connack_ok);
	CHECK(eh_got_acked(&f, 9));
	CHECK(eh_got_payload(&f, "hello"));
	CHECK_EQ(eh_restart(e, true), 0);
	CHECK_EQ(eh_check(e), 0);
	eh_cl_connect(e, SUB, HF_PROTO_V5, "sub", false, 600, NULL);
	for (int t = 0; t < 6; t++) {
		eh_turn(e);
		eh_cl_read(e, SUB, HF_PROTO_V5, &s);
	}
	CHECK(s.connack_ok);
	for (uint16_t pid = 1; pid <= 4; pid++) {
		if (eh_got_acked(pub, pid) && !eh_got_payload(&s, pl[pid])) {
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
	struct eh_got pub, sub;
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
	struct eh_got pub;
	memset(&pub, 0, sizeof(pub));
	if (setup(e) != 0)
		return -1;
	eh_cl_connect(e, PUB, HF_PROTO_V5, "pub", true, 0, NULL);
	eh_cl_publish(e, PUB, HF_PROTO_V5, "t/a", "q1", 1, false, 1);
	eh_cl_publish(e, PUB, HF_PROTO_V5, "t/b", "q2", 2, true, 2);
	eh_turn(e);
	eh_cl_read(e, PUB, HF_PROTO_V5, &pub);
	eh_turn(e);
	return pub.n_acked == 2 && eh_check(e) == 0 ? 0 : -1;
}

static void
faults_at_startup(void)
{
	struct eh e;
	struct eh_got s;
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
		eh_cl_connect(&e, SUB, HF_PROTO_V5, "sub", false, 600, NULL);
		for (int t = 0; t < 4; t++) {
			eh_turn(&e);
			eh_cl_read(&e, SUB, HF_PROTO_V5, &s);
		}
		CHECK(s.connack_ok);
		CHECK(eh_got_payload(&s, "q1"));
		CHECK(eh_got_payload(&s, "q2"));
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
