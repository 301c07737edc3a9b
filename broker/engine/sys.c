/* broker/engine/sys.c - the $SYS/broker/... topics.
 *
 * Every sys_interval seconds the broker publishes its counters as retained
 * QoS 0 messages, through the ordinary routing path, so subscribers and
 * late joiners see them like any retained topic. A value is republished only
 * when it changed (uptime always changes). Loop thread only. */
#include <stdio.h>
#include <string.h>
#include <time.h>

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
