/* tests/ws/w02_node.c - the WebSocket listeners of the binary driven from
 * Node: MQTT.js (npm mqtt) over ws:// and wss://, the www/ page in headless
 * Chromium (npm playwright-core driving Debian's /usr/bin/chromium), and
 * raw-socket abuse of the upgrade path. The scripts are the .mjs files of
 * tests/ws (tests/ws/README.md); this program starts a broker for each, runs it
 * with the broker's ports, and passes when the script does (each asserts
 * what its clients see and exits non-zero on any failure).
 *
 * Needs node, tests/ws/node_modules (npm ci --prefix tests/ws) and, for
 * the browser, chromium: `tools/deps.sh --tests` installs them, and a
 * missing one is a failure, not a skip.
 *
 *   mqttjs    3.1.1 and 5.0 over ws and wss (a client certificate as the
 *             username: use_identity_as_username), QoS 0/1/2, retained,
 *             persistent sessions, TCP <-> WebSocket, a session that moves,
 *             a 1 MB message
 *   browser   the page from http_dir: connect, $SYS panel, a message from
 *             mosquitto_pub shown, one from the page read by mosquitto_sub,
 *             no console errors
 *   wss_reload  SIGHUP with a CRL that revokes one of two connected wss
 *             clients: it gets DISCONNECT 0x87, the other stays, the
 *             revoked certificate cannot connect again
 *   abuse     no upgrade, no or a wrong subprotocol, version 8, a text
 *             frame, 2^40 bytes announced, a fragment flood, garbage, an
 *             abrupt close: each closed as it should be, others served
 *
 * One broker per HF_BCASE; every script bounds its own waits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"
#include "test.h"

#define PKI    HF_PKI_DIR "/"
#define SCRIPT HF_SOURCE_DIR "/tests/ws/"

/* Run a shell command; true when it exits 0. Its output goes to ours. */
static bool
run(const char *cmd)
{
	fprintf(stderr, "$ %s\n", cmd);
	fflush(stderr);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "exit status %d\n",
		        st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return false;
	}
	return true;
}

static bool
have_node(void)
{
	struct stat st;
	if (system("node --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "node not found: run tools/deps.sh --tests\n");
		return false;
	}
	if (stat(SCRIPT "node_modules/mqtt", &st) != 0) {
		fprintf(stderr, "tests/ws/node_modules missing: run "
		                "npm ci --prefix tests/ws (tools/deps.sh "
		                "--tests)\n");
		return false;
	}
	return true;
}

static void
mqttjs(struct hf_bproc *b)
{
	CHECK(have_node());
	uint16_t ws = hf_bproc_port_n(b, 1), wss = hf_bproc_port_n(b, 2);
	CHECK(ws && wss);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "node " SCRIPT "mqttjs.mjs --ws-url ws://127.0.0.1:%u/ "
	         "--tcp-port %u --wss-url wss://localhost:%u/ "
	         "--cafile " PKI "ca.crt --cert " PKI "agent-a.crt "
	         "--key " PKI "agent-a.key",
	         ws, b->port, wss);
	CHECK(run(cmd));
	/* the certificate's CN was the wss clients' username */
	CHECK(hf_bproc_log_contains(b, "u'agent-a')"));
}

static void
browser(struct hf_bproc *b)
{
	CHECK(have_node());
	CHECK(access("/usr/bin/chromium", X_OK) == 0);
	uint16_t ws = hf_bproc_port_n(b, 1);
	CHECK(ws != 0);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "node " SCRIPT "browser.mjs --http-url http://127.0.0.1:%u/ "
	         "--tcp-port %u",
	         ws, b->port);
	CHECK(run(cmd));
	snprintf(cmd, sizeof(cmd),
	         "node " SCRIPT "browser.mjs --http-url http://127.0.0.1:%u/ "
	         "--tcp-port %u --mqtt-version 4",
	         ws, b->port);
	CHECK(run(cmd));
}

static void
abuse(struct hf_bproc *b)
{
	CHECK(have_node());
	uint16_t ws = hf_bproc_port_n(b, 1);
	CHECK(ws != 0);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
	         "node " SCRIPT "abuse.mjs --ws-url ws://127.0.0.1:%u/ "
	         "--expect holdfast",
	         ws);
	CHECK(run(cmd));
	CHECK(hf_bproc_alive(b));
}

/* The CRL file the wss_reload broker reads (a copy: the test changes it). */
static char crl_dir[64];

static void
wss_reload(struct hf_bproc *b)
{
	CHECK(have_node());
	uint16_t wss = hf_bproc_port_n(b, 1);
	CHECK(wss != 0);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "node " SCRIPT "reload.mjs --wss-url wss://localhost:%u/ "
	         "--pki " PKI " --crl-file %s/crl.pem --crl-new " PKI
	         "crl-agent-b.pem --pid %d",
	         wss, crl_dir, (int)b->pid);
	CHECK(run(cmd));
	CHECK(hf_bproc_log_contains(b, "no longer verifies after the reload: "
	                               "certificate revoked"));
}

#define WS "listener 0 127.0.0.1\nprotocol websockets\n"
#define WSS                                                                    \
	"listener 0 127.0.0.1\nprotocol websockets\n"                          \
	"certfile " PKI "server.crt\nkeyfile " PKI "server.key\n"              \
	"cafile " PKI "ca.crt\nrequire_certificate true\n"                     \
	"use_identity_as_username true\n"

int
main(void)
{
	HF_BCASE(mqttjs, WS WSS);
	HF_BCASE(browser,
	         WS "http_dir " HF_SOURCE_DIR "/www\nsys_interval 1\n");
	HF_BCASE(abuse, WS);
	snprintf(crl_dir, sizeof(crl_dir), "/tmp/hf-w02-XXXXXX");
	if (mkdtemp(crl_dir)) {
		char conf[1024], cmd[256];
		snprintf(cmd, sizeof(cmd), "cp " PKI "crl.pem %s/crl.pem",
		         crl_dir);
		if (system(cmd) == 0) {
			snprintf(conf, sizeof(conf), WSS "crlfile %s/crl.pem\n",
			         crl_dir);
			HF_BCASE(wss_reload, conf);
		}
		snprintf(cmd, sizeof(cmd), "rm -rf %s", crl_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", crl_dir);
	}
	return HF_DONE();
}
