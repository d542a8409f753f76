// transport/tcp_rtt.cc — RFC 6298 RTT estimation in scaled integer ns (see tcp_rtt.h).
#include "ustack/transport/tcp_rtt.h"

#include <algorithm>
#include <limits>

#include "ustack/base/assert.h"

namespace ustack::transport {

const RttConfig RttEstimator::kDefault{};

RttEstimator::RttEstimator(const RttConfig& cfg) : cfg_(&cfg) {
  USTACK_ASSERT(cfg_->min_rto > Duration::zero() && cfg_->min_rto <= cfg_->max_rto,
                "RttConfig: need 0 < min_rto <= max_rto");
  base_rto_ = clamp(cfg_->initial_rto);  // RFC 6298 §2.1
}

Duration RttEstimator::clamp(Duration d) const {
  return std::clamp(d, cfg_->min_rto, cfg_->max_rto);  // RFC 6298 §2.4 (min), §2.5 (max)
}

void RttEstimator::sample(Duration rtt) {
  // Cap at the maximum RTO: a longer sample is an error and would overflow 8*R.
  const int64_t r = std::clamp<int64_t>(rtt.nanos(), 1, cfg_->max_rto.nanos());
  if (!has_sample_) {
    // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
    srtt8_ = r << 3;
    rttvar4_ = r << 1;  // 4 * (R/2), exact
    has_sample_ = true;
  } else {
    // RFC 6298 §2.3, RTTVAR first (it uses the old SRTT):
    //   RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|, beta = 1/4
    //   4*RTTVAR' = 4*RTTVAR - (4*RTTVAR)/4 + |8*SRTT - 8*R'|/8
    int64_t err8 = srtt8_ - (r << 3);
    if (err8 < 0) err8 = -err8;
    rttvar4_ = rttvar4_ - (rttvar4_ >> 2) + (err8 >> 3);
    //   SRTT <- (1 - alpha) * SRTT + alpha * R', alpha = 1/8: 8*SRTT' = 8*SRTT - SRTT + R'
    srtt8_ = srtt8_ - (srtt8_ >> 3) + r;
  }
  // RTO <- SRTT + max(G, K*RTTVAR); K*RTTVAR = 4*RTTVAR = rttvar4_.
  const int64_t var = std::max(cfg_->granularity.nanos(), rttvar4_);
  base_rto_ = clamp(Duration::ns((srtt8_ >> 3) + var));
  reset_backoff();
}

void RttEstimator::backoff() {
  // RFC 6298 §5.5: RTO <- RTO * 2, up to the maximum. Stop counting once capped so the shift
  // in rto() can never overflow.
  if (rto() < cfg_->max_rto) ++backoff_;
}

void RttEstimator::syn_timeout_fallback() {
  if (!has_sample_) base_rto_ = clamp(cfg_->syn_fallback_rto);
}

Duration RttEstimator::rto() const {
  int64_t v = base_rto_.nanos();
  const int64_t max = cfg_->max_rto.nanos();
  for (uint32_t i = 0; i < backoff_ && v < max; ++i) v = v > max / 2 ? max : v * 2;
  return Duration::ns(std::min(v, max));
}

RttInfo RttEstimator::info() const {
  auto us = [](int64_t ns) {
    return static_cast<uint32_t>(
        std::min<int64_t>(ns / 1'000, std::numeric_limits<uint32_t>::max()));
  };
  RttInfo i;
  i.rtt_us = us(srtt8_ >> 3);
  i.rttvar_us = us(rttvar4_ >> 2);
  i.rto_us = us(rto().nanos());
  i.backoff = static_cast<uint8_t>(std::min<uint32_t>(backoff_, 255));
  return i;
}

}  // namespace ustack::transport
