#!/usr/bin/env bash
# run_smoke.sh <fuzzer> <seconds> <work-corpus-dir> <seed-corpus-dir>
# Fuzzes for a fixed time. New inputs go to the work dir (under build/), never into the repo;
# a crash leaves its reproducer in build/fuzz-work/ and fails the test.
set -euo pipefail
fuzzer=$1 secs=$2 work=$3 seed=$4
[ -x "$fuzzer" ] || { echo "fuzz-smoke: $fuzzer not built (make test builds build/fuzz)"; exit 1; }
mkdir -p "$work/artifacts"
exec "$fuzzer" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work" "$seed"
