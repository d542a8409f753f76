// transport/tcp_layer.cc — TcpLayer: tcp_v4_rcv's demultiplexing (established table, SYN
// queues, listeners, RST for no socket), ports (bind, RFC 6056 ephemeral ports), ICMP errors
// (RFC 1191 PMTU, RFC 5927 checks), socket lifetime and the wakeup list.
#include <fmt/format.h>

#include <cerrno>

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"
#include "ustack/transport/tcp_internal.h"
#include "ustack/wire/icmp.h"

namespace ustack::transport {

using wire::Ipv4Addr;
using wire::SeqNum;

namespace {
constexpr uint8_t kTcpProto = 6;
// Linux reciprocal_scale: maps a 32-bit hash onto [0, n) without a division.
uint32_t reciprocal_scale(uint32_t hash, uint32_t n) {
  return static_cast<uint32_t>((uint64_t{hash} * n) >> 32);
}
}  // namespace

size_t TcpLayer::KeyHash::operator()(const Key& k) const {
  uint64_t a = (uint64_t{k.laddr} << 32) | k.raddr;
  uint64_t b = (uint64_t{k.lport} << 16) | k.rport;
  a ^= b * 0x9e3779b97f4a7c15ull;
  a ^= a >> 29;
  a *= 0xbf58476d1ce4e5b9ull;
  return static_cast<size_t>(a ^ (a >> 32));
}

TcpLayer::TcpLayer(ip::Ipv4Layer& ip, BufferPool& pool, Telemetry& tel, Rng rng, TcpConfig cfg)
    : ip_(ip),
      pool_(pool),
      tel_(tel),
      rng_(std::move(rng)),
      cfg_(std::move(cfg)),
      isn_(rng_),
      cookies_(rng_) {
  ip_.register_protocol(kTcpProto, this);
}

TcpLayer::~TcpLayer() {
  ip_.register_protocol(kTcpProto, nullptr);
  reqs_.clear();
  while (head_ != nullptr) {
    TcpSocket* s = head_;
    head_ = s->next_;
    delete s;
  }
}

TcpSocket* TcpLayer::open() {
  auto* s = new TcpSocket(*this, cfg_.rmem_default, cfg_.wmem_default);
  link(s);
  return s;
}

void TcpLayer::link(TcpSocket* s) {
  s->next_ = head_;
  if (head_ != nullptr) head_->prev_ = s;
  head_ = s;
  ++nsocks_;
}

void TcpLayer::destroy_later(TcpSocket* s) {
  USTACK_ASSERT(s->orphan_, "only orphans are freed by the layer");
  if (std::find(dead_.begin(), dead_.end(), s) == dead_.end()) dead_.push_back(s);
}

void TcpLayer::reap() {
  for (TcpSocket* s : dead_) {
    if (s->prev_ != nullptr) s->prev_->next_ = s->next_;
    if (s->next_ != nullptr) s->next_->prev_ = s->prev_;
    if (head_ == s) head_ = s->next_;
    --nsocks_;
    auto it = std::find(wake_q_.begin(), wake_q_.end(), s);
    if (it != wake_q_.end()) wake_q_.erase(it);
    delete s;
  }
  dead_.clear();
}

void TcpLayer::run_wakeups(Instant now) {
  // A callback that calls close()/abort() comes back here: the outer call delivers what that
  // queued and frees the dead only after its loop, so no socket dies under a running callback.
  if (in_wakeups_) return;
  in_wakeups_ = true;
  // Callbacks may queue more wakeups (a send() that frees space elsewhere, a close()): run
  // until quiet, bounded so a pathological callback cannot spin forever.
  for (int round = 0; round < 16 && !wake_q_.empty(); ++round) {
    std::vector<TcpSocket*> q;
    q.swap(wake_q_);
    for (size_t i = 0; i < q.size(); ++i) {
      TcpSocket* s = q[i];
      s->wake_queued_ = false;
      if (s->push_pending_) {
        s->push_pending_ = false;
        s->write_xmit(now);
      }
      if (s->orphan_ || !s->wakeup_) continue;
      // A callback may have freed a later entry through abort(): those are only ever freed
      // in reap() below, so every pointer in q is still valid here. The callback may also
      // replace or clear itself (set_wakeup, close): it runs from a moved-out copy, put back
      // only if nobody installed another.
      TcpSocket::WakeupFn fn = std::move(s->wakeup_);
      s->wakeup_ = nullptr;
      const uint32_t gen = s->wakeup_gen_;
      fn(now, s->poll_mask());
      if (s->wakeup_gen_ == gen && !s->orphan_ && !s->wakeup_) s->wakeup_ = std::move(fn);
    }
  }
  in_wakeups_ = false;
  reap();
}

Instant TcpLayer::next_deadline() const {
  if (!wake_q_.empty() || !dead_.empty()) return Instant::zero();
  return wheel_.next_deadline();
}

void TcpLayer::on_timer(Instant now) {
  wheel_.advance(now);
  run_wakeups(now);
}

void TcpLayer::close(Instant now, TcpSocket* s) {
  if (s == nullptr || s->orphan_) return;
  s->orphan_ = true;
  s->wakeup_ = nullptr;
  s->close_now(now);
  run_wakeups(now);
}

void TcpLayer::abort(Instant now, TcpSocket* s) {
  if (s == nullptr || s->orphan_) return;
  s->orphan_ = true;
  s->wakeup_ = nullptr;
  if (s->state_ == TcpState::kListen) {
    listener_stop(now, *s);
  } else if (tcp_synchronized(s->state_) || s->state_ == TcpState::kSynReceived) {
    s->send_rst_active(now);
  }
  s->done(now);
  run_wakeups(now);
}

// ---- demultiplexing (tcp_v4_rcv) -------------------------------------------------------------

void TcpLayer::rcv(Instant now, PacketPtr pkt) {
  const uint64_t id = pkt->trace_id;
  auto iph = pkt->network_header();
  const Ipv4Addr saddr{load_be32(iph, 12)};
  const Ipv4Addr daddr{load_be32(iph, 16)};
  auto v = wire::TcpView::parse(pkt->data());
  if (!v) {
    ++mib_.in_errs;
    tel_.drop(now, Layer::kTcp, wire::to_drop_reason(v.error()), id);
    return;
  }
  TcpSocket::Segment seg;
  // A checksum the device verified, or left partial on a path that never corrupts it (a vnet
  // TAP's NEEDS_CSUM: the kernel's own segment), is not verified again (skb_csum_unnecessary).
  auto r = wire::TcpRepr::parse(
      *v, wire::Ipv4Pseudo{saddr, daddr},
      pkt->csum_unnecessary() ? wire::Checksum::kIgnore : wire::Checksum::kVerify);
  if (!r) {
    ++mib_.in_errs;
    if (r.error() == wire::WireError::kBadChecksum) ++mib_.in_csum_errors;
    tel_.drop(now, Layer::kTcp, wire::to_drop_reason(r.error()), id, [&] {
      return fmt::format("{}:{} > {}:{}", saddr.to_string(), v->src_port(), daddr.to_string(),
                         v->dst_port());
    });
    return;
  }
  // RFC 1122 §4.2.3.10: a segment to a broadcast or multicast address is not TCP's.
  if (pkt->pkt_type != PacketType::kHost || daddr.is_broadcast() || daddr.is_multicast() ||
      saddr.is_broadcast() || saddr.is_multicast() || saddr.is_unspecified()) {
    ++mib_.in_errs;
    tel_.drop(now, Layer::kTcp, DropReason::kTcpFlags, id,
              [] { return std::string("TCP to/from a broadcast or multicast address"); });
    return;
  }
  ++mib_.in_segs;
  const size_t hlen = v->header_len();
  (void)pkt->pull(hlen);
  seg.h = std::move(*r);
  seg.pkt = std::move(pkt);
  seg.seq = seg.h.seq;
  seg.len = static_cast<uint32_t>(seg.pkt->len());
  seg.syn = seg.h.flags.syn();
  seg.fin = seg.h.flags.fin();
  seg.saddr = saddr;
  seg.daddr = daddr;
  seg.id = id;
  tel_.trace(now, Layer::kTcp, "tcp_v4_rcv", id, [&] {
    return fmt::format("{}:{} > {}:{} {} seq {} ack {} win {} len {}", saddr.to_string(),
                       seg.h.src_port, daddr.to_string(), seg.h.dst_port, seg.h.flags.to_string(),
                       seg.h.seq.v, seg.h.ack.v, seg.h.window, seg.len);
  });

  const Key k{daddr.v, saddr.v, seg.h.dst_port, seg.h.src_port};
  if (TcpSocket* s = lookup_established(k); s != nullptr) {
    s->segment_arrives(now, seg);
  } else if (auto it = reqs_.find(k); it != reqs_.end()) {
    request_rcv(now, *it->second, seg);
  } else if (TcpSocket* l = lookup_listener(daddr, seg.h.dst_port, saddr, seg.h.src_port);
             l != nullptr) {
    listen_rcv(now, *l, seg);
  } else {
    // RFC 9293 §3.10.7.1 (CLOSED): anything but a RST earns a RST.
    tel_.drop(now, Layer::kTcp, DropReason::kNoSocket, id,
              [&] { return fmt::format("no socket for port {}", seg.h.dst_port); });
    if (!seg.h.flags.rst()) send_reset(now, seg);
  }
  run_wakeups(now);
}

TcpSocket* TcpLayer::lookup_established(const Key& k) const {
  if (ehash_.empty()) return nullptr;
  for (TcpSocket* s = ehash_[KeyHash{}(k) & (ehash_.size() - 1)]; s != nullptr; s = s->ehash_next_)
    if (key_of(s->t_) == k) return s;
  return nullptr;
}

TcpSocket*& TcpLayer::ehash_bucket(const Key& k) {
  return ehash_[KeyHash{}(k) & (ehash_.size() - 1)];
}

bool TcpLayer::ehash_remove(TcpSocket& s) {
  if (ehash_.empty()) return false;
  for (TcpSocket** pp = &ehash_bucket(key_of(s.t_)); *pp != nullptr; pp = &(*pp)->ehash_next_) {
    if (*pp == &s) {
      *pp = s.ehash_next_;
      s.ehash_next_ = nullptr;
      --ehash_count_;
      return true;
    }
  }
  return false;
}

void TcpLayer::ehash_grow() {
  std::vector<TcpSocket*> old(std::max<size_t>(64, 2 * ehash_.size()), nullptr);
  old.swap(ehash_);
  for (TcpSocket* s : old) {
    while (s != nullptr) {
      TcpSocket* next = s->ehash_next_;
      TcpSocket*& b = ehash_bucket(key_of(s->t_));
      s->ehash_next_ = b;
      b = s;
      s = next;
    }
  }
}

// __inet_lookup_listener: an exact local address beats the wildcard. When the winning address
// has a SO_REUSEPORT group, one member is chosen by a keyed hash of the 4-tuple
// (inet_lookup_reuseport -> reuseport_select_sock: reciprocal_scale(hash, num_socks)), so
// connections spread over the group and every segment of one connection (a retransmitted SYN,
// a SYN cookie's ACK) finds the same listener while the group is unchanged.
TcpSocket* TcpLayer::lookup_listener(Ipv4Addr daddr, uint16_t dport, Ipv4Addr saddr,
                                     uint16_t sport) const {
  auto it = lhash_.find(dport);
  if (it == lhash_.end()) return nullptr;
  const std::vector<TcpSocket*>& ls = it->second;
  TcpSocket* wild = nullptr;
  TcpSocket* best = nullptr;
  for (TcpSocket* s : ls) {
    if (s->t_.laddr == daddr) {
      best = s;
      break;
    }
    if (wild == nullptr && s->t_.laddr.is_unspecified()) wild = s;
  }
  if (best == nullptr) best = wild;
  if (best == nullptr || !best->reuseport_) return best;
  const Ipv4Addr addr = best->t_.laddr;
  uint32_t n = 0;
  for (TcpSocket* s : ls) n += s->reuseport_ && s->t_.laddr == addr ? 1 : 0;
  if (n <= 1) return best;
  // Linux hashes with inet_ehashfn(daddr, dport, saddr, sport); ours is SipHash (as the ISN).
  const uint32_t ports = static_cast<uint32_t>(dport) << 16 | sport;
  uint32_t pick = reciprocal_scale(
      static_cast<uint32_t>(siphash_3u32(daddr.v, saddr.v, ports, reuseport_key_)), n);
  for (TcpSocket* s : ls) {
    if (!s->reuseport_ || s->t_.laddr != addr) continue;
    if (pick-- == 0) return s;
  }
  return best;  // not reached: n members were counted
}

void TcpLayer::hash(TcpSocket& s) {
  if (s.hashed_) return;
  // A map's assignment: a socket hashed with the same 4-tuple leaves the table (it stays
  // marked hashed_; its unhash() then finds nothing to remove).
  if (TcpSocket* o = lookup_established(key_of(s.t_)); o != nullptr) ehash_remove(*o);
  if (ehash_count_ >= ehash_.size()) ehash_grow();
  TcpSocket*& b = ehash_bucket(key_of(s.t_));
  s.ehash_next_ = b;
  b = &s;
  ++ehash_count_;
  s.hashed_ = true;
}

void TcpLayer::unhash(TcpSocket& s) {
  if (!s.hashed_) return;
  ehash_remove(s);
  s.hashed_ = false;
}

// ---- ports ----------------------------------------------------------------------------------

Result<void, int> TcpLayer::bind(TcpSocket& s, Ipv4Addr addr, uint16_t port) {
  if (s.bound_) return Err{EINVAL};
  if (!addr.is_unspecified() && !ip_.is_local(addr)) return Err{EADDRNOTAVAIL};
  if (port == 0) {
    // inet_csk_get_port with port 0: the first free port from a random point.
    const uint32_t n = kEphemeralHi - kEphemeralLo + 1;
    const uint32_t start = static_cast<uint32_t>(rng_.below(n));
    for (uint32_t i = 0; i < n; ++i) {
      uint16_t p = static_cast<uint16_t>(kEphemeralLo + (start + i) % n);
      if (bhash_.count(p) == 0) {
        port = p;
        break;
      }
    }
    if (port == 0) return Err{EADDRINUSE};
  } else if (auto it = bhash_.find(port); it != bhash_.end()) {
    // inet_csk_bind_conflict: overlapping addresses conflict unless both sides set
    // SO_REUSEADDR and the other is not listening, or both set SO_REUSEPORT.
    for (TcpSocket* o : it->second) {
      const bool overlap =
          addr.is_unspecified() || o->t_.laddr.is_unspecified() || o->t_.laddr == addr;
      if (!overlap) continue;
      if (s.reuseaddr_ && o->reuseaddr_ && o->state_ != TcpState::kListen) continue;
      // SO_REUSEPORT: sockets that all set it share the port (Linux also requires the same
      // owner uid; ustack has one owner).
      if (s.reuseport_ && o->reuseport_) continue;
      return Err{EADDRINUSE};
    }
  }
  s.t_.laddr = addr;
  s.t_.lport = port;
  s.bound_ = true;
  s.bind_explicit_ = true;
  bhash_[port].push_back(&s);
  return Ok();
}

void TcpLayer::release_port(TcpSocket& s) {
  if (!s.bound_) return;
  auto it = bhash_.find(s.t_.lport);
  if (it != bhash_.end()) {
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), &s), v.end());
    if (v.empty()) bhash_.erase(it);
  }
  s.bound_ = false;
  s.bind_explicit_ = false;
}

// connect(): choose the source address from the route, an ephemeral port if unbound (RFC 6056
// §3.3.3, algorithm 3 "simple hash-based": offset = F(laddr, raddr, rport) plus a counter), and
// a 4-tuple nobody uses.
Result<void, int> TcpLayer::connect_hash(Instant now, TcpSocket& s) {
  auto route = ip_.route_output(now, s.t_.raddr);
  if (!route) return Err{ip::ip_error_errno(route.error())};
  if (route->type == ip::RouteType::kBroadcast || s.t_.raddr.is_multicast())
    return Err{ENETUNREACH};
  if (s.t_.laddr.is_unspecified()) s.t_.laddr = route->src;
  if (s.bound_) {
    if (lookup_established(key_of(s.t_)) != nullptr) return Err{EADDRNOTAVAIL};
    hash(s);
    return Ok();
  }
  const uint32_t n = kEphemeralHi - kEphemeralLo + 1;
  const uint32_t offset = isn_.port_offset(s.t_.laddr, s.t_.raddr, s.t_.rport);
  for (uint32_t i = 0; i < n; ++i) {
    const uint16_t p = static_cast<uint16_t>(kEphemeralLo + (offset + port_hint_ + i) % n);
    auto it = bhash_.find(p);
    bool usable = true;
    if (it != bhash_.end()) {
      for (TcpSocket* o : it->second) {
        if (o->bind_explicit_ || o->state_ == TcpState::kListen) usable = false;
      }
    }
    if (!usable) continue;
    TcpFourTuple t = s.t_;
    t.lport = p;
    if (lookup_established(key_of(t)) != nullptr) continue;
    port_hint_ += i + 1;
    s.t_.lport = p;
    s.bound_ = true;
    bhash_[p].push_back(&s);
    hash(s);
    return Ok();
  }
  return Err{EADDRNOTAVAIL};
}

// ---- ICMP errors (tcp_v4_err) ------------------------------------------------------------------

void TcpLayer::err(Instant now, const ip::IcmpError& e) {
  if (e.l4.size() < 8) return;
  const uint16_t sport = load_be16(e.l4, 0);
  const uint16_t dport = load_be16(e.l4, 2);
  const SeqNum seq{load_be32(e.l4, 4)};
  TcpSocket* s = lookup_established(Key{e.src.v, e.dst.v, sport, dport});
  if (s == nullptr || s->state_ == TcpState::kTimeWait) return;
  // RFC 5927 §4.1: only believe errors quoting a sequence number we have in flight.
  if (!(s->snd_.una <= seq && seq <= s->snd_max_) && s->state_ != TcpState::kSynSent) return;
  using wire::DstUnreachable;
  const bool unreach = e.type == wire::to_u8(wire::IcmpType::kDstUnreachable);
  if (unreach && e.code == static_cast<uint8_t>(DstUnreachable::kFragNeeded)) {
    s->pmtu_event(now, e.mtu);
  } else if (unreach) {
    int errno_v = EHOSTUNREACH;
    switch (e.code) {
      case 0:
        errno_v = ENETUNREACH;
        break;
      case 2:
      case 3:
        errno_v = ECONNREFUSED;
        break;
      case 9:
      case 10:
      case 13:
        errno_v = EACCES;
        break;
      default:
        break;
    }
    // RFC 1122 §4.2.3.9 (MUST-56): net unreachable (0), host unreachable (1) and source route
    // failed (5) are soft errors, in every state: the connection keeps trying and reports the
    // error only if it times out. The others (protocol or port unreachable, prohibited) abort
    // a connection attempt, as Linux does; while synchronized they stay soft. DEVIATION from
    // Linux, which aborts a connect() on any unreachable.
    const bool soft_code = e.code == 0 || e.code == 1 || e.code == 5;
    if (!soft_code && (s->state_ == TcpState::kSynSent || s->state_ == TcpState::kSynReceived)) {
      ++mib_.attempt_fails;
      s->set_error(now, errno_v);
      s->done(now);
    } else {
      s->soft_error_ = errno_v;
    }
  }
  run_wakeups(now);
}

}  // namespace ustack::transport
