-- Rule invocation_loop: a function invoked itself again and again in a short span.
--
-- Why: a function that invokes itself (directly, lambda:Invoke of its own name or ARN) can loop
-- without end: denial of wallet, or a way to keep attacker code running past the timeout. The
-- testbed's denial-of-service attacks at medium and low intensity make loops of 16 and 6 hops.
-- Legitimate self-invocation (fan-out, continuation of long work) exists but is rare and slow.
--
-- Matches lambda:Invoke events of function_events (CloudTrail data events or X-Ray, so
-- sql/import.sql must have run) whose target (resource: a name or ARN, qualifier stripped) is the
-- calling function itself. Consecutive self-invocations of a function at most
-- rules_config.loop_gap_ms apart (settings 'rules_loop_gap_s', default 60) form a burst; a burst
-- of at least rules_config.loop_calls of them (settings 'rules_loop_calls', default 5) is a
-- finding. One row per burst.
-- Severity: high from 3 × loop_calls self-invocations on, medium below.
DROP VIEW IF EXISTS rule_invocation_loop;
CREATE VIEW rule_invocation_loop AS
WITH self AS (
  SELECT * FROM (
    SELECT fe.id, fe.ts, fe.function, fe.origin, fe.status,
           CASE WHEN instr(t1, ':') > 0 THEN substr(t1, 1, instr(t1, ':') - 1) ELSE t1 END AS target
      FROM (SELECT f.*, CASE WHEN instr(f.resource, ':function:') > 0
                             THEN substr(f.resource, instr(f.resource, ':function:') + 10)
                             ELSE f.resource END AS t1
              FROM function_events f
             WHERE f.event = 'lambda:Invoke') fe)
   WHERE target = function),
gaps AS (
  SELECT s.*,
         CASE WHEN s.ts - lag(s.ts) OVER (PARTITION BY s.function ORDER BY s.ts, s.id) <= cfg.loop_gap_ms
              THEN 0 ELSE 1 END AS starts
    FROM self s, rules_config cfg),
bursts AS (
  SELECT g.*, sum(starts) OVER (PARTITION BY g.function ORDER BY g.ts, g.id ROWS UNBOUNDED PRECEDING) AS burst
    FROM gaps g),
firsts AS (
  SELECT b.*, first_value(b.origin) OVER (PARTITION BY b.function, b.burst ORDER BY b.ts, b.id) AS first_origin
    FROM bursts b)
SELECT 'invocation_loop' AS rule,
       CASE WHEN count(*) >= 3 * (SELECT loop_calls FROM rules_config) THEN 'high' ELSE 'medium' END AS severity,
       function,
       function AS target,
       min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS n_events,
       'function ' || function || ' invoked itself ' || count(*) || ' times in '
         || printf('%.1f', (max(ts) - min(ts)) / 1000.0) || ' s'
         || CASE WHEN sum(status IS NOT NULL) > 0 THEN ' (' || sum(status IS NOT NULL) || ' failed)' ELSE '' END AS summary,
       min(first_origin) AS ref,
       json_group_array(origin) AS event_ids
  FROM firsts
 GROUP BY function, burst
HAVING count(*) >= (SELECT loop_calls FROM rules_config);
