/* tests/helpers/test.h - tiny check macros shared by every test program.
 *
 * A test program is a main() that calls HF_RUN(fn) for each case. CHECK*
 * print file:line and the failing expression, mark the case failed, and
 * return from the case function (so cases return void). HF_DONE() prints
 * "N passed, N failed" and returns the exit code. */
#ifndef HF_TEST_H
#define HF_TEST_H

#include <stdio.h>
#include <string.h>

extern int hf_test_failed_; /* set by CHECK in the current case */
extern int hf_test_pass_, hf_test_fail_;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			hf_test_failed_ = 1;                                   \
			return;                                                \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_) {                                                \
			fprintf(stderr,                                        \
			        "%s:%d: CHECK_EQ failed: %s == %s "            \
			        "(%lld != %lld)\n",                            \
			        __FILE__, __LINE__, #a, #b, a_, b_);           \
			hf_test_failed_ = 1;                                   \
			return;                                                \
		}                                                              \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define HF_RUN(fn)                                                             \
	do {                                                                   \
		hf_test_failed_ = 0;                                           \
		fprintf(stderr, "-- %s\n", #fn);                               \
		fn();                                                          \
		if (hf_test_failed_) {                                         \
			hf_test_fail_++;                                       \
			fprintf(stderr, "FAIL %s\n", #fn);                     \
		} else {                                                       \
			hf_test_pass_++;                                       \
		}                                                              \
	} while (0)

#define HF_DONE()                                                              \
	(fprintf(stderr, "%d passed, %d failed\n", hf_test_pass_,              \
	         hf_test_fail_),                                               \
	 hf_test_fail_ ? 1 : 0)

#endif
