/* broker/broker.h - the protocol engine's state: broker, sessions, clients,
 * messages and the per-session delivery queue.
 *
 * Everything here is owned by the one loop thread (docs/ARCHITECTURE.md).
 * There is no global state: every function takes the struct hf_broker (or
 * an object that points back to it).
 *
 * Ownership in one paragraph: a struct hf_msg is refcounted and shared by
 * every queue entry, retained slot and will that refers to it. A session
 * owns its queue entries, its subscription list and its will. A client (one
 * network connection) owns its input and output buffers and its topic-alias
 * tables; it points at its session while attached. A connection (transport)
 * belongs to net/ and points back at the client; the engine closes it through
 * the transport's vtable and frees the client only from the transport's
 * closed callback. */
#ifndef HOLDFAST_BROKER_H
#define HOLDFAST_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "holdfast/auth.h"
#include "holdfast/codec.h"
#include "holdfast/topic.h"
#include "config.h"
#include "log.h"
#include "map.h"
#include "net/conn.h"

struct hf_broker;
struct hf_session;
struct hf_store;

/* A message, stored once and referenced by every queue that holds it.
 * data[] holds, in this order: topic, payload, content type, response topic,
 * correlation data, user properties (wire form, see codec.h). */
struct hf_msg {
	uint32_t refs;
	uint64_t store_id;     /* body id in the store; 0 = not stored */
	struct hf_map *cache;  /* the broker's id -> msg cache, when in it */
	bool retained_durable; /* the store marks it as a retained message */
	int32_t dur_pending;   /* store references not yet written (routing) */
	uint64_t dur_gen;      /* routing generation that wrote its first one */
	uint8_t qos;
	bool retain;
	bool has_payload_format;
	uint8_t payload_format;
	bool has_expiry;
	uint16_t topic_len;
	uint16_t ctype_len;
	uint16_t rtopic_len;
	uint16_t corr_len;
	uint32_t payload_len;
	uint32_t user_len;
	uint32_t n_user;
	int64_t expiry_at; /* wall-clock ms when has_expiry */
	uint8_t data[];
};

static inline const uint8_t *
hf_msg_topic(const struct hf_msg *m)
{
	return m->data;
}
static inline const uint8_t *
hf_msg_payload(const struct hf_msg *m)
{
	return m->data + m->topic_len;
}

/* Queue entry states. */
enum hf_qstate {
	HF_Q_QUEUED = 0, /* not sent yet */
	HF_Q_SENT,       /* PUBLISH sent, awaiting PUBACK / PUBREC */
	HF_Q_RELEASED,   /* PUBREL sent, awaiting PUBCOMP */
};

struct hf_qentry {
	struct hf_qentry *next;
	struct hf_msg *msg;
	uint64_t seq; /* key of its store record (durable sessions) */
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
	/* Durable sessions (sid != 0) keep their waiting messages in the
	 * store only: q_head/q_tail stay empty, n_queued/queued_bytes count
	 * the entries on disk from seq disk_next on, and hf_session_pump()
	 * streams them in as the window allows. */
	uint64_t sid;
	uint64_t next_seq;
	uint64_t disk_next;

	struct hf_subrec *subs;
	struct hf_map *sub_index; /* filter -> position + 1, when many */

	/* Outgoing: sent and unacknowledged entries, in send order; then
	 * entries waiting for a window slot (state QUEUED), in arrival order.
	 */
	struct hf_qentry *inf_head, *inf_tail;
	struct hf_qentry *q_head, *q_tail;
	uint64_t queued_bytes;
	uint8_t *pids_out; /* bitmap of packet ids in flight, lazily */
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
	 * and after a restart: its username and certificate identity as
	 * the last CONNECT gave them (owned; NULL: none), and the listener
	 * it came through (whose auth context decides; stored as its port). */
	char *username;
	char *cert_cn;
	const struct hf_auth *auth;
	uint16_t listener_port;

	uint32_t expiry; /* v5 session expiry interval, s; UINT32_MAX never */
	uint32_t n_subs, cap_subs;
	uint32_t n_inflight;
	uint64_t inflight_bytes; /* payload bytes of the in-flight entries */
	uint32_t n_queued;
	uint32_t n_qos2_in;
	uint32_t will_delay;
	uint32_t match_idx; /* while routing: its entry in the targets */
	uint16_t id_len;
	uint16_t next_pid;
	uint8_t proto;
	bool persistent; /* survives the connection */
	char id[]; /* client id, NUL-terminated (allocated with the session) */
};

/* The identity s is checked as (include/holdfast/auth.h). */
static inline struct hf_acl_subject
hf_session_subject(const struct hf_session *s)
{
	struct hf_acl_subject w = {s->id, s->username, s->cert_cn};
	return w;
}

/* May s receive a message on m's topic (the ACL of the listener it came
 * through)? */
bool hf_session_may_read(const struct hf_session *s, const struct hf_msg *m);

enum hf_cstate {
	HF_C_NEW = 0, /* waiting for CONNECT */
	HF_C_CONNECTED,
	HF_C_CLOSING,
};

struct hf_client {
	struct hf_broker *b;
	struct hf_conn *conn;
	struct hf_session *s;
	const struct hf_policy *policy; /* its listener's settings */
	int64_t last_rx;                /* monotonic ms */

	struct hf_wbuf out; /* encoded, not yet handed to the transport */
	struct hf_wbuf
	    *in; /* an incomplete packet's bytes, when there is one */

	/* Topic aliases: inbound (index = alias), outbound (topic -> alias). */
	struct hf_bytes *alias_in; /* owned copies, alias_in_n slots */
	struct hf_map *alias_out;  /* allocated on first use */
	struct hf_client *dirty_next;
	struct hf_client *all_next, *all_prev;

	/* Limits the client gave us (v5), or defaults. */
	uint32_t max_packet;    /* largest packet it accepts; 0 = none */
	uint16_t recv_max;      /* our in-flight QoS 1/2 limit towards it */
	uint16_t alias_max_out; /* topic aliases it accepts from us */
	uint16_t alias_in_n;
	uint16_t alias_out_next;
	uint16_t keepalive;

	/* Bit-fields: with them the struct is 136 bytes and takes a
	 * 144-byte heap chunk instead of 160 (idle connections). */
	uint8_t state : 2;         /* enum hf_cstate */
	uint8_t proto : 3;         /* 3, 4 or 5 */
	bool disconnect_clean : 1; /* DISCONNECT received: no will */
	bool close_pending : 1;    /* close after the turn's commit, flush */
	bool waits_commit : 1;     /* output holds a packet needing commit */
	bool dirty : 1;            /* on the broker's flush list */
	bool request_problem : 1;  /* v5: reason strings allowed */
	bool pump_due : 1;     /* acks freed window slots: pump after input */
	bool output_lost : 1;  /* a packet could not be buffered: close */
	bool connack_held : 1; /* its CONNACK waits in out (not sent yet) */
	bool throttled : 1;    /* output over the limit: reading paused */
};

/* Room for "ip:port", IPv6 included. */
#define HF_PEER_LEN 56

struct hf_stats {
	uint64_t msgs_received, msgs_sent;
	uint64_t bytes_received, bytes_sent;
	uint64_t pub_dropped;
	uint64_t pub_refused;        /* QoS 1/2 refused: queue or store full */
	uint64_t store_inconsistent; /* contained store inconsistencies */
	uint64_t store_resets;       /* engine reset to the last commit */
	uint64_t clients_max;
	uint64_t connections_total;
};

struct hf_broker {
	uv_loop_t *loop;
	const struct hf_config *conf;
	struct hf_logger log;

	/* Called once when shutdown begins: stop accepting (main.c wires
	 * it to the listener layer, which the engine does not know). */
	void (*stop_accepting)(void *ctx);
	void *stop_accepting_ctx;
	/* The authentication context of the listener that had this port,
	 * for a session read back from the store (main.c wires it before
	 * hf_broker_init; NULL: sessions are restored without one). */
	const struct hf_auth *(*auth_for_port)(void *ctx, uint16_t port);
	void *auth_for_port_ctx;

	struct hf_tree *tree;
	struct hf_retain_tree *retained;
	struct hf_map sessions; /* client id -> struct hf_session */
	struct hf_session *all_sessions;
	struct hf_client *all_clients;
	struct hf_client *dirty; /* clients with output to flush */
	uint32_t n_clients_connected;
	uint32_t n_clients_new; /* state HF_C_NEW: waiting for CONNECT */
	uint32_t n_sessions;

	uint64_t match_gen;
	bool routing; /* inside hf_publish_route's delivery loop */
	uint64_t auto_id_counter;
	struct hf_target *targets;  /* routing scratch, reused */
	struct hf_qentry *qe_spare; /* free list, linked by next */
	uint32_t n_qe_spare;
	/* A fan-out's PUBLISH, encoded once per (v5 or not, QoS, retain) and
	 * copied to every subscriber that takes it unchanged; valid while
	 * routing generation gen lasts (publish.c). */
	struct hf_enc_copy {
		uint64_t gen;
		const struct hf_msg *m;
		size_t pid_off;
		struct hf_wbuf buf;
	} enc[12];
	size_t n_targets, cap_targets;

	struct hf_store *store; /* NULL when persistence is off */
	uint64_t next_sid, next_msg_id;
	struct hf_map msg_cache; /* store id -> in-memory message */
	bool store_full;   /* over the refusal threshold (after last commit) */
	bool store_failed; /* the turn is lost: reset or stop (durable.c) */
	int store_fail_rc; /* why: the HF_STORE_* code */
	bool dur_sync_needed; /* this turn's output waits for a synced commit */
	uv_timer_t lazy_commit; /* commits lazy writes when no turn does */
	int exit_code;

	uv_prepare_t before_sleep;
	uv_timer_t tick;          /* 1 s: keepalive, wills, expiry */
	uv_timer_t connect_timer; /* the next connect_timeout deadline */
	uv_timer_t sys_timer;
	uv_signal_t sig_term, sig_int;
	bool shutting_down;
	bool handles_ready; /* loop handles initialised (shutdown may close) */
	int64_t start_time; /* wall-clock s */
	/* Added to the monotonic clock: 0 in service; the engine test
	 * harness moves time forward with it (keepalive, expiry, wills). */
	int64_t clock_skew_ms;
	struct hf_stats stats;
};

/* One delivery decided by routing: a shared-group member, or a session with
 * all its matching plain subscriptions merged. */
struct hf_target {
	struct hf_session *s;
	uint8_t qos; /* highest granted */
	bool retain;
	bool rap; /* some matching subscription has Retain As Published */
	bool shared;
	uint16_t nsub; /* distinct subscription ids, in subids */
	uint32_t subids[16];
};

/* Time. */
int64_t hf_now_ms(struct hf_broker *b); /* monotonic, ms */
int64_t hf_wall_ms(void);               /* wall clock, ms */

/* broker.c */
int hf_broker_init(struct hf_broker *b, uv_loop_t *loop,
                   const struct hf_config *conf);
void hf_broker_shutdown(struct hf_broker *b);
void hf_broker_free(struct hf_broker *b);
void hf_client_mark_dirty(struct hf_client *c);
/* Arm the connect_timeout timer for a client just accepted (no-op when it
 * is already armed: it fires for the oldest deadline first). */
void hf_broker_arm_connect_timer(struct hf_broker *b);

/* msg.c */
struct hf_msg *hf_msg_new(const struct hf_publish *p, int64_t now_wall);
struct hf_msg *hf_msg_new_simple(const char *topic, const void *payload,
                                 size_t len, uint8_t qos, bool retain);
void hf_msg_ref(struct hf_msg *m);
void hf_msg_unref(struct hf_msg *m);
bool hf_msg_expired(const struct hf_msg *m, int64_t now_wall);

/* client.c: the engine side of a connection. hf_engine_accept() is the
 * acceptor (net/conn.h) the listener layer hands every new connection to
 * (ctx: the broker): it makes the client and takes the connection's
 * events (data, drained, eof, closed). Returns 0 or -1 (out of memory). */
int hf_engine_accept(void *ctx, struct hf_conn *conn);
/* Every state change goes through here (it counts the clients waiting for
 * CONNECT, b->n_clients_new). */
void hf_client_set_state(struct hf_client *c, enum hf_cstate state);
/* Encode and queue a packet for c. Returns false only when it exceeds the
 * client's Maximum Packet Size (the caller discards it, v5 3.1.2.25).
 * Otherwise true, also when the packet is lost with its connection: c is
 * closing, or the packet could not be buffered (out of memory; c is then
 * closed at the end of the turn), so the caller keeps its state as for a
 * packet sent and lost in the network. */
bool hf_client_send(struct hf_client *c, const struct hf_packet *p);
/* Queue a PUBLISH already encoded for c's protocol version (a fan-out's
 * shared copy), writing pid at pid_off when qos > 0. Same checks and
 * bookkeeping as hf_client_send(). */
bool hf_client_send_publish_bytes(struct hf_client *c, const uint8_t *p,
                                  size_t len, uint8_t qos, size_t pid_off,
                                  uint16_t pid);
/* Close after sending a v5 DISCONNECT with rc (when the protocol allows). */
void hf_client_close(struct hf_client *c, int rc); /* rc < 0: none */
/* Hand c's output to its transport; past client_max_write_buffer_size
 * waiting there, stop reading from c until its transport has sent it all
 * (the drained event): MQTT's own flow control slows the client. */
void hf_client_flush(struct hf_client *c);
/* More than client_max_write_buffer_size waits for c's socket (encoded,
 * or in the transport): QoS 0 for it is dropped, QoS 1/2 stays queued. */
bool hf_client_backlogged(const struct hf_client *c);
/* The peer's "ip:port" (asked of the transport, so no client stores it),
 * written to buf (HF_PEER_LEN bytes); returns buf. */
const char *hf_client_peer(const struct hf_client *c, char *buf);
/* Log why (naming the client and the reason code), then hf_client_close. */
void hf_client_fail(struct hf_client *c, int rc, const char *what);

/* connect.c */
void hf_handle_connect(struct hf_client *c, const struct hf_connect *p);
void hf_handle_disconnect(struct hf_client *c, const struct hf_ack *p);
void hf_client_detach(struct hf_client *c); /* connection ended */
void hf_session_free(struct hf_session *s, bool publish_will);
void hf_session_tick(struct hf_broker *b, int64_t now);
/* Close the connections that have not completed CONNECT within
 * connect_timeout; returns the ms until the next such deadline, or -1 when
 * no connection is waiting for CONNECT. */
int64_t hf_connect_timeouts(struct hf_broker *b, int64_t now);

/* publish.c */
/* decode_rc: HF_OK, or HF_RC_PAYLOAD_FORMAT_INVALID when hf_decode() found
 * only that (the PUBLISH is then refused, not routed). */
void hf_handle_publish(struct hf_client *c, const struct hf_publish *p,
                       int decode_rc);
void hf_handle_puback(struct hf_client *c, const struct hf_ack *a);
void hf_handle_pubrec(struct hf_client *c, const struct hf_ack *a);
void hf_handle_pubrel(struct hf_client *c, const struct hf_ack *a);
void hf_handle_pubcomp(struct hf_client *c, const struct hf_ack *a);
/* Route msg to every matching subscription; origin is the publishing
 * session (for No Local) or NULL. Handles the retained store. With
 * may_refuse, a QoS 1/2 message that a full queue or a full store cannot
 * take is refused whole (nothing delivered, retained unchanged) and -1 is
 * returned; otherwise full queues drop it. Returns the number of sessions it
 * was delivered or queued to. */
int hf_publish_route(struct hf_broker *b, struct hf_msg *m,
                     const struct hf_session *origin, bool may_refuse);
/* Send what the session's window allows (after connect, ack, new msg). */
void hf_session_pump(struct hf_session *s);
/* Resend in-flight entries after a reconnect (DUP set). */
void hf_session_resend(struct hf_session *s);
/* Queue entries come from and go back to a free list kept by the broker
 * (no malloc per delivery once it has filled). */
struct hf_qentry *hf_qentry_new(struct hf_broker *b);
void hf_qentry_free(struct hf_broker *b, struct hf_qentry *e);
void hf_qentry_spares_free(struct hf_broker *b);
void hf_enc_copies_free(struct hf_broker *b);
/* Queue or send one message to a session. */
void hf_session_deliver(struct hf_session *s, struct hf_msg *m, uint8_t qos,
                        bool retain, const uint32_t *subids, uint16_t n_subids);

/* subscribe.c */
void hf_handle_subscribe(struct hf_client *c, const struct hf_subscribe *p);
void hf_handle_unsubscribe(struct hf_client *c, const struct hf_subscribe *p);
void hf_session_drop_subs(struct hf_session *s);

/* sys.c */
void hf_sys_start(struct hf_broker *b);
void hf_sys_publish(struct hf_broker *b);

/* durable.c: the engine's side of the store (no-ops without a store). */
int hf_dur_open(struct hf_broker *b, char *err, size_t errlen);
int hf_dur_recover(struct hf_broker *b);
void hf_dur_close(struct hf_broker *b);
/* Commit the open writes; false when the store failed. */
bool hf_dur_commit(struct hf_broker *b);
/* The engine cannot keep this turn's promises (out of memory where a QoS
 * 1/2 delivery would be dropped): lose the turn as a failed commit would.
 * No-op without a store. */
void hf_dur_fail_turn(struct hf_broker *b, const char *why);
/* The failed turn can be recovered by resetting to the last commit (store
 * or disk full, out of memory); otherwise the broker must stop. */
bool hf_dur_turn_recoverable(const struct hf_broker *b);
/* Drop the open transaction (the turn is lost). */
void hf_dur_abort(struct hf_broker *b);
/* Look again at how full the store (and its disk) is: b->store_full. Done
 * after each commit and once a second, so refusals end when space returns
 * even if nothing is written. */
void hf_dur_refresh_usage(struct hf_broker *b);
/* Give back the store pages read through the map (RSS); see store.h. */
void hf_dur_trim(struct hf_broker *b);
/* Writes are open that no commit has taken yet. */
bool hf_dur_pending(const struct hf_broker *b);
void hf_dur_msg_ref(struct hf_broker *b, struct hf_msg *m, int32_t delta);
/* A stored body, from the cache or the store (a new reference). NULL when
 * it is not stored or does not decode (logged), or out of memory (then the
 * turn is failed: hf_dur_fail_turn). */
struct hf_msg *hf_dur_msg_load(struct hf_broker *b, uint64_t id);
void hf_dur_session_save(struct hf_session *s, bool sync);
void hf_dur_session_drop(struct hf_session *s);
void hf_dur_sub_put(struct hf_session *s, const struct hf_subrec *r);
void hf_dur_sub_del(struct hf_session *s, const uint8_t *f, uint16_t len);
void hf_dur_qentry_put(struct hf_session *s, const struct hf_qentry *e);
void hf_dur_qentry_del(struct hf_session *s, uint64_t seq);
void hf_dur_qos2(struct hf_session *s, uint16_t pid, bool on);
void hf_dur_retain(struct hf_broker *b, struct hf_msg *old, struct hf_msg *m);
/* dur_check.c: check the invariants between memory and the store (after
 * a commit); report() gets one line per violation. Returns the count. */
int hf_dur_check(struct hf_broker *b,
                 void (*report)(void *ctx, const char *what), void *ctx);
/* Fill out[] (entries with a subids copy) from the store; see durable.c.
 * Returns 0, -1 when the store cannot be read (logged), -2 out of memory. */
int hf_dur_queue_read(struct hf_session *s, size_t max, struct hf_qentry **out,
                      size_t *n);

/* subscribe.c helpers used by recovery */
int hf_session_add_subrec(struct hf_session *s, const uint8_t *f, size_t len,
                          uint8_t opts, uint32_t sub_id);
struct hf_session *hf_session_new(struct hf_broker *b, const uint8_t *id,
                                  size_t len);

#endif
