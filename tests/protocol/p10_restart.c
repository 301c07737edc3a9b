/* tests/protocol/p10_restart.c - durable state across broker restarts.
 *
 * Each case builds some session state over MQTT, then "bounces" the
 * broker: either a graceful stop (SIGTERM, which must exit 0) or a SIGKILL,
 * followed by a restart on the same store and config (hf_bproc_restart: a
 * new port, so b->port is read again after every bounce). What must
 * survive (conf/holdfast.conf, "Persistence"; persistence/README.md):
 * persistent sessions and their subscriptions, queued and in-flight QoS 1/2
 * messages with their QoS 2 stage, inbound QoS 2 packet ids, retained
 * messages (and their deletion), armed wills with their due time, session
 * and message expiry measured in wall-clock time across the downtime. What
 * must not: clean sessions. holdfast-db must list what the stopped broker
 * left, and `holdfast-db check` must find the store consistent after every
 * stop or kill and at the end of every case, with the broker running
 * (hf_test_store_check).
 *
 * Holdfast sends nothing (acknowledgments, deliveries, closes) before the
 * loop turn's store commit, so whatever a test client has received is
 * durable: a SIGKILL right after it must lose nothing. Tests therefore wait
 * for the broker's replies (PUBACK, SUBACK, the close after DISCONNECT)
 * before a bounce and never sleep for synchronisation; the only sleeps are
 * the downtimes and delays the cases are about.
 *
 * Every case runs against a broker of its own, for 3.1.1 and 5.0 where the
 * feature exists, and with both bounce modes. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

enum bounce_mode { TERM, KILL };

/* After a case that passed, what the running broker last committed must
 * be consistent. */
static void
store_ok(struct hf_bproc *b)
{
	if (!hf_test_failed_)
		CHECK_EQ(hf_test_store_check(b->dir), 0);
}

/* One case function per version and bounce mode. */
#define CASES4(fn)                                                             \
	static void fn##_v311_term(struct hf_bproc *b)                         \
	{                                                                      \
		fn(b, V3, TERM);                                               \
		store_ok(b);                                                   \
	}                                                                      \
	static void fn##_v311_kill(struct hf_bproc *b)                         \
	{                                                                      \
		fn(b, V3, KILL);                                               \
		store_ok(b);                                                   \
	}                                                                      \
	static void fn##_v5_term(struct hf_bproc *b)                           \
	{                                                                      \
		fn(b, V5, TERM);                                               \
		store_ok(b);                                                   \
	}                                                                      \
	static void fn##_v5_kill(struct hf_bproc *b)                           \
	{                                                                      \
		fn(b, V5, KILL);                                               \
		store_ok(b);                                                   \
	}
#define RUN4(fn)                                                               \
	do {                                                                   \
		HF_BCASE(fn##_v311_term, NULL);                                \
		HF_BCASE(fn##_v311_kill, NULL);                                \
		HF_BCASE(fn##_v5_term, NULL);                                  \
		HF_BCASE(fn##_v5_kill, NULL);                                  \
	} while (0)
/* 5.0-only features. */
#define CASES2(fn)                                                             \
	static void fn##_term(struct hf_bproc *b)                              \
	{                                                                      \
		fn(b, TERM);                                                   \
		store_ok(b);                                                   \
	}                                                                      \
	static void fn##_kill(struct hf_bproc *b)                              \
	{                                                                      \
		fn(b, KILL);                                                   \
		store_ok(b);                                                   \
	}
#define RUN2(fn)                                                               \
	do {                                                                   \
		HF_BCASE(fn##_term, NULL);                                     \
		HF_BCASE(fn##_kill, NULL);                                     \
	} while (0)

/* Stop (graceful: exit status must be 0) or kill the broker; either way
 * the store it leaves must be consistent. */
static bool
halt(struct hf_bproc *b, enum bounce_mode mode)
{
	bool ok = true;

	if (mode == KILL)
		hf_bproc_kill(b);
	else
		ok = hf_bproc_stop(b) == 0;
	return hf_test_store_check(b->dir) == 0 && ok;
}

/* halt + restart on the same store; b->port is the new port. */
static bool
bounce(struct hf_bproc *b, enum bounce_mode mode)
{
	return halt(b, mode) && hf_bproc_restart(b) == 0;
}

/* A persistent session: 3.1.1 CleanSession 0; 5.0 Clean Start 0 with a
 * Session Expiry Interval of an hour. */
static int
pconn(uint16_t port, uint8_t ver, const char *id, bool *sp)
{
	return hf_raw_connect_expiry(port, ver, id, false, 3600, sp);
}

/* A clean, non-persistent connection. */
static int
cconn(uint16_t port, uint8_t ver, const char *id)
{
	bool sp;

	return hf_raw_connect_expiry(port, ver, id, true, 0, &sp);
}

/* Leave with DISCONNECT and wait for the broker's close: the broker closes
 * only after the turn's commit, so the session's state is on disk. */
static bool
leave(int fd, uint8_t ver)
{
	bool ok = hf_raw_disconnect(fd, ver, 0) == 0 &&
	          hf_raw_wait_close(fd, 3000, NULL);

	close(fd);
	return ok;
}

/* Send a PUBLISH built by hand (for DUP and message expiry). */
static int
send_publish(int fd, uint8_t ver, const char *topic, const char *payload,
             uint8_t qos, bool dup, uint16_t pid, uint32_t msg_expiry)
{
	struct hf_packet p;

	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.dup = dup;
	p.u.publish.pid = qos ? pid : 0;
	p.u.publish.topic.p = (const uint8_t *)topic;
	p.u.publish.topic.len = (uint32_t)strlen(topic);
	p.u.publish.payload.p = (const uint8_t *)payload;
	p.u.publish.payload.len = (uint32_t)strlen(payload);
	if (ver == V5 && msg_expiry) {
		p.u.publish.props.present |= HF_PP_MESSAGE_EXPIRY;
		p.u.publish.props.message_expiry = msg_expiry;
	}
	return hf_raw_send_pkt(fd, &p, ver);
}

/* Expect the next packet to be an acknowledgment `type` for pid. Returns
 * its reason code or -1. */
static int
expect_ack(int fd, uint8_t ver, uint8_t type, uint16_t pid)
{
	struct hf_packet p;
	uint8_t buf[512];
	int r = hf_raw_recvb(fd, ver, 5000, &p, buf, sizeof(buf));

	if (r != 1 || p.type != type || p.u.ack.pid != pid) {
		fprintf(stderr, "expected %s %u, got r=%d %s %u\n",
		        hf_ptype_name(type), pid, r,
		        r == 1 ? hf_ptype_name(p.type) : "-",
		        r == 1 ? p.u.ack.pid : 0);
		return -1;
	}
	return p.u.ack.rc;
}

static bool
payload_is(const struct hf_packet *p, const char *s)
{
	return hf_bytes_eq(p->u.publish.payload, s);
}

/* Publish a QoS 0 marker on `topic` from pub, then read fd's PUBLISHes
 * (acknowledging them) until it arrives: true if nothing came before it. */
static bool
nothing_before_marker(int fd, uint8_t ver, int pub, uint8_t pver,
                      const char *topic)
{
	int others = -1;

	if (hf_raw_publish(pub, pver, topic, "marker", 6, 0, false, 0) != 0)
		return false;
	if (hf_raw_until(fd, ver, topic, 3000, &others) != 1) {
		fprintf(stderr, "marker %s did not arrive\n", topic);
		return false;
	}
	return others == 0;
}

/* The session is found again after a restart (session present 1,
 * [MQTT-3.2.2-2] 3.1.1 / [MQTT-3.2.2-3] 5.0), and its subscription
 * delivers without a new SUBSCRIBE. The subscriber is connected when the
 * broker goes down. */
static void
session_subs(struct hf_bproc *b, uint8_t ver, enum bounce_mode mode)
{
	struct hf_packet p;
	uint8_t buf[512];
	bool sp = true;
	int s = pconn(b->port, ver, "ss", &sp);
	int pub;

	CHECK(s >= 0);
	CHECK(!sp);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "ss/+", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(s, ver, 2, "other/#", 2, 0), 2);
	CHECK(bounce(b, mode));
	close(s);
	s = pconn(b->port, ver, "ss", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	pub = cconn(b->port, ver, "ss-pub");
	CHECK(pub >= 0);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, ver, "ss/a", "one", 3, 1, false, 1)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "ss/a"));
	CHECK(payload_is(&p, "one"));
	CHECK_EQ(p.u.publish.qos, 1);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "other/x/y", "two", 3, 2, false, 2)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "other/x/y"));
	CHECK_EQ(p.u.publish.qos, 2);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	close(s);
	close(pub);
}
CASES4(session_subs)

/* QoS 1 and 2 messages queued for an offline subscriber arrive after the
 * restart, in publication order [MQTT-4.6.0-6], each once (QoS 2 exactly
 * once, 4.3.3). */
static void
queued(struct hf_bproc *b, uint8_t ver, enum bounce_mode mode)
{
	static const char *const pl[] = {"a", "b", "c", "d", "e"};
	static const uint8_t qos[] = {1, 2, 1, 2, 2};
	struct hf_packet p;
	uint8_t buf[512];
	bool sp = true;
	int pub, s = pconn(b->port, ver, "qs", &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "q/#", 2, 0), 2);
	CHECK(leave(s, ver));
	pub = cconn(b->port, ver, "qp");
	CHECK(pub >= 0);
	for (int i = 0; i < 5; i++)
		CHECK(
		    HF_PUB_OK(hf_raw_publish(pub, ver, "q/t", pl[i], 1, qos[i],
		                             false, (uint16_t)(10 + i))));
	close(pub);
	CHECK(bounce(b, mode));
	s = pconn(b->port, ver, "qs", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(hf_raw_expect_publish(s, ver, 3000, true, &p, buf,
		                               sizeof(buf)),
		         1);
		CHECK(hf_bytes_eq(p.u.publish.topic, "q/t"));
		if (!payload_is(&p, pl[i]))
			fprintf(stderr, "message %d: payload %.*s, want %s\n",
			        i, (int)p.u.publish.payload.len,
			        (const char *)p.u.publish.payload.p, pl[i]);
		CHECK(payload_is(&p, pl[i]));
		CHECK_EQ(p.u.publish.qos, qos[i]);
	}
	/* Completes the PUBRELs; then nothing but the marker may come. */
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	pub = cconn(b->port, ver, "qp");
	CHECK(pub >= 0);
	CHECK(nothing_before_marker(s, ver, pub, ver, "q/end"));
	close(pub);
	close(s);
}
CASES4(queued)

/* A QoS 1 PUBLISH the subscriber received but did not acknowledge is sent
 * again after the restart with DUP 1 [MQTT-3.3.1-1], the original packet
 * identifier [MQTT-4.4.0-1], topic and payload. */
static void
inflight_qos1(struct hf_bproc *b, uint8_t ver, enum bounce_mode mode)
{
	struct hf_packet p;
	uint8_t buf[512];
	bool sp = true;
	uint16_t pid;
	int pub, s = pconn(b->port, ver, "fs", &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "f/#", 1, 0), 1);
	pub = cconn(b->port, ver, "fp");
	CHECK(pub >= 0);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, ver, "f/1", "fly", 3, 1, false, 5)));
	close(pub);
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, false, &p, buf, sizeof(buf)),
	    1);
	CHECK_EQ(p.u.publish.qos, 1);
	CHECK(!p.u.publish.dup);
	pid = p.u.publish.pid;
	/* No PUBACK. */
	CHECK(bounce(b, mode));
	close(s);
	s = pconn(b->port, ver, "fs", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, false, &p, buf, sizeof(buf)),
	    1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "f/1"));
	CHECK(payload_is(&p, "fly"));
	CHECK_EQ(p.u.publish.qos, 1);
	CHECK(p.u.publish.dup);
	CHECK_EQ(p.u.publish.pid, pid);
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBACK, pid, 0), 0);
	pub = cconn(b->port, ver, "fp");
	CHECK(pub >= 0);
	CHECK(nothing_before_marker(s, ver, pub, ver, "f/end"));
	close(pub);
	close(s);
}
CASES4(inflight_qos1)

/* QoS 2 outbound, stage "PUBREL sent": the subscriber got the PUBLISH,
 * sent PUBREC, got PUBREL and did not send PUBCOMP. After the restart the
 * broker sends the PUBREL again with the same packet identifier
 * [MQTT-4.4.0-1], not the PUBLISH (the message was already delivered,
 * 4.3.3). */
static void
qos2_out_stage(struct hf_bproc *b, uint8_t ver, enum bounce_mode mode)
{
	struct hf_packet p;
	uint8_t buf[512];
	bool sp = true;
	uint16_t pid;
	int pub, s = pconn(b->port, ver, "gs", &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "g", 2, 0), 2);
	pub = cconn(b->port, ver, "gp");
	CHECK(pub >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "g", "two", 3, 2, false, 9)));
	close(pub);
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, false, &p, buf, sizeof(buf)),
	    1);
	CHECK_EQ(p.u.publish.qos, 2);
	pid = p.u.publish.pid;
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBREC, pid, 0), 0);
	CHECK_EQ(expect_ack(s, ver, HF_PUBREL, pid), 0);
	/* No PUBCOMP. */
	CHECK(bounce(b, mode));
	close(s);
	s = pconn(b->port, ver, "gs", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(expect_ack(s, ver, HF_PUBREL, pid), 0);
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBCOMP, pid, 0), 0);
	/* The flow is over: no PUBLISH of "g" again, before or after. */
	pub = cconn(b->port, ver, "gp");
	CHECK(pub >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 2, "g-end", 0, 0), 0);
	CHECK(nothing_before_marker(s, ver, pub, ver, "g-end"));
	close(pub);
	close(s);
}
CASES4(qos2_out_stage)

/* QoS 2 inbound: the publisher's PUBLISH was PUBREC'd, then the broker
 * went down. The publisher comes back (clean 0) and sends the PUBLISH
 * again with DUP 1 and the same packet identifier [MQTT-4.4.0-1]: the
 * broker still knows the packet id [MQTT-4.3.3-9] (5.0: -10), so
 * subscribers get the message exactly once; PUBREL then gets PUBCOMP. */
static void
qos2_in(struct hf_bproc *b, uint8_t ver, enum bounce_mode mode)
{
	struct hf_packet p;
	uint8_t buf[512];
	bool sp = true;
	int rc, pub, s = pconn(b->port, ver, "hs", &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "h/#", 2, 0), 2);
	CHECK(leave(s, ver));
	pub = pconn(b->port, ver, "hp", &sp);
	CHECK(pub >= 0);
	CHECK_EQ(send_publish(pub, ver, "h/1", "once", 2, false, 77, 0), 0);
	rc = expect_ack(pub, ver, HF_PUBREC, 77);
	CHECK(HF_PUB_OK(rc));
	CHECK(bounce(b, mode));
	close(pub);
	/* The subscriber first: it gets the copy routed before the restart. */
	s = pconn(b->port, ver, "hs", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "h/1"));
	CHECK(payload_is(&p, "once"));
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	/* The publisher resumes its flow. */
	pub = pconn(b->port, ver, "hp", &sp);
	CHECK(pub >= 0);
	CHECK(sp);
	CHECK_EQ(send_publish(pub, ver, "h/1", "once", 2, true, 77, 0), 0);
	rc = expect_ack(pub, ver, HF_PUBREC, 77);
	CHECK(HF_PUB_OK(rc));
	CHECK_EQ(hf_raw_ack(pub, ver, HF_PUBREL, 77, 0), 0);
	CHECK_EQ(expect_ack(pub, ver, HF_PUBCOMP, 77), 0);
	/* No second copy. */
	CHECK(nothing_before_marker(s, ver, pub, ver, "h/end"));
	close(pub);
	close(s);
}
CASES4(qos2_in)

/* Send PINGREQ and collect the PUBLISHes (QoS 0) that come before
 * PINGRESP: "topic=payload;" for each, appended to out. Returns the count
 * or -1. */
static int
collect_until_pingresp(int fd, uint8_t ver, char *out, size_t cap)
{
	static const uint8_t ping[2] = {0xc0, 0x00};
	uint8_t buf[1024];
	int n = 0;

	out[0] = '\0';
	if (hf_raw_send(fd, ping, sizeof(ping)) != 0)
		return -1;
	for (int i = 0; i < 50; i++) {
		struct hf_packet p;
		size_t l = strlen(out);

		if (hf_raw_recvb(fd, ver, 3000, &p, buf, sizeof(buf)) != 1)
			return -1;
		if (p.type == HF_PINGRESP)
			return n;
		if (p.type != HF_PUBLISH || !p.u.publish.retain)
			return -1;
		snprintf(out + l, cap - l, "%.*s=%.*s;",
		         (int)p.u.publish.topic.len,
		         (const char *)p.u.publish.topic.p,
		         (int)p.u.publish.payload.len,
		         (const char *)p.u.publish.payload.p);
		n++;
	}
	return -1;
}

/* Retained messages survive a restart, and so does the deletion of one
 * (a retained PUBLISH with an empty payload, [MQTT-3.3.1-10] / -6 5.0). */
static void
retained(struct hf_bproc *b, uint8_t ver, enum bounce_mode mode)
{
	char got[256];
	int s, pub = cconn(b->port, ver, "rp");

	CHECK(pub >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "ret/a", "A", 1, 1, true, 1)));
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "ret/b", "B", 1, 1, true, 2)));
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "ret/c", "C", 1, 2, true, 3)));
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "ret/b", "", 0, 1, true, 4)));
	close(pub);
	CHECK(bounce(b, mode));
	s = cconn(b->port, ver, "rs");
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "ret/#", 0, 0), 0);
	CHECK_EQ(collect_until_pingresp(s, ver, got, sizeof(got)), 2);
	if (!strstr(got, "ret/a=A;") || !strstr(got, "ret/c=C;"))
		fprintf(stderr, "retained after restart: %s\n", got);
	CHECK(strstr(got, "ret/a=A;") != NULL);
	CHECK(strstr(got, "ret/c=C;") != NULL);
	close(s);
}
CASES4(retained)

/* 5.0 Will Delay Interval 5 s on a session with expiry 3600: the client
 * drops without DISCONNECT, the broker restarts within the delay, and the
 * will is published once the delay has passed (3.1.3.2.2), counted from
 * the drop, not from the restart, and not earlier. */
static void
will_delay(struct hf_bproc *b, enum bounce_mode mode)
{
	struct hf_packet c, ca, p;
	uint8_t buf[512];
	bool sp = true;
	int64_t t0, t;
	int w, pub, s = pconn(b->port, V5, "ws", &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "will/#", 1, 0), 1);
	CHECK(leave(s, V5));
	hf_raw_connect_init(&c, V5, "wc", true, 60);
	c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
	c.u.connect.props.session_expiry = 3600;
	c.u.connect.will = true;
	c.u.connect.will_qos = 1;
	c.u.connect.will_topic.p = (const uint8_t *)"will/wc";
	c.u.connect.will_topic.len = 7;
	c.u.connect.will_payload.p = (const uint8_t *)"gone";
	c.u.connect.will_payload.len = 4;
	c.u.connect.will_props.present |= HF_PP_WILL_DELAY;
	c.u.connect.will_props.will_delay = 5;
	w = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(w >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	/* Abnormal drop: no DISCONNECT. */
	t0 = hf_now_ms();
	close(w);
	/* Let the broker see the drop (log line), then make a round trip
	 * that needs a later commit, so the armed will is on disk. */
	CHECK(hf_bproc_wait_log(b, "Client wc closed its connection", 3000));
	pub = cconn(b->port, V5, "wp");
	CHECK(pub >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "sync", "x", 1, 1, false, 1)));
	close(pub);
	CHECK(bounce(b, mode));
	CHECK(hf_now_ms() - t0 < 4000);
	s = pconn(b->port, V5, "ws", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(hf_raw_expect_publish(s, V5, (int)(t0 + 8000 - hf_now_ms()),
	                               true, &p, buf, sizeof(buf)),
	         1);
	t = hf_now_ms() - t0;
	fprintf(stderr, "will arrived %lld ms after the drop\n", (long long)t);
	CHECK(hf_bytes_eq(p.u.publish.topic, "will/wc"));
	CHECK(payload_is(&p, "gone"));
	/* 200 ms of slack for the broker's wall clock against ours. */
	CHECK(t >= 4800);
	pub = cconn(b->port, V5, "wp");
	CHECK(pub >= 0);
	CHECK(nothing_before_marker(s, V5, pub, V5, "will/end"));
	close(pub);
	close(s);
}
CASES2(will_delay)

/* 5.0 Session Expiry Interval 3 s: the client disconnects, the broker is
 * down for 4 s; after the restart the session has expired (wall-clock
 * time, 3.1.2.11.2): session present 0. A session with expiry 3600 from
 * the same store is still there, so the store itself did survive. */
static void
session_expiry(struct hf_bproc *b, enum bounce_mode mode)
{
	bool sp = true;
	int s = hf_raw_connect_expiry(b->port, V5, "ex3", true, 3, &sp);
	int k = pconn(b->port, V5, "ex3600", &sp);

	CHECK(s >= 0 && k >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "x", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(k, V5, 1, "x", 1, 0), 1);
	CHECK(leave(s, V5));
	CHECK(leave(k, V5));
	CHECK(halt(b, mode));
	hf_sleep_ms(4000);
	CHECK_EQ(hf_bproc_restart(b), 0);
	s = hf_raw_connect_expiry(b->port, V5, "ex3", false, 3, &sp);
	CHECK(s >= 0);
	CHECK(!sp);
	k = pconn(b->port, V5, "ex3600", &sp);
	CHECK(k >= 0);
	CHECK(sp);
	close(s);
	close(k);
}
CASES2(session_expiry)

/* Non-persistent sessions (3.1.1 CleanSession 1 [MQTT-3.1.2-6]; 5.0 Clean
 * Start 1 without Session Expiry) do not survive a restart: session
 * present 0 and no subscription left; a persistent one beside them does. */
static void
clean_gone(struct hf_bproc *b, uint8_t ver, enum bounce_mode mode)
{
	bool sp = true;
	int pub, c = cconn(b->port, ver, "cs");
	int k = pconn(b->port, ver, "ks", &sp);

	CHECK(c >= 0 && k >= 0);
	CHECK_EQ(hf_raw_subscribe(c, ver, 1, "cs/t", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(k, ver, 1, "ks/t", 1, 0), 1);
	CHECK(bounce(b, mode));
	close(c);
	close(k);
	c = hf_raw_connect_expiry(b->port, ver, "cs", false, 3600, &sp);
	CHECK(c >= 0);
	CHECK(!sp);
	k = pconn(b->port, ver, "ks", &sp);
	CHECK(k >= 0);
	CHECK(sp);
	/* The old subscription does not deliver. */
	pub = cconn(b->port, ver, "cp");
	CHECK(pub >= 0);
	CHECK_EQ(hf_raw_subscribe(c, ver, 1, "cs/end", 0, 0), 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "cs/t", "x", 1, 1, false, 1)));
	CHECK(nothing_before_marker(c, ver, pub, ver, "cs/end"));
	close(pub);
	close(c);
	close(k);
}
CASES4(clean_gone)

/* 5.0 Message Expiry Interval: a message with 2 s queued for an offline
 * subscriber is not delivered after 3 s of broker downtime (3.3.2.3.3,
 * wall-clock time); one with 3600 s is, with the interval reduced by the
 * time it waited [MQTT-3.3.2-6]; one without expiry is, too. */
static void
msg_expiry(struct hf_bproc *b, enum bounce_mode mode)
{
	struct hf_packet p;
	uint8_t buf[512];
	bool sp = true;
	int pub, s = pconn(b->port, V5, "ms", &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "m/#", 1, 0), 1);
	CHECK(leave(s, V5));
	pub = cconn(b->port, V5, "mp");
	CHECK(pub >= 0);
	CHECK_EQ(send_publish(pub, V5, "m/1", "short", 1, false, 1, 2), 0);
	CHECK(HF_PUB_OK(expect_ack(pub, V5, HF_PUBACK, 1)));
	CHECK_EQ(send_publish(pub, V5, "m/1", "long", 1, false, 2, 3600), 0);
	CHECK(HF_PUB_OK(expect_ack(pub, V5, HF_PUBACK, 2)));
	CHECK_EQ(send_publish(pub, V5, "m/1", "keep", 1, false, 3, 0), 0);
	CHECK(HF_PUB_OK(expect_ack(pub, V5, HF_PUBACK, 3)));
	close(pub);
	CHECK(halt(b, mode));
	hf_sleep_ms(3000);
	CHECK_EQ(hf_bproc_restart(b), 0);
	s = pconn(b->port, V5, "ms", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	if (!payload_is(&p, "long"))
		fprintf(stderr, "first message after restart: %.*s\n",
		        (int)p.u.publish.payload.len,
		        (const char *)p.u.publish.payload.p);
	CHECK(payload_is(&p, "long"));
	CHECK(p.u.publish.props.present & HF_PP_MESSAGE_EXPIRY);
	CHECK(p.u.publish.props.message_expiry <= 3597);
	CHECK(p.u.publish.props.message_expiry >= 3500);
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(payload_is(&p, "keep"));
	CHECK(!(p.u.publish.props.present & HF_PP_MESSAGE_EXPIRY));
	pub = cconn(b->port, V5, "mp");
	CHECK(pub >= 0);
	CHECK(nothing_before_marker(s, V5, pub, V5, "m/end"));
	close(pub);
	close(s);
}
CASES2(msg_expiry)

/* Run holdfast-db (HF_DB_BIN) on the test's store; the output
 * goes to out. Returns the exit status or -1. */
static int
run_db(struct hf_bproc *b, const char *args, char *out, size_t cap)
{
	char cmd[1400];
	size_t n = 0;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' -d '%s/data' %s 2>&1", HF_DB_BIN,
	         b->dir, args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (n + 1 < cap) {
		size_t r = fread(out + n, 1, cap - 1 - n, f);

		if (r == 0)
			break;
		n += r;
	}
	out[n] = '\0';
	st = pclose(f);
	if (st != 0)
		fprintf(stderr, "%s\n-> status %d:\n%s\n", cmd, st, out);
	return st;
}

/* holdfast-db reads the stopped broker's store: `sessions` lists the
 * offline session with its protocol, queue depth and subscription count;
 * `queue CLIENTID` its entries. The broker then starts again on the same
 * store and delivers the queue (the inspection changed nothing). */
static void
holdfast_db(struct hf_bproc *b, uint8_t ver, enum bounce_mode mode)
{
	char out[8192], *line, *save = NULL;
	bool sp = true, found = false;
	int pub, s = pconn(b->port, ver, "dbsess", &sp);

	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "db/#", 1, 0), 1);
	CHECK(leave(s, ver));
	pub = cconn(b->port, ver, "dbpub");
	CHECK(pub >= 0);
	for (int i = 0; i < 3; i++)
		CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "db/t", "xyz", 3, 1,
		                               false, (uint16_t)(i + 1))));
	close(pub);
	CHECK(halt(b, mode));
	CHECK_EQ(run_db(b, "sessions", out, sizeof(out)), 0);
	/* SID PROTO EXPIRY DISCONNECTED-AT QUEUED BYTES SUBS CLIENT-ID */
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long sid, queued, bytes, subs;
		char exp[32], at[64], cid[64];
		unsigned proto;

		if (sscanf(line, "%llu %u %31s %63s %llu %llu %llu %63s", &sid,
		           &proto, exp, at, &queued, &bytes, &subs, cid) != 8 ||
		    strcmp(cid, "dbsess") != 0)
			continue;
		found = true;
		CHECK_EQ(proto, ver);
		CHECK_EQ(queued, 3);
		CHECK_EQ(bytes, 9);
		CHECK_EQ(subs, 1);
		if (ver == V5)
			CHECK(!strcmp(exp, "3600"));
	}
	CHECK(found);
	CHECK_EQ(run_db(b, "queue dbsess", out, sizeof(out)), 0);
	CHECK(strstr(out, ": 3 entries") != NULL);
	CHECK(strstr(out, "db/t") != NULL);
	CHECK_EQ(hf_bproc_restart(b), 0);
	s = pconn(b->port, ver, "dbsess", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	for (int i = 0; i < 3; i++) {
		struct hf_packet p;
		uint8_t buf[512];

		CHECK_EQ(hf_raw_expect_publish(s, ver, 3000, true, &p, buf,
		                               sizeof(buf)),
		         1);
		CHECK(payload_is(&p, "xyz"));
	}
	close(s);
}
CASES4(holdfast_db)

int
main(void)
{
	RUN4(session_subs);
	RUN4(queued);
	RUN4(inflight_qos1);
	RUN4(qos2_out_stage);
	RUN4(qos2_in);
	RUN4(retained);
	RUN4(clean_gone);
	RUN4(holdfast_db);
	RUN2(will_delay);
	RUN2(session_expiry);
	RUN2(msg_expiry);
	return HF_DONE();
}
