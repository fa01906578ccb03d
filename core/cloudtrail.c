/* cloudtrail.c — CloudTrail record reader (see cloudtrail.h). */
#include "cloudtrail.h"

#include <stdlib.h>
#include <string.h>

#include "logreader.h"

struct ct_reader {
  lr_buf b;           /* the input window */
  jdoc d;             /* document structure */
  ct_record rec;      /* the current record */
  long long nrec;     /* records seen in this input (the next record's index) */
  int inner;          /* 1: iterating a Records array found inside a top-level object */
  jscan in;           /* ... its scanner */
  int in_first;       /* ... 1 before its first element */
  jval records;       /* a Records array seen in the value parse_record() just read */
  int resume;         /* after an error: 0 lost, 1 go on with the next record, 2 jdoc_resync() */
  char *scratch;      /* derived strings of the current record */
  size_t scratch_cap; /* its size */
};

static const char *const envelope_keys[] = {"Records", NULL};

/* ---- member names -------------------------------------------------------------------------- */

typedef struct name_id {
  const char *name;
  unsigned char len;
  signed char id;
} name_id;

#define N(s, id) \
  { s, sizeof(s) - 1, id }
enum { K_USER_IDENTITY = -2, K_RECORDS = -3, K_SESSION_CONTEXT = -4, K_SESSION_ISSUER = -5 };

static const name_id top_names[] = {
    N("eventTime", CT_F_EVENT_TIME),
    N("eventSource", CT_F_EVENT_SOURCE),
    N("eventName", CT_F_EVENT_NAME),
    N("eventType", CT_F_EVENT_TYPE),
    N("eventCategory", CT_F_EVENT_CATEGORY),
    N("awsRegion", CT_F_AWS_REGION),
    N("sourceIPAddress", CT_F_SOURCE_IP),
    N("userAgent", CT_F_USER_AGENT),
    N("errorCode", CT_F_ERROR_CODE),
    N("errorMessage", CT_F_ERROR_MESSAGE),
    N("readOnly", CT_F_READ_ONLY),
    N("managementEvent", CT_F_MANAGEMENT_EVENT),
    N("requestID", CT_F_REQUEST_ID),
    N("eventID", CT_F_EVENT_ID),
    N("recipientAccountId", CT_F_RECIPIENT_ACCOUNT),
    N("requestParameters", CT_F_REQUEST_PARAMETERS),
    N("responseElements", CT_F_RESPONSE_ELEMENTS),
    N("resources", CT_F_RESOURCES),
    N("userIdentity", K_USER_IDENTITY),
    N("Records", K_RECORDS),
    {NULL, 0, 0},
};

static const name_id identity_names[] = {
    N("type", CT_F_UI_TYPE),
    N("principalId", CT_F_UI_PRINCIPAL_ID),
    N("arn", CT_F_UI_ARN),
    N("accountId", CT_F_UI_ACCOUNT_ID),
    N("accessKeyId", CT_F_UI_ACCESS_KEY_ID),
    N("userName", CT_F_UI_USER_NAME),
    N("invokedBy", CT_F_UI_INVOKED_BY),
    N("sessionContext", K_SESSION_CONTEXT),
    {NULL, 0, 0},
};

static const name_id context_names[] = {
    N("sessionIssuer", K_SESSION_ISSUER),
    {NULL, 0, 0},
};

static const name_id issuer_names[] = {
    N("arn", CT_F_UI_ISSUER_ARN),
    N("userName", CT_F_UI_ISSUER_NAME),
    {NULL, 0, 0},
};
#undef N

/* Id of key k in table t, or -1. Keys with escapes never match (CloudTrail writes none). */
static int lookup(const name_id *t, const jval *k) {
  if (k->flag) return -1;
  for (; t->name; t++) {
    if (t->len == k->n && memcmp(t->name, k->s, k->n) == 0) return t->id;
  }
  return -1;
}

/* ---- one record ---------------------------------------------------------------------------- */

/* Members of the object at s->p that are named in t go to r->f; an object-valued member whose
** id is `nest` is descended into with table `sub` (and its own nest/sub2); the rest are
** skipped. Returns a JS_* code. */
static int scan_object(jscan *s, ct_record *r, const name_id *t, int nest, const name_id *sub,
                       int nest2, const name_id *sub2) {
  int first = 1, done = 0, rc;
  jval k, v;
  s->p++; /* '{' */
  for (;;) {
    if ((rc = js_member(s, &first, &k, &done)) != JS_OK) return rc;
    if (done) return JS_OK;
    int id = lookup(t, &k);
    if (id == nest && nest < 0 && *s->p == '{') {
      rc = scan_object(s, r, sub, nest2, sub2, 0, NULL);
    } else {
      rc = js_value(s, &v);
      if (rc == JS_OK && id >= 0) r->f[id] = v;
    }
    if (rc != JS_OK) return rc;
  }
}

/* jdoc parse callback: one value; fills reader->rec when it is an object. */
static int parse_record(void *ctx, jscan *s, jval *v) {
  ct_reader *rd = ctx;
  ct_record *r = &rd->rec;
  memset(r->f, 0, sizeof r->f);
  if (*s->p != '{') return js_value(s, v);
  const char *start = s->p;
  int first = 1, done = 0, rc;
  jval k, val;
  jval records = {0};
  rd->records = records;
  s->p++;
  for (;;) {
    if ((rc = js_member(s, &first, &k, &done)) != JS_OK) return rc;
    if (done) break;
    int id = lookup(top_names, &k);
    if (id == K_USER_IDENTITY && *s->p == '{') {
      rc = scan_object(s, r, identity_names, K_SESSION_CONTEXT, context_names, K_SESSION_ISSUER,
                       issuer_names);
    } else {
      rc = js_value(s, &val);
      if (rc == JS_OK) {
        if (id >= 0) {
          r->f[id] = val;
        } else if (id == K_RECORDS && val.type == JV_ARR) {
          records = val;
        }
      }
    }
    if (rc != JS_OK) return rc;
  }
  v->s = start;
  v->n = (size_t)(s->p - start);
  v->type = JV_OBJ;
  v->flag = 1; /* unknown: js_minify() will look */
  rd->records = records;
  return JS_OK;
}

/* ---- derived values ------------------------------------------------------------------------ */

ct_text ct_str(const jval *f, char *scratch) {
  ct_text t = {NULL, 0};
  if (f->type != JV_STR) return t;
  if (!f->flag) {
    t.s = f->s;
    t.n = f->n;
  } else {
    t.n = js_unescape(f, scratch);
    t.s = scratch;
  }
  return t;
}

static const char *find(const char *h, size_t hn, const char *needle, size_t nn) {
  if (nn == 0) return h;
  for (size_t i = 0; i + nn <= hn; i++) {
    if (h[i] == needle[0] && memcmp(h + i, needle, nn) == 0) return h + i;
  }
  return NULL;
}

static int contains_ci(const char *h, size_t hn, const char *lower) {
  size_t nn = strlen(lower);
  for (size_t i = 0; i + nn <= hn; i++) {
    size_t j = 0;
    while (j < nn && (h[i + j] | 0x20) == lower[j]) j++;
    if (j == nn) return 1;
  }
  return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Length of eventName without a trailing API version: 20150331, 20150331v2, 2020_05_31. */
static size_t strip_version(const char *s, size_t n) {
  size_t e = n;
  size_t j = e;
  while (j > 0 && is_digit(s[j - 1])) j--;
  if (j < e && j > 0 && s[j - 1] == 'v') e = j - 1; /* "v2" */
  size_t k = e, nd = 0;
  while (k > 0 && (is_digit(s[k - 1]) || s[k - 1] == '_')) {
    nd += is_digit(s[k - 1]);
    k--;
  }
  if (nd == 8 && (e - k == 8 || e - k == 10) && k > 0) return k;
  return n;
}

/* Makes room for the derived strings of the current record. */
static int reserve(ct_reader *rd, size_t need) {
  if (need <= rd->scratch_cap) return 0;
  size_t cap = need < 4096 ? 4096 : need * 2;
  char *p = realloc(rd->scratch, cap);
  if (!p) return -1;
  rd->scratch = p;
  rd->scratch_cap = cap;
  return 0;
}

static int derive(ct_reader *rd, fg_err *err) {
  ct_record *r = &rd->rec;
  const jval *f = r->f;
  size_t need = 64 + f[CT_F_EVENT_TIME].n + 2 * (f[CT_F_EVENT_SOURCE].n + f[CT_F_EVENT_NAME].n) +
                f[CT_F_UI_ARN].n + f[CT_F_UI_PRINCIPAL_ID].n + f[CT_F_USER_AGENT].n +
                f[CT_F_UI_ISSUER_NAME].n + f[CT_F_UI_TYPE].n;
  if (reserve(rd, need)) return fg_errf(err, FG_ENOMEM, "%s: out of memory", rd->b.name);
  char *sp = rd->scratch;
  ct_text t;

  r->has_ts = 0;
  t = ct_str(&f[CT_F_EVENT_TIME], sp);
  if (t.s && lr_parse_time(t.s, t.n, &r->ts)) r->has_ts = 1;

  /* event: service label + ':' + name */
  r->event.s = NULL;
  r->event.n = 0;
  ct_text src = ct_str(&f[CT_F_EVENT_SOURCE], sp);
  sp += src.s == sp ? src.n : 0;
  ct_text name = ct_str(&f[CT_F_EVENT_NAME], sp);
  sp += name.s == sp ? name.n : 0;
  if (src.s && name.s) {
    const char *dot = memchr(src.s, '.', src.n);
    size_t sn = dot ? (size_t)(dot - src.s) : src.n;
    size_t nn = strip_version(name.s, name.n);
    memmove(sp, src.s, sn); /* src may itself be in scratch, before sp */
    sp[sn] = ':';
    memmove(sp + sn + 1, name.s, nn);
    r->event.s = sp;
    r->event.n = sn + 1 + nn;
    sp += r->event.n;
  }

  /* session and role from the assumed-role ARN / principalId / session issuer */
  r->session.s = r->role.s = r->function.s = NULL;
  r->session.n = r->role.n = r->function.n = 0;
  ct_text arn = ct_str(&f[CT_F_UI_ARN], sp);
  sp += arn.s == sp ? arn.n : 0;
  ct_text role_from_arn = {NULL, 0};
  static const char ar[] = ":assumed-role/";
  const char *at = arn.s ? find(arn.s, arn.n, ar, sizeof ar - 1) : NULL;
  if (at) {
    const char *rs = at + sizeof ar - 1, *end = arn.s + arn.n;
    const char *slash = memchr(rs, '/', (size_t)(end - rs));
    if (slash) {
      role_from_arn.s = rs;
      role_from_arn.n = (size_t)(slash - rs);
      r->session.s = slash + 1;
      r->session.n = (size_t)(end - slash - 1);
    }
  }
  if (!r->session.s) {
    ct_text pid = ct_str(&f[CT_F_UI_PRINCIPAL_ID], sp);
    const char *colon = pid.s ? memchr(pid.s, ':', pid.n) : NULL;
    if (colon) {
      sp += pid.s == sp ? pid.n : 0;
      r->session.s = colon + 1;
      r->session.n = (size_t)(pid.s + pid.n - colon - 1);
    }
  }
  r->role = ct_str(&f[CT_F_UI_ISSUER_NAME], sp);
  sp += r->role.s == sp ? r->role.n : 0;
  if (!r->role.s) r->role = role_from_arn;

  /* function: see cloudtrail.h */
  ct_text type = ct_str(&f[CT_F_UI_TYPE], sp);
  sp += type.s == sp ? type.n : 0;
  if (type.s && type.n == 11 && memcmp(type.s, "AssumedRole", 11) == 0 && r->session.n > 0 &&
      !(r->session.n >= 10 && memcmp(r->session.s, "awslambda_", 10) == 0)) {
    ct_text ua = ct_str(&f[CT_F_USER_AGENT], sp);
    static const char ee[] = "exec-env/AWS_Lambda_";
    if ((ua.s && find(ua.s, ua.n, ee, sizeof ee - 1)) ||
        (r->role.s && contains_ci(r->role.s, r->role.n, "lambda"))) {
      r->function = r->session;
    }
  }
  return FG_OK;
}

/* ---- reader -------------------------------------------------------------------------------- */

int ct_open(ct_reader **out, const char *path, const char *text, size_t n, const char *label,
            fg_err *err) {
  *out = NULL;
  ct_reader *rd = calloc(1, sizeof *rd);
  if (!rd) return fg_errf(err, FG_ENOMEM, "out of memory");
  int rc =
      path ? lr_buf_open_file(&rd->b, path, err) : lr_buf_open_mem(&rd->b, text, n, label, err);
  if (rc) {
    free(rd);
    return rc;
  }
  jdoc_init(&rd->d, &rd->b, envelope_keys, parse_record, rd);
  *out = rd;
  return FG_OK;
}

void ct_close(ct_reader *rd) {
  if (!rd) return;
  lr_buf_close(&rd->b);
  free(rd->scratch);
  free(rd);
}

static const char *type_name(int t) {
  switch (t) {
    case JV_NULL:
      return "null";
    case JV_TRUE:
    case JV_FALSE:
      return "a boolean";
    case JV_NUM:
      return "a number";
    case JV_STR:
      return "a string";
    case JV_ARR:
      return "an array";
    default:
      return "an object";
  }
}

/* The value just parsed is a record: checks and derives. 1 = a record; -code = an error. */
static int accept(ct_reader *rd, const jval *v, int top, fg_err *err) {
  ct_record *r = &rd->rec;
  r->record = *v;
  r->index = rd->nrec++;
  if (v->type != JV_OBJ) {
    rd->resume = 1;
    return -fg_errf(err, FG_ECORRUPT, "%s: record %lld: not a JSON object (found %s)", rd->b.name,
                    r->index, type_name(v->type));
  }
  if (top && !rd->inner && r->f[CT_F_EVENT_TIME].type == JV_ABSENT &&
      r->f[CT_F_EVENT_NAME].type == JV_ABSENT && r->f[CT_F_EVENT_SOURCE].type == JV_ABSENT &&
      r->f[CT_F_EVENT_ID].type == JV_ABSENT) {
    rd->resume = 1;
    return -fg_errf(err, FG_ECORRUPT,
                    "%s: record %lld: not a CloudTrail record (no eventTime, eventName, "
                    "eventSource or eventID, and no Records array)",
                    rd->b.name, r->index);
  }
  int rc = derive(rd, err);
  return rc ? -rc : 1;
}

int ct_next(ct_reader *rd, const ct_record **rec, fg_err *err) {
  rd->resume = 0;
  *rec = &rd->rec;
  for (;;) {
    if (rd->inner) {
      /* Elements of a Records array inside the current (already validated) top-level object. */
      jscan *s = &rd->in;
      const char *p = js_ws(s->p);
      if (*p == ']') {
        rd->inner = 0;
        continue;
      }
      if (!rd->in_first) p = js_ws(p + 1); /* ',' */
      rd->in_first = 0;
      s->p = p;
      jval v;
      int rc = parse_record(rd, s, &v);
      if (rc != JS_OK) return -fg_errf(err, FG_ECORRUPT, "%s: bad Records array", rd->b.name);
      return accept(rd, &v, 0, err);
    }
    jval v;
    int where;
    int rc = jdoc_next(&rd->d, &v, &where, err);
    if (rc == 0) return 0;
    if (rc < 0) {
      rd->resume = 2;
      rd->nrec++; /* the bad value had a position too */
      return rc;
    }
    if (where == JD_TOP && rd->records.type == JV_ARR) {
      /* The object was an envelope {…, "Records":[…]}: iterate that array in place. It stays in
      ** the window until the next jdoc_next(), and it is valid JSON (jdoc has scanned it). */
      rd->inner = 1;
      rd->in.p = rd->records.s + 1;
      rd->in.end = rd->b.buf + rd->b.len;
      rd->in.eof = 1;
      rd->in_first = 1;
      continue;
    }
    return accept(rd, &v, where == JD_TOP, err);
  }
}

int ct_resume(ct_reader *rd) {
  if (rd->resume == 1) return 1;
  if (rd->resume == 2) return jdoc_resync(&rd->d);
  return 0;
}
