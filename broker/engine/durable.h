/* broker/engine/durable.h - the engine's side of the store (durable.c,
 * the only engine file that writes to it) and the checker of what ties
 * memory to the store (dur_check.c). Every call is a no-op without a
 * store. */
#ifndef HOLDFAST_ENGINE_DURABLE_H
#define HOLDFAST_ENGINE_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_broker;
struct hf_msg;
struct hf_qentry;
struct hf_session;
struct hf_subrec;

int hf_dur_open(struct hf_broker *b, char *err, size_t errlen);
int hf_dur_recover(struct hf_broker *b);
void hf_dur_close(struct hf_broker *b);
/* Commit the open writes (waiting for the writer thread's batch first);
 * false when the store failed. */
bool hf_dur_commit(struct hf_broker *b);
/* The store's writer thread (store.h): started once the store is read
 * back (wake is signalled from that thread when a batch is done), stopped
 * at shutdown. Without it (no store, or it could not start) commits run
 * in the loop as hf_dur_commit() does. */
struct uv_async_s;
void hf_dur_start_writer(struct hf_broker *b, struct uv_async_s *wake);
void hf_dur_stop_writer(struct hf_broker *b);
bool hf_dur_async(const struct hf_broker *b);
/* A batch is being committed by the writer thread. */
bool hf_dur_busy(const struct hf_broker *b);
/* Hand what is logged to the writer thread (call when not busy). */
void hf_dur_submit(struct hf_broker *b);
/* Take what the writer thread finished (metrics, contained
 * inconsistencies, a failure: b->store_failed). True when a batch became
 * durable since the last poll. */
bool hf_dur_poll(struct hf_broker *b);
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
/* How many writes are logged and not yet handed over. */
size_t hf_dur_pending_ops(const struct hf_broker *b);
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
/* Around reading s's waiting entries (and their bodies) from the store:
 * lets those reads skip committing the logged writes when none of them
 * is among what is read (see durable.c). */
void hf_dur_reads_begin(struct hf_session *s);
void hf_dur_reads_end(struct hf_broker *b);
void hf_dur_qos2(struct hf_session *s, uint16_t pid, bool on);
void hf_dur_retain(struct hf_broker *b, struct hf_msg *old, struct hf_msg *m);
/* dur_check.c: check the invariants between memory and the store (after
 * a commit); report() gets one line per violation. Returns the count. */
int hf_dur_check(struct hf_broker *b,
                 void (*report)(void *ctx, const char *what), void *ctx);
/* Wall-clock ms when the oldest entry of s's queue (in flight or
 * waiting) was queued, from the store; 0 when it has none, is not
 * durable, or the store does not know (entries from before format 3). */
int64_t hf_dur_oldest_queued_at(struct hf_session *s);
/* Fill out[] (entries with a subids copy) from the store; see durable.c.
 * Returns 0, -1 when the store cannot be read (logged), -2 out of memory. */
int hf_dur_queue_read(struct hf_session *s, size_t max, struct hf_qentry **out,
                      size_t *n);

#endif
