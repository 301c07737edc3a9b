/* broker/codec/props.c - MQTT 5.0 properties: read, write, iterate.
 *
 * One table, indexed by property identifier, gives each property's data
 * type, its presence bit in struct hf_props, the packet types it may appear
 * in (bit n = packet type n, bit 0 = will properties) and where its value
 * lives in struct hf_props. The reader walks the block once: an identifier
 * unknown or not allowed for the packet, a bad length or bad UTF-8 is a
 * Malformed Packet (spec 2.2.2.2); a property given twice or a value out of
 * range is a Protocol Error, recorded but not stopping the walk so that a
 * structural fault later in the packet still wins. Lists (user properties,
 * repeated subscription identifiers) are not copied: `user` keeps a view of
 * the whole block and the iterators walk it again.
 *
 * Threading/ownership: no state; views point into the caller's body. */
#include <stddef.h>
#include <string.h>

#include "codec_int.h"

enum pkind {
	PK_NONE,
	PK_BYTE,
	PK_U16,
	PK_U32,
	PK_VARINT,
	PK_STR,
	PK_BIN,
	PK_PAIR
};

struct pdef {
	uint8_t kind;
	uint32_t bit;
	uint16_t allowed;
	uint16_t off;
};

#define T(x) (1u << (x))
#define W    1u
#define ACKS (T(HF_PUBACK) | T(HF_PUBREC) | T(HF_PUBREL) | T(HF_PUBCOMP))
#define ALL                                                                    \
	(W | T(HF_CONNECT) | T(HF_CONNACK) | T(HF_PUBLISH) | ACKS |            \
	 T(HF_SUBSCRIBE) | T(HF_SUBACK) | T(HF_UNSUBSCRIBE) | T(HF_UNSUBACK) | \
	 T(HF_DISCONNECT) | T(HF_AUTH))
#define F(f) offsetof(struct hf_props, f)

static const struct pdef pdefs[] = {
    [HF_PROP_PAYLOAD_FORMAT] = {PK_BYTE, HF_PP_PAYLOAD_FORMAT,
                                T(HF_PUBLISH) | W, F(payload_format)},
    [HF_PROP_MESSAGE_EXPIRY] = {PK_U32, HF_PP_MESSAGE_EXPIRY, T(HF_PUBLISH) | W,
                                F(message_expiry)},
    [HF_PROP_CONTENT_TYPE] = {PK_STR, HF_PP_CONTENT_TYPE, T(HF_PUBLISH) | W,
                              F(content_type)},
    [HF_PROP_RESPONSE_TOPIC] = {PK_STR, HF_PP_RESPONSE_TOPIC, T(HF_PUBLISH) | W,
                                F(response_topic)},
    [HF_PROP_CORRELATION_DATA] = {PK_BIN, HF_PP_CORRELATION_DATA,
                                  T(HF_PUBLISH) | W, F(correlation_data)},
    [HF_PROP_SUBSCRIPTION_ID] = {PK_VARINT, HF_PP_SUBSCRIPTION_ID,
                                 T(HF_PUBLISH) | T(HF_SUBSCRIBE), F(sub_id)},
    [HF_PROP_SESSION_EXPIRY] = {PK_U32, HF_PP_SESSION_EXPIRY,
                                T(HF_CONNECT) | T(HF_CONNACK) |
                                    T(HF_DISCONNECT),
                                F(session_expiry)},
    [HF_PROP_ASSIGNED_CLIENT_ID] = {PK_STR, HF_PP_ASSIGNED_CLIENT_ID,
                                    T(HF_CONNACK), F(assigned_client_id)},
    [HF_PROP_SERVER_KEEP_ALIVE] = {PK_U16, HF_PP_SERVER_KEEP_ALIVE,
                                   T(HF_CONNACK), F(server_keep_alive)},
    [HF_PROP_AUTH_METHOD] = {PK_STR, HF_PP_AUTH_METHOD,
                             T(HF_CONNECT) | T(HF_CONNACK) | T(HF_AUTH),
                             F(auth_method)},
    [HF_PROP_AUTH_DATA] = {PK_BIN, HF_PP_AUTH_DATA,
                           T(HF_CONNECT) | T(HF_CONNACK) | T(HF_AUTH),
                           F(auth_data)},
    [HF_PROP_REQUEST_PROBLEM] = {PK_BYTE, HF_PP_REQUEST_PROBLEM, T(HF_CONNECT),
                                 F(request_problem)},
    [HF_PROP_WILL_DELAY] = {PK_U32, HF_PP_WILL_DELAY, W, F(will_delay)},
    [HF_PROP_REQUEST_RESPONSE] = {PK_BYTE, HF_PP_REQUEST_RESPONSE,
                                  T(HF_CONNECT), F(request_response)},
    [HF_PROP_RESPONSE_INFO] = {PK_STR, HF_PP_RESPONSE_INFO, T(HF_CONNACK),
                               F(response_info)},
    [HF_PROP_SERVER_REFERENCE] = {PK_STR, HF_PP_SERVER_REFERENCE,
                                  T(HF_CONNACK) | T(HF_DISCONNECT),
                                  F(server_reference)},
    [HF_PROP_REASON_STRING] = {PK_STR, HF_PP_REASON_STRING,
                               T(HF_CONNACK) | ACKS | T(HF_SUBACK) |
                                   T(HF_UNSUBACK) | T(HF_DISCONNECT) |
                                   T(HF_AUTH),
                               F(reason_string)},
    [HF_PROP_RECEIVE_MAX] = {PK_U16, HF_PP_RECEIVE_MAX,
                             T(HF_CONNECT) | T(HF_CONNACK), F(receive_max)},
    [HF_PROP_TOPIC_ALIAS_MAX] = {PK_U16, HF_PP_TOPIC_ALIAS_MAX,
                                 T(HF_CONNECT) | T(HF_CONNACK),
                                 F(topic_alias_max)},
    [HF_PROP_TOPIC_ALIAS] = {PK_U16, HF_PP_TOPIC_ALIAS, T(HF_PUBLISH),
                             F(topic_alias)},
    [HF_PROP_MAXIMUM_QOS] = {PK_BYTE, HF_PP_MAXIMUM_QOS, T(HF_CONNACK),
                             F(maximum_qos)},
    [HF_PROP_RETAIN_AVAILABLE] = {PK_BYTE, HF_PP_RETAIN_AVAILABLE,
                                  T(HF_CONNACK), F(retain_available)},
    [HF_PROP_USER_PROPERTY] = {PK_PAIR, HF_PP_USER_PROPERTY, ALL, 0},
    [HF_PROP_MAX_PACKET_SIZE] = {PK_U32, HF_PP_MAX_PACKET_SIZE,
                                 T(HF_CONNECT) | T(HF_CONNACK),
                                 F(max_packet_size)},
    [HF_PROP_WILDCARD_SUB_AVAIL] = {PK_BYTE, HF_PP_WILDCARD_SUB_AVAIL,
                                    T(HF_CONNACK), F(wildcard_sub_avail)},
    [HF_PROP_SUB_ID_AVAIL] = {PK_BYTE, HF_PP_SUB_ID_AVAIL, T(HF_CONNACK),
                              F(sub_id_avail)},
    [HF_PROP_SHARED_SUB_AVAIL] = {PK_BYTE, HF_PP_SHARED_SUB_AVAIL,
                                  T(HF_CONNACK), F(shared_sub_avail)},
};

#define NPDEFS (sizeof(pdefs) / sizeof(pdefs[0]))

static const struct pdef *
pdef_of(uint8_t id)
{
	if (id >= NPDEFS || pdefs[id].kind == PK_NONE)
		return NULL;
	return &pdefs[id];
}

static void
soft_err(int *soft, int rc)
{
	if (*soft == 0)
		*soft = rc;
}

/* Range rules on single values (all Protocol Errors except topic alias 0,
 * which has its own reason code). */
static int
check_value(uint8_t id, uint32_t v)
{
	switch (id) {
	case HF_PROP_PAYLOAD_FORMAT:
	case HF_PROP_REQUEST_PROBLEM:
	case HF_PROP_REQUEST_RESPONSE:
	case HF_PROP_MAXIMUM_QOS:
	case HF_PROP_RETAIN_AVAILABLE:
	case HF_PROP_WILDCARD_SUB_AVAIL:
	case HF_PROP_SUB_ID_AVAIL:
	case HF_PROP_SHARED_SUB_AVAIL:
		return v > 1 ? HF_RC_PROTOCOL_ERROR : HF_OK;
	case HF_PROP_RECEIVE_MAX:
	case HF_PROP_MAX_PACKET_SIZE:
	case HF_PROP_SUBSCRIPTION_ID:
		return v == 0 ? HF_RC_PROTOCOL_ERROR : HF_OK;
	case HF_PROP_TOPIC_ALIAS:
		return v == 0 ? HF_RC_TOPIC_ALIAS_INVALID : HF_OK;
	default:
		return HF_OK;
	}
}

int
hf_props_read(struct hf_rd *r, int ctx, struct hf_props *pr, int *soft)
{
	struct hf_rd pb;
	uint32_t plen;

	memset(pr, 0, sizeof(*pr));
	if (!hf_rd_varint(r, &plen) || hf_rd_left(r) < plen)
		return HF_RC_MALFORMED;
	pb.p = r->p + r->off;
	pb.len = plen;
	pb.off = 0;
	r->off += plen;
	pr->user.p = pb.p;
	pr->user.len = plen;

	while (hf_rd_left(&pb)) {
		const struct pdef *d;
		uint8_t id, b8;
		uint16_t b16;
		uint32_t v = 0;
		struct hf_bytes s, s2;
		char *field;
		int rc;

		if (!hf_rd_u8(&pb, &id))
			return HF_RC_MALFORMED;
		d = pdef_of(id);
		if (!d || !(d->allowed & (1u << ctx)))
			return HF_RC_MALFORMED;
		field = (char *)pr + d->off;
		switch (d->kind) {
		case PK_BYTE:
			if (!hf_rd_u8(&pb, &b8))
				return HF_RC_MALFORMED;
			v = b8;
			break;
		case PK_U16:
			if (!hf_rd_u16(&pb, &b16))
				return HF_RC_MALFORMED;
			v = b16;
			break;
		case PK_U32:
			if (!hf_rd_u32(&pb, &v))
				return HF_RC_MALFORMED;
			break;
		case PK_VARINT:
			if (!hf_rd_varint(&pb, &v))
				return HF_RC_MALFORMED;
			break;
		case PK_STR:
			if (!hf_rd_str(&pb, &s))
				return HF_RC_MALFORMED;
			break;
		case PK_BIN:
			if (!hf_rd_bin(&pb, &s))
				return HF_RC_MALFORMED;
			break;
		default: /* PK_PAIR */
			if (!hf_rd_str(&pb, &s) || !hf_rd_str(&pb, &s2))
				return HF_RC_MALFORMED;
			pr->present |= d->bit;
			pr->n_user++;
			continue;
		}

		if (pr->present & d->bit) {
			/* Only a PUBLISH may carry several subscription
			 * identifiers [MQTT-3.3.4-4]; every other property
			 * here is single-valued. */
			if (id == HF_PROP_SUBSCRIPTION_ID && ctx == HF_PUBLISH)
				pr->n_sub_ids++;
			else
				soft_err(soft, HF_RC_PROTOCOL_ERROR);
			rc = check_value(id, v);
			if (rc)
				soft_err(soft, rc);
			continue;
		}
		pr->present |= d->bit;
		rc = check_value(id, v);
		if (rc)
			soft_err(soft, rc);
		if (id == HF_PROP_RESPONSE_TOPIC &&
		    !hf_topic_name_valid(s.p, s.len))
			soft_err(soft, HF_RC_PROTOCOL_ERROR);
		switch (d->kind) {
		case PK_BYTE:
			*(uint8_t *)field = (uint8_t)v;
			break;
		case PK_U16:
			*(uint16_t *)field = (uint16_t)v;
			break;
		case PK_U32:
			*(uint32_t *)field = v;
			break;
		case PK_VARINT:
			*(uint32_t *)field = v;
			pr->n_sub_ids = 1;
			break;
		default:
			*(struct hf_bytes *)field = s;
			break;
		}
	}
	return HF_OK;
}

/* Skip one property of a block already validated (or a user property block
 * in wire form). Returns false when the bytes do not parse. */
static bool
skip_prop(struct hf_rd *r, uint8_t *id, struct hf_bytes *a, struct hf_bytes *b,
          uint32_t *v)
{
	const struct pdef *d;
	uint8_t b8;
	uint16_t b16;

	if (!hf_rd_u8(r, id))
		return false;
	d = pdef_of(*id);
	if (!d)
		return false;
	switch (d->kind) {
	case PK_BYTE:
		return hf_rd_u8(r, &b8);
	case PK_U16:
		return hf_rd_u16(r, &b16);
	case PK_U32:
		return hf_rd_u32(r, v);
	case PK_VARINT:
		return hf_rd_varint(r, v);
	case PK_STR:
	case PK_BIN:
		return hf_rd_bin(r, a);
	default:
		return hf_rd_bin(r, a) && hf_rd_bin(r, b);
	}
}

bool
hf_props_user_next(const struct hf_props *pr, uint32_t *off,
                   struct hf_bytes *key, struct hf_bytes *val)
{
	struct hf_rd r = {pr->user.p, pr->user.len, *off};
	uint8_t id;
	uint32_t v;

	if (!pr->user.p || *off > pr->user.len)
		return false;
	while (hf_rd_left(&r)) {
		if (!skip_prop(&r, &id, key, val, &v))
			return false;
		if (id == HF_PROP_USER_PROPERTY) {
			*off = r.off;
			return true;
		}
	}
	*off = r.off;
	return false;
}

bool
hf_props_sub_id_next(const struct hf_props *pr, uint32_t *off, uint32_t *id)
{
	struct hf_rd r = {pr->user.p, pr->user.len, *off};
	struct hf_bytes a, b;
	uint8_t pid;
	uint32_t v;

	if (!(pr->present & HF_PP_SUBSCRIPTION_ID))
		return false;
	if (!pr->user.p || *off > pr->user.len) {
		/* Not a decoded block: report the single sub_id once. */
		if (*off)
			return false;
		*off = 1;
		*id = pr->sub_id;
		return true;
	}
	while (hf_rd_left(&r)) {
		if (!skip_prop(&r, &pid, &a, &b, &v))
			return false;
		if (pid == HF_PROP_SUBSCRIPTION_ID) {
			*off = r.off;
			*id = v;
			return true;
		}
	}
	*off = r.off;
	return false;
}

size_t
hf_props_user_wire_len(const struct hf_props *pr)
{
	struct hf_bytes k, v;
	uint32_t off = 0;
	size_t n = 0;

	while (hf_props_user_next(pr, &off, &k, &v))
		n += 5 + (size_t)k.len + v.len;
	return n;
}

void
hf_props_user_copy(const struct hf_props *pr, uint8_t *out)
{
	struct hf_wr w = {out, 0, false};
	struct hf_bytes k, v;
	uint32_t off = 0;

	while (hf_props_user_next(pr, &off, &k, &v)) {
		hf_wr_u8(&w, HF_PROP_USER_PROPERTY);
		hf_wr_bin(&w, k.p, k.len);
		hf_wr_bin(&w, v.p, v.len);
	}
}

/* Write the properties themselves (no length prefix), ascending ids, user
 * properties verbatim at the end. */
static void
write_body(struct hf_wr *w, const struct hf_props *pr)
{
	unsigned id;
	uint32_t i;

	for (id = 0; id < NPDEFS; id++) {
		const struct pdef *d = &pdefs[id];
		const char *field = (const char *)pr + d->off;

		if (d->kind == PK_NONE || d->kind == PK_PAIR)
			continue;
		if (id == HF_PROP_SUBSCRIPTION_ID && pr->sub_ids &&
		    pr->n_sub_ids) {
			for (i = 0; i < pr->n_sub_ids; i++) {
				hf_wr_u8(w, (uint8_t)id);
				hf_wr_varint(w, pr->sub_ids[i]);
			}
			continue;
		}
		if (!(pr->present & d->bit))
			continue;
		hf_wr_u8(w, (uint8_t)id);
		switch (d->kind) {
		case PK_BYTE:
			hf_wr_u8(w, *(const uint8_t *)field);
			break;
		case PK_U16:
			hf_wr_u16(w, *(const uint16_t *)field);
			break;
		case PK_U32:
			hf_wr_u32(w, *(const uint32_t *)field);
			break;
		case PK_VARINT:
			hf_wr_varint(w, *(const uint32_t *)field);
			break;
		default: {
			const struct hf_bytes *b =
			    (const struct hf_bytes *)(const void *)field;

			hf_wr_bin(w, b->p, b->len);
			break;
		}
		}
	}
	if (pr->user.len)
		hf_wr_raw(w, pr->user.p, pr->user.len);
}

size_t
hf_props_body_size(const struct hf_props *pr)
{
	struct hf_wr w = {NULL, 0, false};

	write_body(&w, pr);
	return w.n;
}

void
hf_props_write(struct hf_wr *w, const struct hf_props *pr)
{
	size_t n = hf_props_body_size(pr);

	if (n > HF_MAX_VARINT) {
		w->bad = true;
		return;
	}
	hf_wr_varint(w, (uint32_t)n);
	write_body(w, pr);
}
