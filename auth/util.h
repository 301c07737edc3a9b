/* auth/util.h - helpers shared by auth/'s parsers (util.c). Internal. */
#ifndef HF_AUTH_UTIL_H
#define HF_AUTH_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* A walk over the lines of a text: {text, text + len, 0}. */
struct hf_lines {
	const char *p, *end;
	unsigned long lineno; /* of the line last returned, from 1 */
};

/* The next line (without its '\n'); false after the last. */
bool hf_lines_next(struct hf_lines *it, const char **line, size_t *len);
/* Drop a trailing '\r' and blanks (space, tab) at both ends. */
void hf_lines_trim(const char **line, size_t *len);

/* snprintf into err (ignored when err is NULL or errlen 0). */
void hf_auth_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
