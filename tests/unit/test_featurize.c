/* test_featurize.c — vocabularies, scalers, kinds, batches and vocabulary growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "featurize.h"

static void add(fz *z, fz_data *d, fg_window *w, const char *json) {
  fg_err e;
  fg_err_clear(&e);
  if (fg_window_parse(w, json, strlen(json), &e) || fz_add(z, d, w, &e)) {
    print_error("%s: %s\n", json, e.msg);
    fail();
  }
}

static void test_vocab_and_scalers(void **state) {
  (void)state;
  fz z;
  fz_data d = {0};
  fg_window w;
  fz_init(&z);
  fg_window_init(&w);
  /* "read" x3, "open" x2, null x1, "close" x1, 7 (a number in a categorical field) x1 */
  add(&z, &d, &w, "{\"fields\":[\"k\",\"dur\"],\"steps\":[[\"open\",1],[\"read\",2],[\"read\",null]]}");
  add(&z, &d, &w, "{\"fields\":[\"k\",\"dur\"],\"steps\":[[\"read\",3],[null,4],[\"open\",5],[\"close\",6],[7,1000]]}");
  fg_err e;
  fg_err_clear(&e);
  assert_int_equal(fz_finish(&z, &d, 100, &e), 0);
  assert_int_equal(z.C, 1);
  assert_int_equal(z.N, 1);
  assert_int_equal(d.T, 5);
  const fz_field *k = &z.f[0], *dur = &z.f[1];
  assert_int_equal(k->vocab.n, 5);
  /* most frequent first; ties in byte order: "n" (null) < "s7" < "sclose" */
  size_t len;
  int isnull;
  assert_string_equal(fz_slot_text(k, 1, &len, &isnull), "read");
  assert_string_equal(fz_slot_text(k, 2, &len, &isnull), "open");
  fz_slot_text(k, 3, &len, &isnull);
  assert_int_equal(isnull, 1);
  assert_string_equal(fz_slot_text(k, 4, &len, &isnull), "7");
  assert_string_equal(fz_slot_text(k, 5, &len, &isnull), "close");
  assert_string_equal(fz_slot_text(k, 0, &len, &isnull), "<unknown>");
  /* dur: values 1,2,3,4,5,6,1000 are skewed (skewness ~2.0) and >= 0: log1p */
  assert_int_equal(dur->log, 1);
  double g[] = {1, 2, 3, 4, 5, 6, 1000}, m = 0, s = 0;
  for (int i = 0; i < 7; i++) m += log1p(g[i]) / 7;
  for (int i = 0; i < 7; i++) s += (log1p(g[i]) - m) * (log1p(g[i]) - m) / 6;
  assert_true(fabs(dur->mean - m) < 1e-12);
  assert_true(fabs(dur->std - sqrt(s)) < 1e-12);
  /* cells rewritten: window 0 step 0 = slot of "open" (2), scaled log1p(1) */
  assert_int_equal(d.cells[0].id, 2);
  assert_true(fabsf(d.cells[1].x - (float)((log1p(1) - m) / sqrt(s))) < 1e-6f);
  assert_true(isnan(d.cells[5].x)); /* window 0 step 2 dur = null */

  /* batches: time-major, padded past the window's length */
  fz_batch b;
  assert_int_equal(fz_batch_alloc(&b, 5, 1, 1, 4), 0);
  fz_batch_begin(&b, 2);
  fz_batch_set_data(&z, &b, 0, &d, 0);
  fz_batch_set_data(&z, &b, 1, &d, 1);
  assert_int_equal(b.len[0], 3);
  assert_int_equal(b.len[1], 5);
  assert_int_equal(b.cat[0 * 2 + 0], 2);  /* t0 b0 open */
  assert_int_equal(b.cat[0 * 2 + 1], 1);  /* t0 b1 read */
  assert_int_equal(b.cat[3 * 2 + 0], 0);  /* t3 b0 padding */
  assert_int_equal(b.ok[2 * 2 + 0], 0);   /* t2 b0 null dur */
  assert_int_equal(b.ok[1 * 2 + 1], 1);
  /* scoring-time featurization: an unseen value maps to slot 0, a string in a numeric field to
  ** the clamp, not an error */
  fg_err_clear(&e);
  const char *probe = "{\"fields\":[\"k\",\"dur\"],\"steps\":[[\"evil\",\"x\"],[\"read\",-5]]}";
  assert_int_equal(fg_window_parse(&w, probe, strlen(probe), &e), 0);
  assert_int_equal(fz_check_fields(&z, &w, &e), 0);
  fz_batch_begin(&b, 1);
  fz_batch_set_window(&z, &b, 0, &w);
  assert_int_equal(b.cat[0], 0);
  assert_true(b.num[0] == FZ_CLAMP);
  assert_int_equal(b.cat[1], 1);
  assert_true(fabsf(b.num[1] - (float)((0 - m) / sqrt(s))) < 1e-6f); /* negative clamped to 0 */
  fz_batch_free(&b);

  /* vocabulary growth for delta updates */
  fz_data d2 = {0};
  fg_err_clear(&e);
  const char *grow = "{\"fields\":[\"k\",\"dur\"],\"steps\":[[\"new\",1],[\"read\",2]]}";
  assert_int_equal(fg_window_parse(&w, grow, strlen(grow), &e), 0);
  assert_int_equal(fz_add_grow(&z, &d2, &w, 100, &e), 0);
  assert_int_equal(k->vocab.n, 6);
  assert_int_equal(d2.cells[0].id, 6);
  assert_int_equal(d2.cells[2].id, 1);
  fz_data_free(&d2);

  fz_free(&z);
  fz_data_free(&d);
  fg_window_free(&w);
}

static void test_errors_and_caps(void **state) {
  (void)state;
  fz z;
  fz_data d = {0};
  fg_window w;
  fg_err e;
  fz_init(&z);
  fg_window_init(&w);
  add(&z, &d, &w, "{\"fields\":[\"a\",\"b\"],\"steps\":[[1,null]]}");
  const char *bad = "{\"fields\":[\"a\",\"b\"],\"steps\":[[2,\"x\"],[\"s\",1]]}";
  fg_err_clear(&e);
  assert_int_equal(fg_window_parse(&w, bad, strlen(bad), &e), 0);
  assert_int_equal(fz_add(&z, &d, &w, &e), FG_EINVAL);
  assert_string_equal(e.msg, "field 'a' is numeric, but window 2 step 2 has the string 's'");
  const char *other = "{\"fields\":[\"a\",\"c\"],\"steps\":[[1,2]]}";
  fg_err_clear(&e);
  assert_int_equal(fg_window_parse(&w, other, strlen(other), &e), 0);
  assert_int_equal(fz_add(&z, &d, &w, &e), FG_EINVAL);
  assert_string_equal(e.msg, "window 2: window fields (a,c) differ from the model's fields (a,b)");
  fz_free(&z);
  fz_data_free(&d);

  /* vocab cap: rarer values map to unknown (slot 0); a field of nulls first then strings */
  fz_init(&z);
  memset(&d, 0, sizeof d);
  char buf[128];
  for (int i = 0; i < 5; i++)
    for (int r = 0; r <= i; r++) {
      snprintf(buf, sizeof buf, "{\"fields\":[\"k\",\"late\"],\"steps\":[[\"v%d\",%s]]}", i, i < 2 ? "null" : "\"z\"");
      add(&z, &d, &w, buf);
    }
  fg_err_clear(&e);
  assert_int_equal(fz_finish(&z, &d, 3, &e), 0);
  assert_int_equal(z.f[0].vocab.n, 3);                 /* v4, v3, v2 kept */
  assert_int_equal(d.cells[0].id, 0);                  /* v0 (once) → unknown */
  assert_int_equal(z.f[1].kind, FZ_CAT);
  assert_int_equal(z.f[1].vocab.n, 2);                 /* "z" x12 then null x3 */
  size_t len;
  int isnull;
  fz_slot_text(&z.f[1], d.cells[1].id, &len, &isnull);
  assert_int_equal(isnull, 1);
  fz_free(&z);
  fz_data_free(&d);
  fg_window_free(&w);
}

/* log_std_min: a nearly constant count (1 x 98, 2 x 2) is log-scaled with a tiny std; the
** floor raises it, and leaves a field whose std is above it, and an unscaled field, alone. */
static void test_log_std_min(void **state) {
  (void)state;
  /* 0: no floor; 1: every log-scaled field's; 2: rate's own (fz_field.log_std_min) */
  for (int floor_on = 0; floor_on <= 2; floor_on++) {
    fz z;
    fz_data d = {0};
    fg_window w;
    fz_init(&z);
    fg_window_init(&w);
    z.log_std_min = floor_on == 1 ? 0.5 : 0;
    char buf[160];
    for (int i = 0; i < 100; i++) {
      /* rate: 1, twice 2 (log1p); wide: 1 .. 1e5 spread (log1p, std > 0.5); lin: 10, 11 (no log) */
      snprintf(buf, sizeof buf, "{\"fields\":[\"rate\",\"wide\",\"lin\"],\"steps\":[[%d,%g,%d]]}",
               i % 50 == 0 ? 2 : 1, pow(10, i % 6), 10 + i % 2);
      add(&z, &d, &w, buf);
    }
    if (floor_on == 2) z.f[0].log_std_min = 0.5, z.f[1].log_std_min = 0;
    fg_err e;
    fg_err_clear(&e);
    assert_int_equal(fz_finish(&z, &d, 100, &e), 0);
    const fz_field *rate = &z.f[0], *wide = &z.f[1], *lin = &z.f[2];
    assert_int_equal(rate->log, 1);
    assert_int_equal(wide->log, 1);
    assert_int_equal(lin->log, 0);
    double m = (98 * log1p(1) + 2 * log1p(2)) / 100, v = 0;
    v = (98 * (log1p(1) - m) * (log1p(1) - m) + 2 * (log1p(2) - m) * (log1p(2) - m)) / 99;
    assert_true(sqrt(v) < 0.06);
    assert_true(fabs(rate->std - (floor_on ? 0.5 : sqrt(v))) < 1e-12);
    assert_true(wide->std > 1.0);                   /* above the floor: its own */
    assert_true(fabs(lin->std - sqrt(100.0 / 4 / 99)) < 1e-12); /* 0.5025: not log, no floor */
    /* the scaled cell of a 2 follows the std: (log1p(2) - m) / std */
    float want = (float)((log1p(2) - m) / rate->std);
    assert_true(fabsf(d.cells[0].x - (want > FZ_CLAMP ? FZ_CLAMP : want)) < 1e-5f);
    fz_free(&z);
    fz_data_free(&d);
    fg_window_free(&w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vocab_and_scalers),
      cmocka_unit_test(test_errors_and_caps),
      cmocka_unit_test(test_log_std_min),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
