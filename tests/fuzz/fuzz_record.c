// tests/fuzz/fuzz_record.c - libFuzzer target for the store's records.
//
// Built as a libFuzzer binary with -DHF_FUZZ=ON (clang); tools/fuzz.sh runs
// it over tests/fuzz/corpus/record. Every CTest run replays that corpus
// (tests/fuzz/replay.c, test fuzz_record_replay).
/*
 * Disk bytes are untrusted. The first input byte picks the mode:
 *
 * below 0x40, decoders: the rest is given to every records.c decoder
 * (session, subscription, message, queue entry). None may read outside the
 * input (libFuzzer and the replay hand in an exact-size heap block, so ASan
 * sees any over-read). A value that decodes is encoded again and must come
 * out byte for byte the same (the layout has one encoding per record), and
 * decode to the same fields.
 *
 * 0x80 and above, a store: the rest is a list of records written with the
 * plain LMDB API into a store in this process's temp directory (every
 * database emptied first, valid meta data written), see next_record() for
 * the encoding. Then the store is opened read-only and hf_store_check() and
 * every read function run over it: nothing may crash, damage is reported.
 * Two cross-checks make the checker's verdict mean something: when it finds
 * no violation, every read must succeed and every queue entry's message
 * must load; and deleting every session and retained mark through the
 * store API (read-write) must release every reference without an error and
 * leave no message body behind.
 *
 * 0x40 to 0x7f, the store API driven like a correct engine: the rest is a
 * list of operations (sessions with wills, messages published to sessions,
 * queue entries sent, released and acknowledged, retained messages
 * replaced and deleted, subscriptions, QoS 2 ids, commits, reopening) made
 * through store.h on a new store with a small map (so it grows and replays
 * transactions), with every reference taken and released as the engine
 * does, while a model keeps what should be stored. At every commit, and at
 * the end, hf_store_check() must find no violation and the model's record
 * counts; releasing everything must delete every body. One operation is
 * the engine's bug, a reference change without a record: the checker must
 * report it at once (in the open transaction), and the run ends there.
 *
 * Threading/ownership: single-threaded. One temp directory per process,
 * created on first use, reused for every input and removed at exit; it
 * holds the only files the target writes. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "holdfast/store.h"
#include "../../persistence/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECKF(c)                                                              \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
			        #c);                                           \
			abort();                                               \
		}                                                              \
	} while (0)

/* ---- decoders ---------------------------------------------------------- */

static void
rt_session(const uint8_t *p, size_t n)
{
	struct hf_store_session a, b;
	uint8_t *e;
	size_t len;

	/* Format 1 records decode as sessions without an identity, and
	 * re-encode (as the migration does) to a format 2 record. */
	if (hf_rec_session_dec(p, n, 42, 1, &a) == 0) {
		CHECKF((e = hf_rec_session_enc(&a, &len)) != NULL);
		CHECKF(hf_rec_session_dec(e, len, 42, 2, &b) == 0);
		CHECKF(!b.has_username && !b.has_cert_cn &&
		       b.listener_port == 0 &&
		       b.client_id_len == a.client_id_len);
		free(e);
	}
	if (hf_rec_session_dec(p, n, 42, 2, &a))
		return;
	CHECKF((e = hf_rec_session_enc(&a, &len)) != NULL);
	CHECKF(len == n && memcmp(e, p, n) == 0);
	CHECKF(hf_rec_session_dec(e, len, 42, 2, &b) == 0);
	CHECKF(b.sid == 42 && b.proto == a.proto && b.expiry == a.expiry &&
	       b.disconnected_at == a.disconnected_at &&
	       b.will_msg == a.will_msg && b.will_delay == a.will_delay &&
	       b.will_at == a.will_at && b.client_id_len == a.client_id_len &&
	       memcmp(b.client_id, a.client_id, a.client_id_len) == 0 &&
	       b.has_username == a.has_username &&
	       b.has_cert_cn == a.has_cert_cn &&
	       b.listener_port == a.listener_port &&
	       b.username_len == a.username_len &&
	       memcmp(b.username, a.username, a.username_len) == 0 &&
	       b.cert_cn_len == a.cert_cn_len &&
	       memcmp(b.cert_cn, a.cert_cn, a.cert_cn_len) == 0);
	free(e);
}

static void
rt_sub(const uint8_t *p, size_t n)
{
	struct hf_store_sub a, b;
	uint8_t *e;
	size_t len;

	if (hf_rec_sub_dec(p, n, 7, &a))
		return;
	(void)hf_rec_hash(a.filter, a.filter_len);
	CHECKF((e = hf_rec_sub_enc(&a, &len)) != NULL);
	CHECKF(len == n && memcmp(e, p, n) == 0);
	CHECKF(hf_rec_sub_dec(e, len, 7, &b) == 0);
	CHECKF(b.sid == 7 && b.opts == a.opts && b.sub_id == a.sub_id &&
	       b.filter_len == a.filter_len &&
	       memcmp(b.filter, a.filter, a.filter_len) == 0);
	free(e);
}

static void
rt_msg(const uint8_t *p, size_t n)
{
	struct hf_store_msg a, b;
	uint8_t *e;
	size_t len;

	if (hf_rec_msg_dec(p, n, 9, &a))
		return;
	CHECKF(a.qos <= 2);
	CHECKF((e = hf_rec_msg_enc(&a, &len)) != NULL);
	CHECKF(len == n && memcmp(e, p, n) == 0);
	CHECKF(hf_rec_msg_dec(e, len, 9, &b) == 0);
	CHECKF(b.id == 9 && b.qos == a.qos && b.retain == a.retain &&
	       b.expiry_at == a.expiry_at && b.topic_len == a.topic_len &&
	       b.payload_len == a.payload_len && b.props_len == a.props_len &&
	       memcmp(b.topic, a.topic, a.topic_len) == 0 &&
	       memcmp(b.payload, a.payload, a.payload_len) == 0 &&
	       memcmp(b.props, a.props, a.props_len) == 0);
	free(e);
}

static void
rt_qentry(const uint8_t *p, size_t n)
{
	struct hf_store_qentry a, b;
	const uint8_t *raw, *raw2;
	uint32_t *ids;
	uint8_t *e;
	size_t len;

	if (hf_rec_qentry_dec(p, n, 5, 6, HF_STORE_FORMAT_VERSION, &a, &raw))
		return;
	CHECKF(a.qos <= 2 && a.state <= 2 && a.subids == NULL);
	CHECKF((ids = malloc(a.n_subids * sizeof(*ids) + 1)) != NULL);
	hf_rec_subids(raw, a.n_subids, ids);
	a.subids = ids;
	CHECKF((e = hf_rec_qentry_enc(&a, &len)) != NULL);
	CHECKF(len == n && memcmp(e, p, n) == 0);
	CHECKF(hf_rec_qentry_dec(e, len, 5, 6, HF_STORE_FORMAT_VERSION, &b,
	                         &raw2) == 0);
	CHECKF(b.sid == 5 && b.seq == 6 && b.msg_id == a.msg_id &&
	       b.payload_len == a.payload_len && b.qos == a.qos &&
	       b.state == a.state && b.retain == a.retain && b.pid == a.pid &&
	       b.n_subids == a.n_subids &&
	       memcmp(raw2, raw, 4 * (size_t)a.n_subids) == 0);
	free(e);
	free(ids);
}

/* ---- the store --------------------------------------------------------- */

static char dir[64];
static char path[96];

static void
cleanup(void)
{
	char lock[128];

	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(path);
	unlink(lock);
	rmdir(dir);
}

static struct hf_store_conf
store_conf(bool read_only)
{
	struct hf_store_conf c = {
	    .dir = dir,
	    .file = "fuzz.db",
	    .sync = HF_SYNC_OS,
	    .initial_map_size = 1024 * 1024,
	    .max_map_size = 64 * 1024 * 1024,
	    .read_only = read_only,
	};
	return c;
}

/* Make the directory and an empty store in it, once per process. */
static bool
setup(void)
{
	static int state; /* 0 not yet, 1 ready, -1 failed */
	struct hf_store_conf c;
	struct hf_store *st;
	char err[512];

	if (state)
		return state > 0;
	state = -1;
	snprintf(dir, sizeof(dir), "/tmp/hf-fuzz-record-XXXXXX");
	if (!mkdtemp(dir))
		return false;
	snprintf(path, sizeof(path), "%s/fuzz.db", dir);
	atexit(cleanup);
	c = store_conf(false);
	if (hf_store_open(&st, &c, err, sizeof(err))) {
		fprintf(stderr, "fuzz_record: %s\n", err);
		return false;
	}
	hf_store_close(st);
	state = 1;
	return true;
}

/* Input cursor. */
struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t
byte(struct in *in)
{
	uint8_t b = 0;

	if (in->n) {
		b = *in->p++;
		in->n--;
	}
	return b;
}

static const uint8_t *
take(struct in *in, size_t *n)
{
	const uint8_t *p = in->p;

	if (*n > in->n)
		*n = in->n;
	in->p += *n;
	in->n -= *n;
	return p;
}

/* One record: a byte B picks the database (B & 7: meta, sessions, subs,
 * msgs, mrefs, queue, qos2, retained) and the key form. With B & 0x80 the
 * key is raw: a length byte (mod 24) and that many bytes. Otherwise it is
 * built with the right length from small numbers: ids, sids and seqs from
 * one byte, a packet id from two, a meta key from a name list, and a
 * subscription slot as the hash of the filter in the value plus one byte
 * (mod 20; 0..15 are valid probes). Then a value length byte (with B & 0x40
 * the length is that byte * 4, for big payloads) and the value. */
static void
next_record(struct in *in, uint8_t *key, size_t *klen, const uint8_t **val,
            size_t *vlen, int *db)
{
	static const char *const meta[] = {"magic", "version", "created",
	                                   "other"};
	uint8_t b = byte(in), slot_off = 0;
	size_t kl;

	*db = b & 7;
	if (b & 0x80) {
		const uint8_t *k;

		kl = byte(in) % 24;
		k = take(in, &kl);
		memcpy(key, k, kl);
		*klen = kl;
	} else {
		switch (*db) {
		case HF_DB_META: {
			const char *m = meta[byte(in) % 4];

			*klen = strlen(m);
			memcpy(key, m, *klen);
			break;
		}
		case HF_DB_SUBS:
			hf_be64(key, byte(in));
			slot_off = byte(in) % 20;
			*klen = 16;
			break;
		case HF_DB_QUEUE:
			hf_be64(key, byte(in));
			hf_be64(key + 8, byte(in));
			*klen = 16;
			break;
		case HF_DB_QOS2: {
			uint16_t pid = (uint16_t)(byte(in) << 8);

			hf_be64(key, byte(in));
			hf_be16(key + 8, pid | byte(in));
			*klen = 10;
			break;
		}
		default:
			hf_be64(key, byte(in));
			*klen = 8;
			break;
		}
	}
	*vlen = byte(in);
	if (b & 0x40)
		*vlen *= 4;
	*val = take(in, vlen);
	if (!(b & 0x80) && *db == HF_DB_SUBS) {
		struct hf_store_sub s;

		if (hf_rec_sub_dec(*val, *vlen, 0, &s) == 0)
			hf_be64(key + 8,
			        hf_rec_hash(s.filter, s.filter_len) + slot_off);
	}
}

/* Empty every database, write valid meta data, then the input's records.
 * Returns false when LMDB refused (the input is then skipped). */
static bool
write_store(struct in *in)
{
	static const char *const names[HF_DB_COUNT] = {
	    "meta",  "sessions", "subs", "msgs",
	    "mrefs", "queue",    "qos2", "retained",
	};
	uint8_t ver[4], created[8];
	MDB_dbi dbi[HF_DB_COUNT];
	MDB_env *env;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (mdb_env_create(&env))
		return false;
	mdb_env_set_maxdbs(env, HF_DB_COUNT);
	mdb_env_set_mapsize(env, 64 * 1024 * 1024);
	rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOSYNC, 0600);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc) {
		mdb_env_close(env);
		return false;
	}
	for (int i = 0; i < HF_DB_COUNT && !rc; i++)
		if (!(rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi[i])))
			rc = mdb_drop(txn, dbi[i], 0);
	hf_be32(ver, HF_STORE_FORMAT_VERSION);
	hf_be64(created, 1700000000000ull);
	if (!rc) {
		k = (MDB_val){5, (void *)"magic"};
		v = (MDB_val){strlen(HF_STORE_MAGIC), (void *)HF_STORE_MAGIC};
		rc = mdb_put(txn, dbi[HF_DB_META], &k, &v, 0);
	}
	if (!rc) {
		k = (MDB_val){7, (void *)"version"};
		v = (MDB_val){4, ver};
		rc = mdb_put(txn, dbi[HF_DB_META], &k, &v, 0);
	}
	if (!rc) {
		k = (MDB_val){7, (void *)"created"};
		v = (MDB_val){8, created};
		rc = mdb_put(txn, dbi[HF_DB_META], &k, &v, 0);
	}
	for (int i = 0; i < 256 && in->n && !rc; i++) {
		uint8_t key[24];
		const uint8_t *val;
		size_t vlen;
		int db;

		next_record(in, key, &k.mv_size, &val, &vlen, &db);
		k.mv_data = key;
		v = (MDB_val){vlen, (void *)val};
		if (k.mv_size == 0)
			continue; /* LMDB has no empty keys */
		rc = mdb_put(txn, dbi[db], &k, &v, 0);
	}
	if (!rc)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc == 0;
}

/* ---- reading it back --------------------------------------------------- */

struct ids {
	uint64_t v[512];
	size_t n;
};

static void
add_id(struct ids *l, uint64_t id)
{
	if (l->n < 512)
		l->v[l->n++] = id;
}

/* HF_FUZZ_VERBOSE=1 prints what the checker reports (to read a corpus). */
static void
on_violation(void *ctx, const char *violation)
{
	size_t *n = ctx;

	CHECKF(violation && strlen(violation) < 1024);
	if (getenv("HF_FUZZ_VERBOSE"))
		fprintf(stderr, "  %s\n", violation);
	(*n)++;
}

static int
on_session(void *ctx, const struct hf_store_session *s)
{
	add_id(ctx, s->sid);
	return 0;
}

static int
on_sub(void *ctx, const struct hf_store_sub *s)
{
	return 0;
}

static int
on_qos2(void *ctx, uint64_t sid, uint16_t pid)
{
	return 0;
}

static int
on_retained(void *ctx, const struct hf_store_msg *m)
{
	add_id(ctx, m->id);
	return 0;
}

struct qctx {
	struct hf_store *st;
	bool clean;
	uint32_t n_subids; /* identifiers 0 seen */
};

static void
on_msg(void *ctx, const struct hf_store_msg *m)
{
	CHECKF(m->qos <= 2);
}

static int
on_qentry(void *ctx, const struct hf_store_qentry *e)
{
	struct qctx *q = ctx;
	int rc;

	for (uint16_t i = 0; i < e->n_subids; i++)
		q->n_subids += e->subids[i] == 0;
	rc = hf_store_msg_get(q->st, e->msg_id, on_msg, NULL);
	if (q->clean)
		CHECKF(rc == 0);
	return 0;
}

/* Every read function; when the checker found nothing, none may fail. */
static void
read_all(struct hf_store *st, bool clean, struct ids *sids,
         struct ids *retained)
{
	struct hf_store_stats stats;
	uint64_t a, b, c;
	struct qctx q = {st, clean, 0};
	int rc;

	rc = hf_store_sessions_each(st, on_session, sids);
	CHECKF(!clean || rc == 0);
	rc = hf_store_subs_each(st, on_sub, NULL);
	CHECKF(!clean || rc == 0);
	rc = hf_store_qos2_each(st, on_qos2, NULL);
	CHECKF(!clean || rc == 0);
	rc = hf_store_retained_each(st, on_retained, retained);
	CHECKF(!clean || rc == 0);
	rc = hf_store_max_ids(st, &a, &b);
	CHECKF(!clean || rc == 0);
	rc = hf_store_stats(st, &stats);
	CHECKF(!clean || rc == 0);
	for (size_t i = 0; i < sids->n; i++) {
		rc = hf_store_queue_stat(st, sids->v[i], &a, &b, &c);
		CHECKF(!clean || rc == 0);
		rc =
		    hf_store_queue_each(st, sids->v[i], 0, 1000, on_qentry, &q);
		CHECKF(!clean || rc == 0);
	}
	/* Queue entries of sessions that are not stored are read too. */
	for (uint64_t sid = 0; sid < 4; sid++)
		(void)hf_store_queue_each(st, sid, 0, 1000, on_qentry, &q);
	CHECKF(!clean || q.n_subids == 0);
}

/* Consistent: releasing every reference through the API deletes every
 * body, with no soft error on the way. */
static void
release_all(const struct ids *sids, const struct ids *retained)
{
	struct hf_store_conf c = store_conf(false);
	struct hf_store_stats stats;
	struct hf_store *st;
	char err[512];

	CHECKF(hf_store_open(&st, &c, err, sizeof(err)) == 0);
	for (size_t i = 0; i < sids->n; i++)
		CHECKF(hf_store_session_del(st, sids->v[i]) == 0);
	for (size_t i = 0; i < retained->n; i++)
		CHECKF(hf_store_retain_del(st, retained->v[i]) == 0);
	CHECKF(hf_store_commit(st) == 0);
	CHECKF(hf_store_stats(st, &stats) == 0);
	CHECKF(stats.msgs == 0 && stats.sessions == 0 &&
	       stats.queue_entries == 0 && stats.subs == 0 && stats.qos2 == 0 &&
	       stats.retained == 0);
	CHECKF(hf_store_check(st, NULL, NULL, NULL) == 0);
	hf_store_close(st);
}

static void
fuzz_store(const uint8_t *data, size_t size)
{
	struct hf_store_conf c = store_conf(true);
	struct in in = {data, size};
	struct ids sids = {.n = 0}, retained = {.n = 0};
	struct hf_store *st;
	char err[512];
	size_t reported = 0;
	int rc;

	if (!setup() || !write_store(&in))
		return;
	if (hf_store_open(&st, &c, err, sizeof(err)))
		return; /* meta damaged by the input: refused at open */
	rc = hf_store_check(st, on_violation, &reported, NULL);
	if (getenv("HF_FUZZ_VERBOSE"))
		fprintf(stderr, "check: %d\n", rc);
	CHECKF(rc == HF_STORE_ENOMEM || (rc >= 0 && (size_t)rc == reported));
	read_all(st, rc == 0, &sids, &retained);
	hf_store_close(st);
	if (rc == 0)
		release_all(&sids, &retained);
}

/* ---- the store API driven by a correct model ---------------------------- */

#define M_SESS    8
#define M_MSGS    256
#define M_ENTRIES 256
#define M_TOPICS  8
#define M_FILTERS 8

static const char *const topics[M_TOPICS] = {
    "t/0", "t/1", "a/b", "a/b/c", "r/x", "r/y", "long/topic/name", "$x/y",
};
static const char *const filters[M_FILTERS] = {
    "t/#", "t/+", "+/0", "#", "$share/g/t/#", "a/b", "a/+/c", "r/x",
};

/* What a correct engine would know about the store it writes. */
struct model {
	struct hf_store *st;
	bool collide; /* 2-bit filter hashes (the test hook) */
	struct {
		bool live;
		uint64_t will;
		uint64_t next_seq;
		uint8_t subs;  /* bit per filter */
		uint16_t qos2; /* bit per packet id 1..16 */
	} s[M_SESS];
	struct {
		uint64_t id;
		uint32_t count, plen;
		uint8_t topic;
		bool retain, live;
	} m[M_MSGS];
	size_t nm;
	struct {
		uint8_t sess, qos, state;
		uint64_t seq;
		size_t msg; /* index into m */
		bool live;
	} q[M_ENTRIES];
	size_t nq;
	size_t retained[M_TOPICS]; /* index into m + 1, 0 = none */
};

static void
ok(struct model *md, int rc, const char *what)
{
	if (rc == 0)
		return;
	fprintf(stderr, "%s: %d: %s\n", what, rc, hf_store_errmsg(md->st));
	abort();
}

/* One reference less (the store deletes the body at 0). */
static void
unref(struct model *md, size_t i)
{
	if (--md->m[i].count == 0)
		md->m[i].live = false;
}

/* The index of the n-th live message (wrapping), or -1. */
static long
pick_msg(struct model *md, uint8_t n)
{
	size_t live = 0;

	for (size_t i = 0; i < md->nm; i++)
		live += md->m[i].live;
	if (!live)
		return -1;
	n = (uint8_t)(n % live);
	for (size_t i = 0; i < md->nm; i++)
		if (md->m[i].live && n-- == 0)
			return (long)i;
	return -1;
}

static long
find_msg_index(struct model *md, uint64_t id)
{
	for (size_t i = 0; i < md->nm; i++)
		if (md->m[i].id == id)
			return (long)i;
	return -1;
}

static void
m_session_put(struct model *md, uint8_t sid0, uint8_t will_pick)
{
	unsigned k = sid0 % M_SESS;
	char cid[8];
	long w = will_pick & 1 ? pick_msg(md, will_pick >> 1) : -1;
	uint64_t old = md->s[k].live ? md->s[k].will : 0;
	struct hf_store_session r = {
	    .sid = k + 1,
	    .proto = (uint8_t)(3 + k % 3),
	    .expiry = 3600,
	    .will_msg = w >= 0 ? md->m[w].id : 0,
	    .will_delay = 5,
	};

	snprintf(cid, sizeof(cid), "c%u", k);
	r.client_id = (const uint8_t *)cid;
	r.client_id_len = (uint16_t)strlen(cid);
	if (w >= 0) {
		ok(md, hf_store_msg_ref(md->st, r.will_msg, 1), "will ref");
		md->m[w].count++;
	}
	ok(md, hf_store_session_put(md->st, &r), "session put");
	if (!md->s[k].live)
		md->s[k].next_seq = 1;
	md->s[k].live = true;
	md->s[k].will = r.will_msg;
	if (old) {
		long o = find_msg_index(md, old);

		ok(md, hf_store_msg_ref(md->st, old, -1), "will unref");
		unref(md, (size_t)o);
	}
}

static void
m_session_del(struct model *md, uint8_t sid0)
{
	unsigned k = sid0 % M_SESS;

	if (!md->s[k].live)
		return;
	ok(md, hf_store_session_del(md->st, k + 1), "session del");
	for (size_t i = 0; i < md->nq; i++)
		if (md->q[i].live && md->q[i].sess == k) {
			md->q[i].live = false;
			unref(md, md->q[i].msg);
		}
	if (md->s[k].will)
		unref(md, (size_t)find_msg_index(md, md->s[k].will));
	memset(&md->s[k], 0, sizeof(md->s[k]));
}

/* Queue message i for session k (the reference taken first). */
static void
m_queue(struct model *md, unsigned k, size_t i, uint8_t qos, bool take_ref)
{
	struct hf_store_qentry e = {
	    .sid = k + 1,
	    .seq = md->s[k].next_seq,
	    .msg_id = md->m[i].id,
	    .payload_len = md->m[i].plen,
	    .qos = (uint8_t)(qos % 3),
	};

	if (md->nq == M_ENTRIES || md->s[k].next_seq >= 65535)
		return;
	if (take_ref) {
		ok(md, hf_store_msg_ref(md->st, e.msg_id, 1), "queue ref");
		md->m[i].count++;
	}
	ok(md, hf_store_queue_put(md->st, &e), "queue put");
	md->q[md->nq].sess = (uint8_t)k;
	md->q[md->nq].seq = e.seq;
	md->q[md->nq].qos = e.qos;
	md->q[md->nq].state = 0;
	md->q[md->nq].msg = i;
	md->q[md->nq].live = true;
	md->nq++;
	md->s[k].next_seq++;
}

static uint8_t payload[4096];

/* A new message, queued for session k with its first reference. */
static void
m_publish(struct model *md, uint8_t sid0, uint8_t topic, uint8_t plen,
          uint8_t qos)
{
	unsigned k = sid0 % M_SESS;
	struct hf_store_msg r = {
	    .qos = (uint8_t)(qos % 3),
	    .retain = topic & 0x80,
	    .topic = (const uint8_t *)topics[topic % M_TOPICS],
	    .topic_len = (uint16_t)strlen(topics[topic % M_TOPICS]),
	    .payload = payload,
	    .payload_len = (uint32_t)plen * 16,
	    .props = payload,
	    .props_len = 16,
	};

	if (!md->s[k].live || md->nm == M_MSGS || md->nq == M_ENTRIES)
		return;
	r.id = md->nm + 1;
	ok(md, hf_store_msg_put(md->st, &r, 1), "msg put");
	md->m[md->nm].id = r.id;
	md->m[md->nm].count = 1;
	md->m[md->nm].plen = r.payload_len;
	md->m[md->nm].topic = (uint8_t)(topic % M_TOPICS);
	md->m[md->nm].retain = r.retain;
	md->m[md->nm].live = true;
	md->nm++;
	m_queue(md, k, md->nm - 1, qos, false);
}

static long
pick_entry(struct model *md, uint8_t n)
{
	size_t live = 0;

	for (size_t i = 0; i < md->nq; i++)
		live += md->q[i].live;
	if (!live)
		return -1;
	n = (uint8_t)(n % live);
	for (size_t i = 0; i < md->nq; i++)
		if (md->q[i].live && n-- == 0)
			return (long)i;
	return -1;
}

/* Send (state 0 -> 1), PUBREC (1 -> 2, QoS 2), or acknowledge (delete). */
static void
m_advance(struct model *md, uint8_t pick)
{
	long j = pick_entry(md, pick);
	struct hf_store_qentry e;

	if (j < 0)
		return;
	if (md->q[j].qos == 0 || md->q[j].state == 2 ||
	    (md->q[j].state == 1 && md->q[j].qos == 1)) {
		ok(md,
		   hf_store_queue_del(md->st, md->q[j].sess + 1u, md->q[j].seq),
		   "queue del");
		md->q[j].live = false;
		unref(md, md->q[j].msg);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.sid = md->q[j].sess + 1u;
	e.seq = md->q[j].seq;
	e.msg_id = md->m[md->q[j].msg].id;
	e.payload_len = md->m[md->q[j].msg].plen;
	e.qos = md->q[j].qos;
	e.state = (uint8_t)(md->q[j].state + 1);
	e.pid = (uint16_t)md->q[j].seq; /* unique: seq < 65535 */
	ok(md, hf_store_queue_put(md->st, &e), "queue state");
	md->q[j].state = e.state;
}

static void
m_retain(struct model *md, uint8_t pick, bool del)
{
	long i = pick_msg(md, pick);
	size_t t;

	if (i < 0)
		return;
	t = md->m[i].topic;
	if (md->retained[t]) {
		size_t o = md->retained[t] - 1;

		ok(md, hf_store_retain_del(md->st, md->m[o].id),
		   "retained del");
		md->retained[t] = 0;
		unref(md, o);
	}
	if (del || !md->m[i].retain || !md->m[i].live)
		return;
	ok(md, hf_store_msg_ref(md->st, md->m[i].id, 1), "retained ref");
	md->m[i].count++;
	ok(md, hf_store_retain_put(md->st, md->m[i].id), "retained put");
	md->retained[t] = (size_t)i + 1;
}

static void
m_sub(struct model *md, uint8_t sid0, uint8_t f)
{
	unsigned k = sid0 % M_SESS, b = f % M_FILTERS;
	const char *flt = filters[b];

	if (!md->s[k].live)
		return;
	if (f & 0x80) {
		ok(md,
		   hf_store_sub_del(md->st, k + 1, (const uint8_t *)flt,
		                    (uint16_t)strlen(flt)),
		   "sub del");
		md->s[k].subs &= (uint8_t) ~(1u << b);
	} else {
		struct hf_store_sub r = {
		    .sid = k + 1,
		    .filter = (const uint8_t *)flt,
		    .filter_len = (uint16_t)strlen(flt),
		    .opts = (uint8_t)(f >> 4 & 2),
		    .sub_id = f & 0x40 ? 7 : 0,
		};

		ok(md, hf_store_sub_put(md->st, &r), "sub put");
		md->s[k].subs |= (uint8_t)(1u << b);
	}
}

static void
m_qos2(struct model *md, uint8_t sid0, uint8_t p)
{
	unsigned k = sid0 % M_SESS;
	uint16_t pid = (uint16_t)(p % 16 + 1);

	if (!md->s[k].live)
		return;
	if (p & 0x80) {
		ok(md, hf_store_qos2_del(md->st, k + 1, pid), "qos2 del");
		md->s[k].qos2 &= (uint16_t) ~(1u << (pid - 1));
	} else {
		ok(md, hf_store_qos2_put(md->st, k + 1, pid), "qos2 put");
		md->s[k].qos2 |= (uint16_t)(1u << (pid - 1));
	}
}

static void
violation_print(void *ctx, const char *violation)
{
	fprintf(stderr, "  %s\n", violation);
}

/* The model is consistent: so must the store be, record for record. */
static void
model_check(struct model *md)
{
	struct hf_store_check_counts n;
	uint64_t sessions = 0, msgs = 0, entries = 0, ret = 0, subs = 0,
	         qos2 = 0;
	int rc = hf_store_check(md->st, NULL, NULL, &n);

	for (size_t k = 0; k < M_SESS; k++) {
		sessions += md->s[k].live;
		subs += (uint64_t)__builtin_popcount(md->s[k].subs);
		qos2 += (uint64_t)__builtin_popcount(md->s[k].qos2);
	}
	for (size_t i = 0; i < md->nm; i++)
		msgs += md->m[i].live;
	for (size_t i = 0; i < md->nq; i++)
		entries += md->q[i].live;
	for (size_t t = 0; t < M_TOPICS; t++)
		ret += md->retained[t] != 0;
	if (getenv("HF_FUZZ_VERBOSE"))
		fprintf(stderr,
		        "model check %d: %llu sessions, %llu msgs, %llu "
		        "entries, %llu retained, %llu subs, %llu qos2\n",
		        rc, (unsigned long long)sessions,
		        (unsigned long long)msgs, (unsigned long long)entries,
		        (unsigned long long)ret, (unsigned long long)subs,
		        (unsigned long long)qos2);
	if (rc == 0 && n.sessions == sessions && n.msgs == msgs &&
	    n.queue_entries == entries && n.retained == ret && n.subs == subs &&
	    n.qos2 == qos2)
		return;
	fprintf(stderr,
	        "check %d; store/model: sessions %llu/%llu msgs %llu/%llu "
	        "queue %llu/%llu retained %llu/%llu subs %llu/%llu qos2 "
	        "%llu/%llu\n",
	        rc, (unsigned long long)n.sessions,
	        (unsigned long long)sessions, (unsigned long long)n.msgs,
	        (unsigned long long)msgs, (unsigned long long)n.queue_entries,
	        (unsigned long long)entries, (unsigned long long)n.retained,
	        (unsigned long long)ret, (unsigned long long)n.subs,
	        (unsigned long long)subs, (unsigned long long)n.qos2,
	        (unsigned long long)qos2);
	(void)hf_store_check(md->st, violation_print, NULL, NULL);
	abort();
}

static bool
model_open(struct model *md)
{
	struct hf_store_conf c = store_conf(false);
	char err[512];

	c.initial_map_size = 64 * 1024; /* small: growth and replay */
	if (hf_store_open(&md->st, &c, err, sizeof(err))) {
		fprintf(stderr, "fuzz_record: %s\n", err);
		return false;
	}
	if (md->collide)
		hf_store_test_hash_bits(md->st, 2);
	return true;
}

/* Input: a flags byte (bit 0: 2-bit filter hashes), then operations of
 * three bytes each (a publication four): the operation (low 4 bits, mod
 * 12; the high 4 bits a QoS), then the arguments. */
static void
fuzz_api(const uint8_t *data, size_t size)
{
	struct model *md;
	struct in in;
	char lock[128];

	if (size < 1 || !setup())
		return;
	md = calloc(1, sizeof(*md));
	if (!md)
		return;
	md->collide = data[0] & 1;
	in = (struct in){data + 1, size - 1};
	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(path); /* a new store for every input */
	unlink(lock);
	if (!model_open(md)) {
		free(md);
		abort();
	}
	while (in.n) {
		uint8_t op = byte(&in), a = byte(&in), b = byte(&in);

		switch ((op & 15) % 12) {
		case 0:
			m_session_put(md, a, b);
			break;
		case 1:
			m_session_del(md, a);
			break;
		case 2:
			m_publish(md, a, b, byte(&in), op >> 4);
			break;
		case 3: {
			long i = pick_msg(md, b);

			if (i >= 0 && md->s[a % M_SESS].live)
				m_queue(md, a % M_SESS, (size_t)i, op >> 4,
				        true);
			break;
		}
		case 4:
			m_advance(md, a);
			break;
		case 5:
		case 6:
			m_retain(md, a, (op & 15) % 12 == 6);
			break;
		case 7:
			m_sub(md, a, b);
			break;
		case 8:
			m_qos2(md, a, b);
			break;
		case 9:
			ok(md, hf_store_commit(md->st), "commit");
			model_check(md);
			break;
		case 10:
			ok(md, hf_store_commit(md->st), "commit");
			hf_store_close(md->st);
			md->st = NULL;
			if (!model_open(md))
				abort();
			model_check(md);
			break;
		default: {
			/* The engine's bug: a reference change without a
			 * record. The checker must see it at once, in the
			 * open transaction; the model is then wrong, so the
			 * run ends. */
			long i = pick_msg(md, a);

			if (i < 0)
				break;
			ok(md,
			   hf_store_msg_ref(md->st, md->m[i].id,
			                    b & 1 ? 1 : -1),
			   "bad ref");
			if (hf_store_check(md->st, NULL, NULL, NULL) <= 0)
				abort();
			hf_store_close(md->st);
			free(md);
			return;
		}
		}
	}
	model_check(md); /* the open transaction */
	ok(md, hf_store_commit(md->st), "commit");
	model_check(md);
	/* Releasing every reference leaves no body. */
	for (unsigned k = 0; k < M_SESS; k++)
		m_session_del(md, (uint8_t)k);
	for (size_t t = 0; t < M_TOPICS; t++)
		if (md->retained[t]) {
			size_t o = md->retained[t] - 1;

			ok(md, hf_store_retain_del(md->st, md->m[o].id),
			   "retained del");
			md->retained[t] = 0;
			unref(md, o);
		}
	ok(md, hf_store_commit(md->st), "commit");
	model_check(md);
	for (size_t i = 0; i < md->nm; i++)
		if (md->m[i].live)
			abort(); /* the model leaked a reference */
	hf_store_close(md->st);
	free(md);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] >= 0x80) {
		fuzz_store(data + 1, size - 1);
		return 0;
	}
	if (data[0] >= 0x40) {
		fuzz_api(data + 1, size - 1);
		return 0;
	}
	data++;
	size--;
	rt_session(data, size);
	rt_sub(data, size);
	rt_msg(data, size);
	rt_qentry(data, size);
	return 0;
}
