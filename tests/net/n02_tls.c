/* tests/net/n02_tls.c - the TLS transport (broker/net/tls.c) through the
 * listener layer and the stream, without the engine: an acceptor of the
 * test's own stands where the engine would, and an OpenSSL client of the
 * test's own (non-blocking, driven between loop steps) on real loopback
 * sockets. The PKI comes from tests/helpers/mkpki.sh (HF_PKI_DIR, made by
 * the CTest fixture).
 *
 *   echo           handshake, data both ways, no client certificate asked
 *                  for (identity NULL); the peer's close: eof, closed once;
 *   identity       require_certificate: the subject in RFC 2253 form (the
 *                  same string `openssl x509 -nameopt RFC2253` prints,
 *                  which is mosquitto's use_subject_as_username) and the
 *                  CN; without a certificate the handshake fails, logged
 *                  once with the reason;
 *   held_records   300 one-byte records in one burst: read-ahead takes
 *                  them from the socket at once, so everything after the
 *                  first read is input poll cannot see (pending_input);
 *                  all arrive, with no new bytes on the socket;
 *   big_both_ways  8 MiB to a client that does not read yet, in two writes
 *                  (the second while the first waits: the retried buffer
 *                  moves and grows), pending() counts it, drained() comes
 *                  once when the client has read it all, in order; 2 MiB
 *                  the other way;
 *   close_notify   the server's close: the client reads a clean TLS close
 *                  (close_notify), then the FIN;
 *   garbage        bytes that are not TLS: closed, logged once;
 *   unfinished     half a ClientHello, then the server closes (as
 *                  connect_timeout does): only a FIN, no log line;
 *   renegotiate    a TLS 1.2 client asking to renegotiate: refused, the
 *                  connection closed, logged once;
 *   versions       a TLS 1.2 client on a tlsv1.3 listener is refused; 1.2
 *                  and 1.3 on a default listener are accepted;
 *   reload         hf_net_reload_tls: a new certificate for new
 *                  connections, the old connection still served; a file
 *                  that does not load keeps the current one, naming the
 *                  option's FILE:LINE;
 *   check          hf_net_check on good and bad files (each reported).
 * The loop runs in small bounded steps (uv_run NOWAIT) with deadlines.
 * Single-threaded. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "io.h"
#include "net.h"
#include "test.h"

#define PKI HF_PKI_DIR "/"

struct side {
	struct hf_conn *c;
	uint8_t *got;
	size_t n, cap;
	int eofs, closeds, drains;
	bool echo;
};

static int accepted;
static struct side *last;
static struct side sides[8];

static void
ev_data(void *owner, const uint8_t *p, size_t n)
{
	struct side *s = owner;
	if (s->n + n > s->cap) {
		size_t cap = (s->n + n) * 2;
		s->got = realloc(s->got, cap);
		s->cap = cap;
	}
	memcpy(s->got + s->n, p, n);
	s->n += n;
	if (s->echo) {
		struct hf_wbuf w = {0};
		hf_wbuf_put(&w, p, n);
		s->c->ops->write(s->c, &w);
		hf_wbuf_free(&w);
	}
}

static void
ev_drained(void *owner)
{
	((struct side *)owner)->drains++;
}

static void
ev_eof(void *owner)
{
	struct side *s = owner;
	s->eofs++;
	s->c->ops->close(s->c);
}

static void
ev_closed(void *owner)
{
	struct side *s = owner;
	s->closeds++;
	s->c = NULL;
}

static const struct hf_conn_events events = {ev_data, ev_drained, ev_eof,
                                             ev_closed};

static int
accept_cb(void *ctx, struct hf_conn *c)
{
	struct side *s = &sides[accepted++ % 8];
	free(s->got);
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->echo = ctx != NULL;
	c->ev = &events;
	c->owner = s;
	last = s;
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define RUN_UNTIL(loop, cond, ms)                                              \
	do {                                                                   \
		int64_t end_ = now_ms() + (ms);                                \
		while (!(cond) && now_ms() < end_) {                           \
			uv_run((loop), UV_RUN_NOWAIT);                         \
			usleep(500);                                           \
		}                                                              \
	} while (0)

static uv_loop_t loop;
static struct hf_config conf;
static struct hf_logger logger;
static struct hf_net *net;
static char logpath[256];
static char tmpdir[128];

/* What a test changes in the listener's TLS settings. */
struct tls_opts {
	const char *cert, *key, *ca, *crl;
	bool require;
	int version;
};

static char *
dupe(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int
open_tls_net(const struct tls_opts *o, bool echo)
{
	static int flag;
	struct hf_acceptor acc = {accept_cb, echo ? &flag : NULL};
	hf_config_init(&conf);
	conf.listeners = calloc(1, sizeof(*conf.listeners));
	conf.n_listeners = 1;
	struct hf_listener_conf *l = &conf.listeners[0];
	l->bind_address = strdup("127.0.0.1");
	l->socket_domain = AF_INET;
	l->max_connections = -1;
	l->certfile = dupe(o->cert ? o->cert : PKI "server.crt");
	l->keyfile = dupe(o->key ? o->key : PKI "server.key");
	l->cafile = dupe(o->ca);
	l->crlfile = dupe(o->crl);
	l->require_certificate = o->require;
	l->tls_version = o->version;
	l->tls_at[HF_TLSK_CERTFILE] = strdup("t.conf:7");
	l->tls_at[HF_TLSK_KEYFILE] = strdup("t.conf:8");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hf-n02-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	conf.log_dest = HF_LOGD_FILE;
	conf.log_file = strdup(logpath);
	conf.log_types = HF_LOG_ALL;
	conf.log_timestamp = false;
	hf_log_open(&logger, &conf);
	uv_loop_init(&loop);
	accepted = 0;
	static struct hf_auth *const no_auth[1] = {NULL};
	return hf_net_open(&net, &loop, &conf, &logger, &acc, no_auth);
}

static void
close_net(void)
{
	hf_net_stop(net);
	for (int i = 0; i < 8; i++)
		if (sides[i].c)
			sides[i].c->ops->close(sides[i].c);
	RUN_UNTIL(&loop, 0, 100);
	uv_run(&loop, UV_RUN_DEFAULT);
	hf_net_free(net);
	net = NULL;
	uv_loop_close(&loop);
	hf_log_close(&logger);
	hf_config_free(&conf);
	for (int i = 0; i < 8; i++)
		free(sides[i].got);
	memset(sides, 0, sizeof(sides));
	unlink(logpath);
	rmdir(tmpdir);
}

/* How many times needle is in the log. */
static int
log_count(const char *needle)
{
	char buf[1 << 16];
	FILE *f = fopen(logpath, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	int count = 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	for (const char *p = buf; (p = strstr(p, needle)); p++)
		count++;
	return count;
}

static int
raw_client(uint16_t port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* ---- the test's TLS client ---------------------------------------------- */

struct tcli {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static void
tcli_free(struct tcli *t)
{
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

/* A client of the server's CA, with certificate NAME (NULL: none), at
 * most TLS version max (0: any). */
static int
tcli_new(struct tcli *t, uint16_t port, const char *name, int max)
{
	char crt[256], key[256];
	memset(t, 0, sizeof(*t));
	t->fd = raw_client(port);
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->fd < 0 || !t->ctx)
		return -1;
	SSL_CTX_load_verify_file(t->ctx, PKI "ca.crt");
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (max)
		SSL_CTX_set_max_proto_version(t->ctx, max);
	if (name) {
		snprintf(crt, sizeof(crt), PKI "%s.crt", name);
		snprintf(key, sizeof(key), PKI "%s.key", name);
		if (SSL_CTX_use_certificate_file(t->ctx, crt,
		                                 SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(t->ctx, key,
		                                SSL_FILETYPE_PEM) != 1)
			return -1;
	}
	t->ssl = SSL_new(t->ctx);
	SSL_set_fd(t->ssl, t->fd);
	SSL_set_connect_state(t->ssl);
	SSL_set1_host(t->ssl, "localhost");
	return 0;
}

/* Step the loop until f(t) stops wanting I/O: its result (> 0 done). */
static int
tcli_drive(struct tcli *t, int (*f)(SSL *), int ms)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		ERR_clear_error();
		int rc = f(t->ssl);
		if (rc > 0)
			return rc;
		int e = SSL_get_error(t->ssl, rc);
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    now_ms() > end)
			return rc;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(200);
	}
}

static int
tcli_handshake(struct tcli *t)
{
	return tcli_drive(t, SSL_do_handshake, 3000) == 1 ? 0 : -1;
}

static int
tcli_write(struct tcli *t, const void *p, size_t n)
{
	size_t off = 0;
	int64_t end = now_ms() + 5000;
	while (off < n && now_ms() < end) {
		ERR_clear_error();
		int rc =
		    SSL_write(t->ssl, (const char *)p + off, (int)(n - off));
		if (rc > 0) {
			off += (size_t)rc;
			continue;
		}
		int e = SSL_get_error(t->ssl, rc);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return -1;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(200);
	}
	return off == n ? 0 : -1;
}

/* Read exactly n bytes into p (or until error/close): bytes read. */
static size_t
tcli_read(struct tcli *t, void *p, size_t n, int ms)
{
	size_t off = 0;
	int64_t end = now_ms() + ms;
	while (off < n && now_ms() < end) {
		ERR_clear_error();
		int rc = SSL_read(t->ssl, (char *)p + off, (int)(n - off));
		if (rc > 0) {
			off += (size_t)rc;
			continue;
		}
		int e = SSL_get_error(t->ssl, rc);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			break;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(200);
	}
	return off;
}

/* The CN of the server's certificate. */
static void
server_cn(struct tcli *t, char *out, size_t outlen)
{
	X509 *x = SSL_get0_peer_certificate(t->ssl);
	out[0] = '\0';
	if (x)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		                          NID_commonName, out, (int)outlen);
}

/* ---- cases ----------------------------------------------------------- */

static void
echo(void)
{
	struct tls_opts o = {0};
	struct tcli t;
	char buf[16];
	CHECK_EQ(open_tls_net(&o, true), 0);
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&t), 0);
	CHECK_EQ(accepted, 1);
	struct side *s = last;
	CHECK(s->c->ops->identity(s->c) == NULL); /* none asked for */
	CHECK_EQ(tcli_write(&t, "hello", 5), 0);
	CHECK_EQ(tcli_read(&t, buf, 5, 3000), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK(s->n == 5);
	tcli_drive(&t, SSL_shutdown, 100); /* our close_notify */
	tcli_free(&t);
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	CHECK_EQ(s->eofs, 1);
	CHECK_EQ(s->closeds, 1);
	CHECK_EQ(log_count("failed"), 0);
	CHECK_EQ(log_count("TLS connection from 127.0.0.1:"), 1);
	close_net();
}

static void
identity(void)
{
	struct tls_opts o = {.ca = PKI "ca.crt", .require = true};
	struct tcli t;
	char want[256] = "", cmd[512];
	CHECK_EQ(open_tls_net(&o, false), 0);
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), "agent-a", 0), 0);
	CHECK_EQ(tcli_handshake(&t), 0);
	CHECK_EQ(tcli_write(&t, "x", 1), 0); /* the server's side is done */
	struct side *s = last;
	RUN_UNTIL(&loop, s->n == 1, 3000);
	const struct hf_peer_identity *id = s->c->ops->identity(s->c);
	CHECK(id != NULL);
	CHECK(strcmp(id->subject, "CN=agent-a,OU=Agents,O=Holdfast Test") == 0);
	CHECK(strcmp(id->cn, "agent-a") == 0);
	/* the openssl command line prints the same string */
	snprintf(cmd, sizeof(cmd),
	         "openssl x509 -in " PKI "agent-a.crt -noout -subject "
	         "-nameopt RFC2253");
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	if (!fgets(want, sizeof(want), p))
		want[0] = '\0';
	pclose(p);
	want[strcspn(want, "\n")] = '\0';
	CHECK(strncmp(want, "subject=", 8) == 0);
	CHECK(strcmp(id->subject, want + 8) == 0);
	tcli_free(&t);

	/* no certificate: refused, logged once */
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL, 0), 0);
	tcli_handshake(&t); /* TLS 1.3: the client may think it is done */
	char b;
	tcli_read(&t, &b, 1, 500);
	s = last;
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	CHECK_EQ(s->closeds, 1);
	CHECK_EQ(log_count("peer did not return a certificate"), 1);
	tcli_free(&t);
	close_net();
}

static void
held_records(void)
{
	struct tls_opts o = {0};
	struct tcli t;
	CHECK_EQ(open_tls_net(&o, false), 0);
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&t), 0);
	struct side *s = last;
	/* Let the server finish its side (tickets) first. */
	CHECK_EQ(tcli_write(&t, "<", 1), 0);
	RUN_UNTIL(&loop, s->n == 1, 3000);
	CHECK_EQ(s->n, 1);
	/* 300 records, written while the loop does not run. */
	for (int i = 0; i < 300; i++) {
		char ch = (char)('a' + i % 26);
		CHECK_EQ(SSL_write(t.ssl, &ch, 1), 1);
	}
	RUN_UNTIL(&loop, s->n == 301, 3000);
	CHECK_EQ(s->n, 301); /* far past READS_PER_WAKE (16) */
	for (int i = 0; i < 300; i++)
		CHECK_EQ(s->got[1 + i], 'a' + i % 26);
	tcli_free(&t);
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	close_net();
}

static void
big_both_ways(void)
{
	enum { HALF = 4 << 20, UP = 2 << 20 };
	struct tls_opts o = {0};
	struct tcli t;
	uint8_t *big = malloc(2 * HALF), *in = malloc(2 * HALF);
	CHECK(big && in);
	for (size_t i = 0; i < 2 * HALF; i++)
		big[i] = (uint8_t)(i * 7 + i / 65536);
	CHECK_EQ(open_tls_net(&o, false), 0);
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&t), 0);
	CHECK_EQ(tcli_write(&t, "<", 1), 0);
	struct side *s = last;
	RUN_UNTIL(&loop, s->n == 1, 3000);
	struct hf_wbuf w = {0};
	hf_wbuf_put(&w, big, HALF);
	CHECK_EQ(s->c->ops->write(s->c, &w), 0);
	CHECK(s->c->ops->pending(s->c) > 0);
	RUN_UNTIL(&loop, 0, 50);
	w.len = 0;
	hf_wbuf_put(&w, big + HALF, HALF); /* behind what waits */
	CHECK_EQ(s->c->ops->write(s->c, &w), 0);
	hf_wbuf_free(&w);
	CHECK(s->c->ops->pending(s->c) > HALF);
	CHECK_EQ(s->drains, 0);
	CHECK_EQ(tcli_read(&t, in, 2 * HALF, 20000), 2 * HALF);
	CHECK(memcmp(in, big, 2 * HALF) == 0);
	RUN_UNTIL(&loop, s->drains == 1, 3000);
	CHECK_EQ(s->drains, 1);
	CHECK_EQ(s->c->ops->pending(s->c), 0);
	/* and the other way */
	CHECK_EQ(tcli_write(&t, big, UP), 0);
	RUN_UNTIL(&loop, s->n == 1 + UP, 5000);
	CHECK_EQ(s->n, 1 + UP);
	CHECK(memcmp(s->got + 1, big, UP) == 0);
	tcli_free(&t);
	free(big);
	free(in);
	close_net();
}

static void
close_notify(void)
{
	struct tls_opts o = {0};
	struct tcli t;
	char b;
	CHECK_EQ(open_tls_net(&o, false), 0);
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&t), 0);
	CHECK_EQ(tcli_write(&t, "<", 1), 0);
	struct side *s = last;
	RUN_UNTIL(&loop, s->n == 1, 3000);
	s->c->ops->close(s->c);
	CHECK_EQ(tcli_read(&t, &b, 1, 3000), 0);
	CHECK_EQ(SSL_get_error(t.ssl, 0), SSL_ERROR_ZERO_RETURN);
	CHECK(SSL_get_shutdown(t.ssl) & SSL_RECEIVED_SHUTDOWN);
	ssize_t n = -1;
	RUN_UNTIL(&loop, (n = recv(t.fd, &b, 1, 0)) == 0, 3000);
	CHECK_EQ(n, 0); /* then the FIN */
	tcli_free(&t);
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	CHECK_EQ(s->closeds, 1);
	close_net();
}

static void
garbage(void)
{
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct tls_opts o = {0};
	char b[64];
	CHECK_EQ(open_tls_net(&o, false), 0);
	int fd = raw_client(hf_net_port(net, 0));
	CHECK(fd >= 0);
	RUN_UNTIL(&loop, accepted == 1, 2000);
	struct side *s = last;
	CHECK_EQ(send(fd, junk, sizeof(junk) - 1, 0),
	         (ssize_t)sizeof(junk) - 1);
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	CHECK_EQ(s->eofs, 1);
	CHECK_EQ(s->closeds, 1);
	CHECK_EQ(s->n, 0);
	ssize_t n = 1;
	RUN_UNTIL(&loop,
	          (n = recv(fd, b, sizeof(b), 0)) <= 0 && errno != EAGAIN,
	          2000);
	CHECK(n <= 0);
	CHECK_EQ(log_count("failed: TLS handshake:"), 1);
	CHECK_EQ(log_count("http request"), 1);
	close(fd);
	close_net();
}

static void
unfinished(void)
{
	/* A TLS record header announcing 512 bytes of handshake, and 4 of
	 * them. */
	static const uint8_t part[] = {0x16, 0x03, 0x01, 0x02, 0x00,
	                               0x01, 0x00, 0x01, 0xfc};
	struct tls_opts o = {0};
	char b;
	CHECK_EQ(open_tls_net(&o, false), 0);
	int fd = raw_client(hf_net_port(net, 0));
	RUN_UNTIL(&loop, accepted == 1, 2000);
	struct side *s = last;
	CHECK_EQ(send(fd, part, sizeof(part), 0), (ssize_t)sizeof(part));
	RUN_UNTIL(&loop, 0, 100);
	CHECK_EQ(s->closeds, 0); /* waiting for the rest */
	s->c->ops->close(s->c);  /* what connect_timeout does */
	ssize_t n = -1;
	RUN_UNTIL(&loop, (n = recv(fd, &b, 1, 0)) == 0, 3000);
	CHECK_EQ(n, 0); /* a FIN, nothing else */
	close(fd);
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	CHECK_EQ(s->closeds, 1);
	CHECK_EQ(log_count("failed"), 0);
	close_net();
}

static void
renegotiate(void)
{
	struct tls_opts o = {0};
	struct tcli t, u;
	char b[8];
	CHECK_EQ(open_tls_net(&o, true), 0);
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL, TLS1_2_VERSION), 0);
	CHECK_EQ(tcli_handshake(&t), 0);
	CHECK(SSL_version(t.ssl) == TLS1_2_VERSION);
	struct side *s = last;
	CHECK_EQ(tcli_write(&t, "a", 1), 0);
	CHECK_EQ(tcli_read(&t, b, 1, 3000), 1);
	CHECK_EQ(SSL_renegotiate(t.ssl), 1);
	CHECK(tcli_drive(&t, SSL_do_handshake, 3000) <= 0); /* refused */
	RUN_UNTIL(&loop, s->closeds == 1, 3000);
	CHECK_EQ(s->closeds, 1);
	CHECK_EQ(log_count("TLS renegotiation is refused"), 1);
	tcli_free(&t);
	/* the listener serves on */
	CHECK_EQ(tcli_new(&u, hf_net_port(net, 0), NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&u), 0);
	CHECK_EQ(tcli_write(&u, "b", 1), 0);
	CHECK_EQ(tcli_read(&u, b, 1, 3000), 1);
	tcli_free(&u);
	close_net();
}

static void
versions(void)
{
	struct tls_opts o13 = {.version = HF_TLS_V13}, o = {0};
	struct tcli t;
	char b;
	CHECK_EQ(open_tls_net(&o13, false), 0);
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL, TLS1_2_VERSION), 0);
	CHECK_EQ(tcli_handshake(&t), -1);
	tcli_free(&t);
	RUN_UNTIL(&loop, last && last->closeds == 1, 3000);
	CHECK_EQ(log_count("unsupported protocol"), 1);
	CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&t), 0);
	CHECK(SSL_version(t.ssl) == TLS1_3_VERSION);
	tcli_free(&t);
	close_net();

	CHECK_EQ(open_tls_net(&o, true), 0);
	for (int v = 0; v < 2; v++) {
		CHECK_EQ(tcli_new(&t, hf_net_port(net, 0), NULL,
		                  v ? TLS1_3_VERSION : TLS1_2_VERSION),
		         0);
		CHECK_EQ(tcli_handshake(&t), 0);
		CHECK(SSL_version(t.ssl) ==
		      (v ? TLS1_3_VERSION : TLS1_2_VERSION));
		CHECK_EQ(tcli_write(&t, "v", 1), 0);
		CHECK_EQ(tcli_read(&t, &b, 1, 3000), 1);
		tcli_free(&t);
	}
	close_net();
}

static int
copy_file(const char *from, const char *to)
{
	char buf[8192];
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	size_t n;
	int rc = a && b ? 0 : -1;
	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), a)) > 0)
		if (fwrite(buf, 1, n, b) != n)
			rc = -1;
	if (a)
		fclose(a);
	if (b && fclose(b) != 0)
		rc = -1;
	return rc;
}

static void
reload(void)
{
	char crt[300], key[300], err[512], cn[64], b[4];
	struct tcli t1, t2, t3;
	char dir[] = "/tmp/hf-n02-reload-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	snprintf(crt, sizeof(crt), "%s/server.crt", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	CHECK_EQ(copy_file(PKI "server.crt", crt), 0);
	CHECK_EQ(copy_file(PKI "server.key", key), 0);
	struct tls_opts o = {.cert = crt, .key = key};
	CHECK_EQ(open_tls_net(&o, true), 0);
	uint16_t port = hf_net_port(net, 0);
	CHECK_EQ(tcli_new(&t1, port, NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&t1), 0);
	server_cn(&t1, cn, sizeof(cn));
	CHECK(strcmp(cn, "localhost") == 0);

	/* new files: new connections get them, the old one is served on */
	CHECK_EQ(copy_file(PKI "server2.crt", crt), 0);
	CHECK_EQ(copy_file(PKI "server2.key", key), 0);
	CHECK_EQ(hf_net_reload_tls(net, err, sizeof(err)), 0);
	CHECK_EQ(tcli_new(&t2, port, NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&t2), 0);
	server_cn(&t2, cn, sizeof(cn));
	CHECK(strcmp(cn, "localhost-2") == 0);
	CHECK_EQ(tcli_write(&t1, "old", 3), 0);
	CHECK_EQ(tcli_read(&t1, b, 3, 3000), 3);
	CHECK(memcmp(b, "old", 3) == 0);

	/* a certificate that does not load: nothing changes */
	CHECK_EQ(copy_file(PKI "garbage.pem", crt), 0);
	CHECK_EQ(hf_net_reload_tls(net, err, sizeof(err)), -1);
	CHECK(strncmp(err, "t.conf:7: certfile: ", 20) == 0);
	CHECK(strstr(err, "no start line") != NULL);
	/* a key that does not match: nothing changes, keyfile named */
	CHECK_EQ(copy_file(PKI "server.crt", crt), 0);
	CHECK_EQ(hf_net_reload_tls(net, err, sizeof(err)), -1);
	CHECK(strncmp(err, "t.conf:8: keyfile: ", 19) == 0);
	CHECK(strstr(err, "does not match certfile") != NULL);
	CHECK_EQ(tcli_new(&t3, port, NULL, 0), 0);
	CHECK_EQ(tcli_handshake(&t3), 0);
	server_cn(&t3, cn, sizeof(cn));
	CHECK(strcmp(cn, "localhost-2") == 0);
	CHECK_EQ(tcli_write(&t3, "new", 3), 0);
	CHECK_EQ(tcli_read(&t3, b, 3, 3000), 3);
	CHECK_EQ(tcli_write(&t2, "two", 3), 0);
	CHECK_EQ(tcli_read(&t2, b, 3, 3000), 3);
	tcli_free(&t1);
	tcli_free(&t2);
	tcli_free(&t3);
	close_net();
	unlink(crt);
	unlink(key);
	rmdir(dir);
}

/* hf_net_check's report: the last error, kept. */
static void
keep_err(void *ctx, const char *err)
{
	snprintf(ctx, 512, "%s", err);
}

static void
check(void)
{
	struct hf_config c;
	char err[512] = "";
	hf_config_init(&c);
	c.listeners = calloc(2, sizeof(*c.listeners));
	c.n_listeners = 2;
	struct hf_listener_conf *l = &c.listeners[1];
	CHECK_EQ(hf_net_check(&c, keep_err, err), 0); /* no TLS */
	l->certfile = strdup(PKI "server.crt");
	l->keyfile = strdup(PKI "server.key");
	l->cafile = strdup(PKI "ca.crt");
	l->crlfile = strdup(PKI "crl.pem");
	l->dhparamfile = strdup(PKI "dhparam.pem");
	l->require_certificate = true;
	CHECK_EQ(hf_net_check(&c, keep_err, err), 0);
	free(l->crlfile);
	l->crlfile = strdup(PKI "ca.key"); /* not a CRL */
	l->tls_at[HF_TLSK_CRLFILE] = strdup("x.conf:3");
	CHECK_EQ(hf_net_check(&c, keep_err, err), 1);
	CHECK(strncmp(err, "x.conf:3: crlfile: ", 19) == 0);
	hf_config_free(&c);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as broker/main.c: OpenSSL write()s */
	HF_RUN(echo);
	HF_RUN(identity);
	HF_RUN(held_records);
	HF_RUN(big_both_ways);
	HF_RUN(close_notify);
	HF_RUN(garbage);
	HF_RUN(unfinished);
	HF_RUN(renegotiate);
	HF_RUN(versions);
	HF_RUN(reload);
	HF_RUN(check);
	return HF_DONE();
}
