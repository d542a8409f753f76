#!/usr/bin/env bash
# demo_test.sh <ustack-binary> <scratch-dir>
# `ustack demo` passes its own checks, is deterministic (same seed: byte-identical output and
# pcaps; another seed: different faults), prints the journeys it promises (scene 1's layers,
# scene 4's router, scene 5's TCP connection), and every capture decodes cleanly in tshark,
# except that the default run's bit flips on the alice-bob cable must show up as bad checksums.
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir/1" "$dir/2" "$dir/3" "$dir/4"
bin=$(realpath "$bin")
(cd "$dir/1" && "$bin" demo > out.txt)
(cd "$dir/2" && "$bin" demo > out.txt)
(cd "$dir/3" && "$bin" demo --quiet --seed 99 > out.txt)
(cd "$dir/4" && "$bin" demo --quiet --corrupt 0 --pcap clean > out.txt)
ifaces="alice-eth0 alice-eth1 alice-eth2 r1-eth0 r1-eth1 bob-eth0 bob-eth1 bob-eth2"
cmp "$dir/1/out.txt" "$dir/2/out.txt"
for i in $ifaces; do
  cmp "$dir/1/demo-$i.pcap" "$dir/2/demo-$i.pcap"
  [ -s "$dir/4/clean-$i.pcap" ] || { echo "--pcap clean did not write clean-$i.pcap"; exit 1; }
done
if cmp -s "$dir/1/demo-bob-eth0.pcap" "$dir/3/demo-bob-eth0.pcap"; then
  echo "a different seed produced the same faults"; exit 1
fi
for d in 1 3 4; do
  grep -q "demo: all checks passed" "$dir/$d/out.txt" || { echo "run $d: a check failed"; exit 1; }
  if grep -q FAILED "$dir/$d/out.txt"; then echo "run $d: FAILED in the output"; exit 1; fi
done
# --quiet prints results, not events.
if grep -qE '^ +[0-9]+\.[0-9]{6} (alice|bob|r1) +(dev|link|arp|ip|icmp|udp|tcp|socket|app) ' "$dir/3/out.txt"; then
  echo "--quiet printed trace events"; exit 1
fi
expect() {
  grep -qF -- "$1" "$dir/1/out.txt" || { echo "missing from the demo's output: $1"; exit 1; }
}
# Scene 1: the echo request waits for ARP, then climbs bob's layers; bob answers in place.
for step in "alice    arp  neigh_create   10.0.0.2 dev 1 INCOMPLETE" \
            "alice    arp  arp_request    eth0 request 10.0.0.1" \
            "alice    dev  tx_ring" "alice    dev  tx_clean" \
            "bob      dev  rx_dma" "bob      dev  irq" "bob      dev  napi_poll" \
            "bob      dev  netif_receive" "bob      link eth_rcv" "bob      arp  arp_reply" \
            "alice    arp  neigh_update   10.0.0.2 dev 1 INCOMPLETE -> REACHABLE" \
            "bob      ip   ip_rcv         eth0 10.0.0.1 > 10.0.0.2 proto 1 len 84 ttl 64" \
            "bob      icmp icmp_rcv       10.0.0.1 > 10.0.0.2 type 8 code 0" \
            "bob      icmp echo_reply     to 10.0.0.1" "bob      dev  napi_complete" \
            "64 bytes from 10.0.0.2: icmp_seq=1" \
            "10.0.0.2 dev eth0 lladdr 02:00:00:02:00:01 REACHABLE" \
            "10.0.0.1 dev eth0 lladdr 02:00:00:01:00:01 DELAY"; do
  expect "$step"
done
# Scene 2: one interrupt, polls of 64, the budget running out, the ring overflowing.
for step in "bob      dev  napi_poll      eth0 budget=64 done=64" "bob      dev  time_squeeze" \
            "[RxRingFull:" "188 lost to a full" "1 interrupt(s)"; do
  expect "$step"
done
# Scene 3: every lost ping explained.
expect "200 packets transmitted"
expect "BadChecksum"
expect "InCsumErrors"
# Scene 4: the router. TTL 64 -> 63, new MACs per hop, traceroute, fragments, DF, FORWARD.
for step in "r1       ip   ip_forward     eth0 > 10.0.2.2 via 10.0.2.2 dev eth1 ttl 63" \
            "bob      ip   ip_rcv         eth1 10.0.1.2 > 10.0.2.2 proto 1 len 84 ttl 63" \
            "02:00:00:01:00:02 > 02:00:00:03:00:01, IPv4 10.0.1.2 > 10.0.2.2: ICMP echo request" \
            "02:00:00:03:00:02 > 02:00:00:02:00:02, IPv4 10.0.1.2 > 10.0.2.2: ICMP echo request" \
            "ARP, Request who-has 10.0.2.2 tell 10.0.2.1" \
            "[TtlExpired:" "   1  10.0.1.1  " "ICMP time exceeded" "   2  10.0.2.2  " \
            "ICMP port unreachable" "r1       ip   ip_fragment    1428 bytes into mtu 1000" \
            "(frag " "bob      ip   ip_defrag      reassembled 1428 bytes" \
            "1408 bytes from 10.0.2.2: icmp_seq=1" "FragCreates +2" "ReasmOKs +1" \
            "Frag needed and DF set (mtu = 1000)" "local error: message too long, mtu=1000" \
            "Chain FORWARD (policy ACCEPT 5 packets" "DROP       udp" "FORWARD DROP rule 1"; do
  expect "$step"
done
# Scene 5: TCP between alice and bob on eth2: ARP, the handshake, data, the four-way close, each
# frame's journey through ring, NAPI, Ethernet, IP, TCP and the socket.
for step in "alice    arp  neigh_create   10.0.3.2 dev 3 INCOMPLETE" "CLOSED -> SYN-SENT" \
            "alice    tcp  tcp_transmit_skb 10.0.3.1:" "> 10.0.3.2:80 [S] seq" \
            "bob      dev  rx_dma         eth2" "bob      dev  napi_poll      eth2" \
            "bob      link eth_rcv        eth2" "bob      ip   ip_rcv         eth2 10.0.3.1 > 10.0.3.2 proto 6" \
            "bob      tcp  tcp_v4_rcv     10.0.3.1:" "10.0.3.2:80 > 10.0.3.1:" \
            "SYN-SENT -> ESTABLISHED" "SYN-RECEIVED -> ESTABLISHED" "bob      tcp  accept_queue" \
            "bob      sock wakeup         listener poll=IN state=LISTEN" "bob      app  accept" \
            "[ok] three segments later both ends are ESTABLISHED" "negotiated: MSS 1448" \
            "bob      app  recv           server -> 3000 bytes" "alice    app  recv           client -> 1000 bytes" \
            "ESTABLISHED -> FIN-WAIT-1" "ESTABLISHED -> CLOSE-WAIT" "poll=IN|OUT|RDHUP state=CLOSE-WAIT" \
            "server -> 0 (end of stream" "CLOSE-WAIT -> LAST-ACK" "FIN-WAIT-2 -> TIME-WAIT" \
            "LAST-ACK -> CLOSED" "Flags [F.]" "[ok] 61 s later TIME-WAIT has expired" \
            "RetransSegs 0"; do
  expect "$step"
done
# Scene 6: every host's counters.
for step in "--- alice ---" "--- r1 ---" "--- bob ---" "Ip: Forwarding DefaultTTL" \
            "default via 10.0.1.1 dev eth1" "drops by reason:"; do
  expect "$step"
done

if command -v tshark >/dev/null; then
  # Prints the frames of $1 that tshark finds malformed, with a bad checksum, or with an
  # expert item of severity warning (0x00600000) or error (0x00800000).
  defects() {
    tshark -n -r "$1" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
      -o tcp.check_checksum:TRUE \
      -T fields -E occurrence=a -E aggregator=, -e frame.number -e _ws.malformed \
      -e ip.checksum.status -e udp.checksum.status -e icmp.checksum.status \
      -e tcp.checksum.status -e _ws.expert.severity 2>/dev/null |
      awk -F'\t' '$2!="" || $3~/(^|,)0(,|$)/ || $4~/(^|,)0(,|$)/ || $5~/(^|,)0(,|$)/ ||
                  $6~/(^|,)0(,|$)/ || $7~/(^|,)(6291456|8388608)(,|$)/'
  }
  frames() { tshark -n -r "$1" 2>/dev/null | wc -l; }
  # Without bit flips every frame on every wire must decode cleanly (drops and duplicates do
  # not change frames). The captures sit under the fault injector: they record the wire.
  for i in $ifaces; do
    f="$dir/4/clean-$i.pcap"
    min=10
    case $i in alice-eth0|bob-eth0) min=600 ;; esac
    [ "$(frames "$f")" -gt $min ] || { echo "tshark read too few frames from $f"; exit 1; }
    bad=$(defects "$f")
    [ -z "$bad" ] || { echo "tshark: defective frames in $f:"; echo "$bad" | head; exit 1; }
  done
  # The default run flips bits on alice's eth0 TX only: the router's links stay clean, and
  # tshark must flag the corrupted frames on the alice-bob wire.
  for i in alice-eth1 alice-eth2 r1-eth0 r1-eth1 bob-eth1 bob-eth2; do
    bad=$(defects "$dir/1/demo-$i.pcap")
    [ -z "$bad" ] || { echo "tshark: defective frames in demo-$i.pcap:"; echo "$bad"; exit 1; }
  done
  [ -n "$(defects "$dir/1/demo-alice-eth0.pcap")" ] ||
    { echo "expected tshark to flag the corrupted frames"; exit 1; }
fi
echo "demo_test: ok"
