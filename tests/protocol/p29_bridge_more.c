/* tests/protocol/p29_bridge_more.c - bridges beyond p28_bridge: MQTT 5
 * links, the CONNECT a bridge sends, mosquitto as the edge, what a bridge
 * shows of itself, and bridge blocks refused at start-up.
 *
 *   v5_pair         bridge_protocol_version mqttv50 between two Holdfast
 *                   brokers: out and in work; `both` carries a message
 *                   each way once (No Local on the remote subscription);
 *                   a retained message published at the core on an `in`
 *                   topic reaches an edge subscriber with Retain As
 *                   Published with its retain flag, and is retained at
 *                   the edge (a new subscriber gets it).
 *   connect_v5      a fake core (a listening socket of the test) reads the
 *                   bridge's CONNECT: level 5, Receive Maximum 5
 *                   (bridge_receive_maximum), client id NAME.HOSTNAME by
 *                   default, clean start, keepalive_interval, user name and
 *                   password, the will (notification topic, retained, QoS
 *                   1, "0"); after its CONNACK the edge logs the link up.
 *   connect_v311    the same for 3.1.1: level byte 0x84 (try_private) and
 *                   remote_clientid; 0x04 with try_private false.
 *   mosquitto_edge  mosquitto (try_private on by default) bridges into a
 *                   Holdfast core: its messages arrive; with `both`, a
 *                   message from either side reaches the other once and
 *                   never comes back (Holdfast honours the bridge bit).
 *   visibility      sys_interval 1: $SYS/broker/bridge/NAME/connected is 1
 *                   while up and 0 with the core stopped, outbox/messages
 *                   grows while it is down; the http_api listener's
 *                   /metrics has the holdfast_bridge_* gauges to match;
 *                   `holdfast-db -c CONF bridges` shows the outbox while the
 *                   edge runs; the log says "Connecting bridge", "connected
 *                   to", "disconnected from" in that order, and the
 *                   outbox drains when the core is back.
 *   refusals        bad bridge blocks: the binary exits non-zero, both
 *                   with --test-config and on a real start, naming
 *                   FILE:LINE and the option.
 *
 * Every wait has a deadline; loopback only. */
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpair.h"
#include "rawclient.h"
#include "test.h"

#define V4 HF_PROTO_V311

static bool
nothing_more(int fd, uint8_t ver, int ms)
{
	struct hf_packet pk;
	uint8_t buf[512];
	int r = hf_raw_recvb(fd, ver, ms, &pk, buf, sizeof(buf));
	if (r == 1 && pk.type == HF_PUBLISH)
		fprintf(stderr, "unexpected PUBLISH %.*s\n",
		        (int)pk.u.publish.topic.len, pk.u.publish.topic.p);
	else if (r == 1)
		fprintf(stderr, "unexpected %s\n", hf_ptype_name(pk.type));
	return r == 0;
}

/* Read (and acknowledge) publishes on fd until one on topic comes, up to
 * ms; its payload goes to out. Others are skipped. */
static bool
next_on(int fd, uint8_t ver, const char *topic, int ms, char *out, size_t cap)
{
	int64_t end = hf_now_ms() + ms;
	while (hf_now_ms() < end) {
		struct hf_packet pk;
		uint8_t buf[1024];
		int r = hf_raw_expect_publish(fd, ver, 200, true, &pk, buf,
		                              sizeof(buf));
		if (r < 0)
			return false;
		if (r == 0 || !hf_bytes_eq(pk.u.publish.topic, topic))
			continue;
		size_t n = pk.u.publish.payload.len < cap - 1
		               ? pk.u.publish.payload.len
		               : cap - 1;
		memcpy(out, pk.u.publish.payload.p, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

/* Wait until topic carries want (each $SYS round publishes it again). */
static bool
sys_is(int fd, const char *topic, const char *want, int ms)
{
	int64_t end = hf_now_ms() + ms;
	char v[64] = "";
	while (hf_now_ms() < end) {
		if (next_on(fd, V4, topic, (int)(end - hf_now_ms()), v,
		            sizeof(v)) &&
		    !strcmp(v, want))
			return true;
	}
	fprintf(stderr, "%s: last value '%s', wanted '%s'\n", topic, v, want);
	return false;
}

static void
run_pair(const char *name, void (*fn)(struct hf_bpair *), const char *core,
         const char *edge)
{
	struct hf_bpair p;
	if (!hf_bpair_start(&p, core, edge)) {
		fprintf(stderr, "%s: brokers did not start\n", name);
		hf_test_failed_ = 1;
	} else {
		fn(&p);
	}
	hf_bpair_end(&p, name);
}

/* ---- MQTT 5 between two Holdfast brokers ----------------------------------
 */

static void
v5_pair(struct hf_bpair *p)
{
	CHECK(hf_bproc_wait_log(&p->edge, "Bridge c5 connected to", 10000));
	uint8_t rap = 1 | HF_SUBOPT_RAP;
	int esub = hf_raw_sub_client(p->edge.port, V5, "edge-sub", "#", rap);
	int csub = hf_raw_sub_client(p->core.port, V5, "core-sub", "#", 1);
	CHECK(esub >= 0 && csub >= 0);
	int cpub =
	    hf_raw_connect_expiry(p->core.port, V5, "core-pub", true, 0, NULL);
	int epub =
	    hf_raw_connect_expiry(p->edge.port, V5, "edge-pub", true, 0, NULL);
	CHECK(cpub >= 0 && epub >= 0);
	/* out */
	CHECK(
	    HF_PUB_OK(hf_raw_publish(epub, V5, "e/1", "out", 3, 1, false, 1)));
	CHECK(hf_raw_expect_pub(esub, V5, "e/1", "out", NULL));
	CHECK(hf_raw_expect_pub(csub, V5, "e/1", "out", NULL));
	/* in; the remote SUBSCRIBE may still be on its way */
	bool got = false;
	for (int i = 0; i < 50 && !got; i++) {
		CHECK(HF_PUB_OK(hf_raw_publish(cpub, V5, "c/1", "in", 2, 1,
		                               false, (uint16_t)(i + 10))));
		CHECK(hf_raw_expect_pub(csub, V5, "c/1", "in", NULL));
		struct hf_packet pk;
		uint8_t buf[512];
		got = hf_raw_expect_publish(esub, V5, 200, true, &pk, buf,
		                            sizeof(buf)) == 1;
	}
	CHECK(got);
	CHECK(nothing_more(esub, V5, 300));
	/* both, edge to core: once on each side */
	CHECK(HF_PUB_OK(
	    hf_raw_publish(epub, V5, "b/1", "each", 4, 1, false, 100)));
	CHECK(hf_raw_expect_pub(esub, V5, "b/1", "each", NULL));
	CHECK(hf_raw_expect_pub(csub, V5, "b/1", "each", NULL));
	CHECK(nothing_more(esub, V5, 500));
	CHECK(nothing_more(csub, V5, 100));
	/* both, core to edge */
	CHECK(HF_PUB_OK(
	    hf_raw_publish(cpub, V5, "b/2", "back", 4, 1, false, 101)));
	CHECK(hf_raw_expect_pub(csub, V5, "b/2", "back", NULL));
	CHECK(hf_raw_expect_pub(esub, V5, "b/2", "back", NULL));
	CHECK(nothing_more(csub, V5, 500));
	CHECK(nothing_more(esub, V5, 100));
	/* retained at the core on an `in` topic */
	bool retain = false;
	CHECK(HF_PUB_OK(
	    hf_raw_publish(cpub, V5, "c/r", "kept", 4, 1, true, 102)));
	CHECK(hf_raw_expect_pub(csub, V5, "c/r", "kept", NULL));
	CHECK(hf_raw_expect_pub(esub, V5, "c/r", "kept", &retain));
	CHECK(retain); /* the bridge kept the flag; RAP shows it */
	int late = hf_raw_sub_client(p->edge.port, V5, "late", "c/r", 1);
	CHECK(late >= 0);
	retain = false;
	CHECK(hf_raw_expect_pub(late, V5, "c/r", "kept", &retain));
	CHECK(retain);
	close(late);
	close(cpub);
	close(epub);
	close(esub);
	close(csub);
}

static void
v5_pair_case(void)
{
	run_pair("v5_pair", v5_pair, NULL,
	         "connection c5\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
	         "bridge_protocol_version mqttv50\n"
	         "topic e/# out 1\ntopic c/# in 1\ntopic b/# both 1\n");
}

/* ---- the CONNECT, seen by a fake core -------------------------------------
 */

static int
fake_listen(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &l) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int
fake_accept(int lfd, int ms)
{
	struct pollfd pfd = {lfd, POLLIN, 0};
	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

struct seen {
	uint8_t level; /* the protocol level byte as sent */
	uint8_t body[1024];
	struct hf_packet pk;
};

/* Start an edge whose bridge `fk` dials the fake core with the extra bridge
 * lines; read its CONNECT into *s and answer CONNACK 0. Returns the
 * connection's fd (the edge is in *edge) or -1. */
static int
fake_connect(struct hf_bproc *edge, const char *lines, struct seen *s)
{
	uint16_t port = 0;
	int lfd = fake_listen(&port);
	if (lfd < 0)
		return -1;
	char conf[1024];
	snprintf(conf, sizeof(conf),
	         "connection fk\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
	         "topic e/# out 1\n%s",
	         port, lines);
	int fd = -1;
	if (hf_bproc_start(edge, conf) == 0)
		fd = fake_accept(lfd, 10000);
	close(lfd);
	uint8_t tf = 0;
	uint32_t len = 0;
	if (fd < 0 ||
	    hf_raw_recv_frame(fd, 5000, &tf, s->body, sizeof(s->body), &len) !=
	        1 ||
	    (tf >> 4) != HF_CONNECT || len < 7) {
		fprintf(stderr, "fake core: no CONNECT\n");
		goto fail;
	}
	s->level = s->body[6];
	uint8_t ver = (uint8_t)(s->level & 0x7f);
	if (hf_decode(tf, s->body, len, ver, &s->pk) != HF_OK) {
		fprintf(stderr, "fake core: CONNECT does not decode\n");
		goto fail;
	}
	static const uint8_t ack4[] = {0x20, 2, 0, 0};
	static const uint8_t ack5[] = {0x20, 3, 0, 0, 0};
	bool v5 = ver == HF_PROTO_V5;
	if (hf_raw_send(fd, v5 ? ack5 : ack4,
	                v5 ? sizeof(ack5) : sizeof(ack4)) != 0)
		goto fail;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static void
end_fake(struct hf_bproc *edge, int fd)
{
	if (fd >= 0)
		close(fd);
	if (hf_test_failed_)
		hf_bproc_dump_log(edge, 4000);
	if (edge->pid > 0 && hf_bproc_stop(edge) != 0)
		hf_test_failed_ = 1;
	if (!hf_test_failed_)
		hf_bproc_cleanup(edge);
}

static void
connect_v5_body(struct hf_bproc *edge, int fd, const struct seen *s)
{
	CHECK(fd >= 0);
	const struct hf_connect *k = &s->pk.u.connect;
	char host[256], id[300], will[400];
	CHECK(gethostname(host, sizeof(host)) == 0);
	host[sizeof(host) - 1] = '\0';
	snprintf(id, sizeof(id), "fk.%s", host);
	snprintf(will, sizeof(will), "$SYS/broker/connection/%s/state", id);
	CHECK_EQ(s->level, 5);
	CHECK(!k->bridge);
	CHECK(k->props.present & HF_PP_RECEIVE_MAX);
	CHECK_EQ(k->props.receive_max, 5);
	CHECK(hf_bytes_eq(k->client_id, id));
	CHECK(k->clean_start);
	CHECK_EQ(k->keepalive, 17);
	CHECK(k->has_username && hf_bytes_eq(k->username, "bridge-user"));
	CHECK(k->has_password && hf_bytes_eq(k->password, "s3cret"));
	CHECK(k->will && k->will_retain);
	CHECK_EQ(k->will_qos, 1);
	CHECK(hf_bytes_eq(k->will_topic, will));
	CHECK(hf_bytes_eq(k->will_payload, "0"));
	CHECK(hf_bproc_wait_log(edge, "Bridge fk connected to", 5000));
}

static void
connect_v5_case(void)
{
	struct hf_bproc edge;
	struct seen s;
	int fd = fake_connect(&edge,
	                      "bridge_protocol_version mqttv50\n"
	                      "bridge_receive_maximum 5\ncleansession true\n"
	                      "keepalive_interval 17\n"
	                      "remote_username bridge-user\n"
	                      "remote_password s3cret\n",
	                      &s);
	connect_v5_body(&edge, fd, &s);
	end_fake(&edge, fd);
}

static void
connect_v311_body(struct hf_bproc *edge, int fd, const struct seen *s,
                  uint8_t level)
{
	CHECK(fd >= 0);
	const struct hf_connect *k = &s->pk.u.connect;
	CHECK_EQ(s->level, level);
	CHECK_EQ(k->bridge, level == 0x84);
	CHECK(hf_bytes_eq(k->client_id, "edge-7"));
	CHECK(!k->clean_start); /* cleansession false by default */
	CHECK_EQ(k->keepalive, 60);
	CHECK(!k->has_username && !k->has_password);
	CHECK(k->will && k->will_retain);
	CHECK(
	    hf_bytes_eq(k->will_topic, "$SYS/broker/connection/edge-7/state"));
	CHECK(hf_bytes_eq(k->will_payload, "0"));
	CHECK(hf_bproc_wait_log(edge, "Bridge fk connected to", 5000));
}

static void
connect_v311_case(void)
{
	struct hf_bproc edge;
	struct seen s;
	int fd = fake_connect(&edge, "remote_clientid edge-7\n", &s);
	connect_v311_body(&edge, fd, &s, 0x84);
	end_fake(&edge, fd);
	if (hf_test_failed_)
		return;
	fd = fake_connect(&edge, "remote_clientid edge-7\ntry_private false\n",
	                  &s);
	connect_v311_body(&edge, fd, &s, 0x04);
	end_fake(&edge, fd);
}

/* ---- mosquitto as the edge ------------------------------------------------
 */

/* Drain fd for ms (acknowledging). */
static void
drain(int fd, int ms)
{
	struct hf_packet pk;
	uint8_t buf[512];
	int64_t end = hf_now_ms() + ms;
	while (hf_now_ms() < end &&
	       hf_raw_expect_publish(fd, V4, 50, true, &pk, buf, sizeof(buf)) >=
	           0)
		;
}

static void
mosq_edge_body(struct hf_bproc *core, uint16_t mport)
{
	int csub = hf_raw_sub_client(core->port, V4, "core-sub", "e/#", 1);
	CHECK(csub >= 0);
	CHECK(hf_raw_subscribe(csub, V4, 2, "b/#", 1, 0) == 1);
	int msub = hf_raw_sub_client(mport, V4, "mq-sub", "b/#", 1);
	int cpub =
	    hf_raw_connect(core->port, V4, "core-pub", true, 60, NULL, NULL);
	int mpub = hf_raw_connect(mport, V4, "mq-pub", true, 60, NULL, NULL);
	CHECK(msub >= 0 && cpub >= 0 && mpub >= 0);
	/* out, once the bridge is up */
	bool got = false;
	for (int i = 0; i < 50 && !got; i++) {
		CHECK(hf_raw_publish(mpub, V4, "e/1", "from-mq", 7, 1, false,
		                     (uint16_t)(i + 1)) == 0);
		char v[32];
		got = next_on(csub, V4, "e/1", 200, v, sizeof(v)) &&
		      !strcmp(v, "from-mq");
	}
	CHECK(got);
	/* mosquitto's remote SUBSCRIBE to b/# is at the core once a probe
	 * gets through */
	got = false;
	for (int i = 0; i < 50 && !got; i++) {
		CHECK(hf_raw_publish(cpub, V4, "b/0", "probe", 5, 1, false,
		                     (uint16_t)(i + 1)) == 0);
		char v[32];
		got = next_on(msub, V4, "b/0", 200, v, sizeof(v));
	}
	CHECK(got);
	drain(msub, 300);
	drain(csub, 300);
	/* core to mosquitto: once there, not back */
	CHECK(hf_raw_publish(cpub, V4, "b/1", "down", 4, 1, false, 200) == 0);
	CHECK(hf_raw_expect_pub(msub, V4, "b/1", "down", NULL));
	CHECK(hf_raw_expect_pub(csub, V4, "b/1", "down", NULL));
	CHECK(nothing_more(csub, V4, 700));
	CHECK(nothing_more(msub, V4, 100));
	/* mosquitto to core: once there, not back to mosquitto */
	CHECK(hf_raw_publish(mpub, V4, "b/2", "up", 2, 1, false, 201) == 0);
	CHECK(hf_raw_expect_pub(msub, V4, "b/2", "up", NULL));
	CHECK(hf_raw_expect_pub(csub, V4, "b/2", "up", NULL));
	CHECK(nothing_more(msub, V4, 700));
	CHECK(nothing_more(csub, V4, 100));
	close(csub);
	close(msub);
	close(cpub);
	close(mpub);
}

static void
mosquitto_edge_case(void)
{
	if (!hf_mosq_available()) {
		fprintf(stderr, "mosquitto_edge: skipped (no mosquitto)\n");
		return;
	}
	struct hf_bproc core;
	if (hf_bproc_start(&core, NULL) != 0) {
		hf_test_failed_ = 1;
		return;
	}
	char extra[256];
	snprintf(extra, sizeof(extra),
	         "connection hf\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
	         "topic e/# out 1\ntopic b/# both 1\n",
	         core.port);
	struct hf_mosq mq;
	if (hf_mosq_start(&mq, extra) != 0)
		hf_test_failed_ = 1;
	else
		mosq_edge_body(&core, mq.port);
	hf_mosq_stop(&mq, hf_test_failed_);
	if (hf_test_failed_)
		hf_bproc_dump_log(&core, 6000);
	if (hf_bproc_stop(&core) != 0)
		hf_test_failed_ = 1;
	if (!hf_test_failed_)
		hf_bproc_cleanup(&core);
}

/* ---- visibility -----------------------------------------------------------
 */

/* GET path on 127.0.0.1:port into out (NUL-terminated); 0 or -1. */
static int
http_get(uint16_t port, const char *path, char *out, size_t cap)
{
	int fd = hf_raw_open(port);
	if (fd < 0)
		return -1;
	char req[256];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                 "Connection: close\r\n\r\n",
	                 path);
	size_t len = 0;
	int64_t end = hf_now_ms() + 5000;
	if (hf_raw_send(fd, req, (size_t)n) == 0) {
		while (len + 1 < cap && hf_now_ms() < end) {
			struct pollfd pfd = {fd, POLLIN, 0};
			if (poll(&pfd, 1, (int)(end - hf_now_ms())) <= 0)
				break;
			ssize_t r = read(fd, out + len, cap - len - 1);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
	}
	close(fd);
	out[len] = '\0';
	return strstr(out, " 200 ") ? 0 : -1;
}

/* The value of one sample of the /metrics text, or -1. */
static double
metric(const char *text, const char *name)
{
	char key[128];
	snprintf(key, sizeof(key), "\n%s{bridge=\"vis\"} ", name);
	const char *p = strstr(text, key);
	return p ? strtod(p + strlen(key), NULL) : -1;
}

static bool
metrics_say(uint16_t port, double connected, double outbox)
{
	static char text[65536];
	if (http_get(port, "/metrics", text, sizeof(text)) != 0) {
		fprintf(stderr, "GET /metrics failed\n");
		return false;
	}
	double c = metric(text, "holdfast_bridge_connected");
	double m = metric(text, "holdfast_bridge_outbox_messages");
	double b = metric(text, "holdfast_bridge_outbox_bytes");
	double o = metric(text, "holdfast_bridge_outbox_oldest_seconds");
	bool ok = c == connected && m == outbox && b >= 0 &&
	          (outbox > 0) == (b > 0) && o >= 0;
	if (!ok)
		fprintf(stderr,
		        "metrics: connected %g outbox %g bytes %g oldest %g\n",
		        c, m, b, o);
	return ok;
}

/* `holdfast-db -c CONF bridges`: the outbox count of bridge vis, or -1. */
static long
db_outbox(const char *conf)
{
	char cmd[512], line[512];
	long count = -1;
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' bridges 2>&1", HF_DB_BIN,
	         conf);
	fflush(NULL);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		long n;
		if (sscanf(line, "%63s %ld", name, &n) == 2 &&
		    !strcmp(name, "vis"))
			count = n;
	}
	if (pclose(f) != 0)
		return -1;
	return count;
}

static void
visibility(struct hf_bpair *p)
{
	CHECK(hf_bproc_wait_log(&p->edge, "Bridge vis connected to", 10000));
	uint16_t http = hf_bproc_port_n(&p->edge, 1);
	CHECK(http > 0);
	int sys = hf_raw_sub_client(p->edge.port, V4, "sys-sub",
	                            "$SYS/broker/bridge/vis/#", 0);
	CHECK(sys >= 0);
	CHECK(sys_is(sys, "$SYS/broker/bridge/vis/connected", "1", 4000));
	CHECK(sys_is(sys, "$SYS/broker/bridge/vis/outbox/messages", "0", 4000));
	CHECK(metrics_say(http, 1, 0));
	CHECK(hf_bproc_log_count(&p->edge, "Connecting bridge vis") >= 1);
	CHECK_EQ(hf_bproc_log_count(&p->edge, "Bridge vis disconnected"), 0);

	/* the core goes down: the link too, and the outbox fills */
	CHECK(hf_bproc_stop(&p->core) == 0);
	CHECK(
	    hf_bproc_wait_log(&p->edge, "Bridge vis disconnected from", 10000));
	CHECK(sys_is(sys, "$SYS/broker/bridge/vis/connected", "0", 4000));
	int pub =
	    hf_raw_connect(p->edge.port, V4, "edge-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	for (int i = 1; i <= 3; i++)
		CHECK(hf_raw_publish(pub, V4, "t/1", "queued", 6, 1, false,
		                     (uint16_t)i) == 0);
	CHECK(sys_is(sys, "$SYS/broker/bridge/vis/outbox/messages", "3", 4000));
	for (int i = 4; i <= 5; i++)
		CHECK(hf_raw_publish(pub, V4, "t/1", "queued", 6, 1, false,
		                     (uint16_t)i) == 0);
	CHECK(sys_is(sys, "$SYS/broker/bridge/vis/outbox/messages", "5", 4000));
	CHECK(metrics_say(http, 0, 5));
	CHECK_EQ(db_outbox(p->edge.conf), 5);
	/* the attempts go on, and fail, while the core is away */
	int tries = hf_bproc_log_count(&p->edge, "Connecting bridge vis");
	CHECK(hf_bproc_wait_count(&p->edge, "Connecting bridge vis", tries + 1,
	                          5000));

	/* back: connected again, the outbox drains */
	CHECK(hf_bproc_restart(&p->core) == 0);
	CHECK(
	    hf_bproc_wait_count(&p->edge, "Bridge vis connected to", 2, 10000));
	CHECK(sys_is(sys, "$SYS/broker/bridge/vis/connected", "1", 4000));
	CHECK(sys_is(sys, "$SYS/broker/bridge/vis/outbox/messages", "0", 4000));
	CHECK(metrics_say(http, 1, 0));
	CHECK_EQ(db_outbox(p->edge.conf), 0);
	close(pub);
	close(sys);
}

static void
visibility_case(void)
{
	run_pair("visibility", visibility, NULL,
	         "sys_interval 1\nlistener 0 127.0.0.1\nprotocol http_api\n"
	         "connection vis\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
	         "topic t/# out 1\n");
}

/* ---- refusals at start-up -------------------------------------------------
 */

/* Run the broker (with --test-config when check) on conf for up to 10 s;
 * its output into out. Returns the exit status, or -1. */
static int
run_broker(const char *conf, bool check, char *out, size_t cap)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "timeout 10 '%s' -c '%s'%s 2>&1",
	         HF_BROKER_BIN, conf, check ? " --test-config" : "");
	fflush(NULL);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	size_t len = fread(out, 1, cap - 1, f);
	out[len] = '\0';
	int st = pclose(f);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A configuration whose bridge block (after three lines) is block; both
 * ways of starting fail with FILE:LINE (line of the block's first line +
 * at) and say. */
static void
refused(const char *block, int at, const char *say)
{
	char dir[] = "/tmp/hf-p29-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char conf[128], where[160], out[4096];
	snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
	FILE *f = fopen(conf, "w");
	CHECK(f != NULL);
	fprintf(f,
	        "listener 0 127.0.0.1\nallow_anonymous true\n"
	        "persistence_location %s/data/\n%s",
	        dir, block);
	CHECK(fclose(f) == 0);
	snprintf(where, sizeof(where), "%s:%d", conf, 3 + at);
	for (int check = 1; check >= 0; check--) {
		int st = run_broker(conf, check, out, sizeof(out));
		if (st == 0 || st == 124 || !strstr(out, where) ||
		    !strstr(out, say)) {
			fprintf(stderr,
			        "%s: status %d, wanted %s and '%s' in:\n%s\n",
			        check ? "--test-config" : "start", st, where,
			        say, out);
			hf_test_failed_ = 1;
		}
	}
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void
refusals_case(void)
{
	/* the connection line is named: no address */
	refused("connection x\ntopic a/# out 1\n", 1, "address");
	/* a client certificate without its key */
	refused("connection x\naddress 127.0.0.1:1\ntopic a/# out 1\n"
	        "bridge_cafile /nonexistent/ca.crt\n"
	        "bridge_certfile /nonexistent/c.crt\n",
	        1, "bridge_certfile");
	/* the start_type line itself */
	refused("connection x\naddress 127.0.0.1:1\nstart_type lazy\n"
	        "topic a/# out 1\n",
	        3, "start_type");
	/* an option Holdfast refuses */
	refused("connection x\naddress 127.0.0.1:1\ntopic a/# out 1\n"
	        "bridge_identity me\n",
	        4, "bridge_identity");
}

int
main(void)
{
	HF_RUN(v5_pair_case);
	HF_RUN(connect_v5_case);
	HF_RUN(connect_v311_case);
	HF_RUN(mosquitto_edge_case);
	HF_RUN(visibility_case);
	HF_RUN(refusals_case);
	return HF_DONE();
}
