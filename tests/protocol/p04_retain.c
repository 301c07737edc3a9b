/* tests/protocol/p04_retain.c - retained messages against the real broker,
 * MQTT 3.1.1 and 5.0: store, replace, delete, delivery on subscribe with
 * the RETAIN flag, live delivery flags (3.1.1 and 5.0 Retain As
 * Published), 5.0 Retain Handling 0/1/2.
 *
 * Absence is checked with a marker message (see p02_subpub.c). Each case
 * has its own broker. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

/* Subscribe s to "marker" (packet id 99) and have pub send the marker; the
 * count of other PUBLISHes the subscriber saw first goes to *others. */
static int
drain(int s, int pub, uint8_t ver, int *others)
{
	if (hf_raw_publish(pub, ver, "marker", "m", 1, 0, false, 0) != 0)
		return -1;
	return hf_raw_until(s, ver, "marker", 3000, others);
}

/* A retained message is stored [MQTT-3.3.1-5] and sent to a new subscriber
 * with RETAIN 1 [MQTT-3.3.1-6], [MQTT-3.3.1-8] (3.1.1) / [MQTT-3.3.1-6],
 * [MQTT-3.3.1-9] (5.0); a later retained message replaces it; a wildcard
 * subscription gets every matching retained message. */
static void
store_replace(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	int others;
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);
	int s;

	CHECK(pub >= 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "ret/a", "first", 5, 1, true, 1)));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "ret/a", "second", 6, 1, true, 2)));
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, ver, "ret/b", "bee", 3, 0, true, 0)));
	s = hf_raw_connect(b->port, ver, "s", true, 60, NULL, NULL);
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "marker", 0, 0), 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 2, "ret/a", 1, 0), 1);
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "ret/a"));
	CHECK(p.u.publish.retain);
	CHECK_EQ(p.u.publish.qos, 1);
	CHECK_EQ(p.u.publish.payload.len, 6);
	CHECK_MEM(p.u.publish.payload.p, "second", 6);
	CHECK_EQ(drain(s, pub, ver, &others), 1);
	CHECK_EQ(others, 0); /* "first" is gone */

	/* Wildcard: both topics, at min(stored QoS, granted QoS). */
	CHECK_EQ(hf_raw_subscribe(s, ver, 3, "ret/+", 2, 0), 2);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(hf_raw_expect_publish(s, ver, 3000, true, &p, buf,
		                               sizeof(buf)),
		         1);
		CHECK(p.u.publish.retain);
		if (hf_bytes_eq(p.u.publish.topic, "ret/b"))
			CHECK_EQ(p.u.publish.qos, 0);
		else
			CHECK(hf_bytes_eq(p.u.publish.topic, "ret/a"));
	}
	close(s);
	close(pub);
}
BOTH(store_replace)

/* A retained PUBLISH with an empty payload removes the retained message
 * [MQTT-3.3.1-10] (3.1.1) / [MQTT-3.3.1-6] (5.0) and is not stored
 * [MQTT-3.3.1-11] (3.1.1) / [MQTT-3.3.1-7] (5.0); current subscribers get
 * it as a normal message. */
static void
delete_empty(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	int others;
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);
	int live = hf_raw_sub_client(b->port, ver, "live", "del", 0);
	int s;

	CHECK(pub >= 0 && live >= 0);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, ver, "del", "gone", 4, 0, true, 0)));
	CHECK_EQ(
	    hf_raw_expect_publish(live, ver, 3000, true, &p, buf, sizeof(buf)),
	    1);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "del", "", 0, 0, true, 0)));
	CHECK_EQ(
	    hf_raw_expect_publish(live, ver, 3000, true, &p, buf, sizeof(buf)),
	    1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "del"));
	CHECK_EQ(p.u.publish.payload.len, 0);
	s = hf_raw_connect(b->port, ver, "s", true, 60, NULL, NULL);
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "marker", 0, 0), 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 2, "del", 0, 0), 0);
	CHECK_EQ(drain(s, pub, ver, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(live);
	close(pub);
}
BOTH(delete_empty)

/* A message published with RETAIN 1 to an existing subscription arrives
 * with RETAIN 0 in 3.1.1 [MQTT-3.3.1-9]; in 5.0 with RETAIN 0 unless the
 * subscription has Retain As Published, then as published
 * [MQTT-3.3.1-12], [MQTT-3.3.1-13]. */
static void
live_flag(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);
	int s = hf_raw_sub_client(b->port, ver, "s", "lf", 1);

	CHECK(pub >= 0 && s >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "lf", "x", 1, 1, true, 1)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(!p.u.publish.retain);
	close(s);
	if (ver != V5) {
		close(pub);
		return;
	}
	s = hf_raw_connect(b->port, ver, "rap", true, 60, NULL, NULL);
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, ver, 1, "lf2", 1 | HF_SUBOPT_RAP, 0), 1);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "lf2", "x", 1, 1, true, 2)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(p.u.publish.retain);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "lf2", "y", 1, 1, false, 3)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(!p.u.publish.retain);
	close(s);
	close(pub);
}
BOTH(live_flag)

/* 5.0 Retain Handling: 0 = send retained messages on every SUBSCRIBE
 * [MQTT-3.3.1-9]; 1 = only if the subscription did not exist
 * [MQTT-3.3.1-10]; 2 = never [MQTT-3.3.1-11]. */
static void
t_v5_retain_handling(struct hf_bproc *b)
{
	struct hf_packet p;
	uint8_t buf[1024];
	int others;
	int pub = hf_raw_connect(b->port, V5, "p", true, 60, NULL, NULL);
	int s = hf_raw_connect(b->port, V5, "s", true, 60, NULL, NULL);

	CHECK(pub >= 0 && s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "marker", 0, 0), 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "rh/0", "0", 1, 1, true, 1)));
	CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "rh/1", "1", 1, 1, true, 2)));
	CHECK(HF_PUB_OK(hf_raw_publish(pub, V5, "rh/2", "2", 1, 1, true, 3)));

	/* RH 0, twice: the retained message both times. */
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(hf_raw_subscribe(s, V5, 2, "rh/0", 0, 0), 0);
		CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf,
		                               sizeof(buf)),
		         1);
		CHECK(hf_bytes_eq(p.u.publish.topic, "rh/0"));
		CHECK(p.u.publish.retain);
	}
	/* RH 1: first time yes, second time (subscription exists) no. */
	CHECK_EQ(hf_raw_subscribe(s, V5, 3, "rh/1", 1 << HF_SUBOPT_RH_SHIFT, 0),
	         0);
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "rh/1"));
	CHECK_EQ(hf_raw_subscribe(s, V5, 4, "rh/1", 1 << HF_SUBOPT_RH_SHIFT, 0),
	         0);
	/* RH 2: never. */
	CHECK_EQ(hf_raw_subscribe(s, V5, 5, "rh/2", 2 << HF_SUBOPT_RH_SHIFT, 0),
	         0);
	CHECK_EQ(drain(s, pub, V5, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}

/* Retained messages survive their publisher's disconnect and are still
 * delivered to a subscriber joining later (the server stores them, not the
 * session) [MQTT-3.3.1-5]. */
static void
retained_outlives_publisher(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[1024];
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);
	int s;

	CHECK(pub >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "keep", "k", 1, 1, true, 1)));
	CHECK_EQ(hf_raw_disconnect(pub, ver, 0), 0);
	close(pub);
	s = hf_raw_sub_client(b->port, ver, "s", "keep", 1);
	CHECK(s >= 0);
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(p.u.publish.retain);
	CHECK_MEM(p.u.publish.payload.p, "k", 1);
	close(s);
}
BOTH(retained_outlives_publisher)

int
main(void)
{
	HF_BCASE(store_replace_v311, NULL);
	HF_BCASE(store_replace_v5, NULL);
	HF_BCASE(delete_empty_v311, NULL);
	HF_BCASE(delete_empty_v5, NULL);
	HF_BCASE(live_flag_v311, NULL);
	HF_BCASE(live_flag_v5, NULL);
	HF_BCASE(t_v5_retain_handling, NULL);
	HF_BCASE(retained_outlives_publisher_v311, NULL);
	HF_BCASE(retained_outlives_publisher_v5, NULL);
	return HF_DONE();
}
