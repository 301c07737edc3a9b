/* broker/engine/session.h - a session and what it holds: its queue
 * entries, its subscriptions, its will, its packet ids, the identity the
 * ACL checks. A session outlives its connection when it is persistent
 * (connect.c); its queue is outq.c's, its subscriptions subscribe.c's, its
 * store records durable.c's. Types only: each file declares its own
 * functions. */
#ifndef HOLDFAST_ENGINE_SESSION_H
#define HOLDFAST_ENGINE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "holdfast/auth.h"
#include "map.h"
#include "msg.h"

struct hf_broker;
struct hf_bridge;
struct hf_client;

/* Queue entry states. */
enum hf_qstate {
	HF_Q_QUEUED = 0, /* not sent yet */
	HF_Q_SENT,       /* PUBLISH sent, awaiting PUBACK / PUBREC */
	HF_Q_RELEASED,   /* PUBREL sent, awaiting PUBCOMP */
};

struct hf_qentry {
	struct hf_qentry *next;
	struct hf_msg *msg; /* NULL until loaded (msg_id names it) */
	uint64_t msg_id;    /* its body's store id, read from the queue */
	uint64_t seq;       /* key of its store record (durable sessions) */
	uint16_t pid;
	uint8_t qos;
	uint8_t state; /* enum hf_qstate */
	bool retain;   /* retain flag as delivered */
	uint16_t n_subids;
	uint32_t *subids; /* n_subids, owned */
};

struct hf_subrec {
	char *filter; /* NUL-terminated copy (may start with $share/) */
	uint16_t len;
	uint8_t opts;
	uint32_t sub_id;
};

struct hf_session {
	struct hf_broker *b;
	struct hf_client *client; /* NULL while offline */
	int64_t offline_since;    /* monotonic ms, when client == NULL */
	int64_t last_ack_ms;      /* monotonic ms of its last ack (flow.c) */
	/* Durable sessions (sid != 0) keep their waiting messages in the
	 * store only: q_head/q_tail stay empty, n_queued/queued_bytes count
	 * the entries on disk from seq disk_next on, and hf_session_pump()
	 * streams them in as the window allows. */
	uint64_t sid;
	uint64_t next_seq;
	uint64_t disk_next;
	/* The store batch (hf_store_gen() + 1 when written) of the session's
	 * last waiting (QUEUED) entry: once handed over, reading the queue
	 * need not commit what is logged (durable.c, hf_dur_reads_begin). */
	uint64_t put_gen;

	struct hf_subrec *subs;
	struct hf_map *sub_index; /* filter -> position + 1, when many */

	/* Outgoing: sent and unacknowledged entries, in send order; then
	 * entries waiting for a window slot (state QUEUED), in arrival order.
	 */
	struct hf_qentry *inf_head, *inf_tail;
	struct hf_qentry *q_head, *q_tail;
	uint64_t queued_bytes;
	uint64_t inflight_bytes; /* payload bytes of the in-flight entries */
	uint8_t *pids_out;       /* bitmap of packet ids in flight, lazily */
	/* Incoming QoS 2 packet ids awaiting PUBREL: bitmap, lazily. */
	uint8_t *qos2_in;

	/* Will: published when the connection ends abnormally, after
	 * will_delay seconds or when the session ends, whichever is first. */
	struct hf_msg *will;
	int64_t will_at; /* monotonic ms; 0 = not pending */
	/* The will message id the session's store record names (and so
	 * holds one store reference on); only hf_dur_session_save() and
	 * hf_dur_session_drop() change it (durable.c). */
	uint64_t dur_will;

	/* Routing scratch for one publish (deduplication per session). */
	uint64_t match_gen; /* == broker's while routing one publish */

	struct hf_session *all_next, *all_prev; /* broker's list */

	/* Who the session is checked as (hf_acl_check), also while offline
	 * and after a restart; NULL: anonymous, through the broker's first
	 * listener (b->default_auth), which is most sessions and costs
	 * nothing (ident.c). */
	struct hf_ident *ident;

	uint32_t expiry; /* v5 session expiry interval, s; UINT32_MAX never */
	uint32_t n_subs, cap_subs;
	uint32_t n_inflight;
	uint32_t n_queued;
	uint32_t n_qos2_in;
	uint32_t will_delay;
	uint32_t match_idx; /* while routing: its entry in the targets */
	uint16_t id_len;
	uint16_t next_pid;
	uint8_t proto;
	bool persistent; /* survives the connection */
	bool congested;  /* in b->congested (flow.c) */
	/* Connected with the bridge bit (protocol level | 0x80, v3): its
	 * subscriptions get No Local and Retain As Published. */
	bool peer_bridge;
	/* The local session of one of our bridges (bridge.c): it never
	 * expires, reads and writes every topic, and no client may take it
	 * over; its queue is the bridge's outbox. NULL otherwise. */
	struct hf_bridge *bridge;
	char id[]; /* client id, NUL-terminated (allocated with the session) */
};

/* Who a session is checked as when it is not the default: its username
 * and certificate identity as its last CONNECT gave them (NULL: none),
 * and the listener it came through (whose auth context decides; stored as
 * its port). One allocation with its strings (ident.c). */
struct hf_ident {
	const struct hf_auth *auth;
	char *username; /* into buf, or NULL */
	char *cert_cn;  /* into buf, or NULL */
	uint16_t listener_port;
	char buf[];
};

/* The identity s is checked as (include/holdfast/auth.h). */
static inline struct hf_acl_subject
hf_session_subject(const struct hf_session *s)
{
	struct hf_acl_subject w = {s->id, s->ident ? s->ident->username : NULL,
	                           s->ident ? s->ident->cert_cn : NULL};
	return w;
}

#endif
