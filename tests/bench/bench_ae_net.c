/*
** bench_ae_net.c — training and inference throughput of core/ae_net.c, the C side of
** tests/bench/torch_ae.py (same shapes, same synthetic data recipe, same JSON lines).
**
**   cc -O2 -Icore tests/bench/bench_ae_net.c build/libfgcore.a $(LIBS) -o build/bench_ae_net
**   build/bench_ae_net [--windows 20000] [--infer-windows 50000] [--threads 1,2]
**
** Shape: T = 10 steps, one categorical field of 63 slots + 1 numeric field (D = 64), H = 64, L = 1,
** one-hot input (E = 0). Training: batch 64, Adam (lr 0.005) after clipping at norm 5, as
** train.c does. Inference: ae_forward with window errors, batch 1024. For each thread count (set
** with openblas_set_num_threads) it prints one line
**   {"peer":"fnguard-core","threads":n,"train_windows_per_s":..,"infer_windows_per_s":..,
**    "sgemm_gflops":..,"train_gemm_gflops":..,"train_fraction_of_sgemm":..}
** where sgemm_gflops is OpenBLAS on 2048x2048 matrices (the roof) and train_gemm_gflops counts
** only the training step's sgemm FLOPs (gemm_flops below) over its whole time.
*/
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ae_net.h"

enum { T = 10, H = 64, V0 = 63, BT = 64, BI = 1024 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rs = 0x5eed;
static uint32_t rnd(void) {
  rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(rs >> 33);
}

/* nb batches of B windows, time-major, built before timing (the data pipeline is not measured).
** Windows follow a noisy cycle through the slots, with a number that tracks the slot: something
** an autoencoder can learn, like a function's call sequence and durations. */
typedef struct data {
  int nb, B;
  int32_t *cat, *len; /* [nb][T][B], [nb][B] */
  float *num;         /* [nb][T][B] */
} data;

static data make_data(int nb, int B) {
  data d = {nb, B, NULL, NULL, NULL};
  size_t n = (size_t)nb * T * B;
  d.cat = malloc(n * sizeof *d.cat);
  d.num = malloc(n * sizeof *d.num);
  d.len = malloc((size_t)nb * B * sizeof *d.len);
  if (!d.cat || !d.num || !d.len) exit(1);
  for (int k = 0; k < nb; k++)
    for (int b = 0; b < B; b++) {
      int id = 1 + (int)(rnd() % (V0 - 1)), stride = 1 + (int)(rnd() % 3);
      for (int t = 0; t < T; t++) {
        size_t i = ((size_t)k * T + t) * B + b;
        if (rnd() % 10 == 0) id = 1 + (int)(rnd() % (V0 - 1));
        d.cat[i] = rnd() % 50 == 0 ? 0 : id;
        d.num[i] = (float)id / V0 + 0.1f * ((float)(rnd() % 1000) / 1000.0f - 0.5f);
        id = 1 + (id - 1 + stride) % (V0 - 1);
      }
      d.len[(size_t)k * B + b] = T;
    }
  return d;
}

static ae_batch batch_of(const data *d, int k) {
  size_t off = (size_t)k * T * d->B;
  ae_batch b = {d->B, d->cat + off, d->num + off, NULL, d->len + (size_t)k * d->B};
  return b;
}

/* sgemm FLOPs (2 per multiply-add) of one training step (forward + backward) with all windows of
** full length, following ae_forward/ae_backward/lstm.c call by call. */
static double gemm_flops(const ae_shape *s, int B) {
  const double rows = (double)s->T * B, h = s->H, g = 4.0 * s->H, O = ae_output_width(s);
  const double rec = 2.0 * (s->T - 1) * B * h * g; /* h_{t-1} Wh over steps 1..T-1 */
  double f = 0, b = 0;
  for (int l = 0; l < s->L; l++) {
    f += 2 * rec;     /* encoder and decoder recurrent products */
    b += 2 * 2 * rec; /* their dh_{t-1} and dWh */
    if (l > 0) f += 2 * 2 * rows * h * g, b += 2 * 2 * 2 * rows * h * g; /* x Wx; dWx, dx */
  }
  f += 2.0 * B * h * g;      /* decoder layer 0: z Wx */
  b += 2 * 2.0 * B * h * g;  /* its dWx and dz */
  f += 2 * rows * h * O;     /* output layer */
  b += 2 * 2 * rows * h * O; /* dW_out, dh */
  if (s->E > 0) {
    double D = ae_input_width(s);
    f += 2 * rows * D * g, b += 2 * rows * D * g + 2 * rows * (double)s->C * s->E * g;
  }
  return f + b;
}

static double sgemm_gflops(void) {
  const int n = 2048;
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
  float *c = malloc(sizeof(float) * n * n);
  if (!a || !b || !c) exit(1);
  for (long i = 0; i < (long)n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t = now_s() - t0;
    best = t < best ? t : best;
  }
  free(a), free(b), free(c);
  return 2.0 * n * n * (double)n / best / 1e9;
}

int main(int argc, char **argv) {
  long train_windows = 20000, infer_windows = 50000;
  char threads_arg[64] = "1,2";
  int roof_on = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--windows") && i + 1 < argc)
      train_windows = atol(argv[++i]);
    else if (!strcmp(argv[i], "--infer-windows") && i + 1 < argc)
      infer_windows = atol(argv[++i]);
    else if (!strcmp(argv[i], "--no-roof"))
      roof_on = 0; /* for profiling the training alone */
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      snprintf(threads_arg, sizeof threads_arg, "%s", argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--windows N] [--infer-windows N] [--threads 1,2] [--no-roof]\n",
              argv[0]);
      return 2;
    }
  }
  ae_shape s = {.T = T, .H = H, .L = 1, .E = 0, .C = 1, .N = 1, .V = {V0}};
  fg_err err;
  if (ae_shape_check(&s, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  const int nbt = (int)((train_windows + BT - 1) / BT), nbi = (int)((infer_windows + BI - 1) / BI);
  const int nbt_data = nbt < 256 ? nbt : 256; /* training cycles over 256 distinct batches */
  data dt = make_data(nbt_data, BT), di = make_data(nbi, BI);
  const size_t np = ae_param_count(&s);
  float *params = malloc(np * sizeof(float)), *grads = malloc(np * sizeof(float));
  float *m = malloc(np * sizeof(float)), *v = malloc(np * sizeof(float));
  float *win = malloc(BI * sizeof(float));
  ae_work *wt = ae_work_new(&s, BT), *wi = ae_work_new(&s, BI);
  if (!params || !grads || !m || !v || !win || !wt || !wi) return 1;
  const double flops = gemm_flops(&s, BT);

  for (char *tok = strtok(threads_arg, ","); tok; tok = strtok(NULL, ",")) {
    int nt = atoi(tok);
    if (nt < 1) continue;
    openblas_set_num_threads(nt);
    double roof = roof_on ? sgemm_gflops() : NAN;
    ae_init(&s, params, 42);
    memset(m, 0, np * sizeof(float));
    memset(v, 0, np * sizeof(float));
    long step = 0;
    float first = 0, last = 0;
    /* Warm-up: 10 steps, not timed (page faults, OpenBLAS thread start). */
    for (int k = 0; k < 10; k++) {
      ae_batch b = batch_of(&dt, k % nbt_data);
      memset(grads, 0, np * sizeof(float));
      ae_forward(&s, params, &b, wt, NULL);
      ae_backward(&s, params, &b, wt, grads);
      ae_clip(grads, np, 5.0f);
      ae_adam(params, grads, m, v, np, 0.005f, 0.9f, 0.999f, 1e-8f, ++step);
    }
    double t0 = now_s();
    for (int k = 0; k < nbt; k++) {
      ae_batch b = batch_of(&dt, k % nbt_data);
      memset(grads, 0, np * sizeof(float));
      float l = ae_forward(&s, params, &b, wt, NULL);
      ae_backward(&s, params, &b, wt, grads);
      ae_clip(grads, np, 5.0f);
      ae_adam(params, grads, m, v, np, 0.005f, 0.9f, 0.999f, 1e-8f, ++step);
      if (k == 0) first = l;
      last = l;
    }
    double tt = now_s() - t0;
    ae_batch b0 = batch_of(&di, 0);
    ae_forward(&s, params, &b0, wi, win); /* warm-up */
    double t1 = now_s();
    for (int k = 0; k < nbi; k++) {
      ae_batch b = batch_of(&di, k);
      ae_forward(&s, params, &b, wi, win);
    }
    double ti = now_s() - t1;
    double train_gf = flops * nbt / tt / 1e9;
    fprintf(stderr, "threads %d: loss %.4f -> %.4f over %d steps; %.3f ms/step\n", nt, first, last,
            nbt, 1e3 * tt / nbt);
    printf(
        "{\"peer\":\"fnguard-core\",\"threads\":%d,\"train_windows_per_s\":%.1f,"
        "\"infer_windows_per_s\":%.1f,\"sgemm_gflops\":%.1f,\"train_gemm_gflops\":%.2f,"
        "\"train_fraction_of_sgemm\":%.4f}\n",
        nt, (double)nbt * BT / tt, (double)nbi * BI / ti, roof, train_gf, train_gf / roof);
    fflush(stdout);
  }
  ae_work_free(wt), ae_work_free(wi);
  free(params), free(grads), free(m), free(v), free(win);
  free(dt.cat), free(dt.num), free(dt.len), free(di.cat), free(di.num), free(di.len);
  return 0;
}
