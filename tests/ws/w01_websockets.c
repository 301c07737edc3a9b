/* tests/ws/w01_websockets.c - MQTT over WebSocket listeners of the binary
 * (protocol websockets), through real sockets.
 *
 * Every broker has the harness's plain TCP listener (b->port) and a
 * WebSocket listener on port 0 (hf_bproc_port_n(b, 1)). WebSocket clients
 * are helpers/wsclient.c's: bytes over binary frames, so the raw MQTT
 * helpers work on them unchanged.
 *
 *   pubsub        3.1.1 and 5.0: TCP -> WebSocket and back, QoS 0/1/2,
 *                 a retained message, $SYS counting WebSocket clients
 *   session_moves a persistent session moves TCP -> WebSocket -> TCP with
 *                 queued QoS 1 messages, and survives a restart
 *   will          a WebSocket client gone without DISCONNECT: its will
 *                 reaches TCP; with DISCONNECT, none
 *   frames        packets that span frames and frames that carry several
 *                 packets (a CONNECT in three frames, then SUBSCRIBE,
 *                 PUBLISH and PINGREQ in one)
 *   big           a 1 MB QoS 1 message to a WebSocket subscriber
 *   bad_http      a request without upgrade, no subprotocol, a wrong
 *                 one, WebSocket version 8: HTTP 4xx and a log line each
 *   bad_frames    a text frame (close 1003), a frame announcing 2^40 bytes
 *                 (1009), a fragment flood (1008), garbage after the
 *                 upgrade, a connection that stops mid-frame: each closed
 *                 and logged, a witness served all along, nothing lost
 *   auth          password file and ACL as on TCP: anonymous, wrong
 *                 password, unknown user refused with TCP's codes; two
 *                 tenants (pattern tenants/%u/#), one over WebSocket
 *   slow_reader   a WebSocket subscriber that stops reading while QoS 0
 *                 floods in: the others are served
 *   max_conns     max_connections counts WebSocket connections, and a
 *                 closed one frees its place
 *   http_dir      static files from http_dir: a file, the index, no
 *                 directory listing, no way out of the folder
 *   bad_config    http_dir missing, not a folder, on a listener that is not
 *                 WebSocket: refused at start and by --test-config with
 *                 FILE:LINE
 *
 * One broker per HF_BCASE. Every wait has a deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"
#include "wsclient.h"

#define WS "listener 0 127.0.0.1\nprotocol websockets\n"

static uint16_t
ws_port(struct hf_bproc *b)
{
	return hf_bproc_port_n(b, 1);
}

/* A TCP client subscribed to w/#: it must go on receiving while others
 * misbehave. */
static int
witness(struct hf_bproc *b)
{
	return hf_raw_sub_client(b->port, V3, "witness", "w/#", 1);
}

static bool
witness_ok(struct hf_bproc *b, int w, const char *payload)
{
	int p = hf_raw_connect(b->port, V3, "w-pub", true, 60, NULL, NULL);
	bool ok = p >= 0 &&
	          hf_raw_publish(p, V3, "w/t", payload, strlen(payload), 1,
	                         false, 7) == 0 &&
	          hf_raw_expect_pub(w, V3, "w/t", payload, NULL);
	if (p >= 0)
		close(p);
	return ok;
}

/* ---- clients over WebSocket -------------------------------------------- */

static void
pubsub(struct hf_bproc *b, uint8_t ver)
{
	uint16_t wp = ws_port(b);
	int ws = hf_ws_connect(wp, ver, "ws-sub", true, 0, NULL);
	CHECK(ws >= 0);
	CHECK_EQ(hf_raw_subscribe(ws, ver, 1, "a/#", 2, 0), 2);
	int tcp = hf_raw_sub_client(b->port, ver, "tcp-sub", "b/#", 2);
	CHECK(tcp >= 0);

	/* TCP -> WebSocket, each QoS */
	int tp = hf_raw_connect(b->port, ver, "tcp-pub", true, 60, NULL, NULL);
	CHECK(tp >= 0);
	for (uint8_t q = 0; q <= 2; q++) {
		char pl[16];
		snprintf(pl, sizeof(pl), "t2w-%u", q);
		CHECK(HF_PUB_OK(hf_raw_publish(tp, ver, "a/x", pl, strlen(pl),
		                               q, false, (uint16_t)(10 + q))));
		CHECK(hf_raw_expect_pub(ws, ver, "a/x", pl, NULL));
		CHECK_EQ(hf_raw_ping(ws, 3000), 1); /* a PUBREL answered */
	}
	/* WebSocket -> TCP, each QoS */
	for (uint8_t q = 0; q <= 2; q++) {
		char pl[16];
		snprintf(pl, sizeof(pl), "w2t-%u", q);
		CHECK(HF_PUB_OK(hf_raw_publish(ws, ver, "b/y", pl, strlen(pl),
		                               q, false, (uint16_t)(20 + q))));
		CHECK(hf_raw_expect_pub(tcp, ver, "b/y", pl, NULL));
		CHECK_EQ(hf_raw_ping(tcp, 3000), 1);
	}
	/* a retained message from WebSocket, to a new TCP subscriber */
	CHECK(
	    HF_PUB_OK(hf_raw_publish(ws, ver, "r/k", "kept", 4, 1, true, 30)));
	int late = hf_raw_sub_client(b->port, ver, "late", "r/#", 1);
	CHECK(late >= 0);
	bool retained = false;
	CHECK(hf_raw_expect_pub(late, ver, "r/k", "kept", &retained));
	CHECK(retained);
	/* $SYS counts the WebSocket client with the others (ws-sub,
	 * tcp-sub, tcp-pub, late, sys = 5). */
	int sys = hf_ws_connect(wp, ver, "ws-sys", true, 0, NULL);
	CHECK(sys >= 0);
	CHECK(hf_raw_subscribe(sys, ver, 2, "$SYS/broker/clients/connected", 0,
	                       0) == 0);
	struct hf_packet p;
	uint8_t buf[512];
	bool five = false;
	for (int64_t end = hf_now_ms() + 5000; !five && hf_now_ms() < end;) {
		if (hf_raw_expect_publish(sys, ver, 2000, true, &p, buf,
		                          sizeof(buf)) != 1)
			break;
		five = hf_bytes_eq(p.u.publish.payload, "5");
	}
	CHECK(five);
	CHECK(hf_bproc_log_contains(b, "as ws-sub (p"));
	close(sys);
	close(late);
	close(tp);
	close(tcp);
	close(ws);
}
BOTH(pubsub)

static void
session_moves(struct hf_bproc *b, uint8_t ver)
{
	uint16_t wp = ws_port(b);
	bool sp = true;
	int pub = hf_raw_connect(b->port, ver, "pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	/* born over TCP */
	int c = hf_raw_connect_expiry(b->port, ver, "mover", false, 600, &sp);
	CHECK(c >= 0);
	CHECK(!sp);
	CHECK_EQ(hf_raw_subscribe(c, ver, 1, "m/#", 1, 0), 1);
	CHECK_EQ(hf_raw_disconnect(c, ver, 0), 0);
	close(c);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "m/1", "q1", 2, 1, false, 1)));
	/* back over WebSocket: the session and its queue */
	c = hf_ws_connect(wp, ver, "mover", false, 600, &sp);
	CHECK(c >= 0);
	CHECK(sp);
	CHECK(hf_raw_expect_pub(c, ver, "m/1", "q1", NULL));
	CHECK_EQ(hf_raw_disconnect(c, ver, 0), 0);
	close(c);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "m/2", "q2", 2, 1, false, 2)));
	close(pub);
	/* across a restart, then back over TCP */
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	c = hf_raw_connect_expiry(b->port, ver, "mover", false, 600, &sp);
	CHECK(c >= 0);
	CHECK(sp);
	CHECK(hf_raw_expect_pub(c, ver, "m/2", "q2", NULL));
	/* and to WebSocket once more, offline across a restart */
	CHECK_EQ(hf_raw_disconnect(c, ver, 0), 0);
	close(c);
	pub = hf_raw_connect(b->port, ver, "pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(pub, ver, "m/3", "q3", 2, 1, false, 3)));
	close(pub);
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	c = hf_ws_connect(ws_port(b), ver, "mover", false, 600, &sp);
	CHECK(c >= 0);
	CHECK(sp);
	CHECK(hf_raw_expect_pub(c, ver, "m/3", "q3", NULL));
	close(c);
	CHECK_EQ(hf_test_store_check(b->dir), 0);
}
BOTH(session_moves)

/* Collect the payload bytes of the frames that arrive within ms, up to
 * cap. */
static size_t
collect(int fd, int ms, uint8_t *out, size_t cap, size_t want)
{
	size_t have = 0;
	int64_t end = hf_now_ms() + ms;
	while (have < want && hf_now_ms() < end) {
		uint8_t op;
		size_t n;
		int r = hf_ws_recv_frame(fd, (int)(end - hf_now_ms()), &op,
		                         out + have, cap - have, &n);
		if (r != 1)
			break;
		have += n;
	}
	return have;
}

static void
t_frames(struct hf_bproc *b)
{
	int fd = hf_raw_open(ws_port(b));
	CHECK(fd >= 0);
	CHECK_EQ(
	    hf_ws_upgrade(fd, "/any/path?x=1", "mqtt", NULL, NULL, NULL, 0),
	    101);
	/* CONNECT v3.1.1, client id "fr", in three frames */
	static const uint8_t connect[] = {
	    0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 2, 'f', 'r'};
	CHECK_EQ(hf_ws_send_frame(fd, 2, true, connect, 1, 1), 0);
	CHECK_EQ(hf_ws_send_frame(fd, 2, true, connect + 1, 7, 7), 0);
	CHECK_EQ(hf_ws_send_frame(fd, 2, true, connect + 8, sizeof(connect) - 8,
	                          sizeof(connect) - 8),
	         0);
	/* SUBSCRIBE f/#, PUBLISH QoS 0 f/a "hi", PINGREQ: one frame */
	static const uint8_t three[] = {
	    0x82, 0x08, 0, 1, 0,   3,   'f', '/', '#', 0, /* SUBSCRIBE */
	    0x30, 0x07, 0, 3, 'f', '/', 'a', 'h', 'i',    /* PUBLISH */
	    0xc0, 0x00};                                  /* PINGREQ */
	CHECK_EQ(
	    hf_ws_send_frame(fd, 2, true, three, sizeof(three), sizeof(three)),
	    0);
	static const uint8_t want[] = {0x20, 0x02, 0,   0,      /* CONNACK */
	                               0x90, 0x03, 0,   1,   0, /* SUBACK */
	                               0x30, 0x07, 0,   3,   'f',
	                               '/',  'a',  'h', 'i', /* PUBLISH */
	                               0xd0, 0x00};          /* PINGRESP */
	uint8_t got[64];
	size_t n = collect(fd, 3000, got, sizeof(got), sizeof(want));
	CHECK_EQ(n, sizeof(want));
	CHECK(n == sizeof(want) && memcmp(got, want, n) == 0);
	/* a PUBLISH split inside its header and its payload, two in one */
	static const uint8_t two[] = {0x30, 0x07, 0,   3,    'f',  '/',
	                              'b',  'x',  'y', 0x30, 0x07, 0,
	                              3,    'f',  '/', 'c',  'z',  'w'};
	CHECK_EQ(hf_ws_send_frame(fd, 2, true, two, 1, 1), 0);
	CHECK_EQ(hf_ws_send_frame(fd, 2, true, two + 1, 12, 12), 0);
	CHECK_EQ(hf_ws_send_frame(fd, 2, true, two + 13, sizeof(two) - 13,
	                          sizeof(two) - 13),
	         0);
	n = collect(fd, 3000, got, sizeof(got), sizeof(two));
	CHECK_EQ(n, sizeof(two));
	CHECK(n == sizeof(two) && memcmp(got, two, n) == 0);
	close(fd);
}

static void
t_big(struct hf_bproc *b)
{
	size_t len = 1 << 20;
	uint8_t *big = malloc(len);
	CHECK(big != NULL);
	if (!big)
		return;
	for (size_t i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	int ws = hf_ws_connect(ws_port(b), V5, "big-sub", true, 0, NULL);
	CHECK(ws >= 0);
	CHECK_EQ(hf_raw_subscribe(ws, V5, 1, "big", 1, 0), 1);
	int p = hf_raw_connect(b->port, V5, "big-pub", true, 60, NULL, NULL);
	CHECK(p >= 0);
	int64_t t0 = hf_now_ms();
	CHECK(HF_PUB_OK(hf_raw_publish(p, V5, "big", big, len, 1, false, 1)));
	struct hf_packet pk;
	uint8_t *buf = malloc(len + 1024);
	CHECK(buf != NULL);
	CHECK_EQ(
	    hf_raw_expect_publish(ws, V5, 10000, true, &pk, buf, len + 1024),
	    1);
	fprintf(stderr,
	        "1 MB QoS 1, TCP publisher -> WebSocket subscriber: "
	        "%lld ms\n",
	        (long long)(hf_now_ms() - t0));
	CHECK_EQ(pk.u.publish.payload.len, len);
	CHECK(pk.u.publish.payload.len == len &&
	      memcmp(pk.u.publish.payload.p, big, len) == 0);
	free(buf);
	free(big);
	close(p);
	close(ws);
}

/* ---- the same security as TCP ---------------------------------------------
 */

/* CONNECT over WebSocket with a username and password (NULL: none); the
 * CONNACK's code in *rc (0xff: none). The socket, or -1 (closed) when the
 * CONNACK refused. */
static int
ws_connect_user(uint16_t port, uint8_t ver, const char *id, const char *user,
                const char *pw, uint8_t *rc)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	*rc = 0xff;
	int fd = hf_ws_open(port, NULL);
	if (fd < 0)
		return -1;
	hf_raw_connect_init(&c, ver, id, true, 60);
	if (user) {
		c.u.connect.has_username = true;
		c.u.connect.username =
		    (struct hf_bytes){(const uint8_t *)user, strlen(user)};
	}
	if (pw) {
		c.u.connect.has_password = true;
		c.u.connect.password =
		    (struct hf_bytes){(const uint8_t *)pw, strlen(pw)};
	}
	if (hf_raw_send_pkt(fd, &c, ver) == 0 &&
	    hf_raw_recvb(fd, ver, 3000, &ca, buf, sizeof(buf)) == 1 &&
	    ca.type == HF_CONNACK)
		*rc = ca.u.connack.rc;
	if (*rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A WebSocket client that goes away without DISCONNECT: its will reaches
 * a TCP subscriber; one that sends DISCONNECT leaves none. */
static void
will(struct hf_bproc *b, uint8_t ver)
{
	int sub = hf_raw_sub_client(b->port, ver, "will-watch", "will/#", 1);
	CHECK(sub >= 0);
	for (int clean = 0; clean <= 1; clean++) {
		struct hf_packet c, ca;
		uint8_t buf[512];
		int fd = hf_ws_open(ws_port(b), NULL);
		CHECK(fd >= 0);
		hf_raw_connect_init(&c, ver, clean ? "will-2" : "will-1", true,
		                    60);
		c.u.connect.will = true;
		c.u.connect.will_qos = 1;
		c.u.connect.will_topic =
		    (struct hf_bytes){(const uint8_t *)"will/t", 6};
		c.u.connect.will_payload = (struct hf_bytes){
		    (const uint8_t *)(clean ? "w2" : "w1"), 2};
		CHECK_EQ(hf_raw_send_pkt(fd, &c, ver), 0);
		CHECK_EQ(hf_raw_recvb(fd, ver, 3000, &ca, buf, sizeof(buf)), 1);
		CHECK_EQ(ca.u.connack.rc, 0);
		if (clean)
			CHECK_EQ(hf_raw_disconnect(fd, ver, 0), 0);
		close(fd); /* a WebSocket close frame, no MQTT DISCONNECT */
	}
	CHECK(hf_raw_expect_pub(sub, ver, "will/t", "w1", NULL));
	int others = -1;
	int p = hf_raw_connect(b->port, ver, "will-mark", true, 60, NULL, NULL);
	CHECK(p >= 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(p, ver, "will/mark", "m", 1, 1, false, 1)));
	CHECK_EQ(hf_raw_until(sub, ver, "will/mark", 3000, &others), 1);
	CHECK_EQ(others, 0); /* no will from the one that said DISCONNECT */
	close(p);
	close(sub);
}
BOTH(will)

static char auth_dir[64];

static void
auth(struct hf_bproc *b, uint8_t ver)
{
	uint16_t wp = ws_port(b);
	uint8_t rc;
	bool v5 = ver == V5;
	/* anonymous, a wrong password, an unknown user: refused as on TCP */
	CHECK_EQ(ws_connect_user(wp, ver, "anon", NULL, NULL, &rc), -1);
	CHECK_EQ(rc, v5 ? 0x87 : 5);
	CHECK_EQ(ws_connect_user(wp, ver, "bad", "alice", "wrong", &rc), -1);
	CHECK_EQ(rc, v5 ? 0x86 : 4);
	CHECK_EQ(ws_connect_user(wp, ver, "who", "mallory", "x", &rc), -1);
	CHECK_EQ(rc, v5 ? 0x86 : 4);
	/* alice over WebSocket, bob over TCP: tenants/%u/# each */
	int a = ws_connect_user(wp, ver, "alice-ws", "alice", "secret-a", &rc);
	CHECK(a >= 0);
	CHECK_EQ(hf_raw_subscribe(a, ver, 1, "tenants/#", 1, 0), 1);
	struct hf_packet c, ca;
	uint8_t buf[512];
	hf_raw_connect_init(&c, ver, "bob-tcp", true, 60);
	c.u.connect.has_username = c.u.connect.has_password = true;
	c.u.connect.username = (struct hf_bytes){(const uint8_t *)"bob", 3};
	c.u.connect.password =
	    (struct hf_bytes){(const uint8_t *)"secret-b", 8};
	int bo = hf_raw_connect_pkt(b->port, &c, &ca, buf, sizeof(buf));
	CHECK(bo >= 0);
	CHECK_EQ(ca.u.connack.rc, 0);
	/* bob's own topic never reaches alice; alice's own does */
	CHECK(HF_PUB_OK(
	    hf_raw_publish(bo, ver, "tenants/bob/x", "b", 1, 1, false, 1)));
	int a2 = ws_connect_user(wp, ver, "alice-2", "alice", "secret-a", &rc);
	CHECK(a2 >= 0);
	CHECK(HF_PUB_OK(
	    hf_raw_publish(a2, ver, "tenants/alice/x", "a", 1, 1, false, 2)));
	CHECK(hf_raw_expect_pub(a, ver, "tenants/alice/x", "a", NULL));
	/* alice may not write bob's topics: 0x87 (3.1.1: acked, dropped) */
	int w = hf_raw_publish(a2, ver, "tenants/bob/y", "no", 2, 1, false, 3);
	CHECK_EQ(w, v5 ? 0x87 : 0);
	CHECK_EQ(hf_raw_ping(a, 3000), 1); /* and nothing was delivered */
	close(a2);
	CHECK(hf_bproc_log_contains(b, "as alice-ws (p"));
	close(bo);
	close(a);
}
BOTH(auth)

static void
make_auth(void)
{
	char cmd[512];
	snprintf(auth_dir, sizeof(auth_dir), "/tmp/hf-w01a-XXXXXX");
	if (!mkdtemp(auth_dir))
		return;
	snprintf(cmd, sizeof(cmd),
	         "%s -c -b %s/passwd alice secret-a && %s -b %s/passwd bob "
	         "secret-b && printf 'pattern readwrite tenants/%%%%u/#\\n' "
	         "> %s/acl",
	         HF_PASSWD_BIN, auth_dir, HF_PASSWD_BIN, auth_dir, auth_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not make the password and ACL files\n");
}

/* ---- bad input --------------------------------------------------------- */

static void
t_bad_http(struct hf_bproc *b)
{
	uint16_t wp = ws_port(b);
	int w = witness(b);
	CHECK(w >= 0);
	char head[1024];
	/* a plain GET */
	int fd = hf_raw_open(wp);
	CHECK(fd >= 0);
	const char get[] = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	CHECK_EQ(hf_raw_send(fd, get, sizeof(get) - 1), 0);
	uint8_t resp[512];
	struct hf_packet unused;
	(void)unused;
	ssize_t n = 0;
	for (int64_t end = hf_now_ms() + 3000; n <= 0 && hf_now_ms() < end;)
		n = recv(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT);
	CHECK(n > 12);
	resp[n > 0 ? n : 0] = '\0';
	CHECK(strstr((char *)resp, " 404 ") != NULL);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
	CHECK(hf_bproc_wait_log(b, "without a WebSocket upgrade (HTTP 404)",
	                        2000));
	/* no subprotocol, a wrong one, a wrong version */
	struct {
		const char *proto, *version, *log;
	} cases[] = {
	    {NULL, NULL, "no subprotocol (mqtt or mqttv3.1 needed)"},
	    {"foo", NULL, "subprotocol is not mqtt or mqttv3.1"},
	    {"mqtt", "8", "WebSocket version is not 13"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fd = hf_raw_open(wp);
		CHECK(fd >= 0);
		CHECK_EQ(hf_ws_upgrade(fd, "/", cases[i].proto,
		                       cases[i].version, NULL, head,
		                       sizeof(head)),
		         400);
		CHECK(hf_raw_wait_close(fd, 3000, NULL));
		close(fd);
		CHECK(hf_bproc_wait_log(b, cases[i].log, 2000));
	}
	/* both MQTT subprotocols are accepted, in an offered list too */
	const char *good[] = {"mqtt", "mqttv3.1", "foo, mqtt"};
	for (size_t i = 0; i < 3; i++) {
		fd = hf_raw_open(wp);
		CHECK(fd >= 0);
		CHECK_EQ(hf_ws_upgrade(fd, "/", good[i], NULL, NULL, head,
		                       sizeof(head)),
		         101);
		close(fd);
	}
	/* headers beyond websockets_headers_size (1024 here): refused */
	fd = hf_raw_open(wp);
	CHECK(fd >= 0);
	char extra[2100];
	snprintf(extra, sizeof(extra), "X-Long: %02000d\r\n", 0);
	int st =
	    hf_ws_upgrade(fd, "/", "mqtt", NULL, extra, head, sizeof(head));
	CHECK(st != 101);
	close(fd);
	CHECK(witness_ok(b, w, "after-http"));
	close(w);
}

/* Upgrade, then expect the broker to close with code want after the
 * frames send() puts on the wire, with a log line holding logline. */
static void
bad_frame(struct hf_bproc *b, int w, int (*send)(int fd), int want,
          const char *logline, const char *tag)
{
	int fd = hf_raw_open(ws_port(b));
	CHECK(fd >= 0);
	CHECK_EQ(hf_ws_upgrade(fd, "/", "mqtt", NULL, NULL, NULL, 0), 101);
	CHECK_EQ(send(fd), 0);
	int code = 0;
	CHECK(hf_ws_wait_close(fd, 5000, &code));
	if (want)
		CHECK_EQ(code, want);
	close(fd);
	if (logline)
		CHECK(hf_bproc_wait_log(b, logline, 2000));
	CHECK(witness_ok(b, w, tag));
}

static int
send_text(int fd)
{
	static const uint8_t connect[] = {0x10, 0x0c, 0, 4, 'M', 'Q', 'T',
	                                  'T',  4,    2, 0, 60,  0,   0};
	return hf_ws_send_frame(fd, 1, true, connect, sizeof(connect),
	                        sizeof(connect));
}

static int
send_huge(int fd)
{
	static const uint8_t some[64];
	return hf_ws_send_frame(fd, 2, true, some, (uint64_t)1 << 40,
	                        sizeof(some));
}

/* A valid CONNECT, then one message in 100 000 one-byte fragments: a
 * PUBLISH whose payload would be 100 000 bytes. */
static int
send_flood(int fd)
{
	static const uint8_t connect[] = {
	    0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 2, 'f', 'l'};
	if (hf_ws_send_frame(fd, 2, true, connect, sizeof(connect),
	                     sizeof(connect)))
		return -1;
	/* remaining length 100 004 = 0xa4 0x8d 0x06; topic "f" */
	static const uint8_t pub[] = {0x30, 0xa4, 0x8d, 0x06, 0, 1, 'f'};
	if (hf_ws_send_frame(fd, 2, false, pub, sizeof(pub), sizeof(pub)))
		return -1;
	/* many small frames in one write each ~ 1000 */
	uint8_t chunk[1000 * 7];
	size_t at = 0;
	for (int i = 0; i < 100000; i++) {
		/* continuation, not final, 1 byte, masked (mask 0: byte as
		 * is) */
		uint8_t f[7] = {0x00, 0x81, 0, 0, 0, 0, 'x'};
		memcpy(chunk + at, f, sizeof(f));
		at += sizeof(f);
		if (at == sizeof(chunk)) {
			if (hf_raw_send(fd, chunk, at))
				return 0; /* closed by the broker: fine */
			at = 0;
		}
	}
	return 0;
}

static int
send_garbage(int fd)
{
	uint8_t g[256];
	for (size_t i = 0; i < sizeof(g); i++)
		g[i] = (uint8_t)(i * 31 + 7);
	g[0] = 0x4f; /* reserved bits and opcode */
	return hf_raw_send(fd, g, sizeof(g));
}

static void
t_bad_frames(struct hf_bproc *b)
{
	int w = witness(b);
	CHECK(w >= 0);
	/* a durable message must survive all of it */
	int keep =
	    hf_raw_connect_expiry(b->port, V5, "keeper", false, 600, NULL);
	CHECK(keep >= 0);
	CHECK_EQ(hf_raw_subscribe(keep, V5, 1, "k", 1, 0), 1);
	CHECK_EQ(hf_raw_disconnect(keep, V5, 0), 0);
	close(keep);
	int p = hf_raw_connect(b->port, V5, "kp", true, 60, NULL, NULL);
	CHECK(HF_PUB_OK(hf_raw_publish(p, V5, "k", "kept", 4, 1, false, 1)));
	close(p);

	bad_frame(b, w, send_text, 1003,
	          "text frame (MQTT needs binary frames)", "after-text");
	bad_frame(b, w, send_huge, 1009, "frame larger than the largest packet",
	          "after-huge");
	bad_frame(b, w, send_flood, 1008, "message in too many fragments",
	          "after-flood");
	bad_frame(b, w, send_garbage, 0, NULL, "after-garbage");
	/* a connection that stops in the middle of a frame */
	int fd = hf_raw_open(ws_port(b));
	CHECK(fd >= 0);
	CHECK_EQ(hf_ws_upgrade(fd, "/", "mqtt", NULL, NULL, NULL, 0), 101);
	static const uint8_t part[] = {0x10, 0x0c, 0, 4};
	CHECK_EQ(hf_ws_send_frame(fd, 2, true, part, 14, sizeof(part)), 0);
	close(fd);
	CHECK(witness_ok(b, w, "after-abrupt"));

	keep = hf_raw_connect_expiry(b->port, V5, "keeper", false, 600, NULL);
	CHECK(keep >= 0);
	CHECK(hf_raw_expect_pub(keep, V5, "k", "kept", NULL));
	close(keep);
	close(w);
	CHECK(hf_bproc_alive(b));
}

static void
t_slow_reader(struct hf_bproc *b)
{
	int w = witness(b);
	CHECK(w >= 0);
	int slow = hf_ws_connect(ws_port(b), V3, "slow", true, 0, NULL);
	CHECK(slow >= 0);
	CHECK_EQ(hf_raw_subscribe(slow, V3, 1, "flood", 0, 0), 0);
	/* slow never reads again; 64 MB of QoS 0 go its way */
	int p = hf_raw_connect(b->port, V3, "flooder", true, 60, NULL, NULL);
	CHECK(p >= 0);
	size_t len = 256 * 1024;
	uint8_t *pl = calloc(1, len);
	CHECK(pl != NULL);
	for (int i = 0; pl && i < 256; i++)
		if (hf_raw_publish(p, V3, "flood", pl, len, 0, false, 0) != 0)
			break;
	free(pl);
	CHECK(witness_ok(b, w, "during-flood"));
	close(p);
	close(slow);
	close(w);
}

static void
t_max_conns(struct hf_bproc *b)
{
	uint16_t wp = ws_port(b);
	int a = hf_ws_connect(wp, V3, "mc-a", true, 0, NULL);
	int c = hf_ws_connect(wp, V3, "mc-b", true, 0, NULL);
	CHECK(a >= 0);
	CHECK(c >= 0);
	int fd = hf_raw_open(wp);
	CHECK(fd >= 0);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	close(fd);
	CHECK(hf_bproc_wait_log(b, "denied: max_connections reached", 2000));
	/* one leaves: its place is free again (bounded retries while the
	 * broker notices) */
	close(a);
	int again = -1;
	for (int64_t end = hf_now_ms() + 3000; again < 0 && hf_now_ms() < end;)
		if ((again = hf_ws_connect(wp, V3, "mc-c", true, 0, NULL)) < 0)
			hf_sleep_ms(20);
	CHECK(again >= 0);
	close(again);
	close(c);
}

/* GET path; the status, and the body into body[cap]. */
static int
http_get(uint16_t port, const char *path, char *body, size_t cap)
{
	int fd = hf_raw_open(port);
	if (fd < 0)
		return -1;
	char req[512];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                 "Connection: close\r\n\r\n",
	                 path);
	if (hf_raw_send(fd, req, (size_t)n)) {
		close(fd);
		return -1;
	}
	char buf[8192];
	size_t have = 0;
	for (int64_t end = hf_now_ms() + 3000;
	     have + 1 < sizeof(buf) && hf_now_ms() < end;) {
		ssize_t got =
		    recv(fd, buf + have, sizeof(buf) - 1 - have, MSG_DONTWAIT);
		if (got == 0)
			break;
		if (got < 0) {
			hf_sleep_ms(5);
			continue;
		}
		have += (size_t)got;
	}
	close(fd);
	buf[have] = '\0';
	int status = -1;
	sscanf(buf, "HTTP/1.%*d %d", &status);
	char *b = strstr(buf, "\r\n\r\n");
	snprintf(body, cap, "%s", b ? b + 4 : "");
	return status;
}

static void
t_http_dir(struct hf_bproc *b)
{
	uint16_t wp = ws_port(b);
	char body[4096];
	CHECK_EQ(http_get(wp, "/", body, sizeof(body)), 200);
	CHECK(strstr(body, "index of www") != NULL);
	CHECK_EQ(http_get(wp, "/sub/a.txt", body, sizeof(body)), 200);
	CHECK(strstr(body, "file a") != NULL);
	/* no listing of a folder, no way out of it */
	CHECK(http_get(wp, "/sub/", body, sizeof(body)) != 200);
	CHECK(strstr(body, "a.txt") == NULL);
	const char *escapes[] = {"/../secret.txt", "/sub/../../secret.txt",
	                         "/%2e%2e/secret.txt", "/..%2fsecret.txt"};
	for (size_t i = 0; i < 4; i++) {
		int st = http_get(wp, escapes[i], body, sizeof(body));
		CHECK(st != 200 || strstr(body, "secret") == NULL);
		CHECK(strstr(body, "do not serve") == NULL);
	}
	CHECK_EQ(http_get(wp, "/missing.html", body, sizeof(body)), 404);
	/* MQTT on the same listener */
	int ws = hf_ws_connect(wp, V5, "same-port", true, 0, NULL);
	CHECK(ws >= 0);
	close(ws);
}

/* The folder http_dir serves, and a file beside it that must stay out. */
static char www_dir[256];

static void
make_www(void)
{
	char path[320];
	snprintf(www_dir, sizeof(www_dir), "/tmp/hf-w01-XXXXXX");
	if (!mkdtemp(www_dir))
		return;
	snprintf(path, sizeof(path), "%s/secret.txt", www_dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("do not serve\n", f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/www", www_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/www/index.html", www_dir);
	if ((f = fopen(path, "w"))) {
		fputs("<p>index of www</p>\n", f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/www/sub", www_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/www/sub/a.txt", www_dir);
	if ((f = fopen(path, "w"))) {
		fputs("file a\n", f);
		fclose(f);
	}
}

static void
rm_www(void)
{
	char cmd[400];
	if (!www_dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", www_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", www_dir);
}

/* A configuration the broker must refuse, at start and with
 * --test-config, naming FILE:LINE and why (nothing is bound). */
static bool
refused(const char *body, unsigned line, const char *want)
{
	char dir[] = "/tmp/hf-w01c-XXXXXX", path[96], cmd[512], out[4096];
	bool ok = true;
	if (!mkdtemp(dir))
		return false;
	snprintf(path, sizeof(path), "%s/t.conf", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	fprintf(f, "persistence_location %s\n%s", dir, body);
	fclose(f);
	char at[160];
	snprintf(at, sizeof(at), "%s:%u: http_dir: ", path, line + 1);
	for (int test = 1; test >= 0; test--) {
		snprintf(cmd, sizeof(cmd), "%s -c %s%s 2>&1", HF_BROKER_BIN,
		         path, test ? " --test-config" : "");
		FILE *p = popen(cmd, "r");
		size_t n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
		out[n] = '\0';
		int st = p ? pclose(p) : -1;
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 1 ||
		    !strstr(out, at) || !strstr(out, want) ||
		    strstr(out, "listen socket")) {
			fprintf(stderr,
			        "%s: wanted exit 1 with '%s' and '%s':\n%s\n",
			        test ? "--test-config" : "start", at, want,
			        out);
			ok = false;
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		ok = false;
	return ok;
}

static void
t_bad_config(void)
{
	CHECK(refused("listener 0 127.0.0.1\nprotocol websockets\n"
	              "http_dir /nonexistent-hf\n",
	              3, "/nonexistent-hf: No such file or directory"));
	CHECK(refused("listener 0 127.0.0.1\nprotocol websockets\n"
	              "http_dir /etc/hostname\n",
	              3, "/etc/hostname: not a folder"));
	CHECK(refused("listener 0 127.0.0.1\nhttp_dir /tmp\n", 2,
	              "is not a WebSocket listener (protocol websockets)"));
	/* the shipped example is good (run from the repository's root) */
	CHECK(system("cd " HF_SOURCE_DIR " && " HF_BROKER_BIN
	             " -c conf/websockets.conf --test-config") == 0);
}

int
main(void)
{
	HF_BCASE(pubsub_v311, WS "sys_interval 1\n");
	HF_BCASE(pubsub_v5, WS "sys_interval 1\n");
	HF_BCASE(session_moves_v311, WS);
	HF_BCASE(session_moves_v5, WS);
	HF_BCASE(will_v311, WS);
	HF_BCASE(will_v5, WS);
	HF_BCASE(t_frames, WS);
	HF_BCASE(t_big, WS);
	HF_BCASE(t_bad_http, WS "websockets_headers_size 1024\n");
	HF_BCASE(t_bad_frames, WS);
	HF_BCASE(t_slow_reader, WS);
	HF_BCASE(t_max_conns, WS "max_connections 2\n");
	make_auth();
	char aconf[512];
	snprintf(aconf, sizeof(aconf),
	         WS "password_file %s/passwd\nacl_file %s/acl\n"
	            "allow_anonymous false\n",
	         auth_dir, auth_dir);
	HF_BCASE(auth_v311, aconf);
	HF_BCASE(auth_v5, aconf);
	if (auth_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", auth_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", auth_dir);
	}
	make_www();
	char conf[512];
	snprintf(conf, sizeof(conf), WS "http_dir %s/www\n", www_dir);
	HF_BCASE(t_http_dir, conf);
	rm_www();
	HF_RUN(t_bad_config);
	return HF_DONE();
}
