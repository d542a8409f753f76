// link/arp.cc — ARP input (Linux's arp_rcv/arp_process), requests (arp_solicit), replies,
// gratuitous announcements, and IPv4 next-hop output through the neighbour table.
#include "ustack/link/arp.h"

#include <fmt/format.h>

#include "ustack/base/assert.h"
#include "ustack/wire/arp.h"

namespace ustack::link {
namespace {

// RFC 1112 §6.4: 01:00:5e followed by the low 23 bits of the group address.
wire::MacAddr ipv4_multicast_mac(wire::Ipv4Addr group) {
  return wire::MacAddr{{0x01, 0x00, 0x5e, static_cast<uint8_t>((group.v >> 16) & 0x7f),
                        static_cast<uint8_t>(group.v >> 8), static_cast<uint8_t>(group.v)}};
}

std::string_view op_name(wire::ArpOp op) {
  return op == wire::ArpOp::kRequest ? "request" : "reply";
}

// One drop in arp_rcv: counted in our stats and in the stack's drop counters, traced.
template <class DetailFn>
void arp_drop(Telemetry& tel, ArpStats& st, Instant now, DropReason why, uint64_t id,
              DetailFn&& detail) {
  ++st.rx_dropped;
  tel.drop(now, Layer::kArp, why, id, std::forward<DetailFn>(detail));
}

}  // namespace

Arp::Arp(LinkLayer& link, InterfaceTable& ifs, BufferPool& pool, Telemetry& tel, NeighConfig cfg,
         Rng rng)
    : link_(link),
      ifs_(ifs),
      pool_(pool),
      tel_(tel),
      neigh_(cfg, rng, tel, static_cast<NeighbourTable::Hooks&>(*this)) {
  link_.register_handler(wire::EtherType::kArp, this);
}

void Arp::rcv(Instant now, Interface& iface, PacketPtr pkt) {
  const uint64_t id = pkt->trace_id;
  // Ethernet/IPv4 only; a well-formed ARP for other hardware or protocols, or an opcode
  // other than request/reply (RARP, InARP), is not an error but not ours either.
  auto reason = [](wire::WireError e) {
    return e == wire::WireError::kUnsupported ? DropReason::kArpIgnored : wire::to_drop_reason(e);
  };
  auto view = wire::ArpView::parse(pkt->data());
  if (!view) {
    return arp_drop(tel_, stats_, now, reason(view.error()), id, [&] {
      return fmt::format("{}: {}", iface.name(), wire::wire_error_name(view.error()));
    });
  }
  auto parsed = wire::ArpRepr::parse(*view);
  if (!parsed) {
    return arp_drop(tel_, stats_, now, reason(parsed.error()), id,
                    [&] { return fmt::format("{}: opcode {}", iface.name(), view->op()); });
  }
  const wire::ArpRepr& a = *parsed;
  const bool request = a.op == wire::ArpOp::kRequest;
  ++(request ? stats_.rx_requests : stats_.rx_replies);
  tel_.trace(now, Layer::kArp, "arp_rcv", id, [&] {
    return fmt::format("{} {} who-has {} tell {} ({})", iface.name(), op_name(a.op),
                       a.target_ip.to_string(), a.sender_ip.to_string(), a.sender_hw.to_string());
  });
  auto ignore = [&](std::string_view why) {
    arp_drop(tel_, stats_, now, DropReason::kArpIgnored, id,
             [&] { return fmt::format("{}: {}", iface.name(), why); });
  };

  // A sender MAC that cannot be a station's: our own frame looped back, or a group address
  // (caching it would send unicast IP to a group).
  if (a.sender_hw == iface.mac()) return ignore("sender MAC is ours (looped back)");
  if (a.sender_hw.is_multicast()) return ignore("sender MAC is multicast/broadcast");
  // Martian sender or target addresses (arp_process, ip_route_input's martian checks).
  const wire::Ipv4Addr sip = a.sender_ip;
  const wire::Ipv4Addr tip = a.target_ip;
  if (sip.is_multicast() || sip.is_broadcast() || sip.is_loopback() ||
      iface.is_subnet_broadcast(sip)) {
    return ignore("sender IP is multicast/broadcast/loopback");
  }
  if (tip.is_multicast() || tip.is_loopback()) return ignore("target IP is multicast/loopback");

  // RFC 5227 §2.1.1 probe (sender 0.0.0.0): answer if it asks for our address, learn nothing.
  if (sip.is_unspecified()) {
    if (request && iface.has_addr(tip)) {
      // As Linux: reply to the prober's MAC, target protocol address 0.0.0.0.
      if (send(now, iface, wire::ArpRepr{wire::ArpOp::kReply, iface.mac(), tip, a.sender_hw, sip},
               a.sender_hw)) {
        ++stats_.tx_replies;
      }
    }
    return;
  }
  // Someone else uses one of our addresses (RFC 5227 §2.4 conflict): never cache it.
  if (iface.has_addr(sip)) {
    ++stats_.duplicate_address;
    return arp_drop(tel_, stats_, now, DropReason::kDuplicateAddress, id, [&] {
      return fmt::format("{}: {} claims {}", iface.name(), a.sender_hw.to_string(),
                         sip.to_string());
    });
  }
  const int ifindex = iface.ifindex();
  if (request && iface.has_addr(tip)) {
    // RFC 826 merge + reply. arp_ignore=1: only addresses of the receiving interface.
    neigh_.update(now, ifindex, sip, a.sender_hw, NeighbourTable::Update::kRequestToUs);
    if (send(now, iface, wire::ArpRepr{wire::ArpOp::kReply, iface.mac(), tip, a.sender_hw, sip},
             a.sender_hw)) {
      ++stats_.tx_replies;
    }
    return;
  }
  // Broadcast replies do not assert reachability (arp_process: PACKET_HOST only); requests
  // for other hosts and gratuitous ARP refresh an entry we already have, never create one.
  const bool reply_to_us = !request && pkt->pkt_type == PacketType::kHost;
  neigh_.update(now, ifindex, sip, a.sender_hw,
                reply_to_us ? NeighbourTable::Update::kReply : NeighbourTable::Update::kOther);
}

bool Arp::send(Instant now, Interface& iface, const wire::ArpRepr& r, wire::MacAddr dst) {
  PacketPtr p = pool_.alloc(BufferPool::kDefaultHeadroom, wire::kArpLen);
  if (p == nullptr) {
    tel_.drop(now, Layer::kArp, DropReason::kNoBuffer, 0,
              [&] { return fmt::format("{}: ARP {}", iface.name(), op_name(r.op)); });
    return false;
  }
  auto bytes = p->put(wire::kArpLen);
  USTACK_ASSERT(bytes.ok(), "alloc sized for an ARP packet");
  r.emit(*bytes);
  p->trace_id = tel_.new_packet_id();
  tel_.trace(now, Layer::kArp, r.op == wire::ArpOp::kRequest ? "arp_request" : "arp_reply",
             p->trace_id, [&] {
               return fmt::format("{} {} {} is-at/tell {} -> {} ({})", iface.name(), op_name(r.op),
                                  r.sender_ip.to_string(), r.sender_hw.to_string(),
                                  r.target_ip.to_string(), dst.to_string());
             });
  return link_.output(now, iface, dst, wire::EtherType::kArp, std::move(p));
}

void Arp::output(Instant now, Interface& iface, wire::Ipv4Addr next_hop, PacketPtr pkt) {
  // No resolution for broadcast and multicast next hops: the MAC follows from the address.
  if (next_hop.is_broadcast() || iface.is_subnet_broadcast(next_hop)) {
    link_.output(now, iface, wire::MacAddr::broadcast(), wire::EtherType::kIpv4, std::move(pkt));
    return;
  }
  if (next_hop.is_multicast()) {
    link_.output(now, iface, ipv4_multicast_mac(next_hop), wire::EtherType::kIpv4, std::move(pkt));
    return;
  }
  neigh_.output(now, iface.ifindex(), next_hop, std::move(pkt));
}

void Arp::announce(Instant now, Interface& iface, wire::Ipv4Addr addr) {
  // RFC 5227 §3 / Linux arp_send(ARPOP_REQUEST, ..., addr, dev, addr, NULL, ...): a request
  // with sender == target and a zero target MAC, broadcast.
  if (send(now, iface, wire::ArpRepr{wire::ArpOp::kRequest, iface.mac(), addr, {}, addr},
           wire::MacAddr::broadcast())) {
    ++stats_.tx_gratuitous;
  }
}

// arp_solicit. The sender address is the waiting packet's source if it is one of this
// interface's addresses, else the address Linux's inet_select_addr picks. An interface with
// no IPv4 address sends nothing (Linux would send sender 0.0.0.0, which reads as a probe):
// traced, not a drop, since no packet is lost here; the queued ones fail after the retries.
void Arp::solicit(Instant now, const NeighEntry& e, bool unicast,
                  std::optional<wire::Ipv4Addr> saddr_hint) {
  Interface* iface = ifs_.get(e.ifindex);
  if (iface == nullptr) return;
  std::optional<wire::Ipv4Addr> src;
  if (saddr_hint && iface->has_addr(*saddr_hint)) {
    src = saddr_hint;
  } else {
    src = iface->select_src(e.ip);
  }
  if (!src) {
    tel_.trace(now, Layer::kArp, "arp_solicit_skip", 0, [&] {
      return fmt::format("{}: no IPv4 address to ask for {}", iface->name(), e.ip.to_string());
    });
    return;
  }
  const wire::MacAddr dst = unicast ? e.mac : wire::MacAddr::broadcast();
  if (send(now, *iface, wire::ArpRepr{wire::ArpOp::kRequest, iface->mac(), *src, {}, e.ip}, dst)) {
    ++stats_.tx_requests;
  }
}

void Arp::xmit(Instant now, int ifindex, wire::MacAddr mac, PacketPtr pkt) {
  Interface* iface = ifs_.get(ifindex);
  if (iface == nullptr) {  // interfaces are never removed; a foreign ifindex is a caller bug
    tel_.drop(now, Layer::kArp, DropReason::kNotSpecified, pkt->trace_id,
              [&] { return fmt::format("no interface {}", ifindex); });
    return;
  }
  link_.output(now, *iface, mac, wire::EtherType::kIpv4, std::move(pkt));
}

void Arp::unreachable(Instant now, int ifindex, wire::Ipv4Addr next_hop, const PacketBuffer& pkt) {
  if (unreachable_) unreachable_(now, ifindex, next_hop, pkt);
}

}  // namespace ustack::link
