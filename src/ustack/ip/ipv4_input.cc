// ip/ipv4_input.cc — ip_rcv, ip_local_deliver and ip_forward.
#include <fmt/format.h>

#include "ustack/base/assert.h"
#include "ustack/ip/ipv4.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"

namespace ustack::ip {

using wire::Ipv4Addr;
using wire::Ipv4View;

namespace {
constexpr std::string_view kLoName = "lo";  // the hook name of looped-back traffic

// RFC 791 §3.1 option types that route the packet (LSRR, SSRR). Linux drops such packets
// unless accept_source_route is set (it is 0 by default on every interface).
bool has_source_route(std::span<const uint8_t> opts) {
  size_t i = 0;
  while (i < opts.size()) {
    uint8_t t = opts[i];
    if (t == 0) break;  // EOL
    if (t == 1) {       // NOP
      ++i;
      continue;
    }
    if (t == 0x83 || t == 0x89) return true;
    if (i + 1 >= opts.size() || opts[i + 1] < 2) break;  // the view validated lengths
    i += opts[i + 1];
  }
  return false;
}
}  // namespace

Ipv4Layer::Ipv4Layer(Deps d, link::LinkLayer& link, IpConfig cfg, Rng rng)
    : ifs_(d.ifs),
      arp_(d.arp),
      nf_(d.nf),
      fib_(d.fib),
      pool_(d.pool),
      tel_(d.tel),
      cfg_(cfg),
      rng_(std::move(rng)),
      reasm_(cfg.reasm, d.pool, d.tel, rng_.next_u64()),
      icmp_limit_(cfg.icmp_limit),
      ident_(static_cast<uint16_t>(rng_.below(65536))) {
  link.register_handler(wire::EtherType::kIpv4, this);
  // Resolution failed for a queued packet: RFC 1122 §2.3.2.2 says the sender should hear of
  // it; Linux's ipv4_link_failure sends ICMP host unreachable (to local senders too: the error
  // loops back and reaches the socket).
  arp_.set_unreachable_handler([this](Instant now, int, Ipv4Addr, const PacketBuffer& pkt) {
    icmp_send(now, pkt, wire::to_u8(wire::IcmpType::kDstUnreachable),
              static_cast<uint8_t>(wire::DstUnreachable::kHostUnreachable));
  });
  reasm_.set_timeout_handler([this](Instant now, const PacketBuffer& first) {
    // RFC 1122 §3.3.2: time exceeded, code 1, only if fragment zero arrived.
    icmp_send(now, first, wire::to_u8(wire::IcmpType::kTimeExceeded),
              static_cast<uint8_t>(wire::TimeExceeded::kFragReassembly));
  });
}

bool Ipv4Layer::run_hook(Instant now, filter::Hook h, std::string_view in, std::string_view out,
                         PacketPtr& pkt) {
  if (!nf_.active(h)) [[likely]]
    return true;
  filter::HookResult r = nf_.run(filter::HookState{h, in, out}, *pkt);
  if (r.verdict == filter::Verdict::kAccept) return true;
  tel_.drop(now, Layer::kIp, DropReason::kFilter, pkt->trace_id, [&] {
    return fmt::format("{} {} rule {}", filter::hook_name(h),
                       r.verdict == filter::Verdict::kDrop ? "DROP" : "REJECT", r.rule + 1);
  });
  if (r.verdict == filter::Verdict::kReject) {
    using filter::RejectWith;
    using wire::DstUnreachable;
    DstUnreachable code = DstUnreachable::kPortUnreachable;
    switch (r.reject_with) {
      case RejectWith::kIcmpNetUnreachable:
        code = DstUnreachable::kNetUnreachable;
        break;
      case RejectWith::kIcmpHostUnreachable:
        code = DstUnreachable::kHostUnreachable;
        break;
      case RejectWith::kIcmpPortUnreachable:
        code = DstUnreachable::kPortUnreachable;
        break;
      case RejectWith::kIcmpProtoUnreachable:
        code = DstUnreachable::kProtoUnreachable;
        break;
      case RejectWith::kIcmpNetProhibited:
        code = DstUnreachable::kNetProhibited;
        break;
      case RejectWith::kIcmpHostProhibited:
        code = DstUnreachable::kHostProhibited;
        break;
      case RejectWith::kIcmpAdminProhibited:
        code = DstUnreachable::kAdminProhibited;
        break;
      case RejectWith::kTcpReset:
        send_tcp_reset(now, *pkt);
        pkt.reset();
        return false;
    }
    // A REJECT on LOCAL_OUT/POST_ROUTING of our own packet reports to ourselves (looped back).
    icmp_send(now, *pkt, wire::to_u8(wire::IcmpType::kDstUnreachable), static_cast<uint8_t>(code));
  }
  pkt.reset();
  return false;
}

void Ipv4Layer::rcv(Instant now, link::Interface& iface, PacketPtr pkt) {
  ++stats_.in_receives;
  uint64_t id = pkt->trace_id;
  // RFC 1122 §3.2.1.1-2 / RFC 791: version, IHL, total length (Ipv4View::parse), checksum.
  auto v = Ipv4View::parse(pkt->data());
  if (!v) {
    ++stats_.in_hdr_errors;
    tel_.drop(now, Layer::kIp, wire::to_drop_reason(v.error()), id, [&] {
      return fmt::format("{}: {}", iface.name(), wire::wire_error_name(v.error()));
    });
    return;
  }
  if (!v->verify_checksum()) {
    ++stats_.in_hdr_errors;
    ++stats_.in_csum_errors;
    tel_.drop(now, Layer::kIp, DropReason::kBadChecksum, id,
              [&] { return fmt::format("{}: header checksum", iface.name()); });
    return;
  }
  // Cut link padding (a 60-byte minimum frame around a 28-byte ping).
  if (pkt->len() > v->total_len()) USTACK_ASSERT(pkt->trim(v->total_len()).ok(), "trim shorter");
  Ipv4Addr src = v->src();
  if (wire::ipv4_src_is_martian(src) || src.is_loopback() || iface.is_subnet_broadcast(src)) {
    // RFC 1812 §5.3.7: martian source addresses are never accepted from the wire.
    ++stats_.in_addr_errors;
    tel_.drop(now, Layer::kIp, DropReason::kMartianSource, id,
              [&] { return fmt::format("{}: source {}", iface.name(), src.to_string()); });
    return;
  }
  if (v->header_len() > wire::kIpv4MinHeaderLen && has_source_route(v->options())) {
    ++stats_.in_discards;
    tel_.drop(now, Layer::kIp, DropReason::kSourceRoute, id,
              [&] { return fmt::format("{}: from {}", iface.name(), src.to_string()); });
    return;
  }
  tel_.trace(now, Layer::kIp, "ip_rcv", id, [&] {
    return fmt::format("{} {} > {} proto {} len {} ttl {}{}", iface.name(), src.to_string(),
                       v->dst().to_string(), v->protocol(), v->total_len(), v->ttl(),
                       v->is_fragment() ? fmt::format(" frag off {} mf {}", v->frag_offset(),
                                                      v->more_frags() ? 1 : 0)
                                        : std::string());
  });
  if (!run_hook(now, filter::Hook::kPreRouting, iface.name(), {}, pkt)) return;
  rcv_finish(now, &iface, std::move(pkt));
}

bool Ipv4Layer::is_local_dest(const link::Interface* iface, Ipv4Addr dst) const {
  if (dst.is_broadcast() || fib_.is_local(dst)) return true;
  if (iface != nullptr && iface->is_subnet_broadcast(dst)) return true;
  // Multicast: 224.0.0.1 (all hosts, RFC 1112) is always joined. Other groups need IGMP
  // membership, which ustack does not implement yet (docs/conformance.md).
  return dst == Ipv4Addr::from_octets(224, 0, 0, 1);
}

// ip_rcv_finish: the routing decision of seed 000 ("本地 / 转发 / 丢弃").
void Ipv4Layer::rcv_finish(Instant now, link::Interface* iface, PacketPtr pkt) {
  Ipv4Addr dst{load_be32(pkt->data(), 16)};
  if (is_local_dest(iface, dst)) {
    local_deliver(now, iface, std::move(pkt));
    return;
  }
  if (iface == nullptr) {  // looped back yet not local: the address went away meanwhile
    ++stats_.in_addr_errors;
    tel_.drop(now, Layer::kIp, DropReason::kNoRoute, pkt->trace_id);
    return;
  }
  if (!cfg_.forwarding) {
    ++stats_.in_addr_errors;
    tel_.drop(now, Layer::kIp, DropReason::kNotForwarding, pkt->trace_id,
              [&] { return fmt::format("{}: dst {}", iface->name(), dst.to_string()); });
    return;
  }
  forward(now, *iface, std::move(pkt));
}

void Ipv4Layer::local_deliver(Instant now, link::Interface* iface, PacketPtr pkt) {
  auto v = Ipv4View::parse(pkt->data());
  USTACK_ASSERT(v.ok(), "validated in ip_rcv");
  if (v->is_fragment()) {
    // ip_defrag happens before LOCAL_IN: the hook sees whole datagrams (and their ports).
    pkt = reasm_.insert(now, std::move(pkt));
    if (!pkt) return;
    v = Ipv4View::parse(pkt->data());
    USTACK_ASSERT(v.ok(), "reassembled datagram is valid");
    tel_.trace(now, Layer::kIp, "ip_defrag", pkt->trace_id,
               [&] { return fmt::format("reassembled {} bytes", pkt->len()); });
  }
  std::string_view in = iface != nullptr ? std::string_view(iface->name()) : kLoName;
  if (!run_hook(now, filter::Hook::kLocalIn, in, {}, pkt)) return;
  uint8_t proto = v->protocol();
  size_t hlen = v->header_len();
  pkt->set_network_header();
  USTACK_ASSERT(pkt->pull(hlen).ok(), "header in the packet");
  pkt->set_transport_header();
  if (proto == wire::to_u8(wire::IpProto::kIcmp)) {
    ++stats_.in_delivers;
    icmp_rcv(now, std::move(pkt));
    return;
  }
  L4Handler* h = protos_[proto];
  if (h == nullptr) {
    ++stats_.in_unknown_protos;
    tel_.drop(now, Layer::kIp, DropReason::kUnknownProtocol, pkt->trace_id,
              [&] { return fmt::format("protocol {}", proto); });
    // RFC 1122 §3.2.2.1: protocol unreachable (icmp_send refuses broadcasts itself).
    USTACK_ASSERT(pkt->push(hlen).ok(), "header is still there");
    icmp_send(now, *pkt, wire::to_u8(wire::IcmpType::kDstUnreachable),
              static_cast<uint8_t>(wire::DstUnreachable::kProtoUnreachable));
    return;
  }
  ++stats_.in_delivers;
  h->rcv(now, std::move(pkt));
}

// ip_forward (RFC 1812 §5.2-5.3).
void Ipv4Layer::forward(Instant now, link::Interface& in, PacketPtr pkt) {
  uint64_t id = pkt->trace_id;
  if (pkt->pkt_type != PacketType::kHost) {
    // RFC 1812 §5.3.4: a link-level broadcast/multicast is not forwarded as unicast.
    ++stats_.in_addr_errors;
    tel_.drop(now, Layer::kIp, DropReason::kOtherHost, id,
              [&] { return std::string("link-level broadcast not forwarded"); });
    return;
  }
  auto v = Ipv4View::parse(pkt->data());
  USTACK_ASSERT(v.ok(), "validated in ip_rcv");
  Ipv4Addr dst = v->dst();
  uint8_t ttl = v->ttl();
  bool df = v->dont_frag();
  // RFC 1812 §5.3.1: a packet whose TTL would reach zero is discarded with time exceeded.
  if (ttl <= 1) {
    ++stats_.in_hdr_errors;  // Linux's ip_forward counts too_many_hops here
    tel_.drop(now, Layer::kIp, DropReason::kTtlExpired, id,
              [&] { return fmt::format("ttl {} to {}", ttl, dst.to_string()); });
    icmp_send(now, *pkt, wire::to_u8(wire::IcmpType::kTimeExceeded),
              static_cast<uint8_t>(wire::TimeExceeded::kTtlExceeded));
    return;
  }
  auto r = fib_.lookup(dst);
  if (!r || r->type != RouteType::kUnicast) {
    RouteType t = r ? r->type : RouteType::kUnreachable;
    ++stats_.in_addr_errors;
    tel_.drop(now, Layer::kIp, DropReason::kNoRoute, id,
              [&] { return fmt::format("{} ({})", dst.to_string(), route_type_name(t)); });
    if (t == RouteType::kBlackhole || t == RouteType::kBroadcast) return;
    using wire::DstUnreachable;
    DstUnreachable code = t == RouteType::kProhibit ? DstUnreachable::kAdminProhibited
                                                    : DstUnreachable::kNetUnreachable;
    icmp_send(now, *pkt, wire::to_u8(wire::IcmpType::kDstUnreachable), static_cast<uint8_t>(code));
    return;
  }
  link::Interface* out = ifs_.get(r->ifindex);
  if (out == nullptr || !out->is_up()) {
    ++stats_.out_discards;
    tel_.drop(now, Layer::kIp, DropReason::kNoRoute, id);
    return;
  }
  if (!run_hook(now, filter::Hook::kForward, in.name(), out->name(), pkt)) return;
  // RFC 1191 §3 / RFC 1812 §5.2.6: DF and too big for the next hop: fragmentation needed,
  // carrying the next-hop MTU, and drop. Checked before the TTL write so the quote shows the
  // datagram as it arrived.
  uint32_t mtu = out->mtu();
  if (ip_wire_len(*pkt) > mtu && df) {
    ++frag_stats_.frag_fails;
    tel_.drop(now, Layer::kIp, DropReason::kFragNeeded, id,
              [&] { return fmt::format("len {} > mtu {} with DF", pkt->len(), mtu); });
    icmp_send(now, *pkt, wire::to_u8(wire::IcmpType::kDstUnreachable),
              static_cast<uint8_t>(wire::DstUnreachable::kFragNeeded),
              static_cast<uint16_t>(std::min<uint32_t>(mtu, 0xffff)));
    return;
  }
  // TTL - 1 with the RFC 1624 incremental checksum, in place (copy-on-write if shared).
  auto bytes = pkt->mutable_data();
  if (!bytes) {
    ++stats_.out_discards;
    tel_.drop(now, Layer::kIp, DropReason::kNoBuffer, id);
    return;
  }
  wire::ipv4_decrement_ttl(*bytes);
  ++stats_.forw_datagrams;
  tel_.trace(now, Layer::kIp, "ip_forward", id, [&] {
    return fmt::format("{} > {} via {} dev {} ttl {}", in.name(), dst.to_string(),
                       r->next_hop.to_string(), out->name(), ttl - 1);
  });
  finish_output(now, *out, r->next_hop, mtu, std::move(pkt), in.name());
}

}  // namespace ustack::ip
