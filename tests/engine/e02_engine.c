/* tests/engine/e02_engine.c - the engine on its own: no sockets, the
 * in-memory connections of the harness (eharness.h), a real store, and
 * an authentication module of fixed rules (auth_fake.c) in place of
 * auth/, so that every point where the engine must ask is seen asking.
 *
 *   connect          CONNACK codes: accepted, session present on resume,
 *                    bad credentials, anonymous refused, a will whose topic
 *                    is not writable; a certificate identity becomes the
 *                    session's username
 *   routing          QoS downgrade per subscription, one copy per session,
 *                    one member of a shared group, No Local
 *   qos1_and_qos2    PUBACK only after the commit; a QoS 2 PUBLISH resent
 *                    before PUBREL is acknowledged again, delivered once
 *   subids_past_16   21 matching subscriptions with their identifiers:
 *                    all 21 travel with the delivery
 *   backpressure     a subscriber whose socket holds output past the limit
 *                    gets nothing more until it drains, then everything; a
 *                    publisher whose socket does not take its PUBACKs is
 *                    not read until it drains
 *   acl              PUBLISH, SUBSCRIBE and delivery (live, retained,
 *                    queued for an offline session across a restart, by
 *                    the username stored with it) go through the ACL
 * Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eclient.h"
#include "eharness.h"
#include "test.h"

extern int auth_fake_calls[8];

static struct eh E;

static int
open_eh(bool anonymous)
{
	memset(&E, 0, sizeof(E));
	E.quiet = false;
	struct hf_auth_conf ac = {.allow_anonymous = anonymous};
	E.auth = hf_auth_new(&ac, NULL, 0);
	return eh_open(&E, "/tmp");
}

/* The first packet slot i received since the last read. */
static int
next(int i, struct hf_packet *p, uint8_t **body)
{
	return eh_next_packet(&E, i, p, body);
}

static int
connack_rc(int i, bool *present)
{
	struct hf_packet p;
	uint8_t *body;
	int rc = -1;
	if (next(i, &p, &body) == 1 && p.type == HF_CONNACK) {
		rc = p.u.connack.rc;
		if (present)
			*present = p.u.connack.session_present;
	}
	free(body);
	return rc;
}

static void
connect_cases(void)
{
	bool present = true;
	CHECK_EQ(open_eh(false), 0);
	/* Anonymous, not allowed. */
	eh_cl_connect(&E, 0, HF_PROTO_V5, "anon", true, 0, NULL);
	eh_turn(&E);
	CHECK_EQ(connack_rc(0, NULL), HF_RC_NOT_AUTHORIZED);
	/* With a username the module accepts: a session; resumed. */
	struct hf_packet c;
	eh_cl_connect_init(&c, HF_PROTO_V5, "bob", true);
	c.u.connect.has_username = true;
	c.u.connect.username.p = (const uint8_t *)"bob";
	c.u.connect.username.len = 3;
	c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
	c.u.connect.props.session_expiry = 60;
	eh_connect(&E, 1);
	eh_send(&E, 1, &c, HF_PROTO_V5);
	eh_turn(&E);
	CHECK_EQ(connack_rc(1, &present), 0);
	CHECK(!present);
	CHECK(strcmp(hf_session_subject(eh_client(&E, 1)->s).username, "bob") ==
	      0);
	eh_drop(&E, 1);
	eh_turn(&E);
	c.u.connect.clean_start = false;
	eh_connect(&E, 1);
	eh_send(&E, 1, &c, HF_PROTO_V5);
	eh_turn(&E);
	CHECK_EQ(connack_rc(1, &present), 0);
	CHECK(present);
	/* Bad credentials. */
	c.u.connect.username.p = (const uint8_t *)"bad";
	c.u.connect.client_id.p = (const uint8_t *)"mallory";
	c.u.connect.client_id.len = 7;
	eh_connect(&E, 2);
	eh_send(&E, 2, &c, HF_PROTO_V5);
	eh_turn(&E);
	CHECK_EQ(connack_rc(2, NULL), HF_RC_BAD_USER_OR_PASSWORD);
	/* A will on a topic it may not write. */
	c.u.connect.username.p = (const uint8_t *)"bob";
	c.u.connect.client_id.p = (const uint8_t *)"willy";
	c.u.connect.client_id.len = 5;
	c.u.connect.will = true;
	c.u.connect.will_topic.p = (const uint8_t *)"deny/w";
	c.u.connect.will_topic.len = 6;
	eh_connect(&E, 3);
	eh_send(&E, 3, &c, HF_PROTO_V5);
	eh_turn(&E);
	CHECK_EQ(connack_rc(3, NULL), HF_RC_NOT_AUTHORIZED);
	CHECK(auth_fake_calls[0] >= 4);
	CHECK_EQ(eh_check(&E), 0);
	eh_close(&E);
}

static void
routing(void)
{
	struct eh_got a, b, g1, g2;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	CHECK_EQ(open_eh(true), 0);
	eh_cl_connect(&E, 0, HF_PROTO_V5, "a", true, 0, NULL);
	eh_cl_subscribe(&E, 0, HF_PROTO_V5, "t/#", 2, 0);
	eh_cl_subscribe(&E, 0, HF_PROTO_V5, "t/+", 1, 0); /* overlapping */
	eh_cl_connect(&E, 1, HF_PROTO_V311, "b", true, 0, NULL);
	eh_cl_subscribe(&E, 1, HF_PROTO_V311, "t/x", 0, 0);
	eh_cl_connect(&E, 2, HF_PROTO_V5, "g1", true, 0, NULL);
	eh_cl_subscribe(&E, 2, HF_PROTO_V5, "$share/g/t/x", 1, 0);
	eh_cl_connect(&E, 3, HF_PROTO_V5, "g2", true, 0, NULL);
	eh_cl_subscribe(&E, 3, HF_PROTO_V5, "$share/g/t/x", 1, 0);
	eh_turn(&E);
	for (int i = 0; i < 4; i++) {
		struct eh_got skip;
		memset(&skip, 0, sizeof(skip));
		eh_cl_read(&E, i, i == 1 ? HF_PROTO_V311 : HF_PROTO_V5, &skip);
	}
	/* "a" publishes to itself too, with No Local on a second one. */
	eh_cl_publish(&E, 0, HF_PROTO_V5, "t/x", "m1", 1, false, 1);
	eh_turn(&E);
	eh_cl_read(&E, 0, HF_PROTO_V5, &a);
	eh_cl_read(&E, 1, HF_PROTO_V311, &b);
	eh_cl_read(&E, 2, HF_PROTO_V5, &g1);
	eh_cl_read(&E, 3, HF_PROTO_V5, &g2);
	CHECK_EQ(a.n_payloads, 1); /* one copy for two subscriptions */
	CHECK(eh_got_acked(&a, 1));
	CHECK_EQ(b.n_payloads, 1);
	CHECK_EQ(g1.n_payloads + g2.n_payloads, 1); /* one group member */
	CHECK_EQ(eh_check(&E), 0);
	eh_close(&E);
}

static void
qos1_and_qos2(void)
{
	struct hf_packet p;
	uint8_t *body;
	struct eh_got s;
	memset(&s, 0, sizeof(s));
	CHECK_EQ(open_eh(true), 0);
	eh_cl_connect(&E, 0, HF_PROTO_V5, "sub", true, 0, NULL);
	eh_cl_subscribe(&E, 0, HF_PROTO_V5, "q/#", 2, 0);
	eh_cl_connect(&E, 1, HF_PROTO_V5, "pub", true, 0, NULL);
	eh_turn(&E);
	eh_cl_read(&E, 0, HF_PROTO_V5, &s);
	CHECK_EQ(connack_rc(1, NULL), 0);
	/* Before the turn's commit nothing is acknowledged. */
	eh_cl_publish(&E, 1, HF_PROTO_V5, "q/1", "one", 1, false, 1);
	CHECK_EQ(next(1, &p, &body), 0);
	free(body);
	eh_turn(&E);
	CHECK_EQ(next(1, &p, &body), 1);
	CHECK_EQ(p.type, HF_PUBACK);
	free(body);
	/* QoS 2 sent twice before PUBREL: PUBREC twice, delivered once. */
	eh_cl_publish(&E, 1, HF_PROTO_V5, "q/2", "two", 2, false, 5);
	eh_turn(&E);
	eh_cl_publish(&E, 1, HF_PROTO_V5, "q/2", "two", 2, false, 5);
	eh_turn(&E);
	int recs = 0;
	while (next(1, &p, &body) == 1) {
		recs += p.type == HF_PUBREC && p.u.ack.pid == 5;
		free(body);
	}
	free(body);
	CHECK_EQ(recs, 2);
	eh_cl_ack(&E, 1, HF_PROTO_V5, HF_PUBREL, 5);
	eh_turn(&E);
	CHECK_EQ(next(1, &p, &body), 1);
	CHECK_EQ(p.type, HF_PUBCOMP);
	free(body);
	memset(&s, 0, sizeof(s));
	for (int t = 0; t < 3; t++) {
		eh_cl_read(&E, 0, HF_PROTO_V5, &s);
		eh_turn(&E);
	}
	CHECK_EQ(s.n_payloads, 2);
	CHECK(eh_got_payload(&s, "one") && eh_got_payload(&s, "two"));
	CHECK_EQ(eh_check(&E), 0);
	eh_close(&E);
}

static void
subids_past_16(void)
{
	struct hf_packet p;
	uint8_t *body;
	char f[32];
	int n = 0;
	CHECK_EQ(open_eh(true), 0);
	eh_cl_connect(&E, 0, HF_PROTO_V5, "many", true, 0, NULL);
	/* Every mix of literal and '+' over four levels, and five '#'. */
	for (int mask = 0; mask < 16; mask++) {
		snprintf(f, sizeof(f), "%s/%s/%s/%s", mask & 1 ? "+" : "a",
		         mask & 2 ? "+" : "b", mask & 4 ? "+" : "c",
		         mask & 8 ? "+" : "d");
		eh_cl_subscribe(&E, 0, HF_PROTO_V5, f, 0, (uint32_t)++n);
	}
	static const char *const hashes[] = {"#", "a/#", "a/b/#", "a/b/c/#",
	                                     "a/b/c/d/#"};
	for (int k = 0; k < 5; k++)
		eh_cl_subscribe(&E, 0, HF_PROTO_V5, hashes[k], 0,
		                (uint32_t)++n);
	eh_turn(&E);
	while (next(0, &p, &body) == 1)
		free(body); /* CONNACK, SUBACKs */
	free(body);
	eh_cl_publish(&E, 0, HF_PROTO_V5, "a/b/c/d", "x", 0, false, 0);
	eh_turn(&E);
	CHECK_EQ(next(0, &p, &body), 1);
	CHECK_EQ(p.type, HF_PUBLISH);
	uint32_t off = 0, id, seen = 0, sum = 0;
	while (hf_props_sub_id_next(&p.u.publish.props, &off, &id)) {
		seen++;
		sum += id;
	}
	free(body);
	CHECK_EQ(seen, 21);
	CHECK_EQ(sum, 21 * 22 / 2); /* 1..21, each once */
	eh_close(&E);
}

static void
backpressure(void)
{
	struct hf_packet p;
	uint8_t *body;
	struct eh_got s;
	memset(&s, 0, sizeof(s));
	CHECK_EQ(open_eh(true), 0);
	eh_cl_connect(&E, 0, HF_PROTO_V5, "slow", true, 0, NULL);
	eh_cl_subscribe(&E, 0, HF_PROTO_V5, "bp/#", 1, 0);
	eh_cl_connect(&E, 1, HF_PROTO_V5, "fast", true, 0, NULL);
	eh_turn(&E);
	eh_cl_read(&E, 0, HF_PROTO_V5, &s);
	CHECK_EQ(connack_rc(1, NULL), 0);
	/* The subscriber's socket holds 2 MiB: past the 1 MiB limit. */
	eh_hold(&E, 0, 2u << 20);
	for (int i = 0; i < 5; i++)
		eh_cl_publish(&E, 1, HF_PROTO_V5, "bp/x", "m", 1, false,
		              (uint16_t)(i + 1));
	eh_turn(&E);
	memset(&s, 0, sizeof(s));
	eh_cl_read(&E, 0, HF_PROTO_V5, &s);
	CHECK_EQ(s.n_payloads, 0); /* queued, not sent */
	CHECK(eh_client(&E, 0)->s->n_queued == 5);
	eh_drain(&E, 0);
	eh_turn(&E);
	eh_cl_read(&E, 0, HF_PROTO_V5, &s);
	CHECK_EQ(s.n_payloads, 5);
	/* A publisher that does not read its PUBACKs is not read. */
	eh_hold(&E, 1, 2u << 20);
	eh_cl_publish(&E, 1, HF_PROTO_V5, "bp/y", "n", 1, false, 9);
	eh_turn(&E); /* the flush finds the backlog: paused */
	CHECK(E.slot[1]->paused);
	eh_cl_publish(&E, 1, HF_PROTO_V5, "bp/y", "o", 1, false, 10);
	eh_turn(&E);
	while (next(1, &p, &body) == 1) {
		CHECK(!(p.type == HF_PUBACK && p.u.ack.pid == 10));
		free(body);
	}
	free(body);
	eh_drain(&E, 1);
	CHECK(!E.slot[1]->paused);
	eh_turn(&E);
	bool acked10 = false;
	while (next(1, &p, &body) == 1) {
		acked10 |= p.type == HF_PUBACK && p.u.ack.pid == 10;
		free(body);
	}
	free(body);
	CHECK(acked10);
	/* One read whose answers alone pass the limit (20 deliveries of
	 * 64 KiB to itself): reading pauses, and resumes once the socket
	 * has taken them, with no drained event (nothing was left). */
	static char big[65536];
	memset(big, 'b', sizeof(big) - 1);
	eh_cl_subscribe(&E, 1, HF_PROTO_V5, "self/#", 1, 0);
	eh_turn(&E);
	while (next(1, &p, &body) == 1)
		free(body);
	free(body);
	for (int i = 0; i < 20; i++)
		eh_cl_publish(&E, 1, HF_PROTO_V5, "self/x", big, 1, false,
		              (uint16_t)(100 + i));
	CHECK(E.slot[1]->paused);
	eh_turn(&E);
	CHECK(!E.slot[1]->paused);
	CHECK_EQ(eh_check(&E), 0);
	eh_close(&E);
}

static void
acl(void)
{
	struct hf_packet c, p;
	uint8_t *body;
	struct eh_got al, bo;
	memset(&al, 0, sizeof(al));
	memset(&bo, 0, sizeof(bo));
	CHECK_EQ(open_eh(true), 0);
	/* alice: persistent, subscribed to everything; bob: the same. */
	eh_cl_connect_init(&c, HF_PROTO_V5, "alice", true);
	c.u.connect.has_username = true;
	c.u.connect.username.p = (const uint8_t *)"alice";
	c.u.connect.username.len = 5;
	c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
	c.u.connect.props.session_expiry = 600;
	eh_connect(&E, 0);
	eh_send(&E, 0, &c, HF_PROTO_V5);
	eh_cl_subscribe(&E, 0, HF_PROTO_V5, "#", 1, 0);
	eh_cl_connect(&E, 1, HF_PROTO_V5, "bob", true, 0, NULL);
	eh_cl_subscribe(&E, 1, HF_PROTO_V5, "#", 1, 0);
	eh_cl_connect(&E, 2, HF_PROTO_V5, "pub", true, 0, NULL);
	eh_cl_connect(&E, 3, HF_PROTO_V311, "pub3", true, 0, NULL);
	eh_turn(&E);
	for (int i = 0; i < 4; i++) {
		struct eh_got skip;
		memset(&skip, 0, sizeof(skip));
		eh_cl_read(&E, i, i == 3 ? HF_PROTO_V311 : HF_PROTO_V5, &skip);
	}
	/* PUBLISH: refused (v5 0x87; 3.1.1 acknowledged and dropped). */
	eh_cl_publish(&E, 2, HF_PROTO_V5, "deny/x", "no", 1, false, 1);
	eh_cl_publish(&E, 3, HF_PROTO_V311, "deny/x", "no3", 1, false, 1);
	/* Delivery: alice may not read secret/, bob may. */
	eh_cl_publish(&E, 2, HF_PROTO_V5, "secret/x", "s1", 1, true, 2);
	eh_cl_publish(&E, 2, HF_PROTO_V5, "open/x", "o1", 1, false, 3);
	eh_turn(&E);
	CHECK_EQ(next(2, &p, &body), 1);
	CHECK_EQ(p.type, HF_PUBACK);
	CHECK_EQ(p.u.ack.rc, HF_RC_NOT_AUTHORIZED);
	free(body);
	CHECK_EQ(next(3, &p, &body), 1);
	CHECK_EQ(p.type, HF_PUBACK); /* 3.1.1: no negative ack */
	free(body);
	eh_turn(&E);
	eh_cl_read(&E, 0, HF_PROTO_V5, &al);
	eh_cl_read(&E, 1, HF_PROTO_V5, &bo);
	CHECK(!eh_got_payload(&al, "no") && !eh_got_payload(&bo, "no3"));
	CHECK(!eh_got_payload(&al, "s1") && eh_got_payload(&al, "o1"));
	CHECK(eh_got_payload(&bo, "s1") && eh_got_payload(&bo, "o1"));
	/* SUBSCRIBE: granted by default (as in mosquitto: only deliveries
	 * are checked); refused per filter with acl_check_subscribe. */
	eh_cl_subscribe(&E, 1, HF_PROTO_V5, "deny/#", 1, 0);
	eh_turn(&E);
	CHECK_EQ(next(1, &p, &body), 1);
	CHECK_EQ(p.type, HF_SUBACK);
	CHECK_EQ(p.u.suback.rcs[0], 1);
	free(body);
	CHECK_EQ(auth_fake_calls[HF_ACL_SUBSCRIBE], 0);
	E.conf.acl_check_subscribe = true;
	eh_cl_subscribe(&E, 1, HF_PROTO_V5, "deny/#", 1, 0);
	eh_turn(&E);
	CHECK_EQ(next(1, &p, &body), 1);
	CHECK_EQ(p.type, HF_SUBACK);
	CHECK_EQ(p.u.suback.rcs[0], HF_RC_NOT_AUTHORIZED);
	free(body);
	E.conf.acl_check_subscribe = false;
	/* Retained on subscribing: alice does not get secret/x. */
	memset(&al, 0, sizeof(al));
	eh_cl_subscribe(&E, 0, HF_PROTO_V5, "secret/#", 1, 0);
	eh_turn(&E);
	eh_cl_read(&E, 0, HF_PROTO_V5, &al);
	CHECK(!eh_got_payload(&al, "s1"));
	/* alice offline, the broker restarted: her stored username still
	 * decides what is queued for her. */
	eh_drop(&E, 0);
	eh_turn(&E);
	CHECK_EQ(eh_restart(&E, true), 0);
	CHECK(strcmp(hf_session_subject(eh_find_session(&E, "alice")).username,
	             "alice") == 0);
	eh_cl_connect(&E, 2, HF_PROTO_V5, "pub", true, 0, NULL);
	eh_cl_publish(&E, 2, HF_PROTO_V5, "secret/y", "s2", 1, false, 4);
	eh_cl_publish(&E, 2, HF_PROTO_V5, "open/y", "o2", 1, false, 5);
	eh_turn(&E);
	CHECK_EQ(eh_find_session(&E, "alice")->n_queued, 1);
	c.u.connect.clean_start = false;
	eh_connect(&E, 0);
	eh_send(&E, 0, &c, HF_PROTO_V5);
	memset(&al, 0, sizeof(al));
	for (int t = 0; t < 3; t++) {
		eh_turn(&E);
		eh_cl_read(&E, 0, HF_PROTO_V5, &al);
	}
	CHECK(eh_got_payload(&al, "o2") && !eh_got_payload(&al, "s2"));
	CHECK(auth_fake_calls[HF_ACL_WRITE] > 0 &&
	      auth_fake_calls[HF_ACL_SUBSCRIBE] > 0 &&
	      auth_fake_calls[HF_ACL_READ] > 0);
	CHECK_EQ(eh_check(&E), 0);
	eh_close(&E);
}

int
main(void)
{
	HF_RUN(connect_cases);
	HF_RUN(routing);
	HF_RUN(qos1_and_qos2);
	HF_RUN(subids_past_16);
	HF_RUN(backpressure);
	HF_RUN(acl);
	return HF_DONE();
}
