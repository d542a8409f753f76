#!/usr/bin/env bash
# demo_test.sh <ustack-binary> <scratch-dir>
# `ustack demo` passes its own checks, is deterministic (same seed: byte-identical output and
# pcaps; another seed: different faults), and what alice sent decodes cleanly in tshark.
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir/1" "$dir/2" "$dir/3" "$dir/4"
bin=$(realpath "$bin")
(cd "$dir/1" && "$bin" demo > out.txt)
(cd "$dir/2" && "$bin" demo > out.txt)
(cd "$dir/3" && "$bin" demo --quiet --seed 99 > out.txt)
(cd "$dir/4" && "$bin" demo --quiet --corrupt 0 > out.txt)
for f in out.txt demo-alice.pcap demo-bob.pcap; do cmp "$dir/1/$f" "$dir/2/$f"; done
if cmp -s "$dir/1/demo-bob.pcap" "$dir/3/demo-bob.pcap"; then
  echo "a different seed produced the same faults"; exit 1
fi
for d in 1 3 4; do grep -q "demo: all checks passed" "$dir/$d/out.txt"; done
# The journey of a frame is printed step by step, from alice's xmit to bob's netif_receive.
for step in "alice    dev  xmit" "alice    dev  tx_ring" "bob      dev  rx_dma" \
            "bob      dev  irq" "bob      dev  netif_receive" "bob      dev  napi_complete" \
            "alice    dev  tx_clean" "Request who-has 10.0.0.2 tell 10.0.0.1"; do
  grep -q "$step" "$dir/1/out.txt" || { echo "journey step missing: $step"; exit 1; }
done
# Without bit flips every frame on the wire must decode cleanly (drops and duplicates do not
# change frames). The captures sit under the fault injector: they record the wire.
if command -v tshark >/dev/null; then
  for f in "$dir/4/demo-alice.pcap" "$dir/4/demo-bob.pcap"; do
    out=$(tshark -r "$f" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
          -T fields -e frame.number -e _ws.malformed -e ip.checksum.status \
          -e udp.checksum.status -e icmp.checksum.status 2>/dev/null)
    [ "$(echo "$out" | wc -l)" -gt 600 ] || { echo "tshark read too few frames from $f"; exit 1; }
    if echo "$out" | awk -F'\t' '$2!="" || $3=="0" || $4=="0" || $5=="0" {b=1} END {exit !b}'; then
      echo "tshark: malformed frames or bad checksums in $f"; exit 1
    fi
  done
  # With bit flips (the default run), tshark must see bad checksums in the wire capture.
  bad=$(tshark -r "$dir/1/demo-alice.pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
        -T fields -e ip.checksum.status -e udp.checksum.status 2>/dev/null | grep -c 0 || true)
  [ "$bad" -gt 0 ] || { echo "expected tshark to flag the corrupted frames"; exit 1; }
fi
echo "demo_test: ok"
