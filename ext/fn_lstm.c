/*
** fn_lstm.c — the LSTM autoencoder in SQL: train, score, describe.
**
**   -- train one model on every window of a table (an aggregate: one BLOB out)
**   INSERT INTO models(name, model)
**     SELECT 'fnA', lstm_ae_train(window, '{"hidden":32,"epochs":20,"seed":7}')
**     FROM w WHERE part = 'fnA';
**   -- score windows: the reconstruction error, higher = more unusual
**   SELECT first_order, lstm_ae_score((SELECT model FROM models WHERE name='fnA'), window) AS err
**     FROM w WHERE part = 'fnA' ORDER BY err DESC LIMIT 10;
**   SELECT lstm_ae_info(model) FROM models;   -- dims, vocabularies, loss curves, options
**
** How it works. lstm_ae_train gathers the windows (window.h JSON) into compact featurized form
** (core/featurize.c), then trains in xFinal (core/train.c) and returns the model BLOB
** (core/model.h). Options, a JSON object, are read from the first row: hidden, layers, embed,
** epochs, batch, lr, clip, seed, validation, patience, threads, vocab, window, progress
** (progress defaults to on when stderr is a terminal: one line per epoch).
**
** lstm_ae_score parses a model once, not once per row: a constant model argument is remembered
** through sqlite3_get_auxdata; a model arriving from a subquery or a join goes through a small
** per-connection cache keyed by the BLOB's checksum and length and confirmed byte for byte.
**
** Flags: score and info are pure functions of their arguments (DETERMINISTIC). Train is an
** aggregate whose result depends only on its rows and options at a fixed thread count; it is not
** marked DETERMINISTIC since BLAS results may differ across thread counts. None reads a file.
*/
#include "fg_ext.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <cblas.h>

#include "featurize.h"
#include "model.h"
#include "train.h"
#include "window.h"

/* --- scorer: a loaded model with its scratch space ------------------------------------------ */

typedef struct scorer {
  fg_model *m;
  fg_window win;
  fz_batch fb;       /* cap 1 */
  ae_work *work;     /* B_max 1 */
  float *ferr;       /* [T][F] field errors, for explain */
  float *pred;       /* [T][F] predictions, for explain */
} scorer;

static void scorer_free(scorer *s) {
  if (!s) return;
  fg_model_free(s->m);
  fg_window_free(&s->win);
  fz_batch_free(&s->fb);
  ae_work_free(s->work);
  free(s->ferr);
  free(s->pred);
  free(s);
}

static scorer *scorer_load(const unsigned char *blob, int n, fg_err *err) {
  scorer *s = calloc(1, sizeof *s);
  if (!s) {
    fg_errf(err, FG_ENOMEM, "out of memory");
    return NULL;
  }
  fg_window_init(&s->win);
  if (fg_model_load(blob, (size_t)n, &s->m, err)) {
    free(s);
    return NULL;
  }
  size_t tf = (size_t)s->m->s.T * (size_t)s->m->z.F;
  s->work = ae_work_new(&s->m->s, 1);
  s->ferr = malloc(tf * sizeof(float));
  s->pred = malloc(tf * sizeof(float));
  if (!s->work || !s->ferr || !s->pred || fz_batch_alloc(&s->fb, s->m->s.T, s->m->s.C, s->m->s.N, 1)) {
    scorer_free(s);
    fg_errf(err, FG_ENOMEM, "out of memory");
    return NULL;
  }
  return s;
}

/* Per-connection cache of loaded models. */
#define CACHE_N 4
typedef struct cache_entry {
  unsigned char *blob;
  int n;
  uint32_t crc;
  unsigned long gen;   /* changes whenever the slot is refilled */
  unsigned long used;  /* LRU clock */
  const void *seen;    /* address the BLOB last arrived at (see get_scorer) */
  scorer *s;
} cache_entry;

typedef struct model_cache {
  cache_entry e[CACHE_N];
  unsigned long clock, gen;
} model_cache;

/* What sqlite3_set_auxdata keeps for a constant model argument: a reference to a cache slot,
** valid while the slot's generation is unchanged. */
typedef struct aux_ref {
  model_cache *c;
  int slot;
  unsigned long gen;
} aux_ref;

static void cache_destroy(void *p) {
  model_cache *c = p;
  if (!c) return;
  for (int i = 0; i < CACHE_N; i++) {
    scorer_free(c->e[i].s);
    free(c->e[i].blob);
  }
  free(c);
}

/* Returns the scorer for the model in argv[i], loading it at most once; NULL after setting an
** SQL error. `fn` names the SQL function in messages. */
static scorer *get_scorer(sqlite3_context *ctx, sqlite3_value **argv, int i, const char *fn) {
  model_cache *c = sqlite3_user_data(ctx);
  aux_ref *ref = sqlite3_get_auxdata(ctx, i);
  if (ref && ref->c->e[ref->slot].gen == ref->gen && ref->c->e[ref->slot].s) {
    ref->c->e[ref->slot].used = ++c->clock;
    return ref->c->e[ref->slot].s;
  }
  if (sqlite3_value_type(argv[i]) == SQLITE_NULL) {
    char *m = sqlite3_mprintf("%s: model is NULL (did the subquery find no model?)", fn);
    sqlite3_result_error(ctx, m ? m : "model is NULL", -1);
    sqlite3_free(m);
    return NULL;
  }
  if (sqlite3_value_type(argv[i]) != SQLITE_BLOB) {
    char *m = sqlite3_mprintf("%s: model must be a BLOB from lstm_ae_train, got %s", fn,
                              sqlite3_value_type(argv[i]) == SQLITE_TEXT ? "text" : "a number");
    sqlite3_result_error(ctx, m ? m : "model must be a BLOB", -1);
    sqlite3_free(m);
    return NULL;
  }
  const unsigned char *blob = sqlite3_value_blob(argv[i]);
  int n = sqlite3_value_bytes(argv[i]);
  uint32_t crc = fg_model_blob_crc(blob, (size_t)n);
  int slot = -1, lru = 0;
  for (int k = 0; k < CACHE_N; k++) {
    cache_entry *e = &c->e[k];
    /* A model from a subquery usually arrives at the same address row after row: then the
    ** length and the checksum in its header identify it, and the byte-for-byte comparison (a
    ** few hundred KB) is done only when the address changes. */
    if (e->s && e->n == n && e->crc == crc && (e->seen == (const void *)blob || memcmp(e->blob, blob, (size_t)n) == 0)) {
      e->seen = blob;
      slot = k;
      break;
    }
    if (c->e[k].used < c->e[lru].used) lru = k;
  }
  if (slot < 0) {
    fg_err err;
    fg_err_clear(&err);
    scorer *s = scorer_load(blob, n, &err);
    if (!s) {
      fg_err_prefix(&err, "%s", fn);
      fg_result_err(ctx, &err);
      return NULL;
    }
    unsigned char *copy = malloc((size_t)n);
    if (!copy) {
      scorer_free(s);
      sqlite3_result_error_nomem(ctx);
      return NULL;
    }
    memcpy(copy, blob, (size_t)n);
    cache_entry *e = &c->e[lru];
    scorer_free(e->s);
    free(e->blob);
    e->s = s, e->blob = copy, e->n = n, e->crc = crc, e->gen = ++c->gen, e->seen = blob;
    slot = lru;
  }
  c->e[slot].used = ++c->clock;
  aux_ref *r = sqlite3_malloc(sizeof *r);
  if (r) {
    r->c = c, r->slot = slot, r->gen = c->e[slot].gen;
    sqlite3_set_auxdata(ctx, i, r, sqlite3_free);
  }
  return c->e[slot].s;
}

/* Parses argv[i] as a window into s->win and checks it against the model; 0 or SQL error set. */
static int get_window(sqlite3_context *ctx, scorer *s, sqlite3_value *v, const char *fn) {
  fg_err err;
  fg_err_clear(&err);
  if (sqlite3_value_type(v) == SQLITE_NULL) fg_errf(&err, FG_EINVAL, "window is NULL");
  else if (!fg_window_parse(&s->win, (const char *)sqlite3_value_text(v), (size_t)sqlite3_value_bytes(v), &err) &&
           !fz_check_fields(&s->m->z, &s->win, &err) && s->win.n_steps > s->m->s.T)
    fg_errf(&err, FG_EINVAL, "window has %d steps, the model's window size is %d", s->win.n_steps, s->m->s.T);
  if (err.code == FG_OK) return 0;
  fg_err_prefix(&err, "%s", fn);
  fg_result_err(ctx, &err);
  return 1;
}

/* Forward pass of s->win; returns the window error. */
static float score_window(scorer *s) {
  fz_batch_begin(&s->fb, 1);
  fz_batch_set_window(&s->m->z, &s->fb, 0, &s->win);
  ae_batch b = fz_batch_view(&s->fb);
  float e = 0;
  ae_forward(&s->m->s, s->m->params, &b, s->work, &e);
  return e;
}

/* lstm_ae_score(model, window) → REAL reconstruction error. */
static void score_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  scorer *s = get_scorer(ctx, argv, 0, "lstm_ae_score");
  if (!s || get_window(ctx, s, argv[1], "lstm_ae_score")) return;
  sqlite3_result_double(ctx, score_window(s));
}

/* lstm_ae_info(model) → JSON text. */
static void info_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  scorer *s = get_scorer(ctx, argv, 0, "lstm_ae_info");
  if (!s) return;
  char *j = fg_model_info(s->m);
  if (!j) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, j, -1, free);
  sqlite3_result_subtype(ctx, 'J'); /* JSON, for SQLite's json functions */
}


/* --- explanations ---------------------------------------------------------------------------- */

/* Text of the value at (t, f) of the parsed window, for explanations. */
static json_t *window_value_json(const fg_window *w, int t, int f) {
  const fg_val *v = fg_window_val(w, t, f);
  if (v->kind == FG_V_STR) return json_stringn_nocheck(fg_window_valstr(w, v), v->len);
  if (v->kind == FG_V_NUM) return json_real(v->num);
  return json_null();
}

/* The predicted value of field f at step t, in the field's own units. */
static json_t *predicted_json(const fz_field *fd, float pred) {
  if (fd->kind == FZ_CAT) {
    size_t len;
    int is_null;
    const char *txt = fz_slot_text(fd, (int32_t)pred, &len, &is_null);
    return is_null ? json_null() : json_stringn_nocheck(txt, len);
  }
  double g = (double)pred * fd->std + fd->mean;
  return json_real(fd->log ? expm1(g) : g);
}

typedef struct contrib {
  int t, f, unseen;  /* unseen: a categorical value never seen in training */
  double err, share;
} contrib;

/* Values never seen in training first, then by share: "iam:CreateUser was never seen" is what
** an analyst acts on, even where a numeric value off by two standard deviations (its error is
** capped at num_cap, 4 in sql/pipeline.sql) weighs more in the score. */
static int by_share_desc(const void *a, const void *b) {
  const contrib *x = a, *y = b;
  if (x->unseen != y->unseen) return y->unseen - x->unseen;
  if (x->share != y->share) return x->share > y->share ? -1 : 1;
  return x->t != y->t ? x->t - y->t : x->f - y->f;
}

/* lstm_ae_explain(model, window [, top]) → JSON: the window's score, each step's error with each
** field's error, value and prediction, and the `top` (default 3) step/field pairs that contribute
** most, each with a reason an analyst can act on (values never seen in training first). Shares
** add up to 1 over all pairs. */
static void explain_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  scorer *s = get_scorer(ctx, argv, 0, "lstm_ae_explain");
  if (!s || get_window(ctx, s, argv[1], "lstm_ae_explain")) return;
  int top = argc > 2 ? sqlite3_value_int(argv[2]) : 3;
  if (top < 0) top = 0;
  const fg_model *m = s->m;
  const fz *z = &m->z;
  float score = score_window(s);
  ae_batch b = fz_batch_view(&s->fb);
  ae_field_errors(&m->s, &b, s->work, s->ferr, s->pred);
  int T = m->s.T, F = z->F, len = s->win.n_steps;
  contrib *cs = malloc((size_t)len * (size_t)F * sizeof *cs + 1);
  json_t *steps = json_array(), *root = json_object();
  if (!cs || !steps || !root) goto oom;
  int nc = 0;
  for (int t = 0; t < len; t++) {
    int present = 0;
    double sum = 0;
    for (int f = 0; f < F; f++) {
      int k = z->f[f].kind == FZ_CAT ? z->f[f].col : z->C + z->f[f].col;
      float e = s->ferr[(size_t)t * (size_t)(z->C + z->N) + (size_t)k];
      if (!isnan(e)) present++, sum += e;
    }
    json_t *fields = json_object();
    for (int f = 0; f < F; f++) {
      const fz_field *fd = &z->f[f];
      int k = fd->kind == FZ_CAT ? fd->col : z->C + fd->col;
      size_t at = (size_t)t * (size_t)(z->C + z->N) + (size_t)k;
      float e = s->ferr[at];
      json_t *o = json_object();
      json_object_set_new(o, "value", window_value_json(&s->win, t, f));
      json_object_set_new(o, "error", isnan(e) ? json_null() : json_real(e));
      json_object_set_new(o, "predicted", predicted_json(fd, s->pred[at]));
      int unseen = fd->kind == FZ_CAT && fz_slot(fd, &s->win, fg_window_val(&s->win, t, f)) == 0;
      if (fd->kind == FZ_CAT) json_object_set_new(o, "known", json_boolean(!unseen));
      json_object_set_new(fields, fd->name, o);
      if (!isnan(e) && present) cs[nc++] = (contrib){t, f, unseen, e, score > 0 ? e / present / len / score : 0};
    }
    json_array_append_new(steps, json_pack("{s:i, s:f, s:o}", "step", t + 1, "error", present ? sum / present : 0.0, "fields", fields));
  }
  qsort(cs, (size_t)nc, sizeof *cs, by_share_desc);
  json_t *tops = json_array();
  for (int i = 0; i < nc && i < top; i++) {
    const fz_field *fd = &z->f[cs[i].f];
    int k = fd->kind == FZ_CAT ? fd->col : z->C + fd->col;
    float pred = s->pred[(size_t)cs[i].t * (size_t)(z->C + z->N) + (size_t)k];
    const fg_val *v = fg_window_val(&s->win, cs[i].t, cs[i].f);
    char reason[512];
    if (cs[i].unseen) {
      snprintf(reason, sizeof reason, "step %d: %s '%.200s' was never seen in training", cs[i].t + 1, fd->name,
               v->kind == FG_V_STR ? fg_window_valstr(&s->win, v) : "?");
    } else if (fd->kind == FZ_CAT && fz_slot(fd, &s->win, v) == (int32_t)pred) {
      /* The likeliest value is the one seen, but with little confidence: "unusual here
      ** (expected X)" with X the value itself would read as a contradiction. */
      snprintf(reason, sizeof reason, "step %d: %s '%.200s' was expected here, but the model was unsure of it",
               cs[i].t + 1, fd->name,
               v->kind == FG_V_STR ? fg_window_valstr(&s->win, v) : v->kind == FG_V_NULL ? "null" : "(number)");
    } else if (fd->kind == FZ_CAT) {
      size_t l;
      int isnull;
      const char *p = fz_slot_text(fd, (int32_t)pred, &l, &isnull);
      snprintf(reason, sizeof reason, "step %d: %s '%.200s' is unusual here (expected '%.*s')", cs[i].t + 1, fd->name,
               v->kind == FG_V_STR ? fg_window_valstr(&s->win, v) : v->kind == FG_V_NULL ? "null" : "(number)",
               (int)(l > 200 ? 200 : l), p);
    } else if (v->kind == FG_V_STR) {
      snprintf(reason, sizeof reason, "step %d: %s is the text '%.200s' where training saw only numbers", cs[i].t + 1,
               fd->name, fg_window_valstr(&s->win, v));
    } else {
      double g = (double)pred * fd->std + fd->mean;
      snprintf(reason, sizeof reason, "step %d: %s = %.6g, expected about %.6g", cs[i].t + 1, fd->name, v->num,
               fd->log ? expm1(g) : g);
    }
    json_array_append_new(tops, json_pack("{s:i, s:s, s:o, s:f, s:f, s:s}", "step", cs[i].t + 1, "field", fd->name,
                                          "value", window_value_json(&s->win, cs[i].t, cs[i].f), "error", cs[i].err,
                                          "share", cs[i].share, "reason", reason));
  }
  json_object_set_new(root, "score", json_real(score));
  json_object_set_new(root, "threshold", isfinite(m->threshold) ? json_real(m->threshold) : json_null());
  json_object_set_new(root, "is_anomaly", isfinite(m->threshold) ? json_boolean(score > m->threshold) : json_null());
  json_object_set_new(root, "top", tops);
  json_object_set_new(root, "steps", steps);
  steps = NULL;
  (void)T;
  char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6) | JSON_ENSURE_ASCII);
  json_decref(root);
  free(cs);
  if (!text) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, text, -1, free);
  sqlite3_result_subtype(ctx, 'J');
  return;
oom:
  free(cs);
  json_decref(steps);
  json_decref(root);
  sqlite3_result_error_nomem(ctx);
}

/* lstm_ae_threshold(model) → REAL or NULL; lstm_ae_set_threshold(model, x) → the model BLOB with
** threshold x (NULL clears it): the pipeline stores the DBSCAN threshold it derived in the model. */
static void threshold_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  scorer *s = get_scorer(ctx, argv, 0, "lstm_ae_threshold");
  if (!s) return;
  if (isfinite(s->m->threshold)) sqlite3_result_double(ctx, s->m->threshold);
  else sqlite3_result_null(ctx);
}

static void set_threshold_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  fg_model *m = NULL;
  fg_err err;
  fg_err_clear(&err);
  int t = sqlite3_value_type(argv[1]);
  if (t != SQLITE_NULL && t != SQLITE_INTEGER && t != SQLITE_FLOAT) {
    sqlite3_result_error(ctx, "lstm_ae_set_threshold: threshold must be a number or NULL", -1);
    return;
  }
  double x = t == SQLITE_NULL ? NAN : sqlite3_value_double(argv[1]);
  if (t != SQLITE_NULL && !isfinite(x)) {
    sqlite3_result_error(ctx, "lstm_ae_set_threshold: threshold must be finite", -1);
    return;
  }
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
    sqlite3_result_error(ctx, "lstm_ae_set_threshold: model must be a BLOB from lstm_ae_train", -1);
    return;
  }
  unsigned char *blob = NULL;
  size_t len = 0;
  if (fg_model_load(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]), &m, &err) == 0) {
    m->threshold = x;
    fg_model_save(m, &blob, &len, &err);
  }
  fg_model_free(m);
  if (err.code) {
    fg_err_prefix(&err, "lstm_ae_set_threshold");
    fg_result_err(ctx, &err);
    return;
  }
  sqlite3_result_blob(ctx, blob, (int)len, free);
}

/* --- training aggregate --------------------------------------------------------------------- */

typedef struct train_ctx {
  int started, failed;
  fz z;
  fz_data d;
  fg_window w;
  fg_train_opts o;
  int64_t rows;
} train_ctx;

static void progress_cb(void *ctx, const fg_epoch_report *r) {
  (void)ctx;
  if (isnan(r->val_loss))
    fprintf(stderr, "lstm_ae_train: epoch %d/%d  train %.6f  %.0f windows/s  %.1fs%s\n", r->epoch,
            r->max_epochs, r->train_loss, r->windows_per_s, r->seconds, r->improved ? " *" : "");
  else
    fprintf(stderr, "lstm_ae_train: epoch %d/%d  train %.6f  val %.6f  %.0f windows/s  %.1fs%s\n",
            r->epoch, r->max_epochs, r->train_loss, r->val_loss, r->windows_per_s, r->seconds,
            r->improved ? " *" : "");
}

static void train_fail(sqlite3_context *ctx, train_ctx *t, fg_err *err) {
  t->failed = 1;
  fg_err_prefix(err, "lstm_ae_train");
  fg_result_err(ctx, err);
}

/* Options are read from the first row; the JSON keys are checked by fg_train_opts_parse. */
static int read_options(sqlite3_context *ctx, train_ctx *t, int argc, sqlite3_value **argv, fg_err *err) {
  fg_train_opts_default(&t->o);
  t->o.progress = isatty(2);
  if (argc < 2 || sqlite3_value_type(argv[1]) == SQLITE_NULL) return 0;
  return fg_train_opts_parse(&t->o, (const char *)sqlite3_value_text(argv[1]), err);
}

static void train_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  train_ctx *t = sqlite3_aggregate_context(ctx, sizeof *t);
  if (!t) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (t->failed) return;
  fg_err err;
  fg_err_clear(&err);
  if (!t->started) {
    t->started = 1;
    fz_init(&t->z);
    fg_window_init(&t->w);
    if (read_options(ctx, t, argc, argv, &err)) {
      train_fail(ctx, t, &err);
      return;
    }
  }
  t->rows++;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    fg_errf(&err, FG_EINVAL, "window is NULL (row %lld)", (long long)t->rows);
  } else if (fg_window_parse(&t->w, (const char *)sqlite3_value_text(argv[0]),
                             (size_t)sqlite3_value_bytes(argv[0]), &err) == 0) {
    fz_add(&t->z, &t->d, &t->w, &err);
  } else {
    fg_err_prefix(&err, "row %lld", (long long)t->rows);
  }
  if (err.code) train_fail(ctx, t, &err);
}

static void train_final(sqlite3_context *ctx) {
  train_ctx *t = sqlite3_aggregate_context(ctx, 0);
  if (!t || !t->started) {
    sqlite3_result_error(ctx, "lstm_ae_train: no windows to train on", -1);
    return;
  }
  fg_err err;
  fg_err_clear(&err);
  fg_model *m = NULL;
  unsigned char *blob = NULL;
  size_t len = 0;
  if (t->failed) {
    /* The error was already reported by xStep; SQLite keeps the first one. */
  } else if (fg_train_apply_std_min(&t->o, &t->z, &err) || fz_finish(&t->z, &t->d, t->o.vocab, &err) ||
             fg_train(&t->z, &t->d, &t->o, progress_cb, NULL, &m, &err) || fg_model_save(m, &blob, &len, &err)) {
    fg_err_prefix(&err, "lstm_ae_train");
    fg_result_err(ctx, &err);
  } else if (len > 0x7fffffff) {
    sqlite3_result_error_toobig(ctx);
  } else {
    sqlite3_result_blob(ctx, blob, (int)len, free);
    blob = NULL;
  }
  free(blob);
  fg_model_free(m);
  fz_free(&t->z);
  fz_data_free(&t->d);
  fg_window_free(&t->w);
}


/* --- delta update aggregate ------------------------------------------------------------------ */

/* lstm_ae_update(model, window [, options]) → the model trained further on these windows. The
** model (and options) are read from the first row. Categorical values the model never saw are
** added to its vocabulary (up to its `vocab` limit) and get fresh input rows and output slots;
** scalers stay. Structural options (hidden, layers, embed, window) cannot change. Defaults:
** epochs 10, lr 0.002, patience 3, the rest as the model was trained. */
typedef struct update_ctx {
  int started, failed;
  fg_model *m;
  fz_data d;
  fg_window w;
  fg_train_opts o;
  int64_t rows;
} update_ctx;

static void update_fail(sqlite3_context *ctx, update_ctx *u, fg_err *err) {
  u->failed = 1;
  fg_err_prefix(err, "lstm_ae_update");
  fg_result_err(ctx, err);
}

static int update_start(update_ctx *u, int argc, sqlite3_value **argv, fg_err *err) {
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB)
    return fg_errf(err, FG_EINVAL, "model must be a BLOB from lstm_ae_train");
  if (fg_model_load(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]), &u->m, err)) return err->code;
  fg_train_opts_default(&u->o);
  if (fg_train_opts_parse(&u->o, u->m->options, err)) return err->code;
  fg_train_opts structural = u->o;
  u->o.epochs = 10;
  u->o.lr = 0.002;
  u->o.patience = 3;
  u->o.progress = isatty(2);
  if (argc > 2 && sqlite3_value_type(argv[2]) != SQLITE_NULL &&
      fg_train_opts_parse(&u->o, (const char *)sqlite3_value_text(argv[2]), err))
    return err->code;
  const char *changed = u->o.hidden != structural.hidden ? "hidden"
                        : u->o.layers != structural.layers ? "layers"
                        : u->o.embed != structural.embed ? "embed"
                        : u->o.window != structural.window ? "window" : NULL;
  if (changed) return fg_errf(err, FG_EINVAL, "option '%s' cannot change in an update (retrain instead)", changed);
  return 0;
}

static void update_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  update_ctx *u = sqlite3_aggregate_context(ctx, sizeof *u);
  if (!u) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (u->failed) return;
  fg_err err;
  fg_err_clear(&err);
  if (!u->started) {
    u->started = 1;
    fg_window_init(&u->w);
    if (update_start(u, argc, argv, &err)) {
      update_fail(ctx, u, &err);
      return;
    }
  }
  u->rows++;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL)
    fg_errf(&err, FG_EINVAL, "window is NULL (row %lld)", (long long)u->rows);
  else if (fg_window_parse(&u->w, (const char *)sqlite3_value_text(argv[1]), (size_t)sqlite3_value_bytes(argv[1]), &err))
    fg_err_prefix(&err, "row %lld", (long long)u->rows);
  else if (u->w.n_steps > u->m->s.T)
    fg_errf(&err, FG_EINVAL, "row %lld: window has %d steps, the model's window size is %d", (long long)u->rows,
            u->w.n_steps, u->m->s.T);
  else
    fz_add_grow(&u->m->z, &u->d, &u->w, u->o.vocab, &err);
  if (err.code) update_fail(ctx, u, &err);
}

static void update_final(sqlite3_context *ctx) {
  update_ctx *u = sqlite3_aggregate_context(ctx, 0);
  if (!u || !u->started) {
    sqlite3_result_error(ctx, "lstm_ae_update: no windows to update on", -1);
    return;
  }
  fg_err err;
  fg_err_clear(&err);
  unsigned char *blob = NULL;
  size_t len = 0;
  if (!u->failed) {
    if (fg_update(u->m, &u->d, &u->o, progress_cb, NULL, &err) || fg_model_save(u->m, &blob, &len, &err)) {
      fg_err_prefix(&err, "lstm_ae_update");
      fg_result_err(ctx, &err);
    } else {
      sqlite3_result_blob(ctx, blob, (int)len, free);
      blob = NULL;
    }
  }
  free(blob);
  fg_model_free(u->m);
  fz_data_free(&u->d);
  fg_window_free(&u->w);
}


/* --- lstm_ae_detect: batch scoring as a table-valued function -------------------------------- */

/*
**   SELECT * FROM lstm_ae_detect((SELECT model FROM models WHERE name = 'fnA'),
**                                'SELECT rowid, window FROM w WHERE part = ''fnA''');
**   -- id | score | threshold | is_anomaly | n_steps | hot_steps | novel_steps
**
** The query's first column is an identifier passed through as `id`, its second the window. Windows
** are featurized 256 at a time and scored in one batch through BLAS: the fast path, shaped like
** BigQuery ML's ML.DETECT_ANOMALIES. The threshold is the model's own unless a third argument
** gives one; is_anomaly is score > threshold (NULL without a threshold). hot_steps, on anomalous
** windows only, is a JSON array of the steps (0-based) that made the window anomalous: the score
** is the mean of the step errors, and these are the fewest steps, largest errors first, whose
** excess over the threshold covers the window's (put at the threshold, they would leave it
** normal; ae_hot_steps), plus any step holding a categorical value never seen in training.
** Alerts can cover those instead of the whole window (NULL otherwise). The other steps above the
** threshold are mostly context: a large window around one bad call reconstructs its neighbours
** worse too, and counting them made alerts of 20 events. novel_steps, on anomalous windows only,
** is the JSON array of the steps holding a categorical value never seen in training ([] when
** none): the strongest evidence a window has, which the pipeline lets one detector alert on
** where it otherwise asks for more (its setting vote_novel).
**
**   CREATE TABLE x(id, score REAL, threshold REAL, is_anomaly INTEGER, n_steps INTEGER,
**                  hot_steps TEXT, novel_steps TEXT, model HIDDEN, query HIDDEN, thr HIDDEN,
**                  threads HIDDEN)
** (the fourth argument, threads, is the OpenBLAS thread count while scoring; default 1)
**
** Because it runs SQL text given as an argument, it is DIRECTONLY: a view or trigger in a hostile
** database cannot make it run a query of its choosing on the analyst's connection.
*/
#define DET_COL_ID 0
#define DET_COL_SCORE 1
#define DET_COL_THRESHOLD 2
#define DET_COL_IS_ANOMALY 3
#define DET_COL_N_STEPS 4
#define DET_COL_HOT_STEPS 5
#define DET_COL_NOVEL_STEPS 6
#define DET_COL_MODEL 7
#define DET_COL_QUERY 8
#define DET_COL_THR 9
#define DET_COL_THREADS 10
#define DET_BATCH 256

typedef struct det_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
} det_vtab;

typedef struct det_cursor {
  sqlite3_vtab_cursor base;
  scorer *s;              /* owned: a batch workspace, not the per-row cache */
  ae_work *work;          /* B_max DET_BATCH */
  fz_batch fb;
  sqlite3_stmt *q;
  int q_done;
  double thr;             /* NaN = none */
  int threads;            /* OpenBLAS threads while scoring (default 1: at these sizes a second
                             thread mostly spins, see README Performance) */
  sqlite3_value *ids[DET_BATCH];
  float err[DET_BATCH];
  int steps[DET_BATCH];
  int *hot;               /* [T] hot_steps of the current window, and their scratch: */
  float *hot_scratch;     /* [T] (allocated once per query) */
  int n, pos;             /* windows in the batch, current one */
  sqlite3_int64 rowid;
  int eof;
} det_cursor;

static int det_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **pp, char **pzErr) {
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id, score REAL, threshold REAL, is_anomaly INTEGER, "
                                    "n_steps INTEGER, hot_steps TEXT, novel_steps TEXT, model HIDDEN, query HIDDEN, thr HIDDEN, "
                                    "threads HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  det_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->db = db;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  *pp = &v->base;
  return SQLITE_OK;
}

static int det_disconnect(sqlite3_vtab *p) {
  sqlite3_free(p);
  return SQLITE_OK;
}

/* idxNum bits: 1 model, 2 query, 4 thr, 8 threads — argv of xFilter in that order. Model and
** query are required: a plan without them is refused. */
static int det_best_index(sqlite3_vtab *tab, sqlite3_index_info *info) {
  int at[4] = {-1, -1, -1, -1};
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (c->iColumn < DET_COL_MODEL || c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!c->usable) return SQLITE_CONSTRAINT;
    at[c->iColumn - DET_COL_MODEL] = i;
  }
  if (at[0] < 0 || at[1] < 0) {
    sqlite3_free(tab->zErrMsg);
    tab->zErrMsg = sqlite3_mprintf("lstm_ae_detect: needs a model and a query: lstm_ae_detect(model, 'SELECT id, window FROM ...')");
    return SQLITE_ERROR;
  }
  int n = 0;
  info->idxNum = 0;
  for (int k = 0; k < 4; k++) {
    if (at[k] < 0) continue;
    info->idxNum |= 1 << k;
    info->aConstraintUsage[at[k]].argvIndex = ++n;
    info->aConstraintUsage[at[k]].omit = 1;
  }
  info->estimatedCost = 1e5;
  return SQLITE_OK;
}

static void det_clear_batch(det_cursor *c) {
  for (int i = 0; i < c->n; i++) sqlite3_value_free(c->ids[i]), c->ids[i] = NULL;
  c->n = c->pos = 0;
}

static void det_release(det_cursor *c) {
  det_clear_batch(c);
  sqlite3_finalize(c->q);
  c->q = NULL;
  ae_work_free(c->work);
  c->work = NULL;
  fz_batch_free(&c->fb);
  sqlite3_free(c->hot);
  sqlite3_free(c->hot_scratch);
  c->hot = NULL;
  c->hot_scratch = NULL;
  scorer_free(c->s);
  c->s = NULL;
}

static int det_open(sqlite3_vtab *tab, sqlite3_vtab_cursor **pp) {
  det_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *pp = &c->base;
  return SQLITE_OK;
}

static int det_close(sqlite3_vtab_cursor *cur) {
  det_release((det_cursor *)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int det_error(det_cursor *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sqlite3_free(c->base.pVtab->zErrMsg);
  c->base.pVtab->zErrMsg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  return SQLITE_ERROR;
}

/* Reads and scores the next batch of up to DET_BATCH windows. */
static int det_fill(det_cursor *c) {
  det_clear_batch(c);
  if (c->q_done) {
    c->eof = 1;
    return SQLITE_OK;
  }
  const fg_model *m = c->s->m;
  fz_batch_begin(&c->fb, DET_BATCH);
  fg_err err;
  while (c->n < DET_BATCH) {
    int rc = sqlite3_step(c->q);
    if (rc == SQLITE_DONE) {
      c->q_done = 1;
      break;
    }
    if (rc != SQLITE_ROW)
      return det_error(c, "lstm_ae_detect: query failed: %s", sqlite3_errmsg(((det_vtab *)c->base.pVtab)->db));
    sqlite3_value *id = sqlite3_column_value(c->q, 0);
    fg_err_clear(&err);
    if (sqlite3_column_type(c->q, 1) == SQLITE_NULL) fg_errf(&err, FG_EINVAL, "window is NULL");
    else if (!fg_window_parse(&c->s->win, (const char *)sqlite3_column_text(c->q, 1), (size_t)sqlite3_column_bytes(c->q, 1), &err) &&
             !fz_check_fields(&m->z, &c->s->win, &err) && c->s->win.n_steps > m->s.T)
      fg_errf(&err, FG_EINVAL, "window has %d steps, the model's window size is %d", c->s->win.n_steps, m->s.T);
    if (err.code) {
      const char *idt = (const char *)sqlite3_value_text(id);
      return det_error(c, "lstm_ae_detect: id %s: %s", idt ? idt : "NULL", err.msg);
    }
    if (!(c->ids[c->n] = sqlite3_value_dup(id))) return SQLITE_NOMEM;
    c->steps[c->n] = c->s->win.n_steps;
    fz_batch_set_window(&m->z, &c->fb, c->n, &c->s->win);
    c->n++;
  }
  if (c->n == 0) {
    c->eof = 1;
    return SQLITE_OK;
  }
  fz_batch_shrink(&c->fb, c->n);
  ae_batch b = fz_batch_view(&c->fb);
  int saved = openblas_get_num_threads();
  if (saved != c->threads) openblas_set_num_threads(c->threads);
  ae_forward(&m->s, m->params, &b, c->work, c->err);
  if (saved != c->threads) openblas_set_num_threads(saved);
  return SQLITE_OK;
}

static int det_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc, sqlite3_value **argv) {
  det_cursor *c = (det_cursor *)cur;
  det_vtab *v = (det_vtab *)cur->pVtab;
  det_release(c);
  c->eof = 0;
  c->q_done = 0;
  c->rowid = 0;
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) return det_error(c, "lstm_ae_detect: model must be a BLOB from lstm_ae_train");
  if (sqlite3_value_type(argv[1]) != SQLITE_TEXT) return det_error(c, "lstm_ae_detect: query must be SQL text");
  fg_err err;
  fg_err_clear(&err);
  c->s = scorer_load(sqlite3_value_blob(argv[0]), sqlite3_value_bytes(argv[0]), &err);
  if (!c->s) return err.code == FG_ENOMEM ? SQLITE_NOMEM : det_error(c, "lstm_ae_detect: %s", err.msg);
  c->work = ae_work_new(&c->s->m->s, DET_BATCH);
  c->hot = sqlite3_malloc64(sizeof(int) * (size_t)c->s->m->s.T);
  c->hot_scratch = sqlite3_malloc64(sizeof(float) * (size_t)c->s->m->s.T);
  if (!c->work || !c->hot || !c->hot_scratch || fz_batch_alloc(&c->fb, c->s->m->s.T, c->s->m->s.C, c->s->m->s.N, DET_BATCH))
    return SQLITE_NOMEM;
  c->thr = c->s->m->threshold;
  if ((idxNum & 4) && argc > 2 && sqlite3_value_type(argv[2]) != SQLITE_NULL) {
    int t = sqlite3_value_type(argv[2]);
    if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) return det_error(c, "lstm_ae_detect: threshold must be a number");
    c->thr = sqlite3_value_double(argv[2]);
  }
  c->threads = 1;
  if ((idxNum & 8) && sqlite3_value_type(argv[argc - 1]) != SQLITE_NULL) {
    c->threads = sqlite3_value_int(argv[argc - 1]);
    if (c->threads < 1 || c->threads > 256) return det_error(c, "lstm_ae_detect: threads must be in [1, 256]");
  }
  const char *sql = (const char *)sqlite3_value_text(argv[1]);
  if (sqlite3_prepare_v2(v->db, sql, -1, &c->q, 0) != SQLITE_OK)
    return det_error(c, "lstm_ae_detect: query: %s", sqlite3_errmsg(v->db));
  if (!c->q) return det_error(c, "lstm_ae_detect: query is empty");
  if (!sqlite3_stmt_readonly(c->q)) return det_error(c, "lstm_ae_detect: query must be a read-only SELECT");
  if (sqlite3_column_count(c->q) < 2)
    return det_error(c, "lstm_ae_detect: query must return (id, window), it returns %d column(s)", sqlite3_column_count(c->q));
  return det_fill(c);
}

static int det_next(sqlite3_vtab_cursor *cur) {
  det_cursor *c = (det_cursor *)cur;
  c->rowid++;
  if (++c->pos < c->n) return SQLITE_OK;
  return det_fill(c);
}

static int det_eof(sqlite3_vtab_cursor *cur) { return ((det_cursor *)cur)->eof; }

/* Does step t of the current window hold a categorical value never seen in training (slot 0)? */
static int det_unseen(const det_cursor *c, int t) {
  const fz_batch *fb = &c->fb;
  for (int f = 0; f < fb->C; f++)
    if (fb->cat[((size_t)t * fb->B + c->pos) * fb->C + f] == 0) return 1;
  return 0;
}

/* The current window's hot steps into c->hot (ascending), how many: those ae_hot_steps finds,
** and every step holding a categorical value never seen in training (slot 0), whatever its error.
** A large window can reconstruct a never-seen call better than the normal steps after it (the
** pipeline's test: iam:CreateUser after a delta update, where only the 20-step window flags it
** and its largest errors are elsewhere); the new value is what the alert must cover. */
static int det_hot_steps(det_cursor *c) {
  int k = ae_hot_steps(c->work, c->pos, c->thr, c->hot, c->hot_scratch);
  for (int t = 0; t < c->steps[c->pos]; t++) {
    int in = 0;
    for (int i = 0; i < k && !in; i++) in = c->hot[i] == t;
    if (in || !det_unseen(c, t)) continue;
    int j = k++;
    for (; j > 0 && c->hot[j - 1] > t; j--) c->hot[j] = c->hot[j - 1];
    c->hot[j] = t;
  }
  return k;
}

static int det_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  det_cursor *c = (det_cursor *)cur;
  double e = c->err[c->pos];
  switch (col) {
    case DET_COL_ID: sqlite3_result_value(ctx, c->ids[c->pos]); break;
    case DET_COL_SCORE: sqlite3_result_double(ctx, e); break;
    case DET_COL_THRESHOLD:
      if (isnan(c->thr)) sqlite3_result_null(ctx);
      else sqlite3_result_double(ctx, c->thr);
      break;
    case DET_COL_IS_ANOMALY:
      if (isnan(c->thr)) sqlite3_result_null(ctx);
      else sqlite3_result_int(ctx, e > c->thr);
      break;
    case DET_COL_N_STEPS: sqlite3_result_int(ctx, c->steps[c->pos]); break;
    case DET_COL_HOT_STEPS:
    case DET_COL_NOVEL_STEPS: {
      if (isnan(c->thr) || !(e > c->thr)) break; /* NULL */
      sqlite3_str *js = sqlite3_str_new(0);
      sqlite3_str_appendchar(js, 1, '[');
      if (col == DET_COL_HOT_STEPS) {
        int k = det_hot_steps(c);
        for (int i = 0; i < k; i++) sqlite3_str_appendf(js, i ? ",%d" : "%d", c->hot[i]);
      } else {
        for (int t = 0, k = 0; t < c->steps[c->pos]; t++)
          if (det_unseen(c, t)) sqlite3_str_appendf(js, k++ ? ",%d" : "%d", t);
      }
      sqlite3_str_appendchar(js, 1, ']');
      int n = sqlite3_str_length(js);
      char *text = sqlite3_str_finish(js);
      if (!text) return SQLITE_NOMEM;
      sqlite3_result_text(ctx, text, n, sqlite3_free);
      break;
    }
    default: sqlite3_result_null(ctx);
  }
  return SQLITE_OK;
}

static int det_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *r) {
  *r = ((det_cursor *)cur)->rowid;
  return SQLITE_OK;
}

static sqlite3_module det_module = {
    0, 0 /* eponymous only */, det_connect, det_best_index, det_disconnect, 0, det_open, det_close,
    det_filter, det_next, det_eof, det_column, det_rowid, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int fg_register_lstm(sqlite3 *db) {
  model_cache *c = calloc(1, sizeof *c);
  if (!c) return SQLITE_NOMEM;
  /* The cache lives as long as the connection: lstm_ae_score owns it (destructor), the others
  ** share it. Registered first so a failure below does not leak it. */
  int rc = sqlite3_create_function_v2(db, "lstm_ae_score", 2, FG_PURE, c, score_func, 0, 0, cache_destroy);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_info", 1, FG_PURE, c, info_func, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_train", 1, SQLITE_UTF8, 0, 0, train_step, train_final);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_train", 2, SQLITE_UTF8, 0, 0, train_step, train_final);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_explain", 2, FG_PURE, c, explain_func, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_explain", 3, FG_PURE, c, explain_func, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_threshold", 1, FG_PURE, c, threshold_func, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_set_threshold", 2, FG_PURE, 0, set_threshold_func, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_update", 2, SQLITE_UTF8, 0, 0, update_step, update_final);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_update", 3, SQLITE_UTF8, 0, 0, update_step, update_final);
  if (rc == SQLITE_OK) rc = sqlite3_create_module(db, "lstm_ae_detect", &det_module, 0);
  return rc;
}
