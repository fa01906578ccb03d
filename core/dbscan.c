/*
** dbscan.c — DBSCAN in 1-D (O(n log n), for thresholds) and n-D (brute force, for analysts).
** The rules (neighbourhoods, border points, automatic eps and min_pts, threshold) are stated
** once, in dbscan.h; this file follows them.
**
** 1-D shapes: x[n] input in any order; after sorting, s[n] ascending, idx[n] the input position
** of s[i]; core[n], lab[n] per sorted position.
*/
#include "dbscan.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- sorting ------------------------------------------------------------------------------ */

/* Maps a finite double to an unsigned key with the same order (-0.0 is folded into +0.0). */
static uint64_t key_of(double v) {
  v += 0.0; /* -0.0 + 0.0 == +0.0: equal values get equal keys */
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return (u >> 63) ? ~u : (u | UINT64_C(0x8000000000000000));
}

static double value_of(uint64_t k) {
  uint64_t u = (k >> 63) ? (k & ~UINT64_C(0x8000000000000000)) : ~k;
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
#define RADIX_PASSES 6 /* 6 * 11 >= 64 */

/* Stable ascending sort of k[n], carrying idx[n] along when idx is not NULL. LSD radix sort of
** 11-bit digits; a pass whose digit is the same for every key is skipped (high digits of values
** of one magnitude often are). Small arrays use insertion sort. Returns 0 or FG_ENOMEM. */
static int sort_keys(uint64_t *k, uint32_t *idx, size_t n) {
  if (n < 64) {
    for (size_t i = 1; i < n; i++) {
      uint64_t kk = k[i];
      uint32_t ii = idx ? idx[i] : 0;
      size_t j = i;
      for (; j > 0 && k[j - 1] > kk; j--) {
        k[j] = k[j - 1];
        if (idx) idx[j] = idx[j - 1];
      }
      k[j] = kk;
      if (idx) idx[j] = ii;
    }
    return 0;
  }
  size_t(*hist)[RADIX_SIZE] = calloc(RADIX_PASSES, sizeof *hist);
  uint64_t *k2 = malloc(n * sizeof *k2);
  uint32_t *i2 = idx ? malloc(n * sizeof *i2) : NULL;
  if (!hist || !k2 || (idx && !i2)) {
    free(hist);
    free(k2);
    free(i2);
    return FG_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    for (int p = 0; p < RADIX_PASSES; p++) hist[p][(k[i] >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
  }
  uint64_t *ks = k, *kd = k2;
  uint32_t *is = idx, *id = i2;
  for (int p = 0; p < RADIX_PASSES; p++) {
    unsigned shift = (unsigned)p * RADIX_BITS;
    size_t *h = hist[p];
    if (h[(ks[0] >> shift) & (RADIX_SIZE - 1)] == n) continue; /* one digit value: no-op pass */
    size_t sum = 0;
    for (unsigned b = 0; b < RADIX_SIZE; b++) {
      size_t c = h[b];
      h[b] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++) {
      size_t at = h[(ks[i] >> shift) & (RADIX_SIZE - 1)]++;
      kd[at] = ks[i];
      if (idx) id[at] = is[i];
    }
    uint64_t *kt = ks;
    ks = kd;
    kd = kt;
    uint32_t *it = is;
    is = id;
    id = it;
  }
  if (ks != k) {
    memcpy(k, ks, n * sizeof *k);
    if (idx) memcpy(idx, is, n * sizeof *idx);
  }
  free(hist);
  free(k2);
  free(i2);
  return 0;
}

/* ---- automatic parameters ----------------------------------------------------------------- */

/* Quantile p of sorted[0..n-1], linear interpolation between order statistics (R type 7). */
static double quantile(const double *s, size_t n, double p) {
  double h = (double)(n - 1) * p;
  size_t lo = (size_t)h;
  if (lo >= n - 1) return s[n - 1];
  return s[lo] + (h - (double)lo) * (s[lo + 1] - s[lo]);
}

double fg_dbscan_auto_eps(const double *s, size_t n) {
  double eps = 0;
  if (n >= 2) {
    double iqr = quantile(s, n, 0.75) - quantile(s, n, 0.25);
    eps = 2.0 * iqr / cbrt((double)n);
    if (!(eps > 0)) eps = (s[n - 1] - s[0]) / (double)n;
  }
  if (!(eps > 0)) {
    double a = fmax(fabs(s[0]), fabs(s[n - 1]));
    eps = 1e-12 * fmax(1.0, a);
  }
  if (!(eps <= DBL_MAX)) eps = DBL_MAX; /* the range of finite values can overflow */
  return eps;
}

size_t fg_dbscan_auto_min_pts(size_t n) {
  double m = n > 1 ? floor(log((double)n) + 0.5) : 0;
  return m > 3 ? (size_t)m : 3;
}

/* ---- 1-D ---------------------------------------------------------------------------------- */

static const char *nonfinite_name(double v) { return isnan(v) ? "NaN" : (v > 0 ? "Inf" : "-Inf"); }

static int check_eps(double eps, fg_err *err) {
  if (isnan(eps)) return fg_errf(err, FG_EINVAL, "eps is NaN: pass a positive number");
  if (isinf(eps)) return fg_errf(err, FG_EINVAL, "eps is infinite: pass a finite number");
  return 0;
}

void fg_dbscan_info_free(fg_dbscan_info *info) {
  if (!info) return;
  free(info->clusters);
  memset(info, 0, sizeof *info);
}

int fg_dbscan_1d(const double *x, size_t n, double eps, size_t min_pts, int *labels,
                 unsigned char *is_core, fg_dbscan_info *info, fg_err *err) {
  if (info) memset(info, 0, sizeof *info);
  if (n == 0) return fg_errf(err, FG_EINVAL, "no values to cluster");
  if (!x) return fg_errf(err, FG_EINVAL, "values are NULL");
  int rc = check_eps(eps, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(x[i])) {
      return fg_errf(err, FG_EINVAL, "value %zu (counting from 0) is %s, not a finite number", i,
                     nonfinite_name(x[i]));
    }
  }
  int want_idx = labels || is_core;
  if (want_idx && n > (size_t)INT_MAX) {
    return fg_errf(err, FG_EINVAL, "%zu values is too many for labels (limit %d)", n, INT_MAX);
  }

  uint64_t *k = malloc(n * sizeof *k);
  uint32_t *idx = want_idx ? malloc(n * sizeof *idx) : NULL;
  double *s = NULL;
  unsigned char *core = NULL;
  int *lab = NULL;
  if (!k || (want_idx && !idx)) goto nomem;
  for (size_t i = 0; i < n; i++) {
    k[i] = key_of(x[i]);
    if (idx) idx[i] = (uint32_t)i;
  }
  if (sort_keys(k, idx, n)) goto nomem;
  s = malloc(n * sizeof *s);
  if (!s) goto nomem;
  for (size_t i = 0; i < n; i++) s[i] = value_of(k[i]);
  free(k);
  k = NULL;

  if (!(eps > 0)) eps = fg_dbscan_auto_eps(s, n);
  if (min_pts == 0) min_pts = fg_dbscan_auto_min_pts(n);

  /* Neighbour counts: [lo, hi] is the run of sorted positions within eps of s[i]. Both ends
  ** only move forward, so the sweep is O(n). */
  core = malloc(n);
  lab = malloc(n * sizeof *lab);
  if (!core || !lab) goto nomem;
  size_t lo = 0, hi = 0;
  for (size_t i = 0; i < n; i++) {
    while (lo < i && s[i] - s[lo] > eps) lo++;
    if (hi < i) hi = i;
    while (hi + 1 < n && s[hi + 1] - s[i] <= eps) hi++;
    core[i] = (hi - lo + 1) >= min_pts;
  }

  /* Clusters: runs of core points whose consecutive gaps are <= eps. */
  int n_clusters = 0;
  size_t last = SIZE_MAX; /* previous core position */
  for (size_t i = 0; i < n; i++) {
    lab[i] = -1;
    if (!core[i]) continue;
    if (last == SIZE_MAX || s[i] - s[last] > eps) n_clusters++;
    lab[i] = n_clusters - 1;
    last = i;
  }

  /* Border points: the nearer of the previous and the next core point, if within eps; a tie
  ** goes to the previous one, whose cluster has the smaller id. */
  size_t prev = SIZE_MAX, next = 0;
  size_t n_noise = 0;
  for (size_t i = 0; i < n; i++) {
    if (core[i]) {
      prev = i;
      continue;
    }
    while (next < n && (next < i || !core[next])) next++;
    double dp = prev != SIZE_MAX ? s[i] - s[prev] : INFINITY;
    double dn = next < n ? s[next] - s[i] : INFINITY;
    if (dp <= dn && dp <= eps) {
      lab[i] = lab[prev];
    } else if (dn < dp && dn <= eps) {
      lab[i] = lab[next];
    } else {
      n_noise++;
    }
  }

  if (info) {
    info->clusters = calloc(n_clusters > 0 ? (size_t)n_clusters : 1, sizeof *info->clusters);
    if (!info->clusters) goto nomem;
    info->n = n;
    info->eps = eps;
    info->min_pts = min_pts;
    info->n_noise = n_noise;
    info->n_clusters = (size_t)n_clusters;
    for (size_t i = 0; i < n; i++) {
      if (lab[i] < 0) continue;
      fg_dbscan_cluster *c = &info->clusters[lab[i]];
      if (c->size == 0) c->min = s[i]; /* sorted: the first member is the smallest */
      c->max = s[i];
      c->size++;
      c->n_core += core[i];
    }
    int found = 0;
    double thr = s[n - 1];
    for (size_t c = 0; c < info->n_clusters; c++) {
      fg_dbscan_cluster *cl = &info->clusters[c];
      cl->outlier = cl->size < min_pts || cl->size * 100 < n;
      if (!cl->outlier) {
        thr = cl->max; /* clusters are in increasing order: the last one kept wins */
        found = 1;
      }
    }
    info->threshold = thr;
    info->fallback = !found;
  }
  if (want_idx) {
    for (size_t i = 0; i < n; i++) {
      if (labels) labels[idx[i]] = lab[i];
      if (is_core) is_core[idx[i]] = core[i];
    }
  }
  free(idx);
  free(s);
  free(core);
  free(lab);
  return 0;

nomem:
  free(k);
  free(idx);
  free(s);
  free(core);
  free(lab);
  if (info) fg_dbscan_info_free(info);
  return fg_errf(err, FG_ENOMEM, "out of memory clustering %zu values", n);
}

int fg_dbscan_threshold(const double *x, size_t n, double eps, size_t min_pts, double *threshold,
                        int *fallback, fg_err *err) {
  fg_dbscan_info info;
  int rc = fg_dbscan_1d(x, n, eps, min_pts, NULL, NULL, &info, err);
  if (rc) return rc;
  if (threshold) *threshold = info.threshold;
  if (fallback) *fallback = info.fallback;
  fg_dbscan_info_free(&info);
  return 0;
}

/* ---- n-D ---------------------------------------------------------------------------------- */

static double dist2(const double *a, const double *b, size_t d) {
  double s = 0;
  for (size_t k = 0; k < d; k++) {
    double t = a[k] - b[k];
    s += t * t;
  }
  return s;
}

/*
** Distances are compared squared (sum of squared differences <= eps*eps). Steps: neighbour
** counts over all pairs; core clusters by breadth-first search from each unlabelled core point
** in input order (provisional ids); border points to their nearest core point (ties: smaller
** provisional id); finally clusters renumbered by first member in the input.
*/
int fg_dbscan_nd(const double *pts, size_t n, size_t d, double eps, size_t min_pts, int *labels,
                 unsigned char *is_core, size_t *n_clusters, fg_err *err) {
  if (n == 0) return fg_errf(err, FG_EINVAL, "no points to cluster");
  if (d == 0) return fg_errf(err, FG_EINVAL, "points have no coordinates");
  if (n > FG_DBSCAN_ND_MAX) {
    return fg_errf(err, FG_EINVAL,
                   "%zu points is too many for n-dimensional DBSCAN (limit %d: it compares every "
                   "pair); cluster a sample, or one coordinate at a time",
                   n, FG_DBSCAN_ND_MAX);
  }
  if (d > SIZE_MAX / sizeof(double) / n) return fg_errf(err, FG_EINVAL, "too many coordinates");
  if (!pts || !labels) return fg_errf(err, FG_EINVAL, "points or labels are NULL");
  int rc = check_eps(eps, err);
  if (rc) return rc;
  if (!(eps > 0)) {
    return fg_errf(
        err, FG_EINVAL,
        "eps must be given and > 0 with more than one coordinate (the automatic eps is 1-D only)");
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < d; k++) {
      double v = pts[i * d + k];
      if (!isfinite(v)) {
        return fg_errf(err, FG_EINVAL,
                       "point %zu, coordinate %zu (counting from 0) is %s, not a finite number", i,
                       k, nonfinite_name(v));
      }
    }
  }
  if (min_pts == 0) min_pts = fg_dbscan_auto_min_pts(n);
  double eps2 = eps * eps;

  size_t *cnt = malloc(n * sizeof *cnt);
  unsigned char *core = malloc(n);
  size_t *queue = malloc(n * sizeof *queue);
  double *best = malloc(n * sizeof *best);
  int *map = malloc(n * sizeof *map);
  if (!cnt || !core || !queue || !best || !map) {
    free(cnt);
    free(core);
    free(queue);
    free(best);
    free(map);
    return fg_errf(err, FG_ENOMEM, "out of memory clustering %zu points", n);
  }
  for (size_t i = 0; i < n; i++) cnt[i] = 1; /* itself */
  for (size_t i = 0; i < n; i++) {
    for (size_t j = i + 1; j < n; j++) {
      if (dist2(pts + i * d, pts + j * d, d) <= eps2) {
        cnt[i]++;
        cnt[j]++;
      }
    }
  }
  for (size_t i = 0; i < n; i++) {
    core[i] = cnt[i] >= min_pts;
    labels[i] = -1;
  }

  int nc = 0;
  for (size_t i = 0; i < n; i++) {
    if (!core[i] || labels[i] >= 0) continue;
    size_t head = 0, tail = 0;
    labels[i] = nc;
    queue[tail++] = i;
    while (head < tail) {
      const double *q = pts + queue[head++] * d;
      for (size_t j = 0; j < n; j++) {
        if (core[j] && labels[j] < 0 && dist2(q, pts + j * d, d) <= eps2) {
          labels[j] = nc;
          queue[tail++] = j;
        }
      }
    }
    nc++;
  }

  for (size_t i = 0; i < n; i++) {
    if (core[i]) continue;
    best[i] = INFINITY;
    for (size_t j = 0; j < n; j++) {
      if (!core[j]) continue;
      double dd = dist2(pts + i * d, pts + j * d, d);
      if (dd <= eps2 &&
          (labels[i] < 0 || dd < best[i] || (dd == best[i] && labels[j] < labels[i]))) {
        best[i] = dd;
        labels[i] = labels[j];
      }
    }
  }

  for (int c = 0; c < nc; c++) map[c] = -1;
  int next = 0;
  for (size_t i = 0; i < n; i++) {
    if (labels[i] < 0) continue;
    if (map[labels[i]] < 0) map[labels[i]] = next++;
    labels[i] = map[labels[i]];
  }
  if (is_core) memcpy(is_core, core, n);
  if (n_clusters) *n_clusters = (size_t)nc;
  free(cnt);
  free(core);
  free(queue);
  free(best);
  free(map);
  return 0;
}
