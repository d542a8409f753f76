// transport/tcp_output.cc — building and sending segments (net/ipv4/tcp_output.c):
// tcp_write_xmit with its cwnd, receive-window, sender-SWS and Nagle tests, tcp_transmit_skb
// (a clone of the write-queue skb gets the header), window selection with receiver SWS
// avoidance, ACKs, RSTs, SYN and FIN, retransmission and MSS bookkeeping.
#include <fmt/format.h>

#include <cerrno>

#include "ustack/base/assert.h"
#include "ustack/base/checksum.h"
#include "ustack/dev/net_device.h"
#include "ustack/transport/tcp_internal.h"

namespace ustack::transport {

using wire::SeqNum;
using wire::TcpFlag;
using wire::TcpFlags;

namespace {
constexpr uint8_t kTcpProto = 6;
}  // namespace

// ---- the layer's half: header onto a buffer, then IP ------------------------------------------

Result<void, ip::IpError> TcpLayer::output(Instant now, PacketPtr pkt, const wire::TcpRepr& h,
                                           wire::Ipv4Addr src, wire::Ipv4Addr dst,
                                           uint64_t trace_id, bool csum_partial) {
  const size_t hlen = h.header_len();
  const auto payload = pkt->data();
  const size_t plen = payload.size();
  auto hdr = pkt->push(hlen);
  if (!hdr) return Err{ip::IpError::kNoBuffer};
  const wire::Ipv4Pseudo ph{src, dst};
  if (csum_partial) {
    // CHECKSUM_PARTIAL (tcp_v4_send_check): the field holds the pseudo-header sum and the
    // device sums the segment over it; the payload is never read here.
    h.emit_header(*hdr, {}, ph, uint16_t{0});
    store_be16(*hdr, 16, ph.sum(wire::IpProto::kTcp, static_cast<uint16_t>(hlen + plen)));
    pkt->set_csum_partial(0, 16);
  } else {
    h.emit_header(*hdr, pkt->data().subspan(hlen), ph);
  }
  pkt->set_transport_header();
  pkt->trace_id = trace_id;
  tel_.trace(now, Layer::kTcp, "tcp_transmit_skb", trace_id, [&] {
    return fmt::format("{}:{} > {}:{} {} seq {} ack {} win {} len {}", src.to_string(), h.src_port,
                       dst.to_string(), h.dst_port, h.flags.to_string(), h.seq.v, h.ack.v, h.window,
                       plen);
  });
  ip::OutArgs a;
  a.src = src;
  a.dst = dst;
  a.protocol = kTcpProto;
  a.dont_frag = true;  // RFC 1191: TCP does path MTU discovery
  return ip_.output(now, std::move(pkt), a);
}

// tcp_v4_send_reset (RFC 9293 §3.10.7.1): the reply to a segment no connection wants.
//   ACK set:   <SEQ=SEG.ACK><CTL=RST>
//   ACK clear: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
void TcpLayer::send_reset(Instant now, const TcpSocket::Segment& seg) {
  if (seg.h.flags.rst()) return;  // never a RST for a RST (RFC 9293 §3.10.7.1)
  wire::TcpRepr r;
  r.src_port = seg.h.dst_port;
  r.dst_port = seg.h.src_port;
  if (seg.h.flags.ack()) {
    r.seq = seg.h.ack;
    r.flags = TcpFlags{TcpFlag::kRst};
  } else {
    r.seq = SeqNum{0};
    r.ack = seg.h.seq + seg.seg_len();
    r.flags = TcpFlags{TcpFlag::kRst, TcpFlag::kAck};
  }
  PacketPtr pkt = pool_.alloc(kTcpHeadroom, 0);
  if (!pkt) {
    tel_.drop(now, Layer::kTcp, DropReason::kNoBuffer, seg.id);
    return;
  }
  ++mib_.out_rsts;
  ++mib_.out_segs;
  (void)output(now, std::move(pkt), r, seg.daddr, seg.saddr, tel_.new_packet_id());
}

// ---- MSS and windows
// ------------------------------------------------------------------------------

// tcp_sync_mss / RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS + 20, MMS_S) - TCP header - IP
// header, where our data segments carry 12 option bytes when timestamps are on.
void TcpSocket::sync_mss(uint32_t pmtu) {
  pmtu_ = pmtu;
  uint32_t mss = std::min<uint32_t>(peer_mss_, pmtu > kTcpIpHeaders ? pmtu - kTcpIpHeaders : 0);
  if (user_mss_ != 0) mss = std::min<uint32_t>(mss, user_mss_);
  if (opt_.ts_ok) mss = mss > kTcpTsOptLen ? mss - kTcpTsOptLen : 0;
  mss_cache_ = std::max(mss, kTcpMinMss);
  opt_.mss = static_cast<uint16_t>(mss_cache_);
}

uint32_t TcpSocket::rcv_space() const {
  const size_t used = rx_available() + ofo_.bytes();
  return used >= rcvbuf_ ? 0 : static_cast<uint32_t>(std::min<size_t>(rcvbuf_ - used, 1u << 30));
}

// tcp_select_window / __tcp_select_window, RFC 9293 §3.8.6.2.2 (receiver SWS avoidance): the
// right edge moves only by at least min(RCV.BUFF/2, Eff.snd.MSS), and never backwards (RFC 9293
// §3.8.6: shrinking the window is strongly discouraged; Linux never does).
uint16_t TcpSocket::select_window() {
  const uint32_t cur = rcv_.adv_right > rcv_.nxt ? rcv_.adv_right - rcv_.nxt : 0;
  const uint8_t ws = rcv_.wscale;
  uint32_t win = std::min<uint32_t>(rcv_space(), uint32_t{65535} << ws);
  win &= ~((uint32_t{1} << ws) - 1);
  const uint32_t threshold = std::min<uint32_t>(static_cast<uint32_t>(rcvbuf_ / 2), rcv_mss_);
  const SeqNum right = rcv_.nxt + win;
  // Not worth moving the edge (or it would move left): offer what is left of the old one.
  // With a window scale that needs rounding. Up (Linux's ALIGN in tcp_select_window) keeps the
  // edge from moving left but lets it creep right by up to 2^wscale - 1 bytes per ACK, without
  // bound when tiny segments arrive into a full buffer (RFC 7323 Appendix F; Linux 6.5's
  // tcp_shrink_window). So: up while the edge stays within one unit of the buffer's real end,
  // down (an apparent shrink of less than one unit, which RFC 7323 Appendix F describes)
  // beyond that. Memory stays bounded by SO_RCVBUF + 2^wscale.
  if (!(right > rcv_.adv_right) || right - rcv_.adv_right < threshold) {
    const uint64_t unit = uint64_t{1} << ws;
    const uint64_t up = (uint64_t{cur} + unit - 1) & ~(unit - 1);
    win = up <= uint64_t{rcv_space()} + unit ? static_cast<uint32_t>(up)
                                             : static_cast<uint32_t>(cur & ~(unit - 1));
    win = std::min<uint32_t>(win, uint32_t{65535} << ws);
  }
  rcv_.wnd = win;
  rcv_.adv_right = rcv_.nxt + win;
  return static_cast<uint16_t>(std::min<uint32_t>(win >> ws, 65535));
}

uint32_t TcpSocket::ts_now(Instant now) const { return ts_at(now.nanos()); }

uint32_t TcpSocket::ts_at(int64_t ns) const {
  // RFC 7323 §5.4: a clock between 1 ms and 1 s per tick; Linux's is 1 ms (tcp_time_stamp).
  return static_cast<uint32_t>(ns / 1'000'000) + ts_offset_;
}

void TcpSocket::fill_options(wire::TcpOptions& o, TcpFlags flags, Instant now) {
  const TcpConfig& cfg = layer_.cfg_;
  if (flags.syn()) {
    // RFC 9293 §3.7.1 (MUST-14): SYNs carry our MSS; RFC 7323/2018 options are offered on a
    // SYN and only echoed on a SYN-ACK if the peer offered them.
    const bool active = state_ == TcpState::kSynSent;
    o.mss = adv_mss_;
    if (cfg.window_scaling && (active || opt_.wscale_ok)) o.window_scale = rcv_.wscale;
    o.sack_permitted = cfg.sack && (active || opt_.sack_ok);
    if (cfg.timestamps && (active || opt_.ts_ok))
      o.timestamps = wire::TcpTimestamps{ts_now(now), active ? 0 : opt_.ts_recent};
    return;
  }
  if (opt_.ts_ok) o.timestamps = wire::TcpTimestamps{ts_now(now), opt_.ts_recent};
  // RFC 2018 §4: SACK blocks in every ACK while out-of-order data is queued.
  if (opt_.sack_ok && !ofo_.empty() && !flags.rst()) {
    std::array<wire::SackBlock, wire::kTcpMaxSackBlocks> b{};
    const size_t n = ofo_.sack_blocks(b, opt_.ts_ok ? 3 : 4);
    for (size_t i = 0; i < n; ++i) o.sack.push_back(b[i]);
  }
}

PacketPtr TcpSocket::alloc_skb(size_t payload) {
  PacketPtr p = layer_.pool_.alloc(kTcpHeadroom, payload);
  if (!p) return p;
  skb_cb(*p) = SkbCb{0, 0, false, false, 0, 0};
  // The write queue's skb never carries headers itself: only the clones xmit_skb hands to IP
  // do. Giving up the header rights now (Linux's __skb_header_release in tcp_skb_entail) lets
  // that clone push TCP, IP and Ethernet headers into the shared headroom; without it every
  // push copied the whole segment (copy-on-write), a memcpy of each payload byte sent.
  p->release_header();
  return p;
}

// tcp_fragment: cut `skb` after `len` payload octets; the tail becomes a new skb right after it.
bool TcpSocket::fragment_skb(PacketBuffer& skb, uint32_t len) {
  USTACK_ASSERT(len < skb.len(), "fragment inside the payload");
  const auto tail_bytes = skb.data().subspan(len);
  PacketPtr n = alloc_skb(tail_bytes.size());
  if (!n) return false;
  if (!n->append(tail_bytes).ok()) return false;
  SkbCb& a = skb_cb(skb);
  SkbCb& b = skb_cb(*n);
  b = a;
  b.syn = false;
  b.seq = a.seq + (a.syn ? 1 : 0) + len;
  a.end_seq = b.seq;
  a.fin = false;
  (void)skb.trim(len);
  PacketBuffer* next = PacketQueue::next(&skb);
  if (next != nullptr)
    write_q_.insert_before(next, std::move(n));
  else
    write_q_.push_back(std::move(n));
  return true;
}

// tcp_tso_autosize without pacing: as many whole MSS as a 64 KiB IP datagram holds (with
// room for the largest TCP header), when the route's device segments them itself.
uint32_t TcpSocket::size_goal() const {
  if (!tso_) return mss_cache_;
  constexpr uint32_t kRoom = dev::kGsoMaxSize - kTcpIpHeaders - 40;
  return std::max(mss_cache_, kRoom / mss_cache_ * mss_cache_);
}

// tso_fragment: cut `skb` after `len` payload octets and return the head part. The smaller
// side is copied into a new skb (tcp_fragment copies the tail; for a 64 KiB TSO skb cut at one
// MSS that would copy 63 KiB): a short head is copied in front and pulled off the original.
PacketBuffer* TcpSocket::split_skb(PacketBuffer& skb, uint32_t len) {
  USTACK_ASSERT(len > 0 && len < skb.len(), "split inside the payload");
  if (len * 2 > skb.len() || skb_cb(skb).syn) return fragment_skb(skb, len) ? &skb : nullptr;
  PacketPtr n = alloc_skb(len);
  if (!n || !n->append(skb.data().first(len)).ok()) return nullptr;
  SkbCb& a = skb_cb(skb);
  SkbCb& h = skb_cb(*n);
  h = a;
  h.fin = false;
  h.end_seq = a.seq + len;
  a.seq = h.end_seq;
  (void)skb.pull(len);
  PacketBuffer* head = n.get();
  write_q_.insert_before(&skb, std::move(n));
  if (send_head_ == &skb) send_head_ = head;
  return head;
}

// ---- tcp_transmit_skb
// ------------------------------------------------------------------------------

// Sends a clone of a write-queue skb with a fresh header; the skb stays queued until ACKed.
bool TcpSocket::xmit_skb(Instant now, PacketBuffer& skb, bool retrans) {
  SkbCb& cb = skb_cb(skb);
  // The queued skb gave up its header rights in alloc_skb (__skb_header_release): the clone
  // pushes its headers into the shared headroom instead of copying the payload (64 KiB for a
  // TSO skb). A second clone in flight at once still gets a copy.
  PacketPtr c = skb.clone();
  wire::TcpRepr h;
  h.src_port = t_.lport;
  h.dst_port = t_.rport;
  h.seq = SeqNum{cb.seq};
  h.flags = TcpFlags{};
  if (cb.syn) h.flags.set(TcpFlag::kSyn);
  if (cb.fin) h.flags.set(TcpFlag::kFin);
  if (state_ != TcpState::kSynSent) {
    h.flags.set(TcpFlag::kAck);
    h.ack = rcv_.nxt;
  }
  // PSH on the last segment of what is queued (Linux tcp_mark_push at the end of a write).
  if (skb.len() > 0 && PacketQueue::next(&skb) == nullptr) h.flags.set(TcpFlag::kPsh);
  if (cb.syn) {
    // RFC 7323 §2.2: the window in a SYN is never scaled.
    const uint32_t w = std::min<uint32_t>(rcv_space(), 65535);
    rcv_.wnd = w;
    rcv_.adv_right = rcv_.nxt + w;
    h.window = static_cast<uint16_t>(w);
  } else {
    h.window = select_window();
  }
  fill_options(h.options, h.flags, now);
  // SACK blocks must not push a segment past the path MTU (tcp_current_mss); a TSO skb's
  // segments carry mss_cache_ bytes each.
  const bool gso = tso_ && skb.len() > mss_cache_;
  const size_t seg_len = gso ? mss_cache_ : skb.len();
  while (!h.options.sack.empty() && kTcpIpHeaders + h.options.len() + seg_len > pmtu_)
    h.options.sack.truncate(h.options.sack.size() - 1);
  // tcp_skb_pcount: the segments this skb becomes on the wire.
  const uint32_t pcount =
      gso ? static_cast<uint32_t>((skb.len() + mss_cache_ - 1) / mss_cache_) : 1;
  if (gso) {
    c->gso_type = GsoType::kTcpV4;
    c->gso_size = static_cast<uint16_t>(mss_cache_);
  }
  if (retrans) {
    layer_.mib_.retrans_segs += pcount;
    stats_.total_retrans += pcount;
    stats_.bytes_retrans += skb.len();
  } else {
    layer_.mib_.out_segs += pcount;
    stats_.bytes_sent += skb.len();
  }
  stats_.segs_out += pcount;
  cb.tx_count = static_cast<uint8_t>(std::min(cb.tx_count + 1, 255));
  cb.sent_ns = now.nanos();
  if (h.flags.ack()) ack_sent(now);
  auto r =
      layer_.output(now, std::move(c), h, t_.laddr, t_.raddr, layer_.tel_.new_packet_id(), tso_);
  if (!r && r.error() == ip::IpError::kMsgSize) {
    // The route's MTU shrank under us (a PMTU entry, a device MTU change): resegment.
    auto route = layer_.ip_.route_output(now, t_.raddr);
    if (route && route->mtu < pmtu_) {
      sync_mss(route->mtu);
      return false;
    }
  }
  // Any other failure (no route for now, no buffer) is a loss: the RTO retransmits.
  return true;
}

// A segment with no payload: ACK, RST or a probe (seq chosen by the caller).
bool TcpSocket::send_control(Instant now, TcpFlags flags, SeqNum seq) {
  PacketPtr pkt = layer_.pool_.alloc(kTcpHeadroom, 0);
  if (!pkt) {
    layer_.tel_.drop(now, Layer::kTcp, DropReason::kNoBuffer, 0);
    return false;
  }
  wire::TcpRepr h;
  h.src_port = t_.lport;
  h.dst_port = t_.rport;
  h.seq = seq;
  h.flags = flags;
  if (flags.ack()) h.ack = rcv_.nxt;
  h.window = flags.rst() ? 0 : select_window();
  fill_options(h.options, flags, now);
  ++layer_.mib_.out_segs;
  ++stats_.segs_out;
  if (flags.rst()) ++layer_.mib_.out_rsts;
  if (flags.ack()) ack_sent(now);
  (void)layer_.output(now, std::move(pkt), h, t_.laddr, t_.raddr, layer_.tel_.new_packet_id(),
                      tso_);
  return true;
}

void TcpSocket::ack_sent(Instant /*now*/) {
  // tcp_event_ack_sent: this segment carries the ACK the delayed-ACK machinery owed.
  ack_pending_bytes_ = 0;
  ack_now_ = false;
  last_ack_sent_ = rcv_.nxt;
  if (quickack_ > 0) --quickack_;
  if (delack_timer_.armed()) layer_.wheel_.cancel(delack_timer_);
}

void TcpSocket::send_ack(Instant now) {
  if (state_ == TcpState::kClosed || state_ == TcpState::kListen || state_ == TcpState::kSynSent)
    return;
  send_control(now, TcpFlags{TcpFlag::kAck}, snd_max_);
}

// tcp_send_active_reset: <SEQ=SND.NXT><CTL=RST,ACK> (SND.MAX: after an RTO rewound SND.NXT,
// the highest number sent is what the peer most likely expects).
void TcpSocket::send_rst_active(Instant now) {
  send_control(now, TcpFlags{TcpFlag::kRst, TcpFlag::kAck}, snd_max_);
}

// tcp_connect / tcp_send_synack for a simultaneous open: the SYN is an skb on the write queue
// (it occupies sequence space and is retransmitted like data).
void TcpSocket::send_syn(Instant now) {
  auto route = layer_.ip_.route_output(now, t_.raddr);
  pmtu_ = route ? route->mtu : 576;
  // RFC 9293 §3.7.1 / RFC 1191: advertise what our path MTU allows (MSS clamped to the route).
  adv_mss_ = static_cast<uint16_t>(std::min<uint32_t>(pmtu_ - kTcpIpHeaders, 65495));
  if (user_mss_ != 0) adv_mss_ = std::min(adv_mss_, user_mss_);
  rcv_.wscale = layer_.cfg_.window_scaling ? tcp_window_scale_for(layer_.cfg_.rmem_max) : 0;
  PacketPtr skb = alloc_skb(0);
  if (!skb) {
    set_error(now, ENOBUFS);
    done(now);
    return;
  }
  SkbCb& cb = skb_cb(*skb);
  cb.seq = snd_.iss.v;
  cb.end_seq = snd_.iss.v + 1;
  cb.syn = true;
  write_seq_ = snd_.iss + 1;
  PacketBuffer* p = skb.get();
  write_q_.push_front(std::move(skb));
  xmit_skb(now, *p, false);
  snd_.nxt = snd_max_ = snd_.iss + 1;
  send_head_ = PacketQueue::next(p);
  arm_rto(now);
}

// tcp_send_fin: FIN rides on the last unsent skb, or gets one of its own.
void TcpSocket::send_fin(Instant now) {
  switch (state_) {
    case TcpState::kEstablished:
    case TcpState::kSynReceived:
      set_state(now, TcpState::kFinWait1);
      break;
    case TcpState::kCloseWait:
      set_state(now, TcpState::kLastAck);
      break;
    default:
      return;
  }
  fin_queued_ = true;
  PacketBuffer* tail = write_q_.back();
  if (tail != nullptr && send_head_ != nullptr && !skb_cb(*tail).syn) {
    skb_cb(*tail).fin = true;
    ++skb_cb(*tail).end_seq;
  } else {
    PacketPtr skb = alloc_skb(0);
    if (!skb) {
      // No memory for the FIN: RFC 9293 allows an abort; the peer learns via RST.
      send_rst_active(now);
      done(now);
      return;
    }
    SkbCb& cb = skb_cb(*skb);
    cb.seq = write_seq_.v;
    cb.end_seq = write_seq_.v + 1;
    cb.fin = true;
    PacketBuffer* p = skb.get();
    write_q_.push_back(std::move(skb));
    if (send_head_ == nullptr) send_head_ = p;
  }
  write_seq_ += 1;
  if (tcp_synchronized(state_)) write_xmit(now);
}

// ---- tcp_write_xmit
// ------------------------------------------------------------------------------

void TcpSocket::write_xmit(Instant now) {
  if (!tcp_synchronized(state_)) return;
  bool sent = false;
  while (send_head_ != nullptr) {
    PacketBuffer& skb = *send_head_;
    const uint32_t goal = size_goal();
    if (skb.len() > goal && split_skb(skb, goal) == nullptr) break;
    const uint32_t in_flight = snd_.nxt - snd_.una;
    // RFC 5681 §3.1: never more than cwnd in flight (one segment always fits an empty pipe).
    // RFC 3042 Limited Transmit (RFC 5681 §3.2 SHOULD): each of the first two duplicate ACKs
    // lets one new segment beyond cwnd go, so a small window still produces the three
    // duplicate ACKs fast retransmit needs instead of ending in a timeout.
    uint32_t cwnd = cc_->cwnd();
    if (rec_.state() == CaState::kDisorder) cwnd += std::min(rec_.dupacks(), 2u) * mss_cache_;
    if (send_head_->len() > mss_cache_) {
      // A TSO skb: send as much of it as cwnd and the window allow, in whole MSS
      // (tcp_mss_split_point). tcp_tso_should_defer: with data in flight, ACKs are on their way
      // and will open more room; wait for them rather than send a small frame, unless a third
      // of the window is free already.
      const SkbCb& c0 = skb_cb(*send_head_);
      const uint32_t cwnd_room = cwnd > in_flight ? cwnd - in_flight : 0;
      const SeqNum wnd_end = snd_.una + snd_.wnd;
      const uint32_t wnd_room = wnd_end > SeqNum{c0.seq} ? wnd_end - SeqNum{c0.seq} : 0;
      const uint32_t room = std::min(cwnd_room, wnd_room);
      if (room < send_head_->len()) {
        if (in_flight > 0 && room < std::min(cwnd, snd_.wnd) / 3) break;
        const uint32_t cut = std::max(room / mss_cache_, 1u) * mss_cache_;
        if (cut < send_head_->len() && split_skb(*send_head_, cut) == nullptr) break;
      }
    }
    PacketBuffer& seg = *send_head_;
    SkbCb& cb = skb_cb(seg);
    const uint32_t len = static_cast<uint32_t>(seg.len());
    if (in_flight > 0 && in_flight + len > cwnd) break;
    // RFC 9293 §3.8.6.2.1 / MUST-?: stay inside the offered window; sender SWS avoidance
    // sends a partial segment only if it is at least half the largest window ever offered.
    const SeqNum wnd_end = snd_.una + snd_.wnd;
    if (SeqNum{cb.end_seq} > wnd_end) {
      const uint32_t avail = wnd_end > SeqNum{cb.seq} ? wnd_end - SeqNum{cb.seq} : 0;
      if (avail > 0 && avail < len && avail >= snd_.max_wnd / 2) {
        if (!fragment_skb(seg, avail)) break;
        continue;
      }
      break;
    }
    // Nagle (RFC 896, RFC 9293 §3.7.4) in Minshall's form, as Linux (tcp_minshall_check): a
    // short segment waits only while an earlier short segment is unacknowledged, unless
    // TCP_NODELAY, or it carries FIN, or more data follows it. The tail of a bulk write goes
    // at once; a stream of small writes still coalesces.
    const bool small = len < mss_cache_;
    if (small && !nodelay_ && !cb.fin && PacketQueue::next(&seg) == nullptr &&
        snd_sml_ > snd_.una && snd_sml_ <= snd_.nxt)
      break;
    if (!xmit_skb(now, seg, cb.tx_count > 0)) {
      if (seg.len() > mss_cache_) continue;  // the MTU dropped: resegment and retry
    }
    snd_.nxt = SeqNum{cb.end_seq};
    if (snd_.nxt > snd_max_) snd_max_ = snd_.nxt;
    if (small) snd_sml_ = snd_.nxt;
    send_head_ = PacketQueue::next(&seg);
    sent = true;
  }
  if (sent && rtx_kind_ != RtxKind::kRetrans) arm_rto(now);
  // RFC 9293 §3.8.6.1: data waits, nothing is in flight and the window is closed: probe it.
  if (send_head_ != nullptr && snd_.nxt == snd_.una && !rtx_timer_.armed()) arm_persist(now);
}

bool TcpSocket::retransmit_head(Instant now) {
  PacketBuffer* skb = write_q_.front();
  if (skb == nullptr || skb == send_head_) return false;
  if (skb->len() > mss_cache_) skb = split_skb(*skb, mss_cache_);
  if (skb == nullptr) return false;
  xmit_skb(now, *skb, true);
  return true;
}

// tcp_simple_retransmit after a PMTU drop: everything in flight goes again, resegmented.
void TcpSocket::retransmit_all_unacked(Instant now) {
  if (write_q_.front() == nullptr || write_q_.front() == send_head_) return;
  send_head_ = write_q_.front();
  snd_.nxt = snd_.una;
  write_xmit(now);
}

void TcpSocket::pmtu_event(Instant now, uint16_t mtu) {
  auto route = layer_.ip_.route_output(now, t_.raddr);
  uint32_t m = route ? std::min<uint32_t>(route->mtu, mtu) : mtu;
  m = std::max<uint32_t>(m, layer_.cfg_.base_mss + kTcpIpHeaders);
  if (m >= pmtu_) return;
  layer_.tel_.trace(now, Layer::kTcp, "pmtu", 0, [&] {
    return fmt::format("{}:{} path MTU {} -> {}", t_.raddr.to_string(), t_.rport, pmtu_, m);
  });
  sync_mss(m);
  if (tcp_synchronized(state_)) retransmit_all_unacked(now);
}

// tcp_cleanup_rbuf: after the application read, tell the peer if the window opened a lot.
void TcpSocket::cleanup_rbuf(Instant now) {
  if (!tcp_synchronized(state_) || fin_rcvd_) return;
  if (state_ != TcpState::kEstablished && state_ != TcpState::kFinWait1 &&
      state_ != TcpState::kFinWait2)
    return;
  const uint32_t cur = rcv_.adv_right > rcv_.nxt ? rcv_.adv_right - rcv_.nxt : 0;
  const uint32_t space = rcv_space();
  if (2 * static_cast<uint64_t>(cur) <= rcvbuf_ && space >= 2 * cur &&
      space - cur >= std::min<uint32_t>(static_cast<uint32_t>(rcvbuf_ / 2), rcv_mss_))
    send_ack(now);
}

}  // namespace ustack::transport
