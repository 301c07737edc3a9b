/* broker/codec/codec_int.h - private helpers shared by the codec's files.
 *
 * A bounded read cursor (struct hf_rd) used by every decoder so that no read
 * can leave the packet body, a counting/writing cursor (struct hf_wr) used by
 * every encoder so that the size pass and the write pass run the same code,
 * and the v5 property reader/writer entry points.
 *
 * Threading/ownership: plain values on the caller's stack; nothing global. */
#ifndef HF_CODEC_INT_H
#define HF_CODEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/bytes.h"
#include "holdfast/codec.h"

/* Read cursor over p[0..len). */
struct hf_rd {
	const uint8_t *p;
	uint32_t len;
	uint32_t off;
};

static inline uint32_t
hf_rd_left(const struct hf_rd *r)
{
	return r->len - r->off;
}

static inline bool
hf_rd_u8(struct hf_rd *r, uint8_t *v)
{
	if (hf_rd_left(r) < 1)
		return false;
	*v = r->p[r->off++];
	return true;
}

static inline bool
hf_rd_u16(struct hf_rd *r, uint16_t *v)
{
	if (hf_rd_left(r) < 2)
		return false;
	*v = hf_rd16(r->p + r->off);
	r->off += 2;
	return true;
}

static inline bool
hf_rd_u32(struct hf_rd *r, uint32_t *v)
{
	const uint8_t *q;

	if (hf_rd_left(r) < 4)
		return false;
	q = r->p + r->off;
	*v = hf_rd32(q);
	r->off += 4;
	return true;
}

/* Variable byte integer, at most four bytes, in the fewest bytes
 * [MQTT-1.5.5-1]. False when short, longer than four bytes or over-long. */
static inline bool
hf_rd_varint(struct hf_rd *r, uint32_t *v)
{
	uint32_t x = 0;
	unsigned i;
	uint8_t b;

	for (i = 0; i < 4; i++) {
		if (!hf_rd_u8(r, &b))
			return false;
		x |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (i > 0 && b == 0)
				return false;
			*v = x;
			return true;
		}
	}
	return false;
}

/* Two-byte length followed by that many bytes (binary data or string). */
static inline bool
hf_rd_bin(struct hf_rd *r, struct hf_bytes *b)
{
	uint16_t n;

	if (!hf_rd_u16(r, &n) || hf_rd_left(r) < n)
		return false;
	b->p = r->p + r->off;
	b->len = n;
	r->off += n;
	return true;
}

/* A UTF-8 Encoded String: hf_rd_bin() plus hf_utf8_valid(). */
static inline bool
hf_rd_str(struct hf_rd *r, struct hf_bytes *b)
{
	return hf_rd_bin(r, b) && hf_utf8_valid(b->p, b->len);
}

/* Write cursor. With p == NULL it only counts. `bad` is set when a value
 * cannot be represented (a string over 65535 bytes, a varint too large). */
struct hf_wr {
	uint8_t *p;
	size_t n;
	bool bad;
};

void hf_wr_u8(struct hf_wr *w, uint8_t v);
void hf_wr_u16(struct hf_wr *w, uint16_t v);
void hf_wr_u32(struct hf_wr *w, uint32_t v);
void hf_wr_varint(struct hf_wr *w, uint32_t v);
void hf_wr_raw(struct hf_wr *w, const void *d, size_t n);
void hf_wr_bin(struct hf_wr *w, const uint8_t *d, size_t n);

/* Property contexts: a packet type (1..15) or this one for will properties
 * inside CONNECT. */
#define HF_PCTX_WILL 0

/* Read a v5 Property Length and the properties after it into *pr (zeroed
 * first). Returns HF_OK or HF_RC_MALFORMED for structural faults; a
 * semantic fault (duplicate, value out of range) is stored in *soft when
 * *soft is still 0, and reading continues. */
int hf_props_read(struct hf_rd *r, int ctx, struct hf_props *pr, int *soft);

/* Bytes of the property block's content (without its length prefix). */
size_t hf_props_body_size(const struct hf_props *pr);
/* Write Property Length and the properties. */
void hf_props_write(struct hf_wr *w, const struct hf_props *pr);

#endif
