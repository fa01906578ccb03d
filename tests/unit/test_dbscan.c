/*
** test_dbscan.c — core/dbscan: hand-worked 1-D and n-D cases, both paths against brute-force
** references written here (O(n^2) each, with union-find instead of sweeps and searches), the
** automatic parameters, and the threshold on skewed data with planted outliers.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dbscan.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s; }
static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
static double rng_u01(void) { return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0; }
static double rng_normal(void) {
  return sqrt(-2 * log(rng_u01())) * cos(6.283185307179586 * rng_u01());
}
static size_t rng_below(size_t n) { return (size_t)(rng_next() % n); }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double *sorted_copy(const double *x, size_t n) {
  double *s = malloc(n * sizeof *s);
  assert_non_null(s);
  memcpy(s, x, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_double);
  return s;
}

/* Union-find over n items. */
static size_t uf_find(size_t *p, size_t i) {
  while (p[i] != i) i = p[i] = p[p[i]];
  return i;
}
static void uf_union(size_t *p, size_t a, size_t b) {
  a = uf_find(p, a);
  b = uf_find(p, b);
  if (a != b) p[a > b ? a : b] = a < b ? a : b; /* the smaller index is the root */
}

/*
** Brute-force DBSCAN over a distance function, as the header states the rules: neighbourhood
** <= eps including the point, core if >= min_pts, components of core points, border points to
** the nearest core point with ties to the smaller cluster. `rank(members of a component)` orders
** clusters: by_value (1-D: smallest core value) or by first member index (n-D).
*/
typedef double (*dist_fn)(const double *pts, size_t d, size_t i, size_t j);
static double dist_1d(const double *x, size_t d, size_t i, size_t j) {
  (void)d;
  return fabs(x[i] - x[j]);
}
static double dist2_nd(const double *p, size_t d, size_t i, size_t j) {
  double s = 0;
  for (size_t k = 0; k < d; k++) s += (p[i * d + k] - p[j * d + k]) * (p[i * d + k] - p[j * d + k]);
  return s;
}

static void brute_dbscan(const double *pts, size_t n, size_t d, dist_fn dist, double eps,
                         size_t min_pts, int by_value, int *labels, unsigned char *core) {
  size_t *parent = malloc(n * sizeof *parent);
  int *cid = malloc(n * sizeof *cid);
  assert_non_null(parent);
  assert_non_null(cid);
  for (size_t i = 0; i < n; i++) {
    size_t c = 0;
    for (size_t j = 0; j < n; j++) c += dist(pts, d, i, j) <= eps;
    core[i] = c >= min_pts;
    parent[i] = i;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t j = i + 1; j < n; j++) {
      if (core[i] && core[j] && dist(pts, d, i, j) <= eps) uf_union(parent, i, j);
    }
  }
  /* Provisional cluster ids: components ranked by their smallest core value (1-D) or their
  ** smallest core index (n-D, the order in which the library starts its searches). */
  int nc = 0;
  for (size_t i = 0; i < n; i++) cid[i] = -1;
  for (;;) {
    size_t pick = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
      if (!core[i] || cid[uf_find(parent, i)] >= 0) continue;
      if (pick == SIZE_MAX || (by_value && pts[i] < pts[pick])) pick = i;
    }
    if (pick == SIZE_MAX) break;
    cid[uf_find(parent, pick)] = nc++;
  }
  for (size_t i = 0; i < n; i++) {
    labels[i] = core[i] ? cid[uf_find(parent, i)] : -1;
  }
  for (size_t i = 0; i < n; i++) {
    if (core[i]) continue;
    double best = INFINITY;
    for (size_t j = 0; j < n; j++) {
      if (!core[j]) continue;
      double dd = dist(pts, d, i, j);
      int c = cid[uf_find(parent, j)];
      if (dd <= eps && (labels[i] < 0 || dd < best || (dd == best && c < labels[i]))) {
        best = dd;
        labels[i] = c;
      }
    }
  }
  if (!by_value) { /* renumber by first member */
    int *map = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *map);
    assert_non_null(map);
    for (int c = 0; c < nc; c++) map[c] = -1;
    int next = 0;
    for (size_t i = 0; i < n; i++) {
      if (labels[i] < 0) continue;
      if (map[labels[i]] < 0) map[labels[i]] = next++;
      labels[i] = map[labels[i]];
    }
    free(map);
  }
  free(parent);
  free(cid);
}

/* ---- hand-worked 1-D cases ---------------------------------------------------------------- */

static void test_hand_basic(void **state) {
  (void)state;
  /* sorted: 1 1.1 1.2 1.3 | 5 | 9 9.05 9.1, eps 0.15, min_pts 3. Counts: 1→2, 1.1→3, 1.2→3,
  ** 1.3→2, 5→1, 9.x→3. Core: 1.1 1.2 (cluster 0), 9 9.05 9.1 (cluster 1); 1 and 1.3 border of
  ** cluster 0; 5 noise. */
  const double x[] = {1, 1.1, 1.2, 5, 1.3, 9, 9.05, 9.1};
  const int want_lab[] = {0, 0, 0, -1, 0, 1, 1, 1};
  const unsigned char want_core[] = {0, 1, 1, 0, 0, 1, 1, 1};
  int lab[8];
  unsigned char core[8];
  fg_dbscan_info info;
  fg_err err;
  assert_int_equal(fg_dbscan_1d(x, 8, 0.15, 3, lab, core, &info, &err), 0);
  assert_memory_equal(lab, want_lab, sizeof lab);
  assert_memory_equal(core, want_core, sizeof core);
  assert_int_equal(info.n, 8);
  assert_int_equal(info.min_pts, 3);
  assert_true(info.eps == 0.15);
  assert_int_equal(info.n_noise, 1);
  assert_int_equal(info.n_clusters, 2);
  assert_true(info.clusters[0].min == 1 && info.clusters[0].max == 1.3);
  assert_int_equal(info.clusters[0].size, 4);
  assert_int_equal(info.clusters[0].n_core, 2);
  assert_true(info.clusters[1].min == 9 && info.clusters[1].max == 9.1);
  assert_int_equal(info.clusters[1].size, 3);
  assert_false(info.clusters[0].outlier);
  assert_false(info.clusters[1].outlier);
  /* both clusters are large enough: the threshold is the top of the upper one */
  assert_true(info.threshold == 9.1);
  assert_false(info.fallback);
  fg_dbscan_info_free(&info);

  /* min_pts 4: every count is <= 3, so everything is noise and the threshold falls back to
  ** the maximum. */
  double thr;
  int fb;
  assert_int_equal(fg_dbscan_threshold(x, 8, 0.15, 4, &thr, &fb, &err), 0);
  assert_true(thr == 9.1);
  assert_int_equal(fb, 1);
}

static void test_hand_ties_duplicates(void **state) {
  (void)state;
  fg_err err;
  fg_dbscan_info info;
  /* Four equal values are a cluster; two equal values alone are noise with min_pts 3. */
  const double x[] = {7, 2, 2, 7, 2, 2};
  int lab[6];
  unsigned char core[6];
  assert_int_equal(fg_dbscan_1d(x, 6, 0.5, 3, lab, core, &info, &err), 0);
  const int want[] = {-1, 0, 0, -1, 0, 0};
  assert_memory_equal(lab, want, sizeof want);
  assert_int_equal(info.n_clusters, 1);
  assert_int_equal(info.clusters[0].size, 4);
  assert_true(info.threshold == 2);
  fg_dbscan_info_free(&info);

  /* -0.0 and +0.0 are the same value: one cluster of three. */
  const double z[] = {0.0, -0.0, 0.0};
  assert_int_equal(fg_dbscan_1d(z, 3, 1e-300, 3, lab, core, &info, &err), 0);
  assert_true(lab[0] == 0 && lab[1] == 0 && lab[2] == 0);
  assert_true(core[0] && core[1] && core[2]);
  fg_dbscan_info_free(&info);

  /* A distance exactly eps counts (integers: exact arithmetic). 0 1 2 3 with eps 1, min_pts 3:
  ** counts 2 3 3 2 → core 1, 2; border 0, 3. */
  const double y[] = {3, 2, 1, 0};
  assert_int_equal(fg_dbscan_1d(y, 4, 1, 3, lab, core, NULL, &err), 0);
  const int want_y[] = {0, 0, 0, 0};
  const unsigned char want_yc[] = {0, 1, 1, 0};
  assert_memory_equal(lab, want_y, sizeof want_y);
  assert_memory_equal(core, want_yc, sizeof want_yc);
}

static void test_hand_single_value(void **state) {
  (void)state;
  fg_err err;
  fg_dbscan_info info;
  const double x[] = {42.5};
  int lab[1];
  unsigned char core[1];
  /* automatic min_pts is 3: one value is noise, the threshold falls back to it */
  assert_int_equal(fg_dbscan_1d(x, 1, 0, 0, lab, core, &info, &err), 0);
  assert_int_equal(lab[0], -1);
  assert_int_equal(info.min_pts, 3);
  assert_true(info.eps == 1e-12 * 42.5);
  assert_true(info.threshold == 42.5);
  assert_int_equal(info.fallback, 1);
  fg_dbscan_info_free(&info);
  /* min_pts 1: a cluster of its own, which counts (size 1 >= min_pts 1, >= 1% of 1) */
  assert_int_equal(fg_dbscan_1d(x, 1, 0, 1, lab, core, &info, &err), 0);
  assert_int_equal(lab[0], 0);
  assert_int_equal(core[0], 1);
  assert_true(info.threshold == 42.5);
  assert_int_equal(info.fallback, 0);
  fg_dbscan_info_free(&info);
}

static void test_hand_all_noise(void **state) {
  (void)state;
  fg_err err;
  fg_dbscan_info info;
  const double x[] = {1000, 1, 100, 10};
  int lab[4];
  assert_int_equal(fg_dbscan_1d(x, 4, 1, 2, lab, NULL, &info, &err), 0);
  for (int i = 0; i < 4; i++) assert_int_equal(lab[i], -1);
  assert_int_equal(info.n_clusters, 0);
  assert_non_null(info.clusters); /* allocated even when empty */
  assert_int_equal(info.n_noise, 4);
  assert_true(info.threshold == 1000);
  assert_int_equal(info.fallback, 1);
  fg_dbscan_info_free(&info);
  fg_dbscan_info_free(&info); /* twice is harmless */
}

static void test_hand_border_points(void **state) {
  (void)state;
  fg_err err;
  /* eps 1, min_pts 4. -1 -1 -1 0 | 1 | 2 3 3 3: cores -1 (count 4) and 0 (count 5) form cluster
  ** 0, 2 and 3 form cluster 1 (the gap 0→2 is 2 > eps). 1 has count 3 (0, 1, 2): a border point
  ** at distance 1 from both clusters; the tie goes to the smaller id, 0. */
  const double x[] = {3, 3, 3, 2, 1, 0, -1, -1, -1};
  int lab[9];
  unsigned char core[9];
  assert_int_equal(fg_dbscan_1d(x, 9, 1, 4, lab, core, NULL, &err), 0);
  const int want[] = {1, 1, 1, 1, 0, 0, 0, 0, 0};
  const unsigned char want_core[] = {1, 1, 1, 1, 0, 1, 1, 1, 1};
  assert_memory_equal(lab, want, sizeof want);
  assert_memory_equal(core, want_core, sizeof want_core);

  /* Move the border point to 1.25: 1.25 from 0 (too far), 0.75 from 2: cluster 1. */
  const double y[] = {3, 3, 3, 2, 1.25, 0, -1, -1, -1};
  assert_int_equal(fg_dbscan_1d(y, 9, 1, 4, lab, core, NULL, &err), 0);
  const int want_y[] = {1, 1, 1, 1, 1, 0, 0, 0, 0};
  assert_memory_equal(lab, want_y, sizeof want_y);
  assert_int_equal(core[4], 0);

  /* Border points beyond either end of a cluster: 0 10 10.5 11 11.5 12 30, eps 0.6, min_pts 3.
  ** Counts: 10→2, 10.5→3, 11→3, 11.5→3, 12→2: cores 10.5..11.5, borders 10 and 12. */
  const double z[] = {12, 0, 10, 10.5, 11, 11.5, 30};
  int lz[7];
  fg_dbscan_info info;
  assert_int_equal(fg_dbscan_1d(z, 7, 0.6, 3, lz, NULL, &info, &err), 0);
  const int want_z[] = {0, -1, 0, 0, 0, 0, -1};
  assert_memory_equal(lz, want_z, sizeof want_z);
  assert_true(info.clusters[0].min == 10 && info.clusters[0].max == 12);
  assert_int_equal(info.clusters[0].n_core, 3);
  assert_true(info.threshold == 12);
  fg_dbscan_info_free(&info);
}

static void test_outlier_clusters(void **state) {
  (void)state;
  fg_err err;
  fg_dbscan_info info;
  /* 300 values in [0, 3) step 0.01, then a tight group of 3 at 50: with min_pts 3 the group is a
  ** cluster, but 3 * 100 < 303 so it is an outlier cluster and the threshold stays at 2.99. */
  double x[303];
  for (int i = 0; i < 300; i++) x[i] = i * 0.01;
  x[300] = 50;
  x[301] = 50.001;
  x[302] = 50.002;
  assert_int_equal(fg_dbscan_1d(x, 303, 0.05, 3, NULL, NULL, &info, &err), 0);
  assert_int_equal(info.n_clusters, 2);
  assert_false(info.clusters[0].outlier);
  assert_true(info.clusters[1].outlier);
  assert_int_equal(info.clusters[1].size, 3);
  assert_true(info.threshold == x[299]);
  assert_int_equal(info.fallback, 0);
  fg_dbscan_info_free(&info);
  /* With 4 of them in 304 values (4 * 100 >= 304) the group counts as normal. */
  double y[304];
  memcpy(y, x, sizeof x);
  y[303] = 50.003;
  assert_int_equal(fg_dbscan_1d(y, 304, 0.05, 3, NULL, NULL, &info, &err), 0);
  assert_false(info.clusters[1].outlier);
  assert_true(info.threshold == 50.003);
  fg_dbscan_info_free(&info);
  /* Every cluster too small: two clusters of 3 among 306 values (the other 300 far apart, noise)
  ** are both outliers, and the threshold falls back to the maximum. */
  double z[306] = {1, 1, 1, 5, 5, 5};
  for (int i = 6; i < 306; i++) z[i] = 100 + 10 * i;
  double thr;
  int fb;
  assert_int_equal(fg_dbscan_1d(z, 306, 0.1, 3, NULL, NULL, &info, &err), 0);
  assert_int_equal(info.n_clusters, 2);
  assert_true(info.clusters[0].outlier && info.clusters[1].outlier);
  fg_dbscan_info_free(&info);
  assert_int_equal(fg_dbscan_threshold(z, 306, 0.1, 3, &thr, &fb, &err), 0);
  assert_true(thr == z[305]);
  assert_int_equal(fb, 1);
}

static void test_errors(void **state) {
  (void)state;
  fg_err err;
  double x[] = {1, 2, NAN, 4};
  int lab[4];
  fg_err_clear(&err);
  assert_int_equal(fg_dbscan_1d(x, 4, 1, 2, lab, NULL, NULL, &err), FG_EINVAL);
  assert_string_equal(err.msg, "value 2 (counting from 0) is NaN, not a finite number");
  x[2] = -INFINITY;
  double thr = -1;
  assert_int_equal(fg_dbscan_threshold(x, 4, 0, 0, &thr, NULL, &err), FG_EINVAL);
  assert_string_equal(err.msg, "value 2 (counting from 0) is -Inf, not a finite number");
  assert_true(thr == -1); /* untouched */
  x[2] = 3;
  assert_int_equal(fg_dbscan_threshold(x, 0, 0, 0, &thr, NULL, &err), FG_EINVAL);
  assert_string_equal(err.msg, "no values to cluster");
  assert_int_equal(fg_dbscan_threshold(x, 4, NAN, 0, &thr, NULL, &err), FG_EINVAL);
  assert_string_equal(err.msg, "eps is NaN: pass a positive number");
  assert_int_equal(fg_dbscan_threshold(x, 4, INFINITY, 0, &thr, NULL, &err), FG_EINVAL);
  assert_string_equal(err.msg, "eps is infinite: pass a finite number");
  /* negative eps means automatic, like 0 */
  assert_int_equal(fg_dbscan_threshold(x, 4, -1, 0, &thr, NULL, &err), 0);
}

static void test_extreme_values(void **state) {
  (void)state;
  fg_err err;
  fg_dbscan_info info;
  /* Differences overflow to Inf; the automatic eps is clamped to DBL_MAX. */
  const double x[] = {1e308, -1e308, 0, -1.7e308, 1.7e308};
  int lab[5];
  assert_int_equal(fg_dbscan_1d(x, 5, 0, 0, lab, NULL, &info, &err), 0);
  assert_true(info.eps > 0 && isfinite(info.eps));
  assert_true(isfinite(info.threshold));
  fg_dbscan_info_free(&info);
  /* Denormals and mixed signs sort correctly. */
  const double y[] = {4.9e-324, -4.9e-324, 0, 1e-310, -1e-310};
  assert_int_equal(fg_dbscan_1d(y, 5, 1e-300, 5, lab, NULL, &info, &err), 0);
  for (int i = 0; i < 5; i++) assert_int_equal(lab[i], 0);
  assert_true(info.clusters[0].min == -1e-310 && info.clusters[0].max == 1e-310);
  fg_dbscan_info_free(&info);
}

/* ---- automatic parameters ----------------------------------------------------------------- */

static void test_auto_eps(void **state) {
  (void)state;
  /* 1..8: quartiles (type 7) 2.75 and 6.25, IQR 3.5, n^(1/3) = 2 → eps 3.5 */
  const double a[] = {1, 2, 3, 4, 5, 6, 7, 8};
  assert_true(fabs(fg_dbscan_auto_eps(a, 8) - 3.5) < 1e-15);
  /* IQR 0: (max - min) / n = 8 / 8 */
  const double b[] = {5, 5, 5, 5, 5, 5, 5, 13};
  assert_true(fg_dbscan_auto_eps(b, 8) == 1);
  /* all equal: 1e-12 * max(1, |x|) */
  const double c[] = {-3, -3, -3};
  assert_true(fg_dbscan_auto_eps(c, 3) == 1e-12 * 3.0);
  const double z[] = {0.25, 0.25};
  assert_true(fg_dbscan_auto_eps(z, 2) == 1e-12);
  /* one value */
  assert_true(fg_dbscan_auto_eps(c, 1) == 1e-12 * 3.0);
  /* 1000 values 0..999: IQR 499.5, n^(1/3) = 10 → 99.9 */
  double *d = malloc(1000 * sizeof *d);
  assert_non_null(d);
  for (int i = 0; i < 1000; i++) d[i] = i;
  assert_true(fabs(fg_dbscan_auto_eps(d, 1000) - 99.9) < 1e-9);
  /* fg_dbscan_1d uses it on the sorted values, whatever the input order */
  for (int i = 0; i < 1000; i++) d[i] = (i * 7919) % 1000;
  fg_dbscan_info info;
  fg_err err;
  assert_int_equal(fg_dbscan_1d(d, 1000, 0, 0, NULL, NULL, &info, &err), 0);
  assert_true(fabs(info.eps - 99.9) < 1e-9);
  assert_int_equal(info.min_pts, 7);
  fg_dbscan_info_free(&info);
  free(d);
}

static void test_auto_min_pts(void **state) {
  (void)state;
  assert_int_equal(fg_dbscan_auto_min_pts(0), 3);
  assert_int_equal(fg_dbscan_auto_min_pts(1), 3);
  assert_int_equal(fg_dbscan_auto_min_pts(20), 3);       /* ln 20 = 3.0 */
  assert_int_equal(fg_dbscan_auto_min_pts(33), 3);       /* ln 33 = 3.497 */
  assert_int_equal(fg_dbscan_auto_min_pts(34), 4);       /* ln 34 = 3.526 */
  assert_int_equal(fg_dbscan_auto_min_pts(100), 5);      /* 4.61 */
  assert_int_equal(fg_dbscan_auto_min_pts(1000), 7);     /* 6.91 */
  assert_int_equal(fg_dbscan_auto_min_pts(1000000), 14); /* 13.8 */
}

/* ---- 1-D against brute force -------------------------------------------------------------- */

/* One value from distribution `kind`. */
static double draw(int kind) {
  switch (kind) {
    case 0:
      return rng_u01() * 10; /* uniform */
    case 1:
      return rng_normal(); /* normal, both signs */
    case 2:
      return exp(0.7 * rng_normal()); /* log-normal */
    case 3:
      return (double)rng_below(20); /* integers: many ties */
    case 4:
      return rng_u01() < 0.9 ? rng_normal() : 50 + 100 * rng_u01(); /* outliers */
    case 5:
      return -log(rng_u01()) - log(rng_u01()); /* gamma(2) */
    case 6:
      return rng_u01() < 0.6 ? 1 + 0.1 * rng_normal() : 4 + 0.2 * rng_normal(); /* bimodal */
    default:
      return (double)rng_below(5) * 0.25 - 0.5; /* few distinct values */
  }
}

static void test_1d_vs_brute_force(void **state) {
  (void)state;
  int n_datasets = 0, n_with_clusters = 0, n_with_border = 0, n_with_noise = 0, n_multi = 0;
  for (int t = 0; t < 200; t++) {
    rng_seed(1000 + (uint64_t)t);
    int kind = t % 8;
    size_t n = t < 10 ? (size_t)t + 1 : 1 + rng_below(t % 5 == 0 ? 1500 : 300);
    double *x = malloc(n * sizeof *x);
    int *lab = malloc(n * sizeof *lab), *ref = malloc(n * sizeof *ref);
    unsigned char *core = malloc(n), *rcore = malloc(n);
    assert_true(x && lab && ref && core && rcore);
    for (size_t i = 0; i < n; i++) x[i] = draw(kind);
    /* eps: automatic, or a random scale; min_pts: automatic, or 1..10 */
    double eps = (t % 3 == 0) ? 0 : (0.01 + rng_u01()) * (kind == 3 ? 2 : 0.5);
    size_t min_pts = (t % 4 == 0) ? 0 : 1 + rng_below(10);

    fg_dbscan_info info;
    fg_err err;
    assert_int_equal(fg_dbscan_1d(x, n, eps, min_pts, lab, core, &info, &err), 0);
    if (eps <= 0) {
      double *s = sorted_copy(x, n);
      assert_true(info.eps == fg_dbscan_auto_eps(s, n));
      free(s);
    } else {
      assert_true(info.eps == eps);
    }
    assert_int_equal(info.min_pts, min_pts ? min_pts : fg_dbscan_auto_min_pts(n));
    brute_dbscan(x, n, 1, dist_1d, info.eps, info.min_pts, 1, ref, rcore);
    assert_memory_equal(core, rcore, n);
    assert_memory_equal(lab, ref, n * sizeof *lab);

    /* The summary agrees with the labels. */
    size_t noise = 0, border = 0;
    for (size_t i = 0; i < n; i++) {
      noise += lab[i] < 0;
      border += lab[i] >= 0 && !core[i];
    }
    assert_int_equal(info.n_noise, noise);
    double thr = -INFINITY;
    for (size_t c = 0; c < info.n_clusters; c++) {
      size_t size = 0;
      double lo = INFINITY, hi = -INFINITY;
      for (size_t i = 0; i < n; i++) {
        if (lab[i] != (int)c) continue;
        size++;
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
      }
      assert_int_equal(info.clusters[c].size, size);
      assert_true(info.clusters[c].min == lo && info.clusters[c].max == hi);
      if (c > 0) assert_true(info.clusters[c - 1].max < lo); /* increasing value order */
      int outlier = size < info.min_pts || size * 100 < n;
      assert_int_equal(info.clusters[c].outlier, outlier);
      if (!outlier) thr = fmax(thr, hi);
    }
    if (thr == -INFINITY) {
      double *s = sorted_copy(x, n);
      assert_true(info.fallback && info.threshold == s[n - 1]);
      free(s);
    } else {
      assert_true(!info.fallback && info.threshold == thr);
    }
    n_datasets++;
    n_with_clusters += info.n_clusters > 0;
    n_with_border += border > 0;
    n_with_noise += noise > 0;
    n_multi += info.n_clusters > 1;
    fg_dbscan_info_free(&info);
    free(x);
    free(lab);
    free(ref);
    free(core);
    free(rcore);
  }
  print_message("%d datasets: %d with clusters, %d with 2+, %d with border points, %d with noise\n",
                n_datasets, n_with_clusters, n_multi, n_with_border, n_with_noise);
  assert_int_equal(n_datasets, 200);
  /* the random cases are not all trivial */
  assert_true(n_with_clusters > 150 && n_multi > 50 && n_with_border > 60 && n_with_noise > 60);
}

/* Large n (radix sort, long sweeps): checked with O(n log n) invariants instead of brute force. */
static void test_1d_large_invariants(void **state) {
  (void)state;
  const size_t n = 200000;
  double *x = malloc(n * sizeof *x), *s = NULL;
  int *lab = malloc(n * sizeof *lab);
  unsigned char *core = malloc(n);
  assert_true(x && lab && core);
  rng_seed(77);
  for (size_t i = 0; i < n; i++) x[i] = draw((int)(i % 3) + 1); /* normal, log-normal, integers */
  fg_dbscan_info info;
  fg_err err;
  assert_int_equal(fg_dbscan_1d(x, n, 0, 0, lab, core, &info, &err), 0);
  s = sorted_copy(x, n);
  for (size_t i = 0; i < n; i++) {
    /* neighbour count by binary search on the qsorted copy */
    double v = x[i];
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t m = (lo + hi) / 2;
      if (v - s[m] > info.eps)
        lo = m + 1;
      else
        hi = m;
    }
    size_t a = lo;
    lo = 0;
    hi = n;
    while (lo < hi) {
      size_t m = (lo + hi) / 2;
      if (s[m] - v <= info.eps)
        lo = m + 1;
      else
        hi = m;
    }
    assert_int_equal(core[i], (lo - a) >= info.min_pts);
    if (lab[i] >= 0) {
      const fg_dbscan_cluster *c = &info.clusters[lab[i]];
      assert_true(v >= c->min && v <= c->max);
    } else {
      assert_false(core[i]);
    }
  }
  free(x);
  free(s);
  free(lab);
  free(core);
  fg_dbscan_info_free(&info);
}

/* ---- n-D ---------------------------------------------------------------------------------- */

static void test_nd_hand(void **state) {
  (void)state;
  /* Square A (0,0) (0,1) (1,0) (1,1): every corner has two neighbours at distance 1 (the diagonal
  ** is sqrt 2 > eps 1): 3 with itself, all core. B: (10,10) has (10,11) and (11,10): core; those
  ** two are sqrt 2 apart: border. (5,5) is noise. B's first member comes first: B is 0, A is 1. */
  const double p[][2] = {{10, 11}, {0, 0}, {10, 10}, {5, 5}, {0, 1}, {1, 0}, {1, 1}, {11, 10}};
  int lab[9];
  unsigned char core[9];
  size_t nc;
  fg_err err;
  assert_int_equal(fg_dbscan_nd(&p[0][0], 8, 2, 1.0, 3, lab, core, &nc, &err), 0);
  const int want[] = {0, 1, 0, -1, 1, 1, 1, 0};
  const unsigned char want_core[] = {0, 1, 1, 0, 1, 1, 1, 0};
  assert_memory_equal(lab, want, sizeof want);
  assert_memory_equal(core, want_core, sizeof want_core);
  assert_int_equal(nc, 2);

  /* 3-D: a tight triple and a far point; min_pts 3. */
  const double q[][3] = {{0, 0, 0}, {0, 0, 0.5}, {0, 0.5, 0}, {9, 9, 9}};
  assert_int_equal(fg_dbscan_nd(&q[0][0], 4, 3, 0.75, 3, lab, NULL, &nc, &err), 0);
  const int want_q[] = {0, 0, 0, -1};
  assert_memory_equal(lab, want_q, sizeof want_q);

  /* (5,0) between two triples, eps 5: it reaches all 7 points, is core and joins the triples
  ** into one cluster; with min_pts 8 nothing is core; with eps 4.999 it is noise between two
  ** clusters numbered by first member. */
  const double r[][2] = {{5, 0}, {0, 0}, {0, 0}, {0, 0}, {10, 0}, {10, 0}, {10, 0}};
  assert_int_equal(fg_dbscan_nd(&r[0][0], 7, 2, 5, 3, lab, core, &nc, &err), 0);
  assert_int_equal(nc, 1);
  assert_int_equal(fg_dbscan_nd(&r[0][0], 7, 2, 5, 8, lab, core, &nc, &err), 0);
  assert_int_equal(nc, 0);
  assert_int_equal(fg_dbscan_nd(&r[0][0], 7, 2, 4.999, 3, lab, core, &nc, &err), 0);
  const int want_r[] = {-1, 0, 0, 0, 1, 1, 1};
  assert_memory_equal(lab, want_r, sizeof want_r);

  /* A border point at the same distance from two clusters goes to the cluster whose search
  ** started first (its lowest core point comes first in the input). Clusters A: (-1,0) x3 and
  ** (0,0); B: (2,0) and (3,0) x3; eps 1, min_pts 4; (1,0) has 3 neighbours and is 1 from (0,0)
  ** and from (2,0). */
  const double s1[][2] = {{3, 0}, {3, 0},  {3, 0},  {2, 0}, {1, 0},
                          {0, 0}, {-1, 0}, {-1, 0}, {-1, 0}};
  const int want_s[] = {0, 0, 0, 0, 0, 1, 1, 1, 1};
  assert_int_equal(fg_dbscan_nd(&s1[0][0], 9, 2, 1, 4, lab, core, &nc, &err), 0);
  assert_memory_equal(lab, want_s, sizeof want_s); /* (1,0) went to B, listed first */
  assert_int_equal(core[4], 0);
  double s2[9][2];
  for (int i = 0; i < 9; i++) {
    s2[i][0] = s1[8 - i][0];
    s2[i][1] = s1[8 - i][1];
  }
  assert_int_equal(fg_dbscan_nd(&s2[0][0], 9, 2, 1, 4, lab, core, &nc, &err), 0);
  assert_memory_equal(lab, want_s, sizeof want_s); /* now A is listed first and gets it */
}

static void test_nd_errors(void **state) {
  (void)state;
  fg_err err;
  int lab[3];
  double p[] = {0, 0, 1, 1, 2, INFINITY};
  assert_int_equal(fg_dbscan_nd(p, 3, 2, 1, 2, lab, NULL, NULL, &err), FG_EINVAL);
  assert_string_equal(err.msg,
                      "point 2, coordinate 1 (counting from 0) is Inf, not a finite number");
  p[5] = 2;
  assert_int_equal(fg_dbscan_nd(p, 3, 2, 0, 2, lab, NULL, NULL, &err), FG_EINVAL);
  assert_string_equal(
      err.msg,
      "eps must be given and > 0 with more than one coordinate (the automatic eps is 1-D only)");
  assert_int_equal(fg_dbscan_nd(p, 3, 0, 1, 2, lab, NULL, NULL, &err), FG_EINVAL);
  assert_int_equal(fg_dbscan_nd(p, 0, 2, 1, 2, lab, NULL, NULL, &err), FG_EINVAL);
  assert_int_equal(fg_dbscan_nd(p, FG_DBSCAN_ND_MAX + 1, 2, 1, 2, lab, NULL, NULL, &err),
                   FG_EINVAL);
  assert_string_equal(err.msg,
                      "20001 points is too many for n-dimensional DBSCAN (limit 20000: it compares "
                      "every pair); cluster a sample, or one coordinate at a time");
  /* automatic min_pts */
  assert_int_equal(fg_dbscan_nd(p, 3, 2, 1.5, 0, lab, NULL, NULL, &err), 0);
  assert_true(lab[0] == 0 && lab[1] == 0 && lab[2] == 0);
}

static void test_nd_vs_brute_force(void **state) {
  (void)state;
  int with_border = 0;
  for (int t = 0; t < 60; t++) {
    rng_seed(5000 + (uint64_t)t);
    size_t n = 1 + rng_below(400), d = 2;
    double *p = malloc(n * d * sizeof *p);
    int *lab = malloc(n * sizeof *lab), *ref = malloc(n * sizeof *ref);
    unsigned char *core = malloc(n), *rcore = malloc(n);
    assert_true(p && lab && ref && core && rcore);
    int grid = t % 3 == 2; /* integer grid: many exact ties */
    for (size_t i = 0; i < n; i++) {
      if (grid) {
        p[2 * i] = (double)rng_below(15);
        p[2 * i + 1] = (double)rng_below(15);
      } else if (rng_u01() < 0.8) { /* one of 3 blobs */
        double cx = (double)rng_below(3) * 4;
        p[2 * i] = cx + rng_normal();
        p[2 * i + 1] = cx / 2 + rng_normal();
      } else { /* background noise */
        p[2 * i] = rng_u01() * 20 - 4;
        p[2 * i + 1] = rng_u01() * 20 - 4;
      }
    }
    double eps = grid ? (double)(1 + rng_below(2)) : 0.2 + rng_u01();
    size_t min_pts = t % 5 == 0 ? 0 : 1 + rng_below(8);
    fg_err err;
    assert_int_equal(fg_dbscan_nd(p, n, d, eps, min_pts, lab, core, NULL, &err), 0);
    brute_dbscan(p, n, d, dist2_nd, eps * eps, min_pts ? min_pts : fg_dbscan_auto_min_pts(n), 0,
                 ref, rcore);
    assert_memory_equal(core, rcore, n);
    assert_memory_equal(lab, ref, n * sizeof *lab);
    for (size_t i = 0; i < n; i++) {
      if (lab[i] >= 0 && !core[i]) {
        with_border++;
        break;
      }
    }
    free(p);
    free(lab);
    free(ref);
    free(core);
    free(rcore);
  }
  assert_true(with_border > 20);
}

/* ---- threshold on skewed data ------------------------------------------------------------- */

/*
** n normal errors from `gen` and k planted outliers between 4 and 10 times the bulk's 99th
** percentile (and above its maximum): the threshold must be below every outlier and at or above
** 95% of the bulk, without fallback.
*/
static void check_planted(double (*gen)(void), size_t n, uint64_t seed) {
  const size_t k = 5;
  double *x = malloc((n + k) * sizeof *x);
  assert_non_null(x);
  rng_seed(seed);
  for (size_t i = 0; i < n; i++) x[i] = gen();
  double *s = sorted_copy(x, n);
  double q99 = s[(size_t)(0.99 * (double)(n - 1))], lowest = INFINITY;
  for (size_t j = 0; j < k; j++) {
    double o = fmax(q99 * (4 + 6 * rng_u01()), s[n - 1] * (1.5 + 0.2 * (double)j));
    x[n + j] = o;
    lowest = fmin(lowest, o);
  }
  /* shuffle the outliers in */
  for (size_t i = n + k - 1; i > 0; i--) {
    size_t j = rng_below(i + 1);
    double t = x[i];
    x[i] = x[j];
    x[j] = t;
  }
  double thr;
  int fb;
  fg_err err;
  assert_int_equal(fg_dbscan_threshold(x, n + k, 0, 0, &thr, &fb, &err), 0);
  size_t below = 0;
  for (size_t i = 0; i < n; i++) below += s[i] <= thr;
  assert_false(fb);
  assert_true(thr < lowest);
  assert_true((double)below >= 0.95 * (double)n);
  free(x);
  free(s);
}

static double gen_lognormal_05(void) { return exp(0.5 * rng_normal()); }
static double gen_lognormal_1(void) { return exp(rng_normal()); }
static double gen_gamma2(void) { return -log(rng_u01()) - log(rng_u01()); }
static double gen_bimodal(void) {
  return rng_u01() < 0.7 ? 1 + 0.1 * rng_normal() : 3 + 0.15 * rng_normal();
}
static double gen_mse_like(void) { /* squared normal: chi-square(1)-like, most mass near 0 */
  double z = rng_normal();
  return 0.01 * (z * z + 0.05);
}

static void test_threshold_skewed(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    check_planted(gen_lognormal_05, 2000, seed);
    check_planted(gen_lognormal_1, 2000, 100 + seed);
    check_planted(gen_gamma2, 3000, 200 + seed);
    check_planted(gen_bimodal, 2000, 300 + seed);
    check_planted(gen_mse_like, 5000, 400 + seed);
  }
  check_planted(gen_lognormal_05, 100000, 999);

  /* Bimodal without outliers: the threshold is above the upper mode, not between the modes. */
  rng_seed(4242);
  double x[2000];
  for (int i = 0; i < 2000; i++) x[i] = gen_bimodal();
  double thr;
  fg_err err;
  assert_int_equal(fg_dbscan_threshold(x, 2000, 0, 0, &thr, NULL, &err), 0);
  assert_true(thr > 3.2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_basic),
      cmocka_unit_test(test_hand_ties_duplicates),
      cmocka_unit_test(test_hand_single_value),
      cmocka_unit_test(test_hand_all_noise),
      cmocka_unit_test(test_hand_border_points),
      cmocka_unit_test(test_outlier_clusters),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_extreme_values),
      cmocka_unit_test(test_auto_eps),
      cmocka_unit_test(test_auto_min_pts),
      cmocka_unit_test(test_1d_vs_brute_force),
      cmocka_unit_test(test_1d_large_invariants),
      cmocka_unit_test(test_nd_hand),
      cmocka_unit_test(test_nd_errors),
      cmocka_unit_test(test_nd_vs_brute_force),
      cmocka_unit_test(test_threshold_skewed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
