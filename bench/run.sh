#!/usr/bin/env bash
# bench/run.sh [build-dir] — runs every micro benchmark and prints Google Benchmark's table.
# docs/performance.md records the results of exactly this command.
set -euo pipefail
build=${1:-build}
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  [ "$(basename "$b")" = bench_models ] && continue  # not Google Benchmark: below
  echo "== $(basename "$b")"
  "$b" --benchmark_min_time=0.2 --benchmark_counters_tabular=true
done
# The five I/O models' echo servers, ustack vs Linux kernel sockets, side by side
# (request/response rate, p50, p99 for 1, 64 and 1024 connections).
if [ -x "$build/bench/bench_models" ]; then
  echo "== bench_models"
  "$build/bench/bench_models"
fi
