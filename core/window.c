/* window.c — parse and write the window JSON format (see window.h). */
#include "window.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fg_window_init(fg_window *w) { memset(w, 0, sizeof *w); }

void fg_window_free(fg_window *w) {
  free(w->vals);
  free(w->str);
  memset(w, 0, sizeof *w);
}

typedef struct parser {
  const char *p, *end, *start;
  fg_window *w;
  fg_err *err;
} parser;

static int fail(parser *ps, const char *what) {
  return fg_errf(ps->err, FG_EINVAL, "malformed window: %s at offset %ld", what,
                 (long)(ps->p - ps->start));
}

static void ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static int expect(parser *ps, char c) {
  ws(ps);
  if (ps->p >= ps->end || *ps->p != c) {
    char what[32];
    snprintf(what, sizeof what, "expected '%c'", c);
    return fail(ps, what);
  }
  ps->p++;
  return 0;
}

static int str_reserve(fg_window *w, size_t extra) {
  if (w->str_len + extra <= w->str_cap) return 0;
  size_t nc = w->str_cap ? w->str_cap : 256;
  while (nc < w->str_len + extra) nc *= 2;
  char *s = realloc(w->str, nc);
  if (!s) return FG_ENOMEM;
  w->str = s;
  w->str_cap = nc;
  return 0;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Parses a JSON string at ps->p (which is at '"') into w->str; off and len receive its place. */
static int parse_string(parser *ps, size_t *off, uint32_t *len) {
  fg_window *w = ps->w;
  const char *open = ps->p;
  ps->p++; /* opening quote */
  const char *q = ps->p;
  /* Decoded length never exceeds the encoded length. */
  while (q < ps->end && *q != '"') q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
  if (q >= ps->end) {
    ps->p = open;
    return fail(ps, "unterminated string");
  }
  if (str_reserve(w, (size_t)(q - ps->p) + 1)) return fg_errf(ps->err, FG_ENOMEM, "out of memory");
  char *o = w->str + w->str_len;
  char *o0 = o;
  while (ps->p < q) {
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20) return fail(ps, "control character in string");
    if (c != '\\') {
      *o++ = (char)c;
      ps->p++;
      continue;
    }
    ps->p++;
    char e = *ps->p++;
    switch (e) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        unsigned cp;
        if (q - ps->p < 4 || hex4(ps->p, &cp)) return fail(ps, "bad \\u escape");
        ps->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* surrogate pair */
          unsigned lo;
          if (q - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || hex4(ps->p + 2, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF)
            return fail(ps, "unpaired surrogate in \\u escape");
          ps->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail(ps, "unpaired surrogate in \\u escape");
        }
        /* UTF-8 of cp takes at most as many bytes as its escape (6 or 12). */
        if (cp < 0x80) *o++ = (char)cp;
        else if (cp < 0x800) { *o++ = (char)(0xC0 | (cp >> 6)); *o++ = (char)(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
          *o++ = (char)(0xE0 | (cp >> 12));
          *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
          *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
          *o++ = (char)(0xF0 | (cp >> 18));
          *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
          *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
          *o++ = (char)(0x80 | (cp & 0x3F));
        }
        break;
      }
      default: ps->p--; return fail(ps, "bad escape in string");
    }
  }
  ps->p = q + 1;
  *o = 0;
  *off = w->str_len;
  *len = (uint32_t)(o - o0);
  w->str_len += (size_t)(o - o0) + 1;
  return 0;
}

static int parse_number(parser *ps, double *out) {
  /* Validate the JSON number grammar, then let strtod convert (it accepts more than JSON). */
  const char *s = ps->p, *q = s;
  if (q < ps->end && *q == '-') q++;
  if (q >= ps->end || !(*q >= '0' && *q <= '9')) return fail(ps, "bad number");
  if (*q == '0') q++;
  else while (q < ps->end && *q >= '0' && *q <= '9') q++;
  if (q < ps->end && *q == '.') {
    q++;
    if (q >= ps->end || !(*q >= '0' && *q <= '9')) return fail(ps, "bad number");
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < ps->end && (*q == '+' || *q == '-')) q++;
    if (q >= ps->end || !(*q >= '0' && *q <= '9')) return fail(ps, "bad number");
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  char tmp[64];
  size_t n = (size_t)(q - s);
  if (n >= sizeof tmp) {
    /* Longer than any double needs to be exact; still convert, via a heap copy. */
    char *h = malloc(n + 1);
    if (!h) return fg_errf(ps->err, FG_ENOMEM, "out of memory");
    memcpy(h, s, n);
    h[n] = 0;
    *out = strtod(h, NULL);
    free(h);
  } else {
    memcpy(tmp, s, n);
    tmp[n] = 0;
    *out = strtod(tmp, NULL);
  }
  ps->p = q;
  return 0;
}

static int lit(parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return fail(ps, "bad literal");
  ps->p += n;
  return 0;
}

/* Skips any JSON value (for keys we ignore). */
static int skip_value(parser *ps, int depth) {
  ws(ps);
  if (depth > 64) return fail(ps, "nesting too deep");
  if (ps->p >= ps->end) return fail(ps, "unexpected end");
  char c = *ps->p;
  if (c == '"') {
    size_t off;
    uint32_t len;
    size_t keep = ps->w->str_len;
    int rc = parse_string(ps, &off, &len);
    ps->w->str_len = keep; /* discard the decoded text */
    return rc;
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    ps->p++;
    ws(ps);
    if (ps->p < ps->end && *ps->p == close) { ps->p++; return 0; }
    for (;;) {
      if (c == '{') {
        ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a key");
        if (skip_value(ps, depth + 1) || expect(ps, ':')) return ps->err->code;
      }
      if (skip_value(ps, depth + 1)) return ps->err->code;
      ws(ps);
      if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
      return expect(ps, close);
    }
  }
  if (c == 't') return lit(ps, "true");
  if (c == 'f') return lit(ps, "false");
  if (c == 'n') return lit(ps, "null");
  double d;
  return parse_number(ps, &d);
}

static int parse_fields(parser *ps) {
  fg_window *w = ps->w;
  if (expect(ps, '[')) return ps->err->code;
  ws(ps);
  if (ps->p < ps->end && *ps->p == ']') return fail(ps, "\"fields\" is empty");
  for (;;) {
    ws(ps);
    if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "field names must be strings");
    if (w->n_fields == FG_WINDOW_MAX_FIELDS)
      return fg_errf(ps->err, FG_EINVAL, "window has more than %d fields", FG_WINDOW_MAX_FIELDS);
    int f = w->n_fields;
    if (parse_string(ps, &w->field_off[f], &w->field_len[f])) return ps->err->code;
    if (w->field_len[f] == 0) return fail(ps, "empty field name");
    for (int g = 0; g < f; g++)
      if (w->field_len[g] == w->field_len[f] &&
          memcmp(w->str + w->field_off[g], w->str + w->field_off[f], w->field_len[f]) == 0)
        return fg_errf(ps->err, FG_EINVAL, "window names field '%s' twice", w->str + w->field_off[f]);
    w->n_fields++;
    ws(ps);
    if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
    return expect(ps, ']');
  }
}

/* Steps are parsed before we may know the field count ("steps" can come first): values go to
** w->vals with a per-step count checked once both keys are read. */
static int parse_steps(parser *ps, int *counts_ok_width) {
  fg_window *w = ps->w;
  if (expect(ps, '[')) return ps->err->code;
  ws(ps);
  if (ps->p < ps->end && *ps->p == ']') { ps->p++; return fail(ps, "\"steps\" is empty"); }
  size_t nv = 0;
  int width = -1;
  for (;;) {
    if (w->n_steps == FG_WINDOW_MAX_STEPS)
      return fg_errf(ps->err, FG_EINVAL, "window has more than %d steps", FG_WINDOW_MAX_STEPS);
    if (expect(ps, '[')) return ps->err->code;
    int k = 0;
    ws(ps);
    if (ps->p < ps->end && *ps->p == ']') return fail(ps, "empty step");
    for (;;) {
      if (nv == w->vals_cap) {
        size_t nc = w->vals_cap ? w->vals_cap * 2 : 256;
        fg_val *v = realloc(w->vals, nc * sizeof *v);
        if (!v) return fg_errf(ps->err, FG_ENOMEM, "out of memory");
        w->vals = v;
        w->vals_cap = nc;
      }
      fg_val *v = &w->vals[nv];
      memset(v, 0, sizeof *v);
      ws(ps);
      if (ps->p >= ps->end) return fail(ps, "unexpected end");
      char c = *ps->p;
      if (c == '"') {
        v->kind = FG_V_STR;
        if (parse_string(ps, &v->off, &v->len)) return ps->err->code;
      } else if (c == 'n') {
        if (lit(ps, "null")) return ps->err->code;
      } else if (c == 't' || c == 'f') {
        if (lit(ps, c == 't' ? "true" : "false")) return ps->err->code;
        v->kind = FG_V_NUM;
        v->num = c == 't';
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        v->kind = FG_V_NUM;
        if (parse_number(ps, &v->num)) return ps->err->code;
        if (!isfinite(v->num))
          return fg_errf(ps->err, FG_EINVAL,
                         "window step %d value %d is not a finite number", w->n_steps + 1, k + 1);
      } else {
        return fail(ps, "values must be strings, numbers or null");
      }
      nv++;
      k++;
      ws(ps);
      if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
      if (expect(ps, ']')) return ps->err->code;
      break;
    }
    if (width < 0) width = k;
    else if (k != width)
      return fg_errf(ps->err, FG_EINVAL, "window step %d has %d values, step 1 has %d",
                     w->n_steps + 1, k, width);
    w->n_steps++;
    ws(ps);
    if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
    if (expect(ps, ']')) return ps->err->code;
    *counts_ok_width = width;
    return 0;
  }
}

int fg_window_parse(fg_window *w, const char *json, size_t len, fg_err *err) {
  w->n_fields = 0;
  w->n_steps = 0;
  w->str_len = 0;
  if (!json) return fg_errf(err, FG_EINVAL, "window is NULL");
  parser ps = {json, json + len, json, w, err};
  int have_fields = 0, have_steps = 0, width = 0;
  if (expect(&ps, '{')) return err->code;
  ws(&ps);
  if (ps.p < ps.end && *ps.p == '}') ps.p++;
  else for (;;) {
    ws(&ps);
    if (ps.p >= ps.end || *ps.p != '"') return fail(&ps, "expected a key");
    size_t koff;
    uint32_t klen;
    size_t keep = w->str_len;
    if (parse_string(&ps, &koff, &klen)) return err->code;
    int is_fields = klen == 6 && memcmp(w->str + koff, "fields", 6) == 0;
    int is_steps = klen == 5 && memcmp(w->str + koff, "steps", 5) == 0;
    w->str_len = keep;
    if (expect(&ps, ':')) return err->code;
    if (is_fields) {
      if (have_fields) return fail(&ps, "duplicate key \"fields\"");
      if (parse_fields(&ps)) return err->code;
      have_fields = 1;
    } else if (is_steps) {
      if (have_steps) return fail(&ps, "duplicate key \"steps\"");
      if (parse_steps(&ps, &width)) return err->code;
      have_steps = 1;
    } else if (skip_value(&ps, 0)) {
      return err->code;
    }
    ws(&ps);
    if (ps.p < ps.end && *ps.p == ',') { ps.p++; continue; }
    if (expect(&ps, '}')) return err->code;
    break;
  }
  ws(&ps);
  if (ps.p != ps.end) return fail(&ps, "trailing characters");
  if (!have_fields) return fg_errf(err, FG_EINVAL, "malformed window: no \"fields\" key");
  if (!have_steps) return fg_errf(err, FG_EINVAL, "malformed window: no \"steps\" key");
  if (width != w->n_fields)
    return fg_errf(err, FG_EINVAL, "window steps have %d values but there are %d fields", width,
                   w->n_fields);
  return 0;
}

void fg_window_fields_str(const fg_window *w, char *out, size_t cap) {
  size_t n = 0;
  out[0] = 0;
  for (int f = 0; f < w->n_fields && n + 1 < cap; f++)
    n += (size_t)snprintf(out + n, cap - n, "%s%s", f ? "," : "", fg_window_field(w, f));
}

/* --- writing ------------------------------------------------------------------------------ */

int fg_buf_grow(fg_buf *b, size_t extra) {
  if (b->len + extra <= b->cap) return 0;
  size_t nc = b->cap ? b->cap : 256;
  while (nc < b->len + extra) nc *= 2;
  char *p = realloc(b->p, nc);
  if (!p) return FG_ENOMEM;
  b->p = p;
  b->cap = nc;
  return 0;
}

int fg_buf_put(fg_buf *b, const char *s, size_t n) {
  if (fg_buf_grow(b, n + 1)) return FG_ENOMEM;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
  return 0;
}

int fg_buf_json_str(fg_buf *b, const char *s, size_t n) {
  /* Worst case every byte becomes \u00XX (6 bytes). */
  if (fg_buf_grow(b, 6 * n + 3)) return FG_ENOMEM;
  static const char hex[] = "0123456789abcdef";
  char *o = b->p + b->len;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': *o++ = '\\'; *o++ = '"'; break;
      case '\\': *o++ = '\\'; *o++ = '\\'; break;
      case '\n': *o++ = '\\'; *o++ = 'n'; break;
      case '\r': *o++ = '\\'; *o++ = 'r'; break;
      case '\t': *o++ = '\\'; *o++ = 't'; break;
      default:
        if (c < 0x20) {
          *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
          *o++ = hex[c >> 4]; *o++ = hex[c & 15];
        } else {
          *o++ = (char)c;
        }
    }
  }
  *o++ = '"';
  *o = 0;
  b->len = (size_t)(o - b->p);
  return 0;
}

int fg_buf_json_num(fg_buf *b, double x) {
  char tmp[40];
  int n;
  if (!isfinite(x)) n = snprintf(tmp, sizeof tmp, "null");
  else if (x == (double)(long long)x && fabs(x) < 1e15) n = snprintf(tmp, sizeof tmp, "%lld", (long long)x);
  else {
    /* Shortest of %.15g / %.17g that reads back exactly. */
    n = snprintf(tmp, sizeof tmp, "%.15g", x);
    if (strtod(tmp, NULL) != x) n = snprintf(tmp, sizeof tmp, "%.17g", x);
  }
  return fg_buf_put(b, tmp, (size_t)n);
}
