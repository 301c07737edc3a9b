/* tests/protocol/p01_connect.c - CONNECT / CONNACK / PINGREQ / DISCONNECT
 * against the real broker, for MQTT 3.1.1 and 5.0.
 *
 * Each case starts its own broker (HF_BCASE), talks raw bytes or
 * codec-encoded packets to it, asserts what a client sees (codes, flags,
 * properties, the connection closing) and finally checks the broker exits
 * cleanly on SIGTERM. Expectations come from the OASIS specifications; the
 * statement ids are cited at each check. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

/* Plain accepted connection; clean session => session present 0
 * [MQTT-3.2.2-1] (3.1.1), [MQTT-3.2.2-2] (5.0). PINGREQ => PINGRESP
 * [MQTT-3.12.4-1]. DISCONNECT => the server closes [MQTT-3.14.4-1]. */
static void
connect_ok(struct hf_bproc *b, uint8_t ver)
{
	uint8_t rc;
	bool sp = true;
	int fd = hf_raw_connect(b->port, ver, "c-ok", true, 60, &rc, &sp);

	CHECK(fd >= 0);
	CHECK_EQ(rc, 0);
	CHECK(!sp);
	CHECK_EQ(hf_raw_ping(fd, 3000), 1);
	CHECK_EQ(hf_raw_disconnect(fd, ver, 0), 0);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
}
BOTH(connect_ok)

/* A protocol level the server does not support: 3.1.1 answers CONNACK 0x01
 * and closes [MQTT-3.1.2-2]; 5.0 may answer CONNACK 0x84 and MUST close
 * [MQTT-3.1.2-2]. Level 6 does not say which CONNACK form the client reads,
 * so either form is accepted, with the code that belongs to that form. */
static void
t_bad_protocol_level(struct hf_bproc *b)
{
	static const uint8_t conn[] = {0x10, 0x0c, 0x00, 0x04, 'M',
	                               'Q',  'T',  'T',  0x06, 0x02,
	                               0x00, 0x3c, 0x00, 0x00};
	uint8_t tf, body[64];
	uint32_t len;
	int fd = hf_raw_open(b->port);

	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_send(fd, conn, sizeof(conn)), 0);
	CHECK_EQ(hf_raw_recv_frame(fd, 3000, &tf, body, sizeof(body), &len), 1);
	CHECK_EQ(tf, 0x20);
	CHECK(len >= 2);
	if (len == 2)
		CHECK_EQ(body[1], HF_CONNACK_BAD_PROTOCOL);
	else
		CHECK_EQ(body[1], HF_RC_UNSUPPORTED_PROTOCOL);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
}

/* 3.1.1: zero-length ClientId with CleanSession 0 => CONNACK 0x02 and close
 * [MQTT-3.1.3-8]. */
static void
t_v311_empty_id_persistent(struct hf_bproc *b)
{
	struct hf_packet c, ca;
	uint8_t buf[256];
	int fd;

	hf_raw_connect_init(&c, V3, "", false, 60);
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, HF_CONNACK_ID_REJECTED);
	CHECK(!ca.u.connack.session_present); /* [MQTT-3.2.2-4] */
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
}

/* 3.1.1: zero-length ClientId with CleanSession 1 may be accepted, and then
 * the server assigns a unique id [MQTT-3.1.3-6]; two such clients coexist
 * (neither takes the other over). */
static void
t_v311_empty_id_clean(struct hf_bproc *b)
{
	uint8_t rc;
	int a = hf_raw_connect(b->port, V3, "", true, 60, &rc, NULL);
	int c;

	CHECK(a >= 0);
	c = hf_raw_connect(b->port, V3, "", true, 60, &rc, NULL);
	CHECK(c >= 0);
	CHECK_EQ(hf_raw_ping(a, 3000), 1);
	CHECK_EQ(hf_raw_ping(c, 3000), 1);
	close(a);
	close(c);
}

/* 5.0: zero-length ClientId => CONNACK carries an Assigned Client Identifier
 * [MQTT-3.2.2-16]; two clients get different ones. */
static void
t_v5_assigned_id(struct hf_bproc *b)
{
	struct hf_packet c, ca1, ca2;
	uint8_t buf1[512], buf2[512];
	int a, d;

	hf_raw_connect_init(&c, V5, "", true, 60);
	a = hf_raw_connect_pkt(b->port, &c, &ca1, buf1, sizeof(buf1));
	CHECK(a >= 0);
	CHECK_EQ(ca1.u.connack.rc, 0);
	CHECK(ca1.u.connack.props.present & HF_PP_ASSIGNED_CLIENT_ID);
	CHECK(ca1.u.connack.props.assigned_client_id.len > 0);
	d = hf_raw_connect_pkt(b->port, &c, &ca2, buf2, sizeof(buf2));
	CHECK(d >= 0);
	CHECK_EQ(ca2.u.connack.rc, 0);
	CHECK(ca2.u.connack.props.present & HF_PP_ASSIGNED_CLIENT_ID);
	CHECK(ca1.u.connack.props.assigned_client_id.len !=
	          ca2.u.connack.props.assigned_client_id.len ||
	      memcmp(ca1.u.connack.props.assigned_client_id.p,
	             ca2.u.connack.props.assigned_client_id.p,
	             ca1.u.connack.props.assigned_client_id.len) != 0);
	CHECK_EQ(hf_raw_ping(a, 3000), 1);
	CHECK_EQ(hf_raw_ping(d, 3000), 1);
	close(a);
	close(d);
}

/* The first packet must be CONNECT [MQTT-3.1.0-1]; anything else is a
 * protocol violation and the server closes the connection [MQTT-4.8.0-1]
 * (5.0: [MQTT-4.13.1-1]). No PINGRESP / SUBACK may come back. */
static void
t_packet_before_connect(struct hf_bproc *b)
{
	static const uint8_t ping[] = {0xc0, 0x00};
	static const uint8_t sub[] = {0x82, 0x06, 0x00, 0x01,
	                              0x00, 0x01, 'a',  0x00};
	static const uint8_t pub[] = {0x30, 0x04, 0x00, 0x01, 'a', 'x'};
	const uint8_t *pkts[] = {ping, sub, pub};
	size_t lens[] = {sizeof(ping), sizeof(sub), sizeof(pub)};

	for (size_t i = 0; i < 3; i++) {
		int fd = hf_raw_open(b->port), drc;
		uint8_t tf, body[64];
		uint32_t len;

		CHECK(fd >= 0);
		CHECK_EQ(hf_raw_send(fd, pkts[i], lens[i]), 0);
		/* Nothing but a close (a DISCONNECT is not allowed before
		 * CONNACK either, so any packet is wrong). */
		CHECK_EQ(
		    hf_raw_recv_frame(fd, 3000, &tf, body, sizeof(body), &len),
		    -1);
		CHECK(hf_raw_wait_close(fd, 100, &drc));
		close(fd);
	}
}

/* A second CONNECT is a protocol violation: close [MQTT-3.1.0-2]; in 5.0 a
 * Protocol Error, DISCONNECT 0x82 first [MQTT-4.13.1-1] (SHOULD; required
 * by the project). */
static void
second_connect(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet c;
	int drc;
	int fd = hf_raw_connect(b->port, ver, "twice", true, 60, NULL, NULL);

	CHECK(fd >= 0);
	hf_raw_connect_init(&c, ver, "twice", true, 60);
	CHECK_EQ(hf_raw_send_pkt(fd, &c, ver), 0);
	CHECK(hf_raw_wait_close(fd, 3000, &drc));
	if (ver == V5)
		CHECK_EQ(drc, HF_RC_PROTOCOL_ERROR);
	else
		CHECK_EQ(drc, -1);
	close(fd);
}
BOTH(second_connect)

/* The reserved bit 0 of the Connect Flags must be 0, else close
 * [MQTT-3.1.2-3]; in 5.0 it is a Malformed Packet: a CONNACK, if any, must
 * carry a failure code (0x81) [MQTT-4.13.1-1]. */
static void
reserved_flag(struct hf_bproc *b, uint8_t ver)
{
	/* CONNECT, clean start + reserved bit, keepalive 60, id "r". */
	uint8_t conn[] = {0x10, 0x0d, 0x00, 0x04, 'M',  'Q',  'T', 'T',
	                  ver,  0x03, 0x00, 0x3c, 0x00, 0x01, 'r', 0x00};
	size_t n = sizeof(conn) - 1;
	uint8_t tf, body[64];
	uint32_t len;
	int fd = hf_raw_open(b->port), r;

	if (ver == V5) {
		/* property length 0 before the payload */
		conn[1] = 0x0e;
		conn[12] = 0x00;
		conn[13] = 0x00;
		conn[14] = 0x01;
		conn[15] = 'r';
		n = sizeof(conn);
	}
	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_send(fd, conn, n), 0);
	r = hf_raw_recv_frame(fd, 3000, &tf, body, sizeof(body), &len);
	if (r == 1) {
		CHECK_EQ(tf, 0x20);
		CHECK(len >= 2);
		if (ver == V5)
			CHECK_EQ(body[1], HF_RC_MALFORMED);
		else
			CHECK(body[1] != 0);
		CHECK(hf_raw_wait_close(fd, 3000, NULL));
	} else {
		CHECK_EQ(r, -1);
	}
	close(fd);
}
BOTH(reserved_flag)

/* No control packet within 1.5 x Keep Alive => the server disconnects
 * [MQTT-3.1.2-24] (3.1.1) / [MQTT-3.1.2-22] (5.0; a DISCONNECT, if sent,
 * carries 0x8D). Keep Alive 1 s: the close comes between 1 s and 4 s. */
static void
keepalive_timeout(struct hf_bproc *b, uint8_t ver)
{
	int64_t t0;
	int drc;
	int fd = hf_raw_connect(b->port, ver, "ka", true, 1, NULL, NULL);

	CHECK(fd >= 0);
	t0 = hf_now_ms();
	CHECK(hf_raw_wait_close(fd, 4000, &drc));
	CHECK(hf_now_ms() - t0 >= 1000);
	if (ver == V5 && drc >= 0)
		CHECK_EQ(drc, HF_RC_KEEP_ALIVE_TIMEOUT);
	close(fd);
}
BOTH(keepalive_timeout)

/* Keep Alive honoured: PINGREQ every 500 ms keeps a 1 s Keep Alive
 * connection open for 3 s. */
static void
keepalive_kept(struct hf_bproc *b, uint8_t ver)
{
	int fd = hf_raw_connect(b->port, ver, "ka2", true, 1, NULL, NULL);

	CHECK(fd >= 0);
	for (int i = 0; i < 6; i++) {
		hf_sleep_ms(500);
		CHECK_EQ(hf_raw_ping(fd, 2000), 1);
	}
	close(fd);
}
BOTH(keepalive_kept)

/* max_keepalive 10 and a 5.0 client asking for 60 => CONNACK Server Keep
 * Alive 10, which the client must then use [MQTT-3.2.2-21]. */
static void
t_v5_server_keepalive(struct hf_bproc *b)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	int fd;

	hf_raw_connect_init(&c, V5, "ska", true, 60);
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	CHECK(ca.u.connack.props.present & HF_PP_SERVER_KEEP_ALIVE);
	CHECK_EQ(ca.u.connack.props.server_keep_alive, 10);
	close(fd);
}

/* Session takeover: a second connection with the same ClientId makes the
 * server close the first [MQTT-3.1.4-2] (3.1.1) / send it DISCONNECT 0x8E
 * and close it [MQTT-3.1.4-3] (5.0). The new connection works. */
static void
takeover(struct hf_bproc *b, uint8_t ver)
{
	int drc;
	int a = hf_raw_connect(b->port, ver, "same", true, 60, NULL, NULL);
	int c;

	CHECK(a >= 0);
	c = hf_raw_connect(b->port, ver, "same", true, 60, NULL, NULL);
	CHECK(c >= 0);
	CHECK(hf_raw_wait_close(a, 3000, &drc));
	if (ver == V5)
		CHECK_EQ(drc, HF_RC_SESSION_TAKEN_OVER);
	else
		CHECK_EQ(drc, -1);
	CHECK_EQ(hf_raw_ping(c, 3000), 1);
	close(a);
	close(c);
}
BOTH(takeover)

/* 3.1 ("MQIsdp", level 3) is accepted too. */
static void
t_v31_connect(struct hf_bproc *b)
{
	uint8_t rc;
	int fd =
	    hf_raw_connect(b->port, HF_PROTO_V31, "old", true, 60, &rc, NULL);

	CHECK(fd >= 0);
	CHECK_EQ(rc, 0);
	CHECK_EQ(hf_raw_ping(fd, 3000), 1);
	close(fd);
}

int
main(void)
{
	HF_BCASE(connect_ok_v311, NULL);
	HF_BCASE(connect_ok_v5, NULL);
	HF_BCASE(t_bad_protocol_level, NULL);
	HF_BCASE(t_v311_empty_id_persistent, NULL);
	HF_BCASE(t_v311_empty_id_clean, NULL);
	HF_BCASE(t_v5_assigned_id, NULL);
	HF_BCASE(t_packet_before_connect, NULL);
	HF_BCASE(second_connect_v311, NULL);
	HF_BCASE(second_connect_v5, NULL);
	HF_BCASE(reserved_flag_v311, NULL);
	HF_BCASE(reserved_flag_v5, NULL);
	HF_BCASE(keepalive_timeout_v311, NULL);
	HF_BCASE(keepalive_timeout_v5, NULL);
	HF_BCASE(keepalive_kept_v311, NULL);
	HF_BCASE(keepalive_kept_v5, NULL);
	HF_BCASE(t_v5_server_keepalive, "max_keepalive 10");
	HF_BCASE(takeover_v311, NULL);
	HF_BCASE(takeover_v5, NULL);
	HF_BCASE(t_v31_connect, NULL);
	return HF_DONE();
}
