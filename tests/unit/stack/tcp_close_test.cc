// Closing (RFC 9293 §3.6, §3.10.4, §3.10.7.4 eighth check): FIN-WAIT-1, FIN-WAIT-2, CLOSING,
// TIME-WAIT for 2*MSL then gone, CLOSE-WAIT, LAST-ACK, simultaneous close, half-close, the
// orphaned FIN-WAIT-2 timeout, and RFC 6191's new SYN in TIME-WAIT.
#include <gtest/gtest.h>

#include <cerrno>

#include "tcp_harness.h"

namespace ustack::tcptest {
namespace {

// RFC9293: MUST-13
TEST(TcpClose, ActiveCloseThroughTimeWaitFor2Msl) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  size_t base = h.tcp().sockets();  // listener + connection
  Out fin = h.to_fin_wait_1(c);
  EXPECT_EQ(fin.seq(), c.iss + 1);
  EXPECT_EQ(fin.ack(), c.nxt);
  h.send(c, kAck);
  EXPECT_EQ(c.s->state(), TcpState::kFinWait2);
  h.send(c, kFinAck);
  Out a = h.one(c);
  EXPECT_EQ(a.flags(), kAck);
  EXPECT_EQ(a.seq(), c.iss + 2);
  EXPECT_EQ(a.ack(), kPeerIss + 2);
  EXPECT_EQ(c.s->state(), TcpState::kTimeWait);
  EXPECT_EQ(h.mib().time_waits, 1u);
  EXPECT_EQ(h.mib().curr_estab, 0u);
  std::array<uint8_t, 4> eof{};
  EXPECT_EQ(c.s->recv(h.now(), eof).value_or(99), 0u);  // end of stream
  // The application lets go; the TIME-WAIT socket stays for 2*MSL (60 s as Linux), then goes.
  Instant tw = h.now();
  h.tcp().close(h.now(), c.s);
  c.s = nullptr;
  h.run_until(tw + Duration::s(60) - Duration::ms(10));
  EXPECT_EQ(h.tcp().sockets(), base);
  // Still there: a retransmitted FIN is ACKed again.
  Seg again{.flags = kFinAck, .seq = kPeerIss + 1, .ack = c.rcv};
  h.send(again);
  Out a2 = h.one();
  EXPECT_EQ(a2.flags(), kAck);
  EXPECT_EQ(a2.ack(), kPeerIss + 2);
  // RFC 9293: the retransmitted FIN restarts the 2*MSL timer.
  Instant restart = h.now();
  h.run_until(restart + Duration::s(60) - Duration::ms(10));
  EXPECT_EQ(h.tcp().sockets(), base);
  h.run_until(restart + Duration::s(60) + Duration::ms(10));
  EXPECT_EQ(h.tcp().sockets(), base - 1);
  h.silent("TIME-WAIT ends without a segment");
  // Gone: the 4-tuple is a closed port now.
  h.send(again);
  EXPECT_TRUE(h.one().flags().rst());
}

// RFC9293: MUST-13
TEST(TcpClose, TimeWaitLengthIsConfigurable) {
  TcpHarness h;
  h.cfg().time_wait = Duration::s(2);
  Conn c = h.passive_open();
  h.to_time_wait(c);
  size_t n = h.tcp().sockets();
  h.tcp().close(h.now(), c.s);
  h.run_for(Duration::ms(1990));
  EXPECT_EQ(h.tcp().sockets(), n);
  h.run_for(Duration::ms(20));
  EXPECT_EQ(h.tcp().sockets(), n - 1);
}

TEST(TcpClose, FinWait1ToTimeWaitOnFinAckingOurFin) {
  TcpHarness h;
  Conn c = h.passive_open();
  h.to_fin_wait_1(c);
  h.send(c, kFinAck);  // acknowledges our FIN and carries the peer's
  Out a = h.one(c);
  EXPECT_EQ(a.flags(), kAck);
  EXPECT_EQ(a.ack(), c.nxt);
  EXPECT_EQ(c.s->state(), TcpState::kTimeWait);
}

TEST(TcpClose, SimultaneousCloseThroughClosing) {
  TcpHarness h;
  Conn c = h.passive_open();
  h.to_closing(c);
  // The ACK of our FIN: CLOSING -> TIME-WAIT.
  h.send(c, kAck);
  h.silent();
  EXPECT_EQ(c.s->state(), TcpState::kTimeWait);
}

TEST(TcpClose, PassiveCloseThroughCloseWaitAndLastAck) {
  TcpHarness h;
  Conn c = h.passive_open();
  h.send(c, kPshAck, pattern(5));
  h.to_close_wait(c);
  EXPECT_EQ(h.mib().curr_estab, 1u);  // CLOSE-WAIT counts
  EXPECT_NE(c.s->poll_mask() & transport::kPollRdHup, 0u);
  EXPECT_NE(c.s->poll_mask() & transport::kPollIn, 0u);
  auto d = h.app_recv(c);
  EXPECT_EQ(d, pattern(5));
  std::array<uint8_t, 4> b{};
  EXPECT_EQ(c.s->recv(h.now(), b).value_or(99), 0u);  // end of stream
  // Half-duplex: we can still send in CLOSE-WAIT (MAY-1).
  auto v = h.app_send(c, pattern(7));
  ASSERT_EQ(v.size(), 1u);
  h.send(c, kAck);
  Out fin = h.to_last_ack(c);
  EXPECT_EQ(fin.seq(), c.iss + 1 + 7);
  EXPECT_EQ(h.mib().curr_estab, 0u);
  h.send(c, kAck);
  h.silent();
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
}

// RFC9293: MAY-1
TEST(TcpClose, HalfCloseStillReceives) {
  TcpHarness h;
  Conn c = h.passive_open();
  h.to_fin_wait_2(c);
  auto r = c.s->send(h.now(), pattern(3));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EPIPE);
  h.send(c, kPshAck, pattern(300));
  EXPECT_EQ(c.s->rx_available(), 300u);
  EXPECT_EQ(h.app_recv(c), pattern(300));
  EXPECT_EQ(c.s->state(), TcpState::kFinWait2);
}

TEST(TcpClose, FinWait1DataIsAckedAndRetransmitsFin) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  Instant t0 = h.now();
  Out fin = h.to_fin_wait_1(c);
  // Unacknowledged, the FIN is retransmitted on the RTO (>= 200 ms).
  h.run_until(t0 + Duration::ms(190));
  h.silent();
  h.run_until(t0 + Duration::s(1));
  auto v = h.out(c);
  ASSERT_GE(v.size(), 1u);
  EXPECT_EQ(v.front().flags_no_psh(), kFinAck);
  EXPECT_EQ(v.front().seq(), fin.seq());
  EXPECT_GE(h.mib().retrans_segs, 1u);
}

TEST(TcpClose, OrphanedFinWait2TimesOut) {
  TcpHarness h;
  h.cfg().fin_timeout = Duration::s(5);
  Conn c = h.passive_open();
  size_t n = h.tcp().sockets();
  h.tcp().close(h.now(), c.s);  // orphan: FIN sent
  c.s = nullptr;
  h.run_for(Duration::us(100));
  Out fin = h.one(c);
  EXPECT_EQ(fin.flags_no_psh(), kFinAck);
  h.send(c, kAck);  // FIN-WAIT-2, orphaned
  EXPECT_EQ(h.tcp().sockets(), n);
  h.run_for(Duration::s(5) + Duration::ms(50));
  EXPECT_EQ(h.tcp().sockets(), n - 1);  // tcp_fin_timeout (Linux keeps a TIME-WAIT; we free)
}

TEST(TcpClose, CloseSendsFinAfterQueuedData) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  c.win = 0;  // nothing may leave until the window opens
  h.send(c, kAck);
  ASSERT_TRUE(c.s->send(h.now(), pattern(100)).ok());
  h.tcp().close(h.now(), c.s);
  c.s = nullptr;
  h.run_for(Duration::us(100));
  h.silent("zero window: neither data nor FIN");
  c.win = 65535;
  h.send(c, kAck);  // window update
  auto v = h.out(c);
  ASSERT_FALSE(v.empty());
  // The data, then the FIN after it (possibly on the same segment).
  EXPECT_EQ(v.front().seq(), c.iss + 1);
  EXPECT_TRUE(v.back().flags().fin()) << describe(v);
  EXPECT_EQ(v.back().end(), c.iss + 1 + 100 + 1);
}

// RFC9293: MAY-2, SHLD-4
TEST(TcpClose, NewSynInTimeWaitWithHigherTimestampAccepted) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c = h.passive_open({}, l);
  h.to_time_wait(c);
  h.tcp().close(h.now(), c.s);
  h.run_for(Duration::ms(100));
  // RFC 6191 §2: a SYN with a TSval above TS.Recent reopens the connection, whatever its
  // sequence number (here below RCV.NXT).
  Seg syn{.flags = kSyn, .seq = kPeerIss - 5000};
  syn.opts = syn_options({}, c.tsval + 1000);
  h.send(syn);
  Out sa = h.one();
  EXPECT_EQ(sa.flags(), kSynAck) << sa.str();
  EXPECT_EQ(sa.ack(), kPeerIss - 5000 + 1);
  EXPECT_EQ(h.mib().tw_recycled, 1u);
  EXPECT_EQ(h.tcp().requests(), 1u);
}

// RFC9293: MAY-2, SHLD-4
TEST(TcpClose, NewSynInTimeWaitWithOldTimestampRejected) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c = h.passive_open({}, l);
  h.to_time_wait(c);
  h.tcp().close(h.now(), c.s);
  Seg syn{.flags = kSyn, .seq = c.nxt + 100000};
  syn.opts = syn_options({}, c.tsval - 10);  // older than TS.Recent
  h.send(syn);
  // Not a new connection: TIME-WAIT answers with its ACK (RFC 9293 §3.10.7.4, Linux
  // tcp_timewait_state_process: TCP_TW_ACK) and stays.
  auto v = h.out();
  for (const auto& o : v) EXPECT_FALSE(o.flags().syn()) << o.str();
  EXPECT_EQ(h.mib().tw_recycled, 0u);
  EXPECT_EQ(h.tcp().requests(), 0u);
}

// RFC9293: MAY-2
TEST(TcpClose, NewSynInTimeWaitWithoutTimestampsNeedsHigherSeq) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c = h.passive_open(SynOpts{.ts = false}, l);
  h.to_time_wait(c);
  h.tcp().close(h.now(), c.s);
  // RFC 6191 §2 without timestamps (RFC 1122 §4.2.2.13): only a SYN above RCV.NXT.
  Seg low{.flags = kSyn, .seq = c.nxt - 100};
  h.send(low);
  for (const auto& o : h.out()) EXPECT_FALSE(o.flags().syn()) << o.str();
  EXPECT_EQ(h.tcp().requests(), 0u);
  Seg high{.flags = kSyn, .seq = c.nxt + 100000};
  h.send(high);
  Out sa = h.one();
  EXPECT_EQ(sa.flags(), kSynAck);
  EXPECT_EQ(sa.ack(), c.nxt + 100001);
  EXPECT_EQ(h.mib().tw_recycled, 1u);
}

TEST(TcpClose, RecvAfterPeerFinReturnsZeroAndSendStillWorks) {
  TcpHarness h;
  Conn c = h.passive_open();
  h.to_close_wait(c);
  std::array<uint8_t, 4> b{};
  EXPECT_EQ(c.s->recv(h.now(), b).value_or(99), 0u);
  EXPECT_EQ(c.s->recv(h.now(), b).value_or(99), 0u);
  EXPECT_TRUE(c.s->send(h.now(), pattern(4)).ok());
}

TEST(TcpClose, ShutdownErrors) {
  TcpHarness h;
  TcpSocket* s = h.tcp().open();
  EXPECT_EQ(s->shutdown(h.now(), transport::kShutWr).error(), ENOTCONN);
  Conn c = h.passive_open();
  EXPECT_EQ(c.s->shutdown(h.now(), 7).error(), EINVAL);
  ASSERT_TRUE(c.s->shutdown(h.now(), transport::kShutRd).ok());
  std::array<uint8_t, 4> b{};
  EXPECT_EQ(c.s->recv(h.now(), b).value_or(99), 0u);
}

TEST(TcpClose, DataToOrphanedSocketIsReset) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  h.tcp().close(h.now(), c.s);  // FIN-WAIT-1, orphaned
  c.s = nullptr;
  Out fin = h.one(c);
  EXPECT_EQ(fin.flags_no_psh(), kFinAck);
  // New data nobody can read: Linux (tcp_rcv_state_process, TCPAbortOnData) answers with a RST.
  h.send(c, kPshAck, pattern(10));
  auto v = h.out(c);
  ASSERT_FALSE(v.empty());
  EXPECT_TRUE(v.back().flags().rst()) << describe(v);
  EXPECT_EQ(h.mib().abort_on_data, 1u);
  EXPECT_EQ(h.drops(DropReason::kTcpDataAfterClose), 1u);
  EXPECT_EQ(h.tcp().sockets(), 1u);  // only the listener
}

TEST(TcpClose, TextAfterPeerFinIsIgnored) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  h.to_close_wait(c);
  // Data after the peer's FIN: "This should not occur ... Ignore the segment text."
  h.send(c, kPshAck, pattern(10));
  h.out(c);
  EXPECT_EQ(c.s->rx_available(), 0u);
  EXPECT_EQ(c.s->state(), TcpState::kCloseWait);
  EXPECT_EQ(h.drops(DropReason::kTcpClosed), 1u) << h.stack().format_drops();
}

TEST(TcpClose, LastAckRetransmitsFinThenGivesUp) {
  TcpHarness h;
  h.cfg().orphan_retries = 2;
  Conn c = h.passive_open(SynOpts{.ts = false});
  h.to_close_wait(c);
  h.tcp().close(h.now(), c.s);  // LAST-ACK, orphaned
  c.s = nullptr;
  Out fin = h.one(c);
  EXPECT_EQ(fin.flags_no_psh(), kFinAck);
  size_t n = h.tcp().sockets();
  h.run_for(Duration::s(30));
  auto v = h.out(c);
  ASSERT_GE(v.size(), 2u) << describe(v);
  EXPECT_EQ(v[0].seq(), fin.seq());
  EXPECT_TRUE(v[0].flags().fin());
  EXPECT_EQ(h.tcp().sockets(), n - 1);  // given up after orphan_retries
}

TEST(TcpClose, TimeWaitAnswersOldDuplicateWithAckAndRstKillsIt) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  h.to_time_wait(c);
  size_t n = h.tcp().sockets();
  // An old duplicate data segment: ACKed (RFC 9293 §3.10.7.4 first check), TIME-WAIT stays.
  Seg old = c.seg(kPshAck, pattern(5));
  old.seq -= 10;
  h.send(old);
  Out a = h.one(c);
  EXPECT_EQ(a.flags(), kAck);
  EXPECT_EQ(a.ack(), c.nxt);
  EXPECT_EQ(c.s->state(), TcpState::kTimeWait);
  // An exact RST closes it (Linux's default tcp_rfc1337 = 0; RFC 1337 suggests ignoring it).
  h.send(c, kRst);
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  h.run_for(Duration::ms(1));
  EXPECT_EQ(h.tcp().sockets(), n);  // the application still holds the socket
}

TEST(TcpClose, ClosingRetransmitsFinUntilAcked) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  h.to_closing(c);
  h.run_for(Duration::s(1));
  auto v = h.out(c);
  ASSERT_FALSE(v.empty()) << "our FIN is unacknowledged: it is retransmitted";
  EXPECT_TRUE(v[0].flags().fin());
  EXPECT_EQ(v[0].seq(), c.iss + 1);
  EXPECT_EQ(c.s->state(), TcpState::kClosing);
  h.send(c, kAck);
  EXPECT_EQ(c.s->state(), TcpState::kTimeWait);
}

TEST(TcpClose, TimeWaitHoldsThePortUnlessReuseaddr) {
  TcpHarness h;
  Conn c = h.active_open();
  uint16_t port = c.lport;  // ephemeral, bound by connect()
  // Linux (inet_bind_conflict): both sockets must have SO_REUSEADDR; the TIME-WAIT socket
  // keeps the flag of the socket it was.
  c.s->set_reuseaddr(true);
  h.to_time_wait(c);
  h.tcp().close(h.now(), c.s);
  TcpSocket* a = h.tcp().open();
  EXPECT_EQ(a->bind(kUs, port).error(), EADDRINUSE);
  TcpSocket* b = h.tcp().open();
  b->set_reuseaddr(true);
  EXPECT_TRUE(b->bind(kUs, port).ok());  // SO_REUSEADDR binds over a TIME-WAIT
}

}  // namespace
}  // namespace ustack::tcptest
