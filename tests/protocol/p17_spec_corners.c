/* tests/protocol/p17_spec_corners.c - corners of the specifications found
 * by a third-party broker test suite: the protocol name, MQTT 3.1 client
 * identifiers and CONNACK, wills over message_size_limit.
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
	HF_BCASE(t_v31_client_id, NULL);
	HF_BCASE(t_v31_no_session_present, NULL);
	HF_BCASE(will_size_v311, "message_size_limit 10");
	HF_BCASE(will_size_v5, "message_size_limit 10");
	return HF_DONE();
}
