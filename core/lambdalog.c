/* lambdalog.c — CloudWatch Logs of Lambda functions (see lambdalog.h). */
#include "lambdalog.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "logreader.h"

#define LL_PEEK_MAX (1u << 20) /* a first line longer than this means a document */
#define LL_ID_MAX 128          /* request ids kept per stream (longer ones are not inferred) */

/* What the reader remembers about one log stream (function + stream name) of the input. */
typedef struct ll_stream {
  char *key;            /* "function\x1fstream" */
  size_t klen;          /* its length */
  uint64_t hash;        /* its hash */
  char req[LL_ID_MAX];  /* the invocation in progress (after START), or "" */
  char last[LL_ID_MAX]; /* the invocation last ended (END/REPORT), for XRAY lines */
  int open;             /* 1 between START and REPORT */
  int init_seen;        /* an INIT_* line since the last START */
  int cold;             /* the current invocation is a cold start */
  long long starts;     /* STARTs seen */
} ll_stream;

static const char *const doc_keys[] = {"events", "logEvents", NULL};

struct ll_reader {
  lr_buf b;              /* input window */
  int doc;               /* 1: document mode (jdoc); 0: line mode */
  int decided;           /* the mode has been chosen */
  jdoc d;                /* document mode: structure */
  long long nval;        /* records (and bad events) seen: the next record's index */
  char *path_function;   /* from the path, or NULL */
  char *path_stream;     /* from the path (or the file name), or NULL */
  json_t *pending;       /* an events array being walked (inside a parsed object), or NULL */
  size_t pending_i;      /* next index in it */
  char *pending_group;   /* its logGroup, or NULL */
  char *pending_stream;  /* its logStream, or NULL */
  int resume;            /* after an error: 1 go on, 2 jdoc_resync() */
  ll_record rec;         /* current record */
  char *arena;           /* its strings */
  size_t alen, acap;     /* used / allocated */
  ll_stream **streams;   /* open-addressing table of streams */
  size_t nstreams, scap; /* entries / slots (power of two) */
};

/* ---- small helpers ------------------------------------------------------------------------- */

static char *dupn(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = 0;
  }
  return d;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A UUID (8-4-4-4-12 hex), the shape of Lambda request ids. */
static int is_uuid(const char *s, size_t n) {
  if (n != 36) return 0;
  for (size_t i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return 0;
    } else if (!is_hex(s[i])) {
      return 0;
    }
  }
  return 1;
}

/* Decimal number at s (digits, optional fraction): bytes used, 0 if none. Locale-free, and
** correctly rounded for the short numbers logs print (the digits form an exact integer that one
** division scales). */
static size_t parse_num(const char *s, size_t n, double *out) {
  size_t i = 0;
  int neg = 0, frac = 0;
  uint64_t mant = 0;
  if (i < n && s[i] == '-') {
    neg = 1;
    i++;
  }
  size_t d0 = i;
  while (i < n && is_digit(s[i])) {
    if (mant < 100000000000000000ULL) mant = mant * 10 + (uint64_t)(s[i] - '0');
    i++;
  }
  if (i == d0) return 0;
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && is_digit(s[i])) {
      if (mant < 100000000000000000ULL) {
        mant = mant * 10 + (uint64_t)(s[i] - '0');
        frac++;
      }
      i++;
    }
  }
  double v = (double)mant;
  static const double p10[] = {1,    1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                               1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
  if (frac > 0) v /= p10[frac < 18 ? frac : 18];
  *out = neg ? -v : v;
  return i;
}

static int starts(const char *s, size_t n, const char *prefix) {
  size_t k = strlen(prefix);
  return n >= k && memcmp(s, prefix, k) == 0;
}

/* ---- record strings ------------------------------------------------------------------------ */

/* Room for `need` more bytes of strings; pointers already handed out stay valid because each
** record reserves its worst case up front (reserve), before the first put. */
static int reserve(ll_reader *rd, size_t need) {
  rd->alen = 0;
  if (need <= rd->acap) return 0;
  size_t cap = need < 8192 ? 8192 : need * 2;
  char *a = realloc(rd->arena, cap);
  if (!a) return -1;
  rd->arena = a;
  rd->acap = cap;
  return 0;
}

static const char *put(ll_reader *rd, const char *s, size_t n) {
  if (!s) return NULL;
  if (rd->alen + n + 1 > rd->acap) return NULL; /* cannot happen: reserve() bounds it */
  char *d = rd->arena + rd->alen;
  memcpy(d, s, n);
  d[n] = 0;
  rd->alen += n + 1;
  return d;
}
static const char *puts0(ll_reader *rd, const char *s) { return s ? put(rd, s, strlen(s)) : NULL; }

static void clear_record(ll_record *r) {
  memset(r, 0, sizeof *r);
  r->duration_ms = r->billed_ms = r->memory_mb = r->max_memory_mb = r->init_ms = NAN;
  r->cold_start = -1;
}

/* ---- names from the path ------------------------------------------------------------------- */

static int is_ndigits(const char *s, size_t n, size_t want) {
  if (n != want) return 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(s[i])) return 0;
  }
  return 1;
}

/* Length of a file name without .gz, then .log/.json/.jsonl/.txt. */
static size_t strip_ext(const char *s, size_t n) {
  static const char *const exts[] = {".log", ".json", ".jsonl", ".txt", NULL};
  if (n > 3 && memcmp(s + n - 3, ".gz", 3) == 0) n -= 3;
  for (int i = 0; exts[i]; i++) {
    size_t k = strlen(exts[i]);
    if (n > k && memcmp(s + n - k, exts[i], k) == 0) return n - k;
  }
  return n;
}

/* Sets path_function / path_stream from a path (rules in lambdalog.h). */
static int names_from_path(ll_reader *rd, const char *path) {
  const char *comp[256];
  size_t len[256], nc = 0;
  const char *p = path;
  while (*p && nc < 256) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    comp[nc] = p;
    len[nc++] = n;
    p += n;
  }
  if (nc == 0) return 0;
  const char *fn = NULL, *base = comp[nc - 1];
  size_t fnn = 0, basen = strip_ext(comp[nc - 1], len[nc - 1]);
  for (size_t i = 0; i + 2 < nc; i++) { /* .../aws/lambda/NAME/... */
    if (len[i] == 3 && memcmp(comp[i], "aws", 3) == 0 && len[i + 1] == 6 &&
        memcmp(comp[i + 1], "lambda", 6) == 0 && i + 2 < nc - 1) {
      fn = comp[i + 2];
      fnn = len[i + 2];
    }
  }
  /* .../<function>/YYYY/MM/DD/<stream>[/<file>] */
  char *stream = NULL;
  for (size_t i = 1; i + 3 < nc; i++) {
    if (is_ndigits(comp[i], len[i], 4) && is_ndigits(comp[i + 1], len[i + 1], 2) &&
        is_ndigits(comp[i + 2], len[i + 2], 2)) {
      size_t f = i - 1;
      if (is_uuid(comp[f], len[f]) && f > 0) f--; /* an S3 export task id */
      if (!fn) {
        fn = comp[f];
        fnn = len[f];
      }
      size_t sn = i + 3 == nc - 1 ? basen : len[i + 3];
      size_t total = 11 + sn;
      stream = malloc(total + 1);
      if (!stream) return -1;
      memcpy(stream, comp[i], 4);
      stream[4] = '/';
      memcpy(stream + 5, comp[i + 1], 2);
      stream[7] = '/';
      memcpy(stream + 8, comp[i + 2], 2);
      stream[10] = '/';
      memcpy(stream + 11, comp[i + 3], sn);
      stream[total] = 0;
      break;
    }
  }
  if (!stream && !(stream = dupn(base, basen))) return -1;
  rd->path_stream = stream;
  if (fn && !(rd->path_function = dupn(fn, fnn))) return -1;
  return 0;
}

/* "/aws/lambda/NAME" → NAME (pointer into group), else NULL. */
static const char *function_of_group(const char *group) {
  if (group && starts(group, strlen(group), "/aws/lambda/") && group[12]) return group + 12;
  return NULL;
}

/* ---- per-stream state ---------------------------------------------------------------------- */

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static void free_streams(ll_reader *rd) {
  for (size_t i = 0; i < rd->scap; i++) {
    if (rd->streams[i]) {
      free(rd->streams[i]->key);
      free(rd->streams[i]);
    }
  }
  free(rd->streams);
  rd->streams = NULL;
  rd->nstreams = rd->scap = 0;
}

static int grow_streams(ll_reader *rd) {
  size_t cap = rd->scap ? rd->scap * 2 : 16;
  ll_stream **t = calloc(cap, sizeof *t);
  if (!t) return -1;
  for (size_t i = 0; i < rd->scap; i++) {
    ll_stream *s = rd->streams[i];
    if (!s) continue;
    size_t j = (size_t)s->hash & (cap - 1);
    while (t[j]) j = (j + 1) & (cap - 1);
    t[j] = s;
  }
  free(rd->streams);
  rd->streams = t;
  rd->scap = cap;
  return 0;
}

/* The state of stream (function, stream), created on first use; NULL on OOM. */
static ll_stream *stream_state(ll_reader *rd, const char *function, const char *stream) {
  size_t fl = function ? strlen(function) : 0, sl = stream ? strlen(stream) : 0;
  size_t klen = fl + 1 + sl;
  char small[512];
  char *key = klen < sizeof small ? small : malloc(klen + 1);
  if (!key) return NULL;
  if (fl) memcpy(key, function, fl);
  key[fl] = '\x1f';
  if (sl) memcpy(key + fl + 1, stream, sl);
  uint64_t h = fnv1a(key, klen);
  ll_stream *found = NULL;
  if (rd->scap) {
    for (size_t j = (size_t)h & (rd->scap - 1); rd->streams[j]; j = (j + 1) & (rd->scap - 1)) {
      ll_stream *s = rd->streams[j];
      if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0) {
        found = s;
        break;
      }
    }
  }
  if (!found && (2 * (rd->nstreams + 1) <= rd->scap || grow_streams(rd) == 0)) {
    found = calloc(1, sizeof *found);
    if (found && !(found->key = dupn(key, klen))) {
      free(found);
      found = NULL;
    }
    if (found) {
      found->klen = klen;
      found->hash = h;
      size_t j = (size_t)h & (rd->scap - 1);
      while (rd->streams[j]) j = (j + 1) & (rd->scap - 1);
      rd->streams[j] = found;
      rd->nstreams++;
    }
  }
  if (key != small) free(key);
  return found;
}

static void set_id(char *dst, const char *id) {
  size_t n = id ? strlen(id) : 0;
  if (n >= LL_ID_MAX) n = 0; /* too long to remember: not inferred */
  if (n) memcpy(dst, id, n);
  dst[n] = 0;
}

/* Request-id inference and cold starts (rules in lambdalog.h). */
static int track(ll_reader *rd) {
  ll_record *r = &rd->rec;
  ll_stream *st = stream_state(rd, r->function, r->log_stream);
  if (!st) return -1;
  const char *t = r->type;
  if (strcmp(t, "START") == 0) {
    st->starts++;
    st->cold = st->starts == 1 || st->init_seen;
    st->init_seen = 0;
    st->open = 1;
    set_id(st->req, r->request_id);
    r->cold_start = st->cold;
  } else if (strncmp(t, "INIT_", 5) == 0 || strncmp(t, "RESTORE_", 8) == 0) {
    st->init_seen = 1;
  } else if (strcmp(t, "END") == 0 || strcmp(t, "REPORT") == 0 || strcmp(t, "RUNTIME_DONE") == 0) {
    int same = r->request_id && strcmp(st->req, r->request_id) == 0;
    if (strcmp(t, "END") != 0) {
      r->cold_start = (same && st->cold) || !isnan(r->init_ms);
    }
    if (strcmp(t, "RUNTIME_DONE") != 0) {
      st->open = 0;
      set_id(st->last, r->request_id);
    }
  } else if (!r->request_id) {
    if (strcmp(t, "XRAY") == 0) {
      if (st->last[0]) r->request_id = put(rd, st->last, strlen(st->last));
    } else if (st->open && st->req[0]) {
      r->request_id = put(rd, st->req, strlen(st->req));
    }
  }
  return 0;
}

/* ---- text lines ---------------------------------------------------------------------------- */

static const char *const platform_words[] = {
    "START", "END",       "REPORT",    "INIT_START",    "INIT_REPORT",    "INIT_RUNTIME_DONE",
    "XRAY",  "EXTENSION", "TELEMETRY", "RESTORE_START", "RESTORE_REPORT", "RESTORE_RUNTIME_DONE",
    NULL};

/* Value of "Key: value" in a platform line: the text after "Key: " up to a tab (or, when
** `word`, up to a space as well). Keys match only at the start or after a space/tab. */
static int kv(const char *s, size_t n, const char *key, int word, const char **v, size_t *vn) {
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl + 2 <= n; i++) {
    if ((i == 0 || s[i - 1] == '\t' || s[i - 1] == ' ') && memcmp(s + i, key, kl) == 0 &&
        s[i + kl] == ':' && s[i + kl + 1] == ' ') {
      size_t j = i + kl + 2, e = j;
      while (e < n && s[e] != '\t' && !(word && s[e] == ' ')) e++;
      while (e > j && s[e - 1] == ' ') e--;
      *v = s + j;
      *vn = e - j;
      return 1;
    }
  }
  return 0;
}

static double kv_num(const char *s, size_t n, const char *key) {
  const char *v;
  size_t vn;
  double d;
  if (kv(s, n, key, 0, &v, &vn) && parse_num(v, vn, &d)) return d;
  return NAN;
}

static const char *kv_str(ll_reader *rd, const char *s, size_t n, const char *key, int word) {
  const char *v;
  size_t vn;
  return kv(s, n, key, word, &v, &vn) && vn ? put(rd, v, vn) : NULL;
}

static int is_level(const char *s, size_t n) {
  static const char *const levels[] = {"TRACE", "DEBUG", "INFO",     "WARN", "WARNING",
                                       "ERROR", "FATAL", "CRITICAL", NULL};
  for (int i = 0; levels[i]; i++) {
    if (strlen(levels[i]) == n && memcmp(levels[i], s, n) == 0) return 1;
  }
  return 0;
}

/* A text message (without a time prefix): platform line or application line. */
static void parse_text(ll_reader *rd, const char *s, size_t n) {
  ll_record *r = &rd->rec;
  size_t w = 0;
  while (w < n && ((s[w] >= 'A' && s[w] <= 'Z') || s[w] == '_')) w++;
  if (w > 0 && (w == n || s[w] == ' ' || s[w] == '\t')) {
    for (int i = 0; platform_words[i]; i++) {
      if (strlen(platform_words[i]) != w || memcmp(platform_words[i], s, w) != 0) continue;
      r->type = put(rd, s, w);
      r->request_id = kv_str(rd, s, n, "RequestId", 1);
      if (strcmp(r->type, "REPORT") == 0) {
        r->duration_ms = kv_num(s, n, "Duration");
        r->billed_ms = kv_num(s, n, "Billed Duration");
        r->memory_mb = kv_num(s, n, "Memory Size");
        r->max_memory_mb = kv_num(s, n, "Max Memory Used");
        r->init_ms = kv_num(s, n, "Init Duration");
        r->status = kv_str(rd, s, n, "Status", 0);
        if (!r->status) r->status = "success";
        r->error_type = kv_str(rd, s, n, "Error Type", 0);
      } else if (strcmp(r->type, "INIT_REPORT") == 0 || strcmp(r->type, "RESTORE_REPORT") == 0) {
        r->init_ms = kv_num(
            s, n, strcmp(r->type, "INIT_REPORT") == 0 ? "Init Duration" : "Restore Duration");
        r->status = kv_str(rd, s, n, "Status", 0);
        r->error_type = kv_str(rd, s, n, "Error Type", 0);
      } else if (strcmp(r->type, "XRAY") == 0) {
        r->trace_id = kv_str(rd, s, n, "TraceId", 0);
      }
      return;
    }
  }
  /* Application line: leading tokens may be a [LEVEL], a time, a request id, a LEVEL. */
  r->type = "LOG";
  size_t i = 0;
  for (int tok = 0; tok < 4 && i < n; tok++) {
    size_t e = i;
    while (e < n && s[e] != '\t' && s[e] != ' ') e++;
    const char *t = s + i;
    size_t tn = e - i;
    int64_t ms;
    if (tn > 2 && t[0] == '[' && t[tn - 1] == ']' && is_level(t + 1, tn - 2)) {
      if (!r->level) r->level = put(rd, t + 1, tn - 2);
    } else if (is_level(t, tn)) {
      if (!r->level) r->level = put(rd, t, tn);
    } else if (is_uuid(t, tn)) {
      if (!r->request_id) r->request_id = put(rd, t, tn);
    } else if (tn >= 19 && lr_parse_time(t, tn, &ms) == tn) {
      if (!r->has_ts) {
        r->has_ts = 1;
        r->ts = ms;
      }
    } else if (!(tn == 9 && memcmp(t, "undefined", 9) == 0) && tn != 0) {
      break;
    }
    i = e < n ? e + 1 : e;
  }
  if (starts(s + i, n - i, "Task timed out after")) {
    r->type = "TIMEOUT";
    r->status = "timeout";
  }
}

/* ---- JSON lines ---------------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

static double jnum(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Time of a JSON value: ISO text or epoch milliseconds. */
static int jtime(const json_t *v, int64_t *ms) {
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    return lr_parse_time(s, json_string_length(v), ms) > 0;
  }
  if (json_is_integer(v)) {
    *ms = (int64_t)json_integer_value(v);
    return 1;
  }
  if (json_is_real(v)) {
    *ms = (int64_t)json_real_value(v);
    return 1;
  }
  return 0;
}

/* "platform.initReport" → "INIT_REPORT" into the arena. */
static const char *platform_type(ll_reader *rd, const char *t) {
  char buf[128];
  size_t o = 0;
  for (const char *p = t; *p && o + 2 < sizeof buf; p++) {
    if (*p >= 'A' && *p <= 'Z' && o > 0) buf[o++] = '_';
    buf[o++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
  }
  return put(rd, buf, o);
}

/* "Root=1-…;Parent=…;Sampled=1" → the Root value. */
static const char *trace_root(ll_reader *rd, const char *v) {
  if (!v) return NULL;
  const char *p = strstr(v, "Root=");
  if (!p) return NULL;
  p += 5;
  size_t n = strcspn(p, ";");
  return n ? put(rd, p, n) : NULL;
}

static void parse_json(ll_reader *rd, const json_t *o) {
  ll_record *r = &rd->rec;
  int64_t ms;
  const char *type = jstr(o, "type");
  if (type && strncmp(type, "platform.", 9) == 0) {
    const json_t *rec = json_object_get(o, "record");
    const json_t *m = json_object_get(rec, "metrics");
    r->type = platform_type(rd, type + 9);
    if (!r->has_ts && jtime(json_object_get(o, "time"), &ms)) {
      r->has_ts = 1;
      r->ts = ms;
    }
    r->request_id = puts0(rd, jstr(rec, "requestId"));
    r->status = puts0(rd, jstr(rec, "status"));
    r->error_type = puts0(rd, jstr(rec, "errorType"));
    r->trace_id = trace_root(rd, jstr(json_object_get(rec, "tracing"), "value"));
    if (strcmp(r->type, "REPORT") == 0) {
      r->duration_ms = jnum(m, "durationMs");
      r->billed_ms = jnum(m, "billedDurationMs");
      r->memory_mb = jnum(m, "memorySizeMB");
      r->max_memory_mb = jnum(m, "maxMemoryUsedMB");
      r->init_ms = jnum(m, "initDurationMs");
      if (!r->status) r->status = "success";
    } else if (strcmp(r->type, "INIT_REPORT") == 0 || strcmp(r->type, "RESTORE_REPORT") == 0) {
      r->init_ms = jnum(m, "durationMs");
    } else if (strcmp(r->type, "RUNTIME_DONE") == 0) {
      r->duration_ms = jnum(m, "durationMs");
    }
    return;
  }
  r->type = "LOG";
  if (!r->has_ts && jtime(json_object_get(o, "timestamp"), &ms)) {
    r->has_ts = 1;
    r->ts = ms;
  }
  const char *lvl = jstr(o, "level");
  r->level = puts0(rd, lvl);
  static const char *const id_keys[] = {"requestId",           "AWSRequestId", "awsRequestId",
                                        "function_request_id", "request_id",   NULL};
  for (int i = 0; id_keys[i] && !r->request_id; i++) r->request_id = puts0(rd, jstr(o, id_keys[i]));
  const char *x = jstr(o, "xray_trace_id");
  if (x) r->trace_id = puts0(rd, x);
}

/* ---- one log event ------------------------------------------------------------------------- */

/* Builds rd->rec from a message (a line, or an event's message) and its context. */
static int build(ll_reader *rd, const char *s, size_t n, int has_ts, int64_t ts, const char *group,
                 const char *stream, long long line, fg_err *err) {
  size_t need = 3 * n + 2 * (group ? strlen(group) : 0) + 2 * (stream ? strlen(stream) : 0) +
                (rd->path_function ? strlen(rd->path_function) : 0) +
                (rd->path_stream ? strlen(rd->path_stream) : 0) + 4096;
  if (reserve(rd, need)) return fg_errf(err, FG_ENOMEM, "%s: out of memory", rd->b.name);
  ll_record *r = &rd->rec;
  clear_record(r);
  r->index = rd->nval++;
  r->line = line;
  if (has_ts) {
    r->has_ts = 1;
    r->ts = ts;
  }
  /* A time prefix, as in exports: "2026-01-05T04:03:59.265Z START …". */
  int64_t ms;
  size_t k = lr_parse_time(s, n, &ms);
  if (k && k < n && (s[k] == ' ' || s[k] == '\t')) {
    if (!r->has_ts) {
      r->has_ts = 1;
      r->ts = ms;
    }
    s += k + 1;
    n -= k + 1;
  }
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
  r->message = put(rd, s, n);
  r->message_n = n;
  json_t *o = NULL;
  if (n > 1 && s[0] == '{' && s[n - 1] == '}') {
    json_error_t je;
    o = json_loadb(s, n, JSON_ALLOW_NUL, &je);
  }
  if (json_is_object(o)) {
    parse_json(rd, o);
  } else {
    parse_text(rd, s, n);
  }
  json_decref(o);
  r->log_group = puts0(rd, group);
  const char *fn = function_of_group(group);
  r->function = fn ? puts0(rd, fn) : puts0(rd, rd->path_function);
  r->log_stream = stream ? puts0(rd, stream) : puts0(rd, rd->path_stream);
  if (track(rd)) return fg_errf(err, FG_ENOMEM, "%s: out of memory", rd->b.name);
  return FG_OK;
}

/* One CloudWatch event object ({timestamp, message, logStreamName}). */
static int build_event(ll_reader *rd, const json_t *ev, const char *group, const char *stream,
                       fg_err *err) {
  if (!json_is_object(ev)) {
    rd->resume = 1;
    return fg_errf(err, FG_ECORRUPT, "%s: event %lld: not a JSON object", rd->b.name, rd->nval++);
  }
  int64_t ts = 0;
  int has_ts = jtime(json_object_get(ev, "timestamp"), &ts);
  const char *st = jstr(ev, "logStreamName");
  const char *gr = jstr(ev, "logGroupName");
  const json_t *m = json_object_get(ev, "message");
  const char *msg = json_string_value(m);
  size_t mn = msg ? json_string_length(m) : 0;
  return build(rd, msg ? msg : "", mn, has_ts, ts, gr ? gr : group, st ? st : stream, 0, err);
}

/* ---- reader -------------------------------------------------------------------------------- */

int ll_open(ll_reader **out, const char *path, const char *text, size_t n, const char *label,
            fg_err *err) {
  *out = NULL;
  ll_reader *rd = calloc(1, sizeof *rd);
  if (!rd) return fg_errf(err, FG_ENOMEM, "out of memory");
  int rc =
      path ? lr_buf_open_file(&rd->b, path, err) : lr_buf_open_mem(&rd->b, text, n, label, err);
  if (rc) {
    free(rd);
    return rc;
  }
  if (path && names_from_path(rd, path)) {
    ll_close(rd);
    return fg_errf(err, FG_ENOMEM, "out of memory");
  }
  *out = rd;
  return FG_OK;
}

void ll_close(ll_reader *rd) {
  if (!rd) return;
  lr_buf_close(&rd->b);
  json_decref(rd->pending);
  free(rd->pending_group);
  free(rd->pending_stream);
  free(rd->path_function);
  free(rd->path_stream);
  free(rd->arena);
  free_streams(rd);
  free(rd);
}

/* Chooses line or document mode from the start of the input (rule in lambdalog.h). */
static int decide(ll_reader *rd, fg_err *err) {
  lr_buf *b = &rd->b;
  for (;;) {
    const char *p = js_ws(b->buf + b->pos);
    if (p < b->buf + b->len || b->eof) {
      if (p >= b->buf + b->len) return FG_OK; /* empty: line mode, no lines */
      if (*p == '[') {
        rd->doc = 1;
        return FG_OK;
      }
      if (*p != '{') return FG_OK;
      const char *nl = memchr(p, '\n', (size_t)(b->buf + b->len - p));
      if (nl || b->eof) {
        size_t n = (size_t)((nl ? nl : b->buf + b->len) - p);
        json_error_t je;
        json_t *o = json_loadb(p, n, JSON_ALLOW_NUL, &je);
        rd->doc =
            !json_is_object(o) || json_object_get(o, "events") || json_object_get(o, "logEvents");
        json_decref(o);
        return FG_OK;
      }
      if (b->len - b->pos > LL_PEEK_MAX) {
        rd->doc = 1;
        return FG_OK;
      }
    }
    int rc = lr_buf_fill(b, 0, err);
    if (rc) return rc;
  }
}

int ll_next(ll_reader *rd, const ll_record **rec, fg_err *err) {
  rd->resume = 0;
  *rec = &rd->rec;
  if (!rd->decided) {
    int rc = decide(rd, err);
    if (rc) return -rc;
    rd->decided = 1;
    if (rd->doc) jdoc_init(&rd->d, &rd->b, doc_keys, NULL, NULL);
  }
  if (!rd->doc) {
    const char *line;
    size_t n;
    long long lineno;
    for (;;) {
      int rc = lr_getline(&rd->b, &line, &n, &lineno, err);
      if (rc <= 0) return rc;
      if (n == 0) continue; /* blank line */
      rc = build(rd, line, n, 0, 0, NULL, NULL, lineno, err);
      return rc ? -rc : 1;
    }
  }
  for (;;) {
    if (rd->pending) {
      if (rd->pending_i < json_array_size(rd->pending)) {
        const json_t *ev = json_array_get(rd->pending, rd->pending_i++);
        int rc = build_event(rd, ev, rd->pending_group, rd->pending_stream, err);
        return rc ? -rc : 1;
      }
      json_decref(rd->pending);
      free(rd->pending_group);
      free(rd->pending_stream);
      rd->pending = NULL;
      rd->pending_group = rd->pending_stream = NULL;
    }
    jval v;
    int where;
    int rc = jdoc_next(&rd->d, &v, &where, err);
    if (rc == 0) return 0;
    if (rc < 0) {
      rd->resume = 2;
      return rc;
    }
    json_error_t je;
    json_t *o = json_loadb(v.s, v.n, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
    if (!o) {
      long long line, col;
      lr_buf_where(&rd->b, (size_t)(v.s - rd->b.buf), &line, &col);
      rd->resume = 1;
      return -fg_errf(err, FG_ECORRUPT, "%s:%lld:%lld: %s", rd->b.name, line + je.line - 1,
                      je.line == 1 ? col + je.column - 1 : je.column, je.text);
    }
    const json_t *evs = NULL;
    if (where == JD_TOP && json_is_object(o)) {
      evs = json_object_get(o, "logEvents");
      if (!evs) evs = json_object_get(o, "events");
    }
    if (json_is_array(evs)) {
      /* A subscription message or an API response whose events were not first: walk them. */
      const char *g = jstr(o, "logGroup"), *s = jstr(o, "logStream");
      rd->pending = json_incref((json_t *)evs);
      rd->pending_i = 0;
      rd->pending_group = g ? dupn(g, strlen(g)) : NULL;
      rd->pending_stream = s ? dupn(s, strlen(s)) : NULL;
      json_decref(o);
      if ((g && !rd->pending_group) || (s && !rd->pending_stream)) {
        return -fg_errf(err, FG_ENOMEM, "%s: out of memory", rd->b.name);
      }
      continue;
    }
    if (json_is_object(o) && !json_object_get(o, "message")) {
      /* A JSON-format log record itself (pretty-printed, or in an array): the object is the
      ** message. */
      rc = build(rd, v.s, v.n, 0, 0, NULL, NULL, 0, err);
      json_decref(o);
      return rc ? -rc : 1;
    }
    rc = build_event(rd, o, NULL, NULL, err);
    json_decref(o);
    return rc ? -rc : 1;
  }
}

int ll_resume(ll_reader *rd) {
  if (rd->resume == 1) return 1;
  if (rd->resume == 2) return jdoc_resync(&rd->d);
  return 0;
}
