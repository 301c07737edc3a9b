/* tests/helpers/bpair.h - two brokers joined by a bridge, and mosquitto as
 * either end, for the bridge tests (p29_bridge_more, t05_bridge_tls).
 *
 * A pair is a core started with core_extra and an edge whose extra
 * configuration is edge_fmt with the core's first port for every "%u".
 * The core's first listener is pinned to the port it got, so a restart of
 * the core (hf_bproc_restart) comes back where the edge dials.
 *
 * mosquitto (/usr/sbin/mosquitto) runs from a mkdtemp() directory of its
 * own with a config of the caller's lines after a listener on a free
 * loopback port; its stderr goes to DIR/mq.log.
 *
 * Ownership: the caller owns the structs; hf_bpair_end() and
 * hf_mosq_stop() release processes and directories (kept when the case
 * failed, for inspection). Not thread-safe. */
#ifndef HF_BPAIR_H
#define HF_BPAIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker_proc.h"

struct hf_bpair {
	struct hf_bproc core, edge;
	bool core_up, edge_up;
};

/* Rewrite b's first config line as `listener PORT 127.0.0.1` with the port
 * it has now. Returns 0 or -1. */
int hf_bproc_pin_port(struct hf_bproc *b);
/* Start the core, pin it, start the edge. False when either did not. */
bool hf_bpair_start(struct hf_bpair *p, const char *core_extra,
                    const char *edge_fmt);
/* Stop both (a non-zero exit fails the case), print the logs of a failed
 * case, remove the directories of a passed one. */
void hf_bpair_end(struct hf_bpair *p, const char *name);
/* Wait up to timeout_ms until needle is in b's log (current run) at least
 * n times. */
bool hf_bproc_wait_count(struct hf_bproc *b, const char *needle, int n,
                         int timeout_ms);
/* A port nobody listens on right now (racy; for mosquitto and fakes). */
uint16_t hf_free_port(void);

struct hf_mosq {
	pid_t pid;
	uint16_t port;
	char dir[64];
	char log[128];
};

/* Whether /usr/sbin/mosquitto is there (the cases print a skip if not). */
bool hf_mosq_available(void);
/* Start mosquitto with `listener PORT 127.0.0.1`, `allow_anonymous true`,
 * logging to stderr, and extra (may be NULL); wait up to 5 s for its port.
 * Tries a few free ports. Returns 0 or -1. */
int hf_mosq_start(struct hf_mosq *m, const char *extra);
bool hf_mosq_log_contains(const struct hf_mosq *m, const char *needle);
/* SIGTERM and reap; remove the directory unless keep (then print the
 * log). */
void hf_mosq_stop(struct hf_mosq *m, bool keep);

#endif
