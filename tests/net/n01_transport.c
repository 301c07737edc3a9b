/* tests/net/n01_transport.c - the listener layer and the stream transport
 * (broker/net) without the engine: an acceptor of the test's own stands
 * where the engine would, on real loopback sockets.
 *
 *   echo            accept, data in, write back, the peer's close: eof then
 *                   closed, in that order, once each;
 *   dial            an outgoing connection to the test's own listener
 *                   (its policy outgoing, the far side accepted as usual);
 *   dial_refused    a dial to a closed port reports failed(), no accept;
 *   admission       max_connections 1: the second connection is closed by
 *                   the listener before any owner exists, and logged;
 *   drained         output the peer does not read waits in the stream;
 *                   pending() counts it; once the peer reads, drained()
 *                   comes, once;
 *   pause           a paused connection gets no data until resumed;
 *   held_input      a transport that holds input the poll cannot see (as
 *                   TLS does) gets all of it read, past the fairness limit,
 *                   with no new bytes on the socket.
 * The loop runs in small bounded steps (uv_run NOWAIT) with deadlines.
 * Single-threaded. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>

#include "io.h"
#include "net.h"
#include "test.h"

struct side {
	struct hf_conn *c;
	char got[1 << 16];
	size_t n;
	int eofs, closeds, drains;
	bool echo;
	bool free_on_close;
};

static int accepted;
static struct side *last;

static void
ev_data(void *owner, const uint8_t *p, size_t n)
{
	struct side *s = owner;
	size_t room = sizeof(s->got) - s->n;
	memcpy(s->got + s->n, p, n < room ? n : room);
	s->n += n < room ? n : room;
	if (s->echo) {
		struct hf_wbuf w = {0};
		hf_wbuf_put(&w, p, n);
		s->c->ops->write(s->c, &w);
		hf_wbuf_free(&w);
	}
}

static void
ev_drained(void *owner)
{
	((struct side *)owner)->drains++;
}

static void
ev_eof(void *owner)
{
	struct side *s = owner;
	CHECK_EQ(s->closeds, 0);
	s->eofs++;
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

static struct side sides[8];

static int
accept_cb(void *ctx, struct hf_conn *c)
{
	struct side *s = &sides[accepted++ % 8];
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->echo = ctx != NULL;
	c->ev = &events;
	c->owner = s;
	last = s;
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until cond or the deadline. */
#define RUN_UNTIL(loop, cond, ms)                                              \
	do {                                                                   \
		int64_t end_ = now_ms() + (ms);                                \
		while (!(cond) && now_ms() < end_) {                           \
			uv_run((loop), UV_RUN_NOWAIT);                         \
			usleep(1000);                                          \
		}                                                              \
	} while (0)

static uv_loop_t loop;
static struct hf_config conf;
static struct hf_logger logger;
static struct hf_net *net;

static int
open_net(int max_conns, bool echo)
{
	static int flag;
	struct hf_acceptor acc = {accept_cb, echo ? &flag : NULL};
	hf_config_init(&conf);
	conf.listeners = calloc(1, sizeof(*conf.listeners));
	conf.n_listeners = 1;
	conf.listeners[0].bind_address = strdup("127.0.0.1");
	conf.listeners[0].socket_domain = AF_INET;
	conf.listeners[0].max_connections = max_conns;
	conf.log_dest = 0;
	hf_log_open(&logger, &conf);
	uv_loop_init(&loop);
	accepted = 0;
	static struct hf_auth *const no_auth[1] = {
	    NULL}; /* net only carries it */
	return hf_net_open(&net, &loop, &conf, &logger, &acc, no_auth);
}

static void
close_net(void)
{
	hf_net_stop(net);
	for (int i = 0; i < 8; i++)
		if (sides[i].c)
			sides[i].c->ops->close(sides[i].c);
	RUN_UNTIL(&loop, 0, 300);
	uv_run(&loop, UV_RUN_DEFAULT);
	hf_net_free(net);
	uv_loop_close(&loop);
	hf_log_close(&logger);
	hf_config_free(&conf);
	memset(sides, 0, sizeof(sides));
}

static int
client(uint16_t port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void
echo(void)
{
	char buf[64];
	ssize_t n = 0;
	CHECK_EQ(open_net(-1, true), 0);
	int fd = client(hf_net_port(net, 0));
	CHECK(fd >= 0);
	RUN_UNTIL(&loop, accepted == 1, 2000);
	CHECK_EQ(accepted, 1);
	CHECK(!last->c->policy->outgoing);
	CHECK(last->c->policy->port == hf_net_port(net, 0));
	CHECK(last->c->ops->identity(last->c) == NULL);
	CHECK_EQ(send(fd, "hello", 5, 0), 5);
	RUN_UNTIL(&loop, (n = recv(fd, buf, sizeof(buf), 0)) > 0, 2000);
	CHECK_EQ(n, 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	struct side *s = last;
	close(fd);
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	CHECK_EQ(s->eofs, 1);
	CHECK_EQ(s->closeds, 1);
	close_net();
}

static int dial_failed;

static void
on_dial_failed(void *ctx, const char *why)
{
	(void)ctx;
	(void)why;
	dial_failed++;
}

static void
dial(void)
{
	CHECK_EQ(open_net(-1, true), 0);
	struct hf_dial d = {.host = "127.0.0.1",
	                    .port = hf_net_port(net, 0),
	                    .acc = {accept_cb, NULL},
	                    .failed = on_dial_failed};
	CHECK_EQ(hf_net_dial(net, &d), 0);
	RUN_UNTIL(&loop, accepted == 2, 2000);
	CHECK_EQ(accepted, 2);
	struct side *out = NULL;
	for (int i = 0; i < 2; i++)
		if (sides[i].c && sides[i].c->policy->outgoing)
			out = &sides[i];
	CHECK(out != NULL);
	struct hf_wbuf w = {0};
	hf_wbuf_put(&w, "ping", 4);
	CHECK_EQ(out->c->ops->write(out->c, &w), 0);
	hf_wbuf_free(&w);
	RUN_UNTIL(&loop, out->n == 4, 2000);
	CHECK_EQ(out->n, 4); /* echoed by the accepted side */
	CHECK(memcmp(out->got, "ping", 4) == 0);
	close_net();
}

static void
dial_refused(void)
{
	CHECK_EQ(open_net(-1, false), 0);
	int tmp = client(hf_net_port(net, 0)); /* find a port, then free it */
	CHECK(tmp >= 0);
	close(tmp);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(s, (struct sockaddr *)&sa, &len);
	close(s); /* nobody listens there now */
	dial_failed = 0;
	int before = accepted;
	struct hf_dial d = {.host = "127.0.0.1",
	                    .port = ntohs(sa.sin_port),
	                    .acc = {accept_cb, NULL},
	                    .failed = on_dial_failed};
	CHECK_EQ(hf_net_dial(net, &d), 0);
	RUN_UNTIL(&loop, dial_failed == 1, 2000);
	CHECK_EQ(dial_failed, 1);
	RUN_UNTIL(&loop, 0, 100);
	CHECK_EQ(accepted, before + 1); /* only the first probe client */
	close_net();
}

static void
admission(void)
{
	char b;
	CHECK_EQ(open_net(1, false), 0);
	int a = client(hf_net_port(net, 0));
	RUN_UNTIL(&loop, accepted == 1, 2000);
	int c = client(hf_net_port(net, 0));
	ssize_t n = -1;
	RUN_UNTIL(&loop, (n = recv(c, &b, 1, 0)) == 0, 2000);
	CHECK_EQ(n, 0); /* closed by the listener */
	CHECK_EQ(accepted, 1);
	close(a);
	close(c);
	close_net();
}

static void
drained(void)
{
	static char big[8 << 20];
	char sink[65536];
	CHECK_EQ(open_net(-1, false), 0);
	int fd = client(hf_net_port(net, 0));
	RUN_UNTIL(&loop, accepted == 1, 2000);
	struct side *s = last;
	struct hf_wbuf w = {0};
	hf_wbuf_put(&w, big, sizeof(big));
	CHECK_EQ(s->c->ops->write(s->c, &w), 0);
	hf_wbuf_free(&w);
	CHECK(s->c->ops->pending(s->c) > 0);
	RUN_UNTIL(&loop, 0, 50);
	CHECK_EQ(s->drains, 0);
	size_t got = 0;
	int64_t end = now_ms() + 5000;
	while (got < sizeof(big) && now_ms() < end) {
		ssize_t n = recv(fd, sink, sizeof(sink), 0);
		if (n > 0)
			got += (size_t)n;
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	CHECK_EQ(got, sizeof(big));
	RUN_UNTIL(&loop, s->drains == 1, 2000);
	CHECK_EQ(s->drains, 1);
	CHECK_EQ(s->c->ops->pending(s->c), 0);
	close(fd);
	close_net();
}

static void
pause_resume(void)
{
	CHECK_EQ(open_net(-1, false), 0);
	int fd = client(hf_net_port(net, 0));
	RUN_UNTIL(&loop, accepted == 1, 2000);
	struct side *s = last;
	s->c->ops->pause(s->c, true);
	CHECK_EQ(send(fd, "abc", 3, 0), 3);
	RUN_UNTIL(&loop, 0, 100);
	CHECK_EQ(s->n, 0);
	s->c->ops->pause(s->c, false);
	RUN_UNTIL(&loop, s->n == 3, 2000);
	CHECK_EQ(s->n, 3);
	close(fd);
	close_net();
}

/* A transport that reads the whole socket at once and hands it out one
 * byte per read: what poll sees is empty long before the engine has
 * everything (a TLS record read ahead). */
struct holder {
	int fd;
	uint8_t buf[4096];
	size_t len, off;
};

static ssize_t
h_read(void *io, uint8_t *buf, size_t n, int *want)
{
	struct holder *h = io;
	if (h->off == h->len) {
		ssize_t r = recv(h->fd, h->buf, sizeof(h->buf), 0);
		if (r == 0)
			return HF_IO_EOF;
		if (r < 0) {
			*want = HF_IO_WANT_READ;
			return errno == EAGAIN ? HF_IO_AGAIN : HF_IO_ERR;
		}
		h->len = (size_t)r;
		h->off = 0;
	}
	(void)n;
	buf[0] = h->buf[h->off++];
	return 1;
}

static ssize_t
h_write(void *io, const uint8_t *buf, size_t n, int *want)
{
	return hf_tcp_io.write((void *)(intptr_t)((struct holder *)io)->fd, buf,
	                       n, want);
}

static int
h_shutdown(void *io, int *want)
{
	return hf_tcp_io.shutdown((void *)(intptr_t)((struct holder *)io)->fd,
	                          want);
}

static size_t
h_pending(void *io)
{
	struct holder *h = io;
	return h->len - h->off;
}

static const struct hf_peer_identity *
h_identity(void *io)
{
	static const struct hf_peer_identity id = {"CN=agent,O=x", "agent"};
	(void)io;
	return &id;
}

static void
h_free(void *io)
{
	free(io);
}

static const struct hf_io_ops holder_io = {
    .read = h_read,
    .write = h_write,
    .shutdown = h_shutdown,
    .pending_input = h_pending,
    .identity = h_identity,
    .free = h_free,
};

static void
held_input(void)
{
	int sv[2];
	struct hf_acceptor acc = {accept_cb, NULL};
	CHECK_EQ(open_net(-1, false), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct holder *h = calloc(1, sizeof(*h));
	h->fd = sv[0];
	/* A dialled-style endpoint of its own (freed with the stream). */
	struct hf_endpoint *ep = calloc(1, sizeof(*ep));
	ep->net = net;
	ep->io = &holder_io;
	struct hf_stream *st = hf_stream_new(ep, sv[0], h, &acc);
	CHECK(st != NULL);
	struct side *s = last;
	CHECK(strcmp(s->c->ops->identity(s->c)->cn, "agent") == 0);
	char msg[100];
	memset(msg, 'x', sizeof(msg));
	CHECK_EQ(send(sv[1], msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	RUN_UNTIL(&loop, s->n == sizeof(msg), 2000);
	CHECK_EQ(s->n, sizeof(msg)); /* far past READS_PER_WAKE (16) */
	close(sv[1]);
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	CHECK_EQ(s->closeds, 1);
	close_net();
}

int
main(void)
{
	HF_RUN(echo);
	HF_RUN(dial);
	HF_RUN(dial_refused);
	HF_RUN(admission);
	HF_RUN(drained);
	HF_RUN(pause_resume);
	HF_RUN(held_input);
	return HF_DONE();
}
