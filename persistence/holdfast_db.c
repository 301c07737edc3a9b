/* persistence/holdfast_db.c - holdfast-db, inspection of a store and the
 * import of a mosquitto database.
 *
 *   holdfast-db [-c CONF] [-d DIR] [-f FILE] [-n N] [--json] COMMAND
 *   COMMAND: stats | sessions | subs | retained | check | queue CLIENTID |
 *            bridges (needs -c) |
 *            import-mosquitto [--into-existing] MOSQUITTO_DB | help
 *
 * -c reads the broker's configuration with the broker's own parser
 * (broker/config.c) for persistence_location and persistence_file, so the
 * tool finds the store the broker uses; -d/-f after it override. --json
 * prints one JSON document per command, with stable keys, instead of the
 * aligned tables. The import is the one command that writes (see
 * mosq_import.h); it needs the broker stopped.
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
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "holdfast/store.h"
#include "mosq_import.h"

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
	bool first; /* JSON: no comma before the next element */
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

/* Output mode: aligned text for people, or one JSON document. */
static bool json;

/* A JSON string of arbitrary bytes: escapes what JSON requires and writes
 * bytes outside printable ASCII as \u00XX, so the document stays valid
 * whatever the client ids and topics hold. */
static void
jstr(const uint8_t *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			putchar(p[i]);
		else
			printf("\\u%04x", p[i]);
	}
	putchar('"');
}

static void
jcstr(const char *s)
{
	jstr((const uint8_t *)s, strlen(s));
}

static void
jtime(int64_t ms)
{
	if (ms == 0)
		printf("null");
	else
		printf("%" PRId64, ms);
}

static void
fmt_time(char *buf, size_t n, int64_t ms, const char *zero)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == 0) {
		snprintf(buf, n, "%s", zero);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

#define PREVIEW_TEXT 40
#define PREVIEW_HEX  16

/* A payload preview: the text when every byte is printable ASCII (or
 * tab/newline), else hex; cut after PREVIEW_TEXT characters or PREVIEW_HEX
 * bytes. Writes into buf (at least 64 bytes); returns true when cut. */
static bool
preview(const uint8_t *p, uint32_t n, char *buf, bool *hex)
{
	size_t i, w = 0;

	*hex = false;
	for (i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n') ||
		    p[i] >= 0x7f)
			*hex = true;
	if (*hex) {
		for (i = 0; i < n && i < PREVIEW_HEX; i++)
			w += (size_t)sprintf(buf + w, "%02x", p[i]);
	} else {
		for (i = 0; i < n && i < PREVIEW_TEXT; i++)
			buf[w++] =
			    p[i] == '\t' || p[i] == '\n' ? ' ' : (char)p[i];
	}
	buf[w] = '\0';
	return i < n;
}

static int
print_sub(void *ctx, const struct hf_store_sub *s)
{
	struct sess_list *l = ctx;
	struct sess *e = find_sid(l, s->sid);

	if (json) {
		printf("%s{\"client_id\":", l->first ? "" : ",");
		l->first = false;
		if (e)
			jstr(e->cid, e->cid_len);
		else
			printf("null");
		printf(",\"sid\":%" PRIu64 ",\"filter\":", s->sid);
		jstr(s->filter, s->filter_len);
		printf(",\"qos\":%u,\"options\":%u,\"sub_id\":%" PRIu32 "}",
		       s->opts & 3u, s->opts, s->sub_id);
		return 0;
	}
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

struct qctx {
	struct hf_store *st;
	const struct hf_store_qentry *e;
	bool first;
	int64_t oldest; /* stats: queued_at of the first entry */
	bool seen;
};

static const char *const state_name[] = {"queued", "sent", "pubrel"};

static void
qentry_msg(void *ctx, const struct hf_store_msg *m)
{
	struct qctx *q = ctx;
	const struct hf_store_qentry *e = q->e;
	char qat[32], exp[32], pv[64];
	bool hex, cut = preview(m->payload, m->payload_len, pv, &hex);

	if (json) {
		printf("%s{\"seq\":%" PRIu64 ",\"msg_id\":%" PRIu64
		       ",\"qos\":%u,\"state\":\"%s\",\"packet_id\":%u"
		       ",\"queued_at\":",
		       q->first ? "" : ",", e->seq, e->msg_id, e->qos,
		       state_name[e->state], e->pid);
		q->first = false;
		jtime(e->queued_at);
		printf(",\"expires_at\":");
		jtime(m->expiry_at);
		printf(",\"size\":%" PRIu32 ",\"topic\":", m->payload_len);
		jstr(m->topic, m->topic_len);
		printf(",\"preview\":");
		jcstr(pv);
		printf(",\"preview_encoding\":\"%s\",\"preview_truncated\":%s}",
		       hex ? "hex" : "text", cut ? "true" : "false");
		return;
	}
	fmt_time(qat, sizeof(qat), e->queued_at, "unknown");
	fmt_time(exp, sizeof(exp), m->expiry_at, "never");
	printf("%-8" PRIu64 " %-3u %-6s %-5u %-20s %-20s %-8" PRIu32 " ",
	       e->seq, e->qos, state_name[e->state], e->pid, qat, exp,
	       m->payload_len);
	show(stdout, m->topic, m->topic_len);
	printf("  %s%s%s\n", hex ? "hex:" : "\"", pv,
	       cut ? (hex ? "..." : "\"...") : (hex ? "" : "\""));
}

static int
print_qentry(void *ctx, const struct hf_store_qentry *e)
{
	struct qctx *q = ctx;
	int rc;

	q->e = e;
	rc = hf_store_msg_get(q->st, e->msg_id, qentry_msg, q);
	if (rc == HF_STORE_ENOTFOUND || rc) {
		const char *why = rc == HF_STORE_ENOTFOUND
		                      ? "message missing"
		                      : hf_store_errmsg(q->st);
		if (json) {
			printf("%s{\"seq\":%" PRIu64 ",\"msg_id\":%" PRIu64
			       ",\"error\":",
			       q->first ? "" : ",", e->seq, e->msg_id);
			jcstr(why);
			printf("}");
			q->first = false;
		} else {
			printf("%-8" PRIu64 " (%s)\n", e->seq, why);
		}
	}
	return 0;
}

static int
print_retained(void *ctx, const struct hf_store_msg *m)
{
	bool *first = ctx;
	char exp[32], pv[64];
	bool hex, cut = preview(m->payload, m->payload_len, pv, &hex);

	if (json) {
		printf("%s{\"msg_id\":%" PRIu64 ",\"qos\":%u,\"size\":%" PRIu32
		       ",\"expires_at\":",
		       *first ? "" : ",", m->id, m->qos, m->payload_len);
		*first = false;
		jtime(m->expiry_at);
		printf(",\"topic\":");
		jstr(m->topic, m->topic_len);
		printf(",\"preview\":");
		jcstr(pv);
		printf(",\"preview_encoding\":\"%s\",\"preview_truncated\":%s}",
		       hex ? "hex" : "text", cut ? "true" : "false");
		return 0;
	}
	fmt_time(exp, sizeof(exp), m->expiry_at, "never");
	printf("%-8" PRIu32 " %-3u %-10" PRIu64 " %-20s ", m->payload_len,
	       m->qos, m->id, exp);
	show(stdout, m->topic, m->topic_len);
	printf("  %s%s%s\n", hex ? "hex:" : "\"", pv,
	       cut ? (hex ? "..." : "\"...") : (hex ? "" : "\""));
	return 0;
}

static int
first_entry(void *ctx, const struct hf_store_qentry *e)
{
	struct qctx *q = ctx;

	q->oldest = e->queued_at;
	q->seen = true;
	return 0;
}

static int
cmd_stats(struct hf_store *st, const struct hf_store_conf *conf,
          struct sess_list *l)
{
	struct hf_store_stats s;
	char path[4096], when[32];
	struct stat sb;
	long long fsize = -1;
	int rc = hf_store_stats(st, &s);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", conf->dir, conf->file);
	if (stat(path, &sb) == 0)
		fsize = (long long)sb.st_size;
	if (json) {
		printf("{\"file\":");
		jcstr(path);
		printf(",\"file_size\":%lld,\"map_size\":%" PRIu64
		       ",\"used\":%" PRIu64 ",\"sessions\":%" PRIu64
		       ",\"subscriptions\":%" PRIu64 ",\"messages\":%" PRIu64
		       ",\"queue_entries\":%" PRIu64 ",\"retained\":%" PRIu64
		       ",\"qos2_inbound\":%" PRIu64 ",\"queues\":[",
		       fsize, s.map_size, s.used_bytes, s.sessions, s.subs,
		       s.msgs, s.queue_entries, s.retained, s.qos2);
	} else {
		printf("file:            %s\n", path);
		if (fsize >= 0)
			printf("file size:       %lld bytes\n", fsize);
		printf("map size:        %" PRIu64 " bytes\n", s.map_size);
		printf("used:            %" PRIu64 " bytes\n", s.used_bytes);
		printf("sessions:        %" PRIu64 "\n", s.sessions);
		printf("subscriptions:   %" PRIu64 "\n", s.subs);
		printf("messages:        %" PRIu64 "\n", s.msgs);
		printf("queue entries:   %" PRIu64 "\n", s.queue_entries);
		printf("retained:        %" PRIu64 "\n", s.retained);
		printf("qos2 inbound:    %" PRIu64 "\n", s.qos2);
		printf("\n%-10s %-12s %-20s %s\n", "QUEUED", "BYTES",
		       "OLDEST-QUEUED-AT", "CLIENT-ID");
	}
	for (size_t i = 0; i < l->n; i++) {
		struct sess *e = &l->v[i];
		struct qctx q = {.st = st};
		uint64_t count, bytes, last;

		if ((rc = hf_store_queue_stat(st, e->sid, &count, &bytes,
		                              &last)) ||
		    (rc = hf_store_queue_each(st, e->sid, 0, 1, first_entry,
		                              &q)))
			return rc;
		/* Entries are in seq order, so the first is the oldest. */
		if (json) {
			printf("%s{\"client_id\":", i ? "," : "");
			jstr(e->cid, e->cid_len);
			printf(",\"sid\":%" PRIu64 ",\"queued\":%" PRIu64
			       ",\"bytes\":%" PRIu64 ",\"oldest_queued_at\":",
			       e->sid, count, bytes);
			if (q.seen)
				jtime(q.oldest);
			else
				printf("null");
			printf(",\"oldest_known\":%s}",
			       q.seen && q.oldest ? "true" : "false");
			continue;
		}
		fmt_time(when, sizeof(when), q.oldest,
		         q.seen ? "unknown" : "-");
		printf("%-10" PRIu64 " %-12" PRIu64 " %-20s ", count, bytes,
		       when);
		show(stdout, e->cid, e->cid_len);
		printf("\n");
	}
	if (json)
		printf("]}\n");
	else
		printf(
		    "(\"unknown\": queued before store format 3, or imported "
		    "from mosquitto, which does not record it)\n");
	return 0;
}

static int
cmd_sessions(struct hf_store *st, struct sess_list *l)
{
	int rc = hf_store_subs_each(st, count_sub, l);

	if (rc)
		return rc;
	if (json)
		printf("{\"sessions\":[");
	else
		printf("%-8s %-5s %-10s %-20s %-10s %-12s %-5s %s\n", "SID",
		       "PROTO", "EXPIRY", "DISCONNECTED-AT", "QUEUED", "BYTES",
		       "SUBS", "CLIENT-ID");
	for (size_t i = 0; i < l->n; i++) {
		struct sess *e = &l->v[i];
		uint64_t count, bytes, last;
		char exp[16];

		rc = hf_store_queue_stat(st, e->sid, &count, &bytes, &last);
		if (rc)
			return rc;
		if (json) {
			printf("%s{\"sid\":%" PRIu64 ",\"client_id\":",
			       i ? "," : "", e->sid);
			jstr(e->cid, e->cid_len);
			printf(",\"proto\":%u,\"expiry\":", e->proto);
			if (e->expiry == UINT32_MAX)
				printf("null");
			else
				printf("%" PRIu32, e->expiry);
			printf(",\"disconnected_at\":");
			jtime(e->disconnected_at);
			printf(",\"queued\":%" PRIu64 ",\"bytes\":%" PRIu64
			       ",\"subs\":%" PRIu64 "}",
			       count, bytes, e->nsubs);
			continue;
		}
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
	if (json)
		printf("]}\n");
	return 0;
}

/* bridges: each `connection` of the configuration and its outbox (the
 * queue of its local session, local_clientid). */
static int
cmd_bridges(struct hf_store *st, struct sess_list *l,
            const struct hf_config *cf)
{
	if (json)
		printf("{\"bridges\":[");
	else
		printf("%-16s %-10s %-12s %-20s %-24s %s\n", "BRIDGE", "OUTBOX",
		       "BYTES", "OLDEST-QUEUED-AT", "REMOTE",
		       "LOCAL-CLIENT-ID");
	for (size_t i = 0; i < cf->n_bridges; i++) {
		const struct hf_bridge_conf *bc = &cf->bridges[i];
		size_t idlen = strlen(bc->local_clientid);
		struct sess *e = NULL;
		for (size_t k = 0; k < l->n && !e; k++)
			if (l->v[k].cid_len == idlen &&
			    !memcmp(l->v[k].cid, bc->local_clientid, idlen))
				e = &l->v[k];
		uint64_t count = 0, bytes = 0, last = 0;
		struct qctx q = {.st = st};
		int rc;
		if (e && ((rc = hf_store_queue_stat(st, e->sid, &count, &bytes,
		                                    &last)) ||
		          (rc = hf_store_queue_each(st, e->sid, 0, 1,
		                                    first_entry, &q))))
			return rc;
		char remote[300];
		snprintf(remote, sizeof(remote), "%s:%u",
		         bc->n_addrs ? bc->addrs[0].host : "-",
		         bc->n_addrs ? bc->addrs[0].port : 0);
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			jcstr(bc->name);
			printf(",\"local_client_id\":");
			jcstr(bc->local_clientid);
			printf(",\"remote\":");
			jcstr(remote);
			printf(",\"stored\":%s,\"outbox\":%" PRIu64
			       ",\"bytes\":%" PRIu64 ",\"oldest_queued_at\":",
			       e ? "true" : "false", count, bytes);
			jtime(q.seen ? q.oldest : 0);
			printf("}");
			continue;
		}
		printf("%-16s %-10" PRIu64 " %-12" PRIu64 " ", bc->name, count,
		       bytes);
		show_time(q.seen ? q.oldest : 0);
		printf(" %-24s %s%s\n", remote, bc->local_clientid,
		       e ? "" : " (no session stored yet)");
	}
	if (json)
		printf("]}\n");
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
	struct qctx q = {st, NULL, true, 0, false};
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
		if (json) {
			printf("{\"client_id\":");
			jstr(e->cid, e->cid_len);
			printf(",\"sid\":%" PRIu64 ",\"queued\":%" PRIu64
			       ",\"bytes\":%" PRIu64 ",\"shown_max\":%zu"
			       ",\"entries\":[",
			       e->sid, count, bytes, max);
		} else {
			printf("session %" PRIu64 ": %" PRIu64
			       " entries, %" PRIu64 " payload bytes, last seq "
			       "%" PRIu64 "\n",
			       e->sid, count, bytes, last);
			printf("%-8s %-3s %-6s %-5s %-20s %-20s %-8s %s\n",
			       "SEQ", "QOS", "STATE", "PID", "QUEUED-AT",
			       "EXPIRES-AT", "SIZE", "TOPIC  PAYLOAD");
		}
		rc = hf_store_queue_each(st, e->sid, 0, max, print_qentry, &q);
		if (json && !rc)
			printf("]}\n");
		else if (!rc && count)
			printf("(QUEUED-AT \"unknown\": queued before store "
			       "format 3, or imported from mosquitto)\n");
		return rc;
	}
	fprintf(stderr, "holdfast-db: no session with client id ");
	show(stderr, (const uint8_t *)cid, n);
	fprintf(stderr, "\n");
	return 1;
}

struct vctx {
	bool first;
};

static void
print_violation(void *ctx, const char *violation)
{
	struct vctx *v = ctx;

	if (json) {
		printf("%s", v->first ? "" : ",");
		jcstr(violation);
		v->first = false;
	} else {
		printf("%s\n", violation);
	}
}

/* Returns 0 (consistent), 1 (violations) or a negative store error. */
static int
cmd_check(struct hf_store *st)
{
	struct hf_store_check_counts n;
	struct vctx v = {true};
	char what[256];
	int rc;

	if (json)
		printf("{\"violations\":[");
	rc = hf_store_check(st, print_violation, &v, &n);
	if (rc < 0) {
		if (json)
			printf("],\"error\":true}\n");
		return rc;
	}
	if (json) {
		printf("],\"ok\":%s,\"sessions\":%" PRIu64
		       ",\"subscriptions\":%" PRIu64 ",\"messages\":%" PRIu64
		       ",\"queue_entries\":%" PRIu64 ",\"retained\":%" PRIu64
		       ",\"qos2\":%" PRIu64 "}\n",
		       rc ? "false" : "true", n.sessions, n.subs, n.msgs,
		       n.queue_entries, n.retained, n.qos2);
		return rc ? 1 : 0;
	}
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

/* ---- import-mosquitto ---------------------------------------------- */

struct taken {
	struct sess_list *l;
	struct hf_store *st;
	const uint8_t *topic;
	size_t topic_len;
	bool hit;
};

static int
retained_topic(void *ctx, const struct hf_store_msg *m)
{
	struct taken *t = ctx;

	if (m->topic_len == t->topic_len &&
	    !memcmp(m->topic, t->topic, t->topic_len)) {
		t->hit = true;
		return 1;
	}
	return 0;
}

static bool
is_taken(void *ctx, int kind, const uint8_t *p, size_t n)
{
	struct taken *t = ctx;

	if (kind == 0) {
		for (size_t i = 0; i < t->l->n; i++)
			if (t->l->v[i].cid_len == n &&
			    !memcmp(t->l->v[i].cid, p, n))
				return true;
		return false;
	}
	t->topic = p;
	t->topic_len = n;
	t->hit = false;
	(void)hf_store_retained_each(t->st, retained_topic, t);
	return t->hit;
}

static uint8_t *
slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) || !(b = malloc((size_t)n + 1)) ||
	    fread(b, 1, (size_t)n, f) != (size_t)n) {
		snprintf(err, errlen, "%s: %s", path,
		         b ? "read error" : strerror(errno));
		free(b);
		if (f)
			fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

static int
cmd_import(const struct hf_store_conf *conf, const char *file, bool existing)
{
	struct hf_store_conf wc = *conf;
	struct hf_mq_db db;
	struct hf_mq_report r;
	struct hf_store_stats s;
	struct sess_list l = {0};
	struct hf_store *st = NULL;
	uint64_t max_sid = 0, max_mid = 0;
	struct timespec ts;
	char err[1024];
	size_t len;
	uint8_t *buf = slurp(file, &len, err, sizeof(err));
	int rc = 1;

	if (!buf) {
		fprintf(stderr, "holdfast-db: %s\n", err);
		return 1;
	}
	if (hf_mq_parse(buf, len, &db, err, sizeof(err))) {
		fprintf(stderr, "holdfast-db: %s: %s\n", file, err);
		free(buf);
		return 1;
	}
	wc.read_only = false;
	if (hf_store_open(&st, &wc, err, sizeof(err))) {
		fprintf(stderr, "holdfast-db: %s\n", err);
		goto out;
	}
	if (hf_store_stats(st, &s) ||
	    hf_store_sessions_each(st, collect_session, &l) ||
	    hf_store_max_ids(st, &max_sid, &max_mid)) {
		fprintf(stderr, "holdfast-db: %s\n", hf_store_errmsg(st));
		goto out;
	}
	if (!existing && (s.sessions || s.msgs || s.retained)) {
		fprintf(stderr,
		        "holdfast-db: the store %s/%s is not empty (%" PRIu64
		        " sessions, %" PRIu64 " messages); import into a new "
		        "store, or add --into-existing\n",
		        wc.dir, wc.file, s.sessions, s.msgs);
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	struct taken t = {&l, st, NULL, 0, false};
	if (hf_mq_import(st, &db, max_sid, max_mid,
	                 (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	                 is_taken, &t, &r, err, sizeof(err))) {
		fprintf(stderr, "holdfast-db: %s: %s (nothing imported)\n",
		        file, err);
		hf_store_abort(st);
		goto out;
	}
	if (hf_store_commit(st)) {
		fprintf(stderr, "holdfast-db: %s (nothing imported)\n",
		        hf_store_errmsg(st));
		goto out;
	}
	if (json) {
		printf("{\"sessions\":%" PRIu64 ",\"subscriptions\":%" PRIu64
		       ",\"messages\":%" PRIu64 ",\"queue_entries\":%" PRIu64
		       ",\"retained\":%" PRIu64 ",\"skipped\":{"
		       "\"inbound_qos2\":%" PRIu64 ",\"subscriptions\":%" PRIu64
		       ",\"client_messages\":%" PRIu64
		       ",\"unused_messages\":%" PRIu64 "}}\n",
		       r.sessions, r.subs, r.msgs, r.queued, r.retained,
		       r.skipped_inbound, r.skipped_subs, r.skipped_cmsgs,
		       r.skipped_unused);
	} else {
		printf("imported %s into %s/%s:\n", file, wc.dir, wc.file);
		printf("  sessions:          %" PRIu64 "\n", r.sessions);
		printf("  subscriptions:     %" PRIu64 "\n", r.subs);
		printf("  messages:          %" PRIu64 "\n", r.msgs);
		printf("  queue entries:     %" PRIu64 "\n", r.queued);
		printf("  retained:          %" PRIu64 "\n", r.retained);
		printf("not carried over:\n");
		printf("  inbound QoS 2 messages awaiting PUBREL: %" PRIu64
		       "\n",
		       r.skipped_inbound);
		printf("  subscriptions of clients without a session: %" PRIu64
		       "\n",
		       r.skipped_subs);
		printf("  messages for clients without a session: %" PRIu64
		       "\n",
		       r.skipped_cmsgs);
		printf("  stored messages nothing refers to: %" PRIu64 "\n",
		       r.skipped_unused);
	}
	if (r.skipped_inbound)
		fprintf(stderr,
		        "holdfast-db: warning: %" PRIu64 " inbound QoS 2 "
		        "message(s) that mosquitto had PUBREC'd but not yet "
		        "delivered were not imported\n",
		        r.skipped_inbound);
	rc = 0;
out:
	free_sessions(&l);
	hf_store_close(st);
	hf_mq_free(&db);
	free(buf);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: holdfast-db [OPTIONS] COMMAND [ARG]\n"
	        "options:\n"
	        "  -c FILE  read persistence_location and persistence_file "
	        "from the\n"
	        "           broker's configuration file\n"
	        "  -d DIR   store directory (default: data)\n"
	        "  -f FILE  store file inside DIR (default: holdfast.db)\n"
	        "  -n N     queue: show at most N entries (default: 50)\n"
	        "  --json   print one JSON document instead of tables\n"
	        "  --into-existing  import-mosquitto: allow a non-empty store\n"
	        "  -h, --help       print this help\n"
	        "  --version        print the version\n"
	        "commands:\n"
	        "  stats            sizes, record counts, oldest queued "
	        "message per session\n"
	        "  sessions         persistent sessions\n"
	        "  subs             subscriptions of persistent sessions\n"
	        "  queue CLIENTID   a session's queue: queued at, expiry, "
	        "size, preview\n"
	        "  retained         retained messages\n"
	        "  bridges          each bridge of the -c configuration and "
	        "its outbox\n"
	        "  check            verify every invariant of the store; "
	        "exit 0 when\n"
	        "                   consistent, 1 on violations, 2 when "
	        "unreadable\n"
	        "  import-mosquitto MOSQUITTO_DB\n"
	        "                   import a mosquitto 2.0 mosquitto.db into "
	        "an empty\n"
	        "                   store (stop the broker first)\n"
	        "  help             print this help\n");
}

static int
bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "holdfast-db: %s%s%s\n", what, arg ? ": " : "",
	        arg ? arg : "");
	usage(stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	struct hf_store_conf conf = {
	    .dir = "data",
	    .file = "holdfast.db",
	    .read_only = true,
	};
	struct hf_config cf;
	struct sess_list l = {0};
	struct hf_store *st;
	const char *pos[3] = {NULL, NULL, NULL};
	const char *dir = NULL, *file = NULL, *cfile = NULL;
	size_t npos = 0, max = 50;
	bool existing = false, check, have_cf = false;
	char err[1024];
	int rc;

	/* Options may come before or after the command. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			puts("holdfast-db version " HF_VERSION);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--into-existing")) {
			existing = true;
		} else if (!strcmp(a, "-c") || !strcmp(a, "-d") ||
		           !strcmp(a, "-f") || !strcmp(a, "-n")) {
			if (i + 1 >= argc)
				return bad_usage("option needs a value", a);
			if (a[1] == 'c')
				cfile = argv[++i];
			else if (a[1] == 'd')
				dir = argv[++i];
			else if (a[1] == 'f')
				file = argv[++i];
			else {
				char *end;
				unsigned long long v =
				    strtoull(argv[++i], &end, 10);
				if (*argv[i] == '\0' || *end || v == 0)
					return bad_usage("-n needs a positive "
					                 "number",
					                 argv[i]);
				max = (size_t)v;
			}
		} else if (a[0] == '-' && a[1] != '\0') {
			return bad_usage("unknown option", a);
		} else if (npos < 3) {
			pos[npos++] = a;
		} else {
			return bad_usage("too many arguments", a);
		}
	}
	if (npos == 0)
		return bad_usage("no command", NULL);
	if (!strcmp(pos[0], "help")) {
		if (npos > 1)
			return bad_usage("too many arguments", pos[1]);
		usage(stdout);
		return 0;
	}
	bool needs_arg =
	    !strcmp(pos[0], "queue") || !strcmp(pos[0], "import-mosquitto");
	if (strcmp(pos[0], "stats") && strcmp(pos[0], "sessions") &&
	    strcmp(pos[0], "subs") && strcmp(pos[0], "retained") &&
	    strcmp(pos[0], "check") && strcmp(pos[0], "bridges") && !needs_arg)
		return bad_usage("unknown command", pos[0]);
	if (needs_arg && npos != 2)
		return bad_usage(npos < 2 ? "missing argument for"
		                          : "too many arguments for",
		                 pos[0]);
	if (!needs_arg && npos != 1)
		return bad_usage("too many arguments", pos[1]);
	if (existing && strcmp(pos[0], "import-mosquitto"))
		return bad_usage("--into-existing is for import-mosquitto",
		                 NULL);
	check = !strcmp(pos[0], "check");
	if (!strcmp(pos[0], "bridges") && !cfile)
		return bad_usage(
		    "bridges needs -c CONF (the bridges are in the "
		    "configuration)",
		    NULL);
	if (cfile) {
		if (hf_config_init(&cf)) {
			fprintf(stderr, "holdfast-db: out of memory\n");
			return 1;
		}
		have_cf = true;
		/* finish too: a bridge's remote and local client ids are
		 * derived there when not set (NAME.HOSTNAME and local.ID),
		 * and `bridges` looks the session up by the local one (it
		 * was NULL, and strlen() crashed, without this). */
		if (hf_config_load(&cf, cfile, err, sizeof(err)) ||
		    hf_config_finish(&cf, err, sizeof(err))) {
			fprintf(stderr, "holdfast-db: %s\n", err);
			hf_config_free(&cf);
			return check ? 2 : 1;
		}
		conf.dir = cf.persistence_location;
		conf.file = cf.persistence_file;
		conf.initial_map_size = cf.persistence_initial_size;
		conf.max_map_size = cf.persistence_max_size;
		if (!cf.persistence)
			fprintf(stderr,
			        "holdfast-db: note: %s has persistence "
			        "false; using %s/%s anyway\n",
			        cfile, conf.dir, conf.file);
	}
	if (dir)
		conf.dir = dir;
	if (file)
		conf.file = file;
	if (!strcmp(pos[0], "import-mosquitto")) {
		rc = cmd_import(&conf, pos[1], existing);
		if (have_cf)
			hf_config_free(&cf);
		return rc;
	}
	if (hf_store_open(&st, &conf, err, sizeof(err))) {
		fprintf(stderr, "holdfast-db: %s\n", err);
		if (have_cf)
			hf_config_free(&cf);
		return check ? 2 : 1;
	}
	if (check) {
		rc = cmd_check(st);
	} else if (!strcmp(pos[0], "retained")) {
		bool first = true;

		if (json)
			printf("{\"retained\":[");
		else
			printf("%-8s %-3s %-10s %-20s %s\n", "BYTES", "QOS",
			       "MSG-ID", "EXPIRES-AT", "TOPIC  PAYLOAD");
		rc = hf_store_retained_each(st, print_retained, &first);
		if (json && !rc)
			printf("]}\n");
	} else {
		rc = hf_store_sessions_each(st, collect_session, &l);
		if (!rc && !strcmp(pos[0], "stats"))
			rc = cmd_stats(st, &conf, &l);
		else if (!rc && !strcmp(pos[0], "sessions"))
			rc = cmd_sessions(st, &l);
		else if (!rc && !strcmp(pos[0], "bridges"))
			rc = cmd_bridges(st, &l, &cf);
		else if (!rc && !strcmp(pos[0], "subs")) {
			l.first = true;
			if (json)
				printf("{\"subscriptions\":[");
			else
				printf("CLIENT-ID\tFILTER\tOPTIONS\n");
			rc = hf_store_subs_each(st, print_sub, &l);
			if (json && !rc)
				printf("]}\n");
		} else if (!rc) {
			char *cid = strdup(pos[1]);

			rc = cid ? cmd_queue(st, &l, cid, max) : 1;
			free(cid);
		}
	}
	if (rc < 0)
		fprintf(stderr, "holdfast-db: %s\n", hf_store_errmsg(st));
	free_sessions(&l);
	hf_store_close(st);
	if (have_cf)
		hf_config_free(&cf);
	if (check && rc < 0)
		return 2;
	return rc ? 1 : 0;
}
