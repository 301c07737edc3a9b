/* broker/engine/broker.c - the broker object: the loop's phases, timers,
 * signals, and shutdown.
 *
 * One libuv loop in one thread runs everything (docs/ARCHITECTURE.md). Each
 * loop turn ends in before_sleep() (a uv_prepare_t, run just before the loop
 * polls for I/O): this is where the turn's store writes will be committed,
 * and only after that are the clients' output buffers handed to their
 * transports, so no acknowledgment can overtake the commit it depends on
 * (redis writes its AOF before replies the same way). A one-second tick
 * drives keepalive, will delays and session expiry; a one-shot timer, armed
 * for the oldest connection still waiting for CONNECT, closes those that
 * exceed connect_timeout on time. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "broker.h"
#include "client.h"
#include "connect.h"
#include "durable.h"
#include "flow.h"
#include "msg.h"
#include "mount.h"
#include "outq.h"
#include "route.h"
#include "sys.h"

/* Longest a write that nothing waits for stays uncommitted. */
#define LAZY_COMMIT_MS 50
/* Batches of fewer store writes than this are committed by the loop
 * itself when the writer thread is idle (end_of_turn). */
#define SMALL_BATCH 32

static void end_of_turn(struct hf_broker *b);

int64_t
hf_now_ms(struct hf_broker *b)
{
	return (int64_t)uv_now(b->loop) + b->clock_skew_ms;
}

/* End of a loop turn: commit the turn's store writes, then release every
 * client's output and carry out the closes asked for during the turn. When
 * the commit fails nothing that waited for it is released: the engine goes
 * back to the last commit (store or disk full, out of memory) or the broker
 * stops (the disk failed), and what it had not yet acknowledged is simply
 * not acknowledged (engine/durable.c).
 *
 * With the store's writer thread (the usual case) the commit does not
 * block the loop: the turn's writes are handed to the thread as one batch
 * and the loop goes on reading and delivering while it syncs; the output
 * that waits for the batch is held until the thread reports it done
 * (store_wake), then released. At most one batch is in flight; writes
 * made meanwhile form the next one, handed over as soon as the first is
 * done.
 *
 * Invariant kept here (per client, in its output buffer, in order): the
 * first c->hold_off bytes wait for the batch in flight; after them, when
 * c->waits_commit, bytes wait for writes not yet handed over. Nothing of
 * either part reaches the transport before what it waits for is durable,
 * and since an acknowledgment is queued only after the writes it stands
 * for, every byte waits for every write logged before it. */
static void
lazy_commit_cb(uv_timer_t *t)
{
	struct hf_broker *b = t->data;
	b->dur_sync_needed = true; /* commit the lazy writes now */
	end_of_turn(b);
}

/* Hand the dirty clients' output to their transports, except what still
 * waits for a commit (see above). */
static void
flush_ready(struct hf_broker *b)
{
	struct hf_client **pp = &b->dirty;
	while (*pp) {
		struct hf_client *c = *pp;
		if (c->hold_off || c->waits_commit) {
			pp = &c->dirty_next;
			continue;
		}
		*pp = c->dirty_next;
		c->dirty = false;
		c->dirty_next = NULL;
		c->connack_held = false;
		hf_client_flush(c);
		if (c->close_pending && c->conn) {
			c->close_pending = false;
			c->conn->ops->close(c->conn);
		}
	}
}

/* Everything logged so far is durable: nothing waits any more. */
static void
release_all(struct hf_broker *b)
{
	for (struct hf_client *c = b->dirty; c; c = c->dirty_next) {
		c->hold_off = 0;
		c->waits_commit = false;
	}
}

/* The batch in flight is durable: the bytes that waited for it go; those
 * after them wait on (for the next batch) when they wait for anything. */
static void
release_batch(struct hf_broker *b)
{
	for (struct hf_client *c = b->dirty; c; c = c->dirty_next) {
		if (!c->hold_off)
			continue;
		if (c->waits_commit) {
			hf_client_flush_prefix(c, c->hold_off);
			c->connack_held = false; /* always first out */
		}
		c->hold_off = 0;
	}
}

/* Everything logged is in the batch in flight: what waits, waits for it. */
static void
tag_batch(struct hf_broker *b)
{
	for (struct hf_client *c = b->dirty; c; c = c->dirty_next) {
		if (!c->waits_commit)
			continue;
		c->hold_off = (uint32_t)c->out.len;
		c->waits_commit = false;
	}
}

static void
release_retained(void *m)
{
	hf_msg_unref(m);
}

/* The turn is lost but the store is sound (it, or the disk, is full; memory
 * ran out): go back to the last commit, as a restart would, without
 * stopping the process. Every connection is closed (v5: DISCONNECT 0x89,
 * Server busy) with its held output (acknowledgments of the lost turn)
 * thrown away; the engine's state is dropped without a store write and
 * read back from the store. Clients reconnect, find their sessions as last
 * committed and send again what was not acknowledged; wills of sessions
 * that were connected are armed as after a crash. Returns false when the
 * store cannot be read back (out of memory again, or the disk): the caller
 * stops. */
static bool
reset_to_last_commit(struct hf_broker *b)
{
	struct hf_store *st = b->store;
	b->stats.store_resets++;
	hf_log(&b->log, HF_LOG_ERR,
	       "Error: nothing of this turn was acknowledged; closing every "
	       "connection and continuing from the last commit.");
	hf_dur_abort(b);
	b->store = NULL; /* the teardown below writes nothing */
	for (struct hf_client *c = b->all_clients; c; c = c->all_next) {
		c->out.len = 0;
		c->hold_off = 0;
		c->waits_commit = false;
		if (c->s) {
			c->s->client = NULL;
			c->s = NULL;
			b->n_clients_connected--;
		}
		/* No DISCONNECT before the CONNACK it would follow
		 * [MQTT-3.14.0-1]: that one was in the output dropped. */
		hf_client_close(c, c->connack_held ? -1 : HF_RC_SERVER_BUSY);
	}
	/* Freeing every session empties the subscription tree; nothing here
	 * allocates (memory may be what ran out). */
	while (b->all_sessions)
		hf_session_free(b->all_sessions, false);
	hf_retain_clear(b->retained, release_retained);
	hf_map_free(&b->msg_cache);
	memset(&b->msg_cache, 0, sizeof(b->msg_cache));
	b->store = st;
	b->store_failed = false;
	b->store_fail_rc = 0;
	b->dur_sync_needed = false;
	return hf_dur_recover(b) == 0;
}

/* The writer thread's side of end_of_turn (the store is sound). */
static void
turn_async(struct hf_broker *b)
{
	bool busy = hf_dur_busy(b);
	if (b->dur_sync_needed && hf_dur_pending(b)) {
		if (!busy) {
			hf_dur_submit(b);
			tag_batch(b);
			b->dur_sync_needed = false;
		}
		/* else: handed over when the batch in flight is done */
	} else {
		b->dur_sync_needed = false;
		if (busy)
			tag_batch(b); /* what it waits for is in flight */
		else
			release_all(b);
	}
	flush_ready(b);
	if (!b->dur_sync_needed && hf_dur_pending(b) &&
	    !uv_is_active((uv_handle_t *)&b->lazy_commit))
		uv_timer_start(&b->lazy_commit, lazy_commit_cb, LAZY_COMMIT_MS,
		               0);
}

static void
end_of_turn(struct hf_broker *b)
{
	/* Connections whose output could not be buffered close now, within
	 * the turn (their detach may write to the store). */
	for (struct hf_client *c = b->dirty; c; c = c->dirty_next)
		if (c->output_lost && c->state != HF_C_CLOSING)
			hf_client_close(c, -1);
	hf_flow_check(b); /* publishers paused for a subscriber behind */
	/* What the writer thread finished: its output goes. */
	if (hf_dur_poll(b) && !b->store_failed) {
		release_batch(b);
		hf_metrics_acks_released(b, false);
	}
	/* A small batch (QoS 2 chains, light traffic) has little to overlap
	 * with its fsync, and handing it to the thread would add two
	 * wake-ups to the latency of every stage waiting for it: the loop
	 * commits it itself (below) while the thread is idle. */
	bool small = !hf_dur_busy(b) && hf_dur_pending_ops(b) < SMALL_BATCH;
	if (hf_dur_async(b) && !b->store_failed && !b->shutting_down &&
	    !b->store_full && !small) {
		turn_async(b);
		return;
	}
	/* While the store is full, commit every turn: freed space counts
	 * only once its release is committed. */
	bool sync = b->dur_sync_needed || b->store_failed || b->shutting_down ||
	            b->store_full || hf_dur_busy(b);
	if (!sync) {
		/* Nothing in this turn's output depends on its writes: send
		 * now, commit with a later turn or when the timer fires. */
		if (hf_dur_pending(b) &&
		    !uv_is_active((uv_handle_t *)&b->lazy_commit))
			uv_timer_start(&b->lazy_commit, lazy_commit_cb,
			               LAZY_COMMIT_MS, 0);
	} else {
		/* Output that waits for nothing leaves before the fsync. */
		flush_ready(b);
		bool ok = hf_dur_commit(b);
		if (!ok && !b->shutting_down && hf_dur_turn_recoverable(b)) {
			if (reset_to_last_commit(b)) {
				hf_metrics_acks_released(b, true);
				release_all(b);
				flush_ready(b);
				return;
			}
			ok = false;
			b->store_failed = true;
		}
		if (!ok) {
			if (!b->exit_code)
				hf_log(&b->log, HF_LOG_ERR,
				       "Error: the store cannot take more "
				       "writes; stopping without acknowledging "
				       "this turn's messages.");
			b->exit_code = 1;
			hf_metrics_acks_released(b, true);
			for (struct hf_client *c = b->dirty; c;
			     c = c->dirty_next)
				c->out.len = 0;
			if (!b->shutting_down) {
				hf_broker_shutdown(b); /* comes back here */
				return;
			}
		}
	}
	release_all(b);
	flush_ready(b);
	hf_metrics_acks_released(b, false);
}

/* The writer thread finished a batch. Waking the loop is all it takes:
 * the next turn's end (before_sleep) takes the result and releases. */
static void
store_wake_cb(uv_async_t *h)
{
	(void)h;
}

static void
before_sleep(uv_prepare_t *h)
{
	end_of_turn(h->data);
}

static void
tick_cb(uv_timer_t *t)
{
	struct hf_broker *b = t->data;
	hf_session_tick(b, hf_now_ms(b));
	hf_metrics_tick(b);
	hf_dur_trim(b); /* once a second: RSS is the broker's own memory */
	if (b->store_full)
		hf_dur_refresh_usage(b);
}

static void
connect_timer_cb(uv_timer_t *t)
{
	struct hf_broker *b = t->data;
	int64_t next = hf_connect_timeouts(b, hf_now_ms(b));
	if (next >= 0)
		uv_timer_start(t, connect_timer_cb, (uint64_t)next, 0);
}

void
hf_broker_arm_connect_timer(struct hf_broker *b)
{
	/* Deadlines come in accept order with one timeout, so the armed
	 * deadline is always the earliest. */
	if (!b->handles_ready || b->shutting_down ||
	    uv_is_active((uv_handle_t *)&b->connect_timer))
		return;
	uv_timer_start(&b->connect_timer, connect_timer_cb,
	               (uint64_t)b->conf->connect_timeout * 1000, 0);
}

static void
signal_cb(uv_signal_t *h, int signum)
{
	struct hf_broker *b = h->data;
	hf_log(&b->log, HF_LOG_NOTICE, "holdfast %s terminating (signal %d).",
	       HF_VERSION, signum);
	hf_broker_shutdown(b);
}

int
hf_broker_init(struct hf_broker *b, uv_loop_t *loop,
               const struct hf_config *conf)
{
	b->loop = loop;
	b->conf = conf;
	b->start_time = time(NULL);
	hf_metrics_init(&b->m);
	b->sessions.borrow_keys = true; /* keys are the sessions' own ids */
	b->tree = hf_tree_new();
	b->retained = hf_retain_new();
	if (!b->tree || !b->retained)
		return -1;
	uv_prepare_init(loop, &b->before_sleep);
	b->before_sleep.data = b;
	uv_prepare_start(&b->before_sleep, before_sleep);
	uv_timer_init(loop, &b->tick);
	b->tick.data = b;
	uv_timer_start(&b->tick, tick_cb, 1000, 1000);
	uv_timer_init(loop, &b->sys_timer);
	b->sys_timer.data = b;
	uv_timer_init(loop, &b->connect_timer);
	b->connect_timer.data = b;
	uv_timer_init(loop, &b->lazy_commit);
	b->lazy_commit.data = b;
	uv_timer_init(loop, &b->flow_timer);
	b->flow_timer.data = b;
	uv_signal_init(loop, &b->sig_term);
	uv_signal_init(loop, &b->sig_int);
	b->sig_term.data = b->sig_int.data = b;
	uv_signal_start(&b->sig_term, signal_cb, SIGTERM);
	uv_signal_start(&b->sig_int, signal_cb, SIGINT);
	/* Every handle exists from here on, so a failure below can go
	 * through hf_broker_shutdown(). */
	b->handles_ready = true;
	char err[1024];
	if (hf_dur_open(b, err, sizeof(err)) != 0) {
		hf_log(&b->log, HF_LOG_ERR, "Error: %s", err);
		return -1;
	}
	if (hf_dur_recover(b) != 0)
		return -1;
	/* Commits from here on overlap the loop's next turns. */
	uv_async_init(loop, &b->store_wake, store_wake_cb);
	b->store_wake.data = b;
	b->wake_ready = true;
	hf_dur_start_writer(b, &b->store_wake);
	hf_metrics_tick(b); /* the store answered: live from the start */
	hf_sys_start(b);
	/* Bridges' sessions exist (and their outboxes fill) before any
	 * client connects; the first dial waits for the loop. */
	if (hf_bridges_start(b) != 0)
		return -1;
	return 0;
}

void
hf_broker_shutdown(struct hf_broker *b)
{
	if (b->shutting_down)
		return;
	b->shutting_down = true;
	if (b->stop_accepting)
		b->stop_accepting(b->stop_accepting_ctx);
	hf_bridges_stop(b); /* a clean goodbye to each remote first */
	for (struct hf_client *c = b->all_clients; c; c = c->all_next)
		hf_client_close(c, HF_RC_SERVER_SHUTTING_DOWN);
	end_of_turn(b);
	/* The last batch is committed (end_of_turn waited): no more wakes. */
	hf_dur_stop_writer(b);
	if (b->wake_ready) {
		b->wake_ready = false;
		uv_close((uv_handle_t *)&b->store_wake, NULL);
	}
	if (!b->handles_ready)
		return;
	uv_close((uv_handle_t *)&b->tick, NULL);
	uv_close((uv_handle_t *)&b->sys_timer, NULL);
	uv_close((uv_handle_t *)&b->connect_timer, NULL);
	uv_close((uv_handle_t *)&b->lazy_commit, NULL);
	uv_close((uv_handle_t *)&b->flow_timer, NULL);
	uv_close((uv_handle_t *)&b->sig_term, NULL);
	uv_close((uv_handle_t *)&b->sig_int, NULL);
	/* before_sleep stays until the loop ends so the last DISCONNECTs
	 * flush; the loop stops once every connection has closed. */
	uv_close((uv_handle_t *)&b->before_sleep, NULL);
}

void
hf_broker_free(struct hf_broker *b)
{
	/* In-memory state only: the store keeps the durable sessions. */
	hf_dur_close(b);
	while (b->all_sessions)
		hf_session_free(b->all_sessions, false);
	hf_map_free(&b->sessions);
	if (b->tree)
		hf_tree_free(b->tree);
	if (b->retained)
		hf_retain_free(b->retained, release_retained);
	hf_map_free(&b->msg_cache);
	hf_qentry_spares_free(b);
	hf_encache_free(b);
	hf_route_free(b);
	hf_mount_free(b);
	hf_flow_free(b);
	hf_bridges_free(b);
}
