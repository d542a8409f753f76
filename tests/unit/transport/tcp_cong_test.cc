// Congestion control: NewReno's window arithmetic (RFC 5681, RFC 6582, RFC 6928, RFC 3465),
// the FastRecovery state machine (Open/Disorder/Recovery/Loss, `recover`, sequence wrap) and
// the registry. SMSS is 1000 bytes so every expected window is easy to check by hand.
#include "ustack/transport/tcp_cong.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace ustack::transport {
namespace {

using wire::SeqNum;
constexpr uint32_t kMss = 1000;
const Instant kT0 = Instant::zero() + Duration::ms(1);

NewReno reno(FullAckDeflate d = FullAckDeflate::kFlightPlusMss) {
  NewReno cc(d);
  cc.init(kMss);
  return cc;
}

// RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)).
TEST(TcpCong, InitialWindow_Rfc6928_2) {
  EXPECT_EQ(NewReno::initial_window(1460), 14600u);
  EXPECT_EQ(NewReno::initial_window(536), 5360u);
  EXPECT_EQ(NewReno::initial_window(9000), 18000u);  // 2*MSS beats 14600, 10*MSS is capped
  EXPECT_EQ(NewReno::initial_window(1000), 10000u);
  EXPECT_EQ(NewReno::initial_window(0xffffffffu / 4), 0xffffffffu / 4 * 2);  // no 32-bit wrap
  NewReno cc = reno();
  EXPECT_EQ(cc.cwnd(), 10000u);
  EXPECT_EQ(cc.ssthresh(), kInfiniteSsthresh);  // RFC 5681 §3.1: arbitrarily high
  EXPECT_EQ(cc.name(), "newreno");
}

// RFC 5681 §3.1 eqn 2 with ABC L = 1 SMSS (RFC 3465 §2.2): + min(acked, SMSS) per ACK.
TEST(TcpCong, SlowStartGrowsByMinAckedSmss_Rfc5681_3_1) {
  NewReno cc = reno();
  cc.on_ack(kT0, 1000, 9000, std::nullopt);
  EXPECT_EQ(cc.cwnd(), 11000u);
  cc.on_ack(kT0, 3000, 6000, Duration::ms(10));  // a stretch ACK still adds one SMSS
  EXPECT_EQ(cc.cwnd(), 12000u);
  cc.on_ack(kT0, 500, 5500, std::nullopt);
  EXPECT_EQ(cc.cwnd(), 12500u);
  cc.on_ack(kT0, 0, 5500, std::nullopt);  // nothing acknowledged: no growth
  EXPECT_EQ(cc.cwnd(), 12500u);
  // One RTT of per-segment ACKs doubles the window (exponential growth).
  NewReno d = reno();
  for (int i = 0; i < 10; ++i) d.on_ack(kT0, kMss, 0, std::nullopt);
  EXPECT_EQ(d.cwnd(), 20000u);
}

// RFC 5681 §3.1 (byte counting, RFC 3465 §2.1): congestion avoidance adds exactly one SMSS per
// RTT, with an ACK per segment or per two segments (delayed ACKs).
TEST(TcpCong, CongestionAvoidanceOneSmssPerRtt_Rfc5681_3_1) {
  for (uint32_t per_ack : {kMss, 2 * kMss}) {
    NewReno cc = reno();
    cc.on_rto(kT0, 20000, false);  // ssthresh 10000, cwnd 1000
    ASSERT_EQ(cc.ssthresh(), 10000u);
    while (cc.cwnd() < cc.ssthresh()) cc.on_ack(kT0, kMss, 0, std::nullopt);
    ASSERT_EQ(cc.cwnd(), 10000u);  // slow start ended exactly at ssthresh
    for (uint32_t rtt = 1; rtt <= 5; ++rtt) {
      const uint32_t start = cc.cwnd();
      for (uint32_t acked = 0; acked < start; acked += per_ack) {
        cc.on_ack(kT0, per_ack, 0, std::nullopt);
      }
      EXPECT_EQ(cc.cwnd(), start + kMss) << "per_ack " << per_ack << " rtt " << rtt;
    }
    EXPECT_EQ(cc.cwnd(), 15000u);
  }
}

// RFC 5681 §3.2 steps 2-4 and RFC 6582 §3.2 step 1: the third duplicate ACK sets
// ssthresh = max(FlightSize/2, 2*SMSS), cwnd = ssthresh + 3*SMSS, recover = SND.NXT, and asks
// for a fast retransmit; later duplicates inflate cwnd by SMSS.
TEST(TcpCong, FastRetransmitOnThirdDupack_Rfc5681_3_2) {
  NewReno cc = reno();
  FastRecovery rec;
  rec.init(SeqNum{0});
  const SeqNum una{1}, nxt{20001};
  EXPECT_EQ(rec.on_dupack(cc, kT0, una, nxt, 20000), CaAction::kNone);
  EXPECT_EQ(rec.state(), CaState::kDisorder);
  EXPECT_EQ(rec.on_dupack(cc, kT0, una, nxt, 20000), CaAction::kNone);
  EXPECT_EQ(cc.cwnd(),
            10000u);  // no change before the threshold (limited transmit is the engine's)
  EXPECT_EQ(rec.on_dupack(cc, kT0, una, nxt, 20000), CaAction::kRetransmit);
  EXPECT_EQ(rec.state(), CaState::kRecovery);
  EXPECT_EQ(rec.recover(), nxt);
  EXPECT_EQ(cc.ssthresh(), 10000u);
  EXPECT_EQ(cc.cwnd(), 13000u);
  EXPECT_EQ(rec.on_dupack(cc, kT0, una, nxt, 20000), CaAction::kNone);
  EXPECT_EQ(cc.cwnd(), 14000u);  // step 4: inflate
  EXPECT_EQ(to_string(rec.state()), "Recovery");
}

// RFC 5681 eqn 4's floor: never below 2*SMSS.
TEST(TcpCong, SsthreshFloorTwoSmss_Rfc5681_3_1_Eqn4) {
  NewReno cc = reno();
  cc.on_enter_recovery(kT0, 3000);
  EXPECT_EQ(cc.ssthresh(), 2000u);
  EXPECT_EQ(cc.cwnd(), 5000u);
}

// Fewer than three duplicates then new data: back to Open, the count restarts.
TEST(TcpCong, DupacksResetByNewAck_Rfc5681_3_2) {
  NewReno cc = reno();
  FastRecovery rec;
  rec.init(SeqNum{0});
  rec.on_dupack(cc, kT0, SeqNum{1}, SeqNum{20001}, 20000);
  rec.on_dupack(cc, kT0, SeqNum{1}, SeqNum{20001}, 20000);
  EXPECT_EQ(rec.on_ack(cc, kT0, SeqNum{1001}, 1000, 19000, std::nullopt), CaAction::kNone);
  EXPECT_EQ(rec.state(), CaState::kOpen);
  EXPECT_EQ(rec.dupacks(), 0u);
  EXPECT_EQ(cc.cwnd(), 11000u);  // and the ACK grew the window (slow start)
  rec.on_dupack(cc, kT0, SeqNum{1001}, SeqNum{20001}, 19000);
  rec.on_dupack(cc, kT0, SeqNum{1001}, SeqNum{20001}, 19000);
  EXPECT_EQ(rec.state(), CaState::kDisorder);
}

// Drives a connection (ISS `iss`, 20 segments in flight) into fast recovery.
void enter_recovery(CongestionControl& cc, FastRecovery& rec, SeqNum iss) {
  rec.init(iss);
  for (int i = 0; i < 3; ++i) rec.on_dupack(cc, kT0, iss + 1, iss + 20001, 20000);
  ASSERT_EQ(rec.state(), CaState::kRecovery);
}

// RFC 6582 §3.2 step 5: a partial ACK deflates cwnd by the bytes acknowledged, adds back SMSS
// when at least SMSS was acknowledged, retransmits, and stays in recovery; the first one says
// to re-arm the timer.
TEST(TcpCong, PartialAckDeflatesAndStays_Rfc6582_3_2_Step5) {
  NewReno cc = reno();
  FastRecovery rec;
  enter_recovery(cc, rec, SeqNum{0});
  rec.on_dupack(cc, kT0, SeqNum{1}, SeqNum{20001}, 20000);  // cwnd 14000
  EXPECT_EQ(rec.on_ack(cc, kT0, SeqNum{5001}, 5000, 15000, std::nullopt), CaAction::kRetransmit);
  EXPECT_EQ(cc.cwnd(), 10000u);  // 14000 - 5000 + 1000
  EXPECT_TRUE(rec.first_partial_ack());
  EXPECT_EQ(rec.state(), CaState::kRecovery);
  EXPECT_EQ(rec.on_ack(cc, kT0, SeqNum{5501}, 500, 14500, std::nullopt), CaAction::kRetransmit);
  EXPECT_EQ(cc.cwnd(), 9500u);  // less than SMSS acknowledged: no add-back
  EXPECT_FALSE(rec.first_partial_ack());
  EXPECT_EQ(cc.ssthresh(), 10000u);  // untouched in recovery
  // A lying peer acknowledging more than cwnd cannot wrap the window.
  cc.on_partial_ack(kT0, 100000, 0);
  EXPECT_EQ(cc.cwnd(), kMss);
}

// RFC 6582 §3.2 step 3, option 1: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
TEST(TcpCong, FullAckOption1_Rfc6582_3_2_Step3) {
  NewReno cc = reno();
  FastRecovery rec;
  enter_recovery(cc, rec, SeqNum{0});
  EXPECT_EQ(rec.on_ack(cc, kT0, SeqNum{20001}, 20000, 0, std::nullopt), CaAction::kNone);
  EXPECT_EQ(rec.state(), CaState::kOpen);
  EXPECT_EQ(cc.cwnd(), 2000u);  // nothing in flight: max(0, SMSS) + SMSS
  NewReno b = reno();
  enter_recovery(b, rec, SeqNum{0});
  rec.on_ack(b, kT0, SeqNum{25001}, 25000, 5000, std::nullopt);  // beyond recover: still full
  EXPECT_EQ(b.cwnd(), 6000u);
  NewReno c = reno();
  enter_recovery(c, rec, SeqNum{0});
  rec.on_ack(c, kT0, SeqNum{20001}, 20000, 50000, std::nullopt);
  EXPECT_EQ(c.cwnd(), 10000u);  // capped at ssthresh
  // After recovery the window grows in congestion avoidance (cwnd == ssthresh).
  for (int i = 0; i < 10; ++i) c.on_ack(kT0, kMss, 0, std::nullopt);
  EXPECT_EQ(c.cwnd(), 11000u);
}

// RFC 6582 §3.2 step 3, option 2: cwnd = ssthresh.
TEST(TcpCong, FullAckOption2_Rfc6582_3_2_Step3) {
  NewReno cc = reno(FullAckDeflate::kSsthresh);
  FastRecovery rec;
  enter_recovery(cc, rec, SeqNum{0});
  rec.on_ack(cc, kT0, SeqNum{20001}, 20000, 0, std::nullopt);
  EXPECT_EQ(cc.cwnd(), 10000u);
}

// Recovery across the 2^32 wrap: partial and full ACKs compare modulo 2^32 (RFC 9293 §3.4).
TEST(TcpCong, RecoveryAcrossSequenceWrap_Rfc6582_3_2) {
  const SeqNum iss{0xfffff000u};
  NewReno cc = reno();
  FastRecovery rec;
  enter_recovery(cc, rec, iss);
  EXPECT_EQ(rec.recover().v, iss.v + 20001u);  // wrapped: 0x00003e21
  EXPECT_LT(rec.recover().v, iss.v);
  EXPECT_EQ(rec.on_ack(cc, kT0, iss + 10001, 10000, 10000, std::nullopt), CaAction::kRetransmit);
  EXPECT_EQ(rec.state(), CaState::kRecovery);
  EXPECT_EQ(rec.on_ack(cc, kT0, iss + 20001, 10000, 0, std::nullopt), CaAction::kNone);
  EXPECT_EQ(rec.state(), CaState::kOpen);
}

// RFC 5681 §3.1: on RTO, ssthresh = max(FlightSize/2, 2*SMSS) and cwnd = LW = 1 SMSS; a repeated
// timeout of the same segment holds ssthresh; slow start then ends Loss at `recover`.
TEST(TcpCong, RtoCollapsesToLossWindow_Rfc5681_3_1) {
  NewReno cc = reno();
  FastRecovery rec;
  rec.init(SeqNum{0});
  rec.on_rto(cc, kT0, SeqNum{1}, SeqNum{20001}, 20000);
  EXPECT_EQ(rec.state(), CaState::kLoss);
  EXPECT_EQ(cc.ssthresh(), 10000u);
  EXPECT_EQ(cc.cwnd(), kMss);
  EXPECT_EQ(rec.recover(), SeqNum{20001});
  // Timer fires again, no progress: ssthresh held (FlightSize/2 would now be 2*SMSS).
  rec.on_rto(cc, kT0, SeqNum{1}, SeqNum{20001}, 1000);
  EXPECT_EQ(cc.ssthresh(), 10000u);
  EXPECT_EQ(cc.cwnd(), kMss);
  // Progress, then another timeout: a new segment timed out, so ssthresh is recomputed.
  EXPECT_EQ(rec.on_ack(cc, kT0, SeqNum{1001}, 1000, 19000, std::nullopt), CaAction::kNone);
  EXPECT_EQ(cc.cwnd(), 2000u);  // slow start from LW
  EXPECT_EQ(rec.state(), CaState::kLoss);
  rec.on_rto(cc, kT0, SeqNum{1001}, SeqNum{20001}, 3000);
  EXPECT_EQ(cc.ssthresh(), 2000u);
  // Loss ends once everything outstanding at the timeout is acknowledged.
  rec.on_ack(cc, kT0, SeqNum{10001}, 9000, 10000, std::nullopt);
  EXPECT_EQ(rec.state(), CaState::kLoss);
  rec.on_ack(cc, kT0, SeqNum{20001}, 10000, 0, std::nullopt);
  EXPECT_EQ(rec.state(), CaState::kOpen);
}

// RFC 6582 §4 / §3.2 step 1: duplicate ACKs below `recover` after a timeout (caused by the
// go-back-N retransmissions) must not start another fast retransmit.
TEST(TcpCong, NoFastRetransmitBelowRecoverAfterRto_Rfc6582_4) {
  NewReno cc = reno();
  FastRecovery rec;
  rec.init(SeqNum{0});
  rec.on_rto(cc, kT0, SeqNum{1}, SeqNum{20001}, 20000);
  rec.on_ack(cc, kT0, SeqNum{2001}, 2000, 18000, std::nullopt);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(rec.on_dupack(cc, kT0, SeqNum{2001}, SeqNum{20001}, 18000), CaAction::kNone);
  }
  EXPECT_EQ(rec.state(), CaState::kLoss);
  EXPECT_EQ(cc.cwnd(), 2000u);  // no inflation either
}

// An RTO during fast recovery leaves it (RFC 6582 §3.2 step 4).
TEST(TcpCong, RtoExitsRecovery_Rfc6582_3_2_Step4) {
  NewReno cc = reno();
  FastRecovery rec;
  enter_recovery(cc, rec, SeqNum{0});
  rec.on_rto(cc, kT0, SeqNum{1}, SeqNum{20001}, 20000);
  EXPECT_EQ(rec.state(), CaState::kLoss);
  EXPECT_EQ(cc.cwnd(), kMss);
  EXPECT_EQ(cc.ssthresh(), 10000u);
}

// Registry: Linux's tcp_ca_find by name; net.ipv4.tcp_available_congestion_control.
TEST(TcpCong, Registry) {
  auto a = make_congestion_control("newreno");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name(), "newreno");
  a->init(1460);
  EXPECT_EQ(a->cwnd(), 14600u);
  auto b = make_congestion_control("reno");  // Linux's name for it
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->name(), "newreno");
  EXPECT_EQ(make_congestion_control("cubic"), nullptr);  // not yet
  EXPECT_EQ(make_congestion_control(""), nullptr);
  EXPECT_EQ(make_congestion_control("NewReno"), nullptr);  // names are exact, as in Linux
  const auto avail = available_congestion_control();
  EXPECT_NE(std::find(avail.begin(), avail.end(), "newreno"), avail.end());
  for (std::string_view n : avail) {
    auto cc = make_congestion_control(n);
    ASSERT_NE(cc, nullptr) << n;
    EXPECT_EQ(cc->name(), n);
  }
}

}  // namespace
}  // namespace ustack::transport
