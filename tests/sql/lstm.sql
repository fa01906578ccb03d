-- lstm_ae_*: training, scoring, explanations, updates, batch detection, and their errors.
CREATE TABLE ev(session, seq, key, ms);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2399)
INSERT INTO ev SELECT 's' || (i / 12), i % 12,
  CASE i % 4 WHEN 0 THEN 'open' WHEN 1 THEN 'read' WHEN 2 THEN 'read' ELSE 'close' END,
  (i % 4) * 10.0 + (i % 3) FROM n;
CREATE VIRTUAL TABLE w USING fn_windows(source=ev, partition=session, order=seq, fields='key,ms', size=6);
CREATE TABLE models(name TEXT PRIMARY KEY, model BLOB);
INSERT INTO models SELECT 'm', lstm_ae_train(window, '{"hidden":16,"epochs":12,"seed":1,"lr":0.01}') FROM w;
-- info describes the model
SELECT 'info', json_extract(i, '$.window') = 6, json_extract(i, '$.fields') = '["key","ms"]',
  json_extract(i, '$.input_dim') = 5, json_extract(i, '$.hidden') = 16, json_extract(i, '$.layers') = 1,
  json_extract(i, '$.vocab.key') = 3, json_extract(i, '$.n_windows') = 1400,
  json_extract(i, '$.n_val') = 140, json_array_length(i, '$.train_loss') = json_extract(i, '$.epochs_run'),
  json_extract(i, '$.seed') = '1', json_extract(i, '$.options.lr') = 0.01,
  json_extract(i, '$.threshold') > 0
  FROM (SELECT lstm_ae_info(model) AS i FROM models);
SELECT 'learns', json_extract(i, '$.train_loss[#-1]') < json_extract(i, '$.train_loss[0]') / 4 FROM (SELECT lstm_ae_info(model) AS i FROM models);
-- determinism: the same windows, options and seed give the same bytes
SELECT 'deterministic', (SELECT lstm_ae_train(window, '{"hidden":16,"epochs":12,"seed":1,"lr":0.01}') FROM w) = model FROM models;
SELECT 'seed-matters', (SELECT lstm_ae_train(window, '{"hidden":16,"epochs":2,"seed":2}') FROM w) != model FROM models;
-- normal windows score below the threshold, anomalies far above
SELECT 'normal', max(lstm_ae_score(m.model, w.window)) <= lstm_ae_threshold(m.model) FROM w, models m;
SELECT 'new-call', lstm_ae_score(model, '{"fields":["key","ms"],"steps":[["open",0],["read",11],["secretsmanager:GetSecretValue",22],["close",30]]}') > 5 * lstm_ae_threshold(model) FROM models;
SELECT 'slow', lstm_ae_score(model, '{"fields":["key","ms"],"steps":[["open",0],["read",11],["read",5000],["close",30]]}') > 5 * lstm_ae_threshold(model) FROM models;
SELECT 'short-window', lstm_ae_score(model, '{"fields":["key","ms"],"steps":[["open",0]]}') >= 0 FROM models;
SELECT 'null-value', lstm_ae_score(model, '{"fields":["key","ms"],"steps":[["open",null],[null,1]]}') >= 0 FROM models;
-- the batch path gives the scores of the row path
SELECT 'detect=score', count(*) = 1400, max(abs(d.score - lstm_ae_score(m.model, w.window))) < 1e-5
  FROM models m, lstm_ae_detect(m.model, 'SELECT rowid, window FROM w') d JOIN w ON w.rowid = d.id;
SELECT 'detect-threshold', sum(is_anomaly) = 0, min(threshold) = max(threshold) FROM models m, lstm_ae_detect(m.model, 'SELECT rowid, window FROM w');
SELECT 'detect-threads', count(*) = 1400 FROM models m, lstm_ae_detect(m.model, 'SELECT rowid, window FROM w', NULL, 2);
SELECT 'detect-override', sum(is_anomaly) = count(*) FROM models m, lstm_ae_detect(m.model, 'SELECT rowid, window FROM w', 0);
-- novel_steps: the steps with a value never seen in training, on anomalous windows only ([] when
-- none, NULL on normal ones)
SELECT 'detect-novel', novel_steps, hot_steps
  FROM models m, lstm_ae_detect(m.model, 'VALUES (1, ''{"fields":["key","ms"],"steps":[["open",0],["iam:CreateUser",11],["read",11],["lambda:AddPermission",22],["close",30]]}'')');
SELECT 'detect-novel-none', count(*) = 1400, sum(novel_steps = '[]') = 1400, sum(novel_steps IS NULL) = 0
  FROM models m, lstm_ae_detect(m.model, 'SELECT rowid, window FROM w', 0);
SELECT 'detect-novel-normal', sum(novel_steps IS NULL) = count(*) FROM models m, lstm_ae_detect(m.model, 'SELECT rowid, window FROM w');
-- explanations name the step and value at fault
SELECT 'explain', json_extract(e, '$.top[0].step') = 3, json_extract(e, '$.top[0].field'),
  json_extract(e, '$.top[0].reason'), json_extract(e, '$.is_anomaly'), json_array_length(e, '$.steps')
  FROM (SELECT lstm_ae_explain(model, '{"fields":["key","ms"],"steps":[["open",0],["read",11],["secretsmanager:GetSecretValue",22],["close",30]]}') AS e FROM models);
SELECT 'explain-shares', abs((SELECT sum(json_extract(value, '$.share')) FROM json_each(e, '$.top')) - 1) < 1e-3
  FROM (SELECT lstm_ae_explain(model, '{"fields":["key","ms"],"steps":[["open",0],["read",11]]}', 100) AS e FROM models);
-- a reconstruction that is right but unsure (a model too small for its data: hidden 1) says so,
-- and "unusual here (expected X)" never names the value itself
CREATE TABLE ev_u(session, seq, key);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2999)
INSERT INTO ev_u SELECT 's' || (i / 10), i % 10, 'k' || ((i * 7919 + i / 10 * 104729) % 6) FROM n;
CREATE VIRTUAL TABLE w_u USING fn_windows(source=ev_u, partition=session, order=seq, fields='key', size=6);
CREATE TABLE tops_u AS
  SELECT t.value AS top, x.e FROM (SELECT lstm_ae_explain(m.model, w_u.window, 6) AS e
                                     FROM w_u, (SELECT lstm_ae_train(window, '{"hidden":1,"epochs":3,"seed":1}') AS model FROM w_u) m
                                    LIMIT 300) x, json_each(x.e, '$.top') t;
SELECT 'explain-unsure', sum(r LIKE '%was expected here, but the model was unsure of it') > 0,
       sum(r LIKE '%is unusual here (expected%') > 0,
       sum(CASE WHEN r LIKE '%was expected here%' THEN p IS NOT v END) = 0,
       sum(CASE WHEN r LIKE '%unusual here%' THEN p IS v END) = 0
  FROM (SELECT json_extract(top, '$.reason') AS r, json_extract(top, '$.value') AS v,
               json_extract(e, '$.steps[' || (json_extract(top, '$.step') - 1) || '].fields.key.predicted') AS p FROM tops_u);
-- thresholds can be set and cleared
SELECT 'set-threshold', lstm_ae_threshold(lstm_ae_set_threshold(model, 0.5)) = 0.5,
  lstm_ae_threshold(lstm_ae_set_threshold(model, NULL)) IS NULL FROM models;
-- delta update: a new call becomes normal, the vocabulary grows, other anomalies stay
CREATE TABLE ev2(session, seq, key, ms);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 599)
INSERT INTO ev2 SELECT 's' || (i / 15), i % 15,
  CASE i % 5 WHEN 0 THEN 'open' WHEN 1 THEN 'read' WHEN 2 THEN 'read' WHEN 3 THEN 'dynamodb:PutItem' ELSE 'close' END,
  (i % 5) * 10.0 + (i % 3) FROM n;
CREATE VIRTUAL TABLE w2 USING fn_windows(source=ev2, partition=session, order=seq, fields='key,ms', size=6);
INSERT INTO models SELECT 'm2', lstm_ae_update((SELECT model FROM models WHERE name = 'm'), window, '{"epochs":15,"lr":0.01}') FROM w2;
SELECT 'update-info', json_extract(i, '$.vocab.key') = 4, json_extract(i, '$.updates') = 1,
  json_extract(i, '$.n_windows') = 1400 + (SELECT count(*) FROM w2) FROM (SELECT lstm_ae_info(model) AS i FROM models WHERE name = 'm2');
SELECT 'before-update', avg(lstm_ae_score(m.model, w2.window) > lstm_ae_threshold(m.model)) > 0.9 FROM w2, models m WHERE m.name = 'm';
SELECT 'after-update', avg(lstm_ae_score(m.model, w2.window) > lstm_ae_threshold(m.model)) < 0.05 FROM w2, models m WHERE m.name = 'm2';
SELECT 'attack-still', lstm_ae_score(model, '{"fields":["key","ms"],"steps":[["open",0],["read",11],["iam:CreateUser",22],["close",30]]}') > lstm_ae_threshold(model) FROM models WHERE name = 'm2';
-- errors
SELECT lstm_ae_train(window, '{"epochs":1,"colour":3}') FROM w;
SELECT lstm_ae_train(window, '{"hidden":0}') FROM w;
SELECT lstm_ae_train(window, 'nope') FROM w;
SELECT lstm_ae_train(window) FROM w WHERE 0;
SELECT lstm_ae_train(x) FROM (SELECT NULL AS x);
SELECT lstm_ae_train(x) FROM (SELECT '{"fields":["a"],"steps":[[1]]}' AS x UNION ALL SELECT '{"fields":["b"],"steps":[[1]]}');
SELECT lstm_ae_train(x) FROM (SELECT '{"fields":["a"],"steps":[[1]]}' AS x UNION ALL SELECT '{"fields":["a"],"steps":[["s"]]}');
SELECT lstm_ae_train(x) FROM (SELECT '{"fields":["a"],"steps":[[1e400]]}' AS x);
SELECT lstm_ae_train(x, '{"window":2}') FROM (SELECT '{"fields":["a"],"steps":[[1],[2],[3]]}' AS x);
SELECT lstm_ae_score(model, NULL) FROM models WHERE name = 'm';
SELECT lstm_ae_score(model, '{"fields":["key"],"steps":[["open"]]}') FROM models WHERE name = 'm';
SELECT lstm_ae_score(model, '{"fields":["key","ms"],"steps":[["open",1],["open",1],["open",1],["open",1],["open",1],["open",1],["open",1]]}') FROM models WHERE name = 'm';
SELECT lstm_ae_score(model, '{"fields":["key","ms"],"steps":[["open"]]}') FROM models WHERE name = 'm';
SELECT lstm_ae_score((SELECT model FROM models WHERE name = 'nope'), '{}');
SELECT lstm_ae_score('text', '{}');
SELECT lstm_ae_score(x'00112233', '{}');
SELECT 'truncated', lstm_ae_score(x'464E474D4F444C000100000000000000E80300000000000000000000', '{}');
SELECT lstm_ae_info(model || x'00') FROM models WHERE name = 'm';
SELECT lstm_ae_update(model, window, '{"hidden":8}') FROM models, w WHERE name = 'm';
SELECT lstm_ae_set_threshold(model, 'x') FROM models WHERE name = 'm';
SELECT * FROM lstm_ae_detect((SELECT model FROM models WHERE name = 'm'), 'SELECT 7, ''{"fields":["k"],"steps":[["a"]]}''');
SELECT * FROM lstm_ae_detect((SELECT model FROM models WHERE name = 'm'), 'DELETE FROM ev');
SELECT * FROM lstm_ae_detect((SELECT model FROM models WHERE name = 'm'), 'SELECT 1');
SELECT * FROM lstm_ae_detect((SELECT model FROM models WHERE name = 'm'));
SELECT * FROM lstm_ae_detect((SELECT model FROM models WHERE name = 'm'), 'SELECT rowid, window FROM w', NULL, 0);
-- lstm_ae_detect runs SQL text: it cannot be used from a view or trigger
CREATE VIEW bad AS SELECT * FROM lstm_ae_detect((SELECT model FROM models WHERE name = 'm'), 'SELECT rowid, window FROM w');
SELECT count(*) FROM bad;
