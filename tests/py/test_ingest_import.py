#!/usr/bin/python3
"""Ingestion properties the SQL golden tests cannot show (they run in one :memory: session):

- sql/import.sql is all or nothing: a failing import leaves no rows behind, in a database file;
- a database file whose schema calls the file-reading functions (a view, a trigger) cannot read
  files when an analyst opens it: "unsafe use of virtual table";
- a truly empty directory (git cannot hold one) gives zero rows; a file the process may not read
  is an error naming it (skipped when running as root, which reads anything).

Run by tests/run-tests.sh with FNGUARD_BUILD set; stdlib only.
"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FNGUARD_BUILD", "build")
EXT = os.path.join(ROOT, BUILD, "fnguard")


def connect(path=":memory:"):
    db = sqlite3.connect(path)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    return db


def sqlite_cli(db, *params, stdin_file):
    cmd = ["sqlite3", db, "-cmd", ".load " + EXT]
    for name, value in params:
        cmd += ["-cmd", ".param set %s %s" % (name, value)]
    with open(stdin_file) as f:
        return subprocess.run(cmd, stdin=f, cwd=ROOT, capture_output=True, text=True)


def invocation_lines(rid, start, end, ms):
    """A Lambda invocation's START, END and REPORT lines (times: ISO with milliseconds)."""
    return ("%sZ START RequestId: %s Version: $LATEST\n%sZ END RequestId: %s\n"
            "%sZ REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms"
            "\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t\n" % (start, rid, end, rid, end, rid, ms, ms))


def import_root(tmp, root, name):
    """sql/import.sql on the directory root into tmp/name.db: (CLI result, connection)."""
    case = os.path.join(tmp, name + ".db")
    r = sqlite_cli(case, (":root", root), stdin_file=os.path.join(ROOT, "sql/import.sql"))
    return r, sqlite3.connect(case)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        # --- all or nothing ---------------------------------------------------------------------
        case = os.path.join(tmp, "case.db")
        r = sqlite_cli(case, (":cloudtrail", "fixtures/ingest/cloudtrail"),
                       (":lambda", "fixtures/ingest/lambda"),
                       (":xray", "fixtures/ingest/xray-bad"), stdin_file=os.path.join(ROOT, "sql/import.sql"))
        check(r.returncode != 0, "a failing import exits with an error")
        check("xray_segments: fixtures/ingest/xray-bad/bad-document.json: trace" in r.stderr,
              "... which names the bad file (%s)" % r.stderr.strip().splitlines()[-1])
        db = sqlite3.connect(case)
        counts = [db.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
                  for t in ("cloudtrail", "lambda_logs", "xray", "function_events")]
        check(counts == [0, 0, 0, 0], "nothing was imported (rows: %s)" % counts)
        db.close()
        r = sqlite_cli(case, (":cloudtrail", "fixtures/ingest/cloudtrail"),
                       (":lambda", "fixtures/ingest/lambda"), (":xray", "fixtures/ingest/xray"),
                       stdin_file=os.path.join(ROOT, "sql/import.sql"))
        check(r.returncode == 0 and "19 function events" in r.stdout, "the same import, fixed, succeeds")

        # --- a hostile database: views and triggers must not read files -------------------------
        hostile = os.path.join(tmp, "hostile.db")
        db = connect(hostile)
        secret = os.path.join(ROOT, "fixtures/ingest/cloudtrail")
        db.executescript("""
            CREATE VIEW v_ct AS SELECT * FROM cloudtrail_events('%s');
            CREATE VIEW v_ll AS SELECT * FROM lambda_log_events('%s');
            CREATE VIEW v_xr AS SELECT * FROM xray_segments('%s');
            CREATE TABLE t(x); CREATE TABLE loot(v);
            CREATE TRIGGER tr AFTER INSERT ON t BEGIN
              INSERT INTO loot SELECT record FROM cloudtrail_events('%s');
            END;
        """ % (secret, secret, secret, secret))
        db.close()
        db = connect(hostile)  # the analyst opens it
        for view in ("v_ct", "v_ll", "v_xr"):
            try:
                db.execute("SELECT count(*) FROM %s" % view).fetchall()
                check(False, "view %s is refused" % view)
            except sqlite3.OperationalError as e:
                check("unsafe use of virtual table" in str(e), "view %s is refused: %s" % (view, e))
        try:
            db.execute("INSERT INTO t VALUES (1)")
            check(False, "the trigger is refused")
        except sqlite3.OperationalError as e:
            check("unsafe use of virtual table" in str(e), "the trigger is refused: %s" % e)
        check(db.execute("SELECT count(*) FROM loot").fetchone()[0] == 0, "nothing was read")
        # the analyst's own statements work
        n = db.execute("SELECT count(*) FROM cloudtrail_events(?)", (secret,)).fetchone()[0]
        check(n == 7, "direct use works (%d rows)" % n)

        # --- empty directory, unreadable file --------------------------------------------------
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        for fn in ("cloudtrail_events", "lambda_log_events", "xray_segments"):
            n = db.execute("SELECT count(*) FROM %s(?)" % fn, (empty,)).fetchone()[0]
            check(n == 0, "%s(empty directory) gives no rows" % fn)
        if os.geteuid() != 0:
            locked = os.path.join(tmp, "locked.json")
            with open(locked, "w") as f:
                f.write("[]")
            os.chmod(locked, 0)
            try:
                db.execute("SELECT count(*) FROM cloudtrail_events(?)", (locked,)).fetchall()
                check(False, "an unreadable file is an error")
            except sqlite3.OperationalError as e:
                check("cannot open '%s': Permission denied" % locked in str(e), "unreadable: %s" % e)
        else:
            print("(running as root: the unreadable-file check is skipped)")
        db.close()

        # --- a call X-Ray did not trace: attributed by time, placed inside its invocation -------
        # CloudTrail says 10:30:00 (the whole second); the invocation STARTs at .400. Sorting by
        # the raw second would put the call before the START that made it.
        late = os.path.join(tmp, "late")
        logdir = os.path.join(late, "lambda", "shop", "shop-late", "2026", "01", "05")
        os.makedirs(logdir)
        os.makedirs(os.path.join(late, "cloudtrail"))
        rid = "bbbbbbbb-1111-4111-8111-000000000009"
        with open(os.path.join(logdir, "[$LATEST]00000000000000000000000000000009.log"), "w") as f:
            f.write(invocation_lines(rid, "2026-01-05T10:30:00.400", "2026-01-05T10:30:00.900", 500))
        ident = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/shop-LateRole/shop-late",
                 "accountId": "111122223333", "accessKeyId": "ASIAQXAMPLELATE00001",
                 "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/shop-LateRole",
                                                      "userName": "shop-LateRole"}}}
        ua = "Boto3/1.34.34 exec-env/AWS_Lambda_python3.12"
        machine = "arn:aws:states:us-east-1:111122223333:stateMachine:shop-Orders"
        records = [
            {"eventVersion": "1.09", "userIdentity": ident, "eventTime": "2026-01-05T10:30:00Z",
             "eventSource": "states.amazonaws.com", "eventName": "StartExecution", "awsRegion": "us-east-1",
             "sourceIPAddress": "3.80.10.21", "userAgent": ua,
             "requestParameters": {"stateMachineArn": machine, "name": "6f0e7c52-94a5-4c9e-9bd5-0d5c1a1d2e3f"},
             "requestID": "SFNREQ0000000009", "eventID": "e0000000-0000-4000-8000-000000000099",
             "eventType": "AwsApiCall", "recipientAccountId": "111122223333"}]
        # A second call in the same second, whose random event id sorts after the first's: the
        # two tie at START + 1 ms and come in a fixed order (event, resource), not the ids'.
        records.append(dict(records[0], eventSource="dynamodb.amazonaws.com", eventName="PutItem",
                            requestParameters={"tableName": "shop-Orders"}, requestID="DDBREQ0000000009",
                            eventID="f0000000-0000-4000-8000-000000000099"))
        with open(os.path.join(late, "cloudtrail", "late.json"), "w") as f:
            json.dump({"Records": records}, f)
        r, db = import_root(tmp, late, "late")
        check(r.returncode == 0, "import of an untraced call (%s)" % r.stderr.strip())
        rows = db.execute("SELECT event, ts, attribution, resource FROM function_events"
                          " WHERE function = 'shop-late' ORDER BY id").fetchall()
        check([r[0] for r in rows] == ["lambda:START", "dynamodb:PutItem", "states:StartExecution", "lambda:REPORT"],
              "the untraced calls sort between their START and REPORT, ties by event (%s)" % [r[0] for r in rows])
        check(all(x[1] == rows[0][1] + 1 and x[2] == "time" for x in rows[1:3]),
              "... at START + 1 ms, attributed by time (%s)" % (rows[1:3],))
        check(rows[2][3] == machine, "StartExecution's resource is the state machine, not the"
              " execution's random name (%s)" % rows[2][3])
        db.close()

        # --- two invocations in one second, one traced: the untraced call is the untraced one's --
        # A (traced, .100-.400) overlaps CloudTrail's second more than B (untraced, .800-.950),
        # but A's own call is in its trace, so the call X-Ray did not record was B's.
        busy = os.path.join(tmp, "busy")
        logdir = os.path.join(busy, "lambda", "shop", "shop-late", "2026", "01", "05")
        os.makedirs(logdir)
        os.makedirs(os.path.join(busy, "cloudtrail"))
        os.makedirs(os.path.join(busy, "xray"))
        ra, rb = "bbbbbbbb-1111-4111-8111-00000000000a", "bbbbbbbb-1111-4111-8111-00000000000b"
        with open(os.path.join(logdir, "[$LATEST]0000000000000000000000000000000a.log"), "w") as f:
            for rid, t0, t1 in ((ra, "00.100", "00.400"), (rb, "00.800", "00.950")):
                f.write(invocation_lines(rid, "2026-01-05T10:31:" + t0, "2026-01-05T10:31:" + t1, 100))
        t = 1767609060  # 2026-01-05T10:31:00Z
        arn = "arn:aws:lambda:us-east-1:111122223333:function:shop-late"
        trace = "1-695b9204-00000000000000000000000a"
        docs = [{"id": "a0000000000000a1", "name": "shop-late", "start_time": t + 0.1, "end_time": t + 0.4,
                 "trace_id": trace, "parent_id": "a0000000000000a0", "origin": "AWS::Lambda",
                 "aws": {"request_id": ra}, "resource_arn": arn},
                {"id": "a0000000000000a2", "name": "shop-late", "start_time": t + 0.1, "end_time": t + 0.4,
                 "trace_id": trace, "parent_id": "a0000000000000a1", "origin": "AWS::Lambda::Function",
                 "resource_arn": arn, "aws": {"function_arn": arn},
                 "subsegments": [{"id": "a0000000000000a3", "name": "Invocation", "start_time": t + 0.1,
                                  "end_time": t + 0.4,
                                  "subsegments": [{"id": "a0000000000000a4", "name": "SFN", "namespace": "aws",
                                                   "start_time": t + 0.2, "end_time": t + 0.25,
                                                   "aws": {"operation": "StartExecution",
                                                           "region": "us-east-1",
                                                           "request_id": "SFNREQ000000000A"}},
                                                  {"id": "a0000000000000a5", "name": "DynamoDB", "namespace": "aws",
                                                   "start_time": t + 0.3, "end_time": t + 0.32,
                                                   "aws": {"operation": "PutItem", "region": "us-east-1",
                                                           "table_name": "shop-Orders",
                                                           "request_id": "DDBREQ000000000A"}}]}]}]
        with open(os.path.join(busy, "xray", "traces.json"), "w") as f:
            json.dump({"Traces": [{"Id": trace, "Segments": [{"Id": d["id"], "Document": json.dumps(d)}
                                                             for d in docs]}]}, f)
        records = [dict(records[0], requestID="SFNREQ000000000" + k,
                        eventID="e0000000-0000-4000-8000-0000000000a" + k,
                        eventTime="2026-01-05T10:31:00Z") for k in ("A", "B")] + [
            dict(records[1], requestID="DDBREQ000000000" + k, eventID="f0000000-0000-4000-8000-0000000000a" + k,
                 eventTime="2026-01-05T10:31:00Z") for k in ("A", "B")]
        with open(os.path.join(busy, "cloudtrail", "busy.json"), "w") as f:
            json.dump({"Records": records}, f)
        r, db = import_root(tmp, busy, "busy")
        check(r.returncode == 0, "import of a traced and an untraced invocation (%s)" % r.stderr.strip())
        got = dict(db.execute("SELECT request_id, flow || ' ' || attribution FROM function_events"
                              " WHERE event = 'states:StartExecution'").fetchall())
        check(got == {"SFNREQ000000000A": ra + " xray", "SFNREQ000000000B": rb + " time"},
              "the traced call is its trace's, the untraced one the untraced invocation's (%s)" % got)
        # B's two calls tie at its START + 1 ms; they come in the order the traced invocation made
        # them (StartExecution, then PutItem), not by name.
        seq = [r[0] for r in db.execute("SELECT event FROM function_events WHERE flow = ? ORDER BY id", (rb,))]
        check(seq == ["lambda:START", "states:StartExecution", "dynamodb:PutItem", "lambda:REPORT"],
              "calls sharing a millisecond come in the order traced invocations make them (%s)" % seq)
        db.close()

        # --- three untraced invocations in one second, two calls of one kind ---------------------
        # C (.100-.400) overlaps the second most, then D (.500-.600), then E (.700-.720). Two
        # PutItems go one to C, one to D (not both to C, leaving D an invocation that made none);
        # the lone StartExecution goes to C.
        crowd = os.path.join(tmp, "crowd")
        logdir = os.path.join(crowd, "lambda", "shop", "shop-late", "2026", "01", "05")
        os.makedirs(logdir)
        os.makedirs(os.path.join(crowd, "cloudtrail"))
        rc, rd, re_ = ("cccccccc-1111-4111-8111-00000000000%s" % k for k in "cde")
        with open(os.path.join(logdir, "[$LATEST]0000000000000000000000000000000c.log"), "w") as f:
            for rid, t0, t1 in ((rc, "00.100", "00.400"), (rd, "00.500", "00.600"), (re_, "00.700", "00.720")):
                f.write(invocation_lines(rid, "2026-01-05T10:32:" + t0, "2026-01-05T10:32:" + t1, 100))
        records = [dict(records[2], requestID="DDBREQ00000000C" + k, eventID="f0000000-0000-4000-8000-0000000000c" + k,
                        eventTime="2026-01-05T10:32:00Z") for k in ("1", "2")] + [
            dict(records[0], requestID="SFNREQ00000000C1", eventID="e0000000-0000-4000-8000-0000000000c1",
                 eventTime="2026-01-05T10:32:00Z")]
        with open(os.path.join(crowd, "cloudtrail", "crowd.json"), "w") as f:
            json.dump({"Records": records}, f)
        r, db = import_root(tmp, crowd, "crowd")
        check(r.returncode == 0, "import of three untraced invocations in one second (%s)" % r.stderr.strip())
        got = sorted(db.execute("SELECT event, flow, attribution FROM function_events WHERE source = 'cloudtrail'"))
        want = sorted([("dynamodb:PutItem", rc, "time-ambiguous"), ("dynamodb:PutItem", rd, "time-ambiguous"),
                       ("states:StartExecution", rc, "time-ambiguous")])
        check(got == want, "calls of one kind in one second take the invocations in turn, largest overlap"
              " first (%s)" % got)
        db.close()


if __name__ == "__main__":
    main()
