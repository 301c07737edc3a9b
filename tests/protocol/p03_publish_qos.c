/* tests/protocol/p03_publish_qos.c - PUBLISH at QoS 1 and 2 in both
 * directions, redelivery with DUP, ordering and flow control (Receive
 * Maximum), against the real broker, MQTT 3.1.1 and 5.0.
 *
 * Flows are driven by hand here (not through hf_raw_expect_publish) where
 * the test needs to hold back an acknowledgement. Each case has its own
 * broker. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

/* Read the next packet, which must be of the given type. */
static int
recv_type(int fd, uint8_t ver, uint8_t type, struct hf_packet *p, uint8_t *buf,
          size_t cap)
{
	int r = hf_raw_recvb(fd, ver, 3000, p, buf, cap);

	if (r != 1 || p->type != type) {
		fprintf(stderr, "expected %s, got r=%d %s\n",
		        hf_ptype_name(type), r,
		        r == 1 ? hf_ptype_name(p->type) : "-");
		return -1;
	}
	return 0;
}

/* QoS 1: PUBACK with the publisher's packet id [MQTT-4.3.2-2]; the
 * subscriber gets a PUBLISH with QoS 1, a non-zero packet id, DUP 0
 * [MQTT-2.3.1-1], [MQTT-3.3.1-2]. */
static void
qos1_flow(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	int s = hf_raw_sub_client(b->port, ver, "s", "t/1", 1);
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "t/1", "one", 3, 1, false, 0x0707)));
	CHECK_EQ(recv_type(s, ver, HF_PUBLISH, &p, buf, sizeof(buf)), 0);
	CHECK_EQ(p.u.publish.qos, 1);
	CHECK(p.u.publish.pid != 0);
	CHECK(!p.u.publish.dup);
	CHECK_MEM(p.u.publish.payload.p, "one", 3);
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBACK, p.u.publish.pid, 0), 0);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	close(s);
	close(pub);
}
BOTH(qos1_flow)

/* QoS 2 both ways: PUBREC / PUBREL (flags 0010 [MQTT-3.6.1-1]) / PUBCOMP
 * with the same packet id [MQTT-4.3.3-1..3]. */
static void
qos2_flow(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	uint16_t pid;
	int s = hf_raw_sub_client(b->port, ver, "s", "t/2", 2);
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "t/2", "two", 3, 2, false, 0x0202)));
	CHECK_EQ(recv_type(s, ver, HF_PUBLISH, &p, buf, sizeof(buf)), 0);
	CHECK_EQ(p.u.publish.qos, 2);
	CHECK(p.u.publish.pid != 0);
	CHECK(!p.u.publish.dup);
	pid = p.u.publish.pid;
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBREC, pid, 0), 0);
	CHECK_EQ(recv_type(s, ver, HF_PUBREL, &p, buf, sizeof(buf)), 0);
	CHECK_EQ(p.flags, 2);
	CHECK_EQ(p.u.ack.pid, pid);
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBCOMP, pid, 0), 0);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	close(s);
	close(pub);
}
BOTH(qos2_flow)

/* QoS 2 is exactly once: the publisher resends the PUBLISH (DUP 1, same
 * packet id) before PUBREL; the server answers PUBREC again and the
 * subscriber still gets a single copy [MQTT-4.3.3-2], 4.3.3 (either
 * method of the receiver side delivers once). */
static void
qos2_once(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p, q;
	uint8_t buf[1024];
	int others;
	int s = hf_raw_sub_client(b->port, ver, "s", "#", 0);
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	memset(&q, 0, sizeof(q));
	q.type = HF_PUBLISH;
	q.u.publish.qos = 2;
	q.u.publish.pid = 77;
	q.u.publish.topic.p = (const uint8_t *)"once";
	q.u.publish.topic.len = 4;
	q.u.publish.payload.p = (const uint8_t *)"x";
	q.u.publish.payload.len = 1;
	CHECK_EQ(hf_raw_send_pkt(pub, &q, ver), 0);
	CHECK_EQ(recv_type(pub, ver, HF_PUBREC, &p, buf, sizeof(buf)), 0);
	CHECK_EQ(p.u.ack.pid, 77);
	q.u.publish.dup = true;
	CHECK_EQ(hf_raw_send_pkt(pub, &q, ver), 0);
	CHECK_EQ(recv_type(pub, ver, HF_PUBREC, &p, buf, sizeof(buf)), 0);
	CHECK_EQ(p.u.ack.pid, 77);
	CHECK_EQ(hf_raw_ack(pub, ver, HF_PUBREL, 77, 0), 0);
	CHECK_EQ(recv_type(pub, ver, HF_PUBCOMP, &p, buf, sizeof(buf)), 0);
	CHECK_EQ(p.u.ack.pid, 77);
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "once"));
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, ver, "marker", "m", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_until(s, ver, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}
BOTH(qos2_once)

/* Connect a persistent session (3.1.1 CleanSession 0; 5.0 Clean Start 0
 * with a Session Expiry Interval of 60 s). */
static int
connect_persistent(uint16_t port, uint8_t ver, const char *id, bool clean,
                   bool *sp)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	int fd;

	hf_raw_connect_init(&c, ver, id, clean, 60);
	if (ver == V5) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = 60;
	}
	fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd < 0)
		return -1;
	if (ca.u.connack.rc != 0) {
		close(fd);
		return -1;
	}
	*sp = ca.u.connack.session_present;
	return fd;
}

/* An unacknowledged QoS 1 PUBLISH to a persistent session is resent on
 * reconnect with the original packet id [MQTT-4.4.0-1] and DUP 1
 * [MQTT-3.3.1-1]; session present 1 [MQTT-3.2.2-2] (3.1.1) /
 * [MQTT-3.2.2-3] (5.0). */
static void
dup_qos1(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	uint16_t pid;
	bool sp;
	int s = connect_persistent(b->port, ver, "ds", false, &sp);
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	CHECK(!sp); /* fresh broker: no session yet */
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "d/1", 1, 0), 1);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "d/1", "q1", 2, 1, false, 9)));
	CHECK_EQ(recv_type(s, ver, HF_PUBLISH, &p, buf, sizeof(buf)), 0);
	CHECK(!p.u.publish.dup);
	pid = p.u.publish.pid;
	close(s); /* no PUBACK */
	s = connect_persistent(b->port, ver, "ds", false, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(recv_type(s, ver, HF_PUBLISH, &p, buf, sizeof(buf)), 0);
	CHECK(p.u.publish.dup);
	CHECK_EQ(p.u.publish.pid, pid);
	CHECK_EQ(p.u.publish.qos, 1);
	CHECK_MEM(p.u.publish.payload.p, "q1", 2);
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBACK, pid, 0), 0);
	/* Acknowledged now: not sent a third time. */
	close(s);
	s = connect_persistent(b->port, ver, "ds", false, &sp);
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	close(s);
	close(pub);
}
BOTH(dup_qos1)

/* QoS 2 to a persistent session: an unacknowledged PUBLISH is resent with
 * DUP 1 and its packet id; once PUBREC was sent, the PUBREL (not the
 * PUBLISH) is resent [MQTT-4.4.0-1]. */
static void
dup_qos2(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	uint16_t pid;
	bool sp;
	int s = connect_persistent(b->port, ver, "ds2", false, &sp);
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "d/2", 2, 0), 2);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "d/2", "q2", 2, 2, false, 9)));
	CHECK_EQ(recv_type(s, ver, HF_PUBLISH, &p, buf, sizeof(buf)), 0);
	pid = p.u.publish.pid;
	close(s);
	s = connect_persistent(b->port, ver, "ds2", false, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(recv_type(s, ver, HF_PUBLISH, &p, buf, sizeof(buf)), 0);
	CHECK(p.u.publish.dup);
	CHECK_EQ(p.u.publish.pid, pid);
	CHECK_EQ(p.u.publish.qos, 2);
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBREC, pid, 0), 0);
	CHECK_EQ(recv_type(s, ver, HF_PUBREL, &p, buf, sizeof(buf)), 0);
	CHECK_EQ(p.u.ack.pid, pid);
	close(s); /* no PUBCOMP */
	s = connect_persistent(b->port, ver, "ds2", false, &sp);
	CHECK(s >= 0);
	CHECK(sp);
	CHECK_EQ(recv_type(s, ver, HF_PUBREL, &p, buf, sizeof(buf)), 0);
	CHECK_EQ(p.u.ack.pid, pid);
	CHECK_EQ(hf_raw_ack(s, ver, HF_PUBCOMP, pid, 0), 0);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	close(s);
	close(pub);
}
BOTH(dup_qos2)

/* 100 QoS 1 messages from one publisher on one topic arrive in order
 * [MQTT-4.6.0-5] (3.1.1) / [MQTT-4.6.0-6] (5.0). */
static void
ordering(struct hf_bproc *b, uint8_t ver)
{
	int s = hf_raw_sub_client(b->port, ver, "s", "ord", 1);
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	for (int i = 0; i < 100; i++) {
		char pl[16];

		snprintf(pl, sizeof(pl), "m%03d", i);
		CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "ord", pl, 4, 1, false,
		                               (uint16_t)(i + 1))));
	}
	for (int i = 0; i < 100; i++) {
		struct hf_packet p;
		uint8_t buf[256];
		char pl[16];

		snprintf(pl, sizeof(pl), "m%03d", i);
		CHECK_EQ(hf_raw_expect_publish(s, ver, 3000, true, &p, buf,
		                               sizeof(buf)),
		         1);
		CHECK_EQ(p.u.publish.qos, 1);
		CHECK_EQ(p.u.publish.payload.len, 4);
		if (memcmp(p.u.publish.payload.p, pl, 4) != 0)
			fprintf(stderr, "expected %s, got %.4s\n", pl,
			        (const char *)p.u.publish.payload.p);
		CHECK_MEM(p.u.publish.payload.p, pl, 4);
	}
	close(s);
	close(pub);
}
BOTH(ordering)

/* A 5.0 client with Receive Maximum 2 never has more than two
 * unacknowledged QoS 1 PUBLISHes in flight from the server [MQTT-3.3.4-9];
 * acknowledging one lets the next come. */
static void
client_receive_max(struct hf_bproc *b, bool persistent)
{
	struct hf_packet c, ca, p;
	uint8_t buf[512];
	uint16_t pids[16];
	int head = 0, tail = 0, got = 0;
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);
	int s;

	hf_raw_connect_init(&c, V5, "rm2", true, 60);
	c.u.connect.props.present |= HF_PP_RECEIVE_MAX;
	c.u.connect.props.receive_max = 2;
	if (persistent) {
		/* a stored session: its queue streams from the store */
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = 3600;
	}
	s = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(s >= 0 && pub >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "rm", 1, 0), 1);
	for (int i = 0; i < 10; i++) {
		char pl[2] = {(char)('0' + i), 0};
		CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "rm", pl, 1, 1, false,
		                               (uint16_t)(i + 1))));
	}
	while (got < 10) {
		int r = hf_raw_recvb(s, V5, tail - head < 2 ? 3000 : 400, &p,
		                     buf, sizeof(buf));

		if (r == 0 && tail - head == 2) {
			/* Window full and nothing more came: ack the oldest */
			CHECK_EQ(
			    hf_raw_ack(s, V5, HF_PUBACK, pids[head % 16], 0),
			    0);
			head++;
			continue;
		}
		CHECK_EQ(r, 1);
		CHECK_EQ(p.type, HF_PUBLISH);
		if (tail - head >= 2)
			fprintf(stderr, "third in flight: pid %u dup %d\n",
			        p.u.publish.pid, p.u.publish.dup);
		CHECK(tail - head < 2); /* a third one in flight: violation */
		/* each once, in order, never resent while connected */
		CHECK(!p.u.publish.dup);
		CHECK_EQ(p.u.publish.payload.len, 1);
		CHECK_EQ(p.u.publish.payload.p[0], '0' + got);
		pids[tail++ % 16] = p.u.publish.pid;
		got++;
	}
	while (head < tail) {
		CHECK_EQ(hf_raw_ack(s, V5, HF_PUBACK, pids[head % 16], 0), 0);
		head++;
	}
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	close(s);
	close(pub);
}

static void
t_v5_client_receive_max(struct hf_bproc *b)
{
	client_receive_max(b, false);
}

static void
t_v5_client_receive_max_stored(struct hf_bproc *b)
{
	client_receive_max(b, true);
}

/* A client sending more QoS 2 PUBLISHes than the server's Receive Maximum
 * without completing them (no PUBREL, so no PUBCOMP) gets DISCONNECT 0x93
 * [MQTT-3.3.4-7], 3.3.4 "the Server uses a DISCONNECT packet with Reason
 * Code 0x93". The server's Receive Maximum is read from its CONNACK (65535
 * when absent [MQTT-3.2.2.3.3]). */
static void
t_v5_server_receive_max(struct hf_bproc *b)
{
	struct hf_packet c, ca, p;
	uint8_t buf[512];
	uint32_t rm;
	int fd, drc;

	hf_raw_connect_init(&c, V5, "flood", true, 60);
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	rm = (ca.u.connack.props.present & HF_PP_RECEIVE_MAX)
	         ? ca.u.connack.props.receive_max
	         : 65535;
	fprintf(stderr, "server Receive Maximum %u\n", rm);
	for (uint32_t i = 1; i <= rm; i++) {
		memset(&p, 0, sizeof(p));
		p.type = HF_PUBLISH;
		p.u.publish.qos = 2;
		p.u.publish.pid = (uint16_t)i;
		p.u.publish.topic.p = (const uint8_t *)"f";
		p.u.publish.topic.len = 1;
		CHECK_EQ(hf_raw_send_pkt(fd, &p, V5), 0);
		CHECK_EQ(recv_type(fd, V5, HF_PUBREC, &p, buf, sizeof(buf)), 0);
		CHECK(p.u.ack.rc < 0x80);
	}
	/* One more than allowed (packet id rm+1 wraps only at 65535). */
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.qos = 2;
	p.u.publish.pid = (uint16_t)(rm == 65535 ? 65535 : rm + 1);
	p.u.publish.topic.p = (const uint8_t *)"f";
	p.u.publish.topic.len = 1;
	if (rm == 65535) {
		/* Every packet id is in use; the test cannot exceed it. */
		fprintf(stderr, "Receive Maximum 65535: cannot exceed\n");
		close(fd);
		return;
	}
	CHECK_EQ(hf_raw_send_pkt(fd, &p, V5), 0);
	CHECK(hf_raw_wait_close(fd, 3000, &drc));
	CHECK_EQ(drc, HF_RC_RECEIVE_MAX_EXCEEDED);
	close(fd);
}

/* PUBACK / PUBREC from the server keep the publisher's packet id even when
 * several flows are interleaved, and the server accepts a packet id again
 * once its flow is complete [MQTT-2.3.1-3]. */
static void
pid_reuse(struct hf_bproc *b, uint8_t ver)
{
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(pub >= 0);
	for (int i = 0; i < 3; i++) {
		int rc = hf_raw_publish(pub, ver, "r", "x", 1, 2, false, 1);

		CHECK(rc == 0 || rc == HF_RC_NO_MATCHING_SUBSCRIBERS);
		rc = hf_raw_publish(pub, ver, "r", "x", 1, 1, false, 1);
		CHECK(rc == 0 || rc == HF_RC_NO_MATCHING_SUBSCRIBERS);
	}
	close(pub);
}
BOTH(pid_reuse)

int
main(void)
{
	HF_BCASE(qos1_flow_v311, NULL);
	HF_BCASE(qos1_flow_v5, NULL);
	HF_BCASE(qos2_flow_v311, NULL);
	HF_BCASE(qos2_flow_v5, NULL);
	HF_BCASE(qos2_once_v311, NULL);
	HF_BCASE(qos2_once_v5, NULL);
	HF_BCASE(dup_qos1_v311, NULL);
	HF_BCASE(dup_qos1_v5, NULL);
	HF_BCASE(dup_qos2_v311, NULL);
	HF_BCASE(dup_qos2_v5, NULL);
	HF_BCASE(ordering_v311, NULL);
	HF_BCASE(ordering_v5, NULL);
	HF_BCASE(t_v5_client_receive_max, NULL);
	HF_BCASE(t_v5_client_receive_max_stored, NULL);
	HF_BCASE(t_v5_server_receive_max, "max_inflight_messages 10");
	HF_BCASE(pid_reuse_v311, NULL);
	HF_BCASE(pid_reuse_v5, NULL);
	return HF_DONE();
}
