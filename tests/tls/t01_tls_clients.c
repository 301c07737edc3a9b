/* tests/tls/t01_tls_clients.c - MQTT over TLS against the real broker,
 * with libmosquitto (mosquitto_tls_set) and the mosquitto_pub /
 * mosquitto_sub command line tools (--cafile/--cert/--key,
 * --tls-version).
 *
 * Each case's broker has a TLS listener first (the harness's listener, so
 * b->port; require_certificate true, clients present agent-a or agent-b
 * from tests/helpers/mkpki.sh) and a plain TCP listener second
 * (hf_bproc_port_n(b, 1)):
 *   qos_all         QoS 0, 1 and 2 round trips, and a 200 KB payload
 *                   (many TLS records), MQTT 3.1.1 and 5.0;
 *   retained        a retained message set over TLS reaches a later TLS
 *                   subscriber with the retain flag;
 *   session_tls     a persistent session over TLS: queued while offline,
 *                   Session Present and every message after the reconnect;
 *   session_moves   the same session from TCP to TLS and back: what was
 *                   queued while it was away arrives on the other
 *                   transport;
 *   cli_versions    mosquitto_sub and mosquitto_pub with --tls-version
 *                   tlsv1.3 and tlsv1.2 (a minimum for libmosquitto too,
 *                   so both negotiate TLS 1.3): the messages arrive;
 *   tls12_libmosq   libmosquitto held to TLS 1.2 (MOSQ_OPT_SSL_CTX with a
 *                   maximum version): served, TLS 1.2 in the log;
 *   sys_counts      $SYS/broker/clients/connected counts TLS clients with
 *                   the TCP ones.
 * Threading: see interop/iclient.h; child processes reaped before a case
 * returns. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <openssl/ssl.h>

#include "iclient.h"

#define PKI HF_PKI_DIR "/"

#define TLS_CONF                                                               \
	"cafile " PKI "ca.crt\n"                                               \
	"certfile " PKI "server.crt\n"                                         \
	"keyfile " PKI "server.key\n"                                          \
	"require_certificate true\n"                                           \
	"listener 0 127.0.0.1\n"

/* A client that will connect over TLS with certificate cert (agent-a,
 * agent-b); tlsver NULL for the library's default. */
static int
tls_init(struct ic *c, const char *id, bool clean, int version,
         const char *cert, const char *tlsver)
{
	char crt[256], key[256];

	if (ic_init(c, id, clean, version) != 0)
		return -1;
	snprintf(crt, sizeof(crt), PKI "%s.crt", cert);
	snprintf(key, sizeof(key), PKI "%s.key", cert);
	if (mosquitto_tls_set(c->m, PKI "ca.crt", NULL, crt, key, NULL) !=
	    MOSQ_ERR_SUCCESS)
		return -1;
	if (tlsver &&
	    mosquitto_tls_opts_set(c->m, 1, tlsver, NULL) != MOSQ_ERR_SUCCESS)
		return -1;
	return 0;
}

static bool
session_present(struct ic *c)
{
	return (ic_get(c, &c->conn_flags) & 1) != 0;
}

static void
qos_all(struct hf_bproc *b, int version)
{
	struct ic sub, pub;
	static char big[200000];

	memset(big, 'z', sizeof(big) - 1);
	CHECK_EQ(tls_init(&sub, "t01-sub", true, version, "agent-a", NULL), 0);
	CHECK_EQ(ic_connect(&sub, b->port), 0);
	CHECK_EQ(ic_subscribe(&sub, "q/#", 2), 2);
	CHECK_EQ(tls_init(&pub, "t01-pub", true, version, "agent-b", NULL), 0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	for (int q = 0; q <= 2; q++) {
		char topic[8];
		snprintf(topic, sizeof(topic), "q/%d", q);
		CHECK(ic_publish_wait(&pub, topic, "over tls", q, false));
		int i = ic_wait_topic(&sub, topic, 0, IC_WAIT_MS);
		CHECK(i >= 0);
		struct ic_msg m = ic_msg_at(&sub, i);
		CHECK_EQ(m.qos, q);
		CHECK_EQ(m.len, 8);
		CHECK(memcmp(m.payload, "over tls", 8) == 0);
	}
	CHECK(ic_publish_wait(&pub, "q/big", big, 1, false));
	int i = ic_wait_topic(&sub, "q/big", 0, IC_WAIT_MS);
	CHECK(i >= 0);
	struct ic_msg m = ic_msg_at(&sub, i);
	CHECK_EQ(m.len, (int)sizeof(big) - 1);
	CHECK(memcmp(m.payload, big, sizeof(big) - 1) == 0);
	ic_end(&pub);
	ic_end(&sub);
	CHECK(hf_bproc_log_contains(b, "certificate CN=agent-a,OU=Agents,"
	                               "O=Holdfast Test"));
}
BOTH(qos_all)

static void
retained(struct hf_bproc *b)
{
	struct ic pub, sub;

	CHECK_EQ(tls_init(&pub, "t01-rpub", true, MQTT_PROTOCOL_V311, "agent-b",
	                  NULL),
	         0);
	CHECK_EQ(ic_connect(&pub, b->port), 0);
	CHECK(ic_publish_wait(&pub, "r/x", "kept", 1, true));
	ic_end(&pub);
	CHECK_EQ(
	    tls_init(&sub, "t01-rsub", true, MQTT_PROTOCOL_V5, "agent-a", NULL),
	    0);
	CHECK_EQ(ic_connect(&sub, b->port), 0);
	CHECK_EQ(ic_subscribe(&sub, "r/#", 1), 1);
	int i = ic_wait_topic(&sub, "r/x", 0, IC_WAIT_MS);
	CHECK(i >= 0);
	struct ic_msg m = ic_msg_at(&sub, i);
	CHECK(m.retain);
	CHECK_EQ(m.len, 4);
	CHECK(memcmp(m.payload, "kept", 4) == 0);
	ic_end(&sub);
}

/* Queue n QoS 1 messages on s/<tag>/i through a client on port (TLS when
 * cert is set). */
static void
publish_n(uint16_t port, const char *cert, const char *tag, int n)
{
	struct ic pub;
	char topic[32], body[16];

	if (cert)
		CHECK_EQ(tls_init(&pub, "t01-qpub", true, MQTT_PROTOCOL_V311,
		                  cert, NULL),
		         0);
	else
		CHECK_EQ(ic_init(&pub, "t01-qpub", true, MQTT_PROTOCOL_V311),
		         0);
	CHECK_EQ(ic_connect(&pub, port), 0);
	for (int i = 0; i < n; i++) {
		snprintf(topic, sizeof(topic), "s/%s/%d", tag, i);
		snprintf(body, sizeof(body), "%s%d", tag, i);
		CHECK(ic_publish_wait(&pub, topic, body, 1, false));
	}
	ic_end(&pub);
}

/* Connect id (persistent, 3.1.1) on port; expects Session Present as
 * said, then n messages s/<tag>/0..n-1 in order. */
static void
resume(struct ic *c, uint16_t port, bool tls, const char *id, bool present,
       const char *tag, int n)
{
	char topic[32];

	if (tls)
		CHECK_EQ(
		    tls_init(c, id, false, MQTT_PROTOCOL_V311, "agent-a", NULL),
		    0);
	else
		CHECK_EQ(ic_init(c, id, false, MQTT_PROTOCOL_V311), 0);
	CHECK_EQ(ic_connect(c, port), 0);
	CHECK(session_present(c) == present);
	int last = -1;
	for (int i = 0; i < n; i++) {
		snprintf(topic, sizeof(topic), "s/%s/%d", tag, i);
		int at = ic_wait_topic(c, topic, 0, IC_WAIT_MS);
		CHECK(at > last); /* in order */
		last = at;
	}
}

static void
session_tls(struct hf_bproc *b)
{
	struct ic c;

	resume(&c, b->port, true, "t01-ps", false, "x", 0);
	CHECK_EQ(ic_subscribe(&c, "s/#", 1), 1);
	CHECK(ic_disconnect(&c));
	ic_free(&c);
	publish_n(b->port, "agent-b", "a", 20);
	resume(&c, b->port, true, "t01-ps", true, "a", 20);
	ic_end(&c);
}

static void
session_moves(struct hf_bproc *b)
{
	struct ic c;
	uint16_t tcp = hf_bproc_port_n(b, 1);

	CHECK(tcp != 0 && tcp != b->port);
	resume(&c, tcp, false, "t01-mv", false, "x", 0);
	CHECK_EQ(ic_subscribe(&c, "s/#", 1), 1);
	CHECK(ic_disconnect(&c));
	ic_free(&c);
	publish_n(tcp, NULL, "b", 5);                      /* queued from TCP */
	resume(&c, b->port, true, "t01-mv", true, "b", 5); /* out on TLS */
	CHECK(ic_disconnect(&c));
	ic_free(&c);
	publish_n(b->port, "agent-b", "c", 5);          /* from TLS */
	resume(&c, tcp, false, "t01-mv", true, "c", 5); /* out on TCP */
	ic_end(&c);
}

/* Run a command line (sh -c), its exit status. */
static int
run(const char *cmd)
{
	int st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
cli_versions(struct hf_bproc *b)
{
	char cmd[1024], line[256], out[1024] = "";
	const char *tls = "--cafile " PKI "ca.crt --cert " PKI
	                  "agent-a.crt --key " PKI "agent-a.key";

	/* libmosquitto's --tls-version is a minimum, as the broker's: the
	 * tools cannot be held to TLS 1.2 (tls12_libmosq can). */
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_sub -h 127.0.0.1 -p %u %s --tls-version tlsv1.3 "
	         "-i t01-cli-sub -q 1 -t v/# -C 2 -W 15 -v",
	         b->port, tls);
	FILE *sub = popen(cmd, "r");
	CHECK(sub != NULL);
	CHECK(hf_bproc_wait_log(b, "t01-cli-sub 1 v/#", 10000));
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_pub -h 127.0.0.1 -p %u %s --tls-version tlsv1.3 "
	         "-q 1 -t v/13 -m thirteen",
	         b->port, tls);
	CHECK_EQ(run(cmd), 0);
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_pub -h 127.0.0.1 -p %u %s --tls-version tlsv1.2 "
	         "-q 2 -t v/12 -m twelve",
	         b->port, tls);
	CHECK_EQ(run(cmd), 0);
	while (fgets(line, sizeof(line), sub))
		strncat(out, line, sizeof(out) - strlen(out) - 1);
	int st = pclose(sub);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(strstr(out, "v/13 thirteen\n") != NULL);
	CHECK(strstr(out, "v/12 twelve\n") != NULL);
	CHECK(hf_bproc_log_contains(b, "is TLSv1.3,"));
}

/* A libmosquitto client held to TLS 1.2 (an SSL_CTX of its own). */
static void
tls12_libmosq(struct hf_bproc *b)
{
	struct ic c;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	CHECK(ctx != NULL);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	CHECK_EQ(SSL_CTX_load_verify_file(ctx, PKI "ca.crt"), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	CHECK_EQ(SSL_CTX_use_certificate_file(ctx, PKI "agent-b.crt",
	                                      SSL_FILETYPE_PEM),
	         1);
	CHECK_EQ(SSL_CTX_use_PrivateKey_file(ctx, PKI "agent-b.key",
	                                     SSL_FILETYPE_PEM),
	         1);
	CHECK_EQ(ic_init(&c, "t01-v12", true, MQTT_PROTOCOL_V5), 0);
	CHECK_EQ(mosquitto_int_option(c.m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0),
	         MOSQ_ERR_SUCCESS);
	CHECK_EQ(mosquitto_void_option(c.m, MOSQ_OPT_SSL_CTX, ctx),
	         MOSQ_ERR_SUCCESS);
	CHECK_EQ(ic_connect(&c, b->port), 0);
	CHECK_EQ(ic_subscribe(&c, "v12/#", 2), 2);
	CHECK(ic_publish_wait(&c, "v12/x", "twelve", 2, false));
	CHECK(ic_wait_topic(&c, "v12/x", 0, IC_WAIT_MS) >= 0);
	ic_end(&c);
	SSL_CTX_free(ctx);
	CHECK(hf_bproc_log_contains(b, "is TLSv1.2,"));
	CHECK(hf_bproc_log_contains(b, "certificate CN=agent-b,"));
}

static void
sys_counts(struct hf_bproc *b)
{
	struct ic s, a, t;
	uint16_t tcp = hf_bproc_port_n(b, 1);

	CHECK_EQ(
	    tls_init(&a, "t01-a", true, MQTT_PROTOCOL_V311, "agent-b", NULL),
	    0);
	CHECK_EQ(ic_connect(&a, b->port), 0);
	CHECK_EQ(ic_init(&t, "t01-t", true, MQTT_PROTOCOL_V311), 0);
	CHECK_EQ(ic_connect(&t, tcp), 0);
	CHECK_EQ(
	    tls_init(&s, "t01-sys", true, MQTT_PROTOCOL_V311, "agent-a", NULL),
	    0);
	CHECK_EQ(ic_connect(&s, b->port), 0);
	CHECK_EQ(ic_subscribe(&s, "$SYS/broker/clients/connected", 0), 0);
	/* two TLS clients and one TCP client: 3 (a value from before the
	 * last connect may come first) */
	bool seen = false;
	for (int from = 0; !seen;) {
		int i = ic_wait_topic(&s, "$SYS/broker/clients/connected", from,
		                      5000);
		CHECK(i >= 0);
		struct ic_msg m = ic_msg_at(&s, i);
		seen = m.len == 1 && ((char *)m.payload)[0] == '3';
		from = i + 1;
	}
	ic_end(&s);
	ic_end(&t);
	ic_end(&a);
}

int
main(void)
{
	mosquitto_lib_init();
	HF_BCASE(qos_all_v311, TLS_CONF);
	HF_BCASE(qos_all_v5, TLS_CONF);
	HF_BCASE(retained, TLS_CONF);
	HF_BCASE(session_tls, TLS_CONF);
	HF_BCASE(session_moves, TLS_CONF);
	HF_BCASE(cli_versions, TLS_CONF);
	HF_BCASE(tls12_libmosq, TLS_CONF);
	HF_BCASE(sys_counts, TLS_CONF "sys_interval 1\n");
	mosquitto_lib_cleanup();
	return HF_DONE();
}
