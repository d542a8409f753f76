#!/usr/bin/env bash
# bench/net_tap.sh [build-dir] — network-layer benchmarks of ustack over TAP, side by side with
# the Linux kernel over veth, reported as ratios ustack/Linux. docs/performance.md ("Network
# layer") records the results of exactly this command. Needs root (namespaces, TAP devices);
# without it, it prints "skipped: needs root" and exits 0.
#
# Cases (each repeated $REPS times; median, min and max are printed):
#   icmp_rr     ping -f -c $PING_COUNT: one echo outstanding at a time -> round trips/s.
#               ustack: `ustack host` with a TAP in namespace N, pinged by N's kernel.
#               Linux:  namespace N pings namespace P over a veth pair (kernel to kernel).
#   icmp_flood  ping -f -l 64 -c $FLOOD_COUNT: up to 64 echoes in flight -> round trips/s.
#   icmp_*_cpu  CPU nanoseconds per round trip, whole system: ping's CPU time (its system calls
#               carry the Linux peer's softirq work too), plus ustack's process run time.
#   forward     namespaces A and B joined through a router; A's udp_flood sends 18-byte UDP
#               datagrams (60-byte frames) to B for $FWD_SECONDS; B drops them at ingress
#               (nft netdev counter), so B spends no time in a socket. Reported: datagrams/s
#               that B received ("forward"), the router's own ForwDatagrams/s ("forw_datagrams")
#               and what the sender offered ("offered").
#   router_cpu  CPU nanoseconds the router spent per forwarded datagram (lower is better; not
#               disturbed by other load on the machine, unlike the rates). ustack: its process's
#               run time (/proc/PID/schedstat), which includes the kernel's work in its TAP
#               read()s and write()s (B's ingress included). Linux: forwarding runs as softirq
#               work in the sender's system calls, so it is the sender's CPU time per datagram
#               through the router minus the same sent straight to R (dropped at R's ingress).
#   router_busy How much of a CPU the router got while the sender ran (%): ustack's process;
#               for Linux the sender, in whose system calls the forwarding runs. Below ~95%
#               with datagrams lost means other load took the CPU (the CSV has ustack's time
#               waiting on a run queue): trust router_cpu then, not the rates.
#               ustack: `ustack host --forward` in namespace R, its two TAPs moved into A and B.
#               Linux:  namespace R with ip_forward=1 and two veth pairs.
#   tcp_rx      TCP bulk into the stack: Linux's socat sends $TCP_BYTES zeros; Mbit/s from the
#               first byte sent until the receiver has them all (SHA-256 checked). ustack:
#               `ustack host --tcp-sink` behind a TAP in namespace N, fed by N's kernel.
#               Linux: namespace N sends to namespace P over a veth pair (socat to socat).
#   tcp_tx      TCP bulk out of the stack: `ustack host --tcp-source` sends $TCP_BYTES of its
#               pattern to socat in N's kernel (SHA-256 checked against ustack's report).
#               Linux: the same veth transfer as tcp_rx (the reference for both directions).
#               The TAP carries plain 1500-byte frames (no offloads); veth uses GSO/GRO and
#               checksum offload, so the reference is the best the kernel does on this machine.
#               ustack on CPU 1, the Linux peer (and the Linux sender) on CPU 0.
# Repetitions interleave the stacks (and alternate which one goes first) so that load from other
# processes on a shared machine hits both alike. Every namespace is created here with a unique
# name (ubench-<pid>-...) and deleted on exit by a trap, whatever happens; every command runs
# under `timeout`. Results: bench/results/net_tap-<time>.{json,csv} (not in git).
#
# CPU placement (PIN=1, the default, on 2+ CPUs): ping and the ICMP ustack on CPU 0, so that
# both stacks do the whole round trip on one CPU as Linux does in ping's system calls (waking a
# process on the other vCPU costs more than the work here); the forwarding sender on CPU 0 and
# the ustack router on CPU 1 (a dedicated core, as a userspace stack is deployed; the Linux
# router runs in the sender's softirq on CPU 0). PIN=0 leaves placement to the scheduler.
#
# Environment: REPS (5), PING_COUNT (20000), FLOOD_COUNT (100000), FWD_SECONDS (2), PIN (1),
# TCP_BYTES (268435456), CASES ("icmp fwd tcp": the groups to run).
set -uo pipefail

build=${1:-build}
REPS=${REPS:-5}
PING_COUNT=${PING_COUNT:-20000}
FLOOD_COUNT=${FLOOD_COUNT:-100000}
FWD_SECONDS=${FWD_SECONDS:-2}
PIN=${PIN:-1}
TCP_BYTES=${TCP_BYTES:-268435456}
CASES=${CASES:-icmp fwd tcp}

say() { echo "net_tap: $*"; }

if [ "$(id -u)" != 0 ]; then
  say "skipped: needs root (network namespaces and TAP devices); run: sudo $0 $build"
  exit 0
fi
ustack=$build/ustack
flood=$build/bench/udp_flood
has_case() { case " $CASES " in *" $1 "*) return 0 ;; esac; return 1; }
for f in "$ustack" "$flood"; do
  [ "$f" = "$flood" ] && ! has_case fwd && continue
  if [ ! -x "$f" ]; then
    say "error: $f not built (make build; udp_flood needs -DUSTACK_BENCH=ON)" >&2
    exit 1
  fi
done
[ "$(nproc)" -ge 2 ] || PIN=0
for t in ip ping nft timeout awk taskset socat sha256sum ss; do
  command -v "$t" >/dev/null || {
    say "error: '$t' not found" >&2
    exit 1
  }
done
[ -c /dev/net/tun ] || {
  say "error: no /dev/net/tun" >&2
  exit 1
}
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)
case "$build_type" in
  Release | RelWithDebInfo) ;;
  *) say "warning: $build is a '${build_type:-?}' build; unoptimized numbers mean little" >&2 ;;
esac

tag=ubench-$$
ifp=ubt$$ # interface names: at most 15 bytes ("ubt" + pid of <= 7 digits + 2)
tmp=$(mktemp -d "/tmp/$tag.XXXXXX")
NSES=() # namespaces this run created (the only ones it deletes)
PIDS=() # background processes this run started

cleanup() {
  local p ns
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for ns in "${NSES[@]}"; do
    [ -n "$ns" ] || continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns delete "$ns" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM HUP

die() {
  say "error: $*" >&2
  exit 1
}

# ns_new NAME: creates namespace NAME (IPv6 off: no RS/MLD/DAD noise), loopback up.
ns_new() {
  ip netns add "$1" || die "ip netns add $1"
  NSES+=("$1")
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
}
ns_del() {
  local p i
  for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  ip netns delete "$1" 2>/dev/null
  for i in "${!NSES[@]}"; do [ "${NSES[$i]}" = "$1" ] && NSES[$i]=""; done
}
nx() { # NS CMD...: run in NS, bounded
  local ns=$1
  shift
  timeout -k 2 30 ip netns exec "$ns" "$@"
}

# on_cpu N: the command prefix that pins to CPU N (nothing when PIN=0).
on_cpu() { [ "$PIN" = 1 ] && echo "taskset -c $1"; }
runtime_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; } # PID: its CPU time so far, ns
runqwait_ns() { awk '{ print $2 }' "/proc/$1/schedstat"; } # PID: time it waited for a CPU

# ustack_start NS LIMIT_S OUT CPU ARGS...: runs `ustack host ARGS` in NS on CPU (terminated
# after LIMIT_S) and waits for its ready line; sets USTACK_PID (what to signal) and USTACK_RPID
# (ustack's own pid: timeout forks it; ip and taskset exec into it).
ustack_start() {
  local ns=$1 limit=$2 out=$3 cpu=$4 i
  shift 4
  # shellcheck disable=SC2046 # on_cpu's words are meant to split
  timeout -k 5 "$limit" ip netns exec "$ns" $(on_cpu "$cpu") "$ustack" host "$@" >"$out" \
    2>"$out.err" &
  USTACK_PID=$!
  PIDS+=("$USTACK_PID")
  for i in $(seq 100); do
    if grep -q "ready" "$out.err" 2>/dev/null; then
      USTACK_RPID=$(ip netns pids "$ns" | head -n 1) # the only process in NS yet
      [ -r "/proc/$USTACK_RPID/schedstat" ] || die "cannot find ustack's pid in $ns"
      return 0
    fi
    kill -0 "$USTACK_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$out.err" >&2
  die "ustack host did not become ready"
}
# ustack_stop: SIGINT, then wait for it to print its tables and exit (timeout bounds it).
ustack_stop() {
  kill -INT "$USTACK_PID" 2>/dev/null
  wait "$USTACK_PID" 2>/dev/null
}

# snmp_field FILE GROUP FIELD: a counter in /proc/net/snmp's format ("Ip: names" then
# "Ip: values"), which `ustack host` prints too.
snmp_field() {
  awk -v g="$2:" -v f="$3" '
    $1 == g { if (!h) { for (i = 2; i <= NF; i++) if ($i == f) c = i; h = 1 }
              else if (c) { print $c; exit } }' "$1"
}

CSV=$tmp/samples.csv
echo "case,stack,rep,value,unit,detail" >"$CSV"
record() { echo "$1,$2,$3,$4,$5,$6" >>"$CSV"; }
rate() { awk -v n="$1" -v t="$2" -v s="$3" 'BEGIN { printf "%.0f", n / t * s }'; } # N T PER_S

# ---- ICMP echo ------------------------------------------------------------------------------
# ping_rate NS DST ARGS...: runs ping on CPU 0; sets PING_RECV (replies), PING_MS (ping's own
# elapsed time) and PING_CPU (its CPU time, ns).
ping_rate() {
  local ns=$1 dst=$2 TIMEFORMAT='%3U %3S'
  shift 2
  # shellcheck disable=SC2046
  { time timeout -k 2 90 ip netns exec "$ns" $(on_cpu 0) ping -q -w 60 "$@" "$dst" \
    >"$tmp/ping.out" 2>&1; } 2>"$tmp/ping.time"
  read -r PING_RECV PING_MS < <(awk '
    /packets transmitted/ { for (i = 1; i <= NF; i++) { if ($i ~ /^received/) r = $(i-1)
                                                        if ($i == "time") t = $(i+1) } }
    END { sub(/ms/, "", t); print r + 0, t + 0 }' "$tmp/ping.out")
  PING_CPU=$(awk '{ printf "%.0f", ($1 + $2) * 1e9 }' "$tmp/ping.time")
}
warmup_ping() { # NS DST: 3 echoes must come back
  timeout -k 2 10 ip netns exec "$1" ping -q -c 3 -i 0.2 -W 1 "$2" >/dev/null ||
    die "no echo reply from $2 in $1"
}

# ping_case NS DST STACK REP CASE UPID PING_ARGS...: one ping run; records CASE (round trips/s)
# and CASE_cpu (ping's CPU time plus, for ustack, the CPU time of process UPID, per round trip).
ping_case() {
  local ns=$1 dst=$2 stack=$3 rep=$4 case=$5 upid=$6 c0=0 c1=0
  shift 6
  [ -n "$upid" ] && c0=$(runtime_ns "$upid")
  ping_rate "$ns" "$dst" "$@"
  [ -n "$upid" ] && c1=$(runtime_ns "$upid")
  [ "${PING_MS:-0}" -gt 0 ] && [ "${PING_RECV:-0}" -gt 0 ] || die "ping $* $dst failed"
  record "$case" "$stack" "$rep" "$(rate "$PING_RECV" "$PING_MS" 1000)" rt/s \
    "received=$PING_RECV ms=$PING_MS"
  record "${case}_cpu" "$stack" "$rep" "$(rate $((PING_CPU + c1 - c0)) "$PING_RECV" 1)" ns/rt \
    "ping_cpu_ns=$PING_CPU ustack_cpu_ns=$((c1 - c0)) received=$PING_RECV"
}
ping_cases() { # NS DST STACK REP UPID
  ping_case "$1" "$2" "$3" "$4" icmp_rr "$5" -f -c "$PING_COUNT"
  ping_case "$1" "$2" "$3" "$4" icmp_flood "$5" -f -l 64 -c "$FLOOD_COUNT"
}

icmp_ustack() { # REP
  local n=$tag-n$1 tap=${ifp}n
  ns_new "$n"
  ustack_start "$n" 300 "$tmp/icmp-ustack-$1.out" 0 --tap "$tap" --addr 10.201.0.2/24 --quiet
  ip -n "$n" addr add 10.201.0.1/24 dev "$tap" && ip -n "$n" link set "$tap" up || die "TAP setup"
  warmup_ping "$n" 10.201.0.2
  ping_cases "$n" 10.201.0.2 ustack "$1" "$USTACK_RPID"
  ustack_stop
  ns_del "$n"
}

icmp_linux() { # REP
  local n=$tag-ln$1 p=$tag-lp$1
  ns_new "$n"
  ns_new "$p"
  ip -n "$n" link add "${ifp}l0" type veth peer name "${ifp}l1" netns "$p" &&
    ip -n "$n" addr add 10.202.0.1/24 dev "${ifp}l0" && ip -n "$n" link set "${ifp}l0" up &&
    ip -n "$p" addr add 10.202.0.2/24 dev "${ifp}l1" && ip -n "$p" link set "${ifp}l1" up ||
    die "veth setup"
  warmup_ping "$n" 10.202.0.2
  ping_cases "$n" 10.202.0.2 linux "$1" ""
  ns_del "$n"
  ns_del "$p"
}

# ---- forwarding -------------------------------------------------------------------------------
# Addresses: A 10.203.1.1/24 -- 10.203.1.2 router 10.203.2.2 -- 10.203.2.1/24 B.
fwd_endpoints() { # A B IFA IFB: addresses, routes via the router, B's counting drop
  local a=$1 b=$2 ifa=$3 ifb=$4
  ip -n "$a" addr add 10.203.1.1/24 dev "$ifa" && ip -n "$a" link set "$ifa" up &&
    ip -n "$a" route add 10.203.2.0/24 via 10.203.1.2 &&
    ip -n "$b" addr add 10.203.2.1/24 dev "$ifb" && ip -n "$b" link set "$ifb" up &&
    ip -n "$b" route add 10.203.1.0/24 via 10.203.2.2 || die "forwarding endpoints setup"
  printf 'table netdev ubench {\n chain in {\n  type filter hook ingress device "%s" priority 0;\n  udp dport 9 counter drop\n }\n}\n' \
    "$ifb" | nx "$b" nft -f - || die "nft in $b"
}
nft_count() {
  nx "$1" nft list table netdev ubench |
    awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i+1) }'
}
warm_count() { # A DST: 3 pings through the router; prints the echoes + replies it forwarded
  timeout -k 2 10 ip netns exec "$1" ping -q -c 3 -i 0.2 -W 1 "$2" |
    awk '/packets transmitted/ { print $1 + $4 }'
}

# run_flood A DST: runs the sender for $FWD_SECONDS; sets FLOOD_SENT, FLOOD_NS (elapsed) and
# FLOOD_CPU (the sender's CPU time, ns).
run_flood() {
  local line
  # shellcheck disable=SC2046
  line=$(timeout -k 2 $((FWD_SECONDS + 20)) ip netns exec "$1" $(on_cpu 0) "$flood" "$2" 9 \
    "$FWD_SECONDS")
  FLOOD_SENT=$(echo "$line" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
  FLOOD_NS=$(echo "$line" | sed -n 's/.*elapsed_ns=\([0-9]*\).*/\1/p')
  FLOOD_CPU=$(echo "$line" | sed -n 's/.*cpu_ns=\([0-9]*\).*/\1/p')
  [ -n "$FLOOD_SENT" ] && [ -n "$FLOOD_NS" ] && [ -n "$FLOOD_CPU" ] || die "udp_flood failed: $line"
}

# fwd_flood STACK REP A B: floods B through the router; records what B received and what was
# offered; sets FWD_NS (the sender's elapsed time) and FWD_RECV.
fwd_flood() {
  local stack=$1 rep=$2 a=$3 b=$4
  run_flood "$a" 10.203.2.1
  FWD_NS=$FLOOD_NS
  sleep 0.3 # let the router drain its queue
  FWD_RECV=$(nft_count "$b")
  record forward "$stack" "$rep" "$(rate "$FWD_RECV" "$FWD_NS" 1e9)" pkt/s \
    "sent=$FLOOD_SENT received=$FWD_RECV ns=$FWD_NS"
  record offered "$stack" "$rep" "$(rate "$FLOOD_SENT" "$FWD_NS" 1e9)" pkt/s \
    "sent=$FLOOD_SENT ns=$FWD_NS sender_cpu_ns=$FLOOD_CPU"
}
record_forw() { # STACK REP FORWARDED
  record forw_datagrams "$1" "$2" "$(rate "$3" "$FWD_NS" 1e9)" pkt/s "forw=$3 ns=$FWD_NS"
}

fwd_ustack() { # REP
  local rep=$1 a=$tag-ua$1 b=$tag-ub$1 r=$tag-ur$1 fa=${ifp}fa fb=${ifp}fb warm forw cpu0 cpu1
  local wait0 wait1
  ns_new "$a"
  ns_new "$b"
  ns_new "$r"
  ustack_start "$r" $((FWD_SECONDS + 60)) "$tmp/fwd-ustack-$rep.out" 1 --forward \
    --tap "$fa" --addr 10.203.1.2/24 --tap "$fb" --addr 10.203.2.2/24
  # The TAP fds stay valid while their kernel interfaces move to A and B.
  ip -n "$r" link set "$fa" netns "$a" && ip -n "$r" link set "$fb" netns "$b" || die "move TAPs"
  fwd_endpoints "$a" "$b" "$fa" "$fb"
  warm=$(warm_count "$a" 10.203.2.1)
  [ "${warm:-0}" -gt 0 ] || die "no echo reply through the ustack router"
  cpu0=$(runtime_ns "$USTACK_RPID") wait0=$(runqwait_ns "$USTACK_RPID")
  fwd_flood ustack "$rep" "$a" "$b"
  cpu1=$(runtime_ns "$USTACK_RPID") wait1=$(runqwait_ns "$USTACK_RPID")
  ustack_stop
  forw=$(snmp_field "$tmp/fwd-ustack-$rep.out" Ip ForwDatagrams)
  [ -n "$forw" ] || die "no ForwDatagrams in ustack's output"
  forw=$((forw - warm))
  record_forw ustack "$rep" "$forw"
  record router_cpu ustack "$rep" "$(rate $((cpu1 - cpu0)) "$forw" 1)" ns/pkt \
    "router_cpu_ns=$((cpu1 - cpu0)) forw=$forw"
  record router_busy ustack "$rep" "$(rate $((cpu1 - cpu0)) "$FWD_NS" 100)" % \
    "router_cpu_ns=$((cpu1 - cpu0)) runqueue_wait_ns=$((wait1 - wait0)) ns=$FWD_NS"
  ns_del "$a"
  ns_del "$b"
  ns_del "$r"
}

fwd_linux() { # REP
  local rep=$1 a=$tag-la$1 b=$tag-lb$1 r=$tag-lr$1 fa=${ifp}fa fb=${ifp}fb before after
  local routed_cpu routed_sent
  ns_new "$a"
  ns_new "$b"
  ns_new "$r"
  ip -n "$a" link add "$fa" type veth peer name "${ifp}ra" netns "$r" &&
    ip -n "$b" link add "$fb" type veth peer name "${ifp}rb" netns "$r" &&
    ip -n "$r" addr add 10.203.1.2/24 dev "${ifp}ra" && ip -n "$r" link set "${ifp}ra" up &&
    ip -n "$r" addr add 10.203.2.2/24 dev "${ifp}rb" && ip -n "$r" link set "${ifp}rb" up &&
    nx "$r" sysctl -qw net.ipv4.ip_forward=1 || die "Linux router setup"
  fwd_endpoints "$a" "$b" "$fa" "$fb"
  [ "$(warm_count "$a" 10.203.2.1)" -gt 0 ] || die "no echo reply through the Linux router"
  nx "$r" cat /proc/net/snmp >"$tmp/snmp" && before=$(snmp_field "$tmp/snmp" Ip ForwDatagrams)
  fwd_flood linux "$rep" "$a" "$b"
  routed_cpu=$FLOOD_CPU routed_sent=$FLOOD_SENT
  record router_busy linux "$rep" "$(rate "$FLOOD_CPU" "$FLOOD_NS" 100)" % \
    "sender_cpu_ns=$FLOOD_CPU ns=$FLOOD_NS"
  nx "$r" cat /proc/net/snmp >"$tmp/snmp" && after=$(snmp_field "$tmp/snmp" Ip ForwDatagrams)
  record_forw linux "$rep" $((after - before))
  # The same datagrams sent straight to R, dropped at R's ingress as B drops them: the sender's
  # cost without the router's.
  printf 'table netdev ubench {\n chain in {\n  type filter hook ingress device "%s" priority 0;\n  ip daddr 10.203.1.2 udp dport 9 counter drop\n }\n}\n' \
    "${ifp}ra" | nx "$r" nft -f - || die "nft in $r"
  run_flood "$a" 10.203.1.2
  record router_cpu linux "$rep" \
    "$(awk -v c="$routed_cpu" -v n="$routed_sent" -v d="$FLOOD_CPU" -v m="$FLOOD_SENT" \
      'BEGIN { printf "%.0f", c / n - d / m }')" ns/pkt \
    "sender_cpu_ns=$routed_cpu sent=$routed_sent direct_cpu_ns=$FLOOD_CPU direct_sent=$FLOOD_SENT"
  ns_del "$a"
  ns_del "$b"
  ns_del "$r"
}

# ---- TCP bulk -----------------------------------------------------------------------------------
# Addresses: the kernel side 10.204.0.1/24, ustack (or the Linux peer P) 10.204.0.2/24.
now_ns() { date +%s%N; }
ZERO_SHA=""
zero_sha() { # the SHA-256 of $TCP_BYTES zeros (what every socat sender sends)
  [ -n "$ZERO_SHA" ] || ZERO_SHA=$(head -c "$TCP_BYTES" /dev/zero | sha256sum | cut -d' ' -f1)
  echo "$ZERO_SHA"
}
# tcp_listen NS PORT CPU OUT: socat listening in NS (background), every byte into sha256sum
# (written to OUT); sets RX_PID; returns once the port listens.
tcp_listen() {
  local ns=$1 port=$2 cpu=$3 out=$4 i
  # shellcheck disable=SC2046
  timeout -k 2 300 ip netns exec "$ns" $(on_cpu "$cpu") sh -c \
    "socat -u TCP-LISTEN:$port,reuseaddr STDOUT | sha256sum | cut -d' ' -f1 >$out" &
  RX_PID=$!
  PIDS+=("$RX_PID")
  for i in $(seq 100); do
    ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q . && return 0
    sleep 0.05
  done
  die "socat did not listen in $ns"
}
# tcp_send NS DST PORT CPU: socat in NS sends $TCP_BYTES zeros to DST:PORT (foreground).
tcp_send() {
  # shellcheck disable=SC2046
  head -c "$TCP_BYTES" /dev/zero | timeout -k 2 300 ip netns exec "$1" $(on_cpu "$4") \
    socat -u STDIN "TCP:$2:$3" || die "socat to $2:$3 failed"
}
# ustack_report OUT: waits (up to 300 s) for a `conn ... bytes N sha256 HEX` line from
# --tcp-sink or --tcp-source; prints "BYTES HEX".
ustack_report() {
  local i line
  for i in $(seq 30000); do
    line=$(cat "$1" "$1.err" 2>/dev/null | grep -m1 -o 'bytes [0-9]* sha256 [0-9a-f]*')
    [ -n "$line" ] && break
    sleep 0.01
  done
  echo "$line" | awk '{ print $2, $4 }'
}
record_tcp() { # CASE STACK REP NS_ELAPSED DETAIL
  record "$1" "$2" "$3" "$(rate $((TCP_BYTES * 8)) "$4" 1000)" Mbit/s "bytes=$TCP_BYTES ns=$4 $5"
}
tap_kernel_side() { # NS TAP: a persistent TAP with the kernel's address; ustack attaches to it
  ip -n "$1" tuntap add dev "$2" mode tap && ip -n "$1" addr add 10.204.0.1/24 dev "$2" &&
    ip -n "$1" link set "$2" up || die "TAP setup"
}

tcp_rx_ustack() { # REP: Linux -> ustack --tcp-sink
  local rep=$1 n=$tag-tr$1 tap=${ifp}r t0 t1 got
  ns_new "$n"
  tap_kernel_side "$n" "$tap"
  ustack_start "$n" 400 "$tmp/tcp-rx-ustack-$rep.out" 1 --tap "$tap" --addr 10.204.0.2/24 \
    --tcp-sink 5001 --quiet
  warmup_ping "$n" 10.204.0.2
  t0=$(now_ns)
  tcp_send "$n" 10.204.0.2 5001 0
  got=$(ustack_report "$tmp/tcp-rx-ustack-$rep.out")
  t1=$(now_ns)
  [ "$got" = "$TCP_BYTES $(zero_sha)" ] || die "ustack's sink got '$got'"
  record_tcp tcp_rx ustack "$rep" $((t1 - t0)) "sha_ok=1"
  ustack_stop
  ns_del "$n"
}

tcp_tx_ustack() { # REP: ustack --tcp-source -> Linux
  local rep=$1 n=$tag-tt$1 tap=${ifp}t t0 t1 got sha
  ns_new "$n"
  tap_kernel_side "$n" "$tap"
  tcp_listen "$n" 5001 0 "$tmp/tcp-tx-$rep.sha"
  t0=$(now_ns)
  ustack_start "$n" 400 "$tmp/tcp-tx-ustack-$rep.out" 1 --tap "$tap" --addr 10.204.0.2/24 \
    --tcp-source "10.204.0.1:5001:$TCP_BYTES" --quiet
  wait "$RX_PID" || die "the Linux receiver failed"
  t1=$(now_ns)
  got=$(ustack_report "$tmp/tcp-tx-ustack-$rep.out")
  sha=$(cat "$tmp/tcp-tx-$rep.sha")
  [ "$got" = "$TCP_BYTES $sha" ] || die "ustack's source reports '$got', Linux got sha256 $sha"
  record_tcp tcp_tx ustack "$rep" $((t1 - t0)) "sha_ok=1"
  ustack_stop
  ns_del "$n"
}

tcp_linux() { # REP CASE: Linux -> Linux over veth (N sends on CPU 0, P receives on CPU 1)
  local rep=$1 case=$2 n=$tag-tln$1 p=$tag-tlp$1 t0 t1 sha
  ns_new "$n"
  ns_new "$p"
  ip -n "$n" link add "${ifp}v0" type veth peer name "${ifp}v1" netns "$p" &&
    ip -n "$n" addr add 10.204.0.1/24 dev "${ifp}v0" && ip -n "$n" link set "${ifp}v0" up &&
    ip -n "$p" addr add 10.204.0.2/24 dev "${ifp}v1" && ip -n "$p" link set "${ifp}v1" up ||
    die "veth setup"
  warmup_ping "$n" 10.204.0.2
  tcp_listen "$p" 5001 1 "$tmp/tcp-linux-$rep.sha"
  t0=$(now_ns)
  tcp_send "$n" 10.204.0.2 5001 0
  wait "$RX_PID" || die "the Linux receiver failed"
  t1=$(now_ns)
  sha=$(cat "$tmp/tcp-linux-$rep.sha")
  [ "$sha" = "$(zero_sha)" ] || die "Linux to Linux: sha256 $sha"
  record_tcp "$case" linux "$rep" $((t1 - t0)) "sha_ok=1"
  ns_del "$n"
  ns_del "$p"
}

tcp_cases() { # REP ORDER(0|1)
  if [ "$2" = 1 ]; then
    tcp_rx_ustack "$1"
    tcp_linux "$1" tcp_rx
    tcp_tx_ustack "$1"
    tcp_linux "$1" tcp_tx
  else
    tcp_linux "$1" tcp_rx
    tcp_rx_ustack "$1"
    tcp_linux "$1" tcp_tx
    tcp_tx_ustack "$1"
  fi
}

# ---- run ----------------------------------------------------------------------------------------
say "build $build (${build_type:-?}), $(nproc) CPUs, kernel $(uname -r), REPS=$REPS PIN=$PIN CASES='$CASES'"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq "$REPS"); do
  say "repetition $rep/$REPS"
  if [ $((rep % 2)) = 1 ]; then
    has_case icmp && icmp_ustack "$rep" && icmp_linux "$rep"
    has_case fwd && fwd_ustack "$rep" && fwd_linux "$rep"
  else
    has_case icmp && icmp_linux "$rep" && icmp_ustack "$rep"
    has_case fwd && fwd_linux "$rep" && fwd_ustack "$rep"
  fi
  has_case tcp && tcp_cases "$rep" $((rep % 2))
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- summarize: per case and stack median, min, max; ratio of medians ustack/Linux ------------
summary=$(awk -F, '
  NR > 1 { k = $1 SUBSEP $2; n[k]++; v[k, n[k]] = $4 + 0; u[$1] = $5
           if (!($1 in seen)) { seen[$1] = 1; order[++nc] = $1 } }
  function med(k,   m, i, j, t, a) {
    m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
    lo = a[1]; hi = a[m]; return (m % 2) ? a[(m+1)/2] : (a[m/2] + a[m/2+1]) / 2 }
  END { for (c = 1; c <= nc; c++) { cs = order[c]
          mu = med(cs SUBSEP "ustack"); ul = lo; uh = hi
          ml = med(cs SUBSEP "linux"); ll = lo; lh = hi
          printf "%s %s %.0f %.0f %.0f %.0f %.0f %.0f %.3f\n", cs, u[cs], mu, ul, uh, ml, ll, lh,
                 (ml > 0 ? mu / ml : 0) } }' "$CSV")

echo
printf "%-15s %-6s | %9s %19s | %9s %19s | %6s\n" case unit ustack "(min..max)" Linux "(min..max)" ratio
echo "$summary" | while read -r cs unit mu ul uh ml ll lh ratio; do
  printf "%-15s %-6s | %9s %19s | %9s %19s | %6s\n" "$cs" "$unit" "$mu" "($ul..$uh)" "$ml" \
    "($ll..$lh)" "$ratio"
done
echo "(medians of $REPS; ratio = median ustack / median Linux: above 1 is better for ustack in"
echo " the rates (/s), below 1 in the CPU costs (ns/); load average $load0 -> $load1)"

results=$(cd "$(dirname "$0")" && pwd)/results
mkdir -p "$results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
cp "$CSV" "$results/net_tap-$stamp.csv"
{
  printf '{\n  "time": "%s", "git": "%s", "build": "%s", "build_type": "%s",\n' "$stamp" \
    "$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null)" "$build" "$build_type"
  printf '  "kernel": "%s", "cpus": %s, "loadavg": ["%s", "%s"],\n' "$(uname -r)" "$(nproc)" \
    "$load0" "$load1"
  printf '  "reps": %s, "ping_count": %s, "flood_count": %s, "fwd_seconds": %s, "pin": %s,\n' \
    "$REPS" "$PING_COUNT" "$FLOOD_COUNT" "$FWD_SECONDS" "$PIN"
  echo '  "cases": ['
  echo "$summary" | awk '{ printf "%s    {\"case\": \"%s\", \"unit\": \"%s\", \"ustack\": {\"median\": %s, \"min\": %s, \"max\": %s}, \"linux\": {\"median\": %s, \"min\": %s, \"max\": %s}, \"ratio\": %s}",
                           (NR > 1 ? ",\n" : ""), $1, $2, $3, $4, $5, $6, $7, $8, $9 } END { print "" }'
  echo '  ]'
  echo '}'
} >"$results/net_tap-$stamp.json"
say "results: $results/net_tap-$stamp.{json,csv}"
