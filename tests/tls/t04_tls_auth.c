/* tests/tls/t04_tls_auth.c - client certificates as identities, and the
 * TLS files reloaded on SIGHUP, against the real broker with libmosquitto
 * (mosquitto_tls_set) and openssl s_client.
 *
 *   tenants       use_identity_as_username and "pattern readwrite
 *                 tenants/%u/#": agent-a and agent-b can neither write
 *                 (5.0: PUBACK 0x87) nor read each other's topics - live,
 *                 queued while the other is offline, and after a restart
 *                 of the broker (the identity stored with the session);
 *   subject       use_subject_as_username: an ACL "user" line with the
 *                 RFC 2253 subject grants agent-a, not agent-b;
 *   crl_reload    the CRL file replaced by one that revokes agent-b, then
 *                 SIGHUP: agent-b's open connection gets DISCONNECT 0x87,
 *                 agent-a's stays and works; agent-b cannot connect again;
 *   cert_reload   the server certificate and key replaced, then SIGHUP:
 *                 new handshakes get the new certificate (s_client), the
 *                 open connection goes on; a reload with a certificate
 *                 file that does not load logs FILE:LINE and keeps the
 *                 previous one.
 *
 * The files a case replaces live in a mkdtemp() directory made in main().
 * Threading: see interop/iclient.h; child processes are reaped before a
 * case returns; every wait has a deadline. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "iclient.h"

#define PKI HF_PKI_DIR "/"

static char dir[64];
static char conf_tenants[1024], conf_subject[1024], conf_reload[1024];

static int
copy_file(const char *from, const char *to)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	int st = system(cmd);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int
tls_client(struct ic *c, const char *id, bool clean, int version,
           const char *cert)
{
	char crt[256], key[256];

	if (ic_init(c, id, clean, version) != 0)
		return -1;
	snprintf(crt, sizeof(crt), PKI "%s.crt", cert);
	snprintf(key, sizeof(key), PKI "%s.key", cert);
	if (mosquitto_tls_set(c->m, PKI "ca.crt", NULL, crt, key, NULL) !=
	    MOSQ_ERR_SUCCESS)
		return -1;
	return 0;
}

/* v5: a session that outlives the connection (expiry 1 h). */
static int
connect_persistent(struct ic *c, uint16_t port, int version)
{
	if (version != MQTT_PROTOCOL_V5)
		return ic_connect(c, port);
	mosquitto_property *props = NULL;
	mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
	                             3600);
	int rc = ic_connect_props(c, port, 30, props);
	mosquitto_property_free_all(&props);
	return rc;
}

/* A QoS 1 publish; its PUBACK's verdict: 0 accepted, 1 refused (>= 0x80),
 * -1 no PUBACK. */
static int
publish_verdict(struct ic *c, const char *topic, const char *payload)
{
	int failed = ic_get(c, &c->pub_failed);
	if (!ic_publish_wait(c, topic, payload, 1, false))
		return -1;
	return ic_get(c, &c->pub_failed) > failed ? 1 : 0;
}

/* c publishes marker (QoS 1, on a topic it may use) and receives it;
 * nothing else has reached c since message index from. */
static bool
only_marker_since(struct ic *c, int from, const char *marker)
{
	if (!ic_publish_wait(c, marker, "m", 1, false))
		return false;
	int i = ic_wait_topic(c, marker, from, IC_WAIT_MS);
	if (i < 0)
		return false;
	for (int k = from; k < i; k++) {
		struct ic_msg m = ic_msg_at(c, k);
		fprintf(stderr, "unexpected message on %s\n", m.topic);
	}
	return i == from;
}

/* ---- tenants by certificate ------------------------------------------ */

static void
tenants(struct hf_bproc *b, int v)
{
	struct ic a, bb, b2;
	bool v5 = v == MQTT_PROTOCOL_V5;

	CHECK_EQ(tls_client(&a, "tenant-a", false, v, "agent-a"), 0);
	CHECK_EQ(connect_persistent(&a, b->port, v), 0);
	CHECK_EQ(tls_client(&bb, "tenant-b", false, v, "agent-b"), 0);
	CHECK_EQ(connect_persistent(&bb, b->port, v), 0);
	CHECK_EQ(ic_subscribe(&a, "tenants/#", 1), 1);
	CHECK_EQ(ic_subscribe(&bb, "tenants/#", 1), 1);

	/* live: each writes its own, not the other's */
	CHECK_EQ(publish_verdict(&a, "tenants/agent-a/1", "a1"), 0);
	CHECK(ic_wait_topic(&a, "tenants/agent-a/1", 0, IC_WAIT_MS) == 0);
	int w = publish_verdict(&a, "tenants/agent-b/1", "evil");
	CHECK_EQ(w, v5 ? 1 : 0);
	w = publish_verdict(&bb, "tenants/agent-a/2", "evil");
	CHECK_EQ(w, v5 ? 1 : 0);
	CHECK(only_marker_since(&bb, 0, "tenants/agent-b/m1"));
	CHECK(only_marker_since(&a, 1, "tenants/agent-a/m1"));

	/* queued while agent-b's session is offline: its own messages (sent
	 * by another connection with its certificate), not agent-a's */
	CHECK(ic_disconnect(&bb));
	ic_free(&bb);
	CHECK_EQ(publish_verdict(&a, "tenants/agent-a/q", "qa"), 0);
	CHECK_EQ(tls_client(&b2, "tenant-b-2", true, v, "agent-b"), 0);
	CHECK_EQ(ic_connect(&b2, b->port), 0);
	CHECK_EQ(publish_verdict(&b2, "tenants/agent-b/q", "qb"), 0);
	ic_end(&b2);
	ic_end(&a);

	/* across a restart */
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	CHECK_EQ(tls_client(&bb, "tenant-b", false, v, "agent-b"), 0);
	CHECK_EQ(connect_persistent(&bb, b->port, v), 0);
	CHECK(ic_get(&bb, &bb.conn_flags) & 1); /* session present */
	CHECK(ic_wait_topic(&bb, "tenants/agent-b/q", 0, IC_WAIT_MS) == 0);
	/* and live after the restart: agent-a's still not readable */
	CHECK_EQ(tls_client(&a, "tenant-a", false, v, "agent-a"), 0);
	CHECK_EQ(connect_persistent(&a, b->port, v), 0);
	CHECK_EQ(publish_verdict(&a, "tenants/agent-a/3", "a3"), 0);
	CHECK(only_marker_since(&bb, 1, "tenants/agent-b/m2"));
	ic_end(&a);
	ic_end(&bb);
	CHECK(hf_bproc_log_contains(b, "u'agent-a'"));
}
BOTH(tenants)

/* ---- the subject as the username -------------------------------------- */

static void
t_subject(struct hf_bproc *b)
{
	struct ic a, bb;

	CHECK_EQ(tls_client(&a, "subj-a", true, MQTT_PROTOCOL_V5, "agent-a"),
	         0);
	CHECK_EQ(ic_connect(&a, b->port), 0);
	CHECK_EQ(tls_client(&bb, "subj-b", true, MQTT_PROTOCOL_V5, "agent-b"),
	         0);
	CHECK_EQ(ic_connect(&bb, b->port), 0);
	CHECK_EQ(ic_subscribe(&a, "subj/#", 1), 1);
	CHECK_EQ(publish_verdict(&a, "subj/x", "ok"), 0);
	CHECK(ic_wait_topic(&a, "subj/x", 0, IC_WAIT_MS) == 0);
	CHECK_EQ(publish_verdict(&bb, "subj/y", "no"), 1);
	ic_end(&a);
	ic_end(&bb);
	CHECK(hf_bproc_log_contains(b,
	                            "u'CN=agent-a,OU=Agents,O=Holdfast Test'"));
}

/* ---- reloads ---------------------------------------------------------- */

static void
t_crl_reload(struct hf_bproc *b)
{
	struct ic a, bb, again;
	char crl[128];

	snprintf(crl, sizeof(crl), "%s/crl.pem", dir);
	CHECK_EQ(tls_client(&a, "crl-a", true, MQTT_PROTOCOL_V5, "agent-a"), 0);
	CHECK_EQ(ic_connect(&a, b->port), 0);
	CHECK_EQ(tls_client(&bb, "crl-b", true, MQTT_PROTOCOL_V5, "agent-b"),
	         0);
	CHECK_EQ(ic_connect(&bb, b->port), 0);
	CHECK_EQ(ic_subscribe(&a, "c/#", 1), 1);

	CHECK_EQ(copy_file(PKI "crl-agent-b.pem", crl), 0);
	CHECK(hf_bproc_reload(b));
	/* agent-b: DISCONNECT 0x87 */
	CHECK(ic_wait_ge(&bb, &bb.disconnects, 1, IC_WAIT_MS));
	CHECK_EQ(ic_get(&bb, &bb.disc_rc), MQTT_RC_NOT_AUTHORIZED);
	ic_free(&bb);
	CHECK(hf_bproc_log_contains(b, "no longer verifies after the reload"));
	/* agent-a goes on */
	CHECK_EQ(publish_verdict(&a, "c/x", "still"), 0);
	CHECK(ic_wait_topic(&a, "c/x", 0, IC_WAIT_MS) >= 0);
	/* agent-b cannot come back */
	CHECK_EQ(
	    tls_client(&again, "crl-b2", true, MQTT_PROTOCOL_V5, "agent-b"), 0);
	CHECK(ic_connect(&again, b->port) != 0);
	ic_free(&again);
	ic_end(&a);
	CHECK_EQ(copy_file(PKI "crl.pem", crl), 0);
}

/* The subject of the certificate a new handshake gets. */
static bool
server_subject_has(uint16_t port, const char *want)
{
	char cmd[1024], line[512];
	bool found = false;

	snprintf(cmd, sizeof(cmd),
	         "openssl s_client -connect 127.0.0.1:%u -CAfile " PKI
	         "ca.crt -cert " PKI "agent-a.crt -key " PKI "agent-a.key "
	         "</dev/null 2>/dev/null",
	         port);
	FILE *p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p))
		if (strncmp(line, "subject=", 8) == 0 && strstr(line, want))
			found = true;
	pclose(p);
	return found;
}

static void
t_cert_reload(struct hf_bproc *b)
{
	struct ic a;
	char crt[128], key[128], want[160];

	snprintf(crt, sizeof(crt), "%s/server.crt", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	CHECK(server_subject_has(b->port, "CN = localhost\n") ||
	      server_subject_has(b->port, "CN=localhost\n"));
	CHECK_EQ(tls_client(&a, "cert-a", true, MQTT_PROTOCOL_V5, "agent-a"),
	         0);
	CHECK_EQ(ic_connect(&a, b->port), 0);
	CHECK_EQ(ic_subscribe(&a, "c/#", 1), 1);

	CHECK_EQ(copy_file(PKI "server2.crt", crt), 0);
	CHECK_EQ(copy_file(PKI "server2.key", key), 0);
	CHECK(hf_bproc_reload(b));
	CHECK(server_subject_has(b->port, "localhost-2"));
	CHECK_EQ(publish_verdict(&a, "c/1", "on"), 0);
	CHECK(ic_wait_topic(&a, "c/1", 0, IC_WAIT_MS) >= 0);

	/* a certificate file that does not load: kept, FILE:LINE logged */
	CHECK_EQ(copy_file(PKI "garbage.pem", crt), 0);
	CHECK(hf_bproc_reload(b));
	snprintf(want, sizeof(want), "certfile: %s", crt);
	CHECK(hf_bproc_log_contains(b, want));
	CHECK(hf_bproc_log_contains(b, b->conf));
	CHECK(server_subject_has(b->port, "localhost-2"));
	CHECK_EQ(publish_verdict(&a, "c/2", "on"), 0);
	ic_end(&a);
	CHECK_EQ(copy_file(PKI "server.crt", crt), 0);
	CHECK_EQ(copy_file(PKI "server.key", key), 0);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/hf_t04.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char path[128];
	snprintf(path, sizeof(path), "%s/crl.pem", dir);
	if (copy_file(PKI "crl.pem", path) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/server.crt", dir);
	if (copy_file(PKI "server.crt", path) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/server.key", dir);
	if (copy_file(PKI "server.key", path) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/tenants.acl", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fputs("pattern readwrite tenants/%u/#\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/subject.acl", dir);
	if (!(f = fopen(path, "w")))
		return 1;
	fputs("user CN=agent-a,OU=Agents,O=Holdfast Test\n"
	      "topic readwrite subj/#\n",
	      f);
	fclose(f);

	snprintf(conf_tenants, sizeof(conf_tenants),
	         "cafile " PKI "ca.crt\ncertfile " PKI "server.crt\n"
	         "keyfile " PKI "server.key\nrequire_certificate true\n"
	         "use_identity_as_username true\n"
	         "allow_anonymous false\nacl_file %s/tenants.acl\n",
	         dir);
	snprintf(conf_subject, sizeof(conf_subject),
	         "cafile " PKI "ca.crt\ncertfile " PKI "server.crt\n"
	         "keyfile " PKI "server.key\nrequire_certificate true\n"
	         "use_subject_as_username true\n"
	         "allow_anonymous false\nacl_file %s/subject.acl\n",
	         dir);
	snprintf(conf_reload, sizeof(conf_reload),
	         "cafile " PKI "ca.crt\ncertfile %s/server.crt\n"
	         "keyfile %s/server.key\nrequire_certificate true\n"
	         "crlfile %s/crl.pem\nuse_identity_as_username true\n",
	         dir, dir, dir);

	mosquitto_lib_init();
	HF_BCASE(tenants_v311, conf_tenants);
	HF_BCASE(tenants_v5, conf_tenants);
	HF_BCASE(t_subject, conf_subject);
	HF_BCASE(t_crl_reload, conf_reload);
	HF_BCASE(t_cert_reload, conf_reload);
	mosquitto_lib_cleanup();
	int rc = HF_DONE();
	if (rc == 0) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			rc = 1;
	}
	return rc;
}
