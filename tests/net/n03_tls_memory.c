/* tests/net/n03_tls_memory.c - what an idle TLS connection costs in heap,
 * next to a plain TCP one, split into OpenSSL's own allocations and ours.
 *
 * OpenSSL's allocations are counted through CRYPTO_set_mem_functions (set
 * before anything else, so every one of them is seen); the whole heap in
 * use comes from glibc's mallinfo2(). A child process opens N connections
 * to the listener (TCP, then TLS with a full handshake), writes one byte on
 * each and keeps them open; once the parent has seen every byte (so every
 * handshake is finished and the connection idle) it measures, then lets
 * the child go. Per connection:
 *   TCP:  heap (the stream: its struct and libuv poll handle)
 *   TLS:  heap = OpenSSL's (the SSL and what hangs off it) + ours
 * and the check is the promise in broker/net/tls.c: beyond OpenSSL's own,
 * a TLS connection costs at most TLS_OURS_MAX bytes more than a TCP one
 * (its struct tls_conn; no identity here, as no certificate is asked
 * for). The figures are printed for docs/BENCHMARKS.md. Under a sanitizer
 * (its own allocator) the numbers are printed only.
 * Single-threaded (plus the child process). */
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "io.h"
#include "net.h"
#include "test.h"

#define PKI          HF_PKI_DIR "/"
#define N            400
#define WARM         8
#define TLS_OURS_MAX 48 /* struct tls_conn, with malloc's rounding */

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* ---- counting OpenSSL's heap ------------------------------------------- */

static long long ossl_bytes; /* in use, as requested */
static long long ossl_heap;  /* in use, as the heap counts it (chunks) */

/* The heap's own size of block p: glibc's chunk (usable size + its size
 * word), as mallinfo2's uordblks adds them up. */
static long long
chunk(void *p)
{
	return (long long)malloc_usable_size(p) + (long long)sizeof(size_t);
}

/* A header in front of each block keeps its size (16 bytes: alignment);
 * it is counted in OpenSSL's heap, as the chunk it enlarges is OpenSSL's. */
static void *
c_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	size_t *p = malloc(n + 16);
	if (!p)
		return NULL;
	*p = n;
	ossl_bytes += (long long)n;
	ossl_heap += chunk(p);
	return (char *)p + 16;
}

static void
c_free(void *q, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!q)
		return;
	size_t *p = (size_t *)((char *)q - 16);
	ossl_bytes -= (long long)*p;
	ossl_heap -= chunk(p);
	free(p);
}

static void *
c_realloc(void *q, size_t n, const char *file, int line)
{
	if (!q)
		return c_malloc(n, file, line);
	if (n == 0) {
		c_free(q, file, line);
		return NULL;
	}
	size_t *p = (size_t *)((char *)q - 16), old = *p;
	long long was = chunk(p);
	size_t *r = realloc(p, n + 16);
	if (!r)
		return NULL;
	*r = n;
	ossl_bytes += (long long)n - (long long)old;
	ossl_heap += chunk(r) - was;
	return (char *)r + 16;
}

/* ---- the server side -------------------------------------------------- */

struct side {
	struct hf_conn *c;
	size_t n;
	int closeds;
};

static struct side sides[N + WARM];
static int accepted;

static void
ev_data(void *owner, const uint8_t *p, size_t n)
{
	(void)p;
	((struct side *)owner)->n += n;
}

static void
ev_drained(void *owner)
{
	(void)owner;
}

static void
ev_eof(void *owner)
{
	struct side *s = owner;
	s->c->ops->close(s->c);
}

static void
ev_closed(void *owner)
{
	struct side *s = owner;
	s->closeds++;
	s->c = NULL;
}

static const struct hf_conn_events events = {ev_data, ev_drained, ev_eof,
                                             ev_closed};

static int
accept_cb(void *ctx, struct hf_conn *c)
{
	(void)ctx;
	struct side *s = &sides[accepted++];
	memset(s, 0, sizeof(*s));
	s->c = c;
	c->ev = &events;
	c->owner = s;
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uv_loop_t loop;

static bool
run_until_read(int from, int to, int ms)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		int done = 0;
		for (int i = from; i < to && i < accepted; i++)
			done += sides[i].n >= 1;
		if (done == to - from)
			return true;
		if (now_ms() > end)
			return false;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(200);
	}
}

static bool
run_until_closed(int from, int to, int ms)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		int done = 0;
		for (int i = from; i < to; i++)
			done += sides[i].closeds == 1;
		if (done == to - from)
			return true;
		if (now_ms() > end)
			return false;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(200);
	}
}

/* ---- the client process -------------------------------------------------- */

/* Open n connections to port (TLS when tls), one byte on each, then wait
 * for the parent to close the pipe, then close them all. Never returns. */
static void
client(uint16_t port, bool tls, int n, int gate)
{
	int *fds = calloc((size_t)n, sizeof(*fds));
	SSL **ssl = calloc((size_t)n, sizeof(*ssl));
	SSL_CTX *ctx = tls ? SSL_CTX_new(TLS_client_method()) : NULL;
	for (int i = 0; i < n; i++) {
		struct sockaddr_in sa;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons(port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0)
			_exit(2);
		if (tls) {
			ssl[i] = SSL_new(ctx);
			SSL_set_fd(ssl[i], fds[i]);
			if (SSL_connect(ssl[i]) != 1 ||
			    SSL_write(ssl[i], "x", 1) != 1)
				_exit(3);
		} else if (write(fds[i], "x", 1) != 1) {
			_exit(4);
		}
	}
	char b;
	while (read(gate, &b, 1) > 0)
		;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	_exit(0);
}

static pid_t
spawn(uint16_t port, bool tls, int n, int *gate)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		client(port, tls, n, p[0]);
	}
	close(p[0]);
	*gate = p[1];
	return pid;
}

/* ---- measuring ---------------------------------------------------------- */

struct cost {
	long long heap, ossl, ossl_asked; /* per connection, bytes */
};

static struct cost
measure(bool tls)
{
	struct hf_config conf;
	struct hf_logger logger;
	struct hf_net *net = NULL;
	struct hf_acceptor acc = {accept_cb, NULL};
	struct cost c = {-1, -1, -1};
	int gate, st;

	hf_config_init(&conf);
	conf.listeners = calloc(1, sizeof(*conf.listeners));
	conf.n_listeners = 1;
	struct hf_listener_conf *l = &conf.listeners[0];
	l->bind_address = strdup("127.0.0.1");
	l->socket_domain = AF_INET;
	l->max_connections = -1;
	if (tls) {
		l->certfile = strdup(PKI "server.crt");
		l->keyfile = strdup(PKI "server.key");
	}
	conf.log_dest = 0;
	hf_log_open(&logger, &conf);
	uv_loop_init(&loop);
	accepted = 0;
	static struct hf_auth *const no_auth[1] = {NULL};
	if (hf_net_open(&net, &loop, &conf, &logger, &acc, no_auth) != 0)
		goto out;
	uint16_t port = hf_net_port(net, 0);

	/* warm up: whatever is made once (error strings, lists) */
	pid_t pid = spawn(port, tls, WARM, &gate);
	if (!run_until_read(0, WARM, 10000))
		goto out;
	close(gate);
	waitpid(pid, &st, 0);
	if (!run_until_closed(0, WARM, 10000))
		goto out;
	uv_run(&loop, UV_RUN_NOWAIT);

	struct mallinfo2 m0 = mallinfo2();
	long long o0 = ossl_heap, a0 = ossl_bytes;
	pid = spawn(port, tls, N, &gate);
	if (!run_until_read(WARM, WARM + N, 30000)) {
		fprintf(stderr, "  only %d of %d connections ready\n",
		        accepted - WARM, N);
		close(gate);
		waitpid(pid, &st, 0);
		goto out;
	}
	uv_run(&loop, UV_RUN_NOWAIT);
	struct mallinfo2 m1 = mallinfo2();
	c.heap = ((long long)m1.uordblks - (long long)m0.uordblks) / N;
	c.ossl = (ossl_heap - o0) / N;
	c.ossl_asked = (ossl_bytes - a0) / N;
	close(gate);
	waitpid(pid, &st, 0);
	run_until_closed(WARM, WARM + N, 10000);
out:
	hf_net_stop(net);
	uv_run(&loop, UV_RUN_DEFAULT);
	hf_net_free(net);
	uv_loop_close(&loop);
	hf_log_close(&logger);
	hf_config_free(&conf);
	return c;
}

static void
tls_costs_no_more_than_tcp(void)
{
	struct cost tcp = measure(false), tls = measure(true);
	long long ours_tls = tls.heap - tls.ossl;
	fprintf(stderr,
	        "  heap per idle connection: TCP %lld B (OpenSSL %lld); TLS "
	        "%lld B = OpenSSL %lld (%lld asked for) + ours %lld (%+lld B "
	        "next to TCP)\n",
	        tcp.heap, tcp.ossl, tls.heap, tls.ossl, tls.ossl_asked,
	        ours_tls, ours_tls - tcp.heap);
	CHECK(tcp.ossl == 0 && tls.ossl > 0); /* every connection measured */
	if (SANITIZED) {
		fprintf(stderr, "  (a sanitizer's allocator: not checked)\n");
		return;
	}
	CHECK(tcp.heap > 0 && tls.heap > 0);
	CHECK(ours_tls - tcp.heap <= TLS_OURS_MAX);
}

int
main(void)
{
	/* Before anything allocates through OpenSSL. */
	if (!CRYPTO_set_mem_functions(c_malloc, c_realloc, c_free)) {
		fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	HF_RUN(tls_costs_no_more_than_tcp);
	return HF_DONE();
}
