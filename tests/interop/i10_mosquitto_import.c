/* tests/interop/i10_mosquitto_import.c - holdfast-db import-mosquitto on a
 * mosquitto.db written by Debian's mosquitto 2.0, then real clients on
 * Holdfast.
 *
 * mosquitto runs with persistence in a temp dir on a free port; a 3.1.1
 * persistent session (subA) and an MQTT 5 one (subB, session expiry
 * 3600 s, subscription identifier 7) subscribe and leave; mosquitto_pub
 * publishes a retained message and QoS 1 messages while they are away;
 * SIGTERM makes mosquitto write the file. The import goes through the
 * broker's configuration (-c), Holdfast starts on the store, and the
 * clients come back under their ids and get their queued messages, a new
 * subscriber the retained one; `holdfast-db check` is clean throughout.
 * Bad input: every truncation and single-byte corruption of the real file
 * is refused with an offset (never a crash), named cases each with their
 * message, a non-empty store is refused. Skips (77) without mosquitto. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"
#include "mosq_import.h"
#include "test.h"

#define MOSQ_BIN "/usr/sbin/mosquitto"
#define WAIT_MS  15000

static char mdir[64];     /* mosquitto's temp dir */
static char mdb[128];     /* its mosquitto.db */
static uint8_t *db_bytes; /* the file, for the bad-input cases */
static size_t db_len;

/* Run argv with stdout+stderr into out (NUL-terminated, cut at cap), wait
 * up to WAIT_MS. Returns the exit status, or -1 (killed at the deadline,
 * or could not start). */
static int
run(const char *const argv[], char *out, size_t cap)
{
	char tmp[] = "/tmp/hf-i09-outXXXXXX";
	int fd = mkstemp(tmp), st = 0;
	pid_t pid;
	int64_t end = hf_now_ms() + WAIT_MS;

	if (fd < 0)
		return -1;
	unlink(tmp);
	if ((pid = fork()) == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &st, WNOHANG) == 0) {
		if (hf_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			st = -1;
			break;
		}
		hf_sleep_ms(20);
	}
	if (out && cap) {
		ssize_t n = pread(fd, out, cap - 1, 0);
		out[n > 0 ? n : 0] = '\0';
	}
	close(fd);
	if (pid < 0 || st == -1)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static uint16_t
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static bool
file_has(const char *path, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

#define CLI(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Build mosquitto.db with Debian's mosquitto. */
static void
t_make_mosquitto_db(void)
{
	char conf[128], log[128], cfg[512], port[8], out[4096];
	pid_t pid;
	int st = 0;
	FILE *f;

	snprintf(mdir, sizeof(mdir), "/tmp/hf-i09-XXXXXX");
	CHECK(mkdtemp(mdir) != NULL);
	/* mosquitto started as root runs as user mosquitto. */
	CHECK(chmod(mdir, 0777) == 0);
	snprintf(conf, sizeof(conf), "%s/m.conf", mdir);
	snprintf(log, sizeof(log), "%s/m.log", mdir);
	snprintf(mdb, sizeof(mdb), "%s/mosquitto.db", mdir);
	snprintf(port, sizeof(port), "%u", free_port());
	snprintf(cfg, sizeof(cfg),
	         "listener %s 127.0.0.1\nallow_anonymous true\n"
	         "persistence true\npersistence_location %s/\n",
	         port, mdir);
	CHECK((f = fopen(conf, "w")) != NULL);
	fputs(cfg, f);
	fclose(f);
	if ((pid = fork()) == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(MOSQ_BIN, MOSQ_BIN, "-c", conf, (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0);
	int64_t end = hf_now_ms() + WAIT_MS;
	while (!file_has(log, " running") && hf_now_ms() < end)
		hf_sleep_ms(20);
	CHECK(file_has(log, " running") || (kill(pid, SIGKILL), false));

	const char *h[] = {"-h", "127.0.0.1", "-p", port};
	CHECK_EQ(run(CLI("mosquitto_sub", h[0], h[1], h[2], h[3], "-c", "-i",
	                 "subA", "-q", "1", "-t", "a/#", "-E"),
	             out, sizeof(out)),
	         0);
	CHECK_EQ(
	    run(CLI("mosquitto_sub", h[0], h[1], h[2], h[3], "-V", "mqttv5",
	            "-c", "-x", "3600", "-i", "subB", "-q", "1", "-t", "b/+",
	            "-D", "subscribe", "subscription-identifier", "7", "-E"),
	        out, sizeof(out)),
	    0);
	CHECK_EQ(run(CLI("mosquitto_pub", h[0], h[1], h[2], h[3], "-q", "1",
	                 "-r", "-t", "r/1", "-m", "ret-one"),
	             out, sizeof(out)),
	         0);
	CHECK_EQ(run(CLI("mosquitto_pub", h[0], h[1], h[2], h[3], "-q", "1",
	                 "-t", "a/1", "-m", "q-one"),
	             out, sizeof(out)),
	         0);
	CHECK_EQ(run(CLI("mosquitto_pub", h[0], h[1], h[2], h[3], "-q", "1",
	                 "-t", "a/2", "-m", "q-two"),
	             out, sizeof(out)),
	         0);
	CHECK_EQ(run(CLI("mosquitto_pub", h[0], h[1], h[2], h[3], "-V",
	                 "mqttv5", "-q", "1", "-t", "b/1", "-m", "b-one", "-D",
	                 "publish", "message-expiry-interval", "3600"),
	             out, sizeof(out)),
	         0);
	kill(pid, SIGTERM);
	end = hf_now_ms() + WAIT_MS;
	while (waitpid(pid, &st, WNOHANG) == 0 && hf_now_ms() < end)
		hf_sleep_ms(20);
	CHECK(access(mdb, R_OK) == 0 || (kill(pid, SIGKILL), false));

	struct stat sb;
	CHECK(stat(mdb, &sb) == 0 && sb.st_size > 0);
	CHECK((db_bytes = malloc((size_t)sb.st_size)) != NULL);
	CHECK((f = fopen(mdb, "rb")) != NULL);
	db_len = fread(db_bytes, 1, (size_t)sb.st_size, f);
	fclose(f);
	CHECK_EQ(db_len, (size_t)sb.st_size);
}

/* Wait for mosquitto_sub's -C N messages; out holds them. */
static int
sub(struct hf_bproc *b, const char *ver, const char *id, const char *filter,
    const char *count, char *out, size_t cap)
{
	char port[8];

	snprintf(port, sizeof(port), "%u", b->port);
	if (id)
		return run(CLI("mosquitto_sub", "-h", "127.0.0.1", "-p", port,
		               "-V", ver, "-c", "-x", "3600", "-i", id, "-q",
		               "1", "-t", filter, "-C", count, "-W", "10"),
		           out, cap);
	return run(CLI("mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q",
	               "1", "-t", filter, "-C", count, "-W", "10"),
	           out, cap);
}

static void
t_import_and_deliver(struct hf_bproc *b)
{
	char out[8192];

	CHECK(db_bytes != NULL);
	CHECK_EQ(hf_bproc_stop(b), 0);
	/* The broker's own configuration finds the store. */
	CHECK_EQ(run(CLI(HF_DB_BIN, "-c", b->conf, "import-mosquitto", mdb),
	             out, sizeof(out)),
	         0);
	CHECK(strstr(out, "sessions:          2") != NULL);
	CHECK(strstr(out, "retained:          1") != NULL);
	CHECK_EQ(hf_test_store_check(b->dir), 0);
	/* A second import would mix two brokers' states: refused. */
	CHECK_EQ(run(CLI(HF_DB_BIN, "-c", b->conf, "import-mosquitto", mdb),
	             out, sizeof(out)),
	         1);
	CHECK(strstr(out, "not empty") != NULL);
	CHECK_EQ(run(CLI(HF_DB_BIN, "-c", b->conf, "--json", "queue", "subA"),
	             out, sizeof(out)),
	         0);
	CHECK(strstr(out, "\"preview\":\"q-one\"") != NULL);
	CHECK(strstr(out, "\"queued_at\":null") != NULL);
	CHECK_EQ(run(CLI(HF_DB_BIN, "-c", b->conf, "queue", "subB"), out,
	             sizeof(out)),
	         0);
	CHECK(strstr(out, "unknown") != NULL && strstr(out, "b-one") != NULL);

	CHECK_EQ(hf_bproc_restart(b), 0);
	CHECK_EQ(sub(b, "mqttv311", "subA", "a/#", "2", out, sizeof(out)), 0);
	CHECK(strstr(out, "q-one\nq-two") != NULL);
	CHECK_EQ(sub(b, "mqttv5", "subB", "b/+", "1", out, sizeof(out)), 0);
	CHECK(strstr(out, "b-one") != NULL);
	CHECK_EQ(sub(b, "mqttv311", NULL, "r/#", "1", out, sizeof(out)), 0);
	CHECK(strstr(out, "ret-one") != NULL);
	CHECK_EQ(hf_test_store_check(b->dir), 0);
}

static bool
refused(const uint8_t *p, size_t n, const char *want)
{
	struct hf_mq_db db;
	char err[256] = "";

	if (hf_mq_parse(p, n, &db, err, sizeof(err)) == 0) {
		hf_mq_free(&db);
		fprintf(stderr, "accepted; wanted \"%s\"\n", want);
		return false;
	}
	if (strncmp(err, "offset ", 7) || !strstr(err, want)) {
		fprintf(stderr, "error \"%s\"; wanted \"%s\"\n", err, want);
		return false;
	}
	return true;
}

/* Every bad input is refused with its offset, never read past. Each case
 * copies the bytes into a buffer of exactly their size (ASan sees any
 * overread). */
static void
t_bad_input(void)
{
	uint8_t *c;
	size_t cut_ok = 0;

	CHECK(db_bytes != NULL);
	/* Every truncation: refused, or (cut at a chunk boundary after the
	 * config chunk and the bodies that are named) a valid shorter file. */
	for (size_t n = 0; n < db_len; n++) {
		struct hf_mq_db db;
		char err[256];

		CHECK((c = malloc(n ? n : 1)) != NULL);
		memcpy(c, db_bytes, n);
		if (hf_mq_parse(c, n, &db, err, sizeof(err)) == 0) {
			hf_mq_free(&db);
			cut_ok++;
		} else {
			CHECK(strncmp(err, "offset ", 7) == 0 ||
			      (free(c), false));
		}
		free(c);
	}
	CHECK(cut_ok < 20);
	/* Every byte set to 0xff and to 0x00: no crash, a message with an
	 * offset when refused. */
	for (size_t i = 0; i < db_len; i++)
		for (int v = 0; v < 2; v++) {
			struct hf_mq_db db;
			char err[256];

			CHECK((c = malloc(db_len)) != NULL);
			memcpy(c, db_bytes, db_len);
			c[i] = v ? 0xff : 0x00;
			if (hf_mq_parse(c, db_len, &db, err, sizeof(err)) == 0)
				hf_mq_free(&db);
			else
				CHECK(strncmp(err, "offset ", 7) == 0 ||
				      (free(c), false));
			free(c);
		}
	/* Named cases, on copies of the header and the config chunk. */
	uint8_t h[23 + 8 + 16];
	CHECK(db_len > sizeof(h));
	memcpy(h, db_bytes, sizeof(h));
	CHECK(refused(h, 10, "shorter than its header"));
	h[3] = 'M';
	CHECK(refused(h, sizeof(h), "no mosquitto db magic"));
	h[3] = 'm';
	h[22] = 5;
	CHECK(refused(h, sizeof(h), "format version 5"));
	h[22] = 6;
	h[26] = 9; /* chunk type */
	CHECK(refused(h, sizeof(h), "unknown chunk type 9"));
	h[26] = 1;
	h[30] = 17; /* config chunk length */
	CHECK(refused(h, sizeof(h), "claims 17 bytes"));
	h[30] = 16;
	h[31 + 9] = 4; /* dbid size */
	CHECK(refused(h, sizeof(h), "database id size 4"));
	h[31 + 9] = 8;
	CHECK(refused(h, 23, "no config chunk"));
	{
		struct hf_mq_db db;
		char err[256];
		CHECK_EQ(hf_mq_parse(h, sizeof(h), &db, err, sizeof(err)), 0);
		hf_mq_free(&db);
	}
	/* A message chunk with QoS 3, one naming a missing body, a retain
	 * chunk naming a missing body. */
	uint8_t m[sizeof(h) + 8 + 32 + 1];
	memcpy(m, h, sizeof(h));
	memset(m + sizeof(h), 0, sizeof(m) - sizeof(h));
	uint8_t *ch = m + sizeof(h);
	ch[3] = 2;
	ch[7] = 33;
	ch[8] = 1;      /* store id 1 */
	ch[8 + 27] = 1; /* topic length 1 */
	ch[8 + 30] = 3; /* QoS 3 */
	ch[8 + 32] = 't';
	CHECK(refused(m, sizeof(m), "message QoS 3"));
	ch[8 + 30] = 1;
	ch[8 + 27] = 2; /* topic longer than the chunk */
	CHECK(refused(m, sizeof(m), "topic: needs 2 bytes"));
	ch[8 + 27] = 1;
	ch[8] = 0;
	CHECK(refused(m, sizeof(m), "store id 0"));
	uint8_t r[sizeof(h) + 8 + 8];
	memcpy(r, h, sizeof(h));
	memset(r + sizeof(h), 0, 16);
	r[sizeof(h) + 3] = 4;
	r[sizeof(h) + 7] = 8;
	r[sizeof(h) + 8] = 42;
	CHECK(refused(r, sizeof(r), "names store id 42"));
	r[sizeof(h) + 7] = 7;
	CHECK(refused(r, sizeof(r) - 1, "retain chunk of 7 bytes"));

	/* Through the tool: exit 1, the offset on stderr, no store made. */
	char path[160], out[4096], sdir[160];
	FILE *f;
	snprintf(path, sizeof(path), "%s/cut.db", mdir);
	snprintf(sdir, sizeof(sdir), "%s/hf", mdir);
	CHECK((f = fopen(path, "wb")) != NULL);
	fwrite(db_bytes, 1, db_len - 3, f);
	fclose(f);
	CHECK_EQ(run(CLI(HF_DB_BIN, "-d", sdir, "import-mosquitto", path), out,
	             sizeof(out)),
	         1);
	CHECK(strstr(out, "offset ") != NULL);
	CHECK(access(sdir, F_OK) != 0);
	CHECK_EQ(run(CLI(HF_DB_BIN, "-d", sdir, "import-mosquitto",
	                 "/nonexistent/mosquitto.db"),
	             out, sizeof(out)),
	         1);
}

/* The command line: help exits 0 on stdout, misuse 2 with usage on
 * stderr. */
static void
t_usage(void)
{
	char out[8192];

	CHECK_EQ(run(CLI(HF_DB_BIN, "--help"), out, sizeof(out)), 0);
	CHECK(strstr(out, "import-mosquitto") != NULL);
	CHECK_EQ(run(CLI(HF_DB_BIN, "-h"), out, sizeof(out)), 0);
	CHECK_EQ(run(CLI(HF_DB_BIN, "help"), out, sizeof(out)), 0);
	CHECK_EQ(run(CLI(HF_DB_BIN, "frobnicate"), out, sizeof(out)), 2);
	CHECK(strstr(out, "unknown command") && strstr(out, "usage:"));
	CHECK_EQ(run(CLI(HF_DB_BIN, "--frob", "stats"), out, sizeof(out)), 2);
	CHECK(strstr(out, "unknown option") && strstr(out, "usage:"));
	CHECK_EQ(run(CLI(HF_DB_BIN), out, sizeof(out)), 2);
	CHECK_EQ(run(CLI(HF_DB_BIN, "queue"), out, sizeof(out)), 2);
	CHECK_EQ(run(CLI(HF_DB_BIN, "stats", "extra"), out, sizeof(out)), 2);
	CHECK_EQ(run(CLI(HF_DB_BIN, "-n", "x", "stats"), out, sizeof(out)), 2);
	CHECK_EQ(run(CLI(HF_DB_BIN, "-c"), out, sizeof(out)), 2);
	CHECK_EQ(
	    run(CLI(HF_DB_BIN, "--into-existing", "stats"), out, sizeof(out)),
	    2);
	CHECK_EQ(run(CLI(HF_DB_BIN, "-c", "/nonexistent.conf", "stats"), out,
	             sizeof(out)),
	         1);
}

int
main(void)
{
	if (access(MOSQ_BIN, X_OK) != 0) {
		fprintf(stderr, "no %s: skipped\n", MOSQ_BIN);
		return 77;
	}
	HF_RUN(t_usage);
	HF_RUN(t_make_mosquitto_db);
	HF_RUN(t_bad_input);
	HF_BCASE(t_import_and_deliver, NULL);
	if (mdir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", mdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", mdir);
	}
	free(db_bytes);
	return HF_DONE();
}
