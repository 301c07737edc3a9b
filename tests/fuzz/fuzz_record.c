// tests/fuzz/fuzz_record.c - libFuzzer target for the store's records.
//
// Built as a libFuzzer binary with -DHF_FUZZ=ON (clang); tools/fuzz.sh runs
// it over tests/fuzz/corpus/record. Every CTest run replays that corpus
// (tests/fuzz/replay.c, test fuzz_record_replay).
/*
 * Disk bytes are untrusted. The first input byte picks the mode:
 *
 * below 0x80, decoders: the rest is given to every records.c decoder
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

	if (hf_rec_session_dec(p, n, 42, &a))
		return;
	CHECKF((e = hf_rec_session_enc(&a, &len)) != NULL);
	CHECKF(len == n && memcmp(e, p, n) == 0);
	CHECKF(hf_rec_session_dec(e, len, 42, &b) == 0);
	CHECKF(b.sid == 42 && b.proto == a.proto && b.expiry == a.expiry &&
	       b.disconnected_at == a.disconnected_at &&
	       b.will_msg == a.will_msg && b.will_delay == a.will_delay &&
	       b.will_at == a.will_at && b.client_id_len == a.client_id_len &&
	       memcmp(b.client_id, a.client_id, a.client_id_len) == 0);
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

	if (hf_rec_qentry_dec(p, n, 5, 6, &a, &raw))
		return;
	CHECKF(a.qos <= 2 && a.state <= 2 && a.subids == NULL);
	CHECKF((ids = malloc(a.n_subids * sizeof(*ids) + 1)) != NULL);
	hf_rec_subids(raw, a.n_subids, ids);
	a.subids = ids;
	CHECKF((e = hf_rec_qentry_enc(&a, &len)) != NULL);
	CHECKF(len == n && memcmp(e, p, n) == 0);
	CHECKF(hf_rec_qentry_dec(e, len, 5, 6, &b, &raw2) == 0);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] >= 0x80) {
		fuzz_store(data + 1, size - 1);
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
