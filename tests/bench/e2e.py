#!/usr/bin/python3
"""e2e.py — the whole detector on about one million function events, stage by stage.

    /usr/bin/python3 tests/bench/e2e.py [--days 30] [--scale 3.2] [--seed 1] [--quick]

1. The testbed (fixtures/testbed/gen.py --days 30 --scale 3.2: ~4.7M log records -> ~1M function
   events) is generated into build/testbed-<days>d-s<seed>-x<scale>/ unless it is there (not
   timed as a stage: it stands in for AWS delivering logs).
2. import: sql/import.sql into a fresh build/bench-e2e.db through the sqlite3 CLI, timed with
   /usr/bin/time (wall, peak RSS of the process).
3. sql/pipeline.sql, statement by statement in this process (the extension loaded by Python's
   sqlite3), cut into the script's own sections: features, windows, train (three detectors per
   function), update (nothing to do here), thresholds (held-out calibration), score
   (lstm_ae_detect), alerts. Per stage: wall time and peak RSS of the process during that stage
   (the kernel's high-water mark is reset before each: /proc/self/clear_refs). Training covers
   the normal period (all but the last day); scoring covers every window of the history, so
   the score and alerts stages see all the events, not just the last day.
4. Delta update on 10% new data against full retraining, on the function with the most normal
   windows, for each window size: a model trained on the first 90% of its normal period is
   updated (lstm_ae_update) with the windows of the last 10%; full retraining trains a new model
   (lstm_ae_train) on all of it. Same options for both (the pipeline's hidden size and learning
   rate, a fixed number of epochs, no window cap, no early stop), so the ratio is what the data
   size costs. Both models' mean error on the new windows shows the update learned them.
Prints JSON lines (for tests/bench/run.sh's summary) and a table to stderr.
"""
import argparse
import datetime
import json
import os
import sqlite3
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FNGUARD_BUILD", "build")
EXT = os.path.join(ROOT, BUILD, "fnguard")
T0 = time.time()
# sql/pipeline.sql's sections ("-- ---- name") -> the stages reported.
STAGE_OF_SECTION = {"setup": "features", "features": "features", "windows": "features", "models": "train",
                    "delta": "update", "thresholds": "thresholds", "scoring": "score", "alerts": "alerts",
                    "views": "alerts", "end": "end"}


def log(msg):
    print("e2e [%6.1fs] %s" % (time.time() - T0, msg), file=sys.stderr, flush=True)


def emit(**kw):
    print(json.dumps(dict({"bench": "e2e"}, **kw)), flush=True)


def iso_ms(s):
    dt = datetime.datetime.strptime(s.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S")
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def statements(path):
    """The SQL statements of a script, with the section ('-- ---- name') each belongs to."""
    section, buf, out = "setup", "", []
    for line in open(path):
        s = line.strip()
        if s.startswith("-- ---- ") and not buf.strip():
            section = s[8:].split()[0].rstrip(":")
            continue
        if not buf.strip() and (s.startswith(".") or not s or s.startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append((section, buf))
            buf = ""
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--scale", type=float, default=3.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="7 days at scale 0.5 (a smoke run)")
    ap.add_argument("--update-epochs", type=int, default=5)
    args = ap.parse_args()
    if args.quick:
        args.days, args.scale = 7, 0.5
    tag = "%dd-s%d-x%g" % (args.days, args.seed, args.scale)
    tb = os.path.join(ROOT, BUILD, "testbed-" + tag)
    db_path = os.path.join(ROOT, BUILD, "bench-e2e.db")

    if not os.path.exists(os.path.join(tb, "manifest.json")):
        log("generating the testbed %s (not a timed stage)" % os.path.relpath(tb, ROOT))
        cmd = [sys.executable, os.path.join(ROOT, "fixtures/testbed/gen.py"), "--out", tb, "--days",
               str(args.days), "--seed", str(args.seed), "--scale", str(args.scale), "--quiet"]
        if os.path.exists(tb):
            cmd.append("--force")
        subprocess.run(cmd, check=True)
    manifest = json.load(open(os.path.join(tb, "manifest.json")))
    train_to = iso_ms(manifest["schedule"]["attack_period"]["start"])

    # ---- import, in its own process
    for suffix in ("", "-journal", "-wal"):
        if os.path.exists(db_path + suffix):
            os.remove(db_path + suffix)
    log("import: sql/import.sql <- %s" % os.path.relpath(tb, ROOT))
    with open(os.path.join(ROOT, "sql/import.sql")) as f:
        r = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", "sqlite3", "-bail", db_path,
                            "-cmd", ".load " + EXT, "-cmd", ".param set :root " + tb],
                           stdin=f, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("e2e: import failed:\n" + r.stderr)
    wall, rss = [line.split()[1:] for line in r.stderr.splitlines() if line.startswith("TIME ")][-1]
    stages = [("import", float(wall), round(int(rss) / 1024, 1))]
    log(r.stdout.strip())

    db = sqlite3.connect(db_path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    n_events = db.execute("SELECT count(*) FROM function_events").fetchone()[0]
    log("%d function events" % n_events)
    db.execute("CREATE TABLE settings(key TEXT PRIMARY KEY, value)")
    db.executemany("INSERT INTO settings VALUES (?, ?)",
                   [("train_to", train_to), ("mode", "offline")])
    db.execute("INSERT INTO settings SELECT 'score_from', min(ts) FROM function_events")

    # ---- the pipeline, section by section
    cur_stage, t_stage = None, None
    timing = {}
    for section, sql in statements(os.path.join(ROOT, "sql/pipeline.sql")) + [("end", "SELECT 1;")]:
        stage = STAGE_OF_SECTION.get(section, section)
        if stage != cur_stage:
            if cur_stage is not None:
                w, peak = time.perf_counter() - t_stage, peak_mib()
                prev = timing.get(cur_stage, (0.0, 0.0))
                timing[cur_stage] = (prev[0] + w, max(prev[1], peak))
                log("%-10s %7.1f s  peak %6.1f MiB" % (cur_stage, w, peak))
            cur_stage, t_stage = stage, time.perf_counter()
            reset_peak()
        if stage == "end":
            break
        rows = db.execute(sql).fetchall()
        if sql.lstrip().upper().startswith("SELECT PRINTF"):
            log(rows[0][0])
    for stage in ("features", "train", "update", "thresholds", "score", "alerts"):
        if stage in timing:
            stages.append((stage, round(timing[stage][0], 2), timing[stage][1]))
    info = dict(zip(("models", "train_windows", "scored", "alerts"), db.execute(
        "SELECT (SELECT count(*) FROM models), (SELECT sum(n_windows) FROM models),"
        " (SELECT count(*) FROM window_scores), (SELECT count(*) FROM alerts)").fetchone()))
    for name, wall, rss in stages:
        emit(stage=name, function_events=n_events, seconds=wall, peak_rss_mib=rss)
    emit(stage="total", function_events=n_events, seconds=round(sum(s[1] for s in stages), 1),
         peak_rss_mib=max(s[2] for s in stages), **info)

    # ---- delta update on 10% new data vs full retraining
    opts = json.loads(db.execute("SELECT value FROM settings WHERE key = 'options'").fetchone()[0])
    fixed = {"hidden": opts.get("hidden", 32), "lr": opts.get("lr", 0.01), "epochs": args.update_epochs,
             "patience": 1000, "max_windows": 0, "seed": 42, "progress": 0}
    fn, t_from, t_to = db.execute(
        "SELECT m.scope_key, m.train_from, m.train_to FROM models m JOIN parts p ON p.scope_key = m.scope_key"
        " JOIN detect_events e ON e.part = p.part AND e.ts >= m.train_from AND e.ts < m.train_to"
        " WHERE m.detector = 's' GROUP BY m.name ORDER BY count(*) DESC LIMIT 1").fetchone()
    t_new = t_from + (t_to - t_from) * 9 // 10
    log("delta update vs full retraining: %s, new data = the last 10%% of its normal period" % fn)
    q = ("SELECT w.window FROM parts p CROSS JOIN win_%s w ON w.part = p.part WHERE p.scope_key = ?"
         " AND w.first_order >= ? AND w.last_order < ?")
    for det in ("s", "m", "l"):
        o = dict(fixed)
        o["window"] = db.execute("SELECT window_size FROM models WHERE name = ?", (fn + "/" + det,)).fetchone()[0]
        oj = json.dumps(o)
        n_old, = db.execute("SELECT count(*) FROM (%s)" % (q % det), (fn, t_from, t_new)).fetchone()
        n_new, = db.execute("SELECT count(*) FROM (%s)" % (q % det), (fn, t_new, t_to)).fetchone()
        base, = db.execute("SELECT lstm_ae_train(window, ?) FROM (%s)" % (q % det), (oj, fn, t_from, t_new)).fetchone()
        t = time.perf_counter()
        full, = db.execute("SELECT lstm_ae_train(window, ?) FROM (%s)" % (q % det), (oj, fn, t_from, t_to)).fetchone()
        t_full = time.perf_counter() - t
        uo = json.dumps({"epochs": args.update_epochs, "lr": fixed["lr"], "patience": 1000, "progress": 0})
        t = time.perf_counter()
        upd, = db.execute("SELECT lstm_ae_update(?, window, ?) FROM (%s)" % (q % det), (base, uo, fn, t_new, t_to)).fetchone()
        t_upd = time.perf_counter() - t
        err = {}
        for name, m in (("base", base), ("full", full), ("update", upd)):
            err[name], = db.execute("SELECT avg(lstm_ae_score(?, window)) FROM (%s)" % (q % det),
                                    (m, fn, t_new, t_to)).fetchone()
        log("  %s: %d old + %d new windows; full retraining %.1f s, delta update %.1f s (%.1fx faster);"
            " mean error on the new windows: before %.4f, full %.4f, update %.4f"
            % (det, n_old, n_new, t_full, t_upd, t_full / t_upd, err["base"], err["full"], err["update"]))
        emit(stage="delta_update", detector=det, function=fn, old_windows=n_old, new_windows=n_new,
             epochs=args.update_epochs, full_retrain_s=round(t_full, 2), update_s=round(t_upd, 2),
             speedup=round(t_full / t_upd, 2), err_before=round(err["base"], 5),
             err_full=round(err["full"], 5), err_update=round(err["update"], 5))
    db.close()
    print("", file=sys.stderr)
    print("%-12s %10s %14s" % ("stage", "wall (s)", "peak RSS (MiB)"), file=sys.stderr)
    for name, wall, rss in stages:
        print("%-12s %10.1f %14.1f" % (name, wall, rss), file=sys.stderr)
    print("%d function events, %d models, %d windows scored, %d alerts"
          % (n_events, info["models"], info["scored"], info["alerts"]), file=sys.stderr)


if __name__ == "__main__":
    main()
