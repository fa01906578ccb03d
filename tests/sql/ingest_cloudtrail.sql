-- cloudtrail_events(): input shapes, every column, the function rule, paths, and bad input.
-- Fixtures: fixtures/ingest/ (written by fixtures/ingest/make_fixtures.py).
.headers on
.mode list

-- A directory is walked recursively in name order; the digest file and the README are skipped;
-- the .json.gz file is read through zlib.
SELECT file, record_index, event_time, ts, event, identity_type, function
  FROM cloudtrail_events('fixtures/ingest/cloudtrail');

-- Every column of one record (hidden columns path, skip_errors, record are not in *).
.mode line
SELECT * FROM cloudtrail_events('fixtures/ingest/cloudtrail')
 WHERE event_id = 'e0000000-0000-4000-8000-000000000001';
.mode list

-- Escapes are decoded in text columns (\u00e9, \", \/); JSON columns stay valid JSON.
SELECT user_agent, request_parameters, json_extract(request_parameters, '$.key') AS key
  FROM cloudtrail_events('fixtures/ingest/cloudtrail') WHERE event_id LIKE '%05';
-- Nested values are compact JSON (with JSON1's subtype: json_object embeds them as JSON).
SELECT resources, json_object('r', resources) AS embedded, response_elements
  FROM cloudtrail_events('fixtures/ingest/cloudtrail') WHERE event_id LIKE '%01' OR event_id LIKE '%04';
-- The raw record, on request.
SELECT json_valid(record) AS valid, json_extract(record, '$.eventID') AS id,
       length(record) < 2000 AS compact
  FROM cloudtrail_events('fixtures/ingest/cloudtrail') WHERE record_index = 0;

-- The function rule: AssumedRole + session named after the function + (exec-env user agent, or a
-- role whose name contains "lambda"). The stolen-key call (aws-cli) keeps function NULL here
-- (the role is not named *lambda*); sql/import.sql attributes it through the learned session.
SELECT event, session_name, role_name, substr(user_agent, 1, 20) AS ua, function
  FROM cloudtrail_events('fixtures/ingest/cloudtrail') ORDER BY ts;

-- The same records in the other shapes give the same rows as the trail envelope.
CREATE TEMP TABLE env AS SELECT * FROM cloudtrail_events('fixtures/ingest/cloudtrail');
SELECT 'bare array (pretty)' AS shape, count(*) AS n,
       (SELECT count(*) FROM (SELECT event_time, ts, event, principal_arn, request_parameters,
                                     resources, function
                                FROM cloudtrail_events('fixtures/ingest/variants/bare-array.json')
                              EXCEPT SELECT event_time, ts, event, principal_arn, request_parameters,
                                            resources, function FROM env)) AS differing
  FROM cloudtrail_events('fixtures/ingest/variants/bare-array.json');
SELECT 'json lines' AS shape, count(*) AS n,
       (SELECT count(*) FROM (SELECT event_id, ts, event, response_elements, function
                                FROM cloudtrail_events('fixtures/ingest/variants/lines.jsonl')
                              EXCEPT SELECT event_id, ts, event, response_elements, function FROM env))
         AS differing
  FROM cloudtrail_events('fixtures/ingest/variants/lines.jsonl');
SELECT 'Records not first' AS shape, record_index, event_id
  FROM cloudtrail_events('fixtures/ingest/variants/records-not-first.json');

-- Missing members are NULL, unknown ones ignored; a time zone offset is honoured.
.mode line
SELECT * FROM cloudtrail_events('fixtures/ingest/variants/minimal.jsonl');
.mode list

-- JSON text already in the database: cloudtrail_events_json().
SELECT event, ts FROM cloudtrail_events_json(
  '{"Records":[{"eventTime":"2026-01-05T10:00:00.5Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}]}');
SELECT count(*) AS n, min(file) AS file
  FROM cloudtrail_events_json(readfile('fixtures/ingest/variants/lines.jsonl'));

-- Paths: glob, glob without a match, an empty directory, NULL.
SELECT count(*) AS glob FROM cloudtrail_events('fixtures/ingest/cloudtrail/*_CloudTrail_*.json*');
SELECT count(*) AS no_match FROM cloudtrail_events('fixtures/ingest/cloudtrail/*.nothing');
SELECT count(*) AS empty_dir FROM cloudtrail_events('fixtures/ingest/empty');
SELECT count(*) AS null_path FROM cloudtrail_events(NULL);
-- The path may come from another table (a join).
SELECT p.name, count(c.event) AS n
  FROM (SELECT 'fixtures/ingest/variants/lines.jsonl' AS name
        UNION ALL SELECT 'fixtures/ingest/variants/bare-array.json') AS p,
       cloudtrail_events(p.name) AS c
 GROUP BY p.name ORDER BY p.name;

-- Bad input: errors name the file (and line:col for JSON).
SELECT count(*) FROM cloudtrail_events('fixtures/ingest/bad/malformed.json');
SELECT count(*) FROM cloudtrail_events('fixtures/ingest/bad/truncated.json.gz');
SELECT count(*) FROM cloudtrail_events('fixtures/ingest/no/such/file.json');
SELECT count(*) FROM cloudtrail_events('fixtures/ingest/bad/not-cloudtrail.json');
SELECT count(*) FROM cloudtrail_events('fixtures/ingest/bad/lines-one-bad.jsonl');
SELECT count(*) FROM cloudtrail_events('fixtures/ingest/bad/array-with-number.json');
SELECT count(*) FROM cloudtrail_events;
SELECT count(*) FROM cloudtrail_events_json('{"Records":[{"eventName":"x"} {"eventName":"y"}]}');

-- The import is all or nothing: the failing INSERT leaves nothing behind.
CREATE TEMP TABLE imported AS SELECT * FROM cloudtrail_events('fixtures/ingest/cloudtrail') WHERE 0;
INSERT INTO imported SELECT * FROM cloudtrail_events('fixtures/ingest/bad/lines-one-bad.jsonl');
SELECT count(*) AS rows_after_failed_insert FROM imported;

-- skip_errors = 1: every bad input becomes a row with input_error set, and reading goes on.
SELECT file, record_index, event_id, input_error
  FROM cloudtrail_events('fixtures/ingest/bad/lines-one-bad.jsonl', 1);
SELECT record_index, event_id, input_error
  FROM cloudtrail_events('fixtures/ingest/bad/array-with-number.json', 1);
SELECT count(*) AS records, count(input_error) AS errors, max(input_error) AS error
  FROM cloudtrail_events('fixtures/ingest/bad/truncated.json.gz', 1);
SELECT file, input_error FROM cloudtrail_events('fixtures/ingest/bad', 1) WHERE input_error IS NOT NULL;
SELECT count(*) AS n, input_error FROM cloudtrail_events('fixtures/ingest/no/such/dir', 1);
-- (named-argument form)
SELECT count(*) AS n FROM cloudtrail_events WHERE path = 'fixtures/ingest/bad/lines-one-bad.jsonl'
   AND skip_errors = 1 AND input_error IS NULL;

-- Security: a view or trigger of the database that reads files fails (DIRECTONLY; TEMP ones are
-- the analyst's own and allowed); the JSON form is allowed.
CREATE VIEW sneaky AS SELECT * FROM cloudtrail_events('fixtures/ingest/cloudtrail');
SELECT count(*) FROM sneaky;
CREATE TABLE t(x);
CREATE TABLE stolen(v);
CREATE TRIGGER grab AFTER INSERT ON t BEGIN
  INSERT INTO stolen SELECT event FROM cloudtrail_events('fixtures/ingest/cloudtrail');
END;
INSERT INTO t VALUES (1);
SELECT count(*) AS stolen_rows FROM stolen;
CREATE VIEW harmless AS SELECT event FROM cloudtrail_events_json('[{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}]');
SELECT * FROM harmless;
