/*
 * tools/soak/soak.h - hfsoak, the soak-test driver: its configuration, the
 * simulated client population, the delivery ledger and the event loop.
 *
 * Design: one process, one thread, one level-triggered epoll instance
 * driving every simulated client (10 000 by default) over loopback, each
 * with its own socket and its own MQTT state. The MQTT wire code is
 * hfbench's (tools/bench/proto.c): the driver must not share the codec of
 * the broker it checks. Every client has one deadline in a binary min-heap
 * (its next action: connect, publish, ping, go offline, change the slow
 * subscriber's reading mode...), so a loop turn costs what happened in it,
 * not a scan of the population.
 *
 * The population (see population() in main.c and README.md):
 *   publishers   QoS 0/1/2, MQTT 3.1.1 and 5.0, persistent sessions, at a
 *                modest rate each; four of them publish to the slow
 *                subscriber's topics only;
 *   subscribers  persistent sessions (3.1.1 clean session 0, 5.0 session
 *                expiry of a day) that go offline and resume at random;
 *                these are the ones the promise is checked on;
 *   transients   persistent sessions that come and go: 5.0 with a 10 s
 *                expiry that they sometimes outlive, 3.1.1 that sometimes
 *                end their session with a clean-session connection;
 *   churners     clean sessions that subscribe, stay a while and leave;
 *   slow         one persistent QoS 1 subscriber that stops reading or
 *                reads a trickle for long periods;
 *   idle         connections that only send PINGREQ.
 *
 * The ledger: every publisher keeps a bitmap of the sequence numbers the
 * broker acknowledged (PUBACK, or PUBREC, with a reason code below 0x80)
 * and of those it refused (0x97 and friends); every (checked subscriber,
 * matching publisher) stream keeps a bitmap of the sequence numbers
 * received. A QoS 2 subscriber remembers the packet ids it has answered
 * with PUBREC and not yet seen PUBREL for, across its reconnections, so a
 * PUBLISH resent before PUBREL is not a new delivery. At the end every
 * acknowledged message on a stream whose delivery QoS is 1 or 2 must be in
 * the stream's bitmap (lost otherwise), and a QoS 2 stream must hold no
 * duplicate.
 *
 * Threading/ownership: single-threaded. struct sk owns every client, its
 * socket and buffers, and the ledger; nothing is freed before exit.
 */
#ifndef HF_SOAK_SOAK_H
#define HF_SOAK_SOAK_H

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"

struct sk_cfg {
	const char *host;
	int port;
	int pid;           /* broker pid to sample, 0 = none */
	const char *store; /* store file to sample, NULL = none */
	const char *csv;   /* per-second samples */
	const char *summary;
	double seconds; /* run phase */
	int clients;
	double rate;           /* total publish rate, msg/s (0 = clients/10) */
	uint32_t max_queued;   /* broker's max_queued_messages */
	uint64_t max_qbytes;   /* broker's max_queued_bytes */
	uint32_t max_inflight; /* broker's max_inflight_messages */
	double warmup;         /* seconds after the ramp before RSS is taken */
	double drain_timeout;
	int connect_rate;   /* new connections per second, at most */
	int max_connecting; /* TCP/CONNECT handshakes in progress, at most */
	uint64_t seed;
	int verbose;
};

enum sk_kind { K_PUB, K_SUB, K_TRANS, K_CHURN, K_SLOW, K_IDLE, K_NKINDS };

enum sk_state {
	ST_OFF,     /* no socket */
	ST_TCP,     /* connect() in progress */
	ST_CONNACK, /* CONNECT sent */
	ST_SUBACK,  /* SUBSCRIBE sent */
	ST_READY,
	ST_CLOSING, /* DISCONNECT sent, waiting for the broker's EOF */
};

enum sk_phase { PH_SETUP, PH_RUN, PH_STOP, PH_DRAIN, PH_CLOSE, PH_DONE };

/* The slow subscriber's reading modes. */
enum sk_slow_mode { SLOW_NORMAL, SLOW_STALL, SLOW_TRICKLE };

struct sk_bits {
	uint64_t *w;
	size_t nw;
};

/* A publisher's QoS 1/2 message awaiting its acknowledgment. */
struct sk_flight {
	uint64_t seq;
	uint64_t ts;
	uint16_t id;
	uint8_t stage; /* FL_ACK: awaiting PUBACK/PUBREC; FL_COMP: PUBCOMP */
	uint8_t retain;
};

#define SK_WINDOW_MAX 16

struct sk_pub {
	int qos;
	int slow_topic; /* publishes to the slow subscriber's topics */
	int group;      /* regular topics: soak/g<group>/p<index> */
	double rate;    /* msg/s */
	size_t payload;
	int retain_every; /* every Nth message retained; 0 = never */
	char topic[48];
	struct hf_bench_pubtpl tpl;
	uint64_t seq; /* last sequence number sent */
	uint64_t next_at;
	struct sk_flight fl[SK_WINDOW_MAX];
	int nfl, window;
	uint16_t next_id;
	struct sk_bits acked, refused;
	uint64_t n_sent, n_acked, n_refused, n_nomatch;
	uint64_t n_resent;
};

/* One (subscriber, publisher) stream of a checked subscriber. */
struct sk_stream {
	uint32_t pub;
	uint8_t qos; /* delivery QoS: min(publish QoS, granted QoS) */
	struct sk_bits seen;
	uint64_t distinct, dups, reordered, highest;
};

/* Packet id answered with PUBREC, PUBREL not seen yet. */
struct sk_rec {
	uint16_t id;
	uint32_t pub;
	uint64_t seq;
};

struct sk_sub {
	char filter[48];
	int qos; /* requested */
	int granted;
	struct sk_stream *streams; /* checked subscribers only */
	int nstreams;
	struct sk_rec *rec; /* open addressing on id, cap a power of 2 */
	uint32_t nrec, caprec;
	double qrate;   /* QoS 1/2 deliveries per second it should get */
	double max_off; /* longest time offline that keeps its queue small */
	uint64_t received, new_deliveries, resent_qos2;
	uint32_t subacks;
};

struct sk_client {
	int fd;
	uint8_t kind, version, state, events;
	uint8_t clean;    /* next CONNECT: clean session / clean start */
	uint8_t dirty;    /* queued in the flush list */
	uint8_t reading;  /* EPOLLIN wanted */
	uint8_t want;     /* should be connected */
	uint8_t has_sess; /* the broker holds a session with our subscription */
	uint8_t checked;  /* subscriber whose deliveries are tallied */
	uint8_t slow_mode;
	uint8_t pinging;
	uint32_t idx; /* index within its kind */
	uint32_t expiry;
	uint16_t keepalive;
	char id[32];
	size_t heap_pos; /* SIZE_MAX when not in the heap */
	uint64_t next_at;
	uint64_t t_open, last_send, ping_at, online_until, offline_until;
	uint64_t close_at, mode_until, trickle_at;
	uint64_t crash_at; /* drop at the next QoS 1/2 PUBLISH, or then */
	uint8_t crash_rst;
	struct hf_bench_buf in, out;
	struct sk_pub *pub;
	struct sk_sub *sub;
	uint64_t sessions_lost, connects;
};

struct sk_counters {
	uint64_t sent, acked, refused, delivered, connects, closes;
};

struct sk_sample {
	double t;
	int phase;
	long rss_kb, hwm_kb;
	int connected;
};

struct sk {
	struct sk_cfg cfg;
	struct sockaddr_in addr;
	int epfd;
	uint64_t rng;
	uint64_t t0;     /* start, monotonic ns */
	double t0_epoch; /* the same, wall-clock seconds */
	uint64_t t_run, t_run_end, t_ramp_done, t_stop, t_drain, t_close;
	int phase;
	/* the slow subscriber's modes last [x, 2x) s, stalls [x, 1.5x) */
	double normal_s, stall_s, trickle_s;
	struct sk_client *c;
	int nclients;
	int first[K_NKINDS], count[K_NKINDS];
	struct sk_client **pubs; /* by publisher index */
	int npubs;
	/* heap of clients by next_at */
	struct sk_client **heap;
	size_t nheap;
	struct sk_client **dirty;
	int ndirty;
	int connecting, connected;
	double conn_tokens;
	uint64_t conn_tokens_at;
	/* totals and the previous second's, for rates */
	struct sk_counters tot, last;
	/* anomalies: each one fails the run */
	uint64_t e_unexpected_close, e_connect_fail, e_connack_rc, e_suback_rc;
	uint64_t e_ping_timeout, e_protocol, e_session_lost, e_foreign;
	uint64_t e_wrong_qos, e_unexpected_topic, e_qos2_mismatch;
	uint64_t e_expiry;
	/* understood events */
	uint64_t v3_refusal_closes, takeovers, pub_sessions_lost;
	uint64_t trans_expired, trans_resumed, trans_ended;
	uint64_t slow_stalls, slow_trickles;
	uint64_t crashes_mid, crashes_late;
	uint64_t dup_qos1, resent_qos2;
	/* samples */
	FILE *csv;
	struct sk_sample *samples;
	size_t nsamples, capsamples;
	uint64_t next_sample, next_check;
	double bcpu_last, dcpu_last;
	uint64_t bcpu_at;
	int sample_err;
	char errbuf[20][160];
	int nerr;
};

/* ---- main.c */
uint64_t sk_now(void);
double sk_secs(const struct sk *k, uint64_t t); /* since t0 */
uint64_t sk_rand(struct sk *k);
double sk_uniform(struct sk *k, double lo, double hi);
void sk_sched(struct sk *k, struct sk_client *c, uint64_t at);
void sk_error(struct sk *k, uint64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- client.c */
void sk_client_tick(struct sk *k, struct sk_client *c, uint64_t now);
void sk_client_event(struct sk *k, struct sk_client *c, uint32_t events);
void sk_client_flush(struct sk *k, struct sk_client *c);
/* Start a graceful disconnection (DISCONNECT, then wait for EOF). */
void sk_client_leave(struct sk *k, struct sk_client *c, uint64_t now);
void sk_set_interest(struct sk *k, struct sk_client *c);

/* ---- ledger.c */
int sk_bits_test(const struct sk_bits *b, uint64_t i);
/* Set bit i; returns its previous value. */
int sk_bits_set(struct sk_bits *b, uint64_t i);
uint64_t sk_bits_count(const struct sk_bits *b);
/* Topic filter match (MQTT '+' and '#'), for the population's topics. */
int sk_topic_match(const char *filter, const char *topic);
/* Link a checked subscriber to the publishers its filter matches. */
void sk_ledger_streams(struct sk *k, struct sk_client *c);
/* Record a delivery to a checked subscriber; returns the stream or NULL
 * when the message was not expected at all (counted). */
struct sk_stream *sk_ledger_find(struct sk_client *c, uint32_t pub);
/* QoS 2 ids awaiting PUBREL on subscriber s. */
struct sk_rec *sk_rec_find(struct sk_sub *s, uint16_t id);
void sk_rec_add(struct sk_sub *s, uint16_t id, uint32_t pub, uint64_t seq);
void sk_rec_del(struct sk_sub *s, uint16_t id);
void sk_rec_clear(struct sk_sub *s);

struct sk_tally {
	uint64_t expected; /* acknowledged x matching checked streams, QoS>0 */
	uint64_t received; /* of those, received */
	uint64_t lost;     /* of those, never received */
	uint64_t dup_qos2; /* QoS 2 deliveries beyond the first */
	uint64_t dup_qos1; /* QoS 1 deliveries beyond the first (allowed) */
	uint64_t refused_delivered; /* refused (0x97) yet delivered */
	uint64_t unacked_delivered; /* never acknowledged, delivered */
	uint64_t reordered;
	char example[256]; /* the first lost message, if any */
};
/* Missing acknowledged messages of one checked subscriber. */
uint64_t sk_ledger_missing(const struct sk *k, const struct sk_client *c);
void sk_ledger_tally(const struct sk *k, struct sk_tally *t);

#endif
