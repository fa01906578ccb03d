#!/bin/sh
# run.sh — `make bench`: every benchmark in one run, each beside its peer on this machine, and a
# summary of ratios at the end. JSON lines of every measurement go to $BUILD/bench.jsonl.
#   BUILD=build sh tests/bench/run.sh        (BENCH_QUICK=1: smaller sizes)
set -e
BUILD=${BUILD:-build}
OUT=$BUILD/bench.jsonl
LIBS="$(pkg-config --libs jansson zlib openblas) -Wl,-rpath,$(pkg-config --variable=libdir openblas) -lm -lpthread"
CF="-std=c11 -D_DEFAULT_SOURCE -O2 -ffp-contract=off $(pkg-config --cflags openblas) -Icore"
mkdir -p "$BUILD"
: > "$OUT"
log() { printf '%s\n' "$*" >&2; }
run() { log "+ $*"; "$@" | tee -a "$OUT"; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then TW=4000; IW=10000; SW=4000; else TW=20000; IW=50000; SW=20000; fi

log "== machine"
log "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(free -g | awk '/Mem/{print $2}') GiB"

log "== LSTM autoencoder: training and inference, C core vs PyTorch (T=10, D=64, H=64, batch 64)"
cc $CF tests/bench/bench_ae_net.c "$BUILD/libfgcore.a" $LIBS -o "$BUILD/bench_ae_net"
run "$BUILD/bench_ae_net" --windows $TW --infer-windows $IW --threads 1,2
run /usr/bin/python3 tests/bench/torch_ae.py --windows $TW --infer-windows $IW --threads 1,2

log "== the same through SQL (lstm_ae_train, lstm_ae_score, lstm_ae_detect; whole queries)"
run env FNGUARD_BUILD="$BUILD" /usr/bin/python3 tests/bench/bench_sql.py --windows $SW --threads 1,2 \
  $( [ "${BENCH_QUICK:-0}" = 1 ] || echo --memory )

log "== dbscan_threshold over 1,000,000 values vs scikit-learn's DBSCAN"
cc $CF tests/bench/bench_dbscan.c "$BUILD/libfgcore.a" $LIBS -o "$BUILD/bench_dbscan"
run "$BUILD/bench_dbscan"
run /usr/bin/python3 tests/bench/sklearn_dbscan.py $( [ "${BENCH_QUICK:-0}" = 1 ] && echo --max-n 10000 )

if [ -f tests/bench/bench_ingest.sh ]; then
  log "== CloudTrail ingestion vs the pure-SQL way (json_each(readfile(f), '\$.Records'))"
  BUILD="$BUILD" sh tests/bench/bench_ingest.sh | tee -a "$OUT"
fi

log "== end to end on ~1M function events (testbed 30 days x 3.2): import, train, score, alerts; delta update vs retraining"
run env FNGUARD_BUILD="$BUILD" /usr/bin/python3 tests/bench/e2e.py $( [ "${BENCH_QUICK:-0}" = 1 ] && echo --quick )

log "== summary"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith('{'):
        try: rows.append(json.loads(line))
        except ValueError: pass
def best(pred, key):
    v = [r[key] for r in rows if pred(r) and key in r]
    return max(v) if v else None
core_tr = best(lambda r: r.get('peer') == 'fnguard-core', 'train_windows_per_s')
core_in = best(lambda r: r.get('peer') == 'fnguard-core', 'infer_windows_per_s')
torch_tr = best(lambda r: r.get('peer') == 'torch', 'train_windows_per_s')
torch_in = best(lambda r: r.get('peer') == 'torch', 'infer_windows_per_s')
sql_tr = best(lambda r: r.get('peer') == 'fnguard-sql' and r.get('what') == 'train', 'windows_per_s')
sql_sc = best(lambda r: r.get('peer') == 'fnguard-sql' and r.get('what') == 'score', 'windows_per_s')
sql_de = best(lambda r: r.get('peer') == 'fnguard-sql' and r.get('what') == 'detect', 'windows_per_s')
roof = best(lambda r: r.get('peer') == 'fnguard-core', 'sgemm_gflops')
frac = best(lambda r: r.get('peer') == 'fnguard-core', 'train_fraction_of_sgemm')
def ratio(a, b): return '%.2fx' % (a / b) if a and b else 'n/a'
def fmt(x): return '%.0f' % x if x else 'n/a'
print('%-52s %12s %12s %8s' % ('measure (best of 1 and 2 threads)', 'fnguard', 'peer', 'ratio'))
print('%-52s %12s %12s %8s' % ('training windows/s, core vs torch', fmt(core_tr), fmt(torch_tr), ratio(core_tr, torch_tr)))
print('%-52s %12s %12s %8s' % ('training windows/s, SQL lstm_ae_train vs torch', fmt(sql_tr), fmt(torch_tr), ratio(sql_tr, torch_tr)))
print('%-52s %12s %12s %8s' % ('inference windows/s, core vs torch batched', fmt(core_in), fmt(torch_in), ratio(core_in, torch_in)))
print('%-52s %12s %12s %8s' % ('scoring windows/s, SQL lstm_ae_detect vs torch', fmt(sql_de), fmt(torch_in), ratio(sql_de, torch_in)))
print('%-52s %12s %12s %8s' % ('scoring windows/s, SQL lstm_ae_score vs torch', fmt(sql_sc), fmt(torch_in), ratio(sql_sc, torch_in)))
if roof: print('%-52s %12.1f %12s %8s' % ('OpenBLAS sgemm GFLOP/s (2048^3); training reaches', roof, '', '%.0f%%' % (100 * frac) if frac else 'n/a'))
mem = [r for r in rows if r.get('what') == 'memory_1m']
if mem: print('%-52s %12s' % ('peak RSS training 1,000,000 windows (MiB)', mem[0]['peak_rss_mib']))
db = [r for r in rows if r.get('bench') == 'dbscan_threshold_1e6']
if db: print('%-52s %12.3f' % ('dbscan_threshold over 1e6 values (s)', db[0]['seconds']))
sk = [r for r in rows if 'sklearn' in json.dumps(r)]
for r in sk: print('%-52s %s' % ('  scikit-learn DBSCAN', json.dumps(r)))
ing = [r for r in rows if 'ingest' in json.dumps(r)]
for r in ing: print('%-52s %s' % ('  ingestion', json.dumps(r)))
e2e = [r for r in rows if r.get('bench') == 'e2e' and r.get('stage') not in ('delta_update',)]
if e2e:
    print('end to end on %d function events: stage, wall s, peak RSS MiB' % e2e[0]['function_events'])
    for r in e2e:
        print('  %-50s %12.1f %12.1f' % (r['stage'], r['seconds'], r['peak_rss_mib']))
for r in (r for r in rows if r.get('stage') == 'delta_update'):
    print('%-52s %12s %12s %8s' % ('delta update 10%% new (%s, %s) vs full retrain, s' % (r['function'], r['detector']),
                                    '%.2f' % r['update_s'], '%.2f' % r['full_retrain_s'], '%.1fx' % r['speedup']))
PY
