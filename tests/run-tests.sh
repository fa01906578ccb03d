#!/bin/sh
# Runs the whole test suite against $BUILD (build/ or build-asan/):
#   1. every cmocka binary $BUILD/tests/test_*;
#   2. every tests/sql/*.sql through the sqlite3 CLI with the extension loaded, its output
#      (stdout and stderr, so error messages are asserted verbatim) compared with the .expected
#      file beside it; they run from the repo root and name fixtures by relative path;
#   3. every tests/py/test_*.py with Debian's /usr/bin/python3 (the extension-loading one);
#   4. the fixtures' own unit tests, fixtures/*/test_*.py (python3 -m unittest: the testbed
#      generator and the evaluation's scoring helpers; standard library only).
# Prints one line per test file and a closing "N passed, N failed[, N skipped]".
# UPDATE=1 rewrites the .expected files (review the diff before committing!).
BUILD=${BUILD:-build}
pass=0; fail=0; skip=0; failed=""
if [ "${SANITIZE:-0}" = 1 ]; then
  # The CLI and python are not instrumented: preload the runtimes for the extension's sake.
  PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-}"
ok() { pass=$((pass+1)); echo "PASS $1"; }
ko() { fail=$((fail+1)); failed="$failed $1"; echo "FAIL $1"; }

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  if "$t" > "$BUILD/$(basename "$t").log" 2>&1; then ok "$(basename "$t")"
  else ko "$(basename "$t")"; cat "$BUILD/$(basename "$t").log"; fi
done

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in tests/sql/*.sql; do
  [ -f "$f" ] || continue
  exp="${f%.sql}.expected"
  out="$tmp/$(basename "$f").out"
  # Run from the repo root, so tests name fixtures by relative paths (fixtures/...).
  LD_PRELOAD="${PRELOAD:-}" sqlite3 -batch -cmd ".load $BUILD/fnguard" :memory: < "$f" > "$out" 2>&1
  # Paths of the checkout and of the scratch folder differ per run: print them as names.
  sed -i "s#$(pwd)#\$ROOT#g; s#$tmp#\$TMP#g" "$out"
  if [ "${UPDATE:-0}" = 1 ]; then cp "$out" "$exp"; fi
  if [ -f "$exp" ] && diff -u "$exp" "$out" > "$tmp/diff"; then ok "$f"
  else ko "$f"; [ -f "$exp" ] || echo "  (no $exp)"; head -60 "$tmp/diff" 2>/dev/null; fi
done

for f in tests/py/test_*.py; do
  [ -f "$f" ] || continue
  FNGUARD_BUILD="$BUILD" LD_PRELOAD="${PRELOAD:-}" /usr/bin/python3 "$f" > "$tmp/py.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then ok "$f"; elif [ $rc = 77 ]; then skip=$((skip+1)); echo "SKIP $f: $(tail -1 "$tmp/py.log")"
  else ko "$f"; tail -40 "$tmp/py.log"; fi
done

for f in fixtures/*/test_*.py; do
  [ -f "$f" ] || continue
  if /usr/bin/python3 -m unittest "$f" > "$tmp/py.log" 2>&1; then ok "$f"; else ko "$f"; tail -40 "$tmp/py.log"; fi
done

[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
