// tests/unit/sim/tcp_faults_test.cc — TCP through the fault injector: 1, 2, 5 and 10 % loss,
// reordering, duplication, corruption and mixes of them, on one side's RX, TX or both, on a
// direct link and through a router; every transfer completes byte-identical, within a
// virtual-time bound and without a receive stall longer than the RTO backoff allows. A sweep
// over seeds runs the mixes again with other fault sequences.
#include <gtest/gtest.h>

#include "tcp_scenario.h"

namespace ustack::sim {
namespace {

using test::ip;
using test::TransferSpec;

struct FaultCase {
  const char* name;
  dev::FaultConfig cfg;  // applied to a's eth0
  bool rx = true;        // on frames a receives
  bool tx = true;        // on frames a sends
  // The longest receive stall allowed: the minimum RTO (200 ms) doubled once per consecutive
  // loss of the same retransmission that the rate makes plausible over a few thousand
  // segments (p^k * segments < ~1 %). At 10 % each way (19 % per round trip) six failures
  // in a row happen in the sweep, e.g. when b's ARP probes for a are lost as well and the
  // neighbour entry fails (seed 193): 0.2 + 0.4 + ... + 6.4 = 12.6 s, the RTO bound.
  // (An echoed TSval older than the retransmission gives no RTT sample, so the RTO does
  // not inflate beyond the backoff: SweepWide below.)
  Duration max_gap;
};

// gtest prints parameters by name, not as bytes.
void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }

dev::FaultConfig loss(double p) { return {.drop = p}; }

const FaultCase kCases[] = {
    {"loss1", loss(0.01), true, true, Duration::ms(1700)},
    {"loss2", loss(0.02), true, true, Duration::ms(1700)},
    {"loss5", loss(0.05), true, true, Duration::ms(3300)},
    {"loss10", loss(0.10), true, true, Duration::ms(12700)},
    {"loss5_data_only", loss(0.05), false, true, Duration::ms(3300)},
    {"loss5_acks_only", loss(0.05), true, false, Duration::ms(3300)},
    {"reorder5", {.reorder = 0.05}, true, true, Duration::ms(250)},
    {"reorder30", {.reorder = 0.30}, true, true, Duration::ms(250)},
    {"duplicate5", {.duplicate = 0.05}, true, true, Duration::ms(250)},
    {"duplicate50", {.duplicate = 0.50}, true, true, Duration::ms(250)},
    {"corrupt2", {.corrupt = 0.02}, true, true, Duration::ms(1700)},
    {"corrupt10", {.corrupt = 0.10}, true, true, Duration::ms(12700)},
    {"jitter",
     {.delay = Duration::us(100), .jitter = Duration::us(400)},
     true,
     true,
     Duration::ms(250)},
    {"mix_light",
     {.drop = 0.01, .duplicate = 0.01, .reorder = 0.02, .corrupt = 0.01},
     true,
     true,
     Duration::ms(1700)},
    {"mix_heavy",
     {.drop = 0.05, .duplicate = 0.05, .reorder = 0.10, .corrupt = 0.02},
     true,
     true,
     Duration::s(12)},
};

dev::FaultInjectorConfig injector(const FaultCase& c, uint64_t seed) {
  dev::FaultInjectorConfig f;
  if (c.rx) f.rx = c.cfg;
  if (c.tx) f.tx = c.cfg;
  f.seed = seed;
  return f;
}

ConnectOptions faulty_link(const FaultCase& c, uint64_t seed) {
  ConnectOptions o;
  o.link.latency = Duration::us(50);
  o.link.bits_per_second = 1'000'000'000;
  o.a.faults = injector(c, seed);
  return o;
}

// Completion bound: at a loss rate p each lost segment costs at worst about one RTO when fast
// retransmit cannot help: allow 400 ms (the 200 ms floor, doubled once) per expected loss over
// both directions, plus a clean-link allowance; generous, but a stall of seconds per lost
// segment fails it.
// At 10 % each way the RTO itself inflates to seconds (see FaultCase::max_gap), so a loss
// that needs a timeout costs about 1 s there (seed 108: 59.6 s for 512 KiB, 79 expected
// losses).
Duration completion_bound(const FaultCase& c, size_t bytes) {
  const double each_way = std::max({c.cfg.drop, c.cfg.corrupt});
  const double p = each_way * ((c.rx && c.tx) ? 2 : 1);
  const double segs = static_cast<double>(bytes) / 1400 + 20;
  const double ms_per_loss = each_way >= 0.1 ? 1000 : 400;
  return Duration::ms(200) + Duration::ms(static_cast<int64_t>(ms_per_loss * segs * p + 2));
}

void expect_within(const test::TransferOutcome& o, const FaultCase& c, size_t bytes) {
  EXPECT_LE(o.elapsed(), completion_bound(c, bytes)) << "took " << o.elapsed().seconds() << " s";
  EXPECT_LE(o.max_gap, c.max_gap) << "stalled " << o.max_gap.seconds() << " s";
}

void report_faults(World& w) {
  const auto& rx = w.faults("a", "eth0")->rx_fault_stats();
  const auto& tx = w.faults("a", "eth0")->tx_fault_stats();
  const auto& ma = w.host("a").tcp().mib();
  const auto& mb = w.host("b").tcp().mib();
  std::printf(
      "  faults rx %lu/%lu/%lu/%lu tx %lu/%lu/%lu/%lu (drop/dup/reorder/corrupt); "
      "a retrans %lu timeouts %lu, b retrans %lu timeouts %lu\n",
      rx.dropped, rx.duplicated, rx.reordered, rx.corrupted, tx.dropped, tx.duplicated,
      tx.reordered, tx.corrupted, ma.retrans_segs, ma.tcp_timeouts, mb.retrans_segs,
      mb.tcp_timeouts);
}

struct Direction {
  const char* name;
  size_t up, down;
};
void PrintTo(const Direction& d, std::ostream* os) { *os << d.name; }
const Direction kDirections[] = {
    {"up", 1 << 20, 0}, {"down", 0, 1 << 20}, {"both", 768 << 10, 512 << 10}};

class Faults : public ::testing::TestWithParam<std::tuple<FaultCase, Direction>> {};

TEST_P(Faults, TransferCompletesExactly) {
  const auto& [c, d] = GetParam();
  World w(21);
  test::two_hosts(w, faulty_link(c, 77));
  auto o = test::run_transfer(w, "a", "b", ip("10.0.0.2"),
                              TransferSpec{.up = d.up, .down = d.down, .seed = 21});
  report_faults(w);
  ASSERT_TRUE(o.completed);
  expect_within(o, c, d.up + d.down);
  // Corrupted frames are caught by a checksum (IP's or TCP's) and dropped, never delivered.
  if (c.cfg.corrupt > 0) {
    uint64_t caught = 0;
    for (const char* h : {"a", "b"}) {
      caught += w.host(h).tcp().mib().in_csum_errors + w.host(h).ip().stats().in_hdr_errors +
                w.host(h).ip().stats().in_csum_errors;
    }
    EXPECT_GT(caught, 0u);
  }
  w.run_for(Duration::s(200));  // TIME-WAIT, and any orphan retransmitting a lost FIN
  test::expect_tcp_empty(w, {"a", "b"});
}

std::string fault_name(const ::testing::TestParamInfo<std::tuple<FaultCase, Direction>>& i) {
  return std::string(std::get<0>(i.param).name) + "_" + std::get<1>(i.param).name;
}
INSTANTIATE_TEST_SUITE_P(Cases, Faults,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::ValuesIn(kDirections)),
                         fault_name);

// Several MiB with 2 % loss each way, and the same through a router whose both hops are lossy.
TEST(FaultsLarge, FourMiBEachWayWithTwoPercentLoss) {
  World w(22);
  const FaultCase& c = kCases[1];
  test::two_hosts(w, faulty_link(c, 5));
  auto o = test::run_transfer(w, "a", "b", ip("10.0.0.2"),
                              TransferSpec{.up = 4 << 20, .down = 4 << 20, .seed = 22});
  report_faults(w);
  ASSERT_TRUE(o.completed);
  expect_within(o, c, 8 << 20);
}

TEST(FaultsLarge, ThroughALossyRouter) {
  World w(23);
  const FaultCase& c = kCases[13];  // mix_light
  test::RouterOptions ro;
  for (ConnectOptions* o : {&ro.left, &ro.right}) {
    o->link.latency = Duration::us(50);
    o->link.bits_per_second = 1'000'000'000;
  }
  ro.left.b.faults = injector(c, 31);   // r's eth0
  ro.right.a.faults = injector(c, 32);  // r's eth1
  test::router_topology(w, ro);
  auto o = test::run_transfer(w, "a", "b", ip("10.0.2.2"),
                              TransferSpec{.up = 2 << 20, .down = 2 << 20, .seed = 23});
  ASSERT_TRUE(o.completed);
  // Two faulty interfaces, each faulting both ways: four chances per round trip.
  EXPECT_LE(o.elapsed(), completion_bound(c, 8 << 20));
  EXPECT_LE(o.max_gap, Duration::ms(3300));
  w.run_for(Duration::s(200));
  test::expect_tcp_empty(w, {"a", "b", "r"});
}

// The sweep: 2 % and 10 % loss, 30 % reordering, 50 % duplication and the heavy mix again
// under 32 other fault sequences (injector seeds) and world seeds (ISNs, ports), 256 KiB each
// way simultaneously. (Seeds 100..399 were run once: 2 %, reordering, duplication and the mix
// passed every one; the 10 % failures are the DISABLED_ test below.)
class Sweep : public ::testing::TestWithParam<uint64_t> {};

TEST_P(Sweep, MixesCompleteUnderEverySeed) {
  const uint64_t seed = GetParam();
  for (const FaultCase* c : {&kCases[1], &kCases[3], &kCases[7], &kCases[9], &kCases[14]}) {
    SCOPED_TRACE(c->name);
    World w(seed);
    test::two_hosts(w, faulty_link(*c, seed * 1000 + 1));
    auto o = test::run_transfer(w, "a", "b", ip("10.0.0.2"),
                                TransferSpec{.up = 256 << 10, .down = 256 << 10, .seed = seed});
    ASSERT_TRUE(o.completed);
    expect_within(o, *c, 512 << 10);
    w.run_for(Duration::s(200));
    test::expect_tcp_empty(w, {"a", "b"});
  }
}
INSTANTIATE_TEST_SUITE_P(Seeds, Sweep, ::testing::Range<uint64_t>(100, 132));

// Found by widening the sweep to seeds 100..299 (fixed): at 10 % loss each way the RTO used
// to climb episode after episode (seed 193 waited 66 s between retransmissions). When an ACK
// is lost, the RTO retransmits data the receiver already has; its duplicate ACK echoes
// TS.Recent from the previous episode, and a TSecr RTT sample from it would span the whole
// gap. An echo older than the retransmission now gives no sample (tcp_input.cc).
TEST(SweepWide, TenPercentLossDoesNotInflateTheRto) {
  for (auto [seed, ci] : {std::pair<uint64_t, int>{137, 3},
                          {193, 3},
                          {224, 3},
                          {161, 11},
                          {182, 11},
                          {208, 11},
                          {295, 11}}) {
    SCOPED_TRACE(seed);
    World w(seed);
    const FaultCase& c = kCases[ci];  // loss10, corrupt10
    test::two_hosts(w, faulty_link(c, seed * 1000 + 1));
    auto o = test::run_transfer(w, "a", "b", ip("10.0.0.2"),
                                TransferSpec{.up = 256 << 10, .down = 256 << 10, .seed = seed});
    EXPECT_TRUE(o.completed);
    expect_within(o, c, 512 << 10);
  }
}

}  // namespace
}  // namespace ustack::sim
