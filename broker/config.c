/* broker/config.c - the configuration parser: mosquitto.conf syntax and the
 * mosquitto command line in, struct hf_config out.
 *
 * Design: every key the parser knows is one row of keys[] (below): the
 * key, its scope (enum hf_config_scope: where it applies), the handler that
 * parses its value, the field it sets (an offset into struct hf_config, or
 * into struct hf_listener_conf, or both for a security setting; the field's
 * type is read from the field itself), the accepted range and the default.
 * hf_config_init() sets every default by walking the table,
 * listener_defaults() does the same for each new listener, hf_config_free()
 * frees every string field the table names, and hf_config_finish() gives
 * each listener its security settings row by row. Keys a later milestone
 * implements are rows too, with their scope and a handler that refuses
 * them, so implementing one means giving its row a field and a real
 * handler.
 *
 * Bridges: `connection NAME` appends a struct hf_bridge_conf (its fields
 * set from the table's bridge rows, as for a listener), and every bridge
 * key applies to the last one appended, whatever comes between (a
 * `listener` line does not close a bridge, as in mosquitto). A bridge key
 * before any `connection` line is an error. What depends on the whole
 * block (an address and a topic are needed, the TLS keys go together, the
 * client ids and notification topic derive from the name) is checked and
 * filled in by hf_config_finish(), whose errors name the connection line.
 *
 * A file is read line by line; each line is trimmed, blank lines and lines
 * starting with '#' are skipped, and the rest is split into the key (first
 * word) and the value (the rest of the line, trimmed). A key found in no
 * row is an unknown option. The first problem stops the load and is
 * reported as "PATH:LINE: key: message". The "current listener", to which
 * listener keys apply, is the last one added by a `listener` line, or
 * before any the default listener built by the deprecated top-level
 * `port`/`bind_address` keys, exactly as mosquitto does; no other parse
 * state is kept outside the struct, so an include_dir file continues the
 * listener (and the bridge) its includer opened. A value is split into
 * words only where a key takes several (split_word); on a bridge's
 * `topic` line a word that is exactly "" (two double quotes) stands for
 * the empty string, as in mosquitto.
 *
 * Threading/ownership: single-threaded, used before the loop starts. Every
 * string and the listener array are heap copies owned by the struct and freed
 * by hf_config_free(). No global mutable state. */
#include "config.h"

#include "holdfast/codec.h"
#include "holdfast/mqtt.h"
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
#include <unistd.h>

#ifndef HF_VERSION
#define HF_VERSION "unknown"
#endif

#define DEFAULT_PORT 1883
/* Largest MQTT packet: 1 byte type, 4 bytes remaining length, 268435455. */
#define MAX_PACKET_LIMIT  268435460LL
#define MAX_PAYLOAD_LIMIT 268435455LL

#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)
/* The largest size value (sizes are stored in uint64_t, read as long long). */
#define MAX_SIZE INT64_MAX
/* persistence_max_size: at least 1 MiB; persistence_initial_size: at least
 * 64 KiB (a few LMDB pages; small values let tests exercise map growth). */
#define MIN_STORE_MAX_SIZE     MIB
#define MIN_STORE_INITIAL_SIZE (64ULL * 1024)
#define MAX_COMMIT_OPS         1000000LL
/* client_max_write_buffer_size: 0, or at least 4 KiB (FlashMQ's minimum);
 * less would stop reading from a client after nearly every packet. */
#define MIN_WRITE_BUFFER 4096

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
	const char *key; /* the key of the line being applied */
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

/* ---- value helpers ------------------------------------------------------ */

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

/* ---- the key table: declarations ---------------------------------------- */

/* The type of the field a key sets, taken from the field itself (FTYPE). */
enum ftype { T_NONE, T_BOOL, T_UNS, T_INT, T_STR };

/* Row flags. F_PREFIX: the name is a prefix ("bridge_" stands for
 * bridge_*). F_SOFT: before any listener, the key sets the default listener
 * without making it one that is opened. F_ZERO_OFF: 0 (no limit) is
 * accepted below min. F_NOKEY: a field the table owns (its default, its
 * freeing) that no key of that name sets. */
#define F_PREFIX   (1u << 0)
#define F_SOFT     (1u << 1)
#define F_ZERO_OFF (1u << 2)
#define F_NOKEY    (1u << 3)
/* F_WHERE: a listener key whose FILE:LINE is kept (tls_at[k->where]) for
 * errors found after parsing (broker/net/tls.c, hf_config_finish). */
#define F_WHERE (1u << 4)

struct key_def;

/* Parses val and stores it in field (NULL when the row has no field).
 * p->key is the key as written (it differs from k->name for a prefix). */
typedef int key_fn(struct pctx *p, const struct key_def *k, char *val,
                   void *field);

/* One key. off is the field's offset in struct hf_config (global and
 * security keys), loff its offset in struct hf_listener_conf (listener,
 * default-listener and security keys), boff in struct hf_bridge_conf
 * (bridge keys; 0 for a bridge key that sets no field of its own, whose
 * handler then gets the bridge itself). min/max bound numbers and sizes;
 * def is the default of a bool or number field, sdef of a string field.
 * A listener's string fields always start NULL. */
struct key_def {
	const char *name;
	enum hf_config_scope scope;
	key_fn *set;
	enum ftype type; /* T_NONE: the key sets no field of its own */
	size_t off, loff, boff, size;
	long long min, max;
	long long def;
	const char *sdef;
	unsigned flags;
	const char *why; /* h_refused: the reason given */
	int where;       /* F_WHERE: its enum hf_tls_key */
};

static void listener_defaults(struct hf_listener_conf *l, uint16_t port);
static void bridge_defaults(struct hf_bridge_conf *b);
static void bridge_free(struct hf_bridge_conf *b);
static int where_str(struct pctx *p, char **out);

/* ---- numbers in fields of any width ------------------------------------- */

static void
store_num(const struct key_def *k, void *dst, long long v)
{
	if (k->type == T_BOOL) {
		bool b = v != 0;

		memcpy(dst, &b, sizeof(b));
	} else if (k->type == T_INT && k->size == sizeof(int)) {
		int i = (int)v;

		memcpy(dst, &i, sizeof(i));
	} else {
		store_uint(dst, k->size, (unsigned long long)v);
	}
}

static long long
load_num(const struct key_def *k, const void *src)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	bool b;
	int i;

	if (k->type == T_BOOL) {
		memcpy(&b, src, sizeof(b));
		return b;
	}
	if (k->type == T_INT && k->size == sizeof(int)) {
		memcpy(&i, src, sizeof(i));
		return i;
	}
	switch (k->size) {
	case 1:
		memcpy(&v8, src, 1);
		return v8;
	case 2:
		memcpy(&v16, src, 2);
		return v16;
	case 4:
		memcpy(&v32, src, 4);
		return v32;
	default:
		memcpy(&v64, src, 8);
		return (long long)v64;
	}
}

/* ---- generic handlers --------------------------------------------------- */

static int
h_bool(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	bool b = false;

	if (parse_bool(p, p->key, val, &b))
		return -1;
	store_num(k, field, b);
	return 0;
}

/* An integer in min..max (F_ZERO_OFF: or 0). */
static int
h_num(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	long long lo = (k->flags & F_ZERO_OFF) ? 0 : k->min, v;

	if (parse_int_word(p, p->key, val, lo, k->max, &v))
		return -1;
	if (v && v < k->min)
		return fail(p,
		            "%s: value %lld out of range %lld..%lld (or 0 "
		            "for no limit)",
		            p->key, v, k->min, k->max);
	store_num(k, field, v);
	return 0;
}

/* A string: the rest of the line, spaces included (mosquitto). */
static int
h_str(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	return set_string(p, p->key, val, (char **)field);
}

/* A string that is one word. */
static int
h_word(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	return set_string(p, p->key, w, (char **)field);
}

/* mount_point: a topic prefix, one word, no wildcards (it is put before
 * topic names and filters alike). */
static int
h_mount_point(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (strpbrk(w, "+#"))
		return fail(p, "%s: '%s' contains a wildcard ('+' or '#')",
		            p->key, w);
	return set_string(p, p->key, w, (char **)field);
}

/* A size: decimal bytes, or with one suffix k/K, m/M, g/G or t/T (powers
 * of 1024), in min..max (F_ZERO_OFF: or 0). */
static int
h_size(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	unsigned long long n, mult = 1, v;
	unsigned long long min = (unsigned long long)k->min;
	unsigned long long max = (unsigned long long)k->max;
	char *w, *end;
	size_t len;

	if (one_word(p, p->key, val, &w))
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
	v = n <= max / mult ? n * mult : 0;
	if (errno == ERANGE || n > max / mult ||
	    (v < min && !(v == 0 && (k->flags & F_ZERO_OFF))))
		return fail(p, "%s: size %s out of range %llu..%llu bytes%s",
		            p->key, w, min, max,
		            (k->flags & F_ZERO_OFF) ? " (or 0 for no limit)"
		                                    : "");
	store_num(k, field, (long long)v);
	return 0;
bad:
	return fail(p,
	            "%s: '%s' is not a size (bytes, or a number followed by "
	            "k, m, g or t, e.g. 64m)",
	            p->key, w);
}

/* Keys a later milestone implements; until then they stop start-up. */
static int
h_planned(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	return fail(p, "%s: not supported yet in this build (planned)", p->key);
}

/* Keys refused for a reason of their own (k->why). */
static int
h_refused(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	return fail(p, "%s: %s", p->key, k->why);
}

/* ---- listeners ---------------------------------------------------------- */

/* The listener listener keys apply to (see the file comment); make_real:
 * before any `listener` line, the default listener becomes one that
 * hf_config_finish() opens. */
static struct hf_listener_conf *
cur_listener(struct hf_config *c, bool make_real)
{
	if (c->n_listeners)
		return &c->listeners[c->n_listeners - 1];
	if (make_real)
		c->default_listener_used = true;
	return &c->default_listener;
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
h_listener(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	struct hf_config *c = p->c;
	const char *key = p->key;
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
	return where_str(p, &c->listeners[c->n_listeners - 1].at);
}

static int
h_socket_domain(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;
	int dom;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (!strcmp(w, "ipv4"))
		dom = AF_INET;
	else if (!strcmp(w, "ipv6"))
		dom = AF_INET6;
	else
		return fail(p, "%s: '%s' is not ipv4 or ipv6", p->key, w);
	store_num(k, field, dom);
	return 0;
}

/* mqtt (MQTT over TCP, or TLS with certfile) or websockets (MQTT over
 * WebSocket, wss with certfile: broker/net/ws.c). */
static int
h_protocol(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (!strcmp(w, "mqtt")) {
		store_num(k, field, HF_LISTENER_MQTT);
		return 0;
	}
	if (!strcmp(w, "websockets")) {
		store_num(k, field, HF_LISTENER_WEBSOCKETS);
		return 0;
	}
	if (!strcmp(w, "http_api")) { /* mosquitto 2.1's name */
		store_num(k, field, HF_LISTENER_HTTP_API);
		return 0;
	}
	return fail(p,
	            "%s: unknown protocol '%s' (mqtt, websockets or http_api)",
	            p->key, w);
}

/* tls_version: the lowest version accepted (mosquitto 2.0's meaning). */
static int
h_tls_version(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (!strcmp(w, "tlsv1.2")) {
		store_num(k, field, HF_TLS_V12);
		return 0;
	}
	if (!strcmp(w, "tlsv1.3")) {
		store_num(k, field, HF_TLS_V13);
		return 0;
	}
	if (!strcmp(w, "tlsv1.1") || !strcmp(w, "tlsv1"))
		return fail(p,
		            "%s: %s is refused: TLS below 1.2 is obsolete "
		            "(RFC 8996) and OpenSSL 3 at its default "
		            "security level cannot complete such a handshake "
		            "anyway; use tlsv1.2 (the default: 1.2 and 1.3) "
		            "or tlsv1.3",
		            p->key, w);
	return fail(p, "%s: unknown version '%s' (tlsv1.2 or tlsv1.3)", p->key,
	            w);
}

/* log_format: text (mosquitto's lines) or json (one object a line). */
static int
h_log_format(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (!strcmp(w, "text")) {
		store_num(k, field, HF_LOGF_TEXT);
		return 0;
	}
	if (!strcmp(w, "json")) {
		store_num(k, field, HF_LOGF_JSON);
		return 0;
	}
	return fail(p, "%s: unknown format '%s' (text or json)", p->key, w);
}

/* A boolean into an int that is -1 while unset (allow_anonymous). */
static int
h_tristate(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	bool b = false;

	if (parse_bool(p, p->key, val, &b))
		return -1;
	store_num(k, field, b ? 1 : 0);
	return 0;
}

/* ---- other keys with their own syntax ----------------------------------- */

/* A duration: digits followed by h, d, w, m (30 days) or y (365 days),
 * stored in seconds. */
static int
h_duration(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	const char *key = p->key;
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
	store_num(k, field, n * mult);
	return 0;
}

static int
h_log_dest(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	struct hf_config *c = p->c;
	const char *key = p->key;
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
h_log_type(struct pctx *p, const struct key_def *k, char *val, void *field)
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

	if (one_word(p, p->key, val, &w))
		return -1;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(w, types[i].name))
			break;
	if (i == sizeof(types) / sizeof(types[0]))
		return fail(p,
		            "%s: unknown type '%s' (error, warning, notice, "
		            "information, debug, subscribe, unsubscribe, "
		            "websockets, all or none)",
		            p->key, w);
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

/* ---- persistence -------------------------------------------------------- */

/* persistence_location: a directory. mosquitto treats the value as a path
 * prefix ending in '/'; trailing slashes are accepted and stripped ("/"
 * stays "/"). The rest of the line, spaces included, as for other paths. */
static int
h_location(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	size_t n = strlen(val);

	while (n > 1 && val[n - 1] == '/')
		val[--n] = '\0';
	return set_string(p, p->key, val, (char **)field);
}

/* persistence_file: a file name inside persistence_location. */
static int
h_file_name(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	if (strchr(val, '/'))
		return fail(p,
		            "%s: '%s' must be a file name without '/' (set "
		            "the directory with persistence_location)",
		            p->key, val);
	if (!strcmp(val, ".") || !strcmp(val, ".."))
		return fail(p, "%s: '%s' is not a file name", p->key, val);
	return set_string(p, p->key, val, (char **)field);
}

static int
h_sync(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (!strcmp(w, "full"))
		store_num(k, field, HF_SYNC_FULL);
	else if (!strcmp(w, "os"))
		store_num(k, field, HF_SYNC_OS);
	else
		return fail(p, "%s: '%s' is not full or os", p->key, w);
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
h_include_dir(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	const char *key = p->key;
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

/* ---- bridges ------------------------------------------------------------ */

/* The bridge bridge keys apply to: the last `connection` line's (apply_key
 * has checked that there is one). */
static struct hf_bridge_conf *
cur_bridge(struct hf_config *c)
{
	return &c->bridges[c->n_bridges - 1];
}

/* The next word of *rest (NULL at the end); a word that is exactly ""
 * (two double quotes) is returned as the empty string. */
static char *
next_word(char **rest)
{
	char *w;

	if (!**rest)
		return NULL;
	w = split_word(*rest, rest);
	if (!strcmp(w, "\"\""))
		w[0] = '\0';
	return w;
}

static int
h_connection(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	struct hf_config *c = p->c;
	struct hf_bridge_conf *arr, *b;
	char *name;
	size_t i;

	if (one_word(p, p->key, val, &name))
		return -1;
	for (i = 0; i < c->n_bridges; i++)
		if (!strcmp(c->bridges[i].name, name))
			return fail(p,
			            "%s: a bridge named '%s' is already "
			            "configured (%s)",
			            p->key, name,
			            c->bridges[i].at ? c->bridges[i].at : "?");
	arr = realloc(c->bridges, (c->n_bridges + 1) * sizeof(*arr));
	if (!arr)
		return oom(p);
	c->bridges = arr;
	b = &arr[c->n_bridges];
	bridge_defaults(b);
	if (!(b->name = strdup(name)))
		return oom(p);
	c->n_bridges++;
	return where_str(p, &b->at);
}

/* One address word: HOST, HOST:PORT, [IPV6] or [IPV6]:PORT. Without
 * brackets the last ':' starts the port (as in mosquitto), so an IPv6
 * literal needs them when it has no port. */
static int
parse_bridge_addr(struct pctx *p, char *w, struct hf_bridge_addr *a)
{
	char *host = w, *port = NULL, *end;
	long long v = DEFAULT_PORT;

	if (*w == '[') {
		end = strchr(w, ']');
		if (!end || end == w + 1 || (end[1] && end[1] != ':'))
			return fail(p,
			            "%s: '%s' is not an address (write an IPv6 "
			            "address as [ADDRESS] or [ADDRESS]:PORT)",
			            p->key, w);
		host = w + 1;
		*end = '\0';
		if (end[1])
			port = end + 2;
	} else if ((end = strrchr(w, ':')) != NULL) {
		*end = '\0';
		port = end + 1;
	}
	if (!*host)
		return fail(p, "%s: missing host name in '%s'", p->key, w);
	if (port) {
		errno = 0;
		v = isdigit((unsigned char)*port) ? strtoll(port, &end, 10) : 0;
		if (!isdigit((unsigned char)*port) || *end || errno || v < 1 ||
		    v > 65535)
			return fail(p,
			            "%s: port '%s' of %s is not a port number "
			            "(1..65535)",
			            p->key, port, host);
	}
	if (!(a->host = strdup(host)))
		return oom(p);
	a->port = (uint16_t)v;
	return 0;
}

/* address / addresses: one or more addresses, all on one line. */
static int
h_address(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	struct hf_bridge_conf *b = field;
	struct hf_bridge_addr *addrs = NULL, *grown;
	size_t n = 0, i;
	char *w;
	int rc = 0;

	if (b->n_addrs)
		return fail(p,
		            "%s: bridge '%s' already has its addresses (list "
		            "them all on one line)",
		            p->key, b->name);
	if (!*val)
		return fail(p, "%s: missing value", p->key);
	while (rc == 0 && (w = split_word(val, &val)) && *w) {
		grown = realloc(addrs, (n + 1) * sizeof(*addrs));
		if (!grown) {
			rc = oom(p);
			break;
		}
		addrs = grown;
		rc = parse_bridge_addr(p, w, &addrs[n]);
		if (rc == 0)
			n++;
	}
	if (rc) {
		for (i = 0; i < n; i++)
			free(addrs[i].host);
		free(addrs);
		return -1;
	}
	b->addrs = addrs;
	b->n_addrs = n;
	return 0;
}

static void
topic_free(struct hf_bridge_topic *t)
{
	free(t->pattern);
	free(t->local_prefix);
	free(t->remote_prefix);
	free(t->local_topic);
	free(t->remote_topic);
}

/* a + b, or NULL when out of memory. */
static char *
concat(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s = malloc(na + nb + 1);

	if (s) {
		memcpy(s, a, na);
		memcpy(s + na, b, nb + 1);
	}
	return s;
}

/* The words of a topic line, checked (see h_topic). */
struct topic_words {
	char *pattern, *dir, *qos, *lp, *rp;
};

static int
check_topic_words(struct pctx *p, struct topic_words *tw, char *rest,
                  struct hf_bridge_topic *t)
{
	const char *key = p->key;

	if (!tw->pattern)
		return fail(p, "%s: missing value", key);
	if (*rest)
		return fail(p, "%s: unexpected extra argument '%s'", key, rest);
	if (!tw->dir || !strcasecmp(tw->dir, "out"))
		t->dir = HF_BRIDGE_OUT;
	else if (!strcasecmp(tw->dir, "in"))
		t->dir = HF_BRIDGE_IN;
	else if (!strcasecmp(tw->dir, "both"))
		t->dir = HF_BRIDGE_BOTH;
	else
		return fail(p, "%s: unknown direction '%s' (in, out or both)",
		            key, tw->dir);
	if (tw->qos &&
	    (strlen(tw->qos) != 1 || tw->qos[0] < '0' || tw->qos[0] > '2'))
		return fail(p, "%s: QoS '%s' is not 0, 1 or 2", key, tw->qos);
	t->qos = tw->qos ? (uint8_t)(tw->qos[0] - '0') : 0;
	if (tw->lp && !tw->rp)
		return fail(p,
		            "%s: a local prefix needs a remote prefix after "
		            "it (write \"\" for none)",
		            key);
	if (tw->lp && strpbrk(tw->lp, "+#"))
		return fail(p, "%s: local prefix '%s' contains a wildcard", key,
		            tw->lp);
	if (tw->rp && strpbrk(tw->rp, "+#"))
		return fail(p, "%s: remote prefix '%s' contains a wildcard",
		            key, tw->rp);
	if (!*tw->pattern && !tw->lp)
		return fail(p,
		            "%s: an empty pattern (\"\") needs a local and a "
		            "remote prefix, which are then the topics",
		            key);
	if (!*tw->pattern && !*tw->lp && !*tw->rp)
		return fail(p, "%s: the pattern and both prefixes are empty",
		            key);
	return 0;
}

/* topic PATTERN [in|out|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]]: the
 * local topic is LOCAL_PREFIX + PATTERN, the remote one REMOTE_PREFIX +
 * PATTERN, and both must be valid topic filters. */
static int
h_topic(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	struct hf_bridge_conf *b = field;
	struct hf_bridge_topic t = {0}, *grown;
	struct topic_words tw;
	char *rest = val;

	tw.pattern = next_word(&rest);
	tw.dir = next_word(&rest);
	tw.qos = next_word(&rest);
	tw.lp = next_word(&rest);
	tw.rp = next_word(&rest);
	if (check_topic_words(p, &tw, rest, &t))
		return -1;
	t.pattern = strdup(tw.pattern);
	t.local_prefix = strdup(tw.lp ? tw.lp : "");
	t.remote_prefix = strdup(tw.rp ? tw.rp : "");
	if (t.pattern && t.local_prefix && t.remote_prefix) {
		t.local_topic = concat(t.local_prefix, t.pattern);
		t.remote_topic = concat(t.remote_prefix, t.pattern);
	}
	if (!t.local_topic || !t.remote_topic) {
		topic_free(&t);
		return oom(p);
	}
	if (!hf_topic_filter_valid((const uint8_t *)t.local_topic,
	                           strlen(t.local_topic)) ||
	    !hf_topic_filter_valid((const uint8_t *)t.remote_topic,
	                           strlen(t.remote_topic))) {
		bool local_bad = !hf_topic_filter_valid(
		    (const uint8_t *)t.local_topic, strlen(t.local_topic));

		fail(p,
		     "%s: the %s topic '%s' (%s prefix + pattern) is not a "
		     "valid topic filter",
		     p->key, local_bad ? "local" : "remote",
		     local_bad ? t.local_topic : t.remote_topic,
		     local_bad ? "local" : "remote");
		topic_free(&t);
		return -1;
	}
	grown = realloc(b->topics, (b->n_topics + 1) * sizeof(*grown));
	if (!grown) {
		topic_free(&t);
		return oom(p);
	}
	b->topics = grown;
	b->topics[b->n_topics++] = t;
	return 0;
}

static int
h_local_cleansession(struct pctx *p, const struct key_def *k, char *val,
                     void *field)
{
	if (h_bool(p, k, val, field))
		return -1;
	cur_bridge(p->c)->local_cleansession_set = true;
	return 0;
}

static int
h_bridge_tls_version(struct pctx *p, const struct key_def *k, char *val,
                     void *field)
{
	if (h_tls_version(p, k, val, field))
		return -1;
	cur_bridge(p->c)->tls_version_set = true;
	return 0;
}

static int
h_bridge_protocol(struct pctx *p, const struct key_def *k, char *val,
                  void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (!strcmp(w, "mqttv31"))
		store_num(k, field, HF_PROTO_V31);
	else if (!strcmp(w, "mqttv311"))
		store_num(k, field, HF_PROTO_V311);
	else if (!strcmp(w, "mqttv50"))
		store_num(k, field, HF_PROTO_V5);
	else
		return fail(p,
		            "%s: unknown version '%s' (mqttv31, mqttv311 or "
		            "mqttv50)",
		            p->key, w);
	return 0;
}

/* restart_timeout BASE [CAP]: one value, a constant wait (cap 0); two, a
 * wait growing from BASE up to CAP (CAP >= BASE). */
static int
h_restart_timeout(struct pctx *p, const struct key_def *k, char *val,
                  void *field)
{
	struct hf_bridge_conf *b = cur_bridge(p->c);
	char *base_s, *cap_s, *extra;
	long long base, cap = 0;

	if (!*val)
		return fail(p, "%s: missing value", p->key);
	base_s = split_word(val, &cap_s);
	if (parse_int(p, p->key, base_s, k->min, k->max, &base))
		return -1;
	if (*cap_s) {
		cap_s = split_word(cap_s, &extra);
		if (*extra)
			return fail(p, "%s: unexpected extra argument '%s'",
			            p->key, extra);
		if (parse_int(p, p->key, cap_s, k->min, k->max, &cap))
			return -1;
		if (cap < base)
			return fail(p,
			            "%s: the cap %lld is below the base %lld "
			            "(restart_timeout BASE CAP)",
			            p->key, cap, base);
	}
	b->restart_base = (uint32_t)base;
	b->restart_cap = (uint32_t)cap;
	return 0;
}

/* start_type: only automatic (connect at start-up, reconnect after
 * restart_timeout); lazy and once are refused. */
static int
h_start_type(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (!strcmp(w, "automatic"))
		return 0;
	if (!strcmp(w, "lazy") || !strcmp(w, "once"))
		return fail(p,
		            "%s: %s is not supported: only automatic is "
		            "(the bridge connects at start-up and "
		            "reconnects whenever the connection drops)",
		            p->key, w);
	return fail(p, "%s: unknown start type '%s' (automatic)", p->key, w);
}

/* bridge_outbox_overflow refuse|drop_oldest */
static int
h_overflow(struct pctx *p, const struct key_def *k, char *val, void *field)
{
	char *w;

	if (one_word(p, p->key, val, &w))
		return -1;
	if (!strcmp(w, "refuse"))
		store_num(k, field, HF_BRIDGE_REFUSE);
	else if (!strcmp(w, "drop_oldest"))
		store_num(k, field, HF_BRIDGE_DROP_OLDEST);
	else
		return fail(p, "%s: '%s' is not refuse or drop_oldest", p->key,
		            w);
	return 0;
}

/* notification_topic: a topic name (no wildcards), spaces included. */
static int
h_notification_topic(struct pctx *p, const struct key_def *k, char *val,
                     void *field)
{
	if (*val && !hf_topic_name_valid((const uint8_t *)val, strlen(val)))
		return fail(p, "%s: '%s' is not a valid topic name", p->key,
		            val);
	return set_string(p, p->key, val, (char **)field);
}

/* ---- the key table ------------------------------------------------------ */

/* Field descriptors: offset, size and type of a field of struct hf_config
 * (CONF), of struct hf_listener_conf (LCONF), or of both (SCONF: a
 * security setting, with the same name and type in both). */
#define FIELD_OF(s, f) (((struct s *)0)->f)
#define FTYPE(x)                                                               \
	_Generic((x), bool: T_BOOL, char *: T_STR, int: T_INT, default: T_UNS)
#define CONF(f)                                                                \
	.type = FTYPE(FIELD_OF(hf_config, f)),                                 \
	.off = offsetof(struct hf_config, f),                                  \
	.size = sizeof(FIELD_OF(hf_config, f))
#define LCONF(f)                                                               \
	.type = FTYPE(FIELD_OF(hf_listener_conf, f)),                          \
	.loff = offsetof(struct hf_listener_conf, f),                          \
	.size = sizeof(FIELD_OF(hf_listener_conf, f))
/* 0, or a compile error (an array of size -1) when fields a and b differ
 * in size or type. */
#define SAME_FIELD(a, b)                                                       \
	(0 *                                                                   \
	 sizeof(                                                               \
	     char[sizeof(a) == sizeof(b) && FTYPE(a) == FTYPE(b) ? 1 : -1]))
#define SCONF(f)                                                               \
	CONF(f), .loff = offsetof(struct hf_listener_conf, f) +                \
	                 SAME_FIELD(FIELD_OF(hf_config, f),                    \
	                            FIELD_OF(hf_listener_conf, f))

/* Row heads: the key (named like its field), its scope and its handler. */
#define GLOBAL_AS(n, f, fn)                                                    \
	.name = n, .scope = HF_SCOPE_GLOBAL, .set = fn, CONF(f)
#define GLOBAL(f, fn) GLOBAL_AS(#f, f, fn)
#define LISTENER_AS(n, f, fn)                                                  \
	.name = n, .scope = HF_SCOPE_LISTENER, .set = fn, LCONF(f)
#define LISTENER(f, fn) LISTENER_AS(#f, f, fn)
/* A TLS key whose FILE:LINE is kept (F_WHERE) as tls_at[HF_TLSK_<w>]. */
#define TLS_AT(w) .flags = F_WHERE, .where = HF_TLSK_##w
#define DEFAULT_LISTENER(f, fn)                                                \
	.name = #f, .scope = HF_SCOPE_DEFAULT_LISTENER, .set = fn, LCONF(f)
#define SECURITY(f, fn)                                                        \
	.name = #f, .scope = HF_SCOPE_SECURITY, .set = fn, SCONF(f)
/* A key of a bridge (the last `connection` block), setting field f of
 * struct hf_bridge_conf. */
#define BCONF(f)                                                               \
	.type = FTYPE(FIELD_OF(hf_bridge_conf, f)),                            \
	.boff = offsetof(struct hf_bridge_conf, f),                            \
	.size = sizeof(FIELD_OF(hf_bridge_conf, f))
#define BRIDGE_AS(n, f, fn)                                                    \
	.name = n, .scope = HF_SCOPE_BRIDGE, .set = fn, BCONF(f)
#define BRIDGE(f, fn) BRIDGE_AS(#f, f, fn)
/* A key that sets no field of its own. */
#define ACTION(n, sc, fn)      .name = n, .scope = HF_SCOPE_##sc, .set = fn
#define PLANNED(n, sc)         ACTION(n, sc, h_planned)
#define REFUSED(n, sc, reason) ACTION(n, sc, h_refused), .why = reason
#define RANGE(lo, hi)          .min = (lo), .max = (hi)

/* Every key: adding one is a line here (plus a handler when none of the
 * generic ones, h_bool, h_num, h_size, h_str, h_word, fits). Defaults are
 * mosquitto's where mosquitto has the key, except where noted (and in
 * conf/holdfast.conf, which says why). */
static const struct key_def keys[] = {
    /* Listeners. */
    {ACTION("listener", GLOBAL, h_listener)},
    {DEFAULT_LISTENER(port, h_num), RANGE(0, 65535), .def = DEFAULT_PORT},
    {DEFAULT_LISTENER(bind_address, h_word), .sdef = NULL},
    {LISTENER(socket_domain, h_socket_domain), .def = 0},
    {LISTENER(max_connections, h_num), RANGE(-1, INT_MAX), .def = -1},
    /* `protocol mqtt` before any listener does not open the default
     * listener (only port/bind_address and the other listener keys do). */
    {LISTENER(protocol, h_protocol), .def = HF_LISTENER_MQTT, .flags = F_SOFT},
    {LISTENER(http_dir, h_str), .sdef = NULL, TLS_AT(HTTP_DIR)},
    {LISTENER(mount_point, h_mount_point), .sdef = NULL},
    {PLANNED("bind_interface", LISTENER)},
    {PLANNED("accept_protocol_versions", LISTENER)},
    {LISTENER(use_username_as_clientid, h_bool), .def = false},
    {PLANNED("listener_allow_anonymous", LISTENER)},
    {REFUSED("max_qos", LISTENER,
             "per-listener maximum QoS is not supported yet in this build "
             "(planned); the global maximum_qos is")},
    /* TLS, per listener: the values here, the files they name read by
     * broker/net/tls.c when the listeners open (and by --test-config). */
    {LISTENER(cafile, h_str), TLS_AT(CAFILE)},
    {LISTENER(capath, h_str), TLS_AT(CAPATH)},
    {LISTENER(certfile, h_str), TLS_AT(CERTFILE)},
    {LISTENER(keyfile, h_str), TLS_AT(KEYFILE)},
    {LISTENER(crlfile, h_str), TLS_AT(CRLFILE)},
    {LISTENER(ciphers, h_str), TLS_AT(CIPHERS)},
    {LISTENER_AS("ciphers_tls1.3", ciphers_tls13, h_str),
     TLS_AT(CIPHERS_TLS13)},
    {LISTENER(tls_version, h_tls_version), .def = HF_TLS_V12},
    {LISTENER(require_certificate, h_bool), .def = false,
     TLS_AT(REQUIRE_CERTIFICATE)},
    {LISTENER(use_identity_as_username, h_bool), .def = false},
    {LISTENER(use_subject_as_username, h_bool), .def = false},
    {LISTENER(dhparamfile, h_str), TLS_AT(DHPARAMFILE)},
    {PLANNED("tls_engine", LISTENER)},
    {PLANNED("tls_engine_kpass_sha1", LISTENER)},
    {PLANNED("tls_keyform", LISTENER)},
    {PLANNED("psk_hint", LISTENER)},

    /* Security: global, or per listener with per_listener_settings. */
    {SECURITY(allow_anonymous, h_tristate), .def = -1},
    {SECURITY(password_file, h_str), .sdef = NULL},
    {SECURITY(acl_file, h_str), .sdef = NULL},
    {GLOBAL(acl_check_subscribe, h_bool), .def = false},
    {PLANNED("psk_file", SECURITY)},
    {PLANNED("auth_plugin", SECURITY)},
    {PLANNED("auth_plugin_deny_special_chars", SECURITY)},
    {PLANNED("plugin", SECURITY)},
    {PLANNED("plugin_opt_", SECURITY), .flags = F_PREFIX},
    {PLANNED("auth_opt_", SECURITY), .flags = F_PREFIX},
    {PLANNED("global_plugin", GLOBAL)},
    {GLOBAL(per_listener_settings, h_bool), .def = false},
    /* mosquitto makes these two security settings; Holdfast keeps them
     * global either way (conf/holdfast.conf). */
    {GLOBAL(allow_zero_length_clientid, h_bool), .def = true},
    {GLOBAL(auto_id_prefix, h_str), .sdef = "auto-"},
    {GLOBAL(clientid_prefixes, h_str), .sdef = NULL},

    /* Limits and MQTT features. */
    {GLOBAL(max_keepalive, h_num), RANGE(0, 65535), .def = 65535},
    {GLOBAL(max_packet_size, h_num), RANGE(20, MAX_PACKET_LIMIT), .def = 0,
     .flags = F_ZERO_OFF},
    {GLOBAL(message_size_limit, h_num), RANGE(0, MAX_PAYLOAD_LIMIT), .def = 0},
    {GLOBAL(max_inflight_messages, h_num), RANGE(0, 65535), .def = 20},
    {GLOBAL(max_inflight_bytes, h_num), RANGE(0, LLONG_MAX), .def = 0},
    /* mosquitto: 1000, enforced by dropping acknowledged messages;
     * Holdfast refuses the PUBLISH instead. */
    {GLOBAL(max_queued_messages, h_num), RANGE(0, LLONG_MAX), .def = 1000000},
    {GLOBAL(max_queued_bytes, h_num), RANGE(0, LLONG_MAX), .def = 0},
    {GLOBAL(queue_qos0_messages, h_bool), .def = false},
    {GLOBAL(maximum_qos, h_num), RANGE(0, 2), .def = 2},
    {GLOBAL(retain_available, h_bool), .def = true},
    {GLOBAL(max_topic_alias, h_num), RANGE(0, 65535), .def = 10},
    /* Holdfast's own (FlashMQ has the last one). */
    {GLOBAL(connect_timeout, h_num), RANGE(1, 65535), .def = 10},
    {GLOBAL(max_topic_levels, h_num), RANGE(0, 65535), .def = 128},
    {GLOBAL(max_subscriptions_per_client, h_num), RANGE(0, UINT32_MAX),
     .def = 10000},
    {GLOBAL(client_max_write_buffer_size, h_size),
     RANGE(MIN_WRITE_BUFFER, MAX_SIZE), .def = MIB, .flags = F_ZERO_OFF},
    {GLOBAL(persistent_client_expiration, h_duration), .def = 0},
    {GLOBAL(upgrade_outgoing_qos, h_bool), .def = false},
    /* mosquitto: false; Holdfast writes a connection's packets of one
     * loop turn in one go, so Nagle's algorithm only adds delay. */
    {GLOBAL(set_tcp_nodelay, h_bool), .def = true},
    {GLOBAL(sys_interval, h_num), RANGE(0, INT32_MAX), .def = 10},
    {PLANNED("check_retain_source", GLOBAL)},
    {PLANNED("memory_limit", GLOBAL)},
    {PLANNED("allow_duplicate_messages", GLOBAL)},
    {GLOBAL(websockets_log_level, h_num), RANGE(0, 65535), .def = 0},
    {GLOBAL(websockets_headers_size, h_num), RANGE(0, 65535), .def = 0},
    {REFUSED("retry_interval", GLOBAL,
             "obsolete (mosquitto 2.0 dropped it too); remove it")},
    {REFUSED("store_clean_interval", GLOBAL,
             "obsolete (mosquitto 2.0 dropped it too); remove it")},

    /* Logging. */
    {GLOBAL(log_dest, h_log_dest), .def = HF_LOGD_STDERR},
    {.name = "log_dest file", .flags = F_NOKEY, CONF(log_file)},
    {GLOBAL_AS("log_type", log_types, h_log_type),
     .def = HF_LOG_ERR | HF_LOG_WARNING | HF_LOG_NOTICE | HF_LOG_INFO},
    {GLOBAL(log_timestamp, h_bool), .def = true},
    {GLOBAL(log_timestamp_format, h_str), .sdef = NULL},
    {GLOBAL(log_format, h_log_format), .def = HF_LOGF_TEXT},
    {GLOBAL(connection_messages, h_bool), .def = true},
    {PLANNED("log_facility", GLOBAL)},

    /* Process. */
    {ACTION("include_dir", GLOBAL, h_include_dir)},
    {GLOBAL(pid_file, h_str), .sdef = NULL},
    {GLOBAL(user, h_str), .sdef = NULL}, /* mosquitto: "mosquitto" */
    {.name = "-c", .flags = F_NOKEY, CONF(config_file)},

    /* Persistence (mosquitto: off, and in memory between snapshots). */
    {GLOBAL(persistence, h_bool), .def = true},
    {GLOBAL(persistence_location, h_location), .sdef = "data"},
    {GLOBAL(persistence_file, h_file_name), .sdef = "holdfast.db"},
    {GLOBAL(persistence_sync, h_sync), .def = HF_SYNC_FULL},
    {GLOBAL(persistence_max_size, h_size), RANGE(MIN_STORE_MAX_SIZE, MAX_SIZE),
     .def = 16 * GIB},
    {GLOBAL(persistence_initial_size, h_size),
     RANGE(MIN_STORE_INITIAL_SIZE, MAX_SIZE), .def = 64 * MIB},
    {GLOBAL(persistence_commit_max, h_num), RANGE(1, MAX_COMMIT_OPS),
     .def = 8192},
    /* Accepted so that mosquitto files load, without effect. */
    {GLOBAL(autosave_interval, h_num), RANGE(0, INT32_MAX), .def = 1800},
    {GLOBAL(autosave_on_changes, h_bool), .def = false},

    /* Bridges: `connection NAME` opens one; the keys after it apply to
     * the last one opened (conf/holdfast.conf, Bridges). */
    {ACTION("connection", GLOBAL, h_connection)},
    {ACTION("address", BRIDGE, h_address)},
    {ACTION("addresses", BRIDGE, h_address)},
    {ACTION("topic", BRIDGE, h_topic)},
    {BRIDGE(round_robin, h_bool), .def = false},
    {BRIDGE(cleansession, h_bool), .def = false},
    {BRIDGE(local_cleansession, h_local_cleansession), .def = false},
    {BRIDGE(remote_clientid, h_str)},
    {BRIDGE(local_clientid, h_str)},
    {BRIDGE(remote_username, h_str)},
    {BRIDGE(remote_password, h_str)},
    {BRIDGE_AS("bridge_protocol_version", protocol_version, h_bridge_protocol),
     .def = HF_PROTO_V311},
    {BRIDGE(try_private, h_bool), .def = true},
    {BRIDGE(notifications, h_bool), .def = true},
    {BRIDGE(notification_topic, h_notification_topic)},
    {BRIDGE(notifications_local_only, h_bool), .def = false},
    /* mosquitto refuses a keepalive below 5 s too */
    {BRIDGE(keepalive_interval, h_num), RANGE(5, 65535), .def = 60},
    {BRIDGE_AS("restart_timeout", restart_base, h_restart_timeout),
     RANGE(1, INT32_MAX), .def = 5},
    {.name = "restart_timeout cap",
     .scope = HF_SCOPE_BRIDGE,
     .flags = F_NOKEY,
     BCONF(restart_cap),
     .def = 30},
    {ACTION("start_type", BRIDGE, h_start_type)},
    /* the MQTT 5 ones: ignored (as by mosquitto) with another version */
    {BRIDGE_AS("bridge_max_packet_size", max_packet_size, h_num),
     RANGE(20, MAX_PACKET_LIMIT), .def = 0, .flags = F_ZERO_OFF},
    {BRIDGE_AS("bridge_receive_maximum", receive_maximum, h_num),
     RANGE(1, 65535), .def = 65535},
    {BRIDGE_AS("bridge_session_expiry_interval", session_expiry_interval,
               h_num),
     RANGE(0, UINT32_MAX), .def = 0},
    {BRIDGE_AS("bridge_outgoing_retain", outgoing_retain, h_bool), .def = true},
    {BRIDGE_AS("bridge_attempt_unsubscribe", attempt_unsubscribe, h_bool),
     .def = true},
    {BRIDGE_AS("bridge_cafile", cafile, h_str)},
    {BRIDGE_AS("bridge_capath", capath, h_str)},
    {BRIDGE_AS("bridge_certfile", certfile, h_str)},
    {BRIDGE_AS("bridge_keyfile", keyfile, h_str)},
    {BRIDGE_AS("bridge_insecure", insecure, h_bool), .def = false},
    {BRIDGE_AS("bridge_tls_version", tls_version, h_bridge_tls_version),
     .def = HF_TLS_V12},
    /* Holdfast's own: the outbox of messages waiting for the remote. */
    {BRIDGE_AS("bridge_outbox_max_messages", outbox_max_messages, h_num),
     RANGE(0, LLONG_MAX), .def = 0},
    {BRIDGE_AS("bridge_outbox_max_bytes", outbox_max_bytes, h_size),
     RANGE(0, MAX_SIZE), .def = 0},
    {BRIDGE_AS("bridge_max_inflight", max_inflight, h_num), RANGE(0, 65535),
     .def = 0},
    {BRIDGE_AS("bridge_outbox_overflow", outbox_overflow, h_overflow),
     .def = HF_BRIDGE_REFUSE},
    /* mosquitto's, refused (before the "bridge_" row, which refuses the
     * rest of bridge_*). */
    {REFUSED("idle_timeout", BRIDGE,
             "not supported: it belongs to start_type lazy, and only "
             "automatic is supported")},
    {REFUSED("threshold", BRIDGE,
             "not supported: it belongs to start_type lazy, and only "
             "automatic is supported")},
    {REFUSED("local_username", BRIDGE,
             "not supported: Holdfast's bridge has no local "
             "credentials; remove it")},
    {REFUSED("local_password", BRIDGE,
             "not supported: Holdfast's bridge has no local "
             "credentials; remove it")},
    {REFUSED("bridge_bind_address", BRIDGE,
             "not supported: the bridge connects from the address the "
             "system picks")},
    {REFUSED("bridge_identity", BRIDGE,
             "not supported: TLS-PSK is not implemented; use "
             "bridge_cafile (and bridge_certfile, bridge_keyfile)")},
    {REFUSED("bridge_psk", BRIDGE,
             "not supported: TLS-PSK is not implemented; use "
             "bridge_cafile (and bridge_certfile, bridge_keyfile)")},
    {REFUSED("bridge_alpn", BRIDGE, "not supported by Holdfast's bridge")},
    {REFUSED("bridge_require_ocsp", BRIDGE,
             "not supported: OCSP stapling is not implemented")},
    {REFUSED("bridge_keyform", BRIDGE,
             "not supported: bridge_keyfile is read as PEM")},
    {REFUSED("bridge_tls_use_os_certs", BRIDGE,
             "not supported: name the CA with bridge_cafile or "
             "bridge_capath")},
    {REFUSED("bridge_", BRIDGE, "not a bridge option Holdfast supports"),
     .flags = F_PREFIX},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- walking the table -------------------------------------------------- */

static bool
has_global_field(const struct key_def *k)
{
	return k->type != T_NONE &&
	       (k->scope == HF_SCOPE_GLOBAL || k->scope == HF_SCOPE_SECURITY);
}

static bool
has_listener_field(const struct key_def *k)
{
	return k->type != T_NONE && (k->scope == HF_SCOPE_LISTENER ||
	                             k->scope == HF_SCOPE_DEFAULT_LISTENER ||
	                             k->scope == HF_SCOPE_SECURITY);
}

/* A listener's fields: the table's defaults, strings NULL, then port. */
static void
listener_defaults(struct hf_listener_conf *l, uint16_t port)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < COUNT(keys); i++)
		if (has_listener_field(&keys[i]) && keys[i].type != T_STR)
			store_num(&keys[i], (char *)l + keys[i].loff,
			          keys[i].def);
	l->port = port;
}

static bool
has_bridge_field(const struct key_def *k)
{
	return k->type != T_NONE && k->scope == HF_SCOPE_BRIDGE;
}

/* A bridge's fields: the table's defaults, strings NULL. */
static void
bridge_defaults(struct hf_bridge_conf *b)
{
	size_t i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < COUNT(keys); i++)
		if (has_bridge_field(&keys[i]) && keys[i].type != T_STR)
			store_num(&keys[i], (char *)b + keys[i].boff,
			          keys[i].def);
}

static void
bridge_free(struct hf_bridge_conf *b)
{
	size_t i;
	char *s;

	for (i = 0; i < COUNT(keys); i++) {
		if (!has_bridge_field(&keys[i]) || keys[i].type != T_STR)
			continue;
		memcpy(&s, (char *)b + keys[i].boff, sizeof(s));
		free(s);
	}
	for (i = 0; i < b->n_addrs; i++)
		free(b->addrs[i].host);
	free(b->addrs);
	for (i = 0; i < b->n_topics; i++)
		topic_free(&b->topics[i]);
	free(b->topics);
	free(b->name);
	free(b->at);
}

static void
listener_free(struct hf_listener_conf *l)
{
	size_t i;
	char *s;

	for (i = 0; i < COUNT(keys); i++) {
		if (!has_listener_field(&keys[i]) || keys[i].type != T_STR)
			continue;
		memcpy(&s, (char *)l + keys[i].loff, sizeof(s));
		free(s);
	}
	for (i = 0; i < HF_TLSK_COUNT; i++)
		free(l->tls_at[i]);
	free(l->at);
}

/* Where a key was just set, "PATH:LINE", into *out (replacing it). */
static int
where_str(struct pctx *p, char **out)
{
	int n = snprintf(NULL, 0, "%s:%lu", p->path, p->line);
	char *s = n < 0 ? NULL : malloc((size_t)n + 1);

	if (!s)
		return oom(p);
	snprintf(s, (size_t)n + 1, "%s:%lu", p->path, p->line);
	free(*out);
	*out = s;
	return 0;
}

/* Keep "PATH:LINE" for an F_WHERE key of listener l. */
static int
set_where(struct pctx *p, struct hf_listener_conf *l, int where)
{
	int n = snprintf(NULL, 0, "%s:%lu", p->path, p->line);
	char *s = n < 0 ? NULL : malloc((size_t)n + 1);

	if (!s)
		return oom(p);
	snprintf(s, (size_t)n + 1, "%s:%lu", p->path, p->line);
	free(l->tls_at[where]);
	l->tls_at[where] = s;
	return 0;
}

/* Copies one setting's value from src to dst (both the field of k in a
 * struct of the same kind); a string is duplicated. */
static int
copy_value(const struct key_def *k, void *dst, const void *src)
{
	char *s, *old;

	if (k->type != T_STR) {
		memcpy(dst, src, k->size);
		return 0;
	}
	memcpy(&s, src, sizeof(s));
	if (s && !(s = strdup(s)))
		return -1;
	memcpy(&old, dst, sizeof(old));
	free(old);
	memcpy(dst, &s, sizeof(s));
	return 0;
}

/* Whether a listener's copy of a security setting was left unset. */
static bool
is_unset(const struct key_def *k, const void *field)
{
	char *s;

	if (k->type == T_STR) {
		memcpy(&s, field, sizeof(s));
		return s == NULL;
	}
	return load_num(k, field) == k->def;
}

/* Each listener's security settings (see HF_SCOPE_SECURITY). */
static int
resolve_security(struct hf_config *c)
{
	size_t i, j;

	for (i = 0; i < COUNT(keys); i++) {
		const struct key_def *k = &keys[i];

		if (k->scope != HF_SCOPE_SECURITY || k->type == T_NONE)
			continue;
		for (j = 0; j < c->n_listeners; j++) {
			char *l = (char *)&c->listeners[j] + k->loff;

			if (c->per_listener_settings && !is_unset(k, l))
				continue;
			if (copy_value(k, l, (char *)c + k->off))
				return -1;
		}
	}
	return 0;
}

/* The embedded listeners take what was set for the default listener. */
static int
copy_default_security(const struct hf_config *c, struct hf_listener_conf *l)
{
	size_t i;

	for (i = 0; i < COUNT(keys); i++) {
		const struct key_def *k = &keys[i];

		if (k->scope == HF_SCOPE_SECURITY && k->type != T_NONE &&
		    copy_value(k, (char *)l + k->loff,
		               (const char *)&c->default_listener + k->loff))
			return -1;
	}
	return 0;
}

/* ---- applying a line ---------------------------------------------------- */

static const struct key_def *
find_key(const char *key)
{
	size_t i;

	for (i = 0; i < COUNT(keys); i++) {
		const struct key_def *k = &keys[i];

		if (k->flags & F_NOKEY)
			continue;
		if ((k->flags & F_PREFIX)
		        ? !strncmp(key, k->name, strlen(k->name))
		        : !strcmp(key, k->name))
			return k;
	}
	return NULL;
}

/* The field key k sets, by its scope; NULL (and err set) when it cannot
 * apply here. */
static void *
target(struct pctx *p, const struct key_def *k)
{
	struct hf_config *c = p->c;

	switch (k->scope) {
	case HF_SCOPE_GLOBAL:
		return (char *)c + k->off;
	case HF_SCOPE_LISTENER:
		return (char *)cur_listener(c, !(k->flags & F_SOFT)) + k->loff;
	case HF_SCOPE_DEFAULT_LISTENER:
		c->default_listener_used = true;
		return (char *)&c->default_listener + k->loff;
	case HF_SCOPE_SECURITY:
		if (!c->per_listener_settings)
			return (char *)c + k->off;
		/* does not by itself make the default listener real */
		return (char *)cur_listener(c, false) + k->loff;
	case HF_SCOPE_BRIDGE:
		if (c->n_bridges)
			return (char *)cur_bridge(c) + k->boff;
		break;
	}
	fail(p, "%s: only allowed in a bridge, after a connection line",
	     p->key);
	return NULL;
}

/* Whether applying k needs target(): a key with a field, or a bridge key
 * (whose handler gets the bridge); a refused one is refused anywhere. */
static bool
needs_target(const struct key_def *k)
{
	if (k->set == h_refused || k->set == h_planned)
		return false;
	return k->type != T_NONE || k->scope == HF_SCOPE_BRIDGE;
}

static int
apply_key(struct pctx *p, const char *key, char *val)
{
	const struct key_def *k = find_key(key);
	void *field = NULL;

	if (!k)
		return fail(p, "unknown option '%s'", key);
	p->key = key;
	if (needs_target(k) && !(field = target(p, k)))
		return -1;
	if (k->set(p, k, val, field))
		return -1;
	if (has_global_field(k) &&
	    (k->scope == HF_SCOPE_GLOBAL ||
	     (k->scope == HF_SCOPE_SECURITY && !p->c->per_listener_settings))) {
		struct hf_config *c = p->c;
		if (!c->key_at &&
		    !(c->key_at = calloc(COUNT(keys), sizeof(*c->key_at))))
			return oom(p);
		if (where_str(p, &c->key_at[k - keys]))
			return -1;
	}
	if (k->flags & F_WHERE)
		return set_where(
		    p, (struct hf_listener_conf *)((char *)field - k->loff),
		    k->where);
	return 0;
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

/* --test-config: one more error for the list; -1 when out of memory. */
static int
keep_error(struct hf_config *c, const char *err)
{
	size_t have = c->errors ? strlen(c->errors) : 0, n = strlen(err);
	char *e = realloc(c->errors, have + n + 2);
	if (!e)
		return -1;
	memcpy(e + have, err, n);
	e[have + n] = '\n';
	e[have + n + 1] = '\0';
	c->errors = e;
	return 0;
}

static int
read_file(struct hf_config *c, const char *path, int depth, char *err,
          size_t errlen)
{
	struct pctx p = {c, path, 0, depth, err, errlen, NULL};
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
			if (!c->collect_errors || keep_error(c, err))
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

bool
hf_config_key_info(size_t i, struct hf_config_key *out)
{
	size_t j;

	for (j = 0; j < COUNT(keys); j++) {
		const struct key_def *k = &keys[j];

		if (k->flags & F_NOKEY)
			continue;
		if (i-- == 0) {
			out->name = k->name;
			out->scope = k->scope;
			out->implemented =
			    k->set != h_planned && k->set != h_refused;
			out->is_prefix = (k->flags & F_PREFIX) != 0;
			return true;
		}
	}
	return false;
}

int
hf_config_init(struct hf_config *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < COUNT(keys); i++) {
		const struct key_def *k = &keys[i];
		void *field = (char *)c + k->off;
		char *s = NULL;

		if (!has_global_field(k))
			continue;
		if (k->type != T_STR) {
			store_num(k, field, k->def);
			continue;
		}
		if (k->sdef && !(s = strdup(k->sdef))) {
			hf_config_free(c);
			return -1;
		}
		memcpy(field, &s, sizeof(s));
	}
	listener_defaults(&c->default_listener, DEFAULT_PORT);
	return 0;
}

void
hf_config_free(struct hf_config *c)
{
	size_t i;
	char *s;

	for (i = 0; i < COUNT(keys); i++) {
		if (!has_global_field(&keys[i]) || keys[i].type != T_STR)
			continue;
		memcpy(&s, (char *)c + keys[i].off, sizeof(s));
		free(s);
	}
	for (i = 0; i < c->n_listeners; i++)
		listener_free(&c->listeners[i]);
	free(c->listeners);
	for (i = 0; i < c->n_bridges; i++)
		bridge_free(&c->bridges[i]);
	free(c->bridges);
	listener_free(&c->default_listener);
	if (c->key_at)
		for (i = 0; i < COUNT(keys); i++)
			free(c->key_at[i]);
	free(c->key_at);
	free(c->errors);
	memset(c, 0, sizeof(*c));
}

const char *
hf_config_where(const struct hf_config *c, const char *key)
{
	const struct key_def *k = find_key(key);
	return k && c->key_at ? c->key_at[k - keys] : NULL;
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
	      "                [--move-damaged-store] [-h] [-V]\n"
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
	      " -V, --version           print the version and exit\n"
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
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			/* hf-ops. -V: mosquitto has no such option to clash
			 * with. Before the file is read, like -h. */
			fputs("holdfast version " HF_VERSION "\n", stdout);
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
	/* --test-config reports every bad line, not only the first. */
	c->collect_errors = c->test_config;
	if (c->config_file && hf_config_load(c, c->config_file, err, errlen))
		return -1;
	if (c->verbose) /* overrides the file, as in mosquitto */
		c->log_types = HF_LOG_ALL;
	return 0;
}

/* Where key k of l was set ("?" for a listener made by a program). */
static const char *
where_of(const struct hf_listener_conf *l, enum hf_tls_key k)
{
	return l->tls_at[k] ? l->tls_at[k] : "?";
}

/* A TLS listener's keys as a whole (see hf_config_finish). */
static int
check_tls(const struct hf_listener_conf *l, char *err, size_t errlen)
{
	if (l->certfile && !l->keyfile)
		return set_err(err, errlen,
		               "%s: certfile: keyfile is not set (a TLS "
		               "listener needs both)",
		               where_of(l, HF_TLSK_CERTFILE));
	if (l->keyfile && !l->certfile)
		return set_err(err, errlen,
		               "%s: keyfile: certfile is not set (a TLS "
		               "listener needs both)",
		               where_of(l, HF_TLSK_KEYFILE));
	if (l->certfile && l->require_certificate && !l->cafile && !l->capath)
		return set_err(err, errlen,
		               "%s: require_certificate: true needs cafile or "
		               "capath (the CA that issues client "
		               "certificates)",
		               where_of(l, HF_TLSK_REQUIRE_CERTIFICATE));
	return 0;
}

/* protocol http_api: metrics and health say much about the broker and
 * nothing asks who is asking, so without an address it listens on the
 * loopback only (127.0.0.1); plain HTTP only. */
static int
http_api_defaults(struct hf_listener_conf *l, char *err, size_t errlen)
{
	if (l->protocol != HF_LISTENER_HTTP_API)
		return 0;
	if (hf_listener_is_tls(l))
		return set_err(err, errlen,
		               "%s: certfile: the http_api listener on port %u "
		               "serves plain HTTP only",
		               where_of(l, HF_TLSK_CERTFILE), l->port);
	if (!l->bind_address && !(l->bind_address = strdup("127.0.0.1")))
		return set_err(err, errlen, "out of memory");
	return 0;
}

/* A bridge's keys as a whole (see hf_config_finish); at is its
 * connection line. */
static int
check_bridge(const struct hf_bridge_conf *b, char *err, size_t errlen)
{
	const char *at = b->at ? b->at : "?";
	const char *tls_key = b->certfile          ? "bridge_certfile"
	                      : b->keyfile         ? "bridge_keyfile"
	                      : b->insecure        ? "bridge_insecure"
	                      : b->tls_version_set ? "bridge_tls_version"
	                                           : NULL;

	if (!b->n_addrs)
		return set_err(err, errlen,
		               "%s: address: bridge '%s' has no address (add "
		               "address HOST[:PORT] to its block)",
		               at, b->name);
	if (!b->n_topics)
		return set_err(err, errlen,
		               "%s: topic: bridge '%s' has no topic line, so "
		               "it would bridge nothing",
		               at, b->name);
	if (b->certfile && !b->keyfile)
		return set_err(err, errlen,
		               "%s: bridge_certfile: bridge_keyfile is not set "
		               "in bridge '%s' (a client certificate needs "
		               "both)",
		               at, b->name);
	if (b->keyfile && !b->certfile)
		return set_err(err, errlen,
		               "%s: bridge_keyfile: bridge_certfile is not set "
		               "in bridge '%s' (a client certificate needs "
		               "both)",
		               at, b->name);
	if (tls_key && !b->cafile && !b->capath)
		return set_err(err, errlen,
		               "%s: %s: bridge '%s' has neither bridge_cafile "
		               "nor bridge_capath, and TLS is on only with one "
		               "of them",
		               at, tls_key, b->name);
	if (b->remote_password && !b->remote_username)
		return set_err(err, errlen,
		               "%s: remote_password: remote_username is not "
		               "set in bridge '%s'",
		               at, b->name);
	return 0;
}

/* A string made with a format, into *out when it is still NULL. */
static int __attribute__((format(printf, 2, 3)))
default_str(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*out)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(*out = malloc((size_t)n + 1)))
		return -1;
	va_start(ap, fmt);
	vsnprintf(*out, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return 0;
}

/* A bridge's defaults that derive from others (see hf_config_finish). */
static int
bridge_finish_defaults(struct hf_bridge_conf *b)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (default_str(&b->remote_clientid, "%s.%s", b->name, host) ||
	    default_str(&b->local_clientid, "local.%s", b->remote_clientid) ||
	    default_str(&b->notification_topic,
	                "$SYS/broker/connection/%s/state", b->remote_clientid))
		return -1;
	/* Unlike mosquitto, local_cleansession does not follow cleansession:
	 * a clean local session would throw the outbox away at a restart,
	 * messages this broker has acknowledged. Only an explicit
	 * `local_cleansession true` does that. */
	return 0;
}

/* Every bridge checked, its defaults filled in; no two bridges share a
 * local client id (they would take over each other's session). */
static int
finish_bridges(struct hf_config *c, char *err, size_t errlen)
{
	size_t i, j;

	for (i = 0; i < c->n_bridges; i++) {
		if (check_bridge(&c->bridges[i], err, errlen))
			return -1;
		if (bridge_finish_defaults(&c->bridges[i]))
			return set_err(err, errlen, "out of memory");
	}
	for (i = 0; i < c->n_bridges; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(c->bridges[i].local_clientid,
			            c->bridges[j].local_clientid))
				return set_err(
				    err, errlen,
				    "%s: local_clientid: bridge '%s' has the "
				    "local client id '%s' of bridge '%s' (%s)",
				    c->bridges[i].at ? c->bridges[i].at : "?",
				    c->bridges[i].name,
				    c->bridges[i].local_clientid,
				    c->bridges[j].name,
				    c->bridges[j].at ? c->bridges[j].at : "?");
	return 0;
}

int
hf_config_finish(struct hf_config *c, char *err, size_t errlen)
{
	static const uint16_t default_port = DEFAULT_PORT;
	const uint16_t *ports = &default_port;
	size_t n_ports = 1, i;
	bool local_only = false;

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
				if (copy_default_security(c, l))
					return set_err(err, errlen,
					               "out of memory");
			}
		}
	} else if (c->n_cmd_ports) {
		c->cmd_ports_ignored = true;
	}

	for (i = 0; i < c->n_listeners; i++)
		if (check_tls(&c->listeners[i], err, errlen) ||
		    http_api_defaults(&c->listeners[i], err, errlen))
			return -1;
	if (finish_bridges(c, err, errlen))
		return -1;

	/* allow_anonymous unset: false, but true in local only mode (as in
	 * mosquitto 2.0); then every listener gets its security settings. */
	if (c->allow_anonymous < 0)
		c->allow_anonymous = local_only ? 1 : 0;
	if (resolve_security(c))
		return set_err(err, errlen, "out of memory");
	return 0;
}
