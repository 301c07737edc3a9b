/*
 * tools/bench/commitprobe.c - the fsync bound of a durable broker on this
 * file system: how long one synced LMDB write transaction takes.
 *
 * Design: open a fresh LMDB environment in DIR (created if missing; it
 * must not hold an environment yet) with default flags, so every
 * mdb_txn_commit syncs the data and the meta page like a durable store
 * does, then time N transactions that each put one small record (16-byte
 * key, 64-byte value) and commit. Prints one JSON line:
 *   {"commit_ms_p50":..,"commit_ms_p90":..,"commit_ms_mean":..,
 *    "commit_ms_min":..,"commit_ms_max":..,"n":..}
 * A broker that must sync before it acknowledges can acknowledge at most
 * W / commit time messages per second with W messages in flight, unless
 * it groups several messages into one commit.
 *
 * Usage: commitprobe DIR [N (200)]. Exit 0, 1 on an LMDB error, 3 on
 * usage. Single-threaded; it removes nothing (the caller owns DIR).
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	MDB_env *env = NULL;
	MDB_dbi dbi;
	MDB_txn *txn;
	double *ms, sum = 0;
	char val[64];
	long n = 200, i;
	int rc;

	if (argc < 2 || argc > 3 || (argc == 3 && (n = atol(argv[2])) < 1) ||
	    n > 1000000) {
		fprintf(stderr, "usage: commitprobe DIR [N]\n");
		return 3;
	}
	if (mkdir(argv[1], 0700) < 0 && errno != EEXIST) {
		perror("commitprobe: mkdir");
		return 1;
	}
	ms = calloc((size_t)n, sizeof(*ms));
	memset(val, 'v', sizeof(val));
	if (!ms)
		return 1;
	if ((rc = mdb_env_create(&env)) ||
	    (rc = mdb_env_set_mapsize(env, 64u << 20)) ||
	    (rc = mdb_env_open(env, argv[1], 0, 0600)))
		goto fail;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) ||
	    (rc = mdb_txn_commit(txn)))
		goto fail;
	for (i = 0; i < n; i++) {
		char key[16];
		MDB_val k = {sizeof(key), key}, v = {sizeof(val), val};
		double t0 = now_ms();

		snprintf(key, sizeof(key), "%015ld", i);
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
			goto fail;
		if ((rc = mdb_put(txn, dbi, &k, &v, 0))) {
			mdb_txn_abort(txn);
			goto fail;
		}
		if ((rc = mdb_txn_commit(txn)))
			goto fail;
		ms[i] = now_ms() - t0;
		sum += ms[i];
	}
	mdb_env_close(env);
	qsort(ms, (size_t)n, sizeof(*ms), cmp);
	printf("{\"commit_ms_p50\":%.4f,\"commit_ms_p90\":%.4f,"
	       "\"commit_ms_mean\":%.4f,\"commit_ms_min\":%.4f,"
	       "\"commit_ms_max\":%.4f,\"n\":%ld}\n",
	       ms[n / 2], ms[n * 9 / 10], sum / (double)n, ms[0], ms[n - 1], n);
	free(ms);
	return 0;
fail:
	fprintf(stderr, "commitprobe: %s\n", mdb_strerror(rc));
	if (env)
		mdb_env_close(env);
	free(ms);
	return 1;
}
