/*
** fg_ext.h — what the SQLite glue files in ext/ share.
**
** Every ext/ C file except fnguard.c includes this header (never sqlite3ext.h directly with
** SQLITE_EXTENSION_INIT1): the API table pointer lives in fnguard.c. Each module exposes one
** register function, called from the table in fnguard.c; it returns an SQLite result code.
*/
#ifndef FG_EXT_H
#define FG_EXT_H

#include <sqlite3ext.h>
#ifndef FG_EXT_MAIN
SQLITE_EXTENSION_INIT3
#endif

#include "fg_err.h"

/* Flags for pure functions of their arguments. */
#define FG_PURE (SQLITE_UTF8 | SQLITE_DETERMINISTIC)
/* Flags for anything that reads files, or runs SQL named by its arguments: a hostile database
** must not be able to call it from a view, trigger or CHECK constraint (see README, Security). */
#define FG_DIRECT (SQLITE_UTF8 | SQLITE_DIRECTONLY)

/* Reports a core error as the SQL function's error (SQLITE_NOMEM for FG_ENOMEM). */
void fg_result_err(sqlite3_context *ctx, const fg_err *err);

int fg_register_version(sqlite3 *db);
int fg_register_windows(sqlite3 *db);
int fg_register_lstm(sqlite3 *db);
int fg_register_dbscan(sqlite3 *db);
int fg_register_cloudtrail(sqlite3 *db);
int fg_register_lambdalog(sqlite3 *db);
int fg_register_xray(sqlite3 *db);

#endif
