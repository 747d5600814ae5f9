# How test/run counts (docs/testing.md): one test per regress file, per spec, and per case
# family of a suite. Sourced by test/run and by test/suites/harness, which checks these rules on
# made-up runners and suites. Sets and adds to $passed, $failed, $skipped.
passed=0 failed=0 skipped=0

# Counts $1 failures and says why ($2).
fail_with() { failed=$((failed + $1)); echo "FAILED: $2"; }

# Prints the closing line; returns non-zero on a failure, or when nothing passed or skipped.
closing_line() {
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
}

# Counts a pg_regress-style run from its log ($1) and exit status ($2), given the test names it
# was asked to run ($3...): a test passed when its line says "ok", and failed otherwise (FAILED,
# or no line because the runner stopped or never started). A runner that exits non-zero
# although every test said ok adds one failure.
count_regress() {
  local log=$1 status=$2 t ok=0 n
  shift 2; n=$#
  for t in "$@"; do
    if grep -qE "^(test| )[[:space:]]+$t[[:space:]]+\.\.\. ok( |$)" "$log"; then
      ok=$((ok + 1))
    elif ! grep -qE "^(test| )[[:space:]]+$t[[:space:]]+\.\.\. " "$log"; then
      echo "FAILED: $t did not run"
    fi
  done
  passed=$((passed + ok)); failed=$((failed + n - ok))
  if [ "$status" -ne 0 ]; then
    if [ "$ok" -eq "$n" ]; then fail_with 1 "the runner exited with status $status although every test said ok"
    else echo "the runner exited with status $status"; fi
  fi
  return 0
}

# The minimum number of cases a suite file ($1) declares ("# min-cases: N"); 1 when it does not.
min_cases() {
  local min
  min=$(sed -n 's/^# min-cases: *\([0-9][0-9]*\) *$/\1/p' "$1" | head -1)
  echo "${min:-1}"
}

# Counts a suite ($1, its name) from its exit status ($2), its output ($3) and its minimum ($4).
# Its last line is "N passed, N failed, N skipped" ("N passed, N failed" counts as 0 skipped). A
# suite that exits non-zero has failed whatever it printed; one without the closing line, or
# accounting for fewer cases than its minimum, has failed; under CI=true a skip is a failure.
count_suite() {
  local name=$1 status=$2 out=$3 min=$4 last p f s
  last=$(printf '%s\n' "$out" | tail -1)
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
    p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[4]:-0}
  else
    fail_with "$min" "$name exited with status $status without its closing line"; return 0
  fi
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; echo "FAILED: $name exited with status $status"
  fi
  if [ $((p + f + s)) -lt "$min" ]; then
    echo "FAILED: $name accounted for $((p + f + s)) cases, fewer than its minimum of $min"
    f=$((min - p - s))
  fi
  if [ "${CI:-}" = true ] && [ "$s" -gt 0 ]; then
    echo "FAILED: $name skipped $s cases; under CI=true everything a test needs is installed"
    f=$((f + s)); s=0
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}
