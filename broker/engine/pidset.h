/* broker/engine/pidset.h - a set of MQTT packet identifiers (1..65535) as
 * a bitmap of HF_PIDSET_BYTES, allocated when first needed: a session's
 * outgoing ids in flight (pids_out) and its inbound QoS 2 ids awaiting
 * PUBREL (qos2_in). A NULL set is empty. Loop thread only. */
#ifndef HOLDFAST_ENGINE_PIDSET_H
#define HOLDFAST_ENGINE_PIDSET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define HF_PIDSET_BYTES (65536 / 8)

/* A new, empty set, or NULL when out of memory. free() it. */
static inline uint8_t *
hf_pidset_new(void)
{
	return calloc(HF_PIDSET_BYTES, 1);
}

static inline bool
hf_pidset_has(const uint8_t *set, uint16_t pid)
{
	return set && (set[pid >> 3] & (1u << (pid & 7)));
}

/* set must not be NULL. */
static inline void
hf_pidset_put(uint8_t *set, uint16_t pid, bool on)
{
	if (on)
		set[pid >> 3] |= (uint8_t)(1u << (pid & 7));
	else
		set[pid >> 3] &= (uint8_t) ~(1u << (pid & 7));
}

#endif
