// IPv4 input, ICMP and UDP behaviour of one Stack, driven frame by frame (RFC 791, 792, 1122,
// 1812). The peer is the test (host_harness.h).
#include <gtest/gtest.h>

#include "host_harness.h"
#include "ustack/filter/netfilter.h"
#include "ustack/wire/tcp.h"

namespace ustack::stacktest {
namespace {

std::vector<uint8_t> bytes(size_t n, uint8_t seed = 1) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

uint64_t drops(HostHarness& h, DropReason r) { return h.stack().telemetry().drops().get(r); }

TEST(Ipv4, EchoRequestGetsReplyWithSameData) {
  HostHarness h;
  auto data = bytes(56);
  h.inject(Pkt{.proto = 1, .payload = echo_payload(0x1234, 7, data)});
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].ip);
  EXPECT_EQ(out[0].eth.dst, kPeerMac);
  EXPECT_EQ(out[0].ip->src, kUs);
  EXPECT_EQ(out[0].ip->dst, kPeer);
  auto icmp = out[0].icmp();
  ASSERT_TRUE(icmp);  // parse verified the checksum
  auto* rep = std::get_if<wire::IcmpEchoReply>(&icmp->msg);
  ASSERT_NE(rep, nullptr);
  EXPECT_EQ(rep->ident, 0x1234);
  EXPECT_EQ(rep->seq_no, 7);
  EXPECT_TRUE(std::ranges::equal(rep->data, data));
  EXPECT_EQ(h.stack().ip().icmp_stats().in_echos, 1u);
  EXPECT_EQ(h.stack().ip().icmp_stats().out_echo_reps, 1u);
}

TEST(Ipv4, EchoToBroadcastIgnoredAsLinuxDefault) {
  HostHarness h;
  h.inject(Pkt{.dst = Ipv4Addr::from_octets(192, 0, 2, 255),
               .proto = 1,
               .dst_mac = MacAddr::broadcast(),
               .payload = echo_payload(1, 1, bytes(8))});
  h.run_for(Duration::ms(1));
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(drops(h, DropReason::kIcmpIgnored), 1u);
}

TEST(Ipv4, BadHeadersAreCountedDrops) {
  HostHarness h;
  auto f = frame(Pkt{.proto = 1, .payload = echo_payload(1, 1, bytes(8))});
  auto bad_sum = f;
  bad_sum[14 + 10] ^= 0xff;
  h.inject(bad_sum);
  auto bad_version = f;
  bad_version[14] = 0x65;
  h.inject(bad_version);
  auto short_total = f;  // (a short frame would be padded to 60 bytes on the wire)
  short_total[14 + 2] = 0;
  short_total[14 + 3] = 19;  // total length below the header length
  h.inject(short_total);
  auto long_total = f;
  long_total[14 + 3] += 40;  // total length beyond the frame
  h.inject(long_total);
  h.run_for(Duration::ms(1));
  EXPECT_TRUE(h.take().empty());
  const auto& s = h.stack().ip().stats();
  EXPECT_EQ(s.in_receives, 4u);
  EXPECT_EQ(s.in_hdr_errors, 4u);
  EXPECT_EQ(s.in_csum_errors, 1u);
  EXPECT_EQ(drops(h, DropReason::kBadChecksum), 1u);
}

TEST(Ipv4, MartianSourceAndSourceRouteDropped) {
  HostHarness h;
  h.inject(Pkt{.src = Ipv4Addr::from_octets(224, 0, 0, 5),
               .proto = 1,
               .payload = echo_payload(1, 1, bytes(8))});
  h.inject(Pkt{.src = Ipv4Addr::from_octets(127, 0, 0, 1),
               .proto = 1,
               .payload = echo_payload(1, 1, bytes(8))});
  // A loose source route option (RFC 791 §3.1, type 0x83): rebuild with IHL 6.
  auto f = frame(Pkt{.proto = 1, .payload = echo_payload(1, 1, bytes(8))});
  std::vector<uint8_t> lsrr(f.begin(), f.begin() + 34);
  lsrr.insert(lsrr.end(), {0x83, 3, 4, 0});  // pointer 4, no addresses left, EOL pad
  lsrr.insert(lsrr.end(), f.begin() + 34, f.end());
  lsrr[14] = 0x46;
  store_be16(std::span(lsrr).subspan(14), 2, static_cast<uint16_t>(lsrr.size() - 14));
  store_be16(std::span(lsrr).subspan(14), 10, 0);
  store_be16(std::span(lsrr).subspan(14), 10, inet_checksum(std::span(lsrr).subspan(14, 24)));
  h.inject(lsrr);
  h.run_for(Duration::ms(1));
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(drops(h, DropReason::kMartianSource), 2u);
  EXPECT_EQ(drops(h, DropReason::kSourceRoute), 1u);
}

TEST(Ipv4, UnknownProtocolGetsProtocolUnreachable) {
  HostHarness h;
  h.inject(Pkt{.proto = 99, .payload = bytes(30)});
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 1u);
  auto icmp = out[0].icmp();
  ASSERT_TRUE(icmp);
  auto* u = std::get_if<wire::IcmpDstUnreachable>(&icmp->msg);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->code, wire::DstUnreachable::kProtoUnreachable);
  EXPECT_EQ(u->quote.protocol(), 99);
  EXPECT_EQ(u->quote.bytes().size(), 20u + 30u);  // the whole small datagram is quoted
  EXPECT_EQ(out[0].ip->dscp, 0xc0 >> 2);          // RFC 1812 §4.3.2.5 precedence 6
  EXPECT_EQ(h.stack().ip().stats().in_unknown_protos, 1u);
}

TEST(Ipv4, ClosedUdpPortGetsPortUnreachableButNotForBroadcast) {
  HostHarness h;
  h.inject(Pkt{.payload = udp_payload(kPeer, kUs, 5000, 9, bytes(10))});
  Ipv4Addr bcast = Ipv4Addr::from_octets(192, 0, 2, 255);
  h.inject(Pkt{.dst = bcast,
               .dst_mac = MacAddr::broadcast(),
               .payload = udp_payload(kPeer, bcast, 5000, 9, bytes(10))});
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 1u);
  auto icmp = out[0].icmp();
  ASSERT_TRUE(icmp);
  auto* u = std::get_if<wire::IcmpDstUnreachable>(&icmp->msg);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->code, wire::DstUnreachable::kPortUnreachable);
  EXPECT_EQ(h.stack().udp().stats().no_ports, 1u);
  EXPECT_EQ(h.stack().udp().stats().ignored_multi, 1u);
}

TEST(Ipv4, NoErrorAboutAnIcmpErrorOrANonFirstFragment) {
  HostHarness h;
  // A packet carrying an ICMP error (port unreachable) must never draw an error itself.
  wire::Ipv4Repr inner;
  inner.src = kUs;
  inner.dst = kPeer;
  inner.protocol = 17;
  inner.payload_len = 8;
  std::vector<uint8_t> quote(28);
  inner.emit(quote);
  std::vector<uint8_t> err(8 + quote.size());
  err[0] = 3;
  err[1] = 3;
  std::copy(quote.begin(), quote.end(), err.begin() + 8);
  store_be16(err, 2, inet_checksum(err));
  auto f = frame(Pkt{.proto = 1, .payload = err});
  auto pkt = h.stack().pool().alloc_copy(std::span(f).subspan(14), 64);
  h.stack().ip().icmp_send(h.now(), *pkt, 3, 3);
  // A non-first fragment (offset 8) to an unknown protocol: no error either.
  auto g = frame(Pkt{.proto = 99, .frag_offset = 8, .payload = bytes(16)});
  auto pkt2 = h.stack().pool().alloc_copy(std::span(g).subspan(14), 64);
  h.stack().ip().icmp_send(h.now(), *pkt2, 3, 2);
  h.run_for(Duration::ms(1));
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.stack().ip().icmp_stats().out_msgs, 0u);
}

TEST(Ipv4, IcmpErrorsRateLimitedPerDestinationBurstSix) {
  HostHarness h;
  for (int i = 0; i < 10; ++i)
    h.inject(Pkt{.ident = static_cast<uint16_t>(i),
                 .payload = udp_payload(kPeer, kUs, 5000, 9, bytes(4))});
  h.run_for(Duration::ms(10));
  EXPECT_EQ(h.take().size(), 6u);  // XRLIM_BURST_FACTOR
  EXPECT_EQ(h.stack().ip().icmp_stats().out_rate_limit_host, 4u);
  EXPECT_EQ(drops(h, DropReason::kIcmpRateLimited), 4u);
  h.run_for(Duration::ms(1000));  // one token per icmp_ratelimit (1 s)
  h.inject(Pkt{.payload = udp_payload(kPeer, kUs, 5000, 9, bytes(4))});
  h.inject(Pkt{.payload = udp_payload(kPeer, kUs, 5000, 9, bytes(4))});
  h.run_for(Duration::ms(1));
  EXPECT_EQ(h.take().size(), 1u);
  // Echo replies are never limited.
  for (int i = 0; i < 20; ++i)
    h.inject(Pkt{.proto = 1, .payload = echo_payload(1, static_cast<uint16_t>(i), bytes(8))});
  h.run_for(Duration::ms(1));
  EXPECT_EQ(h.take().size(), 20u);
}

TEST(Ipv4, NotOursWithForwardingOffIsDropped) {
  HostHarness h;
  h.inject(Pkt{.dst = Ipv4Addr::from_octets(198, 51, 100, 7),
               .proto = 1,
               .payload = echo_payload(1, 1, bytes(8))});
  h.run_for(Duration::ms(1));
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(drops(h, DropReason::kNotForwarding), 1u);
  EXPECT_EQ(h.stack().ip().stats().in_addr_errors, 1u);
}

TEST(Ipv4, ForwardingTtlExpiryAndNoRoute) {
  HostHarness h;
  h.stack().set_forwarding(true);
  ASSERT_TRUE(h.stack()
                  .add_route(ip::Route{.dst = Ipv4Addr::from_octets(198, 51, 100, 0),
                                       .prefix_len = 24,
                                       .gateway = kPeer,
                                       .ifindex = 1})
                  .ok());
  // TTL 1: time exceeded from our address facing the sender (traceroute's view).
  h.inject(Pkt{.dst = Ipv4Addr::from_octets(198, 51, 100, 7),
               .ttl = 1,
               .payload = udp_payload(kPeer, Ipv4Addr::from_octets(198, 51, 100, 7), 4000, 33434,
                                      bytes(12))});
  // No route: net unreachable.
  h.inject(Pkt{.dst = Ipv4Addr::from_octets(203, 0, 113, 9),
               .ident = 2,
               .payload = udp_payload(kPeer, Ipv4Addr::from_octets(203, 0, 113, 9), 4000, 33434,
                                      bytes(12))});
  // TTL 2, routable: forwarded back out (hairpin) to the gateway with TTL 1.
  h.inject(Pkt{.dst = Ipv4Addr::from_octets(198, 51, 100, 7),
               .ttl = 2,
               .ident = 3,
               .payload = udp_payload(kPeer, Ipv4Addr::from_octets(198, 51, 100, 7), 4000, 33434,
                                      bytes(12))});
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 3u);
  auto te = out[0].icmp();
  ASSERT_TRUE(te);
  EXPECT_TRUE(std::holds_alternative<wire::IcmpTimeExceeded>(te->msg));
  EXPECT_EQ(out[0].ip->src, kUs);
  auto nu = out[1].icmp();
  ASSERT_TRUE(nu);
  auto* u = std::get_if<wire::IcmpDstUnreachable>(&nu->msg);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->code, wire::DstUnreachable::kNetUnreachable);
  ASSERT_TRUE(out[2].ip);
  EXPECT_EQ(out[2].ip->ttl, 1);
  EXPECT_EQ(out[2].ip->src, kPeer);  // addresses never change on the way
  EXPECT_EQ(out[2].eth.dst, kPeerMac);
  EXPECT_EQ(h.stack().ip().stats().forw_datagrams, 1u);
  EXPECT_EQ(h.stack().ip().stats().in_hdr_errors, 1u);  // the TTL-expired one, as Linux
}

TEST(Ipv4, UdpSocketReceivesAndRepliesChecksumZeroAccepted) {
  HostHarness h;
  auto* s = h.stack().udp().open();
  ASSERT_TRUE(s->bind(Ipv4Addr::any(), 7).ok());
  int woke = 0;
  s->on_readable([&](Instant) { ++woke; });
  auto d1 = udp_payload(kPeer, kUs, 5000, 7, bytes(100));
  auto d2 = udp_payload(kPeer, kUs, 5001, 7, bytes(3, 9));
  store_be16(d2, 6, 0);  // RFC 768: zero means no checksum
  auto d3 = udp_payload(kPeer, kUs, 5002, 7, bytes(5));
  d3[6] ^= 0x55;  // broken checksum
  h.inject(Pkt{.payload = d1});
  h.inject(Pkt{.ident = 2, .payload = d2});
  h.inject(Pkt{.ident = 3, .payload = d3});
  h.run_for(Duration::ms(1));
  EXPECT_EQ(woke, 2);
  auto a = s->recv();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->from_port, 5000);
  EXPECT_TRUE(std::ranges::equal(a->payload(), bytes(100)));
  auto b = s->recv();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->from_port, 5001);
  EXPECT_FALSE(s->recv());
  EXPECT_EQ(h.stack().udp().stats().in_csum_errors, 1u);
  ASSERT_TRUE(s->sendto(h.now(), bytes(20), kPeer, 5000).ok());
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 1u);
  auto uv = wire::UdpView::parse(out[0].l4().first(out[0].ip->payload_len));
  ASSERT_TRUE(uv.ok());
  EXPECT_TRUE(wire::UdpRepr::parse(*uv, wire::Ipv4Pseudo{kUs, kPeer}).ok());
  EXPECT_EQ(uv->src_port(), 7);
  EXPECT_EQ(uv->dst_port(), 5000);
}

TEST(Ipv4, UdpReceiveBufferOverflowCountedAsRcvbufErrors) {
  HostHarness h;
  auto* s = h.stack().udp().open();
  ASSERT_TRUE(s->bind(kUs, 7).ok());
  s->set_rcvbuf(3 * 2400);
  for (int i = 0; i < 10; ++i)
    h.inject(Pkt{.ident = static_cast<uint16_t>(i),
                 .payload = udp_payload(kPeer, kUs, 5000, 7, bytes(10))});
  h.run_for(Duration::ms(1));
  EXPECT_EQ(s->rx_queued(), 3u);
  EXPECT_EQ(h.stack().udp().stats().rcvbuf_errors, 7u);
  EXPECT_EQ(s->drops(), 7u);
  EXPECT_EQ(drops(h, DropReason::kSocketRcvBuff), 7u);
}

TEST(Ipv4, BindRules) {
  HostHarness h;
  auto* a = h.stack().udp().open();
  auto* b = h.stack().udp().open();
  ASSERT_TRUE(a->bind(Ipv4Addr::any(), 53).ok());
  EXPECT_EQ(b->bind(kUs, 53).error(), EADDRINUSE);
  EXPECT_EQ(b->bind(Ipv4Addr::from_octets(10, 9, 9, 9), 54).error(), EADDRNOTAVAIL);
  ASSERT_TRUE(b->bind(kUs, 0).ok());
  EXPECT_GE(b->local_port(), transport::UdpLayer::kEphemeralLo);
  EXPECT_EQ(a->bind(kUs, 60).error(), EINVAL);
  h.stack().udp().close(a);
  auto* c = h.stack().udp().open();
  EXPECT_TRUE(c->bind(kUs, 53).ok());
}

TEST(Ipv4, ConnectedUdpSocketHearsPortUnreachable) {
  HostHarness h;
  auto* s = h.stack().udp().open();
  ASSERT_TRUE(s->connect(h.now(), kPeer, 9).ok());
  ASSERT_TRUE(s->sendto(h.now(), bytes(10)).ok());
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 1u);
  // The peer answers with port unreachable quoting our datagram.
  std::vector<uint8_t> quote(out[0].bytes.begin() + 14, out[0].bytes.end());
  std::vector<uint8_t> err(8 + quote.size());
  err[0] = 3;
  err[1] = 3;
  std::copy(quote.begin(), quote.end(), err.begin() + 8);
  store_be16(err, 2, inet_checksum(err));
  h.inject(Pkt{.proto = 1, .payload = err});
  h.run_for(Duration::ms(1));
  EXPECT_EQ(s->take_error(), ECONNREFUSED);
  EXPECT_EQ(s->take_error(), 0);
}

TEST(Ipv4, NetfilterInputDropAndReject) {
  HostHarness h;
  auto& nf = h.stack().netfilter();
  ASSERT_TRUE(nf.apply(*filter::parse_command("-A INPUT -p udp --dport 9 -j DROP")).ok());
  ASSERT_TRUE(nf.apply(*filter::parse_command(
                           "-A INPUT -p icmp --icmp-type echo-request -j REJECT --reject-with "
                           "icmp-admin-prohibited"))
                  .ok());
  h.inject(Pkt{.payload = udp_payload(kPeer, kUs, 5000, 9, bytes(10))});
  h.inject(Pkt{.proto = 1, .payload = echo_payload(1, 1, bytes(8))});
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 1u);  // the REJECT's error; the DROP is silent
  auto icmp = out[0].icmp();
  ASSERT_TRUE(icmp);
  auto* u = std::get_if<wire::IcmpDstUnreachable>(&icmp->msg);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->code, wire::DstUnreachable::kAdminProhibited);
  EXPECT_EQ(nf.chain(filter::Hook::kLocalIn).rules[0].packets, 1u);
  EXPECT_EQ(nf.chain(filter::Hook::kLocalIn).rules[1].packets, 1u);
  EXPECT_EQ(drops(h, DropReason::kFilter), 2u);
  EXPECT_EQ(h.stack().udp().stats().no_ports, 0u);  // dropped before UDP saw it
}

// RFC 9293 §3.10.7.1 via netfilter (Linux nf_send_reset): REJECT --reject-with tcp-reset
// answers a SYN with <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> and an ACK with <SEQ=SEG.ACK><CTL=RST>,
// with a valid checksum, and never answers a RST. TCP itself never sees the segments.
TEST(Ipv4, RejectWithTcpResetSendsTheRstAClosedPortWould) {
  HostHarness h;
  ASSERT_TRUE(h.stack()
                  .netfilter()
                  .apply(*filter::parse_command(
                      "-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset"))
                  .ok());
  auto tcp = [&](wire::TcpFlags flags, uint32_t seq, uint32_t ack, size_t len) {
    wire::TcpRepr t;
    t.src_port = 5555;
    t.dst_port = 22;
    t.seq = wire::SeqNum{seq};
    t.ack = wire::SeqNum{ack};
    t.flags = flags;
    t.window = 1000;
    std::vector<uint8_t> d(t.buffer_len(len), 0xab);
    t.emit(d, wire::Ipv4Pseudo{kPeer, kUs});
    return d;
  };
  using wire::TcpFlag;
  h.inject(Pkt{.proto = 6, .payload = tcp(wire::TcpFlags{TcpFlag::kSyn}, 1000, 0, 0)});
  h.inject(Pkt{.proto = 6, .payload = tcp(wire::TcpFlags{TcpFlag::kAck}, 7, 4242, 10)});
  h.inject(Pkt{.proto = 6, .payload = tcp(wire::TcpFlags{TcpFlag::kRst}, 7, 0, 0)});
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 2u);
  auto parse = [](const Sent& s) {
    auto v = wire::TcpView::parse(s.l4().first(s.ip->payload_len));
    EXPECT_TRUE(v.ok());
    auto r = wire::TcpRepr::parse(*v, wire::Ipv4Pseudo{kUs, kPeer});
    EXPECT_TRUE(r.ok()) << "checksum";
    return *r;
  };
  wire::TcpRepr a = parse(out[0]);
  EXPECT_EQ(a.flags, (wire::TcpFlags{TcpFlag::kRst, TcpFlag::kAck}));
  EXPECT_EQ(a.seq.v, 0u);
  EXPECT_EQ(a.ack.v, 1001u);
  EXPECT_EQ(a.src_port, 22);
  EXPECT_EQ(a.dst_port, 5555);
  wire::TcpRepr b = parse(out[1]);
  EXPECT_EQ(b.flags, wire::TcpFlags{TcpFlag::kRst});
  EXPECT_EQ(b.seq.v, 4242u);
  EXPECT_EQ(h.stack().tcp().mib().in_segs, 0u);
  EXPECT_EQ(drops(h, DropReason::kFilter), 3u);
}

TEST(Ipv4, FragmentedEchoReassembledAndReplyFragmented) {
  HostHarness h;
  auto data = bytes(3000);
  auto icmp = echo_payload(9, 1, data);  // 3008 bytes of ICMP
  // Three fragments, sent out of order: [1480, 2960), [0, 1480), [2960, 3008).
  auto part = [&](size_t off, size_t len) {
    return std::vector<uint8_t>(icmp.begin() + static_cast<ptrdiff_t>(off),
                                icmp.begin() + static_cast<ptrdiff_t>(off + len));
  };
  h.inject(
      Pkt{.proto = 1, .ident = 77, .mf = true, .frag_offset = 1480, .payload = part(1480, 1480)});
  h.inject(Pkt{.proto = 1, .ident = 77, .mf = true, .frag_offset = 0, .payload = part(0, 1480)});
  h.inject(Pkt{.proto = 1, .ident = 77, .frag_offset = 2960, .payload = part(2960, 48)});
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 3u);  // 3028-byte reply in 1500-byte fragments
  size_t total = 0;
  for (auto& s : out) {
    ASSERT_TRUE(s.ip);
    EXPECT_LE(s.ip->payload_len + 20u, 1500u);
    total += s.ip->payload_len;
  }
  EXPECT_EQ(total, icmp.size());
  EXPECT_EQ(h.stack().ip().reassembler().stats().reasm_oks, 1u);
  EXPECT_EQ(h.stack().ip().frag_stats().frag_creates, 3u);
}

TEST(Ipv4, UnresolvedNeighbourSendsArpRequest) {
  HostHarness h;
  auto* s = h.stack().udp().open();
  ASSERT_TRUE(s->sendto(h.now(), bytes(10), Ipv4Addr::from_octets(192, 0, 2, 50), 9).ok());
  h.run_for(Duration::ms(1));
  auto out = h.take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].eth.ethertype, 0x0806);
  EXPECT_TRUE(out[0].eth.dst.is_broadcast());
}

TEST(Ipv4, PingOurselvesThroughLoopback) {
  HostHarness h;
  int replies = 0;
  h.stack().ip().set_echo_reply_handler([&](Instant, Ipv4Addr from, uint16_t, uint16_t, auto) {
    EXPECT_EQ(from, kUs);
    ++replies;
  });
  ASSERT_TRUE(h.stack().ip().send_echo(h.now(), kUs, 1, 1, bytes(32)).ok());
  h.run_for(Duration::ms(1));
  EXPECT_EQ(replies, 1);
  EXPECT_TRUE(h.take().empty());  // nothing on the wire
}

}  // namespace
}  // namespace ustack::stacktest
