/* tests/protocol/p13_fanout.c - one PUBLISH fanned out to subscribers that
 * each need a different packet: MQTT 3.1.1 and 5.0, granted QoS 0/1/2,
 * Retain As Published, a subscription identifier, a small Maximum Packet
 * Size, and packet ids that differ per session.
 *
 * The broker encodes a fan-out's PUBLISH once per (version, QoS, retain)
 * and copies it, writing each subscriber's packet id in; these cases check
 * that every subscriber still sees exactly its own packet, and that the
 * packet id it sees is the one its session holds: acknowledging it must
 * end the flow, so a reconnect to the persistent session finds nothing to
 * resend. Single-threaded; each case has its own broker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define WAIT_MS 5000

struct sub {
	const char *id;
	uint8_t ver;
	uint8_t opts;    /* QoS and v5 option bits */
	uint32_t sub_id; /* 0 = none */
	uint32_t max_packet;
	int fd;
};

/* Connect (persistent session, so unacknowledged deliveries would be
 * resent on reconnect) and subscribe to "f/#". */
static int
sub_open(uint16_t port, struct sub *s, bool clean)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	hf_raw_connect_init(&c, s->ver, s->id, clean, 60);
	if (s->ver == V5) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = 600;
		if (s->max_packet) {
			c.u.connect.props.present |= HF_PP_MAX_PACKET_SIZE;
			c.u.connect.props.max_packet_size = s->max_packet;
		}
	}
	int fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd < 0 || ca.u.connack.rc != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Read the next packet, which must be a PUBLISH; finish its flow with the
 * packet id it carries. Fills *p (views into buf) and the raw first byte. */
static int
take_publish(struct sub *s, struct hf_packet *p, uint8_t *buf, size_t cap)
{
	int rc = hf_raw_recvb(s->fd, s->ver, WAIT_MS, p, buf, cap);
	if (rc != 1 || p->type != HF_PUBLISH) {
		fprintf(stderr, "%s: expected PUBLISH, got rc %d type %s\n",
		        s->id, rc, rc == 1 ? hf_ptype_name(p->type) : "-");
		return -1;
	}
	uint16_t pid = p->u.publish.pid;
	if (p->u.publish.qos == 1)
		return hf_raw_ack(s->fd, s->ver, HF_PUBACK, pid, 0);
	if (p->u.publish.qos == 2) {
		struct hf_packet r;
		uint8_t rb[64];
		if (hf_raw_ack(s->fd, s->ver, HF_PUBREC, pid, 0) < 0 ||
		    hf_raw_recvb(s->fd, s->ver, WAIT_MS, &r, rb, sizeof(rb)) !=
		        1 ||
		    r.type != HF_PUBREL || r.u.ack.pid != pid) {
			fprintf(stderr, "%s: no PUBREL for %u\n", s->id, pid);
			return -1;
		}
		return hf_raw_ack(s->fd, s->ver, HF_PUBCOMP, pid, 0);
	}
	return 0;
}

static void
fanout_mixed(struct hf_bproc *b)
{
	struct sub subs[] = {
	    {"fa", V3, 0, 0, 0, -1},
	    {"fb", V3, 1, 0, 0, -1},
	    {"fc", V3, 2, 0, 0, -1},
	    {"fd", V5, 1 | 0x08, 0, 0, -1}, /* Retain As Published */
	    {"fe", V5, 1, 7, 0, -1},        /* subscription id 7 */
	    {"ff", V5, 2, 0, 0, -1},
	    {"fg", V5, 1, 0, 60, -1}, /* takes packets up to 60 bytes */
	    {"fh", V5, 2, 0, 0, -1},
	};
	const size_t n = sizeof(subs) / sizeof(subs[0]);
	uint8_t payload[64];
	uint8_t buf[1024];
	struct hf_packet p;
	uint16_t seen_pid[8] = {0};

	memset(payload, 'x', sizeof(payload));
	for (size_t i = 0; i < n; i++) {
		/* 3.1.1: clean session 0; 5.0: clean start, expiry 600 s */
		subs[i].fd = sub_open(b->port, &subs[i], subs[i].ver == V5);
		CHECK(subs[i].fd >= 0);
		if (subs[i].fd < 0)
			goto out;
		CHECK_EQ(hf_raw_subscribe(subs[i].fd, subs[i].ver, 1, "f/#",
		                          subs[i].opts, subs[i].sub_id),
		         subs[i].opts & 3);
	}
	int pub = hf_raw_connect(b->port, V3, "fpub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	if (pub < 0)
		goto out;
	/* Move some sessions' packet ids on, so they differ between
	 * subscribers: "fb" and "ff" take three messages of their own. */
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(subs[i].id, "fb") &&
			    strcmp(subs[i].id, "ff"))
				continue;
			char t[16];
			snprintf(t, sizeof(t), "pre/%s", subs[i].id);
			if (k == 0)
				CHECK_EQ(hf_raw_subscribe(subs[i].fd,
				                          subs[i].ver, 2, t, 1,
				                          0),
				         1);
			CHECK(HF_PUB_OK(
			    hf_raw_publish(pub, V3, t, "p", 1, 1, false, 2)));
			CHECK_EQ(take_publish(&subs[i], &p, buf, sizeof(buf)),
			         0);
		}
	}

	/* The message under test: QoS 2, retained, 64 bytes. */
	CHECK(HF_PUB_OK(hf_raw_publish(pub, V3, "f/x", payload, sizeof(payload),
	                               2, true, 3)));

	for (size_t i = 0; i < n; i++) {
		struct sub *s = &subs[i];
		bool small_only = s->max_packet != 0;
		if (!small_only) {
			CHECK_EQ(take_publish(s, &p, buf, sizeof(buf)), 0);
			CHECK(hf_bytes_eq(p.u.publish.topic, "f/x"));
			CHECK_EQ(p.u.publish.payload.len, sizeof(payload));
			CHECK_MEM(p.u.publish.payload.p, payload,
			          sizeof(payload));
			CHECK_EQ(p.u.publish.qos, s->opts & 3);
			CHECK(!p.u.publish.dup);
			/* Live delivery: RETAIN 0 [MQTT-3.3.1-9], unless
			 * Retain As Published [MQTT-3.3.1-13]. */
			CHECK_EQ(p.u.publish.retain, (s->opts & 0x08) != 0);
			if (s->ver == V5) {
				bool has = (p.u.publish.props.present &
				            HF_PP_SUBSCRIPTION_ID) != 0;
				CHECK_EQ(has, s->sub_id != 0);
				if (has) {
					CHECK_EQ(p.u.publish.props.n_sub_ids,
					         1);
					CHECK_EQ(p.u.publish.props.sub_id,
					         s->sub_id);
				}
			}
			if (s->opts & 3) {
				CHECK(p.u.publish.pid != 0);
				seen_pid[i] = p.u.publish.pid;
			} else {
				CHECK_EQ(p.u.publish.pid, 0);
			}
		}
	}
	/* Then a small one, which "fg" can take: for "fg" it is the first
	 * one, the big one was too large for it [MQTT-3.1.2-25]. */
	CHECK(HF_PUB_OK(hf_raw_publish(pub, V3, "f/y", "s", 1, 1, false, 4)));
	for (size_t i = 0; i < n; i++) {
		struct sub *s = &subs[i];
		CHECK_EQ(take_publish(s, &p, buf, sizeof(buf)), 0);
		CHECK(hf_bytes_eq(p.u.publish.topic, "f/y"));
		CHECK_EQ(p.u.publish.payload.len, 1);
	}
	/* Sessions whose ids moved on got other ids than fresh ones. */
	CHECK(seen_pid[1] != seen_pid[2]); /* fb vs fc */
	CHECK(seen_pid[5] != seen_pid[7]); /* ff vs fh */

	/* Every flow ended with the id the subscriber saw: back on the same
	 * sessions, nothing is resent, and PINGRESP is the next packet. */
	for (size_t i = 0; i < n; i++) {
		hf_raw_disconnect(subs[i].fd, subs[i].ver, 0);
		close(subs[i].fd);
		subs[i].fd = sub_open(b->port, &subs[i], false);
		CHECK(subs[i].fd >= 0);
		if (subs[i].fd >= 0)
			CHECK_EQ(hf_raw_ping(subs[i].fd, WAIT_MS), 1);
	}
	close(pub);
out:
	for (size_t i = 0; i < n; i++)
		if (subs[i].fd >= 0)
			close(subs[i].fd);
}

/* A fan-out of many messages to many subscribers of both versions: each
 * subscriber gets every message once, in order, with its own packet ids. */
static void
fanout_many(struct hf_bproc *b)
{
	enum { NSUB = 12, NMSG = 200 };
	struct sub subs[NSUB];
	char ids[NSUB][8];
	uint8_t buf[512];
	struct hf_packet p;

	for (int i = 0; i < NSUB; i++) {
		snprintf(ids[i], sizeof(ids[i]), "m%d", i);
		subs[i] = (struct sub){
		    ids[i], i % 2 ? V5 : V3, (uint8_t)(i % 3), 0, 0, -1};
		subs[i].fd = sub_open(b->port, &subs[i], true);
		CHECK(subs[i].fd >= 0);
		if (subs[i].fd < 0)
			goto out;
		CHECK_EQ(hf_raw_subscribe(subs[i].fd, subs[i].ver, 1, "f/#",
		                          subs[i].opts, 0),
		         subs[i].opts & 3);
	}
	int pub = hf_raw_connect(b->port, V5, "mpub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	if (pub < 0)
		goto out;
	for (int k = 0; k < NMSG; k++) {
		char body[16];
		int len = snprintf(body, sizeof(body), "%d", k);
		CHECK(
		    HF_PUB_OK(hf_raw_publish(pub, V5, "f/m", body, (size_t)len,
		                             1, false, (uint16_t)(k + 1))));
		/* Read as we go: the subscribers' windows stay open. */
		for (int i = 0; i < NSUB; i++) {
			if (take_publish(&subs[i], &p, buf, sizeof(buf)) != 0) {
				CHECK(!"publish expected");
				close(pub);
				goto out;
			}
			CHECK_EQ(p.u.publish.payload.len, (uint32_t)len);
			CHECK_MEM(p.u.publish.payload.p, body, (size_t)len);
			CHECK_EQ(p.u.publish.qos, (subs[i].opts & 3) ? 1 : 0);
		}
	}
	close(pub);
out:
	for (int i = 0; i < NSUB; i++)
		if (subs[i].fd >= 0)
			close(subs[i].fd);
}

int
main(void)
{
	HF_BCASE(fanout_mixed, NULL);
	HF_BCASE(fanout_many, NULL);
	return HF_DONE();
}
