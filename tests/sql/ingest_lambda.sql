-- lambda_log_events(): text and JSON log formats, CloudWatch API output, subscription messages,
-- request-id inference, cold starts, paths and bad input. Fixtures: fixtures/ingest/.
.headers on
.mode list

-- Text format (Python): platform lines, application lines (with and without a request id),
-- a timeout; CRLF and LF line ends, a blank line. function and log_stream come from the path
-- lambda/<app>/<function>/YYYY/MM/DD/<stream>.log.
SELECT line, record_index, ts, type, level, request_id, cold_start, status, trace_id,
       substr(message, 1, 40) AS message
  FROM lambda_log_events('fixtures/ingest/lambda/shop/shop-checkout');
SELECT DISTINCT function, log_stream, log_group FROM lambda_log_events('fixtures/ingest/lambda/shop/shop-checkout');
-- REPORT metrics.
SELECT request_id, duration_ms, billed_ms, memory_mb, max_memory_mb, init_ms, cold_start, status
  FROM lambda_log_events('fixtures/ingest/lambda') WHERE type = 'REPORT' ORDER BY ts;

-- JSON log format (Node): platform.* records and application objects.
SELECT ts, type, level, request_id, duration_ms, init_ms, cold_start, status, error_type, trace_id
  FROM lambda_log_events('fixtures/ingest/lambda/shop/shop-cart');
-- The message is the stored log event (here the JSON text).
SELECT json_extract(message, '$.message.errorType') AS error_type
  FROM lambda_log_events('fixtures/ingest/lambda/shop/shop-cart') WHERE level = 'ERROR';

-- filter-log-events output (a pretty-printed document, streamed): streams interleave; the
-- function comes from the path .../aws/lambda/<function>/…; the timestamp from each event.
SELECT record_index, line, ts, function, log_stream, type, request_id, level, cold_start
  FROM lambda_log_events('fixtures/ingest/lambda-api/aws/lambda/shop-refund/filter-log-events.json');
-- Subscription messages (Firehose: concatenated, gzipped): the log group names the function.
SELECT ts, function, log_group, log_stream, type, level, request_id
  FROM lambda_log_events('fixtures/ingest/lambda-api/firehose');

-- JSON text already in the database.
SELECT type, request_id, ts FROM lambda_log_events_json(
  '{"events":[{"logStreamName":"s","timestamp":1767585839811,"message":"START RequestId: 51636ae2-f00d-448a-8dc1-376ad74e87ca Version: 1"}]}');
SELECT type, request_id, init_ms FROM lambda_log_events_json(
  'INIT_REPORT Init Duration: 3000.42 ms	Phase: init	Status: timeout
2026-01-05T10:00:00.000Z	51636ae2-f00d-448a-8dc1-376ad74e87ca	ERROR	Invoke Error');

-- Paths: a whole tree, glob, empty directory, NULL.
SELECT function, count(*) AS n, sum(type = 'START') AS starts, sum(cold_start) AS cold
  FROM lambda_log_events('fixtures/ingest/lambda') GROUP BY function ORDER BY function;
SELECT count(*) AS glob FROM lambda_log_events('fixtures/ingest/lambda/shop/*/2026/01/05/*.log');
SELECT count(*) AS empty_dir FROM lambda_log_events('fixtures/ingest/empty');
SELECT count(*) AS null_path FROM lambda_log_events(NULL);

-- Bad input.
SELECT count(*) FROM lambda_log_events('fixtures/ingest/lambda-bad/filter-log-events.json');
SELECT count(*) FROM lambda_log_events('fixtures/ingest/no-such-dir');
SELECT count(*) FROM lambda_log_events('fixtures/ingest/bad/truncated.json.gz');
SELECT count(*) FROM lambda_log_events;
SELECT record_index, type, request_id, input_error
  FROM lambda_log_events('fixtures/ingest/lambda-bad/filter-log-events.json', 1);

-- Security: DIRECTONLY.
CREATE VIEW sneaky AS SELECT * FROM lambda_log_events('fixtures/ingest/lambda');
SELECT count(*) FROM sneaky;
CREATE VIEW harmless AS SELECT type FROM lambda_log_events_json('END RequestId: 51636ae2-f00d-448a-8dc1-376ad74e87ca');
SELECT * FROM harmless;
