"""fnguard_nb — the plumbing the notebooks share, so that their cells hold only the analysis.

    from fnguard_nb import find_repo, open_case
    db, q, has = open_case('demo.db', 'build/fnguard', repo)   # read-only, extension loaded
    q("SELECT count(*) AS n FROM function_events")              # -> pandas DataFrame
    rule_views(db, repo)                                        # findings, without writing the case

The case database is opened read-only (SQLite URI mode=ro): a notebook never changes the case file.
What it needs to create lives in the connection's TEMP schema and disappears with it.
"""
import os
import re
import sqlite3

import pandas as pd


def find_repo(start):
    """The fnguard checkout above `start` (the folder holding sql/pipeline.sql)."""
    d = os.path.abspath(start)
    while d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, "sql", "pipeline.sql")):
            return d
        d = os.path.dirname(d)
    return os.path.abspath(os.path.join(start, ".."))


def in_repo(path, repo):
    """A relative path names a file in the current folder if it is there, else in the repo."""
    return path if os.path.isabs(path) or os.path.exists(path) else os.path.join(repo, path)


def open_case(path, ext, repo):
    """(connection, q, has): the case opened read-only with the extension loaded; q(sql, *args) runs
    a query into a DataFrame; has(name) says whether the case (or the TEMP schema) has that table or
    view."""
    path, ext = in_repo(path, repo), in_repo(ext, repo)
    if not os.path.exists(path):
        raise FileNotFoundError("no case database %s: run `make demo` (writes demo.db) or set FNGUARD_DB" % path)
    db = sqlite3.connect("file:%s?mode=ro" % path.replace("?", "%3f").replace("#", "%23"), uri=True)
    db.enable_load_extension(True)
    db.load_extension(ext)          # Debian's /usr/bin/python3 can; a pyenv build may not
    db.enable_load_extension(False)

    def q(sql, *args):
        return pd.read_sql_query(sql, db, params=args)

    def has(name):
        return db.execute("SELECT (SELECT count(*) FROM sqlite_schema WHERE name = ?1)"
                          " + (SELECT count(*) FROM sqlite_temp_schema WHERE name = ?1)", (name,)).fetchone()[0] > 0

    return db, q, has


def sql_text(path, repo):
    """An SQL file as the sqlite3 CLI runs it: `.read FILE` lines inlined, other dot-commands dropped."""
    out = []
    with open(os.path.join(repo, path), encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if s.startswith(".read "):
                out.append(sql_text(s.split(None, 1)[1], repo))
            elif not s.startswith("."):
                out.append(line)
    return "".join(out)


def rule_views(db, repo):
    """Makes `findings` and the rule views of sql/rules/all.sql available on this connection. If the
    case has them (someone ran all.sql on it), nothing to do; else they are created as TEMP views,
    with empty TEMP tables for what the case lacks (alerts before the pipeline, say). Returns
    'case' or 'temp'."""
    if db.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'findings'").fetchone()[0]:
        return "case"
    main = {r[0] for r in db.execute("SELECT name FROM sqlite_schema")}
    buf = ""
    for line in sql_text("sql/rules/all.sql", repo).splitlines(keepends=True):
        buf += line
        if not sqlite3.complete_statement(buf):
            continue
        stmt, buf = re.sub(r"^(\s*--[^\n]*\n)*", "", buf).strip(), ""
        head = stmt.upper()
        if head.startswith(("BEGIN", "COMMIT", "SELECT")) or not stmt:
            continue
        m = re.match(r"CREATE (TABLE|INDEX) IF NOT EXISTS (\w+)(?: ON (\w+))?", stmt, re.I)
        if m:
            table = m.group(3) or m.group(2)
            if table not in main and m.group(1).upper() == "TABLE":
                db.execute("CREATE TEMP " + stmt[len("CREATE "):])
            continue
        m = re.match(r"CREATE VIEW IF NOT EXISTS (\w+)", stmt, re.I)
        if m and m.group(1) in main:
            continue
        db.execute(re.sub(r"^CREATE VIEW", "CREATE TEMP VIEW", stmt, flags=re.I))
    return "temp"
