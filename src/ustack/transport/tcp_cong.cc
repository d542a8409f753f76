// transport/tcp_cong.cc — NewReno (RFC 5681, RFC 6582, RFC 6928, RFC 3465), the FastRecovery
// state machine and the congestion-control registry (see tcp_cong.h).
#include "ustack/transport/tcp_cong.h"

#include <algorithm>
#include <array>
#include <new>

#include "ustack/base/assert.h"

namespace ustack::transport {

// ---- NewReno --------------------------------------------------------------------------------

uint32_t NewReno::initial_window(uint32_t mss) {
  // RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)). Computed in 64 bits: a jumbo MSS times
  // 10 must not wrap.
  const uint64_t m = mss;
  return static_cast<uint32_t>(std::min<uint64_t>(10 * m, std::max<uint64_t>(2 * m, 14600)));
}

void NewReno::init(uint32_t mss) {
  USTACK_ASSERT(mss > 0, "NewReno::init: SMSS must be positive");
  mss_ = mss;
  cwnd_ = initial_window(mss);
  ssthresh_ = kInfiniteSsthresh;  // RFC 5681 §3.1: initially arbitrarily high
  bytes_acked_ = 0;
}

uint32_t NewReno::loss_ssthresh(uint32_t in_flight) const {
  // RFC 5681 §3.1 eqn 4: ssthresh = max(FlightSize / 2, 2*SMSS).
  return std::max(in_flight / 2, 2 * mss_);
}

void NewReno::on_ack(Instant, uint32_t acked_bytes, uint32_t, std::optional<Duration>) {
  if (acked_bytes == 0) return;
  if (cwnd_ < ssthresh_) {
    // Slow start (RFC 5681 §3.1 eqn 2, ABC L = 1 SMSS, RFC 3465 §2.2).
    cwnd_ += std::min(acked_bytes, mss_);
    return;
  }
  // Congestion avoidance by byte counting (RFC 3465 §2.1, RFC 5681 §3.1): +1 SMSS per cwnd of
  // acknowledged bytes, i.e. per RTT.
  bytes_acked_ += acked_bytes;
  if (bytes_acked_ >= cwnd_) {
    bytes_acked_ -= cwnd_;
    cwnd_ += mss_;
  }
}

void NewReno::on_dupack(Instant, uint32_t) {
  // RFC 5681 §3.2 step 4: each further duplicate ACK means a segment left the network.
  cwnd_ += mss_;
}

void NewReno::on_enter_recovery(Instant, uint32_t in_flight) {
  // RFC 5681 §3.2 step 2 (eqn 4) and step 3: cwnd = ssthresh + 3*SMSS, the three segments the
  // duplicate ACKs say have left the network.
  ssthresh_ = loss_ssthresh(in_flight);
  cwnd_ = ssthresh_ + 3 * mss_;
  bytes_acked_ = 0;
}

void NewReno::on_partial_ack(Instant, uint32_t acked_bytes, uint32_t) {
  // RFC 6582 §3.2 step 5: deflate by the amount of new data acknowledged; add back one SMSS if
  // at least one SMSS was acknowledged (the retransmitted segment left the network). Never
  // below one SMSS: an ACK for more than cwnd (after inflation that cannot happen, but a peer
  // may lie) must not wrap.
  cwnd_ -= std::min(acked_bytes, cwnd_);
  if (acked_bytes >= mss_) cwnd_ += mss_;
  cwnd_ = std::max(cwnd_, mss_);
}

void NewReno::on_exit_recovery(Instant, uint32_t in_flight) {
  // RFC 6582 §3.2 step 3: deflate the window.
  if (deflate_ == FullAckDeflate::kFlightPlusMss) {
    cwnd_ = std::min(ssthresh_, std::max(in_flight, mss_) + mss_);
  } else {
    cwnd_ = ssthresh_;
  }
  bytes_acked_ = 0;
}

void NewReno::on_rto(Instant, uint32_t in_flight, bool repeated) {
  // RFC 5681 §3.1: ssthresh per eqn 4 on the first timeout of a segment, held constant when
  // the same segment times out again; cwnd = LW = 1 SMSS.
  if (!repeated) ssthresh_ = loss_ssthresh(in_flight);
  cwnd_ = mss_;
  bytes_acked_ = 0;
}

// ---- FastRecovery ---------------------------------------------------------------------------

std::string_view to_string(CaState s) {
  switch (s) {
    case CaState::kOpen:
      return "Open";
    case CaState::kDisorder:
      return "Disorder";
    case CaState::kRecovery:
      return "Recovery";
    case CaState::kLoss:
      return "Loss";
  }
  return "?";
}

void FastRecovery::init(wire::SeqNum iss) {
  *this = FastRecovery{};
  recover_ = iss;
  loss_una_ = iss;
}

CaAction FastRecovery::on_ack(CongestionControl& cc, Instant now, wire::SeqNum ack,
                              uint32_t acked_bytes, uint32_t in_flight,
                              std::optional<Duration> rtt_sample) {
  first_partial_ = false;
  switch (state_) {
    case CaState::kRecovery:
      if (ack >= recover_) {
        // RFC 6582 §3.2 step 3: full acknowledgment.
        cc.on_exit_recovery(now, in_flight);
        state_ = CaState::kOpen;
        dupacks_ = 0;
        return CaAction::kNone;
      }
      // RFC 6582 §3.2 step 5: partial acknowledgment: retransmit the first unacknowledged
      // segment; re-arm the timer on the first one.
      cc.on_partial_ack(now, acked_bytes, in_flight);
      first_partial_ = !partial_seen_;
      partial_seen_ = true;
      return CaAction::kRetransmit;
    case CaState::kLoss:
      // After an RTO: slow start from LW; Loss ends when everything outstanding at the
      // timeout is acknowledged (Linux: snd_una reaches high_seq).
      cc.on_ack(now, acked_bytes, in_flight, rtt_sample);
      if (ack >= recover_) state_ = CaState::kOpen;
      dupacks_ = 0;
      return CaAction::kNone;
    case CaState::kOpen:
    case CaState::kDisorder:
      state_ = CaState::kOpen;
      dupacks_ = 0;
      cc.on_ack(now, acked_bytes, in_flight, rtt_sample);
      return CaAction::kNone;
  }
  return CaAction::kNone;
}

CaAction FastRecovery::on_dupack(CongestionControl& cc, Instant now, wire::SeqNum snd_una,
                                 wire::SeqNum snd_nxt, uint32_t in_flight) {
  first_partial_ = false;
  switch (state_) {
    case CaState::kRecovery:
      cc.on_dupack(now, in_flight);  // RFC 5681 §3.2 step 4
      return CaAction::kNone;
    case CaState::kLoss:
      // RFC 6582 §4: duplicate ACKs for data sent before the timeout must not trigger another
      // fast retransmit (the go-back-N retransmissions cause them).
      ++dupacks_;
      return CaAction::kNone;
    case CaState::kOpen:
    case CaState::kDisorder:
      state_ = CaState::kDisorder;
      if (++dupacks_ != kDupThresh) return CaAction::kNone;
      // RFC 6582 §3.2 step 1: only if the ACK covers the previous recovery point; then
      // recover = highest sequence number sent (kept as SND.NXT) and fast retransmit.
      if (!(snd_una >= recover_)) return CaAction::kNone;
      recover_ = snd_nxt;
      state_ = CaState::kRecovery;
      partial_seen_ = false;
      cc.on_enter_recovery(now, in_flight);  // RFC 5681 §3.2 steps 2-3
      return CaAction::kRetransmit;
  }
  return CaAction::kNone;
}

void FastRecovery::on_rto(CongestionControl& cc, Instant now, wire::SeqNum snd_una,
                          wire::SeqNum snd_nxt, uint32_t in_flight) {
  first_partial_ = false;
  // The same segment timing out again (no progress since the last RTO) holds ssthresh.
  const bool repeated = state_ == CaState::kLoss && snd_una == loss_una_;
  cc.on_rto(now, in_flight, repeated);
  // RFC 6582 §3.2 step 4: record the highest sequence number sent and leave fast recovery.
  recover_ = snd_nxt;
  loss_una_ = snd_una;
  state_ = CaState::kLoss;
  dupacks_ = 0;
}

// ---- Registry -------------------------------------------------------------------------------

namespace {
constexpr std::array<std::string_view, 1> kAvailable = {"newreno"};
}  // namespace

std::unique_ptr<CongestionControl> make_congestion_control(std::string_view name) {
  if (name == "newreno" || name == "reno") return std::make_unique<NewReno>();
  return nullptr;
}

std::span<const std::string_view> available_congestion_control() { return kAvailable; }

static_assert(sizeof(NewReno) <= TcpCongestion::kInline && alignof(NewReno) <= 8,
              "NewReno must fit TcpCongestion's in-place storage");

TcpCongestion::TcpCongestion() {
  CongestionControl* cc = new (buf_) NewReno();
  USTACK_ASSERT(static_cast<void*>(cc) == static_cast<void*>(buf_),
                "TcpCongestion: the CongestionControl base must start the object");
}

bool TcpCongestion::set(std::string_view name) {
  if (name != "newreno" && name != "reno") return false;
  get()->~CongestionControl();
  CongestionControl* cc = new (buf_) NewReno();
  USTACK_ASSERT(static_cast<void*>(cc) == static_cast<void*>(buf_),
                "TcpCongestion: the CongestionControl base must start the object");
  return true;
}

}  // namespace ustack::transport
