/* broker/net/http.c - the HTTP API (a listener with `protocol http_api`,
 * mosquitto 2.1's name): health and metrics over plain HTTP.
 *
 *   GET /health/live           200 "OK" while the loop and the store answer
 *   GET /health, /health/ready 200 "OK" only when every listener accepts
 *                              and the store takes writes (not failed, not
 *                              full, not shutting down)
 *   GET /metrics               Prometheus text exposition, format 0.0.4
 * Not healthy: 503 with {"status":"unavailable","reasons":[...]}. Other
 * paths 404, other methods 405 (Allow: GET), an upgrade 400.
 *
 * Built like ws.c and for the same reasons (Debian 12's libwebsockets has
 * no external poll, but runs on the broker's libuv loop as a foreign
 * loop): one lws context per listener socket, with one vhost whose only
 * protocol is this file's; listener.c binds, accepts and admits
 * (max_connections counts these too), then lws adopts the socket and
 * parses the request. Nothing here blocks or walks clients: the answers
 * are the engine's counters (net/conn.h, struct hf_status_source, wired
 * by main.c) and net's own per-listener lines, so a scrape costs the same
 * with ten clients or a million.
 *
 * A response is built whole, then sent in the next writeable callback
 * (lws buffers what the socket does not take); GET keeps the connection
 * for the next request (HTTP/1.1 keep-alive), anything refused closes it.
 *
 * Ownership: struct hf_httpd is its listener's; a request's body (struct
 * http_req, lws's per-session data) is freed when sent or when the
 * connection closes. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h> /* before libwebsockets.h, for its libuv support */

#include <libwebsockets.h>

#include "io.h"
#include "log.h"
#include "ws.h"

#define HTTP_HEADERS    1024 /* request header space: our paths are short */
#define CLOSE_TIMEOUT_S 5

struct hf_httpd {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct hf_endpoint *ep;
	struct hf_logger *log;
	void *foreign[1];
	uv_timer_t destroy; /* hf_httpd_stop: destroy outside lws callbacks */
	bool stopping, destroyed;
};

/* lws's per-session data: the response waiting for the socket. */
struct http_req {
	uint8_t *buf; /* LWS_PRE headroom, then len bytes of body */
	size_t len;
	bool close;    /* after this response */
	bool body_due; /* a request body is still coming: answer after it */
};

static struct hf_httpd *
httpd_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* A body under construction: LWS_PRE bytes of headroom first (lws_write
 * needs them before the data). */
static int
body_init(struct hf_wbuf *w)
{
	static const uint8_t pre[LWS_PRE];
	memset(w, 0, sizeof(*w));
	return hf_wbuf_put(w, pre, sizeof(pre));
}

static int
body_str(struct hf_wbuf *w, const char *s)
{
	return hf_wbuf_put(w, s, strlen(s));
}

/* Queue status + headers now, the body (w, taken) in the writeable
 * callback. -1: close the connection. */
static int
respond(struct lws *wsi, struct http_req *r, unsigned status, const char *ctype,
        struct hf_wbuf *w, bool close)
{
	uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start;
	uint8_t *end = hdr + sizeof(hdr) - 1;
	size_t len = w->len - LWS_PRE;
	static const char nostore[] = "no-store";
	static const char get[] = "GET";
	if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
	                                 (const unsigned char *)nostore,
	                                 sizeof(nostore) - 1, &p, end) ||
	    (status == HTTP_STATUS_METHOD_NOT_ALLOWED &&
	     lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
	                                 (const unsigned char *)get,
	                                 sizeof(get) - 1, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end)) {
		hf_wbuf_free(w);
		return -1;
	}
	free(r->buf);
	r->buf = w->p;
	r->len = len;
	r->close = close;
	lws_callback_on_writable(wsi);
	return 0;
}

static int
respond_text(struct lws *wsi, struct http_req *r, unsigned status,
             const char *text, bool close)
{
	struct hf_wbuf w;
	if (body_init(&w) || body_str(&w, text)) {
		hf_wbuf_free(&w);
		return -1;
	}
	return respond(wsi, r, status, "text/plain; charset=utf-8", &w, close);
}

/* /health...: net's reasons (listeners), then the engine's. */
static int
health(struct lws *wsi, struct http_req *r, struct hf_httpd *h, bool ready)
{
	const struct hf_status_source *src = hf_net_status(h->ep->net);
	struct hf_wbuf w;
	unsigned n = 0;
	int rc = body_init(&w);
	rc |= body_str(&w, "{\"status\":\"unavailable\",\"reasons\":[");
	if (ready)
		rc |= hf_net_health_text(h->ep->net, &w, &n);
	if (src && src->health)
		rc |= src->health(src->ctx, ready, &w, &n);
	else if (n++)
		rc |= body_str(&w, ",\"engine: not wired\"");
	else
		rc |= body_str(&w, "\"engine: not wired\"");
	rc |= body_str(&w, "]}\n");
	if (rc) {
		hf_wbuf_free(&w);
		return -1;
	}
	if (n == 0) {
		hf_wbuf_free(&w);
		return respond_text(wsi, r, HTTP_STATUS_OK, "OK\n", false);
	}
	return respond(wsi, r, HTTP_STATUS_SERVICE_UNAVAILABLE,
	               "application/json", &w, false);
}

static int
metrics(struct lws *wsi, struct http_req *r, struct hf_httpd *h)
{
	const struct hf_status_source *src = hf_net_status(h->ep->net);
	struct hf_wbuf w;
	int rc = body_init(&w);
	if (!rc && src && src->metrics)
		rc = src->metrics(src->ctx, &w);
	if (!rc)
		rc = hf_net_metrics_text(h->ep->net, &w);
	if (rc) {
		hf_wbuf_free(&w);
		return respond_text(wsi, r, HTTP_STATUS_INTERNAL_SERVER_ERROR,
		                    "out of memory\n", true);
	}
	return respond(wsi, r, HTTP_STATUS_OK,
	               "text/plain; version=0.0.4; charset=utf-8", &w, false);
}

static int
request(struct lws *wsi, struct http_req *r, const char *uri)
{
	struct hf_httpd *h = httpd_of(wsi);
	if (!h || !r)
		return -1;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		/* lws sends nothing while it reads a request body (POST),
		 * so the answer waits for the body's end. */
		r->body_due = lws_hdr_total_length(
		                  wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
		return respond_text(wsi, r, HTTP_STATUS_METHOD_NOT_ALLOWED,
		                    "method not allowed (GET only)\n", true);
	}
	if (!strcmp(uri, "/health") || !strcmp(uri, "/health/ready"))
		return health(wsi, r, h, true);
	if (!strcmp(uri, "/health/live"))
		return health(wsi, r, h, false);
	if (!strcmp(uri, "/metrics"))
		return metrics(wsi, r, h);
	return respond_text(wsi, r, HTTP_STATUS_NOT_FOUND,
	                    "not found (/health, /health/live, /health/ready, "
	                    "/metrics)\n",
	                    false);
}

static int
writeable(struct lws *wsi, struct http_req *r)
{
	if (!r || !r->buf || r->body_due)
		return 0;
	int n = lws_write(wsi, r->buf + LWS_PRE, r->len, LWS_WRITE_HTTP_FINAL);
	bool ok = n >= 0 && (size_t)n >= r->len;
	free(r->buf);
	r->buf = NULL;
	if (!ok || r->close)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
        size_t len)
{
	struct http_req *r = user;
	struct hf_httpd *h;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return request(wsi, r, in ? in : "");
	case LWS_CALLBACK_HTTP_BODY:
		return 0; /* a refused request's body: dropped */
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (r) {
			r->body_due = false;
			lws_callback_on_writable(wsi);
		}
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return writeable(wsi, r);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* Nothing to upgrade to here. */
		lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
		                       "no upgrade on the HTTP API");
		return 1;
	case LWS_CALLBACK_CLOSED_HTTP:
		if (r) {
			free(r->buf);
			r->buf = NULL;
		}
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* Every adopted socket ends here once: the listener counts it
		 * off (max_connections). */
		h = httpd_of(wsi);
		if (h && lws_get_opaque_user_data(wsi) == h) {
			lws_set_opaque_user_data(wsi, NULL);
			hf_net_stream_gone(h->ep);
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", http_cb, sizeof(struct http_req), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

struct hf_httpd *
hf_httpd_new(uv_loop_t *loop, const struct hf_config *conf,
             struct hf_endpoint *ep, struct hf_logger *log)
{
	struct hf_httpd *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->ep = ep;
	h->log = log;
	h->foreign[0] = loop;
	hf_ws_log_init(conf, log);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.options =
	    LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.foreign_loops = h->foreign;
	info.max_http_header_data = HTTP_HEADERS;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.user = h;
	h->ctx = lws_create_context(&info);
	if (!h->ctx) {
		hf_log(log, HF_LOG_ERR,
		       "Error: unable to start libwebsockets for the HTTP API "
		       "(is the package libwebsockets-evlib-uv installed?).");
		free(h);
		return NULL;
	}
	uv_timer_init(loop, &h->destroy);
	h->destroy.data = h;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "holdfast-http-api";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBUV;
	info.keepalive_timeout = CLOSE_TIMEOUT_S;
	h->vh = lws_create_vhost(h->ctx, &info);
	if (!h->vh)
		hf_log(log, HF_LOG_ERR,
		       "Error: unable to start a libwebsockets vhost for the "
		       "HTTP API.");
	return h; /* without vh: hf_httpd_adopt refuses, stop/free as usual */
}

int
hf_httpd_adopt(struct hf_httpd *h, int fd)
{
	lws_sock_file_fd_type sfd;
	sfd.sockfd = fd;
	struct lws *wsi =
	    h->vh && !h->stopping
	        ? lws_adopt_descriptor_vhost(
	              h->vh, LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP, sfd, NULL, NULL)
	        : NULL;
	if (!wsi) { /* lws has closed the socket, if it had it */
		if (!h->vh || h->stopping)
			close(fd);
		hf_net_stream_gone(h->ep);
		return -1;
	}
	lws_set_opaque_user_data(wsi, h); /* WSI_DESTROY counts it off */
	return 0;
}

static void
destroy_cb(uv_timer_t *t)
{
	struct hf_httpd *h = t->data;
	if (!h->destroyed) {
		h->destroyed = true;
		lws_context_destroy(h->ctx);
	}
	uv_close((uv_handle_t *)&h->destroy, NULL);
}

void
hf_httpd_stop(struct hf_httpd *h)
{
	if (!h || h->stopping)
		return;
	h->stopping = true;
	uv_timer_start(&h->destroy, destroy_cb, 0, 0);
}

void
hf_httpd_free(struct hf_httpd *h)
{
	if (!h)
		return;
	lws_context_destroy(h->ctx); /* frees it (foreign loop) */
	free(h);
}
