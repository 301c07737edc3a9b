/* broker/net/tcp.c - plain TCP listeners and connections on libuv.
 *
 * A listener binds each address getaddrinfo() gives for its bind address
 * (or the wildcard addresses), IPv6 sockets with IPV6_V6ONLY so v4 and v6
 * can share a port. Accepted sockets become struct tcp_conn, which
 * implements struct hf_conn_ops: reads go straight from the broker's shared
 * read buffer into hf_client_on_data(); writes try uv_try_write() first and
 * hand the rest to one uv_write() at a time, double-buffered so the engine
 * never waits. Closing is a half-close: queued writes (a DISCONNECT among
 * them) go out, then FIN, while input is read and thrown away until the peer
 * closes too or a timer runs out; only then uv_close() and
 * hf_client_on_closed(). Closing outright with unread input would make the
 * kernel send RST, and a peer may then lose our last packet before reading
 * it.
 *
 * Loop thread only. */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

struct tcp_conn {
	struct hf_conn base;
	uv_tcp_t h;
	struct write_state
	    *ws; /* allocated on the first write that must wait */
	struct close_state *cs; /* only while closing */
	bool writing;
	bool closing;
	bool handle_closed;
	bool timer_closed;
	struct hf_listener *l;
};

/* What a connection needs only once the kernel has not taken all its output
 * at once: idle connections never allocate it. */
struct write_state {
	uv_write_t req;
	struct hf_wbuf sending; /* owned by the in-flight uv_write */
	struct hf_wbuf queued;  /* waiting for that write to finish */
};

struct close_state {
	uv_timer_t timer; /* bounds the whole close */
	uv_shutdown_t sreq;
};

#define CLOSE_LINGER_MS 2000 /* waiting for the peer's FIN */
#define CLOSE_WRITE_MS  5000 /* when our last bytes are still queued */

static void conn_close(struct hf_conn *hc);
static void really_close(struct tcp_conn *c);

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *c = h->data;
	struct hf_broker *b = c->l->b;
	buf->base = (char *)b->readbuf;
	buf->len = sizeof(b->readbuf);
}

static void
read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_conn *c = s->data;
	if (nread > 0) {
		if (!c->closing) /* else: drained and dropped while closing */
			hf_client_on_data(c->base.client,
			                  (const uint8_t *)buf->base,
			                  (size_t)nread);
	} else if (nread < 0) {
		uv_read_stop(s);
		if (!c->closing) {
			c->closing = true;
			hf_client_on_eof(c->base.client);
		}
		really_close(c); /* the peer is gone or done */
	}
}

static void
maybe_free(struct tcp_conn *c)
{
	if (!c->handle_closed || (c->cs && !c->timer_closed) || c->writing)
		return;
	struct hf_listener *l = c->l;
	l->n_clients--;
	if (c->base.client)
		hf_client_on_closed(c->base.client);
	if (c->ws) {
		hf_wbuf_free(&c->ws->sending);
		hf_wbuf_free(&c->ws->queued);
		free(c->ws);
	}
	free(c->cs);
	free(c);
}

static void
handle_close_cb(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
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
	if (c->cs && !uv_is_closing((uv_handle_t *)&c->cs->timer))
		uv_close((uv_handle_t *)&c->cs->timer, timer_close_cb);
}

static int start_write(struct tcp_conn *c);
static void start_shutdown(struct tcp_conn *c);

static void
write_cb(uv_write_t *req, int status)
{
	struct tcp_conn *c = req->data;
	c->writing = false;
	c->ws->sending.len = 0;
	if (status < 0) {
		/* broken connection, or cancelled by uv_close() */
		c->ws->queued.len = 0;
		if (!c->closing) {
			c->closing = true;
			hf_client_on_eof(c->base.client);
		}
		really_close(c);
		maybe_free(c);
		return;
	}
	if (c->ws->queued.len) {
		struct hf_wbuf t = c->ws->sending;
		c->ws->sending = c->ws->queued;
		c->ws->queued = t;
		if (start_write(c) == 0)
			return;
	}
	if (c->closing)
		start_shutdown(c);
	maybe_free(c);
}

static int
start_write(struct tcp_conn *c)
{
	uv_buf_t buf =
	    uv_buf_init((char *)c->ws->sending.p, (unsigned)c->ws->sending.len);
	c->ws->req.data = c;
	int rc = uv_write(&c->ws->req, (uv_stream_t *)&c->h, &buf, 1, write_cb);
	if (rc < 0) {
		c->ws->sending.len = 0;
		return -1;
	}
	c->writing = true;
	return 0;
}

static int
conn_write(struct hf_conn *hc, struct hf_wbuf *data)
{
	struct tcp_conn *c = (struct tcp_conn *)hc;
	if (data->len == 0)
		return 0;
	if (c->handle_closed || uv_is_closing((uv_handle_t *)&c->h)) {
		data->len = 0;
		return -1;
	}
	if (c->writing) {
		int rc = hf_wbuf_put(&c->ws->queued, data->p, data->len);
		data->len = 0;
		return rc == HF_OK ? 0 : -1;
	}
	uv_buf_t buf = uv_buf_init((char *)data->p, (unsigned)data->len);
	int n = uv_try_write((uv_stream_t *)&c->h, &buf, 1);
	if (n == (int)data->len) {
		data->len = 0;
		return 0;
	}
	if (n < 0 && n != UV_EAGAIN) {
		data->len = 0;
		return -1;
	}
	if (n < 0)
		n = 0;
	/* Keep the rest: take the caller's buffer, give it ours. */
	if (!c->ws && !(c->ws = calloc(1, sizeof(*c->ws)))) {
		data->len = 0;
		return -1;
	}
	memmove(data->p, data->p + n, data->len - (size_t)n);
	data->len -= (size_t)n;
	struct hf_wbuf t = c->ws->sending;
	c->ws->sending = *data;
	*data = t;
	data->len = 0;
	return start_write(c);
}

static size_t
conn_pending(struct hf_conn *hc)
{
	struct tcp_conn *c = (struct tcp_conn *)hc;
	return c->ws ? c->ws->sending.len + c->ws->queued.len : 0;
}

static void
close_timeout_cb(uv_timer_t *t)
{
	struct tcp_conn *c = t->data;
	/* The peer took too long to read our last bytes or to close. */
	really_close(c);
}

static void
shutdown_cb(uv_shutdown_t *req, int status)
{
	struct tcp_conn *c = req->data;
	if (status < 0 && status != UV_ECANCELED)
		really_close(c);
	/* else: FIN sent; wait for the peer's EOF (read_cb) or the timer */
}

static void
start_shutdown(struct tcp_conn *c)
{
	if (!c->cs || uv_is_closing((uv_handle_t *)&c->h))
		return;
	c->cs->sreq.data = c;
	if (uv_shutdown(&c->cs->sreq, (uv_stream_t *)&c->h, shutdown_cb) != 0)
		really_close(c);
}

static void
conn_close(struct hf_conn *hc)
{
	struct tcp_conn *c = (struct tcp_conn *)hc;
	if (c->closing)
		return;
	c->closing = true;
	if (c->handle_closed || uv_is_closing((uv_handle_t *)&c->h))
		return;
	c->cs = malloc(sizeof(*c->cs));
	if (!c->cs) {
		really_close(c); /* no memory to linger: close outright */
		return;
	}
	uv_timer_init(c->l->b->loop, &c->cs->timer);
	c->cs->timer.data = c;
	uv_timer_start(&c->cs->timer, close_timeout_cb,
	               c->writing ? CLOSE_WRITE_MS : CLOSE_LINGER_MS, 0);
	/* Keep reading (and dropping) so the peer's FIN is seen. */
	uv_read_start((uv_stream_t *)&c->h, alloc_cb, read_cb);
	if (!c->writing)
		start_shutdown(c);
}

static void
conn_pause(struct hf_conn *hc, int paused)
{
	struct tcp_conn *c = (struct tcp_conn *)hc;
	if (c->closing)
		return;
	if (paused)
		uv_read_stop((uv_stream_t *)&c->h);
	else
		uv_read_start((uv_stream_t *)&c->h, alloc_cb, read_cb);
}

static const struct hf_conn_ops tcp_ops = {
    .write = conn_write,
    .pending = conn_pending,
    .close = conn_close,
    .pause = conn_pause,
};

static void
accept_cb(uv_stream_t *server, int status)
{
	struct hf_listener *l = server->data;
	struct hf_broker *b = l->b;
	if (status < 0)
		return;
	struct tcp_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->l = l;
	c->base.ops = &tcp_ops;
	uv_tcp_init(b->loop, &c->h);
	c->h.data = c;
	l->n_clients++;
	struct hf_client *cl = NULL;
	if (uv_accept(server, (uv_stream_t *)&c->h) != 0 ||
	    !(cl = hf_client_new(b, l))) {
		/* Both handles close on a later turn; maybe_free() then. */
		c->closing = true;
		really_close(c);
		return;
	}
	cl->conn = &c->base;
	c->base.client = cl;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&ss, &len) == 0) {
		char ip[INET6_ADDRSTRLEN] = "?";
		int port = 0;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			uv_ip4_name(a, ip, sizeof(ip));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(a, ip, sizeof(ip));
			port = ntohs(a->sin6_port);
		}
		snprintf(cl->addr, sizeof(cl->addr), "%s:%d", ip, port);
	}
	if (b->conf->set_tcp_nodelay)
		uv_tcp_nodelay(&c->h, 1);
	int maxc = l->conf->max_connections;
	if (b->shutting_down || (maxc >= 0 && l->n_clients > maxc)) {
		hf_log(&b->log, HF_LOG_NOTICE,
		       "Client connection from %s denied: max_connections "
		       "reached.",
		       cl->addr);
		cl->state = HF_C_CLOSING;
		conn_close(&c->base);
		return;
	}
	uv_read_start((uv_stream_t *)&c->h, alloc_cb, read_cb);
}

static void listener_closed(uv_handle_t *h);

static int
open_one(struct hf_broker *b, const struct hf_listener_conf *lc,
         const struct sockaddr *sa, struct hf_listener *l)
{
	memset(l, 0, sizeof(*l));
	l->b = b;
	l->conf = lc;
	uv_tcp_init(b->loop, &l->tcp);
	l->tcp.data = l;
	unsigned flags = sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
	else
		uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
	int rc = uv_tcp_bind(&l->tcp, sa, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 1024, accept_cb);
	if (rc != 0) {
		if (lc->local_only && sa->sa_family == AF_INET6) {
			/* The embedded default on a host without IPv6. */
			hf_log(&b->log, HF_LOG_WARNING,
			       "Warning: unable to listen on %s port %u: %s.",
			       ip, lc->port, uv_strerror(rc));
			return 1;
		}
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: unable to listen on %s port %u: %s.", ip,
		       lc->port, uv_strerror(rc));
		return -1; /* the caller closes l->tcp */
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
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
			int orc = open_one(b, lc, ai->ai_addr, l);
			b->listeners[b->n_listeners++] = l;
			if (orc < 0) {
				freeaddrinfo(res);
				return -1;
			}
			if (orc > 0) {
				/* not listening: close and forget it */
				uv_close((uv_handle_t *)&l->tcp,
				         listener_closed);
				b->n_listeners--;
				continue;
			}
			l->allow_anonymous = lc->allow_anonymous > 0;
		}
		freeaddrinfo(res);
	}
	return 0;
}

static void
listener_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Stop listening. The structs stay until hf_listeners_free(): connections
 * still closing point at their listener. */
void
hf_listeners_close(struct hf_broker *b)
{
	for (size_t i = 0; i < b->n_listeners; i++) {
		uv_handle_t *h = (uv_handle_t *)&b->listeners[i]->tcp;
		if (!uv_is_closing(h))
			uv_close(h, NULL);
	}
}

void
hf_listeners_free(struct hf_broker *b)
{
	for (size_t i = 0; i < b->n_listeners; i++)
		free(b->listeners[i]);
	free(b->listeners);
	b->listeners = NULL;
	b->n_listeners = 0;
}
