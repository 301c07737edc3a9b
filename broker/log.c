/* broker/log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

int
hf_log_open(struct hf_logger *l, const struct hf_config *c)
{
	l->types = c->verbose ? HF_LOG_ALL : c->log_types;
	l->dest = c->log_dest;
	l->timestamp = c->log_timestamp;
	l->ts_format = c->log_timestamp_format;
	l->format = c->log_format;
	l->file = NULL;
	if ((l->dest & HF_LOGD_FILE) && c->log_file) {
		l->file = fopen(c->log_file, "a");
		if (!l->file)
			return -1;
		setvbuf(l->file, NULL, _IOLBF, 0);
	}
	if (l->dest & HF_LOGD_SYSLOG)
		openlog("holdfast", LOG_PID, LOG_DAEMON);
	return 0;
}

void
hf_log_close(struct hf_logger *l)
{
	if (l->file)
		fclose(l->file);
	l->file = NULL;
	if (l->dest & HF_LOGD_SYSLOG)
		closelog();
}

int
hf_log_reopen(struct hf_logger *l, const struct hf_config *c)
{
	if (!l->file || !(l->dest & HF_LOGD_FILE) || !c->log_file)
		return 0;
	FILE *f = fopen(c->log_file, "a");
	if (!f)
		return -1;
	setvbuf(f, NULL, _IOLBF, 0);
	fclose(l->file);
	l->file = f;
	return 0;
}

static int
syslog_prio(unsigned type)
{
	if (type & HF_LOG_ERR)
		return LOG_ERR;
	if (type & HF_LOG_WARNING)
		return LOG_WARNING;
	if (type & HF_LOG_NOTICE)
		return LOG_NOTICE;
	if (type & HF_LOG_DEBUG)
		return LOG_DEBUG;
	return LOG_INFO;
}

static void
emit(FILE *f, const char *ts, const char *msg)
{
	if (ts[0])
		fprintf(f, "%s: %s\n", ts, msg);
	else
		fprintf(f, "%s\n", msg);
	fflush(f);
}

static const char *
level_name(unsigned type)
{
	if (type & HF_LOG_ERR)
		return "error";
	if (type & HF_LOG_WARNING)
		return "warning";
	if (type & HF_LOG_NOTICE)
		return "notice";
	if (type & HF_LOG_INFO)
		return "information";
	if (type & HF_LOG_DEBUG)
		return "debug";
	if (type & HF_LOG_SUBSCRIBE)
		return "subscribe";
	if (type & HF_LOG_UNSUBSCRIBE)
		return "unsubscribe";
	if (type & HF_LOG_WEBSOCKETS)
		return "websockets";
	return "information";
}

/* Append s to out[*n..cap) as a JSON string (quotes included); bytes that
 * JSON cannot carry raw are escaped, so a client id or a topic cannot
 * break the line or the object. Truncates, never overflows. */
static void
json_str(char *out, size_t cap, size_t *n, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = *n;
	if (i + 2 >= cap)
		return;
	out[i++] = '"';
	for (; *s && i + 8 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[i++] = '\\';
			out[i++] = (char)ch;
		} else if (ch == '\n') {
			out[i++] = '\\';
			out[i++] = 'n';
		} else if (ch == '\t') {
			out[i++] = '\\';
			out[i++] = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			memcpy(out + i, "\\u00", 4);
			out[i + 4] = hex[ch >> 4];
			out[i + 5] = hex[ch & 15];
			i += 6;
		} else {
			out[i++] = (char)ch;
		}
	}
	out[i++] = '"';
	out[i] = '\0';
	*n = i;
}

static void
json_field(char *out, size_t cap, size_t *n, const char *key, const char *val)
{
	if (!val || *n + strlen(key) + 6 >= cap)
		return;
	*n += (size_t)snprintf(out + *n, cap - *n, ",\"%s\":", key);
	json_str(out, cap, n, val);
}

static void vlog(struct hf_logger *l, unsigned type, const char *event,
                 const char *client, const char *peer, const char *fmt,
                 va_list ap) __attribute__((format(printf, 6, 0)));

static void
vlog(struct hf_logger *l, unsigned type, const char *event, const char *client,
     const char *peer, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);

	char ts[64] = "";
	time_t now = time(NULL);
	if (l->timestamp || l->format == HF_LOGF_JSON) {
		if (l->ts_format) {
			struct tm tm;
			localtime_r(&now, &tm);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			/* the user's log_timestamp_format, by design */
			strftime(ts, sizeof(ts), l->ts_format, &tm);
#pragma GCC diagnostic pop
		} else {
			snprintf(ts, sizeof(ts), "%lld", (long long)now);
		}
	}
	const char *line = msg;
	char js[2048];
	if (l->format == HF_LOGF_JSON) {
		/* The timestamp is a field here, not a prefix. */
		size_t n = 0;
		js[n++] = '{';
		js[n] = '\0';
		n += (size_t)snprintf(js + n, sizeof(js) - n, "\"time\":");
		json_str(js, sizeof(js), &n, ts);
		json_field(js, sizeof(js), &n, "level", level_name(type));
		json_field(js, sizeof(js), &n, "event", event ? event : "log");
		json_field(js, sizeof(js), &n, "client", client);
		json_field(js, sizeof(js), &n, "peer", peer);
		json_field(js, sizeof(js), &n, "msg", msg);
		if (n + 2 > sizeof(js)) /* json_str truncated: close anyway */
			n = sizeof(js) - 2;
		js[n++] = '}';
		js[n] = '\0';
		line = js;
		ts[0] = '\0';
	} else if (!l->timestamp) {
		ts[0] = '\0';
	}
	if (l->dest & HF_LOGD_STDERR)
		emit(stderr, ts, line);
	if (l->dest & HF_LOGD_STDOUT)
		emit(stdout, ts, line);
	if ((l->dest & HF_LOGD_FILE) && l->file)
		emit(l->file, ts, line);
	if (l->dest & HF_LOGD_SYSLOG)
		syslog(syslog_prio(type), "%s", msg);
}

void
hf_log(struct hf_logger *l, unsigned type, const char *fmt, ...)
{
	if (!(l->types & type) || !l->dest)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(l, type, NULL, NULL, NULL, fmt, ap);
	va_end(ap);
}

void
hf_log_ev(struct hf_logger *l, unsigned type, const char *event,
          const char *client, const char *peer, const char *fmt, ...)
{
	if (!(l->types & type) || !l->dest)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(l, type, event, client, peer, fmt, ap);
	va_end(ap);
}
