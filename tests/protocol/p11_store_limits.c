/* tests/protocol/p11_store_limits.c - refusing messages when a queue or the
 * store is full.
 *
 * Holdfast's promise (conf/holdfast.conf, max_queued_messages and
 * "Persistence"): when a persistent subscriber's queue (max_queued_messages,
 * max_queued_bytes) or the store (persistence_max_size; refusal starts above
 * 90% of it) is full, a QoS 1/2 PUBLISH is refused whole rather than
 * accepted and dropped. A 5.0 publisher gets PUBACK/PUBREC 0x97 (Quota
 * exceeded); a 3.1.1 publisher, which has no negative acknowledgment, is
 * disconnected without one. QoS 0 beyond the limit is dropped silently.
 * Nothing already accepted is lost, publishing works again once the
 * subscriber has drained its queue, and $SYS/broker/publish/messages/refused
 * counts the refusals.
 *
 * Each case runs its own broker with the limits in its config.
 * Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define QUOTA HF_RC_QUOTA_EXCEEDED

/* Connect; 5.0 with a Session Expiry Interval of an hour when !clean. */
static int
conn(uint16_t port, uint8_t ver, const char *id, bool clean, bool *sp)
{
	return hf_raw_connect_expiry(port, ver, id, clean, clean ? 0 : 3600,
	                             sp);
}

static int
cconn(uint16_t port, uint8_t ver, const char *id)
{
	bool sp;

	return conn(port, ver, id, true, &sp);
}

/* A persistent subscriber to filter that then goes offline (DISCONNECT;
 * the broker's close comes after its commit). */
static bool
offline_sub(uint16_t port, uint8_t ver, const char *id, const char *filter)
{
	bool sp = true, ok;
	int s = conn(port, ver, id, false, &sp);

	if (s < 0)
		return false;
	ok = hf_raw_subscribe(s, ver, 1, filter, 2, 0) == 2 &&
	     hf_raw_disconnect(s, ver, 0) == 0 &&
	     hf_raw_wait_close(s, 3000, NULL);
	close(s);
	return ok;
}

/* 3.1.1: send a QoS 1/2 PUBLISH and expect the broker to close the
 * connection without acknowledging it (no packet at all before the
 * close). */
static bool
refused_v311(int fd, const char *topic, const void *payload, size_t len,
             uint8_t qos, uint16_t pid)
{
	struct hf_packet p;
	uint8_t buf[256];
	int r;

	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.pid = pid;
	p.u.publish.topic.p = (const uint8_t *)topic;
	p.u.publish.topic.len = (uint32_t)strlen(topic);
	p.u.publish.payload.p = payload;
	p.u.publish.payload.len = (uint32_t)len;
	if (hf_raw_send_pkt(fd, &p, V3) != 0)
		return false;
	r = hf_raw_recvb(fd, V3, 3000, &p, buf, sizeof(buf));
	if (r == 1)
		fprintf(stderr, "3.1.1 refusal: got %s instead of a close\n",
		        hf_ptype_name(p.type));
	else if (r == 0)
		fprintf(stderr, "3.1.1 refusal: connection still open\n");
	return r == -1;
}

/* Read the subscriber's queue: n PUBLISHes whose payloads are
 * payloads[0..n) in order. */
static bool
drain(int s, uint8_t ver, const char *const *payloads, int n)
{
	uint8_t buf[1024];

	for (int i = 0; i < n; i++) {
		struct hf_packet p;

		if (hf_raw_expect_publish(s, ver, 3000, true, &p, buf,
		                          sizeof(buf)) != 1) {
			fprintf(stderr, "message %d did not arrive\n", i);
			return false;
		}
		if (!hf_bytes_eq(p.u.publish.payload, payloads[i])) {
			fprintf(stderr, "message %d: %.*s, want %s\n", i,
			        (int)p.u.publish.payload.len,
			        (const char *)p.u.publish.payload.p,
			        payloads[i]);
			return false;
		}
	}
	return true;
}

/* max_queued_messages 5 (with QoS 0 queueing on, so QoS 0 counts too):
 * five QoS `qos` messages are accepted, the sixth is refused (5.0: reason
 * 0x97 in PUBACK/PUBREC; 3.1.1: disconnected, not acknowledged), a QoS 0
 * message beyond the limit is dropped without any error. The subscriber
 * then gets exactly the five, and publishing works again. */
static void
queue_count(struct hf_bproc *b, uint8_t ver, uint8_t qos)
{
	static const char *const pl[] = {"m0", "m1", "m2", "m3", "m4"};
	static const char *const again[] = {"again"};
	bool sp = false;
	int s, pub;

	CHECK(offline_sub(b->port, ver, "lq", "lim/#"));
	pub = cconn(b->port, ver, "lp");
	CHECK(pub >= 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(hf_raw_publish(pub, ver, "lim/t", pl[i], 2, qos, false,
		                        (uint16_t)(i + 1)),
		         0);
	if (ver == V5) {
		CHECK_EQ(
		    hf_raw_publish(pub, ver, "lim/t", "m5", 2, qos, false, 6),
		    QUOTA);
	} else {
		CHECK(refused_v311(pub, "lim/t", "m5", 2, qos, 6));
		close(pub);
		pub = cconn(b->port, ver, "lp");
		CHECK(pub >= 0);
	}
	/* QoS 0 beyond the limit: no error, the connection stays. */
	CHECK_EQ(hf_raw_publish(pub, ver, "lim/t", "zero", 4, 0, false, 0), 0);
	CHECK_EQ(hf_raw_ping(pub, 3000), 1);
	s = conn(b->port, ver, "lq", false, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK(drain(s, ver, pl, 5));
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	/* Drained: accepted again, and the next message is this one (neither
	 * m5 nor the QoS 0 one was kept). */
	CHECK_EQ(hf_raw_publish(pub, ver, "lim/t", "again", 5, qos, false, 7),
	         0);
	CHECK(drain(s, ver, again, 1));
	CHECK(hf_bproc_log_contains(b, "refused: queue or store full"));
	close(s);
	close(pub);
}

static void
queue_count_v311_q1(struct hf_bproc *b)
{
	queue_count(b, V3, 1);
}
static void
queue_count_v311_q2(struct hf_bproc *b)
{
	queue_count(b, V3, 2);
}
static void
queue_count_v5_q1(struct hf_bproc *b)
{
	queue_count(b, V5, 1);
}
static void
queue_count_v5_q2(struct hf_bproc *b)
{
	queue_count(b, V5, 2);
}

/* max_queued_bytes 1000 (payload bytes): four 250-byte QoS 1 messages fit
 * exactly, the fifth is refused; after the drain publishing works. */
static void
queue_bytes(struct hf_bproc *b, uint8_t ver)
{
	char pl[5][251];
	const char *pls[5];
	bool sp = false;
	int s, pub;

	for (int i = 0; i < 5; i++) {
		memset(pl[i], 'a' + i, 250);
		pl[i][250] = '\0';
		pls[i] = pl[i];
	}
	CHECK(offline_sub(b->port, ver, "bq", "byt/#"));
	pub = cconn(b->port, ver, "bp");
	CHECK(pub >= 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(hf_raw_publish(pub, ver, "byt/t", pl[i], 250, 1, false,
		                        (uint16_t)(i + 1)),
		         0);
	if (ver == V5) {
		CHECK_EQ(
		    hf_raw_publish(pub, ver, "byt/t", pl[4], 250, 1, false, 5),
		    QUOTA);
	} else {
		CHECK(refused_v311(pub, "byt/t", pl[4], 250, 1, 5));
		close(pub);
		pub = cconn(b->port, ver, "bp");
		CHECK(pub >= 0);
	}
	s = conn(b->port, ver, "bq", false, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK(drain(s, ver, pls, 4));
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	CHECK_EQ(hf_raw_publish(pub, ver, "byt/t", pl[4], 250, 1, false, 6), 0);
	CHECK(drain(s, ver, pls + 4, 1));
	close(s);
	close(pub);
}

static void
queue_bytes_v311(struct hf_bproc *b)
{
	queue_bytes(b, V3);
}
static void
queue_bytes_v5(struct hf_bproc *b)
{
	queue_bytes(b, V5);
}

#define BIG      4096
#define BIG_MAX  400 /* 1 MiB cannot hold this many 4 KiB messages */
#define SYS_REFD "$SYS/broker/publish/messages/refused"

/* Wait for $SYS/broker/publish/messages/refused > 0 on a new connection
 * (published every sys_interval = 1 s). */
static bool
sys_refused_positive(uint16_t port)
{
	int64_t deadline = hf_now_ms() + 4000;
	uint8_t buf[1024];
	int fd = cconn(port, V5, "sysw");
	bool ok = false;

	if (fd < 0)
		return false;
	if (hf_raw_subscribe(fd, V5, 1, SYS_REFD, 0, 0) != 0) {
		close(fd);
		return false;
	}
	while (!ok && hf_now_ms() < deadline) {
		struct hf_packet p;
		char v[32];

		if (hf_raw_expect_publish(fd, V5, (int)(deadline - hf_now_ms()),
		                          true, &p, buf, sizeof(buf)) != 1)
			break;
		snprintf(v, sizeof(v), "%.*s", (int)p.u.publish.payload.len,
		         (const char *)p.u.publish.payload.p);
		ok = atol(v) > 0;
		if (!ok)
			fprintf(stderr, "%s = %s\n", SYS_REFD, v);
	}
	close(fd);
	return ok;
}

/* Store full: persistence_max_size 1m. 4 KiB QoS 1 messages for an
 * offline persistent subscriber are accepted until the broker refuses one
 * (5.0: PUBACK 0x97) within a bounded count; a 3.1.1 publisher is then
 * disconnected without PUBACK; the broker stays up and serves other
 * clients; $SYS counts the refusals; every message acknowledged before the
 * refusal arrives, in order, when the subscriber comes back; and once it
 * has drained its queue publishing succeeds again. */
static void
t_store_full(struct hf_bproc *b)
{
	static char pl[BIG];
	uint8_t rbuf[BIG + 512];
	struct hf_packet p;
	bool sp = false;
	int n = 0, rc = 0, s, pub, live, v3;

	memset(pl, 'x', sizeof(pl));
	CHECK(offline_sub(b->port, V5, "full-sub", "big/#"));
	pub = cconn(b->port, V5, "full-pub");
	CHECK(pub >= 0);
	while (n < BIG_MAX) {
		snprintf(pl, 8, "%06d", n);
		pl[6] = 'x';
		rc = hf_raw_publish(pub, V5, "big/t", pl, sizeof(pl), 1, false,
		                    (uint16_t)(n + 1));
		if (rc != 0)
			break;
		n++;
	}
	fprintf(stderr, "store full after %d messages of %d bytes (rc %d)\n", n,
	        BIG, rc);
	CHECK_EQ(rc, QUOTA);
	CHECK(n > 10);
	/* Refused again, not dropped: the next one too. */
	CHECK_EQ(
	    hf_raw_publish(pub, V5, "big/t", pl, sizeof(pl), 1, false, 1000),
	    QUOTA);
	v3 = cconn(b->port, V3, "full-v3");
	CHECK(v3 >= 0);
	CHECK(refused_v311(v3, "big/t", pl, sizeof(pl), 1, 1));
	close(v3);
	/* Still serving: a fresh client gets a QoS 0 message through. */
	live = hf_raw_sub_client(b->port, V5, "live", "live", 0);
	CHECK(live >= 0);
	CHECK_EQ(hf_raw_publish(pub, V5, "live", "hi", 2, 0, false, 0), 0);
	CHECK_EQ(
	    hf_raw_expect_publish(live, V5, 3000, true, &p, rbuf, sizeof(rbuf)),
	    1);
	CHECK(hf_bytes_eq(p.u.publish.payload, "hi"));
	close(live);
	CHECK(sys_refused_positive(b->port));
	/* Nothing acknowledged was lost. */
	s = conn(b->port, V5, "full-sub", false, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	for (int i = 0; i < n; i++) {
		char want[8];

		snprintf(want, sizeof(want), "%06d", i);
		CHECK_EQ(hf_raw_expect_publish(s, V5, 5000, true, &p, rbuf,
		                               sizeof(rbuf)),
		         1);
		CHECK_EQ(p.u.publish.payload.len, BIG);
		if (memcmp(p.u.publish.payload.p, want, 6) != 0)
			fprintf(stderr, "message %d: got %.6s\n", i,
			        (const char *)p.u.publish.payload.p);
		CHECK_MEM(p.u.publish.payload.p, want, 6);
	}
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	/* Space freed: publishing succeeds again (conf/holdfast.conf). */
	CHECK_EQ(hf_raw_publish(pub, V5, "big/t", pl, sizeof(pl), 1, false, 2),
	         0);
	CHECK_EQ(
	    hf_raw_expect_publish(s, V5, 3000, true, &p, rbuf, sizeof(rbuf)),
	    1);
	close(s);
	close(pub);
}

#define LIMIT_CONF "max_queued_messages 5\nqueue_qos0_messages true"

int
main(void)
{
	HF_BCASE(queue_count_v311_q1, LIMIT_CONF);
	HF_BCASE(queue_count_v311_q2, LIMIT_CONF);
	HF_BCASE(queue_count_v5_q1, LIMIT_CONF);
	HF_BCASE(queue_count_v5_q2, LIMIT_CONF);
	HF_BCASE(queue_bytes_v311, "max_queued_bytes 1000");
	HF_BCASE(queue_bytes_v5, "max_queued_bytes 1000");
	HF_BCASE(t_store_full, "persistence_max_size 1m\n"
	                       "persistence_initial_size 256k\n"
	                       "sys_interval 1");
	return HF_DONE();
}
