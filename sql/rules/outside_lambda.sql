-- Rule outside_lambda: a function's credentials were used from outside Lambda.
--
-- Why: a function's temporary credentials (its role session, keys ASIA…) live in its
-- environment variables; code injected into the function can send them out, and the attacker
-- then calls AWS with them from their own machine: same identity, same access key, a network
-- Lambda never uses, an aws-cli or script user agent. CloudTrail shows it plainly, and nothing
-- else legitimately does it.
--
-- Matches function_events rows with outside_lambda = 1: sql/import.sql sets it for a call made
-- with a function's credentials from a network (/16 for IPv4, /48 for IPv6) from which no call
-- with a Lambda runtime user agent (exec-env/AWS_Lambda_*) was seen. Needs sql/import.sql.
-- One row per (function, access key, source address), with every call's CloudTrail eventID.
-- Severity: high.
DROP VIEW IF EXISTS rule_outside_lambda;
CREATE VIEW rule_outside_lambda AS
SELECT 'outside_lambda' AS rule,
       'high' AS severity,
       function,
       source_ip AS target,
       min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS n_events,
       count(*) || ' call(s) with the credentials of ' || function || ' from ' || coalesce(source_ip, '?')
         || ' outside Lambda (key ' || coalesce(access_key, '?') || ', ' || count(DISTINCT event) || ' kinds of call'
         || CASE WHEN sum(status IS NOT NULL) > 0 THEN ', ' || sum(status IS NOT NULL) || ' failed' ELSE '' END
         || ', user agent ' || coalesce(substr(min(user_agent), 1, 40), '?') || ')' AS summary,
       min(first_origin) AS ref,
       json_group_array(origin) AS event_ids,
       group_concat(DISTINCT event) AS events,
       access_key
  FROM (SELECT fe.*,
               first_value(fe.origin) OVER (PARTITION BY fe.function, fe.access_key, fe.source_ip
                                            ORDER BY fe.ts, fe.id) AS first_origin
          FROM function_events fe
         WHERE fe.outside_lambda = 1)
 GROUP BY function, access_key, source_ip;
