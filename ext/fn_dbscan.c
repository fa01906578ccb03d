/*
** fn_dbscan.c — DBSCAN from SQL: the anomaly threshold over reconstruction errors, the
** clustering behind it, and cluster labels for analysts.
**
**   SELECT dbscan_threshold(err) FROM scores;                  -- automatic eps and min_pts
**   SELECT dbscan_threshold(err, 0.05, 5) FROM scores;         -- given eps and min_pts
**   SELECT fn, dbscan_threshold(err) FROM scores GROUP BY fn;  -- one threshold per function
**   SELECT dbscan_info(err) FROM scores;                       -- the clustering, as JSON
**   SELECT id, cluster, is_core FROM dbscan('SELECT id, x, y FROM pts', 0.5, 4);
**
** dbscan_threshold(VALUE [, EPS [, MIN_PTS]]) is an aggregate returning a REAL: the upper edge
** of the dense clusters that hold the bulk of the values; a value above it is anomalous. The
** rules (DBSCAN in 1-D, automatic EPS and MIN_PTS, which clusters count as outliers, the fallback
** to the maximum when nothing is dense) are stated in core/dbscan.h. NULL values are skipped; with
** no non-NULL value the result is NULL. A value that is not a number (text that does not look
** like one, a BLOB) or is infinite is an error that names it and its row (counting the rows fed
** to the aggregate, in its group, from 1, NULLs included). EPS and MIN_PTS, when given, must be
** the same on every row; NULL means automatic; EPS <= 0 or MIN_PTS < 1 is an error.
**
** dbscan_info(VALUE [, EPS [, MIN_PTS]]) takes the same arguments and returns JSON text:
**   SELECT dbscan_info(err, 0.15, 3) FROM errs;     -- err: 1.0 1.1 1.2 9 1.3 1.4
**   {"n":6,"eps":0.15,"min_pts":3,"threshold":1.4,"noise":1,
**    "clusters":[{"id":0,"min":1,"max":1.4,"size":5,"core":3,"outlier":false}],"fallback":false}
** where eps and min_pts are those used (given or automatic), noise counts the points in no
** cluster, clusters are in increasing order of value (size counts core and border points, core
** the core points), "outlier" marks clusters too small to hold normal errors, and "fallback" is
** true when no cluster qualified and the threshold is the maximum value: the data had no dense
** core, and the threshold should not be trusted.
**
** dbscan(QUERY [, EPS [, MIN_PTS]]) is an eponymous-only table-valued function that clusters the
** rows of QUERY, an SQL SELECT whose result columns are (id, x1, x2, ...): an id of any type and
** d >= 1 numeric coordinates. It works as if it were
**
**   CREATE TABLE dbscan(id, cluster INTEGER, is_core INTEGER,
**                       query HIDDEN, eps HIDDEN, min_pts HIDDEN);
**
** with one output row per row of QUERY, in QUERY's order: cluster is -1 for noise, else the
** cluster number; is_core is 1 for core points. With one coordinate, the O(n log n) 1-D path runs
** (any n; EPS and MIN_PTS may be omitted or NULL for the automatic rules) and clusters are numbered
** in increasing order of value, as in dbscan_info. With two or more, distances are Euclidean,
** clusters are numbered by their first row, EPS is required, and at most 20000 rows are accepted
** (every pair is compared). A NULL QUERY yields no rows. QUERY must be one read-only statement that
** returns rows, without parameters; a coordinate that is not a number (numeric text is accepted) is
** an error naming the id and the column.
**
** Security: dbscan() runs the SQL text it is given, so it is registered DIRECTONLY (through
** sqlite3_vtab_config in xConnect). Otherwise a hostile database could hide a call in a view or a
** trigger, and merely reading that view would run SQL of the database's choosing with the
** privileges of whoever opened it (for instance reading tables of an ATTACHed database). Only
** SQL the application itself writes can call dbscan(). The aggregates only compute on their
** arguments and are registered as plain deterministic functions.
*/
#include "fg_ext.h"

#include "dbscan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared argument checks --------------------------------------------------------------- */

/* Like sqlite3_mprintf(zFmt, zFunc, text of v), but NULL (no memory) if the text of v cannot be
** made: a message must not silently show an empty value. */
static char *mprintf_value(const char *zFmt, const char *zFunc, sqlite3_value *v) {
  const char *z = (const char *)sqlite3_value_text(v);
  return z ? sqlite3_mprintf(zFmt, zFunc, z) : NULL;
}

/* Reads an EPS argument: NULL → 0 (automatic), else a positive finite number. On error returns
** an sqlite3_malloc'ed message prefixed by zFunc, else NULL (and *pOut is set). */
static char *read_eps(const char *zFunc, sqlite3_value *v, double *pOut) {
  int t = sqlite3_value_numeric_type(v);
  if (t == SQLITE_NULL) {
    *pOut = 0;
    return NULL;
  }
  double r = sqlite3_value_double(v);
  if ((t != SQLITE_INTEGER && t != SQLITE_FLOAT) || !(r > 0) || !isfinite(r)) {
    if (t == SQLITE_BLOB)
      return sqlite3_mprintf("%s: eps must be a positive number, not a BLOB", zFunc);
    return mprintf_value("%s: eps must be a positive number, not '%q'", zFunc, v);
  }
  *pOut = r;
  return NULL;
}

/* Reads a MIN_PTS argument: NULL → 0 (automatic), else an integer >= 1 (a REAL with an integral
** value is accepted). Same conventions as read_eps. */
static char *read_min_pts(const char *zFunc, sqlite3_value *v, sqlite3_int64 *pOut) {
  int t = sqlite3_value_numeric_type(v);
  if (t == SQLITE_NULL) {
    *pOut = 0;
    return NULL;
  }
  double r = sqlite3_value_double(v);
  int ok = (t == SQLITE_INTEGER && sqlite3_value_int64(v) >= 1) ||
           (t == SQLITE_FLOAT && r >= 1 && r <= 9.0e15 && r == floor(r));
  if (!ok) {
    if (t == SQLITE_BLOB)
      return sqlite3_mprintf("%s: min_pts must be an integer >= 1, not a BLOB", zFunc);
    return mprintf_value("%s: min_pts must be an integer >= 1, not '%q'", zFunc, v);
  }
  *pOut = t == SQLITE_INTEGER ? sqlite3_value_int64(v) : (sqlite3_int64)r;
  return NULL;
}

/* Sets a message made by the helpers above as the function's error (NULL means no memory). */
static void result_msg(sqlite3_context *ctx, char *zMsg) {
  if (!zMsg) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_error(ctx, zMsg, -1);
  sqlite3_free(zMsg);
}

/* Formats a finite double with the fewest of 15, 16 or 17 significant digits that read back as
** the same double, in JSON syntax (a decimal comma from a foreign locale becomes a point). */
static void format_real(char *buf, size_t size, double v) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, v);
    for (char *c = buf; *c; c++) {
      if (*c == ',') *c = '.';
    }
    if (strtod(buf, NULL) == v) break;
  }
}

/* ---- dbscan_threshold and dbscan_info (aggregates) ---------------------------------------- */

/* Aggregate context: every non-NULL value seen so far, and the parameters. */
typedef struct DbscanAgg {
  double *a;            /* values, in arrival order */
  sqlite3_int64 n;      /* slots of a[] in use */
  sqlite3_int64 nAlloc; /* slots of a[] allocated */
  sqlite3_int64 nRow;   /* rows seen, NULL values included: the row number in messages */
  double eps;           /* EPS of the first row, 0 for automatic */
  sqlite3_int64 minPts; /* MIN_PTS of the first row, 0 for automatic */
} DbscanAgg;

/* xStep of both aggregates. The user data is the function's name, for messages. */
static void dbscanAggStep(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *zFunc = (const char *)sqlite3_user_data(ctx);
  double eps = 0;
  sqlite3_int64 minPts = 0;
  char *zErr = NULL;
  if (argc >= 2 && (zErr = read_eps(zFunc, argv[1], &eps)) != NULL) goto error;
  if (argc >= 3 && (zErr = read_min_pts(zFunc, argv[2], &minPts)) != NULL) goto error;

  DbscanAgg *p = sqlite3_aggregate_context(ctx, sizeof *p);
  if (!p) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  p->nRow++;
  if (p->nRow == 1) {
    p->eps = eps;
    p->minPts = minPts;
  } else if (p->eps != eps || p->minPts != minPts) {
    zErr = sqlite3_mprintf("%s: eps and min_pts must be the same on every row (row %lld differs)",
                           zFunc, p->nRow);
    goto error;
  }

  int t = sqlite3_value_numeric_type(argv[0]);
  if (t == SQLITE_NULL) return;
  if (t == SQLITE_BLOB) {
    zErr = sqlite3_mprintf("%s: the BLOB value at row %lld is not a number", zFunc, p->nRow);
    goto error;
  }
  if (t == SQLITE_TEXT) {
    zErr = sqlite3_mprintf("%s: value '%q' at row %lld is not a number", zFunc,
                           (const char *)sqlite3_value_text(argv[0]), p->nRow);
    goto error;
  }
  double v = sqlite3_value_double(argv[0]);
  if (!isfinite(v)) {
    zErr = sqlite3_mprintf("%s: value %s at row %lld is not a finite number", zFunc,
                           isnan(v) ? "NaN" : (v > 0 ? "Inf" : "-Inf"), p->nRow);
    goto error;
  }
  if (p->n >= p->nAlloc) {
    sqlite3_int64 nNew = p->nAlloc * 2 + 256;
    double *a = sqlite3_realloc64(p->a, (sqlite3_uint64)nNew * sizeof *a);
    if (!a) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
    p->a = a;
    p->nAlloc = nNew;
  }
  p->a[p->n++] = v;
  return;

error:
  result_msg(ctx, zErr);
}

/* Clusters the collected values into *info. Returns 0 (info filled), or sets the function's
** result (NULL for no values, or an error) and returns 1. Frees nothing. */
static int dbscanAggRun(sqlite3_context *ctx, DbscanAgg *p, fg_dbscan_info *info) {
  if (!p || p->n == 0) return 1; /* no rows, or only NULLs: the result stays NULL */
  fg_err err;
  fg_err_clear(&err);
  if (fg_dbscan_1d(p->a, (size_t)p->n, p->eps, (size_t)p->minPts, NULL, NULL, info, &err)) {
    fg_err_prefix(&err, "%s", (const char *)sqlite3_user_data(ctx));
    fg_result_err(ctx, &err);
    return 1;
  }
  return 0;
}

static void dbscanAggFree(DbscanAgg *p) {
  if (!p) return;
  sqlite3_free(p->a);
  memset(p, 0, sizeof *p);
}

static void dbscanThresholdFinal(sqlite3_context *ctx) {
  DbscanAgg *p = sqlite3_aggregate_context(ctx, 0);
  fg_dbscan_info info;
  if (dbscanAggRun(ctx, p, &info) == 0) {
    sqlite3_result_double(ctx, info.threshold);
    fg_dbscan_info_free(&info);
  }
  dbscanAggFree(p);
}

static void dbscanInfoFinal(sqlite3_context *ctx) {
  DbscanAgg *p = sqlite3_aggregate_context(ctx, 0);
  fg_dbscan_info info;
  if (dbscanAggRun(ctx, p, &info) == 0) {
    char a[32], b[32];
    sqlite3_str *js = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    format_real(a, sizeof a, info.eps);
    format_real(b, sizeof b, info.threshold);
    sqlite3_str_appendf(js,
                        "{\"n\":%lld,\"eps\":%s,\"min_pts\":%lld,\"threshold\":%s,"
                        "\"noise\":%lld,\"clusters\":[",
                        (sqlite3_int64)info.n, a, (sqlite3_int64)info.min_pts, b,
                        (sqlite3_int64)info.n_noise);
    for (size_t i = 0; i < info.n_clusters; i++) {
      const fg_dbscan_cluster *c = &info.clusters[i];
      format_real(a, sizeof a, c->min);
      format_real(b, sizeof b, c->max);
      sqlite3_str_appendf(js,
                          "%s{\"id\":%lld,\"min\":%s,\"max\":%s,\"size\":%lld,\"core\":%lld,"
                          "\"outlier\":%s}",
                          i ? "," : "", (sqlite3_int64)i, a, b, (sqlite3_int64)c->size,
                          (sqlite3_int64)c->n_core, c->outlier ? "true" : "false");
    }
    sqlite3_str_appendf(js, "],\"fallback\":%s}", info.fallback ? "true" : "false");
    fg_dbscan_info_free(&info);
    int rc = sqlite3_str_errcode(js);
    char *z = sqlite3_str_finish(js);
    if (rc == SQLITE_OK && z) {
      sqlite3_result_text(ctx, z, -1, sqlite3_free);
    } else {
      sqlite3_free(z);
      if (rc == SQLITE_TOOBIG) {
        sqlite3_result_error_toobig(ctx);
      } else {
        sqlite3_result_error_nomem(ctx);
      }
    }
  }
  dbscanAggFree(p);
}

/* ---- dbscan() (table-valued function) ----------------------------------------------------- */

/* Column numbers, as in the CREATE TABLE of dbscanConnect. */
#define DBSCAN_ID 0
#define DBSCAN_CLUSTER 1
#define DBSCAN_IS_CORE 2
#define DBSCAN_QUERY 3 /* hidden columns: the arguments, in this order */
#define DBSCAN_EPS 4
#define DBSCAN_MIN_PTS 5

typedef struct dbscan_vtab {
  sqlite3_vtab base; /* base class: must be first */
  sqlite3 *db;       /* connection the query argument runs on */
} dbscan_vtab;

typedef struct dbscan_cursor {
  sqlite3_vtab_cursor base; /* base class: must be first */
  sqlite3_int64 iRow;       /* current output row, from 0 */
  sqlite3_int64 nRow;       /* number of output rows */
  sqlite3_value **aId;      /* nRow ids, copies of the query's first column */
  int *aLabel;              /* nRow cluster numbers, -1 for noise */
  unsigned char *aCore;     /* nRow core flags */
  sqlite3_value *apArg[3];  /* query, eps, min_pts as given (copies), NULL where absent */
} dbscan_cursor;

static int dbscanConnect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                         sqlite3_vtab **ppVtab, char **pzErr) {
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(id, cluster INTEGER, is_core INTEGER,"
                                " query HIDDEN, eps HIDDEN, min_pts HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  dbscan_vtab *pNew = sqlite3_malloc64(sizeof *pNew);
  if (!pNew) return SQLITE_NOMEM;
  memset(pNew, 0, sizeof *pNew);
  pNew->db = db;
  /* It runs SQL named by its argument: never from a view, trigger or schema (header comment). */
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  *ppVtab = &pNew->base;
  return SQLITE_OK;
}

static int dbscanDisconnect(sqlite3_vtab *pVtab) {
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

static int dbscanOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor) {
  dbscan_cursor *pCur = sqlite3_malloc64(sizeof *pCur);
  if (!pCur) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof *pCur);
  *ppCursor = &pCur->base;
  return SQLITE_OK;
}

/* Drops the rows and arguments of the previous xFilter. */
static void dbscanReset(dbscan_cursor *pCur) {
  for (sqlite3_int64 i = 0; i < pCur->nRow; i++) sqlite3_value_free(pCur->aId[i]);
  sqlite3_free(pCur->aId);
  sqlite3_free(pCur->aLabel);
  sqlite3_free(pCur->aCore);
  for (int i = 0; i < 3; i++) sqlite3_value_free(pCur->apArg[i]);
  memset((char *)pCur + sizeof pCur->base, 0, sizeof *pCur - sizeof pCur->base); /* keep base */
}

static int dbscanClose(sqlite3_vtab_cursor *cur) {
  dbscanReset((dbscan_cursor *)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int dbscanNext(sqlite3_vtab_cursor *cur) {
  ((dbscan_cursor *)cur)->iRow++;
  return SQLITE_OK;
}

static int dbscanEof(sqlite3_vtab_cursor *cur) {
  dbscan_cursor *pCur = (dbscan_cursor *)cur;
  return pCur->iRow >= pCur->nRow;
}

static int dbscanColumn(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i) {
  dbscan_cursor *pCur = (dbscan_cursor *)cur;
  switch (i) {
    case DBSCAN_ID:
      sqlite3_result_value(ctx, pCur->aId[pCur->iRow]);
      break;
    case DBSCAN_CLUSTER:
      sqlite3_result_int(ctx, pCur->aLabel[pCur->iRow]);
      break;
    case DBSCAN_IS_CORE:
      sqlite3_result_int(ctx, pCur->aCore[pCur->iRow]);
      break;
    default:
      if (pCur->apArg[i - DBSCAN_QUERY]) sqlite3_result_value(ctx, pCur->apArg[i - DBSCAN_QUERY]);
      break;
  }
  return SQLITE_OK;
}

static int dbscanRowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *pRowid) {
  *pRowid = ((dbscan_cursor *)cur)->iRow + 1;
  return SQLITE_OK;
}

/* Sets the vtab's error message (zMsg is consumed; NULL means out of memory) and returns the
** code for xFilter: rc if it is an error code (from the query: SQLITE_INTERRUPT, SQLITE_BUSY...),
** else SQLITE_ERROR. */
static int dbscanError(dbscan_cursor *pCur, int rc, char *zMsg) {
  sqlite3_vtab *pVtab = pCur->base.pVtab;
  if (!zMsg || rc == SQLITE_NOMEM) {
    sqlite3_free(zMsg);
    return SQLITE_NOMEM;
  }
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = zMsg;
  return (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) ? SQLITE_ERROR : rc;
}

/* An id as it would be written in SQL, for messages (sqlite3_malloc'ed; NULL = no memory). */
static char *dbscanIdText(sqlite3_value *v) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_NULL:
      return sqlite3_mprintf("NULL");
    case SQLITE_BLOB:
      return sqlite3_mprintf("(a BLOB)");
    case SQLITE_TEXT:
      return sqlite3_mprintf("'%q'", (const char *)sqlite3_value_text(v));
    default: { /* a number: its text is made now, and that can fail */
      const char *z = (const char *)sqlite3_value_text(v);
      return z ? sqlite3_mprintf("%s", z) : NULL;
    }
  }
}

/* Reads coordinate iCol of the current row of pStmt into *pOut. A value stored as TEXT that
** looks like a number is accepted (as in the aggregates). Returns SQLITE_OK or an error code with
** the message set on the vtab; idVal is the row's id (for the message). */
static int dbscanCoord(dbscan_cursor *pCur, sqlite3_stmt *pStmt, int iCol, sqlite3_value *idVal,
                       double *pOut) {
  int t = sqlite3_column_type(pStmt, iCol);
  const char *zWhat = NULL; /* what the value is, when it is not a finite number */
  char *zFree = NULL;
  if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) {
    *pOut = sqlite3_column_double(pStmt, iCol);
  } else if (t == SQLITE_TEXT) {
    /* A column value is unprotected: classify a protected copy. */
    sqlite3_value *v = sqlite3_value_dup(sqlite3_column_value(pStmt, iCol));
    if (!v) return SQLITE_NOMEM;
    int nt = sqlite3_value_numeric_type(v);
    if (nt == SQLITE_INTEGER || nt == SQLITE_FLOAT) {
      *pOut = sqlite3_value_double(v);
    } else {
      zWhat = zFree = sqlite3_mprintf("'%q' is not a number", (const char *)sqlite3_value_text(v));
      if (!zFree) {
        sqlite3_value_free(v);
        return SQLITE_NOMEM;
      }
    }
    sqlite3_value_free(v);
  } else if (t == SQLITE_NULL) {
    zWhat = "NULL is not a number";
  } else {
    zWhat = "a BLOB is not a number";
  }
  if (!zWhat && !isfinite(*pOut)) {
    zWhat = isnan(*pOut)
                ? "NaN is not a finite number"
                : (*pOut > 0 ? "Inf is not a finite number" : "-Inf is not a finite number");
  }
  if (!zWhat) return SQLITE_OK;
  char *zId = dbscanIdText(idVal);
  char *zMsg = zId ? sqlite3_mprintf("dbscan: id %s, column %s: %s", zId,
                                     sqlite3_column_name(pStmt, iCol), zWhat)
                   : NULL;
  sqlite3_free(zId);
  sqlite3_free(zFree);
  return dbscanError(pCur, SQLITE_ERROR, zMsg);
}

/* Runs the query, keeps the ids, clusters the coordinates. idxNum bits (see dbscanBestIndex):
** 1 query, 2 eps, 4 min_pts; argv holds those present, in that order. */
static int dbscanFilter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                        sqlite3_value **argv) {
  dbscan_cursor *pCur = (dbscan_cursor *)cur;
  sqlite3 *db = ((dbscan_vtab *)cur->pVtab)->db;
  sqlite3_stmt *pStmt = NULL;
  double *aX = NULL;        /* coordinates, nRow rows of d */
  sqlite3_int64 nAlloc = 0; /* rows allocated in aId and aX */
  int d = 0;                /* coordinates per row */
  int rc = SQLITE_OK;
  double eps = 0;
  sqlite3_int64 minPts = 0;
  char *zErr;
  int errRc = SQLITE_ERROR; /* code that goes with zErr */

  dbscanReset(pCur);
  int iArg = 0;
  for (int k = 0; k < 3; k++) {
    if (!(idxNum & (1 << k))) continue;
    pCur->apArg[k] = sqlite3_value_dup(argv[iArg++]);
    if (!pCur->apArg[k]) return SQLITE_NOMEM;
  }
  sqlite3_value *pQuery = pCur->apArg[0];
  if (!pQuery || sqlite3_value_type(pQuery) == SQLITE_NULL) return SQLITE_OK; /* no rows */
  if (pCur->apArg[1] && (zErr = read_eps("dbscan", pCur->apArg[1], &eps)) != NULL) {
    return dbscanError(pCur, SQLITE_ERROR, zErr);
  }
  if (pCur->apArg[2] && (zErr = read_min_pts("dbscan", pCur->apArg[2], &minPts)) != NULL) {
    return dbscanError(pCur, SQLITE_ERROR, zErr);
  }

  /* One statement, read-only, returning rows. */
  const char *zSql = (const char *)sqlite3_value_text(pQuery);
  const char *zTail = NULL;
  if (!zSql) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, &zTail);
  if (rc != SQLITE_OK) {
    return dbscanError(pCur, rc, sqlite3_mprintf("dbscan: %s", sqlite3_errmsg(db)));
  }
  if (!pStmt) return dbscanError(pCur, SQLITE_ERROR, sqlite3_mprintf("dbscan: the query is empty"));
  while (zTail && *zTail) {
    sqlite3_stmt *pMore = NULL;
    rc = sqlite3_prepare_v2(db, zTail, -1, &pMore, &zTail);
    sqlite3_finalize(pMore);
    if (rc != SQLITE_OK || pMore) {
      zErr = sqlite3_mprintf("dbscan: the query must be a single statement");
      goto fail_msg;
    }
  }
  if (!sqlite3_stmt_readonly(pStmt) || sqlite3_stmt_isexplain(pStmt) ||
      sqlite3_column_count(pStmt) == 0) {
    zErr = sqlite3_mprintf("dbscan: the query must be a read-only SELECT: %s", zSql);
    goto fail_msg;
  }
  if (sqlite3_bind_parameter_count(pStmt) > 0) {
    zErr =
        sqlite3_mprintf("dbscan: the query has parameters, which dbscan() cannot bind: %s", zSql);
    goto fail_msg;
  }
  d = sqlite3_column_count(pStmt) - 1;
  if (d < 1) {
    zErr = sqlite3_mprintf(
        "dbscan: the query returns 1 column; it must return an id and at least one coordinate");
    goto fail_msg;
  }

  while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
    if (pCur->nRow >= nAlloc) {
      sqlite3_int64 nNew = nAlloc * 2 + 64;
      sqlite3_value **aId = sqlite3_realloc64(pCur->aId, (sqlite3_uint64)nNew * sizeof *aId);
      if (aId) pCur->aId = aId;
      double *aXNew = aId ? sqlite3_realloc64(aX, (sqlite3_uint64)nNew * d * sizeof *aX) : NULL;
      if (!aXNew) goto nomem;
      aX = aXNew;
      nAlloc = nNew;
    }
    sqlite3_value *id = sqlite3_value_dup(sqlite3_column_value(pStmt, 0));
    if (!id) goto nomem;
    pCur->aId[pCur->nRow++] = id;
    for (int k = 0; k < d; k++) {
      rc = dbscanCoord(pCur, pStmt, k + 1, id, &aX[(pCur->nRow - 1) * d + k]);
      if (rc != SQLITE_OK) goto fail;
    }
  }
  if (rc != SQLITE_DONE) {
    errRc = rc;
    zErr = sqlite3_mprintf("dbscan: %s", sqlite3_errmsg(db));
    goto fail_msg;
  }
  sqlite3_finalize(pStmt);
  pStmt = NULL;

  if (pCur->nRow > 0) {
    pCur->aLabel = sqlite3_malloc64((sqlite3_uint64)pCur->nRow * sizeof *pCur->aLabel);
    pCur->aCore = sqlite3_malloc64((sqlite3_uint64)pCur->nRow);
    if (!pCur->aLabel || !pCur->aCore) goto nomem;
    fg_err err;
    fg_err_clear(&err);
    int frc = d == 1 ? fg_dbscan_1d(aX, (size_t)pCur->nRow, eps, (size_t)minPts, pCur->aLabel,
                                    pCur->aCore, NULL, &err)
                     : fg_dbscan_nd(aX, (size_t)pCur->nRow, (size_t)d, eps, (size_t)minPts,
                                    pCur->aLabel, pCur->aCore, NULL, &err);
    if (frc == FG_ENOMEM) goto nomem;
    if (frc) {
      zErr = sqlite3_mprintf("dbscan: %s", err.msg);
      goto fail_msg;
    }
  }
  sqlite3_free(aX);
  return SQLITE_OK;

nomem:
  rc = SQLITE_NOMEM;
  goto fail;
fail_msg:
  rc = dbscanError(pCur, errRc, zErr);
fail:
  sqlite3_finalize(pStmt);
  sqlite3_free(aX);
  /* Keep the error message, drop the rows: the cursor is at EOF. */
  dbscanReset(pCur);
  return rc;
}

/*
** Plan: the hidden columns query, eps and min_pts are the arguments. idxNum has bit 1 for an
** equality constraint on query, 2 on eps, 4 on min_pts; xFilter gets their values in that order.
** query is required: without it there is no plan (an error). An argument that is given but not
** usable in this plan (it depends on a table not yet scanned) makes the plan SQLITE_CONSTRAINT, so
** that SQLite picks another join order.
*/
static int dbscanBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo) {
  int aIdx[3] = {-1, -1, -1}; /* constraint giving query, eps, min_pts */
  int idxNum = 0, unusable = 0;
  for (int i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    if (c->iColumn < DBSCAN_QUERY) continue;
    int k = c->iColumn - DBSCAN_QUERY, bit = 1 << k;
    if (c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!c->usable) {
      unusable |= bit;
    } else {
      idxNum |= bit;
      aIdx[k] = i;
    }
  }
  if (unusable & ~idxNum) return SQLITE_CONSTRAINT;
  if (!(idxNum & 1)) {
    sqlite3_free(pVtab->zErrMsg);
    pVtab->zErrMsg = sqlite3_mprintf("dbscan: the query argument is required");
    return pVtab->zErrMsg ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  int nArg = 0;
  for (int k = 0; k < 3; k++) {
    if (aIdx[k] < 0) continue;
    pInfo->aConstraintUsage[aIdx[k]].argvIndex = ++nArg;
    pInfo->aConstraintUsage[aIdx[k]].omit = 1;
  }
  pInfo->idxNum = idxNum;
  pInfo->estimatedCost = 1e6; /* it runs a whole query */
  pInfo->estimatedRows = 1000;
  return SQLITE_OK;
}

static sqlite3_module dbscanModule = {
    0,                /* iVersion */
    0,                /* xCreate: 0 makes it eponymous-only */
    dbscanConnect,    /* xConnect */
    dbscanBestIndex,  /* xBestIndex */
    dbscanDisconnect, /* xDisconnect */
    0,                /* xDestroy */
    dbscanOpen,       /* xOpen */
    dbscanClose,      /* xClose */
    dbscanFilter,     /* xFilter */
    dbscanNext,       /* xNext */
    dbscanEof,        /* xEof */
    dbscanColumn,     /* xColumn */
    dbscanRowid,      /* xRowid */
    0,                /* xUpdate */
    0,                /* xBegin */
    0,                /* xSync */
    0,                /* xCommit */
    0,                /* xRollback */
    0,                /* xFindFunction */
    0,                /* xRename */
    0,                /* xSavepoint */
    0,                /* xRelease */
    0,                /* xRollbackTo */
    0,                /* xShadowName */
};

/* ---- registration ------------------------------------------------------------------------- */

int fg_register_dbscan(sqlite3 *db) {
  static const struct {
    const char *name;
    int nArg;
    void (*xFinal)(sqlite3_context *);
  } aFunc[] = {
      {"dbscan_threshold", 1, dbscanThresholdFinal}, {"dbscan_threshold", 2, dbscanThresholdFinal},
      {"dbscan_threshold", 3, dbscanThresholdFinal}, {"dbscan_info", 1, dbscanInfoFinal},
      {"dbscan_info", 2, dbscanInfoFinal},           {"dbscan_info", 3, dbscanInfoFinal},
  };
  for (size_t i = 0; i < sizeof aFunc / sizeof aFunc[0]; i++) {
    int rc = sqlite3_create_function(db, aFunc[i].name, aFunc[i].nArg, FG_PURE,
                                     (void *)aFunc[i].name, 0, dbscanAggStep, aFunc[i].xFinal);
    if (rc != SQLITE_OK) return rc;
  }
  return sqlite3_create_module(db, "dbscan", &dbscanModule, 0);
}
