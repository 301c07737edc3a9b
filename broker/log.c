/* broker/log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <syslog.h>
#include <time.h>

int
hf_log_open(struct hf_logger *l, const struct hf_config *c)
{
	l->types = c->verbose ? HF_LOG_ALL : c->log_types;
	l->dest = c->log_dest;
	l->timestamp = c->log_timestamp;
	l->ts_format = c->log_timestamp_format;
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

void
hf_log(struct hf_logger *l, unsigned type, const char *fmt, ...)
{
	if (!(l->types & type) || !l->dest)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	char ts[64] = "";
	if (l->timestamp) {
		time_t now = time(NULL);
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
	if (l->dest & HF_LOGD_STDERR)
		emit(stderr, ts, msg);
	if (l->dest & HF_LOGD_STDOUT)
		emit(stdout, ts, msg);
	if ((l->dest & HF_LOGD_FILE) && l->file)
		emit(l->file, ts, msg);
	if (l->dest & HF_LOGD_SYSLOG)
		syslog(syslog_prio(type), "%s", msg);
}
