/* tests/protocol/p19_disk_faults.c - a full disk and a failing disk under
 * the real broker (issue 8, item 5).
 *
 * Each case gives the broker's store a small file system of its own: a
 * tmpfs mounted in a private mount namespace (unshare(CLONE_NEWNS) with
 * "/" made private, so nothing is seen outside this test and its broker,
 * and the mount disappears with them). The test fills the rest of that
 * disk with a file of its own and frees it again. Without the privilege
 * to do that (not root), the cases are skipped (exit 77).
 *
 *   disk_full_refuses     the store reserves space ahead of use, so a full
 *                         disk shows up as refusals (v5 PUBACK 0x97) with
 *                         the broker serving; once the file is deleted,
 *                         publishing works again; every acknowledged
 *                         message reaches the persistent subscriber.
 *   commit_enospc_resets  the same where space cannot be reserved (the
 *                         fault shim makes posix_fallocate unsupported):
 *                         the commit itself meets ENOSPC, nothing of the
 *                         turn is acknowledged, every client is
 *                         disconnected (v5 DISCONNECT 0x89) and the broker
 *                         carries on from its last commit, refusing until
 *                         space returns.
 *   fsync_eio_stops       a disk that fails fdatasync (the shim): nothing
 *                         of the turn is acknowledged and the broker stops
 *                         (exit status 1); started again on a sound disk,
 *                         it has every message it had acknowledged.
 * After each case holdfast-db check must find the store sound.
 * Single-threaded; every wait has a deadline. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define MAXMSG   400
#define PAYLOAD  16384
#define DISK_MIB 12

static bool can_mount;

/* A small disk for one case: a tmpfs of DISK_MIB MiB. */
struct disk {
	char dir[64];
	char store[96];
	char filler[96];
	char faults[96];
};

static int
disk_make(struct disk *d)
{
	char opt[32];

	snprintf(d->dir, sizeof(d->dir), "/tmp/hf-disk-XXXXXX");
	if (!mkdtemp(d->dir))
		return -1;
	snprintf(opt, sizeof(opt), "size=%dm", DISK_MIB);
	if (mount("tmpfs", d->dir, "tmpfs", 0, opt) != 0) {
		perror("mount tmpfs");
		rmdir(d->dir);
		return -1;
	}
	snprintf(d->store, sizeof(d->store), "%s/store", d->dir);
	snprintf(d->filler, sizeof(d->filler), "%s/filler", d->dir);
	snprintf(d->faults, sizeof(d->faults), "%s/faults", d->dir);
	mkdir(d->faults, 0700);
	return 0;
}

static void
disk_drop(struct disk *d)
{
	umount2(d->dir, MNT_DETACH);
	rmdir(d->dir);
}

/* Take every free byte of the disk (the file stays until disk_free). */
static long
disk_fill(struct disk *d)
{
	static char chunk[65536];
	long total = 0;
	int fd = open(d->filler, O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (fd < 0)
		return -1;
	memset(chunk, 'f', sizeof(chunk));
	for (int i = 0; i < 4096; i++) {
		ssize_t w = write(fd, chunk, sizeof(chunk));
		if (w <= 0)
			break;
		total += w;
	}
	for (int i = 0; i < 4096; i++) { /* the last partial block */
		if (write(fd, chunk, 512) <= 0)
			break;
		total += 512;
	}
	close(fd);
	return total;
}

static void
disk_free(struct disk *d)
{
	unlink(d->filler);
}

static void
fault(struct disk *d, const char *name, bool on)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", d->faults, name);
	if (on)
		close(open(path, O_WRONLY | O_CREAT, 0600));
	else
		unlink(path);
}

/* A persistent subscriber to d/# that goes offline. */
/* v5; the subscriber's session is persistent, the publisher's is not (so
 * that only its messages write to the store). */
static int
conn(uint16_t port, const char *id, bool clean)
{
	return hf_raw_connect_expiry(port, V5, id, clean,
	                             strcmp(id, "pub") ? 3600 : 0, NULL);
}

static int
make_subscriber(uint16_t port)
{
	int fd = conn(port, "sub", true);

	if (fd < 0 || hf_raw_subscribe(fd, V5, 1, "d/#", 1, 0) != 1)
		return -1;
	hf_raw_disconnect(fd, V5, 0);
	close(fd);
	return 0;
}

/* PUBLISH QoS 1 number i; returns the PUBACK reason code, -2 with *disc
 * set when a DISCONNECT came instead, -1 when the connection broke. */
static int
publish_one(int fd, int i, int *disc)
{
	static uint8_t payload[PAYLOAD];
	static uint8_t buf[PAYLOAD + 512];
	struct hf_packet p, r;

	memset(payload, 'p', sizeof(payload));
	snprintf((char *)payload, 16, "m%05d", i);
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.qos = 1;
	p.u.publish.pid = (uint16_t)(i % 60000 + 1);
	p.u.publish.topic.p = (const uint8_t *)"d/x";
	p.u.publish.topic.len = 3;
	p.u.publish.payload.p = payload;
	p.u.publish.payload.len = PAYLOAD;
	if (hf_raw_send_pkt(fd, &p, V5) != 0)
		return -1;
	if (hf_raw_recvb(fd, V5, 10000, &r, buf, sizeof(buf)) != 1)
		return -1;
	if (r.type == HF_DISCONNECT) {
		*disc = r.u.ack.rc;
		return -2;
	}
	if (r.type != HF_PUBACK || r.u.ack.pid != p.u.publish.pid)
		return -1;
	return r.u.ack.rc;
}

/* Every acknowledged message reaches the subscriber. */
static void
all_delivered(uint16_t port, const bool *acked)
{
	static uint8_t buf[PAYLOAD + 512];
	bool got[MAXMSG] = {false};
	struct hf_packet p;
	int fd = conn(port, "sub", false), missing = 0;

	CHECK(fd >= 0);
	for (int k = 0; k < 4 * MAXMSG; k++) {
		int rc = hf_raw_expect_publish(fd, V5, 3000, true, &p, buf,
		                               sizeof(buf));
		int i;

		if (rc != 1)
			break;
		if (sscanf((const char *)p.u.publish.payload.p, "m%5d", &i) ==
		        1 &&
		    i >= 0 && i < MAXMSG)
			got[i] = true;
	}
	for (int i = 0; i < MAXMSG; i++)
		if (acked[i] && !got[i])
			missing++;
	if (missing)
		fprintf(stderr, "%d acknowledged messages never arrived\n",
		        missing);
	CHECK_EQ(missing, 0);
	close(fd);
}

static char conf_lines[512];

static const char *
disk_conf(const struct disk *d)
{
	snprintf(conf_lines, sizeof(conf_lines),
	         "persistence_location %s\n"
	         "persistence_initial_size 1048576\n"
	         "sys_interval 1\n",
	         d->store);
	return conf_lines;
}

/* Publish until refused (or DISCONNECT); returns what happened. */
static int
publish_until_stopped(uint16_t port, bool *acked, int *next, int *disc)
{
	int fd = conn(port, "pub", true), rc = -1;

	if (fd < 0)
		return -1;
	for (; *next < MAXMSG; (*next)++) {
		rc = publish_one(fd, *next, disc);
		if (rc == 0 || rc == HF_RC_NO_MATCHING_SUBSCRIBERS) {
			acked[*next] = true;
			continue;
		}
		(*next)++;
		break;
	}
	close(fd);
	return rc;
}

/* After space returns, a publish is accepted again within a few seconds. */
static bool
accepted_again(uint16_t port, bool *acked, int *next)
{
	int64_t end = hf_now_ms() + 8000;

	while (hf_now_ms() < end && *next < MAXMSG) {
		int disc = -1, fd = conn(port, "pub", true);
		int rc = fd >= 0 ? publish_one(fd, *next, &disc) : -1;

		if (fd >= 0)
			close(fd);
		if (rc == 0) {
			acked[(*next)++] = true;
			return true;
		}
		(*next)++;
		hf_sleep_ms(250); /* the store looks again once a second */
	}
	return false;
}

static void
disk_full_refuses(struct hf_bproc *bp, struct disk *dp)
{
	bool acked[MAXMSG] = {false};
	int next = 0, disc = -1, rc;

	CHECK_EQ(hf_bproc_start(bp, disk_conf(dp)), 0);
	CHECK_EQ(make_subscriber(bp->port), 0);
	CHECK(disk_fill(dp) > 0);
	rc = publish_until_stopped(bp->port, acked, &next, &disc);
	CHECK_EQ(rc, HF_RC_QUOTA_EXCEEDED);
	CHECK(hf_bproc_alive(bp));
	CHECK(hf_bproc_log_contains(bp, "refused"));
	disk_free(dp);
	CHECK(accepted_again(bp->port, acked, &next));
	all_delivered(bp->port, acked);
	CHECK_EQ(hf_bproc_stop(bp), 0);
	CHECK(!hf_bproc_log_contains(bp, "continuing from the last commit"));
	CHECK_EQ(hf_test_store_check_at(dp->store), 0);
}

static void
commit_enospc_resets(struct hf_bproc *bp, struct disk *dp)
{
	bool acked[MAXMSG] = {false};
	int next = 0, disc = -1, rc;

	fault(dp, "no-fallocate", true);
	setenv("LD_PRELOAD", HF_FAULT_SHIM, 1);
	setenv("HF_FAULT_DIR", dp->faults, 1);
	rc = hf_bproc_start(bp, disk_conf(dp));
	unsetenv("LD_PRELOAD");
	CHECK_EQ(rc, 0);
	CHECK_EQ(make_subscriber(bp->port), 0);
	CHECK(disk_fill(dp) > 0);
	rc = publish_until_stopped(bp->port, acked, &next, &disc);
	/* The commit met ENOSPC: no PUBACK, DISCONNECT Server busy. */
	CHECK_EQ(rc, -2);
	CHECK_EQ(disc, HF_RC_SERVER_BUSY);
	CHECK(hf_bproc_wait_log(bp, "continuing from the last commit", 3000));
	CHECK(hf_bproc_alive(bp));
	/* The log says what is full, and where. */
	CHECK(hf_bproc_log_contains(bp, "No space left on device") ||
	      hf_bproc_log_contains(bp, "no space left on device"));
	CHECK(hf_bproc_log_contains(bp, dp->store));
	/* Counted where operators look. */
	{
		struct hf_packet p;
		uint8_t buf[256];
		int fd = hf_raw_sub_client(bp->port, V5, "sys",
		                           "$SYS/broker/store/resets", 0);
		CHECK(fd >= 0);
		rc = hf_raw_expect_publish(fd, V5, 3000, false, &p, buf,
		                           sizeof(buf));
		close(fd);
		CHECK_EQ(rc, 1);
		CHECK(hf_bytes_eq(p.u.publish.payload, "1"));
	}
	/* Until space returns, publishing is refused, not failed. */
	rc = publish_until_stopped(bp->port, acked, &next, &disc);
	CHECK_EQ(rc, HF_RC_QUOTA_EXCEEDED);
	disk_free(dp);
	CHECK(accepted_again(bp->port, acked, &next));
	all_delivered(bp->port, acked);
	CHECK_EQ(hf_bproc_stop(bp), 0);
	CHECK_EQ(hf_test_store_check_at(dp->store), 0);
}

static void
fsync_eio_stops(struct hf_bproc *bp, struct disk *dp)
{
	bool acked[MAXMSG] = {false};
	int next = 0, disc = -1, fd, rc;

	setenv("LD_PRELOAD", HF_FAULT_SHIM, 1);
	setenv("HF_FAULT_DIR", dp->faults, 1);
	rc = hf_bproc_start(bp, disk_conf(dp));
	unsetenv("LD_PRELOAD");
	CHECK_EQ(rc, 0);
	CHECK_EQ(make_subscriber(bp->port), 0);
	fd = conn(bp->port, "pub", true);
	CHECK(fd >= 0);
	for (; next < 5; next++) {
		CHECK_EQ(publish_one(fd, next, &disc), 0);
		acked[next] = true;
	}
	fault(dp, "fsync-eio", true);
	rc = publish_one(fd, next++, &disc);
	CHECK(rc == -1 || rc == -2); /* no PUBACK */
	close(fd);
	/* The broker stops by itself, with status 1. */
	for (int i = 0; i < 100 && hf_bproc_alive(bp); i++)
		hf_sleep_ms(100);
	CHECK(!hf_bproc_alive(bp));
	CHECK_EQ(bp->status, 1);
	CHECK(hf_bproc_log_contains(bp, "stopping"));
	/* A sound disk again: everything acknowledged is there. */
	fault(dp, "fsync-eio", false);
	CHECK_EQ(hf_test_store_check_at(dp->store), 0);
	setenv("LD_PRELOAD", HF_FAULT_SHIM, 1);
	rc = hf_bproc_restart(bp);
	unsetenv("LD_PRELOAD");
	CHECK_EQ(rc, 0);
	all_delivered(bp->port, acked);
	CHECK_EQ(hf_bproc_stop(bp), 0);
	CHECK_EQ(hf_test_store_check_at(dp->store), 0);
}

/* One case on a disk of its own; the broker and the disk always go. */
static void
run(const char *name, void (*fn)(struct hf_bproc *, struct disk *))
{
	struct hf_bproc b;
	struct disk d;

	memset(&b, 0, sizeof(b));
	hf_test_failed_ = 0;
	fprintf(stderr, "-- %s\n", name);
	if (disk_make(&d) != 0) {
		hf_test_failed_ = 1;
	} else {
		fn(&b, &d);
		if (hf_test_failed_ && b.log[0])
			hf_bproc_dump_log(&b, 8192);
		hf_bproc_cleanup(&b);
		disk_drop(&d);
	}
	unsetenv("LD_PRELOAD");
	if (hf_test_failed_) {
		hf_test_fail_++;
		fprintf(stderr, "FAIL %s\n", name);
	} else {
		hf_test_pass_++;
	}
}

#define RUN(fn) run(#fn, fn)

int
main(void)
{
	/* A mount namespace of our own, changes kept from the host. */
	can_mount = unshare(CLONE_NEWNS) == 0 &&
	            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	if (!can_mount) {
		fprintf(stderr, "skipped: no private mount namespace (%s)\n",
		        strerror(errno));
		return 77;
	}
	/* An ASan broker accepts the shim ahead of its runtime. */
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[512];
	snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0",
	         asan ? asan : "", asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	RUN(disk_full_refuses);
	RUN(commit_enospc_resets);
	RUN(fsync_eio_stops);
	return HF_DONE();
}
