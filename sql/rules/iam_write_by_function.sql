-- Rule iam_write_by_function: a function's credentials changed IAM.
--
-- Why: application functions read and write data; they do not create users, access keys or
-- policies. An IAM write made with a function's role is privilege escalation or persistence from
-- a compromised function (the testbed's persistence attacks: CreateUser, CreateAccessKey,
-- PutRolePolicy on its own role, AttachRolePolicy AdministratorAccess). Functions whose job is
-- IAM (an account-vending or a custom-resource function) will match too: list them and filter.
--
-- Matches every iam.amazonaws.com call that is not read-only (readOnly false; when the record
-- lacks readOnly, a name that does not start with Get, List, Generate or Simulate), made with a
-- function's credentials (ct_calls.caller_function: from Lambda or from outside). Failed attempts
-- count (AccessDenied on AttachRolePolicy is still an attempt to escalate).
-- Severity: high.
DROP VIEW IF EXISTS rule_iam_write_by_function;
CREATE VIEW rule_iam_write_by_function AS
SELECT 'iam_write_by_function' AS rule,
       'high' AS severity,
       caller_function AS function,
       coalesce(json_extract(params, '$.roleName'), json_extract(params, '$.userName'),
                json_extract(params, '$.groupName'), json_extract(params, '$.policyArn'),
                json_extract(params, '$.policyName')) AS target,
       ts AS first_ts, ts AS last_ts, 1 AS n_events,
       actor || ' called ' || event
         || coalesce(' on ' || coalesce(json_extract(params, '$.roleName'), json_extract(params, '$.userName'),
                                        json_extract(params, '$.groupName')), '')
         || coalesce(' (policy ' || coalesce(json_extract(params, '$.policyArn'), json_extract(params, '$.policyName')) || ')', '')
         || CASE WHEN outside_lambda = 1 THEN ' from outside Lambda (' || coalesce(source_ip, '?') || ')' ELSE '' END
         || failed AS summary,
       event_id AS ref,
       json_array(event_id) AS event_ids,
       event, error_code, source_ip, user_agent
  FROM ct_calls
 WHERE event_source = 'iam.amazonaws.com'
   AND caller_function IS NOT NULL
   AND NOT coalesce(read_only, event_name GLOB 'Get*' OR event_name GLOB 'List*'
                               OR event_name GLOB 'Generate*' OR event_name GLOB 'Simulate*');
