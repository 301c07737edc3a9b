/* auth/acl.c - mosquitto ACL files, read unchanged, and the checks made
 * with them.
 *
 * The format (mosquitto.conf(5), acl_file; checked against Debian's
 * mosquitto 2.0.11):
 *   topic   [read|write|readwrite|deny] TOPIC   (default readwrite)
 *   pattern [read|write|readwrite|deny] TOPIC   (%c client id, %u username)
 *   user    NAME
 * "topic" lines before the first "user" line are the anonymous clients';
 * after it, that user's (a user may have several sections; they add up).
 * "pattern" lines apply to every client wherever they stand. With one word
 * after the keyword, that word is the topic; with more, the first is the
 * access and the rest of the line (inner spaces kept) the topic. NAME is
 * the rest of the line. Keywords and access words are lower case. Lines
 * whose first non-blank character is '#' are comments (mosquitto wants it
 * in the first column and refuses an indented one; we accept both). A bad
 * line refuses the whole file with "NAME:LINE: why": an unknown keyword or
 * access, a missing topic or username, a TOPIC that is not a valid filter
 * ('+' and '#' must be whole levels, '#' the last), a level holding two
 * substitutions, a NUL byte.
 *
 * Who: a client with a username is checked against that user's entries
 * (none when the file has no section for it), a client without one against
 * the anonymous entries; both against the patterns. A pattern with %u does
 * not apply to an anonymous client, as in mosquitto.
 *
 * Deny wins: a matching deny entry refuses whatever the order of the lines.
 * Otherwise access needs an entry granting it that matches:
 *   WRITE (PUBLISH, a will)   a write/readwrite entry matching the topic;
 *   READ (every delivery)     a read/readwrite entry matching the topic;
 *   SUBSCRIBE (a filter F)    refused when some deny entry D covers F
 *                             entirely (every topic F matches, D matches),
 *                             granted when some read/readwrite entry
 *                             overlaps F (some topic matches both).
 * So a subscription is refused only when it could never deliver anything,
 * and what it delivers is filtered by READ, message by message (a user
 * with "topic read a/+/temp" may subscribe to "a/#" and receives the temps
 * only). mosquitto 2.0's acl_file grants every SUBSCRIBE and filters
 * deliveries the same way; refusing the hopeless ones tells the client at
 * once. $share/GROUP/F is checked as F.
 *
 * Pattern substitution safety: mosquitto substitutes the text as it is, so
 * a client id "a/b" under "pattern readwrite c/%c/#" reached c/a/b/#,
 * inside client "a"'s tree, and '+'/'#' in a username widened it
 * (CVE-2017-7650). Here an allowing pattern does not apply when a value it
 * substitutes holds '/', '+' or '#', or would make a topic start with '$'
 * that the pattern did not; a deny pattern substitutes the value as it is,
 * since that can only deny more. A level may hold one substitution (with
 * other text around it, "x%u", as mosquitto allows), never two: "%u%c"
 * would map two clients onto one name.
 *
 * $SYS is never writable; that is auth.c's rule, with or without a file.
 *
 * Ownership: struct hf_acl owns its entries and names; immutable after
 * parsing. No global state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "util.h"

#define P_READ  1
#define P_WRITE 2
#define P_DENY  4

#define S_CLIENT 1 /* pattern substitutes %c */
#define S_USER   2 /* pattern substitutes %u */

#define MAX_TOPIC 65535 /* an MQTT string */

struct acl_entry {
	char *topic; /* NUL-terminated, len bytes */
	size_t len;
	uint8_t perm;  /* P_READ | P_WRITE, or P_DENY */
	uint8_t subst; /* patterns: S_* */
	int32_t sect;  /* parsing: -1 anonymous, -2 pattern, else the user
	                  section's index; then the group key (index_entries) */
	size_t order;  /* line order */
};

struct acl_list {
	const struct acl_entry *v;
	size_t n;
};

struct acl_user {
	const char *name;
	struct acl_list l;
};

struct hf_acl {
	struct acl_entry *e; /* anonymous, patterns, then users by name */
	size_t n_e;
	struct acl_list anon, patterns;
	struct acl_user *users; /* sorted by name, unique */
	size_t n_users;
	char **names; /* every "user" line's name */
	size_t n_names;
};

/* ---- topic algebra ---------------------------------------------------------
 */

struct lv {
	const char *s;
	size_t len, pos;
	bool end;
};

/* The next level of c in *p (*n bytes); false when there is none left. "" has
 * one empty level, "a/" two. */
static bool
lv_next(struct lv *c, const char **p, size_t *n)
{
	if (c->end)
		return false;
	const char *start = c->s + c->pos;
	const char *slash = memchr(start, '/', c->len - c->pos);
	if (slash) {
		*n = (size_t)(slash - start);
		c->pos += *n + 1;
	} else {
		*n = c->len - c->pos;
		c->end = true;
	}
	*p = start;
	return true;
}

static bool
is_hash(const char *p, size_t n)
{
	return n == 1 && p[0] == '#';
}

static bool
is_plus(const char *p, size_t n)
{
	return n == 1 && p[0] == '+';
}

static bool
is_wild(const char *p, size_t n)
{
	return is_hash(p, n) || is_plus(p, n);
}

/* A literal level a first-level wildcard may not match [MQTT-4.7.2-1]. */
static bool
dollar(const char *p, size_t n)
{
	return n > 0 && p[0] == '$';
}

bool
hf_acl_match(const char *filter, size_t flen, const char *topic, size_t tlen)
{
	struct lv f = {filter, flen, 0, false}, t = {topic, tlen, 0, false};
	const char *fp = NULL, *tp = NULL;
	size_t fn = 0, tn = 0;
	bool first = true;

	for (;;) {
		bool hf = lv_next(&f, &fp, &fn), ht = lv_next(&t, &tp, &tn);
		if (!hf)
			return !ht;
		if (is_hash(fp, fn)) /* the rest, the parent level too */
			return !(first && tlen > 0 && topic[0] == '$');
		if (!ht)
			return false;
		if (is_plus(fp, fn)) {
			if (first && dollar(tp, tn))
				return false;
		} else if (fn != tn || memcmp(fp, tp, fn) != 0) {
			return false;
		}
		first = false;
	}
}

bool
hf_acl_within(const char *f, size_t flen, const char *g, size_t glen)
{
	struct lv a = {f, flen, 0, false}, b = {g, glen, 0, false};
	const char *ap = NULL, *bp = NULL;
	size_t an = 0, bn = 0;
	bool first = true;

	for (;;) {
		bool ha = lv_next(&a, &ap, &an), hb = lv_next(&b, &bp, &bn);
		if (hb && is_hash(bp, bn)) /* g takes the rest of f */
			return !(first && ha && !is_wild(ap, an) &&
			         dollar(ap, an));
		if (!ha)
			return !hb;
		if (!hb || is_hash(ap, an))
			return false; /* f goes deeper than g can */
		if (is_plus(ap, an)) {
			if (!is_plus(bp, bn))
				return false;
		} else if (is_plus(bp, bn)) {
			if (first && dollar(ap, an))
				return false;
		} else if (an != bn || memcmp(ap, bp, an) != 0) {
			return false;
		}
		first = false;
	}
}

bool
hf_acl_overlap(const char *f, size_t flen, const char *g, size_t glen)
{
	struct lv a = {f, flen, 0, false}, b = {g, glen, 0, false};
	const char *ap = NULL, *bp = NULL;
	size_t an = 0, bn = 0;
	bool first = true;

	for (;;) {
		bool ha = lv_next(&a, &ap, &an), hb = lv_next(&b, &bp, &bn);
		bool ah = ha && is_hash(ap, an), bh = hb && is_hash(bp, bn);
		if (ah || bh) {
			/* One side takes any rest, so the other's rest is a
			 * topic both match - unless a first-level wildcard
			 * meets a '$' level. */
			if (!first || (ah && bh))
				return true;
			if (ah)
				return !(hb && !is_wild(bp, bn) &&
				         dollar(bp, bn));
			return !(ha && !is_wild(ap, an) && dollar(ap, an));
		}
		if (!ha || !hb)
			return !ha && !hb;
		if (is_plus(ap, an)) {
			if (first && !is_plus(bp, bn) && dollar(bp, bn))
				return false;
		} else if (is_plus(bp, bn)) {
			if (first && dollar(ap, an))
				return false;
		} else if (an != bn || memcmp(ap, bp, an) != 0) {
			return false;
		}
		first = false;
	}
}

/* ---- parsing ---------------------------------------------------------------
 */

/* Is s a valid filter for an ACL line ('+', '#' whole levels, '#' last)?
 * For a pattern, also count its substitutions into *subst, and refuse a
 * level holding two. */
static const char *
check_topic(const char *s, size_t len, bool pattern, uint8_t *subst)
{
	struct lv c = {s, len, 0, false};
	const char *p;
	size_t n;

	*subst = 0;
	if (len == 0)
		return "missing topic";
	if (len > MAX_TOPIC)
		return "topic longer than 65535 bytes";
	while (lv_next(&c, &p, &n)) {
		if ((memchr(p, '+', n) || memchr(p, '#', n)) && !is_wild(p, n))
			return "'+' and '#' must each be a whole topic level";
		if (is_hash(p, n) && !c.end)
			return "'#' must be the last topic level";
		if (!pattern)
			continue;
		int k = 0;
		for (size_t i = 0; i + 1 < n; i++) {
			if (p[i] != '%' || (p[i + 1] != 'c' && p[i + 1] != 'u'))
				continue;
			*subst |= p[i + 1] == 'c' ? S_CLIENT : S_USER;
			k++;
			i++;
		}
		if (k > 1)
			return "a topic level may hold only one %c or %u";
	}
	return NULL;
}

struct parse {
	struct hf_acl *acl;
	size_t cap_e, cap_names;
	int32_t sect; /* -1 until the first "user" line */
};

static int
add_name(struct parse *ps, const char *name, size_t n)
{
	struct hf_acl *acl = ps->acl;
	if (acl->n_names == ps->cap_names) {
		size_t nc = ps->cap_names ? ps->cap_names * 2 : 8;
		if (nc > INT32_MAX)
			return -1;
		char **nn = realloc(acl->names, nc * sizeof(*nn));
		if (!nn)
			return -1;
		acl->names = nn;
		ps->cap_names = nc;
	}
	char *s = malloc(n + 1);
	if (!s)
		return -1;
	memcpy(s, name, n);
	s[n] = '\0';
	acl->names[acl->n_names] = s;
	ps->sect = (int32_t)acl->n_names++;
	return 0;
}

static int
add_entry(struct parse *ps, const char *topic, size_t len, uint8_t perm,
          bool pattern, uint8_t subst)
{
	struct hf_acl *acl = ps->acl;
	if (acl->n_e == ps->cap_e) {
		size_t nc = ps->cap_e ? ps->cap_e * 2 : 16;
		struct acl_entry *ne = realloc(acl->e, nc * sizeof(*ne));
		if (!ne)
			return -1;
		acl->e = ne;
		ps->cap_e = nc;
	}
	struct acl_entry *e = &acl->e[acl->n_e];
	if (!(e->topic = malloc(len + 1)))
		return -1;
	memcpy(e->topic, topic, len);
	e->topic[len] = '\0';
	e->len = len;
	e->perm = perm;
	e->subst = pattern ? subst : 0;
	e->sect = pattern ? -2 : ps->sect;
	e->order = acl->n_e++;
	return 0;
}

/* Split the first blank-separated word off s (n bytes): *w, *wn the
 * word, *r, *rn the rest after the blanks that follow it. */
static void
word(const char *s, size_t n, const char **w, size_t *wn, const char **r,
     size_t *rn)
{
	size_t i = 0;
	while (i < n && s[i] != ' ' && s[i] != '\t')
		i++;
	*w = s;
	*wn = i;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	*r = s + i;
	*rn = n - i;
}

static bool
word_is(const char *w, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(w, lit, n) == 0;
}

/* One line. Returns NULL, or why it is refused (static text; "" for out of
 * memory). */
static const char *
parse_line(struct parse *ps, const char *line, size_t len)
{
	const char *kw, *rest, *a, *after;
	size_t kwn, restn, an, aftern;
	uint8_t perm = P_READ | P_WRITE, subst;

	hf_lines_trim(&line, &len);
	if (len == 0 || line[0] == '#')
		return NULL;
	if (memchr(line, '\0', len))
		return "NUL byte in line";
	word(line, len, &kw, &kwn, &rest, &restn);
	if (word_is(kw, kwn, "user")) {
		if (restn == 0)
			return "user needs a username";
		return add_name(ps, rest, restn) ? "" : NULL;
	}
	bool pattern = word_is(kw, kwn, "pattern");
	if (!pattern && !word_is(kw, kwn, "topic"))
		return "unknown keyword (expected topic, pattern or user)";
	if (restn == 0)
		return "missing topic";
	word(rest, restn, &a, &an, &after, &aftern);
	if (aftern > 0) { /* ACCESS TOPIC */
		if (word_is(a, an, "read"))
			perm = P_READ;
		else if (word_is(a, an, "write"))
			perm = P_WRITE;
		else if (word_is(a, an, "deny"))
			perm = P_DENY;
		else if (!word_is(a, an, "readwrite"))
			return "access must be read, write, readwrite or deny";
		rest = after;
		restn = aftern;
	}
	const char *why = check_topic(rest, restn, pattern, &subst);
	if (why)
		return why;
	return add_entry(ps, rest, restn, perm, pattern, subst) ? "" : NULL;
}

struct name_ref {
	const char *name;
	int32_t sect;
};

static int
by_name(const void *x, const void *y)
{
	const struct name_ref *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	return c ? c : (a->sect > b->sect) - (a->sect < b->sect);
}

static int
by_key(const void *x, const void *y)
{
	const struct acl_entry *a = x, *b = y;
	if (a->sect != b->sect)
		return a->sect < b->sect ? -1 : 1;
	return (a->order > b->order) - (a->order < b->order);
}

/* The run of entries from *i with group key g, as l; *i moves past it. */
static void
group(const struct hf_acl *acl, size_t *i, int32_t g, struct acl_list *l)
{
	size_t first = *i;

	while (*i < acl->n_e && acl->e[*i].sect == g)
		++*i;
	l->n = *i - first;
	l->v = l->n ? acl->e + first : NULL;
}

/* Group the entries into the anonymous list, the patterns and one list per
 * user name (every section of a name together, in line order); a user
 * with sections but no entries gets an empty list. Each entry's sect
 * becomes its group key: 0 anonymous, 1 patterns, 2 + the rank of its
 * user's name. */
static int
index_entries(struct hf_acl *acl)
{
	struct name_ref *refs = NULL;
	int32_t *rank = NULL;

	if (acl->n_names) {
		refs = malloc(acl->n_names * sizeof(*refs));
		rank = malloc(acl->n_names * sizeof(*rank));
		acl->users = calloc(acl->n_names, sizeof(*acl->users));
		if (!refs || !rank || !acl->users) {
			free(refs);
			free(rank);
			return -1;
		}
		for (size_t k = 0; k < acl->n_names; k++)
			refs[k] = (struct name_ref){acl->names[k], (int32_t)k};
		qsort(refs, acl->n_names, sizeof(*refs), by_name);
		for (size_t k = 0; k < acl->n_names; k++) {
			if (k == 0 || strcmp(refs[k].name, refs[k - 1].name))
				acl->users[acl->n_users++].name = refs[k].name;
			rank[refs[k].sect] = (int32_t)acl->n_users - 1;
		}
	}
	for (size_t i = 0; i < acl->n_e; i++) {
		int32_t s = acl->e[i].sect;
		acl->e[i].sect = s == -1 ? 0 : s == -2 ? 1 : 2 + rank[s];
	}
	free(refs);
	free(rank);
	if (acl->n_e > 1)
		qsort(acl->e, acl->n_e, sizeof(*acl->e), by_key);
	size_t i = 0;
	struct acl_list *lists[2] = {&acl->anon, &acl->patterns};
	for (int32_t g = 0; g < 2; g++)
		group(acl, &i, g, lists[g]);
	for (size_t u = 0; u < acl->n_users; u++)
		group(acl, &i, 2 + (int32_t)u, &acl->users[u].l);
	return 0;
}

void
hf_acl_free(struct hf_acl *acl)
{
	if (!acl)
		return;
	for (size_t i = 0; i < acl->n_e; i++)
		free(acl->e[i].topic);
	for (size_t i = 0; i < acl->n_names; i++)
		free(acl->names[i]);
	free(acl->e);
	free(acl->names);
	free(acl->users);
	free(acl);
}

struct hf_acl *
hf_acl_parse(const char *name, const char *text, size_t len, char *err,
             size_t errlen)
{
	struct parse ps = {calloc(1, sizeof(struct hf_acl)), 0, 0, -1};
	struct hf_lines it = {text, text ? text + len : NULL, 0};
	const char *line, *why;
	size_t n;

	if (!ps.acl)
		goto oom;
	while (hf_lines_next(&it, &line, &n)) {
		if (!(why = parse_line(&ps, line, n)))
			continue;
		if (!*why)
			goto oom;
		hf_auth_errf(err, errlen, "%s:%lu: %s", name, it.lineno, why);
		hf_acl_free(ps.acl);
		return NULL;
	}
	if (index_entries(ps.acl) != 0)
		goto oom;
	return ps.acl;
oom:
	hf_acl_free(ps.acl);
	hf_auth_errf(err, errlen, "%s: out of memory", name);
	return NULL;
}

struct hf_acl *
hf_acl_load(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = hf_auth_read_file(path, &len, err, errlen);
	if (!text)
		return NULL;
	struct hf_acl *acl = hf_acl_parse(path, text, len, err, errlen);
	free(text);
	return acl;
}

/* ---- checks -----------------------------------------------------------------
 */

static const struct acl_user *
find_user(const struct hf_acl *acl, const char *name)
{
	size_t lo = 0, hi = acl->n_users;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, acl->users[mid].name);
		if (c == 0)
			return &acl->users[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

enum verdict { NONE, ALLOW, DENY };

static enum verdict
judge(uint8_t perm, const char *f, size_t fl, const char *t, size_t tl,
      enum hf_acl_access access)
{
	bool sub = access == HF_ACL_SUBSCRIBE;

	if (perm & P_DENY) {
		bool hit = sub ? hf_acl_within(t, tl, f, fl)
		               : hf_acl_match(f, fl, t, tl);
		return hit ? DENY : NONE;
	}
	if (!(perm & (access == HF_ACL_WRITE ? P_WRITE : P_READ)))
		return NONE;
	bool hit =
	    sub ? hf_acl_overlap(t, tl, f, fl) : hf_acl_match(f, fl, t, tl);
	return hit ? ALLOW : NONE;
}

/* Does the value v substituted into pattern e keep an allowing entry in
 * its own tree? (No '/', '+', '#'.) */
static bool
safe_value(const char *v)
{
	return !strpbrk(v, "/+#");
}

/* Write pattern e with its substitutions into buf (cap bytes). Returns the
 * length, -1 when the pattern does not apply to this client, -2 when buf
 * is too small (*need set). */
static long
substitute(const struct acl_entry *e, const char *user, const char *cid,
           char *buf, size_t cap, size_t *need)
{
	bool allow = !(e->perm & P_DENY);
	size_t ul = user ? strlen(user) : 0, cl = cid ? strlen(cid) : 0;

	if (((e->subst & S_USER) && !user) || ((e->subst & S_CLIENT) && !cid))
		return -1;
	if (allow && (((e->subst & S_USER) && !safe_value(user)) ||
	              ((e->subst & S_CLIENT) && !safe_value(cid))))
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < e->len; i++) {
		const char *v = NULL;
		size_t vl = 0;
		if (e->topic[i] == '%' && i + 1 < e->len &&
		    (e->topic[i + 1] == 'c' || e->topic[i + 1] == 'u')) {
			v = e->topic[i + 1] == 'c' ? cid : user;
			vl = e->topic[i + 1] == 'c' ? cl : ul;
			i++;
		}
		if (v) {
			if (n + vl <= cap)
				memcpy(buf + n, v, vl);
			n += vl;
		} else {
			if (n < cap)
				buf[n] = e->topic[i];
			n++;
		}
	}
	if (n > cap) {
		*need = n;
		return -2;
	}
	/* A pattern that did not start with '$' must not reach a '$' topic
	 * through a value (%c "$SYS" in "%c/#"). */
	if (allow && n > 0 && buf[0] == '$' && e->topic[0] != '$')
		return -1;
	return (long)n;
}

static enum verdict
judge_pattern(const struct acl_entry *e, const char *user, const char *cid,
              const char *t, size_t tl, enum hf_acl_access access)
{
	char stack[256], *heap = NULL;
	size_t need = 0;
	long n;

	if (!e->subst)
		return judge(e->perm, e->topic, e->len, t, tl, access);
	n = substitute(e, user, cid, stack, sizeof(stack), &need);
	if (n == -2) {
		if (!(heap = malloc(need)))
			return DENY; /* out of memory: refuse */
		n = substitute(e, user, cid, heap, need, &need);
	}
	enum verdict v = n < 0 ? NONE
	                       : judge(e->perm, heap ? heap : stack, (size_t)n,
	                               t, tl, access);
	free(heap);
	return v;
}

/* "$share/GROUP/FILTER" -> FILTER. Returns false for a malformed one. */
static bool
strip_share(const char **t, size_t *tl)
{
	static const char pre[] = "$share/";
	const size_t pl = sizeof(pre) - 1;

	if (*tl < pl || memcmp(*t, pre, pl) != 0)
		return true;
	const char *g = *t + pl;
	const char *slash = memchr(g, '/', *tl - pl);
	if (!slash || slash == g || slash + 1 == *t + *tl)
		return false;
	*tl -= (size_t)(slash + 1 - *t);
	*t = slash + 1;
	return true;
}

bool
hf_acl_allows(const struct hf_acl *acl, const char *username,
              const char *client_id, const uint8_t *topic, size_t len,
              enum hf_acl_access access)
{
	const char *t = (const char *)topic;
	const struct acl_user *u = NULL;
	const struct acl_list *l;
	bool allowed = false;

	if (access == HF_ACL_SUBSCRIBE && !strip_share(&t, &len))
		return false;
	if (username) {
		u = find_user(acl, username);
		l = u ? &u->l : NULL;
	} else {
		l = &acl->anon;
	}
	for (size_t i = 0; l && i < l->n; i++) {
		const struct acl_entry *e = &l->v[i];
		enum verdict v =
		    judge(e->perm, e->topic, e->len, t, len, access);
		if (v == DENY)
			return false;
		allowed |= v == ALLOW;
	}
	for (size_t i = 0; i < acl->patterns.n; i++) {
		enum verdict v = judge_pattern(&acl->patterns.v[i], username,
		                               client_id, t, len, access);
		if (v == DENY)
			return false;
		allowed |= v == ALLOW;
	}
	return allowed;
}
