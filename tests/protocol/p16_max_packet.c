/* tests/protocol/p16_max_packet.c - MQTT 5.0 Maximum Packet Size of the
 * client, every way a message can reach it.
 *
 * "The Server MUST NOT send packets exceeding Maximum Packet Size to the
 * Client" [MQTT-3.1.2-24]; "Where a Packet is too large to send, the Server
 * MUST discard it without sending it and then behave as if it had completed
 * sending that Application Message" [MQTT-3.1.2-25]. So a message too large
 * for a subscriber is dropped for it, and what comes after still flows: live
 * and queued, QoS 1 and 2, clean and persistent sessions, several queued
 * behind a full window, queued while the subscriber was offline, and in
 * flight across a broker restart when the client comes back with a smaller
 * limit. Each case ends with a marker (QoS 0) that must be the next packet
 * after the expected ones, so nothing too large slipped through. (The last
 * case stalled: an entry read back from the store as in flight was kept in
 * the window although its resend no longer fitted.)
 *
 * One broker per HF_BCASE. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define LIMIT 128 /* the subscriber's Maximum Packet Size */

static char big[600]; /* a payload that never fits LIMIT */

/* Connect a v5 subscriber with Maximum Packet Size LIMIT (and Receive
 * Maximum recv_max when non-zero); persistent when expiry > 0. Returns the
 * fd or -1; *present gets Session Present. */
static int
sub_connect(uint16_t port, const char *id, uint32_t expiry, uint16_t recv_max,
            uint32_t limit, bool *present)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	int fd;

	hf_raw_connect_init(&c, V5, id, expiry == 0, 60);
	c.u.connect.props.present |= HF_PP_MAX_PACKET_SIZE;
	c.u.connect.props.max_packet_size = limit;
	if (expiry) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = expiry;
	}
	if (recv_max) {
		c.u.connect.props.present |= HF_PP_RECEIVE_MAX;
		c.u.connect.props.receive_max = recv_max;
	}
	fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd < 0)
		return -1;
	if (ca.u.connack.rc != 0) {
		close(fd);
		return -1;
	}
	if (present)
		*present = ca.u.connack.session_present;
	return fd;
}

/* Expect the next PUBLISH to carry payload want (acknowledged). */
static bool
expect_payload(int fd, const char *want)
{
	struct hf_packet p;
	uint8_t buf[1024];

	if (hf_raw_expect_publish(fd, V5, 3000, true, &p, buf, sizeof(buf)) !=
	    1) {
		fprintf(stderr, "no PUBLISH (wanted %s)\n", want);
		return false;
	}
	if (!hf_bytes_eq(p.u.publish.payload, want)) {
		fprintf(stderr, "got %.*s, wanted %s\n",
		        (int)p.u.publish.payload.len,
		        (const char *)p.u.publish.payload.p, want);
		return false;
	}
	return true;
}

/* Publish a QoS 0 marker and expect it as the next PUBLISH. */
static bool
marker_next(int pub, int s)
{
	int others = -1;

	if (hf_raw_publish(pub, V5, "mp/marker", "m", 1, 0, false, 0) != 0)
		return false;
	return hf_raw_until(s, V5, "mp/marker", 3000, &others) == 1 &&
	       others == 0;
}

/* Live delivery: too large, then small, for a subscription at qos, on a
 * clean (expiry 0) or persistent session. */
static void
live(struct hf_bproc *b, uint8_t qos, uint32_t expiry)
{
	int pub = hf_raw_connect(b->port, V5, "pub", true, 60, NULL, NULL);
	int s = sub_connect(b->port, "sub", expiry, 0, LIMIT, NULL);

	CHECK(pub >= 0 && s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "mp/#", qos, 0), qos);
	for (int i = 0; i < 3; i++) {
		char small[16];

		snprintf(small, sizeof(small), "small%d", i);
		CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "mp/t", big,
		                               sizeof(big), qos, false,
		                               (uint16_t)(2 * i + 1))));
		CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "mp/t", small,
		                               strlen(small), qos, false,
		                               (uint16_t)(2 * i + 2))));
		CHECK(expect_payload(s, small));
	}
	CHECK(marker_next(pub, s));
	close(s);
	close(pub);
}

static void
t_live_q1_clean(struct hf_bproc *b)
{
	live(b, 1, 0);
}

static void
t_live_q2_clean(struct hf_bproc *b)
{
	live(b, 2, 0);
}

static void
t_live_q1_persistent(struct hf_bproc *b)
{
	live(b, 1, 60);
}

static void
t_live_q2_persistent(struct hf_bproc *b)
{
	live(b, 2, 60);
}

/* Several queued behind a full window (Receive Maximum 1): the first
 * message is held unacknowledged while big and small ones queue; each
 * acknowledgment must bring the next small one, the big ones being skipped
 * as if sent. */
static void
queued(struct hf_bproc *b, uint8_t qos, uint32_t expiry)
{
	static const char *const order[] = {"big", "s1", "big", "big",
	                                    "s2",  "s3", "big"};
	struct hf_packet p;
	uint8_t buf[1024];
	int pub = hf_raw_connect(b->port, V5, "pub", true, 60, NULL, NULL);
	int s = sub_connect(b->port, "sub", expiry, 1, LIMIT, NULL);
	uint16_t pid = 1;

	CHECK(pub >= 0 && s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "mp/#", qos, 0), qos);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, V5, "mp/t", "s0", 2, qos, false, pid++)));
	/* s0 is in flight and stays unacknowledged for now. */
	CHECK_EQ(
	    hf_raw_expect_publish(s, V5, 3000, false, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.payload, "s0"));
	uint16_t first = p.u.publish.pid;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		bool is_big = order[i][0] == 'b';
		CHECK(HF_PUB_OK(
		    hf_raw_publish(pub, V5, "mp/t", is_big ? big : order[i],
		                   is_big ? sizeof(big) : strlen(order[i]), qos,
		                   false, pid++)));
	}
	if (qos == 1) {
		CHECK_EQ(hf_raw_ack(s, V5, HF_PUBACK, first, 0), 0);
	} else {
		CHECK_EQ(hf_raw_ack(s, V5, HF_PUBREC, first, 0), 0);
		CHECK_EQ(hf_raw_recvb(s, V5, 3000, &p, buf, sizeof(buf)), 1);
		CHECK_EQ(p.type, HF_PUBREL);
		CHECK_EQ(hf_raw_ack(s, V5, HF_PUBCOMP, first, 0), 0);
	}
	CHECK(expect_payload(s, "s1"));
	CHECK(expect_payload(s, "s2"));
	CHECK(expect_payload(s, "s3"));
	CHECK(marker_next(pub, s));
	close(s);
	close(pub);
}

static void
t_queued_q1_clean(struct hf_bproc *b)
{
	queued(b, 1, 0);
}

static void
t_queued_q2_clean(struct hf_bproc *b)
{
	queued(b, 2, 0);
}

static void
t_queued_q1_persistent(struct hf_bproc *b)
{
	queued(b, 1, 60);
}

static void
t_queued_q2_persistent(struct hf_bproc *b)
{
	queued(b, 2, 60);
}

/* Queued while the subscriber is offline: big ones first and between the
 * small ones; on reconnection only the small ones arrive, in order. */
static void
offline(struct hf_bproc *b, uint8_t qos, uint16_t recv_max)
{
	bool present = false;
	int pub = hf_raw_connect(b->port, V5, "pub", true, 60, NULL, NULL);
	int s = sub_connect(b->port, "sub", 60, recv_max, LIMIT, NULL);
	uint16_t pid = 1;

	CHECK(pub >= 0 && s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "mp/#", qos, 0), qos);
	CHECK_EQ(hf_raw_disconnect(s, V5, 0), 0);
	CHECK(hf_raw_wait_close(s, 3000, NULL));
	close(s);
	static const char *const order[] = {"big", "big", "o1",
	                                    "big", "o2",  "big"};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		bool is_big = order[i][0] == 'b';
		CHECK(HF_PUB_OK(
		    hf_raw_publish(pub, V5, "mp/t", is_big ? big : order[i],
		                   is_big ? sizeof(big) : strlen(order[i]), qos,
		                   false, pid++)));
	}
	s = sub_connect(b->port, "sub", 60, recv_max, LIMIT, &present);
	CHECK(s >= 0);
	CHECK(present);
	CHECK(expect_payload(s, "o1"));
	CHECK(expect_payload(s, "o2"));
	CHECK(marker_next(pub, s));
	close(s);
	close(pub);
}

static void
t_offline_q1(struct hf_bproc *b)
{
	offline(b, 1, 0);
}

static void
t_offline_q2(struct hf_bproc *b)
{
	offline(b, 2, 0);
}

static void
t_offline_q1_window1(struct hf_bproc *b)
{
	offline(b, 1, 1);
}

/* A retained message too large for the subscriber is skipped on
 * subscription; the next one arrives. */
static void
t_retained(struct hf_bproc *b)
{
	int pub = hf_raw_connect(b->port, V5, "pub", true, 60, NULL, NULL);
	int s = sub_connect(b->port, "sub", 60, 1, LIMIT, NULL);

	CHECK(pub >= 0 && s >= 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, V5, "mp/r", big, sizeof(big), 1, true, 1)));
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "mp/#", 1, 0), 1);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, V5, "mp/t", "after", 5, 1, false, 2)));
	CHECK(expect_payload(s, "after"));
	CHECK(marker_next(pub, s));
	close(s);
	close(pub);
}

/* In flight when the broker stops (sent, not acknowledged); after the
 * restart the client comes back with a smaller Maximum Packet Size, so the
 * resend no longer fits: it is discarded and the window (Receive Maximum 1)
 * is free for the next message. */
static void
t_inflight_restart_smaller(struct hf_bproc *b)
{
	struct hf_packet p;
	uint8_t buf[1024];
	char mid[200];
	int pub = hf_raw_connect(b->port, V5, "pub", true, 60, NULL, NULL);
	int s = sub_connect(b->port, "sub", 600, 1, 1000, NULL);

	CHECK(pub >= 0 && s >= 0);
	memset(mid, 'M', sizeof(mid));
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "mp/#", 1, 0), 1);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, V5, "mp/t", mid, sizeof(mid), 1, false, 1)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, V5, 3000, false, &p, buf, sizeof(buf)), 1);
	CHECK_EQ(p.u.publish.payload.len, sizeof(mid));
	close(pub);
	close(s);
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	pub = hf_raw_connect(b->port, V5, "pub", true, 60, NULL, NULL);
	bool present = false;
	s = sub_connect(b->port, "sub", 600, 1, LIMIT, &present);
	CHECK(pub >= 0 && s >= 0);
	CHECK(present);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, V5, "mp/t", "next", 4, 1, false, 2)));
	CHECK(expect_payload(s, "next"));
	CHECK(marker_next(pub, s));
	close(s);
	close(pub);
}

/* The same without a restart: in flight, then the client reconnects with a
 * smaller limit. */
static void
t_inflight_reconnect_smaller(struct hf_bproc *b)
{
	struct hf_packet p;
	uint8_t buf[1024];
	char mid[200];
	bool present = false;
	int pub = hf_raw_connect(b->port, V5, "pub", true, 60, NULL, NULL);
	int s = sub_connect(b->port, "sub", 600, 1, 1000, NULL);

	CHECK(pub >= 0 && s >= 0);
	memset(mid, 'M', sizeof(mid));
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "mp/#", 1, 0), 1);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, V5, "mp/t", mid, sizeof(mid), 1, false, 1)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, V5, 3000, false, &p, buf, sizeof(buf)), 1);
	close(s);
	s = sub_connect(b->port, "sub", 600, 1, LIMIT, &present);
	CHECK(s >= 0);
	CHECK(present);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, V5, "mp/t", "next", 4, 1, false, 2)));
	CHECK(expect_payload(s, "next"));
	CHECK(marker_next(pub, s));
	close(s);
	close(pub);
}

/* One client publishing to its own subscription with a Maximum Packet Size
 * of 40: a 41-byte delivery is skipped (PUBACK only, then PINGRESP as the
 * next packet), a 40-byte one arrives with its PUBACK (either order). */
static void
t_self(struct hf_bproc *b)
{
	static const char topic[] = "12/max/publish/qos1/test/topic"; /* 30 */
	struct hf_packet p;
	uint8_t buf[512];
	bool got_ack = false, got_pub = false;
	int s = sub_connect(b->port, "self", 0, 0, 40, NULL);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, topic, 1, 0), 1);
	/* 2 + 30 + 2 + 1 + 4 = 39 bytes of body: 41 with the header. */
	CHECK_EQ(hf_raw_publish(s, V5, topic, "1234", 4, 1, false, 1), 0);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	/* 38 bytes of body, 40 in all: fits exactly. */
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.qos = 1;
	p.u.publish.pid = 3;
	p.u.publish.topic.p = (const uint8_t *)topic;
	p.u.publish.topic.len = sizeof(topic) - 1;
	p.u.publish.payload.p = (const uint8_t *)"789";
	p.u.publish.payload.len = 3;
	CHECK_EQ(hf_raw_send_pkt(s, &p, V5), 0);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(hf_raw_recvb(s, V5, 3000, &p, buf, sizeof(buf)), 1);
		if (p.type == HF_PUBACK) {
			CHECK_EQ(p.u.ack.pid, 3);
			got_ack = true;
		} else {
			CHECK_EQ(p.type, HF_PUBLISH);
			CHECK(hf_bytes_eq(p.u.publish.payload, "789"));
			CHECK_EQ(
			    hf_raw_ack(s, V5, HF_PUBACK, p.u.publish.pid, 0),
			    0);
			got_pub = true;
		}
	}
	CHECK(got_ack && got_pub);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	close(s);
}

int
main(void)
{
	memset(big, 'B', sizeof(big));
	HF_BCASE(t_self, NULL);
	HF_BCASE(t_live_q1_clean, NULL);
	HF_BCASE(t_live_q2_clean, NULL);
	HF_BCASE(t_live_q1_persistent, NULL);
	HF_BCASE(t_live_q2_persistent, NULL);
	HF_BCASE(t_live_q1_clean, "persistence false");
	HF_BCASE(t_queued_q1_clean, NULL);
	HF_BCASE(t_queued_q2_clean, NULL);
	HF_BCASE(t_queued_q1_persistent, NULL);
	HF_BCASE(t_queued_q2_persistent, NULL);
	HF_BCASE(t_queued_q1_persistent, "persistence false");
	HF_BCASE(t_offline_q1, NULL);
	HF_BCASE(t_offline_q2, NULL);
	HF_BCASE(t_offline_q1_window1, NULL);
	HF_BCASE(t_offline_q1, "persistence false");
	HF_BCASE(t_offline_q2, "max_inflight_messages 1");
	HF_BCASE(t_retained, NULL);
	HF_BCASE(t_inflight_reconnect_smaller, NULL);
	HF_BCASE(t_inflight_restart_smaller, NULL);
	return HF_DONE();
}
