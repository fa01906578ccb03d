/*
** vt_ingest.c — one sqlite3_module for the three ingestion table-valued functions.
**
**   SELECT * FROM xray_segments('logs/xray', 1);             -- path form, skip_errors = 1
**   SELECT * FROM xray_segments WHERE path = 'logs/xray';    -- the same, named argument
**   SELECT * FROM xray_segments_json('{"id":"70de5b6f19ff9a0a", …}');
**
** Each module (vt_cloudtrail.c, vt_lambdalog.c, vt_xray.c) describes its columns and reader in a
** vi_def (vt_ingest.h); everything here is driven by that table. Every registered name gets the
** same sqlite3_module; its client data (a vi_form) says which vi_def and which form, path or
** JSON text. The walk over files, readers and bad input is core/ingest.c; this file turns it into
** cursor calls, hidden arguments and SQL errors "NAME: message".
*/
#include "vt_ingest.h"

#include <string.h>

/* What one registered name stands for: the client data of its module. */
typedef struct vi_form {
  const vi_def *def; /* the ingestion module */
  int json_form;     /* 1: the argument is JSON text (JSON_NAME), 0: a path (NAME) */
} vi_form;

/* The virtual table: one per registered name and database connection. */
typedef struct vi_vtab {
  sqlite3_vtab base; /* base class, first */
  vi_form form;      /* which module and form */
} vi_vtab;

/* A cursor: one iteration over the inputs. */
struct vi_cursor {
  sqlite3_vtab_cursor base; /* base class, first */
  ig_iter it;               /* inputs, reader, current item */
  int started;              /* it has been started (ig_end needed) */
  int eof;                  /* no more rows */
  sqlite3_int64 rowid;      /* 1, 2, … */
  char *text;               /* JSON form: a copy of the argument (it must outlive xFilter's) */
  char *scratch;            /* vi_scratch(): decoded values for the module's column callback */
  size_t scratch_cap;       /* its size */
};

static const char *table_name(const vi_vtab *t) {
  return t->form.json_form ? t->form.def->json_name : t->form.def->name;
}

static int viConnect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **ppVtab, char **pzErr) {
  const vi_form *form = aux;
  const vi_def *def = form->def;
  char *sql = sqlite3_mprintf("CREATE TABLE x(%s, %s HIDDEN, skip_errors HIDDEN%s%s)", def->columns,
                              form->json_form ? "json" : "path", def->extra_hidden ? ", " : "",
                              def->extra_hidden ? def->extra_hidden : "");
  if (!sql) return SQLITE_NOMEM;
  int rc = sqlite3_declare_vtab(db, sql);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) return rc;
  /* Reads files: never from a view, trigger or CHECK of a database someone else wrote. */
  if (!form->json_form) sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  vi_vtab *t = sqlite3_malloc(sizeof *t);
  if (!t) return SQLITE_NOMEM;
  memset(t, 0, sizeof *t);
  t->form = *form;
  *ppVtab = &t->base;
  return SQLITE_OK;
}

static int viDisconnect(sqlite3_vtab *vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

static int viOpen(sqlite3_vtab *vtab, sqlite3_vtab_cursor **ppCursor) {
  vi_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *ppCursor = &c->base;
  return SQLITE_OK;
}

/* Ends the current iteration, if any; the cursor can be filtered again. */
static void reset(vi_cursor *c) {
  if (c->started) ig_end(&c->it);
  c->started = 0;
  sqlite3_free(c->text);
  c->text = NULL;
}

static int viClose(sqlite3_vtab_cursor *cur) {
  vi_cursor *c = (vi_cursor *)cur;
  reset(c);
  sqlite3_free(c->scratch);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* Sets the table's error from err as "NAME: message"; returns the SQLite code. */
static int set_error(vi_cursor *c, const fg_err *err) {
  vi_vtab *t = (vi_vtab *)c->base.pVtab;
  if (err->code == FG_ENOMEM) return SQLITE_NOMEM;
  sqlite3_free(t->base.zErrMsg);
  t->base.zErrMsg = sqlite3_mprintf("%s: %s", table_name(t), err->msg);
  return SQLITE_ERROR;
}

static int viNext(sqlite3_vtab_cursor *cur) {
  vi_cursor *c = (vi_cursor *)cur;
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
static int viFilter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                    sqlite3_value **argv) {
  vi_cursor *c = (vi_cursor *)cur;
  vi_vtab *t = (vi_vtab *)cur->pVtab;
  reset(c);
  c->eof = 1;
  c->rowid = 0;
  if (idxNum & 2) {
    sqlite3_free(t->base.zErrMsg);
    t->base.zErrMsg = sqlite3_mprintf(
        "%s: missing argument: %s", table_name(t),
        t->form.json_form ? "json (the JSON text to read)" : "path (a file, directory or glob)");
    return SQLITE_ERROR;
  }
  if (argc < 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL) return SQLITE_OK;
  int skip = (idxNum & 1) && argc > 1 ? sqlite3_value_int(argv[1]) != 0 : 0;
  const char *arg = (const char *)sqlite3_value_text(argv[0]);
  if (!arg) return SQLITE_NOMEM;
  const ig_ops *ops = t->form.def->ops;
  fg_err err;
  fg_err_clear(&err);
  int rc;
  if (t->form.json_form) {
    int n = sqlite3_value_bytes(argv[0]);
    c->text = sqlite3_malloc(n + 1);
    if (!c->text) return SQLITE_NOMEM;
    memcpy(c->text, arg, (size_t)n + 1);
    rc = ig_start(&c->it, ops, NULL, c->text, (size_t)n, "json", skip, &err);
  } else {
    rc = ig_start(&c->it, ops, arg, NULL, 0, NULL, skip, &err);
  }
  c->started = 1;
  if (rc != FG_OK) return set_error(c, &err);
  return viNext(cur);
}

static int viEof(sqlite3_vtab_cursor *cur) { return ((vi_cursor *)cur)->eof; }

static int viRowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid) {
  *pRowid = ((vi_cursor *)cur)->rowid;
  return SQLITE_OK;
}

char *vi_scratch(vi_cursor *c, size_t n) {
  if (n + 1 > c->scratch_cap) {
    size_t cap = n + 1 < 4096 ? 4096 : 2 * (n + 1);
    char *p = sqlite3_realloc64(c->scratch, cap);
    if (!p) return NULL;
    c->scratch = p;
    c->scratch_cap = cap;
  }
  return c->scratch;
}

void vi_result_str(sqlite3_context *ctx, const char *s) {
  if (s) sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
}

/* The columns every module has are answered here; the rest by the module's callback. An error
** row (skip_errors) has only file and input_error. */
static int viColumn(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  vi_cursor *c = (vi_cursor *)cur;
  const vi_def *def = ((vi_vtab *)cur->pVtab)->form.def;
  const void *rec = c->it.rec;
  if (col == def->col_file) {
    sqlite3_result_text(ctx, c->it.file, -1, SQLITE_TRANSIENT);
    return SQLITE_OK;
  }
  if (col == def->col_input_error) {
    if (!rec) sqlite3_result_text(ctx, c->it.error, -1, SQLITE_TRANSIENT);
    return SQLITE_OK;
  }
  if (!rec || col == def->col_path || col == def->col_path + 1) return SQLITE_OK; /* NULL */
  return def->column(ctx, rec, col, c);
}

/*
** xBestIndex. The first argument (path / json, column col_path) is required: without any
** constraint on it the plan gets idxNum 2 and a prohibitive cost (xFilter then fails with
** "missing argument"); with an unusable one (a join order where its value is not known yet)
** SQLITE_CONSTRAINT rejects the plan. skip_errors (col_path + 1) is optional.
** Output: argv[0] = first argument, argv[1] = skip_errors when idxNum bit 1 is set.
*/
static int viBestIndex(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  const int col_arg = ((vi_vtab *)vtab)->form.def->col_path, col_skip = col_arg + 1;
  int iArg = -1, iSkip = -1, unusable = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *k = &info->aConstraint[i];
    if (k->iColumn != col_arg && k->iColumn != col_skip) continue;
    if (k->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!k->usable) {
      if (k->iColumn == col_arg) unusable = 1;
      continue;
    }
    if (k->iColumn == col_arg)
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

static sqlite3_module vi_module = {
    0,            /* iVersion */
    0,            /* xCreate: eponymous only */
    viConnect,    /* xConnect */
    viBestIndex,  /* xBestIndex */
    viDisconnect, /* xDisconnect */
    0,            /* xDestroy */
    viOpen,       /* xOpen */
    viClose,      /* xClose */
    viFilter,     /* xFilter */
    viNext,       /* xNext */
    viEof,        /* xEof */
    viColumn,     /* xColumn */
    viRowid,      /* xRowid */
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

int vi_register(sqlite3 *db, const vi_def *def) {
  for (int json_form = 0; json_form <= 1; json_form++) {
    /* The client data lives as long as the registration: SQLite frees it (also when the call
    ** fails, so there is nothing to undo here). */
    vi_form *form = sqlite3_malloc(sizeof *form);
    if (!form) return SQLITE_NOMEM;
    form->def = def;
    form->json_form = json_form;
    int rc = sqlite3_create_module_v2(db, json_form ? def->json_name : def->name, &vi_module, form,
                                      sqlite3_free);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}
