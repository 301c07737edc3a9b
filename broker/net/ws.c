/* broker/net/ws.c - MQTT over WebSocket (RFC 6455, MQTT 5.0 section 6), on
 * libwebsockets running on the broker's own libuv loop.
 *
 * Debian 12's libwebsockets 4.1.6 has no external-poll API but does have
 * a libuv event library (the plugin package libwebsockets-evlib-uv): one
 * lws context per net (struct hf_ws) is attached to the broker's loop as a
 * foreign loop, so lws watches its sockets with libuv handles of its own
 * and calls back on the loop thread, like every other transport. lws never
 * binds or accepts: the listener layer (listener.c) binds, accepts and
 * admits each connection as for TCP, then hands the socket to the vhost
 * of its listener (struct hf_ws, lws_adopt_descriptor_vhost). lws
 * reads the HTTP request; an upgrade is allowed only with the subprotocol
 * mqtt or mqttv3.1 and WebSocket version 13 (HTTP 400 otherwise, logged);
 * a request without upgrade gets a file from http_dir or a 404 (logged).
 *
 * Once upgraded, a connection (struct ws_conn, lws's per-session data of
 * the mqtt protocol) is a struct hf_conn like any other: the engine
 * cannot tell it from TCP. The WebSocket stream is only bytes to the
 * engine's framer [MQTT-6.0.0-2]: each binary frame's payload is handed
 * on as lws delivers it (pieces of at most WS_RX_BUF bytes), so packets
 * may span frames and frames may carry several packets, and nothing is
 * gathered here: a frame costs no memory whatever length its header
 * announces. A text frame is refused (close 1003 [MQTT-6.0.0-1]); a frame
 * longer than the largest packet the broker accepts plus one more header
 * closes with 1009, a message in more than MAX_FRAGMENTS frames (a flood
 * of tiny fragments) with 1008. Output is the engine's bytes, sent as binary
 * frames of at most WS_CHUNK bytes, one per writeable callback, so a 1 MB
 * message leaves in 16 frames as fast as the socket takes them. Back-pressure
 * is lws_rx_flow_control(); pending() is what waits here.
 *
 * Closing: the engine's close() lets pending output go, then lws sends a
 * close frame (1000) and closes, bounded by CLOSE_TIMEOUT_S; lws then
 * calls CLOSED and we tell the engine eof() (if the peer did not close
 * first) and closed(). A connection that never upgraded is freed by lws
 * alone; every adopted socket ends in one WSI_DESTROY, which tells the
 * listener (hf_net_stream_gone) so max_connections counts them.
 *
 * Shutdown (libwebsockets with a foreign loop): hf_ws_stop() destroys the
 * context from a loop callback once the listeners are closed (it closes
 * lws's handles; remaining connections get CLOSED), the loop ends, and
 * hf_ws_free() destroys it once more, which with a foreign loop is when
 * 4.1.6 frees the context.
 *
 * Ownership: struct hf_ws is the net's; a vhost is its listener's and
 * lives as long as the context; a ws_conn is lws's allocation, valid until
 * the CLOSED callback returns. Loop thread only. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h> /* before libwebsockets.h, for its libuv support */

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "io.h"
#include "log.h"
#include "ws.h"

#define WS_CHUNK        65536 /* bytes per outgoing frame */
#define WS_RX_BUF       16384 /* lws's receive pieces */
#define WS_READ_BUF     65536 /* lws's socket reads (shared buffer) */
#define CLOSE_TIMEOUT_S 5     /* a closing connection's pending output */
#define HEADERS_DEFAULT 1024  /* lws's own default header space */
#define MAX_FRAGMENTS   4096  /* frames in one WebSocket message */
#define MQTT_MAX_PACKET (268435455u + 5u) /* remaining length + header */

/* One WebSocket listener socket: an lws context of its own with one
 * vhost. (With several vhosts in one context, lws picks the vhost of an
 * HTTP request by its Host header and, finding none, the first one: a
 * connection would get another listener's policy and http_dir.) */
struct hf_ws {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct hf_endpoint *ep;
	struct hf_acceptor acc;
	struct hf_logger *log;
	struct lws_http_mount mount;
	uint64_t frame_max;
	void *foreign[1];
	uv_timer_t destroy; /* hf_ws_stop: destroy outside lws callbacks */
	bool stopping, destroyed;
	uint8_t *scratch;  /* LWS_PRE headroom + one outgoing frame */
	bool tls;          /* wss: certfile is set */
	SSL_CTX *ssl_ctx;  /* wss: the vhost's, made by lws, set up by us */
	char tls_err[512]; /* why setting it up failed */
};

/* lws's per-session data of the mqtt protocols: one upgraded connection. */
struct ws_conn {
	struct hf_conn base;
	struct lws *wsi;
	struct hf_ws *v;
	struct hf_wbuf out; /* bytes out.p[off .. out.len) wait to be sent */
	size_t off;
	bool handed;    /* the engine has it */
	bool closing;   /* close() called: no more input for the engine */
	bool eof_sent;  /* eof() called */
	bool refused;   /* a protocol error: closing with a reason */
	uint32_t frags; /* frames of the current message so far */
	struct hf_peer_identity *id; /* wss: the client certificate's */
};

static struct hf_ws *
vhost_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static size_t
pending_len(const struct ws_conn *w)
{
	return w->out.len - w->off;
}

static void
peer_of(struct lws *wsi, char *out, size_t outlen)
{
	hf_net_fd_peer(lws_get_socket_fd(wsi), out, outlen);
}

static void
conn_log(struct lws *wsi, struct hf_ws *v, unsigned type, const char *what)
{
	char peer[64];
	peer_of(wsi, peer, sizeof(peer));
	hf_log(v->log, type, "WebSocket connection from %s on port %u %s.",
	       peer, v->ep->policy.port, what);
}

/* ---- engine -> transport -------------------------------------------- */

static int
ws_write(struct hf_conn *c, struct hf_wbuf *data)
{
	struct ws_conn *w = (struct ws_conn *)c;
	if (!data->len)
		return 0;
	if (w->closing && w->refused) {
		data->len = 0;
		return -1;
	}
	if (!pending_len(w)) {
		/* Take the engine's buffer whole; give it ours (empty). */
		struct hf_wbuf t = w->out;
		w->out = *data;
		t.len = 0;
		*data = t;
		w->off = 0;
	} else {
		if (w->off > 0 && w->off >= w->out.len / 2) {
			memmove(w->out.p, w->out.p + w->off, pending_len(w));
			w->out.len -= w->off;
			w->off = 0;
		}
		if (hf_wbuf_put(&w->out, data->p, data->len) != 0) {
			data->len = 0;
			return -1;
		}
		data->len = 0;
	}
	lws_callback_on_writable(w->wsi);
	return 0;
}

static size_t
ws_pending(struct hf_conn *c)
{
	return pending_len((struct ws_conn *)c);
}

static void
ws_close(struct hf_conn *c)
{
	struct ws_conn *w = (struct ws_conn *)c;
	if (w->closing)
		return;
	w->closing = true;
	lws_set_timeout(w->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_TIMEOUT_S);
	lws_callback_on_writable(w->wsi); /* pending output, then the close */
}

static void
ws_pause(struct hf_conn *c, bool paused)
{
	struct ws_conn *w = (struct ws_conn *)c;
	lws_rx_flow_control(w->wsi, paused ? 0 : 1);
}

static void
ws_peer(struct hf_conn *c, char *out, size_t outlen)
{
	peer_of(((struct ws_conn *)c)->wsi, out, outlen);
}

static const struct hf_peer_identity *
ws_identity(struct hf_conn *c)
{
	return ((struct ws_conn *)c)->id;
}

/* After a reload (hf_ws_reload_tls): does the client certificate still
 * verify against the vhost's new CA and CRL? */
static bool
ws_trusted(struct hf_conn *c)
{
	struct ws_conn *w = (struct ws_conn *)c;
	SSL *ssl = w->v->tls ? lws_get_ssl(w->wsi) : NULL;
	char why[160], line[260];
	if (!ssl || hf_tls_verifies(ssl, w->v->ssl_ctx, why, sizeof(why)))
		return true;
	snprintf(line, sizeof(line),
	         "has a client certificate that no longer verifies after the "
	         "reload: %s",
	         why);
	conn_log(w->wsi, w->v, HF_LOG_NOTICE, line);
	return false;
}

static const struct hf_conn_ops ws_ops = {
    .write = ws_write,
    .pending = ws_pending,
    .close = ws_close,
    .pause = ws_pause,
    .peer = ws_peer,
    .identity = ws_identity,
    .trusted = ws_trusted,
};

/* ---- transport -> engine -------------------------------------------- */

/* Refuse what the peer sent: a close frame with this status, logged. */
static int
refuse(struct ws_conn *w, enum lws_close_status status, const char *why)
{
	char what[160];
	snprintf(what, sizeof(what), "closed: %s (close %d)", why, (int)status);
	conn_log(w->wsi, w->v, HF_LOG_NOTICE, what);
	lws_close_reason(w->wsi, status, (unsigned char *)why, strlen(why));
	if (!w->closing) {
		w->closing = true;
		w->refused = true;
	}
	if (w->handed && !w->eof_sent) {
		w->eof_sent = true;
		w->base.ev->eof(w->base.owner);
	}
	return -1;
}

static int
established(struct lws *wsi, struct ws_conn *w)
{
	struct hf_ws *v = vhost_of(wsi);
	memset(w, 0, sizeof(*w));
	w->wsi = wsi;
	w->v = v;
	if (!v)
		return -1;
	w->base.ops = &ws_ops;
	w->base.policy = &v->ep->policy;
	SSL *ssl = v->tls ? lws_get_ssl(wsi) : NULL;
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	if (cert && !(w->id = hf_tls_identity_of(cert))) {
		conn_log(wsi, v, HF_LOG_ERR, "refused: out of memory");
		return -1;
	}
	if (v->acc.accept(v->acc.ctx, &w->base) != 0) {
		conn_log(wsi, v, HF_LOG_ERR, "refused: out of memory");
		free(w->id);
		w->id = NULL;
		return -1;
	}
	w->handed = true;
	return 0;
}

static int
receive(struct ws_conn *w, const uint8_t *in, size_t len)
{
	if (!w->handed || w->closing)
		return 0; /* closing: input is dropped */
	if (!lws_frame_is_binary(w->wsi))
		return refuse(w, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		              "text frame (MQTT needs binary frames)");
	if ((uint64_t)lws_remaining_packet_payload(w->wsi) + len >
	    w->v->frame_max)
		return refuse(w, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		              "frame larger than the largest packet");
	if (lws_remaining_packet_payload(w->wsi) == 0) { /* a frame ends */
		if (lws_is_final_fragment(w->wsi))
			w->frags = 0;
		else if (++w->frags > MAX_FRAGMENTS)
			return refuse(w, LWS_CLOSE_STATUS_POLICY_VIOLATION,
			              "message in too many fragments");
	}
	if (len)
		w->base.ev->data(w->base.owner, in, len);
	return 0;
}

/* One frame of pending output; the close once nothing is left. */
static int
writeable(struct ws_conn *w)
{
	if (!w->handed)
		return -1;
	size_t n = pending_len(w);
	if (n) {
		if (n > WS_CHUNK)
			n = WS_CHUNK;
		uint8_t *buf = w->v->scratch + LWS_PRE;
		memcpy(buf, w->out.p + w->off, n);
		if (lws_write(w->wsi, buf, n, LWS_WRITE_BINARY) < (int)n)
			return -1;
		w->off += n;
		if (pending_len(w)) {
			lws_callback_on_writable(w->wsi);
			return 0;
		}
		w->out.len = w->off = 0;
		if (w->out.cap > 4 * WS_CHUNK) { /* a big burst is over */
			hf_wbuf_free(&w->out);
			w->out = (struct hf_wbuf){0};
		}
		if (!w->closing)
			w->base.ev->drained(w->base.owner);
	}
	if (w->closing) {
		lws_close_reason(w->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

static void
closed(struct ws_conn *w)
{
	if (!w->handed)
		return;
	w->handed = false;
	if (!w->eof_sent) {
		w->eof_sent = true;
		w->base.ev->eof(w->base.owner);
	}
	w->base.ev->closed(w->base.owner);
	hf_wbuf_free(&w->out);
	free(w->id);
	w->id = NULL;
}

/* ---- the HTTP side ---------------------------------------------------- */

/* An upgrade is allowed to mqtt or mqttv3.1 (the subprotocols MQTT
 * defines [MQTT-6.0.0-3]; lws picks one of ours from the offered list)
 * with WebSocket version 13; refused with 400 and a log line otherwise. */
static int
confirm_upgrade(struct lws *wsi, struct hf_ws *v, const char *to)
{
	char proto[256] = "", ver[8] = "";
	const char *why = NULL;
	if (!to || strcmp(to, "websocket") != 0)
		why = "not a WebSocket upgrade";
	else if (lws_hdr_copy(wsi, ver, sizeof(ver), WSI_TOKEN_VERSION) <= 0 ||
	         strcmp(ver, "13") != 0)
		why = "WebSocket version is not 13";
	else if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) <=
	         0)
		why = "no subprotocol (mqtt or mqttv3.1 needed)";
	else {
		bool ok = false;
		char *save = NULL;
		for (char *t = strtok_r(proto, ", ", &save); t && !ok;
		     t = strtok_r(NULL, ", ", &save))
			ok = !strcmp(t, "mqtt") || !strcmp(t, "mqttv3.1");
		if (!ok)
			why = "subprotocol is not mqtt or mqttv3.1";
	}
	if (!why)
		return 0;
	char what[160];
	snprintf(what, sizeof(what), "refused: %s (HTTP 400)", why);
	conn_log(wsi, v, HF_LOG_NOTICE, what);
	if (lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, why))
		return -1;
	return 1;
}

/* A plain HTTP request that no http_dir file answered. */
static int
http_request(struct lws *wsi, struct hf_ws *v, const char *uri)
{
	char what[200];
	snprintf(what, sizeof(what),
	         "refused: HTTP request for %.100s without a WebSocket "
	         "upgrade (HTTP 404)",
	         uri ? uri : "?");
	conn_log(wsi, v, v->mount.origin ? HF_LOG_WEBSOCKETS : HF_LOG_NOTICE,
	         what);
	/* The status, then the connection is closed (no keep-alive: an
	 * MQTT listener serves no more requests on it). */
	lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
	return -1;
}

/* wss: OpenSSL's verify callback on the vhost's context (its app data is
 * the struct hf_ws): the verdict stands, and a refused client certificate
 * is logged once, for the certificate the chain ends in. */
static int
verify_cb(int preverify_ok, X509_STORE_CTX *x)
{
	if (preverify_ok || X509_STORE_CTX_get_error_depth(x) != 0)
		return preverify_ok;
	SSL *ssl =
	    X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct hf_ws *v =
	    ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
	if (v) {
		char peer[64];
		hf_net_fd_peer(SSL_get_fd(ssl), peer, sizeof(peer));
		hf_log(
		    v->log, HF_LOG_NOTICE,
		    "WebSocket connection from %s on port %u failed: TLS "
		    "handshake: client certificate: %s.",
		    peer, v->ep->policy.port,
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	}
	return preverify_ok;
}

/* Set the vhost's TLS context up from the listener's files (tls.c). */
static int
setup_tls(struct hf_ws *v, char *err, size_t errlen)
{
	if (hf_tls_configure_foreign(v->ssl_ctx, v->ep->policy.conf, err,
	                             errlen) != 0)
		return -1;
	SSL_CTX_set_app_data(v->ssl_ctx, v);
	SSL_CTX_set_verify(v->ssl_ctx, SSL_CTX_get_verify_mode(v->ssl_ctx),
	                   verify_cb);
	return 0;
}

static int
ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
      size_t len)
{
	struct ws_conn *w = user;
	struct hf_ws *v;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* wss: lws made the vhost's context; everything in it is
		 * ours (tls.c), as for a TLS listener. */
		v = lws_context_user(lws_get_context(wsi));
		if (!v)
			return 1;
		v->ssl_ctx = user;
		return setup_tls(v, v->tls_err, sizeof(v->tls_err)) ? 1 : 0;
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		/* lws's own verify callback, replaced by verify_cb in
		 * setup_tls; should it still call: OpenSSL's verdict stands
		 * (len is preverify_ok; lws reads 0 as "ok"). */
		return len ? 0 : 1;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		v = vhost_of(wsi);
		return v ? confirm_upgrade(wsi, v, in) : -1;
	case LWS_CALLBACK_HTTP:
		v = vhost_of(wsi);
		return v ? http_request(wsi, v, in) : -1;
	case LWS_CALLBACK_ESTABLISHED:
		return established(wsi, w);
	case LWS_CALLBACK_RECEIVE:
		return receive(w, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return writeable(w);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (w && w->handed && !w->eof_sent) {
			w->eof_sent = true;
			w->closing = true;
			w->base.ev->eof(w->base.owner);
		}
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (w)
			closed(w);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* Every adopted socket ends here once (upgraded or not). */
		v = vhost_of(wsi);
		if (v && lws_get_opaque_user_data(wsi) == v) {
			lws_set_opaque_user_data(wsi, NULL);
			hf_net_stream_gone(v->ep);
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"mqtt", ws_cb, sizeof(struct ws_conn), WS_RX_BUF, 0, NULL, WS_CHUNK},
    {"mqttv3.1", ws_cb, sizeof(struct ws_conn), WS_RX_BUF, 0, NULL, WS_CHUNK},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ---- lws's own log -------------------------------------------------- */

static struct hf_logger *lws_logger; /* the net's, while a context lives */

static void
lws_emit(int level, const char *line)
{
	if (!lws_logger)
		return;
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	hf_log(lws_logger, HF_LOG_WEBSOCKETS, "libwebsockets%s: %.*s",
	       level & LLL_ERR ? " error" : "", (int)n, line);
}

/* lws's log level and destination are the process's, shared by every
 * context (WebSocket and HTTP API listeners alike). */
void
hf_ws_log_init(const struct hf_config *conf, struct hf_logger *log)
{
	lws_logger = log;
	lws_set_log_level(conf->websockets_log_level
	                      ? conf->websockets_log_level
	                      : LLL_ERR | LLL_WARN,
	                  lws_emit);
}

/* ---- the context ---------------------------------------------------- */

struct hf_ws *
hf_ws_new(uv_loop_t *loop, const struct hf_config *conf, struct hf_endpoint *ep,
          const struct hf_acceptor *acc, struct hf_logger *log)
{
	const struct hf_listener_conf *lc = ep->policy.conf;
	struct hf_ws *v = calloc(1, sizeof(*v));
	if (!v || !(v->scratch = malloc(LWS_PRE + WS_CHUNK))) {
		free(v);
		return NULL;
	}
	v->ep = ep;
	v->acc = *acc;
	v->log = log;
	v->foreign[0] = loop;
	v->tls = hf_listener_is_tls(lc);
	v->frame_max =
	    (conf->max_packet_size ? conf->max_packet_size : MQTT_MAX_PACKET) +
	    5;
	if (lc->http_dir) {
		v->mount.mountpoint = "/";
		v->mount.mountpoint_len = 1;
		v->mount.origin = lc->http_dir;
		v->mount.origin_protocol = LWSMPRO_FILE;
		v->mount.def = "index.html";
	}
	hf_ws_log_init(conf, log);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV |
	               LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	               (v->tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.foreign_loops = v->foreign;
	info.max_http_header_data =
	    (unsigned short)(conf->websockets_headers_size
	                         ? conf->websockets_headers_size
	                         : HEADERS_DEFAULT);
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.user = v;
	/* lws reads a socket into this buffer (default 4096): one read per
	 * 4 KiB made ws cost ~6x TCP's syscalls at full speed. */
	info.pt_serv_buf_size = WS_READ_BUF;
	v->ctx = lws_create_context(&info);
	if (!v->ctx) {
		hf_log(log, HF_LOG_ERR,
		       "Error: unable to start libwebsockets (is the package "
		       "libwebsockets-evlib-uv installed?).");
		free(v->scratch);
		free(v);
		return NULL;
	}
	uv_timer_init(loop, &v->destroy);
	v->destroy.data = v;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "holdfast";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.mounts = lc->http_dir ? &v->mount : NULL;
	info.options = LWS_SERVER_OPTION_LIBUV;
	if (v->tls) /* no file paths: LOAD_EXTRA_SERVER_VERIFY_CERTS sets
	               the context up */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		                LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
	v->vh = lws_create_vhost(v->ctx, &info);
	if (v->vh && v->tls && !v->ssl_ctx) {
		snprintf(v->tls_err, sizeof(v->tls_err),
		         "libwebsockets made no TLS context");
		v->vh = NULL;
	}
	if (!v->vh)
		hf_log(log, HF_LOG_ERR,
		       "Error: unable to start a libwebsockets vhost%s%s.",
		       v->tls_err[0] ? ": " : "", v->tls_err);
	return v; /* without vh: hf_ws_adopt refuses, stop/free as usual */
}

int
hf_ws_adopt(struct hf_ws *v, int fd)
{
	lws_sock_file_fd_type sfd;
	sfd.sockfd = fd;
	struct lws *wsi = v->vh && !v->stopping
	                      ? lws_adopt_descriptor_vhost(
	                            v->vh,
	                            LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP |
	                                (v->tls ? LWS_ADOPT_ALLOW_SSL : 0),
	                            sfd, NULL, NULL)
	                      : NULL;
	if (!wsi) { /* lws has closed the socket */
		if (!v->vh || v->stopping)
			close(fd);
		hf_net_stream_gone(v->ep);
		return -1;
	}
	lws_set_opaque_user_data(wsi, v); /* WSI_DESTROY counts it off */
	return 0;
}

static void
destroy_cb(uv_timer_t *t)
{
	struct hf_ws *v = t->data;
	if (!v->destroyed) {
		v->destroyed = true;
		lws_context_destroy(v->ctx);
	}
	uv_close((uv_handle_t *)&v->destroy, NULL);
}

void
hf_ws_stop(struct hf_ws *v)
{
	if (!v || v->stopping)
		return;
	v->stopping = true;
	uv_timer_start(&v->destroy, destroy_cb, 0, 0);
}

void
hf_ws_free(struct hf_ws *v)
{
	if (!v)
		return;
	lws_context_destroy(v->ctx); /* frees it (foreign loop) */
	free(v->scratch);
	free(v);
	lws_logger = NULL; /* no context logs any more */
}

int
hf_ws_reload_tls(struct hf_ws *v, char *err, size_t errlen)
{
	if (!v || !v->tls || !v->ssl_ctx)
		return 0;
	return setup_tls(v, err, errlen);
}
