/* broker/engine/outq.c - a session's outgoing queue: what waits, what is
 * in flight, and the window between them.
 *
 * Each session has an in-flight list (PUBLISH sent, acknowledgment
 * awaited, in send order) bounded by window_open(): the client's Receive
 * Maximum and max_inflight_messages, max_inflight_bytes, and the client's
 * output buffer (client_max_write_buffer_size). Behind it, messages wait:
 * in memory for a clean session, in the store for a durable one
 * (hf_session_pump() streams them in as the window opens). A message for
 * an online client with room and nothing waiting goes straight into
 * flight.
 *
 * A durable session whose client is online also keeps the entries waiting
 * behind its window in memory (the "hot tail": each is written to the
 * store first, as always), so that a subscriber a little behind is fed
 * from memory, not by reading back what was just written (which would
 * also wait for the store's writer thread). Invariant: for a durable
 * session, s->q_head is either NULL (the waiting entries are on disk only
 * and are streamed in from disk_next) or the head of a list holding
 * exactly its n_queued waiting entries, in order, from disk_next on. The
 * tail is bounded per session (HOT_MAX entries, HOT_BYTES payload bytes)
 * and for the broker (b->hot_n, b->hot_bytes under HOT_ALL_*): past a
 * bound the session's list is dropped and it streams from disk again. Queue
 * entries come from and go back to a free list on the broker (no allocation per
 * delivery once it has filled). Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "broker.h"
#include "client.h"
#include "durable.h"
#include "flow.h"
#include "msg.h"
#include "outq.h"
#include "pidset.h"
#include "send.h"

#define QENTRY_SPARE_MAX 4096 /* spare entries kept for reuse */
/* Hot tail bounds (see above). */
#define HOT_MAX       4096
#define HOT_BYTES     (8u << 20)
#define HOT_ALL_MAX   262144
#define HOT_ALL_BYTES (64u << 20)

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

/* Next free outgoing packet id, or 0 when none can be had. */
static uint16_t
alloc_pid(struct hf_session *s)
{
	if (!s->pids_out) {
		s->pids_out = hf_pidset_new();
		if (!s->pids_out)
			return 0;
	}
	for (uint32_t tries = 0; tries < 65535; tries++) {
		uint16_t pid = s->next_pid;
		s->next_pid = (uint16_t)(pid == 65535 ? 1 : pid + 1);
		if (!hf_pidset_has(s->pids_out, pid)) {
			hf_pidset_put(s->pids_out, pid, true);
			return pid;
		}
	}
	return 0;
}

uint16_t
hf_session_alloc_pid(struct hf_session *s)
{
	return alloc_pid(s);
}

void
hf_session_free_pid(struct hf_session *s, uint16_t pid)
{
	if (pid && s->pids_out)
		hf_pidset_put(s->pids_out, pid, false);
}

void
hf_inflight_unlink(struct hf_session *s, struct hf_qentry *prev,
                   struct hf_qentry *e)
{
	if (prev)
		prev->next = e->next;
	else
		s->inf_head = e->next;
	if (s->inf_tail == e)
		s->inf_tail = prev;
	hf_metrics_inflight(s, s->n_inflight - 1,
	                    s->inflight_bytes -
	                        (e->msg ? e->msg->payload_len : 0));
	if (e->pid && s->pids_out)
		hf_pidset_put(s->pids_out, e->pid, false);
}

/* The flow of e is complete (or abandoned): forget it, in the store too. */
void
hf_inflight_remove(struct hf_session *s, struct hf_qentry *prev,
                   struct hf_qentry *e)
{
	hf_inflight_unlink(s, prev, e);
	hf_dur_qentry_del(s, e->seq);
	hf_qentry_free(s->b, e);
}

void
hf_inflight_append(struct hf_session *s, struct hf_qentry *e)
{
	e->next = NULL;
	if (s->inf_tail)
		s->inf_tail->next = e;
	else
		s->inf_head = e;
	s->inf_tail = e;
	hf_metrics_inflight(s, s->n_inflight + 1,
	                    s->inflight_bytes + e->msg->payload_len);
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
	if (!s->pids_out && !(s->pids_out = hf_pidset_new()))
		return false;
	hf_pidset_put(s->pids_out, pid, true);
	return true;
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
			hf_send_publish(c, e->msg, 0, e->retain, 0, false,
			                e->subids, e->n_subids);
		discard(s, e, stored);
		return false;
	}
	e->pid = alloc_pid(s);
	if (!e->pid) /* out of memory for the id bitmap */
		hf_dur_fail_turn(s->b, "out of memory for packet ids");
	if (!e->pid || !hf_send_publish(c, e->msg, e->qos, e->retain, e->pid,
	                                false, e->subids, e->n_subids)) {
		/* Too big for this client: discarded as if delivered
		 * (v5 3.1.2.25). */
		if (e->pid)
			hf_pidset_put(s->pids_out, e->pid, false);
		hf_metrics_drop(s->b, HF_DROP_TOO_LARGE);
		discard(s, e, stored);
		return false;
	}
	e->state = HF_Q_SENT;
	hf_dur_qentry_put(s, e);
	hf_inflight_append(s, e);
	return true;
}

/* Durable sessions: stream waiting entries in from the store. */
static void
pump_disk_reads(struct hf_session *s)
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
			if (rrc == 0) /* counts were off: resync */
				hf_metrics_queued(s, 0, s->queued_bytes);
			else if (rrc == -2)
				hf_dur_fail_turn(b, "out of memory reading a "
				                    "queue");
			for (size_t i = 0; i < n; i++)
				hf_qentry_free(b, batch[i]);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			struct hf_qentry *e = batch[i];
			if (e->state == HF_Q_QUEUED && !window_open(s)) {
				/* Full (bytes, output): the rest waits on
				 * disk, read again when there is room. */
				for (size_t k = i; k < n; k++)
					hf_qentry_free(b, batch[k]);
				return;
			}
			e->msg = hf_dur_msg_load(b, e->msg_id);
			if (!e->msg && b->store_failed) {
				/* the turn is lost: leave the rest alone */
				for (size_t k = i; k < n; k++)
					hf_qentry_free(b, batch[k]);
				return;
			}
			s->disk_next = e->seq + 1;
			hf_metrics_queued(s, s->n_queued - 1, s->queued_bytes);
			if (!e->msg) { /* not stored: contained, logged */
				hf_dur_qentry_del(s, e->seq);
				hf_qentry_free(s->b, e);
				continue;
			}
			hf_metrics_queued(
			    s, s->n_queued,
			    s->queued_bytes -
			        (e->msg->payload_len < s->queued_bytes
			             ? e->msg->payload_len
			             : s->queued_bytes));
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
				hf_send_ack(c, HF_PUBREL, e->pid,
				            HF_RC_SUCCESS);
			} else if (!hf_send_publish(c, e->msg, e->qos,
			                            e->retain, e->pid, true,
			                            e->subids, e->n_subids)) {
				/* The client came back with a smaller Maximum
				 * Packet Size: discarded as if delivered
				 * [MQTT-3.1.2-25], so its window slot is not
				 * held forever. */
				hf_pidset_put(s->pids_out, e->pid, false);
				hf_metrics_drop(b, HF_DROP_TOO_LARGE);
				discard(s, e, true);
				continue;
			}
			hf_inflight_append(s, e);
		}
	}
}

static void
pump_disk(struct hf_session *s)
{
	hf_dur_reads_begin(s);
	pump_disk_reads(s);
	hf_dur_reads_end(s->b);
}

static uint32_t
hot_len(const struct hf_qentry *e)
{
	return e->msg ? e->msg->payload_len : 0;
}

void
hf_session_hot_drop(struct hf_session *s)
{
	struct hf_broker *b = s->b;
	if (!s->sid)
		return;
	while (s->q_head) {
		struct hf_qentry *e = s->q_head;
		s->q_head = e->next;
		b->hot_n--;
		b->hot_bytes -= hot_len(e);
		hf_qentry_free(b, e);
	}
	s->q_tail = NULL;
}

/* Keep e (written to the store, its message referenced) in s's hot tail
 * when the invariant and the bounds allow; else e is freed and, if the
 * tail was kept until now, it is dropped (disk from here on). n_waiting is
 * the count of waiting entries before e. */
static void
hot_keep(struct hf_session *s, struct hf_qentry *e, uint32_t n_waiting)
{
	struct hf_broker *b = s->b;
	uint32_t len = hot_len(e);
	bool ok = (n_waiting == 0 || s->q_head) && n_waiting < HOT_MAX &&
	          s->queued_bytes + len <= HOT_BYTES &&
	          b->hot_n < HOT_ALL_MAX && b->hot_bytes + len <= HOT_ALL_BYTES;
	if (!ok) {
		hf_session_hot_drop(s);
		hf_qentry_free(b, e);
		return;
	}
	e->next = NULL;
	e->state = HF_Q_QUEUED;
	if (s->q_tail)
		s->q_tail->next = e;
	else
		s->q_head = e;
	s->q_tail = e;
	b->hot_n++;
	b->hot_bytes += len;
}

/* Durable sessions with a hot tail: feed the window from memory. */
static void
pump_hot(struct hf_session *s)
{
	struct hf_broker *b = s->b;
	int64_t now = hf_wall_ms();
	while (s->q_head && window_open(s) && !b->store_failed) {
		struct hf_qentry *e = s->q_head;
		s->q_head = e->next;
		if (!s->q_head)
			s->q_tail = NULL;
		e->next = NULL;
		b->hot_n--;
		b->hot_bytes -= hot_len(e);
		s->disk_next = e->seq + 1;
		uint32_t len = hot_len(e);
		hf_metrics_queued(s, s->n_queued - 1,
		                  s->queued_bytes - (len < s->queued_bytes
		                                         ? len
		                                         : s->queued_bytes));
		start_flight(s, e, now, true);
	}
}

void
hf_session_pump(struct hf_session *s)
{
	struct hf_client *c = s->client;
	if (!c || c->state != HF_C_CONNECTED)
		return;
	if (s->sid) {
		if (s->q_head)
			pump_hot(s);
		else
			pump_disk(s);
		return;
	}
	int64_t now = hf_wall_ms();
	while (s->q_head && window_open(s)) {
		struct hf_qentry *e = s->q_head;
		s->q_head = e->next;
		if (!s->q_head)
			s->q_tail = NULL;
		hf_metrics_queued(s, s->n_queued - 1,
		                  s->queued_bytes - e->msg->payload_len);
		e->next = NULL;
		start_flight(s, e, now, true);
	}
}

/* Resend what is in flight, in order. peer_kept: the peer kept its side
 * of the session (a client always does when its session resumes; a
 * bridge's remote says so in its CONNACK). When it did not, a message
 * past PUBREC is done (the remote took it then) and the others go again
 * as new, DUP clear. */
static void
resend(struct hf_session *s, bool peer_kept)
{
	struct hf_client *c = s->client;
	struct hf_qentry *prev = NULL;
	for (struct hf_qentry *e = s->inf_head, *n; e; e = n) {
		n = e->next;
		if (e->state == HF_Q_RELEASED && !peer_kept) {
			hf_inflight_remove(s, prev, e);
			continue;
		}
		if (e->state == HF_Q_RELEASED) {
			hf_send_ack(c, HF_PUBREL, e->pid, HF_RC_SUCCESS);
		} else if (!hf_send_publish(c, e->msg, e->qos, e->retain,
		                            e->pid, peer_kept, e->subids,
		                            e->n_subids)) {
			/* Too big for the client's new Maximum Packet Size:
			 * done as if delivered [MQTT-3.1.2-25]. */
			hf_metrics_drop(s->b, HF_DROP_TOO_LARGE);
			hf_inflight_remove(s, prev, e);
			continue;
		}
		prev = e;
	}
}

void
hf_session_resend(struct hf_session *s)
{
	resend(s, true);
}

void
hf_session_resend_fresh(struct hf_session *s)
{
	resend(s, false);
}

/* True when s cannot take one more message of len payload bytes. */
bool
hf_session_queue_full(const struct hf_session *s, uint32_t len)
{
	return hf_session_queue_limit(s, len) != NULL;
}

uint64_t
hf_queue_limit_value(const struct hf_session *s, const char *limit)
{
	const struct hf_config *conf = s->b->conf;
	if (s->bridge) {
		const struct hf_bridge_conf *bc = hf_bridge_conf(s->bridge);
		return strcmp(limit, "bridge_outbox_max_messages") == 0
		           ? bc->outbox_max_messages
		           : bc->outbox_max_bytes;
	}
	return strcmp(limit, "max_queued_messages") == 0
	           ? conf->max_queued_messages
	           : conf->max_queued_bytes;
}

const char *
hf_session_queue_limit(const struct hf_session *s, uint32_t len)
{
	const struct hf_config *conf = s->b->conf;
	if (s->bridge) { /* the outbox has limits of its own */
		const struct hf_bridge_conf *bc = hf_bridge_conf(s->bridge);
		if (bc->outbox_overflow == HF_BRIDGE_DROP_OLDEST)
			return NULL; /* makes room instead (drop_oldest) */
		if (bc->outbox_max_messages &&
		    s->n_queued >= bc->outbox_max_messages)
			return "bridge_outbox_max_messages";
		if (bc->outbox_max_bytes &&
		    s->queued_bytes + len > bc->outbox_max_bytes)
			return "bridge_outbox_max_bytes";
		return NULL;
	}
	uint64_t maxq = conf->max_queued_messages;
	uint64_t maxb = conf->max_queued_bytes;
	if (maxq && s->n_queued >= maxq)
		return "max_queued_messages";
	if (maxb && s->queued_bytes + len > maxb)
		return "max_queued_bytes";
	return NULL;
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

/* A bridge's outbox over its limits with bridge_outbox_overflow
 * drop_oldest: its oldest waiting message goes (counted, and logged by
 * hf_bridge_dropped) until the new one of len bytes fits or
 * nothing waits. Messages in flight to the remote stay. */
static bool
over_outbox(const struct hf_session *s, uint32_t len)
{
	const struct hf_bridge_conf *bc = hf_bridge_conf(s->bridge);
	return (bc->outbox_max_messages &&
	        s->n_queued >= bc->outbox_max_messages) ||
	       (bc->outbox_max_bytes &&
	        s->queued_bytes + len > bc->outbox_max_bytes);
}

static unsigned
drop_oldest(struct hf_session *s, uint32_t len)
{
	struct hf_broker *b = s->b;
	unsigned dropped = 0;
	for (int i = 0; i < 65536 && s->n_queued > 0 && over_outbox(s, len) &&
	                !b->store_failed;
	     i++) {
		struct hf_qentry *e = NULL;
		if (s->q_head) { /* in memory (a clean session, a hot tail) */
			e = s->q_head;
			s->q_head = e->next;
			if (!s->q_head)
				s->q_tail = NULL;
			if (s->sid) {
				b->hot_n--;
				b->hot_bytes -= hot_len(e);
			}
		} else if (s->sid) {
			size_t n = 0;
			hf_dur_reads_begin(s);
			int rc = hf_dur_queue_read(s, 1, &e, &n);
			if (rc == 0 && n == 1 && !e->msg)
				e->msg = hf_dur_msg_load(b, e->msg_id);
			hf_dur_reads_end(b);
			if (rc != 0 || n != 1) {
				if (rc == -2)
					hf_dur_fail_turn(b, "out of memory "
					                    "reading a queue");
				break;
			}
		} else {
			break;
		}
		if (s->sid) {
			s->disk_next = e->seq + 1;
			hf_dur_qentry_del(s, e->seq);
		}
		uint32_t l = hot_len(e);
		hf_metrics_queued(s, s->n_queued - 1,
		                  s->queued_bytes - (l < s->queued_bytes
		                                         ? l
		                                         : s->queued_bytes));
		hf_metrics_drop(b, HF_DROP_QUEUE_FULL);
		hf_qentry_free(b, e);
		dropped++;
	}
	return dropped;
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
				hf_metrics_drop(b, HF_DROP_BACKLOG);
				return;
			}
			hf_send_publish(c, m, 0, retain, 0, false, subids,
			                nsub);
			return;
		}
		if (!b->conf->queue_qos0_messages || !s->persistent)
			return;
	}
	if (s->bridge &&
	    hf_bridge_conf(s->bridge)->outbox_overflow ==
	        HF_BRIDGE_DROP_OLDEST &&
	    over_outbox(s, m->payload_len))
		hf_bridge_dropped(s->bridge, drop_oldest(s, m->payload_len));
	const char *limit = hf_session_queue_limit(s, m->payload_len);
	if (limit) {
		hf_metrics_drop(b, HF_DROP_QUEUE_FULL);
		/* mosquitto's line first (its parsers count drops by it),
		 * then which limit it was. */
		hf_log_ev(&b->log, HF_LOG_NOTICE, "message_dropped", s->id,
		          NULL,
		          "Outgoing messages are being dropped for client %s.",
		          s->id);
		hf_log_ev(
		    &b->log, HF_LOG_WARNING, "message_dropped", s->id, NULL,
		    "Queue of %s is full (%s %llu reached: %u messages, "
		    "%llu bytes queued), message on %.*s dropped.",
		    s->id, limit,
		    (unsigned long long)hf_queue_limit_value(s, limit),
		    (unsigned)s->n_queued, (unsigned long long)s->queued_bytes,
		    (int)m->topic_len, (const char *)hf_msg_topic(m));
		return;
	}
	if (hf_msg_expired(m, hf_wall_ms()))
		return;
	struct hf_qentry *e = hf_qentry_new(b);
	if (!e) {
		hf_metrics_drop(b, HF_DROP_NOMEM);
		if (qos > 0)
			hf_dur_fail_turn(b, "out of memory queueing a message");
		return;
	}
	if (nsub) {
		e->subids = malloc(nsub * sizeof(uint32_t));
		if (!e->subids) {
			free(e);
			hf_metrics_drop(b, HF_DROP_NOMEM);
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
		uint32_t waiting = s->n_queued;
		if (online)
			hot_keep(s, e, waiting);
		else
			hf_qentry_free(s->b, e);
		hf_metrics_queued(s, waiting + 1,
		                  s->queued_bytes + m->payload_len);
		if (online) {
			hf_session_pump(s);
			hf_flow_queued(s);
		}
		return;
	}
	if (s->q_tail)
		s->q_tail->next = e;
	else
		s->q_head = e;
	s->q_tail = e;
	hf_metrics_queued(s, s->n_queued + 1, s->queued_bytes + m->payload_len);
	hf_session_pump(s);
	if (online)
		hf_flow_queued(s);
}
