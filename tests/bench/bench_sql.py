#!/usr/bin/python3
"""bench_sql.py — fnguard measured through SQL, the way an analyst runs it.

Same shapes as tests/bench/torch_ae.py: windows of T = 10 steps, one categorical field of 62
values (63 slots with "unknown") + one numeric field, so the input width is 64; H = 64, L = 1,
batch 64. Prints JSON lines:
  {"peer":"fnguard-sql","what":"train","threads":n,"windows_per_s":...}   lstm_ae_train, whole query
  {"peer":"fnguard-sql","what":"score","windows_per_s":...}                lstm_ae_score per row
  {"peer":"fnguard-sql","what":"detect","windows_per_s":...}               lstm_ae_detect batches
  {"peer":"fnguard-sql","what":"memory_1m", ...}                          (with --memory) peak RSS

  /usr/bin/python3 tests/bench/bench_sql.py [--windows 20000] [--threads 1,2] [--memory]
"""
import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FNGUARD_BUILD", "build")


def connect():
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(os.path.join(ROOT, BUILD, "fnguard"))
    return db


def fill(db, n_windows):
    """A table of windows, one per row, built in SQL (values vary so the vocabulary is full)."""
    db.execute("CREATE TABLE w(id INTEGER PRIMARY KEY, window TEXT)")
    db.execute("""
      WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
      INSERT INTO w(window)
      SELECT '{"fields":["k","x"],"steps":[' ||
        (SELECT group_concat('["v' || ((i * 7 + t * 13) % 62) || '",' || (((i + t) % 17) * 1.5) || ']', ',')
           FROM (SELECT 0 t UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
                 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9))
        || ']}' FROM n""", (n_windows - 1,))


def train(db, epochs, threads):
    opts = json.dumps({"hidden": 64, "epochs": epochs, "batch": 64, "validation": 0,
                       "threads": threads, "seed": 1, "progress": 0})
    t0 = time.perf_counter()
    (model,) = db.execute("SELECT lstm_ae_train(window, ?) FROM w", (opts,)).fetchone()
    return model, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--memory", action="store_true", help="peak RSS training on 1,000,000 windows (one epoch)")
    args = ap.parse_args()
    db = connect()
    fill(db, args.windows)
    n = args.windows
    for th in [int(x) for x in args.threads.split(",")]:
        # Parsing the windows once is part of a training query; epochs multiply the model work.
        model, secs = train(db, args.epochs, th)
        info = json.loads(db.execute("SELECT lstm_ae_info(?)", (model,)).fetchone()[0])
        assert info["input_dim"] == 64, info["input_dim"]
        print(json.dumps({"peer": "fnguard-sql", "what": "train", "threads": th,
                          "windows_per_s": round(n * args.epochs / secs, 1), "seconds": round(secs, 3)}), flush=True)
    db.execute("CREATE TABLE models(m BLOB)")
    db.execute("INSERT INTO models VALUES (?)", (model,))
    for what, sql in [("score", "SELECT sum(lstm_ae_score((SELECT m FROM models), window)) FROM w"),
                      ("detect", "SELECT sum(score) FROM lstm_ae_detect((SELECT m FROM models), 'SELECT id, window FROM w', NULL, 1)"),
                      ("detect", "SELECT sum(score) FROM lstm_ae_detect((SELECT m FROM models), 'SELECT id, window FROM w', NULL, 2)")]:
        best = 1e9
        for _ in range(3):
            t0 = time.perf_counter()
            db.execute(sql).fetchone()
            best = min(best, time.perf_counter() - t0)
        th = 2 if sql.endswith("2)") else 1
        print(json.dumps({"peer": "fnguard-sql", "what": what, "threads": th, "windows_per_s": round(n / best, 1)}), flush=True)
    if args.memory:
        # A child process, so its peak RSS is its own: 1,000,000 windows, one epoch.
        code = ("import sys; sys.path.insert(0, %r); import bench_sql as b, json, resource, time;"
                "db = b.connect(); b.fill(db, 1000000); t = time.perf_counter(); b.train(db, 1, 2);"
                "print(json.dumps({'peer':'fnguard-sql','what':'memory_1m','windows':1000000,"
                "'train_seconds':round(time.perf_counter()-t,1),"
                "'peak_rss_mib':round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)}))") % os.path.dirname(os.path.abspath(__file__))
        subprocess.run([sys.executable, "-c", code], check=True)


if __name__ == "__main__":
    main()
