/* tests/protocol/p24_operations.c - what an operator does around the
 * broker, on the real binary:
 *
 *   one_store     a second broker on the same store refuses to start,
 *                 naming the store and the first one's pid; the first goes
 *                 on serving; once it is gone the store opens again
 *   signals       SIGUSR1 (statistics), SIGUSR2 (subscriptions), SIGRTMIN
 *                 (the log file reopened after a rotation) and SIGHUP
 *                 (the configuration read again: a lowered
 *                 max_queued_messages applies at once; a bad line keeps
 *                 the old configuration and names FILE:LINE): each logged,
 *                 none stops the broker
 *   user          run as root with `user nobody`: the store, log and pid
 *                 files belong to nobody, the pid file goes at exit, and a
 *                 start as nobody itself serves the same sessions (root
 *                 only: CI runs as root)
 *   test_config   --test-config lists every problem, each with FILE:LINE
 *
 * Every wait has a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

/* Run the broker binary with args (NULL-terminated, after the binary),
 * its output into out; the exit status, or -1. Bounded: the broker is
 * killed after timeout_ms. */
static int
run_broker(const char *const *args, char *out, size_t outlen, int timeout_ms)
{
	char path[] = "/tmp/hf-p24-out-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		const char *argv[16] = {HF_BROKER_BIN};
		for (int i = 0; args[i] && i < 14; i++)
			argv[i + 1] = args[i];
		execv(HF_BROKER_BIN, (char *const *)argv);
		_exit(127);
	}
	int st = -1;
	int64_t end = hf_now_ms() + timeout_ms;
	while (pid > 0 && waitpid(pid, &st, WNOHANG) == 0) {
		if (hf_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			st = -1;
			break;
		}
		hf_sleep_ms(10);
	}
	ssize_t n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- one broker per store ------------------------------------------------ */

static void
t_one_store(struct hf_bproc *b)
{
	char conf[400], out[4096], want[128];
	snprintf(conf, sizeof(conf), "%s/second.conf", b->dir);
	FILE *f = fopen(conf, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f,
	        "listener 0 127.0.0.1\nallow_anonymous true\n"
	        "persistence_location %s/data/\n",
	        b->dir);
	fclose(f);
	const char *args[] = {"-c", conf, NULL};
	CHECK_EQ(run_broker(args, out, sizeof(out), 10000), 1);
	snprintf(want, sizeof(want), "is in use by another process (pid %d",
	         (int)b->pid);
	CHECK(strstr(out, want) != NULL);
	CHECK(strstr(out, "/data/holdfast.db") != NULL);
	CHECK(strstr(out, "listen socket") == NULL); /* nothing bound */
	/* the first one goes on */
	int c = hf_raw_connect(b->port, V5, "still", true, 60, NULL, NULL);
	CHECK(c >= 0);
	close(c);
	/* and once it is gone, the store is free */
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	c = hf_raw_connect(b->port, V5, "again", true, 60, NULL, NULL);
	CHECK(c >= 0);
	close(c);
}

/* ---- signals ------------------------------------------------------------- */

static bool
append_conf(struct hf_bproc *b, const char *line)
{
	FILE *f = fopen(b->conf, "a");
	if (!f)
		return false;
	fputs(line, f);
	return fclose(f) == 0;
}

static bool
file_has(const char *path, const char *needle)
{
	char buf[65536];
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static bool
wait_file_has(const char *path, const char *needle, int ms)
{
	for (int64_t end = hf_now_ms() + ms; hf_now_ms() < end;) {
		if (file_has(path, needle))
			return true;
		hf_sleep_ms(10);
	}
	return false;
}

static void
t_signals(struct hf_bproc *b)
{
	/* a persistent subscriber, offline */
	int s = hf_raw_connect_expiry(b->port, V5, "keeper", false, 600, NULL);
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "q/#", 1, 0), 1);
	CHECK_EQ(hf_raw_disconnect(s, V5, 0), 0);
	close(s);

	kill(b->pid, SIGUSR1);
	CHECK(hf_bproc_wait_log(b, "Received SIGUSR1", 3000));
	CHECK(hf_bproc_wait_log(b, "Store: 1 sessions, 1 subscriptions", 3000));
	kill(b->pid, SIGUSR2);
	CHECK(hf_bproc_wait_log(b, "keeper (offline): q/# q1", 3000));
	CHECK(hf_bproc_wait_log(b, "Subscriptions: 1 in 1 sessions", 3000));

	/* SIGHUP: log settings are live; a log file besides stderr */
	char logf[320], rotated[340], line[400];
	snprintf(logf, sizeof(logf), "%s/file.log", b->dir);
	snprintf(rotated, sizeof(rotated), "%s.1", logf);
	snprintf(line, sizeof(line), "log_dest file %s\n", logf);
	CHECK(append_conf(b, line));
	CHECK(hf_bproc_reload(b));
	CHECK(wait_file_has(logf, "Reload done", 3000));
	/* logrotate: move the file, SIGRTMIN, a new file */
	CHECK_EQ(rename(logf, rotated), 0);
	kill(b->pid, SIGRTMIN);
	CHECK(
	    wait_file_has(logf, "Received SIGRTMIN: log file reopened", 3000));
	CHECK(!file_has(rotated, "SIGRTMIN"));

	/* SIGHUP with a lower queue limit: it applies at once */
	CHECK(append_conf(b, "max_queued_messages 2\n"));
	CHECK(hf_bproc_reload(b));
	CHECK(hf_bproc_log_contains(b, "Reloading config."));
	CHECK(wait_file_has(logf, "Reload done", 3000));
	int p = hf_raw_connect(b->port, V5, "pub", true, 60, NULL, NULL);
	CHECK(p >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(p, V5, "q/1", "a", 1, 1, false, 1)));
	CHECK(HF_PUB_OK(hf_raw_publish(p, V5, "q/2", "b", 1, 1, false, 2)));
	CHECK_EQ(hf_raw_publish(p, V5, "q/3", "c", 1, 1, false, 3),
	         HF_RC_QUOTA_EXCEEDED);
	/* a bad line: named, the configuration (limit 2) unchanged */
	CHECK(append_conf(b, "max_queued_messages 100\nno_such_option 1\n"));
	CHECK(hf_bproc_reload(b));
	/* the bad line is the file's last: its number is the line count */
	FILE *f = fopen(b->conf, "r");
	int lines = 0;
	for (int ch; f && (ch = fgetc(f)) != EOF;)
		lines += ch == '\n';
	if (f)
		fclose(f);
	char want[640];
	snprintf(want, sizeof(want),
	         "Error: reload: %s:%d: unknown option 'no_such_option'; the "
	         "configuration is unchanged.",
	         b->conf, lines);
	CHECK(hf_bproc_log_contains(b, want));
	CHECK_EQ(hf_raw_publish(p, V5, "q/4", "d", 1, 1, false, 4),
	         HF_RC_QUOTA_EXCEEDED);
	close(p);
	/* the bad line gone and a listener added: the listener is named
	 * in a warning and waits for the next start */
	char text[8192];
	f = fopen(b->conf, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	char *bad = strstr(text, "no_such_option 1\n");
	CHECK(bad != NULL);
	if (bad)
		memmove(bad, bad + 17, strlen(bad + 17) + 1);
	f = fopen(b->conf, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fputs("listener 0 127.0.0.1\n", f);
		fclose(f);
	}
	CHECK(hf_bproc_reload(b));
	CHECK(hf_bproc_log_contains(
	    b, "Warning: reload: listeners changed; the new values take "
	       "effect at the next start."));
	CHECK(hf_bproc_alive(b));
}

/* ---- user ---------------------------------------------------------------- */

static uint16_t
port_in(const char *logf, int ms)
{
	for (int64_t end = hf_now_ms() + ms; hf_now_ms() < end;) {
		char buf[8192];
		FILE *f = fopen(logf, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = '\0';
			char *s = strstr(buf, "listen socket on port ");
			if (s)
				return (uint16_t)atoi(s + 22);
		}
		hf_sleep_ms(10);
	}
	return 0;
}

static pid_t
spawn(const char *conf, const struct passwd *as)
{
	pid_t pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (as && (setgroups(0, NULL) != 0 || setgid(as->pw_gid) != 0 ||
		           setuid(as->pw_uid) != 0))
			_exit(126);
		execl(HF_BROKER_BIN, HF_BROKER_BIN, "-c", conf, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int
stop(pid_t pid)
{
	int st = -1;
	kill(pid, SIGTERM);
	for (int64_t end = hf_now_ms() + 10000; hf_now_ms() < end;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		hf_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static bool
owned_by(const char *path, uid_t uid)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_uid == uid;
}

static void
t_user(void)
{
	struct passwd *pw = getpwnam("nobody");
	if (getuid() != 0 || !pw) {
		fprintf(stderr, "t_user: needs root and a user 'nobody'; "
		                "not run\n");
		return;
	}
	char dir[] = "/tmp/hf-p24-user-XXXXXX", conf[80], logf[80], run[80],
	     pidf[96], db[96], cmd[128];
	CHECK(mkdtemp(dir) != NULL);
	chmod(dir, 0755);
	snprintf(conf, sizeof(conf), "%s/h.conf", dir);
	snprintf(logf, sizeof(logf), "%s/broker.log", dir);
	snprintf(run, sizeof(run), "%s/run", dir);
	snprintf(pidf, sizeof(pidf), "%s/holdfast.pid", run);
	snprintf(db, sizeof(db), "%s/store/holdfast.db", dir);
	/* the pid file's folder is the user's, as systemd's RuntimeDirectory */
	CHECK_EQ(mkdir(run, 0755), 0);
	CHECK_EQ(chown(run, pw->pw_uid, pw->pw_gid), 0);
	FILE *f = fopen(conf, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f,
	        "listener 0 127.0.0.1\nallow_anonymous true\n"
	        "persistence_location %s/store\nlog_dest file %s\n"
	        "log_type all\npid_file %s\nuser nobody\n",
	        dir, logf, pidf);
	fclose(f);
	chmod(conf, 0644);

	pid_t pid = spawn(conf, NULL);
	uint16_t port = port_in(logf, 10000);
	CHECK(port != 0);
	int s = hf_raw_connect_expiry(port, V5, "u-sub", false, 600, NULL);
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "u/#", 1, 0), 1);
	close(s);
	int p = hf_raw_connect(port, V5, "u-pub", true, 60, NULL, NULL);
	CHECK(p >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(p, V5, "u/1", "kept", 4, 1, false, 1)));
	close(p);
	CHECK(owned_by(db, pw->pw_uid));
	char side[120];
	snprintf(side, sizeof(side), "%s-lock", db);
	CHECK(owned_by(side, pw->pw_uid));
	snprintf(side, sizeof(side), "%s.owner", db);
	CHECK(owned_by(side, pw->pw_uid));
	snprintf(side, sizeof(side), "%s/store", dir);
	CHECK(owned_by(side, pw->pw_uid)); /* made by the broker */
	CHECK(owned_by(logf, pw->pw_uid));
	CHECK(owned_by(pidf, pw->pw_uid));
	CHECK_EQ(stop(pid), 0);
	CHECK(access(pidf, F_OK) != 0); /* removed at exit */

	/* the same, started by nobody itself: everything is its own */
	pid = spawn(conf, pw);
	uint16_t port2 = 0;
	for (int64_t end = hf_now_ms() + 10000; !port2 && hf_now_ms() < end;) {
		/* the port line of this start: after the "stopped" line */
		char buf[16384];
		f = fopen(logf, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = '\0';
		char *st = strstr(buf, "holdfast stopped.");
		char *q = st ? strstr(st, "listen socket on port ") : NULL;
		if (q)
			port2 = (uint16_t)atoi(q + 22);
		else
			hf_sleep_ms(10);
	}
	CHECK(port2 != 0);
	bool sp = false;
	s = port2 ? hf_raw_connect_expiry(port2, V5, "u-sub", false, 600, &sp)
	          : -1;
	CHECK(s >= 0);
	CHECK(sp);
	CHECK(s >= 0 && hf_raw_expect_pub(s, V5, "u/1", "kept", NULL));
	if (s >= 0)
		close(s);
	CHECK_EQ(stop(pid), 0);
	CHECK(access(pidf, F_OK) != 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

/* ---- --test-config ------------------------------------------------------- */

static void
t_test_config(void)
{
	char dir[] = "/tmp/hf-p24-tc-XXXXXX", conf[80], out[4096], at[128];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(conf, sizeof(conf), "%s/t.conf", dir);
	FILE *f = fopen(conf, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f, "listener 0 no-such-host.invalid\n"     /* 1 */
	           "allow_anonymous true\n"                /* 2 */
	           "log_dest file /nonexistent-hf/h.log\n" /* 3 */
	           "persistence_location /proc/hf-store\n" /* 4 */
	           "user no-such-user-hf\n"                /* 5 */
	           "pid_file /nonexistent-hf/h.pid\n");    /* 6 */
	fclose(f);
	const char *args[] = {"-c", conf, "--test-config", NULL};
	CHECK_EQ(run_broker(args, out, sizeof(out), 10000), 1);
	static const struct {
		int line;
		const char *what;
	} want[] = {
	    {1, "address 'no-such-host.invalid' does not resolve"},
	    {3, "log_dest file: /nonexistent-hf/h.log: folder "
	        "/nonexistent-hf does not exist"},
	    {4, "persistence_location: /proc/hf-store is on /proc"},
	    {5, "user: no such user 'no-such-user-hf'"},
	    {6, "pid_file: /nonexistent-hf/h.pid: folder /nonexistent-hf"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(at, sizeof(at), "%s:%d: ", conf, want[i].line);
		char *l = strstr(out, at);
		if (!l || !strstr(l, want[i].what) ||
		    strchr(l, '\n') < strstr(l, want[i].what)) {
			fprintf(stderr, "missing '%s%s' in:\n%s\n", at,
			        want[i].what, out);
			CHECK(false);
		}
	}
	CHECK(strstr(out, "5 problems found") != NULL);
	/* bad lines: all of them, not only the first */
	f = fopen(conf, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("bogus_one 1\nlistener 0 127.0.0.1\nmax_keepalive abc\n"
	      "bogus_two 2\n",
	      f);
	fclose(f);
	CHECK_EQ(run_broker(args, out, sizeof(out), 10000), 1);
	snprintf(at, sizeof(at), "%s:1: unknown option 'bogus_one'", conf);
	CHECK(strstr(out, at) != NULL);
	snprintf(at, sizeof(at), "%s:3: max_keepalive: 'abc'", conf);
	CHECK(strstr(out, at) != NULL);
	snprintf(at, sizeof(at), "%s:4: unknown option 'bogus_two'", conf);
	CHECK(strstr(out, at) != NULL);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

int
main(void)
{
	HF_BCASE(t_one_store, NULL);
	HF_BCASE(t_signals, NULL);
	HF_RUN(t_user);
	HF_RUN(t_test_config);
	return HF_DONE();
}
