/* jscan.c — validating JSON scanner and streaming document reader (see jscan.h). */
#include "jscan.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The window ran out at `at`: more input may complete the value, or it is truncated. */
static int more_or_err(jscan *s, const char *at) {
  if (!s->eof) return JS_MORE;
  s->err_at = at;
  s->err_msg = "unexpected end of input";
  return JS_ERR;
}

static int fail(jscan *s, const char *at, const char *msg) {
  if (at >= s->end) return more_or_err(s, at); /* the sentinel NUL, not a NUL in the input */
  s->err_at = at;
  s->err_msg = msg;
  return JS_ERR;
}

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

static inline int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* p is just after the opening quote. On success *close is the closing quote. The loop stops at
** the window's NUL sentinel like at any control character, so it needs no bounds check. */
static int scan_string(jscan *s, const char *p, const char **close, int *esc) {
  int e = 0;
  for (;;) {
    unsigned char c;
    while ((c = (unsigned char)*p) != '"' && c != '\\' && c >= 0x20) p++;
    if (c == '"') {
      *close = p;
      *esc = e;
      return JS_OK;
    }
    if (c == '\\') {
      e = 1;
      switch (p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          p += 2;
          break;
        case 'u':
          for (int i = 2; i < 6; i++) {
            if (hexval(p[i]) < 0) return fail(s, p + i, "invalid \\u escape in string");
          }
          p += 6;
          break;
        default:
          return fail(s, p + 1, "invalid escape in string");
      }
      continue;
    }
    return fail(s, p, c == '\n' ? "unexpected newline in string" : "control character in string");
  }
}

static int scan_number(jscan *s, const char *p, const char **out) {
  if (*p == '-') p++;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    while (is_digit(*p)) p++;
  } else {
    return fail(s, p, "invalid number");
  }
  if (*p == '.') {
    p++;
    if (!is_digit(*p)) return fail(s, p, "invalid number: digit expected after '.'");
    while (is_digit(*p)) p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!is_digit(*p)) return fail(s, p, "invalid number: digit expected in exponent");
    while (is_digit(*p)) p++;
  }
  if (p >= s->end && !s->eof) return JS_MORE; /* more digits may follow */
  *out = p;
  return JS_OK;
}

static int scan_literal(jscan *s, const char *p, const char *lit, size_t n, const char **out) {
  size_t avail = (size_t)(s->end - p);
  if (avail < n) {
    if (memcmp(p, lit, avail) == 0) return more_or_err(s, s->end);
    return fail(s, p, "invalid token");
  }
  if (memcmp(p, lit, n) != 0) return fail(s, p, "invalid token");
  *out = p + n;
  return JS_OK;
}

/* An object or array at p, iteratively (no recursion on hostile nesting). *ws is set to 1 if any
** whitespace was skipped inside. */
static int scan_container(jscan *s, const char *p, const char **out, int *ws) {
  char stack[JS_MAX_DEPTH]; /* '{' or '[' per open level */
  int depth = 0, sawws = 0, rc, esc;
  const char *q, *close;
#define SKIPWS()     \
  do {               \
    q = js_ws(p);    \
    sawws |= q != p; \
    p = q;           \
  } while (0)
open:
  if (depth == JS_MAX_DEPTH) return fail(s, p, "nesting too deep");
  stack[depth++] = *p++;
  SKIPWS();
  if (stack[depth - 1] == '{') {
    if (*p == '}') {
      p++;
      goto closed;
    }
  } else {
    if (*p == ']') {
      p++;
      goto closed;
    }
    goto value;
  }
key:
  if (*p != '"') return fail(s, p, "expected a string (object key)");
  if ((rc = scan_string(s, p + 1, &close, &esc)) != JS_OK) return rc;
  p = close + 1;
  SKIPWS();
  if (*p != ':') return fail(s, p, "expected ':' after object key");
  p++;
  SKIPWS();
value:
  switch (*p) {
    case '{':
    case '[':
      goto open;
    case '"':
      if ((rc = scan_string(s, p + 1, &close, &esc)) != JS_OK) return rc;
      p = close + 1;
      break;
    case 't':
      rc = scan_literal(s, p, "true", 4, &p);
      break;
    case 'f':
      rc = scan_literal(s, p, "false", 5, &p);
      break;
    case 'n':
      rc = scan_literal(s, p, "null", 4, &p);
      break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      rc = scan_number(s, p, &p);
      break;
    default:
      return fail(s, p, "expected a value");
  }
  if (rc != JS_OK) return rc;
after:
  SKIPWS();
  if (*p == ',') {
    p++;
    SKIPWS();
    if (stack[depth - 1] == '{') goto key;
    goto value;
  }
  if (*p == (stack[depth - 1] == '{' ? '}' : ']')) {
    p++;
    goto closed;
  }
  return fail(s, p,
              stack[depth - 1] == '{' ? "expected ',' or '}' after object member"
                                      : "expected ',' or ']' after array element");
closed:
  if (--depth > 0) goto after;
  *out = p;
  *ws = sawws;
  return JS_OK;
#undef SKIPWS
}

int js_string(jscan *s, jval *v) {
  const char *close;
  int esc;
  int rc = scan_string(s, s->p + 1, &close, &esc);
  if (rc != JS_OK) return rc;
  v->s = s->p + 1;
  v->n = (size_t)(close - v->s);
  v->type = JV_STR;
  v->flag = (uint8_t)esc;
  s->p = close + 1;
  return JS_OK;
}

int js_value(jscan *s, jval *v) {
  const char *p = s->p, *end = p;
  int rc, ws = 0;
  uint8_t type;
  switch (*p) {
    case '"':
      return js_string(s, v);
    case '{':
      type = JV_OBJ;
      rc = scan_container(s, p, &end, &ws);
      break;
    case '[':
      type = JV_ARR;
      rc = scan_container(s, p, &end, &ws);
      break;
    case 't':
      type = JV_TRUE;
      rc = scan_literal(s, p, "true", 4, &end);
      break;
    case 'f':
      type = JV_FALSE;
      rc = scan_literal(s, p, "false", 5, &end);
      break;
    case 'n':
      type = JV_NULL;
      rc = scan_literal(s, p, "null", 4, &end);
      break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      type = JV_NUM;
      rc = scan_number(s, p, &end);
      break;
    default:
      return fail(s, p, "expected a value");
  }
  if (rc != JS_OK) return rc;
  v->s = p;
  v->n = (size_t)(end - p);
  v->type = type;
  v->flag = (uint8_t)ws;
  s->p = end;
  return JS_OK;
}

int js_member(jscan *s, int *first, jval *key, int *done) {
  const char *p = js_ws(s->p);
  if (*first) {
    *first = 0;
  } else if (*p == ',') {
    p = js_ws(p + 1);
  } else if (*p != '}') {
    return fail(s, p, "expected ',' or '}' after object member");
  }
  if (*p == '}') {
    s->p = p + 1;
    *done = 1;
    return JS_OK;
  }
  if (*p != '"') return fail(s, p, "expected a string (object key)");
  s->p = p;
  int rc = js_string(s, key);
  if (rc != JS_OK) return rc;
  p = js_ws(s->p);
  if (*p != ':') return fail(s, p, "expected ':' after object key");
  p = js_ws(p + 1);
  if (p >= s->end) return more_or_err(s, p);
  s->p = p;
  *done = 0;
  return JS_OK;
}

/* ---- conversions --------------------------------------------------------------------------- */

static size_t put_utf8(unsigned cp, char *o) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static unsigned hex4(const char *p) {
  return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

size_t js_unescape(const jval *v, char *out) {
  if (!v->flag) {
    memcpy(out, v->s, v->n);
    return v->n;
  }
  const char *p = v->s, *end = v->s + v->n;
  char *o = out;
  while (p < end) {
    const char *bs = memchr(p, '\\', (size_t)(end - p));
    if (!bs) {
      memcpy(o, p, (size_t)(end - p));
      o += end - p;
      break;
    }
    memcpy(o, p, (size_t)(bs - p));
    o += bs - p;
    p = bs + 2; /* the scanner validated every escape */
    switch (bs[1]) {
      case 'b':
        *o++ = '\b';
        break;
      case 'f':
        *o++ = '\f';
        break;
      case 'n':
        *o++ = '\n';
        break;
      case 'r':
        *o++ = '\r';
        break;
      case 't':
        *o++ = '\t';
        break;
      case 'u': {
        unsigned cp = hex4(p);
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          unsigned lo = hex4(p + 2);
          if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
          }
        }
        if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD; /* lone surrogate */
        o += put_utf8(cp, o);
        break;
      }
      default:
        *o++ = bs[1];
        break; /* " \ / */
    }
  }
  return (size_t)(o - out);
}

size_t js_minify(const jval *v, char *out) {
  if (!v->flag || (v->type != JV_OBJ && v->type != JV_ARR)) {
    memcpy(out, v->s, v->n);
    return v->n;
  }
  const char *p = v->s, *end = v->s + v->n;
  char *o = out;
  while (p < end) {
    char c = *p++;
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    *o++ = c;
    if (c == '"') {
      while (p < end) {
        c = *p++;
        *o++ = c;
        if (c == '\\') {
          *o++ = *p++;
        } else if (c == '"') {
          break;
        }
      }
    }
  }
  return (size_t)(o - out);
}

int js_int64(const jval *v, int64_t *out) {
  const char *p = v->s, *end = v->s + v->n;
  int neg = 0;
  if (p < end && *p == '-') {
    neg = 1;
    p++;
  }
  if (p == end) return 0;
  uint64_t x = 0;
  for (; p < end; p++) {
    if (!is_digit(*p)) return 0;
    unsigned d = (unsigned)(*p - '0');
    if (x > (UINT64_MAX - d) / 10) return 0;
    x = x * 10 + d;
  }
  if (neg) {
    if (x > (uint64_t)INT64_MAX + 1) return 0;
    *out = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
  } else {
    if (x > (uint64_t)INT64_MAX) return 0;
    *out = (int64_t)x;
  }
  return 1;
}

double js_double(const jval *v) {
  char small[64];
  char *b = v->n < sizeof small ? small : malloc(v->n + 1);
  if (!b) return 0;
  memcpy(b, v->s, v->n);
  b[v->n] = 0;
  /* strtod() reads the locale's decimal point; JSON's is always '.'. */
  const char *dp = localeconv()->decimal_point;
  if (dp && dp[0] && dp[0] != '.' && !dp[1]) {
    char *dot = strchr(b, '.');
    if (dot) *dot = dp[0];
  }
  double d = strtod(b, NULL);
  if (b != small) free(b);
  return d;
}

/* ---- streaming documents ------------------------------------------------------------------- */

enum {
  ST_TOP,       /* before a top-level value */
  ST_ARR_OPEN,  /* just inside a streamed array's '[' */
  ST_ARR_AFTER, /* after an element of a streamed array */
  ST_ENV_REST,  /* after the streamed array of an envelope: its remaining members, then '}' */
};

static int default_parse(void *ctx, jscan *s, jval *v) {
  (void)ctx;
  return js_value(s, v);
}

void jdoc_init(jdoc *d, lr_buf *b, const char *const *keys, jdoc_parse_fn parse, void *ctx) {
  memset(d, 0, sizeof *d);
  d->b = b;
  d->keys = keys;
  d->parse = parse ? parse : default_parse;
  d->ctx = ctx;
  d->state = ST_TOP;
  d->key = -1;
}

static int match_key(const jdoc *d, const jval *k) {
  for (int i = 0; d->keys && d->keys[i]; i++) {
    if (js_eq(k, d->keys[i], strlen(d->keys[i]))) return i;
  }
  return -1;
}

/* Formats a syntax error and decides whether jdoc_resync() may go on after it. */
static int syntax_error(jdoc *d, const jscan *s, fg_err *err) {
  lr_buf *b = d->b;
  size_t off = (size_t)(s->err_at - b->buf);
  int at_end = s->err_at >= s->end;
  if (!at_end && off + 20 > b->len && !b->eof) {
    fg_err ignored; /* read a little more, so the "near" text does not depend on the window */
    lr_buf_fill(b, 0, &ignored);
  }
  long long line, col;
  lr_buf_where(b, off, &line, &col);
  char near[32];
  size_t n = 0;
  const char *p = b->buf + off, *end = at_end ? p : b->buf + b->len;
  while (n < 20 && p + n < end && p[n] != '\n' && p[n] != '\r') n++;
  while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80) n--; /* whole UTF-8 chars */
  for (size_t i = 0; i < n; i++) near[i] = (unsigned char)p[i] < 0x20 ? '?' : p[i];
  near[n] = 0;
  if (n == 0) {
    fg_errf(err, FG_ECORRUPT, "%s:%lld:%lld: %s", b->name, line, col, s->err_msg);
  } else {
    fg_errf(err, FG_ECORRUPT, "%s:%lld:%lld: %s near '%s'", b->name, line, col, s->err_msg, near);
  }
  d->resync_ok = 0;
  if (d->state == ST_TOP && !at_end) {
    long long tline, tcol;
    lr_buf_where(b, d->top, &tline, &tcol);
    if (tline == line) {
      d->resync_ok = 1;
      d->resync_at = off;
    }
  }
  return -FG_ECORRUPT;
}

int jdoc_next(jdoc *d, jval *v, int *where, fg_err *err) {
  lr_buf *b = d->b;
  for (;;) {
    jscan s = {b->buf + b->pos, b->buf + b->len, b->eof, NULL, NULL};
    size_t keep = b->pos; /* what a refill must keep: the start of this step */
    const char *p = js_ws(s.p);
    jval k;
    int rc;
    switch (d->state) {
      case ST_TOP:
        if (!d->started) { /* skip a UTF-8 byte-order mark */
          if (b->len - b->pos < 3 && !b->eof) {
            rc = JS_MORE;
            break;
          }
          d->started = 1;
          if (b->len - b->pos >= 3 && memcmp(s.p, "\xEF\xBB\xBF", 3) == 0) {
            b->pos += 3;
            continue;
          }
        }
        b->pos = (size_t)(p - b->buf);
        keep = d->top = b->pos;
        if (p >= s.end) {
          if (b->eof) return 0;
          rc = JS_MORE;
          break;
        }
        if (*p == '[') {
          d->state = ST_ARR_OPEN;
          d->key = -1;
          b->pos++;
          continue;
        }
        if (*p != '{') {
          s.err_at = p;
          s.err_msg = "expected '{' or '[' (a JSON object or array)";
          rc = JS_ERR;
          break;
        }
        /* An envelope if the first key is one of ours and its value an array. */
        s.p = js_ws(p + 1);
        if (*s.p == '"') {
          rc = js_string(&s, &k);
          if (rc != JS_OK) break;
          const char *q = js_ws(s.p);
          if (*q == ':') q = js_ws(q + 1);
          if (q >= s.end && !s.eof) {
            rc = JS_MORE;
            break;
          }
          int ki = *q == '[' ? match_key(d, &k) : -1;
          if (ki >= 0) {
            d->state = ST_ARR_OPEN;
            d->key = ki;
            b->pos = (size_t)(q + 1 - b->buf);
            continue;
          }
        } else if (s.p >= s.end && !s.eof) {
          rc = JS_MORE;
          break;
        }
        s.p = p;
        rc = d->parse(d->ctx, &s, v);
        if (rc != JS_OK) break;
        b->pos = (size_t)(s.p - b->buf);
        *where = JD_TOP;
        return 1;

      case ST_ARR_OPEN:
      case ST_ARR_AFTER:
        if (d->state == ST_ARR_AFTER && *p == ',') {
          p = js_ws(p + 1);
        } else if (*p == ']') {
          b->pos = (size_t)(p + 1 - b->buf);
          d->state = d->key >= 0 ? ST_ENV_REST : ST_TOP;
          continue;
        } else if (d->state == ST_ARR_AFTER) {
          rc = fail(&s, p, "expected ',' or ']' after array element");
          break;
        }
        if (p >= s.end) {
          rc = more_or_err(&s, p);
          break;
        }
        s.p = p;
        rc = d->parse(d->ctx, &s, v);
        if (rc != JS_OK) break;
        b->pos = (size_t)(s.p - b->buf);
        d->state = ST_ARR_AFTER;
        *where = JD_ELEM;
        return 1;

      case ST_ENV_REST:
        if (*p == '}') {
          b->pos = (size_t)(p + 1 - b->buf);
          d->state = ST_TOP;
          continue;
        }
        if (*p != ',') {
          rc = fail(&s, p, "expected ',' or '}' after object member");
          break;
        }
        {
          int first = 0, done = 0;
          s.p = p;
          rc = js_member(&s, &first, &k, &done);
          if (rc == JS_OK) rc = js_value(&s, v);
          if (rc != JS_OK) break;
          b->pos = (size_t)(s.p - b->buf);
          continue;
        }
      default:
        return -fg_errf(err, FG_EINVAL, "%s: bad reader state", b->name);
    }
    if (rc == JS_MORE) {
      size_t top_was = d->top;
      int frc = lr_buf_fill(b, keep, err);
      if (frc) return -frc;
      d->top = top_was >= keep ? top_was - keep : 0;
      continue;
    }
    return syntax_error(d, &s, err);
  }
}

int jdoc_resync(jdoc *d) {
  lr_buf *b = d->b;
  if (!d->resync_ok) return 0;
  d->resync_ok = 0;
  size_t from = d->resync_at;
  fg_err e;
  for (;;) {
    const char *nl = memchr(b->buf + from, '\n', b->len - from);
    if (nl) {
      b->pos = (size_t)(nl + 1 - b->buf);
      d->state = ST_TOP;
      return 1;
    }
    if (b->eof) {
      b->pos = b->len;
      d->state = ST_TOP;
      return 1;
    }
    if (lr_buf_fill(b, b->len, &e) != FG_OK) return 0;
    from = 0;
  }
}
