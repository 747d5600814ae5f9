#!/bin/sh
# diff_ruby.sh - differential test: renders every test/liquid/diff/cases/*.liquid
# (with the matching .json data and the shared partials directory) with both
# the C engine (liquidc) and Shopify ruby-liquid, and compares byte for byte.
# Error cases compare only "both failed". Skips (exit 0) if ruby-liquid is absent.
# Usage: LIQUIDC=build/liquid/liquidc test/liquid/diff_ruby.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
liquidc=${LIQUIDC:-build/liquid/liquidc}
if ! ruby -e 'require "liquid"' 2>/dev/null; then
  echo "diff_ruby: ruby-liquid not installed; SKIPPED"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi
pass=0; fail=0
tmp=$(mktemp -d)
for tpl in "$here"/diff/cases/*.liquid; do
  name=$(basename "$tpl" .liquid)
  data="$here/diff/cases/$name.json"
  [ -f "$data" ] || data=-
  TZ=UTC ruby "$here/diff/render.rb" "$tpl" "$data" "$here/diff/partials" > "$tmp/rb" 2>/dev/null
  "$liquidc" "$tpl" "$data" "$here/diff/partials" > "$tmp/c" 2>&1
  if [ "$(head -c 5 "$tmp/rb")" = "ERROR" ] && [ "$(head -c 6 "$tmp/c")" = "ERROR:" ]; then
    pass=$((pass+1))
  elif cmp -s "$tmp/rb" "$tmp/c"; then
    pass=$((pass+1))
  else
    fail=$((fail+1))
    echo "FAIL: $name"
    diff "$tmp/rb" "$tmp/c" | head -20
  fi
done
rm -rf "$tmp"
echo "diff_ruby: $pass passed, $fail failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
