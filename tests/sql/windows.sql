-- fn_windows: sliding windows over a table or view.
CREATE TABLE ev(session, seq, key, duration_ms);
INSERT INTO ev VALUES ('a',1,'open',12.5),('a',2,'read',3.0),('a',3,'close',0.5),
  ('b',1,'open',1),('b',2,'read',2),('b',3,'read',NULL),('b',4,'x"y',4),('b',5,'close',5),
  ('c',1,'only',7);
CREATE VIRTUAL TABLE w USING fn_windows(source=ev, partition=session, order=seq, fields='key,duration_ms', size=3, stride=2);
.headers on
SELECT * FROM w;
.headers off
-- a partition shorter than size gives one shorter window; a tail the stride misses gets one more
SELECT 'short', n_steps = 1 FROM w WHERE part = 'c';
SELECT 'tail', group_concat(first_order || '-' || last_order, ' ') = '1-3 3-5' FROM w WHERE part = 'b';
SELECT 'pushdown-null', count(*) = 0 FROM w WHERE part = NULL;
-- rows arrive in order even when inserted out of order
CREATE TABLE ev2(p, t, k);
INSERT INTO ev2 VALUES ('x', 3, 'c'), ('x', 1, 'a'), ('x', 2, 'b');
CREATE INDEX ev2_pt ON ev2(p, t);
CREATE VIRTUAL TABLE w2 USING fn_windows(source=ev2, partition=p, order=t, fields=k, size=2);
SELECT 'ordered', group_concat(window, ' | ') FROM w2;
-- no partition: the whole source; default order = rowid; stride 1
CREATE VIRTUAL TABLE w3 USING fn_windows(source=ev, fields='key', size=4);
SELECT 'whole', count(*) = 6, min(first_rowid) = 1, max(last_rowid) = 9 FROM w3;
-- a view works (rowids are NULL there)
CREATE VIEW v AS SELECT session, seq, upper(key) AS k FROM ev;
CREATE VIRTUAL TABLE w4 USING fn_windows(source="v", partition="session", order="seq", fields="k", size=5);
SELECT 'view', part, first_rowid IS NULL, n_steps FROM w4;
-- quoted names with odd characters
CREATE TABLE "od""d"("my col", "o rder");
INSERT INTO "od""d" VALUES (1, 1), (2, 2);
CREATE VIRTUAL TABLE w5 USING fn_windows(source='od"d', order='o rder', fields='"my col"', size=2);
SELECT 'quoted', window FROM w5;
-- values: integers, reals, text with escapes, NULL
CREATE TABLE vals(t, x);
INSERT INTO vals VALUES (1, 'tab	quote" back\ nl
'), (2, 1e300), (3, -0.1), (4, 9007199254740993);
CREATE VIRTUAL TABLE w6 USING fn_windows(source=vals, order=t, fields='x', size=4);
SELECT 'values', window FROM w6;
-- errors name the argument at fault
CREATE VIRTUAL TABLE e1 USING fn_windows(fields='key');
CREATE VIRTUAL TABLE e2 USING fn_windows(source=nope, fields='key');
CREATE VIRTUAL TABLE e3 USING fn_windows(source=ev, fields='key,nope');
CREATE VIRTUAL TABLE e4 USING fn_windows(source=ev, partition=nope, fields='key');
CREATE VIRTUAL TABLE e5 USING fn_windows(source=ev, order=nope, fields='key');
CREATE VIRTUAL TABLE e6 USING fn_windows(source=ev, fields='key', size=0);
CREATE VIRTUAL TABLE e7 USING fn_windows(source=ev, fields='key', stride=x);
CREATE VIRTUAL TABLE e8 USING fn_windows(source=ev, fields='key', colour=blue);
CREATE VIRTUAL TABLE e9 USING fn_windows(source=ev);
CREATE VIRTUAL TABLE e10 USING fn_windows(source=ev, fields='key,key');
CREATE VIRTUAL TABLE e11 USING fn_windows(source=e11, fields='key');
CREATE VIRTUAL TABLE e12 USING fn_windows(source=v, fields='k');
CREATE VIRTUAL TABLE e13 USING fn_windows(source=ev, fields='key', 42);
-- bad values are errors at query time, naming field and row
CREATE TABLE bad(t, x);
INSERT INTO bad VALUES (1, 1.0), (2, x'00ff');
CREATE VIRTUAL TABLE wb USING fn_windows(source=bad, order=t, fields=x, size=2);
SELECT * FROM wb;
DELETE FROM bad WHERE t = 2;
INSERT INTO bad VALUES (2, 1e999);
SELECT * FROM wb;
-- a dropped source is an error when queried, not a crash
DROP TABLE ev2;
SELECT * FROM w2;
-- schema-qualified source
CREATE VIRTUAL TABLE w7 USING fn_windows(source=main.ev, partition=session, order=seq, fields=key, size=10);
SELECT 'schema', count(*) = 3 FROM w7;
CREATE VIRTUAL TABLE e14 USING fn_windows(source=nosuch.ev, fields=key);
-- first_order >= ? is pushed down (stride 1): the source is read from there on
CREATE VIRTUAL TABLE w8 USING fn_windows(source=ev, partition=session, order=seq, fields=key, size=2);
SELECT 'from', group_concat(part || first_order || '-' || last_order, ' ') FROM w8 WHERE first_order >= 3;
SELECT 'from-part', group_concat(part || first_order || '-' || last_order, ' ') FROM w8 WHERE part = 'b' AND first_order > 2;
SELECT 'from-null', count(*) FROM w8 WHERE first_order >= NULL;
SELECT 'from-all', count(*) = (SELECT count(*) FROM w8 WHERE first_order >= 0) FROM w8;
