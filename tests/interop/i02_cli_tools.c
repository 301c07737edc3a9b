/* tests/interop/i02_cli_tools.c - the mosquitto_pub / mosquitto_sub command
 * line tools against the broker.
 *
 * Each case spawns the real tools (posix_spawnp, stdout on a pipe) the way a
 * user would type them. A subscriber runs with -d so its debug output tells
 * us when the SUBACK arrived ("Subscribed (mid"), and with -F so every
 * message prints as one easily matched line starting with "MSG "; stdbuf
 * -oL makes its stdout line-buffered so that we see it at once. Only then
 * is the publisher started; both must exit 0 within their deadlines (-W on
 * mosquitto_sub, a hard kill after CLI_WAIT_MS otherwise). Absence checks
 * ("no will after a clean exit", "retained message cleared") use a marker
 * message published afterwards: the subscriber's first message must be the
 * marker.
 *
 * Covered: QoS 0/1/2 round trips over -V mqttv311 and -V mqttv5, retained
 * (-r) set / received with the retain flag / cleared by -n, v5 publish
 * properties via -D (user-property, content-type, response-topic,
 * correlation-data, message-expiry-interval) printed by %P %C %R %D %E,
 * wills set with --will-topic on a killed client, and $SYS/broker/version
 * with sys_interval 1.
 *
 * Threading: none; child processes only, all reaped before a case returns. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"
#include "test.h"

extern char **environ;

#define CLI_WAIT_MS 15000

struct cli {
	pid_t pid;
	int fd; /* read end of the child's stdout, -1 at EOF */
	size_t len;
	char out[16384];
};

/* Start argv (NULL-terminated) with stdout on a pipe. 0 or -1. */
static int
cli_spawn(struct cli *c, const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	int p[2];
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (pipe(p) != 0)
		return -1;
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	rc = posix_spawnp(&c->pid, argv[0], &fa, NULL, (char *const *)argv,
	                  environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		fprintf(stderr, "spawn %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	c->fd = p[0];
	return 0;
}

/* Read whatever is available within ms. Returns false at EOF/timeout. */
static bool
cli_read_some(struct cli *c, int ms)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	ssize_t n;

	if (c->fd < 0)
		return false;
	if (poll(&pfd, 1, ms) <= 0)
		return false;
	if (c->len + 1 >= sizeof(c->out)) {
		c->len = 0; /* keep memory bounded; tests read small outputs */
	}
	n = read(c->fd, c->out + c->len, sizeof(c->out) - 1 - c->len);
	if (n <= 0) {
		close(c->fd);
		c->fd = -1;
		return false;
	}
	c->len += (size_t)n;
	c->out[c->len] = '\0';
	return true;
}

/* Read until the output contains needle. */
static bool
cli_read_until(struct cli *c, const char *needle, int ms)
{
	int64_t end = hf_now_ms() + ms;

	while (!strstr(c->out, needle)) {
		int64_t left = end - hf_now_ms();

		if (left <= 0 || c->fd < 0)
			return false;
		cli_read_some(c, (int)left);
	}
	return true;
}

/* Read to EOF and reap. Returns the exit code, 128+sig, or -1 when the
 * child had to be killed at the deadline. */
static int
cli_wait(struct cli *c, int ms)
{
	int64_t end = hf_now_ms() + ms;
	int st = 0;

	while (c->fd >= 0 && hf_now_ms() < end)
		cli_read_some(c, (int)(end - hf_now_ms()) + 1);
	for (;;) {
		pid_t r = waitpid(c->pid, &st, WNOHANG);

		if (r == c->pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (hf_now_ms() >= end) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &st, 0);
			if (c->fd >= 0)
				close(c->fd);
			c->fd = -1;
			fprintf(stderr, "child timed out; output:\n%s\n",
			        c->out);
			return -1;
		}
		poll(NULL, 0, 10);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* Run a command to completion; returns its exit status. */
static int
cli_run(const char *const argv[])
{
	struct cli c;
	int rc;

	if (cli_spawn(&c, argv) != 0)
		return -1;
	rc = cli_wait(&c, CLI_WAIT_MS);
	if (rc != 0)
		fprintf(stderr, "%s exited %d; output:\n%s\n", argv[0], rc,
		        c.out);
	return rc;
}

/* mosquitto_sub in the background, returned once subscribed. args are
 * extra arguments (NULL-terminated) added after the common ones. */
static int
sub_start(struct cli *c, struct hf_bproc *b, const char *ver, const char *fmt,
          const char *count, const char *const args[])
{
	char port[16];
	const char *argv[48];
	int n = 0;

	snprintf(port, sizeof(port), "%u", b->port);
	argv[n++] = "stdbuf"; /* line-buffered, so "Subscribed" shows now */
	argv[n++] = "-oL";
	argv[n++] = "mosquitto_sub";
	argv[n++] = "-d";
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-V";
	argv[n++] = ver;
	argv[n++] = "-F";
	argv[n++] = fmt;
	argv[n++] = "-C";
	argv[n++] = count;
	argv[n++] = "-W";
	argv[n++] = "10";
	for (int i = 0; args[i] && n < 47; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (cli_spawn(c, argv) != 0)
		return -1;
	if (!cli_read_until(c, "Subscribed (mid", CLI_WAIT_MS)) {
		fprintf(stderr, "mosquitto_sub did not subscribe:\n%s\n",
		        c->out);
		kill(c->pid, SIGKILL);
		cli_wait(c, 1000);
		return -1;
	}
	return 0;
}

/* mosquitto_pub to completion with the common arguments. */
static int
pub_run(struct hf_bproc *b, const char *ver, const char *const args[])
{
	char port[16];
	const char *argv[48];
	int n = 0;

	snprintf(port, sizeof(port), "%u", b->port);
	argv[n++] = "mosquitto_pub";
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-V";
	argv[n++] = ver;
	for (int i = 0; args[i] && n < 47; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return cli_run(argv);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Topic of the first "MSG <topic>" line in the output, or "" */
static void
first_msg(const struct cli *c, char *out, size_t cap)
{
	const char *p = strstr(c->out, "MSG ");
	size_t n = 0;

	out[0] = '\0';
	if (!p)
		return;
	p += 4;
	while (p[n] && p[n] != '\n' && n + 1 < cap)
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* All "MSG " lines of the output, concatenated (debug lines dropped). */
static void
all_msgs(const struct cli *c, char *out, size_t cap)
{
	const char *p = c->out;
	size_t used = 0;

	out[0] = '\0';
	while ((p = strstr(p, "MSG ")) != NULL) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) + 1 : strlen(p);

		if (used + n + 1 > cap)
			break;
		memcpy(out + used, p, n);
		used += n;
		out[used] = '\0';
		p += n;
	}
}

static void
qos_roundtrips(struct hf_bproc *b, const char *ver)
{
	for (int q = 0; q <= 2; q++) {
		struct cli sub;
		char topic[64], qs[12], msg[64], want[160];

		snprintf(topic, sizeof(topic), "cli/%s/q%d", ver, q);
		snprintf(qs, sizeof(qs), "%d", q);
		snprintf(msg, sizeof(msg), "hello at qos %d", q);
		snprintf(want, sizeof(want), "MSG %s %d 0 %s\n", topic, q, msg);
		CHECK_EQ(sub_start(&sub, b, ver, "MSG %t %q %r %p", "1",
		                   ARGS("-q", qs, "-t", topic)),
		         0);
		CHECK_EQ(
		    pub_run(b, ver, ARGS("-q", qs, "-t", topic, "-m", msg)), 0);
		CHECK_EQ(cli_wait(&sub, CLI_WAIT_MS), 0);
		if (!strstr(sub.out, want))
			fprintf(stderr, "want %s got:\n%s\n", want, sub.out);
		CHECK(strstr(sub.out, want) != NULL);
	}
}

static void
cli_qos_v311(struct hf_bproc *b)
{
	qos_roundtrips(b, "mqttv311");
}

static void
cli_qos_v5(struct hf_bproc *b)
{
	qos_roundtrips(b, "mqttv5");
}

/* Several messages, one mosquitto_pub each: every publisher has its PUBACK
 * before the next starts, so the broker has them in that order and the
 * subscriber sees them in that order. */
static void
cli_ordered(struct hf_bproc *b)
{
	static const char *const words[] = {"one", "two", "three", "four"};
	struct cli sub;
	char got[256];

	CHECK_EQ(sub_start(&sub, b, "mqttv311", "MSG %p", "4",
	                   ARGS("-q", "1", "-t", "cli/ord")),
	         0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(
		    pub_run(b, i % 2 ? "mqttv5" : "mqttv311",
		            ARGS("-q", "1", "-t", "cli/ord", "-m", words[i])),
		    0);
	CHECK_EQ(cli_wait(&sub, CLI_WAIT_MS), 0);
	all_msgs(&sub, got, sizeof(got));
	if (strcmp(got, "MSG one\nMSG two\nMSG three\nMSG four\n") != 0)
		fprintf(stderr, "got:\n%s\n", sub.out);
	CHECK(strcmp(got, "MSG one\nMSG two\nMSG three\nMSG four\n") == 0);
}

static void
retained(struct hf_bproc *b, const char *ver)
{
	struct cli sub;
	char got[256];

	/* Set, then a new subscriber gets it with the retain flag. */
	CHECK_EQ(pub_run(b, ver,
	                 ARGS("-r", "-q", "1", "-t", "cli/ret", "-m", "keep")),
	         0);
	CHECK_EQ(sub_start(&sub, b, ver, "MSG %t %r %q %p", "1",
	                   ARGS("-q", "1", "-t", "cli/ret")),
	         0);
	CHECK_EQ(cli_wait(&sub, CLI_WAIT_MS), 0);
	first_msg(&sub, got, sizeof(got));
	CHECK(strcmp(got, "cli/ret 1 1 keep") == 0);

	/* Replaced by a newer retained message. */
	CHECK_EQ(pub_run(b, ver,
	                 ARGS("-r", "-q", "0", "-t", "cli/ret", "-m", "new")),
	         0);
	CHECK_EQ(
	    sub_start(&sub, b, ver, "MSG %t %r %p", "1", ARGS("-t", "cli/+")),
	    0);
	CHECK_EQ(cli_wait(&sub, CLI_WAIT_MS), 0);
	first_msg(&sub, got, sizeof(got));
	CHECK(strcmp(got, "cli/ret 1 new") == 0);

	/* Cleared by an empty retained message (-n): a new subscriber sees
	 * the marker first, not the old retained message. */
	CHECK_EQ(pub_run(b, ver, ARGS("-r", "-q", "1", "-t", "cli/ret", "-n")),
	         0);
	CHECK_EQ(sub_start(&sub, b, ver, "MSG %t %r %p", "1",
	                   ARGS("-q", "1", "-t", "cli/ret", "-t", "cli/mark")),
	         0);
	CHECK_EQ(
	    pub_run(b, ver, ARGS("-q", "1", "-t", "cli/mark", "-m", "marker")),
	    0);
	CHECK_EQ(cli_wait(&sub, CLI_WAIT_MS), 0);
	first_msg(&sub, got, sizeof(got));
	CHECK(strcmp(got, "cli/mark 0 marker") == 0);
}

static void
cli_retained_v311(struct hf_bproc *b)
{
	retained(b, "mqttv311");
}

static void
cli_retained_v5(struct hf_bproc *b)
{
	retained(b, "mqttv5");
}

/* MQTT 5 publish properties set with -D arrive on mosquitto_sub. */
static void
cli_v5_properties(struct hf_bproc *b)
{
	struct cli sub;
	char got[512];

	CHECK_EQ(sub_start(&sub, b, "mqttv5", "MSG %P|%C|%R|%D|%t|%p", "1",
	                   ARGS("-q", "1", "-t", "cli/props")),
	         0);
	CHECK_EQ(pub_run(b, "mqttv5",
	                 ARGS("-q", "1", "-t", "cli/props", "-m", "body", "-D",
	                      "publish", "user-property", "k", "v", "-D",
	                      "publish", "user-property", "a", "b", "-D",
	                      "publish", "user-property", "k", "v2", "-D",
	                      "publish", "content-type", "text/plain", "-D",
	                      "publish", "response-topic", "cli/reply", "-D",
	                      "publish", "correlation-data", "corr-42")),
	         0);
	CHECK_EQ(cli_wait(&sub, CLI_WAIT_MS), 0);
	first_msg(&sub, got, sizeof(got));
	if (strcmp(got, "k:v a:b k:v2|text/plain|cli/reply|corr-42|"
	                "cli/props|body") != 0)
		fprintf(stderr, "got: %s\n", got);
	CHECK(strcmp(got, "k:v a:b k:v2|text/plain|cli/reply|corr-42|"
	                  "cli/props|body") == 0);

	/* Message expiry is forwarded (reduced by the time held, so at
	 * most the value sent). */
	CHECK_EQ(sub_start(&sub, b, "mqttv5", "MSG %E|%p", "1",
	                   ARGS("-q", "1", "-t", "cli/exp")),
	         0);
	CHECK_EQ(pub_run(b, "mqttv5",
	                 ARGS("-q", "1", "-t", "cli/exp", "-m", "e", "-D",
	                      "publish", "message-expiry-interval", "300")),
	         0);
	CHECK_EQ(cli_wait(&sub, CLI_WAIT_MS), 0);
	first_msg(&sub, got, sizeof(got));
	CHECK(strcmp(got, "300|e") == 0 || strcmp(got, "299|e") == 0);
}

/* A client killed without DISCONNECT: its --will-topic message is sent.
 * A client that disconnects normally (-E exits after SUBACK): no will. */
static void
wills(struct hf_bproc *b, const char *ver)
{
	struct cli watch, victim;
	char port[16], got[256];
	int st;

	snprintf(port, sizeof(port), "%u", b->port);
	CHECK_EQ(sub_start(&watch, b, ver, "MSG %t %q %p", "1",
	                   ARGS("-q", "1", "-t", "cli/will")),
	         0);
	CHECK_EQ(
	    cli_spawn(&victim,
	              ARGS("stdbuf", "-oL", "mosquitto_sub", "-d", "-h",
	                   "127.0.0.1", "-p", port, "-V", ver, "-t",
	                   "cli/victim", "-W", "30", "--will-topic", "cli/will",
	                   "--will-payload", "gone", "--will-qos", "1")),
	    0);
	CHECK(cli_read_until(&victim, "Subscribed (mid", CLI_WAIT_MS));
	kill(victim.pid, SIGKILL);
	st = cli_wait(&victim, CLI_WAIT_MS);
	CHECK_EQ(st, 128 + SIGKILL);
	CHECK_EQ(cli_wait(&watch, CLI_WAIT_MS), 0);
	first_msg(&watch, got, sizeof(got));
	CHECK(strcmp(got, "cli/will 1 gone") == 0);

	CHECK_EQ(
	    sub_start(&watch, b, ver, "MSG %t %p", "1",
	              ARGS("-q", "1", "-t", "cli/will2", "-t", "cli/mark2")),
	    0);
	CHECK_EQ(
	    cli_run(ARGS("mosquitto_sub", "-E", "-h", "127.0.0.1", "-p", port,
	                 "-V", ver, "-t", "cli/victim", "--will-topic",
	                 "cli/will2", "--will-payload", "should-not-appear")),
	    0);
	CHECK_EQ(
	    pub_run(b, ver, ARGS("-q", "1", "-t", "cli/mark2", "-m", "marker")),
	    0);
	CHECK_EQ(cli_wait(&watch, CLI_WAIT_MS), 0);
	first_msg(&watch, got, sizeof(got));
	CHECK(strcmp(got, "cli/mark2 marker") == 0);
}

static void
cli_will_v311(struct hf_bproc *b)
{
	wills(b, "mqttv311");
}

static void
cli_will_v5(struct hf_bproc *b)
{
	wills(b, "mqttv5");
}

/* $SYS/broker/version is published with sys_interval 1 (and retained, so
 * a subscriber gets it straight away or within one interval). */
static void
cli_sys_version(struct hf_bproc *b)
{
	struct cli sub;
	char got[256];

	CHECK_EQ(sub_start(&sub, b, "mqttv311", "MSG %t %p", "1",
	                   ARGS("-t", "$SYS/broker/version")),
	         0);
	CHECK_EQ(cli_wait(&sub, CLI_WAIT_MS), 0);
	first_msg(&sub, got, sizeof(got));
	CHECK(strncmp(got, "$SYS/broker/version ", 20) == 0);
	CHECK(strlen(got) > 20);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	HF_BCASE(cli_qos_v311, NULL);
	HF_BCASE(cli_qos_v5, NULL);
	HF_BCASE(cli_ordered, NULL);
	HF_BCASE(cli_retained_v311, NULL);
	HF_BCASE(cli_retained_v5, NULL);
	HF_BCASE(cli_v5_properties, NULL);
	HF_BCASE(cli_will_v311, NULL);
	HF_BCASE(cli_will_v5, NULL);
	HF_BCASE(cli_sys_version, "sys_interval 1\n");
	return HF_DONE();
}
