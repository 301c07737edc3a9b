/* broker/engine/send.c - what the engine sends a client: PUBLISH (with the
 * MQTT 5 properties a message carries, the client's outbound topic
 * aliases, and the fan-out's shared copy when one fits: encache.c) and the
 * acknowledgments of the QoS flows. Everything is encoded into the client's
 * output buffer (client.c), which leaves after the turn's commit. Loop
 * thread only. */
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "broker.h"
#include "client.h"
#include "encache.h"
#include "msg.h"
#include "mount.h"
#include "send.h"

/* Outbound topic alias for topic: 0 for none. *is_new says the topic must
 * be sent with it this time. */
static uint16_t
alias_for(struct hf_client *c, const struct hf_msg *m, bool *is_new)
{
	*is_new = false;
	if (!c->alias_max_out)
		return 0;
	if (!c->alias_out && !(c->alias_out = calloc(1, sizeof(*c->alias_out))))
		return 0;
	void *v = hf_map_get(c->alias_out, hf_msg_topic(m), m->topic_len);
	if (v)
		return (uint16_t)(uintptr_t)v;
	if (c->alias_out_next >= c->alias_max_out)
		return 0;
	uint16_t a = (uint16_t)(c->alias_out_next + 1);
	if (hf_map_put(c->alias_out, hf_msg_topic(m), m->topic_len,
	               (void *)(uintptr_t)a) != 0)
		return 0;
	c->alias_out_next = a;
	*is_new = true;
	return a;
}

/* Encode and queue one PUBLISH for the session's client. Returns false when
 * it could not be sent at all (bigger than the client accepts). */
bool
hf_send_publish(struct hf_client *c, struct hf_msg *m, uint8_t qos, bool retain,
                uint16_t pid, bool dup, const uint32_t *subids, uint16_t nsub)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	struct hf_publish *pub = &p.u.publish;
	pub->qos = qos;
	pub->retain = retain;
	pub->dup = dup;
	pub->pid = pid;
	/* without its listener's mount point (mount.h) */
	size_t skip = hf_mount_strip(c, hf_msg_topic(m), m->topic_len);
	pub->topic.p = hf_msg_topic(m) + skip;
	pub->topic.len = m->topic_len - skip;
	if (c->policy->outgoing) {
		/* A bridge's remote: its name for the topic, and the retain
		 * flag as bridge_outgoing_retain says. A message no `out`
		 * line maps (a subscription gone from the configuration
		 * since it was queued) goes under its local name. */
		struct hf_bytes rt;
		if (hf_bridge_topic_out(c, pub->topic.p, pub->topic.len, &rt))
			pub->topic = rt;
		if (!hf_bridge_outgoing_retain(c))
			pub->retain = false;
	}
	pub->payload.p = hf_msg_payload(m);
	pub->payload.len = m->payload_len;
	bool new_alias = false;
	uint16_t alias = 0;
	if (c->proto == HF_PROTO_V5) {
		struct hf_props *pr = &pub->props;
		const uint8_t *d = hf_msg_payload(m) + m->payload_len;
		if (m->has_payload_format) {
			pr->present |= HF_PP_PAYLOAD_FORMAT;
			pr->payload_format = m->payload_format;
		}
		if (m->has_expiry) {
			int64_t left = m->expiry_at - hf_wall_ms();
			pr->present |= HF_PP_MESSAGE_EXPIRY;
			pr->message_expiry =
			    left <= 0 ? 0 : (uint32_t)((left + 999) / 1000);
		}
		if (m->ctype_len) {
			pr->present |= HF_PP_CONTENT_TYPE;
			pr->content_type.p = d;
			pr->content_type.len = m->ctype_len;
		}
		d += m->ctype_len;
		if (m->rtopic_len) {
			pr->present |= HF_PP_RESPONSE_TOPIC;
			pr->response_topic.p = d;
			pr->response_topic.len = m->rtopic_len;
		}
		d += m->rtopic_len;
		if (m->corr_len) {
			pr->present |= HF_PP_CORRELATION_DATA;
			pr->correlation_data.p = d;
			pr->correlation_data.len = m->corr_len;
		}
		d += m->corr_len;
		if (m->user_len) {
			pr->present |= HF_PP_USER_PROPERTY;
			pr->user.p = d;
			pr->user.len = m->user_len;
			pr->n_user = m->n_user;
		}
		if (nsub) {
			pr->present |= HF_PP_SUBSCRIPTION_ID;
			pr->sub_ids = subids;
			pr->n_sub_ids = nsub;
		}
		alias = alias_for(c, m, &new_alias);
		if (alias) {
			pr->present |= HF_PP_TOPIC_ALIAS;
			pr->topic_alias = alias;
			if (!new_alias)
				pub->topic.len = 0;
		}
	}
	bool ok;
	if (!hf_encache_send(c, m, &p, &ok))
		ok = hf_client_send(c, &p);
	if (!ok) {
		if (new_alias) {
			hf_map_del(c->alias_out, hf_msg_topic(m), m->topic_len);
			c->alias_out_next--;
		}
		return false;
	}
	hf_metrics_pub_out(c->b, qos, m->payload_len);
	return true;
}

void
hf_send_ack(struct hf_client *c, uint8_t type, uint16_t pid, uint8_t rc)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.ack.pid = pid;
	p.u.ack.rc = c->proto == HF_PROTO_V5 ? rc : 0;
	hf_client_send(c, &p);
}
