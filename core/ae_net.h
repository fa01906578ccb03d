/*
** ae_net.h — the LSTM autoencoder network: forward, backward, initialisation, Adam.
**
** Pure numeric code over flat float arrays, in the style of llm.c: every parameter lives in one
** allocation (`params`, ae_param_count floats) with named pointers into it (ae_params); gradients
** and Adam moments mirror it. The featurizer (featurize.h) turns windows into the integer ids and
** scaled numbers this file consumes; it knows nothing about JSON, vocabularies or SQLite.
**
** Shapes:  B batch (windows),  T steps per window (the model's window size),
**          H hidden width,  L LSTM layers in the encoder and in the decoder,
**          C categorical fields with V[c] slots each (slot 0 = "unknown"),  N numeric fields,
**          E embedding width (0 = one-hot),  O = sum(V) + N output width.
** Arrays are time-major: [T][B][...] so one step of a batch is contiguous.
**
** Architecture (the PyTorch twin is tests/reference/ae_reference.py):
**   input x_t    = concat(one_hot(cat_t[c]) for c, num_t)            width D = sum(V) + N
**                  (E > 0: concat(emb_c[cat_t[c]]) for c, num_t)      width D = C*E + N
**   encoder      = L stacked LSTM layers over t = 0..T-1, gates i,f,g,o (PyTorch order),
**                  one bias per gate, h_0 = c_0 = 0
**   latent z_b   = top-layer h at step len[b]-1 (right padding: steps >= len[b] never reach z)
**   decoder      = L stacked LSTM layers whose input at every step is z
**   output y_t   = W_out^T h_top_t + b_out, width O
**   field error  categorical c: sum_k (softmax(y_t[slice c])_k - onehot(cat_t[c])_k)^2  (Brier)
**                numeric j:     min((y_t[num j] - num_t[j])^2, num_cap), only where num_ok
**                               (num_cap 0: no cap; the gradient is 0 where the cap applies)
**   step error   = mean of the field errors present at step t (a step with no present field,
**                  possible only when C = 0, is left out of the window's mean)
**   window error = mean of step errors over t < len[b]            (the anomaly score; 0 if no
**                  step counts)
**   batch loss   = mean of window errors over b
** The one-hot input is never materialised: layer 0's input projection gathers rows of W_cat.
** Steps t >= max(len) of a batch are not computed at all (they can reach neither z nor the loss).
** ae_net.c stacks the layers, lstm.c is one LSTM layer; all matrix products are cblas_sgemm and
** OpenBLAS's thread count is the caller's business.
*/
#ifndef FG_AE_NET_H
#define FG_AE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "fg_err.h"

#define AE_MAX_FIELDS 64
#define AE_MAX_LAYERS 8

typedef struct ae_shape {
  int T;                /* steps per window, >= 1 */
  int H;                /* hidden width, >= 1 */
  int L;                /* LSTM layers in encoder and decoder, >= 1 */
  int E;                /* embedding width; 0 = one-hot input */
  int C;                /* categorical fields, 0..AE_MAX_FIELDS */
  int N;                /* numeric fields, 0..AE_MAX_FIELDS; C + N >= 1 */
  int V[AE_MAX_FIELDS]; /* slots per categorical field (>= 2: slot 0 is "unknown") */
  /* Cap on a numeric field's error (0: none). A categorical field's error is at most 2 (a
  ** confident wrong slot); a numeric one is unbounded, so without a cap one value 7 standard
  ** deviations out (a timeout) outweighs a never-seen API call thirty times, and thresholds
  ** calibrated on normal data that holds such a value cannot see new calls at all. */
  float num_cap;
} ae_shape;

/* Named pointers into the single parameter block, in this order (the order of a model file):
** emb, enc_wx0, enc_wh[0..L), enc_b[0..L), enc_wx[1..L), dec_wx[0..L), dec_wh[0..L),
** dec_b[0..L), out_w, out_b. For layer l, "in" is the input width of that layer. 4H columns are
** the gates i,f,g,o, in that order. Pointers of absent parts (emb with E = 0, enc_wx[0], layers
** >= L) are NULL. */
typedef struct ae_params {
  float *emb;                   /* E>0: [sum V][E] embedding rows, field after field; E=0: NULL */
  float *enc_wx0;               /* encoder layer 0 input weights [D][4H]; rows: categorical slots
                                   (or embedding dims) field after field, then the N numerics */
  float *enc_wh[AE_MAX_LAYERS]; /* [L] recurrent weights [H][4H] */
  float *enc_b[AE_MAX_LAYERS];  /* [L] bias [4H] */
  float *enc_wx[AE_MAX_LAYERS]; /* [L] input weights [H][4H] for layers l >= 1 (index 0: NULL) */
  float *dec_wx[AE_MAX_LAYERS]; /* [L] decoder input weights [H][4H] (layer 0's input is z) */
  float *dec_wh[AE_MAX_LAYERS]; /* [L] [H][4H] */
  float *dec_b[AE_MAX_LAYERS];  /* [L] [4H] */
  float *out_w;                 /* [H][O] */
  float *out_b;                 /* [O] */
} ae_params;

/* Checks a shape's ranges; 0 or FG_EINVAL with a message naming the bad dimension. */
int ae_shape_check(const ae_shape *s, fg_err *err);
int ae_input_width(const ae_shape *s);  /* D */
int ae_output_width(const ae_shape *s); /* O */
size_t ae_param_count(const ae_shape *s);
/* Points p's fields into `base` (ae_param_count floats). */
void ae_param_layout(const ae_shape *s, float *base, ae_params *p);
/* Deterministic initialisation from `seed` (documented in ae_net.c): the same bytes for the same
** shape and seed on every platform. */
void ae_init(const ae_shape *s, float *params, uint64_t seed);
/* Copies parameters from shape `from` into shape `to`, which may have more slots per categorical
** field (vocabulary growth for delta updates) but is otherwise equal; new rows are initialised as
** ae_init would, from `seed`; new output slots get a low bias so they start improbable. Outputs
** for old slots (logits, numeric predictions) are unchanged for inputs that use only old slots.
** pfrom and pto must not overlap. FG_EINVAL (message says which dimension) if `to` is not a
** grown `from`. */
int ae_resize(const ae_shape *from, const float *pfrom, const ae_shape *to, float *pto,
              uint64_t seed, fg_err *err);

/* One batch, time-major. Ids and numbers at steps t >= len[b] are ignored (they change no result)
** but must be finite. */
typedef struct ae_batch {
  int B;                 /* windows in this batch, 1..B_max of the workspace */
  const int32_t *cat;    /* [T][B][C] slot ids, 0 <= id < V[c] */
  const float *num;      /* [T][B][N] scaled values, 0 where missing */
  const uint8_t *num_ok; /* [T][B][N] 1 present, 0 missing (NULL: all present) */
  const int32_t *len;    /* [B] valid steps, 1..T */
} ae_batch;

/* Activations and scratch for batches of up to B_max windows: allocated once (one block),
** reused; ae_forward and ae_backward allocate nothing. NULL if out of memory or too large. */
typedef struct ae_work ae_work;
ae_work *ae_work_new(const ae_shape *s, int B_max);
void ae_work_free(ae_work *w);

/* Forward pass; returns the batch loss. win_err (optional, [B]) receives each window's error.
** Activations stay in `w` for ae_backward and ae_field_errors. Returns NaN if b->B is not in
** 1..B_max or s is not the shape `w` was made for. Slot ids outside 0..V[c]-1 are read as slot 0
** and lengths are clamped to 1..T, so bad input cannot make it read out of bounds. */
float ae_forward(const ae_shape *s, const float *params, const ae_batch *b, ae_work *w,
                 float *win_err);
/* Backward pass of the last ae_forward on the same batch: ADDS d(loss)/d(params) into grads.
** Once per forward: it turns the stored softmax probabilities into their gradient in place
** (ae_outputs and ae_field_errors still work afterwards). */
void ae_backward(const ae_shape *s, const float *params, const ae_batch *b, ae_work *w,
                 float *grads);
/* From the last ae_forward: y [T][B][O] before the softmax (logits for categorical slices,
** predicted scaled values for numeric fields), B of that batch; rows of steps t >= max(len) are
** not computed. For tests and explanations. */
const float *ae_outputs(const ae_work *w);
/* Step t's error (the mean of its present field errors) of window b in the last forward; NaN when
** t is past that window's length or outside the batch. */
float ae_step_error(const ae_work *w, int t, int b);
/* The steps that make window b of the last forward anomalous at threshold thr: the fewest steps,
** largest errors first, whose errors' excess over thr covers the window's (the sum over all its
** steps of error - thr, i.e. steps x (mean error - thr)). Put at thr, they would leave the
** window's mean at or under it; the other steps above thr are context the model reconstructs
** worse because of them. Writes their indices, ascending, to out (room for the batch's longest
** window, ae_work's Tm <= T) and returns how many: 0 when no step is above thr. scratch: T floats. */
int ae_hot_steps(const ae_work *w, int b, double thr, int *out, float *scratch);
/* From the last ae_forward: out[b][t][f] = field error (f: the C categorical fields, then the N
** numeric; NaN where a numeric value is missing or t >= len[b]). Also, when `pred` is not NULL,
** pred[b][t][f] = for categorical fields the predicted slot (argmax), for numeric the predicted
** scaled value (NaN where t >= len[b]). Both [B][T][C+N]. */
void ae_field_errors(const ae_shape *s, const ae_batch *b, const ae_work *w, float *out,
                     float *pred);

/* Adam (Kingma & Ba) with bias correction, the arithmetic of torch.optim.Adam; step t counts
** from 1. */
void ae_adam(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
             float beta2, float eps, long t);
/* Scales g so its global L2 norm is at most max_norm (no-op if max_norm <= 0); returns the norm
** before clipping. Like torch.nn.utils.clip_grad_norm_: the factor is max_norm / (norm + 1e-6),
** applied only when below 1. */
float ae_clip(float *g, size_t n, float max_norm);

#endif
