/* tests/helpers/broker_proc.h - start, watch and stop the real broker binary
 * from a test.
 *
 * Each broker gets a fresh temporary directory (mkdtemp under /tmp) holding
 * its config file and its log. The config always binds `listener 0
 * 127.0.0.1`, so the kernel picks a free port; the broker's stderr goes to
 * the log file, and the harness learns the port by polling that log for the
 * "listen socket on port N" line. Nothing is shared between brokers, so test
 * programs may run in parallel.
 *
 * The binary is HF_BROKER_BIN (set by tests/CMakeLists.txt). For checking the
 * tests themselves against a reference broker, the environment variable
 * HF_TEST_BROKER may name another binary (e.g. /usr/sbin/mosquitto); the
 * harness then picks a free port itself and writes it into the config.
 *
 * HF_TEST_WRAP may hold a command the broker runs under, e.g.
 * "valgrind --error-exitcode=99 --leak-check=full": its words are put
 * before the broker's own command line.
 *
 * A non-zero exit after SIGTERM means the broker crashed or a sanitizer
 * reported something (CI builds it with ASan): hf_bproc_stop() returns that
 * status and prints the tail of the log.
 *
 * Ownership: the caller owns the struct; hf_bproc_cleanup() releases the
 * process and the directory. Not thread-safe; one thread per struct. */
#ifndef HF_BROKER_PROC_H
#define HF_BROKER_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "holdfast/mqtt.h"

struct hf_bproc {
	pid_t pid; /* 0 when not running */
	uint16_t port;
	char dir[256];
	char conf[320];
	char log[320];
	/* Added beyond the agreed interface: */
	int status;   /* exit status once reaped (-1 unknown) */
	long log_off; /* log size when the current run started */
};

/* Make a fresh temp dir, write the config (base lines plus extra_conf, which
 * may be NULL or hold several lines), start the broker, wait up to 10 s for
 * its port. Returns 0 or -1 (the broker log is printed on failure). */
int hf_bproc_start(struct hf_bproc *b, const char *extra_conf);
/* The port of the n-th listen socket (0 = b->port) the broker reported in
 * its current run, in the order it opened them (the config's listener
 * order, each address of a listener in turn); waits up to 2 s for the
 * line. 0 when there is none. Added for the TLS tests (a TLS and a plain
 * listener in one broker). */
uint16_t hf_bproc_port_n(struct hf_bproc *b, int n);
/* Start again in the same dir with the same config (after stop or kill);
 * waits for a port line written after the previous log content. */
int hf_bproc_restart(struct hf_bproc *b);
/* hf_bproc_restart() with extra command-line arguments after "-c FILE":
 * args is NULL-terminated (at most 8 used), or NULL for none. Added for
 * the store damage tests (--move-damaged-store). */
int hf_bproc_restart_args(struct hf_bproc *b, const char *const *args);
/* Start again in the same dir without waiting for anything (to kill it
 * while it starts). Returns 0, or -1 when it could not fork. */
int hf_bproc_launch(struct hf_bproc *b);
/* hf_bproc_launch() that calls in_child(ctx) in the forked child just
 * before exec, e.g. to set environment variables that hold the broker's
 * own pid (systemd's WATCHDOG_PID). Added for the sd_notify test. */
int hf_bproc_launch_hook(struct hf_bproc *b, void (*in_child)(void *ctx),
                         void *ctx);
/* SIGTERM, wait up to 15 s (then SIGKILL and return -1). Returns the exit
 * status: 0 = clean, 128+N = killed by signal N. */
int hf_bproc_stop(struct hf_bproc *b);
/* SIGKILL and reap. */
void hf_bproc_kill(struct hf_bproc *b);
/* Still running? (reaps it when it has exited). */
bool hf_bproc_alive(struct hf_bproc *b);
bool hf_bproc_log_contains(struct hf_bproc *b, const char *needle);
/* Wait until the log contains needle, up to timeout_ms. */
bool hf_bproc_wait_log(struct hf_bproc *b, const char *needle, int timeout_ms);
/* How many times needle is in the log of the current run (since the last
 * start or restart); -1 if the log cannot be read. */
int hf_bproc_log_count(struct hf_bproc *b, const char *needle);
/* SIGHUP, then wait (up to 5 s) for the broker's next "Reload done". */
bool hf_bproc_reload(struct hf_bproc *b);
/* Stop if running (ignoring the status), remove the directory. */
void hf_bproc_cleanup(struct hf_bproc *b);
/* Print the last max_bytes of the log to stderr. */
void hf_bproc_dump_log(struct hf_bproc *b, long max_bytes);

/* Run one test case against a broker of its own: start it with extra_conf,
 * call fn, then stop it. The case fails (in test.h's counters) when the
 * broker does not start, fn fails a CHECK, or the broker does not exit
 * cleanly (0) on SIGTERM. Use through HF_BCASE(fn, extra_conf). */
void hf_bproc_case(const char *name, void (*fn)(struct hf_bproc *),
                   const char *extra_conf);
#define HF_BCASE(fn, conf) hf_bproc_case(#fn, fn, conf)

/* Run `holdfast-db check` (HF_DB_BIN) on the store a broker of dir keeps
 * (DIR/data/holdfast.db, the harness's persistence_location); it may run
 * while that broker runs. Returns the number of violations (0: the store
 * is consistent), or -1 when the store could not be read or the tool did
 * not run. On anything but 0 the tool's output is printed to stderr. With
 * HF_TEST_BROKER set (a reference broker, no Holdfast store) it returns 0. */
int hf_test_store_check(const char *dir);
/* The same for a store in store_dir (a persistence_location of its own). */
int hf_test_store_check_at(const char *store_dir);

/* Monotonic milliseconds, for deadlines in tests. */
int64_t hf_now_ms(void);
/* Sleep ms milliseconds (only for waits the specification defines in time,
 * such as expiry intervals). */
void hf_sleep_ms(int ms);

/* Shorthands shared by the protocol tests. */
#define V3 HF_PROTO_V311
#define V5 HF_PROTO_V5

/* BOTH(fn) defines fn_v311 and fn_v5, each running fn(b, version). */
#define BOTH(fn)                                                               \
	static void fn##_v311(struct hf_bproc *b)                              \
	{                                                                      \
		fn(b, V3);                                                     \
	}                                                                      \
	static void fn##_v5(struct hf_bproc *b)                                \
	{                                                                      \
		fn(b, V5);                                                     \
	}

#endif
