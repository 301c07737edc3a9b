/* tests/ops/o02_version.c - `--version` of the three programs (and the
 * broker's -V): "NAME version X.Y.Z" on stdout, exit 0, before anything
 * else is looked at (a configuration file that does not exist is not
 * read). Bad: a misspelt option is an error, not a version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "broker_proc.h"
#include "test.h"

/* Run cmd (stderr to /dev/null); its stdout into out and its exit code. */
static int
run(const char *cmd, char *out, size_t cap)
{
	char full[1024];
	snprintf(full, sizeof(full), "%s 2>/dev/null", cmd);
	FILE *p = popen(full, "r");
	size_t n = 0;

	if (!p)
		return -1;
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
expect_version(const char *bin, const char *name, const char *args)
{
	char cmd[1024], out[256], want[128];

	snprintf(cmd, sizeof(cmd), "'%s' %s", bin, args);
	snprintf(want, sizeof(want), "%s version %s\n", name, HF_VERSION);
	fprintf(stderr, "   %s %s\n", name, args);
	CHECK_EQ(run(cmd, out, sizeof(out)), 0);
	CHECK(strcmp(out, want) == 0);
}

static void
broker_version(void)
{
	expect_version(HF_BROKER_BIN, "holdfast", "--version");
	expect_version(HF_BROKER_BIN, "holdfast", "-V");
	/* Like -h: the file is not read. */
	expect_version(HF_BROKER_BIN, "holdfast",
	               "-c /nonexistent-hf-o02.conf --version");
}

static void
tools_version(void)
{
	expect_version(HF_DB_BIN, "holdfast-db", "--version");
	expect_version(HF_PASSWD_BIN, "holdfast-passwd", "--version");
}

static void
bad_options(void)
{
	char cmd[1024], out[256];

	snprintf(cmd, sizeof(cmd), "'%s' --versions", HF_BROKER_BIN);
	CHECK_EQ(run(cmd, out, sizeof(out)), 1);
	snprintf(cmd, sizeof(cmd), "'%s' -VV", HF_BROKER_BIN);
	CHECK_EQ(run(cmd, out, sizeof(out)), 1);
	snprintf(cmd, sizeof(cmd), "'%s' --versio", HF_PASSWD_BIN);
	CHECK_EQ(run(cmd, out, sizeof(out)), 1);
	snprintf(cmd, sizeof(cmd), "'%s' --versio stats", HF_DB_BIN);
	CHECK(run(cmd, out, sizeof(out)) != 0);
	CHECK(strstr(out, "version") == NULL);
}

int
main(void)
{
	HF_RUN(broker_version);
	HF_RUN(tools_version);
	HF_RUN(bad_options);
	return HF_DONE();
}
