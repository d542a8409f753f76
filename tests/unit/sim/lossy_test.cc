// tests/unit/sim/lossy_test.cc — pings over a lossy link (FaultInjector on a's NIC): about the
// configured fraction is lost, and every lost frame is one the injector counted.
#include <gtest/gtest.h>

#include "scenario.h"
#include "tools/scratch_dir.h"

namespace ustack::sim {
namespace {

using test::at;
using test::ip;

constexpr uint16_t kPings = 1000;

struct Wire {
  size_t frames_from_a = 0;
  size_t requests = 0;  // echo requests from a on the wire
  size_t replies = 0;   // echo replies from b on the wire
};
Wire on_wire(const std::string& pcap, wire::MacAddr mac_a) {
  Wire w;
  auto recs = test::read_pcap(pcap);
  for (const auto& r : recs) {
    auto e = wire::EthernetView::parse(r.data);
    if (e && e->src() == mac_a) ++w.frames_from_a;
  }
  for (const auto& m : test::icmp_frames(recs)) {
    w.requests += m.type == 8 && m.src == ip("10.0.0.1");
    w.replies += m.type == 0 && m.src == ip("10.0.0.2");
  }
  return w;
}

void ping_all(World& w, test::Pinger& ping) {
  for (uint16_t seq = 0; seq < kPings; ++seq) {
    w.run_until(at(Duration::ms(10) * (seq + 1)));
    ASSERT_TRUE(ping.send(ip("10.0.0.2"), seq, test::pattern(56)).ok());
  }
  w.run_for(Duration::s(5));
}

// 10 % of a's transmitted frames are dropped before the wire (the capture is on the wire side
// of the injector). Every frame the stack sent either reached the wire or was counted as
// dropped by the injector; every request that reached b was answered.
TEST(Lossy, TenPercentTransmitLossIsCountedByTheInjector) {
  testtools::ScratchDir dir;
  World w(51);
  ConnectOptions o;
  o.a.faults = dev::FaultInjectorConfig{.tx = {.drop = 0.1}};
  o.a.pcap_path = dir.file("lossy.pcap");  // on the wire: after TX faults
  Connection c = test::two_hosts(w, o);
  test::Pinger ping(w, "a");
  ping_all(w, ping);
  w.close_pcaps();

  const dev::FaultStats& f = w.faults("a", "eth0")->tx_fault_stats();
  const Wire seen = on_wire(dir.file("lossy.pcap"), c.a.mac());
  EXPECT_EQ(f.frames, f.dropped + seen.frames_from_a);
  const size_t lost_requests = kPings - seen.requests;
  EXPECT_LE(lost_requests, f.dropped);  // the rest of the drops were ARP frames
  EXPECT_EQ(seen.replies, seen.requests);
  EXPECT_EQ(ping.replies().size(), seen.requests);
  EXPECT_GT(lost_requests, 70u);  // ~10 % of 1000
  EXPECT_LT(lost_requests, 130u);
  EXPECT_EQ(w.host("a").telemetry().drops().get(DropReason::kFaultInjected), f.dropped);
  EXPECT_EQ(w.faults("a", "eth0")->rx_fault_stats().dropped, 0u);
  test::expect_tshark_clean(dir.file("lossy.pcap"));
}

// 10 % each way on a's NIC: about 1 - 0.9^2 = 19 % of the pings are lost, split between lost
// requests (TX) and lost replies (RX, after the capture saw them).
TEST(Lossy, TenPercentEachWayLosesAboutNineteenPercent) {
  testtools::ScratchDir dir;
  World w(52);
  ConnectOptions o;
  o.a.faults = dev::FaultInjectorConfig{.rx = {.drop = 0.1}, .tx = {.drop = 0.1}};
  o.a.pcap_path = dir.file("lossy2.pcap");
  Connection c = test::two_hosts(w, o);
  test::Pinger ping(w, "a");
  ping_all(w, ping);
  w.close_pcaps();

  const dev::FaultInjector& fi = *w.faults("a", "eth0");
  const Wire seen = on_wire(dir.file("lossy2.pcap"), c.a.mac());
  const size_t lost = kPings - ping.replies().size();
  const size_t lost_requests = kPings - seen.requests;
  const size_t lost_replies = seen.replies - ping.replies().size();
  EXPECT_EQ(lost, lost_requests + lost_replies);
  EXPECT_EQ(seen.replies, seen.requests);
  EXPECT_LE(lost_requests, fi.tx_fault_stats().dropped);
  EXPECT_LE(lost_replies, fi.rx_fault_stats().dropped);
  EXPECT_EQ(w.host("a").ip().icmp_stats().in_echo_reps, ping.replies().size());
  EXPECT_GT(lost, 150u);
  EXPECT_LT(lost, 230u);
  EXPECT_EQ(w.host("a").telemetry().drops().get(DropReason::kFaultInjected),
            fi.tx_fault_stats().dropped + fi.rx_fault_stats().dropped);
  test::expect_tshark_clean(dir.file("lossy2.pcap"));
}

}  // namespace
}  // namespace ustack::sim
