#!/usr/bin/python3
"""The SQL reference cannot drift: every example of sql/reference.md runs against the extension and
its output must equal the ```output block written under it.

The reference is read top to bottom in one fresh :memory: connection with the extension loaded,
from the repository root (examples name fixtures by relative path), so the fixture tables its first
section creates serve the examples after it. Each ```sql block is split into statements
(sqlite3.complete_statement; lines starting with '.' such as `.load` are skipped: the extension is
loaded already); rows print as the sqlite3 CLI's list mode does (values joined by '|', NULL as an
empty string, REAL as %!.15g), an error as "Error: <message>" (and the block goes on). A block
that prints something must be followed by an ```output block; one that prints nothing may not be.

Also: every function and module the extension registers has a heading in the reference; and the
README's "Five minutes in SQL" section is checked the same way when it is written in this form
(```sql blocks each followed by ```output; a fresh connection); FNGUARD_README=path checks another
file. UPDATE=1 rewrites the output blocks of sql/reference.md with what the examples print (review
the diff before committing).
"""
import difflib
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import casedb  # noqa: E402

ROOT = casedb.ROOT
REFERENCE = os.path.join(ROOT, "sql", "reference.md")
README = os.environ.get("FNGUARD_README", os.path.join(ROOT, "README.md"))
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)
    return cond


def render(v):
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:
            return ""
        if v in (float("inf"), float("-inf")):
            return "Inf" if v > 0 else "-Inf"
        s = "%.15g" % v
        mant, _, exp = s.partition("e")
        if "." not in mant:
            mant += ".0"
        return mant + ("e" + exp if exp else "")
    if isinstance(v, bytes):
        return "x'" + v.hex() + "'"
    return str(v)


def statements(sql):
    buf = ""
    for line in sql.splitlines(keepends=True):
        if not buf.strip() and line.lstrip().startswith("."):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if re.sub(r"--[^\n]*", "", buf).strip().strip(";").strip():
                yield buf.strip()
            buf = ""
    if re.sub(r"--[^\n]*", "", buf).strip():
        yield buf.strip()


def run_block(db, sql):
    out = []
    for stmt in statements(sql):
        try:
            cur = db.execute(stmt)
            for row in cur.fetchall():
                out.append("|".join(render(v) for v in row))
        except sqlite3.Error as e:
            out.append("Error: %s" % e)
    return "\n".join(out) + ("\n" if out else "")


def blocks(text):
    """[(lang, body, line, start, end)] of the fenced blocks of a Markdown text."""
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, m.start(2), m.end(2))
            for m in FENCE.finditer(text)]


def check_doc(name, text, update=False):
    """Runs the doc's sql blocks; returns (examples checked, text with outputs rewritten)."""
    db = casedb.connect()
    db.isolation_level = None          # autocommit, as the CLI
    bs = blocks(text)
    edits, n = [], 0
    for i, (lang, body, line, start, end) in enumerate(bs):
        if lang != "sql":
            continue
        got = run_block(db, body)
        nxt = bs[i + 1] if i + 1 < len(bs) else None
        has_out = nxt is not None and nxt[0] == "output"
        if has_out:
            n += 1
            if update:
                edits.append((nxt[3], nxt[4], got))
            elif not check(got == nxt[1], "%s:%d: the example's output differs:\n%s" % (
                    name, line, "".join(difflib.unified_diff(nxt[1].splitlines(True), got.splitlines(True),
                                                             "documented", "actual")))):
                pass
        elif got:
            if update:
                # a block that prints needs an output block: insert one after it
                close = text.index("```", end) + 3
                edits.append((close, close, "\n```output\n" + got + "```", ))
            else:
                check(False, "%s:%d: this block prints something; add an ```output block:\n%s" % (name, line, got))
    for e in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:e[0]] + e[2] + text[e[1]:]
    db.close()
    return n, text


def registered():
    db = casedb.connect()
    names = {r[0] for r in db.execute(
        "SELECT name FROM pragma_function_list WHERE name LIKE 'lstm_ae%' OR name LIKE 'dbscan%' "
        "OR name LIKE 'fnguard%' OR name LIKE 'cloudtrail%' OR name LIKE 'lambda_log%' OR name LIKE 'xray%'")}
    names |= {r[0] for r in db.execute(
        "SELECT name FROM pragma_module_list WHERE name IN ('fn_windows', 'lstm_ae_detect', 'dbscan') "
        "OR name LIKE 'cloudtrail%' OR name LIKE 'lambda_log%' OR name LIKE 'xray%'")}
    return names


def main():
    t0 = time.time()
    os.chdir(ROOT)
    update = os.environ.get("UPDATE") == "1"
    text = open(REFERENCE, encoding="utf-8").read()
    n, new = check_doc("sql/reference.md", text, update)
    if update and new != text:
        open(REFERENCE, "w", encoding="utf-8").write(new)
        print("rewrote the output blocks of sql/reference.md: review `git diff sql/reference.md`")
    print("ok   sql/reference.md: %d examples" % n)
    headings = "\n".join(l for l in text.splitlines() if l.startswith("#"))
    slugs = {re.sub(r"[^\w\- ]", "", h.lstrip("#").replace("`", "").strip().lower()).replace(" ", "-")
             for h in headings.splitlines()}      # GitHub's anchors
    dead = [a for a in re.findall(r"\]\(#([^)]+)\)", text) if a not in slugs]
    check(not dead, "sql/reference.md links to missing anchors %s" % dead)
    missing = sorted(f for f in registered() if not re.search(r"`%s[`(]" % re.escape(f), headings))
    check(not missing, "sql/reference.md has no heading for %s" % missing)
    readme = open(README, encoding="utf-8").read()
    m = re.search(r"^## Five minutes in SQL\n(.*?)(?=^## )", readme, re.M | re.S)
    if not check(m is not None, "%s has a 'Five minutes in SQL' section" % README):
        pass
    elif "```output" not in m.group(1):
        print("note %s: 'Five minutes in SQL' has no ```output blocks yet, not checked" % os.path.basename(README))
    else:
        k, _ = check_doc(os.path.basename(README), m.group(1))
        print("ok   %s 'Five minutes in SQL': %d examples" % (os.path.basename(README), k))
    print("%s in %.1f s" % ("FAILED: %d check(s)" % len(failures) if failures else "docs agree with the extension",
                            time.time() - t0))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
