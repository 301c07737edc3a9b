/* tests/tls/t05_bridge_tls.c - bridges over TLS (bridge_cafile,
 * bridge_certfile, bridge_keyfile, bridge_insecure): an edge Holdfast
 * dials a core Holdfast's TLS listener. The PKI is mkpki.sh's (HF_PKI_DIR);
 * the core's plain second listener serves the test's own clients.
 *
 *   client_cert   the core requires a certificate and takes its CN as the
 *                 user name (use_identity_as_username); its ACL lets
 *                 agent-a write e/# only: e/1 from the edge arrives at a
 *                 core subscriber, f/1 (bridged too) does not;
 *   wrong_ca      the edge trusts another CA: it never connects, its log
 *                 says the server certificate did not verify, nothing
 *                 arrives;
 *   mismatch      the core's certificate names localhost only and the
 *                 edge dials 127.0.0.1: refused (the log names the
 *                 address check); with bridge_insecure true it connects
 *                 and a message arrives.
 *
 * Every wait has a deadline; loopback only. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpair.h"
#include "rawclient.h"
#include "test.h"

#define PKI HF_PKI_DIR "/"
#define V4  HF_PROTO_V311

static char dir[64];

/* The core's TLS listener (the harness's first) with these lines, then a
 * plain listener for the test's clients. */
#define CORE_TLS(cert, more)                                                   \
	"cafile " PKI "ca.crt\ncertfile " cert ".crt\nkeyfile " cert           \
	".key\n" more "listener 0 127.0.0.1\n"

#define EDGE_TLS(more)                                                         \
	"connection core\naddress 127.0.0.1:%u\nrestart_timeout 1\n"           \
	"topic e/# out 1\ntopic f/# out 1\n" more

static bool
nothing_more(int fd, int ms)
{
	struct hf_packet pk;
	uint8_t buf[512];
	int r = hf_raw_recvb(fd, V4, ms, &pk, buf, sizeof(buf));
	if (r == 1)
		fprintf(stderr, "unexpected %s\n", hf_ptype_name(pk.type));
	return r == 0;
}

/* A subscriber on the core's plain listener to e/# and f/#. */
static int
core_sub(struct hf_bpair *p)
{
	uint16_t port = hf_bproc_port_n(&p->core, 1);
	int fd = port ? hf_raw_sub_client(port, V4, "core-sub", "e/#", 1) : -1;
	if (fd >= 0 && hf_raw_subscribe(fd, V4, 2, "f/#", 1, 0) != 1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void
client_cert(struct hf_bpair *p)
{
	CHECK(hf_bproc_wait_log(&p->edge, "Bridge core connected to", 10000));
	int sub = core_sub(p);
	CHECK(sub >= 0);
	int pub =
	    hf_raw_connect(p->edge.port, V4, "edge-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	CHECK(hf_raw_publish(pub, V4, "f/1", "denied", 6, 1, false, 1) == 0);
	CHECK(hf_raw_publish(pub, V4, "e/1", "over-tls", 8, 1, false, 2) == 0);
	/* in order over one link: f/1 would come before e/1 */
	CHECK(hf_raw_expect_pub(sub, V4, "e/1", "over-tls", NULL));
	CHECK(nothing_more(sub, 300));
	/* the core knew the bridge by its certificate */
	CHECK(hf_bproc_log_contains(&p->core, "agent-a"));
	close(pub);
	close(sub);
}

static void
wrong_ca(struct hf_bpair *p)
{
	/* two attempts (restart_timeout 1), both refused by our side */
	CHECK(
	    hf_bproc_wait_count(&p->edge, "Connecting bridge core", 2, 10000));
	CHECK(hf_bproc_wait_log(&p->edge, "Bridge core: connecting to", 5000));
	CHECK(hf_bproc_log_contains(&p->edge, "server certificate"));
	CHECK_EQ(hf_bproc_log_count(&p->edge, "Bridge core connected"), 0);
	int sub = core_sub(p);
	CHECK(sub >= 0);
	int pub =
	    hf_raw_connect(p->edge.port, V4, "edge-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	CHECK(hf_raw_publish(pub, V4, "e/1", "lost", 4, 1, false, 1) == 0);
	CHECK(nothing_more(sub, 1500));
	close(pub);
	close(sub);
}

static void
mismatch(struct hf_bpair *p)
{
	CHECK(
	    hf_bproc_wait_count(&p->edge, "Connecting bridge core", 2, 10000));
	CHECK(hf_bproc_wait_log(&p->edge, "IP address mismatch", 5000));
	CHECK_EQ(hf_bproc_log_count(&p->edge, "Bridge core connected"), 0);
}

static void
mismatch_insecure(struct hf_bpair *p)
{
	CHECK(hf_bproc_wait_log(&p->edge, "Bridge core connected to", 10000));
	int sub = core_sub(p);
	CHECK(sub >= 0);
	int pub =
	    hf_raw_connect(p->edge.port, V4, "edge-pub", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	CHECK(hf_raw_publish(pub, V4, "e/2", "insecure", 8, 1, false, 1) == 0);
	CHECK(hf_raw_expect_pub(sub, V4, "e/2", "insecure", NULL));
	close(pub);
	close(sub);
}

static void
run_pair(const char *name, void (*fn)(struct hf_bpair *), const char *core,
         const char *edge)
{
	struct hf_bpair p;
	if (!hf_bpair_start(&p, core, edge)) {
		fprintf(stderr, "%s: brokers did not start\n", name);
		hf_test_failed_ = 1;
	} else {
		fn(&p);
	}
	hf_bpair_end(&p, name);
}

static char core_cert[1024], core_local[512];

static void
client_cert_case(void)
{
	run_pair("client_cert", client_cert, core_cert,
	         EDGE_TLS("bridge_cafile " PKI "ca.crt\n"
	                  "bridge_certfile " PKI "agent-a.crt\n"
	                  "bridge_keyfile " PKI "agent-a.key\n"));
}

static void
wrong_ca_case(void)
{
	run_pair("wrong_ca", wrong_ca, core_cert,
	         EDGE_TLS("bridge_cafile " PKI "other-ca.crt\n"
	                  "bridge_certfile " PKI "agent-a.crt\n"
	                  "bridge_keyfile " PKI "agent-a.key\n"));
}

static void
mismatch_case(void)
{
	run_pair("mismatch", mismatch, core_local,
	         EDGE_TLS("bridge_cafile " PKI "ca.crt\n"));
}

static void
mismatch_insecure_case(void)
{
	run_pair("mismatch_insecure", mismatch_insecure, core_local,
	         EDGE_TLS("bridge_cafile " PKI "ca.crt\n"
	                  "bridge_insecure true\n"));
}

/* The ACL (agent-a writes e/# and its notifications; anonymous clients
 * read everything) and a server certificate of the test CA for the name
 * localhost only (no IP address), in dir. */
static int
make_files(void)
{
	char path[128], cmd[2048];
	snprintf(dir, sizeof(dir), "/tmp/hf-t05-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/core.acl", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("topic read #\n"
	      "user agent-a\n"
	      "topic write e/#\n"
	      "topic readwrite $SYS/broker/connection/#\n",
	      f);
	if (fclose(f) != 0)
		return -1;
	snprintf(
	    cmd, sizeof(cmd),
	    "set -e; cd %s; "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	    "-out local.key 2>/dev/null; "
	    "openssl req -new -key local.key -subj /CN=localhost "
	    "-out local.csr; "
	    "printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n"
	    "subjectAltName=DNS:localhost\\n' >ext; "
	    "openssl x509 -req -in local.csr -CA " PKI "ca.crt -CAkey " PKI
	    "ca.key -set_serial 4343 -days 30 -extfile ext "
	    "-out local.crt 2>/dev/null",
	    dir);
	if (system(cmd) != 0)
		return -1;
	snprintf(core_cert, sizeof(core_cert),
	         CORE_TLS(PKI "server", "require_certificate true\n"
	                                "use_identity_as_username true\n"
	                                "acl_file %s/core.acl\n"),
	         dir);
	snprintf(core_local, sizeof(core_local), CORE_TLS("%s/local", ""), dir,
	         dir);
	return 0;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (make_files() != 0) {
		fprintf(stderr, "cannot make the test files in %s\n", dir);
		return 1;
	}
	HF_RUN(client_cert_case);
	HF_RUN(wrong_ca_case);
	HF_RUN(mismatch_case);
	HF_RUN(mismatch_insecure_case);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (!hf_test_fail_ && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return HF_DONE();
}
