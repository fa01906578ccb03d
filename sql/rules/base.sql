-- base.sql — what the rules read: CloudTrail calls with the function that made them, and the
-- rules' settings. sql/rules/all.sql reads it before the rules; it needs no extension.
--
-- ct_calls: one row per CloudTrail record that was read without error, with
--   caller_function  the Lambda function whose credentials made the call: the function that
--                    sql/import.sql attributed the record to (function_events, which also knows
--                    stolen credentials used from elsewhere), else cloudtrail.function (the
--                    parser's rule, for a case where import.sql has not run); NULL for people,
--                    services and pipelines
--   outside_lambda   function_events.outside_lambda of that row (1: used from outside Lambda)
--   target_function  for Lambda API calls, the function acted on: requestParameters.functionName
--                    (or .resource) reduced to the bare name (ARNs, partial ARNs and
--                    qualifiers such as :PROD are stripped)
--   actor            who made the call, for summaries: 'function NAME', 'role NAME (session S)',
--                    'user NAME', 'the root user', else the principal ARN, else the service that
--                    acted (invokedBy), else the identity type
--   failed           '' or ' (failed: ERRORCODE)', for summaries: denied attempts still count
--   params/response  requestParameters/responseElements when they are JSON (NULL otherwise), so
--                    json_extract never fails on a record whose parameters are a bare string.
--
-- rules_config: one row of settings, from the table `settings` (shared with sql/pipeline.sql):
--   baseline_to      unix ms; the rules' normal period ends here (secret_first_read compares
--                    with what a function read up to this time). From the first of:
--                      settings 'rules_baseline_to'    unix ms or an ISO date ('2026-01-06')
--                      settings 'rules_baseline_days'  N: the first N days of CloudTrail
--                      settings 'train_to'             the detectors' normal period (pipeline)
--                      default: 24 h before the last event (the pipeline's default too)
--   loop_calls       settings 'rules_loop_calls', default 5: self-invocations that make a loop
--   loop_gap_ms      settings 'rules_loop_gap_s' (default 60) × 1000: the longest gap between
--                    two self-invocations of one loop
DROP VIEW IF EXISTS ct_calls;
CREATE VIEW ct_calls AS
SELECT k.*,
       CASE WHEN instr(t1, ':') > 0 THEN substr(t1, 1, instr(t1, ':') - 1) ELSE t1 END AS target_function,
       CASE WHEN k.caller_function IS NOT NULL THEN 'function ' || k.caller_function
            WHEN k.identity_type = 'AssumedRole' AND k.role_name IS NOT NULL
              THEN 'role ' || k.role_name || coalesce(' (session ' || k.session_name || ')', '')
            WHEN k.identity_type = 'IAMUser' AND k.user_name IS NOT NULL THEN 'user ' || k.user_name
            WHEN k.identity_type = 'Root' THEN 'the root user'
            ELSE coalesce(k.principal_arn, k.invoked_by, k.identity_type, 'unknown principal') END AS actor,
       CASE WHEN k.error_code IS NOT NULL THEN ' (failed: ' || k.error_code || ')' ELSE '' END AS failed
  FROM (SELECT j.*,
               CASE WHEN instr(fn_arg, ':function:') > 0
                    THEN substr(fn_arg, instr(fn_arg, ':function:') + 10) ELSE fn_arg END AS t1
          FROM (SELECT c.rowid AS rid, c.event_id, c.ts, c.event_time, c.event, c.event_name,
                       c.event_source, c.aws_region, c.account_id, c.recipient_account_id,
                       c.identity_type, c.principal_arn, c.role_name, c.session_name,
                       c.user_name, c.invoked_by, c.source_ip, c.user_agent, c.access_key_id,
                       c.error_code, c.error_message, c.read_only,
                       CASE WHEN json_valid(c.request_parameters) THEN c.request_parameters END AS params,
                       CASE WHEN json_valid(c.response_elements) THEN c.response_elements END AS response,
                       coalesce(fe.function, c.function) AS caller_function,
                       fe.outside_lambda, fe.flow, fe.id AS fe_id,
                       CASE WHEN c.event_source = 'lambda.amazonaws.com' AND json_valid(c.request_parameters)
                            THEN coalesce(json_extract(c.request_parameters, '$.functionName'),
                                          json_extract(c.request_parameters, '$.resource')) END AS fn_arg
                  FROM cloudtrail c
                  LEFT JOIN function_events fe ON fe.source = 'cloudtrail' AND fe.origin = c.event_id
                 WHERE c.input_error IS NULL) j) k;

DROP VIEW IF EXISTS rules_config;
CREATE VIEW rules_config AS
SELECT CAST(coalesce(
         (SELECT CASE WHEN typeof(value) IN ('integer', 'real') THEN value
                      WHEN value GLOB '[0-9]*' AND value NOT GLOB '*[^0-9]*' THEN CAST(value AS INTEGER)
                      ELSE (julianday(value) - 2440587.5) * 86400000 END
            FROM settings WHERE key = 'rules_baseline_to'),
         (SELECT min(ts) FROM cloudtrail) + 86400000 * (SELECT value FROM settings WHERE key = 'rules_baseline_days'),
         (SELECT value FROM settings WHERE key = 'train_to'),
         coalesce((SELECT max(ts) FROM function_events), (SELECT max(ts) FROM cloudtrail)) - 86400000)
       AS INTEGER) AS baseline_to,
       coalesce((SELECT value FROM settings WHERE key = 'rules_loop_calls'), 5) AS loop_calls,
       coalesce((SELECT value FROM settings WHERE key = 'rules_loop_gap_s'), 60) * 1000 AS loop_gap_ms;
