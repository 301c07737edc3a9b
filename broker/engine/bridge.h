/* broker/engine/bridge.h - bridges to other brokers, in mosquitto's
 * `connection` syntax (bridge.c).
 *
 * A bridge is a local session with the remote broker as its client: the
 * messages its `out` topics match are queued to that session by the
 * ordinary routing, in the same store transaction as the PUBLISH that
 * brought them (so an acknowledged message is already in the outbox),
 * and leave it only when the remote acknowledges them. Its `in` topics
 * are the remote's messages, published locally by that session and
 * acknowledged to the remote after the local commit, as any client's.
 * The engine dials the remote through the dialler main.c hands it
 * (b->dialer); the connection is an ordinary struct hf_client whose
 * policy says outgoing. Loop thread only. */
#ifndef HOLDFAST_ENGINE_BRIDGE_H
#define HOLDFAST_ENGINE_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/codec.h"

struct hf_broker;
struct hf_bridge;
struct hf_bridge_conf;
struct hf_client;
struct hf_wbuf;

/* Make every configured bridge's session (resumed from the store when it
 * is there), subscribe it to its `out` topics, and schedule the first
 * dial (the dialler must be set by then; main.c sets it before the loop
 * runs). After recovery, before clients. Returns 0 or -1 (logged). */
int hf_bridges_start(struct hf_broker *b);
/* Shutdown: no more dials; a connected bridge says goodbye (its remote
 * notification goes to "0") and closes. Idempotent. */
void hf_bridges_stop(struct hf_broker *b);
/* After the loop has ended. */
void hf_bridges_free(struct hf_broker *b);

const struct hf_bridge_conf *hf_bridge_conf(const struct hf_bridge *br);
/* The bridge a dialled connection belongs to (NULL for any other). */
struct hf_bridge *hf_bridge_of(const struct hf_client *c);

/* The remote's answers to us as its client: CONNACK (while the
 * connection waits for it), SUBACK and UNSUBACK. */
void hf_bridge_connack(struct hf_client *c, const struct hf_connack *p);
void hf_bridge_suback(struct hf_client *c, uint8_t type,
                      const struct hf_suback *p);
/* The connection is gone (from the client's closed event). */
void hf_bridge_closed(struct hf_client *c);

/* Topic mapping. In: a topic from the remote to its local name (false:
 * no `in` topic maps it, the message is dropped). Out: a local topic to
 * the remote's name. The result points into a buffer of the bridge's,
 * valid until its next mapping. */
bool hf_bridge_topic_in(struct hf_client *c, struct hf_bytes *topic);
bool hf_bridge_topic_out(struct hf_client *c, const uint8_t *t, size_t len,
                         struct hf_bytes *out);
/* Whether outgoing PUBLISHes keep their retain flag
 * (bridge_outgoing_retain). */
bool hf_bridge_outgoing_retain(const struct hf_client *c);

/* n of the bridge's oldest messages were dropped to make room
 * (bridge_outbox_overflow drop_oldest): counted, and logged at the first
 * and then every 10 000th. */
void hf_bridge_dropped(struct hf_bridge *br, unsigned n);

/* Prometheus lines for every bridge (metrics.c) and the $SYS values
 * (sys.c): connected, outbox messages and bytes, age of the oldest. */
int hf_bridges_metrics(struct hf_broker *b, struct hf_wbuf *out);
void hf_bridges_sys(struct hf_broker *b,
                    void (*put)(struct hf_broker *b, const char *topic,
                                const char *value));

#endif
