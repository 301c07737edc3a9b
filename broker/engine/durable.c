/* broker/engine/durable.c - the engine's side of the durable store.
 *
 * Translates engine objects (sessions, messages, queue entries) into store
 * records (include/holdfast/store.h) and back, and rebuilds the engine's
 * state at start-up. Every function is a no-op when persistence is off
 * (b->store == NULL), so the rest of the engine calls them unconditionally.
 *
 * What is durable: persistent sessions (3.1.1 clean session 0, v5 session
 * expiry > 0) with their subscriptions, will, queue entries (waiting and in
 * flight, with QoS 2 stage) and inbound QoS 2 packet ids; message bodies
 * referenced by any of those; retained messages (except $SYS topics). What
 * is not: clean sessions, which end with their connection anyway.
 *
 * Start-up reads sessions, subscriptions, inbound QoS 2 ids, retained
 * messages and per-session queue counts; queued message bodies stay on disk
 * and are streamed in by hf_session_pump() when their client is back.
 *
 * Write errors, and what each costs (docs/ARCHITECTURE.md, "When the store
 * fails"):
 *   - HF_STORE_EINCONSISTENT: records disagree with a write (a bookkeeping
 *     error, or damage on disk). Contained: logged, counted, the broker
 *     carries on; the transaction stands.
 *   - HF_STORE_EFULL (map at persistence_max_size, disk full) or
 *     HF_STORE_ENOMEM, and an allocation failure where the engine would
 *     otherwise drop a QoS 1/2 delivery (hf_dur_fail_turn): the turn is
 *     lost. b->store_failed is set; nothing of the turn is acknowledged,
 *     and the end of the turn resets the engine to the last commit
 *     (broker.c): every connection is closed, the state is read back as
 *     at start-up, clients reconnect and send again what was not
 *     acknowledged.
 *   - anything else (HF_STORE_EIO: a write or fsync the disk refused):
 *     what the disk holds is not known, so the broker stops without
 *     acknowledging the turn and the next start reads what is there.
 * Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "holdfast/bytes.h"
#include "holdfast/store.h"
#include "broker.h"
#include "connect.h"
#include "durable.h"
#include "ident.h"
#include "msg.h"
#include "outq.h"
#include "pidset.h"
#include "subscribe.h"

/* Properties blob: what follows the payload in hf_msg.data, behind a small
 * header. */
#define PROPS_HDR 16

/* Record the outcome of a store write. Writes that an outgoing packet
 * depends on (an acknowledgment, a QoS 2 PUBLISH or PUBREL, a SUBACK, a
 * CONNACK) make the turn's commit a synced one before that output leaves;
 * the others ("lazy": a queue entry removed after its acknowledgment, the
 * sent state of a QoS 1 delivery, a session's disconnect time) ride along
 * with the next commit, synced or timed (see end_of_turn). Losing a lazy
 * write in a crash costs at most a QoS 1 redelivery. */
/* A full store is one of two things an operator fixes differently: the
 * disk (ENOSPC, EDQUOT: the store's message names the file and says "No
 * space left on device") or the store's own cap (persistence_max_size,
 * LMDB's MDB_MAP_FULL, which the store turns into HF_STORE_EFULL). */
static void
log_store_full(struct hf_broker *b, const char *what)
{
	const char *msg = hf_store_errmsg(b->store);
	bool disk = strstr(msg, "No space left") || strstr(msg, "quota");
	if (disk)
		hf_log_ev(&b->log, HF_LOG_ERR, "store_full", NULL, NULL,
		          "Error: store %s failed: no space left on device: "
		          "%s.",
		          what, msg);
	else
		hf_log_ev(
		    &b->log, HF_LOG_ERR, "store_full", NULL, NULL,
		    "Error: store %s failed: persistence_max_size "
		    "(%llu bytes) reached in %s%s: %s.",
		    what, (unsigned long long)b->conf->persistence_max_size,
		    b->conf->persistence_location
		        ? b->conf->persistence_location
		        : "",
		    b->conf->persistence_file ? b->conf->persistence_file : "",
		    msg);
}

static void
check_as(struct hf_broker *b, int rc, const char *what, bool lazy)
{
	if (!lazy)
		b->dur_sync_needed = true;
	if (rc == 0 || b->store_failed)
		return;
	if (rc == HF_STORE_EINCONSISTENT) {
		/* Contained: the records named disagree with this write (a
		 * bookkeeping error, or damage on disk), but the transaction
		 * stands and everything else in it is sound. The store has
		 * applied what it could (a count never goes below zero);
		 * holdfast-db check shows what remains. One session's
		 * records must not stop the broker for everyone. */
		b->stats.store_inconsistent++;
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: store %s met an inconsistency (contained, "
		       "broker carries on): %s.",
		       what, hf_store_errmsg(b->store));
		return;
	}
	b->store_failed = true;
	b->store_fail_rc = rc;
	if (rc == HF_STORE_EFULL)
		log_store_full(b, what);
	else
		hf_log(&b->log, HF_LOG_ERR, "Error: store %s failed: %s.", what,
		       hf_store_errmsg(b->store));
}

void
hf_dur_fail_turn(struct hf_broker *b, const char *why)
{
	if (!b->store || b->store_failed)
		return;
	b->store_failed = true;
	b->store_fail_rc = HF_STORE_ENOMEM;
	hf_log(&b->log, HF_LOG_ERR,
	       "Error: %s; this turn's messages cannot be kept as promised.",
	       why);
}

void
hf_dur_abort(struct hf_broker *b)
{
	if (b->store)
		hf_store_abort(b->store);
}

bool
hf_dur_turn_recoverable(const struct hf_broker *b)
{
	return b->store && (b->store_fail_rc == HF_STORE_EFULL ||
	                    b->store_fail_rc == HF_STORE_ENOMEM);
}

static void
check(struct hf_broker *b, int rc, const char *what)
{
	check_as(b, rc, what, false);
}

void
hf_dur_msg_ref(struct hf_broker *b, struct hf_msg *m, int32_t delta)
{
	if (!b->store || delta == 0)
		return;
	if (m->store_id) {
		int rc = hf_store_msg_ref(b->store, m->store_id, delta);
		if (rc == 0 || delta < 0 || rc != HF_STORE_EINCONSISTENT) {
			check(b, rc, "message reference");
			return;
		}
		/* Its stored body was released meanwhile (every stored
		 * reference acknowledged) while the message lived on in
		 * memory: store it again under a new id. */
		if (m->cache) {
			hf_map_del(m->cache, &m->store_id, sizeof(m->store_id));
			m->cache = NULL;
		}
		m->store_id = 0;
		m->retained_durable = false;
	}
	if (delta < 0)
		return;
	size_t extra =
	    (size_t)m->ctype_len + m->rtopic_len + m->corr_len + m->user_len;
	uint8_t *blob = malloc(PROPS_HDR + extra);
	if (!blob) {
		hf_dur_fail_turn(b, "out of memory storing a message");
		return;
	}
	blob[0] = m->has_payload_format ? 1 : 0;
	blob[1] = m->payload_format;
	hf_be16(blob + 2, m->ctype_len);
	hf_be16(blob + 4, m->rtopic_len);
	hf_be16(blob + 6, m->corr_len);
	hf_be32(blob + 8, m->user_len);
	hf_be32(blob + 12, m->n_user);
	memcpy(blob + PROPS_HDR, hf_msg_payload(m) + m->payload_len, extra);
	struct hf_store_msg r = {
	    .id = ++b->next_msg_id,
	    .qos = m->qos,
	    .retain = m->retain,
	    .expiry_at = m->has_expiry ? m->expiry_at : 0,
	    .topic = hf_msg_topic(m),
	    .topic_len = m->topic_len,
	    .payload = hf_msg_payload(m),
	    .payload_len = m->payload_len,
	    .props = blob,
	    .props_len = (uint32_t)(PROPS_HDR + extra),
	};
	int rc = hf_store_msg_put(b->store, &r, (uint32_t)delta);
	b->m.turn_msgs++;
	free(blob);
	check(b, rc, "message write");
	m->store_id = r.id;
	if (!m->cache && hf_map_put(&b->msg_cache, &m->store_id, 8, m) == 0)
		m->cache = &b->msg_cache;
}

/* Build an in-memory message from a stored body. */
static struct hf_msg *
msg_from_record(const struct hf_store_msg *r, bool *oom)
{
	if (r->props_len < PROPS_HDR)
		return NULL;
	const uint8_t *h = r->props;
	uint32_t ct = hf_rd16(h + 2), rt = hf_rd16(h + 4), cd = hf_rd16(h + 6);
	uint32_t ul = hf_rd32(h + 8);
	if ((uint64_t)PROPS_HDR + ct + rt + cd + ul != r->props_len)
		return NULL;
	size_t extra = r->props_len - PROPS_HDR;
	struct hf_msg *m =
	    malloc(sizeof(*m) + r->topic_len + r->payload_len + extra);
	if (!m) {
		*oom = true;
		return NULL;
	}
	memset(m, 0, sizeof(*m));
	m->refs = 1;
	m->store_id = r->id;
	m->qos = r->qos;
	m->retain = r->retain;
	m->has_payload_format = h[0] & 1;
	m->payload_format = h[1];
	m->ctype_len = (uint16_t)ct;
	m->rtopic_len = (uint16_t)rt;
	m->corr_len = (uint16_t)cd;
	m->user_len = ul;
	m->n_user = hf_rd32(h + 12);
	m->has_expiry = r->expiry_at != 0;
	m->expiry_at = r->expiry_at;
	m->topic_len = r->topic_len;
	m->payload_len = r->payload_len;
	hf_msg_counted(m);
	memcpy(m->data, r->topic, r->topic_len);
	if (r->payload_len)
		memcpy(m->data + r->topic_len, r->payload, r->payload_len);
	memcpy(m->data + r->topic_len + r->payload_len, h + PROPS_HDR, extra);
	return m;
}

struct load_ctx {
	struct hf_msg *m;
	bool oom;
};

static void
load_cb(void *ctx, const struct hf_store_msg *r)
{
	struct load_ctx *l = ctx;
	l->m = msg_from_record(r, &l->oom);
}

struct hf_msg *
hf_dur_msg_load(struct hf_broker *b, uint64_t id)
{
	struct hf_msg *m = hf_map_get(&b->msg_cache, &id, 8);
	if (m) {
		hf_msg_ref(m);
		return m;
	}
	/* A failed turn reads nothing more: with the writer thread a read
	 * first commits what is logged, and the turn's writes must not be. */
	if (!b->store || b->store_failed)
		return NULL;
	struct load_ctx l = {NULL, false};
	int rc = hf_store_msg_get(b->store, id, load_cb, &l);
	if (l.oom || rc == HF_STORE_ENOMEM) {
		hf_dur_fail_turn(b, "out of memory reading a stored message");
		return NULL;
	}
	if (rc != 0 || !l.m) {
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: stored message %llu cannot be read (%s).",
		       (unsigned long long)id,
		       rc ? hf_store_errmsg(b->store) : "bad record");
		return NULL;
	}
	if (hf_map_put(&b->msg_cache, &l.m->store_id, 8, l.m) == 0)
		l.m->cache = &b->msg_cache;
	return l.m;
}

/* The session's store record, written when the session is persistent or
 * already has a record (a stored session resumed or ended with expiry 0
 * keeps its record up to date until it is deleted).
 *
 * Invariant kept here: a message's store reference count is the number of
 * queue records, retained marks and session records (will_msg) that name it
 * (persistence/README.md). A session record holds one reference on its
 * will; s->dur_will is the id the record names. Changing the will therefore
 * takes a reference on the new one before the record is written and gives
 * back the old one after, in the same transaction; nothing else in the
 * engine changes a will's store references (hf_dur_session_drop() lets the
 * store release it with the record). */
void
hf_dur_session_save(struct hf_session *s, bool sync)
{
	struct hf_broker *b = s->b;
	if (!b->store || (!s->sid && !s->persistent))
		return;
	if (!s->sid) { /* first save: the session becomes durable */
		s->sid = ++b->next_sid;
		s->next_seq = 1;
	}
	uint64_t old = s->dur_will, want = 0;
	if (s->will) {
		if (!s->will->store_id || s->will->store_id != old)
			hf_dur_msg_ref(b, s->will, 1);
		want = s->will->store_id;
	}
	int64_t now_wall = hf_wall_ms();
	struct hf_store_session r = {
	    .sid = s->sid,
	    .client_id = (const uint8_t *)s->id,
	    .client_id_len = s->id_len,
	    .proto = s->proto,
	    .expiry = s->expiry,
	    /* wall-clock time of the disconnection, kept across
	     * re-saves so expiry counts from the real moment */
	    .disconnected_at =
	        s->client ? 0 : now_wall - (hf_now_ms(b) - s->offline_since),
	    .will_msg = want,
	    .will_delay = s->will_delay,
	    .will_at = s->will_at ? now_wall + (s->will_at - hf_now_ms(b)) : 0,
	    .listener_port = hf_session_listener_port(s),
	};
	const struct hf_ident *id = s->ident;
	if (id && id->username) {
		r.has_username = true;
		r.username = (const uint8_t *)id->username;
		r.username_len = (uint16_t)strlen(id->username);
	}
	if (id && id->cert_cn) {
		r.has_cert_cn = true;
		r.cert_cn = (const uint8_t *)id->cert_cn;
		r.cert_cn_len = (uint16_t)strlen(id->cert_cn);
	}
	check_as(b, hf_store_session_put(b->store, &r), "session write", !sync);
	s->dur_will = want;
	if (old && old != want)
		check_as(b, hf_store_msg_ref(b->store, old, -1),
		         "will reference", !sync);
}

void
hf_dur_session_drop(struct hf_session *s)
{
	if (!s->b->store || !s->sid)
		return;
	/* The store releases the will's reference with the record. */
	check(s->b, hf_store_session_del(s->b->store, s->sid),
	      "session delete");
	s->sid = 0;
	s->dur_will = 0;
}

void
hf_dur_sub_put(struct hf_session *s, const struct hf_subrec *r)
{
	if (!s->b->store || !s->sid)
		return;
	struct hf_store_sub rec = {
	    .sid = s->sid,
	    .filter = (const uint8_t *)r->filter,
	    .filter_len = r->len,
	    .opts = r->opts,
	    .sub_id = r->sub_id,
	};
	check(s->b, hf_store_sub_put(s->b->store, &rec), "subscription write");
}

void
hf_dur_sub_del(struct hf_session *s, const uint8_t *f, uint16_t len)
{
	if (!s->b->store || !s->sid)
		return;
	check(s->b, hf_store_sub_del(s->b->store, s->sid, f, len),
	      "subscription delete");
}

void
hf_dur_qentry_put(struct hf_session *s, const struct hf_qentry *e)
{
	if (!s->b->store || !s->sid)
		return;
	struct hf_store_qentry r = {
	    .sid = s->sid,
	    .seq = e->seq,
	    .msg_id = e->msg->store_id,
	    .payload_len = e->msg->payload_len,
	    .qos = e->qos,
	    .state = e->state,
	    .retain = e->retain,
	    .pid = e->pid,
	    .n_subids = e->n_subids,
	    .subids = e->subids,
	};
	/* A QoS 1 delivery may go out before its "sent" mark is durable: a
	 * crash then only means sending it again as a new PUBLISH. */
	bool lazy = e->state == HF_Q_SENT && e->qos == 1;
	if (e->state == HF_Q_QUEUED)
		s->put_gen = hf_store_gen(s->b->store) + 1;
	check_as(s->b, hf_store_queue_put(s->b->store, &r), "queue write",
	         lazy);
}

void
hf_dur_reads_begin(struct hf_session *s)
{
	/* Reading the queue from disk_next on: every entry there, and the
	 * body it names, was written with a QUEUED put; the writes logged
	 * since touch only entries below disk_next (sent marks, deletions
	 * of acknowledged ones). So once the last QUEUED put has been handed
	 * over, the read need not commit the log (a commit per read would
	 * cost an fsync per refill while a queue drains). */
	if (s->b->store && s->put_gen <= hf_store_gen(s->b->store))
		hf_store_read_pending(s->b->store, false);
}

void
hf_dur_reads_end(struct hf_broker *b)
{
	if (b->store)
		hf_store_read_pending(b->store, true);
}

void
hf_dur_qentry_del(struct hf_session *s, uint64_t seq)
{
	if (!s->b->store || !s->sid)
		return;
	check_as(s->b, hf_store_queue_del(s->b->store, s->sid, seq),
	         "queue delete", true);
}

void
hf_dur_qos2(struct hf_session *s, uint16_t pid, bool on)
{
	if (!s->b->store || !s->sid)
		return;
	int rc = on ? hf_store_qos2_put(s->b->store, s->sid, pid)
	            : hf_store_qos2_del(s->b->store, s->sid, pid);
	check(s->b, rc, "QoS 2 state write");
}

static bool
is_sys(const struct hf_msg *m)
{
	return m->topic_len >= 1 && hf_msg_topic(m)[0] == '$';
}

void
hf_dur_retain(struct hf_broker *b, struct hf_msg *old, struct hf_msg *m)
{
	if (!b->store)
		return;
	if (old && old->retained_durable) {
		check(b, hf_store_retain_del(b->store, old->store_id),
		      "retained delete");
		old->retained_durable = false;
	}
	if (m && !is_sys(m)) {
		hf_dur_msg_ref(b, m, 1);
		if (!b->store_failed) {
			check(b, hf_store_retain_put(b->store, m->store_id),
			      "retained write");
			m->retained_durable = true;
		}
	}
}

struct qread {
	struct hf_broker *b;
	struct hf_qentry **out;
	size_t n, max;
	int err;
};

static int
qread_cb(void *ctx, const struct hf_store_qentry *r)
{
	struct qread *q = ctx;
	struct hf_qentry *e = hf_qentry_new(q->b);
	if (!e) {
		q->err = 1;
		return 1;
	}
	e->seq = r->seq;
	e->qos = r->qos;
	e->state = r->state;
	e->retain = r->retain;
	e->pid = r->pid;
	e->msg_id = r->msg_id; /* its body is loaded by the pump */
	if (r->n_subids) {
		e->subids = malloc(r->n_subids * sizeof(uint32_t));
		if (!e->subids) {
			hf_qentry_free(q->b, e);
			q->err = 1;
			return 1;
		}
		memcpy(e->subids, r->subids, r->n_subids * sizeof(uint32_t));
		e->n_subids = r->n_subids;
	}
	q->out[q->n++] = e;
	return q->n >= q->max ? 1 : 0;
}

int
hf_dur_queue_read(struct hf_session *s, size_t max, struct hf_qentry **out,
                  size_t *n)
{
	struct qread q = {.b = s->b, .out = out, .max = max};
	*n = 0;
	if (s->b->store_failed) /* see hf_dur_msg_load */
		return -1;
	int rc = hf_store_queue_each(s->b->store, s->sid, s->disk_next, max,
	                             qread_cb, &q);
	*n = q.n;
	if (q.err)
		return -2;
	if (rc < 0) {
		hf_log(&s->b->log, HF_LOG_ERR,
		       "Error: the queue of %s cannot be read: %s.", s->id,
		       hf_store_errmsg(s->b->store));
		return -1;
	}
	return 0;
}

static int
first_queued_at(void *ctx, const struct hf_store_qentry *r)
{
	*(int64_t *)ctx = r->queued_at;
	return 1;
}

int64_t
hf_dur_oldest_queued_at(struct hf_session *s)
{
	int64_t at = 0;
	if (!s->b->store || !s->sid || s->b->store_failed)
		return 0;
	/* Entries are in seq order: the first one, in flight or waiting,
	 * is the oldest. */
	hf_dur_reads_begin(s);
	if (hf_store_queue_each(s->b->store, s->sid, 0, 1, first_queued_at,
	                        &at) < 0)
		at = 0;
	hf_dur_reads_end(s->b);
	return at;
}

int
hf_dur_open(struct hf_broker *b, char *err, size_t errlen)
{
	const struct hf_config *c = b->conf;
	if (!c->persistence)
		return 0;
	struct hf_store_conf sc = {
	    .dir = c->persistence_location,
	    .file = c->persistence_file,
	    .sync = c->persistence_sync ? HF_SYNC_OS : HF_SYNC_FULL,
	    .initial_map_size = c->persistence_initial_size,
	    .max_map_size = c->persistence_max_size,
	};
	int rc = hf_store_open(&b->store, &sc, err, errlen);
	if ((rc == HF_STORE_ECORRUPT || rc == HF_STORE_EVERSION) &&
	    c->move_damaged_store) {
		hf_log(&b->log, HF_LOG_WARNING, "Warning: %s", err);
		if (hf_store_move_aside(&sc, err, errlen) != 0)
			return -1;
		hf_log(&b->log, HF_LOG_WARNING,
		       "Warning: damaged store moved aside "
		       "(--move-damaged-store); starting with an empty one.");
		rc = hf_store_open(&b->store, &sc, err, errlen);
	}
	return rc == 0 ? 0 : -1;
}

void
hf_dur_close(struct hf_broker *b)
{
	if (b->store && !b->store_failed && hf_store_pending(b->store) &&
	    hf_store_commit(b->store) != 0)
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: final store commit failed: %s.",
		       hf_store_errmsg(b->store));
	if (b->store)
		hf_store_close(b->store);
	b->store = NULL;
}

void
hf_dur_trim(struct hf_broker *b)
{
	if (b->store)
		hf_store_release_pages(b->store);
}

size_t
hf_dur_pending_ops(const struct hf_broker *b)
{
	return b->store ? hf_store_pending(b->store) : 0;
}

bool
hf_dur_pending(const struct hf_broker *b)
{
	return b->store && hf_store_pending(b->store) > 0;
}

/* ---- the writer thread -----------------------------------------------------
 * The store commits on a thread of its own (store.h) while the loop goes
 * on; broker.c's end_of_turn() hands batches over and holds the output
 * that waits for them. Everything here runs on the loop thread; the
 * store calls store_notify() from its thread, and uv_async_send() is the
 * one libuv call that may be made from another thread. */
static void
store_notify(void *arg)
{
	uv_async_send(arg);
}

void
hf_dur_start_writer(struct hf_broker *b, uv_async_t *wake)
{
	if (!b->store || b->dur_async)
		return;
	if (hf_store_start_writer(b->store, store_notify, wake) != 0) {
		hf_log(&b->log, HF_LOG_WARNING,
		       "Warning: the store's writer thread could not start "
		       "(%s); commits run in the loop.",
		       hf_store_errmsg(b->store));
		return;
	}
	b->dur_async = true;
}

void
hf_dur_stop_writer(struct hf_broker *b)
{
	if (!b->store || !b->dur_async)
		return;
	hf_dur_poll(b);
	hf_store_stop_writer(b->store);
	b->dur_async = false;
}

bool
hf_dur_async(const struct hf_broker *b)
{
	return b->store && b->dur_async;
}

bool
hf_dur_busy(const struct hf_broker *b)
{
	return b->store && b->dur_async && hf_store_busy(b->store);
}

void
hf_dur_submit(struct hf_broker *b)
{
	if (b->store)
		(void)hf_store_submit(b->store); /* busy: the caller checked */
}

/* Commit failures, whoever met them (the loop or the writer thread). */
static void
commit_failed(struct hf_broker *b, int rc)
{
	if (b->store_failed)
		return;
	hf_metrics_commit(b, false, 0);
	if (rc == HF_STORE_EFULL)
		log_store_full(b, "commit");
	else
		hf_log(&b->log, HF_LOG_ERR, "Error: store commit failed: %s.",
		       hf_store_errmsg(b->store));
	b->store_failed = true;
	b->store_fail_rc = rc;
}

bool
hf_dur_poll(struct hf_broker *b)
{
	struct hf_store_batch r;
	if (!b->store || !b->dur_async || !hf_store_reap(b->store, &r))
		return false;
	for (uint64_t i = 0; i < r.batches; i++)
		hf_metrics_commit(b, true, r.seconds / (double)r.batches);
	if (r.soft) {
		b->stats.store_inconsistent += r.soft;
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: store commit met %u inconsistencies (contained, "
		       "broker carries on): %s.",
		       r.soft, hf_store_errmsg(b->store));
	}
	if (r.rc) {
		commit_failed(b, r.rc);
		return false;
	}
	if (!r.in_flight)
		hf_dur_refresh_usage(b); /* the writer is idle: no wait */
	return r.batches > 0;
}

bool
hf_dur_commit(struct hf_broker *b)
{
	if (!b->store)
		return true;
	if (b->store_failed)
		return false;
	b->dur_sync_needed = false;
	if (b->dur_async) {
		/* Waits for the batch in flight, then commits the rest; a
		 * failure comes back through the reap (hf_dur_poll). */
		hf_store_commit(b->store);
		hf_dur_poll(b);
		return !b->store_failed;
	}
	if (hf_store_pending(b->store) == 0)
		return true;
	uint64_t t0 = uv_hrtime();
	int rc = hf_store_commit(b->store);
	if (rc != 0) {
		commit_failed(b, rc);
		return false;
	}
	hf_metrics_commit(b, true, (double)(uv_hrtime() - t0) / 1e9);
	hf_dur_refresh_usage(b);
	return true;
}

/* Full: less than a tenth of the maximum left, and never less than 64 KiB
 * (a turn's commit needs a few pages of its own; a full disk can leave a
 * store whose maximum is only what it already holds). */
#define FULL_ROOM_MIN (64u * 1024)

void
hf_dur_refresh_usage(struct hf_broker *b)
{
	uint64_t used, max;
	if (b->store && hf_store_usage(b->store, &used, &max) == 0 && max) {
		b->m.store_used = used; /* /metrics */
		b->m.store_max = max;
		uint64_t room =
		    max / 10 > FULL_ROOM_MIN ? max / 10 : FULL_ROOM_MIN;
		b->store_full = used + room > max;
	}
}

/* ---- start-up ----------------------------------------------------------- */

struct recover {
	struct hf_broker *b;
	struct hf_map by_sid;
	int64_t now_wall, now_mono;
	int err;
};

static int
rec_session(void *ctx, const struct hf_store_session *r)
{
	struct recover *rc = ctx;
	struct hf_broker *b = rc->b;
	struct hf_session *s =
	    hf_session_new(b, r->client_id, r->client_id_len);
	if (!s || hf_map_put(&rc->by_sid, &r->sid, 8, s) != 0) {
		rc->err = 1;
		return 1;
	}
	s->sid = r->sid;
	s->proto = r->proto;
	s->expiry = r->expiry;
	s->persistent = true;
	/* Checked as it was when it last connected, by that listener. */
	const struct hf_auth *auth =
	    b->auth_for_port
	        ? b->auth_for_port(b->auth_for_port_ctx, r->listener_port)
	        : b->default_auth;
	if (hf_ident_set(s, r->has_username ? (const char *)r->username : NULL,
	                 r->username_len,
	                 r->has_cert_cn ? (const char *)r->cert_cn : NULL,
	                 r->cert_cn_len, auth, r->listener_port) != 0) {
		rc->err = 1;
		return 1;
	}
	int64_t gone = r->disconnected_at ? r->disconnected_at : rc->now_wall;
	s->offline_since = rc->now_mono - (rc->now_wall - gone);
	s->dur_will = r->will_msg;
	if (r->will_msg) {
		s->will = hf_dur_msg_load(b, r->will_msg);
		s->will_delay = r->will_delay;
		if (r->will_at)
			s->will_at = rc->now_mono + (r->will_at - rc->now_wall);
		else if (!r->disconnected_at)
			/* connected when the broker stopped abnormally */
			s->will_at =
			    rc->now_mono + (int64_t)r->will_delay * 1000 + 1;
		if (s->will_at && s->will_at < 1)
			s->will_at = 1;
	}
	uint64_t count = 0, bytes = 0, last = 0;
	if (hf_store_queue_stat(b->store, s->sid, &count, &bytes, &last) != 0) {
		rc->err = 1;
		return 1;
	}
	hf_metrics_queued(s, count, bytes);
	s->next_seq = last + 1;
	s->disk_next = 0;
	return 0;
}

static int
rec_sub(void *ctx, const struct hf_store_sub *r)
{
	struct recover *rc = ctx;
	struct hf_session *s = hf_map_get(&rc->by_sid, &r->sid, 8);
	if (!s)
		return 0; /* orphan: ignored */
	if (hf_tree_sub(rc->b->tree, r->filter, r->filter_len, s, r->opts,
	                r->sub_id, NULL) != 0 ||
	    hf_session_add_subrec(s, r->filter, r->filter_len, r->opts,
	                          r->sub_id) != 0) {
		rc->err = 1;
		return 1;
	}
	return 0;
}

static int
rec_qos2(void *ctx, uint64_t sid, uint16_t pid)
{
	struct recover *rc = ctx;
	struct hf_session *s = hf_map_get(&rc->by_sid, &sid, 8);
	if (!s)
		return 0;
	if (!s->qos2_in && !(s->qos2_in = hf_pidset_new())) {
		rc->err = 1;
		return 1;
	}
	hf_pidset_put(s->qos2_in, pid, true);
	s->n_qos2_in++;
	return 0;
}

static int
rec_retained(void *ctx, const struct hf_store_msg *r)
{
	struct recover *rc = ctx;
	struct hf_broker *b = rc->b;
	bool oom = false;
	struct hf_msg *m = msg_from_record(r, &oom);
	if (!m) {
		rc->err = oom ? 1 : 2;
		return 1;
	}
	m->retained_durable = true;
	void *old = NULL;
	if (hf_retain_set(b->retained, hf_msg_topic(m), m->topic_len, m,
	                  &old) != 0) {
		hf_msg_unref(m);
		rc->err = 1;
		return 1;
	}
	if (hf_map_put(&b->msg_cache, &m->store_id, 8, m) == 0)
		m->cache = &b->msg_cache;
	hf_msg_unref(old);
	return 0;
}

int
hf_dur_recover(struct hf_broker *b)
{
	if (!b->store)
		return 0;
	struct recover rc = {
	    .b = b, .now_wall = hf_wall_ms(), .now_mono = hf_now_ms(b)};
	uint64_t max_sid = 0, max_msg = 0;
	int r = hf_store_max_ids(b->store, &max_sid, &max_msg);
	b->next_sid = max_sid;
	b->next_msg_id = max_msg;
	if (r == 0)
		r = hf_store_sessions_each(b->store, rec_session, &rc);
	if (r == 0 && !rc.err)
		r = hf_store_subs_each(b->store, rec_sub, &rc);
	if (r == 0 && !rc.err)
		r = hf_store_qos2_each(b->store, rec_qos2, &rc);
	if (r == 0 && !rc.err)
		r = hf_store_retained_each(b->store, rec_retained, &rc);
	hf_map_free(&rc.by_sid);
	if (r < 0 || rc.err) {
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: cannot read the store back: %s.",
		       r < 0 ? hf_store_errmsg(b->store)
		             : "a record does not decode or out of memory");
		return -1;
	}
	/* Sessions that were connected when the broker stopped are
	 * disconnected now: record that, so expiry counts from here. */
	for (struct hf_session *s = b->all_sessions; s; s = s->all_next)
		hf_dur_session_save(s, true);
	hf_store_release_pages(b->store); /* what the scan above touched */
	hf_log(&b->log, HF_LOG_NOTICE,
	       "Store: %u sessions, %zu subscriptions, %zu retained messages "
	       "restored.",
	       b->n_sessions, hf_tree_count(b->tree),
	       hf_retain_count(b->retained));
	if (hf_dur_commit(b))
		return 0;
	if (b->store_fail_rc != HF_STORE_EFULL)
		return -1;
	/* A full disk cannot take even the disconnection times written
	 * above: they only say when expiry and will delays count from, so
	 * the store, as committed, still agrees with what was read back. */
	hf_dur_abort(b);
	b->store_failed = false;
	b->store_fail_rc = 0;
	b->store_full = true;
	hf_log(&b->log, HF_LOG_WARNING,
	       "Warning: the store is full; sessions' disconnection times "
	       "are not stored yet.");
	return 0;
}
