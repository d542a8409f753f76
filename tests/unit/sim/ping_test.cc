// tests/unit/sim/ping_test.cc — ICMP echo between two ustack hosts: 200 pings at 10 ms
// intervals, and pings so big that both directions are fragmented and reassembled.
#include <gtest/gtest.h>

#include "scenario.h"
#include "tools/scratch_dir.h"

namespace ustack::sim {
namespace {

using test::at;
using test::ip;

TEST(Ping, TwoHundredEchoRequestsAreAllAnswered) {
  testtools::ScratchDir dir;
  World w(11);
  ConnectOptions o;
  o.link.latency = Duration::us(100);
  o.a.pcap_path = dir.file("ping.pcap");
  test::two_hosts(w, o);
  test::Pinger ping(w, "a");
  const Instant t0 = at(Duration::ms(5));
  for (uint16_t seq = 0; seq < 200; ++seq) {
    w.run_until(t0 + Duration::ms(10) * seq);
    ASSERT_TRUE(ping.send(ip("10.0.0.2"), seq, test::pattern(56, uint8_t(seq))).ok());
  }
  w.run_for(Duration::ms(100));

  ASSERT_EQ(ping.replies().size(), 200u);
  for (uint16_t seq = 0; seq < 200; ++seq) {
    const auto& r = ping.replies()[seq];
    EXPECT_EQ(r.seq, seq);
    EXPECT_EQ(r.from, ip("10.0.0.2"));
    EXPECT_EQ(r.data, test::pattern(56, uint8_t(seq)));
    // Round trip: two link latencies (the first also waits for ARP: two more).
    Duration rtt = r.when - (t0 + Duration::ms(10) * seq);
    EXPECT_EQ(rtt, Duration::us(seq == 0 ? 400 : 200)) << seq;
  }
  const ip::IcmpStats& a = w.host("a").ip().icmp_stats();
  const ip::IcmpStats& b = w.host("b").ip().icmp_stats();
  EXPECT_EQ(a.out_echos, 200u);
  EXPECT_EQ(a.in_echo_reps, 200u);
  EXPECT_EQ(b.in_echos, 200u);
  EXPECT_EQ(b.out_echo_reps, 200u);
  EXPECT_EQ(a.in_errors + b.in_errors + a.out_errors + b.out_errors, 0u);

  w.close_pcaps();
  auto recs = test::read_pcap(dir.file("ping.pcap"));
  size_t requests = 0, replies = 0;
  for (const auto& m : test::icmp_frames(recs)) {
    requests += m.type == 8;
    replies += m.type == 0;
  }
  EXPECT_EQ(requests, 200u);
  EXPECT_EQ(replies, 200u);
  test::expect_tshark_clean(dir.file("ping.pcap"));
}

// RFC 791 fragmentation on the way out, reassembly on the way in, both directions: the
// request is fragmented by a and reassembled by b, the reply fragmented by b and reassembled
// by a. With MTU 1500 each fragment carries 1480 bytes of the ICMP message.
struct BigPing {
  size_t payload;
  uint64_t fragments;  // per datagram: ceil((8 + payload) / 1480)
};
class FragmentedPing : public ::testing::TestWithParam<BigPing> {};

TEST_P(FragmentedPing, BothSidesFragmentAndReassemble) {
  const BigPing p = GetParam();
  constexpr uint16_t kCount = 10;
  testtools::ScratchDir dir;
  World w(12);
  ConnectOptions o;
  o.a.pcap_path = dir.file("big.pcap");
  test::two_hosts(w, o);
  test::Pinger ping(w, "a");
  for (uint16_t seq = 0; seq < kCount; ++seq) {
    w.run_until(at(Duration::ms(10) * (seq + 1)));
    ASSERT_TRUE(ping.send(ip("10.0.0.2"), seq, test::pattern(p.payload, uint8_t(seq))).ok());
  }
  w.run_for(Duration::ms(100));

  ASSERT_EQ(ping.replies().size(), kCount);
  for (uint16_t seq = 0; seq < kCount; ++seq) {
    EXPECT_EQ(ping.replies()[seq].seq, seq);
    EXPECT_EQ(ping.replies()[seq].data, test::pattern(p.payload, uint8_t(seq)));
  }
  for (const char* h : {"a", "b"}) {
    SCOPED_TRACE(h);
    const ip::Ipv4Layer& l = w.host(h).ip();
    EXPECT_EQ(l.frag_stats().frag_oks, kCount);
    EXPECT_EQ(l.frag_stats().frag_creates, kCount * p.fragments);
    EXPECT_EQ(l.frag_stats().frag_fails, 0u);
    EXPECT_EQ(l.reassembler().stats().reasm_reqds, kCount * p.fragments);
    EXPECT_EQ(l.reassembler().stats().reasm_oks, kCount);
    EXPECT_EQ(l.reassembler().stats().reasm_fails, 0u);
    EXPECT_EQ(l.reassembler().queues(), 0u);
  }
  EXPECT_EQ(w.host("b").ip().icmp_stats().out_echo_reps, kCount);

  w.close_pcaps();
  auto frames = test::ip_frames(test::read_pcap(dir.file("big.pcap")));
  EXPECT_EQ(frames.size(), 2 * kCount * p.fragments);
  for (const auto& f : frames) {
    EXPECT_TRUE(f.fragment);
    EXPECT_LE(f.total_len, 1500u);
  }
  test::expect_tshark_clean(dir.file("big.pcap"));
}

INSTANTIATE_TEST_SUITE_P(Sizes, FragmentedPing,
                         ::testing::Values(BigPing{4000, 3}, BigPing{60000, 41}),
                         [](const auto& info) { return std::to_string(info.param.payload); });

}  // namespace
}  // namespace ustack::sim
