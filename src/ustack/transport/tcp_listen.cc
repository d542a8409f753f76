// transport/tcp_listen.cc — LISTEN (RFC 9293 §3.10.7.2) and the passive open: the SYN queue
// of request sockets (Linux's tcp_conn_request, tcp_check_req, inet_csk_reqsk_queue), SYN
// cookies (RFC 4987 §3.6) when it is full, and the accept queue.
//
// Queue limits (documented behaviour, as Linux with tcp_abort_on_overflow = 0):
//  - The listen backlog (capped by somaxconn) bounds both queues.
//  - A SYN while the accept queue is full is dropped (ListenOverflows, ListenDrops): the
//    client's SYN retransmission tries again later.
//  - A SYN while the SYN queue is full gets a SYN cookie (SyncookiesSent) if syncookies are on,
//    otherwise it is dropped (ListenDrops).
//  - The handshake's ACK while the accept queue is full is dropped (ListenOverflows,
//    ListenDrops); the request stays, so our SYN-ACK retransmission makes the client ACK again.
//  - SYN-ACKs are retransmitted after 1, 2, 4, ... s, synack_retries times; then the request
//    is forgotten.
#include <fmt/format.h>

#include <cerrno>

#include "ustack/base/assert.h"
#include "ustack/transport/tcp_internal.h"

namespace ustack::transport {

using wire::SeqNum;
using wire::TcpFlag;
using wire::TcpFlags;

void TcpRequest::on_timer(Instant now) { layer->on_synack_timer(*this, now); }

namespace {
bool accept_queue_full(const TcpSocket& l) {
  return static_cast<int>(l.accept_queue_len()) >= l.backlog();
}
}  // namespace

void TcpLayer::listen_rcv(Instant now, TcpSocket& l, TcpSocket::Segment& seg,
                          std::optional<SeqNum> iss) {
  const TcpFlags f = seg.h.flags;
  // First: an incoming RST is ignored.
  if (f.rst()) {
    tel_.drop(now, Layer::kTcp, DropReason::kTcpFlags, seg.id,
              [] { return std::string("RST to a listener"); });
    return;
  }
  const TcpFourTuple t{seg.daddr, seg.h.dst_port, seg.saddr, seg.h.src_port};
  // Second: an ACK is bad here, unless it returns one of our SYN cookies (RFC 4987 §3.6).
  if (f.ack() && !f.syn()) {
    if (cfg_.syncookies) {
      auto mss = cookies_.check(now, t, (seg.h.seq + 0xffffffffu).v, (seg.h.ack + 0xffffffffu).v);
      if (mss) {
        ++mib_.syncookies_recv;
        if (accept_queue_full(l)) {
          ++mib_.listen_overflows;
          ++mib_.listen_drops;
          tel_.drop(now, Layer::kTcp, DropReason::kTcpListenOverflow, seg.id);
          return;
        }
        // cookie_v4_check: rebuild the request from the cookie and the ACK's timestamps.
        TcpRequest r;
        r.layer = this;
        r.listener = &l;
        r.t = t;
        r.irs = seg.h.seq + 0xffffffffu;
        r.iss = seg.h.ack + 0xffffffffu;
        r.peer_mss = *mss;
        r.peer_window = seg.h.window;  // already scaled by the peer: see below
        const auto& ts = seg.h.options.timestamps;
        if (ts && cfg_.timestamps) {
          const SynCookieOptions o = SynCookies::decode_timestamp(ts->tsecr);
          r.ts_ok = true;
          r.ts_recent = ts->tsval;
          r.sack_ok = o.sack_ok && cfg_.sack;
          if (o.wscale && cfg_.window_scaling) {
            r.peer_wscale = o.wscale;
            r.rcv_wscale = tcp_window_scale_for(cfg_.rmem_max);
          }
        }
        r.ts_offset = isn_.ts_offset(t.laddr, t.raddr);
        auto route = ip_.route_output(now, t.raddr);
        const uint32_t mtu = route ? route->mtu : 576;
        r.adv_mss = static_cast<uint16_t>(std::min<uint32_t>(mtu - kTcpIpHeaders, 65495));
        r.first_sent = now;
        r.retrans = 1;  // no RTT sample from a cookie
        TcpSocket* c = create_child(now, l, r);
        // The ACK's window is scaled (it is not a SYN); create_child took it as raw.
        c->snd_.wnd = static_cast<uint32_t>(seg.h.window) << c->snd_.wscale;
        finish_child(now, *c, seg);
        return;
      }
      if (last_cookie_ != Instant{} && now - last_cookie_ < SynCookies::kPeriod * 2)
        ++mib_.syncookies_failed;
    }
    tel_.drop(now, Layer::kTcp, DropReason::kTcpCookieInvalid, seg.id);
    send_reset(now, seg);
    return;
  }
  // Third: a SYN (a SYN+FIN or anything else is dropped, as Linux does).
  if (!f.syn() || f.fin() || f.ack()) {
    tel_.drop(now, Layer::kTcp, DropReason::kTcpFlags, seg.id);
    return;
  }
  if (accept_queue_full(l)) {
    ++mib_.listen_overflows;
    ++mib_.listen_drops;
    tel_.drop(now, Layer::kTcp, DropReason::kTcpListenOverflow, seg.id,
              [&] { return fmt::format("accept queue full ({})", l.backlog()); });
    return;
  }
  const bool syn_queue_full = static_cast<int>(l.syn_queue_len()) >= l.backlog();
  if (syn_queue_full && !cfg_.syncookies) {
    ++mib_.listen_drops;
    tel_.drop(now, Layer::kTcp, DropReason::kTcpListenOverflow, seg.id,
              [&] { return fmt::format("SYN queue full ({})", l.backlog()); });
    return;
  }
  // The request as it would sit in the SYN queue; a cookie SYN-ACK uses it and lets it go.
  auto owned = std::make_unique<TcpRequest>();
  TcpRequest& r = *owned;
  r.layer = this;
  r.listener = &l;
  r.t = t;
  r.irs = seg.h.seq;
  r.peer_window = seg.h.window;
  const wire::TcpOptions& o = seg.h.options;
  r.peer_mss = o.mss ? std::max<uint16_t>(*o.mss, kTcpMinMss) : 536;
  if (o.window_scale && cfg_.window_scaling) {
    r.peer_wscale = *o.window_scale;
    r.rcv_wscale = tcp_window_scale_for(cfg_.rmem_max);
  }
  r.sack_ok = o.sack_permitted && cfg_.sack;
  r.ts_ok = o.timestamps.has_value() && cfg_.timestamps;
  if (r.ts_ok) r.ts_recent = o.timestamps->tsval;
  r.ts_offset = isn_.ts_offset(t.laddr, t.raddr);
  auto route = ip_.route_output(now, t.raddr);
  const uint32_t mtu = route ? route->mtu : 576;
  r.adv_mss = static_cast<uint16_t>(std::min<uint32_t>(mtu - kTcpIpHeaders, 65495));
  if (l.user_mss_ != 0) r.adv_mss = std::min(r.adv_mss, l.user_mss_);
  r.first_sent = now;
  if (syn_queue_full) {
    // RFC 4987 §3.6: answer without keeping state. Only the MSS (and, with timestamps, the
    // other options in TSval's low bits) survive until the ACK.
    const SynCookies::Cookie c = cookies_.generate(now, t, r.irs.v, r.peer_mss);
    r.iss = SeqNum{c.isn};
    r.adv_mss = std::min(r.adv_mss, c.mss_used);
    ++mib_.syncookies_sent;
    last_cookie_ = now;
    tel_.trace(now, Layer::kTcp, "syncookie", seg.id, [&] {
      return fmt::format("SYN queue full ({}): cookie {:#x} mss {}", l.backlog(), c.isn,
                         c.mss_used);
    });
    send_synack(now, r, true);
    return;
  }
  // RFC 6528: the ISN (or the one RFC 6191 TIME-WAIT reuse chose).
  r.iss = iss ? *iss : isn_.isn(now, t);
  r.timer.bind<&TcpRequest::on_timer>(&r);
  reqs_[key_of(r.t)] = std::move(owned);
  ++l.listen_->syn_q_len;
  ++mib_.passive_opens;
  send_synack(now, r, false);
  wheel_.arm(r.timer, now + cfg_.rtt.initial_rto);
}

// tcp_v4_send_synack: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> with the options both sides want.
void TcpLayer::send_synack(Instant now, const TcpRequest& r, bool cookie) {
  PacketPtr pkt = pool_.alloc(kTcpHeadroom, 0);
  if (!pkt) return;
  wire::TcpRepr h;
  h.src_port = r.t.lport;
  h.dst_port = r.t.rport;
  h.seq = r.iss;
  h.ack = r.irs + 1;
  h.flags = TcpFlags{TcpFlag::kSyn, TcpFlag::kAck};
  h.window = static_cast<uint16_t>(std::min<size_t>(r.listener->rcvbuf_, 65535));
  h.options.mss = r.adv_mss;
  if (r.peer_wscale) h.options.window_scale = r.rcv_wscale;
  h.options.sack_permitted = r.sack_ok;
  if (r.ts_ok) {
    uint32_t tsval = static_cast<uint32_t>(now.nanos() / 1'000'000) + r.ts_offset;
    if (cookie) {
      SynCookieOptions o;
      o.wscale = r.peer_wscale;
      o.sack_ok = r.sack_ok;
      tsval = SynCookies::init_timestamp(tsval, o);
    }
    h.options.timestamps = wire::TcpTimestamps{tsval, r.ts_recent};
  }
  ++mib_.out_segs;
  (void)output(now, std::move(pkt), h, r.t.laddr, r.t.raddr, tel_.new_packet_id());
}

void TcpLayer::on_synack_timer(TcpRequest& r, Instant now) {
  if (r.retrans >= cfg_.synack_retries) {
    tel_.trace(now, Layer::kTcp, "synack_timeout", 0, [&] {
      return fmt::format("{}:{} gave up after {} SYN-ACKs", r.t.raddr.to_string(), r.t.rport,
                         r.retrans + 1);
    });
    drop_request(r);
    return;
  }
  ++r.retrans;
  ++mib_.retrans_segs;
  ++mib_.tcp_timeouts;
  send_synack(now, r, false);
  const Duration rto = std::min(cfg_.rtt.initial_rto * (int64_t{1} << r.retrans), cfg_.rtt.max_rto);
  wheel_.arm(r.timer, now + rto);
}

void TcpLayer::drop_request(TcpRequest& r) {
  if (r.listener != nullptr && r.listener->syn_queue_len() > 0) --r.listener->listen_->syn_q_len;
  reqs_.erase(key_of(r.t));  // frees r (its timer node cancels itself)
}

// tcp_check_req: a segment for a half-open connection.
void TcpLayer::request_rcv(Instant now, TcpRequest& r, TcpSocket::Segment& seg) {
  const TcpFlags f = seg.h.flags;
  if (f.syn() && !f.ack() && !f.rst() && seg.h.seq == r.irs) {
    // The client did not get our SYN-ACK: send it again (RFC 9293 §3.8.1).
    tel_.drop(now, Layer::kTcp, DropReason::kTcpOldData, seg.id,
              [] { return std::string("retransmitted SYN: SYN-ACK again"); });
    send_synack(now, r, false);
    return;
  }
  if (f.rst()) {
    // RFC 9293 §3.10.7.4 (SYN-RECEIVED, passive): an acceptable RST returns to LISTEN.
    if (seg.h.seq == r.irs + 1) {
      ++mib_.attempt_fails;
      drop_request(r);
    } else {
      tel_.drop(now, Layer::kTcp, DropReason::kTcpRstInvalid, seg.id);
    }
    return;
  }
  if (f.syn()) {
    tel_.drop(now, Layer::kTcp, DropReason::kTcpSynInvalid, seg.id);
    return;
  }
  if (!f.ack()) {
    tel_.drop(now, Layer::kTcp, DropReason::kTcpNoAck, seg.id);
    return;
  }
  if (seg.h.ack != r.iss + 1) {
    tel_.drop(now, Layer::kTcp, DropReason::kTcpBadAck, seg.id);
    send_reset(now, seg);  // <SEQ=SEG.ACK><CTL=RST>
    return;
  }
  // tcp_check_req: the ACK must be in the window our SYN-ACK offered (else an ACK and a drop,
  // the request stays) and pass PAWS; only then does the full socket exist.
  const uint32_t wnd = static_cast<uint32_t>(std::min<size_t>(r.listener->rcvbuf_, 65535));
  const uint32_t seg_len = static_cast<uint32_t>(seg.len) + (f.fin() ? 1 : 0);
  const SeqNum rcv_nxt = r.irs + 1;
  const bool in_wnd = seg_len == 0 ? wire::in_window(seg.h.seq, rcv_nxt, wnd)
                                   : wire::in_window(seg.h.seq, rcv_nxt, wnd) ||
                                         wire::in_window(seg.h.seq + (seg_len - 1), rcv_nxt, wnd);
  const auto& ts = seg.h.options.timestamps;
  const bool paws_bad = r.ts_ok && ts && static_cast<int32_t>(ts->tsval - r.ts_recent) < 0;
  if (!in_wnd || paws_bad) {
    if (paws_bad) ++mib_.paws_estab;
    tel_.drop(now, Layer::kTcp, paws_bad ? DropReason::kTcpPaws : DropReason::kTcpOutOfWindow,
              seg.id);
    send_synack(now, r, false);  // Linux answers with an ACK; the SYN-ACK says the same
    return;
  }
  TcpSocket& l = *r.listener;
  if (accept_queue_full(l)) {
    ++mib_.listen_overflows;
    ++mib_.listen_drops;
    tel_.drop(now, Layer::kTcp, DropReason::kTcpListenOverflow, seg.id,
              [&] { return fmt::format("accept queue full ({})", l.backlog()); });
    return;
  }
  TcpSocket* c = create_child(now, l, r);
  drop_request(r);
  finish_child(now, *c, seg);
}

// The handshake's ACK runs through the child's normal input path (tcp_child_process).
void TcpLayer::finish_child(Instant now, TcpSocket& c, TcpSocket::Segment& seg) {
  c.segment_arrives(now, seg);
  if (c.state_ == TcpState::kSynReceived) {
    // The callers checked everything that could keep it half-open; a child stuck there would
    // have no timer, so it must not outlive this segment.
    c.send_rst_active(now);
    c.done(now);
  }
}

// tcp_create_openreq_child: the full socket, in SYN-RECEIVED, from what the request kept. The
// segment that completes the handshake then moves it to ESTABLISHED (tcp_child_process), and
// child_established() queues it for accept().
TcpSocket* TcpLayer::create_child(Instant now, TcpSocket& l, const TcpRequest& r) {
  TcpSocket* c = open();
  c->orphan_ = true;  // nobody owns it until accept()
  c->parent_ = &l;
  c->t_ = r.t;
  c->bound_ = true;
  bhash_[c->t_.lport].push_back(c);
  hash(*c);
  c->rcvbuf_ = l.rcvbuf_;
  c->sndbuf_ = l.sndbuf_;
  c->ofo_.set_mem_limit(2 * size_t{c->rcvbuf_});
  c->nodelay_ = l.nodelay_;
  c->reuseaddr_ = l.reuseaddr_;
  c->reuseport_ = l.reuseport_;  // sk_clone_lock copies it: the port stays shareable
  c->keepalive_ = l.keepalive_;
  c->ka_idle_ms_ = l.ka_idle_ms_;
  c->ka_intvl_ms_ = l.ka_intvl_ms_;
  c->ka_cnt_ = l.ka_cnt_;
  c->user_mss_ = l.user_mss_;
  c->linger_ns_ = l.linger_ns_;
  c->cc_.set(l.cc_->name());
  c->snd_.iss = r.iss;
  c->snd_.una = r.iss;
  c->snd_.nxt = c->snd_max_ = c->snd_sml_ = c->write_seq_ = r.iss + 1;
  c->rcv_.irs = r.irs;
  c->rcv_.nxt = r.irs + 1;
  c->last_ack_sent_ = c->rcv_.nxt;
  const uint32_t w = static_cast<uint32_t>(std::min<size_t>(l.rcvbuf_, 65535));
  c->rcv_.wnd = w;
  c->rcv_.adv_right = c->rcv_.nxt + w;
  c->peer_mss_ = r.peer_mss;
  c->adv_mss_ = r.adv_mss;
  c->opt_.wscale_ok = r.peer_wscale.has_value();
  c->snd_.wscale = r.peer_wscale.value_or(0);
  c->rcv_.wscale = c->opt_.wscale_ok ? r.rcv_wscale : 0;
  c->opt_.sack_ok = r.sack_ok;
  c->opt_.ts_ok = r.ts_ok;
  c->opt_.ts_recent = r.ts_recent;
  c->opt_.ts_recent_age = now;
  c->ts_offset_ = r.ts_offset;
  c->snd_.wnd = r.peer_window;  // a SYN's window is never scaled
  c->snd_.max_wnd = c->snd_.wnd;
  c->snd_.wl1 = r.irs;
  c->snd_.wl2 = r.iss;
  auto route = ip_.route_output(now, r.t.raddr);
  c->pmtu_ = route ? route->mtu : 576;
  // tcp_synack_rtt_meas: the handshake's RTT, unless the SYN-ACK went more than once (Karn).
  if (r.retrans == 0)
    c->rtt_.sample(now - r.first_sent);
  else
    c->retransmits_ = r.retrans;
  c->state_ = TcpState::kSynReceived;
  return c;
}

void TcpLayer::child_established(Instant now, TcpSocket& c) {
  TcpSocket* l = c.parent_;
  if (l == nullptr) return;
  l->listen_->accept_q.push_back(&c);
  tel_.trace(now, Layer::kTcp, "accept_queue", 0, [&] {
    return fmt::format("{}:{} queued for accept ({}/{})", c.t_.raddr.to_string(), c.t_.rport,
                       l->accept_queue_len(), l->backlog());
  });
  l->wake(now);
}

// The listener closes (inet_csk_listen_stop): it leaves the listening hash and so its
// SO_REUSEPORT group (reuseport_detach_sock: later SYNs hash over the others); half-open
// requests are forgotten, queued children are reset. (Linux's tcp_migrate_req, off by
// default, would move them to another member instead.)
void TcpLayer::listener_stop(Instant now, TcpSocket& l) {
  if (auto it = lhash_.find(l.t_.lport); it != lhash_.end()) {
    std::erase(it->second, &l);
    if (it->second.empty()) lhash_.erase(it);
  }
  for (auto it = reqs_.begin(); it != reqs_.end();) {
    if (it->second->listener == &l)
      it = reqs_.erase(it);
    else
      ++it;
  }
  std::vector<TcpSocket*> q;
  if (l.listen_) {
    TcpSocket::ListenState& ls = *l.listen_;
    ls.syn_q_len = 0;
    q.assign(ls.accept_q.begin() + static_cast<ptrdiff_t>(ls.accept_head), ls.accept_q.end());
    ls.accept_q.clear();
    ls.accept_head = 0;
  }
  for (TcpSocket* c : q) {
    if (c == nullptr) continue;
    c->parent_ = nullptr;
    if (tcp_synchronized(c->state_)) c->send_rst_active(now);
    c->done(now);
  }
  // Children still in SYN-RECEIVED (their ACK is being processed) lose their parent too.
  for (TcpSocket* s = head_; s != nullptr; s = s->next_)
    if (s->parent_ == &l) s->parent_ = nullptr;
}

}  // namespace ustack::transport
