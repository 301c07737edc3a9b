/* broker/main.c - the holdfast executable: command line, configuration,
 * process set-up (daemon, pid file, user), and the loop.
 *
 * Wiring only: everything with behaviour lives in the libraries. This is
 * where the listener layer (broker/net) meets the engine (broker/engine):
 * the engine's acceptor goes to net, net's stop goes to the engine's
 * shutdown; neither library includes the other's headers beyond the seam,
 * net/conn.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holdfast/auth.h"
#include "broker.h"
#include "net/net.h"
#include "notify.h" /* hf-ops: sd_notify */

static int
daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

static int
write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f);
}

static int
drop_privileges(struct hf_logger *log, const char *user)
{
	if (!user || getuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		hf_log(log, HF_LOG_ERR,
		       "Error: user '%s' (option user) does not exist.", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		hf_log(log, HF_LOG_ERR,
		       "Error: cannot switch to user '%s': %s.", user,
		       strerror(errno));
		return -1;
	}
	return 0;
}

/* One authentication context per listener: its own settings with
 * per_listener_settings, the global ones (already copied into each
 * listener by the configuration) otherwise. *out has n_listeners + 1
 * slots, the last NULL. Returns 0, or -1 with err naming the file (and
 * line) that did not load. */
static struct hf_auth_conf
auth_conf_of(const struct hf_listener_conf *l)
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

static int
make_auth(const struct hf_config *conf, struct hf_auth ***out, char *err,
          size_t errlen)
{
	struct hf_auth **a = calloc(conf->n_listeners + 1, sizeof(*a));
	*out = a;
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < conf->n_listeners; i++) {
		struct hf_auth_conf ac = auth_conf_of(&conf->listeners[i]);
		if (!(a[i] = hf_auth_new(&ac, err, errlen)))
			return -1;
	}
	return 0;
}

static void
free_auth(struct hf_auth **auth)
{
	for (size_t i = 0; auth && auth[i]; i++)
		hf_auth_free(auth[i]);
	free(auth);
}

/* A restored session's listener, by the port it had: the first listener
 * configured with that port, else the first listener (a session from a
 * listener that is gone, or bound to port 0). */
struct auth_map {
	const struct hf_config *conf;
	struct hf_auth **auth;
};

static const struct hf_auth *
auth_for_port(void *ctx, uint16_t port)
{
	const struct auth_map *m = ctx;
	if (!m->auth || m->conf->n_listeners == 0)
		return NULL;
	for (size_t i = 0; i < m->conf->n_listeners; i++)
		if (m->conf->listeners[i].port == port)
			return m->auth[i];
	return m->auth[0];
}

/* hf-ops: every shutdown (signal, store failure) starts here, so this is
 * where systemd hears STOPPING=1. */
struct stop_ctx {
	struct hf_net *net;
	struct hf_notify *notify;
};

static void
stop_accepting(void *ctx)
{
	struct stop_ctx *s = ctx;
	hf_notify_stopping(s->notify);
	hf_net_stop(s->net);
}

/* SIGHUP: read the password and ACL files of every listener and the TLS
 * listeners' certificate, key, CA and CRL files again (the configuration
 * file itself is not re-read), then drop the clients whose credentials no
 * longer hold. Whatever does not load keeps what it had; the error names
 * FILE:LINE. New TLS connections get the new files; open ones keep the
 * context they were accepted with. */
struct reload_ctx {
	struct hf_broker *b;
	struct hf_net *net;
	struct hf_auth **auth;
	struct hf_notify *notify; /* hf-ops */
};

static void
on_sighup(uv_signal_t *h, int signum)
{
	struct reload_ctx *r = h->data;
	char err[1024];
	size_t failed = 0;

	(void)signum;
	hf_log(&r->b->log, HF_LOG_NOTICE, "Reloading on SIGHUP.");
	for (size_t i = 0; r->auth && r->auth[i]; i++) {
		if (hf_auth_reload(r->auth[i], err, sizeof(err)) != 0) {
			hf_log(&r->b->log, HF_LOG_ERR,
			       "Error: reload: %s; listener %zu keeps its "
			       "previous password and ACL files.",
			       err, i + 1);
			failed++;
		}
	}
	if (hf_net_reload_tls(r->net, err, sizeof(err)) != 0) {
		hf_log(&r->b->log, HF_LOG_ERR,
		       "Error: reload: %s; the TLS listeners keep their "
		       "previous certificates, keys, CAs and CRLs.",
		       err);
		failed++;
	}
	unsigned n = hf_engine_recheck_auth(r->b);
	hf_log(&r->b->log, HF_LOG_NOTICE,
	       "Reload done%s; %u client(s) disconnected.",
	       failed ? " with errors (see above)" : "", n);
}

/* hf-ops: `systemctl reload` waits for RELOADING=1 ... READY=1. */
static void
on_sighup_notify(uv_signal_t *h, int signum)
{
	struct reload_ctx *r = h->data;
	hf_notify_reloading(r->notify);
	on_sighup(h, signum);
	hf_notify_ready(r->notify);
}

int
main(int argc, char **argv)
{
	struct hf_config conf;
	char err[1024];
	bool exit_now = false;
	int rc = 1;

	if (hf_config_init(&conf) != 0) {
		fprintf(stderr, "Error: out of memory.\n");
		return 1;
	}
	if (hf_config_args(&conf, argc, argv, &exit_now, err, sizeof(err)) !=
	        0 ||
	    (!exit_now && hf_config_finish(&conf, err, sizeof(err)) != 0)) {
		fprintf(stderr, "Error: %s\n", err);
		hf_config_free(&conf);
		return 1;
	}
	if (exit_now) {
		hf_config_free(&conf);
		return 0;
	}
	if (conf.test_config) {
		/* The password and ACL files and the TLS listeners' files
		 * are read as at start-up. */
		struct hf_auth **a = NULL;
		int bad = make_auth(&conf, &a, err, sizeof(err));
		free_auth(a);
		if (bad || hf_net_check_tls(&conf, err, sizeof(err)) != 0) {
			fprintf(stderr, "Error: %s\n", err);
			hf_config_free(&conf);
			return 1;
		}
		printf("%s: configuration OK\n",
		       conf.config_file ? conf.config_file : "(defaults)");
		hf_config_free(&conf);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (conf.daemon && daemonize() != 0) {
		fprintf(stderr, "Error: cannot daemonise: %s\n",
		        strerror(errno));
		hf_config_free(&conf);
		return 1;
	}
	struct hf_broker *b = calloc(1, sizeof(*b));
	struct hf_net *net = NULL;
	struct hf_auth **auth = NULL;
	uv_loop_t loop;
	if (!b || uv_loop_init(&loop) != 0) {
		fprintf(stderr, "Error: out of memory.\n");
		free(b);
		hf_config_free(&conf);
		return 1;
	}
	if (hf_log_open(&b->log, &conf) != 0) {
		fprintf(stderr, "Error: cannot open log file %s: %s\n",
		        conf.log_file ? conf.log_file : "?", strerror(errno));
		goto out;
	}
	hf_log(&b->log, HF_LOG_NOTICE, "holdfast version %s starting",
	       HF_VERSION);
	if (conf.config_file)
		hf_log(&b->log, HF_LOG_NOTICE, "Config loaded from %s.",
		       conf.config_file);
	bool local_only = conf.n_listeners > 0;
	for (size_t i = 0; i < conf.n_listeners; i++)
		local_only &= conf.listeners[i].local_only;
	if (conf.cmd_ports_ignored)
		hf_log(&b->log, HF_LOG_WARNING,
		       "Warning: -p is ignored because the config file "
		       "defines listeners.");
	if (local_only)
		hf_log(&b->log, HF_LOG_NOTICE,
		       "Starting in local only mode. Connections will only be "
		       "possible from clients running on this machine.");
	if (conf.pid_file && write_pid_file(conf.pid_file) != 0) {
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: cannot write pid_file %s: %s.", conf.pid_file,
		       strerror(errno));
		goto out_log;
	}
	/* The engine first (it reads the store back), then the listeners,
	 * which hand every accepted connection to it with its listener's
	 * authentication context. */
	struct hf_acceptor acc = {hf_engine_accept, b};
	struct auth_map am = {&conf, NULL};
	int arc = make_auth(&conf, &auth, err, sizeof(err));
	if (arc != 0)
		hf_log(&b->log, HF_LOG_ERR, "Error: %s.", err);
	am.auth = auth;
	b->auth_for_port = auth_for_port;
	b->auth_for_port_ctx = &am;
	if (arc == 0 && conf.n_listeners) {
		/* A session of the first listener's needs no identity of its
		 * own when anonymous (broker/engine/ident.c). */
		b->default_auth = auth[0];
		b->default_port = conf.listeners[0].port;
	}
	if (arc != 0 || hf_broker_init(b, &loop, &conf) != 0 ||
	    hf_net_open(&net, &loop, &conf, &b->log, &acc, auth) != 0 ||
	    drop_privileges(&b->log, conf.user) != 0) {
		hf_net_stop(net);
		hf_broker_shutdown(b);
		uv_run(&loop, UV_RUN_DEFAULT);
		goto out_broker;
	}
	/* hf-ops: the watchdog from here on; READY=1 below. */
	struct hf_notify notify;
	if (hf_notify_start(&notify, &loop, &b->log) != 0)
		hf_log(&b->log, HF_LOG_WARNING,
		       "Warning: no systemd watchdog timer: out of memory.");
	struct stop_ctx sctx = {net, &notify};
	b->stop_accepting = stop_accepting;
	b->stop_accepting_ctx = &sctx;
	/* Not counted as keeping the loop alive: the engine's shutdown ends
	 * the loop; the handle is closed after it. */
	struct reload_ctx rctx = {b, net, auth, &notify};
	uv_signal_t sighup;
	bool hup = uv_signal_init(&loop, &sighup) == 0;
	if (hup) {
		sighup.data = &rctx;
		uv_signal_start(&sighup, on_sighup_notify, SIGHUP);
		uv_unref((uv_handle_t *)&sighup);
	}
	/* hf-ops: listeners bound, store open, SIGHUP handled: ready. */
	hf_notify_ready(&notify);
	uv_run(&loop, UV_RUN_DEFAULT);
	hf_notify_close(&notify); /* hf-ops; the uv_run below finishes it */
	if (hup) {
		uv_close((uv_handle_t *)&sighup, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	uv_run(&loop, UV_RUN_DEFAULT); /* hf-ops: the watchdog's close */
	rc = b->exit_code;
	hf_log(&b->log, HF_LOG_NOTICE, "holdfast stopped.");
out_broker:
	hf_broker_free(b);
	hf_net_free(net);
	free_auth(auth);
	if (conf.pid_file)
		unlink(conf.pid_file);
out_log:
	hf_log_close(&b->log);
out:
	if (uv_loop_close(&loop) != 0)
		rc = rc ? rc : 1;
	free(b);
	hf_config_free(&conf);
	return rc;
}
