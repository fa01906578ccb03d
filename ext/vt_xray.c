/*
** vt_xray.c — xray_segments(): X-Ray segments and subsegments as rows.
**
**   SELECT trace_id, depth, event, resource, duration_ms, fault, error, throttle
**     FROM xray_segments('logs/xray');                 -- file, directory (recursive) or glob
**   SELECT * FROM xray_segments('traces/2026-*.json.gz', 1);              -- 1 = skip_errors
**   SELECT event FROM xray_segments_json('{"id":"70de5b6f19ff9a0a","name":"f",
**     "trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.0,"end_time":2.0}');
**
** Eponymous-only virtual tables (table-valued functions), each as if it were
**
**   CREATE TABLE xray_segments(
**     ts INTEGER,               -- start_time as unix ms
**     trace_id TEXT, id TEXT,
**     parent_id TEXT,           -- the enclosing (sub)segment, or the document's parent_id
**     segment_id TEXT,          -- id of the top segment of the document
**     depth INTEGER,            -- 0 for a segment, +1 per level of subsegments
**     type TEXT,                -- segment / subsegment
**     name TEXT, namespace TEXT, origin TEXT,
**     event TEXT,               -- dynamodb:PutItem, http:api.stripe.com, … (core/xray.h)
**     operation TEXT,           -- aws.operation
**     resource TEXT,            -- table, bucket, queue, topic, function, … (core/xray.h)
**     request_id TEXT,          -- aws.request_id (the AWS request id of the call; for an
**                               -- AWS::Lambda segment, the invocation's request id)
**     function TEXT,            -- the Lambda function whose segment this is (or is under)
**     aws_region TEXT, account_id TEXT,
**     http_url TEXT, http_host TEXT, http_method TEXT, http_status INTEGER,
**     start REAL, end REAL,     -- epoch seconds, as given
**     duration_ms REAL,         -- (end - start) * 1000
**     fault INTEGER, error INTEGER, throttle INTEGER, in_progress INTEGER,  -- 1/0
**     cause TEXT,               -- JSON text of cause
**     file TEXT,                -- input file (or 'json')
**     record_index INTEGER,     -- 0-based position of the segment document in its file
**     input_error TEXT,         -- NULL; with skip_errors, why this input could not be read
**     path HIDDEN,              -- argument 1 (xray_segments_json: `json`, the text)
**     skip_errors HIDDEN        -- argument 2, optional: 1 = report bad input as rows
**   );
**
** Formats and derived columns: core/xray.h. Paths and bad input: core/logreader.h,
** core/ingest.h. Errors read "xray_segments: FILE:LINE:COL: …" for malformed JSON, "…: trace T,
** segment N: Document:L:C: …" for a malformed Document string, "…: truncated gzip file".
**
** Security: xray_segments() reads files, so it is SQLITE_VTAB_DIRECTONLY (a view or trigger in
** a database from someone else must not read the analyst's files; csv.c's reason).
** xray_segments_json() reads no file and keeps the default flags (not audited for INNOCUOUS).
*/
#include "fg_ext.h"

#include <math.h>
#include <string.h>

#include "ingest.h"
#include "xray.h"

#define XRC_TS 0
#define XRC_TRACE_ID 1
#define XRC_ID 2
#define XRC_PARENT_ID 3
#define XRC_SEGMENT_ID 4
#define XRC_DEPTH 5
#define XRC_TYPE 6
#define XRC_NAME 7
#define XRC_NAMESPACE 8
#define XRC_ORIGIN 9
#define XRC_EVENT 10
#define XRC_OPERATION 11
#define XRC_RESOURCE 12
#define XRC_REQUEST_ID 13
#define XRC_FUNCTION 14
#define XRC_AWS_REGION 15
#define XRC_ACCOUNT_ID 16
#define XRC_HTTP_URL 17
#define XRC_HTTP_HOST 18
#define XRC_HTTP_METHOD 19
#define XRC_HTTP_STATUS 20
#define XRC_START 21
#define XRC_END 22
#define XRC_DURATION_MS 23
#define XRC_FAULT 24
#define XRC_ERROR 25
#define XRC_THROTTLE 26
#define XRC_IN_PROGRESS 27
#define XRC_CAUSE 28
#define XRC_FILE 29
#define XRC_RECORD_INDEX 30
#define XRC_INPUT_ERROR 31
#define XRC_PATH 32 /* hidden: argument 1 (path, or json text) */
#define XRC_SKIP_ERRORS 33

#define XR_COLUMNS                                                                               \
  "ts INTEGER, trace_id TEXT, id TEXT, parent_id TEXT, segment_id TEXT, depth INTEGER, "         \
  "type TEXT, name TEXT, namespace TEXT, origin TEXT, event TEXT, operation TEXT, "              \
  "resource TEXT, request_id TEXT, function TEXT, aws_region TEXT, account_id TEXT, "            \
  "http_url TEXT, http_host TEXT, http_method TEXT, http_status INTEGER, start REAL, end REAL, " \
  "duration_ms REAL, fault INTEGER, error INTEGER, throttle INTEGER, in_progress INTEGER, "      \
  "cause TEXT, file TEXT, record_index INTEGER, input_error TEXT, "

typedef struct xr_vtab {
  sqlite3_vtab base; /* base class, first */
  int json_form;     /* 1: xray_segments_json */
} xr_vtab;

typedef struct xr_cursor {
  sqlite3_vtab_cursor base; /* base class, first */
  ig_iter it;               /* inputs, reader, current item */
  int started;              /* it needs ig_end */
  int eof;                  /* no more rows */
  sqlite3_int64 rowid;      /* 1, 2, … */
  char *text;               /* json form: a copy of the argument */
} xr_cursor;

static const char *module_name(const xr_vtab *t) {
  return t->json_form ? "xray_segments_json" : "xray_segments";
}

static int op_open(void **rd, const char *path, const char *text, size_t n, const char *label,
                   fg_err *err) {
  return xr_open((xr_reader **)rd, path, text, n, label, err);
}
static int op_next(void *rd, const void **rec, fg_err *err) {
  const xr_record *r;
  int rc = xr_next(rd, &r, err);
  *rec = r;
  return rc;
}
static int op_resume(void *rd) { return xr_resume(rd); }
static void op_close(void *rd) { xr_close(rd); }
static const ig_ops xr_ops = {op_open, op_next, op_resume, op_close};

static int xrConnect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **ppVtab, char **pzErr) {
  int json_form = aux != NULL;
  int rc = sqlite3_declare_vtab(
      db, json_form ? "CREATE TABLE x(" XR_COLUMNS "json HIDDEN, skip_errors HIDDEN)"
                    : "CREATE TABLE x(" XR_COLUMNS "path HIDDEN, skip_errors HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  /* Reads files: never from a view, trigger or CHECK of a database someone else wrote. */
  if (!json_form) sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  xr_vtab *t = sqlite3_malloc(sizeof *t);
  if (!t) return SQLITE_NOMEM;
  memset(t, 0, sizeof *t);
  t->json_form = json_form;
  *ppVtab = &t->base;
  return SQLITE_OK;
}

static int xrDisconnect(sqlite3_vtab *vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

static int xrOpen(sqlite3_vtab *vtab, sqlite3_vtab_cursor **ppCursor) {
  xr_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *ppCursor = &c->base;
  return SQLITE_OK;
}

static void reset(xr_cursor *c) {
  if (c->started) ig_end(&c->it);
  c->started = 0;
  sqlite3_free(c->text);
  c->text = NULL;
}

static int xrClose(sqlite3_vtab_cursor *cur) {
  reset((xr_cursor *)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int set_error(xr_cursor *c, const fg_err *err) {
  xr_vtab *t = (xr_vtab *)c->base.pVtab;
  if (err->code == FG_ENOMEM) return SQLITE_NOMEM;
  sqlite3_free(t->base.zErrMsg);
  t->base.zErrMsg = sqlite3_mprintf("%s: %s", module_name(t), err->msg);
  return SQLITE_ERROR;
}

static int xrNext(sqlite3_vtab_cursor *cur) {
  xr_cursor *c = (xr_cursor *)cur;
  fg_err err;
  fg_err_clear(&err);
  int rc = ig_next(&c->it, &err);
  if (rc < 0) return set_error(c, &err);
  c->eof = rc == 0;
  c->rowid++;
  return SQLITE_OK;
}

/*
** xFilter. idxNum bit 1: a skip_errors argument follows the first; bit 2: no argument was
** given (an error). argv[0] is the path (or JSON text), argv[1] skip_errors. A NULL first
** argument gives no rows.
*/
static int xrFilter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                    sqlite3_value **argv) {
  xr_cursor *c = (xr_cursor *)cur;
  xr_vtab *t = (xr_vtab *)cur->pVtab;
  reset(c);
  c->eof = 1;
  c->rowid = 0;
  if (idxNum & 2) {
    sqlite3_free(t->base.zErrMsg);
    t->base.zErrMsg = sqlite3_mprintf(
        "%s: missing argument: %s", module_name(t),
        t->json_form ? "json (the JSON text to read)" : "path (a file, directory or glob)");
    return SQLITE_ERROR;
  }
  if (argc < 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL) return SQLITE_OK;
  int skip = (idxNum & 1) && argc > 1 ? sqlite3_value_int(argv[1]) != 0 : 0;
  const char *arg = (const char *)sqlite3_value_text(argv[0]);
  if (!arg) return SQLITE_NOMEM;
  fg_err err;
  fg_err_clear(&err);
  int rc;
  if (t->json_form) {
    int n = sqlite3_value_bytes(argv[0]);
    c->text = sqlite3_malloc(n + 1);
    if (!c->text) return SQLITE_NOMEM;
    memcpy(c->text, arg, (size_t)n + 1);
    rc = ig_start(&c->it, &xr_ops, NULL, c->text, (size_t)n, "json", skip, &err);
  } else {
    rc = ig_start(&c->it, &xr_ops, arg, NULL, 0, NULL, skip, &err);
  }
  c->started = 1;
  if (rc != FG_OK) return set_error(c, &err);
  return xrNext(cur);
}

static int xrEof(sqlite3_vtab_cursor *cur) { return ((xr_cursor *)cur)->eof; }

static int xrRowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid) {
  *pRowid = ((xr_cursor *)cur)->rowid;
  return SQLITE_OK;
}

static void result_str(sqlite3_context *ctx, const char *s) {
  if (s) sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
}

static int xrColumn(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  xr_cursor *c = (xr_cursor *)cur;
  const xr_record *r = c->it.rec;
  if (col == XRC_FILE) {
    sqlite3_result_text(ctx, c->it.file, -1, SQLITE_TRANSIENT);
    return SQLITE_OK;
  }
  if (!r) {
    if (col == XRC_INPUT_ERROR) sqlite3_result_text(ctx, c->it.error, -1, SQLITE_TRANSIENT);
    return SQLITE_OK;
  }
  switch (col) {
    case XRC_TS:
      if (!isnan(r->start)) sqlite3_result_int64(ctx, (sqlite3_int64)llround(r->start * 1000.0));
      break;
    case XRC_TRACE_ID:
      result_str(ctx, r->trace_id);
      break;
    case XRC_ID:
      result_str(ctx, r->id);
      break;
    case XRC_PARENT_ID:
      result_str(ctx, r->parent_id);
      break;
    case XRC_SEGMENT_ID:
      result_str(ctx, r->segment_id);
      break;
    case XRC_DEPTH:
      sqlite3_result_int(ctx, r->depth);
      break;
    case XRC_TYPE:
      result_str(ctx, r->type);
      break;
    case XRC_NAME:
      result_str(ctx, r->name);
      break;
    case XRC_NAMESPACE:
      result_str(ctx, r->namespace_);
      break;
    case XRC_ORIGIN:
      result_str(ctx, r->origin);
      break;
    case XRC_EVENT:
      result_str(ctx, r->event);
      break;
    case XRC_OPERATION:
      result_str(ctx, r->operation);
      break;
    case XRC_RESOURCE:
      result_str(ctx, r->resource);
      break;
    case XRC_REQUEST_ID:
      result_str(ctx, r->request_id);
      break;
    case XRC_FUNCTION:
      result_str(ctx, r->function);
      break;
    case XRC_AWS_REGION:
      result_str(ctx, r->region);
      break;
    case XRC_ACCOUNT_ID:
      result_str(ctx, r->account_id);
      break;
    case XRC_HTTP_URL:
      result_str(ctx, r->http_url);
      break;
    case XRC_HTTP_HOST:
      result_str(ctx, r->http_host);
      break;
    case XRC_HTTP_METHOD:
      result_str(ctx, r->http_method);
      break;
    case XRC_HTTP_STATUS:
      if (r->http_status >= 0) sqlite3_result_int(ctx, r->http_status);
      break;
    case XRC_START:
      if (!isnan(r->start)) sqlite3_result_double(ctx, r->start);
      break;
    case XRC_END:
      if (!isnan(r->end)) sqlite3_result_double(ctx, r->end);
      break;
    case XRC_DURATION_MS:
      if (!isnan(r->start) && !isnan(r->end)) {
        /* Rounded to the microsecond X-Ray records, so that 0.1 + 0.2 noise does not show. */
        sqlite3_result_double(ctx, round((r->end - r->start) * 1e6) / 1e3);
      }
      break;
    case XRC_FAULT:
      sqlite3_result_int(ctx, r->fault);
      break;
    case XRC_ERROR:
      sqlite3_result_int(ctx, r->error);
      break;
    case XRC_THROTTLE:
      sqlite3_result_int(ctx, r->throttle);
      break;
    case XRC_IN_PROGRESS:
      sqlite3_result_int(ctx, r->in_progress);
      break;
    case XRC_CAUSE:
      if (r->cause) {
        sqlite3_result_text(ctx, r->cause, -1, SQLITE_TRANSIENT);
        sqlite3_result_subtype(ctx, 'J');
      }
      break;
    case XRC_RECORD_INDEX:
      sqlite3_result_int64(ctx, r->index);
      break;
    default:
      break; /* input_error, path, skip_errors: NULL */
  }
  return SQLITE_OK;
}

/*
** xBestIndex. The first argument (path / json, column XRC_PATH) is required: without any
** constraint on it the plan gets idxNum 2 and a prohibitive cost (xFilter then fails with
** "missing argument"); with an unusable one SQLITE_CONSTRAINT rejects the plan.
** skip_errors (XRC_SKIP_ERRORS) is optional. Output: argv[0] = first argument, argv[1] =
** skip_errors when idxNum bit 1 is set.
*/
static int xrBestIndex(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  int iArg = -1, iSkip = -1, unusable = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *k = &info->aConstraint[i];
    if (k->iColumn != XRC_PATH && k->iColumn != XRC_SKIP_ERRORS) continue;
    if (k->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!k->usable) {
      if (k->iColumn == XRC_PATH) unusable = 1;
      continue;
    }
    if (k->iColumn == XRC_PATH)
      iArg = i;
    else
      iSkip = i;
  }
  if (iArg < 0) {
    if (unusable) return SQLITE_CONSTRAINT;
    /* No argument at all. Not an error here: the planner also asks about partial constraint
    ** sets (OR terms); a plan this expensive is only chosen when nothing better exists, and
    ** then xFilter reports the missing argument. */
    info->idxNum = 2;
    info->estimatedCost = 1e300;
    info->estimatedRows = 1;
    return SQLITE_OK;
  }
  info->aConstraintUsage[iArg].argvIndex = 1;
  info->aConstraintUsage[iArg].omit = 1;
  info->idxNum = 0;
  if (iSkip >= 0) {
    info->aConstraintUsage[iSkip].argvIndex = 2;
    info->aConstraintUsage[iSkip].omit = 1;
    info->idxNum |= 1;
  }
  info->estimatedCost = 1e6;
  info->estimatedRows = 100000;
  return SQLITE_OK;
}

static sqlite3_module xr_module = {
    0,            /* iVersion */
    0,            /* xCreate: eponymous only */
    xrConnect,    /* xConnect */
    xrBestIndex,  /* xBestIndex */
    xrDisconnect, /* xDisconnect */
    0,            /* xDestroy */
    xrOpen,       /* xOpen */
    xrClose,      /* xClose */
    xrFilter,     /* xFilter */
    xrNext,       /* xNext */
    xrEof,        /* xEof */
    xrColumn,     /* xColumn */
    xrRowid,      /* xRowid */
    0,
    0,
    0,
    0,
    0, /* xUpdate, xBegin, xSync, xCommit, xRollback */
    0,
    0,
    0,
    0,
    0, /* xFindFunction, xRename, xSavepoint, xRelease, xRollbackTo */
    0, /* xShadowName */
};

int fg_register_xray(sqlite3 *db) {
  static int json_tag;
  int rc = sqlite3_create_module(db, "xray_segments", &xr_module, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_module(db, "xray_segments_json", &xr_module, &json_tag);
  return rc;
}
