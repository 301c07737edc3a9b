/* broker/map.c - see map.h. */
#include "map.h"

#include <stdlib.h>
#include <string.h>

static uint32_t
hash_bytes(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

void
hf_map_free(struct hf_map *m)
{
	if (!m->borrow_keys)
		for (size_t i = 0; i < m->cap; i++)
			free(m->slots[i].key);
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

static struct hf_map_slot *
find(const struct hf_map *m, const void *key, size_t klen, uint32_t h)
{
	if (m->cap == 0)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct hf_map_slot *s = &m->slots[i];
		if (!s->key)
			return s;
		if (s->hash == h && s->klen == klen &&
		    memcmp(s->key, key, klen) == 0)
			return s;
	}
}

void *
hf_map_get(const struct hf_map *m, const void *key, size_t klen)
{
	struct hf_map_slot *s = find(m, key, klen, hash_bytes(key, klen));
	return s && s->key ? s->val : NULL;
}

static int
grow(struct hf_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct hf_map_slot *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		struct hf_map_slot *o = &m->slots[i];
		if (!o->key)
			continue;
		size_t j = o->hash & (ncap - 1);
		while (ns[j].key)
			j = (j + 1) & (ncap - 1);
		ns[j] = *o;
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int
hf_map_put(struct hf_map *m, const void *key, size_t klen, void *val)
{
	if ((m->n + 1) * 4 > m->cap * 3 && grow(m) != 0)
		return -1;
	uint32_t h = hash_bytes(key, klen);
	struct hf_map_slot *s = find(m, key, klen, h);
	if (s->key) {
		s->val = val;
		return 0;
	}
	if (m->borrow_keys) {
		s->key = (uint8_t *)(uintptr_t)key;
	} else {
		s->key = malloc(klen ? klen : 1);
		if (!s->key)
			return -1;
		memcpy(s->key, key, klen);
	}
	s->klen = (uint32_t)klen;
	s->hash = h;
	s->val = val;
	m->n++;
	return 0;
}

void *
hf_map_del(struct hf_map *m, const void *key, size_t klen)
{
	struct hf_map_slot *s = find(m, key, klen, hash_bytes(key, klen));
	if (!s || !s->key)
		return NULL;
	void *val = s->val;
	if (!m->borrow_keys)
		free(s->key);
	s->key = NULL;
	m->n--;
	/* Backward-shift the cluster after the hole. */
	size_t mask = m->cap - 1;
	size_t hole = (size_t)(s - m->slots);
	for (size_t i = (hole + 1) & mask; m->slots[i].key;
	     i = (i + 1) & mask) {
		size_t want = m->slots[i].hash & mask;
		/* Move if the hole lies cyclically between want and i. */
		if (((i - want) & mask) >= ((i - hole) & mask)) {
			m->slots[hole] = m->slots[i];
			m->slots[i].key = NULL;
			hole = i;
		}
	}
	return val;
}
