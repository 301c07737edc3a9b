/* tests/net/n04_dial.c - dialling out (hf_net_dial and the engine's
 * dialler, hf_net_dialer) over TCP and TLS, driven on a uv loop of the
 * test's own, against a real Holdfast broker (tests/helpers/broker_proc)
 * with two TLS listeners: the harness's (server.crt, require_certificate
 * true, CA ca.crt) and a second one whose certificate names only
 * elsewhere.invalid (made by the test, signed by the test CA). The PKI is
 * tests/helpers/mkpki.sh's (HF_PKI_DIR, the CTest fixture).
 *
 *   good_ca         CA file and a client certificate: the acceptor gets
 *                   an outgoing connection; a CONNECT written to it gets
 *                   a CONNACK back; the server's identity is its cert's;
 *   good_capath     the CA directory, TLS 1.3 minimum, the name localhost
 *                   (SNI and the name check), through hf_net_dial;
 *   no_client_cert  no client certificate for a listener that requires
 *                   one: never a CONNACK (failed(), or with TLS 1.3 the
 *                   handshake ends on our side and the server's alert
 *                   comes as eof);
 *   wrong_ca        another CA: failed() once, why naming host:port and
 *                   the certificate check's reason, never the acceptor;
 *   mismatch        the certificate names another host: failed() for the
 *                   IP literal and for localhost (the X509 reason in
 *                   why); with insecure it connects and gets a CONNACK;
 *   refused         a closed port: failed() with "Connection refused";
 *   timeout         a socket that listens and never answers: the TLS
 *                   handshake times out (timeout_ms), failed() once;
 *   bad_files       a missing CA file or a key that does not match the
 *                   certificate: dial() returns -1 at once, err naming it;
 *   shutdown        hf_net_stop with a dial in progress: failed() once,
 *                   after hf_net_stop returns, "shutting down"; a new
 *                   dial returns -1 "shutting down".
 * Loopback only; every wait is bounded. Single-threaded. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker_proc.h"
#include "io.h"
#include "net.h"
#include "test.h"

#define PKI HF_PKI_DIR "/"

/* What one dial came to. */
struct result {
	struct hf_conn *c;
	int accepted, fails, eofs, closeds;
	char why[600];
	uint8_t got[256];
	size_t n;
};

static struct result r;
static uv_loop_t loop;
static struct hf_config conf;
static struct hf_logger logger;
static struct hf_net *net;
static struct hf_bproc broker;
static uint16_t port_good, port_elsewhere;
static char tmpdir[64];

static void
ev_data(void *owner, const uint8_t *p, size_t n)
{
	struct result *x = owner;
	size_t room = sizeof(x->got) - x->n;
	memcpy(x->got + x->n, p, n < room ? n : room);
	x->n += n < room ? n : room;
}

static void
ev_drained(void *owner)
{
	(void)owner;
}

static void
ev_eof(void *owner)
{
	struct result *x = owner;
	x->eofs++;
	x->c->ops->close(x->c);
}

static void
ev_closed(void *owner)
{
	struct result *x = owner;
	x->closeds++;
	x->c = NULL;
}

static const struct hf_conn_events events = {ev_data, ev_drained, ev_eof,
                                             ev_closed};

static int
on_accept(void *ctx, struct hf_conn *c)
{
	struct result *x = ctx;
	x->accepted++;
	x->c = c;
	c->ev = &events;
	c->owner = x;
	return 0;
}

static void
on_failed(void *ctx, const char *why)
{
	struct result *x = ctx;
	x->fails++;
	snprintf(x->why, sizeof(x->why), "%s", why);
	fprintf(stderr, "   failed: %s\n", why);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define RUN_UNTIL(cond, ms)                                                    \
	do {                                                                   \
		int64_t end_ = now_ms() + (ms);                                \
		while (!(cond) && now_ms() < end_) {                           \
			uv_run(&loop, UV_RUN_NOWAIT);                          \
			usleep(1000);                                          \
		}                                                              \
	} while (0)

static int
open_net(void)
{
	static struct hf_auth *const no_auth[1] = {NULL};
	struct hf_acceptor acc = {on_accept, &r};
	hf_config_init(&conf);
	conf.log_dest = 0;
	hf_log_open(&logger, &conf);
	uv_loop_init(&loop);
	memset(&r, 0, sizeof(r));
	return hf_net_open(&net, &loop, &conf, &logger, &acc, no_auth);
}

static void
close_net(void)
{
	hf_net_stop(net);
	if (r.c)
		r.c->ops->close(r.c);
	RUN_UNTIL(0, 100);
	uv_run(&loop, UV_RUN_DEFAULT);
	hf_net_free(net);
	net = NULL;
	uv_loop_close(&loop);
	hf_log_close(&logger);
	hf_config_free(&conf);
}

/* Dial through the engine's dialler; 0 or -1 (err filled). */
static int
dial(const char *host, uint16_t port, const struct hf_dial_tls *tls, char *err,
     size_t errlen)
{
	struct hf_dialer dl = hf_net_dialer(net);
	struct hf_acceptor acc = {on_accept, &r};
	memset(&r, 0, sizeof(r));
	return dl.dial(dl.dctx, host, port, tls, acc, on_failed, &r, err,
	               errlen);
}

/* An MQTT 3.1.1 CONNECT (client id "n04-dial", keepalive 60) on the
 * dialled connection, and its CONNACK (accepted) back. */
static bool
connack_roundtrip(void)
{
	static const uint8_t connect[] = {
	    0x10, 20, 0, 4,   'M', 'Q', 'T', 'T', 4,   2,   0,
	    60,   0,  8, 'n', '0', '4', '-', 'd', 'i', 'a', 'l'};
	static const uint8_t connack[] = {0x20, 2, 0, 0};
	struct hf_wbuf w = {0};
	if (!r.c || hf_wbuf_put(&w, connect, sizeof(connect)) != HF_OK)
		return false;
	int rc = r.c->ops->write(r.c, &w);
	hf_wbuf_free(&w);
	if (rc != 0)
		return false;
	RUN_UNTIL(r.n >= sizeof(connack) || r.eofs, 5000);
	return r.n >= sizeof(connack) &&
	       memcmp(r.got, connack, sizeof(connack)) == 0;
}

static void
close_conn(void)
{
	if (r.c)
		r.c->ops->close(r.c);
	RUN_UNTIL(r.closeds == 1, 5000);
}

static void
good_ca(void)
{
	char err[256];
	struct hf_dial_tls tls = {.cafile = PKI "ca.crt",
	                          .certfile = PKI "agent-a.crt",
	                          .keyfile = PKI "agent-a.key"};
	CHECK_EQ(open_net(), 0);
	CHECK_EQ(dial("127.0.0.1", port_good, &tls, err, sizeof(err)), 0);
	CHECK_EQ(r.accepted + r.fails, 0); /* never from inside dial() */
	RUN_UNTIL(r.accepted || r.fails, 5000);
	CHECK_EQ(r.fails, 0);
	CHECK_EQ(r.accepted, 1);
	CHECK(r.c->policy->outgoing);
	CHECK(r.c->policy->conf == NULL);
	const struct hf_peer_identity *id = r.c->ops->identity(r.c);
	CHECK(id != NULL && id->cn != NULL);
	CHECK(strcmp(id->cn, "localhost") == 0); /* the server's */
	CHECK(connack_roundtrip());
	close_conn();
	CHECK_EQ(r.closeds, 1);
	CHECK_EQ(r.fails, 0);
	close_net();
}

static bool
localhost_is_v4(void)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo("localhost", "1", &hints, &res) != 0)
		return false;
	bool v4 = res->ai_family == AF_INET &&
	          ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr ==
	              htonl(INADDR_LOOPBACK);
	freeaddrinfo(res);
	return v4;
}

static void
good_capath(void)
{
	if (!localhost_is_v4()) {
		fprintf(stderr,
		        "   skipped: localhost is not 127.0.0.1 first\n");
		return;
	}
	struct hf_dial_tls tls = {.capath = PKI "capath",
	                          .certfile = PKI "agent-b.crt",
	                          .keyfile = PKI "agent-b.key",
	                          .tls_version = 1};
	CHECK_EQ(open_net(), 0);
	struct hf_dial d = {.host = "localhost",
	                    .port = port_good,
	                    .acc = {on_accept, &r},
	                    .failed = on_failed,
	                    .ctx = &r,
	                    .tls = &tls};
	CHECK_EQ(hf_net_dial(net, &d), 0);
	RUN_UNTIL(r.accepted || r.fails, 5000);
	CHECK_EQ(r.fails, 0);
	CHECK_EQ(r.accepted, 1);
	CHECK(connack_roundtrip());
	close_conn();
	close_net();
}

static void
no_client_cert(void)
{
	char err[256];
	struct hf_dial_tls tls = {.cafile = PKI "ca.crt"};
	CHECK_EQ(open_net(), 0);
	CHECK_EQ(dial("127.0.0.1", port_good, &tls, err, sizeof(err)), 0);
	RUN_UNTIL(r.accepted || r.fails, 5000);
	CHECK_EQ(r.accepted + r.fails, 1);
	fprintf(stderr, "   %s\n",
	        r.accepted ? "handed over, then refused"
	                   : "failed in the handshake");
	if (r.accepted) {
		/* TLS 1.3: our side finished first; the refusal is an
		 * alert, read as the end of the connection. */
		CHECK(!connack_roundtrip());
		RUN_UNTIL(r.closeds == 1, 5000);
		CHECK_EQ(r.eofs, 1);
	}
	close_net();
}

static void
expect_failure(const char *host, uint16_t port, const struct hf_dial_tls *tls,
               const char *reason)
{
	char err[256], hp[64];
	CHECK_EQ(dial(host, port, tls, err, sizeof(err)), 0);
	RUN_UNTIL(r.fails, 5000);
	RUN_UNTIL(0, 100); /* nothing more comes */
	CHECK_EQ(r.fails, 1);
	CHECK_EQ(r.accepted, 0);
	snprintf(hp, sizeof(hp), "%s:%u: ", host, port);
	CHECK(strncmp(r.why, hp, strlen(hp)) == 0);
	CHECK(strstr(r.why, reason) != NULL);
}

static void
wrong_ca(void)
{
	struct hf_dial_tls tls = {.cafile = PKI "other-ca.crt",
	                          .certfile = PKI "agent-a.crt",
	                          .keyfile = PKI "agent-a.key"};
	CHECK_EQ(open_net(), 0);
	expect_failure("127.0.0.1", port_good, &tls,
	               "certificate verify failed (server certificate: ");
	close_net();
}

static void
mismatch(void)
{
	char err[256];
	struct hf_dial_tls tls = {.cafile = PKI "ca.crt"};
	CHECK_EQ(open_net(), 0);
	expect_failure("127.0.0.1", port_elsewhere, &tls,
	               "(server certificate: IP address mismatch)");
	if (localhost_is_v4())
		expect_failure("localhost", port_elsewhere, &tls,
		               "(server certificate: hostname mismatch)");
	tls.insecure = true;
	CHECK_EQ(dial("127.0.0.1", port_elsewhere, &tls, err, sizeof(err)), 0);
	RUN_UNTIL(r.accepted || r.fails, 5000);
	CHECK_EQ(r.fails, 0);
	CHECK_EQ(r.accepted, 1);
	CHECK(connack_roundtrip());
	close_conn();
	close_net();
}

/* A loopback port nobody listens on (bound, then freed). */
static uint16_t
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(s, (struct sockaddr *)&sa, &len);
	close(s);
	return ntohs(sa.sin_port);
}

static void
refused(void)
{
	struct hf_dial_tls tls = {.cafile = PKI "ca.crt"};
	CHECK_EQ(open_net(), 0);
	expect_failure("127.0.0.1", closed_port(), NULL, "Connection refused");
	expect_failure("127.0.0.1", closed_port(), &tls, "Connection refused");
	close_net();
}

/* A socket that listens (the kernel completes the TCP handshake) and
 * never reads: a TLS server that never answers. */
static int
silent_listener(uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s, 8) != 0) {
		close(s);
		return -1;
	}
	getsockname(s, (struct sockaddr *)&sa, &len);
	*port = ntohs(sa.sin_port);
	return s;
}

static void
timeout(void)
{
	struct hf_dial_tls tls = {.cafile = PKI "ca.crt"};
	uint16_t port;
	int s = silent_listener(&port);
	CHECK(s >= 0);
	CHECK_EQ(open_net(), 0);
	memset(&r, 0, sizeof(r));
	struct hf_dial d = {.host = "127.0.0.1",
	                    .port = port,
	                    .acc = {on_accept, &r},
	                    .failed = on_failed,
	                    .ctx = &r,
	                    .tls = &tls,
	                    .timeout_ms = 300};
	int64_t t0 = now_ms();
	CHECK_EQ(hf_net_dial(net, &d), 0);
	RUN_UNTIL(r.fails, 5000);
	int64_t took = now_ms() - t0;
	RUN_UNTIL(0, 100);
	close(s);
	CHECK_EQ(r.fails, 1);
	CHECK_EQ(r.accepted, 0);
	CHECK(took >= 250 && took < 3000);
	CHECK(strstr(r.why, "timed out after 300 ms in the TLS handshake"));
	close_net();
}

static void
bad_files(void)
{
	char err[256];
	struct hf_dial_tls missing = {.cafile = PKI "no-such-ca.crt"};
	struct hf_dial_tls wrong_key = {.cafile = PKI "ca.crt",
	                                .certfile = PKI "agent-a.crt",
	                                .keyfile = PKI "wrong.key"};
	struct hf_dial_tls half = {.cafile = PKI "ca.crt",
	                           .certfile = PKI "agent-a.crt"};
	CHECK_EQ(open_net(), 0);
	CHECK_EQ(dial("127.0.0.1", port_good, &missing, err, sizeof(err)), -1);
	fprintf(stderr, "   err: %s\n", err);
	CHECK(strstr(err, "cafile " PKI "no-such-ca.crt: No such file"));
	CHECK_EQ(dial("127.0.0.1", port_good, &wrong_key, err, sizeof(err)),
	         -1);
	fprintf(stderr, "   err: %s\n", err);
	CHECK(strstr(err, "wrong.key does not match certfile"));
	CHECK_EQ(dial("127.0.0.1", port_good, &half, err, sizeof(err)), -1);
	CHECK(strstr(err, "certfile without keyfile"));
	CHECK_EQ(dial("no-such-host.invalid", 1883, NULL, err, sizeof(err)),
	         -1);
	CHECK(strstr(err, "cannot resolve no-such-host.invalid"));
	RUN_UNTIL(0, 100);
	CHECK_EQ(r.fails + r.accepted, 0);
	close_net();
}

static void
shutdown_dial(void)
{
	char err[256];
	struct hf_dial_tls tls = {.cafile = PKI "ca.crt"};
	uint16_t port;
	int s = silent_listener(&port);
	CHECK(s >= 0);
	CHECK_EQ(open_net(), 0);
	CHECK_EQ(dial("127.0.0.1", port, &tls, err, sizeof(err)), 0);
	RUN_UNTIL(0, 100); /* connected; the handshake waits */
	hf_net_stop(net);
	CHECK_EQ(r.fails, 0); /* not from inside hf_net_stop */
	RUN_UNTIL(r.fails, 2000);
	RUN_UNTIL(0, 100);
	CHECK_EQ(r.fails, 1);
	CHECK_EQ(r.accepted, 0);
	CHECK(strstr(r.why, "cancelled: shutting down"));
	err[0] = '\0';
	struct hf_dialer dl = hf_net_dialer(net);
	CHECK_EQ(dl.dial(dl.dctx, "127.0.0.1", port_good, NULL,
	                 (struct hf_acceptor){on_accept, &r}, on_failed, &r,
	                 err, sizeof(err)),
	         -1);
	CHECK(strcmp(err, "shutting down") == 0);
	close(s);
	close_net();
}

/* A server certificate of the test CA for elsewhere.invalid only. */
static int
make_elsewhere_cert(void)
{
	char cmd[2048];
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hf-n04-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(
	    cmd, sizeof(cmd),
	    "set -e; cd %s; "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	    "-out elsewhere.key 2>/dev/null; "
	    "openssl req -new -key elsewhere.key -subj /CN=elsewhere.invalid "
	    "-out elsewhere.csr; "
	    "printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n"
	    "subjectAltName=DNS:elsewhere.invalid\\n' >ext; "
	    "openssl x509 -req -in elsewhere.csr -CA " PKI "ca.crt -CAkey " PKI
	    "ca.key -set_serial 4242 -days 30 -extfile ext "
	    "-out elsewhere.crt 2>/dev/null",
	    tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	char extra[1024];
	signal(SIGPIPE, SIG_IGN); /* as broker/main.c: OpenSSL write()s */
	if (make_elsewhere_cert() != 0) {
		fprintf(stderr, "cannot make the test certificate\n");
		return 1;
	}
	snprintf(extra, sizeof(extra),
	         "cafile " PKI "ca.crt\n"
	         "certfile " PKI "server.crt\n"
	         "keyfile " PKI "server.key\n"
	         "require_certificate true\n"
	         "listener 0 127.0.0.1\n"
	         "certfile %s/elsewhere.crt\n"
	         "keyfile %s/elsewhere.key\n",
	         tmpdir, tmpdir);
	if (hf_bproc_start(&broker, extra) != 0)
		return 1;
	port_good = broker.port;
	port_elsewhere = hf_bproc_port_n(&broker, 1);
	if (!port_elsewhere) {
		hf_bproc_cleanup(&broker);
		return 1;
	}
	HF_RUN(good_ca);
	HF_RUN(good_capath);
	HF_RUN(no_client_cert);
	HF_RUN(wrong_ca);
	HF_RUN(mismatch);
	HF_RUN(refused);
	HF_RUN(timeout);
	HF_RUN(bad_files);
	HF_RUN(shutdown_dial);
	int st = hf_bproc_stop(&broker);
	if (st != 0) {
		fprintf(stderr, "broker exit status %d\n", st);
		hf_test_fail_++;
	}
	hf_bproc_cleanup(&broker);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return HF_DONE();
}
