/* broker/log.h - the broker's logger: mosquitto's log types and
 * destinations (stderr, stdout, file, syslog; topic is done by the engine).
 *
 * Two formats (log_format): text, mosquitto 2.0's lines word for word where
 * mosquitto has the same event (a parser written for mosquitto depends on
 * them); json, one object per line with a stable event name and the
 * client id and peer address as fields of their own (hf_log_ev). Lines
 * from plain hf_log() are event "log" in json. Syslog stays text.
 *
 * One struct hf_logger per broker, no global state. Not thread-safe (the
 * loop thread logs). */
#ifndef HOLDFAST_LOG_H
#define HOLDFAST_LOG_H

#include <stdio.h>

#include "config.h"

struct hf_logger {
	unsigned types; /* HF_LOG_* */
	unsigned dest;  /* HF_LOGD_* */
	int timestamp;
	const char *ts_format;
	FILE *file;
	unsigned format; /* HF_LOGF_* */
};

/* Is any of the types wanted? Test it before formatting anything costly
 * (the per-packet debug lines): when it is false nothing else runs. */
#define HF_LOG_ON(l, t) (((l)->types & (t)) && (l)->dest)

/* Set up from the config (opens the log file). Returns 0 or -1. */
int hf_log_open(struct hf_logger *l, const struct hf_config *c);
void hf_log_close(struct hf_logger *l);
/* Open c->log_file again (log_dest file), for log rotation: the file
 * that was renamed away is closed and a new one is made at the configured
 * name. The new file is opened before the old one is closed, so when that
 * fails (errno set, -1 returned) logging goes on into the old file. 0 when
 * done or when there is no log file. */
int hf_log_reopen(struct hf_logger *l, const struct hf_config *c);
void hf_log(struct hf_logger *l, unsigned type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A line for a named event (the json "event" field; see conf/holdfast.conf
 * for the names). client and peer may be NULL; in text they appear only as
 * fmt puts them, in json they are fields of their own. */
void hf_log_ev(struct hf_logger *l, unsigned type, const char *event,
               const char *client, const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
