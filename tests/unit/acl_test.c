/* tests/unit/acl_test.c - ACL files (auth/acl.c) through the context
 * (include/holdfast/auth.h, hf_acl_check), as the engine asks:
 *   - the topic algebra: a filter matching a topic, a filter within
 *     another, two filters overlapping, with '+', '#' and '$' topics;
 *   - the semantics table: the anonymous section, user sections (several
 *     for one user add up), patterns with %c and %u (also inside a level),
 *     read/write/readwrite/deny, deny winning in any order, '+' and '#' in
 *     entries and in subscriptions, $share, $SYS never writable, a client
 *     whose id or username would widen a pattern ('/', '+', '#', a leading
 *     '$'), and no acl_file = everything allowed;
 *   - what the parser tolerates (as mosquitto 2.0.11 does, checked by
 *     hand against it) and every line it refuses, with FILE:LINE.
 *
 * Each context reads its file from a fresh mkdtemp() directory, removed
 * at once. Every loop is bounded by a table's size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_int.h"
#include "holdfast/auth.h"
#include "test.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define R HF_ACL_READ
#define W HF_ACL_WRITE
#define S HF_ACL_SUBSCRIBE

/* A context whose acl_file holds text (NULL: no acl_file). */
static struct hf_auth *
auth_with_acl(const char *text, char *err, size_t errlen)
{
	char dir[64], path[96];
	struct hf_auth_conf c = {.allow_anonymous = true};
	struct hf_auth *a;

	if (!text)
		return hf_auth_new(&c, err, errlen);
	snprintf(dir, sizeof(dir), "/tmp/hf_acl_test.XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/acl", dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	c.acl_file = path;
	a = hf_auth_new(&c, err, errlen);
	unlink(path);
	rmdir(dir);
	return a;
}

static bool
acl(const struct hf_auth *a, const char *user, const char *cid,
    const char *topic, enum hf_acl_access access)
{
	struct hf_acl_subject who = {cid, user, NULL};
	return hf_acl_check(a, &who, (const uint8_t *)topic, strlen(topic),
	                    access);
}

/* ---- the topic algebra --------------------------------------------------- */

static void
t_match(void)
{
	static const struct {
		const char *f, *t;
		bool want;
	} cases[] = {
	    {"a/b", "a/b", true},     {"a/b", "a/c", false},
	    {"a/+", "a/b", true},     {"a/+", "a/b/c", false},
	    {"a/+", "a", false},      {"a/+", "a/", true},
	    {"a/#", "a", true},       {"a/#", "a/b/c", true},
	    {"#", "a/b", true},       {"#", "$SYS/x", false},
	    {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true},
	    {"+/+", "/x", true},      {"a/b", "a/b/", false},
	    {"a//b", "a//b", true},   {"a/+/b", "a//b", true},
	    {"$x/+", "$x/y", true},   {"a/b/#", "a/b", true},
	    {"a/b/#", "a/bc", false}, {"abc", "ab", false},
	};
	bool ok = true;

	for (size_t i = 0; i < NELEM(cases); i++) {
		const char *f = cases[i].f, *t = cases[i].t;
		if (hf_acl_match(f, strlen(f), t, strlen(t)) != cases[i].want) {
			fprintf(stderr, "match %s %s\n", f, t);
			ok = false;
		}
	}
	CHECK(ok);
}

static void
t_within_overlap(void)
{
	static const struct {
		const char *f, *g;
		bool within, overlap; /* f within g; f, g overlap */
	} cases[] = {
	    {"a/b", "a/b", true, true},
	    {"a/b", "a/+", true, true},
	    {"a/+", "a/b", false, true},
	    {"a/#", "a/b", false, true},
	    {"a/b", "a/#", true, true},
	    {"a", "a/#", true, true},
	    {"a/#", "a/+/#", false, true},
	    {"a/+/#", "a/#", true, true},
	    {"a/+", "a/+", true, true},
	    {"a/+/c", "a/b/+", false, true},
	    {"a/+/c", "a/b/d", false, false},
	    {"#", "a/#", false, true},
	    {"a/#", "#", true, true},
	    {"#", "#", true, true},
	    {"+", "#", true, true},
	    {"+/+", "+/#", true, true},
	    {"+/#", "+/+", false, true},
	    {"b/#", "a/#", false, false},
	    {"a/+", "a", false, false},
	    {"a", "a/+", false, false},
	    {"a/b/c", "a/b", false, false},
	    {"$SYS/#", "#", false, false},
	    {"$SYS/x", "+/x", false, false},
	    {"#", "$SYS/#", false, false},
	    {"+/x", "$SYS/x", false, false},
	    {"$SYS/x", "$SYS/+", true, true},
	    {"$SYS/#", "$SYS/#", true, true},
	    {"sensors/#", "sensors/+/temp", false, true},
	    {"sensors/+/humidity", "sensors/+/temp", false, false},
	};
	bool ok = true;

	for (size_t i = 0; i < NELEM(cases); i++) {
		const char *f = cases[i].f, *g = cases[i].g;
		size_t fl = strlen(f), gl = strlen(g);
		if (hf_acl_within(f, fl, g, gl) != cases[i].within ||
		    hf_acl_overlap(f, fl, g, gl) != cases[i].overlap ||
		    hf_acl_overlap(g, gl, f, fl) != cases[i].overlap) {
			fprintf(stderr, "case %zu: %s %s\n", i, f, g);
			ok = false;
		}
	}
	CHECK(ok);
}

/* ---- the semantics table ---------------------------------------------------
 */

static const char TABLE_ACL[] = "# anonymous clients\n"
                                "topic read public/#\n"
                                "topic readwrite anon/+/chat\n"
                                "topic deny public/secret/#\n"
                                "topic read $SYS/broker/version\n"
                                "\n"
                                "user alice\n"
                                "topic readwrite alice/#\n"
                                "topic read shared/#\n"
                                "topic deny shared/hidden\n"
                                "topic write inbox/bob\n"
                                "topic sensors/+/temp\n"
                                "topic readwrite $SYS/#\n"
                                "\n"
                                "user bob\n"
                                "topic deny sensors/bad/temp\n"
                                "topic read inbox/bob\n"
                                "topic read sensors/+/temp\n"
                                "\n"
                                "user alice\n"
                                "topic read extra\n"
                                "\n"
                                "pattern readwrite clients/%c/#\n"
                                "pattern read users/%u/#\n"
                                "pattern write up/%u/%c\n"
                                "pattern deny clients/%c/locked\n"
                                "pattern read x%u/data\n"
                                "pattern read %c/feed/#\n"
                                "pattern deny anon/%c/chat\n"
                                "user empty\n";

static void
t_table(void)
{
	static const struct {
		const char *user, *cid, *topic;
		enum hf_acl_access access;
		bool want;
	} cases[] = {
	    /* anonymous: its section and the patterns */
	    {NULL, "c1", "public/news", R, true},
	    {NULL, "c1", "public/news", W, false},
	    {NULL, "c1", "public", R, true},
	    {NULL, "c1", "public/secret/x", R, false},
	    {NULL, "c1", "public/secret", R, false},
	    {NULL, "c1", "anon/r1/chat", W, true},
	    {NULL, "c1", "anon/r1/chat", R, true},
	    {NULL, "c1", "anon/c1/chat", W, false}, /* deny pattern */
	    {NULL, "c1", "anon/r1/x/chat", W, false},
	    {NULL, "c1", "alice/x", R, false},
	    {NULL, "c1", "$SYS/broker/version", R, true},
	    {NULL, "c1", "$SYS/broker/version", W, false},
	    {NULL, "c1", "$SYS/broker/uptime", R, false},
	    {NULL, "c1", "clients/c1/a", W, true},
	    {NULL, "c1", "clients/c2/a", W, false},
	    {NULL, "c1", "clients/c1/locked", W, false},
	    {NULL, "c1", "users//a", R, false}, /* %u: not for anonymous */
	    {NULL, "c1", "x/data", R, false},
	    {NULL, "c1", "public/#", S, true},
	    {NULL, "c1", "public/secret/#", S, false},
	    {NULL, "c1", "public/secret/a/+", S, false},
	    {NULL, "c1", "#", S, true}, /* overlaps public/# */
	    {NULL, "c1", "nothing/+", S, false},
	    {NULL, "c1", "$SYS/#", S, true},
	    {NULL, "c1", "$SYS/broker/uptime", S, false},
	    {NULL, "c1", "$share/g/public/#", S, true},
	    {NULL, "c1", "$share/g/nothing", S, false},
	    {NULL, "c1", "$share/g", S, false},
	    {NULL, "c1", "$share//public/x", S, false},
	    {NULL, "c1", "anon/+/chat", S, true},
	    {NULL, "c1", "anon/c1/chat", S, false},
	    /* alice: two sections, patterns, not the anonymous section */
	    {"alice", "a1", "alice/x", R, true},
	    {"alice", "a1", "alice/x", W, true},
	    {"alice", "a1", "shared/x", R, true},
	    {"alice", "a1", "shared/x", W, false},
	    {"alice", "a1", "shared/hidden", R, false},
	    {"alice", "a1", "inbox/bob", W, true},
	    {"alice", "a1", "inbox/bob", R, false},
	    {"alice", "a1", "sensors/k/temp", R, true},
	    {"alice", "a1", "sensors/k/temp", W, true},
	    {"alice", "a1", "extra", R, true},
	    {"alice", "a1", "public/news", R, false},
	    {"alice", "a1", "users/alice/x", R, true},
	    {"alice", "a1", "users/bob/x", R, false},
	    {"alice", "a1", "up/alice/a1", W, true},
	    {"alice", "a1", "up/alice/zz", W, false},
	    {"alice", "a1", "xalice/data", R, true},
	    {"alice", "a1", "clients/a1/q", W, true},
	    {"alice", "a1", "$SYS/broker/x", R, true},
	    {"alice", "a1", "$SYS/broker/x", W, false}, /* never */
	    {"alice", "a1", "$SYS", W, false},
	    {"alice", "a1", "$SYSTEM/x", W, false}, /* no entry */
	    {"alice", "a1", "shared/#", S, true},
	    {"alice", "a1", "shared/hidden", S, false},
	    {"alice", "a1", "sensors/#", S, true},
	    {"alice", "a1", "inbox/bob", S, false}, /* write only */
	    {"alice", "a1", "#", S, true},
	    /* bob: deny before the allow still wins */
	    {"bob", "b1", "inbox/bob", R, true},
	    {"bob", "b1", "inbox/bob", W, false},
	    {"bob", "b1", "sensors/a/temp", R, true},
	    {"bob", "b1", "sensors/bad/temp", R, false},
	    {"bob", "b1", "sensors/a/temp", W, false},
	    {"bob", "b1", "sensors/#", S, true},
	    {"bob", "b1", "sensors/+/humidity", S, false},
	    {"bob", "b1", "sensors/bad/temp", S, false},
	    /* a user without a section: the patterns only */
	    {"mallory", "m1", "public/news", R, false},
	    {"mallory", "m1", "clients/m1/x", W, true},
	    {"mallory", "m1", "users/mallory/x", R, true},
	    {"empty", "e1", "users/empty/x", R, true},
	    {"empty", "e1", "anything", R, false},
	    /* values that would widen a pattern grant nothing */
	    {"a/b", "c", "users/a/b/x", R, false},
	    {"a", "c", "users/a/b/x", R, true},
	    {"+", "c", "users/x/y", R, false},
	    {"#", "c", "users/x", R, false},
	    {"u", "c/d", "clients/c/d/x", W, false},
	    {"u", "c+", "clients/c+/x", W, false},
	    {"u", "dev", "dev/feed/x", R, true},
	    {"u", "$SYS", "$SYS/feed/x", R, false},
	    {"$SYS", "c", "x$SYS/data", R, true}, /* not at the start */
	    /* ... while a deny pattern substitutes as it is: more denied */
	    {NULL, "+", "anon/r1/chat", W, false},
	    {NULL, "#", "anon/r1/chat", W, false},
	};
	char err[256];
	struct hf_auth *a = auth_with_acl(TABLE_ACL, err, sizeof(err));
	bool ok = true;

	if (!a)
		fprintf(stderr, "%s\n", err);
	CHECK(a != NULL);
	for (size_t i = 0; i < NELEM(cases); i++) {
		if (acl(a, cases[i].user, cases[i].cid, cases[i].topic,
		        cases[i].access) != cases[i].want) {
			fprintf(stderr, "case %zu: user %s cid %s %s %d: %d\n",
			        i, cases[i].user ? cases[i].user : "(none)",
			        cases[i].cid, cases[i].topic, cases[i].access,
			        !cases[i].want);
			ok = false;
		}
	}
	hf_auth_free(a);
	CHECK(ok);
}

/* No acl_file: everything allowed, but $SYS is never writable; a NULL
 * context decides nothing. An empty file allows nothing. */
static void
t_no_acl_file(void)
{
	char err[256];
	struct hf_auth *a = auth_with_acl(NULL, err, sizeof(err));

	CHECK(a != NULL);
	CHECK(acl(a, NULL, "c", "any/topic", W));
	CHECK(acl(a, "u", "c", "any/topic", R));
	CHECK(acl(a, "u", "c", "#", S));
	CHECK(acl(a, "u", "c", "$SYS/broker/version", R));
	CHECK(acl(a, "u", "c", "$SYS/#", S));
	CHECK(!acl(a, "u", "c", "$SYS/broker/version", W));
	CHECK(!acl(a, NULL, "c", "$SYS", W));
	CHECK(acl(a, NULL, "c", "$SYSX", W));
	CHECK(acl(a, NULL, "c", "$x/y", W));
	/* a bridge's own state, as mosquitto allows it */
	CHECK(acl(a, NULL, "c", "$SYS/broker/connection/edge/state", W));
	CHECK(!acl(a, NULL, "c", "$SYS/broker/connection/", W));
	CHECK(!acl(a, NULL, "c", "$SYS/broker/connections", W));
	hf_auth_free(a);
	CHECK(acl(NULL, NULL, "c", "$SYS/x", W));

	CHECK((a = auth_with_acl("", err, sizeof(err))) != NULL);
	CHECK(!acl(a, NULL, "c", "any", R));
	CHECK(!acl(a, "u", "c", "any", W));
	CHECK(!acl(a, "u", "c", "#", S));
	hf_auth_free(a);
}

/* ---- the parser ------------------------------------------------------------
 */

/* What mosquitto 2.0.11 accepts: leading blanks, CRLF, "topic read" (the
 * topic "read"), spaces inside a topic and a username, several blanks. */
static void
t_tolerated(void)
{
	static const char text[] = "  topic read\r\n"
	                           "topic  write  a b  \n"
	                           "   # indented comment\n"
	                           "\tuser  x y\n"
	                           "topic deny\n"
	                           "topic readwrite c\n";
	char err[256];
	struct hf_auth *a = auth_with_acl(text, err, sizeof(err));

	if (!a)
		fprintf(stderr, "%s\n", err);
	CHECK(a != NULL);
	CHECK(acl(a, NULL, "c", "read", W));
	CHECK(acl(a, NULL, "c", "read", R));
	CHECK(acl(a, NULL, "c", "a b", W));
	CHECK(!acl(a, NULL, "c", "a b", R));
	CHECK(!acl(a, NULL, "c", "a b  ", W));
	CHECK(acl(a, "x y", "c", "deny", R)); /* the topic "deny" */
	CHECK(acl(a, "x y", "c", "c", W));
	CHECK(!acl(a, "x", "c", "c", W));
	hf_auth_free(a);
}

static void
t_malformed(void)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *why;
	} cases[] = {
	    {"foo a\n", 1, "unknown keyword"},
	    {"topic a\nTOPIC a\n", 2, "unknown keyword"},
	    {"# c\n\ntopic\n", 3, "missing topic"},
	    {"pattern   \n", 1, "missing topic"},
	    {"topic bogus a\n", 1, "access must be"},
	    {"topic READ a\n", 1, "access must be"},
	    {"user\n", 1, "user needs a username"},
	    {"user   \t\n", 1, "user needs a username"},
	    {"topic a/#/b\n", 1, "'#' must be the last"},
	    {"topic read a+/b\n", 1, "whole topic level"},
	    {"topic read a/b#\n", 1, "whole topic level"},
	    {"pattern read a/%u%c\n", 1, "only one %c or %u"},
	    {"pattern read a/x%cy%u/z\n", 1, "only one %c or %u"},
	};
	char err[256];
	bool ok = true;

	for (size_t i = 0; i < NELEM(cases); i++) {
		char want[64];
		struct hf_acl *l =
		    hf_acl_parse("FILE", cases[i].text, strlen(cases[i].text),
		                 err, sizeof(err));
		snprintf(want, sizeof(want), "FILE:%u: ", cases[i].line);
		if (l || strncmp(err, want, strlen(want)) != 0 ||
		    !strstr(err, cases[i].why)) {
			fprintf(stderr, "case %zu: %s\n", i,
			        l ? "accepted" : err);
			ok = false;
		}
		hf_acl_free(l);
	}
	CHECK(ok);
	static const char nul[] = "topic a\ntopic b\0c\n";
	struct hf_acl *l =
	    hf_acl_parse("FILE", nul, sizeof(nul) - 1, err, sizeof(err));
	CHECK(!l);
	CHECK(strncmp(err, "FILE:2: NUL", 11) == 0);
	/* A topic longer than an MQTT string. */
	size_t n = 6 + 65536 + 1;
	char *big = malloc(n + 1);
	CHECK(big != NULL);
	memcpy(big, "topic ", 6);
	memset(big + 6, 'x', 65536);
	big[n - 1] = '\n';
	big[n] = '\0';
	l = hf_acl_parse("FILE", big, n, err, sizeof(err));
	free(big);
	CHECK(!l);
	CHECK(strstr(err, "FILE:1: topic longer") == err);
	/* Through the context: the path names the file. */
	struct hf_auth *a = auth_with_acl("topic a\nbad\n", err, sizeof(err));
	CHECK(!a);
	CHECK(strstr(err, "/acl:2: unknown keyword") != NULL);
	struct hf_auth_conf c = {.acl_file = "/nonexistent/acl"};
	CHECK(!hf_auth_new(&c, err, sizeof(err)));
	CHECK(strstr(err, "/nonexistent/acl: ") == err);
}

/* Many users and sections: each finds its own entries. */
static void
t_many_users(void)
{
	size_t cap = 64 * 1024, len = 0;
	char *text = malloc(cap);
	char err[256], topic[64], user[32];

	CHECK(text != NULL);
	for (int i = 499; i >= 0; i--) /* names out of order, two sections */
		len += (size_t)snprintf(text + len, cap - len,
		                        "user u%d\ntopic read t/%d\n", i, i);
	for (int i = 0; i < 500; i += 2)
		len += (size_t)snprintf(text + len, cap - len,
		                        "user u%d\ntopic write w/%d\n", i, i);
	struct hf_acl *l = hf_acl_parse("F", text, len, err, sizeof(err));
	free(text);
	CHECK(l != NULL);
	bool ok = true;
	for (int i = 0; i < 500; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		snprintf(topic, sizeof(topic), "t/%d", i);
		ok &= hf_acl_allows(l, user, "c", (const uint8_t *)topic,
		                    strlen(topic), R);
		snprintf(topic, sizeof(topic), "t/%d", (i + 1) % 500);
		ok &= !hf_acl_allows(l, user, "c", (const uint8_t *)topic,
		                     strlen(topic), R);
		snprintf(topic, sizeof(topic), "w/%d", i);
		ok &= hf_acl_allows(l, user, "c", (const uint8_t *)topic,
		                    strlen(topic), W) == (i % 2 == 0);
	}
	hf_acl_free(l);
	CHECK(ok);
}

int
main(void)
{
	HF_RUN(t_match);
	HF_RUN(t_within_overlap);
	HF_RUN(t_table);
	HF_RUN(t_no_acl_file);
	HF_RUN(t_tolerated);
	HF_RUN(t_malformed);
	HF_RUN(t_many_users);
	return HF_DONE();
}
