/* tests/engine/auth_fake.c - an authentication module with fixed rules,
 * linked into the engine tests in place of auth/auth.c (its symbols come
 * first, so the library's are not pulled in). It shows that the engine
 * asks include/holdfast/auth.h at every point it must:
 *   CONNECT   username "bad" -> bad credentials; no username -> refused
 *             unless anonymous clients are allowed; certificate CN
 *             "agent" -> the session is known as user "cert-agent"
 *   WRITE     topics under "deny/" are not writable (a will's too)
 *   SUBSCRIBE filters under "deny/" are refused
 *   READ      user "alice" may not read topics under "secret/"
 * Each call is counted in auth_fake_calls[access] (0 for CONNECT).
 * Every function of auth.h is defined here, also those the engine does not
 * call yet (reload, still valid: everyone stays), so that auth/auth.c is
 * never pulled in beside this file once the engine calls them.
 * Single-threaded. */
#include <stdlib.h>
#include <string.h>

#include "holdfast/auth.h"

int auth_fake_calls[8];

struct hf_auth {
	struct hf_auth_conf conf;
};

struct hf_auth *
hf_auth_new(const struct hf_auth_conf *conf, char *err, size_t errlen)
{
	struct hf_auth *a = calloc(1, sizeof(*a));
	(void)err;
	(void)errlen;
	if (a)
		a->conf = *conf;
	return a;
}

void
hf_auth_free(struct hf_auth *a)
{
	free(a);
}

int
hf_auth_reload_conf(struct hf_auth *a, const struct hf_auth_conf *conf,
                    char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (conf)
		a->conf = *conf;
	return 0;
}

int
hf_auth_reload(struct hf_auth *a, char *err, size_t errlen)
{
	return hf_auth_reload_conf(a, NULL, err, errlen);
}

bool
hf_auth_still_valid(const struct hf_auth *a, const struct hf_acl_subject *who)
{
	(void)a;
	(void)who;
	return true;
}

enum hf_auth_rc
hf_auth_connect(const struct hf_auth *a, const struct hf_auth_client *who,
                char **username_out)
{
	auth_fake_calls[0]++;
	*username_out = NULL;
	if (who->username && strcmp(who->username, "bad") == 0)
		return HF_AUTH_BAD_CREDENTIALS;
	if (who->cert_cn && strcmp(who->cert_cn, "agent") == 0) {
		*username_out = strdup("cert-agent");
		return HF_AUTH_OK;
	}
	if (!who->username && a && !a->conf.allow_anonymous)
		return HF_AUTH_NOT_AUTHORIZED;
	return HF_AUTH_OK;
}

static bool
under(const uint8_t *t, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(t, prefix, n) == 0;
}

bool
hf_acl_check(const struct hf_auth *a, const struct hf_acl_subject *who,
             const uint8_t *topic, size_t len, enum hf_acl_access access)
{
	(void)a;
	auth_fake_calls[access]++;
	switch (access) {
	case HF_ACL_WRITE:
	case HF_ACL_SUBSCRIBE:
		return !under(topic, len, "deny/");
	case HF_ACL_READ:
		return !(who->username && strcmp(who->username, "alice") == 0 &&
		         under(topic, len, "secret/"));
	}
	return false;
}
