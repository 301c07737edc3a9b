/* tests/interop/i07_libmosq_v5props.c - MQTT 5 PUBLISH properties and
 * subscription options through libmosquitto's mosquitto_property API.
 *
 * The broker forwards a PUBLISH's properties unaltered [MQTT-3.3.2-4..20]:
 * user properties in order [MQTT-3.3.2-18], content type, response topic,
 * correlation data (binary), payload format indicator; message expiry is
 * forwarded minus the time held [MQTT-3.3.2-6], and an expired message is
 * not delivered [MQTT-3.3.2-5]. Subscription Identifiers from SUBSCRIBE
 * come back on matching messages [MQTT-3.3.4-3], for every matching
 * subscription [MQTT-3.3.4-4/5], and none without one. No Local keeps a
 * client's own messages away [MQTT-3.8.3-3].
 *
 * Threading: see iclient.h; each case has its own broker. */
#include "iclient.h"

static const unsigned char corr[] = {0x00, 0x01, 0xfe, 0xff, 'c', 0x00};

static void
properties_forwarded(struct hf_bproc *b)
{
	struct ic sub, pub;
	mosquitto_property *props = NULL, *sp = NULL;
	char ups[256];
	char *ct = NULL, *rt = NULL;
	void *cd = NULL;
	uint16_t cdlen = 0;
	uint32_t exp = 0, sid = 0;
	uint8_t pfi = 0;
	struct ic_msg m;
	int i;

	CHECK_EQ(ic_init(&sub, "i07-sub", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&pub, "i07-pub", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&sub, b->port), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	mosquitto_property_add_varint(&sp, MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
	                              42);
	CHECK_EQ(ic_subscribe_props(&sub, "v5/props", 1, 0, sp), 1);
	mosquitto_property_free_all(&sp);

	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
	                                   "k1", "v1");
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
	                                   "k2", "v2");
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
	                                   "k1", "v3");
	mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE,
	                              "application/json");
	mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC,
	                              "v5/reply");
	mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
	                              sizeof(corr));
	mosquitto_property_add_byte(&props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR,
	                            1);
	mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
	                             3600);
	CHECK_EQ(
	    ic_publish_props(&pub, "v5/props", 7, "{\"a\":1}", 1, false, props),
	    MOSQ_ERR_SUCCESS);
	mosquitto_property_free_all(&props);
	CHECK(ic_wait_ge(&pub, &pub.published, 1, IC_WAIT_MS));
	i = ic_wait_topic(&sub, "v5/props", 0, IC_WAIT_MS);
	CHECK(i == 0);
	m = ic_msg_at(&sub, i);
	CHECK_EQ(m.len, 7);
	CHECK_MEM(m.payload, "{\"a\":1}", 7);

	ic_user_props(m.props, ups, sizeof(ups));
	if (strcmp(ups, "k1=v1;k2=v2;k1=v3;") != 0)
		fprintf(stderr, "user properties: %s\n", ups);
	CHECK(strcmp(ups, "k1=v1;k2=v2;k1=v3;") == 0);
	CHECK(mosquitto_property_read_string(m.props, MQTT_PROP_CONTENT_TYPE,
	                                     &ct, false) != NULL);
	CHECK(strcmp(ct, "application/json") == 0);
	free(ct);
	CHECK(mosquitto_property_read_string(m.props, MQTT_PROP_RESPONSE_TOPIC,
	                                     &rt, false) != NULL);
	CHECK(strcmp(rt, "v5/reply") == 0);
	free(rt);
	CHECK(mosquitto_property_read_binary(m.props,
	                                     MQTT_PROP_CORRELATION_DATA, &cd,
	                                     &cdlen, false) != NULL);
	CHECK_EQ(cdlen, sizeof(corr));
	CHECK_MEM(cd, corr, sizeof(corr));
	free(cd);
	CHECK(mosquitto_property_read_byte(m.props,
	                                   MQTT_PROP_PAYLOAD_FORMAT_INDICATOR,
	                                   &pfi, false) != NULL);
	CHECK_EQ(pfi, 1);
	CHECK(mosquitto_property_read_int32(m.props,
	                                    MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
	                                    &exp, false) != NULL);
	CHECK(exp <= 3600 && exp >= 3590);
	CHECK(mosquitto_property_read_varint(m.props,
	                                     MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
	                                     &sid, false) != NULL);
	CHECK_EQ(sid, 42);

	/* Without properties, none appear (no expiry, no id invented). */
	CHECK(ic_publish_wait(&pub, "v5/props", "plain", 1, false));
	i = ic_wait_topic(&sub, "v5/props", 1, IC_WAIT_MS);
	CHECK(i == 1);
	m = ic_msg_at(&sub, i);
	CHECK(mosquitto_property_read_int32(m.props,
	                                    MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
	                                    &exp, false) == NULL);
	CHECK(mosquitto_property_read_string(m.props, MQTT_PROP_CONTENT_TYPE,
	                                     &ct, false) == NULL);
	ic_end(&pub);
	ic_end(&sub);
}

/* Subscription identifiers: the id of the matching subscription, none for
 * a subscription made without one, the largest id intact. Two overlapping
 * subscriptions with the same id give one copy carrying the id once.
 * (Overlapping subscriptions with DIFFERENT ids give one copy carrying both
 * ids [MQTT-3.3.4-4]; libmosquitto 2.0.11 refuses a PUBLISH that repeats the
 * Subscription Identifier property, so that case is tested with raw bytes in
 * p02_subpub.c, not here.) */
static void
subscription_ids(struct hf_bproc *b)
{
	struct ic sub, pub;
	mosquitto_property *sp = NULL;
	int i, copies = 0;
	struct ic_msg m;
	uint32_t sid;

	CHECK_EQ(ic_init(&sub, "i07-sub", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&pub, "i07-pub", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&sub, b->port), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	mosquitto_property_add_varint(&sp, MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
	                              1);
	CHECK_EQ(ic_subscribe_props(&sub, "ids/#", 1, 0, sp), 1);
	CHECK_EQ(ic_subscribe_props(&sub, "ids/+/b", 1, 0, sp), 1);
	mosquitto_property_free_all(&sp);
	mosquitto_property_add_varint(&sp, MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
	                              268435455); /* the largest */
	CHECK_EQ(ic_subscribe_props(&sub, "big/t", 1, 0, sp), 1);
	mosquitto_property_free_all(&sp);
	CHECK_EQ(ic_subscribe(&sub, "noid/t", 1), 1);

	/* ids/a matches only "ids/#". */
	CHECK(ic_publish_wait(&pub, "ids/a", "1", 1, false));
	i = ic_wait_topic(&sub, "ids/a", 0, IC_WAIT_MS);
	CHECK(i >= 0);
	m = ic_msg_at(&sub, i);
	CHECK(mosquitto_property_read_varint(m.props,
	                                     MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
	                                     &sid, false) != NULL);
	CHECK_EQ(sid, 1);

	/* ids/x/b matches both, same id: one copy, id 1 once. */
	CHECK(ic_publish_wait(&pub, "ids/x/b", "2", 1, false));
	CHECK(ic_publish_wait(&pub, "big/t", "3", 1, false));
	CHECK(ic_publish_wait(&pub, "noid/t", "4", 1, false));
	i = ic_wait_topic(&sub, "noid/t", 0, IC_WAIT_MS);
	CHECK(i >= 0);
	for (int j = 0; j < i; j++) {
		const mosquitto_property *p;

		m = ic_msg_at(&sub, j);
		if (strcmp(m.topic, "ids/x/b") == 0) {
			copies++;
			p = mosquitto_property_read_varint(
			    m.props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &sid,
			    false);
			CHECK(p != NULL);
			CHECK_EQ(sid, 1);
			CHECK(mosquitto_property_read_varint(
			          p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &sid,
			          true) == NULL);
		} else if (strcmp(m.topic, "big/t") == 0) {
			CHECK(mosquitto_property_read_varint(
			          m.props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
			          &sid, false) != NULL);
			CHECK_EQ(sid, 268435455);
		}
	}
	CHECK_EQ(copies, 1);
	m = ic_msg_at(&sub, i);
	CHECK(mosquitto_property_read_varint(m.props,
	                                     MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
	                                     &sid, false) == NULL);
	ic_end(&pub);
	ic_end(&sub);
}

/* Message expiry: an expired retained message or queued message is not
 * delivered; a live one arrives with its interval reduced by the time
 * held. */
static void
message_expiry(struct hf_bproc *b)
{
	struct ic sub, pub;
	mosquitto_property *props = NULL, *cp = NULL;
	uint32_t exp = 0;
	int i;

	/* A persistent session that will queue while offline. */
	mosquitto_property_add_int32(&cp, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
	                             300);
	CHECK_EQ(ic_init(&sub, "i07-off", false, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect_props(&sub, b->port, 30, cp), 0);
	CHECK_EQ(ic_subscribe(&sub, "exp/q", 1), 1);
	CHECK(ic_disconnect(&sub));
	ic_free(&sub);

	CHECK_EQ(ic_init(&pub, "i07-pub", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
	                             1);
	CHECK_EQ(
	    ic_publish_props(&pub, "exp/short", 5, "short", 1, true, props),
	    MOSQ_ERR_SUCCESS);
	CHECK_EQ(ic_publish_props(&pub, "exp/q", 7, "q-short", 1, false, props),
	         MOSQ_ERR_SUCCESS);
	mosquitto_property_free_all(&props);
	mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
	                             60);
	CHECK_EQ(ic_publish_props(&pub, "exp/long", 4, "long", 1, true, props),
	         MOSQ_ERR_SUCCESS);
	CHECK_EQ(ic_publish_props(&pub, "exp/q", 6, "q-long", 1, false, props),
	         MOSQ_ERR_SUCCESS);
	mosquitto_property_free_all(&props);
	CHECK(ic_wait_ge(&pub, &pub.published, 4, IC_WAIT_MS));

	hf_sleep_ms(2500); /* let the 1 s messages expire, the 60 s age */

	/* Retained: only exp/long, with at most 58 s left. */
	CHECK_EQ(ic_init(&sub, "i07-late", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&sub, b->port), 0);
	CHECK_EQ(ic_subscribe(&sub, "exp/+", 1), 1);
	CHECK(ic_publish_wait(&pub, "exp/zmark", "m", 1, false));
	i = ic_wait_topic(&sub, "exp/zmark", 0, IC_WAIT_MS);
	CHECK_EQ(i, 1);
	CHECK(strcmp(ic_msg_at(&sub, 0).topic, "exp/long") == 0);
	CHECK(mosquitto_property_read_int32(ic_msg_at(&sub, 0).props,
	                                    MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
	                                    &exp, false) != NULL);
	CHECK(exp <= 58 && exp >= 50);
	ic_end(&sub);

	/* Queued: only q-long, with at most 58 s left. */
	CHECK_EQ(ic_init(&sub, "i07-off", false, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect_props(&sub, b->port, 30, cp), 0);
	CHECK(ic_get(&sub, &sub.conn_flags) & 1);
	CHECK(ic_publish_wait(&pub, "exp/q", "marker", 1, false));
	CHECK(ic_wait_ge(&sub, &sub.nmsgs, 2, IC_WAIT_MS));
	CHECK(strcmp(ic_msg_at(&sub, 0).payload, "q-long") == 0);
	CHECK(strcmp(ic_msg_at(&sub, 1).payload, "marker") == 0);
	CHECK(mosquitto_property_read_int32(ic_msg_at(&sub, 0).props,
	                                    MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
	                                    &exp, false) != NULL);
	CHECK(exp <= 58 && exp >= 50);
	mosquitto_property_free_all(&cp);
	ic_end(&sub);
	ic_end(&pub);
}

/* No Local: a client does not get its own publications on that
 * subscription, but does get other clients' ones. */
static void
no_local(struct hf_bproc *b)
{
	struct ic me, other;

	CHECK_EQ(ic_init(&me, "i07-me", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&other, "i07-other", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&me, b->port), 0);
	CHECK_EQ(ic_connect(&other, b->port), 0);
	CHECK_EQ(
	    ic_subscribe_props(&me, "nl/t", 1, MQTT_SUB_OPT_NO_LOCAL, NULL), 1);
	CHECK(ic_publish_wait(&me, "nl/t", "mine", 1, false));
	CHECK(ic_publish_wait(&other, "nl/t", "theirs", 1, false));
	CHECK(ic_wait_ge(&me, &me.nmsgs, 1, IC_WAIT_MS));
	CHECK(strcmp(ic_msg_at(&me, 0).payload, "theirs") == 0);
	ic_end(&other);
	ic_end(&me);
}

int
main(void)
{
	mosquitto_lib_init();
	HF_BCASE(properties_forwarded, NULL);
	HF_BCASE(subscription_ids, NULL);
	HF_BCASE(message_expiry, NULL);
	HF_BCASE(no_local, NULL);
	mosquitto_lib_cleanup();
	return HF_DONE();
}
