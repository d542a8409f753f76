// LISTEN and the segments no socket wants (RFC 9293 §3.10.7.1-2, §3.5.2): RSTs for closed
// ports, the SYN queue (bounded, SYN-ACK retransmitted with backoff), the accept queue bounded
// by the backlog, SYN cookies (RFC 4987) and the listener's counters.
#include <gtest/gtest.h>

#include <cerrno>

#include "tcp_harness.h"

namespace ustack::tcptest {
namespace {

// RFC9293: MUST-3
TEST(TcpListen, ClosedPortSynGetsRstAck) {
  TcpHarness h;
  // CLOSED, no ACK bit: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (RFC 9293 §3.10.7.1).
  Seg syn{.flags = kSyn, .seq = 777, .dport = 81};
  h.send(syn);
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRstAck) << r.str();
  EXPECT_EQ(r.seq(), 0u);
  EXPECT_EQ(r.ack(), 778u);
  EXPECT_EQ(r.h.src_port, 81);
  EXPECT_EQ(r.h.dst_port, kPeerPort);
  EXPECT_EQ(r.h.window, 0);
  EXPECT_TRUE(r.data.empty());
  EXPECT_EQ(h.mib().out_rsts, 1u);
  EXPECT_EQ(h.mib().in_segs, 1u);
  EXPECT_EQ(h.drops(DropReason::kNoSocket), 1u);
  // Data and FIN count in SEG.LEN.
  Seg fin{.flags = kFin, .seq = 100, .dport = 81, .data = pattern(10)};
  h.send(fin);
  Out r2 = h.one();
  EXPECT_EQ(r2.flags(), kRstAck);
  EXPECT_EQ(r2.ack(), 111u);
}

TEST(TcpListen, ClosedPortAckGetsRstWithSeqFromAck) {
  TcpHarness h;
  // ACK bit on: <SEQ=SEG.ACK><CTL=RST>.
  Seg a{.flags = kPshAck, .seq = 5, .ack = 0xdeadbeef, .dport = 81, .data = pattern(3)};
  h.send(a);
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRst) << r.str();
  EXPECT_EQ(r.seq(), 0xdeadbeefu);
}

TEST(TcpListen, NoRstInReplyToRst) {
  TcpHarness h;
  h.send(Seg{.flags = kRst, .seq = 5, .dport = 81});
  h.send(Seg{.flags = kRstAck, .seq = 5, .ack = 9, .dport = 81});
  h.silent("a RST is never answered");
  EXPECT_EQ(h.mib().out_rsts, 0u);
  EXPECT_EQ(h.drops(DropReason::kNoSocket), 2u);
  // Nor on a listener (RFC 9293 §3.10.7.2 first check).
  h.listen();
  h.send(Seg{.flags = kRst, .seq = 5});
  h.silent();
  EXPECT_EQ(h.drops(DropReason::kTcpFlags), 1u);
}

// RFC9293: MUST-3
TEST(TcpListen, BadChecksumCountedAndDropped) {
  TcpHarness h;
  h.listen();
  Seg syn{.flags = kSyn, .seq = kPeerIss, .bad_checksum = true};
  h.send(syn);
  h.silent("a corrupted segment draws nothing, not even a RST");
  EXPECT_EQ(h.tcp().requests(), 0u);
  EXPECT_EQ(h.mib().in_errs, 1u);
  EXPECT_EQ(h.mib().in_csum_errors, 1u);
  EXPECT_EQ(h.drops(DropReason::kBadChecksum), 1u);
  // To a closed port too: no RST for a segment we cannot trust.
  Seg c{.flags = kSyn, .seq = 1, .dport = 99, .bad_checksum = true};
  h.send(c);
  h.silent();
  EXPECT_EQ(h.mib().in_csum_errors, 2u);
}

TEST(TcpListen, TruncatedHeaderCountedAsInErr) {
  TcpHarness h;
  h.listen();
  auto seg = tcp_bytes(Seg{.flags = kSyn, .seq = kPeerIss});
  seg.resize(12);
  h.send_frame(stacktest::frame(stacktest::Pkt{.proto = 6, .payload = seg}));
  h.silent();
  EXPECT_EQ(h.mib().in_errs, 1u);
}

TEST(TcpListen, ListenerDropsAckWithRstAndIgnoresFin) {
  TcpHarness h;
  h.listen();
  // LISTEN, an ACK: <SEQ=SEG.ACK><CTL=RST> (§3.10.7.2 second check; no cookie matches).
  h.cfg().syncookies = false;
  h.send(Seg{.flags = kAck, .seq = 10, .ack = 4242});
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRst) << r.str();
  EXPECT_EQ(r.seq(), 4242u);
  // Neither SYN, RST nor ACK: dropped.
  h.send(Seg{.flags = kFin, .seq = 10});
  h.send(Seg{.flags = TcpFlags{}, .seq = 10});
  h.silent();
  EXPECT_EQ(h.drops(DropReason::kTcpFlags), 2u);
}

TEST(TcpListen, SynAckRetransmittedWithBackoffThenRequestDropped) {
  TcpHarness h;
  h.cfg().synack_retries = 2;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  Instant t0 = h.now();
  Out first = h.syn_to_listener(c);
  for (int64_t at : {1000, 3000}) {  // 1 s initial, doubled
    h.run_until(t0 + Duration::ms(at) - Duration::ms(2));
    h.silent("SYN-ACK retransmitted early");
    h.run_until(t0 + Duration::ms(at) + Duration::ms(2));
    Out again = h.one();
    EXPECT_EQ(again.flags(), kSynAck);
    EXPECT_EQ(again.seq(), first.seq());
    EXPECT_EQ(again.ack(), kPeerIss + 1);
  }
  EXPECT_EQ(h.tcp().requests(), 1u);
  h.run_until(t0 + Duration::ms(7100));
  h.silent();
  EXPECT_EQ(h.tcp().requests(), 0u);
  EXPECT_EQ(l->syn_queue_len(), 0u);
  EXPECT_GE(h.mib().retrans_segs, 2u);
  // The late ACK finds no request: RST (cookies off) or, with cookies, an invalid cookie.
  h.cfg().syncookies = false;
  h.send(c, kAck);
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRst);
}

// RFC9293: MUST-41
TEST(TcpListen, ManyPeersOneListenerEachGetsItsOwnSocket) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  std::vector<Conn> cs;
  for (uint16_t i = 0; i < 5; ++i) {
    Conn c;
    c.pport = static_cast<uint16_t>(41000 + i);
    cs.push_back(h.passive_open({}, l, c));
  }
  EXPECT_EQ(h.mib().passive_opens, 5u);
  EXPECT_EQ(h.mib().curr_estab, 5u);
  for (size_t i = 0; i < cs.size(); ++i) {
    ASSERT_NE(cs[i].s, nullptr);
    EXPECT_EQ(cs[i].s->peer_port(), 41000 + i);
    h.send(cs[i], kPshAck, pattern(i + 1));
    EXPECT_EQ(cs[i].s->rx_available(), i + 1);
  }
  EXPECT_EQ(l->state(), TcpState::kListen);
}

// Completes handshakes on `l` from ports 41000.. until a SYN goes unanswered; returns how many
// connections the accept queue took.
size_t fill_accept_queue(TcpHarness& h, TcpSocket* l) {
  for (uint16_t i = 0; i < 64; ++i) {
    Seg syn{.flags = kSyn, .seq = kPeerIss};
    syn.sport = static_cast<uint16_t>(41000 + i);
    h.send(syn);
    auto v = h.out();
    if (v.empty()) return l->accept_queue_len();
    Seg ack{.flags = kAck, .seq = kPeerIss + 1, .ack = v.front().seq() + 1};
    ack.sport = syn.sport;
    h.send(ack);
    h.silent();
  }
  ADD_FAILURE() << "the accept queue never filled";
  return 0;
}

TEST(TcpListen, AcceptQueueFullDropsSyn) {
  TcpHarness h;
  h.cfg().syncookies = false;
  TcpSocket* l = h.listen(kPort, 2);
  // As documented in tcp_listen.cc (Linux tcp_conn_request): a SYN to a listener whose accept
  // queue is full is dropped, with ListenOverflows and ListenDrops, and no SYN-ACK: the client
  // retransmits. The queue is full at `backlog` connections (Linux: backlog + 1).
  size_t n = fill_accept_queue(h, l);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(h.mib().listen_overflows, 1u);
  EXPECT_EQ(h.mib().listen_drops, 1u);
  EXPECT_EQ(h.drops(DropReason::kTcpListenOverflow), 1u);
  EXPECT_EQ(h.tcp().requests(), 0u);
  // accept() makes room: a retransmitted SYN is served.
  ASSERT_TRUE(l->accept().ok());
  Seg syn{.flags = kSyn, .seq = kPeerIss};
  syn.sport = 42000;
  h.send(syn);
  EXPECT_EQ(h.one().flags(), kSynAck);
}

TEST(TcpListen, AckWhileAcceptQueueFullIsDroppedAndRequestKept) {
  TcpHarness h;
  h.cfg().syncookies = false;
  TcpSocket* l = h.listen(kPort, 2);
  // A request waits in the SYN queue while other connections fill the accept queue.
  Conn c;
  c.pport = 40999;
  c.listener = l;
  h.syn_to_listener(c);
  size_t n = fill_accept_queue(h, l);
  ASSERT_GT(n, 0u);
  uint64_t overflows = h.mib().listen_overflows;
  // Its ACK finds the queue full: Linux (tcp_check_req, tcp_abort_on_overflow = 0) drops the
  // ACK, counts ListenOverflows and keeps the request; the SYN-ACK is retransmitted later.
  h.send(c, kAck);
  h.silent("the ACK is dropped, not reset");
  EXPECT_EQ(h.mib().listen_overflows, overflows + 1);
  EXPECT_EQ(h.tcp().requests(), 1u);
  EXPECT_EQ(l->accept_queue_len(), n);
  // Room again: the peer's next ACK completes the connection.
  ASSERT_TRUE(l->accept().ok());
  h.send(c, kAck);
  EXPECT_EQ(h.tcp().requests(), 0u);
  EXPECT_EQ(l->accept_queue_len(), n);
}

TEST(TcpListen, SynQueueFullWithoutCookiesDropsSyn) {
  TcpHarness h;
  h.cfg().syncookies = false;
  TcpSocket* l = h.listen(kPort, 2);
  for (uint16_t i = 0; i < 2; ++i) {
    Conn c;
    c.pport = static_cast<uint16_t>(41000 + i);
    c.listener = l;
    h.syn_to_listener(c);
  }
  EXPECT_EQ(l->syn_queue_len(), 2u);
  Seg syn{.flags = kSyn, .seq = 5};
  syn.sport = 41009;
  h.send(syn);
  h.silent("SYN queue full and no cookies: dropped");
  EXPECT_EQ(h.tcp().requests(), 2u);
  EXPECT_EQ(h.mib().listen_drops, 1u);
  EXPECT_EQ(h.mib().syncookies_sent, 0u);
  EXPECT_EQ(h.drops(DropReason::kTcpListenOverflow), 1u);
}

TEST(TcpListen, SynCookiesWhenSynQueueOverflows) {
  TcpHarness h;
  ASSERT_TRUE(h.cfg().syncookies);  // on by default, as Linux
  TcpSocket* l = h.listen(kPort, 2);
  for (uint16_t i = 0; i < 2; ++i) {
    Conn c;
    c.pport = static_cast<uint16_t>(41000 + i);
    c.listener = l;
    h.syn_to_listener(c);
  }
  // The third SYN gets a cookie SYN-ACK and no request socket.
  Conn c;
  c.pport = 41009;
  c.listener = l;
  Out sa = h.syn_to_listener(c);
  EXPECT_EQ(h.mib().syncookies_sent, 1u);
  EXPECT_EQ(h.tcp().requests(), 2u);
  EXPECT_TRUE(sa.h.options.mss);
  // No retransmission of a cookie SYN-ACK: there is no state to retransmit from.
  h.run_for(Duration::ms(1500));
  for (const auto& o : h.out()) EXPECT_NE(o.h.dst_port, 41009) << o.str();
  // The ACK echoing the cookie completes the handshake.
  h.send(c, kAck);
  EXPECT_EQ(h.mib().syncookies_recv, 1u);
  EXPECT_EQ(h.mib().syncookies_failed, 0u);
  EXPECT_EQ(l->accept_queue_len(), 1u);
  auto s = l->accept();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->state(), TcpState::kEstablished);
  EXPECT_EQ((*s)->peer_port(), 41009);
  EXPECT_EQ((*s)->snd().una.v, c.iss + 1);
  EXPECT_EQ((*s)->rcv().nxt.v, kPeerIss + 1);
  // The timestamps option carried the cookie's SACK/WS bits (Linux cookie_init_timestamp).
  EXPECT_TRUE((*s)->negotiated().ts_ok);
  EXPECT_TRUE((*s)->negotiated().sack_ok);
  // Data flows.
  c.s = *s;
  h.send(c, kPshAck, pattern(100));
  EXPECT_EQ(c.s->rx_available(), 100u);
}

TEST(TcpListen, BadCookieAckIsReset) {
  TcpHarness h;
  TcpSocket* l = h.listen(kPort, 1);
  Conn a;
  a.pport = 41000;
  a.listener = l;
  h.syn_to_listener(a);
  Conn c;
  c.pport = 41009;
  c.listener = l;
  h.syn_to_listener(c);  // a cookie
  EXPECT_EQ(h.mib().syncookies_sent, 1u);
  Seg bad = c.seg(kAck);
  bad.ack += 12345;  // not our cookie
  h.send(bad);
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRst) << r.str();
  EXPECT_EQ(h.mib().syncookies_failed, 1u);
  EXPECT_EQ(h.drops(DropReason::kTcpCookieInvalid), 1u);
  EXPECT_EQ(l->accept_queue_len(), 0u);
}

TEST(TcpListen, CloseListenerResetsQueuedChildren) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  h.syn_to_listener(c);
  h.send(c, kAck);
  EXPECT_EQ(l->accept_queue_len(), 1u);
  Conn d;
  d.pport = 41001;
  d.listener = l;
  h.syn_to_listener(d);
  h.tcp().close(h.now(), l);
  h.run_for(Duration::us(100));
  auto v = h.out();
  // The established child is reset (<SEQ=SND.NXT><CTL=RST>); the request just goes.
  bool reset_child = false;
  for (const auto& o : v) {
    if (o.h.dst_port == kPeerPort && o.flags().rst()) {
      reset_child = true;
      EXPECT_EQ(o.seq(), c.iss + 1);
    }
  }
  EXPECT_TRUE(reset_child) << describe(v);
  EXPECT_EQ(h.tcp().requests(), 0u);
  // The port is closed now.
  h.send(Seg{.flags = kSyn, .seq = 1, .sport = 42000});
  EXPECT_EQ(h.one().flags(), kRstAck);
}

TEST(TcpListen, ListenErrorsAndBacklogCap) {
  TcpHarness h;
  TcpSocket* l = h.listen(kPort, 100000);
  EXPECT_EQ(l->backlog(), h.cfg().somaxconn);
  ASSERT_TRUE(l->listen(4).ok());  // listen again: only the backlog changes
  EXPECT_EQ(l->backlog(), 4);
  EXPECT_EQ(l->connect(h.now(), kPeer, 1).error(), EINVAL);
  TcpSocket* u = h.tcp().open();
  EXPECT_EQ(u->accept().error(), EINVAL);
  TcpSocket* a = h.tcp().open();
  ASSERT_TRUE(a->listen(4).ok());  // auto-binds an ephemeral port
  EXPECT_GE(a->local_port(), TcpLayer::kEphemeralLo);
}

TEST(TcpListen, DataOnSynIsEitherAckedAndKeptOrLeftForRetransmission) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Seg syn{.flags = kSyn, .seq = kPeerIss, .data = pattern(20)};
  syn.opts.mss = 1460;
  h.send(syn);
  Out sa = h.one();
  ASSERT_EQ(sa.flags(), kSynAck);
  // RFC 9293 allows queueing SYN text until ESTABLISHED; Linux (no Fast Open) ignores it and
  // the peer retransmits. What the SYN-ACK acknowledges must match what is delivered.
  bool kept = sa.ack() == kPeerIss + 1 + 20;
  EXPECT_TRUE(kept || sa.ack() == kPeerIss + 1) << sa.str();
  Seg ack{.flags = kAck, .seq = sa.ack(), .ack = sa.seq() + 1};
  h.send(ack);
  auto a = l->accept();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->rx_available(), kept ? 20u : 0u);
}

TEST(TcpListen, OddFlagCombinations) {
  TcpHarness h;
  h.listen();
  // SYN+FIN to a listener: dropped, as Linux does (no SYN-ACK).
  h.send(Seg{.flags = TcpFlags{TcpFlag::kSyn, TcpFlag::kFin}, .seq = 1});
  h.silent();
  EXPECT_EQ(h.tcp().requests(), 0u);
  EXPECT_EQ(h.drops(DropReason::kTcpFlags), 1u);
  // A segment with no flags at all to a closed port: not a RST, so it draws
  // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (RFC 9293 §3.10.7.1).
  h.send(Seg{.flags = TcpFlags{}, .seq = 50, .dport = 81, .data = pattern(4)});
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRstAck) << r.str();
  EXPECT_EQ(r.seq(), 0u);
  EXPECT_EQ(r.ack(), 54u);
  // FIN+PSH+URG ("xmas") to a closed port: the same rule, FIN counts one.
  h.send(
      Seg{.flags = TcpFlags{TcpFlag::kFin, TcpFlag::kPsh, TcpFlag::kUrg}, .seq = 70, .dport = 81});
  Out x = h.one();
  EXPECT_EQ(x.flags(), kRstAck) << x.str();
  EXPECT_EQ(x.ack(), 71u);
}

}  // namespace
}  // namespace ustack::tcptest
