/* tests/protocol/p22_backpressure.c - bounded output per connection
 * (client_max_write_buffer_size) and max_inflight_bytes (issue 9).
 *
 *   publisher_never_reads  a QoS 1 publisher that sends at full speed and
 *                          never reads its PUBACKs, for 60 s (15 s under a
 *                          sanitizer; HF_BACKPRESSURE_SECONDS overrides):
 *                          the broker's RSS stays within 24 MiB of where it
 *                          started (its PUBACKs wait in at most 1 MiB of
 *                          output, then the broker stops reading it and TCP
 *                          stops the publisher), and another client is
 *                          served every second throughout.
 *   subscriber_never_reads a persistent QoS 1 subscriber that stops reading
 *                          while 4000 16-KiB messages (64 MiB) are
 *                          published to it: they wait on disk, not in the
 *                          broker's memory (RSS within 24 MiB again), and
 *                          when it reads again every one arrives.
 *   inflight_bytes         max_inflight_bytes 1000: with 600-byte messages
 *                          at most two are unacknowledged at a time,
 *                          however large the client's Receive Maximum.
 * RSS bounds are skipped under a sanitizer (its quarantine keeps freed
 * memory). Single-threaded; every wait has a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define RSS_SLACK_KB (24 * 1024)

static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static bool
sanitized(void)
{
	return getenv("ASAN_OPTIONS") != NULL;
}

/* Fresh clients are served: a QoS 1 message from one to the other. */
static bool
served(uint16_t port)
{
	struct hf_packet p;
	uint8_t buf[256];
	int sub = hf_raw_sub_client(port, V5, "probe-sub", "probe/t", 1);
	int pub = hf_raw_connect(port, V3, "probe-pub", true, 30, NULL, NULL);
	bool ok =
	    sub >= 0 && pub >= 0 &&
	    hf_raw_publish(pub, V3, "probe/t", "hi", 2, 1, false, 1) == 0 &&
	    hf_raw_expect_publish(sub, V5, 3000, true, &p, buf, sizeof(buf)) ==
	        1;
	if (sub >= 0)
		close(sub);
	if (pub >= 0)
		close(pub);
	return ok;
}

static void
publisher_never_reads(struct hf_bproc *b)
{
	static uint8_t pkt[2048];
	int secs = sanitized() ? 15 : 60;
	if (getenv("HF_BACKPRESSURE_SECONDS"))
		secs = atoi(getenv("HF_BACKPRESSURE_SECONDS"));
	int fd = hf_raw_connect(b->port, V3, "firehose", true, 60, NULL, NULL);
	CHECK(fd >= 0);
	/* One PUBLISH QoS 1 on "fire/hose", its packet id patched in. */
	size_t n = 0, plen = 1000;
	size_t rl = 2 + 9 + 2 + plen;
	pkt[n++] = 0x32;
	pkt[n++] = (uint8_t)(0x80 | (rl & 0x7f));
	pkt[n++] = (uint8_t)(rl >> 7);
	pkt[n++] = 0;
	pkt[n++] = 9;
	memcpy(pkt + n, "fire/hose", 9);
	n += 9;
	size_t pid_at = n;
	n += 2;
	memset(pkt + n, 'f', plen);
	n += plen;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	long base = rss_kb(b->pid), peak = base;
	uint64_t sent = 0;
	uint16_t pid = 0;
	int64_t start = hf_now_ms(), next_probe = start + 1000;
	size_t off = 0;
	while (hf_now_ms() - start < (int64_t)secs * 1000) {
		if (off == 0) {
			pid = (uint16_t)(pid % 65535 + 1);
			pkt[pid_at] = (uint8_t)(pid >> 8);
			pkt[pid_at + 1] = (uint8_t)pid;
		}
		ssize_t w = send(fd, pkt + off, n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off = (off + (size_t)w) % n;
			sent += (uint64_t)w;
			continue;
		}
		CHECK(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		if (hf_now_ms() >= next_probe) {
			next_probe += 1000;
			CHECK(served(b->port));
			long r = rss_kb(b->pid);
			if (r > peak)
				peak = r;
		}
		struct pollfd pf = {fd, POLLOUT, 0};
		poll(&pf, 1, 50);
	}
	fprintf(stderr,
	        "%d s: %llu bytes pushed; broker RSS %ld KiB at start, %ld at "
	        "peak\n",
	        secs, (unsigned long long)sent, base, peak);
	if (!sanitized())
		CHECK(peak - base < RSS_SLACK_KB);
	CHECK(served(b->port));
	close(fd);
}

static void
subscriber_never_reads(struct hf_bproc *b)
{
	static uint8_t payload[16384];
	struct hf_packet c, ca, p;
	uint8_t buf[20000];
	hf_raw_connect_init(&c, V5, "sleeper", true, 600);
	c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
	c.u.connect.props.session_expiry = 3600;
	int sub = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(sub >= 0);
	CHECK_EQ(hf_raw_subscribe(sub, V5, 1, "deep/#", 1, 0), 1);
	int pub = hf_raw_connect(b->port, V5, "deep-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	long base = rss_kb(b->pid), peak = base;
	for (int i = 0; i < 4000; i++) {
		snprintf((char *)payload, 16, "%06d", i);
		CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "deep/x", payload,
		                               sizeof(payload), 1, false,
		                               (uint16_t)(i % 60000 + 1))));
		if (i % 500 == 0) {
			long r = rss_kb(b->pid);
			if (r > peak)
				peak = r;
		}
	}
	fprintf(stderr,
	        "64 MiB for a subscriber that does not read: broker "
	        "RSS %ld KiB at start, %ld at peak\n",
	        base, peak);
	if (!sanitized())
		CHECK(peak - base < RSS_SLACK_KB);
	CHECK(served(b->port));
	/* It reads again: everything arrives, in order. */
	int got = 0;
	while (got < 4000 && hf_raw_expect_publish(sub, V5, 10000, true, &p,
	                                           buf, sizeof(buf)) == 1) {
		int seq = -1;
		sscanf((const char *)p.u.publish.payload.p, "%6d", &seq);
		if (seq != got) {
			fprintf(stderr, "expected %d, got %d\n", got, seq);
			break;
		}
		got++;
	}
	CHECK_EQ(got, 4000);
	close(pub);
	close(sub);
}

static void
inflight_bytes(struct hf_bproc *b)
{
	static uint8_t payload[600];
	struct hf_packet p;
	uint8_t buf[2048];
	int sub = hf_raw_sub_client(b->port, V5, "small-window", "win/#", 1);
	int pub = hf_raw_connect(b->port, V5, "win-pub", true, 60, NULL, NULL);
	CHECK(sub >= 0 && pub >= 0);
	for (int i = 0; i < 10; i++)
		CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "win/x", payload,
		                               sizeof(payload), 1, false,
		                               (uint16_t)(i + 1))));
	/* Without acknowledging: two arrive (1200 > 1000 after the second),
	 * then nothing. */
	uint16_t pids[10];
	int n = 0;
	while (n < 10 && hf_raw_expect_publish(sub, V5, 500, false, &p, buf,
	                                       sizeof(buf)) == 1)
		pids[n++] = p.u.publish.pid;
	CHECK_EQ(n, 2);
	/* Acknowledge them; the rest follows two at a time. */
	int total = n;
	for (int round = 0; round < 10 && total < 10; round++) {
		for (int k = 0; k < n; k++)
			CHECK_EQ(hf_raw_ack(sub, V5, HF_PUBACK, pids[k], 0), 0);
		n = 0;
		while (n < 10 && hf_raw_expect_publish(sub, V5, 500, false, &p,
		                                       buf, sizeof(buf)) == 1)
			pids[n++] = p.u.publish.pid;
		CHECK(n <= 2);
		total += n;
	}
	CHECK_EQ(total, 10);
	close(pub);
	close(sub);
}

int
main(void)
{
	HF_BCASE(publisher_never_reads, NULL);
	HF_BCASE(subscriber_never_reads, NULL);
	HF_BCASE(inflight_bytes, "max_inflight_bytes 1000\n");
	return HF_DONE();
}
