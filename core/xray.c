/* xray.c — X-Ray segment reader (see xray.h). */
#include "xray.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "logreader.h"

#define XR_MAX_DEPTH 256 /* subsegment nesting followed at most */

static const char *const doc_keys[] = {"Traces", NULL};

/* A (sub)segment waiting to be emitted. */
typedef struct xr_node {
  json_t *obj;        /* borrowed from the document being walked */
  int depth;          /* nesting */
  const char *parent; /* parent id (borrowed), or NULL */
} xr_node;

struct xr_reader {
  lr_buf b;             /* input window */
  jdoc d;               /* document structure */
  json_t *traces;       /* a Traces array found inside a top-level object, or NULL */
  size_t traces_i;      /* next trace in it */
  json_t *trace;        /* the trace whose Segments are being read, or NULL */
  size_t seg_i;         /* next segment in it */
  json_t *doc;          /* the segment document being walked, or NULL */
  long long ndocs;      /* segment documents seen: the current one's index + 1 */
  const char *trace_id; /* of doc (borrowed from doc or trace) */
  const char *top_id;   /* id of doc's top segment (borrowed) */
  const char *function; /* of doc's top segment (borrowed), or NULL */
  xr_node *stack;       /* depth-first walk of doc */
  size_t nstack, cstack;
  int resume;    /* after an error: 1 go on, 2 jdoc_resync() */
  xr_record rec; /* current record */
  char *arena;   /* derived strings of rec */
  size_t acap;
};

/* ---- service names ------------------------------------------------------------------------- */

/* CloudTrail eventSource labels of the services X-Ray names by another name. */
static const char *const renamed[][2] = {
    {"sfn", "states"},
    {"stepfunctions", "states"},
    {"mediapackagevod", "mediapackage-vod"},
    {"cloudwatch", "monitoring"},
    {"cloudwatchlogs", "logs"},
    {"cloudwatchevents", "events"},
    {"eventbridge", "events"},
    {"cognitoidentityprovider", "cognito-idp"},
    {"cognitoidentity", "cognito-identity"},
    {"kinesisfirehose", "firehose"},
    {"sesv2", "ses"},
    {"iotdata", "iot"},
    {"executeapi", "execute-api"},
    {"bedrockruntime", "bedrock"},
    {NULL, NULL},
};

/* Labels that are services already (lower case, as X-Ray SDKs name their subsegments). */
static const char *const services[] = {"dynamodb",
                                       "s3",
                                       "sns",
                                       "sqs",
                                       "lambda",
                                       "sts",
                                       "iam",
                                       "ssm",
                                       "secretsmanager",
                                       "kms",
                                       "kinesis",
                                       "firehose",
                                       "states",
                                       "mediaconvert",
                                       "ec2",
                                       "ecs",
                                       "ecr",
                                       "rds",
                                       "athena",
                                       "glue",
                                       "ses",
                                       "apigateway",
                                       "xray",
                                       "cloudformation",
                                       "cloudtrail",
                                       "bedrock",
                                       "appsync",
                                       "events",
                                       "logs",
                                       "monitoring",
                                       "elasticloadbalancing",
                                       "route53",
                                       "acm",
                                       "organizations",
                                       "redshift",
                                       "elasticache",
                                       "opensearch",
                                       "es",
                                       "batch",
                                       "codebuild",
                                       "sagemaker",
                                       "textract",
                                       "rekognition",
                                       "translate",
                                       "comprehend",
                                       "polly",
                                       "transcribe",
                                       "scheduler",
                                       "pipes",
                                       "mediapackage-vod",
                                       "cognito-idp",
                                       "cognito-identity",
                                       "iot",
                                       "execute-api",
                                       NULL};

/* 1 and the label in out if name is a known service name. */
static int known_service(const char *name, char *out) {
  char low[128];
  size_t n = 0;
  for (const char *p = name; *p && n + 1 < sizeof low; p++) {
    char c = *p;
    if (c == ' ' || c == '_') continue;
    low[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  low[n] = 0;
  char nodash[128] = {0};
  size_t m = 0;
  for (size_t i = 0; i <= n; i++) {
    if (low[i] != '-') nodash[m++] = low[i];
  }
  for (int i = 0; renamed[i][0]; i++) {
    if (strcmp(nodash, renamed[i][0]) == 0) {
      strcpy(out, renamed[i][1]);
      return 1;
    }
  }
  for (int i = 0; services[i]; i++) {
    if (strcmp(low, services[i]) == 0 || strcmp(nodash, services[i]) == 0) {
      strcpy(out, services[i]);
      return 1;
    }
  }
  strcpy(out, low);
  return 0;
}

void xr_service(const char *name, char *out) { known_service(name, out); }

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

static double jnum(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static int jbool(const json_t *o, const char *key) { return json_is_true(json_object_get(o, key)); }

/* Host part of a URL ("https://api.stripe.com/v1/charges" → "api.stripe.com"), into out. */
static const char *url_host(const char *url, char *out, size_t cap) {
  if (!url) return NULL;
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  const char *at = p;
  size_t n = strcspn(p, "/?#");
  const char *amp = memchr(p, '@', n); /* user@host */
  if (amp) {
    n -= (size_t)(amp + 1 - p);
    at = amp + 1;
  }
  size_t colon = strcspn(at, ":/?#"); /* drop the port */
  if (colon < n) n = colon;
  if (n == 0 || n >= cap) return NULL;
  memcpy(out, at, n);
  out[n] = 0;
  return out;
}

static void free_doc(xr_reader *rd) {
  json_decref(rd->doc);
  rd->doc = NULL;
  rd->nstack = 0;
}

static int push(xr_reader *rd, json_t *obj, int depth, const char *parent) {
  if (rd->nstack == rd->cstack) {
    size_t cap = rd->cstack ? 2 * rd->cstack : 32;
    xr_node *s = realloc(rd->stack, cap * sizeof *s);
    if (!s) return -1;
    rd->stack = s;
    rd->cstack = cap;
  }
  rd->stack[rd->nstack].obj = obj;
  rd->stack[rd->nstack].depth = depth;
  rd->stack[rd->nstack].parent = parent;
  rd->nstack++;
  return 0;
}

/* Starts walking segment document `doc` (a reference is taken over). */
static int start_doc(xr_reader *rd, json_t *doc, const char *trace_id) {
  free_doc(rd);
  rd->doc = doc;
  rd->ndocs++;
  rd->trace_id = jstr(doc, "trace_id");
  if (!rd->trace_id) rd->trace_id = trace_id;
  rd->top_id = jstr(doc, "id");
  rd->function = NULL;
  const char *origin = jstr(doc, "origin");
  if (origin &&
      (strcmp(origin, "AWS::Lambda::Function") == 0 || strcmp(origin, "AWS::Lambda") == 0)) {
    rd->function = jstr(doc, "name");
  }
  return push(rd, doc, 0, jstr(doc, "parent_id"));
}

/* Emits the node on top of the stack into rd->rec and pushes its subsegments. */
static int emit(xr_reader *rd, fg_err *err) {
  xr_node nd = rd->stack[--rd->nstack];
  const json_t *o = nd.obj;
  xr_record *r = &rd->rec;
  memset(r, 0, sizeof *r);
  r->index = rd->ndocs - 1;
  r->depth = nd.depth;
  r->trace_id = rd->trace_id;
  r->id = jstr(o, "id");
  r->parent_id = nd.parent;
  r->segment_id = rd->top_id;
  const char *type = jstr(o, "type");
  r->type = nd.depth > 0 || (type && strcmp(type, "subsegment") == 0) ? "subsegment" : "segment";
  r->name = jstr(o, "name");
  r->namespace_ = jstr(o, "namespace");
  r->origin = jstr(o, "origin");
  r->function = rd->function;
  const json_t *aws = json_object_get(o, "aws");
  r->operation = jstr(aws, "operation");
  r->request_id = jstr(aws, "request_id");
  r->region = jstr(aws, "region");
  r->account_id = jstr(aws, "account_id");
  static const char *const res_keys[] = {"table_name", "bucket_name",       "queue_url",
                                         "topic_arn",  "function_name",     "stream_name",
                                         "secret_id",  "state_machine_arn", NULL};
  for (int i = 0; res_keys[i] && !r->resource; i++) r->resource = jstr(aws, res_keys[i]);
  if (!r->resource)
    r->resource = json_string_value(json_array_get(json_object_get(aws, "resource_names"), 0));
  const json_t *http = json_object_get(o, "http");
  const json_t *req = json_object_get(http, "request");
  r->http_url = jstr(req, "url");
  r->http_method = jstr(req, "method");
  const json_t *st = json_object_get(json_object_get(http, "response"), "status");
  r->http_status = json_is_integer(st) ? (int)json_integer_value(st) : -1;
  r->start = jnum(o, "start_time");
  r->end = jnum(o, "end_time");
  r->fault = jbool(o, "fault");
  r->error = jbool(o, "error");
  r->throttle = jbool(o, "throttle");
  r->in_progress = jbool(o, "in_progress");

  /* Derived strings: host, event, cause. */
  const json_t *cause = json_object_get(o, "cause");
  char *cause_text = cause ? json_dumps(cause, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  size_t nm = r->name ? strlen(r->name) : 0, on = r->operation ? strlen(r->operation) : 0;
  size_t un = r->http_url ? strlen(r->http_url) : 0, gn = r->origin ? strlen(r->origin) : 0;
  size_t cn = cause_text ? strlen(cause_text) : 0;
  size_t need = 2 * un + 2 * nm + on + gn + cn + 64;
  if (need > rd->acap) {
    char *a = realloc(rd->arena, need * 2);
    if (!a) {
      free(cause_text);
      return fg_errf(err, FG_ENOMEM, "%s: out of memory", rd->b.name);
    }
    rd->arena = a;
    rd->acap = need * 2;
  }
  char *sp = rd->arena;
  r->http_host = url_host(r->http_url, sp, un + 1);
  if (r->http_host) sp += strlen(sp) + 1;
  int remote = r->namespace_ && strcmp(r->namespace_, "remote") == 0;
  if (remote && !r->http_host && r->name) r->http_host = r->name;
  if (remote && !r->resource) r->resource = r->http_host;
  r->event = sp;
  if (r->operation || (r->namespace_ && strcmp(r->namespace_, "aws") == 0)) {
    /* Step Functions and API Gateway name their subsegments after the resource: then the
    ** resource's kind says the service. */
    static const char *const by_key[][2] = {{"function_name", "lambda"},
                                            {"table_name", "dynamodb"},
                                            {"bucket_name", "s3"},
                                            {"queue_url", "sqs"},
                                            {"topic_arn", "sns"},
                                            {"state_machine_arn", "states"},
                                            {"stream_name", "kinesis"},
                                            {"secret_id", "secretsmanager"},
                                            {NULL, NULL}};
    if (!known_service(r->name ? r->name : "", sp)) {
      for (int i = 0; by_key[i][0]; i++) {
        if (json_object_get(aws, by_key[i][0])) {
          strcpy(sp, by_key[i][1]);
          break;
        }
      }
    }
    size_t k = strlen(sp);
    sp[k] = ':';
    if (on) memcpy(sp + k + 1, r->operation, on);
    sp[k + 1 + on] = 0;
  } else if (remote) {
    strcpy(sp, "http:");
    if (r->http_host) strcat(sp, r->http_host);
  } else if (nd.depth == 0) {
    strcpy(sp, "segment:");
    if (r->origin) {
      strcat(sp, r->origin);
    } else if (r->name) {
      strcat(sp, r->name);
    }
  } else if (nd.depth == 1 && rd->function && r->name &&
             (strcmp(r->name, "Initialization") == 0 || strcmp(r->name, "Invocation") == 0 ||
              strcmp(r->name, "Overhead") == 0 || strcmp(r->name, "Restore") == 0)) {
    strcpy(sp, "lambda:");
    strcat(sp, r->name);
  } else {
    strcpy(sp, "local:");
    if (r->name) strcat(sp, r->name);
  }
  sp += strlen(sp) + 1;
  if (cause_text) {
    memcpy(sp, cause_text, cn + 1);
    r->cause = sp;
    free(cause_text);
  }

  /* Children, pushed in reverse so they come out in document order. */
  const json_t *subs = json_object_get(o, "subsegments");
  if (json_is_array(subs) && json_array_size(subs) > 0) {
    if (nd.depth + 1 > XR_MAX_DEPTH) {
      rd->resume = 1;
      return fg_errf(err, FG_ECORRUPT, "%s: segment %s: subsegments nested too deeply", rd->b.name,
                     r->id ? r->id : "?");
    }
    for (size_t i = json_array_size(subs); i-- > 0;) {
      json_t *c = json_array_get(subs, i);
      if (json_is_object(c) && push(rd, c, nd.depth + 1, r->id)) {
        return fg_errf(err, FG_ENOMEM, "%s: out of memory", rd->b.name);
      }
    }
  }
  return FG_OK;
}

/* ---- reader -------------------------------------------------------------------------------- */

int xr_open(xr_reader **out, const char *path, const char *text, size_t n, const char *label,
            fg_err *err) {
  *out = NULL;
  xr_reader *rd = calloc(1, sizeof *rd);
  if (!rd) return fg_errf(err, FG_ENOMEM, "out of memory");
  int rc =
      path ? lr_buf_open_file(&rd->b, path, err) : lr_buf_open_mem(&rd->b, text, n, label, err);
  if (rc) {
    free(rd);
    return rc;
  }
  jdoc_init(&rd->d, &rd->b, doc_keys, NULL, NULL);
  *out = rd;
  return FG_OK;
}

void xr_close(xr_reader *rd) {
  if (!rd) return;
  free_doc(rd);
  json_decref(rd->trace);
  json_decref(rd->traces);
  lr_buf_close(&rd->b);
  free(rd->stack);
  free(rd->arena);
  free(rd);
}

/* Takes the next segment of the current trace; 1 if a document was started, 0 if the trace
** is done, -code on error. */
static int next_segment(xr_reader *rd, fg_err *err) {
  const json_t *segs = json_object_get(rd->trace, "Segments");
  const char *tid = jstr(rd->trace, "Id");
  while (rd->seg_i < json_array_size(segs)) {
    size_t i = rd->seg_i++;
    const json_t *seg = json_array_get(segs, i);
    const json_t *docv = json_object_get(seg, "Document");
    json_t *doc = NULL;
    json_error_t je;
    const char *what = "no Document string";
    if (json_is_string(docv)) {
      doc = json_loadb(json_string_value(docv), json_string_length(docv), 0, &je);
      if (!doc) {
        rd->ndocs++;
        rd->resume = 1;
        return -fg_errf(err, FG_ECORRUPT, "%s: trace %s, segment %zu: Document:%d:%d: %s",
                        rd->b.name, tid ? tid : "?", i, je.line, je.column, je.text);
      }
      what = "Document is not a JSON object";
    } else if (json_is_object(docv)) { /* already decoded by some tool */
      doc = json_incref((json_t *)docv);
    }
    if (!json_is_object(doc)) {
      json_decref(doc);
      rd->ndocs++;
      rd->resume = 1;
      return -fg_errf(err, FG_ECORRUPT, "%s: trace %s, segment %zu: %s", rd->b.name,
                      tid ? tid : "?", i, what);
    }
    if (start_doc(rd, doc, tid)) return -fg_errf(err, FG_ENOMEM, "%s: out of memory", rd->b.name);
    return 1;
  }
  json_decref(rd->trace);
  rd->trace = NULL;
  return 0;
}

/* Classifies one JSON value of the input: a trace, a segment document, a container of traces. */
static int take_value(xr_reader *rd, json_t *o, fg_err *err) {
  if (json_is_object(o)) {
    const json_t *traces = json_object_get(o, "Traces");
    if (json_is_array(json_object_get(o, "Segments"))) {
      rd->trace = o;
      rd->seg_i = 0;
      return 0;
    }
    if (json_is_array(traces)) {
      rd->traces = json_incref((json_t *)traces);
      rd->traces_i = 0;
      json_decref(o);
      return 0;
    }
    if (json_object_get(o, "id") || json_object_get(o, "trace_id")) {
      if (start_doc(rd, o, NULL)) return -fg_errf(err, FG_ENOMEM, "%s: out of memory", rd->b.name);
      return 0;
    }
    if (json_object_get(o, "format") && json_object_get(o, "version")) { /* daemon header */
      json_decref(o);
      return 0;
    }
  }
  json_decref(o);
  rd->resume = 1;
  return -fg_errf(err, FG_ECORRUPT,
                  "%s: value %lld: not an X-Ray trace or segment document (no Segments, Traces, id "
                  "or trace_id)",
                  rd->b.name, rd->ndocs++);
}

int xr_next(xr_reader *rd, const xr_record **rec, fg_err *err) {
  rd->resume = 0;
  *rec = &rd->rec;
  for (;;) {
    if (rd->nstack > 0) {
      int rc = emit(rd, err);
      return rc ? -rc : 1;
    }
    free_doc(rd);
    if (rd->trace) {
      int rc = next_segment(rd, err);
      if (rc != 0) {
        if (rc < 0) return rc;
        continue;
      }
    }
    if (rd->traces) {
      if (rd->traces_i < json_array_size(rd->traces)) {
        json_t *t = json_incref(json_array_get(rd->traces, rd->traces_i++));
        int rc = take_value(rd, t, err);
        if (rc < 0) return rc;
        continue;
      }
      json_decref(rd->traces);
      rd->traces = NULL;
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
    json_t *o = json_loadb(v.s, v.n, JSON_DECODE_ANY, &je);
    if (!o) {
      long long line, col;
      lr_buf_where(&rd->b, (size_t)(v.s - rd->b.buf), &line, &col);
      rd->resume = 1;
      return -fg_errf(err, FG_ECORRUPT, "%s:%lld:%lld: %s", rd->b.name, line + je.line - 1,
                      je.line == 1 ? col + je.column - 1 : je.column, je.text);
    }
    rc = take_value(rd, o, err);
    if (rc < 0) return rc;
  }
}

int xr_resume(xr_reader *rd) {
  if (rd->resume == 1) return 1;
  if (rd->resume == 2) return jdoc_resync(&rd->d);
  return 0;
}
