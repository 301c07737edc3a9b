/* tests/tls/t03_tls_config.c - a TLS listener's files are checked at
 * start-up and by --test-config, through the real binary: each problem
 * stops it with exit status 1 and one message naming the option's
 * FILE:LINE, the file and OpenSSL's (or the system's) reason; a good
 * configuration passes. Also: TLS keys on a listener without certfile
 * start, with a warning.
 *
 * Each case writes DIR/t.conf (line 1 "listener 0 127.0.0.1", the TLS
 * keys from line 2 on), runs `holdfast -c DIR/t.conf --test-config` and
 * then `holdfast -c DIR/t.conf` (stderr into DIR/err), and compares.
 * Threading: none; children reaped before a case returns. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"
#include "test.h"

#define PKI HF_PKI_DIR "/"

static char dir[64];

static int
write_conf(const char *body)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/t.conf", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
	        "listener 0 127.0.0.1\n%s"
	        "persistence_location %s/data\nallow_anonymous true\n",
	        body, dir);
	return fclose(f);
}

/* Run the broker on DIR/t.conf (with --test-config when test), at most
 * 10 s; its exit status, stderr (and stdout) in out. */
static int
run_broker(bool test, char *out, size_t outlen)
{
	char conf[128], err[128];
	snprintf(conf, sizeof(conf), "%s/t.conf", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		FILE *e = freopen(err, "w", stderr);
		if (!e || dup2(fileno(stderr), 1) < 0)
			_exit(126);
		execl(HF_BROKER_BIN, HF_BROKER_BIN, "-c", conf,
		      test ? "--test-config" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	int st = -1;
	int64_t end = hf_now_ms() + 10000;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (hf_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		hf_sleep_ms(10);
	}
	FILE *f = fopen(err, "r");
	size_t n = f ? fread(out, 1, outlen - 1, f) : 0;
	out[n] = '\0';
	if (f)
		fclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Both runs fail with a message containing "t.conf:LINE: " and want. */
static int
refused(const char *body, unsigned line, const char *want)
{
	char out[4096], at[160];
	int ok = 1;
	snprintf(at, sizeof(at), "%s/t.conf:%u: ", dir, line);
	if (write_conf(body) != 0)
		return 0;
	for (int test = 1; test >= 0; test--) {
		int rc = run_broker(test, out, sizeof(out));
		if (rc != 1 || !strstr(out, at) || !strstr(out, want)) {
			fprintf(stderr,
			        "  %s: rc %d, wanted 1 with '%s' and '%s' in:\n"
			        "%s\n",
			        test ? "--test-config" : "start", rc, at, want,
			        out);
			ok = 0;
		}
		if (!test && strstr(out, "listen socket")) {
			fprintf(stderr, "  a listener opened anyway\n");
			ok = 0;
		}
	}
	return ok;
}

#define CERT "certfile " PKI "server.crt\n"
#define KEY  "keyfile " PKI "server.key\n"
#define CA   "cafile " PKI "ca.crt\n"

static void
good(void)
{
	char out[4096];
	CHECK_EQ(write_conf(CERT KEY CA
	                    "capath " PKI "capath\n"
	                    "crlfile " PKI "crl.pem\n"
	                    "dhparamfile " PKI "dhparam.pem\n"
	                    "ciphers ECDHE+AESGCM\n"
	                    "ciphers_tls1.3 TLS_AES_128_GCM_SHA256\n"
	                    "tls_version tlsv1.3\n"
	                    "require_certificate true\n"
	                    "use_identity_as_username true\n"),
	         0);
	CHECK_EQ(run_broker(true, out, sizeof(out)), 0);
	CHECK(strstr(out, "configuration OK") != NULL);
}

static void
files(void)
{
	char nope[512], locked[128];
	snprintf(nope, sizeof(nope), "certfile %s/nope.crt\n" KEY, dir);
	CHECK(refused(nope, 2, "certfile: "));
	CHECK(refused(nope, 2, "nope.crt: No such file or directory"));
	CHECK(refused("certfile " PKI "garbage.pem\n" KEY, 2,
	              "certfile: " PKI "garbage.pem: PEM routines: no start "
	              "line"));
	CHECK(refused(CERT "keyfile " PKI "wrong.key\n", 3,
	              "keyfile: " PKI "wrong.key does not match certfile " PKI
	              "server.crt"));
	CHECK(refused(CERT "keyfile " PKI "server.crt\n", 3, "keyfile: "));
	CHECK(refused(CERT KEY "cafile " PKI "garbage.pem\n", 4,
	              "cafile: " PKI "garbage.pem: "));
	CHECK(refused(CERT KEY "capath " PKI "nodir\n", 4,
	              "capath: " PKI "nodir: No such file or directory"));
	CHECK(refused(CERT KEY CA "crlfile " PKI "ca.crt\n", 5,
	              "crlfile: " PKI "ca.crt: "));
	CHECK(refused(CERT KEY "dhparamfile " PKI "ca.crt\n", 4,
	              "dhparamfile: " PKI "ca.crt: not PEM DH parameters"));
	CHECK(refused(CERT KEY "ciphers NOPE\n", 4,
	              "ciphers: 'NOPE': SSL routines: no cipher match"));
	CHECK(refused(CERT KEY "ciphers_tls1.3 NOPE\n", 4, "ciphers_tls1.3: "));
	CHECK(refused("certfile " PKI "capath\n" KEY, 2,
	              "certfile: " PKI "capath: is a directory"));
	/* unreadable: only meaningful when not root */
	snprintf(locked, sizeof(locked), "%s/locked.key", dir);
	FILE *f = fopen(locked, "w");
	CHECK(f != NULL);
	fclose(f);
	chmod(locked, 0);
	if (geteuid() != 0) {
		char body[256];
		snprintf(body, sizeof(body), CERT "keyfile %s\n", locked);
		CHECK(refused(body, 3, "locked.key: Permission denied"));
	}
	unlink(locked);
}

static void
keys(void)
{
	CHECK(refused(CERT, 2, "certfile: keyfile is not set"));
	CHECK(refused("#\n" KEY, 3, "keyfile: certfile is not set"));
	CHECK(refused(CERT KEY "require_certificate true\n", 4,
	              "require_certificate: true needs cafile or capath"));
	CHECK(refused(CERT KEY "tls_version tlsv1.1\n", 4,
	              "tls_version: tlsv1.1 is refused"));
}

/* TLS keys on a listener without certfile: it starts, plain, warned. */
static void
stray(void)
{
	struct hf_bproc b;
	CHECK_EQ(hf_bproc_start(&b, CA "require_certificate true\n"), 0);
	CHECK(hf_bproc_log_contains(&b, "has cafile but no certfile/keyfile"));
	CHECK(!hf_bproc_log_contains(&b, ", TLS)"));
	CHECK_EQ(hf_bproc_stop(&b), 0);
	hf_bproc_cleanup(&b);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/hf-t03-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	HF_RUN(good);
	HF_RUN(files);
	HF_RUN(keys);
	HF_RUN(stray);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return HF_DONE();
}
