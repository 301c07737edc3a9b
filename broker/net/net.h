/* broker/net/net.h - the listener layer, for the program that wires the
 * broker together (broker/main.c) and for tests of the transports.
 *
 * One struct hf_net holds a broker's listeners and what its transports
 * share (the read buffer, the list of streams to read again). It binds the
 * configured listeners, accepts in batches, backs off when the process is
 * out of descriptors, and admits or denies each connection (max_connections
 * per listener; nothing once stopped) before any engine state exists; an
 * admitted connection goes to the acceptor (conn.h), which is the engine.
 * It also dials out (a bridge), over TCP or TLS: the connection it makes
 * is handed to the acceptor the same way, its policy saying outgoing.
 *
 * Ownership: the caller owns the struct hf_net (hf_net_free after the loop
 * has ended); the acceptor's ctx must outlive it. Logs go to the logger
 * given at open. Loop thread only. */
#ifndef HOLDFAST_NET_NET_H
#define HOLDFAST_NET_NET_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "conn.h"
#include "log.h"

struct hf_net;

/* Bind every listener of conf; auth[i] is the authentication context of
 * conf->listeners[i] (borrowed; it must outlive net). Returns 0 with *net
 * set, or -1 (logged; *net is then set too and must be stopped and
 * freed). */
int hf_net_open(struct hf_net **net, uv_loop_t *loop,
                const struct hf_config *conf, struct hf_logger *log,
                const struct hf_acceptor *acc, struct hf_auth *const *auth);
/* Stop accepting (shutdown): listening sockets close; connections stay
 * until the engine closes them. Idempotent. */
void hf_net_stop(struct hf_net *net);
/* Free everything, after the loop has ended. NULL is fine. */
void hf_net_free(struct hf_net *net);
/* Where the HTTP API listeners (protocol http_api, net/http.c) get the
 * engine's metrics and health (copied; src->ctx must outlive net). Until
 * it is set they answer 503 "engine: not wired" and metrics of net only. */
void hf_net_set_status(struct hf_net *net, const struct hf_status_source *src);
/* The port listener i is bound to (tests, logs); 0 when there is none. */
uint16_t hf_net_port(const struct hf_net *net, size_t i);

/* TLS listeners (those with certfile; broker/net/tls.c).
 *
 * hf_net_check: read every TLS listener's files and check every http_dir
 * as hf_net_open would, keeping nothing (--test-config). Each problem goes
 * to report(ctx, err), err naming the option: "FILE:LINE: certfile: PATH:
 * reason" (a file missing or unreadable, a certificate, key, CA or CRL
 * that does not load, a key that does not match its certificate, a
 * cipher list OpenSSL refuses; an http_dir that is not a readable folder
 * or is not on a WebSocket listener). Returns how many there were.
 *
 * hf_net_reload_tls: the reload hook (SIGHUP). Re-reads the files of
 * every TLS listener (the configuration itself is not re-read) and builds
 * a new SSL_CTX for each; only when all of them built are they swapped
 * in, for NEW connections: connections already open keep the context,
 * certificate and CRL they started with (OpenSSL reference-counts the
 * SSL_CTX; the old one is freed with its last connection). On any failure
 * every listener keeps its current context and -1 is returned with err as
 * above; nothing is logged (the caller reports). 0 when every TLS
 * listener was reloaded (or there is none). Loop thread only. */
int hf_net_check(const struct hf_config *conf,
                 void (*report)(void *ctx, const char *err), void *ctx);
int hf_net_reload_tls(struct hf_net *net, char *err, size_t errlen);

/* Dial host:port (numeric or a name, resolved now with getaddrinfo(),
 * which may block; the first address is tried) without blocking on the
 * connect, over TLS when tls is not NULL (tls.c's client side: the
 * server's chain verified, and its name or address unless insecure; the
 * handshake done before the hand-off). Once connected, the connection
 * goes to acc with a copy of policy (NULL: an empty one) marked outgoing;
 * if it fails first (refused, unreachable, the handshake or the
 * certificate check failed, or timeout_ms passed: 0 means
 * HF_DIAL_TIMEOUT_MS, for the connect and the handshake together),
 * failed(ctx, why) is called instead, why naming host:port and the
 * reason. Exactly one of the two follows a 0 return, always from a later
 * callback, never from inside this call. After hf_net_stop() a dial in
 * progress ends with failed(ctx, "host:port: cancelled: shutting down")
 * (from the loop, after hf_net_stop returns), and one connected but not
 * yet handed over is closed the same way; none is handed to acc. Every
 * field, host and tls's strings included, is read during the call only.
 * Returns 0, or -1 when it could not even start: the name does not
 * resolve, a TLS file does not load, no socket, out of memory, or net is
 * stopped ("shutting down"); why is logged, nothing follows. */
#define HF_DIAL_TIMEOUT_MS 10000
struct hf_dial {
	const char *host;
	uint16_t port;
	const struct hf_policy *policy;
	struct hf_acceptor acc;
	void (*failed)(void *ctx, const char *why);
	void *ctx;
	const struct hf_dial_tls *tls; /* NULL: plain TCP */
	unsigned timeout_ms;           /* 0: HF_DIAL_TIMEOUT_MS */
};
int hf_net_dial(struct hf_net *net, const struct hf_dial *d);

/* The engine's dialler (conn.h) over hf_net_dial: an empty policy marked
 * outgoing, the default timeout; -1 returns write why to err instead of
 * logging it. dctx is net: the dialler is valid while net is. */
struct hf_dialer hf_net_dialer(struct hf_net *net);

#endif
