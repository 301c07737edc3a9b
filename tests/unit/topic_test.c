/* tests/unit/topic_test.c - the subscription trie, the retained trie and
 * hf_topic_matches (broker/topic).
 *
 * Design: a table of (filter, topic, expected) rows, mostly the examples of
 * MQTT 3.1.1/5.0 section 4.7, checked against hf_topic_matches and against
 * the tree (one owner per filter, exactly the matching owners must be
 * called). Then targeted cases (overlap, replace, shared groups, retained
 * wildcards and '$' topics, pruning, 30000-level topics, many owners on one
 * filter) and a seeded random cross-check of both tries against the
 * brute-force matcher. Node counts come from the internal hooks in
 * topic/tnode.h.
 *
 * Threading/ownership: single-threaded; all state is local to each case. */
#include "holdfast/topic.h"
#include "topic/tnode.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S(x) (const uint8_t *)(x), strlen(x)

struct row {
	const char *filter;
	const char *topic;
	bool match;
};

static const struct row rows[] = {
    /* 4.7.1.2 multi-level wildcard */
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"#", "sport/tennis", true},
    {"#", "/finance", true},
    {"#", "/", true},
    /* 4.7.1.3 single-level wildcard */
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/tennis/+", "sport/tennis", false},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+", "finance", true},
    {"sport/+/player1", "sport/tennis/player1", true},
    {"sport/+/player1", "sport//player1", true},
    {"+/+/+", "//", true},
    {"+/#", "a", true},
    {"+/#", "/a", true},
    {"a/+/c/#", "a/x/c", true},
    {"a/+/c/#", "a/x/d/c", false},
    {"a/b/#", "a", false},
    /* 4.7.2 topics beginning with '$' [MQTT-4.7.2-1] */
    {"#", "$SYS/monitor/Clients", false},
    {"#", "$SYS", false},
    {"#", "$", false},
    {"+", "$SYS", false},
    {"+/+", "$SYS/x", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+/#", "$SYS/monitor", false},
    {"+", "$only", false}, /* no "$only" child: '+' still refused */
    {"+/+", "$only/x", false},
    {"+/x/#", "$only/x", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS", "$SYS", true},
    {"$", "$", true},
    {"+/$b", "a/$b", true},
    {"a/+", "a/$b", true},
    {"#", "a/$b", true},
    /* empty levels and exact matches */
    {"a//b", "a//b", true},
    {"a//b", "a/b", false},
    {"a/+/b", "a//b", true},
    {"/a", "/a", true},
    {"/a", "a", false},
    {"a/", "a/", true},
    {"a/", "a", false},
    {"a", "a/", false},
    {"a/+", "a/", true},
    {"/#", "/", true},
    {"/#", "a", false},
    {"a/b", "a/b/c", false},
    {"a/b/c", "a/b", false},
    {"Sport", "sport", false},
    {"a-rather-long-level-name/x", "a-rather-long-level-name/x", true},
    {"a-rather-long-level-name/x", "a-rather-long-level-namE/x", false},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* Owners are addresses inside this array's storage: owner i = &mark[i]. */
struct hits {
	const char *base;
	size_t n;
	int *count; /* per owner */
	int groups; /* group_cb calls */
	int total;
};

static void
on_sub(void *ctx, const struct hf_sub *s)
{
	struct hits *h = ctx;
	size_t i = (size_t)((const char *)s->owner - h->base);

	if (i < h->n)
		h->count[i]++;
	h->total++;
}

static void
on_group(void *ctx, struct hf_share_group *g)
{
	struct hits *h = ctx;

	(void)g;
	h->groups++;
}

static void
hits_reset(struct hits *h)
{
	memset(h->count, 0, h->n * sizeof(int));
	h->groups = 0;
	h->total = 0;
}

static void
test_matches_table(void)
{
	size_t i;

	for (i = 0; i < NROWS; i++) {
		bool m = hf_topic_matches(S(rows[i].filter), S(rows[i].topic));

		if (m != rows[i].match)
			fprintf(stderr, "row %zu: %s vs %s\n", i,
			        rows[i].filter, rows[i].topic);
		CHECK_EQ(m, rows[i].match);
	}
}

static void
test_tree_table(void)
{
	static char mark[NROWS];
	int count[NROWS];
	struct hits h = {mark, NROWS, count, 0, 0};
	struct hf_tree *t = hf_tree_new();
	size_t i, j;
	bool existed;

	CHECK(t != NULL);
	for (i = 0; i < NROWS; i++) {
		CHECK_EQ(
		    hf_tree_sub(t, S(rows[i].filter), &mark[i], 0, 0, &existed),
		    0);
		CHECK(!existed);
	}
	CHECK_EQ(hf_tree_count(t), NROWS);
	for (i = 0; i < NROWS; i++) {
		hits_reset(&h);
		hf_tree_match(t, S(rows[i].topic), on_sub, on_group, &h);
		CHECK_EQ(h.groups, 0);
		/* Each owner exactly as often as the brute force says. */
		for (j = 0; j < NROWS; j++) {
			bool m = hf_topic_matches(S(rows[j].filter),
			                          S(rows[i].topic));

			if (count[j] != (int)m)
				fprintf(stderr, "topic %s filter %s: %d\n",
				        rows[i].topic, rows[j].filter,
				        count[j]);
			CHECK_EQ(count[j], m);
		}
		CHECK_EQ(count[i], rows[i].match);
	}
	for (i = 0; i < NROWS; i++)
		CHECK_EQ(hf_tree_unsub(t, S(rows[i].filter), &mark[i]), 1);
	CHECK_EQ(hf_tree_count(t), 0);
	CHECK_EQ(hf_tree_node_count(t), 0);
	hf_tree_free(t);
}

struct idlog {
	void *owner;
	int ids[16];
	int n;
	uint8_t opts[16];
};

static void
on_sub_log(void *ctx, const struct hf_sub *s)
{
	struct idlog *l = ctx;

	if (s->owner == l->owner && l->n < 16) {
		l->opts[l->n] = s->opts;
		l->ids[l->n++] = (int)s->sub_id;
	}
}

static void
test_overlap(void)
{
	char a, b;
	struct idlog l = {&a, {0}, 0, {0}};
	struct hf_tree *t = hf_tree_new();
	int seen = 0, k;

	CHECK(t != NULL);
	CHECK_EQ(hf_tree_sub(t, S("a/+"), &a, 0, 1, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("a/#"), &a, 0, 2, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("a/b"), &a, 0, 3, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("#"), &a, 0, 4, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("a/b"), &b, 0, 5, NULL), 0);
	CHECK_EQ(hf_tree_count(t), 5);
	/* One callback per matching subscription; the engine merges. */
	hf_tree_match(t, S("a/b"), on_sub_log, NULL, &l);
	CHECK_EQ(l.n, 4);
	for (k = 0; k < l.n; k++)
		seen |= 1 << l.ids[k];
	CHECK_EQ(seen, 0x1e);
	l.n = 0;
	hf_tree_match(t, S("a"), on_sub_log, NULL, &l);
	CHECK_EQ(l.n, 2); /* a/# and # */
	hf_tree_free(t);
}

static void
test_replace(void)
{
	char a, b;
	struct idlog l = {&a, {0}, 0, {0}};
	struct hf_tree *t = hf_tree_new();
	bool existed = true;

	CHECK(t != NULL);
	CHECK_EQ(hf_tree_sub(t, S("x/y"), &a, 1, 7, &existed), 0);
	CHECK(!existed);
	CHECK_EQ(hf_tree_sub(t, S("x/y"), &a, 2, 9, &existed), 0);
	CHECK(existed);
	CHECK_EQ(hf_tree_count(t), 1);
	hf_tree_match(t, S("x/y"), on_sub_log, NULL, &l);
	CHECK_EQ(l.n, 1);
	CHECK_EQ(l.ids[0], 9);
	CHECK_EQ(l.opts[0], 2);
	/* Other identities are distinct. */
	CHECK_EQ(hf_tree_unsub(t, S("x/y"), &b), 0);
	CHECK_EQ(hf_tree_unsub(t, S("$share/g/x/y"), &a), 0);
	CHECK_EQ(hf_tree_unsub(t, S("x/+"), &a), 0);
	CHECK_EQ(hf_tree_unsub(t, S("x/y/z"), &a), 0);
	CHECK_EQ(hf_tree_unsub(t, S("x"), &a), 0);
	CHECK_EQ(hf_tree_count(t), 1);
	CHECK_EQ(hf_tree_unsub(t, S("x/y"), &a), 1);
	CHECK_EQ(hf_tree_unsub(t, S("x/y"), &a), 0);
	CHECK_EQ(hf_tree_count(t), 0);
	CHECK_EQ(hf_tree_node_count(t), 0);
	hf_tree_free(t);
}

struct glog {
	struct hf_share_group *g[8];
	int ng;
	void *plain[8];
	int np;
};

static void
on_group_log(void *ctx, struct hf_share_group *g)
{
	struct glog *l = ctx;

	if (l->ng < 8)
		l->g[l->ng++] = g;
}

static void
on_plain_log(void *ctx, const struct hf_sub *s)
{
	struct glog *l = ctx;

	if (l->np < 8)
		l->plain[l->np++] = s->owner;
}

static struct hf_share_group *
find_group(struct glog *l, const char *name, uint32_t n)
{
	int i;

	for (i = 0; i < l->ng; i++)
		if (l->g[i]->name_len == strlen(name) &&
		    memcmp(l->g[i]->name, name, strlen(name)) == 0 &&
		    l->g[i]->n == n)
			return l->g[i];
	return NULL;
}

static void
test_shared(void)
{
	char a, b, c, d;
	struct glog l;
	struct hf_share_group *g1, *g2;
	struct hf_tree *t = hf_tree_new();
	bool existed;

	CHECK(t != NULL);
	CHECK_EQ(hf_tree_sub(t, S("$share/g1/s/+"), &a, 1, 11, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("$share/g1/s/+"), &b, 1, 12, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("$share/g1/s/+"), &c, 1, 13, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("$share/g2/s/+"), &c, 0, 0, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("s/+"), &d, 0, 0, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("s/+"), &a, 0, 0, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("$share/g1/s/#"), &d, 0, 0, NULL), 0);
	CHECK_EQ(hf_tree_count(t), 7);

	memset(&l, 0, sizeof(l));
	hf_tree_match(t, S("s/x"), on_plain_log, on_group_log, &l);
	CHECK_EQ(l.np, 2);
	CHECK_EQ(l.ng, 3);            /* g1 at s/+, g2 at s/+, g1 at s/# */
	g1 = find_group(&l, "g1", 3); /* s/+ (the s/# one has 1) */
	g2 = find_group(&l, "g2", 1);
	CHECK(g1 != NULL && g2 != NULL && find_group(&l, "g1", 1) != NULL);
	CHECK(g1->members[0].owner == &a);
	CHECK(g1->members[1].owner == &b);
	CHECK(g1->members[2].owner == &c);
	CHECK_EQ(g1->members[1].sub_id, 12);
	CHECK_EQ(g2->n, 1);
	CHECK(g2->members[0].owner == &c);

	/* Re-subscribing replaces in place and keeps the order. */
	CHECK_EQ(hf_tree_sub(t, S("$share/g1/s/+"), &a, 2, 21, &existed), 0);
	CHECK(existed);
	CHECK_EQ(hf_tree_count(t), 7);
	CHECK(g1->members[0].owner == &a);
	CHECK_EQ(g1->members[0].sub_id, 21);

	/* The round-robin cursor follows its member across a removal. */
	g1->next = 2; /* at c */
	CHECK_EQ(hf_tree_unsub(t, S("$share/g1/s/+"), &a), 1);
	CHECK_EQ(g1->n, 2);
	CHECK(g1->members[0].owner == &b);
	CHECK(g1->members[1].owner == &c);
	CHECK_EQ(g1->next, 1);
	CHECK_EQ(hf_tree_unsub(t, S("$share/g1/s/+"), &c), 1);
	CHECK_EQ(g1->next, 0);

	/* Last member out removes the group; the rest stay. */
	CHECK_EQ(hf_tree_unsub(t, S("$share/g1/s/+"), &b), 1);
	CHECK_EQ(hf_tree_unsub(t, S("$share/g1/s/+"), &b), 0);
	memset(&l, 0, sizeof(l));
	hf_tree_match(t, S("s/x"), on_plain_log, on_group_log, &l);
	CHECK_EQ(l.np, 2);
	CHECK_EQ(l.ng, 2);
	CHECK(l.g[0]->name_len == 2 && l.g[1]->name_len == 2);

	/* '$' rule applies to shared filters too. */
	CHECK_EQ(hf_tree_sub(t, S("$share/g3/#"), &a, 0, 0, NULL), 0);
	memset(&l, 0, sizeof(l));
	hf_tree_match(t, S("$SYS/x"), on_plain_log, on_group_log, &l);
	CHECK_EQ(l.ng, 0);
	hf_tree_match(t, S("q"), on_plain_log, on_group_log, &l);
	CHECK_EQ(l.ng, 1);

	CHECK_EQ(hf_tree_unsub(t, S("$share/g3/#"), &a), 1);
	CHECK_EQ(hf_tree_unsub(t, S("$share/g2/s/+"), &c), 1);
	CHECK_EQ(hf_tree_unsub(t, S("s/+"), &a), 1);
	CHECK_EQ(hf_tree_unsub(t, S("s/+"), &d), 1);
	CHECK(hf_tree_node_count(t) > 0); /* s/# still has g1 */
	CHECK_EQ(hf_tree_unsub(t, S("$share/g1/s/#"), &d), 1);
	CHECK_EQ(hf_tree_count(t), 0);
	CHECK_EQ(hf_tree_node_count(t), 0);
	hf_tree_free(t);
}

/* ---- retained ---- */

static int msgs[16]; /* message k is &msgs[k] */

static void
on_ret(void *ctx, void *msg)
{
	unsigned *mask = ctx;

	*mask |= 1u << ((int *)msg - msgs);
}

static unsigned
rmatch(struct hf_retain_tree *r, const char *filter)
{
	unsigned mask = 0;

	hf_retain_match(r, S(filter), on_ret, &mask);
	return mask;
}

static void
release_count(void *msg)
{
	(*(int *)msg)++;
}

#define B(k) (1u << (k))

static void
test_retain(void)
{
	static const char *const topics[] = {"a/b",   "a/c", "a",    "$SYS/x",
	                                     "a/b/c", "/x",  "a//b", "$SYS"};
	struct hf_retain_tree *r = hf_retain_new();
	void *old = &msgs[15];
	unsigned mask = 0;
	int k;

	CHECK(r != NULL);
	for (k = 0; k < 8; k++) {
		CHECK_EQ(hf_retain_set(r, S(topics[k]), &msgs[k], &old), 0);
		CHECK(old == NULL);
	}
	CHECK_EQ(hf_retain_count(r), 8);
	CHECK(hf_retain_get(r, S("a/b")) == &msgs[0]);
	CHECK(hf_retain_get(r, S("a/b/")) == NULL);
	CHECK(hf_retain_get(r, S("a/x")) == NULL);

	CHECK_EQ(rmatch(r, "a/+"), B(0) | B(1));
	CHECK_EQ(rmatch(r, "a/#"), B(2) | B(0) | B(1) | B(4) | B(6));
	CHECK_EQ(rmatch(r, "#"), 0x7f & ~B(3));
	CHECK_EQ(rmatch(r, "+"), B(2));
	CHECK_EQ(rmatch(r, "+/x"), B(5));
	CHECK_EQ(rmatch(r, "+/+"), B(0) | B(1) | B(5));
	CHECK_EQ(rmatch(r, "+/+/+"), B(4) | B(6));
	CHECK_EQ(rmatch(r, "a/+/b"), B(6));
	CHECK_EQ(rmatch(r, "+/#"), 0x7f & ~B(3));
	CHECK_EQ(rmatch(r, "$SYS/#"), B(3) | B(7));
	CHECK_EQ(rmatch(r, "$SYS/+"), B(3));
	CHECK_EQ(rmatch(r, "+/+/#"), B(0) | B(1) | B(4) | B(5) | B(6));
	CHECK_EQ(rmatch(r, "a/b"), B(0));
	CHECK_EQ(rmatch(r, "a/b/c/#"), B(4));
	CHECK_EQ(rmatch(r, "a/d/#"), 0);
	CHECK_EQ(rmatch(r, "x"), 0);
	hf_retain_foreach(r, on_ret, &mask);
	CHECK_EQ(mask, 0xff);

	/* Replace hands back the old message; remove prunes. */
	CHECK_EQ(hf_retain_set(r, S("a/b"), &msgs[8], &old), 0);
	CHECK(old == &msgs[0]);
	CHECK_EQ(hf_retain_count(r), 8);
	CHECK_EQ(rmatch(r, "a/b"), B(8));
	CHECK_EQ(hf_retain_set(r, S("a/b/c"), NULL, &old), 0);
	CHECK(old == &msgs[4]);
	CHECK_EQ(hf_retain_set(r, S("a/b/c"), NULL, &old), 0);
	CHECK(old == NULL);
	CHECK_EQ(hf_retain_set(r, S("nothing/here"), NULL, &old), 0);
	CHECK(old == NULL);
	CHECK_EQ(hf_retain_count(r), 7);
	CHECK_EQ(rmatch(r, "a/#"), B(2) | B(8) | B(1) | B(6));
	/* Nodes: a b c "" b $SYS x "" x = 9 after removing a/b/c. */
	CHECK_EQ(hf_retain_node_count(r), 9);
	CHECK_EQ(hf_retain_set(r, S("a"), NULL, &old), 0);
	CHECK(old == &msgs[2]);
	CHECK_EQ(hf_retain_node_count(r), 9); /* "a" still has children */
	CHECK(hf_retain_get(r, S("a")) == NULL);

	memset(msgs, 0, sizeof(msgs));
	hf_retain_free(r, release_count);
	for (k = 0; k < 16; k++)
		CHECK_EQ(msgs[k], k == 8 || k == 1 || k == 6 || k == 3 ||
		                          k == 5 || k == 7
		                      ? 1
		                      : 0);

	/* Only '$' children at the root: wildcards return nothing. */
	r = hf_retain_new();
	CHECK(r != NULL);
	CHECK_EQ(hf_retain_set(r, S("$SYS/a"), &msgs[0], &old), 0);
	CHECK_EQ(hf_retain_set(r, S("$x"), &msgs[1], &old), 0);
	CHECK_EQ(rmatch(r, "+/a"), 0);
	CHECK_EQ(rmatch(r, "+"), 0);
	CHECK_EQ(rmatch(r, "#"), 0);
	CHECK_EQ(rmatch(r, "+/#"), 0);
	CHECK_EQ(rmatch(r, "$SYS/+"), B(0));
	CHECK_EQ(rmatch(r, "$x/#"), B(1));
	/* Cleared (the engine's reset to the last commit): every message
	 * released once, no node left, and the tree takes new ones. */
	memset(msgs, 0, sizeof(msgs));
	CHECK_EQ(hf_retain_set(r, S("a/b"), &msgs[2], &old), 0);
	hf_retain_clear(r, release_count);
	CHECK_EQ(msgs[0] + msgs[1] + msgs[2], 3);
	CHECK_EQ(hf_retain_count(r), 0);
	CHECK_EQ(hf_retain_node_count(r), 0);
	CHECK_EQ(rmatch(r, "#"), 0);
	CHECK_EQ(hf_retain_set(r, S("a/b"), &msgs[3], &old), 0);
	CHECK(old == NULL);
	CHECK_EQ(rmatch(r, "a/+"), B(3));
	hf_retain_free(r, NULL);
}

/* ---- pruning, volume, depth ---- */

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random filter/topic from a small alphabet of levels into buf. */
static size_t
rand_path(uint64_t *s, char *buf, bool filter, int maxlev)
{
	static const char *const lv[] = {"a", "b", "cc", "", "dddddddddd"};
	int n = 1 + (int)(rnd(s) % (uint64_t)maxlev), i;
	size_t len = 0;

	for (i = 0; i < n; i++) {
		const char *l;
		uint64_t x = rnd(s) % 16;

		if (filter && x < 3)
			l = "+";
		else if (filter && x == 3 && i == n - 1)
			l = "#";
		else if (i == 0 && x == 4)
			l = "$s";
		else
			l = lv[x % 5];
		if (i > 0)
			buf[len++] = '/';
		memcpy(buf + len, l, strlen(l));
		len += strlen(l);
	}
	buf[len] = 0;
	return len;
}

static void
test_retain_prune_100k(void)
{
	enum { N = 100000 };
	char(*tp)[128] = malloc(sizeof(*tp) * N);
	struct hf_retain_tree *r = hf_retain_new();
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	size_t i, j, len, held = 0;
	void *old;
	char tmp[128];

	CHECK(tp != NULL && r != NULL);
	for (i = 0; i < N; i++) {
		len = rand_path(&s, tp[i], false, 6);
		snprintf(tp[i] + len, 128 - len, "/%u",
		         (unsigned)(rnd(&s) % 5000));
		CHECK_EQ(hf_retain_set(r, S(tp[i]), &msgs[1], &old), 0);
		if (old == NULL)
			held++;
	}
	CHECK_EQ(hf_retain_count(r), held);
	CHECK(hf_retain_node_count(r) > 10000);
	for (i = N - 1; i > 0; i--) { /* remove in another order */
		j = (size_t)(rnd(&s) % (i + 1));
		memcpy(tmp, tp[i], 128);
		memcpy(tp[i], tp[j], 128);
		memcpy(tp[j], tmp, 128);
	}
	for (i = 0; i < N; i++) {
		CHECK_EQ(hf_retain_set(r, S(tp[i]), NULL, &old), 0);
		if (old != NULL)
			held--;
	}
	CHECK_EQ(held, 0);
	CHECK_EQ(hf_retain_count(r), 0);
	CHECK_EQ(hf_retain_node_count(r), 0);
	hf_retain_free(r, NULL);
	free(tp);
}

static void
test_prune_tree_100k(void)
{
	enum { N = 100000 };
	char(*f)[128] = malloc(sizeof(*f) * N);
	uint32_t *perm = malloc(sizeof(*perm) * N);
	char *mark = malloc(N);
	struct hf_tree *t = hf_tree_new();
	uint64_t s = 12345;
	size_t i, len;

	CHECK(f != NULL && perm != NULL && mark != NULL && t != NULL);
	for (i = 0; i < N; i++) {
		len = rand_path(&s, f[i], true, 8); /* <= 87 bytes */
		if (len == 0 || f[i][len - 1] != '#')
			len += (size_t)snprintf(f[i] + len, 128 - len, "/%u",
			                        (unsigned)(rnd(&s) % 3000));
		if (i % 5 == 0) { /* "$share/gN/" in front */
			memmove(f[i] + 10, f[i], len + 1);
			memcpy(f[i], "$share/g", 8);
			f[i][8] = (char)('0' + i % 4);
			f[i][9] = '/';
		}
		/* Owner cycles over 64 sessions: overlaps and repeats. */
		CHECK_EQ(hf_tree_sub(t, S(f[i]), &mark[i % 64], 0, 0, NULL), 0);
		perm[i] = (uint32_t)i;
	}
	CHECK(hf_tree_node_count(t) > 10000);
	for (i = N - 1; i > 0; i--) {
		size_t j = (size_t)(rnd(&s) % (i + 1));
		uint32_t x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (i = 0; i < N; i++) {
		uint32_t k = perm[i];

		/* Duplicates of (filter, owner) were merged: 0 or 1. */
		(void)hf_tree_unsub(t, S(f[k]), &mark[k % 64]);
	}
	CHECK_EQ(hf_tree_count(t), 0);
	CHECK_EQ(hf_tree_node_count(t), 0);
	hf_tree_free(t);
	free(f);
	free(perm);
	free(mark);
}

static void
test_many_owners_one_filter(void)
{
	enum { N = 100000 };
	char *mark = malloc(N);
	uint32_t *perm = malloc(sizeof(*perm) * N);
	int *count = calloc(N, sizeof(int));
	struct hits h = {mark, N, count, 0, 0};
	struct hf_tree *t = hf_tree_new();
	uint64_t s = 777;
	size_t i;
	bool existed;

	CHECK(mark != NULL && perm != NULL && count != NULL && t != NULL);
	for (i = 0; i < N; i++) {
		CHECK_EQ(
		    hf_tree_sub(t, S("fleet/+/cmd"), &mark[i], 1, 0, &existed),
		    0);
		CHECK(!existed);
		perm[i] = (uint32_t)i;
	}
	for (i = 0; i < N; i += 3) {
		CHECK_EQ(
		    hf_tree_sub(t, S("fleet/+/cmd"), &mark[i], 2, 5, &existed),
		    0);
		CHECK(existed);
	}
	CHECK_EQ(hf_tree_count(t), N);
	hf_tree_match(t, S("fleet/x/cmd"), on_sub, NULL, &h);
	CHECK_EQ(h.total, N);
	for (i = 0; i < N; i++)
		CHECK_EQ(count[i], 1);
	for (i = N - 1; i > 0; i--) {
		size_t j = (size_t)(rnd(&s) % (i + 1));
		uint32_t x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (i = 0; i < N / 2; i++)
		CHECK_EQ(hf_tree_unsub(t, S("fleet/+/cmd"), &mark[perm[i]]), 1);
	hits_reset(&h);
	hf_tree_match(t, S("fleet/x/cmd"), on_sub, NULL, &h);
	CHECK_EQ(h.total, N - N / 2);
	for (i = 0; i < N / 2; i++)
		CHECK_EQ(count[perm[i]], 0);
	for (; i < N; i++)
		CHECK_EQ(count[perm[i]], 1);
	for (i = N / 2; i < N; i++)
		CHECK_EQ(hf_tree_unsub(t, S("fleet/+/cmd"), &mark[perm[i]]), 1);
	CHECK_EQ(hf_tree_count(t), 0);
	CHECK_EQ(hf_tree_node_count(t), 0);
	hf_tree_free(t);
	free(mark);
	free(perm);
	free(count);
}

static void
test_deep(void)
{
	enum { L = 30000 }; /* levels */
	char *topic = malloc(L);
	char *plus = malloc(2 * L);
	char *longer = malloc(L + 1);
	char mark[4];
	int count[4];
	struct hits h = {mark, 4, count, 0, 0};
	struct hf_tree *t = hf_tree_new();
	struct hf_retain_tree *r = hf_retain_new();
	unsigned mask;
	void *old;
	size_t i;

	CHECK(topic && plus && longer && t && r);
	memset(topic, '/', L - 1); /* L empty levels */
	memset(longer, '/', L);
	for (i = 0; i < L; i++) {
		plus[2 * i] = '+';
		plus[2 * i + 1] = '/';
	}
	CHECK_EQ(
	    hf_tree_sub(t, (const uint8_t *)topic, L - 1, &mark[0], 0, 0, NULL),
	    0);
	CHECK_EQ(hf_tree_sub(t, S("#"), &mark[1], 0, 0, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, S("+/#"), &mark[2], 0, 0, NULL), 0);
	CHECK_EQ(hf_tree_sub(t, (const uint8_t *)plus, 2 * L - 1, &mark[3], 0,
	                     0, NULL),
	         0);
	CHECK_EQ(hf_tree_node_count(t), 2 * L + 2);
	hits_reset(&h);
	hf_tree_match(t, (const uint8_t *)topic, L - 1, on_sub, NULL, &h);
	CHECK(count[0] == 1 && count[1] == 1 && count[2] == 1 && count[3] == 1);
	hits_reset(&h);
	hf_tree_match(t, (const uint8_t *)longer, L, on_sub, NULL, &h);
	CHECK(count[0] == 0 && count[1] == 1 && count[2] == 1 && count[3] == 0);
	CHECK(hf_topic_matches((const uint8_t *)plus, 2 * L - 1,
	                       (const uint8_t *)topic, L - 1));

	CHECK_EQ(
	    hf_retain_set(r, (const uint8_t *)topic, L - 1, &msgs[1], &old), 0);
	CHECK_EQ(hf_retain_set(r, (const uint8_t *)longer, L, &msgs[2], &old),
	         0);
	mask = 0;
	hf_retain_match(r, (const uint8_t *)plus, 2 * L - 1, on_ret, &mask);
	CHECK_EQ(mask, B(1));
	mask = 0;
	hf_retain_match(r, S("#"), on_ret, &mask);
	CHECK_EQ(mask, B(1) | B(2));
	mask = 0;
	hf_retain_match(r, (const uint8_t *)topic, L - 1, on_ret, &mask);
	CHECK_EQ(mask, B(1));
	CHECK_EQ(hf_retain_node_count(r), L + 1);
	CHECK_EQ(hf_retain_set(r, (const uint8_t *)longer, L, NULL, &old), 0);
	CHECK(old == &msgs[2]);
	CHECK_EQ(hf_retain_node_count(r), L);

	CHECK_EQ(hf_tree_unsub(t, (const uint8_t *)plus, 2 * L - 1, &mark[3]),
	         1);
	CHECK_EQ(hf_tree_node_count(t), L + 3);
	/* Freed with content: must not recurse either. */
	hf_tree_free(t);
	hf_retain_free(r, NULL);
	free(topic);
	free(plus);
	free(longer);
}

/* ---- randomized cross-check against the brute force ---- */

static void
on_got(void *ctx, void *msg)
{
	(void)ctx;
	(*(int *)msg)++;
}

static void
test_random_cross(void)
{
	enum { NF = 3000, NT = 600, NR = 800, NQ = 400 };
	char(*f)[64] = malloc(sizeof(*f) * NF);
	char(*tp)[64] = malloc(sizeof(*tp) * NT);
	char *mark = malloc(NF);
	int *count = malloc(sizeof(int) * NF);
	int *held = calloc(NT, sizeof(int)); /* last set value per topic */
	int *got = malloc(sizeof(int) * NT);
	struct hits h = {mark, NF, count, 0, 0};
	struct hf_tree *t = hf_tree_new();
	struct hf_retain_tree *r = hf_retain_new();
	uint64_t s = 0xdecafbad;
	size_t i, j, expect;
	void *old;
	char q[64];

	CHECK(f && tp && mark && count && held && got && t && r);
	for (i = 0; i < NF; i++) {
		rand_path(&s, f[i], true, 5);
		CHECK_EQ(hf_tree_sub(t, S(f[i]), &mark[i], 0, 0, NULL), 0);
	}
	for (i = 0; i < NT; i++)
		rand_path(&s, tp[i], false, 5);
	for (i = 0; i < NT; i++) {
		hits_reset(&h);
		hf_tree_match(t, S(tp[i]), on_sub, NULL, &h);
		for (j = 0; j < NF; j++) {
			bool m = hf_topic_matches(S(f[j]), S(tp[i]));

			if (count[j] != (int)m)
				fprintf(stderr, "filter '%s' topic '%s'\n",
				        f[j], tp[i]);
			CHECK_EQ(count[j], m);
		}
	}
	/* Retained: set random topics (some twice, some removed), then
	 * compare hf_retain_match with the brute force. Message = topic
	 * index + 1 encoded in a pointer into got[]. */
	for (i = 0; i < NR; i++) {
		size_t k = (size_t)(rnd(&s) % NT);
		bool del = rnd(&s) % 5 == 0;

		bool found = false;

		CHECK_EQ(hf_retain_set(r, S(tp[k]), del ? NULL : &got[k], &old),
		         0);
		/* Equal topic strings share one slot: whichever index set
		 * it last holds it. */
		for (j = 0; j < NT; j++)
			if (strcmp(tp[j], tp[k]) == 0 && held[j]) {
				CHECK(old == &got[j]);
				held[j] = 0;
				found = true;
			}
		if (!found)
			CHECK(old == NULL);
		held[k] = !del;
	}
	expect = 0;
	for (j = 0; j < NT; j++)
		expect += (size_t)held[j];
	CHECK_EQ(hf_retain_count(r), expect);
	for (i = 0; i < NQ; i++) {
		rand_path(&s, q, true, 5);
		memset(got, 0, sizeof(int) * NT);
		hf_retain_match(r, S(q), on_got, NULL);
		for (j = 0; j < NT; j++) {
			int want = held[j] && hf_topic_matches(S(q), S(tp[j]));

			if (got[j] != want)
				fprintf(stderr, "filter '%s' topic '%s'\n", q,
				        tp[j]);
			CHECK_EQ(got[j], want);
		}
	}
	hf_tree_free(t);
	hf_retain_free(r, NULL);
	free(f);
	free(tp);
	free(mark);
	free(count);
	free(held);
	free(got);
}

int
main(void)
{
	HF_RUN(test_matches_table);
	HF_RUN(test_tree_table);
	HF_RUN(test_overlap);
	HF_RUN(test_replace);
	HF_RUN(test_shared);
	HF_RUN(test_retain);
	HF_RUN(test_retain_prune_100k);
	HF_RUN(test_prune_tree_100k);
	HF_RUN(test_many_owners_one_filter);
	HF_RUN(test_deep);
	HF_RUN(test_random_cross);
	return HF_DONE();
}
