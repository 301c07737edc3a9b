/* broker/engine/outq.h - a session's outgoing queue and window (outq.c). */
#ifndef HOLDFAST_ENGINE_OUTQ_H
#define HOLDFAST_ENGINE_OUTQ_H

#include <stdbool.h>
#include <stdint.h>

struct hf_broker;
struct hf_msg;
struct hf_qentry;
struct hf_session;

/* Queue or send one message to a session. */
void hf_session_deliver(struct hf_session *s, struct hf_msg *m, uint8_t qos,
                        bool retain, const uint32_t *subids, uint16_t n_subids);
/* Send what the session's window allows (after connect, ack, new msg,
 * a drained socket). */
void hf_session_pump(struct hf_session *s);
/* Drop a durable session's hot tail (its entries stay in the store):
 * when its client goes, and before the session is freed. */
void hf_session_hot_drop(struct hf_session *s);
/* A packet id of s's outgoing space (0: none free or out of memory), for
 * a packet that is not a queue entry (a bridge's SUBSCRIBE), and its
 * release. */
uint16_t hf_session_alloc_pid(struct hf_session *s);
void hf_session_free_pid(struct hf_session *s, uint16_t pid);
/* Resend in-flight entries after a reconnect (DUP set; PUBREL as PUBREL). */
void hf_session_resend(struct hf_session *s);
/* The same for a peer that lost its side of the session (a bridge's
 * remote answering session present 0): PUBREL'd messages are done, the
 * rest go again as new. */
void hf_session_resend_fresh(struct hf_session *s);
/* True when s cannot take one more message of len payload bytes
 * (max_queued_messages, max_queued_bytes). */
bool hf_session_queue_full(const struct hf_session *s, uint32_t len);
/* The config key of the limit s's queue would pass with one more message
 * of len payload bytes ("max_queued_messages", "max_queued_bytes"), or
 * NULL when it has room. */
const char *hf_session_queue_limit(const struct hf_session *s, uint32_t len);
/* The configured value of that limit. */
uint64_t hf_queue_limit_value(const struct hf_session *s, const char *limit);
/* The in-flight list: e appended after being sent; e unlinked (prev is
 * the entry before it, or NULL); e removed with its store record once its
 * flow is complete or abandoned. */
void hf_inflight_append(struct hf_session *s, struct hf_qentry *e);
void hf_inflight_unlink(struct hf_session *s, struct hf_qentry *prev,
                        struct hf_qentry *e);
void hf_inflight_remove(struct hf_session *s, struct hf_qentry *prev,
                        struct hf_qentry *e);
/* Queue entries come from and go back to a free list kept by the broker
 * (no malloc per delivery once it has filled). */
struct hf_qentry *hf_qentry_new(struct hf_broker *b);
void hf_qentry_free(struct hf_broker *b, struct hf_qentry *e);
void hf_qentry_spares_free(struct hf_broker *b);

#endif
