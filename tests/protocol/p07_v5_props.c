/* tests/protocol/p07_v5_props.c - MQTT 5.0 properties against the real
 * broker: topic aliases (client to server), Maximum Packet Size of the
 * client, Message Expiry Interval, Payload Format Indicator, Content Type,
 * Response Topic, Correlation Data, User Properties (order kept),
 * Subscription Identifiers, Request Problem Information 0, enhanced
 * authentication refused.
 *
 * Publishing is done with codec-built PUBLISH packets carrying properties;
 * receiving decodes with hf_decode. Each case has its own broker.
 * Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

static void
pub_init(struct hf_packet *p, const char *topic, const char *payload,
         uint8_t qos, uint16_t pid)
{
	memset(p, 0, sizeof(*p));
	p->type = HF_PUBLISH;
	p->u.publish.qos = qos;
	p->u.publish.pid = qos ? pid : 0;
	p->u.publish.topic.p = (const uint8_t *)topic;
	p->u.publish.topic.len = (uint32_t)strlen(topic);
	p->u.publish.payload.p = (const uint8_t *)payload;
	p->u.publish.payload.len = (uint32_t)strlen(payload);
}

/* Send p (QoS 1) and return the PUBACK reason code, or -1; a DISCONNECT
 * instead of the PUBACK returns 0x100 | its reason code. */
static int
send_q1(int fd, const struct hf_packet *p)
{
	struct hf_packet a;
	uint8_t buf[512];

	if (hf_raw_send_pkt(fd, p, V5) != 0)
		return -1;
	if (hf_raw_recvb(fd, V5, 3000, &a, buf, sizeof(buf)) != 1)
		return -1;
	if (a.type == HF_DISCONNECT)
		return 0x100 | a.u.ack.rc;
	if (a.type != HF_PUBACK || a.u.ack.pid != p->u.publish.pid)
		return -1;
	return a.u.ack.rc;
}

static int
connect5(uint16_t port, const char *id, struct hf_packet *ca, uint8_t *buf,
         size_t cap)
{
	struct hf_packet c;
	int fd;

	hf_raw_connect_init(&c, V5, id, true, 60);
	fd = hf_raw_connect_pkt(port, &c, ca, buf, cap);
	if (fd >= 0 && ca->u.connack.rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Topic alias, client to server: a PUBLISH with topic + alias sets the
 * mapping, a later one with an empty topic and the alias uses it
 * [MQTT-3.3.2-12] (3.3.2.3.4); subscribers get the full topic and, having
 * sent no Topic Alias Maximum, no alias [MQTT-3.3.2-10? server side:
 * 3.2.2.3.8 / 3.1.2.11.5: the server MUST NOT send a Topic Alias greater
 * than the client's maximum, which is 0]. An alias above the server's
 * Topic Alias Maximum => DISCONNECT 0x94 [MQTT-3.3.2-9]. */
static void
t_topic_alias(struct hf_bproc *b)
{
	struct hf_packet ca, p;
	uint8_t cbuf[512], buf[512];
	uint16_t tam;
	int drc;
	int s = hf_raw_sub_client(b->port, V5, "s", "ta/#", 1);
	int pub = connect5(b->port, "p", &ca, cbuf, sizeof(cbuf));

	CHECK(s >= 0 && pub >= 0);
	tam = (ca.u.connack.props.present & HF_PP_TOPIC_ALIAS_MAX)
	          ? ca.u.connack.props.topic_alias_max
	          : 0;
	fprintf(stderr, "server Topic Alias Maximum %u\n", tam);
	if (tam >= 1) {
		pub_init(&p, "ta/x", "one", 1, 1);
		p.u.publish.props.present = HF_PP_TOPIC_ALIAS;
		p.u.publish.props.topic_alias = 1;
		CHECK(HF_PUB_OK(send_q1(pub, &p)));
		pub_init(&p, "", "two", 1, 2);
		p.u.publish.props.present = HF_PP_TOPIC_ALIAS;
		p.u.publish.props.topic_alias = 1;
		CHECK(HF_PUB_OK(send_q1(pub, &p)));
		for (int i = 0; i < 2; i++) {
			CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p,
			                               buf, sizeof(buf)),
			         1);
			CHECK(hf_bytes_eq(p.u.publish.topic, "ta/x"));
			CHECK(!(p.u.publish.props.present & HF_PP_TOPIC_ALIAS));
			CHECK_MEM(p.u.publish.payload.p, i ? "two" : "one", 3);
		}
	}
	pub_init(&p, "ta/y", "bad", 1, 3);
	p.u.publish.props.present = HF_PP_TOPIC_ALIAS;
	p.u.publish.props.topic_alias = (uint16_t)(tam + 1);
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK(hf_raw_wait_close(pub, 3000, &drc));
	CHECK_EQ(drc, HF_RC_TOPIC_ALIAS_INVALID);
	close(pub);
	close(s);
}

/* Topic Alias 0 is not permitted [MQTT-3.3.2-8]: the connection is closed
 * with DISCONNECT 0x94 (Topic Alias invalid), or 0x81/0x82 (the 0x94 text
 * speaks of aliases above the maximum, so a malformed/protocol-error code
 * is accepted too); an empty topic with an alias never set => Protocol
 * Error (0x82, 3.3.2.3.4; 0x94 accepted too). */
static void
t_topic_alias_bad(struct hf_bproc *b)
{
	struct hf_packet ca, p;
	uint8_t cbuf[512];
	int drc;
	int pub = connect5(b->port, "p", &ca, cbuf, sizeof(cbuf));

	CHECK(pub >= 0);
	pub_init(&p, "ta/y", "bad", 1, 3);
	p.u.publish.props.present = HF_PP_TOPIC_ALIAS;
	p.u.publish.props.topic_alias = 0;
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK(hf_raw_wait_close(pub, 3000, &drc));
	CHECK(drc == HF_RC_TOPIC_ALIAS_INVALID || drc == HF_RC_MALFORMED ||
	      drc == HF_RC_PROTOCOL_ERROR);
	close(pub);

	pub = connect5(b->port, "p", &ca, cbuf, sizeof(cbuf));
	CHECK(pub >= 0);
	if (!(ca.u.connack.props.present & HF_PP_TOPIC_ALIAS_MAX)) {
		close(pub);
		return;
	}
	pub_init(&p, "", "bad", 1, 4);
	p.u.publish.props.present = HF_PP_TOPIC_ALIAS;
	p.u.publish.props.topic_alias = 1;
	CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	CHECK(hf_raw_wait_close(pub, 3000, &drc));
	CHECK(drc == HF_RC_PROTOCOL_ERROR || drc == HF_RC_TOPIC_ALIAS_INVALID);
	close(pub);
}

/* The client's Maximum Packet Size: the server never sends a bigger packet
 * [MQTT-3.1.2-24] and drops such a message for that client
 * [MQTT-3.1.2-25]; smaller ones still arrive. */
static void
t_client_max_packet(struct hf_bproc *b)
{
	struct hf_packet c, ca, p;
	uint8_t buf[4096];
	char big[600];
	int others;
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);
	int s;

	hf_raw_connect_init(&c, V5, "small", true, 60);
	c.u.connect.props.present |= HF_PP_MAX_PACKET_SIZE;
	c.u.connect.props.max_packet_size = 128;
	s = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(s >= 0 && pub >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "mp", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(s, V5, 2, "marker", 0, 0), 0);
	memset(big, 'B', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, V5, "mp", big, strlen(big), 1, false, 1)));
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, V5, "mp", "small", 5, 1, false, 2)));
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK_EQ(p.u.publish.payload.len, 5);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, V5, "marker", "m", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_until(s, V5, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}

/* Message Expiry Interval: a message that expires while queued for an
 * offline session is not delivered [MQTT-3.3.2-5]; one still valid is, with
 * the interval reduced by the time it waited [MQTT-3.3.2-6]. Live
 * delivery forwards the interval too. */
static void
t_message_expiry(struct hf_bproc *b)
{
	struct hf_packet c, ca, p;
	uint8_t buf[512];
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);
	int s;

	hf_raw_connect_init(&c, V5, "off", false, 60);
	c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
	c.u.connect.props.session_expiry = 60;
	s = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(s >= 0 && pub >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "me", 1, 0), 1);

	/* Live: interval forwarded, at most what was sent. */
	pub_init(&p, "me", "live", 1, 1);
	p.u.publish.props.present = HF_PP_MESSAGE_EXPIRY;
	p.u.publish.props.message_expiry = 100;
	CHECK(HF_PUB_OK(send_q1(pub, &p)));
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(p.u.publish.props.present & HF_PP_MESSAGE_EXPIRY);
	CHECK(p.u.publish.props.message_expiry <= 100);
	CHECK(p.u.publish.props.message_expiry >= 98);

	/* Offline. */
	CHECK_EQ(hf_raw_disconnect(s, V5, 0), 0);
	CHECK(hf_raw_wait_close(s, 3000, NULL));
	close(s);
	pub_init(&p, "me", "short", 1, 2);
	p.u.publish.props.present = HF_PP_MESSAGE_EXPIRY;
	p.u.publish.props.message_expiry = 1;
	CHECK(HF_PUB_OK(send_q1(pub, &p)));
	pub_init(&p, "me", "long", 1, 3);
	p.u.publish.props.present = HF_PP_MESSAGE_EXPIRY;
	p.u.publish.props.message_expiry = 60;
	CHECK(HF_PUB_OK(send_q1(pub, &p)));
	hf_sleep_ms(2200);
	s = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(s >= 0);
	CHECK(ca.u.connack.session_present);
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.payload, "long"));
	CHECK(p.u.publish.props.present & HF_PP_MESSAGE_EXPIRY);
	CHECK(p.u.publish.props.message_expiry <= 58);
	CHECK(p.u.publish.props.message_expiry >= 50);
	CHECK_EQ(hf_raw_ping(s, 1000), 1);
	close(s);
	close(pub);
}

/* Payload Format Indicator 1 with a payload that is not UTF-8: the server
 * may check it and then answers PUBACK or DISCONNECT 0x99 [MQTT-3.3.2-4
 * note, 3.3.2.3.2]; this server checks, answers PUBACK 0x99, keeps the
 * connection and does not forward it (more in p17_spec_corners). A valid
 * one is forwarded with the indicator unaltered [MQTT-3.3.2-4]. */
static void
t_payload_format(struct hf_bproc *b)
{
	struct hf_packet p;
	uint8_t buf[512];
	int others, rc;
	int s = hf_raw_sub_client(b->port, V5, "s", "pf", 1);
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 2, "marker", 0, 0), 0);
	pub_init(&p, "pf", "h\xc3\xa9llo", 1, 1);
	p.u.publish.props.present = HF_PP_PAYLOAD_FORMAT;
	p.u.publish.props.payload_format = 1;
	CHECK(HF_PUB_OK(send_q1(pub, &p)));
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(p.u.publish.props.present & HF_PP_PAYLOAD_FORMAT);
	CHECK_EQ(p.u.publish.props.payload_format, 1);

	pub_init(&p, "pf", "\xff\xfe bad", 1, 2);
	p.u.publish.props.present = HF_PP_PAYLOAD_FORMAT;
	p.u.publish.props.payload_format = 1;
	rc = send_q1(pub, &p);
	CHECK_EQ(rc, HF_RC_PAYLOAD_FORMAT_INVALID);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, V5, "marker", "m", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_until(s, V5, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}

/* Content Type, Response Topic, Correlation Data and User Properties are
 * forwarded unaltered [MQTT-3.3.2-20], [MQTT-3.3.2-15], [MQTT-3.3.2-16],
 * [MQTT-3.3.2-17], with the User Properties in their order
 * [MQTT-3.3.2-18] (a key may repeat). */
static void
t_forwarded_props(struct hf_bproc *b)
{
	static const uint8_t user[] = {
	    0x26, 0,    1, 'k', 0,   1, '1', 0x26, 0,    1, 'a', 0, 1,
	    'b',  0x26, 0, 1,   'k', 0, 1,   '2',  0x26, 0, 0,   0, 0};
	static const char *const want[4][2] = {
	    {"k", "1"}, {"a", "b"}, {"k", "2"}, {"", ""}};
	static const uint8_t corr[] = {0x00, 0x01, 0xfe, 0xff};
	struct hf_packet p;
	uint8_t buf[1024];
	struct hf_bytes k, v;
	uint32_t off = 0;
	int n = 0;
	int s = hf_raw_sub_client(b->port, V5, "s", "fp", 1);
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	pub_init(&p, "fp", "x", 1, 1);
	p.u.publish.props.present = HF_PP_CONTENT_TYPE | HF_PP_RESPONSE_TOPIC |
	                            HF_PP_CORRELATION_DATA |
	                            HF_PP_USER_PROPERTY;
	p.u.publish.props.content_type.p = (const uint8_t *)"text/plain";
	p.u.publish.props.content_type.len = 10;
	p.u.publish.props.response_topic.p = (const uint8_t *)"reply/here";
	p.u.publish.props.response_topic.len = 10;
	p.u.publish.props.correlation_data.p = corr;
	p.u.publish.props.correlation_data.len = sizeof(corr);
	p.u.publish.props.user.p = user;
	p.u.publish.props.user.len = sizeof(user);
	CHECK(HF_PUB_OK(send_q1(pub, &p)));
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.props.content_type, "text/plain"));
	CHECK(hf_bytes_eq(p.u.publish.props.response_topic, "reply/here"));
	CHECK_EQ(p.u.publish.props.correlation_data.len, sizeof(corr));
	CHECK_MEM(p.u.publish.props.correlation_data.p, corr, sizeof(corr));
	CHECK_EQ(p.u.publish.props.n_user, 4);
	while (hf_props_user_next(&p.u.publish.props, &off, &k, &v)) {
		CHECK(n < 4);
		CHECK(hf_bytes_eq(k, want[n][0]));
		CHECK(hf_bytes_eq(v, want[n][1]));
		n++;
	}
	CHECK_EQ(n, 4);
	close(s);
	close(pub);
}

/* Subscription Identifier given in SUBSCRIBE comes back in the PUBLISH
 * [MQTT-3.3.4-3]; a subscription without one gets none. */
static void
t_subscription_id(struct hf_bproc *b)
{
	uint8_t tf, buf[512];
	uint32_t len, ids[4];
	int s = hf_raw_connect(b->port, V5, "s", true, 60, NULL, NULL);
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "sid/a", 0, 268435455), 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 2, "sid/b", 0, 0), 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "sid/a", "x", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_recv_frame(s, 3000, &tf, buf, sizeof(buf), &len), 1);
	CHECK_EQ(tf >> 4, HF_PUBLISH);
	CHECK_EQ(hf_raw_pub_sub_ids(tf, buf, len, ids, 4), 1);
	CHECK_EQ(ids[0], 268435455);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "sid/b", "x", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_recv_frame(s, 3000, &tf, buf, sizeof(buf), &len), 1);
	CHECK_EQ(tf >> 4, HF_PUBLISH);
	CHECK_EQ(hf_raw_pub_sub_ids(tf, buf, len, ids, 4), 0);
	close(s);
	close(pub);
}

/* Request Problem Information 0: no Reason String or User Property on any
 * packet other than PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29]. The
 * UNSUBACK 0x11 and a failing SUBACK are checked. */
static void
t_request_problem_info(struct hf_bproc *b)
{
	struct hf_packet c, ca, p;
	uint8_t buf[512], body[64], pkt[80];
	size_t n = 0;
	int s;

	hf_raw_connect_init(&c, V5, "rpi", true, 60);
	c.u.connect.props.present |= HF_PP_REQUEST_PROBLEM;
	c.u.connect.props.request_problem = 0;
	s = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(s >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	/* UNSUBSCRIBE of a filter never subscribed. */
	body[n++] = 0;
	body[n++] = 5;
	body[n++] = 0;
	body[n++] = 0;
	body[n++] = 4;
	memcpy(body + n, "none", 4);
	n += 4;
	pkt[0] = 0xa2;
	pkt[1] = (uint8_t)n;
	memcpy(pkt + 2, body, n);
	CHECK_EQ(hf_raw_send(s, pkt, n + 2), 0);
	CHECK_EQ(hf_raw_recvb(s, V5, 3000, &p, buf, sizeof(buf)), 1);
	CHECK_EQ(p.type, HF_UNSUBACK);
	CHECK_EQ(p.u.suback.n, 1);
	CHECK_EQ(p.u.suback.rcs[0], HF_RC_NO_SUBSCRIPTION_EXISTED);
	CHECK(!(p.u.suback.props.present &
	        (HF_PP_REASON_STRING | HF_PP_USER_PROPERTY)));
	/* A PUBACK, possibly 0x10. */
	memset(&c, 0, sizeof(c));
	pub_init(&c, "nobody/here", "x", 1, 6);
	CHECK_EQ(hf_raw_send_pkt(s, &c, V5), 0);
	CHECK_EQ(hf_raw_recvb(s, V5, 3000, &p, buf, sizeof(buf)), 1);
	CHECK_EQ(p.type, HF_PUBACK);
	CHECK(!(p.u.ack.props.present &
	        (HF_PP_REASON_STRING | HF_PP_USER_PROPERTY)));
	close(s);
}

/* CONNECT with an Authentication Method the server does not support:
 * CONNACK 0x8C (or 0x87) and close [MQTT-4.12.0-1]. */
static void
t_auth_method_refused(struct hf_bproc *b)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	int fd;

	hf_raw_connect_init(&c, V5, "auth", true, 60);
	c.u.connect.props.present |= HF_PP_AUTH_METHOD;
	c.u.connect.props.auth_method.p = (const uint8_t *)"X-NOPE";
	c.u.connect.props.auth_method.len = 6;
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK(ca.u.connack.rc == HF_RC_BAD_AUTH_METHOD ||
	      ca.u.connack.rc == HF_RC_NOT_AUTHORIZED);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
}

/* An AUTH packet from a client that gave no Authentication Method is a
 * Protocol Error (4.12: the client must not send AUTH then) =>
 * DISCONNECT 0x82 and close [MQTT-4.13.1-1]. */
static void
t_auth_packet_refused(struct hf_bproc *b)
{
	static const uint8_t auth[] = {0xf0, 0x02, 0x18, 0x00};
	int drc;
	int fd = hf_raw_connect(b->port, V5, "a", true, 60, NULL, NULL);

	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_send(fd, auth, sizeof(auth)), 0);
	CHECK(hf_raw_wait_close(fd, 3000, &drc));
	CHECK_EQ(drc, HF_RC_PROTOCOL_ERROR);
	close(fd);
}

int
main(void)
{
	HF_BCASE(t_topic_alias, NULL);
	HF_BCASE(t_topic_alias_bad, NULL);
	HF_BCASE(t_client_max_packet, NULL);
	HF_BCASE(t_message_expiry, NULL);
	HF_BCASE(t_payload_format, NULL);
	HF_BCASE(t_forwarded_props, NULL);
	HF_BCASE(t_subscription_id, NULL);
	HF_BCASE(t_request_problem_info, NULL);
	HF_BCASE(t_auth_method_refused, NULL);
	HF_BCASE(t_auth_packet_refused, NULL);
	return HF_DONE();
}
