/* auth/auth.c - the authentication and authorisation context
 * (include/holdfast/auth.h): the settings, the loaded password and ACL
 * files, and the decisions made with them.
 *
 * Who gets in, as mosquitto 2.0 decides it:
 *   - use_identity_as_username (or use_subject_as_username): the client
 *     certificate's CN (subject) is the username and nothing else is
 *     checked; no certificate identity, no entry (bad credentials);
 *   - no username: in when allow_anonymous, else not authorised;
 *   - a username with a password file: in when the file has the user and
 *     the password matches (passwd.c; one hash computed either way), else
 *     bad credentials - also with allow_anonymous, as mosquitto does;
 *   - a username without a password file: in when allow_anonymous (the
 *     name is kept for the ACL), else bad credentials (mosquitto 2.0
 *     answers "not authorised" for every refusal; MQTT has the more
 *     precise code and we use it).
 * What they may do is acl.c's (hf_acl_allows) when there is an ACL file,
 * everything otherwise; writing to $SYS is refused in both cases (mosquitto
 * refuses it too, ACL or not), but for $SYS/broker/connection/..., where
 * bridges report their state.
 *
 * Reload: the new files are loaded beside the old ones and swapped in only
 * when all of them load, so a typo in a file being edited never takes
 * access away from anyone. The struct hf_auth itself never moves: sessions
 * and connections hold pointers to it.
 *
 * Ownership: the context owns a copy of its settings (strings too) and
 * the parsed files. No global state; loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "holdfast/auth.h"
#include "util.h"

struct hf_auth {
	struct hf_auth_conf conf; /* strings point at the copies below */
	char *password_file, *acl_file;
	struct hf_passwd *pw; /* NULL: no password file */
	struct hf_acl *acl;   /* NULL: no ACL file */
};

/* What a (re)load builds before it is swapped in. */
struct state {
	struct hf_auth_conf conf;
	char *password_file, *acl_file;
	struct hf_passwd *pw;
	struct hf_acl *acl;
};

static void
state_free(struct state *s)
{
	free(s->password_file);
	free(s->acl_file);
	hf_passwd_free(s->pw);
	hf_acl_free(s->acl);
}

static int
dup_opt(const char *s, char **out)
{
	*out = NULL;
	return s && !(*out = strdup(s)) ? -1 : 0;
}

/* Copy conf and load its files into st. 0, or -1 with err. */
static int
state_load(struct state *st, const struct hf_auth_conf *conf, char *err,
           size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->conf = *conf;
	if (dup_opt(conf->password_file, &st->password_file) ||
	    dup_opt(conf->acl_file, &st->acl_file)) {
		hf_auth_errf(err, errlen, "out of memory");
		return -1;
	}
	st->conf.password_file = st->password_file;
	st->conf.acl_file = st->acl_file;
	if ((st->password_file &&
	     !(st->pw = hf_passwd_load(st->password_file, err, errlen))) ||
	    (st->acl_file &&
	     !(st->acl = hf_acl_load(st->acl_file, err, errlen))))
		return -1;
	return 0;
}

struct hf_auth *
hf_auth_new(const struct hf_auth_conf *conf, char *err, size_t errlen)
{
	struct hf_auth *a = calloc(1, sizeof(*a));
	struct state st;

	if (!a) {
		hf_auth_errf(err, errlen, "out of memory");
		return NULL;
	}
	if (state_load(&st, conf, err, errlen) != 0) {
		state_free(&st);
		free(a);
		return NULL;
	}
	a->conf = st.conf;
	a->password_file = st.password_file;
	a->acl_file = st.acl_file;
	a->pw = st.pw;
	a->acl = st.acl;
	return a;
}

void
hf_auth_free(struct hf_auth *a)
{
	if (!a)
		return;
	free(a->password_file);
	free(a->acl_file);
	hf_passwd_free(a->pw);
	hf_acl_free(a->acl);
	free(a);
}

int
hf_auth_reload_conf(struct hf_auth *a, const struct hf_auth_conf *conf,
                    char *err, size_t errlen)
{
	struct state st, old;

	if (state_load(&st, conf ? conf : &a->conf, err, errlen) != 0) {
		state_free(&st);
		return -1;
	}
	if (st.pw)
		hf_passwd_mark(st.pw, a->pw);
	old = (struct state){a->conf, a->password_file, a->acl_file, a->pw,
	                     a->acl};
	a->conf = st.conf;
	a->password_file = st.password_file;
	a->acl_file = st.acl_file;
	a->pw = st.pw;
	a->acl = st.acl;
	state_free(&old);
	return 0;
}

int
hf_auth_reload(struct hf_auth *a, char *err, size_t errlen)
{
	return hf_auth_reload_conf(a, NULL, err, errlen);
}

/* The certificate identity that is the username, when the settings say
 * so: *id the CN or subject (NULL when the client has none). */
static bool
cert_is_username(const struct hf_auth_conf *c, const char *cn,
                 const char *subject, const char **id)
{
	if (c->use_identity_as_username)
		*id = cn;
	else if (c->use_subject_as_username)
		*id = subject;
	else
		return false;
	return true;
}

enum hf_auth_rc
hf_auth_connect(const struct hf_auth *a, const struct hf_auth_client *who,
                char **username_out)
{
	const char *id;

	*username_out = NULL;
	if (!a)
		return HF_AUTH_OK;
	if (cert_is_username(&a->conf, who->cert_cn, who->cert_subject, &id)) {
		if (!id || !*id)
			return HF_AUTH_BAD_CREDENTIALS;
		if (!(*username_out = strdup(id)))
			return HF_AUTH_NOT_AUTHORIZED;
		return HF_AUTH_OK;
	}
	if (!who->username)
		return a->conf.allow_anonymous ? HF_AUTH_OK
		                               : HF_AUTH_NOT_AUTHORIZED;
	if (a->pw)
		return hf_passwd_check(a->pw, who->username,
		                       who->has_password ? who->password : NULL,
		                       who->password_len, NULL)
		           ? HF_AUTH_OK
		           : HF_AUTH_BAD_CREDENTIALS;
	return a->conf.allow_anonymous ? HF_AUTH_OK : HF_AUTH_BAD_CREDENTIALS;
}

/* $SYS is not for clients to write, except the state a bridge reports of
 * itself under $SYS/broker/connection/ (its notifications and their will),
 * as in mosquitto; the ACL file still decides that part. */
#define BRIDGE_STATE "$SYS/broker/connection/"

static bool
is_sys(const uint8_t *t, size_t len)
{
	size_t bl = sizeof(BRIDGE_STATE) - 1;
	if (len > bl && memcmp(t, BRIDGE_STATE, bl) == 0)
		return false;
	return len >= 4 && memcmp(t, "$SYS", 4) == 0 &&
	       (len == 4 || t[4] == '/');
}

bool
hf_acl_check(const struct hf_auth *a, const struct hf_acl_subject *who,
             const uint8_t *topic, size_t len, enum hf_acl_access access)
{
	if (!a)
		return true;
	if (access == HF_ACL_WRITE && is_sys(topic, len))
		return false;
	if (!a->acl)
		return true;
	return hf_acl_allows(a->acl, who->username, who->client_id, topic, len,
	                     access);
}

bool
hf_auth_still_valid(const struct hf_auth *a, const struct hf_acl_subject *who)
{
	const char *id;

	if (!a)
		return true;
	if (cert_is_username(&a->conf, who->cert_cn, NULL, &id)) {
		/* The session keeps the CN, not the subject: a subject name
		 * stands while the client still has a certificate. */
		if (a->conf.use_identity_as_username)
			return id && who->username &&
			       strcmp(id, who->username) == 0;
		return who->cert_cn != NULL;
	}
	if (!who->username)
		return a->conf.allow_anonymous;
	if (a->pw)
		return hf_passwd_unchanged(a->pw, who->username);
	return a->conf.allow_anonymous;
}
