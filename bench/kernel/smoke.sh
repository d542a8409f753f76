#!/usr/bin/env bash
# bench/kernel/smoke.sh BENCH_KERNEL — ctest bench.kernel.smoke: runs each workload of
# bench_kernel once, briefly, on loopback (--local) and checks that each prints one JSON line
# whose "value" is positive. Exits 77 (skipped) when loopback TCP does not work here.
set -uo pipefail
bin=$1
if ! python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); c=socket.create_connection(s.getsockname(),1)' 2>/dev/null; then
  echo "skipped: no loopback TCP"
  exit 77
fi
fail=0
run() {
  local out
  if ! out=$(timeout 20 "$bin" "$@" --local); then
    echo "FAIL: bench_kernel $* exited non-zero"; fail=1; return
  fi
  if ! python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["value"] > 0, j' "$out"; then
    echo "FAIL: bench_kernel $*: $out"; fail=1; return
  fi
  echo "ok: bench_kernel $*: ${out:0:120}"
}
run bulk --seconds 0.2
run rr --seconds 0.2
run crr --seconds 0.2
run idle --count 100 --seconds 1
exit $fail
