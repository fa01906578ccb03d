/* test_model.c — training end to end in C, model BLOB round trip, determinism, and thousands of
** corrupted BLOBs fed to the loader (it must reject them cleanly, never crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "model.h"
#include "rng.h"
#include "train.h"

/* A toy sequence source: sessions cycling open, read, read, close with durations per key. */
static void make_data(fz *z, fz_data *d, int n_windows, int T) {
  fz_init(z);
  memset(d, 0, sizeof *d);
  fg_window w;
  fg_window_init(&w);
  static const char *keys[] = {"open", "read", "read", "close"};
  char buf[4096];
  fg_err e;
  for (int i = 0; i < n_windows; i++) {
    int n = snprintf(buf, sizeof buf, "{\"fields\":[\"key\",\"ms\"],\"steps\":[");
    int len = 1 + i % T;
    for (int t = 0; t < len; t++) {
      int k = (i + t) % 4;
      n += snprintf(buf + n, sizeof buf - (size_t)n, "%s[\"%s\",%d]", t ? "," : "", keys[k], 10 * k + (i * 7 + t) % 5);
    }
    n += snprintf(buf + n, sizeof buf - (size_t)n, "]}");
    fg_err_clear(&e);
    assert_int_equal(fg_window_parse(&w, buf, (size_t)n, &e), 0);
    assert_int_equal(fz_add(z, d, &w, &e), 0);
  }
  fg_err_clear(&e);
  assert_int_equal(fz_finish(z, d, 100, &e), 0);
  fg_window_free(&w);
}

static fg_model *train_toy(unsigned char **blob, size_t *len, uint64_t seed) {
  fz z;
  fz_data d;
  make_data(&z, &d, 300, 6);
  fg_train_opts o;
  fg_train_opts_default(&o);
  o.hidden = 8;
  o.epochs = 4;
  o.seed = seed;
  o.batch = 32;
  fg_model *m = NULL;
  fg_err e;
  fg_err_clear(&e);
  if (fg_train(&z, &d, &o, NULL, NULL, &m, &e)) {
    print_error("%s\n", e.msg);
    fail();
  }
  assert_int_equal(fg_model_save(m, blob, len, &e), 0);
  fz_free(&z);
  fz_data_free(&d);
  return m;
}

static void test_train_roundtrip_determinism(void **state) {
  (void)state;
  unsigned char *b1, *b2, *b3, *b4;
  size_t n1, n2, n3, n4;
  fg_model *m1 = train_toy(&b1, &n1, 7), *m2 = train_toy(&b2, &n2, 7), *m3 = train_toy(&b3, &n3, 8);
  assert_int_equal(m1->epochs_run, 4);
  assert_true(m1->train_loss[3] < m1->train_loss[0]); /* it learns */
  /* same seed, same bytes; other seed, other bytes */
  assert_int_equal(n1, n2);
  assert_memory_equal(b1, b2, n1);
  assert_true(n1 != n3 || memcmp(b1, b3, n1) != 0);
  /* load → save reproduces the BLOB exactly */
  fg_model *l;
  fg_err e;
  fg_err_clear(&e);
  assert_int_equal(fg_model_load(b1, n1, &l, &e), 0);
  assert_int_equal(l->n_params, m1->n_params);
  assert_memory_equal(l->params, m1->params, m1->n_params * sizeof(float));
  assert_int_equal(l->z.f[0].vocab.n, m1->z.f[0].vocab.n);
  assert_true(l->z.f[1].mean == m1->z.f[1].mean && l->z.f[1].std == m1->z.f[1].std);
  assert_int_equal(fg_model_save(l, &b4, &n4, &e), 0);
  assert_int_equal(n4, n1);
  assert_memory_equal(b4, b1, n1);
  char *info = fg_model_info(l);
  assert_non_null(strstr(info, "\"window\":6"));
  assert_non_null(strstr(info, "\"vocab\":{\"key\":3}"));
  free(info);
  fg_model_free(l);
  fg_model_free(m1);
  fg_model_free(m2);
  fg_model_free(m3);
  free(b1), free(b2), free(b3), free(b4);
}

static void refresh_crc(unsigned char *b, size_t n);
/* The last occurrence of s in b (memmem is a GNU extension). */
static unsigned char *find(unsigned char *b, size_t n, const char *s) {
  size_t k = strlen(s);
  for (size_t i = n >= k ? n - k + 1 : 0; i-- > 0;)
    if (!memcmp(b + i, s, k)) return b + i;
  return NULL;
}
static void expect_reject(const unsigned char *b, size_t n, const char *want);

/* The numeric error cap is part of the model: set by the option, kept by save and load, refused
** when a BLOB says 0 or a update tries to change it; models without it carry no num_cap key. */
static void test_num_cap(void **state) {
  (void)state;
  unsigned char *b0, *b1, *b2;
  size_t n0, n1, n2;
  fg_model *m0 = train_toy(&b0, &n0, 7);
  assert_null(find(b0, n0, "num_cap"));
  fz z;
  fz_data d;
  make_data(&z, &d, 300, 6);
  fg_train_opts o;
  fg_err e;
  fg_err_clear(&e);
  fg_train_opts_default(&o);
  assert_int_equal(fg_train_opts_parse(&o, "{\"hidden\":8,\"epochs\":2,\"num_cap\":2}", &e), 0);
  assert_true(o.num_cap == 2.0);
  fg_model *m1 = NULL;
  assert_int_equal(fg_train(&z, &d, &o, NULL, NULL, &m1, &e), 0);
  assert_true(m1->s.num_cap == 2.0f);
  assert_non_null(strstr(m1->options, "\"num_cap\":2"));
  assert_int_equal(fg_model_save(m1, &b1, &n1, &e), 0);
  fg_model *l = NULL;
  assert_int_equal(fg_model_load(b1, n1, &l, &e), 0);
  assert_true(l->s.num_cap == 2.0f);
  assert_int_equal(fg_model_save(l, &b2, &n2, &e), 0);
  assert_int_equal(n2, n1);
  assert_memory_equal(b2, b1, n1);
  /* An update keeps the cap; asking for another one is an error, not a silent change. */
  o.num_cap = 3;
  assert_int_equal(fg_update(l, &d, &o, NULL, NULL, &e), FG_EINVAL);
  assert_non_null(strstr(e.msg, "num_cap"));
  /* A BLOB whose cap is 0 (a cap that is present must be positive), checksum fixed up. The
  ** last "num_cap" is the model's own key (the first is in the training options' record). */
  unsigned char *at = find(b1, n1, "\"num_cap\":2.0");
  assert_non_null(at);
  at[10] = '0';
  refresh_crc(b1, n1);
  expect_reject(b1, n1, "num_cap");
  fg_model_free(l);
  fg_model_free(m0);
  fg_model_free(m1);
  fz_free(&z);
  fz_data_free(&d);
  free(b0), free(b1), free(b2);
}

static void refresh_crc(unsigned char *b, size_t n) {
  if (n < 24) return;
  uint32_t c = (uint32_t)crc32(0L, b + 16, (uInt)(n - 16));
  b[12] = (unsigned char)c, b[13] = (unsigned char)(c >> 8), b[14] = (unsigned char)(c >> 16), b[15] = (unsigned char)(c >> 24);
}

static void set_len(unsigned char *b, size_t n) {
  for (int i = 0; i < 8; i++) b[16 + i] = (unsigned char)((uint64_t)n >> (8 * i));
}

static void expect_reject(const unsigned char *b, size_t n, const char *want) {
  fg_model *m = NULL;
  fg_err e;
  fg_err_clear(&e);
  int rc = fg_model_load(b, n, &m, &e);
  if (rc == 0) {
    fg_model_free(m);
    print_error("a corrupted BLOB was accepted\n");
    fail();
  }
  assert_int_equal(rc, FG_ECORRUPT);
  assert_non_null(strstr(e.msg, "not a valid fnguard model"));
  if (want && !strstr(e.msg, want)) {
    print_error("message '%s' lacks '%s'\n", e.msg, want);
    fail();
  }
}

static void test_hostile_blobs(void **state) {
  (void)state;
  unsigned char *b;
  size_t n;
  fg_model *m = train_toy(&b, &n, 3);
  fg_model_free(m);
  unsigned char *c = malloc(n + 64);
  /* specific failures with specific messages */
  expect_reject(b, 10, "too short");
  memcpy(c, b, n);
  c[0] = 'X';
  expect_reject(c, n, "wrong magic");
  memcpy(c, b, n);
  c[8] = 9;
  expect_reject(c, n, "format version 9");
  expect_reject(b, n - 1, "truncated");
  memcpy(c, b, n);
  c[n - 1] ^= 1;
  expect_reject(c, n, "checksum mismatch");
  /* a NaN weight with a valid checksum */
  memcpy(c, b, n);
  uint32_t nan_bits = 0x7fc00000;
  memcpy(c + n - 4, &nan_bits, 4);
  refresh_crc(c, n);
  expect_reject(c, n, "not finite");
  /* metadata length pointing past the end */
  memcpy(c, b, n);
  c[24] = 0xff, c[25] = 0xff, c[26] = 0xff, c[27] = 0x7f;
  refresh_crc(c, n);
  expect_reject(c, n, "metadata length");
  /* extra bytes at the end (length and CRC consistent) */
  memcpy(c, b, n);
  memset(c + n, 0, 8);
  set_len(c, n + 8);
  refresh_crc(c, n + 8);
  expect_reject(c, n + 8, "parameter block has");

  /* Thousands of random corruptions: byte flips, truncations, insertions — half with the CRC and
  ** length fixed up so the deeper checks are reached. None may crash or be accepted unless it
  ** decodes to a model that is internally consistent (a flip inside a float can do that). */
  fg_rng r = {12345};
  int accepted = 0;
  for (int it = 0; it < 4000; it++) {
    size_t len = n;
    memcpy(c, b, n);
    int kind = (int)fg_rng_below(&r, 3);
    if (kind == 0) {
      int flips = 1 + (int)fg_rng_below(&r, 4);
      for (int k = 0; k < flips; k++) c[24 + fg_rng_below(&r, n - 24)] ^= (unsigned char)(1u << fg_rng_below(&r, 8));
    } else if (kind == 1) {
      len = 24 + (size_t)fg_rng_below(&r, n - 24);
    } else {
      size_t at = 24 + (size_t)fg_rng_below(&r, n - 24), extra = 1 + (size_t)fg_rng_below(&r, 16);
      memmove(c + at + extra, c + at, n - at);
      for (size_t k = 0; k < extra; k++) c[at + k] = (unsigned char)fg_rng_next(&r);
      len = n + extra;
    }
    if (it % 2) {
      set_len(c, len);
      refresh_crc(c, len);
    }
    fg_model *x = NULL;
    fg_err e;
    fg_err_clear(&e);
    if (fg_model_load(c, len, &x, &e) == 0) {
      /* Only flips inside the weights or scalers can decode: the model must still be usable. */
      assert_int_equal(len, n);
      accepted++;
      char *info = fg_model_info(x);
      assert_non_null(info);
      free(info);
      fg_model_free(x);
    } else {
      assert_true(e.msg[0] != 0);
    }
  }
  print_message("accepted %d of 4000 corrupted BLOBs (all of them weight/scaler flips with a fixed CRC)\n", accepted);
  free(c);
  free(b);
}

/* log_std_min is a training option: parsed in range, recorded in the model's options only when
** set (older option records keep their bytes), and applied to the scalers (featurize.c). */
static void test_log_std_min_option(void **state) {
  (void)state;
  fg_train_opts o;
  fg_err e;
  fg_err_clear(&e);
  fg_train_opts_default(&o);
  char *j0 = fg_train_opts_json(&o);
  assert_null(strstr(j0, "log_std_min"));
  free(j0);
  assert_int_equal(fg_train_opts_parse(&o, "{\"log_std_min\":0.5}", &e), 0);
  assert_true(o.log_std_min == 0.5);
  char *j1 = fg_train_opts_json(&o);
  assert_non_null(strstr(j1, "\"log_std_min\":0.5"));
  free(j1);
  assert_int_equal(fg_train_opts_parse(&o, "{\"log_std_min\":-1}", &e), FG_EINVAL);
  assert_string_equal(e.msg, "option 'log_std_min' must be in [0, 100], got -1");
  fg_err_clear(&e);
  assert_int_equal(fg_train_opts_parse(&o, "{\"log_std_min\":\"big\"}", &e), FG_EINVAL);
  assert_string_equal(e.msg, "option 'log_std_min' must be a number");
  /* Per field: {"field": floor}; recorded as given; applied to the fields named, an unknown
  ** one is an error. */
  fg_err_clear(&e);
  fg_train_opts_default(&o);
  assert_int_equal(fg_train_opts_parse(&o, "{\"log_std_min\":{\"rate\":0.5,\"ms\":0.25}}", &e), 0);
  assert_int_equal(o.n_std_min, 2);
  char *j2 = fg_train_opts_json(&o);
  assert_non_null(strstr(j2, "\"log_std_min\":{\"ms\":0.25,\"rate\":0.5}"));
  free(j2);
  fz z;
  fz_init(&z);
  z.F = 3;
  strcpy(z.f[0].name, "key"), strcpy(z.f[1].name, "ms"), strcpy(z.f[2].name, "rate");
  assert_int_equal(fg_train_apply_std_min(&o, &z, &e), 0);
  assert_true(z.log_std_min == 0 && z.f[0].log_std_min == 0 && z.f[1].log_std_min == 0.25 && z.f[2].log_std_min == 0.5);
  strcpy(z.f[2].name, "other");
  assert_int_equal(fg_train_apply_std_min(&o, &z, &e), FG_EINVAL);
  assert_string_equal(e.msg, "option 'log_std_min' names field 'rate', which the windows do not have");
  fg_err_clear(&e);
  assert_int_equal(fg_train_opts_parse(&o, "{\"log_std_min\":{\"rate\":-1}}", &e), FG_EINVAL);
  assert_string_equal(e.msg, "option 'log_std_min': field 'rate' must have a number in [0, 100]");
  /* A field name longer than a field can be, and more fields than a window can have. */
  char text[4096];
  int n = snprintf(text, sizeof text, "{\"log_std_min\":{\"");
  for (int i = 0; i < 130; i++) text[n++] = 'f';
  snprintf(text + n, sizeof text - (size_t)n, "\":1}}");
  fg_err_clear(&e);
  assert_int_equal(fg_train_opts_parse(&o, text, &e), FG_EINVAL);
  assert_non_null(strstr(e.msg, "is too long"));
  n = snprintf(text, sizeof text, "{\"log_std_min\":{");
  for (int i = 0; i <= FG_WINDOW_MAX_FIELDS; i++) n += snprintf(text + n, sizeof text - (size_t)n, "%s\"f%d\":1", i ? "," : "", i);
  snprintf(text + n, sizeof text - (size_t)n, "}}");
  fg_err_clear(&e);
  assert_int_equal(fg_train_opts_parse(&o, text, &e), FG_EINVAL);
  assert_string_equal(e.msg, "option 'log_std_min' names more than 64 fields");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_train_roundtrip_determinism),
      cmocka_unit_test(test_hostile_blobs),
      cmocka_unit_test(test_num_cap),
      cmocka_unit_test(test_log_std_min_option),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
