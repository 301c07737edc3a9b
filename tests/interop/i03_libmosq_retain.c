/* tests/interop/i03_libmosq_retain.c - retained messages through
 * libmosquitto, MQTT 3.1.1 and 5.0.
 *
 * A retained PUBLISH is forwarded to existing subscribers with the retain
 * flag clear [MQTT-3.3.1-9] (v5: unless Retain As Published
 * [MQTT-3.3.1-12/13]), stored, and sent with the retain flag set to every
 * later matching subscription [MQTT-3.3.1-6], at the lower of the two QoS.
 * A newer retained message replaces it; an empty retained payload removes
 * it [MQTT-3.3.1-10/11] and is not itself stored. v5 Retain Handling 1 and
 * 2 [MQTT-3.3.1-9..11 in 3.8.3.1] limit when retained messages are sent.
 *
 * Absence ("nothing retained any more") is checked with a marker: after
 * the SUBACK a second client publishes a plain message on a topic the same
 * subscription matches; it must be the first thing that arrives.
 *
 * Threading: see iclient.h; each case has its own broker. */
#include "iclient.h"

/* Subscribe to filter on a fresh client, publish a non-retained marker on
 * mark_topic from pub, wait for it, and return the number of messages that
 * arrived before it (retained ones, in practice); the client is returned
 * connected in *sub for further checks. -1 on failure. */
static int
sub_until_marker(struct ic *sub, struct ic *pub, uint16_t port, int version,
                 const char *filter, int qos, int opts, const char *mark_topic)
{
	int idx;

	if (ic_init(sub, NULL, true, version) != 0 ||
	    ic_connect(sub, port) != 0)
		return -1;
	if (ic_subscribe_props(sub, filter, qos, opts, NULL) != qos)
		return -1;
	if (!ic_publish_wait(pub, mark_topic, "marker", 1, false))
		return -1;
	idx = ic_wait_topic(sub, mark_topic, 0, IC_WAIT_MS);
	if (idx < 0)
		return -1;
	return idx;
}

static void
retained(struct hf_bproc *b, int version)
{
	struct ic pub, live, late, after;
	struct ic_msg m;
	int n, ia, ib;

	CHECK_EQ(ic_init(&pub, "i03-pub", true, version), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK_EQ(ic_init(&live, "i03-live", true, version), 0);
	CHECK_EQ(ic_connect(&live, b->port), 0);
	CHECK_EQ(ic_subscribe(&live, "r/#", 2), 2);

	CHECK(ic_publish_wait(&pub, "r/a", "A-old", 1, true));
	CHECK(ic_publish_wait(&pub, "r/a", "A", 2, true)); /* replaces */
	CHECK(ic_publish_wait(&pub, "r/b", "B", 0, true));

	/* Live subscriber: all three, retain flag clear. */
	CHECK(ic_wait_ge(&live, &live.nmsgs, 3, IC_WAIT_MS));
	for (int i = 0; i < 3; i++)
		CHECK(!ic_msg_at(&live, i).retain);

	/* Late subscriber at QoS 1: r/a (QoS 1 = min(2,1)) and r/b (QoS 0),
	 * both with the retain flag, before the marker. */
	n = sub_until_marker(&late, &pub, b->port, version, "r/#", 1, 0,
	                     "r/zmark");
	CHECK_EQ(n, 2);
	ia = ic_find(&late, "r/a", 0);
	ib = ic_find(&late, "r/b", 0);
	CHECK(ia >= 0 && ib >= 0);
	m = ic_msg_at(&late, ia);
	CHECK(m.retain);
	CHECK_EQ(m.qos, 1);
	CHECK(strcmp(m.payload, "A") == 0);
	m = ic_msg_at(&late, ib);
	CHECK(m.retain);
	CHECK_EQ(m.qos, 0);
	CHECK(strcmp(m.payload, "B") == 0);
	/* The marker itself is not retained. */
	CHECK(!ic_msg_at(&late, n).retain);

	/* Clear r/a with an empty retained message. Existing subscribers
	 * still get the empty message itself. */
	CHECK(ic_publish_wait(&pub, "r/a", "", 1, true));
	CHECK(ic_wait_topic(&late, "r/a", ia + 1, IC_WAIT_MS) > ia);

	n = sub_until_marker(&after, &pub, b->port, version, "r/#", 1, 0,
	                     "r/zmark");
	CHECK_EQ(n, 1);
	m = ic_msg_at(&after, 0);
	CHECK(strcmp(m.topic, "r/b") == 0);
	CHECK(m.retain);

	/* A subscription that matches nothing retained gets nothing. */
	ic_end(&after);
	n = sub_until_marker(&after, &pub, b->port, version, "r/+/deeper", 1, 0,
	                     "r/zmark/deeper");
	CHECK_EQ(n, 0);

	/* Subscribing again to the same filter re-sends retained messages
	 * (Retain Handling 0 / v3.1.1) [MQTT-3.8.4-3]. */
	CHECK_EQ(ic_subscribe(&after, "r/b", 1), 1);
	CHECK(ic_wait_topic(&after, "r/b", 0, IC_WAIT_MS) >= 0);

	ic_end(&after);
	ic_end(&late);
	ic_end(&live);
	ic_end(&pub);
}

static void
retained_v311(struct hf_bproc *b)
{
	retained(b, MQTT_PROTOCOL_V311);
}

static void
retained_v5(struct hf_bproc *b)
{
	retained(b, MQTT_PROTOCOL_V5);
}

/* v5 subscription options: Retain As Published keeps the flag on live
 * forwarding; Retain Handling 2 never sends retained messages, 1 only on
 * a new subscription. */
static void
retain_options_v5(struct hf_bproc *b)
{
	struct ic pub, rap, never, newonly;
	int n;

	CHECK_EQ(ic_init(&pub, "i03-pub5", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK_EQ(ic_init(&rap, "i03-rap", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&rap, b->port), 0);
	CHECK_EQ(ic_subscribe_props(&rap, "o/#", 1,
	                            MQTT_SUB_OPT_RETAIN_AS_PUBLISHED, NULL),
	         1);
	CHECK(ic_publish_wait(&pub, "o/keep", "K", 1, true));
	CHECK(ic_publish_wait(&pub, "o/plain", "P", 1, false));
	CHECK(ic_wait_ge(&rap, &rap.nmsgs, 2, IC_WAIT_MS));
	CHECK(ic_msg_at(&rap, ic_find(&rap, "o/keep", 0)).retain);
	CHECK(!ic_msg_at(&rap, ic_find(&rap, "o/plain", 0)).retain);

	n = sub_until_marker(&never, &pub, b->port, MQTT_PROTOCOL_V5, "o/#", 1,
	                     MQTT_SUB_OPT_SEND_RETAIN_NEVER, "o/zmark");
	CHECK_EQ(n, 0);

	n = sub_until_marker(&newonly, &pub, b->port, MQTT_PROTOCOL_V5, "o/#",
	                     1, MQTT_SUB_OPT_SEND_RETAIN_NEW, "o/zmark");
	CHECK_EQ(n, 1); /* new subscription: o/keep is sent */
	/* Same filter again: it exists, so nothing is sent this time. */
	CHECK_EQ(ic_subscribe_props(&newonly, "o/#", 1,
	                            MQTT_SUB_OPT_SEND_RETAIN_NEW, NULL),
	         1);
	CHECK(ic_publish_wait(&pub, "o/zmark", "marker2", 1, false));
	CHECK(ic_wait_ge(&newonly, &newonly.nmsgs, 3, IC_WAIT_MS));
	CHECK(strcmp(ic_msg_at(&newonly, 2).payload, "marker2") == 0);

	ic_end(&newonly);
	ic_end(&never);
	ic_end(&rap);
	ic_end(&pub);
}

int
main(void)
{
	mosquitto_lib_init();
	HF_BCASE(retained_v311, NULL);
	HF_BCASE(retained_v5, NULL);
	HF_BCASE(retain_options_v5, NULL);
	mosquitto_lib_cleanup();
	return HF_DONE();
}
