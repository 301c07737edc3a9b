/*
 * tools/bench/proto.c - hfbench's own MQTT encoder/decoder (see proto.h).
 *
 * Design: every encoder computes the Remaining Length first, reserves the
 * whole packet in the output buffer once and writes it in place. The PUBLISH
 * path copies a prebuilt header and patches the packet id and the 20-byte
 * stamp, so a message costs one memcpy of the header and one memset of the
 * padding. Decoders return views into the caller's input buffer.
 *
 * Threading/ownership: pure; no state of its own.
 */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
hf_bench_buf_init(struct hf_bench_buf *b, size_t cap)
{
	b->data = cap ? malloc(cap) : NULL;
	if (cap && !b->data) {
		perror("hfbench: malloc");
		exit(1);
	}
	b->len = 0;
	b->off = 0;
	b->cap = cap;
}

void
hf_bench_buf_free(struct hf_bench_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->off = b->cap = 0;
}

uint8_t *
hf_bench_buf_reserve(struct hf_bench_buf *b, size_t n)
{
	if (b->off + b->len + n > b->cap && b->off) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			perror("hfbench: realloc");
			exit(1);
		}
		b->data = d;
		b->cap = cap;
	}
	return b->data + b->off + b->len;
}

void
hf_bench_buf_consume(struct hf_bench_buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
}

static size_t
varint_len(size_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

static uint8_t *
put_varint(uint8_t *p, size_t v)
{
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		if (v)
			c |= 0x80;
		*p++ = c;
	} while (v);
	return p;
}

static uint8_t *
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
	return p + 2;
}

static uint8_t *
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
	return p + 4;
}

static uint8_t *
put_str(uint8_t *p, const char *s, size_t n)
{
	p = put_u16(p, (uint16_t)n);
	memcpy(p, s, n);
	return p + n;
}

/* Reserve a packet with body length rl; returns the body write pointer. */
static uint8_t *
start_packet(struct hf_bench_buf *b, uint8_t first, size_t rl)
{
	size_t total = 1 + varint_len(rl) + rl;
	uint8_t *p = hf_bench_buf_reserve(b, total);

	b->len += total;
	*p++ = first;
	return put_varint(p, rl);
}

void
hf_bench_put_connect(struct hf_bench_buf *b, const struct hf_bench_connect *c)
{
	size_t idlen = strlen(c->client_id);
	size_t props = 0, rl;
	uint8_t *p;

	if (c->version == 5 && c->session_expiry)
		props = 5;
	rl = 10 + 2 + idlen;
	if (c->version == 5)
		rl += varint_len(props) + props;
	p = start_packet(b, HFB_CONNECT << 4, rl);
	p = put_str(p, "MQTT", 4);
	*p++ = (uint8_t)c->version;
	*p++ = c->clean ? 0x02 : 0x00;
	p = put_u16(p, c->keepalive);
	if (c->version == 5) {
		p = put_varint(p, props);
		if (props) {
			*p++ = 0x11; /* Session Expiry Interval */
			p = put_u32(p, c->session_expiry);
		}
	}
	put_str(p, c->client_id, idlen);
}

void
hf_bench_put_subscribe(struct hf_bench_buf *b, int version, uint16_t id,
                       const char *filter, int qos)
{
	size_t flen = strlen(filter);
	size_t rl = 2 + 2 + flen + 1 + (version == 5 ? 1 : 0);
	uint8_t *p = start_packet(b, (HFB_SUBSCRIBE << 4) | 0x02, rl);

	p = put_u16(p, id);
	if (version == 5)
		*p++ = 0; /* no properties */
	p = put_str(p, filter, flen);
	*p = (uint8_t)qos;
}

void
hf_bench_put_ack(struct hf_bench_buf *b, int type, uint16_t id)
{
	uint8_t *p = hf_bench_buf_reserve(b, 4);

	p[0] = (uint8_t)(type << 4) | (type == HFB_PUBREL ? 0x02 : 0);
	p[1] = 2;
	put_u16(p + 2, id);
	b->len += 4;
}

void
hf_bench_put_simple(struct hf_bench_buf *b, int type)
{
	uint8_t *p = hf_bench_buf_reserve(b, 2);

	p[0] = (uint8_t)(type << 4);
	p[1] = 0;
	b->len += 2;
}

int
hf_bench_pub_template(struct hf_bench_pubtpl *t, int version, const char *topic,
                      int qos, size_t payload)
{
	size_t tlen = strlen(topic);
	size_t rl = 2 + tlen + (qos ? 2 : 0) + (version == 5 ? 1 : 0) + payload;
	uint8_t *p = t->head;

	if (payload < HFB_STAMP_LEN || tlen > 200 || rl > 268435455)
		return -1;
	memset(t, 0, sizeof(*t));
	*p++ = (uint8_t)((HFB_PUBLISH << 4) | (qos << 1));
	p = put_varint(p, rl);
	p = put_str(p, topic, tlen);
	t->head_len = (size_t)(p - t->head);
	if (qos) {
		t->id_off = t->head_len;
		p += 2;
	}
	if (version == 5)
		*p++ = 0; /* no properties */
	t->stamp_off = (size_t)(p - t->head);
	t->payload = payload;
	t->total = t->stamp_off + payload;
	return 0;
}

void
hf_bench_put_publish(struct hf_bench_buf *b, const struct hf_bench_pubtpl *t,
                     uint16_t id, uint32_t pub, uint64_t seq, uint64_t ts)
{
	uint8_t *p = hf_bench_buf_reserve(b, t->total);

	memcpy(p, t->head, t->stamp_off);
	if (t->id_off)
		put_u16(p + t->id_off, id);
	p += t->stamp_off;
	memcpy(p, &pub, 4);
	memcpy(p + 4, &seq, 8);
	memcpy(p + 12, &ts, 8);
	memset(p + HFB_STAMP_LEN, 0, t->payload - HFB_STAMP_LEN);
	b->len += t->total;
}

long
hf_bench_frame(const uint8_t *p, size_t n, int *type, int *flags,
               const uint8_t **body, size_t *body_len)
{
	size_t rl = 0, i;
	unsigned shift = 0;

	if (n < 2)
		return 0;
	for (i = 1; i < 5; i++) {
		if (i >= n)
			return 0;
		rl |= (size_t)(p[i] & 0x7f) << shift;
		shift += 7;
		if (!(p[i] & 0x80))
			break;
	}
	if (i == 5)
		return -1;
	i++;
	if (n - i < rl)
		return 0;
	*type = p[0] >> 4;
	*flags = p[0] & 0x0f;
	*body = p + i;
	*body_len = rl;
	return (long)(i + rl);
}

static int
get_varint(const uint8_t **p, const uint8_t *end, size_t *v)
{
	unsigned shift = 0;
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		if (*p >= end)
			return -1;
		*v |= (size_t)(**p & 0x7f) << shift;
		shift += 7;
		if (!(*(*p)++ & 0x80))
			return 0;
	}
	return -1;
}

int
hf_bench_get_publish(int version, int flags, const uint8_t *body, size_t len,
                     struct hf_bench_publish *out)
{
	const uint8_t *p = body, *end = body + len;
	size_t tlen;

	out->qos = (flags >> 1) & 3;
	out->dup = (flags >> 3) & 1;
	out->retain = flags & 1;
	out->id = 0;
	if (out->qos == 3 || len < 2)
		return -1;
	tlen = ((size_t)p[0] << 8) | p[1];
	p += 2;
	if ((size_t)(end - p) < tlen)
		return -1;
	out->topic = p;
	out->topic_len = tlen;
	p += tlen;
	if (out->qos) {
		if (end - p < 2)
			return -1;
		out->id = (uint16_t)((p[0] << 8) | p[1]);
		p += 2;
		if (!out->id)
			return -1;
	}
	if (version == 5) {
		size_t plen;

		if (get_varint(&p, end, &plen) || (size_t)(end - p) < plen)
			return -1;
		p += plen;
	}
	out->payload = p;
	out->payload_len = (size_t)(end - p);
	return 0;
}

int
hf_bench_get_connack(int version, const uint8_t *body, size_t len, int *rc,
                     uint16_t *recv_max)
{
	const uint8_t *p, *end = body + len;
	size_t plen;

	*recv_max = 65535;
	if (len < 2)
		return -1;
	*rc = body[1];
	if (version != 5)
		return len == 2 ? 0 : -1;
	p = body + 2;
	if (get_varint(&p, end, &plen) || (size_t)(end - p) != plen)
		return -1;
	/* Walk the properties for Receive Maximum (0x21); stop at anything
	 * whose length we do not know rather than misparse it. */
	while (p < end) {
		uint8_t id = *p++;
		size_t skip;

		switch (id) {
		case 0x21:
			if (end - p < 2)
				return -1;
			*recv_max = (uint16_t)((p[0] << 8) | p[1]);
			skip = 2;
			break;
		case 0x24: /* Maximum QoS */
		case 0x25: /* Retain Available */
		case 0x28: /* Wildcard Subscription Available */
		case 0x29: /* Subscription Identifiers Available */
		case 0x2A: /* Shared Subscription Available */
			skip = 1;
			break;
		case 0x13: /* Server Keep Alive */
		case 0x22: /* Topic Alias Maximum */
			skip = 2;
			break;
		case 0x11: /* Session Expiry Interval */
		case 0x27: /* Maximum Packet Size */
			skip = 4;
			break;
		case 0x12: /* Assigned Client Identifier */
		case 0x15: /* Authentication Method */
		case 0x16: /* Authentication Data */
		case 0x1A: /* Response Information */
		case 0x1C: /* Server Reference */
		case 0x1F: /* Reason String */
			if (end - p < 2)
				return -1;
			skip = 2 + (((size_t)p[0] << 8) | p[1]);
			break;
		case 0x26: { /* User Property: two strings */
			size_t a, bl;

			if (end - p < 2)
				return -1;
			a = ((size_t)p[0] << 8) | p[1];
			if ((size_t)(end - p) < 4 + a)
				return -1;
			bl = ((size_t)p[2 + a] << 8) | p[3 + a];
			skip = 4 + a + bl;
			break;
		}
		default:
			return 0; /* unknown: keep the default */
		}
		if ((size_t)(end - p) < skip)
			return -1;
		p += skip;
	}
	return 0;
}

int
hf_bench_get_ack(const uint8_t *body, size_t len, uint16_t *id, int *rc)
{
	if (len < 2)
		return -1;
	*id = (uint16_t)((body[0] << 8) | body[1]);
	*rc = len > 2 ? body[2] : 0;
	return *id ? 0 : -1;
}

int
hf_bench_get_suback(int version, const uint8_t *body, size_t len, uint16_t *id,
                    int *rc)
{
	const uint8_t *p = body + 2, *end = body + len;

	if (len < 3)
		return -1;
	*id = (uint16_t)((body[0] << 8) | body[1]);
	if (version == 5) {
		size_t plen;

		if (get_varint(&p, end, &plen) || (size_t)(end - p) < plen)
			return -1;
		p += plen;
	}
	if (p >= end)
		return -1;
	*rc = *p;
	return 0;
}

void
hf_bench_stamp_read(const uint8_t *p, uint32_t *pub, uint64_t *seq,
                    uint64_t *ts)
{
	memcpy(pub, p, 4);
	memcpy(seq, p + 4, 8);
	memcpy(ts, p + 12, 8);
}
