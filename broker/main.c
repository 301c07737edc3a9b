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
#include "checkconf.h"
#include "notify.h"
#include "signals.h"

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

/* Written once the store is ours (a second broker refused on the store
 * must not overwrite the first one's pid file) and the listeners are
 * bound, before `user` takes over. */
static int
write_pid_file(struct hf_logger *log, const char *path, bool *written)
{
	if (!path)
		return 0;
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%ld\n", (long)getpid());
		if (fclose(f) == 0) {
			*written = true;
			return 0;
		}
	}
	hf_log(log, HF_LOG_ERR, "Error: cannot write pid_file %s: %s.", path,
	       strerror(errno));
	return -1;
}

/* What start-up made as root before `user` takes over: the user must own
 * it, or its next start (as that user, under systemd's User=) fails with
 * "Permission denied". Folders and log files that existed before are the
 * operator's and keep their owner; the store's files and the pid file are
 * the broker's own and always change hands. */
struct made {
	bool log_file;  /* the log file did not exist */
	bool store_dir; /* persistence_location did not exist */
};

static void
hand_over(struct hf_logger *log, const char *path, const struct passwd *pw)
{
	if (chown(path, pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT)
		hf_log(log, HF_LOG_WARNING,
		       "Warning: cannot hand %s to user '%s': %s.", path,
		       pw->pw_name, strerror(errno));
}

static void
hand_over_store(struct hf_logger *log, const struct hf_config *c,
                const struct made *m, const struct passwd *pw)
{
	static const char *const suffix[] = {"", "-lock", ".owner"};
	char path[4096];
	if (!c->persistence)
		return;
	if (m->store_dir)
		hand_over(log, c->persistence_location, pw);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s%s", c->persistence_location,
		         c->persistence_file, suffix[i]);
		hand_over(log, path, pw);
	}
}

static int
drop_privileges(struct hf_logger *log, const struct hf_config *c,
                const struct made *m)
{
	const char *user = c->user;
	if (!user || getuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		hf_log(log, HF_LOG_ERR,
		       "Error: user '%s' (option user) does not exist.", user);
		return -1;
	}
	hand_over_store(log, c, m, pw);
	if (c->pid_file)
		hand_over(log, c->pid_file, pw);
	if (m->log_file && c->log_file && (c->log_dest & HF_LOGD_FILE))
		hand_over(log, c->log_file, pw);
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		hf_log(log, HF_LOG_ERR,
		       "Error: cannot switch to user '%s': %s.", user,
		       strerror(errno));
		return -1;
	}
	return 0;
}

/* The pid file goes at exit. After `user` took over, its folder may not
 * be writable (/run): then it is emptied, and a later start, which owns
 * it, overwrites it. */
static void
remove_pid_file(struct hf_logger *log, const char *path)
{
	if (!path || unlink(path) == 0 || errno == ENOENT)
		return;
	int e = errno;
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	hf_log(log, HF_LOG_WARNING,
	       "Warning: cannot remove pid_file %s (%s); %s.", path,
	       strerror(e), fd >= 0 ? "emptied it" : "left as it is");
}

/* One authentication context per listener: its own settings with
 * per_listener_settings, the global ones (already copied into each
 * listener by the configuration) otherwise. *out has n_listeners + 1
 * slots, the last NULL. Returns 0, or -1 with err naming the file (and
 * line) that did not load. */
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
		struct hf_auth_conf ac =
		    hf_listener_auth_conf(&conf->listeners[i]);
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
		if (conf.errors) { /* --test-config: every bad line */
			for (char *l = conf.errors, *e; (e = strchr(l, '\n'));
			     l = e + 1)
				fprintf(stderr, "Error: %.*s\n", (int)(e - l),
				        l);
		} else {
			fprintf(stderr, "Error: %s\n", err);
		}
		hf_config_free(&conf);
		return 1;
	}
	if (exit_now) {
		hf_config_free(&conf);
		return 0;
	}
	if (conf.test_config) {
		/* What start-up would check, all of it (checkconf.h). */
		int n = hf_check_config(&conf, stderr);
		if (n)
			fprintf(stderr, "%s: %d problem%s found\n",
			        conf.config_file ? conf.config_file
			                         : "(defaults)",
			        n, n == 1 ? "" : "s");
		else
			printf("%s: configuration OK\n", conf.config_file
			                                     ? conf.config_file
			                                     : "(defaults)");
		hf_config_free(&conf);
		return n ? 1 : 0;
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
	bool pid_written = false;
	struct made made = {
	    .log_file = conf.log_file && (conf.log_dest & HF_LOGD_FILE) &&
	                access(conf.log_file, F_OK) != 0,
	    .store_dir = conf.persistence &&
	                 access(conf.persistence_location, F_OK) != 0,
	};
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
	    write_pid_file(&b->log, conf.pid_file, &pid_written) != 0 ||
	    drop_privileges(&b->log, &conf, &made) != 0) {
		hf_net_stop(net);
		hf_broker_shutdown(b);
		uv_run(&loop, UV_RUN_DEFAULT);
		goto out_broker;
	}
	/* The engine dials out (bridges) through net. */
	b->dialer = hf_net_dialer(net);
	/* hf-ops: the watchdog from here on; READY=1 below. */
	struct hf_notify notify;
	if (hf_notify_start(&notify, &loop, &b->log) != 0)
		hf_log(&b->log, HF_LOG_WARNING,
		       "Warning: no systemd watchdog timer: out of memory.");
	struct stop_ctx sctx = {net, &notify};
	b->stop_accepting = stop_accepting;
	b->stop_accepting_ctx = &sctx;
	/* The HTTP API's answers come from the engine (net/conn.h). */
	struct hf_status_source status = {hf_engine_metrics, hf_engine_health,
	                                  b};
	hf_net_set_status(net, &status);
	/* HUP, USR1, USR2, RTMIN (signals.h); not counted as keeping the
	 * loop alive: the engine's shutdown ends the loop; they are closed
	 * after it. SIGHUP tells systemd RELOADING=1 ... READY=1. */
	struct hf_signals_ctx sigctx = {b,    net,  auth,   &conf,
	                                argc, argv, &notify};
	struct hf_signals *sig = hf_signals_start(&loop, &sigctx);
	/* Listeners bound, store open, signals handled: ready. */
	hf_notify_ready(&notify);
	uv_run(&loop, UV_RUN_DEFAULT);
	hf_notify_close(&notify); /* the uv_run below finishes it */
	if (sig) {
		hf_signals_close(sig);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	uv_run(&loop, UV_RUN_DEFAULT); /* hf-ops: the watchdog's close */
	rc = b->exit_code;
	hf_log(&b->log, HF_LOG_NOTICE, "holdfast stopped.");
out_broker:
	hf_broker_free(b);
	hf_net_free(net);
	free_auth(auth);
	if (pid_written)
		remove_pid_file(&b->log, conf.pid_file);
	hf_log_close(&b->log);
out:
	if (uv_loop_close(&loop) != 0)
		rc = rc ? rc : 1;
	free(b);
	hf_config_free(&conf);
	return rc;
}
