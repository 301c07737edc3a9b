/* broker/engine/encache.c - a fan-out's PUBLISH encoded once.
 *
 * During one routing pass, a PUBLISH that is the same for many subscribers
 * (no subscription identifier, no topic alias, no expiry to count down, not
 * a resend, at most HF_ENCACHE_MAX_BYTES of topic, payload and properties)
 * is encoded once per (3.1.x or 5.0, QoS, retain) into the broker's slots
 * and copied into each subscriber's output with its own packet id written
 * at the known offset. A slot is valid for the routing generation that
 * filled it. Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "client.h"
#include "encache.h"

/* Messages up to this size (topic, payload and properties) are encoded once
 * per fan-out; for bigger ones the copy dominates and encoding adds little. */

/* During a fan-out, a PUBLISH that is the same for many subscribers (no
 * subscription ids, no topic alias, no expiry to count down, not a resend)
 * is encoded once per (v5 or not, QoS, retain) into the broker's copies and
 * then copied, with each subscriber's packet id written in. Returns false
 * when p cannot be shared (the caller encodes it itself); else *ok says
 * whether it was queued. */
bool
hf_encache_send(struct hf_client *c, const struct hf_msg *m,
                const struct hf_packet *p, bool *ok)
{
	struct hf_broker *b = c->b;
	const struct hf_publish *pub = &p->u.publish;
	if (!b->routing || pub->dup || pub->props.n_sub_ids ||
	    pub->topic.p != hf_msg_topic(m) || /* a mount point's cut */
	    pub->props.topic_alias || m->has_expiry ||
	    (size_t)m->topic_len + m->payload_len + m->ctype_len +
	            m->rtopic_len + m->corr_len + m->user_len >
	        HF_ENCACHE_MAX_BYTES)
		return false;
	uint8_t ver = c->proto ? c->proto : HF_PROTO_V311;
	size_t k = (ver == HF_PROTO_V5 ? 6u : 0u) + pub->qos * 2u +
	           (pub->retain ? 1u : 0u);
	struct hf_enc_copy *ec = &b->enc.slot[k];
	if (ec->gen != b->match_gen || ec->m != m) {
		ec->m = NULL;
		ec->buf.len = 0;
		struct hf_frame f;
		if (hf_encode(p, ver, &ec->buf) != HF_OK ||
		    hf_frame_parse(ec->buf.p, ec->buf.len, 0, &f) != HF_OK)
			return false;
		/* the packet id follows the topic name */
		ec->pid_off = (size_t)f.hdr_len + 2 + m->topic_len;
		ec->gen = b->match_gen;
		ec->m = m;
	}
	*ok = hf_client_send_publish_bytes(c, ec->buf.p, ec->buf.len, pub->qos,
	                                   ec->pid_off, pub->pid);
	return true;
}

void
hf_encache_free(struct hf_broker *b)
{
	for (size_t i = 0; i < HF_ENCACHE_SLOTS; i++)
		hf_wbuf_free(&b->enc.slot[i].buf);
}
