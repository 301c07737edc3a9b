/*
 * tools/soak/main.c - hfsoak: options, the population, the phases of a soak
 * run, the event loop, the per-second samples and the final tally (see
 * soak.h and README.md).
 *
 * Design: a run is a sequence of phases, each ended by a condition the
 * loop checks on every turn:
 *   setup  the checked subscribers, the transients and the slow subscriber
 *          connect and subscribe (their subscriptions must exist before
 *          the first publish, or the tally would expect too much);
 *   run    --seconds of traffic: publishers, idle connections and churners
 *          ramp up at --connect-rate; subscribers come and go; the slow
 *          subscriber stalls and trickles;
 *   stop   publishers send nothing new and finish their QoS exchanges;
 *          every checked subscriber comes back online;
 *   drain  wait until every checked subscriber has every acknowledged
 *          message and no QoS 2 exchange is open (or --drain-timeout);
 *   close  every client sends DISCONNECT; then the tally.
 * Once a second the loop samples the broker (VmRSS, VmHWM and CPU from
 * /proc, the store file's size and allocated bytes) and its own counters
 * into the CSV. Judging the memory curve is left to tools/soak/report.py,
 * which reads the CSV and the summary this program writes; judging the
 * messages is done here, where the ledger is.
 *
 * Threading/ownership: single-threaded; struct sk is main()'s and lives
 * until exit.
 */
#include "soak.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000ull
#define MS 1000000ull

#define SLOW_RATE   40.0 /* msg/s to the slow subscriber's topics */
#define SETUP_TMO   (120 * NS)
#define CLOSE_TMO_S 20

static const char *const phase_name[] = {"setup", "run",   "stop",
                                         "drain", "close", "done"};

uint64_t
sk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

double
sk_secs(const struct sk *k, uint64_t t)
{
	return t ? (double)(t - k->t0) / 1e9 : 0;
}

uint64_t
sk_rand(struct sk *k)
{
	/* xorshift64* */
	k->rng ^= k->rng >> 12;
	k->rng ^= k->rng << 25;
	k->rng ^= k->rng >> 27;
	return k->rng * 2685821657736338717ull;
}

double
sk_uniform(struct sk *k, double lo, double hi)
{
	if (hi <= lo)
		return lo;
	return lo +
	       (hi - lo) * ((double)(sk_rand(k) >> 11) / 9007199254740992.0);
}

void
sk_error(struct sk *k, uint64_t *counter, const char *fmt, ...)
{
	va_list ap;
	char buf[160];

	(*counter)++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (k->nerr < (int)(sizeof(k->errbuf) / sizeof(k->errbuf[0]))) {
		snprintf(k->errbuf[k->nerr++], sizeof(k->errbuf[0]), "%s", buf);
		fprintf(stderr, "hfsoak: [%.1f s] %s\n", sk_secs(k, sk_now()),
		        buf);
	}
}

/* ---- the deadline heap */

static void
heap_swap(struct sk *k, size_t a, size_t b)
{
	struct sk_client *t = k->heap[a];

	k->heap[a] = k->heap[b];
	k->heap[b] = t;
	k->heap[a]->heap_pos = a;
	k->heap[b]->heap_pos = b;
}

static void
heap_up(struct sk *k, size_t i)
{
	while (i && k->heap[(i - 1) / 2]->next_at > k->heap[i]->next_at) {
		heap_swap(k, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct sk *k, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < k->nheap && k->heap[l]->next_at < k->heap[m]->next_at)
			m = l;
		if (r < k->nheap && k->heap[r]->next_at < k->heap[m]->next_at)
			m = r;
		if (m == i)
			return;
		heap_swap(k, i, m);
		i = m;
	}
}

void
sk_sched(struct sk *k, struct sk_client *c, uint64_t at)
{
	if (c->heap_pos == SIZE_MAX) {
		c->heap_pos = k->nheap;
		k->heap[k->nheap++] = c;
		c->next_at = at;
		heap_up(k, c->heap_pos);
		return;
	}
	/* the earliest deadline wins, except from the tick itself, which
	 * parks the client at UINT64_MAX first */
	if (at >= c->next_at)
		return;
	c->next_at = at;
	heap_up(k, c->heap_pos);
}

static void
heap_park(struct sk *k, struct sk_client *c)
{
	c->next_at = UINT64_MAX;
	heap_down(k, c->heap_pos);
}

/* ---- options */

static void
usage(FILE *f)
{
	fprintf(f, "usage: hfsoak -p PORT [options]\n"
	           "  -h HOST              broker address (127.0.0.1)\n"
	           "  -p PORT              broker port\n"
	           "  --pid PID            broker process to sample\n"
	           "  --store FILE         store file to sample\n"
	           "  --csv FILE           per-second samples (soak.csv)\n"
	           "  --summary FILE       key=value results (soak.summary)\n"
	           "  --seconds S          length of the run phase (180)\n"
	           "  --clients N          simulated clients (10000)\n"
	           "  --rate R             total publish rate, msg/s "
	           "(clients/10)\n"
	           "  --max-queued N       the broker's max_queued_messages\n"
	           "  --max-queued-bytes N the broker's max_queued_bytes\n"
	           "  --max-inflight N     the broker's max_inflight_messages\n"
	           "  --connect-rate N     new connections per second (2000)\n"
	           "  --max-connecting N   handshakes at once (256)\n"
	           "  --drain-timeout S    wait for the final drain (180)\n"
	           "  --seed N             random seed (1)\n"
	           "  -v                   progress every 10 s\n"
	           "The caps must be the broker's: they bound how long a "
	           "subscriber may stay\n"
	           "offline (see tools/soak/README.md).\n");
}

static int
parse_args(struct sk_cfg *cfg, int argc, char **argv)
{
	enum {
		O_PID = 256,
		O_STORE,
		O_CSV,
		O_SUMMARY,
		O_SECONDS,
		O_CLIENTS,
		O_RATE,
		O_MAXQ,
		O_MAXQB,
		O_MAXI,
		O_CRATE,
		O_MAXC,
		O_DRAIN,
		O_SEED,
		O_HELP,
	};
	static const struct option opts[] = {
	    {"pid", required_argument, NULL, O_PID},
	    {"store", required_argument, NULL, O_STORE},
	    {"csv", required_argument, NULL, O_CSV},
	    {"summary", required_argument, NULL, O_SUMMARY},
	    {"seconds", required_argument, NULL, O_SECONDS},
	    {"clients", required_argument, NULL, O_CLIENTS},
	    {"rate", required_argument, NULL, O_RATE},
	    {"max-queued", required_argument, NULL, O_MAXQ},
	    {"max-queued-bytes", required_argument, NULL, O_MAXQB},
	    {"max-inflight", required_argument, NULL, O_MAXI},
	    {"connect-rate", required_argument, NULL, O_CRATE},
	    {"max-connecting", required_argument, NULL, O_MAXC},
	    {"drain-timeout", required_argument, NULL, O_DRAIN},
	    {"seed", required_argument, NULL, O_SEED},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int o;

	cfg->host = "127.0.0.1";
	cfg->csv = "soak.csv";
	cfg->summary = "soak.summary";
	cfg->seconds = 180;
	cfg->clients = 10000;
	cfg->max_queued = 1000;
	cfg->max_qbytes = 1024000;
	cfg->max_inflight = 20;
	cfg->connect_rate = 2000;
	cfg->max_connecting = 256;
	cfg->drain_timeout = 180;
	cfg->seed = 1;
	while ((o = getopt_long(argc, argv, "h:p:v", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			cfg->host = optarg;
			break;
		case 'p':
			cfg->port = atoi(optarg);
			break;
		case 'v':
			cfg->verbose = 1;
			break;
		case O_PID:
			cfg->pid = atoi(optarg);
			break;
		case O_STORE:
			cfg->store = optarg;
			break;
		case O_CSV:
			cfg->csv = optarg;
			break;
		case O_SUMMARY:
			cfg->summary = optarg;
			break;
		case O_SECONDS:
			cfg->seconds = atof(optarg);
			break;
		case O_CLIENTS:
			cfg->clients = atoi(optarg);
			break;
		case O_RATE:
			cfg->rate = atof(optarg);
			break;
		case O_MAXQ:
			cfg->max_queued = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case O_MAXQB:
			cfg->max_qbytes = strtoull(optarg, NULL, 10);
			break;
		case O_MAXI:
			cfg->max_inflight = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case O_CRATE:
			cfg->connect_rate = atoi(optarg);
			break;
		case O_MAXC:
			cfg->max_connecting = atoi(optarg);
			break;
		case O_DRAIN:
			cfg->drain_timeout = atof(optarg);
			break;
		case O_SEED:
			cfg->seed = strtoull(optarg, NULL, 10);
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || cfg->port <= 0 || cfg->port > 65535 ||
	    cfg->seconds < 5 || cfg->clients < 40 || cfg->max_queued < 50 ||
	    cfg->connect_rate < 1 || cfg->max_connecting < 1) {
		fprintf(stderr, "hfsoak: need -p PORT, --seconds >= 5, "
		                "--clients >= 40, --max-queued >= 50\n");
		usage(stderr);
		return -1;
	}
	if (!cfg->rate)
		cfg->rate = cfg->clients / 10.0;
	return 0;
}

/* ---- population */

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		perror("hfsoak: calloc");
		exit(1);
	}
	return p;
}

static size_t
pick_payload(struct sk *k)
{
	double r = sk_uniform(k, 0, 1);

	if (r < 0.7)
		return (size_t)sk_uniform(k, 32, 128);
	if (r < 0.95)
		return (size_t)sk_uniform(k, 128, 512);
	return (size_t)sk_uniform(k, 512, 2048);
}

static int
pick_qos(struct sk *k, double p0, double p1)
{
	double r = sk_uniform(k, 0, 1);

	return r < p0 ? 0 : r < p0 + p1 ? 1 : 2;
}

static void
init_pub(struct sk *k, struct sk_client *c, int version, int qos, double rate,
         size_t payload, const char *topic)
{
	struct sk_pub *p = xcalloc(1, sizeof(*p));

	c->pub = p;
	c->version = (uint8_t)version;
	c->clean = 0; /* persistent: refusals and resends resume */
	c->expiry = 86400;
	c->keepalive = 60;
	p->qos = qos;
	p->rate = rate;
	p->payload = payload;
	p->window = 8;
	p->next_id = 1;
	snprintf(p->topic, sizeof(p->topic), "%s", topic);
	if (hf_bench_pub_template(&p->tpl, version, topic, qos, payload)) {
		fprintf(stderr, "hfsoak: bad publish template\n");
		exit(1);
	}
}

/* Rates of QoS 1/2 messages and bytes a filter at qos brings. */
static void
filter_rates(const struct sk *k, const char *filter, int qos, double *msgs,
             double *bytes)
{
	*msgs = *bytes = 0;
	for (int i = 0; i < k->npubs; i++) {
		const struct sk_pub *p = k->pubs[i]->pub;

		if (p->qos && qos && sk_topic_match(filter, p->topic)) {
			*msgs += p->rate;
			*bytes += p->rate * (double)p->payload;
		}
	}
}

/*
 * A subscription for a subscriber that may stay offline up to off_max
 * seconds, so that its queue stays under 40 % of the caps: a whole group
 * (soak/gG/#) or one publisher's topic, QoS 0, 1 or 2. Sets max_off (what
 * its rates allow, at most off_max).
 */
static void
pick_filter(struct sk *k, struct sk_client *c, double off_min, double off_max)
{
	struct sk_sub *s = c->sub;
	int nreg = k->npubs - 4, groups = (nreg + 3) / 4;

	for (int tries = 0;; tries++) {
		double msgs, bytes, lim = off_max;

		if (tries < 50 && sk_uniform(k, 0, 1) < 0.6)
			snprintf(s->filter, sizeof(s->filter), "soak/g%d/#",
			         (int)(sk_rand(k) % (uint64_t)groups));
		else
			snprintf(
			    s->filter, sizeof(s->filter), "%s",
			    k->pubs[sk_rand(k) % (uint64_t)nreg]->pub->topic);
		s->qos = tries < 100 ? pick_qos(k, 0.1, 0.45) : 0;
		filter_rates(k, s->filter, s->qos, &msgs, &bytes);
		if (msgs > 0 && 0.4 * k->cfg.max_queued / msgs < lim)
			lim = 0.4 * k->cfg.max_queued / msgs;
		if (bytes > 0 && k->cfg.max_qbytes &&
		    0.4 * (double)k->cfg.max_qbytes / bytes < lim)
			lim = 0.4 * (double)k->cfg.max_qbytes / bytes;
		if (lim >= off_min) {
			s->max_off = lim;
			return;
		}
	}
}

/* Publishers: regular ones in groups of four (soak/gG/pI), then the four
 * of the slow subscriber's topics (soak/slow/pI). */
static void
publishers(struct sk *k)
{
	const struct sk_cfg *cfg = &k->cfg;
	int nreg;

	k->npubs = k->count[K_PUB];
	k->pubs = xcalloc((size_t)k->npubs, sizeof(*k->pubs));
	nreg = k->npubs - 4;
	for (int i = 0; i < k->npubs; i++) {
		struct sk_client *c = &k->c[k->first[K_PUB] + i];
		char topic[48];

		k->pubs[i] = c;
		if (i < nreg) {
			double rate = (cfg->rate - SLOW_RATE) / nreg;

			if (rate < 0.2)
				rate = 0.2;
			snprintf(topic, sizeof(topic), "soak/g%d/p%d", i / 4,
			         i);
			init_pub(k, c, c->version, pick_qos(k, 0.3, 0.4),
			         rate * sk_uniform(k, 0.5, 1.5),
			         pick_payload(k), topic);
			c->pub->group = i / 4;
			if (sk_uniform(k, 0, 1) < 0.1)
				c->pub->retain_every = 10;
		} else {
			/* v5 QoS 1, v5 QoS 1, v5 QoS 2, 3.1.1 QoS 1 */
			static const int ver[4] = {5, 5, 5, 4},
			                 qos[4] = {1, 1, 2, 1};
			static const double share[4] = {0.3, 0.3, 0.2, 0.2};
			int j = i - nreg;

			snprintf(topic, sizeof(topic), "soak/slow/p%d", i);
			init_pub(k, c, ver[j], qos[j], SLOW_RATE * share[j],
			         (size_t)sk_uniform(k, 100, 300), topic);
			c->pub->slow_topic = 1;
			c->pub->group = -1;
		}
	}
}

/* Everyone else: the subscribers of every kind, and the idle ones. */
static void
subscribers(struct sk *k, double off_long)
{
	/* Checked subscribers: persistent, never expire during the run. */
	for (int i = 0; i < k->count[K_SUB]; i++) {
		struct sk_client *c = &k->c[k->first[K_SUB] + i];

		c->sub = xcalloc(1, sizeof(*c->sub));
		c->checked = 1;
		c->clean = 0;
		c->expiry = 86400;
		pick_filter(k, c, 4, off_long);
		sk_ledger_streams(k, c);
	}
	/* Transients: v5 with a 10 s expiry they sometimes outlive (so the
	 * queue they can build is bounded by 10 s of traffic); 3.1.1 that
	 * now and then end their session with a clean connection. */
	for (int i = 0; i < k->count[K_TRANS]; i++) {
		struct sk_client *c = &k->c[k->first[K_TRANS] + i];

		c->sub = xcalloc(1, sizeof(*c->sub));
		c->clean = 0;
		c->expiry = c->version == 5 ? 10 : 0;
		if (c->version == 5)
			pick_filter(k, c, c->expiry + 2, c->expiry + 2);
		else
			pick_filter(k, c, 4, off_long);
	}
	/* Churners: clean sessions, any filter (nothing queues offline). */
	for (int i = 0; i < k->count[K_CHURN]; i++) {
		struct sk_client *c = &k->c[k->first[K_CHURN] + i];

		c->sub = xcalloc(1, sizeof(*c->sub));
		c->clean = 1;
		pick_filter(k, c, 0, off_long);
	}
	/* The slow subscriber: persistent QoS 1 on the slow topics. */
	{
		struct sk_client *c = &k->c[k->first[K_SLOW]];

		c->sub = xcalloc(1, sizeof(*c->sub));
		c->version = 5;
		c->checked = 1;
		c->clean = 0;
		c->expiry = 86400;
		snprintf(c->sub->filter, sizeof(c->sub->filter), "soak/slow/#");
		c->sub->qos = 1;
		sk_ledger_streams(k, c);
	}
	/* Idle: keepalive only; one in ten keeps a persistent session. */
	for (int i = 0; i < k->count[K_IDLE]; i++) {
		struct sk_client *c = &k->c[k->first[K_IDLE] + i];

		c->clean = sk_uniform(k, 0, 1) >= 0.1;
		c->expiry = c->clean ? 0 : 86400;
		c->keepalive = (uint16_t)sk_uniform(k, 20, 61);
	}
}

static void
population(struct sk *k)
{
	const struct sk_cfg *cfg = &k->cfg;
	int n = cfg->clients;
	int cnt[K_NKINDS], at = 0;
	double f = cfg->seconds < 180 ? cfg->seconds / 180 : 1;
	double off_long = 60 * f < 8 ? 8 : 60 * f;

	/* The slow subscriber reads normally 10-20 s and a trickle 20-40 s
	 * on a 3-minute run, shorter on a shorter one; it stalls 1-1.5 x
	 * long enough to fill its queue to the cap at the slow topics' rate
	 * (33-50 s with the default caps), so the broker has to refuse. */
	k->normal_s = 10 * f;
	k->trickle_s = 20 * f;
	k->stall_s = 1.3 * (cfg->max_queued + cfg->max_inflight) / SLOW_RATE;
	if (k->stall_s < 30 * f)
		k->stall_s = 30 * f;

	cnt[K_PUB] = n * 2 / 100 < 8 ? 8 : n * 2 / 100;
	cnt[K_SUB] = n * 5 / 100;
	cnt[K_TRANS] = n * 2 / 100;
	cnt[K_CHURN] = n * 5 / 100;
	cnt[K_SLOW] = 1;
	cnt[K_IDLE] = n - cnt[K_PUB] - cnt[K_SUB] - cnt[K_TRANS] -
	              cnt[K_CHURN] - cnt[K_SLOW];
	k->nclients = n;
	k->c = xcalloc((size_t)n, sizeof(*k->c));
	k->heap = xcalloc((size_t)n, sizeof(*k->heap));
	k->dirty = xcalloc((size_t)n, sizeof(*k->dirty));
	for (int kind = 0; kind < K_NKINDS; kind++) {
		static const char *const pfx[K_NKINDS] = {
		    "pub", "sub", "trans", "churn", "slow", "idle"};

		k->first[kind] = at;
		k->count[kind] = cnt[kind];
		for (int i = 0; i < cnt[kind]; i++, at++) {
			struct sk_client *c = &k->c[at];

			c->fd = -1;
			c->kind = (uint8_t)kind;
			c->idx = (uint32_t)i;
			c->heap_pos = SIZE_MAX;
			c->keepalive = 60;
			c->version = sk_rand(k) & 1 ? 5 : 4;
			snprintf(c->id, sizeof(c->id), "soak-%s-%d", pfx[kind],
			         i);
		}
	}

	publishers(k);
	subscribers(k, off_long);
}

/* ---- samples */

/* VmRSS, VmHWM, RssAnon and RssFile of a process in KiB (-1 if absent);
 * returns -1 when the process is gone. */
static int
proc_status(int pid, long kb[4])
{
	static const char *const keys[4] = {
	    "VmRSS:", "VmHWM:", "RssAnon:", "RssFile:"};
	char path[64], line[256];
	FILE *f;

	for (int i = 0; i < 4; i++)
		kb[i] = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		for (int i = 0; i < 4; i++)
			if (!strncmp(line, keys[i], strlen(keys[i])))
				kb[i] = atol(line + strlen(keys[i]));
	fclose(f);
	return kb[0] < 0 ? -1 : 0;
}

/* utime + stime of a process, seconds; -1 if unreadable. */
static double
proc_cpu(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	           &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double
self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static uint64_t
missing_total(const struct sk *k)
{
	uint64_t n = 0;

	for (int i = 0; i < k->nclients; i++)
		if (k->c[i].checked)
			n += sk_ledger_missing(k, &k->c[i]);
	return n;
}

static void
sample(struct sk *k, uint64_t now)
{
	struct sk_sample *s;
	struct stat sb;
	long long size = -1, alloc = -1;
	long kb[4] = {-1, -1, -1, -1};
	double bcpu = -1, dcpu = self_cpu(), dt;
	double bpct = -1, dpct;
	const struct sk_counters *a = &k->tot, *b = &k->last;
	int offline = 0;

	if (k->nsamples == k->capsamples) {
		k->capsamples = k->capsamples ? k->capsamples * 2 : 1024;
		k->samples =
		    realloc(k->samples, k->capsamples * sizeof(*k->samples));
		if (!k->samples) {
			perror("hfsoak: realloc");
			exit(1);
		}
	}
	s = &k->samples[k->nsamples++];
	s->t = sk_secs(k, now);
	s->phase = k->phase;
	if (k->cfg.pid && proc_status(k->cfg.pid, kb) < 0 && !k->sample_err) {
		k->sample_err = 1;
		fprintf(stderr, "hfsoak: [%.1f s] broker process %d is gone\n",
		        s->t, k->cfg.pid);
	}
	s->rss_kb = kb[0];
	s->hwm_kb = kb[1];
	s->connected = k->connected;
	if (k->cfg.store && stat(k->cfg.store, &sb) == 0) {
		size = (long long)sb.st_size;
		alloc = (long long)sb.st_blocks * 512;
	}
	dt = k->bcpu_at ? (double)(now - k->bcpu_at) / 1e9 : 0;
	if (k->cfg.pid)
		bcpu = proc_cpu(k->cfg.pid);
	if (dt > 0 && bcpu >= 0 && k->bcpu_last >= 0)
		bpct = 100 * (bcpu - k->bcpu_last) / dt;
	dpct = dt > 0 ? 100 * (dcpu - k->dcpu_last) / dt : 0;
	k->bcpu_last = bcpu;
	k->dcpu_last = dcpu;
	k->bcpu_at = now;
	for (int i = 0; i < k->nclients; i++)
		offline += k->c[i].want && k->c[i].fd < 0;
	fprintf(k->csv,
	        "%.1f,%s,%ld,%ld,%ld,%ld,%lld,%lld,%d,%d,%d,%llu,%llu,%llu,"
	        "%llu,%llu,%llu,%.1f,%.1f\n",
	        s->t, phase_name[k->phase], s->rss_kb, s->hwm_kb, kb[2], kb[3],
	        size, alloc, k->connected, k->connecting, offline,
	        (unsigned long long)(a->sent - b->sent),
	        (unsigned long long)(a->acked - b->acked),
	        (unsigned long long)(a->refused - b->refused),
	        (unsigned long long)(a->delivered - b->delivered),
	        (unsigned long long)(a->connects - b->connects),
	        (unsigned long long)(a->closes - b->closes), bpct, dpct);
	fflush(k->csv);
	if (k->cfg.verbose && k->nsamples % 10 == 0)
		fprintf(stderr,
		        "hfsoak: [%5.0f s] %-5s connected %d, rss %ld KiB, "
		        "%llu sent/s, %llu acked/s, %llu refused/s, %llu "
		        "delivered/s, broker cpu %.0f%%\n",
		        s->t, phase_name[k->phase], k->connected, s->rss_kb,
		        (unsigned long long)(a->sent - b->sent),
		        (unsigned long long)(a->acked - b->acked),
		        (unsigned long long)(a->refused - b->refused),
		        (unsigned long long)(a->delivered - b->delivered),
		        bpct);
	k->last = k->tot;
}

/* ---- phases */

static void
want_online(struct sk *k, struct sk_client *c, uint64_t at)
{
	c->want = 1;
	c->offline_until = at;
	sk_sched(k, c, at);
}

static int
all_subscribed(const struct sk *k)
{
	for (int kind = K_SUB; kind <= K_SLOW; kind++) {
		if (kind == K_CHURN)
			continue;
		for (int i = 0; i < k->count[kind]; i++) {
			const struct sk_client *c = &k->c[k->first[kind] + i];

			if (c->state != ST_READY || !c->sub->subacks)
				return 0;
		}
	}
	return 1;
}

static int
pubs_done(const struct sk *k)
{
	for (int i = 0; i < k->npubs; i++)
		if (k->pubs[i]->pub->nfl)
			return 0;
	return 1;
}

static int
drained(const struct sk *k)
{
	for (int i = 0; i < k->nclients; i++) {
		const struct sk_client *c = &k->c[i];

		if (!c->checked)
			continue;
		if (c->state != ST_READY || c->sub->nrec ||
		    sk_ledger_missing(k, c))
			return 0;
	}
	return 1;
}

static void
start_run(struct sk *k, uint64_t now)
{
	int n = 0;

	k->phase = PH_RUN;
	k->t_run = now;
	k->t_run_end = now + (uint64_t)(k->cfg.seconds * NS);
	for (int i = 0; i < k->npubs; i++) {
		struct sk_client *c = k->pubs[i];

		want_online(k, c, now + (uint64_t)i * MS);
		c->pub->next_at = now + NS;
	}
	/* idle connections and churners ramp up at the connection rate */
	for (int kind = K_CHURN; kind < K_NKINDS; kind++) {
		if (kind == K_SLOW)
			continue;
		for (int i = 0; i < k->count[kind]; i++, n++)
			want_online(k, &k->c[k->first[kind] + i],
			            now + (uint64_t)n * NS /
			                      (uint64_t)k->cfg.connect_rate);
	}
	/* the slow subscriber starts its reading modes */
	{
		struct sk_client *c = &k->c[k->first[K_SLOW]];

		c->slow_mode = SLOW_NORMAL;
		c->mode_until = now + (uint64_t)(sk_uniform(k, k->normal_s,
		                                            2 * k->normal_s) *
		                                 NS);
		sk_sched(k, c, now);
	}
	/* subscribers start coming and going */
	for (int kind = K_SUB; kind <= K_TRANS; kind++)
		for (int i = 0; i < k->count[kind]; i++) {
			struct sk_client *c = &k->c[k->first[kind] + i];

			c->online_until =
			    now + (uint64_t)(sk_uniform(k, 2, 30) * NS);
			sk_sched(k, c, c->online_until);
		}
	fprintf(stderr, "hfsoak: [%.1f s] run: %.0f s\n", sk_secs(k, now),
	        k->cfg.seconds);
}

static void
start_stop(struct sk *k, uint64_t now)
{
	k->phase = PH_STOP;
	k->t_stop = now;
	for (int i = 0; i < k->nclients; i++) {
		struct sk_client *c = &k->c[i];

		if (c->checked) {
			/* back at once, also those closing just now */
			c->online_until = 0;
			c->offline_until = now;
			if (c->fd < 0)
				want_online(k, c, now);
		} else if ((c->kind == K_TRANS || c->kind == K_CHURN) &&
		           c->fd < 0) {
			c->want = 0; /* they stay away */
		}
		sk_sched(k, c, now);
	}
	fprintf(stderr,
	        "hfsoak: [%.1f s] stop: publishers finish, subscribers "
	        "return\n",
	        sk_secs(k, now));
}

static void
start_close(struct sk *k, uint64_t now)
{
	k->phase = PH_CLOSE;
	k->t_close = now;
	for (int i = 0; i < k->nclients; i++) {
		struct sk_client *c = &k->c[i];

		c->want = 0;
		sk_client_leave(k, c, now);
	}
	fprintf(stderr, "hfsoak: [%.1f s] close: %d connections\n",
	        sk_secs(k, now), k->connected);
}

static void
phases(struct sk *k, uint64_t now)
{
	int ramped;

	switch (k->phase) {
	case PH_SETUP:
		if (all_subscribed(k)) {
			start_run(k, now);
		} else if (now - k->t0 > SETUP_TMO) {
			sk_error(k, &k->e_connect_fail,
			         "subscribers not all subscribed after %llu s",
			         (unsigned long long)(SETUP_TMO / NS));
			start_run(k, now);
		}
		break;
	case PH_RUN:
		if (!k->t_ramp_done) {
			ramped = 1;
			for (int i = 0; i < k->nclients && ramped; i++) {
				const struct sk_client *c = &k->c[i];

				if ((c->kind == K_IDLE || c->kind == K_PUB) &&
				    !c->connects)
					ramped = 0;
			}
			if (ramped && k->connecting == 0) {
				k->t_ramp_done = now;
				fprintf(stderr,
				        "hfsoak: [%.1f s] ramp done: %d "
				        "connected\n",
				        sk_secs(k, now), k->connected);
			}
		}
		if (now >= k->t_run_end)
			start_stop(k, now);
		break;
	case PH_STOP:
	case PH_DRAIN:
		/* at most 5 checks a second: each walks every bitmap */
		if (now < k->next_check)
			break;
		k->next_check = now + 200 * MS;
		if (k->phase == PH_STOP && pubs_done(k)) {
			k->phase = PH_DRAIN;
			k->t_drain = now;
			fprintf(stderr,
			        "hfsoak: [%.1f s] drain: %llu acknowledged "
			        "messages not yet received\n",
			        sk_secs(k, now),
			        (unsigned long long)missing_total(k));
		}
		if (k->phase == PH_DRAIN && drained(k)) {
			start_close(k, now);
		} else if (now - k->t_stop >
		           (uint64_t)(k->cfg.drain_timeout * NS)) {
			fprintf(stderr,
			        "hfsoak: [%.1f s] drain timed out after %.0f "
			        "s\n",
			        sk_secs(k, now), k->cfg.drain_timeout);
			start_close(k, now);
		}
		break;
	case PH_CLOSE:
		if ((k->connected == 0 && k->connecting == 0) ||
		    now - k->t_close > (uint64_t)CLOSE_TMO_S * NS)
			k->phase = PH_DONE;
		break;
	default:
		break;
	}
}

/* ---- summary */

static void
summary(struct sk *k, const struct sk_tally *t, int rc)
{
	FILE *f = fopen(k->cfg.summary, "w");
	uint64_t pubq[2][3] = {{0}}, subq[3] = {0}, subv[2] = {0};
	uint64_t sent_q[3] = {0}, acked_q[3] = {0}, refused_slow = 0;
	uint64_t refused_reg = 0, nomatch = 0, resent = 0, slow_acked = 0;
	uint64_t trans_v5 = 0, idle_persistent = 0;
	uint64_t errors;

	if (!f) {
		perror(k->cfg.summary);
		return;
	}
	for (int i = 0; i < k->npubs; i++) {
		const struct sk_client *c = k->pubs[i];
		const struct sk_pub *p = c->pub;

		pubq[c->version == 5][p->qos]++;
		sent_q[p->qos] += p->n_sent;
		acked_q[p->qos] += p->n_acked;
		nomatch += p->n_nomatch;
		resent += p->n_resent;
		if (p->slow_topic) {
			refused_slow += p->n_refused;
			slow_acked += p->n_acked;
		} else {
			refused_reg += p->n_refused;
		}
	}
	for (int i = 0; i < k->count[K_SUB]; i++) {
		const struct sk_client *c = &k->c[k->first[K_SUB] + i];

		subq[c->sub->qos]++;
		subv[c->version == 5]++;
	}
	for (int i = 0; i < k->count[K_TRANS]; i++)
		trans_v5 += k->c[k->first[K_TRANS] + i].version == 5;
	for (int i = 0; i < k->count[K_IDLE]; i++)
		idle_persistent += !k->c[k->first[K_IDLE] + i].clean;
	errors = k->e_unexpected_close + k->e_connect_fail + k->e_connack_rc +
	         k->e_suback_rc + k->e_ping_timeout + k->e_protocol +
	         k->e_session_lost + k->e_foreign + k->e_wrong_qos +
	         k->e_unexpected_topic + k->e_qos2_mismatch + k->e_expiry;
#define KV(key, fmt, val) fprintf(f, "%s=" fmt "\n", key, val)
#define KU(key, val)      KV(key, "%llu", (unsigned long long)(val))
	KU("clients", k->nclients);
	KU("publishers", k->count[K_PUB]);
	KU("publishers_v311_qos0", pubq[0][0]);
	KU("publishers_v311_qos1", pubq[0][1]);
	KU("publishers_v311_qos2", pubq[0][2]);
	KU("publishers_v5_qos0", pubq[1][0]);
	KU("publishers_v5_qos1", pubq[1][1]);
	KU("publishers_v5_qos2", pubq[1][2]);
	KU("subscribers", k->count[K_SUB]);
	KU("subscribers_v311", subv[0]);
	KU("subscribers_v5", subv[1]);
	KU("subscribers_qos0", subq[0]);
	KU("subscribers_qos1", subq[1]);
	KU("subscribers_qos2", subq[2]);
	KU("transients", k->count[K_TRANS]);
	KU("transients_v5", trans_v5);
	KU("churners", k->count[K_CHURN]);
	KU("slow", k->count[K_SLOW]);
	KU("idle", k->count[K_IDLE]);
	KU("idle_persistent", idle_persistent);
	KV("seconds", "%.0f", k->cfg.seconds);
	KV("rate_target", "%.0f", k->cfg.rate);
	KV("slow_rate", "%.0f", SLOW_RATE);
	KU("seed", k->cfg.seed);
	KV("t0_epoch", "%.3f", k->t0_epoch);
	KV("t_run", "%.1f", sk_secs(k, k->t_run));
	KV("t_ramp_done", "%.1f", sk_secs(k, k->t_ramp_done));
	KV("t_run_end", "%.1f", sk_secs(k, k->t_stop));
	KV("t_drain", "%.1f", sk_secs(k, k->t_drain));
	KV("t_close", "%.1f", sk_secs(k, k->t_close));
	KV("drain_s", "%.1f",
	   k->t_close && k->t_stop ? (double)(k->t_close - k->t_stop) / 1e9
	                           : -1.0);
	KU("sent", k->tot.sent);
	KU("sent_qos0", sent_q[0]);
	KU("sent_qos1", sent_q[1]);
	KU("sent_qos2", sent_q[2]);
	KU("acked", k->tot.acked);
	KU("acked_qos1", acked_q[1]);
	KU("acked_qos2", acked_q[2]);
	KU("acked_no_subscribers", nomatch);
	KU("refused", k->tot.refused);
	KU("refused_slow_topics", refused_slow);
	KU("refused_regular_topics", refused_reg);
	KU("acked_slow_topics", slow_acked);
	KU("v311_refusal_closes", k->v3_refusal_closes);
	KU("publisher_resends", resent);
	KU("delivered", k->tot.delivered);
	KU("connects", k->tot.connects);
	KU("closes", k->tot.closes);
	KU("transient_resumed", k->trans_resumed);
	KU("transient_expired", k->trans_expired);
	KU("transient_ended", k->trans_ended);
	KU("crashes_mid_exchange", k->crashes_mid);
	KU("crashes_no_publish", k->crashes_late);
	KU("slow_stalls", k->slow_stalls);
	KU("slow_trickles", k->slow_trickles);
	KU("expected", t->expected);
	KU("received", t->received);
	KU("lost", t->lost);
	KU("dup_qos2", t->dup_qos2);
	KU("dup_qos1", t->dup_qos1);
	KU("resent_qos2_ignored", k->resent_qos2);
	KU("refused_delivered", t->refused_delivered);
	KU("unacked_delivered", t->unacked_delivered);
	KU("reordered", t->reordered);
	KV("lost_example", "%s", t->example);
	KU("errors", errors);
	KU("e_unexpected_close", k->e_unexpected_close);
	KU("e_connect_fail", k->e_connect_fail);
	KU("e_connack_rc", k->e_connack_rc);
	KU("e_suback_rc", k->e_suback_rc);
	KU("e_ping_timeout", k->e_ping_timeout);
	KU("e_protocol", k->e_protocol);
	KU("e_session_lost", k->e_session_lost);
	KU("e_foreign", k->e_foreign);
	KU("e_wrong_qos", k->e_wrong_qos);
	KU("e_unexpected_topic", k->e_unexpected_topic);
	KU("e_qos2_mismatch", k->e_qos2_mismatch);
	KU("e_expiry", k->e_expiry);
	for (int i = 0; i < k->nerr; i++)
		fprintf(f, "error_%d=%s\n", i, k->errbuf[i]);
	KV("driver_cpu_s", "%.1f", self_cpu());
	KV("ledger", "%s", rc == 0 ? "pass" : "fail");
#undef KU
#undef KV
	fclose(f);
}

int
main(int argc, char **argv)
{
	static struct sk k;
	struct epoll_event evs[1024];
	struct sk_tally t;
	struct rlimit rl;
	uint64_t now;
	int rc;

	if (parse_args(&k.cfg, argc, argv) < 0)
		return 3;
	k.rng = k.cfg.seed * 0x9e3779b97f4a7c15ull + 1;
	k.addr.sin_family = AF_INET;
	k.addr.sin_port = htons((uint16_t)k.cfg.port);
	if (inet_pton(AF_INET, k.cfg.host, &k.addr.sin_addr) != 1) {
		fprintf(stderr, "hfsoak: -h takes an IPv4 address\n");
		return 3;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)k.cfg.clients + 64) {
			fprintf(stderr,
			        "hfsoak: open-file limit %llu is too low for "
			        "%d clients (ulimit -n)\n",
			        (unsigned long long)rl.rlim_cur, k.cfg.clients);
			return 3;
		}
	}
	if (!(k.csv = fopen(k.cfg.csv, "w"))) {
		perror(k.cfg.csv);
		return 3;
	}
	fprintf(k.csv, "t,phase,rss_kb,hwm_kb,rss_anon_kb,rss_file_kb,"
	               "store_bytes,store_alloc_bytes,"
	               "connected,connecting,offline,sent,acked,refused,"
	               "delivered,connects,closes,broker_cpu_pct,"
	               "driver_cpu_pct\n");
	k.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (k.epfd < 0) {
		perror("hfsoak: epoll_create1");
		return 1;
	}
	population(&k);
	k.t0 = now = sk_now();
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		k.t0_epoch = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	}
	k.conn_tokens_at = now;
	k.conn_tokens = 16;
	k.next_sample = now;
	k.bcpu_last = -1;
	fprintf(stderr,
	        "hfsoak: %d clients: %d publishers, %d subscribers, %d "
	        "transients, %d churners, 1 slow, %d idle; %.0f msg/s\n",
	        k.nclients, k.count[K_PUB], k.count[K_SUB], k.count[K_TRANS],
	        k.count[K_CHURN], k.count[K_IDLE], k.cfg.rate);
	/* setup: every subscriber whose subscription must predate the
	 * first publish */
	for (int kind = K_SUB; kind <= K_SLOW; kind++) {
		if (kind == K_CHURN)
			continue;
		for (int i = 0; i < k.count[kind]; i++)
			want_online(&k, &k.c[k.first[kind] + i], now);
	}
	while (k.phase != PH_DONE) {
		uint64_t wait_ns = 100 * MS;
		int n, ticks = 0;

		if (k.nheap && k.heap[0]->next_at < now + wait_ns)
			wait_ns = k.heap[0]->next_at > now
			              ? k.heap[0]->next_at - now
			              : 0;
		if (k.next_sample < now + wait_ns)
			wait_ns = k.next_sample > now ? k.next_sample - now : 0;
		n = epoll_wait(k.epfd, evs, 1024,
		               (int)((wait_ns + MS - 1) / MS));
		if (n < 0 && errno != EINTR) {
			perror("hfsoak: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct sk_client *c = evs[i].data.ptr;

			if (c->fd >= 0)
				sk_client_event(&k, c, evs[i].events);
		}
		now = sk_now();
		k.conn_tokens +=
		    (double)(now - k.conn_tokens_at) / 1e9 * k.cfg.connect_rate;
		if (k.conn_tokens > k.cfg.connect_rate / 20.0 + 1)
			k.conn_tokens = k.cfg.connect_rate / 20.0 + 1;
		k.conn_tokens_at = now;
		while (k.nheap && k.heap[0]->next_at <= now && ticks++ < 4096) {
			struct sk_client *c = k.heap[0];

			heap_park(&k, c);
			sk_client_tick(&k, c, now);
		}
		for (int i = 0; i < k.ndirty; i++)
			sk_client_flush(&k, k.dirty[i]);
		k.ndirty = 0;
		phases(&k, now);
		if (now >= k.next_sample) {
			sample(&k, now);
			k.next_sample += NS;
			if (k.next_sample < now)
				k.next_sample = now + NS;
		}
	}
	sample(&k, sk_now());
	fclose(k.csv);
	sk_ledger_tally(&k, &t);
	rc = t.lost || t.dup_qos2 ? 2 : 0;
	if (!rc &&
	    (k.e_unexpected_close || k.e_connect_fail || k.e_connack_rc ||
	     k.e_suback_rc || k.e_ping_timeout || k.e_protocol ||
	     k.e_session_lost || k.e_foreign || k.e_wrong_qos ||
	     k.e_unexpected_topic || k.e_qos2_mismatch || k.e_expiry ||
	     t.refused_delivered || !t.expected))
		rc = 1;
	summary(&k, &t, rc);
	fprintf(stderr,
	        "hfsoak: %llu sent, %llu acknowledged, %llu refused; checked "
	        "deliveries: %llu expected, %llu received, %llu lost, %llu "
	        "QoS 2 duplicated (%llu QoS 1 duplicates, allowed)%s%s\n",
	        (unsigned long long)k.tot.sent, (unsigned long long)k.tot.acked,
	        (unsigned long long)k.tot.refused,
	        (unsigned long long)t.expected, (unsigned long long)t.received,
	        (unsigned long long)t.lost, (unsigned long long)t.dup_qos2,
	        (unsigned long long)t.dup_qos1, t.example[0] ? "; first: " : "",
	        t.example);
	return rc;
}
