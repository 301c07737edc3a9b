/* broker/engine/ident.h - who a session is checked as (ident.c). */
#ifndef HOLDFAST_ENGINE_IDENT_H
#define HOLDFAST_ENGINE_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_auth;
struct hf_ident;
struct hf_session;

/* Set s's identity: username and certificate CN (NULL: none; not
 * necessarily NUL-terminated, with their lengths), and the auth context
 * and port of its listener. The default (anonymous, the broker's default
 * listener) is stored as NULL. Returns 0, or -1 out of memory (s keeps its
 * old identity). */
int hf_ident_set(struct hf_session *s, const char *username, size_t ulen,
                 const char *cert_cn, size_t clen, const struct hf_auth *auth,
                 uint16_t port);
/* The auth context and listener port s is checked by. */
const struct hf_auth *hf_session_auth(const struct hf_session *s);
uint16_t hf_session_listener_port(const struct hf_session *s);

#endif
