-- Rule function_exposed: a function (or a layer) was opened to anyone.
--
-- Why: a resource-based policy statement with principal '*' lets any AWS account invoke the
-- function, and a function URL with AuthType NONE lets anyone on the internet call it without
-- signing: a backdoor into the account that needs no credentials (Stratus Red Team:
-- aws.persistence.lambda-backdoor-function; the testbed's persistence attacks). A layer version
-- shared with principal '*' publishes its code to every account.
--
-- Matches lambda:AddPermission with principal '*' or functionUrlAuthType NONE;
-- lambda:CreateFunctionUrlConfig / UpdateFunctionUrlConfig with authType NONE;
-- lambda:AddLayerVersionPermission with principal '*'. Any API version; failed attempts count.
-- Severity: high; medium when the call failed.
-- function = the calling function when a function called, else the function exposed.
DROP VIEW IF EXISTS rule_function_exposed;
CREATE VIEW rule_function_exposed AS
SELECT 'function_exposed' AS rule,
       CASE WHEN error_code IS NULL THEN 'high' ELSE 'medium' END AS severity,
       coalesce(caller_function, target_function) AS function,
       coalesce(target_function, json_extract(params, '$.layerName')) AS target,
       ts AS first_ts, ts AS last_ts, 1 AS n_events,
       actor || CASE event
                  WHEN 'lambda:AddPermission' THEN
                    ' let ' || CASE WHEN json_extract(params, '$.principal') = '*' THEN 'anyone (principal *)'
                                    ELSE json_extract(params, '$.principal') END
                    || ' call ' || coalesce(json_extract(params, '$.action'), '?') || ' on '
                    || coalesce(target_function, '?')
                    || CASE WHEN json_extract(params, '$.functionUrlAuthType') = 'NONE'
                            THEN ' (function URL, AuthType NONE)' ELSE '' END
                  WHEN 'lambda:AddLayerVersionPermission' THEN
                    ' shared layer ' || coalesce(json_extract(params, '$.layerName'), '?') || ' version '
                    || coalesce(json_extract(params, '$.versionNumber'), '?') || ' with every account'
                  ELSE ' made a public function URL (AuthType NONE) for ' || coalesce(target_function, '?')
                END || failed AS summary,
       event_id AS ref,
       json_array(event_id) AS event_ids,
       event, error_code, source_ip, user_agent
  FROM ct_calls
 WHERE (event = 'lambda:AddPermission'
        AND (json_extract(params, '$.principal') = '*' OR json_extract(params, '$.functionUrlAuthType') = 'NONE'))
    OR (event IN ('lambda:CreateFunctionUrlConfig', 'lambda:UpdateFunctionUrlConfig')
        AND json_extract(params, '$.authType') = 'NONE')
    OR (event = 'lambda:AddLayerVersionPermission' AND json_extract(params, '$.principal') = '*');
