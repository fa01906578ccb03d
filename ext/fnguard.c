/*
** fnguard.c — entry point of the fnguard SQLite extension.
**
**   .load build/fnguard                        -- sqlite3 CLI
**   SELECT load_extension('build/fnguard');    -- any client that allows extensions
**   SELECT fnguard_version();                  -- version and build information, as JSON
**
** Each module of the extension lives in its own file in ext/ and registers itself through the
** table below; a failure names the module that failed. fnguard_version() is what tests and bug
** reports use to say which build ran: version, SQLite version, BLAS library and its config.
*/
#define FG_EXT_MAIN
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "fg_ext.h"

#include <cblas.h>
#include <stdio.h>

#define FNGUARD_VERSION "0.1.0"

void fg_result_err(sqlite3_context *ctx, const fg_err *err) {
  if (err->code == FG_ENOMEM) {
    sqlite3_result_error_nomem(ctx);
  } else {
    sqlite3_result_error(ctx, err->msg[0] ? err->msg : "fnguard: unknown error", -1);
  }
}

/* fnguard_version() → JSON text: {"version", "sqlite", "blas", "blas_threads", "compiler"}. */
static void version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  char *s = sqlite3_mprintf(
      "{\"version\":\"%s\",\"sqlite\":\"%s\",\"blas\":\"OpenBLAS %s\",\"blas_threads\":%d,"
      "\"compiler\":\"%s\",\"built\":\"%s\"}",
      FNGUARD_VERSION, sqlite3_libversion(), openblas_get_config(), openblas_get_num_threads(),
      __VERSION__, __DATE__);
  if (!s) { sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, s, -1, sqlite3_free);
}

int fg_register_version(sqlite3 *db) {
  /* Not DETERMINISTIC: the thread count it reports can change within a session. */
  return sqlite3_create_function(db, "fnguard_version", 0, SQLITE_UTF8, 0, version_func, 0, 0);
}

static const struct {
  const char *name;
  int (*reg)(sqlite3 *);
} modules[] = {
    {"fnguard_version", fg_register_version},
    {"fn_windows", fg_register_windows},
    {"lstm_ae", fg_register_lstm},
    {"dbscan", fg_register_dbscan},
    {"cloudtrail_events", fg_register_cloudtrail},
    {"lambda_log_events", fg_register_lambdalog},
    {"xray_segments", fg_register_xray},
};

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_fnguard_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
    int rc = modules[i].reg(db);
    if (rc != SQLITE_OK) {
      *pzErrMsg = sqlite3_mprintf("fnguard: registering %s failed: %s", modules[i].name,
                                  sqlite3_errmsg(db));
      return rc;
    }
  }
  return SQLITE_OK;
}
