#!/usr/bin/env bash
# Fails if any tracked C++ file differs from clang-format's output (config: .clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(find src tests bench fuzz examples \( -name '*.h' -o -name '*.cc' \) -type f | sort)
bad=0
for f in $files; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then echo "not formatted: $f"; bad=1; fi
done
[ $bad -eq 0 ] && echo "check_format: all files formatted"
exit $bad
