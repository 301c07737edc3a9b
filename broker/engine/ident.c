/* broker/engine/ident.c - who a session is checked as.
 *
 * Most sessions are anonymous clients of the broker's first (often only)
 * listener; they carry no identity at all (s->ident NULL) and are checked
 * by b->default_auth, so an idle connection costs no more than it did
 * before authentication existed. Any other session gets one allocation
 * holding its username, certificate CN, listener port and auth context.
 * Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "ident.h"

int
hf_ident_set(struct hf_session *s, const char *username, size_t ulen,
             const char *cert_cn, size_t clen, const struct hf_auth *auth,
             uint16_t port)
{
	struct hf_broker *b = s->b;
	struct hf_ident *id = NULL;
	if (username || cert_cn || auth != b->default_auth ||
	    port != b->default_port) {
		id = malloc(sizeof(*id) + (username ? ulen + 1 : 0) +
		            (cert_cn ? clen + 1 : 0));
		if (!id)
			return -1;
		char *p = id->buf;
		id->auth = auth;
		id->listener_port = port;
		id->username = id->cert_cn = NULL;
		if (username) {
			id->username = p;
			memcpy(p, username, ulen);
			p[ulen] = '\0';
			p += ulen + 1;
		}
		if (cert_cn) {
			id->cert_cn = p;
			memcpy(p, cert_cn, clen);
			p[clen] = '\0';
		}
	}
	free(s->ident);
	s->ident = id;
	return 0;
}

const struct hf_auth *
hf_session_auth(const struct hf_session *s)
{
	return s->ident ? s->ident->auth : s->b->default_auth;
}

uint16_t
hf_session_listener_port(const struct hf_session *s)
{
	return s->ident ? s->ident->listener_port : s->b->default_port;
}
