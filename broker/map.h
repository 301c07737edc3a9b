/* broker/map.h - a small hash map from byte strings to pointers.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), FNV-1a hashing. Keys are copied into the map, unless
 * borrow_keys is set (then the caller keeps each key alive and unchanged
 * while it is in the map); values are borrowed. Used for the session table
 * (client id -> session) and per-client outgoing topic aliases. Not
 * thread-safe. */
#ifndef HOLDFAST_MAP_H
#define HOLDFAST_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_map_slot {
	uint8_t *key; /* NULL = empty */
	uint32_t klen;
	uint32_t hash;
	void *val;
};

struct hf_map {
	struct hf_map_slot *slots;
	size_t cap; /* power of two or 0 */
	size_t n;
	bool borrow_keys; /* keys are the caller's, kept alive while present */
};

/* Zero-initialised struct hf_map is an empty map. */
void hf_map_free(struct hf_map *m);
void *hf_map_get(const struct hf_map *m, const void *key, size_t klen);
/* Insert or replace. Returns 0, or -1 when out of memory. */
int hf_map_put(struct hf_map *m, const void *key, size_t klen, void *val);
/* Remove; returns the value removed or NULL. */
void *hf_map_del(struct hf_map *m, const void *key, size_t klen);

#endif
