// transport/tcp_input.cc — SEGMENT ARRIVES (RFC 9293 §3.10.7) for a connection: SYN-SENT
// (§3.10.7.3) and every later state (§3.10.7.4), in the RFC's order of steps, with RFC 5961's
// challenge ACKs, RFC 7323's PAWS and TS.Recent, RFC 5681 duplicate ACKs feeding FastRecovery,
// RFC 6298 RTT samples under Karn's rule, the out-of-order queue and delayed ACKs
// (Linux: tcp_rcv_synsent_state_process, tcp_rcv_state_process, tcp_ack, tcp_data_queue).
#include <fmt/format.h>

#include <cerrno>

#include "ustack/base/assert.h"
#include "ustack/transport/tcp_internal.h"

namespace ustack::transport {

using wire::SeqNum;
using wire::TcpFlag;
using wire::TcpFlags;

void TcpSocket::drop(Instant now, const Segment& seg, DropReason why) {
  layer_.tel_.drop(now, Layer::kTcp, why, seg.id, [&] {
    return fmt::format("{}:{} {} seq {} ack {} len {} in {}", t_.raddr.to_string(), t_.rport,
                       seg.h.flags.to_string(), seg.h.seq.v, seg.h.ack.v, seg.len,
                       tcp_state_name(state_));
  });
}

// tcp_oow_rate_limited: at most one ACK per 500 ms (tcp_invalid_ratelimit) answers pure
// out-of-window segments, so two confused endpoints cannot ACK each other forever. Segments
// with text are always answered (they are not part of an ACK loop).
bool TcpSocket::oow_rate_limited(Instant now, const Segment& seg) {
  if (seg.len > 0 && !seg.h.flags.syn()) return false;
  if (last_oow_ack_ != Instant{} && now - last_oow_ack_ < kOowAckInterval) {
    ++layer_.mib_.ack_skipped;
    return true;
  }
  last_oow_ack_ = now;
  return false;
}

void TcpSocket::send_oow_ack(Instant now, const Segment& seg) {
  if (!oow_rate_limited(now, seg)) send_ack(now);
}

// RFC 5961 §7: challenge ACKs are throttled (Linux tcp_send_challenge_ack, per socket).
void TcpSocket::send_challenge_ack(Instant now, const Segment& seg) {
  if (oow_rate_limited(now, seg)) return;
  ++layer_.mib_.challenge_acks;
  send_ack(now);
}

void TcpSocket::segment_arrives(Instant now, Segment& seg) {
  ++segs_in_;
  switch (state_) {
    case TcpState::kSynSent:
      rcv_syn_sent(now, seg);
      break;
    case TcpState::kTimeWait:
      if (!rcv_time_wait(now, seg)) rcv_state_process(now, seg);
      break;
    case TcpState::kClosed:
    case TcpState::kListen:
      drop(now, seg, DropReason::kTcpClosed);
      break;
    default:
      rcv_state_process(now, seg);
      break;
  }
}

// The options of a SYN or SYN-ACK: what both sides agreed to (RFC 7323 §1.3, RFC 2018 §2).
void TcpSocket::negotiate(Instant now, const Segment& seg, bool we_offered_all) {
  const wire::TcpOptions& o = seg.h.options;
  const TcpConfig& cfg = layer_.cfg_;
  // RFC 9293 §3.7.1 (MUST-15): no MSS option means 536.
  peer_mss_ = o.mss ? std::max<uint32_t>(*o.mss, kTcpMinMss) : 536;
  opt_.wscale_ok = cfg.window_scaling && we_offered_all && o.window_scale.has_value();
  snd_.wscale = opt_.wscale_ok ? *o.window_scale : 0;
  if (!opt_.wscale_ok) rcv_.wscale = 0;
  opt_.sack_ok = cfg.sack && we_offered_all && o.sack_permitted;
  opt_.ts_ok = cfg.timestamps && we_offered_all && o.timestamps.has_value();
  if (opt_.ts_ok) {
    opt_.ts_recent = o.timestamps->tsval;
    opt_.ts_recent_age = now;
  }
}

// ---- SYN-SENT (RFC 9293 §3.10.7.3)
// ---------------------------------------------------------------

void TcpSocket::rcv_syn_sent(Instant now, Segment& seg) {
  const TcpFlags f = seg.h.flags;
  bool ack_ok = false;
  // First: check the ACK bit.
  if (f.ack()) {
    if (seg.h.ack <= snd_.iss || seg.h.ack > snd_.nxt) {
      // MUST: <SEQ=SEG.ACK><CTL=RST> unless it is a RST.
      drop(now, seg, DropReason::kTcpBadAck);
      if (!f.rst()) layer_.send_reset(now, seg);
      return;
    }
    ack_ok = snd_.una < seg.h.ack && seg.h.ack <= snd_.nxt;
  }
  // Second: check the RST bit (RFC 5961 §3.2: only if it acknowledges our SYN).
  if (f.rst()) {
    if (ack_ok) {
      ++layer_.mib_.attempt_fails;
      set_error(now, ECONNREFUSED);  // "error: connection reset"
      done(now);
    } else {
      drop(now, seg, DropReason::kTcpRstInvalid);
    }
    return;
  }
  // Fourth: check the SYN bit.
  if (!f.syn()) {
    drop(now, seg, DropReason::kTcpFlags);
    return;
  }
  rcv_.irs = seg.seq;
  rcv_.nxt = seg.seq + 1;
  rcv_.adv_right = rcv_.nxt + rcv_.wnd;  // our SYN's window, now relative to the peer's ISN
  negotiate(now, seg, true);
  if (ack_ok) {
    // SYN-ACK: ESTABLISHED. The window of a SYN is never scaled (RFC 7323 §2.2).
    std::optional<Duration> rtt;
    clean_rtx_queue(now, seg.h.ack, rtt);
    snd_.una = seg.h.ack;
    if (rtt) rtt_.sample(*rtt);
    snd_.wnd = seg.h.window;
    snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
    snd_.wl1 = seg.seq;
    snd_.wl2 = seg.h.ack;
    layer_.wheel_.cancel(rtx_timer_);
    rtx_kind_ = RtxKind::kNone;
    set_state(now, TcpState::kEstablished);
    init_transfer(now);
    rcv_tstamp_ = now;
    // Data or FIN riding on the SYN-ACK (RFC 9293: "continue processing at the sixth step").
    seg.syn = false;
    seg.seq = seg.seq + 1;
    // The third segment of the handshake: one ACK, covering any text too (or piggybacked on
    // data queued while connecting).
    ack_now_ = true;
    if (seg.len > 0 || seg.fin) data_queue(now, seg);
    write_xmit(now);
    ack_snd_check(now);
    wake(now);
    return;
  }
  // Simultaneous open: SYN-RECEIVED, and our SYN goes again as a SYN-ACK. Text waits for the
  // peer to retransmit it once we are ESTABLISHED.
  snd_.wnd = seg.h.window;
  snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
  snd_.wl1 = seg.seq;
  snd_.wl2 = snd_.una;
  set_state(now, TcpState::kSynReceived);
  if (PacketBuffer* syn = write_q_.front(); syn != nullptr && skb_cb(*syn).syn)
    xmit_skb(now, *syn, true);
  arm_rto(now);
}

// ---- TIME-WAIT (RFC 9293 §3.10.7.4 and RFC 6191)
// ---------------------------------------------------

bool TcpSocket::rcv_time_wait(Instant now, Segment& seg) {
  const TcpFlags f = seg.h.flags;
  if (f.syn() && !f.ack() && !f.rst()) {
    // RFC 6191 §2: a new SYN may reuse the 4-tuple when its timestamp (or, without
    // timestamps, its sequence number) shows it is not an old duplicate.
    const auto& ts = seg.h.options.timestamps;
    const bool fresh = opt_.ts_ok && ts ? static_cast<int32_t>(ts->tsval - opt_.ts_recent) > 0
                                        : seg.seq > rcv_.nxt;
    TcpSocket* l =
        fresh ? layer_.lookup_listener(seg.daddr, seg.h.dst_port, seg.saddr, seg.h.src_port)
              : nullptr;
    if (l != nullptr) {
      // The new incarnation's ISN starts beyond anything this one sent (Linux tw_snd_nxt).
      const SeqNum iss = snd_.nxt + 65535 + 2;
      ++layer_.mib_.tw_recycled;
      done(now);
      layer_.listen_rcv(now, *l, seg, iss);
      return true;
    }
    return false;
  }
  if (f.fin() && !f.rst() && seg.seq + seg.len + 1 == rcv_.nxt) {
    // "The only thing that can arrive in this state is a retransmission of the remote FIN.
    // Acknowledge it, and restart the 2 MSL timeout."
    drop(now, seg, DropReason::kTcpOldData);
    send_ack(now);
    layer_.wheel_.arm(keepalive_timer_, now + layer_.cfg_.time_wait);
    return true;
  }
  return false;
}

// ---- the synchronized states (RFC 9293 §3.10.7.4)
// ------------------------------------------------

bool TcpSocket::seq_acceptable(const Segment& seg) const {
  const uint32_t wnd = rcv_.adv_right > rcv_.nxt ? rcv_.adv_right - rcv_.nxt : 0;
  const uint32_t l = seg.seg_len();
  // The four cases of RFC 9293 §3.10.7.4 (MUST-?): zero-length segments and zero windows.
  if (l == 0) return wnd == 0 ? seg.seq == rcv_.nxt : wire::in_window(seg.seq, rcv_.nxt, wnd);
  if (wnd == 0) return false;
  return wire::in_window(seg.seq, rcv_.nxt, wnd) ||
         wire::in_window(seg.seq + (l - 1), rcv_.nxt, wnd);
}

// Cut what lies before RCV.NXT (already received) and beyond the window's right edge.
void TcpSocket::trim_to_window(Segment& seg) {
  if (seg.syn) return;  // dealt with in the fourth step
  if (seg.seq < rcv_.nxt) {
    const uint32_t dup = rcv_.nxt - seg.seq;
    if (dup >= seg.len) {
      // All text is old; a FIN at seq + len is old too unless it sits exactly at RCV.NXT.
      if (seg.fin && seg.seq + seg.len != rcv_.nxt) seg.fin = false;
      (void)seg.pkt->pull(seg.len);
      seg.seq = seg.seq + seg.len;
      seg.len = 0;
    } else {
      (void)seg.pkt->pull(dup);
      seg.seq = rcv_.nxt;
      seg.len -= dup;
    }
  }
  const SeqNum right = rcv_.adv_right > rcv_.nxt ? rcv_.adv_right : rcv_.nxt;
  if (seg.seq + seg.len > right) {
    const uint32_t cut = (seg.seq + seg.len) - right;
    seg.len = cut >= seg.len ? 0 : seg.len - cut;
    (void)seg.pkt->trim(seg.len);
    seg.fin = false;
  }
}

void TcpSocket::rcv_state_process(Instant now, Segment& seg) {
  const TcpFlags f = seg.h.flags;
  rcv_tstamp_ = now;
  // RFC 7323 §5.3 R1 (PAWS), before the sequence number check: a timestamp older than
  // TS.Recent marks an old duplicate. Not for RSTs; TS.Recent older than 24 days is stale.
  const auto& ts = seg.h.options.timestamps;
  if (opt_.ts_ok && ts && !f.rst() && static_cast<int32_t>(ts->tsval - opt_.ts_recent) < 0 &&
      now - opt_.ts_recent_age < kPawsIdle) {
    ++layer_.mib_.paws_estab;
    drop(now, seg, DropReason::kTcpPaws);
    send_oow_ack(now, seg);
    return;
  }
  // First: check the sequence number.
  if (!seq_acceptable(seg)) {
    const uint32_t wnd = rcv_.adv_right > rcv_.nxt ? rcv_.adv_right - rcv_.nxt : 0;
    if (wnd == 0 && seg.seq == rcv_.nxt) {
      // "special allowance should be made to accept valid ACKs, URGs, and RSTs": the text
      // (a zero-window probe) is dropped and answered with an ACK below.
      if (seg.len > 0) drop(now, seg, DropReason::kSocketRcvBuff);
      (void)seg.pkt->trim(0);
      seg.len = 0;
      seg.fin = false;
      ack_now_ = true;
    } else {
      drop(now, seg, seg.end() <= rcv_.nxt ? DropReason::kTcpOldData : DropReason::kTcpOutOfWindow);
      if (!f.rst()) send_oow_ack(now, seg);  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
      return;
    }
  }
  trim_to_window(seg);
  // RFC 7323 §4.3 (3): TS.Recent follows the segment at the left window edge.
  if (opt_.ts_ok && ts && !(seg.seq > last_ack_sent_) &&
      static_cast<int32_t>(ts->tsval - opt_.ts_recent) >= 0) {
    opt_.ts_recent = ts->tsval;
    opt_.ts_recent_age = now;
  }
  // Second: check the RST bit (RFC 5961 §3.2: exact match resets, in-window challenges).
  if (f.rst()) {
    if (seg.h.seq != rcv_.nxt) {
      drop(now, seg, DropReason::kTcpRstInvalid);
      send_challenge_ack(now, seg);
      return;
    }
    switch (state_) {
      case TcpState::kSynReceived:
        ++layer_.mib_.attempt_fails;
        set_error(now, ECONNREFUSED);
        break;
      case TcpState::kEstablished:
      case TcpState::kFinWait1:
      case TcpState::kFinWait2:
        set_error(now, ECONNRESET);
        break;
      case TcpState::kCloseWait:
        set_error(now, EPIPE);
        break;
      default:
        break;  // CLOSING, LAST-ACK, TIME-WAIT: just close
    }
    done(now);
    return;
  }
  // Fourth: check the SYN bit (RFC 5961 §4.2: a challenge ACK, whatever the sequence number).
  if (f.syn()) {
    drop(now, seg, DropReason::kTcpSynInvalid);
    send_challenge_ack(now, seg);
    return;
  }
  // Fifth: check the ACK field.
  if (!f.ack()) {
    drop(now, seg, DropReason::kTcpNoAck);
    return;
  }
  if (!process_ack(now, seg)) return;
  if (state_ == TcpState::kClosed) return;
  // Sixth: the URG bit. Urgent data is not supported: the pointer is ignored and the octets
  // are delivered in line (RFC 6093 recommends exactly this for new applications).
  // Seventh: process the segment text.
  if (seg.len > 0) {
    switch (state_) {
      case TcpState::kEstablished:
      case TcpState::kFinWait1:
      case TcpState::kFinWait2:
        if (orphan_ && state_ != TcpState::kEstablished) {
          // tcp_rcv_state_process: new data for a socket the application closed cannot be
          // delivered; reset so the peer knows (Linux TCPAbortOnData).
          ++layer_.mib_.abort_on_data;
          drop(now, seg, DropReason::kTcpDataAfterClose);
          send_rst_active(now);
          done(now);
          return;
        }
        data_queue(now, seg);
        break;
      default:
        // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not occur, since a FIN has
        // been received from the remote side. Ignore the segment text."
        drop(now, seg, DropReason::kTcpClosed);
        break;
    }
  } else if (seg.fin) {
    data_queue(now, seg);  // the eighth step, in sequence order
  }
  if (state_ == TcpState::kClosed) return;
  write_xmit(now);
  ack_snd_check(now);
}

// The fifth step for everything after SYN-SENT; false when the segment is to be dropped.
bool TcpSocket::process_ack(Instant now, Segment& seg) {
  const SeqNum ack = seg.h.ack;
  // SYN-RECEIVED, or FIN-WAIT-1 entered from it by a close before our SYN was acknowledged
  // (RFC 9293 §3.10.4): the ACK of our SYN establishes the connection.
  const bool syn_unacked =
      state_ == TcpState::kSynReceived ||
      (state_ == TcpState::kFinWait1 && !was_connected_ && snd_.una == snd_.iss);
  if (syn_unacked) {
    if (!(snd_.una < ack && ack <= snd_max_)) {
      // <SEQ=SEG.ACK><CTL=RST>
      drop(now, seg, DropReason::kTcpBadAck);
      layer_.send_reset(now, seg);
      return false;
    }
    if (state_ == TcpState::kSynReceived) set_state(now, TcpState::kEstablished);
    was_connected_ = true;
    snd_.wnd = static_cast<uint32_t>(seg.h.window) << snd_.wscale;
    snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
    snd_.wl1 = seg.seq;
    snd_.wl2 = ack;
    std::optional<Duration> rtt;
    clean_rtx_queue(now, ack, rtt);
    snd_.una = ack;
    if (snd_.nxt < ack) snd_.nxt = ack;
    if (rtt) rtt_.sample(*rtt);
    layer_.wheel_.cancel(rtx_timer_);
    rtx_kind_ = RtxKind::kNone;
    init_transfer(now);
    if (parent_ != nullptr) layer_.child_established(now, *this);
    wake(now);
  }
  // RFC 5961 §5.2 / RFC 9293: an ACK for data never sent, or older than the largest window
  // allows, is answered with an ACK and dropped.
  if (ack > snd_max_) {
    drop(now, seg, DropReason::kTcpAckUnsent);
    send_ack(now);
    return false;
  }
  if (ack < snd_.una + (0u - snd_.max_wnd)) {
    drop(now, seg, DropReason::kTcpAckTooOld);
    send_challenge_ack(now, seg);
    return false;
  }
  // An acceptable ACK shows the peer is alive: zero-window and keepalive probes were answered
  // (Linux tcp_ack clears icsk_probes_out for any of them).
  probes_out_ = 0;
  const uint32_t seg_wnd = static_cast<uint32_t>(seg.h.window) << snd_.wscale;
  if (snd_.una < ack) {
    // New data acknowledged: free the clones' originals (the retransmission queue).
    const uint32_t acked = ack - snd_.una;
    std::optional<Duration> rtt;
    const int64_t last_retrans_ns = clean_rtx_queue(now, ack, rtt);
    if (!rtt && opt_.ts_ok && seg.h.options.timestamps && seg.h.options.timestamps->tsecr != 0) {
      // RFC 7323 §4.1: the echoed timestamp times even a retransmitted segment, but only if it
      // echoes the retransmission: an echo older than it (an ACK for the first transmission,
      // or a duplicate ACK carrying an old TS.Recent) would span the whole loss episode and
      // inflate the RTO (Linux compares against the skb's last transmission the same way).
      const uint32_t tsecr = seg.h.options.timestamps->tsecr;
      const uint32_t retrans_ts = ts_at(last_retrans_ns);
      if (last_retrans_ns == 0 || static_cast<int32_t>(tsecr - retrans_ts) >= 0) {
        const uint32_t ms = ts_now(now) - tsecr;
        if (ms < 60'000) rtt = Duration::ms(ms);
      }
    }
    snd_.una = ack;
    if (snd_.nxt < ack) snd_.nxt = ack;  // acked beyond a rewind (after an RTO)
    stats_.bytes_acked += acked;
    // RFC 6298 §5.7 and Karn: only a valid sample clears the backoff (sample() does). With
    // timestamps, an echo on an ACK of new data is fresh evidence of the path even when it
    // is too old to time the retransmission: Linux clears the backoff then too (its
    // tcp_ack_update_rtt takes the echo as a sample), and keeping a doubled RTO through a run
    // of lost ACKs only stalls the connection.
    if (rtt) {
      rtt_.sample(*rtt);
    } else if (opt_.ts_ok && seg.h.options.timestamps && seg.h.options.timestamps->tsecr != 0) {
      rtt_.reset_backoff();
    }
    retransmits_ = 0;
    const uint32_t flight = snd_.nxt - snd_.una;
    if (rec_.on_ack(*cc_, now, ack, acked, flight, rtt) == CaAction::kRetransmit) {
      retransmit_head(now);
    }
    // RFC 6298 §5.2/5.3: all acknowledged -> stop the timer; else restart it.
    if (snd_.una == snd_max_) {
      if (rtx_kind_ == RtxKind::kRetrans) {
        layer_.wheel_.cancel(rtx_timer_);
        rtx_kind_ = RtxKind::kNone;
      }
    } else {
      arm_rto(now);
    }
    check_space(now);
  } else if (ack == snd_.una && seg.len == 0 && !seg.fin && !seg.h.flags.syn() &&
             snd_max_ != snd_.una &&
             (seg_wnd <= snd_.wnd || (opt_.sack_ok && !seg.h.options.sack.empty()))) {
    // RFC 5681 §2: a duplicate ACK. Two relaxations of "the window is unchanged", because a
    // receiver's window moves while it holds out-of-order data, and demanding it be still
    // turns every loss into a retransmission timeout: a window that shrank still counts (as
    // Linux: only a grown window is FLAG_WIN_UPDATE), and so does any ACK carrying SACK
    // blocks (RFC 6675 §2's duplicate acknowledgment: it reports data above SND.UNA). Linux
    // receivers grow their window with every such ACK (receive-buffer autotuning).
    const uint32_t flight = snd_.nxt - snd_.una;
    if (rec_.on_dupack(*cc_, now, snd_.una, snd_.nxt, flight) == CaAction::kRetransmit) {
      ++layer_.mib_.fast_retrans;
      retransmit_head(now);
      arm_rto(now);
    }
  }
  // Window update (RFC 9293 §3.10.7.4): only from a segment newer than the last update.
  if (snd_.una <= ack && (snd_.wl1 < seg.seq || (snd_.wl1 == seg.seq && snd_.wl2 <= ack))) {
    const bool opened = seg_wnd > snd_.wnd;
    snd_.wnd = seg_wnd;
    snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
    snd_.wl1 = seg.seq;
    snd_.wl2 = ack;
    if (opened && rtx_kind_ == RtxKind::kProbe && snd_.wnd > 0) {
      layer_.wheel_.cancel(rtx_timer_);
      rtx_kind_ = RtxKind::kNone;
      rtt_.reset_backoff();
    }
  }
  const bool fin_acked = fin_queued_ && snd_.una == write_seq_;
  switch (state_) {
    case TcpState::kFinWait1:
      if (fin_acked) {
        set_state(now, TcpState::kFinWait2);
        if (orphan_) arm_fin_wait2(now);
        wake(now);
      }
      break;
    case TcpState::kClosing:
      if (fin_acked) enter_time_wait(now);
      break;
    case TcpState::kLastAck:
      if (fin_acked) {
        done(now);
        return false;
      }
      break;
    default:
      break;
  }
  return true;
}

// tcp_clean_rtx_queue: free what `ack` covers (tcp_trim_head for a partly covered skb). The RTT
// sample is the oldest newly covered skb's, unless any of them was retransmitted (Karn).
int64_t TcpSocket::clean_rtx_queue(Instant now, SeqNum ack, std::optional<Duration>& rtt) {
  int64_t first_tx = 0;
  int64_t last_retrans = 0;
  bool have = false, retrans = false;
  while (PacketBuffer* skb = write_q_.front()) {
    SkbCb& cb = skb_cb(*skb);
    if (SeqNum{cb.end_seq} <= ack) {
      if (cb.tx_count > 1) {
        retrans = true;
        last_retrans = std::max(last_retrans, cb.sent_ns);
      }
      if (!have && cb.tx_count == 1) {
        first_tx = cb.sent_ns;
        have = true;
      }
      write_bytes_ -= skb->len();
      if (skb == send_head_) send_head_ = PacketQueue::next(skb);
      write_q_.pop_front();
    } else if (SeqNum{cb.seq} < ack && !cb.syn) {
      const uint32_t n = ack - SeqNum{cb.seq};
      (void)skb->pull(n);
      cb.seq = ack.v;
      write_bytes_ -= n;
      break;
    } else {
      break;
    }
  }
  if (have && !retrans) rtt = Duration::ns(now.nanos() - first_tx);
  return last_retrans;
}

// Space freed in the send buffer: writers may go on (sk_write_space).
void TcpSocket::check_space(Instant now) {
  if (!shut_wr_ && (poll_mask() & kPollOut) != 0) wake(now);
}

// tcp_data_queue: in-order text goes to the receive queue (no copy), later text to the
// out-of-order queue; the FIN is processed when everything before it has arrived.
void TcpSocket::data_queue(Instant now, Segment& seg) {
  if (seg.seq == rcv_.nxt) {
    if (seg.len > 0) {
      // trim_to_window() kept only what lies inside the window we offered: that is a promise,
      // so it is queued even when the rounding-up of a kept window (select_window) put the
      // edge a few bytes past SO_RCVBUF.
      queue_rcv(std::move(seg.pkt), seg.len);
      rcv_.nxt += seg.len;
      if (seg.len > rcv_mss_) rcv_mss_ = std::min<uint32_t>(seg.len, adv_mss_);
      ack_pending_bytes_ += seg.len;
      if (!ofo_.empty()) {
        // RFC 5681 §4.2 / RFC 9293: filling a hole is acknowledged at once.
        while (PacketPtr p = ofo_.pop_in_order(rcv_.nxt)) {
          const uint32_t n = static_cast<uint32_t>(p->len());
          queue_rcv(std::move(p), n);
        }
        ack_now_ = true;
      }
      wake(now);
    }
    if (seg.fin || (ofo_fin_ && ofo_fin_seq_ == rcv_.nxt)) process_fin(now);
    return;
  }
  // Out of order (trimmed segments start at or after RCV.NXT).
  if (seg.fin) {
    ofo_fin_ = true;
    ofo_fin_seq_ = seg.seq + seg.len;
  }
  if (seg.len > 0) {
    switch (ofo_.insert(seg.seq, std::move(seg.pkt), rcv_.nxt)) {
      case OfoInsert::kQueued:
        ++layer_.mib_.ofo_queue;
        break;
      case OfoInsert::kOld:
      case OfoInsert::kDuplicate:
        drop(now, seg, DropReason::kTcpOldData);
        break;
      case OfoInsert::kNoMemory:
        drop(now, seg, DropReason::kTcpOfoDrop);
        break;
    }
  }
  // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (a duplicate ACK).
  ack_now_ = true;
}

void TcpSocket::queue_rcv(PacketPtr p, uint32_t len) {
  stats_.bytes_received += len;
  rx_bytes_ += len;
  // tcp_try_coalesce: a small payload joins the tail buffer when it has room, so a stream
  // of tiny segments does not hold one frame-sized buffer per byte.
  PacketBuffer* tail = rx_.back();
  if (tail != nullptr && len <= 512 && !tail->shared() && tail->tailroom() >= len &&
      tail->append(p->data()).ok()) {
    return;
  }
  rx_.push_back(std::move(p));
}

// The eighth step: the FIN is in sequence.
void TcpSocket::process_fin(Instant now) {
  rcv_.nxt += 1;
  fin_rcvd_ = true;
  ofo_fin_ = false;
  ack_now_ = true;
  switch (state_) {
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
      set_state(now, TcpState::kCloseWait);
      break;
    case TcpState::kFinWait1:
      // Our FIN is not acknowledged yet (else we would be in FIN-WAIT-2): simultaneous close.
      set_state(now, TcpState::kClosing);
      break;
    case TcpState::kFinWait2:
      enter_time_wait(now);
      break;
    default:
      break;
  }
  wake(now);
}

void TcpSocket::enter_time_wait(Instant now) {
  set_state(now, TcpState::kTimeWait);
  layer_.wheel_.cancel(rtx_timer_);
  rtx_kind_ = RtxKind::kNone;
  ofo_.clear();
  write_q_.clear();
  send_head_ = nullptr;
  write_bytes_ = 0;
  // 2*MSL (RFC 9293 §3.6.1); the keepalive timer serves as the TIME-WAIT timer (sk_timer).
  layer_.wheel_.arm(keepalive_timer_, now + layer_.cfg_.time_wait);
}

// tcp_ack_snd_check: ACK now, or let the delayed-ACK timer do it (RFC 9293 §3.8.6.3, RFC 1122
// §4.2.3.2: at most 500 ms, and at least every second full-sized segment).
void TcpSocket::ack_snd_check(Instant now) {
  if (!ack_now_ && ack_pending_bytes_ == 0) return;
  if (ack_now_ || ack_pending_bytes_ > rcv_mss_ || quickack_ > 0) {
    send_ack(now);
    return;
  }
  if (!delack_timer_.armed()) layer_.wheel_.arm(delack_timer_, now + layer_.cfg_.delack_min);
}

}  // namespace ustack::transport
