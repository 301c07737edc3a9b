/* tests/helpers/broker_proc.c - the broker process harness (see
 * broker_proc.h).
 *
 * Start: write <dir>/broker.conf, fork, redirect the child's stdout and
 * stderr to <dir>/broker.log (appending, so a restart keeps the history),
 * exec the broker with -c. The parent then polls the log, from the offset it
 * had before this start, for "listen socket on port N" and takes N as the
 * port, giving up after 10 s or as soon as the child exits. Stop: SIGTERM,
 * then waitpid() polled every 10 ms for up to 15 s. The store check runs
 * holdfast-db through popen() and reads its whole output.
 *
 * All state lives in the caller's struct hf_bproc; no globals (the case
 * runner uses test.h's counters, which are the test program's). */
#include "broker_proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  15000
#define PORT_NEEDLE      "listen socket on port "

int64_t
hf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
hf_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static const char *
broker_bin(void)
{
	const char *alt = getenv("HF_TEST_BROKER");

	return alt && *alt ? alt : HF_BROKER_BIN;
}

/* Read the log from offset off into a malloc'd NUL-terminated string. */
static char *
read_log(const struct hf_bproc *b, long off)
{
	FILE *f = fopen(b->log, "rb");
	char *s;
	long size;
	size_t n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0) {
		fclose(f);
		return NULL;
	}
	if (off > size)
		off = size;
	s = malloc((size_t)(size - off) + 1);
	if (!s || fseek(f, off, SEEK_SET) != 0) {
		free(s);
		fclose(f);
		return NULL;
	}
	n = fread(s, 1, (size_t)(size - off), f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static long
log_size(const struct hf_bproc *b)
{
	struct stat st;

	return stat(b->log, &st) == 0 ? (long)st.st_size : 0;
}

void
hf_bproc_dump_log(struct hf_bproc *b, long max_bytes)
{
	long size = log_size(b);
	long off = size > max_bytes ? size - max_bytes : 0;
	char *s = read_log(b, off);

	fprintf(stderr,
	        "---- broker log %s (last %ld bytes) ----\n%s\n"
	        "---- end of broker log ----\n",
	        b->log, size - off, s ? s : "(unreadable)");
	free(s);
}

/* A free loopback port, for a reference broker that cannot bind port 0 and
 * report it. Racy by nature; only used with HF_TEST_BROKER. */
static uint16_t
pick_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int
write_conf(struct hf_bproc *b, const char *extra)
{
	FILE *f = fopen(b->conf, "w");
	uint16_t port = 0;

	if (!f)
		return -1;
	if (getenv("HF_TEST_BROKER") && *getenv("HF_TEST_BROKER")) {
		port = pick_free_port();
		if (!port) {
			fclose(f);
			return -1;
		}
	}
	fprintf(f, "listener %u 127.0.0.1\n", port);
	fputs("allow_anonymous true\nlog_dest stderr\nlog_type all\n", f);
	/* Each broker keeps its store in its own test directory, so tests can
	 * run in parallel and a restart finds its own data. */
	fprintf(f, "persistence_location %s/data/\n", b->dir);
	/* A test that wants $SYS sets its own sys_interval after this line;
	 * the later value wins. */
	fputs("sys_interval 0\n", f);
	if (extra) {
		fputs(extra, f);
		fputc('\n', f);
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Reap the child if it has exited; returns true if it has. */
static bool
reap(struct hf_bproc *b, int flags)
{
	int st;
	pid_t r;

	if (b->pid <= 0)
		return true;
	do {
		r = waitpid(b->pid, &st, flags);
	} while (r == -1 && errno == EINTR);
	if (r == 0)
		return false;
	if (r == b->pid) {
		if (WIFEXITED(st))
			b->status = WEXITSTATUS(st);
		else if (WIFSIGNALED(st))
			b->status = 128 + WTERMSIG(st);
		else
			b->status = -1;
	} else {
		b->status = -1;
	}
	b->pid = 0;
	return true;
}

/* Start the broker with -c and the config, plus the NULL-terminated extra
 * arguments (NULL for none; at most MAX_EXTRA_ARGS are used). */
#define MAX_EXTRA_ARGS 8
#define MAX_WRAP_ARGS  16

static int
launch(struct hf_bproc *b, const char *const *extra, void (*in_child)(void *),
       void *ctx)
{
	const char *bin = broker_bin();
	const char *argv[4 + MAX_EXTRA_ARGS + MAX_WRAP_ARGS];
	char wrap[1024];
	size_t argc = 0;
	pid_t pid;

	/* HF_TEST_WRAP="valgrind --leak-check=full ...": run the broker
	 * under that command (words split at spaces). */
	if (getenv("HF_TEST_WRAP") && *getenv("HF_TEST_WRAP")) {
		snprintf(wrap, sizeof(wrap), "%s", getenv("HF_TEST_WRAP"));
		for (char *w = strtok(wrap, " "); w && argc < MAX_WRAP_ARGS;
		     w = strtok(NULL, " "))
			argv[argc++] = w;
	}
	argv[argc++] = bin;
	argv[argc++] = "-c";
	argv[argc++] = b->conf;
	for (size_t i = 0; extra && extra[i] && i < MAX_EXTRA_ARGS; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	b->log_off = log_size(b);
	b->status = -1;
	b->port = 0;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd < 0)
			_exit(126);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
		if (in_child)
			in_child(ctx);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	b->pid = pid;
	return 0;
}

int
hf_bproc_launch(struct hf_bproc *b)
{
	return launch(b, NULL, NULL, NULL);
}

int
hf_bproc_launch_hook(struct hf_bproc *b, void (*in_child)(void *ctx), void *ctx)
{
	return launch(b, NULL, in_child, ctx);
}

static int
spawn(struct hf_bproc *b, const char *const *extra)
{
	int64_t deadline;

	if (launch(b, extra, NULL, NULL) != 0)
		return -1;
	deadline = hf_now_ms() + START_TIMEOUT_MS;
	for (;;) {
		char *s = read_log(b, b->log_off);
		char *p = s ? strstr(s, PORT_NEEDLE) : NULL;

		if (p) {
			long port = strtol(p + strlen(PORT_NEEDLE), NULL, 10);

			free(s);
			if (port <= 0 || port > 65535)
				break;
			b->port = (uint16_t)port;
			/* mosquitto logs "Opening ... listen socket" before it
			 * listens; its "running" line comes after. */
			if (getenv("HF_TEST_BROKER") &&
			    *getenv("HF_TEST_BROKER"))
				hf_bproc_wait_log(b, " running", 2000);
			return 0;
		}
		free(s);
		if (reap(b, WNOHANG)) {
			fprintf(stderr, "broker exited during start (%d)\n",
			        b->status);
			break;
		}
		if (hf_now_ms() > deadline) {
			fprintf(stderr,
			        "broker did not report a port in "
			        "%d ms\n",
			        START_TIMEOUT_MS);
			break;
		}
		hf_sleep_ms(10);
	}
	hf_bproc_dump_log(b, 16384);
	if (b->pid > 0)
		hf_bproc_kill(b);
	return -1;
}

uint16_t
hf_bproc_port_n(struct hf_bproc *b, int n)
{
	int64_t deadline = hf_now_ms() + 2000;

	for (;;) {
		char *s = read_log(b, b->log_off);
		const char *p = s;
		long port = 0;

		for (int i = 0; p && i <= n; i++) {
			p = strstr(p, PORT_NEEDLE);
			if (p)
				p += strlen(PORT_NEEDLE);
		}
		if (p)
			port = strtol(p, NULL, 10);
		free(s);
		if (port > 0 && port <= 65535)
			return (uint16_t)port;
		if (hf_now_ms() > deadline)
			return 0;
		hf_sleep_ms(10);
	}
}

int
hf_bproc_start(struct hf_bproc *b, const char *extra_conf)
{
	memset(b, 0, sizeof(*b));
	b->status = -1;
	snprintf(b->dir, sizeof(b->dir), "/tmp/hf-test-XXXXXX");
	if (!mkdtemp(b->dir)) {
		perror("mkdtemp");
		b->dir[0] = '\0';
		return -1;
	}
	snprintf(b->conf, sizeof(b->conf), "%s/broker.conf", b->dir);
	snprintf(b->log, sizeof(b->log), "%s/broker.log", b->dir);
	if (write_conf(b, extra_conf) != 0) {
		perror("write broker.conf");
		return -1;
	}
	return spawn(b, NULL);
}

int
hf_bproc_restart(struct hf_bproc *b)
{
	return hf_bproc_restart_args(b, NULL);
}

int
hf_bproc_restart_args(struct hf_bproc *b, const char *const *args)
{
	if (b->pid > 0) {
		fprintf(stderr, "hf_bproc_restart: broker still running\n");
		return -1;
	}
	/* A reference broker cannot use port 0: pick a fresh port. */
	if (getenv("HF_TEST_BROKER") && *getenv("HF_TEST_BROKER")) {
		FILE *f;
		char *conf = NULL, *nl;

		f = fopen(b->conf, "r");
		if (f) {
			size_t cap = 0;
			ssize_t n = getdelim(&conf, &cap, '\0', f);

			fclose(f);
			if (n > 0 && (nl = strchr(conf, '\n')) != NULL) {
				f = fopen(b->conf, "w");
				if (f) {
					fprintf(f, "listener %u 127.0.0.1%s",
					        pick_free_port(), nl);
					fclose(f);
				}
			}
		}
		free(conf);
	}
	return spawn(b, args);
}

int
hf_bproc_stop(struct hf_bproc *b)
{
	int64_t deadline;

	if (b->pid <= 0)
		return b->status;
	kill(b->pid, SIGTERM);
	deadline = hf_now_ms() + STOP_TIMEOUT_MS;
	while (!reap(b, WNOHANG)) {
		if (hf_now_ms() > deadline) {
			fprintf(stderr, "broker ignored SIGTERM for %d ms\n",
			        STOP_TIMEOUT_MS);
			hf_bproc_kill(b);
			hf_bproc_dump_log(b, 16384);
			b->status = -1;
			return -1;
		}
		hf_sleep_ms(10);
	}
	if (b->status != 0) {
		fprintf(stderr, "broker exit status after SIGTERM: %d\n",
		        b->status);
		hf_bproc_dump_log(b, 16384);
	}
	return b->status;
}

void
hf_bproc_kill(struct hf_bproc *b)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, SIGKILL);
	reap(b, 0);
}

bool
hf_bproc_alive(struct hf_bproc *b)
{
	return !reap(b, WNOHANG);
}

bool
hf_bproc_log_contains(struct hf_bproc *b, const char *needle)
{
	char *s = read_log(b, 0);
	bool found = s && strstr(s, needle) != NULL;

	free(s);
	return found;
}

int
hf_bproc_log_count(struct hf_bproc *b, const char *needle)
{
	char *s = read_log(b, b->log_off);
	int n = 0;

	if (!s)
		return -1;
	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	free(s);
	return n;
}

bool
hf_bproc_reload(struct hf_bproc *b)
{
	int before = hf_bproc_log_count(b, "Reload done");
	int64_t deadline = hf_now_ms() + 5000;

	if (before < 0 || kill(b->pid, SIGHUP) != 0)
		return false;
	while (hf_now_ms() < deadline) {
		if (hf_bproc_log_count(b, "Reload done") > before)
			return true;
		hf_sleep_ms(5);
	}
	return false;
}

bool
hf_bproc_wait_log(struct hf_bproc *b, const char *needle, int timeout_ms)
{
	int64_t deadline = hf_now_ms() + timeout_ms;

	for (;;) {
		if (hf_bproc_log_contains(b, needle))
			return true;
		if (hf_now_ms() > deadline)
			return false;
		hf_sleep_ms(10);
	}
}

/* rm -rf of the test directory, which holds files and maybe one level of
 * subdirectories (persistence); deeper trees are not expected. */
static void
rm_tree(const char *path, int depth)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[512];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (depth < 8)
				rm_tree(sub, depth + 1);
		} else {
			unlink(sub);
		}
	}
	closedir(d);
	rmdir(path);
}

void
hf_bproc_cleanup(struct hf_bproc *b)
{
	if (b->pid > 0)
		hf_bproc_stop(b);
	if (b->dir[0] && !getenv("HF_TEST_KEEP"))
		rm_tree(b->dir, 0);
	b->dir[0] = '\0';
}

int
hf_test_store_check(const char *dir)
{
	char store[512];

	snprintf(store, sizeof(store), "%s/data", dir);
	return hf_test_store_check_at(store);
}

int
hf_test_store_check_at(const char *store_dir)
{
	char cmd[1024], *out = NULL, *sum;
	size_t n = 0, cap = 0;
	int st, rc;
	FILE *f;

	/* A reference broker keeps no Holdfast store. */
	if (getenv("HF_TEST_BROKER") && *getenv("HF_TEST_BROKER"))
		return 0;
	snprintf(cmd, sizeof(cmd), "'%s' -d '%s' check 2>&1", HF_DB_BIN,
	         store_dir);
	fflush(NULL);
	f = popen(cmd, "r");
	if (!f) {
		perror("popen holdfast-db");
		return -1;
	}
	/* Read all of it (the tool must not block on a full pipe). */
	for (;;) {
		size_t r;

		if (cap - n < 4096) {
			char *nb = realloc(out, cap + 65536);

			if (!nb)
				break;
			out = nb;
			cap += 65536;
		}
		r = fread(out + n, 1, cap - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	if (out)
		out[n] = '\0';
	st = pclose(f);
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		rc = 0;
	} else if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1) {
		/* "check: N violations (...)" is the last line. */
		sum = out ? strstr(out, "check: ") : NULL;
		while (sum && strstr(sum + 1, "check: "))
			sum = strstr(sum + 1, "check: ");
		rc = sum ? atoi(sum + 7) : 0;
		if (rc <= 0)
			rc = 1;
	} else {
		rc = -1;
	}
	if (rc != 0)
		fprintf(stderr, "%s -> status %d:\n%s\n", cmd, st,
		        out ? out : "(no output)");
	free(out);
	return rc;
}

void
hf_bproc_case(const char *name, void (*fn)(struct hf_bproc *),
              const char *extra_conf)
{
	struct hf_bproc b;
	int64_t t0 = hf_now_ms();
	int st;

	hf_test_failed_ = 0;
	fprintf(stderr, "-- %s\n", name);
	if (hf_bproc_start(&b, extra_conf) != 0) {
		fprintf(stderr, "%s: broker did not start\n", name);
		hf_test_failed_ = 1;
	} else {
		fn(&b);
		if (hf_test_failed_)
			fprintf(stderr, "(broker log: %s)\n", b.log);
		if (!hf_bproc_alive(&b)) {
			fprintf(stderr,
			        "%s: broker died during the case "
			        "(status %d)\n",
			        name, b.status);
			hf_bproc_dump_log(&b, 16384);
			hf_test_failed_ = 1;
		} else if ((st = hf_bproc_stop(&b)) != 0) {
			fprintf(stderr, "%s: unclean broker exit %d\n", name,
			        st);
			hf_test_failed_ = 1;
		}
	}
	if (hf_test_failed_) {
		/* Keep the directory of a failed case for inspection. */
		fprintf(stderr, "FAIL %s (%lld ms, dir %s kept)\n", name,
		        (long long)(hf_now_ms() - t0), b.dir);
		hf_test_fail_++;
	} else {
		hf_bproc_cleanup(&b);
		fprintf(stderr, "ok %s (%lld ms)\n", name,
		        (long long)(hf_now_ms() - t0));
		hf_test_pass_++;
	}
}
