/*
** bench_dbscan.c — how long the 1-D DBSCAN threshold takes on a million reconstruction errors.
**
**   cc -O2 -Icore tests/bench/bench_dbscan.c build/libfgcore.a -lm -o build/bench_dbscan
**   build/bench_dbscan            # prints one JSON line per measurement
**
** The data are log-normal (mu 0, sigma 0.5), the shape of reconstruction errors, from the same
** generator as tests/bench/sklearn_dbscan.py (splitmix64 + Box-Muller, seed 42), so the two
** programs cluster the same values. eps and min_pts are automatic (core/dbscan.h). Each time is
** the best of 3 runs, sort included:
**   {"bench":"dbscan_threshold_1e6","seconds":...,"n":...,"eps":...,"min_pts":...,"threshold":...}
** followed by the labelled clustering (what dbscan() in SQL does) at 1e4, 1e5 and 1e6 values, to
** set beside sklearn's times:
**   {"bench":"dbscan_labels_1e5","seconds":...,"n":...,"clusters":...,"noise":...}
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dbscan.h"

static uint64_t state;
static uint64_t splitmix64(void) {
  uint64_t z = (state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
/* Uniform in (0, 1): 53 random bits, offset by half a step so that 0 never comes out. */
static double u01(void) { return ((double)(splitmix64() >> 11) + 0.5) / 9007199254740992.0; }

/* n log-normal values; pairs of uniforms give one normal each (cosine branch of Box-Muller). */
static void lognormal(double *x, size_t n, uint64_t seed) {
  state = seed;
  for (size_t i = 0; i < n; i++) {
    double u = u01(), v = u01();
    x[i] = exp(0.5 * sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
  }
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
  const size_t big = 1000000;
  double *x = malloc(big * sizeof *x);
  int *labels = malloc(big * sizeof *labels);
  unsigned char *core = malloc(big);
  if (!x || !labels || !core) {
    fprintf(stderr, "bench_dbscan: out of memory\n");
    return 1;
  }
  lognormal(x, big, 42);
  fg_err err;
  fg_dbscan_info info;

  double best = INFINITY, thr = 0;
  for (int r = 0; r < 3; r++) {
    double t0 = now();
    int fallback;
    if (fg_dbscan_threshold(x, big, 0, 0, &thr, &fallback, &err)) {
      fprintf(stderr, "bench_dbscan: %s\n", err.msg);
      return 1;
    }
    best = fmin(best, now() - t0);
  }
  if (fg_dbscan_1d(x, big, 0, 0, NULL, NULL, &info, &err)) {
    fprintf(stderr, "bench_dbscan: %s\n", err.msg);
    return 1;
  }
  printf(
      "{\"bench\":\"dbscan_threshold_1e6\",\"seconds\":%.4f,\"n\":%zu,\"eps\":%.6g,"
      "\"min_pts\":%zu,\"threshold\":%.6g}\n",
      best, big, info.eps, info.min_pts, thr);
  fg_dbscan_info_free(&info);

  for (size_t n = 10000; n <= big; n *= 10) {
    lognormal(x, n, 42);
    best = INFINITY;
    for (int r = 0; r < 3; r++) {
      double t0 = now();
      if (fg_dbscan_1d(x, n, 0, 0, labels, core, &info, &err)) {
        fprintf(stderr, "bench_dbscan: %s\n", err.msg);
        return 1;
      }
      best = fmin(best, now() - t0);
      if (r < 2) fg_dbscan_info_free(&info);
    }
    printf(
        "{\"bench\":\"dbscan_labels_1e%d\",\"seconds\":%.4f,\"n\":%zu,\"eps\":%.6g,"
        "\"min_pts\":%zu,\"clusters\":%zu,\"noise\":%zu}\n",
        (int)lround(log10((double)n)), best, n, info.eps, info.min_pts, info.n_clusters,
        info.n_noise);
    fg_dbscan_info_free(&info);
  }
  free(x);
  free(labels);
  free(core);
  return 0;
}
