/* persistence/store_lmdb.c - the durable store (include/holdfast/store.h)
 * on LMDB.
 *
 * One LMDB environment in one file (MDB_NOSUBDIR: "<file>" plus
 * "<file>-lock") with eight named databases: meta, sessions, subs, msgs,
 * mrefs, queue, qos2, retained. Keys are big-endian integers so cursor order
 * is numeric order; values are the encodings of records.c. The layout is
 * documented byte by byte in persistence/README.md.
 *
 * Transactions: the first write after a commit begins a write transaction.
 * Every write is applied to it at once and also appended, with a copy of its
 * (already encoded) data, to a replay log. When LMDB reports MDB_MAP_FULL,
 * from a put or from the commit, the transaction is aborted, the map is
 * doubled (capped at max_map_size) while no transaction is open, a new
 * transaction begins and the log is replayed; the replay is deterministic
 * because it starts from the same committed state. At the maximum the store
 * returns HF_STORE_EFULL and drops the transaction and the log. Any other
 * LMDB failure during a write also drops them (HF_STORE_EIO). Writes report
 * "soft" errors (HF_STORE_ECORRUPT for a reference on a missing message,
 * HF_STORE_EIO for an exhausted subscription probe chain) without dropping
 * anything: their effects, if any, stay in the transaction and replay
 * identically. Reads use the open write transaction when there is one (so
 * they see pending writes), else a cached read-only transaction that is
 * reset between reads and renewed for the next.
 *
 * Writer thread (hf_store_start_writer, the broker): writes are only
 * logged; hf_store_submit() moves the log to `fly` and wakes the thread,
 * which begins a transaction, applies the batch (with the same replay on
 * MDB_MAP_FULL), commits, records the result and calls notify. The loop
 * and the thread share only the hand-over fields under `mu` (w_busy, fly,
 * w_rc, w_soft, w_ns, w_errmsg, gen_*); everything else, LMDB included, is
 * touched by the thread only while w_busy and by the loop only when it is
 * clear (quiesce()), so the two never use LMDB at once. Reads quiesce and
 * commit what is logged first (rd_begin2), so they see every write made
 * before them.
 *
 * Threading/ownership: one thread (plus, optionally, the writer thread)
 * uses a store. Records handed to write functions are copied; records
 * handed to read callbacks point into the map and live until the callback
 * returns. Writing from inside a read callback is refused (HF_STORE_EIO): a
 * map resize would pull the pages from under the running cursor. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "store_int.h"

enum {
	DB_META = HF_DB_META,
	DB_SESSIONS = HF_DB_SESSIONS,
	DB_SUBS = HF_DB_SUBS,
	DB_MSGS = HF_DB_MSGS,
	DB_MREFS = HF_DB_MREFS,
	DB_QUEUE = HF_DB_QUEUE,
	DB_QOS2 = HF_DB_QOS2,
	DB_RETAINED = HF_DB_RETAINED,
	DB_COUNT = HF_DB_COUNT
};

static const char *const db_names[DB_COUNT] = {
    "meta", "sessions", "subs", "msgs", "mrefs", "queue", "qos2", "retained",
};

#define SUB_PROBES HF_SUB_PROBES

#define DEFAULT_INITIAL_MAP (1024u * 1024u)

enum op_kind {
	OP_SESSION_PUT,
	OP_SESSION_DEL,
	OP_SUB_PUT,
	OP_SUB_DEL,
	OP_MSG_PUT,
	OP_MSG_REF,
	OP_QUEUE_PUT,
	OP_QUEUE_DEL,
	OP_QOS2_PUT,
	OP_QOS2_DEL,
	OP_RETAIN_PUT,
	OP_RETAIN_DEL,
};

/* One logged write: enough to apply it again. data is owned by the log. */
struct op {
	enum op_kind kind;
	uint64_t a, b; /* sid or msg id; seq or pid */
	int64_t c;     /* refs or delta */
	uint8_t *data; /* encoded value, or the filter for OP_SUB_DEL */
	size_t len;
};

/* A transaction's writes, in order. */
struct oplog {
	struct op *v;
	size_t n, cap;
};

struct hf_store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	MDB_txn *wtxn;    /* open write transaction, or NULL */
	MDB_txn *rtxn;    /* cached read-only transaction */
	unsigned rdepth;  /* nesting of reads using rtxn */
	unsigned in_read; /* nesting of any read (writes refused) */
	/* The writes since the last commit (or since the last batch handed
	 * to the writer thread). */
	struct oplog cur;
	/* The writer thread (hf_store_start_writer): while w_busy it owns
	 * fly, the write transaction and every field below marked (W); the
	 * loop touches them only after waiting for w_busy to clear, under
	 * mu. */
	bool async;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	bool w_busy, w_quit;
	struct oplog fly;    /* (W) the batch being committed */
	int w_rc;            /* (W) its result */
	unsigned w_soft;     /* (W) soft failures met applying it */
	uint64_t w_ns;       /* (W) apply + commit time */
	uint64_t gen_sent;   /* batches handed over */
	uint64_t gen_reaped; /* batches whose result the loop has taken */
	void (*notify)(void *arg);
	void *notify_arg;
	char w_errmsg[512]; /* (W) errors met by the writer thread */
	/* Results taken from the writer and not yet from hf_store_reap(). */
	uint64_t r_batches, r_ns;
	unsigned r_soft;
	int r_rc;
	char *path;
	size_t psize; /* LMDB page size */
	size_t os_page;
	uint64_t max_map;
	uint64_t hash_mask;
	unsigned version; /* format of the records (see open_dbs) */
	bool read_only;
	bool rd_committed; /* reads skip the logged writes (see store.h) */
	int owner_fd;      /* the "<path>.owner" lock (writable opens), or -1 */
	uint64_t commits, grows;
	/* Disk space reserved for the file ahead of use (see reserve()). */
	int fd;             /* LMDB's data file descriptor */
	uint64_t alloc_end; /* bytes of the file known to be allocated */
	bool disk_full;     /* the last reservation failed: no space */
	bool no_reserve;    /* the file system cannot reserve space */
	time_t reserve_at;  /* when to try again while disk_full */
	char errmsg[512];
};

/* ---- errors -------------------------------------------------------------- */

/* The writer thread keeps its own message (copied into errmsg when the
 * loop takes its result), so the two threads never write one buffer. */
static char *
errbuf(struct hf_store *st)
{
	return st->async && pthread_equal(pthread_self(), st->thr)
	           ? st->w_errmsg
	           : st->errmsg;
}

__attribute__((format(printf, 2, 3))) static void
seterr(struct hf_store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf(st), sizeof(st->errmsg), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void
fmterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
damaged(char *err, size_t errlen, const char *path, const char *why)
{
	fmterr(err, errlen,
	       "store %s is damaged (%s); start with --move-damaged-store to "
	       "move it aside and start empty, or restore a backup",
	       path, why);
}

static bool
is_soft(int rc)
{
	return rc <= HF_STORE_EIO && rc >= HF_STORE_ENOTFOUND;
}

/* A damaged record met by a read. */
static int
bad_record(struct hf_store *st, int db, const MDB_val *k)
{
	char hex[40];
	size_t n = k->mv_size < 16 ? k->mv_size : 16;

	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x",
		         ((const uint8_t *)k->mv_data)[i]);
	hex[2 * n] = '\0';
	seterr(st,
	       "store %s is damaged (bad %s record, key %s); start with "
	       "--move-damaged-store to move it aside and start empty, or "
	       "restore a backup",
	       st->path, db_names[db], hex);
	return HF_STORE_ECORRUPT;
}

/* Out of disk space: the same answer as a full map (the caller refuses
 * new messages until space returns), never an I/O error that stops the
 * broker. */
static bool
no_space(int rc)
{
	return rc == ENOSPC || rc == EDQUOT;
}

/* The disk is full: what the file holds is the maximum until space comes
 * back (reserve() looks again in a second). That is the space reserved;
 * where nothing can be reserved, the pages in use (a failed commit may
 * have left the file longer, with pages no commit owns). */
static void
mark_disk_full(struct hf_store *st)
{
	struct stat sb;
	MDB_envinfo info;

	if (st->no_reserve) {
		mdb_env_info(st->env, &info);
		st->alloc_end = (uint64_t)(info.me_last_pgno + 1) * st->psize;
	} else if (st->fd >= 0 && fstat(st->fd, &sb) == 0 &&
	           (uint64_t)sb.st_size > st->alloc_end) {
		st->alloc_end = (uint64_t)sb.st_size;
	}
	st->disk_full = true;
	st->reserve_at = time(NULL) + 1;
}

static int
lmdb_fail(struct hf_store *st, const char *what, int rc)
{
	seterr(st, "store %s: %s: %s", st->path, what, mdb_strerror(rc));
	if (no_space(rc)) {
		mark_disk_full(st);
		return HF_STORE_EFULL;
	}
	return rc == ENOMEM ? HF_STORE_ENOMEM : HF_STORE_EIO;
}

const char *
hf_store_errmsg(const struct hf_store *st)
{
	return st->errmsg;
}

void
hf_store_test_hash_bits(struct hf_store *st, unsigned bits)
{
	st->hash_mask = bits >= 64 ? UINT64_MAX : (1ull << bits) - 1;
}

/* ---- the replay log --------------------------------------------------------
 */

static void
log_clear(struct oplog *L)
{
	for (size_t i = 0; i < L->n; i++)
		free(L->v[i].data);
	L->n = 0;
	if (L->cap > 1024) { /* do not keep a huge turn's array */
		free(L->v);
		L->v = NULL;
		L->cap = 0;
	}
}

static int
log_push(struct oplog *L, const struct op *op)
{
	if (L->n == L->cap) {
		size_t cap = L->cap ? L->cap * 2 : 64;
		struct op *n = realloc(L->v, cap * sizeof(*n));

		if (!n)
			return -1;
		L->v = n;
		L->cap = cap;
	}
	L->v[L->n++] = *op;
	return 0;
}

/* ---- map size --------------------------------------------------------------
 */

static uint64_t
map_size(struct hf_store *st)
{
	MDB_envinfo info;

	mdb_env_info(st->env, &info);
	return info.me_mapsize;
}

/* Double the map (capped at max_map). No transaction may be open. */
static int
grow(struct hf_store *st)
{
	uint64_t cur = map_size(st), next;
	int rc;

	if (cur >= st->max_map)
		return HF_STORE_EFULL;
	next = cur > st->max_map / 2 ? st->max_map : cur * 2;
	rc = mdb_env_set_mapsize(st->env, (size_t)next);
	if (rc)
		return lmdb_fail(st, "cannot grow the map", rc);
	st->grows++;
	return 0;
}

/* ---- write transactions ----------------------------------------------------
 */

static int
wtxn_begin(struct hf_store *st)
{
	MDB_envinfo info;
	int rc;

	/* Grow ahead of need: above ~80% of the map a turn may well fill it,
	 * and growing now is cheaper than a replay. */
	mdb_env_info(st->env, &info);
	if ((uint64_t)(info.me_last_pgno + 1) * st->psize >
	        info.me_mapsize / 10 * 8 &&
	    info.me_mapsize < st->max_map)
		(void)grow(st); /* a failure shows up as MDB_MAP_FULL later */
	rc = mdb_txn_begin(st->env, NULL, 0, &st->wtxn);
	if (rc == MDB_MAP_RESIZED) { /* another process grew it */
		mdb_env_set_mapsize(st->env, 0);
		rc = mdb_txn_begin(st->env, NULL, 0, &st->wtxn);
	}
	if (rc) {
		st->wtxn = NULL;
		return lmdb_fail(st, "cannot begin a write transaction", rc);
	}
	return 0;
}

static int
put(struct hf_store *st, int db, const void *k, size_t kl, const void *v,
    size_t vl)
{
	MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};

	return mdb_put(st->wtxn, st->dbi[db], &key, &val, 0);
}

static int
del(struct hf_store *st, int db, const void *k, size_t kl)
{
	MDB_val key = {kl, (void *)k};
	int rc = mdb_del(st->wtxn, st->dbi[db], &key, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
get(MDB_txn *txn, struct hf_store *st, int db, const void *k, size_t kl,
    MDB_val *v)
{
	MDB_val key = {kl, (void *)k};

	return mdb_get(txn, st->dbi[db], &key, v);
}

/* Add delta to a message's reference count; delete the body at 0. */
static int
ref_add(struct hf_store *st, uint64_t id, int64_t delta)
{
	uint8_t k[8], v4[4];
	MDB_val v;
	int64_t n;
	int rc;

	hf_be64(k, id);
	rc = get(st->wtxn, st, DB_MREFS, k, 8, &v);
	if (rc == MDB_NOTFOUND) {
		seterr(st,
		       "store %s: reference change on message %" PRIu64
		       " which is not stored",
		       st->path, id);
		return HF_STORE_ECORRUPT;
	}
	if (rc)
		return rc;
	if (v.mv_size != 4) {
		seterr(st, "store %s: bad reference count of message %" PRIu64,
		       st->path, id);
		return HF_STORE_ECORRUPT;
	}
	n = (int64_t)hf_rd32(v.mv_data) + delta;
	if (n > (int64_t)UINT32_MAX) {
		seterr(st,
		       "store %s: reference count of message %" PRIu64
		       " overflows",
		       st->path, id);
		return HF_STORE_ECORRUPT;
	}
	if (n > 0) {
		hf_be32(v4, (uint32_t)n);
		return put(st, DB_MREFS, k, 8, v4, 4);
	}
	if ((rc = del(st, DB_MSGS, k, 8)) || (rc = del(st, DB_MREFS, k, 8)))
		return rc;
	if (n < 0) {
		seterr(st,
		       "store %s: reference count of message %" PRIu64
		       " went below zero",
		       st->path, id);
		return HF_STORE_ECORRUPT;
	}
	return 0;
}

/* Delete every key of db that starts with the 8-byte sid; for the queue
 * also release each entry's message reference. */
static int
del_prefix(struct hf_store *st, int db, uint64_t sid, int *soft)
{
	MDB_cursor *c;
	uint8_t pre[8];
	int rc;

	hf_be64(pre, sid);
	rc = mdb_cursor_open(st->wtxn, st->dbi[db], &c);
	if (rc)
		return rc;
	for (;;) {
		MDB_val k = {8, pre}, v;
		uint64_t mid = 0;
		bool release = false;

		/* Re-seek each time: no reliance on cursor state after a
		 * delete, and each seek is O(log n). */
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc || k.mv_size < 8 || memcmp(k.mv_data, pre, 8))
			break;
		if (db == DB_QUEUE) {
			if (v.mv_size >= HF_REC_QENTRY_HDR) {
				mid = hf_rd64(v.mv_data);
				release = true;
			} else {
				*soft = HF_STORE_ECORRUPT;
			}
		}
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		if (release) {
			rc = ref_add(st, mid, -1);
			if (is_soft(rc))
				*soft = rc;
			else if (rc)
				break;
			rc = 0;
		}
	}
	mdb_cursor_close(c);
	return rc;
}

static void
sub_key(uint8_t k[16], uint64_t sid, uint64_t h)
{
	hf_be64(k, sid);
	hf_be64(k + 8, h);
}

/* Find the slot holding filter (*found) and the first free slot (*free_at)
 * among SUB_PROBES consecutive hashes; -1 when none. All slots are looked
 * at because deletes leave holes in a chain. */
static int
sub_probe(struct hf_store *st, MDB_txn *txn, uint64_t sid,
          const uint8_t *filter, uint16_t flen, int *found, int *free_at)
{
	uint64_t h = hf_rec_hash(filter, flen) & st->hash_mask;

	*found = *free_at = -1;
	for (int i = 0; i < SUB_PROBES; i++) {
		uint8_t k[16];
		struct hf_store_sub s;
		MDB_val v;
		int rc;

		sub_key(k, sid, h + (uint64_t)i);
		rc = get(txn, st, DB_SUBS, k, 16, &v);
		if (rc == MDB_NOTFOUND) {
			if (*free_at < 0)
				*free_at = i;
			continue;
		}
		if (rc)
			return rc;
		if (hf_rec_sub_dec(v.mv_data, v.mv_size, sid, &s) == 0 &&
		    s.filter_len == flen &&
		    (flen == 0 || memcmp(s.filter, filter, flen) == 0)) {
			*found = i;
			return 0;
		}
	}
	return 0;
}

/* ---- applying one write ----------------------------------------------------
 */

static int
apply_session_del(struct hf_store *st, uint64_t sid)
{
	struct hf_store_session s;
	uint8_t k[8];
	MDB_val v;
	int soft = 0, rc;

	hf_be64(k, sid);
	rc = get(st->wtxn, st, DB_SESSIONS, k, 8, &v);
	if (rc == 0) {
		if (hf_rec_session_dec(v.mv_data, v.mv_size, sid, st->version,
		                       &s))
			soft = HF_STORE_ECORRUPT;
		else if (s.will_msg) {
			rc = ref_add(st, s.will_msg, -1);
			if (is_soft(rc))
				soft = rc;
			else if (rc)
				return rc;
		}
	} else if (rc != MDB_NOTFOUND) {
		return rc;
	}
	if ((rc = del_prefix(st, DB_QUEUE, sid, &soft)) ||
	    (rc = del_prefix(st, DB_SUBS, sid, &soft)) ||
	    (rc = del_prefix(st, DB_QOS2, sid, &soft)) ||
	    (rc = del(st, DB_SESSIONS, k, 8)))
		return rc;
	return soft;
}

static int
apply_sub(struct hf_store *st, const struct op *op)
{
	const uint8_t *filter = op->data;
	uint16_t flen = (uint16_t)op->len;
	int found, free_at, rc;
	uint8_t k[16];

	if (op->kind == OP_SUB_PUT) {
		filter = op->data + HF_REC_SUB_HDR;
		flen = hf_rd16(op->data + 5);
	}
	rc = sub_probe(st, st->wtxn, op->a, filter, flen, &found, &free_at);
	if (rc)
		return rc;
	if (op->kind == OP_SUB_DEL) {
		if (found < 0)
			return 0;
		sub_key(k, op->a,
		        (hf_rec_hash(filter, flen) & st->hash_mask) +
		            (uint64_t)found);
		return del(st, DB_SUBS, k, 16);
	}
	if (found < 0)
		found = free_at;
	if (found < 0) {
		seterr(st,
		       "store %s: %d subscriptions of session %" PRIu64
		       " share a filter hash; not stored",
		       st->path, SUB_PROBES, op->a);
		return HF_STORE_EIO;
	}
	sub_key(k, op->a,
	        (hf_rec_hash(filter, flen) & st->hash_mask) + (uint64_t)found);
	return put(st, DB_SUBS, k, 16, op->data, op->len);
}

static int
apply(struct hf_store *st, const struct op *op)
{
	uint8_t k[16], v4[4];
	MDB_val v;
	int rc;

	switch (op->kind) {
	case OP_SESSION_PUT:
		hf_be64(k, op->a);
		return put(st, DB_SESSIONS, k, 8, op->data, op->len);
	case OP_SESSION_DEL:
		return apply_session_del(st, op->a);
	case OP_SUB_PUT:
	case OP_SUB_DEL:
		return apply_sub(st, op);
	case OP_MSG_PUT:
		hf_be64(k, op->a);
		hf_be32(v4, (uint32_t)op->c);
		if ((rc = put(st, DB_MSGS, k, 8, op->data, op->len)))
			return rc;
		return put(st, DB_MREFS, k, 8, v4, 4);
	case OP_MSG_REF:
		if (op->c == 0) { /* only check that it exists */
			hf_be64(k, op->a);
			rc = get(st->wtxn, st, DB_MREFS, k, 8, &v);
			if (rc != MDB_NOTFOUND)
				return rc;
		}
		return ref_add(st, op->a, op->c);
	case OP_QUEUE_PUT:
		hf_be64(k, op->a);
		hf_be64(k + 8, op->b);
		/* An entry is queued once: rewriting it (state changes, the
		 * engine's reload) keeps the time of the first write, so the
		 * last 8 bytes are taken from the stored value. Done here, in
		 * the transaction, so a replay after growing the map sees the
		 * same thing. */
		rc = get(st->wtxn, st, DB_QUEUE, k, 16, &v);
		if (rc == 0 && v.mv_size >= HF_REC_QENTRY_HDR + 8u &&
		    op->len >= HF_REC_QENTRY_HDR + 8u)
			memcpy(op->data + op->len - 8,
			       (const uint8_t *)v.mv_data + v.mv_size - 8, 8);
		else if (rc && rc != MDB_NOTFOUND)
			return rc;
		return put(st, DB_QUEUE, k, 16, op->data, op->len);
	case OP_QUEUE_DEL:
		hf_be64(k, op->a);
		hf_be64(k + 8, op->b);
		rc = get(st->wtxn, st, DB_QUEUE, k, 16, &v);
		if (rc == MDB_NOTFOUND)
			return 0;
		if (rc)
			return rc;
		if (v.mv_size < HF_REC_QENTRY_HDR) {
			rc = del(st, DB_QUEUE, k, 16);
			return rc ? rc
			          : bad_record(st, DB_QUEUE, &(MDB_val){16, k});
		} else {
			uint64_t mid = hf_rd64(v.mv_data);

			if ((rc = del(st, DB_QUEUE, k, 16)))
				return rc;
			return ref_add(st, mid, -1);
		}
	case OP_QOS2_PUT:
	case OP_QOS2_DEL:
		hf_be64(k, op->a);
		hf_be16(k + 8, (uint16_t)op->b);
		if (op->kind == OP_QOS2_DEL)
			return del(st, DB_QOS2, k, 10);
		return put(st, DB_QOS2, k, 10, "", 0);
	case OP_RETAIN_PUT:
		hf_be64(k, op->a);
		rc = get(st->wtxn, st, DB_MREFS, k, 8, &v);
		if (rc == MDB_NOTFOUND) {
			seterr(st,
			       "store %s: retain mark on message %" PRIu64
			       " which is not stored",
			       st->path, op->a);
			return HF_STORE_ECORRUPT;
		}
		if (rc)
			return rc;
		return put(st, DB_RETAINED, k, 8, "", 0);
	case OP_RETAIN_DEL:
		hf_be64(k, op->a);
		rc = get(st->wtxn, st, DB_RETAINED, k, 8, &v);
		if (rc == MDB_NOTFOUND)
			return 0;
		if (rc || (rc = del(st, DB_RETAINED, k, 8)))
			return rc;
		return ref_add(st, op->a, -1);
	}
	return 0;
}

/* Drop the open transaction and the log L after a hard LMDB failure. */
static int
hard_fail(struct hf_store *st, struct oplog *L, int rc)
{
	size_t n = L->n;

	if (st->wtxn)
		mdb_txn_abort(st->wtxn);
	st->wtxn = NULL;
	log_clear(L);
	seterr(st,
	       "store %s: %s; the %zu writes since the last commit were "
	       "discarded",
	       st->path, mdb_strerror(rc), n);
	if (no_space(rc)) {
		mark_disk_full(st);
		return HF_STORE_EFULL;
	}
	return rc == ENOMEM ? HF_STORE_ENOMEM : HF_STORE_EIO;
}

/* Apply L's writes, in order, to the open write transaction. Returns 0
 * (with *soft = how many met soft failures and *last = the last write's
 * soft result), MDB_MAP_FULL, or another LMDB code. */
static int
apply_all(struct hf_store *st, const struct oplog *L, unsigned *soft, int *last)
{
	*soft = 0;
	*last = 0;
	for (size_t i = 0; i < L->n; i++) {
		int rc = apply(st, &L->v[i]);

		if (rc == MDB_MAP_FULL || (rc && !is_soft(rc)))
			return rc;
		if (rc)
			(*soft)++;
		*last = rc;
	}
	return 0;
}

/* The map is full: drop the transaction (unless LMDB already freed it),
 * grow, begin again and replay the log L, as often as needed. Returns 0
 * with *soft = the soft failures the replay met (the last write's result
 * is *last), or EFULL/EIO/ENOMEM with no transaction open and L cleared. */
static int
recover_full(struct hf_store *st, struct oplog *L, bool txn_gone, int *last,
             unsigned *soft)
{
	for (;;) {
		int rc;

		if (!txn_gone && st->wtxn)
			mdb_txn_abort(st->wtxn);
		st->wtxn = NULL;
		rc = grow(st);
		if (rc) {
			size_t n = L->n;

			log_clear(L);
			if (rc == HF_STORE_EFULL)
				seterr(st,
				       "store %s is full: max_map_size %" PRIu64
				       " bytes reached; the %zu writes since "
				       "the last commit were discarded",
				       st->path, st->max_map, n);
			return rc;
		}
		rc = mdb_txn_begin(st->env, NULL, 0, &st->wtxn);
		if (rc) {
			st->wtxn = NULL;
			return hard_fail(st, L, rc);
		}
		txn_gone = false;
		rc = apply_all(st, L, soft, last);
		if (rc == MDB_MAP_FULL)
			continue;
		if (rc)
			return hard_fail(st, L, rc);
		return 0;
	}
}

/* Log op (taking its data) and apply it (a store without a writer thread:
 * the tools, and the broker while it has none). */
static int
write_op(struct hf_store *st, struct op *op)
{
	int rc, last;
	unsigned soft;

	if (st->read_only || st->in_read) {
		free(op->data);
		seterr(st, "store %s: %s", st->path,
		       st->read_only ? "opened read-only"
		                     : "write from inside a read callback");
		return HF_STORE_EIO;
	}
	/* With a writer thread the write is logged only: the thread applies
	 * the batch at the next hand-over; soft failures come back with its
	 * result. Without one it is applied at once, in the transaction. */
	if (!st->async && !st->wtxn && (rc = wtxn_begin(st))) {
		free(op->data);
		return rc;
	}
	if (log_push(&st->cur, op)) {
		free(op->data);
		seterr(st, "store %s: out of memory", st->path);
		return HF_STORE_ENOMEM;
	}
	if (st->async)
		return 0;
	rc = apply(st, &st->cur.v[st->cur.n - 1]);
	if (rc == MDB_MAP_FULL) {
		rc = recover_full(st, &st->cur, false, &last, &soft);
		if (rc)
			return rc;
		rc = last;
	}
	if (rc && !is_soft(rc))
		return hard_fail(st, &st->cur, rc);
	/* A soft failure left the transaction standing (see store.h). */
	return rc ? HF_STORE_EINCONSISTENT : 0;
}

static int
enomem(struct hf_store *st)
{
	seterr(st, "store %s: out of memory", st->path);
	return HF_STORE_ENOMEM;
}

static int
badarg(struct hf_store *st, const char *what)
{
	seterr(st, "store %s: invalid argument: %s", st->path, what);
	return HF_STORE_EIO;
}

/* Keep disk space allocated for the file ahead of LMDB's high-water mark
 * (posix_fallocate), so that a commit writes into space the file system
 * has already given: a full disk then shows up here, where the caller can
 * refuse new messages (hf_store_usage() reports the allocated size as the
 * maximum), instead of as a failed commit. The headroom is a quarter of
 * what is used, at least 1 MiB and at most 64 MiB, never past the map.
 * While the disk is full it is tried again once a second, so refusals end
 * when space returns. File systems without fallocate (and copy-on-write
 * ones, where it guarantees nothing) fall back to ENOSPC at commit, which
 * costs the turn but loses nothing acknowledged; the disk then counts as
 * full until statvfs() shows the headroom free again. */
static void
reserve(struct hf_store *st)
{
	MDB_envinfo info;
	uint64_t hwm, room, target;
	int rc;

	if (st->read_only || st->fd < 0)
		return;
	mdb_env_info(st->env, &info);
	hwm = (uint64_t)(info.me_last_pgno + 1) * st->psize;
	room = hwm / 4;
	if (room < (1u << 20))
		room = 1u << 20;
	if (room > (64u << 20))
		room = 64u << 20;
	if (st->no_reserve) {
		/* Nothing can be reserved: after a commit met a full disk,
		 * the free space the file system reports decides. */
		struct statvfs vs;

		if (st->disk_full && time(NULL) >= st->reserve_at) {
			st->reserve_at = time(NULL) + 1;
			if (fstatvfs(st->fd, &vs) == 0 &&
			    (uint64_t)vs.f_bavail * vs.f_frsize >= room)
				st->disk_full = false;
		}
		return;
	}
	target = hwm + room;
	if (target > info.me_mapsize)
		target = info.me_mapsize;
	if (st->alloc_end >= target ||
	    (!st->disk_full && st->alloc_end >= hwm + room / 2))
		return;
	if (st->disk_full && time(NULL) < st->reserve_at)
		return;
	rc = posix_fallocate(st->fd, 0, (off_t)target);
	if (rc == 0) {
		st->alloc_end = target;
		st->disk_full = false;
		return;
	}
	if (no_space(rc)) {
		mark_disk_full(st);
		return;
	}
	st->no_reserve = true; /* EOPNOTSUPP and the like */
}

/* Commit L, applied to the open write transaction, replaying it as the map
 * grows. Returns 0 (L cleared), or an error with the transaction dropped and
 * L cleared. */
static int
commit_applied(struct hf_store *st, struct oplog *L, unsigned *soft)
{
	int rc, last;

	while (st->wtxn) {
		rc = mdb_txn_commit(st->wtxn);
		st->wtxn = NULL; /* freed by LMDB, success or not */
		if (rc == 0) {
			log_clear(L);
			st->commits++;
			reserve(st);
			return 0;
		}
		if (rc != MDB_MAP_FULL)
			return hard_fail(st, L, rc);
		rc = recover_full(st, L, true, &last, soft);
		if (rc)
			return rc;
	}
	log_clear(L);
	return 0;
}

/* The writer thread's work: begin, apply the batch L, commit. */
static int
commit_batch(struct hf_store *st, struct oplog *L, unsigned *soft)
{
	int rc, last;

	*soft = 0;
	if (L->n == 0)
		return 0;
	if ((rc = wtxn_begin(st))) {
		log_clear(L);
		return rc;
	}
	rc = apply_all(st, L, soft, &last);
	if (rc == MDB_MAP_FULL)
		rc = recover_full(st, L, false, &last, soft);
	else if (rc)
		rc = hard_fail(st, L, rc);
	if (rc)
		return rc;
	return commit_applied(st, L, soft);
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *
writer_main(void *arg)
{
	struct hf_store *st = arg;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->w_busy && !st->w_quit)
			pthread_cond_wait(&st->cv_work, &st->mu);
		if (!st->w_busy)
			break; /* asked to quit, nothing handed over */
		pthread_mutex_unlock(&st->mu);
		uint64_t t0 = mono_ns();
		unsigned soft = 0;
		int rc = commit_batch(st, &st->fly, &soft);
		uint64_t ns = mono_ns() - t0;
		pthread_mutex_lock(&st->mu);
		st->w_rc = rc;
		st->w_soft = soft;
		st->w_ns = ns;
		st->w_busy = false;
		pthread_cond_broadcast(&st->cv_done);
		void (*fn)(void *) = st->notify;
		void *fa = st->notify_arg;
		pthread_mutex_unlock(&st->mu);
		if (fn)
			fn(fa);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* Under mu, writer idle: fold the finished batch's result into the
 * results the loop has not yet taken (hf_store_reap). */
static void
take_result(struct hf_store *st)
{
	if (st->gen_reaped == st->gen_sent)
		return;
	st->gen_reaped = st->gen_sent;
	st->r_batches++;
	st->r_ns += st->w_ns;
	st->r_soft += st->w_soft;
	if ((st->w_rc || st->w_soft) && !st->r_rc)
		memcpy(st->errmsg, st->w_errmsg, sizeof(st->errmsg));
	if (st->w_rc && !st->r_rc)
		st->r_rc = st->w_rc;
}

/* Wait until the writer thread is idle (no-op without one). */
static void
quiesce(struct hf_store *st)
{
	if (!st->async)
		return;
	pthread_mutex_lock(&st->mu);
	while (st->w_busy)
		pthread_cond_wait(&st->cv_done, &st->mu);
	take_result(st);
	pthread_mutex_unlock(&st->mu);
}

/* Writer idle (quiesce): hand cur over. */
static void
hand_over(struct hf_store *st)
{
	struct oplog t = st->fly;

	pthread_mutex_lock(&st->mu);
	st->fly = st->cur;
	st->cur = t; /* fly was cleared by the commit, its array kept */
	st->cur.n = 0;
	st->gen_sent++;
	st->w_busy = true;
	pthread_cond_signal(&st->cv_work);
	pthread_mutex_unlock(&st->mu);
}

int
hf_store_start_writer(struct hf_store *st, void (*notify)(void *arg), void *arg)
{
	int rc;

	if (st->async || st->read_only)
		return 0;
	if ((rc = hf_store_commit(st))) /* nothing applied stays open */
		return rc;
	if (pthread_mutex_init(&st->mu, NULL))
		return enomem(st);
	if (pthread_cond_init(&st->cv_work, NULL))
		goto no_work;
	if (pthread_cond_init(&st->cv_done, NULL))
		goto no_done;
	st->notify = notify;
	st->notify_arg = arg;
	st->w_busy = st->w_quit = false;
	st->async = true; /* before the thread reads it in errbuf() */
	if (pthread_create(&st->thr, NULL, writer_main, st) == 0)
		return 0;
	st->async = false;
	pthread_cond_destroy(&st->cv_done);
no_done:
	pthread_cond_destroy(&st->cv_work);
no_work:
	pthread_mutex_destroy(&st->mu);
	seterr(st, "store %s: cannot start the writer thread", st->path);
	return HF_STORE_ENOMEM;
}

void
hf_store_stop_writer(struct hf_store *st)
{
	if (!st || !st->async)
		return;
	quiesce(st);
	pthread_mutex_lock(&st->mu);
	st->w_quit = true;
	pthread_cond_signal(&st->cv_work);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->thr, NULL);
	st->async = false;
	pthread_cond_destroy(&st->cv_done);
	pthread_cond_destroy(&st->cv_work);
	pthread_mutex_destroy(&st->mu);
	log_clear(&st->fly);
	free(st->fly.v);
	st->fly.v = NULL;
	st->fly.cap = 0;
}

int
hf_store_submit(struct hf_store *st)
{
	if (!st->async)
		return hf_store_commit(st);
	pthread_mutex_lock(&st->mu);
	bool busy = st->w_busy;
	if (!busy)
		take_result(st);
	pthread_mutex_unlock(&st->mu);
	if (busy)
		return HF_STORE_EBUSY;
	if (st->cur.n == 0)
		return 0;
	hand_over(st);
	return 0;
}

bool
hf_store_busy(struct hf_store *st)
{
	if (!st->async)
		return false;
	pthread_mutex_lock(&st->mu);
	bool busy = st->w_busy;
	pthread_mutex_unlock(&st->mu);
	return busy;
}

bool
hf_store_reap(struct hf_store *st, struct hf_store_batch *out)
{
	memset(out, 0, sizeof(*out));
	if (st->async) {
		pthread_mutex_lock(&st->mu);
		if (!st->w_busy)
			take_result(st);
		out->in_flight = st->w_busy;
		pthread_mutex_unlock(&st->mu);
	}
	out->batches = st->r_batches;
	out->seconds = (double)st->r_ns / 1e9;
	out->soft = st->r_soft;
	out->rc = st->r_rc;
	out->durable_gen = st->gen_reaped;
	st->r_batches = 0;
	st->r_ns = 0;
	st->r_soft = 0;
	st->r_rc = 0;
	return out->batches > 0 || out->rc;
}

uint64_t
hf_store_gen(const struct hf_store *st)
{
	return st->gen_sent;
}

int
hf_store_commit(struct hf_store *st)
{
	unsigned soft = 0;

	if (!st->async)
		return commit_applied(st, &st->cur, &soft);
	quiesce(st);
	if (st->r_rc)
		return st->r_rc; /* an earlier batch failed: nothing more */
	if (st->cur.n == 0)
		return 0;
	/* The writer is idle and the caller waits anyway: commit here, as
	 * the next batch, without two thread wake-ups in its latency. Only
	 * this thread touches LMDB and the result fields meanwhile. */
	uint64_t t0 = mono_ns();
	int rc = commit_batch(st, &st->cur, &soft);
	st->gen_sent++;
	st->gen_reaped = st->gen_sent;
	st->r_batches++;
	st->r_ns += mono_ns() - t0;
	st->r_soft += soft;
	if (rc && !st->r_rc)
		st->r_rc = rc;
	return rc;
}

void
hf_store_abort(struct hf_store *st)
{
	quiesce(st);
	st->r_rc = 0;
	st->r_soft = 0;
	if (st->wtxn)
		mdb_txn_abort(st->wtxn);
	st->wtxn = NULL;
	log_clear(&st->cur);
}

size_t
hf_store_pending(const struct hf_store *st)
{
	return st->cur.n;
}

/* ---- public writes ---------------------------------------------------------
 */

int
hf_store_session_put(struct hf_store *st, const struct hf_store_session *s)
{
	struct op op = {.kind = OP_SESSION_PUT, .a = s->sid};

	if (s->client_id_len && !s->client_id)
		return badarg(st, "client id");
	if (!(op.data = hf_rec_session_enc(s, &op.len)))
		return enomem(st);
	return write_op(st, &op);
}

int
hf_store_session_del(struct hf_store *st, uint64_t sid)
{
	struct op op = {.kind = OP_SESSION_DEL, .a = sid};

	return write_op(st, &op);
}

int
hf_store_sub_put(struct hf_store *st, const struct hf_store_sub *s)
{
	struct op op = {.kind = OP_SUB_PUT, .a = s->sid};

	if (s->filter_len && !s->filter)
		return badarg(st, "filter");
	if (!(op.data = hf_rec_sub_enc(s, &op.len)))
		return enomem(st);
	return write_op(st, &op);
}

int
hf_store_sub_del(struct hf_store *st, uint64_t sid, const uint8_t *filter,
                 uint16_t len)
{
	struct op op = {.kind = OP_SUB_DEL, .a = sid, .len = len};

	if (len && !filter)
		return badarg(st, "filter");
	if (!(op.data = malloc(len ? len : 1)))
		return enomem(st);
	if (len)
		memcpy(op.data, filter, len);
	return write_op(st, &op);
}

int
hf_store_msg_put(struct hf_store *st, const struct hf_store_msg *m,
                 uint32_t refs)
{
	struct op op = {.kind = OP_MSG_PUT, .a = m->id, .c = refs};

	if (refs == 0)
		return badarg(st, "message stored with no reference");
	if ((m->topic_len && !m->topic) || (m->payload_len && !m->payload) ||
	    (m->props_len && !m->props))
		return badarg(st, "message");
	if (!(op.data = hf_rec_msg_enc(m, &op.len)))
		return enomem(st);
	return write_op(st, &op);
}

int
hf_store_msg_ref(struct hf_store *st, uint64_t msg_id, int32_t delta)
{
	struct op op = {.kind = OP_MSG_REF, .a = msg_id, .c = delta};

	return write_op(st, &op);
}

int
hf_store_queue_put(struct hf_store *st, const struct hf_store_qentry *e)
{
	struct op op = {.kind = OP_QUEUE_PUT, .a = e->sid, .b = e->seq};
	struct hf_store_qentry q = *e;

	if (e->n_subids && !e->subids)
		return badarg(st, "subscription ids");
	if (q.queued_at == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		q.queued_at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	} else if (q.queued_at < 0) {
		q.queued_at = 0; /* HF_STORE_QUEUED_UNKNOWN */
	}
	if (!(op.data = hf_rec_qentry_enc(&q, &op.len)))
		return enomem(st);
	return write_op(st, &op);
}

int
hf_store_queue_del(struct hf_store *st, uint64_t sid, uint64_t seq)
{
	struct op op = {.kind = OP_QUEUE_DEL, .a = sid, .b = seq};

	return write_op(st, &op);
}

int
hf_store_qos2_put(struct hf_store *st, uint64_t sid, uint16_t pid)
{
	struct op op = {.kind = OP_QOS2_PUT, .a = sid, .b = pid};

	return write_op(st, &op);
}

int
hf_store_qos2_del(struct hf_store *st, uint64_t sid, uint16_t pid)
{
	struct op op = {.kind = OP_QOS2_DEL, .a = sid, .b = pid};

	return write_op(st, &op);
}

int
hf_store_retain_put(struct hf_store *st, uint64_t msg_id)
{
	struct op op = {.kind = OP_RETAIN_PUT, .a = msg_id};

	return write_op(st, &op);
}

int
hf_store_retain_del(struct hf_store *st, uint64_t msg_id)
{
	struct op op = {.kind = OP_RETAIN_DEL, .a = msg_id};

	return write_op(st, &op);
}

/* ---- reads -----------------------------------------------------------------
 */

/* With a writer thread, a read first waits for it (LMDB's map must not
 * move under a cursor, and the loop must not read while it writes), and a
 * read that must see every write made before it (see_pending) commits
 * what is logged first. A failed commit fails the read. */
static int
rd_begin2(struct hf_store *st, MDB_txn **txn, bool see_pending)
{
	int rc;

	if (st->async && !st->rdepth) {
		rc = see_pending ? hf_store_commit(st) : (quiesce(st), 0);
		if (rc)
			return rc;
	}
	if (st->wtxn) {
		*txn = st->wtxn;
		st->in_read++;
		return 0;
	}
	if (st->rdepth) { /* a read inside a read callback */
		*txn = st->rtxn;
		st->rdepth++;
		st->in_read++;
		return 0;
	}
	rc = st->rtxn ? mdb_txn_renew(st->rtxn) : -1;
	if (rc) {
		if (st->rtxn)
			mdb_txn_abort(st->rtxn);
		st->rtxn = NULL;
		rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
		if (rc == MDB_MAP_RESIZED) { /* grown by another process */
			mdb_env_set_mapsize(st->env, 0);
			rc =
			    mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
		}
		if (rc) {
			st->rtxn = NULL;
			return lmdb_fail(st, "cannot begin a read transaction",
			                 rc);
		}
	}
	*txn = st->rtxn;
	st->rdepth = 1;
	st->in_read++;
	return 0;
}

static int
rd_begin(struct hf_store *st, MDB_txn **txn)
{
	return rd_begin2(st, txn, !st->rd_committed);
}

void
hf_store_read_pending(struct hf_store *st, bool see_pending)
{
	st->rd_committed = !see_pending;
}

static void
rd_end(struct hf_store *st, MDB_txn *txn)
{
	st->in_read--;
	if (txn == st->rtxn && --st->rdepth == 0)
		mdb_txn_reset(txn);
}

/* Walk db from `start` (or the first key when start is NULL) while keys
 * begin with the first `prefix` bytes of start, calling fn for each; keys
 * must be keylen bytes. Returns fn's first non-zero value, or an error. */
static int
walk(struct hf_store *st, int db, const uint8_t *start, size_t startlen,
     size_t prefix, size_t keylen,
     int (*fn)(struct hf_store *st, MDB_txn *txn, const MDB_val *k,
               const MDB_val *v, void *arg),
     void *arg)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = {startlen, (void *)start}, v;
	int rc, ret = 0;

	if ((rc = rd_begin(st, &txn)))
		return rc;
	rc = mdb_cursor_open(txn, st->dbi[db], &c);
	if (rc) {
		rd_end(st, txn);
		return lmdb_fail(st, "cannot open a cursor", rc);
	}
	rc = mdb_cursor_get(c, &k, &v, start ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		if (prefix && (k.mv_size < prefix ||
		               memcmp(k.mv_data, start, prefix) != 0))
			break;
		if (k.mv_size != keylen) {
			ret = bad_record(st, db, &k);
			break;
		}
		ret = fn(st, txn, &k, &v, arg);
		if (ret)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	if (!ret && rc && rc != MDB_NOTFOUND)
		ret = lmdb_fail(st, "cannot read", rc);
	mdb_cursor_close(c);
	rd_end(st, txn);
	return ret;
}

struct each_ctx {
	union {
		int (*session)(void *, const struct hf_store_session *);
		int (*sub)(void *, const struct hf_store_sub *);
		int (*qos2)(void *, uint64_t, uint16_t);
		int (*msg)(void *, const struct hf_store_msg *);
		int (*qentry)(void *, const struct hf_store_qentry *);
	} cb;
	void *ctx;
	/* queue_each */
	size_t left;
	bool reached_max;
	uint32_t *subids;
	size_t subids_cap;
	/* queue_stat */
	uint64_t count, bytes, last;
};

static int
session_fn(struct hf_store *st, MDB_txn *txn, const MDB_val *k,
           const MDB_val *v, void *arg)
{
	struct each_ctx *e = arg;
	struct hf_store_session s;

	if (hf_rec_session_dec(v->mv_data, v->mv_size, hf_rd64(k->mv_data),
	                       st->version, &s))
		return bad_record(st, DB_SESSIONS, k);
	return e->cb.session(e->ctx, &s);
}

int
hf_store_sessions_each(struct hf_store *st,
                       int (*cb)(void *ctx, const struct hf_store_session *s),
                       void *ctx)
{
	struct each_ctx e = {.cb.session = cb, .ctx = ctx};

	return walk(st, DB_SESSIONS, NULL, 0, 0, 8, session_fn, &e);
}

static int
sub_fn(struct hf_store *st, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
       void *arg)
{
	struct each_ctx *e = arg;
	struct hf_store_sub s;

	if (hf_rec_sub_dec(v->mv_data, v->mv_size, hf_rd64(k->mv_data), &s))
		return bad_record(st, DB_SUBS, k);
	return e->cb.sub(e->ctx, &s);
}

int
hf_store_subs_each(struct hf_store *st,
                   int (*cb)(void *ctx, const struct hf_store_sub *s),
                   void *ctx)
{
	struct each_ctx e = {.cb.sub = cb, .ctx = ctx};

	return walk(st, DB_SUBS, NULL, 0, 0, 16, sub_fn, &e);
}

static int
qos2_fn(struct hf_store *st, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
        void *arg)
{
	struct each_ctx *e = arg;
	const uint8_t *p = k->mv_data;

	return e->cb.qos2(e->ctx, hf_rd64(p), hf_rd16(p + 8));
}

int
hf_store_qos2_each(struct hf_store *st,
                   int (*cb)(void *ctx, uint64_t sid, uint16_t pid), void *ctx)
{
	struct each_ctx e = {.cb.qos2 = cb, .ctx = ctx};

	return walk(st, DB_QOS2, NULL, 0, 0, 10, qos2_fn, &e);
}

static int
retained_fn(struct hf_store *st, MDB_txn *txn, const MDB_val *k,
            const MDB_val *v, void *arg)
{
	struct each_ctx *e = arg;
	struct hf_store_msg m;
	MDB_val body;
	int rc;

	rc = mdb_get(txn, st->dbi[DB_MSGS], (MDB_val *)k, &body);
	if (rc == MDB_NOTFOUND)
		return bad_record(st, DB_RETAINED, k);
	if (rc)
		return lmdb_fail(st, "cannot read a message", rc);
	if (hf_rec_msg_dec(body.mv_data, body.mv_size, hf_rd64(k->mv_data), &m))
		return bad_record(st, DB_MSGS, k);
	return e->cb.msg(e->ctx, &m);
}

int
hf_store_retained_each(struct hf_store *st,
                       int (*cb)(void *ctx, const struct hf_store_msg *m),
                       void *ctx)
{
	struct each_ctx e = {.cb.msg = cb, .ctx = ctx};

	return walk(st, DB_RETAINED, NULL, 0, 0, 8, retained_fn, &e);
}

static int
queue_fn(struct hf_store *st, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
         void *arg)
{
	struct each_ctx *e = arg;
	const uint8_t *kp = k->mv_data, *raw;
	struct hf_store_qentry q;
	int rc;

	if (hf_rec_qentry_dec(v->mv_data, v->mv_size, hf_rd64(kp),
	                      hf_rd64(kp + 8), st->version, &q, &raw))
		return bad_record(st, DB_QUEUE, k);
	if (q.n_subids) {
		if (q.n_subids > e->subids_cap) {
			uint32_t *n =
			    realloc(e->subids, q.n_subids * sizeof(*n));

			if (!n)
				return enomem(st);
			e->subids = n;
			e->subids_cap = q.n_subids;
		}
		hf_rec_subids(raw, q.n_subids, e->subids);
		q.subids = e->subids;
	}
	rc = e->cb.qentry(e->ctx, &q);
	if (rc == 0 && --e->left == 0) {
		e->reached_max = true;
		return 1; /* turned back into 0 by hf_store_queue_each */
	}
	return rc;
}

int
hf_store_queue_each(struct hf_store *st, uint64_t sid, uint64_t from,
                    size_t max,
                    int (*cb)(void *ctx, const struct hf_store_qentry *e),
                    void *ctx)
{
	struct each_ctx e = {.cb.qentry = cb, .ctx = ctx, .left = max};
	uint8_t k[16];
	int rc;

	if (max == 0)
		return 0;
	hf_be64(k, sid);
	hf_be64(k + 8, from);
	rc = walk(st, DB_QUEUE, k, 16, 8, 16, queue_fn, &e);
	free(e.subids);
	if (e.reached_max)
		rc = 0;
	return rc;
}

static int
stat_fn(struct hf_store *st, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
        void *arg)
{
	struct each_ctx *e = arg;

	if (v->mv_size < HF_REC_QENTRY_HDR)
		return bad_record(st, DB_QUEUE, k);
	e->count++;
	e->bytes += hf_rd32((const uint8_t *)v->mv_data + 8);
	e->last = hf_rd64((const uint8_t *)k->mv_data + 8);
	return 0;
}

int
hf_store_queue_stat(struct hf_store *st, uint64_t sid, uint64_t *count,
                    uint64_t *bytes, uint64_t *last_seq)
{
	struct each_ctx e = {0};
	uint8_t k[16];
	int rc;

	hf_be64(k, sid);
	hf_be64(k + 8, 0);
	rc = walk(st, DB_QUEUE, k, 16, 8, 16, stat_fn, &e);
	if (count)
		*count = rc ? 0 : e.count;
	if (bytes)
		*bytes = rc ? 0 : e.bytes;
	if (last_seq)
		*last_seq = rc ? 0 : e.last;
	return rc;
}

int
hf_store_msg_get(struct hf_store *st, uint64_t msg_id,
                 void (*cb)(void *ctx, const struct hf_store_msg *m), void *ctx)
{
	struct hf_store_msg m;
	MDB_txn *txn;
	uint8_t k[8];
	MDB_val v;
	int rc;

	if ((rc = rd_begin(st, &txn)))
		return rc;
	hf_be64(k, msg_id);
	rc = get(txn, st, DB_MSGS, k, 8, &v);
	if (rc == MDB_NOTFOUND) {
		rc = HF_STORE_ENOTFOUND;
	} else if (rc) {
		rc = lmdb_fail(st, "cannot read a message", rc);
	} else if (hf_rec_msg_dec(v.mv_data, v.mv_size, msg_id, &m)) {
		rc = bad_record(st, DB_MSGS, &(MDB_val){8, k});
	} else {
		cb(ctx, &m);
	}
	rd_end(st, txn);
	return rc;
}

static int
last_key(struct hf_store *st, MDB_txn *txn, int db, uint64_t *out)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*out = 0;
	if ((rc = mdb_cursor_open(txn, st->dbi[db], &c)))
		return lmdb_fail(st, "cannot open a cursor", rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		*out = hf_rd64(k.mv_data);
	else if (rc == 0)
		rc = bad_record(st, db, &k);
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = lmdb_fail(st, "cannot read", rc);
	mdb_cursor_close(c);
	return rc;
}

int
hf_store_max_ids(struct hf_store *st, uint64_t *max_sid, uint64_t *max_msg_id)
{
	uint64_t s = 0, m = 0;
	MDB_txn *txn;
	int rc;

	if ((rc = rd_begin(st, &txn)))
		return rc;
	rc = last_key(st, txn, DB_SESSIONS, &s);
	if (!rc)
		rc = last_key(st, txn, DB_MSGS, &m);
	rd_end(st, txn);
	if (max_sid)
		*max_sid = s;
	if (max_msg_id)
		*max_msg_id = m;
	return rc;
}

int
hf_store_stats(struct hf_store *st, struct hf_store_stats *out)
{
	uint64_t *counts[DB_COUNT] = {0};
	MDB_envinfo info;
	MDB_txn *txn;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	quiesce(st); /* committed data only: a tick must not force a commit */
	mdb_env_info(st->env, &info);
	out->map_size = info.me_mapsize;
	out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st->psize;
	out->max_map_size = st->max_map;
	out->commits = st->commits;
	out->grows = st->grows;
	counts[DB_SESSIONS] = &out->sessions;
	counts[DB_SUBS] = &out->subs;
	counts[DB_MSGS] = &out->msgs;
	counts[DB_QUEUE] = &out->queue_entries;
	counts[DB_RETAINED] = &out->retained;
	counts[DB_QOS2] = &out->qos2;
	if ((rc = rd_begin2(st, &txn, false)))
		return rc;
	for (int i = 0; i < DB_COUNT && !rc; i++) {
		MDB_stat ms;

		if (!counts[i])
			continue;
		rc = mdb_stat(txn, st->dbi[i], &ms);
		if (rc)
			rc = lmdb_fail(st, "cannot stat", rc);
		else
			*counts[i] = ms.ms_entries;
	}
	rd_end(st, txn);
	return rc;
}

void
hf_store_release_pages(struct hf_store *st)
{
	/* The map is a read-only shared mapping of the file (no
	 * MDB_WRITEMAP): dropping its page-table entries frees no data and
	 * loses nothing, a later read maps the page again from the page
	 * cache. It keeps the pages LMDB happened to touch from counting as
	 * the broker's own memory. LMDB does not tell where its map is (and
	 * it moves when the map grows), so /proc/self/maps is asked. */
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	size_t plen = strlen(st->path);

	if (!f)
		return;
	quiesce(st); /* the writer may be growing (moving) the map */
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		unsigned long lo, hi;

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n < plen || strcmp(line + n - plen, st->path) != 0 ||
		    sscanf(line, "%lx-%lx", &lo, &hi) != 2 || hi <= lo)
			continue;
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
	}
	fclose(f);
}

int
hf_store_usage(struct hf_store *st, uint64_t *used, uint64_t *max)
{
	MDB_envinfo info;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t free_pages = 0;
	int rc;

	quiesce(st);
	reserve(st);
	mdb_env_info(st->env, &info);
	*max = st->max_map;
	/* Out of disk: what the file already holds is all there is. */
	if (st->disk_full && st->alloc_end < *max)
		*max = st->alloc_end;
	*used = (uint64_t)(info.me_last_pgno + 1) * st->psize;
	/* The file's high-water mark is an upper bound; only near the limit
	 * is it worth walking LMDB's freelist (DB 0: each value is a page
	 * list whose first word is its length) for pages ready for reuse. */
	if (*used <= *max / 10 * 8)
		return 0;
	if ((rc = rd_begin2(st, &txn, false)))
		return rc;
	rc = mdb_cursor_open(txn, 0, &cur);
	if (rc == 0) {
		while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0)
			if (v.mv_size >= sizeof(size_t)) {
				size_t n;
				memcpy(&n, v.mv_data, sizeof(n));
				free_pages += n;
			}
		mdb_cursor_close(cur);
	}
	rd_end(st, txn);
	if (free_pages * st->psize < *used)
		*used -= free_pages * st->psize;
	return 0;
}

/* ---- open, close, move aside ----------------------------------------------
 */

static char *
store_path(const struct hf_store_conf *conf)
{
	size_t n = strlen(conf->dir) + strlen(conf->file) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", conf->dir, conf->file);
	return p;
}

/* mkdir -p; 0 or an errno value. */
static int
mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	struct stat sb;
	int rc = 0;

	if (!p)
		return ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) && errno != EEXIST) {
			rc = errno;
			break;
		}
		*s = '/';
	}
	if (!rc && mkdir(p, 0700) && errno != EEXIST)
		rc = errno;
	if (!rc && (stat(p, &sb) || !S_ISDIR(sb.st_mode)))
		rc = ENOTDIR;
	free(p);
	return rc;
}

static bool
is_damage(int rc)
{
	return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
	       rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
	       rc == MDB_PANIC || rc == MDB_INCOMPATIBLE;
}

static int
open_fail(struct hf_store *st, int rc, const char *what, char *err,
          size_t errlen)
{
	if (is_damage(rc)) {
		damaged(err, errlen, st->path, mdb_strerror(rc));
		return HF_STORE_ECORRUPT;
	}
	fmterr(err, errlen, "store %s: %s: %s", st->path, what,
	       mdb_strerror(rc));
	return rc == ENOMEM ? HF_STORE_ENOMEM : HF_STORE_EIO;
}

/* Create the databases and the meta record of a new store. */
static int
create_store(struct hf_store *st, MDB_txn *txn, char *err, size_t errlen)
{
	uint8_t ver[4], created[8];
	struct timespec ts;
	MDB_val k, v;
	int rc = 0;

	for (int i = 0; i < DB_COUNT && !rc; i++)
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &st->dbi[i]);
	st->version = HF_STORE_FORMAT_VERSION;
	clock_gettime(CLOCK_REALTIME, &ts);
	hf_be32(ver, HF_STORE_FORMAT_VERSION);
	hf_be64(created,
	        (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
	if (!rc) {
		k = (MDB_val){5, (void *)"magic"};
		v = (MDB_val){strlen(HF_STORE_MAGIC), (void *)HF_STORE_MAGIC};
		rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
	}
	if (!rc) {
		k = (MDB_val){7, (void *)"version"};
		v = (MDB_val){4, ver};
		rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
	}
	if (!rc) {
		k = (MDB_val){7, (void *)"created"};
		v = (MDB_val){8, created};
		rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
	}
	if (rc)
		return open_fail(st, rc, "cannot create the store", err,
		                 errlen);
	return 0;
}

/* 1 -> 2: every session record gets the identity part (no username, no
 * certificate, listener port 0: such a session is checked against the
 * first listener's settings until its client connects again). */
static int
migrate_sessions(struct hf_store *st, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, st->dbi[DB_SESSIONS], &cur);

	while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		struct hf_store_session s;
		uint8_t *enc;
		size_t len;

		if (k.mv_size != 8 ||
		    hf_rec_session_dec(v.mv_data, v.mv_size, hf_rd64(k.mv_data),
		                       st->version, &s)) {
			mdb_cursor_close(cur);
			damaged(err, errlen, st->path,
			        "a session record of format 1 does not decode");
			return HF_STORE_ECORRUPT;
		}
		if (!(enc = hf_rec_session_enc(&s, &len))) {
			rc = ENOMEM;
			break;
		}
		v = (MDB_val){len, enc};
		rc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT);
		free(enc);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* 2 -> 3: every queue entry gets a queued-at time of 0, "unknown" (the
 * older format did not record it, and the migration must not pretend the
 * entries were queued now). The value is the old one plus 8 zero bytes. */
static int
migrate_queue(struct hf_store *st, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, st->dbi[DB_QUEUE], &cur);

	while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		struct hf_store_qentry q;
		const uint8_t *raw;
		uint8_t *nv;

		if (k.mv_size != 16 ||
		    hf_rec_qentry_dec(v.mv_data, v.mv_size, hf_rd64(k.mv_data),
		                      hf_rd64((uint8_t *)k.mv_data + 8), 2, &q,
		                      &raw)) {
			mdb_cursor_close(cur);
			damaged(err, errlen, st->path,
			        "a queue entry of format 2 does not decode");
			return HF_STORE_ECORRUPT;
		}
		if (!(nv = calloc(1, v.mv_size + 8))) {
			rc = ENOMEM;
			break;
		}
		memcpy(nv, v.mv_data, v.mv_size);
		v = (MDB_val){v.mv_size + 8, nv};
		rc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT);
		free(nv);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Bring an older store to this format, in the open transaction (so the
 * store is either all old or all new), one step per format. A record that
 * does not decode stops it (HF_STORE_ECORRUPT). */
static int
migrate(struct hf_store *st, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k, v;
	uint8_t ver[4];
	int rc = 0;

	if (st->version < 2)
		rc = migrate_sessions(st, txn, err, errlen);
	if (!rc && st->version < 3)
		rc = migrate_queue(st, txn, err, errlen);
	if (rc == HF_STORE_ECORRUPT)
		return rc;
	hf_be32(ver, HF_STORE_FORMAT_VERSION);
	k = (MDB_val){7, (void *)"version"};
	v = (MDB_val){4, ver};
	if (!rc)
		rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
	if (rc)
		return open_fail(st, rc, "cannot migrate the store", err,
		                 errlen);
	st->version = HF_STORE_FORMAT_VERSION;
	return 0;
}

/* Validate meta (or create a new store) and open every database. On
 * success the transaction has been committed, which keeps the handles. */
static int
open_dbs(struct hf_store *st, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_val k, v;
	uint32_t ver = 0;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, st->read_only ? MDB_RDONLY : 0, &txn);
	if (rc)
		return open_fail(st, rc, "cannot begin a transaction", err,
		                 errlen);
	rc = mdb_dbi_open(txn, db_names[DB_META], 0, &st->dbi[DB_META]);
	if (rc == MDB_NOTFOUND) {
		MDB_dbi main_db;
		MDB_stat ms;

		rc = mdb_dbi_open(txn, NULL, 0, &main_db);
		if (!rc)
			rc = mdb_stat(txn, main_db, &ms);
		if (rc) {
			rc = open_fail(st, rc, "cannot read", err, errlen);
		} else if (ms.ms_entries) {
			damaged(err, errlen, st->path,
			        "an LMDB file without Holdfast meta data");
			rc = HF_STORE_ECORRUPT;
		} else if (st->read_only) {
			fmterr(err, errlen, "store %s is empty", st->path);
			rc = HF_STORE_EIO;
		} else {
			rc = create_store(st, txn, err, errlen);
		}
		goto done;
	}
	if (rc) {
		rc = open_fail(st, rc, "cannot open the meta database", err,
		               errlen);
		goto done;
	}
	k = (MDB_val){5, (void *)"magic"};
	rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
	if (rc || v.mv_size != strlen(HF_STORE_MAGIC) ||
	    memcmp(v.mv_data, HF_STORE_MAGIC, v.mv_size)) {
		damaged(err, errlen, st->path, "no Holdfast magic in meta");
		rc = HF_STORE_ECORRUPT;
		goto done;
	}
	k = (MDB_val){7, (void *)"version"};
	rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
	if (rc || v.mv_size != 4 || (ver = hf_rd32(v.mv_data)) == 0) {
		damaged(err, errlen, st->path, "no valid format version");
		rc = HF_STORE_ECORRUPT;
		goto done;
	}
	if (ver > HF_STORE_FORMAT_VERSION) {
		fmterr(err, errlen,
		       "store %s was written by a newer Holdfast (format "
		       "version %" PRIu32 ", this build reads version %u); run "
		       "that version, or start with --move-damaged-store to "
		       "move it aside and start empty",
		       st->path, ver, HF_STORE_FORMAT_VERSION);
		rc = HF_STORE_EVERSION;
		goto done;
	}
	st->version = ver;
	for (int i = 1; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], 0, &st->dbi[i]);
		if (rc == MDB_NOTFOUND) {
			char why[64];

			snprintf(why, sizeof(why), "database %s is missing",
			         db_names[i]);
			damaged(err, errlen, st->path, why);
			rc = HF_STORE_ECORRUPT;
			goto done;
		}
		if (rc) {
			rc = open_fail(st, rc, "cannot open a database", err,
			               errlen);
			goto done;
		}
	}
	if (ver < HF_STORE_FORMAT_VERSION && !st->read_only)
		rc = migrate(st, txn, err, errlen);
done:
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		return open_fail(st, rc, "cannot commit", err, errlen);
	return 0;
}

/* One writer per store (see store.h): flock "<path>.owner", then write our
 * pid into it for the next one to name. Two brokers writing one LMDB file
 * would each believe its own view of sessions and queues, and overwrite
 * the other's: acknowledged messages would be lost. */
static int
take_ownership(struct hf_store *st, char *err, size_t errlen)
{
	char lock[PATH_MAX], pid[32] = "";
	if (snprintf(lock, sizeof(lock), "%s.owner", st->path) >=
	    (int)sizeof(lock)) {
		fmterr(err, errlen, "store %s: path too long", st->path);
		return HF_STORE_EIO;
	}
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fmterr(err, errlen, "store %s: cannot open %s: %s", st->path,
		       lock, strerror(errno));
		return HF_STORE_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		ssize_t n =
		    e == EWOULDBLOCK ? pread(fd, pid, sizeof(pid) - 1, 0) : -1;
		close(fd);
		if (e != EWOULDBLOCK) {
			fmterr(err, errlen, "store %s: cannot lock %s: %s",
			       st->path, lock, strerror(e));
			return HF_STORE_EIO;
		}
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		fmterr(err, errlen,
		       "store %s is in use by another process (pid %s, "
		       "holding %s): one broker per store",
		       st->path, pid[0] ? pid : "unknown", lock);
		return HF_STORE_EBUSY;
	}
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		/* The lock is what counts; the pid is for the message. */
	}
	st->owner_fd = fd;
	return 0;
}

int
hf_store_open(struct hf_store **out, const struct hf_store_conf *conf,
              char *err, size_t errlen)
{
	struct hf_store *st;
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
	uint64_t init;
	struct stat sb;
	MDB_stat ms;
	int rc;

	*out = NULL;
	fmterr(err, errlen, "%s", "");
	if (!conf->dir || !conf->file || !*conf->dir || !*conf->file) {
		fmterr(err, errlen, "store: no directory or file name given");
		return HF_STORE_EIO;
	}
	if (!(st = calloc(1, sizeof(*st))) || !(st->path = store_path(conf))) {
		free(st);
		fmterr(err, errlen, "store: out of memory");
		return HF_STORE_ENOMEM;
	}
	st->read_only = conf->read_only;
	st->fd = -1;
	st->owner_fd = -1;
	st->hash_mask = UINT64_MAX;
	st->os_page = (size_t)sysconf(_SC_PAGESIZE);
	init = conf->initial_map_size ? conf->initial_map_size
	                              : DEFAULT_INITIAL_MAP;
	init = (init + st->os_page - 1) / st->os_page * st->os_page;
	st->max_map = conf->max_map_size / st->os_page * st->os_page;
	if (st->max_map < init)
		st->max_map = init;
	if (st->read_only) {
		flags |= MDB_RDONLY;
		if (access(st->path, F_OK)) {
			fmterr(err, errlen, "store %s: %s", st->path,
			       strerror(errno));
			rc = HF_STORE_EIO;
			goto fail;
		}
	} else if ((rc = mkdir_p(conf->dir))) {
		fmterr(err, errlen, "store %s: cannot create directory %s: %s",
		       st->path, conf->dir, strerror(rc));
		rc = rc == ENOMEM ? HF_STORE_ENOMEM : HF_STORE_EIO;
		goto fail;
	}
	if (!st->read_only && (rc = take_ownership(st, err, errlen)))
		goto fail;
	if (conf->sync == HF_SYNC_OS)
		flags |= MDB_NOSYNC;
	rc = mdb_env_create(&st->env);
	if (rc) {
		st->env = NULL;
		rc = open_fail(st, rc, "cannot create the environment", err,
		               errlen);
		goto fail;
	}
	mdb_env_set_maxdbs(st->env, DB_COUNT);
	/* An existing store keeps the map size it grew to (0 = take it from
	 * the file); a new one starts at the initial size. */
	mdb_env_set_mapsize(st->env, stat(st->path, &sb) == 0 && sb.st_size > 0
	                                 ? 0
	                                 : (size_t)init);
	rc = mdb_env_open(st->env, st->path, flags, 0600);
	if (rc) {
		rc = open_fail(st, rc, "cannot open", err, errlen);
		goto fail;
	}
	if (!st->read_only && map_size(st) < init)
		mdb_env_set_mapsize(st->env, (size_t)init);
	mdb_env_stat(st->env, &ms);
	st->psize = ms.ms_psize;
	if ((rc = open_dbs(st, err, errlen)))
		goto fail;
	if (mdb_env_get_fd(st->env, &st->fd) == 0 && fstat(st->fd, &sb) == 0)
		st->alloc_end = (uint64_t)sb.st_size;
	reserve(st);
	*out = st;
	return 0;
fail:
	if (st->env)
		mdb_env_close(st->env);
	if (st->owner_fd >= 0)
		close(st->owner_fd); /* releases the lock */
	free(st->path);
	free(st);
	return rc;
}

void
hf_store_close(struct hf_store *st)
{
	if (!st)
		return;
	hf_store_stop_writer(st);
	if (st->wtxn)
		mdb_txn_abort(st->wtxn);
	if (st->rtxn)
		mdb_txn_abort(st->rtxn);
	log_clear(&st->cur);
	free(st->cur.v);
	mdb_env_close(st->env);
	if (st->owner_fd >= 0)
		close(
		    st->owner_fd); /* after LMDB: nobody writes once released */
	free(st->path);
	free(st);
}

int
hf_store_move_aside(const struct hf_store_conf *conf, char *err, size_t errlen)
{
	char *path = store_path(conf);
	char dst[4096], lock[4200], dlock[4200];
	long long now = (long long)time(NULL);
	struct stat sb;
	int n = 0;

	if (!path) {
		fmterr(err, errlen, "store: out of memory");
		return HF_STORE_ENOMEM;
	}
	/* Two moves in one second get ".1", ".2", ... appended. */
	snprintf(dst, sizeof(dst), "%s.damaged-%lld", path, now);
	while (lstat(dst, &sb) == 0 && ++n < 100)
		snprintf(dst, sizeof(dst), "%s.damaged-%lld.%d", path, now, n);
	if (rename(path, dst)) {
		fmterr(err, errlen, "store %s: cannot move it to %s: %s", path,
		       dst, strerror(errno));
		free(path);
		return HF_STORE_EIO;
	}
	/* The lock file holds no data; keeping it next to the moved file
	 * makes the pair openable with holdfast-db -f. If it cannot be moved
	 * LMDB reinitialises a stale one, so that is not an error. */
	snprintf(lock, sizeof(lock), "%s-lock", path);
	snprintf(dlock, sizeof(dlock), "%s-lock", dst);
	if (rename(lock, dlock) && errno != ENOENT)
		(void)unlink(lock);
	fmterr(err, errlen, "store %s moved to %s", path, dst);
	free(path);
	return 0;
}

/* ---- for check.c (store_int.h) -------------------------------------------
 */

int
hf_store_int_read_begin(struct hf_store *st, MDB_txn **txn, MDB_dbi *dbi)
{
	int rc = rd_begin(st, txn);

	if (rc == 0)
		memcpy(dbi, st->dbi, sizeof(st->dbi));
	return rc;
}

void
hf_store_int_read_end(struct hf_store *st, MDB_txn *txn)
{
	rd_end(st, txn);
}

unsigned
hf_store_int_version(const struct hf_store *st)
{
	return st->version;
}

uint64_t
hf_store_int_hash_mask(const struct hf_store *st)
{
	return st->hash_mask;
}

int
hf_store_int_fail(struct hf_store *st, const char *what, int rc)
{
	if (is_damage(rc)) {
		seterr(st, "store %s is damaged (%s: %s)", st->path, what,
		       mdb_strerror(rc));
		return HF_STORE_ECORRUPT;
	}
	return lmdb_fail(st, what, rc);
}
