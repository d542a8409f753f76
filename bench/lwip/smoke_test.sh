#!/usr/bin/env bash
# bench/lwip/smoke_test.sh BENCH_LWIP — ctest bench.lwip.smoke: runs each pair workload of
# bench_lwip briefly and checks that it exits 0 with one JSON line whose "value" is positive.
set -euo pipefail
bin=$1
run() {
  local out
  if ! out=$(timeout 30 "$bin" "$@"); then
    echo "FAIL: bench_lwip $*: exit status $?" >&2
    return 1
  fi
  echo "$out"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["value"] > 0 else 1)' \
    "$out" || { echo "FAIL: bench_lwip $*: no positive value" >&2; return 1; }
}
run bulk --seconds 0.3
run rr --seconds 0.3
run crr --seconds 0.3
run idle --count 200
echo "bench.lwip.smoke: ok"
