// Arp over a real LinkLayer, InterfaceTable and SimNic pair in virtual time: frames go in at
// the peer NIC, cross a SimLink, come up through NAPI into LinkLayer and Arp, and what we send
// is collected at the peer and compared byte for byte (for requests and replies against the
// frames Linux 6.x sent in the same situation, from tests/unit/wire/arp_test.cc).
#include "ustack/link/arp.h"

#include <gtest/gtest.h>

#include <vector>

#include "unit/dev/sim_pair.h"
#include "ustack/dev/napi.h"
#include "ustack/dev/sim_nic.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/ethernet.h"

namespace ustack::link {
namespace {

using wire::ArpOp;
using wire::ArpRepr;
using wire::Ipv4Addr;
using wire::MacAddr;

// The captured pair: Linux's wau-va (10.77.0.1) is our peer; we play wau-vb (10.77.0.2).
const MacAddr kPeerMac = *MacAddr::parse("02:00:5e:10:00:0a");
const MacAddr kOurMac = *MacAddr::parse("02:00:5e:10:00:0b");
const MacAddr kEth1Mac = *MacAddr::parse("02:00:5e:10:00:0c");
const Ipv4Addr kPeerIp = Ipv4Addr::from_octets(10, 77, 0, 1);
const Ipv4Addr kOurIp = Ipv4Addr::from_octets(10, 77, 0, 2);
const Ipv4Addr kEth1Ip = Ipv4Addr::from_octets(198, 51, 100, 1);
const Instant t0 = Instant::zero() + Duration::s(10);

// `ping -c 1 10.77.0.2` from wau-va: Linux's request.
const std::vector<uint8_t> kLinuxRequest = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a,
    0x0a, 0x4d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x4d, 0x00, 0x02,
};
// wau-vb's (Linux's) reply to it: what we must send, byte for byte.
const std::vector<uint8_t> kLinuxReply = {
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b,
    0x0a, 0x4d, 0x00, 0x02, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x0a, 0x4d, 0x00, 0x01,
};
// `arping -D -c 1 10.77.0.2`: an RFC 5227 probe, and Linux's answer (target IP 0.0.0.0).
const std::vector<uint8_t> kLinuxProbe = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x4d, 0x00, 0x02,
};
const std::vector<uint8_t> kLinuxProbeReply = {
    0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b,
    0x0a, 0x4d, 0x00, 0x02, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00,
};

// An Ethernet frame carrying `a`, built with the wire Reprs.
std::vector<uint8_t> arp_frame(MacAddr dst, MacAddr src, const ArpRepr& a) {
  std::vector<uint8_t> f(wire::kEthHeaderLen + wire::kArpLen);
  wire::EthernetRepr{dst, src, wire::to_u16(wire::EtherType::kArp), std::nullopt}.emit(f);
  a.emit(std::span(f).subspan(wire::kEthHeaderLen));
  return f;
}

struct Parsed {
  wire::EthernetRepr eth;
  std::vector<uint8_t> payload;
  std::optional<ArpRepr> arp;
};
Parsed parse(const std::vector<uint8_t>& frame) {
  Parsed p;
  auto v = wire::EthernetView::parse(frame);
  EXPECT_TRUE(v.ok());
  if (!v) return p;
  p.eth = *wire::EthernetRepr::parse(*v);
  p.payload.assign(v->payload().begin(), v->payload().end());
  if (p.eth.ethertype == wire::to_u16(wire::EtherType::kArp)) {
    auto av = wire::ArpView::parse(v->payload());
    EXPECT_TRUE(av.ok());
    if (av) {
      auto r = ArpRepr::parse(*av);
      EXPECT_TRUE(r.ok());
      if (r) p.arp = *r;
    }
  }
  return p;
}

class ArpTest : public ::testing::Test {
 protected:
  ArpTest() {
    wire_.attach(nic_);
    wire_.attach(peer_);
    nic_.set_up(true);
    peer_.set_up(true);
    eth1_.set_up(true);
    napi_.add(nic_);
    peer_napi_.add(peer_);
    if0_.add_addr({kOurIp, 24});
    if1_.add_addr({kEth1Ip, 24});
    nic_.attach(tel_);
    tel_.set_sink(&log_);
  }
  ~ArpTest() override {
    napi_.remove(nic_);
    peer_napi_.remove(peer_);
  }

  static dev::DeviceConfig cfg(const char* name, MacAddr mac) {
    dev::DeviceConfig c;
    c.name = name;
    c.mac = mac;
    c.rx_ring_size = c.tx_ring_size = 32;
    return c;
  }

  // Deliver everything due at `t` on both sides (our softirq feeds the LinkLayer).
  void step(Instant t) {
    now_ = t;
    for (int i = 0; i < 100; ++i) {
      wire_.advance(t);
      const bool a = napi_.run(t, link_);
      const bool b = peer_napi_.run(t, peer_rx_);
      if (!a && !b && wire_.next_deadline() > t) return;
    }
    ADD_FAILURE() << "event loop did not settle";
  }
  // The peer sends `frame` at `t`; it reaches our stack at `t` (zero latency).
  void inject(Instant t, const std::vector<uint8_t>& frame) {
    ASSERT_EQ(peer_.xmit(t, pool_->alloc_copy(frame, 64)), dev::XmitStatus::kQueued);
    step(t);
  }
  // Advance timers and the wire to `t`.
  void run_until(Instant t) {
    for (int i = 0; i < 1000; ++i) {
      const Instant next = arp_.next_deadline();
      if (next > t) break;
      step(next);
      arp_.on_timer(next);
      step(next);
    }
    step(t);
    arp_.on_timer(t);
    step(t);
  }
  // Frames the peer received since the last call.
  std::vector<std::vector<uint8_t>> sent() {
    std::vector<std::vector<uint8_t>> out;
    out.swap(peer_rx_.frames);
    peer_rx_.when.clear();
    peer_rx_.devs.clear();
    return out;
  }
  // An IPv4 packet (data() at the header) from `src`, tagged in its last byte.
  PacketPtr ip_packet(Ipv4Addr src, Ipv4Addr dst, uint8_t tag) {
    std::vector<uint8_t> b(24, 0);
    b[0] = 0x45;
    b[3] = 24;
    b[8] = 64;
    auto s = src.octets(), d = dst.octets();
    std::copy(s.begin(), s.end(), b.begin() + 12);
    std::copy(d.begin(), d.end(), b.begin() + 16);
    b.back() = tag;
    PacketPtr p = pool_->alloc(BufferPool::kDefaultHeadroom, b.size());
    EXPECT_TRUE(p->append(b).ok());
    return p;
  }
  ArpRepr request_from_peer(Ipv4Addr target, Ipv4Addr sender = kPeerIp,
                            MacAddr sender_mac = kPeerMac) {
    return ArpRepr{ArpOp::kRequest, sender_mac, sender, MacAddr{}, target};
  }
  const NeighEntry* entry(Ipv4Addr ip) const { return arp_.neigh().lookup(if0_.ifindex(), ip); }
  uint64_t drops(DropReason r) const { return tel_.drops().get(r); }

  PoolHandle pool_ = BufferPool::create();
  TraceLog log_;
  Telemetry tel_;  // before the devices attached to it, so it outlives them
  dev::SimLink wire_{dev::SimLinkConfig{.latency = Duration::zero(), .pad_short_frames = false}};
  dev::SimNic nic_{cfg("tap0", kOurMac), *pool_};
  dev::SimNic peer_{cfg("peer0", kPeerMac), *pool_};
  dev::SimNic eth1_{cfg("eth1", kEth1Mac), *pool_};  // a second leg, on no wire
  dev::NapiContext napi_, peer_napi_;
  dev::simtest::Collect peer_rx_;
  InterfaceTable ifs_;
  Interface& if0_ = ifs_.add(nic_);
  Interface& if1_ = ifs_.add(eth1_);
  LinkLayer link_{ifs_, tel_};
  Arp arp_{link_, ifs_, *pool_, tel_, NeighConfig{}, Rng(5)};
  Instant now_ = t0;
};

// ---- answering requests -----------------------------------------------------------------------

TEST_F(ArpTest, RepliesToLinuxRequestForOurAddressExactlyAsLinuxDoes) {
  inject(t0, kLinuxRequest);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], kLinuxReply) << "42 bytes: padding is the device's business, not ARP's";
  // RFC 826 merge: the requester is cached as STALE.
  ASSERT_NE(entry(kPeerIp), nullptr);
  EXPECT_EQ(entry(kPeerIp)->state, NeighState::kStale);
  EXPECT_EQ(entry(kPeerIp)->mac, kPeerMac);
  EXPECT_EQ(arp_.stats().rx_requests, 1u);
  EXPECT_EQ(arp_.stats().tx_replies, 1u);
  EXPECT_EQ(arp_.stats().rx_dropped, 0u);
  EXPECT_EQ(tel_.drops().total(), 0u);
}

TEST_F(ArpTest, PaddedRequestIsAnsweredToo) {
  std::vector<uint8_t> padded = kLinuxRequest;
  padded.resize(60, 0xa5);  // trailer garbage after the 28 bytes
  inject(t0, padded);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], kLinuxReply);
}

TEST_F(ArpTest, NoReplyForSomeoneElsesAddressAndNothingLearned) {
  inject(t0, arp_frame(MacAddr::broadcast(), kPeerMac,
                       request_from_peer(Ipv4Addr::from_octets(10, 77, 0, 99))));
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(entry(kPeerIp), nullptr) << "requests for others never create entries";
  EXPECT_EQ(arp_.stats().rx_requests, 1u);
  EXPECT_EQ(arp_.stats().rx_dropped, 0u) << "normal traffic, not a drop";
  EXPECT_EQ(tel_.drops().total(), 0u);
}

TEST_F(ArpTest, RequestForOthersRefreshesAKnownSender) {
  inject(t0, kLinuxRequest);  // learn 10.77.0.1 at kPeerMac (STALE)
  sent();
  const MacAddr moved = *MacAddr::parse("02:00:5e:10:00:99");
  // The peer's NIC was swapped: a request for another host, from the new MAC.
  inject(t0 + Duration::s(1),
         arp_frame(MacAddr::broadcast(), moved,
                   request_from_peer(Ipv4Addr::from_octets(10, 77, 0, 99), kPeerIp, moved)));
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(entry(kPeerIp)->mac, moved);
  EXPECT_EQ(entry(kPeerIp)->state, NeighState::kStale);
}

TEST_F(ArpTest, ArpIgnore1DoesNotAnswerForAnotherInterfacesAddress) {
  inject(t0, arp_frame(MacAddr::broadcast(), kPeerMac, request_from_peer(kEth1Ip)));
  EXPECT_TRUE(sent().empty()) << "198.51.100.1 lives on eth1, the request came in on tap0";
  EXPECT_EQ(arp_.stats().tx_replies, 0u);
  EXPECT_EQ(entry(kPeerIp), nullptr);
}

TEST_F(ArpTest, SecondAddressOnTheInterfaceIsAnswered) {
  const Ipv4Addr second = Ipv4Addr::from_octets(203, 0, 113, 7);
  if0_.add_addr({second, 24});
  inject(t0, arp_frame(MacAddr::broadcast(), kPeerMac, request_from_peer(second)));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  Parsed p = parse(out[0]);
  EXPECT_EQ(p.eth.dst, kPeerMac);
  EXPECT_EQ(p.eth.src, kOurMac);
  ASSERT_TRUE(p.arp);
  EXPECT_EQ(*p.arp, (ArpRepr{ArpOp::kReply, kOurMac, second, kPeerMac, kPeerIp}));
}

TEST_F(ArpTest, ProbeIsAnsweredLikeLinuxButNotLearned) {
  inject(t0, kLinuxProbe);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], kLinuxProbeReply);
  EXPECT_TRUE(arp_.neigh().entries().empty()) << "sender 0.0.0.0 is never cached";
  EXPECT_EQ(arp_.stats().tx_replies, 1u);
  // A probe for someone else's address: silence.
  std::vector<uint8_t> other = kLinuxProbe;
  other[41] = 0x63;  // target 10.77.0.99
  inject(t0, other);
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(tel_.drops().total(), 0u);
}

TEST_F(ArpTest, DuplicateAddressIsCountedDroppedAndNotAnswered) {
  // Another station claims 10.77.0.2 (ours) in a gratuitous request.
  const MacAddr intruder = *MacAddr::parse("02:00:5e:10:00:66");
  inject(t0, arp_frame(MacAddr::broadcast(), intruder,
                       ArpRepr{ArpOp::kRequest, intruder, kOurIp, MacAddr{}, kOurIp}));
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(arp_.stats().duplicate_address, 1u);
  EXPECT_EQ(arp_.stats().rx_dropped, 1u);
  EXPECT_EQ(drops(DropReason::kDuplicateAddress), 1u);
  EXPECT_TRUE(arp_.neigh().entries().empty());
}

// ---- ignored and malformed input ------------------------------------------------------------

struct BadCase {
  const char* name;
  std::vector<uint8_t> frame;
  DropReason reason;
};

TEST_F(ArpTest, IgnoredAndMalformedFramesAreCountedDropsWithTheirReason) {
  const ArpRepr ok = request_from_peer(kOurIp);
  auto with = [&](auto mutate) {
    std::vector<uint8_t> f = arp_frame(MacAddr::broadcast(), kPeerMac, ok);
    mutate(f);
    return f;
  };
  auto from = [&](MacAddr hw, Ipv4Addr ip) {
    return arp_frame(MacAddr::broadcast(), kPeerMac,
                     ArpRepr{ArpOp::kRequest, hw, ip, MacAddr{}, kOurIp});
  };
  std::vector<BadCase> cases = {
      {"truncated", with([](auto& f) { f.resize(14 + 27); }), DropReason::kTruncated},
      {"fixed part only", with([](auto& f) { f.resize(14 + 7); }), DropReason::kTruncated},
      {"htype 6 (IEEE 802)", with([](auto& f) { f[15] = 6; }), DropReason::kArpIgnored},
      {"ptype IPv6", with([](auto& f) { f[16] = 0x86, f[17] = 0xdd; }), DropReason::kArpIgnored},
      {"RARP opcode 3", with([](auto& f) { f[21] = 3; }), DropReason::kArpIgnored},
      {"sender MAC is ours", from(kOurMac, kPeerIp), DropReason::kArpIgnored},
      {"sender MAC broadcast", from(MacAddr::broadcast(), kPeerIp), DropReason::kArpIgnored},
      {"sender MAC multicast", from(*MacAddr::parse("01:00:5e:00:00:01"), kPeerIp),
       DropReason::kArpIgnored},
      {"sender IP multicast", from(kPeerMac, Ipv4Addr::from_octets(224, 0, 0, 1)),
       DropReason::kArpIgnored},
      {"sender IP broadcast", from(kPeerMac, Ipv4Addr::broadcast()), DropReason::kArpIgnored},
      {"sender IP subnet broadcast", from(kPeerMac, Ipv4Addr::from_octets(10, 77, 0, 255)),
       DropReason::kArpIgnored},
      {"sender IP loopback", from(kPeerMac, Ipv4Addr::from_octets(127, 0, 0, 1)),
       DropReason::kArpIgnored},
      {"target IP loopback",
       arp_frame(MacAddr::broadcast(), kPeerMac,
                 request_from_peer(Ipv4Addr::from_octets(127, 0, 0, 1))),
       DropReason::kArpIgnored},
      {"target IP multicast",
       arp_frame(MacAddr::broadcast(), kPeerMac,
                 request_from_peer(Ipv4Addr::from_octets(239, 1, 1, 1))),
       DropReason::kArpIgnored},
  };
  uint64_t n = 0;
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    const uint64_t before = drops(c.reason);
    inject(t0, c.frame);
    ++n;
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(drops(c.reason), before + 1);
    EXPECT_EQ(arp_.stats().rx_dropped, n);
    EXPECT_TRUE(arp_.neigh().entries().empty());
  }
  EXPECT_EQ(arp_.stats().tx_replies, 0u);
}

// ---- gratuitous ARP and replies -------------------------------------------------------------

TEST_F(ArpTest, GratuitousArpUpdatesAnExistingEntryButCreatesNone) {
  const Ipv4Addr host = Ipv4Addr::from_octets(10, 77, 0, 7);
  const MacAddr mac1 = *MacAddr::parse("02:00:5e:10:00:71");
  const MacAddr mac2 = *MacAddr::parse("02:00:5e:10:00:72");
  // arping -U style announcement from a host we do not know.
  inject(t0, arp_frame(MacAddr::broadcast(), mac1,
                       ArpRepr{ArpOp::kRequest, mac1, host, MacAddr::broadcast(), host}));
  EXPECT_EQ(entry(host), nullptr);
  // It asks for us: now it is cached.
  inject(t0 + Duration::s(1),
         arp_frame(MacAddr::broadcast(), mac1, ArpRepr{ArpOp::kRequest, mac1, host, {}, kOurIp}));
  ASSERT_NE(entry(host), nullptr);
  EXPECT_EQ(entry(host)->mac, mac1);
  sent();
  // A gratuitous request (arping -U) and a gratuitous broadcast reply (arping -A) move it.
  inject(t0 + Duration::s(2),
         arp_frame(MacAddr::broadcast(), mac2, ArpRepr{ArpOp::kRequest, mac2, host, {}, host}));
  EXPECT_EQ(entry(host)->mac, mac2);
  EXPECT_EQ(entry(host)->state, NeighState::kStale);
  inject(t0 + Duration::s(3),
         arp_frame(MacAddr::broadcast(), mac1, ArpRepr{ArpOp::kReply, mac1, host, mac1, host}));
  EXPECT_EQ(entry(host)->mac, mac1);
  EXPECT_EQ(entry(host)->state, NeighState::kStale) << "a broadcast reply does not confirm";
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(tel_.drops().total(), 0u);
}

TEST_F(ArpTest, UnsolicitedReplyCreatesNothing) {
  inject(t0,
         arp_frame(kOurMac, kPeerMac, ArpRepr{ArpOp::kReply, kPeerMac, kPeerIp, kOurMac, kOurIp}));
  EXPECT_TRUE(arp_.neigh().entries().empty());
  EXPECT_EQ(arp_.stats().rx_replies, 1u);
  EXPECT_EQ(tel_.drops().total(), 0u);
}

// ---- output and resolution --------------------------------------------------------------------

TEST_F(ArpTest, OutputResolvesWithBroadcastRequestThenSendsQueuedPackets) {
  arp_.output(t0, if0_, kPeerIp, ip_packet(kOurIp, kPeerIp, 1));
  arp_.output(t0, if0_, kPeerIp, ip_packet(kOurIp, kPeerIp, 2));
  step(t0);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u) << "one request, packets wait";
  // Linux's request for the same situation (wau-va asking for wau-vb), mirrored: build the
  // expected frame with the Reprs and compare bytes.
  EXPECT_EQ(out[0], arp_frame(MacAddr::broadcast(), kOurMac,
                              ArpRepr{ArpOp::kRequest, kOurMac, kOurIp, MacAddr{}, kPeerIp}));
  EXPECT_EQ(arp_.stats().tx_requests, 1u);
  EXPECT_EQ(entry(kPeerIp)->state, NeighState::kIncomplete);

  // Linux's reply (kLinuxReply from the other side): unicast to us.
  inject(t0 + Duration::ms(1),
         arp_frame(kOurMac, kPeerMac, ArpRepr{ArpOp::kReply, kPeerMac, kPeerIp, kOurMac, kOurIp}));
  EXPECT_EQ(entry(kPeerIp)->state, NeighState::kReachable);
  out = sent();
  ASSERT_EQ(out.size(), 2u);
  for (uint8_t i = 0; i < 2; ++i) {
    Parsed p = parse(out[i]);
    EXPECT_EQ(p.eth.dst, kPeerMac);
    EXPECT_EQ(p.eth.src, kOurMac);
    EXPECT_EQ(p.eth.ethertype, wire::to_u16(wire::EtherType::kIpv4));
    ASSERT_EQ(p.payload.size(), 24u);
    EXPECT_EQ(p.payload.back(), i + 1) << "FIFO order";
  }
  // Resolved: the next packet goes straight out, no request.
  arp_.output(t0 + Duration::ms(2), if0_, kPeerIp, ip_packet(kOurIp, kPeerIp, 3));
  step(t0 + Duration::ms(2));
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(parse(out[0]).payload.back(), 3);
  EXPECT_EQ(arp_.stats().tx_requests, 1u);
}

TEST_F(ArpTest, RequestSenderIsThePacketsSourceIfLocalElseTheInterfacesChoice) {
  const Ipv4Addr second = Ipv4Addr::from_octets(203, 0, 113, 1);
  if0_.add_addr({second, 24});
  const Ipv4Addr hop = Ipv4Addr::from_octets(203, 0, 113, 5);
  // Source 10.77.0.2 is ours on this interface: Linux's arp_solicit uses it.
  arp_.output(t0, if0_, hop, ip_packet(kOurIp, Ipv4Addr::from_octets(8, 8, 8, 8), 1));
  step(t0);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(parse(out[0]).arp->sender_ip, kOurIp);
  // A forwarded packet (foreign source): inet_select_addr picks the hop's subnet address.
  const Ipv4Addr hop2 = Ipv4Addr::from_octets(203, 0, 113, 6);
  arp_.output(
      t0, if0_, hop2,
      ip_packet(Ipv4Addr::from_octets(192, 168, 1, 1), Ipv4Addr::from_octets(8, 8, 8, 8), 2));
  step(t0);
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(parse(out[0]).arp->sender_ip, second);
  EXPECT_EQ(parse(out[0]).arp->target_ip, hop2);
  // eth1's address as source is not ours on tap0: ignored as a hint.
  const Ipv4Addr hop3 = Ipv4Addr::from_octets(10, 77, 0, 33);
  arp_.output(t0, if0_, hop3, ip_packet(kEth1Ip, Ipv4Addr::from_octets(8, 8, 8, 8), 3));
  step(t0);
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(parse(out[0]).arp->sender_ip, kOurIp);
}

TEST_F(ArpTest, UnansweredResolutionRetriesThenReportsEachPacketUnreachable) {
  struct Report {
    Instant t;
    int ifindex;
    Ipv4Addr hop;
    uint8_t tag;
  };
  std::vector<Report> reports;
  arp_.set_unreachable_handler([&](Instant t, int ifindex, Ipv4Addr hop, const PacketBuffer& p) {
    reports.push_back({t, ifindex, hop, p.data().back()});
  });
  const Ipv4Addr ghost = Ipv4Addr::from_octets(10, 77, 0, 50);
  arp_.output(t0, if0_, ghost, ip_packet(kOurIp, ghost, 1));
  arp_.output(t0 + Duration::ms(100), if0_, ghost, ip_packet(kOurIp, ghost, 2));
  run_until(t0 + Duration::ms(2999));
  auto out = sent();
  ASSERT_EQ(out.size(), 3u) << "mcast_solicit broadcast requests, 1 s apart";
  for (const auto& f : out) {
    Parsed p = parse(f);
    EXPECT_TRUE(p.eth.dst.is_broadcast());
    EXPECT_EQ(p.arp->target_ip, ghost);
  }
  EXPECT_EQ(peer_rx_.when.size(), 0u);
  EXPECT_TRUE(reports.empty());
  run_until(t0 + Duration::s(3));
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].t, t0 + Duration::s(3));
  EXPECT_EQ(reports[0].ifindex, if0_.ifindex());
  EXPECT_EQ(reports[0].hop, ghost);
  EXPECT_EQ(reports[0].tag, 1);
  EXPECT_EQ(reports[1].tag, 2);
  EXPECT_EQ(entry(ghost)->state, NeighState::kFailed);
  EXPECT_EQ(drops(DropReason::kNeighFailed), 2u);
  EXPECT_EQ(arp_.neigh().stats().res_failed, 1u);
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(arp_.neigh().format({"", "tap0", "eth1"}), "10.77.0.50 dev tap0 FAILED\n");
}

TEST_F(ArpTest, InterfaceWithoutAddressSendsNoRequestAndFails) {
  if0_.remove_addr(kOurIp);
  int reports = 0;
  arp_.set_unreachable_handler([&](Instant, int, Ipv4Addr, const PacketBuffer&) { ++reports; });
  arp_.output(t0, if0_, kPeerIp, ip_packet(kEth1Ip, kPeerIp, 1));
  run_until(t0 + Duration::s(3));
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(arp_.stats().tx_requests, 0u);
  EXPECT_EQ(arp_.neigh().stats().requests_sent, 3u) << "attempts, as the table sees them";
  EXPECT_EQ(reports, 1);
}

TEST_F(ArpTest, StaleEntryIsProbedUnicastAndConfirmedByTheReply) {
  arp_.output(t0, if0_, kPeerIp, ip_packet(kOurIp, kPeerIp, 1));
  step(t0);
  inject(t0,
         arp_frame(kOurMac, kPeerMac, ArpRepr{ArpOp::kReply, kPeerMac, kPeerIp, kOurMac, kOurIp}));
  sent();
  const Instant stale_at = arp_.next_deadline();
  run_until(stale_at);
  ASSERT_EQ(entry(kPeerIp)->state, NeighState::kStale);
  const Instant tu = stale_at + Duration::s(1);
  arp_.output(tu, if0_, kPeerIp, ip_packet(kOurIp, kPeerIp, 2));
  step(tu);
  EXPECT_EQ(sent().size(), 1u) << "sent at once";
  EXPECT_EQ(entry(kPeerIp)->state, NeighState::kDelay);
  run_until(tu + Duration::s(5));
  ASSERT_EQ(entry(kPeerIp)->state, NeighState::kProbe);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  // Linux's unicast probe: Ethernet to the cached MAC, ARP target MAC zero.
  EXPECT_EQ(out[0], arp_frame(kPeerMac, kOurMac,
                              ArpRepr{ArpOp::kRequest, kOurMac, kOurIp, MacAddr{}, kPeerIp}));
  // The peer answers (as Linux does to a unicast request: unicast reply).
  inject(tu + Duration::s(5) + Duration::ms(1),
         arp_frame(kOurMac, kPeerMac, ArpRepr{ArpOp::kReply, kPeerMac, kPeerIp, kOurMac, kOurIp}));
  EXPECT_EQ(entry(kPeerIp)->state, NeighState::kReachable);
  run_until(tu + Duration::s(10));
  EXPECT_TRUE(sent().empty()) << "no more probes";
}

TEST_F(ArpTest, BroadcastReplyResolvesIncompleteAsStaleAndFlushes) {
  arp_.output(t0, if0_, kPeerIp, ip_packet(kOurIp, kPeerIp, 1));
  step(t0);
  sent();
  inject(t0, arp_frame(MacAddr::broadcast(), kPeerMac,
                       ArpRepr{ArpOp::kReply, kPeerMac, kPeerIp, kOurMac, kOurIp}));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(parse(out[0]).eth.dst, kPeerMac);
  EXPECT_EQ(entry(kPeerIp)->state, NeighState::kDelay) << "unconfirmed MAC, then used";
}

TEST_F(ArpTest, StaticEntryNeedsNoResolution) {
  arp_.neigh().add_static(t0, if0_.ifindex(), kPeerIp, kPeerMac);
  arp_.output(t0, if0_, kPeerIp, ip_packet(kOurIp, kPeerIp, 1));
  step(t0);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(parse(out[0]).eth.dst, kPeerMac);
  EXPECT_EQ(arp_.stats().tx_requests, 0u);
  // A reply with another MAC does not override the administrator.
  inject(t0,
         arp_frame(kOurMac, kPeerMac, ArpRepr{ArpOp::kReply, kEth1Mac, kPeerIp, kOurMac, kOurIp}));
  EXPECT_EQ(entry(kPeerIp)->mac, kPeerMac);
  EXPECT_EQ(arp_.neigh().format({"", "tap0", "eth1"}),
            "10.77.0.1 dev tap0 lladdr 02:00:5e:10:00:0a PERMANENT\n");
}

TEST_F(ArpTest, BroadcastAndMulticastNextHopsNeedNoResolution) {
  struct Case {
    Ipv4Addr hop;
    MacAddr mac;
  };
  const std::vector<Case> cases = {
      {Ipv4Addr::broadcast(), MacAddr::broadcast()},
      {Ipv4Addr::from_octets(10, 77, 0, 255), MacAddr::broadcast()},  // subnet broadcast
      {Ipv4Addr::from_octets(224, 0, 0, 251), *MacAddr::parse("01:00:5e:00:00:fb")},
      // RFC 1112 §6.4: only the low 23 bits (0x81 loses its top bit).
      {Ipv4Addr::from_octets(239, 129, 1, 2), *MacAddr::parse("01:00:5e:01:01:02")},
  };
  uint8_t tag = 0;
  for (const Case& c : cases) {
    arp_.output(t0, if0_, c.hop, ip_packet(kOurIp, c.hop, ++tag));
  }
  step(t0);
  auto out = sent();  // the peer's NIC hands up every frame (no LinkLayer filter there)
  EXPECT_TRUE(arp_.neigh().entries().empty());
  EXPECT_EQ(arp_.neigh().stats().lookups, 0u);
  EXPECT_EQ(arp_.stats().tx_requests, 0u);
  ASSERT_EQ(out.size(), cases.size()) << "Collect sees every frame the NIC delivers";
  for (size_t i = 0; i < cases.size(); ++i) {
    Parsed p = parse(out[i]);
    EXPECT_EQ(p.eth.dst, cases[i].mac) << cases[i].hop.to_string();
    EXPECT_EQ(p.eth.ethertype, wire::to_u16(wire::EtherType::kIpv4));
    EXPECT_EQ(p.payload.back(), i + 1);
  }
}

TEST_F(ArpTest, AnnounceSendsGratuitousRequest) {
  arp_.announce(t0, if0_, kOurIp);
  step(t0);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  // Linux's arp_send(ARPOP_REQUEST, ..., addr, dev, addr, NULL, ...) on address add.
  EXPECT_EQ(out[0], arp_frame(MacAddr::broadcast(), kOurMac,
                              ArpRepr{ArpOp::kRequest, kOurMac, kOurIp, MacAddr{}, kOurIp}));
  EXPECT_TRUE(parse(out[0]).arp->is_gratuitous());
  EXPECT_EQ(arp_.stats().tx_gratuitous, 1u);
  EXPECT_EQ(arp_.stats().tx_requests, 0u);
}

TEST_F(ArpTest, DeviceDownRepliesAreNotCounted) {
  nic_.set_up(false);
  ArpRepr req = request_from_peer(kOurIp);
  // Straight into the link layer: a down NIC receives nothing from the wire.
  PacketPtr f = pool_->alloc_copy(arp_frame(MacAddr::broadcast(), kPeerMac, req), 64);
  link_.netif_receive(t0, nic_, std::move(f));
  EXPECT_EQ(arp_.stats().tx_replies, 0u);
  EXPECT_EQ(drops(DropReason::kDevDown), 1u);
  EXPECT_EQ(entry(kPeerIp)->state, NeighState::kStale) << "still learned";
}

TEST_F(ArpTest, ReplyWithoutBufferIsACountedDrop) {
  // A second Arp on an exhausted pool takes over EtherType 0x0806 (dev_add_pack replaces).
  PoolHandle tiny = BufferPool::create(PoolConfig{.max_bytes = 1});
  Arp starved{link_, ifs_, *tiny, tel_, NeighConfig{}, Rng(1)};
  inject(t0, kLinuxRequest);
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(drops(DropReason::kNoBuffer), 1u);
  EXPECT_EQ(starved.stats().tx_replies, 0u);
  EXPECT_EQ(starved.stats().rx_requests, 1u);
  starved.announce(t0, if0_, kOurIp);
  EXPECT_EQ(drops(DropReason::kNoBuffer), 2u);
  EXPECT_EQ(starved.stats().tx_gratuitous, 0u);
  link_.register_handler(wire::EtherType::kArp, &arp_);  // before `starved` goes away
}

TEST_F(ArpTest, EntryOnAnUnknownInterfaceSendsNothing) {
  // The table is keyed by ifindex only; an ifindex the stack does not have is a caller bug,
  // handled without a crash: the request is not sent, a resolved packet is a counted drop.
  const Ipv4Addr ip = Ipv4Addr::from_octets(10, 99, 0, 1);
  arp_.neigh().output(t0, 99, ip, ip_packet(kOurIp, ip, 1));
  step(t0);
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(arp_.stats().tx_requests, 0u);
  arp_.neigh().add_static(t0, 99, ip, kPeerMac);  // flushes the queued packet
  EXPECT_EQ(drops(DropReason::kNotSpecified), 1u);
  arp_.neigh().output(t0, 99, ip, ip_packet(kOurIp, ip, 2));
  EXPECT_EQ(drops(DropReason::kNotSpecified), 2u);
  step(t0);
  EXPECT_TRUE(sent().empty());
}

TEST_F(ArpTest, StateChangesAreTraced) {
  arp_.output(t0, if0_, kPeerIp, ip_packet(kOurIp, kPeerIp, 1));
  step(t0);
  inject(t0,
         arp_frame(kOurMac, kPeerMac, ArpRepr{ArpOp::kReply, kPeerMac, kPeerIp, kOurMac, kOurIp}));
  bool update = false, solicit = false, rcv = false;
  for (const TraceEvent& e : log_.events()) {
    if (e.layer != Layer::kArp) continue;
    update |= e.action == "neigh_update" &&
              e.detail.find("10.77.0.1 dev 1 INCOMPLETE -> REACHABLE") != std::string::npos;
    solicit |= e.action == "neigh_solicit";
    rcv |= e.action == "arp_rcv" && e.detail.find("reply") != std::string::npos;
  }
  EXPECT_TRUE(update);
  EXPECT_TRUE(solicit);
  EXPECT_TRUE(rcv);
}

}  // namespace
}  // namespace ustack::link
