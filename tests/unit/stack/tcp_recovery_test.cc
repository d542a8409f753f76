// Loss recovery and ICMP (RFC 5681, RFC 6582, RFC 1191, RFC 9293 §3.9.2.2 / RFC 1122
// §4.2.3.9): the initial window, fast retransmit on three duplicate ACKs, NewReno partial ACKs,
// PMTU discovery from fragmentation-needed, and which ICMP errors abort a connection.
#include <gtest/gtest.h>

#include <cerrno>

#include "tcp_harness.h"

namespace ustack::tcptest {
namespace {

Conn established(TcpHarness& h) { return h.passive_open(SynOpts{.ts = false}); }

Seg dup_ack(Conn& c, uint32_t ack) {
  Seg s = c.seg(kAck);
  s.ack = ack;
  return s;
}

TEST(TcpRecovery, InitialWindowIsTenSegments) {
  TcpHarness h;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(1460 * 20));
  EXPECT_EQ(v.size(), 10u) << describe(v);  // RFC 6928 IW10, as Linux
  EXPECT_EQ(c.s->info().snd_cwnd, 10u * 1460u);
}

// RFC9293: MUST-19
TEST(TcpRecovery, SlowStartGrowsCwndPerAck) {
  TcpHarness h;
  Conn c = established(h);
  h.app_send(c, pattern(1460 * 40));
  uint32_t cwnd0 = c.s->info().snd_cwnd;
  h.send(dup_ack(c, c.iss + 1 + 1460 * 2));  // one ACK for two segments
  // RFC 5681 §3.1: cwnd += min(N, SMSS) per ACK (appropriate byte counting with L = 1 SMSS).
  EXPECT_EQ(c.s->info().snd_cwnd, cwnd0 + 1460);
  auto v = h.out(c);
  EXPECT_EQ(v.size(), 3u) << describe(v);  // 2 freed + 1 from growth
}

// RFC9293: MUST-19
TEST(TcpRecovery, FastRetransmitOnThreeDupAcks) {
  TcpHarness h;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(1460 * 10));
  ASSERT_EQ(v.size(), 10u);
  uint32_t una = c.iss + 1;
  // The first segment is lost; the peer ACKs the others with duplicates of SND.UNA.
  h.send(dup_ack(c, una));
  h.send(dup_ack(c, una));
  h.silent("two duplicates are not enough");
  h.send(dup_ack(c, una));
  auto r = h.out(c);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r.front().seq(), una);
  EXPECT_EQ(r.front().data.size(), 1460u);
  EXPECT_EQ(h.mib().fast_retrans, 1u);
  EXPECT_EQ(h.mib().retrans_segs, 1u);
  EXPECT_EQ(c.s->info().ca_state, transport::CaState::kRecovery);
  // ssthresh = max(FlightSize / 2, 2 * SMSS) (RFC 5681 §3.2 eq. 4).
  EXPECT_EQ(c.s->info().snd_ssthresh, 5u * 1460u);
  // The full ACK ends recovery.
  h.send(dup_ack(c, una + 1460 * 10));
  EXPECT_EQ(c.s->info().ca_state, transport::CaState::kOpen);
  EXPECT_EQ(c.s->tx_queued(), 0u);
}

// RFC9293: MUST-19
TEST(TcpRecovery, NewRenoPartialAckRetransmitsNextHole) {
  TcpHarness h;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(1460 * 10));
  ASSERT_EQ(v.size(), 10u);
  uint32_t una = c.iss + 1;
  // Segments 1 and 4 lost.
  for (int i = 0; i < 3; ++i) h.send(dup_ack(c, una));
  auto r = h.out(c);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r.front().seq(), una);
  // The retransmission fills hole 1: a partial ACK up to segment 4 (RFC 6582 §3.2 step 3):
  // retransmit the first unacknowledged segment at once, stay in recovery.
  h.send(dup_ack(c, una + 1460 * 3));
  auto p = h.out(c);
  ASSERT_FALSE(p.empty()) << "a partial ACK must retransmit the next hole";
  EXPECT_EQ(p.front().seq(), una + 1460 * 3);
  EXPECT_EQ(c.s->info().ca_state, transport::CaState::kRecovery);
  h.send(dup_ack(c, una + 1460 * 10));
  EXPECT_EQ(c.s->info().ca_state, transport::CaState::kOpen);
  EXPECT_EQ(h.mib().fast_retrans, 1u);
}

TEST(TcpRecovery, RtoCollapsesCwndToOneSegment) {
  TcpHarness h;
  Conn c = established(h);
  h.app_send(c, pattern(1460 * 10));
  h.run_for(Duration::ms(250));
  auto v = h.out(c);
  ASSERT_EQ(v.size(), 1u) << describe(v);  // only the head is retransmitted (cwnd = 1 SMSS)
  EXPECT_EQ(v[0].seq(), c.iss + 1);
  EXPECT_EQ(c.s->info().snd_cwnd, 1460u);
  EXPECT_EQ(c.s->info().ca_state, transport::CaState::kLoss);
  EXPECT_EQ(c.s->info().snd_ssthresh, 5u * 1460u);
}

// RFC9293: SHLD-6, MUST-54
TEST(TcpRecovery, PmtuFragNeededLowersMssAndResends) {
  TcpHarness h;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(1460 * 3));
  ASSERT_EQ(v.size(), 3u);
  EXPECT_TRUE(v[0].ip.dont_frag);  // PMTU discovery: DF on (RFC 1191 §3)
  // A router with a 1000-byte next hop answers the first segment.
  h.send_frame(icmp_unreach(v[0], wire::DstUnreachable::kFragNeeded, 1000,
                            Ipv4Addr::from_octets(192, 0, 2, 254)));
  auto r = h.out(c);
  ASSERT_FALSE(r.empty()) << "the lost bytes are resent at once in smaller segments";
  for (const auto& o : r) EXPECT_LE(o.data.size(), 960u) << o.str();
  EXPECT_EQ(r.front().seq(), c.iss + 1);
  EXPECT_EQ(r.front().data.size(), 960u);
  EXPECT_EQ(c.s->info().snd_mss, 960u);
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);
  // New data goes in 960-byte segments.
  h.send(dup_ack(c, c.iss + 1 + 1460 * 3));
  h.out(c);
  auto w = h.app_send(c, pattern(2000));
  ASSERT_FALSE(w.empty());
  EXPECT_EQ(w.front().data.size(), 960u);
}

TEST(TcpRecovery, PmtuNeverBelowBaseMss) {
  TcpHarness h;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(1460));
  ASSERT_EQ(v.size(), 1u);
  h.send_frame(icmp_unreach(v[0], wire::DstUnreachable::kFragNeeded, 200));
  h.out(c);
  EXPECT_GE(c.s->info().snd_mss, 536u - 40u);
}

TEST(TcpRecovery, IcmpForUnknownSequenceIgnored) {
  TcpHarness h;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(100));
  ASSERT_EQ(v.size(), 1u);
  h.send(c.seg(kAck));  // acknowledged: the quoted sequence is now below SND.UNA
  Out q = v[0];
  h.send_frame(icmp_unreach(q, wire::DstUnreachable::kFragNeeded, 1000));
  EXPECT_EQ(c.s->info().snd_mss, 1460u);  // RFC 5927 §4.1: not in flight, ignore
}

// RFC9293: MUST-56, SHLD-25
TEST(TcpRecovery, SoftIcmpErrorsDoNotAbort) {
  TcpHarness h;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(100));
  ASSERT_EQ(v.size(), 1u);
  for (auto code : {wire::DstUnreachable::kNetUnreachable, wire::DstUnreachable::kHostUnreachable,
                    wire::DstUnreachable::kSourceRouteFailed}) {
    h.send_frame(icmp_unreach(v[0], code));
    EXPECT_EQ(c.s->state(), TcpState::kEstablished);
  }
  // The data is still delivered once the path heals.
  h.send(c, kAck);
  EXPECT_EQ(c.s->tx_queued(), 0u);
}

// RFC9293: SHLD-26
TEST(TcpRecovery, HardIcmpErrorAbortsConnecting) {
  TcpHarness h;
  Conn c;
  Out syn = h.connect(c);
  h.send_frame(icmp_unreach(syn, wire::DstUnreachable::kPortUnreachable));
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  EXPECT_EQ(c.s->take_error(), ECONNREFUSED);
}

// RFC9293: MUST-55
TEST(TcpRecovery, SourceQuenchIgnored) {
  TcpHarness h;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(100));
  ASSERT_EQ(v.size(), 1u);
  uint32_t cwnd = c.s->info().snd_cwnd;
  // Type 4 code 0, quoting the segment.
  std::vector<uint8_t> d(8 + 28, 0);
  d[0] = 4;
  std::copy(v[0].datagram.begin(), v[0].datagram.begin() + 28, d.begin() + 8);
  uint32_t sum = 0;
  for (size_t i = 0; i < d.size(); i += 2) sum += static_cast<uint32_t>(d[i] << 8 | d[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  d[2] = static_cast<uint8_t>(~sum >> 8);
  d[3] = static_cast<uint8_t>(~sum);
  h.send_frame(stacktest::frame(stacktest::Pkt{.proto = 1, .payload = d}));
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);
  EXPECT_EQ(c.s->info().snd_cwnd, cwnd);
  h.silent();
}

// RFC9293: MUST-47, SHLD-25, MUST-56
TEST(TcpRecovery, SoftIcmpErrorReportedWhenRetriesRunOut) {
  TcpHarness h;
  h.cfg().retries2 = 3;
  Conn c = established(h);
  auto v = h.app_send(c, pattern(100));
  ASSERT_EQ(v.size(), 1u);
  h.send_frame(icmp_unreach(v[0], wire::DstUnreachable::kHostUnreachable, 0,
                            Ipv4Addr::from_octets(192, 0, 2, 254)));
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);  // soft: no abort (MUST-56)
  int early = c.s->take_error();  // reported at once, or (Linux without IP_RECVERR) kept soft
  h.run_for(Duration::s(30));
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
  int late = c.s->take_error();
  // The application learns of the unreachable host one way or the other (MUST-47, SHLD-25):
  // Linux's tcp_write_err reports the soft error instead of ETIMEDOUT.
  EXPECT_TRUE(early == EHOSTUNREACH || late == EHOSTUNREACH) << early << " " << late;
  EXPECT_TRUE(late == ETIMEDOUT || late == EHOSTUNREACH) << late;
}

// RFC9293: MUST-19
TEST(TcpRecovery, AfterRtoTheRestIsResentInSlowStart) {
  TcpHarness h;
  Conn c = established(h);
  uint32_t una = c.iss + 1;
  auto v = h.app_send(c, pattern(1460 * 4));
  ASSERT_EQ(v.size(), 4u);
  h.run_for(Duration::ms(250));
  auto r = h.out(c);
  ASSERT_EQ(r.size(), 1u) << describe(r);  // the RTO resends the head only
  EXPECT_EQ(r[0].seq(), una);
  // The head's ACK: cwnd 2 segments (slow start), the next two lost ones go again.
  h.send(dup_ack(c, una + 1460));
  auto r2 = h.out(c);
  ASSERT_EQ(r2.size(), 2u) << describe(r2);
  EXPECT_EQ(r2[0].seq(), una + 1460);
  EXPECT_EQ(r2[1].seq(), una + 2 * 1460);
  EXPECT_EQ(h.mib().retrans_segs, 3u);
  h.send(dup_ack(c, una + 3 * 1460));
  auto r3 = h.out(c);
  ASSERT_FALSE(r3.empty());
  EXPECT_EQ(r3[0].seq(), una + 3 * 1460);
  h.send(dup_ack(c, una + 4 * 1460));
  EXPECT_EQ(c.s->tx_queued(), 0u);
  EXPECT_EQ(c.s->info().ca_state, transport::CaState::kOpen);
}

// RFC9293: MUST-19
TEST(TcpRecovery, LimitedTransmitThenDupAcksInflateCwndAndReleaseNewData) {
  TcpHarness h;
  Conn c = established(h);
  uint32_t una = c.iss + 1;
  auto v = h.app_send(c, pattern(1460 * 20));
  ASSERT_EQ(v.size(), 10u);
  // RFC 5681 §3.2 steps 2-4: after the third duplicate, cwnd = ssthresh + 3 SMSS and each
  // further duplicate adds one SMSS; once cwnd exceeds what is in flight, new data goes.
  // RFC 3042 Limited Transmit: the first two duplicates each release one new segment; the
  // third retransmits SND.UNA.
  for (int i = 0; i < 3; ++i) h.send(dup_ack(c, una));
  auto r = h.out(c);
  ASSERT_EQ(r.size(), 3u) << describe(r);
  EXPECT_EQ(r[0].seq(), una + 1460 * 10);
  EXPECT_EQ(r[1].seq(), una + 1460 * 11);
  EXPECT_EQ(r[2].seq(), una);
  uint32_t newest = una + 1460 * 12;
  bool new_data = false;
  for (int i = 0; i < 9; ++i) {  // the other segments of the window arrive at the peer
    h.send(dup_ack(c, una));
    for (const auto& o : h.out(c)) new_data |= SeqNum{o.seq()} >= SeqNum{newest};
  }
  EXPECT_TRUE(new_data) << "no new data sent during fast recovery";
  EXPECT_EQ(h.mib().fast_retrans, 1u);
}

}  // namespace
}  // namespace ustack::tcptest
