#!/bin/sh
# demo.sh — what `make demo` runs: generate a testbed, import it into demo.db, train the
# detectors, score, and print the alerts. A second run reuses the testbed, the import and the
# models, and finishes in seconds. Progress goes to stderr.
#   BUILD=build sh sql/demo.sh        (from the repository root)
set -e
BUILD=${BUILD:-build}
DB=${DEMO_DB:-demo.db}
TB=$BUILD/demo-testbed
DAYS=${DEMO_DAYS:-3}
say() { printf '%s\n' "demo: $*" >&2; }

if [ ! -f "$TB/manifest.json" ]; then
  say "generating $DAYS days of logs of two serverless applications (airline booking, video on demand) with attacks on the last day -> $TB"
  rm -rf "$TB"
  /usr/bin/python3 fixtures/testbed/gen.py --out "$TB" --days "$DAYS" --seed 1
else
  say "reusing the testbed in $TB"
fi

# demo.db is made again when the SQL that made it (sql/schema.sql, import.sql, pipeline.sql) has
# changed since: its import, features and models would show that older version's results.
SQLSUM=$(cat sql/schema.sql sql/import.sql sql/pipeline.sql | cksum | cut -d' ' -f1)
if [ -f "$DB" ] && [ "$(sqlite3 "$DB" "SELECT value FROM demo_meta WHERE key = 'sql'" 2>/dev/null || true)" != "$SQLSUM" ]; then
  say "$DB was made by another version of the SQL: making it again"
  rm -f "$DB" "$DB-journal"
fi

if [ ! -f "$DB" ] || [ "$(sqlite3 "$DB" "SELECT count(*) FROM sqlite_schema WHERE name = 'function_events'")" = 0 ]; then
  say "importing CloudTrail, Lambda logs and X-Ray into $DB"
  sqlite3 "$DB" -cmd ".load $BUILD/fnguard" -cmd ".param set :root $TB" < sql/import.sql >&2
else
  say "reusing the import in $DB"
fi

# Train on everything but the last day (where the testbed puts its attacks), unless the analyst
# set other settings already.
sqlite3 "$DB" "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value);
  INSERT OR IGNORE INTO settings VALUES ('train_to', (SELECT max(ts) - 86400000 FROM function_events));"
if [ "$(sqlite3 "$DB" "SELECT count(*) FROM sqlite_schema WHERE name = 'models'")" = 1 ] &&
   [ "$(sqlite3 "$DB" "SELECT count(*) FROM models")" != 0 ]; then
  say "reusing the trained models; scoring"
else
  say "training three LSTM autoencoders per function (windows of 5, 10 and 20 events), then scoring"
fi
sqlite3 "$DB" -cmd ".load $BUILD/fnguard" < sql/pipeline.sql >&2
sqlite3 "$DB" "CREATE TABLE IF NOT EXISTS demo_meta(key TEXT PRIMARY KEY, value);
  INSERT OR REPLACE INTO demo_meta VALUES ('sql', '$SQLSUM');"

echo
echo "Alerts (strongest first; score / threshold per detector s, m, l = windows of 5, 10, 20 events):"
echo
sqlite3 -column -header "$DB" "
  SELECT function, substr(first_time, 1, 19) AS first_event, n_events AS events,
         printf('%.3g/%.3g', coalesce(score_s, 0), coalesce(threshold_s, 0)) AS s,
         printf('%.3g/%.3g', coalesce(score_m, 0), coalesce(threshold_m, 0)) AS m,
         printf('%.3g/%.3g', coalesce(score_l, 0), coalesce(threshold_l, 0)) AS l,
         substr(explanation, 1, 90) AS why
    FROM alerts
   ORDER BY max(coalesce(score_s / threshold_s, 0), coalesce(score_m / threshold_m, 0), coalesce(score_l / threshold_l, 0)) DESC
   LIMIT 25;"
echo
sqlite3 "$DB" "SELECT printf('%d alerts in %d functions; %d models; %d function events.', (SELECT count(*) FROM alerts),
  (SELECT count(DISTINCT function) FROM alerts), (SELECT count(*) FROM models), (SELECT count(*) FROM function_events));"
cat <<MSG

Where to look next:
  sqlite3 $DB -cmd '.load $BUILD/fnguard'      then e.g.
    SELECT * FROM alert_events WHERE alert_id = 1;               -- the events behind an alert
    SELECT explain_json FROM alerts WHERE id = 1;                -- step by step, field by field
  notebooks/triage.ipynb (FNGUARD_DB=$DB jupyter notebook notebooks/)
  The testbed's ground truth (never read by the detector): $TB/labels.csv
MSG
