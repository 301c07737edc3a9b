/* broker/net/io.h - inside net: the byte-moving trio a stream transport is
 * built on, and the stream connection that drives it.
 *
 * A stream connection (stream.c) owns a socket watched by a libuv poll
 * handle and implements struct hf_conn_ops once for every transport over a
 * socket: one send loop, one read loop, the pending-output buffer, the
 * half-close, back-pressure. What differs between plain TCP (tcp.c) and
 * TLS (tls.c) is only how bytes cross the socket, which is struct
 * hf_io_ops. Its calls follow OpenSSL's non-blocking model, so TLS
 * (tls.c) is one more table:
 *   - each call returns what it moved, or HF_IO_AGAIN with *want saying
 *     which readiness to wait for - HF_IO_WANT_READ or HF_IO_WANT_WRITE,
 *     in either direction (a TLS write can need the socket readable during
 *     a renegotiation or key update, a read can need it writable) - or
 *     HF_IO_EOF / HF_IO_ERR;
 *   - pending_input() counts bytes the transport has already taken from
 *     the socket and holds (a TLS record read ahead): poll cannot see
 *     them, so the read loop goes on while there are any;
 *   - a write that returned HF_IO_AGAIN is retried with the same bytes
 *     (OpenSSL's rule), which the stream's pending buffer guarantees.
 * The "socket drained" test is therefore "the read said AGAIN", or "a
 * read came back short and nothing is pending inside the transport" (the
 * poll handle is level-triggered, so bytes still in the kernel wake it
 * again); never a short read alone.
 *
 * Nothing outside broker/net includes this. Loop thread only. */
#ifndef HOLDFAST_NET_IO_H
#define HOLDFAST_NET_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "conn.h"

#define HF_IO_AGAIN (-1)
#define HF_IO_EOF   (-2)
#define HF_IO_ERR   (-3)

#define HF_IO_WANT_READ  1
#define HF_IO_WANT_WRITE 2

struct hf_io_ops {
	/* Read up to n bytes: > 0 bytes, or HF_IO_AGAIN (*want set),
	 * HF_IO_EOF, HF_IO_ERR. */
	ssize_t (*read)(void *io, uint8_t *buf, size_t n, int *want);
	/* Write up to n bytes: > 0 bytes taken, or HF_IO_AGAIN (*want set;
	 * call again with the same bytes), HF_IO_ERR. */
	ssize_t (*write)(void *io, const uint8_t *buf, size_t n, int *want);
	/* Send our end's close (TCP FIN; TLS close_notify, then FIN): 0 when
	 * done, HF_IO_AGAIN (*want set), HF_IO_ERR. */
	int (*shutdown)(void *io, int *want);
	/* Bytes read from the socket and held inside the transport. */
	size_t (*pending_input)(void *io);
	/* The peer's certificate identity, or NULL. */
	const struct hf_peer_identity *(*identity)(void *io);
	/* Whether the peer's certificate still verifies against its
	 * listener's current CA and CRL files (after a reload); true without
	 * a certificate. NULL: always true (TCP). */
	bool (*trusted)(void *io);
	/* Free the transport's state (not the socket: the stream closes it). */
	void (*free)(void *io);
};

struct hf_net;
struct hf_stream;

/* Where a stream's connections come from: the policy the engine sees
 * (first, so a stream's c->policy leads back here), the net, the
 * transport's ops, and the listener (NULL for a dialled connection, whose
 * endpoint is its own: freed with the stream). Shared by every connection
 * of a listener, so a connection does not carry them itself. */
struct hf_listener;
struct hf_endpoint {
	struct hf_policy policy;
	struct hf_net *net;
	const struct hf_io_ops *io;
	struct hf_listener *listener;
};

/* Make a stream connection over a connected, non-blocking socket fd for
 * endpoint ep, with the transport's state io_ctx (freed with the stream),
 * hand it to the acceptor, and start reading. The listener hears when the
 * stream is gone (hf_net_stream_gone). On failure (out of memory, or the
 * acceptor refused it) everything is closed and freed, the listener told,
 * and NULL returned. */
struct hf_stream *hf_stream_new(struct hf_endpoint *ep, int fd, void *io_ctx,
                                const struct hf_acceptor *acc);
/* The engine's view of it. */
struct hf_conn *hf_stream_conn(struct hf_stream *s);

/* net.c: the loop, the shared read buffer and the stream callbacks of one
 * net (see net.h). */
uv_loop_t *hf_net_loop(struct hf_net *net);
/* A stream of this endpoint is gone (listener.c counts them; a dialled
 * endpoint is freed). */
void hf_net_stream_gone(struct hf_endpoint *ep);
uint8_t *hf_net_readbuf(struct hf_net *net, size_t *len);
/* For the HTTP API (http.c): the engine's answers (main.c set them with
 * hf_net_set_status; zeroed until then), and net's own: a JSON string per
 * listener that is not accepting (closed, or paused for want of
 * descriptors), comma-separated after *n reasons so far (*n grows), and
 * the listeners' connection counts as Prometheus text. 0, or -1 out of
 * memory. */
const struct hf_status_source *hf_net_status(struct hf_net *net);
int hf_net_health_text(struct hf_net *net, struct hf_wbuf *out, unsigned *n);
int hf_net_metrics_text(struct hf_net *net, struct hf_wbuf *out);
/* The peer of a connected socket as "ip:port" into out ("?:0" when it
 * cannot be had, e.g. fd < 0). */
void hf_net_fd_peer(int fd, char *out, size_t outlen);
/* Streams holding input inside their transport are read again before the
 * loop sleeps (poll would not wake for them). */
void hf_net_want_read(struct hf_net *net, struct hf_stream *s);
void hf_net_cancel_read(struct hf_net *net, struct hf_stream *s);
void hf_stream_read_more(struct hf_stream *s);

/* tcp.c: plain TCP. */
extern const struct hf_io_ops hf_tcp_io;
/* The io state for a socket (it is the fd itself; nothing to allocate). */
void *hf_tcp_io_new(int fd);

/* tls.c: TLS (OpenSSL 3) over a socket, server side. */
extern const struct hf_io_ops hf_tls_io;
/* A TLS listener's context: its SSL_CTX, built from the files lc names
 * (lc borrowed; it must outlive the result), and where its connection
 * logs go (log_connections: connection_messages). NULL with err =
 * "FILE:LINE: key: path: reason" when a file does not load. */
struct hf_tls;
struct hf_logger;
struct hf_tls *hf_tls_new(const struct hf_listener_conf *lc,
                          struct hf_logger *log, bool log_connections,
                          char *err, size_t errlen);
/* After every connection made from it is gone. NULL is fine. */
void hf_tls_free(struct hf_tls *tls);
/* The io state of a new connection on socket fd (an SSL in accept state
 * with the current context), or NULL when out of memory. */
void *hf_tls_io_new(struct hf_tls *tls, int fd);
/* Build new contexts from the files for the n entries of tls (NULL ones
 * skipped) and swap them in, all or none: 0, or -1 with err as
 * hf_tls_new's and every old context kept. Existing connections keep
 * the context they started with. */
int hf_tls_reload(struct hf_tls *const *tls, size_t n, char *err,
                  size_t errlen);
/* Load lc's files as hf_tls_new would, keeping nothing (--test-config). */
int hf_tls_check(const struct hf_listener_conf *lc, char *err, size_t errlen);
/* For TLS done by another library (libwebsockets, ws.c): configure its
 * server context ctx from lc's settings and files as hf_tls_new does (a
 * fresh certificate store first: also the reload), without this file's
 * per-connection hooks. 0, or -1 with err as hf_tls_new's. */
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct x509_st X509;
int hf_tls_configure_foreign(SSL_CTX *ctx, const struct hf_listener_conf *lc,
                             char *err, size_t errlen);
/* The identity of a client certificate (one allocation: free() it), or
 * NULL when out of memory. */
struct hf_peer_identity *hf_tls_identity_of(X509 *cert);
/* Whether ssl's peer certificate (if any) verifies against ctx's current
 * store (CA and CRL); why says what failed. Out of memory: true. */
bool hf_tls_verifies(SSL *ssl, SSL_CTX *ctx, char *why, size_t whylen);
/* The first TLS key set on a listener without certfile (they do nothing
 * there), or NULL. */
const char *hf_tls_stray_key(const struct hf_listener_conf *lc);

/* tls.c, client side (dialled connections, listener.c). The io state
 * (for hf_tls_io) of a connection to host over socket fd, in connect
 * state, with a context made now from s (read during the call only):
 * the server verified against s's CAs, and host (a name: also sent as
 * SNI; or an IP literal) checked against its certificate unless
 * s->insecure. NULL with err ("cafile PATH: reason", ...) when a file
 * does not load or memory runs out. Free with hf_tls_io.free. */
void *hf_tls_client_new(const struct hf_dial_tls *s, const char *host, int fd,
                        char *err, size_t errlen);
/* Drive the client handshake of io: 0 once done (the connection is then
 * ready for a stream), HF_IO_AGAIN with *want, or HF_IO_ERR with why
 * saying what failed (OpenSSL's reason, and the certificate check's as
 * "(server certificate: ...)"). Nothing is logged. */
int hf_tls_client_handshake(void *io, int *want, char *why, size_t whylen);

#endif
