/* ingest.c — iteration over the inputs of one ingestion call (see ingest.h). */
#include "ingest.h"

#include <stdio.h>
#include <string.h>

int ig_start(ig_iter *it, const ig_ops *ops, const char *path, const char *text, size_t n,
             const char *label, int skip_errors, fg_err *err) {
  memset(it, 0, sizeof *it);
  it->ops = ops;
  it->skip_errors = skip_errors;
  if (path) return lr_expand(path, &it->files, err);
  it->text = text ? text : "";
  it->text_n = n;
  it->label = label;
  return FG_OK;
}

static void close_current(ig_iter *it) {
  if (it->rd) it->ops->close(it->rd);
  it->rd = NULL;
}

/* Makes an error item of err (skip_errors), or passes the error on. */
static int error_item(ig_iter *it, fg_err *err) {
  if (!it->skip_errors || err->code == FG_ENOMEM) return -err->code;
  snprintf(it->error, sizeof it->error, "%s", err->msg);
  fg_err_clear(err);
  it->rec = NULL;
  return 1;
}

int ig_next(ig_iter *it, fg_err *err) {
  for (;;) {
    if (it->rd) {
      const void *rec;
      int rc = it->ops->next(it->rd, &rec, err);
      if (rc > 0) {
        it->rec = rec;
        return 1;
      }
      if (rc == 0) {
        close_current(it);
        continue;
      }
      if (!it->skip_errors || err->code == FG_ENOMEM) return rc;
      if (!it->ops->resume(it->rd)) close_current(it); /* the rest of this input is lost */
      return error_item(it, err);
    }
    /* Open the next input. */
    int rc;
    if (it->text) {
      if (it->text_done) return 0;
      it->text_done = 1;
      it->file = it->label;
      rc = it->ops->open(&it->rd, NULL, it->text, it->text_n, it->label, err);
    } else {
      if (it->next_file >= it->files.n) return 0;
      const lr_entry *e = &it->files.v[it->next_file++];
      it->file = e->path;
      if (e->error) {
        fg_errf(err, FG_EIO, "%s", e->error);
        return error_item(it, err);
      }
      rc = it->ops->open(&it->rd, e->path, NULL, 0, NULL, err);
    }
    if (rc != FG_OK) {
      it->rd = NULL;
      return error_item(it, err);
    }
  }
}

void ig_end(ig_iter *it) {
  close_current(it);
  lr_list_free(&it->files);
  memset(it, 0, sizeof *it);
}
