// tests/unit/sim/udp_test.cc — UDP between ustack hosts: 10 000 datagrams of assorted sizes
// (1 .. 65507 bytes) echoed byte-identical by app::UdpEcho, ICMP port unreachable to a
// connected socket, and receive-queue overflow counted as RcvbufErrors.
#include <gtest/gtest.h>

#include <cerrno>

#include "scenario.h"
#include "tools/scratch_dir.h"
#include "ustack/app/udp_echo.h"

namespace ustack::sim {
namespace {

using test::at;
using test::ip;
using wire::Ipv4Addr;

// Sizes that matter (no fragmentation, the last unfragmented size, the first fragmented one,
// the largest) and then a seeded mix: a third small, a third a few fragments, a third anything.
std::vector<size_t> datagram_sizes(size_t n, uint64_t seed) {
  std::vector<size_t> v = {1, 1472, 1473, 2952, 2953, 65507, 65506, 8};
  Rng rng(seed);
  while (v.size() < n) {
    switch (rng.below(3)) {
      case 0:
        v.push_back(rng.range(1, 1472));
        break;
      case 1:
        v.push_back(rng.range(1473, 9000));
        break;
      default:
        v.push_back(rng.range(1, 65507));
        break;
    }
  }
  return v;
}

TEST(Udp, TenThousandDatagramsOfAssortedSizesComeBackByteIdentical) {
  World w(31);
  ConnectOptions o;
  o.link.latency = Duration::us(20);
  o.link.bits_per_second = 10'000'000'000;  // 10 Gbit/s: big datagrams take a while
  test::two_hosts(w, o);
  app::UdpEcho echo(w.host("b"));
  ASSERT_TRUE(echo.start(7).ok());
  transport::UdpSocket* s = w.host("a").udp().open();
  ASSERT_TRUE(s->connect(w.now(), ip("10.0.0.2"), 7).ok());

  const std::vector<size_t> sizes = datagram_sizes(10'000, 31);
  Rng fill(99);
  std::vector<uint8_t> sent;
  std::vector<uint8_t> got(65536);
  uint64_t bytes = 0;
  size_t fragmented = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    sent.resize(sizes[i]);
    for (auto& b : sent) b = static_cast<uint8_t>(fill.next_u32());
    ASSERT_TRUE(s->sendto(w.now(), sent).ok()) << i;
    ASSERT_TRUE(w.run_until([&] { return s->readable(); }, w.now() + Duration::ms(100)))
        << "datagram " << i << " of " << sizes[i] << " bytes was not echoed";
    Ipv4Addr from;
    uint16_t port = 0;
    auto n = s->recv_into(got, &from, &port);
    ASSERT_TRUE(n.has_value());
    ASSERT_EQ(*n, sent.size()) << i;
    ASSERT_TRUE(std::equal(sent.begin(), sent.end(), got.begin())) << i;
    EXPECT_EQ(from, ip("10.0.0.2"));
    EXPECT_EQ(port, 7);
    bytes += sizes[i];
    fragmented += sizes[i] > 1472;
  }
  EXPECT_EQ(echo.stats().datagrams, 10'000u);
  EXPECT_EQ(echo.stats().send_errors, 0u);
  EXPECT_EQ(echo.stats().bytes, bytes);
  for (const char* h : {"a", "b"}) {
    SCOPED_TRACE(h);
    const transport::UdpStats& u = w.host(h).udp().stats();
    EXPECT_EQ(u.in_datagrams, 10'000u);
    EXPECT_EQ(u.out_datagrams, 10'000u);
    EXPECT_EQ(u.in_errors + u.rcvbuf_errors + u.in_csum_errors + u.no_ports, 0u);
    EXPECT_EQ(w.host(h).ip().frag_stats().frag_oks, fragmented);
    EXPECT_EQ(w.host(h).ip().reassembler().stats().reasm_oks, fragmented);
  }
  EXPECT_GT(bytes, 100'000'000u);
}

// A datagram to a port nobody listens on: b answers with ICMP port unreachable (RFC 1122
// §4.1.3.1) quoting it, and a's connected socket reports ECONNREFUSED on its next call.
TEST(Udp, ClosedPortGivesPortUnreachableAndConnRefused) {
  testtools::ScratchDir dir;
  World w(32);
  ConnectOptions o;
  o.a.pcap_path = dir.file("refused.pcap");
  test::two_hosts(w, o);
  transport::UdpSocket* s = w.host("a").udp().open();
  ASSERT_TRUE(s->connect(w.now(), ip("10.0.0.2"), 9999).ok());
  int wakeups = 0;
  s->on_readable([&](Instant) { ++wakeups; });
  ASSERT_TRUE(s->sendto(w.now(), test::pattern(100)).ok());
  w.run_for(Duration::ms(5));
  EXPECT_EQ(wakeups, 1);  // sk_error_report
  EXPECT_FALSE(s->readable());
  EXPECT_EQ(s->take_error(), ECONNREFUSED);
  EXPECT_EQ(s->take_error(), 0);

  EXPECT_EQ(w.host("b").udp().stats().no_ports, 1u);
  EXPECT_EQ(w.host("b").telemetry().drops().get(DropReason::kNoSocket), 1u);
  EXPECT_EQ(w.host("b").ip().icmp_stats().out_dest_unreachs, 1u);
  EXPECT_EQ(w.host("a").ip().icmp_stats().in_dest_unreachs, 1u);

  // An unconnected socket is not told (Linux without IP_RECVERR).
  transport::UdpSocket* u = w.host("a").udp().open();
  ASSERT_TRUE(u->sendto(w.now(), test::pattern(10), ip("10.0.0.2"), 9999).ok());
  w.run_for(Duration::ms(5));
  EXPECT_EQ(u->take_error(), 0);
  EXPECT_EQ(w.host("b").ip().icmp_stats().out_dest_unreachs, 2u);

  w.close_pcaps();
  auto icmp = test::icmp_frames(test::read_pcap(dir.file("refused.pcap")));
  ASSERT_EQ(icmp.size(), 2u);
  EXPECT_EQ(icmp[0].src, ip("10.0.0.2"));
  EXPECT_EQ(icmp[0].type, 3);
  EXPECT_EQ(icmp[0].code, 3);
  EXPECT_EQ(icmp[0].quoted_dst, ip("10.0.0.2"));
  EXPECT_EQ(icmp[0].quoted_protocol, 17);
  test::expect_tshark_clean(dir.file("refused.pcap"));
}

// A receiver that never reads: datagrams queue until their memory would pass the receive
// buffer, then each further one is dropped and counted (RcvbufErrors, InErrors, the socket's
// drops, DropReason::kSocketRcvBuff). Reading makes room again.
TEST(Udp, ReceiveQueueOverflowIsCountedAsRcvbufErrors) {
  World w(33);
  test::two_hosts(w);
  transport::UdpSocket* rx = w.host("b").udp().open();
  ASSERT_TRUE(rx->bind(Ipv4Addr::any(), 5000).ok());
  rx->set_rcvbuf(16384);
  transport::UdpSocket* tx = w.host("a").udp().open();
  constexpr int kSent = 100;
  for (int i = 0; i < kSent; ++i) {
    ASSERT_TRUE(tx->sendto(w.now(), test::pattern(200, uint8_t(i)), ip("10.0.0.2"), 5000).ok());
    w.run_for(Duration::us(100));
  }
  w.run_for(Duration::ms(5));
  const transport::UdpStats& u = w.host("b").udp().stats();
  const size_t queued = rx->rx_queued();
  EXPECT_GT(queued, 0u);
  EXPECT_LE(rx->rx_mem(), rx->rcvbuf());
  EXPECT_EQ(queued + u.rcvbuf_errors, static_cast<uint64_t>(kSent));
  EXPECT_GT(u.rcvbuf_errors, 50u);
  EXPECT_EQ(u.in_errors, u.rcvbuf_errors);
  EXPECT_EQ(u.in_datagrams, queued);
  EXPECT_EQ(rx->drops(), u.rcvbuf_errors);
  EXPECT_EQ(w.host("b").telemetry().drops().get(DropReason::kSocketRcvBuff), u.rcvbuf_errors);
  // The first datagrams are the ones kept (tail drop), in order.
  for (size_t i = 0; i < queued; ++i) {
    auto d = rx->recv();
    ASSERT_TRUE(d.has_value());
    EXPECT_TRUE(std::ranges::equal(d->payload(), test::pattern(200, uint8_t(i))));
  }
  EXPECT_EQ(rx->rx_mem(), 0u);
  ASSERT_TRUE(tx->sendto(w.now(), test::pattern(200), ip("10.0.0.2"), 5000).ok());
  w.run_for(Duration::ms(1));
  EXPECT_EQ(rx->rx_queued(), 1u);
  EXPECT_EQ(u.rcvbuf_errors, static_cast<uint64_t>(kSent) - queued);
}

}  // namespace
}  // namespace ustack::sim
