/*
 * tools/bench/bench.h - hfbench's run configuration, shared run state and
 * worker threads.
 *
 * Design: a run is a fixed sequence of phases (reset sessions, connect and
 * subscribe, publish while receiving, drain, disconnect; or connect idle
 * connections and hold them). Every worker thread owns one epoll instance
 * and a slice of the connections (connection i goes to worker i % threads)
 * and walks the same phase sequence; workers meet at a barrier between
 * phases, where no traffic is expected. While a phase runs, the only shared
 * data are a few atomics: whether a worker failed, how many publishers have
 * finished, each publisher's expected delivery count, and the total of new
 * deliveries, which tell every worker when the run has drained. TLS and
 * WebSocket are per-connection transports under the MQTT code
 * (transport.h); the TLS context is made once by main(). Subscribers may
 * talk to another broker than publishers (--sub-host/--sub-port: the two
 * ends of a bridge); idle connections go to the publishers' broker.
 *
 * Threading/ownership: struct hf_bench_cfg is read-only after parsing.
 * struct hf_bench_run is created by main(); its atomics are shared, the
 * other fields are written only by main() or by the barrier's serial
 * thread between phases. A worker and its connections belong to its thread
 * until it is joined; main() then reads them to build the report.
 */
#ifndef HF_BENCH_BENCH_H
#define HF_BENCH_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto.h"
#include "stats.h"
#include "transport.h"

struct hf_bench_cfg {
	const char *host;
	int port;
	const char *sub_host; /* --sub-host: subscribers' broker (host) */
	int sub_port;         /* --sub-port: subscribers' broker (port) */
	int version;          /* 4 or 5 */
	int qos;
	int sub_qos;
	int pubs, subs;
	size_t payload;
	double rate; /* per publisher, msg/s; 0 = unlimited */
	uint32_t window;
	uint64_t count;  /* per publisher; 0 = use duration */
	double duration; /* seconds */
	int shared;
	int persistent;
	int sub_offline;
	int pause_stdin; /* --sub-offline: wait for stdin twice */
	int idle;
	int pid;
	int connect_only;
	int json;
	int threads;
	int allow_loss;
	double drain_timeout; /* max wait for acks / deliveries after sending */
	double drain_idle;    /* QoS 0: stop waiting after this long silent */
	double hold;          /* idle: seconds to hold the connections */
	uint16_t keepalive;
	int max_connecting;
	int verbose;
	/* transports */
	int tls, ws;
	const char *cafile;     /* --cafile: verify the broker */
	const char *cert, *key; /* --cert/--key: client certificate */
	const char *ws_path;    /* --ws-path, default /mqtt */
};

enum { HFB_ROLE_PUB, HFB_ROLE_SUB, HFB_ROLE_IDLE };

struct hf_bench_conn;
struct hf_bench_worker;

struct hf_bench_run {
	const struct hf_bench_cfg *cfg;
	struct sockaddr_storage addr, sub_addr; /* publishers', subscribers' */
	socklen_t addrlen, sub_addrlen;
	struct hf_bench_tls tls; /* --tls: shared client context */
	pthread_barrier_t barrier;
	atomic_int failed;
	atomic_int pubs_done;
	_Atomic uint64_t *pub_expected;  /* per publisher, set when finished */
	_Atomic uint64_t delivered;      /* new distinct deliveries, all subs */
	_Atomic uint64_t last_delivery;  /* monotonic ns of the latest one */
	_Atomic uint64_t first_delivery; /* monotonic ns of the first one */
	/* --pause-stdin: subscribers retry refused connects until then */
	uint64_t retry_until;
	/* written between phases by the serial thread */
	uint64_t t_setup, t_start, t_send_end, t_drain_start, t_end;
	long rss_before, rss_after;
	struct hf_bench_worker *workers;
};

struct hf_bench_worker {
	struct hf_bench_run *run;
	int id;
	int epfd;
	pthread_t thread;
	struct hf_bench_conn *conns; /* pubs, then subs, then idle */
	int nconns, npubs, nsubs, nidle;
	struct hf_bench_conn **dirty;
	int ndirty;
	int any_pending; /* some connection has TLS bytes no epoll event shows
	                  */
	int retry;       /* a refused connect waits to be tried again */
	int phase;
	/* results */
	struct hf_bench_hist lat;      /* delivery latency, ns */
	struct hf_bench_hist conn_lat; /* TCP connect to CONNACK/SUBACK, ns,
	                                * TLS and WebSocket handshakes
	                                * included */
	struct hf_bench_seq *seqs;     /* per (local subscriber, publisher) */
	int nseqs;
	uint64_t received;    /* PUBLISH packets counted (incl. duplicates) */
	uint64_t foreign;     /* PUBLISH without a valid stamp */
	uint64_t qos2_resent; /* QoS 2 PUBLISH repeated before PUBREL */
	uint64_t draining_since;
	char err[256];
};

struct hf_bench_pubstat {
	uint64_t sent, acked, rejected, completed;
	uint64_t t_last; /* last ack (QoS > 0) or end of sending (QoS 0) */
};

/* Run the whole phase sequence on one worker (thread entry point). */
void *hf_bench_worker_main(void *arg);
/* Allocate the worker's connections; main() calls it before starting. */
void hf_bench_worker_init(struct hf_bench_worker *w, struct hf_bench_run *run,
                          int id);
void hf_bench_worker_free(struct hf_bench_worker *w);
/* Counters of the publishers a worker owns, indexed by publisher id into
 * out[] (only the entries it owns are written). */
void hf_bench_worker_pubstats(const struct hf_bench_worker *w,
                              struct hf_bench_pubstat *out);
uint64_t hf_bench_now(void);
/* VmRSS of a process in KiB, -1 if unreadable. */
long hf_bench_read_rss(int pid);
/* User and system CPU seconds of a process; -1 if unreadable. */
int hf_bench_read_cpu(int pid, double *user, double *sys);

#endif
