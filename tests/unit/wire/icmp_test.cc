// ICMPv4: golden messages captured from Linux in both directions (echo, port unreachable,
// fragmentation needed, time exceeded in transit and in reassembly, and "other" types),
// truncation, lenient quote parsing, checksums, unknown types and codes.
//
// Captured with tcpdump on veths between three network namespaces, offloads off (ethtool -K
// <veth> tx off tso off gso off) so every checksum is complete:
//   wic-a 10.77.1.2 --- 10.77.1.1 wic-r (ip_forward=1) 10.77.2.1 --- 10.77.2.2 wic-b
// (wic-r's link to wic-b had MTU 1000.) tests/unit/wire/captures/capture_ipv4_icmp.sh is the
// script that made them. Ethernet headers are stripped: each array is one IP datagram, so the
// tests also build the exact outer IPv4 header of each error.
#include "ustack/wire/icmp.h"

#include <gtest/gtest.h>

#include "tools/hex.h"

#include <string>
#include <string_view>
#include <vector>

#include "ustack/base/checksum.h"

namespace ustack::wire {
namespace {

using testtools::hex;

// ping 10.77.1.1 from 10.77.1.2: echo request, ident 0x18bd, seq 1, 56 data bytes.
const std::vector<uint8_t> kPing =
    hex("45000054b2764000400171960a4d01020a4d0101080083e218bd0001c238036b00000000d4e8020000000000"
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637");

// Linux's echo reply.
const std::vector<uint8_t> kPingReply =
    hex("45000054d9bc000040018a500a4d01010a4d010200008be218bd0001c238036b00000000d4e8020000000000"
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637");

// bash 'echo hello > /dev/udp/10.77.2.2/33434' from wic-a, as wic-b received it (TTL 63)...
const std::vector<uint8_t> kUdpToClosedPort =
    hex("4500002224c340003f11ff6a0a4d01020a4d02028351829a000e9e6c68656c6c6f0a");

// ...and wic-b's answer as it left wic-b: 3/3 quoting all 34 bytes, TOS 0xc0.
const std::vector<uint8_t> kPortUnreachable =
    hex("45c0003e56c0000040010ba20a4d02020a4d0102030314ba000000004500002224c340003f11ff6a0a4d0102"
        "0a4d02028351829a000e9e6c68656c6c6f0a");

// ping -M do -s 1200 10.77.2.2: 1228 bytes with DF, the router's next hop has MTU 1000...
const std::vector<uint8_t> kBigDf =
    hex("450004cc0000400040011e940a4d01020a4d02020800698418c70001c338036b00000000d5f20a0000000000"
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b"
        "3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f6061626364656667"
        "68696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f90919293"
        "9495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaeb"
        "ecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f1011121314151617"
        "18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40414243"
        "4445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f"
        "707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b"
        "9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7"
        "c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3"
        "f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b"
        "4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f7071727374757677"
        "78797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3"
        "a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
        "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafb"
        "fcfdfeff000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627"
        "28292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f50515253"
        "5455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaab"
        "acadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7"
        "d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203"
        "0405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
        "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b"
        "5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f8081828384858687"
        "88898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf");

// ...so the router answers 3/4, MTU 1000, cut to 576 bytes (RFC 1812 §4.3.2.3): the quote is
// kBigDf's first 548 bytes, its claimed total length 1228.
const std::vector<uint8_t> kFragNeeded =
    hex("45c00240da2600004001873a0a4d01010a4d0102030473e1000003e8450004cc0000400040011e940a4d0102"
        "0a4d02020800698418c70001c338036b00000000d5f20a0000000000101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b"
        "4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f7071727374757677"
        "78797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3"
        "a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
        "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafb"
        "fcfdfeff000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627"
        "28292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f50515253"
        "5455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaab"
        "acadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7"
        "d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203"
        "04050607");

// ping -t 1 10.77.2.2...
const std::vector<uint8_t> kTtl1 =
    hex("45000054ba4140000101a7ca0a4d01020a4d020208007d6318c90001c438036b00000000db5b000000000000"
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637");

// ...and the router's 11/0.
const std::vector<uint8_t> kTtlExceeded =
    hex("45c00070da450000400188eb0a4d01010a4d01020b00f4ff0000000045000054ba4140000101a7ca0a4d0102"
        "0a4d020208007d6318c90001c438036b00000000db5b000000000000101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f3031323334353637");

// A raw-socket first fragment (MF, offset 0) to wic-r, never completed...
const std::vector<uint8_t> kFirstFragmentOnly =
    hex("4500002c42442000400101f10a4d01020a4d010108006ea67777000366697273742d667261676d656e742121");

// ...so after ipfrag_time (set to 1 s) wic-r sends 11/1 quoting it.
const std::vector<uint8_t> kReassemblyTimeout =
    hex("45c00048dd500000400186080a4d01010a4d01020b01f4fe000000004500002c42442000400101f10a4d0102"
        "0a4d010108006ea67777000366697273742d667261676d656e742121");

// ping 10.77.9.9 where the router's route for it points back out the same link: 5/1 (redirect for
// host), gateway 10.77.1.3 in the rest-of-header.
const std::vector<uint8_t> kRedirect =
    hex("45c00070daaf0000400188810a4d01010a4d01020501efae0a4d010345000054ce5340003f014eb10a4d0102"
        "0a4d09090800970c18cd0001c438036b00000000b8ae090000000000101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f3031323334353637");

// The router then failed to resolve 10.77.1.3: 3/1 quoting the same echo request.
const std::vector<uint8_t> kHostUnreachable =
    hex("45c00070dc1500004001871b0a4d01010a4d01020301fcfe0000000045000054ce5340003f014eb10a4d0102"
        "0a4d09090800970c18cd0001c438036b00000000b8ae090000000000101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f3031323334353637");

// A raw-socket ICMP timestamp request (13)...
const std::vector<uint8_t> kTimestampRequest =
    hex("45000028424340004001e1f50a4d01020a4d01010d00197c7777000200bc614e0000000000000000");

// ...and Linux's timestamp reply (14).
const std::vector<uint8_t> kTimestampReply =
    hex("45000028dc0f0000400188290a4d01010a4d01020e0060977777000200bc614e040857ea040857ea");

constexpr Ipv4Addr kA = Ipv4Addr::from_octets(10, 77, 1, 2);
constexpr Ipv4Addr kR = Ipv4Addr::from_octets(10, 77, 1, 1);
constexpr Ipv4Addr kB = Ipv4Addr::from_octets(10, 77, 2, 2);
constexpr uint8_t kIcmp = to_u8(IpProto::kIcmp);
constexpr uint8_t kTosInternetControl = 0xc0 >> 2;  // Linux sends ICMP errors with TOS 0xc0

// The ICMP message inside one of the captured datagrams.
std::span<const uint8_t> icmp_of(const std::vector<uint8_t>& datagram) {
  return Ipv4View::parse(datagram)->payload();
}

Result<IcmpRepr, WireError> parse(std::span<const uint8_t> message,
                                  Checksum c = Checksum::kVerify) {
  auto v = IcmpView::parse(message);
  if (!v) return Err{v.error()};
  return IcmpRepr::parse(*v, c);
}

std::vector<uint8_t> emit(const IcmpRepr& r) {
  std::vector<uint8_t> out(r.buffer_len(), 0xcc);
  r.emit(out);
  return out;
}

std::vector<uint8_t> vec(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

// A whole datagram: `ip` (payload_len filled in here) carrying `icmp`.
std::vector<uint8_t> datagram(Ipv4Repr ip, const IcmpRepr& icmp) {
  ip.payload_len = static_cast<uint16_t>(icmp.buffer_len());
  std::vector<uint8_t> out(ip.buffer_len(), 0xcc);
  ip.emit(out);
  icmp.emit(std::span(out).subspan(ip.header_len()));
  return out;
}

IcmpQuote quote_of(std::span<const uint8_t> offending) {
  return *IcmpQuote::parse(icmp_error_quote(offending));
}

TEST(Icmp, DeconstructEchoRequest) {
  auto v = IcmpView::parse(icmp_of(kPing));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type(), to_u8(IcmpType::kEchoRequest));
  EXPECT_EQ(v->code(), 0);
  EXPECT_EQ(v->checksum(), 0x83e2);
  EXPECT_EQ(v->rest_of_header(), 0x18bd0001u);
  EXPECT_EQ(v->rest_hi(), 0x18bd);
  EXPECT_EQ(v->rest_lo(), 1);
  EXPECT_EQ(v->data().size(), 56u);
  EXPECT_EQ(v->bytes().size(), 64u);
  EXPECT_TRUE(v->verify_checksum());
  auto r = IcmpRepr::parse(*v);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (IcmpRepr{IcmpEchoRequest{0x18bd, 1, v->data()}}));
  EXPECT_EQ(r->type(), 8);
  EXPECT_EQ(r->code(), 0);
  EXPECT_EQ(r->quote(), nullptr);
  EXPECT_EQ(r->buffer_len(), 64u);
}

TEST(Icmp, ConstructEchoRequestAndReply) {
  const auto data = icmp_of(kPing).subspan(8);
  IcmpRepr req{IcmpEchoRequest{0x18bd, 1, data}};
  EXPECT_EQ(emit(req), vec(icmp_of(kPing)));
  // RFC 792: the reply returns identifier, sequence number and data unchanged.
  IcmpRepr rep{IcmpEchoReply{0x18bd, 1, data}};
  EXPECT_EQ(*parse(icmp_of(kPingReply)), rep);
  EXPECT_EQ(datagram({.src = kR, .dst = kA, .protocol = kIcmp, .ident = 0xd9bc}, rep), kPingReply);
}

TEST(Icmp, EchoReplyBuiltOverItsRequest) {
  // An echo responder can reuse the request's buffer: the data is already at message[8..].
  std::vector<uint8_t> buf = vec(icmp_of(kPing));
  const auto data = std::span<const uint8_t>(buf).subspan(8);
  IcmpRepr{IcmpEchoReply{0x18bd, 1, data}}.emit(buf);
  EXPECT_EQ(buf, vec(icmp_of(kPingReply)));
}

TEST(Icmp, PortUnreachableBothDirections) {
  auto r = parse(icmp_of(kPortUnreachable));
  ASSERT_TRUE(r);
  const auto* m = std::get_if<IcmpDstUnreachable>(&r->msg);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->code, DstUnreachable::kPortUnreachable);
  EXPECT_EQ(m->next_hop_mtu, 0);
  const IcmpQuote& q = m->quote;
  EXPECT_EQ(q.src(), kA);
  EXPECT_EQ(q.dst(), kB);
  EXPECT_EQ(q.protocol(), to_u8(IpProto::kUdp));
  EXPECT_EQ(q.ip().ttl(), 63);
  EXPECT_EQ(q.ip().ident(), 0x24c3);
  EXPECT_TRUE(q.ip().dont_frag());
  EXPECT_EQ(q.ip().total_len(), 34u);
  EXPECT_EQ(q.bytes().size(), 34u);  // small enough to be quoted whole
  ASSERT_EQ(q.ip().payload().size(), 14u);
  EXPECT_EQ(load_be16(q.ip().payload(), 0), 33617);  // UDP source port
  EXPECT_EQ(load_be16(q.ip().payload(), 2), 33434);  // UDP destination port
  EXPECT_EQ(r->quote(), &m->quote);
  EXPECT_EQ(r->type(), 3);
  EXPECT_EQ(r->code(), 3);
  // wic-b's reply, rebuilt from the datagram it received.
  IcmpRepr built{
      IcmpDstUnreachable{DstUnreachable::kPortUnreachable, 0, quote_of(kUdpToClosedPort)}};
  EXPECT_EQ(built, *r);
  EXPECT_EQ(datagram({.src = kB,
                      .dst = kA,
                      .protocol = kIcmp,
                      .ttl = 64,
                      .dscp = kTosInternetControl,
                      .ident = 0x56c0},
                     built),
            kPortUnreachable);
}

TEST(Icmp, FragNeededCarriesMtuAndStaysWithin576) {
  auto r = parse(icmp_of(kFragNeeded));
  ASSERT_TRUE(r);
  const auto* m = std::get_if<IcmpDstUnreachable>(&r->msg);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->code, DstUnreachable::kFragNeeded);
  EXPECT_EQ(m->next_hop_mtu, 1000);  // RFC 1191: bytes 6..7
  // The quote is cut: its header claims 1228 bytes, 548 are present. Lenient parsing accepts it.
  EXPECT_EQ(m->quote.ip().total_len(), 1228u);
  EXPECT_EQ(m->quote.bytes().size(), 548u);
  EXPECT_EQ(m->quote.ip().payload().size(), 528u);
  EXPECT_EQ(vec(m->quote.bytes()), vec(std::span(kBigDf).first(548)));
  // The router's answer, rebuilt: icmp_error_quote cuts kBigDf to exactly what Linux quoted.
  EXPECT_EQ(icmp_error_max_quote_len(), 548u);
  IcmpRepr built{IcmpDstUnreachable{DstUnreachable::kFragNeeded, 1000, quote_of(kBigDf)}};
  EXPECT_EQ(built, *r);
  const auto out = datagram({.src = kR,
                             .dst = kA,
                             .protocol = kIcmp,
                             .ttl = 64,
                             .dscp = kTosInternetControl,
                             .ident = 0xda26},
                            built);
  EXPECT_EQ(out.size(), kIcmpErrorMaxDatagramLen);
  EXPECT_EQ(out, kFragNeeded);
}

TEST(Icmp, TimeExceededInTransit) {
  auto r = parse(icmp_of(kTtlExceeded));
  ASSERT_TRUE(r);
  const auto* m = std::get_if<IcmpTimeExceeded>(&r->msg);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->code, TimeExceeded::kTtlExceeded);
  EXPECT_EQ(m->quote.ip().ttl(), 1);  // quoted as received, before the decrement
  EXPECT_EQ(m->quote.dst(), kB);
  EXPECT_EQ(m->quote.protocol(), kIcmp);
  EXPECT_EQ(m->quote.bytes().size(), kTtl1.size());
  IcmpRepr built{IcmpTimeExceeded{TimeExceeded::kTtlExceeded, quote_of(kTtl1)}};
  EXPECT_EQ(built, *r);
  EXPECT_EQ(datagram({.src = kR,
                      .dst = kA,
                      .protocol = kIcmp,
                      .ttl = 64,
                      .dscp = kTosInternetControl,
                      .ident = 0xda45},
                     built),
            kTtlExceeded);
}

TEST(Icmp, TimeExceededInReassembly) {
  auto r = parse(icmp_of(kReassemblyTimeout));
  ASSERT_TRUE(r);
  const auto* m = std::get_if<IcmpTimeExceeded>(&r->msg);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->code, TimeExceeded::kFragReassembly);
  EXPECT_TRUE(m->quote.ip().more_frags());
  EXPECT_EQ(m->quote.ip().ident(), 0x4244);
  IcmpRepr built{IcmpTimeExceeded{TimeExceeded::kFragReassembly, quote_of(kFirstFragmentOnly)}};
  EXPECT_EQ(datagram({.src = kR,
                      .dst = kA,
                      .protocol = kIcmp,
                      .ttl = 64,
                      .dscp = kTosInternetControl,
                      .ident = 0xdd50},
                     built),
            kReassemblyTimeout);
}

TEST(Icmp, HostUnreachable) {
  auto r = parse(icmp_of(kHostUnreachable));
  ASSERT_TRUE(r);
  const auto* m = std::get_if<IcmpDstUnreachable>(&r->msg);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->code, DstUnreachable::kHostUnreachable);
  EXPECT_EQ(m->quote.dst(), Ipv4Addr::from_octets(10, 77, 9, 9));
  EXPECT_EQ(emit(*r), vec(icmp_of(kHostUnreachable)));
}

TEST(Icmp, OtherTypesAreCarriedVerbatim) {
  // Redirect (5/1): the rest-of-header is the better gateway; the data a quote we leave alone.
  auto r = parse(icmp_of(kRedirect));
  ASSERT_TRUE(r);
  const auto* m = std::get_if<IcmpOther>(&r->msg);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->type, to_u8(IcmpType::kRedirect));
  EXPECT_EQ(m->code, 1);
  EXPECT_EQ(Ipv4Addr{m->rest_of_header}, Ipv4Addr::from_octets(10, 77, 1, 3));
  EXPECT_EQ(m->data.size(), 84u);
  EXPECT_EQ(r->quote(), nullptr);
  EXPECT_EQ(emit(*r), vec(icmp_of(kRedirect)));
  // Timestamp request (13) and Linux's reply (14).
  for (const auto* p : {&kTimestampRequest, &kTimestampReply}) {
    auto t = parse(icmp_of(*p));
    ASSERT_TRUE(t);
    const auto* o = std::get_if<IcmpOther>(&t->msg);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->rest_of_header, 0x77770002u);  // identifier, sequence number
    EXPECT_EQ(o->data.size(), 12u);             // originate, receive, transmit timestamps
    EXPECT_EQ(emit(*t), vec(icmp_of(*p)));
  }
  EXPECT_EQ(parse(icmp_of(kTimestampReply))->type(), to_u8(IcmpType::kTimestampReply));
}

// Builds a message with a valid checksum.
std::vector<uint8_t> message(uint8_t type, uint8_t code, uint32_t rest,
                             std::span<const uint8_t> data) {
  std::vector<uint8_t> m(8 + data.size());
  m[0] = type;
  m[1] = code;
  store_be32(m.data() + 4, rest);
  std::copy(data.begin(), data.end(), m.begin() + 8);
  store_be16(m.data() + 2, inet_checksum(m));
  return m;
}

TEST(Icmp, UnmodelledCodesAndTypesBecomeOther) {
  const auto quote = icmp_of(kTtlExceeded).subspan(8);
  struct Case {
    uint8_t type, code;
  };
  for (Case c : {Case{8, 1}, Case{0, 255}, Case{3, 16}, Case{3, 255}, Case{11, 2}, Case{12, 0},
                 Case{4, 0}, Case{42, 7}, Case{255, 255}}) {
    const auto m = message(c.type, c.code, 0x01020304, quote);
    auto r = parse(m);
    ASSERT_TRUE(r) << int(c.type) << "/" << int(c.code);
    EXPECT_EQ(r->msg, (decltype(r->msg){IcmpOther{c.type, c.code, 0x01020304, quote}}));
    EXPECT_EQ(emit(*r), m);
  }
  // Even with a quote that is no IPv4 header: Other does not look at its data.
  const uint8_t junk[3] = {1, 2, 3};
  EXPECT_TRUE(parse(message(3, 16, 0, junk)));
}

TEST(Icmp, ErrorsIgnoreUnusedBitsAndMtuOfOtherCodes) {
  // RFC 792 "unused" bits set by a sloppy sender: accepted, and emitted as zero.
  const auto quote = icmp_of(kPortUnreachable).subspan(8);
  const auto m = message(3, 3, 0xdeadbeef, quote);
  auto r = parse(m);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<IcmpDstUnreachable>(r->msg).next_hop_mtu, 0);
  EXPECT_EQ(emit(*r), message(3, 3, 0, quote));
  // Frag needed keeps only the low 16 bits (RFC 1191 §4); 0 is a pre-RFC 1191 router.
  EXPECT_EQ(std::get<IcmpDstUnreachable>(parse(message(3, 4, 0xffff05dc, quote))->msg).next_hop_mtu,
            1500);
  EXPECT_EQ(std::get<IcmpDstUnreachable>(parse(message(3, 4, 0, quote))->msg).next_hop_mtu, 0);
  const auto te_bytes = message(11, 0, 0xffffffff, quote);  // the Repr borrows these bytes
  auto te = parse(te_bytes);
  ASSERT_TRUE(te);
  EXPECT_EQ(emit(*te), message(11, 0, 0, quote));
}

TEST(Icmp, EveryTruncation) {
  for (const auto* p : {&kPing, &kPortUnreachable, &kFragNeeded, &kRedirect, &kTimestampReply}) {
    const auto full = icmp_of(*p);
    const bool is_error = full[0] == 3 || full[0] == 11;
    for (size_t n = 0; n < full.size(); ++n) {
      const auto cut = full.first(n);
      if (n < kIcmpHeaderLen) {
        auto v = IcmpView::parse(cut);
        ASSERT_FALSE(v) << n;
        EXPECT_EQ(v.error(), WireError::kTruncated) << n;
        continue;
      }
      // A cut message fails its checksum (except a cut of trailing zero bytes)...
      auto checked = parse(cut);
      if (!checked) {
        EXPECT_EQ(checked.error(), WireError::kBadChecksum) << n;
      }
      // ...and past the checksum, an error needs a quoted IPv4 header + 8 bytes.
      auto r = parse(cut, Checksum::kIgnore);
      if (is_error && n < kIcmpHeaderLen + 28) {
        ASSERT_FALSE(r) << n;
        EXPECT_EQ(r.error(), WireError::kMalformed) << n;
      } else {
        ASSERT_TRUE(r) << n;
        EXPECT_EQ(r->buffer_len(), n);
      }
    }
  }
}

TEST(Icmp, QuoteIsParsedLeniently) {
  std::vector<uint8_t> q = vec(icmp_of(kTtlExceeded).subspan(8, 28));  // header + 8 bytes exactly
  ASSERT_TRUE(IcmpQuote::parse(q));
  EXPECT_EQ(IcmpQuote::parse(q)->ip().payload().size(), 8u);
  // Not checked: the quoted total length and checksum.
  for (uint16_t total : {0, 1, 19, 28, 65535}) {
    std::vector<uint8_t> t = q;
    store_be16(t.data() + 2, total);
    ASSERT_TRUE(IcmpQuote::parse(t)) << total;
    EXPECT_EQ(IcmpQuote::parse(t)->ip().total_len(), total);
  }
  std::vector<uint8_t> c = q;
  c[10] ^= 0xff;
  EXPECT_TRUE(IcmpQuote::parse(c));
  // Checked: version, IHL, and IHL*4 + 8 bytes present.
  std::vector<uint8_t> v6 = q;
  v6[0] = 0x65;
  EXPECT_EQ(IcmpQuote::parse(v6).error(), WireError::kMalformed);
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    std::vector<uint8_t> h = q;
    h[0] = 0x40 | ihl;
    EXPECT_EQ(IcmpQuote::parse(h).error(), WireError::kMalformed) << int(ihl);
  }
  std::vector<uint8_t> opt = q;
  opt[0] = 0x46;  // a 24-byte header needs 32 quoted bytes
  EXPECT_EQ(IcmpQuote::parse(opt).error(), WireError::kMalformed);
  opt.resize(32, 0);
  EXPECT_TRUE(IcmpQuote::parse(opt));
  EXPECT_EQ(IcmpQuote::parse(std::span(q).first(27)).error(), WireError::kMalformed);
  // Through IcmpRepr::parse: a destination unreachable whose quote is IPv6 is malformed.
  EXPECT_EQ(parse(message(3, 1, 0, v6)).error(), WireError::kMalformed);
  EXPECT_EQ(parse(message(11, 1, 0, v6)).error(), WireError::kMalformed);
}

TEST(Icmp, BadChecksum) {
  for (const auto* p : {&kPing, &kPortUnreachable, &kRedirect}) {
    std::vector<uint8_t> m = vec(icmp_of(*p));
    m.back() ^= 0x01;  // the checksum covers the data too
    EXPECT_FALSE(IcmpView::parse(m)->verify_checksum());
    EXPECT_EQ(parse(m).error(), WireError::kBadChecksum);
    EXPECT_TRUE(parse(m, Checksum::kIgnore));
  }
}

TEST(Icmp, ErrorQuoteLimit) {
  // RFC 1812 §4.3.2.3: 576 = IP header + ICMP header + quote.
  EXPECT_EQ(icmp_error_max_quote_len(20), 548u);
  EXPECT_EQ(icmp_error_max_quote_len(60), 508u);
  EXPECT_EQ(icmp_error_quote(kBigDf).size(), 548u);
  EXPECT_EQ(icmp_error_quote(kBigDf, 60).size(), 508u);
  EXPECT_EQ(icmp_error_quote(kTtl1).size(), kTtl1.size());
  EXPECT_EQ(icmp_error_quote(kTtl1).data(), kTtl1.data());
}

TEST(IcmpDeathTest, EmitAssertsOnProgrammingErrors) {
  const IcmpQuote q = quote_of(kTtl1);
  IcmpRepr bad{IcmpDstUnreachable{DstUnreachable::kPortUnreachable, 1500, q}};
  std::vector<uint8_t> out(bad.buffer_len());
  EXPECT_DEATH(bad.emit(out), "kFragNeeded");
  IcmpRepr ok{IcmpDstUnreachable{DstUnreachable::kFragNeeded, 1500, q}};
  std::vector<uint8_t> small(ok.buffer_len() - 1);
  EXPECT_DEATH(ok.emit(small), "too small");
}

}  // namespace
}  // namespace ustack::wire
