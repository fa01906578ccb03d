/* train.c — the training loop, delta updates and batch scoring (see train.h). */
#include "train.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbscan.h"
#include "rng.h"

void fg_train_opts_default(fg_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->hidden = 64;
  o->layers = 1;
  o->embed = 0;
  o->epochs = 30;
  o->batch = 64;
  o->lr = 0.005;
  o->clip = 5.0;
  o->seed = 42;
  o->validation = 0.1;
  o->patience = 5;
  o->threads = 1;
  o->vocab = 10000;
  o->window = 0;
  o->progress = 0;
}

static int opt_int(json_t *v, const char *k, long lo, long hi, int *out, fg_err *err) {
  /* Accept 64.0 as well as 64: JSON written by hand or by SQL's json_object may use either. */
  double x;
  if (json_is_integer(v)) x = (double)json_integer_value(v);
  else if (json_is_real(v)) x = json_real_value(v);
  else if (json_is_boolean(v)) x = json_is_true(v);
  else return fg_errf(err, FG_EINVAL, "option '%s' must be an integer", k);
  if (x != floor(x) || x < lo || x > hi)
    return fg_errf(err, FG_EINVAL, "option '%s' must be an integer in [%ld, %ld], got %g", k, lo, hi, x);
  *out = (int)x;
  return 0;
}

static int opt_real(json_t *v, const char *k, double lo, double hi, double *out, fg_err *err) {
  if (!json_is_number(v)) return fg_errf(err, FG_EINVAL, "option '%s' must be a number", k);
  double x = json_number_value(v);
  if (!(x >= lo && x <= hi))
    return fg_errf(err, FG_EINVAL, "option '%s' must be in [%g, %g], got %g", k, lo, hi, x);
  *out = x;
  return 0;
}

/* log_std_min: a number (every log-scaled field) or {"field": number, ...} (those fields). */
static int opt_std_min(json_t *v, fg_train_opts *o, fg_err *err) {
  if (!json_is_object(v)) return opt_real(v, "log_std_min", 0, 100, &o->log_std_min, err);
  const char *name;
  json_t *x;
  o->n_std_min = 0;
  json_object_foreach(v, name, x) {
    if (o->n_std_min == FG_WINDOW_MAX_FIELDS)
      return fg_errf(err, FG_EINVAL, "option 'log_std_min' names more than %d fields", FG_WINDOW_MAX_FIELDS);
    if (strlen(name) >= sizeof o->std_min_name[0])
      return fg_errf(err, FG_EINVAL, "option 'log_std_min': field name '%.40s...' is too long", name);
    if (!json_is_number(x) || !(json_number_value(x) >= 0 && json_number_value(x) <= 100))
      return fg_errf(err, FG_EINVAL, "option 'log_std_min': field '%s' must have a number in [0, 100]", name);
    strcpy(o->std_min_name[o->n_std_min], name);
    o->std_min_val[o->n_std_min++] = json_number_value(x);
  }
  return 0;
}

int fg_train_apply_std_min(const fg_train_opts *o, fz *z, fg_err *err) {
  z->log_std_min = o->log_std_min;
  for (int i = 0; i < o->n_std_min; i++) {
    int f = 0;
    while (f < z->F && strcmp(z->f[f].name, o->std_min_name[i]) != 0) f++;
    if (f == z->F)
      return fg_errf(err, FG_EINVAL, "option 'log_std_min' names field '%s', which the windows do not have",
                     o->std_min_name[i]);
    z->f[f].log_std_min = o->std_min_val[i];
  }
  return 0;
}

int fg_train_opts_parse(fg_train_opts *o, const char *text, fg_err *err) {
  if (!text || !*text) return 0;
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  if (!j) return fg_errf(err, FG_EINVAL, "options are not valid JSON: %s (column %d)", je.text, je.column);
  if (!json_is_object(j)) {
    json_decref(j);
    return fg_errf(err, FG_EINVAL, "options must be a JSON object, e.g. '{\"epochs\":20}'");
  }
  const char *k;
  json_t *v;
  int rc = 0;
  json_object_foreach(j, k, v) {
    if (!strcmp(k, "hidden")) rc = opt_int(v, k, 1, 4096, &o->hidden, err);
    else if (!strcmp(k, "layers")) rc = opt_int(v, k, 1, AE_MAX_LAYERS, &o->layers, err);
    else if (!strcmp(k, "embed")) rc = opt_int(v, k, 0, 1024, &o->embed, err);
    else if (!strcmp(k, "epochs")) rc = opt_int(v, k, 0, 100000, &o->epochs, err);
    else if (!strcmp(k, "batch")) rc = opt_int(v, k, 1, 65536, &o->batch, err);
    else if (!strcmp(k, "patience")) rc = opt_int(v, k, 1, 100000, &o->patience, err);
    else if (!strcmp(k, "threads")) rc = opt_int(v, k, 1, 256, &o->threads, err);
    else if (!strcmp(k, "vocab")) rc = opt_int(v, k, 1, 999999, &o->vocab, err);
    else if (!strcmp(k, "max_windows")) rc = opt_int(v, k, 0, 2000000000, &o->max_windows, err);
    else if (!strcmp(k, "window")) rc = opt_int(v, k, 0, 4096, &o->window, err);
    else if (!strcmp(k, "progress")) rc = opt_int(v, k, 0, 1, &o->progress, err);
    else if (!strcmp(k, "lr")) rc = opt_real(v, k, 1e-9, 10, &o->lr, err);
    else if (!strcmp(k, "clip")) rc = opt_real(v, k, 0, 1e9, &o->clip, err);
    else if (!strcmp(k, "num_cap")) rc = opt_real(v, k, 0, 1e6, &o->num_cap, err);
    else if (!strcmp(k, "log_std_min")) rc = opt_std_min(v, o, err);
    else if (!strcmp(k, "validation")) rc = opt_real(v, k, 0, 0.9, &o->validation, err);
    else if (!strcmp(k, "seed")) {
      if (!json_is_integer(v) || json_integer_value(v) < 0)
        rc = fg_errf(err, FG_EINVAL, "option 'seed' must be a non-negative integer");
      else o->seed = (uint64_t)json_integer_value(v);
    } else {
      rc = fg_errf(err, FG_EINVAL,
                   "unknown option '%s' (known: hidden, layers, embed, epochs, batch, lr, clip, "
                   "seed, validation, patience, threads, vocab, window, max_windows, num_cap, log_std_min, "
                   "progress)", k);
    }
    if (rc) break;
  }
  json_decref(j);
  return rc;
}

char *fg_train_opts_json(const fg_train_opts *o) {
  json_t *j = json_pack("{s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:I, s:f, s:i, s:i, s:i, s:i, s:i}",
                        "hidden", o->hidden, "layers", o->layers, "embed", o->embed, "epochs",
                        o->epochs, "batch", o->batch, "lr", o->lr, "clip", o->clip, "seed",
                        (json_int_t)o->seed, "validation", o->validation, "patience", o->patience,
                        "threads", o->threads, "vocab", o->vocab, "window", o->window, "max_windows", o->max_windows);
  if (j && o->num_cap > 0) json_object_set_new(j, "num_cap", json_real(o->num_cap)); /* only when set */
  if (j && o->n_std_min > 0) {
    json_t *m = json_object();
    for (int i = 0; i < o->n_std_min; i++) json_object_set_new(m, o->std_min_name[i], json_real(o->std_min_val[i]));
    json_object_set_new(j, "log_std_min", m);
  } else if (j && o->log_std_min > 0) {
    json_object_set_new(j, "log_std_min", json_real(o->log_std_min));
  }
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) : NULL;
  json_decref(j);
  return s;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Everything one training run needs, allocated once. */
typedef struct loop {
  float *grads, *m1, *m2, *best;
  ae_work *w;
  fz_batch fb;
  int32_t *idx;
} loop;

static void loop_free(loop *L) {
  free(L->grads);
  free(L->m1);
  free(L->m2);
  free(L->best);
  ae_work_free(L->w);
  fz_batch_free(&L->fb);
  free(L->idx);
}

static int loop_alloc(loop *L, const fg_model *m, size_t n, int B, fg_err *err) {
  memset(L, 0, sizeof *L);
  size_t np = m->n_params;
  L->grads = calloc(np, sizeof(float));
  L->m1 = calloc(np, sizeof(float));
  L->m2 = calloc(np, sizeof(float));
  L->best = malloc(np * sizeof(float));
  L->w = ae_work_new(&m->s, B);
  L->idx = malloc((n ? n : 1) * sizeof *L->idx);
  if (!L->grads || !L->m1 || !L->m2 || !L->best || !L->w || !L->idx ||
      fz_batch_alloc(&L->fb, m->s.T, m->s.C, m->s.N, B)) {
    loop_free(L);
    return fg_errf(err, FG_ENOMEM, "out of memory allocating training buffers");
  }
  return 0;
}

/* Mean loss over idx[0..n) (forward only), or NaN when n == 0; errs (optional, [n]) receives
** each window's error. */
static double eval_loss(const fg_model *m, const fz_data *d, loop *L, const int32_t *idx, size_t n,
                        float *errs) {
  if (n == 0) return NAN;
  double sum = 0;
  for (size_t i = 0; i < n; i += (size_t)L->fb.cap) {
    int B = (int)(n - i < (size_t)L->fb.cap ? n - i : (size_t)L->fb.cap);
    fz_batch_begin(&L->fb, B);
    for (int j = 0; j < B; j++) fz_batch_set_data(&m->z, &L->fb, j, d, (size_t)idx[i + (size_t)j]);
    ae_batch b = fz_batch_view(&L->fb);
    sum += (double)ae_forward(&m->s, m->params, &b, L->w, errs ? errs + i : NULL) * B;
  }
  return sum / (double)n;
}

/* The threshold a model carries: DBSCAN (core/dbscan.h) over the reconstruction errors of the
** validation windows, which training never learned from. Fewer than FG_MIN_THRESHOLD_WINDOWS of
** them say too little about the spread of normal errors: then no threshold (NaN). */
#define FG_MIN_THRESHOLD_WINDOWS 20
static int set_threshold(fg_model *m, const fz_data *d, loop *L, const int32_t *val, size_t n_val, fg_err *err) {
  m->threshold = NAN;
  if (n_val < FG_MIN_THRESHOLD_WINDOWS) return 0;
  float *e = malloc(n_val * sizeof *e);
  double *x = malloc(n_val * sizeof *x);
  if (!e || !x) {
    free(e);
    free(x);
    return fg_errf(err, FG_ENOMEM, "out of memory");
  }
  eval_loss(m, d, L, val, n_val, e);
  for (size_t i = 0; i < n_val; i++) x[i] = e[i];
  double thr;
  int fallback;
  int rc = fg_dbscan_threshold(x, n_val, 0, 0, &thr, &fallback, err);
  if (rc == 0) m->threshold = thr;
  free(e);
  free(x);
  return rc;
}

/* The epochs of a training run or an update, on m's current parameters. */
static int run_epochs(fg_model *m, const fz_data *d, const fg_train_opts *o, fg_progress_fn cb,
                      void *ctx, uint64_t seed, fg_err *err) {
  loop L;
  if (loop_alloc(&L, m, d->n, o->batch, err)) return err->code;
  int saved_threads = openblas_get_num_threads();
  openblas_set_num_threads(o->threads);
  fg_rng rng = {seed};
  for (size_t i = 0; i < d->n; i++) L.idx[i] = (int32_t)i;
  fg_rng_shuffle(&rng, L.idx, d->n);
  /* max_windows: a seeded uniform sample (the first of the shuffle) bounds the cost of an epoch. */
  size_t n_used = o->max_windows > 0 && d->n > (size_t)o->max_windows ? (size_t)o->max_windows : d->n;
  size_t n_val = 0;
  if (o->validation > 0 && n_used >= 10) {
    n_val = (size_t)floor((double)n_used * o->validation);
    if (n_val < 1) n_val = 1;
  }
  size_t n_train = n_used - n_val;
  int32_t *val = L.idx + n_train;
  m->n_train += (int64_t)n_train;
  m->n_val += (int64_t)n_val;
  m->n_windows += (int64_t)n_used;
  double best = INFINITY, t0 = now_s();
  int since_best = 0, best_epoch = 0, epochs = 0;
  long step = 0;
  memcpy(L.best, m->params, m->n_params * sizeof(float));
  for (int ep = 1; ep <= o->epochs; ep++) {
    double te = now_s();
    fg_rng_shuffle(&rng, L.idx, n_train);
    double sum = 0;
    for (size_t i = 0; i < n_train; i += (size_t)o->batch) {
      int B = (int)(n_train - i < (size_t)o->batch ? n_train - i : (size_t)o->batch);
      fz_batch_begin(&L.fb, B);
      for (int j = 0; j < B; j++) fz_batch_set_data(&m->z, &L.fb, j, d, (size_t)L.idx[i + (size_t)j]);
      ae_batch b = fz_batch_view(&L.fb);
      float loss = ae_forward(&m->s, m->params, &b, L.w, NULL);
      memset(L.grads, 0, m->n_params * sizeof(float));
      ae_backward(&m->s, m->params, &b, L.w, L.grads);
      ae_clip(L.grads, m->n_params, (float)o->clip);
      ae_adam(m->params, L.grads, L.m1, L.m2, m->n_params, (float)o->lr, 0.9f, 0.999f, 1e-8f, ++step);
      sum += (double)loss * B;
    }
    double tl = n_train ? sum / (double)n_train : NAN;
    double el = now_s() - te;
    double vl = eval_loss(m, d, &L, val, n_val, NULL);
    epochs = ep;
    if (!isfinite(tl)) {
      openblas_set_num_threads(saved_threads);
      loop_free(&L);
      return fg_errf(err, FG_EINVAL, "training diverged at epoch %d (loss is not finite); try a lower lr", ep);
    }
    /* Without a validation split, early stopping watches the training loss. */
    double watch = n_val ? vl : tl;
    int improved = watch < best;
    if (improved) {
      best = watch;
      best_epoch = ep;
      since_best = 0;
      memcpy(L.best, m->params, m->n_params * sizeof(float));
    } else {
      since_best++;
    }
    if (fg_model_push_epoch(m, (float)tl, (float)vl)) {
      openblas_set_num_threads(saved_threads);
      loop_free(&L);
      return fg_errf(err, FG_ENOMEM, "out of memory");
    }
    if (cb && o->progress) {
      fg_epoch_report r = {ep, o->epochs, tl, vl, el > 0 ? (double)n_train / el : 0, now_s() - t0, improved};
      cb(ctx, &r);
    }
    if (since_best >= o->patience) break;
  }
  if (best_epoch > 0) memcpy(m->params, L.best, m->n_params * sizeof(float));
  m->epochs_run = epochs;
  m->best_epoch = best_epoch;
  int rc = set_threshold(m, d, &L, val, n_val, err);
  openblas_set_num_threads(saved_threads);
  loop_free(&L);
  return rc;
}

int fg_train(fz *z, const fz_data *d, const fg_train_opts *o, fg_progress_fn cb, void *ctx,
             fg_model **out, fg_err *err) {
  *out = NULL;
  if (d->n == 0) return fg_errf(err, FG_EINVAL, "no windows to train on");
  int T = o->window ? o->window : d->T;
  if (d->T > T)
    return fg_errf(err, FG_EINVAL, "option 'window' is %d but training windows have up to %d steps", T, d->T);
  fg_model *m = calloc(1, sizeof *m);
  if (!m) return fg_errf(err, FG_ENOMEM, "out of memory");
  m->z = *z;
  memset(z, 0, sizeof *z);
  m->s.T = T;
  m->s.H = o->hidden;
  m->s.L = o->layers;
  m->s.E = o->embed;
  m->s.num_cap = (float)o->num_cap;
  fz_shape(&m->z, &m->s);
  m->seed = o->seed;
  m->threshold = NAN;
  m->options = fg_train_opts_json(o);
  if (ae_shape_check(&m->s, err)) {
    fg_model_free(m);
    return err->code;
  }
  m->n_params = ae_param_count(&m->s);
  m->params = malloc(m->n_params * sizeof(float));
  if (!m->params || !m->options) {
    fg_model_free(m);
    return fg_errf(err, FG_ENOMEM, "out of memory");
  }
  ae_init(&m->s, m->params, o->seed);
  int rc = run_epochs(m, d, o, cb, ctx, o->seed ^ 0x5DEECE66DULL, err);
  if (rc) {
    fg_model_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int fg_update(fg_model *m, const fz_data *d, const fg_train_opts *o, fg_progress_fn cb, void *ctx,
              fg_err *err) {
  if (d->n == 0) return fg_errf(err, FG_EINVAL, "no windows to update on");
  if (o->num_cap > 0 && (float)o->num_cap != m->s.num_cap)
    return fg_errf(err, FG_EINVAL, "option 'num_cap' is the model's (%g); an update cannot change it",
                   (double)m->s.num_cap);
  if (d->T > m->s.T)
    return fg_errf(err, FG_EINVAL, "windows have up to %d steps but the model's window is %d", d->T, m->s.T);
  ae_shape ns = m->s;
  fz_shape(&m->z, &ns);
  if (memcmp(ns.V, m->s.V, sizeof ns.V) != 0) {
    /* The vocabulary grew: new input rows and output slots, old ones kept as they were. */
    if (ae_shape_check(&ns, err)) return err->code;
    size_t np = ae_param_count(&ns);
    float *p = malloc(np * sizeof(float));
    if (!p) return fg_errf(err, FG_ENOMEM, "out of memory");
    if (ae_resize(&m->s, m->params, &ns, p, m->seed + (uint64_t)m->updates + 1, err)) {
      free(p);
      return err->code;
    }
    free(m->params);
    m->params = p;
    m->n_params = np;
    m->s = ns;
  }
  m->updates++;
  return run_epochs(m, d, o, cb, ctx, o->seed ^ (0x9E3779B9ULL * (uint64_t)m->updates), err);
}

int fg_score_data(const fg_model *m, const fz_data *d, float *win_err, int threads, fg_err *err) {
  if (d->T > m->s.T)
    return fg_errf(err, FG_EINVAL, "windows have up to %d steps but the model's window is %d", d->T, m->s.T);
  int B = 256;
  ae_work *w = ae_work_new(&m->s, B);
  fz_batch fb;
  if (!w || fz_batch_alloc(&fb, m->s.T, m->s.C, m->s.N, B)) {
    ae_work_free(w);
    return fg_errf(err, FG_ENOMEM, "out of memory");
  }
  int saved = openblas_get_num_threads();
  openblas_set_num_threads(threads);
  for (size_t i = 0; i < d->n; i += (size_t)B) {
    int nb = (int)(d->n - i < (size_t)B ? d->n - i : (size_t)B);
    fz_batch_begin(&fb, nb);
    for (int j = 0; j < nb; j++) fz_batch_set_data(&m->z, &fb, j, d, i + (size_t)j);
    ae_batch b = fz_batch_view(&fb);
    ae_forward(&m->s, m->params, &b, w, win_err + i);
  }
  openblas_set_num_threads(saved);
  ae_work_free(w);
  fz_batch_free(&fb);
  return 0;
}
