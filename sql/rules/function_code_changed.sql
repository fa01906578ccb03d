-- Rule function_code_changed: a function's code was replaced, or a layer or environment
-- variables were attached to it.
--
-- Why: whoever can update a function can run their own code with its role on every
-- invocation, and a layer or extension added to it survives redeploys of the function's own
-- code; changing environment variables can redirect the code (endpoints, keys, NODE_OPTIONS,
-- PYTHONPATH). A function never updates itself in normal operation, so a change made with a
-- function's credentials is an attacker moving on from a compromised function (Stratus Red Team:
-- aws.persistence.lambda-overwrite-code, aws.persistence.lambda-layer-extension).
--
-- Matches lambda:UpdateFunctionCode (any API version: eventName UpdateFunctionCode20150331v2,
-- ...), and lambda:UpdateFunctionConfiguration whose request sets a non-empty `layers` list or
-- environment `variables` (CloudTrail writes "environment":{} when none are given; given ones are
-- a map, or the text HIDDEN_DUE_TO_SECURITY_REASONS). Failed (denied) attempts count too.
-- Severity: high when a function's credentials made the call; low when CloudFormation made it for
-- someone (a deploy pipeline: check the change set and who started it); medium otherwise (a person
-- or a tool calling the API directly).
-- function = the calling function when a function called, else the function changed.
DROP VIEW IF EXISTS rule_function_code_changed;
CREATE VIEW rule_function_code_changed AS
SELECT 'function_code_changed' AS rule,
       CASE WHEN caller_function IS NOT NULL THEN 'high'
            WHEN invoked_by = 'cloudformation.amazonaws.com' THEN 'low' ELSE 'medium' END AS severity,
       coalesce(caller_function, target_function) AS function,
       target_function AS target,
       ts AS first_ts, ts AS last_ts, 1 AS n_events,
       actor || CASE WHEN invoked_by IS NOT NULL AND caller_function IS NULL THEN ' via ' || invoked_by ELSE '' END
         || CASE WHEN event = 'lambda:UpdateFunctionCode' THEN ' replaced the code of '
                 WHEN n_layers > 0 AND has_env THEN ' attached ' || n_layers || ' layer(s) and environment variables to '
                 WHEN n_layers > 0 THEN ' attached ' || n_layers || ' layer(s) to '
                 ELSE ' set environment variables of ' END
         || coalesce(target_function, '?') || failed AS summary,
       event_id AS ref,
       json_array(event_id) AS event_ids,
       event, error_code, source_ip, user_agent
  FROM (SELECT c.*, coalesce(json_array_length(params, '$.layers'), 0) AS n_layers,
               CASE json_type(params, '$.environment.variables')
                 WHEN 'object' THEN (SELECT count(*) FROM json_each(params, '$.environment.variables')) > 0
                 WHEN 'text' THEN 1 ELSE 0 END AS has_env
          FROM ct_calls c
         WHERE c.event IN ('lambda:UpdateFunctionCode', 'lambda:UpdateFunctionConfiguration'))
 WHERE event = 'lambda:UpdateFunctionCode' OR n_layers > 0 OR has_env;
