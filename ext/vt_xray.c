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
**
** This file holds what is X-Ray's: the columns and how a record fills them. Arguments,
** planning, iteration, errors and registration are shared with the other ingestion tables
** (ext/vt_ingest.c).
*/
#include "vt_ingest.h"

#include <math.h>

#include "xray.h"

/* Column numbers: XR_COLUMNS in order, then the hidden ones vt_ingest.c declares after them. */
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
#define XRC_PATH 32        /* hidden: argument 1 (path, or json text) */
#define XRC_SKIP_ERRORS 33 /* hidden: argument 2 */

#define XR_COLUMNS                                                                               \
  "ts INTEGER, trace_id TEXT, id TEXT, parent_id TEXT, segment_id TEXT, depth INTEGER, "         \
  "type TEXT, name TEXT, namespace TEXT, origin TEXT, event TEXT, operation TEXT, "              \
  "resource TEXT, request_id TEXT, function TEXT, aws_region TEXT, account_id TEXT, "            \
  "http_url TEXT, http_host TEXT, http_method TEXT, http_status INTEGER, start REAL, end REAL, " \
  "duration_ms REAL, fault INTEGER, error INTEGER, throttle INTEGER, in_progress INTEGER, "      \
  "cause TEXT, file TEXT, record_index INTEGER, input_error TEXT"

/* ---- the reader, as ingest.h wants it ------------------------------------------------------ */

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

/* ---- columns ------------------------------------------------------------------------------ */

/* vi_def.column: every column but file, input_error and the arguments, for a record. */
static int xrColumn(sqlite3_context *ctx, const void *rec, int col, vi_cursor *c) {
  const xr_record *r = rec;
  switch (col) {
    case XRC_TS:
      if (!isnan(r->start)) sqlite3_result_int64(ctx, (sqlite3_int64)llround(r->start * 1000.0));
      break;
    case XRC_TRACE_ID:
      vi_result_str(ctx, r->trace_id);
      break;
    case XRC_ID:
      vi_result_str(ctx, r->id);
      break;
    case XRC_PARENT_ID:
      vi_result_str(ctx, r->parent_id);
      break;
    case XRC_SEGMENT_ID:
      vi_result_str(ctx, r->segment_id);
      break;
    case XRC_DEPTH:
      sqlite3_result_int(ctx, r->depth);
      break;
    case XRC_TYPE:
      vi_result_str(ctx, r->type);
      break;
    case XRC_NAME:
      vi_result_str(ctx, r->name);
      break;
    case XRC_NAMESPACE:
      vi_result_str(ctx, r->namespace_);
      break;
    case XRC_ORIGIN:
      vi_result_str(ctx, r->origin);
      break;
    case XRC_EVENT:
      vi_result_str(ctx, r->event);
      break;
    case XRC_OPERATION:
      vi_result_str(ctx, r->operation);
      break;
    case XRC_RESOURCE:
      vi_result_str(ctx, r->resource);
      break;
    case XRC_REQUEST_ID:
      vi_result_str(ctx, r->request_id);
      break;
    case XRC_FUNCTION:
      vi_result_str(ctx, r->function);
      break;
    case XRC_AWS_REGION:
      vi_result_str(ctx, r->region);
      break;
    case XRC_ACCOUNT_ID:
      vi_result_str(ctx, r->account_id);
      break;
    case XRC_HTTP_URL:
      vi_result_str(ctx, r->http_url);
      break;
    case XRC_HTTP_HOST:
      vi_result_str(ctx, r->http_host);
      break;
    case XRC_HTTP_METHOD:
      vi_result_str(ctx, r->http_method);
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
      break; /* NULL */
  }
  return SQLITE_OK;
}

static const vi_def xr_def = {
    "xray_segments",      /* name: reads files, DIRECTONLY */
    "xray_segments_json", /* json_name */
    XR_COLUMNS,           /* columns */
    NULL,                 /* extra_hidden */
    XRC_FILE,             /* col_file */
    XRC_INPUT_ERROR,      /* col_input_error */
    XRC_PATH,             /* col_path */
    &xr_ops,              /* ops */
    xrColumn,             /* column */
};

int fg_register_xray(sqlite3 *db) { return vi_register(db, &xr_def); }
