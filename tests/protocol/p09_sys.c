/* tests/protocol/p09_sys.c - the $SYS topic tree against the real broker
 * (sys_interval 1): version, uptime and connected-client count are
 * published under $SYS/broker/, retained, and a "#" subscription does not
 * see them [MQTT-4.7.2-1].
 *
 * The topic names follow mosquitto's $SYS tree, which clients and
 * dashboards expect. Each case has its own broker. Single-threaded. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define SYS_CONF "sys_interval 1"

enum { SEEN_VERSION = 1, SEEN_UPTIME = 2, SEEN_CONNECTED = 4 };

/* Collect $SYS/broker/# messages for up to timeout_ms until all three
 * topics were seen; *all_retained is cleared if one arrived with RETAIN 0
 * as the answer to the SUBSCRIBE (first copy of each topic). */
static int
collect(int fd, uint8_t ver, int timeout_ms, bool *all_retained,
        long *connected)
{
	int64_t deadline = hf_now_ms() + timeout_ms;
	int seen = 0;

	/* The retained snapshot may predate this client's connection: wait
	 * for an interval that counts it too. */
	while ((seen != 7 || *connected < 1) && hf_now_ms() < deadline) {
		struct hf_packet p;
		uint8_t buf[1024];
		int bit = 0;
		int r = hf_raw_expect_publish(fd, ver,
		                              (int)(deadline - hf_now_ms()),
		                              true, &p, buf, sizeof(buf));

		if (r != 1)
			break;
		if (hf_bytes_eq(p.u.publish.topic, "$SYS/broker/version"))
			bit = SEEN_VERSION;
		else if (hf_bytes_eq(p.u.publish.topic, "$SYS/broker/uptime"))
			bit = SEEN_UPTIME;
		else if (hf_bytes_eq(p.u.publish.topic,
		                     "$SYS/broker/clients/connected")) {
			char num[16] = {0};

			bit = SEEN_CONNECTED;
			if (p.u.publish.payload.len < sizeof(num)) {
				memcpy(num, p.u.publish.payload.p,
				       p.u.publish.payload.len);
				*connected = strtol(num, NULL, 10);
			}
		}
		if (bit && !(seen & bit) && !p.u.publish.retain)
			*all_retained = false;
		seen |= bit;
	}
	return seen;
}

/* After the first interval, a new subscriber to $SYS/broker/# gets the
 * version, uptime and clients/connected at once, as retained messages
 * (RETAIN 1 on delivery at subscribe [MQTT-3.3.1-8] / [MQTT-3.3.1-9]). */
static void
sys_topics(struct hf_bproc *b, uint8_t ver)
{
	bool retained = true;
	long connected = -1;
	int s, seen;

	/* Let the first $SYS publication happen (interval 1 s). */
	hf_sleep_ms(1500);
	s = hf_raw_sub_client(b->port, ver, "sys", "$SYS/broker/#", 0);
	CHECK(s >= 0);
	seen = collect(s, ver, 3500, &retained, &connected);
	CHECK_EQ(seen, 7);
	CHECK(retained);
	CHECK(connected >= 1);
	close(s);
}

static void
t_sys_topics_v311(struct hf_bproc *b)
{
	sys_topics(b, V3);
}

static void
t_sys_topics_v5(struct hf_bproc *b)
{
	sys_topics(b, V5);
}

/* Values are refreshed every interval: a subscriber keeps getting uptime
 * updates (at least two within 3.5 s). */
static void
t_sys_refresh(struct hf_bproc *b)
{
	int s = hf_raw_sub_client(b->port, V3, "sys", "$SYS/broker/uptime", 0);
	int64_t deadline = hf_now_ms() + 3500;
	int n = 0;

	CHECK(s >= 0);
	while (n < 3 && hf_now_ms() < deadline) {
		struct hf_packet p;
		uint8_t buf[256];

		if (hf_raw_expect_publish(s, V3, (int)(deadline - hf_now_ms()),
		                          true, &p, buf, sizeof(buf)) != 1)
			break;
		n++;
	}
	CHECK(n >= 2);
	close(s);
}

/* "#" and "+/broker/#" do not match $SYS topics [MQTT-4.7.2-1]: after two
 * intervals only the marker arrives. */
static void
t_sys_not_wildcarded(struct hf_bproc *b)
{
	int s = hf_raw_connect(b->port, V3, "all", true, 60, NULL, NULL);
	int pub = hf_raw_connect(b->port, V3, "p", true, 60, NULL, NULL);
	int others;

	CHECK(s >= 0 && pub >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V3, 1, "#", 0, 0), 0);
	CHECK_EQ(hf_raw_subscribe(s, V3, 2, "+/broker/#", 0, 0), 0);
	hf_sleep_ms(2200);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, V3, "marker", "m", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_until(s, V3, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}

/* sys_interval 0 (the harness default): no $SYS tree at all. */
static void
t_sys_disabled(struct hf_bproc *b)
{
	int s = hf_raw_sub_client(b->port, V3, "sys", "$SYS/#", 0);
	int pub = hf_raw_connect(b->port, V3, "p", true, 60, NULL, NULL);
	int others;

	CHECK(s >= 0 && pub >= 0);
	CHECK_EQ(hf_raw_subscribe(s, V3, 2, "marker", 0, 0), 0);
	hf_sleep_ms(1200);
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, V3, "marker", "m", 1, 0, false, 0)));
	CHECK_EQ(hf_raw_until(s, V3, "marker", 3000, &others), 1);
	CHECK_EQ(others, 0);
	close(s);
	close(pub);
}

int
main(void)
{
	HF_BCASE(t_sys_topics_v311, SYS_CONF);
	HF_BCASE(t_sys_topics_v5, SYS_CONF);
	HF_BCASE(t_sys_refresh, SYS_CONF);
	HF_BCASE(t_sys_not_wildcarded, SYS_CONF);
	HF_BCASE(t_sys_disabled, NULL);
	return HF_DONE();
}
