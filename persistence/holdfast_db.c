/* persistence/holdfast_db.c - holdfast-db, read-only inspection of a store.
 *
 *   holdfast-db [-d DIR] [-f FILE] [-n N] stats|sessions|subs|retained|check
 *   holdfast-db [-d DIR] [-f FILE] [-n N] queue CLIENTID
 *   holdfast-db -h | --help
 *
 * Opens the store through hf_store_open() with read_only set (MDB_RDONLY),
 * so it takes a snapshot and never blocks or disturbs a running broker.
 * `check` runs hf_store_check() and prints one line per violation and a
 * summary; its exit status is 0 when the store is consistent, 1 when it has
 * violations, 2 when it cannot be read (the other commands exit 1 on any
 * error).
 * Defaults match the broker's: directory "data", file "holdfast.db".
 * Client ids, filters and topics are printed with bytes outside printable
 * ASCII escaped as \xNN and cut after 200 bytes.
 *
 * Threading: single-threaded program; all state lives in main's frame. */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "holdfast/store.h"

#define SHOW_MAX 200

static void
show(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < SHOW_MAX; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			fputc(p[i], f);
		else
			fprintf(f, "\\x%02x", p[i]);
	}
	if (i < n)
		fprintf(f, "...(%zu bytes)", n);
}

static void
show_time(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40];

	if (ms == 0) {
		printf("%-20s", "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-20s", buf);
}

struct sess {
	uint64_t sid;
	uint8_t *cid;
	uint16_t cid_len;
	uint8_t proto;
	uint32_t expiry;
	int64_t disconnected_at;
	uint64_t nsubs;
};

struct sess_list {
	struct sess *v;
	size_t n, cap;
};

static int
collect_session(void *ctx, const struct hf_store_session *s)
{
	struct sess_list *l = ctx;
	struct sess *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct sess *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return HF_STORE_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	e->cid = malloc(s->client_id_len ? s->client_id_len : 1);
	if (!e->cid)
		return HF_STORE_ENOMEM;
	if (s->client_id_len)
		memcpy(e->cid, s->client_id, s->client_id_len);
	e->sid = s->sid;
	e->cid_len = s->client_id_len;
	e->proto = s->proto;
	e->expiry = s->expiry;
	e->disconnected_at = s->disconnected_at;
	l->n++;
	return 0;
}

/* Sessions come out in sid order, so the list is sorted. */
static struct sess *
find_sid(struct sess_list *l, uint64_t sid)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].sid == sid)
			return &l->v[mid];
		if (l->v[mid].sid < sid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
free_sessions(struct sess_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].cid);
	free(l->v);
}

static int
count_sub(void *ctx, const struct hf_store_sub *s)
{
	struct sess *e = find_sid(ctx, s->sid);

	if (e)
		e->nsubs++;
	return 0;
}

static int
print_sub(void *ctx, const struct hf_store_sub *s)
{
	struct sess *e = find_sid(ctx, s->sid);

	if (e)
		show(stdout, e->cid, e->cid_len);
	else
		printf("(sid %" PRIu64 ")", s->sid);
	printf("\t");
	show(stdout, s->filter, s->filter_len);
	printf("\tqos=%u opts=0x%02x sub_id=%" PRIu32 "\n", s->opts & 3u,
	       s->opts, s->sub_id);
	return 0;
}

static void
topic_cb(void *ctx, const struct hf_store_msg *m)
{
	show(stdout, m->topic, m->topic_len);
}

struct qctx {
	struct hf_store *st;
};

static int
print_qentry(void *ctx, const struct hf_store_qentry *e)
{
	struct qctx *q = ctx;
	int rc;

	printf("%-10" PRIu64 " %-10" PRIu64 " %-3u %-5u %-5u ", e->seq,
	       e->msg_id, e->qos, e->state, e->pid);
	rc = hf_store_msg_get(q->st, e->msg_id, topic_cb, NULL);
	if (rc == HF_STORE_ENOTFOUND)
		printf("(message missing)");
	else if (rc)
		printf("(unreadable: %s)", hf_store_errmsg(q->st));
	printf("\n");
	return 0;
}

static int
print_retained(void *ctx, const struct hf_store_msg *m)
{
	printf("%-8" PRIu32 " %-3u %-10" PRIu64 " ", m->payload_len, m->qos,
	       m->id);
	show(stdout, m->topic, m->topic_len);
	printf("\n");
	return 0;
}

static int
cmd_stats(struct hf_store *st, const struct hf_store_conf *conf)
{
	struct hf_store_stats s;
	char path[4096];
	struct stat sb;
	int rc = hf_store_stats(st, &s);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", conf->dir, conf->file);
	printf("file:            %s\n", path);
	if (stat(path, &sb) == 0)
		printf("file size:       %lld bytes\n", (long long)sb.st_size);
	printf("map size:        %" PRIu64 " bytes\n", s.map_size);
	printf("used:            %" PRIu64 " bytes\n", s.used_bytes);
	printf("sessions:        %" PRIu64 "\n", s.sessions);
	printf("subscriptions:   %" PRIu64 "\n", s.subs);
	printf("messages:        %" PRIu64 "\n", s.msgs);
	printf("queue entries:   %" PRIu64 "\n", s.queue_entries);
	printf("retained:        %" PRIu64 "\n", s.retained);
	printf("qos2 inbound:    %" PRIu64 "\n", s.qos2);
	return 0;
}

static int
cmd_sessions(struct hf_store *st, struct sess_list *l)
{
	int rc = hf_store_subs_each(st, count_sub, l);

	if (rc)
		return rc;
	printf("%-8s %-5s %-10s %-20s %-10s %-12s %-5s %s\n", "SID", "PROTO",
	       "EXPIRY", "DISCONNECTED-AT", "QUEUED", "BYTES", "SUBS",
	       "CLIENT-ID");
	for (size_t i = 0; i < l->n; i++) {
		struct sess *e = &l->v[i];
		uint64_t count, bytes, last;
		char exp[16];

		rc = hf_store_queue_stat(st, e->sid, &count, &bytes, &last);
		if (rc)
			return rc;
		if (e->expiry == UINT32_MAX)
			snprintf(exp, sizeof(exp), "never");
		else
			snprintf(exp, sizeof(exp), "%" PRIu32, e->expiry);
		printf("%-8" PRIu64 " %-5u %-10s ", e->sid, e->proto, exp);
		show_time(e->disconnected_at);
		printf(" %-10" PRIu64 " %-12" PRIu64 " %-5" PRIu64 " ", count,
		       bytes, e->nsubs);
		show(stdout, e->cid, e->cid_len);
		printf("\n");
	}
	return 0;
}

/* Undo show()'s escaping in place, so a client id can be given as
 * printed; returns the length. */
static size_t
unescape(char *s)
{
	size_t r = 0, w = 0;

	while (s[r]) {
		unsigned v;

		if (s[r] == '\\' && s[r + 1] == 'x' &&
		    isxdigit((unsigned char)s[r + 2]) &&
		    isxdigit((unsigned char)s[r + 3]) &&
		    sscanf(s + r + 2, "%2x", &v) == 1) {
			s[w++] = (char)v;
			r += 4;
		} else {
			s[w++] = s[r++];
		}
	}
	s[w] = '\0';
	return w;
}

static int
cmd_queue(struct hf_store *st, struct sess_list *l, char *cid, size_t max)
{
	struct qctx q = {st};
	size_t n = unescape(cid);
	uint64_t count, bytes, last;
	int rc;

	for (size_t i = 0; i < l->n; i++) {
		struct sess *e = &l->v[i];

		if (e->cid_len != n || memcmp(e->cid, cid, n))
			continue;
		rc = hf_store_queue_stat(st, e->sid, &count, &bytes, &last);
		if (rc)
			return rc;
		printf("session %" PRIu64 ": %" PRIu64 " entries, %" PRIu64
		       " payload bytes, last seq %" PRIu64 "\n",
		       e->sid, count, bytes, last);
		printf("%-10s %-10s %-3s %-5s %-5s %s\n", "SEQ", "MSG-ID",
		       "QOS", "STATE", "PID", "TOPIC");
		return hf_store_queue_each(st, e->sid, 0, max, print_qentry,
		                           &q);
	}
	fprintf(stderr, "holdfast-db: no session with client id ");
	show(stderr, (const uint8_t *)cid, n);
	fprintf(stderr, "\n");
	return 1;
}

static void
print_violation(void *ctx, const char *violation)
{
	printf("%s\n", violation);
}

/* Returns 0 (consistent), 1 (violations) or a negative store error. */
static int
cmd_check(struct hf_store *st)
{
	struct hf_store_check_counts n;
	char what[256];
	int rc = hf_store_check(st, print_violation, NULL, &n);

	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what),
	         "%" PRIu64 " sessions, %" PRIu64 " subscriptions, %" PRIu64
	         " messages, %" PRIu64 " queue entries, %" PRIu64
	         " retained, %" PRIu64 " qos2 ids",
	         n.sessions, n.subs, n.msgs, n.queue_entries, n.retained,
	         n.qos2);
	if (rc == 0) {
		printf("check: %s: OK\n", what);
		return 0;
	}
	printf("check: %d violation%s (%s)\n", rc, rc == 1 ? "" : "s", what);
	return 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: holdfast-db [-d DIR] [-f FILE] [-n N] COMMAND\n"
	           "       holdfast-db --help | --version\n"
	           "  -d DIR   store directory (default: data)\n"
	           "  -f FILE  store file inside DIR (default: holdfast.db)\n"
	           "  -n N     queue: show at most N entries (default: 50)\n"
	           "commands:\n"
	           "  stats            store size, map size, record counts\n"
	           "  sessions         persistent sessions\n"
	           "  subs             subscriptions of persistent sessions\n"
	           "  queue CLIENTID   first entries of a session's queue\n"
	           "  retained         retained messages\n"
	           "  check            verify every invariant of the store; "
	           "exit 0 when\n"
	           "                   consistent, 1 on violations, 2 when "
	           "unreadable\n"
	           "  -h, --help       print this help\n");
}

int
main(int argc, char **argv)
{
	struct hf_store_conf conf = {
	    .dir = "data",
	    .file = "holdfast.db",
	    .read_only = true,
	};
	struct sess_list l = {0};
	struct hf_store *st;
	const char *cmd;
	size_t max = 50;
	char err[1024];
	bool check;
	int opt, rc;

	/* getopt() knows no long options: --help among the options before
	 * the command. */
	for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			puts("holdfast-db version " HF_VERSION);
			return 0;
		}
		if (strchr("dfn", argv[i][1]) && argv[i][2] == '\0')
			i++; /* skip the option's argument */
	}
	while ((opt = getopt(argc, argv, "d:f:n:h")) != -1) {
		switch (opt) {
		case 'd':
			conf.dir = optarg;
			break;
		case 'f':
			conf.file = optarg;
			break;
		case 'n':
			max = (size_t)strtoull(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "stats") && strcmp(cmd, "sessions") &&
	    strcmp(cmd, "subs") && strcmp(cmd, "retained") &&
	    strcmp(cmd, "check") &&
	    (strcmp(cmd, "queue") || optind + 1 >= argc)) {
		usage(stderr);
		return 2;
	}
	check = !strcmp(cmd, "check");
	if (hf_store_open(&st, &conf, err, sizeof(err))) {
		fprintf(stderr, "holdfast-db: %s\n", err);
		return check ? 2 : 1;
	}
	if (check) {
		rc = cmd_check(st);
	} else if (!strcmp(cmd, "stats")) {
		rc = cmd_stats(st, &conf);
	} else if (!strcmp(cmd, "retained")) {
		printf("%-8s %-3s %-10s %s\n", "BYTES", "QOS", "MSG-ID",
		       "TOPIC");
		rc = hf_store_retained_each(st, print_retained, NULL);
	} else {
		rc = hf_store_sessions_each(st, collect_session, &l);
		if (!rc && !strcmp(cmd, "sessions"))
			rc = cmd_sessions(st, &l);
		else if (!rc && !strcmp(cmd, "subs")) {
			printf("CLIENT-ID\tFILTER\tOPTIONS\n");
			rc = hf_store_subs_each(st, print_sub, &l);
		} else if (!rc)
			rc = cmd_queue(st, &l, argv[optind + 1], max);
	}
	if (rc < 0)
		fprintf(stderr, "holdfast-db: %s\n", hf_store_errmsg(st));
	free_sessions(&l);
	hf_store_close(st);
	if (check && rc < 0)
		return 2;
	return rc ? 1 : 0;
}
