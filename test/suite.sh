# The suite protocol, sourced by the executables in test/suites/ (docs/testing.md, "Suites").
# A suite counts its case families with case_passed / case_failed / case_skipped and ends with
# suite_end, which prints the closing line "N passed, N failed, N skipped" and exits non-zero
# when a case failed. Its header declares "# min-cases: N", the cases it must account for;
# test/run fails a suite that reports fewer. A case is skipped only when something it needs is
# absent (a package, reference data); under CI=true test/run turns every skip into a failure.

top=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
suite_passed=0 suite_failed=0 suite_skipped=0

# The read-only reference data: $PEER, else ../shared/peer beside the main checkout (a worktree
# finds the main checkout through git's common directory).
peer_dir() {
  if [ -n "${PEER:-}" ]; then echo "$PEER"; return; fi
  local common
  if [ ! -d "$top/../shared/peer" ] && common=$(git -C "$top" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) \
     && [ -d "$(dirname "$common")/../shared/peer" ]; then
    (cd "$(dirname "$common")/../shared/peer" && pwd)
  else
    echo "$top/../shared/peer"
  fi
}
PEER=$(peer_dir)

# Counts one case family that passed; $1 describes it.
case_passed() { suite_passed=$((suite_passed + 1)); echo "ok: $1"; }
# Counts $2 (default 1) case families that failed; $1 describes them.
case_failed() { suite_failed=$((suite_failed + ${2:-1})); echo "FAILED: $1"; }
# Counts $2 (default 1) case families skipped because something they need is absent ($1 says what).
case_skipped() { suite_skipped=$((suite_skipped + ${2:-1})); echo "SKIPPED: $1"; }
# Counts one case family by a command's exit status: case_check DESCRIPTION COMMAND...
case_check() {
  local what=$1; shift
  if "$@"; then case_passed "$what"; else case_failed "$what"; fi
}
# Prints the closing line and exits: 1 when a case failed, else 0.
suite_end() {
  echo "$suite_passed passed, $suite_failed failed, $suite_skipped skipped"
  [ "$suite_failed" -eq 0 ] && exit 0
  exit 1
}
# Whether Shopify's ruby-liquid can be loaded.
have_ruby_liquid() { ruby -e 'require "liquid"' >/dev/null 2>&1; }
