// cli/demo_router.cc — scene 4 of `ustack demo`: alice (10.0.1.2) - r1 - bob (10.0.2.2), r1
// forwarding, default routes via r1, an MTU of 1000 between r1 and bob:
//   a. one ping across two hops: ARP per hop, TTL 64 -> 63, new MACs at every hop while the
//      IP addresses stay;
//   b. traceroute (UDP probes with TTL 1, 2): time exceeded from r1, port unreachable from bob;
//   c. a 1400-byte ping fragmented by r1 and reassembled by bob (and the reply by bob and alice);
//   d. the same with DF: fragmentation needed (mtu 1000), the learned path MTU, a local error;
//   e. an iptables DROP rule in r1's FORWARD chain blocking one UDP flow, with its counters.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "ustack/cli/demo_net.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"

namespace ustack::cli::demo {
namespace {

const Ipv4Addr kAlice1 = Ipv4Addr::from_octets(10, 0, 1, 2);
const Ipv4Addr kR1Left = Ipv4Addr::from_octets(10, 0, 1, 1);
const Ipv4Addr kBob1 = Ipv4Addr::from_octets(10, 0, 2, 2);

// What a capture shows of one IPv4 packet: the Ethernet and IP headers, and its ICMP type.
struct Seen {
  Instant ts;
  wire::MacAddr eth_src, eth_dst;
  Ipv4Addr src, dst;
  uint8_t ttl = 0;
  uint8_t protocol = 0;
  bool fragment = false;
  int icmp_type = -1;
  int icmp_code = -1;
  uint16_t icmp_rest_lo = 0;  // echo sequence / next-hop MTU
};

std::vector<Seen> ip_packets(const std::vector<dev::PcapRecord>& recs) {
  std::vector<Seen> out;
  for (const dev::PcapRecord& r : recs) {
    auto e = wire::EthernetView::parse(r.data);
    if (!e || e->ethertype() != wire::to_u16(wire::EtherType::kIpv4)) continue;
    auto v = wire::Ipv4View::parse(e->payload());
    if (!v) continue;
    Seen s{r.ts, e->src(), e->dst(), v->src(), v->dst(), v->ttl(), v->protocol(), v->is_fragment()};
    if (v->protocol() == wire::to_u8(wire::IpProto::kIcmp) && v->frag_offset() == 0) {
      if (auto m = wire::IcmpView::parse(v->payload())) {
        s.icmp_type = m->type();
        s.icmp_code = m->code();
        s.icmp_rest_lo = m->rest_lo();
      }
    }
    out.push_back(s);
  }
  return out;
}

// A narrator filter: only events whose action is one of `actions`.
std::function<bool(const TraceEvent&)> only(std::vector<std::string_view> actions) {
  return [actions = std::move(actions)](const TraceEvent& e) {
    for (std::string_view a : actions)
      if (e.action == a) return true;
    return false;
  };
}

constexpr uint32_t kNetLayers = layer_bit(Layer::kLink) | layer_bit(Layer::kArp) |
                                layer_bit(Layer::kIp) | layer_bit(Layer::kIcmp) |
                                layer_bit(Layer::kUdp);

void one_ping_two_hops(DemoNet& net) {
  net.say(
      "\n-- 4a. One ping across two hops (ping -c 1 10.0.2.2). Printed: the link, ARP, IP and\n"
      "   ICMP layers (the device steps are those of scene 1, at every hop).");
  Narrator& n = net.narrator();
  n.clear();
  n.explain("alice", "ip_output",
            "10.0.2.2 is on none of alice's subnets: the default route sends it via r1\n"
            "(10.0.1.1) out of eth1");
  n.explain("alice", "neigh_create",
            "alice resolves the next hop, r1, not bob: she never needs bob's MAC");
  n.explain("r1", "ip_rcv",
            "r1 receives it with TTL 64; 10.0.2.2 is not one of r1's addresses and\n"
            "ip_forward is on: forward it");
  n.explain("r1", "ip_forward",
            "ip_forward: FORWARD hook passed, TTL 64 -> 63 (header checksum patched in\n"
            "place, RFC 1624), route: out of eth1, next hop bob himself");
  n.explain("r1", "arp_rcv",
            "r1 answers for 10.0.1.1, the address of the interface the request came in on");
  n.explain("r1", "neigh_create", "a new link, a new ARP: r1 asks for bob's MAC on eth1",
            "INCOMPLETE");
  n.explain("r1", "eth_xmit",
            "a new Ethernet header for the second link: from r1's eth1 to bob's eth1;\n"
            "the IP header still says 10.0.1.2 > 10.0.2.2",
            "type 0x0800");
  n.explain("bob", "ip_rcv", "bob sees TTL 63: one router on the way");
  n.explain("bob", "ip_output",
            "the reply to 10.0.1.2 takes bob's default route, back through r1 (10.0.2.1)");
  n.explain("alice", "icmp_rcv", "the reply reaches alice's ping, TTL 63 as well");
  net.trace(kNetLayers);
  Pinger& ping = net.ping();
  ping.reset();
  const Instant t0 = net.now();
  (void)ping.send(t0, kBob1, 1, 56);
  net.run_for(Duration::ms(1));
  net.trace_off();
  n.clear();
  net.say("\n  " + ping.reply_line(1));
  net.say("\n  The frames on the two links (captured on r1's interfaces):");
  net.tcpdump("r1", "eth0", t0);
  net.tcpdump("r1", "eth1", t0);

  const Pinger::Probe* p = ping.probe(1);
  net.check(p != nullptr && p->replies == 1 && p->intact && p->from == kBob1,
            "alice's ping got bob's reply across r1");
  std::optional<Seen> left, right;
  for (const Seen& s : ip_packets(net.captured("r1", "eth0", t0)))
    if (s.icmp_type == 8 && !left) left = s;
  for (const Seen& s : ip_packets(net.captured("r1", "eth1", t0)))
    if (s.icmp_type == 8 && !right) right = s;
  stack::Stack& r1 = net.host("r1");
  net.check(left && right && left->ttl == 64 && right->ttl == 63,
            "the echo request left alice with ttl 64 and reached bob with ttl 63");
  net.check(left && right && left->src == right->src && left->dst == right->dst &&
                left->eth_src == net.host("alice").interface("eth1")->mac() &&
                left->eth_dst == r1.interface("eth0")->mac() &&
                right->eth_src == r1.interface("eth1")->mac() &&
                right->eth_dst == net.host("bob").interface("eth1")->mac(),
            "new MAC addresses at every hop (alice>r1, r1>bob), the same IP addresses");
  net.check(net.host("alice").neigh().lookup(2, kBob1) == nullptr &&
                net.host("alice").neigh().lookup(2, kR1Left) != nullptr,
            "alice's neighbour table has r1 (10.0.1.1) on eth1, never bob's 10.0.2.2");
  net.say("\n  $ ip neigh   # on r1: one neighbour per link\n" + indent(r1.format_neigh()));
}

void traceroute(DemoNet& net) {
  net.say(
      "\n-- 4b. traceroute -n -q 1 -m 2 10.0.2.2: UDP probes to unlikely ports, TTL 1 then 2.\n"
      "   Each hop that drops a probe says so with an ICMP error; the destination has no\n"
      "   socket on the port and says port unreachable. Printed: drops and ICMP errors.");
  stack::Stack& alice = net.host("alice");
  const uint64_t time_excds0 = net.host("r1").ip().icmp_stats().out_time_excds;
  const uint64_t no_ports0 = net.host("bob").udp().stats().no_ports;
  Narrator& n = net.narrator();
  n.clear();
  n.set_filter(only({"drop", "icmp_send"}));
  n.explain("r1", "drop", "TTL 1 cannot be decremented to 0 and forwarded (RFC 1812 5.3.1)");
  n.explain("r1", "icmp_send",
            "time exceeded, from r1's address facing alice (10.0.1.1): traceroute's hop 1");
  n.explain("bob", "drop", "bob has no socket on port 33435: NoPorts");
  n.explain("bob", "icmp_send", "port unreachable: traceroute has reached the destination");
  net.trace(kNetLayers);
  struct Hop {
    int errno_ = 0;
    Instant sent;
    std::optional<Seen> answer;
  };
  Hop hops[2];
  for (int i = 0; i < 2; ++i) {
    transport::UdpSocket* s = alice.udp().open();
    // Connected, so the socket hears of ICMP errors (Linux without IP_RECVERR).
    (void)s->connect(net.now(), kBob1, static_cast<uint16_t>(33434 + i));
    s->set_ttl(static_cast<uint8_t>(i + 1));
    const uint8_t probe[32] = {};
    hops[i].sent = net.now();
    (void)s->sendto(net.now(), probe);
    net.run_for(Duration::ms(1));
    hops[i].errno_ = s->take_error();
    for (const Seen& x : ip_packets(net.captured("alice", "eth1", hops[i].sent)))
      if (x.dst == kAlice1 && (x.icmp_type == 11 || x.icmp_type == 3)) hops[i].answer = x;
    alice.udp().close(s);
  }
  net.trace_off();
  n.clear();
  net.say("\n  traceroute to 10.0.2.2 (10.0.2.2), 2 hops max, 60 byte packets");
  for (int i = 0; i < 2; ++i) {
    const Hop& h = hops[i];
    if (!h.answer) {
      net.say(fmt::format("   {}  *", i + 1));
      continue;
    }
    net.say(fmt::format("   {}  {}  {}   ({}; the socket's error: {})", i + 1,
                        h.answer->src.to_string(), ms(h.answer->ts - h.sent),
                        h.answer->icmp_type == 11 ? "ICMP time exceeded" : "ICMP port unreachable",
                        h.errno_ == EHOSTUNREACH   ? "EHOSTUNREACH"
                        : h.errno_ == ECONNREFUSED ? "ECONNREFUSED"
                                                   : std::to_string(h.errno_)));
  }
  net.check(hops[0].answer && hops[0].answer->src == kR1Left && hops[0].answer->icmp_type == 11 &&
                hops[0].errno_ == EHOSTUNREACH,
            "hop 1: time exceeded from r1 (10.0.1.1)");
  net.check(hops[1].answer && hops[1].answer->src == kBob1 && hops[1].answer->icmp_type == 3 &&
                hops[1].answer->icmp_code == 3 && hops[1].errno_ == ECONNREFUSED,
            "hop 2: port unreachable from bob (10.0.2.2)");
  net.check(net.host("r1").ip().icmp_stats().out_time_excds == time_excds0 + 1 &&
                net.host("bob").udp().stats().no_ports == no_ports0 + 1,
            "r1 counted one OutTimeExcds, bob one Udp NoPorts");
}

void fragmentation(DemoNet& net) {
  net.say(
      "\n-- 4c. ping -c 1 -s 1400 10.0.2.2: a 1428-byte datagram meets the 1000-byte MTU of\n"
      "   r1's eth1. r1 fragments it (RFC 791), bob reassembles it; bob's reply is too big\n"
      "   for his own eth1, so bob fragments it, r1 forwards the fragments as they are and\n"
      "   alice reassembles. Printed: fragmentation and reassembly events.");
  stack::Stack& alice = net.host("alice");
  stack::Stack& r1 = net.host("r1");
  stack::Stack& bob = net.host("bob");
  const ip::FragStats r1f0 = r1.ip().frag_stats();
  const ip::FragStats bobf0 = bob.ip().frag_stats();
  const ip::ReasmStats bobr0 = bob.ip().reassembler().stats();
  const ip::ReasmStats alicer0 = alice.ip().reassembler().stats();
  Narrator& n = net.narrator();
  n.clear();
  n.set_filter(only({"ip_fragment", "defrag_queue", "ip_defrag"}));
  n.explain("r1", "ip_fragment",
            "1428 bytes do not fit eth1's MTU of 1000 and DF is clear: two fragments, the\n"
            "first with 976 bytes of payload (a multiple of 8), the second with 432");
  n.explain("bob", "defrag_queue", "bob queues each fragment by (src, dst, id, protocol)");
  n.explain("bob", "ip_defrag", "the last hole is filled: one datagram again, for ICMP");
  net.trace(layer_bit(Layer::kIp));
  Pinger& ping = net.ping();
  ping.reset();
  const Instant t0 = net.now();
  (void)ping.send(t0, kBob1, 1, 1400);
  net.run_for(Duration::ms(1));
  net.trace_off();
  n.clear();
  net.say("\n  " + ping.reply_line(1));
  net.tcpdump("r1", "eth1", t0);
  const Pinger::Probe* p = ping.probe(1);
  net.check(p != nullptr && p->replies == 1 && p->intact && p->bytes == 1408,
            "the 1400-byte ping came back whole");
  const ip::FragStats& r1f = r1.ip().frag_stats();
  net.check(r1f.frag_oks - r1f0.frag_oks == 1 && r1f.frag_creates - r1f0.frag_creates == 2,
            "r1 fragmented the request: FragOKs +1, FragCreates +2");
  net.check(bob.ip().reassembler().stats().reasm_reqds - bobr0.reasm_reqds == 2 &&
                bob.ip().reassembler().stats().reasm_oks - bobr0.reasm_oks == 1,
            "bob reassembled it: ReasmReqds +2, ReasmOKs +1");
  net.check(bob.ip().frag_stats().frag_creates - bobf0.frag_creates == 2 &&
                alice.ip().reassembler().stats().reasm_oks - alicer0.reasm_oks == 1,
            "bob fragmented the reply (FragCreates +2), alice reassembled it (ReasmOKs +1)");
}

void dont_fragment(DemoNet& net) {
  net.say(
      "\n-- 4d. ping -c 1 -s 1400 -M do 10.0.2.2: the same datagram with DF (don't fragment),\n"
      "   as path MTU discovery sends them (RFC 1191). Printed: drops, ICMP and PMTU events.");
  stack::Stack& alice = net.host("alice");
  stack::Stack& r1 = net.host("r1");
  const uint64_t fails0 = r1.ip().frag_stats().frag_fails;
  const uint64_t unreach0 = alice.ip().icmp_stats().in_dest_unreachs;
  Narrator& n = net.narrator();
  n.clear();
  n.set_filter(only({"drop", "icmp_send", "icmp_rcv", "pmtu"}));
  n.explain("r1", "drop", "too big for eth1 and DF set: r1 must not fragment, it drops");
  n.explain("r1", "icmp_send",
            "destination unreachable, code 4 (fragmentation needed), carrying eth1's MTU");
  n.explain("alice", "pmtu", "alice remembers the path MTU to 10.0.2.2 (for 10 minutes)");
  net.trace(kNetLayers);
  Pinger& ping = net.ping();
  ping.reset();
  const Instant t0 = net.now();
  (void)ping.send(t0, kBob1, 1, 1400, 0, /*dont_frag=*/true);
  net.run_for(Duration::ms(1));
  net.trace_off();
  n.clear();
  std::optional<Seen> err;
  for (const Seen& s : ip_packets(net.captured("alice", "eth1", t0)))
    if (s.icmp_type == 3 && s.icmp_code == 4) err = s;
  if (err) {
    net.say(fmt::format("\n  From {} icmp_seq=1 Frag needed and DF set (mtu = {})",
                        err->src.to_string(), err->icmp_rest_lo));
  }
  const std::optional<uint32_t> pmtu = alice.ip().pmtu(net.now(), kBob1);
  // A second DF ping of the same size: alice now knows it cannot fit, and refuses it herself.
  auto again = ping.send(net.now(), kBob1, 2, 1400, 0, /*dont_frag=*/true);
  if (!again && again.error() == ip::IpError::kMsgSize && pmtu)
    net.say(
        fmt::format("  ping: local error: message too long, mtu={}   (the second ping)", *pmtu));
  net.run_for(Duration::ms(1));
  net.check(ping.received() == 0 && err && err->src == kR1Left && err->icmp_rest_lo == 1000,
            "fragmentation needed (mtu 1000) from r1, no reply from bob");
  net.check(r1.ip().frag_stats().frag_fails == fails0 + 1 &&
                alice.ip().icmp_stats().in_dest_unreachs == unreach0 + 1,
            "r1 counted FragFails +1, alice Icmp InDestUnreachs +1");
  net.check(pmtu == 1000u && !again && again.error() == ip::IpError::kMsgSize,
            "alice learned path MTU 1000 to 10.0.2.2 and refuses the next DF ping (EMSGSIZE)");
}

void netfilter_drop(DemoNet& net) {
  const char* rule = "-A FORWARD -s 10.0.1.2 -p udp --dport 6001 -j DROP";
  net.say(
      fmt::format("\n-- 4e. netfilter on r1: iptables {}\n"
                  "   alice sends 5 datagrams to bob's port 6001 and 5 to port 6002.",
                  rule));
  stack::Stack& alice = net.host("alice");
  stack::Stack& r1 = net.host("r1");
  auto cmd = filter::parse_command(rule);
  const bool applied = cmd && r1.netfilter().apply(*cmd).ok();
  UdpReceiver& blocked = net.udp_receiver("bob", 6001);
  UdpReceiver& open = net.udp_receiver("bob", 6002);
  const DropCounters r1_drops0 = r1.telemetry().drops();
  Narrator& n = net.narrator();
  n.clear();
  uint64_t shown = 0;
  n.set_filter(
      [&shown](const TraceEvent& e) { return e.reason == DropReason::kFilter && shown++ == 0; });
  n.explain("r1", "drop", "the FORWARD chain's rule matched: DROP (silently, no ICMP)");
  net.trace(kNetLayers);
  transport::UdpSocket* tx = alice.udp().open();
  const std::vector<uint8_t> payload(100, 0x42);
  for (int i = 0; i < 5; ++i) {
    (void)tx->sendto(net.now(), payload, kBob1, 6001);
    (void)tx->sendto(net.now(), payload, kBob1, 6002);
    net.run_for(Duration::ms(1));
  }
  net.trace_off();
  n.clear();
  alice.udp().close(tx);
  net.say(fmt::format("\n  bob's port 6001 received {}, port 6002 received {}", blocked.datagrams,
                      open.datagrams));
  net.say("\n  $ iptables -L -v -n -x   # on r1\n" + indent(r1.netfilter().format()));
  const filter::Chain& fwd = r1.netfilter().chain(filter::Hook::kForward);
  net.check(applied && fwd.rules.size() == 1 && fwd.rules[0].packets == 5 &&
                blocked.datagrams == 0 && open.datagrams == 5,
            "the rule dropped the 5 datagrams to port 6001 and counted them; 6002's passed");
  net.check(
      r1.telemetry().drops().get(DropReason::kFilter) - r1_drops0.get(DropReason::kFilter) == 5,
      "r1's drops by reason: Filter +5");
}

}  // namespace

void scene_router(DemoNet& net) {
  net.title("Scene 4. A router: alice (10.0.1.2) -- r1 -- bob (10.0.2.2)");
  net.say(
      "  r1 has an address on each subnet and forwards (net.ipv4.ip_forward=1); alice and bob\n"
      "  each have a default route via r1. The r1-bob link has an MTU of 1000.\n\n"
      "  $ ip route   # on alice\n" +
      indent(net.host("alice").format_routes()));
  one_ping_two_hops(net);
  traceroute(net);
  fragmentation(net);
  dont_fragment(net);
  netfilter_drop(net);
}

}  // namespace ustack::cli::demo
