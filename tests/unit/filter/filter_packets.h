// tests/unit/filter/filter_packets.h — IPv4 packets for the netfilter tests, built with the
// wire Reprs' emit into BufferPool buffers (data() at the IPv4 header, as IP hands them over).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "ustack/buf/pool.h"
#include "ustack/filter/netfilter.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

namespace ustack::filter::testpkt {

inline wire::Ipv4Addr ip(std::string_view s) { return *wire::Ipv4Addr::parse(s); }

inline wire::Ipv4Repr ip_repr(std::string_view src, std::string_view dst, wire::IpProto proto) {
  wire::Ipv4Repr r;
  r.src = ip(src);
  r.dst = ip(dst);
  r.protocol = wire::to_u8(proto);
  return r;
}

// The IPv4 header from `hdr` (payload_len set here) followed by `l4` verbatim.
inline PacketPtr packet(BufferPool& pool, wire::Ipv4Repr hdr, std::span<const uint8_t> l4) {
  hdr.payload_len = static_cast<uint16_t>(l4.size());
  PacketPtr p = pool.alloc(BufferPool::kDefaultHeadroom, hdr.buffer_len());
  auto room = p->put(hdr.buffer_len());
  EXPECT_TRUE(room.ok());
  hdr.emit(room->first(hdr.header_len()));
  std::copy(l4.begin(), l4.end(), room->begin() + static_cast<ptrdiff_t>(hdr.header_len()));
  return p;
}

inline std::vector<uint8_t> udp_bytes(const wire::Ipv4Repr& hdr, uint16_t sport, uint16_t dport,
                                      size_t payload_len = 4) {
  std::vector<uint8_t> d(wire::kUdpHeaderLen + payload_len, 0xab);
  wire::UdpRepr{sport, dport}.emit(d, wire::Ipv4Pseudo{hdr.src, hdr.dst});
  return d;
}

inline std::vector<uint8_t> tcp_bytes(const wire::Ipv4Repr& hdr, uint16_t sport, uint16_t dport,
                                      wire::TcpFlags flags) {
  wire::TcpRepr t;
  t.src_port = sport;
  t.dst_port = dport;
  t.seq = wire::SeqNum{1000};
  t.flags = flags;
  t.window = 65535;
  std::vector<uint8_t> d(t.buffer_len(0));
  t.emit(d, wire::Ipv4Pseudo{hdr.src, hdr.dst});
  return d;
}

inline std::vector<uint8_t> icmp_bytes(const wire::IcmpRepr& r) {
  std::vector<uint8_t> d(r.buffer_len());
  r.emit(d);
  return d;
}

inline PacketPtr udp(BufferPool& pool, std::string_view src, std::string_view dst, uint16_t sport,
                     uint16_t dport, size_t payload_len = 4) {
  wire::Ipv4Repr h = ip_repr(src, dst, wire::IpProto::kUdp);
  return packet(pool, h, udp_bytes(h, sport, dport, payload_len));
}

inline PacketPtr tcp(BufferPool& pool, std::string_view src, std::string_view dst, uint16_t sport,
                     uint16_t dport, wire::TcpFlags flags) {
  wire::Ipv4Repr h = ip_repr(src, dst, wire::IpProto::kTcp);
  return packet(pool, h, tcp_bytes(h, sport, dport, flags));
}

inline PacketPtr echo_request(BufferPool& pool, std::string_view src, std::string_view dst) {
  static constexpr uint8_t kData[] = {1, 2, 3, 4};
  wire::IcmpRepr r{wire::IcmpEchoRequest{0x1234, 1, kData}};
  return packet(pool, ip_repr(src, dst, wire::IpProto::kIcmp), icmp_bytes(r));
}

// Destination unreachable with `code`, quoting a UDP datagram dst -> src.
inline PacketPtr dst_unreachable(BufferPool& pool, std::string_view src, std::string_view dst,
                                 wire::DstUnreachable code) {
  wire::Ipv4Repr orig = ip_repr(dst, src, wire::IpProto::kUdp);
  std::vector<uint8_t> l4 = udp_bytes(orig, 5000, 53);
  orig.payload_len = static_cast<uint16_t>(l4.size());
  std::vector<uint8_t> quoted(orig.buffer_len());
  orig.emit(quoted);
  std::copy(l4.begin(), l4.end(), quoted.begin() + 20);
  auto quote = wire::IcmpQuote::parse(quoted);
  EXPECT_TRUE(quote.ok());
  wire::IcmpRepr r{wire::IcmpDstUnreachable{code, 0, *quote}};
  return packet(pool, ip_repr(src, dst, wire::IpProto::kIcmp), icmp_bytes(r));
}

// Parses a line that must parse, then applies it.
inline void must_apply(Netfilter& nf, std::string_view line) {
  auto c = parse_command(line);
  ASSERT_TRUE(c.ok()) << line << ": " << c.error();
  auto r = nf.apply(*c);
  ASSERT_TRUE(r.ok()) << line << ": " << r.error();
}

}  // namespace ustack::filter::testpkt
