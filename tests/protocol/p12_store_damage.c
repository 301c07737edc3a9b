/* tests/protocol/p12_store_damage.c - start-up with a damaged or foreign
 * store.
 *
 * Holdfast's promise (conf/holdfast.conf, --move-damaged-store;
 * persistence/README.md, "meta"): a store that cannot be opened or fails
 * validation stops start-up - quickly, with a non-zero exit status and a
 * message naming the file and the way out (--move-damaged-store) - instead
 * of crashing or silently starting empty. Started with
 * --move-damaged-store, the broker moves the file aside to
 * <file>.damaged-<time> and starts with an empty, working store. An empty
 * (0-byte) file is a new store.
 *
 * Each case: the harness starts a broker (which creates the store), the
 * case gives it some state and stops it, damages the file in one way, and
 * restarts on it (hf_bproc_restart / hf_bproc_restart_args; a refused
 * start also makes the harness print the log, which is expected here).
 * Damage kinds: random bytes, a valid LMDB file that is not a Holdfast
 * store, a Holdfast store claiming a newer format version (both written
 * with the LMDB API, hence this test's link to lmdb in
 * tests/CMakeLists.txt), and a store truncated to its first 4096 bytes.
 * Single-threaded. */
#include <dirent.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

static void
store_path(const struct hf_bproc *b, char *out, size_t cap)
{
	snprintf(out, cap, "%s/data/holdfast.db", b->dir);
}

/* Connect 5.0, Session Expiry an hour; *sp = session present. */
static int
pconn(uint16_t port, const char *id, bool *sp)
{
	struct hf_packet c, ca;
	uint8_t buf[512];
	int fd;

	hf_raw_connect_init(&c, V5, id, false, 60);
	c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
	c.u.connect.props.session_expiry = 3600;
	fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd < 0)
		return -1;
	if (ca.u.connack.rc != 0) {
		close(fd);
		return -1;
	}
	*sp = ca.u.connack.session_present;
	return fd;
}

/* Give the store some content (a persistent session with a subscription,
 * two queued messages and a retained one), then stop the broker
 * cleanly. */
static bool
fill_and_stop(struct hf_bproc *b)
{
	bool sp, ok;
	int s = pconn(b->port, "dmg", &sp);
	int pub = hf_raw_connect(b->port, V5, "dmgp", true, 60, NULL, NULL);

	ok = s >= 0 && pub >= 0 &&
	     hf_raw_subscribe(s, V5, 1, "d/#", 1, 0) == 1 &&
	     hf_raw_disconnect(s, V5, 0) == 0 &&
	     hf_raw_wait_close(s, 3000, NULL) &&
	     hf_raw_publish(pub, V5, "d/1", "one", 3, 1, false, 1) == 0 &&
	     hf_raw_publish(pub, V5, "d/2", "two", 3, 1, true, 2) == 0;
	if (s >= 0)
		close(s);
	if (pub >= 0)
		close(pub);
	return hf_bproc_stop(b) == 0 && ok;
}

/* The restart on the damaged store must fail quickly, by exiting non-zero
 * (not by a signal, not with a sanitizer report), naming the file and
 * --move-damaged-store in its log; `also` (may be NULL) must appear too. */
static void
expect_refused(struct hf_bproc *b, const char *also)
{
	char path[512];
	int64_t t0 = hf_now_ms();

	store_path(b, path, sizeof(path));
	fprintf(stderr, "(a refused start is expected here)\n");
	CHECK(hf_bproc_restart(b) != 0);
	CHECK(!hf_bproc_alive(b));
	fprintf(stderr, "refused in %lld ms, status %d\n",
	        (long long)(hf_now_ms() - t0), b->status);
	CHECK(hf_now_ms() - t0 < 5000);
	CHECK(b->status > 0 && b->status < 128);
	CHECK(hf_bproc_log_contains(b, path));
	CHECK(hf_bproc_log_contains(b, "--move-damaged-store"));
	CHECK(!hf_bproc_log_contains(b, "Sanitizer"));
	CHECK(!hf_bproc_log_contains(b, "runtime error"));
	if (also)
		CHECK(hf_bproc_log_contains(b, also));
}

/* Size of the <file>.damaged-* file beside the store, or -1 if none. */
static long
damaged_size(const struct hf_bproc *b)
{
	char dir[512], f[1024];
	struct dirent *e;
	long size = -1;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/data", b->dir);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (strncmp(e->d_name, "holdfast.db.damaged-", 20) != 0 ||
		    strstr(e->d_name, "-lock"))
			continue;
		snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
		if (stat(f, &st) == 0)
			size = (long)st.st_size;
	}
	closedir(d);
	return size;
}

/* With --move-damaged-store the broker starts, the damaged file (of
 * damaged_len bytes, -1 = do not check) is beside the new store, and the
 * new store works: nothing of the old state, a QoS 1 round trip, and a
 * persistent session that survives one more (clean) restart. */
static void
expect_moved_and_working(struct hf_bproc *b, long damaged_len)
{
	static const char *const args[] = {"--move-damaged-store", NULL};
	struct hf_packet p;
	uint8_t buf[512];
	bool sp = true;
	long sz;
	int s, pub;

	CHECK_EQ(hf_bproc_restart_args(b, args), 0);
	sz = damaged_size(b);
	CHECK(sz >= 0);
	if (damaged_len >= 0)
		CHECK_EQ(sz, damaged_len);
	CHECK(hf_bproc_log_contains(b, "moved aside"));
	s = pconn(b->port, "dmg", &sp);
	CHECK(s >= 0);
	CHECK(!sp); /* an empty store */
	CHECK_EQ(hf_raw_subscribe(s, V5, 1, "d/#", 1, 0), 1);
	/* No retained message from the old store. */
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	pub = hf_raw_connect(b->port, V5, "dmgp", true, 60, NULL, NULL);
	CHECK(pub >= 0);
	CHECK_EQ(hf_raw_publish(pub, V5, "d/3", "three", 5, 1, false, 1), 0);
	CHECK_EQ(hf_raw_expect_publish(s, V5, 3000, true, &p, buf, sizeof(buf)),
	         1);
	CHECK(hf_bytes_eq(p.u.publish.payload, "three"));
	close(pub);
	close(s);
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	s = pconn(b->port, "dmg", &sp);
	CHECK(s >= 0);
	CHECK(sp);
	close(s);
}

/* Overwrite the store with n pseudo-random bytes (fixed seed). */
static bool
write_random(const char *path, size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	FILE *f = fopen(path, "wb");

	if (!f)
		return false;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fputc((int)(x & 0xff), f);
	}
	return fclose(f) == 0;
}

static void
t_random_bytes(struct hf_bproc *b)
{
	char path[512];

	store_path(b, path, sizeof(path));
	CHECK(fill_and_stop(b));
	CHECK(write_random(path, 65536));
	expect_refused(b, NULL);
	/* Go on even if that failed: the move-aside path is independent. */
	expect_moved_and_working(b, 65536);
}

/* Write path as a fresh LMDB file (MDB_NOSUBDIR) with one key in the
 * unnamed database: valid LMDB, not a Holdfast store. */
static bool
write_foreign_lmdb(const char *path)
{
	char lock[600];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = {5, (void *)"hello"}, v = {5, (void *)"world"};
	int rc;

	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(path);
	unlink(lock);
	rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0600);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (!rc)
		rc = mdb_dbi_open(txn, NULL, 0, &dbi);
	if (!rc)
		rc = mdb_put(txn, dbi, &k, &v, 0);
	if (!rc) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	if (rc)
		fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
	return rc == 0;
}

static void
t_foreign_lmdb(struct hf_bproc *b)
{
	char path[512];
	struct stat st;

	store_path(b, path, sizeof(path));
	CHECK(fill_and_stop(b));
	CHECK(write_foreign_lmdb(path));
	CHECK(stat(path, &st) == 0);
	expect_refused(b, NULL);
	expect_moved_and_working(b, (long)st.st_size);
}

/* Set meta "version" of the Holdfast store at path to ver (big-endian
 * u32, persistence/README.md). */
static bool
set_store_version(const char *path, uint32_t ver)
{
	uint8_t be[4] = {(uint8_t)(ver >> 24), (uint8_t)(ver >> 16),
	                 (uint8_t)(ver >> 8), (uint8_t)ver};
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = {7, (void *)"version"}, v = {4, be};
	int rc;

	rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_set_maxdbs(env, 16);
	if (!rc)
		rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0600);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (!rc)
		rc = mdb_dbi_open(txn, "meta", 0, &dbi);
	if (!rc)
		rc = mdb_put(txn, dbi, &k, &v, 0);
	if (!rc) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	if (rc)
		fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
	return rc == 0;
}

/* A store of a newer format version is refused (not misread), with the
 * same way out. */
static void
t_newer_version(struct hf_bproc *b)
{
	char path[512];

	store_path(b, path, sizeof(path));
	CHECK(fill_and_stop(b));
	CHECK(set_store_version(path, 4));
	expect_refused(b, "newer");
	expect_moved_and_working(b, -1);
}

/* The first 4096 bytes of a real store: refused, not a crash (SIGBUS from
 * pages mapped past the end of the file would be one). */
static void
t_truncated(struct hf_bproc *b)
{
	char path[512];
	struct stat st;

	store_path(b, path, sizeof(path));
	CHECK(fill_and_stop(b));
	CHECK(stat(path, &st) == 0);
	CHECK(st.st_size > 4096);
	CHECK(truncate(path, 4096) == 0);
	expect_refused(b, NULL);
	expect_moved_and_working(b, 4096);
}

/* An empty (0-byte) file is a new store, not damage (README "meta"). */
static void
t_empty_file(struct hf_bproc *b)
{
	char path[512];
	bool sp = true;
	int s;

	store_path(b, path, sizeof(path));
	CHECK(fill_and_stop(b));
	CHECK(truncate(path, 0) == 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	CHECK_EQ(damaged_size(b), -1);
	s = pconn(b->port, "dmg", &sp);
	CHECK(s >= 0);
	CHECK(!sp);
	close(s);
}

int
main(void)
{
	HF_BCASE(t_random_bytes, NULL);
	HF_BCASE(t_foreign_lmdb, NULL);
	HF_BCASE(t_newer_version, NULL);
	HF_BCASE(t_truncated, NULL);
	HF_BCASE(t_empty_file, NULL);
	return HF_DONE();
}
