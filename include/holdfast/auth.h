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
 * What it decides, as mosquitto 2.0 does with the same settings (details
 * and the few deliberate differences in docs/ARCHITECTURE.md,
 * "Authentication and authorisation"):
 *   - password_file: mosquitto_passwd's $6$ and $7$ hashes; a client with a
 *     username must match it;
 *   - acl_file: mosquitto's topic/pattern/user lines; without one every
 *     topic is allowed;
 *   - allow_anonymous: whether a client without a username gets in;
 *   - use_identity_as_username / use_subject_as_username: the client
 *     certificate's CN / subject is the username, no password is checked;
 *   - $SYS topics are never writable by clients.
 *
 * One context (struct hf_auth) per listener, or one for all listeners when
 * per_listener_settings is false; the listener's connections and the
 * sessions carry a pointer to it, which stays valid across
 * hf_auth_reload() (the context swaps its insides, never itself).
 *
 * A NULL context decides nothing: everyone in, every topic allowed (a
 * session restored from a store without its listener).
 *
 * Ownership: every pointer passed in is borrowed for the call. A username
 * returned by hf_auth_connect is owned by the caller (free()).
 * Threading: the loop thread. hf_auth_new and hf_auth_reload read files;
 * hf_auth_connect computes one password hash (PBKDF2 with the file's
 * iteration count: about 0.15 ms for 101 iterations, 1.4 ms for 1000 on
 * the 2-core test machine); nothing else blocks. */
#ifndef HOLDFAST_AUTH_H
#define HOLDFAST_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_auth;

/* What an auth context is made from (the listener's settings, or the
 * global ones). Strings are copied by hf_auth_new and hf_auth_reload_conf
 * (NULL: not configured). */
struct hf_auth_conf {
	bool allow_anonymous;
	const char *password_file; /* mosquitto_passwd format */
	const char *acl_file;      /* mosquitto acl_file format */
	/* The TLS client certificate's CN (use_identity_as_username, which
	 * wins when both are set) or its whole subject is the username; the
	 * password file is not used, a client without a certificate (or
	 * without a CN) is refused. That a certificate is required and valid
	 * is the transport's business (require_certificate). */
	bool use_identity_as_username;
	bool use_subject_as_username;
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

/* Make a context: copy conf and load its password and ACL files.
 * @param[in] conf  the settings; borrowed for the call
 * @param[out] err  (may be NULL) why it failed: "FILE:LINE: why" for a
 *                  malformed line (never quoting a password or a hash),
 *                  "FILE: strerror" for a file that cannot be read, or
 *                  "out of memory"
 * @return the context (free with hf_auth_free), or NULL with err set. */
struct hf_auth *hf_auth_new(const struct hf_auth_conf *conf, char *err,
                            size_t errlen);
/* Free a context (NULL is fine). No session may use it afterwards. */
void hf_auth_free(struct hf_auth *a);

/* Read the context's files again (SIGHUP). Everything is loaded first and
 * swapped in only when every file loads; otherwise the context keeps what
 * it had. The context's address does not change, so connections and
 * sessions keep their pointers.
 * @param[out] err  as for hf_auth_new
 * @return 0, or -1 with err set and the context unchanged. */
int hf_auth_reload(struct hf_auth *a, char *err, size_t errlen);
/* The same with new settings (conf borrowed for the call; NULL: keep the
 * current ones), for a reload whose configuration changed the files or
 * allow_anonymous. */
int hf_auth_reload_conf(struct hf_auth *a, const struct hf_auth_conf *conf,
                        char *err, size_t errlen);

/* May this client connect?
 * @param[in] a    the listener's context (NULL: yes)
 * @param[in] who  the CONNECT's credentials and the certificate identity
 * @param[out] username_out  NULL, or on HF_AUTH_OK a malloc'd name (owned
 *                 by the caller) the session is known by instead of the
 *                 one it gave (the certificate's CN or subject)
 * @return HF_AUTH_OK;
 *         HF_AUTH_BAD_CREDENTIALS: unknown user, wrong or missing password,
 *           a username where none can be checked (no password file,
 *           anonymous clients refused), no certificate identity where one
 *           is the username;
 *         HF_AUTH_NOT_AUTHORIZED: no username and anonymous clients
 *           refused (also out of memory for username_out).
 * With a password file exactly one password hash is computed whether the
 * user exists or not (the same cost), compared in constant time. */
enum hf_auth_rc hf_auth_connect(const struct hf_auth *a,
                                const struct hf_auth_client *who,
                                char **username_out);

/* May who do access on topic (a topic name, or a filter for
 * HF_ACL_SUBSCRIBE, "$share/GROUP/" prefix allowed; not NUL-terminated)?
 * A NULL context allows everything. WRITE on "$SYS" or "$SYS/..." is
 * always refused, with or without an ACL file. Without an ACL file
 * everything else is allowed. With one: deny entries win; READ and WRITE
 * need a matching entry granting them; SUBSCRIBE is refused only when a
 * deny entry covers the whole filter or no readable entry overlaps it
 * (every delivery is then checked with READ). Out of memory: refused. */
bool hf_acl_check(const struct hf_auth *a, const struct hf_acl_subject *who,
                  const uint8_t *topic, size_t len, enum hf_acl_access access);

/* Does what let a connected client in still hold after the last
 * successful hf_auth_reload()? Call it for every connected client right
 * after the reload returned 0, and disconnect those it answers false for
 * (their next CONNECT is checked afresh). The session keeps no password,
 * so a user is still valid when the password file still has the same
 * entry for it (the same hash; a new password, even an equal one re-hashed
 * with a new salt, is a change); an anonymous client when anonymous
 * clients are still allowed; a certificate identity when the settings
 * still take it (use_identity_as_username: the username is the CN). With
 * no password file, a client with a username stays while anonymous
 * clients are allowed. NULL context: true. */
bool hf_auth_still_valid(const struct hf_auth *a,
                         const struct hf_acl_subject *who);

#endif
