/* tests/helpers/bpair.c - bridge pairs and mosquitto for the bridge tests
 * (see bpair.h). */
#include "bpair.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rawclient.h"
#include "test.h"

#define MOSQ_BIN "/usr/sbin/mosquitto"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	if (getdelim(&text, &cap, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

int
hf_bproc_pin_port(struct hf_bproc *b)
{
	char *text = slurp(b->conf);
	char *nl = text ? strchr(text, '\n') : NULL;
	FILE *f;

	if (!nl || !(f = fopen(b->conf, "w"))) {
		free(text);
		return -1;
	}
	fprintf(f, "listener %u 127.0.0.1%s", b->port, nl);
	free(text);
	return fclose(f) == 0 ? 0 : -1;
}

bool
hf_bpair_start(struct hf_bpair *p, const char *core_extra, const char *edge_fmt)
{
	char conf[4096], port[8];
	size_t o = 0;

	memset(p, 0, sizeof(*p));
	if (hf_bproc_start(&p->core, core_extra) != 0)
		return false;
	p->core_up = true;
	if (hf_bproc_pin_port(&p->core) != 0)
		return false;
	snprintf(port, sizeof(port), "%u", p->core.port);
	for (const char *q = edge_fmt; *q && o + 8 < sizeof(conf); q++) {
		if (q[0] == '%' && q[1] == 'u') {
			o += (size_t)snprintf(conf + o, sizeof(conf) - o, "%s",
			                      port);
			q++;
		} else {
			conf[o++] = *q;
		}
	}
	conf[o] = '\0';
	if (hf_bproc_start(&p->edge, conf) != 0)
		return false;
	p->edge_up = true;
	return true;
}

static void
end_one(struct hf_bproc *b, bool up, const char *what, const char *name)
{
	if (up && hf_bproc_alive(b) && hf_bproc_stop(b) != 0) {
		fprintf(stderr, "%s: unclean %s exit\n", name, what);
		hf_test_failed_ = 1;
	}
}

void
hf_bpair_end(struct hf_bpair *p, const char *name)
{
	if (hf_test_failed_) {
		fprintf(stderr, "%s: edge log %s, core log %s\n", name,
		        p->edge.log, p->core.log);
		hf_bproc_dump_log(&p->edge, 6000);
	}
	end_one(&p->edge, p->edge_up, "edge", name);
	end_one(&p->core, p->core_up, "core", name);
	if (!hf_test_failed_) {
		hf_bproc_cleanup(&p->edge);
		hf_bproc_cleanup(&p->core);
	}
}

bool
hf_bproc_wait_count(struct hf_bproc *b, const char *needle, int n,
                    int timeout_ms)
{
	int64_t end = hf_now_ms() + timeout_ms;

	for (;;) {
		if (hf_bproc_log_count(b, needle) >= n)
			return true;
		if (hf_now_ms() > end)
			return false;
		hf_sleep_ms(20);
	}
}

uint16_t
hf_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(sa);
	uint16_t port = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &l) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

bool
hf_mosq_available(void)
{
	return access(MOSQ_BIN, X_OK) == 0;
}

/* One attempt on a fresh free port: 0 when mosquitto listens. */
static int
mosq_try(struct hf_mosq *m, const char *extra)
{
	char conf[128];
	FILE *f;
	int fd = -1;
	int64_t end;

	m->port = hf_free_port();
	snprintf(conf, sizeof(conf), "%s/mq.conf", m->dir);
	if (!m->port || !(f = fopen(conf, "w")))
		return -1;
	fprintf(f,
	        "listener %u 127.0.0.1\nallow_anonymous true\n"
	        "log_dest stderr\nlog_type all\n%s\n",
	        m->port, extra ? extra : "");
	fclose(f);
	fflush(NULL);
	m->pid = fork();
	if (m->pid < 0)
		return -1;
	if (m->pid == 0) {
		if (!freopen(m->log, "a", stderr))
			_exit(126);
		execl(MOSQ_BIN, "mosquitto", "-c", conf, (char *)NULL);
		_exit(127);
	}
	end = hf_now_ms() + 5000;
	while (hf_now_ms() < end && (fd = hf_raw_open(m->port)) < 0 &&
	       waitpid(m->pid, NULL, WNOHANG) == 0)
		hf_sleep_ms(20);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	kill(m->pid, SIGKILL);
	waitpid(m->pid, NULL, 0);
	m->pid = 0;
	return -1;
}

int
hf_mosq_start(struct hf_mosq *m, const char *extra)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "/tmp/hf-mq-XXXXXX");
	if (!mkdtemp(m->dir)) {
		m->dir[0] = '\0';
		return -1;
	}
	chmod(m->dir, 0755); /* mosquitto may drop privileges */
	snprintf(m->log, sizeof(m->log), "%s/mq.log", m->dir);
	for (int tries = 0; tries < 5; tries++)
		if (mosq_try(m, extra) == 0)
			return 0;
	fprintf(stderr, "mosquitto did not start (log %s)\n", m->log);
	return -1;
}

bool
hf_mosq_log_contains(const struct hf_mosq *m, const char *needle)
{
	char *s = slurp(m->log);
	bool found = s && strstr(s, needle);

	free(s);
	return found;
}

void
hf_mosq_stop(struct hf_mosq *m, bool keep)
{
	char cmd[128];

	if (m->pid > 0) {
		kill(m->pid, SIGTERM);
		int64_t end = hf_now_ms() + 5000;
		while (waitpid(m->pid, NULL, WNOHANG) == 0) {
			if (hf_now_ms() > end) {
				kill(m->pid, SIGKILL);
				waitpid(m->pid, NULL, 0);
				break;
			}
			hf_sleep_ms(10);
		}
		m->pid = 0;
	}
	if (!m->dir[0])
		return;
	if (keep) {
		char *s = slurp(m->log);
		fprintf(stderr,
		        "---- mosquitto log %s ----\n%s\n---- end ----\n",
		        m->log, s ? s : "(unreadable)");
		free(s);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", m->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", m->dir);
	m->dir[0] = '\0';
}
