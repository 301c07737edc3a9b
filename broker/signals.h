/* broker/signals.h - the operator's signals, as a mosquitto user expects
 * them (signals.c). SIGTERM and SIGINT stop the broker (the engine's own:
 * broker/engine/broker.c); the rest never do:
 *
 *   SIGHUP    reload: the configuration file is read again and what can
 *             change live is applied (log settings, limits, the password
 *             and ACL files and allow_anonymous of each listener), the log
 *             file is reopened (logrotate), the password, ACL and TLS files
 *             are read again, and clients whose credentials no longer hold
 *             are disconnected. A configuration that does not load keeps
 *             the old one (the error names FILE:LINE); settings that only a
 *             restart can change (listeners, the store, user, pid_file) are
 *             named in a warning and keep their old values.
 *   SIGUSR1   log the counts of sessions, clients, subscriptions, retained
 *             messages and the store's statistics
 *   SIGUSR2   log every session's subscriptions
 *   SIGRTMIN  reopen the log file
 *
 * Each is logged when handled. The watchers do not keep the loop alive;
 * hf_signals_close() closes them after the loop has ended (run the loop
 * once more for the close callbacks). Loop thread only. */
#ifndef HOLDFAST_SIGNALS_H
#define HOLDFAST_SIGNALS_H

#include <uv.h>

#include "config.h"
#include "holdfast/auth.h"

struct hf_broker;
struct hf_net;
struct hf_notify;

/* What a reload touches. conf is the live configuration (b->conf points to
 * it); argv is the command line it was made from, read again on SIGHUP. */
struct hf_signals_ctx {
	struct hf_broker *b;
	struct hf_net *net;
	struct hf_auth **auth; /* one per listener, NULL-terminated */
	struct hf_config *conf;
	int argc;
	char **argv;
	struct hf_notify *notify; /* systemd: RELOADING=1 ... READY=1 */
};

struct hf_signals;

/* Start the watchers. NULL when out of memory (the broker then runs
 * without them: logged). ctx is copied. */
struct hf_signals *hf_signals_start(uv_loop_t *loop,
                                    const struct hf_signals_ctx *ctx);
/* Close the watchers (their memory is freed by the close callbacks, so
 * run the loop once more). NULL is fine. */
void hf_signals_close(struct hf_signals *s);

/* A listener's authentication settings, as the auth module takes them. */
struct hf_auth_conf hf_listener_auth_conf(const struct hf_listener_conf *l);

#endif
