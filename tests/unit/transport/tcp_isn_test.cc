// RFC 6528 ISNs (M + F), RFC 6056 algorithm 3 port offsets and timestamp offsets: the timer's
// rate and wrap, independence of tuples and keys, and determinism per seed.
#include "ustack/transport/tcp_isn.h"

#include <gtest/gtest.h>

#include <set>

namespace ustack::transport {
namespace {

using wire::Ipv4Addr;
using wire::SeqNum;

const Ipv4Addr kA = Ipv4Addr::from_octets(10, 0, 0, 1);
const Ipv4Addr kB = Ipv4Addr::from_octets(10, 0, 0, 2);
const TcpFourTuple kTuple{kA, 40000, kB, 80};
const Instant t0 = Instant::zero();

TEST(TcpIsn, ClockTicksEveryFourMicroseconds) {
  EXPECT_EQ(TcpIsnGenerator::clock_ticks(t0), 0u);
  EXPECT_EQ(TcpIsnGenerator::clock_ticks(t0 + Duration::ns(3'999)), 0u);
  EXPECT_EQ(TcpIsnGenerator::clock_ticks(t0 + Duration::us(4)), 1u);
  EXPECT_EQ(TcpIsnGenerator::clock_ticks(t0 + Duration::s(1)), 250'000u);
  // Before the origin the timer still runs forward (floor, not truncation toward zero).
  EXPECT_EQ(TcpIsnGenerator::clock_ticks(t0 - Duration::ns(1)), 0xffffffffu);
  // Wraps modulo 2^32: 2^32 ticks of 4 us = 17179.869184 s.
  EXPECT_EQ(TcpIsnGenerator::clock_ticks(t0 + Duration::us(4LL << 32)), 0u);
  EXPECT_EQ(TcpIsnGenerator::clock_ticks(t0 + Duration::us((4LL << 32) + 8)), 2u);
}

TEST(TcpIsn, IsnIsHashPlusTimer) {
  Rng rng(1);
  TcpIsnGenerator g(rng);
  EXPECT_EQ(g.isn(t0, kTuple).v, g.isn_hash(kTuple));
  const Instant t = t0 + Duration::ms(1'234);
  EXPECT_EQ(g.isn(t, kTuple).v, g.isn_hash(kTuple) + 1'234 * 250u);
}

TEST(TcpIsn, MonotoneInTimeForOneTuple) {
  Rng rng(7);
  TcpIsnGenerator g(rng);
  SeqNum prev = g.isn(t0, kTuple);
  for (int i = 1; i <= 1000; ++i) {
    const SeqNum cur = g.isn(t0 + Duration::ms(37 * i), kTuple);
    EXPECT_TRUE(prev < cur) << i;
    EXPECT_EQ(cur - prev, 37u * 250u);
    prev = cur;
  }
  // 250,000 per second, and still advancing across the 2^32 wrap of the sequence space.
  EXPECT_EQ(g.isn(t0 + Duration::s(10), kTuple) - g.isn(t0 + Duration::s(9), kTuple), 250'000u);
  const Instant near_wrap = t0 + Duration::s(17'179);
  EXPECT_TRUE(g.isn(near_wrap, kTuple) < g.isn(near_wrap + Duration::s(2), kTuple));
}

TEST(TcpIsn, EachTupleFieldChangesTheIsn) {
  Rng rng(3);
  TcpIsnGenerator g(rng);
  const uint32_t base = g.isn(t0, kTuple).v;
  TcpFourTuple t = kTuple;
  t.laddr = Ipv4Addr::from_octets(10, 0, 0, 3);
  EXPECT_NE(g.isn(t0, t).v, base);
  t = kTuple;
  t.lport = 40001;
  EXPECT_NE(g.isn(t0, t).v, base);
  t = kTuple;
  t.raddr = Ipv4Addr::from_octets(10, 0, 0, 4);
  EXPECT_NE(g.isn(t0, t).v, base);
  t = kTuple;
  t.rport = 81;
  EXPECT_NE(g.isn(t0, t).v, base);
  // Swapping the ends (the peer's view) is another tuple too.
  EXPECT_NE(g.isn(t0, TcpFourTuple{kB, 80, kA, 40000}).v, base);
}

TEST(TcpIsn, ConsecutivePortsGiveUnrelatedIsns) {
  // RFC 6528 §2: an attacker who learns one connection's ISN must not predict a neighbour's.
  Rng rng(11);
  TcpIsnGenerator g(rng);
  std::set<uint32_t> seen;
  for (uint16_t p = 40000; p < 41000; ++p) seen.insert(g.isn_hash({kA, p, kB, 80}));
  EXPECT_EQ(seen.size(), 1000u);  // no collisions in 1000 (expected ~1e-4 by chance)
  // And they are not a simple progression: differences between neighbours vary.
  const uint32_t d1 = g.isn_hash({kA, 40001, kB, 80}) - g.isn_hash({kA, 40000, kB, 80});
  const uint32_t d2 = g.isn_hash({kA, 40002, kB, 80}) - g.isn_hash({kA, 40001, kB, 80});
  EXPECT_NE(d1, d2);
}

TEST(TcpIsn, DeterministicPerSeedAndKeyedBySeed) {
  Rng r1(99), r2(99), r3(100);
  TcpIsnGenerator a(r1), b(r2), c(r3);
  const Instant t = t0 + Duration::ms(5);
  EXPECT_EQ(a.isn(t, kTuple), b.isn(t, kTuple));
  EXPECT_EQ(a.port_offset(kA, kB, 80), b.port_offset(kA, kB, 80));
  EXPECT_EQ(a.ts_offset(kA, kB), b.ts_offset(kA, kB));
  EXPECT_NE(a.isn(t, kTuple), c.isn(t, kTuple));
  EXPECT_NE(a.port_offset(kA, kB, 80), c.port_offset(kA, kB, 80));
  // The three keys are independent draws.
  EXPECT_NE(a.isn_key(), a.port_key());
}

TEST(TcpIsn, PortOffsetDependsOnDestinationOnly) {
  Rng rng(5);
  TcpIsnGenerator g(rng);
  const uint32_t off = g.port_offset(kA, kB, 80);
  EXPECT_EQ(off, g.port_offset(kA, kB, 80));
  EXPECT_NE(off, g.port_offset(kA, kB, 443));
  EXPECT_NE(off, g.port_offset(kA, Ipv4Addr::from_octets(10, 0, 0, 9), 80));
  EXPECT_NE(off, g.port_offset(Ipv4Addr::from_octets(10, 0, 0, 8), kB, 80));
  // Not the ISN hash with the local port zeroed: a separate key (RFC 6056 secret_key2).
  EXPECT_NE(off, g.isn_hash({kA, 0, kB, 80}));
}

TEST(TcpIsn, TimestampOffsetPerAddressPair) {
  Rng rng(6);
  TcpIsnGenerator g(rng);
  EXPECT_EQ(g.ts_offset(kA, kB), g.ts_offset(kA, kB));
  EXPECT_NE(g.ts_offset(kA, kB), g.ts_offset(kA, Ipv4Addr::from_octets(10, 0, 0, 9)));
  EXPECT_NE(g.ts_offset(kA, kB), g.ts_offset(kB, kA));
}

}  // namespace
}  // namespace ustack::transport
