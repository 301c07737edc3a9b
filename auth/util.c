/* auth/util.c - what the password and ACL parsers share: reading a whole
 * file, walking its lines, and formatting "NAME:LINE: why" messages.
 *
 * Lines end at '\n'; the last one may lack it. Nothing here looks inside a
 * line, so a NUL byte or a '\r' reaches the parser, which decides. No
 * state; any thread. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "util.h"

void
hf_auth_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

char *
hf_auth_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	char *buf;

	if (!f) {
		hf_auth_errf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - 1 - n, f);
		n += got;
		if (n < cap - 1) {
			if (ferror(f)) {
				hf_auth_errf(err, errlen, "%s: %s", path,
				             strerror(errno ? errno : EIO));
				free(buf);
				fclose(f);
				return NULL;
			}
			break; /* end of file */
		}
		char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	fclose(f);
	if (!buf) {
		hf_auth_errf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

bool
hf_lines_next(struct hf_lines *it, const char **line, size_t *len)
{
	if (it->p >= it->end)
		return false;
	const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	const char *stop = nl ? nl : it->end;
	*line = it->p;
	*len = (size_t)(stop - it->p);
	it->p = nl ? nl + 1 : it->end;
	it->lineno++;
	return true;
}

void
hf_lines_trim(const char **line, size_t *len)
{
	const char *s = *line;
	size_t n = *len;

	while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	*line = s;
	*len = n;
}
