// transport/tcp_socket.cc — the calls an application makes on a TCP socket (Linux's
// inet_stream_connect, tcp_sendmsg, tcp_recvmsg, tcp_shutdown, tcp_close, tcp_poll, setsockopt)
// and the state bookkeeping every other file uses: set_state (MIB gauges), done (tcp_done),
// wakeups.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "ustack/base/assert.h"
#include "ustack/dev/net_device.h"
#include "ustack/transport/tcp_internal.h"

namespace ustack::transport {

using wire::SeqNum;

namespace {
// A keepalive time as the socket keeps it: whole ms in 32 bits (49 days).
uint32_t duration_ms32(Duration d) {
  return static_cast<uint32_t>(std::clamp<int64_t>(d.millis(), 0, UINT32_MAX));
}
}  // namespace

TcpSocket::TcpSocket(TcpLayer& layer, size_t rcvbuf, size_t sndbuf)
    : layer_(layer),
      ofo_(2 * rcvbuf),
      rtt_(layer.cfg_.rtt),
      rcvbuf_(static_cast<uint32_t>(std::min<size_t>(rcvbuf, INT32_MAX))),
      sndbuf_(static_cast<uint32_t>(std::min<size_t>(sndbuf, INT32_MAX))),
      ka_idle_ms_(duration_ms32(layer.cfg_.keepalive_time)),
      ka_intvl_ms_(duration_ms32(layer.cfg_.keepalive_intvl)),
      ka_cnt_(static_cast<uint8_t>(std::clamp(layer.cfg_.keepalive_probes, 0, 255))) {
  if (!cc_.set(layer.cfg_.congestion)) cc_.set("newreno");
  cc_->init(mss_cache_);  // re-initialised with the real MSS once established
  rtx_timer_.bind<&TcpSocket::on_rtx_timer>(this);
  delack_timer_.bind<&TcpSocket::on_delack_timer>(this);
  keepalive_timer_.bind<&TcpSocket::on_keepalive_timer>(this);
}

TcpSocket::~TcpSocket() {
  // Only the layer deletes sockets (reap, or its own destructor): detach from its tables.
  layer_.unhash(*this);
  layer_.release_port(*this);
  if (parent_ != nullptr) {
    auto& q = parent_->listen_->accept_q;
    for (auto& c : q)
      if (c == this) c = nullptr;
  }
}

// ---- calls ----------------------------------------------------------------------------------

Result<void, int> TcpSocket::bind(wire::Ipv4Addr addr, uint16_t port) {
  if (state_ != TcpState::kClosed || bound_) return Err{EINVAL};
  return layer_.bind(*this, addr, port);
}

Result<void, int> TcpSocket::listen(int backlog) {
  if (state_ == TcpState::kListen) {
    listen_->backlog = std::clamp(backlog, 1, layer_.cfg_.somaxconn);
    return Ok();
  }
  if (state_ != TcpState::kClosed || hashed_) return Err{EINVAL};
  if (!bound_) {
    if (auto r = layer_.bind(*this, wire::Ipv4Addr::any(), 0); !r) return r;
  }
  // inet_csk_listen_start: a port another listener holds is taken already (bind checked the
  // SO_REUSEADDR case against listeners only, so check again now that we listen), unless both
  // set SO_REUSEPORT: then we join its group.
  auto& listeners = layer_.lhash_[t_.lport];
  for (TcpSocket* o : listeners) {
    const bool overlap =
        o->t_.laddr.is_unspecified() || t_.laddr.is_unspecified() || o->t_.laddr == t_.laddr;
    if (overlap && !(reuseport_ && o->reuseport_)) return Err{EADDRINUSE};
  }
  if (reuseport_ && !layer_.reuseport_keyed_) {
    // Linux draws inet_ehash_secret once, lazily (net_get_random_once).
    layer_.reuseport_key_ = SipKey::from_rng(layer_.rng_);
    layer_.reuseport_keyed_ = true;
  }
  // Linux: backlog <= 0 still admits one connection; capped by somaxconn.
  listen_ = std::make_unique<ListenState>();
  listen_->backlog = std::clamp(backlog, 1, layer_.cfg_.somaxconn);
  state_ = TcpState::kListen;
  listeners.push_back(this);
  return Ok();
}

Result<TcpSocket*, int> TcpSocket::accept() {
  if (state_ != TcpState::kListen) return Err{EINVAL};
  ListenState& ls = *listen_;
  while (ls.accept_head < ls.accept_q.size()) {
    TcpSocket* c = ls.accept_q[ls.accept_head++];
    if (ls.accept_head == ls.accept_q.size()) {
      ls.accept_q.clear();
      ls.accept_head = 0;
    }
    if (c == nullptr) continue;  // freed while queued
    c->parent_ = nullptr;
    c->orphan_ = false;  // the application owns it now
    return c;
  }
  return Err{EAGAIN};
}

Result<void, int> TcpSocket::connect(Instant now, wire::Ipv4Addr addr, uint16_t port) {
  switch (state_) {
    case TcpState::kClosed:
      break;
    case TcpState::kListen:
      return Err{EINVAL};
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
      return Err{EALREADY};
    default:
      return Err{EISCONN};
  }
  if (port == 0 || addr.is_unspecified()) return Err{EINVAL};
  if (addr.is_broadcast() || addr.is_multicast()) return Err{ENETUNREACH};
  t_.raddr = addr;
  t_.rport = port;
  if (auto r = layer_.connect_hash(now, *this); !r) {
    t_.raddr = {};
    t_.rport = 0;
    return r;
  }
  error_ = 0;
  shut_rd_ = shut_wr_ = fin_rcvd_ = fin_queued_ = false;
  // RFC 9293 §3.4.1 / RFC 6528: the ISN; RFC 7323 §7.1: a per-pair timestamp offset.
  snd_.iss = layer_.isn_.isn(now, t_);
  ts_offset_ = layer_.isn_.ts_offset(t_.laddr, t_.raddr);
  snd_.una = snd_.nxt = snd_max_ = snd_sml_ = write_seq_ = snd_.iss;
  ++layer_.mib_.active_opens;
  set_state(now, TcpState::kSynSent);
  send_syn(now);
  return Ok();
}

Result<size_t, int> TcpSocket::send(Instant now, std::span<const uint8_t> data) {
  if (error_ != 0) return Err{take_error()};
  if (shut_wr_) return Err{EPIPE};
  switch (state_) {
    case TcpState::kClosed:
      return Err{was_connected_ ? EPIPE : ENOTCONN};
    case TcpState::kListen:
      return Err{ENOTCONN};
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
      break;
    default:
      return Err{EPIPE};
  }
  if (data.empty()) return size_t{0};
  size_t want = std::min(data.size(), tx_space());
  if (want == 0) return Err{EAGAIN};
  size_t done_bytes = 0;
  while (done_bytes < want) {
    const uint32_t goal = size_goal();
    PacketBuffer* tail = write_q_.back();
    size_t room = 0;
    // tcp_sendmsg: fill the unsent tail skb first (the one IP has not seen yet).
    if (tail != nullptr && send_head_ != nullptr && !skb_cb(*tail).fin && !skb_cb(*tail).syn &&
        skb_cb(*tail).tx_count == 0 && tail->len() < goal) {
      room = std::min<size_t>(goal - tail->len(), tail->tailroom());
    }
    if (room == 0) {
      PacketPtr skb = alloc_skb(goal);
      if (!skb) break;
      SkbCb& cb = skb_cb(*skb);
      cb = SkbCb{write_seq_.v, write_seq_.v, false, false, 0, 0};
      tail = skb.get();
      write_q_.push_back(std::move(skb));
      if (send_head_ == nullptr) send_head_ = tail;
      room = std::min<size_t>(goal, tail->tailroom());
    }
    const size_t n = std::min(room, want - done_bytes);
    auto r = tail->append(data.subspan(done_bytes, n));
    USTACK_ASSERT(r.ok(), "room checked");
    skb_cb(*tail).end_seq += static_cast<uint32_t>(n);
    write_seq_ += static_cast<uint32_t>(n);
    write_bytes_ += n;
    done_bytes += n;
  }
  if (done_bytes == 0) return Err{ENOBUFS};
  if (tcp_synchronized(state_)) write_xmit(now);
  return done_bytes;
}

Result<size_t, int> TcpSocket::recv(Instant now, std::span<uint8_t> out, bool peek) {
  if (state_ == TcpState::kListen) return Err{ENOTCONN};
  size_t copied = 0;
  size_t skip = rx_consumed_;
  for (PacketBuffer* p = rx_.front(); p != nullptr && copied < out.size();) {
    auto d = p->data().subspan(skip);
    const size_t n = std::min(d.size(), out.size() - copied);
    std::memcpy(out.data() + copied, d.data(), n);
    copied += n;
    if (peek) {
      skip = 0;
      p = PacketQueue::next(p);
      continue;
    }
    if (n == d.size()) {
      rx_bytes_ -= p->len();
      rx_.pop_front();
      rx_consumed_ = 0;
      skip = 0;
      p = rx_.front();
    } else {
      rx_consumed_ += n;
    }
  }
  if (copied > 0) {
    if (!peek) {
      cleanup_rbuf(now);
    }
    return copied;
  }
  if (out.empty()) return size_t{0};
  if (error_ != 0) return Err{take_error()};
  if (fin_rcvd_ || shut_rd_) return size_t{0};
  if (state_ == TcpState::kClosed)
    return was_connected_ ? Result<size_t, int>(size_t{0}) : Result<size_t, int>(Err{ENOTCONN});
  return Err{EAGAIN};
}

Result<void, int> TcpSocket::shutdown(Instant now, int how) {
  if (how != kShutRd && how != kShutWr && how != kShutRdWr) return Err{EINVAL};
  switch (state_) {
    case TcpState::kClosed:
    case TcpState::kListen:
      return Err{ENOTCONN};
    case TcpState::kSynSent:
      // inet_shutdown: a connect in progress is abandoned.
      ++layer_.mib_.attempt_fails;
      done(now);
      return Ok();
    default:
      break;
  }
  if (how == kShutRd || how == kShutRdWr) {
    shut_rd_ = true;
    wake(now);
  }
  if ((how == kShutWr || how == kShutRdWr) && !shut_wr_) {
    shut_wr_ = true;
    send_fin(now);
    wake(now);
  }
  return Ok();
}

int TcpSocket::take_error() {
  int e = error_;
  if (e == 0) {
    e = soft_error_;
    soft_error_ = 0;
  }
  error_ = 0;
  return e;
}

// tcp_close: what close(2) does to the connection; the layer has already marked us orphan.
void TcpSocket::close_now(Instant now) {
  shut_rd_ = true;
  switch (state_) {
    case TcpState::kListen:
      layer_.listener_stop(now, *this);
      done(now);
      return;
    case TcpState::kClosed:
      done(now);
      return;
    case TcpState::kSynSent:
      done(now);
      return;
    default:
      break;
  }
  const bool unread = rx_available() > 0;
  if (unread || linger_ns_ == 0) {
    // RFC 9293 §3.10.4 ABORT and RFC 2525 §2.17: closing with unread data (or SO_LINGER 0)
    // resets the connection so the peer knows its data was not read (Linux TCPAbortOnClose).
    if (unread) ++layer_.mib_.abort_on_close;
    send_rst_active(now);
    done(now);
    return;
  }
  if (!shut_wr_) {
    shut_wr_ = true;
    send_fin(now);
  }
  if (state_ == TcpState::kFinWait2) arm_fin_wait2(now);
  if (state_ == TcpState::kClosed) done(now);
}

// ---- options ---------------------------------------------------------------------------------

void TcpSocket::set_nodelay(bool on) {
  nodelay_ = on;
  if (on && send_head_ != nullptr && tcp_synchronized(state_)) {
    push_pending_ = true;
    if (!wake_queued_) {
      wake_queued_ = true;
      layer_.wake_q_.push_back(this);
    }
  }
}
void TcpSocket::set_keepalive(bool on) {
  keepalive_ = on;
  if (!on) {
    if (state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait)
      layer_.wheel_.cancel(keepalive_timer_);
  } else if (state_ == TcpState::kEstablished) {
    arm_keepalive(rcv_tstamp_);
  }
}
void TcpSocket::set_keepalive_idle(Duration d) { ka_idle_ms_ = duration_ms32(d); }
void TcpSocket::set_keepalive_intvl(Duration d) { ka_intvl_ms_ = duration_ms32(d); }
// probes_out_ counts to it in 8 bits; Linux's TCP_KEEPCNT is at most 127.
void TcpSocket::set_keepalive_count(int n) {
  ka_cnt_ = static_cast<uint8_t>(std::clamp(n, 1, 255));
}

void TcpSocket::set_rcvbuf(size_t bytes) {
  rcvbuf_ = static_cast<uint32_t>(std::clamp<size_t>(bytes, 2048, layer_.rmem_max()));
  ofo_.set_mem_limit(2 * size_t{rcvbuf_});
}
void TcpSocket::set_sndbuf(size_t bytes) {
  sndbuf_ = static_cast<uint32_t>(std::clamp<size_t>(bytes, 4096, layer_.wmem_max()));
}

Result<void, int> TcpSocket::set_congestion(std::string_view name) {
  if (!cc_.set(name)) return Err{ENOENT};
  if (tcp_synchronized(state_)) cc_->init(mss_cache_);
  return Ok();
}
std::string_view TcpSocket::congestion() const { return cc_->name(); }

bool TcpSocket::linger_done() const { return write_q_.empty() || state_ == TcpState::kClosed; }

size_t TcpSocket::tx_space() const { return sndbuf_ > write_bytes_ ? sndbuf_ - write_bytes_ : 0; }

// ---- readiness (tcp_poll) ----------------------------------------------------------------------

uint32_t TcpSocket::poll_mask() const {
  uint32_t mask = 0;
  if (state_ == TcpState::kListen) {
    return accept_queue_len() != 0 ? kPollIn : 0;
  }
  if ((shut_rd_ && shut_wr_) || state_ == TcpState::kClosed) mask |= kPollHup;
  if (fin_rcvd_ || shut_rd_) mask |= kPollIn | kPollRdHup;
  if (state_ != TcpState::kSynSent && state_ != TcpState::kSynReceived) {
    if (rx_available() > 0) mask |= kPollIn;
    if (!shut_wr_) {
      // sk_stream_is_writeable: free space at least half of what is queued.
      if (tx_space() > 0 && tx_space() >= write_bytes_ / 2) mask |= kPollOut;
    } else {
      mask |= kPollOut;  // a write will fail at once (EPIPE): that is "ready"
    }
  }
  if (error_ != 0) mask |= kPollErr;
  return mask;
}

TcpInfo TcpSocket::info() const {
  TcpInfo i;
  i.total_retrans = stats_.total_retrans;
  i.bytes_acked = stats_.bytes_acked;
  i.bytes_received = stats_.bytes_received;
  i.bytes_sent = stats_.bytes_sent;
  i.bytes_retrans = stats_.bytes_retrans;
  i.segs_out = stats_.segs_out;
  i.segs_in = segs_in_;
  i.state = state_;
  i.ca_state = rec_.state();
  i.retransmits = retransmits_;
  const RttInfo r = rtt_.info();
  i.backoff = r.backoff;
  i.rto_us = r.rto_us;
  i.rtt_us = r.rtt_us;
  i.rttvar_us = r.rttvar_us;
  i.ts_ok = opt_.ts_ok;
  i.sack_ok = opt_.sack_ok;
  i.wscale_ok = opt_.wscale_ok;
  i.snd_wscale = snd_.wscale;
  i.rcv_wscale = rcv_.wscale;
  i.snd_mss = mss_cache_;
  i.rcv_mss = rcv_mss_;
  i.unacked = 0;
  for (PacketBuffer* p = write_q_.front(); p != nullptr && p != send_head_;
       p = PacketQueue::next(p))
    ++i.unacked;
  i.snd_cwnd = cc_->cwnd();
  i.snd_ssthresh = cc_->ssthresh();
  i.snd_wnd = snd_.wnd;
  i.rcv_wnd = rcv_.wnd;
  i.notsent_bytes = write_seq_ - snd_.nxt;
  return i;
}

// ---- state bookkeeping ------------------------------------------------------------------------

void TcpSocket::set_state(Instant now, TcpState s) {
  const TcpState old = state_;
  if (old == s) return;
  auto estab = [](TcpState x) { return x == TcpState::kEstablished || x == TcpState::kCloseWait; };
  TcpMib& m = layer_.mib_;
  // RFC 4022 tcpCurrEstab: ESTABLISHED or CLOSE-WAIT; tcpEstabResets: from those to CLOSED.
  if (estab(s) && !estab(old)) ++m.curr_estab;
  if (!estab(s) && estab(old)) --m.curr_estab;
  if (s == TcpState::kClosed && estab(old)) ++m.estab_resets;
  if (s == TcpState::kTimeWait) ++m.time_waits;
  if (s == TcpState::kEstablished) was_connected_ = true;
  state_ = s;
  layer_.tel_.trace(now, Layer::kTcp, "state", 0, [&] {
    return fmt::format("{}:{} > {}:{} {} -> {}", t_.laddr.to_string(), t_.lport,
                       t_.raddr.to_string(), t_.rport, tcp_state_name(old), tcp_state_name(s));
  });
}

void TcpSocket::wake(Instant /*now*/) {
  if (wake_queued_ || orphan_ || !wakeup_) return;
  wake_queued_ = true;
  layer_.wake_q_.push_back(this);
}

void TcpSocket::set_error(Instant now, int err) {
  error_ = err;
  wake(now);
}

// tcp_done: the connection is gone. The application may still read what was received.
void TcpSocket::done(Instant now) {
  set_state(now, TcpState::kClosed);
  layer_.wheel_.cancel(rtx_timer_);
  layer_.wheel_.cancel(delack_timer_);
  layer_.wheel_.cancel(keepalive_timer_);
  rtx_kind_ = RtxKind::kNone;
  layer_.unhash(*this);
  layer_.release_port(*this);
  write_q_.clear();
  send_head_ = nullptr;
  write_bytes_ = 0;
  ofo_.clear();
  shut_wr_ = true;
  shut_rd_ = true;
  if (orphan_) {
    rx_.clear();
    rx_bytes_ = 0;
    rx_consumed_ = 0;
    layer_.destroy_later(this);
  }
  wake(now);
}

// tcp_init_transfer / tcp_finish_connect: the connection is established.
void TcpSocket::init_transfer(Instant now) {
  sync_mss(pmtu_);
  // sk_setup_caps: TSO frames and partial checksums if the route's device takes them.
  const auto route = layer_.ip_.route_output(now, t_.raddr);
  constexpr uint32_t kTsoCsum = dev::kNetifTso | dev::kNetifHwCsum;
  tso_ =
      route && route->type == ip::RouteType::kUnicast && (route->features & kTsoCsum) == kTsoCsum;
  rcv_mss_ = std::min<uint32_t>(mss_cache_, adv_mss_);
  cc_->init(mss_cache_);
  rec_.init(snd_.una);
  // RFC 6298 §5.7: a SYN that timed out leaves no RTT sample: restart from 3 s.
  if (retransmits_ > 0 && !rtt_.has_sample()) rtt_.syn_timeout_fallback();
  retransmits_ = 0;
  quickack_ = 16;  // tcp_enter_quickack_mode: ACK every segment while slow start opens up
  rcv_tstamp_ = now;
  if (keepalive_) arm_keepalive(now);
}

}  // namespace ustack::transport
