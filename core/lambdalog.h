/*
** lambdalog.h — CloudWatch Logs of Lambda functions, one log event at a time.
**
** Inputs (files may be gzipped):
**   - text, one event per line, optionally prefixed by its time ("2026-01-05T04:03:59.265Z " as
**     in S3 exports): platform lines (START, END, REPORT, INIT_START, INIT_REPORT, XRAY,
**     EXTENSION, TELEMETRY, RESTORE_START, RESTORE_REPORT) and application lines
**     ("[INFO]\t<time>\t<request id>\t…" from Python, "<time>\t<request id>\tINFO\t…" from Node,
**     "… <request id> Task timed out after 3.00 seconds");
**   - the Lambda JSON log format, one object per line: {"time","type":"platform.start"|
**     "platform.report"|…,"record":{…}} and application objects {"timestamp","level",
**     "requestId","message"}; text and JSON lines may be mixed;
**   - CloudWatch Logs API output: {"events":[{"logStreamName","timestamp","message"},…]} from
**     `aws logs filter-log-events` / get-log-events (streamed), a bare array of such events, and
**     subscription messages {"logGroup","logStream","logEvents":[{"timestamp","message"}]}
**     (Firehose delivers them concatenated). Each event's message is read as a line above.
** A file is read as a document when it starts with '[', or with '{' and its first line is not one
** whole JSON object, or that object has "events"/"logEvents"; otherwise line by line.
**
** Where values come from:
**   function    the log group "/aws/lambda/NAME" when the data has one; else the path: a
**               component sequence aws/lambda/NAME, or the component before a YYYY/MM/DD run of
**               directories (lambda/<app>/<function>/YYYY/MM/DD/<stream>, the layout of log
**               exports by stream; an export-task UUID there is passed over); else NULL.
**   log_stream  logStreamName / logStream from the data; else "YYYY/MM/DD/<file name without
**               .log/.json/.txt/.gz>" from such a path (Lambda's own stream naming); else the
**               file name without those extensions.
**   ts          the event's timestamp (API output), else the line's time prefix, else the time
**               inside the line (JSON "time"/"timestamp", the application line's own time).
**   request_id  explicit (START/END/REPORT/RUNTIME_DONE/…, application lines that carry one);
**               else, for lines between a START and its END/REPORT in the same stream, that
**               invocation's id (Lambda runs one invocation at a time per stream); XRAY lines
**               belong to the invocation reported just before them.
**   type        START, END, REPORT, INIT_START, INIT_REPORT, XRAY, … as printed; JSON
**               "platform.xyzAbc" becomes XYZ_ABC (platform.runtimeDone → RUNTIME_DONE);
**               "Task timed out" lines are TIMEOUT; every other line is LOG.
**   cold_start  on START and REPORT (and RUNTIME_DONE) rows: 1 if the invocation is the first of
**               its stream in this input, or an INIT_START/INIT_REPORT came before it, or its
**               REPORT has an Init Duration; else 0. NULL on other rows.
**   status      REPORT/RUNTIME_DONE/INIT_REPORT: the Status given, else "success" for REPORT;
**               TIMEOUT rows: "timeout".
*/
#ifndef FG_LAMBDALOG_H
#define FG_LAMBDALOG_H

#include <stddef.h>
#include <stdint.h>

#include "fg_err.h"

typedef struct ll_record {
  long long index;       /* 0-based position of the event in its input */
  long long line;        /* 1-based line number in line mode, 0 in document mode */
  int has_ts;            /* ts is set */
  int64_t ts;            /* unix ms */
  const char *function;  /* NULL when unknown; strings live until the next ll_next() */
  const char *log_group; /* from the data, else NULL */
  const char *log_stream;
  const char *request_id;
  const char *type;
  const char *level; /* application lines: INFO, ERROR, … */
  const char *status;
  const char *error_type;
  const char *trace_id; /* XRAY lines; JSON records' tracing Root */
  const char *message;  /* the log event's message as stored (text line without its time
                        ** prefix, or the JSON text) */
  size_t message_n;
  double duration_ms, billed_ms, memory_mb, max_memory_mb, init_ms; /* NaN when absent */
  int cold_start; /* 1, 0, or -1 for "not applicable" */
} ll_record;

typedef struct ll_reader ll_reader;

int ll_open(ll_reader **out, const char *path, const char *text, size_t n, const char *label,
            fg_err *err);
/* 1 and *rec; 0 at the end; -code on error (messages name the input, and line:col for JSON). */
int ll_next(ll_reader *r, const ll_record **rec, fg_err *err);
/* After an error: 1 if reading can go on. */
int ll_resume(ll_reader *r);
void ll_close(ll_reader *r);

#endif
