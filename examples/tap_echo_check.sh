#!/usr/bin/env bash
# examples/tap_echo_check.sh — Linux as the client of an echo example over TAP, in a private
# network namespace (unshare -n: nothing outside the process tree sees the TAP or the traffic).
#
#   examples/tap_echo_check.sh BIN [CLIENTS] [BYTES]
#
# Starts BIN (build/examples/echo_<model>) on TAP utap0 as 192.0.2.2/24, gives the kernel's end
# 192.0.2.1/24, then runs CLIENTS (default 100) concurrent `socat` clients, each sending BYTES
# (default 20000) random bytes and shutting down its sending side; every client must get back
# exactly what it sent (cmp), and the server must have accepted CLIENTS connections and closed
# them all on EOF. Needs root (exit 77, "skipped", otherwise). Exit 0 on success, 1 on a
# mismatch, 2 on a setup failure, 77 if the model's ustack backend is not built (ENOSYS).
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 BIN [CLIENTS] [BYTES]" >&2
  exit 2
fi
bin=$(realpath "$1")
clients=${2:-100}
bytes=${3:-20000}
if [[ $(id -u) != 0 ]]; then
  echo "$0: skipped: needs root (network namespace, TAP device)"
  exit 77
fi
for tool in socat unshare ip cmp; do
  command -v "$tool" > /dev/null || { echo "$0: skipped: $tool not installed"; exit 77; }
done

exec unshare -n bash -s "$bin" "$clients" "$bytes" <<'INNER'
set -uo pipefail
bin=$1 clients=$2 bytes=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ip link set lo up
"$bin" --tap utap0 --addr 192.0.2.2/24 --port 7000 --seconds 300 > "$dir/server.out" \
  2> "$dir/server.err" &
server=$!
for _ in $(seq 1 100); do
  grep -q listening "$dir/server.err" 2> /dev/null && break
  kill -0 $server 2> /dev/null || break
  sleep 0.05
done
if grep -q "Function not implemented" "$dir/server.err"; then
  echo "skipped: $(cat "$dir/server.err")"
  exit 77
fi
if ! grep -q listening "$dir/server.err"; then
  echo "server did not start:" >&2
  cat "$dir/server.err" >&2
  exit 2
fi
ip addr add 192.0.2.1/24 dev utap0
ip link set utap0 up
ulimit -n 65536 2> /dev/null || true

for i in $(seq 1 "$clients"); do head -c "$bytes" /dev/urandom > "$dir/in.$i"; done
start=$(date +%s.%N)
# Concurrency, not a sequence of short connections: each client sends its bytes, then keeps
# its connection open (its stdin stays open) until every client is connected; the script
# holds an exclusive lock the clients wait on (shared) and releases it once `ss` counts
# CLIENTS established connections to the server. Only then do the clients half-close.
exec 9> "$dir/go.lock"
flock -x 9
pids=()
for i in $(seq 1 "$clients"); do
  { cat "$dir/in.$i"; flock -s "$dir/go.lock" true; } |
    socat -t 30 -T 90 - TCP:192.0.2.2:7000,connect-timeout=30 > "$dir/out.$i" \
      2> "$dir/client.$i.err" &
  pids+=($!)
done
peak=0
for _ in $(seq 1 1200); do
  peak=$(ss -Htn state established dst 192.0.2.2 | wc -l)
  [[ $peak -ge $clients ]] && break
  sleep 0.05
done
echo "concurrent established connections: $peak"
flock -u 9
exec 9>&-
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
end=$(date +%s.%N)
bad=0
for i in $(seq 1 "$clients"); do cmp -s "$dir/in.$i" "$dir/out.$i" || bad=$((bad + 1)); done
kill -INT $server
wait $server
cat "$dir/server.out"
echo "clients $clients bytes $bytes: socat failures $failed, mismatched echoes $bad," \
  "$(echo "$end - $start" | bc) s"
line=$(grep -E '^echo_[a-z]+: accepted' "$dir/server.out")
accepted=$(sed -E 's/.*accepted ([0-9]+).*/\1/' <<< "$line")
eofs=$(sed -E 's/.* eof ([0-9]+).*/\1/' <<< "$line")
if [[ $failed != 0 || $bad != 0 || $accepted != "$clients" || $eofs != "$clients" ||
      $peak -lt $clients ]]; then
  echo "FAIL"
  exit 1
fi
echo "OK"
INNER
