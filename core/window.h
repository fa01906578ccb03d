/*
** window.h — the window: fnguard's unit of data, as JSON text.
**
**   {"fields":["key","duration_ms"],"steps":[["open",12.5],["read",3.0],[null,1]]}
**
** fn_windows writes windows in this form and the lstm_ae_* functions read it; a person can read
** and write it too. A JSON string is a categorical value, a number a numeric value, null a missing
** value; true/false are the numbers 1/0. Every step has one value per field. Other top-level keys
** are ignored, so windows may carry context (e.g. "part").
**
** fg_window_parse is a small dedicated parser (not a general JSON library) because training reads
** millions of windows: it decodes into buffers owned by the fg_window and reused from one call to
** the next, so parsing allocates nothing once the buffers have grown.
*/
#ifndef FG_WINDOW_H
#define FG_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fg_err.h"

#define FG_WINDOW_MAX_FIELDS 64
#define FG_WINDOW_MAX_STEPS 4096

enum { FG_V_NULL = 0, FG_V_NUM = 1, FG_V_STR = 2 };

typedef struct fg_val {
  uint8_t kind;  /* FG_V_* */
  uint32_t len;  /* FG_V_STR: length in bytes */
  size_t off;    /* FG_V_STR: offset of the decoded string in fg_window.str */
  double num;    /* FG_V_NUM: the value (finite) */
} fg_val;

typedef struct fg_window {
  int n_fields;
  size_t field_off[FG_WINDOW_MAX_FIELDS];   /* offsets of field names in str */
  uint32_t field_len[FG_WINDOW_MAX_FIELDS];
  int n_steps;
  fg_val *vals;          /* [n_steps][n_fields] */
  size_t vals_cap;
  char *str;             /* decoded strings, each NUL-terminated */
  size_t str_len, str_cap;
} fg_window;

void fg_window_init(fg_window *w);
void fg_window_free(fg_window *w);
/* Parses `json` (len bytes) into w, replacing its content. FG_EINVAL with a message saying what
** and where (byte offset, step, field) on malformed input. */
int fg_window_parse(fg_window *w, const char *json, size_t len, fg_err *err);
static inline const char *fg_window_field(const fg_window *w, int f) { return w->str + w->field_off[f]; }
static inline const fg_val *fg_window_val(const fg_window *w, int step, int f) {
  return &w->vals[(size_t)step * w->n_fields + f];
}
static inline const char *fg_window_valstr(const fg_window *w, const fg_val *v) { return w->str + v->off; }
/* Comma-separated field names (for messages), truncated to fit `cap` bytes. */
void fg_window_fields_str(const fg_window *w, char *out, size_t cap);

/* A growable byte buffer, used to write JSON. */
typedef struct fg_buf {
  char *p;
  size_t len, cap;
} fg_buf;
int fg_buf_grow(fg_buf *b, size_t extra);  /* 0 or FG_ENOMEM */
int fg_buf_put(fg_buf *b, const char *s, size_t n);
/* Appends s (n bytes) as a JSON string literal, quotes included. */
int fg_buf_json_str(fg_buf *b, const char *s, size_t n);
/* Appends a finite double as a JSON number that reads back to the same double ("null" if not
** finite: JSON has no NaN). */
int fg_buf_json_num(fg_buf *b, double x);
static inline void fg_buf_free(fg_buf *b) { free(b->p); b->p = 0; b->len = b->cap = 0; }

#endif
