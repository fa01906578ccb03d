#!/usr/bin/python3
"""Writes a CloudTrail benchmark corpus: trail-delivery files {"Records":[...]} (compact JSON, as
CloudTrail writes them), plain or gzipped, of at least --mb megabytes in total.

Records are the fixture records of fixtures/ingest/ (Lambda SDK calls, an administrator's calls,
a denied call, a service call), replicated with varied values: time, event and request ids,
addresses, user agents, event names, functions, request parameters. Deterministic (--seed).

    /usr/bin/python3 tests/bench/gen_ct_corpus.py --out DIR --mb 100 [--gzip] [--files 20]
"""
import argparse
import gzip
import json
import os
import random
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = [
    "fixtures/ingest/cloudtrail/111122223333_CloudTrail_us-east-1_20260105T1000Z_a.json",
    "fixtures/ingest/cloudtrail/111122223333_CloudTrail_us-east-1_20260105T1010Z_b.json.gz",
]
NAMES = {"dynamodb.amazonaws.com": ["PutItem", "GetItem", "Query", "UpdateItem", "Scan", "DeleteItem"],
         "s3.amazonaws.com": ["GetObject", "PutObject", "HeadObject", "ListObjects", "ListBuckets"],
         "sqs.amazonaws.com": ["SendMessage", "ReceiveMessage", "DeleteMessage"],
         "lambda.amazonaws.com": ["Invoke", "GetFunction20150331v2", "UpdateFunctionCode20150331v2"]}
FUNCTIONS = ["shop-checkout", "shop-cart", "shop-refund", "shop-notify", "orders-ingest", "orders-report"]


def templates():
    out = []
    for rel in FIXTURES:
        path = os.path.join(ROOT, rel)
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            out += json.load(f)["Records"]
    return out


def vary(rng, i, base):
    r = json.loads(json.dumps(base))  # deep copy
    ts = 1767571200 + i * 0.37
    r["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    r["eventID"] = "%08x-%04x-4%03x-8%03x-%012x" % (i, rng.getrandbits(16), rng.getrandbits(12),
                                                    rng.getrandbits(12), rng.getrandbits(48))
    r["requestID"] = "%016X%016X" % (rng.getrandbits(64), rng.getrandbits(64))
    src = r.get("eventSource")
    if src in NAMES:
        r["eventName"] = rng.choice(NAMES[src])
    r["sourceIPAddress"] = "%d.%d.%d.%d" % (rng.choice([3, 34, 52, 54, 185]), rng.randrange(256),
                                            rng.randrange(256), rng.randrange(1, 255))
    ui = r.get("userIdentity", {})
    if ui.get("type") == "AssumedRole":
        fn = rng.choice(FUNCTIONS)
        role = ui["sessionContext"]["sessionIssuer"]["userName"]
        ui["arn"] = "arn:aws:sts::111122223333:assumed-role/%s/%s" % (role, fn)
        ui["principalId"] = ui["principalId"].split(":")[0] + ":" + fn
        ui["accessKeyId"] = "ASIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    if isinstance(r.get("requestParameters"), dict):
        r["requestParameters"]["requestNonce"] = "%x" % rng.getrandbits(40)
        if "key" in r["requestParameters"] and isinstance(r["requestParameters"]["key"], str):
            r["requestParameters"]["key"] = "data/%d/%x.json" % (i % 97, rng.getrandbits(32))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tpl = templates()
    os.makedirs(a.out, exist_ok=True)
    per_file = a.mb * 1e6 / a.files
    total, i = 0, 0
    for k in range(a.files):
        recs, size = [], 0
        while size < per_file:
            s = json.dumps(vary(rng, i, tpl[i % len(tpl)]), separators=(",", ":"))
            recs.append(s)
            size += len(s) + 1
            i += 1
        data = ('{"Records":[' + ",".join(recs) + "]}").encode()
        name = os.path.join(a.out, "111122223333_CloudTrail_us-east-1_20260105T%04dZ_bench.json" % k)
        if a.gzip:
            with open(name + ".gz", "wb") as f:
                with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=6) as g:
                    g.write(data)
        else:
            with open(name, "wb") as f:
                f.write(data)
        total += len(data)
    print("%d records, %.1f MB of JSON" % (i, total / 1e6))


if __name__ == "__main__":
    main()
