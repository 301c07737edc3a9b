/*
 * tools/bench/main.c - hfbench: MQTT load generator and latency meter.
 *
 * Design: parse the options into a struct hf_bench_cfg, resolve the broker
 * address, raise the open-file limit, then start one worker per thread
 * (worker 0 runs on the main thread) and join them. The report folds the
 * workers' histograms and sequence bitmaps together: lost = messages the
 * broker acknowledged (QoS > 0) or that were sent (QoS 0) which a
 * subscriber never saw. It prints a human summary and, with --json, one
 * JSON line. --self-test checks the codec, the statistics and the
 * WebSocket framing and handshake offline. With --tls, main() builds the
 * shared TLS context before the workers start and frees it at the end.
 *
 * Threading/ownership: main() owns the configuration, the run and the
 * workers; it reads worker results only after every thread has joined.
 */
#include "bench.h"

#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void
usage(FILE *f)
{
	fputs(
	    "usage: hfbench [options]\n"
	    "  -h HOST            broker host (127.0.0.1)\n"
	    "  -p PORT            broker port (1883)\n"
	    "  --sub-host HOST    subscribers' broker host (-h)\n"
	    "  --sub-port PORT    subscribers' broker port (-p); e.g. the\n"
	    "                     far end of a bridge from -h/-p\n"
	    "  -V 311|5           protocol version (311)\n"
	    "  -q QOS             publish QoS 0..2 (0)\n"
	    "  --sub-qos QOS      subscription QoS (same as -q)\n"
	    "  -P N               publishers (1)\n"
	    "  -S N               subscribers (1)\n"
	    "  -s BYTES           payload size, >= 20 (64)\n"
	    "  -r RATE            msg/s per publisher, 0 = unlimited (0)\n"
	    "  -w N               unacknowledged messages per publisher (64)\n"
	    "  -n N               messages per publisher\n"
	    "  -d SECONDS         publish for this long (10 if no -n)\n"
	    "  -T N               worker threads (1)\n"
	    "  --shared           subscribe $share/hfb/bench/# (one copy)\n"
	    "  --clean            clean sessions (default)\n"
	    "  --persistent       persistent sessions for everyone\n"
	    "  --sub-offline      queue for offline persistent subscribers,\n"
	    "                     then reconnect them and time the drain\n"
	    "  --pause-stdin      --sub-offline: wait for a line on stdin\n"
	    "                     once the subscribers' sessions exist and\n"
	    "                     again once every message is acknowledged;\n"
	    "                     the second line may hold the CLOCK_REALTIME\n"
	    "                     ns at which the drain clock starts; then\n"
	    "                     refused subscriber connects are retried\n"
	    "  --idle N           open N idle connections, report RSS\n"
	    "  --pid PID          broker process: report its CPU use (and\n"
	    "                     its RSS with --idle)\n"
	    "  --hold SECONDS     idle: keep connections open (2)\n"
	    "  --connect-only     connect (and subscribe), then leave\n"
	    "  --keepalive S      keepalive in CONNECT (60)\n"
	    "  --max-connecting N concurrent handshakes (64)\n"
	    "  --drain-timeout S  max wait for acks/deliveries (60)\n"
	    "  --drain-idle S     QoS 0: stop after S silent seconds (2)\n"
	    "  --allow-loss       exit 0 even if acknowledged messages\n"
	    "                     were lost or QoS 2 was duplicated\n"
	    "  --json             also print one JSON line\n"
	    "  --tls              MQTT over TLS; without --cafile the broker\n"
	    "                     certificate is NOT verified (test setups)\n"
	    "  --cafile FILE      --tls: verify the broker against this CA\n"
	    "                     (and its name or IP against -h)\n"
	    "  --cert FILE        --tls: client certificate (PEM, with --key)\n"
	    "  --key FILE         --tls: client private key (PEM)\n"
	    "  --ws               MQTT over WebSocket (wss with --tls)\n"
	    "  --ws-path PATH     --ws: request path (/mqtt)\n"
	    "  --self-test        check codec, statistics and WebSocket\n"
	    "                     framing offline, then exit\n"
	    "  --help\n",
	    f);
}

enum {
	O_SHARED = 256,
	O_CLEAN,
	O_PERSISTENT,
	O_SUB_OFFLINE,
	O_IDLE,
	O_PID,
	O_HOLD,
	O_CONNECT_ONLY,
	O_KEEPALIVE,
	O_MAX_CONNECTING,
	O_DRAIN_TIMEOUT,
	O_DRAIN_IDLE,
	O_ALLOW_LOSS,
	O_JSON,
	O_TLS,
	O_WS,
	O_CAFILE,
	O_CERT,
	O_KEY,
	O_WS_PATH,
	O_SELF_TEST,
	O_SUB_QOS,
	O_SUB_HOST,
	O_SUB_PORT,
	O_PAUSE_STDIN,
	O_HELP,
};

static const struct option long_opts[] = {
    {"shared", no_argument, NULL, O_SHARED},
    {"clean", no_argument, NULL, O_CLEAN},
    {"persistent", no_argument, NULL, O_PERSISTENT},
    {"sub-offline", no_argument, NULL, O_SUB_OFFLINE},
    {"idle", required_argument, NULL, O_IDLE},
    {"pid", required_argument, NULL, O_PID},
    {"hold", required_argument, NULL, O_HOLD},
    {"connect-only", no_argument, NULL, O_CONNECT_ONLY},
    {"keepalive", required_argument, NULL, O_KEEPALIVE},
    {"max-connecting", required_argument, NULL, O_MAX_CONNECTING},
    {"drain-timeout", required_argument, NULL, O_DRAIN_TIMEOUT},
    {"drain-idle", required_argument, NULL, O_DRAIN_IDLE},
    {"allow-loss", no_argument, NULL, O_ALLOW_LOSS},
    {"json", no_argument, NULL, O_JSON},
    {"tls", no_argument, NULL, O_TLS},
    {"ws", no_argument, NULL, O_WS},
    {"websocket", no_argument, NULL, O_WS},
    {"cafile", required_argument, NULL, O_CAFILE},
    {"cert", required_argument, NULL, O_CERT},
    {"key", required_argument, NULL, O_KEY},
    {"ws-path", required_argument, NULL, O_WS_PATH},
    {"self-test", no_argument, NULL, O_SELF_TEST},
    {"sub-qos", required_argument, NULL, O_SUB_QOS},
    {"sub-host", required_argument, NULL, O_SUB_HOST},
    {"sub-port", required_argument, NULL, O_SUB_PORT},
    {"pause-stdin", no_argument, NULL, O_PAUSE_STDIN},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static long
num(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end || v < lo || v > hi) {
		fprintf(stderr,
		        "hfbench: %s: expected an integer in %ld..%ld\n", opt,
		        lo, hi);
		exit(3);
	}
	return v;
}

static double
real(const char *opt, const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end || v < 0) {
		fprintf(stderr, "hfbench: %s: expected a number >= 0\n", opt);
		exit(3);
	}
	return v;
}

static int self_test(void);

static void
parse(int argc, char **argv, struct hf_bench_cfg *c)
{
	int o, qos_set = 0;

	memset(c, 0, sizeof(*c));
	c->host = "127.0.0.1";
	c->port = 1883;
	c->version = 4;
	c->sub_qos = -1;
	c->pubs = 1;
	c->subs = 1;
	c->payload = 64;
	c->window = 64;
	c->threads = 1;
	c->drain_timeout = 60;
	c->drain_idle = 2;
	c->hold = 2;
	c->keepalive = 60;
	c->max_connecting = 64;
	c->ws_path = "/mqtt";
	while ((o = getopt_long(argc, argv, "h:p:V:q:P:S:s:r:w:n:d:T:v",
	                        long_opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			c->host = optarg;
			break;
		case 'p':
			c->port = (int)num("-p", optarg, 1, 65535);
			break;
		case 'V':
			if (!strcmp(optarg, "311") || !strcmp(optarg, "4"))
				c->version = 4;
			else if (!strcmp(optarg, "5"))
				c->version = 5;
			else {
				fprintf(stderr, "hfbench: -V: 311 or 5\n");
				exit(3);
			}
			break;
		case 'q':
			c->qos = (int)num("-q", optarg, 0, 2);
			qos_set = 1;
			break;
		case O_SUB_QOS:
			c->sub_qos = (int)num("--sub-qos", optarg, 0, 2);
			break;
		case 'P':
			c->pubs = (int)num("-P", optarg, 0, 1000000);
			break;
		case 'S':
			c->subs = (int)num("-S", optarg, 0, 1000000);
			break;
		case 's':
			c->payload = (size_t)num("-s", optarg, HFB_STAMP_LEN,
			                         256 * 1024 * 1024 - 512);
			break;
		case 'r':
			c->rate = real("-r", optarg);
			break;
		case 'w':
			c->window = (uint32_t)num("-w", optarg, 1, 65000);
			break;
		case 'n':
			c->count = (uint64_t)num("-n", optarg, 1, 1L << 40);
			break;
		case 'd':
			c->duration = real("-d", optarg);
			break;
		case 'T':
			c->threads = (int)num("-T", optarg, 1, 256);
			break;
		case 'v':
			c->verbose = 1;
			break;
		case O_SHARED:
			c->shared = 1;
			break;
		case O_CLEAN:
			c->persistent = 0;
			break;
		case O_PERSISTENT:
			c->persistent = 1;
			break;
		case O_SUB_OFFLINE:
			c->sub_offline = 1;
			break;
		case O_SUB_HOST:
			c->sub_host = optarg;
			break;
		case O_SUB_PORT:
			c->sub_port = (int)num("--sub-port", optarg, 1, 65535);
			break;
		case O_PAUSE_STDIN:
			c->pause_stdin = 1;
			break;
		case O_IDLE:
			c->idle = (int)num("--idle", optarg, 1, 10000000);
			break;
		case O_PID:
			c->pid = (int)num("--pid", optarg, 1, 1 << 30);
			break;
		case O_HOLD:
			c->hold = real("--hold", optarg);
			break;
		case O_CONNECT_ONLY:
			c->connect_only = 1;
			break;
		case O_KEEPALIVE:
			c->keepalive =
			    (uint16_t)num("--keepalive", optarg, 0, 65535);
			break;
		case O_MAX_CONNECTING:
			c->max_connecting =
			    (int)num("--max-connecting", optarg, 1, 1 << 20);
			break;
		case O_DRAIN_TIMEOUT:
			c->drain_timeout = real("--drain-timeout", optarg);
			break;
		case O_DRAIN_IDLE:
			c->drain_idle = real("--drain-idle", optarg);
			break;
		case O_ALLOW_LOSS:
			c->allow_loss = 1;
			break;
		case O_JSON:
			c->json = 1;
			break;
		case O_TLS:
			c->tls = 1;
			break;
		case O_WS:
			c->ws = 1;
			break;
		case O_CAFILE:
			c->cafile = optarg;
			break;
		case O_CERT:
			c->cert = optarg;
			break;
		case O_KEY:
			c->key = optarg;
			break;
		case O_WS_PATH:
			c->ws_path = optarg;
			break;
		case O_SELF_TEST:
			exit(self_test());
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(3);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(3);
	}
	(void)qos_set;
	if (!c->sub_host)
		c->sub_host = c->host;
	if (!c->sub_port)
		c->sub_port = c->port;
	if (c->pause_stdin && !c->sub_offline) {
		fprintf(stderr, "hfbench: --pause-stdin needs --sub-offline\n");
		exit(3);
	}
	if (c->sub_qos < 0)
		c->sub_qos = c->qos;
	if (!c->count && c->duration <= 0)
		c->duration = 10;
	if (c->idle) {
		c->pubs = 0;
		c->subs = 0;
	}
	if (c->sub_offline && !c->count) {
		fprintf(stderr, "hfbench: --sub-offline needs -n\n");
		exit(3);
	}
	if (c->sub_offline && c->sub_qos == 0) {
		fprintf(stderr, "hfbench: --sub-offline needs QoS > 0\n");
		exit(3);
	}
	if ((c->cafile || c->cert || c->key) && !c->tls) {
		fprintf(stderr, "hfbench: --cafile/--cert/--key need --tls\n");
		exit(3);
	}
	if (!c->cert != !c->key) {
		fprintf(stderr, "hfbench: --cert and --key go together\n");
		exit(3);
	}
	if (c->ws_path[0] != '/' || strpbrk(c->ws_path, " \r\n")) {
		fprintf(stderr, "hfbench: --ws-path: must start with / and "
		                "hold no spaces\n");
		exit(3);
	}
	if (c->threads > 1 && c->threads > c->pubs + c->subs + c->idle)
		c->threads = c->pubs + c->subs + c->idle;
	if (c->threads < 1)
		c->threads = 1;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
resolve(const char *host, int port, struct sockaddr_storage *addr,
        socklen_t *addrlen)
{
	struct addrinfo hints, *ai;
	char serv[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(serv, sizeof(serv), "%d", port);
	rc = getaddrinfo(host, serv, &hints, &ai);
	if (rc) {
		fprintf(stderr, "hfbench: %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	memcpy(addr, ai->ai_addr, ai->ai_addrlen);
	*addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static double
tv_sec(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

struct totals {
	uint64_t sent, acked, rejected, expected_deliveries, received, distinct,
	    lost, dups, reordered, foreign, qos2_resent;
	uint64_t pub_last;
	double pub_rate, del_rate, window_s, drain_s;
	double first_s; /* --sub-offline: drain start to first delivery */
	double broker_user, broker_sys; /* --pid: CPU seconds, -1 unknown */
	struct hf_bench_hist lat, conn_lat;
};

static void
collect(struct hf_bench_run *run, struct totals *t)
{
	const struct hf_bench_cfg *cfg = run->cfg;
	struct hf_bench_pubstat *ps =
	    calloc((size_t)cfg->pubs + 1, sizeof(*ps));
	uint64_t *exp = calloc((size_t)cfg->pubs + 1, sizeof(*exp));
	uint64_t wstart, last;
	int i, j, k;

	if (!ps || !exp) {
		perror("hfbench: calloc");
		exit(1);
	}
	memset(t, 0, sizeof(*t));
	hf_bench_hist_reset(&t->lat);
	hf_bench_hist_reset(&t->conn_lat);
	for (i = 0; i < cfg->threads; i++) {
		struct hf_bench_worker *w = &run->workers[i];

		hf_bench_worker_pubstats(w, ps);
		hf_bench_hist_merge(&t->lat, &w->lat);
		hf_bench_hist_merge(&t->conn_lat, &w->conn_lat);
		t->received += w->received;
		t->foreign += w->foreign;
		t->qos2_resent += w->qos2_resent;
	}
	for (j = 0; j < cfg->pubs; j++) {
		t->sent += ps[j].sent;
		t->acked += ps[j].acked;
		t->rejected += ps[j].rejected;
		exp[j] = cfg->qos ? ps[j].acked : ps[j].sent;
		t->expected_deliveries += exp[j];
		if (ps[j].t_last > t->pub_last)
			t->pub_last = ps[j].t_last;
	}
	if (!cfg->shared)
		t->expected_deliveries *= (uint64_t)cfg->subs;
	for (j = 0; j < cfg->pubs && cfg->subs; j++) {
		/* per (subscriber, publisher) for order and duplicates; with
		 * --shared the copies of one publisher are spread over the
		 * group, so loss is judged on their union */
		struct hf_bench_seq u;

		memset(&u, 0, sizeof(u));
		for (i = 0; i < cfg->threads; i++) {
			struct hf_bench_worker *w = &run->workers[i];

			for (k = 0; k < w->nsubs; k++) {
				struct hf_bench_seq *s =
				    &w->seqs[(size_t)k * cfg->pubs + j];

				if (cfg->shared) {
					hf_bench_seq_merge(&u, s);
					continue;
				}
				t->lost += hf_bench_seq_missing(s, exp[j]);
				t->dups += s->dups;
				t->reordered += s->reordered;
				t->distinct += s->distinct;
			}
		}
		if (cfg->shared) {
			t->lost += hf_bench_seq_missing(&u, exp[j]);
			t->dups += u.dups;
			t->reordered += u.reordered;
			t->distinct += u.distinct;
		}
		hf_bench_seq_free(&u);
	}
	if (t->pub_last > run->t_start)
		t->pub_rate = (double)(cfg->qos ? t->acked : t->sent) /
		              ((double)(t->pub_last - run->t_start) / 1e9);
	wstart = cfg->sub_offline ? run->t_drain_start : run->t_start;
	last = atomic_load(&run->last_delivery);
	if (last > wstart) {
		t->window_s = (double)(last - wstart) / 1e9;
		t->del_rate = (double)t->received / t->window_s;
	}
	if (cfg->sub_offline)
		t->drain_s = t->window_s;
	last = atomic_load(&run->first_delivery);
	if (cfg->sub_offline && last > wstart)
		t->first_s = (double)(last - wstart) / 1e9;
	free(ps);
	free(exp);
}

static const char *
transport_name(const struct hf_bench_cfg *cfg)
{
	return cfg->ws ? (cfg->tls ? "wss" : "ws") : cfg->tls ? "tls" : "tcp";
}

static void
report(struct hf_bench_run *run, const struct totals *t, double cpu_user,
       double cpu_sys, double wall, int ok, const char *err)
{
	const struct hf_bench_cfg *cfg = run->cfg;
	const struct hf_bench_hist *l = &t->lat, *cl = &t->conn_lat;
	double cpu_pct = wall > 0 ? 100.0 * (cpu_user + cpu_sys) / wall : 0;
	double setup_s = (double)(run->t_start - run->t_setup) / 1e9;
	char rate[32], amount[48];

	if (cfg->rate > 0)
		snprintf(rate, sizeof(rate), "%.0f/s", cfg->rate);
	else
		snprintf(rate, sizeof(rate), "unlimited");
	if (cfg->count)
		snprintf(amount, sizeof(amount), "%llu msgs/pub",
		         (unsigned long long)cfg->count);
	else
		snprintf(amount, sizeof(amount), "%.1f s", cfg->duration);
	if (cfg->idle) {
		long d = run->rss_after - run->rss_before;

		printf("idle: %d %s connections (keepalive %u) opened in %.3f "
		       "s, handshake p50 %.0f us max %.0f us\n",
		       cfg->idle, transport_name(cfg), cfg->keepalive, setup_s,
		       us(hf_bench_hist_quantile(cl, 0.5)), us(cl->max));
		if (cfg->pid)
			printf("rss of pid %d: before %ld KiB, after %ld KiB, "
			       "%.2f KiB per connection\n",
			       cfg->pid, run->rss_before, run->rss_after,
			       (double)d / cfg->idle);
	} else {
		printf("scenario: MQTT %s over %s, qos %d (sub %d), %d pub -> "
		       "%d sub%s, %zu B, rate %s, window %u, %s, %s sessions, "
		       "%d thread%s\n",
		       cfg->version == 5 ? "5.0" : "3.1.1", transport_name(cfg),
		       cfg->qos, cfg->sub_qos, cfg->pubs, cfg->subs,
		       cfg->shared ? " (shared)" : "", cfg->payload, rate,
		       cfg->window, amount,
		       cfg->sub_offline  ? "offline-sub"
		       : cfg->persistent ? "persistent"
		                         : "clean",
		       cfg->threads, cfg->threads > 1 ? "s" : "");
		if (cfg->sub_port != cfg->port ||
		    strcmp(cfg->sub_host, cfg->host))
			printf("brokers: publishers %s port %d, subscribers "
			       "%s port %d\n",
			       cfg->host, cfg->port, cfg->sub_host,
			       cfg->sub_port);
		printf("connect: %d connections ready in %.3f s, handshake "
		       "p50 %.0f us max %.0f us\n",
		       cfg->pubs + cfg->subs, setup_s,
		       us(hf_bench_hist_quantile(cl, 0.5)), us(cl->max));
		if (!cfg->connect_only) {
			printf("publishers: sent %llu, acknowledged %llu, "
			       "rejected %llu; %s rate %.0f msg/s\n",
			       (unsigned long long)t->sent,
			       (unsigned long long)t->acked,
			       (unsigned long long)t->rejected,
			       cfg->qos ? "ack" : "send", t->pub_rate);
			printf("subscribers: %llu deliveries (%llu distinct) "
			       "of %llu expected; %.0f msg/s over %.3f s%s\n",
			       (unsigned long long)t->received,
			       (unsigned long long)t->distinct,
			       (unsigned long long)t->expected_deliveries,
			       t->del_rate, t->window_s,
			       cfg->sub_offline ? " (drain after reconnect)"
			                        : "");
			if (cfg->sub_offline)
				printf("drain: first delivery %.3f s, last "
				       "%.3f s after the %s\n",
				       t->first_s, t->drain_s,
				       cfg->pause_stdin
				           ? "time given on stdin"
				           : "subscribers' reconnect");
			printf("latency us: p50 %.1f p90 %.1f p99 %.1f p99.9 "
			       "%.1f max %.1f mean %.1f\n",
			       us(hf_bench_hist_quantile(l, 0.5)),
			       us(hf_bench_hist_quantile(l, 0.9)),
			       us(hf_bench_hist_quantile(l, 0.99)),
			       us(hf_bench_hist_quantile(l, 0.999)), us(l->max),
			       l->count ? l->sum / (double)l->count / 1e3 : 0);
			printf("lost %llu, duplicated %llu, out-of-order %llu, "
			       "foreign %llu, qos2 resent %llu\n",
			       (unsigned long long)t->lost,
			       (unsigned long long)t->dups,
			       (unsigned long long)t->reordered,
			       (unsigned long long)t->foreign,
			       (unsigned long long)t->qos2_resent);
		}
	}
	printf("hfbench cpu: user %.2f s, sys %.2f s, %.0f%% of one core "
	       "over %.2f s wall\n",
	       cpu_user, cpu_sys, cpu_pct, wall);
	if (t->broker_user >= 0)
		printf("broker pid %d cpu: user %.2f s, sys %.2f s, %.0f%% of "
		       "one core over the same wall time\n",
		       cfg->pid, t->broker_user, t->broker_sys,
		       wall > 0
		           ? 100.0 * (t->broker_user + t->broker_sys) / wall
		           : 0);
	if (!ok)
		fprintf(stderr, "hfbench: FAILED: %s\n", err);
	if (!cfg->json)
		return;
	printf("{\"tool\":\"hfbench\",\"transport\":\"%s\","
	       "\"mqtt\":\"%s\",\"qos\":%d,"
	       "\"sub_qos\":%d,\"pubs\":%d,\"subs\":%d,\"shared\":%s,"
	       "\"payload\":%zu,\"rate\":%.0f,\"window\":%u,"
	       "\"count\":%llu,\"duration\":%.3f,\"session\":\"%s\","
	       "\"threads\":%d,\"idle\":%d,\"port\":%d,\"sub_port\":%d,",
	       transport_name(cfg), cfg->version == 5 ? "5" : "3.1.1", cfg->qos,
	       cfg->sub_qos, cfg->pubs, cfg->subs,
	       cfg->shared ? "true" : "false", cfg->payload, cfg->rate,
	       cfg->window, (unsigned long long)cfg->count, cfg->duration,
	       cfg->sub_offline  ? "offline-sub"
	       : cfg->persistent ? "persistent"
	                         : "clean",
	       cfg->threads, cfg->idle, cfg->port, cfg->sub_port);
	printf("\"sent\":%llu,\"acked\":%llu,\"rejected\":%llu,"
	       "\"pub_rate\":%.1f,\"received\":%llu,\"distinct\":%llu,"
	       "\"expected\":%llu,\"delivery_rate\":%.1f,\"window_s\":%.6f,"
	       "\"drain_s\":%.6f,\"first_s\":%.6f,",
	       (unsigned long long)t->sent, (unsigned long long)t->acked,
	       (unsigned long long)t->rejected, t->pub_rate,
	       (unsigned long long)t->received, (unsigned long long)t->distinct,
	       (unsigned long long)t->expected_deliveries, t->del_rate,
	       t->window_s, t->drain_s, t->first_s);
	printf("\"lat_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
	       "\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f,\"n\":%llu},",
	       us(hf_bench_hist_quantile(l, 0.5)),
	       us(hf_bench_hist_quantile(l, 0.9)),
	       us(hf_bench_hist_quantile(l, 0.99)),
	       us(hf_bench_hist_quantile(l, 0.999)), us(l->max),
	       l->count ? l->sum / (double)l->count / 1e3 : 0,
	       (unsigned long long)l->count);
	printf("\"connect_s\":%.6f,\"handshake_us\":{\"p50\":%.1f,"
	       "\"max\":%.1f},",
	       setup_s, us(hf_bench_hist_quantile(cl, 0.5)), us(cl->max));
	printf("\"lost\":%llu,\"duplicated\":%llu,\"out_of_order\":%llu,"
	       "\"foreign\":%llu,",
	       (unsigned long long)t->lost, (unsigned long long)t->dups,
	       (unsigned long long)t->reordered,
	       (unsigned long long)t->foreign);
	if (cfg->idle)
		printf("\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,"
		       "\"rss_per_conn_kb\":%.3f,",
		       run->rss_before, run->rss_after,
		       (double)(run->rss_after - run->rss_before) / cfg->idle);
	if (t->broker_user >= 0)
		printf("\"broker_cpu_user_s\":%.3f,\"broker_cpu_sys_s\":%.3f,",
		       t->broker_user, t->broker_sys);
	printf("\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"wall_s\":%.3f,"
	       "\"cpu_pct\":%.1f,\"ok\":%s,\"error\":\"",
	       cpu_user, cpu_sys, wall, cpu_pct, ok ? "true" : "false");
	for (; *err; err++)
		if (*err != '"' && *err != '\\' && (unsigned char)*err >= 32)
			putchar(*err);
	printf("\"}\n");
}

int
main(int argc, char **argv)
{
	struct hf_bench_cfg cfg;
	struct hf_bench_run run;
	struct rusage ru0, ru1;
	struct totals t;
	uint64_t t0;
	const char *err = "";
	double bu0 = 0, bs0 = 0, bu1 = 0, bs1 = 0;
	double t_bcpu_user = -1, t_bcpu_sys = -1;
	int i, rc = 0;

	parse(argc, argv, &cfg);
	raise_nofile();
	memset(&run, 0, sizeof(run));
	run.cfg = &cfg;
	if (resolve(cfg.host, cfg.port, &run.addr, &run.addrlen) < 0 ||
	    resolve(cfg.sub_host, cfg.sub_port, &run.sub_addr,
	            &run.sub_addrlen) < 0)
		return 1;
	if (cfg.tls) {
		char msg[256];

		/* OpenSSL writes with write(): a dead peer must not kill us */
		signal(SIGPIPE, SIG_IGN);
		if (hf_bench_tls_new(&run.tls, cfg.cafile, cfg.cert, cfg.key,
		                     msg, sizeof(msg)) < 0) {
			fprintf(stderr, "hfbench: --tls: %s\n", msg);
			return 1;
		}
		if (!cfg.cafile)
			fprintf(stderr, "hfbench: --tls without --cafile: the "
			                "broker certificate is not verified\n");
	}
	run.pub_expected =
	    calloc((size_t)cfg.pubs + 1, sizeof(*run.pub_expected));
	run.workers = calloc((size_t)cfg.threads, sizeof(*run.workers));
	if (!run.pub_expected || !run.workers) {
		perror("hfbench: calloc");
		return 1;
	}
	pthread_barrier_init(&run.barrier, NULL, (unsigned)cfg.threads);
	for (i = 0; i < cfg.threads; i++)
		hf_bench_worker_init(&run.workers[i], &run, i);
	if (cfg.idle && cfg.pid)
		run.rss_before = hf_bench_read_rss(cfg.pid);
	if (cfg.pid && hf_bench_read_cpu(cfg.pid, &bu0, &bs0) < 0)
		cfg.pid = 0;
	getrusage(RUSAGE_SELF, &ru0);
	t0 = hf_bench_now();
	for (i = 1; i < cfg.threads; i++)
		if (pthread_create(&run.workers[i].thread, NULL,
		                   hf_bench_worker_main, &run.workers[i])) {
			perror("hfbench: pthread_create");
			return 1;
		}
	hf_bench_worker_main(&run.workers[0]);
	for (i = 1; i < cfg.threads; i++)
		pthread_join(run.workers[i].thread, NULL);
	getrusage(RUSAGE_SELF, &ru1);
	if (cfg.pid && hf_bench_read_cpu(cfg.pid, &bu1, &bs1) == 0) {
		t_bcpu_user = bu1 - bu0;
		t_bcpu_sys = bs1 - bs0;
	}
	for (i = 0; i < cfg.threads; i++)
		if (run.workers[i].err[0]) {
			err = run.workers[i].err;
			break;
		}
	if (atomic_load(&run.failed))
		rc = 1;
	collect(&run, &t);
	if (!rc && cfg.qos && cfg.sub_qos && t.lost && !cfg.allow_loss) {
		err = "acknowledged messages were lost";
		rc = 2;
	}
	if (!rc && cfg.qos == 2 && cfg.sub_qos == 2 && t.dups &&
	    !cfg.allow_loss) {
		err = "QoS 2 messages were delivered twice";
		rc = 2;
	}
	if (!rc && !cfg.idle && !cfg.connect_only && cfg.qos && !t.acked &&
	    cfg.pubs) {
		err = "no publish was acknowledged";
		rc = 2;
	}
	t.broker_user = t_bcpu_user;
	t.broker_sys = t_bcpu_sys;
	report(&run, &t, tv_sec(ru1.ru_utime) - tv_sec(ru0.ru_utime),
	       tv_sec(ru1.ru_stime) - tv_sec(ru0.ru_stime),
	       (double)(hf_bench_now() - t0) / 1e9, rc == 0, err);
	for (i = 0; i < cfg.threads; i++)
		hf_bench_worker_free(&run.workers[i]);
	pthread_barrier_destroy(&run.barrier);
	if (cfg.tls)
		hf_bench_tls_free(&run.tls);
	free(run.workers);
	free((void *)run.pub_expected);
	return rc;
}

/* ---- self-test ---- */

#define ST_CHECK(c)                                                            \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "self-test: %s:%d: %s\n", __FILE__,    \
			        __LINE__, #c);                                 \
			return 1;                                              \
		}                                                              \
	} while (0)

static int
test_hist(void)
{
	static struct hf_bench_hist h;
	uint64_t v, q;
	size_t i;

	for (v = 0; v < 5000000; v = v * 3 / 2 + 1) {
		i = hf_bench_hist_index(v);
		ST_CHECK(i < HFB_HIST_BUCKETS);
		ST_CHECK(hf_bench_hist_lower(i) <= v);
		ST_CHECK(hf_bench_hist_lower(i + 1) > v);
	}
	ST_CHECK(hf_bench_hist_index(UINT64_MAX) < HFB_HIST_BUCKETS);
	hf_bench_hist_reset(&h);
	for (v = 1; v <= 1000000; v++)
		hf_bench_hist_add(&h, v);
	q = hf_bench_hist_quantile(&h, 0.5);
	ST_CHECK(q >= 495000 && q <= 505000);
	q = hf_bench_hist_quantile(&h, 0.99);
	ST_CHECK(q >= 980000 && q <= 1000000);
	ST_CHECK(hf_bench_hist_quantile(&h, 1.0) == 1000000);
	ST_CHECK(h.min == 1 && h.max == 1000000);
	return 0;
}

static int
test_seq(void)
{
	struct hf_bench_seq s, s2;
	uint64_t i;

	memset(&s, 0, sizeof(s));
	memset(&s2, 0, sizeof(s2));
	for (i = 1; i <= 100000; i++)
		if (i != 500 && i != 70000)
			ST_CHECK(hf_bench_seq_add(&s, i) == 1);
	ST_CHECK(hf_bench_seq_add(&s, 5) == 0);
	ST_CHECK(hf_bench_seq_add(&s, 500) == 1);
	ST_CHECK(s.dups == 1 && s.reordered == 1);
	ST_CHECK(hf_bench_seq_missing(&s, 100000) == 1);
	ST_CHECK(hf_bench_seq_missing(&s, 100002) == 3);
	ST_CHECK(hf_bench_seq_missing(&s, 63) == 0);
	ST_CHECK(hf_bench_seq_add(&s2, 70000) == 1);
	ST_CHECK(hf_bench_seq_add(&s2, 1) == 1);
	hf_bench_seq_merge(&s, &s2);
	ST_CHECK(hf_bench_seq_missing(&s, 100000) == 0);
	ST_CHECK(s.dups == 2);
	hf_bench_seq_free(&s);
	hf_bench_seq_free(&s2);
	return 0;
}

static int
test_proto(void)
{
	struct hf_bench_buf b;
	struct hf_bench_pubtpl tpl;
	struct hf_bench_publish p;
	struct hf_bench_connect cc = {5, "hfb-pub-0", 0, 60, 86400};
	const uint8_t *body;
	size_t blen;
	int type, flags, rc, v;
	uint32_t pub;
	uint64_t seq, ts;
	uint16_t id, rmax;
	long n;
	/* v5 CONNACK: session present 0, rc 0, Receive Maximum 20, then a
	 * Maximum QoS property */
	static const uint8_t connack[] = {0x20, 0x08, 0x00, 0x00, 0x05,
	                                  0x21, 0x00, 0x14, 0x24, 0x01};
	static const uint8_t suback5[] = {0x90, 0x04, 0x00, 0x01, 0x00, 0x01};

	hf_bench_buf_init(&b, 16);
	hf_bench_put_connect(&b, &cc);
	n = hf_bench_frame(b.data + b.off, b.len, &type, &flags, &body, &blen);
	ST_CHECK(n == (long)b.len && type == HFB_CONNECT);
	ST_CHECK(body[6] == 5 && body[7] == 0 && body[10] == 5 &&
	         body[11] == 0x11);
	hf_bench_buf_consume(&b, (size_t)n);
	for (v = 4; v <= 5; v++) {
		ST_CHECK(hf_bench_pub_template(&tpl, v, "bench/7", 2, 200000) ==
		         0);
		hf_bench_put_publish(&b, &tpl, 513, 7, 123456789012ull, 42);
		hf_bench_put_ack(&b, HFB_PUBREL, 9);
		n = hf_bench_frame(b.data + b.off, b.len - 1, &type, &flags,
		                   &body, &blen);
		ST_CHECK(n == (long)tpl.total);
		ST_CHECK(blen == tpl.total - 4); /* 3-byte remaining length */
		ST_CHECK(type == HFB_PUBLISH && flags == 4);
		ST_CHECK(hf_bench_get_publish(v, flags, body, blen, &p) == 0);
		ST_CHECK(p.qos == 2 && p.id == 513 && p.topic_len == 7 &&
		         !memcmp(p.topic, "bench/7", 7));
		ST_CHECK(p.payload_len == 200000);
		hf_bench_stamp_read(p.payload, &pub, &seq, &ts);
		ST_CHECK(pub == 7 && seq == 123456789012ull && ts == 42);
		hf_bench_buf_consume(&b, (size_t)n);
		n = hf_bench_frame(b.data + b.off, b.len, &type, &flags, &body,
		                   &blen);
		ST_CHECK(n == 4 && type == HFB_PUBREL && flags == 2);
		ST_CHECK(hf_bench_get_ack(body, blen, &id, &rc) == 0 &&
		         id == 9 && rc == 0);
		hf_bench_buf_consume(&b, (size_t)n);
		ST_CHECK(b.len == 0);
	}
	n = hf_bench_frame(connack, sizeof(connack), &type, &flags, &body,
	                   &blen);
	ST_CHECK(n == (long)sizeof(connack) && type == HFB_CONNACK);
	ST_CHECK(hf_bench_get_connack(5, body, blen, &rc, &rmax) == 0 &&
	         rc == 0 && rmax == 20);
	n = hf_bench_frame(suback5, sizeof(suback5), &type, &flags, &body,
	                   &blen);
	ST_CHECK(hf_bench_get_suback(5, body, blen, &id, &rc) == 0 && id == 1 &&
	         rc == 1);
	ST_CHECK(hf_bench_frame((const uint8_t *)"\x30\xff\xff\xff\xff\x01", 6,
	                        &type, &flags, &body, &blen) == -1);
	ST_CHECK(hf_bench_pub_template(&tpl, 4, "t", 0, 19) == -1);
	hf_bench_buf_free(&b);
	return 0;
}

/* Unframe wire[0..n) fed in pieces of `step` bytes; the MQTT stream goes
 * to data. Returns what hf_bench_ws_unwrap returned last. */
static int
ws_feed(struct hf_bench_ws_rx *rx, const uint8_t *wire, size_t n, size_t step,
        struct hf_bench_buf *data, struct hf_bench_buf *reply)
{
	struct hf_bench_buf in;
	char err[128];
	size_t i, k;
	int rc = 0;

	hf_bench_buf_init(&in, 16);
	for (i = 0; i < n && !rc; i += k) {
		k = n - i < step ? n - i : step;
		memcpy(hf_bench_buf_reserve(&in, k), wire + i, k);
		in.len += k;
		rc = hf_bench_ws_unwrap(rx, &in, data, reply, 0x01020304, err,
		                        sizeof(err));
	}
	hf_bench_buf_free(&in);
	return rc;
}

static int
test_ws(void)
{
	/* RFC 6455 4.2.2 / 1.3 example */
	static const char rfc_key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	/* RFC 6455 5.7: masked "Hello" (as a binary frame here), then the
	 * unmasked form split into two fragments, and an unmasked ping */
	static const uint8_t masked[] = {0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                                 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	static const uint8_t frags[] = {0x02, 0x03, 'H',  'e',  'l',  0x89,
	                                0x02, 'p',  'q',  0x80, 0x02, 'l',
	                                'o',  0x82, 0x00, 0x8a, 0x00};
	static const uint8_t text[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
	static const uint8_t close_f[] = {0x88, 0x02, 0x03, 0xe8,
	                                  0x82, 0x01, 'x'};
	struct hf_bench_buf b, d, r;
	struct hf_bench_ws_rx rx;
	struct hf_bench_tp tp;
	uint8_t big[70000], out[sizeof(big)];
	char acc[32], err[128];
	size_t i, step;

	hf_bench_ws_accept(rfc_key, acc);
	ST_CHECK(!strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	hf_bench_buf_init(&b, 16);
	hf_bench_buf_init(&d, 16);
	hf_bench_buf_init(&r, 16);
	hf_bench_ws_wrap(&b, HFB_WS_BINARY, (const uint8_t *)"Hello", 5,
	                 0x37fa213d);
	ST_CHECK(b.len == sizeof(masked) && !memcmp(b.data, masked, b.len));
	/* the three length encodings, masking across 8-byte strides */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	{
		static const size_t lens[] = {0,     1,     125,  126,
		                              65535, 65536, 70000};
		static const size_t hls[] = {6, 6, 6, 8, 8, 14, 14};

		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			size_t n = lens[i], j;
			const uint8_t *f;

			b.len = b.off = 0;
			hf_bench_ws_wrap(&b, HFB_WS_BINARY, big, n, 0xa1b2c3d4);
			ST_CHECK(b.len == hls[i] + n);
			f = b.data;
			ST_CHECK(f[0] == 0x82 && (f[1] & 0x80));
			ST_CHECK(
			    !memcmp(f + hls[i] - 4, "\xa1\xb2\xc3\xd4", 4));
			hf_bench_ws_mask(out, f + hls[i], n, 0xa1b2c3d4);
			ST_CHECK(!memcmp(out, big, n));
			for (j = 0; j < n; j += 997)
				ST_CHECK((f[hls[i] + j] ^ big[j]) ==
				         (uint8_t) "\xa1\xb2\xc3\xd4"[j & 3]);
		}
	}
	/* server side: unmasked frames, fed whole and byte by byte */
	for (step = 1; step <= sizeof(frags); step += sizeof(frags) - 1) {
		memset(&rx, 0, sizeof(rx));
		d.len = d.off = r.len = r.off = 0;
		ST_CHECK(ws_feed(&rx, frags, sizeof(frags), step, &d, &r) == 0);
		ST_CHECK(d.len == 5 && !memcmp(d.data + d.off, "Hello", 5));
		ST_CHECK(!rx.in_msg && !rx.left && !rx.closed);
		/* the ping in the middle of the message got a masked pong */
		ST_CHECK(r.len == 8 && r.data[0] == 0x8a && r.data[1] == 0x82);
		ST_CHECK(r.data[6] == ('p' ^ 0x01) &&
		         r.data[7] == ('q' ^ 0x02));
	}
	/* a large frame with a 64-bit length, byte by byte */
	b.len = b.off = 0;
	hf_bench_buf_reserve(&b, 10 + sizeof(big));
	b.data[0] = 0x82;
	b.data[1] = 127;
	memset(b.data + 2, 0, 8);
	b.data[7] = (uint8_t)(sizeof(big) >> 16);
	b.data[8] = (uint8_t)(sizeof(big) >> 8);
	b.data[9] = (uint8_t)sizeof(big);
	memcpy(b.data + 10, big, sizeof(big));
	memset(&rx, 0, sizeof(rx));
	d.len = d.off = 0;
	ST_CHECK(ws_feed(&rx, b.data, 10 + sizeof(big), 1000, &d, &r) == 0);
	ST_CHECK(d.len == sizeof(big) && !memcmp(d.data + d.off, big, d.len));
	/* text frames are refused [MQTT-6.0.0-1]; so are masked ones */
	memset(&rx, 0, sizeof(rx));
	ST_CHECK(ws_feed(&rx, text, sizeof(text), 64, &d, &r) == -1);
	memset(&rx, 0, sizeof(rx));
	ST_CHECK(ws_feed(&rx, masked, sizeof(masked), 64, &d, &r) == -1);
	/* close stops the parse and leaves what follows */
	memset(&rx, 0, sizeof(rx));
	d.len = d.off = 0;
	ST_CHECK(ws_feed(&rx, close_f, sizeof(close_f), 64, &d, &r) == 0);
	ST_CHECK(rx.closed && d.len == 0);
	/* handshake: request fields and the response check */
	memset(&tp, 0, sizeof(tp));
	b.len = b.off = 0;
	hf_bench_ws_request(&tp, &b, "127.0.0.1", 8080, "/mqtt");
	ST_CHECK(b.len > 0 && !memcmp(b.data, "GET /mqtt HTTP/1.1\r\n", 20));
	ST_CHECK(strlen(tp.accept) == 28);
	snprintf(tp.accept, sizeof(tp.accept), "%s",
	         "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	{
		static const char ok[] =
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "upgrade: WebSocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		    "Sec-WebSocket-Protocol: mqtt\r\n\r\n\x82";
		static const char bad[] =
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\n"
		    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp\r\n"
		    "\r\n";
		static const char refused[] = "HTTP/1.1 404 Not Found\r\n\r\n";
		const uint8_t *o = (const uint8_t *)ok;

		ST_CHECK(hf_bench_ws_response(&tp, o, sizeof(ok) - 3, err,
		                              sizeof(err)) == 0);
		ST_CHECK(hf_bench_ws_response(&tp, o, sizeof(ok) - 1, err,
		                              sizeof(err)) ==
		         (long)sizeof(ok) - 2);
		ST_CHECK(hf_bench_ws_response(&tp, (const uint8_t *)bad,
		                              sizeof(bad) - 1, err,
		                              sizeof(err)) == -1);
		ST_CHECK(hf_bench_ws_response(&tp, (const uint8_t *)refused,
		                              sizeof(refused) - 1, err,
		                              sizeof(err)) == -1);
	}
	hf_bench_buf_free(&b);
	hf_bench_buf_free(&d);
	hf_bench_buf_free(&r);
	return 0;
}

static int
self_test(void)
{
	if (test_hist() || test_seq() || test_proto() || test_ws())
		return 1;
	printf("hfbench self-test: OK\n");
	return 0;
}
