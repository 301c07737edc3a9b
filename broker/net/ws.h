/* broker/net/ws.h - inside net: MQTT over WebSocket on libwebsockets
 * (ws.c), for the listener layer. Nothing outside broker/net includes it.
 *
 * One struct hf_ws per bound WebSocket listener socket holds a
 * libwebsockets context attached to the net's libuv loop. listener.c
 * binds, accepts and admits; hf_ws_adopt() takes an admitted socket from
 * there. Loop thread only. */
#ifndef HOLDFAST_NET_WS_H
#define HOLDFAST_NET_WS_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "io.h"
#include "log.h"

struct hf_ws;

/* A WebSocket listener socket's libwebsockets context, on loop: its
 * connections go to acc with ep's policy (ep borrowed: it must outlive
 * the result); frames longer than the largest packet conf allows plus a
 * header are refused; http_dir of ep's listener is served. Logs go to
 * log (libwebsockets' own lines under log_type websockets). NULL when
 * libwebsockets cannot start (logged) or out of memory. */
struct hf_ws *hf_ws_new(uv_loop_t *loop, const struct hf_config *conf,
                        struct hf_endpoint *ep, const struct hf_acceptor *acc,
                        struct hf_logger *log);
/* Serve an accepted, admitted, non-blocking socket. Returns 0, or -1 when
 * it could not be taken (fd is closed). Either way the endpoint hears
 * hf_net_stream_gone() once the socket is gone, as for a stream (on -1,
 * before this returns). */
int hf_ws_adopt(struct hf_ws *ws, int fd);
/* Stop: the context is destroyed from a loop callback soon (its open
 * connections close; the engine hears closed()). Idempotent; NULL is
 * fine. */
void hf_ws_stop(struct hf_ws *ws);
/* wss: set the TLS context up again from the listener's files (after
 * hf_tls_reload checked them): new connections get the new certificate,
 * CA and CRL; open ones are re-checked through the trusted op. 0, or -1
 * with err. NULL or plain ws: 0. */
int hf_ws_reload_tls(struct hf_ws *ws, char *err, size_t errlen);
/* After the loop has ended. NULL is fine. */
void hf_ws_free(struct hf_ws *ws);
/* Send libwebsockets' own log lines to log (log_type websockets) at
 * websockets_log_level: before any context is made (http.c too). */
void hf_ws_log_init(const struct hf_config *conf, struct hf_logger *log);

/* http.c: the HTTP API (protocol http_api) on libwebsockets, made and
 * fed like struct hf_ws: listener.c binds, accepts and admits. GET
 * /health, /health/live, /health/ready, /metrics; the answers come from
 * net's status source (hf_net_set_status) and net itself
 * (hf_net_health_text, hf_net_metrics_text). Same contract as the
 * hf_ws_* functions above. */
struct hf_httpd;
struct hf_httpd *hf_httpd_new(uv_loop_t *loop, const struct hf_config *conf,
                              struct hf_endpoint *ep, struct hf_logger *log);
int hf_httpd_adopt(struct hf_httpd *h, int fd);
void hf_httpd_stop(struct hf_httpd *h);
void hf_httpd_free(struct hf_httpd *h);

#endif
