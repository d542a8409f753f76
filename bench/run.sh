#!/usr/bin/env bash
# bench/run.sh [build-dir] — runs every micro benchmark and prints Google Benchmark's table.
# docs/performance.md records the results of exactly this command.
set -euo pipefail
build=${1:-build}
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" --benchmark_min_time=0.2 --benchmark_counters_tabular=true
done
