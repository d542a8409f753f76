// ICMP error rate limiting (Linux's icmp_global_allow + inet_peer_xrlim_allow).
#include "ustack/ip/icmp_limit.h"

#include <gtest/gtest.h>

namespace ustack::ip {
namespace {

using V = IcmpLimiter::Verdict;
const wire::Ipv4Addr kA = wire::Ipv4Addr::from_octets(192, 0, 2, 1);
const wire::Ipv4Addr kB = wire::Ipv4Addr::from_octets(192, 0, 2, 9);
Instant at_ms(int64_t ms) { return Instant::zero() + Duration::ms(ms); }

TEST(IcmpLimit, PerDestinationBurstOfSixThenOnePerRatelimit) {
  IcmpLimiter l(IcmpLimitConfig{});
  for (int i = 0; i < 6; ++i) EXPECT_EQ(l.allow(at_ms(0), kA, 3, 3), V::kAllow) << i;
  EXPECT_EQ(l.allow(at_ms(0), kA, 3, 3), V::kHost);
  EXPECT_EQ(l.allow(at_ms(999), kA, 3, 3), V::kHost);
  EXPECT_EQ(l.allow(at_ms(1000), kA, 3, 3), V::kAllow);
  EXPECT_EQ(l.allow(at_ms(1000), kA, 11, 0), V::kHost);
  // Another destination has its own bucket.
  EXPECT_EQ(l.allow(at_ms(1000), kB, 11, 0), V::kAllow);
}

TEST(IcmpLimit, RatemaskExemptsEchoRepliesAndFragNeeded) {
  IcmpLimiter l(IcmpLimitConfig{});
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(l.allow(at_ms(0), kA, 0, 0), V::kAllow);  // echo reply: not in the mask
    EXPECT_EQ(l.allow(at_ms(0), kA, 3, 4), V::kAllow);  // frag needed: PMTUD must work
  }
}

TEST(IcmpLimit, GlobalBucketCapsAllDestinations) {
  IcmpLimitConfig c;
  c.msgs_per_sec = 1000;
  c.msgs_burst = 50;
  IcmpLimiter l(c);
  int allowed = 0;
  for (uint32_t i = 0; i < 200; ++i)
    if (l.allow(at_ms(0), wire::Ipv4Addr{0xc6336400u + i}, 3, 1) == V::kAllow) ++allowed;
  EXPECT_EQ(allowed, 50);
  EXPECT_EQ(l.allow(at_ms(0), wire::Ipv4Addr{0xc6336500u}, 3, 1), V::kGlobal);
  // 1000 per second: 10 ms refills 10 tokens.
  allowed = 0;
  for (uint32_t i = 0; i < 50; ++i)
    if (l.allow(at_ms(10), wire::Ipv4Addr{0xc6336600u + i}, 3, 1) == V::kAllow) ++allowed;
  EXPECT_EQ(allowed, 10);
}

TEST(IcmpLimit, PeerTableIsBounded) {
  IcmpLimitConfig c;
  c.max_peers = 16;
  c.msgs_per_sec = 0;  // global limit off
  IcmpLimiter l(c);
  for (uint32_t i = 0; i < 1000; ++i) l.allow(at_ms(i), wire::Ipv4Addr{0x0a000000u + i}, 3, 3);
  EXPECT_LE(l.peers(), 16u);
}

}  // namespace
}  // namespace ustack::ip
