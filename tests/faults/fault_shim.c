/* tests/faults/fault_shim.c - an LD_PRELOAD library that makes the disk
 * misbehave on demand, for tests/protocol/p19_disk_faults.c.
 *
 * The broker under test runs with LD_PRELOAD naming this library and
 * HF_FAULT_DIR naming a folder; a fault is on while a file of its name
 * exists there, so the test turns faults on and off between packets:
 *   fsync-eio        fsync() and fdatasync() fail with EIO (a disk that
 *                    lost a write: the store must stop the broker);
 *   no-fallocate     posix_fallocate() and fallocate() fail with
 *                    EOPNOTSUPP (a file system that cannot reserve space:
 *                    a full disk then shows up as ENOSPC at commit).
 * Everything else goes to the real functions (dlsym RTLD_NEXT). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);
int posix_fallocate(int fd, off_t off, off_t len);
int fallocate(int fd, int mode, off_t off, off_t len);

/* The next definition of name (POSIX: a function pointer is copied out of
 * dlsym's object pointer). */
static void *
next_fn(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

#define REAL(var, name)                                                        \
	do {                                                                   \
		void *sym_ = next_fn(name);                                    \
		memcpy(&(var), &sym_, sizeof(var));                            \
	} while (0)

static int
fault_on(const char *name)
{
	const char *dir = getenv("HF_FAULT_DIR");
	char path[1024];

	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

int
fsync(int fd)
{
	int (*real)(int);

	REAL(real, "fsync");
	if (fault_on("fsync-eio")) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int
fdatasync(int fd)
{
	int (*real)(int);

	REAL(real, "fdatasync");
	if (fault_on("fsync-eio")) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
	int (*real)(int, off_t, off_t);

	REAL(real, "posix_fallocate");
	if (fault_on("no-fallocate"))
		return EOPNOTSUPP;
	return real(fd, off, len);
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	int (*real)(int, int, off_t, off_t);

	REAL(real, "fallocate");
	if (fault_on("no-fallocate")) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return real(fd, mode, off, len);
}
