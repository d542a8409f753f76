// ip/ipv4_output.cc — ip_route_output, ip_queue_xmit, ip_finish_output, the loopback backlog.
#include <fmt/format.h>

#include <cerrno>

#include "ustack/base/assert.h"
#include "ustack/dev/gso.h"
#include "ustack/ip/ipv4.h"
#include "ustack/wire/ipv4.h"

namespace ustack::ip {

using wire::Ipv4Addr;

namespace {
constexpr uint32_t kLoopbackMtu = 65536;  // Linux's lo
constexpr std::string_view kLoName = "lo";
}  // namespace

std::string_view ip_error_name(IpError e) {
  switch (e) {
    case IpError::kNetUnreachable:
      return "network unreachable";
    case IpError::kHostUnreachable:
      return "host unreachable";
    case IpError::kMsgSize:
      return "message too long";
    case IpError::kNoBuffer:
      return "no buffer space";
    case IpError::kFiltered:
      return "operation not permitted (filtered)";
    case IpError::kNoAddress:
      return "cannot assign requested address";
  }
  return "?";
}

int ip_error_errno(IpError e) {
  switch (e) {
    case IpError::kNetUnreachable:
      return ENETUNREACH;
    case IpError::kHostUnreachable:
      return EHOSTUNREACH;
    case IpError::kMsgSize:
      return EMSGSIZE;
    case IpError::kNoBuffer:
      return ENOBUFS;
    case IpError::kFiltered:
      return EPERM;
    case IpError::kNoAddress:
      return EADDRNOTAVAIL;
  }
  return EINVAL;
}

size_t ip_wire_len(const PacketBuffer& pkt) {
  if (!pkt.is_gso()) [[likely]]
    return pkt.len();
  const auto d = pkt.data();
  const size_t ihl = d.empty() ? 0 : size_t{d[0] & 0x0fu} * 4;
  if (ihl < wire::kIpv4MinHeaderLen || ihl + 20 > d.size()) return pkt.len();
  const size_t hlen = ihl + static_cast<size_t>(d[ihl + 12] >> 4) * 4;
  return std::min(pkt.len(), hlen + pkt.gso_size);
}

std::optional<uint32_t> Ipv4Layer::pmtu(Instant now, Ipv4Addr dst) const {
  auto it = pmtu_.find(dst.v);
  if (it == pmtu_.end() || it->second.expires <= now) return std::nullopt;
  return it->second.mtu;
}

Result<RouteInfo, IpError> Ipv4Layer::route_output(Instant now, Ipv4Addr dst, int oif) const {
  RouteInfo ri;
  if (fib_.is_local(dst) || dst.is_loopback()) {
    // Our own address: delivered through the loopback backlog; the source is the address
    // itself (as Linux picks for local destinations).
    ri.type = RouteType::kLocal;
    ri.next_hop = dst;
    ri.src = dst;
    ri.mtu = kLoopbackMtu;
    return ri;
  }
  auto r = fib_.lookup(dst);
  if (oif != 0) {
    // Bound to a device: a route through it if there is one, else treat the destination as
    // directly connected there (Linux's behaviour for SO_BINDTODEVICE / IP_PKTINFO).
    if (!r || r->ifindex != oif) {
      ri.type = dst.is_broadcast() ? RouteType::kBroadcast : RouteType::kUnicast;
      ri.ifindex = oif;
      ri.next_hop = dst;
      r.reset();
    }
  }
  if (r) {
    switch (r->type) {
      case RouteType::kUnreachable:
        return Err{IpError::kHostUnreachable};
      case RouteType::kProhibit:
        return Err{IpError::kFiltered};
      case RouteType::kBlackhole:
      case RouteType::kUnicast:
      case RouteType::kBroadcast:
      case RouteType::kLocal:
        break;
    }
    ri.type = r->type;
    ri.ifindex = r->ifindex;
    ri.next_hop = r->next_hop;
    ri.src = r->prefsrc;
  } else if (oif == 0) {
    return Err{IpError::kNetUnreachable};
  }
  if (ri.type == RouteType::kBroadcast && ri.ifindex == 0) {
    // 255.255.255.255 without a bound device: the default route's device (as Linux), else
    // the first interface with an address.
    if (auto d = fib_.lookup(Ipv4Addr::from_octets(0, 0, 0, 1)); d && d->ifindex != 0) {
      ri.ifindex = d->ifindex;
    } else {
      for (const auto& i : ifs_.all())
        if (!i->addrs().empty()) {
          ri.ifindex = i->ifindex();
          break;
        }
    }
    ri.next_hop = dst;
  }
  const link::Interface* out = ifs_.get(ri.ifindex);
  if (out == nullptr) return Err{IpError::kNetUnreachable};
  if (ri.src.is_unspecified()) {
    auto s = out->select_src(ri.next_hop);
    if (!s) s = out->select_src(dst);
    if (s) ri.src = *s;
  }
  ri.mtu = out->mtu();
  ri.features = out->dev().features();
  if (auto p = pmtu(now, dst)) ri.mtu = std::min(ri.mtu, *p);
  return ri;
}

Result<void, IpError> Ipv4Layer::output(Instant now, PacketPtr pkt, const OutArgs& a) {
  auto route = route_output(now, a.dst, a.oif);
  if (!route) {
    ++stats_.out_no_routes;
    tel_.drop(now, Layer::kIp, DropReason::kNoRoute, pkt->trace_id, [&] {
      return fmt::format("output to {}: {}", a.dst.to_string(), ip_error_name(route.error()));
    });
    return Err{route.error()};
  }
  Ipv4Addr src = a.src.is_unspecified() ? route->src : a.src;
  if (src.is_unspecified()) {
    ++stats_.out_discards;
    tel_.drop(now, Layer::kIp, DropReason::kNoRoute, pkt->trace_id,
              [&] { return std::string("no source address"); });
    return Err{IpError::kNoAddress};
  }
  const size_t total = pkt->len() + wire::kIpv4MinHeaderLen;
  // A GSO packet goes out as segments: each of them must fit (and the whole in 16 bits).
  const size_t wire_len =
      pkt->is_gso() && pkt->len() > 12
          ? std::min<size_t>(total, wire::kIpv4MinHeaderLen +
                                        static_cast<size_t>(pkt->data()[12] >> 4) * 4 +
                                        pkt->gso_size)
          : total;
  if (total > 0xffff || (a.dont_frag && wire_len > route->mtu)) {
    ++stats_.out_discards;
    return Err{IpError::kMsgSize};
  }
  // Room for our header and every link header below it (skb_cow_head).
  if (pkt->headroom() < wire::kIpv4MinHeaderLen + 32) {
    auto copy = pkt->copy_expand(BufferPool::kDefaultHeadroom);
    if (!copy) {
      ++stats_.out_discards;
      tel_.drop(now, Layer::kIp, DropReason::kNoBuffer, pkt->trace_id);
      return Err{IpError::kNoBuffer};
    }
    pkt = std::move(*copy);
  }
  auto hdr = pkt->push(wire::kIpv4MinHeaderLen);
  if (!hdr) {
    ++stats_.out_discards;
    return Err{IpError::kNoBuffer};
  }
  wire::Ipv4Repr ip;
  ip.src = src;
  ip.dst = a.dst;
  ip.protocol = a.protocol;
  ip.ttl = a.ttl != 0 ? a.ttl : cfg_.default_ttl;
  ip.dscp = static_cast<uint8_t>(a.tos >> 2);
  ip.ecn = static_cast<uint8_t>(a.tos & 3);
  ip.ident = ident_++;
  ip.dont_frag = a.dont_frag;
  ip.payload_len = static_cast<uint16_t>(pkt->len() - wire::kIpv4MinHeaderLen);
  ip.emit(*hdr);
  pkt->set_network_header();
  pkt->protocol = wire::to_u16(wire::EtherType::kIpv4);
  pkt->pkt_type = PacketType::kOutgoing;
  if (pkt->trace_id == 0) pkt->trace_id = tel_.new_packet_id();
  ++stats_.out_requests;
  tel_.trace(now, Layer::kIp, "ip_output", pkt->trace_id, [&] {
    return fmt::format("{} > {} proto {} len {} via {} ({})", src.to_string(), a.dst.to_string(),
                       a.protocol, pkt->len(), route->next_hop.to_string(),
                       route_type_name(route->type));
  });
  if (route->type == RouteType::kBlackhole) {  // dst_discard_out: silently eaten
    tel_.drop(now, Layer::kIp, DropReason::kNoRoute, pkt->trace_id,
              [] { return std::string("blackhole route"); });
    return Ok();
  }
  if (route->type == RouteType::kLocal) {
    if (!run_hook(now, filter::Hook::kLocalOut, {}, kLoName, pkt)) return Err{IpError::kFiltered};
    if (!run_hook(now, filter::Hook::kPostRouting, {}, kLoName, pkt))
      return Err{IpError::kFiltered};
    loopback(now, std::move(pkt));
    return Ok();
  }
  link::Interface* out = ifs_.get(route->ifindex);
  USTACK_ASSERT(out != nullptr, "route_output checked the interface");
  if (!run_hook(now, filter::Hook::kLocalOut, {}, out->name(), pkt)) return Err{IpError::kFiltered};
  finish_output(now, *out, route->next_hop, route->mtu, std::move(pkt), {});
  return Ok();
}

// ip_finish_output: POST_ROUTING, then fragment to `mtu` if needed (the DF cases were refused
// by the callers), then the neighbour layer.
void Ipv4Layer::finish_output(Instant now, link::Interface& out, Ipv4Addr next_hop, uint32_t mtu,
                              PacketPtr pkt, std::string_view in_name) {
  if (!run_hook(now, filter::Hook::kPostRouting, in_name, out.name(), pkt)) return;
  if (ip_wire_len(*pkt) <= mtu) [[likely]] {  // GSO: its segments fit (ip_finish_output_gso)
    xmit_one(now, out, next_hop, std::move(pkt));
    return;
  }
  if (pkt->ip_summed == CsumState::kPartial && !pkt->is_gso()) {
    // Fragments cannot carry a partial checksum: finish it first.
    if (auto r = dev::skb_checksum_help(*pkt); !r) {
      ++stats_.out_discards;
      tel_.drop(now, Layer::kIp, DropReason::kBadOffload, pkt->trace_id);
      return;
    }
  }
  if (pkt->is_gso()) {
    // Segments that do not fit (a forwarded GSO packet without DF onto a smaller MTU): rare
    // enough not to deserve a software segment-then-fragment path.
    ++stats_.out_discards;
    tel_.drop(now, Layer::kIp, DropReason::kBadOffload, pkt->trace_id, [&] {
      return fmt::format("offloaded packet of {} bytes for mtu {}", pkt->len(), mtu);
    });
    return;
  }
  uint64_t id = pkt->trace_id;
  auto r = ip_fragment(
      *pkt, mtu, pool_, BufferPool::kDefaultHeadroom, frag_stats_,
      [&](PacketPtr frag) { xmit_one(now, out, next_hop, std::move(frag)); },
      /*ignore_df=*/true);
  if (!r) {
    ++stats_.out_discards;
    tel_.drop(now, Layer::kIp,
              r.error() == FragError::kNoMemory ? DropReason::kNoBuffer : DropReason::kFragNeeded,
              id, [&] { return fmt::format("fragmenting {} bytes for mtu {}", pkt->len(), mtu); });
    return;
  }
  tel_.trace(now, Layer::kIp, "ip_fragment", id,
             [&] { return fmt::format("{} bytes into mtu {}", pkt->len(), mtu); });
}

void Ipv4Layer::xmit_one(Instant now, link::Interface& out, Ipv4Addr next_hop, PacketPtr pkt) {
  arp_.output(now, out, next_hop, std::move(pkt));
}

void Ipv4Layer::loopback(Instant now, PacketPtr pkt) {
  tel_.trace(now, Layer::kIp, "loopback", pkt->trace_id);
  pkt->ifindex = 0;
  pkt->pkt_type = PacketType::kHost;
  backlog_.push_back(std::move(pkt));
}

// process_backlog for the loopback "device": packets we sent to ourselves.
bool Ipv4Layer::poll(Instant now) {
  size_t n = backlog_.size();
  for (size_t i = 0; i < n; ++i) {
    PacketPtr pkt = backlog_.pop_front();
    ++stats_.in_receives;
    if (!run_hook(now, filter::Hook::kPreRouting, kLoName, {}, pkt)) continue;
    rcv_finish(now, nullptr, std::move(pkt));
  }
  return n > 0;
}

Instant Ipv4Layer::next_deadline() const { return reasm_.next_deadline(); }

void Ipv4Layer::on_timer(Instant now) {
  reasm_.on_timer(now);
  std::erase_if(pmtu_, [&](const auto& p) { return p.second.expires <= now; });
}

}  // namespace ustack::ip
