/* tests/engine/alloc_fail.c - allocation failure on demand, for the
 * fault-injection tests (eharness.h: eh_alloc_fail_at()).
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 * every call to those in the objects of the test's own link (the broker's
 * static libraries, the harness) goes through the __wrap_ functions below;
 * libc, libuv and LMDB keep their own allocator. Counting starts at 0 and
 * goes on for the whole process; eh_alloc_fail_at(n) makes the nth call
 * from then on return NULL (once), as SQLite's test malloc does. A call
 * with size 0 is passed through (it may legally return NULL anyway).
 * EH_ALLOC_TRACE=1 prints the stack of the failed call.
 * Single-threaded. */
#include <execinfo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eharness.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static uint64_t count, fail_at, failures;
static bool failed;

void
eh_alloc_fail_at(uint64_t nth)
{
	fail_at = nth ? count + nth : 0;
	failed = false;
}

uint64_t
eh_alloc_count(void)
{
	return count;
}

bool
eh_alloc_failed(void)
{
	return failed;
}

uint64_t
eh_alloc_failures(void)
{
	return failures;
}

static bool
fail_now(void)
{
	if (++count != fail_at)
		return false;
	failed = true;
	failures++;
	if (getenv("EH_ALLOC_TRACE")) { /* where it failed, for debugging */
		void *bt[16];
		backtrace_symbols_fd(bt, backtrace(bt, 16), 2);
	}
	return true;
}

void *
__wrap_malloc(size_t n)
{
	return n && fail_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return n && m && fail_now() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return n && fail_now() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}
