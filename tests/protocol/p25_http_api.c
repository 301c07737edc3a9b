/* tests/protocol/p25_http_api.c - the HTTP API listener (protocol
 * http_api: /health, /health/live, /health/ready, /metrics) and the $SYS
 * topics fed from the same counters, against the real broker.
 *
 * Requests are real HTTP/1.1 over a socket of the test's own (no client
 * library: what a scraper sends). Every /metrics answer is checked for the
 * Prometheus text format (0.0.4): HELP/TYPE before a family's samples,
 * one TYPE per family, names and labels well-formed, values numbers,
 * histogram buckets cumulative and ending in le="+Inf" equal to _count.
 *
 * Cases:
 *   - under load: publisher threads send QoS 1 to a persistent subscriber
 *     that is offline while the test scrapes /metrics and /health; counters
 *     never go back, /health stays 200, and after the publishers are done
 *     messages in grew by exactly what was published (count and payload
 *     bytes), the queue holds them, commits and their histograms grew, the
 *     publish-to-ack histogram counted each PUBACK; the subscriber then
 *     drains the queue and the gauges return to 0;
 *   - 503: a store made full (persistence_max_size 1m) makes /health and
 *     /health/ready 503 with a JSON reason while /health/live stays 200;
 *     draining the queue brings 200 back;
 *   - 503: the MQTT listener paused for want of descriptors (the broker
 *     started with a low RLIMIT_NOFILE, then flooded) names it; live 200;
 *   - drops by reason (rejected, queue_full) and refusals, counted apart;
 *   - paths and methods: 404, 405 (with Allow), keep-alive of GET;
 *   - an http_api listener without an address binds 127.0.0.1 only;
 *   - $SYS (sys_interval 1): mosquitto 2.0's load/heap/store/expired/shared
 *     topics arrive with sane values, equal to /metrics where both say it.
 *
 * Each case has its own broker; the HTTP listener is the broker's second
 * listen socket (hf_bproc_port_n(b, 1)). Threads only in the load case,
 * and they use no test.h macros (those count without locks). */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define HTTP_CONF "listener 0\nprotocol http_api\n"

/* ---- a small HTTP client --------------------------------------------- */

struct resp {
	int status;
	char head[2048];
	char *body; /* malloc'd, NUL-terminated */
	size_t len;
};

static void
resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* Read one response from fd (Content-Length framed) within timeout_ms. */
static int
read_resp(int fd, struct resp *r, int timeout_ms)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	int64_t deadline = hf_now_ms() + timeout_ms;
	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (!buf)
		return -1;
	for (;;) {
		buf[len] = '\0';
		char *eoh = strstr(buf, "\r\n\r\n");
		if (eoh) {
			const char *cl = strcasestr(buf, "content-length:");
			size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
			size_t hl = (size_t)(eoh - buf) + 4;
			if (len >= hl + want) {
				sscanf(buf, "HTTP/1.%*d %d", &r->status);
				snprintf(r->head, sizeof(r->head), "%.*s",
				         (int)hl, buf);
				r->body = malloc(want + 1);
				if (!r->body) {
					free(buf);
					return -1;
				}
				memcpy(r->body, buf + hl, want);
				r->body[want] = '\0';
				r->len = want;
				free(buf);
				return 0;
			}
		}
		if (len == cap) {
			char *n = realloc(buf, cap * 2 + 1);
			if (!n)
				break;
			buf = n;
			cap *= 2;
		}
		int left = (int)(deadline - hf_now_ms());
		struct pollfd pfd = {fd, POLLIN, 0};
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			break;
		ssize_t n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	free(buf);
	return -1;
}

static int
http_open(uint16_t port)
{
	return hf_raw_open(port);
}

static int
http_send(int fd, const char *method, const char *path, const char *extra)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
	                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", method,
	                 path, extra ? extra : "");
	return hf_raw_send(fd, req, (size_t)n);
}

/* One request on a fresh connection. */
static int
http(uint16_t port, const char *method, const char *path, struct resp *r)
{
	int fd = http_open(port);
	if (fd < 0)
		return -1;
	int rc = http_send(fd, method, path, "Connection: close\r\n");
	if (rc == 0)
		rc = read_resp(fd, r, 5000);
	close(fd);
	return rc;
}

/* ---- the exposition format ------------------------------------------- */

static bool
name_ok(const char *s, size_t n)
{
	if (!n ||
	    !(s[0] == '_' || s[0] == ':' || (s[0] >= 'a' && s[0] <= 'z') ||
	      (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(s[i] == '_' || s[i] == ':' ||
		      (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static bool
value_ok(const char *v, double *out)
{
	char *end;
	if (!strcmp(v, "+Inf") || !strcmp(v, "-Inf") || !strcmp(v, "NaN")) {
		*out = INFINITY;
		return true;
	}
	errno = 0;
	*out = strtod(v, &end);
	return end != v && *end == '\0' && errno == 0;
}

/* The family a sample belongs to: a histogram's _bucket/_sum/_count
 * belong to the base name. */
static void
family_of(const char *name, size_t n, char *fam, size_t cap)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	snprintf(fam, cap, "%.*s", (int)n, name);
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(sfx[i]);
		if (n > l && !strcmp(fam + n - l, sfx[i])) {
			fam[n - l] = '\0';
			return;
		}
	}
}

/* Returns the number of problems (printed). */
static int
expo_check(const char *text)
{
	char typed[128][96];
	size_t n_typed = 0;
	int bad = 0;
	double last_bucket = -1;
	char bucket_fam[96] = "";
	const char *line = text;
	int lineno = 0;
	if (!*text || text[strlen(text) - 1] != '\n') {
		fprintf(stderr, "exposition: does not end with a newline\n");
		bad++;
	}
	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		char l[600];
		lineno++;
		snprintf(l, sizeof(l), "%.*s", (int)n, line);
		line += n + (eol ? 1 : 0);
		if (!l[0])
			continue;
		if (!strncmp(l, "# TYPE ", 7)) {
			char nm[96], ty[32];
			if (sscanf(l + 7, "%95s %31s", nm, ty) != 2 ||
			    !name_ok(nm, strlen(nm)) ||
			    (strcmp(ty, "counter") && strcmp(ty, "gauge") &&
			     strcmp(ty, "histogram") && strcmp(ty, "summary") &&
			     strcmp(ty, "untyped"))) {
				fprintf(stderr, "exposition %d: bad TYPE: %s\n",
				        lineno, l);
				bad++;
				continue;
			}
			for (size_t i = 0; i < n_typed; i++)
				if (!strcmp(typed[i], nm)) {
					fprintf(
					    stderr,
					    "exposition %d: second TYPE for "
					    "%s\n",
					    lineno, nm);
					bad++;
				}
			if (n_typed < 128)
				snprintf(typed[n_typed++], 96, "%s", nm);
			continue;
		}
		if (!strncmp(l, "# HELP ", 7) || l[0] == '#')
			continue;
		/* a sample: name[{labels}] value */
		size_t nl = strcspn(l, "{ ");
		char fam[96];
		if (!name_ok(l, nl)) {
			fprintf(stderr, "exposition %d: bad name: %s\n", lineno,
			        l);
			bad++;
			continue;
		}
		family_of(l, nl, fam, sizeof(fam));
		bool known = false;
		for (size_t i = 0; i < n_typed && !known; i++)
			known = !strcmp(typed[i], fam) ||
			        (strlen(typed[i]) == nl &&
			         !strncmp(typed[i], l, nl));
		if (!known) {
			fprintf(stderr,
			        "exposition %d: sample before its TYPE: %s\n",
			        lineno, l);
			bad++;
		}
		const char *p = l + nl;
		if (*p == '{') {
			p++;
			while (*p && *p != '}') {
				size_t kl = strcspn(p, "=");
				if (!name_ok(p, kl) || p[kl] != '=' ||
				    p[kl + 1] != '"') {
					bad++;
					fprintf(
					    stderr,
					    "exposition %d: bad label: %s\n",
					    lineno, l);
					break;
				}
				p += kl + 2;
				while (*p && *p != '"')
					p += (*p == '\\' && p[1]) ? 2 : 1;
				if (*p != '"')
					break;
				p++;
				if (*p == ',')
					p++;
			}
			if (*p != '}') {
				bad++;
				fprintf(stderr,
				        "exposition %d: unterminated labels: "
				        "%s\n",
				        lineno, l);
				continue;
			}
			p++;
		}
		double v;
		if (*p != ' ' || !value_ok(p + 1, &v)) {
			fprintf(stderr, "exposition %d: bad value: %s\n",
			        lineno, l);
			bad++;
			continue;
		}
		/* Histogram buckets: cumulative, ending in +Inf. */
		if (nl > 7 && !strncmp(l + nl - 7, "_bucket", 7)) {
			if (strcmp(bucket_fam, fam)) {
				snprintf(bucket_fam, sizeof(bucket_fam), "%s",
				         fam);
				last_bucket = -1;
			}
			if (v < last_bucket) {
				fprintf(stderr,
				        "exposition %d: bucket not cumulative: "
				        "%s\n",
				        lineno, l);
				bad++;
			}
			last_bucket = v;
		} else if (nl > 6 && !strncmp(l + nl - 6, "_count", 6) &&
		           !strcmp(bucket_fam, fam) &&
		           (!strstr(text, "le=\"+Inf\"") || v != last_bucket)) {
			fprintf(stderr,
			        "exposition %d: _count %g is not the +Inf "
			        "bucket %g\n",
			        lineno, v, last_bucket);
			bad++;
		}
	}
	return bad;
}

/* Prometheus' own linter on text, when there is one: HF_PROMTOOL names
 * it, else `promtool` on PATH (Debian's package prometheus has it); 0
 * when it accepts the text or there is none (said on stderr). */
static int
promtool_check(const char *text)
{
	const char *tool = getenv("HF_PROMTOOL");
	char cmd[512];
	if (!tool || !*tool) {
		if (system("command -v promtool >/dev/null 2>&1") != 0) {
			fprintf(stderr, "promtool not found: format checked by "
			                "this test only\n");
			return 0;
		}
		tool = "promtool";
	}
	snprintf(cmd, sizeof(cmd), "%s check metrics", tool);
	FILE *p = popen(cmd, "w");
	if (!p)
		return -1;
	fputs(text, p);
	int rc = pclose(p);
	fprintf(stderr, "%s: %s\n", cmd, rc == 0 ? "ok" : "FAILED");
	return rc;
}

/* The value of the sample written exactly as key (name{labels}); NAN when
 * absent. */
static double
metric(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; (p = strstr(p, key)); p += kl) {
		if ((p == text || p[-1] == '\n') && p[kl] == ' ')
			return strtod(p + kl + 1, NULL);
	}
	return NAN;
}

/* GET /metrics, checked for the format; the body is the caller's. */
static char *
scrape(uint16_t port)
{
	struct resp r;
	if (http(port, "GET", "/metrics", &r) != 0 || r.status != 200) {
		fprintf(stderr, "scrape: status %d\n", r.status);
		resp_free(&r);
		return NULL;
	}
	if (!strcasestr(r.head, "content-type: text/plain; version=0.0.4") ||
	    expo_check(r.body) != 0) {
		fprintf(stderr, "scrape: not the exposition format\n");
		resp_free(&r);
		return NULL;
	}
	return r.body;
}

static int
status_of(uint16_t port, const char *path, char *body, size_t cap)
{
	struct resp r;
	if (http(port, "GET", path, &r) != 0)
		return -1;
	if (body)
		snprintf(body, cap, "%s", r.body ? r.body : "");
	resp_free(&r);
	return r.status;
}

/* ---- under load ------------------------------------------------------ */

#define PUBLISHERS 4
#define PER_PUB    150
#define PAYLOAD    100

struct pubber {
	uint16_t port;
	int idx;
	int sent; /* acknowledged */
	int err;
	pthread_t th;
};

static void *
pub_main(void *arg)
{
	struct pubber *p = arg;
	char id[32], pl[PAYLOAD];
	snprintf(id, sizeof(id), "loadpub%d", p->idx);
	memset(pl, 'p', sizeof(pl));
	int fd = hf_raw_connect_expiry(p->port, V5, id, true, 0, NULL);
	if (fd < 0) {
		p->err = 1;
		return NULL;
	}
	for (int i = 0; i < PER_PUB; i++) {
		int rc = hf_raw_publish(fd, V5, "load/t", pl, sizeof(pl), 1,
		                        false, (uint16_t)(i + 1));
		if (rc != 0) {
			p->err = 2;
			break;
		}
		p->sent++;
	}
	close(fd);
	return NULL;
}

static bool
offline_sub(uint16_t port, const char *id, const char *filter)
{
	bool sp = true;
	int s = hf_raw_connect_expiry(port, V5, id, false, 3600, &sp);
	if (s < 0)
		return false;
	bool ok = hf_raw_subscribe(s, V5, 1, filter, 1, 0) == 1 &&
	          hf_raw_disconnect(s, V5, 0) == 0 &&
	          hf_raw_wait_close(s, 3000, NULL);
	close(s);
	return ok;
}

static void
t_metrics_under_load(struct hf_bproc *b)
{
	uint16_t hp = hf_bproc_port_n(b, 1);
	CHECK(hp != 0);
	CHECK(offline_sub(b->port, "loadsub", "load/#"));
	char *before = scrape(hp);
	CHECK(before != NULL);
	if (!before)
		return;
	struct pubber pubs[PUBLISHERS];
	int started = 0;
	for (int i = 0; i < PUBLISHERS; i++) {
		pubs[i] = (struct pubber){.port = b->port, .idx = i};
		if (pthread_create(&pubs[i].th, NULL, pub_main, &pubs[i]) != 0)
			break;
		started++;
	}
	/* Scrape while they publish: well-formed, counters never go back,
	 * the broker stays healthy. (No CHECK until the threads are joined:
	 * a CHECK returns, and they use this frame.) */
	const char *in1 = "holdfast_messages_received_total{qos=\"1\"}";
	double first_in = metric(before, in1), last_in = first_in;
	int scrapes = 0, unhealthy = 0, bad_scrapes = 0, backwards = 0;
	for (int i = 0; i < 40; i++) {
		char *t = scrape(hp);
		if (!t) {
			bad_scrapes++;
			break;
		}
		double in = metric(t, in1);
		backwards += !(in >= last_in);
		last_in = in;
		free(t);
		scrapes++;
		if (status_of(hp, "/health", NULL, 0) != 200)
			unhealthy++;
		if (in - first_in >= PUBLISHERS * PER_PUB)
			break;
	}
	int total = 0, errs = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(pubs[i].th, NULL);
		errs += pubs[i].err != 0;
		total += pubs[i].sent;
	}
	fprintf(stderr, "%d scrapes during load, %d published\n", scrapes,
	        total);
	CHECK_EQ(started, PUBLISHERS);
	CHECK_EQ(errs, 0);
	CHECK_EQ(bad_scrapes, 0);
	CHECK_EQ(backwards, 0);
	CHECK(scrapes >= 1);
	CHECK_EQ(unhealthy, 0);
	CHECK_EQ(total, PUBLISHERS * PER_PUB);
	char *after = scrape(hp);
	CHECK(after != NULL);
	if (!after) {
		free(before);
		return;
	}
	CHECK_EQ(promtool_check(after), 0);
#define GREW(key) (metric(after, key) - metric(before, key))
	CHECK_EQ(GREW("holdfast_messages_received_total{qos=\"1\"}"), total);
	CHECK_EQ(GREW("holdfast_payload_received_bytes_total{qos=\"1\"}"),
	         (double)total * PAYLOAD);
	CHECK_EQ(GREW("holdfast_messages_received_total{qos=\"0\"}"), 0);
	/* The offline subscriber's queue holds every one of them. */
	CHECK_EQ(metric(after, "holdfast_queued_messages"), total);
	CHECK_EQ(metric(after, "holdfast_queued_bytes"),
	         (double)total * PAYLOAD);
	CHECK_EQ(metric(after, "holdfast_sessions{state=\"offline\"}"), 1);
	/* Group commit: every message body went through a commit. */
	CHECK(GREW("holdfast_store_commits_total") >= 1);
	CHECK(GREW("holdfast_store_commit_duration_seconds_count") >= 1);
	CHECK_EQ(GREW("holdfast_store_commit_duration_seconds_count"),
	         GREW("holdfast_store_commits_total"));
	CHECK(GREW("holdfast_store_messages_per_commit_sum") >= total);
	CHECK(GREW("holdfast_store_fsyncs_total") >= 1);
	CHECK(metric(after, "holdfast_store_used_bytes") > 0);
	CHECK(metric(after, "holdfast_store_map_size_bytes") >=
	      metric(after, "holdfast_store_used_bytes"));
	/* One publish-to-ack observation per PUBACK. */
	CHECK_EQ(GREW("holdfast_publish_ack_duration_seconds_count"), total);
	CHECK(GREW("holdfast_publish_ack_duration_seconds_sum") > 0);
	free(before);
	before = after;
	/* The subscriber comes back and drains: sent grows by as many, the
	 * queue and in-flight gauges return to 0. */
	bool sp = false;
	int s = hf_raw_connect_expiry(b->port, V5, "loadsub", false, 3600, &sp);
	CHECK(s >= 0 && sp);
	int got = 0;
	for (; s >= 0 && got < total; got++) {
		struct hf_packet p;
		uint8_t buf[512];
		if (hf_raw_expect_publish(s, V5, 5000, true, &p, buf,
		                          sizeof(buf)) != 1)
			break;
	}
	CHECK_EQ(got, total);
	CHECK_EQ(hf_raw_ping(s, 3000), 1); /* the last PUBACK is in */
	after = scrape(hp);
	CHECK(after != NULL);
	if (after) {
		CHECK_EQ(GREW("holdfast_messages_sent_total{qos=\"1\"}"),
		         total);
		CHECK_EQ(GREW("holdfast_payload_sent_bytes_total{qos=\"1\"}"),
		         (double)total * PAYLOAD);
		CHECK_EQ(metric(after, "holdfast_queued_messages"), 0);
		CHECK_EQ(metric(after, "holdfast_queued_bytes"), 0);
		CHECK_EQ(metric(after, "holdfast_inflight_messages"), 0);
		CHECK_EQ(metric(after, "holdfast_sessions{state=\"online\"}"),
		         1);
		CHECK_EQ(metric(after, "holdfast_connections"), 1);
	}
#undef GREW
	if (s >= 0)
		close(s);
	free(before);
	free(after);
}

/* ---- 503: the store is full ------------------------------------------ */

#define BIG 4096

static void
t_health_store_full(struct hf_bproc *b)
{
	static char pl[BIG];
	char body[1024];
	uint16_t hp = hf_bproc_port_n(b, 1);
	CHECK(hp != 0);
	CHECK_EQ(status_of(hp, "/health", NULL, 0), 200);
	CHECK_EQ(status_of(hp, "/health/ready", NULL, 0), 200);
	memset(pl, 'x', sizeof(pl));
	CHECK(offline_sub(b->port, "full-sub", "big/#"));
	int pub = hf_raw_connect_expiry(b->port, V5, "full-pub", true, 0, NULL);
	CHECK(pub >= 0);
	int n = 0, rc = 0;
	while (pub >= 0 && n < 2000) {
		rc = hf_raw_publish(pub, V5, "big/t", pl, sizeof(pl), 1, false,
		                    (uint16_t)(n + 1));
		if (rc != 0)
			break;
		n++;
	}
	fprintf(stderr, "store full after %d messages\n", n);
	CHECK_EQ(rc, HF_RC_QUOTA_EXCEEDED);
	CHECK_EQ(status_of(hp, "/health", body, sizeof(body)), 503);
	CHECK(strstr(body, "\"status\":\"unavailable\"") != NULL);
	CHECK(strstr(body, "store: full") != NULL);
	CHECK_EQ(status_of(hp, "/health/ready", NULL, 0), 503);
	CHECK_EQ(status_of(hp, "/health/live", body, sizeof(body)), 200);
	CHECK(!strcmp(body, "OK\n"));
	char *t = scrape(hp);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ(metric(t, "holdfast_store_full"), 1);
		CHECK(metric(t, "holdfast_messages_refused_total") >= 1);
		free(t);
	}
	/* Drained: ready again (usage is looked at after each commit). */
	bool sp = false;
	int s =
	    hf_raw_connect_expiry(b->port, V5, "full-sub", false, 3600, &sp);
	CHECK(s >= 0);
	for (int i = 0; s >= 0 && i < n; i++) {
		struct hf_packet p;
		static uint8_t buf[BIG + 512];
		if (hf_raw_expect_publish(s, V5, 5000, true, &p, buf,
		                          sizeof(buf)) != 1) {
			CHECK(!"drained");
			break;
		}
	}
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	int st = 0;
	int64_t deadline = hf_now_ms() + 5000;
	while ((st = status_of(hp, "/health", NULL, 0)) != 200 &&
	       hf_now_ms() < deadline)
		hf_sleep_ms(100);
	CHECK_EQ(st, 200);
	if (s >= 0)
		close(s);
	if (pub >= 0)
		close(pub);
}

/* ---- 503: a listener paused (out of descriptors) ---------------------- */

#define FD_LIMIT 40 /* the broker's RLIMIT_NOFILE (main sets it) */
#define NEXTRA   48 /* more MQTT connections than that */
static struct rlimit saved_nofile;

/* GET path on the open connection fd: the status, body into body. */
static int
get_on(int fd, const char *path, char *body, size_t cap)
{
	struct resp r;
	if (http_send(fd, "GET", path, NULL) != 0 ||
	    read_resp(fd, &r, 5000) != 0)
		return -1;
	snprintf(body, cap, "%s", r.body ? r.body : "");
	resp_free(&r);
	return r.status;
}

/* The broker starts with RLIMIT_NOFILE FD_LIMIT (the test's own limit is
 * back from the first line on). An HTTP connection is opened first (it
 * needs no descriptor later), then more MQTT connections than the broker
 * can take: while its MQTT listener backs off, /health says 503 naming
 * it, /health/live stays 200; once the clients go, 200 again. */
static void
t_health_listener_paused(struct hf_bproc *b)
{
	char body[1024];
	int extra[NEXTRA];
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
	uint16_t hp = hf_bproc_port_n(b, 1);
	CHECK(hp != 0);
	int h = http_open(hp);
	CHECK(h >= 0);
	CHECK_EQ(get_on(h, "/health", body, sizeof(body)), 200);
	for (int i = 0; i < NEXTRA; i++)
		extra[i] = hf_raw_open(b->port);
	CHECK(hf_bproc_wait_log(b, "cannot accept connections", 10000));
	/* The listener retries every 200 ms while connections wait; between
	 * a retry and its failure it is not paused, so ask a few times. */
	int st = 0;
	int64_t deadline = hf_now_ms() + 3000;
	while ((st = get_on(h, "/health", body, sizeof(body))) == 200 &&
	       hf_now_ms() < deadline)
		hf_sleep_ms(20);
	CHECK_EQ(st, 503);
	CHECK(strstr(body, "paused: out of file descriptors") != NULL);
	CHECK(strstr(body, "listener mqtt port") != NULL);
	if (!strstr(body, "paused"))
		fprintf(stderr, "body: %s\n", body);
	CHECK_EQ(get_on(h, "/health/live", body, sizeof(body)), 200);
	for (int i = 0; i < NEXTRA; i++)
		if (extra[i] >= 0)
			close(extra[i]);
	deadline = hf_now_ms() + 5000;
	while ((st = get_on(h, "/health", body, sizeof(body))) != 200 &&
	       hf_now_ms() < deadline)
		hf_sleep_ms(50);
	CHECK_EQ(st, 200);
	if (h >= 0)
		close(h);
}

/* The broker inherits a low descriptor limit (the case restores the
 * test's own at once). */
static void
run_paused_case(void)
{
	struct rlimit low;
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
	low = saved_nofile;
	low.rlim_cur = FD_LIMIT;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	HF_BCASE(t_health_listener_paused, HTTP_CONF);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
}

/* ---- drops by reason ---------------------------------------------------- */

/* message_size_limit 10, max_queued_messages 2, QoS 0 queued offline: a
 * 20-byte QoS 1 PUBLISH is rejected (v5 0x97: dropped, reason rejected);
 * five QoS 0 messages for an offline subscriber queue two and drop three
 * (queue_full); a QoS 1 one then is refused whole (refused, not dropped).
 */
static void
t_drops_by_reason(struct hf_bproc *b)
{
	uint16_t hp = hf_bproc_port_n(b, 1);
	CHECK(hp != 0);
	CHECK(offline_sub(b->port, "dropsub", "q/#"));
	int pub = hf_raw_connect_expiry(b->port, V5, "droppub", true, 0, NULL);
	CHECK(pub >= 0);
	CHECK_EQ(hf_raw_publish(pub, V5, "q/t", "01234567890123456789", 20, 1,
	                        false, 1),
	         HF_RC_QUOTA_EXCEEDED);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(hf_raw_publish(pub, V5, "q/t", "x", 1, 0, false, 0),
		         0);
	CHECK_EQ(hf_raw_publish(pub, V5, "q/t", "y", 1, 1, false, 2),
	         HF_RC_QUOTA_EXCEEDED);
	CHECK_EQ(hf_raw_ping(pub, 3000), 1);
	char *t = scrape(hp);
	CHECK(t != NULL);
	const char *k = "holdfast_messages_dropped_total{reason=";
	char key[96];
	snprintf(key, sizeof(key), "%s\"rejected\"}", k);
	CHECK_EQ(metric(t, key), 1);
	snprintf(key, sizeof(key), "%s\"queue_full\"}", k);
	CHECK_EQ(metric(t, key), 3);
	snprintf(key, sizeof(key), "%s\"acl\"}", k);
	CHECK_EQ(metric(t, key), 0);
	CHECK_EQ(metric(t, "holdfast_messages_refused_total"), 1);
	CHECK_EQ(metric(t, "holdfast_queued_messages"), 2);
	CHECK_EQ(metric(t, "holdfast_queued_bytes"), 2);
	CHECK_EQ(metric(t, "holdfast_messages_received_total{qos=\"0\"}"), 5);
	CHECK_EQ(metric(t, "holdfast_messages_received_total{qos=\"1\"}"), 2);
	free(t);
	close(pub);
}

/* ---- paths, methods, connections ------------------------------------- */

static void
t_paths_methods(struct hf_bproc *b)
{
	uint16_t hp = hf_bproc_port_n(b, 1);
	struct resp r;
	CHECK(hp != 0);
	CHECK_EQ(http(hp, "GET", "/nope", &r), 0);
	CHECK_EQ(r.status, 404);
	resp_free(&r);
	CHECK_EQ(http(hp, "GET", "/metrics/extra", &r), 0);
	CHECK_EQ(r.status, 404);
	resp_free(&r);
	static const char *const methods[] = {"POST", "PUT", "DELETE"};
	for (int i = 0; i < 3; i++) {
		int fd = http_open(hp);
		CHECK(fd >= 0);
		/* with a body, as a client posting would send */
		CHECK_EQ(http_send(fd, methods[i], "/metrics",
		                   "Content-Length: 3\r\n"),
		         0);
		CHECK_EQ(hf_raw_send(fd, "x=1", 3), 0);
		CHECK_EQ(read_resp(fd, &r, 5000), 0);
		CHECK_EQ(r.status, 405);
		CHECK(strcasestr(r.head, "allow: GET") != NULL);
		resp_free(&r);
		close(fd);
	}
	/* Keep-alive: two GETs on one connection. */
	int fd = http_open(hp);
	CHECK(fd >= 0);
	CHECK_EQ(http_send(fd, "GET", "/health/live", NULL), 0);
	CHECK_EQ(read_resp(fd, &r, 5000), 0);
	CHECK_EQ(r.status, 200);
	CHECK(r.body && !strcmp(r.body, "OK\n"));
	resp_free(&r);
	CHECK_EQ(http_send(fd, "GET", "/metrics", NULL), 0);
	CHECK_EQ(read_resp(fd, &r, 5000), 0);
	CHECK_EQ(r.status, 200);
	CHECK(r.body && expo_check(r.body) == 0);
	/* this connection is one of the HTTP listener's two... */
	CHECK(r.body && strstr(r.body, "protocol=\"http_api\"") != NULL);
	resp_free(&r);
	close(fd);
	/* MQTT still served meanwhile. */
	int m = hf_raw_connect_expiry(b->port, V5, "still", true, 0, NULL);
	CHECK(m >= 0);
	CHECK_EQ(hf_raw_ping(m, 3000), 1);
	close(m);
}

/* Without an address an http_api listener is on the loopback only. */
static void
t_loopback_default(struct hf_bproc *b)
{
	CHECK(hf_bproc_port_n(b, 1) != 0);
	CHECK(hf_bproc_log_contains(b, "(127.0.0.1, http_api)"));
	CHECK(!hf_bproc_log_contains(b, "(0.0.0.0, http_api)"));
	CHECK(!hf_bproc_log_contains(b, "(::, http_api)"));
}

/* ---- $SYS -------------------------------------------------------------- */

struct sysval {
	const char *topic;
	double v;
	bool seen;
};

static void
t_sys_topics(struct hf_bproc *b)
{
	uint16_t hp = hf_bproc_port_n(b, 1);
	struct sysval want[] = {
	    {"$SYS/broker/load/messages/received/1min", 0, false},
	    {"$SYS/broker/load/messages/received/5min", 0, false},
	    {"$SYS/broker/load/messages/received/15min", 0, false},
	    {"$SYS/broker/load/messages/sent/1min", 0, false},
	    {"$SYS/broker/load/bytes/received/1min", 0, false},
	    {"$SYS/broker/load/bytes/sent/15min", 0, false},
	    {"$SYS/broker/load/connections/1min", 0, false},
	    {"$SYS/broker/load/sockets/5min", 0, false},
	    {"$SYS/broker/load/publish/received/1min", 0, false},
	    {"$SYS/broker/load/publish/sent/1min", 0, false},
	    {"$SYS/broker/load/publish/dropped/1min", 0, false},
	    {"$SYS/broker/heap/current", 0, false},
	    {"$SYS/broker/heap/maximum", 0, false},
	    {"$SYS/broker/store/messages/count", 0, false},
	    {"$SYS/broker/store/messages/bytes", 0, false},
	    {"$SYS/broker/messages/stored", 0, false},
	    {"$SYS/broker/clients/expired", 0, false},
	    {"$SYS/broker/shared_subscriptions/count", 0, false},
	    {"$SYS/broker/publish/bytes/received", 0, false},
	};
	enum { N = sizeof(want) / sizeof(want[0]) };
	/* Something to count: a shared subscriber, a session that expires
	 * after 1 s, and some messages. */
	int sh = hf_raw_sub_client(b->port, V5, "shared1", "$share/g/sys/t", 1);
	CHECK(sh >= 0);
	int ex = hf_raw_connect_expiry(b->port, V5, "expires", true, 1, NULL);
	CHECK(ex >= 0);
	CHECK_EQ(hf_raw_disconnect(ex, V5, 0), 0);
	close(ex);
	int pub = hf_raw_connect_expiry(b->port, V5, "syspub", true, 0, NULL);
	CHECK(pub >= 0);
	for (int i = 0; i < 20; i++)
		CHECK(
		    HF_PUB_OK(hf_raw_publish(pub, V5, "sys/t", "0123456789", 10,
		                             1, false, (uint16_t)(i + 1))));
	int fd = hf_raw_sub_client(b->port, V5, "syswatch", "$SYS/#", 0);
	CHECK(fd >= 0);
	/* Read for a few intervals: the load averages need two samples, the
	 * expiry a tick after its second; the last value of each counts. */
	int64_t deadline = hf_now_ms() + 4500;
	while (fd >= 0 && hf_now_ms() < deadline) {
		struct hf_packet p;
		uint8_t buf[1024];
		int r =
		    hf_raw_expect_publish(fd, V5, (int)(deadline - hf_now_ms()),
		                          true, &p, buf, sizeof(buf));
		if (r != 1)
			break;
		for (int i = 0; i < N; i++) {
			if (!hf_bytes_eq(p.u.publish.topic, want[i].topic))
				continue;
			char num[64] = {0};
			char *end;
			size_t l = p.u.publish.payload.len;
			memcpy(num, p.u.publish.payload.p,
			       l < sizeof(num) - 1 ? l : sizeof(num) - 1);
			want[i].v = strtod(num, &end);
			if (end == num || *end) {
				fprintf(stderr, "%s: not a number: %s\n",
				        want[i].topic, num);
				CHECK(!"number");
			}
			want[i].seen = true;
		}
	}
	for (int i = 0; i < N; i++) {
		if (!want[i].seen)
			fprintf(stderr, "not seen: %s\n", want[i].topic);
		else
			fprintf(stderr, "%s %g\n", want[i].topic, want[i].v);
		CHECK(want[i].seen);
		CHECK(want[i].v >= 0);
	}
	/* Sane values. */
	CHECK(want[0].v > 0); /* 20 messages in the last seconds */
	CHECK(want[0].v >= want[1].v && want[1].v >= want[2].v);
	CHECK(want[11].v > 0); /* heap/current */
	CHECK(want[12].v >= want[11].v);
	CHECK(want[13].v >= 1); /* $SYS's own retained messages at least */
	CHECK_EQ(want[15].v, want[13].v); /* messages/stored = the count */
	CHECK_EQ(want[16].v, 1);          /* the session "expires" */
	CHECK_EQ(want[17].v, 1);          /* $share/g/sys/t */
	CHECK(want[18].v >= 200);
	/* The same counters as /metrics. */
	char *t = hp ? scrape(hp) : NULL;
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ(metric(t, "holdfast_shared_subscriptions"),
		         want[17].v);
		CHECK_EQ(metric(t, "holdfast_sessions_expired_total"),
		         want[16].v);
		free(t);
	}
	if (fd >= 0)
		close(fd);
	if (pub >= 0)
		close(pub);
	if (sh >= 0)
		close(sh);
}

int
main(void)
{
	HF_BCASE(t_metrics_under_load, HTTP_CONF);
	HF_BCASE(t_health_store_full,
	         "persistence_max_size 1m\n"
	         "persistence_initial_size 256k\n" HTTP_CONF);
	HF_BCASE(t_paths_methods, HTTP_CONF);
	HF_BCASE(t_drops_by_reason, "message_size_limit 10\n"
	                            "max_queued_messages 2\n"
	                            "queue_qos0_messages true\n" HTTP_CONF);
	run_paused_case();
	HF_BCASE(t_loopback_default, HTTP_CONF);
	HF_BCASE(t_sys_topics, "sys_interval 1\n" HTTP_CONF);
	return HF_DONE();
}
