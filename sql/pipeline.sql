-- pipeline.sql — the detector: train three LSTM autoencoders per scope, score, and fill alerts.
--
--   sqlite3 case.db -cmd '.load build/fnguard' < sql/pipeline.sql
--
-- Reads function_events (sql/import.sql fills it). Run it again at any time: models that exist
-- are kept (set retrain = 1 to replace them), and scoring covers what the mode says. Everything
-- runs in one transaction with .bail on: a failure (a training error, a bad setting) leaves the
-- database as it was — the old models and alerts stay in place.
--
-- Settings: rows of the table `settings` (key, value); missing keys get the defaults below (and
-- are stored). A bad value stops the run with an error named after the rule it breaks.
--   scope        'function' — one set of detectors per function (default), or 'app'
--   partition    'function' — windows over a function's events, its invocations one after the
--                other in the order they started (default; see "window order" below), or
--                'flow' — windows within one invocation
--   train_from   unix ms; default: the first event
--   train_to     unix ms; the normal period ends here; default: 24 h before the last event
--   holdout      the last share of the normal period the models do not learn from; their
--                thresholds are calibrated on it (default 0.2; 0: calibrate on training windows)
--   threshold_quantile  quantile of the held-out normal windows' errors a threshold sits at
--                (default 0.999, i.e. about one normal window in a thousand flagged)
--   threshold_margin  the threshold is that quantile (or DBSCAN's edge) times this (default
--                1.25, at least 1; see "thresholds" below)
--   calibration_windows  at most this many held-out windows scored per model (default 20000)
--   score_from   unix ms; offline scoring covers windows ending at or after it; default train_to
--   mode         'offline' (score everything from score_from; default) or 'online' (only windows
--                ending after each scope's watermark whose invocations have all ended, then
--                advance it: run it every few minutes)
--   vote         an incident (a run of flagged events) is an alert when this many of the three
--                detectors flag one of its events (default 2; 1: any detector; see "alerts")
--   vote_novel   ... or this many flag one holding a value never seen in training (its
--                function's new API call, resource, caller...; default 1). Only matters when
--                lower than vote: two detectors must agree on an unusual value, one alone
--                alerts on a new one
--   options      JSON options for lstm_ae_train (default below)
--   min_windows  scopes with fewer training windows get no detectors (default 20)
--   retrain      1: train again even where models exist (default 0)
--   untraced_share  for a function some of whose invocations X-Ray did not trace: the share of
--                its traced invocations shown untraced in a training-only copy (default 0.3;
--                0: no copy; see "Training views with tracing dropped" below)
--   update_scope, update_from, update_to, update_options   a delta update (see below); one-shot
-- Window sizes and fields are those of the virtual tables win_s, win_m, win_l below (5, 10, 20
-- steps). To change them, create those tables yourself before the first run (source=detect_events,
-- partition=part, order=ord): the script keeps existing ones (CREATE ... IF NOT EXISTS).
--
-- Tables it writes: detect_events (features), models, window_scores, alerts, watermarks,
-- not_normal (read only: ids an analyst rules out of the normal data); views alert_events (an
-- alert's function_events rows) and flow_verdicts (one row per invocation).
--
-- Defaults were chosen with make eval (fixtures/testbed/eval.py; numbers in its report): on 30
-- days of the testbed at scale 1, training costs ~3.5 minutes on one core, and the thresholds
-- below keep false alarms between 0 and 0.06% of normal windows per detector, and vote 2 with
-- vote_novel 1 at 0 to 1 false alerts a day, every campaign found (three seeds, one attack day;
-- over three attack days 1 to 2.3 false alerts a day and up to 0.19% on one detector; vote 1
-- gave 0 to 5 and 4 to 8 false alerts a day). Two seeds generated after these choices: 0 and 3
-- false alerts a day, up to 0.24% on one detector (README, Evaluation).
.bail on
BEGIN;

CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value);
INSERT OR IGNORE INTO settings VALUES
  ('scope', 'function'), ('partition', 'function'), ('mode', 'offline'), ('vote', 2), ('vote_novel', 1),
  ('min_windows', 20), ('retrain', 0), ('threshold_quantile', 0.999), ('calibration_windows', 20000),
  ('holdout', 0.2), ('update_options', '{"epochs":30,"lr":0.005,"patience":6}'), ('untraced_share', 0.3),
  ('threshold_margin', 1.25),
  -- hidden 32, 25 epochs on at most 8000 windows per model: measured on the testbed, the
  -- original 15 epochs on 4000 windows left the models under-trained (validation loss still
  -- falling, normal errors spread wide); hidden 64 doubled the cost for little gain. num_cap 4:
  -- a numeric value's error counts at most 4 (2 standard deviations; a never-seen value counts
  -- up to 2). Uncapped, a payment provider's timeouts in the held-out days (20 s against 0.5 s,
  -- error ~50) set CollectPayment's threshold so high that UpdateFunctionCode, CreateUser and
  -- friends, never seen before, stayed under it; capped, every detector finds every campaign.
  ('options', '{"hidden":32,"epochs":25,"patience":4,"lr":0.01,"max_windows":8000,"seed":42,"num_cap":4}'),
  ('train_from', (SELECT min(ts) FROM function_events)),
  ('train_to', (SELECT max(ts) - 86400000 FROM function_events));
INSERT OR IGNORE INTO settings VALUES ('score_from', (SELECT value FROM settings WHERE key = 'train_to'));
-- Settings are checked by constraints whose names are the error messages.
CREATE TEMP TABLE check_settings(
  scope, partition, mode, vote, vote_novel, n_events, threshold_quantile, options, train_from, train_to,
  min_windows, calibration_windows, retrain, holdout, update_options, untraced_share, threshold_margin,
  CONSTRAINT "setting scope must be 'function' or 'app'" CHECK (scope IN ('function', 'app')),
  CONSTRAINT "setting partition must be 'function' or 'flow'" CHECK (partition IN ('function', 'flow')),
  CONSTRAINT "setting mode must be 'offline' or 'online'" CHECK (mode IN ('offline', 'online')),
  CONSTRAINT "setting vote must be 1, 2 or 3" CHECK (vote IN (1, 2, 3)),
  CONSTRAINT "setting vote_novel must be 1, 2 or 3" CHECK (vote_novel IN (1, 2, 3)),
  CONSTRAINT "function_events is empty: run sql/import.sql first" CHECK (n_events > 0),
  CONSTRAINT "setting threshold_quantile must be between 0.5 and 1"
    CHECK (typeof(threshold_quantile) IN ('integer', 'real') AND threshold_quantile BETWEEN 0.5 AND 1),
  CONSTRAINT "setting options must be a JSON object" CHECK (json_valid(options) AND json_type(options) = 'object'),
  CONSTRAINT "setting train_to must be after train_from" CHECK (train_to > train_from),
  CONSTRAINT "setting min_windows must be a positive integer" CHECK (typeof(min_windows) = 'integer' AND min_windows > 0),
  CONSTRAINT "setting calibration_windows must be a positive integer"
    CHECK (typeof(calibration_windows) = 'integer' AND calibration_windows > 0),
  CONSTRAINT "setting retrain must be 0 or 1" CHECK (retrain IN (0, 1)),
  CONSTRAINT "setting holdout must be at least 0 and below 1"
    CHECK (typeof(holdout) IN ('integer', 'real') AND holdout >= 0 AND holdout < 1),
  CONSTRAINT "setting update_options must be a JSON object"
    CHECK (json_valid(update_options) AND json_type(update_options) = 'object'),
  CONSTRAINT "setting untraced_share must be between 0 and 1"
    CHECK (typeof(untraced_share) IN ('integer', 'real') AND untraced_share BETWEEN 0 AND 1),
  CONSTRAINT "setting threshold_margin must be between 1 and 100"
    CHECK (typeof(threshold_margin) IN ('integer', 'real') AND threshold_margin BETWEEN 1 AND 100));
INSERT INTO temp.check_settings SELECT
  (SELECT value FROM settings WHERE key = 'scope'), (SELECT value FROM settings WHERE key = 'partition'),
  (SELECT value FROM settings WHERE key = 'mode'), (SELECT value FROM settings WHERE key = 'vote'),
  (SELECT value FROM settings WHERE key = 'vote_novel'), (SELECT count(*) FROM function_events),
  (SELECT value FROM settings WHERE key = 'threshold_quantile'),
  (SELECT value FROM settings WHERE key = 'options'), (SELECT value FROM settings WHERE key = 'train_from'),
  (SELECT value FROM settings WHERE key = 'train_to'), (SELECT value FROM settings WHERE key = 'min_windows'),
  (SELECT value FROM settings WHERE key = 'calibration_windows'), (SELECT value FROM settings WHERE key = 'retrain'),
  (SELECT value FROM settings WHERE key = 'holdout'), (SELECT value FROM settings WHERE key = 'update_options'),
  (SELECT value FROM settings WHERE key = 'untraced_share'), (SELECT value FROM settings WHERE key = 'threshold_margin');
-- Tables made by an older pipeline.sql (before windows read invocations together, see "window
-- order" below, or before hot_steps and novel_steps) are refused with what to do: they hold the
-- same data, derived again by the next run (models can stay).
DROP TABLE IF EXISTS temp.check_tables;
CREATE TEMP TABLE check_tables(detect_events, window_scores, alerts, windows,
  CONSTRAINT "detect_events was made by an older pipeline.sql (no ord column): DROP TABLE detect_events and run again"
    CHECK (detect_events),
  CONSTRAINT "window_scores was made by an older pipeline.sql (no first_ord, hot_steps or novel_steps column): DROP TABLE window_scores and run again"
    CHECK (window_scores),
  CONSTRAINT "alerts was made by an older pipeline.sql (no first_ord column): DROP TABLE alerts and run again"
    CHECK (alerts),
  CONSTRAINT "win_s, win_m or win_l was made by an older pipeline.sql (windows in time order, not order=ord): DROP TABLE win_s; DROP TABLE win_m; DROP TABLE win_l; and run again"
    CHECK (windows));
INSERT INTO temp.check_tables SELECT
  NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'detect_events')
    OR EXISTS (SELECT 1 FROM pragma_table_info('detect_events') WHERE name = 'ord'),
  NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'window_scores')
    OR (SELECT count(*) FROM pragma_table_info('window_scores') WHERE name IN ('first_ord', 'hot_steps', 'novel_steps')) = 3,
  NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'alerts')
    OR EXISTS (SELECT 1 FROM pragma_table_info('alerts') WHERE name = 'first_ord'),
  NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name IN ('win_s', 'win_m', 'win_l')
                AND replace(replace(replace(lower(sql), ' ', ''), '''', ''), '"', '') NOT LIKE '%order=ord,%'
                AND replace(replace(replace(lower(sql), ' ', ''), '''', ''), '"', '') NOT LIKE '%order=ord)%');
-- The normal period [train_from, train_to) is split: models learn from [train_from, fit_to) and
-- their thresholds come from the last `holdout` of it, [fit_to, train_to), windows they never
-- saw (see thresholds below); holdout 0 calibrates on the training windows themselves.
DROP TABLE IF EXISTS temp.periods;
CREATE TEMP TABLE periods AS
  SELECT f AS train_from, t AS train_to, CASE WHEN h > 0 THEN f + CAST((t - f) * (1 - h) AS INTEGER) ELSE t END AS fit_to,
         CASE WHEN h > 0 THEN f + CAST((t - f) * (1 - h) AS INTEGER) ELSE f END AS cal_from
    FROM (SELECT (SELECT value FROM settings WHERE key = 'train_from') AS f,
                 (SELECT value FROM settings WHERE key = 'train_to') AS t,
                 (SELECT value FROM settings WHERE key = 'holdout') AS h);

-- ---- features -----------------------------------------------------------------------------
-- One row per function event, keyed by its function_events id; new events are appended, so an
-- online run does work proportional to what arrived. part = the window partition, scope_key =
-- what a set of detectors covers. The windows see eight fields (win_s/m/l below):
--   event, parent, resource, status  what was called, under which segment, on what, how it ended;
--   caller       'lambda' or 'outside': a call with the function's credentials from outside Lambda;
--   duration_ms  on lambda:REPORT (the invocation's duration) and lambda:INIT_START (a cold
--                start's init), NULL on calls;
--   memory_mb    on lambda:REPORT, the invocation's peak memory;
--   rate_1m      on lambda:START, the function's invocations in the last minute (floods, loops),
--                discounted while the rest of its app is busier than usual (below).
-- Numbers are few and sparse on purpose (NULL numbers are masked, they cost nothing): the score
-- is a mean over fields and steps, and a small autoencoder reconstructs a number only roughly,
-- with a squared error that has no ceiling. Measured with make eval and the pipeline tests, the
-- ordinary spread of per-call latencies, rel_start_ms, depth and the gap between any two events
-- outweighed a call never made before (whose error is at most 2) and raised false alarms, so
-- those stay in this table for analysts but out of the windows. event_type duplicates event.
-- The trade-off, measured: with all eleven fields (event_type, rel_start_ms, depth, gap_ms and
-- every call's duration too) the 30-day testbed run found every campaign with every detector,
-- including a low-intensity persistence campaign this set misses, but a single new API call in
-- one invocation (tests/py/test_pipeline.py) went unseen: its error drowned in the numbers.
--
-- Window order (ord). A function serves invocations concurrently, so in time order the events of
-- two invocations interleave, differently every time (on the 30-day testbed, false alerts on two
-- invocations interleaving around a cold start; in tests/py/test_pipeline.py, an alert of 24
-- events on two ordinary invocations side by side). The windows therefore read an invocation's
-- events together, in their time order, and invocations in the order they started, as the
-- paper's function flows: ord = the invocation's start (unix ms, its first event; ts -
-- rel_start_ms), or ts for an event of no invocation (a call from outside Lambda), ties by id
-- (sql/import.sql numbers a function's events in time order). Every span below (the training,
-- calibration and scoring periods, window_scores, alerts) is a span of ord: the windows of the
-- invocations that started in it. Measured with make eval against time order (30 days, seeds
-- 1-3): each single detector found 32, 32 and 31-32 of the 32 campaigns (before 30-32), window
-- F1 rose (small detector 0.56-0.67 -> 0.75-0.76), per-detector false-alarm rates stayed at or
-- below 0.07%; false alerts a day 0, 5, 2 (before 0, 3, 2): what is left is rare normal
-- behaviour (a latency spike, a run of cold starts), not the order of events.
CREATE TABLE IF NOT EXISTS detect_events(
  id INTEGER PRIMARY KEY, part TEXT NOT NULL, scope_key TEXT NOT NULL, function TEXT NOT NULL,
  ts INTEGER NOT NULL, ord INTEGER NOT NULL, event TEXT, event_type TEXT, parent TEXT, resource TEXT, status TEXT, caller TEXT,
  duration_ms REAL, call_ms REAL, rel_start_ms REAL, depth INTEGER, memory_mb REAL, rate_1m INTEGER,
  gap_ms REAL);
CREATE INDEX IF NOT EXISTS detect_events_part_ts ON detect_events(part, ts);
CREATE INDEX IF NOT EXISTS detect_events_part_ord ON detect_events(part, ord);
CREATE TABLE IF NOT EXISTS parts(part TEXT PRIMARY KEY, scope_key TEXT NOT NULL);
-- sql/import.sql rebuilds function_events, and its ids, from all raw rows on every import: when
-- the last row here no longer matches function_events, the features are rebuilt from scratch
-- (window_scores and alerts keep their time ranges, which is what alert_events reads).
DELETE FROM detect_events WHERE NOT EXISTS (
  SELECT 1 FROM detect_events d JOIN function_events fe ON fe.id = d.id AND fe.ts = d.ts AND fe.function = d.function
                                                        AND fe.event IS d.event
   WHERE d.id = (SELECT max(id) FROM detect_events));
-- A call CloudTrail logged and X-Ray did not trace (sampling: X-Ray keeps about one request a
-- second and 5% of the rest, so under load many calls are untraced) has no parent. It takes the
-- parent its traced twins have most often, (function, event) alike: otherwise the same call
-- looks different to the windows whenever sampling skipped it, and busy hours, when more is
-- skipped, look anomalous. Calls without a flow (from outside Lambda) and calls no traced twin
-- explains keep none.
DROP TABLE IF EXISTS temp.parent_mode;
CREATE TEMP TABLE parent_mode(function TEXT, event TEXT, parent TEXT, PRIMARY KEY(function, event));
INSERT INTO temp.parent_mode
  SELECT function, event, parent FROM (
    SELECT function, event, parent,
           row_number() OVER (PARTITION BY function, event ORDER BY count(*) DESC, parent) AS rk
      FROM function_events
     WHERE source = 'cloudtrail' AND parent IS NOT NULL AND flow IS NOT NULL
       AND EXISTS (SELECT 1 FROM function_events n WHERE n.id > coalesce((SELECT max(id) FROM detect_events), -1))
     GROUP BY function, event, parent)
   WHERE rk = 1;
-- A call the SDK retried is one call, as X-Ray records it (one subsegment, `retries` > 0), but
-- CloudTrail logs every attempt. An attempt that failed with a throttling or transient server
-- error and has a twin (same flow, event and resource) within 5 s is left out of the windows:
-- otherwise each throttled call is a rare extra step with an error and, X-Ray having no
-- subsegment of that request id, no parent. It stays in function_events. Only attempts that
-- failed with a retryable error and were repeated are left out, so an attacker cannot hide a
-- call that did anything this way.
DROP TABLE IF EXISTS temp.retried;
CREATE TEMP TABLE retried(id INTEGER PRIMARY KEY);
INSERT INTO temp.retried
  SELECT fe.id FROM function_events fe
   WHERE fe.id > coalesce((SELECT max(id) FROM detect_events), -1)
     AND fe.source = 'cloudtrail' AND fe.flow IS NOT NULL
     AND (fe.status = 'throttle'
          OR fe.error_code IN ('InternalError', 'InternalFailure', 'InternalServerError',
                               'InternalServerErrorException', 'ServiceUnavailable',
                               'ServiceUnavailableException', 'RequestTimeout', 'RequestTimeoutException'))
     AND EXISTS (SELECT 1 FROM function_events n
                  WHERE n.flow = fe.flow AND n.function = fe.function AND n.id <> fe.id
                    AND n.event = fe.event AND n.resource IS fe.resource
                    AND n.ts BETWEEN fe.ts - 5000 AND fe.ts + 5000);
DROP TABLE IF EXISTS temp.new_events;
CREATE TEMP TABLE new_events AS
  SELECT fe.id,
         CASE (SELECT value FROM settings WHERE key = 'partition')
           WHEN 'flow' THEN fe.function || '/' || coalesce(fe.flow, 'none') ELSE fe.function END AS part,
         CASE (SELECT value FROM settings WHERE key = 'scope')
           WHEN 'app' THEN coalesce(fe.app, fe.function) ELSE fe.function END AS scope_key,
         fe.function, fe.ts, CAST(fe.ts - coalesce(fe.rel_start_ms, 0) AS INTEGER) AS ord, fe.event, fe.event_type,
         CASE WHEN fe.parent IS NULL AND fe.source = 'cloudtrail' AND fe.flow IS NOT NULL
              THEN (SELECT pm.parent FROM temp.parent_mode pm WHERE pm.function = fe.function AND pm.event = fe.event)
              ELSE fe.parent END AS parent,
         fe.resource, fe.status,
         CASE fe.outside_lambda WHEN 1 THEN 'outside' WHEN 0 THEN 'lambda' END AS caller,
         CASE WHEN fe.event IN ('lambda:REPORT', 'lambda:INIT_START') THEN fe.duration_ms END AS duration_ms,
         CASE WHEN fe.event NOT IN ('lambda:REPORT', 'lambda:INIT_START') THEN fe.duration_ms END AS call_ms,
         fe.rel_start_ms, fe.depth,
         CASE WHEN fe.event = 'lambda:REPORT' THEN
           (SELECT l.max_memory_mb FROM lambda_logs l
             WHERE l.function = fe.function AND l.request_id = fe.flow AND l.type = 'REPORT' LIMIT 1) END AS memory_mb
    FROM function_events fe
   WHERE fe.id > coalesce((SELECT max(id) FROM detect_events), -1)
     AND fe.id NOT IN (SELECT id FROM temp.retried);
-- rate_1m, a flood's or a loop's mark, is the function's invocations in the last minute, except
-- when the rest of its app is busier than usual. A rush of ordinary work (uploads, bookings)
-- makes every function of a workflow run more often at once, and a rush larger than any of the
-- training days put every one of them out of range together: on make eval's seed 4, a
-- video-upload rush (5-8 uploads in ten minutes, the training month's most 6) gave 9 false
-- alerts a day and 0.5-0.85% false alarms per detector. So the count is discounted by how much
-- busier than usual the app's other functions are: others = their invocations in the last ten
-- minutes, usual = the 90th percentile of others at this function's invocations in the training
-- period, and when others > usual, rate_1m = max(1, count * usual / others). Only where usual is
-- at least 10: a count of a few invocations is mostly chance (in tests/py/test_pipeline.py, two
-- functions a few minutes apart, discounting at random changed what the models learned enough
-- to lose the start of a burst). A flood or a loop of one function leaves the rest of its app as
-- it was: its own count stands. The floor of 1 keeps a flood of one function from giving its
-- neighbours rates never seen (measured without it: seed 2's small detector went from 0.07% to
-- 1.1% false alarms during a flood). Measured
-- with make eval (30 days; README, Evaluation): seed 4 went from 9 to 3 false alerts a day and
-- 0.48/0.85/0.74% to 0.16/0.22/0.09% per detector, seed 2 from 0.28% to 0.12% of unit windows
-- under false alerts, eleven runs from 17.7 to 11 false alerts a day in all (the three tuning
-- seeds alone 5.0 -> 6.3). The price: a flood through an app's front door that also runs the
-- rest of the app (every function's count up together) looks like a rush; the discount does
-- not go below one invocation a minute.
DROP TABLE IF EXISTS temp.usual_others;
CREATE TEMP TABLE usual_others(function TEXT PRIMARY KEY, usual INTEGER);
INSERT INTO temp.usual_others
WITH s AS (
  SELECT function, coalesce(app, function) AS app, ts FROM function_events
   WHERE event = 'lambda:START' AND ts >= (SELECT train_from FROM temp.periods) AND ts < (SELECT train_to FROM temp.periods)
     AND EXISTS (SELECT 1 FROM temp.new_events WHERE event = 'lambda:START')),
c AS (
  SELECT function,
         count(*) OVER (PARTITION BY app ORDER BY ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW)
         - count(*) OVER (PARTITION BY function ORDER BY ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW) AS others
    FROM s),
r AS (
  SELECT function, others, row_number() OVER (PARTITION BY function ORDER BY others) AS rk,
         count(*) OVER (PARTITION BY function) AS k
    FROM c)
SELECT function, others FROM r WHERE rk = max(1, CAST(ceil(k * 0.9) AS INTEGER)) AND others >= 10;
INSERT INTO detect_events
WITH starts AS (  -- invocations: the new ones, and the old ones of the ten minutes before them (online)
  SELECT n.id, n.function, coalesce(fe.app, n.function) AS app, n.ts
    FROM temp.new_events n JOIN function_events fe ON fe.id = n.id
   WHERE n.event = 'lambda:START'
  UNION ALL
  SELECT d.id, d.function, coalesce(fe.app, d.function), d.ts
    FROM parts p JOIN detect_events d ON d.part = p.part JOIN function_events fe ON fe.id = d.id
   WHERE d.ts >= (SELECT min(ts) FROM temp.new_events) - 600000 AND d.event = 'lambda:START'),
counts AS (
  SELECT s.id, u.usual,
         count(*) OVER (PARTITION BY s.function ORDER BY s.ts RANGE BETWEEN 59999 PRECEDING AND CURRENT ROW) AS n,
         count(*) OVER (PARTITION BY s.app ORDER BY s.ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW)
         - count(*) OVER (PARTITION BY s.function ORDER BY s.ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW) AS others
    FROM starts s LEFT JOIN temp.usual_others u ON u.function = s.function),
rate AS (
  SELECT id, CASE WHEN others > usual THEN max(1, round(n * 1.0 * usual / others, 2)) ELSE n END AS n FROM counts)
SELECT n.id, n.part, n.scope_key, n.function, n.ts, n.ord, n.event, n.event_type, n.parent, n.resource, n.status, n.caller,
       n.duration_ms, n.call_ms, n.rel_start_ms, n.depth, n.memory_mb, r.n,
       -- gap_ms: time since the previous event of the partition; for a partition's first new row,
       -- since its last row already there (an online run appends). LAG, not a correlated subquery
       -- per row: that one is quadratic in a partition's length (minutes at 300k events).
       coalesce(n.ts - coalesce(lag(n.ts) OVER (PARTITION BY n.part ORDER BY n.ts, n.id),
                               (SELECT max(p.ts) FROM detect_events p WHERE p.part = n.part AND p.ts <= n.ts)), 0)
  FROM temp.new_events n LEFT JOIN rate r ON r.id = n.id
 ORDER BY n.id;

INSERT OR IGNORE INTO parts SELECT DISTINCT part, scope_key FROM detect_events;

-- ---- windows: three sizes -----------------------------------------------------------------
CREATE VIRTUAL TABLE IF NOT EXISTS win_s USING fn_windows(source=detect_events, partition=part, order=ord,
  fields='event,parent,resource,status,caller,duration_ms,memory_mb,rate_1m', size=5);
CREATE VIRTUAL TABLE IF NOT EXISTS win_m USING fn_windows(source=detect_events, partition=part, order=ord,
  fields='event,parent,resource,status,caller,duration_ms,memory_mb,rate_1m', size=10);
CREATE VIRTUAL TABLE IF NOT EXISTS win_l USING fn_windows(source=detect_events, partition=part, order=ord,
  fields='event,parent,resource,status,caller,duration_ms,memory_mb,rate_1m', size=20);

-- ---- models -------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS models(
  name TEXT PRIMARY KEY,        -- detector: '<scope_key>/<size>'
  scope TEXT NOT NULL,          -- 'function' or 'app'
  scope_key TEXT NOT NULL,      -- the function or app it watches
  detector TEXT NOT NULL,       -- 's', 'm', 'l'
  window_size INTEGER NOT NULL,
  fields TEXT NOT NULL,         -- JSON array
  threshold REAL,               -- calibrated on [cal_from, cal_to) (see thresholds below)
  train_from INTEGER, train_to INTEGER,   -- the windows it learned from
  cal_from INTEGER, cal_to INTEGER,       -- the normal windows its threshold comes from
  created TEXT NOT NULL,
  options TEXT,
  n_windows INTEGER,
  model BLOB NOT NULL);

-- Training: one aggregate per scope and size; INSERT OR REPLACE inside this transaction, so a
-- failure keeps the old models. Windows must lie entirely in the normal period. Each size's
-- windows are read part by part (part = ? is pushed down to fn_windows) in the order of
-- train_jobs, so the GROUP BY needs no sort of a million window texts.
CREATE TEMP VIEW IF NOT EXISTS need_training AS
  SELECT DISTINCT scope_key FROM parts
   WHERE (SELECT value FROM settings WHERE key = 'retrain') = 1
      OR scope_key NOT IN (SELECT scope_key FROM models);
DROP TABLE IF EXISTS temp.train_jobs;
CREATE TEMP TABLE train_jobs(scope_key TEXT, part TEXT, PRIMARY KEY(scope_key, part));
INSERT INTO temp.train_jobs SELECT scope_key, part FROM parts WHERE scope_key IN (SELECT scope_key FROM need_training);
-- The model's window is the vtable's size unless options say otherwise: with partition = 'flow'
-- (or a short partition) the longest training window can be shorter than a window scored later.
DROP TABLE IF EXISTS temp.train_options;
CREATE TEMP TABLE train_options AS
  SELECT d.detector, CASE WHEN json_extract(o.value, '$.window') IS NULL AND d.size > 0
                          THEN json_set(o.value, '$.window', d.size) ELSE o.value END AS o
    FROM (SELECT substr(name, 5) AS detector, CAST(substr(sql, instr(sql, 'size=') + 5) AS INTEGER) AS size
            FROM sqlite_schema WHERE name IN ('win_s', 'win_m', 'win_l')) d, settings o
   WHERE o.key = 'options';
-- Training views with tracing dropped. X-Ray samples requests (about one a second and 5% of
-- the rest): an invocation it skipped shows only what CloudTrail and the Lambda logs saw — no
-- HTTP or local calls, its AWS calls at CloudTrail's whole second, no parents. On a quiet
-- function nearly every invocation is traced, so the untraced view is rare in training, and
-- where it meets another rarity (a cold start, an error) the models flag it; under load, or when
-- a burst elsewhere takes the sampling reservoir, untraced invocations become common (measured
-- on the 30-day testbed: 0.8% of one function's invocations in training, 2.7% on a day with a
-- flood on another function; 5 of the 8 false alerts of that day). So each partition being
-- trained also learns from a copy of its training period in which a share (untraced_share,
-- default 0.3; 0: no copy) of the traced invocations look as if X-Ray had skipped them: X-Ray's
-- own rows left out, CloudTrail's rows with the parent their twins have most often (as above).
-- sql/import.sql puts an untraced call at CloudTrail's whole second inside its invocation, ties
-- in a fixed order (where traced invocations make the call, then by event and resource): the
-- copy moves those calls there too, so that an untraced invocation's calls come in the order
-- real untraced ones have. The copy is for
-- learning only (training, and a delta update below): detect_events rows with negative ids
-- (-2^40 + their rank in that order) in part '<part>#untraced', in train_jobs but not in parts,
-- deleted before thresholds and scoring. Which invocations:
-- by the last hex digit of the request id (deterministic), of the functions that had untraced
-- invocations in training (calls in CloudTrail, none in X-Ray): where X-Ray traces everything, or
-- is off, there is nothing to learn.
DELETE FROM detect_events WHERE id < 0;
CREATE TABLE IF NOT EXISTS not_normal(id INTEGER PRIMARY KEY);
-- What gets a copy: the partitions being trained, over the span they learn from, and those of a
-- delta update's scope (below) over its span.
DROP TABLE IF EXISTS temp.copy_jobs;
CREATE TEMP TABLE copy_jobs(part TEXT, f INTEGER, t INTEGER);
INSERT INTO temp.copy_jobs SELECT j.part, p.train_from, p.fit_to FROM temp.train_jobs j, temp.periods p;
INSERT INTO temp.copy_jobs
  SELECT p.part, (SELECT value FROM settings WHERE key = 'update_from'), (SELECT value FROM settings WHERE key = 'update_to')
    FROM parts p WHERE p.scope_key = (SELECT value FROM settings WHERE key = 'update_scope');
-- Invocations with an event an analyst ruled out (not_normal) are not copied.
DROP TABLE IF EXISTS temp.bad_flows;
CREATE TEMP TABLE bad_flows(function TEXT, flow TEXT, PRIMARY KEY(function, flow)) WITHOUT ROWID;
INSERT OR IGNORE INTO temp.bad_flows
  SELECT fe.function, fe.flow FROM not_normal n JOIN function_events fe ON fe.id = n.id WHERE fe.flow IS NOT NULL;
DROP TABLE IF EXISTS temp.untraced_view;
CREATE TEMP TABLE untraced_view(function TEXT, flow TEXT, start_ts INTEGER, end_ts INTEGER,
                                PRIMARY KEY(function, flow)) WITHOUT ROWID;
INSERT INTO temp.untraced_view
WITH spans AS (
  SELECT DISTINCT (SELECT d.function FROM detect_events d WHERE d.part = j.part LIMIT 1) AS function, j.f, j.t
    FROM temp.copy_jobs j),
flows AS MATERIALIZED (  -- one pass over the spans' invocations
  SELECT fe.function, fe.flow, max(fe.source = 'cloudtrail') AS in_cloudtrail,
         max(fe.source = 'xray' OR fe.attribution = 'xray') AS traced,
         count(*) FILTER (WHERE fe.event = 'lambda:START') AS n_start,
         count(*) FILTER (WHERE fe.event = 'lambda:REPORT') AS n_report,
         min(fe.ts) FILTER (WHERE fe.event = 'lambda:START') AS start_ts,
         max(fe.ts) FILTER (WHERE fe.event = 'lambda:REPORT') AS end_ts
    FROM spans s JOIN function_events fe ON fe.function = s.function AND fe.ts >= s.f AND fe.ts < s.t
   WHERE fe.flow IS NOT NULL
   GROUP BY fe.function, fe.flow)
SELECT function, flow, start_ts, end_ts FROM flows
 WHERE function IN (SELECT function FROM flows WHERE in_cloudtrail AND NOT traced)
   AND traced AND n_start > 0 AND n_report > 0
   AND instr('0123456789abcdef', lower(substr(flow, -1))) - 1
       < 16 * (SELECT value FROM settings WHERE key = 'untraced_share');
-- The import's order of calls that share a millisecond (sql/import.sql, call_pos, computed the
-- same way): their average rank among the calls of the function's traced invocations, then by
-- name.
DROP TABLE IF EXISTS temp.call_pos;
CREATE TEMP TABLE call_pos(function TEXT, event TEXT, pos REAL, PRIMARY KEY(function, event)) WITHOUT ROWID;
INSERT INTO temp.call_pos
  SELECT function, event, avg(rk) FROM (
    SELECT function, event, row_number() OVER (PARTITION BY function, flow ORDER BY ts, event, resource, origin) AS rk
      FROM function_events
     WHERE function IN (SELECT function FROM temp.untraced_view) AND flow IS NOT NULL
       AND ((source = 'cloudtrail' AND attribution = 'xray') OR source = 'xray'))
   GROUP BY function, event;
INSERT INTO detect_events(id, part, scope_key, function, ts, ord, event, event_type, parent, resource, status, caller,
                          duration_ms, call_ms, rel_start_ms, depth, memory_mb, rate_1m, gap_ms)
  SELECT -1099511627776 + row_number() OVER (ORDER BY part, ord, at, report_last, is_call, pos, event, resource, id),
         part, scope_key, function, ts, ord, event, event_type, parent, resource, status, caller,
         duration_ms, call_ms, rel_start_ms, depth, memory_mb, rate_1m, gap_ms
    FROM (
  SELECT DISTINCT d.id, d.part || '#untraced' AS part, d.scope_key, d.function, d.ts, d.ord, d.event, d.event_type,
         CASE WHEN v.flow IS NOT NULL AND fe.source = 'cloudtrail'
              THEN coalesce((SELECT pm.parent FROM temp.parent_mode pm
                              WHERE pm.function = d.function AND pm.event = d.event), d.parent)
              ELSE d.parent END AS parent,
         d.resource, d.status, d.caller, d.duration_ms, d.call_ms, d.rel_start_ms, d.depth, d.memory_mb, d.rate_1m,
         d.gap_ms,
         -- where the import would have put it: CloudTrail's second, inside the invocation
         CASE WHEN v.flow IS NOT NULL AND fe.source = 'cloudtrail'
              THEN max(v.start_ts + 1, min(d.ts / 1000 * 1000, v.end_ts - 1)) ELSE d.ts END AS at,
         fe.source = 'lambda' AND d.event = 'lambda:REPORT' AS report_last,
         fe.source <> 'lambda' AS is_call, coalesce(p.pos, 1e15) AS pos
    FROM temp.copy_jobs j
    JOIN detect_events d ON d.part = j.part AND d.ord >= j.f AND d.ord < j.t
    JOIN function_events fe ON fe.id = d.id
    LEFT JOIN temp.untraced_view v ON v.function = fe.function AND v.flow = fe.flow
    LEFT JOIN temp.call_pos p ON fe.source <> 'lambda' AND p.function = d.function AND p.event = d.event
   WHERE d.function IN (SELECT function FROM temp.untraced_view)
     AND NOT (v.flow IS NOT NULL AND fe.source = 'xray')
     AND d.id NOT IN (SELECT id FROM not_normal)
     AND NOT EXISTS (SELECT 1 FROM temp.bad_flows b WHERE b.function = fe.function AND b.flow = fe.flow));
INSERT INTO temp.train_jobs
  SELECT j.scope_key, j.part || '#untraced' FROM temp.train_jobs j
   WHERE EXISTS (SELECT 1 FROM detect_events d WHERE d.part = j.part || '#untraced');
DROP TABLE IF EXISTS temp.trained;
CREATE TEMP TABLE trained(scope_key TEXT, detector TEXT, n INTEGER, model BLOB);
INSERT INTO temp.trained
  SELECT j.scope_key, 's', count(*), lstm_ae_train(w.window, (SELECT o FROM temp.train_options WHERE detector = 's'))
    FROM temp.train_jobs j CROSS JOIN win_s w ON w.part = j.part
   WHERE w.first_order >= (SELECT train_from FROM temp.periods) AND w.last_order < (SELECT fit_to FROM temp.periods)
   GROUP BY j.scope_key HAVING count(*) >= (SELECT value FROM settings WHERE key = 'min_windows');
INSERT INTO temp.trained
  SELECT j.scope_key, 'm', count(*), lstm_ae_train(w.window, (SELECT o FROM temp.train_options WHERE detector = 'm'))
    FROM temp.train_jobs j CROSS JOIN win_m w ON w.part = j.part
   WHERE w.first_order >= (SELECT train_from FROM temp.periods) AND w.last_order < (SELECT fit_to FROM temp.periods)
   GROUP BY j.scope_key HAVING count(*) >= (SELECT value FROM settings WHERE key = 'min_windows');
INSERT INTO temp.trained
  SELECT j.scope_key, 'l', count(*), lstm_ae_train(w.window, (SELECT o FROM temp.train_options WHERE detector = 'l'))
    FROM temp.train_jobs j CROSS JOIN win_l w ON w.part = j.part
   WHERE w.first_order >= (SELECT train_from FROM temp.periods) AND w.last_order < (SELECT fit_to FROM temp.periods)
   GROUP BY j.scope_key HAVING count(*) >= (SELECT value FROM settings WHERE key = 'min_windows');
INSERT OR REPLACE INTO models(name, scope, scope_key, detector, window_size, fields, threshold,
                              train_from, train_to, cal_from, cal_to, created, options, n_windows, model)
SELECT t.scope_key || '/' || t.detector, (SELECT value FROM settings WHERE key = 'scope'), t.scope_key, t.detector,
       json_extract(lstm_ae_info(t.model), '$.window'), json_extract(lstm_ae_info(t.model), '$.fields'),
       NULL, p.train_from, p.fit_to, p.cal_from, p.train_to, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
       (SELECT value FROM settings WHERE key = 'options'), t.n, t.model
  FROM temp.trained t, temp.periods p;
DELETE FROM temp.train_jobs WHERE part LIKE '%#untraced';

-- ---- delta update -------------------------------------------------------------------------
-- The paper's delta model, for a legitimate change of behaviour (a deploy adding an API call):
-- set update_scope (a scope_key), update_from and update_to (unix ms: normal windows after the
-- change, e.g. its first hours) and run the pipeline. Each model of that scope continues training
-- (lstm_ae_update with update_options; new values join its vocabulary) on the windows of
-- [update_from, update_to), five times over (as they are, in three copies at higher loads
-- and older containers' memory, and in a copy with more cold starts: see the copies below), plus an even sample of its own
-- training windows about as many as the span's events, so the old behaviour, which the
-- function still has, is not forgotten (twice as many until session 11, when the drift alerts
-- left were mostly around the new code's cold starts, a dozen in a span, which the updated
-- models aligned as the old code's; with half the sample, make eval's eleven runs went 4 → 2
-- drift alerts, every attack after the update still caught). Windows
-- holding an event listed in not_normal (function_events ids an analyst ruled out, e.g. an
-- attack in that span) are left out, of the copies too. Then the threshold is calibrated again
-- (below, on the post-change windows, never under the old one) and the update_* keys are
-- removed: it runs once.
-- Like training, it also learns from the span's untraced view (built above, without the
-- invocations not_normal rules out): a deploy changes what untraced invocations look like too,
-- and on a quiet function the few real ones of a few hours do not teach it. It learns what the
-- span shows: hours right after a deploy show fresh containers (less memory) and one part of the
-- day's load and few cold starts; the copies below make up for these, and a span over a daily
-- cycle teaches more (make eval: 0 or 1 drift alert a run after a 7-8-hour or a 24-hour update,
-- 2 over eleven runs; 10 before the load copies and the calibration on post-change windows, 8
-- before the memory spread, the not_normal fix of the copies and the smaller old sample).
DROP TABLE IF EXISTS temp.check_update;
-- An update whose span holds none of the scope's events would only replay old windows and
-- leave the thresholds as they were: refused, so a mistyped span is not taken for an update.
CREATE TEMP TABLE check_update(scope_known, update_from, update_to, span_events,
  CONSTRAINT "setting update_scope must name a scope that has models" CHECK (scope_known),
  CONSTRAINT "settings update_from and update_to must be set, update_to after update_from" CHECK (update_to > update_from),
  CONSTRAINT "settings update_from and update_to must span events of update_scope"
    CHECK (span_events OR NOT scope_known OR NOT coalesce(update_to > update_from, 0)));
INSERT INTO temp.check_update
  SELECT EXISTS (SELECT 1 FROM models WHERE scope_key = s.value),
         (SELECT value FROM settings WHERE key = 'update_from'), (SELECT value FROM settings WHERE key = 'update_to'),
         EXISTS (SELECT 1 FROM parts p JOIN detect_events e ON e.part = p.part
                  WHERE p.scope_key = s.value AND e.ord >= (SELECT value FROM settings WHERE key = 'update_from')
                    AND e.ord < (SELECT value FROM settings WHERE key = 'update_to'))
    FROM settings s WHERE s.key = 'update_scope' AND s.value IS NOT NULL;
DROP TABLE IF EXISTS temp.upd;
CREATE TEMP TABLE upd AS
  SELECT m.name, m.detector, m.scope_key, m.train_from, m.train_to, m.threshold AS old_threshold,
         (SELECT value FROM settings WHERE key = 'update_from') AS f, (SELECT value FROM settings WHERE key = 'update_to') AS t,
         1 + coalesce(m.n_windows, 0) / max(1, (SELECT count(*) FROM parts p JOIN detect_events e ON e.part IN (p.part, p.part || '#untraced')
              AND e.ord >= (SELECT value FROM settings WHERE key = 'update_from') AND e.ord < (SELECT value FROM settings WHERE key = 'update_to')
            WHERE p.scope_key = m.scope_key)) AS k
    FROM models m WHERE m.scope_key = (SELECT value FROM settings WHERE key = 'update_scope');
DROP TABLE IF EXISTS temp.upd_parts;
CREATE TEMP TABLE upd_parts AS
  SELECT p.part, p.scope_key FROM parts p WHERE p.scope_key IN (SELECT scope_key FROM temp.upd)
  UNION ALL
  SELECT p.part || '#untraced', p.scope_key FROM parts p
   WHERE p.scope_key IN (SELECT scope_key FROM temp.upd)
     AND EXISTS (SELECT 1 FROM detect_events d WHERE d.part = p.part || '#untraced');
-- The span's load copies. A span shows the new code at the load of its own hours (a deploy's
-- first hours are often not the day's busiest), and rate_1m is a window field: learned as it
-- is, the span teaches that the new calls come at that load, and at a peak the models saw only
-- with the old code they expect the old code (on the 30-day testbed, ordinary invocations of the
-- new code in the evening scored 7 times the medium detector's threshold at rate_1m 2-4, under
-- a tenth of it with the same window at rate 1). So the span is learned four times: as it is,
-- and in three copies at a higher load, the excess of rate_1m over 1 (the invocation itself)
-- times 1 + c (r - 1) / 3 (c = 1, 2, 3), r = (training peak - 1) / (span peak - 1), at least 1:
-- the last copy's peak is the training period's, never more (a flood stays as far out as
-- before), and a quiet minute stays 1 in every copy (scaling the whole rate, 1 became 1.6-1.9
-- and the new code at night's rate 1 was flagged instead: 3-day seed 1, 2 → 3 drift alerts). A
-- load changes how many invocations there are, not what one does. The copies carry memory_mb
-- over the same way: a deploy starts every container afresh, so its first hours show young
-- containers' peak memory, below what older ones reach later (a one-day seed 4 span: 3% of its
-- invocations at 78 MB or more, the training period and the evening after it 20%; changing one
-- field of a flagged evening window at a time, memory at 72 took the large detector from 3.3
-- times its threshold to 0.57, the medium from 2.7 to 0.09). In copy c a value moves c/3 of the
-- way to the training period's value at its rank among the span's (its percent_rank, per
-- function): the last copy has the training period's spread, and every copy's value lies between
-- the span's and the training period's at that rank (no memory that neither showed). Like the
-- untraced view, the copies are detect_events rows with negative ids (the row's id - c * 2^42:
-- each copy keeps the span's order) in parts '<part>#load<c>', for learning only, deleted below.
DROP TABLE IF EXISTS temp.upd_load;
CREATE TEMP TABLE upd_load AS   -- no row without an update; the scope's three models share a span
  SELECT CASE WHEN span_peak > 1 AND train_peak > span_peak THEN (train_peak - 1) / (span_peak - 1) ELSE 1.0 END AS r
    FROM (SELECT (SELECT max(d.rate_1m) FROM parts p JOIN detect_events d ON d.part = p.part
                   WHERE p.scope_key = u.scope_key AND d.ord >= u.train_from AND d.ord < u.train_to
                     AND d.id NOT IN (SELECT id FROM not_normal)) AS train_peak,
                 (SELECT max(d.rate_1m) FROM temp.upd_parts p JOIN detect_events d ON d.part = p.part
                   WHERE d.ord >= u.f AND d.ord < u.t) AS span_peak
            FROM (SELECT * FROM temp.upd LIMIT 1) u);
CREATE TEMP VIEW IF NOT EXISTS upd_load_copies(c, id_shift) AS   -- id_shift: c * 2^42
  SELECT column1, column1 * 4398046511104 FROM (VALUES (1), (2), (3));
DROP TABLE IF EXISTS temp.upd_mem;   -- the training period's memory_mb values, in order (k from 0)
CREATE TEMP TABLE upd_mem(function TEXT, k INTEGER, memory_mb REAL, PRIMARY KEY(function, k)) WITHOUT ROWID;
INSERT INTO temp.upd_mem
  SELECT d.function, row_number() OVER (PARTITION BY d.function ORDER BY d.memory_mb) - 1, d.memory_mb
    FROM (SELECT * FROM temp.upd LIMIT 1) u JOIN parts p ON p.scope_key = u.scope_key JOIN detect_events d ON d.part = p.part
   WHERE d.memory_mb IS NOT NULL AND d.ord >= u.train_from AND d.ord < u.train_to AND d.id NOT IN (SELECT id FROM not_normal);
INSERT INTO detect_events(id, part, scope_key, function, ts, ord, event, event_type, parent, resource, status, caller,
                          duration_ms, call_ms, rel_start_ms, depth, memory_mb, rate_1m, gap_ms)
  SELECT d.id - c.id_shift, d.part || '#load' || c.c, d.scope_key, d.function, d.ts, d.ord, d.event,
         d.event_type, d.parent, d.resource, d.status, d.caller, d.duration_ms, d.call_ms, d.rel_start_ms, d.depth,
         d.memory_mb + c.c / 3.0 * (coalesce((SELECT m.memory_mb FROM temp.upd_mem m WHERE m.function = d.function
             AND m.k = CAST(round(d.pr * (SELECT max(k) FROM temp.upd_mem x WHERE x.function = d.function)) AS INTEGER)), d.memory_mb) - d.memory_mb),
         1 + (d.rate_1m - 1) * (1 + c.c * ((SELECT r FROM temp.upd_load) - 1) / 3), d.gap_ms
    FROM (SELECT d.*, percent_rank() OVER (PARTITION BY d.part, d.memory_mb IS NULL ORDER BY d.memory_mb) AS pr
            FROM (SELECT f, t FROM temp.upd LIMIT 1) u CROSS JOIN temp.upd_parts p JOIN detect_events d ON d.part = p.part
           WHERE d.ord >= u.f AND d.ord < u.t) d
    CROSS JOIN temp.upd_load_copies c;
-- The span's cold-start copy. A deploy's span under the day's load shows few cold starts (a
-- dozen in make eval's 8-hour spans, against 940 of the old code in training), and a quiet
-- evening after it many: a container idle for 15 minutes is gone. Learned from a dozen, the new
-- code's cold starts were read as the old code's (the medium detector expected UpdateItem where
-- a START sat, then REPORT where the new PutItem sat), and most drift alerts left after an update
-- were around them. So the span is learned once more, as it is but with one in four of its warm
-- invocations shown as a cold start: an INIT_START before its START, of an init duration the
-- training period showed (spread over its values), and its REPORT's duration times the training
-- period's ratio of the median cold-start REPORT to the median warm one (a cold container's
-- first calls are slower: 3.9 on make eval's ConfirmBooking). Its rows take ids 2 * id - 2^45
-- (the span's order kept, an INIT_START at 2 * id - 1 of its START's) in parts '<part>#cold'.
-- Measured (make eval, eleven runs): drift alerts after the update 3 -> 2, the drift windows
-- flagged after it 71 -> 39; in tests/py/test_pipeline.py section 10's day, the windows holding
-- a cold start of the new code flagged after the update 19 -> 0.
CREATE TEMP VIEW IF NOT EXISTS upd_cold_copy(id_shift) AS SELECT 35184372088832;   -- 2^45
DROP TABLE IF EXISTS temp.upd_init;   -- the training period's init durations, in order (k from 0)
CREATE TEMP TABLE upd_init(function TEXT, k INTEGER, duration_ms REAL, PRIMARY KEY(function, k)) WITHOUT ROWID;
INSERT INTO temp.upd_init
  SELECT d.function, row_number() OVER (PARTITION BY d.function ORDER BY d.duration_ms) - 1, d.duration_ms
    FROM (SELECT * FROM temp.upd LIMIT 1) u JOIN parts p ON p.scope_key = u.scope_key JOIN detect_events d ON d.part = p.part
   WHERE d.event = 'lambda:INIT_START' AND d.duration_ms IS NOT NULL AND d.ord >= u.train_from AND d.ord < u.train_to
     AND d.id NOT IN (SELECT id FROM not_normal);
DROP TABLE IF EXISTS temp.upd_cold_ratio;   -- no row for a function without cold starts in training
CREATE TEMP TABLE upd_cold_ratio AS
  WITH r AS (SELECT d.function, d.duration_ms,
                    EXISTS (SELECT 1 FROM detect_events i WHERE i.part = d.part AND i.ord = d.ord
                                                            AND i.event = 'lambda:INIT_START') AS cold
               FROM (SELECT * FROM temp.upd LIMIT 1) u JOIN parts p ON p.scope_key = u.scope_key
               JOIN detect_events d ON d.part = p.part
              WHERE d.event = 'lambda:REPORT' AND d.duration_ms > 0 AND d.ord >= u.train_from AND d.ord < u.train_to),
  q AS (SELECT function, cold, duration_ms, row_number() OVER (PARTITION BY function, cold ORDER BY duration_ms) AS rk,
               count(*) OVER (PARTITION BY function, cold) AS n FROM r)
  SELECT function, max(duration_ms) FILTER (WHERE cold) / max(duration_ms) FILTER (WHERE NOT cold) AS ratio
    FROM q WHERE rk = (n + 1) / 2 GROUP BY function HAVING ratio IS NOT NULL;
DROP TABLE IF EXISTS temp.upd_cold_inv;   -- the warm invocations shown cold: every fourth of a part's
CREATE TEMP TABLE upd_cold_inv(part TEXT, ord INTEGER, start_id INTEGER, j INTEGER, PRIMARY KEY(part, ord)) WITHOUT ROWID;
INSERT OR IGNORE INTO temp.upd_cold_inv   -- j: a scrambled rank, which picks the init duration
  SELECT part, ord, id, row_number() OVER (ORDER BY (id * 2654435761) % 4294967296, part) - 1 FROM (
    SELECT d.part, d.ord, d.id, row_number() OVER (PARTITION BY d.part ORDER BY d.ord, d.id) AS rk
      FROM (SELECT f, t FROM temp.upd LIMIT 1) u CROSS JOIN temp.upd_parts p JOIN detect_events d ON d.part = p.part
     WHERE d.event = 'lambda:START' AND d.ord >= u.f AND d.ord < u.t
       AND NOT EXISTS (SELECT 1 FROM detect_events i WHERE i.part = d.part AND i.ord = d.ord
                                                       AND i.event = 'lambda:INIT_START'))
   WHERE rk % 4 = 0;
INSERT INTO detect_events(id, part, scope_key, function, ts, ord, event, event_type, parent, resource, status, caller,
                          duration_ms, call_ms, rel_start_ms, depth, memory_mb, rate_1m, gap_ms)
  SELECT 2 * d.id - c.id_shift, d.part || '#cold', d.scope_key, d.function, d.ts, d.ord, d.event,
         d.event_type, d.parent, d.resource, d.status, d.caller,
         CASE WHEN d.event = 'lambda:REPORT' AND ci.part IS NOT NULL
              THEN d.duration_ms * coalesce((SELECT r.ratio FROM temp.upd_cold_ratio r WHERE r.function = d.function), 1)
              ELSE d.duration_ms END,
         d.call_ms, d.rel_start_ms, d.depth, d.memory_mb, d.rate_1m, d.gap_ms
    FROM (SELECT f, t FROM temp.upd LIMIT 1) u CROSS JOIN temp.upd_cold_copy c
    CROSS JOIN temp.upd_parts p JOIN detect_events d ON d.part = p.part
    LEFT JOIN temp.upd_cold_inv ci ON ci.part = d.part AND ci.ord = d.ord
   WHERE d.ord >= u.f AND d.ord < u.t
  UNION ALL
  SELECT 2 * d.id - 1 - c.id_shift, d.part || '#cold', d.scope_key, d.function, d.ts, d.ord, 'lambda:INIT_START',
         'platform', NULL, NULL, NULL, NULL,
         (SELECT i.duration_ms FROM temp.upd_init i WHERE i.function = d.function
             AND i.k = (ci.j * 7919) % (SELECT count(*) FROM temp.upd_init x WHERE x.function = d.function)),
         NULL, 0, 0, NULL, NULL, 0
    FROM temp.upd_cold_copy c CROSS JOIN temp.upd_cold_inv ci JOIN detect_events d ON d.id = ci.start_id
   WHERE EXISTS (SELECT 1 FROM temp.upd_init i WHERE i.function = d.function);
INSERT INTO temp.upd_parts
  SELECT p.part || '#load' || c.c, p.scope_key FROM temp.upd_parts p CROSS JOIN temp.upd_load_copies c;
INSERT INTO temp.upd_parts
  SELECT p.part || '#cold', p.scope_key FROM temp.upd_parts p WHERE p.part NOT LIKE '%#load_';
-- The windows learned leave out those holding an event not_normal lists, in the copies too: a
-- copy of such an event is listed under its copy's id (without this, an attack the analyst ruled
-- out in the span was learned three times over at the copies' loads; 3-day seed 5 learned the
-- poisoned dependency's host and then expected it in the new code's windows).
DROP TABLE IF EXISTS temp.upd_not_normal;
CREATE TEMP TABLE upd_not_normal(id INTEGER PRIMARY KEY);
INSERT INTO temp.upd_not_normal   -- the span, its load copies and its cold-start copy
  SELECT n.id * c.k - c.id_shift FROM not_normal n
   CROSS JOIN (SELECT 1 AS k, 0 AS id_shift UNION ALL SELECT 1, id_shift FROM temp.upd_load_copies
               UNION ALL SELECT 2, id_shift FROM temp.upd_cold_copy) c
   WHERE EXISTS (SELECT 1 FROM temp.upd);
UPDATE models SET threshold = NULL, model = (
  SELECT lstm_ae_update(models.model, x.window, (SELECT value FROM settings WHERE key = 'update_options')) FROM (
    SELECT w.window, w.part, w.first_order, w.last_order FROM temp.upd u JOIN temp.upd_parts p ON p.scope_key = u.scope_key
      CROSS JOIN win_s w ON w.part = p.part
     WHERE u.name = models.name AND w.first_order >= u.f AND w.last_order < u.t
    UNION ALL
    SELECT w.window, w.part, w.first_order, w.last_order FROM temp.upd u JOIN parts p ON p.scope_key = u.scope_key
      CROSS JOIN win_s w ON w.part = p.part
     WHERE u.name = models.name AND w.first_order >= u.train_from AND w.last_order < u.train_to AND w.first_rowid % u.k = 0) x
   WHERE NOT EXISTS (SELECT 1 FROM temp.upd_not_normal n JOIN detect_events e ON e.id = n.id
                      WHERE e.part = x.part AND e.ord BETWEEN x.first_order AND x.last_order))
 WHERE name IN (SELECT name FROM temp.upd WHERE detector = 's');
UPDATE models SET threshold = NULL, model = (
  SELECT lstm_ae_update(models.model, x.window, (SELECT value FROM settings WHERE key = 'update_options')) FROM (
    SELECT w.window, w.part, w.first_order, w.last_order FROM temp.upd u JOIN temp.upd_parts p ON p.scope_key = u.scope_key
      CROSS JOIN win_m w ON w.part = p.part
     WHERE u.name = models.name AND w.first_order >= u.f AND w.last_order < u.t
    UNION ALL
    SELECT w.window, w.part, w.first_order, w.last_order FROM temp.upd u JOIN parts p ON p.scope_key = u.scope_key
      CROSS JOIN win_m w ON w.part = p.part
     WHERE u.name = models.name AND w.first_order >= u.train_from AND w.last_order < u.train_to AND w.first_rowid % u.k = 0) x
   WHERE NOT EXISTS (SELECT 1 FROM temp.upd_not_normal n JOIN detect_events e ON e.id = n.id
                      WHERE e.part = x.part AND e.ord BETWEEN x.first_order AND x.last_order))
 WHERE name IN (SELECT name FROM temp.upd WHERE detector = 'm');
UPDATE models SET threshold = NULL, model = (
  SELECT lstm_ae_update(models.model, x.window, (SELECT value FROM settings WHERE key = 'update_options')) FROM (
    SELECT w.window, w.part, w.first_order, w.last_order FROM temp.upd u JOIN temp.upd_parts p ON p.scope_key = u.scope_key
      CROSS JOIN win_l w ON w.part = p.part
     WHERE u.name = models.name AND w.first_order >= u.f AND w.last_order < u.t
    UNION ALL
    SELECT w.window, w.part, w.first_order, w.last_order FROM temp.upd u JOIN parts p ON p.scope_key = u.scope_key
      CROSS JOIN win_l w ON w.part = p.part
     WHERE u.name = models.name AND w.first_order >= u.train_from AND w.last_order < u.train_to AND w.first_rowid % u.k = 0) x
   WHERE NOT EXISTS (SELECT 1 FROM temp.upd_not_normal n JOIN detect_events e ON e.id = n.id
                      WHERE e.part = x.part AND e.ord BETWEEN x.first_order AND x.last_order))
 WHERE name IN (SELECT name FROM temp.upd WHERE detector = 'l');
-- The updated models now describe the normal period up to update_to. Their thresholds are
-- calibrated on the post-change windows [update_from, update_to) (not_normal ones left out), and
-- never fall below what they were (see thresholds below).
UPDATE models SET train_to = (SELECT t FROM temp.upd u WHERE u.name = models.name),
                  cal_from = (SELECT f FROM temp.upd u WHERE u.name = models.name),
                  cal_to = (SELECT t FROM temp.upd u WHERE u.name = models.name)
 WHERE name IN (SELECT name FROM temp.upd);
DELETE FROM settings WHERE key IN ('update_scope', 'update_from', 'update_to');
DELETE FROM detect_events WHERE id < 0;

-- ---- thresholds ---------------------------------------------------------------------------
-- A model comes with a threshold: DBSCAN over the errors of its validation windows (10% of at
-- most max_windows). Measured on the testbed (make eval), that edge of the dense cluster sits
-- near the 90th-97th percentile of normal errors: several percent of normal windows would be
-- alarms. So every model without a threshold here (new, or set to NULL by a delta update) is
-- calibrated on normal data it never learned from: its scope's windows of [cal_from, cal_to)
-- (the holdout; an even sample of at most calibration_windows; not_normal windows left out)
-- are scored, and the threshold is the largest of
--   - DBSCAN over those errors (the paper's rule),
--   - their threshold_quantile quantile, the ceil(q*n)-th smallest error (0.999: at most one
--     held-out window in a thousand above it; with fewer than a thousand, the largest),
--   times threshold_margin (default 1.25: a quantile of held-out days is a little below what a
--   new day's ordinary variability reaches; on the 30-day testbed most remaining false alerts
--   sat under 1.15 times it. 1.25 took false alerts a day from 1 and 7 to 0 and 3 on two
--   seeds, every campaign still found; 1.5 took them to 0 and 2 but, in
--   tests/py/test_pipeline.py, hides an attack right after a delta update),
--   - a floor, 0.5 / (fields x window size): half of what one value never seen in training adds
--     to a window's score (its Brier error is at least 1). On a very regular function the
--     calibrated errors are tiny and a rounding-size wobble would cross them; the floor never
--     hides a new value.
-- After a delta update there is no held-out normal data of the new code: the old held-out days
-- are behaviour the change may have ended, which the updated models now reconstruct worse (on
-- the testbed, old cold starts at a busy minute set the small and medium detectors' thresholds
-- at 2.3 and 2.4 times their old ones, and a low-and-slow tampering on the updated function was
-- missed after the update; in tests/py/test_pipeline.py, cold starts on the table the change
-- retired took a threshold from 0.12 to 0.52), while the windows the update learned from score
-- lower than new ones will. So an updated model is calibrated on its post-change windows (cal_from
-- = update_from; none straddles the change) and its threshold is at least its old one, which
-- measured the function's ordinary variability on days it never learned from; higher when the
-- updated model's errors on the new code say so.
-- Normal data only, never the scored period.
DROP TABLE IF EXISTS temp.cal;
CREATE TEMP TABLE cal(name TEXT, score REAL);
INSERT INTO temp.cal
SELECT m.name, d.score
  FROM models m,
       lstm_ae_detect(m.model,
         'SELECT w.first_rowid, w.window FROM parts p CROSS JOIN win_' || m.detector || ' w ON w.part = p.part
           WHERE p.scope_key = ' || quote(m.scope_key) || ' AND w.first_order >= ' || m.cal_from ||
         ' AND w.last_order < ' || m.cal_to ||
         ' AND w.first_rowid % ' ||
         (1 + (SELECT count(*) FROM parts p JOIN detect_events e ON e.part = p.part AND e.ord >= m.cal_from AND e.ord < m.cal_to
                WHERE p.scope_key = m.scope_key) / (SELECT value FROM settings WHERE key = 'calibration_windows')) || ' = 0
             AND NOT EXISTS (SELECT 1 FROM detect_events e JOIN not_normal n ON n.id = e.id
                              WHERE e.part = w.part AND e.ord BETWEEN w.first_order AND w.last_order)') d
 WHERE m.threshold IS NULL;
DROP TABLE IF EXISTS temp.calibrated;
CREATE TEMP TABLE calibrated AS
  SELECT m.name, max(coalesce(max(coalesce(d.t, q.t), coalesce(q.t, d.t)), lstm_ae_threshold(m.model), 0)
                       * (SELECT value FROM settings WHERE key = 'threshold_margin'),
                     0.5 / (json_array_length(m.fields) * m.window_size),
                     coalesce((SELECT u.old_threshold FROM temp.upd u WHERE u.name = m.name), 0)) AS threshold
    FROM models m
    LEFT JOIN (SELECT name, dbscan_threshold(score) AS t FROM temp.cal GROUP BY name) d ON d.name = m.name
    LEFT JOIN (SELECT name, score AS t
                 FROM (SELECT name, score, row_number() OVER (PARTITION BY name ORDER BY score) AS rk,
                              count(*) OVER (PARTITION BY name) AS n FROM temp.cal)
                WHERE rk = max(1, min(n, CAST(ceil(n * (SELECT value FROM settings WHERE key = 'threshold_quantile')) AS INTEGER)))) q
      ON q.name = m.name
   WHERE m.threshold IS NULL;
UPDATE models SET threshold = (SELECT threshold FROM temp.calibrated c WHERE c.name = models.name),
                  model = lstm_ae_set_threshold(model, (SELECT threshold FROM temp.calibrated c WHERE c.name = models.name))
 WHERE name IN (SELECT name FROM temp.calibrated);

-- ---- scoring ------------------------------------------------------------------------------
-- Online mode scores windows ending after the scope's watermark (and reads each partition only
-- from the window before it); offline mode everything ending at or after score_from. Spans are
-- of ord (see "window order"): a window ends at the start of its last event's invocation.
CREATE TABLE IF NOT EXISTS watermarks(scope_key TEXT PRIMARY KEY, ts INTEGER NOT NULL);  -- ord
CREATE TABLE IF NOT EXISTS window_scores(
  detector TEXT NOT NULL,       -- models.name
  part TEXT NOT NULL,
  first_id INTEGER, last_id INTEGER,      -- its first and last event (detect_events.id)
  first_ord INTEGER, last_ord INTEGER,    -- their ord: the start (unix ms) of their invocations
  n_steps INTEGER, score REAL, threshold REAL, is_anomaly INTEGER,
  hot_steps TEXT,               -- anomalous windows: JSON array of the steps (0-based) that made
                                -- them anomalous (lstm_ae_detect), the events to blame
  novel_steps TEXT,             -- anomalous windows: the steps holding a value never seen in
                                -- training (vote_novel)
  PRIMARY KEY (detector, part, first_ord, last_ord, first_id));
CREATE INDEX IF NOT EXISTS window_scores_part ON window_scores(part, first_ord);
CREATE INDEX IF NOT EXISTS window_scores_part_last ON window_scores(part, last_ord);

-- after: score windows whose last event is later (in ord); read_from: where each partition is
-- read from (the ord of the 20th event before that point), so fn_windows builds only the windows
-- that are scored plus a few, not a partition's whole history (first_order >= ? is pushed down).
-- upto: online, an invocation still running (a START, no REPORT yet, started in the last 15
-- minutes, Lambda's longest run, of the newest event) would get events after the windows ending
-- in it were scored, and they would never be: windows are scored once every invocation in them
-- has ended (upto = the start of the first one still running). Offline scores everything.
DROP TABLE IF EXISTS temp.running;
CREATE TEMP TABLE running(function TEXT PRIMARY KEY, start_ord INTEGER);
INSERT INTO temp.running
  SELECT fe.function, min(CAST(fe.ts - coalesce(fe.rel_start_ms, 0) AS INTEGER)) FROM function_events fe
   WHERE (SELECT value FROM settings WHERE key = 'mode') = 'online' AND fe.event = 'lambda:START'
     AND fe.ts > (SELECT max(ts) FROM function_events) - 900000
     AND NOT EXISTS (SELECT 1 FROM function_events r WHERE r.flow = fe.flow AND r.function = fe.function
                                                       AND r.event = 'lambda:REPORT')
   GROUP BY fe.function;
DROP TABLE IF EXISTS temp.score_from;
CREATE TEMP TABLE score_from AS
  SELECT part, scope_key, after, upto,
         coalesce((SELECT e.ord FROM detect_events e WHERE e.part = a.part AND e.ord <= a.after
                    ORDER BY e.ord DESC LIMIT 1 OFFSET 19), -1) AS read_from
    FROM (SELECT p.part, p.scope_key,
                 CASE (SELECT value FROM settings WHERE key = 'mode')
                   WHEN 'online' THEN coalesce((SELECT ts FROM watermarks w WHERE w.scope_key = p.scope_key),
                                               (SELECT value FROM settings WHERE key = 'score_from') - 1)
                   ELSE (SELECT value FROM settings WHERE key = 'score_from') - 1 END AS after,
                 coalesce((SELECT r.start_ord FROM temp.running r
                            WHERE r.function = (SELECT d.function FROM detect_events d WHERE d.part = p.part LIMIT 1)),
                          9223372036854775807) AS upto
            FROM parts p) a;
-- Offline scoring replaces earlier scores of the same span.
DELETE FROM window_scores WHERE (SELECT value FROM settings WHERE key = 'mode') = 'offline'
   AND last_ord > (SELECT value FROM settings WHERE key = 'score_from') - 1;

-- For each model, lstm_ae_detect scores its windows in batches of 256. The id carries the
-- window's identity through as JSON.
INSERT OR REPLACE INTO window_scores(detector, part, first_id, last_id, first_ord, last_ord, n_steps, score,
                                     threshold, is_anomaly, hot_steps, novel_steps)
SELECT m.name, json_extract(d.id, '$[0]'), json_extract(d.id, '$[1]'), json_extract(d.id, '$[2]'),
       json_extract(d.id, '$[3]'), json_extract(d.id, '$[4]'), d.n_steps, d.score, d.threshold, d.is_anomaly,
       d.hot_steps, d.novel_steps
  FROM models m,
       lstm_ae_detect(m.model,
         'SELECT json_array(w.part, w.first_rowid, w.last_rowid, w.first_order, w.last_order), w.window
            FROM temp.score_from s CROSS JOIN win_' || m.detector || ' w ON w.part = s.part AND w.first_order >= s.read_from
           WHERE s.scope_key = ' || quote(m.scope_key) || ' AND w.last_order > s.after AND w.last_order < s.upto') d;

INSERT OR REPLACE INTO watermarks
  SELECT scope_key, max(last_ord) FROM window_scores ws JOIN models m ON m.name = ws.detector GROUP BY scope_key;

-- ---- alerts -------------------------------------------------------------------------------
-- An event is flagged by a detector when one of that detector's anomalous windows covers it.
-- Runs of flagged events of the same partition (no unflagged event between them, in the window
-- order) are one incident. An incident is an alert when the detectors agree on one of its
-- events: at least `vote` of them flag it, or at least `vote_novel` when it holds a value never
-- seen in training (novel: a step in novel_steps of a window flagging it; hit below). The
-- incident, not the agreeing events alone, makes the alert: with vote 2, the events only one
-- detector flags would otherwise cut one incident into several alerts. The alert spans the
-- incident's hot events only — the steps that made its anomalous windows anomalous (lstm_ae_detect's hot_steps: the fewest steps whose error covers the
-- window's excess over the threshold, and any step with a value never seen in training; a
-- window scored without them counts all its steps): a 20-step window around one bad call would
-- otherwise make an alert of 20 or more events, most of them normal traffic. The step-th event of a window is the
-- step-th row of its partition from (first_ord, first_id) on, in fn_windows's order (ord, id).
DROP TABLE IF EXISTS temp.flags;
CREATE TEMP TABLE flags AS
  SELECT *, votes >= (SELECT value FROM settings WHERE key = 'vote')
            OR (novel AND votes >= (SELECT value FROM settings WHERE key = 'vote_novel')) AS hit
  FROM (
  SELECT id, part, count(DISTINCT detector) AS votes,
         max(hot_steps IS NULL OR step IN (SELECT value FROM json_each(hot_steps))) AS hot,
         max(step IN (SELECT value FROM json_each(novel_steps))) AS novel
    FROM (SELECT x.id, x.part, m.detector, ws.hot_steps, ws.novel_steps,
                 row_number() OVER (PARTITION BY ws.rowid ORDER BY x.ord, x.id) - 1 AS step
            FROM window_scores ws
            JOIN models m ON m.name = ws.detector
            CROSS JOIN detect_events x ON x.part = ws.part AND x.ord BETWEEN ws.first_ord AND ws.last_ord
           WHERE ws.is_anomaly
             AND (x.ord > ws.first_ord OR x.id >= ws.first_id) AND (x.ord < ws.last_ord OR x.id <= ws.last_id))
   GROUP BY id);

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
-- Alerts after the scored point are made again. One that straddles it (its first event before
-- the point, its last after) is made again whole, from its first event: each partition's
-- islands are read from there (alert_from), else a scoring from a point inside an alert (a delta
-- update's score_from, say) replaced the alert with its tail alone.
DROP TABLE IF EXISTS temp.alert_from;
CREATE TEMP TABLE alert_from(part TEXT PRIMARY KEY, ord INTEGER);
INSERT INTO temp.alert_from
  SELECT part, min(first_ord) FROM alerts
   WHERE last_ord > (SELECT min(after) FROM temp.score_from) AND first_ord <= (SELECT min(after) FROM temp.score_from)
   GROUP BY part;
DELETE FROM alerts WHERE last_ord > (SELECT min(after) FROM temp.score_from);

-- The flagged events after the scored point (from alert_from's), numbered (rn) in the window
-- order of their partition, with their island: flagged events with no unflagged event of the
-- partition between; cont: the island began before that point (an incident an earlier run saw
-- part of).
DROP TABLE IF EXISTS temp.islands;
CREATE TEMP TABLE islands AS
  SELECT * FROM (
    SELECT y.*, min(y.ord) OVER (PARTITION BY y.part, y.island) < y.bound AS cont
      FROM (SELECT e.id, e.part, e.ord, coalesce(f.votes, 0) AS votes, f.hot,
                   row_number() OVER (PARTITION BY e.part ORDER BY e.ord, e.id) AS rn,
                   row_number() OVER (PARTITION BY e.part ORDER BY e.ord, e.id)
                 - row_number() OVER (PARTITION BY e.part, f.id IS NOT NULL ORDER BY e.ord, e.id) AS island,
                   f.hit,
                   coalesce((SELECT a.ord FROM temp.alert_from a WHERE a.part = e.part),
                            (SELECT min(after) FROM temp.score_from) + 1) AS bound
              FROM detect_events e LEFT JOIN temp.flags f ON f.id = e.id
             WHERE e.part IN (SELECT part FROM temp.flags)) y
     WHERE y.votes > 0)
   WHERE ord >= bound;
CREATE INDEX temp.islands_rn ON islands(part, rn);
INSERT INTO alerts(scope_key, function, part, first_ord, last_ord, first_event_id, last_event_id, votes, verdict)
SELECT g.scope_key, g.function, g.part, a.ord, b.ord, a.id, b.id, g.votes, 'anomalous'
  FROM (SELECT p.scope_key, min(fe.function) AS function, i.part,
               -- the hot events' span (all the incident's when none of its events after the
               -- point is hot)
               coalesce(min(i.rn) FILTER (WHERE i.hot), min(i.rn)) AS r0,
               coalesce(max(i.rn) FILTER (WHERE i.hot), max(i.rn)) AS r1, max(i.votes) AS votes
          FROM temp.islands i
          JOIN parts p ON p.part = i.part
          JOIN function_events fe ON fe.id = i.id
         GROUP BY i.part, i.island
        -- the part after the point of an incident whose hot events all came before it (an
        -- earlier run alerted them) is no incident of its own: its windows flag it only for them
        HAVING max(i.hit) AND (max(i.hot) OR NOT max(i.cont))) g
  JOIN temp.islands a ON a.part = g.part AND a.rn = g.r0
  JOIN temp.islands b ON b.part = g.part AND b.rn = g.r1
 ORDER BY g.part, g.r0;
-- One pass over each new alert's events: how many, their invocations, when they happened.
UPDATE alerts SET (n_events, flows, first_ts, last_ts) = (
    SELECT count(*), json_group_array(DISTINCT f2.flow) FILTER (WHERE f2.flow IS NOT NULL), min(d2.ts), max(d2.ts)
      FROM detect_events d2 JOIN function_events f2 ON f2.id = d2.id
     WHERE d2.part = alerts.part AND d2.ord BETWEEN alerts.first_ord AND alerts.last_ord
       AND (d2.ord, d2.id) >= (alerts.first_ord, alerts.first_event_id)
       AND (d2.ord, d2.id) <= (alerts.last_ord, alerts.last_event_id))
 WHERE explanation IS NULL;
UPDATE alerts SET first_time = strftime('%Y-%m-%dT%H:%M:%fZ', first_ts / 1000.0, 'unixepoch'),
                  last_time = strftime('%Y-%m-%dT%H:%M:%fZ', last_ts / 1000.0, 'unixepoch')
 WHERE explanation IS NULL;

-- The scored windows overlapping each new alert, read once for the per-detector scores and for
-- the explanation. A window overlapping an alert starts at most the partition's longest window
-- span before it, which bounds the index range below (without it, every alert scans all
-- earlier windows of its partition: quadratic when a long history is scored).
DROP TABLE IF EXISTS temp.win_span;
CREATE TEMP TABLE win_span(part TEXT PRIMARY KEY, span INTEGER);
INSERT INTO temp.win_span SELECT part, max(last_ord - first_ord) FROM window_scores
 WHERE part IN (SELECT part FROM alerts WHERE explanation IS NULL) GROUP BY part;
DROP TABLE IF EXISTS temp.alert_windows;
CREATE TEMP TABLE alert_windows AS
  SELECT a.id AS alert_id, m.detector, ws.detector AS name, ws.part, ws.first_ord, ws.first_id,
         ws.score, ws.threshold, ws.is_anomaly
    FROM alerts a
    JOIN window_scores ws ON ws.part = a.part AND ws.last_ord >= a.first_ord AND ws.first_ord <= a.last_ord
                         AND ws.first_ord >= a.first_ord - (SELECT span FROM temp.win_span w WHERE w.part = a.part)
                         AND (ws.last_ord, ws.last_id) >= (a.first_ord, a.first_event_id)
                         AND (ws.first_ord, ws.first_id) <= (a.last_ord, a.last_event_id)
    JOIN models m ON m.name = ws.detector AND m.scope_key = a.scope_key
   WHERE a.explanation IS NULL;
CREATE INDEX temp.alert_windows_alert ON alert_windows(alert_id, detector);
-- Per detector: the strongest window overlapping the alert, its threshold and whether it voted.
UPDATE alerts SET
  score_s = (SELECT max(score) FROM temp.alert_windows w WHERE w.alert_id = alerts.id AND w.detector = 's'),
  score_m = (SELECT max(score) FROM temp.alert_windows w WHERE w.alert_id = alerts.id AND w.detector = 'm'),
  score_l = (SELECT max(score) FROM temp.alert_windows w WHERE w.alert_id = alerts.id AND w.detector = 'l'),
  threshold_s = (SELECT threshold FROM models WHERE name = alerts.scope_key || '/s'),
  threshold_m = (SELECT threshold FROM models WHERE name = alerts.scope_key || '/m'),
  threshold_l = (SELECT threshold FROM models WHERE name = alerts.scope_key || '/l')
 WHERE explanation IS NULL;
UPDATE alerts SET vote_s = score_s > threshold_s, vote_m = score_m > threshold_m, vote_l = score_l > threshold_l
 WHERE explanation IS NULL;

-- Explanation: the window (of any detector) with the highest score relative to its threshold,
-- rebuilt from fn_windows with part = ? and first_order >= ? pushed down; LIMIT 1 stops reading
-- at that window (without it the scan would go on to the partition's end for every alert).
DROP TABLE IF EXISTS temp.best;
CREATE TEMP TABLE best AS
  SELECT alert_id, name AS detector, part, first_ord, first_id FROM (
    SELECT alert_id, name, part, first_ord, first_id,
           row_number() OVER (PARTITION BY alert_id ORDER BY score / threshold DESC, first_ord, first_id, name) AS rk
      FROM temp.alert_windows WHERE is_anomaly)
   WHERE rk = 1;
UPDATE alerts SET explain_json = (
  SELECT lstm_ae_explain(m.model,
           CASE m.detector
             WHEN 's' THEN (SELECT w.window FROM win_s w WHERE w.part = b.part AND w.first_order >= b.first_ord AND w.first_rowid = b.first_id LIMIT 1)
             WHEN 'm' THEN (SELECT w.window FROM win_m w WHERE w.part = b.part AND w.first_order >= b.first_ord AND w.first_rowid = b.first_id LIMIT 1)
             WHEN 'l' THEN (SELECT w.window FROM win_l w WHERE w.part = b.part AND w.first_order >= b.first_ord AND w.first_rowid = b.first_id LIMIT 1)
           END, 10)
    FROM temp.best b JOIN models m ON m.name = b.detector
   WHERE b.alert_id = alerts.id)
 WHERE explanation IS NULL;
-- The explanation is the top reason, except that a value never seen in training, when one is among
-- the ten largest errors, is named first: a confidently wrong guess at a known value can weigh
-- more in the score (Brier up to 2) than a value the model cannot know (1 + the spread of its
-- guess), but the new value is what an analyst needs to see.
UPDATE alerts SET explanation = coalesce(
    (SELECT t.value ->> '$.reason' FROM json_each(explain_json, '$.top') t
      WHERE t.value ->> '$.reason' LIKE '%never seen in training%' ORDER BY t.key LIMIT 1),
    json_extract(explain_json, '$.top[0].reason'), '(no explanation)')
 WHERE explanation IS NULL;

-- ---- views --------------------------------------------------------------------------------
-- (Made again on every run: a view of an older pipeline.sql would read the alerts wrong.)
DROP VIEW IF EXISTS alert_events;
CREATE VIEW alert_events AS
  SELECT a.id AS alert_id, fe.* FROM alerts a
    JOIN detect_events d ON d.part = a.part AND d.ord BETWEEN a.first_ord AND a.last_ord
                        AND (d.ord, d.id) >= (a.first_ord, a.first_event_id)
                        AND (d.ord, d.id) <= (a.last_ord, a.last_event_id)
    JOIN function_events fe ON fe.id = d.id;
-- One row per invocation: when it ran and whether an alert covers one of its events.
DROP VIEW IF EXISTS flow_verdicts;
CREATE VIEW flow_verdicts AS
  SELECT fe.function, fe.flow, min(fe.ts) AS first_ts, max(fe.ts) AS last_ts,
         max(EXISTS (SELECT 1 FROM alerts a WHERE a.part = d.part AND d.ord BETWEEN a.first_ord AND a.last_ord
                                              AND (d.ord, d.id) >= (a.first_ord, a.first_event_id)
                                              AND (d.ord, d.id) <= (a.last_ord, a.last_event_id))) AS anomalous
    FROM function_events fe JOIN detect_events d ON d.id = fe.id
   WHERE fe.flow IS NOT NULL
   GROUP BY fe.function, fe.flow;

COMMIT;
SELECT printf('pipeline: %d models, %d windows scored, %d alerts', (SELECT count(*) FROM models),
              (SELECT count(*) FROM window_scores), (SELECT count(*) FROM alerts));
