/*
** train.h — training and delta-updating a model on featurized windows.
**
** Mini-batches in a seeded shuffle, Adam, gradient clipping by global norm, a validation split
** with early stopping (the model keeps the parameters of its best validation epoch). The same
** windows, options and seed give a byte-identical model at a given BLAS thread count.
*/
#ifndef FG_TRAIN_H
#define FG_TRAIN_H

#include <stdint.h>

#include "featurize.h"
#include "model.h"

typedef struct fg_train_opts {
  int hidden;         /* H, default 64 */
  int layers;         /* L, default 1 */
  int embed;          /* E, default 0 (one-hot) */
  int epochs;         /* maximum epochs, default 30 */
  int batch;          /* windows per mini-batch, default 64 */
  double lr;          /* Adam learning rate, default 0.005 */
  double clip;        /* global gradient-norm clip, default 5 (0 = off) */
  uint64_t seed;      /* default 42 */
  double validation;  /* fraction held out for early stopping, default 0.1 (0 = none) */
  int patience;       /* epochs without validation improvement before stopping, default 5 */
  int threads;        /* OpenBLAS threads, default 1 */
  int vocab;          /* most known values per categorical field, default 10000 */
  int window;         /* T; default 0 = the longest training window */
  int max_windows;    /* train on a seeded sample of at most this many windows; 0 = all */
  double num_cap;     /* cap on a numeric field's error (ae_shape.num_cap), default 0 = none */
  double log_std_min; /* floor on a log-scaled field's std (fz.log_std_min), default 0 = none */
  int n_std_min;      /* per-field floors ({"field": floor}), applied by fg_train_apply_std_min */
  char std_min_name[FG_WINDOW_MAX_FIELDS][128];
  double std_min_val[FG_WINDOW_MAX_FIELDS];
  int progress;       /* 1: report each epoch through the callback */
} fg_train_opts;

void fg_train_opts_default(fg_train_opts *o);
/* Reads options from a JSON object text (NULL/empty: defaults). Unknown keys and values of the
** wrong type or range are errors naming the key. */
int fg_train_opts_parse(fg_train_opts *o, const char *json, fg_err *err);
/* The effective options as a JSON object text (malloc'd). */
char *fg_train_opts_json(const fg_train_opts *o);
/* Training: sets z's fields' own log_std_min from o's per-field floors and z's overall one; a
** field the windows do not have is an error naming it. Call after the windows are added, before
** fz_finish. */
int fg_train_apply_std_min(const fg_train_opts *o, fz *z, fg_err *err);

typedef struct fg_epoch_report {
  int epoch, max_epochs;
  double train_loss, val_loss;   /* val NaN without validation */
  double windows_per_s;          /* training throughput of this epoch */
  double seconds;                /* since training started */
  int improved;
} fg_epoch_report;
typedef void (*fg_progress_fn)(void *ctx, const fg_epoch_report *r);

/* After training (and after each update) the model's threshold is set from DBSCAN over the
** errors of its validation windows (at least 20 of them; otherwise it has none). */

/* Trains a new model on d (finished by fz_finish with z). z is moved into the model (left empty).
** d is not modified. */
int fg_train(fz *z, const fz_data *d, const fg_train_opts *o, fg_progress_fn cb, void *ctx,
             fg_model **out, fg_err *err);

/* Delta update: continues training m on new windows d (gathered with fz_add_grow on m->z, so
** the vocabulary may have grown); parameters are resized for new values first. Adam moments
** start fresh; early stopping as in training. */
int fg_update(fg_model *m, const fz_data *d, const fg_train_opts *o, fg_progress_fn cb, void *ctx,
              fg_err *err);

/* Reconstruction errors of all windows of d under m (win_err: [d->n]), in batches. */
int fg_score_data(const fg_model *m, const fz_data *d, float *win_err, int threads, fg_err *err);

#endif
