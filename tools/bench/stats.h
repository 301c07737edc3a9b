/*
 * tools/bench/stats.h - latency histogram and sequence tracking for hfbench.
 *
 * Design: latencies go into a log-linear histogram (HDR style): values below
 * 128 ns are exact, above that every power of two is split into 128 linear
 * buckets, so any reported percentile is within 1% of the true sample, the
 * histogram is a fixed 58 KiB array and recording is a few instructions.
 * Sequence tracking keeps one bitmap of seen sequence numbers per
 * (subscriber, publisher) stream, grown by doubling, which counts exact
 * duplicates, late (out-of-order) arrivals and, at the end, missing numbers.
 *
 * Threading/ownership: each worker thread owns its histograms and trackers;
 * hf_bench_hist_merge() folds them together after the threads joined.
 */
#ifndef HF_BENCH_STATS_H
#define HF_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#define HFB_HIST_SUB     128
#define HFB_HIST_BUCKETS (58 * HFB_HIST_SUB)

struct hf_bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t min;
	double sum;
	uint64_t b[HFB_HIST_BUCKETS];
};

void hf_bench_hist_reset(struct hf_bench_hist *h);
void hf_bench_hist_add(struct hf_bench_hist *h, uint64_t v);
void hf_bench_hist_merge(struct hf_bench_hist *dst,
                         const struct hf_bench_hist *src);
/* Value at quantile q (0..1): the upper edge of the bucket holding it,
 * capped at the exact maximum. 0 if empty. */
uint64_t hf_bench_hist_quantile(const struct hf_bench_hist *h, double q);
/* Bucket index and the smallest value of a bucket (exposed for the
 * self-test). */
size_t hf_bench_hist_index(uint64_t v);
uint64_t hf_bench_hist_lower(size_t idx);

/* One stream of sequence numbers (from 1) from one publisher. */
struct hf_bench_seq {
	uint64_t *bits;
	uint64_t nwords;
	uint64_t highest;  /* highest sequence seen */
	uint64_t distinct; /* distinct sequences seen */
	uint64_t dups;
	uint64_t reordered; /* arrived after a higher one */
};

/* Record one sequence number. Returns 1 if new, 0 if a duplicate. */
int hf_bench_seq_add(struct hf_bench_seq *s, uint64_t seq);
/* How many of 1..n were never seen. */
uint64_t hf_bench_seq_missing(const struct hf_bench_seq *s, uint64_t n);
/* Fold src into dst (shared subscriptions split over threads): numbers
 * seen by both count as duplicates. */
void hf_bench_seq_merge(struct hf_bench_seq *dst,
                        const struct hf_bench_seq *src);
void hf_bench_seq_free(struct hf_bench_seq *s);

#endif
