/* broker/engine/dur_check.c - the invariants that tie the engine's memory to
 * the store, checked.
 *
 * The engine keeps some state twice: in memory (sessions, their in-flight
 * and queued deliveries, inbound QoS 2 ids, wills, retained messages) and,
 * for durable sessions, in the store. This file states what must agree and
 * checks it; the stateful engine fuzzer (tests/fuzz/fuzz_engine.c) and the
 * fault-injection tests run it after every step, and holdfast-db check
 * (persistence/check.c) checks the store's own invariants beside it.
 *
 * In memory, for every session s:
 *   M1 s->n_inflight is the length of the in-flight list; each entry has a
 *      packet id, no two the same, each marked in s->pids_out, nothing else
 *      marked there; entries are SENT or RELEASED (RELEASED only at QoS 2).
 *   M2 a session that is not durable keeps its waiting entries in
 *      s->q_head.., counted by n_queued/queued_bytes; a durable one keeps
 *      none there, or (its hot tail, outq.c) exactly its n_queued waiting
 *      entries, in seq order from disk_next on, only while online.
 *   M3 s->n_qos2_in is the number of ids marked in s->qos2_in.
 *   M4 s->client, when set, points back at s.
 *   M5 the subscription tree holds exactly the sessions' subscriptions
 *      (so freeing every session empties it: the reset relies on that).
 * Against the store, once the open transaction is committed (the checker
 * reads committed data only), for every durable session s:
 *   D1 its record exists, names its client id, expiry, username,
 *      certificate identity and listener port, and names as will exactly
 *      s->dur_will, which is s->will's store id (or 0 without one).
 *   D2 its stored subscriptions are exactly s->subs (filter, options, id).
 *   D3 its stored inbound QoS 2 ids are exactly those in s->qos2_in.
 *   D4 its queue records below s->disk_next are exactly its in-flight
 *      entries (seq, QoS, state, packet id, message id); those from
 *      s->disk_next on number s->n_queued; none is at or above next_seq.
 * And for the broker:
 *   D5 every stored session belongs to a session in memory with its sid.
 *   D6 the retained marks in the store are exactly the store ids of the
 *      retained messages in memory that are durable (retained_durable),
 *      and every retained message outside $-topics is durable.
 * Cost: O(sessions x stored records) - a tool for tests and fuzzing, not
 * for a broker in service. Loop thread only; reads through the store's read
 * functions. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast/store.h"
#include "broker.h"
#include "durable.h"
#include "ident.h"
#include "pidset.h"
#include "msg.h"

struct chk {
	struct hf_broker *b;
	void (*report)(void *ctx, const char *what);
	void *ctx;
	int n;
	/* per-session scratch */
	struct hf_session *s;
	uint32_t seen;
	uint64_t below, above;
	bool session_found;
};

__attribute__((format(printf, 2, 3))) static void
bad(struct chk *k, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	k->n++;
	if (k->report)
		k->report(k->ctx, line);
}

static void
check_memory(struct chk *k, struct hf_session *s)
{
	uint32_t n = 0, marked = 0;
	for (struct hf_qentry *e = s->inf_head; e && n <= s->n_inflight + 1;
	     e = e->next, n++) {
		if (!e->pid || !hf_pidset_has(s->pids_out, e->pid))
			bad(k, "%s: in-flight seq %" PRIu64 " pid %u unmarked",
			    s->id, e->seq, e->pid);
		if (e->state == HF_Q_QUEUED ||
		    (e->state == HF_Q_RELEASED && e->qos != 2))
			bad(k, "%s: in-flight seq %" PRIu64 " state %u qos %u",
			    s->id, e->seq, e->state, e->qos);
		for (struct hf_qentry *f = e->next; f; f = f->next)
			if (f->pid == e->pid)
				bad(k, "%s: pid %u in flight twice", s->id,
				    e->pid);
		if (!e->next && s->inf_tail != e)
			bad(k, "%s: in-flight tail is wrong", s->id);
	}
	if (n != s->n_inflight)
		bad(k, "%s: n_inflight %u, list holds %u", s->id, s->n_inflight,
		    n);
	for (uint32_t p = 1; s->pids_out && p <= 65535; p++)
		marked += hf_pidset_has(s->pids_out, (uint16_t)p);
	if (marked != s->n_inflight)
		bad(k, "%s: %u packet ids marked, %u in flight", s->id, marked,
		    s->n_inflight);
	if (s->sid && s->q_head && !s->client)
		bad(k,
		    "%s: offline durable session holds waiting entries in "
		    "memory",
		    s->id);
	if (s->sid && s->q_head) {
		uint64_t prev = 0;
		for (struct hf_qentry *e = s->q_head; e; e = e->next) {
			if (e->seq < s->disk_next || e->seq <= prev ||
			    e->seq >= s->next_seq)
				bad(k,
				    "%s: hot tail entry %" PRIu64
				    " out of order (disk_next %" PRIu64 ")",
				    s->id, e->seq, s->disk_next);
			prev = e->seq;
		}
	}
	if (!s->sid || s->q_head) {
		uint32_t q = 0;
		uint64_t bytes = 0;
		for (struct hf_qentry *e = s->q_head; e && q <= s->n_queued;
		     e = e->next, q++)
			bytes += e->msg->payload_len;
		if (q != s->n_queued || bytes != s->queued_bytes)
			bad(k,
			    "%s: queue counts %u/%" PRIu64 ", list %u/%" PRIu64,
			    s->id, s->n_queued, s->queued_bytes, q, bytes);
	}
	uint32_t q2 = 0;
	for (uint32_t p = 1; s->qos2_in && p <= 65535; p++)
		q2 += hf_pidset_has(s->qos2_in, (uint16_t)p);
	if (q2 != s->n_qos2_in)
		bad(k, "%s: n_qos2_in %u, bitmap holds %u", s->id, s->n_qos2_in,
		    q2);
	if (s->client && s->client->s != s)
		bad(k, "%s: its client points elsewhere", s->id);
}

static struct hf_session *
by_sid(struct hf_broker *b, uint64_t sid)
{
	for (struct hf_session *s = b->all_sessions; s; s = s->all_next)
		if (s->sid == sid)
			return s;
	return NULL;
}

static int
sess_cb(void *ctx, const struct hf_store_session *r)
{
	struct chk *k = ctx;
	struct hf_session *s = by_sid(k->b, r->sid);
	if (!s) {
		bad(k, "stored session %" PRIu64 " (%.*s) has no session",
		    r->sid, (int)r->client_id_len, (const char *)r->client_id);
		return 0;
	}
	if (r->client_id_len != s->id_len ||
	    memcmp(r->client_id, s->id, s->id_len) != 0)
		bad(k, "%s: stored under another client id", s->id);
	if (r->expiry != s->expiry)
		bad(k, "%s: stored expiry %u, session %u", s->id, r->expiry,
		    s->expiry);
	if (r->will_msg != s->dur_will)
		bad(k, "%s: stored will %" PRIu64 ", engine says %" PRIu64,
		    s->id, r->will_msg, s->dur_will);
	struct hf_acl_subject who = hf_session_subject(s);
	if (r->has_username != (who.username != NULL) ||
	    (who.username &&
	     (r->username_len != strlen(who.username) ||
	      memcmp(r->username, who.username, r->username_len) != 0)) ||
	    r->has_cert_cn != (who.cert_cn != NULL) ||
	    r->listener_port != hf_session_listener_port(s))
		bad(k,
		    "%s: stored identity (username, certificate, listener) "
		    "differs from the session's",
		    s->id);
	return 0;
}

static int
sub_cb(void *ctx, const struct hf_store_sub *r)
{
	struct chk *k = ctx;
	struct hf_session *s = k->s;
	if (r->sid != s->sid)
		return 0;
	k->seen++;
	for (uint32_t i = 0; i < s->n_subs; i++) {
		struct hf_subrec *m = &s->subs[i];
		if (m->len == r->filter_len &&
		    memcmp(m->filter, r->filter, m->len) == 0) {
			if (m->opts != r->opts || m->sub_id != r->sub_id)
				bad(k,
				    "%s: subscription %s stored with "
				    "options %u id %u, engine %u id %u",
				    s->id, m->filter, r->opts, r->sub_id,
				    m->opts, m->sub_id);
			return 0;
		}
	}
	bad(k, "%s: stored subscription %.*s unknown to the engine", s->id,
	    (int)r->filter_len, (const char *)r->filter);
	return 0;
}

static int
qos2_cb(void *ctx, uint64_t sid, uint16_t pid)
{
	struct chk *k = ctx;
	if (sid != k->s->sid)
		return 0;
	k->seen++;
	if (!hf_pidset_has(k->s->qos2_in, pid))
		bad(k, "%s: stored inbound QoS 2 id %u unknown to the engine",
		    k->s->id, pid);
	return 0;
}

static struct hf_qentry *
inflight_seq(struct hf_session *s, uint64_t seq)
{
	for (struct hf_qentry *e = s->inf_head; e; e = e->next)
		if (e->seq == seq)
			return e;
	return NULL;
}

static int
queue_cb(void *ctx, const struct hf_store_qentry *r)
{
	struct chk *k = ctx;
	struct hf_session *s = k->s;
	if (r->seq >= s->next_seq)
		bad(k, "%s: stored seq %" PRIu64 " not below next_seq %" PRIu64,
		    s->id, r->seq, s->next_seq);
	if (r->seq >= s->disk_next) {
		k->above++;
		return 0;
	}
	k->below++;
	struct hf_qentry *e = inflight_seq(s, r->seq);
	if (!e) {
		bad(k,
		    "%s: stored seq %" PRIu64 " (state %u) is behind the "
		    "read position and not in flight",
		    s->id, r->seq, r->state);
		return 0;
	}
	if (e->qos != r->qos || e->state != r->state || e->pid != r->pid ||
	    !e->msg || e->msg->store_id != r->msg_id)
		bad(k,
		    "%s: seq %" PRIu64 " stored as qos %u state %u pid %u "
		    "msg %" PRIu64 ", engine qos %u state %u pid %u msg "
		    "%" PRIu64,
		    s->id, r->seq, r->qos, r->state, r->pid, r->msg_id, e->qos,
		    e->state, e->pid, e->msg ? e->msg->store_id : 0);
	return 0;
}

static void
check_durable(struct chk *k, struct hf_session *s)
{
	struct hf_store *st = k->b->store;
	k->s = s;
	uint64_t want = s->will ? s->will->store_id : 0;
	if (want != s->dur_will)
		bad(k,
		    "%s: will has store id %" PRIu64 ", record names "
		    "%" PRIu64,
		    s->id, want, s->dur_will);
	k->seen = 0;
	hf_store_subs_each(st, sub_cb, k);
	if (k->seen != s->n_subs)
		bad(k, "%s: %u subscriptions stored, %u in the engine", s->id,
		    k->seen, s->n_subs);
	k->seen = 0;
	hf_store_qos2_each(st, qos2_cb, k);
	if (k->seen != s->n_qos2_in)
		bad(k, "%s: %u inbound QoS 2 ids stored, %u in the engine",
		    s->id, k->seen, s->n_qos2_in);
	k->below = k->above = 0;
	hf_store_queue_each(st, s->sid, 0, SIZE_MAX, queue_cb, k);
	if (k->below != s->n_inflight)
		bad(k,
		    "%s: %" PRIu64 " stored entries behind the read "
		    "position, %u in flight",
		    s->id, k->below, s->n_inflight);
	if (k->above != s->n_queued)
		bad(k, "%s: %" PRIu64 " stored entries waiting, n_queued %u",
		    s->id, k->above, s->n_queued);
}

struct ret_chk {
	struct chk *k;
	struct hf_map marks; /* store id -> 1, from the store */
	size_t durable;
};

static void
ret_mem_cb(void *ctx, void *msg)
{
	struct ret_chk *r = ctx;
	struct hf_msg *m = msg;
	if (!m->retained_durable) {
		if (m->topic_len == 0 || hf_msg_topic(m)[0] != '$')
			bad(r->k, "retained message on %.*s is not durable",
			    (int)m->topic_len, (const char *)hf_msg_topic(m));
		return;
	}
	r->durable++;
	if (!hf_map_get(&r->marks, &m->store_id, 8))
		bad(r->k,
		    "retained message on %.*s (store id %" PRIu64
		    ") has no mark in the store",
		    (int)m->topic_len, (const char *)hf_msg_topic(m),
		    m->store_id);
}

static int
ret_store_cb(void *ctx, const struct hf_store_msg *m)
{
	struct ret_chk *r = ctx;
	return hf_map_put(&r->marks, &m->id, 8, r) != 0; /* key copied */
}

static void
check_retained(struct chk *k)
{
	struct ret_chk r = {.k = k};
	if (hf_store_retained_each(k->b->store, ret_store_cb, &r) != 0) {
		bad(k, "retained marks cannot be read: %s",
		    hf_store_errmsg(k->b->store));
		hf_map_free(&r.marks);
		return;
	}
	hf_retain_foreach(k->b->retained, ret_mem_cb, &r);
	if (r.durable != r.marks.n)
		bad(k,
		    "%zu retained marks stored, %zu durable retained "
		    "messages in memory",
		    r.marks.n, r.durable);
	hf_map_free(&r.marks);
}

int
hf_dur_check(struct hf_broker *b, void (*report)(void *ctx, const char *what),
             void *ctx)
{
	struct chk k = {.b = b, .report = report, .ctx = ctx};
	size_t subs = 0;
	for (struct hf_session *s = b->all_sessions; s; s = s->all_next) {
		check_memory(&k, s);
		subs += s->n_subs;
		if (b->store && s->sid)
			check_durable(&k, s);
	}
	if (hf_tree_count(b->tree) != subs)
		bad(&k, "the subscription tree holds %zu, the sessions %zu",
		    hf_tree_count(b->tree), subs);
	if (b->store) {
		hf_store_sessions_each(b->store, sess_cb, &k);
		check_retained(&k);
	}
	return k.n;
}
