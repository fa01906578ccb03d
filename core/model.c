/* model.c — model BLOB save/load with full validation, and the info JSON (see model.h). */
#include "model.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void fg_model_free(fg_model *m) {
  if (!m) return;
  fz_free(&m->z);
  free(m->params);
  free(m->train_loss);
  free(m->val_loss);
  free(m->options);
  free(m);
}

int fg_model_push_epoch(fg_model *m, float tl, float vl) {
  float *a = realloc(m->train_loss, (size_t)(m->n_hist + 1) * sizeof *a);
  if (!a) return FG_ENOMEM;
  m->train_loss = a;
  float *b = realloc(m->val_loss, (size_t)(m->n_hist + 1) * sizeof *b);
  if (!b) return FG_ENOMEM;
  m->val_loss = b;
  a[m->n_hist] = tl;
  b[m->n_hist] = vl;
  m->n_hist++;
  return 0;
}

/* --- little-endian writer ---------------------------------------------------------------- */

typedef struct wbuf {
  unsigned char *p;
  size_t len, cap;
  int oom;
} wbuf;

static void wput(wbuf *w, const void *src, size_t n) {
  if (w->oom) return;
  if (w->len + n > w->cap) {
    size_t nc = w->cap ? w->cap : 4096;
    while (nc < w->len + n) nc *= 2;
    unsigned char *p = realloc(w->p, nc);
    if (!p) { w->oom = 1; return; }
    w->p = p;
    w->cap = nc;
  }
  memcpy(w->p + w->len, src, n);
  w->len += n;
}
static void wu32(wbuf *w, uint32_t v) {
  unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                        (unsigned char)(v >> 24)};
  wput(w, b, 4);
}
static void wu64(wbuf *w, uint64_t v) {
  wu32(w, (uint32_t)v);
  wu32(w, (uint32_t)(v >> 32));
}
static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
  p[3] = (unsigned char)(v >> 24);
}
static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static json_t *loss_array(const float *a, int n) {
  json_t *arr = json_array();
  for (int i = 0; arr && i < n; i++)
    json_array_append_new(arr, isfinite(a[i]) ? json_real(a[i]) : json_null());
  return arr;
}

/* The JSON part of the BLOB: everything but vocabularies and weights. */
static json_t *meta_json(const fg_model *m) {
  json_t *fields = json_array();
  for (int f = 0; f < m->z.F; f++) {
    const fz_field *fd = &m->z.f[f];
    json_t *o = fd->kind == FZ_CAT
                    ? json_pack("{s:s, s:s, s:I}", "name", fd->name, "kind", "cat", "vocab",
                                (json_int_t)fd->vocab.n)
                    : json_pack("{s:s, s:s, s:b, s:f, s:f}", "name", fd->name, "kind", "num",
                                "log", fd->log, "mean", fd->mean, "std", fd->std);
    json_array_append_new(fields, o);
  }
  json_t *opts = m->options ? json_loads(m->options, 0, NULL) : json_object();
  json_t *rec = json_pack(
      "{s:I, s:I, s:I, s:i, s:i, s:o, s:o, s:s, s:i, s:o, s:o}", "n_windows",
      (json_int_t)m->n_windows, "n_train", (json_int_t)m->n_train, "n_val", (json_int_t)m->n_val,
      "epochs_run", m->epochs_run, "best_epoch", m->best_epoch, "train_loss",
      loss_array(m->train_loss, m->n_hist), "val_loss", loss_array(m->val_loss, m->n_hist),
      "seed", "", "updates", m->updates, "threshold",
      isfinite(m->threshold) ? json_real(m->threshold) : json_null(), "options",
      opts ? opts : json_object());
  /* The seed is a full 64-bit value: keep it as text so no JSON reader rounds it. */
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->seed);
  json_object_set_new(rec, "seed", json_string(seed));
  json_t *meta = json_pack("{s:i, s:i, s:i, s:i, s:i, s:o, s:o}", "T", m->s.T, "H", m->s.H, "L",
                           m->s.L, "E", m->s.E, "format", FG_MODEL_FORMAT, "fields", fields, "record", rec);
  /* Only when set: models without a cap keep the bytes they had before it existed. */
  if (meta && m->s.num_cap > 0.0f) json_object_set_new(meta, "num_cap", json_real(m->s.num_cap));
  return meta;
}

int fg_model_save(fg_model *m, unsigned char **blob, size_t *len, fg_err *err) {
  json_t *meta = meta_json(m);
  char *text = meta ? json_dumps(meta, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
  json_decref(meta);
  if (!text) return fg_errf(err, FG_ENOMEM, "out of memory");
  wbuf w = {0};
  wput(&w, FG_MODEL_MAGIC "\0", 8);
  wu32(&w, FG_MODEL_FORMAT);
  wu32(&w, 0); /* CRC, filled below */
  wu64(&w, 0); /* total length, filled below */
  size_t mlen = strlen(text);
  wu32(&w, (uint32_t)mlen);
  wput(&w, text, mlen);
  free(text);
  for (int f = 0; f < m->z.F; f++) {
    const fz_field *fd = &m->z.f[f];
    if (fd->kind != FZ_CAT) continue;
    wu32(&w, fd->vocab.n);
    for (uint32_t i = 0; i < fd->vocab.n; i++) {
      wu32(&w, strmap_keylen(&fd->vocab, i));
      wput(&w, strmap_key(&fd->vocab, i), strmap_keylen(&fd->vocab, i));
    }
  }
  wu64(&w, m->n_params);
  for (size_t i = 0; i < m->n_params; i++) {
    uint32_t u;
    memcpy(&u, &m->params[i], 4);
    wu32(&w, u);
  }
  if (w.oom) {
    free(w.p);
    return fg_errf(err, FG_ENOMEM, "out of memory");
  }
  put_u32(w.p + 16, (uint32_t)w.len);
  put_u32(w.p + 20, (uint32_t)((uint64_t)w.len >> 32));
  uint32_t crc = (uint32_t)crc32(0L, w.p + 16, (uInt)(w.len - 16));
  put_u32(w.p + 12, crc);
  m->checksum = crc;
  *blob = w.p;
  *len = w.len;
  return 0;
}

uint32_t fg_model_blob_crc(const unsigned char *blob, size_t len) {
  return blob && len >= 24 ? get_u32(blob + 12) : 0;
}

/* --- loader ----------------------------------------------------------------------------- */

#define BAD(...) (fg_errf(err, FG_ECORRUPT, "not a valid fnguard model: " __VA_ARGS__))

static int get_int(json_t *o, const char *key, long lo, long hi, long *out, fg_err *err) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v)) return BAD("'%s' missing or not an integer", key);
  json_int_t x = json_integer_value(v);
  if (x < lo || x > hi) return BAD("'%s' = %lld out of range [%ld, %ld]", key, (long long)x, lo, hi);
  *out = (long)x;
  return 0;
}

static int load_losses(json_t *arr, float **out, int n, fg_err *err) {
  *out = malloc((size_t)(n ? n : 1) * sizeof **out);
  if (!*out) return fg_errf(err, FG_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    json_t *v = json_array_get(arr, (size_t)i);
    if (json_is_null(v)) (*out)[i] = NAN;
    else if (json_is_number(v)) (*out)[i] = (float)json_number_value(v);
    else return BAD("loss history entry %d is not a number", i);
  }
  return 0;
}

static int load_meta(fg_model *m, json_t *meta, fg_err *err) {
  long v;
  if (!json_is_object(meta)) return BAD("metadata is not a JSON object");
  if (get_int(meta, "T", 1, 4096, &v, err)) return err->code;
  m->s.T = (int)v;
  if (get_int(meta, "H", 1, 4096, &v, err)) return err->code;
  m->s.H = (int)v;
  if (get_int(meta, "L", 1, AE_MAX_LAYERS, &v, err)) return err->code;
  m->s.L = (int)v;
  if (get_int(meta, "E", 0, 1024, &v, err)) return err->code;
  m->s.E = (int)v;
  json_t *cap = json_object_get(meta, "num_cap");
  if (cap) { /* optional: absent means no cap */
    if (!json_is_number(cap)) return BAD("'num_cap' is not a number");
    m->s.num_cap = (float)json_number_value(cap);
    if (!(m->s.num_cap > 0.0f && m->s.num_cap <= 1e6f)) return BAD("'num_cap' %g is out of range (0, 1e6]", json_number_value(cap));
  }
  json_t *fields = json_object_get(meta, "fields");
  if (!json_is_array(fields) || json_array_size(fields) < 1 ||
      json_array_size(fields) > FG_WINDOW_MAX_FIELDS)
    return BAD("'fields' must be an array of 1 to %d fields", FG_WINDOW_MAX_FIELDS);
  m->z.F = (int)json_array_size(fields);
  for (int f = 0; f < m->z.F; f++) {
    fz_field *fd = &m->z.f[f];
    strmap_init(&fd->vocab);
    json_t *o = json_array_get(fields, (size_t)f);
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (!name || !*name || strlen(name) >= sizeof fd->name) return BAD("field %d has a bad name", f + 1);
    for (int g = 0; g < f; g++)
      if (!strcmp(m->z.f[g].name, name)) return BAD("field '%s' appears twice", name);
    strcpy(fd->name, name);
    if (kind && !strcmp(kind, "cat")) {
      fd->kind = FZ_CAT;
      fd->col = m->z.C++;
    } else if (kind && !strcmp(kind, "num")) {
      fd->kind = FZ_NUM;
      fd->col = m->z.N++;
      json_t *mean = json_object_get(o, "mean"), *std = json_object_get(o, "std");
      json_t *lg = json_object_get(o, "log");
      if (!json_is_number(mean) || !json_is_number(std) || !json_is_boolean(lg))
        return BAD("numeric field '%s' lacks its scaler", name);
      fd->mean = json_number_value(mean);
      fd->std = json_number_value(std);
      fd->log = json_is_true(lg);
      if (!isfinite(fd->mean) || !isfinite(fd->std) || !(fd->std > 0))
        return BAD("numeric field '%s' has a bad scaler", name);
    } else {
      return BAD("field '%s' has unknown kind", name);
    }
  }
  json_t *rec = json_object_get(meta, "record");
  if (!json_is_object(rec)) return BAD("no training record");
  json_t *tl = json_object_get(rec, "train_loss"), *vl = json_object_get(rec, "val_loss");
  if (!json_is_array(tl) || !json_is_array(vl) || json_array_size(tl) != json_array_size(vl) ||
      json_array_size(tl) > 1000000)
    return BAD("bad loss history");
  m->n_hist = (int)json_array_size(tl);
  if (load_losses(tl, &m->train_loss, m->n_hist, err) || load_losses(vl, &m->val_loss, m->n_hist, err))
    return err->code;
  json_t *x;
  m->n_windows = json_integer_value(json_object_get(rec, "n_windows"));
  m->n_train = json_integer_value(json_object_get(rec, "n_train"));
  m->n_val = json_integer_value(json_object_get(rec, "n_val"));
  m->epochs_run = (int)json_integer_value(json_object_get(rec, "epochs_run"));
  m->best_epoch = (int)json_integer_value(json_object_get(rec, "best_epoch"));
  m->updates = (int)json_integer_value(json_object_get(rec, "updates"));
  const char *seed = json_string_value(json_object_get(rec, "seed"));
  m->seed = seed ? strtoull(seed, NULL, 10) : 0;
  x = json_object_get(rec, "threshold");
  m->threshold = json_is_number(x) ? json_number_value(x) : NAN;
  x = json_object_get(rec, "options");
  m->options = json_is_object(x) ? json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  return 0;
}

int fg_model_load(const unsigned char *blob, size_t len, fg_model **out, fg_err *err) {
  *out = NULL;
  if (!blob || len < 28) return BAD("%zu bytes is too short", blob ? len : 0);
  if (memcmp(blob, FG_MODEL_MAGIC "\0", 8) != 0) return BAD("wrong magic (is this a model BLOB?)");
  uint32_t format = get_u32(blob + 8);
  if (format != FG_MODEL_FORMAT)
    return BAD("format version %u, this build reads version %d", format, FG_MODEL_FORMAT);
  uint64_t total = get_u64(blob + 16);
  if (total != len) return BAD("length field says %llu bytes, BLOB has %zu (truncated?)",
                               (unsigned long long)total, len);
  uint32_t crc = (uint32_t)crc32(0L, blob + 16, (uInt)(len - 16));
  if (crc != get_u32(blob + 12)) return BAD("checksum mismatch (corrupted)");
  const unsigned char *p = blob + 24, *end = blob + len;
  uint32_t mlen = get_u32(p);
  p += 4;
  if (mlen > (size_t)(end - p)) return BAD("metadata length %u exceeds the BLOB", mlen);
  json_error_t jerr;
  json_t *meta = json_loadb((const char *)p, mlen, 0, &jerr);
  if (!meta) return BAD("metadata JSON: %s", jerr.text);
  p += mlen;
  fg_model *m = calloc(1, sizeof *m);
  if (!m) {
    json_decref(meta);
    return fg_errf(err, FG_ENOMEM, "out of memory");
  }
  int rc = load_meta(m, meta, err);
  json_decref(meta);
  if (rc) goto fail;
  for (int f = 0; f < m->z.F; f++) {
    fz_field *fd = &m->z.f[f];
    if (fd->kind != FZ_CAT) continue;
    if (end - p < 4) { rc = BAD("vocabulary of '%s' truncated", fd->name); goto fail; }
    uint32_t k = get_u32(p);
    p += 4;
    if (k > 1000000 - 1 || (size_t)k * 4 > (size_t)(end - p)) {
      rc = BAD("vocabulary of '%s' claims %u values", fd->name, k);
      goto fail;
    }
    for (uint32_t i = 0; i < k; i++) {
      if (end - p < 4) { rc = BAD("vocabulary of '%s' truncated", fd->name); goto fail; }
      uint32_t kl = get_u32(p);
      p += 4;
      if (kl < 1 || kl > (size_t)(end - p) || (p[0] != 's' && p[0] != 'n') || (p[0] == 'n' && kl != 1)) {
        rc = BAD("vocabulary entry %u of '%s' is malformed", i + 1, fd->name);
        goto fail;
      }
      int added;
      if (strmap_add(&fd->vocab, (const char *)p, kl, &added) < 0) {
        rc = fg_errf(err, FG_ENOMEM, "out of memory");
        goto fail;
      }
      if (!added) { rc = BAD("vocabulary of '%s' repeats a value", fd->name); goto fail; }
      p += kl;
    }
  }
  fz_shape(&m->z, &m->s);
  if (ae_shape_check(&m->s, err)) { rc = fg_err_prefix(err, "not a valid fnguard model"); err->code = rc = FG_ECORRUPT; goto fail; }
  if (end - p < 8) { rc = BAD("parameter block missing"); goto fail; }
  uint64_t np = get_u64(p);
  p += 8;
  m->n_params = ae_param_count(&m->s);
  if (np != m->n_params) {
    rc = BAD("%llu parameters, the dimensions need %zu", (unsigned long long)np, m->n_params);
    goto fail;
  }
  if ((size_t)(end - p) != np * 4) { rc = BAD("parameter block has %zu bytes, expected %zu", (size_t)(end - p), (size_t)np * 4); goto fail; }
  m->params = malloc(m->n_params * sizeof(float) + 1);
  if (!m->params) { rc = fg_errf(err, FG_ENOMEM, "out of memory"); goto fail; }
  for (size_t i = 0; i < m->n_params; i++) {
    uint32_t u = get_u32(p + 4 * i);
    memcpy(&m->params[i], &u, 4);
    if (!isfinite(m->params[i])) { rc = BAD("parameter %zu is not finite", i); goto fail; }
  }
  m->checksum = crc;
  *out = m;
  return 0;
fail:
  fg_model_free(m);
  return rc ? rc : FG_ECORRUPT;
}

/* --- info --------------------------------------------------------------------------------- */

char *fg_model_info(const fg_model *m) {
  json_t *fields = json_array(), *vocab = json_object();
  for (int f = 0; f < m->z.F; f++) {
    const fz_field *fd = &m->z.f[f];
    json_array_append_new(fields, json_string(fd->name));
    if (fd->kind == FZ_CAT) json_object_set_new(vocab, fd->name, json_integer(fd->vocab.n));
  }
  json_t *scalers = json_object();
  for (int f = 0; f < m->z.F; f++) {
    const fz_field *fd = &m->z.f[f];
    if (fd->kind == FZ_NUM)
      json_object_set_new(scalers, fd->name,
                          json_pack("{s:b, s:f, s:f}", "log", fd->log, "mean", fd->mean, "std", fd->std));
  }
  json_t *opts = m->options ? json_loads(m->options, 0, NULL) : NULL;
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->seed);
  json_t *o = json_pack(
      "{s:i, s:i, s:o, s:i, s:i, s:i, s:i, s:I, s:o, s:o, s:I, s:I, s:I, s:i, s:i, s:o, s:o, s:s, "
      "s:i, s:o, s:o}",
      "version", FG_MODEL_FORMAT, "window", m->s.T, "fields", fields, "input_dim",
      ae_input_width(&m->s), "output_dim", ae_output_width(&m->s), "hidden", m->s.H, "layers",
      m->s.L, "params", (json_int_t)m->n_params, "vocab", vocab, "scalers", scalers, "n_windows",
      (json_int_t)m->n_windows, "n_train", (json_int_t)m->n_train, "n_val", (json_int_t)m->n_val,
      "epochs_run", m->epochs_run, "best_epoch", m->best_epoch, "train_loss",
      loss_array(m->train_loss, m->n_hist), "val_loss", loss_array(m->val_loss, m->n_hist), "seed",
      seed, "updates", m->updates, "threshold",
      isfinite(m->threshold) ? json_real(m->threshold) : json_null(), "options",
      opts ? opts : json_object());
  if (!o) return NULL;
  json_object_set_new(o, "embed", json_integer(m->s.E));
  char checksum[16];
  snprintf(checksum, sizeof checksum, "%08x", m->checksum);
  json_object_set_new(o, "checksum", json_string(checksum));
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
  json_decref(o);
  return s;
}
