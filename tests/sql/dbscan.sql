-- dbscan_threshold, dbscan_info and dbscan(): happy paths with hand-computed results, NULLs,
-- and every error message. Each line prints a test name and its result.

-- Registration: two aggregates with 1 to 3 arguments, and the eponymous table.
SELECT 'functions', group_concat(name || '/' || narg || '/' || type, ' ') FROM
  (SELECT name, narg, type FROM pragma_function_list WHERE name LIKE 'dbscan%' ORDER BY name, narg);
SELECT 'module', count(*) FROM pragma_module_list WHERE name = 'dbscan';

-- Errors of two functions: fn 'a' = 1.0 .. 1.4 step 0.1, and a 9. With eps 0.15 and min_pts 3
-- the counts are 2 3 3 3 2 1: cores 1.1 1.2 1.3, borders 1.0 and 1.4, noise 9 → threshold 1.4.
-- fn 'b' = 10 11 12 13 and 40: eps 1 → 10..13 (counts 2 3 3 2), threshold 13.
CREATE TABLE errs(fn TEXT, err REAL);
INSERT INTO errs VALUES ('a', 1.0), ('a', 1.1), ('a', 1.2), ('a', 9), ('a', 1.3), ('a', 1.4),
  ('b', 10), ('b', 11), ('b', 12), ('b', 13), ('b', 40);
SELECT 'threshold a', dbscan_threshold(err, 0.15, 3) FROM errs WHERE fn = 'a';
SELECT 'threshold by fn', fn, dbscan_threshold(err, 1, 3) FROM errs WHERE fn = 'b' GROUP BY fn;
SELECT 'info a', dbscan_info(err, 0.15, 3) FROM errs WHERE fn = 'a';
-- min_pts 4: every count is <= 3, all noise: the threshold falls back to the maximum.
SELECT 'fallback', dbscan_threshold(err, 0.15, 4), dbscan_info(err, 0.15, 4) ->> '$.fallback'
  FROM errs WHERE fn = 'a';
-- Anomalies are the rows above their function's threshold.
SELECT 'anomalies', group_concat(fn || ':' || err, ' ') FROM errs JOIN
  (SELECT fn, dbscan_threshold(err, 1, 3) AS thr FROM errs GROUP BY fn) USING (fn)
  WHERE err > thr;

-- Automatic eps and min_pts: 1..100 and 1000. n = 101 → min_pts round(ln 101) = 5; quartiles
-- 26 and 76 → eps = 2 * 50 / 101^(1/3) = 21.47...; 1..100 is one cluster, 1000 is noise.
CREATE TABLE seq AS WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 100)
  SELECT x FROM s UNION ALL SELECT 1000;
SELECT 'auto', dbscan_threshold(x) FROM seq;
SELECT 'auto info', json_extract(i, '$.n', '$.min_pts', '$.threshold', '$.noise', '$.fallback'),
  printf('%.6f', i ->> '$.eps'), json_array_length(i, '$.clusters') FROM (SELECT dbscan_info(x) AS i FROM seq);
SELECT 'auto eps rule', printf('%.6f', 100 / pow(101, 1.0 / 3));
SELECT 'NULL eps and min_pts are automatic', dbscan_threshold(x, NULL, NULL) FROM seq;
SELECT 'NULL eps, given min_pts', dbscan_info(x, NULL, 101) ->> '$.fallback' FROM seq;

-- A small cluster far above the bulk is an outlier cluster: 1..400 and 1000, 1000.5, 1001 with
-- eps 1, min_pts 3 → two clusters, but 3 * 100 < 403, so the threshold stays at 400.
SELECT 'outlier cluster', dbscan_info(x, 1, 3) FROM
  (WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 400)
   SELECT x FROM s UNION ALL VALUES (1000), (1000.5), (1001));

-- NULL values are skipped; no rows or only NULLs give NULL; numeric text counts as a number.
SELECT 'nulls skipped', dbscan_threshold(v, 0.15, 3) FROM
  (SELECT err AS v FROM errs WHERE fn = 'a' UNION ALL SELECT NULL UNION ALL SELECT NULL);
SELECT 'no rows', quote(dbscan_threshold(err)), quote(dbscan_info(err)) FROM errs WHERE 0;
SELECT 'all NULL', quote(dbscan_threshold(NULL)), quote(dbscan_info(NULL, 1, 2)) FROM errs;
SELECT 'numeric text', dbscan_threshold(column1, 1, 2) FROM (VALUES ('1.5'), (' 2 '), (2.5), (9));
SELECT 'integers', typeof(dbscan_threshold(column1, 1, 1)), dbscan_threshold(column1, 1, 1) FROM (VALUES (3), (4));
SELECT 'one value', dbscan_threshold(7), dbscan_info(7) ->> '$.fallback';

-- Errors in values and parameters.
SELECT dbscan_threshold(column1) FROM (VALUES (1), (2), ('abc'), (4));
SELECT dbscan_info(column1) FROM (VALUES (1), ('it''s'));
SELECT dbscan_threshold(column1) FROM (VALUES (1), (x'00ff'));
SELECT dbscan_threshold(column1) FROM (VALUES (1), (9e999));
SELECT dbscan_threshold(column1) FROM (VALUES (-9e999));
SELECT dbscan_threshold(err, 0, 3) FROM errs;
SELECT dbscan_threshold(err, -1) FROM errs;
SELECT dbscan_threshold(err, 'wide') FROM errs;
SELECT dbscan_threshold(err, 9e999) FROM errs;
SELECT dbscan_threshold(err, 1, 0) FROM errs;
SELECT dbscan_threshold(err, 1, 2.5) FROM errs;
SELECT dbscan_info(err, 1, 'many') FROM errs;
SELECT 'integral REAL min_pts', dbscan_threshold(err, 1, 3.0) FROM errs WHERE fn = 'b';
SELECT dbscan_threshold(err, CASE WHEN err > 5 THEN 2 ELSE 1 END) FROM errs;
SELECT dbscan_threshold(err, 1, 3, 4) FROM errs;

-- dbscan(): 2-D. Square A (0,0) (0,1) (1,0) (1,1): all core (two neighbours at distance 1).
-- B: (10,10) core, (10,11) and (11,10) border (sqrt 2 apart). (5,5) noise. Clusters are numbered
-- by first row: B (row 'p') is 0.
CREATE TABLE pts(id TEXT, x REAL, y REAL);
INSERT INTO pts VALUES ('p', 10, 11), ('q', 0, 0), ('r', 10, 10), ('s', 5, 5), ('t', 0, 1),
  ('u', 1, 0), ('v', 1, 1), ('w', 11, 10);
SELECT '2-D', id, cluster, is_core FROM dbscan('SELECT id, x, y FROM pts', 1.0, 3);
SELECT '2-D hidden columns', id, query, eps, min_pts FROM dbscan('SELECT id, x, y FROM pts', 1, 3) LIMIT 1;
SELECT '2-D named arguments', count(*), sum(cluster = -1) FROM dbscan
  WHERE query = 'SELECT id, x, y FROM pts' AND eps = 1 AND min_pts = 3;
SELECT '2-D joined', group_concat(pts.id || '=' || x || ',' || y, ' ') FROM pts
  JOIN dbscan('SELECT id, x, y FROM pts', 1, 3) AS d ON d.id = pts.id WHERE d.cluster = -1;
SELECT '3-D', id, cluster, is_core FROM
  dbscan('SELECT id, x, y, x + y FROM pts WHERE id <> ''s''', 1.5, 4);
-- ids of any type are passed through; the query may use values (no table needed).
SELECT 'ids', quote(id), cluster FROM dbscan('VALUES (1, 0, 0), (2.5, 0, 0.5), (NULL, 0, 1), (x''01'', 7, 7)', 1, 2);

-- dbscan(): 1-D takes the O(n log n) path; clusters are numbered by value (here the rows of the
-- upper cluster come first but it is cluster 1). Values 10 11 12 13 | 39 40 41, eps 1, min_pts 3:
-- cores 11 12 and 40, the others border. Automatic parameters when eps and min_pts are omitted.
SELECT '1-D', id, cluster, is_core FROM
  dbscan('SELECT rowid, err FROM errs WHERE fn = ''b'' UNION ALL SELECT 100, 41 UNION ALL SELECT 101, 39 ORDER BY 1 DESC', 1, 3);
SELECT '1-D auto', sum(cluster = 0), sum(cluster = -1), max(cluster) FROM dbscan('SELECT x, x FROM seq');
SELECT '1-D NULL eps', sum(cluster = -1) FROM dbscan('SELECT x, x FROM seq', NULL, NULL);
SELECT '1-D large', count(*), count(DISTINCT cluster), sum(is_core) FROM dbscan(
  'WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 30000) SELECT i, i % 1000 FROM s', 0.5, 30);

-- dbscan(): no rows.
SELECT 'NULL query', count(*) FROM dbscan(NULL, 1, 2);
SELECT 'empty result', count(*) FROM dbscan('SELECT id, x, y FROM pts WHERE 0', 1, 2);

-- dbscan(): errors.
SELECT * FROM dbscan;
SELECT * FROM dbscan('SELECT id, x, y FROM nope', 1, 2);
SELECT * FROM dbscan('SELEKT 1', 1, 2);
SELECT * FROM dbscan('', 1, 2);
SELECT * FROM dbscan('DELETE FROM pts', 1, 2);
SELECT * FROM dbscan('CREATE TABLE t2(a)', 1, 2);
SELECT * FROM dbscan('BEGIN', 1, 2);
SELECT * FROM dbscan('EXPLAIN SELECT id, x FROM pts', 1, 2);
SELECT * FROM dbscan('SELECT id, x FROM pts; DROP TABLE pts', 1, 2);
SELECT 'trailing semicolon and comment', count(*) FROM dbscan('SELECT id, x FROM pts; -- done', 1, 2);
SELECT * FROM dbscan('SELECT id FROM pts', 1, 2);
SELECT * FROM dbscan('SELECT id, x, y FROM pts UNION ALL SELECT ''z'', 3, ''high''', 1, 2);
SELECT * FROM dbscan('SELECT id, x, y AS "height" FROM pts UNION ALL SELECT 42, 3, NULL', 1, 2);
SELECT * FROM dbscan('SELECT 7, x, zeroblob(2) FROM pts', 1, 2);
SELECT * FROM dbscan('SELECT id, 9e999 FROM pts', 1, 2);
SELECT 'numeric text coordinate', count(*) FROM dbscan('SELECT id, ''1.5'', y FROM pts', 1, 2);
SELECT * FROM dbscan('SELECT id, x, y FROM pts', 0, 2);
SELECT * FROM dbscan('SELECT id, x, y FROM pts', 'far', 2);
SELECT * FROM dbscan('SELECT id, x, y FROM pts', 1, 0);
SELECT * FROM dbscan('SELECT id, x, y FROM pts');
SELECT * FROM dbscan('SELECT id, x, y FROM pts', NULL, 3);
SELECT * FROM dbscan('SELECT id, x FROM pts WHERE abs(x) > 1e300 UNION ALL SELECT 1, abs(-9e999)', 1, 2);
SELECT * FROM dbscan('WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20001) SELECT i, i, i FROM s', 1, 2);
SELECT * FROM dbscan('SELECT id, x, y FROM pts WHERE x > ?1', 1, 2);
SELECT * FROM dbscan('SELECT id, x, y FROM pts WHERE abs(''x'') > 0 OR raise_me()', 1, 2);
SELECT * FROM dbscan('SELECT id, x FROM pts WHERE x / 0 IS NULL AND json(''{'') IS NULL', 1, 2);

-- DIRECTONLY: dbscan() runs SQL it is given, so a view or trigger may not use it.
CREATE VIEW v AS SELECT * FROM dbscan('SELECT id, x, y FROM pts', 1, 3);
SELECT * FROM v;
CREATE TABLE log(n);
CREATE TRIGGER tr AFTER INSERT ON log BEGIN
  SELECT count(*) FROM dbscan('SELECT id, x, y FROM pts', 1, 3);
END;
INSERT INTO log VALUES (1);
-- ... whereas the aggregates are fine in a view.
CREATE VIEW vt AS SELECT fn, dbscan_threshold(err, 1, 3) AS thr FROM errs GROUP BY fn;
SELECT 'view with aggregate', fn, thr FROM vt;
