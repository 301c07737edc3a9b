// tests/fuzz/fuzz_acl.c - libFuzzer target for the ACL file parser and the
// checks made with a parsed file (auth/acl.c).
//
// Built as a libFuzzer binary with -DHF_FUZZ=ON (clang); tools/fuzz.sh runs
// it over tests/fuzz/corpus/acl, and every CTest run replays that corpus
// (fuzz_acl_replay).
/*
 * Input: the ACL file, a NUL, then NUL-separated fields: the username
 * (a field starting with 0x01: anonymous), the client id, and up to eight
 * topics or filters. Checked:
 *   - a refusal is "fuzz.acl:N: why" with N a line of the file;
 *   - every check on any bytes returns (READ, WRITE, SUBSCRIBE);
 *   - for a topic name t (no '+', '#', NUL; not $share/...), SUBSCRIBE t
 *     and READ t agree: the filter algebra (within, overlap) and the
 *     matcher give the same answer where they must;
 *   - SUBSCRIBE $share/g/F is SUBSCRIBE F (F not itself $share/...);
 *   - deny wins: the same file with "pattern deny #" appended refuses
 *     everything on topics not starting with '$', whatever the file grants.
 * Single-threaded; everything freed per input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TOPICS 8

static void
check_error(const char *err, const char *text, size_t len)
{
	unsigned long lines = 1, n = 0;
	const char *p = err + 9;

	if (strncmp(err, "fuzz.acl:", 9) != 0)
		abort();
	if (strcmp(p, " out of memory") == 0)
		return;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	while (*p >= '0' && *p <= '9' && n < 1000000000UL)
		n = n * 10 + (unsigned long)(*p++ - '0');
	if (p == err + 9 || n < 1 || n > lines || p[0] != ':' || p[1] != ' ')
		abort();
}

static bool
is_topic_name(const char *t, size_t n)
{
	return n > 0 && !memchr(t, '+', n) && !memchr(t, '#', n) &&
	       !(n >= 7 && memcmp(t, "$share/", 7) == 0);
}

static bool
allows(const struct hf_acl *acl, const char *user, const char *cid,
       const char *t, size_t n, enum hf_acl_access a)
{
	return hf_acl_allows(acl, user, cid, (const uint8_t *)t, n, a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size;
	const char *nul = memchr(in, '\0', size);
	size_t flen = nul ? (size_t)(nul - in) : size;
	const char *field[2 + MAX_TOPICS];
	size_t flens[2 + MAX_TOPICS];
	int nf = 0;
	char err[512] = "";

	/* The fields, each NUL-terminated in the input (the last by its
	 * end: copied). */
	char *rest = NULL;
	if (nul) {
		size_t rl = (size_t)(end - nul - 1);
		if (!(rest = malloc(rl + 1)))
			abort();
		memcpy(rest, nul + 1, rl);
		rest[rl] = '\0';
		for (char *p = rest; nf < 2 + MAX_TOPICS && p <= rest + rl;) {
			size_t l = strlen(p);
			field[nf] = p;
			flens[nf++] = l;
			p += l + 1;
		}
	}
	struct hf_acl *acl =
	    hf_acl_parse("fuzz.acl", in, flen, err, sizeof(err));
	if (!acl) {
		check_error(err, in, flen);
		free(rest);
		return 0;
	}
	const char *user = nf > 0 && field[0][0] != '\x01' ? field[0] : NULL;
	const char *cid = nf > 1 ? field[1] : "client";

	/* The same file, then a deny of every non-'$' topic. */
	char *denied = malloc(flen + 32);
	if (!denied)
		abort();
	memcpy(denied, in, flen);
	memcpy(denied + flen, "\npattern deny #\n", 16);
	struct hf_acl *deny =
	    hf_acl_parse("fuzz.acl", denied, flen + 16, err, sizeof(err));
	if (!deny)
		abort();

	for (int i = 2; i < nf; i++) {
		const char *t = field[i];
		size_t n = flens[i];
		bool r = allows(acl, user, cid, t, n, HF_ACL_READ);
		bool s = allows(acl, user, cid, t, n, HF_ACL_SUBSCRIBE);
		(void)allows(acl, user, cid, t, n, HF_ACL_WRITE);
		if (is_topic_name(t, n) && r != s)
			abort();
		if (n > 0 && !(n >= 7 && memcmp(t, "$share/", 7) == 0)) {
			char *sh = malloc(n + 16);
			if (!sh)
				abort();
			memcpy(sh, "$share/g/", 9);
			memcpy(sh + 9, t, n);
			if (allows(acl, user, cid, sh, n + 9,
			           HF_ACL_SUBSCRIBE) != s)
				abort();
			free(sh);
		}
		if (n > 0 && t[0] != '$' &&
		    (allows(deny, user, cid, t, n, HF_ACL_READ) ||
		     allows(deny, user, cid, t, n, HF_ACL_WRITE) ||
		     allows(deny, user, cid, t, n, HF_ACL_SUBSCRIBE)))
			abort();
	}
	hf_acl_free(deny);
	free(denied);
	hf_acl_free(acl);
	free(rest);
	return 0;
}
