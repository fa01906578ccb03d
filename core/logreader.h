/*
** logreader.h — where log bytes come from: paths expanded to files, files read through zlib.
**
** The three ingestion readers (cloudtrail.h, lambdalog.h, xray.h) share this layer:
**
**   lr_expand()  turns one path argument into the ordered list of files to read:
**                  - an existing regular file: itself, whatever its name;
**                  - an existing directory: the log files under it, recursively, in byte order
**                    of names: regular files named *.json, *.jsonl, *.ndjson, *.log, *.txt,
**                    each optionally gzipped (+ .gz), or *.gz; names that start with '.' and
**                    CloudTrail digest files ("_CloudTrail-Digest_") are skipped, and so are
**                    other files (a README, a manifest); an empty directory gives an empty list;
**                  - otherwise, if the path contains a glob character (* ? [ {): the sorted
**                    matches, each expanded as above (a matching file is read whatever its
**                    name); no match gives an empty list (a pattern is a question, "which files
**                    match?", and "none" is an answer);
**                  - otherwise: an entry carrying the error "cannot open 'PATH': REASON".
**                An existing path is never treated as a pattern, so a Lambda log stream file
**                named "[$LATEST]0a1b…" is read as itself. Problems found while walking (an
**                unreadable sub-directory) become entries carrying an error, in walk order, so a
**                caller can fail on them or report them and go on.
**
**   lr_buf       a window on one input: a file read with gzopen()/gzread() (which reads plain
**                files as they are and gunzips gzip files, whatever their name), or text already
**                in memory. Callers consume bytes from buf[pos..len) and call lr_buf_fill() when
**                they need more, saying how much of the front they still need (`keep`); the
**                window grows only when one item (a line, a JSON record) is larger than it. It
**                tracks the line and column of buf[0], so an offset can be named as line:col.
**
**   lr_getline() streams lines (LF or CRLF) out of an lr_buf, without loading the file.
**
** Errors (fg_err) name the file: "cannot open 'x': Permission denied", "x: truncated gzip file
** (unexpected end of file)".
*/
#ifndef FG_LOGREADER_H
#define FG_LOGREADER_H

#include <stddef.h>
#include <stdint.h>

#include "fg_err.h"

/* ---- path expansion ------------------------------------------------------------------------ */

typedef struct lr_entry {
  char *path;  /* file to read (or the path at fault when error is set) */
  char *error; /* NULL, or why this path cannot be read (names the path) */
} lr_entry;

typedef struct lr_list {
  lr_entry *v;
  size_t n, cap;
} lr_list;

/* Expands `path` as described above, appending entries to `out` (which the caller zeroes first).
** Returns FG_OK, or FG_ENOMEM; every other problem is an entry with `error` set. */
int lr_expand(const char *path, lr_list *out, fg_err *err);
void lr_list_free(lr_list *l);

/* ---- buffered input ------------------------------------------------------------------------ */

typedef struct lr_buf {
  char *buf;        /* bytes buf[0..len) are valid; buf[len] is always a NUL */
  size_t len;       /* bytes in the window */
  size_t cap;       /* allocated size of buf, minus the NUL */
  size_t pos;       /* first byte the caller has not consumed (callers manage it) */
  int eof;          /* 1: nothing will follow buf[len-1] */
  int owned;        /* 1: buf is ours (file input); 0: caller's memory */
  void *gz;         /* gzFile, or NULL for memory input */
  char *name;       /* file name (or label for memory input), for messages */
  long long line0;  /* 1-based line number of buf[0] */
  long long col0;   /* 0-based byte column of buf[0] within its line */
  long long off0;   /* offset in the (uncompressed) input of buf[0] */
  long long nlines; /* lines returned by lr_getline() so far */
} lr_buf;

/* Opens a file. On failure the message is "cannot open 'PATH': REASON". */
int lr_buf_open_file(lr_buf *b, const char *path, fg_err *err);
/* Reads text[0..n) from memory (copied). `label` names it in messages. */
int lr_buf_open_mem(lr_buf *b, const char *text, size_t n, const char *label, fg_err *err);
void lr_buf_close(lr_buf *b);

/* Forgets buf[0..keep) (keep ≤ len; pos moves with the data) and reads more input, growing the
** window if it was full. Sets eof when the input is exhausted. Returns FG_OK, FG_ENOMEM, or
** FG_EIO ("NAME: truncated gzip file (...)", "NAME: read error: ..."). */
int lr_buf_fill(lr_buf *b, size_t keep, fg_err *err);

/* 1-based line and column (in bytes) of buffer offset `off`. */
void lr_buf_where(const lr_buf *b, size_t off, long long *line, long long *col);

/* Next line, without its LF or CRLF, as (*line, *n) inside the window (valid until the next call;
** not NUL-terminated). Returns 1 for a line, 0 at end of input, or -code on error. *lineno
** (optional) gets its 1-based line number. */
int lr_getline(lr_buf *b, const char **line, size_t *n, long long *lineno, fg_err *err);

/* ---- time ---------------------------------------------------------------------------------- */

/* ISO 8601 / RFC 3339 time "YYYY-MM-DDTHH:MM:SS[.fff…][Z|±HH:MM|±HHMM]" (a space may replace the
** T; no zone means UTC) → unix milliseconds (fractions beyond ms are truncated). Returns the
** number of bytes parsed (> 0), or 0 if s does not start with such a time. */
size_t lr_parse_time(const char *s, size_t n, int64_t *ms);

#endif
