/* tests/protocol/p18_bookkeeping.c - packet sequences that once made the
 * engine's bookkeeping of store references disagree with the store, which
 * then stopped the broker for every client (issue 8).
 *
 * The first case replays, byte for byte, the stream an abuse tool found: a
 * v5 CONNECT with session expiry 5 and a will, subscriptions, publishes
 * through a topic alias, a PUBREL, a PUBACK for an unknown id, UNSUBSCRIBE,
 * PINGREQ and a DISCONNECT setting the session expiry to 0. The others are
 * the smallest sequences that reach the same fault (a will's store
 * reference given back by the engine while the session's store record
 * still named the will, so deleting the record gave it back twice) and the
 * neighbouring paths of a will's life: replaced, published to its own
 * session, resumed with expiry 0.
 *
 * After each case the broker must still serve a fresh client, stop cleanly
 * (exit 0: a failed store write makes it exit 1), start again from its
 * store, and the store must pass holdfast-db check. Single-threaded; every
 * wait has a deadline. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"



static const char issue_stream[] =
    "105100044d51545405ce001e191100000005210014270001000022000517012600016b"
    "0001760004626d3436141800000000010103000a746578742f706c61696e0007626d2f"
    "77696c6c000177000175000170822c0001090b07260001610001620004626d2f610500"
    "06626d2f2b2f231a000d2473686172652f672f626d2f730130320004626d2f61262300"
    "01020000003c010103000174080007626d2f62657370090004636f7272260001780001"
    "7968656c6c6f320f0000000203230001616c6961736564340d0006626d2f612f630003"
    "007132620400030000400a000910061f0003776879a210000407260001750001760004"
    "626d2f61c000e00700051100000000";

static size_t
unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (; h[0] && h[1] && n < cap; h += 2) {
		unsigned v;

		if (sscanf(h, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* The broker still works for someone else: a fresh subscriber receives a
 * QoS 1 message from a fresh publisher. */
static void
serves_fresh_client(struct hf_bproc *b)
{
	struct hf_packet p;
	uint8_t buf[512];
	int sub, pub;

	sub = hf_raw_sub_client(b->port, V5, "fresh-sub", "fresh/t", 1);
	CHECK(sub >= 0);
	pub = hf_raw_connect(b->port, V3, "fresh-pub", true, 30, NULL, NULL);
	CHECK(pub >= 0);
	CHECK_EQ(hf_raw_publish(pub, V3, "fresh/t", "ok", 2, 1, false, 1), 0);
	CHECK_EQ(hf_raw_expect_publish(sub, V5, 3000, true, &p, buf,
	                               sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.payload, "ok"));
	close(pub);
	close(sub);
}

/* Nothing went wrong in the store, the broker restarts from it, and the
 * store passes the checker. */
static void
store_sound(struct hf_bproc *b)
{
	CHECK(!hf_bproc_log_contains(b, "inconsistency"));
	CHECK(!hf_bproc_log_contains(b, "Error: store"));
	CHECK(hf_bproc_alive(b));
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_test_store_check(b->dir), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	serves_fresh_client(b);
}

static int
connect_will(uint16_t port, uint8_t ver, const char *id, bool clean,
             uint32_t expiry, const char *will_topic)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	int fd;

	hf_raw_connect_init(&c, ver, id, clean, 60);
	if (will_topic) {
		c.u.connect.will = true;
		c.u.connect.will_qos = 1;
		c.u.connect.will_topic.p = (const uint8_t *)will_topic;
		c.u.connect.will_topic.len = (uint32_t)strlen(will_topic);
		c.u.connect.will_payload.p = (const uint8_t *)id;
		c.u.connect.will_payload.len = (uint32_t)strlen(id);
	}
	if (ver == V5 && expiry) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = expiry;
	}
	fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd >= 0 && ca.u.connack.rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* v5 DISCONNECT with a reason code and a Session Expiry Interval. */
static int
disconnect_expiry(int fd, uint8_t rc, uint32_t expiry)
{
	struct hf_packet d;

	memset(&d, 0, sizeof(d));
	d.type = HF_DISCONNECT;
	d.u.ack.rc = rc;
	d.u.ack.props.present = HF_PP_SESSION_EXPIRY;
	d.u.ack.props.session_expiry = expiry;
	return hf_raw_send_pkt(fd, &d, V5);
}

static void
issue_stream_case(struct hf_bproc *b)
{
	uint8_t bytes[512];
	size_t n = unhex(issue_stream, bytes, sizeof(bytes));
	int fd;

	CHECK_EQ(n, (sizeof(issue_stream) - 1) / 2);
	fd = hf_raw_open(b->port);
	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_send(fd, bytes, n), 0);
	/* The DISCONNECT at the end closes it normally. */
	CHECK(hf_raw_wait_close(fd, 5000, NULL));
	close(fd);
	serves_fresh_client(b);
	store_sound(b);
}

/* The smallest sequence: a stored session with a will ends at DISCONNECT
 * (reason 0, so no will) that sets its expiry to 0. */
static void
expiry0_at_disconnect(struct hf_bproc *b)
{
	int fd = connect_will(b->port, V5, "w1", true, 5, "w/1");

	CHECK(fd >= 0);
	CHECK_EQ(disconnect_expiry(fd, 0, 0), 0);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
	serves_fresh_client(b);
	store_sound(b);
}

/* A stored session resumed with expiry 0 and a new will, ended by a normal
 * DISCONNECT; then the same, ended by a dropped connection (the will must
 * be published once). */
static void
resumed_expiry0(struct hf_bproc *b)
{
	struct hf_packet p;
	uint8_t buf[512];
	int w, fd;

	w = hf_raw_sub_client(b->port, V5, "watch", "w/#", 1);
	CHECK(w >= 0);
	fd = connect_will(b->port, V5, "w2", true, 60, "w/2");
	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_disconnect(fd, V5, 0), 0);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
	fd = connect_will(b->port, V5, "w2", false, 0, "w/2");
	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_disconnect(fd, V5, 0), 0);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);

	fd = connect_will(b->port, V5, "w3", true, 60, NULL);
	CHECK(fd >= 0);
	close(fd);
	fd = connect_will(b->port, V5, "w3", false, 0, "w/3");
	CHECK(fd >= 0);
	close(fd); /* abnormal: the will goes out */
	CHECK_EQ(hf_raw_expect_publish(w, V5, 3000, true, &p, buf,
	                               sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "w/3"));
	CHECK(hf_raw_ping(w, 1000) == 1); /* and only once */
	close(w);
	serves_fresh_client(b);
	store_sound(b);
}

/* A will that matches the session's own subscription, published by
 * DISCONNECT 0x04 that also ends the session (expiry 0): the will is
 * queued to the dying session itself, and to a watcher. */
static void
will_to_itself(struct hf_bproc *b)
{
	struct hf_packet p;
	uint8_t buf[512];
	int w, fd;

	w = hf_raw_sub_client(b->port, V5, "watch", "w/#", 1);
	CHECK(w >= 0);
	fd = connect_will(b->port, V5, "w4", true, 60, "w/4");
	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_subscribe(fd, V5, 1, "w/#", 2, 0), 2);
	CHECK_EQ(disconnect_expiry(fd, HF_RC_DISCONNECT_WITH_WILL, 0), 0);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
	CHECK_EQ(hf_raw_expect_publish(w, V5, 3000, true, &p, buf,
	                               sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "w/4"));
	close(w);
	serves_fresh_client(b);
	store_sound(b);
}

/* 3.1.1: a persistent session's will replaced by a takeover (which
 * publishes the first will: the old connection did not DISCONNECT), then
 * the connection dropped: each will is published once, and every store
 * reference of both is given back. */
static void
will_replaced(struct hf_bproc *b)
{
	struct hf_packet p;
	uint8_t buf[512];
	int w, a, c;

	w = hf_raw_sub_client(b->port, V3, "watch", "w/#", 1);
	CHECK(w >= 0);
	a = connect_will(b->port, V3, "w5", false, 0, "w/first");
	CHECK(a >= 0);
	c = connect_will(b->port, V3, "w5", false, 0, "w/second");
	CHECK(c >= 0);
	CHECK(hf_raw_wait_close(a, 3000, NULL)); /* taken over */
	close(a);
	CHECK_EQ(hf_raw_expect_publish(w, V3, 3000, true, &p, buf,
	                               sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "w/first"));
	close(c);
	CHECK_EQ(hf_raw_expect_publish(w, V3, 3000, true, &p, buf,
	                               sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "w/second"));
	CHECK(hf_raw_ping(w, 1000) == 1);
	close(w);
	/* The session stays, without a will: end it cleanly. */
	c = hf_raw_connect(b->port, V3, "w5", true, 30, NULL, NULL);
	CHECK(c >= 0);
	close(c);
	serves_fresh_client(b);
	store_sound(b);
}

int
main(void)
{
	HF_BCASE(issue_stream_case, "max_packet_size 1048576\n");
	HF_BCASE(expiry0_at_disconnect, NULL);
	HF_BCASE(resumed_expiry0, NULL);
	HF_BCASE(will_to_itself, NULL);
	HF_BCASE(will_replaced, NULL);
	return HF_DONE();
}
