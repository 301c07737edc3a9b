/* broker/codec/decode.c - packet bodies to struct hf_packet.
 *
 * One function per packet shape, each reading through a bounded cursor
 * (struct hf_rd), so no read can leave the body. Faults come in two kinds:
 * structural ones (bad lengths, reserved bits, bad UTF-8, misplaced
 * properties) return HF_RC_MALFORMED at once; semantic ones (packet id 0,
 * duplicate property, bad filter...) are remembered in `soft` and returned
 * once the whole body has been walked, so a malformed packet is always
 * reported as malformed whatever it contains before the fault.
 * v3.1 (level 3) is decoded with the v3.1.1 rules; v5 adds properties,
 * reason codes and the short acknowledgement forms.
 *
 * Threading/ownership: no state, no allocation; views point into `body`. */
#include <string.h>

#include "codec_int.h"

#define SOFT(rc)                                                               \
	do {                                                                   \
		if (*soft == 0)                                                \
			*soft = (rc);                                          \
	} while (0)

static bool
bytes_eq(struct hf_bytes b, const char *s)
{
	size_t n = strlen(s);

	return b.len == n && memcmp(b.p, s, n) == 0;
}

static int
decode_connect(struct hf_rd *r, struct hf_connect *c, int *soft)
{
	struct hf_bytes name;
	uint8_t lvl, f;
	int rc;

	if (!hf_rd_bin(r, &name) || !hf_rd_u8(r, &lvl))
		return HF_RC_MALFORMED;
	/* A bridge sets the level's top bit (v3.1 and v3.1.1 only). */
	c->bridge = (lvl & 0x80) && (lvl & 0x7F) != HF_PROTO_V5;
	if (c->bridge)
		lvl &= 0x7F;
	if (bytes_eq(name, "MQTT")) {
		c->proto_ver = lvl;
		if (lvl != HF_PROTO_V311 && lvl != HF_PROTO_V5)
			return HF_RC_UNSUPPORTED_PROTOCOL;
	} else if (bytes_eq(name, "MQIsdp")) {
		c->proto_ver = lvl;
		if (lvl != HF_PROTO_V31)
			return HF_RC_UNSUPPORTED_PROTOCOL;
	} else {
		/* [MQTT-3.1.2-1]: not a protocol we know; proto_ver 0 tells
		 * the engine no CONNACK form applies. */
		c->proto_ver = 0;
		return HF_RC_UNSUPPORTED_PROTOCOL;
	}
	if (!hf_rd_u8(r, &f) || !hf_rd_u16(r, &c->keepalive))
		return HF_RC_MALFORMED;
	/* Reserved bit [MQTT-3.1.2-3]; v3.1 called it unused. */
	if ((f & 0x01) && lvl != HF_PROTO_V31)
		return HF_RC_MALFORMED;
	c->clean_start = f & 0x02;
	c->will = f & 0x04;
	c->will_qos = (f >> 3) & 3;
	c->will_retain = f & 0x20;
	c->has_password = f & 0x40;
	c->has_username = f & 0x80;
	/* [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15] */
	if (c->will_qos == 3 || (!c->will && (c->will_qos || c->will_retain)))
		return HF_RC_MALFORMED;
	/* v3.1.1 [MQTT-3.1.2-22]: a password needs a user name. */
	if (lvl != HF_PROTO_V5 && c->has_password && !c->has_username)
		return HF_RC_MALFORMED;
	if (lvl == HF_PROTO_V5) {
		rc = hf_props_read(r, HF_CONNECT, &c->props, soft);
		if (rc)
			return rc;
		if ((c->props.present & HF_PP_AUTH_DATA) &&
		    !(c->props.present & HF_PP_AUTH_METHOD))
			SOFT(HF_RC_PROTOCOL_ERROR);
	}
	if (lvl == HF_PROTO_V31 && hf_rd_left(r) == 0) {
		/* 3.1 has no zero-length identifier but clients send a
		 * CONNECT ending before it: read as empty, which the engine
		 * refuses with 0x02 (identifier rejected). */
		c->client_id.p = r->p + r->off;
		c->client_id.len = 0;
	} else if (!hf_rd_str(r, &c->client_id)) {
		return HF_RC_MALFORMED;
	}
	if (c->will) {
		if (lvl == HF_PROTO_V5) {
			rc = hf_props_read(r, HF_PCTX_WILL, &c->will_props,
			                   soft);
			if (rc)
				return rc;
		}
		if (!hf_rd_str(r, &c->will_topic) ||
		    !hf_rd_bin(r, &c->will_payload))
			return HF_RC_MALFORMED;
		if (!hf_topic_name_valid(c->will_topic.p, c->will_topic.len))
			SOFT(HF_RC_TOPIC_NAME_INVALID);
		if ((c->will_props.present & HF_PP_PAYLOAD_FORMAT) &&
		    c->will_props.payload_format == 1 &&
		    !hf_utf8_valid(c->will_payload.p, c->will_payload.len))
			SOFT(HF_RC_PAYLOAD_FORMAT_INVALID);
	}
	if (c->has_username && !hf_rd_str(r, &c->username))
		return HF_RC_MALFORMED;
	if (c->has_password && !hf_rd_bin(r, &c->password))
		return HF_RC_MALFORMED;
	if (hf_rd_left(r))
		return HF_RC_MALFORMED;
	return HF_OK;
}

static int
decode_connack(struct hf_rd *r, uint8_t ver, struct hf_connack *c, int *soft)
{
	bool v5 = ver == HF_PROTO_V5;
	uint8_t f;

	if (!hf_rd_u8(r, &f) || !hf_rd_u8(r, &c->rc))
		return HF_RC_MALFORMED;
	if (f & 0xfe) /* [MQTT-3.2.2-1] */
		return HF_RC_MALFORMED;
	/* 3.1 has no Session Present: the byte is reserved. */
	c->session_present = ver != HF_PROTO_V31 && (f & 1);
	/* A v5 CONNACK always has properties; a 2-byte one is accepted so
	 * that a v3 server's refusal can still be read. */
	if (v5 && hf_rd_left(r)) {
		int rc = hf_props_read(r, HF_CONNACK, &c->props, soft);

		if (rc)
			return rc;
	}
	return hf_rd_left(r) ? HF_RC_MALFORMED : HF_OK;
}

static int
decode_publish(struct hf_rd *r, uint8_t flags, bool v5, struct hf_publish *p,
               int *soft)
{
	int rc;

	p->qos = (flags >> 1) & 3;
	p->dup = flags & 0x08;
	p->retain = flags & 0x01;
	if (p->qos == 3) /* [MQTT-3.3.1-4] */
		return HF_RC_MALFORMED;
	if (p->dup && p->qos == 0) /* [MQTT-3.3.1-2] */
		return HF_RC_MALFORMED;
	if (!hf_rd_str(r, &p->topic))
		return HF_RC_MALFORMED;
	if (p->qos) {
		if (!hf_rd_u16(r, &p->pid))
			return HF_RC_MALFORMED;
		if (p->pid == 0) /* [MQTT-2.2.1-3] */
			SOFT(HF_RC_PROTOCOL_ERROR);
	}
	if (v5) {
		rc = hf_props_read(r, HF_PUBLISH, &p->props, soft);
		if (rc)
			return rc;
	}
	p->payload.p = r->p + r->off;
	p->payload.len = hf_rd_left(r);
	r->off = r->len;
	if (p->topic.len == 0) {
		/* v5 3.3.2.3.1: only with a Topic Alias; v3.1.1
		 * [MQTT-4.7.3-1] topics are at least one character. */
		if (!v5)
			return HF_RC_MALFORMED;
		if (!(p->props.present & HF_PP_TOPIC_ALIAS))
			SOFT(HF_RC_PROTOCOL_ERROR);
	} else if (!hf_topic_name_valid(p->topic.p, p->topic.len)) {
		SOFT(HF_RC_TOPIC_NAME_INVALID); /* [MQTT-3.3.2-2] */
	}
	if ((p->props.present & HF_PP_PAYLOAD_FORMAT) &&
	    p->props.payload_format == 1 &&
	    !hf_utf8_valid(p->payload.p, p->payload.len))
		SOFT(HF_RC_PAYLOAD_FORMAT_INVALID);
	return HF_OK;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP: v5 3.4.2.1 allows remaining length 2
 * (success), 3 (reason code only) or more. */
static int
decode_ack(struct hf_rd *r, uint8_t type, bool v5, struct hf_ack *a, int *soft)
{
	if (!hf_rd_u16(r, &a->pid))
		return HF_RC_MALFORMED;
	if (a->pid == 0)
		SOFT(HF_RC_PROTOCOL_ERROR);
	if (v5 && hf_rd_left(r)) {
		hf_rd_u8(r, &a->rc);
		if (hf_rd_left(r)) {
			int rc = hf_props_read(r, type, &a->props, soft);

			if (rc)
				return rc;
		}
	}
	return hf_rd_left(r) ? HF_RC_MALFORMED : HF_OK;
}

/* DISCONNECT and AUTH: v5 3.14.2.1 / 3.15.2.1, length 0 means success. */
static int
decode_disconnect(struct hf_rd *r, uint8_t type, bool v5, struct hf_ack *a,
                  int *soft)
{
	if (v5 && hf_rd_left(r)) {
		hf_rd_u8(r, &a->rc);
		if (hf_rd_left(r)) {
			int rc = hf_props_read(r, type, &a->props, soft);

			if (rc)
				return rc;
		}
	}
	return hf_rd_left(r) ? HF_RC_MALFORMED : HF_OK;
}

static int
decode_subscribe(struct hf_rd *r, uint8_t type, bool v5, struct hf_subscribe *s,
                 int *soft)
{
	if (!hf_rd_u16(r, &s->pid))
		return HF_RC_MALFORMED;
	if (s->pid == 0)
		SOFT(HF_RC_PROTOCOL_ERROR);
	if (v5) {
		int rc = hf_props_read(r, type, &s->props, soft);

		if (rc)
			return rc;
	}
	s->entries.p = r->p + r->off;
	s->entries.len = hf_rd_left(r);
	while (hf_rd_left(r)) {
		struct hf_bytes f;
		uint8_t o = 0;

		if (!hf_rd_str(r, &f))
			return HF_RC_MALFORMED;
		if (type == HF_SUBSCRIBE) {
			if (!hf_rd_u8(r, &o))
				return HF_RC_MALFORMED;
			if (v5) {
				if (o & 0xc0) /* [MQTT-3.8.3-5] */
					return HF_RC_MALFORMED;
				if ((o & HF_SUBOPT_QOS_MASK) == 3 ||
				    (o & HF_SUBOPT_RH_MASK) == 0x30)
					SOFT(HF_RC_PROTOCOL_ERROR);
				/* [MQTT-3.8.3-4] */
				if ((o & HF_SUBOPT_NO_LOCAL) && f.len >= 7 &&
				    memcmp(f.p, "$share/", 7) == 0)
					SOFT(HF_RC_PROTOCOL_ERROR);
			} else if ((o & 0xfc) || (o & 3) == 3) {
				/* [MQTT-3-8.3-4] */
				return HF_RC_MALFORMED;
			}
		}
		if (!hf_topic_filter_valid(f.p, f.len))
			SOFT(HF_RC_TOPIC_FILTER_INVALID);
		s->n++;
	}
	/* [MQTT-3.8.3-3], [MQTT-3.10.3-2] */
	if (s->n == 0)
		SOFT(HF_RC_PROTOCOL_ERROR);
	return HF_OK;
}

static int
decode_suback(struct hf_rd *r, uint8_t type, bool v5, struct hf_suback *s,
              int *soft)
{
	uint32_t i;

	if (!hf_rd_u16(r, &s->pid))
		return HF_RC_MALFORMED;
	if (s->pid == 0)
		SOFT(HF_RC_PROTOCOL_ERROR);
	if (!v5 && type == HF_UNSUBACK)
		return hf_rd_left(r) ? HF_RC_MALFORMED : HF_OK;
	if (v5) {
		int rc = hf_props_read(r, type, &s->props, soft);

		if (rc)
			return rc;
	}
	s->n = hf_rd_left(r);
	s->rcs = s->n ? r->p + r->off : NULL;
	r->off = r->len;
	if (s->n == 0)
		SOFT(HF_RC_PROTOCOL_ERROR);
	if (!v5)
		for (i = 0; i < s->n; i++)
			if (s->rcs[i] > 2 && s->rcs[i] != 0x80)
				return HF_RC_MALFORMED;
	return HF_OK;
}

int
hf_decode(uint8_t type_flags, const uint8_t *body, uint32_t len,
          uint8_t proto_ver, struct hf_packet *out)
{
	uint8_t type = type_flags >> 4, flags = type_flags & 0x0f;
	struct hf_rd r = {body, len, 0};
	bool v5 = proto_ver == HF_PROTO_V5;
	int soft = 0, rc;

	memset(out, 0, sizeof(*out));
	out->type = type;
	out->flags = flags;
	if (!body && len)
		return HF_RC_MALFORMED;

	/* Fixed header flags [MQTT-2.2.2-1]. */
	switch (type) {
	case HF_PUBLISH:
		break;
	case HF_PUBREL:
	case HF_SUBSCRIBE:
	case HF_UNSUBSCRIBE:
		if (flags != 0x2)
			return HF_RC_MALFORMED;
		break;
	default:
		if (flags)
			return HF_RC_MALFORMED;
		break;
	}

	switch (type) {
	case HF_CONNECT:
		rc = decode_connect(&r, &out->u.connect, &soft);
		break;
	case HF_CONNACK:
		rc = decode_connack(&r, proto_ver, &out->u.connack, &soft);
		break;
	case HF_PUBLISH:
		rc = decode_publish(&r, flags, v5, &out->u.publish, &soft);
		break;
	case HF_PUBACK:
	case HF_PUBREC:
	case HF_PUBREL:
	case HF_PUBCOMP:
		rc = decode_ack(&r, type, v5, &out->u.ack, &soft);
		break;
	case HF_SUBSCRIBE:
	case HF_UNSUBSCRIBE:
		rc = decode_subscribe(&r, type, v5, &out->u.subscribe, &soft);
		break;
	case HF_SUBACK:
	case HF_UNSUBACK:
		rc = decode_suback(&r, type, v5, &out->u.suback, &soft);
		break;
	case HF_PINGREQ:
	case HF_PINGRESP:
		rc = len ? HF_RC_MALFORMED : HF_OK;
		break;
	case HF_DISCONNECT:
		rc = decode_disconnect(&r, type, v5, &out->u.ack, &soft);
		break;
	case HF_AUTH:
		/* AUTH does not exist before v5 (reserved type 15). */
		rc = v5 ? decode_disconnect(&r, type, v5, &out->u.ack, &soft)
		        : HF_RC_MALFORMED;
		break;
	default:
		rc = HF_RC_MALFORMED;
		break;
	}
	return rc ? rc : soft;
}

bool
hf_sub_next(const struct hf_subscribe *s, uint32_t *off,
            struct hf_bytes *filter, uint8_t *opts)
{
	struct hf_rd r = {s->entries.p, s->entries.len, *off};

	if (*off >= s->entries.len || !hf_rd_bin(&r, filter) ||
	    !hf_rd_u8(&r, opts))
		return false;
	*off = r.off;
	return true;
}

bool
hf_unsub_next(const struct hf_subscribe *s, uint32_t *off,
              struct hf_bytes *filter)
{
	struct hf_rd r = {s->entries.p, s->entries.len, *off};

	if (*off >= s->entries.len || !hf_rd_bin(&r, filter))
		return false;
	*off = r.off;
	return true;
}
