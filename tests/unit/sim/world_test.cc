// tests/unit/sim/world_test.cc — sim::World itself: topology, naming, configuration helpers,
// the virtual clock, shared packet ids and determinism.
#include "ustack/sim/world.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "scenario.h"
#include "tools/scratch_dir.h"

namespace ustack::sim {
namespace {

using test::at;
using test::ip;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(World, NamesInterfacesPerHostAndDerivesMacs) {
  World w;
  w.add_host("a");
  w.add_host("b");
  w.add_host("c");
  Connection ab = w.connect("a", "b");
  Connection ac = w.connect("a", "c", {}, 9000);
  EXPECT_EQ(ab.a.name(), "eth0");
  EXPECT_EQ(ab.b.name(), "eth0");
  EXPECT_EQ(ac.a.name(), "eth1");
  EXPECT_EQ(ac.b.name(), "eth0");
  EXPECT_EQ(ab.a.mac().to_string(), "02:00:00:01:00:01");
  EXPECT_EQ(ac.a.mac().to_string(), "02:00:00:01:00:02");
  EXPECT_EQ(ab.b.mac().to_string(), "02:00:00:02:00:01");
  EXPECT_EQ(ac.b.mac().to_string(), "02:00:00:03:00:01");
  EXPECT_EQ(ab.a.mtu(), 1500u);
  EXPECT_EQ(ac.a.mtu(), 9000u);
  EXPECT_TRUE(ab.a.is_up());
  EXPECT_EQ(&w.host("a").interface("eth1")->dev(), &ac.a.dev());
  EXPECT_NE(w.nic("a", "eth1"), nullptr);
  EXPECT_EQ(w.nic("a", "eth2"), nullptr);
  EXPECT_EQ(w.nic("nobody", "eth0"), nullptr);
  EXPECT_EQ(w.host_count(), 3u);
  EXPECT_EQ(w.host("b").name(), "b");
}

TEST(World, MiddlewareWrapsTheNicInTheRequestedOrder) {
  testtools::ScratchDir dir;
  World w;
  w.add_host("a");
  w.add_host("b");
  ConnectOptions o;
  o.a.faults = dev::FaultInjectorConfig{};
  o.a.pcap_path = dir.file("a.pcap");  // on the wire: FaultInjector(Pcap(nic))
  o.b.faults = dev::FaultInjectorConfig{};
  o.b.pcap_path = dir.file("b.pcap");
  o.b.capture_at = CaptureAt::kStack;  // at the stack: Pcap(FaultInjector(nic))
  Connection c = w.connect("a", "b", o);
  EXPECT_EQ(&c.a.dev(), static_cast<dev::NetDevice*>(w.faults("a", "eth0")));
  EXPECT_EQ(&w.faults("a", "eth0")->inner(), static_cast<dev::NetDevice*>(w.pcap("a", "eth0")));
  EXPECT_EQ(&w.pcap("a", "eth0")->inner(), static_cast<dev::NetDevice*>(w.nic("a", "eth0")));
  EXPECT_EQ(&c.b.dev(), static_cast<dev::NetDevice*>(w.pcap("b", "eth0")));
  EXPECT_EQ(&w.pcap("b", "eth0")->inner(), static_cast<dev::NetDevice*>(w.faults("b", "eth0")));
  w.add_host("c");
  Connection plain = w.connect("a", "c");
  EXPECT_EQ(&plain.a.dev(), static_cast<dev::NetDevice*>(w.nic("a", "eth1")));
  EXPECT_EQ(w.faults("a", "eth1"), nullptr);
  EXPECT_EQ(w.pcap("a", "eth1"), nullptr);
}

TEST(World, ConfigurationHelpersReportErrorsAsSentences) {
  World w;
  test::two_hosts(w);
  EXPECT_EQ(w.addr("a"), ip("10.0.0.1"));
  EXPECT_EQ(w.addr("b", "eth0"), ip("10.0.0.2"));
  EXPECT_EQ(w.add_address("a", "eth0", "10.0.0.300/24").error(), "bad address 10.0.0.300/24");
  EXPECT_EQ(w.add_address("a", "eth0", "10.0.0.3/33").error(), "bad address 10.0.0.3/33");
  EXPECT_EQ(w.add_address("a", "eth0", "10.0.0.3/").error(), "bad address 10.0.0.3/");
  EXPECT_EQ(w.add_address("a", "eth7", "10.0.0.3/24").error(), "a has no interface eth7");
  EXPECT_FALSE(w.add_address("a", "eth0", "10.0.0.1/24").ok());  // already there
  EXPECT_TRUE(w.add_address("a", "eth0", "10.0.9.1").ok());      // a bare address is a /32
  EXPECT_EQ(w.host("a").interface("eth0")->addrs().back().prefix_len, 32);
  EXPECT_FALSE(w.add_default_route("a", "192.0.2.1").ok());  // not on a connected subnet
  EXPECT_EQ(w.add_default_route("a", "nope").error(), "bad gateway nope");
  EXPECT_TRUE(w.add_default_route("a", "10.0.0.2").ok());
  EXPECT_TRUE(w.add_route("a", "172.16.0.0/12", "10.0.0.2").ok());
  EXPECT_FALSE(w.add_route("a", "172.16.0.0/12", "10.0.0.2").ok());  // exists
  EXPECT_FALSE(w.add_route("a", "172.16.0.0/12", "x").ok());
  auto r = w.host("a").fib().lookup(ip("172.20.1.1"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->next_hop, ip("10.0.0.2"));
}

TEST(World, AnEmptyWorldOnlyMovesTheClock) {
  World w;
  EXPECT_EQ(w.next_event(), Instant::never());
  w.run_until(at(Duration::s(5)));
  EXPECT_EQ(w.now(), at(Duration::s(5)));
  w.run_for(Duration::ms(250));
  EXPECT_EQ(w.now(), at(Duration::ms(5250)));
  EXPECT_EQ(w.stats().steps, 0u);
  w.run_until(at(Duration::s(1)));  // the past: the clock never goes back
  EXPECT_EQ(w.now(), at(Duration::ms(5250)));
}

// ARP request, ARP reply, echo request, echo reply: four one-way trips of 1 ms each, and the
// predicate stops the clock exactly when the reply is handed to the pinger. (Pinging at once
// would take three: b's gratuitous ARP, sent when its address was added, resolves a's
// INCOMPLETE entry on arrival, as Linux's arp_process does.)
TEST(World, RunUntilAPredicateStopsAtTheInstantItHolds) {
  World w;
  ConnectOptions o;
  o.link.latency = Duration::ms(1);
  test::two_hosts(w, o);
  w.run_until(at(Duration::ms(10)));
  test::Pinger ping(w, "a");
  ASSERT_TRUE(ping.send(ip("10.0.0.2"), 1, test::pattern(56)).ok());
  EXPECT_TRUE(w.run_until([&] { return !ping.replies().empty(); }, at(Duration::s(1))));
  EXPECT_EQ(w.now(), at(Duration::ms(14)));
  EXPECT_EQ(ping.replies()[0].when, at(Duration::ms(14)));
  EXPECT_EQ(ping.replies()[0].from, ip("10.0.0.2"));
  EXPECT_EQ(ping.replies()[0].data, test::pattern(56));

  // A predicate that never holds runs to the deadline and says so.
  EXPECT_FALSE(w.run_until([] { return false; }, at(Duration::ms(500))));
  EXPECT_EQ(w.now(), at(Duration::ms(500)));
  // One that already holds does not run anything.
  uint64_t steps = w.stats().steps;
  EXPECT_TRUE(w.run_until([] { return true; }, at(Duration::s(10))));
  EXPECT_EQ(w.now(), at(Duration::ms(500)));
  EXPECT_EQ(w.stats().steps, steps);
}

// With no latency everything happens in one instant: the loop keeps polling until every stack
// and link is idle before it moves the clock.
TEST(World, ZeroLatencyLinksResolveWithinOneInstant) {
  World w;
  ConnectOptions o;
  o.link.latency = Duration::zero();
  test::two_hosts(w, o);
  w.run_until(at(Duration::ms(3)));
  test::Pinger ping(w, "a");
  ASSERT_TRUE(ping.send(ip("10.0.0.2"), 1, test::pattern(8)).ok());
  EXPECT_TRUE(w.run_until([&] { return !ping.replies().empty(); }, at(Duration::s(1))));
  EXPECT_EQ(w.now(), at(Duration::ms(3)));
}

// A busy host's softirq does not run: its NIC still DMAs arriving frames into the RX ring
// (one interrupt for all of them) and drops what does not fit, and the stack handles the rest
// only when its CPU is free again, in polls of 64.
TEST(World, ABusyHostLetsFramesPileUpInItsRing) {
  World w;
  ConnectOptions o;
  o.link.latency = Duration::us(10);
  o.b.ring_size = 100;
  test::two_hosts(w, o);
  stack::Stack& b = w.host("b");
  transport::UdpSocket* rx = b.udp().open();
  ASSERT_TRUE(rx->bind(ip("10.0.0.2"), 9).ok());
  rx->set_rcvbuf(1 << 24);
  transport::UdpSocket* tx = w.host("a").udp().open();
  ASSERT_TRUE(tx->sendto(w.now(), test::pattern(8), ip("10.0.0.2"), 9).ok());  // ARP first
  w.run_for(Duration::ms(1));
  ASSERT_EQ(rx->rx_queued(), 1u);

  const dev::RingStats r0 = b.interface("eth0")->dev().ring_stats();
  const Instant free_at = w.now() + Duration::ms(2);
  w.set_busy_until("b", free_at);
  for (int i = 0; i < 150; ++i)
    ASSERT_TRUE(tx->sendto(w.now(), test::pattern(8), ip("10.0.0.2"), 9).ok());
  // Everything has landed well before b is free: nothing reached the socket yet.
  EXPECT_FALSE(w.run_until([&] { return rx->rx_queued() > 1; }, free_at - Duration::ns(1)));
  const dev::RingStats& r = b.interface("eth0")->dev().ring_stats();
  EXPECT_EQ(r.irq_raised - r0.irq_raised, 1u);
  EXPECT_EQ(r.rx_ring_full - r0.rx_ring_full, 50u);
  EXPECT_EQ(r.napi_polls, r0.napi_polls);
  // At free_at the stack runs: the 100 frames in the ring go up in polls of 64.
  EXPECT_TRUE(w.run_until([&] { return rx->rx_queued() == 101; }, free_at + Duration::ms(1)));
  EXPECT_EQ(w.now(), free_at);
  EXPECT_EQ(r.napi_polls - r0.napi_polls, 2u);  // 64, then 36: fewer than the weight, done
  EXPECT_EQ(r.budget_exhausted - r0.budget_exhausted, 1u);
}

// The simulated wire carries the packet id: the journey of one echo request has events on
// both hosts, and the hosts never hand out the same id.
TEST(World, PacketIdsAreSharedSoJourneysCrossHosts) {
  World w;
  TraceLog log;
  w.set_trace_sink(&log);
  test::two_hosts(w);
  test::Pinger ping(w, "a");
  ASSERT_TRUE(ping.send(ip("10.0.0.2"), 1, test::pattern(32)).ok());
  w.run_for(Duration::ms(10));
  ASSERT_EQ(ping.replies().size(), 1u);
  uint64_t request = 0;
  for (const TraceEvent& e : log.events())
    if (e.node == "a" && e.action == "ip_output" && request == 0) request = e.packet;
  ASSERT_NE(request, 0u);
  bool on_a = false;
  bool on_b = false;
  for (const TraceEvent& e : log.journey(request)) {
    on_a |= e.node == "a";
    on_b |= e.node == "b";
  }
  EXPECT_TRUE(on_a);
  EXPECT_TRUE(on_b);
  EXPECT_GE(w.packet_ids_issued(), 3u);  // request, reply, ARP
  w.set_trace_sink(nullptr);
}

// One scenario with faults, fragmentation and a router, run twice: the same seed writes the
// same bytes; another seed does not.
void fault_scenario(uint64_t seed, const std::string& dir) {
  World w(seed);
  test::RouterOptions o;
  o.left.a.pcap_path = dir + "/a.pcap";
  o.left.a.faults = dev::FaultInjectorConfig{.rx = {.drop = 0.1, .duplicate = 0.05},
                                             .tx = {.drop = 0.1, .reorder = 0.1}};
  o.right.b.pcap_path = dir + "/b.pcap";
  o.right.b.faults =
      dev::FaultInjectorConfig{.tx = {.delay = Duration::us(50), .jitter = Duration::us(400)}};
  test::router_topology(w, o);
  test::Pinger ping(w, "a");
  for (uint16_t i = 0; i < 100; ++i) {
    w.run_until(at(Duration::ms(10) * i));
    (void)ping.send(ip("10.0.2.2"), i, test::pattern(i % 3 == 0 ? 3000 : 100, uint8_t(i)));
  }
  w.run_for(Duration::s(2));
  EXPECT_GT(ping.replies().size(), 50u);
  w.close_pcaps();
}

TEST(World, SameSeedGivesByteIdenticalPcaps) {
  testtools::ScratchDir d1, d2, d3;
  fault_scenario(7, d1.path());
  fault_scenario(7, d2.path());
  fault_scenario(8, d3.path());
  for (const char* f : {"/a.pcap", "/b.pcap"}) {
    std::string one = slurp(d1.path() + f);
    EXPECT_GT(one.size(), 10'000u) << f;
    EXPECT_EQ(one, slurp(d2.path() + f)) << f;
    EXPECT_NE(one, slurp(d3.path() + f)) << f;
  }
  test::expect_tshark_clean(d1.path() + "/a.pcap");
  test::expect_tshark_clean(d1.path() + "/b.pcap");
}

// Seeds for stacks and for fault injectors come from separate streams: putting a (harmless)
// injector on a NIC changes nothing any stack does, down to the IP identification numbers.
TEST(World, AFaultInjectorDoesNotShiftTheStacksSeeds) {
  testtools::ScratchDir d1, d2;
  for (bool faults : {false, true}) {
    World w(9);
    ConnectOptions o;
    if (faults) o.a.faults = dev::FaultInjectorConfig{};
    o.b.pcap_path = (faults ? d2 : d1).file("b0.pcap");
    test::two_hosts(w, o);
    w.add_host("c");  // a host added after the injector: its seed must not move either
    ConnectOptions o2;
    o2.b.pcap_path = (faults ? d2 : d1).file("b1.pcap");
    w.connect("c", "b", o2);
    ASSERT_TRUE(w.add_address("c", "eth0", "10.0.1.3/24").ok());
    ASSERT_TRUE(w.add_address("b", "eth1", "10.0.1.2/24").ok());
    test::Pinger pa(w, "a"), pc(w, "c");
    for (uint16_t i = 0; i < 5; ++i) {
      ASSERT_TRUE(pa.send(ip("10.0.0.2"), i, test::pattern(1000 * i + 1)).ok());
      ASSERT_TRUE(pc.send(ip("10.0.1.2"), i, test::pattern(3000)).ok());
      w.run_for(Duration::ms(1));
    }
    EXPECT_EQ(pa.replies().size(), 5u);
    EXPECT_EQ(pc.replies().size(), 5u);
    w.close_pcaps();
  }
  EXPECT_EQ(slurp(d1.file("b0.pcap")), slurp(d2.file("b0.pcap")));
  EXPECT_EQ(slurp(d1.file("b1.pcap")), slurp(d2.file("b1.pcap")));
}

}  // namespace
}  // namespace ustack::sim
