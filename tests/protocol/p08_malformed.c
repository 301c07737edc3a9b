/* tests/protocol/p08_malformed.c - malformed and forbidden packets against
 * the real broker, MQTT 3.1.1 and 5.0.
 *
 * A table of raw byte sequences, each sent on a fresh connection (after a
 * valid CONNECT, or as the CONNECT itself). Every one must end with the
 * server closing the connection; in 5.0 after a CONNECT the server first
 * sends DISCONNECT with one of the listed reason codes [MQTT-4.13.1-1]
 * (SHOULD in the specification, required by the project); for a bad
 * CONNECT a CONNACK with a failure code may come first. After each case a
 * fresh client must still connect, subscribe and get its own message (the
 * broker stays up and serves). Then oversize packets against
 * max_packet_size, and a seeded random-garbage loop.
 *
 * One broker per HF_BCASE; cases share it. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define MAXB 48

struct mcase {
	const char *name;
	uint8_t ver;        /* V3 or V5 */
	bool connect_first; /* send a valid CONNECT before the bytes */
	uint8_t rcs[3];     /* accepted 5.0 reason codes (0 = unused) */
	uint8_t len;
	uint8_t bytes[MAXB];
};

#define RL5                                                                    \
	{                                                                      \
		0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00                       \
	}

/* Spec references per row: remaining length [MQTT-1.5.5 / 2.2.3 (max four
 * bytes)], and in the fewest bytes [MQTT-1.5.5-1] (also property lengths
 * and subscription identifiers); fixed-header flags [MQTT-2.2.2-1],
 * [MQTT-2.2.2-2], PUBREL [MQTT-3.6.1-1], SUBSCRIBE [MQTT-3.8.1-1], UNSUBSCRIBE
 * [MQTT-3.10.1-1]; QoS 3 [MQTT-3.3.1-4]; UTF-8 [MQTT-1.5.3-1] / [MQTT-1.5.4-1];
 * U+0000 [MQTT-1.5.3-2] / [MQTT-1.5.4-2]; wildcards in a topic name
 * [MQTT-3.3.2-2]; packet id 0 [MQTT-2.3.1-1] / [MQTT-2.2.1-3]; SUBSCRIBE
 * without payload [MQTT-3.8.3-3] / [MQTT-3.8.3-2]; SUBSCRIBE options
 * [MQTT-3-8.3-4] / [MQTT-3.8.3-5]; UNSUBSCRIBE without payload
 * [MQTT-3.10.3-2]; reserved packet types (2.1.2); duplicate properties and
 * properties not allowed in a packet (2.2.2.2); Subscription Identifier in
 * a client PUBLISH [MQTT-3.3.4-6]; DUP with QoS 0 [MQTT-3.3.1-2]; will
 * flags [MQTT-3.1.2-11..15]; password without user name in 3.1.1
 * [MQTT-3.1.2-22]; client id UTF-8 [MQTT-3.1.3-4]. */
static const struct mcase cases[] = {
    /* ---- after CONNECT, 3.1.1 ---- */
    {"v3 remaining length of 5 bytes", V3, true, {0}, 7, RL5},
    {"v3 PUBREL flags 0000", V3, true, {0}, 4, {0x60, 0x02, 0x00, 0x01}},
    {"v3 SUBSCRIBE flags 0000",
     V3,
     true,
     {0},
     8,
     {0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}},
    {"v3 UNSUBSCRIBE flags 0000",
     V3,
     true,
     {0},
     7,
     {0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}},
    {"v3 PINGREQ flags 0001", V3, true, {0}, 2, {0xc1, 0x00}},
    {"v3 PUBLISH QoS 3",
     V3,
     true,
     {0},
     7,
     {0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}},
    {"v3 PUBLISH topic bad UTF-8",
     V3,
     true,
     {0},
     7,
     {0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 'x'}},
    {"v3 PUBLISH topic surrogate",
     V3,
     true,
     {0},
     8,
     {0x30, 0x06, 0x00, 0x03, 0xed, 0xa0, 0x80, 'x'}},
    {"v3 PUBLISH topic U+0000",
     V3,
     true,
     {0},
     8,
     {0x30, 0x06, 0x00, 0x03, 'a', 0x00, 'b', 'x'}},
    {"v3 PUBLISH topic with +",
     V3,
     true,
     {0},
     8,
     {0x30, 0x06, 0x00, 0x03, 'a', '/', '+', 'x'}},
    {"v3 PUBLISH topic with #",
     V3,
     true,
     {0},
     8,
     {0x30, 0x06, 0x00, 0x03, 'a', '/', '#', 'x'}},
    {"v3 PUBLISH empty topic", V3, true, {0}, 5, {0x30, 0x03, 0x00, 0x00, 'x'}},
    {"v3 PUBLISH QoS 1 packet id 0",
     V3,
     true,
     {0},
     7,
     {0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00}},
    {"v3 PUBLISH QoS 0 DUP 1", V3, true, {0}, 5, {0x38, 0x03, 0x00, 0x01, 'a'}},
    {"v3 SUBSCRIBE packet id 0",
     V3,
     true,
     {0},
     8,
     {0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}},
    {"v3 SUBSCRIBE no payload", V3, true, {0}, 4, {0x82, 0x02, 0x00, 0x01}},
    {"v3 SUBSCRIBE QoS 3",
     V3,
     true,
     {0},
     8,
     {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03}},
    {"v3 SUBSCRIBE reserved option bits",
     V3,
     true,
     {0},
     8,
     {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04}},
    {"v3 SUBSCRIBE filter bad UTF-8",
     V3,
     true,
     {0},
     9,
     {0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 0xc3, 0x28, 0x00}},
    {"v3 UNSUBSCRIBE no payload", V3, true, {0}, 4, {0xa2, 0x02, 0x00, 0x01}},
    {"v3 reserved type 0", V3, true, {0}, 2, {0x00, 0x00}},
    {"v3 AUTH (reserved in 3.1.1)", V3, true, {0}, 2, {0xf0, 0x00}},
    {"v3 string longer than packet",
     V3,
     true,
     {0},
     6,
     {0x30, 0x04, 0x00, 0x10, 'a', 'b'}},
    {"v3 CONNACK from client", V3, true, {0}, 4, {0x20, 0x02, 0x00, 0x00}},
    /* Over-long Remaining Length [MQTT-1.5.5-1], refused in 3.1.1 too
     * (2.2.3 Table 2.4 gives each length one encoding). */
    {"v3 PINGREQ remaining length 0 in two bytes",
     V3,
     true,
     {0},
     3,
     {0xc0, 0x80, 0x00}},
    {"v3 PUBLISH remaining length 5 in two bytes",
     V3,
     true,
     {0},
     8,
     {0x30, 0x85, 0x00, 0x00, 0x01, 'a', 'x', 'y'}},
    /* ---- after CONNECT, 5.0 ---- */
    {"v5 remaining length of 5 bytes", V5, true, {0x81}, 7, RL5},
    {"v5 PINGREQ remaining length 0 in two bytes",
     V5,
     true,
     {0x81},
     3,
     {0xc0, 0x80, 0x00}},
    {"v5 PUBLISH remaining length 6 in three bytes",
     V5,
     true,
     {0x81},
     10,
     {0x30, 0x86, 0x80, 0x00, 0x00, 0x01, 'a', 0x00, 'x', 'y'}},
    {"v5 PUBLISH property length 0 in two bytes",
     V5,
     true,
     {0x81},
     9,
     {0x30, 0x07, 0x00, 0x01, 'a', 0x80, 0x00, 'x', 'y'}},
    {"v5 SUBSCRIBE subscription id 1 in two bytes",
     V5,
     true,
     {0x81},
     12,
     {0x82, 0x0a, 0x00, 0x01, 0x03, 0x0b, 0x81, 0x00, 0x00, 0x01, 'a', 0x00}},
    {"v5 PUBREL flags 0000", V5, true, {0x81}, 4, {0x60, 0x02, 0x00, 0x01}},
    {"v5 SUBSCRIBE flags 0000",
     V5,
     true,
     {0x81},
     9,
     {0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x00}},
    {"v5 UNSUBSCRIBE flags 0000",
     V5,
     true,
     {0x81},
     8,
     {0xa0, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}},
    {"v5 PINGREQ flags 0001", V5, true, {0x81}, 2, {0xc1, 0x00}},
    {"v5 PUBLISH QoS 3",
     V5,
     true,
     {0x81, 0x82},
     8,
     {0x36, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 0x00}},
    {"v5 PUBLISH topic bad UTF-8",
     V5,
     true,
     {0x81},
     8,
     {0x30, 0x06, 0x00, 0x02, 0xc3, 0x28, 0x00, 'x'}},
    {"v5 PUBLISH topic U+0000",
     V5,
     true,
     {0x81},
     9,
     {0x30, 0x07, 0x00, 0x03, 'a', 0x00, 'b', 0x00, 'x'}},
    {"v5 PUBLISH topic with +",
     V5,
     true,
     {0x81, 0x82, 0x90},
     9,
     {0x30, 0x07, 0x00, 0x03, 'a', '/', '+', 0x00, 'x'}},
    {"v5 PUBLISH topic with #",
     V5,
     true,
     {0x81, 0x82, 0x90},
     9,
     {0x30, 0x07, 0x00, 0x03, 'a', '/', '#', 0x00, 'x'}},
    {"v5 PUBLISH QoS 1 packet id 0",
     V5,
     true,
     {0x81, 0x82},
     8,
     {0x32, 0x06, 0x00, 0x01, 'a', 0x00, 0x00, 0x00}},
    {"v5 PUBLISH QoS 0 DUP 1",
     V5,
     true,
     {0x81, 0x82},
     6,
     {0x38, 0x04, 0x00, 0x01, 'a', 0x00}},
    {"v5 SUBSCRIBE packet id 0",
     V5,
     true,
     {0x81, 0x82},
     9,
     {0x82, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}},
    {"v5 SUBSCRIBE no payload",
     V5,
     true,
     {0x81, 0x82},
     5,
     {0x82, 0x03, 0x00, 0x01, 0x00}},
    {"v5 SUBSCRIBE QoS 3",
     V5,
     true,
     {0x81, 0x82},
     9,
     {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03}},
    {"v5 SUBSCRIBE reserved option bits",
     V5,
     true,
     {0x81, 0x82},
     9,
     {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0xc0}},
    {"v5 SUBSCRIBE retain handling 3",
     V5,
     true,
     {0x81, 0x82},
     9,
     {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30}},
    {"v5 SUBSCRIBE subscription id 0",
     V5,
     true,
     {0x81, 0x82},
     11,
     {0x82, 0x09, 0x00, 0x01, 0x02, 0x0b, 0x00, 0x00, 0x01, 'a', 0x00}},
    {"v5 UNSUBSCRIBE no payload",
     V5,
     true,
     {0x81, 0x82},
     5,
     {0xa2, 0x03, 0x00, 0x01, 0x00}},
    {"v5 reserved type 0", V5, true, {0x81, 0x82}, 2, {0x00, 0x00}},
    {"v5 string longer than packet",
     V5,
     true,
     {0x81},
     7,
     {0x30, 0x05, 0x00, 0x10, 'a', 'b', 0x00}},
    {"v5 duplicate property",
     V5,
     true,
     {0x81, 0x82},
     11,
     {0x30, 0x09, 0x00, 0x01, 'a', 0x04, 0x01, 0x00, 0x01, 0x00, 'x'}},
    {"v5 property not allowed in PUBLISH",
     V5,
     true,
     {0x81, 0x82},
     12,
     {0x30, 0x0a, 0x00, 0x01, 'a', 0x05, 0x11, 0x00, 0x00, 0x00, 0x0a, 'x'}},
    {"v5 property length beyond packet",
     V5,
     true,
     {0x81},
     8,
     {0x30, 0x06, 0x00, 0x01, 'a', 0x10, 0x01, 0x00}},
    {"v5 unknown property id",
     V5,
     true,
     {0x81, 0x82},
     9,
     {0x30, 0x07, 0x00, 0x01, 'a', 0x02, 0x7f, 0x00, 'x'}},
    {"v5 subscription id in client PUBLISH",
     V5,
     true,
     {0x81, 0x82},
     9,
     {0x30, 0x07, 0x00, 0x01, 'a', 0x02, 0x0b, 0x01, 'x'}},
    {"v5 DISCONNECT property length beyond packet",
     V5,
     true,
     {0x81},
     4,
     {0xe0, 0x02, 0x00, 0x05}},
    /* ---- bad CONNECT, 3.1.1 ---- */
    {"v3 CONNECT will QoS 3", V3, false, {0}, 22, {0x10, 0x14, 0x00, 0x04, 'M',
                                                   'Q',  'T',  'T',  0x04, 0x1e,
                                                   0x00, 0x3c, 0x00, 0x01, 'm',
                                                   0x00, 0x01, 'w',  0x00, 0x01,
                                                   'x'}},
    {"v3 CONNECT will QoS without will flag",
     V3,
     false,
     {0},
     15,
     {0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x0a, 0x00, 0x3c, 0x00,
      0x01, 'm'}},
    {"v3 CONNECT will retain without will flag",
     V3,
     false,
     {0},
     15,
     {0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x22, 0x00, 0x3c, 0x00,
      0x01, 'm'}},
    {"v3 CONNECT password without user name",
     V3,
     false,
     {0},
     18,
     {0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42, 0x00, 0x3c, 0x00,
      0x01, 'm', 0x00, 0x01, 'p'}},
    {"v3 CONNECT client id bad UTF-8",
     V3,
     false,
     {0},
     16,
     {0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00,
      0x02, 0xc3, 0x28}},
    {"v3 CONNECT truncated protocol name",
     V3,
     false,
     {0},
     5,
     {0x10, 0x03, 0x00, 0x04, 'M'}},
    {"v3 CONNECT with flags 0001",
     V3,
     false,
     {0},
     15,
     {0x11, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00,
      0x01, 'm'}},
    {"v3 CONNECT remaining length 13 in two bytes",
     V3,
     false,
     {0},
     16,
     {0x10, 0x8d, 0x00, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c,
      0x00, 0x01, 'm'}},
    /* ---- bad CONNECT, 5.0 ---- */
    {"v5 CONNECT remaining length 14 in two bytes",
     V5,
     false,
     {0x81},
     17,
     {0x10, 0x8e, 0x00, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c,
      0x00, 0x00, 0x01, 'm'}},
    {"v5 CONNECT property length 0 in two bytes",
     V5,
     false,
     {0x81},
     17,
     {0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, 0x80,
      0x00, 0x00, 0x01, 'm'}},
    {"v5 CONNECT will QoS 3",
     V5,
     false,
     {0x81, 0x82, 0x9b},
     24,
     {0x10, 0x16, 0x00, 0x04, 'M',  'Q',  'T',  'T', 0x05, 0x1e, 0x00, 0x3c,
      0x00, 0x00, 0x01, 'm',  0x00, 0x00, 0x01, 'w', 0x00, 0x01, 'x'}},
    {"v5 CONNECT will QoS without will flag",
     V5,
     false,
     {0x81, 0x82},
     16,
     {0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x0a, 0x00, 0x3c, 0x00,
      0x00, 0x01, 'm'}},
    {"v5 CONNECT client id bad UTF-8",
     V5,
     false,
     {0x81, 0x85},
     17,
     {0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, 0x00,
      0x00, 0x02, 0xc3, 0x28}},
    {"v5 CONNECT duplicate session expiry",
     V5,
     false,
     {0x81, 0x82},
     26,
     {0x10, 0x18, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05,
      0x02, 0x00, 0x3c, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x01,
      0x11, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 'm'}},
    {"v5 CONNECT receive maximum 0",
     V5,
     false,
     {0x81, 0x82},
     19,
     {0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, 0x03,
      0x21, 0x00, 0x00, 0x00, 0x01, 'm'}},
    {"v5 CONNECT maximum packet size 0",
     V5,
     false,
     {0x81, 0x82},
     21,
     {0x10, 0x13, 0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05, 0x02, 0x00,
      0x3c, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 'm'}},
};

/* The broker still serves: connect, subscribe, publish QoS 1 to self,
 * receive it. */
static bool
healthy(uint16_t port)
{
	struct hf_packet p;
	uint8_t buf[256];
	int fd = hf_raw_sub_client(port, V3, "health", "health", 1);
	bool ok;

	if (fd < 0)
		return false;
	if (hf_raw_publish(fd, V3, "health", "ok", 2, 0, false, 0) != 0) {
		close(fd);
		return false;
	}
	ok = hf_raw_expect_publish(fd, V3, 3000, true, &p, buf, sizeof(buf)) ==
	         1 &&
	     hf_bytes_eq(p.u.publish.topic, "health");
	close(fd);
	return ok;
}

static bool
rc_ok(const struct mcase *c, int rc)
{
	for (int i = 0; i < 3; i++)
		if (c->rcs[i] && c->rcs[i] == rc)
			return true;
	return false;
}

/* Run one row; prints why it failed and returns false. */
static bool
run_case(uint16_t port, const struct mcase *c)
{
	int64_t deadline = hf_now_ms() + 3000;
	int fd, disc_rc = -1, connack_rc = -1;
	bool closed = false, other = false;

	if (c->connect_first)
		fd = hf_raw_connect(port, c->ver, "mal", true, 60, NULL, NULL);
	else
		fd = hf_raw_open(port);
	if (fd < 0) {
		fprintf(stderr, "[%s] cannot connect\n", c->name);
		return false;
	}
	if (hf_raw_send(fd, c->bytes, c->len) != 0) {
		/* Already closed by the server: fine only if it was. */
		closed = true;
	}
	while (!closed && hf_now_ms() < deadline) {
		uint8_t tf, body[512];
		uint32_t len;
		int r = hf_raw_recv_frame(fd, (int)(deadline - hf_now_ms()),
		                          &tf, body, sizeof(body), &len);

		if (r == 0)
			break;
		if (r < 0) {
			closed = true;
			break;
		}
		if ((tf >> 4) == HF_DISCONNECT)
			disc_rc = len >= 1 ? body[0] : 0;
		else if ((tf >> 4) == HF_CONNACK && len >= 2)
			connack_rc = body[1];
		else
			other = true;
	}
	close(fd);
	if (!closed) {
		fprintf(stderr, "[%s] connection not closed within 3 s\n",
		        c->name);
		return false;
	}
	if (other) {
		fprintf(stderr, "[%s] unexpected packet before the close\n",
		        c->name);
		return false;
	}
	if (c->connect_first) {
		if (c->ver == V3 && disc_rc >= 0) {
			fprintf(stderr, "[%s] DISCONNECT sent to 3.1.1\n",
			        c->name);
			return false;
		}
		if (c->ver == V5 && !rc_ok(c, disc_rc)) {
			fprintf(stderr,
			        "[%s] DISCONNECT reason %d (0x%02x), expected "
			        "0x%02x/0x%02x/0x%02x\n",
			        c->name, disc_rc, disc_rc & 0xff, c->rcs[0],
			        c->rcs[1], c->rcs[2]);
			return false;
		}
	} else {
		if (connack_rc == 0) {
			fprintf(stderr, "[%s] CONNECT accepted\n", c->name);
			return false;
		}
		if (c->ver == V5 && connack_rc > 0 && !rc_ok(c, connack_rc)) {
			fprintf(stderr, "[%s] CONNACK reason 0x%02x\n", c->name,
			        connack_rc);
			return false;
		}
		if (disc_rc >= 0) {
			fprintf(stderr, "[%s] DISCONNECT before CONNACK\n",
			        c->name);
			return false;
		}
	}
	return true;
}

static void
t_table(struct hf_bproc *b)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mcase *c = &cases[i];

		/* Table self-check: the Remaining Length of every row but the
		 * 5-byte one matches the bytes given. */
		if (c->bytes[1] < 0x80 && c->bytes[1] + 2 != c->len) {
			fprintf(stderr, "[%s] table row inconsistent\n",
			        c->name);
			bad++;
			continue;
		}
		if (!run_case(b->port, c))
			bad++;
		if (!healthy(b->port)) {
			fprintf(stderr, "[%s] broker unhealthy afterwards\n",
			        cases[i].name);
			CHECK(hf_bproc_alive(b));
			bad++;
		}
	}
	CHECK_EQ(bad, 0);
}

/* max_packet_size 1000: the server advertises it in the 5.0 CONNACK
 * (3.2.2.3.6), refuses a packet above it [MQTT-3.2.2-? "the Server uses
 * DISCONNECT with Reason Code 0x95" in 3.1.2.11.4/3.2.2.3.6] and does so
 * as soon as the fixed header announces the size: a header claiming
 * 100 MB is answered at once, without waiting for the body. A packet below
 * the limit is served. */
static void
oversize(struct hf_bproc *b, uint8_t ver)
{
	static const uint8_t huge[] = {0x30, 0x80, 0x80, 0x80, 0x30};
	struct hf_packet c, ca;
	uint8_t buf[512];
	char payload[1200];
	int64_t t0;
	int fd, drc;

	hf_raw_connect_init(&c, ver, "big", true, 60);
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	if (ver == V5) {
		CHECK(ca.u.connack.props.present & HF_PP_MAX_PACKET_SIZE);
		CHECK_EQ(ca.u.connack.props.max_packet_size, 1000);
	}
	t0 = hf_now_ms();
	CHECK_EQ(hf_raw_send(fd, huge, sizeof(huge)), 0);
	CHECK(hf_raw_wait_close(fd, 2000, &drc));
	CHECK(hf_now_ms() - t0 < 2000);
	if (ver == V5)
		CHECK_EQ(drc, HF_RC_PACKET_TOO_LARGE);
	else
		CHECK_EQ(drc, -1);
	close(fd);

	/* A real 1100-byte payload. */
	memset(payload, 'p', sizeof(payload));
	fd = hf_raw_connect(b->port, ver, "big", true, 60, NULL, NULL);
	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_publish(fd, ver, "big", payload, 1100, 0, false, 0), 0);
	CHECK(hf_raw_wait_close(fd, 3000, &drc));
	if (ver == V5)
		CHECK_EQ(drc, HF_RC_PACKET_TOO_LARGE);
	close(fd);

	/* 900 bytes fit. */
	fd = hf_raw_connect(b->port, ver, "big", true, 60, NULL, NULL);
	CHECK(fd >= 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(fd, ver, "big", payload, 900, 1, false, 1)));
	close(fd);
	CHECK(healthy(b->port));
}

static void
t_oversize_v311(struct hf_bproc *b)
{
	oversize(b, V3);
}

static void
t_oversize_v5(struct hf_bproc *b)
{
	oversize(b, V5);
}

/* xorshift32: a fixed sequence, state on the caller's stack. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* 200 connections of random bytes (some after a valid CONNECT, some
 * starting with a CONNECT byte): the broker must stay up and keep serving.
 * The seed is fixed, so a failure repeats. */
static void
t_garbage(struct hf_bproc *b)
{
	uint32_t seed = 0x9e3779b9u;

	for (int i = 0; i < 200; i++) {
		uint8_t junk[256];
		uint32_t n = 1 + rnd(&seed) % sizeof(junk);
		int mode = (int)(rnd(&seed) % 3);
		int fd;

		for (uint32_t k = 0; k < n; k++)
			junk[k] = (uint8_t)rnd(&seed);
		if (mode == 0) {
			fd = hf_raw_connect(b->port, (i & 1) ? V5 : V3, "g",
			                    true, 60, NULL, NULL);
			CHECK(fd >= 0);
		} else {
			fd = hf_raw_open(b->port);
			CHECK(fd >= 0);
			if (mode == 1)
				junk[0] = 0x10; /* a CONNECT header byte */
		}
		hf_raw_send(fd, junk, n); /* may fail if already closed */
		/* Give the server a moment to react, then go. */
		hf_raw_wait_close(fd, 20, NULL);
		close(fd);
		if (i % 25 == 24) {
			CHECK(hf_bproc_alive(b));
			CHECK(healthy(b->port));
		}
	}
	CHECK(hf_bproc_alive(b));
	CHECK(healthy(b->port));
}

int
main(void)
{
	HF_BCASE(t_table, NULL);
	HF_BCASE(t_oversize_v311, "max_packet_size 1000");
	HF_BCASE(t_oversize_v5, "max_packet_size 1000");
	HF_BCASE(t_garbage, NULL);
	return HF_DONE();
}
