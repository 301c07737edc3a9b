/* holdfast/auth.h - authentication and authorisation, as the engine asks
 * for them.
 *
 * The engine asks at four points: at CONNECT, may this client in
 * (hf_auth_connect), and may it publish, subscribe, and receive each
 * message (hf_acl_check: its will's topic at CONNECT, every PUBLISH, every
 * SUBSCRIBE filter, every delivery - live, queued, retained, wills - by the
 * receiving session's identity, which the store keeps with the session so
 * an offline or restored session is checked too). The auth/ module answers
 * and knows nothing of packets, sockets or TLS: the inputs are strings and
 * bytes; a certificate arrives as its subject and common name.
 *
 * One context (struct hf_auth) per listener, or one for all listeners when
 * per_listener_settings is false; the listener's connections carry it
 * (net/conn.h, struct hf_policy). Today's implementation (auth/auth.c)
 * applies allow_anonymous and allows every topic; the security issue adds
 * password files, ACL files and certificate identities behind the same
 * calls.
 *
 * A NULL context decides nothing: everyone in, every topic allowed (a
 * session restored from a store without its listener).
 *
 * Ownership: every pointer passed in is borrowed for the call. A username
 * returned by hf_auth_connect (use_identity_as_username) is owned by the
 * caller (free()). Threading: the loop thread; calls do not block. */
#ifndef HOLDFAST_AUTH_H
#define HOLDFAST_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_auth;

/* What an auth context is made from (the listener's settings, or the
 * global ones). Strings are borrowed for hf_auth_new's call. */
struct hf_auth_conf {
	bool allow_anonymous;
};

/* Who asks at CONNECT. Strings are NUL-terminated, NULL when absent. */
struct hf_auth_client {
	const char *client_id;
	const char *username;
	const uint8_t *password;
	size_t password_len;
	bool has_password;
	const char *cert_subject; /* TLS client certificate, when one */
	const char *cert_cn;
	const char *peer; /* "ip:port", for logs */
};

/* Outcomes of hf_auth_connect. */
enum hf_auth_rc {
	HF_AUTH_OK = 0,
	HF_AUTH_BAD_CREDENTIALS, /* v5 0x86; 3.1.1 return code 4 */
	HF_AUTH_NOT_AUTHORIZED,  /* v5 0x87; 3.1.1 return code 5 */
};

/* What an ACL check is about. */
enum hf_acl_access {
	HF_ACL_READ = 1,      /* receive a message on the topic */
	HF_ACL_WRITE = 2,     /* publish on the topic (a will too) */
	HF_ACL_SUBSCRIBE = 4, /* subscribe with the filter */
};

/* The identity a session is checked as. */
struct hf_acl_subject {
	const char *client_id;
	const char *username; /* NULL: anonymous */
	const char *cert_cn;  /* NULL: none */
};

/* Make a context. Returns NULL with err filled (naming the file and line
 * of a bad password or ACL file, later), or when out of memory. */
struct hf_auth *hf_auth_new(const struct hf_auth_conf *conf, char *err,
                            size_t errlen);
void hf_auth_free(struct hf_auth *a);

/* May this client connect? On HF_AUTH_OK, *username_out may be set to a
 * malloc'd name the session is to carry instead of the one it gave (a
 * certificate's identity); NULL leaves it as given. */
enum hf_auth_rc hf_auth_connect(const struct hf_auth *a,
                                const struct hf_auth_client *who,
                                char **username_out);

/* May who do access on topic (a topic name, or a filter for
 * HF_ACL_SUBSCRIBE; not NUL-terminated)? */
bool hf_acl_check(const struct hf_auth *a, const struct hf_acl_subject *who,
                  const uint8_t *topic, size_t len, enum hf_acl_access access);

#endif
