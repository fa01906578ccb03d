#!/usr/bin/python3
"""Executes every notebook of notebooks/ headless (nbclient, a timeout per cell) against the small
case database of tests/py/casedb.py (2-day testbed → import → rules → pipeline, cached), and fails
on any cell error. Also checks that the committed notebooks carry no outputs.

Runs: triage.ipynb on the case, and on a copy without the rule views (it must create them as
TEMP views); evaluation.ipynb three times: with the testbed's labels and an eval.json shaped like
fixtures/testbed/eval.py's, with a flat one and no labels, and with neither (the "run make eval"
path). Both case files must be byte-identical afterwards (the notebooks open them read-only).
Outputs are discarded.
Exit 77 (skipped) when the Jupyter packages are missing: make deps-py installs them.
"""
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import casedb  # noqa: E402

NB_DIR = os.path.join(casedb.ROOT, "notebooks")
os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"   # quiet ipykernel's debugger warnings
CELL_TIMEOUT = 120

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    import ipykernel  # noqa: F401  (only: is it installed?)
    import pandas  # noqa: F401
    import matplotlib  # noqa: F401
    from jupyter_client.kernelspec import KernelSpecManager
except ImportError as e:
    print("skipped: %s (make deps-py installs python3-nbclient python3-ipykernel python3-pandas "
          "python3-matplotlib)" % e)
    sys.exit(77)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)
    return cond


def fake_eval(labels_path, nested):
    """A build/eval.json for this testbed's campaigns with made-up numbers (the notebook's reading
    and plotting is under test, not the numbers). nested: the shape fixtures/testbed/eval.py
    writes (per campaign a dict per detector; "overall" per detector; run and benign_drift);
    else flat rows (one per campaign and detector) and a single "overall"."""
    rows, dets = [], ["s", "m", "l", "combined", "baseline"]
    for i, c in enumerate(json.load(open(labels_path))):
        if c["scenario"] == "benign_drift":
            continue
        per = {}
        for k, det in enumerate(dets):
            hit = (i + k) % 3 != 0
            per[det] = {"detected": hit, "time_to_detect_s": 60.0 * (i + k) if hit else None,
                        "precision": round(0.5 + 0.01 * i, 3) if hit else None, "recall": round(0.3 + 0.02 * k, 3),
                        "f1": round(0.4 + 0.01 * k, 3), "tp": i, "fp": k, "fn": 1}
        base = {"campaign_id": c["campaign_id"], "app": c["app"], "function": c["function"],
                "scenario": c["scenario"], "intensity": c["intensity"]}
        if nested:
            rows.append(dict(base, labelled_events=10 + i, detectors=per, **{k: per["combined"][k] for k in
                             ("detected", "time_to_detect_s", "precision", "recall", "f1")}))
        else:
            rows += [dict(base, detector=d, **m) for d, m in per.items()]
    if not nested:
        return {"scenarios": rows, "overall": {"normal_windows": 9000, "false_alarms": 45, "false_alarm_rate": 0.005}}
    overall = {d: {"windows": 3900, "positive_windows": 2900, "normal_windows": 1000, "false_alarms": 10 * k,
                   "false_alarm_rate": 0.01 * k, "false_alarms_per_day": 10.0 * k, "precision": 0.9, "recall": 0.3,
                   "f1": 0.45} for k, d in enumerate(dets)}
    overall["combined"].update(alerts=35, false_alerts=5, false_alerts_per_day=5.0, labelled_events=2515, event_recall=0.54)
    return {"run": {"days": 2, "seed": 1, "scale": 0.2, "attack_days": 1, "vote": 1, "testbed": "build/none",
                    "db": "build/none.db", "function_events": 6738, "models": 50},
            "scenarios": rows, "overall": overall,
            "benign_drift": {"function": "airline-ConfirmBooking", "deploy": "2026-01-06T10:03:33Z",
                             "new_call": "dynamodb:PutItem airline-BookingHistory", "before": {"alerts": 0},
                             "after": {"alerts": 0}}}


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(path, env):
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v is not None})
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
    t0 = time.time()
    try:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": NB_DIR}})
        client.execute()
        ok = True
    except CellExecutionError as e:
        ok = check(False, "%s: %s" % (os.path.basename(path), str(e)[-3000:]))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    text = "\n".join(o.get("text", "") if o.get("output_type") == "stream" else
                     o.get("data", {}).get("text/plain", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return ok, images, text, time.time() - t0


def main():
    t0 = time.time()
    if os.environ.get("SANITIZE") == "1":
        # The notebooks are Python over the SQL the other tests already run under ASan; a Jupyter
        # kernel with the sanitizer runtimes preloaded adds minutes and tests nothing more.
        print("skipped under SANITIZE=1 (make test runs it)")
        sys.exit(77)
    notebooks = sorted(glob.glob(os.path.join(NB_DIR, "*.ipynb")))
    check(len(notebooks) >= 2, "notebooks/ has the notebooks (%d)" % len(notebooks))
    if "python3" not in KernelSpecManager().find_kernel_specs():
        print("skipped: no 'python3' Jupyter kernel (python3-ipykernel provides it)")
        sys.exit(77)
    for p in notebooks:  # committed without outputs, so the repository stays small and diffable
        nb = nbformat.read(p, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and (c.get("outputs") or c.get("execution_count"))]
        check(not dirty, "%s is committed with outputs in cells %s (clear them)" % (os.path.basename(p), dirty))
        check(os.path.getsize(p) < 64000, "%s is small (%d bytes)" % (os.path.basename(p), os.path.getsize(p)))
    with casedb.timed("case database"):
        casedb.case_db()
    labels = casedb.labels_path()
    with tempfile.TemporaryDirectory() as tmp:
        db = casedb.copy_case(tmp)
        ext = os.path.join(casedb.ROOT, casedb.BUILD, "fnguard")
        base = {"FNGUARD_DB": db, "FNGUARD_EXT": ext}
        none = os.path.join(tmp, "none.json")
        # The same case without the rule views: the notebooks create them as TEMP views.
        bare = os.path.join(tmp, "bare.db")
        shutil.copyfile(db, bare)
        con = sqlite3.connect(bare)
        for (view,) in con.execute("SELECT name FROM sqlite_schema WHERE type = 'view' AND "
                                   "(name LIKE 'rule%' OR name IN ('findings', 'ct_calls'))").fetchall():
            con.execute("DROP VIEW %s" % view)
        con.commit()
        con.close()
        digests = {p: digest(p) for p in (db, bare)}
        # (notebook, environment, text it must print, figures it must draw)
        runs = [("triage.ipynb", base, ["alerts in", "function:", "the views in the case"], 5),
                ("triage.ipynb", dict(base, FNGUARD_DB=bare), ["TEMP views"], 5)]
        if labels:     # (none with FNGUARD_CASE_DB and no FNGUARD_LABELS)
            for nested in (True, False):
                path = os.path.join(tmp, "eval-%s.json" % ("nested" if nested else "flat"))
                json.dump(fake_eval(labels, nested), open(path, "w"))
                if nested:
                    runs.append(("evaluation.ipynb", dict(base, FNGUARD_EVAL=path, FNGUARD_LABELS=labels),
                                 ["campaigns x 5 detectors", "caught by an alert", "benign drift:"], 5))
                else:
                    runs.append(("evaluation.ipynb", dict(base, FNGUARD_EVAL=path, FNGUARD_LABELS=None),
                                 ["campaigns x 5 detectors"], 4))
        runs.append(("evaluation.ipynb", dict(base, FNGUARD_EVAL=none, FNGUARD_LABELS=None), ["run `make eval`"], 2))
        for name, env, expect, figures in runs:
            ok, images, text, secs = run(os.path.join(NB_DIR, name), env)
            if ok:
                missing = [e for e in expect if e not in text]
                check(not missing, "%s printed %s" % (name, missing))
                check(images >= figures, "%s drew %d figures, want %d" % (name, images, figures))
                print("ok   %s (%s): %d figures, %.1f s" % (
                    name, ", ".join("%s=%s" % (k[8:].lower(), os.path.basename(v) if v else "-")
                                    for k, v in env.items() if k != "FNGUARD_EXT"), images, secs))
        for p, d in digests.items():
            check(digest(p) == d, "the notebooks left the case %s unchanged (they open it read-only)" % os.path.basename(p))
    print("%s in %.1f s" % ("FAILED: %d check(s)" % len(failures) if failures else "all notebooks ran",
                            time.time() - t0))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
