/* tests/unit/store_check_test.c - hf_store_check() against real LMDB files.
 *
 * Every case builds the same consistent store through the public store.h
 * API (sessions, subscriptions, messages with their references, queue
 * entries in every state, retained marks, a will, inbound QoS 2 ids),
 * checks that it has no violation, then breaks one invariant and asserts
 * that the checker reports exactly the expected violations: the count, and
 * that every reported line is of the expected kind. Damage the API cannot
 * make is written with the plain LMDB API by a child process (fork), so
 * the store under test stays open as a broker's would and the checker must
 * see the other process's commit. Directories come from mkdtemp and are
 * removed at the end of each case.
 *
 * Threading: single-threaded (the child only writes and exits). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "holdfast/store.h"
#include "../../persistence/store_int.h"
#include "test.h"

#define MIB       (1024ull * 1024ull)
#define MAX_LINES 64

struct fx {
	char root[64];
	char path[128];
	char err[1024];
	struct hf_store_conf conf;
	struct hf_store *st;
};

static void
rm_rf(const char *path)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;

	if (lstat(path, &sb))
		return;
	if (S_ISDIR(sb.st_mode) && (d = opendir(path))) {
		while ((de = readdir(d))) {
			char sub[512];

			if (!strcmp(de->d_name, ".") ||
			    !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int
fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/hfcheck-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/holdfast.db", f->root);
	f->conf.dir = f->root;
	f->conf.file = "holdfast.db";
	f->conf.sync = HF_SYNC_OS;
	f->conf.initial_map_size = 1 * MIB;
	f->conf.max_map_size = 1024 * MIB;
	if (hf_store_open(&f->st, &f->conf, f->err, sizeof(f->err))) {
		fprintf(stderr, "open: %s\n", f->err);
		return -1;
	}
	return 0;
}

static void
fx_done(struct fx *f)
{
	hf_store_close(f->st);
	f->st = NULL;
	if (f->root[0])
		rm_rf(f->root);
}

/* Put (v != NULL) or delete (v == NULL) one record of db with the plain
 * LMDB API, in a child process, while this process keeps the store open.
 * Returns 0 or -1. */
static int
raw(struct fx *f, const char *db, const void *k, size_t kl, const void *v,
    size_t vl)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
		int rc;

		if (mdb_env_create(&env))
			_exit(1);
		mdb_env_set_maxdbs(env, 16);
		rc = mdb_env_open(env, f->path, MDB_NOSUBDIR, 0600);
		if (!rc)
			rc = mdb_txn_begin(env, NULL, 0, &txn);
		if (!rc) {
			rc = mdb_dbi_open(txn, db, 0, &dbi);
			if (!rc)
				rc = v ? mdb_put(txn, dbi, &key, &val, 0)
				       : mdb_del(txn, dbi, &key, NULL);
			if (!rc)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		mdb_env_close(env);
		_exit(rc ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

static int
raw_u64(struct fx *f, const char *db, uint64_t key, const void *v, size_t vl)
{
	uint8_t k[8];

	hf_be64(k, key);
	return raw(f, db, k, 8, v, vl);
}

/* ---- the consistent store ------------------------------------------------
 */

static int
put_msg(struct hf_store *st, uint64_t id, const char *topic, uint8_t qos,
        bool retain, const char *payload, uint32_t refs)
{
	struct hf_store_msg m = {
	    .id = id,
	    .qos = qos,
	    .retain = retain,
	    .topic = (const uint8_t *)topic,
	    .topic_len = (uint16_t)strlen(topic),
	    .payload = (const uint8_t *)payload,
	    .payload_len = (uint32_t)strlen(payload),
	    .props = (const uint8_t *)"props",
	    .props_len = 5,
	};

	return hf_store_msg_put(st, &m, refs);
}

static int
put_sess(struct hf_store *st, uint64_t sid, const char *cid, uint8_t proto,
         uint64_t will_msg, int64_t will_at)
{
	struct hf_store_session s = {
	    .sid = sid,
	    .client_id = (const uint8_t *)cid,
	    .client_id_len = (uint16_t)strlen(cid),
	    .proto = proto,
	    .expiry = 3600,
	    .disconnected_at = 1700000000000,
	    .will_msg = will_msg,
	    .will_delay = will_msg ? 5 : 0,
	    .will_at = will_at,
	};

	return hf_store_session_put(st, &s);
}

static int
put_sub(struct hf_store *st, uint64_t sid, const char *filter, uint8_t opts,
        uint32_t sub_id)
{
	struct hf_store_sub s = {
	    .sid = sid,
	    .filter = (const uint8_t *)filter,
	    .filter_len = (uint16_t)strlen(filter),
	    .opts = opts,
	    .sub_id = sub_id,
	};

	return hf_store_sub_put(st, &s);
}

static int
put_q(struct hf_store *st, uint64_t sid, uint64_t seq, uint64_t mid,
      uint32_t plen, uint8_t qos, uint8_t state, uint16_t pid)
{
	static const uint32_t ids[] = {7, 268435455};
	struct hf_store_qentry e = {
	    .sid = sid,
	    .seq = seq,
	    .msg_id = mid,
	    .payload_len = plen,
	    .qos = qos,
	    .state = state,
	    .pid = pid,
	    .n_subids = sid == 2 ? 2 : 0,
	    .subids = ids,
	};

	return hf_store_queue_put(st, &e);
}

/* Sessions 1 "alpha" (3.1.1), 2 "beta" (5.0, will 12 armed), 3 "gamma"
 * (3.1); messages 10 and 11 (queued), 12 (the will), 13 (retained), 14
 * (retained and queued); four subscriptions, five queue entries in every
 * state, two inbound QoS 2 ids. Payloads: 10 "hello" (5 bytes), 11
 * "world!" (6), 14 "r" (1). */
static int
build(struct hf_store *st)
{
	int rc = 0;

	rc |= put_msg(st, 10, "t/a", 1, false, "hello", 2);
	rc |= put_msg(st, 11, "t/b", 2, false, "world!", 2);
	rc |= put_msg(st, 12, "will/beta", 1, false, "gone", 1);
	rc |= put_msg(st, 13, "r/x", 0, true, "kept", 1);
	rc |= put_msg(st, 14, "r/q", 1, true, "r", 2);
	rc |= put_sess(st, 1, "alpha", 4, 0, 0);
	rc |= put_sess(st, 2, "beta", 5, 12, 1700000005000);
	rc |= put_sess(st, 3, "gamma", 3, 0, 0);
	rc |= put_sub(st, 1, "t/#", 1, 0);
	rc |= put_sub(st, 1, "$share/g/t/+", 2 | 0x04, 0);
	rc |= put_sub(st, 2, "t/a", 1 | 0x08 | 0x20, 7);
	rc |= put_sub(st, 3, "r/#", 0, 0);
	rc |= put_q(st, 1, 1, 10, 5, 1, 0, 0);
	rc |= put_q(st, 1, 2, 11, 6, 2, 1, 5);
	rc |= put_q(st, 1, 3, 11, 6, 2, 2, 6);
	rc |= put_q(st, 2, 1, 10, 5, 1, 1, 1);
	rc |= put_q(st, 2, 2, 14, 1, 0, 0, 0);
	rc |= hf_store_qos2_put(st, 1, 100);
	rc |= hf_store_qos2_put(st, 2, 7);
	rc |= hf_store_retain_put(st, 13);
	rc |= hf_store_retain_put(st, 14);
	return rc ? -1 : hf_store_commit(st);
}

/* ---- checking ------------------------------------------------------------
 */

struct lines {
	int n;
	char *v[MAX_LINES];
};

static void
collect(void *ctx, const char *violation)
{
	struct lines *l = ctx;

	if (l->n < MAX_LINES)
		l->v[l->n] = strdup(violation);
	l->n++;
}

static void
lines_free(struct lines *l)
{
	for (int i = 0; i < l->n && i < MAX_LINES; i++)
		free(l->v[i]);
	l->n = 0;
}

/* Run the checker; true when it reports exactly n violations, each
 * containing one of the NULL-terminated wants, and each want in one of
 * them. Prints what it got otherwise. */
static bool
expect_v(struct hf_store *st, int n, const char *const *wants)
{
	struct lines l = {0};
	int rc = hf_store_check(st, collect, &l, NULL);
	bool ok = rc == n && l.n == n;

	for (int i = 0; ok && i < l.n && i < MAX_LINES; i++) {
		bool any = false;

		for (int w = 0; wants[w]; w++)
			any = any || (l.v[i] && strstr(l.v[i], wants[w]));
		ok = any;
	}
	for (int w = 0; ok && wants[w]; w++) {
		bool seen = false;

		for (int i = 0; i < l.n && i < MAX_LINES; i++)
			seen = seen || (l.v[i] && strstr(l.v[i], wants[w]));
		ok = seen;
	}
	if (!ok) {
		fprintf(stderr, "  check returned %d (wanted %d):\n", rc, n);
		for (int i = 0; i < l.n && i < MAX_LINES; i++)
			fprintf(stderr, "    %s\n", l.v[i]);
		if (rc < 0)
			fprintf(stderr, "    %s\n", hf_store_errmsg(st));
	}
	lines_free(&l);
	return ok;
}

#define EXPECT(st, n, ...)                                                     \
	CHECK(expect_v((st), (n), (const char *const[]){__VA_ARGS__, NULL}))

static bool
clean(struct hf_store *st)
{
	return expect_v(st, 0, (const char *const[]){NULL});
}

/* Open, build, and check the store is clean; on failure the case ends. */
#define SETUP(f)                                                               \
	do {                                                                   \
		CHECK_EQ(fx_open(&(f)), 0);                                    \
		if (build((f).st) != 0 || !clean((f).st)) {                    \
			fx_done(&(f));                                         \
			CHECK(!"base store");                                  \
		}                                                              \
	} while (0)

/* End the case: close and remove, then assert ok. */
#define FINISH(f, ok)                                                          \
	do {                                                                   \
		bool ok_ = (ok);                                               \
		fx_done(&(f));                                                 \
		CHECK(ok_);                                                    \
	} while (0)

/* ---- cases: the consistent store ---------------------------------------- */

static void
t_consistent(void)
{
	struct hf_store_check_counts n;
	struct fx f;

	SETUP(f);
	CHECK_EQ(hf_store_check(f.st, NULL, NULL, &n), 0);
	CHECK_EQ(n.sessions, 3);
	CHECK_EQ(n.subs, 4);
	CHECK_EQ(n.msgs, 5);
	CHECK_EQ(n.queue_entries, 5);
	CHECK_EQ(n.qos2, 2);
	CHECK_EQ(n.retained, 2);
	/* The store's own operations keep every invariant. */
	CHECK_EQ(hf_store_queue_del(f.st, 1, 1), 0);
	CHECK_EQ(hf_store_retain_del(f.st, 14), 0);
	CHECK_EQ(hf_store_sub_del(f.st, 1, (const uint8_t *)"t/#", 3), 0);
	CHECK_EQ(hf_store_qos2_del(f.st, 2, 7), 0);
	CHECK(clean(f.st)); /* the open write transaction */
	CHECK_EQ(hf_store_commit(f.st), 0);
	CHECK_EQ(hf_store_session_del(f.st, 2), 0); /* will and queue */
	CHECK_EQ(hf_store_commit(f.st), 0);
	CHECK_EQ(hf_store_check(f.st, NULL, NULL, &n), 0);
	CHECK_EQ(n.sessions, 2);
	CHECK_EQ(n.msgs, 2); /* 11 (two entries of session 1), 13 */
	FINISH(f, clean(f.st));
}

/* A read-only handle checks a store another process writes. */
static void
t_read_only(void)
{
	struct hf_store_conf ro;
	struct fx f;
	int rc;

	SETUP(f);
	hf_store_close(f.st);
	ro = f.conf;
	ro.read_only = true;
	rc = hf_store_open(&f.st, &ro, f.err, sizeof(f.err));
	if (rc) {
		f.st = NULL;
		FINISH(f, false);
	}
	CHECK(clean(f.st) || (fx_done(&f), false));
	/* Writes of another process show up in the next check. */
	CHECK(raw_u64(&f, "mrefs", 13, "\0\0\0\2", 4) == 0 ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(
	              f.st, 1,
	              (const char *const[]){"reference count 2 but 1", NULL}));
}

/* ---- cases: reference counts -------------------------------------------- */

static void
t_ref_too_high(void)
{
	struct fx f;

	SETUP(f);
	CHECK(hf_store_msg_ref(f.st, 10, 1) == 0 || (fx_done(&f), false));
	/* Seen in the open transaction, and after the commit. */
	CHECK(expect_v(f.st, 1,
	               (const char *const[]){"message 10 (topic \"t/a\"): "
	                                     "reference count 3 but 2 "
	                                     "references (2 queue entries",
	                                     NULL}) ||
	      (fx_done(&f), false));
	CHECK(hf_store_commit(f.st) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(
	              f.st, 1,
	              (const char *const[]){"reference count 3 but 2", NULL}));
}

static void
t_ref_too_low(void)
{
	struct fx f;

	SETUP(f);
	CHECK(hf_store_msg_ref(f.st, 14, -1) == 0 || (fx_done(&f), false));
	CHECK(hf_store_commit(f.st) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){
	                       "message 14 (topic \"r/q\"): reference count 1 "
	                       "but 2 references (1 queue entries, 1 "
	                       "retained marks, 0 wills)",
	                       NULL}));
}

static void
t_orphan(void)
{
	struct fx f;

	SETUP(f);
	CHECK(put_msg(f.st, 20, "lost", 1, false, "x", 1) == 0 ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"message 20 (topic \"lost\"): "
	                                         "orphan",
	                                         NULL}));
}

static void
t_count_zero(void)
{
	struct fx f;

	SETUP(f);
	CHECK(raw_u64(&f, "mrefs", 13, "\0\0\0\0", 4) == 0 ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"message 13: reference "
	                                         "count 0",
	                                         NULL}));
}

static void
t_count_bad_size(void)
{
	struct fx f;

	SETUP(f);
	CHECK(raw_u64(&f, "mrefs", 10, "\0\0\2", 3) == 0 ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"message 10: count of 3 "
	                                         "bytes",
	                                         NULL}));
}

static void
t_body_without_count(void)
{
	struct fx f;

	SETUP(f);
	CHECK(raw_u64(&f, "mrefs", 13, NULL, 0) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"message 13 (topic \"r/x\"): "
	                                         "no reference count",
	                                         NULL}));
}

static void
t_count_without_body(void)
{
	struct fx f;

	SETUP(f);
	CHECK(raw_u64(&f, "msgs", 13, NULL, 0) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 2,
	                   (const char *const[]){
	                       "mrefs: message 13: reference count 1 but no "
	                       "body",
	                       "retained: message 13 is not stored", NULL}));
}

/* ---- cases: what records name --------------------------------------------
 */

static void
t_queue_names_missing_msg(void)
{
	struct fx f;

	SETUP(f);
	CHECK(put_q(f.st, 3, 1, 99, 1, 1, 0, 0) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){
	                       "queue: session 3 (client \"gamma\") seq 1: "
	                       "message 99 is not stored",
	                       NULL}));
}

/* A session record deleted with everything it owned left behind. */
static void
t_session_gone(void)
{
	struct fx f;

	SETUP(f);
	CHECK(raw_u64(&f, "sessions", 1, NULL, 0) == 0 || (fx_done(&f), false));
	/* 3 queue entries, 2 subscriptions, 1 QoS 2 id. */
	FINISH(f, expect_v(f.st, 6,
	                   (const char *const[]){
	                       "queue: session 1 (not stored) seq ",
	                       "subs: session 1 (not stored): subscription \"",
	                       "qos2: session 1 (not stored) packet id 100: "
	                       "of a session that is not stored",
	                       NULL}));
}

static void
t_sub_without_session(void)
{
	struct fx f;

	SETUP(f);
	CHECK(put_sub(f.st, 9, "a/b", 0, 0) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"subs: session 9 (not "
	                                         "stored): subscription "
	                                         "\"a/b\"",
	                                         NULL}));
}

static void
t_qos2_without_session(void)
{
	struct fx f;

	SETUP(f);
	CHECK(hf_store_qos2_put(f.st, 9, 3) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"qos2: session 9 (not "
	                                         "stored) packet id 3",
	                                         NULL}));
}

static void
t_qos2_pid_zero(void)
{
	struct fx f;

	SETUP(f);
	CHECK(hf_store_qos2_put(f.st, 1, 0) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"qos2: session 1 (client "
	                                         "\"alpha\"): packet id 0",
	                                         NULL}));
}

static void
t_retained_missing(void)
{
	struct fx f;

	SETUP(f);
	CHECK(raw_u64(&f, "retained", 77, "", 0) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"retained: message 77 is not "
	                                         "stored",
	                                         NULL}));
}

static void
t_retained_same_topic(void)
{
	struct fx f;

	SETUP(f);
	CHECK(put_msg(f.st, 15, "r/x", 1, true, "new", 1) == 0 ||
	      (fx_done(&f), false));
	CHECK(hf_store_retain_put(f.st, 15) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"retained: messages 13 and "
	                                         "15 are both retained for "
	                                         "topic \"r/x\"",
	                                         NULL}));
}

static void
t_retained_flag(void)
{
	struct fx f;

	SETUP(f);
	CHECK(put_msg(f.st, 16, "r/y", 1, false, "n", 1) == 0 ||
	      (fx_done(&f), false));
	CHECK(hf_store_retain_put(f.st, 16) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"message 16 (topic \"r/y\"): "
	                                         "its retain flag is 0",
	                                         NULL}));
}

static void
t_will_missing(void)
{
	struct fx f;

	SETUP(f);
	/* Session 3 now names a will that is not stored. */
	CHECK(put_sess(f.st, 3, "gamma", 3, 55, 0) == 0 ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"session 3 (client "
	                                         "\"gamma\"): will message 55 "
	                                         "is not stored",
	                                         NULL}));
}

/* A session replaced by one without the will, the reference kept. */
static void
t_will_dropped(void)
{
	struct fx f;

	SETUP(f);
	CHECK(put_sess(f.st, 2, "beta", 5, 0, 0) == 0 || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"message 12 (topic "
	                                         "\"will/beta\"): orphan",
	                                         NULL}));
}

/* ---- cases: queue entries -------------------------------------------------
 */

/* Queue one entry of session 3 for message 10 (taking its reference). */
static bool
queue_one(struct fx *f, uint32_t plen, uint8_t qos, uint8_t state, uint16_t pid)
{
	return put_q(f->st, 3, 1, 10, plen, qos, state, pid) == 0 &&
	       hf_store_msg_ref(f->st, 10, 1) == 0;
}

static void
t_queue_states(void)
{
	static const struct {
		uint8_t qos, state;
		uint16_t pid;
		const char *want;
	} bad[] = {
	    {0, 1, 3, "seq 1: QoS 0 entry in state 1"},
	    {1, 2, 3, "seq 1: state 2 (PUBREL sent) with QoS 1"},
	    {2, 1, 0, "seq 1: state 1 with packet id 0"},
	    {1, 0, 9, "seq 1: queued (state 0) with packet id 9"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fx f;

		SETUP(f);
		CHECK(queue_one(&f, 5, bad[i].qos, bad[i].state, bad[i].pid) ||
		      (fx_done(&f), false));
		FINISH(f, expect_v(f.st, 1,
		                   (const char *const[]){bad[i].want, NULL}));
	}
}

static void
t_queue_payload_len(void)
{
	struct fx f;

	SETUP(f);
	CHECK(queue_one(&f, 99, 1, 0, 0) || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"session 3 (client \"gamma\") "
	                                         "seq 1: payload length 99, "
	                                         "message 10 has 5",
	                                         NULL}));
}

static void
t_queue_pid_twice(void)
{
	struct fx f;

	SETUP(f);
	/* Session 1's seq 2 is in flight with packet id 5. */
	CHECK((put_q(f.st, 1, 4, 10, 5, 1, 1, 5) == 0 &&
	       hf_store_msg_ref(f.st, 10, 1) == 0) ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"entries seq 2 and 4 are "
	                                         "both in flight with packet "
	                                         "id 5",
	                                         NULL}));
}

static void
t_queue_subid(void)
{
	static const uint32_t zero = 0;
	struct hf_store_qentry e = {.sid = 3,
	                            .seq = 1,
	                            .msg_id = 10,
	                            .payload_len = 5,
	                            .qos = 1,
	                            .n_subids = 1,
	                            .subids = &zero};
	struct fx f;

	SETUP(f);
	CHECK((hf_store_queue_put(f.st, &e) == 0 &&
	       hf_store_msg_ref(f.st, 10, 1) == 0) ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"subscription identifier 0 "
	                                         "out of",
	                                         NULL}));
}

static void
t_queue_seq_zero(void)
{
	struct fx f;

	SETUP(f);
	CHECK((put_q(f.st, 3, 0, 10, 5, 1, 0, 0) == 0 &&
	       hf_store_msg_ref(f.st, 10, 1) == 0) ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"session 3 (client "
	                                         "\"gamma\"): seq 0",
	                                         NULL}));
}

/* ---- cases: subscriptions -------------------------------------------------
 */

/* The slot invariant is under the handle's hash mask: a store written
 * with the test hook's 4-bit hashes is clean under that mask and wrong
 * under the full 64 bits. */
static void
t_sub_slot(void)
{
	struct fx f;

	SETUP(f);
	hf_store_test_hash_bits(f.st, 4);
	CHECK(put_sub(f.st, 3, "h/1", 1, 0) == 0 || (fx_done(&f), false));
	CHECK(expect_v(f.st, 4,
	               (const char *const[]){"not within 16 slots", NULL}) ||
	      (fx_done(&f), false));
	hf_store_test_hash_bits(f.st, 64);
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"subs: session 3 (client "
	                                         "\"gamma\"): filter \"h/1\" "
	                                         "at slot",
	                                         NULL}));
}

static void
t_sub_twice(void)
{
	struct hf_store_sub s = {.sid = 1,
	                         .filter = (const uint8_t *)"t/#",
	                         .filter_len = 3,
	                         .opts = 1};
	uint8_t k[16], *v;
	size_t vl;
	bool ok;
	struct fx f;

	SETUP(f);
	v = hf_rec_sub_enc(&s, &vl);
	CHECK(v || (fx_done(&f), false));
	hf_be64(k, 1);
	hf_be64(k + 8, hf_rec_hash(s.filter, 3) + 7);
	ok = raw(&f, "subs", k, 16, v, vl) == 0;
	free(v);
	CHECK(ok || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 1,
	                   (const char *const[]){"subs: session 1 (client "
	                                         "\"alpha\"): filter \"t/#\" "
	                                         "stored twice",
	                                         NULL}));
}

static void
t_sub_fields(void)
{
	struct fx f;

	SETUP(f);
	CHECK((put_sub(f.st, 3, "o/p", 3, 0) == 0 &&
	       put_sub(f.st, 3, "", 0, 0) == 0) ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 2,
	                   (const char *const[]){"filter \"o/p\": bad options "
	                                         "byte 0x03",
	                                         "empty filter", NULL}));
}

/* ---- cases: sessions and messages ----------------------------------------
 */

static void
t_session_fields(void)
{
	struct fx f;

	SETUP(f);
	CHECK((put_sess(f.st, 4, "alpha", 4, 0, 0) == 0 &&
	       put_sess(f.st, 5, "delta", 9, 0, 0) == 0 &&
	       put_sess(f.st, 6, "eps", 4, 0, 123) == 0 &&
	       put_sess(f.st, 0, "zero", 4, 0, 0) == 0 &&
	       hf_store_commit(f.st) == 0) ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 4,
	                   (const char *const[]){
	                       "sessions 1 and 4 have the same client id "
	                       "\"alpha\"",
	                       "session 5 (client \"delta\"): protocol level 9",
	                       "session 6 (client \"eps\"): will due at 123 "
	                       "but no will",
	                       "sessions: session id 0", NULL}));
}

static void
t_msg_fields(void)
{
	struct fx f;

	SETUP(f);
	/* Id 0 and an empty topic, each named by a queue entry of
	 * session 3 so that neither is an orphan. */
	CHECK((put_msg(f.st, 0, "z", 1, false, "x", 1) == 0 &&
	       put_q(f.st, 3, 1, 0, 1, 1, 0, 0) == 0 &&
	       put_msg(f.st, 21, "", 1, false, "x", 1) == 0 &&
	       put_q(f.st, 3, 2, 21, 1, 1, 0, 0) == 0) ||
	      (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 2,
	                   (const char *const[]){"msgs: message id 0",
	                                         "message 21: empty topic",
	                                         NULL}));
}

/* Values that do not decode, in every database that has values. */
static void
t_undecodable(void)
{
	uint8_t k16[16], k10[10];
	struct fx f;
	bool ok;

	SETUP(f);
	hf_be64(k16, 3);
	hf_be64(k16 + 8, 1);
	hf_be64(k10, 3);
	hf_be16(k10 + 8, 1);
	ok = raw_u64(&f, "sessions", 7, "xx", 2) == 0 &&
	     raw_u64(&f, "msgs", 30, "short", 5) == 0 &&
	     raw_u64(&f, "mrefs", 30, "\0\0\0\1", 4) == 0 &&
	     raw(&f, "queue", k16, 16, "bad", 3) == 0 &&
	     raw(&f, "subs", k16, 16, "bad", 3) == 0 &&
	     raw_u64(&f, "retained", 13, "x", 1) == 0 &&
	     raw(&f, "qos2", k10, 10, "x", 1) == 0;
	CHECK(ok || (fx_done(&f), false));
	/* The bad body with a count and nothing naming it is an orphan. */
	FINISH(f, expect_v(f.st, 7,
	                   (const char *const[]){
	                       "sessions: session 7: record of 2 bytes does "
	                       "not decode",
	                       "msgs: message 30: record of 5 bytes does not "
	                       "decode",
	                       "message 30 (topic \"(bad record)\"): orphan",
	                       "queue: session 3 (client \"gamma\") seq 1: "
	                       "record of 3 bytes does not decode",
	                       "subs: session 3 (client \"gamma\") slot 0x1: "
	                       "record of 3 bytes",
	                       "retained: message 13: value of 1 bytes",
	                       "qos2: session 3 (client \"gamma\") packet id "
	                       "1: value of 1 bytes",
	                       NULL}));
}

static void
t_key_lengths(void)
{
	struct fx f;
	bool ok;

	SETUP(f);
	ok = raw(&f, "sessions", "abc", 3, "x", 1) == 0 &&
	     raw(&f, "queue", "0123456789", 10, "x", 1) == 0 &&
	     raw(&f, "qos2", "0123456789a", 11, "", 0) == 0 &&
	     raw(&f, "mrefs", "m", 1, "\0\0\0\1", 4) == 0;
	CHECK(ok || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 4,
	                   (const char *const[]){
	                       "sessions: key 616263 is 3 bytes, not 8",
	                       "queue: key 30313233343536373839 is 10 bytes, "
	                       "not 16",
	                       "qos2: key 3031323334353637383961 is 11 bytes",
	                       "mrefs: key 6d is 1 bytes, not 8", NULL}));
}

static void
t_meta(void)
{
	struct fx f;
	bool ok;

	SETUP(f);
	ok = raw(&f, "meta", "created", 7, NULL, 0) == 0 &&
	     raw(&f, "meta", "magic", 5, "holdfast-stork", 14) == 0 &&
	     raw(&f, "meta", "version", 7, "\0\0\0\4", 4) == 0 &&
	     raw(&f, "meta", "extra", 5, "?", 1) == 0;
	CHECK(ok || (fx_done(&f), false));
	CHECK(expect_v(f.st, 4,
	               (const char *const[]){
	                   "meta: no created time",
	                   "meta: magic is not \"holdfast-store\"",
	                   "meta: version 4, the store was opened as version 3",
	                   "meta: unknown key \"extra\"", NULL}) ||
	      (fx_done(&f), false));
	ok = raw(&f, "meta", "magic", 5, NULL, 0) == 0 &&
	     raw(&f, "meta", "version", 7, NULL, 0) == 0;
	CHECK(ok || (fx_done(&f), false));
	FINISH(f, expect_v(f.st, 4,
	                   (const char *const[]){
	                       "meta: no created time", "meta: no magic",
	                       "meta: no version", "meta: unknown key", NULL}));
}

/* ---- scale ----------------------------------------------------------------
 */

/* 200000 queue entries over 1000 sessions, 50000 messages: the check is a
 * few sorted-array passes, so this takes well under a second. */
static void
t_scale(void)
{
	struct hf_store_check_counts n;
	struct timespec t0, t1;
	struct fx f;
	bool ok = true;
	int rc;

	CHECK_EQ(fx_open(&f), 0);
	for (uint64_t id = 1; ok && id <= 50000; id++)
		ok = put_msg(f.st, id, "scale/t", 1, false, "0123", 1) == 0;
	for (uint64_t sid = 1; ok && sid <= 1000; sid++) {
		char cid[32];

		snprintf(cid, sizeof(cid), "c%" PRIu64, sid);
		ok = put_sess(f.st, sid, cid, 4, 0, 0) == 0;
		for (uint64_t seq = 1; ok && seq <= 200; seq++) {
			uint64_t mid = (sid * 200 + seq) % 50000 + 1;

			ok = put_q(f.st, sid, seq, mid, 4, 1, 0, 0) == 0;
		}
		if (ok && sid % 100 == 0)
			ok = hf_store_commit(f.st) == 0;
	}
	/* Each message was stored with 1 reference and is named 4 times. */
	for (uint64_t id = 1; ok && id <= 50000; id++)
		ok = hf_store_msg_ref(f.st, id, 3) == 0;
	ok = ok && hf_store_commit(f.st) == 0;
	CHECK(ok || (fx_done(&f), false));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = hf_store_check(f.st, NULL, NULL, &n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "  %" PRIu64 " queue entries checked in %.3f s\n",
	        n.queue_entries,
	        (double)(t1.tv_sec - t0.tv_sec) +
	            (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	FINISH(f, rc == 0 && n.queue_entries == 200000);
}

int
main(void)
{
	HF_RUN(t_consistent);
	HF_RUN(t_read_only);
	HF_RUN(t_ref_too_high);
	HF_RUN(t_ref_too_low);
	HF_RUN(t_orphan);
	HF_RUN(t_count_zero);
	HF_RUN(t_count_bad_size);
	HF_RUN(t_body_without_count);
	HF_RUN(t_count_without_body);
	HF_RUN(t_queue_names_missing_msg);
	HF_RUN(t_session_gone);
	HF_RUN(t_sub_without_session);
	HF_RUN(t_qos2_without_session);
	HF_RUN(t_qos2_pid_zero);
	HF_RUN(t_retained_missing);
	HF_RUN(t_retained_same_topic);
	HF_RUN(t_retained_flag);
	HF_RUN(t_will_missing);
	HF_RUN(t_will_dropped);
	HF_RUN(t_queue_states);
	HF_RUN(t_queue_payload_len);
	HF_RUN(t_queue_pid_twice);
	HF_RUN(t_queue_subid);
	HF_RUN(t_queue_seq_zero);
	HF_RUN(t_sub_slot);
	HF_RUN(t_sub_twice);
	HF_RUN(t_sub_fields);
	HF_RUN(t_session_fields);
	HF_RUN(t_msg_fields);
	HF_RUN(t_undecodable);
	HF_RUN(t_key_lengths);
	HF_RUN(t_meta);
	HF_RUN(t_scale);
	return HF_DONE();
}
