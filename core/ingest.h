/*
** ingest.h — walking the inputs of one ingestion call: files, readers, and bad input.
**
** The three table-valued functions (ext/vt_cloudtrail.c, vt_lambdalog.c, vt_xray.c) read in the
** same way: expand a path argument into files (logreader.h), or take JSON text; open a format
** reader on each in turn; pass its records on; and on bad input either stop with the error (the
** default: the statement fails, so an INSERT … SELECT imports nothing) or, with skip_errors, turn
** it into an *error item* and go on:
**   - a path that cannot be read (expansion or open error): one error item, next file;
**   - an error the reader can step over (a bad line of JSON Lines or of a log, a record that is
**     not an object): one error item, and reading goes on in the same file;
**   - any other error (malformed JSON document, truncated gzip): one error item; the records
**     before it have been returned, the rest of that file is skipped, next file.
** Running out of memory always stops. A format reader is four functions (ig_ops).
*/
#ifndef FG_INGEST_H
#define FG_INGEST_H

#include <stddef.h>

#include "fg_err.h"
#include "logreader.h"

typedef struct ig_ops {
  /* Opens a file (path) or text (path NULL; text[0..n) labelled `label`). */
  int (*open)(void **rd, const char *path, const char *text, size_t n, const char *label,
              fg_err *err);
  /* 1 and *rec: a record; 0: end of this input; -code: an error (message in err). */
  int (*next)(void *rd, const void **rec, fg_err *err);
  /* After an error: 1 if this input can be read on. */
  int (*resume)(void *rd);
  void (*close)(void *rd);
} ig_ops;

typedef struct ig_iter {
  const ig_ops *ops; /* the format reader */
  int skip_errors;   /* 1: errors become items */
  lr_list files;     /* inputs (path mode) */
  size_t next_file;  /* index in files of the next input to open */
  const char *text;  /* JSON-text mode: the text (caller's, must outlive the iteration) */
  size_t text_n;     /* ... its length */
  const char *label; /* ... its name in messages */
  int text_done;     /* ... 1 once opened */
  void *rd;          /* reader of the current input, or NULL */
  const char *file;  /* name of the current input (path or label) */
  const void *rec;   /* current item: a record, or NULL for an error item */
  char error[512];   /* current error item's message */
} ig_iter;

/* Starts over `path` (text NULL) or over text[0..n) named `label` (path NULL). */
int ig_start(ig_iter *it, const ig_ops *ops, const char *path, const char *text, size_t n,
             const char *label, int skip_errors, fg_err *err);
/* Next item: 1 (it->rec, or an error item with it->rec NULL and it->error set); 0 at the end;
** -code on an error that stops the iteration (message in err). */
int ig_next(ig_iter *it, fg_err *err);
void ig_end(ig_iter *it);

#endif
