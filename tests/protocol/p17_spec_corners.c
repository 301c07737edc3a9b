/* tests/protocol/p17_spec_corners.c - corners of the specifications found
 * by a third-party broker test suite: the protocol name, invalid payloads
 * under Payload Format Indicator 1, the short acknowledgment forms, MQTT
 * 3.1 client identifiers and CONNACK, wills over message_size_limit.
 *
 * Each case sends exactly the input in question to the real broker (raw
 * bytes where the codec would not produce them) and asserts what the client
 * sees, byte for byte where the form matters. Statement ids are cited at
 * each case. One broker per HF_BCASE. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

/* Send raw bytes as the first thing on a new connection and expect the
 * connection to be closed with nothing sent back. */
static bool
silent_close(uint16_t port, const uint8_t *bytes, size_t len)
{
	uint8_t tf, body[64];
	uint32_t blen;
	int fd = hf_raw_open(port), r;

	if (fd < 0)
		return false;
	if (hf_raw_send(fd, bytes, len) != 0) {
		close(fd);
		return true;
	}
	r = hf_raw_recv_frame(fd, 3000, &tf, body, sizeof(body), &blen);
	close(fd);
	if (r == 1)
		fprintf(stderr,
		        "got %s (0x%02x, %u bytes) instead of a close\n",
		        hf_ptype_name(tf >> 4), tf, blen);
	else if (r == 0)
		fprintf(stderr, "not closed within 3 s\n");
	return r == -1;
}

/* Send raw bytes as the first thing on a new connection, expect exactly
 * the 4-byte CONNACK want (a 3.1.1-form one) and then the close. */
static bool
connack_then_close(uint16_t port, const uint8_t *bytes, size_t len,
                   const uint8_t want[4])
{
	uint8_t got[4];
	int fd = hf_raw_open(port);
	bool ok;

	if (fd < 0 || hf_raw_send(fd, bytes, len) != 0)
		return false;
	ok = hf_raw_recv_frame(fd, 3000, &got[0], got + 2, 2, &(uint32_t){0}) ==
	     1;
	if (ok) {
		got[1] = 2;
		ok = memcmp(got, want, 4) == 0;
		if (!ok)
			fprintf(stderr, "CONNACK %02x %02x %02x %02x\n", got[0],
			        got[1], got[2], got[3]);
	}
	ok = ok && hf_raw_wait_close(fd, 3000, NULL);
	close(fd);
	return ok;
}

/* ---- protocol name and level ------------------------------------------- */

/* A protocol name other than "MQTT" (levels 4 and 5) or "MQIsdp" (level
 * 3): the server may disconnect, and must not go on processing the CONNECT
 * by this specification [MQTT-3.1.2-1], so no 3.1.1 CONNACK; 5.0 allows a
 * CONNACK 0x84, but nothing tells the server the peer reads MQTT 5, so it
 * closes without a word whatever the level byte (as mosquitto does). */
static void
t_bad_protocol_name(struct hf_bproc *b)
{
	static const struct {
		const char *what;
		uint8_t len;
		uint8_t bytes[24];
	} rows[] = {
	    {"MQTX level 4",
	     15,
	     {0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00,
	      0x3c, 0x00, 0x01, 'a'}},
	    {"mqtt level 4",
	     15,
	     {0x10, 0x0d, 0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00,
	      0x3c, 0x00, 0x01, 'a'}},
	    {"MQTX level 5",
	     16,
	     {0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x05, 0x02, 0x00,
	      0x3c, 0x00, 0x00, 0x01, 'a'}},
	    {"MQIsdX level 3",
	     17,
	     {0x10, 0x0f, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'X', 0x03, 0x02,
	      0x00, 0x3c, 0x00, 0x01, 'a'}},
	    {"MQTTT level 4",
	     16,
	     {0x10, 0x0e, 0x00, 0x05, 'M', 'Q', 'T', 'T', 'T', 0x04, 0x02, 0x00,
	      0x3c, 0x00, 0x01, 'a'}},
	    {"empty name level 4",
	     11,
	     {0x10, 0x09, 0x00, 0x00, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 'a'}},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		fprintf(stderr, "[%s]\n", rows[i].what);
		CHECK(silent_close(b->port, rows[i].bytes, rows[i].len));
	}
	CHECK(hf_bproc_alive(b));
}

/* A protocol name we know with a level we do not speak: CONNACK 0x01
 * (unacceptable protocol level) in the 3.1.1 form, then close
 * [MQTT-3.1.2-2] (3.1 answers code 1 for its name too). */
static void
t_known_name_bad_level(struct hf_bproc *b)
{
	static const uint8_t refused[4] = {0x20, 0x02, 0x00, 0x01};
	static const uint8_t mqtt3[] = {0x10, 0x0d, 0x00, 0x04, 'M',
	                                'Q',  'T',  'T',  0x03, 0x02,
	                                0x00, 0x3c, 0x00, 0x01, 'a'};
	static const uint8_t mqtt0[] = {0x10, 0x0d, 0x00, 0x04, 'M',
	                                'Q',  'T',  'T',  0x00, 0x02,
	                                0x00, 0x3c, 0x00, 0x01, 'a'};
	static const uint8_t isdp4[] = {0x10, 0x0f, 0x00, 0x06, 'M',  'Q',
	                                'I',  's',  'd',  'p',  0x04, 0x02,
	                                0x00, 0x3c, 0x00, 0x01, 'a'};

	CHECK(connack_then_close(b->port, mqtt3, sizeof(mqtt3), refused));
	CHECK(connack_then_close(b->port, mqtt0, sizeof(mqtt0), refused));
	CHECK(connack_then_close(b->port, isdp4, sizeof(isdp4), refused));
}

/* ---- Payload Format Indicator ----------------------------------------- */

static void
pub_init(struct hf_packet *p, const char *topic, const void *payload,
         size_t len, uint8_t qos, uint16_t pid)
{
	memset(p, 0, sizeof(*p));
	p->type = HF_PUBLISH;
	p->u.publish.qos = qos;
	p->u.publish.pid = qos ? pid : 0;
	p->u.publish.topic.p = (const uint8_t *)topic;
	p->u.publish.topic.len = (uint32_t)strlen(topic);
	p->u.publish.payload.p = payload;
	p->u.publish.payload.len = (uint32_t)len;
	p->u.publish.props.present = HF_PP_PAYLOAD_FORMAT;
	p->u.publish.props.payload_format = 1;
}

/* The next packet: its type, pid and reason code (or -1). */
static int
next_ack(int fd, uint8_t *type, uint16_t *pid)
{
	struct hf_packet a;
	uint8_t buf[256];

	if (hf_raw_recvb(fd, V5, 3000, &a, buf, sizeof(buf)) != 1)
		return -1;
	*type = a.type;
	*pid = a.u.ack.pid;
	return a.type == HF_DISCONNECT ? 0x100 | a.u.ack.rc : a.u.ack.rc;
}

/* Payload Format Indicator 1 and a payload that is not valid UTF-8: "A
 * Receiver MAY validate that the Payload is of the format indicated, and if
 * it is not send a PUBACK, PUBREC, or DISCONNECT with Reason Code of 0x99"
 * (3.3.2.3.2, 4.13). Holdfast answers QoS 1 with PUBACK 0x99 and QoS 2 with
 * PUBREC 0x99 (which ends that flow: the id is free at once), drops QoS 0,
 * keeps the connection, and routes none of them [MQTT-3.3.2-4 forwards the
 * indicator unaltered, so a subscriber never sees an invalid one]. A topic
 * alias set by a refused PUBLISH still counts. */
static void
t_payload_format_invalid(struct hf_bproc *b)
{
	static const uint8_t bad[] = {'o', 'k', 0xff, 0xfe};
	struct hf_packet p;
	uint8_t type;
	uint16_t pid;
	int others;
	int s = hf_raw_sub_client(b->port, V5, "s", "pf/#", 2);
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	/* QoS 1: PUBACK 0x99. */
	pub_init(&p, "pf/1", bad, sizeof(bad), 1, 1);
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK_EQ(next_ack(pub, &type, &pid), HF_RC_PAYLOAD_FORMAT_INVALID);
	CHECK(type == HF_PUBACK && pid == 1);
	/* QoS 2: PUBREC 0x99, and the packet id can be used again at once
	 * (no PUBREL for a refused one, v5 4.3.3). */
	pub_init(&p, "pf/2", bad, sizeof(bad), 2, 2);
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK_EQ(next_ack(pub, &type, &pid), HF_RC_PAYLOAD_FORMAT_INVALID);
	CHECK(type == HF_PUBREC && pid == 2);
	/* QoS 0: dropped; the connection stays. */
	pub_init(&p, "pf/0", bad, sizeof(bad), 0, 0);
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK_EQ(hf_raw_ping(pub, 3000), 1);
	/* Refused while setting topic alias 1; the alias is set. */
	pub_init(&p, "pf/alias", bad, sizeof(bad), 1, 3);
	p.u.publish.props.present |= HF_PP_TOPIC_ALIAS;
	p.u.publish.props.topic_alias = 1;
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK_EQ(next_ack(pub, &type, &pid), HF_RC_PAYLOAD_FORMAT_INVALID);
	pub_init(&p, "", "valid", 5, 2, 2);
	p.u.publish.props.present |= HF_PP_TOPIC_ALIAS;
	p.u.publish.props.topic_alias = 1;
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK_EQ(next_ack(pub, &type, &pid), 0);
	CHECK(type == HF_PUBREC && pid == 2);
	CHECK_EQ(hf_raw_ack(pub, V5, HF_PUBREL, 2, 0), 0);
	CHECK_EQ(next_ack(pub, &type, &pid), 0);
	CHECK(type == HF_PUBCOMP && pid == 2);
	/* The subscriber gets only the valid one, then the marker. */
	{
		uint8_t buf[256];

		CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf,
		                               sizeof(buf)),
		         1);
		CHECK(hf_bytes_eq(p.u.publish.topic, "pf/alias"));
		CHECK(hf_bytes_eq(p.u.publish.payload, "valid"));
		CHECK_EQ(p.u.publish.props.payload_format, 1);
	}
	CHECK_EQ(hf_raw_publish(pub, V5, "pf/marker", "m", 1, 0, false, 0), 0);
	CHECK_EQ(hf_raw_until(s, V5, "pf/marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}

/* A will with Payload Format Indicator 1 and a payload that is not UTF-8:
 * "The Server MAY validate that the Will Message is of the format
 * indicated, and if it is not send a CONNACK with the Reason Code of 0x99"
 * (3.1.3.2.3); Holdfast does, and keeps nothing. A valid one is accepted. */
static void
t_will_payload_format(struct hf_bproc *b)
{
	static const uint8_t bad[] = {0xc3, 0x28};
	struct hf_packet c, ca;
	uint8_t buf[256];
	int fd;

	hf_raw_connect_init(&c, V5, "wpf", true, 60);
	c.u.connect.will = true;
	c.u.connect.will_topic.p = (const uint8_t *)"will/pf";
	c.u.connect.will_topic.len = 7;
	c.u.connect.will_payload.p = bad;
	c.u.connect.will_payload.len = sizeof(bad);
	c.u.connect.will_props.present = HF_PP_PAYLOAD_FORMAT;
	c.u.connect.will_props.payload_format = 1;
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, HF_RC_PAYLOAD_FORMAT_INVALID);
	CHECK(!ca.u.connack.session_present);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
	c.u.connect.will_payload.p = (const uint8_t *)"\xc3\xa9";
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	close(fd);
}

/* ---- short acknowledgments ------------------------------------------- */

/* Read the next packet and compare its bytes with want (n bytes). */
static bool
next_bytes(int fd, const uint8_t *want, size_t n)
{
	uint8_t tf, body[64];
	uint32_t len;

	if (hf_raw_recv_frame(fd, 3000, &tf, body, sizeof(body), &len) != 1)
		return false;
	if (tf != want[0] || len != n - 2 || want[1] != len ||
	    memcmp(body, want + 2, len) != 0) {
		fprintf(stderr, "got %02x len %u:", tf, len);
		for (uint32_t i = 0; i < len; i++)
			fprintf(stderr, " %02x", body[i]);
		fprintf(stderr, "\n");
		return false;
	}
	return true;
}

/* MQTT 5: PUBACK, PUBREC, PUBREL and PUBCOMP with reason code 0x00 and no
 * properties leave both out, Remaining Length 2 ("The Reason Code and
 * Property Length can be omitted if the Reason Code is 0x00 (Success) and
 * there are no Properties", 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1), as 3.1.1
 * clients and mosquitto's tests expect. With another code alone the
 * Property Length is left out (Remaining Length 3). */
static void
t_short_acks(struct hf_bproc *b)
{
	static const uint8_t puback[] = {0x40, 0x02, 0x00, 0x01};
	static const uint8_t pubrec[] = {0x50, 0x02, 0x00, 0x02};
	static const uint8_t pubcomp[] = {0x70, 0x02, 0x00, 0x02};
	static const uint8_t nosub[] = {0x40, 0x03, 0x00, 0x03, 0x10};
	static const uint8_t notfound[] = {0x70, 0x03, 0x00, 0x09, 0x92};
	struct hf_packet p;
	uint8_t buf[256], pubrel[4] = {0x62, 0x02, 0, 0};
	int s = hf_raw_sub_client(b->port, V5, "s", "sa/#", 2);
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	pub_init(&p, "sa/1", "x", 1, 1, 1);
	p.u.publish.props.present = 0;
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK(next_bytes(pub, puback, sizeof(puback)));
	pub_init(&p, "sa/2", "y", 1, 2, 2);
	p.u.publish.props.present = 0;
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK(next_bytes(pub, pubrec, sizeof(pubrec)));
	CHECK_EQ(hf_raw_ack(pub, V5, HF_PUBREL, 2, 0), 0);
	CHECK(next_bytes(pub, pubcomp, sizeof(pubcomp)));
	/* No subscriber: 0x10 alone. */
	pub_init(&p, "nobody", "z", 1, 1, 3);
	p.u.publish.props.present = 0;
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK(next_bytes(pub, nosub, sizeof(nosub)));
	/* PUBREL for an id not held: PUBCOMP 0x92 alone. */
	CHECK_EQ(hf_raw_ack(pub, V5, HF_PUBREL, 9, 0), 0);
	CHECK(next_bytes(pub, notfound, sizeof(notfound)));
	/* Towards the subscriber: its QoS 1 copy needs no ack form; the
	 * QoS 2 one gets a short PUBREL after its PUBREC. */
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK_EQ(hf_raw_recvb(s, V5, 3000, &p, buf, sizeof(buf)), 1);
	CHECK_EQ(p.type, HF_PUBLISH);
	CHECK_EQ(p.u.publish.qos, 2);
	pubrel[2] = (uint8_t)(p.u.publish.pid >> 8);
	pubrel[3] = (uint8_t)p.u.publish.pid;
	CHECK_EQ(hf_raw_ack(s, V5, HF_PUBREC, p.u.publish.pid, 0), 0);
	CHECK(next_bytes(s, pubrel, sizeof(pubrel)));
	CHECK_EQ(hf_raw_ack(s, V5, HF_PUBCOMP, p.u.publish.pid, 0), 0);
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	close(s);
	close(pub);
}

/* ---- MQTT 3.1 ---------------------------------------------------------- */

/* 3.1 ("MQIsdp", level 3): the client identifier is 1 to 23 characters and
 * there are no assigned identifiers (3.1, 3.1.3), so an empty one, or a
 * CONNECT that ends before it, is refused with return code 2 (identifier
 * rejected); the first CONNACK byte is reserved in 3.1: no Session Present. */
static void
t_v31_client_id(struct hf_bproc *b)
{
	static const uint8_t rejected[4] = {0x20, 0x02, 0x00, 0x02};
	static const uint8_t empty[] = {0x10, 0x0e, 0x00, 0x06, 'M',  'Q',
	                                'I',  's',  'd',  'p',  0x03, 0x02,
	                                0x00, 0x3c, 0x00, 0x00};
	static const uint8_t none[] = {0x10, 0x0c, 0x00, 0x06, 'M',
	                               'Q',  'I',  's',  'd',  'p',
	                               0x03, 0x02, 0x00, 0x3c};
	static const uint8_t none_persistent[] = {0x10, 0x0c, 0x00, 0x06, 'M',
	                                          'Q',  'I',  's',  'd',  'p',
	                                          0x03, 0x00, 0x00, 0x3c};

	CHECK(connack_then_close(b->port, empty, sizeof(empty), rejected));
	CHECK(connack_then_close(b->port, none, sizeof(none), rejected));
	CHECK(connack_then_close(b->port, none_persistent,
	                         sizeof(none_persistent), rejected));
}

/* Connect 3.1 or 3.1.1 with clean session 0 and return the raw CONNACK's
 * first two body bytes in ack (the fd is closed). */
static bool
raw_connack(uint16_t port, uint8_t ver, const char *id, uint8_t ack[2])
{
	struct hf_packet c;
	uint8_t tf;
	uint32_t len;
	int fd = hf_raw_open(port);
	bool ok;

	if (fd < 0)
		return false;
	hf_raw_connect_init(&c, ver, id, false, 60);
	ok = hf_raw_send_pkt(fd, &c, ver) == 0 &&
	     hf_raw_recv_frame(fd, 3000, &tf, ack, 2, &len) == 1 &&
	     tf == 0x20 && len == 2;
	close(fd);
	return ok;
}

static void
t_v31_no_session_present(struct hf_bproc *b)
{
	uint8_t ack[2];

	/* The session exists the second time; 3.1 still gets 0x00. */
	CHECK(raw_connack(b->port, HF_PROTO_V31, "old31", ack));
	CHECK(ack[0] == 0 && ack[1] == 0);
	CHECK(raw_connack(b->port, HF_PROTO_V31, "old31", ack));
	CHECK(ack[0] == 0 && ack[1] == 0);
	/* 3.1.1 on the same kind of session: Session Present 1
	 * [MQTT-3.2.2-2]. */
	CHECK(raw_connack(b->port, V3, "new311", ack));
	CHECK(ack[0] == 0 && ack[1] == 0);
	CHECK(raw_connack(b->port, V3, "new311", ack));
	CHECK(ack[0] == 1 && ack[1] == 0);
}

/* ---- wills over message_size_limit -------------------------------------- */

/* message_size_limit 10: a will with an 11-byte payload could never be
 * published, so the CONNECT is refused and nothing is stored: 5.0 CONNACK
 * 0x95 (Packet too large), 3.1.1 CONNACK 0x05 (not authorized; 3.1.1 has no
 * better code, and it is mosquitto's answer). A 10-byte will is accepted
 * and published when the connection drops. */
static void
will_size(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet c, ca, p;
	uint8_t buf[256];
	int others;
	int w = hf_raw_sub_client(b->port, ver, "watch", "will/#", 1);
	int fd;

	CHECK(w >= 0);
	hf_raw_connect_init(&c, ver, "wsz", false, 60);
	if (ver == V5) {
		c.u.connect.props.present = HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = 60;
	}
	c.u.connect.will = true;
	c.u.connect.will_qos = 1;
	c.u.connect.will_topic.p = (const uint8_t *)"will/sz";
	c.u.connect.will_topic.len = 7;
	c.u.connect.will_payload.p = (const uint8_t *)"0123456789A";
	c.u.connect.will_payload.len = 11;
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, ver == V5 ? HF_RC_PACKET_TOO_LARGE
	                                    : HF_CONNACK_NOT_AUTHORIZED);
	CHECK(!ca.u.connack.session_present);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
	/* No session was made: the next CONNECT finds none. */
	c.u.connect.will_payload.len = 10;
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	CHECK(!ca.u.connack.session_present);
	close(fd); /* abnormal: the will goes out */
	CHECK_EQ(
	    hf_raw_expect_publish(w, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.payload, "0123456789"));
	CHECK_EQ(hf_raw_publish(w, ver, "will/marker", "m", 1, 0, false, 0), 0);
	CHECK_EQ(hf_raw_until(w, ver, "will/marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(w);
}
BOTH(will_size)

int
main(void)
{
	HF_BCASE(t_bad_protocol_name, NULL);
	HF_BCASE(t_known_name_bad_level, NULL);
	HF_BCASE(t_payload_format_invalid, NULL);
	HF_BCASE(t_will_payload_format, NULL);
	HF_BCASE(t_short_acks, NULL);
	HF_BCASE(t_v31_client_id, NULL);
	HF_BCASE(t_v31_no_session_present, NULL);
	HF_BCASE(will_size_v311, "message_size_limit 10");
	HF_BCASE(will_size_v5, "message_size_limit 10");
	return HF_DONE();
}
