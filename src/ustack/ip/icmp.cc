// ip/icmp.cc — ICMPv4 (RFC 792, RFC 1122 §3.2.2, RFC 1812 §4.3): icmp_rcv, echo, errors.
#include <fmt/format.h>

#include "ustack/base/assert.h"
#include "ustack/base/checksum.h"
#include "ustack/ip/ipv4.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"

namespace ustack::ip {

using wire::IcmpType;
using wire::Ipv4Addr;

namespace {
// ICMP types that report errors (icmp_pointers[].error): never answered with an error.
bool is_error_type(uint8_t t) { return t == 3 || t == 4 || t == 5 || t == 11 || t == 12; }
constexpr uint8_t kTosInternetControl = 0xc0;  // RFC 1812 §4.3.2.5: precedence 6

// RFC 1191 §7 plateau table: when a router reports MTU 0, guess the next lower plateau below
// the quoted datagram's total length.
uint16_t plateau_below(uint16_t len) {
  static constexpr uint16_t kPlateaus[] = {32000, 17914, 8166, 4352, 2002,
                                           1492,  1006,  508,  296,  68};
  for (uint16_t p : kPlateaus)
    if (p < len) return p;
  return 68;
}
}  // namespace

void Ipv4Layer::count_out(uint8_t type) {
  ++icmp_stats_.out_msgs;
  switch (type) {
    case 0:
      ++icmp_stats_.out_echo_reps;
      break;
    case 3:
      ++icmp_stats_.out_dest_unreachs;
      break;
    case 8:
      ++icmp_stats_.out_echos;
      break;
    case 11:
      ++icmp_stats_.out_time_excds;
      break;
    default:
      break;
  }
}

void Ipv4Layer::icmp_rcv(Instant now, PacketPtr pkt) {
  ++icmp_stats_.in_msgs;
  uint64_t id = pkt->trace_id;
  auto v = wire::IcmpView::parse(pkt->data());
  if (!v) {
    ++icmp_stats_.in_errors;
    tel_.drop(now, Layer::kIcmp, wire::to_drop_reason(v.error()), id);
    return;
  }
  if (!v->verify_checksum()) {
    ++icmp_stats_.in_errors;
    ++icmp_stats_.in_csum_errors;
    tel_.drop(now, Layer::kIcmp, DropReason::kBadChecksum, id);
    return;
  }
  Ipv4Addr src{load_be32(pkt->network_header(), 12)};
  Ipv4Addr dst{load_be32(pkt->network_header(), 16)};
  tel_.trace(now, Layer::kIcmp, "icmp_rcv", id, [&] {
    return fmt::format("{} > {} type {} code {}", src.to_string(), dst.to_string(), v->type(),
                       v->code());
  });
  switch (v->type()) {
    case wire::to_u8(IcmpType::kEchoRequest): {
      ++icmp_stats_.in_echos;
      bool bcast = pkt->pkt_type != PacketType::kHost || dst.is_broadcast() || dst.is_multicast() ||
                   !fib_.is_local(dst);
      if (cfg_.echo_ignore_all || (bcast && cfg_.echo_ignore_broadcasts)) {
        tel_.drop(now, Layer::kIcmp, DropReason::kIcmpIgnored, id,
                  [&] { return std::string("echo to broadcast ignored"); });
        return;
      }
      icmp_echo(now, std::move(pkt));
      return;
    }
    case wire::to_u8(IcmpType::kEchoReply):
      ++icmp_stats_.in_echo_reps;
      if (echo_reply_ && v->bytes().size() >= wire::kIcmpHeaderLen)
        echo_reply_(now, src, v->rest_hi(), v->rest_lo(), v->data());
      return;
    case wire::to_u8(IcmpType::kDstUnreachable):
      ++icmp_stats_.in_dest_unreachs;
      icmp_error_rcv(now, *pkt, *v);
      return;
    case wire::to_u8(IcmpType::kTimeExceeded):
      ++icmp_stats_.in_time_excds;
      icmp_error_rcv(now, *pkt, *v);
      return;
    default:
      // RFC 1122 §3.2.2: unknown types are silently discarded. Redirects, timestamps and the
      // rest are not acted on by ustack (docs/conformance.md).
      tel_.drop(now, Layer::kIcmp, DropReason::kIcmpIgnored, id,
                [&] { return fmt::format("type {} not handled", v->type()); });
      return;
  }
}

// icmp_echo: turn the request into the reply in place: type 8 -> 0 with an incremental
// checksum update (RFC 1624), then send it back; the data is never copied.
void Ipv4Layer::icmp_echo(Instant now, PacketPtr pkt) {
  Ipv4Addr req_src{load_be32(pkt->network_header(), 12)};
  Ipv4Addr req_dst{load_be32(pkt->network_header(), 16)};
  uint8_t tos = pkt->network_header()[1];
  auto m = pkt->mutable_data();
  if (!m) {
    ++icmp_stats_.out_errors;
    tel_.drop(now, Layer::kIcmp, DropReason::kNoBuffer, pkt->trace_id);
    return;
  }
  uint16_t old_word = load_be16(*m, 0);
  (*m)[0] = wire::to_u8(IcmpType::kEchoReply);
  uint16_t new_word = load_be16(*m, 0);
  store_be16(*m, 2, csum_replace16(load_be16(*m, 2), old_word, new_word));
  uint64_t req_id = pkt->trace_id;
  pkt->trace_id = tel_.new_packet_id();
  tel_.trace(now, Layer::kIcmp, "echo_reply", pkt->trace_id,
             [&] { return fmt::format("to {} for #{}", req_src.to_string(), req_id); });
  OutArgs a;
  a.src = req_dst;
  a.dst = req_src;
  a.protocol = wire::to_u8(wire::IpProto::kIcmp);
  a.tos = tos;
  if (output(now, std::move(pkt), a)) {
    count_out(0);
  } else {
    ++icmp_stats_.out_errors;
  }
}

void Ipv4Layer::learn_pmtu(Instant now, Ipv4Addr dst, uint16_t mtu) {
  uint32_t m = std::max<uint32_t>(mtu, cfg_.min_pmtu);
  auto& e = pmtu_[dst.v];
  if (e.expires > now && e.mtu <= m) return;  // only ever lower a live estimate (RFC 1191 §6.3)
  e = Pmtu{m, now + cfg_.pmtu_expires};
  tel_.trace(now, Layer::kIcmp, "pmtu", 0,
             [&] { return fmt::format("{} path mtu {}", dst.to_string(), m); });
}

// icmp_unreach: hand an error to the transport that sent the quoted datagram (RFC 1122
// §3.2.2: "MUST be passed to the transport layer"), after learning path MTU from it.
void Ipv4Layer::icmp_error_rcv(Instant now, const PacketBuffer& pkt, const wire::IcmpView& v) {
  auto q = wire::IcmpQuote::parse(v.data());
  if (!q) {
    ++icmp_stats_.in_errors;
    tel_.drop(now, Layer::kIcmp, wire::to_drop_reason(q.error()), pkt.trace_id);
    return;
  }
  IcmpError e;
  e.type = v.type();
  e.code = v.code();
  e.reporter = Ipv4Addr{load_be32(pkt.network_header(), 12)};
  e.src = q->src();
  e.dst = q->dst();
  e.protocol = q->protocol();
  e.l4 = q->ip().payload();
  if (e.type == 3 && e.code == 4) {
    e.mtu = v.rest_lo();
    if (e.mtu == 0) e.mtu = plateau_below(q->ip().total_len());
    if (fib_.is_local(e.src)) learn_pmtu(now, e.dst, e.mtu);
  }
  if (L4Handler* h = protos_[e.protocol]; h != nullptr) h->err(now, e);
}

void Ipv4Layer::icmp_send(Instant now, const PacketBuffer& offending, uint8_t type, uint8_t code,
                          uint16_t mtu) {
  auto v = wire::Ipv4View::parse(offending.data());
  if (!v) return;
  uint64_t id = offending.trace_id;
  auto refuse = [&](const char* why) {
    tel_.trace(now, Layer::kIcmp, "icmp_send_refused", id, [&] { return std::string(why); });
  };
  // RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7: the cases that never get an error.
  if (offending.pkt_type == PacketType::kBroadcast || offending.pkt_type == PacketType::kMulticast)
    return refuse("link-level broadcast");
  Ipv4Addr src = v->src();
  Ipv4Addr dst = v->dst();
  if (dst.is_broadcast() || dst.is_multicast()) return refuse("IP broadcast/multicast");
  if (auto r = fib_.lookup(dst); r && r->type == RouteType::kBroadcast)
    return refuse("subnet broadcast");
  if (v->frag_offset() != 0) return refuse("non-first fragment");
  if (src.is_unspecified() || wire::ipv4_src_is_martian(src)) return refuse("invalid source");
  if (v->protocol() == wire::to_u8(wire::IpProto::kIcmp)) {
    auto p = v->payload();
    if (p.empty() || p[0] > 18 || is_error_type(p[0])) return refuse("about an ICMP error");
  }
  auto lim = icmp_limit_.allow(now, src, type, code);
  if (lim != IcmpLimiter::Verdict::kAllow) {
    if (lim == IcmpLimiter::Verdict::kGlobal)
      ++icmp_stats_.out_rate_limit_global;
    else
      ++icmp_stats_.out_rate_limit_host;
    tel_.drop(now, Layer::kIcmp, DropReason::kIcmpRateLimited, id,
              [&] { return fmt::format("type {} code {} to {}", type, code, src.to_string()); });
    return;
  }
  // Our source: the address the offending packet was sent to if it is ours (port unreachable),
  // else the address of the interface the error leaves by (RFC 1812 §4.3.2.4; traceroute
  // shows the hop's address facing the prober).
  Ipv4Addr our_src = dst;
  if (!fib_.is_local(dst)) {
    auto back = route_output(now, src);
    if (!back) {
      ++icmp_stats_.out_errors;
      return;
    }
    our_src = back->src;
  }
  std::span<const uint8_t> quote = wire::icmp_error_quote(offending.data().first(v->total_len()));
  PacketPtr msg = pool_.alloc(BufferPool::kDefaultHeadroom, wire::kIcmpHeaderLen + quote.size());
  if (!msg) {
    ++icmp_stats_.out_errors;
    tel_.drop(now, Layer::kIcmp, DropReason::kNoBuffer, id);
    return;
  }
  auto b = msg->put(wire::kIcmpHeaderLen + quote.size());
  USTACK_ASSERT(b.ok(), "sized for the message");
  std::span<uint8_t> out = *b;
  out[0] = type;
  out[1] = code;
  store_be16(out, 2, 0);
  store_be16(out, 4, 0);
  store_be16(out, 6, mtu);  // RFC 1191 §4: next-hop MTU in the low 16 bits, else zero
  std::copy(quote.begin(), quote.end(), out.begin() + wire::kIcmpHeaderLen);
  store_be16(out, 2, inet_checksum(out));
  msg->trace_id = tel_.new_packet_id();
  tel_.trace(now, Layer::kIcmp, "icmp_send", msg->trace_id, [&] {
    return fmt::format("type {} code {}{} to {} about #{}", type, code,
                       mtu != 0 ? fmt::format(" mtu {}", mtu) : std::string(), src.to_string(), id);
  });
  OutArgs a;
  a.src = our_src;
  a.dst = src;
  a.protocol = wire::to_u8(wire::IpProto::kIcmp);
  a.tos = kTosInternetControl;
  if (output(now, std::move(msg), a)) {
    count_out(type);
  } else {
    ++icmp_stats_.out_errors;
  }
}

Result<void, IpError> Ipv4Layer::send_echo(Instant now, Ipv4Addr dst, uint16_t ident, uint16_t seq,
                                           std::span<const uint8_t> data, uint8_t ttl,
                                           bool dont_frag) {
  size_t len = wire::kIcmpHeaderLen + data.size();
  PacketPtr msg = pool_.alloc(BufferPool::kDefaultHeadroom, len);
  if (!msg) return Err{IpError::kNoBuffer};
  auto b = msg->put(len);
  USTACK_ASSERT(b.ok(), "sized for the message");
  wire::IcmpRepr{wire::IcmpEchoRequest{ident, seq, data}}.emit(*b);
  msg->trace_id = tel_.new_packet_id();
  OutArgs a;
  a.dst = dst;
  a.protocol = wire::to_u8(wire::IpProto::kIcmp);
  a.ttl = ttl;
  a.dont_frag = dont_frag;
  auto r = output(now, std::move(msg), a);
  if (r) count_out(8);
  return r;
}

}  // namespace ustack::ip
