// ESTABLISHED data transfer (RFC 9293 §3.8-3.10): in-order delivery, the out-of-order queue and
// duplicate detection, trimming of partly old segments, delayed ACKs (RFC 9293 §3.8.6.3,
// RFC 1122 §4.2.3.2), ACK processing of our data, and the MIB counters of a transfer.
#include <gtest/gtest.h>

#include <cerrno>

#include "tcp_harness.h"

namespace ustack::tcptest {
namespace {

Conn established(TcpHarness& h, bool ts = false, bool sack = true) {
  return h.passive_open(SynOpts{.sack = sack, .ts = ts});
}

// Delivers small segments until one is not ACKed at once: Linux's quick-ACK mode ACKs the
// first segments of a connection immediately (tcp_incr_quickack). Returns false if every one
// of `max` segments was ACKed at once.
bool leave_quickack(TcpHarness& h, Conn& c, int max = 40) {
  for (int i = 0; i < max; ++i) {
    h.send(c, kPshAck, pattern(10));
    if (h.out(c).empty()) return true;
  }
  return false;
}

TEST(TcpEstablished, InOrderDataIsDeliveredAndAcked) {
  TcpHarness h;
  Conn c = established(h);
  h.send(c, kPshAck, pattern(100, 3));
  EXPECT_EQ(c.s->rx_available(), 100u);
  EXPECT_NE(c.s->poll_mask() & transport::kPollIn, 0u);
  h.run_for(Duration::ms(300));  // the ACK, immediate or delayed
  auto v = h.out(c);
  ASSERT_EQ(v.size(), 1u) << describe(v);
  EXPECT_EQ(v[0].flags(), kAck);
  EXPECT_EQ(v[0].ack(), kPeerIss + 1 + 100);
  EXPECT_EQ(h.app_recv(c), pattern(100, 3));
  EXPECT_EQ(c.s->rx_available(), 0u);
  std::array<uint8_t, 8> b{};
  EXPECT_EQ(c.s->recv(h.now(), b).error(), EAGAIN);
  EXPECT_EQ(c.s->info().bytes_received, 100u);
}

TEST(TcpEstablished, RecvPeekLeavesData) {
  TcpHarness h;
  Conn c = established(h);
  h.send(c, kPshAck, pattern(10));
  std::array<uint8_t, 4> b{};
  EXPECT_EQ(c.s->recv(h.now(), b, true).value_or(0), 4u);
  EXPECT_EQ(c.s->rx_available(), 10u);
  EXPECT_EQ(c.s->recv(h.now(), b).value_or(0), 4u);
  EXPECT_EQ(c.s->rx_available(), 6u);
}

TEST(TcpEstablished, SendIsSegmentedAndAckedData) {
  TcpHarness h;
  Conn c = established(h);
  c.s->set_nodelay(true);  // the 1080-byte tail goes at once too (TcpWindow tests Nagle)
  auto data = pattern(4000, 9);
  auto v = h.app_send(c, data);
  ASSERT_EQ(v.size(), 3u) << describe(v);  // 1460 + 1460 + 1080, inside IW10
  std::vector<uint8_t> got;
  uint32_t seq = c.iss + 1;
  for (const auto& o : v) {
    EXPECT_EQ(o.seq(), seq);
    EXPECT_EQ(o.ack(), c.nxt);
    EXPECT_TRUE(o.flags().ack());
    seq += static_cast<uint32_t>(o.data.size());
    got.insert(got.end(), o.data.begin(), o.data.end());
  }
  EXPECT_EQ(got, data);
  EXPECT_EQ(c.s->tx_queued(), 4000u);
  EXPECT_EQ(c.s->snd().nxt.v, c.iss + 1 + 4000);
  h.send(c, kAck);  // acknowledges everything
  h.silent();
  EXPECT_EQ(c.s->tx_queued(), 0u);
  EXPECT_EQ(c.s->snd().una.v, c.iss + 1 + 4000);
  EXPECT_EQ(c.s->info().bytes_acked, 4000u);
}

// RFC9293: SHLD-31, MAY-13, MUST-59
TEST(TcpEstablished, OutOfOrderQueuedAndAckedAtOnceThenFilled) {
  TcpHarness h;
  Conn c = established(h);
  uint32_t base = c.nxt;
  // The second and third 100-byte pieces arrive before the first.
  Seg s2 = c.seg(kPshAck, pattern(100, 2));
  s2.seq = base + 100;
  Seg s3 = c.seg(kPshAck, pattern(100, 3));
  s3.seq = base + 200;
  h.send(s3);
  Out d1 = h.one(c);  // immediate duplicate ACK for out-of-order data (RFC 5681 §4.2)
  EXPECT_EQ(d1.flags(), kAck);
  EXPECT_EQ(d1.ack(), base);
  h.send(s2);
  Out d2 = h.one(c);
  EXPECT_EQ(d2.ack(), base);
  EXPECT_EQ(c.s->rx_available(), 0u);
  EXPECT_EQ(h.mib().ofo_queue, 2u);
  // The hole fills: one ACK covering everything queued (MUST-59), sent at once.
  Seg s1 = c.seg(kPshAck, pattern(100, 1));
  h.send(s1);
  Out a = h.one(c);
  EXPECT_EQ(a.ack(), base + 300);
  EXPECT_EQ(c.s->rx_available(), 300u);
  auto got = h.app_recv(c);
  std::vector<uint8_t> want = pattern(100, 1);
  auto p2 = pattern(100, 2), p3 = pattern(100, 3);
  want.insert(want.end(), p2.begin(), p2.end());
  want.insert(want.end(), p3.begin(), p3.end());
  EXPECT_EQ(got, want);
}

TEST(TcpEstablished, DuplicateSegmentAckedNotDeliveredTwice) {
  TcpHarness h;
  Conn c = established(h);
  Seg s = c.seg(kPshAck, pattern(50));
  c.nxt += 50;
  h.send(s);
  h.run_for(Duration::ms(300));
  h.out(c);
  h.send(s);  // again: entirely old
  Out a = h.one(c);
  EXPECT_EQ(a.flags(), kAck);
  EXPECT_EQ(a.ack(), c.nxt);
  EXPECT_EQ(c.s->rx_available(), 50u);
  EXPECT_EQ(h.drops(DropReason::kTcpOldData), 1u);
}

TEST(TcpEstablished, PartlyOldSegmentIsTrimmed) {
  TcpHarness h;
  Conn c = established(h);
  auto p = pattern(80);
  uint32_t base = c.nxt;
  h.send(c, kPshAck, std::vector<uint8_t>(p.begin(), p.begin() + 50));
  // Bytes 20..80: the first 30 are old, only the last 20 are new (RFC 9293 §3.10.7.4:
  // acceptable because it overlaps the window; the old part is trimmed).
  Seg s = c.seg(kPshAck, std::vector<uint8_t>(p.begin() + 20, p.end()));
  s.seq = base + 20;
  h.send(s);
  c.nxt = base + 80;
  EXPECT_EQ(c.s->rx_available(), 80u);
  EXPECT_EQ(h.app_recv(c), p);
  EXPECT_EQ(c.s->rcv().nxt.v, base + 80);
}

TEST(TcpEstablished, DuplicateOutOfOrderSegmentIsDetected) {
  TcpHarness h;
  Conn c = established(h);
  Seg s = c.seg(kPshAck, pattern(100));
  s.seq += 500;
  h.send(s);
  h.send(s);
  h.out(c);
  EXPECT_GE(h.mib().ofo_queue, 1u);  // queued once (the copy is a duplicate)...
  h.send(c, kPshAck, pattern(500));
  EXPECT_EQ(c.s->rx_available(), 600u);  // ...but the bytes count once
  EXPECT_EQ(h.drops(DropReason::kTcpOldData), 1u);
}

// RFC9293: SHLD-18, MUST-40, MUST-58
TEST(TcpEstablished, DelayedAckWithin200ms) {
  TcpHarness h;
  Conn c = established(h);
  ASSERT_TRUE(leave_quickack(h, c));
  Instant t0 = h.now();
  uint64_t delayed = h.mib().delayed_acks;
  h.run_until(t0 + Duration::ms(30));
  h.silent("not before the 40 ms minimum");
  h.run_until(t0 + Duration::ms(200));
  Out a = h.one(c);
  EXPECT_EQ(a.flags(), kAck);
  EXPECT_EQ(a.ack(), c.nxt);
  EXPECT_EQ(h.mib().delayed_acks, delayed + 1);
}

// RFC9293: SHLD-19, MUST-58
TEST(TcpEstablished, EverySecondFullSegmentAckedAtOnce) {
  TcpHarness h;
  Conn c = established(h);
  ASSERT_TRUE(leave_quickack(h, c));
  h.run_for(Duration::ms(250));
  h.out(c);
  uint32_t mss = 1460;
  h.send(c, kAck, pattern(mss));
  h.silent("one full segment may wait");
  h.send(c, kAck, pattern(mss));
  Out a = h.one(c);  // the second: ACK now
  EXPECT_EQ(a.ack(), c.nxt);
}

// RFC9293: MAY-13
TEST(TcpEstablished, OutOfOrderAckedImmediatelyEvenWhenDelaying) {
  TcpHarness h;
  Conn c = established(h);
  ASSERT_TRUE(leave_quickack(h, c));
  Seg s = c.seg(kPshAck, pattern(10));
  s.seq += 1000;
  h.send(s);
  Out a = h.one(c);
  EXPECT_EQ(a.ack(), c.nxt);
}

TEST(TcpEstablished, DataPiggybacksTheAck) {
  TcpHarness h;
  Conn c = established(h);
  ASSERT_TRUE(leave_quickack(h, c));
  // An ACK is pending; the application answers: the data segment carries it.
  auto v = h.app_send(c, pattern(20));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].ack(), c.nxt);
  Seg a = c.seg(kAck);  // the peer acknowledges the data with a pure ACK
  h.send(a);
  h.run_for(Duration::ms(250));
  h.silent("the delayed ACK was cancelled by the data segment");
}

TEST(TcpEstablished, MibCountsSegments) {
  TcpHarness h;
  Conn c = established(h);
  uint64_t in0 = h.mib().in_segs, out0 = h.mib().out_segs;
  h.app_send(c, pattern(100));
  h.send(c, kAck);
  EXPECT_EQ(h.mib().out_segs, out0 + 1);
  EXPECT_EQ(h.mib().in_segs, in0 + 1);
  EXPECT_GE(c.s->info().segs_out, 1u);
  EXPECT_GE(c.s->info().bytes_sent, 100u);
}

TEST(TcpEstablished, FormatListsTheConnection) {
  TcpHarness h;
  Conn c = established(h);
  ASSERT_NE(c.s, nullptr);
  std::string ss = h.tcp().format();
  EXPECT_NE(ss.find("ESTAB"), std::string::npos) << ss;
  EXPECT_NE(ss.find("LISTEN"), std::string::npos) << ss;
  std::string snmp = h.tcp().format_snmp();
  EXPECT_NE(snmp.find("PassiveOpens"), std::string::npos) << snmp;
  std::string nst = h.tcp().format_netstat();
  EXPECT_NE(nst.find("TcpExt:"), std::string::npos) << nst;
}

TEST(TcpEstablished, WakeupOnDataAndEstablishment) {
  TcpHarness h;
  Conn c = established(h);
  int calls = 0;
  uint32_t last = 0;
  c.s->set_wakeup([&](Instant, uint32_t mask) {
    ++calls;
    last = mask;
  });
  h.send(c, kPshAck, pattern(5));
  EXPECT_GE(calls, 1);
  EXPECT_NE(last & transport::kPollIn, 0u);
}

TEST(TcpEstablished, LifecycleCountersMatchTheWire) {
  TcpHarness h;
  Conn c = established(h);
  h.send(c, kPshAck, pattern(100));
  h.app_send(c, pattern(200));
  h.send(c, kAck);
  h.to_last_ack(c);
  h.send(c, kAck);
  h.run_for(Duration::s(1));
  h.out(c);
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  const auto& m = h.mib();
  // Every segment the peer sent counted in, every segment on the wire counted out (none of
  // them a retransmission), and the open/close bookkeeping.
  EXPECT_EQ(m.in_segs, h.segs_sent());
  EXPECT_EQ(m.out_segs, h.segs_seen());
  EXPECT_EQ(m.retrans_segs, 0u);
  EXPECT_EQ(m.passive_opens, 1u);
  EXPECT_EQ(m.active_opens, 0u);
  EXPECT_EQ(m.attempt_fails, 0u);
  EXPECT_EQ(m.estab_resets, 0u);
  EXPECT_EQ(m.curr_estab, 0u);
  EXPECT_EQ(m.out_rsts, 0u);
  EXPECT_EQ(m.in_errs, 0u);
  EXPECT_EQ(h.stack().telemetry().drops().total(), 0u) << h.stack().format_drops();
}

// DISABLED: engine bug. tcp_format.cc TcpLayer::format_snmp passes MaxConn as
// static_cast<uint64_t>(-1) and prints 18446744073709551615; Linux's /proc/net/snmp prints
// "-1" (RFC 4022 tcpMaxConn: -1 for a dynamic limit).
TEST(TcpEstablished, SnmpMaxConnIsMinusOne) {
  TcpHarness h;
  std::string snmp = h.tcp().format_snmp();
  auto second = snmp.substr(snmp.find('\n') + 1);
  EXPECT_EQ(second.rfind("Tcp: 1 200 120000 -1 ", 0), 0u) << snmp;
}

TEST(TcpEstablished, OutOfOrderFinTakesEffectWhenTheHoleFills) {
  TcpHarness h;
  Conn c = established(h);
  uint32_t base = c.nxt;
  Seg tail = c.seg(kFinAck, pattern(50, 2));
  tail.seq = base + 50;
  h.send(tail);
  h.out(c);
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);  // the FIN is not in sequence yet
  h.send(c, kPshAck, pattern(50, 1));
  c.nxt = base + 101;
  auto v = h.out(c);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().ack(), base + 101);  // the data and the FIN
  EXPECT_EQ(c.s->state(), TcpState::kCloseWait);
  EXPECT_EQ(c.s->rx_available(), 100u);
}

TEST(TcpEstablished, SequenceNumbersWrapAround) {
  TcpHarness h;
  Conn c;
  c.irs = 0xffffff00u;  // the peer's stream crosses 2^32 after 255 bytes
  c = h.passive_open(SynOpts{.ts = false}, nullptr, c);
  auto p = pattern(1000);
  h.send(c, kAck, std::vector<uint8_t>(p.begin(), p.begin() + 600));
  h.send(c, kPshAck, std::vector<uint8_t>(p.begin() + 600, p.end()));
  EXPECT_EQ(c.nxt, 0xffffff01u + 1000u);
  EXPECT_EQ(c.s->rcv().nxt.v, c.nxt);
  EXPECT_EQ(h.app_recv(c), p);
  h.run_for(Duration::ms(300));
  auto v = h.out(c);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().ack(), 0xffffff01u + 1000u);
}

TEST(TcpEstablished, OldSegmentDoesNotUpdateTheWindow) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false});
  // SND.WL1/SND.WL2 (RFC 9293 §3.10.7.4 fifth check): a window update from a newer segment
  // sticks; an older segment arriving late must not shrink the window again.
  uint32_t s0 = c.nxt;
  h.send(c, kAck, pattern(10));  // seq s0, window 65535
  Seg newer = c.seg(kAck, pattern(10));
  newer.win = 40000;
  c.nxt += 10;
  h.send(newer);  // seq s0 + 10
  EXPECT_EQ(c.s->snd().wnd, 40000u);
  Seg late = c.seg(kAck);
  late.seq = s0;  // an old duplicate of the first segment's header, window 1000
  late.win = 1000;
  h.send(late);
  EXPECT_EQ(c.s->snd().wnd, 40000u);
}

}  // namespace
}  // namespace ustack::tcptest
