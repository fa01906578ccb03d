"""What tests/py/test_rules.py, test_docs.py and test_notebooks.py share: paths, the extension,
running SQL files like the sqlite3 CLI does, and a small case database.

The case database is the 2-day testbed (fixtures/testbed/gen.py --days 2 --seed 1) taken through
sql/import.sql, sql/rules/all.sql and sql/pipeline.sql, in the order an analyst would (the rules
before the pipeline, which must then accept the empty alerts table they create). It is built once
and cached in $BUILD/testcase/<hash>/, where the hash covers every input (the generator, the SQL
files, the extension's bytes, the sqlite3 CLI's version), so the three tests of a run and later
runs share it, and any change to an input builds it again. Tests never write to it: they copy it.
FNGUARD_CASE_DB=path uses that database instead (it must have been through import and pipeline).
"""
import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FNGUARD_BUILD", "build")
EXT = os.path.join(ROOT, BUILD, "fnguard")
SHARED = os.path.join(ROOT, "..", "shared")


def connect(path=":memory:"):
    """A connection with the extension loaded."""
    db = sqlite3.connect(path)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    db.enable_load_extension(False)
    return db


def script_text(path):
    """The SQL of a file as the sqlite3 CLI would run it: `.read FILE` lines replaced by that
    file (paths relative to the repository root), other dot-commands dropped."""
    out = []
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*\.read\s+(\S+)", line)
            if m:
                out.append(script_text(m.group(1)))
            elif not line.lstrip().startswith("."):
                out.append(line)
    return "".join(out)


def cli(db_path, script, params=None, load=True, timeout=600):
    """Runs an SQL file through the sqlite3 CLI from the repository root (as the README does);
    returns stdout; raises RuntimeError with stderr when it fails."""
    args = ["sqlite3", "-batch", db_path]
    if load:
        args[2:2] = ["-cmd", ".load " + EXT]
    for k, v in (params or {}).items():
        args[-1:-1] = ["-cmd", ".param set :%s '%s'" % (k, str(v).replace("'", "''"))]
    with open(os.path.join(ROOT, script), "rb") as f:
        p = subprocess.run(args, stdin=f, cwd=ROOT, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s on %s failed (%d):\n%s" % (script, db_path, p.returncode,
                                                          p.stderr.decode(errors="replace")))
    return p.stdout.decode()


def import_logs(db_path, root=None, cloudtrail=None):
    """sql/import.sql into db_path: a testbed directory (root), or CloudTrail files only."""
    params = {}
    if cloudtrail is not None:
        params["cloudtrail"] = cloudtrail
        params["root"] = os.path.join(ROOT, "fixtures", "ingest", "empty")
    if root is not None:
        params["root"] = root
    return cli(db_path, "sql/import.sql", params)


def _inputs_hash():
    h = hashlib.sha256()
    files = ["fixtures/testbed/gen.py", "sql/schema.sql", "sql/import.sql", "sql/pipeline.sql"]
    files += sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "sql", "rules", "*.sql")))
    for rel in files:
        h.update(rel.encode())
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(f.read())
    with open(EXT + ".so", "rb") as f:
        h.update(f.read())
    h.update(subprocess.run(["sqlite3", "--version"], capture_output=True).stdout)
    return h.hexdigest()[:16]


def log(msg):
    print("casedb: " + msg, file=sys.stderr, flush=True)


def case_db():
    """Path of the cached case database (build it if needed). Do not write to it: copy_case()."""
    if os.environ.get("FNGUARD_CASE_DB"):
        return os.environ["FNGUARD_CASE_DB"]
    top = os.path.join(ROOT, BUILD, "testcase")
    os.makedirs(top, exist_ok=True)
    key = _inputs_hash()
    final = os.path.join(top, key)
    with open(os.path.join(top, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)        # two test runs at once build it once
        if not os.path.exists(os.path.join(final, "case.db")):
            t0 = time.time()
            # Cases of older inputs: keep the newest two (a run with them may still be going on).
            for old in sorted(glob.glob(os.path.join(top, "*")), key=os.path.getmtime, reverse=True)[2:]:
                shutil.rmtree(old, ignore_errors=True)
            work = final + ".tmp"
            shutil.rmtree(work, ignore_errors=True)          # left by an interrupted build
            os.makedirs(work)
            tb = os.path.join(work, "testbed")
            subprocess.run(["/usr/bin/python3", "fixtures/testbed/gen.py", "--out", tb, "--days", "2",
                            "--seed", "1", "--quiet"], cwd=ROOT, check=True)
            db = os.path.join(work, "case.db")
            import_logs(db, root=tb)
            cli(db, "sql/rules/all.sql", load=False)
            cli(db, "sql/pipeline.sql")
            os.rename(work, final)
            log("built the case database %s in %.1f s" % (os.path.relpath(final, ROOT), time.time() - t0))
    return os.path.join(final, "case.db")


def labels_path():
    """labels.json of the cached case's testbed (None with FNGUARD_CASE_DB)."""
    if os.environ.get("FNGUARD_CASE_DB"):
        return os.environ.get("FNGUARD_LABELS")
    return os.path.join(os.path.dirname(case_db()), "testbed", "labels.json")


def copy_case(dest_dir, name="case.db"):
    dest = os.path.join(dest_dir, name)
    shutil.copyfile(case_db(), dest)
    return dest


@contextlib.contextmanager
def timed(what):
    t0 = time.time()
    yield
    log("%s: %.1f s" % (what, time.time() - t0))
