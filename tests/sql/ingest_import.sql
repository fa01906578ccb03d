-- sql/import.sql on the fixtures: function_events, attribution, dedup, the stolen-credentials
-- mark, apps, re-import, and skipped inputs. (All-or-nothing on failure: tests/py/test_ingest_import.py.)
.param set :cloudtrail fixtures/ingest/cloudtrail
.param set :lambda fixtures/ingest/lambda
.param set :xray fixtures/ingest/xray
.read sql/import.sql
.headers on
.mode list

-- Every function event, in table order (function, ts).
SELECT id, ts, app, function, flow, source, event, event_type, parent, resource, duration_ms,
       rel_start_ms, depth, status, error_code, outside_lambda, attribution
  FROM function_events;
-- Caller context and origin of the CloudTrail rows.
SELECT id, source_ip, substr(user_agent, 1, 24) AS user_agent, access_key, request_id, origin
  FROM function_events WHERE source = 'cloudtrail';

-- Dedup: the DynamoDB call is in CloudTrail and X-Ray; it is one row, from CloudTrail, with
-- X-Ray's millisecond time, duration, depth and parent.
SELECT count(*) AS rows, min(source) AS source, min(ts) AS ts, min(duration_ms) AS ms,
       min(parent) AS parent
  FROM function_events WHERE request_id = 'DDBREQ0001AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
-- The stolen key: the same session, the AWS CLI, from a network Lambda never called from.
SELECT function, event, source_ip, flow, outside_lambda FROM function_events WHERE outside_lambda = 1;
SELECT * FROM apps ORDER BY function;

-- Importing again adds nothing and rebuilds the same table.
CREATE TEMP TABLE before AS SELECT * FROM function_events;
.read sql/import.sql
SELECT (SELECT count(*) FROM (SELECT * FROM function_events EXCEPT SELECT * FROM before)) AS changed,
       (SELECT count(*) FROM cloudtrail) AS cloudtrail_rows;

-- An analyst's app mapping is kept.
INSERT OR REPLACE INTO apps VALUES ('shop-cart', 'storefront', 'analyst');
.read sql/import.sql
SELECT DISTINCT function, app FROM function_events ORDER BY function;

-- With :skip_errors, bad inputs are reported in ingest_errors and the rest is imported.
.param set :cloudtrail fixtures/ingest/bad
.param set :lambda fixtures/ingest/lambda-bad
.param set :xray fixtures/ingest/xray-bad
.param set :skip_errors 1
.read sql/import.sql
SELECT source, file, error FROM ingest_errors ORDER BY source, file;

-- :root reads root/cloudtrail, root/lambda and root/xray, each optional.
.param clear
.param set :root fixtures/ingest
DELETE FROM cloudtrail; DELETE FROM lambda_logs; DELETE FROM xray;
.read sql/import.sql
