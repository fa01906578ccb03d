-- import.sql — read CloudTrail, Lambda logs and X-Ray into a case database; build function_events.
--
--   sqlite3 case.db -cmd '.load build/fnguard' -cmd '.param set :root /path/to/logs' < sql/import.sql
--
-- Run it from the repository root (it reads sql/schema.sql). Parameters (sqlite3 CLI .param):
--   :root         a directory holding cloudtrail/, lambda/ and xray/ (each optional: a missing
--                 one reads nothing); or name each source itself:
--   :cloudtrail   file, directory or glob of CloudTrail logs      (overrides :root/cloudtrail)
--   :lambda       ... of CloudWatch Logs of Lambda functions       (overrides :root/lambda)
--   :xray         ... of X-Ray batch-get-traces output / segments  (overrides :root/xray)
--   :skip_errors  1: bad files and records become rows of the view ingest_errors instead of
--                 failing the import (default 0: all or nothing)
-- All of it is one transaction: on any error the CLI stops (.bail on) and nothing is imported.
-- Importing again adds what is new (raw rows are unique by eventID, file+index, trace+segment)
-- and rebuilds function_events from all raw rows.
--
-- How function_events is built (see sql/README.md for the reasoning):
--   function   CloudTrail: the function column of cloudtrail_events(), widened by two learned
--              rules: the (role ARN, session name) pairs seen in rows that have a function
--              belong to it whatever the user agent; and an assumed-role session named exactly
--              like a function seen in the Lambda logs or X-Ray is that function's. Lambda logs
--              and X-Ray name their function.
--   flow       Lambda: the (explicit or inferred) request id; INIT_START takes the request id of
--              the next START of its stream. X-Ray: the request id of the trace's AWS::Lambda
--              segment (the parent of the function segment), else of the Lambda log line that
--              names the trace. CloudTrail: the X-Ray subsegment with the same AWS request id,
--              else the invocation of the same function whose START..END overlaps the record's
--              time (second precision: [t, t+1s); invocations X-Ray traced come last, since
--              their calls are all in their trace; the largest overlap wins, marked
--              'time-ambiguous' when several overlap, and calls of one event and resource in
--              one second take the candidates in turn; its ts then moves inside that
--              invocation, after the START); calls made from outside Lambda get none.
--   dedup      A CloudTrail record and an X-Ray subsegment with the same AWS request id are one
--              call: the CloudTrail row is kept (authoritative, with the caller context) and
--              takes the subsegment's ms timestamp, duration, depth and parent; the subsegment
--              row is dropped. Calls X-Ray sees and CloudTrail does not log (data events off)
--              come from X-Ray.
--   outside_lambda  A network is a source address's /16 (IPv4) or /48 (IPv6). The networks of
--              calls made with an exec-env/AWS_Lambda_ user agent are Lambda's. A call of a
--              function's credentials from any other network is outside Lambda (1); from a
--              Lambda network or an AWS service name (no address), inside (0).
--   app        apps table: kept if present; else the aws:cloudformation:stack-name tag of the
--              function's CreateFunction/TagResource record; else the name up to its first '-'.
.bail on
.read sql/schema.sql
BEGIN;

-- ---- 1. raw sources -------------------------------------------------------------------------
-- (":root/[c]loudtrail" is a glob: it matches the directory when it exists, and nothing if not.)
INSERT OR IGNORE INTO cloudtrail
  SELECT * FROM cloudtrail_events(coalesce(:cloudtrail, :root || '/[c]loudtrail'),
                                  coalesce(:skip_errors, 0));
INSERT OR IGNORE INTO lambda_logs
  SELECT * FROM lambda_log_events(coalesce(:lambda, :root || '/[l]ambda'),
                                  coalesce(:skip_errors, 0));
INSERT OR IGNORE INTO xray
  SELECT * FROM xray_segments(coalesce(:xray, :root || '/[x]ray'), coalesce(:skip_errors, 0));

-- ---- 2. which function made each CloudTrail call --------------------------------------------
DROP TABLE IF EXISTS temp.known_functions;
CREATE TEMP TABLE known_functions(function TEXT PRIMARY KEY);
INSERT OR IGNORE INTO known_functions
  SELECT function FROM lambda_logs WHERE function IS NOT NULL
  UNION SELECT function FROM xray WHERE function IS NOT NULL;

DROP TABLE IF EXISTS temp.fn_sessions;
CREATE TEMP TABLE fn_sessions(role_arn TEXT, session_name TEXT, function TEXT,
                              PRIMARY KEY(role_arn, session_name));
INSERT OR IGNORE INTO fn_sessions
  SELECT role_arn, session_name, function FROM cloudtrail
   WHERE function IS NOT NULL AND role_arn IS NOT NULL AND input_error IS NULL;

DROP TABLE IF EXISTS temp.ct_fn;
CREATE TEMP TABLE ct_fn AS
  SELECT rid, function, net FROM (
    SELECT c.rowid AS rid,
           coalesce(c.function,
                    (SELECT s.function FROM fn_sessions s
                      WHERE s.role_arn = c.role_arn AND s.session_name = c.session_name),
                    (SELECT k.function FROM known_functions k WHERE k.function = c.session_name))
             AS function,
           CASE
             WHEN c.source_ip GLOB '[0-9]*.[0-9]*.[0-9]*.[0-9]*' THEN
               substr(c.source_ip, 1, instr(c.source_ip, '.')
                                      + instr(substr(c.source_ip, instr(c.source_ip, '.') + 1), '.'))
             WHEN c.source_ip LIKE '%:%:%:%' THEN
               substr(c.source_ip, 1,
                      instr(c.source_ip, ':')
                      + instr(substr(c.source_ip, instr(c.source_ip, ':') + 1), ':')
                      + instr(substr(c.source_ip, instr(c.source_ip, ':')
                                     + instr(substr(c.source_ip, instr(c.source_ip, ':') + 1), ':')
                                     + 1), ':'))
           END AS net
      FROM cloudtrail c
     WHERE c.input_error IS NULL AND c.identity_type = 'AssumedRole')
   WHERE function IS NOT NULL;

-- Networks Lambda calls come from: those of calls made by an AWS SDK inside Lambda.
DROP TABLE IF EXISTS temp.lambda_networks;
CREATE TEMP TABLE lambda_networks(net TEXT PRIMARY KEY);
INSERT OR IGNORE INTO lambda_networks
  SELECT f.net FROM ct_fn f JOIN cloudtrail c ON c.rowid = f.rid
   WHERE f.net IS NOT NULL AND c.user_agent LIKE '%exec-env/AWS\_Lambda\_%' ESCAPE '\';

-- ---- 3. invocations and X-Ray documents ------------------------------------------------------
DROP TABLE IF EXISTS temp.inv;
CREATE TEMP TABLE inv AS
  SELECT function, request_id AS flow, min(ts) AS start_ts, max(ts) AS end_ts
    FROM lambda_logs
   WHERE request_id IS NOT NULL AND function IS NOT NULL AND ts IS NOT NULL AND input_error IS NULL
   GROUP BY function, request_id;
-- (indexed before the X-Ray insert below probes it per segment: without it the import is quadratic)
CREATE UNIQUE INDEX temp.inv_flow ON inv(function, flow);
INSERT INTO inv
  SELECT function, request_id, min(ts), max(CAST(round(end * 1000) AS INTEGER))
    FROM xray x
   WHERE origin = 'AWS::Lambda' AND depth = 0 AND request_id IS NOT NULL AND function IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM inv i WHERE i.function = x.function AND i.flow = x.request_id)
   GROUP BY function, request_id;
CREATE INDEX temp.inv_start ON inv(function, start_ts);

-- The flow of each X-Ray document of a function.
DROP TABLE IF EXISTS temp.xdoc;
CREATE TEMP TABLE xdoc AS
  SELECT d.trace_id, d.id AS segment_id, d.function,
         coalesce(CASE WHEN d.origin = 'AWS::Lambda' THEN d.request_id END,
                  (SELECT s.request_id FROM xray s
                    WHERE s.trace_id = d.trace_id AND s.id = d.parent_id
                      AND s.origin = 'AWS::Lambda'),
                  (SELECT l.request_id FROM lambda_logs l
                    WHERE l.trace_id = d.trace_id AND l.function = d.function
                      AND l.request_id IS NOT NULL LIMIT 1)) AS flow
    FROM xray d
   WHERE d.depth = 0 AND d.function IS NOT NULL AND d.input_error IS NULL;
CREATE INDEX temp.xdoc_key ON xdoc(trace_id, segment_id);

-- X-Ray calls of functions (AWS, HTTP, custom subsegments), with their flow and parent event.
DROP TABLE IF EXISTS temp.xcall;
CREATE TEMP TABLE xcall AS
  SELECT x.rowid AS xid, d.function, d.flow, x.ts, x.duration_ms, x.depth, x.event,
         x.resource, x.request_id, x.namespace, x.trace_id, x.id,
         CASE WHEN x.throttle THEN 'throttle' WHEN x.fault THEN 'fault'
              WHEN x.error THEN 'error' END AS status,
         json_extract(x.cause, '$.exceptions[0].type') AS error_code,
         (SELECT p.event FROM xray p WHERE p.trace_id = x.trace_id AND p.id = x.parent_id) AS parent
    FROM xray x JOIN xdoc d ON d.trace_id = x.trace_id AND d.segment_id = x.segment_id
   WHERE x.input_error IS NULL AND x.depth > 0
     AND (x.namespace IN ('aws', 'remote') OR x.event LIKE 'local:%');
CREATE INDEX temp.xcall_request ON xcall(request_id);

-- ---- 4. function_events ---------------------------------------------------------------------
DELETE FROM function_events;
DROP TABLE IF EXISTS temp.fe;
CREATE TEMP TABLE fe AS SELECT * FROM function_events WHERE 0;

-- CloudTrail calls of functions: outside Lambda or not, and the invocation whose time overlaps.
DROP TABLE IF EXISTS temp.ct_ctx;
CREATE TEMP TABLE ct_ctx AS
  SELECT f.rid, f.function, c.ts, c.request_id, c.event,
         coalesce(json_extract(c.request_parameters, '$.tableName'),
                  json_extract(c.request_parameters, '$.bucketName'),
                  json_extract(c.request_parameters, '$.queueUrl'),
                  json_extract(c.request_parameters, '$.topicArn'),
                  json_extract(c.request_parameters, '$.functionName'),
                  json_extract(c.request_parameters, '$.stateMachineArn'),
                  json_extract(c.request_parameters, '$.secretId'),
                  json_extract(c.request_parameters, '$.name')) AS resource,
         CASE WHEN (SELECT count(*) FROM lambda_networks) = 0 THEN NULL
              WHEN f.net IS NULL THEN 0
              WHEN f.net IN (SELECT net FROM lambda_networks) THEN 0 ELSE 1 END AS outside,
         CASE WHEN c.event_time LIKE '%.%' THEN 1 ELSE 1000 END AS prec
    FROM ct_fn f JOIN cloudtrail c ON c.rowid = f.rid;
-- Only calls X-Ray did not record are placed by time (the others take their subsegment's flow),
-- and X-Ray samples whole requests: a traced invocation has all its calls in its trace, so an
-- untraced call belongs to an untraced invocation when one overlaps. Traced ones are the
-- fallback (a trace can be incomplete); 'time-ambiguous' counts the candidates of the class
-- chosen, ranked by overlap. Calls of one event and resource in one second (CloudTrail's
-- precision) share their candidates and take them in turn, largest overlap first: two untraced
-- invocations in a busy second that each made one Query had both Queries put in the first and
-- none in the second, two invocations that never happen (make eval seed 4: two thirds of the
-- medium detector's false alarms).
DROP TABLE IF EXISTS temp.traced;
CREATE TEMP TABLE traced(function TEXT, flow TEXT, PRIMARY KEY(function, flow)) WITHOUT ROWID;
INSERT OR IGNORE INTO traced SELECT function, flow FROM xdoc WHERE flow IS NOT NULL;
DROP TABLE IF EXISTS temp.ct_cand;
CREATE TEMP TABLE ct_cand AS
  SELECT t.rid, t.function, t.ts, t.prec, t.event, t.resource, i.flow, i.start_ts, i.end_ts,
         min(i.end_ts, t.ts + t.prec) - max(i.start_ts, t.ts) AS overlap,
         EXISTS (SELECT 1 FROM traced r WHERE r.function = i.function AND r.flow = i.flow) AS tr
    FROM ct_ctx t
    JOIN inv i ON i.function = t.function
              AND i.start_ts BETWEEN t.ts - 900000 AND t.ts + t.prec - 1
              AND i.end_ts >= t.ts
   WHERE t.outside IS NOT 1
     AND NOT EXISTS (SELECT 1 FROM xcall x WHERE x.request_id = t.request_id
                                              AND x.function = t.function);
DROP TABLE IF EXISTS temp.ct_time;
CREATE TEMP TABLE ct_time AS
  WITH classed AS (SELECT *, min(tr) OVER (PARTITION BY rid) AS best FROM ct_cand),
  ranked AS (
    SELECT rid, flow, start_ts, end_ts, count(*) OVER (PARTITION BY rid) AS n,
           row_number() OVER (PARTITION BY rid ORDER BY overlap DESC, start_ts, flow) AS rk
      FROM classed WHERE tr = best),
  turn AS (
    SELECT rid, row_number() OVER (PARTITION BY function, ts, prec, event, resource ORDER BY rid) - 1 AS j
      FROM (SELECT DISTINCT rid, function, ts, prec, event, resource FROM ct_cand))
  SELECT r.rid, r.flow, r.n, r.start_ts, r.end_ts
    FROM ranked r JOIN turn u ON u.rid = r.rid
   WHERE r.rk = u.j % r.n + 1;
CREATE INDEX temp.ct_time_rid ON ct_time(rid);

-- ... merged with their X-Ray subsegment when there is one.
INSERT INTO fe(ts, function, flow, source, event, event_type, parent, resource, duration_ms,
               depth, status, error_code, source_ip, user_agent, access_key, outside_lambda,
               request_id, attribution, origin)
  SELECT coalesce(x.ts,
                  -- CloudTrail's second: inside the invocation it was attributed to (after
                  -- its START, before its REPORT), not before the START it belongs after.
                  CASE WHEN tm.flow IS NOT NULL AND t.outside IS NOT 1
                       THEN max(tm.start_ts + 1, min(c.ts, tm.end_ts - 1)) END,
                  c.ts), t.function,
         CASE WHEN t.outside = 1 THEN NULL ELSE coalesce(x.flow, tm.flow) END,
         'cloudtrail', c.event, 'api', x.parent,
         coalesce(x.resource, t.resource),
         x.duration_ms, coalesce(x.depth - 1, 1),
         CASE WHEN c.error_code LIKE '%Throttl%' OR c.error_code LIKE 'TooManyRequests%'
                   OR c.error_code IN ('ProvisionedThroughputExceededException', 'RequestLimitExceeded',
                                       'SlowDown', 'BandwidthLimitExceeded') THEN 'throttle'
              WHEN c.error_code IS NOT NULL THEN 'error' ELSE x.status END,
         c.error_code, c.source_ip, c.user_agent, c.access_key_id, t.outside, c.request_id,
         CASE WHEN t.outside = 1 THEN NULL
              WHEN x.flow IS NOT NULL THEN 'xray'
              WHEN tm.n > 1 THEN 'time-ambiguous'
              WHEN tm.n = 1 THEN 'time' END,
         c.event_id
    FROM ct_ctx t
    JOIN cloudtrail c ON c.rowid = t.rid
    LEFT JOIN xcall x ON x.request_id = c.request_id AND x.function = t.function
    LEFT JOIN ct_time tm ON tm.rid = t.rid;

-- X-Ray calls CloudTrail did not log.
CREATE INDEX temp.fe_request ON fe(request_id);
INSERT INTO fe(ts, function, flow, source, event, event_type, parent, resource, duration_ms,
               depth, status, error_code, request_id, attribution, origin)
  SELECT x.ts, x.function, x.flow, 'xray', x.event,
         CASE x.namespace WHEN 'aws' THEN 'api' WHEN 'remote' THEN 'http' ELSE 'local' END,
         x.parent, x.resource, x.duration_ms, x.depth - 1, x.status, x.error_code, x.request_id,
         CASE WHEN x.flow IS NOT NULL THEN 'request' END, x.trace_id || '/' || x.id
    FROM xcall x
   WHERE x.request_id IS NULL
      OR NOT EXISTS (SELECT 1 FROM fe WHERE fe.source = 'cloudtrail' AND fe.request_id = x.request_id
                                         AND fe.function = x.function);

-- Lambda platform events, and application errors and warnings.
INSERT INTO fe(ts, function, flow, source, event, event_type, duration_ms, depth, status,
               error_code, attribution, origin)
  SELECT l.ts, l.function, fl.flow, 'lambda',
         CASE WHEN l.type = 'LOG'
              THEN 'log:' || CASE upper(l.level) WHEN 'WARNING' THEN 'WARN' WHEN 'CRITICAL' THEN 'ERROR'
                                                 WHEN 'FATAL' THEN 'ERROR' ELSE upper(l.level) END
              ELSE 'lambda:' || l.type END,
         CASE WHEN l.type = 'LOG' THEN 'log' ELSE 'platform' END,
         CASE WHEN l.type = 'INIT_START'
              THEN (SELECT r.init_ms FROM lambda_logs r
                     WHERE r.function = l.function AND r.request_id = fl.flow AND r.type = 'REPORT')
              ELSE l.duration_ms END,
         0,
         CASE WHEN l.type = 'TIMEOUT' THEN 'timeout' WHEN l.status = 'success' THEN NULL
              WHEN l.type = 'REPORT' THEN l.status END,
         l.error_type,
         CASE WHEN l.request_id IS NOT NULL THEN 'request' WHEN fl.flow IS NOT NULL THEN 'stream' END,
         l.file || ':' || coalesce(l.line, l.record_index)
    FROM lambda_logs l
    JOIN (SELECT l2.rowid AS rid,
                 coalesce(l2.request_id,
                          (SELECT s.request_id FROM lambda_logs s
                            WHERE s.function = l2.function AND s.log_stream = l2.log_stream
                              AND s.ts >= l2.ts AND s.type = 'START'
                            ORDER BY s.ts LIMIT 1)) AS flow
            FROM lambda_logs l2) fl ON fl.rid = l.rowid
   WHERE l.input_error IS NULL AND l.function IS NOT NULL AND l.ts IS NOT NULL
     AND (l.type IN ('START', 'REPORT', 'INIT_START', 'TIMEOUT')
          OR (l.type = 'LOG' AND upper(l.level) IN ('ERROR', 'WARN', 'WARNING', 'FATAL', 'CRITICAL')));

-- ---- 5. applications, then the table --------------------------------------------------------
INSERT OR IGNORE INTO apps(function, app, rule)
  SELECT fn, stack, 'cloudformation' FROM (
    SELECT CASE WHEN instr(name, ':function:') > 0
                THEN substr(name, instr(name, ':function:') + 10) ELSE name END AS fn, stack
      FROM (SELECT coalesce(json_extract(request_parameters, '$.functionName'),
                            json_extract(request_parameters, '$.resource')) AS name,
                   json_extract(request_parameters, '$.tags."aws:cloudformation:stack-name"') AS stack
              FROM cloudtrail
             WHERE event IN ('lambda:CreateFunction', 'lambda:TagResource') AND error_code IS NULL))
   WHERE fn IS NOT NULL AND stack IS NOT NULL;
INSERT OR IGNORE INTO apps(function, app, rule)
  SELECT DISTINCT function,
         CASE WHEN instr(function, '-') > 1 THEN substr(function, 1, instr(function, '-') - 1)
              ELSE function END,
         'prefix'
    FROM fe;

-- Where traced invocations of a function make a call: its average rank among their calls, per
-- (function, event), over calls X-Ray placed (ms precision; a rank, not a time into the
-- invocation, which cold starts and slow calls stretch). It orders calls that share a
-- millisecond, below.
DROP TABLE IF EXISTS temp.call_pos;
CREATE TEMP TABLE call_pos(function TEXT, event TEXT, pos REAL, PRIMARY KEY(function, event)) WITHOUT ROWID;
INSERT INTO temp.call_pos
  SELECT function, event, avg(rk) FROM (
    SELECT function, event, row_number() OVER (PARTITION BY function, flow ORDER BY ts, event, resource, origin) AS rk
      FROM fe WHERE flow IS NOT NULL AND ((source = 'cloudtrail' AND attribution = 'xray') OR source = 'xray'))
   GROUP BY function, event;

INSERT INTO function_events(ts, app, function, flow, source, event, event_type, parent, resource,
                            duration_ms, rel_start_ms, depth, status, error_code, source_ip,
                            user_agent, access_key, outside_lambda, request_id, attribution, origin)
  SELECT fe.ts, a.app, fe.function, fe.flow, fe.source, fe.event, fe.event_type, fe.parent,
         fe.resource, fe.duration_ms,
         CASE WHEN fe.flow IS NOT NULL
              THEN fe.ts - min(fe.ts) OVER (PARTITION BY fe.function, fe.flow) END,
         fe.depth, fe.status, fe.error_code, fe.source_ip, fe.user_agent, fe.access_key,
         fe.outside_lambda, fe.request_id, fe.attribution, fe.origin
    FROM fe LEFT JOIN apps a ON a.function = fe.function
    LEFT JOIN temp.call_pos p ON fe.source <> 'lambda' AND p.function = fe.function AND p.event = fe.event
   -- Ties (same ms) in a fixed order, REPORT last: an untraced invocation's calls all sit at
   -- CloudTrail's second moved inside it, and ordered by the record's random event id they
   -- would come in a new order every time, a sequence the models never learn. Calls in the
   -- order traced invocations make them (call_pos; then by name, a call no traced invocation
   -- made last): by name alone, an untraced invocation showed UpdateItem and PutItem swapped
   -- where traced ones did not, and after a deploy adding the PutItem the models saw two
   -- orders of one behaviour (make eval: drift alerts after the delta update).
   ORDER BY fe.function, fe.ts, fe.source = 'lambda' AND fe.event = 'lambda:REPORT',
            fe.source <> 'lambda', coalesce(p.pos, 1e15), fe.event, fe.resource, fe.origin;

COMMIT;
SELECT 'imported: ' || (SELECT count(*) FROM cloudtrail) || ' CloudTrail records, '
       || (SELECT count(*) FROM lambda_logs) || ' Lambda log events, '
       || (SELECT count(*) FROM xray) || ' X-Ray segments -> '
       || (SELECT count(*) FROM function_events) || ' function events ('
       || (SELECT count(DISTINCT function) FROM function_events) || ' functions, '
       || (SELECT count(*) FROM function_events WHERE outside_lambda = 1)
       || ' calls from outside Lambda); '
       || (SELECT count(*) FROM ingest_errors) || ' input errors' AS summary;
