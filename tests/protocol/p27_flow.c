/* tests/protocol/p27_flow.c - flow control for online subscribers that fall
 * behind (broker/engine/flow.c, issue 13).
 *
 *   slow_subscriber   a persistent QoS 1 subscriber that acknowledges every
 *                     message but takes longer than its publisher, which
 *                     sends 4000 QoS 1 PUBLISHes without waiting: the
 *                     broker pauses the publisher (logged) instead of
 *                     letting the backlog grow, resumes it (logged) when
 *                     the subscriber has caught up, and every message is
 *                     acknowledged and delivered once.
 *   stuck_subscriber  a persistent QoS 1 subscriber that never reads: the
 *                     publisher is not held by it (every PUBACK of 3000
 *                     messages arrives), and when the subscriber reads
 *                     again every message is there.
 * The slow subscriber runs in a thread of its own; every wait has a
 * deadline. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define V4 4

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send n QoS 1 PUBLISHes on topic/<i> with payloads "m<i>" without
 * waiting, then read PUBACKs until all n came or deadline_ms passed.
 * Returns the number of distinct PUBACKs. */
static int
flood(int fd, const char *topic, int n, int deadline_ms)
{
	struct hf_packet p;
	uint8_t buf[256];
	char t[64], pl[32];
	uint8_t *seen = calloc((size_t)n + 1, 1);
	int acked = 0;
	if (!seen)
		return -1;
	for (int i = 1; i <= n; i++) {
		memset(&p, 0, sizeof(p));
		p.type = HF_PUBLISH;
		snprintf(t, sizeof(t), "%s/%d", topic, i % 10);
		snprintf(pl, sizeof(pl), "m%d", i);
		p.u.publish.qos = 1;
		p.u.publish.pid = (uint16_t)i;
		p.u.publish.topic.p = (const uint8_t *)t;
		p.u.publish.topic.len = (uint32_t)strlen(t);
		p.u.publish.payload.p = (const uint8_t *)pl;
		p.u.publish.payload.len = (uint32_t)strlen(pl);
		if (hf_raw_send_pkt(fd, &p, V4) != 0)
			break;
	}
	int64_t end = now_ms() + deadline_ms;
	while (acked < n && now_ms() < end) {
		int rc = hf_raw_recvb(fd, V4, 1000, &p, buf, sizeof(buf));
		if (rc < 0)
			break;
		if (rc == 1 && p.type == HF_PUBACK && p.u.ack.pid >= 1 &&
		    p.u.ack.pid <= n && !seen[p.u.ack.pid]) {
			seen[p.u.ack.pid] = 1;
			acked++;
		}
	}
	free(seen);
	return acked;
}

struct reader {
	int fd;
	int want;
	int slow_every; /* sleep 1 ms after this many (0 = never) */
	int got;        /* distinct payloads */
	uint8_t *seen;
};

/* Read and acknowledge PUBLISHes until r->want distinct ones came or 60 s
 * passed. */
static void *
read_all(void *arg)
{
	struct reader *r = arg;
	struct hf_packet p;
	uint8_t buf[512];
	int64_t end = now_ms() + 60000;
	int n = 0;
	while (r->got < r->want && now_ms() < end) {
		int rc = hf_raw_recvb(r->fd, V4, 1000, &p, buf, sizeof(buf));
		if (rc < 0)
			break;
		if (rc == 0 || p.type != HF_PUBLISH)
			continue;
		if (p.u.publish.qos == 1)
			hf_raw_ack(r->fd, V4, HF_PUBACK, p.u.publish.pid, 0);
		int i = 0;
		if (p.u.publish.payload.len < 16) {
			char s[16];
			memcpy(s, p.u.publish.payload.p,
			       p.u.publish.payload.len);
			s[p.u.publish.payload.len] = '\0';
			i = atoi(s + 1);
		}
		if (i >= 1 && i <= r->want && !r->seen[i]) {
			r->seen[i] = 1;
			r->got++;
		}
		if (r->slow_every && ++n % r->slow_every == 0)
			usleep(1000); /* slower than the publisher, by design */
	}
	return NULL;
}

static void
slow_subscriber(struct hf_bproc *b)
{
	enum { N = 4000 };
	bool sp;
	int sub = hf_raw_connect(b->port, V4, "flow-sub", false, 60, NULL, &sp);
	CHECK(sub >= 0);
	CHECK_EQ(hf_raw_subscribe(sub, V4, 1, "flow/#", 1, 0), 1);
	struct reader r = {.fd = sub, .want = N, .slow_every = 4};
	r.seen = calloc(N + 1, 1);
	CHECK(r.seen != NULL);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, read_all, &r), 0);
	int pub = hf_raw_connect(b->port, V4, "flow-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	CHECK_EQ(flood(pub, "flow", N, 60000), N);
	pthread_join(th, NULL);
	CHECK_EQ(r.got, N);
	/* The publisher was held back, and let go again. */
	CHECK(hf_bproc_log_count(b, "pausing publishers") >= 1);
	CHECK(hf_bproc_log_count(b, "Publishers resumed") >= 1);
	free(r.seen);
	close(pub);
	close(sub);
}

static void
stuck_subscriber(struct hf_bproc *b)
{
	enum { N = 3000 };
	bool sp;
	int sub =
	    hf_raw_connect(b->port, V4, "stuck-sub", false, 600, NULL, &sp);
	CHECK(sub >= 0);
	CHECK_EQ(hf_raw_subscribe(sub, V4, 1, "stuck/#", 1, 0), 1);
	int pub =
	    hf_raw_connect(b->port, V4, "stuck-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	/* The subscriber reads nothing meanwhile: it must not hold the
	 * publisher (every PUBACK within 20 s). */
	CHECK_EQ(flood(pub, "stuck", N, 20000), N);
	struct reader r = {.fd = sub, .want = N};
	r.seen = calloc(N + 1, 1);
	CHECK(r.seen != NULL);
	read_all(&r);
	CHECK_EQ(r.got, N);
	free(r.seen);
	close(pub);
	close(sub);
}

int
main(void)
{
	HF_BCASE(slow_subscriber, NULL);
	HF_BCASE(stuck_subscriber, NULL);
	return HF_DONE();
}
