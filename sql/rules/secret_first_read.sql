-- Rule secret_first_read: a function read a secret or a parameter it had never read before.
--
-- Why: a function reads the same few secrets every time (its database password, its API key,
-- usually once per cold start). Code planted in it that hunts for credentials reads others, or
-- reads secrets at all when the function never did (the testbed's credential theft:
-- GetSecretValue, GetParametersByPath; Stratus Red Team's secretsmanager-retrieve-secrets and
-- ssm-retrieve-securestring-parameters, made by a user rather than a function, do not match).
--
-- Matches secretsmanager:GetSecretValue / BatchGetSecretValue and ssm:GetParameter,
-- GetParameters, GetParametersByPath, GetParameterHistory (any ssm:GetParameter*) made with a
-- function's credentials after the baseline (rules_config.baseline_to: settings
-- 'rules_baseline_to', else the first 'rules_baseline_days' days, else the pipeline's 'train_to',
-- else all but the last 24 h), naming a secret the function did not read (or try to read) up to
-- the baseline's end. A secret is the secretId, parameter name, path, or each name of a list
-- (secretIdList, names); ARNs are reduced to names (secret ARNs lose their 6-character suffix),
-- so a name and its ARN are the same secret; a BatchGetSecretValue by filters is keyed by the
-- filters. One row per (function, secret), from its first read after the baseline.
-- Severity: high when the function read no secret at all during the baseline, or a read came from
-- outside Lambda; medium otherwise (it reads secrets, just not this one).
DROP VIEW IF EXISTS rule_secret_first_read;
CREATE VIEW rule_secret_first_read AS
WITH reads AS (
  SELECT r.*,
         CASE WHEN raw GLOB 'arn:*:secretsmanager:*:secret:*' THEN
                CASE WHEN substr(raw, -7, 1) = '-' THEN substr(substr(raw, instr(raw, ':secret:') + 8), 1,
                                                                length(substr(raw, instr(raw, ':secret:') + 8)) - 7)
                     ELSE substr(raw, instr(raw, ':secret:') + 8) END
              WHEN raw GLOB 'arn:*:ssm:*:parameter/*' THEN substr(raw, instr(raw, ':parameter/') + 10)
              ELSE raw END AS secret
    FROM (SELECT c.rid, c.event_id, c.ts, c.event, c.caller_function, c.outside_lambda, c.error_code,
                 coalesce(j.value, json_extract(c.params, '$.secretId'), json_extract(c.params, '$.name'),
                          json_extract(c.params, '$.path'), json_extract(c.params, '$.filters'), '(unnamed)') AS raw
            FROM ct_calls c
            LEFT JOIN json_each(c.params, CASE WHEN json_type(c.params, '$.secretIdList') = 'array' THEN '$.secretIdList'
                                               WHEN json_type(c.params, '$.names') = 'array' THEN '$.names'
                                               ELSE '$.no_list' END) j
           WHERE c.caller_function IS NOT NULL
             AND (c.event IN ('secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue')
                  OR c.event GLOB 'ssm:GetParameter*')) r),
cfg AS (SELECT baseline_to FROM rules_config),
fresh AS (
  SELECT r.*,
         first_value(r.event_id) OVER (PARTITION BY r.caller_function, r.secret ORDER BY r.ts, r.rid) AS first_event
    FROM reads r, cfg
   WHERE r.ts > cfg.baseline_to
     AND NOT EXISTS (SELECT 1 FROM reads s WHERE s.caller_function = r.caller_function AND s.secret = r.secret
                                             AND s.ts <= cfg.baseline_to))
SELECT 'secret_first_read' AS rule,
       CASE WHEN max(coalesce(outside_lambda, 0)) = 1
              OR NOT EXISTS (SELECT 1 FROM reads s, cfg WHERE s.caller_function = f.caller_function
                                                          AND s.ts <= cfg.baseline_to) THEN 'high'
            ELSE 'medium' END AS severity,
       caller_function AS function,
       secret AS target,
       min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS n_events,
       'function ' || caller_function || ' read '
         || CASE WHEN max(event GLOB 'ssm:*') = 1 AND min(event GLOB 'ssm:*') = 1 THEN 'parameter ' ELSE 'secret ' END
         || secret || ', never read before the baseline (' || count(*) || ' call(s)'
         || CASE WHEN sum(error_code IS NOT NULL) > 0 THEN ', ' || sum(error_code IS NOT NULL) || ' failed' ELSE '' END
         || CASE WHEN max(coalesce(outside_lambda, 0)) = 1 THEN ', from outside Lambda' ELSE '' END
         || ')' AS summary,
       min(first_event) AS ref,
       json_group_array(event_id) AS event_ids,
       group_concat(DISTINCT event) AS events
  FROM fresh f
 GROUP BY caller_function, secret;
