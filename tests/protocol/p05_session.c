/* tests/protocol/p05_session.c - session state against the real broker:
 * 3.1.1 CleanSession 0/1, 5.0 Clean Start and Session Expiry Interval
 * (including a new interval given in DISCONNECT), queueing of QoS 1/2
 * messages while the client is offline.
 *
 * Expiry cases wait real time (the specification defines them in seconds):
 * intervals are 1-2 s so the file stays short. Each case has its own
 * broker. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

/* A persistent session keeps its subscriptions and queues QoS 1 and 2
 * messages while the client is offline [MQTT-3.1.2-4], [MQTT-3.1.2-5]
 * (3.1.1) / [MQTT-3.1.2-5] (5.0, Session Expiry > 0); on reconnect session
 * present is 1 [MQTT-3.2.2-2] / [MQTT-3.2.2-3] and the queued messages
 * arrive in order; the subscription still delivers new messages. */
static void
offline_queue(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	bool sp = true;
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);
	int s = hf_raw_connect_expiry(b->port, ver, "sess", false, 60, &sp);

	CHECK(pub >= 0 && s >= 0);
	CHECK(!sp);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "q/#", 2, 0), 2);
	CHECK_EQ(hf_raw_disconnect(s, ver, 0), 0);
	CHECK(hf_raw_wait_close(s, 3000, NULL));
	close(s);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "q/1", "a", 1, 1, false, 1)));
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "q/1", "b", 1, 2, false, 2)));
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "q/1", "c", 1, 1, false, 3)));
	s = hf_raw_connect_expiry(b->port, ver, "sess", false, 60, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(hf_raw_expect_publish(s, ver, 3000, true, &p, buf,
		                               sizeof(buf)),
		         1);
		CHECK(hf_bytes_eq(p.u.publish.topic, "q/1"));
		CHECK_EQ(p.u.publish.payload.len, 1);
		CHECK_EQ(p.u.publish.payload.p[0], "abc"[i]);
		CHECK_EQ(p.u.publish.qos, i == 1 ? 2 : 1);
	}
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "q/2", "d", 1, 1, false, 4)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "q/2"));
	close(s);
	close(pub);
}
BOTH(offline_queue)

/* Clean session / Clean Start 1 discards any existing session: session
 * present 0 [MQTT-3.1.2-6], [MQTT-3.2.2-1] (3.1.1) / [MQTT-3.1.2-4],
 * [MQTT-3.2.2-2] (5.0), and the old subscription no longer delivers. */
static void
clean_discards(struct hf_bproc *b, uint8_t ver)
{
	bool sp = true;
	int others;
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);
	int s = hf_raw_connect_expiry(b->port, ver, "sess", false, 60, &sp);

	CHECK(pub >= 0 && s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "cd", 1, 0), 1);
	close(s);
	s = hf_raw_connect_expiry(b->port, ver, "sess", true, 60, &sp);
	CHECK(s >= 0);
	CHECK(!sp);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "marker", 0, 0), 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "cd", "x", 1, 1, false, 1)));
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, ver, "marker", "m", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_until(s, ver, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}
BOTH(clean_discards)

/* 3.1.1: a CleanSession 1 session ends with the connection
 * [MQTT-3.1.2-6]; reconnecting with CleanSession 0 finds none. 5.0: with no
 * Session Expiry Interval (0) the session ends at close too
 * [MQTT-3.1.2-? section 3.1.2.11.2]. */
static void
no_session_kept(struct hf_bproc *b, uint8_t ver)
{
	bool sp = true;
	int s = hf_raw_connect_expiry(b->port, ver, "nk", ver == V3, 0, &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "x", 1, 0), 1);
	close(s);
	s = hf_raw_connect_expiry(b->port, ver, "nk", false, 0, &sp);
	CHECK(s >= 0);
	CHECK(!sp);
	close(s);
}
BOTH(no_session_kept)

/* 5.0 Session Expiry Interval 2 s: reconnecting within it finds the
 * session; after 3 s offline it is gone (3.1.2.11.2). */
static void
t_v5_session_expiry(struct hf_bproc *b)
{
	bool sp = false;
	int s = hf_raw_connect_expiry(b->port, V5, "exp", true, 2, &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "x", 1, 0), 1);
	close(s);
	hf_sleep_ms(300);
	s = hf_raw_connect_expiry(b->port, V5, "exp", false, 2, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	close(s);
	hf_sleep_ms(3000);
	s = hf_raw_connect_expiry(b->port, V5, "exp", false, 2, &sp);
	CHECK(s >= 0);
	CHECK(!sp);
	close(s);
}

/* Send a 5.0 DISCONNECT (reason 0) carrying a Session Expiry Interval. */
static int
disconnect_expiry(int fd, uint32_t expiry)
{
	struct hf_packet d;

	memset(&d, 0, sizeof(d));
	d.type = HF_DISCONNECT;
	d.u.ack.props.present = HF_PP_SESSION_EXPIRY;
	d.u.ack.props.session_expiry = expiry;
	return hf_raw_send_pkt(fd, &d, V5);
}

/* Session Expiry 0 at CONNECT, non-zero in DISCONNECT: a Protocol Error
 * [MQTT-3.14.2-2]; the server sends DISCONNECT 0x82 [MQTT-4.13.1-1] and
 * the session is not kept (its expiry stays 0). */
static void
t_v5_disconnect_expiry_error(struct hf_bproc *b)
{
	bool sp = true;
	int drc;
	int s = hf_raw_connect_expiry(b->port, V5, "de", true, 0, &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "x", 1, 0), 1);
	CHECK_EQ(disconnect_expiry(s, 100), 0);
	CHECK(hf_raw_wait_close(s, 3000, &drc));
	CHECK_EQ(drc, HF_RC_PROTOCOL_ERROR);
	close(s);
	s = hf_raw_connect_expiry(b->port, V5, "de", false, 0, &sp);
	CHECK(s >= 0);
	CHECK(!sp);
	close(s);
}

/* A non-zero Session Expiry Interval at CONNECT may be changed in
 * DISCONNECT (3.14.2.2.2): 1 s at CONNECT, 60 s at DISCONNECT => the
 * session is still there after 2 s. And 60 s at CONNECT, 0 at DISCONNECT
 * => the session ends at once. */
static void
t_v5_disconnect_new_expiry(struct hf_bproc *b)
{
	bool sp = false;
	int s = hf_raw_connect_expiry(b->port, V5, "dn", true, 1, &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "x", 1, 0), 1);
	CHECK_EQ(disconnect_expiry(s, 60), 0);
	CHECK(hf_raw_wait_close(s, 3000, NULL));
	close(s);
	hf_sleep_ms(2000);
	s = hf_raw_connect_expiry(b->port, V5, "dn", false, 60, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(disconnect_expiry(s, 0), 0);
	CHECK(hf_raw_wait_close(s, 3000, NULL));
	close(s);
	s = hf_raw_connect_expiry(b->port, V5, "dn", false, 60, &sp);
	CHECK(s >= 0);
	CHECK(!sp);
	close(s);
}

/* 5.0 Clean Start 0 with no existing session: session present 0
 * [MQTT-3.2.2-3 only when a session exists]; a zero-length Client
 * Identifier is allowed with Clean Start 0 in 5.0 (an id is assigned). */
static void
t_v5_resume_nothing(struct hf_bproc *b)
{
	bool sp = true;
	int s = hf_raw_connect_expiry(b->port, V5, "fresh", false, 10, &sp);

	CHECK(s >= 0);
	CHECK(!sp);
	close(s);
	s = hf_raw_connect_expiry(b->port, V5, "", false, 0, &sp);
	CHECK(s >= 0);
	CHECK(!sp);
	close(s);
}

int
main(void)
{
	HF_BCASE(offline_queue_v311, NULL);
	HF_BCASE(offline_queue_v5, NULL);
	HF_BCASE(clean_discards_v311, NULL);
	HF_BCASE(clean_discards_v5, NULL);
	HF_BCASE(no_session_kept_v311, NULL);
	HF_BCASE(no_session_kept_v5, NULL);
	HF_BCASE(t_v5_session_expiry, NULL);
	HF_BCASE(t_v5_disconnect_expiry_error, NULL);
	HF_BCASE(t_v5_disconnect_new_expiry, NULL);
	HF_BCASE(t_v5_resume_nothing, NULL);
	return HF_DONE();
}
