/* tests/unit/log_test.c - broker/log.c's hf_log_reopen(), the half of log
 * rotation that is the logger's: after the file is renamed away, new lines
 * go to a new file at the configured name; when that cannot be opened they
 * keep going to the old one. Each case works in its own mkdtemp()
 * directory. */
#include "log.h"
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole of a small file as a string (static buffer; "" if unreadable). */
static const char *
slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

struct fixture {
	char dir[64], path[96], moved[96];
	struct hf_config conf;
	struct hf_logger log;
};

static int
fixture_open(struct fixture *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/hf_log_test.XXXXXX");
	if (!mkdtemp(f->dir) || hf_config_init(&f->conf) != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/holdfast.log", f->dir);
	snprintf(f->moved, sizeof(f->moved), "%s/holdfast.log.1", f->dir);
	f->conf.log_dest = HF_LOGD_FILE;
	f->conf.log_timestamp = 0; /* lines compared as written */
	f->conf.log_file = strdup(f->path);
	return f->conf.log_file ? hf_log_open(&f->log, &f->conf) : -1;
}

static void
fixture_close(struct fixture *f)
{
	hf_log_close(&f->log);
	hf_config_free(&f->conf);
	unlink(f->path);
	unlink(f->moved);
	rmdir(f->dir);
}

static void
reopen_after_rename(void)
{
	struct fixture f;

	CHECK(fixture_open(&f) == 0);
	hf_log(&f.log, HF_LOG_NOTICE, "before");
	CHECK(rename(f.path, f.moved) == 0);
	hf_log(&f.log, HF_LOG_NOTICE, "in between");
	CHECK(hf_log_reopen(&f.log, &f.conf) == 0);
	hf_log(&f.log, HF_LOG_NOTICE, "after");
	CHECK(strcmp(slurp(f.moved), "before\nin between\n") == 0);
	CHECK(strcmp(slurp(f.path), "after\n") == 0);
	fixture_close(&f);
}

/* Reopening the file that is still in place appends to it. */
static void
reopen_in_place(void)
{
	struct fixture f;

	CHECK(fixture_open(&f) == 0);
	hf_log(&f.log, HF_LOG_NOTICE, "one");
	CHECK(hf_log_reopen(&f.log, &f.conf) == 0);
	hf_log(&f.log, HF_LOG_NOTICE, "two");
	CHECK(strcmp(slurp(f.path), "one\ntwo\n") == 0);
	fixture_close(&f);
}

/* Bad: the configured name cannot be opened any more (its directory is
 * gone). -1 with errno, and the lines still land in the old file. */
static void
reopen_fails_keeps_old(void)
{
	struct fixture f;
	char gone[128];

	CHECK(fixture_open(&f) == 0);
	snprintf(gone, sizeof(gone), "%s/no-such-dir/holdfast.log", f.dir);
	free(f.conf.log_file);
	f.conf.log_file = strdup(gone);
	CHECK(f.conf.log_file);
	errno = 0;
	CHECK(hf_log_reopen(&f.log, &f.conf) == -1);
	CHECK(errno == ENOENT);
	hf_log(&f.log, HF_LOG_NOTICE, "still here");
	CHECK(strcmp(slurp(f.path), "still here\n") == 0);
	fixture_close(&f);
}

/* Without log_dest file there is nothing to reopen. */
static void
reopen_without_file(void)
{
	struct hf_config c;
	struct hf_logger l;

	CHECK(hf_config_init(&c) == 0);
	c.log_dest = HF_LOGD_STDERR;
	CHECK(hf_log_open(&l, &c) == 0);
	CHECK(hf_log_reopen(&l, &c) == 0);
	CHECK(l.file == NULL);
	hf_log_close(&l);
	hf_config_free(&c);
}

int
main(void)
{
	HF_RUN(reopen_after_rename);
	HF_RUN(reopen_in_place);
	HF_RUN(reopen_fails_keeps_old);
	HF_RUN(reopen_without_file);
	return HF_DONE();
}
