/* tests/interop/i05_libmosq_session.c - persistent sessions through
 * libmosquitto, MQTT 3.1.1 (clean session = 0) and 5.0 (clean start = 0
 * with a Session Expiry Interval).
 *
 * A subscriber with a persistent session subscribes at QoS 1 (or 2) and
 * disconnects; a publisher sends N messages and has every ack; the
 * subscriber reconnects with the same client id, sees Session Present = 1
 * [MQTT-3.2.2-2] and receives all N, in order, without re-subscribing
 * [MQTT-3.1.2-5 / 4.1]. A clean connection discards the session
 * [MQTT-3.1.2-6], and in v5 a Session Expiry Interval of 0 ends the session
 * when the connection closes [MQTT-3.1.2-23].
 *
 * Threading: see iclient.h; each case has its own broker. */
#include "iclient.h"

#define N_OFFLINE 100

/* Connect id with clean = false; v5 adds Session Expiry Interval expiry
 * (when expiry >= 0). Returns the CONNACK rc. */
static int
connect_session(struct ic *c, uint16_t port, const char *id, bool clean,
                int version, int expiry)
{
	mosquitto_property *props = NULL;
	int rc;

	if (ic_init(c, id, clean, version) != 0)
		return -1;
	if (version == MQTT_PROTOCOL_V5 && expiry >= 0)
		mosquitto_property_add_int32(&props,
		                             MQTT_PROP_SESSION_EXPIRY_INTERVAL,
		                             (uint32_t)expiry);
	rc = ic_connect_props(c, port, 30, props);
	mosquitto_property_free_all(&props);
	return rc;
}

static bool
session_present(struct ic *c)
{
	return (ic_get(c, &c->conn_flags) & 1) != 0;
}

static void
offline_queue(struct hf_bproc *b, int version, int qos)
{
	struct ic sub, pub;
	char body[32];

	CHECK_EQ(connect_session(&sub, b->port, "i05-sub", false, version, 300),
	         0);
	CHECK(!session_present(&sub)); /* nothing stored yet */
	CHECK_EQ(ic_subscribe(&sub, "s/t", qos), qos);
	CHECK(ic_disconnect(&sub));
	ic_free(&sub);

	CHECK_EQ(ic_init(&pub, "i05-pub", true, version), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	for (int i = 0; i < N_OFFLINE; i++) {
		snprintf(body, sizeof(body), "m%03d", i);
		CHECK_EQ(ic_publish(&pub, "s/t", body, qos, false),
		         MOSQ_ERR_SUCCESS);
	}
	CHECK(ic_wait_ge(&pub, &pub.published, N_OFFLINE, 20000));
	CHECK_EQ(ic_get(&pub, &pub.pub_failed), 0);
	ic_end(&pub);

	CHECK_EQ(connect_session(&sub, b->port, "i05-sub", false, version, 300),
	         0);
	CHECK(session_present(&sub));
	CHECK(ic_wait_ge(&sub, &sub.nmsgs, N_OFFLINE, 20000));
	CHECK(ic_disconnect(&sub));
	CHECK_EQ(sub.nmsgs, N_OFFLINE); /* QoS 1 from the store: no dups */
	for (int i = 0; i < N_OFFLINE; i++) {
		snprintf(body, sizeof(body), "m%03d", i);
		CHECK(strcmp(sub.msgs[i].topic, "s/t") == 0);
		CHECK(strcmp(sub.msgs[i].payload, body) == 0);
		CHECK_EQ(sub.msgs[i].qos, qos);
	}
	ic_free(&sub);

	/* The session (and its subscription) still exists: one more message
	 * while connected arrives without subscribing again. */
	CHECK_EQ(connect_session(&sub, b->port, "i05-sub", false, version, 300),
	         0);
	CHECK(session_present(&sub));
	CHECK_EQ(ic_init(&pub, NULL, true, version), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK(ic_publish_wait(&pub, "s/t", "live", qos, false));
	ic_end(&pub);
	/* The broker may not have read our last PUBACKs before it saw the
	 * new connection take the session over; it then resends those
	 * messages [MQTT-4.4.0-1]. So: "live" arrives, and anything before
	 * it is one of the m### messages (at QoS 2 libmosquitto's PUBREL
	 * handling keeps even those from being delivered twice). */
	for (int i = 0;; i++) {
		struct ic_msg m;

		CHECK(ic_wait_topic(&sub, "s/t", i, IC_WAIT_MS) == i);
		m = ic_msg_at(&sub, i);
		if (strcmp(m.payload, "live") == 0)
			break;
		CHECK(qos == 1);
		CHECK(i < N_OFFLINE && ((char *)m.payload)[0] == 'm');
	}
	ic_end(&sub);
}

static void
session_v311_qos1(struct hf_bproc *b)
{
	offline_queue(b, MQTT_PROTOCOL_V311, 1);
}

static void
session_v311_qos2(struct hf_bproc *b)
{
	offline_queue(b, MQTT_PROTOCOL_V311, 2);
}

static void
session_v5_qos1(struct hf_bproc *b)
{
	offline_queue(b, MQTT_PROTOCOL_V5, 1);
}

static void
session_v5_qos2(struct hf_bproc *b)
{
	offline_queue(b, MQTT_PROTOCOL_V5, 2);
}

/* After the session is gone, a publish to the old subscription's topic is
 * not delivered: the client's first message is a marker on a topic it
 * subscribes to afresh. present: the Session Present flag expected (a v5
 * clean start with an expiry leaves a new, empty session behind). */
static void
check_session_gone(struct ic *sub, uint16_t port, int version, bool present)
{
	struct ic pub;

	CHECK_EQ(session_present(sub), present);
	CHECK_EQ(ic_subscribe(sub, "s/mark", 1), 1);
	CHECK_EQ(ic_init(&pub, NULL, true, version), 0);
	CHECK_EQ(ic_connect(&pub, port), 0);
	CHECK(ic_publish_wait(&pub, "s/t", "old-sub", 1, false));
	CHECK(ic_publish_wait(&pub, "s/mark", "marker", 1, false));
	CHECK(ic_wait_ge(sub, &sub->nmsgs, 1, IC_WAIT_MS));
	CHECK(strcmp(ic_msg_at(sub, 0).topic, "s/mark") == 0);
	ic_end(&pub);
}

/* A clean connection discards the stored session. In v5 the clean
 * connection itself uses Session Expiry Interval expiry (-1: none). */
static void
clean_discards(struct hf_bproc *b, int version, int expiry)
{
	struct ic sub;

	CHECK_EQ(connect_session(&sub, b->port, "i05-c", false, version, 300),
	         0);
	CHECK_EQ(ic_subscribe(&sub, "s/t", 1), 1);
	CHECK(ic_disconnect(&sub));
	ic_free(&sub);

	CHECK_EQ(connect_session(&sub, b->port, "i05-c", true, version, expiry),
	         0);
	CHECK(!session_present(&sub)); /* [MQTT-3.2.2-1] */
	CHECK(ic_disconnect(&sub));
	ic_free(&sub);

	CHECK_EQ(connect_session(&sub, b->port, "i05-c", false, version, 300),
	         0);
	check_session_gone(&sub, b->port, version,
	                   version == MQTT_PROTOCOL_V5 && expiry > 0);
	ic_end(&sub);
}

static void
clean_discards_v311(struct hf_bproc *b)
{
	clean_discards(b, MQTT_PROTOCOL_V311, -1);
}

static void
clean_discards_v5(struct hf_bproc *b)
{
	clean_discards(b, MQTT_PROTOCOL_V5, -1);
}

/* v5 clean start with an expiry: the old session is replaced by a new,
 * empty one that outlives the connection (Session Present = 1 next time,
 * but without the old subscription). */
static void
clean_replaces_v5(struct hf_bproc *b)
{
	clean_discards(b, MQTT_PROTOCOL_V5, 300);
}

/* v5: clean start 0 but no Session Expiry Interval (= 0): the session ends
 * with the connection. */
static void
v5_expiry_zero(struct hf_bproc *b)
{
	struct ic sub;

	CHECK_EQ(connect_session(&sub, b->port, "i05-z", false,
	                         MQTT_PROTOCOL_V5, -1),
	         0);
	CHECK_EQ(ic_subscribe(&sub, "s/t", 1), 1);
	CHECK(ic_disconnect(&sub));
	ic_free(&sub);
	CHECK_EQ(connect_session(&sub, b->port, "i05-z", false,
	                         MQTT_PROTOCOL_V5, 300),
	         0);
	check_session_gone(&sub, b->port, MQTT_PROTOCOL_V5, false);
	ic_end(&sub);
}

/* v5: a session with a short expiry is gone once it has expired. */
static void
v5_session_expires(struct hf_bproc *b)
{
	struct ic sub;

	CHECK_EQ(
	    connect_session(&sub, b->port, "i05-e", false, MQTT_PROTOCOL_V5, 1),
	    0);
	CHECK_EQ(ic_subscribe(&sub, "s/t", 1), 1);
	CHECK(ic_disconnect(&sub));
	ic_free(&sub);
	hf_sleep_ms(2500); /* the 1 s expiry, plus the broker's tick */
	CHECK_EQ(connect_session(&sub, b->port, "i05-e", false,
	                         MQTT_PROTOCOL_V5, 300),
	         0);
	check_session_gone(&sub, b->port, MQTT_PROTOCOL_V5, false);
	ic_end(&sub);
}

int
main(void)
{
	mosquitto_lib_init();
	HF_BCASE(session_v311_qos1, NULL);
	HF_BCASE(session_v311_qos2, NULL);
	HF_BCASE(session_v5_qos1, NULL);
	HF_BCASE(session_v5_qos2, NULL);
	HF_BCASE(clean_discards_v311, NULL);
	HF_BCASE(clean_discards_v5, NULL);
	HF_BCASE(clean_replaces_v5, NULL);
	HF_BCASE(v5_expiry_zero, NULL);
	HF_BCASE(v5_session_expires, NULL);
	mosquitto_lib_cleanup();
	return HF_DONE();
}
