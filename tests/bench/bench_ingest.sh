#!/bin/sh
# bench_ingest.sh — CloudTrail ingestion speed: cloudtrail_events() against the pure-SQL way,
# side by side in the same run, on a generated corpus (tests/bench/gen_ct_corpus.py; nothing big
# is committed). Both import the same 22 columns into a table of an in-memory database:
#
#   ours:      INSERT INTO t SELECT <22 columns> FROM cloudtrail_events(DIR)
#   pure SQL:  INSERT INTO t SELECT json_extract(j.value, '$.eventTime'), … (22 paths)
#                FROM fsdir(DIR) f, json_each(readfile(f.name), '$.Records') j
#
# (readfile and fsdir are the sqlite3 CLI's.) Gzipped corpus: the pure-SQL way has no gunzip, so
# its figure is zcat to a scratch directory plus the plain import — the least it takes.
# Each figure is the best of $BENCH_RUNS runs of the statement's wall-clock time (the CLI's
# .timer); MB are of uncompressed JSON. Peak RSS is the whole sqlite3 process's.
#
#   sh tests/bench/bench_ingest.sh            (from the repo root; BUILD=build, BENCH_INGEST_MB=100)
set -e
BUILD=${BUILD:-build}
MB=${BENCH_INGEST_MB:-100}
RUNS=${BENCH_RUNS:-3}
EXT="$(pwd)/$BUILD/fnguard"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fg_bench_ingest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

/usr/bin/python3 tests/bench/gen_ct_corpus.py --out "$tmp/plain" --mb "$MB" > "$tmp/gen.txt"
/usr/bin/python3 tests/bench/gen_ct_corpus.py --out "$tmp/gz" --mb "$MB" --gzip > /dev/null
bytes=$(cat "$tmp"/plain/*.json | wc -c)
gzbytes=$(cat "$tmp"/gz/*.gz | wc -c)
nfiles=$(ls "$tmp/plain" | wc -l)

COLS="event_time, event_source, event_name, event_type, event_category, aws_region, source_ip,
  user_agent, identity_type, principal_arn, account_id, role_arn, user_name, access_key_id,
  invoked_by, error_code, error_message, read_only, request_id, event_id, request_parameters,
  resources"
PATHS="eventTime eventSource eventName eventType eventCategory awsRegion sourceIPAddress userAgent
  userIdentity.type userIdentity.arn userIdentity.accountId
  userIdentity.sessionContext.sessionIssuer.arn userIdentity.userName userIdentity.accessKeyId
  userIdentity.invokedBy errorCode errorMessage readOnly requestID eventID requestParameters
  resources"
EXTRACTS=$(for p in $PATHS; do printf "json_extract(j.value, '\$.%s'), " "$p"; done | sed 's/, $//')

# run NAME SQL → best wall-clock seconds of the INSERT, and "rows peakMB" of the last run
run() {
  best=""
  i=0
  while [ $i -lt "$RUNS" ]; do
    i=$((i + 1))
    printf '.load %s\nCREATE TABLE t(%s);\n.timer on\n%s\n.timer off\nSELECT count(*) FROM t;\n' \
      "$EXT" "$COLS" "$2" > "$tmp/run.sql"
    /usr/bin/time -f "%M" -o "$tmp/rss" sqlite3 -batch :memory: < "$tmp/run.sql" > "$tmp/out" 2>&1 || {
      cat "$tmp/out"; exit 1; }
    t=$(awk '/^Run Time:/ { print $4; exit }' "$tmp/out")
    rows=$(tail -1 "$tmp/out")
    best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
  done
  echo "$best $rows $(awk '{ printf "%d", $1 / 1024 }' "$tmp/rss")"
}

ours_plain=$(run ours "INSERT INTO t SELECT $COLS FROM cloudtrail_events('$tmp/plain');")
pure_plain=$(run pure "INSERT INTO t SELECT $EXTRACTS FROM fsdir('$tmp/plain') f, json_each(readfile(f.name), '\$.Records') j WHERE f.name LIKE '%.json';")
ours_gz=$(run ours "INSERT INTO t SELECT $COLS FROM cloudtrail_events('$tmp/gz');")
# the pure-SQL way on gzip: zcat first (best of RUNS too)
zbest=""
i=0
while [ $i -lt "$RUNS" ]; do
  i=$((i + 1))
  rm -rf "$tmp/unz"; mkdir "$tmp/unz"
  s=$(date +%s.%N)
  for f in "$tmp"/gz/*.gz; do zcat "$f" > "$tmp/unz/$(basename "$f" .gz)"; done
  e=$(date +%s.%N)
  zbest=$(awk -v a="$zbest" -v s="$s" -v e="$e" 'BEGIN { t = e - s; print (a == "" || t < a) ? t : a }')
done

awk -v bytes="$bytes" -v gzbytes="$gzbytes" -v nfiles="$nfiles" -v op="$ours_plain" \
    -v pp="$pure_plain" -v og="$ours_gz" -v zc="$zbest" 'BEGIN {
  split(op, o, " "); split(pp, p, " "); split(og, g, " ");
  mb = bytes / 1e6;
  printf "ingest: corpus %.1f MB of CloudTrail JSON (%.1f MB gzipped), %d records in %d files\n", mb, gzbytes / 1e6, o[2], nfiles;
  if (o[2] != p[2] || o[2] != g[2]) { printf "ingest: ROW COUNTS DIFFER: %s %s %s\n", o[2], p[2], g[2]; exit 1 }
  printf "ingest plain  cloudtrail_events()    %6.2f s  %7.1f MB/s  %9.0f events/s  peak RSS %5d MB\n", o[1], mb / o[1], o[2] / o[1], o[3];
  printf "ingest plain  pure SQL (json_each)   %6.2f s  %7.1f MB/s  %9.0f events/s  peak RSS %5d MB\n", p[1], mb / p[1], p[2] / p[1], p[3];
  printf "ingest plain  ratio %.2fx (target >= 2x)\n", p[1] / o[1];
  printf "ingest gzip   cloudtrail_events()    %6.2f s  %7.1f MB/s  %9.0f events/s  peak RSS %5d MB\n", g[1], mb / g[1], g[2] / g[1], g[3];
  printf "ingest gzip   pure SQL (zcat %.2f s + json_each) %6.2f s  %7.1f MB/s  %9.0f events/s\n", zc, zc + p[1], mb / (zc + p[1]), p[2] / (zc + p[1]);
  printf "ingest gzip   ratio %.2fx (target >= 2x)\n", (zc + p[1]) / g[1];
}'
