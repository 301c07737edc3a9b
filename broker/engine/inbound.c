/* broker/engine/inbound.c - a PUBLISH from a client, and the PUBREL that
 * ends its QoS 2 flow.
 *
 * A PUBLISH is checked against the session's state (topic alias, maximum
 * QoS, retain availability, payload format, size and depth limits, the
 * ACL, a duplicate QoS 2 packet id), turned into one refcounted struct
 * hf_msg, routed (route.c), and acknowledged. The acknowledgment is
 * encoded into the client's output buffer, which leaves only after the
 * loop turn's store commit (broker.c, before_sleep). Inbound QoS 2 is
 * delivered on PUBLISH and its packet id remembered until PUBREL, so a
 * resent PUBLISH is acknowledged again but not routed again. Loop thread
 * only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "broker.h"
#include "ident.h"
#include "client.h"
#include "durable.h"
#include "inbound.h"
#include "logpkt.h"
#include "mount.h"
#include "msg.h"
#include "outq.h"
#include "pidset.h"
#include "route.h"
#include "send.h"
#include "session.h"

/* Resolve the topic of an inbound PUBLISH through its topic alias.
 * Returns false after closing the connection. */
static bool
resolve_alias(struct hf_client *c, struct hf_publish *p)
{
	if (!(p->props.present & HF_PP_TOPIC_ALIAS))
		return true;
	uint16_t a = p->props.topic_alias;
	uint16_t max = c->b->conf->max_topic_alias;
	if (a == 0 || a > max) {
		/* 0 or above our Topic Alias Maximum [MQTT-3.3.2-8/9] */
		hf_client_fail(c, HF_RC_TOPIC_ALIAS_INVALID,
		               "topic alias out of range");
		return false;
	}
	if (!c->alias_in) {
		c->alias_in = calloc((size_t)max + 1, sizeof(*c->alias_in));
		if (!c->alias_in) {
			hf_client_close(c, HF_RC_UNSPECIFIED);
			return false;
		}
		c->alias_in_n = (uint16_t)(max + 1);
	}
	struct hf_bytes *slot = &c->alias_in[a];
	if (p->topic.len) {
		uint8_t *copy = malloc(p->topic.len);
		if (!copy) {
			hf_client_close(c, HF_RC_UNSPECIFIED);
			return false;
		}
		memcpy(copy, p->topic.p, p->topic.len);
		free((void *)slot->p);
		slot->p = copy;
		slot->len = p->topic.len;
		return true;
	}
	if (!slot->p) {
		hf_client_fail(c, HF_RC_PROTOCOL_ERROR,
		               "topic alias used before it was set");
		return false;
	}
	p->topic = *slot;
	return true;
}

/* Refuse one PUBLISH without routing it, the connection staying up where
 * the protocol allows: QoS 0 is dropped (at most once permits it); QoS 1/2
 * get PUBACK/PUBREC with rc in 5.0. 3.1.1 has no negative acknowledgment,
 * and a message that is thrown away must never be acknowledged, so a QoS
 * 1/2 one closes the connection instead. */
static void
refuse_publish(struct hf_client *c, const struct hf_publish *p, uint8_t rc,
               const char *why)
{
	struct hf_broker *b = c->b;
	hf_metrics_drop(b, HF_DROP_REJECTED);
	hf_log_ev(&b->log, HF_LOG_NOTICE, "publish_refused", c->s->id, NULL,
	          "Client %s: PUBLISH on %.*s refused: %s.", c->s->id,
	          (int)p->topic.len, (const char *)p->topic.p, why);
	if (p->qos == 0)
		return;
	if (c->proto == HF_PROTO_V5)
		hf_send_ack(c, p->qos == 1 ? HF_PUBACK : HF_PUBREC, p->pid, rc);
	else
		hf_client_close(c, -1);
}

/* A QoS 1/2 message no queue may refuse was refused: say whose queue and
 * which limit (hf_publish_route left them in b), so an operator knows
 * which subscriber to look at and which key to raise. */
static void
log_refused(struct hf_broker *b, const struct hf_session *s,
            const struct hf_publish *p)
{
	const struct hf_session *full = b->refused_by;
	const char *limit = b->refused_limit;
	if (!full || !limit) {
		hf_log_ev(&b->log, HF_LOG_WARNING, "publish_refused", s->id,
		          NULL,
		          "Message from %s on %.*s refused: queue or store "
		          "full (out of memory routing it).",
		          s->id, (int)p->topic.len, (const char *)p->topic.p);
		return;
	}
	if (strncmp(limit, "max_queued_", 11) != 0) {
		hf_log_ev(&b->log, HF_LOG_WARNING, "publish_refused", s->id,
		          NULL,
		          "Message from %s on %.*s refused: queue or store "
		          "full: %s is full (subscriber %s).",
		          s->id, (int)p->topic.len, (const char *)p->topic.p,
		          limit, full->id);
		return;
	}
	hf_log_ev(&b->log, HF_LOG_WARNING, "publish_refused", s->id, NULL,
	          "Message from %s on %.*s refused: queue or store full: "
	          "queue of %s at %s %llu (%u messages, %llu bytes queued).",
	          s->id, (int)p->topic.len, (const char *)p->topic.p, full->id,
	          limit, (unsigned long long)hf_queue_limit_value(full, limit),
	          (unsigned)full->n_queued,
	          (unsigned long long)full->queued_bytes);
}

void
hf_handle_publish(struct hf_client *c, const struct hf_publish *in,
                  int decode_rc)
{
	struct hf_broker *b = c->b;
	const struct hf_config *conf = b->conf;
	struct hf_session *s = c->s;
	struct hf_publish p = *in;
	bool v5 = c->proto == HF_PROTO_V5;

	if (p.props.present & HF_PP_SUBSCRIPTION_ID) {
		hf_client_fail(c, HF_RC_PROTOCOL_ERROR,
		               "subscription identifier in a PUBLISH "
		               "[MQTT-3.3.4-6]");
		return;
	}
	if (!resolve_alias(c, &p))
		return;
	if (p.topic.len == 0) {
		hf_client_fail(c, HF_RC_PROTOCOL_ERROR, "empty topic name");
		return;
	}
	if (s->bridge && !hf_bridge_topic_in(c, &p.topic)) {
		/* From a bridge's remote on a topic no `in` line maps (a
		 * remote subscription left from another configuration):
		 * acknowledged, not published here. */
		if (p.qos > 0)
			hf_send_ack(c, p.qos == 1 ? HF_PUBACK : HF_PUBREC,
			            p.pid, HF_RC_SUCCESS);
		if (p.qos == 2) {
			if (!s->qos2_in && !(s->qos2_in = hf_pidset_new())) {
				hf_client_close(c, HF_RC_UNSPECIFIED);
				return;
			}
			if (!hf_pidset_has(s->qos2_in, p.pid)) {
				hf_pidset_put(s->qos2_in, p.pid, true);
				s->n_qos2_in++;
				hf_dur_qos2(s, p.pid, true);
			}
		}
		return;
	}
	if (!hf_mount_topic(c, p.topic, &p.topic)) {
		/* the listener's mount_point makes it too long */
		refuse_publish(c, &p, HF_RC_TOPIC_NAME_INVALID,
		               "topic too long with the mount point");
		return;
	}
	if (p.qos > conf->maximum_qos) {
		hf_client_fail(c, HF_RC_QOS_NOT_SUPPORTED,
		               "QoS above maximum_qos [MQTT-3.2.2-11]");
		return;
	}
	if (p.retain && !conf->retain_available) {
		hf_client_fail(c, HF_RC_RETAIN_NOT_SUPPORTED,
		               "retained PUBLISH with retain_available false");
		return;
	}
	hf_metrics_pub_in(b, p.qos, p.payload.len);
	uint8_t ack_type = p.qos == 1 ? HF_PUBACK : HF_PUBREC;
	if (p.qos == 2 && hf_pidset_has(s->qos2_in, p.pid)) {
		/* A resent QoS 2 PUBLISH we already hold: acknowledge again,
		 * do not deliver twice [MQTT-4.3.3-9]. */
		hf_send_ack(c, HF_PUBREC, p.pid, HF_RC_SUCCESS);
		return;
	}
	if (p.qos == 2 && v5 && conf->max_inflight_messages &&
	    s->n_qos2_in >= conf->max_inflight_messages) {
		hf_client_fail(c, HF_RC_RECEIVE_MAX_EXCEEDED,
		               "more unacknowledged QoS 2 than the Receive "
		               "Maximum [MQTT-3.3.4-7]");
		return;
	}
	if (decode_rc == HF_RC_PAYLOAD_FORMAT_INVALID) {
		/* Payload Format Indicator 1 and a payload that is not UTF-8:
		 * the receiver may check and answer PUBACK/PUBREC 0x99
		 * (3.3.2.3.2, 4.13); it is not delivered. */
		refuse_publish(c, &p, HF_RC_PAYLOAD_FORMAT_INVALID,
		               "payload format indicator 1, payload not UTF-8");
		return;
	}
	if (conf->message_size_limit &&
	    p.payload.len > conf->message_size_limit) {
		char why[96];
		snprintf(why, sizeof(why),
		         "payload of %lu bytes over message_size_limit %lu",
		         (unsigned long)p.payload.len,
		         (unsigned long)conf->message_size_limit);
		refuse_publish(c, &p, HF_RC_QUOTA_EXCEEDED, why);
		return;
	}
	struct hf_acl_subject who = hf_session_subject(s);
	if (!s->bridge && /* a bridge of ours is trusted */
	    !hf_acl_check(hf_session_auth(s), &who, p.topic.p, p.topic.len,
	                  HF_ACL_WRITE)) {
		/* Not allowed: 5.0 0x87 (Not authorized). 3.1.1 has no
		 * negative acknowledgment; as mosquitto does, the PUBLISH is
		 * acknowledged and dropped (the broker's policy refused it;
		 * a client told nothing would send it again for ever). */
		hf_metrics_drop(b, HF_DROP_ACL);
		hf_log_ev(&b->log, HF_LOG_NOTICE, "publish_denied", s->id, NULL,
		          "Denied PUBLISH from %s (d%d, q%d, r%d, m%d, '%.*s', "
		          "... (%lu bytes))",
		          s->id, p.dup ? 1 : 0, p.qos, p.retain ? 1 : 0, p.pid,
		          (int)p.topic.len, (const char *)p.topic.p,
		          (unsigned long)p.payload.len);
		if (p.qos > 0)
			hf_send_ack(c, ack_type, p.pid,
			            v5 ? HF_RC_NOT_AUTHORIZED : HF_RC_SUCCESS);
		return;
	}
	if (HF_LOGPKT_ON(c)) {
		/* Here, not in dispatch: mosquitto logs a denied PUBLISH as
		 * "Denied", an allowed one as "Received". */
		struct hf_packet pk = {.type = HF_PUBLISH, .u.publish = p};
		hf_logpkt_in(c, &pk);
	}
	if (conf->max_topic_levels &&
	    hf_topic_levels(p.topic.p, p.topic.len) > conf->max_topic_levels) {
		/* Checked before routing, so neither tree ever builds the
		 * path. 5.0: 0x90, "the Topic Name is correctly formed, but
		 * is not accepted by this Server". */
		refuse_publish(c, &p, HF_RC_TOPIC_NAME_INVALID,
		               "topic deeper than max_topic_levels");
		return;
	}
	/* What the acknowledgment needs is allocated before routing: once
	 * routed, the message must be acknowledged (or the turn lost), or a
	 * resent QoS 2 PUBLISH would be routed twice. */
	if (p.qos == 2 && !s->qos2_in && !(s->qos2_in = hf_pidset_new())) {
		hf_client_close(c, HF_RC_UNSPECIFIED);
		return;
	}
	struct hf_msg *m = hf_msg_new(&p, hf_wall_ms());
	if (!m) {
		hf_client_close(c, HF_RC_UNSPECIFIED);
		return;
	}
	b->publisher = c; /* for flow control (flow.c) */
	int n = hf_publish_route(b, m, s, true);
	b->publisher = NULL;
	hf_msg_unref(m);
	if (p.qos == 0)
		return;
	if (n < 0) {
		/* A queue or the store is full: refuse rather than accept and
		 * drop. v5 has a negative acknowledgment; 3.1.1 does not, so
		 * the connection is closed with the message unacknowledged
		 * and the client sends it again when it reconnects. */
		b->stats.pub_refused++;
		log_refused(b, s, &p);
		if (v5)
			hf_send_ack(c, ack_type, p.pid, HF_RC_QUOTA_EXCEEDED);
		else
			hf_client_close(c, -1);
		return;
	}
	if (p.qos == 2) {
		hf_pidset_put(s->qos2_in, p.pid, true);
		s->n_qos2_in++;
		hf_dur_qos2(s, p.pid, true);
	}
	hf_send_ack(c, ack_type, p.pid,
	            n ? HF_RC_SUCCESS : HF_RC_NO_MATCHING_SUBSCRIBERS);
	hf_metrics_ack_queued(b);
}

void
hf_handle_pubrel(struct hf_client *c, const struct hf_ack *a)
{
	struct hf_session *s = c->s;
	if (!hf_pidset_has(s->qos2_in, a->pid)) {
		hf_send_ack(c, HF_PUBCOMP, a->pid, HF_RC_PACKET_ID_NOT_FOUND);
		return;
	}
	hf_pidset_put(s->qos2_in, a->pid, false);
	s->n_qos2_in--;
	hf_dur_qos2(s, a->pid, false);
	hf_send_ack(c, HF_PUBCOMP, a->pid, HF_RC_SUCCESS);
}
