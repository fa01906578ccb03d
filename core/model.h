/*
** model.h — a trained detector: featurizer + network + training record, and its BLOB form.
**
** BLOB layout (all integers little-endian):
**   0   8 bytes  magic "FNGMODL\0"
**   8   u32      format version (FG_MODEL_FORMAT)
**   12  u32      CRC-32 (zlib) of bytes 16..end
**   16  u64      total length in bytes
**   24  u32      M, then M bytes of JSON: dims, fields (kinds, scalers), training record
**   ..  for each categorical field, in field order: u32 K, then K times (u32 len, len bytes):
**       the vocabulary keys, slot 1..K ("s"+text for a string, "n" for null)
**   ..  u64 P, then P float32: the parameters in ae_param_layout order
**   end (must be the total length)
** The loader trusts nothing: every length is checked against what remains, the checksum and the
** dimensions are verified, and the parameter count must be exactly the one the dimensions imply.
*/
#ifndef FG_MODEL_H
#define FG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ae_net.h"
#include "featurize.h"
#include "fg_err.h"

#define FG_MODEL_FORMAT 1
#define FG_MODEL_MAGIC "FNGMODL"

typedef struct fg_model {
  fz z;                 /* featurizer (fields, vocabularies, scalers) */
  ae_shape s;           /* network dimensions */
  float *params;        /* ae_param_count(&s) floats */
  size_t n_params;
  /* training record */
  int64_t n_windows;    /* windows seen in training, updates included */
  int64_t n_train, n_val;
  int epochs_run, best_epoch;
  int n_hist;           /* entries in train_loss / val_loss (all runs, updates appended) */
  float *train_loss, *val_loss;  /* per epoch; val NaN when there was no validation split */
  uint64_t seed;
  int updates;          /* delta updates applied */
  double threshold;     /* NaN when none set */
  char *options;        /* JSON object text: the effective training options */
  uint32_t checksum;    /* CRC of the BLOB it was loaded from / saved to */
} fg_model;

void fg_model_free(fg_model *m);
/* Serialises m into a malloc'd BLOB; sets m->checksum. */
int fg_model_save(fg_model *m, unsigned char **blob, size_t *len, fg_err *err);
/* Parses and validates a BLOB. FG_ECORRUPT with a message on anything wrong. */
int fg_model_load(const unsigned char *blob, size_t len, fg_model **out, fg_err *err);
/* CRC field of a BLOB that at least has a header, else 0 (for cache keys; not a validation). */
uint32_t fg_model_blob_crc(const unsigned char *blob, size_t len);
/* JSON description (malloc'd text) for lstm_ae_info. */
char *fg_model_info(const fg_model *m);
/* Appends one epoch to the record. */
int fg_model_push_epoch(fg_model *m, float train_loss, float val_loss);

#endif
