/* tests/ops/o01_sd_notify.c - the broker under a Type=notify unit, with
 * this test playing systemd: it binds the unix datagram socket systemd
 * would pass in NOTIFY_SOCKET, starts the real broker with NOTIFY_SOCKET,
 * WATCHDOG_USEC and WATCHDOG_PID (the broker's own pid, set in the child
 * through hf_bproc_launch_hook) and reads what the broker says:
 *   READY=1     only once a client can connect (the listener is in the
 *               log and a CONNECT gets its CONNACK with no further wait);
 *   WATCHDOG=1  again and again, at about half of WATCHDOG_USEC;
 *   RELOADING=1 (with MONOTONIC_USEC) then READY=1 around SIGHUP;
 *   STOPPING=1  after SIGTERM, then a clean exit.
 * Bad environments: a NOTIFY_SOCKET that names nothing (one warning, the
 * broker serves anyway), WATCHDOG_USEC or WATCHDOG_PID that do not parse
 * (a warning, no pings), a WATCHDOG_PID of another process (no pings).
 *
 * Every wait has a deadline; WATCHDOG=1 messages are counted wherever they
 * fall, the other messages must come in the order above. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define PORT_LINE "listen socket on port "

struct nsock {
	int fd;
	char path[108];
};

static int
nsock_open(struct nsock *n, const char *dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int big = 1 << 20;

	/* sun_path is short; the harness's directories fit with room. */
	if (strlen(dir) + sizeof("/notify.sock") > sizeof(n->path))
		return -1;
	strcpy(n->path, dir);
	strcat(n->path, "/notify.sock");
	memcpy(sa.sun_path, n->path, strlen(n->path) + 1);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0)
		return -1;
	setsockopt(n->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	return bind(n->fd, (struct sockaddr *)&sa, sizeof(sa));
}

static void
nsock_close(struct nsock *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

/* One datagram within timeout_ms into buf (NUL-terminated): its length,
 * or -1 on timeout. */
static int
nsock_recv(struct nsock *n, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = {.fd = n->fd, .events = POLLIN};
	int r;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	ssize_t len = recv(n->fd, buf, cap - 1, 0);
	if (len < 0)
		return -1;
	buf[len] = '\0';
	return (int)len;
}

/* Does the message hold exactly this line? */
static bool
has_line(const char *msg, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = msg; p && *p;) {
		if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
			return true;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

static bool
is_ping(const char *msg)
{
	return !strcmp(msg, "WATCHDOG=1");
}

/* The next message that is not a watchdog ping, within timeout_ms; pings
 * on the way are counted in *pings. 0, or -1 on timeout. */
static int
next_event(struct nsock *n, int timeout_ms, int *pings, char *buf, size_t cap)
{
	int64_t deadline = hf_now_ms() + timeout_ms;

	for (;;) {
		int64_t left = deadline - hf_now_ms();
		if (left <= 0 || nsock_recv(n, buf, cap, (int)left) < 0)
			return -1;
		if (!is_ping(buf))
			return 0;
		(*pings)++;
	}
}

/* Read for window_ms; the number of pings, or -1 if anything else came. */
static int
pings_within(struct nsock *n, int window_ms)
{
	int64_t deadline = hf_now_ms() + window_ms;
	int pings = 0;
	char buf[512];

	for (;;) {
		int64_t left = deadline - hf_now_ms();
		if (left <= 0 || nsock_recv(n, buf, sizeof(buf), (int)left) < 0)
			return pings;
		if (!is_ping(buf)) {
			fprintf(stderr, "unexpected notification: %s\n", buf);
			return -1;
		}
		pings++;
	}
}

/* The environment systemd would give the broker. */
struct envset {
	const char *socket;
	const char *usec; /* NULL: unset */
	const char *pid;  /* NULL: unset; "self": the broker's own pid */
};

static void
set_env(void *ctx)
{
	const struct envset *e = ctx;
	char pid[24];

	setenv("NOTIFY_SOCKET", e->socket, 1);
	if (e->usec)
		setenv("WATCHDOG_USEC", e->usec, 1);
	if (e->pid && !strcmp(e->pid, "self")) {
		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		setenv("WATCHDOG_PID", pid, 1);
	} else if (e->pid) {
		setenv("WATCHDOG_PID", e->pid, 1);
	}
}

struct run {
	struct hf_bproc b;
	struct nsock n;
	int pings;
	char msg[512];
};

/* A broker directory (a first plain run makes it), the socket in it, then
 * the broker with e's environment; returns once READY=1 came. */
static void
run_start(struct run *r, struct envset *e)
{
	CHECK(hf_bproc_start(&r->b, NULL) == 0);
	CHECK(hf_bproc_stop(&r->b) == 0);
	CHECK(nsock_open(&r->n, r->b.dir) == 0);
	e->socket = r->n.path;
	CHECK(hf_bproc_launch_hook(&r->b, set_env, e) == 0);
	CHECK(next_event(&r->n, 10000, &r->pings, r->msg, sizeof(r->msg)) == 0);
	CHECK(has_line(r->msg, "READY=1"));
}

/* SIGTERM (once: the broker restores the default action while it shuts
 * down), STOPPING=1, then a clean exit. */
static void
run_stop(struct run *r)
{
	CHECK(kill(r->b.pid, SIGTERM) == 0);
	CHECK(next_event(&r->n, 10000, &r->pings, r->msg, sizeof(r->msg)) == 0);
	CHECK(has_line(r->msg, "STOPPING=1"));
	int64_t deadline = hf_now_ms() + 15000;
	while (hf_bproc_alive(&r->b) && hf_now_ms() < deadline)
		hf_sleep_ms(10);
	CHECK(!hf_bproc_alive(&r->b));
	CHECK_EQ(r->b.status, 0);
}

static void
run_cleanup(struct run *r)
{
	if (hf_test_failed_ && r->b.dir[0])
		hf_bproc_dump_log(&r->b, 8192);
	nsock_close(&r->n);
	hf_bproc_cleanup(&r->b);
}

static void
lifecycle_body(struct run *r)
{
	struct envset e = {NULL, "200000", "self"};

	run_start(r, &e);
	if (hf_test_failed_)
		return;
	/* Ready means ready: the listener line is already there (read now,
	 * without waiting) and a client is answered at once. */
	CHECK(hf_bproc_log_count(&r->b, PORT_LINE) >= 1);
	uint16_t port = hf_bproc_port_n(&r->b, 0);
	CHECK(port != 0);
	uint8_t rc = 0xff;
	int fd = hf_raw_connect(port, V5, "o01-ready", true, 60, &rc, NULL);
	CHECK(fd >= 0);
	close(fd);

	/* WATCHDOG_USEC 200 ms: a ping every 100 ms; four intervals cannot
	 * take less than ~400 ms (300 allows for the loop's cached clock). */
	char buf[512];
	int64_t first = 0;
	int seen = 0;
	for (int64_t end = hf_now_ms() + 5000; seen < 5 && hf_now_ms() < end;) {
		if (nsock_recv(&r->n, buf, sizeof(buf), 1000) < 0)
			continue;
		CHECK(is_ping(buf));
		if (seen++ == 0)
			first = hf_now_ms();
	}
	CHECK_EQ(seen, 5);
	CHECK(hf_now_ms() - first >= 300);

	/* SIGHUP: RELOADING=1 (with MONOTONIC_USEC), the reload, READY=1. */
	CHECK(kill(r->b.pid, SIGHUP) == 0);
	CHECK(next_event(&r->n, 5000, &r->pings, r->msg, sizeof(r->msg)) == 0);
	CHECK(has_line(r->msg, "RELOADING=1"));
	CHECK(strstr(r->msg, "\nMONOTONIC_USEC=") != NULL);
	CHECK(next_event(&r->n, 5000, &r->pings, r->msg, sizeof(r->msg)) == 0);
	CHECK(has_line(r->msg, "READY=1"));
	CHECK_EQ(hf_bproc_log_count(&r->b, "Reload done"), 1);
	/* Still pinging after the reload. */
	CHECK(pings_within(&r->n, 400) >= 2);
	run_stop(r);
}

static void
lifecycle(void)
{
	struct run r = {.n.fd = -1};
	lifecycle_body(&r);
	run_cleanup(&r);
}

/* Bad: WATCHDOG_USEC / WATCHDOG_PID that do not parse. The broker says so,
 * does not ping, and otherwise behaves. */
static void
bad_watchdog_body(struct run *r, const char *usec, const char *pid)
{
	struct envset e = {NULL, usec, pid};

	fprintf(stderr, "   WATCHDOG_USEC=%s WATCHDOG_PID=%s\n", usec, pid);
	run_start(r, &e);
	if (hf_test_failed_)
		return;
	CHECK_EQ(hf_bproc_log_count(&r->b, "WATCHDOG_USEC or WATCHDOG_PID "
	                                   "is not valid"),
	         1);
	CHECK_EQ(pings_within(&r->n, 500), 0);
	CHECK_EQ(r->pings, 0);
	run_stop(r);
}

static void
bad_watchdog_values(void)
{
	static const char *const bad[][2] = {
	    {"abc", "self"},
	    {"0", "self"},
	    {"-5", "self"},
	    {"200000x", "self"},
	    {"18446744073709551615", "self"}, /* systemd's "infinity" */
	    {"200000", "junk"},
	    {"200000", "0"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run r = {.n.fd = -1};
		bad_watchdog_body(&r, bad[i][0], bad[i][1]);
		run_cleanup(&r);
		if (hf_test_failed_)
			return;
	}
}

/* A watchdog meant for another process (WATCHDOG_PID not ours): no pings,
 * no warning - systemd set it for someone else. */
static void
other_pid_body(struct run *r)
{
	char pid[24];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	struct envset e = {NULL, "200000", pid};

	run_start(r, &e);
	if (hf_test_failed_)
		return;
	CHECK_EQ(pings_within(&r->n, 500), 0);
	CHECK_EQ(r->pings, 0);
	CHECK_EQ(hf_bproc_log_count(&r->b, "WATCHDOG"), 0);
	run_stop(r);
}

static void
watchdog_for_other_pid(void)
{
	struct run r = {.n.fd = -1};
	other_pid_body(&r);
	run_cleanup(&r);
}

/* Bad: NOTIFY_SOCKET names nothing. One warning (not one per message),
 * and the broker serves, reloads and stops as usual. */
static void
missing_socket(struct hf_bproc *b)
{
	CHECK(hf_bproc_wait_log(b, "cannot notify systemd (READY)", 5000));
	int fd =
	    hf_raw_connect(b->port, V3, "o01-nosock", true, 60, NULL, NULL);
	CHECK(fd >= 0);
	close(fd);
	CHECK(hf_bproc_reload(b));
	CHECK_EQ(hf_bproc_log_count(b, "cannot notify systemd"), 1);
}

/* Without NOTIFY_SOCKET nothing is said and nothing is complained about. */
static void
no_socket(struct hf_bproc *b)
{
	CHECK(hf_bproc_reload(b));
	CHECK_EQ(hf_bproc_log_count(b, "notify"), 0);
	CHECK_EQ(hf_bproc_log_count(b, "WATCHDOG"), 0);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	HF_RUN(lifecycle);
	HF_RUN(bad_watchdog_values);
	HF_RUN(watchdog_for_other_pid);
	setenv("NOTIFY_SOCKET", "/nonexistent-hf-o01/notify.sock", 1);
	HF_BCASE(missing_socket, NULL);
	unsetenv("NOTIFY_SOCKET");
	HF_BCASE(no_socket, NULL);
	return HF_DONE();
}
