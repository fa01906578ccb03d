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
**
** This file holds what is Lambda's: the columns and how a record fills them. Arguments,
** planning, iteration, errors and registration are shared with the other ingestion tables
** (ext/vt_ingest.c).
*/
#include "vt_ingest.h"

#include <math.h>

#include "lambdalog.h"

/* Column numbers: LL_COLUMNS in order, then the hidden ones vt_ingest.c declares after them. */
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
#define LLC_PATH 21        /* hidden: argument 1 (path, or json text) */
#define LLC_SKIP_ERRORS 22 /* hidden: argument 2 */

#define LL_COLUMNS                                                                                \
  "ts INTEGER, function TEXT, log_group TEXT, log_stream TEXT, request_id TEXT, type TEXT, "      \
  "level TEXT, duration_ms REAL, billed_ms INTEGER, memory_mb INTEGER, max_memory_mb INTEGER, "   \
  "init_ms REAL, cold_start INTEGER, status TEXT, error_type TEXT, trace_id TEXT, message TEXT, " \
  "file TEXT, record_index INTEGER, line INTEGER, input_error TEXT"

/* ---- the reader, as ingest.h wants it ------------------------------------------------------ */

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

/* ---- columns ------------------------------------------------------------------------------ */

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

/* vi_def.column: every column but file, input_error and the arguments, for a record. */
static int llColumn(sqlite3_context *ctx, const void *rec, int col, vi_cursor *c) {
  const ll_record *r = rec;
  switch (col) {
    case LLC_TS:
      if (r->has_ts) sqlite3_result_int64(ctx, r->ts);
      break;
    case LLC_FUNCTION:
      vi_result_str(ctx, r->function);
      break;
    case LLC_LOG_GROUP:
      vi_result_str(ctx, r->log_group);
      break;
    case LLC_LOG_STREAM:
      vi_result_str(ctx, r->log_stream);
      break;
    case LLC_REQUEST_ID:
      vi_result_str(ctx, r->request_id);
      break;
    case LLC_TYPE:
      vi_result_str(ctx, r->type);
      break;
    case LLC_LEVEL:
      vi_result_str(ctx, r->level);
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
      vi_result_str(ctx, r->status);
      break;
    case LLC_ERROR_TYPE:
      vi_result_str(ctx, r->error_type);
      break;
    case LLC_TRACE_ID:
      vi_result_str(ctx, r->trace_id);
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
      break; /* NULL */
  }
  return SQLITE_OK;
}

static const vi_def ll_def = {
    "lambda_log_events",      /* name: reads files, DIRECTONLY */
    "lambda_log_events_json", /* json_name */
    LL_COLUMNS,               /* columns */
    NULL,                     /* extra_hidden */
    LLC_FILE,                 /* col_file */
    LLC_INPUT_ERROR,          /* col_input_error */
    LLC_PATH,                 /* col_path */
    &ll_ops,                  /* ops */
    llColumn,                 /* column */
};

int fg_register_lambdalog(sqlite3 *db) { return vi_register(db, &ll_def); }
