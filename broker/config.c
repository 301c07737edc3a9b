/* broker/config.c - the configuration parser: mosquitto.conf syntax and the
 * mosquitto command line in, struct hf_config out.
 *
 * Design: a file is read line by line; each line is trimmed, blank lines and
 * lines starting with '#' are skipped, and the rest is split into the key
 * (first word) and the value (the rest of the line, trimmed). Keys are looked
 * up in three tables: keys refused today (planned for a later milestone, or
 * obsolete), plain keys (boolean, range-checked integer or string stored at a
 * fixed offset in struct hf_config), and keys with their own handler
 * (listeners, logging, include_dir, durations, persistence paths and
 * sizes). Anything else is an unknown
 * option. The first problem stops the load and is reported as
 * "PATH:LINE: key: message". The "current listener", to which per-listener
 * keys apply, is the last one added by a `listener` line, or before any the
 * default listener built by the deprecated top-level `port`/`bind_address`
 * keys, exactly as mosquitto does; no other parse state is kept outside the
 * struct, so an include_dir file continues the listener its includer opened.
 *
 * Threading/ownership: single-threaded, used before the loop starts. Every
 * string and the listener array are heap copies owned by the struct and freed
 * by hf_config_free(). No global mutable state. */
#include "config.h"

#include "holdfast/store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#ifndef HF_VERSION
#define HF_VERSION "unknown"
#endif

#define DEFAULT_PORT 1883
/* Largest MQTT packet: 1 byte type, 4 bytes remaining length, 268435455. */
#define MAX_PACKET_LIMIT  268435460LL
#define MAX_PAYLOAD_LIMIT 268435455LL

#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)
/* persistence_max_size: at least 1 MiB; persistence_initial_size: at least
 * 64 KiB (a few LMDB pages; small values let tests exercise map growth). */
#define MIN_STORE_MAX_SIZE     MIB
#define MIN_STORE_INITIAL_SIZE (64ULL * 1024)
#define MAX_STORE_SIZE         ((unsigned long long)INT64_MAX)
#define MAX_COMMIT_OPS         1000000LL

/* persistence_sync is stored as an int holding enum hf_store_sync. */
_Static_assert(HF_SYNC_FULL == 0 && HF_SYNC_OS == 1,
               "persistence_sync values must match enum hf_store_sync");

struct pctx {
	struct hf_config *c;
	const char *path;
	unsigned long line;
	int depth; /* 0 = the main file, 1 = read through include_dir */
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "PATH:LINE: " + message; always returns -1. */
static int __attribute__((format(printf, 2, 3)))
fail(struct pctx *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%lu: ", p->path, p->line);
	if (n < 0)
		n = 0;
	if ((size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
oom(struct pctx *p)
{
	return fail(p, "out of memory");
}

/* ---- value helpers ---------------------------------------------------- */

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static char *
trim(char *s)
{
	size_t n;

	while (*s && isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Split the first word off s (in place). Returns the word; *rest gets the
 * remainder with leading blanks skipped ("" when none). */
static char *
split_word(char *s, char **rest)
{
	char *end = s + strcspn(s, " \t");

	if (*end) {
		*end++ = '\0';
		while (is_blank(*end))
			end++;
	}
	*rest = end;
	return s;
}

/* The value must be exactly one word. */
static int
one_word(struct pctx *p, const char *key, char *val, char **out)
{
	char *extra;

	if (!*val)
		return fail(p, "%s: missing value", key);
	*out = split_word(val, &extra);
	if (*extra)
		return fail(p, "%s: unexpected extra argument '%s'", key,
		            extra);
	return 0;
}

static int
parse_int(struct pctx *p, const char *key, const char *val, long long min,
          long long max, long long *out)
{
	char *end;
	long long v;

	if (!*val)
		return fail(p, "%s: missing value", key);
	if (!isdigit((unsigned char)val[0]) && val[0] != '-')
		return fail(p, "%s: '%s' is not an integer", key, val);
	errno = 0;
	v = strtoll(val, &end, 10);
	if (end == val || *end)
		return fail(p, "%s: '%s' is not an integer", key, val);
	if (errno == ERANGE || v < min || v > max)
		return fail(p, "%s: value %s out of range %lld..%lld", key, val,
		            min, max);
	*out = v;
	return 0;
}

static int
parse_int_word(struct pctx *p, const char *key, char *val, long long min,
               long long max, long long *out)
{
	char *w;

	if (one_word(p, key, val, &w))
		return -1;
	return parse_int(p, key, w, min, max, out);
}

static int
parse_bool(struct pctx *p, const char *key, char *val, bool *out)
{
	char *w;

	if (one_word(p, key, val, &w))
		return -1;
	if (!strcmp(w, "true"))
		*out = true;
	else if (!strcmp(w, "false"))
		*out = false;
	else
		return fail(p, "%s: '%s' is not a boolean (true or false)", key,
		            w);
	return 0;
}

/* String values are the rest of the line, spaces included (mosquitto). */
static int
set_string(struct pctx *p, const char *key, const char *val, char **dst)
{
	char *copy;

	if (!*val)
		return fail(p, "%s: missing value", key);
	copy = strdup(val);
	if (!copy)
		return oom(p);
	free(*dst);
	*dst = copy;
	return 0;
}

static void
store_uint(void *dst, size_t size, unsigned long long v)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;
	uint64_t v64 = (uint64_t)v;

	switch (size) {
	case 1:
		memcpy(dst, &v8, 1);
		break;
	case 2:
		memcpy(dst, &v16, 2);
		break;
	case 4:
		memcpy(dst, &v32, 4);
		break;
	default:
		memcpy(dst, &v64, 8);
		break;
	}
}

/* ---- listeners ---------------------------------------------------------- */

/* The listener per-listener keys apply to (see the file comment). */
static struct hf_listener_conf *
cur_listener(struct hf_config *c)
{
	if (c->n_listeners)
		return &c->listeners[c->n_listeners - 1];
	c->default_listener_used = true;
	return &c->default_listener;
}

static void
listener_defaults(struct hf_listener_conf *l, uint16_t port)
{
	memset(l, 0, sizeof(*l));
	l->port = port;
	l->max_connections = -1;
	l->allow_anonymous = -1;
}

/* Appends a listener; takes ownership of addr (freed on failure). */
static struct hf_listener_conf *
add_listener(struct hf_config *c, uint16_t port, char *addr)
{
	struct hf_listener_conf *arr, *l;

	arr = realloc(c->listeners, (c->n_listeners + 1) * sizeof(*arr));
	if (!arr) {
		free(addr);
		return NULL;
	}
	c->listeners = arr;
	l = &arr[c->n_listeners++];
	listener_defaults(l, port);
	l->bind_address = addr;
	return l;
}

static bool
same_addr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
k_listener(struct pctx *p, const char *key, char *val)
{
	struct hf_config *c = p->c;
	char *port_s, *addr_s, *extra, *addr = NULL;
	long long port;
	size_t i;

	if (!*val)
		return fail(p, "%s: missing port", key);
	port_s = split_word(val, &addr_s);
	if (*addr_s) {
		addr_s = split_word(addr_s, &extra);
		if (*extra)
			return fail(p, "%s: unexpected extra argument '%s'",
			            key, extra);
	}
	if (parse_int(p, key, port_s, 0, 65535, &port))
		return -1;
	for (i = 0; port && i < c->n_listeners; i++) {
		if (c->listeners[i].port == port &&
		    same_addr(c->listeners[i].bind_address,
		              *addr_s ? addr_s : NULL))
			return fail(p,
			            "%s: port %lld on %s is already "
			            "configured",
			            key, port,
			            *addr_s ? addr_s : "all addresses");
	}
	if (*addr_s) {
		addr = strdup(addr_s);
		if (!addr)
			return oom(p);
	}
	if (!add_listener(c, (uint16_t)port, addr))
		return oom(p);
	return 0;
}

static int
k_port(struct pctx *p, const char *key, char *val)
{
	long long v;

	if (parse_int_word(p, key, val, 0, 65535, &v))
		return -1;
	p->c->default_listener.port = (uint16_t)v;
	p->c->default_listener_used = true;
	return 0;
}

static int
k_bind_address(struct pctx *p, const char *key, char *val)
{
	char *w;

	if (one_word(p, key, val, &w))
		return -1;
	p->c->default_listener_used = true;
	return set_string(p, key, w, &p->c->default_listener.bind_address);
}

static int
k_socket_domain(struct pctx *p, const char *key, char *val)
{
	char *w;
	int dom;

	if (one_word(p, key, val, &w))
		return -1;
	if (!strcmp(w, "ipv4"))
		dom = AF_INET;
	else if (!strcmp(w, "ipv6"))
		dom = AF_INET6;
	else
		return fail(p, "%s: '%s' is not ipv4 or ipv6", key, w);
	cur_listener(p->c)->socket_domain = dom;
	return 0;
}

static int
k_max_connections(struct pctx *p, const char *key, char *val)
{
	long long v;

	if (parse_int_word(p, key, val, -1, INT_MAX, &v))
		return -1;
	cur_listener(p->c)->max_connections = (int)v;
	return 0;
}

static int
k_allow_anonymous(struct pctx *p, const char *key, char *val)
{
	struct hf_config *c = p->c;
	bool b;

	if (parse_bool(p, key, val, &b))
		return -1;
	if (!c->per_listener_settings)
		c->allow_anonymous = b;
	else if (c->n_listeners)
		c->listeners[c->n_listeners - 1].allow_anonymous = b;
	else /* does not by itself make the default listener real */
		c->default_listener.allow_anonymous = b;
	return 0;
}

/* ---- other keys with their own syntax ----------------------------------- */

static int
k_max_packet_size(struct pctx *p, const char *key, char *val)
{
	long long v;

	if (parse_int_word(p, key, val, 0, MAX_PACKET_LIMIT, &v))
		return -1;
	if (v > 0 && v < 20) /* mosquitto forbids these too */
		return fail(p,
		            "%s: value %lld out of range 20..%lld (or 0 "
		            "for no limit)",
		            key, v, MAX_PACKET_LIMIT);
	p->c->max_packet_size = (uint32_t)v;
	return 0;
}

static int
k_connect_timeout(struct pctx *p, const char *key, char *val)
{
	long long v;

	if (parse_int_word(p, key, val, 1, 65535, &v))
		return -1;
	p->c->connect_timeout = (uint32_t)v;
	return 0;
}

static int
k_persistent_client_expiration(struct pctx *p, const char *key, char *val)
{
	char *w, unit;
	size_t len, i;
	long long n, mult;

	if (one_word(p, key, val, &w))
		return -1;
	len = strlen(w);
	unit = w[len - 1];
	switch (unit) {
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	case 'w':
		mult = 7 * 86400LL;
		break;
	case 'm':
		mult = 30 * 86400LL;
		break;
	case 'y':
		mult = 365 * 86400LL;
		break;
	default:
		mult = 0;
		break;
	}
	for (i = 0; i + 1 < len; i++)
		if (!isdigit((unsigned char)w[i]))
			mult = 0;
	if (!mult || len < 2)
		return fail(p,
		            "%s: invalid duration '%s' (a number followed "
		            "by h, d, w, m or y, e.g. 14d)",
		            key, w);
	w[len - 1] = '\0';
	if (parse_int(p, key, w, 1, LLONG_MAX / mult, &n))
		return -1;
	p->c->persistent_client_expiration = (uint64_t)(n * mult);
	return 0;
}

static int
k_protocol(struct pctx *p, const char *key, char *val)
{
	char *w;

	if (one_word(p, key, val, &w))
		return -1;
	if (!strcmp(w, "mqtt"))
		return 0;
	if (!strcmp(w, "websockets"))
		return fail(p,
		            "%s: websockets: not supported yet in this "
		            "build (planned)",
		            key);
	return fail(p, "%s: unknown protocol '%s' (mqtt or websockets)", key,
	            w);
}

static int
k_log_dest(struct pctx *p, const char *key, char *val)
{
	struct hf_config *c = p->c;
	char *w, *rest;
	unsigned bit;

	if (!*val)
		return fail(p, "%s: missing value", key);
	w = split_word(val, &rest);
	if (!strcmp(w, "file")) {
		if (!*rest)
			return fail(p, "%s: file: missing file name", key);
		if (set_string(p, key, rest, &c->log_file))
			return -1;
		bit = HF_LOGD_FILE;
	} else {
		if (*rest)
			return fail(p, "%s: unexpected extra argument '%s'",
			            key, rest);
		if (!strcmp(w, "stderr"))
			bit = HF_LOGD_STDERR;
		else if (!strcmp(w, "stdout"))
			bit = HF_LOGD_STDOUT;
		else if (!strcmp(w, "syslog"))
			bit = HF_LOGD_SYSLOG;
		else if (!strcmp(w, "topic"))
			bit = HF_LOGD_TOPIC;
		else if (!strcmp(w, "dlt"))
			bit = HF_LOGD_DLT;
		else if (!strcmp(w, "none"))
			bit = 0;
		else
			return fail(p,
			            "%s: unknown destination '%s' (stderr, "
			            "stdout, syslog, topic, dlt, none or "
			            "file PATH)",
			            key, w);
	}
	if (!c->log_dest_set) {
		c->log_dest = 0;
		c->log_dest_set = true;
	}
	if (bit)
		c->log_dest |= bit;
	else
		c->log_dest = 0;
	return 0;
}

static int
k_log_type(struct pctx *p, const char *key, char *val)
{
	static const struct {
		const char *name;
		unsigned bits;
	} types[] = {
	    {"error", HF_LOG_ERR},
	    {"warning", HF_LOG_WARNING},
	    {"notice", HF_LOG_NOTICE},
	    {"information", HF_LOG_INFO},
	    {"debug", HF_LOG_DEBUG},
	    {"subscribe", HF_LOG_SUBSCRIBE},
	    {"unsubscribe", HF_LOG_UNSUBSCRIBE},
	    {"websockets", HF_LOG_WEBSOCKETS},
	    {"all", HF_LOG_ALL},
	    {"none", 0},
	};
	struct hf_config *c = p->c;
	char *w;
	size_t i;

	if (one_word(p, key, val, &w))
		return -1;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(w, types[i].name))
			break;
	if (i == sizeof(types) / sizeof(types[0]))
		return fail(p,
		            "%s: unknown type '%s' (error, warning, notice, "
		            "information, debug, subscribe, unsubscribe, "
		            "websockets, all or none)",
		            key, w);
	if (!c->log_type_set) {
		c->log_types = 0;
		c->log_type_set = true;
	}
	if (types[i].bits)
		c->log_types |= types[i].bits;
	else
		c->log_types = 0;
	return 0;
}

/* ---- persistence --------------------------------------------------------- */

/* persistence_location: a directory. mosquitto treats the value as a path
 * prefix ending in '/'; trailing slashes are accepted and stripped ("/"
 * stays "/"). The rest of the line, spaces included, as for other paths. */
static int
k_persistence_location(struct pctx *p, const char *key, char *val)
{
	size_t n = strlen(val);

	while (n > 1 && val[n - 1] == '/')
		val[--n] = '\0';
	return set_string(p, key, val, &p->c->persistence_location);
}

/* persistence_file: a file name inside persistence_location. */
static int
k_persistence_file(struct pctx *p, const char *key, char *val)
{
	if (strchr(val, '/'))
		return fail(p,
		            "%s: '%s' must be a file name without '/' (set "
		            "the directory with persistence_location)",
		            key, val);
	if (!strcmp(val, ".") || !strcmp(val, ".."))
		return fail(p, "%s: '%s' is not a file name", key, val);
	return set_string(p, key, val, &p->c->persistence_file);
}

static int
k_persistence_sync(struct pctx *p, const char *key, char *val)
{
	char *w;

	if (one_word(p, key, val, &w))
		return -1;
	if (!strcmp(w, "full"))
		p->c->persistence_sync = HF_SYNC_FULL;
	else if (!strcmp(w, "os"))
		p->c->persistence_sync = HF_SYNC_OS;
	else
		return fail(p, "%s: '%s' is not full or os", key, w);
	return 0;
}

/* A size: decimal bytes, or with one suffix k/K, m/M, g/G or t/T (powers
 * of 1024), in min..MAX_STORE_SIZE. */
static int
parse_size(struct pctx *p, const char *key, char *val, unsigned long long min,
           uint64_t *out)
{
	unsigned long long n, mult = 1;
	char *w, *end;
	size_t len;

	if (one_word(p, key, val, &w))
		return -1;
	len = strlen(w);
	switch (w[len - 1]) {
	case 'k':
	case 'K':
		mult = 1024ULL;
		break;
	case 'm':
	case 'M':
		mult = MIB;
		break;
	case 'g':
	case 'G':
		mult = GIB;
		break;
	case 't':
	case 'T':
		mult = 1024ULL * GIB;
		break;
	default:
		break;
	}
	if (mult > 1)
		len--;
	if (!len || !isdigit((unsigned char)w[0]))
		goto bad;
	errno = 0;
	n = strtoull(w, &end, 10);
	if ((size_t)(end - w) != len)
		goto bad;
	if (errno == ERANGE || n > MAX_STORE_SIZE / mult || n * mult < min)
		return fail(p, "%s: size %s out of range %llu..%llu bytes", key,
		            w, min, MAX_STORE_SIZE);
	*out = n * mult;
	return 0;
bad:
	return fail(p,
	            "%s: '%s' is not a size (bytes, or a number followed by "
	            "k, m, g or t, e.g. 64m)",
	            key, w);
}

static int
k_persistence_max_size(struct pctx *p, const char *key, char *val)
{
	return parse_size(p, key, val, MIN_STORE_MAX_SIZE,
	                  &p->c->persistence_max_size);
}

static int
k_persistence_initial_size(struct pctx *p, const char *key, char *val)
{
	return parse_size(p, key, val, MIN_STORE_INITIAL_SIZE,
	                  &p->c->persistence_initial_size);
}

static int
k_persistence_commit_max(struct pctx *p, const char *key, char *val)
{
	long long v;

	if (parse_int_word(p, key, val, 1, MAX_COMMIT_OPS, &v))
		return -1;
	p->c->persistence_commit_max = (uint32_t)v;
	return 0;
}

/* ---- include_dir -------------------------------------------------------- */

static int read_file(struct hf_config *c, const char *path, int depth,
                     char *err, size_t errlen);

/* mosquitto's order: alphabetical ignoring case, upper case first on a tie
 * (A.conf a.conf B.conf b.conf). */
static int
cmp_names(const void *a, const void *b)
{
	const char *x = *(const char *const *)a;
	const char *y = *(const char *const *)b;
	int r = strcasecmp(x, y);

	return r ? r : strcmp(x, y);
}

static bool
ends_with_conf(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && !strcmp(name + n - 5, ".conf");
}

static int
k_include_dir(struct pctx *p, const char *key, char *val)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL, **grown, *full, *dir;
	size_t n = 0, cap = 0, i, dlen;
	int rc = 0;

	if (p->depth > 0)
		return fail(p,
		            "%s: only allowed in the main configuration "
		            "file, not in an included one",
		            key);
	if (!*val)
		return fail(p, "%s: missing directory", key);
	dir = val;
	d = opendir(dir);
	if (!d)
		return fail(p, "%s: cannot open directory '%s': %s", key, dir,
		            strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (!ends_with_conf(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				rc = oom(p);
				break;
			}
			names = grown;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			rc = oom(p);
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0 && n)
		qsort(names, n, sizeof(*names), cmp_names);
	dlen = strlen(dir);
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	for (i = 0; rc == 0 && i < n; i++) {
		size_t len = dlen + 1 + strlen(names[i]) + 1;

		full = malloc(len);
		if (!full) {
			rc = oom(p);
			break;
		}
		snprintf(full, len, "%.*s/%s", (int)dlen, dir, names[i]);
		rc = read_file(p->c, full, p->depth + 1, p->err, p->errlen);
		free(full);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---- key tables --------------------------------------------------------- */

/* Later milestones implement these; until then they stop start-up. */
static const char *const planned_keys[] = {
    /* authentication and access control */
    "password_file",
    "acl_file",
    "psk_file",
    "psk_hint",
    "auth_plugin",
    "auth_plugin_deny_special_chars",
    "plugin",
    "global_plugin",
    "use_username_as_clientid",
    "listener_allow_anonymous",
    /* TLS */
    "cafile",
    "capath",
    "certfile",
    "keyfile",
    "crlfile",
    "ciphers",
    "ciphers_tls1.3",
    "tls_version",
    "require_certificate",
    "use_identity_as_username",
    "use_subject_as_username",
    "dhparamfile",
    "tls_engine",
    "tls_engine_kpass_sha1",
    "tls_keyform",
    /* websockets and listener extras */
    "http_dir",
    "websockets_log_level",
    "websockets_headers_size",
    "mount_point",
    "bind_interface",
    "accept_protocol_versions",
    /* bridges */
    "connection",
    "address",
    "addresses",
    "topic",
    "cleansession",
    "idle_timeout",
    "keepalive_interval",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "notifications",
    "notification_topic",
    "notifications_local_only",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "restart_timeout",
    "round_robin",
    "start_type",
    "threshold",
    "try_private",
    /* misc */
    "check_retain_source",
    "memory_limit",
    "allow_duplicate_messages",
    "log_facility",
};

static const char *const planned_prefixes[] = {
    "bridge_",
    "plugin_opt_",
    "auth_opt_",
};

/* Keys that get a specific refusal. */
static const struct {
	const char *key;
	const char *why;
} refused_keys[] = {
    {"max_qos", "per-listener maximum QoS is not supported yet in this "
                "build (planned); the global maximum_qos is"},
    {"retry_interval", "obsolete (mosquitto 2.0 dropped it too); remove "
                       "it"},
    {"store_clean_interval", "obsolete (mosquitto 2.0 dropped it too); "
                             "remove it"},
};

enum kind { K_BOOL, K_UINT, K_STR, K_FN };

struct key_def {
	const char *name;
	enum kind kind;
	size_t off, size; /* K_BOOL, K_UINT, K_STR */
	long long max;    /* K_UINT: range 0..max */
	int (*fn)(struct pctx *p, const char *key, char *val); /* K_FN */
};

#define FIELD(f)                                                               \
	offsetof(struct hf_config, f), sizeof(((struct hf_config *)0)->f)
#define BOOL_KEY(f)                                                            \
	{                                                                      \
#f, K_BOOL, FIELD(f), 0, NULL                                  \
	}
#define UINT_KEY(f, max)                                                       \
	{                                                                      \
#f, K_UINT, FIELD(f), max, NULL                                \
	}
#define STR_KEY(f)                                                             \
	{                                                                      \
#f, K_STR, FIELD(f), 0, NULL                                   \
	}
#define FN_KEY(name, fn)                                                       \
	{                                                                      \
		name, K_FN, 0, 0, 0, fn                                        \
	}

static const struct key_def key_defs[] = {
    FN_KEY("listener", k_listener),
    FN_KEY("port", k_port),
    FN_KEY("bind_address", k_bind_address),
    FN_KEY("socket_domain", k_socket_domain),
    FN_KEY("max_connections", k_max_connections),
    FN_KEY("protocol", k_protocol),
    FN_KEY("allow_anonymous", k_allow_anonymous),
    BOOL_KEY(per_listener_settings),
    BOOL_KEY(allow_zero_length_clientid),
    STR_KEY(auto_id_prefix),
    STR_KEY(clientid_prefixes),
    UINT_KEY(max_keepalive, 65535),
    FN_KEY("max_packet_size", k_max_packet_size),
    UINT_KEY(message_size_limit, MAX_PAYLOAD_LIMIT),
    UINT_KEY(max_inflight_messages, 65535),
    UINT_KEY(max_inflight_bytes, LLONG_MAX),
    UINT_KEY(max_queued_messages, LLONG_MAX),
    UINT_KEY(max_queued_bytes, LLONG_MAX),
    BOOL_KEY(queue_qos0_messages),
    UINT_KEY(maximum_qos, 2),
    BOOL_KEY(retain_available),
    UINT_KEY(max_topic_alias, 65535),
    FN_KEY("connect_timeout", k_connect_timeout),
    UINT_KEY(max_topic_levels, 65535),
    UINT_KEY(max_subscriptions_per_client, UINT32_MAX),
    FN_KEY("persistent_client_expiration", k_persistent_client_expiration),
    BOOL_KEY(upgrade_outgoing_qos),
    BOOL_KEY(set_tcp_nodelay),
    UINT_KEY(sys_interval, INT32_MAX),
    FN_KEY("log_dest", k_log_dest),
    FN_KEY("log_type", k_log_type),
    BOOL_KEY(log_timestamp),
    STR_KEY(log_timestamp_format),
    BOOL_KEY(connection_messages),
    FN_KEY("include_dir", k_include_dir),
    STR_KEY(pid_file),
    STR_KEY(user),
    BOOL_KEY(persistence),
    FN_KEY("persistence_location", k_persistence_location),
    FN_KEY("persistence_file", k_persistence_file),
    UINT_KEY(autosave_interval, INT32_MAX), /* accepted, no effect */
    BOOL_KEY(autosave_on_changes),          /* accepted, no effect */
    FN_KEY("persistence_sync", k_persistence_sync),
    FN_KEY("persistence_max_size", k_persistence_max_size),
    FN_KEY("persistence_initial_size", k_persistence_initial_size),
    FN_KEY("persistence_commit_max", k_persistence_commit_max),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int
apply_key(struct pctx *p, const char *key, char *val)
{
	char *base = (char *)p->c;
	const struct key_def *k = NULL;
	long long v;
	bool b;
	size_t i;

	for (i = 0; i < COUNT(planned_keys); i++)
		if (!strcmp(key, planned_keys[i]))
			return fail(p,
			            "%s: not supported yet in this build "
			            "(planned)",
			            key);
	for (i = 0; i < COUNT(planned_prefixes); i++)
		if (!strncmp(key, planned_prefixes[i],
		             strlen(planned_prefixes[i])))
			return fail(p,
			            "%s: not supported yet in this build "
			            "(planned)",
			            key);
	for (i = 0; i < COUNT(refused_keys); i++)
		if (!strcmp(key, refused_keys[i].key))
			return fail(p, "%s: %s", key, refused_keys[i].why);
	for (i = 0; i < COUNT(key_defs); i++)
		if (!strcmp(key, key_defs[i].name))
			k = &key_defs[i];
	if (!k)
		return fail(p, "unknown option '%s'", key);
	switch (k->kind) {
	case K_BOOL:
		if (parse_bool(p, key, val, &b))
			return -1;
		memcpy(base + k->off, &b, sizeof(b));
		return 0;
	case K_UINT:
		if (parse_int_word(p, key, val, 0, k->max, &v))
			return -1;
		store_uint(base + k->off, k->size, (unsigned long long)v);
		return 0;
	case K_STR: {
		char *s;

		memcpy(&s, base + k->off, sizeof(s));
		if (set_string(p, key, val, &s))
			return -1;
		memcpy(base + k->off, &s, sizeof(s));
		return 0;
	}
	case K_FN:
		break;
	}
	return k->fn(p, key, val);
}

static int
parse_line(struct pctx *p, char *line)
{
	char *s = trim(line), *key, *val;

	if (!*s || *s == '#')
		return 0;
	key = split_word(s, &val);
	return apply_key(p, key, val);
}

static int
read_file(struct hf_config *c, const char *path, int depth, char *err,
          size_t errlen)
{
	struct pctx p = {c, path, 0, depth, err, errlen};
	char *buf = NULL;
	size_t cap = 0;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (!f)
		return set_err(err, errlen, "%s: cannot open: %s", path,
		               strerror(errno));
	while (getline(&buf, &cap, f) != -1) {
		p.line++;
		if (parse_line(&p, buf)) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = set_err(err, errlen, "%s: cannot read: %s", path,
		             strerror(errno));
	free(buf);
	fclose(f);
	return rc;
}

/* ---- public API --------------------------------------------------------- */

int
hf_config_init(struct hf_config *c)
{
	memset(c, 0, sizeof(*c));
	c->allow_anonymous = -1;
	c->allow_zero_length_clientid = true;
	c->auto_id_prefix = strdup("auto-");
	if (!c->auto_id_prefix)
		return -1;
	c->max_keepalive = 65535;
	c->max_inflight_messages = 20;
	/* mosquitto: 1000, enforced by dropping acknowledged messages;
	 * Holdfast refuses the PUBLISH instead, see holdfast.conf. */
	c->max_queued_messages = 1000000;
	c->maximum_qos = 2;
	c->retain_available = true;
	/* Holdfast writes a turn's packets for a connection in one go, so
	 * Nagle's algorithm only adds delay (mosquitto's default: false). */
	c->set_tcp_nodelay = true;
	c->max_topic_alias = 10;
	c->connect_timeout = 10;
	c->max_topic_levels = 128;
	c->max_subscriptions_per_client = 10000;
	c->sys_interval = 10;
	c->log_dest = HF_LOGD_STDERR;
	c->log_types =
	    HF_LOG_ERR | HF_LOG_WARNING | HF_LOG_NOTICE | HF_LOG_INFO;
	c->log_timestamp = true;
	c->connection_messages = true;
	c->persistence = true; /* mosquitto: false */
	c->persistence_location = strdup("data");
	c->persistence_file = strdup("holdfast.db");
	if (!c->persistence_location || !c->persistence_file) {
		hf_config_free(c);
		return -1;
	}
	c->autosave_interval = 1800;
	c->persistence_sync = HF_SYNC_FULL;
	c->persistence_max_size = 16 * GIB;
	c->persistence_initial_size = 64 * MIB;
	c->persistence_commit_max = 8192;
	listener_defaults(&c->default_listener, DEFAULT_PORT);
	return 0;
}

void
hf_config_free(struct hf_config *c)
{
	size_t i;

	for (i = 0; i < c->n_listeners; i++)
		free(c->listeners[i].bind_address);
	free(c->listeners);
	free(c->default_listener.bind_address);
	free(c->auto_id_prefix);
	free(c->clientid_prefixes);
	free(c->log_file);
	free(c->log_timestamp_format);
	free(c->pid_file);
	free(c->user);
	free(c->config_file);
	free(c->persistence_location);
	free(c->persistence_file);
	memset(c, 0, sizeof(*c));
}

int
hf_config_load(struct hf_config *c, const char *path, char *err, size_t errlen)
{
	return read_file(c, path, 0, err, errlen);
}

static void
usage(void)
{
	fputs("Holdfast " HF_VERSION " - an MQTT 3.1.1/5.0 broker\n"
	      "\n"
	      "usage: holdfast [-c FILE] [-d] [-p PORT]... [-v] "
	      "[--test-config]\n"
	      "                [--move-damaged-store]\n"
	      "\n"
	      " -c, --config-file FILE  read the configuration from FILE.\n"
	      "                         Without a file (or a file with no "
	      "listener) the broker\n"
	      "                         listens on port 1883 on the loopback "
	      "interfaces only.\n"
	      " -d, --daemon            run in the background\n"
	      " -p, --port PORT         listen on PORT instead of 1883, "
	      "loopback only; up to\n"
	      "                         10 times; ignored when the file "
	      "configures listeners\n"
	      " -v, --verbose           log everything (log_type all)\n"
	      "     --test-config       check the configuration and exit\n"
	      "     --move-damaged-store\n"
	      "                         if the store cannot be opened or "
	      "fails validation, move\n"
	      "                         it aside to <file>.damaged-<time> "
	      "and start with an\n"
	      "                         empty one (without this flag a "
	      "damaged store stops\n"
	      "                         start-up)\n"
	      " -h, --help              print this help and exit\n"
	      "\n"
	      "See conf/holdfast.conf for every configuration option.\n",
	      stdout);
}

int
hf_config_args(struct hf_config *c, int argc, char **argv, bool *exit_now,
               char *err, size_t errlen)
{
	int i;

	if (exit_now)
		*exit_now = false;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-c") || !strcmp(a, "--config-file")) {
			if (i + 1 >= argc)
				return set_err(err, errlen,
				               "%s: missing file name", a);
			if (c->config_file)
				return set_err(err, errlen,
				               "%s: configuration file given "
				               "more than once",
				               a);
			c->config_file = strdup(argv[++i]);
			if (!c->config_file)
				return set_err(err, errlen, "out of memory");
		} else if (!strcmp(a, "-p") || !strcmp(a, "--port")) {
			const char *s;
			char *end;
			long v;
			size_t k;

			if (i + 1 >= argc)
				return set_err(err, errlen,
				               "%s: missing port number", a);
			s = argv[++i];
			errno = 0;
			v = strtol(s, &end, 10);
			if (!isdigit((unsigned char)s[0]) || *end ||
			    errno == ERANGE || v < 1 || v > 65535)
				return set_err(err, errlen,
				               "%s: '%s' is not a port number "
				               "(1..65535)",
				               a, s);
			if (c->n_cmd_ports == HF_CONFIG_MAX_CMD_PORTS)
				return set_err(err, errlen,
				               "%s: at most %d ports", a,
				               HF_CONFIG_MAX_CMD_PORTS);
			for (k = 0; k < c->n_cmd_ports; k++)
				if (c->cmd_ports[k] == v)
					return set_err(err, errlen,
					               "%s: port %ld given "
					               "twice",
					               a, v);
			c->cmd_ports[c->n_cmd_ports++] = (uint16_t)v;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--daemon")) {
			c->daemon = true;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			c->verbose = true;
		} else if (!strcmp(a, "--test-config")) {
			c->test_config = true;
		} else if (!strcmp(a, "--move-damaged-store")) {
			c->move_damaged_store = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage();
			if (exit_now)
				*exit_now = true;
			return 0;
		} else {
			return set_err(err, errlen,
			               "unknown argument '%s' (holdfast -h "
			               "lists the options)",
			               a);
		}
	}
	if (c->config_file && hf_config_load(c, c->config_file, err, errlen))
		return -1;
	if (c->verbose) /* overrides the file, as in mosquitto */
		c->log_types = HF_LOG_ALL;
	return 0;
}

int
hf_config_finish(struct hf_config *c, char *err, size_t errlen)
{
	static const uint16_t default_port = DEFAULT_PORT;
	const uint16_t *ports = &default_port;
	size_t n_ports = 1, i;
	bool local_only = false;
	int g;

	if (c->persistence_initial_size > c->persistence_max_size)
		return set_err(
		    err, errlen,
		    "persistence_initial_size (%llu bytes) is larger "
		    "than persistence_max_size (%llu bytes)",
		    (unsigned long long)c->persistence_initial_size,
		    (unsigned long long)c->persistence_max_size);

	if (c->default_listener_used) {
		struct hf_listener_conf *arr;

		arr =
		    realloc(c->listeners, (c->n_listeners + 1) * sizeof(*arr));
		if (!arr)
			return set_err(err, errlen, "out of memory");
		memmove(arr + 1, arr, c->n_listeners * sizeof(*arr));
		arr[0] = c->default_listener;
		c->listeners = arr;
		c->n_listeners++;
		listener_defaults(&c->default_listener, DEFAULT_PORT);
		c->default_listener_used = false;
	}
	if (c->n_listeners == 0) {
		local_only = true;
		if (c->n_cmd_ports) {
			ports = c->cmd_ports;
			n_ports = c->n_cmd_ports;
		}
		for (i = 0; i < n_ports; i++) {
			static const struct {
				const char *addr;
				int domain;
			} lo[] = {{"127.0.0.1", AF_INET}, {"::1", AF_INET6}};
			size_t k;

			for (k = 0; k < COUNT(lo); k++) {
				struct hf_listener_conf *l;
				char *addr = strdup(lo[k].addr);

				if (!addr)
					return set_err(err, errlen,
					               "out of memory");
				l = add_listener(c, ports[i], addr);
				if (!l)
					return set_err(err, errlen,
					               "out of memory");
				l->socket_domain = lo[k].domain;
				l->local_only = true;
				l->allow_anonymous =
				    c->default_listener.allow_anonymous;
			}
		}
	} else if (c->n_cmd_ports) {
		c->cmd_ports_ignored = true;
	}

	g = c->allow_anonymous;
	if (g < 0)
		g = local_only ? 1 : 0;
	c->allow_anonymous = g;
	for (i = 0; i < c->n_listeners; i++) {
		struct hf_listener_conf *l = &c->listeners[i];

		if (!c->per_listener_settings || l->allow_anonymous < 0)
			l->allow_anonymous = g;
	}
	return 0;
}
