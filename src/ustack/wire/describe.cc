#include "ustack/wire/describe.h"

#include <fmt/format.h>

#include <variant>

#include "ustack/wire/arp.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

namespace ustack::wire {
namespace {

std::string bad(std::string_view what, WireError e) {
  return fmt::format("{} [{}]", what, wire_error_name(e));
}

std::string describe_arp(std::span<const uint8_t> b) {
  auto v = ArpView::parse(b);
  if (!v) return bad("ARP", v.error());
  auto r = ArpRepr::parse(*v);
  if (!r) return bad("ARP", r.error());
  if (r->op == ArpOp::kRequest) {
    return fmt::format("ARP, Request who-has {} tell {}{}", r->target_ip.to_string(),
                       r->sender_ip.to_string(), r->is_gratuitous() ? " (gratuitous)" : "");
  }
  return fmt::format("ARP, Reply {} is-at {}", r->sender_ip.to_string(), r->sender_hw.to_string());
}

std::string tcp_options(const TcpOptions& o) {
  std::string s;
  auto add = [&](const std::string& x) { s += (s.empty() ? "" : ",") + x; };
  if (o.mss) add(fmt::format("mss {}", *o.mss));
  if (o.sack_permitted) add("sackOK");
  if (o.timestamps) add(fmt::format("TS val {} ecr {}", o.timestamps->tsval, o.timestamps->tsecr));
  if (o.window_scale) add(fmt::format("wscale {}", *o.window_scale));
  if (o.sack.size() > 0) {
    std::string blocks;
    for (const SackBlock& b : o.sack) blocks += fmt::format(" {{{}:{}}}", b.left.v, b.right.v);
    add("sack " + std::to_string(o.sack.size()) + blocks);
  }
  return s.empty() ? "" : fmt::format(", options [{}]", s);
}

std::string describe_l4(const Ipv4View& ip, const std::string& src, const std::string& dst) {
  const Ipv4Pseudo ph{ip.src(), ip.dst()};
  // A first fragment holds only part of the L4 message: its checksum cannot be checked yet.
  const Checksum ck = ip.is_fragment() ? Checksum::kIgnore : Checksum::kVerify;
  switch (ip.protocol()) {
    case to_u8(IpProto::kUdp): {
      auto v = UdpView::parse(ip.payload());
      if (!v) return bad(fmt::format("{} > {}: UDP", src, dst), v.error());
      auto r = UdpRepr::parse(*v, ph, ck);
      if (!r) return bad(fmt::format("{} > {}: UDP", src, dst), r.error());
      return fmt::format("{}.{} > {}.{}: UDP, length {}", src, r->src_port, dst, r->dst_port,
                         v->payload().size());
    }
    case to_u8(IpProto::kTcp): {
      auto v = TcpView::parse(ip.payload());
      if (!v) return bad(fmt::format("{} > {}: TCP", src, dst), v.error());
      auto r = TcpRepr::parse(*v, ph, ck);
      if (!r) return bad(fmt::format("{} > {}: TCP", src, dst), r.error());
      std::string s = fmt::format("{}.{} > {}.{}: Flags {}, seq {}", src, r->src_port, dst,
                                  r->dst_port, r->flags.to_string(), r->seq.v);
      if (r->flags.ack()) s += fmt::format(", ack {}", r->ack.v);
      s += fmt::format(", win {}{}, length {}", r->window, tcp_options(r->options),
                       v->payload().size());
      return s;
    }
    case to_u8(IpProto::kIcmp): {
      auto v = IcmpView::parse(ip.payload());
      if (!v) return bad(fmt::format("{} > {}: ICMP", src, dst), v.error());
      auto r = IcmpRepr::parse(*v, ck);
      if (!r) return bad(fmt::format("{} > {}: ICMP", src, dst), r.error());
      const std::string head = fmt::format("{} > {}: ICMP ", src, dst);
      return head + std::visit(
                        [&](const auto& m) -> std::string {
                          using M = std::decay_t<decltype(m)>;
                          if constexpr (std::is_same_v<M, IcmpEchoRequest>) {
                            return fmt::format("echo request, id {}, seq {}, length {}", m.ident,
                                               m.seq_no, v->bytes().size());
                          } else if constexpr (std::is_same_v<M, IcmpEchoReply>) {
                            return fmt::format("echo reply, id {}, seq {}, length {}", m.ident,
                                               m.seq_no, v->bytes().size());
                          } else if constexpr (std::is_same_v<M, IcmpDstUnreachable>) {
                            std::string s =
                                fmt::format("{} unreachable (code {})", m.quote.dst().to_string(),
                                            static_cast<int>(m.code));
                            if (m.code == DstUnreachable::kFragNeeded) {
                              s += fmt::format(", need to frag (mtu {})", m.next_hop_mtu);
                            }
                            return s;
                          } else if constexpr (std::is_same_v<M, IcmpTimeExceeded>) {
                            return m.code == TimeExceeded::kTtlExceeded
                                       ? "time exceeded in-transit"
                                       : "ip reassembly time exceeded";
                          } else {
                            return fmt::format("type {}, code {}", m.type, m.code);
                          }
                        },
                        r->msg);
    }
    default:
      return fmt::format("{} > {}: ip-proto-{} {}", src, dst, ip.protocol(), ip.payload().size());
  }
}

}  // namespace

std::string describe_ipv4(std::span<const uint8_t> datagram) {
  auto v = Ipv4View::parse(datagram);
  if (!v) return bad("IPv4", v.error());
  auto r = Ipv4Repr::parse(*v);
  if (!r) return bad("IPv4", r.error());
  const std::string src = v->src().to_string();
  const std::string dst = v->dst().to_string();
  std::string s = "IPv4 ";
  if (v->is_fragment() && v->frag_offset() != 0) {  // not the first fragment: no L4 header
    return s + fmt::format("{} > {}: ip-proto-{} (frag {}:{}@{}{})", src, dst, v->protocol(),
                           v->ident(), v->payload().size(), v->frag_offset(),
                           v->more_frags() ? "+" : "");
  }
  s += describe_l4(*v, src, dst);
  if (v->is_fragment()) {
    s += fmt::format(" (frag {}:{}@0+)", v->ident(), v->payload().size());
  }
  if (v->ttl() <= 1) s += fmt::format(" (ttl {})", v->ttl());
  return s;
}

std::string describe_frame(std::span<const uint8_t> frame) {
  auto eth = EthernetView::parse(frame);
  if (!eth) return bad("Ethernet", eth.error());
  std::string s = fmt::format("{} > {}, ", eth->src().to_string(), eth->dst().to_string());
  if (auto tag = eth->vlan()) s += fmt::format("vlan {}, p {}, ", tag->vid, tag->pcp);
  switch (eth->ethertype()) {
    case to_u16(EtherType::kArp):
      return s + describe_arp(eth->payload());
    case to_u16(EtherType::kIpv4):
      return s + describe_ipv4(eth->payload());
    default:
      return s + fmt::format("ethertype 0x{:04x}, length {}", eth->ethertype(), frame.size());
  }
}

}  // namespace ustack::wire
