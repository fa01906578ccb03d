/* logreader.c — path expansion, gzip-transparent buffered input, line streaming (logreader.h). */
#include "logreader.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define LR_INITIAL_CAP (1u << 20) /* first window size for files: 1 MiB */
#define LR_MAX_DEPTH 64           /* directory nesting followed at most (symlink loops) */

/* ---- path expansion ------------------------------------------------------------------------ */

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static int push(lr_list *l, const char *path, const char *error) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    lr_entry *v = realloc(l->v, cap * sizeof *v);
    if (!v) return FG_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  lr_entry *e = &l->v[l->n];
  e->path = dupstr(path);
  e->error = error ? dupstr(error) : NULL;
  if (!e->path || (error && !e->error)) {
    free(e->path);
    free(e->error);
    return FG_ENOMEM;
  }
  l->n++;
  return FG_OK;
}

static int push_errno(lr_list *l, const char *path, int errnum) {
  char msg[1200];
  snprintf(msg, sizeof msg, "cannot open '%s': %s", path, strerror(errnum));
  return push(l, path, msg);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Names a directory walk skips: hidden names, CloudTrail digest files (a different format,
** delivered beside the logs), and files whose extension is not a log's. */
static int skipped_name(const char *name, int is_dir) {
  static const char *const exts[] = {".json", ".jsonl", ".ndjson", ".log", ".txt", NULL};
  if (name[0] == '.' || strstr(name, "_CloudTrail-Digest_") != NULL) return 1;
  if (is_dir) return 0;
  size_t n = strlen(name);
  if (ends_with(name, n, ".gz")) return 0;
  for (int i = 0; exts[i]; i++) {
    if (ends_with(name, n, exts[i])) return 0;
  }
  return 1;
}

static int expand_dir(const char *dir, lr_list *out, int depth);

/* Adds `path`, known to exist with status `st`. */
static int expand_existing(const char *path, const struct stat *st, lr_list *out, int depth) {
  if (S_ISDIR(st->st_mode)) {
    if (depth >= LR_MAX_DEPTH) {
      char msg[1200];
      snprintf(msg, sizeof msg, "cannot open '%s': directories nested too deeply (a symlink loop?)",
               path);
      return push(out, path, msg);
    }
    return expand_dir(path, out, depth + 1);
  }
  if (S_ISREG(st->st_mode)) return push(out, path, NULL);
  return FG_OK; /* sockets, fifos, devices: not log files */
}

static int expand_dir(const char *dir, lr_list *out, int depth) {
  DIR *d = opendir(dir);
  if (!d) return push_errno(out, dir, errno);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = FG_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    if (n == cap) {
      size_t ncap = cap ? 2 * cap : 32;
      char **v = realloc(names, ncap * sizeof *v);
      if (!v) {
        rc = FG_ENOMEM;
        break;
      }
      names = v;
      cap = ncap;
    }
    if (!(names[n] = dupstr(de->d_name))) {
      rc = FG_ENOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  if (rc == FG_OK && n > 1) qsort(names, n, sizeof *names, cmp_str);
  size_t dlen = strlen(dir);
  int slash = dlen > 0 && dir[dlen - 1] == '/';
  for (size_t i = 0; i < n && rc == FG_OK; i++) {
    size_t len = dlen + 1 + strlen(names[i]) + 1;
    char *p = malloc(len);
    if (!p) {
      rc = FG_ENOMEM;
      break;
    }
    snprintf(p, len, slash ? "%s%s" : "%s/%s", dir, names[i]);
    struct stat st;
    if (stat(p, &st) != 0) {
      rc = push_errno(out, p, errno);
    } else if (!skipped_name(names[i], S_ISDIR(st.st_mode))) {
      rc = expand_existing(p, &st, out, depth);
    }
    free(p);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

int lr_expand(const char *path, lr_list *out, fg_err *err) {
  struct stat st;
  int rc;
  if (stat(path, &st) == 0) {
    rc = expand_existing(path, &st, out, 0);
  } else if (strpbrk(path, "*?[{") != NULL) {
    glob_t g;
    memset(&g, 0, sizeof g);
    int grc = glob(path, GLOB_BRACE, NULL, &g);
    rc = FG_OK;
    if (grc == GLOB_NOSPACE) {
      rc = FG_ENOMEM;
    } else if (grc == 0) {
      qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
      for (size_t i = 0; i < g.gl_pathc && rc == FG_OK; i++) {
        if (stat(g.gl_pathv[i], &st) != 0) {
          rc = push_errno(out, g.gl_pathv[i], errno);
        } else {
          rc = expand_existing(g.gl_pathv[i], &st, out, 0);
        }
      }
    } /* GLOB_NOMATCH, GLOB_ABORTED: no files */
    globfree(&g);
  } else {
    rc = push_errno(out, path, errno);
  }
  if (rc == FG_ENOMEM) return fg_errf(err, FG_ENOMEM, "out of memory listing '%s'", path);
  return rc;
}

void lr_list_free(lr_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].path);
    free(l->v[i].error);
  }
  free(l->v);
  memset(l, 0, sizeof *l);
}

/* ---- buffered input ------------------------------------------------------------------------ */

static void buf_init(lr_buf *b) {
  memset(b, 0, sizeof *b);
  b->line0 = 1;
}

int lr_buf_open_file(lr_buf *b, const char *path, fg_err *err) {
  buf_init(b);
  b->owned = 1;
  b->name = dupstr(path);
  if (!b->name) return fg_errf(err, FG_ENOMEM, "out of memory opening '%s'", path);
  /* gzopen() would also open a directory; stat first to say what is wrong. */
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    lr_buf_close(b);
    return fg_errf(err, FG_EIO, "cannot open '%s': Is a directory", path);
  }
  errno = 0;
  gzFile gz = gzopen(path, "rb");
  if (!gz) {
    int e = errno;
    lr_buf_close(b);
    return fg_errf(err, FG_EIO, "cannot open '%s': %s", path, e ? strerror(e) : "out of memory");
  }
  gzbuffer(gz, 256 * 1024);
  b->gz = gz;
  b->buf = malloc(LR_INITIAL_CAP + 1);
  if (!b->buf) {
    lr_buf_close(b);
    return fg_errf(err, FG_ENOMEM, "out of memory opening '%s'", path);
  }
  b->cap = LR_INITIAL_CAP;
  b->buf[0] = 0;
  return FG_OK;
}

int lr_buf_open_mem(lr_buf *b, const char *text, size_t n, const char *label, fg_err *err) {
  buf_init(b);
  b->owned = 1;
  b->name = dupstr(label);
  b->buf = malloc(n + 1);
  if (!b->name || !b->buf) {
    lr_buf_close(b);
    return fg_errf(err, FG_ENOMEM, "out of memory copying %zu bytes of %s", n, label);
  }
  if (n) memcpy(b->buf, text, n);
  b->buf[n] = 0;
  b->len = b->cap = n;
  b->eof = 1;
  return FG_OK;
}

void lr_buf_close(lr_buf *b) {
  if (b->gz) gzclose_r((gzFile)b->gz);
  if (b->owned) free(b->buf);
  free(b->name);
  buf_init(b);
}

/* Advances line0/col0/off0 over buf[0..n). */
static void account(lr_buf *b, size_t n) {
  const char *p = b->buf, *end = b->buf + n, *last = NULL;
  while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    b->line0++;
    last = p++;
  }
  if (last) {
    b->col0 = (long long)(end - last - 1);
  } else {
    b->col0 += (long long)n;
  }
  b->off0 += (long long)n;
}

int lr_buf_fill(lr_buf *b, size_t keep, fg_err *err) {
  if (b->eof) return FG_OK;
  if (keep > 0) {
    account(b, keep);
    memmove(b->buf, b->buf + keep, b->len - keep);
    b->len -= keep;
    b->pos = b->pos >= keep ? b->pos - keep : 0;
  }
  if (b->len == b->cap) {
    size_t cap = b->cap * 2;
    char *nb = cap > b->cap ? realloc(b->buf, cap + 1) : NULL;
    if (!nb)
      return fg_errf(err, FG_ENOMEM, "%s: out of memory (an item larger than %zu bytes)", b->name,
                     b->cap);
    b->buf = nb;
    b->cap = cap;
  }
  size_t want = b->cap - b->len;
  if (want > (1u << 30)) want = 1u << 30;
  int got = gzread((gzFile)b->gz, b->buf + b->len, (unsigned)want);
  if (got <= 0) {
    /* Data read before a problem is delivered first; the problem shows on the next call. */
    int errnum = Z_OK;
    const char *msg = gzerror((gzFile)b->gz, &errnum);
    size_t nl = strlen(b->name); /* zlib prefixes its message with the path */
    if (msg && strncmp(msg, b->name, nl) == 0 && msg[nl] == ':' && msg[nl + 1] == ' ')
      msg += nl + 2;
    if (errnum == Z_BUF_ERROR) {
      return fg_errf(err, FG_EIO, "%s: truncated gzip file (%s)", b->name, msg);
    }
    if (errnum == Z_ERRNO) {
      return fg_errf(err, FG_EIO, "%s: read error: %s", b->name, strerror(errno));
    }
    if (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
      return fg_errf(err, FG_EIO, "%s: corrupt gzip data (%s)", b->name, msg);
    }
    b->eof = 1;
    return FG_OK;
  }
  b->len += (size_t)got;
  b->buf[b->len] = 0;
  return FG_OK;
}

void lr_buf_where(const lr_buf *b, size_t off, long long *line, long long *col) {
  if (off > b->len) off = b->len;
  long long ln = b->line0;
  const char *p = b->buf, *end = b->buf + off, *last = NULL;
  while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    ln++;
    last = p++;
  }
  *line = ln;
  *col = 1 + (last ? (long long)(end - last - 1) : b->col0 + (long long)off);
}

int lr_getline(lr_buf *b, const char **line, size_t *n, long long *lineno, fg_err *err) {
  size_t scanned = b->pos; /* bytes already searched for '\n' */
  for (;;) {
    const char *nl = memchr(b->buf + scanned, '\n', b->len - scanned);
    if (nl || (b->eof && b->pos < b->len)) {
      const char *start = b->buf + b->pos;
      const char *stop = nl ? nl : b->buf + b->len;
      b->pos = (size_t)(stop - b->buf) + (nl ? 1 : 0);
      if (stop > start && stop[-1] == '\r') stop--;
      *line = start;
      *n = (size_t)(stop - start);
      if (lineno) *lineno = ++b->nlines;
      return 1;
    }
    if (b->eof) return 0;
    size_t had = b->len - b->pos;
    int rc = lr_buf_fill(b, b->pos, err);
    if (rc) return -rc;
    scanned = had; /* pos is 0 after the fill */
  }
}

/* ---- time ---------------------------------------------------------------------------------- */

static int digits(const char *s, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

size_t lr_parse_time(const char *s, size_t n, int64_t *ms) {
  int Y, M, D, h, m, sec, frac = 0;
  if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':')
    return 0;
  if (!digits(s, 4, &Y) || !digits(s + 5, 2, &M) || !digits(s + 8, 2, &D) ||
      !digits(s + 11, 2, &h) || !digits(s + 14, 2, &m) || !digits(s + 17, 2, &sec))
    return 0;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return 0;
  size_t i = 19;
  if (i < n && (s[i] == '.' || s[i] == ',')) {
    size_t j = i + 1;
    int scale = 100;
    while (j < n && s[j] >= '0' && s[j] <= '9') {
      frac += (s[j] - '0') * scale;
      scale /= 10;
      j++;
    }
    if (j == i + 1) return 0;
    i = j;
  }
  int64_t off_min = 0;
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (i + 3 > n || !digits(s + i + 1, 2, &oh)) return 0;
    size_t j = i + 3;
    if (j < n && s[j] == ':') j++;
    if (j + 2 > n || !digits(s + j, 2, &om)) return 0;
    off_min = (int64_t)(oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    i = j + 2;
  }
  int64_t days = days_from_civil(Y, M, D);
  *ms = ((days * 86400 + h * 3600 + m * 60 + sec) - off_min * 60) * 1000 + frac;
  return i;
}
