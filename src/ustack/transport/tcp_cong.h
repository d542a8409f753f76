// transport/tcp_cong.h — pluggable TCP congestion control (Linux's struct tcp_congestion_ops)
// with NewReno (RFC 5681, RFC 6582), and FastRecovery, the algorithm-independent loss state
// machine that decides when to call which hook (Linux's tcp_fastretrans_alert, icsk_ca_state).
//
// Split as in Linux: the TCP engine detects duplicate ACKs and timeouts; FastRecovery turns
// them into Open / Disorder / Recovery / Loss transitions and tracks `recover` (RFC 6582);
// the CongestionControl object only owns cwnd and ssthresh. An engine does:
//
//   new data ACKed (SND.UNA advanced):  if (rec.on_ack(cc, now, ack, acked, flight, rtt) ==
//                                           CaAction::kRetransmit) retransmit SND.UNA;
//   duplicate ACK (RFC 5681 §2):         same with rec.on_dupack(cc, now, snd_una, snd_nxt, flight)
//   retransmission timer expired:        rec.on_rto(cc, now, snd_una, snd_nxt, flight)
//
// `in_flight` is FlightSize (RFC 5681 §2): bytes sent and not yet cumulatively acknowledged,
// AFTER this ACK is taken into account (SND.NXT - SND.UNA with the new SND.UNA). Sizes are
// bytes. Limited transmit (RFC 3042), SACK-based recovery and cwnd validation (RFC 7661) are
// the engine's / later work; hooks get `now` and the RTT sample so CUBIC-like algorithms fit.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string_view>

#include "ustack/base/time.h"
#include "ustack/wire/seq.h"

namespace ustack::transport {

// Linux TCP_INFINITE_SSTHRESH: "no ssthresh yet" (RFC 5681 §3.1: arbitrarily high).
inline constexpr uint32_t kInfiniteSsthresh = 0x7fffffff;

class CongestionControl {
 public:
  virtual ~CongestionControl() = default;

  // "newreno", "cubic": the name getsockopt(TCP_CONGESTION) reports.
  virtual std::string_view name() const = 0;
  // Connection established with sender MSS `mss` (SMSS): set the initial window.
  virtual void init(uint32_t mss) = 0;
  // New data acknowledged while not in fast recovery (Open, Disorder or Loss): grow cwnd.
  virtual void on_ack(Instant now, uint32_t acked_bytes, uint32_t in_flight,
                      std::optional<Duration> rtt_sample) = 0;
  // A duplicate ACK during fast recovery (RFC 5681 §3.2 step 4: inflate).
  virtual void on_dupack(Instant now, uint32_t in_flight) = 0;
  // The third duplicate ACK: enter fast retransmit / fast recovery (RFC 5681 §3.2 step 2-3).
  virtual void on_enter_recovery(Instant now, uint32_t in_flight) = 0;
  // An ACK of new data below `recover` during fast recovery (RFC 6582 §3.2 step 5).
  virtual void on_partial_ack(Instant now, uint32_t acked_bytes, uint32_t in_flight) = 0;
  // An ACK covering `recover`: leave fast recovery (RFC 6582 §3.2 step 3).
  virtual void on_exit_recovery(Instant now, uint32_t in_flight) = 0;
  // The retransmission timer expired (RFC 5681 §3.1 eqn 4 and the loss window). `repeated`:
  // the segment at SND.UNA was already retransmitted by the timer, so ssthresh is held
  // constant (RFC 5681 §3.1, the paragraph after eqn 4; Linux tcp_enter_loss).
  virtual void on_rto(Instant now, uint32_t in_flight, bool repeated) = 0;

  virtual uint32_t cwnd() const = 0;
  virtual uint32_t ssthresh() const = 0;
};

// RFC 6582 §3.2 step 3: the cwnd after a full ACK ends fast recovery.
enum class FullAckDeflate : uint8_t {
  kFlightPlusMss,  // option 1: min(ssthresh, max(FlightSize, SMSS) + SMSS) — no burst
  kSsthresh,       // option 2: ssthresh
};

// NewReno: RFC 5681 slow start / congestion avoidance / fast recovery with RFC 6582's
// partial-ACK handling (the recovery point itself is tracked by FastRecovery).
//  - Initial window (RFC 6928 §2): min(10*SMSS, max(2*SMSS, 14600)); Linux: 10 segments.
//  - Slow start (cwnd < ssthresh): cwnd += min(acked, SMSS) per ACK (RFC 5681 §3.1 eqn 2;
//    RFC 3465 ABC with L = 1 SMSS).
//  - Congestion avoidance: byte counting (RFC 5681 §3.1, the "more accurate" alternative to
//    eqn 3; RFC 3465 §2.1): bytes_acked accumulates; each time it reaches cwnd, cwnd += SMSS.
//    Exactly 1 SMSS per RTT whether the peer ACKs every segment or every other one (eqn 3,
//    SMSS*SMSS/cwnd per ACK, grows half as fast under delayed ACKs). Linux does the same in
//    segments (tcp_cong_avoid_ai's snd_cwnd_cnt).
//  - ssthresh = max(FlightSize/2, 2*SMSS) on loss (RFC 5681 eqn 4; Linux's tcp_reno_ssthresh
//    halves cwnd instead).
class NewReno final : public CongestionControl {
 public:
  explicit NewReno(FullAckDeflate deflate = FullAckDeflate::kFlightPlusMss) : deflate_(deflate) {}

  // RFC 6928 §2.
  static uint32_t initial_window(uint32_t mss);

  std::string_view name() const override { return "newreno"; }
  void init(uint32_t mss) override;
  void on_ack(Instant now, uint32_t acked_bytes, uint32_t in_flight,
              std::optional<Duration> rtt_sample) override;
  void on_dupack(Instant now, uint32_t in_flight) override;
  void on_enter_recovery(Instant now, uint32_t in_flight) override;
  void on_partial_ack(Instant now, uint32_t acked_bytes, uint32_t in_flight) override;
  void on_exit_recovery(Instant now, uint32_t in_flight) override;
  void on_rto(Instant now, uint32_t in_flight, bool repeated) override;
  uint32_t cwnd() const override { return cwnd_; }
  uint32_t ssthresh() const override { return ssthresh_; }
  uint32_t mss() const { return mss_; }

 private:
  uint32_t loss_ssthresh(uint32_t in_flight) const;

  FullAckDeflate deflate_;
  uint32_t mss_ = 536;  // RFC 9293 §3.7.1 default SMSS until init()
  uint32_t cwnd_ = 0;
  uint32_t ssthresh_ = kInfiniteSsthresh;
  uint32_t bytes_acked_ = 0;  // RFC 3465 byte counter for congestion avoidance
};

// Linux's icsk_ca_state (TCP_CA_Open, TCP_CA_Disorder, TCP_CA_Recovery, TCP_CA_Loss).
enum class CaState : uint8_t { kOpen, kDisorder, kRecovery, kLoss };
std::string_view to_string(CaState s);

enum class CaAction : uint8_t {
  kNone,
  kRetransmit,  // retransmit the segment at SND.UNA now (fast retransmit, or a partial ACK)
};

// The loss-recovery state machine around a CongestionControl (RFC 5681 §3.2, RFC 6582 §3.2).
// `recover` is kept as Linux's high_seq: SND.NXT when recovery (or Loss) began, i.e. RFC 6582's
// recover + 1. "The ACK covers recover" is then ack >= recover_; a full ACK is the same test.
// RFC 6582 §3.2 step 1 ("covers more than recover") would, with recover = ISS initially,
// forbid a fast retransmit of the very first data segment; Linux's !before(snd_una, high_seq)
// does not, and neither do we.
class FastRecovery {
 public:
  static constexpr uint32_t kDupThresh = 3;  // RFC 5681 §3.2; Linux tcp_reordering default

  // RFC 6582 §3.2: "recover" starts at the ISS.
  void init(wire::SeqNum iss);

  // SND.UNA advanced to `ack` (acked_bytes new bytes).
  CaAction on_ack(CongestionControl& cc, Instant now, wire::SeqNum ack, uint32_t acked_bytes,
                  uint32_t in_flight, std::optional<Duration> rtt_sample);
  // A duplicate ACK as defined in RFC 5681 §2 (the engine checks the five conditions).
  CaAction on_dupack(CongestionControl& cc, Instant now, wire::SeqNum snd_una, wire::SeqNum snd_nxt,
                     uint32_t in_flight);
  // The retransmission timer expired (RFC 6582 §3.2 step 4): recover = SND.NXT, exit recovery.
  void on_rto(CongestionControl& cc, Instant now, wire::SeqNum snd_una, wire::SeqNum snd_nxt,
              uint32_t in_flight);

  CaState state() const { return state_; }
  uint32_t dupacks() const { return dupacks_; }
  wire::SeqNum recover() const { return recover_; }
  // True when the first partial ACK of this recovery was just processed: RFC 6582 §3.2 step 5
  // says to re-arm the retransmission timer then (the "impatient" variant).
  bool first_partial_ack() const { return first_partial_; }

 private:
  CaState state_ = CaState::kOpen;
  bool partial_seen_ = false;
  bool first_partial_ = false;
  uint32_t dupacks_ = 0;
  wire::SeqNum recover_;
  wire::SeqNum loss_una_;  // SND.UNA at the last RTO: same again means a repeated timeout
};

// Registry (Linux tcp_register_congestion_control / tcp_ca_find): nullptr for an unknown name.
// "reno" (Linux's name for the same algorithm) is accepted as an alias of "newreno".
std::unique_ptr<CongestionControl> make_congestion_control(std::string_view name);
// The congestion control of one connection, held in place: Linux keeps an algorithm's state
// inside the socket (icsk_ca_priv, ICSK_CA_PRIV_SIZE, with a BUILD_BUG_ON per algorithm) rather
// than in a heap object per connection, and so do we: every algorithm fits kInline bytes
// (static_assert in tcp_cong.cc).
// It always holds one (NewReno until set()), whose CongestionControl base is at the start of
// the storage (the primary base of a single-inheritance class; set() checks it).
class TcpCongestion {
 public:
  static constexpr size_t kInline = 32;

  TcpCongestion();
  ~TcpCongestion() { get()->~CongestionControl(); }
  TcpCongestion(const TcpCongestion&) = delete;
  TcpCongestion& operator=(const TcpCongestion&) = delete;

  // Replaces the algorithm by a new instance of `name` (make_congestion_control's names);
  // false, and nothing changed, for an unknown name.
  bool set(std::string_view name);
  CongestionControl* operator->() const { return get(); }
  CongestionControl& operator*() const { return *get(); }

 private:
  CongestionControl* get() const {
    return std::launder(reinterpret_cast<CongestionControl*>(const_cast<unsigned char*>(buf_)));
  }
  alignas(8) unsigned char buf_[kInline];
};

// net.ipv4.tcp_available_congestion_control.
std::span<const std::string_view> available_congestion_control();

}  // namespace ustack::transport
