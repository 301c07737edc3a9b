/* broker/engine/broker.h - the protocol engine's state as a whole: the
 * broker (sessions, clients, trees, the store, the loop's handles) and the
 * loop's phases (broker.c). Sessions, clients and messages have headers of
 * their own (session.h, client.h, msg.h), as has each file's API.
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
#include "client.h"
#include "config.h"
#include "encache.h"
#include "log.h"
#include "map.h"
#include "metrics.h"
#include "msg.h"
#include "session.h"

struct hf_bridge;
struct hf_store;
struct hf_target;

struct hf_stats {
	uint64_t msgs_received, msgs_sent;
	uint64_t bytes_received, bytes_sent;
	uint64_t pub_dropped;
	uint64_t pub_refused; /* QoS 1/2 refused: queue or store full */
	uint64_t flow_pauses; /* publishers paused for a subscriber (flow.c) */
	uint64_t flow_episodes;      /* sessions that became congested */
	uint64_t store_inconsistent; /* contained store inconsistencies */
	uint64_t store_resets;       /* engine reset to the last commit */
	uint64_t clients_max;
	uint64_t connections_total;
	uint64_t clients_expired; /* sessions ended by their expiry */
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
	/* The first listener's auth context and port: what a session with
	 * no identity of its own is checked by (ident.c). */
	const struct hf_auth *default_auth;
	uint16_t default_port;

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
	/* Entries in durable sessions' hot tails, and their payload bytes
	 * (outq.c). */
	uint64_t hot_n, hot_bytes;
	/* A fan-out's PUBLISH, encoded once (encache.c). */
	struct hf_encache enc;
	size_t n_targets, cap_targets;
	/* Why hf_publish_route() last refused (for its caller's log line):
	 * the session whose queue could not take the message, and the limit
	 * (a config key) it met. Valid until the next route. */
	const struct hf_session *refused_by;
	const char *refused_limit;
	/* A client's topic with its listener's mount point (mount.c). */
	uint8_t *mount_buf;
	size_t mount_cap;

	struct hf_store *store; /* NULL when persistence is off */
	uint64_t next_sid, next_msg_id;
	struct hf_map msg_cache; /* store id -> in-memory message */
	bool store_full;   /* over the refusal threshold (after last commit) */
	bool store_failed; /* the turn is lost: reset or stop (durable.c) */
	int store_fail_rc; /* why: the HF_STORE_* code */
	bool dur_sync_needed; /* this turn's output waits for a synced commit */
	uv_timer_t lazy_commit; /* commits lazy writes when no turn does */
	/* The store's writer thread (durable.c): on while dur_async; it
	 * wakes the loop through store_wake when a batch is done. */
	/* Flow control (flow.c): the client whose PUBLISH is being routed,
	 * sessions congested, publishers paused for them, the re-check. */
	struct hf_client *publisher;
	struct hf_session **congested;
	uint32_t n_congested, cap_congested;
	struct hf_client **flow_paused;
	uint32_t n_flow_paused, cap_flow_paused;
	uv_timer_t flow_timer;
	bool flow_logged; /* a "pausing publishers" line awaits its "resumed" */
	bool dur_async;
	bool wake_ready; /* store_wake initialised (and not yet closed) */
	uv_async_t store_wake;
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
	struct hf_metrics m; /* /metrics, /health, $SYS (metrics.h) */
	/* Dialling out (net/conn.h): set by main.c before the loop runs (bridges
	 * dial from a timer); dialer.dial NULL = no dialling. */
	struct hf_dialer dialer;
	struct hf_bridge *bridges; /* one per `connection` (bridge.c) */
	size_t n_bridges;
};

/* The monotonic clock, ms (libuv's, plus the test harness's skew). */
int64_t hf_now_ms(struct hf_broker *b);

/* broker.c */
int hf_broker_init(struct hf_broker *b, uv_loop_t *loop,
                   const struct hf_config *conf);
void hf_broker_shutdown(struct hf_broker *b);
void hf_broker_free(struct hf_broker *b);
void hf_client_mark_dirty(struct hf_client *c);
/* After the auth contexts were reloaded (SIGHUP): every connected client
 * whose credentials no longer hold (hf_auth_still_valid) is disconnected,
 * MQTT 5 with DISCONNECT 0x87 first; its session stays, as after any
 * disconnection, and its next CONNECT is checked afresh. Returns how many
 * were disconnected. (connect.c) */
unsigned hf_engine_recheck_auth(struct hf_broker *b);
/* The operator's signals (report.c): SIGUSR1 logs counts and the store's
 * statistics, SIGUSR2 every session's subscriptions; after a reload that
 * changed live settings in b->conf, hf_engine_reconfigured re-arms what
 * was armed with the old values. */
void hf_engine_log_stats(struct hf_broker *b);
void hf_engine_log_subscriptions(struct hf_broker *b);
void hf_engine_reconfigured(struct hf_broker *b, uint32_t old_sys_interval);
/* Arm the connect_timeout timer for a client just accepted (no-op when it
 * is already armed: it fires for the oldest deadline first). */
void hf_broker_arm_connect_timer(struct hf_broker *b);

#endif
