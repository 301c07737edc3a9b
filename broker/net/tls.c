/* broker/net/tls.c - TLS (OpenSSL 3) as a stream transport: struct
 * hf_io_ops over a non-blocking socket, each TLS listener's context, and
 * the client side of dialled connections (at the end of the file).
 *
 * The handshake runs inside the same trio as the data: a read or a write
 * on a connection whose handshake is not finished first drives
 * SSL_accept(), and its SSL_ERROR_WANT_READ / WANT_WRITE become HF_IO_AGAIN
 * with *want saying which readiness to wait for, in either direction, just
 * as SSL_read() and SSL_write() do afterwards. The stream (stream.c) polls
 * for what was asked, so no call ever blocks the loop, and the engine's
 * connect_timeout (counted from accept) bounds a handshake that never
 * finishes. Once it is done the client certificate, if any, becomes the
 * identity strings (the subject in RFC 2253 form as X509_NAME_print_ex
 * with XN_FLAG_RFC2253 prints it - mosquitto's use_subject_as_username
 * string - and the first commonName as UTF-8), extracted once; auth/ sees
 * strings only. A handshake that fails is logged once here, naming the
 * peer and OpenSSL's reason (and the certificate check's, for a client
 * certificate refused); the connection then closes. A renegotiation
 * attempt is refused (SSL_OP_NO_RENEGOTIATION: OpenSSL answers with a
 * no_renegotiation alert, which the info callback notices) and the
 * connection is closed with a close_notify. Closing sends close_notify
 * (SSL_shutdown, once) and then the TCP FIN; on a connection whose
 * handshake is unfinished or failed only the FIN, and further input is
 * read raw and dropped rather than fed to the handshake.
 *
 * Every context has SSL_MODE_ENABLE_PARTIAL_WRITE (a write takes what one
 * record holds and the stream keeps the rest), ACCEPT_MOVING_WRITE_BUFFER
 * (the retry after AGAIN may come from the stream's pending buffer, which
 * may have moved and grown), RELEASE_BUFFERS (an idle connection holds no
 * 16 KiB record buffers) and read-ahead (one read takes what the socket
 * has; pending_input() then reports what OpenSSL holds so the stream reads
 * on without waiting for poll, which cannot see it).
 *
 * A listener with certfile has one struct hf_tls: its SSL_CTX, built from
 * the files its configuration names, and what its logs need.
 * hf_tls_reload() builds new contexts for all of them and swaps them in
 * only when every one built; a connection keeps the context it started
 * with (SSL_new holds a reference), so a reload only affects new ones.
 *
 * Ownership: struct hf_tls is owned by the net (hf_tls_free after its
 * connections are gone); a connection's state (struct tls_conn: the SSL
 * and the identity, one allocation each) by its stream, freed by
 * tls_free. SSL_CTX app data is the struct hf_tls, SSL app data the
 * struct tls_conn. Writes go through OpenSSL's socket BIO, which uses
 * write(): the process must ignore SIGPIPE (main.c does). Loop thread
 * only; OpenSSL's error queue is cleared before every call. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "io.h"
#include "log.h"

struct hf_tls {
	SSL_CTX *ctx; /* for new connections; swapped by a reload */
	const struct hf_listener_conf *lc;
	struct hf_logger *log;
	bool log_connections; /* connection_messages */
};

/* tls_conn.flags */
#define T_DONE   (1u << 0) /* the handshake finished */
#define T_FAILED (1u << 1) /* a fatal error: no close_notify, no more I/O */
#define T_SHUT   (1u << 2) /* our shutdown started */
#define T_RENEG  (1u << 3) /* the peer tried to renegotiate */

struct tls_conn {
	SSL *ssl;
	struct hf_peer_identity *id; /* with its strings; NULL: none */
	unsigned flags;
};

/* ---- errors and logs --------------------------------------------------- */

/* OpenSSL's reason for the first error queued (the most specific), as
 * "library: reason"; the queue is emptied. */
static void
ssl_reason(char *out, size_t outlen)
{
	unsigned long e = ERR_get_error();
	if (!e) {
		snprintf(out, outlen, "unknown OpenSSL error");
		return;
	}
	const char *lib = ERR_lib_error_string(e);
	const char *why = ERR_reason_error_string(e);
	if (why)
		snprintf(out, outlen, "%s%s%s", lib ? lib : "", lib ? ": " : "",
		         why);
	else
		ERR_error_string_n(e, out, outlen);
	ERR_clear_error();
}

static void
sock_names(int fd, char *peer, size_t peerlen, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	int pport = 0;
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *a =
			    (const struct sockaddr_in *)&ss;
			uv_ip4_name(a, ip, sizeof(ip));
			pport = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a =
			    (const struct sockaddr_in6 *)&ss;
			uv_ip6_name(a, ip, sizeof(ip));
			pport = ntohs(a->sin6_port);
		}
	}
	snprintf(peer, peerlen, "%s:%d", ip, pport);
	len = sizeof(ss);
	*port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		*port = ntohs(ss.ss_family == AF_INET6
		                  ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                  : ((struct sockaddr_in *)&ss)->sin_port);
}

static struct hf_tls *
tls_of(const struct tls_conn *t)
{
	return SSL_CTX_get_app_data(SSL_get_SSL_CTX(t->ssl));
}

/* Whether a line of this type about a connection would go anywhere (a
 * handshake logs at debug level: not worth two syscalls when unseen). */
static bool
conn_logs(const struct tls_conn *t, unsigned type)
{
	struct hf_tls *tls = tls_of(t);
	return tls && tls->log && tls->log_connections &&
	       (tls->log->types & type) && tls->log->dest;
}

/* One line about connection t: "<what> <peer> on port <port> <why>." */
static void
conn_log(const struct tls_conn *t, unsigned type, const char *what,
         const char *why)
{
	struct hf_tls *tls = tls_of(t);
	char peer[64];
	unsigned port;
	if (!conn_logs(t, type))
		return;
	sock_names(SSL_get_fd(t->ssl), peer, sizeof(peer), &port);
	hf_log(tls->log, type, "%s %s on port %u %s.", what, peer, port, why);
}

/* OpenSSL's reason for a failed call, with the certificate check's when
 * a client certificate was refused. */
static void
failure_reason(struct tls_conn *t, char *out, size_t outlen)
{
	char r[256];
	ssl_reason(r, sizeof(r));
	long v = SSL_get_verify_result(t->ssl);
	if (v != X509_V_OK)
		snprintf(out, outlen, "%s (client certificate: %s)", r,
		         X509_verify_cert_error_string(v));
	else
		snprintf(out, outlen, "%s", r);
}

/* ---- the identity ------------------------------------------------------ */

/* The subject as mosquitto's use_subject_as_username gives it, and the
 * first commonName (NULL when there is none or it holds a NUL), in one
 * allocation with the struct. */
struct hf_peer_identity *
hf_tls_identity_of(X509 *cert)
{
	X509_NAME *name = X509_get_subject_name(cert);
	BIO *b = BIO_new(BIO_s_mem());
	unsigned char *cn = NULL;
	int cnlen = -1;
	struct hf_peer_identity *id = NULL;
	if (!name || !b)
		goto out;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0)
		goto out;
	char *subj = NULL;
	long slen = BIO_get_mem_data(b, &subj);
	if (slen < 0)
		goto out;
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	X509_NAME_ENTRY *ent = i >= 0 ? X509_NAME_get_entry(name, i) : NULL;
	if (ent)
		cnlen = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(ent));
	if (cnlen >= 0 && memchr(cn, '\0', (size_t)cnlen))
		cnlen = -1; /* an embedded NUL: no usable CN */
	size_t need = sizeof(*id) + (size_t)slen + 1 +
	              (cnlen >= 0 ? (size_t)cnlen + 1 : 0);
	if (!(id = malloc(need)))
		goto out;
	char *p = (char *)(id + 1);
	memcpy(p, subj, (size_t)slen);
	p[slen] = '\0';
	id->subject = p;
	id->cn = NULL;
	if (cnlen >= 0) {
		p += slen + 1;
		memcpy(p, cn, (size_t)cnlen);
		p[cnlen] = '\0';
		id->cn = p;
	}
out:
	OPENSSL_free(cn);
	BIO_free(b);
	return id;
}

/* The handshake is done: keep the certificate's identity. */
static int
established(struct tls_conn *t)
{
	t->flags |= T_DONE;
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	if (cert && !(t->id = hf_tls_identity_of(cert))) {
		t->flags |= T_FAILED;
		conn_log(t, HF_LOG_ERR, "Client connection from",
		         "failed: out of memory for its certificate identity");
		return HF_IO_ERR;
	}
	if (conn_logs(t, HF_LOG_DEBUG)) {
		char why[512];
		snprintf(
		    why, sizeof(why), "is %s, %s%s%s", SSL_get_version(t->ssl),
		    SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl)),
		    t->id ? ", certificate " : "", t->id ? t->id->subject : "");
		conn_log(t, HF_LOG_DEBUG, "TLS connection from", why);
	}
	return 0;
}

/* ---- the trio ------------------------------------------------------------ */

/* After an SSL call returned rc <= 0: AGAIN with *want; EOF (the peer's
 * close_notify or FIN after the handshake); or ERR, logged here once with
 * the reason when it is more than a reset or a close after the handshake
 * (a close during the handshake is logged too). */
static int
io_result(struct tls_conn *t, int rc, int *want, const char *what)
{
	int e = errno;
	int err = SSL_get_error(t->ssl, rc);
	bool handshaking = !(t->flags & T_DONE);
	char why[512], line[600];
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		*want = err == SSL_ERROR_WANT_READ ? HF_IO_WANT_READ
		                                   : HF_IO_WANT_WRITE;
		return HF_IO_AGAIN;
	}
	if (err == SSL_ERROR_ZERO_RETURN ||
	    (err == SSL_ERROR_SYSCALL && (rc == 0 || e == 0))) {
		/* close_notify, or a plain EOF (SSL_OP_IGNORE_UNEXPECTED_EOF:
		 * MQTT is framed, so a truncation cannot pass unnoticed) */
		ERR_clear_error();
		if (!handshaking)
			return HF_IO_EOF;
		snprintf(why, sizeof(why), "the peer closed the connection");
	} else if (err == SSL_ERROR_SYSCALL) {
		ERR_clear_error();
		t->flags |= T_FAILED;
		if (!handshaking)
			return HF_IO_ERR; /* a reset: the engine says so */
		snprintf(why, sizeof(why), "%s", strerror(e));
	} else {
		failure_reason(t, why, sizeof(why));
	}
	t->flags |= T_FAILED;
	snprintf(line, sizeof(line), "failed: %s: %s", what, why);
	conn_log(t, HF_LOG_NOTICE, "Client connection from", line);
	return HF_IO_ERR;
}

/* Drive SSL_accept(): 0 once done, else AGAIN or ERR. */
static int
handshake(struct tls_conn *t, int *want)
{
	if (t->flags & T_FAILED)
		return HF_IO_ERR;
	ERR_clear_error();
	int rc = SSL_accept(t->ssl);
	if (rc == 1)
		return established(t);
	return io_result(t, rc, want, "TLS handshake");
}

/* The peer asked to renegotiate (refused by OpenSSL): close, with a
 * close_notify. */
static ssize_t
refuse_renegotiation(struct tls_conn *t)
{
	conn_log(t, HF_LOG_NOTICE, "Client connection from",
	         "closed: TLS renegotiation is refused");
	ERR_clear_error();
	if (!(t->flags & T_SHUT) && SSL_shutdown(t->ssl) >= 0)
		shutdown(SSL_get_fd(t->ssl), SHUT_WR);
	ERR_clear_error();
	t->flags |= T_FAILED | T_SHUT;
	return HF_IO_ERR;
}

/* Input after our shutdown on a connection without a finished handshake:
 * read raw and dropped, so the peer's FIN is seen. */
static ssize_t
drop_raw(struct tls_conn *t, uint8_t *buf, size_t n, int *want)
{
	ssize_t r;
	do
		r = recv(SSL_get_fd(t->ssl), buf, n, 0);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return r;
	if (r == 0)
		return HF_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		*want = HF_IO_WANT_READ;
		return HF_IO_AGAIN;
	}
	return HF_IO_ERR;
}

static int
io_len(size_t n)
{
	return n > INT_MAX ? INT_MAX : (int)n;
}

static ssize_t
tls_read(void *io, uint8_t *buf, size_t n, int *want)
{
	struct tls_conn *t = io;
	if (!(t->flags & T_DONE)) {
		if (t->flags & (T_SHUT | T_FAILED))
			return drop_raw(t, buf, n, want);
		int r = handshake(t, want);
		if (r != 0)
			return r;
	}
	if (t->flags & T_FAILED)
		return HF_IO_ERR;
	ERR_clear_error();
	int rc = SSL_read(t->ssl, buf, io_len(n));
	if (t->flags & T_RENEG)
		return refuse_renegotiation(t);
	if (rc > 0)
		return rc;
	return io_result(t, rc, want, "TLS read");
}

static ssize_t
tls_write(void *io, const uint8_t *buf, size_t n, int *want)
{
	struct tls_conn *t = io;
	if (!(t->flags & T_DONE)) {
		int r = handshake(t, want);
		if (r != 0)
			return r == HF_IO_EOF ? HF_IO_ERR : r;
	}
	if (t->flags & T_FAILED)
		return HF_IO_ERR;
	ERR_clear_error();
	int rc = SSL_write(t->ssl, buf, io_len(n));
	if (rc > 0)
		return rc;
	int r = io_result(t, rc, want, "TLS write");
	return r == HF_IO_EOF ? HF_IO_ERR : r;
}

static int
tls_shutdown(void *io, int *want)
{
	struct tls_conn *t = io;
	int fd = SSL_get_fd(t->ssl);
	if ((t->flags & (T_DONE | T_FAILED)) == T_DONE) {
		ERR_clear_error();
		int rc = SSL_shutdown(t->ssl); /* 0: close_notify sent */
		if (rc < 0) {
			int err = SSL_get_error(t->ssl, rc);
			if (err == SSL_ERROR_WANT_WRITE ||
			    err == SSL_ERROR_WANT_READ) {
				*want = err == SSL_ERROR_WANT_WRITE
				            ? HF_IO_WANT_WRITE
				            : HF_IO_WANT_READ;
				return HF_IO_AGAIN;
			}
			t->flags |= T_FAILED;
		}
		ERR_clear_error();
	}
	t->flags |= T_SHUT;
	return shutdown(fd, SHUT_WR) == 0 ? 0 : HF_IO_ERR;
}

static size_t
tls_pending_input(void *io)
{
	struct tls_conn *t = io;
	int n = SSL_pending(t->ssl); /* decrypted, not read yet */
	if (n > 0)
		return (size_t)n;
	return SSL_has_pending(t->ssl) ? 1 : 0; /* records read ahead */
}

static const struct hf_peer_identity *
tls_identity(void *io)
{
	return ((struct tls_conn *)io)->id;
}

/* A reload may bring a new CA or CRL: a client certificate verified at
 * the handshake is verified again against the listener's current context
 * (the one new connections get). A connection accepted since the reload
 * has been checked against it already. Out of memory: trusted (a failure
 * to check is not a revocation). */
bool
hf_tls_verifies(SSL *ssl, SSL_CTX *ctx, char *why, size_t whylen)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	if (!peer)
		return true;
	X509_STORE_CTX *x = X509_STORE_CTX_new();
	if (!x || X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(ctx), peer,
	                              SSL_get_peer_cert_chain(ssl)) != 1) {
		X509_STORE_CTX_free(x);
		ERR_clear_error();
		return true;
	}
	X509_STORE_CTX_set_purpose(x, X509_PURPOSE_SSL_CLIENT);
	bool ok = X509_verify_cert(x) == 1;
	if (!ok)
		snprintf(
		    why, whylen, "%s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	X509_STORE_CTX_free(x);
	ERR_clear_error();
	return ok;
}

static bool
tls_trusted(void *io)
{
	struct tls_conn *t = io;
	struct hf_tls *tls = tls_of(t);
	if (!(t->flags & T_DONE) || !tls || tls->ctx == SSL_get_SSL_CTX(t->ssl))
		return true;
	char why[160], line[200];
	if (hf_tls_verifies(t->ssl, tls->ctx, why, sizeof(why)))
		return true;
	snprintf(line, sizeof(line), "no longer verifies after the reload: %s",
	         why);
	conn_log(t, HF_LOG_NOTICE, "Client certificate of", line);
	return false;
}

static void
tls_free(void *io)
{
	struct tls_conn *t = io;
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t->id);
	free(t);
}

const struct hf_io_ops hf_tls_io = {
    .read = tls_read,
    .write = tls_write,
    .shutdown = tls_shutdown,
    .pending_input = tls_pending_input,
    .identity = tls_identity,
    .trusted = tls_trusted,
    .free = tls_free,
};

void *
hf_tls_io_new(struct hf_tls *tls, int fd)
{
	struct tls_conn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (!(t->ssl = SSL_new(tls->ctx)) || !SSL_set_fd(t->ssl, fd) ||
	    !SSL_set_app_data(t->ssl, t)) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(t->ssl);
	return t;
}

/* OpenSSL wrote an alert on a connection: a no_renegotiation alert means
 * the peer asked to renegotiate (refused by SSL_OP_NO_RENEGOTIATION). */
static void
info_cb(const SSL *ssl, int where, int ret)
{
	if ((where & SSL_CB_WRITE_ALERT) &&
	    (ret & 0xff) == SSL_AD_NO_RENEGOTIATION) {
		struct tls_conn *t = SSL_get_app_data(ssl);
		if (t)
			t->flags |= T_RENEG;
	}
}

/* ---- contexts ------------------------------------------------------------ */

static const char *
where_of(const struct hf_listener_conf *lc, enum hf_tls_key k)
{
	return lc->tls_at[k] ? lc->tls_at[k] : "?";
}

/* "FILE:LINE: key: path: why" for the file of key k. */
static int __attribute__((format(printf, 6, 7)))
conf_err(char *err, size_t errlen, const struct hf_listener_conf *lc,
         enum hf_tls_key k, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s: %s", where_of(lc, k), key, msg);
	return -1;
}

/* The file (or directory) must exist and be readable: errno's reason is
 * clearer than OpenSSL's for these. */
static int
readable(const char *path, bool dir, char *why, size_t whylen)
{
	struct stat st;
	if (stat(path, &st) != 0 || access(path, R_OK | (dir ? X_OK : 0))) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (dir != S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s",
		         dir ? "not a directory" : "is a directory");
		return -1;
	}
	return 0;
}

/* A PEM file OpenSSL loads with fn (returns 1 on success). */
#define LOAD(k, key, path, dir, call)                                          \
	do {                                                                   \
		char why_[256];                                                \
		if (readable((path), (dir), why_, sizeof(why_)))               \
			return conf_err(err, errlen, lc, (k), (key), "%s: %s", \
			                (path), why_);                         \
		ERR_clear_error();                                             \
		if ((call) != 1) {                                             \
			ssl_reason(why_, sizeof(why_));                        \
			return conf_err(err, errlen, lc, (k), (key), "%s: %s", \
			                (path), why_);                         \
		}                                                              \
	} while (0)

/* An encrypted key would make OpenSSL prompt on the terminal. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int
load_dhparam(SSL_CTX *ctx, const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	EVP_PKEY *dh = b ? PEM_read_bio_Parameters(b, NULL) : NULL;
	BIO_free(b);
	if (!dh)
		return 0;
	if (SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
		EVP_PKEY_free(dh);
		return 0;
	}
	return 1;
}

static int
load_crl(SSL_CTX *ctx, const char *path)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lu =
	    store ? X509_STORE_add_lookup(store, X509_LOOKUP_file()) : NULL;
	if (!lu || X509_load_crl_file(lu, path, X509_FILETYPE_PEM) < 1)
		return 0;
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 1;
}

/* The settings and files of lc into ctx; ours: a context of this file's
 * connections (our info callback reads their app data, and they read
 * ahead), not one of libwebsockets'. */
static int
configure(SSL_CTX *ctx, const struct hf_listener_conf *lc, bool ours, char *err,
          size_t errlen)
{
	char why[256];
	SSL_CTX_set_min_proto_version(ctx, lc->tls_version == HF_TLS_V13
	                                       ? TLS1_3_VERSION
	                                       : TLS1_2_VERSION);
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	             SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* An idle connection holds no 16 KiB record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (ours) {
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX_set_read_ahead(ctx, 1);
		SSL_CTX_set_info_callback(ctx, info_cb);
	}
	/* Needed for resumption with client certificates; sessions never
	 * cross contexts (each has its own cache and ticket keys). */
	static const unsigned char sid[] = "holdfast";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	ERR_clear_error();
	if (lc->ciphers && SSL_CTX_set_cipher_list(ctx, lc->ciphers) != 1) {
		ssl_reason(why, sizeof(why));
		return conf_err(err, errlen, lc, HF_TLSK_CIPHERS, "ciphers",
		                "'%s': %s", lc->ciphers, why);
	}
	if (lc->ciphers_tls13 &&
	    SSL_CTX_set_ciphersuites(ctx, lc->ciphers_tls13) != 1) {
		ssl_reason(why, sizeof(why));
		return conf_err(err, errlen, lc, HF_TLSK_CIPHERS_TLS13,
		                "ciphers_tls1.3", "'%s': %s", lc->ciphers_tls13,
		                why);
	}
	LOAD(HF_TLSK_CERTFILE, "certfile", lc->certfile, false,
	     SSL_CTX_use_certificate_chain_file(ctx, lc->certfile));
	if (readable(lc->keyfile, false, why, sizeof(why)))
		return conf_err(err, errlen, lc, HF_TLSK_KEYFILE, "keyfile",
		                "%s: %s", lc->keyfile, why);
	ERR_clear_error();
	if (SSL_CTX_use_PrivateKey_file(ctx, lc->keyfile, SSL_FILETYPE_PEM) !=
	    1) {
		bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) ==
		                X509_R_KEY_VALUES_MISMATCH;
		ssl_reason(why, sizeof(why));
		if (mismatch)
			return conf_err(err, errlen, lc, HF_TLSK_KEYFILE,
			                "keyfile",
			                "%s does not match certfile %s (%s)",
			                lc->keyfile, lc->certfile, why);
		return conf_err(err, errlen, lc, HF_TLSK_KEYFILE, "keyfile",
		                "%s: %s%s", lc->keyfile, why,
		                strstr(why, "bad decrypt") ||
		                        strstr(why, "cancelled") ||
		                        strstr(why, "processing error")
		                    ? " (an encrypted key? keyfile must be "
		                      "unencrypted)"
		                    : "");
	}
	ERR_clear_error();
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(why, sizeof(why));
		return conf_err(err, errlen, lc, HF_TLSK_KEYFILE, "keyfile",
		                "%s does not match certfile %s: %s",
		                lc->keyfile, lc->certfile, why);
	}
	if (lc->cafile)
		LOAD(HF_TLSK_CAFILE, "cafile", lc->cafile, false,
		     SSL_CTX_load_verify_file(ctx, lc->cafile));
	if (lc->capath)
		LOAD(HF_TLSK_CAPATH, "capath", lc->capath, true,
		     SSL_CTX_load_verify_dir(ctx, lc->capath));
	if (lc->crlfile)
		LOAD(HF_TLSK_CRLFILE, "crlfile", lc->crlfile, false,
		     load_crl(ctx, lc->crlfile));
	if (lc->dhparamfile) {
		if (readable(lc->dhparamfile, false, why, sizeof(why)))
			return conf_err(err, errlen, lc, HF_TLSK_DHPARAMFILE,
			                "dhparamfile", "%s: %s",
			                lc->dhparamfile, why);
		ERR_clear_error();
		if (load_dhparam(ctx, lc->dhparamfile) != 1) {
			ssl_reason(why, sizeof(why));
			return conf_err(err, errlen, lc, HF_TLSK_DHPARAMFILE,
			                "dhparamfile",
			                "%s: not PEM DH parameters (%s)",
			                lc->dhparamfile, why);
		}
	}
	/* As mosquitto: a certificate is asked for only when required. */
	SSL_CTX_set_verify(ctx,
	                   lc->require_certificate
	                       ? SSL_VERIFY_PEER |
	                             SSL_VERIFY_FAIL_IF_NO_PEER_CERT
	                       : SSL_VERIFY_NONE,
	                   NULL);
	return 0;
}

/* A new context for lc (app data tls, which may be NULL for a check). */
static SSL_CTX *
build(const struct hf_listener_conf *lc, struct hf_tls *tls, char *err,
      size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		char why[256];
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen,
		         "%s: certfile: cannot make a TLS context: %s",
		         where_of(lc, HF_TLSK_CERTFILE), why);
		return NULL;
	}
	if (configure(ctx, lc, true, err, errlen) != 0) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	SSL_CTX_set_app_data(ctx, tls);
	return ctx;
}

struct hf_tls *
hf_tls_new(const struct hf_listener_conf *lc, struct hf_logger *log,
           bool log_connections, char *err, size_t errlen)
{
	struct hf_tls *tls = calloc(1, sizeof(*tls));
	if (!tls) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tls->lc = lc;
	tls->log = log;
	tls->log_connections = log_connections;
	if (!(tls->ctx = build(lc, tls, err, errlen))) {
		free(tls);
		return NULL;
	}
	return tls;
}

void
hf_tls_free(struct hf_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}

int
hf_tls_check(const struct hf_listener_conf *lc, char *err, size_t errlen)
{
	SSL_CTX *ctx = build(lc, NULL, err, errlen);
	SSL_CTX_free(ctx);
	return ctx ? 0 : -1;
}

int
hf_tls_reload(struct hf_tls *const *tls, size_t n, char *err, size_t errlen)
{
	SSL_CTX **fresh = calloc(n ? n : 1, sizeof(*fresh));
	if (!fresh) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t i;
	for (i = 0; i < n; i++)
		if (tls[i] &&
		    !(fresh[i] = build(tls[i]->lc, tls[i], err, errlen)))
			break;
	if (i < n) {
		for (size_t j = 0; j < i; j++)
			SSL_CTX_free(fresh[j]);
		free(fresh);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!tls[i])
			continue;
		SSL_CTX_free(tls[i]->ctx); /* live connections keep theirs */
		tls[i]->ctx = fresh[i];
	}
	free(fresh);
	return 0;
}

const char *
hf_tls_stray_key(const struct hf_listener_conf *lc)
{
	if (hf_listener_is_tls(lc))
		return NULL;
	if (lc->cafile)
		return "cafile";
	if (lc->capath)
		return "capath";
	if (lc->crlfile)
		return "crlfile";
	if (lc->dhparamfile)
		return "dhparamfile";
	if (lc->ciphers)
		return "ciphers";
	if (lc->ciphers_tls13)
		return "ciphers_tls1.3";
	if (lc->require_certificate)
		return "require_certificate";
	if (lc->use_identity_as_username)
		return "use_identity_as_username";
	if (lc->use_subject_as_username)
		return "use_subject_as_username";
	if (lc->tls_version != HF_TLS_V12)
		return "tls_version";
	return NULL;
}

int
hf_tls_configure_foreign(SSL_CTX *ctx, const struct hf_listener_conf *lc,
                         char *err, size_t errlen)
{
	/* A fresh store, so a reload drops CAs and CRLs no longer named. */
	X509_STORE *store = X509_STORE_new();
	if (!store) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	SSL_CTX_set_cert_store(ctx, store);
	int rc = configure(ctx, lc, false, err, errlen);
	ERR_clear_error();
	return rc;
}

/* ---- the client side: dialled connections -------------------------------
 *
 * A dialled connection (a bridge, listener.c) uses the same transport as
 * an accepted one, with an SSL in connect state. Its context is made per
 * dial from the settings (struct hf_dial_tls), so a reconnect reads the
 * files again; the SSL holds the only reference. Its context has no app
 * data (no struct hf_tls): nothing is logged here for it, the dialler
 * reports failures through its failed() callback, and trusted() is always
 * true. The handshake is driven by the dialler (hf_tls_client_handshake)
 * until it is done, before the engine sees the connection; from then on
 * the trio above serves it as it serves a server-side one. */

enum client_file { CF_CAFILE, CF_CAPATH, CF_CERTFILE, CF_KEYFILE };

/* Load one file of the settings into ctx (cert: the certfile, for a
 * keyfile that does not match it); on failure err is "what path: reason"
 * and -1 is returned. */
static int
client_load(SSL_CTX *ctx, enum client_file k, const char *path,
            const char *cert, char *err, size_t errlen)
{
	static const char *const names[] = {"cafile", "capath", "certfile",
	                                    "keyfile"};
	char why[256];
	int ok;
	if (readable(path, k == CF_CAPATH, why, sizeof(why))) {
		snprintf(err, errlen, "%s %s: %s", names[k], path, why);
		return -1;
	}
	ERR_clear_error();
	switch (k) {
	case CF_CAFILE:
		ok = SSL_CTX_load_verify_file(ctx, path);
		break;
	case CF_CAPATH:
		ok = SSL_CTX_load_verify_dir(ctx, path);
		break;
	case CF_CERTFILE:
		ok = SSL_CTX_use_certificate_chain_file(ctx, path);
		break;
	default:
		ok = SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM);
		break;
	}
	if (ok == 1)
		return 0;
	bool mismatch =
	    k == CF_KEYFILE &&
	    ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
	ssl_reason(why, sizeof(why));
	if (mismatch)
		snprintf(err, errlen,
		         "keyfile %s does not match certfile %s (%s)", path,
		         cert, why);
	else
		snprintf(err, errlen, "%s %s: %s", names[k], path, why);
	return -1;
}

/* A client context for the settings s: the server is always verified
 * (against cafile/capath, or the system's default CAs when neither is
 * given). NULL with err on failure. */
static SSL_CTX *
client_ctx(const struct hf_dial_tls *s, char *err, size_t errlen)
{
	char why[256];
	if ((s->certfile == NULL) != (s->keyfile == NULL)) {
		snprintf(err, errlen, "%s without %s",
		         s->certfile ? "certfile" : "keyfile",
		         s->certfile ? "keyfile" : "certfile");
		return NULL;
	}
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "cannot make a TLS context: %s", why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, s->tls_version == HF_TLS_V13
	                                       ? TLS1_3_VERSION
	                                       : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_NO_COMPRESSION |
	                             SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* What the trio relies on (see the file comment). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	                          SSL_MODE_ENABLE_PARTIAL_WRITE |
	                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_info_callback(ctx, info_cb);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int rc = 0;
	if (s->cafile)
		rc = client_load(ctx, CF_CAFILE, s->cafile, s->certfile, err,
		                 errlen);
	if (rc == 0 && s->capath)
		rc = client_load(ctx, CF_CAPATH, s->capath, s->certfile, err,
		                 errlen);
	if (rc == 0 && !s->cafile && !s->capath &&
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "cannot load the default CAs: %s", why);
		rc = -1;
	}
	if (rc == 0 && s->certfile)
		rc = client_load(ctx, CF_CERTFILE, s->certfile, s->certfile,
		                 err, errlen);
	if (rc == 0 && s->keyfile)
		rc = client_load(ctx, CF_KEYFILE, s->keyfile, s->certfile, err,
		                 errlen);
	if (rc == 0 && s->certfile) {
		ERR_clear_error();
		if (SSL_CTX_check_private_key(ctx) != 1) {
			ssl_reason(why, sizeof(why));
			snprintf(err, errlen,
			         "keyfile %s does not match certfile %s: %s",
			         s->keyfile, s->certfile, why);
			rc = -1;
		}
	}
	if (rc != 0) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	return ctx;
}

static bool
is_ip_literal(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

void *
hf_tls_client_new(const struct hf_dial_tls *s, const char *host, int fd,
                  char *err, size_t errlen)
{
	SSL_CTX *ctx = client_ctx(s, err, errlen);
	if (!ctx)
		return NULL;
	struct tls_conn *t = calloc(1, sizeof(*t));
	bool ip = is_ip_literal(host);
	int ok = t && (t->ssl = SSL_new(ctx)) && SSL_set_fd(t->ssl, fd) &&
	         SSL_set_app_data(t->ssl, t);
	SSL_CTX_free(ctx); /* the SSL holds its own reference */
	/* SNI for a name only (RFC 6066 3: no literal addresses); the name
	 * or the address checked against the certificate unless insecure. */
	if (ok && !ip)
		ok = SSL_set_tlsext_host_name(t->ssl, host);
	if (ok && !s->insecure) {
		X509_VERIFY_PARAM *p = SSL_get0_param(t->ssl);
		X509_VERIFY_PARAM_set_hostflags(
		    p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(p, host)
		        : X509_VERIFY_PARAM_set1_host(p, host, 0);
	}
	if (!ok) {
		char why[256];
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "cannot set up TLS for %s: %s", host,
		         t ? why : "out of memory");
		if (t)
			SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	SSL_set_connect_state(t->ssl);
	return t;
}

int
hf_tls_client_handshake(void *io, int *want, char *why, size_t whylen)
{
	struct tls_conn *t = io;
	char r[256];
	if (t->flags & T_FAILED) {
		snprintf(why, whylen, "failed before");
		return HF_IO_ERR;
	}
	ERR_clear_error();
	int rc = SSL_do_handshake(t->ssl);
	int e = errno;
	if (rc == 1) {
		if (established(t) == 0)
			return 0;
		snprintf(why, whylen, "out of memory");
		return HF_IO_ERR;
	}
	int err = SSL_get_error(t->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		*want = err == SSL_ERROR_WANT_READ ? HF_IO_WANT_READ
		                                   : HF_IO_WANT_WRITE;
		return HF_IO_AGAIN;
	}
	t->flags |= T_FAILED;
	if (err == SSL_ERROR_ZERO_RETURN ||
	    (err == SSL_ERROR_SYSCALL && (rc == 0 || e == 0))) {
		ERR_clear_error();
		snprintf(why, whylen, "the server closed the connection");
	} else if (err == SSL_ERROR_SYSCALL) {
		ERR_clear_error();
		snprintf(why, whylen, "%s", strerror(e));
	} else {
		ssl_reason(r, sizeof(r));
		long v = SSL_get_verify_result(t->ssl);
		if (v != X509_V_OK)
			snprintf(why, whylen, "%s (server certificate: %s)", r,
			         X509_verify_cert_error_string(v));
		else
			snprintf(why, whylen, "%s", r);
	}
	return HF_IO_ERR;
}
