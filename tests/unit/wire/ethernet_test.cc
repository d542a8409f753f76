// Ethernet II + 802.1Q: golden bytes in both directions, truncation, bad inputs.
#include "ustack/wire/ethernet.h"

#include <gtest/gtest.h>

#include <vector>

namespace ustack::wire {
namespace {

// First 14 bytes of an ARP request Linux sent out of a TAP (captured with tshark).
const std::vector<uint8_t> kArpRequestHeader = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // dst: broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // src
    0x08, 0x06,                          // ARP
};

// The same with an 802.1Q tag: PCP 5, DEI 0, VID 100.
const std::vector<uint8_t> kTagged = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00,
                                      0x00, 0x01, 0x81, 0x00, 0xa0, 0x64, 0x08, 0x00, 0xde, 0xad};

TEST(Ethernet, DeconstructGolden) {
  auto v = EthernetView::parse(kArpRequestHeader);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->dst().is_broadcast());
  EXPECT_EQ(v->src().to_string(), "02:00:00:00:00:01");
  EXPECT_EQ(v->ethertype(), to_u16(EtherType::kArp));
  EXPECT_FALSE(v->vlan());
  EXPECT_EQ(v->header_len(), 14u);
  EXPECT_TRUE(v->payload().empty());
  auto r = EthernetRepr::parse(*v);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (EthernetRepr{MacAddr::broadcast(), *MacAddr::parse("02:00:00:00:00:01"),
                              to_u16(EtherType::kArp), std::nullopt}));
}

TEST(Ethernet, ConstructGolden) {
  EthernetRepr r{MacAddr::broadcast(), *MacAddr::parse("02:00:00:00:00:01"),
                 to_u16(EtherType::kArp), std::nullopt};
  std::vector<uint8_t> out(r.header_len(), 0xcc);
  r.emit(out);
  EXPECT_EQ(out, kArpRequestHeader);
}

TEST(Ethernet, VlanTagBothDirections) {
  auto v = EthernetView::parse(kTagged);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->ethertype(), to_u16(EtherType::kIpv4));
  ASSERT_TRUE(v->vlan());
  EXPECT_EQ(*v->vlan(), (VlanTag{5, false, 100}));
  EXPECT_EQ(v->header_len(), 18u);
  EXPECT_EQ(v->payload().size(), 2u);
  auto r = EthernetRepr::parse(*v);
  ASSERT_TRUE(r);
  std::vector<uint8_t> out(r->buffer_len(2));
  r->emit(out);
  out[18] = 0xde;
  out[19] = 0xad;
  EXPECT_EQ(out, kTagged);
}

TEST(Ethernet, RejectsTruncatedAndNonEthernetII) {
  for (size_t n = 0; n < 14; ++n) {
    auto v = EthernetView::parse(std::span(kArpRequestHeader).first(n));
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error(), WireError::kTruncated);
  }
  auto t = EthernetView::parse(std::span(kTagged).first(17));
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error(), WireError::kTruncated);
  std::vector<uint8_t> llc = kArpRequestHeader;
  llc[12] = 0x00;
  llc[13] = 0x2e;  // an 802.3 length, not an EtherType
  EXPECT_EQ(EthernetView::parse(llc).error(), WireError::kUnsupported);
}

TEST(MacAddr, ParseAndClassify) {
  EXPECT_FALSE(MacAddr::parse("02:00:00:00:00"));
  EXPECT_FALSE(MacAddr::parse("02:00:00:00:00:0g"));
  EXPECT_FALSE(MacAddr::parse("02:00:00:00:00:011"));
  auto m = MacAddr::parse("01-00-5E-00-00-01");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->is_multicast());
  EXPECT_FALSE(m->is_broadcast());
  EXPECT_TRUE(MacAddr::broadcast().is_multicast());
  EXPECT_TRUE(MacAddr::parse("02:00:00:00:00:01")->is_unicast());
  EXPECT_TRUE(MacAddr::parse("02:00:00:00:00:01")->is_local());
}

TEST(Ipv4Addr, ParseStrictlyAndPrint) {
  EXPECT_EQ(Ipv4Addr::parse("10.0.0.1")->v, 0x0a000001u);
  EXPECT_EQ(Ipv4Addr::parse("255.255.255.255")->to_string(), "255.255.255.255");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.", "1.2.3.256", "1..2.3", "a.b.c.d", "1.2.3.4 ",
                          "1234.1.1.1", " 1.2.3.4", "1.2.3.-4"}) {
    EXPECT_FALSE(Ipv4Addr::parse(bad)) << bad;
  }
  EXPECT_TRUE(Ipv4Addr::from_octets(224, 0, 0, 1).is_multicast());
  EXPECT_TRUE(Ipv4Addr::from_octets(127, 0, 0, 1).is_loopback());
  EXPECT_EQ(prefix_mask(24), 0xffffff00u);
  EXPECT_EQ(prefix_mask(0), 0u);
  EXPECT_EQ(prefix_mask(32), 0xffffffffu);
}

}  // namespace
}  // namespace ustack::wire
