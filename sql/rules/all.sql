-- all.sql — the rule pack: signature detections for compromised serverless functions, and
-- `findings`, one list of rule hits and anomaly alerts to start an investigation from.
--
--   sqlite3 case.db < sql/rules/all.sql           (from the repository root; no extension needed)
--   SELECT * FROM findings ORDER BY severity_level DESC, first_ts;
--
-- Run it after sql/import.sql, before or after sql/pipeline.sql, as often as you like: it only
-- (re)creates views, plus, when they do not exist yet, the tables they read (sql/schema.sql's,
-- and empty `settings` and `alerts` tables with the pipeline's columns, which sql/pipeline.sql
-- then fills). The views read the tables live: new imports and alerts show at once.
-- From a client other than the sqlite3 CLI, execute sql/schema.sql and then each file read
-- below, in order (drop the dot-commands).
--
-- One view per rule, rule_<name>, from sql/rules/<name>.sql (each opens with its rationale):
--   function_code_changed   UpdateFunctionCode; UpdateFunctionConfiguration adding layers or
--                           environment variables
--   function_exposed        AddPermission with principal '*'; function URLs with AuthType NONE;
--                           layers shared with everyone
--   iam_write_by_function   IAM writes made with a function's credentials
--   secret_first_read       secrets/parameters a function reads after the baseline and never
--                           read before it
--   logging_tampered        trails stopped/deleted/narrowed, log groups deleted or shortened,
--                           flow logs and DNS query logs deleted
--   outside_lambda          a function's credentials used from outside Lambda
--   invocation_loop         a function invoking itself many times in a short span
-- Every rule view has the columns
--   rule, severity ('high'/'medium'/'low'), function (the function the finding is about: the
--   caller when a function's credentials acted, else the function acted on), target (what was
--   acted on: function, secret, role, trail, address), first_ts, last_ts (unix ms), n_events,
--   summary (one sentence), ref (CloudTrail eventID of the first record; function_events.origin
--   for the rules over function_events), event_ids (JSON array of all of them)
-- and some add their own (event, error_code, source_ip, user_agent, events, access_key).
-- Settings (table `settings`, key/value; see sql/rules/base.sql): rules_baseline_to,
-- rules_baseline_days (else the pipeline's train_to, else all but the last 24 h),
-- rules_loop_calls (5), rules_loop_gap_s (60).
--
-- findings: kind ('rule' or 'anomaly'), rule (the rule's name; for anomalies 'lstm_ae:' and the
-- detectors that voted, e.g. 'lstm_ae:s,m,l'), severity, severity_level (3 high, 2 medium, 1 low;
-- anomalies: the number of detectors that voted), function, target, ts (= first_ts), first_ts,
-- last_ts, time (first_ts as ISO text, UTC), n_events, summary (for anomalies, the pipeline's
-- explanation), ref (rules: the CloudTrail eventID or event origin; anomalies: alerts.id).
.bail on
.read sql/schema.sql
BEGIN;
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value);
-- The same table as sql/pipeline.sql's (tests/py/test_rules.py checks the columns agree).
CREATE TABLE IF NOT EXISTS alerts(
  id INTEGER PRIMARY KEY,
  scope_key TEXT, function TEXT, part TEXT,
  first_ts INTEGER, last_ts INTEGER, first_time TEXT, last_time TEXT,   -- when its events happened
  first_ord INTEGER, last_ord INTEGER,          -- its first and last hot event in the window order:
  first_event_id INTEGER, last_event_id INTEGER,  -- the alert is the events from (first_ord,
                                                  -- first_event_id) to (last_ord, last_event_id)
  n_events INTEGER, flows TEXT,                 -- JSON array of their invocations
  score_s REAL, threshold_s REAL, vote_s INTEGER,
  score_m REAL, threshold_m REAL, vote_m INTEGER,
  score_l REAL, threshold_l REAL, vote_l INTEGER,
  votes INTEGER, verdict TEXT,
  explanation TEXT,             -- the top reason of the strongest window
  explain_json TEXT);           -- lstm_ae_explain of that window
.read sql/rules/base.sql
.read sql/rules/function_code_changed.sql
.read sql/rules/function_exposed.sql
.read sql/rules/iam_write_by_function.sql
.read sql/rules/secret_first_read.sql
.read sql/rules/logging_tampered.sql
.read sql/rules/outside_lambda.sql
.read sql/rules/invocation_loop.sql

DROP VIEW IF EXISTS findings;
CREATE VIEW findings AS
SELECT kind, rule, severity,
       CASE severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END AS severity_level,
       function, target, first_ts AS ts, first_ts, last_ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', first_ts / 1000, 'unixepoch') AS time,
       n_events, summary, ref
  FROM (SELECT 'rule' AS kind, rule, severity, function, target, first_ts, last_ts, n_events, summary, ref
          FROM rule_function_code_changed
        UNION ALL SELECT 'rule', rule, severity, function, target, first_ts, last_ts, n_events, summary, ref
          FROM rule_function_exposed
        UNION ALL SELECT 'rule', rule, severity, function, target, first_ts, last_ts, n_events, summary, ref
          FROM rule_iam_write_by_function
        UNION ALL SELECT 'rule', rule, severity, function, target, first_ts, last_ts, n_events, summary, ref
          FROM rule_secret_first_read
        UNION ALL SELECT 'rule', rule, severity, function, target, first_ts, last_ts, n_events, summary, ref
          FROM rule_logging_tampered
        UNION ALL SELECT 'rule', rule, severity, function, target, first_ts, last_ts, n_events, summary, ref
          FROM rule_outside_lambda
        UNION ALL SELECT 'rule', rule, severity, function, target, first_ts, last_ts, n_events, summary, ref
          FROM rule_invocation_loop
        UNION ALL
        SELECT 'anomaly',
               'lstm_ae:' || coalesce(nullif(trim(CASE WHEN vote_s THEN 's,' ELSE '' END
                                                  || CASE WHEN vote_m THEN 'm,' ELSE '' END
                                                  || CASE WHEN vote_l THEN 'l,' ELSE '' END, ','), ''), '?'),
               CASE WHEN votes >= 3 THEN 'high' WHEN votes = 2 THEN 'medium' ELSE 'low' END,
               function, part, first_ts, last_ts, n_events, explanation, id
          FROM alerts);
COMMIT;
SELECT 'rules: ' || (SELECT count(*) FROM findings WHERE kind = 'rule') || ' rule findings, '
       || (SELECT count(*) FROM findings WHERE kind = 'anomaly') || ' anomaly alerts; '
       || 'SELECT * FROM findings ORDER BY severity_level DESC, first_ts;' AS summary;
