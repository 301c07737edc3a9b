/* broker/net/listener.c - the listener layer (net.h): bind, accept,
 * admission, dialling out, and what the transports share.
 *
 * A listener binds each address getaddrinfo() gives for its bind address
 * (or the wildcard addresses), IPv6 sockets with IPV6_V6ONLY so v4 and v6
 * can share a port, and accepts up to ACCEPTS_PER_WAKE connections per
 * wake-up. When the process is out of descriptors (EMFILE and kin) it stops
 * accepting for ACCEPT_BACKOFF_MS instead of spinning on a socket that
 * stays readable (level-triggered). Admission happens here, before the
 * engine hears of a connection: past the listener's max_connections a new
 * connection is closed at once (and logged), and once stopped nothing is
 * accepted. An admitted socket becomes a stream (stream.c) over the plain
 * TCP transport (tcp.c), or over TLS (tls.c) on a listener with certfile,
 * and goes to the acceptor. A TLS listener's context (struct hf_tls, one
 * per configured listener, shared by the sockets it binds) is built
 * before anything is bound, so a certificate that does not load stops
 * start-up; hf_net_reload_tls() swaps new ones in for new connections.
 *
 * Each listener carries the policy the engine serves its connections with
 * (struct hf_policy: its configuration and its authentication context,
 * which net passes on without looking into it). The read buffer all streams
 * share lives here, and so does the list of streams whose transport holds input
 * the poll cannot see, read again by an idle handle before the loop sleeps.
 *
 * Ownership: struct hf_net owns its listeners (each allocated on its own:
 * libuv handles point into them) and their sockets; listeners outlive
 * their connections (a stream tells its listener when it is gone).
 * Loop thread only. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "net.h"
#include "ws.h"

#define ACCEPTS_PER_WAKE  128
#define ACCEPT_BACKOFF_MS 200 /* out of descriptors: pause accepting */
#define READ_BUF_SIZE     65536

struct hf_listener {
	struct hf_net *net;
	struct hf_endpoint ep; /* ep.policy: what its connections carry */
	struct hf_tls *tls;    /* NULL: plain TCP; owned by the net */
	struct hf_ws *ws;      /* protocol websockets: its lws context */
	struct hf_httpd *http; /* protocol http_api: its lws context */
	uv_poll_t poll;        /* the listening socket */
	uv_timer_t backoff;    /* resumes accepting after EMFILE */
	int fd;
	int n_conns; /* open connections, closing ones included */
};

struct hf_net {
	uv_loop_t *loop;
	const struct hf_config *conf;
	struct hf_logger *log;
	struct hf_acceptor acc;
	struct hf_listener **listeners;
	size_t n_listeners;
	struct hf_tls **tls; /* per configured listener; NULL: plain */
	size_t n_tls;
	bool stopped;
	struct hf_status_source status; /* for the HTTP API (main.c) */
	uv_idle_t idle;                 /* reads the streams on `again` */
	struct hf_stream **again;
	size_t n_again, cap_again;
	struct hf_stream **walking; /* the list idle_cb is reading */
	size_t n_walking;
	struct dialing *dials; /* dials in progress (hf_net_dial) */
	uint8_t readbuf[READ_BUF_SIZE];
};

/* ---- what the streams share ----------------------------------------- */

uv_loop_t *
hf_net_loop(struct hf_net *net)
{
	return net->loop;
}

uint8_t *
hf_net_readbuf(struct hf_net *net, size_t *len)
{
	*len = sizeof(net->readbuf);
	return net->readbuf;
}

/* The read-again list is a small array scanned linearly: it only holds
 * streams whose transport buffered input past the fairness limit. */
static void
idle_cb(uv_idle_t *h)
{
	struct hf_net *net = h->data;
	/* Walk a list of its own: a stream read now may ask again (a fresh
	 * list) or close another (cancelled in both). */
	net->walking = net->again;
	net->n_walking = net->n_again;
	net->again = NULL;
	net->n_again = net->cap_again = 0;
	uv_idle_stop(&net->idle);
	for (size_t i = 0; i < net->n_walking; i++)
		if (net->walking[i])
			hf_stream_read_more(net->walking[i]);
	free(net->walking);
	net->walking = NULL;
	net->n_walking = 0;
}

void
hf_net_want_read(struct hf_net *net, struct hf_stream *s)
{
	for (size_t i = 0; i < net->n_again; i++)
		if (net->again[i] == s)
			return;
	if (net->n_again == net->cap_again) {
		size_t cap = net->cap_again ? net->cap_again * 2 : 16;
		void *n = realloc(net->again, cap * sizeof(*net->again));
		if (!n)
			return; /* its next poll wake-up reads it */
		net->again = n;
		net->cap_again = cap;
	}
	net->again[net->n_again++] = s;
	uv_idle_start(&net->idle, idle_cb);
}

void
hf_net_cancel_read(struct hf_net *net, struct hf_stream *s)
{
	for (size_t i = 0; i < net->n_again; i++)
		if (net->again[i] == s)
			net->again[i] = NULL;
	for (size_t i = 0; i < net->n_walking; i++)
		if (net->walking[i] == s)
			net->walking[i] = NULL;
}

/* ---- accepting ------------------------------------------------------- */

static void
format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen)
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

void
hf_net_fd_peer(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		ss.ss_family = AF_UNSPEC;
	format_addr(&ss, out, outlen);
}

void
hf_net_stream_gone(struct hf_endpoint *e)
{
	if (e->listener)
		e->listener->n_conns--;
	else
		free(e); /* a dialled connection's own */
}

static void
set_nodelay(const struct hf_net *net, int fd)
{
	if (net->conf->set_tcp_nodelay) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
}

/* Admission, then a stream for the engine. */
static void
admit(struct hf_listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct hf_net *net = l->net;
	int maxc = l->ep.policy.conf->max_connections;
	if (net->stopped || (maxc >= 0 && l->n_conns >= maxc)) {
		char peer[64];
		format_addr(ss, peer, sizeof(peer));
		hf_log(net->log, HF_LOG_NOTICE,
		       "Client connection from %s denied: %s.", peer,
		       net->stopped ? "shutting down"
		                    : "max_connections reached");
		close(fd);
		return;
	}
	set_nodelay(net, fd);
	if (l->ws) {
		l->n_conns++;
		hf_ws_adopt(l->ws, fd);
		return;
	}
	if (l->http) {
		l->n_conns++;
		hf_httpd_adopt(l->http, fd);
		return;
	}
	void *io = l->tls ? hf_tls_io_new(l->tls, fd) : hf_tcp_io_new(fd);
	if (!io) {
		char peer[64];
		format_addr(ss, peer, sizeof(peer));
		hf_log(net->log, HF_LOG_ERR,
		       "Client connection from %s denied: out of memory.",
		       peer);
		close(fd);
		return;
	}
	l->n_conns++;
	hf_stream_new(&l->ep, fd, io, &net->acc);
}

static void accept_cb(uv_poll_t *h, int status, int events);
struct dialing;
static void finish(struct dialing *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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
	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			admit(l, fd, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Level-triggered: accepting again at once would spin
			 * while the limit lasts. */
			hf_log(l->net->log, HF_LOG_WARNING,
			       "Warning: cannot accept connections on port "
			       "%u: %s; pausing %d ms.",
			       l->ep.policy.port, strerror(errno),
			       ACCEPT_BACKOFF_MS);
			uv_poll_stop(&l->poll);
			uv_timer_start(&l->backoff, backoff_cb,
			               ACCEPT_BACKOFF_MS, 0);
		}
		return; /* EAGAIN: drained */
	}
}

/* ---- binding ----------------------------------------------------------- */

static void
handle_closed(uv_handle_t *h)
{
	(void)h;
}

/* Bind one address. Returns 0, 1 (skipped: no IPv6 for the embedded
 * default), or -1 (logged). */
static int
open_one(struct hf_net *net, const struct hf_listener_conf *lc,
         struct hf_auth *auth, struct hf_tls *tls, const struct sockaddr *sa,
         socklen_t salen, struct hf_listener *l)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int one = 1;
	memset(l, 0, sizeof(*l));
	l->net = net;
	l->fd = -1;
	l->ep.policy.conf = lc;
	l->ep.policy.auth = auth;
	l->ep.net = net;
	l->ep.io = tls ? &hf_tls_io : &hf_tcp_io;
	l->ep.listener = l;
	l->tls = tls;
	if (sa->sa_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
	else
		uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
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
	if (rc == 0 && lc->protocol == HF_LISTENER_WEBSOCKETS) {
		l->ws = hf_ws_new(net->loop, net->conf, &l->ep, &net->acc,
		                  net->log);
		if (!l->ws) {
			rc = -1;
			errno = ENOMEM;
		}
	}
	if (rc == 0 && lc->protocol == HF_LISTENER_HTTP_API) {
		l->http = hf_httpd_new(net->loop, net->conf, &l->ep, net->log);
		if (!l->http) {
			rc = -1;
			errno = ENOMEM;
		}
	}
	if (rc != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		if (lc->local_only && sa->sa_family == AF_INET6) {
			/* The embedded default on a host without IPv6. */
			hf_log(net->log, HF_LOG_WARNING,
			       "Warning: unable to listen on %s port %u: %s.",
			       ip, lc->port, strerror(err));
			return 1;
		}
		hf_log(net->log, HF_LOG_ERR,
		       "Error: unable to listen on %s port %u: %s.", ip,
		       lc->port, strerror(err));
		return -1;
	}
	if (uv_poll_init(net->loop, &l->poll, fd) != 0) {
		close(fd);
		hf_log(net->log, HF_LOG_ERR,
		       "Error: unable to watch the listener on %s port %u.", ip,
		       lc->port);
		return -1;
	}
	l->fd = fd;
	l->poll.data = l;
	uv_timer_init(net->loop, &l->backoff);
	l->backoff.data = l;
	uv_poll_start(&l->poll, UV_READABLE, accept_cb);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	getsockname(fd, (struct sockaddr *)&ss, &len);
	l->ep.policy.port = ntohs(
	    ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
	hf_log(net->log, HF_LOG_NOTICE,
	       "Opened ipv%c listen socket on port %u (%s%s%s).",
	       sa->sa_family == AF_INET ? '4' : '6', l->ep.policy.port, ip,
	       l->ws     ? ", websockets"
	       : l->http ? ", http_api"
	                 : "",
	       tls ? ", TLS" : "");
	return 0;
}

static int
add_listener(struct hf_net *net, struct hf_listener *l, size_t *cap)
{
	if (net->n_listeners == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		void *n =
		    realloc(net->listeners, ncap * sizeof(*net->listeners));
		if (!n)
			return -1;
		net->listeners = n;
		*cap = ncap;
	}
	net->listeners[net->n_listeners++] = l;
	return 0;
}

static int
open_listener(struct hf_net *net, const struct hf_listener_conf *lc,
              struct hf_auth *auth, struct hf_tls *tls, size_t *cap)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = lc->socket_domain ? lc->socket_domain : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", lc->port);
	int rc = getaddrinfo(lc->bind_address, port, &hints, &res);
	if (rc != 0) {
		hf_log(net->log, HF_LOG_ERR,
		       "Error: cannot resolve listener address %s: %s.",
		       lc->bind_address ? lc->bind_address : "*",
		       gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		struct hf_listener *l = calloc(1, sizeof(*l));
		if (!l) {
			freeaddrinfo(res);
			return -1;
		}
		int orc = open_one(net, lc, auth, tls, ai->ai_addr,
		                   (socklen_t)ai->ai_addrlen, l);
		if (orc != 0) {
			free(l); /* not listening: no handle was made */
			if (orc < 0) {
				freeaddrinfo(res);
				return -1;
			}
			continue;
		}
		if (add_listener(net, l, cap) != 0) {
			uv_close((uv_handle_t *)&l->poll, NULL);
			freeaddrinfo(res);
			return -1; /* closed with the loop; leaked fd closed */
		}
	}
	freeaddrinfo(res);
	return 0;
}

/* Every TLS listener's context, before anything is bound. */
static const char *
at_of(const struct hf_listener_conf *lc)
{
	return lc->tls_at[HF_TLSK_HTTP_DIR] ? lc->tls_at[HF_TLSK_HTTP_DIR]
	                                    : "?";
}

/* http_dir: a readable folder, on a WebSocket listener. */
static int
check_http_dir(const struct hf_listener_conf *lc, char *err, size_t errlen)
{
	struct stat st;
	if (!lc->http_dir)
		return 0;
	if (lc->protocol != HF_LISTENER_WEBSOCKETS) {
		snprintf(err, errlen,
		         "%s: http_dir: %s: the listener on port %u is not a "
		         "WebSocket listener (protocol websockets)",
		         at_of(lc), lc->http_dir, lc->port);
		return -1;
	}
	const char *why = NULL;
	if (stat(lc->http_dir, &st) != 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a folder";
	else if (access(lc->http_dir, R_OK | X_OK) != 0)
		why = strerror(errno);
	if (why) {
		snprintf(err, errlen, "%s: http_dir: %s: %s", at_of(lc),
		         lc->http_dir, why);
		return -1;
	}
	return 0;
}

static int
open_tls(struct hf_net *net)
{
	const struct hf_config *conf = net->conf;
	char err[1024];
	net->tls = calloc(conf->n_listeners ? conf->n_listeners : 1,
	                  sizeof(*net->tls));
	if (!net->tls)
		return -1;
	net->n_tls = conf->n_listeners;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct hf_listener_conf *lc = &conf->listeners[i];
		const char *stray = hf_tls_stray_key(lc);
		if (stray)
			hf_log(net->log, HF_LOG_WARNING,
			       "Warning: listener on port %u has %s but no "
			       "certfile/keyfile: it is not a TLS listener, "
			       "and %s does nothing there.",
			       lc->port, stray, stray);
		if (check_http_dir(lc, err, sizeof(err))) {
			hf_log(net->log, HF_LOG_ERR, "Error: %s.", err);
			return -1;
		}
		if (!hf_listener_is_tls(lc))
			continue;
		net->tls[i] = hf_tls_new(
		    lc, net->log, conf->connection_messages, err, sizeof(err));
		if (!net->tls[i]) {
			hf_log(net->log, HF_LOG_ERR, "Error: %s.", err);
			return -1;
		}
	}
	return 0;
}

int
hf_net_check(const struct hf_config *conf,
             void (*report)(void *ctx, const char *err), void *ctx)
{
	char err[1024];
	int n = 0;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct hf_listener_conf *lc = &conf->listeners[i];
		if (hf_listener_is_tls(lc) &&
		    hf_tls_check(lc, err, sizeof(err))) {
			report(ctx, err);
			n++;
		}
		if (check_http_dir(lc, err, sizeof(err))) {
			report(ctx, err);
			n++;
		}
	}
	return n;
}

int
hf_net_reload_tls(struct hf_net *net, char *err, size_t errlen)
{
	if (hf_tls_reload(net->tls, net->n_tls, err, errlen) != 0)
		return -1;
	/* wss listeners: lws's contexts, set up from the files just
	 * checked. */
	for (size_t i = 0; i < net->n_listeners; i++)
		if (hf_ws_reload_tls(net->listeners[i]->ws, err, errlen) != 0)
			return -1;
	return 0;
}

int
hf_net_open(struct hf_net **out, uv_loop_t *loop, const struct hf_config *conf,
            struct hf_logger *log, const struct hf_acceptor *acc,
            struct hf_auth *const *auth)
{
	struct hf_net *net = calloc(1, sizeof(*net));
	size_t cap = 0;
	*out = net;
	if (!net)
		return -1;
	net->loop = loop;
	net->conf = conf;
	net->log = log;
	net->acc = *acc;
	uv_idle_init(loop, &net->idle);
	net->idle.data = net;
	if (open_tls(net) != 0)
		return -1;
	for (size_t i = 0; i < conf->n_listeners; i++)
		if (open_listener(net, &conf->listeners[i], auth[i],
		                  net->tls[i], &cap) != 0)
			return -1;
	return 0;
}

void
hf_net_stop(struct hf_net *net)
{
	if (!net || net->stopped)
		return;
	net->stopped = true;
	for (size_t i = 0; i < net->n_listeners; i++) {
		struct hf_listener *l = net->listeners[i];
		if (!uv_is_closing((uv_handle_t *)&l->poll)) {
			uv_close((uv_handle_t *)&l->poll, handle_closed);
			uv_close((uv_handle_t *)&l->backoff, handle_closed);
		}
		hf_ws_stop(l->ws);
		hf_httpd_stop(l->http);
	}
	if (!uv_is_closing((uv_handle_t *)&net->idle))
		uv_close((uv_handle_t *)&net->idle, handle_closed);
	/* Dials in progress end with failed(), from their close callback. */
	while (net->dials)
		finish(net->dials, "cancelled: shutting down");
}

void
hf_net_free(struct hf_net *net)
{
	if (!net)
		return;
	for (size_t i = 0; i < net->n_listeners; i++) {
		if (net->listeners[i]->fd >= 0)
			close(net->listeners[i]->fd);
		hf_ws_free(net->listeners[i]->ws);
		hf_httpd_free(net->listeners[i]->http);
		free(net->listeners[i]);
	}
	free(net->listeners);
	for (size_t i = 0; i < net->n_tls; i++)
		hf_tls_free(net->tls[i]);
	free(net->tls);
	free(net->again);
	free(net);
}

/* ---- what the HTTP API asks of net (http.c) ------------------------- */

void
hf_net_set_status(struct hf_net *net, const struct hf_status_source *src)
{
	if (net)
		net->status = *src;
}

const struct hf_status_source *
hf_net_status(struct hf_net *net)
{
	return &net->status;
}

static const char *
protocol_name(const struct hf_listener *l)
{
	switch (l->ep.policy.conf->protocol) {
	case HF_LISTENER_WEBSOCKETS:
		return "websockets";
	case HF_LISTENER_HTTP_API:
		return "http_api";
	default:
		return "mqtt";
	}
}

/* A reason per listener that is not accepting: the listener list is
 * short (the configuration's), never the connections. */
int
hf_net_health_text(struct hf_net *net, struct hf_wbuf *out, unsigned *n)
{
	char buf[160];
	int rc = 0;
	for (size_t i = 0; i < net->n_listeners; i++) {
		const struct hf_listener *l = net->listeners[i];
		const char *why = NULL;
		if (l->fd < 0 || net->stopped)
			why = "closed";
		else if (uv_is_active((const uv_handle_t *)&l->backoff))
			why = "paused: out of file descriptors";
		if (!why)
			continue;
		snprintf(buf, sizeof(buf), "%s\"listener %s port %u: %s\"",
		         *n ? "," : "", protocol_name(l), l->ep.policy.port,
		         why);
		(*n)++;
		rc |= hf_wbuf_put(out, buf, strlen(buf));
	}
	return rc ? -1 : 0;
}

int
hf_net_metrics_text(struct hf_net *net, struct hf_wbuf *out)
{
	static const char head[] =
	    "# HELP holdfast_listener_connections Open connections of a "
	    "listener socket.\n"
	    "# TYPE holdfast_listener_connections gauge\n";
	char buf[160];
	int rc = hf_wbuf_put(out, head, sizeof(head) - 1);
	for (size_t i = 0; i < net->n_listeners; i++) {
		const struct hf_listener *l = net->listeners[i];
		int len = snprintf(buf, sizeof(buf),
		                   "holdfast_listener_connections{port=\"%u\","
		                   "protocol=\"%s\",listener=\"%zu\"} %d\n",
		                   l->ep.policy.port, protocol_name(l), i,
		                   l->n_conns);
		rc |= hf_wbuf_put(out, buf, (size_t)len);
	}
	return rc ? -1 : 0;
}

uint16_t
hf_net_port(const struct hf_net *net, size_t i)
{
	return i < net->n_listeners ? net->listeners[i]->ep.policy.port : 0;
}

/* ---- dialling out ----------------------------------------------------
 *
 * A dial is a socket connecting without blocking, watched by a poll handle
 * for writability, then (TLS) for what the client handshake asks, with a
 * timer bounding both. Every end goes through finish(): the handles close,
 * and when both are closed dial_closed() either hands the socket on as a
 * stream (a fresh poll handle: libuv allows one per fd at a time) or
 * closes it and calls failed(), so the caller hears from a callback of
 * the loop, never from inside hf_net_dial or hf_net_stop. Dials in
 * progress are on net->dials so that hf_net_stop can end them. */

struct dialing {
	struct hf_net *net;
	struct dialing *prev, *next; /* net->dials, until finish() */
	struct hf_dial d; /* d.host is host below; d.tls is not kept */
	void *tls;        /* hf_tls_io state, NULL: TCP */
	uv_poll_t h;
	uv_timer_t timer;
	int fd;
	int open; /* handles not closed yet */
	bool done;
	bool handshaking;
	char why[512]; /* the failure, "host:port: ..."; "": connected */
	char host[];
};

static void
dial_closed(uv_handle_t *h)
{
	struct dialing *g = h->data;
	struct hf_net *net = g->net;
	struct hf_endpoint *e = NULL;
	if (--g->open > 0)
		return;
	if (!g->why[0] && net->stopped)
		snprintf(g->why, sizeof(g->why),
		         "%s:%u: cancelled: shutting down", g->host, g->d.port);
	if (!g->why[0] && !(e = calloc(1, sizeof(*e))))
		snprintf(g->why, sizeof(g->why), "%s:%u: out of memory",
		         g->host, g->d.port);
	if (g->why[0]) {
		if (g->tls)
			hf_tls_io.free(g->tls);
		close(g->fd);
		if (g->d.failed)
			g->d.failed(g->d.ctx, g->why);
		free(g);
		return;
	}
	/* The endpoint is the stream's own (freed with it). */
	if (g->d.policy)
		e->policy = *g->d.policy;
	e->policy.outgoing = true;
	e->net = net;
	e->io = g->tls ? &hf_tls_io : &hf_tcp_io;
	set_nodelay(net, g->fd);
	/* Records read ahead with the handshake: poll would not see them. */
	bool held = g->tls && hf_tls_io.pending_input(g->tls);
	struct hf_stream *s = hf_stream_new(
	    e, g->fd, g->tls ? g->tls : hf_tcp_io_new(g->fd), &g->d.acc);
	if (s && held)
		hf_net_want_read(net, s);
	free(g);
}

/* The dial is over: connected when fmt is NULL, else failed with the
 * reason fmt says (prefixed with host:port). Once only. */
static void __attribute__((format(printf, 2, 3)))
finish(struct dialing *g, const char *fmt, ...)
{
	if (g->done)
		return;
	g->done = true;
	if (fmt) {
		int n = snprintf(g->why, sizeof(g->why), "%s:%u: ", g->host,
		                 g->d.port);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(g->why + n, sizeof(g->why) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (g->prev)
		g->prev->next = g->next;
	else
		g->net->dials = g->next;
	if (g->next)
		g->next->prev = g->prev;
	uv_close((uv_handle_t *)&g->h, dial_closed);
	uv_close((uv_handle_t *)&g->timer, dial_closed);
}

static void handshake_cb(uv_poll_t *h, int status, int events);

/* One step of the TLS client handshake: done, waiting, or failed. */
static void
handshake_step(struct dialing *g)
{
	char why[400];
	int want = HF_IO_WANT_READ;
	int rc = hf_tls_client_handshake(g->tls, &want, why, sizeof(why));
	if (rc == 0)
		finish(g, NULL);
	else if (rc == HF_IO_AGAIN)
		uv_poll_start(
		    &g->h, want == HF_IO_WANT_WRITE ? UV_WRITABLE : UV_READABLE,
		    handshake_cb);
	else
		finish(g, "TLS handshake failed: %s", why);
}

static void
handshake_cb(uv_poll_t *h, int status, int events)
{
	struct dialing *g = h->data;
	(void)events;
	if (status < 0)
		finish(g, "TLS handshake failed: %s", uv_strerror(status));
	else
		handshake_step(g);
}

static void
connect_cb(uv_poll_t *h, int status, int events)
{
	struct dialing *g = h->data;
	int err = 0;
	socklen_t len = sizeof(err);
	(void)events;
	/* A refused connect is POLLERR, which libuv reports as UV_EBADF:
	 * the socket's own error says what it was. */
	if (getsockopt(g->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (!err && status < 0)
		err = -status;
	if (err) {
		finish(g, "connect failed: %s", strerror(err));
	} else if (g->tls) {
		g->handshaking = true;
		handshake_step(g);
	} else {
		finish(g, NULL);
	}
}

static void
dial_timeout_cb(uv_timer_t *t)
{
	struct dialing *g = t->data;
	finish(g, "timed out after %u ms %s", g->d.timeout_ms,
	       g->handshaking ? "in the TLS handshake" : "connecting");
}

/* Start a dial; -1 with err when it cannot start. */
static int
dial_start(struct hf_net *net, const struct hf_dial *d, char *err,
           size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	if (net->stopped) {
		snprintf(err, errlen, "shutting down");
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", d->port);
	/* Blocking: a name is resolved on the loop thread (fine for a few
	 * bridges; an asynchronous resolver would lift it). */
	int rc = getaddrinfo(d->host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "cannot resolve %s: %s", d->host,
		         rc ? gai_strerror(rc) : "no address");
		if (res)
			freeaddrinfo(res);
		return -1;
	}
	size_t hlen = strlen(d->host);
	struct dialing *g = calloc(1, sizeof(*g) + hlen + 1);
	int fd = socket(res->ai_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!g || fd < 0) {
		snprintf(err, errlen, "cannot dial %s:%u: %s", d->host, d->port,
		         g ? strerror(errno) : "out of memory");
		free(g);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	memcpy(g->host, d->host, hlen + 1);
	char why[400];
	if (d->tls && !(g->tls = hf_tls_client_new(d->tls, g->host, fd, why,
	                                           sizeof(why)))) {
		snprintf(err, errlen, "cannot dial %s:%u over TLS: %s", d->host,
		         d->port, why);
		close(fd);
		free(g);
		freeaddrinfo(res);
		return -1;
	}
	g->net = net;
	g->d = *d;
	g->d.host = g->host;
	g->d.tls = NULL;
	if (!g->d.timeout_ms)
		g->d.timeout_ms = HF_DIAL_TIMEOUT_MS;
	g->fd = fd;
	if (uv_poll_init(net->loop, &g->h, fd) != 0) {
		snprintf(err, errlen,
		         "cannot dial %s:%u: cannot watch the "
		         "socket",
		         d->host, d->port);
		if (g->tls)
			hf_tls_io.free(g->tls);
		close(fd);
		free(g);
		freeaddrinfo(res);
		return -1;
	}
	uv_timer_init(net->loop, &g->timer);
	g->h.data = g->timer.data = g;
	g->open = 2;
	g->next = net->dials;
	if (net->dials)
		net->dials->prev = g;
	net->dials = g;
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	int cerr = errno;
	freeaddrinfo(res);
	if (rc != 0 && cerr != EINPROGRESS) {
		/* Refused at once (it happens on loopback): reported like a
		 * refusal seen later, from the close callback. */
		finish(g, "connect failed: %s", strerror(cerr));
		return 0;
	}
	uv_poll_start(&g->h, UV_WRITABLE, connect_cb);
	uv_timer_start(&g->timer, dial_timeout_cb, g->d.timeout_ms, 0);
	return 0;
}

int
hf_net_dial(struct hf_net *net, const struct hf_dial *d)
{
	char err[600];
	if (dial_start(net, d, err, sizeof(err)) == 0)
		return 0;
	hf_log(net->log, HF_LOG_ERR, "Error: %s.", err);
	return -1;
}

static int
dialer_dial(void *dctx, const char *host, uint16_t port,
            const struct hf_dial_tls *tls, struct hf_acceptor acc,
            void (*failed)(void *ctx, const char *why), void *ctx, char *err,
            size_t errlen)
{
	struct hf_dial d = {
	    .host = host,
	    .port = port,
	    .acc = acc,
	    .failed = failed,
	    .ctx = ctx,
	    .tls = tls,
	};
	return dial_start(dctx, &d, err, errlen);
}

struct hf_dialer
hf_net_dialer(struct hf_net *net)
{
	struct hf_dialer dl = {.dial = dialer_dial, .dctx = net};
	return dl;
}
