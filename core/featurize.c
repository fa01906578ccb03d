/* featurize.c — windows → ids and scaled numbers (see featurize.h). */
#include "featurize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fz_init(fz *z) { memset(z, 0, sizeof *z); }

void fz_free(fz *z) {
  for (int i = 0; i < z->F; i++) {
    strmap_free(&z->f[i].vocab);
    free(z->f[i].count);
  }
  memset(z, 0, sizeof *z);
}

void fz_data_free(fz_data *d) {
  free(d->len);
  free(d->off);
  free(d->cells);
  memset(d, 0, sizeof *d);
}

/* Vocabulary key of a value: "s"+text for strings (and numbers in a categorical field, as their
** shortest exact decimal text), "n" for null. Written to buf (cap bytes) when it fits; *heap is set
** to a malloc'd copy otherwise (caller frees). Returns the key and its length. */
static const char *value_key(const fg_window *w, const fg_val *v, char *buf, size_t cap,
                             char **heap, size_t *klen) {
  *heap = NULL;
  if (v->kind == FG_V_NULL) {
    *klen = 1;
    return "n";
  }
  const char *text;
  size_t n;
  char num[40];
  if (v->kind == FG_V_STR) {
    text = fg_window_valstr(w, v);
    n = v->len;
  } else {
    int k = snprintf(num, sizeof num, "%.15g", v->num);
    if (strtod(num, NULL) != v->num) k = snprintf(num, sizeof num, "%.17g", v->num);
    text = num;
    n = (size_t)k;
  }
  char *out = buf;
  if (n + 2 > cap) {
    out = *heap = malloc(n + 2);
    if (!out) return NULL;
  }
  out[0] = 's';
  memcpy(out + 1, text, n);
  out[n + 1] = 0;
  *klen = n + 1;
  return out;
}

int fz_check_fields(const fz *z, const fg_window *w, fg_err *err) {
  int same = w->n_fields == z->F;
  for (int i = 0; same && i < z->F; i++)
    same = strlen(z->f[i].name) == w->field_len[i] && strcmp(z->f[i].name, fg_window_field(w, i)) == 0;
  if (same) return 0;
  char want[256], got[256];
  size_t n = 0;
  want[0] = 0;
  for (int i = 0; i < z->F && n + 1 < sizeof want; i++)
    n += (size_t)snprintf(want + n, sizeof want - n, "%s%s", i ? "," : "", z->f[i].name);
  fg_window_fields_str(w, got, sizeof got);
  return fg_errf(err, FG_EINVAL, "window fields (%s) differ from the model's fields (%s)", got, want);
}

static int set_fields(fz *z, const fg_window *w, fg_err *err) {
  for (int i = 0; i < w->n_fields; i++) {
    if (w->field_len[i] >= sizeof z->f[i].name)
      return fg_errf(err, FG_EINVAL, "field name '%.40s...' is longer than %d bytes",
                     fg_window_field(w, i), (int)sizeof z->f[i].name - 1);
    memcpy(z->f[i].name, fg_window_field(w, i), w->field_len[i] + 1);
    strmap_init(&z->f[i].vocab);
  }
  z->F = w->n_fields;
  return 0;
}

static int reserve_window(fz_data *d, size_t cells) {
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 1024;
    int32_t *len = realloc(d->len, nc * sizeof *len);
    if (!len) return FG_ENOMEM;
    d->len = len;
    size_t *off = realloc(d->off, nc * sizeof *off);
    if (!off) return FG_ENOMEM;
    d->off = off;
    d->cap = nc;
  }
  if (d->ncells + cells > d->cellcap) {
    size_t nc = d->cellcap ? d->cellcap : 4096;
    while (nc < d->ncells + cells) nc *= 2;
    fz_cell *c = realloc(d->cells, nc * sizeof *c);
    if (!c) return FG_ENOMEM;
    d->cells = c;
    d->cellcap = nc;
  }
  return 0;
}

/* Decides the kind of field f from value v (first non-null) or checks it. */
static int kind_of(fz *z, int f, const fg_window *w, const fg_val *v, size_t widx, int step,
                   fg_err *err) {
  fz_field *fd = &z->f[f];
  if (v->kind == FG_V_NULL) return 0;
  if (fd->kind == FZ_UNSET) {
    fd->kind = v->kind == FG_V_STR ? FZ_CAT : FZ_NUM;
    return 0;
  }
  if (fd->kind == FZ_NUM && v->kind == FG_V_STR)
    return fg_errf(err, FG_EINVAL,
                   "field '%s' is numeric, but window %zu step %d has the string '%.60s'",
                   fd->name, widx + 1, step + 1, fg_window_valstr(w, v));
  return 0;
}

static int count_id(fz_field *fd, int32_t id, int added) {
  if (added && ((uint32_t)id & ((uint32_t)id - 1)) == 0) { /* grow at powers of two */
    size_t nc = id ? (size_t)id * 2 : 16;
    uint64_t *c = realloc(fd->count, nc * sizeof *c);
    if (!c) return FG_ENOMEM;
    memset(c + id, 0, (nc - (size_t)id) * sizeof *c);
    fd->count = c;
  }
  fd->count[id]++;
  return 0;
}

int fz_add(fz *z, fz_data *d, const fg_window *w, fg_err *err) {
  if (d->n == 0 && z->F == 0) {
    if (set_fields(z, w, err)) return err->code;
  } else if (fz_check_fields(z, w, err)) {
    return fg_err_prefix(err, "window %zu", d->n + 1);
  }
  size_t nc = (size_t)w->n_steps * (size_t)z->F;
  if (reserve_window(d, nc)) return fg_errf(err, FG_ENOMEM, "out of memory");
  fz_cell *out = d->cells + d->ncells;
  for (int t = 0; t < w->n_steps; t++) {
    for (int f = 0; f < z->F; f++) {
      const fg_val *v = fg_window_val(w, t, f);
      if (kind_of(z, f, w, v, d->n, t, err)) return err->code;
      fz_cell *c = &out[(size_t)t * z->F + f];
      /* Until the kind is known the value is kept both ways: a numeric-looking field stores its
      ** number; a field still FZ_UNSET (only nulls) stores NaN, which reads as "missing". */
      if (z->f[f].kind == FZ_CAT) {
        char buf[256], *heap;
        size_t klen;
        const char *key = value_key(w, v, buf, sizeof buf, &heap, &klen);
        if (!key) return fg_errf(err, FG_ENOMEM, "out of memory");
        int added;
        int32_t id = strmap_add(&z->f[f].vocab, key, klen, &added);
        free(heap);
        if (id < 0 || count_id(&z->f[f], id, added)) return fg_errf(err, FG_ENOMEM, "out of memory");
        c->id = id;
      } else {
        c->x = v->kind == FG_V_NUM ? (float)v->num : NAN;
      }
    }
  }
  /* A field that turned categorical after some windows stored NaN for its nulls: those were
  ** nulls, so re-encode them now as the null key. */
  d->len[d->n] = w->n_steps;
  d->off[d->n] = d->ncells;
  d->ncells += nc;
  d->n++;
  if (w->n_steps > d->T) d->T = w->n_steps;
  return 0;
}

/* Fields that became categorical only after earlier windows held nulls for them stored those as
** NaN floats; rewrite them as the null key before building vocabularies. */
static int fix_late_categoricals(fz *z, fz_data *d, fg_err *err) {
  for (int f = 0; f < z->F; f++) {
    fz_field *fd = &z->f[f];
    if (fd->kind != FZ_CAT) continue;
    int32_t null_id = -1;
    for (size_t i = 0; i < d->n; i++) {
      fz_cell *c = d->cells + d->off[i];
      for (int t = 0; t < d->len[i]; t++) {
        fz_cell *x = &c[(size_t)t * z->F + f];
        /* Categorical ids are small non-negative ints; a NaN float has its exponent bits all
        ** set, which as int32 is negative or >= 0x7f800000 — never a valid id. */
        if (x->id >= 0 && (uint32_t)x->id < fd->vocab.n) continue;
        if (null_id < 0) {
          int added;
          null_id = strmap_add(&fd->vocab, "n", 1, &added);
          if (null_id < 0 || (added && count_id(fd, null_id, 1)))
            return fg_errf(err, FG_ENOMEM, "out of memory");
          if (!added) fd->count[null_id]++;
        } else {
          fd->count[null_id]++;
        }
        x->id = null_id;
      }
    }
  }
  return 0;
}

static const fz_field *g_sort_field; /* qsort has no context argument in C11 */

static int by_count_then_key(const void *a, const void *b) {
  int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
  const fz_field *fd = g_sort_field;
  if (fd->count[i] != fd->count[j]) return fd->count[i] > fd->count[j] ? -1 : 1;
  uint32_t li = strmap_keylen(&fd->vocab, (uint32_t)i), lj = strmap_keylen(&fd->vocab, (uint32_t)j);
  int c = memcmp(strmap_key(&fd->vocab, (uint32_t)i), strmap_key(&fd->vocab, (uint32_t)j),
                 li < lj ? li : lj);
  if (c) return c;
  return li < lj ? -1 : li > lj;
}

/* Rebuilds fd->vocab with the kept keys in rank order; remap[old id] = slot (0 if dropped). */
static int rank_vocab(fz_field *fd, int vocab_max, int32_t **remap_out, fg_err *err) {
  uint32_t n = fd->vocab.n;
  int32_t *order = malloc((n ? n : 1) * sizeof *order);
  int32_t *remap = malloc((n ? n : 1) * sizeof *remap);
  if (!order || !remap) {
    free(order);
    free(remap);
    return fg_errf(err, FG_ENOMEM, "out of memory");
  }
  for (uint32_t i = 0; i < n; i++) order[i] = (int32_t)i, remap[i] = 0;
  g_sort_field = fd;
  qsort(order, n, sizeof *order, by_count_then_key);
  uint32_t keep = n < (uint32_t)vocab_max ? n : (uint32_t)vocab_max;
  strmap nv;
  strmap_init(&nv);
  for (uint32_t r = 0; r < keep; r++) {
    uint32_t id = (uint32_t)order[r];
    if (strmap_add(&nv, strmap_key(&fd->vocab, id), strmap_keylen(&fd->vocab, id), NULL) < 0) {
      strmap_free(&nv);
      free(order);
      free(remap);
      return fg_errf(err, FG_ENOMEM, "out of memory");
    }
    remap[id] = (int32_t)r + 1;
  }
  strmap_free(&fd->vocab);
  fd->vocab = nv;
  free(fd->count);
  fd->count = NULL;
  free(order);
  *remap_out = remap;
  return 0;
}

int fz_finish(fz *z, fz_data *d, int vocab_max, fg_err *err) {
  if (d->n == 0) return fg_errf(err, FG_EINVAL, "no windows to train on");
  if (fix_late_categoricals(z, d, err)) return err->code;
  z->C = z->N = 0;
  for (int f = 0; f < z->F; f++) {
    fz_field *fd = &z->f[f];
    /* Only nulls in training: categorical, so any value later is an "unknown" (never seen). */
    if (fd->kind == FZ_UNSET) {
      fd->kind = FZ_CAT;
      int added;
      if (strmap_add(&fd->vocab, "n", 1, &added) < 0 || count_id(fd, 0, added))
        return fg_errf(err, FG_ENOMEM, "out of memory");
      fd->count[0] = 1;
      for (size_t i = 0; i < d->n; i++) {
        fz_cell *c = d->cells + d->off[i];
        for (int t = 0; t < d->len[i]; t++) c[(size_t)t * z->F + f].id = 0;
      }
    }
    if (fd->kind == FZ_CAT) {
      fd->col = z->C++;
      int32_t *remap = NULL;
      if (rank_vocab(fd, vocab_max, &remap, err)) return err->code;
      for (size_t i = 0; i < d->n; i++) {
        fz_cell *c = d->cells + d->off[i];
        for (int t = 0; t < d->len[i]; t++) c[(size_t)t * z->F + f].id = remap[c[(size_t)t * z->F + f].id];
      }
      free(remap);
      continue;
    }
    fd->col = z->N++;
    /* Moments of the raw values decide log1p (all >= 0 and skewness > 1); then mean/std of the
    ** transformed values. Two passes in double for accuracy. */
    double s1 = 0, mn = INFINITY;
    size_t cnt = 0;
    for (size_t i = 0; i < d->n; i++) {
      const fz_cell *c = d->cells + d->off[i];
      for (int t = 0; t < d->len[i]; t++) {
        float x = c[(size_t)t * z->F + f].x;
        if (isnan(x)) continue;
        s1 += x;
        if (x < mn) mn = x;
        cnt++;
      }
    }
    double mean = cnt ? s1 / (double)cnt : 0, m2 = 0, m3 = 0;
    for (size_t i = 0; i < d->n; i++) {
      const fz_cell *c = d->cells + d->off[i];
      for (int t = 0; t < d->len[i]; t++) {
        float x = c[(size_t)t * z->F + f].x;
        if (isnan(x)) continue;
        double dx = x - mean;
        m2 += dx * dx;
        m3 += dx * dx * dx;
      }
    }
    fd->log = 0;
    if (cnt > 2 && mn >= 0 && m2 > 0) {
      double var = m2 / (double)cnt, skew = (m3 / (double)cnt) / (var * sqrt(var));
      fd->log = skew > 1.0;
    }
    double t1 = 0, t2 = 0;
    for (size_t i = 0; i < d->n; i++) {
      const fz_cell *c = d->cells + d->off[i];
      for (int t = 0; t < d->len[i]; t++) {
        float x = c[(size_t)t * z->F + f].x;
        if (isnan(x)) continue;
        double g = fd->log ? log1p((double)x) : (double)x;
        t1 += g;
      }
    }
    fd->mean = cnt ? t1 / (double)cnt : 0;
    for (size_t i = 0; i < d->n; i++) {
      const fz_cell *c = d->cells + d->off[i];
      for (int t = 0; t < d->len[i]; t++) {
        float x = c[(size_t)t * z->F + f].x;
        if (isnan(x)) continue;
        double g = (fd->log ? log1p((double)x) : (double)x) - fd->mean;
        t2 += g * g;
      }
    }
    fd->std = cnt > 1 ? sqrt(t2 / (double)(cnt - 1)) : 0;
    if (!(fd->std > 1e-9 * (fabs(fd->mean) + 1))) fd->std = 1; /* constant field */
    /* A nearly constant count (invocations a minute: 1, now and then 2) has a tiny log std, and
    ** one more invocation would be many standard deviations off, as far as a flood. The floor
    ** keeps relative changes below e^log_std_min - 1 within one standard deviation. */
    double floor_std = fd->log_std_min > z->log_std_min ? fd->log_std_min : z->log_std_min;
    if (fd->log && fd->std < floor_std) fd->std = floor_std;
    for (size_t i = 0; i < d->n; i++) {
      fz_cell *c = d->cells + d->off[i];
      for (int t = 0; t < d->len[i]; t++) {
        fz_cell *x = &c[(size_t)t * z->F + f];
        if (isnan(x->x)) continue;
        double g = fd->log ? log1p((double)x->x) : (double)x->x;
        double s = (g - fd->mean) / fd->std;
        x->x = (float)(s > FZ_CLAMP ? FZ_CLAMP : s < -FZ_CLAMP ? -FZ_CLAMP : s);
      }
    }
  }
  return 0;
}

static float scale(const fz_field *fd, double x) {
  if (fd->log && x < 0) x = 0; /* log1p of a negative value in a non-negative field: clamp */
  double g = fd->log ? log1p(x) : x;
  double s = (g - fd->mean) / fd->std;
  if (isnan(s)) return FZ_CLAMP;
  return (float)(s > FZ_CLAMP ? FZ_CLAMP : s < -FZ_CLAMP ? -FZ_CLAMP : s);
}

int32_t fz_slot(const fz_field *f, const fg_window *w, const fg_val *v) {
  char buf[256], *heap;
  size_t klen;
  const char *key = value_key(w, v, buf, sizeof buf, &heap, &klen);
  if (!key) return 0;
  int32_t id = strmap_find(&f->vocab, key, klen);
  free(heap);
  return id < 0 ? 0 : id + 1;
}

const char *fz_slot_text(const fz_field *f, int32_t slot, size_t *len, int *is_null) {
  *is_null = 0;
  if (slot <= 0 || (uint32_t)slot > f->vocab.n) {
    *len = 9;
    return "<unknown>";
  }
  const char *k = strmap_key(&f->vocab, (uint32_t)slot - 1);
  if (k[0] == 'n') {
    *is_null = 1;
    *len = 4;
    return "null";
  }
  *len = strmap_keylen(&f->vocab, (uint32_t)slot - 1) - 1;
  return k + 1;
}

int fz_add_grow(fz *z, fz_data *d, const fg_window *w, int vocab_max, fg_err *err) {
  if (fz_check_fields(z, w, err)) return fg_err_prefix(err, "window %zu", d->n + 1);
  size_t nc = (size_t)w->n_steps * (size_t)z->F;
  if (reserve_window(d, nc)) return fg_errf(err, FG_ENOMEM, "out of memory");
  fz_cell *out = d->cells + d->ncells;
  for (int t = 0; t < w->n_steps; t++) {
    for (int f = 0; f < z->F; f++) {
      const fg_val *v = fg_window_val(w, t, f);
      fz_field *fd = &z->f[f];
      fz_cell *c = &out[(size_t)t * z->F + f];
      if (fd->kind == FZ_CAT) {
        char buf[256], *heap;
        size_t klen;
        const char *key = value_key(w, v, buf, sizeof buf, &heap, &klen);
        if (!key) return fg_errf(err, FG_ENOMEM, "out of memory");
        int32_t id = strmap_find(&fd->vocab, key, klen);
        if (id < 0 && fd->vocab.n < (uint32_t)vocab_max) id = strmap_add(&fd->vocab, key, klen, NULL);
        free(heap);
        c->id = id < 0 ? 0 : id + 1;
      } else {
        if (v->kind == FG_V_STR)
          return fg_errf(err, FG_EINVAL, "field '%s' is numeric, but window %zu step %d has the string '%.60s'",
                         fd->name, d->n + 1, t + 1, fg_window_valstr(w, v));
        c->x = v->kind == FG_V_NUM ? scale(fd, v->num) : NAN;
      }
    }
  }
  d->len[d->n] = w->n_steps;
  d->off[d->n] = d->ncells;
  d->ncells += nc;
  d->n++;
  if (w->n_steps > d->T) d->T = w->n_steps;
  return 0;
}

void fz_shape(const fz *z, ae_shape *s) {
  s->C = z->C;
  s->N = z->N;
  for (int f = 0; f < z->F; f++)
    if (z->f[f].kind == FZ_CAT) s->V[z->f[f].col] = (int)z->f[f].vocab.n + 1;
}

int fz_batch_alloc(fz_batch *b, int T, int C, int N, int cap) {
  memset(b, 0, sizeof *b);
  b->T = T, b->C = C, b->N = N, b->cap = cap, b->B = cap;
  size_t tb = (size_t)T * (size_t)cap;
  b->cat = malloc((tb * (size_t)C + 1) * sizeof *b->cat);
  b->num = malloc((tb * (size_t)N + 1) * sizeof *b->num);
  b->ok = malloc(tb * (size_t)N + 1);
  b->len = malloc((size_t)cap * sizeof *b->len);
  if (!b->cat || !b->num || !b->ok || !b->len) {
    fz_batch_free(b);
    return FG_ENOMEM;
  }
  return 0;
}

void fz_batch_free(fz_batch *b) {
  free(b->cat);
  free(b->num);
  free(b->ok);
  free(b->len);
  memset(b, 0, sizeof *b);
}

void fz_batch_shrink(fz_batch *b, int B) {
  if (B >= b->B || B < 1) return;
  /* Stride B < old stride: moving step by step from t = 0 never overwrites unread data. */
  for (int t = 0; t < b->T; t++) {
    memmove(b->cat + (size_t)t * B * b->C, b->cat + (size_t)t * b->B * b->C, (size_t)B * b->C * sizeof *b->cat);
    memmove(b->num + (size_t)t * B * b->N, b->num + (size_t)t * b->B * b->N, (size_t)B * b->N * sizeof *b->num);
    memmove(b->ok + (size_t)t * B * b->N, b->ok + (size_t)t * b->B * b->N, (size_t)B * b->N);
  }
  b->B = B;
}

void fz_batch_begin(fz_batch *b, int B) { b->B = B < 1 ? 1 : B > b->cap ? b->cap : B; }

/* Zeroes one padded step (t >= len) of a window in the batch. */
static void pad_step(const fz_batch *b, int32_t *cat, float *num, uint8_t *ok) {
  memset(cat, 0, (size_t)b->C * sizeof *cat);
  memset(num, 0, (size_t)b->N * sizeof *num);
  memset(ok, 0, (size_t)b->N);
}

/* Batch arrays are [T][B][.]: window j's step t lives at (t*B + j). */
void fz_batch_set_data(const fz *z, fz_batch *b, int j, const fz_data *d, size_t idx) {
  const fz_cell *c = d->cells + d->off[idx];
  int len = d->len[idx];
  b->len[j] = len;
  for (int t = 0; t < b->T; t++) {
    int32_t *cat = b->cat + ((size_t)t * b->B + j) * b->C;
    float *num = b->num + ((size_t)t * b->B + j) * b->N;
    uint8_t *ok = b->ok + ((size_t)t * b->B + j) * b->N;
    if (t >= len) {
      pad_step(b, cat, num, ok);
      continue;
    }
    for (int f = 0; f < z->F; f++) {
      const fz_field *fd = &z->f[f];
      fz_cell x = c[(size_t)t * z->F + f];
      if (fd->kind == FZ_CAT) cat[fd->col] = x.id;
      else {
        ok[fd->col] = !isnan(x.x);
        num[fd->col] = isnan(x.x) ? 0.0f : x.x;
      }
    }
  }
}

void fz_batch_set_window(const fz *z, fz_batch *b, int j, const fg_window *w) {
  int len = w->n_steps < b->T ? w->n_steps : b->T;
  b->len[j] = len;
  for (int t = 0; t < b->T; t++) {
    int32_t *cat = b->cat + ((size_t)t * b->B + j) * b->C;
    float *num = b->num + ((size_t)t * b->B + j) * b->N;
    uint8_t *ok = b->ok + ((size_t)t * b->B + j) * b->N;
    if (t >= len) {
      pad_step(b, cat, num, ok);
      continue;
    }
    for (int f = 0; f < z->F; f++) {
      const fz_field *fd = &z->f[f];
      const fg_val *v = fg_window_val(w, t, f);
      if (fd->kind == FZ_CAT) cat[fd->col] = fz_slot(fd, w, v);
      else {
        /* A string in a numeric field at scoring time is out of the model's world: treat it as
        ** an extreme value rather than failing the whole query. */
        ok[fd->col] = v->kind != FG_V_NULL;
        num[fd->col] = v->kind == FG_V_NUM ? scale(fd, v->num) : v->kind == FG_V_STR ? FZ_CLAMP : 0.0f;
      }
    }
  }
}

ae_batch fz_batch_view(const fz_batch *b) {
  ae_batch v = {b->B, b->cat, b->num, b->ok, b->len};
  return v;
}
