/* broker/engine/connect.h - CONNECT and DISCONNECT, sessions' lifetime,
 * wills, keepalive and connect timeouts (connect.c). */
#ifndef HOLDFAST_ENGINE_CONNECT_H
#define HOLDFAST_ENGINE_CONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_ack;
struct hf_broker;
struct hf_client;
struct hf_connect;
struct hf_session;

void hf_handle_connect(struct hf_client *c, const struct hf_connect *p);
void hf_handle_disconnect(struct hf_client *c, const struct hf_ack *p);
void hf_client_detach(struct hf_client *c); /* connection ended */
void hf_session_free(struct hf_session *s, bool publish_will);
void hf_session_tick(struct hf_broker *b, int64_t now);
/* Close the connections that have not completed CONNECT within
 * connect_timeout; returns the ms until the next such deadline, or -1 when
 * no connection is waiting for CONNECT. */
int64_t hf_connect_timeouts(struct hf_broker *b, int64_t now);

struct hf_session *hf_session_new(struct hf_broker *b, const uint8_t *id,
                                  size_t len);

#endif
