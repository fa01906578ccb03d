/*
** cloudtrail.h — CloudTrail records out of files or text, one at a time.
**
** Accepted shapes (see jscan.h for how they are told apart; they may be gzipped):
**   {"Records":[r, r, …]}           trail delivery to S3 (streamed: one record in memory at once)
**   [r, r, …]                        bare arrays (lookup-events tooling, Stratus Red Team logs)
**   r\n r\n …                        JSON Lines (Athena / CloudTrail Lake exports), one per line
**   {…, "Records":[…], …}           an envelope whose Records key is not first (read whole)
** A record is any JSON object inside a Records array or a bare array; a top-level object outside
** an envelope must have eventTime, eventName, eventSource or eventID to count as a record (so a
** wrong file is an error rather than rows of NULLs). Missing members are JV_ABSENT; unknown ones
** are ignored. Values are not copied: a ct_record points into the reader's window and is valid
** until the next ct_next().
**
** `function` — the Lambda function whose execution role made the call — follows one rule:
**   userIdentity.type is "AssumedRole", the session name (the last part of the assumed-role
**   ARN "arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION", else what follows ':' in principalId)
**   is not empty and does not start with "awslambda_" (the Lambda service's own sessions), and
**   either the user agent contains "exec-env/AWS_Lambda_" (every AWS SDK inside Lambda says so)
**   or the issuing role's name (sessionIssuer.userName, else ROLE from the ARN) contains
**   "lambda", case-insensitively;
** then function = the session name (Lambda names the session after the function); else none.
** The second branch also catches calls made with the function's credentials from elsewhere (the
** stolen-credentials pattern), which sql/import.sql then marks; import.sql widens the rule with
** role/session pairs learned from the first branch.
*/
#ifndef FG_CLOUDTRAIL_H
#define FG_CLOUDTRAIL_H

#include <stddef.h>
#include <stdint.h>

#include "fg_err.h"
#include "jscan.h"

/* Members read from a record (CT_F_*: top level; CT_F_UI_*: in userIdentity). */
enum {
  CT_F_EVENT_TIME,
  CT_F_EVENT_SOURCE,
  CT_F_EVENT_NAME,
  CT_F_EVENT_TYPE,
  CT_F_EVENT_CATEGORY,
  CT_F_AWS_REGION,
  CT_F_SOURCE_IP,
  CT_F_USER_AGENT,
  CT_F_ERROR_CODE,
  CT_F_ERROR_MESSAGE,
  CT_F_READ_ONLY,
  CT_F_MANAGEMENT_EVENT,
  CT_F_REQUEST_ID,
  CT_F_EVENT_ID,
  CT_F_RECIPIENT_ACCOUNT,
  CT_F_REQUEST_PARAMETERS,
  CT_F_RESPONSE_ELEMENTS,
  CT_F_RESOURCES,
  CT_F_UI_TYPE,
  CT_F_UI_PRINCIPAL_ID,
  CT_F_UI_ARN,
  CT_F_UI_ACCOUNT_ID,
  CT_F_UI_ACCESS_KEY_ID,
  CT_F_UI_USER_NAME,
  CT_F_UI_INVOKED_BY,
  CT_F_UI_ISSUER_ARN,  /* userIdentity.sessionContext.sessionIssuer.arn */
  CT_F_UI_ISSUER_NAME, /* userIdentity.sessionContext.sessionIssuer.userName */
  CT_NFIELDS
};

typedef struct ct_text {
  const char *s; /* NULL if absent */
  size_t n;
} ct_text;

typedef struct ct_record {
  jval f[CT_NFIELDS]; /* members as scanned (JV_ABSENT if missing) */
  jval record;        /* the whole record */
  long long index;    /* 0-based index of the record in its file */
  /* Derived by ct_next(): */
  int has_ts;       /* 1 if eventTime parsed */
  int64_t ts;       /* eventTime in unix ms */
  ct_text event;    /* "service:Name": eventSource's first label, eventName without a trailing
                    ** API version (UpdateFunctionCode20150331v2 → lambda:UpdateFunctionCode) */
  ct_text session;  /* session name of an assumed role */
  ct_text role;     /* name of the issuing role */
  ct_text function; /* see the rule above */
} ct_record;

typedef struct ct_reader ct_reader;

/* Opens a file (path) or text (path NULL; text[0..n), labelled `label` in messages). */
int ct_open(ct_reader **out, const char *path, const char *text, size_t n, const char *label,
            fg_err *err);
/* 1 and *rec for the next record; 0 at the end; -code on error. Errors name the input and, for
** syntax errors, line:col; a record that is not an object says "record N: ...". */
int ct_next(ct_reader *r, const ct_record **rec, fg_err *err);
/* After an error from ct_next(): 1 if reading can go on (a bad line of JSON Lines, or a record
** that is not an object), 0 if the rest of the input is lost. */
int ct_resume(ct_reader *r);
void ct_close(ct_reader *r);

/* Text of a string member, decoded into scratch when it holds escapes (scratch needs f->n
** bytes). Returns {NULL, 0} unless the member is a string. */
ct_text ct_str(const jval *f, char *scratch);

#endif
