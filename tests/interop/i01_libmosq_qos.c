/* tests/interop/i01_libmosq_qos.c - libmosquitto publish -> subscribe at
 * QoS 0, 1 and 2 over MQTT 3.1.1 and 5.0.
 *
 * For each protocol version and QoS, one libmosquitto client subscribes,
 * another publishes N numbered messages whose payloads vary in length
 * (0 .. ~3 KB) and content (all byte values), and the test checks: every
 * publish completed in the library (on_publish: sent for QoS 0, PUBACK for
 * 1, PUBCOMP for 2), every message arrived intact at the granted QoS, in
 * the order sent [MQTT-4.6.0-6], and at QoS 2 exactly once. A final case
 * downgrades: a QoS 2 publish to a QoS 1 subscription arrives at QoS 1
 * [MQTT-3.8.4-6].
 *
 * Threading: libmosquitto's network thread per client (see iclient.h); the
 * test thread only waits. Each case runs against its own broker. */
#include "iclient.h"

#define N_MSGS 500

/* Payload for message seq: 4-byte big-endian seq, then a pattern. */
static int
make_payload(unsigned char *buf, int seq)
{
	int len = 4 + (seq * 37) % 3000;

	if (seq % 50 == 7)
		len = 4; /* a few with no pattern at all */
	buf[0] = (unsigned char)(seq >> 24);
	buf[1] = (unsigned char)(seq >> 16);
	buf[2] = (unsigned char)(seq >> 8);
	buf[3] = (unsigned char)seq;
	for (int i = 4; i < len; i++)
		buf[i] = (unsigned char)(seq * 131 + i * 7);
	return len;
}

static void
qos_roundtrip(struct hf_bproc *b, int version, int qos)
{
	struct ic sub, pub;
	unsigned char buf[4096];
	unsigned char want[4096];
	char topic[64];
	int next = 0, dups = 0;

	snprintf(topic, sizeof(topic), "interop/qos%d/v%d", qos, version);
	CHECK_EQ(ic_init(&sub, "i01-sub", true, version), 0);
	CHECK_EQ(ic_init(&pub, "i01-pub", true, version), 0);
	CHECK_EQ(ic_connect(&sub, b->port), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK_EQ(ic_subscribe(&sub, topic, qos), qos);

	for (int i = 0; i < N_MSGS; i++) {
		int len = make_payload(buf, i);

		CHECK_EQ(
		    ic_publish_props(&pub, topic, len, buf, qos, false, NULL),
		    MOSQ_ERR_SUCCESS);
	}
	CHECK(ic_wait_ge(&pub, &pub.published, N_MSGS, 30000));
	CHECK_EQ(ic_get(&pub, &pub.pub_failed), 0);
	CHECK(ic_wait_ge(&sub, &sub.nmsgs, N_MSGS, 30000));
	CHECK(ic_disconnect(&pub));
	CHECK(ic_disconnect(&sub));

	/* The network threads are stopped: read sub.msgs directly. */
	for (int i = 0; i < sub.nmsgs; i++) {
		struct ic_msg *m = &sub.msgs[i];
		const unsigned char *p = m->payload;
		int seq, len;

		CHECK(strcmp(m->topic, topic) == 0);
		CHECK_EQ(m->qos, qos);
		CHECK(!m->retain);
		CHECK(m->len >= 4);
		seq = (int)((unsigned)p[0] << 24 | (unsigned)p[1] << 16 |
		            (unsigned)p[2] << 8 | p[3]);
		if (seq < next && qos == 1) {
			dups++; /* a redelivery is allowed at QoS 1 only */
			continue;
		}
		CHECK_EQ(seq, next); /* in order, none missing, no dups */
		len = make_payload(want, seq);
		CHECK_EQ(m->len, len);
		CHECK_MEM(m->payload, want, (size_t)len);
		next++;
	}
	CHECK_EQ(next, N_MSGS);
	CHECK_EQ(sub.nmsgs, N_MSGS + dups);
	CHECK_EQ(ic_get(&sub, &sub.connects), 1);
	CHECK_EQ(ic_get(&pub, &pub.connects), 1);
	ic_free(&pub);
	ic_free(&sub);
}

#define QCASE(name, ver, q)                                                    \
	static void name(struct hf_bproc *b)                                   \
	{                                                                      \
		qos_roundtrip(b, ver, q);                                      \
	}

QCASE(v311_qos0, MQTT_PROTOCOL_V311, 0)
QCASE(v311_qos1, MQTT_PROTOCOL_V311, 1)
QCASE(v311_qos2, MQTT_PROTOCOL_V311, 2)
QCASE(v5_qos0, MQTT_PROTOCOL_V5, 0)
QCASE(v5_qos1, MQTT_PROTOCOL_V5, 1)
QCASE(v5_qos2, MQTT_PROTOCOL_V5, 2)

/* QoS 2 published, QoS 1 subscribed: delivered at QoS 1; and QoS 0
 * published to a QoS 2 subscription stays QoS 0. */
static void
qos_downgrade(struct hf_bproc *b)
{
	struct ic sub, pub;
	int i1, i2;

	CHECK_EQ(ic_init(&sub, NULL, true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&pub, NULL, true, MQTT_PROTOCOL_V311), 0);
	CHECK_EQ(ic_connect(&sub, b->port), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK_EQ(ic_subscribe(&sub, "down/one", 1), 1);
	CHECK_EQ(ic_subscribe(&sub, "down/two", 2), 2);
	CHECK(ic_publish_wait(&pub, "down/one", "q2", 2, false));
	CHECK(ic_publish_wait(&pub, "down/two", "q0", 0, false));
	i1 = ic_wait_topic(&sub, "down/one", 0, IC_WAIT_MS);
	i2 = ic_wait_topic(&sub, "down/two", 0, IC_WAIT_MS);
	CHECK(i1 >= 0);
	CHECK(i2 >= 0);
	CHECK_EQ(ic_msg_at(&sub, i1).qos, 1);
	CHECK_EQ(ic_msg_at(&sub, i2).qos, 0);
	CHECK(strcmp(ic_msg_at(&sub, i1).payload, "q2") == 0);
	ic_end(&pub);
	ic_end(&sub);
}

int
main(void)
{
	mosquitto_lib_init();
	HF_BCASE(v311_qos0, NULL);
	HF_BCASE(v311_qos1, NULL);
	HF_BCASE(v311_qos2, NULL);
	HF_BCASE(v5_qos0, NULL);
	HF_BCASE(v5_qos1, NULL);
	HF_BCASE(v5_qos2, NULL);
	HF_BCASE(qos_downgrade, NULL);
	mosquitto_lib_cleanup();
	return HF_DONE();
}
