/*
** dbscan.h — DBSCAN clustering of reconstruction errors (plain C, no SQLite).
**
** fnguard flags a serverless function's window as anomalous when its reconstruction error lies
** above the errors of normal behaviour. "Above" is decided by DBSCAN on the errors themselves:
** the normal errors form one or a few dense clusters; the threshold is the upper edge of those
** clusters, and whatever lies beyond (DBSCAN noise, or clusters too small to be normal) is not
** normal. The SQLite glue is ext/fn_dbscan.c (dbscan_threshold, dbscan_info, dbscan).
**
**   double thr; int fallback; fg_err err;
**   if (fg_dbscan_threshold(errors, n, 0, 0, &thr, &fallback, &err)) ... err.msg ...
**
** DBSCAN, as implemented here (both paths):
**   - the neighbourhood of a point is every point at distance <= eps, the point itself included;
**   - a point is a core point when its neighbourhood holds >= min_pts points;
**   - clusters are the connected components of core points (two core points are linked when
**     they are within eps of each other);
**   - a non-core point within eps of some core point is a border point: it joins the cluster of
**     its NEAREST core point (ties: the cluster with the smaller id). Classic DBSCAN gives it to
**     whichever cluster reaches it first, which depends on the input order; nearest-core does not;
**   - every other point is noise, labelled -1.
**
** 1-D path (fg_dbscan_1d, fg_dbscan_threshold): O(n log n). The values are sorted (LSD radix sort
** of their IEEE bit patterns, O(n)), neighbour counts come from a two-pointer sweep, clusters are
** maximal runs of core points whose consecutive gaps are <= eps, and border points compare the
** previous and next core point. Clusters are numbered 0, 1, ... in increasing order of value.
** 1,000,000 values take a few tens of milliseconds. Labels are returned in the input order.
**
** n-D path (fg_dbscan_nd): Euclidean distance, brute force O(n^2 d), at most FG_DBSCAN_ND_MAX
** points. Clusters are numbered 0, 1, ... in order of their first member in the input.
**
** Automatic parameters (1-D; pass eps <= 0 or min_pts == 0):
**   eps     = 2 * IQR * n^(-1/3), a Freedman–Diaconis bin width: the scale of the bulk of the
**             data divided by a slowly growing function of n, so that a window of width 2*eps
**             around a typical point holds many points (about 4*n^(2/3)*IQR*density) while
**             the thin upper tail does not. IQR is the interquartile range (quartiles by linear
**             interpolation between order statistics). If IQR is 0 (more than half the values
**             equal), eps = (max - min) / n; if that is 0 too (all values equal),
**             eps = 1e-12 * max(1, |value|). Overflow is clamped to DBL_MAX.
**   min_pts = max(3, round(ln n)): 3 is the smallest count that makes a lone PAIR of nearby
**             outliers noise; growing with ln n keeps the chance that a few chance neighbours in
**             the sparse tail form a core point small as n grows, without letting min_pts grow
**             so fast that a small but genuine mode of normal behaviour becomes noise.
**
** Threshold rule (fg_dbscan_threshold):
**   A cluster is an OUTLIER cluster when its size (core + border points) is < min_pts or
**   < 1% of n (size * 100 < n): a handful of alike errors is not a mode of normal behaviour.
**   The threshold is the largest value that belongs to a non-outlier cluster. If no such cluster
**   exists (everything is noise or in small clusters), the threshold falls back to the maximum
**   value and the `fallback` flag is set, so that callers can warn: the data had no dense core.
**   The result is always one of the input values, hence finite.
**
** Inputs must be finite: a NaN or an infinity is an error that names its position. Errors are
** FG_EINVAL (bad input or argument) or FG_ENOMEM, with a message in err (see fg_err.h).
*/
#ifndef FG_DBSCAN_H
#define FG_DBSCAN_H

#include <stddef.h>

#include "fg_err.h"

/* Most points fg_dbscan_nd accepts (its cost is n^2 d distance terms). */
#define FG_DBSCAN_ND_MAX 20000

/* One cluster of a 1-D clustering. */
typedef struct fg_dbscan_cluster {
  double min, max; /* smallest and largest member value (core or border) */
  size_t size;     /* number of members, core and border */
  size_t n_core;   /* number of core members */
  int outlier;     /* 1 if too small to hold normal errors (see the threshold rule) */
} fg_dbscan_cluster;

/* Everything about a 1-D clustering that does not depend on the input order. */
typedef struct fg_dbscan_info {
  size_t n;                    /* number of values */
  double eps;                  /* eps used (given or automatic) */
  size_t min_pts;              /* min_pts used (given or automatic) */
  size_t n_noise;              /* points labelled -1 */
  size_t n_clusters;           /* entries in clusters[] */
  fg_dbscan_cluster *clusters; /* n_clusters clusters, by increasing value; free with
                                  fg_dbscan_info_free */
  double threshold;            /* see the threshold rule above */
  int fallback;                /* 1 if threshold is the maximum for want of a normal cluster */
} fg_dbscan_info;

/* Automatic eps for sorted[0..n-1] (ascending, finite, n >= 1); always > 0 and finite. */
double fg_dbscan_auto_eps(const double *sorted, size_t n);
/* Automatic min_pts for n points: max(3, round(ln n)). */
size_t fg_dbscan_auto_min_pts(size_t n);

/*
** 1-D DBSCAN of x[0..n-1] (n >= 1). eps <= 0 selects the automatic eps, min_pts == 0 the automatic
** min_pts. Outputs are optional (NULL to skip): labels[i] is the cluster of x[i] or -1 (noise),
** is_core[i] is 1 for core points, *info gets the summary (its clusters array is allocated even
** when there are none; release with fg_dbscan_info_free). n must be < 2^31 when labels are asked.
*/
int fg_dbscan_1d(const double *x, size_t n, double eps, size_t min_pts, int *labels,
                 unsigned char *is_core, fg_dbscan_info *info, fg_err *err);

/* The threshold of the rule above; *fallback (optional) is set to 1 when it is the maximum for
** want of a normal cluster. Same arguments as fg_dbscan_1d. */
int fg_dbscan_threshold(const double *x, size_t n, double eps, size_t min_pts, double *threshold,
                        int *fallback, fg_err *err);

/* Releases info->clusters and zeroes *info (accepts NULL and already released infos). */
void fg_dbscan_info_free(fg_dbscan_info *info);

/*
** n-dimensional DBSCAN: pts is n rows of d doubles (row-major), 1 <= n <= FG_DBSCAN_ND_MAX,
** d >= 1, eps > 0 and finite (no automatic eps here), min_pts == 0 selects the automatic min_pts.
** labels[n] (required) gets cluster ids numbered by first member in the input, -1 for noise;
** is_core[n] and *n_clusters are optional.
*/
int fg_dbscan_nd(const double *pts, size_t n, size_t d, double eps, size_t min_pts, int *labels,
                 unsigned char *is_core, size_t *n_clusters, fg_err *err);

#endif
