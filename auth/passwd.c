/* auth/passwd.c - mosquitto password files, read unchanged.
 *
 * The format is mosquitto_passwd's (checked against Debian's 2.0.11): one
 * user per line, "USER:HASH", where HASH is
 *   $6$SALT$HASH        HASH = SHA-512(password || salt)
 *   $7$ITER$SALT$HASH   HASH = PBKDF2-HMAC-SHA512(password, salt, ITER, 64)
 * with SALT and HASH in standard base64 with padding. mosquitto 2.0 writes
 * $7$ with 101 iterations and a 12-byte salt, 2.1 with 1000 and 64 bytes;
 * any iteration count from 1 and any salt from 1 to HF_PW_SALT_MAX bytes is
 * read. The username is everything before the first ':' (so it never holds
 * one). Blank lines and lines starting with '#' are skipped; blanks around
 * a line and a '\r' before its '\n' are ignored, as mosquitto does. A
 * repeated user: the last line wins, as in mosquitto.
 *
 * Where mosquitto logs "removing entry" and carries on (a plain-text
 * password, an unknown or malformed hash, argon2id from mosquitto 2.1, a
 * line without ':'), this parser refuses the whole file with "NAME:LINE:
 * why", so that a typo never locks a user out (or in) silently. Messages
 * never quote a password or a hash.
 *
 * Verification computes exactly one hash whatever the outcome: the user's,
 * or for an unknown user a dummy with the parameters most entries of the
 * file have (kind, iterations, salt length), and compares with
 * CRYPTO_memcmp; an unknown user and a wrong password cost the same.
 *
 * Ownership: a struct hf_passwd owns its users; each user is one
 * allocation (name, then salt). Immutable after parsing except for the
 * "unchanged" marks a reload sets (hf_passwd_mark). No global state. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth_int.h"
#include "util.h"

struct pw_user {
	char *name; /* one allocation: name, NUL, salt */
	struct hf_pw_hash h;
	size_t order; /* line order, for "the last line wins" */
	bool unchanged;
};

struct hf_passwd {
	struct pw_user *users; /* sorted by name, unique */
	size_t n;
	struct hf_pw_hash dummy; /* for unknown users */
	uint8_t dummy_salt[HF_PW_SALT_MAX];
};

/* ---- base64 (standard alphabet, padded) ---------------------------------- */

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode len characters into out (room for max bytes). Returns the number
 * of bytes, or -1 when s is not canonical padded base64 or too long. */
static long
b64_decode(const char *s, size_t len, uint8_t *out, size_t max)
{
	size_t n = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)s[i + (size_t)k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64_val(c)) < 0)
				return -1; /* '=' inside, or not base64 */
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		             (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1; /* bits set under the padding */
		if (n + 3 - (size_t)pad > max)
			return -1;
		out[n++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[n++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[n++] = (uint8_t)w;
	}
	return (long)n;
}

/* ---- one hash -------------------------------------------------------------
 */

int
hf_pw_hash_parse(const char *s, size_t len, struct hf_pw_hash *h,
                 uint8_t *saltbuf, const char **why)
{
	const char *end = s + len, *p, *d1, *d2;

	memset(h, 0, sizeof(*h));
	if (len == 0) {
		*why = "empty password hash";
		return -1;
	}
	if (s[0] != '$') {
		*why = "not a hashed password (plain text? hash the file "
		       "with holdfast-passwd -U)";
		return -1;
	}
	if (len >= 8 && memcmp(s, "$argon2", 7) == 0) {
		*why = "argon2 hashes (mosquitto 2.1's default) are not "
		       "supported; write this user with -H sha512-pbkdf2";
		return -1;
	}
	if (len < 3 || (s[1] != '6' && s[1] != '7') || s[2] != '$') {
		*why = "unknown password hash type (not $6$ or $7$)";
		return -1;
	}
	p = s + 3;
	if (s[1] == '7') {
		uint64_t it = 0;
		const char *q = p;
		h->kind = HF_PW_PBKDF2;
		while (q < end && *q >= '0' && *q <= '9' && it <= INT_MAX)
			it = it * 10 + (uint64_t)(*q++ - '0');
		if (q == p || q >= end || *q != '$' || it == 0 ||
		    it > INT_MAX) {
			*why = "$7$ iterations must be a number from 1 to "
			       "2147483647";
			return -1;
		}
		h->iterations = (uint32_t)it;
		p = q + 1;
	} else {
		h->kind = HF_PW_SHA512;
	}
	d1 = memchr(p, '$', (size_t)(end - p));
	if (!d1) {
		*why = "password hash has no '$' between salt and hash";
		return -1;
	}
	d2 = memchr(d1 + 1, '$', (size_t)(end - d1 - 1));
	if (d2) {
		*why = "password hash has too many '$' fields";
		return -1;
	}
	long sl = b64_decode(p, (size_t)(d1 - p), saltbuf, HF_PW_SALT_MAX);
	if (sl <= 0) {
		*why = "password salt is not base64 of 1 to 1024 bytes";
		return -1;
	}
	h->salt = saltbuf;
	h->salt_len = (size_t)sl;
	if (b64_decode(d1 + 1, (size_t)(end - d1 - 1), h->hash,
	               HF_PW_HASH_LEN) != HF_PW_HASH_LEN) {
		*why = "password hash is not base64 of 64 bytes";
		return -1;
	}
	return 0;
}

int
hf_pw_compute(const struct hf_pw_hash *h, const uint8_t *password, size_t len,
              uint8_t out[HF_PW_HASH_LEN])
{
	static const uint8_t none[1] = {0};
	const uint8_t *pw = password ? password : none;

	if (len > INT_MAX || h->salt_len > INT_MAX)
		return -1;
	if (h->kind == HF_PW_PBKDF2) {
		if (h->iterations == 0 || h->iterations > INT_MAX)
			return -1;
		return PKCS5_PBKDF2_HMAC((const char *)pw, (int)len, h->salt,
		                         (int)h->salt_len, (int)h->iterations,
		                         EVP_sha512(), HF_PW_HASH_LEN, out) == 1
		           ? 0
		           : -1;
	}
	if (h->kind != HF_PW_SHA512)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 &&
	         EVP_DigestUpdate(ctx, pw, len) == 1 &&
	         EVP_DigestUpdate(ctx, h->salt, h->salt_len) == 1 &&
	         EVP_DigestFinal_ex(ctx, out, &olen) == 1 &&
	         olen == HF_PW_HASH_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

char *
hf_pw_make(enum hf_pw_kind kind, uint32_t iterations, size_t salt_len,
           const uint8_t *password, size_t len)
{
	uint8_t salt[HF_PW_SALT_MAX];
	struct hf_pw_hash h = {
	    kind, kind == HF_PW_PBKDF2 ? iterations : 0, salt_len, salt, {0}};
	/* base64 of n bytes: 4 * ceil(n / 3) characters, plus a NUL. */
	char s64[4 * ((HF_PW_SALT_MAX + 2) / 3) + 1];
	char h64[4 * ((HF_PW_HASH_LEN + 2) / 3) + 1];
	char *line;

	if ((kind != HF_PW_SHA512 && kind != HF_PW_PBKDF2) ||
	    (kind == HF_PW_PBKDF2 &&
	     (iterations == 0 || iterations > INT_MAX)) ||
	    salt_len == 0 || salt_len > HF_PW_SALT_MAX ||
	    RAND_bytes(salt, (int)salt_len) != 1 ||
	    hf_pw_compute(&h, password, len, h.hash) != 0)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s64, salt, (int)salt_len);
	EVP_EncodeBlock((unsigned char *)h64, h.hash, HF_PW_HASH_LEN);
	size_t n = strlen(s64) + strlen(h64) + 32;
	if (!(line = malloc(n)))
		return NULL;
	if (kind == HF_PW_PBKDF2)
		snprintf(line, n, "$7$%u$%s$%s", (unsigned)iterations, s64,
		         h64);
	else
		snprintf(line, n, "$6$%s$%s", s64, h64);
	OPENSSL_cleanse(h.hash, sizeof(h.hash));
	return line;
}

/* ---- lines and files ------------------------------------------------------
 */

int
hf_pw_line_split(const char *line, size_t len, const char **user, size_t *ulen,
                 const char **hash, size_t *hlen, const char **why)
{
	const char *colon;

	hf_lines_trim(&line, &len);
	if (len == 0 || line[0] == '#')
		return 0;
	if (memchr(line, '\0', len)) {
		*why = "NUL byte in line";
		return -1;
	}
	if (!(colon = memchr(line, ':', len))) {
		*why = "no ':' between username and password hash";
		return -1;
	}
	if (colon == line) {
		*why = "empty username";
		return -1;
	}
	*user = line;
	*ulen = (size_t)(colon - line);
	*hash = colon + 1;
	*hlen = len - *ulen - 1;
	return 1;
}

static int
by_name(const void *a, const void *b)
{
	const struct pw_user *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
by_params(const void *a, const void *b)
{
	const struct hf_pw_hash *x = *(const struct hf_pw_hash *const *)a;
	const struct hf_pw_hash *y = *(const struct hf_pw_hash *const *)b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->iterations != y->iterations)
		return x->iterations < y->iterations ? -1 : 1;
	return x->salt_len < y->salt_len ? -1 : x->salt_len > y->salt_len;
}

/* The dummy an unknown user is checked against: the parameters most users
 * have (holdfast-passwd's defaults for an empty file), random salt and
 * hash. */
static int
make_dummy(struct hf_passwd *pw)
{
	struct hf_pw_hash *d = &pw->dummy;
	const struct hf_pw_hash **v;
	size_t best = 0;

	d->kind = HF_PW_PBKDF2;
	d->iterations = HF_PW_ITER_DEFAULT;
	d->salt_len = HF_PW_SALT_DEFAULT;
	if (pw->n) {
		if (!(v = malloc(pw->n * sizeof(*v))))
			return -1;
		for (size_t i = 0; i < pw->n; i++)
			v[i] = &pw->users[i].h;
		qsort(v, pw->n, sizeof(*v), by_params);
		for (size_t i = 0, run = 1; i < pw->n; i++, run++) {
			if (i + 1 < pw->n && by_params(&v[i], &v[i + 1]) == 0)
				continue;
			if (run > best) {
				best = run;
				d->kind = v[i]->kind;
				d->iterations = v[i]->iterations;
				d->salt_len = v[i]->salt_len;
			}
			run = 0;
		}
		free(v);
	}
	d->salt = pw->dummy_salt;
	if (RAND_bytes(pw->dummy_salt, (int)d->salt_len) != 1 ||
	    RAND_bytes(d->hash, HF_PW_HASH_LEN) != 1)
		memset(d->hash, 0xa5,
		       HF_PW_HASH_LEN); /* never matches: the
		                          answer is "no" anyway */
	return 0;
}

void
hf_passwd_free(struct hf_passwd *pw)
{
	if (!pw)
		return;
	for (size_t i = 0; i < pw->n; i++)
		free(pw->users[i].name);
	free(pw->users);
	free(pw);
}

size_t
hf_passwd_count(const struct hf_passwd *pw)
{
	return pw ? pw->n : 0;
}

/* Append one entry (name ulen bytes, parsed hash h) to pw. */
static int
add_user(struct hf_passwd *pw, size_t *cap, const char *user, size_t ulen,
         const struct hf_pw_hash *h)
{
	if (pw->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct pw_user *nu = realloc(pw->users, nc * sizeof(*nu));
		if (!nu)
			return -1;
		pw->users = nu;
		*cap = nc;
	}
	char *mem = malloc(ulen + 1 + h->salt_len);
	if (!mem)
		return -1;
	memcpy(mem, user, ulen);
	mem[ulen] = '\0';
	memcpy(mem + ulen + 1, h->salt, h->salt_len);
	struct pw_user *u = &pw->users[pw->n];
	u->name = mem;
	u->h = *h;
	u->h.salt = (const uint8_t *)mem + ulen + 1;
	u->order = pw->n;
	u->unchanged = true;
	pw->n++;
	return 0;
}

struct hf_passwd *
hf_passwd_parse(const char *name, const char *text, size_t len, char *err,
                size_t errlen)
{
	struct hf_passwd *pw = calloc(1, sizeof(*pw));
	struct hf_lines it = {text, text ? text + len : NULL, 0};
	uint8_t salt[HF_PW_SALT_MAX];
	size_t cap = 0, llen, ulen, hlen;
	const char *line, *user, *hash, *why;

	if (!pw)
		goto oom;
	while (hf_lines_next(&it, &line, &llen)) {
		struct hf_pw_hash h;
		int rc = hf_pw_line_split(line, llen, &user, &ulen, &hash,
		                          &hlen, &why);
		if (rc == 0)
			continue;
		if (rc < 0 || hf_pw_hash_parse(hash, hlen, &h, salt, &why)) {
			hf_auth_errf(err, errlen, "%s:%lu: %s", name, it.lineno,
			             why);
			hf_passwd_free(pw);
			return NULL;
		}
		if (add_user(pw, &cap, user, ulen, &h) != 0)
			goto oom;
	}
	/* Sort by name, then keep the last line of each name. */
	if (pw->n)
		qsort(pw->users, pw->n, sizeof(*pw->users), by_name);
	size_t w = 0;
	for (size_t i = 0; i < pw->n; i++) {
		if (i + 1 < pw->n &&
		    strcmp(pw->users[i].name, pw->users[i + 1].name) == 0) {
			free(pw->users[i].name);
			continue;
		}
		pw->users[w++] = pw->users[i];
	}
	pw->n = w;
	if (make_dummy(pw) != 0)
		goto oom;
	return pw;
oom:
	hf_passwd_free(pw);
	hf_auth_errf(err, errlen, "%s: out of memory", name);
	return NULL;
}

struct hf_passwd *
hf_passwd_load(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = hf_auth_read_file(path, &len, err, errlen);
	if (!text)
		return NULL;
	struct hf_passwd *pw = hf_passwd_parse(path, text, len, err, errlen);
	free(text);
	return pw;
}

/* ---- checks ---------------------------------------------------------------
 */

static const struct pw_user *
find(const struct hf_passwd *pw, const char *user)
{
	size_t lo = 0, hi = pw->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(user, pw->users[mid].name);
		if (c == 0)
			return &pw->users[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool
hf_passwd_check(const struct hf_passwd *pw, const char *user,
                const uint8_t *password, size_t len, struct hf_pw_cost *cost)
{
	const struct pw_user *u = user ? find(pw, user) : NULL;
	const struct hf_pw_hash *h = u ? &u->h : &pw->dummy;
	uint8_t out[HF_PW_HASH_LEN];

	if (!password)
		len = 0;
	int rc = hf_pw_compute(h, password, len, out);
	if (cost) {
		cost->kind = h->kind;
		cost->iterations = h->iterations;
		cost->salt_len = h->salt_len;
		cost->kdf_calls = 1;
	}
	bool same = rc == 0 && CRYPTO_memcmp(out, h->hash, HF_PW_HASH_LEN) == 0;
	OPENSSL_cleanse(out, sizeof(out));
	return u && password && same;
}

void
hf_passwd_mark(struct hf_passwd *pw, const struct hf_passwd *old)
{
	for (size_t i = 0; i < pw->n; i++) {
		struct pw_user *u = &pw->users[i];
		const struct pw_user *o = old ? find(old, u->name) : NULL;
		u->unchanged =
		    o && o->h.kind == u->h.kind &&
		    o->h.iterations == u->h.iterations &&
		    o->h.salt_len == u->h.salt_len &&
		    memcmp(o->h.salt, u->h.salt, u->h.salt_len) == 0 &&
		    memcmp(o->h.hash, u->h.hash, HF_PW_HASH_LEN) == 0;
	}
}

bool
hf_passwd_unchanged(const struct hf_passwd *pw, const char *user)
{
	const struct pw_user *u = pw && user ? find(pw, user) : NULL;
	return u && u->unchanged;
}
