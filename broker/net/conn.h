/* broker/net/conn.h - the seam between the transports (broker/net) and the
 * protocol engine (broker/engine): one connection, as the engine sees it.
 *
 * This is the only net header the engine includes; nothing here knows
 * sockets, TLS or WebSocket, and net never includes engine headers. A
 * transport (net/stream.c over TCP today, TLS and WebSocket later) makes a
 * struct hf_conn for every connection, accepted or dialled, and hands it to
 * the engine through an acceptor (struct hf_acceptor); from then on the two
 * talk only through the two tables below:
 *
 *   engine -> transport: struct hf_conn_ops (c->ops)
 *   transport -> engine: struct hf_conn_events (c->ev), with c->owner
 *
 * Ownership and lifetime, as store.h and LMDB state it:
 *   - The transport owns the struct hf_conn and frees it. It stays valid
 *     from the acceptor's call until the transport calls ev->closed(owner);
 *     after that call the engine must not touch it (and must forget it:
 *     the owner is freed in closed()).
 *   - The engine owns c->owner; the transport only passes it back.
 *   - c->policy is the listener's, owned by net and valid for the life of
 *     the connection (listeners outlive their connections).
 *   - Events are never called from inside an op the engine called (no
 *     re-entry): a write that finds the connection broken returns -1 and
 *     reports eof() later, from the transport's own callback.
 *   - Order: any number of data()/drained(), then at most one eof(), then
 *     exactly one closed(). After close() the engine gets no more data().
 *
 * Threading: the loop thread only; no op blocks. */
#ifndef HOLDFAST_NET_CONN_H
#define HOLDFAST_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/codec.h"

struct hf_auth;
struct hf_conn;
struct hf_listener_conf;

/* Who is on the other end, as a TLS client certificate says (later work;
 * NULL from a transport without one). Strings are NUL-terminated and owned
 * by the transport, valid while the connection is. */
struct hf_peer_identity {
	const char *subject; /* the subject DN (RFC 2253 form) */
	const char *cn;      /* the subject's commonName, or NULL */
};

/* A listener's settings, as the engine needs them to serve a connection:
 * its configuration (protocol; later mount_point) and its authentication
 * context (who may connect, the ACL), which net carries without looking
 * into it. Owned by net; valid while any connection of the listener is. */
struct hf_policy {
	const struct hf_listener_conf *conf; /* NULL for a dialled conn */
	const struct hf_auth *auth; /* include/holdfast/auth.h; opaque here */
	uint16_t port; /* the port as bound, for logs (0 when dialled) */
	bool outgoing; /* a dialled connection's policy (a bridge) */
};

/* engine -> transport */
struct hf_conn_ops {
	/* Take every byte of *data for sending, in order after what came
	 * before. The transport may keep the buffer itself (swapping in an
	 * empty one); on return data->len == 0. Returns 0, or -1 when the
	 * connection is broken (eof() and closed() follow later). */
	int (*write)(struct hf_conn *c, struct hf_wbuf *data);
	/* Bytes accepted by write() and not yet handed to the kernel (or,
	 * for TLS, not yet encrypted and sent). The engine bounds it
	 * (client_max_write_buffer_size). */
	size_t (*pending)(struct hf_conn *c);
	/* Close once everything written so far is sent (bounded by a
	 * timeout); closed() follows. Idempotent. */
	void (*close)(struct hf_conn *c);
	/* Stop or resume reading (back-pressure). While paused no data()
	 * comes; bytes wait in the kernel, so the peer is slowed by TCP. */
	void (*pause)(struct hf_conn *c, bool paused);
	/* The peer's address as "ip:port" (for logs), into out. */
	void (*peer)(struct hf_conn *c, char *out, size_t outlen);
	/* The peer's certificate identity, or NULL. */
	const struct hf_peer_identity *(*identity)(struct hf_conn *c);
	/* Whether the peer's certificate still holds under its listener's
	 * current CA and CRL files (after a reload); true without one. */
	bool (*trusted)(struct hf_conn *c);
};

/* transport -> engine; owner is c->owner */
struct hf_conn_events {
	/* Bytes from the peer; p is valid during the call only. */
	void (*data)(void *owner, const uint8_t *p, size_t n);
	/* Everything written has left (pending() went back to 0 after it
	 * was not): a paused reader may resume, queued output may follow. */
	void (*drained)(void *owner);
	/* The peer closed, or the connection broke. */
	void (*eof)(void *owner);
	/* The connection is gone: the last call; free the owner. */
	void (*closed)(void *owner);
};

struct hf_conn {
	const struct hf_conn_ops *ops;
	const struct hf_conn_events *ev;
	void *owner;
	const struct hf_policy *policy; /* policy->outgoing: dialled by us */
};

/* How net hands a new connection to the engine. accept() sets c->ev and
 * c->owner and returns 0, or returns -1 to refuse it (out of memory; the
 * transport then closes it and calls nothing more). */
struct hf_acceptor {
	int (*accept)(void *ctx, struct hf_conn *c);
	void *ctx;
};

/* engine -> net: dialling out (a bridge to its remote broker). net
 * implements it (hf_net_dial) and main.c hands it to the engine, which
 * never includes net headers but this one. */
struct hf_dial_tls {
	const char *cafile;   /* CA certificates to verify the server; or */
	const char *capath;   /* a directory of them (hashed names) */
	const char *certfile; /* our client certificate (PEM), or NULL */
	const char *keyfile;  /* its key (PEM, unencrypted), or NULL */
	bool insecure;        /* do not check the server's host name */
	int tls_version;      /* the lowest accepted: 0 TLS 1.2, 1 TLS 1.3 */
};

struct hf_dialer {
	/* Dial host:port (a name is resolved now), over TLS when tls is not
	 * NULL (verifying the server's chain, and its name unless insecure).
	 * Once connected (and the TLS handshake done) the connection goes to
	 * acc as an accepted one does, its policy marked outgoing; if it
	 * fails first, failed(ctx, why) is called instead, never both.
	 * Returns 0 (one of the two follows, from a later callback), or -1
	 * when it could not start (neither follows; why written to err). */
	int (*dial)(void *dctx, const char *host, uint16_t port,
	            const struct hf_dial_tls *tls, struct hf_acceptor acc,
	            void (*failed)(void *ctx, const char *why), void *ctx,
	            char *err, size_t errlen);
	void *dctx;
};

/* What the HTTP API (net/http.c, listeners with protocol http_api) asks
 * the engine, wired by main.c like the acceptor. Both are called on the
 * loop thread while a request is answered and append to out; they return
 * 0, or -1 when out of memory.
 *   metrics: the engine's Prometheus text (exposition format 0.0.4).
 *   health:  why the broker is not live (ready false: the loop or the
 *            store does not answer) or not ready (ready true: also full,
 *            shutting down), as JSON strings, each preceded by a comma
 *            when *n (reasons so far, net's own included) is not 0; *n
 *            counts the ones added. Nothing added: healthy. */
struct hf_status_source {
	int (*metrics)(void *ctx, struct hf_wbuf *out);
	int (*health)(void *ctx, bool ready, struct hf_wbuf *out, unsigned *n);
	void *ctx;
};

#endif
