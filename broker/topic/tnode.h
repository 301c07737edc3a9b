/* broker/topic/tnode.h - the trie node shared by the subscription tree and
 * the retained tree, and its per-node child map.
 *
 * Design: every node of either trie starts with a struct hf_tnode holding
 * its parent, its own level bytes (stored right after the enclosing node
 * struct, one allocation per node) and an open-addressing hash table of its
 * literal children (linear probing, backward-shift deletion, so there are no
 * tombstones and lookups stay O(1) however wide a level gets). The table
 * starts at one slot, doubles when 3/4 full and shrinks when it falls under
 * 1/8, so memory follows the live children. Each child caches its level
 * hash; the hash is seeded per tree so clients cannot aim collisions at it.
 * Walks never recurse: they move through parent pointers and resume among a
 * parent's children by finding the current child's slot (hf_tmap_next).
 *
 * Threading/ownership: owned by the loop thread, not thread-safe. A parent
 * owns its children; the map only holds pointers.
 *
 * Internal to broker/topic (and its unit test): not part of the API. */
#ifndef HF_TOPIC_TNODE_H
#define HF_TOPIC_TNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_tree;
struct hf_retain_tree;

struct hf_tnode {
	struct hf_tnode *parent; /* NULL for the root */
	struct hf_tnode **slots; /* child table, cap entries, NULL = free */
	const uint8_t *level;    /* this node's level bytes (NULL for root) */
	uint32_t len;            /* level length */
	uint32_t hash; /* hf_tmap_hash() of level; cursor in hf_tmap_pop */
	uint32_t cap;  /* 0 or a power of two */
	uint32_t n;    /* children in the table */
};

/* Seeded hash of one level. */
uint32_t hf_tmap_hash(uint64_t seed, const uint8_t *s, size_t len);

/* A fresh per-tree seed (address and clock mixed; no global state). */
uint64_t hf_tmap_seed(const void *tree);

/* Child of p with level s/len (h its hash), or NULL. */
struct hf_tnode *hf_tmap_find(const struct hf_tnode *p, const uint8_t *s,
                              size_t len, uint32_t h);

/* Make room for one more child. @return 0, or -1 when out of memory (p is
 * unchanged). */
int hf_tmap_reserve(struct hf_tnode *p);

/* Insert c (c->level/len/hash set, not already present) after a successful
 * hf_tmap_reserve(); sets c->parent. Cannot fail. */
void hf_tmap_insert(struct hf_tnode *p, struct hf_tnode *c);

/* Remove child c from p's table (may shrink the table). */
void hf_tmap_remove(struct hf_tnode *p, struct hf_tnode *c);

/* Iteration in slot order: the child after `after` (NULL = the first), or
 * NULL at the end. p must not change during the iteration. */
struct hf_tnode *hf_tmap_next(const struct hf_tnode *p,
                              const struct hf_tnode *after);

/* Destruction only: unlink and return some child of p, NULL when none.
 * Reuses p->hash as a scan cursor, so p must not be looked up afterwards.
 * Amortised O(1) per child. */
struct hf_tnode *hf_tmap_pop(struct hf_tnode *p);

/* Free p's (empty or abandoned) table. */
void hf_tmap_release(struct hf_tnode *p);

/* Test hooks: trie nodes currently allocated, the root excluded. A tree
 * with no subscriptions (or no retained messages) has 0. */
size_t hf_tree_node_count(const struct hf_tree *t);
size_t hf_retain_node_count(const struct hf_retain_tree *r);

#endif
