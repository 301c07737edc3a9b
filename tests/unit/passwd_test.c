/* tests/unit/passwd_test.c - password files (auth/passwd.c): files written
 * by Debian's mosquitto_passwd 2.0.11 ($6$, and $7$ with 101, 1, 5000
 * iterations; the lines below were made with it and are kept here, and
 * when /usr/bin/mosquitto_passwd is installed fresh files are made with it
 * too), a $7$ line in mosquitto 2.1's shape (1000 iterations, 64-byte
 * salt; made with Python's hashlib, as 2.1 is not packaged here), right and
 * wrong passwords, the cost of a refusal (an unknown user computes the
 * same KDF as a wrong password), what the parser tolerates (comments,
 * blanks, CRLF, repeated users) and every malformed line it refuses, with
 * FILE:LINE and without quoting the secret part.
 *
 * Each case writes its files into a fresh mkdtemp() directory and removes
 * it. Every loop is bounded by a table's size. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth_int.h"
#include "test.h"

extern char **environ;

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Lines written by mosquitto_passwd 2.0.11 (Debian 12), passwords in the
 * comments; erin's is 2.1's shape made with hashlib.pbkdf2_hmac. */
static const char MOSQ_FILE[] =
    /* alice: "secret", default (sha512-pbkdf2, 101 iterations) */
    "alice:$7$101$c71iBnxQTMW7yJ1y$F5lm1MzWoIaycQ2prwxEphdCQQBfe2J24ezehp/"
    "fBZF0I721v61T9bgouqCJMmEk0eaLubPtyoQA7dLXWuqPvA==\n"
    /* bob: "pw2", -H sha512 */
    "bob:$6$tP2mxnb22rNDC85G$KKZvwNIKRhxGupDM6VaoyjnGZwyvYG/DzsYYoGUSd7OpV/"
    "GROg0FzmJ//+09mT1nQdoQLh05owtZfOgO7Pn8Cw==\n"
    /* carol: "pw3", -H sha512-pbkdf2 -I 5000 */
    "carol:$7$5000$mlBYOGiXa/rhD1Cs$N2hIYzcvlpmsfU2uBoXA1drVEkWPYx0WCdYZhBvu"
    "tiG40OpxGhrig0BBtyPsNkpcNs70fKG47nMOndz5UrGXQA==\n"
    /* dan: "p", -I 1 */
    "dan:$7$1$79WFX/HK9unWX4va$XQIkdCdGb/iPoFP+0xd75tqV0Ze8mwMi0ZYFyOCLzi3P0"
    "N0RtfwLj/tGBYwt972wLeQE2EthICJr6p+be8frKg==\n"
    /* frank: "a:b c$" */
    "frank:$7$101$kp76OJPn2ulNcT6G$fk5mBijDuOb0I6MkEy42YF7AGORc3y+h2AWB2hJc+"
    "2wNkWvmH0wxbabikvp60F8zW9GXXr4nf706aPDfa4knQg==\n"
    /* erin: "pässwörd" (UTF-8), 1000 iterations, 64-byte salt */
    "erin:$7$1000$e89ALIqxEl1jXvi/z0WFEJCOF6B2ibdTJg4q0x+uhl6g7je83izx3y0RuD"
    "cNBmmRH5kWlKWIg5DAUYoxntjTiw==$Hc8nLXHVSUvGrIgH9lZrboWLw/XX6LwzRc/6J3f"
    "mz22j7TsxNvPTBx6MOv+O59m3/XtjshJUr0ncR9tswmx9FQ==\n";

struct cred {
	const char *user, *password;
};

static const struct cred MOSQ_CREDS[] = {
    {"alice", "secret"}, {"bob", "pw2"},      {"carol", "pw3"},
    {"dan", "p"},        {"frank", "a:b c$"}, {"erin", "pässwörd"},
};

struct tmpdir {
	char path[64];
};

static int
tmp_make(struct tmpdir *t)
{
	snprintf(t->path, sizeof(t->path), "/tmp/hf_passwd_test.XXXXXX");
	return mkdtemp(t->path) ? 0 : -1;
}

/* Remove the files a case may have made, then the directory. */
static void
tmp_remove(struct tmpdir *t)
{
	static const char *const names[] = {"pw", "pw2", "m1",
	                                    "m2", "m3",  "m4"};
	char p[128];

	for (size_t i = 0; i < NELEM(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", t->path, names[i]);
		unlink(p);
	}
	rmdir(t->path);
}

static int
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	if (fwrite(text, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static bool
check(const struct hf_passwd *pw, const char *user, const char *password)
{
	return hf_passwd_check(pw, user, (const uint8_t *)password,
	                       password ? strlen(password) : 0, NULL);
}

/* The file mosquitto_passwd wrote, loaded from disk: every user with the
 * right password, none with a wrong one or another user's. */
static void
t_mosquitto_lines(void)
{
	struct tmpdir t;
	char path[128], err[256] = "";

	CHECK(tmp_make(&t) == 0);
	snprintf(path, sizeof(path), "%s/pw", t.path);
	CHECK(write_file(path, MOSQ_FILE, strlen(MOSQ_FILE)) == 0);
	struct hf_passwd *pw = hf_passwd_load(path, err, sizeof(err));
	tmp_remove(&t);
	if (!pw)
		fprintf(stderr, "load: %s\n", err);
	CHECK(pw != NULL);
	CHECK_EQ(hf_passwd_count(pw), NELEM(MOSQ_CREDS));
	bool ok = true;
	for (size_t i = 0; i < NELEM(MOSQ_CREDS); i++) {
		const struct cred *c = &MOSQ_CREDS[i];
		const struct cred *o = &MOSQ_CREDS[(i + 1) % NELEM(MOSQ_CREDS)];
		if (!check(pw, c->user, c->password) ||
		    check(pw, c->user, o->password) || check(pw, c->user, "") ||
		    check(pw, c->user, NULL)) {
			fprintf(stderr, "user %s\n", c->user);
			ok = false;
		}
	}
	/* A password that is a prefix or an extension of the right one. */
	ok = ok && !check(pw, "alice", "secre") &&
	     !check(pw, "alice", "secret ") && !check(pw, "Alice", "secret");
	hf_passwd_free(pw);
	CHECK(ok);
}

/* Run argv (NULL-terminated); returns its exit status or -1. */
static int
run(const char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv,
	                environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Fresh files from the installed mosquitto_passwd, when there is one:
 * default, -H sha512, -H sha512-pbkdf2 -I 7 and -I 3000. */
static void
t_mosquitto_passwd_live(void)
{
	static const char *const mp = "/usr/bin/mosquitto_passwd";
	static const char *const hashes[][4] = {
	    {"-b", NULL, NULL, NULL},
	    {"-H", "sha512", "-b", NULL},
	    {"-H", "sha512-pbkdf2", "-I", "7"},
	    {"-I", "3000", "-b", NULL},
	};
	struct tmpdir t;
	char path[128], err[256];
	int made = 0;

	if (access(mp, X_OK) != 0) {
		fprintf(stderr, "  (skipped: %s not installed)\n", mp);
		return;
	}
	CHECK(tmp_make(&t) == 0);
	for (size_t i = 0; i < NELEM(hashes); i++) {
		const char *argv[12];
		int n = 0;
		snprintf(path, sizeof(path), "%s/m%zu", t.path, i + 1);
		argv[n++] = mp;
		argv[n++] = "-c";
		for (int k = 0; k < 4 && hashes[i][k]; k++)
			argv[n++] = hashes[i][k];
		if (strcmp(argv[n - 1], "-b") != 0)
			argv[n++] = "-b";
		argv[n++] = path;
		argv[n++] = "user";
		argv[n++] = "pass word";
		argv[n] = NULL;
		if (run(argv) != 0)
			continue;
		struct hf_passwd *pw = hf_passwd_load(path, err, sizeof(err));
		if (pw && check(pw, "user", "pass word") &&
		    !check(pw, "user", "pass") && !check(pw, "nobody", "x"))
			made++;
		else
			fprintf(stderr, "file %zu: %s\n", i + 1,
			        pw ? "wrong answer" : err);
		hf_passwd_free(pw);
	}
	tmp_remove(&t);
	CHECK_EQ(made, (int)NELEM(hashes));
}

static bool
cost_eq(const struct hf_pw_cost *a, const struct hf_pw_cost *b)
{
	return a->kind == b->kind && a->iterations == b->iterations &&
	       a->salt_len == b->salt_len && a->kdf_calls == b->kdf_calls;
}

/* An unknown user computes one KDF with the parameters most entries have,
 * the same as a wrong password for such a user. */
static void
t_refusal_cost(void)
{
	struct hf_pw_cost unknown, wrong, right, none;
	char err[256];
	/* alice, frank: $7$ 101 (12-byte salt); bob $6$; carol 5000... */
	struct hf_passwd *pw = hf_passwd_parse(
	    "f", MOSQ_FILE, strlen(MOSQ_FILE), err, sizeof(err));

	CHECK(pw != NULL);
	CHECK(!hf_passwd_check(pw, "mallory", (const uint8_t *)"secret", 6,
	                       &unknown));
	CHECK(
	    !hf_passwd_check(pw, "alice", (const uint8_t *)"wrong", 5, &wrong));
	CHECK(
	    hf_passwd_check(pw, "alice", (const uint8_t *)"secret", 6, &right));
	CHECK(!hf_passwd_check(pw, "mallory", NULL, 0, &none));
	hf_passwd_free(pw);
	CHECK_EQ(unknown.kind, HF_PW_PBKDF2);
	CHECK_EQ(unknown.iterations, 101);
	CHECK_EQ(unknown.salt_len, 12);
	CHECK_EQ(unknown.kdf_calls, 1);
	CHECK(cost_eq(&unknown, &wrong));
	CHECK(cost_eq(&unknown, &right));
	CHECK(cost_eq(&unknown, &none));

	/* Mostly $6$: the dummy is $6$. An empty file: holdfast-passwd's
	 * defaults. */
	static const char six[] =
	    "b1:$6$tP2mxnb22rNDC85G$KKZvwNIKRhxGupDM6VaoyjnGZwyvYG/DzsYYoGUSd7"
	    "OpV/GROg0FzmJ//+09mT1nQdoQLh05owtZfOgO7Pn8Cw==\n"
	    "b2:$6$tP2mxnb22rNDC85G$KKZvwNIKRhxGupDM6VaoyjnGZwyvYG/DzsYYoGUSd7"
	    "OpV/GROg0FzmJ//+09mT1nQdoQLh05owtZfOgO7Pn8Cw==\n"
	    "a:$7$1$79WFX/HK9unWX4va$XQIkdCdGb/"
	    "iPoFP+0xd75tqV0Ze8mwMi0ZYFyOCLzi3"
	    "P0N0RtfwLj/tGBYwt972wLeQE2EthICJr6p+be8frKg==\n";
	pw = hf_passwd_parse("f", six, strlen(six), err, sizeof(err));
	CHECK(pw != NULL);
	CHECK(hf_passwd_check(pw, "b2", (const uint8_t *)"pw2", 3, &right));
	CHECK(!hf_passwd_check(pw, "zz", (const uint8_t *)"pw2", 3, &unknown));
	hf_passwd_free(pw);
	CHECK_EQ(unknown.kind, HF_PW_SHA512);
	CHECK(cost_eq(&unknown, &right));
	pw = hf_passwd_parse("f", "", 0, err, sizeof(err));
	CHECK(pw != NULL);
	CHECK(!hf_passwd_check(pw, "x", (const uint8_t *)"y", 1, &unknown));
	hf_passwd_free(pw);
	CHECK_EQ(unknown.kind, HF_PW_PBKDF2);
	CHECK_EQ(unknown.iterations, HF_PW_ITER_DEFAULT);
	CHECK_EQ(unknown.salt_len, HF_PW_SALT_DEFAULT);
}

/* What mosquitto's broker accepts around the entries: comments, blank
 * lines, blanks around a line, CRLF, no final newline; a repeated user
 * takes its last line. */
static void
t_tolerated(void)
{
	static const char alice[] =
	    "alice:$7$101$c71iBnxQTMW7yJ1y$F5lm1MzWoIaycQ2prwxEphdCQQBfe2J24ez"
	    "ehp/fBZF0I721v61T9bgouqCJMmEk0eaLubPtyoQA7dLXWuqPvA==";
	static const char bob_as_alice[] =
	    "alice:$6$tP2mxnb22rNDC85G$KKZvwNIKRhxGupDM6VaoyjnGZwyvYG/DzsYYoGU"
	    "Sd7OpV/GROg0FzmJ//+09mT1nQdoQLh05owtZfOgO7Pn8Cw==";
	char text[1024], err[256];

	snprintf(text, sizeof(text),
	         "# a comment\n\n   \n\t# indented comment\n  %s \t\r\n",
	         alice);
	struct hf_passwd *pw =
	    hf_passwd_parse("f", text, strlen(text), err, sizeof(err));
	CHECK(pw != NULL);
	CHECK_EQ(hf_passwd_count(pw), 1);
	CHECK(check(pw, "alice", "secret"));
	hf_passwd_free(pw);

	snprintf(text, sizeof(text), "%s\n%s", alice, bob_as_alice);
	pw = hf_passwd_parse("f", text, strlen(text), err, sizeof(err));
	CHECK(pw != NULL);
	CHECK_EQ(hf_passwd_count(pw), 1);
	CHECK(!check(pw, "alice", "secret"));
	CHECK(check(pw, "alice", "pw2"));
	hf_passwd_free(pw);

	/* A username may hold blanks and odd characters, not ':'. */
	snprintf(text, sizeof(text), "a b$#%s", alice + 5);
	pw = hf_passwd_parse("f", text, strlen(text), err, sizeof(err));
	CHECK(pw != NULL);
	CHECK(check(pw, "a b$#", "secret"));
	CHECK(!check(pw, "a b$#:", "secret"));
	hf_passwd_free(pw);
}

/* Every malformed line: the file is refused, the message is "NAME:LINE:
 * why", and it quotes nothing of what follows the username. */
static void
t_malformed(void)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *why;
	} cases[] = {
	    {"plainuser\n", 1, "no ':'"},
	    {"# c\n:$6$AAAA$SeCrEt\n", 2, "empty username"},
	    {"u:SeCrEtPlain\n", 1, "not a hashed password"},
	    {"u:\n", 1, "empty password hash"},
	    {"u:$5$SeCrEt$SeCrEt\n", 1, "unknown password hash type"},
	    {"u:$argon2id$v=19$m=65536,t=3,p=4$SeCrEt$SeCrEt\n", 1, "argon2"},
	    {"\n\nu:$6$SeCrEt\n", 3, "no '$' between salt and hash"},
	    {"u:$6$SeCr$SeCrEt$x\n", 1, "too many '$'"},
	    {"u:$6$SeCrEt!$AAAA\n", 1, "salt is not base64"},
	    {"u:$6$$AAAA\n", 1, "salt is not base64"},
	    {"u:$6$SeC=$AAAA\n", 1, "salt is not base64"},
	    {"u:$6$SeCrEtxx$SeCrEtAA\n", 1, "hash is not base64 of 64"},
	    {"u:$7$0$SeCrEtxx$AAAA\n", 1, "iterations"},
	    {"u:$7$x1$SeCrEtxx$AAAA\n", 1, "iterations"},
	    {"u:$7$$SeCrEtxx$AAAA\n", 1, "iterations"},
	    {"u:$7$2147483648$SeCrEtxx$AAAA\n", 1, "iterations"},
	    {"u:$7$99999999999999999999$SeCrEtxx$AAAA\n", 1, "iterations"},
	    {"u:$7$101\n", 1, "iterations"},
	    {"u:$7$101$SeCrEtxx\n", 1, "no '$' between"},
	    {"ok:$6$tP2mxnb22rNDC85G$KKZvwNIKRhxGupDM6VaoyjnGZwyvYG/DzsYYoGUS"
	     "d7OpV/GROg0FzmJ//+09mT1nQdoQLh05owtZfOgO7Pn8Cw=\n",
	     1, "hash is not base64"},
	};
	char err[256];
	bool ok = true;

	for (size_t i = 0; i < NELEM(cases); i++) {
		char want[64];
		struct hf_passwd *pw =
		    hf_passwd_parse("FILE", cases[i].text,
		                    strlen(cases[i].text), err, sizeof(err));
		snprintf(want, sizeof(want), "FILE:%u: ", cases[i].line);
		if (pw || strncmp(err, want, strlen(want)) != 0 ||
		    !strstr(err, cases[i].why) || strstr(err, "SeCr")) {
			fprintf(stderr, "case %zu: %s\n", i,
			        pw ? "accepted" : err);
			ok = false;
		}
		hf_passwd_free(pw);
	}
	/* A NUL byte inside a line. */
	static const char nul[] = "u:$6$ab\0cd$ef\n";
	struct hf_passwd *pw =
	    hf_passwd_parse("FILE", nul, sizeof(nul) - 1, err, sizeof(err));
	CHECK(!pw);
	CHECK(strncmp(err, "FILE:1: NUL", 11) == 0);
	CHECK(ok);
	/* A file that is not there. */
	pw = hf_passwd_load("/nonexistent/pw", err, sizeof(err));
	CHECK(!pw);
	CHECK(strstr(err, "/nonexistent/pw: ") == err);
}

/* hf_pw_make writes lines the parser reads back and that verify; each has
 * a salt of its own. */
static void
t_make(void)
{
	const uint8_t pass[] = "correct horse";
	uint8_t salt[HF_PW_SALT_MAX], out[HF_PW_HASH_LEN];
	struct hf_pw_hash h;
	const char *why = NULL;
	char *a = hf_pw_make(HF_PW_PBKDF2, 1000, 12, pass, 13);
	char *b = hf_pw_make(HF_PW_PBKDF2, 1000, 12, pass, 13);
	char *c = hf_pw_make(HF_PW_SHA512, 0, 12, pass, 13);

	CHECK(a && b && c);
	CHECK(strncmp(a, "$7$1000$", 8) == 0);
	CHECK(strncmp(c, "$6$", 3) == 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ(strlen(a), 8 + 16 + 1 + 88);
	CHECK(hf_pw_hash_parse(a, strlen(a), &h, salt, &why) == 0);
	CHECK_EQ(h.iterations, 1000);
	CHECK_EQ(h.salt_len, 12);
	CHECK(hf_pw_compute(&h, pass, 13, out) == 0);
	CHECK(memcmp(out, h.hash, sizeof(out)) == 0);
	CHECK(hf_pw_hash_parse(c, strlen(c), &h, salt, &why) == 0);
	CHECK(hf_pw_compute(&h, pass, 13, out) == 0);
	CHECK(memcmp(out, h.hash, sizeof(out)) == 0);
	CHECK(!hf_pw_make(HF_PW_PBKDF2, 0, 12, pass, 13));
	CHECK(!hf_pw_make(HF_PW_PBKDF2, 10, 0, pass, 13));
	CHECK(!hf_pw_make(HF_PW_PBKDF2, 10, HF_PW_SALT_MAX + 1, pass, 13));
	free(a);
	free(b);
	free(c);
}

/* Reload marks: a user whose entry is the same stays unchanged, one with a
 * new hash (or new, or gone) does not. */
static void
t_marks(void)
{
	char err[256];
	static const char two[] =
	    "alice:$7$101$c71iBnxQTMW7yJ1y$F5lm1MzWoIaycQ2prwxEphdCQQBfe2J24ez"
	    "ehp/fBZF0I721v61T9bgouqCJMmEk0eaLubPtyoQA7dLXWuqPvA==\n"
	    "bob:$6$tP2mxnb22rNDC85G$KKZvwNIKRhxGupDM6VaoyjnGZwyvYG/"
	    "DzsYYoGUSd7O"
	    "pV/GROg0FzmJ//+09mT1nQdoQLh05owtZfOgO7Pn8Cw==\n";
	static const char changed[] =
	    "alice:$7$101$c71iBnxQTMW7yJ1y$F5lm1MzWoIaycQ2prwxEphdCQQBfe2J24ez"
	    "ehp/fBZF0I721v61T9bgouqCJMmEk0eaLubPtyoQA7dLXWuqPvA==\n"
	    "bob:$7$1$79WFX/HK9unWX4va$XQIkdCdGb/iPoFP+0xd75tqV0Ze8mwMi0ZYFyOCL"
	    "zi3P0N0RtfwLj/tGBYwt972wLeQE2EthICJr6p+be8frKg==\n"
	    "carol:$7$1$79WFX/HK9unWX4va$XQIkdCdGb/iPoFP+0xd75tqV0Ze8mwMi0ZYFyO"
	    "CLzi3P0N0RtfwLj/tGBYwt972wLeQE2EthICJr6p+be8frKg==\n";
	struct hf_passwd *old =
	    hf_passwd_parse("a", two, strlen(two), err, sizeof(err));
	struct hf_passwd *nw =
	    hf_passwd_parse("b", changed, strlen(changed), err, sizeof(err));

	CHECK(old && nw);
	CHECK(hf_passwd_unchanged(old, "alice"));
	CHECK(hf_passwd_unchanged(old, "bob"));
	hf_passwd_mark(nw, old);
	CHECK(hf_passwd_unchanged(nw, "alice"));
	CHECK(!hf_passwd_unchanged(nw, "bob"));
	CHECK(!hf_passwd_unchanged(nw, "carol"));
	CHECK(!hf_passwd_unchanged(nw, "dave"));
	hf_passwd_mark(nw, NULL);
	CHECK(!hf_passwd_unchanged(nw, "alice"));
	hf_passwd_free(old);
	hf_passwd_free(nw);
}

int
main(void)
{
	HF_RUN(t_mosquitto_lines);
	HF_RUN(t_mosquitto_passwd_live);
	HF_RUN(t_refusal_cost);
	HF_RUN(t_tolerated);
	HF_RUN(t_malformed);
	HF_RUN(t_make);
	HF_RUN(t_marks);
	return HF_DONE();
}
