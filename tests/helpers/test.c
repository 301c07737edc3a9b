/* tests/helpers/test.c - the counters behind test.h. */
#include "test.h"

int hf_test_failed_;
int hf_test_pass_;
int hf_test_fail_;
