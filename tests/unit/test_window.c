/* test_window.c — the window JSON parser and writer, and the string map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "strmap.h"
#include "window.h"

static int parse(fg_window *w, const char *s, fg_err *e) {
  fg_err_clear(e);
  return fg_window_parse(w, s, strlen(s), e);
}

static void test_parse_basic(void **state) {
  (void)state;
  fg_window w;
  fg_window_init(&w);
  fg_err e;
  assert_int_equal(parse(&w, " {\"fields\":[\"key\",\"d\"], \"steps\":[[\"open\",12.5],[\"re\\\"ad\",-3e2],[null,true]] } ", &e), 0);
  assert_int_equal(w.n_fields, 2);
  assert_int_equal(w.n_steps, 3);
  assert_string_equal(fg_window_field(&w, 0), "key");
  assert_string_equal(fg_window_field(&w, 1), "d");
  assert_int_equal(fg_window_val(&w, 0, 0)->kind, FG_V_STR);
  assert_string_equal(fg_window_valstr(&w, fg_window_val(&w, 0, 0)), "open");
  assert_true(fg_window_val(&w, 0, 1)->num == 12.5);
  assert_string_equal(fg_window_valstr(&w, fg_window_val(&w, 1, 0)), "re\"ad");
  assert_true(fg_window_val(&w, 1, 1)->num == -300);
  assert_int_equal(fg_window_val(&w, 2, 0)->kind, FG_V_NULL);
  assert_true(fg_window_val(&w, 2, 1)->num == 1);
  /* key order does not matter, extra keys are ignored */
  assert_int_equal(parse(&w, "{\"part\":{\"a\":[1,2,\"x\"]},\"steps\":[[\"\\u00e9\\ud83d\\ude00\"]],\"fields\":[\"k\"]}", &e), 0);
  assert_string_equal(fg_window_valstr(&w, fg_window_val(&w, 0, 0)), "\xc3\xa9\xf0\x9f\x98\x80");
  fg_window_free(&w);
}

static void test_parse_errors(void **state) {
  (void)state;
  fg_window w;
  fg_window_init(&w);
  fg_err e;
  struct { const char *in, *msg; } cases[] = {
      {"", "malformed window: expected '{' at offset 0"},
      {"{\"fields\":[\"a\"]}", "malformed window: no \"steps\" key"},
      {"{\"steps\":[[1]]}", "malformed window: no \"fields\" key"},
      {"{\"fields\":[\"a\",\"b\"],\"steps\":[[1,2],[3]]}", "window step 2 has 1 values, step 1 has 2"},
      {"{\"fields\":[\"a\"],\"steps\":[[1,2]]}", "window steps have 2 values but there are 1 fields"},
      {"{\"fields\":[\"a\"],\"steps\":[[1e999]]}", "window step 1 value 1 is not a finite number"},
      {"{\"fields\":[\"a\",\"a\"],\"steps\":[[1,2]]}", "window names field 'a' twice"},
      {"{\"fields\":[\"a\"],\"steps\":[]}", "malformed window: \"steps\" is empty at offset 26"},
      {"{\"fields\":[\"a\"],\"steps\":[[01]]}", "malformed window: expected ']' at offset 27"},
      {"{\"fields\":[\"a\"],\"steps\":[[{}]]}", "malformed window: values must be strings, numbers or null at offset 26"},
      {"{\"fields\":[\"a\"],\"steps\":[[\"x]]}", "malformed window: unterminated string at offset 26"},
      {"{\"fields\":[\"a\"],\"steps\":[[1]]} x", "malformed window: trailing characters at offset 31"},
      {"{\"fields\":[1],\"steps\":[[1]]}", "malformed window: field names must be strings at offset 11"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = parse(&w, cases[i].in, &e);
    if (rc == 0 || strcmp(e.msg, cases[i].msg) != 0) {
      print_error("case %zu: input %s\n  got rc=%d '%s'\n want '%s'\n", i, cases[i].in, rc, e.msg, cases[i].msg);
      fail();
    }
  }
  /* truncations of a valid window never crash and always fail */
  const char *ok = "{\"fields\":[\"a\",\"b\"],\"steps\":[[\"x\\u00e9\",1.5e3],[null,-2]]}";
  for (size_t n = 0; n < strlen(ok); n++) {
    fg_err_clear(&e);
    assert_int_not_equal(fg_window_parse(&w, ok, n, &e), 0);
  }
  fg_window_free(&w);
}

static void test_writer_roundtrip(void **state) {
  (void)state;
  fg_buf b = {0};
  const char s[] = "a\"b\\c\n\x01\xc3\xa9";
  assert_int_equal(fg_buf_put(&b, "{\"fields\":[\"f\",\"g\"],\"steps\":[[", 30), 0);
  assert_int_equal(fg_buf_json_str(&b, s, sizeof s - 1), 0);
  assert_int_equal(fg_buf_put(&b, ",", 1), 0);
  double x = 0.1 + 0.2;
  assert_int_equal(fg_buf_json_num(&b, x), 0);
  assert_int_equal(fg_buf_put(&b, "]]}", 3), 0);
  fg_window w;
  fg_window_init(&w);
  fg_err e;
  assert_int_equal(parse(&w, b.p, &e), 0);
  assert_int_equal(fg_window_val(&w, 0, 0)->len, sizeof s - 1);
  assert_memory_equal(fg_window_valstr(&w, fg_window_val(&w, 0, 0)), s, sizeof s - 1);
  assert_true(fg_window_val(&w, 0, 1)->num == x); /* exact round trip */
  fg_window_free(&w);
  fg_buf_free(&b);
}

static void test_strmap(void **state) {
  (void)state;
  strmap m;
  strmap_init(&m);
  char key[32];
  for (int i = 0; i < 10000; i++) {
    int n = snprintf(key, sizeof key, "k%d", i);
    int added;
    assert_int_equal(strmap_add(&m, key, (size_t)n, &added), i);
    assert_int_equal(added, 1);
  }
  for (int i = 0; i < 10000; i++) {
    int n = snprintf(key, sizeof key, "k%d", i);
    assert_int_equal(strmap_find(&m, key, (size_t)n), i);
    assert_string_equal(strmap_key(&m, (uint32_t)i), key);
  }
  assert_int_equal(strmap_find(&m, "nope", 4), -1);
  /* keys with NUL bytes are distinct from their prefixes */
  int a = strmap_add(&m, "x\0y", 3, NULL), b = strmap_add(&m, "x", 1, NULL);
  assert_int_not_equal(a, b);
  assert_int_equal(strmap_find(&m, "x\0y", 3), a);
  strmap_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_basic),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_writer_roundtrip),
      cmocka_unit_test(test_strmap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
