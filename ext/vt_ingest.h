/*
** vt_ingest.h — the SQLite side shared by the ingestion table-valued functions.
**
** cloudtrail_events(), lambda_log_events() and xray_segments() (ext/vt_cloudtrail.c,
** vt_lambdalog.c, vt_xray.c) differ only in their columns and their format reader; how they take
** arguments, plan, iterate, report errors and register is the same, and lives in vt_ingest.c.
** A module describes itself once in a vi_def and registers with vi_register():
**
**   static const vi_def xr_def = {"xray_segments", "xray_segments_json", XR_COLUMNS, NULL,
**                                 XRC_FILE, XRC_INPUT_ERROR, XRC_PATH, &xr_ops, xrColumn};
**   int fg_register_xray(sqlite3 *db) { return vi_register(db, &xr_def); }
**
** That registers two eponymous-only virtual tables, NAME(path [, skip_errors]) and
** JSON_NAME(json [, skip_errors]), each as if it were
**
**   CREATE TABLE x(COLUMNS, path HIDDEN, skip_errors HIDDEN [, EXTRA_HIDDEN])   -- json for path
**
** NAME reads files and is SQLITE_VTAB_DIRECTONLY; JSON_NAME reads only its argument and keeps the
** default flags. Rows stream: one record is in memory at a time (core/ingest.h).
*/
#ifndef FG_VT_INGEST_H
#define FG_VT_INGEST_H

#include "fg_ext.h"
#include "ingest.h"

/* A cursor of one of these tables: opaque to the modules, which only ask it for scratch space. */
typedef struct vi_cursor vi_cursor;

/* One ingestion module: its two SQL names, its columns and its reader. */
typedef struct vi_def {
  const char *name;         /* the path form, e.g. "xray_segments" (also the message prefix) */
  const char *json_name;    /* the JSON-text form, e.g. "xray_segments_json" */
  const char *columns;      /* the visible columns, "ts INTEGER, …, input_error TEXT" */
  const char *extra_hidden; /* hidden columns after skip_errors ("record HIDDEN"), or NULL */
  int col_file;             /* column number of `file`: the current input's name */
  int col_input_error;      /* ... of `input_error`: set on error rows only */
  int col_path;             /* ... of the first argument = the number of visible columns;
                            ** skip_errors is col_path + 1 */
  const ig_ops *ops;        /* the format reader */
  /* Result of column `col` for record `rec` (never file, input_error, path or skip_errors, never
  ** an error row); leaving ctx alone gives NULL. Returns an SQLite code. */
  int (*column)(sqlite3_context *ctx, const void *rec, int col, vi_cursor *cur);
} vi_def;

/* Registers def->name and def->json_name; returns an SQLite code. */
int vi_register(sqlite3 *db, const vi_def *def);

/* Scratch space of n + 1 bytes owned by the cursor, for decoding one value; NULL on OOM. Valid
** until the next call. */
char *vi_scratch(vi_cursor *cur, size_t n);

/* Sets a text result, or leaves NULL when s is NULL. */
void vi_result_str(sqlite3_context *ctx, const char *s);

#endif
