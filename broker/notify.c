/* broker/notify.c - see notify.h. libsystemd's sd_notify() does the
 * socket work (abstract or path NOTIFY_SOCKET, credentials); this file
 * only decides what to say when. Built without libsystemd (-DHF_SYSTEMD=OFF)
 * every call is a no-op. */
#include "notify.h"

#include <string.h>
#include <time.h>

#ifdef HF_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

/* A send that fails (NOTIFY_SOCKET names nothing, systemd went away) does
 * not stop the broker, but it is said once: under a Type=notify unit the
 * service would otherwise sit in "activating" with no clue why. */
static void
say(struct hf_notify *n, const char *what, const char *msg)
{
	int rc = sd_notify(0, msg);
	if (rc < 0 && n && n->log && !n->warned) {
		n->warned = true;
		hf_log(n->log, HF_LOG_WARNING,
		       "Warning: cannot notify systemd (%s) at NOTIFY_SOCKET: "
		       "%s.",
		       what, strerror(-rc));
	}
}

static void
watchdog_cb(uv_timer_t *t)
{
	say(t->data, "WATCHDOG", "WATCHDOG=1");
}

int
hf_notify_start(struct hf_notify *n, uv_loop_t *loop, struct hf_logger *log)
{
	uint64_t usec = 0;

	memset(n, 0, sizeof(*n));
	n->log = log;
	int rc = sd_watchdog_enabled(0, &usec);
	if (rc < 0) {
		hf_log(log, HF_LOG_WARNING,
		       "Warning: WATCHDOG_USEC or WATCHDOG_PID is not valid "
		       "(%s); no watchdog pings.",
		       strerror(-rc));
		return 0;
	}
	if (rc == 0)
		return 0;
	/* Half the interval, as sd_watchdog_enabled(3) advises: one late
	 * turn of the loop must not cost a restart. */
	n->ping_ms = usec / 2000;
	if (n->ping_ms == 0)
		n->ping_ms = 1; /* libuv: a repeat of 0 would not repeat */
	if (uv_timer_init(loop, &n->watchdog) != 0)
		return -1;
	n->timer = true;
	n->watchdog.data = n;
	uv_timer_start(&n->watchdog, watchdog_cb, n->ping_ms, n->ping_ms);
	uv_unref((uv_handle_t *)&n->watchdog);
	hf_log(log, HF_LOG_INFO, "systemd watchdog: a ping every %llu ms.",
	       (unsigned long long)n->ping_ms);
	return 0;
}

void
hf_notify_ready(struct hf_notify *n)
{
	say(n, "READY", "READY=1\nSTATUS=Accepting connections.");
}

void
hf_notify_reloading(struct hf_notify *n)
{
	struct timespec ts;
	char msg[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg),
	         "RELOADING=1\nSTATUS=Reloading.\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	             (unsigned long long)ts.tv_nsec / 1000ULL);
	say(n, "RELOADING", msg);
}

void
hf_notify_stopping(struct hf_notify *n)
{
	say(n, "STOPPING", "STOPPING=1\nSTATUS=Shutting down.");
}

void
hf_notify_close(struct hf_notify *n)
{
	if (n->timer && !uv_is_closing((uv_handle_t *)&n->watchdog))
		uv_close((uv_handle_t *)&n->watchdog, NULL);
}

#else /* !HF_HAVE_SYSTEMD */

int
hf_notify_start(struct hf_notify *n, uv_loop_t *loop, struct hf_logger *log)
{
	(void)loop;
	memset(n, 0, sizeof(*n));
	n->log = log;
	return 0;
}

void
hf_notify_ready(struct hf_notify *n)
{
	(void)n;
}

void
hf_notify_reloading(struct hf_notify *n)
{
	(void)n;
}

void
hf_notify_stopping(struct hf_notify *n)
{
	(void)n;
}

void
hf_notify_close(struct hf_notify *n)
{
	(void)n;
}

#endif
