#!/bin/bash
# Regenerates the Linux captures behind tests/unit/wire/ipv4_test.cc and icmp_test.cc (run as
# root; traffic stays inside the namespaces it creates, which are deleted on exit):
#   wic-a 10.77.1.2 --- 10.77.1.1 wic-r (ip_forward=1) 10.77.2.1 --- 10.77.2.2 wic-b
# Writes $D/a.pcap (seen on wic-a's veth) and $D/b.pcap (wic-b's veth); the tests hold the IP
# datagrams of the frames they name, Ethernet header stripped. Idents and timestamps differ on
# every run, so a new capture means new fixtures, not a diff against the old ones.
set -u
D=${1:-/tmp/wire-ipv4-icmp-cap}
mkdir -p "$D"
cleanup() {
  [ -n "${TDA:-}" ] && kill $TDA 2>/dev/null
  [ -n "${TDB:-}" ] && kill $TDB 2>/dev/null
  sleep 0.5
  for n in wic-a wic-r wic-b; do ip netns del $n 2>/dev/null; done
}
trap cleanup EXIT
set -e
for n in wic-a wic-r wic-b; do ip netns add $n; ip -n $n link set lo up; done
ip link add wica0 netns wic-a type veth peer name wicr0 netns wic-r
ip link add wicr1 netns wic-r type veth peer name wicb0 netns wic-b
ip -n wic-a addr add 10.77.1.2/24 dev wica0
ip -n wic-r addr add 10.77.1.1/24 dev wicr0
ip -n wic-r addr add 10.77.2.1/24 dev wicr1
ip -n wic-b addr add 10.77.2.2/24 dev wicb0
for p in "wic-a wica0" "wic-r wicr0" "wic-r wicr1" "wic-b wicb0"; do
  set -- $p
  ip -n $1 link set $2 up
  ip netns exec $1 ethtool -K $2 tx off tso off gso off >/dev/null
done
ip -n wic-a route add default via 10.77.1.1
ip -n wic-b route add default via 10.77.2.1
ip netns exec wic-r sysctl -qw net.ipv4.ip_forward=1
ip netns exec wic-r sysctl -qw net.ipv4.ipfrag_time=1
# redirect: r routes 10.77.9.0/24 back out the interface it came from
ip -n wic-r route add 10.77.9.0/24 via 10.77.1.3 dev wicr0
ip -n wic-r link set wicr1 mtu 1000
sleep 1
ip netns exec wic-a tcpdump -i wica0 -U -w $D/a.pcap 2>$D/tda.log & TDA=$!
ip netns exec wic-b tcpdump -i wicb0 -U -w $D/b.pcap 2>$D/tdb.log & TDB=$!
sleep 1.5
A="ip netns exec wic-a"
echo "== ping"; $A ping -c 1 -W 1 10.77.1.1 || true; sleep 0.3
echo "== ping -s 3000"; $A ping -c 1 -W 1 -s 3000 10.77.1.1 || true; sleep 0.3
echo "== ping -R"; $A ping -c 1 -W 1 -R 10.77.1.1 || true; sleep 0.3
echo "== ping -T tsonly"; $A ping -c 1 -W 1 -T tsonly 10.77.1.1 || true; sleep 0.3
echo "== udp closed port"; $A bash -c 'echo hello > /dev/udp/10.77.2.2/33434' || true; sleep 0.3
echo "== frag needed"; $A ping -c 1 -W 1 -M do -s 1200 10.77.2.2 || true; sleep 0.3
echo "== ttl 1"; $A ping -c 1 -W 1 -t 1 10.77.2.2 || true; sleep 0.3
echo "== through router"; $A ping -c 1 -W 1 10.77.2.2 || true; sleep 0.3
echo "== redirect"; $A ping -c 1 -W 1 10.77.9.9 || true; sleep 1.2
echo "== raw"; $A python3 - <<'PY'
# Hand-made datagrams Linux tools cannot produce, sent from wic-a over a raw socket.
import socket, struct, time
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def ip(frag, ident, payload, dst='10.77.1.1', proto=1):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20+len(payload), ident, frag, 64, proto, 0,
                    socket.inet_aton('10.77.1.2'), socket.inet_aton(dst))
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload
def icmp(t, c, rest, data):
    m = struct.pack('!BBHI', t, c, 0, rest) + data
    return m[:2] + struct.pack('!H', csum(m)) + m[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
# 1. echo request with the reserved ("evil", RFC 3514) flag bit set: does Linux answer?
s.sendto(ip(0x8000, 0x4242, icmp(8, 0, 0x77770001, b'reserved-bit-set')), ('10.77.1.1', 0))
time.sleep(0.3)
# 2. ICMP timestamp request (type 13): Linux answers with 14 (an "other" type for us).
s.sendto(ip(0x4000, 0x4243, icmp(13, 0, 0x77770002, struct.pack('!III', 12345678, 0, 0))), ('10.77.1.1', 0))
time.sleep(0.3)
# 3. first fragment only (MF, offset 0): r times out after ipfrag_time=1 and sends 11/1.
s.sendto(ip(0x2000, 0x4244, icmp(8, 0, 0x77770003, b'first-fragment!!')), ('10.77.1.1', 0))
PY
sleep 2.5
kill $TDA $TDB; wait $TDA $TDB 2>/dev/null || true
TDA= ; TDB=
echo done
