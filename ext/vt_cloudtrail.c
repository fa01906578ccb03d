/*
** vt_cloudtrail.c — cloudtrail_events(): CloudTrail records as rows.
**
**   SELECT event_time, event, principal_arn, function
**     FROM cloudtrail_events('logs/AWSLogs/123456789012/CloudTrail');   -- file, directory or glob
**   SELECT count(*) FROM cloudtrail_events('trail/2024-*.json.gz', 1);        -- 1 = skip_errors
**   SELECT event FROM cloudtrail_events_json('{"Records":[{"eventSource":"s3.amazonaws.com",
**                                            "eventName":"GetObject"}]}');
**
** Both are eponymous-only virtual tables (table-valued functions). Each behaves as if it were
**
**   CREATE TABLE cloudtrail_events(
**     event_time TEXT,           -- eventTime as given
**     ts INTEGER,                -- eventTime as unix milliseconds (NULL if absent/unparsable)
**     event_source TEXT, event_name TEXT,
**     event TEXT,                -- "service:Name", e.g. lambda:UpdateFunctionCode (cloudtrail.h)
**     event_type TEXT, event_category TEXT, aws_region TEXT,
**     source_ip TEXT,            -- sourceIPAddress
**     user_agent TEXT,
**     identity_type TEXT,        -- userIdentity.type
**     principal_arn TEXT,        -- userIdentity.arn
**     principal_id TEXT, account_id TEXT, user_name TEXT,
**     role_arn TEXT,             -- userIdentity.sessionContext.sessionIssuer.arn
**     role_name TEXT,            -- ... .userName, else the role in the assumed-role ARN
**     session_name TEXT,         -- assumed-role session name
**     access_key_id TEXT, invoked_by TEXT, error_code TEXT, error_message TEXT,
**     read_only INTEGER, management_event INTEGER,   -- 1/0
**     request_id TEXT,           -- requestID
**     event_id TEXT,             -- eventID
**     recipient_account_id TEXT,
**     request_parameters TEXT, response_elements TEXT, resources TEXT,  -- JSON text
**     function TEXT,             -- Lambda function whose role made the call (rule: cloudtrail.h)
**     file TEXT,                 -- input file (or 'json')
**     record_index INTEGER,      -- 0-based position of the record in its file
**     input_error TEXT,          -- NULL; with skip_errors, why this input could not be read
**     path HIDDEN,               -- argument 1 (cloudtrail_events_json: `json`, the text)
**     skip_errors HIDDEN,        -- argument 2, optional: 1 = report bad input as rows
**     record HIDDEN              -- the whole record as JSON text, when selected
**   );
**
** Values: strings decoded; JSON objects/arrays as compact JSON text; true/false as 1/0; a
** missing member is NULL. Input shapes, streaming and the `function` rule: core/cloudtrail.h.
** Paths (file, directory, glob) and bad input: core/logreader.h and core/ingest.h. Errors read
** "cloudtrail_events: FILE:LINE:COL: what near 'text'", "...: truncated gzip file", "cannot
** open 'PATH': No such file or directory"; with skip_errors = 1 each becomes a row whose
** `input_error` column holds it (file set, other columns NULL), and reading goes on.
**
** Security: cloudtrail_events() reads any file the process can read, so it is
** SQLITE_VTAB_DIRECTONLY: a database handed to an analyst could otherwise carry a view or
** trigger that reads the analyst's files when queried (the reason csv.c gives). It is usable in
** statements the analyst types, not from the schema. cloudtrail_events_json() reads no file and
** keeps the default (neither DIRECTONLY nor INNOCUOUS: it has not been audited for hostile use).
**
** This file holds what is CloudTrail's: the columns and how a record fills them. Arguments,
** planning, iteration, errors and registration are shared with the other ingestion tables
** (ext/vt_ingest.c).
*/
#include "vt_ingest.h"

#include "cloudtrail.h"

/* Column numbers: CT_COLUMNS in order, then the hidden ones vt_ingest.c declares after them. */
#define CTC_EVENT_TIME 0
#define CTC_TS 1
#define CTC_EVENT_SOURCE 2
#define CTC_EVENT_NAME 3
#define CTC_EVENT 4
#define CTC_EVENT_TYPE 5
#define CTC_EVENT_CATEGORY 6
#define CTC_AWS_REGION 7
#define CTC_SOURCE_IP 8
#define CTC_USER_AGENT 9
#define CTC_IDENTITY_TYPE 10
#define CTC_PRINCIPAL_ARN 11
#define CTC_PRINCIPAL_ID 12
#define CTC_ACCOUNT_ID 13
#define CTC_USER_NAME 14
#define CTC_ROLE_ARN 15
#define CTC_ROLE_NAME 16
#define CTC_SESSION_NAME 17
#define CTC_ACCESS_KEY_ID 18
#define CTC_INVOKED_BY 19
#define CTC_ERROR_CODE 20
#define CTC_ERROR_MESSAGE 21
#define CTC_READ_ONLY 22
#define CTC_MANAGEMENT_EVENT 23
#define CTC_REQUEST_ID 24
#define CTC_EVENT_ID 25
#define CTC_RECIPIENT_ACCOUNT_ID 26
#define CTC_REQUEST_PARAMETERS 27
#define CTC_RESPONSE_ELEMENTS 28
#define CTC_RESOURCES 29
#define CTC_FUNCTION 30
#define CTC_FILE 31
#define CTC_RECORD_INDEX 32
#define CTC_INPUT_ERROR 33
#define CTC_PATH 34        /* hidden: argument 1 (path, or json text) */
#define CTC_SKIP_ERRORS 35 /* hidden: argument 2 */
#define CTC_RECORD 36      /* hidden: ct_def.extra_hidden */

#define CT_COLUMNS                                                                               \
  "event_time TEXT, ts INTEGER, event_source TEXT, event_name TEXT, event TEXT, "                \
  "event_type TEXT, event_category TEXT, aws_region TEXT, source_ip TEXT, user_agent TEXT, "     \
  "identity_type TEXT, principal_arn TEXT, principal_id TEXT, account_id TEXT, user_name TEXT, " \
  "role_arn TEXT, role_name TEXT, session_name TEXT, access_key_id TEXT, invoked_by TEXT, "      \
  "error_code TEXT, error_message TEXT, read_only INTEGER, management_event INTEGER, "           \
  "request_id TEXT, event_id TEXT, recipient_account_id TEXT, request_parameters TEXT, "         \
  "response_elements TEXT, resources TEXT, function TEXT, file TEXT, record_index INTEGER, "     \
  "input_error TEXT"

/* Which raw member each plain column shows (-1: computed in ctColumn). */
static const signed char column_field[] = {
    [CTC_EVENT_TIME] = CT_F_EVENT_TIME,
    [CTC_TS] = -1,
    [CTC_EVENT_SOURCE] = CT_F_EVENT_SOURCE,
    [CTC_EVENT_NAME] = CT_F_EVENT_NAME,
    [CTC_EVENT] = -1,
    [CTC_EVENT_TYPE] = CT_F_EVENT_TYPE,
    [CTC_EVENT_CATEGORY] = CT_F_EVENT_CATEGORY,
    [CTC_AWS_REGION] = CT_F_AWS_REGION,
    [CTC_SOURCE_IP] = CT_F_SOURCE_IP,
    [CTC_USER_AGENT] = CT_F_USER_AGENT,
    [CTC_IDENTITY_TYPE] = CT_F_UI_TYPE,
    [CTC_PRINCIPAL_ARN] = CT_F_UI_ARN,
    [CTC_PRINCIPAL_ID] = CT_F_UI_PRINCIPAL_ID,
    [CTC_ACCOUNT_ID] = CT_F_UI_ACCOUNT_ID,
    [CTC_USER_NAME] = CT_F_UI_USER_NAME,
    [CTC_ROLE_ARN] = CT_F_UI_ISSUER_ARN,
    [CTC_ROLE_NAME] = -1,
    [CTC_SESSION_NAME] = -1,
    [CTC_ACCESS_KEY_ID] = CT_F_UI_ACCESS_KEY_ID,
    [CTC_INVOKED_BY] = CT_F_UI_INVOKED_BY,
    [CTC_ERROR_CODE] = CT_F_ERROR_CODE,
    [CTC_ERROR_MESSAGE] = CT_F_ERROR_MESSAGE,
    [CTC_READ_ONLY] = CT_F_READ_ONLY,
    [CTC_MANAGEMENT_EVENT] = CT_F_MANAGEMENT_EVENT,
    [CTC_REQUEST_ID] = CT_F_REQUEST_ID,
    [CTC_EVENT_ID] = CT_F_EVENT_ID,
    [CTC_RECIPIENT_ACCOUNT_ID] = CT_F_RECIPIENT_ACCOUNT,
    [CTC_REQUEST_PARAMETERS] = CT_F_REQUEST_PARAMETERS,
    [CTC_RESPONSE_ELEMENTS] = CT_F_RESPONSE_ELEMENTS,
    [CTC_RESOURCES] = CT_F_RESOURCES,
};

/* ---- the reader, as ingest.h wants it ------------------------------------------------------ */

static int op_open(void **rd, const char *path, const char *text, size_t n, const char *label,
                   fg_err *err) {
  return ct_open((ct_reader **)rd, path, text, n, label, err);
}
static int op_next(void *rd, const void **rec, fg_err *err) {
  const ct_record *r;
  int rc = ct_next(rd, &r, err);
  *rec = r;
  return rc;
}
static int op_resume(void *rd) { return ct_resume(rd); }
static void op_close(void *rd) { ct_close(rd); }
static const ig_ops ct_ops = {op_open, op_next, op_resume, op_close};

/* ---- columns ------------------------------------------------------------------------------ */

static void result_text(sqlite3_context *ctx, const ct_text *t) {
  if (t->s) {
    sqlite3_result_text(ctx, t->s, (int)t->n, SQLITE_TRANSIENT);
  } else {
    sqlite3_result_null(ctx);
  }
}

/* A member as SQL: strings decoded, objects/arrays compact JSON (subtype 'J', as JSON1 does),
** true/false 1/0 (also the strings "true"/"false" when `boolean`), numbers as numbers. */
static int result_value(sqlite3_context *ctx, vi_cursor *c, const jval *v, int boolean) {
  char *buf;
  size_t n;
  int64_t i;
  switch (v->type) {
    case JV_TRUE:
      sqlite3_result_int(ctx, 1);
      break;
    case JV_FALSE:
      sqlite3_result_int(ctx, 0);
      break;
    case JV_NUM:
      if (js_int64(v, &i)) {
        sqlite3_result_int64(ctx, i);
      } else {
        sqlite3_result_double(ctx, js_double(v));
      }
      break;
    case JV_STR:
      if (boolean && JS_EQ(v, "true")) {
        sqlite3_result_int(ctx, 1);
      } else if (boolean && JS_EQ(v, "false")) {
        sqlite3_result_int(ctx, 0);
      } else if (!v->flag) {
        sqlite3_result_text(ctx, v->s, (int)v->n, SQLITE_TRANSIENT);
      } else {
        if (!(buf = vi_scratch(c, v->n))) return SQLITE_NOMEM;
        n = js_unescape(v, buf);
        sqlite3_result_text(ctx, buf, (int)n, SQLITE_TRANSIENT);
      }
      break;
    case JV_OBJ:
    case JV_ARR:
      if (!v->flag) {
        sqlite3_result_text(ctx, v->s, (int)v->n, SQLITE_TRANSIENT);
      } else {
        if (!(buf = vi_scratch(c, v->n))) return SQLITE_NOMEM;
        n = js_minify(v, buf);
        sqlite3_result_text(ctx, buf, (int)n, SQLITE_TRANSIENT);
      }
      sqlite3_result_subtype(ctx, 'J');
      break;
    default:
      sqlite3_result_null(ctx);
      break;
  }
  return SQLITE_OK;
}

/* vi_def.column: every column but file, input_error and the arguments, for a record. */
static int ctColumn(sqlite3_context *ctx, const void *rec, int col, vi_cursor *c) {
  const ct_record *r = rec;
  switch (col) {
    case CTC_TS:
      if (r->has_ts) sqlite3_result_int64(ctx, r->ts);
      return SQLITE_OK;
    case CTC_EVENT:
      result_text(ctx, &r->event);
      return SQLITE_OK;
    case CTC_ROLE_NAME:
      result_text(ctx, &r->role);
      return SQLITE_OK;
    case CTC_SESSION_NAME:
      result_text(ctx, &r->session);
      return SQLITE_OK;
    case CTC_FUNCTION:
      result_text(ctx, &r->function);
      return SQLITE_OK;
    case CTC_RECORD_INDEX:
      sqlite3_result_int64(ctx, r->index);
      return SQLITE_OK;
    case CTC_RECORD:
      return result_value(ctx, c, &r->record, 0);
    default:
      if (col < 0 || col >= (int)(sizeof column_field / sizeof column_field[0])) return SQLITE_OK;
      return result_value(ctx, c, &r->f[column_field[col]],
                          col == CTC_READ_ONLY || col == CTC_MANAGEMENT_EVENT);
  }
}

static const vi_def ct_def = {
    "cloudtrail_events",      /* name: reads files, DIRECTONLY */
    "cloudtrail_events_json", /* json_name */
    CT_COLUMNS,               /* columns */
    "record HIDDEN",          /* extra_hidden: CTC_RECORD */
    CTC_FILE,                 /* col_file */
    CTC_INPUT_ERROR,          /* col_input_error */
    CTC_PATH,                 /* col_path */
    &ct_ops,                  /* ops */
    ctColumn,                 /* column */
};

int fg_register_cloudtrail(sqlite3 *db) { return vi_register(db, &ct_def); }
