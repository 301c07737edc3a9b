/* tests/protocol/p20_limits.c - max_topic_levels and
 * max_subscriptions_per_client, Holdfast's own limits.
 *
 * The specifications set no depth for topics: a 65 535-byte filter of
 * slashes has 65 536 levels, and the subscription and retained tries would
 * build one node per level. Holdfast refuses, before touching either tree:
 *   - a PUBLISH whose topic is too deep: 5.0 PUBACK/PUBREC 0x90 (Topic Name
 *     invalid: "correctly formed, but not accepted by this Server"), QoS 0
 *     dropped; 3.1.1 QoS 1/2 closes the connection (no negative
 *     acknowledgment, and a message thrown away is never acknowledged),
 *     QoS 0 dropped. Not retained either.
 *   - a SUBSCRIBE filter too deep: SUBACK 0x8F (Topic Filter invalid), 3.1.1
 *     0x80 (Failure), each filter on its own; the $share/GROUP/ prefix does
 *     not count.
 *   - a subscription beyond max_subscriptions_per_client: SUBACK 0x97
 *     (Quota exceeded), 3.1.1 0x80; replacing an existing one is fine.
 *   - a will whose topic is too deep: CONNACK 0x90, 3.1.1 0x05.
 * Most cases run with max_topic_levels 4 and max_subscriptions_per_client
 * 3; one checks the defaults (128 levels) with a 60 000-level filter.
 *
 * One broker per HF_BCASE. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define LIMITS "max_topic_levels 4\nmax_subscriptions_per_client 3"

/* SUBSCRIBE several filters in one packet (QoS 1 each) and read the SUBACK
 * codes into rcs. Returns the number of codes, or -1. */
static int
subscribe_many(int fd, uint8_t ver, uint16_t pid, const char *const *filters,
               int n, uint8_t *rcs)
{
	static uint8_t entries[200000], buf[4096];
	struct hf_packet p;
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		size_t fl = strlen(filters[i]);

		if (len + fl + 3 > sizeof(entries))
			return -1;
		entries[len++] = (uint8_t)(fl >> 8);
		entries[len++] = (uint8_t)fl;
		memcpy(entries + len, filters[i], fl);
		len += fl;
		entries[len++] = 1;
	}
	memset(&p, 0, sizeof(p));
	p.type = HF_SUBSCRIBE;
	p.u.subscribe.pid = pid;
	p.u.subscribe.entries.p = entries;
	p.u.subscribe.entries.len = (uint32_t)len;
	if (hf_raw_send_pkt(fd, &p, ver) != 0)
		return -1;
	if (hf_raw_recvb(fd, ver, 5000, &p, buf, sizeof(buf)) != 1 ||
	    p.type != HF_SUBACK || p.u.suback.pid != pid)
		return -1;
	memcpy(rcs, p.u.suback.rcs, p.u.suback.n);
	return (int)p.u.suback.n;
}

/* A PUBLISH with a topic deeper than max_topic_levels is refused and
 * delivered to nobody, not even a '#' subscriber; one at the limit is. */
static void
publish_depth(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet p;
	uint8_t buf[512];
	int others, drc;
	int s = hf_raw_sub_client(b->port, ver, "s", "#", 1);
	int pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);

	CHECK(s >= 0 && pub >= 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "a/b/c/d", "at", 2, 1, false, 1)));
	CHECK_EQ(
	    hf_raw_expect_publish(s, ver, 3000, true, &p, buf, sizeof(buf)), 1);
	CHECK(hf_bytes_eq(p.u.publish.topic, "a/b/c/d"));
	/* QoS 0, too deep: dropped, the connection stays. */
	CHECK_EQ(hf_raw_publish(pub, ver, "a/b/c/d/e", "deep0", 5, 0, false, 0),
	         0);
	CHECK_EQ(hf_raw_ping(pub, 3000), 1);
	if (ver == V5) {
		CHECK_EQ(hf_raw_publish(pub, ver, "a/b/c/d/e", "deep1", 5, 1,
		                        true, 2),
		         HF_RC_TOPIC_NAME_INVALID);
		CHECK_EQ(
		    hf_raw_publish(pub, ver, "/////", "deep2", 5, 2, false, 3),
		    HF_RC_TOPIC_NAME_INVALID);
		CHECK_EQ(hf_raw_ping(pub, 3000), 1);
	} else {
		memset(&p, 0, sizeof(p));
		p.type = HF_PUBLISH;
		p.u.publish.qos = 1;
		p.u.publish.retain = true;
		p.u.publish.pid = 2;
		p.u.publish.topic.p = (const uint8_t *)"a/b/c/d/e";
		p.u.publish.topic.len = 9;
		CHECK_EQ(hf_raw_send_pkt(pub, &p, ver), 0);
		CHECK(hf_raw_wait_close(pub, 3000, &drc)); /* no PUBACK */
		close(pub);
		pub = hf_raw_connect(b->port, ver, "p", true, 60, NULL, NULL);
		CHECK(pub >= 0);
	}
	CHECK_EQ(hf_raw_publish(pub, ver, "marker", "m", 1, 0, false, 0), 0);
	CHECK_EQ(hf_raw_until(s, ver, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	/* The retained one was not kept: a new '#' subscriber gets only the
	 * marker's successor. */
	s = hf_raw_sub_client(b->port, ver, "s2", "#", 1);
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_publish(pub, ver, "marker", "m", 1, 0, false, 0), 0);
	CHECK_EQ(hf_raw_until(s, ver, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}
BOTH(publish_depth)

/* SUBSCRIBE filters of 4 and 5 levels in one packet: each gets its own
 * code; a shared subscription counts the levels of its FILTER. */
static void
subscribe_depth(struct hf_bproc *b, uint8_t ver)
{
	static const char *const f[] = {"a/b/c/+", "a/b/c/d/#",
	                                "$share/g/a/b/c/d",
	                                "$share/g/a/b/c/d/e", "+/+/+/+/+"};
	uint8_t rcs[8], bad = ver == V5 ? HF_RC_TOPIC_FILTER_INVALID : 0x80;
	int fd = hf_raw_connect(b->port, ver, "sd", true, 60, NULL, NULL);

	CHECK(fd >= 0);
	CHECK_EQ(subscribe_many(fd, ver, 1, f, 5, rcs), 5);
	CHECK_EQ(rcs[0], 1);
	CHECK_EQ(rcs[1], bad);
	CHECK_EQ(rcs[2], 1);
	CHECK_EQ(rcs[3], bad);
	CHECK_EQ(rcs[4], bad);
	CHECK_EQ(hf_raw_ping(fd, 3000), 1);
	close(fd);
}
BOTH(subscribe_depth)

/* max_subscriptions_per_client 3: the fourth distinct filter is refused
 * (0x97 / 0x80), a repeated one replaces and is granted, and after an
 * UNSUBSCRIBE there is room again. Refused filters deliver nothing. */
static void
subscription_count(struct hf_bproc *b, uint8_t ver)
{
	static const char *const f[] = {"c/1", "c/2", "c/3", "c/4", "c/1"};
	static const char *const again[] = {"c/4"};
	uint8_t rcs[8], quota = ver == V5 ? HF_RC_QUOTA_EXCEEDED : 0x80;
	int others;
	int fd = hf_raw_connect(b->port, ver, "sc", true, 60, NULL, NULL);

	CHECK(fd >= 0);
	CHECK_EQ(subscribe_many(fd, ver, 1, f, 5, rcs), 5);
	CHECK(rcs[0] == 1 && rcs[1] == 1 && rcs[2] == 1);
	CHECK_EQ(rcs[3], quota);
	CHECK_EQ(rcs[4], 1);
	CHECK_EQ(hf_raw_publish(fd, ver, "c/4", "no", 2, 0, false, 0), 0);
	CHECK_EQ(hf_raw_publish(fd, ver, "c/1", "yes", 3, 0, false, 0), 0);
	CHECK_EQ(hf_raw_until(fd, ver, "c/1", 3000, &others), 1);
	CHECK_EQ(others, 0);
	CHECK_EQ(hf_raw_unsubscribe(fd, ver, 2, "c/2"), 0);
	CHECK_EQ(subscribe_many(fd, ver, 3, again, 1, rcs), 1);
	CHECK_EQ(rcs[0], 1);
	CHECK_EQ(hf_raw_publish(fd, ver, "c/4", "now", 3, 0, false, 0), 0);
	CHECK_EQ(hf_raw_until(fd, ver, "c/4", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(fd);
}
BOTH(subscription_count)

/* A will on a topic deeper than max_topic_levels is refused at CONNECT:
 * 5.0 CONNACK 0x90, 3.1.1 0x05. At the limit it is accepted. */
static void
will_depth(struct hf_bproc *b, uint8_t ver)
{
	struct hf_packet c, ca;
	uint8_t buf[256];
	int fd;

	hf_raw_connect_init(&c, ver, "wd", true, 60);
	c.u.connect.will = true;
	c.u.connect.will_topic.p = (const uint8_t *)"w/x/y/z/deep";
	c.u.connect.will_topic.len = 12;
	c.u.connect.will_payload.p = (const uint8_t *)"bye";
	c.u.connect.will_payload.len = 3;
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, ver == V5 ? HF_RC_TOPIC_NAME_INVALID
	                                    : HF_CONNACK_NOT_AUTHORIZED);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
	c.u.connect.will_topic.len = 7; /* "w/x/y/z" */
	fd = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(fd >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	close(fd);
}
BOTH(will_depth)

/* Defaults: 128 levels. A filter of 128 levels is granted, 129 and a
 * 60 000-level one are refused at once, and a PUBLISH of 60 000 levels
 * too; the broker stays responsive. */
static void
t_default_depth(struct hf_bproc *b)
{
	static char l128[257], l129[259], huge[60000];
	const char *f[3] = {l128, l129, huge};
	uint8_t rcs[4];
	int fd = hf_raw_connect(b->port, V5, "dd", true, 60, NULL, NULL);
	int64_t t0;

	CHECK(fd >= 0);
	for (int i = 0; i < 128; i++)
		memcpy(l128 + 2 * i, i ? "/a" : "aa", 2);
	memcpy(l129, l128, 256);
	memcpy(l129 + 256, "/b", 2);
	memset(huge, '/', sizeof(huge) - 1);
	CHECK_EQ(hf_topic_levels((const uint8_t *)l128, strlen(l128)), 128);
	CHECK_EQ(hf_topic_levels((const uint8_t *)l129, strlen(l129)), 129);
	t0 = hf_now_ms();
	CHECK_EQ(subscribe_many(fd, V5, 1, f, 3, rcs), 3);
	CHECK_EQ(rcs[0], 1);
	CHECK_EQ(rcs[1], HF_RC_TOPIC_FILTER_INVALID);
	CHECK_EQ(rcs[2], HF_RC_TOPIC_FILTER_INVALID);
	CHECK_EQ(hf_raw_publish(fd, V5, huge, "x", 1, 1, true, 2),
	         HF_RC_TOPIC_NAME_INVALID);
	CHECK_EQ(hf_raw_ping(fd, 3000), 1);
	fprintf(stderr, "refusals took %lld ms\n",
	        (long long)(hf_now_ms() - t0));
	close(fd);
}

int
main(void)
{
	HF_BCASE(publish_depth_v311, LIMITS);
	HF_BCASE(publish_depth_v5, LIMITS);
	HF_BCASE(subscribe_depth_v311, LIMITS);
	HF_BCASE(subscribe_depth_v5, LIMITS);
	HF_BCASE(subscription_count_v311, LIMITS);
	HF_BCASE(subscription_count_v5, LIMITS);
	HF_BCASE(will_depth_v311, LIMITS);
	HF_BCASE(will_depth_v5, LIMITS);
	HF_BCASE(t_default_depth, NULL);
	return HF_DONE();
}
