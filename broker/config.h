/* broker/config.h - the broker's configuration: mosquitto.conf syntax in,
 * struct hf_config out.
 *
 * hf_config_init() sets the defaults (mosquitto's where mosquitto has the
 * key, except where mosquitto's default would throw away acknowledged
 * messages: see conf/holdfast.conf). hf_config_load() reads one file (and the
 * include_dir files it names) on top of that; hf_config_args() applies the
 * command line; hf_config_finish() fills in what depends on the whole (the
 * embedded default listener when none is configured).
 *
 * Every key has a scope (enum hf_config_scope): it sets a global field, a
 * field of the listener being configured, or, for the security keys, either
 * of them depending on per_listener_settings. The keys, their scopes, fields
 * and defaults are one table in config.c; hf_config_key_info() lists them.
 *
 * Errors are written to err as "FILE:LINE: message naming the option", and
 * the caller refuses to start. Keys that later work will implement and
 * unknown keys are errors, never silently ignored. The files the TLS keys
 * name are read when the listeners open (broker/net/tls.c), whose errors
 * name the FILE:LINE this parser kept for them (struct hf_listener_conf,
 * tls_at; for a bridge, the FILE:LINE of its connection line, at).
 *
 * Not thread-safe; the struct is read-only once the broker runs. */
#ifndef HOLDFAST_CONFIG_H
#define HOLDFAST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* log_type bits */
#define HF_LOG_ERR         (1u << 0)
#define HF_LOG_WARNING     (1u << 1)
#define HF_LOG_NOTICE      (1u << 2)
#define HF_LOG_INFO        (1u << 3)
#define HF_LOG_DEBUG       (1u << 4)
#define HF_LOG_SUBSCRIBE   (1u << 5)
#define HF_LOG_UNSUBSCRIBE (1u << 6)
#define HF_LOG_WEBSOCKETS  (1u << 7)
#define HF_LOG_ALL         0xffffu

/* log_dest bits */
#define HF_LOGD_STDERR (1u << 0)
#define HF_LOGD_STDOUT (1u << 1)
#define HF_LOGD_SYSLOG (1u << 2)
#define HF_LOGD_FILE   (1u << 3)
#define HF_LOGD_TOPIC  (1u << 4)
#define HF_LOGD_DLT    (1u << 5) /* accepted, treated as none */

/* log_format: how each log line is written. */
#define HF_LOGF_TEXT 0 /* mosquitto's lines, for parsers written for it */
#define HF_LOGF_JSON 1 /* one JSON object per line */

/* The protocol a listener speaks (`protocol` key). */
enum hf_listener_protocol {
	HF_LISTENER_MQTT = 0,       /* MQTT over TCP (the default) */
	HF_LISTENER_WEBSOCKETS = 1, /* MQTT over WebSocket (broker/net/ws.c) */
	/* Health and metrics over plain HTTP (broker/net/http.c); without a
	 * bind address it binds 127.0.0.1 only (hf_config_finish). */
	HF_LISTENER_HTTP_API = 2,
};

/* The lowest TLS version a listener accepts (`tls_version`). */
enum hf_tls_version {
	HF_TLS_V12 = 0, /* tlsv1.2 (the default): TLS 1.2 and 1.3 */
	HF_TLS_V13 = 1, /* tlsv1.3: TLS 1.3 only */
};

/* The TLS keys whose values are checked only when the broker reads the
 * files they name (broker/net/tls.c) or when the whole configuration is
 * known (hf_config_finish): where each was set is kept for the error. */
enum hf_tls_key {
	HF_TLSK_CAFILE,
	HF_TLSK_CAPATH,
	HF_TLSK_CERTFILE,
	HF_TLSK_KEYFILE,
	HF_TLSK_CRLFILE,
	HF_TLSK_DHPARAMFILE,
	HF_TLSK_CIPHERS,
	HF_TLSK_CIPHERS_TLS13,
	HF_TLSK_REQUIRE_CERTIFICATE,
	HF_TLSK_HTTP_DIR, /* not TLS, but also checked when the listener opens
	                   */
	HF_TLSK_COUNT
};

struct hf_listener_conf {
	uint16_t port;       /* 0 = pick a free port (tests read it back) */
	char *bind_address;  /* NULL = all addresses */
	int socket_domain;   /* 0 = both, else AF_INET or AF_INET6 */
	int max_connections; /* -1 = unlimited */
	int allow_anonymous; /* -1 = not set here */
	char *password_file; /* mosquitto_passwd's format; NULL = none */
	char *acl_file;      /* mosquitto's ACL format; NULL = none */
	bool local_only;     /* the embedded default: loopback v4 and v6 */
	enum hf_listener_protocol protocol; /* default HF_LISTENER_MQTT */
	/* Put before every topic of this listener's clients, taken off what
	 * they receive (mosquitto's mount_point); NULL = none. */
	char *mount_point;
	/* The username replaces the client id; no username, not allowed. */
	bool use_username_as_clientid;
	/* protocol websockets: static files served to plain HTTP requests
	 * from this folder (mosquitto's http_dir); NULL = none. */
	char *http_dir;
	/* "FILE:LINE" of this listener's `listener` line (NULL for the
	 * default listener), for errors found after parsing. */
	char *at;

	/* TLS (mosquitto's keys; see conf/holdfast.conf). A listener with
	 * certfile (and then keyfile: hf_config_finish checks) speaks TLS.
	 * Paths are as written; the files are read by broker/net/tls.c. */
	char *cafile;             /* CA certificates for client certificates */
	char *capath;             /* a directory of them (hashed names) */
	char *certfile;           /* the server's certificate chain (PEM) */
	char *keyfile;            /* its private key (PEM, unencrypted) */
	char *crlfile;            /* revoked client certificates (PEM CRL) */
	char *dhparamfile;        /* DH parameters for DHE cipher suites */
	char *ciphers;            /* TLS <= 1.2 cipher list; NULL = OpenSSL's */
	char *ciphers_tls13;      /* key ciphers_tls1.3; NULL = OpenSSL's */
	int tls_version;          /* enum hf_tls_version, default HF_TLS_V12 */
	bool require_certificate; /* a client must present a valid one */
	/* Stored for auth/ (the engine passes the certificate's CN and
	 * subject at CONNECT; main.c hands these to the auth context). */
	bool use_identity_as_username;
	bool use_subject_as_username;
	/* "FILE:LINE" where each enum hf_tls_key was set, NULL when it was
	 * not: errors found later (a file that does not load) name it. */
	char *tls_at[HF_TLSK_COUNT];
};

/* Whether a listener speaks TLS (it has a server certificate). */
static inline bool
hf_listener_is_tls(const struct hf_listener_conf *l)
{
	return l->certfile != NULL;
}

/* The embedded default listener (no listener in the configuration, mosquitto
 * 2.0's "local only mode") is represented as TWO listeners per port, both with
 * local_only = true: bind_address "127.0.0.1" with socket_domain AF_INET, and
 * bind_address "::1" with socket_domain AF_INET6. The net layer needs no
 * special case, except that it may treat a failure to bind the "::1" one as a
 * warning (hosts without IPv6) as long as the IPv4 one is up. */

/* Bridges (mosquitto's `connection` blocks; broker/engine/bridge.c). */

/* A `topic` line's direction. */
enum hf_bridge_dir {
	HF_BRIDGE_OUT = 1, /* local -> remote (the default) */
	HF_BRIDGE_IN = 2,  /* remote -> local */
	HF_BRIDGE_BOTH = 3,
};

/* What a full outbox does with one more message (Holdfast's
 * bridge_outbox_overflow). */
enum hf_bridge_overflow {
	HF_BRIDGE_REFUSE = 0,      /* refuse the PUBLISH (v5 0x97), default */
	HF_BRIDGE_DROP_OLDEST = 1, /* drop the oldest queued one, counted */
};

/* `topic PATTERN [in|out|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]]`. The
 * local topic (filter) is local_prefix + pattern, the remote one
 * remote_prefix + pattern; with pattern "" the prefixes are the topics. */
struct hf_bridge_topic {
	char *pattern;       /* as written; "" allowed with a prefix */
	char *local_prefix;  /* "" when none */
	char *remote_prefix; /* "" when none */
	char *local_topic;   /* local_prefix + pattern */
	char *remote_topic;  /* remote_prefix + pattern */
	enum hf_bridge_dir dir;
	uint8_t qos; /* 0..2, default 0 */
};

struct hf_bridge_addr {
	char *host;
	uint16_t port; /* default 1883 (8883 is not implied by TLS) */
};

struct hf_bridge_conf {
	char *name;                   /* `connection NAME` */
	char *at;                     /* "FILE:LINE" of the connection line */
	struct hf_bridge_addr *addrs; /* address / addresses, in order */
	size_t n_addrs;
	bool round_robin; /* default false: the first address is the main one */
	struct hf_bridge_topic *topics;
	size_t n_topics;
	bool cleansession;       /* default false */
	bool local_cleansession; /* default false (not cleansession's) */
	/* Parser state: local_cleansession was given. */
	bool local_cleansession_set;
	char *remote_clientid;         /* default "NAME.HOSTNAME" */
	char *local_clientid;          /* default "local." + remote_clientid */
	char *remote_username;         /* NULL = none */
	char *remote_password;         /* NULL = none */
	uint8_t protocol_version;      /* HF_PROTO_V31/V311/V5; default V311 */
	bool try_private;              /* default true */
	bool notifications;            /* default true */
	bool notifications_local_only; /* default false */
	char *notification_topic;      /* default
	                                  "$SYS/broker/connection/" remote_clientid
	                                  "/state" */
	uint16_t keepalive_interval;   /* seconds, default 60 */
	uint32_t restart_base;         /* restart_timeout: seconds, default 5 */
	uint32_t restart_cap;     /* default 30; 0 = constant restart_base */
	uint32_t max_packet_size; /* bridge_max_packet_size, 0 = none */
	uint16_t receive_maximum; /* bridge_receive_maximum, 65535 */
	uint32_t session_expiry_interval; /* bridge_session_expiry_interval */
	bool outgoing_retain;     /* bridge_outgoing_retain, default true */
	bool attempt_unsubscribe; /* bridge_attempt_unsubscribe, true */
	/* TLS to the remote: on when cafile or capath is set. */
	char *cafile, *capath, *certfile, *keyfile;
	bool insecure;   /* bridge_insecure: no host name check */
	int tls_version; /* enum hf_tls_version, default HF_TLS_V12 */
	/* Parser state: bridge_tls_version was given (it needs a CA too). */
	bool tls_version_set;
	/* Holdfast's outbox limits (0 = none) and overflow policy. */
	uint64_t outbox_max_messages; /* bridge_outbox_max_messages */
	uint64_t outbox_max_bytes;    /* bridge_outbox_max_bytes */
	int outbox_overflow;          /* enum hf_bridge_overflow */
	/* bridge_max_inflight: QoS 1/2 messages in flight to the remote at
	 * once (never above an MQTT 5 remote's Receive Maximum); 0 = chosen
	 * by the bridge (bridge.c: 20 when an `out` line has QoS 2 and the
	 * remote speaks 3.1.1, as mosquitto 2.0 refuses more, else 100). */
	uint16_t max_inflight;
};

/* -p may be given this many times (mosquitto's limit). */
#define HF_CONFIG_MAX_CMD_PORTS 10

struct hf_config {
	struct hf_listener_conf *listeners;
	size_t n_listeners;
	struct hf_bridge_conf *bridges; /* `connection` blocks, in order */
	size_t n_bridges;

	bool per_listener_settings;
	int allow_anonymous; /* -1 = not set: false, or true in local-only mode
	                      */
	char *password_file; /* the same two, global (or per listener) */
	char *acl_file;
	/* Holdfast's: also refuse at SUBSCRIBE time a filter the ACL gives
	 * no read access under (mosquitto checks only each delivery). */
	bool acl_check_subscribe;
	bool allow_zero_length_clientid;
	char *auto_id_prefix;    /* default "auto-" */
	char *clientid_prefixes; /* NULL = any client id */

	uint16_t max_keepalive;      /* default 65535 */
	uint32_t max_packet_size;    /* 0 = protocol maximum */
	uint32_t message_size_limit; /* 0 = no limit beyond max_packet_size */
	uint16_t max_inflight_messages; /* default 20; 0 = 65535 */
	/* Payload bytes of outgoing QoS 1/2 messages in flight to one client
	 * (mosquitto's meaning): another is sent only while fewer bytes than
	 * this are in flight, so the total may pass it by one message (a
	 * larger one goes alone). 0 = no limit. */
	uint64_t max_inflight_bytes;
	/* WebSocket listeners: the most bytes of HTTP headers an upgrade
	 * request may carry (0 = libwebsockets' default, 1024), and the
	 * libwebsockets log levels (LLL_* bits) sent to the log when log_type
	 * websockets is on (0 = errors and warnings). */
	int websockets_headers_size;
	int websockets_log_level;
	uint64_t max_queued_messages; /* default 1000000; 0 = no limit */
	uint64_t max_queued_bytes;    /* 0 = no limit */
	bool queue_qos0_messages;
	uint8_t maximum_qos; /* 0..2, default 2 */
	bool retain_available;
	uint16_t max_topic_alias;              /* default 10 */
	uint64_t persistent_client_expiration; /* seconds, 0 = never */
	bool upgrade_outgoing_qos;
	bool set_tcp_nodelay;
	uint32_t sys_interval; /* seconds, 0 = no $SYS, default 10 */

	/* Holdfast's own limits (not in mosquitto), see conf/holdfast.conf. */
	uint32_t connect_timeout;  /* s to complete CONNECT, 1..65535, 10 */
	uint32_t max_topic_levels; /* levels of a topic/filter; 0 = none, 128 */
	uint32_t max_subscriptions_per_client; /* 0 = no limit, 10000 */
	/* Bytes waiting to be written to one client's socket beyond which the
	 * broker stops reading from that client and drops QoS 0 messages for
	 * it (QoS 1/2 stay queued). 0 = no limit, else at least 4096; default
	 * 1 MiB. FlashMQ's option of the same name. */
	uint64_t client_max_write_buffer_size;

	unsigned log_dest;  /* HF_LOGD_* bits; default stderr */
	char *log_file;     /* for HF_LOGD_FILE */
	unsigned log_types; /* HF_LOG_* bits; default err|warning|notice|info */
	bool log_timestamp; /* default true */
	char *log_timestamp_format; /* NULL = seconds since the epoch */
	unsigned log_format;        /* HF_LOGF_*; default text */
	bool connection_messages;   /* default true */

	char *pid_file;
	char *user; /* NULL = do not change user */

	bool daemon;       /* -d */
	bool verbose;      /* -v */
	bool test_config;  /* --test-config */
	char *config_file; /* -c */

	/* Added by the config layer (the fields above are the contract). */
	uint16_t cmd_ports[HF_CONFIG_MAX_CMD_PORTS]; /* -p, in order */
	size_t n_cmd_ports;
	/* -p was given but the file configures listeners: as in mosquitto 2.0
	 * the -p ports are then ignored; main() should warn about it. Set by
	 * hf_config_finish(). */
	bool cmd_ports_ignored;

	/* The durable store (include/holdfast/store.h); see the Persistence
	 * section of conf/holdfast.conf. */
	bool persistence;           /* default true (mosquitto: false) */
	char *persistence_location; /* directory, default "data"; no
	                               trailing '/' (except "/" itself) */
	char *persistence_file;     /* file name inside it, no '/', default
	                               "holdfast.db" */
	/* Accepted so that mosquitto files load, WITHOUT EFFECT: every change
	 * is committed before it is acknowledged. */
	uint32_t autosave_interval; /* seconds, default 1800 */
	bool autosave_on_changes;   /* default false */
	int persistence_sync; /* HF_SYNC_FULL (0, default) or HF_SYNC_OS (1) */
	uint64_t persistence_max_size;     /* bytes, default 16 GiB */
	uint64_t persistence_initial_size; /* bytes, default 64 MiB, <= max */
	uint32_t persistence_commit_max;   /* store writes per transaction at
	                                      most, 1..1000000, default 8192 */
	/* --move-damaged-store: a store that cannot be opened or fails
	 * validation is renamed to <file>.damaged-<time> and an empty one
	 * created; without it such a store stops start-up. */
	bool move_damaged_store;

	/* Parser state, not for the engine: the listener built by the
	 * deprecated top-level `port` / `bind_address` keys (and per-listener
	 * keys given before any `listener` line). hf_config_finish() moves it
	 * into listeners[0] when any of those keys was used. */
	struct hf_listener_conf default_listener;
	bool default_listener_used;
	bool log_dest_set; /* first log_dest replaces the default */
	bool log_type_set; /* first log_type replaces the default */

	/* "FILE:LINE" where each global key was last set (NULL: never), one
	 * per row of the key table, for errors found after parsing
	 * (--test-config): read with hf_config_where(). */
	char **key_at;
	/* --test-config: the parser goes on after a bad line and keeps every
	 * error here, one per line ("FILE:LINE: ..."); hf_config_args()
	 * still fails. NULL when there was none or not collecting. */
	bool collect_errors;
	char *errors;
};

/* Where key (as written in the file) was last set, "FILE:LINE", or NULL
 * when it was not (a default or the command line). Global keys only. */
const char *hf_config_where(const struct hf_config *c, const char *key);

/* Where a key applies. */
enum hf_config_scope {
	HF_SCOPE_GLOBAL,   /* the broker as a whole */
	HF_SCOPE_LISTENER, /* the listener of the last `listener` line, or
	                      before any the default listener */
	HF_SCOPE_DEFAULT_LISTENER, /* always the default listener (the
	                              deprecated `port`, `bind_address`) */
	HF_SCOPE_SECURITY, /* global; with per_listener_settings true the
	                      current listener's own copy (finish gives a
	                      listener without one the global value) */
	HF_SCOPE_BRIDGE,   /* the bridge of the last `connection` line; an
	                      error before any */
};

/* One configuration key, as hf_config_key_info() describes it. */
struct hf_config_key {
	const char *name; /* the key, or a prefix when is_prefix */
	enum hf_config_scope scope;
	bool implemented; /* false: refused at load (planned or obsolete) */
	bool is_prefix;   /* every key starting with name, e.g. "bridge_" */
};

/* The i-th key the parser knows (for tests and documentation checks).
 * @return true with *out filled, false when i is past the last key. */
bool hf_config_key_info(size_t i, struct hf_config_key *out);

/* Set every default. Returns 0, or -1 when out of memory. */
int hf_config_init(struct hf_config *c);
void hf_config_free(struct hf_config *c);

/* Parse argv (mosquitto's: -c FILE, -p PORT (repeatable), -v, -d, -h,
 * --test-config; Holdfast's own: --move-damaged-store). Loads the -c file when
 * given. Sets *exit_now for -h (usage printed to stdout, exit code 0).
 * @return 0, or -1 with err filled (bad argument or bad config file). */
int hf_config_args(struct hf_config *c, int argc, char **argv, bool *exit_now,
                   char *err, size_t errlen);

/* Read path on top of c. include_dir files are read in sorted order.
 * @return 0, or -1 with err = "PATH:LINE: ..." naming the option. */
int hf_config_load(struct hf_config *c, const char *path, char *err,
                   size_t errlen);

/* After all input: checks persistence_initial_size <= persistence_max_size
 * (the error names both options), and each TLS listener's keys as a whole:
 * certfile needs keyfile and keyfile certfile (as in mosquitto), and
 * require_certificate true needs cafile or capath (the error names the
 * FILE:LINE of the key). When no listener is configured, adds the
 * embedded default (port 1883, or the -p ports, on loopback v4 and v6,
 * anonymous allowed).
 * Each bridge (struct hf_bridge_conf) is checked as a whole, the error
 * naming the FILE:LINE of its connection line and the option: it needs an
 * address and a topic; bridge_certfile and bridge_keyfile go together;
 * bridge_certfile, bridge_keyfile, bridge_insecure and bridge_tls_version
 * need bridge_cafile or bridge_capath (TLS is on only with a CA);
 * remote_password needs remote_username; no two bridges share a
 * local_clientid. Then its defaults that depend on others are filled in:
 * remote_clientid "NAME.HOSTNAME", local_clientid "local." + that,
 * notification_topic "$SYS/broker/connection/" + remote_clientid +
 * "/state" (local_cleansession stays false unless given).
 * Resolves allow_anonymous for each listener: afterwards every listener's
 * allow_anonymous and the global one are 0 or 1, never -1. With
 * per_listener_settings false every listener takes the global value; with it
 * true a listener without its own value takes the global one when set, else
 * false (true for the embedded default). Call it once, after the last
 * hf_config_load()/hf_config_args().
 * @return 0, or -1 with err filled. */
int hf_config_finish(struct hf_config *c, char *err, size_t errlen);

#endif
