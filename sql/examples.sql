-- examples.sql — queries an analyst reaches for, over a case database.
--
--   sqlite3 -column -header case.db -cmd '.load build/fnguard' < sql/examples.sql   (all of them)
--
-- or copy one. They read what sql/import.sql, sql/pipeline.sql and sql/rules/all.sql write
-- (function_events, window_scores, models, alerts, settings, findings). Times are unix ms;
-- "this week" and "the normal period" are measured from the case's own data, not from today, so
-- the queries work on an old case file too. tests/py/test_rules.py runs every query here on the
-- testbed case. None needs the extension except the last one (lstm_ae_explain).

-- 1. Where to start: rule hits and anomaly alerts together, most severe first.
SELECT severity, kind, rule, function, time, n_events, substr(summary, 1, 100) AS summary, ref
  FROM findings
 ORDER BY severity_level DESC, first_ts
 LIMIT 30;

-- 2. The most anomalous functions of the last 7 days of data: for each function, its strongest
--    window relative to the detector's threshold (above 1 = anomalous), how many windows crossed
--    their threshold, and its alerts.
WITH recent AS (SELECT max(ts) - 7 * 86400000 AS since FROM function_events)
SELECT m.scope_key AS function,
       round(max(ws.score / ws.threshold), 2) AS worst_score_vs_threshold,
       sum(ws.is_anomaly) AS anomalous_windows,
       count(*) AS windows,
       (SELECT count(*) FROM alerts a WHERE a.function = m.scope_key AND a.last_ts >= recent.since) AS alerts
  FROM window_scores ws JOIN models m ON m.name = ws.detector, recent
 WHERE ws.last_ord >= recent.since AND ws.threshold > 0
 GROUP BY m.scope_key
 ORDER BY worst_score_vs_threshold DESC
 LIMIT 10;

-- 3. Event types never seen before for a function: first seen after the normal period (the
--    pipeline's train_to setting; default: all but the last 24 h), with how often and how.
WITH cut AS (SELECT coalesce((SELECT value FROM settings WHERE key = 'train_to'),
                             (SELECT max(ts) - 86400000 FROM function_events)) AS train_to)
SELECT fe.function, fe.event,
       strftime('%Y-%m-%dT%H:%M:%SZ', min(fe.ts) / 1000, 'unixepoch') AS first_seen,
       count(*) AS times, count(DISTINCT fe.flow) AS invocations,
       sum(fe.status IS NOT NULL) AS failed, max(fe.outside_lambda) AS outside_lambda
  FROM function_events fe, cut
 GROUP BY fe.function, fe.event
HAVING min(fe.ts) > cut.train_to
 ORDER BY first_seen;

-- 4. Invocation-rate spikes: hours in which a function started more than 3 times as many
--    invocations as its average hour of the normal period (and at least 10).
WITH cut AS (SELECT coalesce((SELECT value FROM settings WHERE key = 'train_to'),
                             (SELECT max(ts) - 86400000 FROM function_events)) AS train_to),
hourly AS (SELECT function, ts / 3600000 AS hour, count(*) AS starts
             FROM function_events WHERE event = 'lambda:START' GROUP BY function, hour),
normal AS (SELECT h.function, sum(h.starts) * 1.0 / max(1, (max(h.hour) - min(h.hour) + 1)) AS per_hour
             FROM hourly h, cut WHERE h.hour * 3600000 < cut.train_to GROUP BY h.function)
SELECT h.function, strftime('%Y-%m-%dT%H:00Z', h.hour * 3600, 'unixepoch') AS hour, h.starts,
       round(n.per_hour, 1) AS normal_per_hour, round(h.starts / n.per_hour, 1) AS ratio
  FROM hourly h JOIN normal n ON n.function = h.function, cut
 WHERE h.hour * 3600000 >= cut.train_to AND h.starts >= 10 AND h.starts > 3 * n.per_hour
 ORDER BY ratio DESC;

-- 5. A function's calls made from outside Lambda (stolen credentials): every call, with the
--    address, key and user agent. Here: the function with the most of them; put a name instead.
WITH pick(function) AS (SELECT function FROM function_events WHERE outside_lambda = 1
                         GROUP BY function ORDER BY count(*) DESC LIMIT 1)  -- or VALUES ('my-function')
SELECT strftime('%Y-%m-%dT%H:%M:%SZ', fe.ts / 1000, 'unixepoch') AS time, fe.event, fe.resource,
       fe.status, fe.error_code, fe.source_ip, fe.access_key, substr(fe.user_agent, 1, 40) AS user_agent
  FROM function_events fe JOIN pick USING (function)
 WHERE fe.outside_lambda = 1
 ORDER BY fe.ts;

-- 6. Duration outliers: invocations after the normal period that ran longer than twice the
--    function's 99th percentile of the normal period (cryptomining, exfiltration, hung calls).
WITH cut AS (SELECT coalesce((SELECT value FROM settings WHERE key = 'train_to'),
                             (SELECT max(ts) - 86400000 FROM function_events)) AS train_to),
reports AS (SELECT function, flow, ts, duration_ms FROM function_events
             WHERE event = 'lambda:REPORT' AND duration_ms IS NOT NULL),
ranked AS (SELECT r.function, r.duration_ms,
                  row_number() OVER (PARTITION BY r.function ORDER BY r.duration_ms) AS k,
                  count(*) OVER (PARTITION BY r.function) AS n
             FROM reports r, cut WHERE r.ts < cut.train_to),
p99 AS (SELECT function, min(duration_ms) AS p99_ms FROM ranked WHERE k >= 0.99 * n GROUP BY function)
SELECT r.function, r.flow, strftime('%Y-%m-%dT%H:%M:%SZ', r.ts / 1000, 'unixepoch') AS time,
       round(r.duration_ms) AS duration_ms, round(p.p99_ms) AS normal_p99_ms,
       round(r.duration_ms / p.p99_ms, 1) AS ratio
  FROM reports r JOIN p99 p USING (function), cut
 WHERE r.ts >= cut.train_to AND r.duration_ms > 2 * p.p99_ms
 ORDER BY ratio DESC
 LIMIT 20;

-- 7. One alert, step by step: its events and the model's explanation (the strongest alert here;
--    put an id from query 1 instead).
WITH pick(id) AS (SELECT id FROM alerts ORDER BY votes DESC, n_events DESC LIMIT 1)
SELECT ae.alert_id, strftime('%H:%M:%f', ae.ts / 1000.0, 'unixepoch') AS time, ae.event, ae.resource,
       ae.status, round(ae.duration_ms, 1) AS duration_ms, ae.outside_lambda
  FROM alert_events ae JOIN pick ON pick.id = ae.alert_id
 ORDER BY ae.ts
 LIMIT 40;
SELECT json_extract(t.value, '$.reason') AS reason, round(json_extract(t.value, '$.share'), 3) AS share
  FROM alerts a, json_each(a.explain_json, '$.top') t
 WHERE a.id = (SELECT id FROM alerts ORDER BY votes DESC, n_events DESC LIMIT 1);

-- 8. Explain any window against a function's model, e.g. the window that ends at an event of
--    interest (needs the extension: lstm_ae_explain).
SELECT part, last_order, json_extract(lstm_ae_explain(model, window, 5), '$.top') AS top_reasons
  FROM (SELECT w.part, w.last_order, m.model, w.window
          FROM models m JOIN win_m w ON w.part = m.scope_key
         WHERE m.detector = 'm' AND m.threshold IS NOT NULL
         ORDER BY w.last_order DESC
         LIMIT 1);
