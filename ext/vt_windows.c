/*
** vt_windows.c — the fn_windows virtual table: sliding windows over any table or view.
**
**   CREATE VIRTUAL TABLE w USING fn_windows(
**       source=ev, partition=session, order=seq, fields='key,duration_ms', size=10, stride=1);
**   SELECT part, n_steps, window FROM w WHERE part = 'fnA';
**   -- fnA|3|{"fields":["key","duration_ms"],"steps":[["open",12.5],["read",3.0],["close",0.5]]}
**
** How it works. The table has the columns
**     CREATE TABLE w(part, first_rowid INTEGER, last_rowid INTEGER, first_order, last_order,
**                    n_steps INTEGER, window TEXT)
** and one row per window. Within each partition (rows with equal `partition` values; the whole
** source when no partition is given), rows are taken in `order` and windows of `size` consecutive
** rows start every `stride` rows. A partition shorter than `size` gives one shorter window; when
** the last stride does not end on the partition's last row, one more window ending there is added,
** so every row is covered. `window` is the JSON text of window.h: a string is categorical, a
** number numeric, NULL missing; BLOBs and infinities are errors.
**
** The source is read by one query, `SELECT rowid, partition, order, fields… FROM source ORDER BY
** partition, order, rowid` (ties in order go by rowid), stepped as windows are requested: SQLite
** uses an index on (partition, order)
** when there is one, and only `size` rows are held at a time. `WHERE part = ?` is pushed down into
** that query.
**
** Arguments: source (table or view, optionally schema.name; required), fields (comma-separated
** column names; required), partition (column; default none), order (column; default rowid),
** size (default 10), stride (default 1). Values may be quoted with '...' or "...".
**
** Security. fn_windows reads only tables of the database it lives in, so a hostile database gains
** nothing by declaring one; but its arguments become SQL text, so they are accepted only as
** identifiers (quoted by us, never spliced), never as expressions: a schema cannot smuggle a
** file-reading function into the inner query. Hence no DIRECTONLY, and not INNOCUOUS either.
*/
#include "fg_ext.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

#define WIN_COL_PART 0
#define WIN_COL_FIRST_ROWID 1
#define WIN_COL_LAST_ROWID 2
#define WIN_COL_FIRST_ORDER 3
#define WIN_COL_LAST_ORDER 4
#define WIN_COL_N_STEPS 5
#define WIN_COL_WINDOW 6

#define WIN_MAX_SIZE FG_WINDOW_MAX_STEPS

typedef struct win_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  char *src;          /* quoted source, e.g. "main"."ev" */
  char *part;         /* quoted partition column, or NULL */
  char *order;        /* quoted order column (or rowid) */
  char **fields;      /* [nf] raw field names */
  int nf;
  int size, stride;
  int has_rowid;      /* source has a rowid (tables); views report NULL rowids */
  char *fields_json;  /* {"fields":[...],"steps":[ — the fixed prefix of every window */
} win_vtab;

/* A copy of one SQL value that reuses its buffer (no allocation per row once grown). */
typedef struct val_copy {
  int type;
  sqlite3_int64 i;
  double r;
  char *p;
  int n, cap;
} val_copy;

typedef struct win_row {
  sqlite3_int64 rowid;
  int rowid_null;
  val_copy order;
  fg_buf json;        /* this row's step: [v1,v2,...] */
} win_row;

typedef struct win_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *stmt;
  win_row *ring;      /* [size] the last rows of the current partition */
  long k;             /* rows read in the current partition */
  val_copy part;      /* current partition value */
  int held;           /* the statement's current row belongs to the next partition */
  int src_eof, end_part, eof;
  /* the current window */
  sqlite3_int64 rowid;
  long first, n;      /* ring positions: first row index (in partition numbering), steps */
  val_copy out_part;
  fg_buf out;
} win_cursor;

static int depth_guard; /* nesting of fn_windows reading fn_windows (a cycle would recurse) */

static void vc_free(val_copy *v) { sqlite3_free(v->p); memset(v, 0, sizeof *v); }

static int vc_set(val_copy *v, sqlite3_value *x) {
  v->type = sqlite3_value_type(x);
  if (v->type == SQLITE_INTEGER) v->i = sqlite3_value_int64(x);
  else if (v->type == SQLITE_FLOAT) v->r = sqlite3_value_double(x);
  else if (v->type == SQLITE_TEXT || v->type == SQLITE_BLOB) {
    const void *p = v->type == SQLITE_TEXT ? (const void *)sqlite3_value_text(x) : sqlite3_value_blob(x);
    int n = sqlite3_value_bytes(x);
    if (n + 1 > v->cap) {
      char *q = sqlite3_realloc(v->p, n + 1);
      if (!q) return SQLITE_NOMEM;
      v->p = q;
      v->cap = n + 1;
    }
    if (n) memcpy(v->p, p, (size_t)n);
    v->p[n] = 0;
    v->n = n;
  }
  return SQLITE_OK;
}

static int vc_copy(val_copy *dst, const val_copy *src) {
  dst->type = src->type, dst->i = src->i, dst->r = src->r;
  if (src->type == SQLITE_TEXT || src->type == SQLITE_BLOB) {
    if (src->n + 1 > dst->cap) {
      char *q = sqlite3_realloc(dst->p, src->n + 1);
      if (!q) return SQLITE_NOMEM;
      dst->p = q;
      dst->cap = src->n + 1;
    }
    memcpy(dst->p, src->p, (size_t)src->n + 1);
    dst->n = src->n;
  }
  return SQLITE_OK;
}

/* Partition equality as ORDER BY groups it (type, then bytes; numbers by value). */
static int vc_same(const val_copy *a, sqlite3_value *x) {
  int t = sqlite3_value_type(x);
  if (a->type != t) {
    if ((a->type == SQLITE_INTEGER || a->type == SQLITE_FLOAT) && (t == SQLITE_INTEGER || t == SQLITE_FLOAT))
      return (a->type == SQLITE_INTEGER ? (double)a->i : a->r) == sqlite3_value_double(x);
    return 0;
  }
  switch (t) {
    case SQLITE_NULL: return 1;
    case SQLITE_INTEGER: return a->i == sqlite3_value_int64(x);
    case SQLITE_FLOAT: return a->r == sqlite3_value_double(x);
    default: {
      const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_value_text(x) : sqlite3_value_blob(x);
      int n = sqlite3_value_bytes(x);
      return n == a->n && (n == 0 || memcmp(p, a->p, (size_t)n) == 0);
    }
  }
}

static void vc_result(sqlite3_context *ctx, const val_copy *v) {
  switch (v->type) {
    case SQLITE_INTEGER: sqlite3_result_int64(ctx, v->i); break;
    case SQLITE_FLOAT: sqlite3_result_double(ctx, v->r); break;
    case SQLITE_TEXT: sqlite3_result_text(ctx, v->p, v->n, SQLITE_TRANSIENT); break;
    case SQLITE_BLOB: sqlite3_result_blob(ctx, v->p, v->n, SQLITE_TRANSIENT); break;
    default: sqlite3_result_null(ctx);
  }
}

/* --- arguments ------------------------------------------------------------------------------ */

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\n') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n')) s[--n] = 0;
  return s;
}

/* Removes SQL-style quotes ('x', "x", [x], `x`) in place; returns 1 if s was quoted. */
static int dequote(char *s) {
  char q = s[0], close = q == '[' ? ']' : q;
  if (q != '\'' && q != '"' && q != '[' && q != '`') return 0;
  size_t n = strlen(s);
  if (n < 2 || s[n - 1] != close) return 0;
  size_t o = 0;
  for (size_t i = 1; i < n - 1; i++) {
    s[o++] = s[i];
    if (s[i] == close && q != '[' && s[i + 1] == close) i++;
  }
  s[o] = 0;
  return 1;
}

static char *quote_ident(const char *s) { return sqlite3_mprintf("\"%w\"", s); }
/* A column of the source, qualified by it: a bare "name" that matches no column would silently
** become a string literal in SQLite (double-quoted string fallback); src."name" cannot. */
static char *quote_col(const win_vtab *v, const char *s) { return sqlite3_mprintf("%s.\"%w\"", v->src, s); }

static void win_free(win_vtab *v) {
  if (!v) return;
  sqlite3_free(v->src);
  sqlite3_free(v->part);
  sqlite3_free(v->order);
  for (int i = 0; i < v->nf; i++) sqlite3_free(v->fields[i]);
  sqlite3_free(v->fields);
  sqlite3_free(v->fields_json);
  sqlite3_free(v);
}

/* Checks that `expr` (a quoted column) can be selected from the source; error names the argument. */
static int check_column(win_vtab *v, const char *arg, const char *raw, const char *quoted, char **pzErr) {
  char *sql = sqlite3_mprintf("SELECT %s FROM %s LIMIT 0", quoted, v->src);
  if (!sql) return SQLITE_NOMEM;
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(v->db, sql, -1, &st, 0);
  sqlite3_free(sql);
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("fn_windows: %s: no column '%s' in the source (%s)", arg, raw, sqlite3_errmsg(v->db));
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

static int parse_int_arg(const char *key, const char *val, int lo, int hi, int *out, char **pzErr) {
  char *end;
  long x = strtol(val, &end, 10);
  if (!*val || *end || x < lo || x > hi) {
    *pzErr = sqlite3_mprintf("fn_windows: %s must be an integer in [%d, %d], got '%s'", key, lo, hi, val);
    return SQLITE_ERROR;
  }
  *out = (int)x;
  return SQLITE_OK;
}

static int win_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                       sqlite3_vtab **ppVtab, char **pzErr) {
  win_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->db = db;
  v->size = 10;
  v->stride = 1;
  int rc = SQLITE_OK;
  char *src = 0, *part = 0, *order = 0, *fields = 0;
  int src_quoted = 0;
  for (int i = 3; i < argc && rc == SQLITE_OK; i++) {
    char *a = sqlite3_mprintf("%s", argv[i]);
    if (!a) { rc = SQLITE_NOMEM; break; }
    char *eq = strchr(a, '=');
    if (!eq) {
      *pzErr = sqlite3_mprintf("fn_windows: argument '%s' is not key=value", trim(a));
      rc = SQLITE_ERROR;
      sqlite3_free(a);
      break;
    }
    *eq = 0;
    char *key = trim(a), *val = trim(eq + 1);
    int quoted = dequote(val);
    char **slot = 0;
    if (!strcmp(key, "source")) slot = &src, src_quoted = quoted;
    else if (!strcmp(key, "partition")) slot = &part;
    else if (!strcmp(key, "order")) slot = &order;
    else if (!strcmp(key, "fields")) slot = &fields;
    else if (!strcmp(key, "size")) rc = parse_int_arg("size", val, 1, WIN_MAX_SIZE, &v->size, pzErr);
    else if (!strcmp(key, "stride")) rc = parse_int_arg("stride", val, 1, 1000000, &v->stride, pzErr);
    else {
      *pzErr = sqlite3_mprintf("fn_windows: unknown argument '%s' (known: source, partition, order, "
                               "fields, size, stride)", key);
      rc = SQLITE_ERROR;
    }
    if (slot) {
      if (*slot) {
        *pzErr = sqlite3_mprintf("fn_windows: argument '%s' given twice", key);
        rc = SQLITE_ERROR;
      } else if (!*val) {
        *pzErr = sqlite3_mprintf("fn_windows: argument '%s' is empty", key);
        rc = SQLITE_ERROR;
      } else if (!(*slot = sqlite3_mprintf("%s", val))) {
        rc = SQLITE_NOMEM;
      }
    }
    sqlite3_free(a);
  }
  if (rc == SQLITE_OK && !src) {
    *pzErr = sqlite3_mprintf("fn_windows: missing argument 'source' (the table or view to window)");
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK && !fields) {
    *pzErr = sqlite3_mprintf("fn_windows: missing argument 'fields' (comma-separated columns)");
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK && !strcmp(src, argv[2])) {
    *pzErr = sqlite3_mprintf("fn_windows: source '%s' is this table itself", src);
    rc = SQLITE_ERROR;
  }
  /* Source: schema.name unless the whole name was quoted. */
  const char *tname = src, *sname = 0;
  if (rc == SQLITE_OK) {
    char *dot = src_quoted ? 0 : strchr(src, '.');
    if (dot) {
      *dot = 0;
      sname = trim(src);
      tname = trim(dot + 1);
      v->src = sqlite3_mprintf("\"%w\".\"%w\"", sname, tname);
    } else {
      v->src = quote_ident(src);
    }
    if (!v->src) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK) {
    char *sql = sqlite3_mprintf("SELECT * FROM %s LIMIT 0", v->src);
    sqlite3_stmt *st = 0;
    rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, 0) : SQLITE_NOMEM;
    sqlite3_free(sql);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM) {
      *pzErr = sqlite3_mprintf("fn_windows: source '%s' is not a table or view (%s)", tname, sqlite3_errmsg(db));
      rc = SQLITE_ERROR;
    }
  }
  if (rc == SQLITE_OK) {
    /* Views and WITHOUT ROWID tables have no rowid (a view even answers "rowid" with NULLs). */
    sqlite3_stmt *st = 0;
    v->has_rowid = 1;
    if (sqlite3_prepare_v2(db, "SELECT type, wr FROM pragma_table_list WHERE name = ?1 AND (?2 IS NULL OR schema = ?2)",
                           -1, &st, 0) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, tname, -1, SQLITE_TRANSIENT);
      if (sname) sqlite3_bind_text(st, 2, sname, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW)
        v->has_rowid = strcmp((const char *)sqlite3_column_text(st, 0), "view") != 0 && !sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
  }
  if (rc == SQLITE_OK && part) {
    v->part = quote_col(v, part);
    rc = v->part ? check_column(v, "partition", part, v->part, pzErr) : SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK) {
    if (order) {
      v->order = quote_col(v, order);
      rc = v->order ? check_column(v, "order", order, v->order, pzErr) : SQLITE_NOMEM;
    } else if (v->has_rowid) {
      v->order = sqlite3_mprintf("rowid");
      if (!v->order) rc = SQLITE_NOMEM;
    } else {
      *pzErr = sqlite3_mprintf("fn_windows: source '%s' has no rowid; give order=<column>", tname);
      rc = SQLITE_ERROR;
    }
  }
  /* Fields: comma-separated, each trimmed and dequoted. */
  fg_buf pre = {0};
  if (rc == SQLITE_OK && fg_buf_put(&pre, "{\"fields\":[", 11)) rc = SQLITE_NOMEM;
  for (char *s = fields; rc == SQLITE_OK && s;) {
    char *comma = strchr(s, ',');
    if (comma) *comma = 0;
    char *name = trim(s);
    dequote(name);
    s = comma ? comma + 1 : 0;
    if (!*name) {
      *pzErr = sqlite3_mprintf("fn_windows: fields has an empty name");
      rc = SQLITE_ERROR;
      break;
    }
    if (v->nf == FG_WINDOW_MAX_FIELDS) {
      *pzErr = sqlite3_mprintf("fn_windows: more than %d fields", FG_WINDOW_MAX_FIELDS);
      rc = SQLITE_ERROR;
      break;
    }
    for (int j = 0; j < v->nf; j++)
      if (!strcmp(v->fields[j], name)) {
        *pzErr = sqlite3_mprintf("fn_windows: fields names '%s' twice", name);
        rc = SQLITE_ERROR;
      }
    if (rc) break;
    char **nf = sqlite3_realloc(v->fields, (int)sizeof(char *) * (v->nf + 1));
    if (!nf) { rc = SQLITE_NOMEM; break; }
    v->fields = nf;
    if (!(v->fields[v->nf] = sqlite3_mprintf("%s", name))) { rc = SQLITE_NOMEM; break; }
    v->nf++;
    char *q = quote_col(v, name);
    if (!q) { rc = SQLITE_NOMEM; break; }
    rc = check_column(v, "fields", name, q, pzErr);
    sqlite3_free(q);
    if (rc == SQLITE_OK && ((v->nf > 1 && fg_buf_put(&pre, ",", 1)) || fg_buf_json_str(&pre, name, strlen(name))))
      rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK && fg_buf_put(&pre, "],\"steps\":[", 11)) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    v->fields_json = sqlite3_mprintf("%s", pre.p);
    if (!v->fields_json) rc = SQLITE_NOMEM;
  }
  fg_buf_free(&pre);
  sqlite3_free(src);
  sqlite3_free(part);
  sqlite3_free(order);
  sqlite3_free(fields);
  if (rc == SQLITE_OK)
    rc = sqlite3_declare_vtab(db, "CREATE TABLE x(part, first_rowid INTEGER, last_rowid INTEGER, "
                                  "first_order, last_order, n_steps INTEGER, window TEXT)");
  if (rc != SQLITE_OK) {
    win_free(v);
    return rc;
  }
  *ppVtab = &v->base;
  return SQLITE_OK;
}

static int win_disconnect(sqlite3_vtab *p) {
  win_free((win_vtab *)p);
  return SQLITE_OK;
}

/* idxNum bit 1: a `part = ?` constraint is pushed down; bit 2: `first_order >= ?` (or `>`, bit
** 4 then marks it strict). Their values come in xFilter's argv in that order. With bit 2 the
** source is read from that order value on, so windows start there: exactly the windows whose
** first row is at or after it, for stride 1 (online scoring reads only the recent rows). */
static int win_best_index(sqlite3_vtab *tab, sqlite3_index_info *info) {
  win_vtab *v = (win_vtab *)tab;
  int part = -1, from = -1;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (!c->usable) continue;
    if (c->iColumn == WIN_COL_PART && c->op == SQLITE_INDEX_CONSTRAINT_EQ && v->part && part < 0) part = i;
    if (c->iColumn == WIN_COL_FIRST_ORDER && v->stride == 1 && from < 0 &&
        (c->op == SQLITE_INDEX_CONSTRAINT_GE || c->op == SQLITE_INDEX_CONSTRAINT_GT))
      from = i;
  }
  int n = 0;
  info->idxNum = 0;
  info->estimatedCost = 1e6;
  if (part >= 0) {
    info->idxNum |= 1;
    info->aConstraintUsage[part].argvIndex = ++n;
    info->estimatedCost /= 1000;
  }
  if (from >= 0) {
    info->idxNum |= 2 | (info->aConstraint[from].op == SQLITE_INDEX_CONSTRAINT_GT ? 4 : 0);
    info->aConstraintUsage[from].argvIndex = ++n;
    info->estimatedCost /= 10;
  }
  return SQLITE_OK;
}

static int win_open(sqlite3_vtab *tab, sqlite3_vtab_cursor **pp) {
  win_vtab *v = (win_vtab *)tab;
  win_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->ring = sqlite3_malloc((int)sizeof(win_row) * v->size);
  if (!c->ring) {
    sqlite3_free(c);
    return SQLITE_NOMEM;
  }
  memset(c->ring, 0, sizeof(win_row) * (size_t)v->size);
  *pp = &c->base;
  return SQLITE_OK;
}

static int win_close(sqlite3_vtab_cursor *cur) {
  win_cursor *c = (win_cursor *)cur;
  win_vtab *v = (win_vtab *)cur->pVtab;
  sqlite3_finalize(c->stmt);
  for (int i = 0; i < v->size; i++) {
    vc_free(&c->ring[i].order);
    fg_buf_free(&c->ring[i].json);
  }
  sqlite3_free(c->ring);
  vc_free(&c->part);
  vc_free(&c->out_part);
  fg_buf_free(&c->out);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int set_err(win_cursor *c, const char *msg) {
  sqlite3_free(c->base.pVtab->zErrMsg);
  c->base.pVtab->zErrMsg = sqlite3_mprintf("%s", msg);
  return SQLITE_ERROR;
}

/* Stores the statement's current row in the ring. Columns: 0 rowid, 1 partition, 2 order, 3.. fields. */
static int push_row(win_cursor *c) {
  win_vtab *v = (win_vtab *)c->base.pVtab;
  win_row *r = &c->ring[c->k % v->size];
  r->rowid_null = sqlite3_column_type(c->stmt, 0) == SQLITE_NULL;
  r->rowid = sqlite3_column_int64(c->stmt, 0);
  if (vc_set(&r->order, sqlite3_column_value(c->stmt, 2))) return SQLITE_NOMEM;
  r->json.len = 0;
  if (fg_buf_put(&r->json, "[", 1)) return SQLITE_NOMEM;
  for (int f = 0; f < v->nf; f++) {
    sqlite3_value *x = sqlite3_column_value(c->stmt, 3 + f);
    int rc = 0;
    if (f && fg_buf_put(&r->json, ",", 1)) return SQLITE_NOMEM;
    switch (sqlite3_value_type(x)) {
      case SQLITE_NULL: rc = fg_buf_put(&r->json, "null", 4); break;
      case SQLITE_INTEGER: {
        char t[24];
        int n = snprintf(t, sizeof t, "%lld", (long long)sqlite3_value_int64(x));
        rc = fg_buf_put(&r->json, t, (size_t)n);
        break;
      }
      case SQLITE_FLOAT: {
        double d = sqlite3_value_double(x);
        if (!isfinite(d)) {
          char *m = sqlite3_mprintf("fn_windows: field '%s' is not a finite number at rowid %lld",
                                    v->fields[f], r->rowid);
          rc = set_err(c, m ? m : "fn_windows: non-finite number");
          sqlite3_free(m);
          return rc;
        }
        rc = fg_buf_json_num(&r->json, d);
        break;
      }
      case SQLITE_TEXT:
        rc = fg_buf_json_str(&r->json, (const char *)sqlite3_value_text(x), (size_t)sqlite3_value_bytes(x));
        break;
      default: {
        char *m = sqlite3_mprintf("fn_windows: field '%s' is a BLOB at rowid %lld; cast it to text or a number",
                                  v->fields[f], r->rowid);
        rc = set_err(c, m ? m : "fn_windows: BLOB field");
        sqlite3_free(m);
        return rc;
      }
    }
    if (rc) return SQLITE_NOMEM;
  }
  if (fg_buf_put(&r->json, "]", 1)) return SQLITE_NOMEM;
  if (c->k == 0 && vc_set(&c->part, sqlite3_column_value(c->stmt, 1))) return SQLITE_NOMEM;
  c->k++;
  return SQLITE_OK;
}

/* Makes the window of the last n rows read the current output row. */
static int emit(win_cursor *c, long n) {
  win_vtab *v = (win_vtab *)c->base.pVtab;
  c->first = c->k - n;
  c->n = n;
  c->out.len = 0;
  if (fg_buf_put(&c->out, v->fields_json, strlen(v->fields_json))) return SQLITE_NOMEM;
  for (long i = c->first; i < c->k; i++) {
    const fg_buf *j = &c->ring[i % v->size].json;
    if ((i > c->first && fg_buf_put(&c->out, ",", 1)) || fg_buf_put(&c->out, j->p, j->len)) return SQLITE_NOMEM;
  }
  if (fg_buf_put(&c->out, "]}", 2)) return SQLITE_NOMEM;
  if (vc_copy(&c->out_part, &c->part)) return SQLITE_NOMEM;
  c->rowid++;
  return SQLITE_OK;
}

static int step_source(win_cursor *c) {
  if (++depth_guard > 16) {
    depth_guard--;
    return set_err(c, "fn_windows: sources nest more than 16 deep (does a source read itself?)");
  }
  int rc = sqlite3_step(c->stmt);
  depth_guard--;
  return rc;
}

/* Advances to the next window; sets c->eof when there is none. */
static int next_window(win_cursor *c) {
  win_vtab *v = (win_vtab *)c->base.pVtab;
  for (;;) {
    if (c->end_part) {
      /* The partition ended: a short partition, or a tail the strides did not reach, gets one
      ** window ending at its last row. */
      c->end_part = 0;
      long k = c->k;
      int need = k > 0 && (k < v->size || (k - v->size) % v->stride != 0);
      int rc = need ? emit(c, k < v->size ? k : v->size) : SQLITE_OK;
      c->k = 0;
      if (rc) return rc;
      if (need) return SQLITE_OK;
      if (c->src_eof) {
        c->eof = 1;
        return SQLITE_OK;
      }
    }
    if (c->held) {
      c->held = 0;
    } else if (c->src_eof) {
      c->eof = 1; /* stepping a finished statement would restart it */
      return SQLITE_OK;
    } else {
      int rc = step_source(c);
      if (rc == SQLITE_DONE) {
        c->src_eof = 1;
        c->end_part = 1;
        continue;
      }
      if (rc != SQLITE_ROW) {
        if (!c->base.pVtab->zErrMsg) {
          char *m = sqlite3_mprintf("fn_windows: reading the source: %s", sqlite3_errmsg(v->db));
          set_err(c, m ? m : "fn_windows: reading the source failed");
          sqlite3_free(m);
        }
        return SQLITE_ERROR;
      }
      if (c->k > 0 && !vc_same(&c->part, sqlite3_column_value(c->stmt, 1))) {
        c->held = 1; /* first row of the next partition: keep it for after the tail window */
        c->end_part = 1;
        continue;
      }
    }
    int rc = push_row(c);
    if (rc) return rc;
    if (c->k >= v->size && (c->k - v->size) % v->stride == 0) return emit(c, v->size);
  }
}

static int win_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                      sqlite3_value **argv) {
  win_cursor *c = (win_cursor *)cur;
  win_vtab *v = (win_vtab *)cur->pVtab;
  sqlite3_finalize(c->stmt);
  c->stmt = 0;
  c->k = 0;
  c->held = c->src_eof = c->end_part = c->eof = 0;
  c->rowid = 0;
  fg_buf fl = {0};
  for (int f = 0; f < v->nf; f++) {
    char *q = quote_col(v, v->fields[f]);
    int bad = !q || fg_buf_put(&fl, ", ", 2) || fg_buf_put(&fl, q, strlen(q));
    sqlite3_free(q);
    if (bad) {
      fg_buf_free(&fl);
      return SQLITE_NOMEM;
    }
  }
  const char *part = v->part ? v->part : "NULL";
  const char *rowid = v->has_rowid ? "rowid" : "NULL";
  /* WHERE part = ?1 [AND order >=|> ?2] — identifiers were quoted at connect time. */
  char *where = sqlite3_mprintf("%s%s%s%s%s%s", (idxNum & 3) ? " WHERE " : "", (idxNum & 1) ? part : "",
                                (idxNum & 1) ? " = ?1" : "", (idxNum & 3) == 3 ? " AND " : "",
                                (idxNum & 2) ? v->order : "", (idxNum & 2) ? ((idxNum & 4) ? " > ?2" : " >= ?2") : "");
  /* Ties in the order column go by rowid: the same windows every time, whichever plan runs. */
  char *sql = where ? sqlite3_mprintf("SELECT %s, %s, %s%s FROM %s%s ORDER BY %s%s%s%s", rowid, part, v->order,
                                      fl.p ? fl.p : "", v->src, where, v->part ? part : "", v->part ? ", " : "",
                                      v->order, v->has_rowid ? ", rowid" : "")
                    : NULL;
  sqlite3_free(where);
  fg_buf_free(&fl);
  if (!sql) return SQLITE_NOMEM;
  int rc = sqlite3_prepare_v2(v->db, sql, -1, &c->stmt, 0);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) {
    char *m = sqlite3_mprintf("fn_windows: cannot read the source: %s", sqlite3_errmsg(v->db));
    set_err(c, m ? m : "fn_windows: cannot read the source");
    sqlite3_free(m);
    return SQLITE_ERROR;
  }
  for (int i = 0, k = 1; i < argc && k <= 2; k++) {
    if (!(idxNum & k)) continue;
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) { /* = NULL and >= NULL match nothing */
      c->eof = 1;
      return SQLITE_OK;
    }
    sqlite3_bind_value(c->stmt, k, argv[i++]);
  }
  return next_window(c);
}

static int win_next(sqlite3_vtab_cursor *cur) { return next_window((win_cursor *)cur); }
static int win_eof(sqlite3_vtab_cursor *cur) { return ((win_cursor *)cur)->eof; }

static int win_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  win_cursor *c = (win_cursor *)cur;
  win_vtab *v = (win_vtab *)cur->pVtab;
  const win_row *first = &c->ring[c->first % v->size];
  const win_row *last = &c->ring[(c->first + c->n - 1) % v->size];
  switch (col) {
    case WIN_COL_PART: vc_result(ctx, &c->out_part); break;
    case WIN_COL_FIRST_ROWID:
      if (first->rowid_null) sqlite3_result_null(ctx);
      else sqlite3_result_int64(ctx, first->rowid);
      break;
    case WIN_COL_LAST_ROWID:
      if (last->rowid_null) sqlite3_result_null(ctx);
      else sqlite3_result_int64(ctx, last->rowid);
      break;
    case WIN_COL_FIRST_ORDER: vc_result(ctx, &first->order); break;
    case WIN_COL_LAST_ORDER: vc_result(ctx, &last->order); break;
    case WIN_COL_N_STEPS: sqlite3_result_int64(ctx, c->n); break;
    case WIN_COL_WINDOW: sqlite3_result_text(ctx, c->out.p, (int)c->out.len, SQLITE_TRANSIENT); break;
  }
  return SQLITE_OK;
}

static int win_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *r) {
  *r = ((win_cursor *)cur)->rowid;
  return SQLITE_OK;
}

static sqlite3_module win_module = {
    0,               /* iVersion */
    win_connect,     /* xCreate: same as connect, nothing is stored */
    win_connect,     /* xConnect */
    win_best_index,  /* xBestIndex */
    win_disconnect,  /* xDisconnect */
    win_disconnect,  /* xDestroy */
    win_open,        /* xOpen */
    win_close,       /* xClose */
    win_filter,      /* xFilter */
    win_next,        /* xNext */
    win_eof,         /* xEof */
    win_column,      /* xColumn */
    win_rowid,       /* xRowid */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int fg_register_windows(sqlite3 *db) { return sqlite3_create_module(db, "fn_windows", &win_module, 0); }
