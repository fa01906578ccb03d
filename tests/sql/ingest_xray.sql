-- xray_segments(): batch-get-traces output, raw segment documents, flattening, derived columns,
-- paths and bad input. Fixtures: fixtures/ingest/.
.headers on
.mode list

-- A batch-get-traces file: each Document decoded, segments and subsegments depth first.
SELECT record_index, depth, type, id, parent_id, segment_id, name, namespace, event, resource,
       function, request_id
  FROM xray_segments('fixtures/ingest/xray/batch-get-traces.json');
-- Times, HTTP, flags, cause.
SELECT id, ts, start, end, duration_ms, http_method, http_url, http_host, http_status, fault,
       error, throttle, in_progress, cause, operation, aws_region, account_id, origin
  FROM xray_segments('fixtures/ingest/xray/batch-get-traces.json');

-- Raw segment documents one per line (gzipped), after the daemon's header line: a segment and
-- a standalone subsegment document.
SELECT file, record_index, depth, type, trace_id, id, parent_id, event, http_host, http_status,
       error, duration_ms
  FROM xray_segments('fixtures/ingest/xray/segments.jsonl.gz');

-- JSON text already in the database (and a bare array of segment documents).
SELECT id, depth, event FROM xray_segments_json(
  '[{"id":"a1","name":"f","trace_id":"1-0-0","start_time":1,"end_time":2,"subsegments":[{"id":"b2","name":"S3","namespace":"aws","aws":{"operation":"GetObject","bucket_name":"b"}}]}]');

-- Paths: directory, empty directory, NULL.
SELECT count(*) AS n, count(DISTINCT trace_id) AS traces FROM xray_segments('fixtures/ingest/xray');
SELECT count(*) AS empty_dir FROM xray_segments('fixtures/ingest/empty');
SELECT count(*) AS null_path FROM xray_segments(NULL);

-- Bad input: a Document that is not JSON; with skip_errors the good ones are kept.
SELECT count(*) FROM xray_segments('fixtures/ingest/xray-bad/bad-document.json');
SELECT record_index, id, input_error FROM xray_segments('fixtures/ingest/xray-bad/bad-document.json', 1);
SELECT count(*) FROM xray_segments('fixtures/ingest/bad/malformed.json');
SELECT count(*) FROM xray_segments('fixtures/ingest/nope.json');
SELECT count(*) FROM xray_segments;

-- Security: DIRECTONLY.
CREATE VIEW sneaky AS SELECT * FROM xray_segments('fixtures/ingest/xray');
SELECT count(*) FROM sneaky;
