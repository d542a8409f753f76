// transport/udp.cc — UDP sockets, port table, udp_rcv, udp_sendmsg, udp_err.
#include "ustack/transport/udp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "ustack/base/assert.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/udp.h"

namespace ustack::transport {

using wire::Ipv4Addr;

namespace {
constexpr size_t kMaxPayload = 65535 - 20 - wire::kUdpHeaderLen;  // 65507
constexpr uint8_t kUdp = 17;
// What a queued buffer costs the receive buffer: its block plus the descriptor, as Linux
// charges skb->truesize (data block + struct sk_buff).
size_t truesize(const PacketBuffer& p) { return p.capacity() + sizeof(PacketBuffer); }
// Linux reciprocal_scale: maps a 32-bit hash onto [0, n) without a division.
uint32_t reciprocal_scale(uint32_t hash, uint32_t n) {
  return static_cast<uint32_t>((uint64_t{hash} * n) >> 32);
}
}  // namespace

// ---- socket calls --------------------------------------------------------------------------

Result<void, int> UdpSocket::bind(Ipv4Addr addr, uint16_t port) {
  return layer_.bind(*this, addr, port);
}

Result<void, int> UdpSocket::connect(Instant, Ipv4Addr addr, uint16_t port) {
  if (port == 0) return Err{EINVAL};
  if (lport_ == 0) {
    if (auto r = layer_.bind(*this, Ipv4Addr::any(), 0); !r) return r;
  }
  raddr_ = addr;
  rport_ = port;
  connected_ = true;
  return Ok();
}

Result<size_t, int> UdpSocket::sendto(Instant now, std::span<const uint8_t> data, Ipv4Addr dst,
                                      uint16_t port) {
  if (dst.is_unspecified() && port == 0) {
    if (!connected_) return Err{EDESTADDRREQ};
    dst = raddr_;
    port = rport_;
  }
  return layer_.send(now, *this, data, dst, port);
}

void UdpSocket::enqueue(Instant now, UdpDatagram d) {
  size_t cost = truesize(*d.pkt);
  if (rx_mem_ + cost > rcvbuf_) {
    ++drops_;
    ++layer_.stats_.rcvbuf_errors;
    ++layer_.stats_.in_errors;
    layer_.tel_.drop(now, Layer::kUdp, DropReason::kSocketRcvBuff, d.pkt->trace_id, [&] {
      return fmt::format("port {}: rcvbuf {} full ({} queued)", lport_, rcvbuf_, rx_.size());
    });
    return;
  }
  rx_mem_ += cost;
  d.pkt->cb<Queued>() = Queued{d.from, d.from_port, d.to, d.ifindex};
  rx_.push_back(std::move(d.pkt));
  ++layer_.stats_.in_datagrams;
  if (on_readable_) on_readable_(now);
}

std::optional<UdpDatagram> UdpSocket::recv() {
  PacketPtr p = rx_.pop_front();
  if (!p) return std::nullopt;
  rx_mem_ -= truesize(*p);
  Queued q = p->cb<Queued>();
  return UdpDatagram{std::move(p), q.from, q.from_port, q.to, q.ifindex};
}

std::optional<size_t> UdpSocket::recv_into(std::span<uint8_t> out, Ipv4Addr* from,
                                           uint16_t* from_port, bool peek) {
  if (peek) {
    // MSG_PEEK: copy from the head datagram and leave it queued.
    PacketBuffer* p = rx_.front();
    if (p == nullptr) return std::nullopt;
    const Queued& q = p->cb<Queued>();
    auto data = p->data();
    std::copy_n(data.begin(), std::min(data.size(), out.size()), out.begin());
    if (from != nullptr) *from = q.from;
    if (from_port != nullptr) *from_port = q.from_port;
    return data.size();
  }
  auto d = recv();
  if (!d) return std::nullopt;
  auto p = d->payload();
  std::copy_n(p.begin(), std::min(p.size(), out.size()), out.begin());
  if (from != nullptr) *from = d->from;
  if (from_port != nullptr) *from_port = d->from_port;
  return p.size();
}

int UdpSocket::take_error() {
  int e = error_;
  error_ = 0;
  return e;
}

// ---- the layer -----------------------------------------------------------------------------

UdpLayer::UdpLayer(ip::Ipv4Layer& ip, BufferPool& pool, Telemetry& tel, Rng rng)
    : ip_(ip), pool_(pool), tel_(tel), rng_(std::move(rng)) {
  ip_.register_protocol(kUdp, this);
}

UdpLayer::~UdpLayer() { ip_.register_protocol(kUdp, nullptr); }

UdpSocket* UdpLayer::open() {
  socks_.push_back(std::unique_ptr<UdpSocket>(new UdpSocket(*this)));
  return socks_.back().get();
}

void UdpLayer::close(UdpSocket* s) {
  if (s->lport_ != 0) {
    auto it = ports_.find(s->lport_);
    if (it != ports_.end()) {
      std::erase(it->second, s);
      if (it->second.empty()) ports_.erase(it);
    }
  }
  std::erase_if(socks_, [&](const auto& p) { return p.get() == s; });
}

bool UdpLayer::port_conflict(const UdpSocket* s, Ipv4Addr addr, uint16_t port) const {
  auto it = ports_.find(port);
  if (it == ports_.end()) return false;
  // udp_lib_lport_inuse: overlapping addresses (the wildcard overlaps every address) conflict
  // unless both sockets set SO_REUSEPORT (Linux also requires the same owner uid; ustack has
  // one owner). No SO_REUSEADDR for UDP yet.
  return std::any_of(it->second.begin(), it->second.end(), [&](const UdpSocket* o) {
    const bool overlap = o->laddr_.is_unspecified() || addr.is_unspecified() || o->laddr_ == addr;
    return overlap && !(s != nullptr && s->reuseport_ && o->reuseport_);
  });
}

// RFC 6056 §3.3.1 (Algorithm 1, as Linux's udp_lib_get_port): start at a random point of the
// ephemeral range and take the first free port.
uint16_t UdpLayer::pick_ephemeral(Ipv4Addr addr) {
  uint32_t n = kEphemeralHi - kEphemeralLo + 1;
  uint32_t start = static_cast<uint32_t>(rng_.below(n));
  for (uint32_t i = 0; i < n; ++i) {
    auto port = static_cast<uint16_t>(kEphemeralLo + (start + i) % n);
    if (!port_conflict(nullptr, addr, port)) return port;
  }
  return 0;
}

Result<void, int> UdpLayer::bind(UdpSocket& s, Ipv4Addr addr, uint16_t port) {
  if (s.lport_ != 0) return Err{EINVAL};
  if (!addr.is_unspecified() && !addr.is_broadcast() && !addr.is_multicast() && !ip_.is_local(addr))
    return Err{EADDRNOTAVAIL};
  if (port == 0) {
    port = pick_ephemeral(addr);
    if (port == 0) return Err{EADDRINUSE};
  } else if (port_conflict(&s, addr, port)) {
    return Err{EADDRINUSE};
  }
  if (s.reuseport_ && !reuseport_keyed_) {
    // Linux draws udp_ehash_secret once, lazily (net_get_random_once).
    reuseport_key_ = SipKey::from_rng(rng_);
    reuseport_keyed_ = true;
  }
  s.laddr_ = addr;
  s.lport_ = port;
  ports_[port].push_back(&s);
  return Ok();
}

// __udp4_lib_lookup's scoring: a connected socket must match the peer; an exact local
// address and a connected peer each score higher than wildcards. When the winner is an
// unconnected SO_REUSEPORT socket, the datagram goes to one of the unconnected reuseport
// sockets with its score (its address), chosen by a keyed hash of the source address and port
// (udp4_lib_lookup2 -> inet_lookup_reuseport: reciprocal_scale(udp_ehashfn, num_socks)): one
// peer's datagrams keep reaching the same socket while the group is unchanged.
UdpSocket* UdpLayer::lookup(Ipv4Addr saddr, uint16_t sport, Ipv4Addr daddr, uint16_t dport) {
  auto it = ports_.find(dport);
  if (it == ports_.end()) return nullptr;
  auto score_of = [&](const UdpSocket* s) {
    int score = 0;
    if (!s->laddr_.is_unspecified()) {
      if (s->laddr_ != daddr) return -1;
      score += 2;
    }
    if (s->connected_) {
      if (s->raddr_ != saddr || s->rport_ != sport) return -1;
      score += 4;
    }
    return score;
  };
  auto in_group = [&](const UdpSocket* s, int score) {
    return s->reuseport_ && !s->connected_ && score_of(s) == score;
  };
  UdpSocket* best = nullptr;
  int best_score = -1;
  uint32_t group = 0;  // unconnected reuseport sockets scoring best_score
  for (UdpSocket* s : it->second) {
    const int score = score_of(s);
    if (score < 0) continue;
    if (score > best_score) {
      best = s;
      best_score = score;
      group = 0;
    }
    if (score == best_score && s->reuseport_ && !s->connected_) ++group;
  }
  if (best == nullptr || !in_group(best, best_score) || group <= 1) return best;
  // Linux hashes with udp_ehashfn(daddr, dport, saddr, sport); ours is SipHash.
  const uint32_t ports = static_cast<uint32_t>(dport) << 16 | sport;
  uint32_t pick = reciprocal_scale(
      static_cast<uint32_t>(siphash_3u32(daddr.v, saddr.v, ports, reuseport_key_)), group);
  for (UdpSocket* s : it->second) {
    if (!in_group(s, best_score)) continue;
    if (pick-- == 0) return s;
  }
  return best;  // not reached: `group` members were counted
}

void UdpLayer::rcv(Instant now, PacketPtr pkt) {
  uint64_t id = pkt->trace_id;
  auto iph = pkt->network_header();
  Ipv4Addr saddr{load_be32(iph, 12)};
  Ipv4Addr daddr{load_be32(iph, 16)};
  auto v = wire::UdpView::parse(pkt->data());
  if (!v) {
    ++stats_.in_errors;
    tel_.drop(now, Layer::kUdp, wire::to_drop_reason(v.error()), id);
    return;
  }
  wire::Ipv4Pseudo ph{saddr, daddr};
  auto r = wire::UdpRepr::parse(
      *v, ph, pkt->csum_unnecessary() ? wire::Checksum::kIgnore : wire::Checksum::kVerify);
  if (!r) {
    ++stats_.in_errors;
    if (r.error() == wire::WireError::kBadChecksum) ++stats_.in_csum_errors;
    tel_.drop(now, Layer::kUdp, wire::to_drop_reason(r.error()), id, [&] {
      return fmt::format("{}:{} > {}:{}", saddr.to_string(), v->src_port(), daddr.to_string(),
                         v->dst_port());
    });
    return;
  }
  UdpSocket* s = lookup(saddr, r->src_port, daddr, r->dst_port);
  if (s == nullptr) {
    bool multi = pkt->pkt_type != PacketType::kHost || daddr.is_broadcast() ||
                 daddr.is_multicast() || !ip_.is_local(daddr);
    if (multi) {
      ++stats_.ignored_multi;
      tel_.drop(now, Layer::kUdp, DropReason::kNoSocket, id,
                [&] { return fmt::format("broadcast to port {}", r->dst_port); });
      return;
    }
    ++stats_.no_ports;
    tel_.drop(now, Layer::kUdp, DropReason::kNoSocket, id, [&] {
      return fmt::format("{}:{} > port {}", saddr.to_string(), r->src_port, r->dst_port);
    });
    // RFC 1122 §4.1.3.1: port unreachable, quoting the datagram from its IP header.
    size_t hlen = static_cast<size_t>(-pkt->network_offset());
    USTACK_ASSERT(pkt->push(hlen).ok(), "the IP header precedes the UDP header");
    ip_.icmp_send(now, *pkt, wire::to_u8(wire::IcmpType::kDstUnreachable),
                  static_cast<uint8_t>(wire::DstUnreachable::kPortUnreachable));
    return;
  }
  tel_.trace(now, Layer::kUdp, "udp_rcv", id, [&] {
    return fmt::format("{}:{} > {}:{} len {}", saddr.to_string(), r->src_port, daddr.to_string(),
                       r->dst_port, v->payload().size());
  });
  size_t plen = v->payload().size();
  USTACK_ASSERT(pkt->pull(wire::kUdpHeaderLen).ok(), "parsed");
  USTACK_ASSERT(pkt->trim(plen).ok(), "parsed");
  int ifindex = pkt->ifindex;
  s->enqueue(now, UdpDatagram{std::move(pkt), saddr, r->src_port, daddr, ifindex});
}

// udp_err: only connected sockets hear of ICMP errors (without IP_RECVERR, as Linux).
void UdpLayer::err(Instant now, const ip::IcmpError& e) {
  if (e.l4.size() < 4) return;
  uint16_t sport = load_be16(e.l4, 0);
  uint16_t dport = load_be16(e.l4, 2);
  auto it = ports_.find(sport);
  if (it == ports_.end()) return;
  for (UdpSocket* s : it->second) {
    if (!s->connected_ || s->raddr_ != e.dst || s->rport_ != dport) continue;
    if (!s->laddr_.is_unspecified() && s->laddr_ != e.src) continue;
    int err = EHOSTUNREACH;
    if (e.type == 3) {
      switch (e.code) {
        case 0:
          err = ENETUNREACH;
          break;
        case 2:
          err = ENOPROTOOPT;
          break;
        case 3:
          err = ECONNREFUSED;
          break;
        case 4:
          err = EMSGSIZE;
          break;
        case 9:
        case 10:
        case 13:
          err = EACCES;
          break;
        default:
          err = EHOSTUNREACH;
          break;
      }
    }
    s->error_ = err;
    if (s->on_readable_) s->on_readable_(now);
    return;
  }
}

Result<size_t, int> UdpLayer::send(Instant now, UdpSocket& s, std::span<const uint8_t> data,
                                   Ipv4Addr dst, uint16_t port) {
  if (data.size() > kMaxPayload) return Err{EMSGSIZE};
  if (port == 0) return Err{EINVAL};
  if ((dst.is_broadcast()) && !s.broadcast_) return Err{EACCES};
  if (s.lport_ == 0) {
    if (auto r = bind(s, Ipv4Addr::any(), 0); !r) return Err{r.error()};
  }
  auto route = ip_.route_output(now, dst, s.oif_);
  if (!route) return Err{ip::ip_error_errno(route.error())};
  if (route->type == ip::RouteType::kBroadcast && !s.broadcast_) return Err{EACCES};
  Ipv4Addr src = s.laddr_.is_unspecified() ? route->src : s.laddr_;
  size_t len = wire::kUdpHeaderLen + data.size();
  PacketPtr pkt = pool_.alloc(BufferPool::kDefaultHeadroom, len);
  if (!pkt) {
    ++stats_.sndbuf_errors;
    return Err{ENOBUFS};
  }
  auto b = pkt->put(len);
  USTACK_ASSERT(b.ok(), "sized");
  std::copy(data.begin(), data.end(), b->begin() + wire::kUdpHeaderLen);
  wire::UdpRepr u{s.lport_, port};
  if (s.no_check_)
    u.emit_without_checksum(*b);
  else
    u.emit(*b, wire::Ipv4Pseudo{src, dst});
  pkt->set_transport_header();
  pkt->trace_id = tel_.new_packet_id();
  tel_.trace(now, Layer::kUdp, "udp_sendmsg", pkt->trace_id, [&] {
    return fmt::format("{}:{} > {}:{} len {}", src.to_string(), s.lport_, dst.to_string(), port,
                       data.size());
  });
  ip::OutArgs a;
  a.src = src;
  a.dst = dst;
  a.protocol = kUdp;
  a.ttl = s.ttl_;
  a.tos = s.tos_;
  a.oif = s.oif_;
  auto r = ip_.output(now, std::move(pkt), a);
  if (!r) return Err{ip::ip_error_errno(r.error())};
  ++stats_.out_datagrams;
  return data.size();
}

std::string UdpLayer::format() const {
  std::string out = "State   Recv-Q  Local Address:Port   Peer Address:Port\n";
  for (const auto& s : socks_) {
    if (s->lport_ == 0) continue;
    out += fmt::format("{:<7} {:<7} {:>15}:{:<5} {:>15}:{}\n", s->connected_ ? "ESTAB" : "UNCONN",
                       s->rx_mem_, s->laddr_.to_string(), s->lport_,
                       s->connected_ ? s->raddr_.to_string() : "0.0.0.0",
                       s->connected_ ? fmt::format("{}", s->rport_) : "*");
  }
  return out;
}

}  // namespace ustack::transport
