/* broker/topic/tmap.c - the child table of a trie node (see tnode.h).
 *
 * Design: open addressing with linear probing over a power-of-two array of
 * child pointers. A child's home slot is its cached level hash masked by the
 * capacity. Deletion shifts later members of the probe run back into the
 * hole (no tombstones), so a lookup stops at the first free slot. Tables of
 * up to 4 slots may be completely full (lookups are bounded by the capacity
 * anyway); larger ones are kept at most 3/4 full and are shrunk when they
 * fall below 1/8.
 *
 * Threading/ownership: loop thread only; the table holds pointers, the
 * parent node owns the children. */
#include "topic/tnode.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

uint32_t
hf_tmap_hash(uint64_t seed, const uint8_t *s, size_t len)
{
	uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ULL);
	uint64_t v;

	while (len >= 8) {
		memcpy(&v, s, 8);
		h = (h ^ v) * 0x100000001b3ULL;
		h ^= h >> 29;
		s += 8;
		len -= 8;
	}
	v = 0;
	if (len > 0)
		memcpy(&v, s, len);
	return (uint32_t)mix64(h ^ v);
}

uint64_t
hf_tmap_seed(const void *tree)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return mix64((uint64_t)(uintptr_t)tree ^ ((uint64_t)ts.tv_sec << 32) ^
	             (uint64_t)ts.tv_nsec);
}

/* Most children a table of cap slots may hold. */
static uint32_t
limit(uint32_t cap)
{
	return cap <= 4 ? cap : cap / 4 * 3;
}

struct hf_tnode *
hf_tmap_find(const struct hf_tnode *p, const uint8_t *s, size_t len, uint32_t h)
{
	uint32_t mask, i, k;
	struct hf_tnode *c;

	if (p->n == 0)
		return NULL;
	mask = p->cap - 1;
	i = h & mask;
	for (k = 0; k < p->cap; k++) {
		c = p->slots[i];
		if (c == NULL)
			return NULL;
		if (c->hash == h && c->len == len &&
		    (len == 0 || memcmp(c->level, s, len) == 0))
			return c;
		i = (i + 1) & mask;
	}
	return NULL;
}

static void
place(struct hf_tnode **slots, uint32_t cap, struct hf_tnode *c)
{
	uint32_t mask = cap - 1, i = c->hash & mask;

	while (slots[i] != NULL)
		i = (i + 1) & mask;
	slots[i] = c;
}

/* Move p's children into a fresh table of newcap slots. */
static int
rehash(struct hf_tnode *p, uint32_t newcap)
{
	struct hf_tnode **ns = calloc(newcap, sizeof(*ns));
	uint32_t i;

	if (ns == NULL)
		return -1;
	for (i = 0; i < p->cap; i++)
		if (p->slots[i] != NULL)
			place(ns, newcap, p->slots[i]);
	free(p->slots);
	p->slots = ns;
	p->cap = newcap;
	return 0;
}

int
hf_tmap_reserve(struct hf_tnode *p)
{
	if (p->n + 1 <= limit(p->cap))
		return 0;
	if (p->cap >= (UINT32_C(1) << 31))
		return -1;
	return rehash(p, p->cap ? p->cap * 2 : 1);
}

void
hf_tmap_insert(struct hf_tnode *p, struct hf_tnode *c)
{
	place(p->slots, p->cap, c);
	p->n++;
	c->parent = p;
}

static uint32_t
slot_of(const struct hf_tnode *p, const struct hf_tnode *c)
{
	uint32_t mask = p->cap - 1, i = c->hash & mask;

	while (p->slots[i] != c)
		i = (i + 1) & mask;
	return i;
}

void
hf_tmap_remove(struct hf_tnode *p, struct hf_tnode *c)
{
	uint32_t mask = p->cap - 1, i = slot_of(p, c), j = i, home;

	p->slots[i] = NULL;
	p->n--;
	/* Backward shift: pull later run members whose home is not in
	 * (i, j] cyclically into the hole. Terminates at the hole at the
	 * latest. */
	for (;;) {
		j = (j + 1) & mask;
		if (p->slots[j] == NULL)
			break;
		home = p->slots[j]->hash & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			p->slots[i] = p->slots[j];
			p->slots[j] = NULL;
			i = j;
		}
	}
	if (p->n == 0) {
		hf_tmap_release(p);
	} else if (p->cap > 8 && p->n < p->cap / 8) {
		/* Best effort: a failed shrink leaves a valid larger table. */
		(void)rehash(p, p->cap / 4);
	}
}

struct hf_tnode *
hf_tmap_next(const struct hf_tnode *p, const struct hf_tnode *after)
{
	uint32_t i;

	if (p->n == 0)
		return NULL;
	i = after ? slot_of(p, after) + 1 : 0;
	for (; i < p->cap; i++)
		if (p->slots[i] != NULL)
			return p->slots[i];
	return NULL;
}

struct hf_tnode *
hf_tmap_pop(struct hf_tnode *p)
{
	struct hf_tnode *c;

	if (p->n == 0)
		return NULL;
	/* The cursor walks the table cyclically from wherever it starts (the
	 * node's own hash on the first call); emptied slots are never
	 * refilled, so all pops together cost O(cap). */
	p->hash &= p->cap - 1;
	while (p->slots[p->hash] == NULL)
		p->hash = (p->hash + 1) & (p->cap - 1);
	c = p->slots[p->hash];
	p->slots[p->hash] = NULL;
	p->n--;
	return c;
}

void
hf_tmap_release(struct hf_tnode *p)
{
	free(p->slots);
	p->slots = NULL;
	p->cap = 0;
	p->n = 0;
}
