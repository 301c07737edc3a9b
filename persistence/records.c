/* persistence/records.c - byte encodings of the store's values.
 *
 * Each record is a fixed header of big-endian integers followed by its
 * variable parts, whose lengths are in the header; nothing is implied.
 * Decoding checks that the header is present, that every enum-like field is
 * in range, and that the value is exactly header + variable parts long, so
 * a truncated, extended or garbage value is rejected instead of being read
 * past its end. The layouts (format version 1) are in persistence/README.md.
 *
 * Threading: pure functions; encoders return malloc'd buffers owned by the
 * caller; decoders return pointers into the caller's buffer. */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

uint64_t
hf_rec_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Copy n bytes unless there are none (p may then be NULL). */
static uint8_t *
put_bytes(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (n)
		memcpy(dst, src, n);
	return dst + n;
}

/* The identity part of a version 2 session record, after the client id:
 * flags (bit 0 username present, bit 1 certificate CN present), listener
 * port, then each string as u16 length + bytes. */
#define SESSION_ID_PART      7u
#define SESSION_HAS_USERNAME 1u
#define SESSION_HAS_CERT_CN  2u

uint8_t *
hf_rec_session_enc(const struct hf_store_session *s, size_t *len)
{
	size_t n = HF_REC_SESSION_HDR + s->client_id_len + SESSION_ID_PART +
	           s->username_len + s->cert_cn_len;
	uint8_t *b = malloc(n), *q;

	if (!b)
		return NULL;
	b[0] = s->proto;
	hf_be32(b + 1, s->expiry);
	hf_be64(b + 5, (uint64_t)s->disconnected_at);
	hf_be64(b + 13, s->will_msg);
	hf_be32(b + 21, s->will_delay);
	hf_be64(b + 25, (uint64_t)s->will_at);
	hf_be16(b + 33, s->client_id_len);
	put_bytes(b + HF_REC_SESSION_HDR, s->client_id, s->client_id_len);
	q = b + HF_REC_SESSION_HDR + s->client_id_len;
	q[0] = (uint8_t)((s->has_username ? SESSION_HAS_USERNAME : 0) |
	                 (s->has_cert_cn ? SESSION_HAS_CERT_CN : 0));
	hf_be16(q + 1, s->listener_port);
	hf_be16(q + 3, s->username_len);
	put_bytes(q + 5, s->username, s->username_len);
	q += 5 + s->username_len;
	hf_be16(q, s->cert_cn_len);
	put_bytes(q + 2, s->cert_cn, s->cert_cn_len);
	*len = n;
	return b;
}

int
hf_rec_session_dec(const uint8_t *p, size_t n, uint64_t sid, unsigned version,
                   struct hf_store_session *out)
{
	const uint8_t *q, *end = p + n;

	if (n < HF_REC_SESSION_HDR)
		return -1;
	memset(out, 0, sizeof(*out));
	out->sid = sid;
	out->proto = p[0];
	out->expiry = hf_rd32(p + 1);
	out->disconnected_at = (int64_t)hf_rd64(p + 5);
	out->will_msg = hf_rd64(p + 13);
	out->will_delay = hf_rd32(p + 21);
	out->will_at = (int64_t)hf_rd64(p + 25);
	out->client_id_len = hf_rd16(p + 33);
	if (n < HF_REC_SESSION_HDR + (size_t)out->client_id_len)
		return -1;
	out->client_id = p + HF_REC_SESSION_HDR;
	q = out->client_id + out->client_id_len;
	if (version < 2) /* format 1: nothing after the client id */
		return q == end ? 0 : -1;
	if ((size_t)(end - q) < SESSION_ID_PART || (q[0] & ~3u))
		return -1;
	out->has_username = q[0] & SESSION_HAS_USERNAME;
	out->has_cert_cn = q[0] & SESSION_HAS_CERT_CN;
	out->listener_port = hf_rd16(q + 1);
	out->username_len = hf_rd16(q + 3);
	q += 5;
	if ((size_t)(end - q) < (size_t)out->username_len + 2)
		return -1;
	out->username = q;
	q += out->username_len;
	out->cert_cn_len = hf_rd16(q);
	q += 2;
	if ((size_t)(end - q) != out->cert_cn_len)
		return -1;
	out->cert_cn = q;
	/* Lengths without their flag are not a valid record. */
	if ((!out->has_username && out->username_len) ||
	    (!out->has_cert_cn && out->cert_cn_len))
		return -1;
	return 0;
}

uint8_t *
hf_rec_sub_enc(const struct hf_store_sub *s, size_t *len)
{
	size_t n = HF_REC_SUB_HDR + s->filter_len;
	uint8_t *b = malloc(n);

	if (!b)
		return NULL;
	b[0] = s->opts;
	hf_be32(b + 1, s->sub_id);
	hf_be16(b + 5, s->filter_len);
	put_bytes(b + HF_REC_SUB_HDR, s->filter, s->filter_len);
	*len = n;
	return b;
}

int
hf_rec_sub_dec(const uint8_t *p, size_t n, uint64_t sid,
               struct hf_store_sub *out)
{
	if (n < HF_REC_SUB_HDR)
		return -1;
	memset(out, 0, sizeof(*out));
	out->sid = sid;
	out->opts = p[0];
	out->sub_id = hf_rd32(p + 1);
	out->filter_len = hf_rd16(p + 5);
	if (n != HF_REC_SUB_HDR + (size_t)out->filter_len)
		return -1;
	out->filter = p + HF_REC_SUB_HDR;
	return 0;
}

uint8_t *
hf_rec_msg_enc(const struct hf_store_msg *m, size_t *len)
{
	size_t n = HF_REC_MSG_HDR + (size_t)m->topic_len + m->payload_len +
	           m->props_len;
	uint8_t *b = malloc(n), *w;

	if (!b)
		return NULL;
	b[0] = m->qos;
	b[1] = m->retain ? 1 : 0;
	hf_be64(b + 2, (uint64_t)m->expiry_at);
	hf_be16(b + 10, m->topic_len);
	hf_be32(b + 12, m->payload_len);
	hf_be32(b + 16, m->props_len);
	w = put_bytes(b + HF_REC_MSG_HDR, m->topic, m->topic_len);
	w = put_bytes(w, m->payload, m->payload_len);
	put_bytes(w, m->props, m->props_len);
	*len = n;
	return b;
}

int
hf_rec_msg_dec(const uint8_t *p, size_t n, uint64_t id,
               struct hf_store_msg *out)
{
	uint64_t want;

	if (n < HF_REC_MSG_HDR)
		return -1;
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->qos = p[0];
	if (out->qos > 2 || (p[1] & ~1u))
		return -1;
	out->retain = p[1] & 1;
	out->expiry_at = (int64_t)hf_rd64(p + 2);
	out->topic_len = hf_rd16(p + 10);
	out->payload_len = hf_rd32(p + 12);
	out->props_len = hf_rd32(p + 16);
	/* 64-bit sum: two u32 lengths cannot wrap it. */
	want = (uint64_t)HF_REC_MSG_HDR + out->topic_len + out->payload_len +
	       out->props_len;
	if ((uint64_t)n != want)
		return -1;
	out->topic = p + HF_REC_MSG_HDR;
	out->payload = out->topic + out->topic_len;
	out->props = out->payload + out->payload_len;
	return 0;
}

uint8_t *
hf_rec_qentry_enc(const struct hf_store_qentry *e, size_t *len)
{
	size_t n = HF_REC_QENTRY_HDR + 4u * (size_t)e->n_subids + 8u;
	uint8_t *b = malloc(n);

	if (!b)
		return NULL;
	hf_be64(b, e->msg_id);
	hf_be32(b + 8, e->payload_len);
	b[12] = e->qos;
	b[13] = e->state;
	b[14] = e->retain ? 1 : 0;
	hf_be16(b + 15, e->pid);
	hf_be16(b + 17, e->n_subids);
	for (size_t i = 0; i < e->n_subids; i++)
		hf_be32(b + HF_REC_QENTRY_HDR + 4 * i, e->subids[i]);
	hf_be64(b + n - 8, (uint64_t)e->queued_at);
	*len = n;
	return b;
}

int
hf_rec_qentry_dec(const uint8_t *p, size_t n, uint64_t sid, uint64_t seq,
                  unsigned version, struct hf_store_qentry *out,
                  const uint8_t **raw_subids)
{
	/* Format 3 appended the time the entry was queued; format 2 entries
	 * (read through a read-only handle before migration) have none. */
	size_t tail = version >= 3 ? 8u : 0u;

	if (n < HF_REC_QENTRY_HDR)
		return -1;
	memset(out, 0, sizeof(*out));
	out->sid = sid;
	out->seq = seq;
	out->msg_id = hf_rd64(p);
	out->payload_len = hf_rd32(p + 8);
	out->qos = p[12];
	out->state = p[13];
	if (out->qos > 2 || out->state > 2 || (p[14] & ~1u))
		return -1;
	out->retain = p[14] & 1;
	out->pid = hf_rd16(p + 15);
	out->n_subids = hf_rd16(p + 17);
	if (n != HF_REC_QENTRY_HDR + 4u * (size_t)out->n_subids + tail)
		return -1;
	if (tail)
		out->queued_at = (int64_t)hf_rd64(p + n - 8);
	*raw_subids = p + HF_REC_QENTRY_HDR;
	return 0;
}

void
hf_rec_subids(const uint8_t *raw, uint16_t n, uint32_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = hf_rd32(raw + 4 * i);
}
