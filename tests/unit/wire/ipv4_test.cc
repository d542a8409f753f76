// IPv4 header: golden packets captured from Linux in both directions, every truncation,
// impossible lengths and options, checksum, fragments, and the forwarding TTL helper.
//
// The packets were captured with tcpdump on veths between three network namespaces, offloads
// off (ethtool -K <veth> tx off tso off gso off) so every checksum is complete:
//   wic-a 10.77.1.2 --- 10.77.1.1 wic-r (ip_forward=1) 10.77.2.1 --- 10.77.2.2 wic-b
// tests/unit/wire/captures/capture_ipv4_icmp.sh is the script that made them.
// Ethernet headers are stripped: each array is one IP datagram as it was on the wire.
#include "ustack/wire/ipv4.h"

#include <gtest/gtest.h>

#include "tools/hex.h"

#include <string>
#include <string_view>
#include <vector>

#include "ustack/base/checksum.h"
#include "ustack/base/rng.h"

namespace ustack::wire {
namespace {

using testtools::hex;

// ping 10.77.1.1 from 10.77.1.2: echo request, DF set (frame 9 of the capture).
const std::vector<uint8_t> kEchoRequest =
    hex("45000054b2764000400171960a4d01020a4d0101080083e218bd0001c238036b00000000d4e8020000000000"
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637");

// Linux's echo reply to it: DF clear, ident from the global counter.
const std::vector<uint8_t> kEchoReply =
    hex("45000054d9bc000040018a500a4d01010a4d010200008be218bd0001c238036b00000000d4e8020000000000"
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637");

// bash 'echo hello > /dev/udp/10.77.2.2/33434': UDP, DF set.
const std::vector<uint8_t> kUdpDf =
    hex("4500002224c340004011fe6a0a4d01020a4d02028351829a000e9e6c68656c6c6f0a");

// ping -s 3000 over the MTU-1500 veth: a 3028-byte datagram in three fragments. 1/3: offset 0, MF,
// 1480 data bytes.
const std::vector<uint8_t> kFrag1 =
    hex("450005dcb2a7200040018bdd0a4d01020a4d01010800c15b18bf0001c238036b000000007192070000000000"
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
        "88898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
        "b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b"
        "0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"
        "38393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60616263"
        "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f"
        "909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babb"
        "bcbdbebf");

// 2/3: offset 1480, MF.
const std::vector<uint8_t> kFrag2 =
    hex("450005dcb2a720b940018b240a4d01020a4d0101c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7"
        "d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203"
        "0405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
        "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b"
        "5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f8081828384858687"
        "88898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
        "b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b"
        "0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"
        "38393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60616263"
        "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f"
        "909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babb"
        "bcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7"
        "e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f10111213"
        "1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b"
        "6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f9091929394959697"
        "98999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3"
        "c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f101112131415161718191a1b"
        "1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4041424344454647"
        "48494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f70717273"
        "7475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacb"
        "cccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7"
        "f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
        "2425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f"
        "505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b"
        "7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7"
        "a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3"
        "d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b"
        "2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f5051525354555657"
        "58595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283"
        "84858687");

// 3/3: offset 2960, last, 48 data bytes.
const std::vector<uint8_t> kFrag3 =
    hex("45000044b2a701724001b0030a4d01020a4d010188898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7");

// ping -R: IHL 15, NOP + record route (type 7, length 39, pointer 8) holding 10.77.1.2.
const std::vector<uint8_t> kRecordRoute =
    hex("4f00007cb2ac4000400133da0a4d01020a4d0101010727080a4d010200000000000000000000000000000000"
        "0000000000000000000000000000000008005e8818c10001c238036b00000000f03e0c000000000010111213"
        "1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637");

// The reply: the route now holds 10.77.1.2, 10.77.1.1, 10.77.1.1.
const std::vector<uint8_t> kRecordRouteReply =
    hex("4f00007cd9eb000040017db00a4d01010a4d01020727100a4d01020a4d01010a4d0101000000000000000000"
        "000000000000000000000000000000000000668818c10001c238036b00000000f03e0c000000000010111213"
        "1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637");

// ping -T tsonly: IHL 15, internet timestamp option (type 0x44, length 40).
const std::vector<uint8_t> kTimestampOpt =
    hex("4f00007cb2b540004001cfdb0a4d01020a4d0101442809000408462300000000000000000000000000000000"
        "000000000000000000000000000000000800ce2118c30001c338036b000000008aa301000000000010111213"
        "1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637");

// A raw-socket echo request with the reserved (RFC 3514 evil) bit set...
const std::vector<uint8_t> kReservedBitEcho =
    hex("4500002c424280004001a1f20a4d01020a4d0101080099237777000172657365727665642d6269742d736574");

// ...which Linux answered (so ip_rcv_core ignores the bit).
const std::vector<uint8_t> kReservedBitReply =
    hex("4500002cdbe600004001884e0a4d01010a4d01020000a1237777000172657365727665642d6269742d736574");

// wic-b's port unreachable as it left wic-b (TTL 64)...
const std::vector<uint8_t> kRouterIn =
    hex("45c0003e56c0000040010ba20a4d02020a4d0102030314ba000000004500002224c340003f11ff6a0a4d0102"
        "0a4d02028351829a000e9e6c68656c6c6f0a");

// ...and as the router forwarded it (TTL 63, checksum updated by ip_decrease_ttl).
const std::vector<uint8_t> kRouterOut =
    hex("45c0003e56c000003f010ca20a4d02020a4d0102030314ba000000004500002224c340003f11ff6a0a4d0102"
        "0a4d02028351829a000e9e6c68656c6c6f0a");

constexpr Ipv4Addr kA = Ipv4Addr::from_octets(10, 77, 1, 2);
constexpr Ipv4Addr kR = Ipv4Addr::from_octets(10, 77, 1, 1);
constexpr Ipv4Addr kB = Ipv4Addr::from_octets(10, 77, 2, 2);

// Recomputes the header checksum after a test edits a field.
void fix_checksum(std::vector<uint8_t>& p) {
  const size_t hl = static_cast<size_t>(p[0] & 0x0f) * 4;
  p[10] = p[11] = 0;
  const uint16_t c = inet_checksum(std::span(p).first(hl));
  p[10] = static_cast<uint8_t>(c >> 8);
  p[11] = static_cast<uint8_t>(c);
}

Result<Ipv4Repr, WireError> parse_repr(std::span<const uint8_t> p, Checksum c = Checksum::kVerify) {
  auto v = Ipv4View::parse(p);
  if (!v) return Err{v.error()};
  return Ipv4Repr::parse(*v, c);
}

std::vector<uint8_t> emit_header(const Ipv4Repr& r) {
  std::vector<uint8_t> out(r.header_len(), 0xcc);
  r.emit(out);
  return out;
}

std::vector<uint8_t> header_of(const std::vector<uint8_t>& p) {
  return {p.begin(), p.begin() + static_cast<std::ptrdiff_t>((p[0] & 0x0f) * 4)};
}

TEST(Ipv4, DeconstructEchoRequestWithDf) {
  auto v = Ipv4View::parse(kEchoRequest);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->header_len(), 20u);
  EXPECT_EQ(v->total_len(), 84u);
  EXPECT_EQ(v->dscp(), 0);
  EXPECT_EQ(v->ecn(), 0);
  EXPECT_EQ(v->ident(), 0xb276);
  EXPECT_FALSE(v->reserved_flag());
  EXPECT_TRUE(v->dont_frag());
  EXPECT_FALSE(v->more_frags());
  EXPECT_EQ(v->frag_offset(), 0);
  EXPECT_FALSE(v->is_fragment());
  EXPECT_EQ(v->ttl(), 64);
  EXPECT_EQ(v->protocol(), to_u8(IpProto::kIcmp));
  EXPECT_EQ(v->checksum(), 0x7196);
  EXPECT_TRUE(v->verify_checksum());
  EXPECT_EQ(v->src(), kA);
  EXPECT_EQ(v->dst(), kR);
  EXPECT_TRUE(v->options().empty());
  EXPECT_EQ(v->payload().size(), 64u);
  EXPECT_EQ(v->payload()[0], 8);  // ICMP echo request
  EXPECT_EQ(v->bytes().size(), kEchoRequest.size());
  auto r = Ipv4Repr::parse(*v);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (Ipv4Repr{.src = kA,
                          .dst = kR,
                          .protocol = to_u8(IpProto::kIcmp),
                          .ttl = 64,
                          .ident = 0xb276,
                          .dont_frag = true,
                          .payload_len = 64}));
}

TEST(Ipv4, ConstructEchoRequestAndReply) {
  Ipv4Repr req{.src = kA,
               .dst = kR,
               .protocol = to_u8(IpProto::kIcmp),
               .ident = 0xb276,
               .dont_frag = true,
               .payload_len = 64};
  EXPECT_EQ(req.buffer_len(), 84u);
  EXPECT_EQ(emit_header(req), header_of(kEchoRequest));
  Ipv4Repr rep{
      .src = kR, .dst = kA, .protocol = to_u8(IpProto::kIcmp), .ident = 0xd9bc, .payload_len = 64};
  EXPECT_EQ(emit_header(rep), header_of(kEchoReply));
  EXPECT_EQ(*parse_repr(kEchoReply), rep);
}

TEST(Ipv4, UdpAndLinkPaddingCut) {
  auto r = parse_repr(kUdpDf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->protocol, to_u8(IpProto::kUdp));
  EXPECT_EQ(r->dst, kB);
  EXPECT_TRUE(r->dont_frag);
  EXPECT_EQ(r->payload_len, 14u);
  EXPECT_EQ(emit_header(*r), header_of(kUdpDf));
  // On Ethernet this 34-byte datagram arrives padded to 46 bytes: the view drops the padding.
  std::vector<uint8_t> padded = kUdpDf;
  padded.resize(46, 0);
  auto v = Ipv4View::parse(padded);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->bytes().size(), 34u);
  EXPECT_EQ(v->payload().size(), 14u);
  EXPECT_EQ(*Ipv4Repr::parse(*v), *r);
}

TEST(Ipv4, FragmentsFromPingSize3000) {
  struct Want {
    const std::vector<uint8_t>* pkt;
    uint16_t offset;
    bool mf;
    uint16_t len;
  };
  const Want wants[] = {
      {&kFrag1, 0, true, 1480}, {&kFrag2, 1480, true, 1480}, {&kFrag3, 2960, false, 48}};
  std::vector<uint8_t> reassembled;
  for (const Want& w : wants) {
    auto v = Ipv4View::parse(*w.pkt);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->is_fragment());
    EXPECT_FALSE(v->dont_frag());  // Linux fragments locally only without DF
    auto r = Ipv4Repr::parse(*v);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (Ipv4Repr{.src = kA,
                            .dst = kR,
                            .protocol = to_u8(IpProto::kIcmp),
                            .ttl = 64,
                            .ident = 0xb2a7,
                            .more_frags = w.mf,
                            .frag_offset = w.offset,
                            .payload_len = w.len}));
    EXPECT_EQ(emit_header(*r), header_of(*w.pkt));
    ASSERT_EQ(reassembled.size(), w.offset);
    reassembled.insert(reassembled.end(), v->payload().begin(), v->payload().end());
  }
  // The three payloads are one ICMP echo request of 8 + 3000 bytes whose checksum verifies.
  ASSERT_EQ(reassembled.size(), 3008u);
  EXPECT_EQ(reassembled[0], 8);
  EXPECT_EQ(inet_checksum(reassembled), 0);
}

TEST(Ipv4, OptionsRecordRouteAndTimestamp) {
  for (const auto* p : {&kRecordRoute, &kRecordRouteReply, &kTimestampOpt}) {
    auto v = Ipv4View::parse(*p);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->header_len(), 60u);
    EXPECT_EQ(v->options().size(), 40u);
    EXPECT_EQ(v->payload().size(), 64u);
    EXPECT_EQ(v->payload()[0] & 0xf7, 0);  // echo request (8) or reply (0)
    auto r = Ipv4Repr::parse(*v);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->payload_len, 64u);
    // We emit no options: the re-emitted header is the fixed 20 bytes.
    EXPECT_EQ(r->header_len(), 20u);
  }
  auto rr = Ipv4View::parse(kRecordRoute)->options();
  EXPECT_EQ(rr[0], 1);   // NOP
  EXPECT_EQ(rr[1], 7);   // record route
  EXPECT_EQ(rr[2], 39);  // length
  EXPECT_EQ(rr[3], 8);   // pointer: first free slot after one address
  // Linux's reply rebuilds the options (ip_options_echo): RR first, three addresses recorded.
  auto rr_reply = Ipv4View::parse(kRecordRouteReply)->options();
  EXPECT_EQ(rr_reply[0], 7);
  EXPECT_EQ(rr_reply[2], 16);
  EXPECT_EQ(Ipv4View::parse(kTimestampOpt)->options()[0], 0x44);
  EXPECT_EQ(Ipv4View::parse(kTimestampOpt)->options()[1], 40);
}

TEST(Ipv4, ReservedFlagIsReadButNotRejected) {
  // Linux answered kReservedBitEcho with kReservedBitReply: the bit is ignored on input.
  auto v = Ipv4View::parse(kReservedBitEcho);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->reserved_flag());
  EXPECT_FALSE(v->dont_frag());
  auto r = Ipv4Repr::parse(*v);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ident, 0x4242);
  EXPECT_FALSE(Ipv4View::parse(kReservedBitReply)->reserved_flag());
  // Re-emitting clears it (RFC 791 §3.1: must be zero).
  std::vector<uint8_t> want = header_of(kReservedBitEcho);
  want[6] &= 0x7f;
  fix_checksum(want);
  EXPECT_EQ(emit_header(*r), want);
}

TEST(Ipv4, EveryTruncationIsTruncated) {
  for (const auto* p : {&kEchoRequest, &kUdpDf, &kFrag3, &kRecordRoute, &kTimestampOpt}) {
    for (size_t n = 0; n < p->size(); ++n) {
      auto v = Ipv4View::parse(std::span(*p).first(n));
      ASSERT_FALSE(v) << n;
      EXPECT_EQ(v.error(), WireError::kTruncated) << n;
    }
  }
}

TEST(Ipv4, BadVersionAndHeaderLength) {
  for (uint8_t version : {0, 1, 5, 6, 15}) {
    std::vector<uint8_t> p = kEchoRequest;
    p[0] = static_cast<uint8_t>(version << 4 | 5);
    EXPECT_EQ(Ipv4View::parse(p).error(), WireError::kBadVersion) << int(version);
  }
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    std::vector<uint8_t> p = kEchoRequest;
    p[0] = 0x40 | ihl;
    EXPECT_EQ(Ipv4View::parse(p).error(), WireError::kBadHeaderLen) << int(ihl);
  }
  // IHL 15 on a 20-byte-header packet of 84 bytes: the "header" swallows 60 bytes of payload,
  // which is not an option list (the first byte, ICMP type 8, claims length 0).
  std::vector<uint8_t> p = kEchoRequest;
  p[0] = 0x4f;
  EXPECT_EQ(Ipv4View::parse(p).error(), WireError::kBadOption);
}

TEST(Ipv4, ImpossibleTotalLength) {
  std::vector<uint8_t> p = kEchoRequest;
  for (uint16_t total : {0, 1, 19}) {
    p[2] = static_cast<uint8_t>(total >> 8);
    p[3] = static_cast<uint8_t>(total);
    EXPECT_EQ(Ipv4View::parse(p).error(), WireError::kBadLength) << total;
  }
  // Below the 60-byte header of a packet with options.
  std::vector<uint8_t> o = kRecordRoute;
  o[2] = 0;
  o[3] = 59;
  EXPECT_EQ(Ipv4View::parse(o).error(), WireError::kBadLength);
  // Exactly the header is fine (no payload).
  o[3] = 60;
  fix_checksum(o);
  auto r = parse_repr(o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload_len, 0);
  // Longer than what arrived.
  p = kEchoRequest;
  p[3] = 85;
  EXPECT_EQ(Ipv4View::parse(p).error(), WireError::kTruncated);
}

TEST(Ipv4, OptionLengths) {
  auto check = [](std::vector<uint8_t> opts) { return ipv4_check_options(opts); };
  EXPECT_TRUE(check({}));
  EXPECT_TRUE(check({1, 1, 1, 1}));                  // NOPs
  EXPECT_TRUE(check({0, 0xff, 0x07, 0x00}));         // anything after EOL is padding
  EXPECT_TRUE(check({1, 7, 3, 4}));                  // NOP, RR with room for nothing, EOL
  EXPECT_TRUE(check({0x94, 4, 0, 0}));               // router alert, exactly fills the list
  EXPECT_FALSE(check({1, 1, 1, 7}));                 // type with no length byte
  EXPECT_FALSE(check({7, 0, 0, 0}));                 // length 0
  EXPECT_FALSE(check({7, 1, 0, 0}));                 // length 1
  EXPECT_FALSE(check({7, 5, 0, 0}));                 // runs past the header
  EXPECT_FALSE(check({0x94, 4, 0, 0, 7, 9, 0, 0}));  // the second one runs past
  EXPECT_EQ(check({7, 5, 0, 0}).error(), WireError::kBadOption);
  // The same through the view: RR length 41 in the 40-byte option area of kRecordRoute.
  std::vector<uint8_t> p = kRecordRoute;
  p[22] = 41;
  EXPECT_EQ(Ipv4View::parse(p).error(), WireError::kBadOption);
  p[22] = 39;
  p[20] = 0;  // EOL before the NOP: the rest is padding, accepted
  EXPECT_TRUE(Ipv4View::parse(p));
}

TEST(Ipv4, BadChecksum) {
  std::vector<uint8_t> p = kEchoRequest;
  p[8] = 63;  // TTL changed, checksum not updated
  EXPECT_FALSE(Ipv4View::parse(p)->verify_checksum());
  EXPECT_EQ(parse_repr(p).error(), WireError::kBadChecksum);
  auto r = parse_repr(p, Checksum::kIgnore);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ttl, 63);
  // Options are covered too.
  std::vector<uint8_t> o = kRecordRoute;
  o[40] ^= 1;
  EXPECT_EQ(parse_repr(o).error(), WireError::kBadChecksum);
  // The payload is not.
  std::vector<uint8_t> q = kEchoRequest;
  q[40] ^= 1;
  EXPECT_TRUE(parse_repr(q));
}

// Sets the flags/offset word (offset in bytes) and the total length, then fixes the checksum.
std::vector<uint8_t> with_frag(bool mf, uint32_t offset, size_t payload_len) {
  std::vector<uint8_t> p = header_of(kEchoRequest);
  p.resize(20 + payload_len, 0x5a);
  const uint16_t w = static_cast<uint16_t>((mf ? 0x2000 : 0) | offset / 8);
  p[6] = static_cast<uint8_t>(w >> 8);
  p[7] = static_cast<uint8_t>(w);
  p[2] = static_cast<uint8_t>((20 + payload_len) >> 8);
  p[3] = static_cast<uint8_t>(20 + payload_len);
  fix_checksum(p);
  return p;
}

TEST(Ipv4, FragmentPastTheLargestDatagram) {
  // Largest offset (8191 * 8 = 65528): any data at all ends past 65535 - 20.
  EXPECT_EQ(parse_repr(with_frag(false, 65528, 8)).error(), WireError::kBadLength);
  EXPECT_EQ(parse_repr(with_frag(false, 65528, 0)).error(), WireError::kBadLength);
  // The last byte a datagram with a minimal header can hold: offset + data == 65515.
  EXPECT_TRUE(parse_repr(with_frag(false, 65512, 3)));
  EXPECT_EQ(parse_repr(with_frag(false, 65512, 4)).error(), WireError::kBadLength);
  EXPECT_EQ(parse_repr(with_frag(true, 64000, 1600)).error(), WireError::kBadLength);
  auto r = parse_repr(with_frag(false, 65512, 3));
  EXPECT_EQ(r->frag_offset, 65512);
}

TEST(Ipv4, NonFinalFragmentNotMultipleOf8) {
  EXPECT_EQ(parse_repr(with_frag(true, 0, 7)).error(), WireError::kMalformed);
  EXPECT_EQ(parse_repr(with_frag(true, 1480, 1481)).error(), WireError::kMalformed);
  EXPECT_TRUE(parse_repr(with_frag(true, 1480, 1480)));
  EXPECT_TRUE(parse_repr(with_frag(false, 1480, 1481)));  // the last fragment may be any size
  // DF on a fragment is odd but legal (Linux tracks it as max_df_size).
  std::vector<uint8_t> p = with_frag(true, 8, 8);
  p[6] |= 0x40;
  fix_checksum(p);
  auto r = parse_repr(p);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->dont_frag && r->more_frags);
}

TEST(Ipv4, EmitAllFieldsRoundTrip) {
  Ipv4Repr r{.src = Ipv4Addr::from_octets(192, 0, 2, 1),
             .dst = Ipv4Addr::from_octets(198, 51, 100, 7),
             .protocol = 253,  // experimental (RFC 3692): any byte is representable
             .ttl = 1,
             .dscp = 46,  // EF
             .ecn = 3,    // CE
             .ident = 0xfffe,
             .dont_frag = true,
             .more_frags = true,
             .frag_offset = 65512,
             .payload_len = 0};
  std::vector<uint8_t> out(r.buffer_len());
  r.emit(out);
  EXPECT_EQ(out[1], 46 << 2 | 3);
  EXPECT_EQ(out[6], 0x60 | 0x1f);
  EXPECT_EQ(*parse_repr(out), r);
}

TEST(Ipv4DeathTest, EmitAssertsOnImpossibleFields) {
  std::vector<uint8_t> out(20);
  EXPECT_DEATH((Ipv4Repr{.frag_offset = 4}.emit(out)), "multiple of 8");
  EXPECT_DEATH((Ipv4Repr{.payload_len = 65516}.emit(out)), "65535");
  EXPECT_DEATH((Ipv4Repr{.dscp = 64}.emit(out)), "dscp");
  std::vector<uint8_t> small(19);
  EXPECT_DEATH((Ipv4Repr{}.emit(small)), "too small");
}

TEST(Ipv4, DecrementTtlMatchesLinuxRouter) {
  // wic-r forwarded kRouterIn as kRouterOut: TTL 64 -> 63, checksum updated incrementally.
  std::vector<uint8_t> p = kRouterIn;
  ipv4_decrement_ttl(p);
  EXPECT_EQ(p, kRouterOut);
  EXPECT_TRUE(Ipv4View::parse(p)->verify_checksum());
}

TEST(Ipv4, DecrementTtlMatchesRecomputation) {
  // RFC 1624's incremental update must equal a full recomputation for every TTL, including the
  // headers whose checksum is 0x0000 or 0xffff before or after (the eqn. 2 trap).
  Rng rng(1624);
  int edge_cases = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> h(20);
    for (auto& b : h) b = static_cast<uint8_t>(rng.next_u32());
    h[0] = 0x45;
    h[8] = static_cast<uint8_t>(1 + rng.below(255));
    if (i % 4 == 0) {
      // Steer the checksum to 0x0000 / 0xffff edges: pick bytes 12..13 so that the sum hits.
      h[10] = h[11] = h[12] = h[13] = 0;
      const uint16_t want = i % 8 == 0 ? 0xffff : 0xfffe;
      const uint16_t s = csum_partial(h);
      const uint16_t fill = static_cast<uint16_t>(want - s);  // may wrap: fine, it is a test
      h[12] = static_cast<uint8_t>(fill >> 8);
      h[13] = static_cast<uint8_t>(fill);
    }
    fix_checksum(h);
    if (h[10] == 0 && h[11] == 0) ++edge_cases;
    std::vector<uint8_t> want = h;
    want[8] = static_cast<uint8_t>(h[8] - 1);
    fix_checksum(want);
    ipv4_decrement_ttl(h);
    ASSERT_EQ(h, want) << i;
    ASSERT_EQ(csum_partial(h), 0xffff);
  }
  EXPECT_GT(edge_cases, 0);
}

TEST(Ipv4, MartianSourceHelper) {
  EXPECT_TRUE(ipv4_src_is_martian(Ipv4Addr::from_octets(224, 0, 0, 1)));
  EXPECT_TRUE(ipv4_src_is_martian(Ipv4Addr::broadcast()));
  EXPECT_FALSE(ipv4_src_is_martian(kA));
  EXPECT_FALSE(ipv4_src_is_martian(Ipv4Addr::any()));  // DHCP clients use 0.0.0.0
  // ...and the wire layer accepts it: it is the IP layer's call.
  std::vector<uint8_t> p = kEchoRequest;
  p[12] = 224;
  fix_checksum(p);
  EXPECT_TRUE(parse_repr(p));
}

}  // namespace
}  // namespace ustack::wire
