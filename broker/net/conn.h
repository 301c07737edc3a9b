/* broker/net/conn.h - the transport interface: one vtable for TCP (and, in
 * later work, TLS and WebSocket), so the engine sees only a byte stream.
 *
 * The transport calls into the engine with hf_client_on_data(),
 * hf_client_on_eof() and, once its handle is gone, hf_client_on_closed().
 * The engine calls back only through these ops. Loop thread only. */
#ifndef HOLDFAST_CONN_H
#define HOLDFAST_CONN_H

#include <stddef.h>

#include "holdfast/codec.h"

struct hf_conn;
struct hf_client;

struct hf_conn_ops {
	/* Take the bytes in *data for sending. The transport may keep the
	 * buffer itself (swapping in an empty one); on return data->len == 0.
	 * Returns 0, or -1 when the connection is broken (the transport then
	 * closes and reports on_eof/on_closed). */
	int (*write)(struct hf_conn *c, struct hf_wbuf *data);
	/* Bytes accepted by write() and not yet handed to the kernel. */
	size_t (*pending)(struct hf_conn *c);
	/* Close once everything written so far is sent (bounded by a
	 * timeout); then hf_client_on_closed() is called. Idempotent. */
	void (*close)(struct hf_conn *c);
	/* Stop or resume reading (back-pressure). */
	void (*pause)(struct hf_conn *c, int paused);
	/* The peer's address as "ip:port" (for logs), into out. */
	void (*peer)(struct hf_conn *c, char *out, size_t outlen);
};

struct hf_conn {
	const struct hf_conn_ops *ops;
	struct hf_client *client;
};

#endif
