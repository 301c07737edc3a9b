/* broker/engine/encache.h - a fan-out's PUBLISH, encoded once per (3.1.x
 * or 5.0, QoS, retain) and copied to every subscriber that takes it
 * unchanged (encache.c). */
#ifndef HOLDFAST_ENGINE_ENCACHE_H
#define HOLDFAST_ENGINE_ENCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/codec.h"

struct hf_broker;
struct hf_client;
struct hf_msg;
struct hf_packet;

/* Messages up to this size (topic, payload and properties) are encoded once
 * per fan-out; for bigger ones the copy dominates and encoding adds little. */
#define HF_ENCACHE_MAX_BYTES 4096
/* One slot per (3.1.x or 5.0) x (QoS 0, 1, 2) x (retain or not). */
#define HF_ENCACHE_SLOTS (2 * 3 * 2)

struct hf_encache {
	struct hf_enc_copy {
		uint64_t gen; /* the routing generation it was made for */
		const struct hf_msg *m;
		size_t pid_off; /* where the packet id goes */
		struct hf_wbuf buf;
	} slot[HF_ENCACHE_SLOTS];
};

/* Queue p (a PUBLISH of m for c) from the shared copy when it can be one.
 * Returns false when p cannot be shared (the caller encodes it itself);
 * else *ok says whether it was queued (hf_client_send_publish_bytes). */
bool hf_encache_send(struct hf_client *c, const struct hf_msg *m,
                     const struct hf_packet *p, bool *ok);
/* Free the slots' buffers (the broker is going). */
void hf_encache_free(struct hf_broker *b);

#endif
