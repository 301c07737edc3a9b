/*
 * tools/bench/transport.c - hfbench's TLS and WebSocket transports (see
 * transport.h).
 *
 * Design: TLS is plain OpenSSL on the worker's non-blocking socket
 * (SSL_set_fd), with partial writes and a moving write buffer allowed so the
 * caller can retry a stalled SSL_write with its output buffer as it is then
 * (it only ever grows at the end), and read-ahead on so one read() fetches
 * many records. The WebSocket side never allocates per message: a client
 * frame is the header plus a masked copy of the caller's batch written
 * straight into the wire buffer, and a server frame's payload is copied
 * once into the MQTT input buffer. Frame masks come from a per-connection
 * xorshift generator seeded from RAND_bytes: RFC 6455 asks for a strong
 * source, but the mask only protects intermediaries from cache poisoning,
 * which does not matter to a load generator on a test network.
 *
 * Threading/ownership: no state of its own besides OpenSSL's thread-safe
 * internals; see transport.h.
 */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static void
ssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160];

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s",
		         errno ? strerror(errno) : "unknown error");
	snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

int
hf_bench_tls_new(struct hf_bench_tls *t, const char *cafile, const char *cert,
                 const char *key, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx) {
		ssl_err(err, errlen, "SSL_CTX_new");
		return -1;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_read_ahead(t->ctx, 1);
	if (cafile) {
		if (SSL_CTX_load_verify_locations(t->ctx, cafile, NULL) != 1) {
			ssl_err(err, errlen, cafile);
			goto fail;
		}
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
		t->verify = 1;
	} else {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	}
	if (cert && SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
		ssl_err(err, errlen, cert);
		goto fail;
	}
	if (key) {
		if (SSL_CTX_use_PrivateKey_file(t->ctx, key,
		                                SSL_FILETYPE_PEM) != 1) {
			ssl_err(err, errlen, key);
			goto fail;
		}
		if (SSL_CTX_check_private_key(t->ctx) != 1) {
			ssl_err(err, errlen, "--key does not match --cert");
			goto fail;
		}
	}
	return 0;
fail:
	SSL_CTX_free(t->ctx);
	t->ctx = NULL;
	return -1;
}

void
hf_bench_tls_free(struct hf_bench_tls *t)
{
	SSL_CTX_free(t->ctx);
	t->ctx = NULL;
}

static int
is_ip(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

int
hf_bench_tp_tls_start(struct hf_bench_tp *t, const struct hf_bench_tls *tls,
                      int fd, const char *host, int idle, char *err,
                      size_t errlen)
{
	int ip = is_ip(host), ok = 1;

	t->ssl = SSL_new(tls->ctx);
	if (!t->ssl) {
		ssl_err(err, errlen, "SSL_new");
		return -1;
	}
	SSL_set_fd(t->ssl, fd);
	SSL_set_connect_state(t->ssl);
	if (idle)
		SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	else
		SSL_set_default_read_buffer_len(t->ssl, 64 * 1024);
	if (!ip)
		ok &= SSL_set_tlsext_host_name(t->ssl, host) == 1;
	if (tls->verify)
		ok &= (ip ? X509_VERIFY_PARAM_set1_ip_asc(
		                SSL_get0_param(t->ssl), host)
		          : SSL_set1_host(t->ssl, host)) == 1;
	if (!ok) {
		ssl_err(err, errlen, "TLS host name");
		return -1;
	}
	t->rd_wants_write = t->wr_wants_read = 0;
	t->hs_wants_write = 1;
	return 0;
}

int
hf_bench_tp_tls_handshake(struct hf_bench_tp *t, char *err, size_t errlen)
{
	int r, e;
	long v;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->hs_wants_write = 0;
		return 1;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		t->hs_wants_write = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	v = SSL_get_verify_result(t->ssl);
	if (v != X509_V_OK) {
		snprintf(err, errlen, "TLS handshake: certificate: %s",
		         X509_verify_cert_error_string(v));
		ERR_clear_error();
		return -1;
	}
	if (e == SSL_ERROR_SYSCALL && !errno && !ERR_peek_error())
		snprintf(err, errlen, "TLS handshake: connection closed");
	else
		ssl_err(err, errlen, "TLS handshake");
	return -1;
}

void
hf_bench_tp_reset(struct hf_bench_tp *t)
{
	SSL_free(t->ssl);
	t->ssl = NULL;
	t->rd_wants_write = t->wr_wants_read = t->hs_wants_write = 0;
	t->win.len = t->win.off = 0;
	t->wout.len = t->wout.off = 0;
	memset(&t->rx, 0, sizeof(t->rx));
}

/* Map a failed SSL_read/SSL_write to an I/O result. */
static long
ssl_fail(struct hf_bench_tp *t, int r, int *want_other, char *err,
         size_t errlen, const char *what)
{
	int e = SSL_get_error(t->ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want_other = want_other == &t->wr_wants_read;
		return HFB_IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want_other = want_other == &t->rd_wants_write;
		return HFB_IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!errno && !ERR_peek_error())
			return 0;
		/* fall through */
	default:
		ssl_err(err, errlen, what);
		return HFB_IO_ERR;
	}
}

long
hf_bench_tp_recv(struct hf_bench_tp *t, int fd, uint8_t *p, size_t n, char *err,
                 size_t errlen)
{
	int r;

	if (!t->ssl) {
		for (;;) {
			ssize_t k = recv(fd, p, n, 0);

			if (k >= 0)
				return (long)k;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return HFB_IO_AGAIN;
			snprintf(err, errlen, "read: %s", strerror(errno));
			return HFB_IO_ERR;
		}
	}
	ERR_clear_error();
	errno = 0;
	t->rd_wants_write = 0;
	r = SSL_read(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	if (r > 0)
		return r;
	return ssl_fail(t, r, &t->rd_wants_write, err, errlen, "TLS read");
}

long
hf_bench_tp_send(struct hf_bench_tp *t, int fd, const uint8_t *p, size_t n,
                 char *err, size_t errlen)
{
	int r;

	if (!t->ssl) {
		for (;;) {
			ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

			if (k >= 0)
				return (long)k;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return HFB_IO_AGAIN;
			snprintf(err, errlen, "write: %s", strerror(errno));
			return HFB_IO_ERR;
		}
	}
	ERR_clear_error();
	errno = 0;
	t->wr_wants_read = 0;
	r = SSL_write(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	if (r > 0)
		return r;
	return ssl_fail(t, r, &t->wr_wants_read, err, errlen, "TLS write");
}

int
hf_bench_tp_pending(const struct hf_bench_tp *t)
{
	return t->ssl && SSL_has_pending(t->ssl);
}

/* ---- WebSocket ---- */

void
hf_bench_ws_accept(const char *key, char *out)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s%s", key, guid);

	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha1(), NULL) != 1) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

uint32_t
hf_bench_ws_next_mask(struct hf_bench_tp *t)
{
	uint64_t x = t->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	t->rng = x;
	return (uint32_t)(x >> 32);
}

void
hf_bench_ws_request(struct hf_bench_tp *t, struct hf_bench_buf *out,
                    const char *host, int port, const char *path)
{
	unsigned char raw[16];
	char key[32];
	size_t cap = strlen(host) + strlen(path) + 256;
	char *p = (char *)hf_bench_buf_reserve(out, cap);
	int v6 = strchr(host, ':') != NULL, n;

	if (RAND_bytes(raw, sizeof(raw)) != 1 ||
	    RAND_bytes((unsigned char *)&t->rng, sizeof(t->rng)) != 1) {
		/* no entropy: still a valid (predictable) handshake */
		memset(raw, 0x5a, sizeof(raw));
		t->rng = (uint64_t)(uintptr_t)t;
	}
	t->rng |= 1; /* xorshift must not start at 0 */
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	hf_bench_ws_accept(key, t->accept);
	n = snprintf(p, cap,
	             "GET %s HTTP/1.1\r\n"
	             "Host: %s%s%s:%d\r\n"
	             "Upgrade: websocket\r\n"
	             "Connection: Upgrade\r\n"
	             "Sec-WebSocket-Key: %s\r\n"
	             "Sec-WebSocket-Version: 13\r\n"
	             "Sec-WebSocket-Protocol: mqtt\r\n"
	             "\r\n",
	             path, v6 ? "[" : "", host, v6 ? "]" : "", port, key);
	if (n > 0 && (size_t)n < cap)
		out->len += (size_t)n;
	memset(&t->rx, 0, sizeof(t->rx));
}

/* Does the header line [p, e) name the field `name`? Sets *val to the
 * trimmed value. */
static int
header_is(const char *p, const char *e, const char *name, const char **val,
          size_t *vlen)
{
	size_t nl = strlen(name);

	if ((size_t)(e - p) <= nl || p[nl] != ':' || strncasecmp(p, name, nl))
		return 0;
	p += nl + 1;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*val = p;
	*vlen = (size_t)(e - p);
	return 1;
}

long
hf_bench_ws_response(const struct hf_bench_tp *t, const uint8_t *p, size_t n,
                     char *err, size_t errlen)
{
	const char *s = (const char *)p, *line, *end = NULL, *v;
	int upgrade = 0, accept = 0;
	size_t i, vl;

	for (i = 0; i + 4 <= n; i++)
		if (!memcmp(s + i, "\r\n\r\n", 4)) {
			end = s + i + 2; /* the blank line's start */
			break;
		}
	if (!end) {
		if (n > 16384) {
			snprintf(err, errlen, "WebSocket: response too long");
			return -1;
		}
		return 0;
	}
	if (end - s < 12 || memcmp(s, "HTTP/1.1 101", 12)) {
		const char *nl = memchr(s, '\r', (size_t)(end - s));

		snprintf(err, errlen, "WebSocket upgrade refused: %.*s",
		         (int)(nl ? nl - s : 0) > 80 ? 80 : (int)(nl - s), s);
		return -1;
	}
	for (line = s; line < end;) {
		const char *e = memchr(line, '\r', (size_t)(end - line));

		if (!e)
			break;
		if (header_is(line, e, "Upgrade", &v, &vl))
			upgrade = vl == 9 && !strncasecmp(v, "websocket", 9);
		else if (header_is(line, e, "Sec-WebSocket-Accept", &v, &vl))
			accept = vl == strlen(t->accept) &&
			         !memcmp(v, t->accept, vl);
		else if (header_is(line, e, "Sec-WebSocket-Protocol", &v,
		                   &vl) &&
		         (vl != 4 || memcmp(v, "mqtt", 4))) {
			/* [MQTT-6.0.0-4] */
			snprintf(err, errlen,
			         "WebSocket: server chose subprotocol %.*s",
			         (int)(vl > 40 ? 40 : vl), v);
			return -1;
		}
		line = e + 2;
	}
	if (!upgrade || !accept) {
		snprintf(err, errlen, "WebSocket: %s",
		         !upgrade ? "no Upgrade: websocket in the response"
		                  : "wrong or missing Sec-WebSocket-Accept");
		return -1;
	}
	return (long)(end + 2 - s);
}

void
hf_bench_ws_mask(uint8_t *dst, const uint8_t *src, size_t n, uint32_t mask)
{
	uint8_t k[8] = {(uint8_t)(mask >> 24), (uint8_t)(mask >> 16),
	                (uint8_t)(mask >> 8), (uint8_t)mask};
	uint64_t k8, x;
	size_t i;

	memcpy(k + 4, k, 4);
	memcpy(&k8, k, 8);
	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&x, src + i, 8);
		x ^= k8;
		memcpy(dst + i, &x, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ k[i & 3];
}

void
hf_bench_ws_wrap(struct hf_bench_buf *out, int opcode, const uint8_t *p,
                 size_t n, uint32_t mask)
{
	uint8_t *h = hf_bench_buf_reserve(out, n + 14);
	size_t hl = 2;
	int i;

	h[0] = (uint8_t)(0x80 | opcode); /* FIN: one frame per batch */
	if (n < 126) {
		h[1] = (uint8_t)(0x80 | n);
	} else if (n < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	for (i = 0; i < 4; i++)
		h[hl + (size_t)i] = (uint8_t)(mask >> (24 - 8 * i));
	hl += 4;
	hf_bench_ws_mask(h + hl, p, n, mask);
	out->len += hl + n;
}

int
hf_bench_ws_unwrap(struct hf_bench_ws_rx *rx, struct hf_bench_buf *wire,
                   struct hf_bench_buf *data, struct hf_bench_buf *reply,
                   uint32_t mask, char *err, size_t errlen)
{
	while (wire->len && !rx->closed) {
		const uint8_t *p = wire->data + wire->off;
		size_t n = wire->len, hl;
		uint64_t plen;
		int op, fin, i;

		if (rx->left) {
			size_t take = rx->left < n ? (size_t)rx->left : n;

			memcpy(hf_bench_buf_reserve(data, take), p, take);
			data->len += take;
			hf_bench_buf_consume(wire, take);
			rx->left -= take;
			continue;
		}
		if (n < 2)
			break;
		fin = p[0] & 0x80;
		op = p[0] & 0x0f;
		plen = p[1] & 0x7f;
		hl = plen == 126 ? 4 : plen == 127 ? 10 : 2;
		if (p[0] & 0x70) {
			snprintf(err, errlen, "WebSocket: reserved bits set");
			return -1;
		}
		if (p[1] & 0x80) {
			snprintf(err, errlen, "WebSocket: masked server frame");
			return -1;
		}
		if (n < hl)
			break;
		if (hl > 2)
			for (plen = 0, i = 2; i < (int)hl; i++)
				plen = plen << 8 | p[i];
		if (plen >> 62) {
			snprintf(err, errlen, "WebSocket: bad frame length");
			return -1;
		}
		if (op >= 0x8) {
			if (!fin || plen > 125) {
				snprintf(err, errlen,
				         "WebSocket: bad control frame");
				return -1;
			}
			if (n < hl + plen)
				break;
			if (op == HFB_WS_CLOSE) {
				rx->closed = 1;
			} else if (op == HFB_WS_PING) {
				hf_bench_ws_wrap(reply, HFB_WS_PONG, p + hl,
				                 (size_t)plen, mask);
			} else if (op != HFB_WS_PONG) {
				snprintf(err, errlen,
				         "WebSocket: unknown opcode %d", op);
				return -1;
			}
			hf_bench_buf_consume(wire, hl + (size_t)plen);
			continue;
		}
		if (op == 0 ? !rx->in_msg : op != HFB_WS_BINARY || rx->in_msg) {
			/* [MQTT-6.0.0-1]: binary data frames only */
			snprintf(err, errlen,
			         "WebSocket: unexpected data frame opcode %d",
			         op);
			return -1;
		}
		rx->in_msg = !fin;
		rx->left = plen;
		hf_bench_buf_consume(wire, hl);
	}
	return 0;
}
