/*
** jscan.h — a validating JSON scanner over a byte window, and a streaming document reader.
**
** Why not jansson for everything: jansson builds a tree of every value (a hash table per
** object), which costs more than SQLite's own json_each()+json_extract() path; CloudTrail
** ingestion must be faster than that. jscan validates the JSON grammar (RFC 8259: strings,
** escapes, numbers, literals, nesting) without building anything: a value is reported as its type
** and its span of bytes in the window, and callers convert only the fields they want. jansson is
** still used where a tree is convenient (X-Ray documents, Lambda JSON log records), on spans
** jscan has already delimited. Deviations from jansson: invalid UTF-8 and lone surrogate escapes
** are accepted (SQLite's JSON functions accept them too); "\u0000" is accepted.
**
** Incremental input: every jscan function either completes, or returns JS_MORE when the window
** ends before the value does and more input may follow (jscan.eof == 0), or JS_ERR. After
** JS_MORE the caller refills the window and restarts the same step from its beginning; steps are
** small (one record), so restarts cost little.
**
** jdoc streams the values of one input, whatever its shape:
**   - a top-level array: each element is a value (where = JD_ELEM);
**   - a top-level object whose FIRST key is one of `keys` with an array value (the CloudTrail
**     envelope {"Records":[...]}, X-Ray {"Traces":[...]}, CloudWatch {"events":[...]}): each
**     element of that array is a value (JD_ELEM, jdoc.key = index in keys); the other members
**     are validated and skipped;
**   - any other top-level object: the object is a value (JD_TOP);
**   - several top-level values one after another (JSON Lines, or concatenated documents) are
**     each handled as above.
** Only the current value needs to be in memory, plus the unconsumed window.
*/
#ifndef FG_JSCAN_H
#define FG_JSCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fg_err.h"
#include "logreader.h"

enum { JS_OK = 0, JS_MORE = 1, JS_ERR = 2 };

#define JS_MAX_DEPTH 512 /* deeper nesting is an error (jansson's limit is 2048) */

typedef enum {
  JV_ABSENT = 0, /* the member is not there (callers' default) */
  JV_NULL,
  JV_FALSE,
  JV_TRUE,
  JV_NUM,
  JV_STR,
  JV_OBJ,
  JV_ARR
} jv_type;

typedef struct jval {
  const char *s; /* JV_STR: the bytes between the quotes; otherwise the value's whole text */
  size_t n;      /* length of s */
  uint8_t type;  /* jv_type */
  uint8_t flag;  /* JV_STR: 1 if s holds backslash escapes; JV_OBJ/JV_ARR: 1 if s holds
                 ** whitespace outside strings (so js_minify() would change it) */
} jval;

typedef struct jscan {
  const char *p;       /* next byte to read */
  const char *end;     /* end of the window; *end is a NUL sentinel */
  int eof;             /* 1: no input follows end */
  const char *err_at;  /* on JS_ERR: where */
  const char *err_msg; /* on JS_ERR: what (static text) */
} jscan;

/* Whitespace, as JSON defines it. */
static inline const char *js_ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
  return p;
}

/* Scans one value starting at s->p (which must not be whitespace) into *v; s->p moves past it. */
int js_value(jscan *s, jval *v);
/* Scans a string (s->p at '"') into *v. */
int js_string(jscan *s, jval *v);
/* Object members, one at a time. Call js_member with *first = 1 right after consuming '{'. It
** consumes the ',' or '}' before the next member; at '}' it sets *done = 1. Otherwise it reads
** the key into *key and the ':' and whitespace after it, leaving s->p at the value. */
int js_member(jscan *s, int *first, jval *key, int *done);

/* Writes the decoded bytes of a string value (escapes resolved, UTF-8) to out, which must have
** room for v->n bytes (decoding never lengthens). Returns the length written. */
size_t js_unescape(const jval *v, char *out);
/* Copies an object/array text without whitespace outside strings to out (room for v->n bytes).
** Returns the length written. */
size_t js_minify(const jval *v, char *out);
/* JV_NUM → integer: 1 and *out if the number is an integer that fits int64, else 0. */
int js_int64(const jval *v, int64_t *out);
/* JV_NUM → double. */
double js_double(const jval *v);
/* 1 if string value v equals the NUL-terminated text t (escapes in v make it compare unequal:
** keys that matter never have them). */
static inline int js_eq(const jval *v, const char *t, size_t tn) {
  return v->n == tn && !v->flag && memcmp(v->s, t, tn) == 0;
}
#define JS_EQ(v, lit) js_eq((v), (lit), sizeof(lit) - 1)

/* ---- streaming documents ------------------------------------------------------------------- */

enum { JD_TOP = 0, JD_ELEM = 1 };

/* Parses one value at s->p (like js_value, which is the default); a reader may extract what it
** needs on the way (one pass). Must be restartable after JS_MORE. */
typedef int (*jdoc_parse_fn)(void *ctx, jscan *s, jval *v);

typedef struct jdoc {
  lr_buf *b;               /* the input window */
  const char *const *keys; /* NULL-terminated envelope keys whose arrays are streamed */
  jdoc_parse_fn parse;     /* value parser */
  void *ctx;               /* its context */
  int state;               /* where in the document (jscan.c) */
  int key;                 /* index in keys of the array being streamed; -1: top-level array */
  size_t top;              /* buffer offset of the current top-level value, while in JD_TOP */
  int resync_ok;           /* after an error: 1 if reading may resume at the next line */
  size_t resync_at;        /* ... at this buffer offset */
  int started;             /* a byte-order mark has been looked for */
} jdoc;

void jdoc_init(jdoc *d, lr_buf *b, const char *const *keys, jdoc_parse_fn parse, void *ctx);
/* Next value: 1 and *v (valid until the next call) and *where (JD_TOP / JD_ELEM); 0 at end of
** input; -code on error, with a message "NAME:LINE:COL: what is wrong near 'text'". */
int jdoc_next(jdoc *d, jval *v, int *where, fg_err *err);
/* After a syntax error: 1 if the bad value was a one-line top-level value (JSON Lines) and reading
** goes on at the next line; 0 if the rest of the input cannot be read. */
int jdoc_resync(jdoc *d);

#endif
