/* auth/auth_int.h - the parts of auth/ that auth.c puts together: password
 * files (passwd.c) and ACL files (acl.c). Internal to auth/, holdfast-passwd
 * and the tests; the engine sees include/holdfast/auth.h only.
 *
 * Both parsers read a whole file into memory and parse it from there
 * (hf_passwd_parse, hf_acl_parse take the text and a name for messages), so
 * the fuzz targets and the unit tests drive the same code as the broker. A
 * parse error is one message "NAME:LINE: why", never quoting a password or
 * a hash. A parsed file is immutable: checks take it const and keep no
 * state, so one may be shared by every listener's context.
 *
 * Ownership: the caller owns what a parse or load returns and frees it with
 * the matching _free. Threading: none; a parsed file may be read from any
 * thread while nobody frees it. */
#ifndef HF_AUTH_INT_H
#define HF_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/auth.h"

/* ---- password files (passwd.c) ------------------------------------------ */

/* The hash kinds of mosquitto_passwd, by their crypt(3)-like tag. */
enum hf_pw_kind {
	HF_PW_SHA512 = 6, /* $6$SALT$HASH: SHA-512(password || salt) */
	HF_PW_PBKDF2 = 7, /* $7$ITER$SALT$HASH: PBKDF2-HMAC-SHA512, 64 bytes */
};

#define HF_PW_HASH_LEN     64   /* bytes of every hash */
#define HF_PW_SALT_MAX     1024 /* bytes; mosquitto 2.0 writes 12, 2.1 64 */
#define HF_PW_SALT_DEFAULT 12   /* what holdfast-passwd writes */
#define HF_PW_ITER_DEFAULT 1000 /* what holdfast-passwd writes */

/* One parsed hash. The salt is borrowed: the parser writes it into the
 * caller's buffer, a loaded file keeps it next to the username. */
struct hf_pw_hash {
	enum hf_pw_kind kind;
	uint32_t iterations; /* 0 for HF_PW_SHA512 */
	size_t salt_len;
	const uint8_t *salt;
	uint8_t hash[HF_PW_HASH_LEN];
};

/* What one verification computed; equal for an unknown user and a wrong
 * password (the tests compare them). */
struct hf_pw_cost {
	enum hf_pw_kind kind;
	uint32_t iterations;
	size_t salt_len;
	unsigned kdf_calls; /* 1: one hash was computed */
};

struct hf_passwd;

/* Parse hash text (after "user:"), len bytes; the salt is decoded into
 * saltbuf (HF_PW_SALT_MAX bytes), which h->salt then points to. Returns 0,
 * or -1 with *why a static reason that quotes nothing of the text. */
int hf_pw_hash_parse(const char *s, size_t len, struct hf_pw_hash *h,
                     uint8_t *saltbuf, const char **why);

/* Split one line (no '\n'; a trailing '\r' and blanks are ignored) of a
 * password file. Returns 1 with *user, *ulen and *hash, *hlen pointing into
 * line for an entry, 0 for a blank or comment line, -1 with *why for a line
 * that is neither (no ':', empty username, NUL byte). The hash is not
 * checked here (hf_pw_hash_parse). */
int hf_pw_line_split(const char *line, size_t len, const char **user,
                     size_t *ulen, const char **hash, size_t *hlen,
                     const char **why);

/* Compute the hash of password (len bytes) with h's kind, iterations and
 * salt into out. Returns 0, or -1 when OpenSSL fails. */
int hf_pw_compute(const struct hf_pw_hash *h, const uint8_t *password,
                  size_t len, uint8_t out[HF_PW_HASH_LEN]);

/* A new hash line body "$7$ITER$SALT$HASH" (or "$6$SALT$HASH") for
 * password, with a fresh random salt of salt_len bytes (RAND_bytes).
 * Returns a malloc'd string, or NULL (out of memory, no randomness, or a
 * bad kind/iterations/salt_len). */
char *hf_pw_make(enum hf_pw_kind kind, uint32_t iterations, size_t salt_len,
                 const uint8_t *password, size_t len);

/* Parse a whole password file's text (len bytes; may hold anything).
 * name is used in messages only. Returns the parsed file, or NULL with err
 * "NAME:LINE: why" (or "out of memory"). An empty file is valid and has no
 * users. Duplicate users: the last line wins, as in mosquitto. */
struct hf_passwd *hf_passwd_parse(const char *name, const char *text,
                                  size_t len, char *err, size_t errlen);
/* Read and parse path. Returns NULL with err "PATH: why" when it cannot be
 * read, or as hf_passwd_parse. */
struct hf_passwd *hf_passwd_load(const char *path, char *err, size_t errlen);
void hf_passwd_free(struct hf_passwd *pw);

size_t hf_passwd_count(const struct hf_passwd *pw);

/* Does user (NUL-terminated) exist with this password (len bytes; NULL:
 * none given, which never matches)? Exactly one hash is computed whatever
 * the answer: the user's, or for an unknown user a dummy one with the
 * parameters most entries of the file have, so both refusals cost the same.
 * cost (may be NULL) says what was computed. Compares in constant time. */
bool hf_passwd_check(const struct hf_passwd *pw, const char *user,
                     const uint8_t *password, size_t len,
                     struct hf_pw_cost *cost);

/* After a reload: mark each user of pw whose entry is the same in old (NULL:
 * none) as unchanged, the others as changed. A freshly parsed file has
 * every user unchanged. */
void hf_passwd_mark(struct hf_passwd *pw, const struct hf_passwd *old);
/* Is user in pw, and was its entry unchanged by the last hf_passwd_mark? */
bool hf_passwd_unchanged(const struct hf_passwd *pw, const char *user);

/* ---- ACL files (acl.c) --------------------------------------------------- */

struct hf_acl;

/* Parse a whole ACL file's text; as hf_passwd_parse. */
struct hf_acl *hf_acl_parse(const char *name, const char *text, size_t len,
                            char *err, size_t errlen);
struct hf_acl *hf_acl_load(const char *path, char *err, size_t errlen);
void hf_acl_free(struct hf_acl *acl);

/* May a client (username NULL: anonymous; client_id NULL: none) do access
 * on topic (a topic name; a filter, possibly $share/GROUP/FILTER, for
 * HF_ACL_SUBSCRIBE)? The rules are in acl.c's header comment. */
bool hf_acl_allows(const struct hf_acl *acl, const char *username,
                   const char *client_id, const uint8_t *topic, size_t len,
                   enum hf_acl_access access);

/* Topic algebra the checks are made of, exposed for the tests. Filters are
 * MQTT filters, topics topic names; '+' and '#' are wildcards only as a
 * whole level, and a wildcard in the first level never matches a first
 * level starting with '$' [MQTT-4.7.2-1]. */
bool hf_acl_match(const char *filter, size_t flen, const char *topic,
                  size_t tlen); /* filter matches the topic */
bool hf_acl_within(const char *f, size_t flen, const char *g,
                   size_t glen); /* every topic f matches, g matches */
bool hf_acl_overlap(const char *f, size_t flen, const char *g,
                    size_t glen); /* some topic matches both */

/* ---- shared by both parsers ---------------------------------------------- */

/* Read a whole file into a malloc'd buffer (NUL-terminated; *len excludes
 * the NUL). Returns NULL with err "PATH: strerror". */
char *hf_auth_read_file(const char *path, size_t *len, char *err,
                        size_t errlen);

#endif
