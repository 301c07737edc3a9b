/* broker/topic/retain.c - the retained-message trie (holdfast/topic.h).
 *
 * Design: one node per topic level, children in the node's hash table
 * (tnode.h), one opaque message pointer per node. Setting a message creates
 * the path; clearing it frees the nodes left with neither a message nor
 * children, so memory follows the retained topics. hf_retain_match walks the
 * trie driven by the filter: a literal level follows one child, '+' visits
 * every child in turn, '#' reports the whole subtree including the node it
 * hangs off ("a/#" returns "a"). At the root a wildcard skips children whose
 * level starts with '$' [MQTT-4.7.2-1]. All walks are iterative: they climb
 * through parent pointers, find the next sibling from the current child's
 * slot, and recover the filter position by scanning back to the previous
 * '/', so a 32k-level topic costs no stack and no allocation.
 *
 * Threading/ownership: loop thread only. The tree owns its nodes; message
 * pointers are opaque, handed back to the caller on replace/remove and to
 * release() on hf_retain_free. */
#include "holdfast/topic.h"
#include "topic/tnode.h"

#include <stdlib.h>
#include <string.h>

struct rnode {
	struct hf_tnode base; /* first: struct rnode * <-> hf_tnode * */
	void *msg;            /* retained message or NULL */
};

struct hf_retain_tree {
	struct rnode root;
	uint64_t seed;
	size_t count; /* messages held */
	size_t nodes; /* allocated nodes, root excluded */
};

static struct rnode *
parent_of(const struct rnode *n)
{
	return (struct rnode *)n->base.parent;
}

static size_t
level_end(const uint8_t *s, size_t len, size_t pos)
{
	const uint8_t *slash;

	if (pos >= len)
		return len;
	slash = memchr(s + pos, '/', len - pos);
	return slash ? (size_t)(slash - s) : len;
}

static size_t
level_start(const uint8_t *s, size_t end)
{
	while (end > 0 && s[end - 1] != '/')
		end--;
	return end;
}

static struct rnode *
find_child(const struct hf_retain_tree *r, const struct rnode *n,
           const uint8_t *s, size_t len)
{
	if (n->base.n == 0)
		return NULL;
	return (struct rnode *)hf_tmap_find(&n->base, s, len,
	                                    hf_tmap_hash(r->seed, s, len));
}

/* Next child of n after `after` (NULL = first), skipping '$' levels when
 * skip_dollar is set. */
static struct rnode *
next_child(const struct rnode *n, const struct rnode *after, bool skip_dollar)
{
	const struct hf_tnode *c = after ? &after->base : NULL;

	do {
		c = hf_tmap_next(&n->base, c);
	} while (c != NULL && skip_dollar && c->len > 0 && c->level[0] == '$');
	return (struct rnode *)c;
}

static void
node_free(struct hf_retain_tree *r, struct rnode *n)
{
	hf_tmap_release(&n->base);
	if (n != &r->root) {
		free(n);
		r->nodes--;
	}
}

static void
prune_up(struct hf_retain_tree *r, struct rnode *n)
{
	while (n != &r->root && n->msg == NULL && n->base.n == 0) {
		struct rnode *p = parent_of(n);

		hf_tmap_remove(&p->base, &n->base);
		node_free(r, n);
		n = p;
	}
}

/* Node for topic; with create, build the missing path (on failure the new
 * nodes are pruned and NULL returned). */
static struct rnode *
walk(struct hf_retain_tree *r, const uint8_t *topic, size_t len, bool create)
{
	struct rnode *n = &r->root, *c;
	size_t pos = 0, e;
	uint32_t h;

	for (;;) {
		e = level_end(topic, len, pos);
		h = hf_tmap_hash(r->seed, topic + pos, e - pos);
		c = (struct rnode *)hf_tmap_find(&n->base, topic + pos, e - pos,
		                                 h);
		if (c == NULL) {
			if (!create)
				return NULL;
			if (hf_tmap_reserve(&n->base) != 0 ||
			    (c = malloc(sizeof(*c) + (e - pos))) == NULL) {
				prune_up(r, n);
				return NULL;
			}
			memset(c, 0, sizeof(*c));
			if (e > pos)
				memcpy(c + 1, topic + pos, e - pos);
			c->base.level = (const uint8_t *)(c + 1);
			c->base.len = (uint32_t)(e - pos);
			c->base.hash = h;
			hf_tmap_insert(&n->base, &c->base);
			r->nodes++;
		}
		n = c;
		if (e == len)
			return n;
		pos = e + 1;
	}
}

struct hf_retain_tree *
hf_retain_new(void)
{
	struct hf_retain_tree *r = calloc(1, sizeof(*r));

	if (r != NULL)
		r->seed = hf_tmap_seed(r);
	return r;
}

void
hf_retain_free(struct hf_retain_tree *r, void (*release)(void *msg))
{
	hf_retain_clear(r, release);
	free(r);
}

void
hf_retain_clear(struct hf_retain_tree *r, void (*release)(void *msg))
{
	struct rnode *n, *c;

	if (r == NULL)
		return;
	n = &r->root;
	while (n != NULL) {
		c = (struct rnode *)hf_tmap_pop(&n->base);
		if (c != NULL) {
			n = c;
			continue;
		}
		if (n->msg != NULL && release != NULL)
			release(n->msg);
		c = n == &r->root ? NULL : parent_of(n);
		node_free(r, n);
		n = c;
	}
	r->root.msg = NULL;
	r->count = 0;
}

int
hf_retain_set(struct hf_retain_tree *r, const uint8_t *topic, size_t len,
              void *msg, void **old)
{
	struct rnode *n = walk(r, topic, len, msg != NULL);
	void *prev;

	if (n == NULL) {
		if (old != NULL)
			*old = NULL;
		return msg != NULL ? -1 : 0;
	}
	prev = n->msg;
	n->msg = msg;
	if (prev == NULL && msg != NULL)
		r->count++;
	else if (prev != NULL && msg == NULL)
		r->count--;
	if (msg == NULL)
		prune_up(r, n);
	if (old != NULL)
		*old = prev;
	return 0;
}

void *
hf_retain_get(struct hf_retain_tree *r, const uint8_t *topic, size_t len)
{
	struct rnode *n = walk(r, topic, len, false);

	return n ? n->msg : NULL;
}

/* Report top's message and every message below it. */
static void
subtree(struct rnode *top, bool skip_dollar, hf_retained_cb cb, void *ctx)
{
	struct rnode *n, *d, *p;

	if (top->msg != NULL)
		cb(ctx, top->msg);
	n = next_child(top, NULL, skip_dollar);
	while (n != NULL) {
		if (n->msg != NULL)
			cb(ctx, n->msg);
		d = next_child(n, NULL, false);
		if (d != NULL) {
			n = d;
			continue;
		}
		for (;;) { /* next sibling, climbing as needed */
			p = parent_of(n);
			d = next_child(p, n, p == top && skip_dollar);
			if (d != NULL || p == top) {
				n = d;
				break;
			}
			n = p;
		}
	}
}

static bool
is_level(const uint8_t *s, size_t len, uint8_t c)
{
	return len == 1 && s[0] == c;
}

void
hf_retain_match(struct hf_retain_tree *r, const uint8_t *filter, size_t len,
                hf_retained_cb cb, void *ctx)
{
	struct rnode *const root = &r->root;
	struct rnode *n = root, *c, *p;
	size_t pos = 0, e, ps; /* pos: start of the filter level below n */
	bool down = true;

	for (;;) {
		if (down) {
			if (pos > len) {
				if (n->msg != NULL)
					cb(ctx, n->msg);
			} else {
				e = level_end(filter, len, pos);
				c = NULL;
				if (is_level(filter + pos, e - pos, '#'))
					subtree(n, n == root, cb, ctx);
				else if (is_level(filter + pos, e - pos, '+'))
					c = next_child(n, NULL, n == root);
				else
					c = find_child(r, n, filter + pos,
					               e - pos);
				if (c != NULL) {
					n = c;
					pos = e + 1;
					continue;
				}
			}
		}
		/* n is done: under '+' move to its next sibling, else climb. */
		if (n == root)
			return;
		p = parent_of(n);
		ps = level_start(filter, pos - 1);
		if (is_level(filter + ps, pos - 1 - ps, '+')) {
			c = next_child(p, n, p == root);
			if (c != NULL) {
				n = c; /* same level, same pos */
				down = true;
				continue;
			}
		}
		n = p;
		pos = ps;
		down = false;
	}
}

void
hf_retain_foreach(struct hf_retain_tree *r, hf_retained_cb cb, void *ctx)
{
	subtree(&r->root, false, cb, ctx);
}

size_t
hf_retain_count(const struct hf_retain_tree *r)
{
	return r->count;
}

size_t
hf_retain_node_count(const struct hf_retain_tree *r)
{
	return r->nodes;
}
