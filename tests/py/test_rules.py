#!/usr/bin/python3
"""The rule pack (sql/rules/): every rule fires on its test records and stays quiet on the near
misses; `findings` unites rule hits and anomaly alerts; the rules run on a real case and on the
Stratus Red Team detonations (../shared/realdata; that part is skipped when it is absent).

1. fixtures/rules/<rule>.json (what fixtures/rules/make_fixtures.py writes: checked) through
   sql/import.sql and sql/rules/all.sql: records with eventID fire-* are reported by the rule (in
   the event_ids of its rows, and each row's ref is one of them), quiet-* ones are not; a few
   fields are checked exactly (severity, function, target).
   The settings (rules_baseline_to as ISO date and unix ms, rules_baseline_days,
   rules_loop_calls, rules_loop_gap_s) change what the rules report.
2. `findings` on an empty case (no alerts table before all.sql), with one alert added by hand,
   and all.sql's alerts table equals sql/pipeline.sql's column for column.
3. The cached 2-day testbed case (tests/py/casedb.py: import → rules → pipeline): findings holds
   rule hits and anomaly alerts; every rule but logging_tampered fires there (the testbed never
   touches logging) and every hit above low severity names a labelled attack record; re-running
   all.sql after the pipeline changes nothing; every query of sql/examples.sql runs.
4. The Stratus Red Team detonations: which rules fire on which technique (the mapping below).
Exit 0 on success, 1 on failure.
"""
import glob
import json
import os
import re
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import casedb  # noqa: E402

ROOT = casedb.ROOT
RULES = ["function_code_changed", "function_exposed", "iam_write_by_function", "secret_first_read",
         "logging_tampered", "outside_lambda", "invocation_loop"]
# Exact expectations beyond fire/quiet: (rule, ref) -> {column: value}.
EXACT = {
    ("function_code_changed", "fire-code-1"): {"severity": "low", "function": "shop-cart", "target": "shop-cart"},
    ("function_code_changed", "fire-code-2"): {"severity": "high", "function": "shop-cart", "target": "shop-mailer"},
    ("function_code_changed", "fire-code-3"): {"severity": "medium", "target": "shop-mailer"},
    ("function_code_changed", "fire-code-5"): {"target": "shop-cart"},   # ARN with a qualifier
    ("function_exposed", "fire-exposed-2"): {"severity": "high", "function": "shop-mailer"},
    ("function_exposed", "fire-exposed-4"): {"target": "shop-common"},
    ("iam_write_by_function", "fire-iam-3"): {"function": "shop-cart"},  # stolen key, outside Lambda
    ("secret_first_read", "fire-secret-1"): {"severity": "medium", "target": "shop/stripe"},
    ("secret_first_read", "fire-secret-2"): {"severity": "high", "function": "shop-mailer", "target": "/"},
    ("secret_first_read", "fire-secret-3"): {"target": "/shop/admin-password"},
    ("secret_first_read", "fire-secret-4"): {"target": "shop/signing-key"},
    ("logging_tampered", "fire-log-3"): {"severity": "high"},
    ("logging_tampered", "fire-log-4"): {"severity": "high", "function": "shop-cart"},
    ("logging_tampered", "fire-log-5"): {"severity": "low", "function": "shop-mailer"},
    ("outside_lambda", "fire-out-1"): {"function": "shop-cart", "target": "198.51.100.23", "n_events": 2},
    ("invocation_loop", "fire-loop-1"): {"function": "shop-cart", "n_events": 6, "severity": "medium"},
}
# Which rules fire on which Stratus Red Team detonation; every other file: none.
STRATUS = {
    "aws.defense-evasion.cloudtrail-delete.json": {"logging_tampered"},
    "aws.defense-evasion.cloudtrail-event-selectors.json": {"logging_tampered"},
    "aws.defense-evasion.cloudtrail-stop.json": {"logging_tampered"},
    "aws.defense-evasion.dns-delete-logs.json": {"logging_tampered"},
    "aws.defense-evasion.vpc-remove-flow-logs.json": {"logging_tampered"},
    "aws.persistence.lambda-backdoor-function.json": {"function_exposed"},
    "aws.persistence.lambda-layer-extension.json": {"function_code_changed"},
    "aws.persistence.lambda-overwrite-code.json": {"function_code_changed"},
}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)
    return cond


def rows(db, sql, *args):
    cur = db.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def apply_rules(db):
    db.executescript(casedb.script_text("sql/rules/all.sql"))


def test_fixtures_current():
    """fixtures/rules/*.json are what fixtures/rules/make_fixtures.py writes (edit the script, rerun it)."""
    sys.path.insert(0, os.path.join(ROOT, "fixtures", "rules"))
    sys.dont_write_bytecode = True      # no __pycache__ in fixtures/
    import make_fixtures
    check(sorted(make_fixtures.FIXTURES) == sorted(RULES), "make_fixtures.py has a fixture per rule")
    for rule, records in make_fixtures.FIXTURES.items():
        want = json.dumps({"Records": records}, indent=1) + "\n"
        with open(os.path.join(ROOT, "fixtures", "rules", rule + ".json"), encoding="utf-8") as f:
            check(f.read() == want, "fixtures/rules/%s.json is out of date: rerun fixtures/rules/make_fixtures.py" % rule)


def test_fixtures(tmp):
    for rule in RULES:
        path = os.path.join("fixtures", "rules", rule + ".json")
        ids = [r["eventID"] for r in json.load(open(os.path.join(ROOT, path)))["Records"]]
        fire = {i for i in ids if i.startswith("fire-")}
        quiet = {i for i in ids if i.startswith("quiet-")}
        check(fire and quiet, "%s: the fixture has fire-* and quiet-* records" % rule)
        dbp = os.path.join(tmp, rule + ".db")
        casedb.import_logs(dbp, cloudtrail=path)
        casedb.cli(dbp, "sql/rules/all.sql", load=False)
        db = sqlite3.connect(dbp)
        hits = rows(db, "SELECT * FROM rule_%s" % rule)
        reported = set()
        for h in hits:
            reported |= set(json.loads(h["event_ids"]))
            check(h["ref"] in fire, "%s: ref %s is a fire-* record" % (rule, h["ref"]))
            check(h["rule"] == rule and h["severity"] in ("high", "medium", "low") and h["summary"]
                  and h["first_ts"] <= h["last_ts"] and h["n_events"] == len(json.loads(h["event_ids"])),
                  "%s: row %s is well formed: %r" % (rule, h["ref"], h))
        check(fire <= reported, "%s fires on %s (missing: %s)" % (rule, sorted(fire), sorted(fire - reported)))
        check(not (quiet & reported), "%s stays quiet on %s" % (rule, sorted(quiet & reported)))
        by_ref = {h["ref"]: h for h in hits}
        for (r, ref), want in EXACT.items():
            if r != rule:
                continue
            got = {k: by_ref.get(ref, {}).get(k) for k in want}
            check(got == want, "%s %s: %r, want %r" % (rule, ref, got, want))
        f = rows(db, "SELECT * FROM findings WHERE rule = ?", rule)
        check(len(f) == len(hits) and all(x["kind"] == "rule" for x in f),
              "%s: findings lists its %d hits" % (rule, len(hits)))
        db.close()
        print("ok   %s: %d row(s), fires on %d record(s), quiet on %d" % (rule, len(hits), len(fire), len(quiet)))


def test_settings(tmp):
    """The rules' settings (table settings) change what they report."""
    def count(rule, **settings):
        db = sqlite3.connect(os.path.join(tmp, rule + ".db"))   # left by test_fixtures
        db.execute("DELETE FROM settings WHERE key LIKE 'rules%'")
        db.executemany("INSERT INTO settings VALUES (?, ?)", settings.items())
        got = [r[0] for r in db.execute("SELECT n_events FROM rule_%s ORDER BY first_ts" % rule)]
        db.rollback()
        return got
    check(count("secret_first_read") == [1, 1, 1, 1, 1], "secret_first_read: default baseline (all but the last 24 h)")
    check(count("secret_first_read", rules_baseline_to="2026-01-08") == [], "rules_baseline_to as an ISO date")
    check(len(count("secret_first_read", rules_baseline_to=1767657600000)) == 5, "rules_baseline_to in unix ms")
    check(len(count("secret_first_read", rules_baseline_to="1767657600000")) == 5, "rules_baseline_to as digits")
    check(count("secret_first_read", rules_baseline_days=3) == [], "rules_baseline_days")
    check(count("invocation_loop") == [6], "invocation_loop: default 5 calls, 60 s gaps")
    check(count("invocation_loop", rules_loop_calls=7) == [], "rules_loop_calls")
    check(count("invocation_loop", rules_loop_calls=2, rules_loop_gap_s=3600) == [8, 5], "rules_loop_gap_s")
    print("ok   settings: rules_baseline_to (ISO, ms), rules_baseline_days, rules_loop_calls, rules_loop_gap_s")


def pipeline_alerts_columns():
    """Columns of sql/pipeline.sql's alerts table, from its CREATE statement."""
    text = open(os.path.join(ROOT, "sql", "pipeline.sql"), encoding="utf-8").read()
    m = re.search(r"CREATE TABLE IF NOT EXISTS alerts\(.*?\);", text, re.S)
    db = sqlite3.connect(":memory:")
    db.execute(m.group(0))
    return db.execute("PRAGMA table_info(alerts)").fetchall()


def test_findings_empty_case():
    db = sqlite3.connect(":memory:")
    apply_rules(db)     # no import, no pipeline: every table is created empty
    check(db.execute("SELECT count(*) FROM findings").fetchone()[0] == 0, "findings on an empty case is empty")
    check(db.execute("PRAGMA table_info(alerts)").fetchall() == pipeline_alerts_columns(),
          "all.sql's alerts table has sql/pipeline.sql's columns")
    db.execute("INSERT INTO alerts(id, function, part, first_ts, last_ts, n_events, vote_s, vote_m, vote_l, votes, "
               "explanation) VALUES (7, 'shop-cart', 'shop-cart', 1767780000000, 1767780060000, 12, 1, 0, 1, 2, "
               "'step 3: event ''iam:CreateUser'' was never seen in training')")
    got = rows(db, "SELECT * FROM findings")
    want = {"kind": "anomaly", "rule": "lstm_ae:s,l", "severity": "medium", "severity_level": 2,
            "function": "shop-cart", "ts": 1767780000000, "time": "2026-01-07T10:00:00Z", "n_events": 12,
            "summary": "step 3: event 'iam:CreateUser' was never seen in training", "ref": 7}
    check(len(got) == 1 and {k: got[0][k] for k in want} == want, "an alert in findings: %r" % got)
    apply_rules(db)     # again: idempotent, the alert stays
    check(db.execute("SELECT count(*) FROM findings").fetchone()[0] == 1, "all.sql runs twice")
    print("ok   findings on an empty case; alerts columns agree with sql/pipeline.sql")


def test_case(tmp):
    with casedb.timed("case database"):
        path = casedb.copy_case(tmp)
    db = sqlite3.connect(path)
    kinds = dict(db.execute("SELECT kind, count(*) FROM findings GROUP BY kind").fetchall())
    check(kinds.get("rule", 0) > 0 and kinds.get("anomaly", 0) > 0, "findings has rule hits and alerts: %r" % kinds)
    check(kinds.get("anomaly") == db.execute("SELECT count(*) FROM alerts").fetchone()[0],
          "every alert is in findings")
    fired = {r for (r,) in db.execute("SELECT DISTINCT rule FROM findings WHERE kind = 'rule'")}
    # The testbed's attacks never touch logging; every other rule has something to find.
    want = set(RULES) - {"logging_tampered"}
    check(fired == want, "the rules that fire on the testbed's attacks: %s, want %s" % (sorted(fired), sorted(want)))
    # On the testbed, rule hits are attacks: the labels name every eventID the attacks made.
    labels = json.load(open(casedb.labels_path())) if casedb.labels_path() else []
    attack_ids = set()
    for c in labels:
        if c.get("scenario") != "benign_drift":
            attack_ids |= set(c.get("event_ids") or [])
    hits = rows(db, "SELECT rule, severity, summary, event_ids FROM rule_function_code_changed UNION ALL "
                    "SELECT rule, severity, summary, event_ids FROM rule_function_exposed UNION ALL "
                    "SELECT rule, severity, summary, event_ids FROM rule_iam_write_by_function UNION ALL "
                    "SELECT rule, severity, summary, event_ids FROM rule_secret_first_read UNION ALL "
                    "SELECT rule, severity, summary, event_ids FROM rule_outside_lambda")
    for h in hits:
        ids = set(json.loads(h["event_ids"]))
        # Routine CI deploys (low) are legitimate; the poisoned-dependency deploys are labelled.
        if h["severity"] != "low" and labels:
            check(ids & attack_ids, "testbed: %s hit is an attack: %s" % (h["rule"], h["summary"]))
    before = rows(db, "SELECT * FROM findings ORDER BY kind, rule, ref")
    apply_rules(db)
    check(rows(db, "SELECT * FROM findings ORDER BY kind, rule, ref") == before, "all.sql after the pipeline: same findings")
    # sql/examples.sql: every query runs on the case.
    db.close()
    db = casedb.connect(path)
    n = 0
    for stmt in split_statements(open(os.path.join(ROOT, "sql", "examples.sql"), encoding="utf-8").read()):
        try:
            db.execute(stmt).fetchall()
            n += 1
        except sqlite3.Error as e:
            check(False, "sql/examples.sql: %s\n%s" % (e, stmt))
    check(n >= 5, "sql/examples.sql has queries (%d)" % n)
    print("ok   testbed case: %s; %d example queries run" % (kinds, n))


def split_statements(text):
    out, buf = [], ""
    for line in text.splitlines(keepends=True):
        if not buf and (line.startswith(".") or not line.strip()):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if re.sub(r"--[^\n]*", "", buf).strip().strip(";").strip():
                out.append(buf)
            buf = ""
    return out


def test_stratus():
    real = os.path.join(casedb.SHARED, "realdata", "stratus-detonation-logs")
    files = sorted(glob.glob(os.path.join(real, "*.json")))
    if not files:
        print("skip Stratus Red Team detonations: %s is absent" % os.path.normpath(real))
        return
    report = []
    for f in files:
        db = casedb.connect()
        db.executescript(open(os.path.join(ROOT, "sql", "schema.sql")).read())
        db.execute("INSERT OR IGNORE INTO cloudtrail SELECT * FROM cloudtrail_events(?)", (f,))
        apply_rules(db)
        got = {r for (r,) in db.execute("SELECT DISTINCT rule FROM findings")}
        name = os.path.basename(f)
        check(got == STRATUS.get(name, set()), "Stratus %s: rules %s, want %s" % (name, sorted(got), sorted(STRATUS.get(name, set()))))
        if got:
            report.append("%s -> %s" % (name[:-5], ", ".join(sorted(got))))
    print("ok   Stratus Red Team: %d detonations, %d fire a rule:\n       %s" % (len(files), len(report), "\n       ".join(report)))


def main():
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        test_fixtures_current()
        test_fixtures(tmp)
        test_settings(tmp)
        test_findings_empty_case()
        test_stratus()
        test_case(tmp)
    print("%s in %.1f s" % ("FAILED: %d check(s)" % len(failures) if failures else "all rule tests passed",
                            time.time() - t0))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
