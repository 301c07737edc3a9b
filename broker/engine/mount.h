/* broker/engine/mount.h - a listener's mount_point (mosquitto's key): a
 * prefix put before every topic name and filter its clients send, and
 * taken off every topic they receive, so that the clients of a listener
 * live in a subtree of their own. The tree, the retained messages, the
 * store and the ACLs see the full topic; only the client does not.
 * Loop thread only. */
#ifndef HOLDFAST_ENGINE_MOUNT_H
#define HOLDFAST_ENGINE_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/bytes.h"

struct hf_broker;
struct hf_client;

/* The client's listener's mount point, or NULL. */
const char *hf_mount_point(const struct hf_client *c);

/* in as the broker keeps it: the mount point before it (for a filter
 * $share/GROUP/F, before F). Without a mount point *out = in. Otherwise
 * *out points into the broker's scratch buffer, valid until the next call.
 * Returns false when the result is longer than a topic can be (65535
 * bytes) or memory ran out. */
bool hf_mount_topic(struct hf_client *c, struct hf_bytes in,
                    struct hf_bytes *out);
bool hf_mount_filter(struct hf_client *c, struct hf_bytes in,
                     struct hf_bytes *out);

/* How many leading bytes of topic to leave out when sending it to c: the
 * mount point's length when topic starts with it (and is longer), else 0. */
size_t hf_mount_strip(const struct hf_client *c, const uint8_t *topic,
                      size_t len);

void hf_mount_free(struct hf_broker *b);

#endif
