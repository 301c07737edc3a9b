/* tests/protocol/p28_bridge.c - bridges (broker/engine/bridge.c, issue 14):
 * two Holdfast brokers, an edge with a `connection` block and a core it
 * dials, driven by raw MQTT clients on both sides.
 *
 *   out_topics       `out` lines with and without prefixes, and a single
 *                    topic remapped with pattern "": what is published at
 *                    the edge reaches a core subscriber under the remote
 *                    name; an unmatched topic does not.
 *   in_and_both      `in` brings the core's messages to the edge; `both`
 *                    carries a message each way exactly once (no echo).
 *   notifications    the core sees the retained state "1" once the bridge
 *                    is up and "0" (the bridge's will) when the edge is
 *                    killed; the edge's own notification is "1".
 *   local_id_taken   a client may not take the bridge's local session.
 *   outage_qos1      the core is down while the edge acknowledges 3000
 *                    QoS 1 messages; the edge is killed with SIGKILL twice
 *                    on the way and restarted; when the core comes back,
 *                    every acknowledged message reaches a persistent core
 *                    subscriber, in order per topic.
 *   outage_qos2      the same with QoS 2 end to end: exactly once.
 *   overflow         bridge_outbox_max_messages with refuse (v5 0x97 at
 *                    the limit) and with drop_oldest (the newest arrive).
 *   to_mosquitto     the edge bridges to a mosquitto core (when mosquitto
 *                    is installed): out and in.
 *   failover         two addresses, the main one down: the bridge uses the
 *                    second; once the main one is back it moves there
 *                    (probed once per keepalive_interval) and messages
 *                    flow to it.
 *
 * Every wait has a deadline; every broker listens on loopback. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define V4 4

struct pair {
	struct hf_bproc core, edge;
	bool core_up, edge_up;
};

/* Put the core back on the port it had (the edge's configuration names
 * it): the harness's first config line is `listener 0 127.0.0.1`. */
static int
pin_port(struct hf_bproc *b)
{
	FILE *f = fopen(b->conf, "r");
	if (!f)
		return -1;
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	char *nl = n > 0 ? strchr(text, '\n') : NULL;
	if (!nl) {
		free(text);
		return -1;
	}
	f = fopen(b->conf, "w");
	if (!f) {
		free(text);
		return -1;
	}
	fprintf(f, "listener %u 127.0.0.1%s", b->port, nl);
	free(text);
	return fclose(f);
}

/* Start a core, then an edge whose extra configuration is edge_fmt with the
 * core's port for every %u. */
static bool
pair_start(struct pair *p, const char *core_extra, const char *edge_fmt)
{
	memset(p, 0, sizeof(*p));
	if (hf_bproc_start(&p->core, core_extra) != 0)
		return false;
	p->core_up = true;
	if (pin_port(&p->core) != 0)
		return false;
	/* every "%u" of edge_fmt is the core's port */
	char conf[4096], port[8];
	size_t o = 0;
	snprintf(port, sizeof(port), "%u", p->core.port);
	for (const char *q = edge_fmt; *q && o + 8 < sizeof(conf); q++) {
		if (q[0] == '%' && q[1] == 'u') {
			o += (size_t)snprintf(conf + o, sizeof(conf) - o, "%s",
			                      port);
			q++;
		} else {
			conf[o++] = *q;
		}
	}
	conf[o] = '\0';
	if (hf_bproc_start(&p->edge, conf) != 0)
		return false;
	p->edge_up = true;
	return true;
}

static void
pair_end(struct pair *p, const char *name)
{
	bool keep = hf_test_failed_;
	if (keep) {
		fprintf(stderr, "%s: edge log %s, core log %s\n", name,
		        p->edge.log, p->core.log);
		hf_bproc_dump_log(&p->edge, 6000);
	}
	if (p->edge_up && hf_bproc_alive(&p->edge) &&
	    hf_bproc_stop(&p->edge) != 0) {
		fprintf(stderr, "%s: unclean edge exit\n", name);
		hf_test_failed_ = 1;
	}
	if (p->core_up && hf_bproc_alive(&p->core) &&
	    hf_bproc_stop(&p->core) != 0) {
		fprintf(stderr, "%s: unclean core exit\n", name);
		hf_test_failed_ = 1;
	}
	if (!hf_test_failed_) {
		hf_bproc_cleanup(&p->edge);
		hf_bproc_cleanup(&p->core);
	}
}

#define PAIR_CASE(fn, core, edge)                                              \
	static void fn##_case(void)                                            \
	{                                                                      \
		struct pair p;                                                 \
		if (!pair_start(&p, core, edge)) {                             \
			fprintf(stderr, #fn ": brokers did not start\n");      \
			hf_test_failed_ = 1;                                   \
		} else {                                                       \
			fn(&p);                                                \
		}                                                              \
		pair_end(&p, #fn);                                             \
	}

static bool
bridge_up(struct hf_bproc *edge, int n)
{
	int64_t end = hf_now_ms() + 10000;
	while (hf_now_ms() < end) {
		if (hf_bproc_log_count(edge, "connected to 127.0.0.1") >= n)
			return true;
		hf_sleep_ms(20);
	}
	return false;
}

/* Publish at fd and wait for the message at sub (or make sure none comes
 * within 400 ms when topic is NULL). */
static bool
arrives(int sub, const char *topic, const char *payload)
{
	return hf_raw_expect_pub(sub, V4, topic, payload, NULL);
}

static bool
nothing_more(int fd, int ms)
{
	struct hf_packet pk;
	uint8_t buf[512];
	int r = hf_raw_recvb(fd, V4, ms, &pk, buf, sizeof(buf));
	if (r == 1)
		fprintf(stderr, "unexpected %s\n", hf_ptype_name(pk.type));
	return r == 0;
}

/* ---- topics -------------------------------------------------------------- */

static void
out_topics(struct pair *p)
{
	CHECK(bridge_up(&p->edge, 1));
	int sub = hf_raw_sub_client(p->core.port, V4, "core-sub", "#", 1);
	CHECK(sub >= 0);
	int pub =
	    hf_raw_connect(p->edge.port, V4, "edge-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	CHECK(hf_raw_publish(pub, V4, "e/1", "one", 3, 1, false, 1) == 0);
	CHECK(arrives(sub, "e/1", "one"));
	CHECK(hf_raw_publish(pub, V4, "loc/x/y", "two", 3, 1, false, 2) == 0);
	CHECK(arrives(sub, "rem/x/y", "two"));
	CHECK(hf_raw_publish(pub, V4, "local/one", "three", 5, 0, false, 0) ==
	      0);
	CHECK(arrives(sub, "remote/one", "three"));
	CHECK(hf_raw_publish(pub, V4, "other/1", "no", 2, 1, false, 3) == 0);
	CHECK(nothing_more(sub, 400));
	close(pub);
	close(sub);
}
PAIR_CASE(out_topics, NULL,
          "connection c1\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
          "topic e/# out 1\ntopic x/# out 1 loc/ rem/\n"
          "topic \"\" out 0 local/one remote/one\n")

static void
in_and_both(struct pair *p)
{
	CHECK(bridge_up(&p->edge, 1));
	int esub = hf_raw_sub_client(p->edge.port, V4, "edge-sub", "#", 1);
	int csub = hf_raw_sub_client(p->core.port, V4, "core-sub", "#", 1);
	CHECK(esub >= 0 && csub >= 0);
	int cpub =
	    hf_raw_connect(p->core.port, V4, "core-pub", true, 60, NULL, NULL);
	int epub =
	    hf_raw_connect(p->edge.port, V4, "edge-pub", true, 60, NULL, NULL);
	CHECK(cpub >= 0 && epub >= 0);
	/* the remote SUBSCRIBE may still be on its way: retry a little */
	bool got = false;
	for (int i = 0; i < 50 && !got; i++) {
		char pl[16];
		snprintf(pl, sizeof(pl), "c%d", i);
		CHECK(hf_raw_publish(cpub, V4, "c/1", pl, strlen(pl), 1, false,
		                     (uint16_t)(i + 1)) == 0);
		CHECK(arrives(csub, "c/1", pl));
		struct hf_packet pk;
		uint8_t buf[512];
		got = hf_raw_expect_publish(esub, V4, 200, true, &pk, buf,
		                            sizeof(buf)) == 1;
		if (got)
			CHECK(hf_bytes_eq(pk.u.publish.topic, "c/1"));
	}
	CHECK(got);
	CHECK(nothing_more(esub, 300));
	/* both: edge -> core once, and not back to the edge a second time */
	CHECK(hf_raw_publish(epub, V4, "b/1", "each", 4, 1, false, 100) == 0);
	CHECK(arrives(esub, "b/1", "each"));
	CHECK(arrives(csub, "b/1", "each"));
	CHECK(nothing_more(esub, 500));
	CHECK(nothing_more(csub, 100));
	/* and core -> edge once */
	CHECK(hf_raw_publish(cpub, V4, "b/2", "back", 4, 1, false, 101) == 0);
	CHECK(arrives(csub, "b/2", "back"));
	CHECK(arrives(esub, "b/2", "back"));
	CHECK(nothing_more(csub, 500));
	CHECK(nothing_more(esub, 100));
	close(cpub);
	close(epub);
	close(esub);
	close(csub);
}
PAIR_CASE(in_and_both, NULL,
          "connection c1\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
          "topic c/# in 1\ntopic b/# both 1\n")

static void
notifications(struct pair *p)
{
	CHECK(bridge_up(&p->edge, 1));
	int csub = hf_raw_sub_client(p->core.port, V4, "core-sub",
	                             "$SYS/broker/connection/#", 1);
	CHECK(csub >= 0);
	bool retain = false;
	CHECK(hf_raw_expect_pub(csub, V4, "$SYS/broker/connection/edge1/state",
	                        "1", &retain));
	CHECK(retain);
	int esub = hf_raw_sub_client(p->edge.port, V4, "edge-sub",
	                             "$SYS/broker/connection/#", 1);
	CHECK(esub >= 0);
	CHECK(hf_raw_expect_pub(esub, V4, "$SYS/broker/connection/edge1/state",
	                        "1", NULL));
	close(esub);
	/* killed: the core's keepalive or the closed socket fires the will */
	hf_bproc_kill(&p->edge);
	p->edge_up = false;
	CHECK(hf_raw_expect_pub(csub, V4, "$SYS/broker/connection/edge1/state",
	                        "0", NULL));
	close(csub);
}
PAIR_CASE(notifications, NULL,
          "connection c1\naddress 127.0.0.1:%u\nremote_clientid edge1\n"
          "restart_timeout 1\ntopic e/# out 1\n")

static void
local_id_taken(struct pair *p)
{
	uint8_t rc = 0xff;
	int fd = hf_raw_connect(p->edge.port, V4, "local.edge1", false, 60, &rc,
	                        NULL);
	CHECK(fd < 0);
	CHECK_EQ(rc, HF_CONNACK_ID_REJECTED);
}
PAIR_CASE(local_id_taken, NULL,
          "connection c1\naddress 127.0.0.1:%u\nremote_clientid edge1\n"
          "restart_timeout 1\ntopic e/# out 1\n")

/* ---- outages ------------------------------------------------------------- */

#define N_OUT   3000
#define TOPICS  5
#define MAX_RUN 60000

/* The core's persistent subscriber reads until it has every one of n
 * messages "t/<k>" with payload "<i>" (i from 1), acknowledging; checks
 * per-topic order of first arrivals; counts duplicates. */
static bool
collect(uint16_t port, uint8_t qos, int n, int *dups)
{
	bool present = false;
	int fd =
	    hf_raw_connect_expiry(port, V4, "core-keeper", false, 0, &present);
	if (fd < 0 || !present) {
		fprintf(stderr, "core-keeper: no session (%d)\n", fd);
		if (fd >= 0)
			close(fd);
		return false;
	}
	uint8_t *seen = calloc((size_t)n + 1, 1);
	int last[TOPICS] = {0};
	int got = 0;
	bool ordered = true;
	*dups = 0;
	int64_t end = hf_now_ms() + MAX_RUN;
	while (got < n && hf_now_ms() < end) {
		struct hf_packet pk;
		uint8_t buf[512];
		int r = hf_raw_expect_publish(fd, V4, 2000, true, &pk, buf,
		                              sizeof(buf));
		if (r == 0)
			continue;
		if (r < 0)
			break;
		char pl[16] = {0};
		size_t l = pk.u.publish.payload.len < 15
		               ? pk.u.publish.payload.len
		               : 15;
		memcpy(pl, pk.u.publish.payload.p, l);
		int i = atoi(pl);
		if (i < 1 || i > n)
			continue;
		if (qos == 2 && pk.u.publish.qos == 2) {
			/* hf_raw_expect_publish sent PUBREC; complete it */
		}
		if (seen[i]) {
			(*dups)++;
			continue;
		}
		seen[i] = 1;
		got++;
		int t = i % TOPICS;
		if (i < last[t])
			ordered = false;
		last[t] = i;
	}
	/* answer what is still coming (PUBRELs) for a moment */
	for (int k = 0; k < 20; k++) {
		struct hf_packet pk;
		uint8_t buf[512];
		if (hf_raw_expect_publish(fd, V4, 100, true, &pk, buf,
		                          sizeof(buf)) != 1)
			break;
		(*dups)++;
	}
	close(fd);
	if (got != n)
		fprintf(stderr, "core-keeper: %d of %d messages\n", got, n);
	if (!ordered)
		fprintf(stderr, "core-keeper: out of order\n");
	free(seen);
	return got == n && ordered;
}

static void
outage(struct pair *p, uint8_t qos)
{
	CHECK(bridge_up(&p->edge, 1));
	/* a persistent subscriber at the core, then the core goes down */
	bool present = false;
	int k = hf_raw_connect_expiry(p->core.port, V4, "core-keeper", false, 0,
	                              &present);
	CHECK(k >= 0);
	CHECK(hf_raw_subscribe(k, V4, 1, "t/#", qos, 0) == qos);
	close(k);
	CHECK(hf_bproc_stop(&p->core) == 0);
	int pub = -1;
	for (int i = 1; i <= N_OUT; i++) {
		if (i == 1 || i == N_OUT / 3 || i == 2 * N_OUT / 3) {
			if (i > 1) { /* SIGKILL mid-stream, then back */
				close(pub);
				hf_bproc_kill(&p->edge);
				CHECK(hf_bproc_restart(&p->edge) == 0);
			}
			pub = hf_raw_connect(p->edge.port, V4, "edge-pub", true,
			                     60, NULL, NULL);
			CHECK(pub >= 0);
		}
		char t[16], pl[16];
		snprintf(t, sizeof(t), "t/%d", i % TOPICS);
		snprintf(pl, sizeof(pl), "%d", i);
		CHECK(hf_raw_publish(pub, V4, t, pl, strlen(pl), qos, false,
		                     (uint16_t)(i % 60000 + 1)) == 0);
	}
	close(pub);
	CHECK(hf_bproc_restart(&p->core) == 0);
	int dups = 0;
	CHECK(collect(p->core.port, qos, N_OUT, &dups));
	if (qos == 2)
		CHECK_EQ(dups, 0);
	CHECK_EQ(hf_test_store_check(p->edge.dir), 0);
}

static void
outage_qos1(struct pair *p)
{
	outage(p, 1);
}
PAIR_CASE(outage_qos1, NULL,
          "connection c1\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
          "topic t/# out 1\n")

static void
outage_qos2(struct pair *p)
{
	outage(p, 2);
}
PAIR_CASE(outage_qos2, NULL,
          "connection c1\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
          "topic t/# out 2\n")

/* ---- limits -------------------------------------------------------------- */

static void
overflow_refuse(struct pair *p)
{
	CHECK(bridge_up(&p->edge, 1));
	CHECK(hf_bproc_stop(&p->core) == 0);
	int pub =
	    hf_raw_connect_expiry(p->edge.port, V5, "edge-pub", true, 0, NULL);
	CHECK(pub >= 0);
	for (int i = 1; i <= 10; i++)
		CHECK(hf_raw_publish(pub, V5, "o/1", "x", 1, 1, false,
		                     (uint16_t)i) == 0);
	CHECK_EQ(hf_raw_publish(pub, V5, "o/1", "y", 1, 1, false, 11),
	         HF_RC_QUOTA_EXCEEDED);
	close(pub);
}
PAIR_CASE(overflow_refuse, NULL,
          "connection c1\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
          "topic o/# out 1\nbridge_outbox_max_messages 10\n")

static void
overflow_drop(struct pair *p)
{
	CHECK(bridge_up(&p->edge, 1));
	bool present = false;
	int k = hf_raw_connect_expiry(p->core.port, V4, "core-keeper", false, 0,
	                              &present);
	CHECK(k >= 0);
	CHECK(hf_raw_subscribe(k, V4, 1, "o/#", 1, 0) == 1);
	close(k);
	CHECK(hf_bproc_stop(&p->core) == 0);
	int pub =
	    hf_raw_connect(p->edge.port, V4, "edge-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	for (int i = 1; i <= 30; i++) {
		char pl[8];
		snprintf(pl, sizeof(pl), "%d", i);
		CHECK(hf_raw_publish(pub, V4, "o/1", pl, strlen(pl), 1, false,
		                     (uint16_t)i) == 0);
	}
	close(pub);
	CHECK(hf_bproc_wait_log(&p->edge, "oldest messages dropped", 2000));
	CHECK(hf_bproc_restart(&p->core) == 0);
	int fd = hf_raw_connect_expiry(p->core.port, V4, "core-keeper", false,
	                               0, &present);
	CHECK(fd >= 0);
	/* the newest ten, in order */
	for (int i = 21; i <= 30; i++) {
		char pl[8];
		snprintf(pl, sizeof(pl), "%d", i);
		CHECK(hf_raw_expect_pub(fd, V4, "o/1", pl, NULL));
	}
	CHECK(nothing_more(fd, 400));
	close(fd);
}
PAIR_CASE(overflow_drop, NULL,
          "connection c1\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
          "topic o/# out 1\nbridge_outbox_max_messages 10\n"
          "bridge_outbox_overflow drop_oldest\n")

/* ---- mosquitto as the core ----------------------------------------------- */

static uint16_t
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(sa);
	uint16_t port = 0;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &l) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void
mosq_body(struct hf_bproc *edge, uint16_t mport)
{
	CHECK(bridge_up(edge, 1));
	int msub = hf_raw_sub_client(mport, V4, "mq-sub", "#", 1);
	int esub = hf_raw_sub_client(edge->port, V4, "edge-sub", "m/#", 1);
	CHECK(msub >= 0 && esub >= 0);
	int epub =
	    hf_raw_connect(edge->port, V4, "edge-pub", true, 60, NULL, NULL);
	int mpub = hf_raw_connect(mport, V4, "mq-pub", true, 60, NULL, NULL);
	CHECK(epub >= 0 && mpub >= 0);
	CHECK(hf_raw_publish(epub, V4, "e/1", "to-mq", 5, 1, false, 1) == 0);
	CHECK(arrives(msub, "e/1", "to-mq"));
	bool got = false;
	for (int i = 0; i < 50 && !got; i++) {
		CHECK(hf_raw_publish(mpub, V4, "m/1", "from-mq", 7, 1, false,
		                     (uint16_t)(i + 1)) >= 0);
		struct hf_packet pk;
		uint8_t buf[512];
		got = hf_raw_expect_publish(esub, V4, 200, true, &pk, buf,
		                            sizeof(buf)) == 1 &&
		      hf_bytes_eq(pk.u.publish.topic, "m/1");
	}
	CHECK(got);
	close(epub);
	close(mpub);
	close(esub);
	close(msub);
}

static void
to_mosquitto_case(void)
{
	if (access("/usr/sbin/mosquitto", X_OK) != 0) {
		fprintf(stderr, "to_mosquitto: skipped (no mosquitto)\n");
		return;
	}
	char dir[] = "/tmp/hf-p28-XXXXXX";
	if (!mkdtemp(dir)) {
		hf_test_failed_ = 1;
		return;
	}
	chmod(dir, 0755);
	uint16_t mport = 0;
	pid_t mq = -1;
	for (int tries = 0; tries < 5 && mq < 0; tries++) {
		mport = free_port();
		char conf[300];
		snprintf(conf, sizeof(conf), "%s/mq.conf", dir);
		FILE *f = fopen(conf, "w");
		if (!f)
			break;
		fprintf(f, "listener %u 127.0.0.1\nallow_anonymous true\n",
		        mport);
		fclose(f);
		mq = fork();
		if (mq == 0) {
			char logp[300];
			snprintf(logp, sizeof(logp), "%s/mq.log", dir);
			FILE *lf = freopen(logp, "w", stderr);
			(void)lf;
			execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf,
			      (char *)NULL);
			_exit(127);
		}
		int64_t end = hf_now_ms() + 5000;
		int fd = -1;
		while (hf_now_ms() < end && (fd = hf_raw_open(mport)) < 0)
			hf_sleep_ms(20);
		if (fd >= 0) {
			close(fd);
		} else {
			kill(mq, SIGKILL);
			waitpid(mq, NULL, 0);
			mq = -1;
		}
	}
	struct hf_bproc edge;
	bool edge_up = false;
	if (mq < 0) {
		fprintf(stderr, "to_mosquitto: mosquitto did not start\n");
		hf_test_failed_ = 1;
		goto out;
	}
	char econf[512];
	snprintf(econf, sizeof(econf),
	         "connection mq\naddress 127.0.0.1:%u\nrestart_timeout 1\n"
	         "topic e/# out 1\ntopic m/# in 1\n",
	         mport);
	if (hf_bproc_start(&edge, econf) != 0) {
		hf_test_failed_ = 1;
		goto out;
	}
	edge_up = true;
	mosq_body(&edge, mport);
	if (hf_bproc_stop(&edge) != 0) {
		fprintf(stderr, "to_mosquitto: unclean edge exit\n");
		hf_test_failed_ = 1;
	}
	if (hf_test_failed_)
		hf_bproc_dump_log(&edge, 6000);
out:
	if (edge_up)
		hf_bproc_cleanup(&edge);
	if (mq > 0) {
		kill(mq, SIGTERM);
		waitpid(mq, NULL, 0);
	}
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!hf_test_failed_ && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- addresses ----------------------------------------------------------- */

static void
failover_body(struct hf_bproc *mainb, struct hf_bproc *second,
              struct hf_bproc *edge, bool *main_up)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "connected to 127.0.0.1:%u",
	         second->port);
	CHECK(hf_bproc_wait_log(edge, needle, 15000));
	int sub2 = hf_raw_sub_client(second->port, V4, "s2", "e/#", 1);
	int pub = hf_raw_connect(edge->port, V4, "edge-pub", true, 60, NULL,
	                         NULL);
	CHECK(sub2 >= 0 && pub >= 0);
	CHECK(hf_raw_publish(pub, V4, "e/1", "to-second", 9, 1, false, 1) == 0);
	CHECK(arrives(sub2, "e/1", "to-second"));
	close(sub2);
	/* the main one comes back: the bridge moves to it */
	CHECK(hf_bproc_restart(mainb) == 0);
	*main_up = true;
	snprintf(needle, sizeof(needle), "connected to 127.0.0.1:%u",
	         mainb->port);
	CHECK(hf_bproc_wait_log(edge, needle, 20000));
	CHECK(hf_bproc_log_contains(edge, "answers again"));
	int sub1 = hf_raw_sub_client(mainb->port, V4, "s1", "e/#", 1);
	CHECK(sub1 >= 0);
	CHECK(hf_raw_publish(pub, V4, "e/1", "to-main", 7, 1, false, 2) == 0);
	CHECK(arrives(sub1, "e/1", "to-main"));
	close(sub1);
	close(pub);
}

static void
failover_case(void)
{
	struct hf_bproc mainb, second, edge;
	bool main_up = false, second_up = false, edge_up = false;
	if (hf_bproc_start(&mainb, NULL) != 0 || pin_port(&mainb) != 0 ||
	    hf_bproc_stop(&mainb) != 0) {
		hf_test_failed_ = 1;
		return;
	}
	if (hf_bproc_start(&second, NULL) != 0) {
		hf_test_failed_ = 1;
		goto out;
	}
	second_up = true;
	char conf[512];
	snprintf(conf, sizeof(conf),
	         "connection c1\naddress 127.0.0.1:%u 127.0.0.1:%u\n"
	         "restart_timeout 1\nkeepalive_interval 5\n"
	         "topic e/# out 1\n",
	         mainb.port, second.port);
	if (hf_bproc_start(&edge, conf) != 0) {
		hf_test_failed_ = 1;
		goto out;
	}
	edge_up = true;
	failover_body(&mainb, &second, &edge, &main_up);
out:
	if (hf_test_failed_ && edge_up)
		hf_bproc_dump_log(&edge, 4000);
	if (edge_up && hf_bproc_stop(&edge) != 0)
		hf_test_failed_ = 1;
	if (second_up && hf_bproc_stop(&second) != 0)
		hf_test_failed_ = 1;
	if (main_up && hf_bproc_stop(&mainb) != 0)
		hf_test_failed_ = 1;
	if (!hf_test_failed_) {
		hf_bproc_cleanup(&edge);
		hf_bproc_cleanup(&second);
		hf_bproc_cleanup(&mainb);
	}
}

int
main(void)
{
	HF_RUN(out_topics_case);
	HF_RUN(in_and_both_case);
	HF_RUN(notifications_case);
	HF_RUN(local_id_taken_case);
	HF_RUN(outage_qos1_case);
	HF_RUN(outage_qos2_case);
	HF_RUN(overflow_refuse_case);
	HF_RUN(overflow_drop_case);
	HF_RUN(to_mosquitto_case);
	HF_RUN(failover_case);
	return HF_DONE();
}
