/* tests/protocol/p23_listener_opts.c - mosquitto's per-listener keys
 * mount_point and use_username_as_clientid, through real sockets.
 *
 * Every broker has two listeners: the harness's plain one (b->port) and a
 * second one on port 0 with the key under test (hf_bproc_port_n(b, 1)).
 *
 * mount_point: what a client of the mounted listener publishes (its
 * PUBLISHes and its will) appears under the prefix to everyone else; what
 * it subscribes to (plain and shared filters) is looked for under the
 * prefix; what it receives (live, retained, from a fan-out shared with
 * unmounted subscribers) comes without the prefix; an UNSUBSCRIBE finds
 * the mounted filter. Nothing outside the prefix reaches it.
 *
 * use_username_as_clientid: the username is the session's id (a second
 * connection with the same username and another id takes the session
 * over); no username is refused as not authorised.
 *
 * One broker per HF_BCASE. Single-threaded; every wait has a deadline. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define MOUNTED "listener 0 127.0.0.1\nmount_point tenA/\n"

/* Nothing but the marker (published by the test on marker) arrives. */
static bool
only_marker(int fd, uint8_t ver, const char *marker)
{
	int others = -1;

	if (hf_raw_until(fd, ver, marker, 3000, &others) != 1)
		return false;
	return others == 0;
}

static void
mount_point(struct hf_bproc *b, uint8_t ver)
{
	uint16_t mp = hf_bproc_port_n(b, 1);
	uint8_t rc;
	bool sp, retain = false;

	CHECK(mp != 0 && mp != b->port);
	/* a plain subscriber to everything, and one to the prefix */
	int all = hf_raw_sub_client(b->port, ver, "plain-all", "#", 1);
	int pre = hf_raw_sub_client(b->port, ver, "plain-pre", "tenA/#", 1);
	/* a retained message already under the prefix */
	int pub = hf_raw_connect(b->port, ver, "plain-pub", true, 60, &rc, &sp);
	CHECK(all >= 0 && pre >= 0 && pub >= 0);
	CHECK_EQ(hf_raw_publish(pub, ver, "tenA/r/1", "kept", 4, 1, true, 1),
	         0);
	CHECK(hf_raw_expect_pub(all, ver, "tenA/r/1", "kept", NULL));
	CHECK(hf_raw_expect_pub(pre, ver, "tenA/r/1", "kept", NULL));

	/* the mounted client: subscribes x/# and r/#, shared y/# */
	int m = hf_raw_connect(mp, ver, "mounted", true, 60, &rc, &sp);
	CHECK(m >= 0);
	CHECK_EQ(rc, 0);
	CHECK_EQ(hf_raw_subscribe(m, ver, 1, "x/#", 1, 0), 1);
	CHECK_EQ(hf_raw_subscribe(m, ver, 2, "r/#", 1, 0), 1);
	/* the retained message, without the prefix, retain flag set */
	CHECK(hf_raw_expect_pub(m, ver, "r/1", "kept", &retain));
	CHECK(retain);
	CHECK_EQ(hf_raw_subscribe(m, ver, 3, "$share/g/y/#", 1, 0), 1);

	/* plain -> mounted: only what is under the prefix, stripped */
	CHECK(
	    HF_PUB_OK(hf_raw_publish(pub, ver, "x/1", "out", 3, 1, false, 2)));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "tenA/x/1", "in", 2, 1, false, 3)));
	CHECK(hf_raw_expect_pub(m, ver, "x/1", "in", NULL));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "tenA/y/2", "shared", 6, 1, false, 4)));
	CHECK(hf_raw_expect_pub(m, ver, "y/2", "shared", NULL));
	CHECK(hf_raw_expect_pub(all, ver, "x/1", "out", NULL));
	CHECK(hf_raw_expect_pub(all, ver, "tenA/x/1", "in", NULL));
	CHECK(hf_raw_expect_pub(all, ver, "tenA/y/2", "shared", NULL));
	CHECK(hf_raw_expect_pub(pre, ver, "tenA/x/1", "in", NULL));
	CHECK(hf_raw_expect_pub(pre, ver, "tenA/y/2", "shared", NULL));

	/* mounted -> everyone: the prefix put on; its own subscription
	 * gets it back without it */
	CHECK_EQ(hf_raw_publish(m, ver, "x/2", "from-m", 6, 0, false, 0), 0);
	CHECK(hf_raw_expect_pub(m, ver, "x/2", "from-m", NULL));
	CHECK(hf_raw_expect_pub(all, ver, "tenA/x/2", "from-m", NULL));
	CHECK(hf_raw_expect_pub(pre, ver, "tenA/x/2", "from-m", NULL));

	/* unsubscribe finds the mounted filter; then nothing more */
	CHECK_EQ(hf_raw_unsubscribe(m, ver, 11, "x/#"), 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "tenA/x/3", "gone", 4, 1, false, 5)));
	CHECK(HF_PUB_OK(
	    hf_raw_publish(pub, ver, "tenA/r/mark", "m", 1, 0, false, 0)));
	CHECK(only_marker(m, ver, "r/mark"));

	/* a will: published under the prefix */
	struct hf_packet c, ca;
	uint8_t buf[512];
	hf_raw_connect_init(&c, ver, "mounted-will", true, 60);
	c.u.connect.will = true;
	c.u.connect.will_topic.p = (const uint8_t *)"w/dead";
	c.u.connect.will_topic.len = 6;
	c.u.connect.will_payload.p = (const uint8_t *)"bye";
	c.u.connect.will_payload.len = 3;
	int w = hf_raw_connect_pkt(mp, &c, &ca, buf, sizeof(buf));
	CHECK(w >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	close(w); /* abnormal: the will goes out */
	/* all and pre got x/3 first (published after the unsubscribe) */
	CHECK(hf_raw_expect_pub(all, ver, "tenA/x/3", "gone", NULL));
	CHECK(hf_raw_expect_pub(pre, ver, "tenA/x/3", "gone", NULL));
	CHECK(hf_raw_expect_pub(all, ver, "tenA/r/mark", "m", NULL));
	CHECK(hf_raw_expect_pub(pre, ver, "tenA/r/mark", "m", NULL));
	CHECK(hf_raw_expect_pub(all, ver, "tenA/w/dead", "bye", NULL));
	CHECK(hf_raw_expect_pub(pre, ver, "tenA/w/dead", "bye", NULL));
	close(m);
	close(all);
	close(pre);
	close(pub);
	CHECK(hf_bproc_alive(b));
}
BOTH(mount_point)

/* A fan-out that reaches mounted and unmounted subscribers of the same
 * protocol and QoS (where the encoded PUBLISH is shared when it can be):
 * each gets its own topic. */
static void
mount_fanout(struct hf_bproc *b, uint8_t ver)
{
	uint16_t mp = hf_bproc_port_n(b, 1);
	uint8_t rc;
	bool sp;
	int fds[6], pub;

	for (int i = 0; i < 6; i++) {
		char id[16];
		snprintf(id, sizeof(id), "f%d", i);
		fds[i] = hf_raw_sub_client(i % 2 ? mp : b->port, ver, id,
		                           i % 2 ? "f/#" : "tenA/f/#", 1);
		CHECK(fds[i] >= 0);
	}
	pub = hf_raw_connect(b->port, ver, "fan-pub", true, 60, &rc, &sp);
	CHECK(pub >= 0);
	for (int k = 0; k < 3; k++) {
		char t[32], pl[8];
		snprintf(t, sizeof(t), "tenA/f/%d", k);
		snprintf(pl, sizeof(pl), "p%d", k);
		CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, t, pl, strlen(pl),
		                               (uint8_t)(k % 2), false,
		                               (uint16_t)(k + 1))));
		for (int i = 0; i < 6; i++)
			CHECK(hf_raw_expect_pub(fds[i], ver, i % 2 ? t + 5 : t,
			                        pl, NULL));
	}
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	close(pub);
}
BOTH(mount_fanout)

/* A mount point that would make a topic longer than 65535 bytes: the
 * PUBLISH is refused (5.0 PUBACK 0x90; 3.1.1 QoS 0 dropped), the broker
 * stays up. */
static void
t_mount_too_long(struct hf_bproc *b)
{
	uint16_t mp = hf_bproc_port_n(b, 1);
	uint8_t rc;
	bool sp;
	size_t n = 65535 - 4; /* + "tenA/" is one too many */
	char *t = malloc(n + 1);

	CHECK(t != NULL);
	memset(t, 'a', n);
	t[n] = '\0';
	int m = hf_raw_connect(mp, V5, "long", true, 60, &rc, &sp);
	CHECK(m >= 0);
	CHECK_EQ(hf_raw_publish(m, V5, t, "x", 1, 1, false, 1),
	         HF_RC_TOPIC_NAME_INVALID);
	CHECK_EQ(hf_raw_ping(m, 3000), 1);
	close(m);
	free(t);
	CHECK(hf_bproc_alive(b));
}

/* Connect with a username (or none) and a client id; clean false asks
 * for a session that outlives the connection (5.0: expiry 300 s). */
static int
connect_user_sess(uint16_t port, uint8_t ver, const char *id, const char *user,
                  bool clean, uint8_t *rc, bool *sp)
{
	struct hf_packet c, ca;
	uint8_t buf[512];

	hf_raw_connect_init(&c, ver, id, clean, 60);
	if (!clean && ver == V5) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = 300;
	}
	if (user) {
		c.u.connect.has_username = true;
		c.u.connect.username.p = (const uint8_t *)user;
		c.u.connect.username.len = strlen(user);
	}
	int fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd >= 0) {
		*rc = ca.u.connack.rc;
		*sp = ca.u.connack.session_present;
	}
	return fd;
}

static int
connect_user(uint16_t port, uint8_t ver, const char *id, const char *user,
             uint8_t *rc)
{
	bool sp;
	return connect_user_sess(port, ver, id, user, true, rc, &sp);
}

static void
username_as_clientid(struct hf_bproc *b, uint8_t ver)
{
	uint16_t up = hf_bproc_port_n(b, 1);
	uint8_t rc = 0xff;
	int dis = -1;

	/* no username: not authorised */
	int fd = connect_user(up, ver, "anon", NULL, &rc);
	CHECK(fd >= 0);
	CHECK_EQ(rc,
	         ver == V5 ? HF_RC_NOT_AUTHORIZED : HF_CONNACK_NOT_AUTHORIZED);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);

	/* two client ids, one username: one session, taken over */
	int a = connect_user(up, ver, "first-id", "alice", &rc);
	CHECK(a >= 0);
	CHECK_EQ(rc, 0);
	int a2 = connect_user(up, ver, "second-id", "alice", &rc);
	CHECK(a2 >= 0);
	CHECK_EQ(rc, 0);
	CHECK(hf_raw_wait_close(a, 3000, &dis));
	if (ver == V5)
		CHECK_EQ(dis, HF_RC_SESSION_TAKEN_OVER);
	CHECK_EQ(hf_raw_ping(a2, 3000), 1);
	close(a);
	close(a2);

	/* the session is called alice: a persistent one made through the
	 * listener is found by the client id "alice" on the plain one */
	bool sp = true;
	int k = connect_user_sess(up, ver, "some-id", "bob", false, &rc, &sp);
	CHECK(k >= 0);
	CHECK_EQ(rc, 0);
	CHECK(!sp);
	CHECK_EQ(hf_raw_disconnect(k, ver, 0), 0);
	close(k);
	k = connect_user_sess(b->port, ver, "bob", NULL, false, &rc, &sp);
	CHECK(k >= 0);
	CHECK_EQ(rc, 0);
	CHECK(sp);
	close(k);
}
BOTH(username_as_clientid)

int
main(void)
{
	HF_BCASE(mount_point_v311, MOUNTED);
	HF_BCASE(mount_point_v5, MOUNTED);
	HF_BCASE(mount_fanout_v311, MOUNTED);
	HF_BCASE(mount_fanout_v5, MOUNTED);
	HF_BCASE(t_mount_too_long, MOUNTED);
	HF_BCASE(username_as_clientid_v311,
	         "listener 0 127.0.0.1\nuse_username_as_clientid true\n");
	HF_BCASE(username_as_clientid_v5,
	         "listener 0 127.0.0.1\nuse_username_as_clientid true\n");
	return HF_DONE();
}
