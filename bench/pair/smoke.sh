#!/usr/bin/env bash
# bench/pair/smoke.sh BENCH_PAIR — ctest bench.pair.smoke: runs each workload of bench_pair once,
# briefly (bulk at MTU 1500 and 65535, rr with 1 and 64 connections, crr, idle, pps) and checks
# that each prints one JSON line whose "value" is positive. No network, no root: two stacks in
# one process.
set -uo pipefail
bin=$1
fail=0
run() {
  local out
  if ! out=$(timeout 30 "$bin" "$@"); then
    echo "FAIL: bench_pair $* exited non-zero"; fail=1; return
  fi
  if ! python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["value"] > 0, j' "$out"; then
    echo "FAIL: bench_pair $*: $out"; fail=1; return
  fi
  echo "ok: bench_pair $*: ${out:0:120}"
}
run bulk --seconds 0.2 --bytes 67108864
run bulk --seconds 0.2 --bytes 67108864 --mtu 65535
run rr --seconds 0.2
run rr --seconds 0.2 --conns 64
run crr --seconds 0.2
run idle --count 1000
run pps --seconds 0.2
exit $fail
