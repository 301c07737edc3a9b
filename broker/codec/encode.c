/* broker/codec/encode.c - struct hf_packet to bytes.
 *
 * write_body() emits the variable header and payload of any packet through
 * a struct hf_wr; run once without memory it gives the size, run again into
 * reserved space it writes, so the two can never disagree. Properties are
 * written for v5 peers only. v5 acknowledgements use the short forms the
 * spec allows: no reason code and no properties when the code is 0 and
 * there are no properties, no property length when there are none.
 *
 * Threading/ownership: no state; the caller owns `out`. */
#include <string.h>

#include "codec_int.h"

static bool
props_empty(const struct hf_props *pr)
{
	return hf_props_body_size(pr) == 0;
}

static void
write_connect(struct hf_wr *w, const struct hf_connect *c, uint8_t ver)
{
	bool v5 = ver == HF_PROTO_V5;
	uint8_t f = 0;

	if (ver == HF_PROTO_V31)
		hf_wr_bin(w, (const uint8_t *)"MQIsdp", 6);
	else
		hf_wr_bin(w, (const uint8_t *)"MQTT", 4);
	hf_wr_u8(w, (uint8_t)(ver | (c->bridge && !v5 ? 0x80 : 0)));
	if (c->clean_start)
		f |= 0x02;
	if (c->will) {
		f |= 0x04 | (uint8_t)((c->will_qos & 3) << 3);
		if (c->will_retain)
			f |= 0x20;
	}
	if (c->has_password)
		f |= 0x40;
	if (c->has_username)
		f |= 0x80;
	hf_wr_u8(w, f);
	hf_wr_u16(w, c->keepalive);
	if (v5)
		hf_props_write(w, &c->props);
	hf_wr_bin(w, c->client_id.p, c->client_id.len);
	if (c->will) {
		if (v5)
			hf_props_write(w, &c->will_props);
		hf_wr_bin(w, c->will_topic.p, c->will_topic.len);
		hf_wr_bin(w, c->will_payload.p, c->will_payload.len);
	}
	if (c->has_username)
		hf_wr_bin(w, c->username.p, c->username.len);
	if (c->has_password)
		hf_wr_bin(w, c->password.p, c->password.len);
}

static void
write_body(struct hf_wr *w, const struct hf_packet *pkt, uint8_t ver)
{
	bool v5 = ver == HF_PROTO_V5;

	switch (pkt->type) {
	case HF_CONNECT:
		write_connect(w, &pkt->u.connect, ver);
		break;
	case HF_CONNACK:
		/* 3.1 has no Session Present: the byte is reserved (0). */
		hf_wr_u8(w,
		         pkt->u.connack.session_present && ver != HF_PROTO_V31
		             ? 1
		             : 0);
		hf_wr_u8(w, pkt->u.connack.rc);
		if (v5)
			hf_props_write(w, &pkt->u.connack.props);
		break;
	case HF_PUBLISH: {
		const struct hf_publish *p = &pkt->u.publish;

		hf_wr_bin(w, p->topic.p, p->topic.len);
		if (p->qos)
			hf_wr_u16(w, p->pid);
		if (v5)
			hf_props_write(w, &p->props);
		hf_wr_raw(w, p->payload.p, p->payload.len);
		break;
	}
	case HF_PUBACK:
	case HF_PUBREC:
	case HF_PUBREL:
	case HF_PUBCOMP:
	case HF_DISCONNECT:
	case HF_AUTH: {
		const struct hf_ack *a = &pkt->u.ack;
		bool noprops = !v5 || props_empty(&a->props);

		if (pkt->type < HF_DISCONNECT)
			hf_wr_u16(w, a->pid);
		if (!v5 && pkt->type != HF_AUTH)
			break;
		if (a->rc || !noprops)
			hf_wr_u8(w, a->rc);
		if (!noprops)
			hf_props_write(w, &a->props);
		break;
	}
	case HF_SUBSCRIBE:
	case HF_UNSUBSCRIBE: {
		const struct hf_subscribe *s = &pkt->u.subscribe;

		hf_wr_u16(w, s->pid);
		if (v5)
			hf_props_write(w, &s->props);
		hf_wr_raw(w, s->entries.p, s->entries.len);
		break;
	}
	case HF_SUBACK:
	case HF_UNSUBACK: {
		const struct hf_suback *s = &pkt->u.suback;

		hf_wr_u16(w, s->pid);
		if (!v5 && pkt->type == HF_UNSUBACK)
			break;
		if (v5)
			hf_props_write(w, &s->props);
		hf_wr_raw(w, s->rcs, s->n);
		break;
	}
	default: /* PINGREQ, PINGRESP: no body */
		break;
	}
}

static uint8_t
first_byte(const struct hf_packet *pkt)
{
	uint8_t f;

	switch (pkt->type) {
	case HF_PUBLISH:
		f = (uint8_t)((pkt->u.publish.dup ? 0x08 : 0) |
		              (pkt->u.publish.qos & 3) << 1 |
		              (pkt->u.publish.retain ? 1 : 0));
		break;
	case HF_PUBREL:
	case HF_SUBSCRIBE:
	case HF_UNSUBSCRIBE:
		f = 0x2;
		break;
	default:
		f = pkt->flags & 0x0f;
		break;
	}
	return (uint8_t)(pkt->type << 4 | f);
}

size_t
hf_encode_size(const struct hf_packet *pkt, uint8_t proto_ver)
{
	struct hf_wr w = {NULL, 0, false};

	write_body(&w, pkt, proto_ver);
	if (w.bad || w.n > HF_MAX_VARINT)
		return 0;
	return 1 + hf_varint_size((uint32_t)w.n) + w.n;
}

int
hf_encode(const struct hf_packet *pkt, uint8_t proto_ver, struct hf_wbuf *out)
{
	struct hf_wr w = {NULL, 0, false};
	size_t body, total;
	uint8_t *p;

	write_body(&w, pkt, proto_ver);
	if (w.bad)
		return HF_RC_MALFORMED;
	if (w.n > HF_MAX_VARINT)
		return HF_RC_PACKET_TOO_LARGE;
	body = w.n;
	total = 1 + hf_varint_size((uint32_t)body) + body;
	if (hf_wbuf_reserve(out, total) != HF_OK)
		return HF_ENOMEM;
	p = out->p + out->len;
	p[0] = first_byte(pkt);
	w.p = p + 1 + hf_varint_write((uint32_t)body, p + 1);
	w.n = 0;
	write_body(&w, pkt, proto_ver);
	out->len += total;
	return HF_OK;
}
