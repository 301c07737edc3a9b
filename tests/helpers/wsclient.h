/* tests/helpers/wsclient.h - a WebSocket client for tests (RFC 6455, client
 * side), written for them: the upgrade, masked frames out, frames in.
 *
 * hf_ws_open() gives a socket that speaks plain MQTT bytes: one end of a
 * socketpair whose other end a thread of this helper joins to a WebSocket
 * connection to the broker (bytes out as binary frames, binary frames in
 * as bytes), so every hf_raw_* function of rawclient.h works over
 * WebSocket unchanged. Closing that socket sends a close frame (1000) and
 * closes the TCP connection; when the broker closes, the socket reads
 * EOF. The lower functions drive a WebSocket connection by hand, for
 * tests of bad input.
 *
 * Every wait is bounded by the timeout it is given. */
#ifndef HF_WSCLIENT_H
#define HF_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The upgrade request on a connected TCP socket: GET path, with
 * Sec-WebSocket-Protocol proto (NULL: none) and Sec-WebSocket-Version
 * version (NULL: 13); extra (NULL or header lines each ending in \r\n).
 * Waits up to 3 s for the response's head. Returns the HTTP status (101
 * for an upgrade), or -1 when no response came. When head is not NULL it
 * receives the response's head (and what came with it), NUL-terminated. */
int hf_ws_upgrade(int fd, const char *path, const char *proto,
                  const char *version, const char *extra, char *head,
                  size_t headlen);
/* One frame, masked as a client must: opcode (1 text, 2 binary, 0
 * continuation, 8 close, 9 ping), FIN bit, payload. len is what the
 * header announces; only min(len, have) bytes of p are sent (have < len
 * makes a frame that stops short). 0 or -1. */
int hf_ws_send_frame(int fd, uint8_t opcode, bool fin, const void *p,
                     uint64_t len, size_t have);
/* Read one frame within timeout_ms: *opcode, payload into buf[cap] (*len;
 * a longer payload is an error). 1, 0 on timeout, -1 on EOF or error. */
int hf_ws_recv_frame(int fd, int timeout_ms, uint8_t *opcode, uint8_t *buf,
                     size_t cap, size_t *len);
/* Read frames until the server's close frame or EOF within timeout_ms.
 * Returns true when the connection ended; *code (if not NULL) gets the
 * close frame's status code, 1005 for a close frame without one, or -1
 * when the TCP connection ended without a close frame. */
bool hf_ws_wait_close(int fd, int timeout_ms, int *code);

/* TCP to 127.0.0.1:port, the upgrade (path "/", subprotocol proto: NULL
 * means "mqtt"), then the bytes-only socket described above. -1 when the
 * upgrade failed (the status is printed). */
int hf_ws_open(uint16_t port, const char *proto);
/* hf_ws_open, then CONNECT (keepalive 60; 5.0 with a Session Expiry
 * Interval of expiry seconds when not 0) and its CONNACK. Returns the
 * socket on CONNACK 0, else -1 (the code is printed); *session_present is
 * set when not NULL. */
int hf_ws_connect(uint16_t port, uint8_t ver, const char *client_id, bool clean,
                  uint32_t expiry, bool *session_present);

#endif
