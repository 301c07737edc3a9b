/* tests/unit/auth_test.c - the context (auth/auth.c) as the engine uses
 * it: who gets in at CONNECT under each combination of password_file,
 * allow_anonymous and the certificate settings (mosquitto 2.0's rules, see
 * include/holdfast/auth.h), the username a certificate gives, and reloads:
 * a bad password or ACL file (or a missing one) keeps the old state and
 * says FILE:LINE, a good one swaps in, and hf_auth_still_valid judges the
 * connected clients afterwards.
 *
 * Each case works in a fresh mkdtemp() directory, removed at its end.
 * Every loop is bounded by a table's size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_int.h"
#include "holdfast/auth.h"
#include "test.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct dir {
	char path[64], pw[96], acl[96];
};

static int
dir_make(struct dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/hf_auth_test.XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(d->pw, sizeof(d->pw), "%s/pw", d->path);
	snprintf(d->acl, sizeof(d->acl), "%s/acl", d->path);
	return 0;
}

static void
dir_remove(struct dir *d)
{
	unlink(d->pw);
	unlink(d->acl);
	rmdir(d->path);
}

static int
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* "user:HASH\n" lines for NULL-terminated user, password pairs (10
 * PBKDF2 iterations: fast). Returns 0 or -1. */
static int
put_users(const char *path, const char *const *up)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (int i = 0; i < 16 && up[i]; i += 2) {
		char *h =
		    hf_pw_make(HF_PW_PBKDF2, 10, 12, (const uint8_t *)up[i + 1],
		               strlen(up[i + 1]));
		if (!h) {
			fclose(f);
			return -1;
		}
		fprintf(f, "%s:%s\n", up[i], h);
		free(h);
	}
	return fclose(f);
}

static enum hf_auth_rc
connect_as(const struct hf_auth *a, const char *user, const char *password,
           const char *cn, const char *subject, char **as)
{
	struct hf_auth_client who = {
	    .client_id = "cid",
	    .username = user,
	    .password = (const uint8_t *)password,
	    .password_len = password ? strlen(password) : 0,
	    .has_password = password != NULL,
	    .cert_subject = subject,
	    .cert_cn = cn,
	    .peer = "127.0.0.1:1",
	};
	return hf_auth_connect(a, &who, as);
}

#define OK  HF_AUTH_OK
#define BAD HF_AUTH_BAD_CREDENTIALS
#define NA  HF_AUTH_NOT_AUTHORIZED

static void
t_connect_rules(void)
{
	enum { PW = 1, ANON = 2, IDENT = 4, SUBJ = 8 };
	static const struct {
		int conf;
		const char *user, *password, *cn, *subject;
		enum hf_auth_rc want;
		const char *as; /* the username the session gets, NULL: own */
	} cases[] = {
	    /* password file, anonymous refused */
	    {PW, NULL, NULL, NULL, NULL, NA, NULL},
	    {PW, "alice", "secret", NULL, NULL, OK, NULL},
	    {PW, "alice", "wrong", NULL, NULL, BAD, NULL},
	    {PW, "alice", NULL, NULL, NULL, BAD, NULL},
	    {PW, "alice", "", NULL, NULL, BAD, NULL},
	    {PW, "mallory", "secret", NULL, NULL, BAD, NULL},
	    {PW, "alice", "secret", "alice", "CN=alice", OK, NULL},
	    /* password file, anonymous allowed: a username must still match */
	    {PW | ANON, NULL, NULL, NULL, NULL, OK, NULL},
	    {PW | ANON, NULL, "secret", NULL, NULL, OK, NULL},
	    {PW | ANON, "alice", "secret", NULL, NULL, OK, NULL},
	    {PW | ANON, "alice", "wrong", NULL, NULL, BAD, NULL},
	    {PW | ANON, "mallory", NULL, NULL, NULL, BAD, NULL},
	    /* no password file */
	    {0, NULL, NULL, NULL, NULL, NA, NULL},
	    {0, "alice", "secret", NULL, NULL, BAD, NULL},
	    {ANON, NULL, NULL, NULL, NULL, OK, NULL},
	    {ANON, "anyone", "anything", NULL, NULL, OK, NULL},
	    /* the certificate is the username; no password checked */
	    {IDENT | PW, NULL, NULL, "dev1", "CN=dev1,O=x", OK, "dev1"},
	    {IDENT | PW, "alice", "wrong", "dev1", "CN=dev1", OK, "dev1"},
	    {IDENT | PW, "alice", "secret", NULL, NULL, BAD, NULL},
	    {IDENT | ANON, NULL, NULL, NULL, NULL, BAD, NULL},
	    {IDENT, NULL, NULL, "", "O=x", BAD, NULL},
	    {SUBJ, NULL, NULL, "dev1", "CN=dev1,O=x", OK, "CN=dev1,O=x"},
	    {SUBJ | ANON, NULL, NULL, "dev1", NULL, BAD, NULL},
	    {IDENT | SUBJ, NULL, NULL, "dev1", "CN=dev1,O=x", OK, "dev1"},
	};
	static const char *const users[] = {"alice", "secret", NULL};
	struct dir d;
	char err[256];
	bool ok = true;

	CHECK(dir_make(&d) == 0);
	CHECK(put_users(d.pw, users) == 0);
	for (size_t i = 0; i < NELEM(cases); i++) {
		int c = cases[i].conf;
		struct hf_auth_conf conf = {
		    .allow_anonymous = c & ANON,
		    .password_file = c & PW ? d.pw : NULL,
		    .use_identity_as_username = c & IDENT,
		    .use_subject_as_username = c & SUBJ,
		};
		struct hf_auth *a = hf_auth_new(&conf, err, sizeof(err));
		char *as = NULL;
		if (!a) {
			fprintf(stderr, "case %zu: %s\n", i, err);
			ok = false;
			continue;
		}
		enum hf_auth_rc rc =
		    connect_as(a, cases[i].user, cases[i].password, cases[i].cn,
		               cases[i].subject, &as);
		if (rc != cases[i].want ||
		    (cases[i].as ? !as || strcmp(as, cases[i].as) : !!as)) {
			fprintf(stderr, "case %zu: rc %d as %s\n", i, (int)rc,
			        as ? as : "(none)");
			ok = false;
		}
		free(as);
		hf_auth_free(a);
	}
	dir_remove(&d);
	CHECK(ok);
	/* A NULL context lets everyone in. */
	char *as = NULL;
	CHECK_EQ(connect_as(NULL, "x", "y", NULL, NULL, &as), OK);
	CHECK(as == NULL);
}

static bool
can(const struct hf_auth *a, const char *user, const char *topic,
    enum hf_acl_access access)
{
	struct hf_acl_subject who = {"cid", user, NULL};
	return hf_acl_check(a, &who, (const uint8_t *)topic, strlen(topic),
	                    access);
}

static bool
valid(const struct hf_auth *a, const char *user, const char *cn)
{
	struct hf_acl_subject who = {"cid", user, cn};
	return hf_auth_still_valid(a, &who);
}

/* A reload that fails keeps everything as it was and names the line; one
 * that succeeds swaps both files in at once. */
static void
t_reload(void)
{
	static const char *const v1[] = {"alice", "a1", "bob", "b1", NULL};
	struct dir d;
	char err[256];
	struct hf_auth *a = NULL;

	CHECK(dir_make(&d) == 0);
	CHECK(put_users(d.pw, v1) == 0);
	CHECK(put(d.acl, "user alice\ntopic read a/#\n") == 0);
	struct hf_auth_conf conf = {.password_file = d.pw, .acl_file = d.acl};
	CHECK((a = hf_auth_new(&conf, err, sizeof(err))) != NULL);
	struct hf_auth *same = a;
	CHECK(valid(a, "alice", NULL));

	/* A bad ACL line: refused, old state kept. */
	CHECK(put(d.acl, "user alice\ntopic read b/#\ntopic bogus x y\n") == 0);
	err[0] = '\0';
	CHECK_EQ(hf_auth_reload(a, err, sizeof(err)), -1);
	CHECK(strstr(err, d.acl) == err);
	CHECK(strstr(err, "/acl:3: access must be") != NULL);
	CHECK(can(a, "alice", "a/x", HF_ACL_READ));
	CHECK(!can(a, "alice", "b/x", HF_ACL_READ));
	/* A bad password line, with a good ACL: refused as a whole. */
	CHECK(put(d.acl, "user alice\ntopic read b/#\n") == 0);
	CHECK(put(d.pw, "alice:$7$101$AAAA\n") == 0);
	CHECK_EQ(hf_auth_reload(a, err, sizeof(err)), -1);
	CHECK(strstr(err, "/pw:1: ") != NULL);
	CHECK(can(a, "alice", "a/x", HF_ACL_READ));
	CHECK(!can(a, "alice", "b/x", HF_ACL_READ));
	CHECK_EQ(connect_as(a, "alice", "a1", NULL, NULL, &(char *){NULL}), OK);
	/* A missing file. */
	unlink(d.pw);
	CHECK_EQ(hf_auth_reload(a, err, sizeof(err)), -1);
	CHECK(strstr(err, ": No such file") != NULL);
	CHECK_EQ(connect_as(a, "bob", "b1", NULL, NULL, &(char *){NULL}), OK);

	/* Good files: alice's password changes, bob goes, carol comes (an
	 * unchanged line is t_still_valid's). */
	static const char *const v2[] = {"alice", "a2", "carol", "c2", NULL};
	CHECK(put_users(d.pw, v2) == 0);
	CHECK_EQ(hf_auth_reload(a, err, sizeof(err)), 0);
	CHECK(a == same);
	CHECK(can(a, "alice", "b/x", HF_ACL_READ));
	CHECK(!can(a, "alice", "a/x", HF_ACL_READ));
	CHECK_EQ(connect_as(a, "alice", "a1", NULL, NULL, &(char *){NULL}),
	         BAD);
	CHECK_EQ(connect_as(a, "alice", "a2", NULL, NULL, &(char *){NULL}), OK);
	CHECK_EQ(connect_as(a, "bob", "b1", NULL, NULL, &(char *){NULL}), BAD);
	CHECK(!valid(a, "alice", NULL)); /* new password */
	CHECK(!valid(a, "bob", NULL));   /* gone */
	CHECK(!valid(a, "carol", NULL)); /* connected before carol existed */
	CHECK(!valid(a, NULL, NULL));    /* anonymous clients refused */
	/* Reload the very same files again: nobody changed. */
	CHECK_EQ(hf_auth_reload(a, err, sizeof(err)), 0);
	CHECK(valid(a, "alice", NULL));
	CHECK(valid(a, "carol", NULL));
	CHECK(!valid(a, "bob", NULL));
	hf_auth_free(a);
	dir_remove(&d);
}

/* An unchanged line keeps its user valid across a reload that changes
 * others; new settings through hf_auth_reload_conf. */
static void
t_still_valid(void)
{
	static const char *const v1[] = {"alice", "a1", "dave", "d1", NULL};
	struct dir d;
	char err[256], *text = NULL, *dave = NULL;
	size_t len;

	CHECK(dir_make(&d) == 0);
	CHECK(put_users(d.pw, v1) == 0);
	struct hf_auth_conf conf = {.password_file = d.pw};
	struct hf_auth *a = hf_auth_new(&conf, err, sizeof(err));
	CHECK(a != NULL);
	/* Keep dave's line, give alice a new one. */
	text = hf_auth_read_file(d.pw, &len, err, sizeof(err));
	CHECK(text && (dave = strstr(text, "dave:")) != NULL);
	char *h = hf_pw_make(HF_PW_PBKDF2, 10, 12, (const uint8_t *)"a2", 2);
	FILE *f = fopen(d.pw, "w");
	CHECK(h && f);
	fprintf(f, "alice:%s\n%s", h, dave);
	fclose(f);
	free(h);
	free(text);
	CHECK_EQ(hf_auth_reload(a, err, sizeof(err)), 0);
	CHECK(!valid(a, "alice", NULL));
	CHECK(valid(a, "dave", NULL));

	/* Anonymous clients allowed now; then the password file goes: a
	 * username stays while anonymous clients are allowed. */
	conf.allow_anonymous = true;
	CHECK_EQ(hf_auth_reload_conf(a, &conf, err, sizeof(err)), 0);
	CHECK(valid(a, NULL, NULL));
	CHECK(valid(a, "dave", NULL));
	conf.password_file = NULL;
	CHECK_EQ(hf_auth_reload_conf(a, &conf, err, sizeof(err)), 0);
	CHECK(valid(a, "dave", NULL));
	CHECK(valid(a, "nobody", NULL));
	conf.allow_anonymous = false;
	CHECK_EQ(hf_auth_reload_conf(a, &conf, err, sizeof(err)), 0);
	CHECK(!valid(a, "dave", NULL));
	CHECK(!valid(a, NULL, NULL));
	/* A password file again: users admitted without one are not
	 * valid, even when the file has them. */
	conf.password_file = d.pw;
	CHECK_EQ(hf_auth_reload_conf(a, &conf, err, sizeof(err)), 0);
	CHECK(!valid(a, "dave", NULL));
	/* Certificates: the CN must still be the username. */
	conf.use_identity_as_username = true;
	CHECK_EQ(hf_auth_reload_conf(a, &conf, err, sizeof(err)), 0);
	CHECK(valid(a, "dev1", "dev1"));
	CHECK(!valid(a, "dave", "dev1"));
	CHECK(!valid(a, "dave", NULL));
	conf.use_identity_as_username = false;
	conf.use_subject_as_username = true;
	CHECK_EQ(hf_auth_reload_conf(a, &conf, err, sizeof(err)), 0);
	CHECK(valid(a, "CN=dev1,O=x", "dev1"));
	CHECK(!valid(a, "dave", NULL));
	/* A failed reload_conf keeps the settings. */
	conf.acl_file = "/nonexistent/acl";
	CHECK_EQ(hf_auth_reload_conf(a, &conf, err, sizeof(err)), -1);
	CHECK(valid(a, "CN=dev1,O=x", "dev1"));
	CHECK(hf_auth_still_valid(NULL, &(struct hf_acl_subject){0}));
	hf_auth_free(a);
	dir_remove(&d);
}

int
main(void)
{
	HF_RUN(t_connect_rules);
	HF_RUN(t_reload);
	HF_RUN(t_still_valid);
	return HF_DONE();
}
