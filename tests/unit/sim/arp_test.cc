// tests/unit/sim/arp_test.cc — ARP between ustack hosts, the neighbour state machine in a
// whole network: first-packet resolution, REACHABLE -> STALE -> DELAY -> PROBE -> REACHABLE,
// and resolution failure reported to the local sender as ICMP host unreachable.
#include <gtest/gtest.h>

#include <cerrno>

#include "scenario.h"
#include "tools/scratch_dir.h"

namespace ustack::sim {
namespace {

using link::NeighState;
using test::at;
using test::ip;

std::optional<NeighState> state(World& w, const char* host, const char* peer) {
  const link::NeighEntry* e = w.host(host).neigh().lookup(1, ip(peer));
  if (e == nullptr) return std::nullopt;
  return e->state;
}

TEST(Arp, NeighbourLifecycleBetweenTwoHosts) {
  testtools::ScratchDir dir;
  World w(21);
  ConnectOptions o;
  o.link.latency = Duration::us(50);
  o.a.pcap_path = dir.file("arp.pcap");
  Connection c = test::two_hosts(w, o);
  const wire::MacAddr mac_a = c.a.mac();
  const wire::MacAddr mac_b = c.b.mac();
  test::Pinger ping(w, "a");
  w.run_until(at(Duration::ms(1)));
  // The gratuitous announcements create no entries (RFC 826 merge only updates).
  EXPECT_EQ(state(w, "a", "10.0.0.2"), std::nullopt);

  // 1. The first packet: INCOMPLETE, broadcast request, reply, REACHABLE.
  ASSERT_TRUE(ping.send(ip("10.0.0.2"), 1, test::pattern(56)).ok());
  EXPECT_EQ(state(w, "a", "10.0.0.2"), NeighState::kIncomplete);
  w.run_for(Duration::ms(5));
  ASSERT_EQ(ping.replies().size(), 1u);
  EXPECT_EQ(state(w, "a", "10.0.0.2"), NeighState::kReachable);
  EXPECT_EQ(w.host("a").neigh().lookup(1, ip("10.0.0.2"))->mac, mac_b);
  // b learnt a from the request it answered (STALE), then used it for the reply (DELAY).
  EXPECT_EQ(state(w, "b", "10.0.0.1"), NeighState::kDelay);

  // 2. REACHABLE lasts reachable_time, a random value in [base/2, 3*base/2) = [15 s, 45 s).
  w.run_until(at(Duration::s(14)));
  EXPECT_EQ(state(w, "a", "10.0.0.2"), NeighState::kReachable);
  w.run_until(at(Duration::s(46)));
  EXPECT_EQ(state(w, "a", "10.0.0.2"), NeighState::kStale);

  // 3. The next packet goes out at once on the stale MAC (DELAY); with no confirmation for
  // delay_first_probe_time (5 s) the entry probes with unicast requests (PROBE), and b's reply
  // makes it REACHABLE again.
  const Instant resend = w.now();
  ASSERT_TRUE(ping.send(ip("10.0.0.2"), 2, test::pattern(56)).ok());
  EXPECT_EQ(state(w, "a", "10.0.0.2"), NeighState::kDelay);
  w.run_for(Duration::ms(5));
  ASSERT_EQ(ping.replies().size(), 2u);
  EXPECT_EQ(state(w, "a", "10.0.0.2"), NeighState::kDelay);  // an echo reply confirms nothing
  w.run_until(resend + Duration::s(5) + Duration::us(10));
  EXPECT_EQ(state(w, "a", "10.0.0.2"), NeighState::kProbe);
  w.run_for(Duration::ms(1));
  EXPECT_EQ(state(w, "a", "10.0.0.2"), NeighState::kReachable);

  w.close_pcaps();
  auto arps = test::arp_frames(test::read_pcap(dir.file("arp.pcap")));
  // a's requests for b: one broadcast at the start, one unicast probe after the delay.
  std::vector<test::ArpSeen> a_asks;
  for (const auto& f : arps)
    if (f.arp.op == wire::ArpOp::kRequest && f.arp.sender_hw == mac_a &&
        f.arp.target_ip == ip("10.0.0.2"))
      a_asks.push_back(f);
  ASSERT_EQ(a_asks.size(), 2u);
  EXPECT_TRUE(a_asks[0].eth_dst.is_broadcast());
  EXPECT_EQ(a_asks[0].ts, at(Duration::ms(1)));
  EXPECT_EQ(a_asks[1].eth_dst, mac_b);  // PROBE is unicast to the MAC we have
  EXPECT_EQ(a_asks[1].ts, resend + Duration::s(5));
  size_t b_replies = 0;
  for (const auto& f : arps)
    b_replies += f.arp.op == wire::ArpOp::kReply && f.arp.sender_ip == ip("10.0.0.2");
  EXPECT_EQ(b_replies, 2u);
  test::expect_tshark_clean(dir.file("arp.pcap"));
}

// Resolution of a host that is not there: mcast_solicit (3) broadcast requests one
// retrans_time (1 s) apart, then FAILED; the queued packets are dropped and each is reported
// to its sender with ICMP host unreachable, which reaches the connected UDP socket.
TEST(Arp, ResolutionFailureDropsQueuedPacketsAndReportsHostUnreachable) {
  testtools::ScratchDir dir;
  World w(22);
  ConnectOptions o;
  o.a.pcap_path = dir.file("fail.pcap");
  test::two_hosts(w, o);
  stack::Stack& a = w.host("a");
  transport::UdpSocket* s = a.udp().open();
  ASSERT_TRUE(s->connect(w.now(), ip("10.0.0.99"), 9).ok());
  int readable = 0;
  s->on_readable([&](Instant) { ++readable; });
  const std::vector<uint8_t> payload = test::pattern(20);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->sendto(w.now(), payload).ok());
  test::Pinger ping(w, "a");
  ASSERT_TRUE(ping.send(ip("10.0.0.99"), 1, payload).ok());
  EXPECT_EQ(state(w, "a", "10.0.0.99"), NeighState::kIncomplete);
  EXPECT_EQ(a.neigh().lookup(1, ip("10.0.0.99"))->queued, 4u);

  w.run_until(at(Duration::ms(2900)));
  EXPECT_EQ(state(w, "a", "10.0.0.99"), NeighState::kIncomplete);
  EXPECT_EQ(s->take_error(), 0);
  w.run_until(at(Duration::ms(3100)));
  EXPECT_EQ(state(w, "a", "10.0.0.99"), NeighState::kFailed);
  EXPECT_EQ(s->take_error(), EHOSTUNREACH);
  EXPECT_EQ(s->take_error(), 0);  // reported once
  EXPECT_GE(readable, 1);
  EXPECT_TRUE(ping.replies().empty());

  const link::NeighStats& n = a.neigh().stats();
  EXPECT_EQ(n.res_failed, 1u);
  EXPECT_EQ(n.unres_discards, 4u);
  EXPECT_EQ(a.telemetry().drops().get(DropReason::kNeighFailed), 4u);
  const ip::IcmpStats& ic = a.ip().icmp_stats();
  EXPECT_EQ(ic.out_dest_unreachs, 4u);  // to ourselves, through the loopback
  EXPECT_EQ(ic.in_dest_unreachs, 4u);

  w.close_pcaps();
  auto arps = test::arp_frames(test::read_pcap(dir.file("fail.pcap")));
  std::vector<Instant> asks;
  for (const auto& f : arps)
    if (f.arp.op == wire::ArpOp::kRequest && f.arp.target_ip == ip("10.0.0.99"))
      asks.push_back(f.ts);
  EXPECT_EQ(asks,
            (std::vector<Instant>{at(Duration::s(0)), at(Duration::s(1)), at(Duration::s(2))}));
  // Nothing to 10.0.0.99 ever reached the wire, and no ICMP either (it stayed local).
  EXPECT_TRUE(test::ip_frames(test::read_pcap(dir.file("fail.pcap"))).empty());
  test::expect_tshark_clean(dir.file("fail.pcap"));
}

}  // namespace
}  // namespace ustack::sim
