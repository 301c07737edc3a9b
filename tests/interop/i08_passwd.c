/* tests/interop/i08_passwd.c - holdfast-passwd, and its files with
 * Debian's mosquitto.
 *
 * The tool on its own (always run): -c -b writes a $7$ line (1000
 * iterations, 12-byte salt) in a new file of mode 0600; -b adds and
 * updates, -D deletes, comments and blank lines stay, an existing file
 * keeps its mode; -H sha512, -I; the password asked twice on a non-terminal
 * stdin; -U hashes plain-text lines and leaves hashed ones alone; refusals
 * (a username with ':', a file it cannot parse - with FILE:LINE and the
 * file untouched - unknown options) exit 1.
 *
 * With mosquitto (each case skipped, and said so, when a program is not
 * installed): a file written by /usr/bin/mosquitto_passwd is read and
 * updated by holdfast-passwd and the other way round; /usr/sbin/mosquitto
 * runs on a free loopback port with password_file set to a holdfast-passwd
 * file ($7$ 1000, $7$ -I 101, $6$) and allow_anonymous false, and a
 * libmosquitto client gets CONNACK 0 with the right password and 5 (not
 * authorised, mosquitto's answer) with a wrong one, an unknown user or
 * none.
 *
 * Each case works in its own mkdtemp() directory. Child processes are
 * reaped before a case returns. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth_int.h"
#include "iclient.h"

#ifndef HF_PASSWD_BIN
#error "HF_PASSWD_BIN must be defined by the build"
#endif

#define MOSQ_PASSWD "/usr/bin/mosquitto_passwd"
#define MOSQ_BROKER "/usr/sbin/mosquitto"

extern char **environ;

struct dir {
	char path[64], file[96], out[96];
};

static int
dir_make(struct dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/hf_i08.XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(d->file, sizeof(d->file), "%s/pw", d->path);
	snprintf(d->out, sizeof(d->out), "%s/stderr", d->path);
	return 0;
}

static void
dir_remove(struct dir *d)
{
	unlink(d->file);
	unlink(d->out);
	rmdir(d->path);
}

/* Run argv (NULL-terminated) with stdin fed from in (NULL: nothing),
 * stdout to /dev/null and stderr into d->out. Returns the exit status, or
 * -1. */
static int
run_in(struct dir *d, const char *in, const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	int p[2], st = -1;
	pid_t pid;

	if (pipe(p) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, d->out,
	                                 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rc =
	    posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	if (rc != 0) {
		close(p[1]);
		return -1;
	}
	/* A tool that refuses before reading its input closes the pipe:
	 * EPIPE then (SIGPIPE is ignored in main) is not a failure. */
	if (in && write(p[1], in, strlen(in)) != (ssize_t)strlen(in) &&
	    errno != EPIPE)
		st = -2;
	close(p[1]);
	int w;
	if (waitpid(pid, &w, 0) != pid || !WIFEXITED(w))
		return -1;
	return st == -2 ? -1 : WEXITSTATUS(w);
}

#define RUN(d, ...) run_in((d), NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_IN(d, in, ...)                                                     \
	run_in((d), (in), (const char *const[]){__VA_ARGS__, NULL})

/* The whole of a small file, NUL-terminated, in buf; "" when unreadable. */
static const char *
slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Does file hold user with password? */
static bool
verifies(const char *file, const char *user, const char *password)
{
	char err[256];
	struct hf_passwd *pw = hf_passwd_load(file, err, sizeof(err));
	bool ok = pw && hf_passwd_check(pw, user, (const uint8_t *)password,
	                                strlen(password), NULL);
	if (!pw)
		fprintf(stderr, "load: %s\n", err);
	hf_passwd_free(pw);
	return ok;
}

/* The hash field of user's line in file, into h; false when none. */
static bool
hash_of(const char *file, const char *user, struct hf_pw_hash *h, uint8_t *salt)
{
	char buf[4096];
	size_t ul = strlen(user);
	const char *why;

	slurp(file, buf, sizeof(buf));
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, user, ul) && line[ul] == ':')
			return hf_pw_hash_parse(line + ul + 1,
			                        strlen(line + ul + 1), h, salt,
			                        &why) == 0;
	return false;
}

static void
t_create(void)
{
	struct dir d;
	struct stat st;
	struct hf_pw_hash h;
	uint8_t salt[HF_PW_SALT_MAX];

	CHECK(dir_make(&d) == 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-c", "-b", d.file, "alice", "s3cr:t"),
	         0);
	CHECK(stat(d.file, &st) == 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK(hash_of(d.file, "alice", &h, salt));
	CHECK_EQ(h.kind, HF_PW_PBKDF2);
	CHECK_EQ(h.iterations, 1000);
	CHECK_EQ(h.salt_len, 12);
	CHECK(verifies(d.file, "alice", "s3cr:t"));
	CHECK(!verifies(d.file, "alice", "s3cr"));
	/* -c overwrites. */
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-c", "-H", "sha512", "-b", d.file,
	             "bob", "pw"),
	         0);
	CHECK(!hash_of(d.file, "alice", &h, salt));
	CHECK(hash_of(d.file, "bob", &h, salt));
	CHECK_EQ(h.kind, HF_PW_SHA512);
	CHECK(verifies(d.file, "bob", "pw"));
	dir_remove(&d);
}

static void
t_update_delete(void)
{
	struct dir d;
	struct stat st;
	struct hf_pw_hash h;
	uint8_t salt[HF_PW_SALT_MAX];
	char buf[4096];

	CHECK(dir_make(&d) == 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-c", "-b", d.file, "alice", "a1"), 0);
	FILE *f = fopen(d.file, "a");
	CHECK(f != NULL);
	fputs("# the team\n\n", f);
	fclose(f);
	CHECK(chmod(d.file, 0640) == 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-I", "101", "-b", d.file, "bob", "b1"),
	         0);
	CHECK(hash_of(d.file, "bob", &h, salt));
	CHECK_EQ(h.iterations, 101);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-b", d.file, "alice", "a2"), 0);
	CHECK(verifies(d.file, "alice", "a2"));
	CHECK(!verifies(d.file, "alice", "a1"));
	CHECK(verifies(d.file, "bob", "b1"));
	slurp(d.file, buf, sizeof(buf));
	CHECK(strstr(buf, "\n# the team\n\nbob:") != NULL);
	CHECK(strncmp(buf, "alice:", 6) == 0);
	CHECK(stat(d.file, &st) == 0);
	CHECK_EQ(st.st_mode & 0777, 0640);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-D", d.file, "alice"), 0);
	CHECK(!hash_of(d.file, "alice", &h, salt));
	CHECK(verifies(d.file, "bob", "b1"));
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-D", d.file, "alice"), 1);
	CHECK(strstr(slurp(d.out, buf, sizeof(buf)), "not found") != NULL);
	dir_remove(&d);
}

static void
t_interactive(void)
{
	struct dir d;
	char buf[1024];

	CHECK(dir_make(&d) == 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-c", "-b", d.file, "x", "y"), 0);
	CHECK_EQ(RUN_IN(&d, "two words\ntwo words\n", HF_PASSWD_BIN, d.file,
	                "carol"),
	         0);
	CHECK(verifies(d.file, "carol", "two words"));
	CHECK_EQ(RUN_IN(&d, "one\ntwo\n", HF_PASSWD_BIN, d.file, "dave"), 1);
	CHECK(strstr(slurp(d.out, buf, sizeof(buf)), "do not match") != NULL);
	CHECK_EQ(RUN_IN(&d, "\n\n", HF_PASSWD_BIN, d.file, "dave"), 1);
	CHECK(strstr(slurp(d.out, buf, sizeof(buf)), "Empty password") != NULL);
	CHECK_EQ(RUN_IN(&d, "", HF_PASSWD_BIN, d.file, "dave"), 1);
	CHECK_EQ(RUN_IN(&d, "p\r\np\r\n", HF_PASSWD_BIN, d.file, "erin"), 0);
	CHECK(verifies(d.file, "erin", "p"));
	dir_remove(&d);
}

static void
t_upgrade(void)
{
	struct dir d;
	char before[4096], after[4096], hashed[512];

	CHECK(dir_make(&d) == 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-c", "-b", d.file, "keep", "k1"), 0);
	slurp(d.file, hashed, sizeof(hashed));
	FILE *f = fopen(d.file, "a");
	CHECK(f != NULL);
	fputs("# plain ones\nplain:pl ain\n  other:$ecret\n", f);
	fclose(f);
	slurp(d.file, before, sizeof(before));
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-U", d.file), 0);
	slurp(d.file, after, sizeof(after));
	CHECK(strncmp(after, hashed, strlen(hashed)) == 0); /* untouched */
	CHECK(strstr(after, "\n# plain ones\nplain:$7$1000$") != NULL);
	CHECK(verifies(d.file, "plain", "pl ain"));
	CHECK(verifies(d.file, "other", "$ecret"));
	CHECK(verifies(d.file, "keep", "k1"));
	/* Again: nothing left to hash, nothing changes. */
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-U", d.file), 0);
	slurp(d.file, before, sizeof(before));
	CHECK(strcmp(before, after) == 0);
	/* Something that looks like a hash it cannot read is refused. */
	f = fopen(d.file, "a");
	CHECK(f != NULL);
	fputs("weird:$7$101$notbase64!$x\n", f);
	fclose(f);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-U", d.file), 1);
	dir_remove(&d);
}

static void
t_refusals(void)
{
	struct dir d;
	char before[1024], after[1024], err[1024];

	CHECK(dir_make(&d) == 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-c", "-b", d.file, "a", "b"), 0);
	slurp(d.file, before, sizeof(before));
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-b", d.file, "x:y", "p"), 1);
	CHECK(strstr(slurp(d.out, err, sizeof(err)), "':'") != NULL);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-b", d.file, "", "p"), 1);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-c", "-D", d.file, "a"), 1);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-H", "md5", "-b", d.file, "a", "p"),
	         1);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-I", "0", "-b", d.file, "a", "p"), 1);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-I", "x", "-b", d.file, "a", "p"), 1);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-Z", d.file, "a"), 1);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-b", d.file, "a"), 1);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN), 1);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "--help"), 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-b", "/nonexistent/pw", "a", "p"), 1);
	slurp(d.file, after, sizeof(after));
	CHECK(strcmp(before, after) == 0);
	/* A file it cannot parse: named at its line, left alone, and no
	 * password is asked for. */
	FILE *f = fopen(d.file, "a");
	CHECK(f != NULL);
	fputs("\njunk line\n", f);
	fclose(f);
	slurp(d.file, before, sizeof(before));
	CHECK_EQ(RUN_IN(&d, "p\np\n", HF_PASSWD_BIN, d.file, "new"), 1);
	slurp(d.out, err, sizeof(err));
	CHECK(strstr(err, d.file) != NULL);
	CHECK(strstr(err, ":3: no ':'") != NULL);
	CHECK(strstr(err, "Password") == NULL);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-D", d.file, "a"), 1);
	slurp(d.file, after, sizeof(after));
	CHECK(strcmp(before, after) == 0);
	dir_remove(&d);
}

/* Files of mosquitto_passwd, read and updated by holdfast-passwd, and the
 * other way round. */
static void
t_mosquitto_passwd(void)
{
	struct dir d;

	if (access(MOSQ_PASSWD, X_OK) != 0) {
		fprintf(stderr, "  (skipped: %s not installed)\n", MOSQ_PASSWD);
		return;
	}
	CHECK(dir_make(&d) == 0);
	CHECK_EQ(RUN(&d, MOSQ_PASSWD, "-c", "-b", d.file, "m1", "p1"), 0);
	CHECK_EQ(RUN(&d, MOSQ_PASSWD, "-H", "sha512", "-b", d.file, "m2", "p2"),
	         0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-b", d.file, "h1", "q1"), 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-b", d.file, "m1", "p1new"), 0);
	CHECK_EQ(RUN(&d, MOSQ_PASSWD, "-b", d.file, "m3", "p3"), 0);
	CHECK_EQ(RUN(&d, MOSQ_PASSWD, "-D", d.file, "h1"), 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-b", d.file, "h2", "q2"), 0);
	CHECK(verifies(d.file, "m1", "p1new"));
	CHECK(verifies(d.file, "m2", "p2"));
	CHECK(verifies(d.file, "m3", "p3"));
	CHECK(verifies(d.file, "h2", "q2"));
	CHECK(!verifies(d.file, "h1", "q1"));
	dir_remove(&d);
}

/* The CONNACK rc mosquitto gives user/password (NULL: none sent). */
static int
mosq_connack(uint16_t port, const char *user, const char *password)
{
	struct ic c;
	int rc;

	if (ic_init(&c, "i08", true, MQTT_PROTOCOL_V311) != 0)
		return -1;
	if (user)
		mosquitto_username_pw_set(c.m, user, password);
	rc = ic_connect(&c, port);
	ic_free(&c);
	return rc;
}

static void
t_mosquitto_broker(void)
{
	struct dir d;
	struct hf_bproc b;
	char conf[512];
	const struct passwd *me = getpwuid(getuid());

	if (access(MOSQ_BROKER, X_OK) != 0) {
		fprintf(stderr, "  (skipped: %s not installed)\n", MOSQ_BROKER);
		return;
	}
	CHECK(me != NULL);
	CHECK(dir_make(&d) == 0);
	CHECK_EQ(RUN(&d, HF_PASSWD_BIN, "-c", "-b", d.file, "dflt", "pw one"),
	         0);
	CHECK_EQ(
	    RUN(&d, HF_PASSWD_BIN, "-I", "101", "-b", d.file, "i101", "pw:two"),
	    0);
	CHECK_EQ(
	    RUN(&d, HF_PASSWD_BIN, "-H", "sha512", "-b", d.file, "six", "pw3"),
	    0);
	CHECK_EQ(RUN_IN(&d, "asked\nasked\n", HF_PASSWD_BIN, d.file, "asked"),
	         0);
	/* mosquitto started as root switches to the user "mosquitto", who
	 * could not read the 0600 file; "user" keeps it as the test user. */
	snprintf(conf, sizeof(conf),
	         "allow_anonymous false\npassword_file %s\nuser %s\n", d.file,
	         me->pw_name);
	setenv("HF_TEST_BROKER", MOSQ_BROKER, 1);
	int started = hf_bproc_start(&b, conf);
	unsetenv("HF_TEST_BROKER");
	if (started != 0) {
		hf_bproc_cleanup(&b);
		dir_remove(&d);
		CHECK(started == 0);
	}
	int ok[] = {
	    mosq_connack(b.port, "dflt", "pw one"),
	    mosq_connack(b.port, "i101", "pw:two"),
	    mosq_connack(b.port, "six", "pw3"),
	    mosq_connack(b.port, "asked", "asked"),
	};
	int refused[] = {
	    mosq_connack(b.port, "dflt", "pw two"),
	    mosq_connack(b.port, "six", ""),
	    mosq_connack(b.port, "nobody", "pw one"),
	    mosq_connack(b.port, NULL, NULL),
	};
	int st = hf_bproc_stop(&b);
	if (st != 0 || ok[0] || ok[1] || ok[2] || ok[3])
		hf_bproc_dump_log(&b, 4096);
	hf_bproc_cleanup(&b);
	dir_remove(&d);
	CHECK_EQ(st, 0);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CHECK_EQ(ok[i], 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		CHECK_EQ(refused[i], 5); /* mosquitto: not authorised */
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	HF_RUN(t_create);
	HF_RUN(t_update_delete);
	HF_RUN(t_interactive);
	HF_RUN(t_upgrade);
	HF_RUN(t_refusals);
	HF_RUN(t_mosquitto_passwd);
	HF_RUN(t_mosquitto_broker);
	mosquitto_lib_cleanup();
	return HF_DONE();
}
