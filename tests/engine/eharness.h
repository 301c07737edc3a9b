/* tests/engine/eharness.h - the engine in-process, with in-memory
 * connections and a real store, for the stateful fuzzer and the
 * fault-injection tests.
 *
 * A harness is one broker (struct hf_broker on its own libuv loop, no
 * listeners, no $SYS, the one-second tick stopped: time moves only when the
 * caller says so) over an LMDB store in a temporary folder, with up to
 * EH_CONNS connection slots. A slot's connection is an in-memory transport
 * (struct hf_conn): what the engine writes is collected in the slot's
 * output buffer and decoded on demand; a close the engine asks for is
 * carried out at the end of the turn, as the TCP transport would.
 *
 * A turn (eh_turn) runs one loop iteration: the broker's before-sleep hook
 * commits the turn's store writes and releases the output. eh_check()
 * commits what is open, then runs the engine's checker (hf_dur_check) and
 * the store's (hf_store_check) and returns the number of violations,
 * printing each. eh_restart() stops the broker, cleanly or as a crash (the
 * open transaction is dropped, nothing more is written), and starts a new
 * one on the same store, which must then agree with its store too.
 *
 * Ownership: the caller owns the struct eh (zeroed before eh_open); every
 * resource is released by eh_close. Single-threaded. */
#ifndef HF_EHARNESS_H
#define HF_EHARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "broker.h"

#define EH_CONNS 4

struct eh_conn {
	struct hf_conn base;
	struct eh *eh;
	struct hf_wbuf out; /* bytes the engine sent, not yet read */
	bool close_asked;   /* the engine closed it: gone after the turn */
	bool paused;        /* the engine asked not to read (back-pressure) */
	struct hf_wbuf in;  /* bytes fed while paused, as a socket keeps them */
	uint8_t proto;      /* version the slot's CONNECT asked for */
	/* Bytes the "socket" still holds (a slow reader): output beyond
	 * what eh_take() took; reported by pending(). */
	size_t held;
};

struct eh {
	uv_loop_t loop;
	struct hf_config conf;
	struct hf_broker b;
	struct hf_listener_conf lconf; /* what a listener would have */
	struct hf_policy policy;
	struct hf_auth *auth; /* anonymous clients allowed */
	char dir[256];
	bool running;
	bool quiet; /* do not print violations */
	struct eh_conn *slot[EH_CONNS];
	/* Changes to the defaults, applied at every start. */
	void (*tweak)(struct hf_config *c);
};

/* Make the temp folder (under base, e.g. "/dev/shm" or "/tmp") and start
 * the broker on an empty store. Returns 0 or -1. */
int eh_open(struct eh *e, const char *base);
/* Stop the broker (clean unless crash), start a new one on the same store.
 * Returns 0 or -1 (recovery failed). */
int eh_restart(struct eh *e, bool crash);
/* Stop the broker cleanly, remove the folder. */
void eh_close(struct eh *e);

/* The session of this client id, or NULL. */
struct hf_session *eh_find_session(struct eh *e, const char *client_id);
/* The engine's client of slot i, or NULL. */
struct hf_client *eh_client(struct eh *e, int i);
/* Open a new connection in slot i (dropping the one there, if any). */
struct eh_conn *eh_connect(struct eh *e, int i);
/* Bytes from slot i's client; no-op when the slot is empty or closing. */
void eh_feed(struct eh *e, int i, const void *p, size_t n);
/* Slot i's socket is slow: bytes of output it "still holds" (what the
 * transport's pending() reports), as if the peer did not read. */
void eh_hold(struct eh *e, int i, size_t bytes);
/* The peer has read it all: pending() is 0 and the engine hears drained(). */
void eh_drain(struct eh *e, int i);
/* The network connection of slot i breaks. */
void eh_drop(struct eh *e, int i);
/* One loop turn: commit, release output, carry out closes. */
void eh_turn(struct eh *e);
/* Move the broker's clock forward and run its timed work. */
void eh_advance(struct eh *e, int64_t ms);
/* Commit, then check memory against store and the store itself. */
int eh_check(struct eh *e);

/* Take the next whole packet slot i received, decoded for its version.
 * Returns 1 (pkt views into *body, which the caller frees), 0 when none is
 * complete, -1 when the engine sent something that does not decode. */
int eh_next_packet(struct eh *e, int i, struct hf_packet *pkt, uint8_t **body);

/* Allocation failure injection (tests/engine/alloc_fail.c, when linked
 * with --wrap): fail the nth allocation from now (1 = the next), 0 = off.
 * eh_alloc_count() is the number of allocations seen so far. */
void eh_alloc_fail_at(uint64_t nth);
uint64_t eh_alloc_count(void);
bool eh_alloc_failed(void);
uint64_t eh_alloc_failures(void); /* in all, since the process began */

#endif
