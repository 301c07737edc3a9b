// tests/fuzz/fuzz_passwd.c - libFuzzer target for the password file parser
// (auth/passwd.c).
//
// Built as a libFuzzer binary with -DHF_FUZZ=ON (clang); tools/fuzz.sh runs
// it over tests/fuzz/corpus/passwd, and every CTest run replays that corpus
// (fuzz_passwd_replay).
/*
 * The input is a whole password file. Checked:
 *   - a refusal is "fuzz.pw:N: why" with N a line of the input;
 *   - the parser agrees with its own pieces: the file loads exactly when
 *     every line is blank, a comment, or a user whose hash parses
 *     (hf_pw_line_split, hf_pw_hash_parse), and then it holds one user per
 *     distinct name, each found by name (and a name not in the file not);
 *   - a check computes what hf_pw_compute says for the user's last line
 *     (only for cheap hashes, so an input cannot make a run slow).
 * Single-threaded; everything freed per input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHEAP_ITERATIONS 16

struct name {
	const char *p;
	size_t n, line;
};

static int
by_name(const void *a, const void *b)
{
	const struct name *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	if (c)
		return c;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* A refusal names the file and a line of the input (or is "out of
 * memory"). */
static void
check_error(const char *err, const char *text, size_t len)
{
	unsigned long lines = 1, n = 0;
	const char *p = err + 8;

	if (strncmp(err, "fuzz.pw:", 8) != 0)
		abort();
	if (strcmp(p, " out of memory") == 0)
		return;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	while (*p >= '0' && *p <= '9' && n < 1000000000UL)
		n = n * 10 + (unsigned long)(*p++ - '0');
	if (p == err + 8 || n < 1 || n > lines || p[0] != ':' || p[1] != ' ')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[512] = "";
	struct hf_passwd *pw =
	    hf_passwd_parse("fuzz.pw", text, size, err, sizeof(err));
	struct name *names = malloc((size + 1) * sizeof(*names));
	struct hf_lines it = {text, text + size, 0};
	const char *line, *user, *hash, *why;
	size_t llen, ulen, hlen, n = 0;
	uint8_t salt[HF_PW_SALT_MAX];
	bool all_ok = true;

	if (!names)
		abort();
	if (!pw)
		check_error(err, text, size);
	while (hf_lines_next(&it, &line, &llen)) {
		struct hf_pw_hash h;
		int rc = hf_pw_line_split(line, llen, &user, &ulen, &hash,
		                          &hlen, &why);
		if (rc == 0)
			continue;
		if (rc < 0 || hf_pw_hash_parse(hash, hlen, &h, salt, &why)) {
			all_ok = false;
			break;
		}
		names[n++] = (struct name){user, ulen, it.lineno};
	}
	if (all_ok != (pw != NULL))
		abort();
	if (pw) {
		size_t distinct = 0;
		qsort(names, n, sizeof(*names), by_name);
		for (size_t i = 0; i < n; i++) {
			if (i + 1 < n && names[i].n == names[i + 1].n &&
			    memcmp(names[i].p, names[i + 1].p, names[i].n) == 0)
				continue; /* only the last line of a name counts
				           */
			distinct++;
			char *u = malloc(names[i].n + 2);
			if (!u)
				abort();
			memcpy(u, names[i].p, names[i].n);
			u[names[i].n] = '\0';
			if (!hf_passwd_unchanged(pw, u))
				abort();
			/* The entry of its last line decides the check. */
			struct hf_pw_hash h;
			const char *l = names[i].p, *end = text + size;
			const char *nl = memchr(l, '\n', (size_t)(end - l));
			size_t ll = (size_t)((nl ? nl : end) - l);
			if (hf_pw_line_split(l, ll, &user, &ulen, &hash, &hlen,
			                     &why) != 1 ||
			    hf_pw_hash_parse(hash, hlen, &h, salt, &why) != 0)
				abort();
			if (h.iterations <= CHEAP_ITERATIONS) {
				uint8_t out[HF_PW_HASH_LEN];
				struct hf_pw_cost cost;
				bool want =
				    hf_pw_compute(&h, (const uint8_t *)"pw", 2,
				                  out) == 0 &&
				    memcmp(out, h.hash, sizeof(out)) == 0;
				if (hf_passwd_check(pw, u,
				                    (const uint8_t *)"pw", 2,
				                    &cost) != want ||
				    cost.kind != h.kind ||
				    cost.iterations != h.iterations ||
				    cost.kdf_calls != 1)
					abort();
			}
			/* A name that is not in the file (its own name
			 * plus a byte no line can hold). */
			u[names[i].n] = '\n';
			u[names[i].n + 1] = '\0';
			if (hf_passwd_unchanged(pw, u))
				abort();
			free(u);
		}
		if (distinct != hf_passwd_count(pw))
			abort();
	}
	free(names);
	hf_passwd_free(pw);
	return 0;
}
