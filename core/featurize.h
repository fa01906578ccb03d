/*
** featurize.h — from windows (window.h) to the ids and scaled numbers the network eats.
**
** A featurizer describes each field of a window:
**   categorical — its values seen in training form a vocabulary; slot 0 is "unknown" (a value
**                 never seen in training: it scores as anomalous, it is never an error), slots
**                 1..V-1 the known values, most frequent first (ties: byte order). null is a value
**                 of its own. A number appearing in a categorical field is its decimal text.
**   numeric     — scaled as z = (g(x) − mean) / std, with g = log1p for heavy-tailed fields and
**                 the identity otherwise, clamped to ±FZ_CLAMP; null is "missing" (masked out).
** A field's kind is that of its first non-null value in training (string → categorical, number →
** numeric; only nulls: categorical); a string later in a numeric field is an error. The heavy-tail rule: a field whose
** training values are all ≥ 0 and whose sample skewness exceeds 1 is log1p-scaled.
**
** Training windows are first gathered in an fz_data (compact: 4 bytes per value) with temporary
** ids; fz_finish then fixes vocabularies and scalers and rewrites the data in place.
*/
#ifndef FG_FEATURIZE_H
#define FG_FEATURIZE_H

#include <stddef.h>
#include <stdint.h>

#include "ae_net.h"
#include "fg_err.h"
#include "strmap.h"
#include "window.h"

#define FZ_CLAMP 1e4f
enum { FZ_UNSET = 0, FZ_CAT = 1, FZ_NUM = 2 };

typedef struct fz_field {
  char name[128];
  int kind;            /* FZ_CAT / FZ_NUM (FZ_UNSET while only nulls were seen) */
  int col;             /* index among the fields of its kind */
  /* categorical */
  strmap vocab;        /* key → id; key = "s"+text or "n" for null; slot = vocab id + 1 */
  uint64_t *count;     /* training only: occurrences per temporary id */
  /* numeric */
  int log;             /* 1: log1p before standardising */
  double mean, std;
  double log_std_min;  /* fz_finish: this field's own floor (see fz.log_std_min) */
} fz_field;

typedef struct fz {
  int F;                            /* fields */
  fz_field f[FG_WINDOW_MAX_FIELDS]; /* in window order */
  int C, N;                         /* categorical and numeric field counts */
  double log_std_min;               /* fz_finish: least std of a log-scaled field (0: none) */
} fz;

/* Training windows, gathered. Window i has len[i] steps; its values start at cells[off[i]] and
** run [step][field]. A cell is an int32 id for categorical fields and a float for numeric ones
** (raw until fz_finish, scaled after; NaN = missing). */
typedef union fz_cell {
  int32_t id;
  float x;
} fz_cell;

typedef struct fz_data {
  size_t n, cap;       /* windows */
  int32_t *len;        /* [n] */
  size_t *off;         /* [n] */
  fz_cell *cells;
  size_t ncells, cellcap;
  int T;               /* longest window seen */
} fz_data;

void fz_init(fz *z);
void fz_free(fz *z);
void fz_data_free(fz_data *d);
/* Training: checks w's fields against z (setting them from the first window) and appends it.
** Errors name the window (1-based index) and step. */
int fz_add(fz *z, fz_data *d, const fg_window *w, fg_err *err);
/* Training: builds vocabularies (at most vocab_max known values per field; rarer values map to
** slot 0) and scalers, and rewrites d's cells into slots and scaled values. */
int fz_finish(fz *z, fz_data *d, int vocab_max, fg_err *err);
/* Delta update: like fz_add on a finished featurizer, but unseen categorical values are added to
** the vocabulary (growing V) instead of mapping to "unknown"; scalers stay as they are. Cells are
** stored final (slots, scaled values). */
int fz_add_grow(fz *z, fz_data *d, const fg_window *w, int vocab_max, fg_err *err);
/* Fills the network's shape fields C, N, V from z. */
void fz_shape(const fz *z, ae_shape *s);
/* Checks that w has z's fields, in order (error names both lists). */
int fz_check_fields(const fz *z, const fg_window *w, fg_err *err);

/* Batch arrays for up to `cap` windows of T steps, time-major as ae_batch wants: [T][B][.] for
** the current batch size B (set by fz_batch_begin before filling positions 0..B-1). */
typedef struct fz_batch {
  int T, C, N, cap;
  int B;               /* windows in the current batch, 1..cap */
  int32_t *cat;        /* [T][B][C] */
  float *num;          /* [T][B][N] */
  uint8_t *ok;         /* [T][B][N] */
  int32_t *len;        /* [B] */
} fz_batch;
int fz_batch_alloc(fz_batch *b, int T, int C, int N, int cap);
void fz_batch_free(fz_batch *b);
/* Starts a batch of B windows (clamped to 1..cap). */
void fz_batch_begin(fz_batch *b, int B);
/* Keeps only the first B windows of the current batch, re-laid out for stride B (for a batch
** begun at full size before the number of windows was known). */
void fz_batch_shrink(fz_batch *b, int B);
/* Puts training window idx of d into position j of the batch (steps beyond its length padded). */
void fz_batch_set_data(const fz *z, fz_batch *b, int j, const fz_data *d, size_t idx);
/* Puts a parsed window into position j, featurized with z (unknown values → slot 0). The window
** must have z's fields (fz_check_fields) and at most b->T steps. */
void fz_batch_set_window(const fz *z, fz_batch *b, int j, const fg_window *w);
/* An ae_batch view of the current batch. */
ae_batch fz_batch_view(const fz_batch *b);

/* Slot of a categorical value (0 if unknown), and the text of a slot ("null" for null, "<unknown>"
** for slot 0) for explanations. */
int32_t fz_slot(const fz_field *f, const fg_window *w, const fg_val *v);
const char *fz_slot_text(const fz_field *f, int32_t slot, size_t *len, int *is_null);

#endif
