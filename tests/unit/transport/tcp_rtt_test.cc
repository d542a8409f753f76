// RttEstimator (RFC 6298): exact hand-computed sequences in scaled integer ns, the 200 ms / 120 s
// bounds, G, backoff and its cap, the §5.7 SYN fallback, and tcp_info's µs fields.
#include "ustack/transport/tcp_rtt.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "ustack/base/rng.h"

namespace ustack::transport {
namespace {

using D = Duration;

// RFC 6298 §2.1: before any measurement RTO is 1 s; nothing is estimated yet.
TEST(TcpRtt, InitialRtoIsOneSecond_Rfc6298_2_1) {
  RttEstimator e;
  EXPECT_FALSE(e.has_sample());
  EXPECT_EQ(e.rto(), D::s(1));
  EXPECT_EQ(e.srtt(), D::zero());
  EXPECT_EQ(e.rttvar(), D::zero());
  EXPECT_EQ(e.info().rtt_us, 0u);
  EXPECT_EQ(e.info().rto_us, 1'000'000u);
}

// RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR).
TEST(TcpRtt, FirstSample_Rfc6298_2_2) {
  RttEstimator e;
  e.sample(D::ms(100));
  EXPECT_TRUE(e.has_sample());
  EXPECT_EQ(e.srtt(), D::ms(100));
  EXPECT_EQ(e.rttvar(), D::ms(50));
  EXPECT_EQ(e.rto(), D::ms(300));
}

// RFC 6298 §2.3, computed by hand (RTTVAR uses the old SRTT):
//   R'=200: RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5;
//           RTO = 112.5 + 4*62.5 = 362.5 ms
//   R'=50:  RTTVAR = 3/4*62.5 + 1/4*|112.5-50| = 62.5; SRTT = 7/8*112.5 + 50/8 = 104.6875;
//           RTO = 104.6875 + 250 = 354.6875 ms
TEST(TcpRtt, SubsequentSamplesExact_Rfc6298_2_3) {
  RttEstimator e;
  e.sample(D::ms(100));
  e.sample(D::ms(200));
  EXPECT_EQ(e.rttvar(), D::us(62'500));
  EXPECT_EQ(e.srtt(), D::us(112'500));
  EXPECT_EQ(e.rto(), D::us(362'500));
  e.sample(D::ms(50));
  EXPECT_EQ(e.rttvar(), D::us(62'500));
  EXPECT_EQ(e.srtt(), D::ns(104'687'500));
  EXPECT_EQ(e.rto(), D::ns(354'687'500));
  // tcp_info reports µs (tcpi_rtt, tcpi_rttvar, tcpi_rto).
  const RttInfo i = e.info();
  EXPECT_EQ(i.rtt_us, 104'687u);
  EXPECT_EQ(i.rttvar_us, 62'500u);
  EXPECT_EQ(i.rto_us, 354'687u);
  EXPECT_EQ(i.backoff, 0u);
}

// A constant RTT keeps SRTT exact (no drift after 1000 samples) while RTTVAR decays to 0 and
// G takes over: RTO = SRTT + G. With the Linux 200 ms floor that is clamped to 200 ms.
TEST(TcpRtt, ConstantRttNoDriftAndGranularity_Rfc6298_2_3) {
  RttConfig cfg;
  cfg.min_rto = D::ns(1);
  RttEstimator e(cfg);
  RttEstimator linux_min;
  for (int i = 0; i < 1000; ++i) {
    e.sample(D::ms(100));
    linux_min.sample(D::ms(10));
  }
  EXPECT_EQ(e.srtt(), D::ms(100));
  EXPECT_EQ(e.rttvar(), D::zero());
  EXPECT_EQ(e.rto(), D::ms(101));  // SRTT + G (1 ms)
  EXPECT_EQ(linux_min.srtt(), D::ms(10));
  EXPECT_EQ(linux_min.rto(), D::ms(200));  // 11 ms raised to TCP_RTO_MIN

  cfg.granularity = D::ms(4);
  RttEstimator g4(cfg);
  for (int i = 0; i < 1000; ++i) g4.sample(D::ms(100));
  EXPECT_EQ(g4.rto(), D::ms(104));
}

// The minimum RTO is 200 ms (Linux TCP_RTO_MIN; a deviation from RFC 6298 §2.4's 1 s).
TEST(TcpRtt, MinimumRto200ms_Rfc6298_2_4_Deviation) {
  RttEstimator e;
  e.sample(D::ms(10));  // 10 + 4*5 = 30 ms
  EXPECT_EQ(e.base_rto(), D::ms(200));
  EXPECT_EQ(e.rto(), D::ms(200));
  e.sample(D::ns(0));  // a zero sample is taken as 1 ns, never a crash or a negative SRTT
  EXPECT_GT(e.srtt(), D::zero());
  EXPECT_EQ(e.rto(), D::ms(200));
}

// RFC 6298 §2.5: a maximum RTO (120 s, Linux TCP_RTO_MAX) bounds the computed value.
TEST(TcpRtt, MaximumRto120s_Rfc6298_2_5) {
  RttEstimator e;
  e.sample(D::s(100));  // 100 + 200 s
  EXPECT_EQ(e.rto(), D::s(120));
  RttEstimator huge;
  huge.sample(D::max());  // capped before scaling: no overflow
  EXPECT_EQ(huge.srtt(), D::s(120));
  EXPECT_EQ(huge.rto(), D::s(120));
}

// RFC 6298 §5.5: each expiry doubles the RTO, capped at the maximum; the count stops at the cap.
TEST(TcpRtt, BackoffDoublesUpToMax_Rfc6298_5_5) {
  RttEstimator e;
  const int64_t want[] = {2, 4, 8, 16, 32, 64, 120, 120, 120};
  for (int64_t s : want) {
    e.backoff();
    EXPECT_EQ(e.rto(), D::s(s));
  }
  EXPECT_EQ(e.backoff_count(), 7u);
  EXPECT_EQ(e.info().backoff, 7);
  EXPECT_EQ(e.info().rto_us, 120'000'000u);
  EXPECT_EQ(e.base_rto(), D::s(1));  // the estimate itself is untouched
  e.reset_backoff();
  EXPECT_EQ(e.rto(), D::s(1));
}

// RFC 6298 §5.7: a new sample after backing off restarts from the computed RTO.
TEST(TcpRtt, SampleResetsBackoff_Rfc6298_5_7) {
  RttEstimator e;
  e.sample(D::ms(100));
  e.backoff();
  e.backoff();
  EXPECT_EQ(e.rto(), D::ms(1200));
  e.sample(D::ms(100));  // RTTVAR = 37.5, SRTT = 100: RTO = 250 ms
  EXPECT_EQ(e.backoff_count(), 0u);
  EXPECT_EQ(e.rto(), D::ms(250));
}

// RFC 6298 §5.7: the SYN timed out with RTO < 3 s: data transmission starts with RTO = 3 s,
// unless a sample exists.
TEST(TcpRtt, SynTimeoutFallback3s_Rfc6298_5_7) {
  RttEstimator e;
  e.backoff();
  e.syn_timeout_fallback();
  e.reset_backoff();
  EXPECT_EQ(e.rto(), D::s(3));
  e.sample(D::ms(100));
  EXPECT_EQ(e.rto(), D::ms(300));
  e.syn_timeout_fallback();  // a sample exists: no effect
  EXPECT_EQ(e.rto(), D::ms(300));
}

// Integer fixed point against an exact (double) reference over random RTTs: the floors lose
// less than 1 ns per sample, so after 200 samples the error is far below a microsecond.
TEST(TcpRtt, MatchesRealArithmeticWithinRounding_Rfc6298_2_3) {
  Rng rng(42);
  RttConfig cfg;
  cfg.min_rto = D::ns(1);
  RttEstimator e(cfg);
  double srtt = 0, rttvar = 0;
  for (int i = 0; i < 200; ++i) {
    const int64_t r = 1'000 + static_cast<int64_t>(rng.next_u64() % 500'000'000);
    e.sample(D::ns(r));
    if (i == 0) {
      srtt = static_cast<double>(r);
      rttvar = srtt / 2;
    } else {
      rttvar = 0.75 * rttvar + 0.25 * std::fabs(srtt - static_cast<double>(r));
      srtt = 0.875 * srtt + 0.125 * static_cast<double>(r);
    }
    EXPECT_LE(std::fabs(static_cast<double>(e.srtt().nanos()) - srtt), 8.0) << i;
    EXPECT_LE(std::fabs(static_cast<double>(e.rttvar().nanos()) - rttvar), 8.0) << i;
    const double rto = srtt + std::max(1e6, 4 * rttvar);
    EXPECT_LE(std::fabs(static_cast<double>(e.rto().nanos()) - std::min(rto, 120e9)), 32.0);
  }
}

}  // namespace
}  // namespace ustack::transport
