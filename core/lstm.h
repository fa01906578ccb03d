/*
** lstm.h — one LSTM layer over a batch, forward and backward, time-major.
**
** Shapes: T steps, B windows, H hidden width; 4H gate columns in PyTorch order i,f,g,o.
**   a_t = x_t Wx + h_{t-1} Wh + add_b        (add_b: the bias, or a per-window projection)
**   i = sig(a_i)  f = sig(a_f)  g = tanh(a_g)  o = sig(a_o)
**   c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)          h_{-1} = c_{-1} = 0
** The caller computes x_t Wx for all steps at once (one sgemm over T*B rows, or a row gather for
** one-hot inputs) into `g`; this file adds the recurrent term one step at a time, because step t
** needs h_{t-1}. Likewise the backward returns dL/da for every step in `dg`, and the caller turns
** that into dWx and dx with one sgemm each. ae_net.c stacks these layers into the autoencoder.
*/
#ifndef FG_LSTM_H
#define FG_LSTM_H

/* Activations of one layer; buffers owned by the caller (ae_work), sized for T*B rows. */
typedef struct lstm_acts {
  float *g;  /* [T][B][4H] in: x_t Wx (ignored if !has_x); out: activated gates i,f,g,o */
  float *c;  /* [T][B][H] cell state */
  float *tc; /* [T][B][H] tanh(c), kept for the backward */
  float *h;  /* [T][B][H] output; h of all steps contiguous so dWh is one sgemm */
} lstm_acts;

/* Forward over T steps. wh [H][4H]. add [B][4H] rows with stride add_ld: the bias with add_ld = 0,
** or a per-window input projection (decoder layer 0, whose input is constant over t) with
** add_ld = 4H. has_x = 0 means a->g holds no input term and is overwritten. */
void lstm_forward(lstm_acts *a, const float *wh, const float *add, int add_ld, int has_x, int T,
                  int B, int H);

/* Backward of the last lstm_forward. dh [T][B][H] in: dL/dh_t from above (the output layer or
** the next layer), clobbered (the recurrent gradient is added into it as t goes down).
** Out: dg [T][B][4H] = dL/da_t; ADDS into dwh [H][4H] and db [4H] (column sums of dg, which is
** also d/d(add) summed over rows). dc [B][H] is scratch. */
void lstm_backward(const lstm_acts *a, const float *wh, float *dh, float *dg, float *dc, float *dwh,
                   float *db, int T, int B, int H);

/* The activations lstm_forward uses (vectorised Cephes polynomials, see lstm.c), one value at a
** time: for tests. */
float lstm_sigmoid(float x);
float lstm_tanh(float x);
/* x[i] = e^x[i] for i < n, with the same vectorised exp (ae_net.c's output softmax uses it). */
void lstm_exp(float *x, int n);

#endif
