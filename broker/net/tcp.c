/* broker/net/tcp.c - plain TCP listeners and connections.
 *
 * Sockets are ours, watched with libuv poll handles (uv_poll_t, 160 bytes)
 * rather than libuv streams (uv_tcp_t, 248 bytes plus a write request per
 * pending write): with 10 000 idle clients the difference is most of what a
 * connection costs. A listener binds each address getaddrinfo() gives for
 * its bind address (or the wildcard addresses), IPv6 sockets with
 * IPV6_V6ONLY so v4 and v6 can share a port, and accepts in batches; when
 * the process is out of descriptors it stops accepting for a moment instead
 * of spinning.
 *
 * A connection (struct tcp_conn) implements struct hf_conn_ops. Reads go
 * from the broker's shared read buffer straight into hf_client_on_data().
 * Writes are tried at once with send(); what the kernel does not take waits
 * in one pending buffer (allocated only then) and leaves when the socket is
 * writable, so the engine never waits. Closing is a half-close: pending
 * output (a DISCONNECT among it) goes out, then FIN, while input is read and
 * dropped until the peer closes too or a timer runs out; only then is the
 * handle closed, the socket closed and hf_client_on_closed() called.
 * Closing outright with unread input would make the kernel send RST, and a
 * peer may then lose our last packet before reading it.
 *
 * Loop thread only. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"

/* Output the kernel has not taken yet: buf.p[off .. buf.len). */
struct pending {
	struct hf_wbuf buf;
	size_t off;
};

struct tcp_conn {
	struct hf_conn base;
	uv_poll_t h;
	struct hf_listener *l;
	struct pending *pend; /* allocated on the first write that must wait */
	uv_timer_t *timer;    /* bounds the close; only while closing */
	int fd;
	int events;         /* what h polls for now */
	bool closing;       /* no more input for the engine */
	bool paused;        /* the engine asked not to read */
	bool failed;        /* a send failed: close on the next callback */
	bool shut;          /* FIN sent */
	bool handle_closed; /* h closed (and fd with it) */
	bool timer_closed;
};

#define CLOSE_LINGER_MS   2000 /* waiting for the peer's FIN */
#define CLOSE_WRITE_MS    5000 /* when our last bytes are still pending */
#define READS_PER_WAKE    16   /* fairness between busy connections */
#define ACCEPTS_PER_WAKE  128
#define ACCEPT_BACKOFF_MS 200 /* out of descriptors: pause accepting */

static void conn_poll_cb(uv_poll_t *h, int status, int events);

static size_t
pending_len(const struct tcp_conn *c)
{
	return c->pend ? c->pend->buf.len - c->pend->off : 0;
}

static void
maybe_free(struct tcp_conn *c)
{
	if (!c->handle_closed || (c->timer && !c->timer_closed))
		return;
	struct hf_listener *l = c->l;
	l->n_clients--;
	if (c->base.client)
		hf_client_on_closed(c->base.client);
	if (c->pend) {
		hf_wbuf_free(&c->pend->buf);
		free(c->pend);
	}
	free(c->timer);
	free(c);
}

static void
handle_close_cb(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
	close(c->fd);
	c->fd = -1;
	c->handle_closed = true;
	maybe_free(c);
}

static void
timer_close_cb(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
	c->timer_closed = true;
	maybe_free(c);
}

static void
really_close(struct tcp_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->h))
		uv_close((uv_handle_t *)&c->h, handle_close_cb);
	if (c->timer && !uv_is_closing((uv_handle_t *)c->timer))
		uv_close((uv_handle_t *)c->timer, timer_close_cb);
}

/* The connection is gone (EOF, error): tell the engine once, then close. */
static void
gone(struct tcp_conn *c)
{
	if (!c->closing) {
		c->closing = true;
		hf_client_on_eof(c->base.client);
	}
	really_close(c);
}

/* Poll for what the state needs: input unless paused (always while
 * closing, to see the peer's FIN), output while some is pending. */
static void
update_events(struct tcp_conn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->h))
		return;
	int ev = 0;
	if (!c->paused || c->closing)
		ev |= UV_READABLE;
	if (pending_len(c) || c->failed)
		ev |= UV_WRITABLE;
	if (ev == c->events)
		return;
	c->events = ev;
	if (ev)
		uv_poll_start(&c->h, ev, conn_poll_cb);
	else
		uv_poll_stop(&c->h);
}

static void
start_shutdown(struct tcp_conn *c)
{
	if (c->shut || uv_is_closing((uv_handle_t *)&c->h))
		return;
	c->shut = true;
	if (shutdown(c->fd, SHUT_WR) != 0)
		really_close(c);
	/* else: FIN sent; wait for the peer's EOF or the timer */
}

/* Send as much pending output as the kernel takes. Returns -1 on a broken
 * connection. */
static int
flush_pending(struct tcp_conn *c)
{
	struct pending *pd = c->pend;
	while (pd && pd->off < pd->buf.len) {
		ssize_t n = send(c->fd, pd->buf.p + pd->off,
		                 pd->buf.len - pd->off, MSG_NOSIGNAL);
		if (n > 0) {
			pd->off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	if (pd) {
		pd->buf.len = 0;
		pd->off = 0;
	}
	return 0;
}

static void
read_some(struct tcp_conn *c)
{
	struct hf_broker *b = c->l->b;
	for (int i = 0; i < READS_PER_WAKE; i++) {
		ssize_t n = recv(c->fd, b->readbuf, sizeof(b->readbuf), 0);
		if (n > 0) {
			if (!c->closing) /* else: drained and dropped */
				hf_client_on_data(c->base.client, b->readbuf,
				                  (size_t)n);
			if (uv_is_closing((uv_handle_t *)&c->h))
				return;
			if ((size_t)n < sizeof(b->readbuf))
				return; /* most likely drained */
			if (c->paused && !c->closing)
				return;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		gone(c); /* EOF, or a reset */
		return;
	}
}

static void
conn_poll_cb(uv_poll_t *h, int status, int events)
{
	struct tcp_conn *c = h->data;
	if (status < 0 || c->failed) {
		gone(c);
		return;
	}
	if (events & UV_WRITABLE) {
		if (flush_pending(c) < 0) {
			gone(c);
			return;
		}
		if (c->closing && !pending_len(c))
			start_shutdown(c);
	}
	if (events & (UV_READABLE | UV_DISCONNECT))
		read_some(c);
	update_events(c);
}

static int
conn_write(struct hf_conn *hc, struct hf_wbuf *data)
{
	struct tcp_conn *c = (struct tcp_conn *)hc;
	if (data->len == 0)
		return 0;
	if (c->failed || c->shut || uv_is_closing((uv_handle_t *)&c->h)) {
		data->len = 0;
		return -1;
	}
	if (pending_len(c)) {
		/* Keep the order: behind what is already waiting. */
		int rc = hf_wbuf_put(&c->pend->buf, data->p, data->len);
		data->len = 0;
		if (rc != HF_OK) {
			c->failed = true;
			update_events(c);
			return -1;
		}
		return 0;
	}
	size_t off = 0;
	while (off < data->len) {
		ssize_t n =
		    send(c->fd, data->p + off, data->len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		/* Broken: let the poll callback report it, outside the
		 * engine's call. */
		data->len = 0;
		c->failed = true;
		update_events(c);
		return -1;
	}
	if (off == data->len) {
		data->len = 0;
		return 0;
	}
	/* Keep the rest: take the caller's buffer, give it the old one. */
	if (!c->pend && !(c->pend = calloc(1, sizeof(*c->pend)))) {
		data->len = 0;
		c->failed = true;
		update_events(c);
		return -1;
	}
	struct hf_wbuf t = c->pend->buf;
	c->pend->buf = *data;
	c->pend->off = off;
	*data = t;
	data->len = 0;
	update_events(c);
	return 0;
}

static size_t
conn_pending(struct hf_conn *hc)
{
	return pending_len((struct tcp_conn *)hc);
}

static void
close_timeout_cb(uv_timer_t *t)
{
	/* The peer took too long to read our last bytes or to close. */
	really_close(t->data);
}

static void
conn_close(struct hf_conn *hc)
{
	struct tcp_conn *c = (struct tcp_conn *)hc;
	if (c->closing)
		return;
	c->closing = true;
	if (uv_is_closing((uv_handle_t *)&c->h))
		return;
	c->timer = malloc(sizeof(*c->timer));
	if (!c->timer) {
		really_close(c); /* no memory to linger: close outright */
		return;
	}
	uv_timer_init(c->l->b->loop, c->timer);
	c->timer->data = c;
	uv_timer_start(c->timer, close_timeout_cb,
	               pending_len(c) ? CLOSE_WRITE_MS : CLOSE_LINGER_MS, 0);
	/* Keep reading (and dropping) so the peer's FIN is seen. */
	if (!pending_len(c))
		start_shutdown(c);
	update_events(c);
}

static void
conn_pause(struct hf_conn *hc, int paused)
{
	struct tcp_conn *c = (struct tcp_conn *)hc;
	c->paused = paused != 0;
	update_events(c);
}

static void format_peer(const struct sockaddr_storage *ss, char *out,
                        size_t outlen);

static void
conn_peer(struct hf_conn *hc, char *out, size_t outlen)
{
	struct tcp_conn *c = (struct tcp_conn *)hc;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (c->fd < 0 || getpeername(c->fd, (struct sockaddr *)&ss, &len) != 0)
		ss.ss_family = AF_UNSPEC;
	format_peer(&ss, out, outlen);
}

static const struct hf_conn_ops tcp_ops = {
    .write = conn_write,
    .pending = conn_pending,
    .close = conn_close,
    .pause = conn_pause,
    .peer = conn_peer,
};

static void
format_peer(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, ip, sizeof(ip));
		port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
	}
	snprintf(out, outlen, "%s:%d", ip, port);
}

static void
new_conn(struct hf_listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct hf_broker *b = l->b;
	struct tcp_conn *c = calloc(1, sizeof(*c));
	if (!c || uv_poll_init(b->loop, &c->h, fd) != 0) {
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->l = l;
	c->base.ops = &tcp_ops;
	c->h.data = c;
	l->n_clients++;
	struct hf_client *cl = hf_client_new(b, l);
	if (!cl) {
		/* The handle closes on a later turn; maybe_free() then. */
		c->closing = true;
		really_close(c);
		return;
	}
	cl->conn = &c->base;
	c->base.client = cl;
	if (b->conf->set_tcp_nodelay) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	int maxc = l->conf->max_connections;
	if (b->shutting_down || (maxc >= 0 && l->n_clients > maxc)) {
		char peer[HF_PEER_LEN];
		format_peer(ss, peer, sizeof(peer));
		hf_log(&b->log, HF_LOG_NOTICE,
		       "Client connection from %s denied: max_connections "
		       "reached.",
		       peer);
		hf_client_set_state(cl, HF_C_CLOSING);
		conn_close(&c->base);
		return;
	}
	update_events(c);
}

static void accept_cb(uv_poll_t *h, int status, int events);

static void
backoff_cb(uv_timer_t *t)
{
	struct hf_listener *l = t->data;
	if (!uv_is_closing((uv_handle_t *)&l->poll))
		uv_poll_start(&l->poll, UV_READABLE, accept_cb);
}

static void
accept_cb(uv_poll_t *h, int status, int events)
{
	struct hf_listener *l = h->data;
	struct hf_broker *b = l->b;
	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			new_conn(l, fd, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Level-triggered: accepting again at once would spin
			 * while the limit lasts. */
			hf_log(&b->log, HF_LOG_WARNING,
			       "Warning: cannot accept connections on port "
			       "%u: %s; pausing %d ms.",
			       l->port, strerror(errno), ACCEPT_BACKOFF_MS);
			uv_poll_stop(&l->poll);
			uv_timer_start(&l->backoff, backoff_cb,
			               ACCEPT_BACKOFF_MS, 0);
		}
		return; /* EAGAIN: drained */
	}
}

static void
listener_closed(uv_handle_t *h)
{
	(void)h;
}

static int
open_one(struct hf_broker *b, const struct hf_listener_conf *lc,
         const struct sockaddr *sa, socklen_t salen, struct hf_listener *l)
{
	memset(l, 0, sizeof(*l));
	l->b = b;
	l->conf = lc;
	l->fd = -1;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
	else
		uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
	int one = 1;
	int fd = socket(sa->sa_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = fd < 0 ? -1 : 0;
	if (rc == 0)
		rc =
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rc == 0 && sa->sa_family == AF_INET6)
		rc = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		                sizeof(one));
	if (rc == 0)
		rc = bind(fd, sa, salen);
	if (rc == 0)
		rc = listen(fd, SOMAXCONN);
	if (rc != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		if (lc->local_only && sa->sa_family == AF_INET6) {
			/* The embedded default on a host without IPv6. */
			hf_log(&b->log, HF_LOG_WARNING,
			       "Warning: unable to listen on %s port %u: %s.",
			       ip, lc->port, strerror(err));
			return 1;
		}
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: unable to listen on %s port %u: %s.", ip,
		       lc->port, strerror(err));
		return -1;
	}
	if (uv_poll_init(b->loop, &l->poll, fd) != 0) {
		close(fd);
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: unable to watch the listener on %s port %u.", ip,
		       lc->port);
		return -1;
	}
	l->fd = fd;
	l->poll.data = l;
	uv_timer_init(b->loop, &l->backoff);
	l->backoff.data = l;
	uv_poll_start(&l->poll, UV_READABLE, accept_cb);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	getsockname(fd, (struct sockaddr *)&ss, &len);
	l->port = ntohs(ss.ss_family == AF_INET
	                    ? ((struct sockaddr_in *)&ss)->sin_port
	                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	hf_log(&b->log, HF_LOG_NOTICE,
	       "Opened ipv%c listen socket on port %u (%s).",
	       sa->sa_family == AF_INET ? '4' : '6', l->port, ip);
	return 0;
}

int
hf_listeners_open(struct hf_broker *b)
{
	const struct hf_config *conf = b->conf;
	size_t cap = 0;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct hf_listener_conf *lc = &conf->listeners[i];
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family =
		    lc->socket_domain ? lc->socket_domain : AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE;
		char port[8];
		snprintf(port, sizeof(port), "%u", lc->port);
		int rc = getaddrinfo(lc->bind_address, port, &hints, &res);
		if (rc != 0) {
			hf_log(&b->log, HF_LOG_ERR,
			       "Error: cannot resolve listener address %s: %s.",
			       lc->bind_address ? lc->bind_address : "*",
			       gai_strerror(rc));
			return -1;
		}
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			if (ai->ai_family != AF_INET &&
			    ai->ai_family != AF_INET6)
				continue;
			if (b->n_listeners == cap) {
				/* Listener structs are referenced by libuv
				 * handles: allocate each separately. */
				cap = cap ? cap * 2 : 4;
				void *n =
				    realloc(b->listeners,
				            cap * sizeof(struct hf_listener *));
				if (!n) {
					freeaddrinfo(res);
					return -1;
				}
				b->listeners = n;
			}
			struct hf_listener *l = calloc(1, sizeof(*l));
			if (!l) {
				freeaddrinfo(res);
				return -1;
			}
			int orc = open_one(b, lc, ai->ai_addr,
			                   (socklen_t)ai->ai_addrlen, l);
			if (orc != 0) {
				/* not listening: no handle was made */
				free(l);
				if (orc < 0) {
					freeaddrinfo(res);
					return -1;
				}
				continue;
			}
			b->listeners[b->n_listeners++] = l;
			l->allow_anonymous = lc->allow_anonymous > 0;
		}
		freeaddrinfo(res);
	}
	return 0;
}

/* Stop listening. The structs stay until hf_listeners_free(): connections
 * still closing point at their listener. */
void
hf_listeners_close(struct hf_broker *b)
{
	for (size_t i = 0; i < b->n_listeners; i++) {
		struct hf_listener *l = b->listeners[i];
		if (!uv_is_closing((uv_handle_t *)&l->poll)) {
			uv_close((uv_handle_t *)&l->poll, listener_closed);
			uv_close((uv_handle_t *)&l->backoff, listener_closed);
		}
	}
}

void
hf_listeners_free(struct hf_broker *b)
{
	for (size_t i = 0; i < b->n_listeners; i++) {
		if (b->listeners[i]->fd >= 0)
			close(b->listeners[i]->fd);
		free(b->listeners[i]);
	}
	free(b->listeners);
	b->listeners = NULL;
	b->n_listeners = 0;
}
