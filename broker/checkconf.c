/* broker/checkconf.c - `holdfast --test-config`: everything start-up would
 * check, without starting, every problem reported (checkconf.h).
 *
 * Start-up stops at the first thing it cannot do; an operator fixing a
 * configuration wants the whole list at once, each with FILE:LINE of the
 * option that causes it. Nothing is created, bound or changed: a folder
 * that start-up would create is checked by the nearest one that exists. */
#include "checkconf.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "net/net.h"
#include "signals.h"

/* Kernel file systems no store or log belongs on (their magic numbers,
 * linux/magic.h). */
#define PROC_SUPER_MAGIC   0x9fa0
#define SYSFS_MAGIC        0x62656572
#define DEVPTS_SUPER_MAGIC 0x1cd1
#define CGROUP2_MAGIC      0x63677270

struct checker {
	FILE *out;
	int n;
};

static void __attribute__((format(printf, 3, 4)))
problem(struct checker *k, const char *at, const char *fmt, ...)
{
	va_list ap;
	fprintf(k->out, "Error: %s%s", at ? at : "", at ? ": " : "");
	va_start(ap, fmt);
	vfprintf(k->out, fmt, ap);
	va_end(ap);
	fputc('\n', k->out);
	k->n++;
}

static void
report(void *ctx, const char *err)
{
	problem(ctx, NULL, "%s", err);
}

/* The nearest existing folder of path (itself if it is one), into out. */
static int
nearest_dir(const char *path, char *out, size_t outlen)
{
	struct stat st;
	if (snprintf(out, outlen, "%s", path) >= (int)outlen)
		return -1;
	for (;;) {
		if (stat(out, &st) == 0)
			return S_ISDIR(st.st_mode) ? 0 : -1;
		char *slash = strrchr(out, '/');
		if (!slash)
			return snprintf(out, outlen, ".") > 0 ? 0 : -1;
		if (slash == out) {
			out[1] = '\0';
			continue;
		}
		*slash = '\0';
	}
}

static const char *
kernel_fs(const char *dir)
{
	struct statfs fs;
	if (statfs(dir, &fs) != 0)
		return NULL;
	switch ((unsigned long)fs.f_type) {
	case PROC_SUPER_MAGIC:
		return "/proc";
	case SYSFS_MAGIC:
		return "sysfs";
	case DEVPTS_SUPER_MAGIC:
		return "devpts";
	case CGROUP2_MAGIC:
		return "cgroup2";
	default:
		return NULL;
	}
}

/* A file start-up creates or appends to: it, or the folder it would be
 * made in, must be writable (by root before `user` takes over, as
 * start-up does it). */
static void
check_file(struct checker *k, const char *at, const char *opt, const char *path)
{
	struct stat st;
	char dir[PATH_MAX];
	const char *kfs;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			problem(k, at, "%s: %s is a folder", opt, path);
		else if (access(path, W_OK) != 0)
			problem(k, at, "%s: %s: %s", opt, path,
			        strerror(errno));
		return;
	}
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, sizeof(dir), ".");
	} else if (slash == path) {
		snprintf(dir, sizeof(dir), "/");
	} else {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		problem(k, at, "%s: %s: folder %s does not exist", opt, path,
		        dir);
	else if (access(dir, W_OK | X_OK) != 0)
		problem(k, at, "%s: %s: folder %s: %s", opt, path, dir,
		        strerror(errno));
	else if ((kfs = kernel_fs(dir)))
		problem(k, at, "%s: %s is on %s, not a file system for it", opt,
		        path, kfs);
}

static void
check_store(struct checker *k, const struct hf_config *c)
{
	const char *at = hf_config_where(c, "persistence_location");
	const char *loc = c->persistence_location;
	char dir[PATH_MAX];
	struct stat st;
	const char *kfs;
	if (!c->persistence)
		return;
	if (stat(loc, &st) == 0 && !S_ISDIR(st.st_mode)) {
		problem(k, at, "persistence_location: %s is not a folder", loc);
		return;
	}
	if (nearest_dir(loc, dir, sizeof(dir)) != 0) {
		problem(k, at,
		        "persistence_location: %s: no folder to make it "
		        "in",
		        loc);
		return;
	}
	if ((kfs = kernel_fs(dir))) {
		problem(k, at,
		        "persistence_location: %s is on %s, not a file system "
		        "for a store",
		        loc, kfs);
		return;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		problem(k, at, "persistence_location: %s: folder %s: %s", loc,
		        dir, strerror(errno));
		return;
	}
	char file[PATH_MAX];
	snprintf(file, sizeof(file), "%s/%s", loc, c->persistence_file);
	if (stat(file, &st) == 0 &&
	    (!S_ISREG(st.st_mode) || access(file, R_OK | W_OK) != 0))
		problem(k, hf_config_where(c, "persistence_file"),
		        "persistence_file: %s: %s", file,
		        S_ISREG(st.st_mode) ? strerror(errno)
		                            : "not a regular file");
}

static void
check_listeners(struct checker *k, const struct hf_config *c)
{
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct hf_listener_conf *l = &c->listeners[i];
		if (!l->bind_address || l->local_only)
			continue;
		struct addrinfo hints = {.ai_flags = AI_PASSIVE,
		                         .ai_socktype = SOCK_STREAM,
		                         .ai_family = l->socket_domain},
		                *ai = NULL;
		int rc = getaddrinfo(l->bind_address, NULL, &hints, &ai);
		if (rc != 0)
			problem(
			    k,
			    l->at ? l->at : hf_config_where(c, "bind_address"),
			    "listener %u: address '%s' does not resolve: %s",
			    l->port, l->bind_address, gai_strerror(rc));
		if (ai)
			freeaddrinfo(ai);
	}
}

int
hf_check_config(const struct hf_config *c, FILE *out)
{
	struct checker k = {out, 0};
	char err[1024];

	/* password and ACL files, each listener's */
	for (size_t i = 0; i < c->n_listeners; i++) {
		struct hf_auth_conf ac =
		    hf_listener_auth_conf(&c->listeners[i]);
		struct hf_auth *a = hf_auth_new(&ac, err, sizeof(err));
		if (!a)
			problem(&k, NULL, "%s", err);
		hf_auth_free(a);
		if (c->per_listener_settings)
			continue;
		break; /* the same files for every listener */
	}
	/* TLS files and http_dir of each listener */
	hf_net_check(c, report, &k);
	check_listeners(&k, c);
	check_store(&k, c);
	if ((c->log_dest & HF_LOGD_FILE) && c->log_file)
		check_file(&k, hf_config_where(c, "log_dest"), "log_dest file",
		           c->log_file);
	if (c->pid_file)
		check_file(&k, hf_config_where(c, "pid_file"), "pid_file",
		           c->pid_file);
	if (c->user && !getpwnam(c->user))
		problem(&k, hf_config_where(c, "user"),
		        "user: no such user '%s'", c->user);
	return k.n;
}
