// SO_REUSEPORT in the engine (Linux net/core/sock_reuseport.c): the bind and listen conflicts
// (inet_csk_bind_conflict, udp_lib_lport_inuse), TCP listener groups that split incoming
// connections by a keyed hash of the 4-tuple (inet_lookup_reuseport), a closed listener leaving
// its group with its queued children reset (inet_csk_listen_stop), and UDP groups that split
// datagrams by a hash of their source (udp4_lib_lookup2).
#include <gtest/gtest.h>

#include <cerrno>
#include <map>

#include "tcp_harness.h"
#include "ustack/transport/udp.h"

namespace ustack::tcptest {
namespace {

using transport::UdpLayer;
using transport::UdpSocket;

TcpSocket* reuseport_socket(TcpHarness& h) {
  TcpSocket* s = h.tcp().open();
  s->set_reuseport(true);
  return s;
}

TcpSocket* reuseport_listener(TcpHarness& h, Ipv4Addr addr = kUs, uint16_t port = kPort) {
  TcpSocket* s = reuseport_socket(h);
  EXPECT_TRUE(s->bind(addr, port).ok());
  EXPECT_TRUE(s->listen(128).ok());
  return s;
}

// The handshake from peer port `pport` to kPort, completed; returns the listener whose accept
// queue the connection joined (nullptr if none).
TcpSocket* handshake(TcpHarness& h, uint16_t pport, std::initializer_list<TcpSocket*> group) {
  std::map<TcpSocket*, size_t> before;
  for (TcpSocket* l : group) before[l] = l->accept_queue_len();
  Conn c;
  c.pport = pport;
  h.syn_to_listener(c);
  h.send(c, kAck);
  h.silent("the handshake's ACK needs no answer");
  TcpSocket* got = nullptr;
  for (TcpSocket* l : group) {
    if (l->accept_queue_len() == before[l] + 1) {
      EXPECT_EQ(got, nullptr) << "one connection queued on two listeners";
      got = l;
    } else {
      EXPECT_EQ(l->accept_queue_len(), before[l]);
    }
  }
  return got;
}

TEST(TcpReuseport, BindSharesThePortOnlyWhenEverySocketSetsTheOption) {
  TcpHarness h;
  TcpSocket* a = h.tcp().open();
  ASSERT_TRUE(a->bind(kUs, kPort).ok());
  // a did not set SO_REUSEPORT: nobody shares its port.
  TcpSocket* b = reuseport_socket(h);
  auto r = b->bind(kUs, kPort);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EADDRINUSE);
  h.tcp().close(h.now(), a);

  TcpSocket* c = reuseport_socket(h);
  ASSERT_TRUE(c->bind(kUs, kPort).ok());
  TcpSocket* d = reuseport_socket(h);
  EXPECT_TRUE(d->bind(kUs, kPort).ok());
  // The wildcard overlaps kUs: shared too, since both set the option.
  TcpSocket* w = reuseport_socket(h);
  EXPECT_TRUE(w->bind(Ipv4Addr::any(), kPort).ok());
  // A socket without the option conflicts with the group, exact address or wildcard.
  TcpSocket* e = h.tcp().open();
  r = e->bind(kUs, kPort);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EADDRINUSE);
  r = e->bind(Ipv4Addr::any(), kPort);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EADDRINUSE);
  // SO_REUSEADDR is not SO_REUSEPORT: it does not join the group.
  TcpSocket* f = h.tcp().open();
  f->set_reuseaddr(true);
  r = f->bind(kUs, kPort);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EADDRINUSE);
}

TEST(TcpReuseport, ListenTwiceOnOnePortNeedsTheOptionOnBoth) {
  TcpHarness h;
  // SO_REUSEADDR lets both bind (neither listens yet), but only one may listen.
  TcpSocket* a = h.tcp().open();
  TcpSocket* b = h.tcp().open();
  a->set_reuseaddr(true);
  b->set_reuseaddr(true);
  b->set_reuseport(true);
  ASSERT_TRUE(a->bind(kUs, kPort).ok());
  ASSERT_TRUE(b->bind(kUs, kPort).ok());
  ASSERT_TRUE(a->listen(8).ok());
  auto r = b->listen(8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EADDRINUSE);
  EXPECT_EQ(b->state(), TcpState::kClosed);
  // With the option on both, both listen.
  TcpSocket* c = reuseport_listener(h, kUs, 81);
  TcpSocket* d = reuseport_listener(h, kUs, 81);
  EXPECT_EQ(c->state(), TcpState::kListen);
  EXPECT_EQ(d->state(), TcpState::kListen);
}

// RFC9293: MUST-42
TEST(TcpReuseport, ConnectionsSpreadOverTheGroupByTheFourTuple) {
  TcpHarness h;
  TcpSocket* l1 = reuseport_listener(h);
  TcpSocket* l2 = reuseport_listener(h);
  std::vector<TcpSocket*> who;
  for (uint16_t i = 0; i < 64; ++i) {
    TcpSocket* l = handshake(h, static_cast<uint16_t>(40000 + i), {l1, l2});
    ASSERT_NE(l, nullptr) << "connection " << i << " was not queued";
    who.push_back(l);
  }
  EXPECT_EQ(l1->accept_queue_len() + l2->accept_queue_len(), 64u);
  EXPECT_GT(l1->accept_queue_len(), 8u) << "the hash should split 64 connections roughly evenly";
  EXPECT_GT(l2->accept_queue_len(), 8u);
  EXPECT_EQ(h.mib().passive_opens, 64u);

  // Deterministic: a second stack with the same seed puts the same 4-tuples on the same
  // members (group order = listen() order).
  TcpHarness h2;
  TcpSocket* m1 = reuseport_listener(h2);
  TcpSocket* m2 = reuseport_listener(h2);
  for (uint16_t i = 0; i < 64; ++i) {
    TcpSocket* l = handshake(h2, static_cast<uint16_t>(40000 + i), {m1, m2});
    EXPECT_EQ(l, who[i] == l1 ? m1 : m2) << "connection " << i;
  }
}

TEST(TcpReuseport, RetransmittedSynAndHandshakeStayWithTheChosenListener) {
  TcpHarness h;
  TcpSocket* l1 = reuseport_listener(h);
  TcpSocket* l2 = reuseport_listener(h);
  Conn c;
  c.pport = 40007;
  Out sa = h.syn_to_listener(c);
  TcpSocket* l = l1->syn_queue_len() == 1 ? l1 : l2;
  EXPECT_EQ(l1->syn_queue_len() + l2->syn_queue_len(), 1u);
  // The SYN again: the request answers with the same SYN-ACK, no second request.
  h.send(Seg{.flags = kSyn, .seq = c.irs, .sport = c.pport, .opts = syn_options({}, c.tsval)});
  Out again = h.one();
  EXPECT_EQ(again.seq(), sa.seq());
  EXPECT_EQ(h.tcp().requests(), 1u);
  h.send(c, kAck);
  EXPECT_EQ(l->accept_queue_len(), 1u);
  EXPECT_EQ(l->syn_queue_len(), 0u);
}

TEST(TcpReuseport, ClosedListenerLeavesTheGroupAndItsQueuedChildrenAreReset) {
  TcpHarness h;
  TcpSocket* l1 = reuseport_listener(h);
  TcpSocket* l2 = reuseport_listener(h);
  uint16_t port = 40000;
  while (l1->accept_queue_len() < 3 || l2->accept_queue_len() < 1)
    ASSERT_NE(handshake(h, port++, {l1, l2}), nullptr);
  const size_t on_l1 = l1->accept_queue_len();
  const size_t on_l2 = l2->accept_queue_len();
  const uint64_t rsts = h.mib().out_rsts;
  h.tcp().close(h.now(), l1);
  // inet_csk_listen_stop: each established child nobody accepted is reset.
  auto v = h.out();
  size_t reset = 0;
  for (const Out& o : v) reset += o.flags().rst() ? 1 : 0;
  EXPECT_EQ(reset, on_l1) << describe(v);
  EXPECT_EQ(h.mib().out_rsts - rsts, on_l1);
  EXPECT_EQ(l2->accept_queue_len(), on_l2) << "the other member keeps its connections";
  // Every new connection now goes to the remaining member.
  for (int i = 0; i < 16; ++i) EXPECT_EQ(handshake(h, port++, {l2}), l2);
  EXPECT_EQ(l2->accept_queue_len(), on_l2 + 16);
  // The last member closing frees the port for anyone.
  h.tcp().close(h.now(), l2);
  (void)h.out();
  TcpSocket* plain = h.tcp().open();
  EXPECT_TRUE(plain->bind(kUs, kPort).ok());
  EXPECT_TRUE(plain->listen(8).ok());
}

TEST(TcpReuseport, HalfOpenRequestsOfAClosedListenerAreForgotten) {
  TcpHarness h;
  TcpSocket* l1 = reuseport_listener(h);
  TcpSocket* l2 = reuseport_listener(h);
  // Find a peer port whose SYN lands on l1 (half-open there).
  Conn c;
  for (c.pport = 40000; c.pport < 40100; ++c.pport) {
    h.syn_to_listener(c);
    if (l1->syn_queue_len() == 1) break;
  }
  ASSERT_EQ(l1->syn_queue_len(), 1u);
  const size_t l2_requests = l2->syn_queue_len();
  h.tcp().close(h.now(), l1);
  EXPECT_EQ(h.tcp().requests(), l2_requests);
  // The handshake's ACK now finds only l2, which has no request and no valid cookie: RST.
  h.send(c, kAck);
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRst) << r.str();
  EXPECT_EQ(h.drops(DropReason::kTcpCookieInvalid), 1u);
  EXPECT_EQ(l2->accept_queue_len(), 0u);
}

TEST(TcpReuseport, AnExactAddressGroupBeatsTheWildcardGroup) {
  TcpHarness h;
  TcpSocket* w1 = reuseport_listener(h, Ipv4Addr::any());
  TcpSocket* w2 = reuseport_listener(h, Ipv4Addr::any());
  TcpSocket* e1 = reuseport_listener(h, kUs);
  TcpSocket* e2 = reuseport_listener(h, kUs);
  for (uint16_t i = 0; i < 16; ++i) {
    TcpSocket* l = handshake(h, static_cast<uint16_t>(40000 + i), {w1, w2, e1, e2});
    EXPECT_TRUE(l == e1 || l == e2) << "connection " << i << " reached a wildcard listener";
  }
  EXPECT_GT(e1->accept_queue_len(), 0u);
  EXPECT_GT(e2->accept_queue_len(), 0u);
  // Once the exact group is gone, the wildcard group serves.
  h.tcp().close(h.now(), e1);
  h.tcp().close(h.now(), e2);
  (void)h.out();
  for (uint16_t i = 0; i < 16; ++i) {
    TcpSocket* l = handshake(h, static_cast<uint16_t>(41000 + i), {w1, w2});
    EXPECT_TRUE(l == w1 || l == w2);
  }
  EXPECT_GT(w1->accept_queue_len(), 0u);
  EXPECT_GT(w2->accept_queue_len(), 0u);
}

// ---- UDP ------------------------------------------------------------------------------------

std::vector<uint8_t> udp_frame(uint16_t sport, uint16_t dport, Ipv4Addr src = kPeer) {
  const std::vector<uint8_t> data{1, 2, 3};
  return stacktest::frame(stacktest::Pkt{
      .src = src, .proto = 17, .payload = stacktest::udp_payload(src, kUs, sport, dport, data)});
}

UdpSocket* udp_reuseport(UdpLayer& udp, Ipv4Addr addr, uint16_t port) {
  UdpSocket* s = udp.open();
  s->set_reuseport(true);
  s->set_rcvbuf(1 << 20);  // room for every datagram a test sends
  EXPECT_TRUE(s->bind(addr, port).ok());
  return s;
}

TEST(UdpReuseport, BindSharesThePortOnlyWhenEverySocketSetsTheOption) {
  TcpHarness h;
  UdpLayer& udp = h.stack().udp();
  UdpSocket* a = udp.open();
  ASSERT_TRUE(a->bind(kUs, 5353).ok());
  UdpSocket* b = udp.open();
  b->set_reuseport(true);
  auto r = b->bind(kUs, 5353);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EADDRINUSE);
  udp.close(a);
  ASSERT_TRUE(b->bind(kUs, 5353).ok());
  UdpSocket* c = udp_reuseport(udp, Ipv4Addr::any(), 5353);
  EXPECT_EQ(c->local_port(), 5353);
  UdpSocket* d = udp.open();
  r = d->bind(Ipv4Addr::any(), 5353);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EADDRINUSE);
}

TEST(UdpReuseport, DatagramsSpreadBySourceAndOneSourceKeepsItsSocket) {
  TcpHarness h;
  UdpLayer& udp = h.stack().udp();
  UdpSocket* a = udp_reuseport(udp, kUs, 5353);
  UdpSocket* b = udp_reuseport(udp, kUs, 5353);
  std::map<uint16_t, UdpSocket*> owner;
  for (uint16_t sport = 30000; sport < 30064; ++sport) {
    const size_t qa = a->rx_queued(), qb = b->rx_queued();
    h.send_frame(udp_frame(sport, 5353));
    ASSERT_EQ(a->rx_queued() + b->rx_queued(), qa + qb + 1);
    owner[sport] = a->rx_queued() > qa ? a : b;
  }
  EXPECT_GT(a->rx_queued(), 8u);
  EXPECT_GT(b->rx_queued(), 8u);
  EXPECT_EQ(udp.stats().in_datagrams, 64u);
  // The same sources again reach the same sockets.
  for (uint16_t sport = 30000; sport < 30064; ++sport) {
    const size_t qa = a->rx_queued();
    h.send_frame(udp_frame(sport, 5353));
    EXPECT_EQ(a->rx_queued() > qa ? a : b, owner[sport]) << "source port " << sport;
  }
  // A closed member leaves the group.
  udp.close(b);
  const size_t qa = a->rx_queued();
  for (uint16_t sport = 30000; sport < 30016; ++sport) h.send_frame(udp_frame(sport, 5353));
  EXPECT_EQ(a->rx_queued(), qa + 16);
}

TEST(UdpReuseport, AConnectedSocketStillWinsItsPeerAndExactBeatsWildcard) {
  TcpHarness h;
  UdpLayer& udp = h.stack().udp();
  UdpSocket* w = udp_reuseport(udp, Ipv4Addr::any(), 5353);
  UdpSocket* a = udp_reuseport(udp, kUs, 5353);
  UdpSocket* b = udp_reuseport(udp, kUs, 5353);
  UdpSocket* conn = udp_reuseport(udp, kUs, 5353);
  ASSERT_TRUE(conn->connect(h.now(), kPeer, 7777).ok());
  for (uint16_t sport = 30000; sport < 30032; ++sport) h.send_frame(udp_frame(sport, 5353));
  EXPECT_EQ(w->rx_queued(), 0u) << "the exact address beats the wildcard";
  EXPECT_EQ(conn->rx_queued(), 0u) << "a connected member takes only its peer's datagrams";
  EXPECT_EQ(a->rx_queued() + b->rx_queued(), 32u);
  EXPECT_GT(a->rx_queued(), 0u);
  EXPECT_GT(b->rx_queued(), 0u);
  h.send_frame(udp_frame(7777, 5353));
  EXPECT_EQ(conn->rx_queued(), 1u);
}

}  // namespace
}  // namespace ustack::tcptest
