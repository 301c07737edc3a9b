/* broker/engine/publish.c - PUBLISH in both directions and the QoS flows.
 *
 * Inbound: a PUBLISH is checked against the session's state (topic alias,
 * maximum QoS, retain availability, size limit, duplicate QoS 2 packet id),
 * turned into one refcounted struct hf_msg, routed, and acknowledged. The
 * acknowledgment is encoded into the client's output buffer, which leaves
 * only after the loop turn's store commit (see broker.c before_sleep).
 *
 * Routing: hf_tree_match() reports every matching subscription; they are
 * merged per session (one copy at the highest granted QoS with every
 * subscription identifier, as 3.1.1 [MQTT-3.3.5-1] and 5.0 3.3.4 allow),
 * while each matching shared group gives its message to one member,
 * round-robin, preferring members that are online.
 *
 * Outbound: each session has an in-flight list (sent, unacknowledged, in
 * send order) bounded by the client's Receive Maximum and our
 * max_inflight_messages, and a queue of messages waiting for a slot.
 * hf_session_pump() moves messages from the queue into flight. Loop thread
 * only. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define QENTRY_SPARE_MAX 4096 /* spare entries kept for reuse */

struct hf_qentry *
hf_qentry_new(struct hf_broker *b)
{
	struct hf_qentry *e = b->qe_spare;
	if (!e)
		return calloc(1, sizeof(*e));
	b->qe_spare = e->next;
	b->n_qe_spare--;
	memset(e, 0, sizeof(*e));
	return e;
}

void
hf_qentry_free(struct hf_broker *b, struct hf_qentry *e)
{
	hf_msg_unref(e->msg);
	free(e->subids);
	if (b->n_qe_spare >= QENTRY_SPARE_MAX) {
		free(e);
		return;
	}
	e->next = b->qe_spare;
	b->qe_spare = e;
	b->n_qe_spare++;
}

void
hf_qentry_spares_free(struct hf_broker *b)
{
	while (b->qe_spare) {
		struct hf_qentry *e = b->qe_spare;
		b->qe_spare = e->next;
		free(e);
	}
	b->n_qe_spare = 0;
}

static bool
pid_test(const uint8_t *bm, uint16_t pid)
{
	return bm && (bm[pid >> 3] & (1u << (pid & 7)));
}

static void
pid_set(uint8_t *bm, uint16_t pid, bool on)
{
	if (on)
		bm[pid >> 3] |= (uint8_t)(1u << (pid & 7));
	else
		bm[pid >> 3] &= (uint8_t) ~(1u << (pid & 7));
}

/* Next free outgoing packet id, or 0 when none can be had. */
static uint16_t
alloc_pid(struct hf_session *s)
{
	if (!s->pids_out) {
		s->pids_out = calloc(8192, 1);
		if (!s->pids_out)
			return 0;
	}
	for (uint32_t tries = 0; tries < 65535; tries++) {
		uint16_t pid = s->next_pid;
		s->next_pid = (uint16_t)(pid == 65535 ? 1 : pid + 1);
		if (!pid_test(s->pids_out, pid)) {
			pid_set(s->pids_out, pid, true);
			return pid;
		}
	}
	return 0;
}

/* Outbound topic alias for topic: 0 for none. *is_new says the topic must
 * be sent with it this time. */
static uint16_t
alias_for(struct hf_client *c, const struct hf_msg *m, bool *is_new)
{
	*is_new = false;
	if (!c->alias_max_out)
		return 0;
	if (!c->alias_out && !(c->alias_out = calloc(1, sizeof(*c->alias_out))))
		return 0;
	void *v = hf_map_get(c->alias_out, hf_msg_topic(m), m->topic_len);
	if (v)
		return (uint16_t)(uintptr_t)v;
	if (c->alias_out_next >= c->alias_max_out)
		return 0;
	uint16_t a = (uint16_t)(c->alias_out_next + 1);
	if (hf_map_put(c->alias_out, hf_msg_topic(m), m->topic_len,
	               (void *)(uintptr_t)a) != 0)
		return 0;
	c->alias_out_next = a;
	*is_new = true;
	return a;
}

/* Messages up to this size (topic, payload and properties) are encoded once
 * per fan-out; for bigger ones the copy dominates and encoding adds little. */
#define ENC_COPY_MAX 4096

/* During a fan-out, a PUBLISH that is the same for many subscribers (no
 * subscription ids, no topic alias, no expiry to count down, not a resend)
 * is encoded once per (v5 or not, QoS, retain) into the broker's copies and
 * then copied, with each subscriber's packet id written in. Returns false
 * when p cannot be shared (the caller encodes it itself); else *ok says
 * whether it was queued. */
static bool
send_shared(struct hf_client *c, const struct hf_msg *m,
            const struct hf_packet *p, bool *ok)
{
	struct hf_broker *b = c->b;
	const struct hf_publish *pub = &p->u.publish;
	if (!b->routing || pub->dup || pub->props.n_sub_ids ||
	    pub->props.topic_alias || m->has_expiry ||
	    (size_t)m->topic_len + m->payload_len + m->ctype_len +
	            m->rtopic_len + m->corr_len + m->user_len >
	        ENC_COPY_MAX)
		return false;
	uint8_t ver = c->proto ? c->proto : HF_PROTO_V311;
	size_t k = (ver == HF_PROTO_V5 ? 6u : 0u) + pub->qos * 2u +
	           (pub->retain ? 1u : 0u);
	struct hf_enc_copy *ec = &b->enc[k];
	if (ec->gen != b->match_gen || ec->m != m) {
		ec->m = NULL;
		ec->buf.len = 0;
		struct hf_frame f;
		if (hf_encode(p, ver, &ec->buf) != HF_OK ||
		    hf_frame_parse(ec->buf.p, ec->buf.len, 0, &f) != HF_OK)
			return false;
		/* the packet id follows the topic name */
		ec->pid_off = (size_t)f.hdr_len + 2 + m->topic_len;
		ec->gen = b->match_gen;
		ec->m = m;
	}
	*ok = hf_client_send_publish_bytes(c, ec->buf.p, ec->buf.len, pub->qos,
	                                   ec->pid_off, pub->pid);
	return true;
}

void
hf_enc_copies_free(struct hf_broker *b)
{
	for (size_t i = 0; i < sizeof(b->enc) / sizeof(b->enc[0]); i++)
		hf_wbuf_free(&b->enc[i].buf);
}

/* Encode and queue one PUBLISH for the session's client. Returns false when
 * it could not be sent at all (bigger than the client accepts). */
static bool
send_publish(struct hf_client *c, struct hf_msg *m, uint8_t qos, bool retain,
             uint16_t pid, bool dup, const uint32_t *subids, uint16_t nsub)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	struct hf_publish *pub = &p.u.publish;
	pub->qos = qos;
	pub->retain = retain;
	pub->dup = dup;
	pub->pid = pid;
	pub->topic.p = hf_msg_topic(m);
	pub->topic.len = m->topic_len;
	pub->payload.p = hf_msg_payload(m);
	pub->payload.len = m->payload_len;
	bool new_alias = false;
	uint16_t alias = 0;
	if (c->proto == HF_PROTO_V5) {
		struct hf_props *pr = &pub->props;
		const uint8_t *d = hf_msg_payload(m) + m->payload_len;
		if (m->has_payload_format) {
			pr->present |= HF_PP_PAYLOAD_FORMAT;
			pr->payload_format = m->payload_format;
		}
		if (m->has_expiry) {
			int64_t left = m->expiry_at - hf_wall_ms();
			pr->present |= HF_PP_MESSAGE_EXPIRY;
			pr->message_expiry =
			    left <= 0 ? 0 : (uint32_t)((left + 999) / 1000);
		}
		if (m->ctype_len) {
			pr->present |= HF_PP_CONTENT_TYPE;
			pr->content_type.p = d;
			pr->content_type.len = m->ctype_len;
		}
		d += m->ctype_len;
		if (m->rtopic_len) {
			pr->present |= HF_PP_RESPONSE_TOPIC;
			pr->response_topic.p = d;
			pr->response_topic.len = m->rtopic_len;
		}
		d += m->rtopic_len;
		if (m->corr_len) {
			pr->present |= HF_PP_CORRELATION_DATA;
			pr->correlation_data.p = d;
			pr->correlation_data.len = m->corr_len;
		}
		d += m->corr_len;
		if (m->user_len) {
			pr->present |= HF_PP_USER_PROPERTY;
			pr->user.p = d;
			pr->user.len = m->user_len;
			pr->n_user = m->n_user;
		}
		if (nsub) {
			pr->present |= HF_PP_SUBSCRIPTION_ID;
			pr->sub_ids = subids;
			pr->n_sub_ids = nsub;
		}
		alias = alias_for(c, m, &new_alias);
		if (alias) {
			pr->present |= HF_PP_TOPIC_ALIAS;
			pr->topic_alias = alias;
			if (!new_alias)
				pub->topic.len = 0;
		}
	}
	bool ok;
	if (!send_shared(c, m, &p, &ok))
		ok = hf_client_send(c, &p);
	if (!ok) {
		if (new_alias) {
			hf_map_del(c->alias_out, hf_msg_topic(m), m->topic_len);
			c->alias_out_next--;
		}
		return false;
	}
	c->b->stats.msgs_sent++;
	return true;
}

static void
inflight_unlink(struct hf_session *s, struct hf_qentry *prev,
                struct hf_qentry *e)
{
	if (prev)
		prev->next = e->next;
	else
		s->inf_head = e->next;
	if (s->inf_tail == e)
		s->inf_tail = prev;
	s->n_inflight--;
	s->inflight_bytes -= e->msg ? e->msg->payload_len : 0;
	if (e->pid && s->pids_out)
		pid_set(s->pids_out, e->pid, false);
}

/* The flow of e is complete (or abandoned): forget it, in the store too. */
static void
inflight_remove(struct hf_session *s, struct hf_qentry *prev,
                struct hf_qentry *e)
{
	inflight_unlink(s, prev, e);
	hf_dur_qentry_del(s, e->seq);
	hf_qentry_free(s->b, e);
}

static void
inflight_append(struct hf_session *s, struct hf_qentry *e)
{
	e->next = NULL;
	if (s->inf_tail)
		s->inf_tail->next = e;
	else
		s->inf_head = e;
	s->inf_tail = e;
	s->n_inflight++;
	s->inflight_bytes += e->msg->payload_len;
}

/* May one more QoS 1/2 message go into flight to s's client? Its Receive
 * Maximum (and max_inflight_messages), max_inflight_bytes (mosquitto's
 * meaning: messages go out while fewer bytes than that are in flight), and
 * the client's output buffer (client_max_write_buffer_size): a message
 * that cannot go out stays queued - on disk for a durable session - until
 * acknowledgments or the socket make room (hf_session_pump again). */
static bool
window_open(const struct hf_session *s)
{
	const struct hf_client *c = s->client;
	uint64_t maxb = s->b->conf->max_inflight_bytes;
	return s->n_inflight < c->recv_max &&
	       (!maxb || s->inflight_bytes < maxb) && !hf_client_backlogged(c);
}

static bool
mark_pid(struct hf_session *s, uint16_t pid)
{
	if (!s->pids_out && !(s->pids_out = calloc(8192, 1)))
		return false;
	pid_set(s->pids_out, pid, true);
	return true;
}

static void
send_ack(struct hf_client *c, uint8_t type, uint16_t pid, uint8_t rc)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.ack.pid = pid;
	p.u.ack.rc = c->proto == HF_PROTO_V5 ? rc : 0;
	hf_client_send(c, &p);
}

/* Drop an entry that will not be delivered. Its store record, if written
 * (stored), goes and releases the message; if not, the reference taken for
 * it is given back. */
static void
discard(struct hf_session *s, struct hf_qentry *e, bool stored)
{
	struct hf_msg *m = e->msg;
	if (stored)
		hf_dur_qentry_del(s, e->seq);
	else if (s->sid && m->dur_pending > 0)
		m->dur_pending--;
	else if (s->sid)
		hf_dur_msg_ref(s->b, m, -1);
	hf_qentry_free(s->b, e);
}

/* Send a waiting entry (state QUEUED) and move it into flight; stored says
 * whether its queue record is already written. Returns false when it was
 * discarded instead (too big for the client, expired; QoS 0 leaves at once
 * and is done). */
static bool
start_flight(struct hf_session *s, struct hf_qentry *e, int64_t now,
             bool stored)
{
	struct hf_client *c = s->client;
	if (hf_msg_expired(e->msg, now) || e->qos == 0) {
		if (e->qos == 0)
			send_publish(c, e->msg, 0, e->retain, 0, false,
			             e->subids, e->n_subids);
		discard(s, e, stored);
		return false;
	}
	e->pid = alloc_pid(s);
	if (!e->pid) /* out of memory for the id bitmap */
		hf_dur_fail_turn(s->b, "out of memory for packet ids");
	if (!e->pid || !send_publish(c, e->msg, e->qos, e->retain, e->pid,
	                             false, e->subids, e->n_subids)) {
		/* Too big for this client: discarded as if delivered
		 * (v5 3.1.2.25). */
		if (e->pid)
			pid_set(s->pids_out, e->pid, false);
		s->b->stats.pub_dropped++;
		discard(s, e, stored);
		return false;
	}
	e->state = HF_Q_SENT;
	hf_dur_qentry_put(s, e);
	inflight_append(s, e);
	return true;
}

/* Durable sessions: stream waiting entries in from the store. */
static void
pump_disk(struct hf_session *s)
{
	struct hf_client *c = s->client;
	struct hf_broker *b = s->b;
	int64_t now = hf_wall_ms();
	struct hf_qentry *batch[256];
	for (int rounds = 0; rounds < 1024 && s->n_queued > 0 &&
	                     window_open(s) && !b->store_failed;
	     rounds++) {
		size_t want = c->recv_max - s->n_inflight;
		if (want > 256)
			want = 256;
		size_t n = 0;
		int rrc = hf_dur_queue_read(s, want, batch, &n);
		if (rrc != 0 || n == 0) {
			if (rrc == 0)
				s->n_queued = 0; /* counts were off: resync */
			else if (rrc == -2)
				hf_dur_fail_turn(b, "out of memory reading a "
				                    "queue");
			for (size_t i = 0; i < n; i++) {
				batch[i]->msg = NULL;
				hf_qentry_free(b, batch[i]);
			}
			return;
		}
		for (size_t i = 0; i < n; i++) {
			struct hf_qentry *e = batch[i];
			if (e->state == HF_Q_QUEUED && !window_open(s)) {
				/* Full (bytes, output): the rest waits on
				 * disk, read again when there is room. */
				for (size_t k = i; k < n; k++) {
					batch[k]->msg = NULL;
					hf_qentry_free(b, batch[k]);
				}
				return;
			}
			uint64_t id = (uint64_t)(uintptr_t)e->msg;
			e->msg = hf_dur_msg_load(b, id);
			if (!e->msg && b->store_failed) {
				/* the turn is lost: leave the rest alone */
				for (size_t k = i; k < n; k++) {
					batch[k]->msg = NULL;
					hf_qentry_free(b, batch[k]);
				}
				return;
			}
			s->disk_next = e->seq + 1;
			s->n_queued--;
			if (!e->msg) { /* not stored: contained, logged */
				hf_dur_qentry_del(s, e->seq);
				hf_qentry_free(s->b, e);
				continue;
			}
			s->queued_bytes -= e->msg->payload_len < s->queued_bytes
			                       ? e->msg->payload_len
			                       : s->queued_bytes;
			if (e->state == HF_Q_QUEUED) {
				start_flight(s, e, now, true);
				continue;
			}
			/* In flight when the broker stopped: resend as the
			 * spec asks on reconnection [MQTT-4.4.0-1]. */
			if (!mark_pid(s, e->pid)) {
				hf_dur_fail_turn(b, "out of memory for packet "
				                    "ids");
				hf_qentry_free(s->b, e);
				continue;
			}
			if (e->state == HF_Q_RELEASED) {
				send_ack(c, HF_PUBREL, e->pid, HF_RC_SUCCESS);
			} else if (!send_publish(c, e->msg, e->qos, e->retain,
			                         e->pid, true, e->subids,
			                         e->n_subids)) {
				/* The client came back with a smaller Maximum
				 * Packet Size: discarded as if delivered
				 * [MQTT-3.1.2-25], so its window slot is not
				 * held forever. */
				pid_set(s->pids_out, e->pid, false);
				b->stats.pub_dropped++;
				discard(s, e, true);
				continue;
			}
			inflight_append(s, e);
		}
	}
}

void
hf_session_pump(struct hf_session *s)
{
	struct hf_client *c = s->client;
	if (!c || c->state != HF_C_CONNECTED)
		return;
	if (s->sid) {
		pump_disk(s);
		return;
	}
	int64_t now = hf_wall_ms();
	while (s->q_head && window_open(s)) {
		struct hf_qentry *e = s->q_head;
		s->q_head = e->next;
		if (!s->q_head)
			s->q_tail = NULL;
		s->n_queued--;
		s->queued_bytes -= e->msg->payload_len;
		e->next = NULL;
		start_flight(s, e, now, true);
	}
}

void
hf_session_resend(struct hf_session *s)
{
	struct hf_client *c = s->client;
	struct hf_qentry *prev = NULL;
	for (struct hf_qentry *e = s->inf_head, *n; e; e = n) {
		n = e->next;
		if (e->state == HF_Q_RELEASED) {
			send_ack(c, HF_PUBREL, e->pid, HF_RC_SUCCESS);
		} else if (!send_publish(c, e->msg, e->qos, e->retain, e->pid,
		                         true, e->subids, e->n_subids)) {
			/* Too big for the client's new Maximum Packet Size:
			 * done as if delivered [MQTT-3.1.2-25]. */
			s->b->stats.pub_dropped++;
			inflight_remove(s, prev, e);
			continue;
		}
		prev = e;
	}
}

/* True when s cannot take one more message of len payload bytes. */
static bool
queue_full(const struct hf_session *s, uint32_t len)
{
	const struct hf_config *conf = s->b->conf;
	uint64_t maxq = conf->max_queued_messages;
	uint64_t maxb = conf->max_queued_bytes;
	return (maxq && s->n_queued >= maxq) ||
	       (maxb && s->queued_bytes + len > maxb);
}

/* One store reference for a queue entry about to be written. The first in a
 * routing pass is written at once (it stores the body, or stores it again if
 * it was released meanwhile, which fixes the id the entry names); the
 * others of the same pass are counted and written as one change when the
 * pass ends (hf_publish_route), so a fan-out to N persistent sessions costs
 * one reference write, not N. */
static void
take_store_ref(struct hf_broker *b, struct hf_msg *m)
{
	if (b->routing && m->store_id && m->dur_gen == b->match_gen) {
		m->dur_pending++;
		return;
	}
	hf_dur_msg_ref(b, m, 1);
	m->dur_gen = b->match_gen;
}

void
hf_session_deliver(struct hf_session *s, struct hf_msg *m, uint8_t qos,
                   bool retain, const uint32_t *subids, uint16_t nsub)
{
	struct hf_broker *b = s->b;
	struct hf_client *c = s->client;
	bool online = c && c->state == HF_C_CONNECTED;
	if (qos == 0) {
		if (online) {
			/* QoS 0 is not queued for a client whose socket is
			 * not keeping up: dropped, as MQTT allows. */
			if (hf_client_backlogged(c)) {
				b->stats.pub_dropped++;
				return;
			}
			send_publish(c, m, 0, retain, 0, false, subids, nsub);
			return;
		}
		if (!b->conf->queue_qos0_messages || !s->persistent)
			return;
	}
	if (queue_full(s, m->payload_len)) {
		b->stats.pub_dropped++;
		hf_log(&b->log, HF_LOG_WARNING,
		       "Queue of %s is full, message on %.*s dropped.", s->id,
		       (int)m->topic_len, (const char *)hf_msg_topic(m));
		return;
	}
	if (hf_msg_expired(m, hf_wall_ms()))
		return;
	struct hf_qentry *e = hf_qentry_new(b);
	if (!e) {
		b->stats.pub_dropped++;
		if (qos > 0)
			hf_dur_fail_turn(b, "out of memory queueing a message");
		return;
	}
	if (nsub) {
		e->subids = malloc(nsub * sizeof(uint32_t));
		if (!e->subids) {
			free(e);
			b->stats.pub_dropped++;
			if (qos > 0)
				hf_dur_fail_turn(b, "out of memory queueing a "
				                    "message");
			return;
		}
		memcpy(e->subids, subids, nsub * sizeof(uint32_t));
		e->n_subids = nsub;
	}
	hf_msg_ref(m);
	e->msg = m;
	e->qos = qos;
	e->retain = retain;
	if (s->sid) {
		/* Durable: one store reference and one queue record per
		 * delivery, written before any acknowledgment leaves. */
		e->seq = s->next_seq++;
		take_store_ref(b, m);
		if (online && s->n_queued == 0 && window_open(s) && qos > 0) {
			/* Nothing waits on disk, so everything before this
			 * entry is in flight or done: reading resumes after
			 * it. Its record is written once, already "sent". */
			s->disk_next = e->seq + 1;
			start_flight(s, e, hf_wall_ms(), false);
			return;
		}
		hf_dur_qentry_put(s, e);
		s->n_queued++;
		s->queued_bytes += m->payload_len;
		hf_qentry_free(s->b, e);
		if (online)
			hf_session_pump(s);
		return;
	}
	if (s->q_tail)
		s->q_tail->next = e;
	else
		s->q_head = e;
	s->q_tail = e;
	s->n_queued++;
	s->queued_bytes += m->payload_len;
	hf_session_pump(s);
}

/* Routing context for one publish. */
struct route {
	struct hf_broker *b;
	struct hf_msg *m;
	const struct hf_session *origin;
	bool oom;
};

static uint8_t
granted(const struct hf_broker *b, const struct hf_msg *m, uint8_t subopts)
{
	uint8_t sq = subopts & HF_SUBOPT_QOS_MASK;
	if (b->conf->upgrade_outgoing_qos)
		return sq;
	return m->qos < sq ? m->qos : sq;
}

static struct hf_target *
add_target(struct route *r)
{
	struct hf_broker *b = r->b;
	if (b->n_targets == b->cap_targets) {
		size_t ncap = b->cap_targets ? b->cap_targets * 2 : 64;
		void *n = realloc(b->targets, ncap * sizeof(*b->targets));
		if (!n) {
			r->oom = true;
			return NULL;
		}
		b->targets = n;
		b->cap_targets = ncap;
	}
	struct hf_target *t = &b->targets[b->n_targets++];
	memset(t, 0, sizeof(*t));
	return t;
}

bool
hf_session_may_read(const struct hf_session *s, const struct hf_msg *m)
{
	struct hf_acl_subject who = hf_session_subject(s);
	return hf_acl_check(s->auth, &who, hf_msg_topic(m), m->topic_len,
	                    HF_ACL_READ);
}

static void
on_sub(void *ctx, const struct hf_sub *sub)
{
	struct route *r = ctx;
	struct hf_session *s = sub->owner;
	if ((sub->opts & HF_SUBOPT_NO_LOCAL) && s == r->origin)
		return; /* [MQTT-3.8.3-3] */
	if (s->match_gen != r->b->match_gen && !hf_session_may_read(s, r->m))
		return; /* the receiver's ACL (once per session and message) */
	uint8_t q = granted(r->b, r->m, sub->opts);
	bool rap = (sub->opts & HF_SUBOPT_RAP) != 0;
	struct hf_target *t;
	if (s->match_gen != r->b->match_gen) {
		if (!(t = add_target(r)))
			return;
		s->match_gen = r->b->match_gen;
		s->match_idx = (uint32_t)(r->b->n_targets - 1);
		t->s = s;
		t->qos = q;
		t->rap = rap;
	} else {
		t = &r->b->targets[s->match_idx];
		if (q > t->qos)
			t->qos = q;
		t->rap |= rap;
	}
	/* One copy, at the highest granted QoS, carrying the identifier of
	 * every matching subscription [MQTT-3.3.4-2], [MQTT-3.3.4-4]; an
	 * identifier shared by several of them is sent once. */
	if (sub->sub_id && t->nsub < 16) {
		for (uint16_t k = 0; k < t->nsub; k++)
			if (t->subids[k] == sub->sub_id)
				return;
		t->subids[t->nsub++] = sub->sub_id;
	}
}

static void
on_group(void *ctx, struct hf_share_group *g)
{
	struct route *r = ctx;
	if (g->n == 0)
		return;
	/* Round-robin, preferring a connected member; only members the
	 * ACL lets read the topic. */
	uint32_t pick = UINT32_MAX;
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t idx = (g->next + i) % g->n;
		struct hf_session *s = g->members[idx].owner;
		if (!hf_session_may_read(s, r->m))
			continue;
		if (pick == UINT32_MAX)
			pick = idx;
		if (s->client && s->client->state == HF_C_CONNECTED) {
			pick = idx;
			break;
		}
	}
	if (pick == UINT32_MAX)
		return;
	g->next = (pick + 1) % g->n;
	const struct hf_sub *sub = &g->members[pick];
	struct hf_target *t = add_target(r);
	if (!t)
		return;
	t->s = sub->owner;
	t->shared = true;
	t->qos = granted(r->b, r->m, sub->opts);
	t->retain = r->m->retain && (sub->opts & HF_SUBOPT_RAP);
	if (sub->sub_id)
		t->subids[t->nsub++] = sub->sub_id;
}

/* Would this delivery be refused (queue or store full)? */
static bool
target_refuses(struct hf_broker *b, const struct hf_target *t, uint8_t qos,
               const struct hf_msg *m)
{
	if (qos == 0)
		return false;
	struct hf_session *s = t->s;
	if (s->sid && b->store_full)
		return true;
	return queue_full(s, m->payload_len);
}

int
hf_publish_route(struct hf_broker *b, struct hf_msg *m,
                 const struct hf_session *origin, bool may_refuse)
{
	struct route r = {.b = b, .m = m, .origin = origin};
	b->match_gen++;
	b->n_targets = 0;
	hf_tree_match(b->tree, hf_msg_topic(m), m->topic_len, on_sub, on_group,
	              &r);
	size_t n = b->n_targets;
	for (size_t i = 0; i < n; i++) {
		struct hf_target *t = &b->targets[i];
		if (!t->shared)
			t->retain = m->retain && t->rap;
	}
	if (r.oom && m->qos > 0) {
		/* Some matching sessions are missing from the targets. */
		if (may_refuse)
			return -1;
		hf_dur_fail_turn(b, "out of memory routing a message");
	}
	if (may_refuse && m->qos > 0) {
		for (size_t i = 0; i < n; i++)
			if (target_refuses(b, &b->targets[i], b->targets[i].qos,
			                   m))
				return -1;
	}
	if (m->retain && b->conf->retain_available) {
		void *old = NULL;
		if (m->payload_len == 0) {
			hf_retain_set(b->retained, hf_msg_topic(m),
			              m->topic_len, NULL, &old);
			hf_dur_retain(b, old, NULL);
		} else if (hf_retain_set(b->retained, hf_msg_topic(m),
		                         m->topic_len, m, &old) == 0) {
			hf_msg_ref(m);
			hf_dur_retain(b, old, m);
		} else if (m->qos > 0) {
			hf_dur_fail_turn(b,
			                 "out of memory retaining a message");
		}
		hf_msg_unref(old);
	}
	/* Deliveries may route again (never: no callbacks publish), but take
	 * the count first: the target array is the broker's scratch. */
	b->routing = true;
	for (size_t i = 0; i < n; i++) {
		struct hf_target *t = &b->targets[i];
		struct hf_session *s = t->s;
		hf_session_deliver(s, m, t->qos, t->retain, t->subids, t->nsub);
	}
	b->routing = false;
	if (m->dur_pending) {
		int32_t d = m->dur_pending;
		m->dur_pending = 0;
		hf_dur_msg_ref(b, m, d);
	}
	return (int)n;
}

/* Resolve the topic of an inbound PUBLISH through its topic alias.
 * Returns false after closing the connection. */
static bool
resolve_alias(struct hf_client *c, struct hf_publish *p)
{
	if (!(p->props.present & HF_PP_TOPIC_ALIAS))
		return true;
	uint16_t a = p->props.topic_alias;
	uint16_t max = c->b->conf->max_topic_alias;
	if (a == 0 || a > max) {
		/* 0 or above our Topic Alias Maximum [MQTT-3.3.2-8/9] */
		hf_client_fail(c, HF_RC_TOPIC_ALIAS_INVALID,
		               "topic alias out of range");
		return false;
	}
	if (!c->alias_in) {
		c->alias_in = calloc((size_t)max + 1, sizeof(*c->alias_in));
		if (!c->alias_in) {
			hf_client_close(c, HF_RC_UNSPECIFIED);
			return false;
		}
		c->alias_in_n = (uint16_t)(max + 1);
	}
	struct hf_bytes *slot = &c->alias_in[a];
	if (p->topic.len) {
		uint8_t *copy = malloc(p->topic.len);
		if (!copy) {
			hf_client_close(c, HF_RC_UNSPECIFIED);
			return false;
		}
		memcpy(copy, p->topic.p, p->topic.len);
		free((void *)slot->p);
		slot->p = copy;
		slot->len = p->topic.len;
		return true;
	}
	if (!slot->p) {
		hf_client_fail(c, HF_RC_PROTOCOL_ERROR,
		               "topic alias used before it was set");
		return false;
	}
	p->topic = *slot;
	return true;
}

/* Refuse one PUBLISH without routing it, the connection staying up where
 * the protocol allows: QoS 0 is dropped (at most once permits it); QoS 1/2
 * get PUBACK/PUBREC with rc in 5.0. 3.1.1 has no negative acknowledgment,
 * and a message that is thrown away must never be acknowledged, so a QoS
 * 1/2 one closes the connection instead. */
static void
refuse_publish(struct hf_client *c, const struct hf_publish *p, uint8_t rc,
               const char *why)
{
	struct hf_broker *b = c->b;
	b->stats.pub_dropped++;
	hf_log(&b->log, HF_LOG_NOTICE,
	       "Client %s: PUBLISH on %.*s refused: %s.", c->s->id,
	       (int)p->topic.len, (const char *)p->topic.p, why);
	if (p->qos == 0)
		return;
	if (c->proto == HF_PROTO_V5)
		send_ack(c, p->qos == 1 ? HF_PUBACK : HF_PUBREC, p->pid, rc);
	else
		hf_client_close(c, -1);
}

void
hf_handle_publish(struct hf_client *c, const struct hf_publish *in,
                  int decode_rc)
{
	struct hf_broker *b = c->b;
	const struct hf_config *conf = b->conf;
	struct hf_session *s = c->s;
	struct hf_publish p = *in;
	bool v5 = c->proto == HF_PROTO_V5;

	if (p.props.present & HF_PP_SUBSCRIPTION_ID) {
		hf_client_fail(c, HF_RC_PROTOCOL_ERROR,
		               "subscription identifier in a PUBLISH "
		               "[MQTT-3.3.4-6]");
		return;
	}
	if (!resolve_alias(c, &p))
		return;
	if (p.topic.len == 0) {
		hf_client_fail(c, HF_RC_PROTOCOL_ERROR, "empty topic name");
		return;
	}
	if (p.qos > conf->maximum_qos) {
		hf_client_fail(c, HF_RC_QOS_NOT_SUPPORTED,
		               "QoS above maximum_qos [MQTT-3.2.2-11]");
		return;
	}
	if (p.retain && !conf->retain_available) {
		hf_client_fail(c, HF_RC_RETAIN_NOT_SUPPORTED,
		               "retained PUBLISH with retain_available false");
		return;
	}
	b->stats.msgs_received++;
	uint8_t ack_type = p.qos == 1 ? HF_PUBACK : HF_PUBREC;
	if (p.qos == 2 && pid_test(s->qos2_in, p.pid)) {
		/* A resent QoS 2 PUBLISH we already hold: acknowledge again,
		 * do not deliver twice [MQTT-4.3.3-9]. */
		send_ack(c, HF_PUBREC, p.pid, HF_RC_SUCCESS);
		return;
	}
	if (p.qos == 2 && v5 && conf->max_inflight_messages &&
	    s->n_qos2_in >= conf->max_inflight_messages) {
		hf_client_fail(c, HF_RC_RECEIVE_MAX_EXCEEDED,
		               "more unacknowledged QoS 2 than the Receive "
		               "Maximum [MQTT-3.3.4-7]");
		return;
	}
	if (decode_rc == HF_RC_PAYLOAD_FORMAT_INVALID) {
		/* Payload Format Indicator 1 and a payload that is not UTF-8:
		 * the receiver may check and answer PUBACK/PUBREC 0x99
		 * (3.3.2.3.2, 4.13); it is not delivered. */
		refuse_publish(c, &p, HF_RC_PAYLOAD_FORMAT_INVALID,
		               "payload format indicator 1, payload not UTF-8");
		return;
	}
	if (conf->message_size_limit &&
	    p.payload.len > conf->message_size_limit) {
		refuse_publish(c, &p, HF_RC_QUOTA_EXCEEDED,
		               "payload over message_size_limit");
		return;
	}
	struct hf_acl_subject who = hf_session_subject(s);
	if (!hf_acl_check(s->auth, &who, p.topic.p, p.topic.len,
	                  HF_ACL_WRITE)) {
		/* Not allowed: 5.0 0x87 (Not authorized). 3.1.1 has no
		 * negative acknowledgment; as mosquitto does, the PUBLISH is
		 * acknowledged and dropped (the broker's policy refused it;
		 * a client told nothing would send it again for ever). */
		b->stats.pub_dropped++;
		hf_log(&b->log, HF_LOG_NOTICE,
		       "Denied PUBLISH from %s on %.*s (ACL).", s->id,
		       (int)p.topic.len, (const char *)p.topic.p);
		if (p.qos > 0)
			send_ack(c, ack_type, p.pid,
			         v5 ? HF_RC_NOT_AUTHORIZED : HF_RC_SUCCESS);
		return;
	}
	if (conf->max_topic_levels &&
	    hf_topic_levels(p.topic.p, p.topic.len) > conf->max_topic_levels) {
		/* Checked before routing, so neither tree ever builds the
		 * path. 5.0: 0x90, "the Topic Name is correctly formed, but
		 * is not accepted by this Server". */
		refuse_publish(c, &p, HF_RC_TOPIC_NAME_INVALID,
		               "topic deeper than max_topic_levels");
		return;
	}
	/* What the acknowledgment needs is allocated before routing: once
	 * routed, the message must be acknowledged (or the turn lost), or a
	 * resent QoS 2 PUBLISH would be routed twice. */
	if (p.qos == 2 && !s->qos2_in && !(s->qos2_in = calloc(8192, 1))) {
		hf_client_close(c, HF_RC_UNSPECIFIED);
		return;
	}
	struct hf_msg *m = hf_msg_new(&p, hf_wall_ms());
	if (!m) {
		hf_client_close(c, HF_RC_UNSPECIFIED);
		return;
	}
	int n = hf_publish_route(b, m, s, true);
	hf_msg_unref(m);
	if (p.qos == 0)
		return;
	if (n < 0) {
		/* A queue or the store is full: refuse rather than accept and
		 * drop. v5 has a negative acknowledgment; 3.1.1 does not, so
		 * the connection is closed with the message unacknowledged
		 * and the client sends it again when it reconnects. */
		b->stats.pub_refused++;
		hf_log(&b->log, HF_LOG_WARNING,
		       "Message from %s on %.*s refused: queue or store full.",
		       s->id, (int)p.topic.len, (const char *)p.topic.p);
		if (v5)
			send_ack(c, ack_type, p.pid, HF_RC_QUOTA_EXCEEDED);
		else
			hf_client_close(c, -1);
		return;
	}
	if (p.qos == 2) {
		pid_set(s->qos2_in, p.pid, true);
		s->n_qos2_in++;
		hf_dur_qos2(s, p.pid, true);
	}
	send_ack(c, ack_type, p.pid,
	         n ? HF_RC_SUCCESS : HF_RC_NO_MATCHING_SUBSCRIBERS);
}

static struct hf_qentry *
find_inflight(struct hf_session *s, uint16_t pid, struct hf_qentry **prev)
{
	*prev = NULL;
	for (struct hf_qentry *e = s->inf_head; e; e = e->next) {
		if (e->pid == pid)
			return e;
		*prev = e;
	}
	return NULL;
}

void
hf_handle_puback(struct hf_client *c, const struct hf_ack *a)
{
	struct hf_session *s = c->s;
	struct hf_qentry *prev, *e = find_inflight(s, a->pid, &prev);
	if (!e || e->qos != 1)
		return; /* unknown: nothing to do */
	inflight_remove(s, prev, e);
	c->pump_due = true; /* refilled after this read (client.c) */
}

void
hf_handle_pubrec(struct hf_client *c, const struct hf_ack *a)
{
	struct hf_session *s = c->s;
	struct hf_qentry *prev, *e = find_inflight(s, a->pid, &prev);
	if (!e || e->qos != 2) {
		send_ack(c, HF_PUBREL, a->pid, HF_RC_PACKET_ID_NOT_FOUND);
		return;
	}
	if (a->rc >= 0x80) {
		/* The receiver refused it: the flow ends here (v5 4.3.3). */
		inflight_remove(s, prev, e);
		hf_session_pump(s);
		return;
	}
	e->state = HF_Q_RELEASED;
	hf_dur_qentry_put(s, e);
	send_ack(c, HF_PUBREL, a->pid, HF_RC_SUCCESS);
}

void
hf_handle_pubcomp(struct hf_client *c, const struct hf_ack *a)
{
	struct hf_session *s = c->s;
	struct hf_qentry *prev, *e = find_inflight(s, a->pid, &prev);
	if (!e || e->state != HF_Q_RELEASED)
		return;
	inflight_remove(s, prev, e);
	c->pump_due = true; /* refilled after this read (client.c) */
}

void
hf_handle_pubrel(struct hf_client *c, const struct hf_ack *a)
{
	struct hf_session *s = c->s;
	if (!pid_test(s->qos2_in, a->pid)) {
		send_ack(c, HF_PUBCOMP, a->pid, HF_RC_PACKET_ID_NOT_FOUND);
		return;
	}
	pid_set(s->qos2_in, a->pid, false);
	s->n_qos2_in--;
	hf_dur_qos2(s, a->pid, false);
	send_ack(c, HF_PUBCOMP, a->pid, HF_RC_SUCCESS);
}
