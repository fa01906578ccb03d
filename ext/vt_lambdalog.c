/*
** vt_lambdalog.c — lambda_log_events(): CloudWatch Logs of Lambda functions as rows.
**
**   SELECT ts, function, request_id, type, duration_ms, cold_start
**     FROM lambda_log_events('logs/lambda')            -- file, directory (recursive) or glob
**    WHERE type = 'REPORT';
**   SELECT * FROM lambda_log_events('export.json.gz', 1);                 -- 1 = skip_errors
**   SELECT type, request_id FROM lambda_log_events_json(
**     '{"events":[{"logStreamName":"2026/01/05/[$LATEST]ab","timestamp":1767585839811,
**                  "message":"START RequestId: 51636ae2-f00d-448a-8dc1-376ad74e87ca Version:
*1"}]}');
**
** Eponymous-only virtual tables (table-valued functions), each as if it were
**
**   CREATE TABLE lambda_log_events(
**     ts INTEGER,              -- unix ms (event timestamp, line time prefix, or time in the line)
**     function TEXT,           -- from the log group /aws/lambda/NAME, else from the path
**     log_group TEXT,          -- when the data names it
**     log_stream TEXT,
**     request_id TEXT,         -- explicit, or inferred within START..END of the stream
**     type TEXT,               -- START END REPORT INIT_START INIT_REPORT RUNTIME_DONE XRAY
**                              -- TIMEOUT LOG … (core/lambdalog.h)
**     level TEXT,              -- application lines: INFO, WARN, ERROR, …
**     duration_ms REAL, billed_ms INTEGER, memory_mb INTEGER, max_memory_mb INTEGER,
**     init_ms REAL,            -- Init Duration (REPORT, INIT_REPORT)
**     cold_start INTEGER,      -- 1/0 on START, REPORT, RUNTIME_DONE rows; else NULL
**     status TEXT,             -- success / timeout / error / … (REPORT, RUNTIME_DONE,
**                              -- INIT_REPORT); 'timeout' on TIMEOUT rows
**     error_type TEXT,         -- Error Type / errorType
**     trace_id TEXT,           -- XRAY lines, JSON tracing Root, xray_trace_id
**     message TEXT,            -- the log event's message as stored (without a time prefix)
**     file TEXT,               -- input file (or 'json')
**     record_index INTEGER,    -- 0-based position of the event in its file
**     line INTEGER,            -- 1-based line number (line-by-line files), else NULL
**     input_error TEXT,        -- NULL; with skip_errors, why this input could not be read
**     path HIDDEN,             -- argument 1 (lambda_log_events_json: `json`, the text)
**     skip_errors HIDDEN       -- argument 2, optional: 1 = report bad input as rows
**   );
**
** Formats, and where function, log_stream, request_id and cold_start come from: see
** core/lambdalog.h. Paths and bad input: core/logreader.h, core/ingest.h. Errors read
** "lambda_log_events: FILE:LINE:COL: …" (malformed JSON documents), "…: truncated gzip file",
** "cannot open 'PATH': …". Text lines are never malformed: a line that is not a platform line
** or JSON is an application line (type LOG).
**
** Security: lambda_log_events() reads files, so it is SQLITE_VTAB_DIRECTONLY (a view or
** trigger in a database from someone else must not read the analyst's files; csv.c's reason).
** lambda_log_events_json() reads no file and keeps the default flags (not audited for
** INNOCUOUS).
*/
#include "fg_ext.h"

#include <math.h>
#include <string.h>

#include "ingest.h"
#include "lambdalog.h"

#define LLC_TS 0
#define LLC_FUNCTION 1
#define LLC_LOG_GROUP 2
#define LLC_LOG_STREAM 3
#define LLC_REQUEST_ID 4
#define LLC_TYPE 5
#define LLC_LEVEL 6
#define LLC_DURATION_MS 7
#define LLC_BILLED_MS 8
#define LLC_MEMORY_MB 9
#define LLC_MAX_MEMORY_MB 10
#define LLC_INIT_MS 11
#define LLC_COLD_START 12
#define LLC_STATUS 13
#define LLC_ERROR_TYPE 14
#define LLC_TRACE_ID 15
#define LLC_MESSAGE 16
#define LLC_FILE 17
#define LLC_RECORD_INDEX 18
#define LLC_LINE 19
#define LLC_INPUT_ERROR 20
#define LLC_PATH 21 /* hidden: argument 1 (path, or json text) */
#define LLC_SKIP_ERRORS 22

#define LL_COLUMNS                                                                                \
  "ts INTEGER, function TEXT, log_group TEXT, log_stream TEXT, request_id TEXT, type TEXT, "      \
  "level TEXT, duration_ms REAL, billed_ms INTEGER, memory_mb INTEGER, max_memory_mb INTEGER, "   \
  "init_ms REAL, cold_start INTEGER, status TEXT, error_type TEXT, trace_id TEXT, message TEXT, " \
  "file TEXT, record_index INTEGER, line INTEGER, input_error TEXT, "

typedef struct ll_vtab {
  sqlite3_vtab base; /* base class, first */
  int json_form;     /* 1: lambda_log_events_json */
} ll_vtab;

typedef struct ll_cursor {
  sqlite3_vtab_cursor base; /* base class, first */
  ig_iter it;               /* inputs, reader, current item */
  int started;              /* it needs ig_end */
  int eof;                  /* no more rows */
  sqlite3_int64 rowid;      /* 1, 2, … */
  char *text;               /* json form: a copy of the argument */
} ll_cursor;

static const char *module_name(const ll_vtab *t) {
  return t->json_form ? "lambda_log_events_json" : "lambda_log_events";
}

static int op_open(void **rd, const char *path, const char *text, size_t n, const char *label,
                   fg_err *err) {
  return ll_open((ll_reader **)rd, path, text, n, label, err);
}
static int op_next(void *rd, const void **rec, fg_err *err) {
  const ll_record *r;
  int rc = ll_next(rd, &r, err);
  *rec = r;
  return rc;
}
static int op_resume(void *rd) { return ll_resume(rd); }
static void op_close(void *rd) { ll_close(rd); }
static const ig_ops ll_ops = {op_open, op_next, op_resume, op_close};

static int llConnect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **ppVtab, char **pzErr) {
  int json_form = aux != NULL;
  int rc = sqlite3_declare_vtab(
      db, json_form ? "CREATE TABLE x(" LL_COLUMNS "json HIDDEN, skip_errors HIDDEN)"
                    : "CREATE TABLE x(" LL_COLUMNS "path HIDDEN, skip_errors HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  /* Reads files: never from a view, trigger or CHECK of a database someone else wrote. */
  if (!json_form) sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  ll_vtab *t = sqlite3_malloc(sizeof *t);
  if (!t) return SQLITE_NOMEM;
  memset(t, 0, sizeof *t);
  t->json_form = json_form;
  *ppVtab = &t->base;
  return SQLITE_OK;
}

static int llDisconnect(sqlite3_vtab *vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

static int llOpen(sqlite3_vtab *vtab, sqlite3_vtab_cursor **ppCursor) {
  ll_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *ppCursor = &c->base;
  return SQLITE_OK;
}

static void reset(ll_cursor *c) {
  if (c->started) ig_end(&c->it);
  c->started = 0;
  sqlite3_free(c->text);
  c->text = NULL;
}

static int llClose(sqlite3_vtab_cursor *cur) {
  reset((ll_cursor *)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int set_error(ll_cursor *c, const fg_err *err) {
  ll_vtab *t = (ll_vtab *)c->base.pVtab;
  if (err->code == FG_ENOMEM) return SQLITE_NOMEM;
  sqlite3_free(t->base.zErrMsg);
  t->base.zErrMsg = sqlite3_mprintf("%s: %s", module_name(t), err->msg);
  return SQLITE_ERROR;
}

static int llNext(sqlite3_vtab_cursor *cur) {
  ll_cursor *c = (ll_cursor *)cur;
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
static int llFilter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                    sqlite3_value **argv) {
  ll_cursor *c = (ll_cursor *)cur;
  ll_vtab *t = (ll_vtab *)cur->pVtab;
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
    rc = ig_start(&c->it, &ll_ops, NULL, c->text, (size_t)n, "json", skip, &err);
  } else {
    rc = ig_start(&c->it, &ll_ops, arg, NULL, 0, NULL, skip, &err);
  }
  c->started = 1;
  if (rc != FG_OK) return set_error(c, &err);
  return llNext(cur);
}

static int llEof(sqlite3_vtab_cursor *cur) { return ((ll_cursor *)cur)->eof; }

static int llRowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid) {
  *pRowid = ((ll_cursor *)cur)->rowid;
  return SQLITE_OK;
}

static void result_str(sqlite3_context *ctx, const char *s) {
  if (s) sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
}

static void result_real(sqlite3_context *ctx, double d) {
  if (!isnan(d)) sqlite3_result_double(ctx, d);
}

/* Megabytes and billed milliseconds are whole numbers in every Lambda log. */
static void result_whole(sqlite3_context *ctx, double d) {
  if (isnan(d)) return;
  if (d == (double)(sqlite3_int64)d) {
    sqlite3_result_int64(ctx, (sqlite3_int64)d);
  } else {
    sqlite3_result_double(ctx, d);
  }
}

static int llColumn(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  ll_cursor *c = (ll_cursor *)cur;
  const ll_record *r = c->it.rec;
  if (col == LLC_FILE) {
    sqlite3_result_text(ctx, c->it.file, -1, SQLITE_TRANSIENT);
    return SQLITE_OK;
  }
  if (!r) {
    if (col == LLC_INPUT_ERROR) sqlite3_result_text(ctx, c->it.error, -1, SQLITE_TRANSIENT);
    return SQLITE_OK;
  }
  switch (col) {
    case LLC_TS:
      if (r->has_ts) sqlite3_result_int64(ctx, r->ts);
      break;
    case LLC_FUNCTION:
      result_str(ctx, r->function);
      break;
    case LLC_LOG_GROUP:
      result_str(ctx, r->log_group);
      break;
    case LLC_LOG_STREAM:
      result_str(ctx, r->log_stream);
      break;
    case LLC_REQUEST_ID:
      result_str(ctx, r->request_id);
      break;
    case LLC_TYPE:
      result_str(ctx, r->type);
      break;
    case LLC_LEVEL:
      result_str(ctx, r->level);
      break;
    case LLC_DURATION_MS:
      result_real(ctx, r->duration_ms);
      break;
    case LLC_BILLED_MS:
      result_whole(ctx, r->billed_ms);
      break;
    case LLC_MEMORY_MB:
      result_whole(ctx, r->memory_mb);
      break;
    case LLC_MAX_MEMORY_MB:
      result_whole(ctx, r->max_memory_mb);
      break;
    case LLC_INIT_MS:
      result_real(ctx, r->init_ms);
      break;
    case LLC_COLD_START:
      if (r->cold_start >= 0) sqlite3_result_int(ctx, r->cold_start);
      break;
    case LLC_STATUS:
      result_str(ctx, r->status);
      break;
    case LLC_ERROR_TYPE:
      result_str(ctx, r->error_type);
      break;
    case LLC_TRACE_ID:
      result_str(ctx, r->trace_id);
      break;
    case LLC_MESSAGE:
      if (r->message) sqlite3_result_text(ctx, r->message, (int)r->message_n, SQLITE_TRANSIENT);
      break;
    case LLC_RECORD_INDEX:
      sqlite3_result_int64(ctx, r->index);
      break;
    case LLC_LINE:
      if (r->line > 0) sqlite3_result_int64(ctx, r->line);
      break;
    default:
      break; /* input_error, path, skip_errors: NULL */
  }
  return SQLITE_OK;
}

/*
** xBestIndex. The first argument (path / json, column LLC_PATH) is required: without any
** constraint on it the plan gets idxNum 2 and a prohibitive cost (xFilter then fails with
** "missing argument"); with an unusable one SQLITE_CONSTRAINT rejects the plan.
** skip_errors (LLC_SKIP_ERRORS) is optional. Output: argv[0] = first argument, argv[1] =
** skip_errors when idxNum bit 1 is set.
*/
static int llBestIndex(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  int iArg = -1, iSkip = -1, unusable = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *k = &info->aConstraint[i];
    if (k->iColumn != LLC_PATH && k->iColumn != LLC_SKIP_ERRORS) continue;
    if (k->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!k->usable) {
      if (k->iColumn == LLC_PATH) unusable = 1;
      continue;
    }
    if (k->iColumn == LLC_PATH)
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

static sqlite3_module ll_module = {
    0,            /* iVersion */
    0,            /* xCreate: eponymous only */
    llConnect,    /* xConnect */
    llBestIndex,  /* xBestIndex */
    llDisconnect, /* xDisconnect */
    0,            /* xDestroy */
    llOpen,       /* xOpen */
    llClose,      /* xClose */
    llFilter,     /* xFilter */
    llNext,       /* xNext */
    llEof,        /* xEof */
    llColumn,     /* xColumn */
    llRowid,      /* xRowid */
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

int fg_register_lambdalog(sqlite3 *db) {
  static int json_tag;
  int rc = sqlite3_create_module(db, "lambda_log_events", &ll_module, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_module(db, "lambda_log_events_json", &ll_module, &json_tag);
  }
  return rc;
}
