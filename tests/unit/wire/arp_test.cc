// ARP (RFC 826): golden frames from Linux in both directions, truncation, padding, unsupported
// hardware/protocol types and opcodes, gratuitous and probe classification.
#include "ustack/wire/arp.h"

#include <gtest/gtest.h>

#include <vector>

#include "ustack/wire/ethernet.h"

namespace ustack::wire {
namespace {

// All frames below were captured with `tcpdump -i wau-va -w` on one end of a veth pair between
// two network namespaces: wau-va 02:00:5e:10:00:0a 10.77.0.1/24 <-> wau-vb 02:00:5e:10:00:0b
// 10.77.0.2/24 (Linux 6.x, tx offloads off). veth does not pad: each frame is 14 + 28 bytes.

// `ping -c 1 10.77.0.2` from wau-va: Linux's request, target hardware address all zeros.
const std::vector<uint8_t> kRequestFrame = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x08, 0x06,  // eth
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,                                      // request
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x0a, 0x4d, 0x00, 0x01,  // sender 10.77.0.1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x4d, 0x00, 0x02,  // target 10.77.0.2
};

// wau-vb's reply to it, unicast.
const std::vector<uint8_t> kReplyFrame = {
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b, 0x08, 0x06,  // eth
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,                                      // reply
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b, 0x0a, 0x4d, 0x00, 0x02,  // sender 10.77.0.2
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x0a, 0x4d, 0x00, 0x01,  // target 10.77.0.1
};

// `arping -U -c 1 -I wau-va 10.77.0.1` (iputils): unsolicited request, sender ip == target ip,
// target hardware address broadcast.
const std::vector<uint8_t> kGratuitousRequestFrame = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x08, 0x06,  // eth
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,                                      // request
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x0a, 0x4d, 0x00, 0x01,  // sender 10.77.0.1
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x4d, 0x00, 0x01,  // target 10.77.0.1
};

// `arping -A -c 1 -I wau-va 10.77.0.1`: the same announcement as a reply.
const std::vector<uint8_t> kGratuitousReplyFrame = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x08, 0x06,  // eth
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,                                      // reply
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x0a, 0x4d, 0x00, 0x01,  // sender 10.77.0.1
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x0a, 0x4d, 0x00, 0x01,  // target 10.77.0.1
};

// `arping -D -c 1 -I wau-va 10.77.0.2`: RFC 5227 probe, sender ip 0.0.0.0.
const std::vector<uint8_t> kProbeFrame = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x08, 0x06,  // eth
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,                                      // request
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00,  // sender 0.0.0.0
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x4d, 0x00, 0x02,  // target 10.77.0.2
};

// wau-vb's answer to the probe: Linux replies to 0.0.0.0 (target ip 0), unicast.
const std::vector<uint8_t> kProbeReplyFrame = {
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b, 0x08, 0x06,  // eth
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,                                      // reply
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b, 0x0a, 0x4d, 0x00, 0x02,  // sender 10.77.0.2
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00,  // target 0.0.0.0
};

const MacAddr kMacA = *MacAddr::parse("02:00:5e:10:00:0a");
const MacAddr kMacB = *MacAddr::parse("02:00:5e:10:00:0b");
const Ipv4Addr kIpA = Ipv4Addr::from_octets(10, 77, 0, 1);
const Ipv4Addr kIpB = Ipv4Addr::from_octets(10, 77, 0, 2);

// The ARP packet inside a captured frame, found through the Ethernet parser.
std::vector<uint8_t> arp_of(const std::vector<uint8_t>& frame) {
  auto eth = EthernetView::parse(frame);
  EXPECT_TRUE(eth);
  EXPECT_EQ(eth->ethertype(), to_u16(EtherType::kArp));
  return {eth->payload().begin(), eth->payload().end()};
}

struct Golden {
  const char* name;
  const std::vector<uint8_t>& frame;
  ArpRepr repr;
  bool gratuitous;
  bool probe;
};

const Golden kGolden[] = {
    {"request", kRequestFrame, {ArpOp::kRequest, kMacA, kIpA, MacAddr{}, kIpB}, false, false},
    {"reply", kReplyFrame, {ArpOp::kReply, kMacB, kIpB, kMacA, kIpA}, false, false},
    {"gratuitous request",
     kGratuitousRequestFrame,
     {ArpOp::kRequest, kMacA, kIpA, MacAddr::broadcast(), kIpA},
     true,
     false},
    {"gratuitous reply",
     kGratuitousReplyFrame,
     {ArpOp::kReply, kMacA, kIpA, kMacA, kIpA},
     true,
     false},
    {"probe",
     kProbeFrame,
     {ArpOp::kRequest, kMacA, Ipv4Addr::any(), MacAddr::broadcast(), kIpB},
     false,
     true},
    {"probe reply",
     kProbeReplyFrame,
     {ArpOp::kReply, kMacB, kIpB, kMacA, Ipv4Addr::any()},
     false,
     false},
};

TEST(Arp, DeconstructGolden) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.name);
    const std::vector<uint8_t> pkt = arp_of(g.frame);
    ASSERT_EQ(pkt.size(), kArpLen);
    auto v = ArpView::parse(pkt);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->bytes().size(), kArpLen);
    EXPECT_EQ(v->op(), to_u16(g.repr.op));
    EXPECT_EQ(v->sender_hw(), g.repr.sender_hw);
    EXPECT_EQ(v->sender_ip(), g.repr.sender_ip);
    EXPECT_EQ(v->target_hw(), g.repr.target_hw);
    EXPECT_EQ(v->target_ip(), g.repr.target_ip);
    auto r = ArpRepr::parse(*v);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, g.repr);
    EXPECT_EQ(r->is_gratuitous(), g.gratuitous);
    EXPECT_EQ(r->is_probe(), g.probe);
  }
}

TEST(Arp, ConstructGolden) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.name);
    EXPECT_EQ(g.repr.header_len(), kArpLen);
    EXPECT_EQ(g.repr.buffer_len(), kArpLen);
    // Bytes past the 28 must stay untouched: emit writes exactly buffer_len().
    std::vector<uint8_t> out(kArpLen + 4, 0xcc);
    g.repr.emit(out);
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + kArpLen), arp_of(g.frame));
    EXPECT_EQ(std::vector<uint8_t>(out.begin() + kArpLen, out.end()),
              std::vector<uint8_t>(4, 0xcc));
  }
}

TEST(Arp, EthernetPaddingIsDropped) {
  // A frame padded to the 60-byte Ethernet minimum: 18 bytes of padding after the packet.
  std::vector<uint8_t> frame = kReplyFrame;
  frame.resize(kEthMinFrameLen, 0xa5);
  auto eth = EthernetView::parse(frame);
  ASSERT_TRUE(eth);
  auto v = ArpView::parse(eth->payload());
  ASSERT_TRUE(v);
  EXPECT_EQ(v->bytes().size(), kArpLen);
  EXPECT_EQ(v->bytes().data(), eth->payload().data());
  EXPECT_EQ(*ArpRepr::parse(*v), kGolden[1].repr);
}

TEST(Arp, EveryTruncationIsTruncated) {
  const std::vector<uint8_t> pkt = arp_of(kRequestFrame);
  for (size_t n = 0; n < kArpLen; ++n) {
    auto v = ArpView::parse(std::span(pkt).first(n));
    ASSERT_FALSE(v) << n;
    EXPECT_EQ(v.error(), WireError::kTruncated) << n;
  }
}

TEST(Arp, LengthsComeFromHlenPlenBeforeTypesAreJudged) {
  std::vector<uint8_t> pkt = arp_of(kRequestFrame);
  // hlen 8 (an EUI-64 link) needs 8 + 2 * (8 + 4) = 32 bytes: 28 are truncated...
  pkt[4] = 8;
  EXPECT_EQ(ArpView::parse(pkt).error(), WireError::kTruncated);
  // ...and 32 are complete but unsupported.
  pkt.resize(32);
  EXPECT_EQ(ArpView::parse(pkt).error(), WireError::kUnsupported);
  // hlen = plen = 0 needs only the fixed part.
  std::vector<uint8_t> empty(pkt.begin(), pkt.begin() + kArpFixedLen);
  empty[4] = 0;
  empty[5] = 0;
  EXPECT_EQ(ArpView::parse(empty).error(), WireError::kUnsupported);
  // The largest lengths need 8 + 2 * 510 bytes.
  std::vector<uint8_t> big(kArpFixedLen + 2 * (255 + 255) - 1);
  big[4] = 255;
  big[5] = 255;
  EXPECT_EQ(ArpView::parse(big).error(), WireError::kTruncated);
  big.push_back(0);
  EXPECT_EQ(ArpView::parse(big).error(), WireError::kUnsupported);
}

TEST(Arp, RejectsOtherHardwareAndProtocols) {
  const std::vector<uint8_t> good = arp_of(kRequestFrame);
  struct Case {
    size_t off;
    uint8_t val;
  };
  for (Case c : {Case{1, 6},     // htype 6: IEEE 802 networks
                 Case{0, 1},     // htype 0x0101
                 Case{2, 0x86},  // ptype 0x8600
                 Case{3, 0x06},  // ptype 0x0806
                 Case{4, 5},     // hlen 5 with plen 4: 26 bytes, complete but not Ethernet
                 Case{5, 3}}) {  // plen 3
    std::vector<uint8_t> pkt = good;
    pkt[c.off] = c.val;
    auto v = ArpView::parse(pkt);
    ASSERT_FALSE(v) << c.off;
    EXPECT_EQ(v.error(), WireError::kUnsupported) << c.off;
  }
}

TEST(Arp, OnlyRequestAndReplyOpcodes) {
  std::vector<uint8_t> pkt = arp_of(kRequestFrame);
  // 0 reserved, 3/4 RARP (RFC 903), 8/9 InARP (RFC 2390), 0x0101 and 0xffff garbage.
  for (uint16_t op : {0, 3, 4, 8, 9, 0x0101, 0xffff}) {
    pkt[6] = static_cast<uint8_t>(op >> 8);
    pkt[7] = static_cast<uint8_t>(op);
    auto v = ArpView::parse(pkt);
    ASSERT_TRUE(v) << op;  // the format is fine...
    EXPECT_EQ(v->op(), op);
    auto r = ArpRepr::parse(*v);
    ASSERT_FALSE(r) << op;  // ...the meaning is not ours
    EXPECT_EQ(r.error(), WireError::kUnsupported) << op;
  }
}

TEST(Arp, GratuitousAndProbeEdgeCases) {
  // Sender and target both 0.0.0.0 is a probe for nothing, never an announcement.
  ArpRepr zero{ArpOp::kRequest, kMacA, Ipv4Addr::any(), MacAddr{}, Ipv4Addr::any()};
  EXPECT_FALSE(zero.is_gratuitous());
  EXPECT_TRUE(zero.is_probe());
  // A reply from 0.0.0.0 is not an RFC 5227 probe (probes are requests).
  ArpRepr reply{ArpOp::kReply, kMacA, Ipv4Addr::any(), kMacB, kIpB};
  EXPECT_FALSE(reply.is_probe());
}

TEST(Arp, RoundTripsEveryField) {
  ArpRepr r{ArpOp::kReply, *MacAddr::parse("12:34:56:78:9a:bc"),
            Ipv4Addr::from_octets(192, 0, 2, 1), *MacAddr::parse("de:f0:12:34:56:78"),
            Ipv4Addr::from_octets(198, 51, 100, 254)};
  std::vector<uint8_t> out(r.buffer_len());
  r.emit(out);
  auto v = ArpView::parse(out);
  ASSERT_TRUE(v);
  EXPECT_EQ(*ArpRepr::parse(*v), r);
}

}  // namespace
}  // namespace ustack::wire
