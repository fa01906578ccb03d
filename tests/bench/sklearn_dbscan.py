#!/usr/bin/python3
"""Times sklearn.cluster.DBSCAN on 1-D reconstruction errors, beside fnguard's dbscan().

    /usr/bin/python3 tests/bench/sklearn_dbscan.py [--max-n N] [--repeat R] [--build DIR]

Needs Debian's python3-sklearn. The values are the log-normal errors of bench_dbscan.c (same
splitmix64 + Box-Muller generator, seed 42). eps and min_pts follow fnguard's automatic rules
(core/dbscan.h): eps = 2 IQR n^(-1/3), min_pts = max(3, round(ln n)); when the extension is built
(DIR/fnguard.so, default build/) they are read from dbscan_info() on the very same values, and
dbscan() in SQL labels them too, so the two clusterings can be compared:

  agree          the core points, the noise points and the clusters of core points are the same
                 (sklearn numbers clusters in its own order; the comparison maps one onto the
                 other); border points may legitimately differ (sklearn gives a border point to the
                 first cluster that reaches it, fnguard to its nearest core point), so they are
                 counted in border_differ instead.
  fnguard_sql_seconds  dbscan() over a temporary table, through SQL (load and row output included).

One JSON line per size n in 10^4, 10^5, ... up to --max-n (default 100000):
  {"bench":"sklearn_dbscan_1e4","seconds":...,"n":...,"eps":...,"min_pts":...,"clusters":...,
   "noise":...,"fnguard_sql_seconds":...,"agree":true,"border_differ":0}
sklearn's radius queries keep every neighbour list in memory: about 3,000 neighbours per point at
10^5 here, a few GB; 10^6 would need hundreds of GB, so it is not in the default run.
"""
import argparse
import json
import math
import os
import sqlite3
import sys
import time

import numpy as np

try:
    from sklearn.cluster import DBSCAN
except ImportError:  # the test runner's convention for "cannot run here"
    print("sklearn is not installed (apt-get install python3-sklearn)")
    sys.exit(77)


def lognormal(n, seed=42):
    """The values of bench_dbscan.c's lognormal(): splitmix64 uniforms, Box-Muller (cosine)."""
    with np.errstate(over="ignore"):
        k = np.arange(1, 2 * n + 1, dtype=np.uint64)
        z = np.uint64(seed) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    r = ((z >> np.uint64(11)).astype(np.float64) + 0.5) / 9007199254740992.0
    u, v = r[0::2], r[1::2]
    return np.exp(0.5 * np.sqrt(-2 * np.log(u)) * np.cos(6.283185307179586 * v))


def auto_params(x):
    """fnguard's automatic eps and min_pts (used when the extension is not built)."""
    n = len(x)
    q1, q3 = np.quantile(x, [0.25, 0.75])  # linear interpolation, as in core/dbscan.c
    eps = 2 * (q3 - q1) / np.cbrt(n)
    if not eps > 0:
        eps = (x.max() - x.min()) / n
    if not eps > 0:
        eps = 1e-12 * max(1.0, abs(x).max())
    return float(eps), max(3, int(math.floor(math.log(n) + 0.5)))


def open_fnguard(build):
    path = os.path.join(build, "fnguard")
    if not os.path.exists(path + ".so"):
        return None
    db = sqlite3.connect(":memory:")
    try:
        db.enable_load_extension(True)
        db.load_extension(path)
    except (AttributeError, sqlite3.Error) as e:
        print(f"note: fnguard not loaded ({e}); no comparison", file=sys.stderr)
        return None
    return db


def fnguard_labels(db, x):
    """(eps, min_pts, labels, is_core, seconds) from dbscan_info() and dbscan() on x."""
    db.execute("DROP TABLE IF EXISTS temp.errs")
    db.execute("CREATE TEMP TABLE errs(id INTEGER PRIMARY KEY, err REAL)")
    db.executemany("INSERT INTO errs VALUES (?, ?)", enumerate(x.tolist()))
    info = json.loads(db.execute("SELECT dbscan_info(err) FROM errs").fetchone()[0])
    t0 = time.perf_counter()
    rows = db.execute(
        "SELECT id, cluster, is_core FROM dbscan('SELECT id, err FROM errs ORDER BY id')"
    ).fetchall()
    seconds = time.perf_counter() - t0
    labels = np.array([r[1] for r in rows])
    core = np.array([r[2] for r in rows], dtype=bool)
    return info["eps"], info["min_pts"], labels, core, seconds


def compare(sk_labels, sk_core, labels, core):
    """(agree, border_differ): see the module docstring."""
    if not np.array_equal(sk_core, core) or not np.array_equal(sk_labels < 0, labels < 0):
        return False, None
    pairs = set(zip(sk_labels[core].tolist(), labels[core].tolist()))
    one_to_one = len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
    mapping = dict(pairs)
    border = ~core & (labels >= 0)
    differ = sum(mapping.get(a, -2) != b for a, b in zip(sk_labels[border], labels[border]))
    return one_to_one, int(differ)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-n", type=int, default=100000, help="largest n (10^4, 10^5, ...)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size; the best is printed")
    ap.add_argument("--build", default="build", help="folder holding fnguard.so")
    args = ap.parse_args()

    db = open_fnguard(args.build)
    n = 10000
    while n <= args.max_n:
        x = lognormal(n)
        out = {"bench": f"sklearn_dbscan_1e{round(math.log10(n))}"}
        if db is not None:
            eps, min_pts, labels, core, sql_seconds = fnguard_labels(db, x)
        else:
            eps, min_pts = auto_params(x)
        best = math.inf
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            model = DBSCAN(eps=eps, min_samples=min_pts).fit(x.reshape(-1, 1))
            best = min(best, time.perf_counter() - t0)
        sk_labels = model.labels_
        sk_core = np.zeros(n, dtype=bool)
        sk_core[model.core_sample_indices_] = True
        out.update(seconds=round(best, 4), n=n, eps=eps, min_pts=min_pts,
                   clusters=int(sk_labels.max() + 1), noise=int((sk_labels < 0).sum()))
        if db is not None:
            agree, differ = compare(sk_labels, sk_core, labels, core)
            out.update(fnguard_sql_seconds=round(sql_seconds, 4), agree=agree,
                       border_differ=differ)
        print(json.dumps(out), flush=True)
        del model
        n *= 10


if __name__ == "__main__":
    main()
