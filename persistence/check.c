/* persistence/check.c - hf_store_check(): verify the store's invariants.
 *
 * The engine and the store keep one piece of shared bookkeeping: each
 * message body's reference count must equal the number of records naming it
 * (queue entries, retained marks, session wills). A bug on either side makes
 * them disagree, and a count that is too low deletes a body that a queue
 * entry still names. This file reads a whole store in one LMDB transaction
 * and reports every record that breaks an invariant; the invariants are
 * listed in persistence/README.md ("Invariants").
 *
 * Design: one pass per database, in key order. Sessions and message bodies
 * (with their counts) go into arrays that the cursor fills already sorted
 * by id, so every later lookup is a binary search; references are tallied
 * on the message entries and compared at the end. Duplicates that keys do
 * not rule out (client ids, filters of one session, retained topics,
 * in-flight packet ids of one session) are found by sorting. Pointers into
 * the LMDB map (client ids, filters, topics) are kept for the duration of
 * the transaction, during which nothing writes. Nothing is trusted: every
 * key length is checked, values go through records.c's decoders, and a
 * record that does not decode is a violation and is skipped.
 *
 * Threading/ownership: runs on the store's thread, inside one read
 * (hf_store_int_read_begin); every array is freed before it returns. The
 * report string lives in the checker's stack frame. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define SHOW_MAX 64 /* bytes of a client id, filter or topic shown */

/* A session record. */
struct sess {
	uint64_t sid;
	uint64_t will_msg;
	const uint8_t *cid; /* into the map; NULL when the record is bad */
	uint16_t cid_len;
};

enum {
	M_BODY = 1,      /* the body decodes */
	M_COUNT = 2,     /* an mrefs entry exists */
	M_COUNT_BAD = 4, /* ... but its value is not 4 bytes */
	M_RETAIN = 8,    /* the body's retain flag */
};

/* A message body (present in msgs, decodable or not) and its tallies. */
struct msg {
	uint64_t id;
	const uint8_t *topic; /* into the map, when M_BODY */
	uint64_t nqueue;      /* queue entries naming it */
	uint32_t payload_len;
	uint32_t count; /* the stored reference count */
	uint32_t nret, nwill;
	uint16_t topic_len;
	uint8_t flags;
};

/* A byte string with the record it came from, for duplicate finding. */
struct named {
	const uint8_t *p;
	uint64_t a, b; /* sid/msg id, slot/seq */
	uint16_t len;
};

struct named_list {
	struct named *v;
	size_t n, cap;
};

struct ck {
	struct hf_store *st;
	MDB_txn *txn;
	MDB_dbi dbi[HF_DB_COUNT];
	void (*report)(void *ctx, const char *violation);
	void *ctx;
	uint64_t violations;
	struct hf_store_check_counts counts;
	struct sess *sess;
	size_t nsess, capsess;
	struct msg *msgs;
	size_t nmsgs, capmsgs;
	uint64_t mask; /* filter hash mask */
	/* Per-session scratch while walking subs and queue. */
	struct named_list filters;
	uint64_t cur_sid;
	bool have_cur;
	uint8_t pid_used[65536 / 8];
	uint64_t pid_seq[65536];
	uint16_t *pids_set;
	size_t npids_set, cappids_set;
};

static const char *const db_name[HF_DB_COUNT] = {
    "meta", "sessions", "subs", "msgs", "mrefs", "queue", "qos2", "retained",
};

/* ---- reporting ----------------------------------------------------------
 */

__attribute__((format(printf, 2, 3))) static void
viol(struct ck *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	c->violations++;
	if (!c->report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->report(c->ctx, line);
}

/* Bytes as text: printable ASCII as is, the rest as \xNN, at most
 * SHOW_MAX bytes. out needs SHOW_MAX * 4 + 32 bytes. */
static const char *
esc(char *out, const uint8_t *p, size_t n)
{
	size_t i, w = 0;

	for (i = 0; i < n && i < SHOW_MAX; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '"')
			out[w++] = (char)p[i];
		else
			w += (size_t)sprintf(out + w, "\\x%02x", p[i]);
	}
	if (i < n)
		w += (size_t)sprintf(out + w, "...(%zu bytes)", n);
	out[w] = '\0';
	return out;
}

#define ESC_LEN (SHOW_MAX * 4 + 32)

static const char *
hex_key(char *out, const MDB_val *k)
{
	const uint8_t *p = k->mv_data;
	size_t n = k->mv_size < 24 ? k->mv_size : 24, w = 0;

	for (size_t i = 0; i < n; i++)
		w += (size_t)sprintf(out + w, "%02x", p[i]);
	if (n < k->mv_size)
		w += (size_t)sprintf(out + w, "...");
	if (!w)
		w += (size_t)sprintf(out + w, "(empty)");
	out[w] = '\0';
	return out;
}

/* ---- lookups ------------------------------------------------------------
 */

static struct sess *
find_sess(struct ck *c, uint64_t sid)
{
	size_t lo = 0, hi = c->nsess;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->sess[mid].sid == sid)
			return &c->sess[mid];
		if (c->sess[mid].sid < sid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct msg *
find_msg(struct ck *c, uint64_t id)
{
	size_t lo = 0, hi = c->nmsgs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->msgs[mid].id == id)
			return &c->msgs[mid];
		if (c->msgs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* "session N (client "X")", or "(not stored)" / "(bad record)". */
static const char *
who(struct ck *c, char *out, size_t cap, uint64_t sid)
{
	struct sess *s = find_sess(c, sid);
	char e[ESC_LEN];

	if (!s)
		snprintf(out, cap, "session %" PRIu64 " (not stored)", sid);
	else if (!s->cid)
		snprintf(out, cap, "session %" PRIu64 " (bad record)", sid);
	else
		snprintf(out, cap, "session %" PRIu64 " (client \"%s\")", sid,
		         esc(e, s->cid, s->cid_len));
	return out;
}

#define WHO_LEN (ESC_LEN + 64)

static int
grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 256;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return HF_STORE_ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static int
named_push(struct named_list *l, const uint8_t *p, uint16_t len, uint64_t a,
           uint64_t b)
{
	if (grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)))
		return HF_STORE_ENOMEM;
	l->v[l->n++] = (struct named){.p = p, .len = len, .a = a, .b = b};
	return 0;
}

static int
cmp_named(const void *x, const void *y)
{
	const struct named *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int r = n ? memcmp(a->p, b->p, n) : 0;

	if (r)
		return r;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return a->b < b->b ? -1 : a->b > b->b;
}

static bool
named_eq(const struct named *a, const struct named *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->p, b->p, a->len));
}

/* ---- walking a database ---------------------------------------------------
 */

typedef int (*walk_fn)(struct ck *c, const MDB_val *k, const MDB_val *v);

/* Call fn for every record of db in key order; fn returns 0 or a negative
 * error that stops the walk. */
static int
walk(struct ck *c, int db, walk_fn fn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret = 0;

	rc = mdb_cursor_open(c->txn, c->dbi[db], &cur);
	if (rc)
		return hf_store_int_fail(c->st, "cannot open a cursor", rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if ((ret = fn(c, &k, &v)))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (!ret && rc != MDB_NOTFOUND)
		ret = hf_store_int_fail(c->st, "cannot read", rc);
	mdb_cursor_close(cur);
	return ret;
}

/* Report a key of the wrong length; returns true when it is right. */
static bool
key_ok(struct ck *c, int db, const MDB_val *k, size_t want)
{
	char hex[64];

	if (k->mv_size == want)
		return true;
	viol(c, "%s: key %s is %zu bytes, not %zu", db_name[db],
	     hex_key(hex, k), k->mv_size, want);
	return false;
}

/* ---- meta ---------------------------------------------------------------
 */

static int
check_meta_key(struct ck *c, const MDB_val *k, const MDB_val *v)
{
	static const char *const known[] = {"magic", "version", "created"};
	char e[ESC_LEN];

	for (size_t i = 0; i < 3; i++)
		if (k->mv_size == strlen(known[i]) &&
		    !memcmp(k->mv_data, known[i], k->mv_size))
			return 0;
	viol(c, "meta: unknown key \"%s\"", esc(e, k->mv_data, k->mv_size));
	return 0;
}

static int
check_meta(struct ck *c)
{
	MDB_val k, v;
	int rc;

	k = (MDB_val){5, (void *)"magic"};
	rc = mdb_get(c->txn, c->dbi[HF_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND)
		viol(c, "meta: no magic");
	else if (rc)
		return hf_store_int_fail(c->st, "cannot read meta", rc);
	else if (v.mv_size != strlen(HF_STORE_MAGIC) ||
	         memcmp(v.mv_data, HF_STORE_MAGIC, v.mv_size))
		viol(c, "meta: magic is not \"%s\"", HF_STORE_MAGIC);

	k = (MDB_val){7, (void *)"version"};
	rc = mdb_get(c->txn, c->dbi[HF_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND)
		viol(c, "meta: no version");
	else if (rc)
		return hf_store_int_fail(c->st, "cannot read meta", rc);
	else if (v.mv_size != 4)
		viol(c, "meta: version is %zu bytes, not 4", v.mv_size);
	else if (hf_rd32(v.mv_data) != hf_store_int_version(c->st))
		/* The store was opened as this version (an older one only
		 * read-only: a writer migrates it first). */
		viol(c,
		     "meta: version %" PRIu32 ", the store was opened as "
		     "version %u",
		     hf_rd32(v.mv_data), hf_store_int_version(c->st));

	k = (MDB_val){7, (void *)"created"};
	rc = mdb_get(c->txn, c->dbi[HF_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND)
		viol(c, "meta: no created time");
	else if (rc)
		return hf_store_int_fail(c->st, "cannot read meta", rc);
	else if (v.mv_size != 8)
		viol(c, "meta: created time is %zu bytes, not 8", v.mv_size);
	return walk(c, HF_DB_META, check_meta_key);
}

/* ---- sessions -----------------------------------------------------------
 */

static int
check_session(struct ck *c, const MDB_val *k, const MDB_val *v)
{
	struct hf_store_session s;
	struct sess *e;
	char w[WHO_LEN];
	uint64_t sid;

	c->counts.sessions++;
	if (!key_ok(c, HF_DB_SESSIONS, k, 8))
		return 0;
	sid = hf_rd64(k->mv_data);
	if (grow((void **)&c->sess, &c->capsess, c->nsess, sizeof(*c->sess)))
		return HF_STORE_ENOMEM;
	e = &c->sess[c->nsess++];
	memset(e, 0, sizeof(*e));
	e->sid = sid;
	if (sid == 0)
		viol(c, "sessions: session id 0 (ids start at 1)");
	if (hf_rec_session_dec(v->mv_data, v->mv_size, sid,
	                       hf_store_int_version(c->st), &s)) {
		viol(c,
		     "sessions: session %" PRIu64 ": record of %zu bytes "
		     "does not decode",
		     sid, v->mv_size);
		return 0;
	}
	e->cid = s.client_id;
	e->cid_len = s.client_id_len;
	e->will_msg = s.will_msg;
	if (s.proto < 3 || s.proto > 5)
		viol(c, "sessions: %s: protocol level %u (not 3, 4 or 5)",
		     who(c, w, sizeof(w), sid), s.proto);
	if (s.will_at && !s.will_msg)
		viol(c, "sessions: %s: will due at %" PRId64 " but no will",
		     who(c, w, sizeof(w), sid), s.will_at);
	return 0;
}

/* Two sessions with one client id: the engine would restore both. */
static int
check_client_ids(struct ck *c)
{
	struct named_list l = {0};
	char e[ESC_LEN];

	for (size_t i = 0; i < c->nsess; i++)
		if (c->sess[i].cid &&
		    named_push(&l, c->sess[i].cid, c->sess[i].cid_len,
		               c->sess[i].sid, 0)) {
			free(l.v);
			return HF_STORE_ENOMEM;
		}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_named);
	for (size_t i = 1; i < l.n; i++)
		if (named_eq(&l.v[i - 1], &l.v[i]))
			viol(c,
			     "sessions: sessions %" PRIu64 " and %" PRIu64
			     " have the same client id \"%s\"",
			     l.v[i - 1].a, l.v[i].a,
			     esc(e, l.v[i].p, l.v[i].len));
	free(l.v);
	return 0;
}

/* ---- messages and reference counts ---------------------------------------
 */

static int
check_msg(struct ck *c, const MDB_val *k, const MDB_val *v)
{
	struct hf_store_msg m;
	struct msg *e;
	uint64_t id;

	c->counts.msgs++;
	if (!key_ok(c, HF_DB_MSGS, k, 8))
		return 0;
	id = hf_rd64(k->mv_data);
	if (grow((void **)&c->msgs, &c->capmsgs, c->nmsgs, sizeof(*c->msgs)))
		return HF_STORE_ENOMEM;
	e = &c->msgs[c->nmsgs++];
	memset(e, 0, sizeof(*e));
	e->id = id;
	if (id == 0)
		viol(c, "msgs: message id 0 (ids start at 1)");
	if (hf_rec_msg_dec(v->mv_data, v->mv_size, id, &m)) {
		viol(c,
		     "msgs: message %" PRIu64 ": record of %zu bytes does "
		     "not decode",
		     id, v->mv_size);
		return 0;
	}
	e->flags = M_BODY | (m.retain ? M_RETAIN : 0);
	e->topic = m.topic;
	e->topic_len = m.topic_len;
	e->payload_len = m.payload_len;
	if (m.topic_len == 0)
		viol(c, "msgs: message %" PRIu64 ": empty topic", id);
	return 0;
}

static int
check_mref(struct ck *c, const MDB_val *k, const MDB_val *v)
{
	struct msg *e;
	uint64_t id;

	if (!key_ok(c, HF_DB_MREFS, k, 8))
		return 0;
	id = hf_rd64(k->mv_data);
	e = find_msg(c, id);
	if (v->mv_size != 4) {
		viol(c, "mrefs: message %" PRIu64 ": count of %zu bytes, not 4",
		     id, v->mv_size);
		if (e)
			e->flags |= M_COUNT | M_COUNT_BAD;
		return 0;
	}
	if (!e) {
		viol(c,
		     "mrefs: message %" PRIu64 ": reference count %" PRIu32
		     " but no body in msgs",
		     id, hf_rd32(v->mv_data));
		return 0;
	}
	e->flags |= M_COUNT;
	e->count = hf_rd32(v->mv_data);
	if (e->count == 0)
		viol(c,
		     "mrefs: message %" PRIu64 ": reference count 0 (the "
		     "body should have been deleted)",
		     id);
	return 0;
}

/* After every reference was tallied: counts against references. */
static void
check_counts(struct ck *c)
{
	char e[ESC_LEN];

	for (size_t i = 0; i < c->nmsgs; i++) {
		struct msg *m = &c->msgs[i];
		uint64_t named = m->nqueue + m->nret + m->nwill;
		const char *t = m->flags & M_BODY
		                    ? esc(e, m->topic, m->topic_len)
		                    : "(bad record)";

		if (!(m->flags & M_COUNT)) {
			viol(c,
			     "msgs: message %" PRIu64 " (topic \"%s\"): no "
			     "reference count in mrefs",
			     m->id, t);
			continue;
		}
		if (m->flags & M_COUNT_BAD || m->count == 0)
			continue; /* reported with mrefs */
		if (named == 0)
			viol(c,
			     "mrefs: message %" PRIu64 " (topic \"%s\"): "
			     "orphan: reference count %" PRIu32 " but "
			     "nothing names it",
			     m->id, t, m->count);
		else if (named != m->count)
			viol(c,
			     "mrefs: message %" PRIu64 " (topic \"%s\"): "
			     "reference count %" PRIu32 " but %" PRIu64
			     " references (%" PRIu64 " queue entries, %" PRIu32
			     " retained marks, %" PRIu32 " wills)",
			     m->id, t, m->count, named, m->nqueue, m->nret,
			     m->nwill);
	}
}

static void
check_wills(struct ck *c)
{
	char w[WHO_LEN];

	for (size_t i = 0; i < c->nsess; i++) {
		struct sess *s = &c->sess[i];
		struct msg *m;

		if (!s->will_msg)
			continue;
		m = find_msg(c, s->will_msg);
		if (m)
			m->nwill++;
		else
			viol(c,
			     "sessions: %s: will message %" PRIu64
			     " is not stored",
			     who(c, w, sizeof(w), s->sid), s->will_msg);
	}
}

/* ---- per-session scratch: filters and in-flight packet ids ----------------
 */

static void
flush_session(struct ck *c)
{
	char w[WHO_LEN], e[ESC_LEN];
	struct named_list *l = &c->filters;

	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_named);
	for (size_t i = 1; i < l->n; i++)
		if (named_eq(&l->v[i - 1], &l->v[i]))
			viol(c,
			     "subs: %s: filter \"%s\" stored twice (slots "
			     "%#" PRIx64 " and %#" PRIx64 ")",
			     who(c, w, sizeof(w), l->v[i].a),
			     esc(e, l->v[i].p, l->v[i].len), l->v[i - 1].b,
			     l->v[i].b);
	l->n = 0;
	for (size_t i = 0; i < c->npids_set; i++) {
		uint16_t pid = c->pids_set[i];

		c->pid_used[pid >> 3] &= (uint8_t) ~(1u << (pid & 7));
	}
	c->npids_set = 0;
}

/* Start the per-session scratch over when the walk reaches another sid. */
static void
enter_session(struct ck *c, uint64_t sid)
{
	if (c->have_cur && c->cur_sid == sid)
		return;
	flush_session(c);
	c->cur_sid = sid;
	c->have_cur = true;
}

static void
leave_sessions(struct ck *c)
{
	flush_session(c);
	c->have_cur = false;
}

/* ---- subscriptions ------------------------------------------------------
 */

static int
check_sub(struct ck *c, const MDB_val *k, const MDB_val *v)
{
	struct hf_store_sub s;
	char w[WHO_LEN], e[ESC_LEN];
	uint64_t sid, slot, h;

	c->counts.subs++;
	if (!key_ok(c, HF_DB_SUBS, k, 16))
		return 0;
	sid = hf_rd64(k->mv_data);
	slot = hf_rd64((const uint8_t *)k->mv_data + 8);
	enter_session(c, sid);
	if (hf_rec_sub_dec(v->mv_data, v->mv_size, sid, &s)) {
		viol(c,
		     "subs: %s slot %#" PRIx64 ": record of %zu bytes does "
		     "not decode",
		     who(c, w, sizeof(w), sid), slot, v->mv_size);
		return 0;
	}
	esc(e, s.filter, s.filter_len);
	if (!find_sess(c, sid))
		viol(c,
		     "subs: %s: subscription \"%s\" of a session that is "
		     "not stored",
		     who(c, w, sizeof(w), sid), e);
	if (s.filter_len == 0)
		viol(c, "subs: %s slot %#" PRIx64 ": empty filter",
		     who(c, w, sizeof(w), sid), slot);
	/* The slot is hash + probe, probe < HF_SUB_PROBES (mod 2^64). */
	h = hf_rec_hash(s.filter, s.filter_len) & c->mask;
	if (slot - h >= HF_SUB_PROBES)
		viol(c,
		     "subs: %s: filter \"%s\" at slot %#" PRIx64
		     ", not within %d slots of its hash %#" PRIx64,
		     who(c, w, sizeof(w), sid), e, slot, HF_SUB_PROBES, h);
	if ((s.opts & 3) == 3 || (s.opts >> 4 & 3) == 3 || (s.opts & 0xc0))
		viol(c, "subs: %s: filter \"%s\": bad options byte %#04x",
		     who(c, w, sizeof(w), sid), e, s.opts);
	return named_push(&c->filters, s.filter, s.filter_len, sid, slot);
}

/* ---- queue entries ------------------------------------------------------
 */

static void
check_qentry_state(struct ck *c, const struct hf_store_qentry *q,
                   const uint8_t *raw)
{
	char w[WHO_LEN];

#define W who(c, w, sizeof(w), q->sid)
	if (q->qos == 0 && q->state != 0)
		viol(c, "queue: %s seq %" PRIu64 ": QoS 0 entry in state %u", W,
		     q->seq, q->state);
	if (q->state == 2 && q->qos != 2)
		viol(c,
		     "queue: %s seq %" PRIu64 ": state 2 (PUBREL sent) "
		     "with QoS %u",
		     W, q->seq, q->qos);
	if (q->state > 0 && q->pid == 0)
		viol(c, "queue: %s seq %" PRIu64 ": state %u with packet id 0",
		     W, q->seq, q->state);
	if (q->state == 0 && q->pid != 0)
		viol(c,
		     "queue: %s seq %" PRIu64 ": queued (state 0) with "
		     "packet id %u",
		     W, q->seq, q->pid);
	for (uint16_t i = 0; i < q->n_subids; i++) {
		uint32_t id = hf_rd32(raw + 4 * (size_t)i);

		if (id == 0 || id > 268435455u) {
			viol(c,
			     "queue: %s seq %" PRIu64 ": subscription "
			     "identifier %" PRIu32 " out of 1..268435455",
			     W, q->seq, id);
			break;
		}
	}
	if (q->state > 0 && q->pid != 0) {
		uint16_t pid = q->pid;

		if (c->pid_used[pid >> 3] & (1u << (pid & 7))) {
			viol(c,
			     "queue: %s: entries seq %" PRIu64 " and %" PRIu64
			     " are both in flight with packet id %u",
			     W, c->pid_seq[pid], q->seq, pid);
			return;
		}
		c->pid_used[pid >> 3] |= (uint8_t)(1u << (pid & 7));
		c->pid_seq[pid] = q->seq;
		c->pids_set[c->npids_set++] = pid;
	}
#undef W
}

static int
check_qentry(struct ck *c, const MDB_val *k, const MDB_val *v)
{
	struct hf_store_qentry q;
	const uint8_t *raw;
	char w[WHO_LEN];
	struct msg *m;
	uint64_t sid, seq;

	c->counts.queue_entries++;
	if (!key_ok(c, HF_DB_QUEUE, k, 16))
		return 0;
	sid = hf_rd64(k->mv_data);
	seq = hf_rd64((const uint8_t *)k->mv_data + 8);
	enter_session(c, sid);
	if (hf_rec_qentry_dec(v->mv_data, v->mv_size, sid, seq,
	                      hf_store_int_version(c->st), &q, &raw)) {
		viol(c,
		     "queue: %s seq %" PRIu64 ": record of %zu bytes does "
		     "not decode",
		     who(c, w, sizeof(w), sid), seq, v->mv_size);
		return 0;
	}
	if (!find_sess(c, sid))
		viol(c,
		     "queue: %s seq %" PRIu64 ": entry of a session that is "
		     "not stored",
		     who(c, w, sizeof(w), sid), seq);
	if (seq == 0)
		viol(c, "queue: %s: seq 0 (sequence numbers start at 1)",
		     who(c, w, sizeof(w), sid));
	m = find_msg(c, q.msg_id);
	if (!m) {
		viol(c,
		     "queue: %s seq %" PRIu64 ": message %" PRIu64
		     " is not stored",
		     who(c, w, sizeof(w), sid), seq, q.msg_id);
	} else {
		m->nqueue++;
		if (m->flags & M_BODY && m->payload_len != q.payload_len)
			viol(c,
			     "queue: %s seq %" PRIu64
			     ": payload length %" PRIu32 ", message %" PRIu64
			     " has %" PRIu32,
			     who(c, w, sizeof(w), sid), seq, q.payload_len,
			     q.msg_id, m->payload_len);
	}
	check_qentry_state(c, &q, raw);
	return 0;
}

/* ---- qos2 and retained ---------------------------------------------------
 */

static int
check_qos2(struct ck *c, const MDB_val *k, const MDB_val *v)
{
	char w[WHO_LEN];
	uint64_t sid;
	uint16_t pid;

	c->counts.qos2++;
	if (!key_ok(c, HF_DB_QOS2, k, 10))
		return 0;
	sid = hf_rd64(k->mv_data);
	pid = hf_rd16((const uint8_t *)k->mv_data + 8);
	if (v->mv_size)
		viol(c, "qos2: %s packet id %u: value of %zu bytes, not empty",
		     who(c, w, sizeof(w), sid), pid, v->mv_size);
	if (!find_sess(c, sid))
		viol(c,
		     "qos2: %s packet id %u: of a session that is not "
		     "stored",
		     who(c, w, sizeof(w), sid), pid);
	if (pid == 0)
		viol(c, "qos2: %s: packet id 0", who(c, w, sizeof(w), sid));
	return 0;
}

static int
check_retained(struct ck *c, const MDB_val *k, const MDB_val *v)
{
	char e[ESC_LEN];
	struct msg *m;
	uint64_t id;

	c->counts.retained++;
	if (!key_ok(c, HF_DB_RETAINED, k, 8))
		return 0;
	id = hf_rd64(k->mv_data);
	if (v->mv_size)
		viol(c,
		     "retained: message %" PRIu64 ": value of %zu bytes, "
		     "not empty",
		     id, v->mv_size);
	m = find_msg(c, id);
	if (!m) {
		viol(c, "retained: message %" PRIu64 " is not stored", id);
		return 0;
	}
	m->nret++;
	if (!(m->flags & M_BODY))
		return 0;
	if (!(m->flags & M_RETAIN))
		viol(c,
		     "retained: message %" PRIu64 " (topic \"%s\"): its "
		     "retain flag is 0",
		     id, esc(e, m->topic, m->topic_len));
	return named_push(&c->filters, m->topic, m->topic_len, id, 0);
}

/* Two retained marks for one topic: only one is the retained message. */
static void
check_retained_topics(struct ck *c)
{
	struct named_list *l = &c->filters;
	char e[ESC_LEN];

	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_named);
	for (size_t i = 1; i < l->n; i++)
		if (named_eq(&l->v[i - 1], &l->v[i]))
			viol(c,
			     "retained: messages %" PRIu64 " and %" PRIu64
			     " are both retained for topic \"%s\"",
			     l->v[i - 1].a, l->v[i].a,
			     esc(e, l->v[i].p, l->v[i].len));
	l->n = 0;
}

/* ---- the whole check ----------------------------------------------------
 */

static int
run(struct ck *c)
{
	int rc;

	if ((rc = check_meta(c)) ||
	    (rc = walk(c, HF_DB_SESSIONS, check_session)) ||
	    (rc = check_client_ids(c)) ||
	    (rc = walk(c, HF_DB_MSGS, check_msg)) ||
	    (rc = walk(c, HF_DB_MREFS, check_mref)))
		return rc;
	rc = walk(c, HF_DB_SUBS, check_sub);
	leave_sessions(c);
	if (rc)
		return rc;
	rc = walk(c, HF_DB_QUEUE, check_qentry);
	leave_sessions(c);
	if (rc || (rc = walk(c, HF_DB_QOS2, check_qos2)) ||
	    (rc = walk(c, HF_DB_RETAINED, check_retained)))
		return rc;
	check_retained_topics(c);
	check_wills(c);
	check_counts(c);
	return 0;
}

int
hf_store_check(struct hf_store *st,
               void (*report)(void *ctx, const char *violation), void *ctx,
               struct hf_store_check_counts *counts)
{
	struct ck *c = calloc(1, sizeof(*c));
	int rc;

	if (counts)
		memset(counts, 0, sizeof(*counts));
	if (!c)
		return HF_STORE_ENOMEM;
	c->st = st;
	c->report = report;
	c->ctx = ctx;
	c->mask = hf_store_int_hash_mask(st);
	c->pids_set = malloc(65536 * sizeof(*c->pids_set));
	if (!c->pids_set) {
		free(c);
		return HF_STORE_ENOMEM;
	}
	rc = hf_store_int_read_begin(st, &c->txn, c->dbi);
	if (rc == 0) {
		rc = run(c);
		hf_store_int_read_end(st, c->txn);
	}
	if (rc == HF_STORE_ENOMEM)
		hf_store_int_fail(st, "cannot check", ENOMEM);
	if (rc == 0)
		rc = c->violations > INT_MAX ? INT_MAX : (int)c->violations;
	if (counts)
		*counts = c->counts;
	free(c->sess);
	free(c->msgs);
	free(c->filters.v);
	free(c->pids_set);
	free(c);
	return rc;
}
