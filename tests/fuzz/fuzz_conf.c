// tests/fuzz/fuzz_conf.c - libFuzzer target for the configuration parser.
//
// Built as a libFuzzer binary with -DHF_FUZZ=ON (clang); tools/fuzz.sh runs
// it over tests/fuzz/corpus/conf. Every CTest run replays that corpus
// (tests/fuzz/replay.c, test fuzz_conf_replay).
/*
 * The input is the content of a configuration file. It is written to a
 * file in this process's temp directory and loaded with hf_config_load()
 * on top of the defaults, then hf_config_finish() runs and everything is
 * freed (LeakSanitizer checks nothing is left). A load that fails must
 * explain itself as "FILE:LINE: ...", FILE being the file that was read and
 * LINE one of its lines. A load that succeeds is repeated on top of itself
 * (every string set again, listeners added again: the same rules, and no
 * leak), and a finished configuration must hold what the engine relies on:
 * every value within its key's range, each listener's security settings
 * resolved, every listener speaking a protocol the build serves.
 *
 * The parser only reads the file system, and only through include_dir
 * (every other path, log_dest file, pid_file, persistence_location, is
 * stored, not opened). So that the fuzzer never reads outside its temp
 * directory (a FIFO named x.conf somewhere would block it; /proc is slow),
 * an include_dir line is allowed only with the value "inc", which is
 * rewritten to the temp directory's inc/ (holding two small fixed files),
 * or with no value; an input with any other include_dir is skipped. The
 * rewrite keeps the line count, so line numbers stay those of the input.
 *
 * Threading/ownership: single-threaded; one temp directory per process,
 * created on first use and removed at exit. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ERRLEN 512

static char dir[64], inc[96], inc_a[128], inc_b[128], file[96];

static bool names_line(const char *err, const char *prefix,
                       unsigned long max_line);

static void
cleanup(void)
{
	unlink(inc_a);
	unlink(inc_b);
	rmdir(inc);
	unlink(file);
	rmdir(dir);
}

static bool
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	bool ok;

	if (!f)
		return false;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok;
}

static bool
setup(void)
{
	static const char a[] = "sys_interval 5\nlog_type all\n";
	static const char b[] = "# second\nmax_connections 7\n";
	static int state; /* 0 not yet, 1 ready, -1 failed */

	if (state)
		return state > 0;
	state = -1;
	snprintf(dir, sizeof(dir), "/tmp/hf-fuzz-conf-XXXXXX");
	if (!mkdtemp(dir))
		return false;
	snprintf(inc, sizeof(inc), "%s/inc", dir);
	snprintf(inc_a, sizeof(inc_a), "%s/a.conf", inc);
	snprintf(inc_b, sizeof(inc_b), "%s/B.conf", inc);
	snprintf(file, sizeof(file), "%s/fuzz.conf", dir);
	atexit(cleanup);
	if (mkdir(inc, 0700) || !write_file(inc_a, a, sizeof(a) - 1) ||
	    !write_file(inc_b, b, sizeof(b) - 1))
		return false;
	state = 1;
	return true;
}

/* The key and value of one line as the parser sees them (config.c:
 * parse_line): the line up to its first NUL, trimmed with isspace(), the
 * key up to the first blank. line is modified. */
static char *
line_key(char *line, char **val)
{
	char *s = line, *end;
	size_t n;

	while (*s && isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	end = s + strcspn(s, " \t");
	if (*end) {
		*end++ = '\0';
		while (*end == ' ' || *end == '\t')
			end++;
	}
	*val = end;
	return s;
}

/* Copy the input to out with include_dir lines made safe (see the file
 * comment). Returns the new length, or -1 to skip the input. */
static long
rewrite(const uint8_t *data, size_t size, char *out, size_t cap)
{
	size_t w = 0, i = 0;

	while (i < size) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
		char *line = malloc(len + 1), *key, *val;
		bool inc_line, has_val;

		if (!line)
			return -1;
		memcpy(line, data + i, len);
		line[len] = '\0';
		key = line_key(line, &val);
		inc_line = !strcmp(key, "include_dir");
		has_val = *val != '\0';
		if (inc_line && has_val && strcmp(val, "inc") != 0) {
			free(line);
			return -1;
		}
		free(line);
		if (inc_line && has_val) {
			int n =
			    snprintf(out + w, cap - w, "include_dir %s", inc);

			if (n < 0 || (size_t)n >= cap - w)
				return -1;
			w += (size_t)n;
		} else {
			if (len > cap - w)
				return -1;
			memcpy(out + w, data + i, len);
			w += len;
		}
		i += len;
		if (nl) {
			if (w == cap)
				return -1;
			out[w++] = '\n';
			i++;
		}
	}
	return (long)w;
}

/* What hf_config_finish() promises, and the ranges of the keys whose
 * handlers check more than an integer range. */
static void
check_finished(const struct hf_config *c)
{
	bool ok = c->n_listeners > 0 &&
	          (c->allow_anonymous == 0 || c->allow_anonymous == 1) &&
	          !c->default_listener_used &&
	          c->persistence_initial_size <= c->persistence_max_size &&
	          (c->max_packet_size == 0 || c->max_packet_size >= 20) &&
	          (c->client_max_write_buffer_size == 0 ||
	           c->client_max_write_buffer_size >= 4096) &&
	          c->connect_timeout >= 1 && c->maximum_qos <= 2 &&
	          c->auto_id_prefix && c->persistence_location &&
	          c->persistence_file && !strchr(c->persistence_file, '/');

	for (size_t i = 0; ok && i < c->n_listeners; i++) {
		const struct hf_listener_conf *l = &c->listeners[i];

		ok = (l->allow_anonymous == 0 || l->allow_anonymous == 1) &&
		     (c->per_listener_settings ||
		      l->allow_anonymous == c->allow_anonymous) &&
		     (l->protocol == HF_LISTENER_MQTT ||
		      l->protocol == HF_LISTENER_WEBSOCKETS) &&
		     l->max_connections >= -1;
	}
	if (!ok) {
		fprintf(stderr, "finished configuration breaks an invariant\n");
		abort();
	}
}

/* A failed load must name a line of the file read, or of the two
 * included files (fixed: a.conf and B.conf). */
static void
check_error(int rc, const char *err, unsigned long lines)
{
	if (rc == -1 && memchr(err, '\0', ERRLEN) &&
	    (names_line(err, file, lines) || names_line(err, inc_a, 2) ||
	     names_line(err, inc_b, 2)))
		return;
	fprintf(stderr, "load returned %d, error '%s'\n", rc, err);
	abort();
}

/* "PREFIX:LINE: " with LINE in 1..max_line. */
static bool
names_line(const char *err, const char *prefix, unsigned long max_line)
{
	size_t n = strlen(prefix);
	unsigned long line;
	char *end;

	if (strncmp(err, prefix, n) != 0 || err[n] != ':' ||
	    !isdigit((unsigned char)err[n + 1]))
		return false;
	line = strtoul(err + n + 1, &end, 10);
	return end[0] == ':' && end[1] == ' ' && line >= 1 && line <= max_line;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_config c;
	char err[ERRLEN];
	unsigned long lines = 1;
	size_t cap = size * 4 + 256; /* a rewritten include_dir grows */
	char *text;
	long len;
	int rc;

	if (!setup() || size > 65536)
		return 0;
	text = malloc(cap);
	if (!text)
		return 0;
	len = rewrite(data, size, text, cap);
	if (len < 0 || !write_file(file, text, (size_t)len)) {
		free(text);
		return 0;
	}
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	free(text);
	if (hf_config_init(&c))
		return 0;
	err[0] = '\0';
	rc = hf_config_load(&c, file, err, sizeof(err));
	if (rc == 0) {
		/* again on top: fails only where a listener repeats */
		rc = hf_config_load(&c, file, err, sizeof(err));
		if (rc != 0)
			check_error(rc, err, lines);
		err[0] = '\0';
		if (hf_config_finish(&c, err, sizeof(err)) == 0)
			check_finished(&c);
	} else {
		check_error(rc, err, lines);
	}
	hf_config_free(&c);
	return 0;
}
