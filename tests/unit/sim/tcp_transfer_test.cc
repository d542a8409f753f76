// tests/unit/sim/tcp_transfer_test.cc — TCP between two ustack stacks on a clean simulated
// link and through a ustack router: transfers of 1 byte to 8 MiB in each direction and in
// both at once arrive byte-identical within virtual-time bounds, the handshake and close leave
// nothing behind once TIME-WAIT expires, and the same seed gives a byte-identical pcap.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "tcp_scenario.h"
#include "tools/scratch_dir.h"

namespace ustack::sim {
namespace {

using test::ip;
using test::TransferSpec;

constexpr uint64_t kGbit = 1'000'000'000;

// 1 Gbit/s, 50 us each way: RTT ~100 us plus serialization (12 us per full frame).
ConnectOptions gigabit() {
  ConnectOptions o;
  o.link.latency = Duration::us(50);
  o.link.bits_per_second = kGbit;
  return o;
}

// Time a perfect sender needs: payload at line rate with ~3 % header overhead, plus RTTs.
Duration line_time(size_t bytes, uint64_t bps) {
  return Duration::ns(
      static_cast<int64_t>(static_cast<double>(bytes) * 8 * 1.03 * 1e9 / static_cast<double>(bps)));
}

struct SizeCase {
  size_t up, down;
};
void PrintTo(const SizeCase& c, std::ostream* os) { *os << c.up << " up, " << c.down << " down"; }
std::string size_name(const ::testing::TestParamInfo<SizeCase>& i) {
  return "up" + std::to_string(i.param.up) + "_down" + std::to_string(i.param.down);
}

class CleanLink : public ::testing::TestWithParam<SizeCase> {};

// Every size, each direction and both at once, on a clean gigabit link. Bounds: slow start from
// IW10 doubles per RTT, so even 8 MiB needs ~10 RTTs (~2 ms) of ramp-up beyond line rate; the
// allowance is line time x 2 + 20 ms, and no receive stall may reach the 200 ms minimum RTO (a
// clean link never needs a retransmission timeout).
TEST_P(CleanLink, TransferArrivesExactlyAndWithinBounds) {
  const SizeCase c = GetParam();
  World w(7);
  test::two_hosts(w, gigabit());
  auto o = test::run_transfer(w, "a", "b", ip("10.0.0.2"),
                              TransferSpec{.up = c.up, .down = c.down, .seed = c.up + c.down});
  ASSERT_TRUE(o.completed);
  const Duration bound = line_time(c.up + c.down, kGbit) * 2 + Duration::ms(20);
  EXPECT_LE(o.elapsed(), bound) << "took " << o.elapsed().seconds() << " s";
  EXPECT_LT(o.max_gap, Duration::ms(200));
  for (const char* h : {"a", "b"}) {
    SCOPED_TRACE(h);
    const auto& m = w.host(h).tcp().mib();
    EXPECT_EQ(m.retrans_segs, 0u);
    EXPECT_EQ(m.tcp_timeouts, 0u);
    EXPECT_EQ(m.in_errs, 0u);
  }
  EXPECT_EQ(w.host("a").tcp().mib().active_opens, 1u);
  EXPECT_EQ(w.host("b").tcp().mib().passive_opens, 1u);
  // TIME-WAIT (60 s) expires and nothing is left on either side.
  w.run_for(Duration::s(61));
  test::expect_tcp_empty(w, {"a", "b"});
}

INSTANTIATE_TEST_SUITE_P(Sizes, CleanLink,
                         ::testing::Values(SizeCase{1, 0}, SizeCase{0, 1}, SizeCase{1, 1},
                                           SizeCase{1460, 0}, SizeCase{1461, 0}, SizeCase{0, 65536},
                                           SizeCase{100'000, 0}, SizeCase{1 << 20, 0},
                                           SizeCase{0, 1 << 20}, SizeCase{1 << 20, 1 << 20},
                                           SizeCase{8 << 20, 0}, SizeCase{0, 8 << 20},
                                           SizeCase{3 << 20, 5 << 20}),
                         size_name);

// The same through a forwarding ustack router (a -- r -- b, two gigabit hops).
TEST(TcpRouter, TransfersBothWaysThroughARouter) {
  World w(8);
  test::RouterOptions ro{.left = gigabit(), .right = gigabit()};
  test::router_topology(w, ro);
  auto o = test::run_transfer(w, "a", "b", ip("10.0.2.2"),
                              TransferSpec{.up = 2 << 20, .down = 3 << 20, .seed = 8});
  ASSERT_TRUE(o.completed);
  EXPECT_LE(o.elapsed(), line_time(5 << 20, kGbit) * 2 + Duration::ms(40));
  EXPECT_LT(o.max_gap, Duration::ms(200));
  EXPECT_GT(w.host("r").ip().stats().forw_datagrams, (5u << 20) / 1448);  // data, then ACKs
  EXPECT_EQ(w.host("r").tcp().mib().in_segs, 0u);  // the router forwards; its TCP sees nothing
  w.run_for(Duration::s(61));
  test::expect_tcp_empty(w, {"a", "b", "r"});
}

// The handshake and close, segment by segment, as the wire shows them: SYN (MSS 1460, SACK,
// timestamps, window scale), SYN-ACK, ACK, the data, then FIN from each side, each ACKed; the
// active closer (the client, which finishes first) sits in TIME-WAIT for 60 s.
TEST(TcpClean, HandshakeTransferAndCloseOnTheWire) {
  testtools::ScratchDir dir;
  World w(9);
  ConnectOptions o = gigabit();
  o.a.pcap_path = dir.file("a.pcap");
  test::two_hosts(w, o);
  auto r = test::run_transfer(w, "a", "b", ip("10.0.0.2"), TransferSpec{.up = 1000, .seed = 9});
  ASSERT_TRUE(r.completed);
  w.flush_pcaps();
  auto segs = test::tcp_frames(test::read_pcap(dir.file("a.pcap")));
  ASSERT_GE(segs.size(), 7u);
  EXPECT_TRUE(segs[0].flags.syn() && !segs[0].flags.ack());
  EXPECT_EQ(segs[0].src, ip("10.0.0.1"));
  EXPECT_TRUE(segs[1].flags.syn() && segs[1].flags.ack());
  EXPECT_EQ(segs[1].ack, segs[0].seq + 1);
  EXPECT_TRUE(segs[2].flags.ack() && !segs[2].flags.syn());
  size_t data = 0, fins = 0;
  for (const auto& s : segs) {
    EXPECT_TRUE(s.checksum_ok);
    EXPECT_FALSE(s.flags.rst());
    if (s.src == ip("10.0.0.1")) data += s.payload;
    fins += s.flags.fin();
  }
  EXPECT_EQ(data, 1000u);
  EXPECT_EQ(fins, 2u);
  w.run_for(Duration::ms(1));  // the last ACK (of b's FIN) reaches b: LAST-ACK -> CLOSED
  EXPECT_EQ(w.host("a").tcp().sockets() + w.host("b").tcp().sockets(), 1u);  // one TIME-WAIT
  EXPECT_EQ(w.host("a").tcp().mib().time_waits + w.host("b").tcp().mib().time_waits, 1u);
  w.run_for(Duration::s(59));
  EXPECT_EQ(w.host("a").tcp().sockets() + w.host("b").tcp().sockets(), 1u);
  w.run_for(Duration::s(2));
  test::expect_tcp_empty(w, {"a", "b"});
  w.close_pcaps();
  test::expect_tshark_clean(dir.file("a.pcap"));
}

// Determinism: the same seed and the same calls give byte-identical captures, faults included.
std::string capture(uint64_t seed, const std::string& path) {
  World w(seed);
  ConnectOptions o = gigabit();
  o.a.pcap_path = path;
  o.a.faults = dev::FaultInjectorConfig{.rx = {.drop = 0.02, .reorder = 0.02},
                                        .tx = {.drop = 0.02, .duplicate = 0.01}};
  test::two_hosts(w, o);
  auto r = test::run_transfer(w, "a", "b", ip("10.0.0.2"),
                              TransferSpec{.up = 300'000, .down = 200'000, .seed = 3});
  EXPECT_TRUE(r.completed);
  w.close_pcaps();
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(TcpDeterminism, SameSeedGivesByteIdenticalPcap) {
  testtools::ScratchDir dir;
  const std::string one = capture(11, dir.file("one.pcap"));
  const std::string two = capture(11, dir.file("two.pcap"));
  const std::string other = capture(12, dir.file("other.pcap"));
  ASSERT_GT(one.size(), 500'000u);
  EXPECT_TRUE(one == two) << "same seed, different captures";
  EXPECT_FALSE(one == other) << "the seed changed nothing";
}

}  // namespace
}  // namespace ustack::sim

namespace ustack::sim {
namespace {

// The retransmit queue's skbs give up their header rights (Linux's __skb_header_release), so
// the clone xmit_skb hands to IP pushes TCP, IP and Ethernet headers into the shared headroom:
// a clean transfer copies no segment. (Without it every segment sent was copied whole.)
TEST(TcpZeroCopy, SegmentsLeaveWithoutCopyingTheirPayload) {
  World w(11);
  test::two_hosts(w, gigabit());
  auto o = test::run_transfer(w, "a", "b", ip("10.0.0.2"),
                              TransferSpec{.up = 1 << 20, .down = 0, .seed = 3});
  ASSERT_TRUE(o.completed);
  const auto& m = w.host("a").tcp().mib();
  ASSERT_GT(m.out_segs, 700u);  // 1 MiB in MSS-sized segments
  EXPECT_EQ(m.retrans_segs, 0u);
  // A few copies may remain (send() appending to a tail skb whose clone is still in flight),
  // never one per segment.
  EXPECT_LT(w.host("a").pool().stats().copies, m.out_segs / 10);
}

}  // namespace
}  // namespace ustack::sim
