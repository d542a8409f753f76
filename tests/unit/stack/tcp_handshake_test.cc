// TCP connection establishment (RFC 9293 §3.5, §3.10.7.2-3): passive and active open,
// simultaneous open, the options on SYNs (MSS clamped to the route, RFC 7323, RFC 2018), ISN
// selection (RFC 6528), SYN retransmission and the errors a failed open reports.
#include <gtest/gtest.h>

#include <cerrno>

#include "tcp_harness.h"
#include "ustack/base/checksum.h"

namespace ustack::tcptest {
namespace {

// RFC9293: MUST-14, MUST-4, SHLD-5, MUST-67, MUST-2
TEST(TcpHandshake, PassiveOpenSynAckCarriesOptionsAndEstablishes) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  EXPECT_EQ(l->state(), TcpState::kListen);
  Conn c;
  c.listener = l;
  Out sa = h.syn_to_listener(c);
  // LISTEN -> SYN-RECEIVED: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> with our options.
  EXPECT_EQ(sa.ack(), kPeerIss + 1);
  EXPECT_EQ(sa.h.options.mss, 1460);  // MTU 1500 - 40 (MMS_R, MUST-67)
  EXPECT_TRUE(sa.h.options.sack_permitted);
  ASSERT_TRUE(sa.h.options.timestamps);
  EXPECT_EQ(sa.h.options.timestamps->tsecr, c.tsval);  // echoes the SYN's TSval
  EXPECT_TRUE(sa.h.options.window_scale);
  EXPECT_EQ(sa.ip.src, kUs);
  EXPECT_EQ(sa.ip.dst, kPeer);
  EXPECT_EQ(h.tcp().requests(), 1u);
  EXPECT_EQ(h.mib().passive_opens, 1u);
  EXPECT_EQ(l->accept().error(), EAGAIN);  // not yet established

  h.send(c, kAck);
  h.silent();
  EXPECT_EQ(h.tcp().requests(), 0u);
  EXPECT_EQ(l->accept_queue_len(), 1u);
  EXPECT_NE(l->poll_mask() & transport::kPollIn, 0u);
  auto a = l->accept();
  ASSERT_TRUE(a.ok());
  TcpSocket* s = *a;
  EXPECT_EQ(s->state(), TcpState::kEstablished);
  EXPECT_EQ(s->peer_addr(), kPeer);
  EXPECT_EQ(s->peer_port(), kPeerPort);
  EXPECT_EQ(s->local_port(), kPort);
  EXPECT_EQ(s->snd().una.v, c.iss + 1);
  EXPECT_EQ(s->rcv().nxt.v, kPeerIss + 1);
  EXPECT_TRUE(s->negotiated().ts_ok);
  EXPECT_TRUE(s->negotiated().sack_ok);
  EXPECT_TRUE(s->negotiated().wscale_ok);
  EXPECT_EQ(s->negotiated().mss, 1460 - 12);  // payload per segment with timestamps
  EXPECT_EQ(h.mib().curr_estab, 1u);
  EXPECT_EQ(h.mib().active_opens, 0u);
}

// RFC9293: MUST-44, MUST-45, MUST-14
TEST(TcpHandshake, ActiveOpenSendsSynThenAcksSynAck) {
  TcpHarness h;
  Conn c;
  Out syn = h.connect(c);
  EXPECT_EQ(c.s->state(), TcpState::kSynSent);
  EXPECT_EQ(syn.ip.src, kUs);  // the source address IP chose for the route (MUST-44)
  EXPECT_EQ(syn.h.dst_port, kPeerPort);
  EXPECT_GE(syn.h.src_port, TcpLayer::kEphemeralLo);
  EXPECT_LE(syn.h.src_port, TcpLayer::kEphemeralHi);
  EXPECT_EQ(syn.h.options.mss, 1460);
  EXPECT_TRUE(syn.h.options.sack_permitted);
  EXPECT_TRUE(syn.h.options.timestamps);
  EXPECT_TRUE(syn.h.options.window_scale);
  EXPECT_EQ(syn.h.options.timestamps->tsecr, 0u);
  EXPECT_EQ(h.mib().active_opens, 1u);
  EXPECT_EQ(c.s->poll_mask() & transport::kPollOut, 0u);
  EXPECT_EQ(c.s->connect(h.now(), kPeer, kPeerPort).error(), EALREADY);

  Seg sa{.flags = kSynAck, .seq = kPeerIss, .ack = c.iss + 1};
  sa.dport = c.lport;
  sa.opts.mss = 1460;
  h.send(sa);
  Out a = h.one();
  EXPECT_EQ(a.flags(), kAck);
  EXPECT_EQ(a.seq(), c.iss + 1);
  EXPECT_EQ(a.ack(), kPeerIss + 1);
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);
  EXPECT_NE(c.s->poll_mask() & transport::kPollOut, 0u);
  EXPECT_EQ(c.s->connect(h.now(), kPeer, kPeerPort).error(), EISCONN);
  EXPECT_EQ(h.mib().active_opens, 1u);
  EXPECT_EQ(h.mib().curr_estab, 1u);
  EXPECT_EQ(h.mib().passive_opens, 0u);
}

// RFC9293: MUST-10
TEST(TcpHandshake, SimultaneousOpen) {
  TcpHarness h;
  Conn c;
  h.connect(c);
  // The peer's own SYN crosses ours: SYN-SENT -> SYN-RECEIVED, answered with
  // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> (RFC 9293 §3.10.7.3 fifth check, Figure 8).
  Seg syn{.flags = kSyn, .seq = kPeerIss};
  syn.dport = c.lport;
  syn.opts.mss = 1460;
  h.send(syn);
  c.nxt = kPeerIss + 1;
  Out sa = h.one(c);
  EXPECT_EQ(sa.flags(), kSynAck) << sa.str();
  EXPECT_EQ(sa.seq(), c.iss);
  EXPECT_EQ(sa.ack(), kPeerIss + 1);
  EXPECT_EQ(c.s->state(), TcpState::kSynReceived);
  // The peer's SYN-ACK (its SYN again, now with an ACK of ours) starts below RCV.NXT: the
  // sequence check finds it unacceptable and answers with an ACK (RFC 9293 §3.10.7.4 first
  // check; Figure 8 shows the shortcut to ESTABLISHED, either is fine).
  Seg sa2{.flags = kSynAck, .seq = kPeerIss, .ack = c.iss + 1};
  sa2.dport = c.lport;
  h.send(sa2);
  for (const auto& o : h.out(c)) {
    EXPECT_EQ(o.flags(), kAck) << o.str();
    EXPECT_EQ(o.seq(), c.iss + 1);
    EXPECT_EQ(o.ack(), kPeerIss + 1);
  }
  // The peer's ACK (its answer to our SYN-ACK) completes it.
  h.send(c, kAck);
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);
  h.silent();
  // Data flows both ways.
  h.send(c, kPshAck, pattern(10));
  EXPECT_EQ(c.s->rx_available(), 10u);
}

// RFC9293: MUST-10
TEST(TcpHandshake, SimultaneousOpenCompletedByPlainAck) {
  TcpHarness h;
  Conn c;
  h.simultaneous_open(c);
  h.send(c, kAck);
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);
}

// RFC9293: MUST-12
TEST(TcpHandshake, SynSentRstWithAcceptableAckRefuses) {
  TcpHarness h;
  Conn c;
  h.connect(c);
  // RST without ACK in SYN-SENT: dropped (RFC 9293 §3.10.7.3 second check).
  Seg r{.flags = kRst, .seq = 0, .ack = 0};
  r.dport = c.lport;
  h.send(r);
  EXPECT_EQ(c.s->state(), TcpState::kSynSent);
  // RST,ACK with an unacceptable ACK: dropped.
  Seg bad{.flags = kRstAck, .seq = 0, .ack = c.iss + 5};
  bad.dport = c.lport;
  h.send(bad);
  EXPECT_EQ(c.s->state(), TcpState::kSynSent);
  h.silent("never answer a RST");
  // RST,ACK acknowledging the SYN: "error: connection reset", CLOSED (Linux: ECONNREFUSED).
  Seg ok{.flags = kRstAck, .seq = 0, .ack = c.iss + 1};
  ok.dport = c.lport;
  h.send(ok);
  h.silent();
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  EXPECT_NE(c.s->poll_mask() & transport::kPollErr, 0u);
  EXPECT_EQ(c.s->take_error(), ECONNREFUSED);
  EXPECT_EQ(c.s->take_error(), 0);
  EXPECT_EQ(h.mib().attempt_fails, 1u);
  EXPECT_EQ(h.mib().curr_estab, 0u);
}

TEST(TcpHandshake, SynSentBadAckDrawsReset) {
  TcpHarness h;
  Conn c;
  h.connect(c);
  // SEG.ACK =< ISS or > SND.NXT: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.3 first check).
  for (uint32_t bad : {c.iss, c.iss + 2, c.iss - 100}) {
    Seg sa{.flags = kSynAck, .seq = kPeerIss, .ack = bad};
    sa.dport = c.lport;
    h.send(sa);
    Out r = h.one();
    EXPECT_EQ(r.flags(), kRst) << r.str();
    EXPECT_EQ(r.seq(), bad);
    EXPECT_EQ(c.s->state(), TcpState::kSynSent);
  }
  EXPECT_EQ(h.mib().out_rsts, 3u);
  EXPECT_EQ(h.drops(DropReason::kTcpBadAck), 3u);
}

TEST(TcpHandshake, SynSentSegmentWithoutSynOrRstIsDropped) {
  TcpHarness h;
  Conn c;
  h.connect(c);
  Seg a{.flags = kAck, .seq = kPeerIss, .ack = c.iss + 1};
  a.dport = c.lport;
  a.data = pattern(5);
  h.send(a);  // acceptable ACK, neither SYN nor RST: "drop the segment and return"
  h.silent();
  EXPECT_EQ(h.drops(DropReason::kTcpFlags), 1u);
  EXPECT_EQ(c.s->state(), TcpState::kSynSent);
}

// RFC9293: MUST-22, MUST-19
TEST(TcpHandshake, SynRetransmittedWithBackoffThenTimesOut) {
  TcpHarness h;
  h.cfg().syn_retries = 3;
  Conn c;
  Instant t0 = h.now();
  h.connect(c);
  // Initial RTO 1 s (RFC 6298 §2.1), doubled each time (§5.5): 1, 3, 7 s; gives up at 15 s.
  for (int64_t at : {1000, 3000, 7000}) {
    h.run_until(t0 + Duration::ms(at) - Duration::ms(1));
    h.silent("retransmitted too early");
    h.run_until(t0 + Duration::ms(at) + Duration::ms(1));
    Out s = h.one();
    EXPECT_EQ(s.flags(), kSyn) << s.str();
    EXPECT_EQ(s.seq(), c.iss);
  }
  EXPECT_EQ(c.s->state(), TcpState::kSynSent);
  h.run_until(t0 + Duration::ms(15001));
  h.silent();
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  EXPECT_EQ(c.s->take_error(), ETIMEDOUT);
  EXPECT_EQ(h.mib().attempt_fails, 1u);
  EXPECT_GE(h.mib().tcp_timeouts, 3u);
  EXPECT_EQ(h.mib().retrans_segs, 3u);
}

// RFC9293: MUST-12, MUST-47, MUST-56
// DISABLED: the engine aborts a connecting socket on host unreachable, as Linux's tcp_v4_err
// does in SYN-SENT (tcp_done with sk_err = EHOSTUNREACH). RFC 9293 §3.9.2.2 (MUST-56, RFC 1122
// §4.2.3.9) says destination unreachable codes 0, 1, 5 are soft errors that MUST NOT abort;
// expected: stay in SYN-SENT, keep retransmitting, report EHOSTUNREACH when the SYN retries
// run out. Either fix (TcpLayer::err) or document the Linux DEVIATION and drop this test.
TEST(TcpHandshake, IcmpUnreachableWhileConnectingIsSoftErrorUntilTimeout) {
  TcpHarness h;
  h.cfg().syn_retries = 1;
  Conn c;
  Out syn = h.connect(c);
  // RFC 1122 §4.2.3.9 / RFC 9293 MUST-56: do not abort on host unreachable; report it.
  h.send_frame(icmp_unreach(syn, wire::DstUnreachable::kHostUnreachable));
  EXPECT_EQ(c.s->state(), TcpState::kSynSent);
  h.run_for(Duration::s(10));
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  EXPECT_EQ(c.s->take_error(), EHOSTUNREACH);  // Linux reports the soft error
}

// RFC9293: MUST-11
TEST(TcpHandshake, RstInSynReceivedReturnsToListen) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  h.syn_to_listener(c);
  EXPECT_EQ(h.tcp().requests(), 1u);
  h.send(c, kRst);
  h.silent();
  EXPECT_EQ(h.tcp().requests(), 0u);         // the half-open connection is gone...
  EXPECT_EQ(l->state(), TcpState::kListen);  // ...the listener stays (MUST-11)
  EXPECT_EQ(h.mib().attempt_fails, 1u);
  // A new SYN from the same port is served.
  Conn d;
  d.listener = l;
  d.irs = kPeerIss + 5000;
  h.syn_to_listener(d);
  EXPECT_EQ(h.tcp().requests(), 1u);
}

TEST(TcpHandshake, SynReceivedBadAckDrawsReset) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  h.syn_to_listener(c);
  Seg a = c.seg(kAck);
  a.ack = c.iss + 7;  // acknowledges something never sent
  h.send(a);
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRst) << r.str();
  EXPECT_EQ(r.seq(), c.iss + 7);
  EXPECT_EQ(l->accept_queue_len(), 0u);
  EXPECT_EQ(h.drops(DropReason::kTcpBadAck), 1u);
}

TEST(TcpHandshake, SynReceivedDuplicateSynRetransmitsSynAck) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  Out first = h.syn_to_listener(c);
  Seg syn{.flags = kSyn, .seq = kPeerIss};
  syn.opts = syn_options({}, c.tsval);
  h.send(syn);
  Out again = h.one();
  EXPECT_EQ(again.flags(), kSynAck);
  EXPECT_EQ(again.seq(), first.seq());
  EXPECT_EQ(again.ack(), kPeerIss + 1);
  EXPECT_EQ(h.tcp().requests(), 1u);
}

// RFC9293: MUST-8, SHLD-1, MUST-9
TEST(TcpHandshake, IsnDiffersPer4TupleAndAdvancesWithTheClock) {
  TcpHarness h;
  h.listen();
  Conn a, b;
  a.pport = 40001;
  b.pport = 40002;
  h.syn_to_listener(a);
  h.syn_to_listener(b);
  EXPECT_NE(a.iss, b.iss);
  // Same 4-tuple later: RFC 6528's M, 4 µs ticks, moves the ISN forward by about 250 000/s.
  h.send(a.seg(kRst));
  h.run_for(Duration::s(1));
  h.out();
  Conn a2;
  a2.pport = 40001;
  h.syn_to_listener(a2);
  uint32_t delta = a2.iss - a.iss;
  EXPECT_GE(delta, 240000u);
  EXPECT_LE(delta, 260000u);
}

// RFC9293: MUST-67, SHLD-6, MUST-16
TEST(TcpHandshake, MssClampedToRouteMtu) {
  TcpHarness h(1400);
  Conn c;
  c.listener = h.listen();
  Out sa = h.syn_to_listener(c, SynOpts{.mss = 1460, .ts = false});
  EXPECT_EQ(sa.h.options.mss, 1360);  // 1400 - 20 - 20
  h.send(c, kAck);
  auto s = c.listener->accept();
  ASSERT_TRUE(s.ok());
  c.s = *s;
  // The peer's 1460 is clamped by our own MTU: segments carry at most 1360 bytes.
  auto v = h.app_send(c, pattern(3000));
  ASSERT_FALSE(v.empty());
  for (const auto& o : v) EXPECT_LE(o.data.size(), 1360u) << o.str();
  EXPECT_EQ(v.front().data.size(), 1360u);
  // The active side too: connect()'s SYN advertises the route's MMS_R.
  Conn d;
  d.pport = 41000;
  Out syn = h.connect(d);
  EXPECT_EQ(syn.h.options.mss, 1360);
}

// RFC9293: MUST-15, MUST-16
TEST(TcpHandshake, NoMssOptionMeans536) {
  TcpHarness h;
  Conn c =
      h.passive_open(SynOpts{.mss = std::nullopt, .ws = std::nullopt, .sack = false, .ts = false});
  EXPECT_EQ(c.s->negotiated().mss, 536);
  auto v = h.app_send(c, pattern(2000));
  ASSERT_FALSE(v.empty());
  for (const auto& o : v) EXPECT_LE(o.data.size(), 536u) << o.str();
  EXPECT_EQ(v.front().data.size(), 536u);
}

// RFC9293: MUST-16
TEST(TcpHandshake, PeerMssBoundsOurSegments) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.mss = 1000, .ts = false});
  auto v = h.app_send(c, pattern(5000));
  ASSERT_GE(v.size(), 2u);
  for (const auto& o : v) EXPECT_LE(o.data.size(), 1000u) << o.str();
  EXPECT_EQ(v.front().data.size(), 1000u);
}

// RFC9293: MUST-57
TEST(TcpHandshake, SynToBroadcastSilentlyDiscarded) {
  TcpHarness h;
  TcpSocket* l = h.tcp().open();
  ASSERT_TRUE(l->bind(Ipv4Addr{}, kPort).ok());  // INADDR_ANY
  ASSERT_TRUE(l->listen(8).ok());
  Seg syn{.flags = kSyn, .seq = kPeerIss, .dst = Ipv4Addr::from_octets(192, 0, 2, 255)};
  auto f = tcp_frame(syn);
  for (int i = 0; i < 6; ++i) f[i] = 0xff;  // link-level broadcast
  h.send_frame(f);
  h.silent("no SYN-ACK and no RST to a broadcast");
  EXPECT_EQ(h.tcp().requests(), 0u);
}

// RFC9293: MUST-63
TEST(TcpHandshake, SynFromInvalidSourceIgnored) {
  TcpHarness h;
  h.listen();
  for (Ipv4Addr bad :
       {Ipv4Addr::from_octets(224, 0, 0, 9), Ipv4Addr::from_octets(255, 255, 255, 255),
        Ipv4Addr::from_octets(192, 0, 2, 255)}) {
    Seg syn{.flags = kSyn, .seq = kPeerIss, .src = bad};
    h.send(syn);
    h.silent();
  }
  EXPECT_EQ(h.tcp().requests(), 0u);
}

// RFC9293: MUST-46
TEST(TcpHandshake, ConnectToBroadcastOrMulticastRejected) {
  TcpHarness h;
  TcpSocket* s = h.tcp().open();
  EXPECT_FALSE(s->connect(h.now(), Ipv4Addr::from_octets(192, 0, 2, 255), 80).ok());
  TcpSocket* m = h.tcp().open();
  EXPECT_FALSE(m->connect(h.now(), Ipv4Addr::from_octets(224, 0, 0, 1), 80).ok());
  h.silent();
}

// RFC9293: MUST-43
TEST(TcpHandshake, BindChoosesSourceAddressAndEphemeralPort) {
  TcpHarness h;
  TcpSocket* s = h.tcp().open();
  ASSERT_TRUE(s->bind(kUs, 0).ok());
  EXPECT_GE(s->local_port(), TcpLayer::kEphemeralLo);
  EXPECT_EQ(s->bind(kUs, 0).error(), EINVAL);  // already bound
  TcpSocket* t = h.tcp().open();
  EXPECT_EQ(t->bind(Ipv4Addr::from_octets(10, 9, 9, 9), 1234).error(), EADDRNOTAVAIL);
  TcpSocket* u = h.tcp().open();
  ASSERT_TRUE(u->bind(kUs, 5555).ok());
  TcpSocket* w = h.tcp().open();
  EXPECT_EQ(w->bind(kUs, 5555).error(), EADDRINUSE);
  Conn c;
  c.s = u;
  ASSERT_TRUE(u->connect(h.now(), kPeer, kPeerPort).ok());
  Out syn = h.one();
  EXPECT_EQ(syn.h.src_port, 5555);
  EXPECT_EQ(syn.ip.src, kUs);
}

// RFC9293: MUST-49
TEST(TcpHandshake, SegmentsUseTheConfiguredTtl) {
  TcpHarness h;
  h.stack().ip().config().default_ttl = 33;  // net.ipv4.ip_default_ttl
  h.listen();
  Conn c;
  Out sa = h.syn_to_listener(c);
  EXPECT_EQ(sa.ip.ttl, 33);
  h.send(Seg{.flags = kSyn, .seq = 1, .dport = 99});
  Out rst = h.one();
  EXPECT_EQ(rst.ip.ttl, 33);
}

// RFC9293: MUST-50
TEST(TcpHandshake, IpOptionsOnSynIgnored) {
  TcpHarness h;
  h.listen();
  auto f = tcp_frame(Seg{.flags = kSyn, .seq = kPeerIss});
  // Insert an IP options word (NOP, NOP, NOP, EOL): IHL 6, total length + 4, new checksum.
  f.insert(f.begin() + 34, {1, 1, 1, 0});
  f[14] = 0x46;
  uint16_t total = static_cast<uint16_t>((f[16] << 8 | f[17]) + 4);
  f[16] = static_cast<uint8_t>(total >> 8);
  f[17] = static_cast<uint8_t>(total);
  f[24] = f[25] = 0;
  uint16_t ck = inet_checksum(std::span(f).subspan(14, 24));
  f[24] = static_cast<uint8_t>(ck >> 8);
  f[25] = static_cast<uint8_t>(ck);
  h.send_frame(f);
  Out sa = h.one();
  EXPECT_EQ(sa.flags(), kSynAck) << sa.str();
  EXPECT_EQ(sa.ack(), kPeerIss + 1);
}

// RFC9293: MUST-22, MUST-23
TEST(TcpHandshake, SynRetriesCanSpanThreeMinutes) {
  TcpHarness h;
  // DEVIATION (as Linux): the default tcp_syn_retries = 6 gives up after 127 s, short of
  // RFC 9293's 3 minutes; the sysctl reaches it: 8 retries last 1 + 2 + ... + 128 + 256 s.
  EXPECT_EQ(h.cfg().syn_retries, 6);
  h.cfg().syn_retries = 8;
  Conn c;
  Instant t0 = h.now();
  h.connect(c);
  h.run_until(t0 + Duration::s(180));
  EXPECT_EQ(c.s->state(), TcpState::kSynSent);
  h.run_until(t0 + Duration::s(600));
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  EXPECT_EQ(c.s->take_error(), ETIMEDOUT);
}

// RFC9293: MUST-11
TEST(TcpHandshake, RstInSynReceivedFromActiveOpenCloses) {
  TcpHarness h;
  Conn c;
  h.simultaneous_open(c);
  // Reached from SYN-SENT (an active OPEN): a RST means "connection refused", CLOSED
  // (RFC 9293 §3.10.7.4 second check; MUST-11: SYN-RECEIVED remembers where it came from).
  h.send(c, kRst);
  h.silent();
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  EXPECT_EQ(c.s->take_error(), ECONNREFUSED);
  EXPECT_EQ(h.mib().attempt_fails, 1u);
}

TEST(TcpHandshake, UserMssLowersAdvertisedMss) {
  TcpHarness h;
  TcpSocket* l = h.tcp().open();
  l->set_mss(1000);  // TCP_MAXSEG before listen
  ASSERT_TRUE(l->bind(kUs, kPort).ok());
  ASSERT_TRUE(l->listen(4).ok());
  Conn c;
  c.listener = l;
  Out sa = h.syn_to_listener(c, SynOpts{.ts = false});
  EXPECT_EQ(sa.h.options.mss, 1000);
  h.send(c, kAck);
  auto s = l->accept();
  ASSERT_TRUE(s.ok());
  c.s = *s;
  c.s->set_nodelay(true);
  auto v = h.app_send(c, pattern(3000));
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.front().data.size(), 1000u);  // our own limit applies to what we send, too
}

TEST(TcpHandshake, CallsBeforeConnectAndDataQueuedInSynSent) {
  TcpHarness h;
  TcpSocket* s = h.tcp().open();
  std::array<uint8_t, 4> b{};
  EXPECT_EQ(s->recv(h.now(), b).error(), ENOTCONN);
  EXPECT_EQ(s->send(h.now(), pattern(4)).error(), ENOTCONN);
  Conn c;
  h.connect(c);
  uint32_t mask = 0;
  c.s->set_wakeup([&](Instant, uint32_t m) { mask = m; });
  // Data written in SYN-SENT waits for the handshake (tcp.h: "data may be queued in SYN-SENT").
  auto r = c.s->send(h.now(), pattern(20));
  ASSERT_TRUE(r.ok());
  h.silent("no data before the handshake completes");
  Seg sa{.flags = kSynAck, .seq = kPeerIss, .ack = c.iss + 1, .dport = c.lport};
  sa.opts.mss = 1460;
  h.send(sa);
  auto v = h.out(c);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().data, pattern(20)) << describe(v);
  EXPECT_EQ(v.back().seq(), c.iss + 1);
  EXPECT_NE(mask & transport::kPollOut, 0u);  // the wakeup told the application
}

TEST(TcpHandshake, HandshakeAckCarryingDataAndFin) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  h.syn_to_listener(c, SynOpts{.ts = false});
  // The third segment of the handshake carries data and the peer's FIN.
  h.send(c, kFinAck, pattern(30));
  auto v = h.out(c);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().ack(), kPeerIss + 1 + 30 + 1);
  auto a = l->accept();
  ASSERT_TRUE(a.ok());
  c.s = *a;
  EXPECT_EQ(c.s->state(), TcpState::kCloseWait);
  EXPECT_EQ(h.app_recv(c), pattern(30));
  std::array<uint8_t, 4> b{};
  EXPECT_EQ(c.s->recv(h.now(), b).value_or(99), 0u);
}

TEST(TcpHandshake, SynAckCarryingDataIsDelivered) {
  TcpHarness h;
  Conn c;
  h.connect(c);
  Seg sa{.flags = kSynAck, .seq = kPeerIss, .ack = c.iss + 1, .dport = c.lport, .data = pattern(5)};
  h.send(sa);
  // RFC 9293 §3.10.7.3: "If there are other controls or text in the segment, then continue
  // processing at the sixth step": the text is taken (Linux drops it without TCP Fast Open).
  auto v = h.out(c);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().flags(), kAck);
  EXPECT_EQ(v.back().ack(), kPeerIss + 1 + 5);
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);
  EXPECT_EQ(h.app_recv(c), pattern(5));
}

// RFC9293: MUST-58
// DISABLED: the engine answers a SYN-ACK carrying data with two ACKs back to back
// (<ACK=IRS+1>, then <ACK=IRS+1+len>; tcp_input.cc TcpSocket::rcv_syn_sent sends the handshake
// ACK before the text is processed). Expected (RFC 9293 §3.10.7.3 "continue processing at the
// sixth step", MUST-58 aggregate ACKs): one ACK covering SYN and text.
TEST(TcpHandshake, SynAckWithDataAnsweredByOneAck) {
  TcpHarness h;
  Conn c;
  h.connect(c);
  Seg sa{.flags = kSynAck, .seq = kPeerIss, .ack = c.iss + 1, .dport = c.lport, .data = pattern(5)};
  h.send(sa);
  Out a = h.one(c);
  EXPECT_EQ(a.ack(), kPeerIss + 1 + 5);
}

TEST(TcpHandshake, CloseInSynSentSendsNothing) {
  TcpHarness h;
  Conn c;
  h.connect(c);
  size_t n = h.tcp().sockets();
  h.tcp().close(h.now(), c.s);
  h.silent("nothing to say in SYN-SENT: not synchronized (RFC 9293 §3.10.4)");
  EXPECT_EQ(h.tcp().sockets(), n - 1);
  // The peer's late SYN-ACK now finds no socket: <SEQ=SEG.ACK><CTL=RST>.
  Seg sa{.flags = kSynAck, .seq = kPeerIss, .ack = c.iss + 1, .dport = c.lport};
  h.send(sa);
  Out r = h.one();
  EXPECT_EQ(r.flags(), kRst);
  EXPECT_EQ(r.seq(), c.iss + 1);
}

TEST(TcpHandshake, AbortInSynSentSendsNoRst) {
  TcpHarness h;
  Conn c;
  h.connect(c);
  h.tcp().abort(h.now(), c.s);
  h.silent("RST only in synchronized states");
}

// DISABLED: shutdown(SHUT_WR) in SYN-RECEIVED sends nothing; the FIN waits for ESTABLISHED
// (tcp_socket.cc TcpSocket::shutdown -> send_fin). Expected (RFC 9293 §3.10.4 CLOSE in
// SYN-RECEIVED: "If no SENDs have been issued and there is no pending data to send, then form a
// FIN segment and send it, and enter FIN-WAIT-1 state"; Linux tcp_close_state:
// SYN_RECV -> FIN_WAIT1 | TCP_ACTION_FIN): the FIN at once, FIN-WAIT-1.
TEST(TcpHandshake, ShutdownInSynReceivedSendsFin) {
  TcpHarness h;
  Conn c;
  h.simultaneous_open(c);
  ASSERT_TRUE(c.s->shutdown(h.now(), transport::kShutWr).ok());
  auto v = h.out(c);
  ASSERT_EQ(v.size(), 1u) << describe(v);
  EXPECT_TRUE(v[0].flags().fin());
  EXPECT_EQ(v[0].seq(), c.iss + 1);
  EXPECT_EQ(c.s->state(), TcpState::kFinWait1);
}

TEST(TcpHandshake, ShutdownInSynReceivedThenTheAckOfSynAndFinLeadsToFinWait2) {
  TcpHarness h;
  Conn c;
  h.simultaneous_open(c);
  ASSERT_TRUE(c.s->shutdown(h.now(), transport::kShutWr).ok());
  auto fin = h.out(c);
  ASSERT_EQ(fin.size(), 1u) << describe(fin);
  EXPECT_TRUE(fin[0].flags().fin());
  // An ACK of our SYN and FIN: synchronized, and the FIN is acknowledged.
  h.send(c, kAck);
  EXPECT_EQ(c.s->state(), TcpState::kFinWait2);
  EXPECT_EQ(h.mib().curr_estab, 0u);
  h.run_for(Duration::s(2));
  h.silent("nothing left to retransmit");
}

}  // namespace
}  // namespace ustack::tcptest
