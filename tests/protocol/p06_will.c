/* tests/protocol/p06_will.c - Will Messages against the real broker,
 * MQTT 3.1.1 and 5.0: published on an abnormal close, not after a normal
 * DISCONNECT, published after 5.0 DISCONNECT 0x04, Will Delay Interval
 * (published after the delay, not at all when the client comes back in
 * time), will retain, will after a keep-alive timeout.
 *
 * A watcher client subscribes to the will topic; absence is checked with a
 * marker message sent after the point where the will would have been
 * published. Each case has its own broker. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

struct will_opts {
	uint8_t qos;
	bool retain;
	bool clean;
	uint16_t keepalive;
	uint32_t session_expiry; /* 5.0 */
	uint32_t will_delay;     /* 5.0, 0 = absent */
};

/* Connect id with a will on "will/<id>", payload "bye-<id>". */
static int
connect_will(uint16_t port, uint8_t ver, const char *id,
             const struct will_opts *o, char *topic, size_t tcap)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	static const char payload[] = "bye";
	int fd;

	snprintf(topic, tcap, "will/%s", id);
	hf_raw_connect_init(&c, ver, id, o->clean,
	                    o->keepalive ? o->keepalive : 60);
	c.u.connect.will = true;
	c.u.connect.will_qos = o->qos;
	c.u.connect.will_retain = o->retain;
	c.u.connect.will_topic.p = (const uint8_t *)topic;
	c.u.connect.will_topic.len = (uint32_t)strlen(topic);
	c.u.connect.will_payload.p = (const uint8_t *)payload;
	c.u.connect.will_payload.len = 3;
	if (ver == V5 && o->session_expiry) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = o->session_expiry;
	}
	if (ver == V5 && o->will_delay) {
		c.u.connect.will_props.present |= HF_PP_WILL_DELAY;
		c.u.connect.will_props.will_delay = o->will_delay;
	}
	fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd >= 0 && ca.u.connack.rc != 0) {
		fprintf(stderr, "CONNACK rc 0x%02x\n", ca.u.connack.rc);
		close(fd);
		return -1;
	}
	return fd;
}

/* Watcher: subscribed to "will/#" and "marker". */
static int
watcher(uint16_t port, uint8_t ver)
{
	int fd = hf_raw_sub_client(port, ver, "watch", "will/#", 2);

	if (fd >= 0 && hf_raw_subscribe(fd, ver, 2, "marker", 0, 0) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Closing the network connection without DISCONNECT publishes the will
 * [MQTT-3.1.2-8] with its topic, payload and QoS. */
static void
abnormal_close(struct hf_bproc *b, uint8_t ver)
{
	struct will_opts o = {.qos = 1, .clean = true};
	struct hf_packet p;
	uint8_t buf[512];
	char topic[64];
	int w = watcher(b->port, ver);
	int c = connect_will(b->port, ver, "ab", &o, topic, sizeof(topic));

	CHECK(w >= 0 && c >= 0);
	close(c);
	CHECK_EQ(
	    hf_raw_expect_publish(w, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "will/ab"));
	CHECK_EQ(p.u.publish.payload.len, 3);
	CHECK_MEM(p.u.publish.payload.p, "bye", 3);
	CHECK_EQ(p.u.publish.qos, 1);
	close(w);
}
BOTH(abnormal_close)

/* A normal DISCONNECT (5.0 reason 0x00) discards the will [MQTT-3.1.2-10]
 * (3.1.1) / [MQTT-3.1.2-10], [MQTT-3.14.4-3] (5.0). */
static void
normal_disconnect(struct hf_bproc *b, uint8_t ver)
{
	struct will_opts o = {.qos = 0, .clean = true};
	char topic[64];
	int others;
	int w = watcher(b->port, ver);
	int c = connect_will(b->port, ver, "nd", &o, topic, sizeof(topic));
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(w >= 0 && c >= 0 && pub >= 0);
	CHECK_EQ(hf_raw_disconnect(c, ver, 0), 0);
	CHECK(hf_raw_wait_close(c, 3000, NULL));
	close(c);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, ver, "marker", "m", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_until(w, ver, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(w);
	close(pub);
}
BOTH(normal_disconnect)

/* 5.0 DISCONNECT 0x04 (Disconnect with Will Message): the will is
 * published (3.14.2.1). */
static void
t_v5_disconnect_with_will(struct hf_bproc *b)
{
	struct will_opts o = {.qos = 0, .clean = true};
	struct hf_packet p;
	uint8_t buf[512];
	char topic[64];
	int w = watcher(b->port, V5);
	int c = connect_will(b->port, V5, "dw", &o, topic, sizeof(topic));

	CHECK(w >= 0 && c >= 0);
	CHECK_EQ(hf_raw_disconnect(c, V5, HF_RC_DISCONNECT_WITH_WILL), 0);
	CHECK(hf_raw_wait_close(c, 3000, NULL));
	close(c);
	CHECK_EQ(hf_raw_expect_publish(w, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "will/dw"));
	close(w);
}

/* Will Delay Interval 1 s (Session Expiry 10 s so the session outlives the
 * delay): the will comes no earlier than about 1 s after the close and by
 * 4 s [MQTT-3.1.3-9], 3.1.3.2.2. */
static void
t_v5_will_delay(struct hf_bproc *b)
{
	struct will_opts o = {
	    .qos = 0, .clean = true, .session_expiry = 10, .will_delay = 1};
	struct hf_packet p;
	uint8_t buf[512];
	char topic[64];
	int64_t t0;
	int w = watcher(b->port, V5);
	int c = connect_will(b->port, V5, "wd", &o, topic, sizeof(topic));

	CHECK(w >= 0 && c >= 0);
	close(c);
	t0 = hf_now_ms();
	CHECK_EQ(hf_raw_expect_publish(w, V5, 4000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(hf_now_ms() - t0 >= 800);
	CHECK(hf_bytes_eq(p.u.publish.topic, "will/wd"));
	close(w);
}

/* Will Delay Interval 2 s, the client reconnects to its session after
 * 300 ms: the will is not published [MQTT-3.1.3-9]. Checked 3 s after the
 * close with a marker. */
static void
t_v5_will_delay_reconnect(struct hf_bproc *b)
{
	struct will_opts o = {
	    .qos = 0, .clean = true, .session_expiry = 10, .will_delay = 2};
	struct will_opts o2 = {.qos = 0, .clean = false, .session_expiry = 10};
	char topic[64];
	int others;
	int w = watcher(b->port, V5);
	int c = connect_will(b->port, V5, "wr", &o, topic, sizeof(topic));
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);
	struct hf_packet cp, ca;
	uint8_t buf[512];

	CHECK(w >= 0 && c >= 0 && pub >= 0);
	close(c);
	hf_sleep_ms(300);
	/* Back, without a will this time. */
	hf_raw_connect_init(&cp, V5, "wr", o2.clean, 60);
	cp.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
	cp.u.connect.props.session_expiry = 10;
	c = hf_raw_connect_pkt(b->port, &cp, &ca, buf, sizeof(buf));
	CHECK(c >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	CHECK(ca.u.connack.session_present);
	hf_sleep_ms(2700);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, V5, "marker", "m", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_until(w, V5, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(c);
	close(w);
	close(pub);
}

/* Will Retain 1: the will is published as a retained message
 * [MQTT-3.1.2-17]; a later subscriber gets it with RETAIN 1. */
static void
will_retain(struct hf_bproc *b, uint8_t ver)
{
	struct will_opts o = {.qos = 1, .retain = true, .clean = true};
	struct hf_packet p;
	uint8_t buf[512];
	char topic[64];
	int w = watcher(b->port, ver);
	int c = connect_will(b->port, ver, "wret", &o, topic, sizeof(topic));
	int s;

	CHECK(w >= 0 && c >= 0);
	close(c);
	/* Wait until it has been published at all. */
	CHECK_EQ(
	    hf_raw_expect_publish(w, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	s = hf_raw_sub_client(b->port, ver, "late", "will/wret", 1);
	CHECK(s >= 0);
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(p.u.publish.retain);
	CHECK_MEM(p.u.publish.payload.p, "bye", 3);
	close(s);
	close(w);
}
BOTH(will_retain)

/* A keep-alive timeout is an abnormal end: the will is published
 * [MQTT-3.1.2-8] (the server closes the connection itself). */
static void
keepalive_will(struct hf_bproc *b, uint8_t ver)
{
	struct will_opts o = {.qos = 0, .clean = true, .keepalive = 1};
	struct hf_packet p;
	uint8_t buf[512];
	char topic[64];
	int w = watcher(b->port, ver);
	int c = connect_will(b->port, ver, "kw", &o, topic, sizeof(topic));

	CHECK(w >= 0 && c >= 0);
	CHECK_EQ(
	    hf_raw_expect_publish(w, ver, 4500, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "will/kw"));
	CHECK(hf_raw_wait_close(c, 1000, NULL));
	close(c);
	close(w);
}
BOTH(keepalive_will)

/* A protocol violation closing the connection is abnormal too: the will is
 * published (3.1.1 3.1.2.5 lists "the Server closes the Network Connection
 * because of a protocol error"). */
static void
protocol_error_will(struct hf_bproc *b, uint8_t ver)
{
	static const uint8_t bad[] = {0x00, 0x00}; /* reserved type 0 */
	struct will_opts o = {.qos = 0, .clean = true};
	struct hf_packet p;
	uint8_t buf[512];
	char topic[64];
	int w = watcher(b->port, ver);
	int c = connect_will(b->port, ver, "pe", &o, topic, sizeof(topic));

	CHECK(w >= 0 && c >= 0);
	CHECK_EQ(hf_raw_send(c, bad, sizeof(bad)), 0);
	CHECK(hf_raw_wait_close(c, 3000, NULL));
	close(c);
	CHECK_EQ(
	    hf_raw_expect_publish(w, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "will/pe"));
	close(w);
}
BOTH(protocol_error_will)

int
main(void)
{
	HF_BCASE(abnormal_close_v311, NULL);
	HF_BCASE(abnormal_close_v5, NULL);
	HF_BCASE(normal_disconnect_v311, NULL);
	HF_BCASE(normal_disconnect_v5, NULL);
	HF_BCASE(t_v5_disconnect_with_will, NULL);
	HF_BCASE(t_v5_will_delay, NULL);
	HF_BCASE(t_v5_will_delay_reconnect, NULL);
	HF_BCASE(will_retain_v311, NULL);
	HF_BCASE(will_retain_v5, NULL);
	HF_BCASE(keepalive_will_v311, NULL);
	HF_BCASE(keepalive_will_v5, NULL);
	HF_BCASE(protocol_error_will_v311, NULL);
	HF_BCASE(protocol_error_will_v5, NULL);
	return HF_DONE();
}
