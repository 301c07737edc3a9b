/* tests/unit/config_test.c - the configuration layer: defaults, every key,
 * every error path (message names the file, the line and the key), planned
 * and unknown keys, include_dir order and errors, the command line, the
 * embedded local-only listeners, the persistence keys and
 * --move-damaged-store, and conf/holdfast.conf itself. The key table
 * (hf_config_key_info) is checked as a whole: every key's default against
 * hf_config_init() and the shipped file, every scope, every refused key.
 *
 * Each case writes its configuration text to a fresh mkdtemp() directory
 * and removes it afterwards; nothing is shared between cases. */
#include "config.h"
#include "holdfast/mqtt.h"
#include "holdfast/store.h"
#include "test.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef HF_SOURCE_DIR
#error "HF_SOURCE_DIR must be defined by the build"
#endif

#define ERRLEN 512

struct tmpdir {
	char path[64];
};

static int
tmp_make(struct tmpdir *t)
{
	snprintf(t->path, sizeof(t->path), "/tmp/hf_config_test.XXXXXX");
	return mkdtemp(t->path) ? 0 : -1;
}

static int
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Loads text (written to DIR/test.conf) on top of c; the file path is copied
 * to path_out for the caller's message checks. */
static int
load_text(struct hf_config *c, const char *text, char *path_out,
          size_t path_len, char *err)
{
	struct tmpdir t;
	char path[128];
	int rc;

	err[0] = '\0';
	if (tmp_make(&t))
		return -2;
	snprintf(path, sizeof(path), "%s/test.conf", t.path);
	if (write_text(path, text)) {
		rmdir(t.path);
		return -2;
	}
	rc = hf_config_load(c, path, err, ERRLEN);
	if (path_out)
		snprintf(path_out, path_len, "%s", path);
	unlink(path);
	rmdir(t.path);
	return rc;
}

/* Loads a fresh config from text; expects failure with a message naming the
 * file, ":line:" and want (the key). Returns 1 when so. */
static int
expect_error(const char *text, unsigned line, const char *want)
{
	struct hf_config c;
	char err[ERRLEN], path[128], at[32];
	int rc, ok;

	if (hf_config_init(&c))
		return 0;
	rc = load_text(&c, text, path, sizeof(path), err);
	hf_config_free(&c);
	snprintf(at, sizeof(at), ":%u: ", line);
	ok = rc == -1 && strstr(err, path) == err && strstr(err, at) &&
	     strstr(err, want);
	if (!ok)
		fprintf(stderr,
		        "  config text: %s  rc=%d err='%s' (wanted line %u, "
		        "'%s')\n",
		        text, rc, err, line, want);
	return ok;
}

static bool
str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
listener_eq(const struct hf_listener_conf *a, const struct hf_listener_conf *b)
{
	return a->port == b->port && str_eq(a->bind_address, b->bind_address) &&
	       a->socket_domain == b->socket_domain &&
	       a->max_connections == b->max_connections &&
	       a->allow_anonymous == b->allow_anonymous &&
	       a->local_only == b->local_only && a->protocol == b->protocol &&
	       str_eq(a->cafile, b->cafile) && str_eq(a->capath, b->capath) &&
	       str_eq(a->certfile, b->certfile) &&
	       str_eq(a->keyfile, b->keyfile) &&
	       str_eq(a->crlfile, b->crlfile) &&
	       str_eq(a->dhparamfile, b->dhparamfile) &&
	       str_eq(a->ciphers, b->ciphers) &&
	       str_eq(a->ciphers_tls13, b->ciphers_tls13) &&
	       a->tls_version == b->tls_version &&
	       a->require_certificate == b->require_certificate &&
	       a->use_identity_as_username == b->use_identity_as_username &&
	       a->use_subject_as_username == b->use_subject_as_username;
}

/* Every field, one by one (no memcmp: padding and pointers differ). */
static bool
config_eq(const struct hf_config *a, const struct hf_config *b)
{
	size_t i;

	if (a->n_listeners != b->n_listeners)
		return false;
	for (i = 0; i < a->n_listeners; i++)
		if (!listener_eq(&a->listeners[i], &b->listeners[i]))
			return false;
	return a->per_listener_settings == b->per_listener_settings &&
	       a->allow_anonymous == b->allow_anonymous &&
	       a->allow_zero_length_clientid == b->allow_zero_length_clientid &&
	       str_eq(a->auto_id_prefix, b->auto_id_prefix) &&
	       str_eq(a->clientid_prefixes, b->clientid_prefixes) &&
	       a->max_keepalive == b->max_keepalive &&
	       a->max_packet_size == b->max_packet_size &&
	       a->message_size_limit == b->message_size_limit &&
	       a->max_inflight_messages == b->max_inflight_messages &&
	       a->max_inflight_bytes == b->max_inflight_bytes &&
	       a->max_queued_messages == b->max_queued_messages &&
	       a->max_queued_bytes == b->max_queued_bytes &&
	       a->queue_qos0_messages == b->queue_qos0_messages &&
	       a->maximum_qos == b->maximum_qos &&
	       a->retain_available == b->retain_available &&
	       a->max_topic_alias == b->max_topic_alias &&
	       a->connect_timeout == b->connect_timeout &&
	       a->max_topic_levels == b->max_topic_levels &&
	       a->max_subscriptions_per_client ==
	           b->max_subscriptions_per_client &&
	       a->client_max_write_buffer_size ==
	           b->client_max_write_buffer_size &&
	       a->persistent_client_expiration ==
	           b->persistent_client_expiration &&
	       a->upgrade_outgoing_qos == b->upgrade_outgoing_qos &&
	       a->set_tcp_nodelay == b->set_tcp_nodelay &&
	       a->sys_interval == b->sys_interval &&
	       a->log_dest == b->log_dest && str_eq(a->log_file, b->log_file) &&
	       a->log_types == b->log_types &&
	       a->log_timestamp == b->log_timestamp &&
	       str_eq(a->log_timestamp_format, b->log_timestamp_format) &&
	       a->log_format == b->log_format &&
	       a->connection_messages == b->connection_messages &&
	       str_eq(a->pid_file, b->pid_file) && str_eq(a->user, b->user) &&
	       a->daemon == b->daemon && a->verbose == b->verbose &&
	       a->test_config == b->test_config &&
	       a->n_cmd_ports == b->n_cmd_ports &&
	       a->persistence == b->persistence &&
	       str_eq(a->persistence_location, b->persistence_location) &&
	       str_eq(a->persistence_file, b->persistence_file) &&
	       a->autosave_interval == b->autosave_interval &&
	       a->autosave_on_changes == b->autosave_on_changes &&
	       a->persistence_sync == b->persistence_sync &&
	       a->persistence_max_size == b->persistence_max_size &&
	       a->persistence_initial_size == b->persistence_initial_size &&
	       a->persistence_commit_max == b->persistence_commit_max &&
	       a->move_damaged_store == b->move_damaged_store &&
	       listener_eq(&a->default_listener, &b->default_listener) &&
	       a->default_listener_used == b->default_listener_used;
}

static void
test_defaults(void)
{
	struct hf_config c;
	char err[ERRLEN];
	size_t i;

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(c.n_listeners, 0);
	CHECK_EQ(c.allow_anonymous, -1);
	CHECK(!c.per_listener_settings);
	CHECK(c.allow_zero_length_clientid);
	CHECK(str_eq(c.auto_id_prefix, "auto-"));
	CHECK(c.clientid_prefixes == NULL);
	CHECK_EQ(c.max_keepalive, 65535);
	CHECK_EQ(c.max_packet_size, 0);
	CHECK_EQ(c.message_size_limit, 0);
	CHECK_EQ(c.max_inflight_messages, 20);
	CHECK_EQ(c.max_inflight_bytes, 0);
	CHECK_EQ(c.max_queued_messages, 1000000); /* not mosquitto's 1000 */
	CHECK_EQ(c.max_queued_bytes, 0);
	CHECK(!c.queue_qos0_messages);
	CHECK_EQ(c.maximum_qos, 2);
	CHECK(c.retain_available);
	CHECK_EQ(c.max_topic_alias, 10);
	CHECK_EQ(c.connect_timeout, 10);
	CHECK_EQ(c.max_topic_levels, 128);
	CHECK_EQ(c.max_subscriptions_per_client, 10000);
	CHECK_EQ(c.client_max_write_buffer_size, 1048576); /* FlashMQ's */
	CHECK_EQ(c.persistent_client_expiration, 0);
	CHECK(!c.upgrade_outgoing_qos);
	CHECK(c.set_tcp_nodelay); /* Holdfast's default differs: see conf */
	CHECK_EQ(c.sys_interval, 10);
	CHECK_EQ(c.log_dest, HF_LOGD_STDERR);
	CHECK(c.log_file == NULL);
	CHECK_EQ(c.log_types,
	         HF_LOG_ERR | HF_LOG_WARNING | HF_LOG_NOTICE | HF_LOG_INFO);
	CHECK(c.log_timestamp);
	CHECK(c.log_timestamp_format == NULL);
	CHECK_EQ(c.log_format, HF_LOGF_TEXT);
	CHECK(c.connection_messages);
	CHECK(c.pid_file == NULL && c.user == NULL && c.config_file == NULL);
	CHECK(!c.daemon && !c.verbose && !c.test_config);
	/* persistence: on, unlike mosquitto */
	CHECK(c.persistence);
	CHECK(str_eq(c.persistence_location, "data"));
	CHECK(str_eq(c.persistence_file, "holdfast.db"));
	CHECK_EQ(c.autosave_interval, 1800);
	CHECK(!c.autosave_on_changes);
	CHECK_EQ(c.persistence_sync, HF_SYNC_FULL);
	CHECK(c.persistence_max_size == 16ULL * 1024 * 1024 * 1024);
	CHECK(c.persistence_initial_size == 64ULL * 1024 * 1024);
	CHECK_EQ(c.persistence_commit_max, 8192);
	CHECK(!c.move_damaged_store);
	/* the default listener, before any key touches it */
	CHECK(!c.default_listener_used);
	CHECK_EQ(c.default_listener.port, 1883);
	CHECK(c.default_listener.bind_address == NULL);
	CHECK_EQ(c.default_listener.socket_domain, 0);
	CHECK_EQ(c.default_listener.max_connections, -1);
	CHECK_EQ(c.default_listener.allow_anonymous, -1);
	CHECK(!c.default_listener.local_only);
	CHECK_EQ(c.default_listener.protocol, HF_LISTENER_MQTT);

	/* The embedded default: 1883 on loopback v4 and v6, anonymous ok. */
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 2);
	CHECK_EQ(c.allow_anonymous, 1);
	CHECK(str_eq(c.listeners[0].bind_address, "127.0.0.1"));
	CHECK_EQ(c.listeners[0].socket_domain, AF_INET);
	CHECK(str_eq(c.listeners[1].bind_address, "::1"));
	CHECK_EQ(c.listeners[1].socket_domain, AF_INET6);
	for (i = 0; i < 2; i++) {
		CHECK_EQ(c.listeners[i].port, 1883);
		CHECK(c.listeners[i].local_only);
		CHECK_EQ(c.listeners[i].allow_anonymous, 1);
		CHECK_EQ(c.listeners[i].max_connections, -1);
		CHECK_EQ(c.listeners[i].protocol, HF_LISTENER_MQTT);
	}
	CHECK(!c.cmd_ports_ignored);
	hf_config_free(&c);
}

static void
test_every_key(void)
{
	static const char text[] =
	    "# every implemented key with a non-default value\n"
	    "per_listener_settings false\n"
	    "allow_anonymous true\n"
	    "allow_zero_length_clientid false\n"
	    "auto_id_prefix hf-\n"
	    "clientid_prefixes secure-\n"
	    "max_keepalive 60\n"
	    "max_packet_size 1000\n"
	    "message_size_limit 500\n"
	    "max_inflight_messages 1\n"
	    "max_inflight_bytes 123456\n"
	    "max_queued_messages 1000\n"
	    "max_queued_bytes 9999999999\n"
	    "queue_qos0_messages true\n"
	    "maximum_qos 1\n"
	    "retain_available false\n"
	    "max_topic_alias 0\n"
	    "connect_timeout 3\n"
	    "max_topic_levels 0\n"
	    "max_subscriptions_per_client 5\n"
	    "client_max_write_buffer_size 64k\n"
	    "persistent_client_expiration 14d\n"
	    "upgrade_outgoing_qos true\n"
	    "set_tcp_nodelay false\n"
	    "sys_interval 0\n"
	    "log_dest syslog\n"
	    "log_dest file /var/log/holdfast.log\n"
	    "log_type debug\n"
	    "log_type subscribe\n"
	    "log_timestamp false\n"
	    "log_timestamp_format %Y-%m-%d %H:%M:%S\n"
	    "log_format json\n"
	    "connection_messages false\n"
	    "pid_file /run/hf.pid\n"
	    "user nobody\n"
	    "listener 1884\n"
	    "protocol mqtt\n"
	    "socket_domain ipv6\n"
	    "max_connections 100\n";
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), 0);
	CHECK(!c.per_listener_settings);
	CHECK_EQ(c.allow_anonymous, 1);
	CHECK(!c.allow_zero_length_clientid);
	CHECK(str_eq(c.auto_id_prefix, "hf-"));
	CHECK(str_eq(c.clientid_prefixes, "secure-"));
	CHECK_EQ(c.max_keepalive, 60);
	CHECK_EQ(c.max_packet_size, 1000);
	CHECK_EQ(c.message_size_limit, 500);
	CHECK_EQ(c.max_inflight_messages, 1);
	CHECK_EQ(c.max_inflight_bytes, 123456);
	CHECK_EQ(c.max_queued_messages, 1000);
	CHECK(c.max_queued_bytes == 9999999999ULL);
	CHECK(c.queue_qos0_messages);
	CHECK_EQ(c.maximum_qos, 1);
	CHECK(!c.retain_available);
	CHECK_EQ(c.max_topic_alias, 0);
	CHECK_EQ(c.connect_timeout, 3);
	CHECK_EQ(c.max_topic_levels, 0);
	CHECK_EQ(c.max_subscriptions_per_client, 5);
	CHECK_EQ(c.client_max_write_buffer_size, 65536);
	CHECK_EQ(c.persistent_client_expiration, 14 * 86400);
	CHECK(c.upgrade_outgoing_qos);
	CHECK(!c.set_tcp_nodelay);
	CHECK_EQ(c.sys_interval, 0);
	CHECK_EQ(c.log_dest, HF_LOGD_SYSLOG | HF_LOGD_FILE);
	CHECK(str_eq(c.log_file, "/var/log/holdfast.log"));
	CHECK_EQ(c.log_types, HF_LOG_DEBUG | HF_LOG_SUBSCRIBE);
	CHECK(!c.log_timestamp);
	CHECK(str_eq(c.log_timestamp_format, "%Y-%m-%d %H:%M:%S"));
	CHECK_EQ(c.log_format, HF_LOGF_JSON);
	CHECK(!c.connection_messages);
	CHECK(str_eq(c.pid_file, "/run/hf.pid"));
	CHECK(str_eq(c.user, "nobody"));
	CHECK_EQ(c.n_listeners, 1);
	CHECK_EQ(c.listeners[0].port, 1884);
	CHECK(c.listeners[0].bind_address == NULL);
	CHECK_EQ(c.listeners[0].socket_domain, AF_INET6);
	CHECK_EQ(c.listeners[0].max_connections, 100);
	CHECK_EQ(c.listeners[0].protocol, HF_LISTENER_MQTT);
	CHECK(!c.default_listener_used);

	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 1);
	CHECK(!c.listeners[0].local_only);
	CHECK_EQ(c.listeners[0].allow_anonymous, 1);
	hf_config_free(&c);
}

static void
test_max_values(void)
{
	static const char text[] = "max_keepalive 65535\n"
	                           "max_keepalive 0\n"
	                           "max_packet_size 268435460\n"
	                           "max_packet_size 20\n"
	                           "message_size_limit 268435455\n"
	                           "max_inflight_messages 65535\n"
	                           "max_inflight_messages 0\n"
	                           "maximum_qos 0\n"
	                           "max_topic_alias 65535\n"
	                           "connect_timeout 65535\n"
	                           "max_topic_levels 65535\n"
	                           "max_subscriptions_per_client 4294967295\n"
	                           "max_queued_messages 0\n"
	                           "max_connections -1\n"
	                           "persistent_client_expiration 2h\n";
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), 0);
	CHECK_EQ(c.max_keepalive, 0);
	CHECK_EQ(c.max_packet_size, 20);
	CHECK_EQ(c.message_size_limit, 268435455);
	CHECK_EQ(c.max_inflight_messages, 0);
	CHECK_EQ(c.maximum_qos, 0);
	CHECK_EQ(c.max_topic_alias, 65535);
	CHECK_EQ(c.connect_timeout, 65535);
	CHECK_EQ(c.max_topic_levels, 65535);
	CHECK(c.max_subscriptions_per_client == 4294967295u);
	CHECK_EQ(c.persistent_client_expiration, 7200);
	/* max_connections before any listener makes the default listener */
	CHECK(c.default_listener_used);
	hf_config_free(&c);
}

static void
test_durations(void)
{
	static const struct {
		const char *v;
		unsigned long long secs;
	} cases[] = {
	    {"2h", 7200ULL},        {"14d", 14ULL * 86400},
	    {"1w", 7ULL * 86400},   {"2m", 60ULL * 86400},
	    {"1y", 365ULL * 86400}, {"100y", 36500ULL * 86400},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hf_config c;
		char text[64], err[ERRLEN];
		int rc;
		unsigned long long got;

		snprintf(text, sizeof(text),
		         "persistent_client_expiration %s\n", cases[i].v);
		CHECK_EQ(hf_config_init(&c), 0);
		rc = load_text(&c, text, NULL, 0, err);
		got = c.persistent_client_expiration;
		hf_config_free(&c);
		CHECK_EQ(rc, 0);
		CHECK(got == cases[i].secs);
	}
}

/* Bad values for every key: the message names the file, line 3, the key. */
static void
test_bad_values(void)
{
	static const struct {
		const char *line;
		const char *want;
	} cases[] = {
	    {"max_keepalive 70000", "max_keepalive: value 70000 out of "
	                            "range 0..65535"},
	    {"max_keepalive -1", "max_keepalive"},
	    {"max_keepalive abc", "max_keepalive: 'abc' is not an integer"},
	    {"max_keepalive 10x", "max_keepalive"},
	    {"max_keepalive", "max_keepalive: missing value"},
	    {"max_keepalive 10 20", "max_keepalive: unexpected extra"},
	    {"max_keepalive 60 # comment", "max_keepalive"},
	    {"max_packet_size 19", "max_packet_size"},
	    {"max_packet_size 268435461", "max_packet_size"},
	    {"max_packet_size x", "max_packet_size"},
	    {"message_size_limit 268435456", "message_size_limit"},
	    {"max_inflight_messages 65536", "max_inflight_messages"},
	    {"max_inflight_bytes -5", "max_inflight_bytes"},
	    {"max_inflight_bytes 99999999999999999999", "max_inflight_bytes"},
	    {"max_queued_messages -1", "max_queued_messages"},
	    {"max_queued_bytes lots", "max_queued_bytes"},
	    {"maximum_qos 3", "maximum_qos: value 3 out of range 0..2"},
	    {"max_topic_alias 65536", "max_topic_alias"},
	    {"connect_timeout 0", "connect_timeout: value 0 out of range "
	                          "1..65535"},
	    {"connect_timeout 65536", "connect_timeout"},
	    {"connect_timeout 1.5", "connect_timeout"},
	    {"connect_timeout", "connect_timeout: missing value"},
	    {"max_topic_levels 65536", "max_topic_levels: value 65536 out "
	                               "of range 0..65535"},
	    {"max_topic_levels -1", "max_topic_levels"},
	    {"max_subscriptions_per_client 4294967296",
	     "max_subscriptions_per_client"},
	    {"max_subscriptions_per_client many",
	     "max_subscriptions_per_client"},
	    {"sys_interval -1", "sys_interval"},
	    {"sys_interval 1.5", "sys_interval"},
	    {"max_connections -2", "max_connections"},
	    {"max_connections many", "max_connections"},
	    {"persistent_client_expiration 14", "persistent_client_"
	                                        "expiration"},
	    {"persistent_client_expiration d", "persistent_client_"
	                                       "expiration"},
	    {"persistent_client_expiration 0d", "persistent_client_"
	                                        "expiration"},
	    {"persistent_client_expiration 1x", "persistent_client_"
	                                        "expiration"},
	    {"persistent_client_expiration -1d", "persistent_client_"
	                                         "expiration"},
	    {"persistent_client_expiration 99999999999999999y",
	     "persistent_client_expiration"},
	    {"allow_anonymous yes", "allow_anonymous: 'yes' is not a "
	                            "boolean"},
	    {"allow_anonymous", "allow_anonymous: missing value"},
	    {"per_listener_settings 1", "per_listener_settings"},
	    {"allow_zero_length_clientid TRUE", "allow_zero_length_"
	                                        "clientid"},
	    {"queue_qos0_messages maybe", "queue_qos0_messages"},
	    {"retain_available on", "retain_available"},
	    {"upgrade_outgoing_qos x", "upgrade_outgoing_qos"},
	    {"set_tcp_nodelay x", "set_tcp_nodelay"},
	    {"log_timestamp x", "log_timestamp"},
	    {"connection_messages x", "connection_messages"},
	    {"auto_id_prefix", "auto_id_prefix: missing value"},
	    {"clientid_prefixes", "clientid_prefixes"},
	    {"log_timestamp_format", "log_timestamp_format"},
	    {"pid_file", "pid_file"},
	    {"user", "user"},
	    {"log_dest", "log_dest"},
	    {"log_dest carrier-pigeon", "log_dest: unknown destination"},
	    {"log_format xml", "log_format: unknown format"},
	    {"log_dest file", "log_dest: file: missing file name"},
	    {"log_dest stderr stdout", "log_dest"},
	    {"log_type", "log_type"},
	    {"log_type chatter", "log_type: unknown type 'chatter'"},
	    {"listener", "listener: missing port"},
	    {"listener 70000", "listener: value 70000 out of range"},
	    {"listener http", "listener"},
	    {"listener 1883 ::1 extra", "listener: unexpected extra"},
	    {"port 65536", "port"},
	    {"port", "port"},
	    {"bind_address", "bind_address"},
	    {"bind_address a b", "bind_address"},
	    {"socket_domain ipv5", "socket_domain: 'ipv5' is not ipv4 or "
	                           "ipv6"},
	    {"socket_domain", "socket_domain"},
	    {"protocol mqtts", "protocol: unknown protocol 'mqtts'"},
	    {"protocol", "protocol"},
	    {"mount_point a/+/", "mount_point: 'a/+/' contains a wildcard"},
	    {"mount_point a/#", "mount_point: 'a/#' contains a wildcard"},
	    {"mount_point a b", "mount_point"},
	    {"use_username_as_clientid maybe", "use_username_as_clientid"},
	    {"include_dir", "include_dir"},
	    {"include_dir /nonexistent/hf-dir", "include_dir: cannot open "
	                                        "directory"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "# comment\n\n%s\nport 1\n",
		         cases[i].line);
		CHECK(expect_error(text, 3, cases[i].want));
	}
}

static void
test_unknown_and_planned(void)
{
	static const char *const planned[] = {
	    "psk_file /etc/psk",
	    "psk_hint hint",
	    "tls_engine x",
	    "tls_keyform pem",
	    "bind_interface eth0",
	    "auth_plugin /lib/p.so",
	    "plugin /lib/p.so",
	    "plugin_opt_foo bar",
	    "auth_opt_db x",
	    "check_retain_source true",
	    "memory_limit 0",
	    "accept_protocol_versions 5",
	    "listener_allow_anonymous true",
	    "allow_duplicate_messages true",
	};
	size_t i;

	CHECK(expect_error("xyz 1\n", 1, "unknown option 'xyz'"));
	CHECK(expect_error("\n\n\n   Max_keepalive 10\n", 4,
	                   "unknown option 'Max_keepalive'"));
	CHECK(expect_error("max_qos 1\n", 1, "max_qos: per-listener"));
	CHECK(expect_error("retry_interval 20\n", 1,
	                   "retry_interval: "
	                   "obsolete"));
	for (i = 0; i < sizeof(planned) / sizeof(planned[0]); i++) {
		char text[128], want[128];

		snprintf(text, sizeof(text), "#\n%s\n", planned[i]);
		snprintf(want, sizeof(want),
		         "%.*s: not supported yet in this build (planned)",
		         (int)strcspn(planned[i], " "), planned[i]);
		CHECK(expect_error(text, 2, want));
	}
}

static void
test_line_syntax(void)
{
	static const char text[] = "   # indented comment\r\n"
	                           "\t\r\n"
	                           "  max_keepalive \t 30   \r\n"
	                           "auto_id_prefix a#b\n"
	                           "clientid_prefixes  with  spaces  \n"
	                           "sys_interval 5"; /* no final newline */
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), 0);
	CHECK_EQ(c.max_keepalive, 30);
	CHECK(str_eq(c.auto_id_prefix, "a#b"));
	CHECK(str_eq(c.clientid_prefixes, "with  spaces"));
	CHECK_EQ(c.sys_interval, 5);
	hf_config_free(&c);

	/* an empty file is fine and changes nothing */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, "", NULL, 0, err), 0);
	CHECK_EQ(c.max_keepalive, 65535);
	hf_config_free(&c);

	/* a missing file names the file */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(hf_config_load(&c, "/nonexistent/hf.conf", err, sizeof(err)),
	         -1);
	hf_config_free(&c);
	CHECK(strstr(err, "/nonexistent/hf.conf") != NULL);
}

static void
test_logging(void)
{
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "log_dest stdout\nlog_dest topic\nlog_dest dlt\n"
	                   "log_type error\nlog_type all\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(c.log_dest, HF_LOGD_STDOUT | HF_LOGD_TOPIC | HF_LOGD_DLT);
	CHECK_EQ(c.log_types, HF_LOG_ALL);
	/* a second file adds to what the first set, it does not reset */
	CHECK_EQ(load_text(&c, "log_dest stderr\n", NULL, 0, err), 0);
	CHECK_EQ(c.log_dest,
	         HF_LOGD_STDOUT | HF_LOGD_TOPIC | HF_LOGD_DLT | HF_LOGD_STDERR);
	CHECK_EQ(load_text(&c,
	                   "log_dest none\nlog_type none\n"
	                   "log_type unsubscribe\nlog_type websockets\n"
	                   "log_type warning\nlog_type notice\n"
	                   "log_type information\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(c.log_dest, 0);
	CHECK_EQ(c.log_types, HF_LOG_UNSUBSCRIBE | HF_LOG_WEBSOCKETS |
	                          HF_LOG_WARNING | HF_LOG_NOTICE | HF_LOG_INFO);
	CHECK_EQ(load_text(&c, "log_dest file /tmp/a b.log\n", NULL, 0, err),
	         0);
	CHECK_EQ(c.log_dest, HF_LOGD_FILE);
	CHECK(str_eq(c.log_file, "/tmp/a b.log"));
	hf_config_free(&c);
}

static void
test_listeners(void)
{
	static const char text[] = "port 1885\n"
	                           "bind_address 0.0.0.0\n"
	                           "socket_domain ipv4\n"
	                           "allow_anonymous true\n"
	                           "listener 1886 127.0.0.1\n"
	                           "max_connections 5\n"
	                           "listener 1887\n"
	                           "listener 0 ::1\n"
	                           "listener 0 ::1\n" /* port 0: no clash */
	                           "socket_domain ipv6\n";
	struct hf_config c;
	char err[ERRLEN];
	size_t i;

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), 0);
	CHECK_EQ(c.n_listeners, 4);
	CHECK(c.default_listener_used);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 5);
	/* the default listener (port/bind_address) comes first */
	CHECK_EQ(c.listeners[0].port, 1885);
	CHECK(str_eq(c.listeners[0].bind_address, "0.0.0.0"));
	CHECK_EQ(c.listeners[0].socket_domain, AF_INET);
	CHECK_EQ(c.listeners[1].port, 1886);
	CHECK(str_eq(c.listeners[1].bind_address, "127.0.0.1"));
	CHECK_EQ(c.listeners[1].max_connections, 5);
	CHECK_EQ(c.listeners[1].socket_domain, 0);
	CHECK_EQ(c.listeners[2].port, 1887);
	CHECK(c.listeners[2].bind_address == NULL);
	CHECK_EQ(c.listeners[2].max_connections, -1);
	CHECK_EQ(c.listeners[3].port, 0);
	CHECK_EQ(c.listeners[3].socket_domain, 0);
	CHECK_EQ(c.listeners[4].socket_domain, AF_INET6);
	for (i = 0; i < c.n_listeners; i++) {
		CHECK(!c.listeners[i].local_only);
		CHECK_EQ(c.listeners[i].allow_anonymous, 1); /* global */
	}
	hf_config_free(&c);

	/* the same port and address twice is refused */
	CHECK(expect_error("listener 1883\nlistener 1884\nlistener 1883\n", 3,
	                   "listener: port 1883 on all addresses is already "
	                   "configured"));
	CHECK(expect_error("listener 1883 ::1\nlistener 1883 ::1\n", 2,
	                   "listener"));

	/* a listener without allow_anonymous: false (mosquitto 2.0) */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, "listener 1883\n", NULL, 0, err), 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 1);
	CHECK_EQ(c.allow_anonymous, 0);
	CHECK_EQ(c.listeners[0].allow_anonymous, 0);
	hf_config_free(&c);

	/* no listener but allow_anonymous false: local only, refused */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, "allow_anonymous false\n", NULL, 0, err), 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 2);
	CHECK(c.listeners[0].local_only && c.listeners[1].local_only);
	CHECK_EQ(c.listeners[0].allow_anonymous, 0);
	CHECK_EQ(c.listeners[1].allow_anonymous, 0);
	hf_config_free(&c);
}

static void
test_per_listener_settings(void)
{
	static const char text[] = "per_listener_settings true\n"
	                           "allow_anonymous true\n" /* default l. */
	                           "listener 1883\n"
	                           "allow_anonymous true\n"
	                           "listener 1884\n"
	                           "listener 1885\n"
	                           "allow_anonymous false\n";
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), 0);
	CHECK(c.per_listener_settings);
	CHECK_EQ(c.allow_anonymous, -1);
	CHECK(!c.default_listener_used);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 3);
	CHECK_EQ(c.listeners[0].allow_anonymous, 1);
	CHECK_EQ(c.listeners[1].allow_anonymous, 0); /* unset: false */
	CHECK_EQ(c.listeners[2].allow_anonymous, 0);
	hf_config_free(&c);

	/* per_listener_settings false: the global value wins everywhere */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "listener 1883\nallow_anonymous true\n"
	                   "listener 1884\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.listeners[0].allow_anonymous, 1);
	CHECK_EQ(c.listeners[1].allow_anonymous, 1);
	hf_config_free(&c);

	/* per listener, local only: the default listener's value is used */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "per_listener_settings true\n"
	                   "allow_anonymous false\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 2);
	CHECK_EQ(c.listeners[0].allow_anonymous, 0);
	CHECK_EQ(c.allow_anonymous, 1);
	hf_config_free(&c);
}

/* include_dir: sorted order, errors name the included file and line,
 * include_dir only from the main file. */
static void
test_include_dir(void)
{
	struct tmpdir t;
	char dir[128], path[256], main_conf[160], text[256], err[ERRLEN];
	static const struct {
		const char *name;
		const char *text;
	} files[] = {
	    {"b.conf", "listener 2004\n"},
	    {"A.conf", "listener 2001\n"},
	    {"B.conf", "listener 2003\nmax_connections 7\n"},
	    {"a.conf", "listener 2002\n"},
	    {"notes.txt", "this is not a config file\n"},
	    {".conf", "neither is this\n"},
	};
	struct hf_config c;
	size_t i;
	int rc;

	CHECK_EQ(tmp_make(&t), 0);
	snprintf(dir, sizeof(dir), "%s/conf.d", t.path);
	CHECK_EQ(mkdir(dir, 0700), 0);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		CHECK_EQ(write_text(path, files[i].text), 0);
	}
	snprintf(main_conf, sizeof(main_conf), "%s/main.conf", t.path);
	/* trailing slash is fine; the listener opened last in an included
	 * file is still current after it */
	snprintf(text, sizeof(text),
	         "listener 2000\ninclude_dir %s/\nmax_connections 9\n", dir);
	CHECK_EQ(write_text(main_conf, text), 0);

	CHECK_EQ(hf_config_init(&c), 0);
	rc = hf_config_load(&c, main_conf, err, sizeof(err));
	if (rc)
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(c.n_listeners, 5);
	CHECK_EQ(c.listeners[0].port, 2000);
	CHECK_EQ(c.listeners[1].port, 2001); /* A */
	CHECK_EQ(c.listeners[2].port, 2002); /* a */
	CHECK_EQ(c.listeners[3].port, 2003); /* B */
	CHECK_EQ(c.listeners[3].max_connections, 7);
	CHECK_EQ(c.listeners[4].port, 2004); /* b */
	CHECK_EQ(c.listeners[4].max_connections, 9);
	hf_config_free(&c);

	/* an error in an included file names that file and its line */
	snprintf(path, sizeof(path), "%s/C.conf", dir);
	CHECK_EQ(write_text(path, "# bad\nmaximum_qos 7\n"), 0);
	CHECK_EQ(hf_config_init(&c), 0);
	rc = hf_config_load(&c, main_conf, err, sizeof(err));
	hf_config_free(&c);
	CHECK_EQ(rc, -1);
	snprintf(text, sizeof(text), "%s/C.conf:2: maximum_qos: value 7", dir);
	CHECK(strstr(err, text) == err);

	/* include_dir inside an included file is an error */
	CHECK_EQ(write_text(path, "include_dir /tmp\n"), 0);
	CHECK_EQ(hf_config_init(&c), 0);
	rc = hf_config_load(&c, main_conf, err, sizeof(err));
	hf_config_free(&c);
	CHECK_EQ(rc, -1);
	snprintf(text, sizeof(text), "%s/C.conf:1: include_dir: only allowed",
	         dir);
	CHECK(strstr(err, text) == err);

	/* clean up */
	unlink(path);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		unlink(path);
	}
	rmdir(dir);
	unlink(main_conf);
	rmdir(t.path);
}

/* argv is NULL-terminated; copied because hf_config_args takes char **. */
static int
run_args(struct hf_config *c, const char *const *argv, bool *exit_now,
         char *err)
{
	char *v[32];
	int argc = 0;

	while (argv[argc] && argc < 31) {
		v[argc] = (char *)argv[argc];
		argc++;
	}
	v[argc] = NULL;
	err[0] = '\0';
	return hf_config_args(c, argc, v, exit_now, err, ERRLEN);
}

static void
test_cli(void)
{
	struct tmpdir t;
	char path[128], err[ERRLEN];
	struct hf_config c;
	bool exit_now = true;
	size_t i;

	CHECK_EQ(tmp_make(&t), 0);
	snprintf(path, sizeof(path), "%s/cli.conf", t.path);
	CHECK_EQ(write_text(path, "log_type error\nmax_keepalive 99\n"), 0);

	{
		const char *argv[] = {
		    "holdfast", "-c",   path, "-p", "1884",
		    "--port",   "1885", "-v", "-d", "--test-config",
		    NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), 0);
	}
	CHECK(!exit_now);
	CHECK(str_eq(c.config_file, path));
	CHECK_EQ(c.max_keepalive, 99);
	CHECK(c.verbose && c.daemon && c.test_config);
	CHECK_EQ(c.log_types, HF_LOG_ALL); /* -v beats the file */
	CHECK_EQ(c.n_cmd_ports, 2);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	/* -p ports, local only: v4 and v6 loopback for each */
	CHECK_EQ(c.n_listeners, 4);
	CHECK_EQ(c.listeners[0].port, 1884);
	CHECK(str_eq(c.listeners[0].bind_address, "127.0.0.1"));
	CHECK_EQ(c.listeners[1].port, 1884);
	CHECK(str_eq(c.listeners[1].bind_address, "::1"));
	CHECK_EQ(c.listeners[2].port, 1885);
	CHECK_EQ(c.listeners[3].port, 1885);
	for (i = 0; i < 4; i++)
		CHECK(c.listeners[i].local_only &&
		      c.listeners[i].allow_anonymous == 1);
	CHECK(!c.cmd_ports_ignored);
	hf_config_free(&c);

	/* -p with listeners in the file: ignored, as in mosquitto 2.0 */
	CHECK_EQ(write_text(path, "listener 1890\n"), 0);
	{
		const char *argv[] = {"holdfast", "--config-file", path,
		                      "-p",       "1884",          NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), 0);
	}
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 1);
	CHECK_EQ(c.listeners[0].port, 1890);
	CHECK(c.cmd_ports_ignored);
	hf_config_free(&c);

	/* -p repeated 10 times is fine, 11 is not */
	{
		const char *argv[] = {"holdfast", "-p", "1",  "-p", "2", "-p",
		                      "3",        "-p", "4",  "-p", "5", "-p",
		                      "6",        "-p", "7",  "-p", "8", "-p",
		                      "9",        "-p", "10", NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), 0);
		CHECK_EQ(c.n_cmd_ports, 10);
		CHECK_EQ(c.cmd_ports[9], 10);
		hf_config_free(&c);
	}
	{
		const char *argv[] = {"holdfast", "-p", "1",  "-p", "2",  "-p",
		                      "3",        "-p", "4",  "-p", "5",  "-p",
		                      "6",        "-p", "7",  "-p", "8",  "-p",
		                      "9",        "-p", "10", "-p", "11", NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), -1);
		hf_config_free(&c);
		CHECK(strstr(err, "at most 10") != NULL);
	}

	/* -h: usage on stdout, exit now with 0 */
	{
		const char *argv[] = {"holdfast", "-h", NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), 0);
		hf_config_free(&c);
		CHECK(exit_now);
	}

	/* bad arguments */
	{
		static const struct {
			const char *a1, *a2, *want;
		} bad[] = {
		    {"-x", NULL, "unknown argument '-x'"},
		    {"--bogus", NULL, "unknown argument '--bogus'"},
		    {"extra", NULL, "unknown argument 'extra'"},
		    {"-p", NULL, "-p: missing port"},
		    {"-p", "0", "-p: '0' is not a port number"},
		    {"-p", "65536", "-p: '65536' is not a port number"},
		    {"-p", "http", "-p: 'http' is not a port number"},
		    {"-p", "-5", "-p: '-5'"},
		    {"-c", NULL, "-c: missing file name"},
		    {"-c", "/nonexistent/hf.conf", "/nonexistent/hf.conf"},
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			const char *argv[] = {"holdfast", bad[i].a1, bad[i].a2,
			                      NULL};
			int rc;

			CHECK_EQ(hf_config_init(&c), 0);
			rc = run_args(&c, argv, &exit_now, err);
			hf_config_free(&c);
			if (rc != -1 || !strstr(err, bad[i].want))
				fprintf(stderr, "  arg %s: rc=%d err='%s'\n",
				        bad[i].a1, rc, err);
			CHECK_EQ(rc, -1);
			CHECK(strstr(err, bad[i].want) != NULL);
		}
	}
	{
		const char *argv[] = {"holdfast", "-p",   "1883",
		                      "-p",       "1883", NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), -1);
		hf_config_free(&c);
		CHECK(strstr(err, "twice") != NULL);
	}
	{
		const char *argv[] = {"holdfast", "-c", path, "-c", path, NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), -1);
		hf_config_free(&c);
	}
	/* --test-config with a bad file: the load error reaches the caller */
	CHECK_EQ(write_text(path, "\nmax_keepalive 70000\n"), 0);
	{
		const char *argv[] = {"holdfast", "--test-config", "-c", path,
		                      NULL};
		char want[256];

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), -1);
		CHECK(c.test_config);
		hf_config_free(&c);
		snprintf(want, sizeof(want),
		         "%s:2: max_keepalive: value 70000 out of range "
		         "0..65535",
		         path);
		CHECK(str_eq(err, want));
	}
	unlink(path);
	rmdir(t.path);
}

#define KIB_ULL 1024ULL
#define MIB_ULL (1024ULL * KIB_ULL)
#define GIB_ULL (1024ULL * MIB_ULL)
#define TIB_ULL (1024ULL * GIB_ULL)

/* Every persistence key with a non-default value; a mosquitto-style file
 * (persistence location with a trailing '/', autosave keys) loads. */
static void
test_persistence_keys(void)
{
	static const char text[] = "persistence false\n"
	                           "persistence_location /var/lib/hf/\n"
	                           "persistence_file hf.db\n"
	                           "autosave_interval 0\n"
	                           "autosave_on_changes true\n"
	                           "persistence_sync os\n"
	                           "persistence_max_size 2g\n"
	                           "persistence_initial_size 1m\n"
	                           "persistence_commit_max 1\n"
	                           "max_queued_messages 5\n";
	static const char mosq[] = "persistence true\n"
	                           "persistence_location /var/lib/mosquitto/\n"
	                           "persistence_file mosquitto.db\n"
	                           "autosave_interval 1800\n"
	                           "autosave_on_changes false\n";
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), 0);
	CHECK(!c.persistence);
	CHECK(str_eq(c.persistence_location, "/var/lib/hf"));
	CHECK(str_eq(c.persistence_file, "hf.db"));
	CHECK_EQ(c.autosave_interval, 0);
	CHECK(c.autosave_on_changes);
	CHECK_EQ(c.persistence_sync, HF_SYNC_OS);
	CHECK(c.persistence_max_size == 2 * GIB_ULL);
	CHECK(c.persistence_initial_size == MIB_ULL);
	CHECK_EQ(c.persistence_commit_max, 1);
	CHECK_EQ(c.max_queued_messages, 5);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	hf_config_free(&c);

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, mosq, NULL, 0, err), 0);
	CHECK(c.persistence);
	CHECK(str_eq(c.persistence_location, "/var/lib/mosquitto"));
	CHECK(str_eq(c.persistence_file, "mosquitto.db"));
	CHECK_EQ(c.autosave_interval, 1800);
	CHECK(!c.autosave_on_changes);
	hf_config_free(&c);

	/* later lines win; the sync level can be set back to full; relative
	 * locations, several trailing slashes, "/" alone and spaces */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "persistence_sync os\n"
	                   "persistence_sync full\n"
	                   "persistence_location rel/dir//\n"
	                   "persistence_file a b.db\n"
	                   "persistence_commit_max 1000000\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(c.persistence_sync, HF_SYNC_FULL);
	CHECK(str_eq(c.persistence_location, "rel/dir"));
	CHECK(str_eq(c.persistence_file, "a b.db"));
	CHECK_EQ(c.persistence_commit_max, 1000000);
	CHECK_EQ(load_text(&c, "persistence_location /\n", NULL, 0, err), 0);
	CHECK(str_eq(c.persistence_location, "/"));
	CHECK_EQ(load_text(&c, "persistence_location ///\n", NULL, 0, err), 0);
	CHECK(str_eq(c.persistence_location, "/"));
	hf_config_free(&c);
}

static void
test_persistence_sizes(void)
{
	static const struct {
		const char *v;
		unsigned long long bytes;
	} cases[] = {
	    {"1048576", MIB_ULL},
	    {"1024k", MIB_ULL},
	    {"1024K", MIB_ULL},
	    {"1m", MIB_ULL},
	    {"64M", 64 * MIB_ULL},
	    {"3g", 3 * GIB_ULL},
	    {"16G", 16 * GIB_ULL},
	    {"1t", TIB_ULL},
	    {"2T", 2 * TIB_ULL},
	    {"1048577", MIB_ULL + 1},
	    {"8388607t", 8388607ULL * TIB_ULL}, /* the largest: < 2^63 */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hf_config c;
		char text[96], err[ERRLEN];
		uint64_t got_max, got_init;
		int rc;

		snprintf(text, sizeof(text),
		         "persistence_max_size %s\n"
		         "persistence_initial_size %s\n",
		         cases[i].v, cases[i].v);
		CHECK_EQ(hf_config_init(&c), 0);
		rc = load_text(&c, text, NULL, 0, err);
		got_max = c.persistence_max_size;
		got_init = c.persistence_initial_size;
		if (rc == 0)
			rc = hf_config_finish(&c, err, sizeof(err));
		hf_config_free(&c);
		if (rc)
			fprintf(stderr, "  size %s: %s\n", cases[i].v, err);
		CHECK_EQ(rc, 0);
		CHECK(got_max == cases[i].bytes);
		CHECK(got_init == cases[i].bytes);
	}

	/* the initial size may be below 1 MiB (down to 64 KiB) */
	{
		struct hf_config c;
		char err[ERRLEN];

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(load_text(&c, "persistence_initial_size 64k\n", NULL,
		                   0, err),
		         0);
		CHECK(c.persistence_initial_size == 64 * KIB_ULL);
		hf_config_free(&c);
	}
}

/* persistence_initial_size > persistence_max_size: refused by finish, the
 * message names the option; equal is fine. The defaults (64m, 16g) too. */
static void
test_persistence_initial_above_max(void)
{
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "persistence_max_size 1m\n"
	                   "persistence_initial_size 2m\n",
	                   NULL, 0, err),
	         0);
	err[0] = '\0';
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "persistence_initial_size") != NULL);
	CHECK(strstr(err, "persistence_max_size") != NULL);
	hf_config_free(&c);

	/* default initial size (64m) above a smaller max */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, "persistence_max_size 32m\n", NULL, 0, err), 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "persistence_initial_size") != NULL);
	hf_config_free(&c);

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "persistence_max_size 2m\n"
	                   "persistence_initial_size 2048k\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	hf_config_free(&c);
}

/* Bad persistence values: the message names the file, line 3, the key. */
static void
test_persistence_bad_values(void)
{
	static const struct {
		const char *line;
		const char *want;
	} cases[] = {
	    {"persistence yes", "persistence: 'yes' is not a boolean"},
	    {"persistence", "persistence: missing value"},
	    {"persistence true false", "persistence: unexpected extra"},
	    {"persistence_location", "persistence_location: missing value"},
	    {"persistence_file", "persistence_file: missing value"},
	    {"persistence_file db/hf.db", "persistence_file: 'db/hf.db' "
	                                  "must be a file name"},
	    {"persistence_file /hf.db", "persistence_file"},
	    {"persistence_file hf.db/", "persistence_file"},
	    {"persistence_file ..", "persistence_file"},
	    {"autosave_interval -1", "autosave_interval"},
	    {"autosave_interval 1h", "autosave_interval: '1h' is not an "
	                             "integer"},
	    {"autosave_interval", "autosave_interval: missing value"},
	    {"autosave_interval 2147483648", "autosave_interval"},
	    {"autosave_on_changes 1", "autosave_on_changes"},
	    {"persistence_sync", "persistence_sync: missing value"},
	    {"persistence_sync fsync", "persistence_sync: 'fsync' is not "
	                               "full or os"},
	    {"persistence_sync FULL", "persistence_sync"},
	    {"persistence_sync full os", "persistence_sync: unexpected"},
	    {"persistence_max_size", "persistence_max_size: missing value"},
	    {"persistence_max_size 1048575", "persistence_max_size: size "
	                                     "1048575 out of range"},
	    {"persistence_max_size 1023k", "persistence_max_size: size "
	                                   "1023k out of range"},
	    {"persistence_max_size 0", "persistence_max_size"},
	    {"persistence_max_size 16x", "persistence_max_size: '16x' is "
	                                 "not a size"},
	    {"persistence_max_size 16gb", "persistence_max_size"},
	    {"persistence_max_size 1.5g", "persistence_max_size"},
	    {"persistence_max_size g", "persistence_max_size"},
	    {"persistence_max_size -1g", "persistence_max_size"},
	    {"persistence_max_size +1g", "persistence_max_size"},
	    {"persistence_max_size 16 g", "persistence_max_size: "
	                                  "unexpected"},
	    {"persistence_max_size 8388608t", "persistence_max_size: size "
	                                      "8388608t out of range"},
	    {"persistence_max_size 99999999999999999999",
	     "persistence_max_size"},
	    {"persistence_max_size 18014398509481984k", "persistence_max_size"},
	    {"persistence_initial_size 65535", "persistence_initial_size: "
	                                       "size 65535 out of range"},
	    {"persistence_initial_size lots", "persistence_initial_size"},
	    {"persistence_initial_size", "persistence_initial_size"},
	    {"persistence_commit_max 0", "persistence_commit_max: value 0 "
	                                 "out of range 1..1000000"},
	    {"persistence_commit_max 1000001", "persistence_commit_max"},
	    {"persistence_commit_max -1", "persistence_commit_max"},
	    {"persistence_commit_max 8k", "persistence_commit_max"},
	    {"persistence_commit_max", "persistence_commit_max"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "# comment\n\n%s\nport 1\n",
		         cases[i].line);
		CHECK(expect_error(text, 3, cases[i].want));
	}
}

/* --move-damaged-store sets the flag, alone or with the other arguments,
 * and appears in the usage text. */
static void
test_cli_move_damaged_store(void)
{
	struct hf_config c;
	char err[ERRLEN];
	bool exit_now = true;

	{
		const char *argv[] = {"holdfast", "--move-damaged-store", NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), 0);
		CHECK(!exit_now);
		CHECK(c.move_damaged_store);
		CHECK(!c.test_config && !c.verbose && !c.daemon);
		CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
		CHECK(c.move_damaged_store);
		hf_config_free(&c);
	}
	{
		const char *argv[] = {"holdfast",      "-p",
		                      "1884",          "--move-damaged-store",
		                      "--test-config", NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), 0);
		CHECK(c.move_damaged_store && c.test_config);
		CHECK_EQ(c.n_cmd_ports, 1);
		hf_config_free(&c);
	}
	{
		const char *argv[] = {"holdfast", "--move-damaged", NULL};

		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), -1);
		CHECK(!c.move_damaged_store);
		hf_config_free(&c);
		CHECK(strstr(err, "unknown argument '--move-damaged'") != NULL);
	}
	/* the usage text (stdout) names the flag */
	{
		const char *argv[] = {"holdfast", "-h", NULL};
		char buf[4096];
		size_t n;
		FILE *f = tmpfile();
		int saved;

		CHECK(f != NULL);
		if (!f)
			return;
		fflush(stdout);
		saved = dup(STDOUT_FILENO);
		CHECK(saved >= 0);
		CHECK(dup2(fileno(f), STDOUT_FILENO) >= 0);
		CHECK_EQ(hf_config_init(&c), 0);
		CHECK_EQ(run_args(&c, argv, &exit_now, err), 0);
		hf_config_free(&c);
		fflush(stdout);
		CHECK(dup2(saved, STDOUT_FILENO) >= 0);
		close(saved);
		CHECK(exit_now);
		rewind(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		CHECK(strstr(buf, "--move-damaged-store") != NULL);
		CHECK(strstr(buf, ".damaged-") != NULL);
	}
}

/* conf/holdfast.conf loads and gives exactly the defaults. */
static void
test_shipped_conf(void)
{
	struct hf_config def, c;
	char err[ERRLEN];
	int rc;

	CHECK_EQ(hf_config_init(&def), 0);
	CHECK_EQ(hf_config_init(&c), 0);
	rc = hf_config_load(&c, HF_SOURCE_DIR "/conf/holdfast.conf", err,
	                    sizeof(err));
	if (rc)
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ(rc, 0);
	CHECK(config_eq(&def, &c));
	CHECK(!c.log_dest_set && !c.log_type_set);
	/* the persistence defaults explicitly (config_eq compares them too) */
	CHECK(c.persistence);
	CHECK(str_eq(c.persistence_location, "data"));
	CHECK(str_eq(c.persistence_file, "holdfast.db"));
	CHECK_EQ(c.max_queued_messages, 1000000);
	CHECK_EQ(c.persistence_sync, HF_SYNC_FULL);
	/* and every persistence key is documented there, commented out, with
	 * its default */
	{
		static const char *const lines[] = {
		    "\n#persistence true\n",
		    "\n#persistence_location data\n",
		    "\n#persistence_file holdfast.db\n",
		    "\n#persistence_sync full\n",
		    "\n#persistence_commit_max 8192\n",
		    "\n#persistence_initial_size 64m\n",
		    "\n#persistence_max_size 16g\n",
		    "\n#autosave_interval 1800\n",
		    "\n#autosave_on_changes false\n",
		    "\n#max_queued_messages 1000000\n",
		    "\n#max_queued_bytes 0\n",
		    "\n#client_max_write_buffer_size 1m\n",
		    "\n#protocol mqtt\n",
		    "--move-damaged-store",
		    "0x97",
		};
		const size_t cap = 1 << 16;
		char *text = malloc(cap);
		FILE *f = fopen(HF_SOURCE_DIR "/conf/holdfast.conf", "r");
		size_t n = 0, i;

		CHECK(f != NULL && text != NULL);
		if (f && text)
			n = fread(text, 1, cap - 1, f);
		if (f)
			fclose(f);
		if (text) {
			text[n] = '\0';
			CHECK(n < cap - 1);
			for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
				if (!strstr(text, lines[i]))
					fprintf(stderr,
					        "  not in holdfast.conf: %s\n",
					        lines[i]);
				CHECK(strstr(text, lines[i]) != NULL);
			}
		}
		free(text);
	}
	CHECK_EQ(hf_config_finish(&def, err, sizeof(err)), 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK(config_eq(&def, &c));
	hf_config_free(&def);
	hf_config_free(&c);
}

/* finish twice and free twice are harmless. */
static void
test_finish_free_idempotent(void)
{
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 2);
	hf_config_free(&c);
	hf_config_free(&c);
	CHECK(c.listeners == NULL);
}

/* ---- the key table ------------------------------------------------------- */

/* Reads conf/holdfast.conf into a heap string (NULL on failure). */
static char *
read_shipped_conf(void)
{
	const size_t cap = 1 << 16;
	char *text = malloc(cap);
	FILE *f = fopen(HF_SOURCE_DIR "/conf/holdfast.conf", "r");
	size_t n = 0;

	if (f && text)
		n = fread(text, 1, cap - 1, f);
	if (f)
		fclose(f);
	if (!f || !text || n == cap - 1) {
		free(text);
		return NULL;
	}
	text[n] = '\0';
	return text;
}

/* Every implemented key and its default as written in a file (NULL when the
 * default cannot be written, e.g. "unset" or "never"; test_defaults checks
 * those). Written on top of hf_config_init(), the value must change nothing
 * (except that writing a listener key before any listener opens the default
 * listener: opens), and conf/holdfast.conf must show it commented out.
 * Kept by hand, apart from the table, so that a default changed there
 * fails here; a key added to the table without a line here fails too. */
static const struct {
	const char *key;
	const char *def;
	bool opens;
} key_defaults[] = {
    {"listener", NULL, false},
    {"port", "1883", true},
    {"bind_address", NULL, false},  /* all addresses */
    {"socket_domain", NULL, false}, /* both */
    {"max_connections", "-1", true},
    {"protocol", "mqtt", false},
    {"mount_point", NULL, false}, /* none */
    {"http_dir", NULL, false},    /* none */
    {"use_username_as_clientid", "false", true},
    {"cafile", NULL, false},
    {"capath", NULL, false},
    {"certfile", NULL, false}, /* a plain TCP listener */
    {"keyfile", NULL, false},
    {"crlfile", NULL, false},
    {"ciphers", NULL, false},        /* OpenSSL's */
    {"ciphers_tls1.3", NULL, false}, /* OpenSSL's */
    {"tls_version", "tlsv1.2", true},
    {"require_certificate", "false", true},
    {"use_identity_as_username", "false", true},
    {"use_subject_as_username", "false", true},
    {"dhparamfile", NULL, false},
    {"allow_anonymous", NULL, false}, /* unset: see finish */
    {"per_listener_settings", "false", false},
    {"password_file", NULL, false},
    {"acl_file", NULL, false},
    {"acl_check_subscribe", "false", false},
    {"allow_zero_length_clientid", "true", false},
    {"auto_id_prefix", "auto-", false},
    {"clientid_prefixes", NULL, false}, /* any client id */
    {"max_keepalive", "65535", false},
    {"max_packet_size", "0", false},
    {"message_size_limit", "0", false},
    {"max_inflight_messages", "20", false},
    {"max_inflight_bytes", "0", false},
    {"websockets_headers_size", "0", false}, /* libwebsockets' 1024 */
    {"websockets_log_level", "0", false},    /* errors and warnings */
    {"max_queued_messages", "1000000", false},
    {"max_queued_bytes", "0", false},
    {"queue_qos0_messages", "false", false},
    {"maximum_qos", "2", false},
    {"retain_available", "true", false},
    {"max_topic_alias", "10", false},
    {"connect_timeout", "10", false},
    {"max_topic_levels", "128", false},
    {"max_subscriptions_per_client", "10000", false},
    {"client_max_write_buffer_size", "1m", false},
    {"persistent_client_expiration", NULL, false}, /* never */
    {"upgrade_outgoing_qos", "false", false},
    {"set_tcp_nodelay", "true", false},
    {"sys_interval", "10", false},
    {"log_dest", "stderr", false},
    {"log_type",
     "error\nlog_type warning\nlog_type notice\n"
     "log_type information",
     false},
    {"log_timestamp", "true", false},
    {"log_timestamp_format", NULL, false}, /* seconds since the epoch */
    {"log_format", "text", false},
    {"connection_messages", "true", false},
    {"include_dir", NULL, false},
    {"pid_file", NULL, false},
    {"user", NULL, false},
    {"persistence", "true", false},
    {"persistence_location", "data", false},
    {"persistence_file", "holdfast.db", false},
    {"persistence_sync", "full", false},
    {"persistence_max_size", "16g", false},
    {"persistence_initial_size", "64m", false},
    {"persistence_commit_max", "8192", false},
    {"autosave_interval", "1800", false},
    {"autosave_on_changes", "false", false},
    /* bridges (written inside a connection block, see BRIDGE_HEAD) */
    {"connection", NULL, false},
    {"address", NULL, false},
    {"addresses", NULL, false},
    {"topic", NULL, false},
    {"round_robin", "false", false},
    {"cleansession", "false", false},
    {"local_cleansession", NULL, false}, /* not cleansession's */
    {"remote_clientid", NULL, false},    /* NAME.HOSTNAME */
    {"local_clientid", NULL, false},     /* local.REMOTE_CLIENTID */
    {"remote_username", NULL, false},
    {"remote_password", NULL, false},
    {"bridge_protocol_version", "mqttv311", false},
    {"try_private", "true", false},
    {"notifications", "true", false},
    {"notification_topic", NULL, false}, /* from remote_clientid */
    {"notifications_local_only", "false", false},
    {"keepalive_interval", "60", false},
    {"restart_timeout", "5 30", false},
    {"start_type", "automatic", false},
    {"bridge_max_packet_size", "0", false},
    {"bridge_receive_maximum", "65535", false},
    {"bridge_session_expiry_interval", "0", false},
    {"bridge_outgoing_retain", "true", false},
    {"bridge_attempt_unsubscribe", "true", false},
    {"bridge_cafile", NULL, false},
    {"bridge_capath", NULL, false},
    {"bridge_certfile", NULL, false},
    {"bridge_keyfile", NULL, false},
    {"bridge_insecure", "false", false},
    {"bridge_tls_version", "tlsv1.2", false},
    {"bridge_outbox_max_messages", "0", false},
    {"bridge_outbox_max_bytes", "0", false},
    {"bridge_outbox_overflow", "refuse", false},
    {"bridge_max_inflight", "0", false},
};

/* What a bridge key's default is written after, in test_table_defaults. */
#define BRIDGE_HEAD "connection b\naddress h\ntopic t\nbridge_cafile ca.pem\n"

static bool
bridge_addr_eq(const struct hf_bridge_addr *a, const struct hf_bridge_addr *b)
{
	return str_eq(a->host, b->host) && a->port == b->port;
}

static bool
bridge_topic_eq(const struct hf_bridge_topic *a,
                const struct hf_bridge_topic *b)
{
	return str_eq(a->pattern, b->pattern) &&
	       str_eq(a->local_prefix, b->local_prefix) &&
	       str_eq(a->remote_prefix, b->remote_prefix) &&
	       str_eq(a->local_topic, b->local_topic) &&
	       str_eq(a->remote_topic, b->remote_topic) && a->dir == b->dir &&
	       a->qos == b->qos;
}

/* Every field of two bridges but the parser state (the *_set flags). */
static bool
bridge_eq(const struct hf_bridge_conf *a, const struct hf_bridge_conf *b)
{
	size_t i;

	if (a->n_addrs != b->n_addrs || a->n_topics != b->n_topics)
		return false;
	for (i = 0; i < a->n_addrs; i++)
		if (!bridge_addr_eq(&a->addrs[i], &b->addrs[i]))
			return false;
	for (i = 0; i < a->n_topics; i++)
		if (!bridge_topic_eq(&a->topics[i], &b->topics[i]))
			return false;
	return str_eq(a->name, b->name) && a->round_robin == b->round_robin &&
	       a->cleansession == b->cleansession &&
	       a->local_cleansession == b->local_cleansession &&
	       str_eq(a->remote_clientid, b->remote_clientid) &&
	       str_eq(a->local_clientid, b->local_clientid) &&
	       str_eq(a->remote_username, b->remote_username) &&
	       str_eq(a->remote_password, b->remote_password) &&
	       a->protocol_version == b->protocol_version &&
	       a->try_private == b->try_private &&
	       a->notifications == b->notifications &&
	       a->notifications_local_only == b->notifications_local_only &&
	       str_eq(a->notification_topic, b->notification_topic) &&
	       a->keepalive_interval == b->keepalive_interval &&
	       a->restart_base == b->restart_base &&
	       a->restart_cap == b->restart_cap &&
	       a->max_packet_size == b->max_packet_size &&
	       a->receive_maximum == b->receive_maximum &&
	       a->session_expiry_interval == b->session_expiry_interval &&
	       a->outgoing_retain == b->outgoing_retain &&
	       a->attempt_unsubscribe == b->attempt_unsubscribe &&
	       str_eq(a->cafile, b->cafile) && str_eq(a->capath, b->capath) &&
	       str_eq(a->certfile, b->certfile) &&
	       str_eq(a->keyfile, b->keyfile) && a->insecure == b->insecure &&
	       a->tls_version == b->tls_version &&
	       a->outbox_max_messages == b->outbox_max_messages &&
	       a->outbox_max_bytes == b->outbox_max_bytes &&
	       a->outbox_overflow == b->outbox_overflow &&
	       a->max_inflight == b->max_inflight;
}

static int
find_default(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(key_defaults) / sizeof(key_defaults[0]); i++)
		if (!strcmp(key_defaults[i].key, key))
			return (int)i;
	return -1;
}

/* Every key's default: written out it changes nothing, and the shipped
 * file documents the key (a "# KEY ..." line) and shows that default. */
static void
test_table_defaults(void)
{
	struct hf_config_key k;
	struct hf_config def, c;
	char err[ERRLEN], text[256], want[256];
	char *conf = read_shipped_conf();
	size_t i, n_impl = 0;
	int d, rc;

	CHECK(conf != NULL);
	CHECK_EQ(hf_config_init(&def), 0);
	CHECK_EQ(load_text(&def, BRIDGE_HEAD, NULL, 0, err), 0);
	CHECK_EQ(hf_config_finish(&def, err, sizeof(err)), 0);
	for (i = 0; hf_config_key_info(i, &k); i++) {
		CHECK(k.name && *k.name);
		if (!k.implemented)
			continue;
		n_impl++;
		d = find_default(k.name);
		if (d < 0)
			fprintf(stderr, "  key %s: no line in key_defaults\n",
			        k.name);
		CHECK(d >= 0);
		CHECK(!k.is_prefix);
		/* documented in the shipped file */
		snprintf(want, sizeof(want), "\n# %s ", k.name);
		if (!strstr(conf, want))
			fprintf(stderr, "  key %s: not documented\n", k.name);
		CHECK(strstr(conf, want) != NULL);
		if (!key_defaults[d].def)
			continue;
		/* written out, the default changes nothing (a bridge key
		 * inside a bridge block, compared after finish) */
		snprintf(text, sizeof(text), "%s%s %s\n",
		         k.scope == HF_SCOPE_BRIDGE ? BRIDGE_HEAD : "", k.name,
		         key_defaults[d].def);
		CHECK_EQ(hf_config_init(&c), 0);
		if (k.scope != HF_SCOPE_BRIDGE)
			CHECK_EQ(load_text(&c, BRIDGE_HEAD, NULL, 0, err), 0);
		rc = load_text(&c, text, NULL, 0, err);
		if (rc)
			fprintf(stderr, "  %s\n", err);
		CHECK_EQ(rc, 0);
		CHECK(c.default_listener_used == key_defaults[d].opens);
		c.default_listener_used = false;
		rc = hf_config_finish(&c, err, sizeof(err));
		if (rc)
			fprintf(stderr, "  key %s: %s\n", k.name, err);
		CHECK_EQ(rc, 0);
		CHECK_EQ(c.n_bridges, 1);
		if (!bridge_eq(&def.bridges[0], &c.bridges[0]))
			fprintf(stderr, "  key %s: '%s' is not the default\n",
			        k.name, key_defaults[d].def);
		CHECK(bridge_eq(&def.bridges[0], &c.bridges[0]));
		if (!config_eq(&def, &c))
			fprintf(stderr, "  key %s: '%s' is not the default\n",
			        k.name, key_defaults[d].def);
		CHECK(config_eq(&def, &c));
		hf_config_free(&c);
		/* and the shipped file shows it, commented out */
		{
			char doc[256];
			size_t o = 0;
			const char *q;

			o += (size_t)snprintf(doc, sizeof(doc), "\n#%s ",
			                      k.name);
			for (q = key_defaults[d].def; *q && o + 3 < sizeof(doc);
			     q++) {
				doc[o++] = *q;
				if (*q == '\n')
					doc[o++] = '#';
			}
			doc[o++] = '\n';
			doc[o] = '\0';
			if (!strstr(conf, doc))
				fprintf(stderr, "  not in holdfast.conf: %s",
				        doc + 1);
			CHECK(strstr(conf, doc) != NULL);
		}
	}
	/* and no line here names a key the table lacks */
	CHECK_EQ(n_impl, sizeof(key_defaults) / sizeof(key_defaults[0]));
	hf_config_free(&def);
	free(conf);
}

/* Every refused key (planned or obsolete), straight from the table: an
 * error naming the file, the line and the key, whatever the scope (a bridge
 * key outside a connection block included); listed in the shipped file. */
static void
test_table_refused(void)
{
	struct hf_config_key k;
	char *conf = read_shipped_conf();
	size_t i, n = 0;

	CHECK(conf != NULL);
	for (i = 0; hf_config_key_info(i, &k); i++) {
		char text[160], want[160];

		if (k.implemented)
			continue;
		n++;
		snprintf(text, sizeof(text), "# x\nlistener 1884\n%s%s 1\n",
		         k.name, k.is_prefix ? "x" : "");
		snprintf(want, sizeof(want), "%s%s: ", k.name,
		         k.is_prefix ? "x" : "");
		CHECK(expect_error(text, 3, want));
		if (!strstr(conf, k.name))
			fprintf(stderr, "  %s: not in holdfast.conf\n", k.name);
		CHECK(strstr(conf, k.name) != NULL);
	}
	CHECK(n >= 20);
	free(conf);
}

/* Scopes as the table declares them, for a sample of each. */
static void
test_table_scopes(void)
{
	static const struct {
		const char *key;
		enum hf_config_scope scope;
		bool implemented;
	} cases[] = {
	    {"listener", HF_SCOPE_GLOBAL, true},
	    {"port", HF_SCOPE_DEFAULT_LISTENER, true},
	    {"bind_address", HF_SCOPE_DEFAULT_LISTENER, true},
	    {"socket_domain", HF_SCOPE_LISTENER, true},
	    {"max_connections", HF_SCOPE_LISTENER, true},
	    {"protocol", HF_SCOPE_LISTENER, true},
	    {"mount_point", HF_SCOPE_LISTENER, true},
	    {"use_username_as_clientid", HF_SCOPE_LISTENER, true},
	    {"allow_anonymous", HF_SCOPE_SECURITY, true},
	    {"client_max_write_buffer_size", HF_SCOPE_GLOBAL, true},
	    {"max_inflight_bytes", HF_SCOPE_GLOBAL, true},
	    {"cafile", HF_SCOPE_LISTENER, true},
	    {"certfile", HF_SCOPE_LISTENER, true},
	    {"require_certificate", HF_SCOPE_LISTENER, true},
	    {"tls_version", HF_SCOPE_LISTENER, true},
	    {"ciphers_tls1.3", HF_SCOPE_LISTENER, true},
	    {"tls_engine", HF_SCOPE_LISTENER, false},
	    {"psk_hint", HF_SCOPE_LISTENER, false},
	    {"http_dir", HF_SCOPE_LISTENER, true},
	    {"websockets_headers_size", HF_SCOPE_GLOBAL, true},
	    {"websockets_log_level", HF_SCOPE_GLOBAL, true},
	    {"log_format", HF_SCOPE_GLOBAL, true},
	    {"max_qos", HF_SCOPE_LISTENER, false},
	    {"password_file", HF_SCOPE_SECURITY, true},
	    {"acl_file", HF_SCOPE_SECURITY, true},
	    {"psk_file", HF_SCOPE_SECURITY, false},
	    {"plugin_opt_", HF_SCOPE_SECURITY, false},
	    {"auth_opt_", HF_SCOPE_SECURITY, false},
	    {"connection", HF_SCOPE_GLOBAL, true},
	    {"address", HF_SCOPE_BRIDGE, true},
	    {"addresses", HF_SCOPE_BRIDGE, true},
	    {"topic", HF_SCOPE_BRIDGE, true},
	    {"cleansession", HF_SCOPE_BRIDGE, true},
	    {"start_type", HF_SCOPE_BRIDGE, true},
	    {"bridge_cafile", HF_SCOPE_BRIDGE, true},
	    {"bridge_outbox_overflow", HF_SCOPE_BRIDGE, true},
	    {"idle_timeout", HF_SCOPE_BRIDGE, false},
	    {"local_username", HF_SCOPE_BRIDGE, false},
	    {"bridge_psk", HF_SCOPE_BRIDGE, false},
	    {"bridge_", HF_SCOPE_BRIDGE, false},
	    {"retry_interval", HF_SCOPE_GLOBAL, false},
	};
	struct hf_config_key k;
	size_t i, j, n;

	for (n = 0; hf_config_key_info(n, &k); n++)
		;
	CHECK(n > 100);
	CHECK(!hf_config_key_info(n, &k));
	/* names are unique; internal rows ("log_dest file", "-c") are not
	 * keys */
	for (i = 0; i < n; i++) {
		struct hf_config_key a, b;

		CHECK(hf_config_key_info(i, &a));
		CHECK(strcmp(a.name, "-c") && !strchr(a.name, ' '));
		for (j = i + 1; j < n; j++) {
			CHECK(hf_config_key_info(j, &b));
			CHECK(strcmp(a.name, b.name) != 0);
		}
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 0; j < n; j++) {
			CHECK(hf_config_key_info(j, &k));
			if (!strcmp(k.name, cases[i].key))
				break;
		}
		if (j == n)
			fprintf(stderr, "  no key %s\n", cases[i].key);
		CHECK(j < n);
		CHECK_EQ(k.scope, cases[i].scope);
		CHECK(k.implemented == cases[i].implemented);
	}
}

/* Scopes at work: a listener key before and after a `listener` line, a
 * security key with per_listener_settings false and true, a bridge key
 * outside a connection block. */
static void
test_scopes(void)
{
	struct hf_config c;
	char err[ERRLEN];

	/* listener key: before any listener the default listener (which it
	 * opens), after one that listener */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "max_connections 5\n"
	                   "socket_domain ipv4\n"
	                   "listener 1884\n"
	                   "max_connections 6\n",
	                   NULL, 0, err),
	         0);
	CHECK(c.default_listener_used);
	CHECK_EQ(c.default_listener.max_connections, 5);
	CHECK_EQ(c.default_listener.socket_domain, AF_INET);
	CHECK_EQ(c.n_listeners, 1);
	CHECK_EQ(c.listeners[0].max_connections, 6);
	CHECK_EQ(c.listeners[0].socket_domain, 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 2);
	CHECK_EQ(c.listeners[0].port, 1883);
	CHECK_EQ(c.listeners[0].max_connections, 5);
	CHECK_EQ(c.listeners[1].port, 1884);
	CHECK_EQ(c.listeners[1].max_connections, 6);
	hf_config_free(&c);

	/* the deprecated port/bind_address: always the default listener,
	 * even after a `listener` line */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, "listener 1884\nport 1885\n", NULL, 0, err), 0);
	CHECK_EQ(c.listeners[0].port, 1884);
	CHECK_EQ(c.default_listener.port, 1885);
	CHECK(c.default_listener_used);
	hf_config_free(&c);

	/* protocol mqtt before any listener does not open the default
	 * listener: local only mode stays */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, "protocol mqtt\n", NULL, 0, err), 0);
	CHECK(!c.default_listener_used);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 2);
	CHECK(c.listeners[0].local_only && c.listeners[1].local_only);
	hf_config_free(&c);

	/* security, per_listener_settings false: the global field, wherever
	 * the line is; finish copies it into every listener */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "listener 1884\n"
	                   "allow_anonymous true\n"
	                   "listener 1885\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(c.allow_anonymous, 1);
	CHECK_EQ(c.listeners[0].allow_anonymous, -1);
	CHECK_EQ(c.listeners[1].allow_anonymous, -1);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.listeners[0].allow_anonymous, 1);
	CHECK_EQ(c.listeners[1].allow_anonymous, 1);
	hf_config_free(&c);

	/* security, per_listener_settings true: the current listener's copy
	 * (the default listener's before any, without opening it); a
	 * listener without its own takes the global value when one was set
	 * (here before per_listener_settings), else false */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "allow_anonymous true\n"
	                   "per_listener_settings true\n"
	                   "allow_anonymous false\n"
	                   "listener 1884\n"
	                   "listener 1885\n"
	                   "allow_anonymous false\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(c.allow_anonymous, 1);
	CHECK_EQ(c.default_listener.allow_anonymous, 0);
	CHECK(!c.default_listener_used);
	CHECK_EQ(c.listeners[0].allow_anonymous, -1);
	CHECK_EQ(c.listeners[1].allow_anonymous, 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 2);
	CHECK_EQ(c.listeners[0].allow_anonymous, 1);
	CHECK_EQ(c.listeners[1].allow_anonymous, 0);
	hf_config_free(&c);

	/* a bridge key outside a connection block is an error naming the
	 * file and line */
	CHECK(expect_error("listener 1884\naddress 10.0.0.1:1883\n", 2,
	                   "address: only allowed in a bridge, after a "
	                   "connection line"));
	CHECK(expect_error("\nbridge_insecure true\n", 2,
	                   "bridge_insecure: only allowed in a bridge, after "
	                   "a connection line"));
	/* a listener line does not end a bridge block: bridge keys go on to
	 * the bridge, listener keys to the listener */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "connection b1\n"
	                   "address 10.0.0.1\n"
	                   "listener 1884\n"
	                   "topic a/# out\n"
	                   "max_connections 3\n"
	                   "keepalive_interval 30\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(c.n_bridges, 1);
	CHECK_EQ(c.bridges[0].n_topics, 1);
	CHECK_EQ(c.bridges[0].keepalive_interval, 30);
	CHECK_EQ(c.n_listeners, 1);
	CHECK_EQ(c.listeners[0].max_connections, 3);
	CHECK(!c.default_listener_used);
	hf_config_free(&c);
}

/* The TLS keys: per listener, stored as written; where each file key was
 * set is kept for the errors found when the files are read; the pairs
 * hf_config_finish checks; tls_version's values. (The files themselves
 * are read by broker/net/tls.c: tests/tls/t03_tls_config.c.) */
static void
test_tls_keys(void)
{
	struct hf_config c;
	char err[ERRLEN], path[128], want[512];
	const struct hf_listener_conf *l;

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "listener 1883\n"
	                   "listener 8883\n"
	                   "cafile /etc/ca dir/ca.crt\n"
	                   "capath /etc/ca.d\n"
	                   "certfile /etc/s.crt\n"
	                   "keyfile /etc/s.key\n"
	                   "crlfile /etc/ca.crl\n"
	                   "dhparamfile /etc/dh.pem\n"
	                   "ciphers ECDHE+AESGCM:!SHA1\n"
	                   "ciphers_tls1.3 TLS_AES_128_GCM_SHA256\n"
	                   "tls_version tlsv1.3\n"
	                   "require_certificate true\n"
	                   "use_identity_as_username true\n"
	                   "use_subject_as_username true\n",
	                   path, sizeof(path), err),
	         0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 2);
	l = &c.listeners[0];
	CHECK(!hf_listener_is_tls(l));
	CHECK(l->cafile == NULL && l->tls_at[HF_TLSK_CAFILE] == NULL);
	CHECK_EQ(l->tls_version, HF_TLS_V12);
	CHECK(!l->require_certificate && !l->use_identity_as_username);
	l = &c.listeners[1];
	CHECK(hf_listener_is_tls(l));
	CHECK(str_eq(l->cafile, "/etc/ca dir/ca.crt")); /* spaces kept */
	CHECK(str_eq(l->capath, "/etc/ca.d"));
	CHECK(str_eq(l->certfile, "/etc/s.crt"));
	CHECK(str_eq(l->keyfile, "/etc/s.key"));
	CHECK(str_eq(l->crlfile, "/etc/ca.crl"));
	CHECK(str_eq(l->dhparamfile, "/etc/dh.pem"));
	CHECK(str_eq(l->ciphers, "ECDHE+AESGCM:!SHA1"));
	CHECK(str_eq(l->ciphers_tls13, "TLS_AES_128_GCM_SHA256"));
	CHECK_EQ(l->tls_version, HF_TLS_V13);
	CHECK(l->require_certificate);
	CHECK(l->use_identity_as_username && l->use_subject_as_username);
	snprintf(want, sizeof(want), "%s:3", path);
	CHECK(str_eq(l->tls_at[HF_TLSK_CAFILE], want));
	snprintf(want, sizeof(want), "%s:6", path);
	CHECK(str_eq(l->tls_at[HF_TLSK_KEYFILE], want));
	snprintf(want, sizeof(want), "%s:10", path);
	CHECK(str_eq(l->tls_at[HF_TLSK_CIPHERS_TLS13], want));
	snprintf(want, sizeof(want), "%s:12", path);
	CHECK(str_eq(l->tls_at[HF_TLSK_REQUIRE_CERTIFICATE], want));
	hf_config_free(&c);

	/* Before any listener: the default listener, made real (mosquitto's
	 * "port 8883" + certfile at the top of a file). */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, "certfile a.crt\nkeyfile a.key\nport 8883\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 1);
	CHECK_EQ(c.listeners[0].port, 8883);
	CHECK(hf_listener_is_tls(&c.listeners[0]));
	hf_config_free(&c);

	/* tls_version: only tlsv1.2 and tlsv1.3 */
	CHECK(expect_error("listener 1\ntls_version tlsv1.1\n", 2,
	                   "tls_version: tlsv1.1 is refused"));
	CHECK(expect_error("listener 1\ntls_version tlsv1\n", 2,
	                   "tls_version: tlsv1 is refused"));
	CHECK(expect_error("listener 1\ntls_version 1.3\n", 2,
	                   "tls_version: unknown version '1.3'"));
	CHECK(expect_error("listener 1\nrequire_certificate yes\n", 2,
	                   "require_certificate: 'yes' is not a boolean"));
	CHECK(expect_error("listener 1\ncertfile\n", 2,
	                   "certfile: missing value"));

	/* hf_config_finish: the pairs, naming the key's file and line */
	{
		static const struct {
			const char *text;
			unsigned line;
			const char *want;
		} cases[] = {
		    {"listener 1\n#\ncertfile a.crt\n", 3,
		     "certfile: keyfile is not set"},
		    {"listener 1\nkeyfile a.key\n", 2,
		     "keyfile: certfile is not set"},
		    {"listener 1\ncertfile a\nkeyfile b\n"
		     "require_certificate true\n",
		     4, "require_certificate: true needs cafile or capath"},
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char at[32];
			CHECK_EQ(hf_config_init(&c), 0);
			CHECK_EQ(load_text(&c, cases[i].text, path,
			                   sizeof(path), err),
			         0);
			CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), -1);
			hf_config_free(&c);
			snprintf(at, sizeof(at), ":%u: ", cases[i].line);
			if (strstr(err, path) != err || !strstr(err, at) ||
			    !strstr(err, cases[i].want))
				fprintf(stderr, "  got '%s'\n", err);
			CHECK(strstr(err, path) == err);
			CHECK(strstr(err, at) != NULL);
			CHECK(strstr(err, cases[i].want) != NULL);
		}
	}
	/* require_certificate with capath alone, or false without a CA,
	 * or on a listener without TLS (net warns): fine */
	{
		static const char *const ok[] = {
		    "listener 1\ncertfile a\nkeyfile b\ncapath d\n"
		    "require_certificate true\n",
		    "listener 1\ncertfile a\nkeyfile b\n"
		    "require_certificate false\n",
		    "listener 1\nrequire_certificate true\n",
		};
		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			CHECK_EQ(hf_config_init(&c), 0);
			CHECK_EQ(load_text(&c, ok[i], NULL, 0, err), 0);
			CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
			hf_config_free(&c);
		}
	}
}

/* protocol is stored in the current listener (mqtt or websockets, with
 * its http_dir); anything else is an error naming the file and line. */
/* protocol http_api (mosquitto 2.1's name): without an address it binds
 * the loopback only (127.0.0.1), with one it binds that; plain HTTP only,
 * so a certfile there stops the configuration. */
static void
test_protocol_http_api(void)
{
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "listener 1883\n"
	                   "listener 9090\nprotocol http_api\n"
	                   "listener 9091 0.0.0.0\nprotocol http_api\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 3);
	CHECK_EQ(c.listeners[0].protocol, HF_LISTENER_MQTT);
	CHECK(c.listeners[0].bind_address == NULL);
	CHECK_EQ(c.listeners[1].protocol, HF_LISTENER_HTTP_API);
	CHECK(str_eq(c.listeners[1].bind_address, "127.0.0.1"));
	CHECK_EQ(c.listeners[2].protocol, HF_LISTENER_HTTP_API);
	CHECK(str_eq(c.listeners[2].bind_address, "0.0.0.0"));
	hf_config_free(&c);

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "listener 9090\nprotocol http_api\n"
	                   "certfile /etc/c.pem\nkeyfile /etc/k.pem\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "plain HTTP only") != NULL);
	hf_config_free(&c);
}

static void
test_protocol(void)
{
	struct hf_config c;
	char err[ERRLEN], path[128], want[256];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "listener 1884\nprotocol mqtt\n"
	                   "listener 1885\n",
	                   NULL, 0, err),
	         0);
	CHECK_EQ(c.listeners[0].protocol, HF_LISTENER_MQTT);
	CHECK_EQ(c.listeners[1].protocol, HF_LISTENER_MQTT);
	hf_config_free(&c);

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "listener 1884\n"
	                   "# a comment\n"
	                   "protocol websockets\n"
	                   "http_dir /srv/www dir\n"
	                   "websockets_headers_size 4096\n",
	                   path, sizeof(path), err),
	         0);
	CHECK_EQ(c.n_listeners, 1);
	CHECK_EQ(c.listeners[0].protocol, HF_LISTENER_WEBSOCKETS);
	CHECK(str_eq(c.listeners[0].http_dir, "/srv/www dir"));
	CHECK_EQ(c.websockets_headers_size, 4096);
	hf_config_free(&c);
	(void)want;
	CHECK(expect_error("websockets_headers_size 70000\n", 1,
	                   "websockets_headers_size: value 70000 out of "
	                   "range"));

	CHECK(expect_error("listener 1884\n\nprotocol http\n", 3,
	                   "protocol: unknown protocol 'http' (mqtt, "
	                   "websockets or http_api)"));
	CHECK(expect_error("listener 1884\nprotocol MQTT\n", 2,
	                   "protocol: unknown protocol 'MQTT'"));
	CHECK(expect_error("listener 1884\nprotocol mqtt tcp\n", 2,
	                   "protocol: unexpected extra argument 'tcp'"));
	CHECK(expect_error("listener 1884\nprotocol\n", 2,
	                   "protocol: missing value"));
	test_protocol_http_api();
}

/* client_max_write_buffer_size: a size like persistence_max_size's (k, m,
 * g, t), 0 or at least 4096. */
static void
test_write_buffer_size(void)
{
	static const struct {
		const char *v;
		unsigned long long bytes;
	} ok[] = {
	    {"0", 0},
	    {"4096", 4096},
	    {"4k", 4096},
	    {"4K", 4096},
	    {"1048576", 1048576},
	    {"1m", 1048576},
	    {"64M", 64ULL << 20},
	    {"2g", 2ULL << 30},
	    {"1t", 1ULL << 40},
	    {"8388607t", 8388607ULL << 40},
	};
	static const struct {
		const char *line;
		const char *want;
	} bad[] = {
	    {"client_max_write_buffer_size 4095",
	     "client_max_write_buffer_size: size 4095 out of range "
	     "4096..9223372036854775807 bytes (or 0 for no limit)"},
	    {"client_max_write_buffer_size 3k",
	     "client_max_write_buffer_size: size 3k out of range"},
	    {"client_max_write_buffer_size 1", "client_max_write_buffer_size"},
	    {"client_max_write_buffer_size 8388608t",
	     "client_max_write_buffer_size: size 8388608t out of range"},
	    {"client_max_write_buffer_size 99999999999999999999",
	     "client_max_write_buffer_size: size"},
	    {"client_max_write_buffer_size -1",
	     "client_max_write_buffer_size: '-1' is not a size"},
	    {"client_max_write_buffer_size 1.5m",
	     "client_max_write_buffer_size: '1.5m' is not a size"},
	    {"client_max_write_buffer_size 1mb",
	     "client_max_write_buffer_size"},
	    {"client_max_write_buffer_size m", "client_max_write_buffer_size"},
	    {"client_max_write_buffer_size lots",
	     "client_max_write_buffer_size"},
	    {"client_max_write_buffer_size",
	     "client_max_write_buffer_size: missing value"},
	    {"client_max_write_buffer_size 1 m",
	     "client_max_write_buffer_size: unexpected extra argument 'm'"},
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct hf_config c;
		char text[96], err[ERRLEN];
		unsigned long long got;
		int rc;

		snprintf(text, sizeof(text),
		         "client_max_write_buffer_size %s\n", ok[i].v);
		CHECK_EQ(hf_config_init(&c), 0);
		rc = load_text(&c, text, NULL, 0, err);
		got = c.client_max_write_buffer_size;
		hf_config_free(&c);
		if (rc)
			fprintf(stderr, "  %s: %s\n", ok[i].v, err);
		CHECK_EQ(rc, 0);
		CHECK(got == ok[i].bytes);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "# comment\n\n%s\nport 1\n",
		         bad[i].line);
		CHECK(expect_error(text, 3, bad[i].want));
	}
}

/* Every string field set (some twice), listeners with addresses, security
 * copies: nothing leaks (the ASan build checks), and a second load on top
 * of the first replaces rather than leaks. */
static void
test_strings_freed(void)
{
	static const char text[] = "auto_id_prefix a-\n"
	                           "auto_id_prefix b-\n"
	                           "clientid_prefixes x\n"
	                           "clientid_prefixes y\n"
	                           "log_dest file /tmp/a.log\n"
	                           "log_dest file /tmp/b.log\n"
	                           "log_timestamp_format %s\n"
	                           "log_timestamp_format %H\n"
	                           "pid_file /run/a.pid\n"
	                           "pid_file /run/b.pid\n"
	                           "user a\n"
	                           "user b\n"
	                           "persistence_location /a\n"
	                           "persistence_location /b\n"
	                           "persistence_file a.db\n"
	                           "persistence_file b.db\n"
	                           "bind_address 127.0.0.1\n"
	                           "bind_address ::1\n"
	                           "listener 1884 127.0.0.1\n"
	                           "listener 1885 ::1\n"
	                           "per_listener_settings true\n"
	                           "allow_anonymous true\n";
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), -1); /* same ports */
	CHECK(str_eq(c.user, "b"));
	CHECK(str_eq(c.default_listener.bind_address, "::1"));
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.n_listeners, 3);
	CHECK(str_eq(c.listeners[0].bind_address, "::1"));
	hf_config_free(&c);

	/* a failed load leaves a struct that frees cleanly */
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(
	    load_text(&c, "user u\nlistener 1 ::1\nbogus x\n", NULL, 0, err),
	    -1);
	hf_config_free(&c);
}

/* ---- bridges --------------------------------------------------------------
 */

/* Loads text and finishes; expects the finish to fail with a message naming
 * the file, ":line:" (the connection line) and want. Returns 1 when so. */
static int
expect_finish_error(const char *text, unsigned line, const char *want)
{
	struct hf_config c;
	char err[ERRLEN], path[128], at[32];
	int rc, ok;

	if (hf_config_init(&c))
		return 0;
	rc = load_text(&c, text, path, sizeof(path), err);
	if (rc == 0)
		rc = hf_config_finish(&c, err, ERRLEN) ? -1 : 0;
	else
		rc = -2; /* the load itself failed */
	hf_config_free(&c);
	snprintf(at, sizeof(at), ":%u: ", line);
	ok = rc == -1 && strstr(err, path) == err && strstr(err, at) &&
	     strstr(err, want);
	if (!ok)
		fprintf(stderr,
		        "  config text: %s  rc=%d err='%s' (wanted line %u, "
		        "'%s')\n",
		        text, rc, err, line, want);
	return ok;
}

/* Loads text and finishes, expecting success; 0 otherwise. */
static int
load_finish(struct hf_config *c, const char *text)
{
	char err[ERRLEN];

	if (hf_config_init(c))
		return 0;
	if (load_text(c, text, NULL, 0, err) ||
	    hf_config_finish(c, err, sizeof(err))) {
		fprintf(stderr, "  config text: %s  err='%s'\n", text, err);
		hf_config_free(c);
		return 0;
	}
	return 1;
}

/* Every bridge key, set away from its default. */
static void
test_bridge_keys(void)
{
	static const char text[] =
	    "connection east\n"
	    "address broker.example.com:8883 [2001:db8::1]:1884 [::1]\n"
	    "topic sensors/# out 1\n"
	    "round_robin true\n"
	    "cleansession true\n"
	    "local_cleansession false\n"
	    "remote_clientid site 1\n"
	    "local_clientid here-1\n"
	    "remote_username user name\n"
	    "remote_password pass word\n"
	    "bridge_protocol_version mqttv50\n"
	    "try_private false\n"
	    "notifications false\n"
	    "notification_topic bridges/east/up\n"
	    "notifications_local_only true\n"
	    "keepalive_interval 5\n"
	    "restart_timeout 2 120\n"
	    "start_type automatic\n"
	    "bridge_max_packet_size 1048576\n"
	    "bridge_receive_maximum 1\n"
	    "bridge_session_expiry_interval 4294967295\n"
	    "bridge_outgoing_retain false\n"
	    "bridge_attempt_unsubscribe false\n"
	    "bridge_cafile /etc/ca dir/ca.pem\n"
	    "bridge_capath /etc/ssl/certs\n"
	    "bridge_certfile /etc/c.pem\n"
	    "bridge_keyfile /etc/k.pem\n"
	    "bridge_insecure true\n"
	    "bridge_tls_version tlsv1.3\n"
	    "bridge_outbox_max_messages 5000\n"
	    "bridge_outbox_max_bytes 64m\n"
	    "bridge_outbox_overflow drop_oldest\n";
	struct hf_config c;
	const struct hf_bridge_conf *b;

	CHECK(load_finish(&c, text));
	CHECK_EQ(c.n_bridges, 1);
	b = &c.bridges[0];
	CHECK(str_eq(b->name, "east"));
	CHECK(b->at && strstr(b->at, "test.conf:1"));
	CHECK_EQ(b->n_addrs, 3);
	CHECK(str_eq(b->addrs[0].host, "broker.example.com"));
	CHECK_EQ(b->addrs[0].port, 8883);
	CHECK(str_eq(b->addrs[1].host, "2001:db8::1"));
	CHECK_EQ(b->addrs[1].port, 1884);
	CHECK(str_eq(b->addrs[2].host, "::1"));
	CHECK_EQ(b->addrs[2].port, 1883);
	CHECK_EQ(b->n_topics, 1);
	CHECK(b->round_robin);
	CHECK(b->cleansession);
	CHECK(!b->local_cleansession); /* given: not cleansession's */
	CHECK(str_eq(b->remote_clientid, "site 1"));
	CHECK(str_eq(b->local_clientid, "here-1"));
	CHECK(str_eq(b->remote_username, "user name"));
	CHECK(str_eq(b->remote_password, "pass word"));
	CHECK_EQ(b->protocol_version, HF_PROTO_V5);
	CHECK(!b->try_private);
	CHECK(!b->notifications);
	CHECK(str_eq(b->notification_topic, "bridges/east/up"));
	CHECK(b->notifications_local_only);
	CHECK_EQ(b->keepalive_interval, 5);
	CHECK_EQ(b->restart_base, 2);
	CHECK_EQ(b->restart_cap, 120);
	CHECK_EQ(b->max_packet_size, 1048576);
	CHECK_EQ(b->receive_maximum, 1);
	CHECK_EQ(b->session_expiry_interval, 4294967295LL);
	CHECK(!b->outgoing_retain);
	CHECK(!b->attempt_unsubscribe);
	CHECK(str_eq(b->cafile, "/etc/ca dir/ca.pem"));
	CHECK(str_eq(b->capath, "/etc/ssl/certs"));
	CHECK(str_eq(b->certfile, "/etc/c.pem"));
	CHECK(str_eq(b->keyfile, "/etc/k.pem"));
	CHECK(b->insecure);
	CHECK_EQ(b->tls_version, HF_TLS_V13);
	CHECK_EQ(b->outbox_max_messages, 5000);
	CHECK_EQ(b->outbox_max_bytes, 64LL * 1024 * 1024);
	CHECK_EQ(b->outbox_overflow, HF_BRIDGE_DROP_OLDEST);
	hf_config_free(&c);

	/* the other values of the enumerated keys; restart_timeout with one
	 * value is constant (cap 0); addresses is address */
	CHECK(load_finish(&c, "connection a\n"
	                      "addresses h1 h2:1\n"
	                      "topic t\n"
	                      "bridge_protocol_version mqttv31\n"
	                      "restart_timeout 7\n"
	                      "bridge_outbox_overflow refuse\n"
	                      "bridge_outbox_max_bytes 1000\n"
	                      "connection b\n"
	                      "address h\n"
	                      "topic t\n"
	                      "bridge_protocol_version mqttv311\n"));
	CHECK_EQ(c.n_bridges, 2);
	CHECK_EQ(c.bridges[0].n_addrs, 2);
	CHECK(str_eq(c.bridges[0].addrs[1].host, "h2"));
	CHECK_EQ(c.bridges[0].addrs[1].port, 1);
	CHECK_EQ(c.bridges[0].protocol_version, HF_PROTO_V31);
	CHECK_EQ(c.bridges[0].restart_base, 7);
	CHECK_EQ(c.bridges[0].restart_cap, 0);
	CHECK_EQ(c.bridges[0].outbox_overflow, HF_BRIDGE_REFUSE);
	CHECK_EQ(c.bridges[0].outbox_max_bytes, 1000);
	CHECK_EQ(c.bridges[1].protocol_version, HF_PROTO_V311);
	CHECK(str_eq(c.bridges[1].name, "b"));
	CHECK(strstr(c.bridges[1].at, "test.conf:8"));
	hf_config_free(&c);

	/* the MQTT 5 keys with another version: accepted (and ignored) */
	CHECK(load_finish(&c, "connection a\naddress h\ntopic t\n"
	                      "bridge_protocol_version mqttv311\n"
	                      "bridge_receive_maximum 10\n"
	                      "bridge_session_expiry_interval 60\n"
	                      "bridge_max_packet_size 100\n"));
	CHECK_EQ(c.bridges[0].receive_maximum, 10);
	hf_config_free(&c);
}

/* A minimal block: every default, the derived ones included. */
static void
test_bridge_defaults(void)
{
	struct hf_config c;
	const struct hf_bridge_conf *b;
	char host[256], want[512];

	CHECK_EQ(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	CHECK(load_finish(&c, "connection b1\naddress 192.0.2.1\ntopic a\n"));
	CHECK_EQ(c.n_bridges, 1);
	b = &c.bridges[0];
	CHECK_EQ(b->addrs[0].port, 1883);
	CHECK(!b->round_robin);
	CHECK(!b->cleansession);
	CHECK(!b->local_cleansession);
	snprintf(want, sizeof(want), "b1.%s", host);
	CHECK(str_eq(b->remote_clientid, want));
	snprintf(want, sizeof(want), "local.b1.%s", host);
	CHECK(str_eq(b->local_clientid, want));
	snprintf(want, sizeof(want), "$SYS/broker/connection/b1.%s/state",
	         host);
	CHECK(str_eq(b->notification_topic, want));
	CHECK(b->remote_username == NULL && b->remote_password == NULL);
	CHECK_EQ(b->protocol_version, HF_PROTO_V311);
	CHECK(b->try_private);
	CHECK(b->notifications);
	CHECK(!b->notifications_local_only);
	CHECK_EQ(b->keepalive_interval, 60);
	CHECK_EQ(b->restart_base, 5);
	CHECK_EQ(b->restart_cap, 30);
	CHECK_EQ(b->max_packet_size, 0);
	CHECK_EQ(b->receive_maximum, 65535);
	CHECK_EQ(b->session_expiry_interval, 0);
	CHECK(b->outgoing_retain);
	CHECK(b->attempt_unsubscribe);
	CHECK(b->cafile == NULL && b->capath == NULL);
	CHECK(b->certfile == NULL && b->keyfile == NULL);
	CHECK(!b->insecure);
	CHECK_EQ(b->tls_version, HF_TLS_V12);
	CHECK_EQ(b->outbox_max_messages, 0);
	CHECK_EQ(b->outbox_max_bytes, 0);
	CHECK_EQ(b->outbox_overflow, HF_BRIDGE_REFUSE);
	/* a second finish changes nothing */
	{
		char err[ERRLEN];

		CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
		snprintf(want, sizeof(want), "local.b1.%s", host);
		CHECK(str_eq(c.bridges[0].local_clientid, want));
		CHECK_EQ(c.n_bridges, 1);
	}
	hf_config_free(&c);

	/* local_cleansession stays false unless given (not cleansession's:
	 * the outbox is kept); the derived ids follow a given
	 * remote_clientid */
	CHECK(load_finish(&c, "connection b1\naddress h\ntopic a\n"
	                      "cleansession true\nremote_clientid r\n"
	                      "connection b2\naddress h\ntopic a\n"
	                      "cleansession true\nlocal_cleansession false\n"));
	CHECK(!c.bridges[0].local_cleansession);
	CHECK(str_eq(c.bridges[0].local_clientid, "local.r"));
	CHECK(str_eq(c.bridges[0].notification_topic,
	             "$SYS/broker/connection/r/state"));
	CHECK(!c.bridges[1].local_cleansession);
	hf_config_free(&c);
	/* no bridge: none */
	CHECK(load_finish(&c, "listener 1884\n"));
	CHECK_EQ(c.n_bridges, 0);
	CHECK(c.bridges == NULL);
	hf_config_free(&c);
}

static void
test_bridge_addresses(void)
{
	static const struct {
		const char *line;
		const char *want;
	} bad[] = {
	    {"address", "address: missing value"},
	    {"address h:0", "address: port '0' of h is not a port number"},
	    {"address h:65536", "address: port '65536'"},
	    {"address h:", "address: port '' of h"},
	    {"address h:12x", "address: port '12x'"},
	    {"address ok h:-1", "address: port '-1'"},
	    {"address :1883", "address: missing host name"},
	    {"address [::1", "address: '[::1' is not an address"},
	    {"address []:1883", "address: '[]:1883' is not an address"},
	    {"address [::1]x", "address: '[::1]x' is not an address"},
	    {"address [::1]:0", "address: port '0' of ::1"},
	    {"addresses h:99999", "addresses: port '99999'"},
	};
	struct hf_config c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];

		snprintf(text, sizeof(text), "connection b\n%s\n", bad[i].line);
		CHECK(expect_error(text, 2, bad[i].want));
	}
	/* one address line per bridge */
	CHECK(expect_error("connection b\naddress a\naddresses b\n", 3,
	                   "addresses: bridge 'b' already has its "
	                   "addresses"));
	/* without brackets the last ':' starts the port (mosquitto's rule) */
	CHECK(load_finish(&c, "connection b\n"
	                      "address ::1:1885 [fe80::1%eth0]:2000 h.local\n"
	                      "topic t\n"));
	CHECK_EQ(c.bridges[0].n_addrs, 3);
	CHECK(str_eq(c.bridges[0].addrs[0].host, "::1"));
	CHECK_EQ(c.bridges[0].addrs[0].port, 1885);
	CHECK(str_eq(c.bridges[0].addrs[1].host, "fe80::1%eth0"));
	CHECK_EQ(c.bridges[0].addrs[1].port, 2000);
	CHECK(str_eq(c.bridges[0].addrs[2].host, "h.local"));
	CHECK_EQ(c.bridges[0].addrs[2].port, 1883);
	hf_config_free(&c);
}

/* topic lines: directions, QoS, prefixes, "" and the composed topics. */
static void
test_bridge_topics(void)
{
	static const struct {
		const char *line;
		const char *pattern, *lp, *rp, *local, *remote;
		enum hf_bridge_dir dir;
		int qos;
	} ok[] = {
	    {"topic #", "#", "", "", "#", "#", HF_BRIDGE_OUT, 0},
	    {"topic a/+/c in", "a/+/c", "", "", "a/+/c", "a/+/c", HF_BRIDGE_IN,
	     0},
	    {"topic a BOTH 2", "a", "", "", "a", "a", HF_BRIDGE_BOTH, 2},
	    {"topic a out 1", "a", "", "", "a", "a", HF_BRIDGE_OUT, 1},
	    {"topic # both 2 local/ remote/", "#", "local/", "remote/",
	     "local/#", "remote/#", HF_BRIDGE_BOTH, 2},
	    {"topic s/# out 1 \"\" site1/", "s/#", "", "site1/", "s/#",
	     "site1/s/#", HF_BRIDGE_OUT, 1},
	    {"topic s/# in 0 here/ \"\"", "s/#", "here/", "", "here/s/#", "s/#",
	     HF_BRIDGE_IN, 0},
	    {"topic x in 1 \"\" \"\"", "x", "", "", "x", "x", HF_BRIDGE_IN, 1},
	    {"topic \"\" in 1 alarm site1/alarm", "", "alarm", "site1/alarm",
	     "alarm", "site1/alarm", HF_BRIDGE_IN, 1},
	    {"topic $SYS/# in", "$SYS/#", "", "", "$SYS/#", "$SYS/#",
	     HF_BRIDGE_IN, 0},
	};
	static const struct {
		const char *line;
		const char *want;
	} bad[] = {
	    {"topic", "topic: missing value"},
	    {"topic a sideways", "topic: unknown direction 'sideways'"},
	    {"topic a in 3", "topic: QoS '3' is not 0, 1 or 2"},
	    {"topic a in -1", "topic: QoS '-1'"},
	    {"topic a in 01", "topic: QoS '01'"},
	    {"topic a in 1 l/", "topic: a local prefix needs a remote prefix"},
	    {"topic a in 1 l/+/ r/", "topic: local prefix 'l/+/' contains a "
	                             "wildcard"},
	    {"topic a in 1 l/ r/#", "topic: remote prefix 'r/#' contains a "
	                            "wildcard"},
	    {"topic \"\"", "topic: an empty pattern (\"\") needs"},
	    {"topic \"\" in 1", "topic: an empty pattern (\"\") needs"},
	    {"topic \"\" in 1 \"\" \"\"", "topic: the pattern and both "
	                                  "prefixes are empty"},
	    {"topic \"\" in 1 a \"\"", "topic: the remote topic '' (remote "
	                               "prefix + pattern) is not a valid"},
	    {"topic \"\" in 1 \"\" a", "topic: the local topic ''"},
	    {"topic a/#/b", "topic: the local topic 'a/#/b'"},
	    {"topic a+ out", "topic: the local topic 'a+'"},
	    {"topic a in 1 x/ y/ z", "topic: unexpected extra argument 'z'"},
	};
	struct hf_config c;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char text[160];
		const struct hf_bridge_topic *t;

		snprintf(text, sizeof(text),
		         "connection b\naddress h\n%s\ntopic second\n",
		         ok[i].line);
		CHECK(load_finish(&c, text));
		CHECK_EQ(c.bridges[0].n_topics, 2);
		t = &c.bridges[0].topics[0];
		if (!str_eq(t->local_topic, ok[i].local) ||
		    !str_eq(t->remote_topic, ok[i].remote))
			fprintf(stderr, "  %s: local '%s' remote '%s'\n",
			        ok[i].line, t->local_topic, t->remote_topic);
		CHECK(str_eq(t->pattern, ok[i].pattern));
		CHECK(str_eq(t->local_prefix, ok[i].lp));
		CHECK(str_eq(t->remote_prefix, ok[i].rp));
		CHECK(str_eq(t->local_topic, ok[i].local));
		CHECK(str_eq(t->remote_topic, ok[i].remote));
		CHECK_EQ(t->dir, ok[i].dir);
		CHECK_EQ(t->qos, ok[i].qos);
		CHECK(str_eq(c.bridges[0].topics[1].pattern, "second"));
		hf_config_free(&c);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[160];

		snprintf(text, sizeof(text), "connection b\naddress h\n%s\n",
		         bad[i].line);
		CHECK(expect_error(text, 3, bad[i].want));
	}
}

/* Errors found on the line itself. */
static void
test_bridge_line_errors(void)
{
	static const struct {
		const char *line;
		const char *want;
	} bad[] = {
	    {"start_type lazy", "start_type: lazy is not supported: only "
	                        "automatic is"},
	    {"start_type once", "start_type: once is not supported: only "
	                        "automatic is"},
	    {"start_type sometimes", "start_type: unknown start type"},
	    {"keepalive_interval 4", "keepalive_interval: value 4 out of "
	                             "range 5..65535"},
	    {"keepalive_interval 65536", "keepalive_interval: value 65536"},
	    {"restart_timeout 10 5", "restart_timeout: the cap 5 is below "
	                             "the base 10"},
	    {"restart_timeout 0", "restart_timeout: value 0 out of range"},
	    {"restart_timeout", "restart_timeout: missing value"},
	    {"restart_timeout 1 2 3", "restart_timeout: unexpected extra "
	                              "argument '3'"},
	    {"restart_timeout x", "restart_timeout: 'x' is not an integer"},
	    {"bridge_protocol_version mqttv5", "bridge_protocol_version: "
	                                       "unknown version 'mqttv5'"},
	    {"bridge_tls_version tlsv1.1", "bridge_tls_version: tlsv1.1 is "
	                                   "refused"},
	    {"bridge_tls_version tlsv1", "bridge_tls_version: tlsv1 is "
	                                 "refused"},
	    {"bridge_receive_maximum 0", "bridge_receive_maximum: value 0"},
	    {"bridge_receive_maximum 65536", "bridge_receive_maximum: value"},
	    {"bridge_session_expiry_interval 4294967296",
	     "bridge_session_expiry_interval: value 4294967296"},
	    {"bridge_max_packet_size 19", "bridge_max_packet_size: value 19 "
	                                  "out of range"},
	    {"bridge_outbox_overflow drop", "bridge_outbox_overflow: 'drop' "
	                                    "is not refuse or drop_oldest"},
	    {"bridge_outbox_max_bytes 1x", "bridge_outbox_max_bytes: '1x' is "
	                                   "not a size"},
	    {"bridge_outbox_max_messages -1", "bridge_outbox_max_messages: "},
	    {"cleansession yes", "cleansession: 'yes' is not a boolean"},
	    {"bridge_insecure 1", "bridge_insecure: '1' is not a boolean"},
	    {"notification_topic a/#", "notification_topic: 'a/#' is not a "
	                               "valid topic name"},
	    {"remote_clientid", "remote_clientid: missing value"},
	    {"idle_timeout 60", "idle_timeout: not supported"},
	    {"threshold 10", "threshold: not supported"},
	    {"local_username u", "local_username: not supported"},
	    {"local_password p", "local_password: not supported"},
	    {"bridge_bind_address 10.0.0.1", "bridge_bind_address: not "
	                                     "supported"},
	    {"bridge_identity id", "bridge_identity: not supported"},
	    {"bridge_psk 00ff", "bridge_psk: not supported"},
	    {"bridge_alpn mqtt", "bridge_alpn: not supported"},
	    {"bridge_require_ocsp true", "bridge_require_ocsp: not supported"},
	    {"bridge_keyform pem", "bridge_keyform: not supported"},
	    {"bridge_tls_use_os_certs true", "bridge_tls_use_os_certs: not "
	                                     "supported"},
	    {"bridge_something x", "bridge_something: not a bridge option "
	                           "Holdfast supports"},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[160];

		snprintf(text, sizeof(text), "connection b\naddress h\n%s\n",
		         bad[i].line);
		CHECK(expect_error(text, 3, bad[i].want));
	}
	/* connection itself */
	CHECK(expect_error("connection\n", 1, "connection: missing value"));
	CHECK(expect_error("connection a b\n", 1,
	                   "connection: unexpected extra argument 'b'"));
	CHECK(expect_error("connection a\naddress h\ntopic t\n\nconnection a\n",
	                   5,
	                   "connection: a bridge named 'a' is already "
	                   "configured ("));
	/* every bridge key before any connection line, also after a
	 * listener line */
	CHECK(expect_error("# x\ntopic a\n", 2,
	                   "topic: only allowed in a bridge, after a "
	                   "connection line"));
	CHECK(expect_error("listener 1884\nremote_clientid x\n", 2,
	                   "remote_clientid: only allowed in a bridge, after "
	                   "a connection line"));
	CHECK(expect_error("start_type automatic\n", 1,
	                   "start_type: only allowed in a bridge"));
	CHECK(expect_error("restart_timeout 5\n", 1,
	                   "restart_timeout: only allowed in a bridge"));
	CHECK(expect_error("bridge_outbox_max_bytes 1m\n", 1,
	                   "bridge_outbox_max_bytes: only allowed in a "
	                   "bridge"));
}

/* Errors found by hf_config_finish: named by the connection line. */
static void
test_bridge_finish_errors(void)
{
	struct hf_config c;

	CHECK(expect_finish_error("connection b\ntopic t\n", 1,
	                          "address: bridge 'b' has no address"));
	CHECK(expect_finish_error("listener 1884\n\nconnection b\naddress h\n",
	                          3, "topic: bridge 'b' has no topic line"));
	CHECK(expect_finish_error("connection b\naddress h\ntopic t\n"
	                          "bridge_cafile ca\nbridge_certfile c\n",
	                          1,
	                          "bridge_certfile: bridge_keyfile is not "
	                          "set"));
	CHECK(expect_finish_error("connection b\naddress h\ntopic t\n"
	                          "bridge_cafile ca\nbridge_keyfile k\n",
	                          1,
	                          "bridge_keyfile: bridge_certfile is not "
	                          "set"));
	CHECK(expect_finish_error("connection b\naddress h\ntopic t\n"
	                          "bridge_certfile c\nbridge_keyfile k\n",
	                          1,
	                          "bridge_certfile: bridge 'b' has neither "
	                          "bridge_cafile nor bridge_capath"));
	CHECK(expect_finish_error("connection b\naddress h\ntopic t\n"
	                          "bridge_insecure true\n",
	                          1,
	                          "bridge_insecure: bridge 'b' has neither"));
	CHECK(expect_finish_error("connection b\naddress h\ntopic t\n"
	                          "bridge_tls_version tlsv1.3\n",
	                          1,
	                          "bridge_tls_version: bridge 'b' has "
	                          "neither"));
	CHECK(expect_finish_error("connection b\naddress h\ntopic t\n"
	                          "remote_password p\n",
	                          1,
	                          "remote_password: remote_username is not "
	                          "set"));
	/* two bridges with the same local client id: given, or derived
	 * from the same remote_clientid */
	CHECK(expect_finish_error("connection a\naddress h\ntopic t\n"
	                          "local_clientid x\n"
	                          "connection b\naddress h\ntopic t\n"
	                          "local_clientid x\n",
	                          5,
	                          "local_clientid: bridge 'b' has the local "
	                          "client id 'x' of bridge 'a'"));
	CHECK(expect_finish_error("connection a\naddress h\ntopic t\n"
	                          "remote_clientid r\n"
	                          "connection b\naddress h\ntopic t\n"
	                          "remote_clientid r\n",
	                          5, "local_clientid: bridge 'b'"));
	/* what is fine: the same id on both sides of one bridge; TLS keys
	 * with a CA path; bridge_insecure false without a CA */
	CHECK(load_finish(&c, "connection a\naddress h\ntopic t\n"
	                      "remote_clientid same\nlocal_clientid same\n"
	                      "remote_username u\n"
	                      "connection b\naddress h\ntopic t\n"
	                      "bridge_capath /etc/ssl/certs\n"
	                      "bridge_certfile c\nbridge_keyfile k\n"
	                      "bridge_insecure true\n"
	                      "bridge_tls_version tlsv1.2\n"
	                      "connection c\naddress h\ntopic t\n"
	                      "bridge_insecure false\n"));
	CHECK(str_eq(c.bridges[0].remote_username, "u"));
	CHECK(c.bridges[0].remote_password == NULL);
	hf_config_free(&c);
}

/* --test-config goes on after a bad bridge line and lists every one; a
 * failed load frees cleanly whatever state a bridge was left in. */
static void
test_bridge_collect_and_free(void)
{
	struct hf_config c;
	char err[ERRLEN];

	CHECK_EQ(hf_config_init(&c), 0);
	c.collect_errors = true;
	CHECK_EQ(load_text(&c,
	                   "connection b\n"
	                   "address h:0\n"
	                   "address h2 h3\n"
	                   "topic a in 5\n"
	                   "topic a in 1\n"
	                   "connection b\n"
	                   "start_type lazy\n",
	                   NULL, 0, err),
	         -1);
	CHECK(c.errors != NULL);
	CHECK(strstr(c.errors, ":2: address: port '0'"));
	CHECK(strstr(c.errors, ":4: topic: QoS '5'"));
	CHECK(strstr(c.errors, ":6: connection: a bridge named 'b'"));
	CHECK(strstr(c.errors, ":7: start_type: lazy"));
	CHECK(!strstr(c.errors, ":3:") && !strstr(c.errors, ":5:"));
	CHECK_EQ(c.n_bridges, 1);
	CHECK_EQ(c.bridges[0].n_addrs, 2);
	CHECK_EQ(c.bridges[0].n_topics, 1);
	hf_config_free(&c);

	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c,
	                   "connection b\naddress h [::1]:2\n"
	                   "topic # both 2 l/ r/\nremote_password x\n"
	                   "bridge_cafile a\nbridge_cafile b\n"
	                   "remote_clientid r1\nremote_clientid r2\n"
	                   "bogus\n",
	                   NULL, 0, err),
	         -1);
	hf_config_free(&c);
	hf_config_free(&c);
}

/* A bridge block continues into an include_dir file, as a listener does. */
static void
test_bridge_include_dir(void)
{
	struct tmpdir t;
	char dir[128], path[160], err[ERRLEN], text[256];
	struct hf_config c;

	CHECK_EQ(tmp_make(&t), 0);
	snprintf(dir, sizeof(dir), "%s/conf.d", t.path);
	CHECK_EQ(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/b.conf", dir);
	CHECK_EQ(write_text(path, "topic from/include in 2\n"), 0);
	snprintf(text, sizeof(text),
	         "connection b\naddress h\ninclude_dir %s\n", dir);
	CHECK_EQ(hf_config_init(&c), 0);
	CHECK_EQ(load_text(&c, text, NULL, 0, err), 0);
	CHECK_EQ(hf_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.bridges[0].n_topics, 1);
	CHECK(str_eq(c.bridges[0].topics[0].pattern, "from/include"));
	hf_config_free(&c);
	unlink(path);
	rmdir(dir);
	rmdir(t.path);
}

int
main(void)
{
	HF_RUN(test_defaults);
	HF_RUN(test_every_key);
	HF_RUN(test_max_values);
	HF_RUN(test_durations);
	HF_RUN(test_bad_values);
	HF_RUN(test_unknown_and_planned);
	HF_RUN(test_line_syntax);
	HF_RUN(test_logging);
	HF_RUN(test_listeners);
	HF_RUN(test_per_listener_settings);
	HF_RUN(test_include_dir);
	HF_RUN(test_cli);
	HF_RUN(test_persistence_keys);
	HF_RUN(test_persistence_sizes);
	HF_RUN(test_persistence_initial_above_max);
	HF_RUN(test_persistence_bad_values);
	HF_RUN(test_cli_move_damaged_store);
	HF_RUN(test_shipped_conf);
	HF_RUN(test_finish_free_idempotent);
	HF_RUN(test_table_defaults);
	HF_RUN(test_table_refused);
	HF_RUN(test_table_scopes);
	HF_RUN(test_scopes);
	HF_RUN(test_protocol);
	HF_RUN(test_tls_keys);
	HF_RUN(test_write_buffer_size);
	HF_RUN(test_strings_freed);
	HF_RUN(test_bridge_keys);
	HF_RUN(test_bridge_defaults);
	HF_RUN(test_bridge_addresses);
	HF_RUN(test_bridge_topics);
	HF_RUN(test_bridge_line_errors);
	HF_RUN(test_bridge_finish_errors);
	HF_RUN(test_bridge_collect_and_free);
	HF_RUN(test_bridge_include_dir);
	return HF_DONE();
}
