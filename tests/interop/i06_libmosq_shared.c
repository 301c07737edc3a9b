/* tests/interop/i06_libmosq_shared.c - MQTT 5 shared subscriptions
 * ($share/{group}/{filter}) with libmosquitto subscribers.
 *
 * Two v5 clients subscribe to $share/g/jobs/# at QoS 1; a publisher sends
 * N QoS 1 messages. Every message goes to exactly one member of the group
 * [MQTT-4.8.2], so the union of what both received is exactly the N sent,
 * with no message twice; both members get a share (what load sharing is
 * for; mosquitto and other brokers round-robin). An ordinary subscriber on
 * the same topic still gets every message, and a second group gets its own
 * copy of each. After one member unsubscribes, the other gets everything.
 *
 * Threading: see iclient.h; each case has its own broker. */
#include "iclient.h"

#define N_SHARED 200

static int
seq_of(const struct ic_msg *m)
{
	return atoi((const char *)m->payload);
}

static void
shared_group(struct hf_bproc *b)
{
	struct ic a, c, plain, other, pub;
	unsigned char seen[N_SHARED];
	char body[16];
	int total;

	memset(seen, 0, sizeof(seen));
	CHECK_EQ(ic_init(&a, "i06-a", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&c, "i06-b", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&plain, "i06-plain", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&other, "i06-other", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&pub, "i06-pub", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&a, b->port), 0);
	CHECK_EQ(ic_connect(&c, b->port), 0);
	CHECK_EQ(ic_connect(&plain, b->port), 0);
	CHECK_EQ(ic_connect(&other, b->port), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK_EQ(ic_subscribe(&a, "$share/g/jobs/#", 1), 1);
	CHECK_EQ(ic_subscribe(&c, "$share/g/jobs/#", 1), 1);
	CHECK_EQ(ic_subscribe(&plain, "jobs/#", 1), 1);
	CHECK_EQ(ic_subscribe(&other, "$share/h/jobs/+", 1), 1);

	for (int i = 0; i < N_SHARED; i++) {
		snprintf(body, sizeof(body), "%d", i);
		CHECK_EQ(ic_publish(&pub, i % 2 ? "jobs/odd" : "jobs/even",
		                    body, 1, false),
		         MOSQ_ERR_SUCCESS);
	}
	CHECK(ic_wait_ge(&pub, &pub.published, N_SHARED, 20000));
	CHECK(ic_wait_ge(&plain, &plain.nmsgs, N_SHARED, 20000));
	CHECK(ic_wait_ge(&other, &other.nmsgs, N_SHARED, 20000));
	/* The group as a whole gets all N. */
	int64_t end = ic_now_ms() + 20000;
	while (ic_get(&a, &a.nmsgs) + ic_get(&c, &c.nmsgs) < N_SHARED &&
	       ic_now_ms() < end)
		ic_wait_ge(&a, &a.nmsgs, ic_get(&a, &a.nmsgs) + 1, 20);
	/* A publish to a marker topic only plain hears, to let any (wrong)
	 * duplicate deliveries to the group arrive before we count. */
	CHECK_EQ(ic_subscribe(&plain, "mark", 1), 1);
	CHECK(ic_publish_wait(&pub, "mark", "m", 1, false));
	CHECK(ic_wait_topic(&plain, "mark", 0, IC_WAIT_MS) >= 0);

	ic_end(&pub);
	CHECK(ic_disconnect(&a));
	CHECK(ic_disconnect(&c));
	CHECK(ic_disconnect(&plain));
	CHECK(ic_disconnect(&other));

	total = a.nmsgs + c.nmsgs;
	CHECK_EQ(total, N_SHARED);
	CHECK(a.nmsgs > 0);
	CHECK(c.nmsgs > 0);
	for (int i = 0; i < a.nmsgs; i++) {
		int s = seq_of(&a.msgs[i]);

		CHECK(s >= 0 && s < N_SHARED && !seen[s]);
		seen[s] = 1;
		CHECK_EQ(a.msgs[i].qos, 1);
	}
	for (int i = 0; i < c.nmsgs; i++) {
		int s = seq_of(&c.msgs[i]);

		CHECK(s >= 0 && s < N_SHARED && !seen[s]);
		seen[s] = 1;
		CHECK_EQ(c.msgs[i].qos, 1);
	}
	for (int i = 0; i < N_SHARED; i++)
		CHECK(seen[i]);
	/* The plain subscriber and the other group: each message once. */
	CHECK_EQ(plain.nmsgs, N_SHARED + 1);
	CHECK_EQ(other.nmsgs, N_SHARED);
	for (int i = 0; i < N_SHARED; i++) {
		CHECK_EQ(seq_of(&plain.msgs[i]), i); /* in order */
		CHECK_EQ(seq_of(&other.msgs[i]), i);
	}
	ic_free(&a);
	ic_free(&c);
	ic_free(&plain);
	ic_free(&other);
}

/* When one member leaves the group, the remaining one gets everything. */
static void
shared_member_leaves(struct hf_bproc *b)
{
	struct ic a, c, pub;

	CHECK_EQ(ic_init(&a, "i06-a", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&c, "i06-b", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_init(&pub, "i06-pub", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(ic_connect(&a, b->port), 0);
	CHECK_EQ(ic_connect(&c, b->port), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK_EQ(ic_subscribe(&a, "$share/g/t", 1), 1);
	CHECK_EQ(ic_subscribe(&c, "$share/g/t", 1), 1);
	CHECK_EQ(mosquitto_unsubscribe(c.m, NULL, "$share/g/t"),
	         MOSQ_ERR_SUCCESS);
	CHECK(ic_wait_ge(&c, &c.unsubacks, 1, IC_WAIT_MS));
	for (int i = 0; i < 20; i++)
		CHECK(ic_publish_wait(&pub, "t", "x", 1, false));
	CHECK(ic_wait_ge(&a, &a.nmsgs, 20, IC_WAIT_MS));
	ic_end(&pub);
	ic_end(&a);
	CHECK(ic_disconnect(&c)); /* still connected, just not a member */
	CHECK_EQ(c.nmsgs, 0);
	ic_free(&c);
}

int
main(void)
{
	mosquitto_lib_init();
	HF_BCASE(shared_group, NULL);
	HF_BCASE(shared_member_leaves, NULL);
	mosquitto_lib_cleanup();
	return HF_DONE();
}
