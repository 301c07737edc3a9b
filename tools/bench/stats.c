/*
 * tools/bench/stats.c - log-linear latency histogram and sequence bitmaps
 * (see stats.h).
 *
 * Design: bucket index of v >= 128 is (e - 6) * 128 + (v >> (e - 7)) - 128
 * where e is the index of v's highest set bit; this continues the exact
 * range 0..127 without a gap, and 64-bit values fit in 58 * 128 buckets.
 *
 * Threading/ownership: no shared state; the caller owns every structure.
 */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
hf_bench_hist_reset(struct hf_bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t
hf_bench_hist_index(uint64_t v)
{
	unsigned e;

	if (v < HFB_HIST_SUB)
		return (size_t)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return (size_t)(e - 6) * HFB_HIST_SUB + (size_t)(v >> (e - 7)) -
	       HFB_HIST_SUB;
}

uint64_t
hf_bench_hist_lower(size_t idx)
{
	unsigned e;
	uint64_t s;

	if (idx < 2 * HFB_HIST_SUB)
		return idx;
	e = (unsigned)(idx / HFB_HIST_SUB) + 6;
	s = idx % HFB_HIST_SUB + HFB_HIST_SUB;
	return s << (e - 7);
}

void
hf_bench_hist_add(struct hf_bench_hist *h, uint64_t v)
{
	h->b[hf_bench_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

void
hf_bench_hist_merge(struct hf_bench_hist *dst, const struct hf_bench_hist *src)
{
	size_t i;

	for (i = 0; i < HFB_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	if (src->min < dst->min)
		dst->min = src->min;
}

uint64_t
hf_bench_hist_quantile(const struct hf_bench_hist *h, double q)
{
	uint64_t rank, seen = 0;
	size_t i;

	if (!h->count)
		return 0;
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (i = 0; i < HFB_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > rank) {
			uint64_t up = i + 1 < HFB_HIST_BUCKETS
			                  ? hf_bench_hist_lower(i + 1) - 1
			                  : h->max;

			if (up > h->max)
				up = h->max;
			if (up < h->min)
				up = h->min;
			return up;
		}
	}
	return h->max;
}

int
hf_bench_seq_add(struct hf_bench_seq *s, uint64_t seq)
{
	uint64_t w = seq >> 6, bit = 1ull << (seq & 63);

	if (w >= s->nwords) {
		uint64_t n = s->nwords ? s->nwords : 1024;
		uint64_t *nb;

		while (n <= w)
			n *= 2;
		nb = realloc(s->bits, n * sizeof(*nb));
		if (!nb) {
			perror("hfbench: realloc");
			exit(1);
		}
		memset(nb + s->nwords, 0, (n - s->nwords) * sizeof(*nb));
		s->bits = nb;
		s->nwords = n;
	}
	if (s->bits[w] & bit) {
		s->dups++;
		return 0;
	}
	s->bits[w] |= bit;
	s->distinct++;
	if (seq < s->highest)
		s->reordered++;
	else
		s->highest = seq;
	return 1;
}

uint64_t
hf_bench_seq_missing(const struct hf_bench_seq *s, uint64_t n)
{
	uint64_t seen = 0, i, full = (n + 1) >> 6;

	/* count set bits for sequences 1..n */
	for (i = 0; i < full && i < s->nwords; i++)
		seen += (uint64_t)__builtin_popcountll(s->bits[i]);
	if (full < s->nwords) {
		uint64_t rem = (n + 1) & 63;

		if (rem)
			seen += (uint64_t)__builtin_popcountll(
			    s->bits[full] & ((1ull << rem) - 1));
	}
	/* bit 0 (sequence 0) is never set */
	return n > seen ? n - seen : 0;
}

void
hf_bench_seq_merge(struct hf_bench_seq *dst, const struct hf_bench_seq *src)
{
	uint64_t i, both = 0;

	if (src->nwords > dst->nwords) {
		uint64_t *nb = realloc(dst->bits, src->nwords * sizeof(*nb));

		if (!nb) {
			perror("hfbench: realloc");
			exit(1);
		}
		memset(nb + dst->nwords, 0,
		       (src->nwords - dst->nwords) * sizeof(*nb));
		dst->bits = nb;
		dst->nwords = src->nwords;
	}
	for (i = 0; i < src->nwords; i++) {
		both +=
		    (uint64_t)__builtin_popcountll(dst->bits[i] & src->bits[i]);
		dst->bits[i] |= src->bits[i];
	}
	dst->distinct += src->distinct - both;
	dst->dups += src->dups + both;
	dst->reordered += src->reordered;
	if (src->highest > dst->highest)
		dst->highest = src->highest;
}

void
hf_bench_seq_free(struct hf_bench_seq *s)
{
	free(s->bits);
	memset(s, 0, sizeof(*s));
}
