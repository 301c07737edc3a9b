/* broker/notify.h - telling systemd how the broker is doing (sd_notify).
 *
 * Under a Type=notify unit systemd hands the broker a datagram socket in
 * NOTIFY_SOCKET and waits for READY=1 before it counts the service as
 * started; `systemctl reload` waits for RELOADING=1 ... READY=1, a stop
 * for STOPPING=1, and WatchdogSec= for WATCHDOG=1 at least once per
 * WATCHDOG_USEC. Without NOTIFY_SOCKET every call here does nothing, so the
 * broker behaves the same outside systemd.
 *
 * The watchdog is pinged from a timer on the broker's own loop, so a loop
 * that hangs (a stuck fsync, an endless turn) stops the pings and systemd
 * restarts the broker: liveness of the loop is exactly what it checks.
 *
 * One struct hf_notify per process, used from the loop thread only. */
#ifndef HOLDFAST_NOTIFY_H
#define HOLDFAST_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "log.h"

struct hf_notify {
	struct hf_logger *log;
	uv_timer_t watchdog;
	bool timer;  /* watchdog initialised (to be closed) */
	bool warned; /* a failed send was logged once already */
	uint64_t ping_ms;
};

/* Start the watchdog timer when systemd asked for one (WATCHDOG_USEC set,
 * and WATCHDOG_PID unset or this process), pinging at half the interval.
 * The timer does not keep the loop alive. Returns 0, or -1 when the timer
 * could not be set up (the broker runs on without pings). */
int hf_notify_start(struct hf_notify *n, uv_loop_t *loop,
                    struct hf_logger *log);
/* READY=1: listeners bound and the store open; again after a reload. */
void hf_notify_ready(struct hf_notify *n);
/* RELOADING=1 (with MONOTONIC_USEC, which systemd 253 and later expect). */
void hf_notify_reloading(struct hf_notify *n);
/* STOPPING=1: shutdown has begun. The watchdog keeps pinging until the
 * loop ends (systemd's stop timeout bounds the shutdown). */
void hf_notify_stopping(struct hf_notify *n);
/* Close the watchdog timer; run the loop once afterwards to finish it. */
void hf_notify_close(struct hf_notify *n);

#endif
