/* broker/engine/sys.c - the $SYS/broker/... topics.
 *
 * Every sys_interval seconds the broker publishes its counters as retained
 * QoS 0 messages, through the ordinary routing path, so subscribers and
 * late joiners see them like any retained topic. A value is republished only
 * when it changed (uptime always changes). The names and meanings are
 * mosquitto 2.0's (checked against Debian's 2.0.11), the values the same
 * counters /metrics shows (metrics.h); one difference: messages/received
 * and messages/sent count PUBLISH packets here, every MQTT packet in
 * mosquitto. Loop thread only. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "broker.h"
#include "msg.h"
#include "route.h"
#include "sys.h"

static void
sys_put(struct hf_broker *b, const char *topic, const char *value)
{
	struct hf_msg *m =
	    hf_msg_new_simple(topic, value, strlen(value), 0, true);
	if (!m)
		return;
	/* Skip when the retained value is unchanged. */
	struct hf_msg *old =
	    hf_retain_get(b->retained, hf_msg_topic(m), m->topic_len);
	if (old && old->payload_len == m->payload_len &&
	    memcmp(hf_msg_payload(old), hf_msg_payload(m), m->payload_len) ==
	        0) {
		hf_msg_unref(m);
		return;
	}
	hf_publish_route(b, m, NULL, false);
	hf_msg_unref(m);
}

static void
sys_num(struct hf_broker *b, const char *topic, unsigned long long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", v);
	sys_put(b, topic, buf);
}

/* The load/... topics: mosquitto's per-minute rates, each averaged over
 * 1, 5 and 15 minutes like a Unix load average (an exponential moving
 * average, weight exp(-dt / window)), from the same counters as /metrics.
 * The first call only takes the counters' values. */
static void
sys_load(struct hf_broker *b)
{
	static const char *const names[9] = {
	    "messages/received", "messages/sent",    "bytes/received",
	    "bytes/sent",        "connections",      "sockets",
	    "publish/dropped",   "publish/received", "publish/sent"};
	static const int windows[3] = {1, 5, 15};
	struct hf_metrics *m = &b->m;
	const uint64_t now_v[9] = {
	    b->stats.msgs_received,     b->stats.msgs_sent,
	    b->stats.bytes_received,    b->stats.bytes_sent,
	    b->stats.connections_total, m->sockets,
	    b->stats.pub_dropped,       b->stats.msgs_received,
	    b->stats.msgs_sent};
	int64_t now = hf_now_ms(b);
	double dt = (double)(now - m->load_at_ms) / 1000.0;
	bool first = m->load_at_ms == 0;
	if (!first && dt < 0.5)
		return; /* too soon to say anything per minute */
	for (int i = 0; i < 9; i++) {
		double rate = (double)(now_v[i] - m->load_prev[i]) * 60.0 / dt;
		m->load_prev[i] = now_v[i];
		if (first)
			continue;
		for (int w = 0; w < 3; w++) {
			double *avg = &m->load_avg[i][w];
			double e = exp(-dt / (60.0 * windows[w]));
			char topic[96], val[32];
			*avg = rate + e * (*avg - rate);
			snprintf(topic, sizeof(topic),
			         "$SYS/broker/load/%s/%dmin", names[i],
			         windows[w]);
			snprintf(val, sizeof(val), "%.2f", *avg);
			sys_put(b, topic, val);
		}
	}
	m->load_at_ms = now ? now : 1;
}

void
hf_sys_publish(struct hf_broker *b)
{
	char buf[64];
	/* Unchanged values are skipped (sys_put), so this costs nothing but
	 * brings the version back after a reset to the last commit. */
	sys_put(b, "$SYS/broker/version", "holdfast version " HF_VERSION);
	snprintf(buf, sizeof(buf), "%lld seconds",
	         (long long)(time(NULL) - b->start_time));
	sys_put(b, "$SYS/broker/uptime", buf);
	uint32_t conn = b->n_clients_connected;
	sys_num(b, "$SYS/broker/clients/connected", conn);
	sys_num(b, "$SYS/broker/clients/active", conn);
	sys_num(b, "$SYS/broker/clients/disconnected", b->n_sessions - conn);
	sys_num(b, "$SYS/broker/clients/inactive", b->n_sessions - conn);
	sys_num(b, "$SYS/broker/clients/total", b->n_sessions);
	sys_num(b, "$SYS/broker/clients/maximum", b->stats.clients_max);
	sys_num(b, "$SYS/broker/messages/received", b->stats.msgs_received);
	sys_num(b, "$SYS/broker/messages/sent", b->stats.msgs_sent);
	sys_num(b, "$SYS/broker/publish/messages/received",
	        b->stats.msgs_received);
	sys_num(b, "$SYS/broker/publish/messages/sent", b->stats.msgs_sent);
	sys_num(b, "$SYS/broker/publish/messages/dropped",
	        b->stats.pub_dropped);
	sys_num(b, "$SYS/broker/publish/messages/refused",
	        b->stats.pub_refused);
	sys_num(b, "$SYS/broker/store/inconsistencies",
	        b->stats.store_inconsistent);
	sys_num(b, "$SYS/broker/store/resets", b->stats.store_resets);
	sys_num(b, "$SYS/broker/bytes/received", b->stats.bytes_received);
	sys_num(b, "$SYS/broker/bytes/sent", b->stats.bytes_sent);
	sys_num(b, "$SYS/broker/subscriptions/count", hf_tree_count(b->tree));
	sys_num(b, "$SYS/broker/retained messages/count",
	        hf_retain_count(b->retained));
	/* mosquitto 2.0's other topics, from the counters /metrics shows. */
	const struct hf_metrics *m = &b->m;
	sys_num(b, "$SYS/broker/publish/bytes/received",
	        m->bytes_in[0] + m->bytes_in[1] + m->bytes_in[2]);
	sys_num(b, "$SYS/broker/publish/bytes/sent",
	        m->bytes_out[0] + m->bytes_out[1] + m->bytes_out[2]);
	sys_num(b, "$SYS/broker/clients/expired", b->stats.clients_expired);
	sys_num(b, "$SYS/broker/shared_subscriptions/count",
	        hf_tree_shared_count(b->tree));
	uint64_t n, bytes;
	hf_msg_tally(&n, &bytes);
	sys_num(b, "$SYS/broker/store/messages/count", n);
	sys_num(b, "$SYS/broker/messages/stored", n); /* mosquitto's alias */
	sys_num(b, "$SYS/broker/store/messages/bytes", bytes);
	sys_num(b, "$SYS/broker/heap/current", hf_metrics_heap(b));
	sys_num(b, "$SYS/broker/heap/maximum", b->m.heap_max);
	sys_load(b);
	hf_bridges_sys(b, sys_put);
}

static void
sys_timer_cb(uv_timer_t *t)
{
	hf_sys_publish(t->data);
}

void
hf_sys_start(struct hf_broker *b)
{
	uint32_t iv = b->conf->sys_interval;
	if (!iv)
		return;
	hf_sys_publish(b);
	uv_timer_start(&b->sys_timer, sys_timer_cb, (uint64_t)iv * 1000,
	               (uint64_t)iv * 1000);
}
