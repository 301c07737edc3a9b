/* tests/interop/i09_auth_broker.c - password and ACL files in the real
 * broker, and their reload on SIGHUP.
 *
 *   passwords        files written by Debian's mosquitto_passwd ($7$ 101,
 *                    $6$; skipped when it is not installed) and by
 *                    holdfast-passwd ($7$ 1000): the right password gets
 *                    CONNACK 0; a wrong one and an unknown user 3.1.1 4 /
 *                    5.0 0x86, and the password is not in the log; no
 *                    username 5 / 0x87; mosquitto_pub with -u/-P
 *                    publishes, with a wrong -P it fails;
 *   tenants          pattern readwrite tenants/%u/#: two users can neither
 *                    write (5.0 PUBACK 0x87; 3.1.1 acknowledged, dropped)
 *                    nor read (live, retained, queued while offline and
 *                    across a restart) each other's topics; an admin user
 *                    with readwrite # sees both;
 *   sys_read_only    a PUBLISH to $SYS is refused (0x87) with no ACL file;
 *   sub_check        acl_check_subscribe true: SUBACK 0x87 / 0x80 for a
 *                    filter with no read access, granted where there is;
 *                    off (the default): granted, deliveries still checked;
 *   reload           SIGHUP after bob's password changed: bob (5.0) gets
 *                    DISCONNECT 0x87, alice stays; the new password
 *                    works, the old does not; an ACL change applies to the
 *                    next delivery; a bad ACL line keeps the old files and
 *                    logs FILE:LINE; the broker stays up throughout;
 *   reload_traffic   2000 QoS 1 messages published while the files are
 *                    reloaded 20 times: every one arrives, in order;
 *   bad_files        a malformed password line and a malformed ACL line
 *                    stop start-up and --test-config, naming FILE:LINE.
 *
 * Files live in one mkdtemp() directory made in main(). Single-threaded;
 * child processes are reaped before a case returns; every wait has a
 * deadline. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#ifndef HF_PASSWD_BIN
#error "HF_PASSWD_BIN must be defined by the build"
#endif

#define MOSQ_PASSWD "/usr/bin/mosquitto_passwd"

extern char **environ;

#define RELOAD_ACL                                                             \
	"user alice\ntopic read shared/#\nuser bob\ntopic readwrite "          \
	"shared/#\n"

static char dir[64];
static char conf_pw[512], conf_tenants[512], conf_sub[512], conf_reload[512];

/* Run argv, output to /dev/null; its exit status (-1: could not run). */
static int
run(const char *const *argv)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int rc =
	    posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
passwd(const char *file, const char *user, const char *pw, bool create)
{
	const char *with_c[] = {HF_PASSWD_BIN, "-c", "-b", file,
	                        user,          pw,   NULL};
	const char *add[] = {HF_PASSWD_BIN, "-b", file, user, pw, NULL};
	return run(create ? with_c : add);
}

static int
write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void
path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

/* CONNECT with username/password (NULL: none); the CONNACK's code into
 * *rc; the open socket, or -1. */
static int
connect_up(uint16_t port, uint8_t ver, const char *id, bool clean,
           const char *user, const char *pw, uint8_t *rc)
{
	struct hf_packet c, ca;
	uint8_t buf[512];

	hf_raw_connect_init(&c, ver, id, clean, 60);
	if (!clean && ver == V5) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = 3600;
	}
	if (user) {
		c.u.connect.has_username = true;
		c.u.connect.username.p = (const uint8_t *)user;
		c.u.connect.username.len = strlen(user);
	}
	if (pw) {
		c.u.connect.has_password = true;
		c.u.connect.password.p = (const uint8_t *)pw;
		c.u.connect.password.len = strlen(pw);
	}
	int fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	*rc = fd >= 0 ? ca.u.connack.rc : 0xff;
	return fd;
}

/* Connected, or -1 (the CONNACK refused it: the socket is closed). */
static int
login(uint16_t port, uint8_t ver, const char *id, bool clean, const char *user,
      const char *pw)
{
	uint8_t rc;
	int fd = connect_up(port, ver, id, clean, user, pw, &rc);
	if (fd >= 0 && rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The CONNACK code a login gets (0xff: no CONNACK). */
static int
refusal(uint16_t port, uint8_t ver, const char *user, const char *pw)
{
	uint8_t rc;
	int fd = connect_up(port, ver, "refused", true, user, pw, &rc);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Nothing reaches fd before a marker the admin publishes. */
static bool
nothing_before_marker(int fd, uint8_t ver, int admin, const char *marker)
{
	int others = -1;
	if (hf_raw_publish(admin, ver, marker, "m", 1, 0, false, 0) != 0)
		return false;
	return hf_raw_until(fd, ver, marker, 3000, &others) == 1 && others == 0;
}

/* ---- passwords --------------------------------------------------------- */

static void
passwords(struct hf_bproc *b, uint8_t ver)
{
	bool v5 = ver == V5;
	int bad = v5 ? HF_RC_BAD_USER_OR_PASSWORD : HF_CONNACK_BAD_CREDENTIALS;
	int fd;

	/* holdfast-passwd's users */
	fd = login(b->port, ver, "a1", true, "alice", "alice-pw");
	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_ping(fd, 3000), 1);
	close(fd);
	CHECK_EQ(refusal(b->port, ver, "alice", "Wrong-Pass-123"), bad);
	CHECK_EQ(refusal(b->port, ver, "nobody", "Wrong-Pass-123"), bad);
	CHECK_EQ(refusal(b->port, ver, "alice", NULL), bad);
	CHECK_EQ(refusal(b->port, ver, NULL, NULL),
	         v5 ? HF_RC_NOT_AUTHORIZED : HF_CONNACK_NOT_AUTHORIZED);
	CHECK(!hf_bproc_log_contains(b, "Wrong-Pass-123"));
	CHECK(hf_bproc_log_contains(b, "bad username or password"));
	/* mosquitto_passwd's users ($7$ 101 iterations, $6$) */
	if (access(MOSQ_PASSWD, X_OK) == 0) {
		fd = login(b->port, ver, "m1", true, "mq7", "mq7-pw");
		CHECK(fd >= 0);
		close(fd);
		fd = login(b->port, ver, "m2", true, "mq6", "mq6-pw");
		CHECK(fd >= 0);
		close(fd);
		CHECK_EQ(refusal(b->port, ver, "mq6", "mq7-pw"), bad);
	} else {
		fprintf(stderr, "skipped: %s not installed\n", MOSQ_PASSWD);
	}
	/* mosquitto_pub */
	char port[8];
	snprintf(port, sizeof(port), "%u", b->port);
	const char *ok[] = {"/usr/bin/mosquitto_pub",
	                    "-p",
	                    port,
	                    "-V",
	                    v5 ? "mqttv5" : "mqttv311",
	                    "-u",
	                    "bob",
	                    "-P",
	                    "bob-pw",
	                    "-t",
	                    "t",
	                    "-m",
	                    "x",
	                    "-q",
	                    "1",
	                    NULL};
	const char *no[] = {"/usr/bin/mosquitto_pub",
	                    "-p",
	                    port,
	                    "-V",
	                    v5 ? "mqttv5" : "mqttv311",
	                    "-u",
	                    "bob",
	                    "-P",
	                    "nope",
	                    "-t",
	                    "t",
	                    "-m",
	                    "x",
	                    "-q",
	                    "1",
	                    NULL};
	CHECK_EQ(run(ok), 0);
	CHECK(run(no) != 0);
}
BOTH(passwords)

/* ---- tenants ----------------------------------------------------------- */

static void
tenants(struct hf_bproc *b, uint8_t ver)
{
	bool v5 = ver == V5;
	/* the admin: one connection publishes, one watches the queues */
	int adm = login(b->port, ver, "admin-pub", true, "admin", "admin-pw");
	int watch = login(b->port, ver, "admin-sub", true, "admin", "admin-pw");
	int a = login(b->port, ver, "alice", true, "alice", "alice-pw");
	/* bob: a persistent session */
	int bo = login(b->port, ver, "bob", false, "bob", "bob-pw");
	CHECK(adm >= 0 && watch >= 0 && a >= 0 && bo >= 0);
	CHECK_EQ(hf_raw_subscribe(watch, ver, 1, "tenants/+/q", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(a, ver, 1, "tenants/#", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(bo, ver, 1, "tenants/#", 1, 0), 1);

	/* own topics: allowed and delivered to the owner */
	/* (QoS 0: her own copy comes back before any PUBACK would) */
	CHECK_EQ(
	    hf_raw_publish(a, ver, "tenants/alice/t", "a1", 2, 0, false, 0), 0);
	CHECK(hf_raw_expect_pub(a, ver, "tenants/alice/t", "a1", NULL));
	/* writing into the other tenant: refused, never delivered */
	CHECK_EQ(
	    hf_raw_publish(a, ver, "tenants/bob/t", "evil", 4, 1, false, 2),
	    v5 ? HF_RC_NOT_AUTHORIZED : 0);
	CHECK_EQ(
	    hf_raw_publish(bo, ver, "tenants/alice/t", "evil", 4, 1, false, 2),
	    v5 ? HF_RC_NOT_AUTHORIZED : 0);
	/* reading the other tenant: the admin publishes to both */
	CHECK(HF_PUB_OK(
	    hf_raw_publish(adm, ver, "tenants/bob/t", "b1", 2, 1, false, 3)));
	CHECK(hf_raw_expect_pub(bo, ver, "tenants/bob/t", "b1", NULL));
	CHECK(nothing_before_marker(a, ver, adm, "tenants/alice/mark1"));
	CHECK(nothing_before_marker(bo, ver, adm, "tenants/bob/mark1"));
	/* retained: alice's is not given to bob on subscribing */
	CHECK_EQ(hf_raw_publish(a, ver, "tenants/alice/r", "ra", 2, 0, true, 0),
	         0);
	CHECK(hf_raw_expect_pub(a, ver, "tenants/alice/r", "ra", NULL));
	CHECK_EQ(hf_raw_subscribe(bo, ver, 2, "tenants/+/r", 1, 0), 1);
	CHECK(nothing_before_marker(bo, ver, adm, "tenants/bob/mark2"));

	/* queued while bob is offline, then across a restart */
	CHECK_EQ(hf_raw_disconnect(bo, ver, 0), 0);
	close(bo);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(adm, ver, "tenants/alice/q", "qa", 2, 1, false, 5)));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(adm, ver, "tenants/bob/q", "qb", 2, 1, false, 6)));
	/* the admin reads both */
	CHECK(hf_raw_expect_pub(watch, ver, "tenants/alice/q", "qa", NULL));
	CHECK(hf_raw_expect_pub(watch, ver, "tenants/bob/q", "qb", NULL));
	close(a);
	close(adm);
	close(watch);
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	adm = login(b->port, ver, "admin-pub", true, "admin", "admin-pw");
	bo = login(b->port, ver, "bob", false, "bob", "bob-pw");
	CHECK(adm >= 0 && bo >= 0);
	/* bob's queue had only its own message */
	CHECK(hf_raw_expect_pub(bo, ver, "tenants/bob/q", "qb", NULL));
	/* and after the restart, live: still only its own */
	CHECK(HF_PUB_OK(
	    hf_raw_publish(adm, ver, "tenants/alice/x", "xa", 2, 1, false, 1)));
	CHECK(nothing_before_marker(bo, ver, adm, "tenants/bob/mark3"));
	close(bo);
	close(adm);
}
BOTH(tenants)

static void
sys_read_only(struct hf_bproc *b, uint8_t ver)
{
	uint8_t rc;
	bool sp;
	int fd = hf_raw_connect(b->port, ver, "sys-writer", true, 60, &rc, &sp);
	int s = hf_raw_sub_client(b->port, ver, "sys-reader", "$SYS/hack/#", 1);
	int others = -1;

	CHECK(fd >= 0 && s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 2, "m/#", 1, 0), 1);
	CHECK_EQ(hf_raw_publish(fd, ver, "$SYS/hack/x", "no", 2, 1, false, 1),
	         ver == V5 ? HF_RC_NOT_AUTHORIZED : 0);
	CHECK_EQ(hf_raw_publish(fd, ver, "$SYS/hack/y", "no", 2, 0, false, 0),
	         0);
	/* nothing arrives before the marker, not even the QoS 0 one */
	CHECK_EQ(hf_raw_publish(fd, ver, "m/mark", "m", 1, 0, false, 0), 0);
	CHECK_EQ(hf_raw_until(s, ver, "m/mark", 3000, &others), 1);
	CHECK_EQ(others, 0);
	CHECK(hf_bproc_log_contains(b, "Denied PUBLISH from sys-writer"));
	close(fd);
	close(s);
}
BOTH(sys_read_only)

/* ---- SUBSCRIBE-time refusal ------------------------------------------- */

static void
sub_check(struct hf_bproc *b, uint8_t ver)
{
	int a = login(b->port, ver, "alice", true, "alice", "alice-pw");
	CHECK(a >= 0);
	CHECK_EQ(hf_raw_subscribe(a, ver, 1, "tenants/alice/#", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(a, ver, 2, "tenants/bob/#", 1, 0),
	         ver == V5 ? HF_RC_NOT_AUTHORIZED : 0x80);
	/* overlapping a readable subtree: granted; deliveries decide */
	CHECK_EQ(hf_raw_subscribe(a, ver, 3, "tenants/#", 1, 0), 1);
	close(a);
}
BOTH(sub_check)

static void
t_sub_check_off(struct hf_bproc *b)
{
	int a = login(b->port, V5, "alice", true, "alice", "alice-pw");
	int adm = login(b->port, V5, "admin", true, "admin", "admin-pw");
	CHECK(a >= 0 && adm >= 0);
	CHECK_EQ(hf_raw_subscribe(a, V5, 1, "tenants/bob/#", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(a, V5, 2, "tenants/alice/#", 1, 0), 1);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(adm, V5, "tenants/bob/x", "b", 1, 1, false, 1)));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(adm, V5, "tenants/bob/y", "b", 1, 1, false, 2)));
	CHECK(nothing_before_marker(a, V5, adm, "tenants/alice/mark"));
	close(a);
	close(adm);
}

/* ---- reload ------------------------------------------------------------ */

static void
t_reload(struct hf_bproc *b)
{
	char pw[128], acl[128];
	int dis = -1;

	path_of(pw, sizeof(pw), "reload.pw");
	path_of(acl, sizeof(acl), "reload.acl");
	int a = login(b->port, V5, "alice", true, "alice", "alice-pw");
	int bo = login(b->port, V5, "bob", true, "bob", "bob-pw");
	int b3 = login(b->port, V3, "bob3", true, "bob", "bob-pw");
	CHECK(a >= 0 && bo >= 0 && b3 >= 0);
	CHECK_EQ(hf_raw_subscribe(a, V5, 1, "shared/#", 1, 0), 1);

	/* bob's password changes: bob's connections go, alice's stays */
	CHECK_EQ(passwd(pw, "bob", "bob-new", false), 0);
	CHECK(hf_bproc_reload(b));
	CHECK(hf_raw_wait_close(bo, 3000, &dis));
	CHECK_EQ(dis, HF_RC_NOT_AUTHORIZED);
	CHECK(hf_raw_wait_close(b3, 3000, NULL));
	close(bo);
	close(b3);
	CHECK_EQ(hf_raw_ping(a, 3000), 1);
	CHECK_EQ(refusal(b->port, V5, "bob", "bob-pw"),
	         HF_RC_BAD_USER_OR_PASSWORD);
	bo = login(b->port, V5, "bob", true, "bob", "bob-new");
	CHECK(bo >= 0);

	/* the ACL changes: alice may no longer read shared/secret */
	CHECK(HF_PUB_OK(
	    hf_raw_publish(bo, V5, "shared/secret", "s1", 2, 1, false, 1)));
	CHECK(hf_raw_expect_pub(a, V5, "shared/secret", "s1", NULL));
	CHECK_EQ(write_file("reload.acl", "user alice\n"
	                                  "topic read shared/open\n"
	                                  "topic deny shared/secret\n"
	                                  "user bob\n"
	                                  "topic readwrite shared/#\n"),
	         0);
	CHECK(hf_bproc_reload(b));
	CHECK_EQ(hf_raw_ping(a, 3000), 1); /* still connected */
	CHECK(HF_PUB_OK(
	    hf_raw_publish(bo, V5, "shared/secret", "s2", 2, 1, false, 2)));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(bo, V5, "shared/open", "o2", 2, 1, false, 3)));
	CHECK(hf_raw_expect_pub(a, V5, "shared/open", "o2", NULL));

	/* a bad ACL line: logged with FILE:LINE, the old files stay */
	CHECK_EQ(write_file("reload.acl", "user alice\n"
	                                  "topic read shared/#\n"
	                                  "topic sometimes shared/secret\n"),
	         0);
	CHECK(hf_bproc_reload(b));
	char want[200];
	snprintf(want, sizeof(want), "%s:3:", acl);
	CHECK(hf_bproc_log_contains(b, want));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(bo, V5, "shared/secret", "s3", 2, 1, false, 4)));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(bo, V5, "shared/open", "o3", 2, 1, false, 5)));
	CHECK(hf_raw_expect_pub(a, V5, "shared/open", "o3", NULL));
	CHECK_EQ(hf_raw_ping(a, 3000), 1);
	close(a);
	close(bo);
	CHECK(hf_bproc_alive(b));
	/* the files as the next case expects them */
	CHECK_EQ(passwd(pw, "bob", "bob-pw", false), 0);
	CHECK_EQ(write_file("reload.acl", RELOAD_ACL), 0);
}

/* QoS 1 from a publisher while the files are reloaded 20 times: the
 * subscriber (persistent, reading only at the end) gets every message, in
 * order, none twice. */
static void
t_reload_traffic(struct hf_bproc *b)
{
	enum { N = 2000, EVERY = 100 };
	int s = login(b->port, V5, "rt-sub", false, "alice", "alice-pw");
	int p = login(b->port, V5, "rt-pub", true, "bob", "bob-pw");
	CHECK(s >= 0 && p >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "shared/#", 1, 0), 1);
	for (int i = 0; i < N; i++) {
		char pl[16];
		snprintf(pl, sizeof(pl), "%d", i);
		if (i % EVERY == 0)
			kill(b->pid, SIGHUP);
		CHECK(HF_PUB_OK(hf_raw_publish(p, V5, "shared/n", pl,
		                               strlen(pl), 1, false,
		                               (uint16_t)(i % 60000 + 1))));
	}
	for (int i = 0; i < N; i++) {
		char pl[16];
		snprintf(pl, sizeof(pl), "%d", i);
		CHECK(hf_raw_expect_pub(s, V5, "shared/n", pl, NULL));
	}
	CHECK(hf_bproc_reload(b)); /* the last of them done too */
	CHECK(hf_bproc_log_count(b, "Reload done") >= N / EVERY);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	CHECK_EQ(hf_raw_ping(p, 3000), 1);
	close(s);
	close(p);
}

/* ---- bad files ------------------------------------------------------- */

/* The broker (and --test-config) refuse conf, naming want. */
static void
refuses(const char *conf, const char *want)
{
	struct hf_bproc b;
	char cmd[1024];

	CHECK(hf_bproc_start(&b, conf) != 0);
	CHECK(hf_bproc_log_contains(&b, want));
	snprintf(cmd, sizeof(cmd), "%s -c %s --test-config >%s/tc.out 2>&1",
	         HF_BROKER_BIN, b.conf, b.dir);
	int st = system(cmd);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	snprintf(cmd, sizeof(cmd), "grep -q '%s' %s/tc.out", want, b.dir);
	st = system(cmd);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	hf_bproc_cleanup(&b);
}

static void
t_bad_files(void)
{
	char conf[512], want[256], p[128];

	path_of(p, sizeof(p), "bad.pw");
	CHECK_EQ(write_file("bad.pw", "# ok\nalice:$7$101$bm90IGJhc2U2NA\n"),
	         0);
	snprintf(conf, sizeof(conf), "password_file %s\n", p);
	snprintf(want, sizeof(want), "%s:2:", p);
	refuses(conf, want);
	if (hf_test_failed_)
		return;
	path_of(p, sizeof(p), "bad.acl");
	CHECK_EQ(write_file("bad.acl", "user a\ntopic read x\ntopic rw y\n"),
	         0);
	snprintf(conf, sizeof(conf), "acl_file %s\n", p);
	snprintf(want, sizeof(want), "%s:3:", p);
	refuses(conf, want);
	if (hf_test_failed_)
		return;
	snprintf(conf, sizeof(conf), "password_file %s/missing.pw\n", dir);
	snprintf(want, sizeof(want), "%s/missing.pw", dir);
	refuses(conf, want);
}

/* ---- set-up ------------------------------------------------------------ */

static int
setup(void)
{
	char pw[128], acl[128], rpw[128], racl[128];

	snprintf(dir, sizeof(dir), "/tmp/hf_i09.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	path_of(pw, sizeof(pw), "users.pw");
	path_of(acl, sizeof(acl), "tenants.acl");
	path_of(rpw, sizeof(rpw), "reload.pw");
	path_of(racl, sizeof(racl), "reload.acl");
	if (passwd(pw, "alice", "alice-pw", true) != 0 ||
	    passwd(pw, "bob", "bob-pw", false) != 0 ||
	    passwd(pw, "admin", "admin-pw", false) != 0)
		return -1;
	if (access(MOSQ_PASSWD, X_OK) == 0) {
		/* mosquitto_passwd adds to the same file: $7$ with its
		 * defaults (101 iterations), and $6$ */
		const char *a7[] = {MOSQ_PASSWD, "-b",     pw,
		                    "mq7",       "mq7-pw", NULL};
		const char *a6[] = {MOSQ_PASSWD, "-H",  "sha512", "-b",
		                    pw,          "mq6", "mq6-pw", NULL};
		if (run(a7) != 0 || run(a6) != 0)
			return -1;
	}
	if (write_file("tenants.acl", "user admin\n"
	                              "topic readwrite #\n"
	                              "pattern readwrite tenants/%u/#\n") != 0)
		return -1;
	if (passwd(rpw, "alice", "alice-pw", true) != 0 ||
	    passwd(rpw, "bob", "bob-pw", false) != 0)
		return -1;
	if (write_file("reload.acl", RELOAD_ACL) != 0)
		return -1;
	snprintf(conf_pw, sizeof(conf_pw),
	         "allow_anonymous false\npassword_file %s\n", pw);
	snprintf(conf_tenants, sizeof(conf_tenants),
	         "allow_anonymous false\npassword_file %s\nacl_file %s\n", pw,
	         acl);
	snprintf(conf_sub, sizeof(conf_sub),
	         "allow_anonymous false\npassword_file %s\nacl_file %s\n"
	         "acl_check_subscribe true\n",
	         pw, acl);
	snprintf(conf_reload, sizeof(conf_reload),
	         "allow_anonymous false\npassword_file %s\nacl_file %s\n", rpw,
	         racl);
	return 0;
}

int
main(void)
{
	if (setup() != 0) {
		fprintf(stderr, "set-up failed (%s)\n", dir);
		return 1;
	}
	HF_BCASE(passwords_v311, conf_pw);
	HF_BCASE(passwords_v5, conf_pw);
	HF_BCASE(tenants_v311, conf_tenants);
	HF_BCASE(tenants_v5, conf_tenants);
	HF_BCASE(sys_read_only_v311, NULL);
	HF_BCASE(sys_read_only_v5, NULL);
	HF_BCASE(sub_check_v311, conf_sub);
	HF_BCASE(sub_check_v5, conf_sub);
	HF_BCASE(t_sub_check_off, conf_tenants);
	HF_BCASE(t_reload, conf_reload);
	HF_BCASE(t_reload_traffic, conf_reload);
	HF_RUN(t_bad_files);
	int rc = HF_DONE();
	if (rc == 0) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			rc = 1;
	}
	return rc;
}
