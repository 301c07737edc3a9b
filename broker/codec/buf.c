/* broker/codec/buf.c - growable output buffer, write cursor and variable
 * byte integers.
 *
 * struct hf_wbuf grows by doubling (starting at 64 bytes) so appends are
 * amortised O(1); a failed growth leaves it untouched. struct hf_wr is the
 * encoder's cursor: it writes into memory reserved up front, or only counts
 * when it has no memory, so the size pass and the write pass of the encoder
 * are the same code and cannot disagree.
 *
 * Threading/ownership: the caller owns the hf_wbuf and frees p. */
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"

int
hf_wbuf_reserve(struct hf_wbuf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (n <= b->cap - b->len)
		return HF_OK;
	if (n > SIZE_MAX / 2 - b->len)
		return HF_ENOMEM;
	cap = b->cap ? b->cap : 64;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return HF_ENOMEM;
	b->p = p;
	b->cap = cap;
	return HF_OK;
}

int
hf_wbuf_put(struct hf_wbuf *b, const void *data, size_t n)
{
	if (n == 0)
		return HF_OK;
	if (hf_wbuf_reserve(b, n) != HF_OK)
		return HF_ENOMEM;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return HF_OK;
}

void
hf_wbuf_free(struct hf_wbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

unsigned
hf_varint_size(uint32_t v)
{
	if (v < 128u)
		return 1;
	if (v < 16384u)
		return 2;
	if (v < 2097152u)
		return 3;
	return 4;
}

unsigned
hf_varint_write(uint32_t v, uint8_t *out)
{
	unsigned n = 0;

	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		if (v && n < 3)
			b |= 0x80;
		out[n++] = b;
	} while (v && n < 4);
	return n;
}

void
hf_wr_raw(struct hf_wr *w, const void *d, size_t n)
{
	if (w->p && n)
		memcpy(w->p + w->n, d, n);
	w->n += n;
}

void
hf_wr_u8(struct hf_wr *w, uint8_t v)
{
	hf_wr_raw(w, &v, 1);
}

void
hf_wr_u16(struct hf_wr *w, uint16_t v)
{
	uint8_t b[2];

	hf_be16(b, v);
	hf_wr_raw(w, b, 2);
}

void
hf_wr_u32(struct hf_wr *w, uint32_t v)
{
	uint8_t b[4];

	hf_be32(b, v);
	hf_wr_raw(w, b, 4);
}

void
hf_wr_varint(struct hf_wr *w, uint32_t v)
{
	uint8_t b[4];

	if (v > HF_MAX_VARINT)
		w->bad = true;
	hf_wr_raw(w, b, hf_varint_write(v, b));
}

void
hf_wr_bin(struct hf_wr *w, const uint8_t *d, size_t n)
{
	if (n > HF_MAX_STRING) {
		w->bad = true;
		n = HF_MAX_STRING;
	}
	hf_wr_u16(w, (uint16_t)n);
	hf_wr_raw(w, d, n);
}
