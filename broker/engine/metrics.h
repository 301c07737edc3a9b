/* broker/engine/metrics.h - the engine's counters, gauges and histograms,
 * kept as events happen, read by /metrics, /health (the HTTP API in
 * broker/net/http.c, through struct hf_status_source of net/conn.h) and by
 * $SYS (sys.c).
 *
 * Why kept as events happen: a scrape or a $SYS tick must cost the same
 * with ten clients or a million, so nothing here is computed by walking
 * sessions, queues or messages. Every counter is bumped where its event
 * happens (a helper below, so each site stays one line), every gauge is
 * moved by the same code that moves the per-session value it sums.
 *
 * Histograms have fixed bucket bounds (Prometheus "le", cumulative when
 * written out); observing costs one pass over at most HF_HIST_MAX bounds.
 *
 * Loop thread only. */
#ifndef HOLDFAST_ENGINE_METRICS_H
#define HOLDFAST_ENGINE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_broker;
struct hf_session;
struct hf_wbuf;

#define HF_HIST_MAX 16

struct hf_hist {
	const double *le; /* upper bounds, ascending; +Inf is implied */
	size_t n;
	uint64_t bucket[HF_HIST_MAX]; /* not cumulative: bucket[i] holds le[i-1]
	                                 < v <= le[i] */
	uint64_t inf;                 /* v > le[n-1] */
	uint64_t count;
	double sum;
};

/* Why a PUBLISH (or one delivery of it) was thrown away. The names are
 * the `reason` label of holdfast_messages_dropped_total. */
enum hf_drop {
	HF_DROP_REJECTED,   /* refused on arrival: size, format, topic depth */
	HF_DROP_ACL,        /* the ACL denies publishing on the topic */
	HF_DROP_TOO_LARGE,  /* over the receiver's Maximum Packet Size */
	HF_DROP_BACKLOG,    /* QoS 0 to a client whose socket lags */
	HF_DROP_QUEUE_FULL, /* a subscriber's queue is at its limit */
	HF_DROP_NOMEM,      /* out of memory queueing it */
	HF_DROP_COUNT
};

/* A QoS 1/2 PUBLISH whose acknowledgment waits for the turn's commit. The
 * times of a turn's acknowledgments are kept until the turn releases them
 * (end_of_turn); past HF_ACK_WAIT_MAX in one turn the rest share the time
 * of the first that did not fit (it is the earliest of them). */
#define HF_ACK_WAIT_MAX 4096

struct hf_metrics {
	/* PUBLISH packets and payload bytes, by QoS (0..2) */
	uint64_t msgs_in[3], bytes_in[3];
	uint64_t msgs_out[3], bytes_out[3];
	uint64_t dropped[HF_DROP_COUNT];
	uint64_t sockets; /* connections handed to the engine (accepted) */

	/* Sums over sessions of n_queued/queued_bytes and n_inflight/
	 * inflight_bytes; moved with them (hf_metrics_queued and _inflight). */
	uint64_t queued, queued_bytes;
	uint64_t inflight, inflight_bytes;

	/* The store. */
	uint64_t commits, fsyncs, commit_failures;
	uint64_t turn_msgs; /* message bodies written since the last commit */
	struct hf_hist commit_seconds;
	struct hf_hist msgs_per_commit;
	struct hf_hist ack_seconds; /* PUBLISH read -> ack handed to net */
	uint64_t ack_wait[HF_ACK_WAIT_MAX];
	size_t n_ack_wait;
	uint64_t ack_over, ack_over_t; /* past the array: how many, since */

	/* Liveness: when the 1 s tick last ran, when the store last
	 * answered (a commit or a read), monotonic ms. */
	int64_t tick_ms, store_ok_ms;
	/* Store size as of the last commit or probe. */
	uint64_t store_map, store_used, store_max;

	/* $SYS load averages (per minute, like mosquitto's): the counter
	 * values at the last sample and the three averages of each. */
	int64_t load_at_ms;
	uint64_t load_prev[9];
	double load_avg[9][3];
	uint64_t heap_max; /* highest heap/current seen */
};

/* Set the bounds of the histograms (hf_broker_init). */
void hf_metrics_init(struct hf_metrics *m);
void hf_hist_observe(struct hf_hist *h, double v);

void hf_metrics_drop(struct hf_broker *b, enum hf_drop why);
/* Set s->n_queued/queued_bytes (n_inflight/inflight_bytes) to new values,
 * moving the broker-wide sums by the difference. */
void hf_metrics_queued(struct hf_session *s, uint64_t n, uint64_t bytes);
void hf_metrics_inflight(struct hf_session *s, uint64_t n, uint64_t bytes);
/* A PUBLISH arrived / left, qos 0..2, with len payload bytes. */
void hf_metrics_pub_in(struct hf_broker *b, uint8_t qos, uint32_t len);
void hf_metrics_pub_out(struct hf_broker *b, uint8_t qos, uint32_t len);
/* An acknowledgment of an accepted QoS 1/2 PUBLISH was queued (now), and
 * the turn handed every queued output to net (released) or threw it away
 * (lost: a reset to the last commit). */
void hf_metrics_ack_queued(struct hf_broker *b);
void hf_metrics_acks_released(struct hf_broker *b, bool lost);
/* A commit returned: ok or not, after seconds. */
void hf_metrics_commit(struct hf_broker *b, bool ok, double seconds);

/* The Prometheus text exposition (format 0.0.4) of everything above plus
 * the engine's gauges, appended to out. 0, or -1 out of memory. */
int hf_metrics_text(struct hf_broker *b, struct hf_wbuf *out);
/* Why the broker is not live (ready false) or not ready (ready true):
 * JSON strings appended to out, comma-separated after any already there
 * (*n of them so far; *n grows). 0, or -1 out of memory. */
int hf_metrics_health(struct hf_broker *b, bool ready, struct hf_wbuf *out,
                      unsigned *n);
/* The 1 s tick: liveness, and a store probe when nothing committed. */
void hf_metrics_tick(struct hf_broker *b);
/* Heap bytes in use, from glibc's mallinfo2 (and the maximum seen). */
uint64_t hf_metrics_heap(struct hf_broker *b);

#endif
