/* test_ae_reference.c — core/ae_net.c against PyTorch: loads tests/reference/ae_reference.bin
** (written by tests/reference/ae_reference.py, layout in tests/reference/README.md; run from the
** repo root), and checks the window errors, the loss, every parameter gradient and the losses of
** 5 Adam steps with clipping.
**
** Tolerance: |c - ref| <= 1e-5 + 1e-4 |ref| for window errors, the loss and the Adam losses, and
** 1e-6 + 1e-4 |ref| for gradients (elements are ~1e-3; the observed error is ~1e-8). The reference
** is float64 on the same float32 parameters, so the differences are the C code's float32 rounding
** (and BLAS summation order). The file is committed: a missing file is a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ae_net.h"

#define REF_PATH "tests/reference/ae_reference.bin"

typedef struct reader {
  const unsigned char *p, *end;
} reader;

/* Takes n bytes, or fails the test if the file is shorter. */
static const void *take(reader *r, size_t n) {
  if ((size_t)(r->end - r->p) < n) fail_msg("%s is truncated", REF_PATH);
  const void *q = r->p;
  r->p += n;
  return q;
}

static int32_t rd_i32(reader *r) {
  int32_t x;
  memcpy(&x, take(r, 4), 4); /* the file is little-endian, like every platform we build on */
  return x;
}

static float rd_f32(reader *r) {
  float x;
  memcpy(&x, take(r, 4), 4);
  return x;
}

/* Copies n elements of size sz into a fresh (aligned) allocation. */
static void *rd_array(reader *r, size_t n, size_t sz) {
  void *a = malloc(n * sz + 1);
  assert_non_null(a);
  memcpy(a, take(r, n * sz), n * sz);
  return a;
}

static int close_enough(double c, double ref, double rtol, double atol) {
  return fabs(c - ref) <= atol + rtol * fabs(ref);
}

static void check_config(reader *r, int k) {
  ae_shape s;
  memset(&s, 0, sizeof s);
  s.T = rd_i32(r), s.H = rd_i32(r), s.L = rd_i32(r), s.E = rd_i32(r);
  s.C = rd_i32(r), s.N = rd_i32(r);
  const int B = rd_i32(r);
  fg_err e;
  if (s.C < 0 || s.C > AE_MAX_FIELDS) fail_msg("config %d: bad C=%d", k, s.C);
  for (int c = 0; c < s.C; c++) s.V[c] = rd_i32(r);
  if (ae_shape_check(&s, &e)) fail_msg("config %d: %s", k, e.msg);
  const int steps = rd_i32(r);
  const float lr = rd_f32(r), clip = rd_f32(r);
  uint64_t np;
  memcpy(&np, take(r, 8), 8);
  assert_int_equal(np, ae_param_count(&s));
  const size_t T = (size_t)s.T, C = (size_t)s.C, N = (size_t)s.N, P = (size_t)np;
  float *params = rd_array(r, P, 4);
  int32_t *cat = rd_array(r, T * B * C, 4);
  float *num = rd_array(r, T * B * N, 4);
  uint8_t *ok = rd_array(r, T * B * N, 1);
  int32_t *len = rd_array(r, (size_t)B, 4);
  float *win_ref = rd_array(r, (size_t)B, 4);
  const float loss_ref = rd_f32(r);
  float *grad_ref = rd_array(r, P, 4);
  float *losses_ref = rd_array(r, (size_t)steps, 4);
  print_message("config %d: T=%d H=%d L=%d E=%d C=%d N=%d B=%d, %zu params\n", k, s.T, s.H, s.L,
                s.E, s.C, s.N, B, P);

  ae_work *w = ae_work_new(&s, B);
  assert_non_null(w);
  ae_batch b = {B, cat, num, ok, len};
  float *grads = calloc(P, sizeof(float)), *win = malloc((size_t)B * sizeof(float));
  const float loss = ae_forward(&s, params, &b, w, win);
  ae_backward(&s, params, &b, w, grads);
  print_message("  loss %.7f (PyTorch %.7f)\n", loss, loss_ref);
  if (!close_enough(loss, loss_ref, 1e-4, 1e-5))
    fail_msg("loss %.7g, PyTorch %.7g", loss, loss_ref);
  for (int i = 0; i < B; i++)
    if (!close_enough(win[i], win_ref[i], 1e-4, 1e-5))
      fail_msg("window %d error %.7g, PyTorch %.7g", i, win[i], win_ref[i]);
  double worst = 0;
  for (size_t i = 0; i < P; i++) {
    double err = fabs((double)grads[i] - grad_ref[i]) / (1e-6 + 1e-4 * fabs(grad_ref[i]));
    if (err > worst) worst = err;
    if (err > 1) fail_msg("gradient %zu: %.7g, PyTorch %.7g", i, grads[i], grad_ref[i]);
  }
  print_message("  gradients: worst error / tolerance %.3f\n", worst);

  /* Adam with clipping, as in the reference: the loss after each update. */
  float *m = calloc(P, sizeof(float)), *v = calloc(P, sizeof(float));
  for (int t = 1; t <= steps; t++) {
    memset(grads, 0, P * sizeof(float));
    ae_forward(&s, params, &b, w, NULL);
    ae_backward(&s, params, &b, w, grads);
    ae_clip(grads, P, clip);
    ae_adam(params, grads, m, v, P, lr, 0.9f, 0.999f, 1e-8f, t);
    float l = ae_forward(&s, params, &b, w, NULL);
    print_message("  Adam step %d: loss %.7f (PyTorch %.7f)\n", t, l, losses_ref[t - 1]);
    if (!close_enough(l, losses_ref[t - 1], 1e-4, 1e-5))
      fail_msg("loss after Adam step %d: %.7g, PyTorch %.7g", t, l, losses_ref[t - 1]);
  }
  free(m);
  free(v);
  free(grads);
  free(win);
  ae_work_free(w);
  free(params);
  free(cat);
  free(num);
  free(ok);
  free(len);
  free(win_ref);
  free(grad_ref);
  free(losses_ref);
}

static void test_against_pytorch(void **state) {
  (void)state;
  FILE *f = fopen(REF_PATH, "rb");
  if (!f)
    fail_msg("cannot open %s (run the tests from the repo root; the file is committed)", REF_PATH);
  static unsigned char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  assert_true(n < sizeof buf);
  reader r = {buf, buf + n};
  if (memcmp(take(&r, 8), "FGAEREF\0", 8)) fail_msg("%s: bad magic", REF_PATH);
  assert_int_equal(rd_i32(&r), 1); /* version */
  const int nconf = rd_i32(&r);
  assert_int_equal(nconf, 2);
  for (int k = 0; k < nconf; k++) check_config(&r, k);
  assert_ptr_equal(r.p, r.end);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_against_pytorch)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
