// transport/tcp_rtt.h — RttEstimator: SRTT, RTTVAR and the retransmission timeout of one TCP
// connection (RFC 6298), in integer nanoseconds with Linux's scaled fixed point.
//
// Formulas (RFC 6298): the first sample R sets SRTT = R, RTTVAR = R/2 (§2.2); each later sample
// R' sets RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'| and then SRTT = 7/8 SRTT + 1/8 R' (§2.3, in
// that order: RTTVAR uses the old SRTT); RTO = SRTT + max(G, K*RTTVAR) with K = 4.
//
// Fixed point (Linux's tcp_sock srtt_us << 3 and mdev_us << 2): srtt8_ holds 8*SRTT and
// rttvar4_ holds 4*RTTVAR, in ns, so alpha = 1/8 and beta = 1/4 are shifts and K*RTTVAR is
// rttvar4_ itself. The only rounding is the floor of srtt8_/8 and rttvar4_/4 (below 1 ns per
// sample); there is no floating point, so runs are identical on every machine.
//
// Choices, with the RFC and Linux values:
//   G (clock granularity): 1 ms by default (configurable). Our clock is ns, so G only keeps a
//     zero-variance path from giving RTO = SRTT; the 200 ms minimum dominates anyway.
//   Initial RTO 1 s (RFC 6298 §2.1; Linux TCP_TIMEOUT_INIT).
//   Minimum RTO 200 ms — DEVIATION from RFC 6298 §2.4 (which says 1 s), as Linux TCP_RTO_MIN.
//     Linux applies it as a floor on the variance term (RTO >= SRTT + 200 ms, see
//     tcp_rtt_estimator's mdev_max_us); we apply it to the whole RTO as RFC 6298 §2.4 does.
//   Maximum RTO 120 s (RFC 6298 §2.5 allows a maximum of at least 60 s; Linux TCP_RTO_MAX).
//   After a SYN or SYN-ACK timeout with no sample, RTO restarts at 3 s once the connection is
//     established (RFC 6298 §5.7; Linux TCP_TIMEOUT_FALLBACK): syn_timeout_fallback().
//
// Karn's rule (RFC 6298 §3, Karn & Partridge) is the CALLER's: never call sample() with the RTT
// of a segment that was retransmitted, unless RFC 7323 timestamps tell which transmission the
// ACK is for (TSecr). This class takes a sample and trusts it.
//
// Backoff (RFC 6298 §5.5): each expiry doubles the RTO, capped at the maximum; a new sample
// restarts from the computed RTO (§5.7 via reset_backoff(), which sample() calls: Linux clears
// icsk_backoff when new data is acknowledged).
#pragma once

#include <cstdint>

#include "ustack/base/time.h"

namespace ustack::transport {

struct RttConfig {
  Duration granularity = Duration::ms(1);      // G
  Duration initial_rto = Duration::s(1);       // RFC 6298 §2.1
  Duration min_rto = Duration::ms(200);        // Linux TCP_RTO_MIN (RFC 6298 §2.4: 1 s)
  Duration max_rto = Duration::s(120);         // Linux TCP_RTO_MAX
  Duration syn_fallback_rto = Duration::s(3);  // RFC 6298 §5.7, Linux TCP_TIMEOUT_FALLBACK
};

// What `ss -ti` / getsockopt(TCP_INFO) report (struct tcp_info): microseconds.
struct RttInfo {
  uint32_t rtt_us = 0;     // tcpi_rtt = srtt_us >> 3
  uint32_t rttvar_us = 0;  // tcpi_rttvar = mdev_us >> 2
  uint32_t rto_us = 0;     // tcpi_rto (backed-off value, as Linux's icsk_rto)
  uint8_t backoff = 0;     // tcpi_backoff
};

class RttEstimator {
 public:
  // K in RFC 6298 §2.
  static constexpr int64_t kK = 4;

  RttEstimator() : RttEstimator(kDefault) {}
  // Keeps a reference to `cfg` (a TCP socket's is its layer's TcpConfig::rtt), which must
  // outlive the estimator: one per connection would cost 40 bytes each.
  explicit RttEstimator(const RttConfig& cfg);
  explicit RttEstimator(RttConfig&&) = delete;

  // One RTT measurement (RFC 6298 §2.2 for the first, §2.3 after). Non-positive samples are
  // taken as 1 ns (a clock that cannot go backwards still gives 0 for a sub-tick RTT). Also
  // resets the backoff (§5.7).
  void sample(Duration rtt);

  // The retransmission timer expired: double the RTO up to the maximum (RFC 6298 §5.5).
  void backoff();
  // Back to the computed RTO (a new sample, or new data acknowledged; RFC 6298 §5.7).
  void reset_backoff() { backoff_ = 0; }
  // RFC 6298 §5.7: the SYN (or SYN-ACK) timed out and no RTT sample exists yet: when data
  // transmission begins, the RTO is 3 s (unless a sample has been taken since).
  void syn_timeout_fallback();

  // The current timeout, backoff included, within [min_rto, max_rto].
  Duration rto() const;
  // The RTO the estimator computed, before backoff.
  Duration base_rto() const { return base_rto_; }
  Duration srtt() const { return Duration::ns(srtt8_ >> 3); }      // zero before a sample
  Duration rttvar() const { return Duration::ns(rttvar4_ >> 2); }  // zero before a sample
  bool has_sample() const { return has_sample_; }
  uint32_t backoff_count() const { return backoff_; }
  RttInfo info() const;
  const RttConfig& config() const { return *cfg_; }

 private:
  static const RttConfig kDefault;
  Duration clamp(Duration d) const;

  const RttConfig* cfg_;
  int64_t srtt8_ = 0;     // 8 * SRTT, ns (Linux srtt_us)
  int64_t rttvar4_ = 0;   // 4 * RTTVAR, ns (Linux mdev_us / rttvar_us)
  Duration base_rto_;     // clamp(SRTT + max(G, K*RTTVAR)), or the initial RTO
  uint32_t backoff_ = 0;  // Linux icsk_backoff
  bool has_sample_ = false;
};

}  // namespace ustack::transport
