/* tests/tls/t02_tls_refused.c - bad input on a TLS listener of the real
 * broker: each connection is closed cleanly and logged once (the peer and
 * the reason), while a witness client on the same listener is served
 * before, during and after.
 *
 * The listener requires client certificates of the test CA, checks them
 * against its CRL, and connect_timeout is 2 s:
 *   garbage       a plain-TCP MQTT CONNECT, and random bytes, instead of a
 *                 ClientHello;
 *   stalled       a TCP connection that never starts its handshake, and
 *                 one that stops half-way through its ClientHello: both
 *                 closed by connect_timeout, the witness served meanwhile;
 *   tls11         openssl s_client -tls1_1 (the client's own security
 *                 level lowered so it offers TLS 1.1): "unsupported
 *                 protocol";
 *   no_cert       mosquitto_pub without a certificate;
 *   foreign       a certificate from another CA;
 *   expired       an expired one;
 *   revoked       a revoked one (crlfile);
 *   tls13_only    a TLS 1.2 client on a tls_version tlsv1.3 listener.
 * Threading: see interop/iclient.h; child processes reaped before a case
 * returns. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "iclient.h"

#define PKI HF_PKI_DIR "/"

#define TLS_CONF                                                               \
	"cafile " PKI "ca.crt\n"                                               \
	"certfile " PKI "server.crt\n"                                         \
	"keyfile " PKI "server.key\n"                                          \
	"crlfile " PKI "crl.pem\n"                                             \
	"require_certificate true\n"                                           \
	"connect_timeout 2\n"

/* The witness: a TLS client subscribed to w/#. */
static int
witness_start(struct ic *w, uint16_t port)
{
	if (ic_init(w, "t02-witness", true, MQTT_PROTOCOL_V311) != 0 ||
	    mosquitto_tls_set(w->m, PKI "ca.crt", NULL, PKI "agent-a.crt",
	                      PKI "agent-a.key", NULL) != MOSQ_ERR_SUCCESS ||
	    ic_connect(w, port) != 0 || ic_subscribe(w, "w/#", 1) != 1)
		return -1;
	return 0;
}

/* A QoS 1 round trip through the witness. */
static bool
witness_ok(struct ic *w)
{
	static int n;
	char topic[32];

	snprintf(topic, sizeof(topic), "w/%d", ++n);
	return ic_publish_wait(w, topic, "alive", 1, false) &&
	       ic_wait_topic(w, topic, 0, IC_WAIT_MS) >= 0;
}

static int
raw_connect(uint16_t port, uint16_t *local)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*local = ntohs(sa.sin_port);
	return fd;
}

/* Wait until the broker closes fd (EOF or reset), up to ms: the time it
 * took, or -1. */
static int
wait_closed(int fd, int ms)
{
	int64_t t0 = hf_now_ms(), end = t0 + ms;
	char buf[512];

	while (hf_now_ms() < end) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return (int)(hf_now_ms() - t0);
	}
	return -1;
}

/* Run a command line quietly (sh -c): its exit status. */
static int
run(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "%s >/dev/null 2>&1 </dev/null", cmd);
	int st = system(full);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
garbage(struct hf_bproc *b)
{
	static const uint8_t mqtt_connect[] = {0x10, 0x0c, 0x00, 0x04, 'M',
	                                       'Q',  'T',  'T',  0x04, 0x02,
	                                       0x00, 0x3c, 0x00, 0x00};
	struct ic w;
	uint8_t junk[600];
	char line[160];
	uint16_t local;

	CHECK_EQ(witness_start(&w, b->port), 0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	for (int k = 0; k < 2; k++) {
		int fd = raw_connect(b->port, &local);
		CHECK(fd >= 0);
		CHECK(witness_ok(&w));
		if (k == 0)
			CHECK_EQ(
			    send(fd, mqtt_connect, sizeof(mqtt_connect), 0),
			    (ssize_t)sizeof(mqtt_connect));
		else
			CHECK_EQ(send(fd, junk, sizeof(junk), 0),
			         (ssize_t)sizeof(junk));
		CHECK(wait_closed(fd, 3000) >= 0);
		close(fd);
		snprintf(line, sizeof(line),
		         "Client connection from 127.0.0.1:%u on port %u "
		         "failed: TLS handshake: ",
		         local, b->port);
		CHECK(hf_bproc_wait_log(b, line, 2000));
		CHECK_EQ(hf_bproc_log_count(b, line), 1);
		CHECK(witness_ok(&w));
	}
	CHECK_EQ(hf_bproc_log_count(b, "failed: TLS handshake"), 2);
	ic_end(&w);
}

static void
stalled(struct hf_bproc *b)
{
	/* a record header announcing 512 bytes of handshake, and 4 */
	static const uint8_t part[] = {0x16, 0x03, 0x01, 0x02, 0x00,
	                               0x01, 0x00, 0x01, 0xfc};
	struct ic w;
	uint16_t l1, l2;
	char line[160];

	CHECK_EQ(witness_start(&w, b->port), 0);
	int fd1 = raw_connect(b->port, &l1);
	int fd2 = raw_connect(b->port, &l2);
	CHECK(fd1 >= 0 && fd2 >= 0);
	CHECK_EQ(send(fd2, part, sizeof(part), 0), (ssize_t)sizeof(part));
	int64_t t0 = hf_now_ms();
	/* served while the two hang */
	for (int i = 0; i < 10; i++) {
		CHECK(witness_ok(&w));
		hf_sleep_ms(100);
	}
	int d1 = wait_closed(fd1, 5000), d2 = wait_closed(fd2, 5000);
	int64_t took = hf_now_ms() - t0;
	CHECK(d1 >= 0 && d2 >= 0);
	CHECK(took >= 1500 && took < 4500); /* connect_timeout 2 */
	close(fd1);
	close(fd2);
	for (int k = 0; k < 2; k++) {
		snprintf(line, sizeof(line),
		         "Client connection from 127.0.0.1:%u closed: no "
		         "CONNECT within 2 s",
		         k ? l2 : l1);
		CHECK(hf_bproc_wait_log(b, line, 2000));
		CHECK_EQ(hf_bproc_log_count(b, line), 1);
	}
	CHECK_EQ(hf_bproc_log_count(b, "failed"),
	         0); /* one line each, no more */
	CHECK(witness_ok(&w));
	ic_end(&w);
}

static void
tls11(struct hf_bproc *b)
{
	struct ic w;
	char cmd[512], out[4096] = "";

	CHECK_EQ(witness_start(&w, b->port), 0);
	snprintf(cmd, sizeof(cmd),
	         "openssl s_client -connect 127.0.0.1:%u -tls1_1 "
	         "-cipher DEFAULT:@SECLEVEL=0 -CAfile " PKI "ca.crt "
	         "</dev/null 2>&1",
	         b->port);
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	if (strstr(out, "no protocols available")) {
		/* This openssl cannot offer TLS 1.1 at all: nothing reached
		 * the broker to refuse. */
		fprintf(stderr, "  (skipped: the local openssl cannot offer "
		                "TLS 1.1)\n");
		ic_end(&w);
		return;
	}
	CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0));
	CHECK(hf_bproc_wait_log(b, "unsupported protocol", 2000));
	CHECK_EQ(hf_bproc_log_count(b, "failed: TLS handshake: "), 1);
	CHECK_EQ(hf_bproc_log_count(b, "unsupported protocol"), 1);
	CHECK(witness_ok(&w));
	ic_end(&w);
}

/* mosquitto_pub with certificate cert (NULL: none) must fail, and the
 * broker log the handshake's failure once, with why. */
static void
refused_cert(struct hf_bproc *b, const char *cert, const char *why)
{
	struct ic w;
	char cmd[1024], c[512] = "";

	CHECK_EQ(witness_start(&w, b->port), 0);
	if (cert)
		snprintf(c, sizeof(c),
		         "--cert " PKI "%s.crt --key " PKI "%s.key", cert,
		         cert);
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_pub -h 127.0.0.1 -p %u --cafile " PKI "ca.crt %s "
	         "-t x -m refused -q 1",
	         b->port, c);
	CHECK(run(cmd) != 0);
	CHECK(hf_bproc_wait_log(b, why, 2000));
	CHECK_EQ(hf_bproc_log_count(b, "Client connection from 127.0.0.1:"), 1);
	CHECK_EQ(hf_bproc_log_count(b, "failed: TLS handshake: "), 1);
	CHECK_EQ(hf_bproc_log_count(b, why), 1);
	CHECK_EQ(hf_bproc_log_count(b, "refused"),
	         0); /* nothing was published */
	CHECK(witness_ok(&w));
	ic_end(&w);
}

static void
no_cert(struct hf_bproc *b)
{
	refused_cert(b, NULL, "peer did not return a certificate");
}

static void
foreign(struct hf_bproc *b)
{
	refused_cert(b, "foreign",
	             "(client certificate: unable to get local issuer "
	             "certificate)");
}

static void
expired(struct hf_bproc *b)
{
	refused_cert(b, "expired",
	             "(client certificate: certificate has "
	             "expired)");
}

static void
revoked(struct hf_bproc *b)
{
	refused_cert(b, "revoked",
	             "(client certificate: certificate "
	             "revoked)");
}

static void
tls13_only(struct hf_bproc *b)
{
	struct ic w, c;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	CHECK_EQ(witness_start(&w, b->port), 0); /* TLS 1.3 */
	CHECK(ctx != NULL);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_load_verify_file(ctx, PKI "ca.crt");
	SSL_CTX_use_certificate_file(ctx, PKI "agent-b.crt", SSL_FILETYPE_PEM);
	SSL_CTX_use_PrivateKey_file(ctx, PKI "agent-b.key", SSL_FILETYPE_PEM);
	CHECK_EQ(ic_init(&c, "t02-v12", true, MQTT_PROTOCOL_V311), 0);
	mosquitto_int_option(c.m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
	mosquitto_void_option(c.m, MOSQ_OPT_SSL_CTX, ctx);
	/* the handshake goes on in the library's loop: run it by hand */
	int rc = mosquitto_connect(c.m, "127.0.0.1", b->port, 30);
	for (int64_t end = hf_now_ms() + 3000;
	     rc == MOSQ_ERR_SUCCESS && hf_now_ms() < end;)
		rc = mosquitto_loop(c.m, 50, 1);
	CHECK(rc != MOSQ_ERR_SUCCESS);
	CHECK_EQ(ic_get(&c, &c.connects), 0);
	ic_free(&c);
	SSL_CTX_free(ctx);
	CHECK(hf_bproc_wait_log(b, "unsupported protocol", 2000));
	CHECK_EQ(hf_bproc_log_count(b, "failed: TLS handshake: "), 1);
	CHECK(witness_ok(&w));
	ic_end(&w);
}

int
main(void)
{
	mosquitto_lib_init();
	HF_BCASE(garbage, TLS_CONF);
	HF_BCASE(stalled, TLS_CONF);
	HF_BCASE(tls11, TLS_CONF);
	HF_BCASE(no_cert, TLS_CONF);
	HF_BCASE(foreign, TLS_CONF);
	HF_BCASE(expired, TLS_CONF);
	HF_BCASE(revoked, TLS_CONF);
	HF_BCASE(tls13_only, TLS_CONF "tls_version tlsv1.3\n");
	mosquitto_lib_cleanup();
	return HF_DONE();
}
