/* broker/topic/tree.c - the subscription trie (holdfast/topic.h).
 *
 * Design: one node per filter level. Literal children live in the node's
 * hash table (tnode.h); the '+' and '#' children are separate pointers, so
 * matching a topic looks at no more than the exact child, the '+' child and
 * the '#' child of each node it reaches. A node carries the plain
 * subscriptions ending there (an array; once it grows past OWNER_INDEX_MIN
 * an open-addressing index owner -> array position keeps subscribe and
 * unsubscribe O(1) when thousands of sessions share one filter) and the
 * shared groups ending there ($share/GROUP/FILTER is stored at FILTER's
 * node; a group keeps its members in subscription order). Nodes left with
 * no subscriptions, groups or children are freed on the way back up, so
 * memory follows the live subscriptions.
 *
 * Matching is a depth-first walk without recursion or allocation: from a
 * node it goes down the exact child first, then the '+' child, and climbs
 * back through parent pointers, recovering the topic position by scanning
 * back to the previous '/'. A topic of 32k empty levels therefore needs no
 * stack. Every filter node is reached by exactly one path, so each matching
 * subscription is reported exactly once.
 *
 * Threading/ownership: loop thread only. The tree owns its nodes, arrays
 * and group names; `owner` pointers are opaque and never dereferenced. */
#include "holdfast/topic.h"
#include "topic/tnode.h"

#include <stdlib.h>
#include <string.h>

#define OWNER_INDEX_MIN 16 /* plain subs at one node before indexing */

struct group {
	struct hf_share_group pub;
	uint32_t cap;   /* members allocated */
	uint8_t name[]; /* pub.name points here */
};

struct snode {
	struct hf_tnode base; /* first: struct snode * <-> hf_tnode * */
	struct snode *plus;   /* '+' child */
	struct snode *hash;   /* '#' child */
	struct hf_sub *subs;  /* plain subscriptions, any order */
	uint32_t nsubs, subcap;
	uint32_t *idx; /* owner index: position + 1, 0 = free; or NULL */
	uint32_t idxcap;
	struct group **groups; /* shared groups, creation order */
	uint32_t ngroups, gcap;
};

struct hf_tree {
	struct snode root;
	uint64_t seed;
	size_t count;  /* plain subscriptions + group members */
	size_t shared; /* group members ($share/...) of count */
	size_t nodes;  /* allocated nodes, root excluded */
};

static struct snode *
parent_of(const struct snode *n)
{
	return (struct snode *)n->base.parent;
}

static bool
is_level(const uint8_t *s, size_t len, uint8_t c)
{
	return len == 1 && s[0] == c;
}

/* End of the level starting at pos: the next '/' or len. */
static size_t
level_end(const uint8_t *s, size_t len, size_t pos)
{
	const uint8_t *slash;

	if (pos >= len)
		return len;
	slash = memchr(s + pos, '/', len - pos);
	return slash ? (size_t)(slash - s) : len;
}

/* Start of the level that ends at end (a '/' index or len). */
static size_t
level_start(const uint8_t *s, size_t end)
{
	while (end > 0 && s[end - 1] != '/')
		end--;
	return end;
}

/* ---- owner index over a node's plain subscriptions ---- */

static uint32_t
ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* Slot holding position pos of owner o (or the free slot ending its run). */
static uint32_t
idx_slot(const struct snode *n, const void *o, uint32_t pos1)
{
	uint32_t mask = n->idxcap - 1, i = ptr_hash(o) & mask;

	while (n->idx[i] != 0 && n->idx[i] != pos1)
		i = (i + 1) & mask;
	return i;
}

static void
idx_drop(struct snode *n)
{
	free(n->idx);
	n->idx = NULL;
	n->idxcap = 0;
}

/* (Re)build the index over subs[0..nsubs) with room for `want` entries.
 * On failure the node simply has no index (lookups fall back to a scan). */
static void
idx_build(struct snode *n, uint32_t want)
{
	uint32_t cap = 64, i, mask, h;
	uint32_t *ix;

	while (cap / 2 < want)
		cap *= 2;
	ix = calloc(cap, sizeof(*ix));
	idx_drop(n);
	if (ix == NULL)
		return;
	mask = cap - 1;
	for (i = 0; i < n->nsubs; i++) {
		h = ptr_hash(n->subs[i].owner) & mask;
		while (ix[h] != 0)
			h = (h + 1) & mask;
		ix[h] = i + 1;
	}
	n->idx = ix;
	n->idxcap = cap;
}

/* Position of owner's plain subscription at n, or -1. */
static long
sub_find(const struct snode *n, const void *owner)
{
	uint32_t mask, i, k;

	if (n->idx == NULL) {
		for (k = 0; k < n->nsubs; k++)
			if (n->subs[k].owner == owner)
				return (long)k;
		return -1;
	}
	mask = n->idxcap - 1;
	i = ptr_hash(owner) & mask;
	while (n->idx[i] != 0) {
		if (n->subs[n->idx[i] - 1].owner == owner)
			return (long)n->idx[i] - 1;
		i = (i + 1) & mask;
	}
	return -1;
}

/* Remove the index entry in slot i (backward shift, see tmap.c). */
static void
idx_remove_slot(struct snode *n, uint32_t i)
{
	uint32_t mask = n->idxcap - 1, j = i, home;

	n->idx[i] = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (n->idx[j] == 0)
			break;
		home = ptr_hash(n->subs[n->idx[j] - 1].owner) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			n->idx[i] = n->idx[j];
			n->idx[j] = 0;
			i = j;
		}
	}
}

/* Append s (owner not present). @return 0 or -1 (node unchanged). */
static int
sub_append(struct snode *n, const struct hf_sub *s)
{
	uint32_t pos = n->nsubs, mask, i;

	if (n->nsubs == n->subcap) {
		uint32_t cap = n->subcap ? n->subcap * 2 : 1;
		struct hf_sub *ns;

		if (n->subcap >= UINT32_MAX / 2)
			return -1;
		ns = realloc(n->subs, (size_t)cap * sizeof(*ns));
		if (ns == NULL)
			return -1;
		n->subs = ns;
		n->subcap = cap;
	}
	n->subs[pos] = *s;
	n->nsubs++;
	if (n->idx != NULL && n->nsubs * 2 > n->idxcap) {
		idx_build(n, n->nsubs * 2); /* rehashes pos too */
	} else if (n->idx != NULL) {
		mask = n->idxcap - 1;
		i = ptr_hash(s->owner) & mask;
		while (n->idx[i] != 0)
			i = (i + 1) & mask;
		n->idx[i] = pos + 1;
	} else if (n->nsubs >= OWNER_INDEX_MIN) {
		idx_build(n, n->nsubs * 2);
	}
	return 0;
}

/* Remove the plain subscription at pos (the last one takes its place). */
static void
sub_remove(struct snode *n, uint32_t pos)
{
	uint32_t last = n->nsubs - 1;

	if (n->idx != NULL) {
		idx_remove_slot(n, idx_slot(n, n->subs[pos].owner, pos + 1));
		if (pos != last)
			n->idx[idx_slot(n, n->subs[last].owner, last + 1)] =
			    pos + 1;
	}
	n->subs[pos] = n->subs[last];
	n->nsubs--;
	if (n->nsubs == 0) {
		free(n->subs);
		n->subs = NULL;
		n->subcap = 0;
		idx_drop(n);
		return;
	}
	if (n->idx != NULL && n->nsubs < OWNER_INDEX_MIN / 2)
		idx_drop(n);
	else if (n->idx != NULL && n->nsubs * 8 < n->idxcap)
		idx_build(n, n->nsubs * 2);
	if (n->subcap > 8 && n->nsubs * 4 < n->subcap) {
		struct hf_sub *ns =
		    realloc(n->subs, (size_t)(n->subcap / 2) * sizeof(*ns));

		if (ns != NULL) {
			n->subs = ns;
			n->subcap /= 2;
		}
	}
}

/* ---- shared groups ---- */

static struct group *
group_find(const struct snode *n, const uint8_t *name, size_t len)
{
	uint32_t i;

	for (i = 0; i < n->ngroups; i++) {
		struct group *g = n->groups[i];

		if (g->pub.name_len == len && memcmp(g->name, name, len) == 0)
			return g;
	}
	return NULL;
}

static long
member_find(const struct group *g, const void *owner)
{
	uint32_t i;

	for (i = 0; i < g->pub.n; i++)
		if (g->pub.members[i].owner == owner)
			return (long)i;
	return -1;
}

static void
group_free(struct group *g)
{
	free(g->pub.members);
	free(g);
}

/* Add a group of one member s at n. @return 0 or -1 (node unchanged). */
static int
group_add(struct snode *n, const uint8_t *name, size_t len,
          const struct hf_sub *s)
{
	struct group *g = malloc(sizeof(*g) + len);

	if (g == NULL)
		return -1;
	memset(g, 0, sizeof(*g));
	memcpy(g->name, name, len);
	g->pub.name = g->name;
	g->pub.name_len = len;
	g->pub.members = malloc(sizeof(*g->pub.members));
	if (g->pub.members == NULL) {
		free(g);
		return -1;
	}
	g->pub.members[0] = *s;
	g->pub.n = 1;
	g->cap = 1;
	if (n->ngroups == n->gcap) {
		uint32_t cap = n->gcap ? n->gcap * 2 : 1;
		struct group **ng =
		    realloc(n->groups, (size_t)cap * sizeof(*ng));

		if (ng == NULL) {
			group_free(g);
			return -1;
		}
		n->groups = ng;
		n->gcap = cap;
	}
	n->groups[n->ngroups++] = g;
	return 0;
}

static int
member_append(struct group *g, const struct hf_sub *s)
{
	if (g->pub.n == g->cap) {
		struct hf_sub *nm;

		if (g->cap >= UINT32_MAX / 2)
			return -1;
		nm = realloc(g->pub.members, (size_t)g->cap * 2 * sizeof(*nm));
		if (nm == NULL)
			return -1;
		g->pub.members = nm;
		g->cap *= 2;
	}
	g->pub.members[g->pub.n++] = *s;
	return 0;
}

/* Remove member pos keeping the order; the group goes with its last one. */
static void
member_remove(struct snode *n, struct group *g, uint32_t pos)
{
	uint32_t i;

	memmove(g->pub.members + pos, g->pub.members + pos + 1,
	        (size_t)(g->pub.n - pos - 1) * sizeof(*g->pub.members));
	g->pub.n--;
	/* Keep the round-robin cursor on the member it pointed at. */
	if (pos < g->pub.next)
		g->pub.next--;
	if (g->pub.next >= g->pub.n)
		g->pub.next = 0;
	if (g->pub.n > 0)
		return;
	for (i = 0; i < n->ngroups && n->groups[i] != g; i++)
		;
	memmove(n->groups + i, n->groups + i + 1,
	        (size_t)(n->ngroups - i - 1) * sizeof(*n->groups));
	n->ngroups--;
	group_free(g);
	if (n->ngroups == 0) {
		free(n->groups);
		n->groups = NULL;
		n->gcap = 0;
	}
}

/* ---- nodes ---- */

static bool
node_empty(const struct snode *n)
{
	return n->nsubs == 0 && n->ngroups == 0 && n->base.n == 0 &&
	       n->plus == NULL && n->hash == NULL;
}

/* Free a node's own storage (not its children). */
static void
node_free(struct hf_tree *t, struct snode *n)
{
	uint32_t i;

	for (i = 0; i < n->ngroups; i++)
		group_free(n->groups[i]);
	free(n->groups);
	free(n->subs);
	free(n->idx);
	hf_tmap_release(&n->base);
	if (n != &t->root) {
		free(n);
		t->nodes--;
	}
}

/* Child of n for level s/len, creating it when create is set. NULL when
 * absent (or out of memory). */
static struct snode *
child_get(struct hf_tree *t, struct snode *n, const uint8_t *s, size_t len,
          bool create)
{
	struct snode **wild = NULL, *c;
	uint32_t h = 0;

	if (is_level(s, len, '+'))
		wild = &n->plus;
	else if (is_level(s, len, '#'))
		wild = &n->hash;
	if (wild != NULL) {
		if (*wild != NULL || !create)
			return *wild;
	} else {
		h = hf_tmap_hash(t->seed, s, len);
		c = (struct snode *)hf_tmap_find(&n->base, s, len, h);
		if (c != NULL || !create)
			return c;
		if (hf_tmap_reserve(&n->base) != 0)
			return NULL;
	}
	c = malloc(sizeof(*c) + len);
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	if (len > 0)
		memcpy(c + 1, s, len);
	c->base.level = (const uint8_t *)(c + 1);
	c->base.len = (uint32_t)len;
	c->base.hash = h;
	if (wild != NULL) {
		c->base.parent = &n->base;
		*wild = c;
	} else {
		hf_tmap_insert(&n->base, &c->base);
	}
	t->nodes++;
	return c;
}

/* Free n and its ancestors for as long as they are empty. */
static void
prune_up(struct hf_tree *t, struct snode *n)
{
	while (n != &t->root && node_empty(n)) {
		struct snode *p = parent_of(n);

		if (p->plus == n)
			p->plus = NULL;
		else if (p->hash == n)
			p->hash = NULL;
		else
			hf_tmap_remove(&p->base, &n->base);
		node_free(t, n);
		n = p;
	}
}

/* Split "$share/GROUP/FILTER": sets the group and moves filter/len to
 * FILTER. Returns false for a plain filter. */
static bool
split_share(const uint8_t **filter, size_t *len, const uint8_t **group,
            size_t *glen)
{
	static const char pre[] = "$share/";
	const size_t plen = sizeof(pre) - 1;
	const uint8_t *f = *filter, *slash;

	if (*len <= plen || memcmp(f, pre, plen) != 0)
		return false;
	slash = memchr(f + plen, '/', *len - plen);
	if (slash == NULL || slash == f + plen)
		return false;
	*group = f + plen;
	*glen = (size_t)(slash - (f + plen));
	*len -= (size_t)(slash + 1 - f);
	*filter = slash + 1;
	return true;
}

/* Walk filter from the root; with create, build missing nodes (on failure
 * the new nodes are pruned and NULL returned). */
static struct snode *
walk(struct hf_tree *t, const uint8_t *f, size_t len, bool create)
{
	struct snode *n = &t->root, *c;
	size_t pos = 0, e;

	for (;;) {
		e = level_end(f, len, pos);
		c = child_get(t, n, f + pos, e - pos, create);
		if (c == NULL) {
			if (create)
				prune_up(t, n);
			return NULL;
		}
		n = c;
		if (e == len)
			return n;
		pos = e + 1;
	}
}

/* ---- API ---- */

struct hf_tree *
hf_tree_new(void)
{
	struct hf_tree *t = calloc(1, sizeof(*t));

	if (t != NULL)
		t->seed = hf_tmap_seed(t);
	return t;
}

void
hf_tree_free(struct hf_tree *t)
{
	struct snode *n, *c;

	if (t == NULL)
		return;
	/* Post-order without recursion: descend to any child, free leaves. */
	n = &t->root;
	while (n != NULL) {
		if (n->plus != NULL) {
			c = n->plus;
			n->plus = NULL;
		} else if (n->hash != NULL) {
			c = n->hash;
			n->hash = NULL;
		} else {
			c = (struct snode *)hf_tmap_pop(&n->base);
		}
		if (c != NULL) {
			n = c;
			continue;
		}
		c = n == &t->root ? NULL : parent_of(n);
		node_free(t, n);
		n = c;
	}
	free(t);
}

int
hf_tree_sub(struct hf_tree *t, const uint8_t *filter, size_t len, void *owner,
            uint8_t opts, uint32_t sub_id, bool *existed)
{
	struct hf_sub s = {.owner = owner, .opts = opts, .sub_id = sub_id};
	const uint8_t *gname = NULL;
	size_t glen = 0;
	bool shared = split_share(&filter, &len, &gname, &glen);
	struct snode *n;
	struct group *g = NULL;
	long pos;
	int rc;

	if (existed != NULL)
		*existed = false;
	n = walk(t, filter, len, true);
	if (n == NULL)
		return -1;
	if (shared) {
		g = group_find(n, gname, glen);
		pos = g ? member_find(g, owner) : -1;
		if (pos >= 0) {
			g->pub.members[pos].opts = opts;
			g->pub.members[pos].sub_id = sub_id;
			if (existed != NULL)
				*existed = true;
			return 0;
		}
		rc = g ? member_append(g, &s) : group_add(n, gname, glen, &s);
	} else {
		pos = sub_find(n, owner);
		if (pos >= 0) {
			n->subs[pos] = s;
			if (existed != NULL)
				*existed = true;
			return 0;
		}
		rc = sub_append(n, &s);
	}
	if (rc != 0) {
		prune_up(t, n);
		return -1;
	}
	t->count++;
	t->shared += shared;
	return 0;
}

int
hf_tree_unsub(struct hf_tree *t, const uint8_t *filter, size_t len, void *owner)
{
	const uint8_t *gname = NULL;
	size_t glen = 0;
	bool shared = split_share(&filter, &len, &gname, &glen);
	struct snode *n = walk(t, filter, len, false);
	struct group *g;
	long pos;

	if (n == NULL)
		return 0;
	if (shared) {
		g = group_find(n, gname, glen);
		pos = g ? member_find(g, owner) : -1;
		if (pos < 0)
			return 0;
		member_remove(n, g, (uint32_t)pos);
	} else {
		pos = sub_find(n, owner);
		if (pos < 0)
			return 0;
		sub_remove(n, (uint32_t)pos);
	}
	t->count--;
	t->shared -= shared;
	prune_up(t, n);
	return 1;
}

static void
report(struct snode *n, hf_sub_cb sub_cb, hf_group_cb group_cb, void *ctx)
{
	uint32_t i;

	if (sub_cb != NULL)
		for (i = 0; i < n->nsubs; i++)
			sub_cb(ctx, &n->subs[i]);
	if (group_cb != NULL)
		for (i = 0; i < n->ngroups; i++)
			group_cb(ctx, &n->groups[i]->pub);
}

static struct snode *
exact_child(const struct hf_tree *t, const struct snode *n, const uint8_t *s,
            size_t len)
{
	if (n->base.n == 0)
		return NULL;
	return (struct snode *)hf_tmap_find(&n->base, s, len,
	                                    hf_tmap_hash(t->seed, s, len));
}

void
hf_tree_match(struct hf_tree *t, const uint8_t *topic, size_t len,
              hf_sub_cb sub_cb, hf_group_cb group_cb, void *ctx)
{
	/* [MQTT-4.7.2-1]: no wildcard first level for a '$' topic. */
	const bool dollar = len > 0 && topic[0] == '$';
	struct snode *const root = &t->root;
	struct snode *n = root, *c, *p;
	size_t pos = 0, e; /* pos: start of the level n's children match */
	bool down = true;

	for (;;) {
		if (down) {
			const bool wild_ok = n != root || !dollar;

			/* '#' matches this level's parent and all below. */
			if (n->hash != NULL && wild_ok)
				report(n->hash, sub_cb, group_cb, ctx);
			if (pos > len) {
				report(n, sub_cb, group_cb, ctx);
			} else {
				e = level_end(topic, len, pos);
				c = exact_child(t, n, topic + pos, e - pos);
				if (c == NULL && wild_ok)
					c = n->plus;
				if (c != NULL) {
					n = c;
					pos = e + 1;
					continue;
				}
			}
		}
		/* n is done: try its '+' sibling, else climb. */
		if (n == root)
			return;
		p = parent_of(n);
		if (n != p->plus && p->plus != NULL && (p != root || !dollar)) {
			n = p->plus; /* same level, same pos */
			down = true;
			continue;
		}
		pos = level_start(topic, pos - 1);
		n = p;
		down = false;
	}
}

size_t
hf_tree_count(const struct hf_tree *t)
{
	return t->count;
}

size_t
hf_tree_shared_count(const struct hf_tree *t)
{
	return t->shared;
}

size_t
hf_tree_node_count(const struct hf_tree *t)
{
	return t->nodes;
}

bool
hf_topic_matches(const uint8_t *filter, size_t flen, const uint8_t *topic,
                 size_t tlen)
{
	size_t fi = 0, ti = 0, fe, te;

	if (flen > 0 && (filter[0] == '+' || filter[0] == '#') && tlen > 0 &&
	    topic[0] == '$')
		return false; /* [MQTT-4.7.2-1] */
	/* fi/ti past the end (len + 1) mean "no levels left". */
	for (;;) {
		if (fi > flen)
			return ti > tlen;
		fe = level_end(filter, flen, fi);
		if (is_level(filter + fi, fe - fi, '#'))
			return true; /* also the parent level */
		if (ti > tlen)
			return false;
		te = level_end(topic, tlen, ti);
		if (!is_level(filter + fi, fe - fi, '+') &&
		    (fe - fi != te - ti ||
		     memcmp(filter + fi, topic + ti, fe - fi) != 0))
			return false;
		fi = fe + 1;
		ti = te + 1;
	}
}
