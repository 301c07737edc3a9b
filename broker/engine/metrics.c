/* broker/engine/metrics.c - the engine's counters as /metrics text and
 * /health reasons (see metrics.h for why everything is kept as events
 * happen).
 *
 * The text is Prometheus' exposition format 0.0.4: for each family a
 * "# HELP" and a "# TYPE" line, then samples; names are holdfast_*, in
 * base units (seconds, bytes), counters end in _total, histograms give
 * cumulative _bucket{le=...} lines ending with le="+Inf", then _sum and
 * _count. Writing it costs the same whatever the number of clients,
 * sessions or messages: a fixed list of numbers.
 *
 * Loop thread only. */
#define _GNU_SOURCE /* mallinfo2 */
#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
/* ASan's allocator statistics (sanitizer/allocator_interface.h, which
 * Debian ships with the compiler's runtime, not always as a header). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "holdfast/store.h"
#include "bridge.h"
#include "broker.h"
#include "durable.h"
#include "metrics.h"

/* Live: the 1 s tick and the store must have answered within this. */
#define LIVE_WINDOW_MS 5000

static const double secs_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                 0.005,  0.01,    0.025,  0.05,  0.1,
                                 0.25,   0.5,     1,      2.5,   5};
static const double count_le[] = {1,   2,   4,   8,    16,   32,  64,
                                  128, 256, 512, 1024, 2048, 4096};

static void
hist_init(struct hf_hist *h, const double *le, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->le = le;
	h->n = n < HF_HIST_MAX ? n : HF_HIST_MAX;
}

void
hf_metrics_init(struct hf_metrics *m)
{
	size_t ns = sizeof(secs_le) / sizeof(secs_le[0]);
	hist_init(&m->commit_seconds, secs_le, ns);
	hist_init(&m->ack_seconds, secs_le, ns);
	hist_init(&m->msgs_per_commit, count_le,
	          sizeof(count_le) / sizeof(count_le[0]));
}

void
hf_hist_observe(struct hf_hist *h, double v)
{
	size_t i = 0;
	while (i < h->n && v > h->le[i])
		i++;
	if (i < h->n)
		h->bucket[i]++;
	else
		h->inf++;
	h->count++;
	h->sum += v;
}

/* ---- events -------------------------------------------------------------- */

void
hf_metrics_drop(struct hf_broker *b, enum hf_drop why)
{
	b->stats.pub_dropped++;
	b->m.dropped[why]++;
}

void
hf_metrics_queued(struct hf_session *s, uint64_t n, uint64_t bytes)
{
	struct hf_metrics *m = &s->b->m;
	/* Unsigned wrap-around makes "minus old plus new" exact. */
	m->queued = m->queued - s->n_queued + n;
	m->queued_bytes = m->queued_bytes - s->queued_bytes + bytes;
	s->n_queued = (uint32_t)n;
	s->queued_bytes = bytes;
}

void
hf_metrics_inflight(struct hf_session *s, uint64_t n, uint64_t bytes)
{
	struct hf_metrics *m = &s->b->m;
	m->inflight = m->inflight - s->n_inflight + n;
	m->inflight_bytes = m->inflight_bytes - s->inflight_bytes + bytes;
	s->n_inflight = (uint32_t)n;
	s->inflight_bytes = bytes;
}

void
hf_metrics_pub_in(struct hf_broker *b, uint8_t qos, uint32_t len)
{
	uint8_t q = qos > 2 ? 2 : qos;
	b->stats.msgs_received++;
	b->m.msgs_in[q]++;
	b->m.bytes_in[q] += len;
}

void
hf_metrics_pub_out(struct hf_broker *b, uint8_t qos, uint32_t len)
{
	uint8_t q = qos > 2 ? 2 : qos;
	b->stats.msgs_sent++;
	b->m.msgs_out[q]++;
	b->m.bytes_out[q] += len;
}

void
hf_metrics_ack_queued(struct hf_broker *b)
{
	struct hf_metrics *m = &b->m;
	uint64_t now = uv_hrtime();
	if (m->n_ack_wait < HF_ACK_WAIT_MAX) {
		m->ack_wait[m->n_ack_wait++] = now;
		return;
	}
	if (!m->ack_over)
		m->ack_over_t = now;
	m->ack_over++;
}

void
hf_metrics_acks_released(struct hf_broker *b, bool lost)
{
	struct hf_metrics *m = &b->m;
	uint64_t now = uv_hrtime();
	if (!lost) {
		for (size_t i = 0; i < m->n_ack_wait; i++)
			hf_hist_observe(&m->ack_seconds,
			                (double)(now - m->ack_wait[i]) / 1e9);
		for (uint64_t i = 0; i < m->ack_over; i++)
			hf_hist_observe(&m->ack_seconds,
			                (double)(now - m->ack_over_t) / 1e9);
	}
	m->n_ack_wait = 0;
	m->ack_over = 0;
}

static void
store_sizes(struct hf_broker *b)
{
	struct hf_store_stats st;
	if (hf_store_stats(b->store, &st) != 0)
		return;
	b->m.store_map = st.map_size;
	b->m.store_used = st.used_bytes;
	b->m.store_max = st.max_map_size;
	b->m.store_ok_ms = hf_now_ms(b);
}

void
hf_metrics_commit(struct hf_broker *b, bool ok, double seconds)
{
	struct hf_metrics *m = &b->m;
	if (!ok) {
		m->commit_failures++;
		m->turn_msgs = 0;
		return;
	}
	m->commits++;
	if (b->conf->persistence_sync == HF_SYNC_FULL)
		m->fsyncs++; /* LMDB syncs the data file in the commit */
	hf_hist_observe(&m->commit_seconds, seconds);
	hf_hist_observe(&m->msgs_per_commit, (double)m->turn_msgs);
	m->turn_msgs = 0;
	/* Used and maximum bytes follow in hf_dur_refresh_usage(), which
	 * asks the store anyway; the map size waits for the tick (no read
	 * transaction per commit). */
	m->store_ok_ms = hf_now_ms(b);
}

void
hf_metrics_tick(struct hf_broker *b)
{
	int64_t now = hf_now_ms(b);
	b->m.tick_ms = now;
	/* The store is asked once a second (a read transaction: cheap), for
	 * its sizes and so /health/live knows it answers when nothing is
	 * committed. */
	if (b->store)
		store_sizes(b);
}

uint64_t
hf_metrics_heap(struct hf_broker *b)
{
	/* glibc's own view: bytes handed out from the arenas plus mmapped
	 * blocks. mallinfo2 walks the free lists, so it is called on the
	 * $SYS tick only, never per event. Under AddressSanitizer glibc's
	 * malloc is not the one in use: ask ASan's allocator instead. */
#if defined(__SANITIZE_ADDRESS__)
	uint64_t cur = __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	uint64_t cur = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
#endif
	if (cur > b->m.heap_max)
		b->m.heap_max = cur;
	return cur;
}

/* ---- the exposition text --------------------------------------------------
 */

struct out {
	struct hf_wbuf *w;
	int err;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    hf_wbuf_put(o->w, line, (size_t)n) != 0)
		o->err = -1;
}

static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one(struct out *o, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	family(o, name, type, help);
	put(o, "%s %llu\n", name, v);
}

static void
by_qos(struct out *o, const char *name, const char *help, const uint64_t v[3])
{
	family(o, name, "counter", help);
	for (int q = 0; q < 3; q++)
		put(o, "%s{qos=\"%d\"} %llu\n", name, q,
		    (unsigned long long)v[q]);
}

static void
hist(struct out *o, const char *name, const char *help, const struct hf_hist *h)
{
	uint64_t cum = 0;
	family(o, name, "histogram", help);
	for (size_t i = 0; i < h->n; i++) {
		cum += h->bucket[i];
		put(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i],
		    (unsigned long long)cum);
	}
	put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)h->count);
	put(o, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
	    (unsigned long long)h->count);
}

static const char *const drop_names[HF_DROP_COUNT] = {
    [HF_DROP_REJECTED] = "rejected",     [HF_DROP_ACL] = "acl",
    [HF_DROP_TOO_LARGE] = "too_large",   [HF_DROP_BACKLOG] = "backlog",
    [HF_DROP_QUEUE_FULL] = "queue_full", [HF_DROP_NOMEM] = "out_of_memory",
};

static void
clients(struct out *o, struct hf_broker *b)
{
	uint32_t on = b->n_clients_connected;
	one(o, "holdfast_connections", "gauge",
	    "Network connections of clients past CONNECT.", on);
	one(o, "holdfast_connections_pending", "gauge",
	    "Network connections waiting for their CONNECT.", b->n_clients_new);
	one(o, "holdfast_connections_accepted_total", "counter",
	    "Network connections handed to the engine.", b->m.sockets);
	one(o, "holdfast_clients_connected_total", "counter",
	    "CONNECTs accepted.", b->stats.connections_total);
	one(o, "holdfast_clients_maximum", "gauge",
	    "Most clients connected at once since start.",
	    b->stats.clients_max);
	family(o, "holdfast_sessions", "gauge",
	       "Sessions, online (a client attached) or offline.");
	put(o, "holdfast_sessions{state=\"online\"} %u\n", on);
	put(o, "holdfast_sessions{state=\"offline\"} %u\n", b->n_sessions - on);
	one(o, "holdfast_sessions_expired_total", "counter",
	    "Sessions ended by their expiry interval.",
	    b->stats.clients_expired);
	one(o, "holdfast_subscriptions", "gauge",
	    "Subscriptions (shared group members included).",
	    hf_tree_count(b->tree));
	one(o, "holdfast_shared_subscriptions", "gauge",
	    "Members of $share groups.", hf_tree_shared_count(b->tree));
	one(o, "holdfast_retained_messages", "gauge",
	    "Topics with a retained message.", hf_retain_count(b->retained));
}

static void
messages(struct out *o, struct hf_broker *b)
{
	struct hf_metrics *m = &b->m;
	uint64_t n, bytes;
	by_qos(o, "holdfast_messages_received_total",
	       "PUBLISH packets received, by QoS.", m->msgs_in);
	by_qos(o, "holdfast_messages_sent_total",
	       "PUBLISH packets sent (resends included), by QoS.", m->msgs_out);
	by_qos(o, "holdfast_payload_received_bytes_total",
	       "Payload bytes of the PUBLISH packets received, by QoS.",
	       m->bytes_in);
	by_qos(o, "holdfast_payload_sent_bytes_total",
	       "Payload bytes of the PUBLISH packets sent, by QoS.",
	       m->bytes_out);
	one(o, "holdfast_network_received_bytes_total", "counter",
	    "Bytes of whole MQTT packets received.", b->stats.bytes_received);
	one(o, "holdfast_network_sent_bytes_total", "counter",
	    "Bytes handed to the transports.", b->stats.bytes_sent);
	family(o, "holdfast_messages_dropped_total", "counter",
	       "Messages (or one delivery of one) thrown away, by reason.");
	for (int i = 0; i < HF_DROP_COUNT; i++)
		put(o, "holdfast_messages_dropped_total{reason=\"%s\"} %llu\n",
		    drop_names[i], (unsigned long long)m->dropped[i]);
	one(o, "holdfast_messages_refused_total", "counter",
	    "QoS 1/2 PUBLISHes refused whole because a queue or the store "
	    "was full.",
	    b->stats.pub_refused);
	one(o, "holdfast_flow_pauses_total", "counter",
	    "Publishers whose reading was paused because an online "
	    "subscriber fell behind them (flow control, not a drop).",
	    b->stats.flow_pauses);
	one(o, "holdfast_queued_messages", "gauge",
	    "Messages waiting for a window slot (memory and store).",
	    m->queued);
	one(o, "holdfast_queued_bytes", "gauge",
	    "Payload bytes of the queued messages.", m->queued_bytes);
	one(o, "holdfast_inflight_messages", "gauge",
	    "QoS 1/2 deliveries sent and not yet acknowledged.", m->inflight);
	one(o, "holdfast_inflight_bytes", "gauge",
	    "Payload bytes of the in-flight deliveries.", m->inflight_bytes);
	hf_msg_tally(&n, &bytes);
	one(o, "holdfast_messages_in_memory", "gauge",
	    "Distinct messages held in memory (retained, queued, in flight).",
	    n);
	one(o, "holdfast_messages_in_memory_bytes", "gauge",
	    "Payload bytes of the messages held in memory.", bytes);
	hist(o, "holdfast_publish_ack_duration_seconds",
	     "From reading an accepted QoS 1/2 PUBLISH to handing its "
	     "PUBACK/PUBREC to the transport (after the commit).",
	     &m->ack_seconds);
}

static void
store(struct out *o, struct hf_broker *b)
{
	struct hf_metrics *m = &b->m;
	one(o, "holdfast_store_enabled", "gauge",
	    "1 when messages are kept in the store (persistence true).",
	    b->store != NULL);
	one(o, "holdfast_store_commits_total", "counter",
	    "Store transactions committed.", m->commits);
	one(o, "holdfast_store_fsyncs_total", "counter",
	    "Commits that synced the store to disk (persistence_sync full).",
	    m->fsyncs);
	one(o, "holdfast_store_commit_failures_total", "counter",
	    "Commits that failed (the turn was not acknowledged).",
	    m->commit_failures);
	hist(o, "holdfast_store_commit_duration_seconds",
	     "Time one commit took (fsync included).", &m->commit_seconds);
	hist(o, "holdfast_store_messages_per_commit",
	     "Message bodies written by one commit (group commit size).",
	     &m->msgs_per_commit);
	one(o, "holdfast_store_map_size_bytes", "gauge",
	    "The store's current LMDB map size.", m->store_map);
	one(o, "holdfast_store_used_bytes", "gauge",
	    "Bytes of the store's pages in use (high-water mark).",
	    m->store_used);
	one(o, "holdfast_store_max_bytes", "gauge",
	    "The most the store may grow to (persistence_max_size).",
	    m->store_max);
	one(o, "holdfast_store_full", "gauge",
	    "1 while the store is too full to take QoS 1/2 messages.",
	    b->store_full);
	one(o, "holdfast_store_inconsistencies_total", "counter",
	    "Store inconsistencies met and contained.",
	    b->stats.store_inconsistent);
	one(o, "holdfast_store_resets_total", "counter",
	    "Engine resets to the last commit (a turn lost).",
	    b->stats.store_resets);
}

int
hf_metrics_text(struct hf_broker *b, struct hf_wbuf *w)
{
	struct out o = {w, 0};
	family(&o, "holdfast_build_info", "gauge", "The broker's version.");
	put(&o, "holdfast_build_info{version=\"%s\"} 1\n", HF_VERSION);
	one(&o, "holdfast_start_time_seconds", "gauge",
	    "When the broker started, Unix time.",
	    (unsigned long long)b->start_time);
	clients(&o, b);
	messages(&o, b);
	store(&o, b);
	if (!o.err && hf_bridges_metrics(b, w) != 0)
		o.err = -1;
	return o.err;
}

/* ---- health -------------------------------------------------------------- */

static int
reason(struct hf_wbuf *w, unsigned *n, const char *why)
{
	char buf[200];
	int len = snprintf(buf, sizeof(buf), "%s\"%s\"", *n ? "," : "", why);
	(*n)++;
	return hf_wbuf_put(w, buf, (size_t)len);
}

int
hf_metrics_health(struct hf_broker *b, bool ready, struct hf_wbuf *w,
                  unsigned *n)
{
	int64_t now = hf_now_ms(b);
	int rc = 0;
	/* Live: the loop runs its timers and the store answers. (A loop
	 * stuck for good would not answer this request at all; one that
	 * stalled for seconds in a turn shows here.) */
	if (b->m.tick_ms && now - b->m.tick_ms > LIVE_WINDOW_MS)
		rc |= reason(w, n, "loop: the 1 s tick is late");
	if (b->store && now - b->m.store_ok_ms > LIVE_WINDOW_MS)
		rc |= reason(w, n, "store: no answer for 5 s");
	if (b->store_failed)
		rc |= reason(w, n, "store: the last write failed");
	if (!ready)
		return rc ? -1 : 0;
	if (b->shutting_down)
		rc |= reason(w, n, "shutting down");
	if (b->store_full)
		rc |=
		    reason(w, n, "store: full (QoS 1/2 messages are refused)");
	return rc ? -1 : 0;
}

/* ---- the HTTP API's source (net/conn.h) ---------------------------------- */

int
hf_engine_metrics(void *ctx, struct hf_wbuf *out)
{
	return hf_metrics_text(ctx, out);
}

int
hf_engine_health(void *ctx, bool ready, struct hf_wbuf *out, unsigned *n)
{
	return hf_metrics_health(ctx, ready, out, n);
}
