/* tests/interop/i04_libmosq_will.c - will messages through libmosquitto,
 * MQTT 3.1.1 and 5.0.
 *
 * The will is published when the network connection ends without a
 * DISCONNECT [MQTT-3.1.2-8]: here the victim's socket is shut down under
 * libmosquitto (ic_abort), or the victim simply stops talking and the
 * broker's keep-alive timer (1.5 x keep alive [MQTT-3.1.2-24]) closes it.
 * It is not published after a normal DISCONNECT [MQTT-3.1.2-10], except
 * with v5 reason code 0x04 "Disconnect with Will Message". A will with the
 * retain flag is stored as a retained message; v5 will properties are
 * forwarded with it.
 *
 * Absence is checked with a marker published afterwards by another client:
 * the watcher's first message must be the marker.
 *
 * Threading: see iclient.h; the keep-alive victim is driven by hand on the
 * test thread (no network thread) so that it can fall silent. */
#include "iclient.h"

static int
start_watcher(struct ic *w, uint16_t port, int version, const char *filter)
{
	if (ic_init(w, "i04-watch", true, version) != 0)
		return -1;
	if (ic_connect(w, port) != 0)
		return -1;
	return ic_subscribe(w, filter, 1);
}

/* Connect a client with a will on topic, QoS 1. will_props, if any, are
 * handed over to libmosquitto (it frees them). */
static int
start_victim(struct ic *v, uint16_t port, int version, const char *topic,
             bool retain, mosquitto_property *will_props)
{
	if (ic_init(v, "i04-victim", true, version) != 0)
		return -1;
	if (mosquitto_will_set_v5(v->m, topic, 4, "gone", 1, retain,
	                          will_props) != MOSQ_ERR_SUCCESS)
		return -1;
	return ic_connect(v, port);
}

static void
will_on_abort(struct hf_bproc *b, int version)
{
	struct ic w, v;
	struct ic_msg m;
	int i;

	CHECK_EQ(start_watcher(&w, b->port, version, "w/#"), 1);
	CHECK_EQ(start_victim(&v, b->port, version, "w/victim", false, NULL),
	         0);
	ic_abort(&v);
	i = ic_wait_topic(&w, "w/victim", 0, IC_WAIT_MS);
	CHECK(i >= 0);
	m = ic_msg_at(&w, i);
	CHECK_EQ(m.len, 4);
	CHECK_MEM(m.payload, "gone", 4);
	CHECK_EQ(m.qos, 1);
	CHECK(!m.retain);
	ic_free(&v);
	ic_end(&w);
}

static void
will_abort_v311(struct hf_bproc *b)
{
	will_on_abort(b, MQTT_PROTOCOL_V311);
}

static void
will_abort_v5(struct hf_bproc *b)
{
	will_on_abort(b, MQTT_PROTOCOL_V5);
}

static void
no_will_on_disconnect(struct hf_bproc *b, int version)
{
	struct ic w, v, pub;

	CHECK_EQ(start_watcher(&w, b->port, version, "w/#"), 1);
	CHECK_EQ(start_victim(&v, b->port, version, "w/clean", false, NULL), 0);
	CHECK(ic_disconnect(&v));
	ic_free(&v);
	CHECK_EQ(ic_init(&pub, NULL, true, version), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK(ic_publish_wait(&pub, "w/mark", "marker", 1, false));
	CHECK(ic_wait_ge(&w, &w.nmsgs, 1, IC_WAIT_MS));
	CHECK(strcmp(ic_msg_at(&w, 0).topic, "w/mark") == 0);
	ic_end(&pub);
	ic_end(&w);
}

static void
no_will_v311(struct hf_bproc *b)
{
	no_will_on_disconnect(b, MQTT_PROTOCOL_V311);
}

static void
no_will_v5(struct hf_bproc *b)
{
	no_will_on_disconnect(b, MQTT_PROTOCOL_V5);
}

/* v5 DISCONNECT with reason code 0x04 still publishes the will. */
static void
will_on_disconnect_0x04(struct hf_bproc *b)
{
	struct ic w, v;

	CHECK_EQ(start_watcher(&w, b->port, MQTT_PROTOCOL_V5, "w/#"), 1);
	CHECK_EQ(
	    start_victim(&v, b->port, MQTT_PROTOCOL_V5, "w/asked", false, NULL),
	    0);
	CHECK(ic_disconnect_rc(&v, 0x04));
	ic_free(&v);
	CHECK(ic_wait_topic(&w, "w/asked", 0, IC_WAIT_MS) >= 0);
	ic_end(&w);
}

/* A retained will is stored: a later subscriber gets it with the flag. */
static void
will_retained(struct hf_bproc *b)
{
	struct ic v, late;
	int i;

	CHECK_EQ(start_victim(&v, b->port, MQTT_PROTOCOL_V311, "w/status", true,
	                      NULL),
	         0);
	ic_abort(&v);
	ic_free(&v);
	CHECK_EQ(ic_init(&late, NULL, true, MQTT_PROTOCOL_V311), 0);
	CHECK_EQ(ic_connect(&late, b->port), 0);
	/* The will may be published a moment after the socket closed;
	 * subscribe until the retained copy shows up (bounded). */
	i = -1;
	for (int tries = 0; tries < 50 && i < 0; tries++) {
		CHECK_EQ(ic_subscribe(&late, "w/status", 1), 1);
		i = ic_wait_topic(&late, "w/status", 0, 200);
	}
	CHECK(i >= 0);
	CHECK(ic_msg_at(&late, i).retain);
	CHECK_MEM(ic_msg_at(&late, i).payload, "gone", 4);
	ic_end(&late);
}

/* v5 will properties (content type, user properties, response topic)
 * travel with the will message. */
static void
will_properties_v5(struct hf_bproc *b)
{
	struct ic w, v;
	mosquitto_property *props = NULL;
	char *ct = NULL, *rt = NULL;
	char ups[256];
	struct ic_msg m;
	int i;

	CHECK_EQ(start_watcher(&w, b->port, MQTT_PROTOCOL_V5, "w/#"), 1);
	mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE,
	                              "text/plain");
	mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC,
	                              "w/back");
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
	                                   "why", "crash");
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
	                                   "who", "victim");
	CHECK_EQ(start_victim(&v, b->port, MQTT_PROTOCOL_V5, "w/props", false,
	                      props),
	         0);
	/* mosquitto_will_set_v5 took ownership of props on success. */
	ic_abort(&v);
	ic_free(&v);
	i = ic_wait_topic(&w, "w/props", 0, IC_WAIT_MS);
	CHECK(i >= 0);
	m = ic_msg_at(&w, i);
	CHECK(mosquitto_property_read_string(m.props, MQTT_PROP_CONTENT_TYPE,
	                                     &ct, false) != NULL);
	CHECK(strcmp(ct, "text/plain") == 0);
	free(ct);
	CHECK(mosquitto_property_read_string(m.props, MQTT_PROP_RESPONSE_TOPIC,
	                                     &rt, false) != NULL);
	CHECK(strcmp(rt, "w/back") == 0);
	free(rt);
	ic_user_props(m.props, ups, sizeof(ups));
	CHECK(strcmp(ups, "why=crash;who=victim;") == 0);
	ic_end(&w);
}

/* A client that stops talking is cut off after 1.5 x keep alive and its
 * will is published. The victim is driven by hand: a few mosquitto_loop
 * calls until CONNACK, then silence (no PINGREQ). Takes ~7 s. */
static void
will_on_keepalive(struct hf_bproc *b)
{
	struct ic w, v;
	int64_t t0, end;

	CHECK_EQ(start_watcher(&w, b->port, MQTT_PROTOCOL_V311, "w/#"), 1);
	CHECK_EQ(ic_init(&v, "i04-silent", true, MQTT_PROTOCOL_V311), 0);
	CHECK_EQ(mosquitto_will_set(v.m, "w/silent", 4, "gone", 1, false),
	         MOSQ_ERR_SUCCESS);
	CHECK_EQ(mosquitto_connect(v.m, "127.0.0.1", b->port, 5),
	         MOSQ_ERR_SUCCESS);
	end = ic_now_ms() + IC_WAIT_MS;
	while (ic_get(&v, &v.connects) < 1 && ic_now_ms() < end)
		mosquitto_loop(v.m, 50, 1);
	CHECK_EQ(ic_get(&v, &v.connects), 1);
	t0 = ic_now_ms();
	/* Keep alive 5 s (libmosquitto's minimum): the broker must give up
	 * by 7.5 s [MQTT-3.1.2-24], and not before 5 s; allow slack. */
	CHECK(ic_wait_topic(&w, "w/silent", 0, 12000) >= 0);
	CHECK(ic_now_ms() - t0 >= 4900);
	ic_free(&v);
	ic_end(&w);
}

int
main(void)
{
	mosquitto_lib_init();
	HF_BCASE(will_abort_v311, NULL);
	HF_BCASE(will_abort_v5, NULL);
	HF_BCASE(no_will_v311, NULL);
	HF_BCASE(no_will_v5, NULL);
	HF_BCASE(will_on_disconnect_0x04, NULL);
	HF_BCASE(will_retained, NULL);
	HF_BCASE(will_properties_v5, NULL);
	HF_BCASE(will_on_keepalive, NULL);
	mosquitto_lib_cleanup();
	return HF_DONE();
}
