/* test_ingest.c — the ingestion core: JSON scanner, streaming documents, paths, gzip, and the
** CloudTrail, Lambda log and X-Ray readers (core/jscan.h, logreader.h, cloudtrail.h,
** lambdalog.h, xray.h, ingest.h). The SQL surface is tested in tests/sql/ingest_*.sql. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cloudtrail.h"
#include "ingest.h"
#include "jscan.h"
#include "lambdalog.h"
#include "logreader.h"
#include "xray.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static char tmpdir[256];

static int setup_tmp(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/fg_test_ingest_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/rel, with parent directories made. */
static const char *tpath(const char *rel) {
  static char buf[4][1024];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, 1024, "%s/%s", tmpdir, rel);
  for (char *s = p + strlen(tmpdir) + 1; *s; s++) {
    if (*s == '/') {
      *s = 0;
      mkdir(p, 0755);
      *s = '/';
    }
  }
  return p;
}

static void write_file(const char *rel, const char *data, size_t n) {
  FILE *f = fopen(tpath(rel), "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void write_str(const char *rel, const char *text) { write_file(rel, text, strlen(text)); }

static void write_gz(const char *rel, const char *data, size_t n) {
  gzFile g = gzopen(tpath(rel), "wb");
  assert_non_null(g);
  assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
  gzclose(g);
}

/* Scans text as one complete value; returns the JS_* code and fills v / the scanner. */
static int scan(const char *text, jval *v, jscan *s) {
  s->p = text;
  s->end = text + strlen(text);
  s->eof = 1;
  return js_value(s, v);
}

/* ---- jscan --------------------------------------------------------------------------------- */

static void test_jscan_values(void **state) {
  (void)state;
  jval v;
  jscan s;
  assert_int_equal(scan("\"a\\u00e9\\n\"", &v, &s), JS_OK);
  assert_int_equal(v.type, JV_STR);
  assert_int_equal(v.flag, 1);
  char out[64];
  size_t n = js_unescape(&v, out);
  assert_int_equal(n, 4);
  assert_memory_equal(out, "a\xc3\xa9\n", 4);
  /* surrogate pair → 4 bytes; a lone surrogate → U+FFFD */
  assert_int_equal(scan("\"\\ud83d\\ude00|\\ud800\"", &v, &s), JS_OK);
  n = js_unescape(&v, out);
  assert_int_equal(n, 8);
  assert_memory_equal(out, "\xf0\x9f\x98\x80|\xef\xbf\xbd", 8);
  assert_int_equal(scan("-12.5e3", &v, &s), JS_OK);
  assert_int_equal(v.type, JV_NUM);
  assert_true(js_double(&v) == -12500.0);
  int64_t i;
  assert_false(js_int64(&v, &i));
  assert_int_equal(scan("-9223372036854775808", &v, &s), JS_OK);
  assert_true(js_int64(&v, &i));
  assert_true(i == INT64_MIN);
  assert_int_equal(scan("9223372036854775808", &v, &s), JS_OK);
  assert_false(js_int64(&v, &i)); /* does not fit: callers fall back to double */
  assert_int_equal(scan("true", &v, &s), JS_OK);
  assert_int_equal(v.type, JV_TRUE);
  assert_int_equal(scan("null", &v, &s), JS_OK);
  assert_int_equal(v.type, JV_NULL);
  assert_int_equal(scan("{ \"a\" : [1, {\"b\":\"x y\"}] ,\"c\":{}}", &v, &s), JS_OK);
  assert_int_equal(v.type, JV_OBJ);
  assert_int_equal(v.flag, 1);
  n = js_minify(&v, out);
  out[n] = 0;
  assert_string_equal(out, "{\"a\":[1,{\"b\":\"x y\"}],\"c\":{}}");
  assert_int_equal(scan("[]", &v, &s), JS_OK);
  assert_int_equal(v.flag, 0);
}

static void test_jscan_errors(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int at; /* offset of the error */
    const char *msg;
  } cases[] = {
      {"{\"a\" 1}", 5, "expected ':' after object key"},
      {"{\"a\":1 \"b\":2}", 7, "expected ',' or '}' after object member"},
      {"[1 2]", 3, "expected ',' or ']' after array element"},
      {"[1,]", 3, "expected a value"},
      {"{1:2}", 1, "expected a string (object key)"},
      {"\"a\\x\"", 3, "invalid escape in string"},
      {"\"a\\u12G4\"", 6, "invalid \\u escape in string"},
      {"\"a\nb\"", 2, "unexpected newline in string"},
      {"\"a\tb\"", 2, "control character in string"},
      {"01", 1, NULL}, /* a number ends at 0; the caller sees "1" as trailing garbage */
      {"-", 1, "unexpected end of input"},
      {"1.", 2, "unexpected end of input"},
      {"tru", 3, "unexpected end of input"},
      {"trux", 0, "invalid token"},
      {"[1, 2", 5, "unexpected end of input"},
      {"\"abc", 4, "unexpected end of input"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    jval v;
    jscan s;
    int rc = scan(cases[k].text, &v, &s);
    if (!cases[k].msg) {
      assert_int_equal(rc, JS_OK);
      assert_int_equal(s.p - cases[k].text, cases[k].at);
      continue;
    }
    if (rc != JS_ERR) fail_msg("case %zu (%s): rc %d", k, cases[k].text, rc);
    assert_string_equal(s.err_msg, cases[k].msg);
    assert_int_equal(s.err_at - cases[k].text, cases[k].at);
  }
  /* nesting beyond JS_MAX_DEPTH */
  char deep[2 * JS_MAX_DEPTH + 8];
  memset(deep, '[', JS_MAX_DEPTH + 1);
  memset(deep + JS_MAX_DEPTH + 1, ']', JS_MAX_DEPTH + 1);
  deep[2 * JS_MAX_DEPTH + 2] = 0;
  jval v;
  jscan s;
  assert_int_equal(scan(deep, &v, &s), JS_ERR);
  assert_string_equal(s.err_msg, "nesting too deep");
}

/* Without eof, a value cut by the window's end asks for more instead of failing. */
static void test_jscan_more(void **state) {
  (void)state;
  const char *full = "{\"a\":[1,2,\"x\\u00e9\"],\"b\":true,\"n\":123}";
  size_t len = strlen(full);
  char buf[128];
  for (size_t cut = 0; cut < len; cut++) {
    memcpy(buf, full, cut);
    buf[cut] = 0;
    jscan s = {buf, buf + cut, 0, NULL, NULL};
    jval v;
    if (cut == 0) continue;
    int rc = js_value(&s, &v);
    if (rc != JS_MORE) fail_msg("cut at %zu: rc %d", cut, rc);
  }
  /* a number at the very end of the window may go on */
  jscan s = {"12", "12" + 2, 0, NULL, NULL};
  jval v;
  assert_int_equal(js_value(&s, &v), JS_MORE);
}

/* ---- time ---------------------------------------------------------------------------------- */

static void test_parse_time(void **state) {
  (void)state;
  int64_t ms;
  assert_int_equal(lr_parse_time("2026-01-05T10:00:00Z", 20, &ms), 20);
  assert_true(ms == 1767607200000LL);
  assert_int_equal(lr_parse_time("2026-01-05T10:00:00.123456Z x", 29, &ms), 27);
  assert_true(ms == 1767607200123LL);
  assert_true(lr_parse_time("2026-01-05T11:00:00+01:00", 25, &ms) == 25 && ms == 1767607200000LL);
  assert_true(lr_parse_time("2026-01-05 09:30:00,5-0030", 26, &ms) == 26 && ms == 1767607200500LL);
  assert_true(lr_parse_time("1970-01-01T00:00:00", 19, &ms) == 19 && ms == 0);
  assert_true(lr_parse_time("2024-02-29T00:00:00Z", 20, &ms) == 20 && ms == 1709164800000LL);
  assert_int_equal(lr_parse_time("2026-13-05T10:00:00Z", 20, &ms), 0);
  assert_int_equal(lr_parse_time("2026-01-05", 10, &ms), 0);
  assert_int_equal(lr_parse_time("START RequestId: x", 18, &ms), 0);
}

/* ---- paths and input ----------------------------------------------------------------------- */

static void test_expand(void **state) {
  (void)state;
  write_file("logs/b.json", "[]", 2);
  write_file("logs/a/z.jsonl.gz", "", 0);
  write_file("logs/a/y.log", "", 0);
  write_file("logs/.hidden.json", "", 0);
  write_file("logs/README.md", "", 0);
  write_file("logs/x_CloudTrail-Digest_y.json", "", 0);
  write_file("logs/[$LATEST]abc.log", "", 0);
  mkdir(tpath("empty"), 0755);
  lr_list l = {0};
  fg_err e;
  fg_err_clear(&e);
  assert_int_equal(lr_expand(tpath("logs"), &l, &e), FG_OK);
  assert_int_equal(l.n, 4);
  assert_string_equal(l.v[0].path, tpath("logs/[$LATEST]abc.log"));
  assert_string_equal(l.v[1].path, tpath("logs/a/y.log"));
  assert_string_equal(l.v[2].path, tpath("logs/a/z.jsonl.gz"));
  assert_string_equal(l.v[3].path, tpath("logs/b.json"));
  lr_list_free(&l);
  /* an existing name with glob characters is itself */
  assert_int_equal(lr_expand(tpath("logs/[$LATEST]abc.log"), &l, &e), FG_OK);
  assert_int_equal(l.n, 1);
  assert_null(l.v[0].error);
  lr_list_free(&l);
  /* a glob: matches are read whatever their name */
  assert_int_equal(lr_expand(tpath("logs/*.md"), &l, &e), FG_OK);
  assert_int_equal(l.n, 1);
  lr_list_free(&l);
  assert_int_equal(lr_expand(tpath("logs/*.nothing"), &l, &e), FG_OK);
  assert_int_equal(l.n, 0);
  lr_list_free(&l);
  assert_int_equal(lr_expand(tpath("empty"), &l, &e), FG_OK);
  assert_int_equal(l.n, 0);
  lr_list_free(&l);
  /* a missing path is an entry carrying the error */
  assert_int_equal(lr_expand(tpath("nope.json"), &l, &e), FG_OK);
  assert_int_equal(l.n, 1);
  char want[1200];
  snprintf(want, sizeof want, "cannot open '%s': No such file or directory", tpath("nope.json"));
  assert_string_equal(l.v[0].error, want);
  lr_list_free(&l);
}

static void test_getline_gzip(void **state) {
  (void)state;
  const char text[] = "one\r\ntwo\n\nlast";
  write_gz("lines.gz", text, sizeof text - 1);
  lr_buf b;
  fg_err e;
  fg_err_clear(&e);
  assert_int_equal(lr_buf_open_file(&b, tpath("lines.gz"), &e), FG_OK);
  const char *line;
  size_t n;
  long long no;
  const char *want[] = {"one", "two", "", "last"};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(lr_getline(&b, &line, &n, &no, &e), 1);
    assert_int_equal(n, strlen(want[i]));
    assert_memory_equal(line, want[i], n);
    assert_int_equal(no, i + 1);
  }
  assert_int_equal(lr_getline(&b, &line, &n, &no, &e), 0);
  lr_buf_close(&b);
  /* truncated gzip: an error naming the file */
  char big[20000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + (i * 7919) % 26);
  write_gz("big.gz", big, sizeof big);
  FILE *f = fopen(tpath("big.gz"), "rb");
  char gz[40000];
  size_t gn = fread(gz, 1, sizeof gz, f);
  fclose(f);
  write_file("cut.gz", gz, gn / 2);
  assert_int_equal(lr_buf_open_file(&b, tpath("cut.gz"), &e), FG_OK);
  int rc;
  while ((rc = lr_getline(&b, &line, &n, &no, &e)) > 0) {
  }
  assert_int_equal(rc, -FG_EIO);
  char msg[1200];
  snprintf(msg, sizeof msg, "%s: truncated gzip file (unexpected end of file)", tpath("cut.gz"));
  assert_string_equal(e.msg, msg);
  lr_buf_close(&b);
  /* a directory, and a missing file */
  assert_int_equal(lr_buf_open_file(&b, tmpdir, &e), FG_EIO);
  assert_non_null(strstr(e.msg, "Is a directory"));
  assert_int_equal(lr_buf_open_file(&b, tpath("missing"), &e), FG_EIO);
  assert_non_null(strstr(e.msg, "No such file or directory"));
}

/* ---- CloudTrail ---------------------------------------------------------------------------- */

static const char REC_LAMBDA[] =
    "{\"eventTime\":\"2026-01-05T10:00:00Z\",\"eventSource\":\"dynamodb.amazonaws.com\","
    "\"eventName\":\"PutItem\",\"userAgent\":\"Boto3/1.34 exec-env/AWS_Lambda_python3.12\","
    "\"userIdentity\":{\"type\":\"AssumedRole\",\"principalId\":\"AROA1:fn-a\","
    "\"arn\":\"arn:aws:sts::1:assumed-role/app-Role-X/fn-a\",\"accessKeyId\":\"ASIA1\","
    "\"sessionContext\":{\"attributes\":{\"x\":1},\"sessionIssuer\":{\"type\":\"Role\","
    "\"arn\":\"arn:aws:iam::1:role/app-Role-X\",\"userName\":\"app-Role-X\"}}},"
    "\"requestParameters\":{\"tableName\":\"t\"},\"readOnly\":false}";

/* Reads all records of text; returns how many, and copies the events / functions seen. */
static int read_ct(const char *text, char events[][64], char functions[][64], int max, fg_err *e) {
  ct_reader *r;
  assert_int_equal(ct_open(&r, NULL, text, strlen(text), "t", e), FG_OK);
  const ct_record *rec;
  int n = 0, rc;
  while ((rc = ct_next(r, &rec, e)) > 0) {
    if (n < max) {
      snprintf(events[n], 64, "%.*s", (int)rec->event.n, rec->event.s ? rec->event.s : "");
      snprintf(functions[n], 64, "%.*s", (int)rec->function.n,
               rec->function.s ? rec->function.s : "");
    }
    n++;
  }
  ct_close(r);
  return rc < 0 ? rc : n;
}

static void test_cloudtrail_shapes(void **state) {
  (void)state;
  char ev[8][64], fn[8][64];
  fg_err e;
  fg_err_clear(&e);
  char text[4096];
  snprintf(text, sizeof text, "{\"Records\":[%s,%s]}", REC_LAMBDA, REC_LAMBDA);
  assert_int_equal(read_ct(text, ev, fn, 8, &e), 2);
  assert_string_equal(ev[1], "dynamodb:PutItem");
  assert_string_equal(fn[1], "fn-a");
  snprintf(text, sizeof text, "\xEF\xBB\xBF[ %s ]", REC_LAMBDA); /* BOM, bare array */
  assert_int_equal(read_ct(text, ev, fn, 8, &e), 1);
  snprintf(text, sizeof text, "%s\n%s\n\n", REC_LAMBDA, REC_LAMBDA); /* JSON Lines */
  assert_int_equal(read_ct(text, ev, fn, 8, &e), 2);
  snprintf(text, sizeof text, "{\"x\":[1],\"Records\":[%s],\"y\":null}", REC_LAMBDA);
  assert_int_equal(read_ct(text, ev, fn, 8, &e), 1);
  snprintf(text, sizeof text, "{\"Records\":[]} {\"Records\":[%s]}", REC_LAMBDA);
  assert_int_equal(read_ct(text, ev, fn, 8, &e), 1);
  assert_int_equal(read_ct("", ev, fn, 8, &e), 0);
  assert_int_equal(read_ct("  \n ", ev, fn, 8, &e), 0);
  assert_int_equal(read_ct("[]", ev, fn, 8, &e), 0);
}

static void test_cloudtrail_derived(void **state) {
  (void)state;
  static const struct {
    const char *json;
    const char *event, *function;
  } cases[] = {
      /* versioned names lose their version */
      {"{\"eventSource\":\"lambda.amazonaws.com\",\"eventName\":\"UpdateFunctionCode20150331v2\"}",
       "lambda:UpdateFunctionCode", ""},
      {"{\"eventSource\":\"cloudfront.amazonaws.com\",\"eventName\":\"GetDistribution2020_05_31\"}",
       "cloudfront:GetDistribution", ""},
      {"{\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"DescribeInstances\"}",
       "ec2:DescribeInstances", ""},
      {"{\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"Get12345678\"}", "s3:Get", ""},
      /* the role-name branch: no exec-env user agent, a role named *lambda* */
      {"{\"eventName\":\"x\",\"eventSource\":\"s\",\"userAgent\":\"aws-cli/2\",\"userIdentity\":{"
       "\"type\":\"AssumedRole\",\"arn\":\"arn:aws:sts::1:assumed-role/my-LAMBDA-role/fn-b\"}}",
       "s:x", "fn-b"},
      /* session from principalId when the ARN has none; role name from the issuer */
      {"{\"eventName\":\"x\",\"eventSource\":\"s\",\"userIdentity\":{\"type\":\"AssumedRole\","
       "\"principalId\":\"AROA:fn-c\",\"sessionContext\":{\"sessionIssuer\":{\"userName\":"
       "\"fn-c-lambda-role\"}}}}",
       "s:x", "fn-c"},
      /* not a function: the Lambda service's own session, an IAM user, a plain role */
      {"{\"eventName\":\"x\",\"eventSource\":\"s\",\"userAgent\":\"exec-env/AWS_Lambda_x\","
       "\"userIdentity\":{\"type\":\"AssumedRole\",\"arn\":"
       "\"arn:aws:sts::1:assumed-role/r/awslambda_123_456\"}}",
       "s:x", ""},
      {"{\"eventName\":\"x\",\"eventSource\":\"s\",\"userAgent\":\"exec-env/AWS_Lambda_x\","
       "\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::1:user/bob\"}}",
       "s:x", ""},
      {"{\"eventName\":\"x\",\"eventSource\":\"s\",\"userAgent\":\"aws-cli\",\"userIdentity\":{"
       "\"type\":\"AssumedRole\",\"arn\":\"arn:aws:sts::1:assumed-role/Admin/alice\"}}",
       "s:x", ""},
      /* escapes in the ARN (a "\/" is a '/') */
      {"{\"eventName\":\"x\",\"eventSource\":\"s\",\"userAgent\":\"exec-env\\/AWS_Lambda_x\","
       "\"userIdentity\":{\"type\":\"AssumedRole\",\"arn\":"
       "\"arn:aws:sts::1:assumed-role\\/r\\/fn-\\u0064\"}}",
       "s:x", "fn-d"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char ev[2][64], fn[2][64];
    fg_err e;
    fg_err_clear(&e);
    int n = read_ct(cases[k].json, ev, fn, 2, &e);
    if (n != 1) fail_msg("case %zu: %d records: %s", k, n, e.msg);
    assert_string_equal(ev[0], cases[k].event);
    assert_string_equal(fn[0], cases[k].function);
  }
}

static void test_cloudtrail_errors(void **state) {
  (void)state;
  fg_err e;
  fg_err_clear(&e);
  ct_reader *r;
  const ct_record *rec;
  /* JSON Lines: a bad line is reported with line:col, and reading resumes after it */
  const char *jl = "{\"eventName\":\"a\"}\n{\"eventName\": x}\n{\"eventName\":\"c\"}\n";
  assert_int_equal(ct_open(&r, NULL, jl, strlen(jl), "t.jsonl", &e), FG_OK);
  assert_int_equal(ct_next(r, &rec, &e), 1);
  assert_int_equal(ct_next(r, &rec, &e), -FG_ECORRUPT);
  assert_string_equal(e.msg, "t.jsonl:2:15: expected a value near 'x}'");
  assert_int_equal(ct_resume(r), 1);
  assert_int_equal(ct_next(r, &rec, &e), 1);
  assert_int_equal(rec->index, 2);
  assert_int_equal(ct_next(r, &rec, &e), 0);
  ct_close(r);
  /* a document: the rest is lost */
  const char *doc = "[\n{\"eventName\":\"a\"},\n{\"eventName\":\"b\"\n,,]";
  assert_int_equal(ct_open(&r, NULL, doc, strlen(doc), "t.json", &e), FG_OK);
  assert_int_equal(ct_next(r, &rec, &e), 1);
  assert_int_equal(ct_next(r, &rec, &e), -FG_ECORRUPT);
  assert_string_equal(e.msg, "t.json:4:2: expected a string (object key) near ',]'");
  assert_int_equal(ct_resume(r), 0);
  ct_close(r);
  /* truncated at the end of input */
  const char *cut = "{\"Records\":[{\"eventName\":\"a\"},{\"eventN";
  assert_int_equal(ct_open(&r, NULL, cut, strlen(cut), "t", &e), FG_OK);
  assert_int_equal(ct_next(r, &rec, &e), 1);
  assert_int_equal(ct_next(r, &rec, &e), -FG_ECORRUPT);
  assert_string_equal(e.msg, "t:1:39: unexpected end of input");
  ct_close(r);
  /* not a record: skippable */
  const char *mixed = "[{\"eventName\":\"a\"}, \"str\", {\"eventName\":\"b\"}]";
  assert_int_equal(ct_open(&r, NULL, mixed, strlen(mixed), "t", &e), FG_OK);
  assert_int_equal(ct_next(r, &rec, &e), 1);
  assert_int_equal(ct_next(r, &rec, &e), -FG_ECORRUPT);
  assert_string_equal(e.msg, "t: record 1: not a JSON object (found a string)");
  assert_int_equal(ct_resume(r), 1);
  assert_int_equal(ct_next(r, &rec, &e), 1);
  assert_int_equal(rec->index, 2);
  ct_close(r);
  /* a scalar at the top */
  assert_int_equal(ct_open(&r, NULL, "42", 2, "t", &e), FG_OK);
  assert_int_equal(ct_next(r, &rec, &e), -FG_ECORRUPT);
  assert_string_equal(e.msg, "t:1:1: expected '{' or '[' (a JSON object or array) near '42'");
  ct_close(r);
}

/* Streaming: records cross the 1 MiB window many times; one record is larger than the window. */
static void test_cloudtrail_stream(void **state) {
  (void)state;
  const int n = 6000;
  size_t cap = (size_t)n * (sizeof REC_LAMBDA + 8) + 3000000;
  char *doc = malloc(cap);
  assert_non_null(doc);
  size_t len = (size_t)sprintf(doc, "{\"Records\": [\n");
  for (int i = 0; i < n; i++) {
    len += (size_t)sprintf(doc + len, "%s%s", i ? ",\n  " : "  ", REC_LAMBDA);
    if (i == n / 2) { /* a record with a 2.5 MB member */
      len +=
          (size_t)sprintf(doc + len, ",\n{\"eventName\":\"big\",\"requestParameters\":{\"p\":\"");
      memset(doc + len, 'x', 2500000);
      len += 2500000;
      len += (size_t)sprintf(doc + len, "\"}}");
    }
  }
  len += (size_t)sprintf(doc + len, "\n]}\n");
  write_gz("stream.json.gz", doc, len);
  write_file("stream.json", doc, len);
  free(doc);
  const char *files[] = {"stream.json.gz", "stream.json"};
  for (int f = 0; f < 2; f++) {
    fg_err e;
    fg_err_clear(&e);
    ct_reader *r;
    assert_int_equal(ct_open(&r, tpath(files[f]), NULL, 0, NULL, &e), FG_OK);
    const ct_record *rec;
    int count = 0, big = 0, rc;
    while ((rc = ct_next(r, &rec, &e)) > 0) {
      count++;
      if (rec->f[CT_F_REQUEST_PARAMETERS].n > 2000000)
        big++;
      else if (strncmp(rec->function.s ? rec->function.s : "", "fn-a", 4) != 0)
        fail_msg("record %d: no function", count);
    }
    if (rc != 0) fail_msg("%s", e.msg);
    assert_int_equal(count, n + 1);
    assert_int_equal(big, 1);
    ct_close(r);
  }
}

/* ---- Lambda logs --------------------------------------------------------------------------- */

static void test_lambda_text(void **state) {
  (void)state;
  const char *log =
      "2026-01-05T10:00:00.050Z INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: "
      "x\n"
      "2026-01-05T10:00:00.100Z START RequestId: 11111111-1111-4111-8111-111111111111 Version: 7\n"
      "2026-01-05T10:00:00.200Z "
      "2026-01-05T10:00:00.200Z\t11111111-1111-4111-8111-111111111111\tINFO\thi\n"
      "2026-01-05T10:00:00.300Z [ERROR] Boom: bad\n"
      "2026-01-05T10:00:00.400Z END RequestId: 11111111-1111-4111-8111-111111111111\n"
      "2026-01-05T10:00:00.400Z REPORT RequestId: 11111111-1111-4111-8111-111111111111\t"
      "Duration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t"
      "Init Duration: 99.99 ms\tStatus: error\tError Type: Runtime.ExitError\n"
      "2026-01-05T10:00:00.400Z XRAY TraceId: 1-a-b\tSegmentId: c\tSampled: true\n"
      "2026-01-05T10:00:01.000Z after the invocation\n"
      "INIT_REPORT Init Duration: 3000.42 ms\tPhase: init\tStatus: timeout\n";
  ll_reader *r;
  fg_err e;
  fg_err_clear(&e);
  assert_int_equal(ll_open(&r, NULL, log, strlen(log), "t", &e), FG_OK);
  const ll_record *rec;
  static const struct {
    const char *type, *rid, *level;
    int cold;
  } want[] = {
      {"INIT_START", NULL, NULL, -1},
      {"START", "11111111-1111-4111-8111-111111111111", NULL, 1},
      {"LOG", "11111111-1111-4111-8111-111111111111", "INFO", -1},
      {"LOG", "11111111-1111-4111-8111-111111111111", "ERROR", -1}, /* inferred */
      {"END", "11111111-1111-4111-8111-111111111111", NULL, -1},
      {"REPORT", "11111111-1111-4111-8111-111111111111", NULL, 1},
      {"XRAY", "11111111-1111-4111-8111-111111111111", NULL, -1}, /* the one just reported */
      {"LOG", NULL, NULL, -1},                                    /* outside any invocation */
      {"INIT_REPORT", NULL, NULL, -1},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    assert_int_equal(ll_next(r, &rec, &e), 1);
    assert_string_equal(rec->type, want[i].type);
    if (want[i].rid) {
      assert_non_null(rec->request_id);
      assert_string_equal(rec->request_id, want[i].rid);
    } else {
      assert_null(rec->request_id);
    }
    if (want[i].level) assert_string_equal(rec->level, want[i].level);
    assert_int_equal(rec->cold_start, want[i].cold);
    assert_int_equal(rec->line, (long long)i + 1);
    if (i == 5) {
      assert_true(rec->duration_ms == 12.5 && rec->billed_ms == 13 && rec->memory_mb == 128 &&
                  rec->max_memory_mb == 40 && rec->init_ms == 99.99);
      assert_string_equal(rec->status, "error");
      assert_string_equal(rec->error_type, "Runtime.ExitError");
      assert_true(rec->ts == 1767607200400LL);
    }
    if (i == 6) assert_string_equal(rec->trace_id, "1-a-b");
    if (i == 8) {
      assert_true(rec->init_ms == 3000.42);
      assert_string_equal(rec->status, "timeout");
      assert_false(rec->has_ts);
    }
  }
  assert_int_equal(ll_next(r, &rec, &e), 0);
  ll_close(r);
}

static void test_lambda_paths(void **state) {
  (void)state;
  static const struct {
    const char *rel, *function, *stream;
  } cases[] = {
      {"lambda/app/fn-x/2026/01/05/[$LATEST]abc.log", "fn-x", "2026/01/05/[$LATEST]abc"},
      {"exports/aws/lambda/fn-y/s.json.gz", "fn-y", "s"},
      {"s3export/fn-z/0f0e0d0c-0b0a-4909-8807-060504030201/2026/01/05/[1]ab/000000.gz", "fn-z",
       "2026/01/05/[1]ab"},
      {"plain/something.txt", NULL, "something"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    write_file(cases[k].rel, "hello\n", 6);
    ll_reader *r;
    fg_err e;
    fg_err_clear(&e);
    assert_int_equal(ll_open(&r, tpath(cases[k].rel), NULL, 0, NULL, &e), FG_OK);
    const ll_record *rec;
    assert_int_equal(ll_next(r, &rec, &e), 1);
    if (cases[k].function) {
      assert_non_null(rec->function);
      assert_string_equal(rec->function, cases[k].function);
    } else {
      assert_null(rec->function);
    }
    assert_string_equal(rec->log_stream, cases[k].stream);
    assert_string_equal(rec->type, "LOG");
    ll_close(r);
  }
}

static void test_lambda_json(void **state) {
  (void)state;
  const char *doc =
      "{\"events\":[\n"
      "{\"logStreamName\":\"s1\",\"timestamp\":1000,\"message\":\"START RequestId: "
      "22222222-2222-4222-8222-222222222222 Version: 1\\n\"},\n"
      "{\"logStreamName\":\"s2\",\"timestamp\":1001,\"message\":\"{\\\"time\\\":\\\"x\\\","
      "\\\"type\\\":"
      "\\\"platform.initStart\\\",\\\"record\\\":{}}\"},\n"
      "{\"logStreamName\":\"s1\",\"timestamp\":1002,\"message\":\"plain\"},\n"
      "{\"logStreamName\":\"s1\",\"timestamp\":1003,\"message\":\"{\\\"time\\\":"
      "\\\"2026-01-05T10:00:00Z\\\",\\\"type\\\":\\\"platform.report\\\",\\\"record\\\":{"
      "\\\"requestId\\\":\\\"22222222-2222-4222-8222-222222222222\\\",\\\"metrics\\\":{"
      "\\\"durationMs\\\":1.5,\\\"billedDurationMs\\\":2},\\\"tracing\\\":{\\\"value\\\":"
      "\\\"Root=1-x-y;Parent=z;Sampled=1\\\"}}}\"},\n"
      "5]}";
  ll_reader *r;
  fg_err e;
  fg_err_clear(&e);
  assert_int_equal(ll_open(&r, NULL, doc, strlen(doc), "t", &e), FG_OK);
  const ll_record *rec;
  assert_int_equal(ll_next(r, &rec, &e), 1);
  assert_string_equal(rec->type, "START");
  assert_string_equal(rec->log_stream, "s1");
  assert_true(rec->ts == 1000);
  assert_int_equal(rec->cold_start, 1);
  assert_int_equal(ll_next(r, &rec, &e), 1);
  assert_string_equal(rec->type, "INIT_START");
  assert_string_equal(rec->log_stream, "s2");
  assert_int_equal(ll_next(r, &rec, &e), 1);
  assert_string_equal(rec->type, "LOG");
  assert_string_equal(rec->request_id, "22222222-2222-4222-8222-222222222222"); /* inferred, s1 */
  assert_int_equal(ll_next(r, &rec, &e), 1);
  assert_string_equal(rec->type, "REPORT");
  assert_true(rec->ts == 1003); /* the event's timestamp wins over the record's time */
  assert_true(rec->duration_ms == 1.5 && rec->billed_ms == 2 && isnan(rec->memory_mb));
  assert_string_equal(rec->trace_id, "1-x-y");
  assert_string_equal(rec->status, "success");
  assert_int_equal(ll_next(r, &rec, &e), -FG_ECORRUPT);
  assert_string_equal(e.msg, "t: event 4: not a JSON object");
  assert_int_equal(ll_resume(r), 1);
  assert_int_equal(ll_next(r, &rec, &e), 0);
  ll_close(r);
}

/* ---- X-Ray --------------------------------------------------------------------------------- */

static void test_xray(void **state) {
  (void)state;
  char out[64];
  const char *names[][2] = {{"DynamoDB", "dynamodb"},
                            {"SFN", "states"},
                            {"Step Functions", "states"},
                            {"MediaPackageVod", "mediapackage-vod"},
                            {"CloudWatch", "monitoring"},
                            {"Secrets Manager", "secretsmanager"},
                            {"Foo", "foo"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    xr_service(names[i][0], out);
    assert_string_equal(out, names[i][1]);
  }
  const char *doc =
      "{\"Traces\":[{\"Id\":\"T\",\"Segments\":[{\"Id\":\"a\",\"Document\":\"{\\\"id\\\":\\\"a\\\","
      "\\\"name\\\":\\\"fn\\\",\\\"origin\\\":\\\"AWS::Lambda::Function\\\",\\\"start_time\\\":1,"
      "\\\"end_time\\\":1.5,\\\"subsegments\\\":[{\\\"id\\\":\\\"b\\\",\\\"name\\\":"
      "\\\"Invocation\\\","
      "\\\"subsegments\\\":[{\\\"id\\\":\\\"c\\\",\\\"name\\\":\\\"my-table\\\",\\\"namespace\\\":"
      "\\\"aws\\\",\\\"aws\\\":{\\\"operation\\\":\\\"Query\\\",\\\"table_name\\\":\\\"my-"
      "table\\\"}},"
      "{\\\"id\\\":\\\"d\\\",\\\"name\\\":\\\"x\\\",\\\"namespace\\\":\\\"remote\\\",\\\"http\\\":"
      "{\\\"request\\\":{\\\"url\\\":\\\"http://u:p@h.example:8080/p?q\\\"}}}]},"
      "{\\\"id\\\":\\\"e\\\",\\\"name\\\":\\\"Overhead\\\"}]}\"},"
      "{\"Id\":\"z\",\"Document\":\"{nope\"}]}]}";
  xr_reader *r;
  fg_err e;
  fg_err_clear(&e);
  assert_int_equal(xr_open(&r, NULL, doc, strlen(doc), "t", &e), FG_OK);
  const xr_record *rec;
  static const struct {
    const char *id, *parent, *event;
    int depth;
  } want[] = {{"a", NULL, "segment:AWS::Lambda::Function", 0},
              {"b", "a", "lambda:Invocation", 1},
              {"c", "b", "dynamodb:Query", 2},
              {"d", "b", "http:h.example", 2},
              {"e", "a", "lambda:Overhead", 1}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    assert_int_equal(xr_next(r, &rec, &e), 1);
    assert_string_equal(rec->id, want[i].id);
    if (want[i].parent)
      assert_string_equal(rec->parent_id, want[i].parent);
    else
      assert_null(rec->parent_id);
    assert_string_equal(rec->event, want[i].event);
    assert_int_equal(rec->depth, want[i].depth);
    assert_string_equal(rec->trace_id, "T");
    assert_string_equal(rec->segment_id, "a");
    assert_string_equal(rec->function, "fn");
  }
  assert_int_equal(xr_next(r, &rec, &e), -FG_ECORRUPT);
  assert_string_equal(e.msg,
                      "t: trace T, segment 1: Document:1:5: string or '}' expected near 'nope'");
  assert_int_equal(xr_resume(r), 1);
  assert_int_equal(xr_next(r, &rec, &e), 0);
  xr_close(r);
}

/* ---- iteration over inputs ----------------------------------------------------------------- */

static int ct_op_open(void **rd, const char *path, const char *text, size_t n, const char *label,
                      fg_err *err) {
  return ct_open((ct_reader **)rd, path, text, n, label, err);
}
static int ct_op_next(void *rd, const void **rec, fg_err *err) {
  const ct_record *r;
  int rc = ct_next(rd, &r, err);
  *rec = r;
  return rc;
}
static int ct_op_resume(void *rd) { return ct_resume(rd); }
static void ct_op_close(void *rd) { ct_close(rd); }

static void test_ingest_iter(void **state) {
  (void)state;
  static const ig_ops ops = {ct_op_open, ct_op_next, ct_op_resume, ct_op_close};
  write_str("it/1.json", "[{\"eventName\":\"a\"}]");
  write_str("it/2.json", "[{\"eventName\":\"b\"} oops");
  write_str("it/3.jsonl", "{\"eventName\":\"c\"}\n");
  mkdir(tpath("it/4-unreadable.json"), 0755); /* a directory named like a file: walked, empty */
  ig_iter it;
  fg_err e;
  fg_err_clear(&e);
  /* default: the first error stops */
  assert_int_equal(ig_start(&it, &ops, tpath("it"), NULL, 0, NULL, 0, &e), FG_OK);
  assert_int_equal(ig_next(&it, &e), 1);
  assert_int_equal(ig_next(&it, &e), 1);
  assert_int_equal(ig_next(&it, &e), -FG_ECORRUPT);
  assert_non_null(
      strstr(e.msg, "2.json:1:20: expected ',' or ']' after array element near 'oops'"));
  ig_end(&it);
  /* skip_errors: an error item, then the next file */
  fg_err_clear(&e);
  assert_int_equal(ig_start(&it, &ops, tpath("it"), NULL, 0, NULL, 1, &e), FG_OK);
  int records = 0, errors = 0, rc;
  while ((rc = ig_next(&it, &e)) > 0) {
    if (it.rec)
      records++;
    else
      errors++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(records, 3);
  assert_int_equal(errors, 1);
  ig_end(&it);
  /* text mode */
  assert_int_equal(ig_start(&it, &ops, NULL, "[{\"eventName\":\"a\"}]", 19, "json", 0, &e), FG_OK);
  assert_int_equal(ig_next(&it, &e), 1);
  assert_string_equal(it.file, "json");
  assert_int_equal(ig_next(&it, &e), 0);
  ig_end(&it);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jscan_values),
      cmocka_unit_test(test_jscan_errors),
      cmocka_unit_test(test_jscan_more),
      cmocka_unit_test(test_parse_time),
      cmocka_unit_test(test_expand),
      cmocka_unit_test(test_getline_gzip),
      cmocka_unit_test(test_cloudtrail_shapes),
      cmocka_unit_test(test_cloudtrail_derived),
      cmocka_unit_test(test_cloudtrail_errors),
      cmocka_unit_test(test_cloudtrail_stream),
      cmocka_unit_test(test_lambda_text),
      cmocka_unit_test(test_lambda_paths),
      cmocka_unit_test(test_lambda_json),
      cmocka_unit_test(test_xray),
      cmocka_unit_test(test_ingest_iter),
  };
  return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
