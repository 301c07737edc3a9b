/* broker/signals.c - the operator's signals: see signals.h.
 *
 * A reload applies a new configuration in place: main() owns the live
 * struct hf_config and everything reads it through pointers (b->conf, each
 * listener's policy), so the new file is parsed into a second struct, and
 * only the settings that can change under running clients are copied (or,
 * for strings, swapped) into the live one; the second struct is then
 * freed, taking the old strings with it. What cannot change live is
 * compared and, when it differs, named in a warning. */
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"
#include "net/net.h"
#include "notify.h"

struct hf_signals {
	struct hf_signals_ctx ctx;
	uv_signal_t hup, usr1, usr2, rtmin;
	int open; /* handles not yet closed */
};

struct hf_auth_conf
hf_listener_auth_conf(const struct hf_listener_conf *l)
{
	struct hf_auth_conf ac = {
	    .allow_anonymous = l->allow_anonymous > 0,
	    .password_file = l->password_file,
	    .acl_file = l->acl_file,
	    .use_identity_as_username = l->use_identity_as_username,
	    .use_subject_as_username = l->use_subject_as_username,
	};
	return ac;
}

static bool
str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static void
swap_str(char **a, char **b)
{
	char *t = *a;
	*a = *b;
	*b = t;
}

/* The logger again with the live settings (a reload may change them) and
 * the log file opened anew (logrotate moved it): the new one is set up
 * before the old one is let go, so a file that cannot be opened leaves the
 * old logger as it was. syslog is closed only when it is no longer used
 * (closelog would cut the new logger's connection too). */
static void
reset_log(struct hf_signals *s)
{
	struct hf_logger *log = &s->ctx.b->log, fresh;
	if (hf_log_open(&fresh, s->ctx.conf) != 0) {
		/* The old logger's timestamp format was the replaced
		 * configuration's string, freed with it: take the live one. */
		log->ts_format = s->ctx.conf->log_timestamp_format;
		hf_log(log, HF_LOG_ERR,
		       "Error: cannot open log file %s: %s; keeping the "
		       "previous log settings.",
		       s->ctx.conf->log_file ? s->ctx.conf->log_file : "?",
		       strerror(errno));
		return;
	}
	FILE *old = log->file;
	bool old_syslog = (log->dest & HF_LOGD_SYSLOG) != 0;
	*log = fresh;
	if (old)
		fclose(old);
	if (old_syslog && !(fresh.dest & HF_LOGD_SYSLOG))
		closelog();
}

/* Whether the listeners are the same ones (so that their security
 * settings can be taken over one by one). */
static bool
same_listeners(const struct hf_config *a, const struct hf_config *b)
{
	if (a->n_listeners != b->n_listeners ||
	    a->per_listener_settings != b->per_listener_settings)
		return false;
	for (size_t i = 0; i < a->n_listeners; i++) {
		const struct hf_listener_conf *x = &a->listeners[i],
		                              *y = &b->listeners[i];
		if (x->port != y->port || x->protocol != y->protocol ||
		    !str_eq(x->bind_address, y->bind_address) ||
		    !str_eq(x->certfile, y->certfile) ||
		    !str_eq(x->keyfile, y->keyfile) ||
		    !str_eq(x->cafile, y->cafile) ||
		    !str_eq(x->crlfile, y->crlfile) ||
		    !str_eq(x->mount_point, y->mount_point) ||
		    !str_eq(x->http_dir, y->http_dir))
			return false;
	}
	return true;
}

/* What only a restart applies: named, kept. */
static void
warn_restart_only(struct hf_signals *s, const struct hf_config *nc)
{
	const struct hf_config *c = s->ctx.conf;
	char what[512] = "";
	size_t n = 0;
#define DIFF(cond, name)                                                       \
	if (cond)                                                              \
		n += (size_t)snprintf(what + n,                                \
		                      n < sizeof(what) ? sizeof(what) - n : 0, \
		                      "%s%s", n ? ", " : "", name);
	DIFF(!same_listeners(c, nc), "listeners");
	DIFF(c->persistence != nc->persistence ||
	         !str_eq(c->persistence_location, nc->persistence_location) ||
	         !str_eq(c->persistence_file, nc->persistence_file) ||
	         c->persistence_sync != nc->persistence_sync ||
	         c->persistence_max_size != nc->persistence_max_size,
	     "persistence");
	DIFF(!str_eq(c->user, nc->user), "user");
	DIFF(!str_eq(c->pid_file, nc->pid_file), "pid_file");
	DIFF(c->max_packet_size != nc->max_packet_size, "max_packet_size");
	DIFF(c->websockets_headers_size != nc->websockets_headers_size,
	     "websockets_headers_size");
#undef DIFF
	if (n)
		hf_log(&s->ctx.b->log, HF_LOG_WARNING,
		       "Warning: reload: %s changed; the new values take "
		       "effect at the next start.",
		       what);
}

/* Copy (or swap) the live settings of nc into the live configuration. */
static void
apply_live(struct hf_signals *s, struct hf_config *nc)
{
	struct hf_config *c = s->ctx.conf;
#define LIVE(f) c->f = nc->f
	LIVE(allow_zero_length_clientid);
	LIVE(acl_check_subscribe);
	LIVE(max_keepalive);
	LIVE(message_size_limit);
	LIVE(max_inflight_messages);
	LIVE(max_inflight_bytes);
	LIVE(max_queued_messages);
	LIVE(max_queued_bytes);
	LIVE(queue_qos0_messages);
	LIVE(maximum_qos);
	LIVE(retain_available);
	LIVE(max_topic_alias);
	LIVE(persistent_client_expiration);
	LIVE(upgrade_outgoing_qos);
	LIVE(set_tcp_nodelay);
	LIVE(sys_interval);
	LIVE(connect_timeout);
	LIVE(max_topic_levels);
	LIVE(max_subscriptions_per_client);
	LIVE(client_max_write_buffer_size);
	LIVE(log_dest);
	LIVE(log_types);
	LIVE(log_timestamp);
	LIVE(connection_messages);
	LIVE(websockets_log_level);
#undef LIVE
	swap_str(&c->auto_id_prefix, &nc->auto_id_prefix);
	swap_str(&c->clientid_prefixes, &nc->clientid_prefixes);
	swap_str(&c->log_file, &nc->log_file);
	swap_str(&c->log_timestamp_format, &nc->log_timestamp_format);
	if (!same_listeners(c, nc))
		return; /* listeners and their security: at the next start */
	c->allow_anonymous = nc->allow_anonymous;
	swap_str(&c->password_file, &nc->password_file);
	swap_str(&c->acl_file, &nc->acl_file);
	for (size_t i = 0; i < c->n_listeners; i++) {
		struct hf_listener_conf *l = &c->listeners[i],
		                        *m = &nc->listeners[i];
		l->allow_anonymous = m->allow_anonymous;
		l->max_connections = m->max_connections;
		l->use_username_as_clientid = m->use_username_as_clientid;
		swap_str(&l->password_file, &m->password_file);
		swap_str(&l->acl_file, &m->acl_file);
	}
}

/* The configuration file again; true when it loaded and was applied. */
static bool
reload_config(struct hf_signals *s)
{
	struct hf_signals_ctx *x = &s->ctx;
	struct hf_config nc;
	char err[1024];
	bool exit_now = false;
	if (!x->conf->config_file)
		return true; /* the embedded defaults: nothing to read */
	if (hf_config_init(&nc) != 0) {
		hf_log(&x->b->log, HF_LOG_ERR,
		       "Error: reload: out of memory; the configuration is "
		       "unchanged.");
		return false;
	}
	if (hf_config_args(&nc, x->argc, x->argv, &exit_now, err,
	                   sizeof(err)) != 0 ||
	    hf_config_finish(&nc, err, sizeof(err)) != 0) {
		hf_log(&x->b->log, HF_LOG_ERR,
		       "Error: reload: %s; the configuration is unchanged.",
		       err);
		hf_config_free(&nc);
		return false;
	}
	warn_restart_only(s, &nc);
	apply_live(s, &nc);
	hf_config_free(&nc); /* the replaced strings go with it */
	return true;
}

static void
on_hup(uv_signal_t *h, int signum)
{
	struct hf_signals *s = h->data;
	struct hf_signals_ctx *x = &s->ctx;
	struct hf_logger *log = &x->b->log;
	char err[1024];
	size_t failed = 0;
	uint32_t old_sys = x->conf->sys_interval;

	(void)signum;
	hf_notify_reloading(x->notify);
	hf_log(log, HF_LOG_NOTICE, "Reloading config.");
	if (!reload_config(s))
		failed++;
	reset_log(s);
	for (size_t i = 0; x->auth && x->auth[i]; i++) {
		struct hf_auth_conf ac =
		    hf_listener_auth_conf(&x->conf->listeners[i]);
		if (hf_auth_reload_conf(x->auth[i], &ac, err, sizeof(err)) !=
		    0) {
			hf_log(log, HF_LOG_ERR,
			       "Error: reload: %s; listener %zu keeps its "
			       "previous password and ACL files.",
			       err, i + 1);
			failed++;
		}
	}
	if (hf_net_reload_tls(x->net, err, sizeof(err)) != 0) {
		hf_log(log, HF_LOG_ERR,
		       "Error: reload: %s; the TLS listeners keep their "
		       "previous certificates, keys, CAs and CRLs.",
		       err);
		failed++;
	}
	hf_engine_reconfigured(x->b, old_sys);
	unsigned n = hf_engine_recheck_auth(x->b);
	hf_log(log, HF_LOG_NOTICE, "Reload done%s; %u client(s) disconnected.",
	       failed ? " with errors (see above)" : "", n);
	hf_notify_ready(x->notify);
}

static void
on_usr1(uv_signal_t *h, int signum)
{
	struct hf_signals *s = h->data;
	(void)signum;
	hf_log(&s->ctx.b->log, HF_LOG_NOTICE,
	       "Received SIGUSR1: statistics follow.");
	hf_engine_log_stats(s->ctx.b);
}

static void
on_usr2(uv_signal_t *h, int signum)
{
	struct hf_signals *s = h->data;
	(void)signum;
	hf_log(&s->ctx.b->log, HF_LOG_NOTICE,
	       "Received SIGUSR2: subscriptions follow.");
	hf_engine_log_subscriptions(s->ctx.b);
}

static void
on_rtmin(uv_signal_t *h, int signum)
{
	struct hf_signals *s = h->data;
	(void)signum;
	if (hf_log_reopen(&s->ctx.b->log, s->ctx.conf) != 0)
		hf_log(&s->ctx.b->log, HF_LOG_ERR,
		       "Error: SIGRTMIN: cannot reopen log file %s: %s; "
		       "logging on into the old one.",
		       s->ctx.conf->log_file, strerror(errno));
	else
		hf_log(&s->ctx.b->log, HF_LOG_NOTICE,
		       "Received SIGRTMIN: log file reopened.");
}

static void
start_one(struct hf_signals *s, uv_loop_t *loop, uv_signal_t *h,
          uv_signal_cb cb, int signum)
{
	if (uv_signal_init(loop, h) != 0)
		return;
	s->open++;
	h->data = s;
	uv_signal_start(h, cb, signum);
	/* The engine's shutdown ends the loop, not these. */
	uv_unref((uv_handle_t *)h);
}

struct hf_signals *
hf_signals_start(uv_loop_t *loop, const struct hf_signals_ctx *ctx)
{
	struct hf_signals *s = calloc(1, sizeof(*s));
	if (!s) {
		hf_log(&ctx->b->log, HF_LOG_ERR,
		       "Error: out of memory for the signal handlers.");
		return NULL;
	}
	s->ctx = *ctx;
	start_one(s, loop, &s->hup, on_hup, SIGHUP);
	start_one(s, loop, &s->usr1, on_usr1, SIGUSR1);
	start_one(s, loop, &s->usr2, on_usr2, SIGUSR2);
	start_one(s, loop, &s->rtmin, on_rtmin, SIGRTMIN);
	return s;
}

static void
closed_cb(uv_handle_t *h)
{
	struct hf_signals *s = h->data;
	if (--s->open == 0)
		free(s);
}

void
hf_signals_close(struct hf_signals *s)
{
	if (!s)
		return;
	if (s->open == 0) {
		free(s);
		return;
	}
	uv_signal_t *all[] = {&s->hup, &s->usr1, &s->usr2, &s->rtmin};
	for (size_t i = 0; i < 4; i++)
		if (all[i]->data == s)
			uv_close((uv_handle_t *)all[i], closed_cb);
}
