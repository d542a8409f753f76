// ip/nf_reject.cc — `-j REJECT --reject-with tcp-reset` (Linux's nf_send_reset in
// net/ipv4/netfilter/nf_reject_ipv4.c): the filter answers a TCP segment with the RST a closed
// port would send (RFC 9293 §3.10.7.1), built here because netfilter sits below TCP.
#include <fmt/format.h>

#include "ustack/ip/ipv4.h"
#include "ustack/wire/tcp.h"

namespace ustack::ip {

using wire::Ipv4Addr;

void Ipv4Layer::send_tcp_reset(Instant now, const PacketBuffer& offending) {
  const uint64_t id = offending.trace_id;
  auto refuse = [&](const char* why) {
    tel_.trace(now, Layer::kIp, "tcp_reset_refused", id, [&] { return std::string(why); });
  };
  auto v = wire::Ipv4View::parse(offending.data());
  if (!v) return refuse("bad IPv4 header");
  // nf_reject_ip_tcphdr_get: only a whole, first fragment of a TCP segment that checks out.
  if (v->protocol() != wire::to_u8(wire::IpProto::kTcp)) return refuse("not TCP");
  if (v->frag_offset() != 0 || v->more_frags()) return refuse("a fragment");
  const Ipv4Addr src = v->src();
  const Ipv4Addr dst = v->dst();
  if (dst.is_broadcast() || dst.is_multicast() || src.is_unspecified() ||
      wire::ipv4_src_is_martian(src))
    return refuse("broadcast, multicast or invalid source");
  auto t = wire::TcpView::parse(v->payload());
  if (!t) return refuse("truncated TCP header");
  if (!t->checksum_ok(wire::Ipv4Pseudo{src, dst})) return refuse("bad TCP checksum");
  const wire::TcpFlags f = t->flags();
  if (f.rst()) return refuse("never a RST for a RST");
  wire::TcpRepr r;
  r.src_port = t->dst_port();
  r.dst_port = t->src_port();
  if (f.ack()) {
    r.seq = t->ack();
    r.flags = wire::TcpFlags{wire::TcpFlag::kRst};
  } else {
    const uint32_t len =
        static_cast<uint32_t>(t->payload().size()) + (f.syn() ? 1 : 0) + (f.fin() ? 1 : 0);
    r.ack = t->seq() + len;
    r.flags = wire::TcpFlags{wire::TcpFlag::kRst, wire::TcpFlag::kAck};
  }
  PacketPtr pkt = pool_.alloc(BufferPool::kDefaultHeadroom, r.header_len());
  if (!pkt) return refuse("no buffer");
  auto b = pkt->put(r.header_len());
  if (!b) return;
  r.emit(*b, wire::Ipv4Pseudo{dst, src});
  pkt->set_transport_header();
  pkt->trace_id = tel_.new_packet_id();
  tel_.trace(now, Layer::kIp, "nf_send_reset", pkt->trace_id, [&] {
    return fmt::format("{}:{} > {}:{} {}", dst.to_string(), r.src_port, src.to_string(), r.dst_port,
                       r.flags.to_string());
  });
  OutArgs a;
  a.src = dst;  // may not be ours when forwarding: Linux's nf_send_reset does the same
  a.dst = src;
  a.protocol = wire::to_u8(wire::IpProto::kTcp);
  (void)output(now, std::move(pkt), a);
}

}  // namespace ustack::ip
