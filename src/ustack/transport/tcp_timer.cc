// transport/tcp_timer.cc — a connection's timers (net/ipv4/tcp_timer.c), all on the layer's
// TimerWheel: retransmission (RFC 6298) and persist (RFC 9293 §3.8.6.1) share one node as in
// Linux (icsk_retransmit_timer); the delayed-ACK timer; and sk_timer, which is the keepalive
// timer (RFC 1122 §4.2.3.6) while established, the FIN-WAIT-2 timeout for orphans and the
// 2*MSL TIME-WAIT timer.
#include <fmt/format.h>

#include <cerrno>

#include "ustack/transport/tcp_internal.h"

namespace ustack::transport {

using wire::SeqNum;
using wire::TcpFlag;
using wire::TcpFlags;

void TcpSocket::arm_rto(Instant now) {
  rtx_kind_ = RtxKind::kRetrans;
  layer_.wheel_.arm(rtx_timer_, now + rtt_.rto());
}

void TcpSocket::arm_persist(Instant now) {
  rtx_kind_ = RtxKind::kProbe;
  layer_.wheel_.arm(rtx_timer_, now + rtt_.rto());
}

void TcpSocket::arm_keepalive(Instant now) {
  layer_.wheel_.arm(keepalive_timer_, now + keepalive_idle());
}

void TcpSocket::arm_fin_wait2(Instant now) {
  layer_.wheel_.arm(keepalive_timer_, now + layer_.cfg_.fin_timeout);
}

// tcp_retransmit_timer (RFC 6298 §5.4-5.7).
void TcpSocket::on_rtx_timer(Instant now) {
  if (rtx_kind_ == RtxKind::kProbe) {
    probe_timer(now);
    return;
  }
  rtx_kind_ = RtxKind::kNone;
  PacketBuffer* head = write_q_.front();
  if (head == nullptr || (head == send_head_ && snd_.una == snd_max_)) return;  // all ACKed
  const TcpConfig& cfg = layer_.cfg_;
  int limit = orphan_ ? cfg.orphan_retries : cfg.retries2;
  if (state_ == TcpState::kSynSent) limit = cfg.syn_retries;
  if (state_ == TcpState::kSynReceived) limit = cfg.synack_retries;
  if (retransmits_ >= limit) {
    write_timeout(now);
    return;
  }
  ++layer_.mib_.tcp_timeouts;
  layer_.tel_.trace(now, Layer::kTcp, "rto", 0, [&] {
    return fmt::format("{}:{} > {}:{} rto {} ms, retransmit seq {} (try {})", t_.laddr.to_string(),
                       t_.lport, t_.raddr.to_string(), t_.rport, rtt_.rto().millis(), snd_.una.v,
                       retransmits_ + 1);
  });
  if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) {
    xmit_skb(now, *head, true);
  } else {
    // RFC 5681 §3.1 (loss window) and RFC 6582 §3.2 step 4; then go back to SND.UNA and send
    // again as the window allows (BSD's snd_nxt = snd_una; SND.MAX keeps what was sent).
    rec_.on_rto(*cc_, now, snd_.una, snd_max_, snd_max_ - snd_.una);
    send_head_ = head;
    snd_.nxt = snd_.una;
    write_xmit(now);
  }
  rtt_.backoff();
  ++retransmits_;
  arm_rto(now);
}

// The retry limit ran out (tcp_write_timeout): ETIMEDOUT, or the ICMP error that explains why.
void TcpSocket::write_timeout(Instant now) {
  ++layer_.mib_.aborts_on_timeout;
  if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) ++layer_.mib_.attempt_fails;
  const int err = soft_error_ != 0 ? soft_error_ : ETIMEDOUT;
  soft_error_ = 0;
  layer_.tel_.trace(now, Layer::kTcp, "timeout", 0, [&] {
    return fmt::format("{}:{} > {}:{} gave up after {} retries", t_.laddr.to_string(), t_.lport,
                       t_.raddr.to_string(), t_.rport, retransmits_);
  });
  set_error(now, err);
  done(now);
}

// tcp_probe_timer / tcp_write_wakeup (RFC 9293 §3.8.6.1, MUST-36): the peer's window is closed
// and nothing is in flight to carry its update; probe with backoff until it opens.
void TcpSocket::probe_timer(Instant now) {
  rtx_kind_ = RtxKind::kNone;
  if (send_head_ == nullptr || !tcp_synchronized(state_)) return;
  if (snd_.nxt != snd_.una) {
    arm_rto(now);  // data in flight: the retransmission timer covers it
    return;
  }
  const int max_probes = orphan_ ? layer_.cfg_.orphan_retries : layer_.cfg_.retries2;
  if (probes_out_ >= max_probes) {
    write_timeout(now);
    return;
  }
  ++probes_out_;
  ++layer_.mib_.zero_window_probes;
  const SeqNum wnd_end = snd_.una + snd_.wnd;
  const SkbCb& cb = skb_cb(*send_head_);
  if (wnd_end > SeqNum{cb.seq}) {
    // Part of the window opened: send what fits, even below the SWS threshold.
    const uint32_t avail = wnd_end - SeqNum{cb.seq};
    if (avail < send_head_->len() && !fragment_skb(*send_head_, avail)) return;
    PacketBuffer& skb = *send_head_;
    xmit_skb(now, skb, skb_cb(skb).tx_count > 0);
    snd_.nxt = SeqNum{skb_cb(skb).end_seq};
    if (snd_.nxt > snd_max_) snd_max_ = snd_.nxt;
    send_head_ = PacketQueue::next(&skb);
    arm_rto(now);
    return;
  }
  // tcp_xmit_probe_skb: an old sequence number (SND.UNA - 1) makes the peer ACK with its window.
  send_control(now, TcpFlags{TcpFlag::kAck}, snd_.una + 0xffffffffu);
  rtt_.backoff();
  arm_persist(now);
}

void TcpSocket::on_delack_timer(Instant now) {
  if (ack_pending_bytes_ == 0 && !ack_now_) return;
  if (state_ == TcpState::kClosed || state_ == TcpState::kListen) return;
  ++layer_.mib_.delayed_acks;
  send_ack(now);
}

void TcpSocket::on_keepalive_timer(Instant now) {
  switch (state_) {
    case TcpState::kTimeWait:
      // 2*MSL is over (RFC 9293 §3.10.8): the connection is gone.
      done(now);
      return;
    case TcpState::kFinWait2:
      // tcp_fin_timeout: an orphan whose peer never sends its FIN.
      if (orphan_) done(now);
      return;
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
      break;
    default:
      return;
  }
  if (!keepalive_) return;
  // RFC 1122 §4.2.3.6: probe only an idle connection; data in flight has its own timer.
  if (snd_max_ != snd_.una || send_head_ != nullptr) {
    arm_keepalive(now);
    return;
  }
  const Duration idle = now - rcv_tstamp_;
  if (idle < keepalive_idle() && probes_out_ == 0) {
    layer_.wheel_.arm(keepalive_timer_, rcv_tstamp_ + keepalive_idle());
    return;
  }
  if (probes_out_ >= ka_cnt_) {
    // tcp_keepalive_timer: the peer is gone. Linux resets and reports ETIMEDOUT.
    send_rst_active(now);
    ++layer_.mib_.aborts_on_timeout;
    set_error(now, ETIMEDOUT);
    done(now);
    return;
  }
  ++probes_out_;
  ++layer_.mib_.keepalive_probes;
  // A keepalive is SEG.SEQ = SND.NXT - 1 with no data (RFC 1122 §4.2.3.6), which the peer
  // must answer with an ACK.
  send_control(now, TcpFlags{TcpFlag::kAck}, snd_.una + 0xffffffffu);
  layer_.wheel_.arm(keepalive_timer_, now + keepalive_intvl());
}

}  // namespace ustack::transport
