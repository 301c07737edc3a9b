/* broker/engine/subscribe.h - SUBSCRIBE and UNSUBSCRIBE, a session's
 * subscription records, retained messages sent on subscribing
 * (subscribe.c). */
#ifndef HOLDFAST_ENGINE_SUBSCRIBE_H
#define HOLDFAST_ENGINE_SUBSCRIBE_H

#include <stddef.h>
#include <stdint.h>

struct hf_client;
struct hf_session;
struct hf_subscribe;

void hf_handle_subscribe(struct hf_client *c, const struct hf_subscribe *p);
void hf_handle_unsubscribe(struct hf_client *c, const struct hf_subscribe *p);
void hf_session_drop_subs(struct hf_session *s);

/* A subscription record (replacing the options and id of an existing
 * one); also used by recovery. Returns 0 or -1 (out of memory). */
int hf_session_add_subrec(struct hf_session *s, const uint8_t *f, size_t len,
                          uint8_t opts, uint32_t sub_id);

/* Subscribe s to filter f with opts (no identifier), in the tree, its
 * records and the store: what a bridge's local session needs
 * (bridge.c). Returns 0 or -1 (out of memory). */
int hf_session_subscribe(struct hf_session *s, const uint8_t *f, size_t len,
                         uint8_t opts);
/* The reverse; nothing when s has no such subscription. */
void hf_session_unsubscribe(struct hf_session *s, const uint8_t *f, size_t len);

#endif
