/* lstm.c — one LSTM layer, forward and backward over a time-major batch (see lstm.h). */
#include "lstm.h"

#include <cblas.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* --- activations ------------------------------------------------------------------------------
** Why not expf/tanhf: glibc's scalar tanhf (through expm1f) and expf were 35% of a training step.
** These are Cephes' expf and tanhf polynomials, eight lanes at a time with GCC/Clang vector types
** (without target flags the compiler emits two SSE2 or NEON operations per vector op; on x86-64
** the loops are also compiled for AVX2 by target_clones, picked at load time): about 10 times
** faster, within 2 ulp of exp and tanh (test_lstm.c checks them against libm in double). They are
** plain IEEE adds, multiplies, divides and conversions (no FMA: -ffp-contract=off), so both clones
** and every platform give the same bits, which glibc's functions do not promise across versions. */
#if defined(__GNUC__)
/* Returning a 32-byte vector changes the ABI without AVX; all such functions here are static.
** (GCC and Clang both know -Wpsabi.) */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
/* target_clones needs ifunc (glibc). -DLSTM_CLONES= builds the baseline code only (to test it on
** an AVX2 machine). */
#ifndef LSTM_CLONES
#if defined(__x86_64__) && defined(__GNUC__) && defined(__GLIBC__)
#define LSTM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LSTM_CLONES
#endif
#endif

/* The vector helpers must be inlined into each clone to be compiled for its target. */
#define VI static inline __attribute__((always_inline))

enum { W = 8 }; /* lanes */
typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));

VI vf vb(float x) { return (vf){x, x, x, x, x, x, x, x}; }
/* m ? a : b, lane by lane (m: all ones or all zeros, as comparisons give). The helpers take
** vectors by pointer: a 32-byte vector parameter makes GCC print an ABI note on every build. */
#define VSEL(m, a, b) ((vf)(((m) & (vi)(a)) | (~(m) & (vi)(b))))

/* *px = e^*px. */
VI void vexp(vf *px) {
  vf x = *px;
  /* Clamped so 2^n stays a normal float; NaN passes the clamps and comes out NaN. */
  x = VSEL(x > vb(88.0f), vb(88.0f), x);
  x = VSEL(x < vb(-87.0f), vb(-87.0f), x);
  /* x = n ln2 + r, |r| <= ln2/2, n = floor(x log2 e + 1/2); ln2 in two parts for exactness. */
  vf fx = x * vb(1.44269504088896341f) + vb(0.5f);
  fx = VSEL(fx == fx, fx, vb(0.0f));              /* keep the int conversion defined for NaN */
  vi n = __builtin_convertvector(fx, vi);         /* truncates: one too high for negative fx */
  n += (vi)(__builtin_convertvector(n, vf) > fx); /* true is -1 */
  vf nf = __builtin_convertvector(n, vf);
  vf r = x - nf * vb(0.693359375f);
  r = r - nf * vb(-2.12194440e-4f);
  vf y = vb(1.9875691500e-4f);
  y = y * r + vb(1.3981999507e-3f);
  y = y * r + vb(8.3334519073e-3f);
  y = y * r + vb(4.1665795894e-2f);
  y = y * r + vb(1.6666665459e-1f);
  y = y * r + vb(5.0000001201e-1f);
  y = y * (r * r) + r + vb(1.0f);
  *px = y * (vf)((n + 127) << 23); /* times 2^n, built in the exponent bits */
}

/* *px = 1 / (1 + e^-*px). */
VI void vsigmoid(vf *px) {
  vf e = -*px;
  vexp(&e);
  *px = vb(1.0f) / (vb(1.0f) + e);
}

/* *px = tanh(*px). */
VI void vtanh(vf *px) {
  const vf x = *px;
  const vi sign = (vi)vb(-0.0f);
  vf ax = (vf)((vi)x & ~sign), e = ax + ax;
  /* |x| >= 0.625: 1 - 2/(e^{2|x|} + 1) with x's sign; below, an odd polynomial (no cancellation) */
  vexp(&e);
  vf big = vb(1.0f) - vb(2.0f) / (e + vb(1.0f));
  big = (vf)((vi)big | ((vi)x & sign));
  vf s = x * x, p = vb(-5.70498872745e-3f);
  p = p * s + vb(2.06390887954e-2f);
  p = p * s - vb(5.37397155531e-2f);
  p = p * s + vb(1.33314422036e-1f);
  p = p * s - vb(3.33332819422e-1f);
  vf small = p * s * x + x;
  *px = VSEL(ax < vb(0.625f), small, big);
}

float lstm_sigmoid(float x) {
  vf v = vb(x);
  vsigmoid(&v);
  return v[0];
}

float lstm_tanh(float x) {
  vf v = vb(x);
  vtanh(&v);
  return v[0];
}

/* Loads and stores of n <= W floats: W is one unaligned vector move; fewer (the tail of a row
** when H is not a multiple of W) go through zero-padded lanes, which compute harmless values. */
VI vf ld(const float *p, int n) {
  vf v = vb(0.0f);
  if (n == W)
    memcpy(&v, p, sizeof v);
  else
    for (int k = 0; k < n; k++) v[k] = p[k];
  return v;
}
#define ST(p, expr, n)                                      \
  do {                                                      \
    const vf st_v_ = (expr);                                \
    if ((n) == W)                                           \
      memcpy((p), &st_v_, sizeof st_v_);                    \
    else                                                    \
      for (int k_ = 0; k_ < (n); k_++) (p)[k_] = st_v_[k_]; \
  } while (0)

LSTM_CLONES void lstm_exp(float *x, int n) {
  int j = 0;
  for (; j + W <= n; j += W) {
    vf v = ld(x + j, W);
    vexp(&v);
    ST(x + j, v, W);
  }
  if (j < n) {
    vf v = ld(x + j, n - j);
    vexp(&v);
    ST(x + j, v, n - j);
  }
}

/* --- forward ---------------------------------------------------------------------------------- */

/* One step's gate math for W hidden units of one window: pre-activations a (input term +
** recurrent term + add) in, activated gates, c, tanh(c) and h out. */
VI void cell_forward(float *gi, float *gf, float *gg, float *go, const float *ai, const float *af,
                     const float *ag, const float *ao, const float *cp, float *c, float *tc,
                     float *h, int n) {
  vf i = ld(gi, n) + ld(ai, n), f = ld(gf, n) + ld(af, n);
  vf u = ld(gg, n) + ld(ag, n), o = ld(go, n) + ld(ao, n);
  vsigmoid(&i);
  vsigmoid(&f);
  vtanh(&u);
  vsigmoid(&o);
  vf cc = (cp ? f * ld(cp, n) : vb(0.0f)) + i * u, th = cc;
  vtanh(&th);
  ST(gi, i, n);
  ST(gf, f, n);
  ST(gg, u, n);
  ST(go, o, n);
  ST(c, cc, n);
  ST(tc, th, n);
  ST(h, o * th, n);
}

LSTM_CLONES void lstm_forward(lstm_acts *a, const float *wh, const float *add, int add_ld,
                              int has_x, int T, int B, int H) {
  const size_t G = 4 * (size_t)H, BH = (size_t)B * H, BG = (size_t)B * G;
  for (int t = 0; t < T; t++) {
    float *g = a->g + (size_t)t * BG;        /* [B][4H] */
    float *c = a->c + (size_t)t * BH;        /* [B][H] */
    float *tc = a->tc + (size_t)t * BH;      /* [B][H] */
    float *h = a->h + (size_t)t * BH;        /* [B][H] */
    const float *cp = t > 0 ? c - BH : NULL; /* c_{t-1}; NULL at t = 0 where it is zero */
    /* a_t (+)= h_{t-1} Wh: [B][H] x [H][4H]. At t = 0, h_{-1} = 0 and there is nothing to add. */
    if (t > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, 4 * H, H, 1.0f, h - BH, H, wh,
                  4 * H, has_x ? 1.0f : 0.0f, g, 4 * H);
    else if (!has_x)
      memset(g, 0, BG * sizeof *g);
    for (int b = 0; b < B; b++) {
      float *gi = g + (size_t)b * G, *gf = gi + H, *gg = gf + H, *go = gg + H;
      const float *ai = add + (size_t)b * (size_t)add_ld, *af = ai + H, *ag = af + H, *ao = ag + H;
      float *cr = c + (size_t)b * H, *tr = tc + (size_t)b * H, *hr = h + (size_t)b * H;
      const float *cpr = cp ? cp + (size_t)b * H : NULL;
      int j = 0;
      for (; j + W <= H; j += W)
        cell_forward(gi + j, gf + j, gg + j, go + j, ai + j, af + j, ag + j, ao + j,
                     cpr ? cpr + j : NULL, cr + j, tr + j, hr + j, W);
      if (j < H)
        cell_forward(gi + j, gf + j, gg + j, go + j, ai + j, af + j, ag + j, ao + j,
                     cpr ? cpr + j : NULL, cr + j, tr + j, hr + j, H - j);
    }
  }
}

/* --- backward --------------------------------------------------------------------------------- */

/* The backward of cell_forward for W hidden units: gate activations g (i,f,g,o at stride H),
** tanh(c_t), dL/dh_t, c_{t-1} in; dL/da (same layout as g) out; dc: dL/dc_t from step t+1 in,
** dL/dc_{t-1} out. */
VI void cell_backward(const float *g, int H, const float *tc, const float *dhp, const float *cp,
                      float *dg, float *dc, int n) {
  const vf i = ld(g, n), f = ld(g + H, n), u = ld(g + 2 * H, n), o = ld(g + 3 * H, n);
  const vf th = ld(tc, n), dh = ld(dhp, n), one = vb(1.0f);
  /* dc_t: through h_t = o tanh(c_t), plus what c_{t+1} = f_{t+1} c_t + ... sent back. */
  const vf dcv = ld(dc, n) + dh * o * (one - th * th);
  const vf cpv = cp ? ld(cp, n) : vb(0.0f);
  ST(dg, dcv * u * i * (one - i), n);
  ST(dg + H, dcv * cpv * f * (one - f), n);
  ST(dg + 2 * H, dcv * i * (one - u * u), n);
  ST(dg + 3 * H, dh * th * o * (one - o), n);
  ST(dc, dcv * f, n);
}

LSTM_CLONES void lstm_backward(const lstm_acts *a, const float *wh, float *dh, float *dg, float *dc,
                               float *dwh, float *db, int T, int B, int H) {
  const size_t G = 4 * (size_t)H, BH = (size_t)B * H, BG = (size_t)B * G;
  memset(dc, 0, BH * sizeof *dc); /* dL/dc_T = 0: nothing after the last step */
  for (int t = T - 1; t >= 0; t--) {
    const float *g = a->g + (size_t)t * BG;
    const float *tc = a->tc + (size_t)t * BH;
    const float *cp = t > 0 ? a->c + (size_t)(t - 1) * BH : NULL;
    const float *dht = dh + (size_t)t * BH;
    float *dgt = dg + (size_t)t * BG;
    for (int b = 0; b < B; b++) {
      const float *gi = g + (size_t)b * G, *tr = tc + (size_t)b * H, *dhr = dht + (size_t)b * H;
      const float *cpr = cp ? cp + (size_t)b * H : NULL;
      float *di = dgt + (size_t)b * G, *dcr = dc + (size_t)b * H;
      int j = 0;
      for (; j + W <= H; j += W)
        cell_backward(gi + j, H, tr + j, dhr + j, cpr ? cpr + j : NULL, di + j, dcr + j, W);
      if (j < H)
        cell_backward(gi + j, H, tr + j, dhr + j, cpr ? cpr + j : NULL, di + j, dcr + j, H - j);
    }
    /* dh_{t-1} += da_t Wh^T: [B][4H] x [4H][H]. */
    if (t > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, 4 * H, 1.0f, dgt, 4 * H, wh, 4 * H,
                  1.0f, dh + (size_t)(t - 1) * BH, H);
  }
  /* dWh += sum_t h_{t-1}^T da_t: one sgemm over steps 1..T-1 (h_{-1} = 0 adds nothing), possible
  ** because h of all steps is contiguous: rows h_0..h_{T-2} pair with dg rows of steps 1..T-1. */
  if (T > 1)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, 4 * H, (T - 1) * B, 1.0f, a->h, H,
                dg + BG, 4 * H, 1.0f, dwh, 4 * H);
  /* db += column sums of dg, W columns at a time. */
  const size_t rows = (size_t)T * B;
  int j = 0;
  for (; j + W <= (int)G; j += W) {
    vf acc = ld(db + j, W);
    for (size_t r = 0; r < rows; r++) acc += ld(dg + r * G + j, W);
    ST(db + j, acc, W);
  }
  if (j < (int)G) {
    vf acc = ld(db + j, (int)G - j);
    for (size_t r = 0; r < rows; r++) acc += ld(dg + r * G + j, (int)G - j);
    ST(db + j, acc, (int)G - j);
  }
}
