/*
** ae_net.c — the LSTM autoencoder (see ae_net.h for the architecture and the loss).
**
** How the pieces fit, for a batch of B windows, rows r = t*B + b (time-major), Tm = max(len):
**   forward:  encoder layer 0 input projection   gather of enc_wx0 rows (E = 0) or
**                                                 embedding gather + one sgemm (E > 0)
**             each encoder layer                  lstm_forward (lstm.c); layers l >= 1 get their
**                                                 input projection in one sgemm over Tm*B rows
**             z_b = top h at step len[b]-1        row copy
**             decoder layer 0                     P = z Wx + b once ([B][4H]), added every step
**             output y = h_top out_w + out_b      one sgemm, then softmax/Brier per field
**   backward: the same in reverse; weight gradients are one sgemm each over all steps.
** Nothing here allocates after ae_work_new.
*/
#include "ae_net.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lstm.h"
#include "rng.h"

/* Below this many numeric fields their part of layer 0's projection is a loop of axpys (which
** skips missing values, stored as 0); from here on one sgemm is faster. */
#define AE_NUM_GEMM_MIN 16

static void gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

/* --- shape and parameter layout ------------------------------------------------------------ */

static size_t sum_v(const ae_shape *s) {
  size_t n = 0;
  for (int c = 0; c < s->C; c++) n += (size_t)s->V[c];
  return n;
}

/* Rows of enc_wx0 that belong to the categorical fields: one per slot, or E per field. */
static size_t cat_rows(const ae_shape *s) { return s->E > 0 ? (size_t)s->C * s->E : sum_v(s); }

int ae_input_width(const ae_shape *s) { return (int)(cat_rows(s) + (size_t)s->N); }
int ae_output_width(const ae_shape *s) { return (int)(sum_v(s) + (size_t)s->N); }

/* Offsets (in floats) of every parameter tensor, in ae_param_layout order. Computed in size_t
** (64-bit): with the ranges ae_shape_check allows the largest term is below 2^41. */
typedef struct offsets {
  size_t emb, enc_wx0, enc_wh[AE_MAX_LAYERS], enc_b[AE_MAX_LAYERS], enc_wx[AE_MAX_LAYERS];
  size_t dec_wx[AE_MAX_LAYERS], dec_wh[AE_MAX_LAYERS], dec_b[AE_MAX_LAYERS], out_w, out_b, total;
} offsets;

static void layout_offsets(const ae_shape *s, offsets *o) {
  const size_t H = (size_t)s->H, G = 4 * H, L = (size_t)s->L;
  const size_t D = cat_rows(s) + (size_t)s->N, O = sum_v(s) + (size_t)s->N;
  size_t q = 0;
  memset(o, 0, sizeof *o);
  o->emb = q;
  q += s->E > 0 ? sum_v(s) * (size_t)s->E : 0;
  o->enc_wx0 = q;
  q += D * G;
  for (size_t l = 0; l < L; l++) o->enc_wh[l] = q, q += H * G;
  for (size_t l = 0; l < L; l++) o->enc_b[l] = q, q += G;
  for (size_t l = 1; l < L; l++) o->enc_wx[l] = q, q += H * G;
  for (size_t l = 0; l < L; l++) o->dec_wx[l] = q, q += H * G;
  for (size_t l = 0; l < L; l++) o->dec_wh[l] = q, q += H * G;
  for (size_t l = 0; l < L; l++) o->dec_b[l] = q, q += G;
  o->out_w = q;
  q += H * O;
  o->out_b = q;
  q += O;
  o->total = q;
}

size_t ae_param_count(const ae_shape *s) {
  offsets o;
  layout_offsets(s, &o);
  return o.total;
}

void ae_param_layout(const ae_shape *s, float *base, ae_params *p) {
  offsets o;
  layout_offsets(s, &o);
  memset(p, 0, sizeof *p);
  p->emb = s->E > 0 ? base + o.emb : NULL;
  p->enc_wx0 = base + o.enc_wx0;
  for (int l = 0; l < s->L; l++) {
    p->enc_wh[l] = base + o.enc_wh[l];
    p->enc_b[l] = base + o.enc_b[l];
    p->enc_wx[l] = l > 0 ? base + o.enc_wx[l] : NULL;
    p->dec_wx[l] = base + o.dec_wx[l];
    p->dec_wh[l] = base + o.dec_wh[l];
    p->dec_b[l] = base + o.dec_b[l];
  }
  p->out_w = base + o.out_w;
  p->out_b = base + o.out_b;
}

int ae_shape_check(const ae_shape *s, fg_err *err) {
  if (s->T < 1 || s->T > 4096)
    return fg_errf(err, FG_EINVAL, "window size T=%d is out of range 1..4096", s->T);
  if (s->H < 1 || s->H > 4096)
    return fg_errf(err, FG_EINVAL, "hidden width H=%d is out of range 1..4096", s->H);
  if (s->L < 1 || s->L > AE_MAX_LAYERS)
    return fg_errf(err, FG_EINVAL, "layer count L=%d is out of range 1..%d", s->L, AE_MAX_LAYERS);
  if (s->E < 0 || s->E > 1024)
    return fg_errf(err, FG_EINVAL, "embedding width E=%d is out of range 0..1024", s->E);
  if (s->C < 0 || s->C > AE_MAX_FIELDS)
    return fg_errf(err, FG_EINVAL, "categorical field count C=%d is out of range 0..%d", s->C,
                   AE_MAX_FIELDS);
  if (s->N < 0 || s->N > AE_MAX_FIELDS)
    return fg_errf(err, FG_EINVAL, "numeric field count N=%d is out of range 0..%d", s->N,
                   AE_MAX_FIELDS);
  if (s->C + s->N < 1)
    return fg_errf(err, FG_EINVAL, "the network needs at least one field (C=0 and N=0)");
  if (!(s->num_cap >= 0.0f && s->num_cap <= 1e6f))
    return fg_errf(err, FG_EINVAL, "numeric error cap %g is out of range 0..1e6 (0: none)",
                   (double)s->num_cap);
  for (int c = 0; c < s->C; c++)
    if (s->V[c] < 2 || s->V[c] > 1000000)
      return fg_errf(err, FG_EINVAL,
                     "categorical field %d has V=%d slots, out of range 2..1000000 (slot 0 is "
                     "\"unknown\")",
                     c, s->V[c]);
  /* Parameter offsets are size_t, but model files, sgemm's int dimensions and the training
  ** buffers are happier below 2^31 floats (8 GiB). */
  size_t n = ae_param_count(s);
  if (n > (size_t)INT_MAX)
    return fg_errf(err, FG_EINVAL,
                   "the network would have %zu parameters, more than 2^31-1; use fewer "
                   "categorical slots, an embedding (E>0) or a smaller H",
                   n);
  return 0;
}

/* --- initialisation ----------------------------------------------------------------------------
** Every row of every tensor draws from its own splitmix64 stream, keyed by (seed, tensor, row),
** where a categorical row's key is (field, slot) rather than its position. So ae_resize can give
** a new slot exactly the values ae_init would give it in the grown shape, and the rest of the
** model does not depend on how many slots the fields have.
**   LSTM weights and biases, enc_wx0, out_w, out_b: uniform(-k, k), k = 1/sqrt(H), as PyTorch
**     initialises nn.LSTM and nn.Linear(H, O);
**   forget-gate biases: 1 + uniform(-k, k). A forget gate that starts near sigmoid(1) = 0.73 keeps
**     the cell state over a window from the first step (Jozefowicz et al., 2015);
**   embeddings: uniform(-sqrt 3, sqrt 3), unit variance like PyTorch's N(0, 1) nn.Embedding, but
**     without the libm calls of a normal sampler, whose last bits differ between platforms.
** A uniform draw is 24 random bits scaled by 2^-24, then (2u - 1) k: exact IEEE operations. */
enum {
  K_EMB = 1,
  K_WX0_CAT,
  K_WX0_DIM,
  K_WX0_NUM,
  K_ENC_WH,
  K_ENC_B,
  K_ENC_WX,
  K_DEC_WX,
  K_DEC_WH,
  K_DEC_B,
  K_OUT_W,
  K_OUT_B
};

static fg_rng row_stream(uint64_t seed, uint64_t tensor, uint64_t a, uint64_t b) {
  fg_rng r = {seed};
  r.s = fg_rng_next(&r) ^ (tensor * 0xD6E8FEB86659FD93ULL);
  r.s = fg_rng_next(&r) ^ (a * 0x9E3779B97F4A7C15ULL);
  r.s = fg_rng_next(&r) ^ (b * 0xC2B2AE3D27D4EB4FULL);
  return r;
}

static float unif(fg_rng *r, float k) {
  float u = (float)(fg_rng_next(r) >> 40) * 0x1p-24f;
  return (2.0f * u - 1.0f) * k;
}

static void init_row(float *x, size_t n, uint64_t seed, uint64_t tensor, uint64_t a, uint64_t b,
                     float k) {
  fg_rng r = row_stream(seed, tensor, a, b);
  for (size_t i = 0; i < n; i++) x[i] = unif(&r, k);
}

/* An LSTM layer's [H][4H] weights, or its bias (then rows = 1). */
static void init_rows(float *x, int rows, size_t n, uint64_t seed, uint64_t tensor, int layer,
                      float k) {
  for (int i = 0; i < rows; i++)
    init_row(x + (size_t)i * n, n, seed, tensor, (uint64_t)layer, (uint64_t)i, k);
}

/* One categorical slot's rows: its embedding row (E > 0) or its enc_wx0 row (E = 0). */
static void init_slot(const ae_shape *s, const ae_params *p, size_t row, int c, int slot,
                      uint64_t seed) {
  const size_t G = 4 * (size_t)s->H;
  const float k = 1.0f / sqrtf((float)s->H);
  if (s->E > 0)
    init_row(p->emb + row * (size_t)s->E, (size_t)s->E, seed, K_EMB, (uint64_t)c, (uint64_t)slot,
             sqrtf(3.0f));
  else
    init_row(p->enc_wx0 + row * G, G, seed, K_WX0_CAT, (uint64_t)c, (uint64_t)slot, k);
}

void ae_init(const ae_shape *s, float *params, uint64_t seed) {
  ae_params p;
  ae_param_layout(s, params, &p);
  const int H = s->H, E = s->E;
  const size_t G = 4 * (size_t)H, O = (size_t)ae_output_width(s), cr = cat_rows(s);
  const float k = 1.0f / sqrtf((float)H);
  size_t row = 0;
  for (int c = 0; c < s->C; c++)
    for (int v = 0; v < s->V[c]; v++) init_slot(s, &p, row++, c, v, seed);
  if (E > 0)
    for (int c = 0; c < s->C; c++)
      for (int e = 0; e < E; e++)
        init_row(p.enc_wx0 + ((size_t)c * E + e) * G, G, seed, K_WX0_DIM, (uint64_t)c, (uint64_t)e,
                 k);
  for (int j = 0; j < s->N; j++)
    init_row(p.enc_wx0 + (cr + (size_t)j) * G, G, seed, K_WX0_NUM, (uint64_t)j, 0, k);
  for (int l = 0; l < s->L; l++) {
    init_rows(p.enc_wh[l], H, G, seed, K_ENC_WH, l, k);
    init_rows(p.enc_b[l], 1, G, seed, K_ENC_B, l, k);
    if (l > 0) init_rows(p.enc_wx[l], H, G, seed, K_ENC_WX, l, k);
    init_rows(p.dec_wx[l], H, G, seed, K_DEC_WX, l, k);
    init_rows(p.dec_wh[l], H, G, seed, K_DEC_WH, l, k);
    init_rows(p.dec_b[l], 1, G, seed, K_DEC_B, l, k);
    for (int j = H; j < 2 * H; j++) p.enc_b[l][j] += 1.0f, p.dec_b[l][j] += 1.0f;
  }
  init_rows(p.out_w, H, O, seed, K_OUT_W, 0, k);
  init_rows(p.out_b, 1, O, seed, K_OUT_B, 0, k);
}

/* A new output slot's bias: 4 below the field's smallest old bias. With zero weights its logit
** does not depend on the input, so it starts roughly e^4 ~ 55 times less probable than the
** least probable old slot, and training raises it when the new value is seen. */
#define AE_NEW_SLOT_BIAS_GAP 4.0f

int ae_resize(const ae_shape *from, const float *pfrom, const ae_shape *to, float *pto,
              uint64_t seed, fg_err *err) {
  if (ae_shape_check(from, err)) return fg_err_prefix(err, "resize: old shape");
  if (ae_shape_check(to, err)) return fg_err_prefix(err, "resize: new shape");
  if (from->T != to->T || from->H != to->H || from->L != to->L || from->E != to->E ||
      from->C != to->C || from->N != to->N)
    return fg_errf(err, FG_EINVAL,
                   "resize: only slots may grow, but T,H,L,E,C,N change from %d,%d,%d,%d,%d,%d to "
                   "%d,%d,%d,%d,%d,%d",
                   from->T, from->H, from->L, from->E, from->C, from->N, to->T, to->H, to->L, to->E,
                   to->C, to->N);
  for (int c = 0; c < to->C; c++)
    if (to->V[c] < from->V[c])
      return fg_errf(err, FG_EINVAL,
                     "resize: categorical field %d would shrink from %d to %d slots", c, from->V[c],
                     to->V[c]);
  ae_params a, p;
  ae_param_layout(from, (float *)pfrom, &a);
  ae_param_layout(to, pto, &p);
  const int C = to->C, N = to->N, E = to->E, H = to->H;
  const size_t G = 4 * (size_t)H, Oa = (size_t)ae_output_width(from);
  const size_t Op = (size_t)ae_output_width(to);
  /* Slot rows: embedding rows (E > 0) or enc_wx0 rows (E = 0), old copied, new initialised. */
  float *dst = E > 0 ? p.emb : p.enc_wx0;
  const float *src = E > 0 ? a.emb : a.enc_wx0;
  const size_t w = E > 0 ? (size_t)E : G;
  size_t ra = 0, rp = 0;
  for (int c = 0; c < C; c++) {
    memcpy(dst + rp * w, src + ra * w, (size_t)from->V[c] * w * sizeof(float));
    for (int v = from->V[c]; v < to->V[c]; v++) init_slot(to, &p, rp + (size_t)v, c, v, seed);
    ra += (size_t)from->V[c];
    rp += (size_t)to->V[c];
  }
  /* The rest of enc_wx0 (embedding dims and numerics, or just numerics) keeps its shape. */
  size_t rest = (size_t)ae_input_width(to) - (E > 0 ? 0 : rp);
  memcpy(p.enc_wx0 + (E > 0 ? 0 : rp) * G, a.enc_wx0 + (E > 0 ? 0 : ra) * G,
         rest * G * sizeof(float));
  /* All LSTM tensors lie between enc_wx0 and out_w and have the same shapes: one copy. */
  memcpy(p.enc_wh[0], a.enc_wh[0], (size_t)(a.out_w - a.enc_wh[0]) * sizeof(float));
  /* Output columns: old copied; new ones zero weights and a low bias. */
  for (int h = 0; h < H; h++) {
    const float *wa = a.out_w + (size_t)h * Oa;
    float *wp = p.out_w + (size_t)h * Op;
    size_t ca = 0, cp = 0;
    for (int c = 0; c < C; c++) {
      memcpy(wp + cp, wa + ca, (size_t)from->V[c] * sizeof(float));
      memset(wp + cp + from->V[c], 0, (size_t)(to->V[c] - from->V[c]) * sizeof(float));
      ca += (size_t)from->V[c];
      cp += (size_t)to->V[c];
    }
    memcpy(wp + cp, wa + ca, (size_t)N * sizeof(float));
  }
  size_t ca = 0, cp = 0;
  for (int c = 0; c < C; c++) {
    float lo = a.out_b[ca];
    for (int v = 0; v < from->V[c]; v++) {
      p.out_b[cp + v] = a.out_b[ca + v];
      if (a.out_b[ca + v] < lo) lo = a.out_b[ca + v];
    }
    for (int v = from->V[c]; v < to->V[c]; v++) p.out_b[cp + v] = lo - AE_NEW_SLOT_BIAS_GAP;
    ca += (size_t)from->V[c];
    cp += (size_t)to->V[c];
  }
  memcpy(p.out_b + cp, a.out_b + ca, (size_t)N * sizeof(float));
  return 0;
}

/* --- workspace -------------------------------------------------------------------------------- */

struct ae_work {
  ae_shape s;
  int B_max;
  int B, Tm;                    /* of the last forward: batch size, max(len) */
  lstm_acts enc[AE_MAX_LAYERS]; /* encoder layers */
  lstm_acts dec[AE_MAX_LAYERS]; /* decoder layers */
  float *x0;    /* E>0: [T][B][C*E+N] layer-0 input: gathered embeddings, then the numerics */
  float *z;     /* [B][H] latent: top encoder h at step len-1 */
  float *p;     /* [B][4H] decoder layer 0 input term z Wx + b, the same for every step */
  float *y;     /* [T][B][O] outputs before the softmax */
  float *dy;    /* [T][B][O] softmax probabilities after the forward, dL/dy in the backward */
  float *fe;    /* [T][B][C+N] field errors (NaN: missing or t >= len) */
  float *serr;  /* [T][B] step errors */
  float *wstep; /* [T][B] dL/d(one field error of step t): 1/(B steps_b present_bt), 0 if none */
  float *dg;    /* [T][B][4H] dL/d(gate pre-activations) of the layer being differentiated */
  float *dh[2]; /* [T][B][H] dL/dh: the current layer's, and the one below (ping-pong) */
  float *dx0;   /* E>0: [T][B][C*E] dL/d(gathered embeddings) */
  float *dc;    /* [B][H] dL/dc carried from step t+1 */
  float *dp;    /* [B][4H] dL/dP = sum over steps of the decoder layer 0 dg */
  float *dz;    /* [B][H] */
  float *ones;  /* [T*B] 1.0f: column sums as a matrix-vector product */
  size_t foff[AE_MAX_FIELDS]; /* first slot row of each categorical field */
  float *mem;                 /* the one allocation everything above points into */
};

/* Multiplies sizes, saturating to SIZE_MAX on overflow so the allocation fails cleanly. */
static size_t mul(size_t a, size_t b) { return (b && a > SIZE_MAX / b) ? SIZE_MAX : a * b; }
static size_t add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* Hands out 64-byte aligned pieces of one block; a first pass with base NULL only counts. */
typedef struct carver {
  float *base;
  size_t used; /* floats */
} carver;

static float *carve(carver *k, size_t n) {
  float *q = k->base ? k->base + k->used : NULL;
  k->used = add(k->used, add(n, 15) & ~(size_t)15);
  return q;
}

static void carve_all(ae_work *w, carver *k) {
  const ae_shape *s = &w->s;
  const size_t rows = mul((size_t)s->T, (size_t)w->B_max), H = (size_t)s->H, G = 4 * H;
  const size_t O = (size_t)ae_output_width(s), F = (size_t)(s->C + s->N);
  for (int l = 0; l < s->L; l++)
    for (int e = 0; e < 2; e++) {
      lstm_acts *a = e ? &w->dec[l] : &w->enc[l];
      a->g = carve(k, mul(rows, G));
      a->c = carve(k, mul(rows, H));
      a->tc = carve(k, mul(rows, H));
      a->h = carve(k, mul(rows, H));
    }
  w->x0 = s->E > 0 ? carve(k, mul(rows, (size_t)ae_input_width(s))) : NULL;
  w->z = carve(k, mul((size_t)w->B_max, H));
  w->p = carve(k, mul((size_t)w->B_max, G));
  w->y = carve(k, mul(rows, O));
  w->dy = carve(k, mul(rows, O));
  w->fe = carve(k, mul(rows, F));
  w->serr = carve(k, rows);
  w->wstep = carve(k, rows);
  w->dg = carve(k, mul(rows, G));
  w->dh[0] = carve(k, mul(rows, H));
  w->dh[1] = carve(k, mul(rows, H));
  w->dx0 = s->E > 0 && s->C > 0 ? carve(k, mul(rows, (size_t)s->C * (size_t)s->E)) : NULL;
  w->dc = carve(k, mul((size_t)w->B_max, H));
  w->dp = carve(k, mul((size_t)w->B_max, G));
  w->dz = carve(k, mul((size_t)w->B_max, H));
  w->ones = carve(k, rows);
}

ae_work *ae_work_new(const ae_shape *s, int B_max) {
  if (ae_shape_check(s, NULL) || B_max < 1) return NULL;
  /* sgemm takes int dimensions: the T*B rows must fit (widths do, by ae_shape_check). */
  if ((size_t)s->T * (size_t)B_max > (size_t)INT_MAX) return NULL;
  ae_work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->s = *s;
  w->B_max = B_max;
  carver k = {NULL, 0};
  carve_all(w, &k);
  if (k.used > SIZE_MAX / sizeof(float) - 64) { /* also catches mul/add saturating */
    free(w);
    return NULL;
  }
  size_t bytes = k.used * sizeof(float);
  w->mem = aligned_alloc(64, bytes); /* bytes is a multiple of 64 (pieces are 16 floats) */
  if (!w->mem) {
    free(w);
    return NULL;
  }
  /* Zeroed once so that no buffer is ever read uninitialised, whatever the batch shapes. */
  memset(w->mem, 0, bytes);
  k.base = w->mem;
  k.used = 0;
  carve_all(w, &k);
  size_t off = 0;
  for (int c = 0; c < s->C; c++) w->foff[c] = off, off += (size_t)s->V[c];
  for (size_t r = 0; r < (size_t)s->T * (size_t)B_max; r++) w->ones[r] = 1.0f;
  return w;
}

void ae_work_free(ae_work *w) {
  if (!w) return;
  free(w->mem);
  free(w);
}

const float *ae_outputs(const ae_work *w) { return w->y; }

/* --- forward ---------------------------------------------------------------------------------- */

/* The shape the workspace was sized for (V beyond C is not compared: callers may leave junk). */
static int same_shape(const ae_shape *s, const ae_work *w) {
  const ae_shape *a = &w->s;
  if (s->T != a->T || s->H != a->H || s->L != a->L || s->E != a->E || s->C != a->C ||
      s->N != a->N || s->num_cap != a->num_cap)
    return 0;
  for (int c = 0; c < s->C; c++)
    if (s->V[c] != a->V[c]) return 0;
  return 1;
}

static int blen(const ae_batch *bt, int b, int T) {
  int l = bt->len[b];
  return l < 1 ? 1 : l > T ? T : l;
}

static int slot(const ae_batch *bt, size_t r, int C, int c, int V) {
  int32_t k = bt->cat[r * (size_t)C + (size_t)c];
  return k >= 0 && k < V ? (int)k : 0;
}

/* Row operations go through BLAS level 1/2: vectorised, where plain loops are not at -O2. */
static void axpy(float *y, const float *x, float a, size_t n) {
  cblas_saxpy((int)n, a, x, 1, y, 1);
}

static void add_row(float *y, const float *x, size_t n) { axpy(y, x, 1.0f, n); }

/* db[j] += sum over rows of d[r][j]: d^T times a vector of ones. */
static void colsum_add(const ae_work *w, float *db, const float *d, size_t rows, size_t n) {
  cblas_sgemv(CblasRowMajor, CblasTrans, (int)rows, (int)n, 1.0f, d, (int)n, w->ones, 1, 1.0f, db,
              1);
}

/* Encoder layer 0: g[r] = x_r enc_wx0 for the Tm*B rows, x_r never built as a one-hot vector. */
static void enc0_input(const ae_shape *s, const ae_params *p, const ae_batch *bt, ae_work *w) {
  const int B = bt->B, C = s->C, N = s->N, E = s->E;
  const size_t rows = (size_t)w->Tm * B, G = 4 * (size_t)s->H, cr = cat_rows(s);
  float *g = w->enc[0].g;
  if (E > 0) {
    /* x0[r] = [emb rows of the C slots | the N numbers] ([Tm*B][C*E+N]), then one sgemm. */
    const size_t D = cr + (size_t)N;
    for (size_t r = 0; r < rows; r++) {
      float *xr = w->x0 + r * D;
      for (int c = 0; c < C; c++)
        memcpy(xr + (size_t)c * E, p->emb + (w->foff[c] + slot(bt, r, C, c, s->V[c])) * E,
               (size_t)E * sizeof(float));
      if (N) memcpy(xr + cr, bt->num + r * N, (size_t)N * sizeof(float));
    }
    gemm(0, 0, (int)rows, 4 * s->H, (int)D, w->x0, (int)D, p->enc_wx0, 4 * s->H, 0.0f, g, 4 * s->H);
    return;
  }
  /* One-hot: the product with enc_wx0 is the sum of the rows of the C hot slots. */
  const int num_gemm = N >= AE_NUM_GEMM_MIN;
  const float *wnum = p->enc_wx0 + cr * G; /* [N][4H] */
  if (num_gemm) gemm(0, 0, (int)rows, 4 * s->H, N, bt->num, N, wnum, 4 * s->H, 0.0f, g, 4 * s->H);
  for (size_t r = 0; r < rows; r++) {
    float *gr = g + r * G;
    int c0 = 0;
    if (!num_gemm) {
      if (C > 0)
        memcpy(gr, p->enc_wx0 + (w->foff[0] + slot(bt, r, C, 0, s->V[0])) * G, G * sizeof *gr);
      else
        memset(gr, 0, G * sizeof *gr);
      c0 = 1;
    }
    for (int c = c0; c < C; c++)
      add_row(gr, p->enc_wx0 + (w->foff[c] + slot(bt, r, C, c, s->V[c])) * G, G);
    if (!num_gemm)
      for (int j = 0; j < N; j++) {
        float v = bt->num[r * N + j];
        if (v != 0.0f) axpy(gr, wnum + (size_t)j * G, v, G);
      }
  }
}

/* Softmax of one field's logits into p; returns the Brier error against slot k. */
static float softmax_brier(const float *y, float *p, int V, int k) {
  float m = y[0];
  for (int v = 1; v < V; v++) m = y[v] > m ? y[v] : m;
  for (int v = 0; v < V; v++) p[v] = y[v] - m; /* <= 0: the exps cannot overflow */
  lstm_exp(p, V);
  float sum = 0.0f;
  for (int v = 0; v < V; v++) sum += p[v];
  float inv = 1.0f / sum, e = 0.0f;
  for (int v = 0; v < V; v++) {
    p[v] *= inv;
    float d = p[v] - (v == k ? 1.0f : 0.0f);
    e += d * d;
  }
  return e;
}

/* Whether a numeric field's squared error d2 is cut to s->num_cap (forward) and so has no
** gradient (backward). */
static inline int capped(const ae_shape *s, float d2) { return s->num_cap > 0.0f && d2 > s->num_cap; }

/* Output layer bias, field errors, step and window errors; returns the batch loss. */
static float loss_forward(const ae_shape *s, const ae_params *p, const ae_batch *bt, ae_work *w,
                          float *win_err) {
  const int B = bt->B, C = s->C, N = s->N, T = s->T;
  const size_t rows = (size_t)w->Tm * B, O = (size_t)ae_output_width(s), F = (size_t)(C + N);
  const size_t ncat = sum_v(s);
  for (size_t r = 0; r < rows; r++) {
    const int t = (int)(r / (size_t)B), b = (int)(r % (size_t)B);
    float *yr = w->y + r * O, *pr = w->dy + r * O, *fr = w->fe + r * F;
    add_row(yr, p->out_b, O);
    if (t >= blen(bt, b, T)) {
      for (size_t f = 0; f < F; f++) fr[f] = NAN;
      w->serr[r] = 0.0f;
      w->wstep[r] = 0.0f;
      continue;
    }
    int present = C;
    float sum = 0.0f;
    for (int c = 0; c < C; c++) {
      const size_t o = w->foff[c];
      fr[c] = softmax_brier(yr + o, pr + o, s->V[c], slot(bt, r, C, c, s->V[c]));
      sum += fr[c];
    }
    for (int j = 0; j < N; j++) {
      if (bt->num_ok && !bt->num_ok[r * N + j]) {
        fr[C + j] = NAN;
        continue;
      }
      float d = yr[ncat + j] - bt->num[r * N + j];
      fr[C + j] = capped(s, d * d) ? s->num_cap : d * d;
      sum += fr[C + j];
      present++;
    }
    w->serr[r] = present ? sum / (float)present : 0.0f;
    w->wstep[r] = (float)present; /* made a weight below, once steps_b is known */
  }
  double loss = 0.0;
  for (int b = 0; b < B; b++) {
    const int len = blen(bt, b, T);
    int steps = 0;
    double acc = 0.0;
    for (int t = 0; t < len; t++) {
      size_t r = (size_t)t * B + b;
      if (w->wstep[r] > 0.0f) acc += w->serr[r], steps++;
    }
    float we = steps ? (float)(acc / steps) : 0.0f;
    if (win_err) win_err[b] = we;
    loss += we;
    /* d loss / d(a field error at (t, b)) = 1/B * 1/steps_b * 1/present_bt. */
    for (int t = 0; t < len; t++) {
      size_t r = (size_t)t * B + b;
      if (w->wstep[r] > 0.0f) w->wstep[r] = 1.0f / ((float)B * (float)steps * w->wstep[r]);
    }
  }
  return (float)(loss / B);
}

float ae_forward(const ae_shape *s, const float *params, const ae_batch *bt, ae_work *w,
                 float *win_err) {
  if (bt->B < 1 || bt->B > w->B_max || !same_shape(s, w)) return NAN;
  ae_params p;
  ae_param_layout(s, (float *)params, &p);
  const int B = bt->B, H = s->H, L = s->L, T = s->T, G = 4 * H;
  int Tm = 1;
  for (int b = 0; b < B; b++) Tm = blen(bt, b, T) > Tm ? blen(bt, b, T) : Tm;
  w->B = B;
  w->Tm = Tm;
  const int rows = Tm * B;
  /* Encoder. */
  enc0_input(s, &p, bt, w);
  lstm_forward(&w->enc[0], p.enc_wh[0], p.enc_b[0], 0, 1, Tm, B, H);
  for (int l = 1; l < L; l++) {
    gemm(0, 0, rows, G, H, w->enc[l - 1].h, H, p.enc_wx[l], G, 0.0f, w->enc[l].g, G);
    lstm_forward(&w->enc[l], p.enc_wh[l], p.enc_b[l], 0, 1, Tm, B, H);
  }
  const float *top = w->enc[L - 1].h;
  for (int b = 0; b < B; b++)
    memcpy(w->z + (size_t)b * H, top + ((size_t)(blen(bt, b, T) - 1) * B + b) * H,
           (size_t)H * sizeof(float));
  /* Decoder: layer 0's input is z at every step, so its projection is computed once. */
  gemm(0, 0, B, G, H, w->z, H, p.dec_wx[0], G, 0.0f, w->p, G);
  for (int b = 0; b < B; b++) add_row(w->p + (size_t)b * G, p.dec_b[0], (size_t)G);
  lstm_forward(&w->dec[0], p.dec_wh[0], w->p, G, 0, Tm, B, H);
  for (int l = 1; l < L; l++) {
    gemm(0, 0, rows, G, H, w->dec[l - 1].h, H, p.dec_wx[l], G, 0.0f, w->dec[l].g, G);
    lstm_forward(&w->dec[l], p.dec_wh[l], p.dec_b[l], 0, 1, Tm, B, H);
  }
  /* Output layer (its bias is added in loss_forward, which passes over y anyway). */
  const int O = ae_output_width(s);
  gemm(0, 0, rows, O, H, w->dec[L - 1].h, H, p.out_w, O, 0.0f, w->y, O);
  return loss_forward(s, &p, bt, w, win_err);
}

/* --- backward --------------------------------------------------------------------------------- */

/* dy from the stored probabilities. Brier through the softmax, exactly: with u_k = 2(p_k - 1[k=y]),
** dE/dlogit_j = sum_k u_k dp_k/dlogit_j = p_j (u_j - sum_k u_k p_k). */
static void loss_backward(const ae_shape *s, const ae_batch *bt, ae_work *w) {
  const int B = bt->B, C = s->C, N = s->N;
  const size_t rows = (size_t)w->Tm * B, O = (size_t)ae_output_width(s), ncat = sum_v(s);
  for (size_t r = 0; r < rows; r++) {
    float *dr = w->dy + r * O;
    const float *yr = w->y + r * O;
    const float ws = w->wstep[r];
    if (ws == 0.0f) {
      memset(dr, 0, O * sizeof *dr);
      continue;
    }
    for (int c = 0; c < C; c++) {
      float *pc = dr + w->foff[c];
      const int V = s->V[c], k = slot(bt, r, C, c, V);
      float su = 0.0f;
      for (int v = 0; v < V; v++) su += 2.0f * (pc[v] - (v == k ? 1.0f : 0.0f)) * pc[v];
      for (int v = 0; v < V; v++) {
        float u = 2.0f * (pc[v] - (v == k ? 1.0f : 0.0f));
        pc[v] = ws * pc[v] * (u - su);
      }
    }
    for (int j = 0; j < N; j++) {
      const int ok = !bt->num_ok || bt->num_ok[r * N + j];
      const float d = yr[ncat + j] - bt->num[r * N + j];
      dr[ncat + j] = ok && !capped(s, d * d) ? ws * 2.0f * d : 0.0f; /* a capped error is flat */
    }
  }
}

/* Encoder layer 0's weights (and embeddings): the transpose of the gather is a scatter-add.
** Rows of steps t >= len[b] have dg = 0 exactly and are skipped. */
static void enc0_backward(const ae_shape *s, const ae_params *p, const ae_batch *bt, ae_work *w,
                          ae_params *d) {
  const int B = bt->B, C = s->C, N = s->N, E = s->E, T = s->T;
  const size_t rows = (size_t)w->Tm * B, G = 4 * (size_t)s->H, cr = cat_rows(s);
  const float *dg = w->dg;
  if (E > 0) {
    const int D = (int)cr + N, CE = C * E;
    gemm(1, 0, D, (int)G, (int)rows, w->x0, D, dg, (int)G, 1.0f, d->enc_wx0, (int)G);
    if (C == 0) return;
    /* dx0 = dg Wx0[embedding rows]^T: [rows][4H] x [4H][C*E]. */
    gemm(0, 1, (int)rows, CE, (int)G, dg, (int)G, p->enc_wx0, (int)G, 0.0f, w->dx0, CE);
    for (size_t r = 0; r < rows; r++) {
      if ((int)(r / (size_t)B) >= blen(bt, (int)(r % (size_t)B), T)) continue;
      for (int c = 0; c < C; c++)
        add_row(d->emb + (w->foff[c] + slot(bt, r, C, c, s->V[c])) * E,
                w->dx0 + r * (size_t)CE + (size_t)c * E, (size_t)E);
    }
    return;
  }
  const int num_gemm = N >= AE_NUM_GEMM_MIN;
  float *dnum = d->enc_wx0 + cr * G;
  if (num_gemm) gemm(1, 0, N, (int)G, (int)rows, bt->num, N, dg, (int)G, 1.0f, dnum, (int)G);
  for (size_t r = 0; r < rows; r++) {
    if ((int)(r / (size_t)B) >= blen(bt, (int)(r % (size_t)B), T)) continue;
    const float *dgr = dg + r * G;
    for (int c = 0; c < C; c++)
      add_row(d->enc_wx0 + (w->foff[c] + slot(bt, r, C, c, s->V[c])) * G, dgr, G);
    if (!num_gemm)
      for (int j = 0; j < N; j++) {
        float v = bt->num[r * N + j];
        if (v != 0.0f) axpy(dnum + (size_t)j * G, dgr, v, G);
      }
  }
}

void ae_backward(const ae_shape *s, const float *params, const ae_batch *bt, ae_work *w,
                 float *grads) {
  if (bt->B != w->B || !same_shape(s, w)) return; /* not the batch of the last forward */
  ae_params p, d;
  ae_param_layout(s, (float *)params, &p);
  ae_param_layout(s, grads, &d);
  const int B = w->B, H = s->H, L = s->L, T = s->T, Tm = w->Tm, G = 4 * H, rows = Tm * B;
  const int O = ae_output_width(s);
  /* Output layer: dout_w += h^T dy, dout_b += colsum(dy), dh_top = dy out_w^T. */
  loss_backward(s, bt, w);
  gemm(1, 0, H, O, rows, w->dec[L - 1].h, H, w->dy, O, 1.0f, d.out_w, O);
  colsum_add(w, d.out_b, w->dy, (size_t)rows, (size_t)O);
  float *dh = w->dh[0], *dlow = w->dh[1];
  gemm(0, 1, rows, H, O, w->dy, O, p.out_w, O, 0.0f, dh, H);
  /* Decoder, top down. */
  for (int l = L - 1; l >= 0; l--) {
    lstm_backward(&w->dec[l], p.dec_wh[l], dh, w->dg, w->dc, d.dec_wh[l], d.dec_b[l], Tm, B, H);
    if (l > 0) {
      gemm(1, 0, H, G, rows, w->dec[l - 1].h, H, w->dg, G, 1.0f, d.dec_wx[l], G);
      gemm(0, 1, rows, H, G, w->dg, G, p.dec_wx[l], G, 0.0f, dlow, H);
      float *tmp = dh;
      dh = dlow, dlow = tmp;
    }
  }
  /* Decoder layer 0 saw z at every step: dP = sum_t dg_t, dWx += z^T dP, dz = dP Wx^T. (Its
  ** bias gradient, colsum(dg), was added by lstm_backward.) */
  memset(w->dp, 0, (size_t)B * G * sizeof(float));
  colsum_add(w, w->dp, w->dg, (size_t)Tm, (size_t)B * G); /* dg as [Tm][B*4H] */
  gemm(1, 0, H, G, B, w->z, H, w->dp, G, 1.0f, d.dec_wx[0], G);
  gemm(0, 1, B, H, G, w->dp, G, p.dec_wx[0], G, 0.0f, w->dz, H);
  /* The encoder's top layer gets its gradient only at step len[b]-1 of window b. */
  memset(dh, 0, (size_t)rows * H * sizeof(float));
  for (int b = 0; b < B; b++)
    memcpy(dh + ((size_t)(blen(bt, b, T) - 1) * B + b) * H, w->dz + (size_t)b * H,
           (size_t)H * sizeof(float));
  for (int l = L - 1; l >= 0; l--) {
    lstm_backward(&w->enc[l], p.enc_wh[l], dh, w->dg, w->dc, d.enc_wh[l], d.enc_b[l], Tm, B, H);
    if (l > 0) {
      gemm(1, 0, H, G, rows, w->enc[l - 1].h, H, w->dg, G, 1.0f, d.enc_wx[l], G);
      gemm(0, 1, rows, H, G, w->dg, G, p.enc_wx[l], G, 0.0f, dlow, H);
      float *tmp = dh;
      dh = dlow, dlow = tmp;
    }
  }
  enc0_backward(s, &p, bt, w, &d);
}

/* --- per-field results ------------------------------------------------------------------------ */

float ae_step_error(const ae_work *w, int t, int b) {
  if (b < 0 || b >= w->B || t < 0 || t >= w->Tm) return NAN;
  const size_t r = (size_t)t * (size_t)w->B + (size_t)b;
  return w->wstep[r] > 0.0f ? w->serr[r] : NAN; /* wstep 0: padding or no field present */
}

int ae_hot_steps(const ae_work *w, int b, double thr, int *out, float *scratch) {
  if (b < 0 || b >= w->B) return 0;
  double excess = 0.0; /* sum over the window's steps of (error - thr): steps x (score - thr) */
  for (int t = 0; t < w->Tm; t++) {
    const float e = ae_step_error(w, t, b);
    scratch[t] = isnan(e) ? -INFINITY : e;
    if (!isnan(e)) excess += (double)e - thr;
  }
  /* Greedy: the largest errors first, until their excess covers the window's. */
  int k = 0;
  double covered = 0.0;
  while (k < w->Tm) {
    int best = 0;
    for (int t = 1; t < w->Tm; t++)
      if (scratch[t] > scratch[best]) best = t;
    if (!((double)scratch[best] > thr)) break; /* nothing above thr left (or only padding) */
    out[k++] = best;
    covered += (double)scratch[best] - thr;
    scratch[best] = -INFINITY;
    if (covered >= excess) break;
  }
  for (int i = 1; i < k; i++) /* ascending step order; k is a handful */
    for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
      const int x = out[j];
      out[j] = out[j - 1], out[j - 1] = x;
    }
  return k;
}

void ae_field_errors(const ae_shape *s, const ae_batch *bt, const ae_work *w, float *out,
                     float *pred) {
  const int B = w->B, T = s->T, C = s->C, N = s->N, F = C + N;
  const size_t O = (size_t)ae_output_width(s), ncat = sum_v(s);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const size_t r = (size_t)t * B + b, q = ((size_t)b * T + t) * F;
      const int in = t < blen(bt, b, T); /* t < len <= Tm: the row was computed */
      for (int f = 0; f < F; f++) out[q + f] = in ? w->fe[r * F + f] : NAN;
      if (!pred) continue;
      for (int f = 0; f < F; f++) pred[q + f] = NAN;
      if (!in) continue;
      const float *yr = w->y + r * O;
      for (int c = 0; c < C; c++) {
        const float *yc = yr + w->foff[c];
        int best = 0;
        for (int v = 1; v < s->V[c]; v++) best = yc[v] > yc[best] ? v : best;
        pred[q + c] = (float)best;
      }
      for (int j = 0; j < N; j++) pred[q + C + j] = yr[ncat + j];
    }
}

/* --- optimiser -------------------------------------------------------------------------------- */

void ae_adam(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
             float beta2, float eps, long t) {
  /* The operations and their order are torch.optim.Adam's (single-tensor path), so a run can
  ** be compared with PyTorch step by step. */
  const double bc1 = 1.0 - pow((double)beta1, (double)t), bc2 = 1.0 - pow((double)beta2, (double)t);
  const float step = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
  for (size_t i = 0; i < n; i++) {
    m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
    v[i] = beta2 * v[i] + (1.0f - beta2) * (g[i] * g[i]);
    float denom = sqrtf(v[i]) / bc2_sqrt + eps;
    p[i] += -step * (m[i] / denom);
  }
}

float ae_clip(float *g, size_t n, float max_norm) {
  double ss = 0.0;
  for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
  const float norm = (float)sqrt(ss);
  if (max_norm > 0.0f) {
    const float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
      for (size_t i = 0; i < n; i++) g[i] *= coef;
  }
  return norm;
}
