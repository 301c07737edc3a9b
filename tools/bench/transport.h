/*
 * tools/bench/transport.h - hfbench's byte transports under MQTT: plain TCP,
 * TLS (OpenSSL 3) and WebSocket (RFC 6455), alone or combined (wss).
 *
 * Design: a connection owns one struct hf_bench_tp. The lowest layer moves
 * bytes between a socket and a buffer, through OpenSSL when TLS is on
 * (hf_bench_tp_recv / hf_bench_tp_send). Both calls are non-blocking and
 * say which readiness a stalled TLS call waits for: a read may need the
 * socket writable and a write may need it readable (renegotiation, key
 * update, TLS 1.3 tickets), which the worker turns into epoll interest.
 * The WebSocket layer sits on top and is pure byte shuffling: the worker's
 * whole MQTT output of a loop turn becomes ONE masked binary frame
 * (hf_bench_ws_wrap: header + one copy-and-xor pass), and the input wire
 * bytes are unframed into a contiguous MQTT byte stream
 * (hf_bench_ws_unwrap), since MQTT packets may span or share frames
 * [MQTT-6.0.0-2]. Control frames are handled there too (ping -> pong,
 * close). The TLS context is made once (hf_bench_tls_new) and shared.
 *
 * Threading/ownership: a struct hf_bench_tls is read-only after creation
 * and may be used by every worker thread (OpenSSL makes SSL_new on a
 * shared SSL_CTX thread-safe). A struct hf_bench_tp and its buffers belong
 * to the connection's worker thread.
 */
#ifndef HF_BENCH_TRANSPORT_H
#define HF_BENCH_TRANSPORT_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct hf_bench_tls {
	SSL_CTX *ctx;
	int verify; /* 1 with --cafile */
};

/* Build the client context. cafile NULL: the server is not verified.
 * cert/key: client certificate, both or neither. Returns 0, or -1 with a
 * message in err. */
int hf_bench_tls_new(struct hf_bench_tls *t, const char *cafile,
                     const char *cert, const char *key, char *err,
                     size_t errlen);
void hf_bench_tls_free(struct hf_bench_tls *t);

/* hf_bench_tp_recv / _send results besides a byte count */
#define HFB_IO_AGAIN (-1) /* would block; see rd_wants_write/wr_wants_read */
#define HFB_IO_ERR   (-2) /* fatal; message in the caller's err buffer */

/* The WebSocket receive side: where we are in the frame being parsed. */
struct hf_bench_ws_rx {
	uint64_t left; /* payload bytes of the current data frame to come */
	int in_msg;    /* a fragmented data message is open */
	int closed;    /* a close frame arrived */
};

struct hf_bench_tp {
	SSL *ssl;           /* NULL without TLS */
	int rd_wants_write; /* the last SSL_read wants the socket writable */
	int wr_wants_read;  /* the last SSL_write wants the socket readable */
	int hs_wants_write; /* TLS handshake: waiting for writability */
	/* WebSocket (unused without --ws) */
	struct hf_bench_buf win;  /* wire bytes read, not yet unframed */
	struct hf_bench_buf wout; /* whole frames waiting for the socket */
	struct hf_bench_ws_rx rx;
	uint64_t rng; /* xorshift state for frame masks */
	char accept[32];
};

/* TLS: create the SSL object for a connected socket. host is used for
 * SNI and, with verification, for the name/IP check. idle: a connection
 * that carries almost nothing, so OpenSSL frees its buffers between uses
 * (busy ones keep a 64 KiB read-ahead buffer). */
int hf_bench_tp_tls_start(struct hf_bench_tp *t, const struct hf_bench_tls *tls,
                          int fd, const char *host, int idle, char *err,
                          size_t errlen);
/* Drive the TLS handshake: 1 done, 0 again (hs_wants_write says which
 * way), -1 error. */
int hf_bench_tp_tls_handshake(struct hf_bench_tp *t, char *err, size_t errlen);
/* Free the SSL object and reset the WebSocket state (buffers kept). */
void hf_bench_tp_reset(struct hf_bench_tp *t);
/* Returns bytes (> 0), 0 on EOF, HFB_IO_AGAIN or HFB_IO_ERR. */
long hf_bench_tp_recv(struct hf_bench_tp *t, int fd, uint8_t *p, size_t n,
                      char *err, size_t errlen);
long hf_bench_tp_send(struct hf_bench_tp *t, int fd, const uint8_t *p, size_t n,
                      char *err, size_t errlen);
/* TLS only: decrypted or buffered bytes OpenSSL holds that no epoll event
 * will announce. */
int hf_bench_tp_pending(const struct hf_bench_tp *t);

/* ---- WebSocket ---- */

#define HFB_WS_BINARY 0x2
#define HFB_WS_CLOSE  0x8
#define HFB_WS_PING   0x9
#define HFB_WS_PONG   0xa

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + RFC 6455 GUID)).
 * out holds at least 29 bytes. */
void hf_bench_ws_accept(const char *key, char *out);
/* Append the HTTP upgrade request (fresh random key) to out and remember
 * the expected accept value in t. */
void hf_bench_ws_request(struct hf_bench_tp *t, struct hf_bench_buf *out,
                         const char *host, int port, const char *path);
/* Check the server's handshake response at p[0..n). Returns its length
 * (> 0) when it is complete and accepts the upgrade, 0 if more bytes are
 * needed, -1 with a message in err if the upgrade was refused. */
long hf_bench_ws_response(const struct hf_bench_tp *t, const uint8_t *p,
                          size_t n, char *err, size_t errlen);
/* Append one final client frame (masked with mask) holding p[0..n). */
void hf_bench_ws_wrap(struct hf_bench_buf *out, int opcode, const uint8_t *p,
                      size_t n, uint32_t mask);
/* XOR p[0..n) with the 4-byte mask, starting at mask byte 0. */
void hf_bench_ws_mask(uint8_t *dst, const uint8_t *src, size_t n,
                      uint32_t mask);
/* A fresh mask from the connection's generator. */
uint32_t hf_bench_ws_next_mask(struct hf_bench_tp *t);
/*
 * Unframe server frames from wire into data (the MQTT stream); consumed
 * wire bytes are dropped. Pings are answered into reply; a close frame
 * sets rx->closed and stops. Returns 0, or -1 with a message in err on a
 * protocol error (masked server frame, text frame [MQTT-6.0.0-1], bad
 * control frame).
 */
int hf_bench_ws_unwrap(struct hf_bench_ws_rx *rx, struct hf_bench_buf *wire,
                       struct hf_bench_buf *data, struct hf_bench_buf *reply,
                       uint32_t mask, char *err, size_t errlen);

#endif
