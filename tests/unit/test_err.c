/* test_err.c — fg_err messages and prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "fg_err.h"

static void test_errf_and_prefix(void **state) {
  (void)state;
  fg_err e;
  fg_err_clear(&e);
  assert_int_equal(fg_errf(&e, FG_EINVAL, "bad value %d", 42), FG_EINVAL);
  assert_string_equal(e.msg, "bad value 42");
  fg_err_prefix(&e, "field '%s'", "x");
  assert_string_equal(e.msg, "field 'x': bad value 42");
  assert_int_equal(e.code, FG_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_errf_and_prefix)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
