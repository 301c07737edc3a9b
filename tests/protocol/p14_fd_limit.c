/* tests/protocol/p14_fd_limit.c - the broker out of file descriptors.
 *
 * The broker is started with a low RLIMIT_NOFILE (the child inherits the
 * test's limit, which is restored right after the start), then more clients
 * connect than it has descriptors for. It must say so in its log, keep
 * serving the clients it has, not spin on the listening socket (the kernel
 * keeps reporting it readable while connections wait in the backlog), and
 * take new clients again once descriptors are free. Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define NEXTRA 48

/* User + system CPU seconds of pid, or -1. */
static double
cpu_seconds(pid_t pid)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = 0;
	/* Fields after the command name, which ends at the last ')'. */
	char *p = strrchr(line, ')');
	unsigned long ut = 0, st = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	           &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void
out_of_descriptors(void)
{
	struct rlimit old, low;
	struct hf_bproc b;
	int extra[NEXTRA];
	int keep = -1;

	for (int i = 0; i < NEXTRA; i++)
		extra[i] = -1;
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 32;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	int rc = hf_bproc_start(&b, NULL);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	CHECK_EQ(rc, 0);
	if (rc != 0)
		return;

	keep = hf_raw_connect(b.port, V3, "keep", true, 60, NULL, NULL);
	CHECK(keep >= 0);
	if (keep < 0)
		goto out;
	/* More connections than the broker has descriptors left: each sends
	 * its CONNECT; the ones the broker cannot accept wait in the
	 * listen backlog. */
	static const uint8_t connect_pkt[] = {
	    0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'x'};
	for (int i = 0; i < NEXTRA; i++) {
		extra[i] = hf_raw_open(b.port);
		CHECK(extra[i] >= 0);
		if (extra[i] >= 0)
			CHECK_EQ(hf_raw_send(extra[i], connect_pkt,
			                     sizeof(connect_pkt)),
			         0);
	}
	CHECK(hf_bproc_wait_log(&b, "cannot accept connections", 10000));

	/* Still serving the client it has. */
	CHECK_EQ(hf_raw_ping(keep, 5000), 1);

	/* Not spinning while connections wait: well under half a core over
	 * one second (a busy accept loop would take all of one). */
	double c0 = cpu_seconds(b.pid);
	hf_sleep_ms(1000);
	double c1 = cpu_seconds(b.pid);
	CHECK(c0 >= 0 && c1 >= 0);
	CHECK(c1 - c0 < 0.5);
	CHECK(hf_bproc_alive(&b));

	/* Descriptors free again: a new client is served. */
	for (int i = 0; i < NEXTRA; i++) {
		if (extra[i] >= 0)
			close(extra[i]);
		extra[i] = -1;
	}
	int late = hf_raw_connect(b.port, V5, "late", true, 60, NULL, NULL);
	CHECK(late >= 0);
	if (late >= 0) {
		CHECK_EQ(hf_raw_ping(late, 5000), 1);
		close(late);
	}
	CHECK_EQ(hf_raw_ping(keep, 5000), 1);
out:
	for (int i = 0; i < NEXTRA; i++)
		if (extra[i] >= 0)
			close(extra[i]);
	if (keep >= 0)
		close(keep);
	CHECK_EQ(hf_bproc_stop(&b), 0);
	hf_bproc_cleanup(&b);
}

int
main(void)
{
	HF_RUN(out_of_descriptors);
	return HF_DONE();
}
