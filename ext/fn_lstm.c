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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    if (e->s && e->n == n && e->crc == crc && memcmp(e->blob, blob, (size_t)n) == 0) {
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
    e->s = s, e->blob = copy, e->n = n, e->crc = crc, e->gen = ++c->gen;
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
  } else if (fz_finish(&t->z, &t->d, t->o.vocab, &err) || fg_train(&t->z, &t->d, &t->o, progress_cb, NULL, &m, &err) ||
             fg_model_save(m, &blob, &len, &err)) {
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

int fg_register_lstm(sqlite3 *db) {
  model_cache *c = calloc(1, sizeof *c);
  if (!c) return SQLITE_NOMEM;
  /* The cache lives as long as the connection: lstm_ae_score owns it (destructor), the others
  ** share it. Registered first so a failure below does not leak it. */
  int rc = sqlite3_create_function_v2(db, "lstm_ae_score", 2, FG_PURE, c, score_func, 0, 0, cache_destroy);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_info", 1, FG_PURE, c, info_func, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_train", 1, SQLITE_UTF8, 0, 0, train_step, train_final);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "lstm_ae_train", 2, SQLITE_UTF8, 0, 0, train_step, train_final);
  return rc;
}
