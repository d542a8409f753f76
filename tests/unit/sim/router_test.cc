// tests/unit/sim/router_test.cc — a ustack router between two subnets: forwarding, a
// traceroute, FORWARD-hook DROP and REJECT rules, DF and fragmentation at a smaller egress MTU,
// and forwarding switched off.
//
//   a 10.0.1.2/24 --eth0-- 10.0.1.1/24 r 10.0.2.1/24 --eth1-- 10.0.2.2/24 b
#include <gtest/gtest.h>

#include <cerrno>

#include "scenario.h"
#include "tools/scratch_dir.h"
#include "ustack/wire/icmp.h"

namespace ustack::sim {
namespace {

using test::at;
using test::ip;
using wire::Ipv4Addr;

class Router : public ::testing::Test {
 protected:
  void build(uint32_t left_mtu = 1500) {
    test::RouterOptions o;
    o.left.mtu = left_mtu;
    o.left.link.latency = Duration::us(100);
    o.right.link.latency = Duration::us(100);
    o.left.a.pcap_path = dir_.file("a.pcap");
    o.right.b.pcap_path = dir_.file("b.pcap");
    test::router_topology(w_, o);
  }
  // ICMP errors (destination unreachable, time exceeded) a's capture holds.
  std::vector<test::IcmpSeen> icmp_errors_at_a() {
    w_.flush_pcaps();
    std::vector<test::IcmpSeen> out;
    for (const auto& m : test::icmp_frames(test::read_pcap(dir_.file("a.pcap"))))
      if (m.type == 3 || m.type == 11) out.push_back(m);
    return out;
  }
  void check_pcaps() {
    w_.close_pcaps();
    test::expect_tshark_clean(dir_.file("a.pcap"));
    test::expect_tshark_clean(dir_.file("b.pcap"));
  }
  transport::UdpSocket* connected(const char* dst, uint16_t port, uint8_t ttl = 0) {
    transport::UdpSocket* s = w_.host("a").udp().open();
    EXPECT_TRUE(s->connect(w_.now(), ip(dst), port).ok());
    if (ttl != 0) s->set_ttl(ttl);
    return s;
  }
  uint64_t drops(const char* host, DropReason r) {
    return w_.host(host).telemetry().drops().get(r);
  }

  testtools::ScratchDir dir_;
  World w_{41};
};

TEST_F(Router, PingAcrossTheRouter) {
  build();
  test::Pinger ping(w_, "a");
  for (uint16_t seq = 0; seq < 20; ++seq) {
    w_.run_until(at(Duration::ms(10) * (seq + 1)));
    ASSERT_TRUE(ping.send(ip("10.0.2.2"), seq, test::pattern(64, uint8_t(seq))).ok());
  }
  w_.run_for(Duration::ms(50));
  ASSERT_EQ(ping.replies().size(), 20u);
  for (const auto& r : ping.replies()) {
    EXPECT_EQ(r.from, ip("10.0.2.2"));
    EXPECT_EQ(r.data, test::pattern(64, uint8_t(r.seq)));
  }
  EXPECT_EQ(w_.host("r").ip().stats().forw_datagrams, 40u);
  // Same IP addresses end to end, a new MAC and one hop less at every hop.
  w_.flush_pcaps();
  for (const auto& f : test::ip_frames(test::read_pcap(dir_.file("b.pcap")))) {
    EXPECT_EQ(f.ttl, f.src == ip("10.0.1.2") ? 63 : 64);
  }
  check_pcaps();
}

// traceroute's method: UDP to an unlikely port with TTL 1, then 2. The first hop answers time
// exceeded from the address facing us (RFC 1812 §4.3.2.4); the destination answers port
// unreachable.
TEST_F(Router, TracerouteSeesTheRouterThenTheDestination) {
  build();
  transport::UdpSocket* hop1 = connected("10.0.2.2", 33434, 1);
  transport::UdpSocket* hop2 = connected("10.0.2.2", 33435, 2);
  ASSERT_TRUE(hop1->sendto(w_.now(), test::pattern(32)).ok());
  w_.run_for(Duration::ms(5));
  ASSERT_TRUE(hop2->sendto(w_.now(), test::pattern(32)).ok());
  w_.run_for(Duration::ms(5));

  EXPECT_EQ(hop1->take_error(), EHOSTUNREACH);  // time exceeded, as Linux's icmp_err_convert
  EXPECT_EQ(hop2->take_error(), ECONNREFUSED);
  auto icmp = icmp_errors_at_a();
  ASSERT_EQ(icmp.size(), 2u);
  EXPECT_EQ(icmp[0].type, 11);
  EXPECT_EQ(icmp[0].code, 0);
  EXPECT_EQ(icmp[0].src, ip("10.0.1.1"));
  EXPECT_EQ(icmp[0].quoted_dst, ip("10.0.2.2"));
  EXPECT_EQ(icmp[1].type, 3);
  EXPECT_EQ(icmp[1].code, 3);
  EXPECT_EQ(icmp[1].src, ip("10.0.2.2"));
  EXPECT_EQ(w_.host("r").ip().icmp_stats().out_time_excds, 1u);
  EXPECT_EQ(drops("r", DropReason::kTtlExpired), 1u);
  EXPECT_EQ(w_.host("b").udp().stats().no_ports, 1u);
  check_pcaps();
}

// iptables -A FORWARD -p udp --dport 5001 -j DROP: that flow disappears at r and the rule
// counts it; the flow to 5002 passes untouched.
TEST_F(Router, ForwardDropRuleBlocksOneFlowAndCountsIt) {
  build();
  auto cmd = filter::parse_command("-A FORWARD -p udp --dport 5001 -j DROP");
  ASSERT_TRUE(cmd.ok()) << cmd.error();
  ASSERT_TRUE(w_.host("r").netfilter().apply(*cmd).ok());
  stack::Stack& b = w_.host("b");
  transport::UdpSocket* s1 = b.udp().open();
  transport::UdpSocket* s2 = b.udp().open();
  ASSERT_TRUE(s1->bind(Ipv4Addr::any(), 5001).ok());
  ASSERT_TRUE(s2->bind(Ipv4Addr::any(), 5002).ok());
  transport::UdpSocket* tx = w_.host("a").udp().open();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(tx->sendto(w_.now(), test::pattern(100), ip("10.0.2.2"), 5001).ok());
    ASSERT_TRUE(tx->sendto(w_.now(), test::pattern(100), ip("10.0.2.2"), 5002).ok());
    w_.run_for(Duration::ms(1));
  }
  w_.run_for(Duration::ms(5));
  EXPECT_EQ(s1->rx_queued(), 0u);
  EXPECT_EQ(s2->rx_queued(), 10u);
  const filter::Chain& fwd = w_.host("r").netfilter().chain(filter::Hook::kForward);
  ASSERT_EQ(fwd.rules.size(), 1u);
  EXPECT_EQ(fwd.rules[0].packets, 10u);
  EXPECT_EQ(fwd.rules[0].bytes, 10u * (20 + 8 + 100));
  EXPECT_EQ(fwd.policy_packets, 10u);  // the other flow met the ACCEPT policy
  EXPECT_EQ(drops("r", DropReason::kFilter), 10u);
  EXPECT_EQ(w_.host("r").ip().stats().forw_datagrams, 10u);
  EXPECT_TRUE(icmp_errors_at_a().empty());  // DROP is silent
  check_pcaps();
}

// REJECT answers for the destination: port unreachable by default, or the code asked for.
TEST_F(Router, ForwardRejectRuleAnswersWithTheIcmpError) {
  build();
  for (const char* line : {"-A FORWARD -p udp --dport 5003 -j REJECT",
                           "-A FORWARD -p udp --dport 5004 -j REJECT --reject-with "
                           "icmp-host-prohibited"}) {
    auto cmd = filter::parse_command(line);
    ASSERT_TRUE(cmd.ok()) << cmd.error();
    ASSERT_TRUE(w_.host("r").netfilter().apply(*cmd).ok());
  }
  transport::UdpSocket* s3 = connected("10.0.2.2", 5003);
  transport::UdpSocket* s4 = connected("10.0.2.2", 5004);
  ASSERT_TRUE(s3->sendto(w_.now(), test::pattern(10)).ok());
  w_.run_for(Duration::ms(2));
  ASSERT_TRUE(s4->sendto(w_.now(), test::pattern(10)).ok());
  w_.run_for(Duration::ms(2));
  EXPECT_EQ(s3->take_error(), ECONNREFUSED);
  EXPECT_EQ(s4->take_error(), EACCES);
  auto icmp = icmp_errors_at_a();
  ASSERT_EQ(icmp.size(), 2u);
  EXPECT_EQ(icmp[0].src, ip("10.0.1.1"));
  EXPECT_EQ(icmp[0].code, 3);
  EXPECT_EQ(icmp[1].src, ip("10.0.1.1"));
  EXPECT_EQ(icmp[1].code, 10);
  const filter::Chain& fwd = w_.host("r").netfilter().chain(filter::Hook::kForward);
  EXPECT_EQ(fwd.rules[0].packets, 1u);
  EXPECT_EQ(fwd.rules[1].packets, 1u);
  EXPECT_EQ(w_.host("b").ip().stats().in_receives, 0u);
  check_pcaps();
}

// ping -M do: an ICMP echo request of `total` bytes of IPv4 with DF set.
Result<void, ip::IpError> send_df_echo(World& w, const char* host, Ipv4Addr dst, size_t total) {
  return w.host(host).ip().send_echo(w.now(), dst, 0x4444, 1, test::pattern(total - 20 - 8),
                                     /*ttl=*/0, /*dont_frag=*/true);
}

// RFC 1191: a 2000-byte DF datagram meets r's 1500-byte egress: r drops it and answers
// fragmentation needed carrying 1500; a learns the path MTU and refuses the next DF datagram
// of that size itself (EMSGSIZE).
TEST_F(Router, DontFragmentTooBigGetsFragmentationNeededWithTheMtu) {
  build(/*left_mtu=*/4000);
  ASSERT_TRUE(send_df_echo(w_, "a", ip("10.0.2.2"), 2000).ok());
  w_.run_for(Duration::ms(5));
  auto icmp = icmp_errors_at_a();
  ASSERT_EQ(icmp.size(), 1u);
  EXPECT_EQ(icmp[0].src, ip("10.0.1.1"));
  EXPECT_EQ(icmp[0].type, 3);
  EXPECT_EQ(icmp[0].code, 4);
  EXPECT_EQ(icmp[0].rest_lo, 1500);
  EXPECT_EQ(w_.host("r").ip().frag_stats().frag_fails, 1u);
  EXPECT_EQ(drops("r", DropReason::kFragNeeded), 1u);
  EXPECT_EQ(w_.host("b").ip().stats().in_receives, 0u);
  EXPECT_EQ(w_.host("a").ip().pmtu(w_.now(), ip("10.0.2.2")), 1500u);

  auto again = send_df_echo(w_, "a", ip("10.0.2.2"), 2000);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error(), ip::IpError::kMsgSize);
  EXPECT_TRUE(send_df_echo(w_, "a", ip("10.0.2.2"), 1500).ok());
  check_pcaps();
}

// Without DF the router fragments (RFC 791) and b reassembles; b's reply is fragmented by b
// itself (its own MTU is 1500), forwarded fragment by fragment, and reassembled by a.
TEST_F(Router, WithoutDontFragmentTheRouterFragmentsAndTheDestinationReassembles) {
  build(/*left_mtu=*/4000);
  test::Pinger ping(w_, "a");
  ASSERT_TRUE(ping.send(ip("10.0.2.2"), 7, test::pattern(2000 - 28)).ok());
  w_.run_for(Duration::ms(5));
  ASSERT_EQ(ping.replies().size(), 1u);
  EXPECT_EQ(ping.replies()[0].data, test::pattern(2000 - 28));
  const ip::Ipv4Layer& a = w_.host("a").ip();
  const ip::Ipv4Layer& r = w_.host("r").ip();
  const ip::Ipv4Layer& b = w_.host("b").ip();
  EXPECT_EQ(a.frag_stats().frag_oks, 0u);  // 2000 fits a's 4000-byte link
  EXPECT_EQ(r.frag_stats().frag_oks, 1u);
  EXPECT_EQ(r.frag_stats().frag_creates, 2u);
  EXPECT_EQ(r.reassembler().stats().reasm_reqds, 0u);  // routers never reassemble
  EXPECT_EQ(r.stats().forw_datagrams, 3u);             // the request, two reply fragments
  EXPECT_EQ(b.reassembler().stats().reasm_oks, 1u);
  EXPECT_EQ(b.frag_stats().frag_creates, 2u);
  EXPECT_EQ(a.reassembler().stats().reasm_oks, 1u);
  w_.flush_pcaps();
  auto at_b = test::ip_frames(test::read_pcap(dir_.file("b.pcap")));
  ASSERT_EQ(at_b.size(), 4u);
  EXPECT_EQ(at_b[0].total_len, 1500);
  EXPECT_EQ(at_b[1].total_len, 520);
  check_pcaps();
}

// Linux fragments locally generated datagrams to the learned path MTU (ip_finish_output uses
// the route's MTU, which carries the PMTU exception), so the router need not.
TEST_F(Router, LocalOutputFragmentsToTheLearnedPathMtu) {
  build(/*left_mtu=*/4000);
  ASSERT_TRUE(send_df_echo(w_, "a", ip("10.0.2.2"), 2000).ok());
  w_.run_for(Duration::ms(5));
  ASSERT_EQ(w_.host("a").ip().pmtu(w_.now(), ip("10.0.2.2")), 1500u);
  test::Pinger ping(w_, "a");
  ASSERT_TRUE(ping.send(ip("10.0.2.2"), 1, test::pattern(2000 - 28)).ok());
  w_.run_for(Duration::ms(5));
  ASSERT_EQ(ping.replies().size(), 1u);
  EXPECT_EQ(w_.host("a").ip().frag_stats().frag_creates, 2u);
  EXPECT_EQ(w_.host("r").ip().frag_stats().frag_oks, 0u);
  check_pcaps();
}

// The router cannot resolve the next hop (nobody has 10.0.2.99): after its three ARP requests
// it drops the queued datagram and reports host unreachable from its near-side address
// (RFC 1812 §4.3.3.1 via Linux's ipv4_link_failure), and a's connected socket hears of it.
TEST_F(Router, UnresolvableNextHopIsReportedByTheRouter) {
  build();
  transport::UdpSocket* s = connected("10.0.2.99", 9);
  ASSERT_TRUE(s->sendto(w_.now(), test::pattern(40)).ok());
  w_.run_for(Duration::ms(2500));
  EXPECT_EQ(s->take_error(), 0);
  w_.run_for(Duration::ms(1000));
  EXPECT_EQ(s->take_error(), EHOSTUNREACH);
  auto icmp = icmp_errors_at_a();
  ASSERT_EQ(icmp.size(), 1u);
  EXPECT_EQ(icmp[0].src, ip("10.0.1.1"));
  EXPECT_EQ(icmp[0].type, 3);
  EXPECT_EQ(icmp[0].code, 1);
  EXPECT_EQ(icmp[0].quoted_dst, ip("10.0.2.99"));
  EXPECT_EQ(w_.host("r").neigh().stats().res_failed, 1u);
  EXPECT_EQ(drops("r", DropReason::kNeighFailed), 1u);
  check_pcaps();
}

// net.ipv4.ip_forward = 0: a packet for someone else is dropped (InAddrErrors,
// kNotForwarding) without an ICMP error, as Linux's ip_error does when forwarding is off.
TEST_F(Router, ForwardingOffDropsWithNotForwarding) {
  build();
  w_.host("r").set_forwarding(false);
  test::Pinger ping(w_, "a");
  for (uint16_t seq = 0; seq < 5; ++seq) {
    ASSERT_TRUE(ping.send(ip("10.0.2.2"), seq, test::pattern(56)).ok());
    w_.run_for(Duration::ms(10));
  }
  EXPECT_TRUE(ping.replies().empty());
  EXPECT_EQ(drops("r", DropReason::kNotForwarding), 5u);
  EXPECT_EQ(w_.host("r").ip().stats().in_addr_errors, 5u);
  EXPECT_EQ(w_.host("r").ip().stats().forw_datagrams, 0u);
  EXPECT_EQ(w_.host("b").ip().stats().in_receives, 0u);
  EXPECT_TRUE(icmp_errors_at_a().empty());
  // The router itself still answers.
  ASSERT_TRUE(ping.send(ip("10.0.1.1"), 9, test::pattern(56)).ok());
  w_.run_for(Duration::ms(5));
  ASSERT_EQ(ping.replies().size(), 1u);
  EXPECT_EQ(ping.replies()[0].from, ip("10.0.1.1"));
  check_pcaps();
}

}  // namespace
}  // namespace ustack::sim
