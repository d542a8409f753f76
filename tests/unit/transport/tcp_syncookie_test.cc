// SYN cookies (RFC 4987 §3.6, Linux net/ipv4/syncookies.c): round trips for every MSS bucket,
// rejection of tampered cookies, wrong tuples and ISNs, expiry at MAX_SYNCOOKIE_AGE periods,
// counter wraparound, keys from the Rng, and the options hidden in the timestamp.
#include "ustack/transport/tcp_syncookie.h"

#include <gtest/gtest.h>

namespace ustack::transport {
namespace {

using wire::Ipv4Addr;

// Listener 10.0.0.1:80, client 10.0.0.2:40000 (local first, as the listener sees it).
const TcpFourTuple kTuple{Ipv4Addr::from_octets(10, 0, 0, 1), 80,
                          Ipv4Addr::from_octets(10, 0, 0, 2), 40000};
constexpr uint32_t kClientIsn = 0x12345678;
const Instant t0 = Instant::zero() + Duration::s(3600);  // count 60
const Duration kPeriod = SynCookies::kPeriod;

TEST(SynCookies, CookieTimeCountsMinutes) {
  EXPECT_EQ(SynCookies::cookie_time(Instant::zero()), 0u);
  EXPECT_EQ(SynCookies::cookie_time(Instant::zero() + Duration::ms(59'999)), 0u);
  EXPECT_EQ(SynCookies::cookie_time(Instant::zero() + Duration::s(60)), 1u);
  EXPECT_EQ(SynCookies::cookie_time(t0), 60u);
}

TEST(SynCookies, RoundTripEveryMssBucket) {
  Rng rng(1);
  SynCookies sc(rng);
  struct Case {
    uint16_t peer_mss, encoded;
  } cases[] = {{100, 536},   {536, 536},   {1299, 536},  {1300, 1300}, {1439, 1300},
               {1440, 1440}, {1459, 1440}, {1460, 1460}, {9000, 1460}, {65535, 1460}};
  for (const Case& c : cases) {
    const auto ck = sc.generate(t0, kTuple, kClientIsn, c.peer_mss);
    EXPECT_EQ(ck.mss_used, c.encoded) << c.peer_mss;
    // The ACK carries SEG.SEQ = client ISN + 1 and SEG.ACK = cookie + 1; the caller subtracts.
    EXPECT_EQ(sc.check(t0, kTuple, kClientIsn, ck.isn), std::optional<uint16_t>(c.encoded))
        << c.peer_mss;
  }
}

TEST(SynCookies, CookieLayoutMatchesLinux) {
  // The top byte is (H1 + ISN + count << 24 + ...) >> 24: subtracting H1 + ISN leaves the count
  // there, and changing only the client ISN shifts the cookie by the same amount.
  Rng rng(2);
  SynCookies sc(rng);
  const uint32_t a = sc.generate(t0, kTuple, kClientIsn, 1460).isn;
  const uint32_t b = sc.generate(t0, kTuple, kClientIsn + 1000, 1460).isn;
  EXPECT_EQ(b - a, 1000u);
  // The MSS index adds to the low 24 bits only (mod 2^24).
  const uint32_t m0 = sc.generate(t0, kTuple, kClientIsn, 536).isn;
  const uint32_t m3 = sc.generate(t0, kTuple, kClientIsn, 1460).isn;
  EXPECT_EQ((m3 - m0) & SynCookies::kCookieMask, 3u);
}

TEST(SynCookies, TamperedCookieIsRejected) {
  Rng rng(3);
  SynCookies sc(rng);
  const uint32_t ck = sc.generate(t0, kTuple, kClientIsn, 1460).isn;
  ASSERT_TRUE(sc.check(t0, kTuple, kClientIsn, ck));
  // The cookie's fields after subtracting H1 + ISN: the count (top byte) and H2 + index (low
  // 24 bits). A flip of bit 2..23 moves the recovered index by +-2^k: never a table index.
  for (int bit = 2; bit < 24; ++bit)
    EXPECT_FALSE(sc.check(t0, kTuple, kClientIsn, ck ^ (1u << bit))) << bit;
  // A flip in the count byte makes the cookie from the future (rejected by age) or older, when
  // H2 of the older count does not match.
  for (int bit = 24; bit < 32; ++bit)
    EXPECT_FALSE(sc.check(t0, kTuple, kClientIsn, ck ^ (1u << bit))) << bit;
  EXPECT_FALSE(sc.check(t0, kTuple, kClientIsn, ck + (1u << 24)));  // claims the next period
  EXPECT_FALSE(sc.check(t0, kTuple, kClientIsn, ck - (1u << 24)));  // claims the previous one
  // The index itself is not authenticated beyond H2's offset (Linux's design: only someone who
  // saw the SYN-ACK can do this, and they could have sent any MSS in the SYN): index 3 + 1 is
  // no index, but 1440's index 2 + 1 reads as 1460.
  EXPECT_FALSE(sc.check(t0, kTuple, kClientIsn, ck + 1));
  const uint32_t ck1440 = sc.generate(t0, kTuple, kClientIsn, 1440).isn;
  EXPECT_EQ(sc.check(t0, kTuple, kClientIsn, ck1440 + 1), std::optional<uint16_t>(1460));
  // A random guess almost never passes: 4 of 2^24 index values per valid count.
  Rng guess(4);
  int hits = 0;
  for (int i = 0; i < 10'000; ++i)
    if (sc.check(t0, kTuple, kClientIsn, guess.next_u32())) ++hits;
  EXPECT_EQ(hits, 0);
}

TEST(SynCookies, WrongTupleOrIsnIsRejected) {
  Rng rng(5);
  SynCookies sc(rng);
  const uint32_t ck = sc.generate(t0, kTuple, kClientIsn, 1460).isn;
  TcpFourTuple t = kTuple;
  t.laddr = Ipv4Addr::from_octets(10, 0, 0, 9);
  EXPECT_FALSE(sc.check(t0, t, kClientIsn, ck));
  t = kTuple;
  t.lport = 81;
  EXPECT_FALSE(sc.check(t0, t, kClientIsn, ck));
  t = kTuple;
  t.raddr = Ipv4Addr::from_octets(10, 0, 0, 9);
  EXPECT_FALSE(sc.check(t0, t, kClientIsn, ck));
  t = kTuple;
  t.rport = 40001;
  EXPECT_FALSE(sc.check(t0, t, kClientIsn, ck));
  // The ACK's SEG.SEQ - 1 must be the SYN's ISN.
  // The ACK's SEG.SEQ - 1 must be the SYN's ISN: the ISN is subtracted with H1, so an ISN off
  // by d moves the recovered index by -d. Off by a few it can land on another table index
  // (the same unauthenticated low bits as above); any larger error is rejected.
  EXPECT_FALSE(sc.check(t0, kTuple, kClientIsn - 1, ck));  // index 4
  EXPECT_EQ(sc.check(t0, kTuple, kClientIsn + 1, ck), std::optional<uint16_t>(1440));
  for (uint32_t d : {4u, 1000u, 1u << 20, 1u << 24, 0x80000000u})
    EXPECT_FALSE(sc.check(t0, kTuple, kClientIsn + d, ck)) << d;
  // Another listener's keys (another seed).
  Rng other(6);
  SynCookies sc2(other);
  EXPECT_FALSE(sc2.check(t0, kTuple, kClientIsn, ck));
}

TEST(SynCookies, ExpiresAfterMaxAgePeriods) {
  Rng rng(7);
  SynCookies sc(rng);
  // Made at the very start of a period: valid through the end of the next one.
  const uint32_t ck = sc.generate(t0, kTuple, kClientIsn, 1300).isn;
  EXPECT_EQ(sc.check(t0 + kPeriod - Duration::ns(1), kTuple, kClientIsn, ck),
            std::optional<uint16_t>(1300));
  EXPECT_EQ(sc.check(t0 + kPeriod, kTuple, kClientIsn, ck), std::optional<uint16_t>(1300));
  EXPECT_EQ(sc.check(t0 + kPeriod * 2 - Duration::ns(1), kTuple, kClientIsn, ck),
            std::optional<uint16_t>(1300));
  // MAX_SYNCOOKIE_AGE (2) periods: count difference 2 is rejected (Linux: diff >= 2).
  EXPECT_FALSE(sc.check(t0 + kPeriod * 2, kTuple, kClientIsn, ck));
  EXPECT_FALSE(sc.check(t0 + kPeriod * 3, kTuple, kClientIsn, ck));
  // Made at the end of a period: the counter ticks a nanosecond later, still one period left.
  const Instant late = t0 + kPeriod - Duration::ns(1);
  const uint32_t ck2 = sc.generate(late, kTuple, kClientIsn, 1300).isn;
  EXPECT_TRUE(
      sc.check(late + Duration::ns(1) + kPeriod - Duration::ns(1), kTuple, kClientIsn, ck2));
  EXPECT_FALSE(sc.check(late + Duration::ns(1) + kPeriod, kTuple, kClientIsn, ck2));
}

TEST(SynCookies, CookieFromTheFutureIsRejected) {
  // diff is taken mod 2^8: a count ahead of ours is a huge age.
  Rng rng(8);
  SynCookies sc(rng);
  const uint32_t ck = sc.generate(t0 + kPeriod, kTuple, kClientIsn, 1460).isn;
  EXPECT_FALSE(sc.check(t0, kTuple, kClientIsn, ck));
}

TEST(SynCookies, CounterWrapsInTheTopByte) {
  // Count 255 -> 256: the top byte wraps to 0, and the 1-period-old cookie is still accepted;
  // 256 periods later the same top byte comes back, but H2 covers the full 32-bit count.
  Rng rng(9);
  SynCookies sc(rng);
  const Instant at255 = Instant::zero() + kPeriod * 255;
  const uint32_t ck = sc.generate(at255, kTuple, kClientIsn, 1440).isn;
  EXPECT_EQ(sc.check(at255 + kPeriod, kTuple, kClientIsn, ck), std::optional<uint16_t>(1440));
  EXPECT_FALSE(sc.check(at255 + kPeriod * 2, kTuple, kClientIsn, ck));
  EXPECT_FALSE(sc.check(at255 + kPeriod * 256, kTuple, kClientIsn, ck));
  // And across every top-byte value, a cookie one period old is accepted.
  for (int64_t c = 250; c < 262; ++c) {
    const Instant at = Instant::zero() + kPeriod * c;
    const uint32_t k = sc.generate(at, kTuple, kClientIsn + static_cast<uint32_t>(c), 1300).isn;
    EXPECT_TRUE(sc.check(at + kPeriod, kTuple, kClientIsn + static_cast<uint32_t>(c), k)) << c;
  }
}

TEST(SynCookies, KeysAreDeterministicPerSeed) {
  Rng r1(10), r2(10), r3(11);
  SynCookies a(r1), b(r2), c(r3);
  const uint32_t ck = a.generate(t0, kTuple, kClientIsn, 1460).isn;
  EXPECT_EQ(b.generate(t0, kTuple, kClientIsn, 1460).isn, ck);
  EXPECT_EQ(b.check(t0, kTuple, kClientIsn, ck), std::optional<uint16_t>(1460));
  EXPECT_NE(c.generate(t0, kTuple, kClientIsn, 1460).isn, ck);
}

TEST(SynCookies, TimestampCarriesOptions) {
  SynCookieOptions o{7, true, false};
  const uint32_t ts_now = 1'000'000;  // low 6 bits: 1'000'000 & 63 = 0
  const uint32_t tsval = SynCookies::init_timestamp(ts_now, o);
  EXPECT_EQ(tsval & 63, 7u | SynCookies::kTsOptSack);
  EXPECT_LE(tsval, ts_now);
  EXPECT_GT(tsval + 64, ts_now);  // at most one 64-tick step back
  EXPECT_EQ(SynCookies::decode_timestamp(tsval), o);
}

TEST(SynCookies, TimestampNeverAheadOfTheClock) {
  // ts_now's low bits above the options: kept in the same 64-block.
  const SynCookieOptions o{0, false, false};
  EXPECT_EQ(SynCookies::init_timestamp(64 * 5 + 40, o), 64u * 5);
  // Options above ts_now's low bits: one 64-block back.
  const SynCookieOptions all{14, true, true};
  const uint32_t ts = SynCookies::init_timestamp(64 * 5 + 3, all);
  EXPECT_EQ(ts, 64u * 4 + (14 | SynCookies::kTsOptSack | SynCookies::kTsOptEcn));
  // Near zero the step back wraps modulo 2^32, as the timestamp clock does.
  const uint32_t w = SynCookies::init_timestamp(2, all);
  EXPECT_EQ(w, 0xffffffc0u + 62u);
  EXPECT_EQ(SynCookies::decode_timestamp(w), all);
}

TEST(SynCookies, TimestampWithoutWindowScalingAndEveryShift) {
  const SynCookieOptions none{std::nullopt, false, true};
  const uint32_t ts = SynCookies::init_timestamp(12345678, none);
  EXPECT_EQ(ts & SynCookies::kTsOptWscaleMask, 0xfu);
  EXPECT_EQ(SynCookies::decode_timestamp(ts), none);
  for (uint8_t w = 0; w <= SynCookies::kMaxWscale; ++w) {
    const SynCookieOptions o{w, w % 2 == 0, w % 3 == 0};
    EXPECT_EQ(SynCookies::decode_timestamp(SynCookies::init_timestamp(99'999 * w, o)), o) << +w;
  }
  // A received shift above 14 is encoded as 14 (RFC 7323 §2.3), never as "none".
  const SynCookieOptions big{15, false, false};
  EXPECT_EQ(SynCookies::decode_timestamp(SynCookies::init_timestamp(5000, big)).wscale,
            std::optional<uint8_t>(14));
}

}  // namespace
}  // namespace ustack::transport
