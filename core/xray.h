/*
** xray.h — X-Ray segments and subsegments, flattened, one at a time.
**
** Inputs (files may be gzipped):
**   - `aws xray batch-get-traces` output {"Traces":[{"Id","Segments":[{"Id","Document"}]}]}
**     where each Document is a JSON string holding one segment document (Traces streamed);
**   - a bare array of such traces, or of segment documents;
**   - raw segment documents, one per line (as sent to the X-Ray daemon or API; the daemon's
**     header line {"format":"json","version":1} is skipped).
** Every segment document yields its segment and then its subsegments, depth first, in document
** order: depth 0 for a segment (or a standalone subsegment document), +1 per level of nesting;
** parent_id is the document's parent_id for the top, else the enclosing (sub)segment's id;
** segment_id is the id of the top of the document; trace_id is inherited down.
**
** Derived values:
**   event     "service:Operation" for AWS calls (namespace aws, or an aws.operation): the
**             service is the subsegment name mapped to the CloudTrail eventSource label
**             (DynamoDB → dynamodb, SFN/STEPFUNCTIONS → states, MediaPackageVod →
**             mediapackage-vod, CloudWatch → monitoring, …, otherwise lower-cased), so an X-Ray
**             subsegment and the CloudTrail record of the same call have the same event;
**             "http:HOST" for namespace remote (HOST from http.request.url, else the name);
**             "lambda:NAME" for the Initialization/Invocation/Overhead subsegments of a
**             function segment; "segment:ORIGIN" (or "segment:NAME") for segments;
**             "local:NAME" for other subsegments.
**   resource  aws.table_name, bucket_name, queue_url, topic_arn, function_name, stream_name,
**             secret_id, state_machine_arn, the first of resource_names — whichever comes first
**             in that order; for remote calls, the URL's host.
**   function  the function name of the document's top segment when its origin is
**             AWS::Lambda::Function or AWS::Lambda (inherited by its subsegments).
*/
#ifndef FG_XRAY_H
#define FG_XRAY_H

#include <stddef.h>
#include <stdint.h>

#include "fg_err.h"

typedef struct xr_record {
  long long index; /* 0-based position of the segment document in its input */
  int depth;       /* 0 for the top of a document */
  const char *trace_id, *id, *parent_id, *segment_id;
  const char *type; /* "segment" or "subsegment" */
  const char *name, *namespace_, *origin, *event, *operation, *resource;
  const char *request_id; /* aws.request_id */
  const char *function;
  const char *region, *account_id;
  const char *http_url, *http_host, *http_method;
  int http_status;                         /* -1 when absent */
  double start, end;                       /* epoch seconds; NaN when absent */
  int fault, error, throttle, in_progress; /* 0/1 */
  const char *cause;                       /* JSON text of cause (object or string id), or NULL */
} xr_record;

typedef struct xr_reader xr_reader;

int xr_open(xr_reader **out, const char *path, const char *text, size_t n, const char *label,
            fg_err *err);
/* 1 and *rec (valid until the next call); 0 at the end; -code on error. */
int xr_next(xr_reader *r, const xr_record **rec, fg_err *err);
int xr_resume(xr_reader *r);
void xr_close(xr_reader *r);

/* CloudTrail eventSource label of an X-Ray AWS subsegment name ("DynamoDB" → "dynamodb"),
** written to out (room for strlen(name)+24). Exposed for tests. */
void xr_service(const char *name, char *out);

#endif
