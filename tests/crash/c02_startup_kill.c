/* tests/crash/c02_startup_kill.c - SIGKILL while the broker starts and
 * while it recovers its store (issue 8, item 5).
 *
 * A store is filled through the store's own interface (faster than a
 * hundred thousand PUBLISHes): SESSIONS persistent 3.1.1 sessions, each
 * with a subscription and QUEUED messages waiting (bodies shared between
 * sessions, as a fan-out leaves them), and a retained message. Start-up
 * reads all of it back and writes every session's disconnection time in
 * one commit, so a kill can land before, during or after that commit.
 *
 * Then, ROUNDS times, the broker is started and killed (SIGKILL) after a
 * random delay between 0 and 1.5 times the time a start-up takes (measured
 * first), so most kills land inside start-up or recovery; half of the
 * rounds let it finish and kill it right after. After every kill the store
 * must pass holdfast-db check and still hold every session, subscription,
 * queue entry and retained message. At the end a normal start serves one
 * of the sessions: every one of its queued messages arrives.
 *
 * Knobs: HF_CRASH_SEED. Single-threaded. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "holdfast/store.h"
#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define SESSIONS 20000
#define QUEUED   5
#define BODIES   500
#define ROUNDS   20

static int
open_store(struct hf_bproc *b, bool ro, struct hf_store **st)
{
	char dir[512], err[512];
	struct hf_store_conf c = {
	    .dir = dir,
	    .file = "holdfast.db",
	    .sync = HF_SYNC_OS,
	    .initial_map_size = 64u << 20,
	    .max_map_size = 1ull << 30,
	    .read_only = ro,
	};
	snprintf(dir, sizeof(dir), "%s/data", b->dir);
	if (hf_store_open(st, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "store: %s\n", err);
		return -1;
	}
	return 0;
}

static int
fill(struct hf_bproc *b)
{
	struct hf_store *st;
	uint32_t refs[BODIES] = {0};
	char id[32], filter[40], topic[40];
	int rc = 0;

	if (open_store(b, false, &st) != 0)
		return -1;
	/* Count each body's references first: a body is stored with them. */
	for (uint64_t s = 1; s <= SESSIONS; s++)
		for (uint64_t q = 1; q <= QUEUED; q++)
			refs[(s * QUEUED + q) % BODIES]++;
	for (uint64_t m = 1; m <= BODIES && !rc; m++) {
		snprintf(topic, sizeof(topic), "t/%" PRIu64, m);
		struct hf_store_msg r = {
		    .id = m,
		    .qos = 1,
		    .retain = m == BODIES,
		    .topic = (const uint8_t *)topic,
		    .topic_len = (uint16_t)strlen(topic),
		    .payload = (const uint8_t *)"body",
		    .payload_len = 4,
		    .props =
		        (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
		    .props_len = 16,
		};
		uint32_t n = refs[m - 1] + (m == BODIES ? 1 : 0);
		rc = hf_store_msg_put(st, &r, n);
	}
	if (!rc)
		rc = hf_store_retain_put(st, BODIES);
	for (uint64_t s = 1; s <= SESSIONS && !rc; s++) {
		snprintf(id, sizeof(id), "c%05" PRIu64, s);
		snprintf(filter, sizeof(filter), "t/%" PRIu64 "/#", s);
		struct hf_store_session r = {
		    .sid = s,
		    .client_id = (const uint8_t *)id,
		    .client_id_len = (uint16_t)strlen(id),
		    .proto = 4,
		    .expiry = UINT32_MAX,
		    .disconnected_at = 1,
		};
		struct hf_store_sub sub = {
		    .sid = s,
		    .filter = (const uint8_t *)filter,
		    .filter_len = (uint16_t)strlen(filter),
		    .opts = 1,
		};
		rc = hf_store_session_put(st, &r);
		if (!rc)
			rc = hf_store_sub_put(st, &sub);
		for (uint64_t q = 1; q <= QUEUED && !rc; q++) {
			struct hf_store_qentry e = {
			    .sid = s,
			    .seq = q,
			    .msg_id = (s * QUEUED + q) % BODIES + 1,
			    .payload_len = 4,
			    .qos = 1,
			};
			rc = hf_store_queue_put(st, &e);
		}
	}
	if (!rc)
		rc = hf_store_commit(st);
	hf_store_close(st);
	return rc;
}

/* Everything filled in is still there. */
static void
intact(struct hf_bproc *b)
{
	struct hf_store *st;
	struct hf_store_stats s;

	CHECK_EQ(hf_test_store_check(b->dir), 0);
	CHECK_EQ(open_store(b, true, &st), 0);
	CHECK_EQ(hf_store_stats(st, &s), 0);
	hf_store_close(st);
	CHECK_EQ(s.sessions, SESSIONS);
	CHECK_EQ(s.subs, SESSIONS);
	CHECK_EQ(s.queue_entries, (uint64_t)SESSIONS * QUEUED);
	CHECK_EQ(s.retained, 1);
	CHECK_EQ(s.msgs, BODIES);
}

static void
kill_during_startup(struct hf_bproc *bp)
{
	unsigned seed =
	    getenv("HF_CRASH_SEED")
	        ? (unsigned)strtoul(getenv("HF_CRASH_SEED"), NULL, 0)
	        : (unsigned)time(NULL);
	int64_t t0, startup;
	struct hf_packet p;
	uint8_t buf[256];
	int fd, got = 0;

	fprintf(stderr, "seed %u (HF_CRASH_SEED)\n", seed);
	srand(seed);
	CHECK_EQ(hf_bproc_start(bp, NULL), 0);
	CHECK_EQ(hf_bproc_stop(bp), 0);
	CHECK_EQ(fill(bp), 0);
	intact(bp);
	if (hf_test_failed_)
		return;

	t0 = hf_now_ms();
	CHECK_EQ(hf_bproc_restart(bp), 0);
	startup = hf_now_ms() - t0;
	fprintf(stderr, "start-up with %d sessions: %lld ms\n", SESSIONS,
	        (long long)startup);
	hf_bproc_kill(bp);
	intact(bp);

	for (int r = 0; r < ROUNDS; r++) {
		int64_t delay = (int64_t)(rand() % 1000) * startup * 3 / 2000;
		CHECK_EQ(hf_bproc_launch(bp), 0);
		hf_sleep_ms((int)delay);
		hf_bproc_kill(bp);
		intact(bp);
		if (hf_test_failed_) {
			fprintf(stderr, "after a kill %lld ms into start-up\n",
			        (long long)delay);
			return;
		}
	}

	/* A normal start: one session gets all its messages. */
	CHECK_EQ(hf_bproc_restart(bp), 0);
	fd = hf_raw_connect(bp->port, V3, "c00042", false, 60, NULL, NULL);
	CHECK(fd >= 0);
	while (got < QUEUED && hf_raw_expect_publish(fd, V3, 5000, true, &p,
	                                             buf, sizeof(buf)) == 1)
		got++;
	close(fd);
	CHECK_EQ(got, QUEUED);
	CHECK_EQ(hf_bproc_stop(bp), 0);
	CHECK_EQ(hf_test_store_check(bp->dir), 0);
}

static void
run(void)
{
	struct hf_bproc b;

	memset(&b, 0, sizeof(b));
	kill_during_startup(&b);
	hf_bproc_cleanup(&b); /* also after a failed CHECK */
}

int
main(void)
{
	HF_RUN(run);
	return HF_DONE();
}
