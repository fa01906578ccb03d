/* test_lstm.c — one LSTM layer (core/lstm.c): gradients by central differences, in both modes
** (input term in g plus the bias broadcast; no input term plus a per-window projection), with
** H = 11 so both the 8-lane vector path and the tail are used; the activations against libm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstm.h"

enum { T = 4, B = 3, H = 11, G = 4 * H };

typedef struct layer {
  float u[T * B * G]; /* the input term x_t Wx, copied into g before every forward */
  float wh[H * G];
  float add[B * G];   /* bias (row 0 only, add_ld = 0) or per-window projection */
  float r[T * B * H]; /* loss = sum(h * r) */
  float g[T * B * G], c[T * B * H], tc[T * B * H], h[T * B * H];
  int has_x, add_ld;
} layer;

static float urand(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((*s >> 40) & 0xFFFFFF) * 0x1p-24f * 2.0f - 1.0f;
}

static float run(layer *L) {
  memcpy(L->g, L->u, sizeof L->g);
  lstm_acts a = {L->g, L->c, L->tc, L->h};
  lstm_forward(&a, L->wh, L->add, L->add_ld, L->has_x, T, B, H);
  double loss = 0;
  for (int i = 0; i < T * B * H; i++) loss += (double)L->h[i] * L->r[i];
  return (float)loss;
}

/* Central difference of run() in one float, against the analytic value. */
static void check(layer *L, float *x, float ana, const char *what, int i, double *worst) {
  const float eps = 1e-2f, saved = *x;
  *x = saved + eps;
  float fp = run(L);
  *x = saved - eps;
  float fm = run(L);
  *x = saved;
  float num = (fp - fm) / (2 * eps);
  double err = fabs((double)num - ana), tol = 2e-4 + 1e-2 * fabs(ana);
  if (err / tol > *worst) *worst = err / tol;
  if (err > tol) fail_msg("%s[%d]: analytic %g, numeric %g", what, i, ana, num);
}

static void gradcheck(int has_x, int add_ld) {
  static layer L;
  uint64_t s = 7;
  memset(&L, 0, sizeof L);
  L.has_x = has_x;
  L.add_ld = add_ld;
  for (int i = 0; i < T * B * G; i++) L.u[i] = has_x ? urand(&s) : 0.0f;
  for (int i = 0; i < H * G; i++) L.wh[i] = 0.5f * urand(&s);
  for (int i = 0; i < (add_ld ? B : 1) * G; i++) L.add[i] = urand(&s);
  for (int i = 0; i < T * B * H; i++) L.r[i] = urand(&s);
  run(&L);
  static float dh[T * B * H], dg[T * B * G], dc[B * H], dwh[H * G], db[G];
  memcpy(dh, L.r, sizeof dh);
  memset(dwh, 0, sizeof dwh);
  memset(db, 0, sizeof db);
  lstm_acts a = {L.g, L.c, L.tc, L.h};
  lstm_backward(&a, L.wh, dh, dg, dc, dwh, db, T, B, H);
  double worst = 0;
  for (int i = 0; i < H * G; i++) check(&L, &L.wh[i], dwh[i], "dWh", i, &worst);
  if (has_x)
    for (int i = 0; i < T * B * G; i++) check(&L, &L.u[i], dg[i], "dg", i, &worst);
  if (add_ld == 0) {
    for (int j = 0; j < G; j++) check(&L, &L.add[j], db[j], "db", j, &worst);
  } else {
    /* d/d(add row b) = sum over steps of dg rows of window b. */
    for (int b = 0; b < B; b++)
      for (int j = 0; j < G; j++) {
        float sum = 0;
        for (int t = 0; t < T; t++) sum += dg[(t * B + b) * G + j];
        check(&L, &L.add[b * G + j], sum, "dadd", b * G + j, &worst);
      }
  }
  print_message("worst error / tolerance: %.3f\n", worst);
}

static void test_gradcheck_input(void **state) {
  (void)state;
  gradcheck(1, 0);
}

static void test_gradcheck_projection(void **state) {
  (void)state;
  gradcheck(0, G);
}

/* A forward by hand for T = 1 (h_{-1} = c_{-1} = 0): h = o tanh(i g). */
static void test_one_step_by_hand(void **state) {
  (void)state;
  float g[4] = {0.5f, -1.0f, 0.25f, 2.0f}, add[4] = {0.1f, 0.2f, 0.3f, 0.4f}, wh[4] = {0};
  float c, tc, h;
  lstm_acts a = {g, &c, &tc, &h};
  lstm_forward(&a, wh, add, 0, 1, 1, 1, 1);
  double i = 1 / (1 + exp(-0.6)), gg = tanh(0.55), o = 1 / (1 + exp(-2.4));
  assert_float_equal(c, i * gg, 1e-6);
  assert_float_equal(h, o * tanh(i * gg), 1e-6);
  assert_float_equal(g[0], i, 1e-6);
  assert_float_equal(g[3], o, 1e-6);
}

/* The vectorised activations against libm in double: relative error within a few float ulps
** (2^-23 = 1.2e-7) over the whole useful range, and NaN, infinities and extremes handled. */
static void test_activations(void **state) {
  (void)state;
  double worst_s = 0, worst_t = 0, worst_e = 0;
  static float xs[24001], ys[24001];
  int n = 0;
  for (int k = -12000; k <= 12000; k++) xs[n++] = (float)k * 0.0025f; /* -30 .. 30 */
  for (int i = 0; i < n; i++) {
    double x = xs[i], s = 1 / (1 + exp(-x)), t = tanh(x);
    double es = fabs(lstm_sigmoid(xs[i]) - s) / s;
    double et = t == 0 ? fabs((double)lstm_tanh(xs[i])) : fabs(lstm_tanh(xs[i]) - t) / fabs(t);
    if (es > worst_s) worst_s = es;
    if (et > worst_t) worst_t = et;
  }
  /* lstm_exp on arrays of every length up to 20 (full vectors and tails), and a long one. */
  for (int len = 1; len <= 20; len++) {
    for (int i = 0; i < len; i++) ys[i] = xs[i * 997 % n];
    lstm_exp(ys, len);
    for (int i = 0; i < len; i++) {
      double r = exp((double)xs[i * 997 % n]), e = fabs(ys[i] - r) / r;
      if (e > worst_e) worst_e = e;
    }
  }
  memcpy(ys, xs, sizeof ys);
  lstm_exp(ys, n);
  for (int i = 0; i < n; i++) {
    double r = exp((double)xs[i]), e = fabs(ys[i] - r) / r;
    if (e > worst_e) worst_e = e;
  }
  print_message("worst relative error: sigmoid %.3g, tanh %.3g, exp %.3g\n", worst_s, worst_t,
                worst_e);
  assert_true(worst_s < 3e-7);
  assert_true(worst_t < 3e-7);
  assert_true(worst_e < 3e-7);
  /* Tiny arguments keep their relative precision (no 1 - (1 - x) cancellation). */
  assert_float_equal(lstm_tanh(1e-6f), 1e-6f, 1e-13);
  assert_float_equal(lstm_tanh(-3e-20f), -3e-20f, 1e-27);
  /* Extremes saturate; NaN stays NaN (a diverging model must not look fine). */
  assert_float_equal(lstm_sigmoid(200.0f), 1.0f, 0);
  assert_true(lstm_sigmoid(-200.0f) >= 0.0f && lstm_sigmoid(-200.0f) < 1e-37f);
  assert_float_equal(lstm_tanh(200.0f), 1.0f, 0);
  assert_float_equal(lstm_tanh(-200.0f), -1.0f, 0);
  assert_float_equal(lstm_sigmoid(INFINITY), 1.0f, 0);
  assert_float_equal(lstm_tanh(-INFINITY), -1.0f, 0);
  assert_true(isnan(lstm_sigmoid(NAN)));
  assert_true(isnan(lstm_tanh(NAN)));
  float big[3] = {100.0f, -100.0f, NAN};
  lstm_exp(big, 3);
  assert_true(isfinite(big[0]) && big[0] > 1e38f);
  assert_true(big[1] >= 0.0f && big[1] < 1e-37f);
  assert_true(isnan(big[2]));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradcheck_input),
      cmocka_unit_test(test_gradcheck_projection),
      cmocka_unit_test(test_one_step_by_hand),
      cmocka_unit_test(test_activations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
