#!/usr/bin/python3
"""cloudtrail_events() against real CloudTrail records (../shared/realdata/, Stratus Red Team
detonation logs): every column equals what SQLite's own json_extract() reads from the same
record, as a bare array, as a gzipped {"Records": [...]} envelope, and as JSON Lines.
Skipped (exit 77) when ../shared/realdata is absent.
"""
import glob
import gzip
import json
import os
import sqlite3
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FNGUARD_BUILD", "build")
REAL = os.path.join(ROOT, "..", "shared", "realdata", "stratus-detonation-logs")

COLUMNS = [  # column, JSON path
    ("event_time", "$.eventTime"), ("event_source", "$.eventSource"), ("event_name", "$.eventName"),
    ("event_type", "$.eventType"), ("event_category", "$.eventCategory"), ("aws_region", "$.awsRegion"),
    ("source_ip", "$.sourceIPAddress"), ("user_agent", "$.userAgent"), ("identity_type", "$.userIdentity.type"),
    ("principal_arn", "$.userIdentity.arn"), ("principal_id", "$.userIdentity.principalId"),
    ("account_id", "$.userIdentity.accountId"), ("user_name", "$.userIdentity.userName"),
    ("role_arn", "$.userIdentity.sessionContext.sessionIssuer.arn"),
    ("access_key_id", "$.userIdentity.accessKeyId"), ("invoked_by", "$.userIdentity.invokedBy"),
    ("error_code", "$.errorCode"), ("error_message", "$.errorMessage"), ("read_only", "$.readOnly"),
    ("management_event", "$.managementEvent"), ("request_id", "$.requestID"), ("event_id", "$.eventID"),
    ("recipient_account_id", "$.recipientAccountId"), ("request_parameters", "$.requestParameters"),
    ("response_elements", "$.responseElements"), ("resources", "$.resources"), ("record", "$"),
]


def main():
    files = sorted(glob.glob(os.path.join(REAL, "*.json")))
    if not files:
        print("skipped: no ../shared/realdata/stratus-detonation-logs")
        sys.exit(77)
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(os.path.join(ROOT, BUILD, "fnguard"))
    ours = ", ".join(c for c, _ in COLUMNS)
    theirs = ", ".join("json_extract(j.value, '%s')" % p for _, p in COLUMNS)
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            text = open(f, encoding="utf-8").read()
            records = json.loads(text)
            base = os.path.join(tmp, os.path.basename(f))
            envelope = json.dumps({"Records": records})
            with gzip.open(base + ".gz", "wt", encoding="utf-8") as g:
                g.write(envelope)
            lines = [json.dumps(r) for r in records]
            with open(base + "l", "w", encoding="utf-8") as g:
                g.write("".join(line + "\n" for line in lines))
            # Each variant against json_extract over the very text it holds (re-serializing may
            # change how strings are escaped, e.g. "\u003c" becomes "<").
            variants = [(f, text, "$"), (base + ".gz", envelope, "$.Records"),
                        (base + "l", "[" + ",".join(lines) + "]", "$")]
            for path, source, root in variants:
                want = db.execute("SELECT %s FROM json_each(?, ?) AS j ORDER BY j.key" % theirs,
                                  (source, root)).fetchall()
                got = db.execute("SELECT %s FROM cloudtrail_events(?) ORDER BY record_index" % ours,
                                 (path,)).fetchall()
                if got != want:
                    for i, (a, b) in enumerate(zip(got, want)):
                        for (c, _), x, y in zip(COLUMNS, a, b):
                            if x != y:
                                print("FAIL %s record %d column %s: %r != %r" % (path, i, c, x, y))
                                sys.exit(1)
                    print("FAIL %s: %d rows, expected %d" % (path, len(got), len(want)))
                    sys.exit(1)
            total += len(want)
    # the Lambda techniques: the API calls they make are named consistently
    events = [r[0] for r in db.execute(
        "SELECT DISTINCT event FROM cloudtrail_events(?) WHERE event_source = 'lambda.amazonaws.com' "
        "ORDER BY 1", (REAL,))]
    print("lambda events:", events)
    assert "lambda:UpdateFunctionCode" in events and not any(e[-1].isdigit() for e in events)
    print("ok: %d real records from %d files equal json_extract's reading, as array, gzip envelope "
          "and JSON Lines" % (total, len(files)))


if __name__ == "__main__":
    main()
