// UDP (RFC 768): golden datagrams from Linux in both directions, the odd-length padding byte,
// zero and all-ones checksums, truncation, impossible lengths, bad checksums.
#include "ustack/wire/udp.h"

#include <gtest/gtest.h>

#include <vector>

namespace ustack::wire {
namespace {

// Captured with `tcpdump -i wau-va -w` on one end of a veth pair between two network namespaces
// (wau-va 10.77.0.1 <-> wau-vb 10.77.0.2, `ethtool -K wau-va tx off`, so Linux computed the
// checksum in software), sent by `printf hello | socat -u - UDP4-SENDTO:10.77.0.2:5000,
// sourceport=40000`. Whole Ethernet frame: 14 + 20 (IPv4, DF) + 8 + 5 bytes. The payload has odd
// length, so the checksum covers an implicit zero pad byte.
const std::vector<uint8_t> kHelloFrame = {
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x08, 0x00,  // eth
    0x45, 0x00, 0x00, 0x21, 0xbf, 0x37, 0x40, 0x00, 0x40, 0x11, 0x66, 0xf8,              // ipv4
    0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x02,  // 10.77.0.1 -> 10.77.0.2
    0x9c, 0x40, 0x13, 0x88, 0x00, 0x0d, 0xf7, 0x9c,  // udp 40000 -> 5000, len 13, sum f79c
    'h',  'e',  'l',  'l',  'o',
};

// The same with `printf ustack` and sourceport=40001: an even-length payload.
const std::vector<uint8_t> kUstackFrame = {
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x08, 0x00,  // eth
    0x45, 0x00, 0x00, 0x22, 0xbf, 0x39, 0x40, 0x00, 0x40, 0x11, 0x66, 0xf5,              // ipv4
    0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x02,  // 10.77.0.1 -> 10.77.0.2
    0x9c, 0x41, 0x13, 0x88, 0x00, 0x0e, 0xee, 0x2b,  // udp 40001 -> 5000, len 14, sum ee2b
    'u',  's',  't',  'a',  'c',  'k',
};
constexpr size_t kUdpOffset = 14 + 20;  // Ethernet + option-less IPv4

// Built by hand (not captured): the hello datagram with its checksum field 0, "no checksum".
const std::vector<uint8_t> kZeroChecksum = {0x9c, 0x40, 0x13, 0x88, 0x00, 0x0d, 0x00,
                                            0x00, 'h',  'e',  'l',  'l',  'o'};

// Built by hand (not captured): payload 3b 75 is chosen (as the complement of the sum over
// pseudo-header and header) so that the computed checksum is 0; RFC 768 sends it as ffff.
const std::vector<uint8_t> kAllOnesChecksum = {0x9c, 0x40, 0x13, 0x88, 0x00,
                                               0x0a, 0xff, 0xff, 0x3b, 0x75};

const Ipv4Pseudo kPseudo{Ipv4Addr::from_octets(10, 77, 0, 1), Ipv4Addr::from_octets(10, 77, 0, 2)};

std::vector<uint8_t> udp_of(const std::vector<uint8_t>& frame) {
  return {frame.begin() + kUdpOffset, frame.end()};
}

struct Golden {
  const char* name;
  std::vector<uint8_t> datagram;
  UdpRepr repr;
  std::vector<uint8_t> payload;
};

std::vector<Golden> goldens() {
  return {
      {"hello (odd)", udp_of(kHelloFrame), {40000, 5000}, {'h', 'e', 'l', 'l', 'o'}},
      {"ustack (even)", udp_of(kUstackFrame), {40001, 5000}, {'u', 's', 't', 'a', 'c', 'k'}},
      {"computed zero sent as ffff", kAllOnesChecksum, {40000, 5000}, {0x3b, 0x75}},
  };
}

TEST(Udp, DeconstructGolden) {
  for (const Golden& g : goldens()) {
    SCOPED_TRACE(g.name);
    auto v = UdpView::parse(g.datagram);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->src_port(), g.repr.src_port);
    EXPECT_EQ(v->dst_port(), g.repr.dst_port);
    EXPECT_EQ(v->length(), g.datagram.size());
    EXPECT_EQ(v->bytes().size(), g.datagram.size());
    EXPECT_EQ(std::vector<uint8_t>(v->payload().begin(), v->payload().end()), g.payload);
    EXPECT_TRUE(v->checksum_ok(kPseudo));
    auto r = UdpRepr::parse(*v, kPseudo);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, g.repr);
  }
  EXPECT_EQ(UdpView::parse(udp_of(kHelloFrame))->checksum(), 0xf79c);
}

TEST(Udp, ConstructGolden) {
  for (const Golden& g : goldens()) {
    SCOPED_TRACE(g.name);
    EXPECT_EQ(g.repr.header_len(), kUdpHeaderLen);
    ASSERT_EQ(g.repr.buffer_len(g.payload.size()), g.datagram.size());
    // Payload in place, garbage where the header goes: emit must overwrite all 8 bytes.
    std::vector<uint8_t> out(g.repr.buffer_len(g.payload.size()), 0xcc);
    std::copy(g.payload.begin(), g.payload.end(), out.begin() + kUdpHeaderLen);
    g.repr.emit(out, kPseudo);
    EXPECT_EQ(out, g.datagram);
  }
}

TEST(Udp, ZeroChecksumMeansNone) {
  auto v = UdpView::parse(kZeroChecksum);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->checksum(), 0);
  // Accepted whatever the pseudo-header says: there is nothing to verify.
  const Ipv4Pseudo other{Ipv4Addr::from_octets(192, 0, 2, 1), Ipv4Addr::from_octets(192, 0, 2, 2)};
  for (const Ipv4Pseudo& ph : {kPseudo, other}) {
    EXPECT_TRUE(v->checksum_ok(ph));
    auto r = UdpRepr::parse(*v, ph);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (UdpRepr{40000, 5000}));
  }
  std::vector<uint8_t> out(kZeroChecksum.size(), 0xcc);
  std::copy(kZeroChecksum.begin() + kUdpHeaderLen, kZeroChecksum.end(),
            out.begin() + kUdpHeaderLen);
  UdpRepr{40000, 5000}.emit_without_checksum(out);
  EXPECT_EQ(out, kZeroChecksum);
}

TEST(Udp, PaddingIsCutBeforeTheChecksum) {
  // An Ethernet frame padded to 60 bytes carries 13 bytes after the datagram. Non-zero padding
  // would break the odd-length checksum if it were summed in place of the implicit zero byte.
  std::vector<uint8_t> padded = udp_of(kHelloFrame);
  padded.resize(padded.size() + 13, 0xa5);
  auto v = UdpView::parse(padded);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->bytes().size(), 13u);
  EXPECT_EQ(v->payload().size(), 5u);
  ASSERT_TRUE(UdpRepr::parse(*v, kPseudo));
}

TEST(Udp, EveryTruncationIsTruncated) {
  const std::vector<uint8_t> d = udp_of(kHelloFrame);
  for (size_t n = 0; n < d.size(); ++n) {
    auto v = UdpView::parse(std::span(d).first(n));
    ASSERT_FALSE(v) << n;
    EXPECT_EQ(v.error(), WireError::kTruncated) << n;
  }
}

TEST(Udp, LengthFieldBelowHeaderIsBadLength) {
  std::vector<uint8_t> d = udp_of(kHelloFrame);
  for (uint8_t len = 0; len < kUdpHeaderLen; ++len) {
    d[4] = 0;
    d[5] = len;
    auto v = UdpView::parse(d);
    ASSERT_FALSE(v) << int(len);
    EXPECT_EQ(v.error(), WireError::kBadLength) << int(len);
  }
  // Length 8 is an empty datagram (the payload is then padding), 0xffff more than we have.
  d[5] = 8;
  EXPECT_TRUE(UdpView::parse(d));
  EXPECT_TRUE(UdpView::parse(d)->payload().empty());
  d[4] = 0xff;
  d[5] = 0xff;
  EXPECT_EQ(UdpView::parse(d).error(), WireError::kTruncated);
}

TEST(Udp, BadChecksum) {
  const std::vector<uint8_t> good = udp_of(kHelloFrame);
  // Any flipped bit in header or payload (checksum field included) is caught.
  for (size_t i = 0; i < good.size(); ++i) {
    if (i == 4 || i == 5) continue;  // the length field: changes what parse() accepts
    std::vector<uint8_t> d = good;
    d[i] ^= 0x01;
    auto v = UdpView::parse(d);
    ASSERT_TRUE(v) << i;
    EXPECT_FALSE(v->checksum_ok(kPseudo)) << i;
    auto r = UdpRepr::parse(*v, kPseudo);
    ASSERT_FALSE(r) << i;
    EXPECT_EQ(r.error(), WireError::kBadChecksum) << i;
    // kIgnore trusts the sender.
    EXPECT_TRUE(UdpRepr::parse(*v, kPseudo, Checksum::kIgnore)) << i;
  }
  // The pseudo-header is covered too: right bytes, wrong addresses.
  auto v = UdpView::parse(good);
  ASSERT_TRUE(v);
  Ipv4Pseudo wrong = kPseudo;
  wrong.dst = Ipv4Addr::from_octets(10, 77, 0, 3);
  EXPECT_EQ(UdpRepr::parse(*v, wrong).error(), WireError::kBadChecksum);
  // A known blind spot: the one's-complement sum is commutative, so swapped addresses verify.
  EXPECT_TRUE(UdpRepr::parse(*v, Ipv4Pseudo{kPseudo.dst, kPseudo.src}));
}

TEST(Udp, EmptyAndLargestDatagrams) {
  UdpRepr r{53, 1234};
  std::vector<uint8_t> empty(r.buffer_len(0));
  r.emit(empty, kPseudo);
  auto v = UdpView::parse(empty);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->length(), kUdpHeaderLen);
  EXPECT_EQ(*UdpRepr::parse(*v, kPseudo), r);

  std::vector<uint8_t> big(r.buffer_len(kUdpMaxPayload), 0x5a);
  r.emit(big, kPseudo);
  v = UdpView::parse(big);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->length(), 0xffff);
  EXPECT_EQ(v->payload().size(), kUdpMaxPayload);
  EXPECT_EQ(*UdpRepr::parse(*v, kPseudo), r);
}

}  // namespace
}  // namespace ustack::wire
