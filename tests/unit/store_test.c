/* tests/unit/store_test.c - the LMDB store against a real LMDB file.
 *
 * Every case makes its own directory with mkdtemp (under a nested path, so
 * the store's mkdir -p is exercised), opens the store there, and removes it
 * at the end. Damage is made with the plain LMDB API or by writing bytes
 * into the file. No mocks: what is checked is what a restarted broker would
 * read back.
 *
 * Threading: single-threaded; each case owns its fixture. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
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

#define KIB 1024ull
#define MIB (1024ull * 1024ull)

struct fx {
	char root[64];
	char dir[128];
	char path[192];
	char err[1024];
	struct hf_store_conf conf;
};

static void
fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/hfstore-XXXXXX");
	if (!mkdtemp(f->root))
		abort();
	snprintf(f->dir, sizeof(f->dir), "%s/var/lib", f->root);
	snprintf(f->path, sizeof(f->path), "%s/holdfast.db", f->dir);
	f->conf.dir = f->dir;
	f->conf.file = "holdfast.db";
	f->conf.sync = HF_SYNC_OS;
	f->conf.initial_map_size = 1 * MIB;
	f->conf.max_map_size = 256 * MIB;
}

/* Make the fixture's directories (for damage made before any open). */
static int
fx_mkdirs(struct fx *f)
{
	char var[96];

	snprintf(var, sizeof(var), "%s/var", f->root);
	if (mkdir(var, 0700) && errno != EEXIST)
		return -1;
	return mkdir(f->dir, 0700) && errno != EEXIST ? -1 : 0;
}

static void
rm_rf(const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &sb))
		return;
	if (S_ISDIR(sb.st_mode) && (d = opendir(path))) {
		while ((de = readdir(d))) {
			char sub[1024];

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

static void
fx_done(struct fx *f)
{
	rm_rf(f->root);
}

static struct hf_store *
fx_open(struct fx *f)
{
	struct hf_store *st = NULL;
	int rc = hf_store_open(&st, &f->conf, f->err, sizeof(f->err));

	if (rc) {
		fprintf(stderr, "open failed (%d): %s\n", rc, f->err);
		return NULL;
	}
	return st;
}

/* Put raw bytes into a named DB with the plain LMDB API. */
static int
raw_put(const char *path, const char *db, const void *k, size_t kl,
        const void *v, size_t vl)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
	int rc;

	if (mdb_env_create(&env))
		return -1;
	mdb_env_set_maxdbs(env, 16);
	rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0600);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (!rc) {
		rc = mdb_dbi_open(txn, db, MDB_CREATE, &dbi);
		if (!rc)
			rc = mdb_put(txn, dbi, &key, &val, 0);
		if (!rc)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return rc;
}

/* ---- record builders and collectors ----------------------------------------
 */

static void
mk_msg(struct hf_store_msg *m, uint64_t id, const char *topic,
       const uint8_t *payload, uint32_t plen)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->qos = 1;
	m->topic = (const uint8_t *)topic;
	m->topic_len = (uint16_t)strlen(topic);
	m->payload = payload;
	m->payload_len = plen;
}

static int
put_q(struct hf_store *st, uint64_t sid, uint64_t seq, uint64_t mid,
      uint32_t plen)
{
	struct hf_store_qentry e = {.sid = sid,
	                            .seq = seq,
	                            .msg_id = mid,
	                            .payload_len = plen,
	                            .qos = 1};

	return hf_store_queue_put(st, &e);
}

struct msgcopy {
	int calls;
	struct hf_store_msg m;
	uint8_t topic[256], payload[8192], props[64];
};

static void
copy_msg(void *ctx, const struct hf_store_msg *m)
{
	struct msgcopy *c = ctx;

	c->calls++;
	c->m = *m;
	if (m->topic_len <= sizeof(c->topic))
		memcpy(c->topic, m->topic, m->topic_len);
	if (m->payload_len <= sizeof(c->payload))
		memcpy(c->payload, m->payload, m->payload_len);
	if (m->props_len <= sizeof(c->props))
		memcpy(c->props, m->props, m->props_len);
}

static int
count_cb_sess(void *ctx, const struct hf_store_session *s)
{
	(*(int *)ctx)++;
	return 0;
}

static int
count_cb_sub(void *ctx, const struct hf_store_sub *s)
{
	(*(int *)ctx)++;
	return 0;
}

static int
count_cb_qos2(void *ctx, uint64_t sid, uint16_t pid)
{
	(*(int *)ctx)++;
	return 0;
}

static int
count_cb_msg(void *ctx, const struct hf_store_msg *m)
{
	(*(int *)ctx)++;
	return 0;
}

static int
count_cb_q(void *ctx, const struct hf_store_qentry *e)
{
	(*(int *)ctx)++;
	return 0;
}

static int
msg_exists(struct hf_store *st, uint64_t id)
{
	struct msgcopy c = {0};
	int rc = hf_store_msg_get(st, id, copy_msg, &c);

	return rc == 0 ? 1 : rc == HF_STORE_ENOTFOUND ? 0 : rc;
}

/* ---- round trip ------------------------------------------------------------
 */

struct rt_seen {
	int sessions, subs, qos2, retained, queue;
	uint32_t subids[3];
};

static int
rt_session(void *ctx, const struct hf_store_session *s)
{
	struct rt_seen *r = ctx;

	if (s->sid == 7 && s->client_id_len == 5 &&
	    !memcmp(s->client_id, "alice", 5) && s->proto == 5 &&
	    s->expiry == UINT32_MAX && s->disconnected_at == -1234567 &&
	    s->will_msg == 100 && s->will_delay == 30 &&
	    s->will_at == 1700000000123)
		r->sessions++;
	return 0;
}

static int
rt_sub(void *ctx, const struct hf_store_sub *s)
{
	struct rt_seen *r = ctx;

	if (s->sid == 7 && s->filter_len == 17 &&
	    !memcmp(s->filter, "$share/g/sensor/#", 17) && s->opts == 0x2d &&
	    s->sub_id == 268435455)
		r->subs++;
	return 0;
}

static int
rt_qos2(void *ctx, uint64_t sid, uint16_t pid)
{
	struct rt_seen *r = ctx;

	if (sid == 7 && pid == 65535)
		r->qos2++;
	return 0;
}

static int
rt_retained(void *ctx, const struct hf_store_msg *m)
{
	struct rt_seen *r = ctx;

	if (m->id == 101 && m->retain && m->topic_len == 3 &&
	    !memcmp(m->topic, "a/b", 3) && m->payload_len == 0)
		r->retained++;
	return 0;
}

static int
rt_queue(void *ctx, const struct hf_store_qentry *e)
{
	struct rt_seen *r = ctx;

	if (e->sid == 7 && e->seq == 9 && e->msg_id == 101 &&
	    e->payload_len == 0 && e->qos == 2 && e->state == 2 && e->retain &&
	    e->pid == 4242 && e->n_subids == 3) {
		memcpy(r->subids, e->subids, sizeof(r->subids));
		r->queue++;
	}
	return 0;
}

static void
check_roundtrip(struct hf_store *st, int *ok)
{
	struct rt_seen r = {0};
	struct msgcopy c = {0};
	uint64_t ms, mm, count, bytes, last;

	*ok = 0;
	CHECK_EQ(hf_store_sessions_each(st, rt_session, &r), 0);
	CHECK_EQ(hf_store_subs_each(st, rt_sub, &r), 0);
	CHECK_EQ(hf_store_qos2_each(st, rt_qos2, &r), 0);
	CHECK_EQ(hf_store_retained_each(st, rt_retained, &r), 0);
	CHECK_EQ(hf_store_queue_each(st, 7, 0, SIZE_MAX, rt_queue, &r), 0);
	CHECK_EQ(r.sessions, 1);
	CHECK_EQ(r.subs, 1);
	CHECK_EQ(r.qos2, 1);
	CHECK_EQ(r.retained, 1);
	CHECK_EQ(r.queue, 1);
	CHECK_EQ(r.subids[0], 1);
	CHECK_EQ(r.subids[1], 268435455);
	CHECK_EQ(r.subids[2], 77);
	CHECK_EQ(hf_store_msg_get(st, 100, copy_msg, &c), 0);
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(c.m.id, 100);
	CHECK_EQ(c.m.qos, 1);
	CHECK(!c.m.retain);
	CHECK_EQ(c.m.expiry_at, 1800000000000);
	CHECK_EQ(c.m.topic_len, 10);
	CHECK_MEM(c.topic, "will/alice", 10);
	CHECK_EQ(c.m.payload_len, 4);
	CHECK_MEM(c.payload, "gone", 4);
	CHECK_EQ(c.m.props_len, 3);
	CHECK_MEM(c.props, "\x01\x02\x03", 3);
	CHECK_EQ(hf_store_queue_stat(st, 7, &count, &bytes, &last), 0);
	CHECK_EQ(count, 1);
	CHECK_EQ(last, 9);
	CHECK_EQ(hf_store_max_ids(st, &ms, &mm), 0);
	CHECK_EQ(ms, 7);
	CHECK_EQ(mm, 101);
	*ok = 1;
}

static void
t_roundtrip(void)
{
	struct fx f;
	struct hf_store *st;
	struct hf_store_stats s;
	static const uint32_t subids[3] = {1, 268435455, 77};
	struct hf_store_session sess = {.sid = 7,
	                                .client_id = (const uint8_t *)"alice",
	                                .client_id_len = 5,
	                                .proto = 5,
	                                .expiry = UINT32_MAX,
	                                .disconnected_at = -1234567,
	                                .will_msg = 100,
	                                .will_delay = 30,
	                                .will_at = 1700000000123};
	struct hf_store_sub sub = {.sid = 7,
	                           .filter =
	                               (const uint8_t *)"$share/g/sensor/#",
	                           .filter_len = 17,
	                           .opts = 0x2d,
	                           .sub_id = 268435455};
	struct hf_store_msg will, ret;
	struct hf_store_qentry q = {.sid = 7,
	                            .seq = 9,
	                            .msg_id = 101,
	                            .qos = 2,
	                            .state = 2,
	                            .retain = true,
	                            .pid = 4242,
	                            .n_subids = 3,
	                            .subids = subids};
	int ok;

	fx_init(&f);
	f.conf.sync = HF_SYNC_FULL;
	CHECK((st = fx_open(&f)));
	mk_msg(&will, 100, "will/alice", (const uint8_t *)"gone", 4);
	will.expiry_at = 1800000000000;
	will.props = (const uint8_t *)"\x01\x02\x03";
	will.props_len = 3;
	mk_msg(&ret, 101, "a/b", NULL, 0);
	ret.retain = true;
	CHECK_EQ(hf_store_pending(st), 0);
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	CHECK_EQ(hf_store_sub_put(st, &sub), 0);
	CHECK_EQ(hf_store_msg_put(st, &will, 1), 0);
	CHECK_EQ(hf_store_msg_put(st, &ret, 2), 0);
	CHECK_EQ(hf_store_retain_put(st, 101), 0);
	CHECK_EQ(hf_store_queue_put(st, &q), 0);
	CHECK_EQ(hf_store_qos2_put(st, 7, 65535), 0);
	CHECK_EQ(hf_store_pending(st), 7);
	/* Reads inside the open transaction see its writes. */
	check_roundtrip(st, &ok);
	CHECK(ok);
	CHECK_EQ(hf_store_commit(st), 0);
	CHECK_EQ(hf_store_pending(st), 0);
	CHECK_EQ(hf_store_commit(st), 0); /* nothing open: no-op */
	check_roundtrip(st, &ok);
	CHECK(ok);
	hf_store_close(st);

	CHECK((st = fx_open(&f)));
	check_roundtrip(st, &ok);
	CHECK(ok);
	CHECK_EQ(hf_store_stats(st, &s), 0);
	CHECK_EQ(s.sessions, 1);
	CHECK_EQ(s.subs, 1);
	CHECK_EQ(s.msgs, 2);
	CHECK_EQ(s.queue_entries, 1);
	CHECK_EQ(s.retained, 1);
	CHECK_EQ(s.qos2, 1);
	CHECK(s.used_bytes > 0 && s.used_bytes <= s.map_size);
	CHECK(s.map_size >= 1 * MIB);
	CHECK_EQ(s.max_map_size, 256 * MIB);
	hf_store_close(st);
	fx_done(&f);
}

static void
t_uncommitted_lost(void)
{
	struct fx f;
	struct hf_store *st;
	struct hf_store_session sess = {
	    .sid = 1, .client_id = (const uint8_t *)"c", .client_id_len = 1};
	int n = 0;

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	sess.sid = 2;
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	CHECK_EQ(hf_store_qos2_put(st, 2, 5), 0);
	CHECK_EQ(hf_store_pending(st), 2);
	hf_store_close(st);

	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_sessions_each(st, count_cb_sess, &n), 0);
	CHECK_EQ(n, 1);
	n = 0;
	CHECK_EQ(hf_store_qos2_each(st, count_cb_qos2, &n), 0);
	CHECK_EQ(n, 0);
	hf_store_close(st);
	fx_done(&f);
}

/* ---- map growth ------------------------------------------------------------
 */

static void
fill_payload(uint8_t *p, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(id * 31 + i * 7);
}

static void
t_growth_replay(void)
{
	enum { N = 2500, PLEN = 2000 }; /* ~5 MB in one transaction */
	struct fx f;
	struct hf_store *st;
	struct hf_store_stats s;
	uint8_t payload[PLEN];
	struct msgcopy *c = calloc(1, sizeof(*c));

	CHECK(c);
	fx_init(&f);
	f.conf.initial_map_size = 64 * KIB;
	CHECK((st = fx_open(&f)));
	for (uint64_t id = 1; id <= N; id++) {
		struct hf_store_msg m;

		fill_payload(payload, PLEN, id);
		mk_msg(&m, id, "grow/topic", payload, PLEN);
		CHECK_EQ(hf_store_msg_put(st, &m, 1), 0);
		CHECK_EQ(put_q(st, 1, id, id, PLEN), 0);
	}
	CHECK_EQ(hf_store_pending(st), 2 * N);
	CHECK_EQ(hf_store_stats(st, &s), 0);
	CHECK(s.grows >= 5);
	CHECK_EQ(s.msgs, N);
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);

	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_stats(st, &s), 0);
	CHECK_EQ(s.msgs, N);
	CHECK_EQ(s.queue_entries, N);
	CHECK(s.map_size > 4 * MIB);
	for (uint64_t id = 1; id <= N; id++) {
		c->calls = 0;
		CHECK_EQ(hf_store_msg_get(st, id, copy_msg, c), 0);
		CHECK_EQ(c->calls, 1);
		CHECK_EQ(c->m.payload_len, PLEN);
		fill_payload(payload, PLEN, id);
		CHECK_MEM(c->payload, payload, PLEN);
	}
	hf_store_close(st);
	free(c);
	fx_done(&f);
}

static void
t_efull(void)
{
	struct fx f;
	struct hf_store *st;
	struct hf_store_msg m;
	uint8_t payload[4000];
	struct hf_store_session sess = {
	    .sid = 1, .client_id = (const uint8_t *)"keep", .client_id_len = 4};
	int rc = 0, n = 0;
	uint64_t id;

	fx_init(&f);
	f.conf.initial_map_size = 64 * KIB;
	f.conf.max_map_size = 256 * KIB;
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	memset(payload, 0xab, sizeof(payload));
	/* 1 MB cannot fit in 256 KiB: some put (or the commit) says EFULL. */
	for (id = 1; id <= 250 && rc == 0; id++) {
		mk_msg(&m, id, "full", payload, sizeof(payload));
		rc = hf_store_msg_put(st, &m, 1);
	}
	if (rc == 0)
		rc = hf_store_commit(st);
	CHECK_EQ(rc, HF_STORE_EFULL);
	CHECK(strstr(hf_store_errmsg(st), "max_map_size") != NULL);
	CHECK_EQ(hf_store_pending(st), 0);
	CHECK_EQ(msg_exists(st, 1), 0); /* the transaction is gone */
	/* The store is still usable for writes that fit. */
	sess.sid = 2;
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);

	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_sessions_each(st, count_cb_sess, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(msg_exists(st, 1), 0);
	hf_store_close(st);
	fx_done(&f);
}

/* ---- reference counting ----------------------------------------------------
 */

static void
t_refcount(void)
{
	struct fx f;
	struct hf_store *st;
	struct hf_store_msg m;
	struct hf_store_session s1 = {.sid = 1,
	                              .client_id = (const uint8_t *)"one",
	                              .client_id_len = 3,
	                              .will_msg = 30};
	struct hf_store_session s2 = {
	    .sid = 2, .client_id = (const uint8_t *)"two", .client_id_len = 3};
	struct hf_store_sub sub = {.filter = (const uint8_t *)"x/#",
	                           .filter_len = 3};
	uint64_t count, bytes, last;
	int n;

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	/* Queue deletes release: body 10 is in two queues. */
	mk_msg(&m, 10, "t", (const uint8_t *)"p", 1);
	CHECK_EQ(hf_store_msg_put(st, &m, 2), 0);
	CHECK_EQ(put_q(st, 1, 1, 10, 1), 0);
	CHECK_EQ(put_q(st, 2, 1, 10, 1), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	CHECK_EQ(hf_store_queue_del(st, 1, 1), 0);
	CHECK_EQ(msg_exists(st, 10), 1);
	CHECK_EQ(hf_store_queue_del(st, 1, 1), 0); /* already gone: no-op */
	CHECK_EQ(msg_exists(st, 10), 1);
	CHECK_EQ(hf_store_queue_del(st, 2, 1), 0);
	CHECK_EQ(msg_exists(st, 10), 0);
	CHECK_EQ(hf_store_commit(st), 0);

	/* msg_ref up and down. */
	mk_msg(&m, 11, "t", NULL, 0);
	CHECK_EQ(hf_store_msg_put(st, &m, 1), 0);
	CHECK_EQ(hf_store_msg_ref(st, 11, 2), 0);
	CHECK_EQ(hf_store_msg_ref(st, 11, -2), 0);
	CHECK_EQ(msg_exists(st, 11), 1);
	CHECK_EQ(hf_store_msg_ref(st, 11, -1), 0);
	CHECK_EQ(msg_exists(st, 11), 0);
	/* A ref on a missing id: an error, no crash, the turn goes on. */
	CHECK_EQ(hf_store_msg_ref(st, 999, 1), HF_STORE_EINCONSISTENT);
	CHECK_EQ(hf_store_msg_ref(st, 999, -1), HF_STORE_EINCONSISTENT);
	CHECK(strstr(hf_store_errmsg(st), "999") != NULL);
	CHECK_EQ(hf_store_commit(st), 0);

	/* session_del: 20 shared by both sessions, 21 only in s1, 30 is s1's
	 * will, 40 retained and queued to s1. */
	mk_msg(&m, 20, "shared", (const uint8_t *)"ss", 2);
	CHECK_EQ(hf_store_msg_put(st, &m, 2), 0);
	mk_msg(&m, 21, "own", (const uint8_t *)"o", 1);
	CHECK_EQ(hf_store_msg_put(st, &m, 1), 0);
	mk_msg(&m, 30, "will", NULL, 0);
	CHECK_EQ(hf_store_msg_put(st, &m, 1), 0);
	mk_msg(&m, 40, "ret", (const uint8_t *)"r", 1);
	CHECK_EQ(hf_store_msg_put(st, &m, 2), 0);
	CHECK_EQ(hf_store_retain_put(st, 40), 0);
	CHECK_EQ(hf_store_session_put(st, &s1), 0);
	CHECK_EQ(hf_store_session_put(st, &s2), 0);
	for (uint64_t sid = 1; sid <= 2; sid++) {
		sub.sid = sid;
		CHECK_EQ(hf_store_sub_put(st, &sub), 0);
		CHECK_EQ(hf_store_qos2_put(st, sid, 7), 0);
	}
	CHECK_EQ(put_q(st, 1, 5, 20, 2), 0);
	CHECK_EQ(put_q(st, 1, 6, 21, 1), 0);
	CHECK_EQ(put_q(st, 1, 7, 40, 1), 0);
	CHECK_EQ(put_q(st, 2, 5, 20, 2), 0);
	CHECK_EQ(hf_store_commit(st), 0);

	CHECK_EQ(hf_store_session_del(st, 1), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(msg_exists(st, 20), 1);
	CHECK_EQ(msg_exists(st, 21), 0);
	CHECK_EQ(msg_exists(st, 30), 0);
	CHECK_EQ(msg_exists(st, 40), 1); /* still retained */
	CHECK_EQ(hf_store_queue_stat(st, 1, &count, &bytes, &last), 0);
	CHECK_EQ(count, 0);
	CHECK_EQ(hf_store_queue_stat(st, 2, &count, &bytes, &last), 0);
	CHECK_EQ(count, 1);
	n = 0;
	CHECK_EQ(hf_store_subs_each(st, count_cb_sub, &n), 0);
	CHECK_EQ(n, 1);
	n = 0;
	CHECK_EQ(hf_store_qos2_each(st, count_cb_qos2, &n), 0);
	CHECK_EQ(n, 1);
	n = 0;
	CHECK_EQ(hf_store_sessions_each(st, count_cb_sess, &n), 0);
	CHECK_EQ(n, 1);

	/* Retain: del releases the mark's ref; the last one deletes. */
	CHECK_EQ(hf_store_retain_del(st, 40), 0);
	CHECK_EQ(msg_exists(st, 40), 0);
	CHECK_EQ(hf_store_retain_del(st, 40), 0); /* not marked: no-op */
	CHECK_EQ(hf_store_retain_put(st, 41), HF_STORE_EINCONSISTENT);
	n = 0;
	CHECK_EQ(hf_store_retained_each(st, count_cb_msg, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(hf_store_session_del(st, 2), 0);
	CHECK_EQ(msg_exists(st, 20), 0);
	CHECK_EQ(hf_store_session_del(st, 99), 0); /* unknown: no-op */
	CHECK_EQ(hf_store_commit(st), 0);
	n = 0;
	CHECK_EQ(hf_store_sessions_each(st, count_cb_sess, &n), 0);
	CHECK_EQ(n, 0);
	hf_store_close(st);
	fx_done(&f);
}

/* ---- subscriptions: collisions and long keys -------------------------------
 */

struct subseen {
	int n;
	int opts_sum;
	int mask; /* bit i: filter i seen */
	int dup;
};

static int
sub_collect(void *ctx, const struct hf_store_sub *s)
{
	struct subseen *r = ctx;
	unsigned i;

	if (s->sid != 3 || sscanf((const char *)s->filter, "f/%u", &i) != 1 ||
	    i >= 31)
		return 0;
	if (r->mask & (1 << i))
		r->dup++;
	r->mask |= 1 << i;
	r->opts_sum += s->opts;
	r->n++;
	return 0;
}

static void
t_sub_collisions(void)
{
	struct fx f;
	struct hf_store *st;
	struct subseen r;
	char filters[20][16];
	struct hf_store_sub s = {.sid = 3};

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	hf_store_test_hash_bits(st, 2); /* 4 hash values: chains collide */
	for (int i = 0; i < 12; i++) {
		snprintf(filters[i], sizeof(filters[i]), "f/%d", i);
		s.filter = (const uint8_t *)filters[i];
		s.filter_len = (uint16_t)strlen(filters[i]);
		s.opts = 1;
		CHECK_EQ(hf_store_sub_put(st, &s), 0);
	}
	/* Another session with the same filters does not interfere. */
	s.sid = 4;
	CHECK_EQ(hf_store_sub_put(st, &s), 0);
	s.sid = 3;
	/* Overwrite every filter (found down the chain, not duplicated). */
	for (int i = 0; i < 12; i++) {
		s.filter = (const uint8_t *)filters[i];
		s.filter_len = (uint16_t)strlen(filters[i]);
		s.opts = 2;
		CHECK_EQ(hf_store_sub_put(st, &s), 0);
	}
	/* Delete some: holes appear in chains. */
	for (int i = 0; i < 12; i += 3) {
		CHECK_EQ(hf_store_sub_del(st, 3, (const uint8_t *)filters[i],
		                          (uint16_t)strlen(filters[i])),
		         0);
	}
	CHECK_EQ(hf_store_sub_del(st, 3, (const uint8_t *)"nope", 4), 0);
	/* Re-put one behind a hole: must update, not add a second copy. */
	s.filter = (const uint8_t *)filters[11];
	s.filter_len = (uint16_t)strlen(filters[11]);
	s.opts = 3;
	CHECK_EQ(hf_store_sub_put(st, &s), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	memset(&r, 0, sizeof(r));
	CHECK_EQ(hf_store_subs_each(st, sub_collect, &r), 0);
	CHECK_EQ(r.n, 8);
	CHECK_EQ(r.dup, 0);
	CHECK_EQ(r.mask, 0xfff & ~(1 | 1 << 3 | 1 << 6 | 1 << 9));
	CHECK_EQ(r.opts_sum, 7 * 2 + 3);
	hf_store_close(st);

	/* Every filter hashing to 0: 16 fit, the 17th is refused but the
	 * transaction survives. */
	CHECK((st = fx_open(&f)));
	hf_store_test_hash_bits(st, 0);
	s.sid = 5;
	for (int i = 0; i < 16; i++) {
		snprintf(filters[i], sizeof(filters[i]), "g/%d", i);
		s.filter = (const uint8_t *)filters[i];
		s.filter_len = (uint16_t)strlen(filters[i]);
		CHECK_EQ(hf_store_sub_put(st, &s), 0);
	}
	s.filter = (const uint8_t *)"g/overflow";
	s.filter_len = 10;
	CHECK_EQ(hf_store_sub_put(st, &s), HF_STORE_EINCONSISTENT);
	CHECK_EQ(hf_store_pending(st), 17);
	CHECK_EQ(hf_store_sub_del(st, 5, (const uint8_t *)filters[4],
	                          (uint16_t)strlen(filters[4])),
	         0);
	CHECK_EQ(hf_store_sub_put(st, &s), 0); /* reuses the hole */
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);
	fx_done(&f);
}

struct longseen {
	int ok;
	const uint8_t *want;
	size_t len;
};

static int
long_sess(void *ctx, const struct hf_store_session *s)
{
	struct longseen *l = ctx;

	if (s->client_id_len == l->len &&
	    !memcmp(s->client_id, l->want, l->len))
		l->ok++;
	return 0;
}

static int
long_sub(void *ctx, const struct hf_store_sub *s)
{
	struct longseen *l = ctx;

	if (s->filter_len == l->len && !memcmp(s->filter, l->want, l->len))
		l->ok++;
	return 0;
}

static void
t_long_keys(void)
{
	struct fx f;
	struct hf_store *st;
	uint8_t *big = malloc(65535);
	struct longseen l;
	struct hf_store_session sess = {.sid = 1};
	struct hf_store_sub sub = {.sid = 1};
	struct hf_store_msg m;

	CHECK(big);
	for (size_t i = 0; i < 65535; i++)
		big[i] = (uint8_t)('a' + i % 26);
	fx_init(&f);
	CHECK((st = fx_open(&f)));
	sess.client_id = big;
	sess.client_id_len = 65535;
	sub.filter = big;
	sub.filter_len = 65535;
	mk_msg(&m, 1, "", NULL, 0);
	m.topic = big;
	m.topic_len = 65535;
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	CHECK_EQ(hf_store_sub_put(st, &sub), 0);
	CHECK_EQ(hf_store_msg_put(st, &m, 1), 0);
	CHECK_EQ(hf_store_retain_put(st, 1), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);
	CHECK((st = fx_open(&f)));
	l = (struct longseen){0, big, 65535};
	CHECK_EQ(hf_store_sessions_each(st, long_sess, &l), 0);
	CHECK_EQ(hf_store_subs_each(st, long_sub, &l), 0);
	CHECK_EQ(l.ok, 2);
	CHECK_EQ(hf_store_sub_del(st, 1, big, 65535), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	l.ok = 0;
	CHECK_EQ(hf_store_subs_each(st, long_sub, &l), 0);
	CHECK_EQ(l.ok, 0);
	hf_store_close(st);
	free(big);
	fx_done(&f);
}

/* ---- queue order, paging and stat ------------------------------------------
 */

struct qseen {
	uint64_t seqs[128];
	size_t n;
	int stop_at;
};

static int
q_collect(void *ctx, const struct hf_store_qentry *e)
{
	struct qseen *q = ctx;

	if (e->sid != 5 || q->n >= 128)
		return -100;
	q->seqs[q->n++] = e->seq;
	if (q->stop_at && (int)q->n == q->stop_at)
		return 42;
	return 0;
}

static void
t_queue_each(void)
{
	struct fx f;
	struct hf_store *st;
	struct qseen q;

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	/* Insert out of order, with neighbours on both sides. Seqs above
	 * 255 check that the order is numeric, not by the low byte. */
	for (uint64_t i = 100; i >= 1; i--)
		CHECK_EQ(put_q(st, 5, i * 300, i, 10), 0);
	CHECK_EQ(put_q(st, 4, UINT64_MAX, 1, 10), 0);
	CHECK_EQ(put_q(st, 6, 0, 1, 10), 0);
	CHECK_EQ(put_q(st, 6, 1, 1, 10), 0);
	CHECK_EQ(hf_store_commit(st), 0);

	memset(&q, 0, sizeof(q));
	CHECK_EQ(hf_store_queue_each(st, 5, 0, SIZE_MAX, q_collect, &q), 0);
	CHECK_EQ(q.n, 100);
	for (size_t i = 0; i < 100; i++)
		CHECK_EQ(q.seqs[i], (i + 1) * 300);

	memset(&q, 0, sizeof(q));
	CHECK_EQ(hf_store_queue_each(st, 5, 50 * 300, 10, q_collect, &q), 0);
	CHECK_EQ(q.n, 10);
	CHECK_EQ(q.seqs[0], 50 * 300);
	CHECK_EQ(q.seqs[9], 59 * 300);

	memset(&q, 0, sizeof(q));
	CHECK_EQ(hf_store_queue_each(st, 5, 95 * 300 - 1, 10, q_collect, &q),
	         0);
	CHECK_EQ(q.n, 6);
	CHECK_EQ(q.seqs[5], 100 * 300);

	memset(&q, 0, sizeof(q));
	CHECK_EQ(hf_store_queue_each(st, 5, 0, 0, q_collect, &q), 0);
	CHECK_EQ(q.n, 0);

	memset(&q, 0, sizeof(q));
	q.stop_at = 3;
	CHECK_EQ(hf_store_queue_each(st, 5, 0, 3, q_collect, &q), 42);
	CHECK_EQ(q.n, 3);

	/* Overwrite (same sid+seq) changes state, not the count. */
	{
		struct hf_store_qentry e = {.sid = 5,
		                            .seq = 300,
		                            .msg_id = 1,
		                            .payload_len = 10,
		                            .qos = 1,
		                            .state = 1,
		                            .pid = 9};
		uint64_t count, bytes, last;

		CHECK_EQ(hf_store_queue_put(st, &e), 0);
		CHECK_EQ(hf_store_queue_stat(st, 5, &count, &bytes, &last), 0);
		CHECK_EQ(count, 100);
		CHECK_EQ(bytes, 1000);
		CHECK_EQ(last, 30000);
		CHECK_EQ(hf_store_queue_stat(st, 77, &count, &bytes, &last), 0);
		CHECK_EQ(count, 0);
		CHECK_EQ(last, 0);
	}
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);
	fx_done(&f);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
t_queue_stat_100k(void)
{
	enum { N = 100000 };
	struct fx f;
	struct hf_store *st;
	uint64_t count, bytes, last;
	double t0, dt;
	int n = 0;

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	for (uint64_t i = 1; i <= N; i++)
		CHECK_EQ(put_q(st, 7, i, i, (uint32_t)(i % 1000)), 0);
	CHECK_EQ(put_q(st, 6, 1, 1, 5), 0);
	CHECK_EQ(put_q(st, 8, 1, 1, 5), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	t0 = now_s();
	CHECK_EQ(hf_store_queue_stat(st, 7, &count, &bytes, &last), 0);
	dt = now_s() - t0;
	fprintf(stderr, "   queue_stat over %d entries: %.3f s\n", N, dt);
	CHECK(dt < 1.0);
	CHECK_EQ(count, N);
	CHECK_EQ(last, N);
	/* sum of i % 1000 for i = 1..100000: 100 full cycles of 0..999 */
	CHECK_EQ(bytes, 100ull * 499500ull);
	CHECK_EQ(hf_store_queue_each(st, 7, 0, SIZE_MAX, count_cb_q, &n), 0);
	CHECK_EQ(n, N);
	/* Deleting the session clears its 100k entries in one go (the queue
	 * entries reference no stored body, so each release reports it). */
	CHECK_EQ(hf_store_session_del(st, 7), HF_STORE_EINCONSISTENT);
	CHECK_EQ(hf_store_commit(st), 0);
	CHECK_EQ(hf_store_queue_stat(st, 7, &count, &bytes, &last), 0);
	CHECK_EQ(count, 0);
	CHECK_EQ(hf_store_queue_stat(st, 8, &count, &bytes, &last), 0);
	CHECK_EQ(count, 1);
	hf_store_close(st);
	fx_done(&f);
}

/* ---- damage ----------------------------------------------------------------
 */

static int
write_file(const char *path, size_t n, uint32_t seed)
{
	FILE *fp = fopen(path, "wb");

	if (!fp)
		return -1;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		fputc((int)(seed >> 16) & 0xff, fp);
	}
	return fclose(fp);
}

static void
t_corrupt_random(void)
{
	static const size_t sizes[] = {100, 64 * 1024};
	struct fx f;
	struct hf_store *st = NULL;
	char aside[256];
	struct stat sb;

	for (size_t k = 0; k < 2; k++) {
		fx_init(&f);
		CHECK_EQ(fx_mkdirs(&f), 0);
		CHECK_EQ(write_file(f.path, sizes[k], 7 + (uint32_t)k), 0);
		CHECK_EQ(hf_store_open(&st, &f.conf, f.err, sizeof(f.err)),
		         HF_STORE_ECORRUPT);
		CHECK(st == NULL);
		CHECK(strstr(f.err, f.path) != NULL);
		CHECK(strstr(f.err, "--move-damaged-store") != NULL);
		CHECK(strstr(f.err, "MDB_INVALID") != NULL);
		/* Move it aside: the next open starts empty. */
		CHECK_EQ(hf_store_move_aside(&f.conf, f.err, sizeof(f.err)), 0);
		CHECK(stat(f.path, &sb) != 0);
		snprintf(aside, sizeof(aside), "%s.damaged-", f.path);
		CHECK(strstr(f.err, aside) != NULL);
		CHECK((st = fx_open(&f)));
		hf_store_close(st);
		/* Moving twice in a second does not overwrite the first. */
		CHECK_EQ(hf_store_move_aside(&f.conf, f.err, sizeof(f.err)), 0);
		{
			DIR *d = opendir(f.dir);
			struct dirent *de;
			int damaged = 0;

			CHECK(d);
			while ((de = readdir(d)))
				if (strstr(de->d_name, ".damaged-") &&
				    !strstr(de->d_name, "-lock"))
					damaged++;
			closedir(d);
			CHECK_EQ(damaged, 2);
		}
		fx_done(&f);
	}
	/* Moving a store that is not there is an error. */
	fx_init(&f);
	CHECK_EQ(hf_store_move_aside(&f.conf, f.err, sizeof(f.err)),
	         HF_STORE_EIO);
	fx_done(&f);
}

static void
t_version_and_meta(void)
{
	struct fx f;
	struct hf_store *st = NULL;
	uint8_t v[4];

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	hf_store_close(st);
	hf_be32(v, 4);
	CHECK_EQ(raw_put(f.path, "meta", "version", 7, v, 4), 0);
	CHECK_EQ(hf_store_open(&st, &f.conf, f.err, sizeof(f.err)),
	         HF_STORE_EVERSION);
	CHECK(strstr(f.err, f.path) != NULL);
	CHECK(strstr(f.err, "version 4") != NULL);
	hf_be32(v, 2);
	CHECK_EQ(raw_put(f.path, "meta", "version", 7, v, 4), 0);
	CHECK((st = fx_open(&f)));
	hf_store_close(st);
	CHECK_EQ(raw_put(f.path, "meta", "magic", 5, "mosquitto", 9), 0);
	CHECK_EQ(hf_store_open(&st, &f.conf, f.err, sizeof(f.err)),
	         HF_STORE_ECORRUPT);
	CHECK(strstr(f.err, f.path) != NULL);
	fx_done(&f);

	/* Some other program's LMDB file. */
	fx_init(&f);
	CHECK_EQ(fx_mkdirs(&f), 0);
	CHECK_EQ(raw_put(f.path, "other", "k", 1, "v", 1), 0);
	CHECK_EQ(hf_store_open(&st, &f.conf, f.err, sizeof(f.err)),
	         HF_STORE_ECORRUPT);
	CHECK(strstr(f.err, "--move-damaged-store") != NULL);
	fx_done(&f);
}

struct idc {
	int n;
	bool ok;
};

static int
check_identity(void *ctx, const struct hf_store_session *s)
{
	struct idc *c = ctx;
	c->n++;
	if (s->sid == 8)
		c->ok = s->has_username && s->username_len == 5 &&
		        memcmp(s->username, "alice", 5) == 0 &&
		        s->has_cert_cn && s->cert_cn_len == 7 &&
		        memcmp(s->cert_cn, "agent-1", 7) == 0 &&
		        s->listener_port == 8883;
	return 0;
}

static int
copy_session(void *ctx, const struct hf_store_session *s)
{
	struct hf_store_session *out = ctx;
	*out = *s;
	out->client_id = NULL; /* not valid after the callback */
	out->username = out->cert_cn = NULL;
	return 0;
}

/* A format 1 store (session records end with the client id): read as it
 * is through a read-only handle, migrated to format 2 when a writer opens
 * it - every session gains an empty identity, the version moves, nothing
 * else changes - and a format 2 session keeps its identity. */
static void
t_migrate_v1(void)
{
	struct fx f;
	struct hf_store *st = NULL;
	struct hf_store_session got, s = {
	                                 .sid = 7,
	                                 .client_id = (const uint8_t *)"old",
	                                 .client_id_len = 3,
	                                 .proto = 4,
	                                 .expiry = UINT32_MAX,
	                                 .disconnected_at = 5,
	                             };
	uint8_t v1[HF_REC_SESSION_HDR + 3], key[8], ver[4];
	size_t n;

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	hf_store_close(st);
	/* A format 1 record: a format 2 one cut after the client id. */
	uint8_t *enc = hf_rec_session_enc(&s, &n);
	CHECK(enc != NULL);
	memcpy(v1, enc, sizeof(v1));
	free(enc);
	hf_be64(key, 7);
	hf_be32(ver, 1);
	CHECK_EQ(raw_put(f.path, "sessions", key, 8, v1, sizeof(v1)), 0);
	CHECK_EQ(raw_put(f.path, "meta", "version", 7, ver, 4), 0);

	f.conf.read_only = true;
	CHECK((st = fx_open(&f)));
	memset(&got, 0, sizeof(got));
	CHECK_EQ(hf_store_sessions_each(st, copy_session, &got), 0);
	CHECK_EQ(got.sid, 7);
	CHECK(!got.has_username && got.listener_port == 0);
	CHECK_EQ(hf_store_check(st, NULL, NULL, NULL), 0);
	hf_store_close(st);

	f.conf.read_only = false;
	CHECK((st = fx_open(&f))); /* migrates */
	memset(&got, 0, sizeof(got));
	CHECK_EQ(hf_store_sessions_each(st, copy_session, &got), 0);
	CHECK_EQ(got.sid, 7);
	CHECK_EQ(got.disconnected_at, 5);
	CHECK(!got.has_username && !got.has_cert_cn);
	CHECK_EQ(hf_store_check(st, NULL, NULL, NULL), 0);
	/* A session with an identity, stored and read back. */
	s.sid = 8;
	s.has_username = true;
	s.username = (const uint8_t *)"alice";
	s.username_len = 5;
	s.has_cert_cn = true;
	s.cert_cn = (const uint8_t *)"agent-1";
	s.cert_cn_len = 7;
	s.listener_port = 8883;
	CHECK_EQ(hf_store_session_put(st, &s), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);
	CHECK((st = fx_open(&f)));
	struct idc c = {0, false};
	CHECK_EQ(hf_store_sessions_each(st, check_identity, &c), 0);
	CHECK_EQ(c.n, 2);
	CHECK(c.ok);
	hf_store_close(st);
	/* And the file now says the current format, read-only too. */
	f.conf.read_only = true;
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_int_version(st), HF_STORE_FORMAT_VERSION);
	hf_store_close(st);
	fx_done(&f);
}

static int
copy_qentry(void *ctx, const struct hf_store_qentry *e)
{
	struct hf_store_qentry *out = ctx;
	*out = *e;
	out->subids = NULL; /* not valid after the callback */
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A format 2 store (queue entries end with their subscription ids): read
 * as it is through a read-only handle (queued-at 0, unknown), migrated to
 * format 3 by a writer - every entry gains a queued-at of 0, which later
 * rewrites keep - while a new entry is stamped once, when first written,
 * and keeps that time through rewrites and a reopen. */
static void
t_migrate_v2(void)
{
	struct fx f;
	struct hf_store *st = NULL;
	struct hf_store_session s = {
	    .sid = 3,
	    .client_id = (const uint8_t *)"q",
	    .client_id_len = 1,
	    .proto = 5,
	    .expiry = 60,
	};
	struct hf_store_msg m = {
	    .id = 9,
	    .qos = 1,
	    .topic = (const uint8_t *)"t",
	    .topic_len = 1,
	    .payload = (const uint8_t *)"pp",
	    .payload_len = 2,
	};
	uint32_t subid = 5;
	struct hf_store_qentry got, e = {
	                                .sid = 3,
	                                .seq = 1,
	                                .msg_id = 9,
	                                .payload_len = 2,
	                                .qos = 1,
	                                .n_subids = 1,
	                                .subids = &subid,
	                            };
	uint8_t key[16], ver[4];
	size_t n;

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_session_put(st, &s), 0);
	CHECK_EQ(hf_store_msg_put(st, &m, 1), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);
	/* A format 2 entry: a format 3 one without its last 8 bytes. */
	uint8_t *enc = hf_rec_qentry_enc(&e, &n);
	CHECK(enc != NULL);
	hf_be64(key, 3);
	hf_be64(key + 8, 1);
	hf_be32(ver, 2);
	CHECK_EQ(raw_put(f.path, "queue", key, 16, enc, n - 8), 0);
	CHECK_EQ(raw_put(f.path, "meta", "version", 7, ver, 4), 0);
	free(enc);

	f.conf.read_only = true;
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_int_version(st), 2);
	memset(&got, 0xff, sizeof(got));
	CHECK_EQ(hf_store_queue_each(st, 3, 0, 10, copy_qentry, &got), 0);
	CHECK_EQ(got.seq, 1);
	CHECK_EQ(got.queued_at, 0);
	CHECK_EQ(got.n_subids, 1);
	CHECK_EQ(hf_store_check(st, NULL, NULL, NULL), 0);
	hf_store_close(st);

	f.conf.read_only = false;
	CHECK((st = fx_open(&f))); /* migrates */
	CHECK_EQ(hf_store_int_version(st), 3);
	CHECK_EQ(hf_store_check(st, NULL, NULL, NULL), 0);
	memset(&got, 0xff, sizeof(got));
	CHECK_EQ(hf_store_queue_each(st, 3, 0, 10, copy_qentry, &got), 0);
	CHECK_EQ(got.queued_at, 0);
	CHECK_EQ(got.n_subids, 1);
	/* The engine rewrites it (sent): still unknown, not "now". */
	e.state = 1;
	e.pid = 7;
	CHECK_EQ(hf_store_queue_put(st, &e), 0);
	CHECK_EQ(hf_store_queue_each(st, 3, 0, 10, copy_qentry, &got), 0);
	CHECK_EQ(got.queued_at, 0);
	CHECK_EQ(got.state, 1);
	/* A new entry is stamped now, once. */
	int64_t before = now_ms();
	e.seq = 2;
	e.state = 0;
	e.pid = 0;
	CHECK_EQ(hf_store_msg_ref(st, 9, 1), 0);
	CHECK_EQ(hf_store_queue_put(st, &e), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	CHECK_EQ(hf_store_queue_each(st, 3, 2, 10, copy_qentry, &got), 0);
	int64_t stamped = got.queued_at;
	CHECK(stamped >= before && stamped <= now_ms());
	e.state = 1;
	e.pid = 8;
	e.queued_at = 0;
	CHECK_EQ(hf_store_queue_put(st, &e), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_queue_each(st, 3, 2, 10, copy_qentry, &got), 0);
	CHECK_EQ(got.queued_at, stamped);
	CHECK_EQ(got.pid, 8);
	CHECK_EQ(hf_store_check(st, NULL, NULL, NULL), 0);
	hf_store_close(st);

	/* A format 2 entry that does not decode stops the migration and
	 * names the damage. */
	fx_done(&f);
	fx_init(&f);
	CHECK((st = fx_open(&f)));
	hf_store_close(st);
	CHECK_EQ(raw_put(f.path, "queue", key, 16, "short", 5), 0);
	CHECK_EQ(raw_put(f.path, "meta", "version", 7, ver, 4), 0);
	CHECK_EQ(hf_store_open(&st, &f.conf, f.err, sizeof(f.err)),
	         HF_STORE_ECORRUPT);
	CHECK(strstr(f.err, "queue entry of format 2") != NULL);
	fx_done(&f);
}

static int
fail_if_called_q(void *ctx, const struct hf_store_qentry *e)
{
	return 0;
}

static void
t_bad_records(void)
{
	struct fx f;
	struct hf_store *st;
	struct hf_store_msg m;
	struct hf_store_session sess = {
	    .sid = 1, .client_id = (const uint8_t *)"c", .client_id_len = 1};
	uint8_t k[16], v[64];
	uint64_t count, bytes, last;
	struct msgcopy c = {0};
	int n = 0;

	fx_init(&f);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	mk_msg(&m, 5, "t", (const uint8_t *)"p", 1);
	CHECK_EQ(hf_store_msg_put(st, &m, 1), 0);
	CHECK_EQ(put_q(st, 1, 1, 5, 1), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	hf_store_close(st);

	/* A queue value of 3 garbage bytes, after a good entry. */
	hf_be64(k, 1);
	hf_be64(k + 8, 2);
	CHECK_EQ(raw_put(f.path, "queue", k, 16, "xyz", 3), 0);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(
	    hf_store_queue_each(st, 1, 0, SIZE_MAX, fail_if_called_q, NULL),
	    HF_STORE_ECORRUPT);
	CHECK(strstr(hf_store_errmsg(st), "queue") != NULL);
	CHECK_EQ(hf_store_queue_stat(st, 1, &count, &bytes, &last),
	         HF_STORE_ECORRUPT);
	/* Deleting the bad entry works and reports it. */
	CHECK_EQ(hf_store_queue_del(st, 1, 2), HF_STORE_EINCONSISTENT);
	CHECK_EQ(hf_store_queue_stat(st, 1, &count, &bytes, &last), 0);
	CHECK_EQ(count, 1);
	hf_store_close(st); /* uncommitted: the bad entry is back */

	/* A queue value whose subid count points past its end. */
	memset(v, 0, sizeof(v));
	hf_be64(v, 5);
	hf_be16(v + 17, 1000);
	CHECK_EQ(raw_put(f.path, "queue", k, 16, v, 23), 0);
	/* A queue key of the wrong length. */
	CHECK_EQ(raw_put(f.path, "queue", k, 12, v, 19), 0);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(
	    hf_store_queue_each(st, 1, 2, SIZE_MAX, fail_if_called_q, NULL),
	    HF_STORE_ECORRUPT);
	hf_store_close(st);

	/* A message whose lengths do not add up; a session cut short. */
	memset(v, 0, sizeof(v));
	v[0] = 1;
	hf_be16(v + 10, 3);
	hf_be32(v + 12, 0xffffffffu);
	hf_be64(k, 5);
	CHECK_EQ(raw_put(f.path, "msgs", k, 8, v, 24), 0);
	hf_be64(k, 1);
	CHECK_EQ(raw_put(f.path, "sessions", k, 8, v, 34), 0);
	/* A retained mark without a body. */
	hf_be64(k, 77);
	CHECK_EQ(raw_put(f.path, "retained", k, 8, "", 0), 0);
	/* A message with a qos of 9. */
	memset(v, 0, sizeof(v));
	v[0] = 9;
	hf_be64(k, 6);
	CHECK_EQ(raw_put(f.path, "msgs", k, 8, v, 20), 0);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_msg_get(st, 5, copy_msg, &c), HF_STORE_ECORRUPT);
	CHECK_EQ(hf_store_msg_get(st, 6, copy_msg, &c), HF_STORE_ECORRUPT);
	CHECK_EQ(c.calls, 0);
	CHECK_EQ(hf_store_sessions_each(st, count_cb_sess, &n),
	         HF_STORE_ECORRUPT);
	CHECK_EQ(hf_store_retained_each(st, count_cb_msg, &n),
	         HF_STORE_ECORRUPT);
	CHECK_EQ(n, 0);
	/* Deleting the damaged session still clears it. */
	CHECK_EQ(hf_store_session_del(st, 1), HF_STORE_EINCONSISTENT);
	CHECK_EQ(hf_store_commit(st), 0);
	CHECK_EQ(hf_store_sessions_each(st, count_cb_sess, &n), 0);
	CHECK_EQ(n, 0);
	hf_store_close(st);
	fx_done(&f);
}

/* Decoders on random bytes of every length: never read out of bounds
 * (ASan watches), and agree with the exact-length rule. */
static void
t_decode_random(void)
{
	uint32_t seed = 1;

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(iter % 80);
		uint8_t *b = malloc(n ? n : 1);
		struct hf_store_session s;
		struct hf_store_sub u;
		struct hf_store_msg m;
		struct hf_store_qentry q;
		const uint8_t *raw;
		uint32_t ids[40];

		CHECK(b);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			b[i] = (uint8_t)(seed >> 16);
		}
		/* Small lengths make valid records likely now and then. */
		if (n > 34 && iter % 3 == 0) {
			b[33] = 0;
			b[34] = (uint8_t)(n - 35);
		}
		if (hf_rec_session_dec(b, n, 1, 1, &s) == 0)
			CHECK_EQ(s.client_id_len + 35, n);
		if (hf_rec_session_dec(b, n, 1, 2, &s) == 0)
			CHECK_EQ(s.client_id_len + 35 + 7 + s.username_len +
			             s.cert_cn_len,
			         n);
		if (hf_rec_sub_dec(b, n, 1, &u) == 0)
			CHECK_EQ(u.filter_len + 7, n);
		if (hf_rec_msg_dec(b, n, 1, &m) == 0)
			CHECK_EQ(20 + m.topic_len + m.payload_len + m.props_len,
			         n);
		if (hf_rec_qentry_dec(b, n, 1, 2, 2, &q, &raw) == 0) {
			CHECK_EQ(19 + 4 * q.n_subids, n);
			hf_rec_subids(raw, q.n_subids, ids);
		}
		if (hf_rec_qentry_dec(b, n, 1, 2, 3, &q, &raw) == 0) {
			CHECK_EQ(19 + 4 * q.n_subids + 8, n);
			hf_rec_subids(raw, q.n_subids, ids);
		}
		free(b);
	}
}

/* ---- misuse guards ---------------------------------------------------------
 */

struct wr_ctx {
	struct hf_store *st;
	int rc;
	int nested;
};

static int
write_inside(void *ctx, const struct hf_store_session *s)
{
	struct wr_ctx *w = ctx;
	struct msgcopy c = {0};

	w->rc = hf_store_qos2_put(w->st, s->sid, 1);
	/* A read inside a read is fine. */
	w->nested = hf_store_msg_get(w->st, 1, copy_msg, &c);
	return 0;
}

static void
t_guards(void)
{
	struct fx f;
	struct hf_store *st, *ro;
	struct hf_store_session sess = {
	    .sid = 1, .client_id = (const uint8_t *)"c", .client_id_len = 1};
	struct hf_store_msg m;
	struct wr_ctx w = {0};

	fx_init(&f);
	/* A read-only open of a missing store fails, naming it. */
	f.conf.read_only = true;
	CHECK_EQ(hf_store_open(&ro, &f.conf, f.err, sizeof(f.err)),
	         HF_STORE_EIO);
	CHECK(strstr(f.err, f.path) != NULL);
	f.conf.read_only = false;
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	mk_msg(&m, 1, "t", NULL, 0);
	CHECK_EQ(hf_store_msg_put(st, &m, 1), 0);
	CHECK_EQ(hf_store_msg_put(st, &m, 0), HF_STORE_EIO);
	CHECK_EQ(hf_store_commit(st), 0);
	w.st = st;
	CHECK_EQ(hf_store_sessions_each(st, write_inside, &w), 0);
	CHECK_EQ(w.rc, HF_STORE_EIO);
	CHECK_EQ(w.nested, 0);
	CHECK_EQ(hf_store_pending(st), 0);

	/* A second, read-only handle (as holdfast-db, but in-process only
	 * while the writer is closed: LMDB forbids two envs of one file in
	 * one process). */
	hf_store_close(st);
	f.conf.read_only = true;
	CHECK((ro = fx_open(&f)));
	CHECK_EQ(hf_store_session_put(ro, &sess), HF_STORE_EIO);
	CHECK_EQ(msg_exists(ro, 1), 1);
	hf_store_close(ro);
	fx_done(&f);
}

/* ---- holdfast-db -----------------------------------------------------------
 */

static int
run_capture(char *const argv[], char *out, size_t outlen)
{
	int pfd[2], status;
	size_t got = 0;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r = read(pfd[0], out + got, outlen - 1 - got);

		if (r <= 0 || (got += (size_t)r) >= outlen - 1)
			break;
	}
	out[got] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
t_holdfast_db(void)
{
	char bin[512], dir[512], out[8192];
	struct fx f;
	struct hf_store *st;
	struct hf_store_session sess = {.sid = 1,
	                                .client_id = (const uint8_t *)"dev-1",
	                                .client_id_len = 5,
	                                .proto = 4,
	                                .expiry = UINT32_MAX};
	struct hf_store_sub sub = {.sid = 1,
	                           .filter = (const uint8_t *)"sensors/+/t",
	                           .filter_len = 11,
	                           .opts = 1};
	struct hf_store_msg m;

	/* holdfast-db is built next to the broker. */
	snprintf(dir, sizeof(dir), "%s", HF_BROKER_BIN);
	snprintf(bin, sizeof(bin), "%s/holdfast-db", dirname(dir));
	if (access(bin, X_OK)) {
		fprintf(stderr, "   %s not built; skipped\n", bin);
		return;
	}
	fx_init(&f);
	CHECK((st = fx_open(&f)));
	CHECK_EQ(hf_store_session_put(st, &sess), 0);
	CHECK_EQ(hf_store_sub_put(st, &sub), 0);
	mk_msg(&m, 9, "sensors/a/t", (const uint8_t *)"21.5", 4);
	m.retain = true;
	CHECK_EQ(hf_store_msg_put(st, &m, 2), 0);
	CHECK_EQ(hf_store_retain_put(st, 9), 0);
	CHECK_EQ(put_q(st, 1, 1, 9, 4), 0);
	CHECK_EQ(hf_store_commit(st), 0);
	/* The writer stays open: holdfast-db reads beside a live broker. */
	{
		char *argv[] = {bin, (char *)"-d", f.dir, (char *)"stats",
		                NULL};

		CHECK_EQ(run_capture(argv, out, sizeof(out)), 0);
		CHECK(strstr(out, "sessions:        1") != NULL);
		CHECK(strstr(out, "queue entries:   1") != NULL);
	}
	{
		char *argv[] = {bin, (char *)"-d", f.dir, (char *)"sessions",
		                NULL};

		CHECK_EQ(run_capture(argv, out, sizeof(out)), 0);
		CHECK(strstr(out, "dev-1") != NULL);
		CHECK(strstr(out, "never") != NULL);
	}
	{
		char *argv[] = {bin, (char *)"-d", f.dir, (char *)"subs", NULL};

		CHECK_EQ(run_capture(argv, out, sizeof(out)), 0);
		CHECK(strstr(out, "sensors/+/t") != NULL);
	}
	{
		char *argv[] = {
		    bin, (char *)"-d", f.dir, (char *)"queue", (char *)"dev-1",
		    NULL};

		CHECK_EQ(run_capture(argv, out, sizeof(out)), 0);
		CHECK(strstr(out, "sensors/a/t") != NULL);
	}
	{
		char *argv[] = {bin, (char *)"-d", f.dir, (char *)"retained",
		                NULL};

		CHECK_EQ(run_capture(argv, out, sizeof(out)), 0);
		CHECK(strstr(out, "sensors/a/t") != NULL);
	}
	hf_store_close(st);
	fx_done(&f);
}

int
main(void)
{
	HF_RUN(t_roundtrip);
	HF_RUN(t_uncommitted_lost);
	HF_RUN(t_growth_replay);
	HF_RUN(t_efull);
	HF_RUN(t_refcount);
	HF_RUN(t_sub_collisions);
	HF_RUN(t_long_keys);
	HF_RUN(t_queue_each);
	HF_RUN(t_queue_stat_100k);
	HF_RUN(t_corrupt_random);
	HF_RUN(t_version_and_meta);
	HF_RUN(t_migrate_v1);
	HF_RUN(t_migrate_v2);
	HF_RUN(t_bad_records);
	HF_RUN(t_decode_random);
	HF_RUN(t_guards);
	HF_RUN(t_holdfast_db);
	return HF_DONE();
}
