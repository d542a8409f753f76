// TCP options in the state machine (RFC 9293 §3.2, RFC 7323, RFC 2018): timestamps on every
// segment once negotiated and PAWS, SACK-permitted negotiation and SACK blocks for
// out-of-order data, unknown and unaligned options, options on non-SYN segments.
#include <gtest/gtest.h>

#include "tcp_harness.h"

namespace ustack::tcptest {
namespace {

// RFC9293: MUST-5
TEST(TcpOptions, TimestampsOnEverySegmentAndEchoed) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = true});
  ASSERT_TRUE(c.ts);
  EXPECT_TRUE(c.s->negotiated().ts_ok);
  h.send(c, kPshAck, pattern(10));
  h.run_for(Duration::ms(300));
  h.out(c);  // its ACK
  uint32_t peer_tsval = c.tsval;
  auto v = h.app_send(c, pattern(10));
  ASSERT_EQ(v.size(), 1u);
  ASSERT_TRUE(v[0].h.options.timestamps);
  EXPECT_EQ(v[0].h.options.timestamps->tsecr, peer_tsval);  // TS.Recent of the last in-order
  EXPECT_FALSE(v[0].h.options.mss);
  EXPECT_FALSE(v[0].h.options.window_scale);
  EXPECT_FALSE(v[0].h.options.sack_permitted);
  // Our TSval clock runs in milliseconds (Linux's tcp_time_stamp_ts, 1 kHz).
  uint32_t ts1 = v[0].h.options.timestamps->tsval;
  h.run_for(Duration::ms(500));
  h.out(c);
  auto w = h.app_send(c, pattern(10));
  h.run_for(Duration::ms(500));
  w = h.out(c);
  ASSERT_FALSE(w.empty());
  uint32_t ts2 = w.back().h.options.timestamps->tsval;
  EXPECT_GE(ts2 - ts1, 500u);
  EXPECT_LE(ts2 - ts1, 1002u);
}

TEST(TcpOptions, NoTimestampsUnlessBothSidesSentThem) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  EXPECT_FALSE(c.s->negotiated().ts_ok);
  auto v = h.app_send(c, pattern(10));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].h.options.timestamps);
  EXPECT_EQ(c.s->negotiated().mss, 1460);  // no 12 bytes of timestamps to pay for
}

TEST(TcpOptions, TimestampsOffByConfig) {
  TcpHarness h;
  h.cfg().timestamps = false;
  h.cfg().sack = false;
  h.cfg().window_scaling = false;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  Out sa = h.syn_to_listener(c);
  EXPECT_FALSE(sa.h.options.timestamps);
  EXPECT_FALSE(sa.h.options.sack_permitted);
  EXPECT_FALSE(sa.h.options.window_scale);
  EXPECT_TRUE(sa.h.options.mss);
}

TEST(TcpOptions, PawsDropsOldTimestampAndAcks) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = true});
  h.send(c, kPshAck, pattern(10));
  h.run_for(Duration::ms(300));
  h.out(c);
  // A segment whose TSval is older than TS.Recent (RFC 7323 §5.3 R1): dropped, ACKed.
  Seg old = c.seg(kPshAck, pattern(10));
  old.opts.timestamps->tsval = c.tsval - 100;
  h.send(old);
  Out a = h.one(c);
  EXPECT_EQ(a.flags(), kAck);
  EXPECT_EQ(a.ack(), c.nxt);
  EXPECT_EQ(c.s->rx_available(), 10u);
  EXPECT_EQ(h.mib().paws_estab, 1u);
  EXPECT_EQ(h.drops(DropReason::kTcpPaws), 1u);
  // A RST is exempt from PAWS (RFC 7323 §5.3: "it is recommended that RST segments NOT carry
  // timestamps" and Linux accepts them): an exact RST with an old TSval still resets.
  Seg r = c.seg(kRst);
  r.opts.timestamps->tsval = c.tsval - 200;
  h.send(r);
  EXPECT_EQ(c.s->state(), TcpState::kClosed);
}

TEST(TcpOptions, TsRecentUpdatedOnlyFromInWindowSegments) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = true});
  // Out of order with a high TSval: it must not become TS.Recent (RFC 7323 §4.3).
  Seg ooo = c.seg(kPshAck, pattern(10));
  ooo.seq += 1000;
  ooo.opts.timestamps->tsval = c.tsval + 100000;
  h.send(ooo);
  Out a = h.one(c);
  ASSERT_TRUE(a.h.options.timestamps);
  EXPECT_NE(a.h.options.timestamps->tsecr, c.tsval + 100000);
}

// RFC9293: MUST-4
TEST(TcpOptions, SackBlocksForOutOfOrderData) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.sack = true, .ts = true});
  EXPECT_TRUE(c.s->negotiated().sack_ok);
  uint32_t base = c.nxt;
  Seg a = c.seg(kPshAck, pattern(100));
  a.seq = base + 200;
  h.send(a);
  Out d1 = h.one(c);
  ASSERT_EQ(d1.h.options.sack.size(), 1u);
  EXPECT_EQ(d1.h.options.sack[0], (wire::SackBlock{SeqNum{base + 200}, SeqNum{base + 300}}));
  Seg b = c.seg(kPshAck, pattern(100));
  b.seq = base + 500;
  h.send(b);
  Out d2 = h.one(c);
  // RFC 2018 §4: the block with the most recent segment first.
  ASSERT_EQ(d2.h.options.sack.size(), 2u);
  EXPECT_EQ(d2.h.options.sack[0], (wire::SackBlock{SeqNum{base + 500}, SeqNum{base + 600}}));
  EXPECT_EQ(d2.h.options.sack[1], (wire::SackBlock{SeqNum{base + 200}, SeqNum{base + 300}}));
  // Filling the first hole: the ACK moves to 300 and the remaining block stays.
  Seg f = c.seg(kPshAck, pattern(200));
  f.seq = base;
  h.send(f);
  Out d3 = h.one(c);
  EXPECT_EQ(d3.ack(), base + 300);
  ASSERT_EQ(d3.h.options.sack.size(), 1u);
  EXPECT_EQ(d3.h.options.sack[0], (wire::SackBlock{SeqNum{base + 500}, SeqNum{base + 600}}));
}

TEST(TcpOptions, NoSackBlocksWithoutSackPermitted) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.sack = false, .ts = false});
  EXPECT_FALSE(c.s->negotiated().sack_ok);
  Seg a = c.seg(kPshAck, pattern(100));
  a.seq += 200;
  h.send(a);
  Out d = h.one(c);
  EXPECT_TRUE(d.h.options.sack.empty());
}

TEST(TcpOptions, DuplicateSegmentReportedWithDsack) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.sack = true, .ts = false});
  Seg s = c.seg(kPshAck, pattern(100));
  c.nxt += 100;
  h.send(s);
  h.run_for(Duration::ms(300));
  h.out(c);
  h.send(s);
  Out a = h.one(c);
  // RFC 2883 (D-SACK, on in Linux): the duplicate range as the first block. Informational: a
  // stack without D-SACK sends a plain ACK; either way the ACK is RCV.NXT.
  EXPECT_EQ(a.ack(), c.nxt);
  if (!a.h.options.sack.empty()) {
    EXPECT_EQ(a.h.options.sack[0], (wire::SackBlock{SeqNum{c.nxt - 100}, SeqNum{c.nxt}}));
  }
}

// RFC9293: MUST-6, MUST-64, MUST-68
TEST(TcpOptions, UnknownAndUnalignedOptionsOnSyn) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  // Kind 99 (unknown, length 3), then MSS at an odd offset, then EOL and padding.
  std::vector<uint8_t> opts = {99, 3, 0xaa, 2, 4, 0x03, 0xe8, 0};
  auto b = tcp_bytes(Seg{.flags = kSyn, .seq = kPeerIss});
  std::vector<uint8_t> seg(b.begin(), b.begin() + 20);
  seg[12] = static_cast<uint8_t>((20 + opts.size()) / 4 << 4);
  seg.insert(seg.end(), opts.begin(), opts.end());
  seg[16] = seg[17] = 0;
  uint32_t sum = (kPeer.v >> 16) + (kPeer.v & 0xffff) + (kUs.v >> 16) + (kUs.v & 0xffff) + 6 +
                 static_cast<uint32_t>(seg.size());
  for (size_t i = 0; i < seg.size(); i += 2) sum += static_cast<uint32_t>(seg[i] << 8 | seg[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  seg[16] = static_cast<uint8_t>(~sum >> 8);
  seg[17] = static_cast<uint8_t>(~sum);
  h.send_frame(stacktest::frame(stacktest::Pkt{.proto = 6, .payload = seg}));
  Out sa = h.one();
  EXPECT_EQ(sa.flags(), kSynAck);
  Conn c;
  c.iss = sa.seq();
  c.rcv = sa.seq() + 1;
  c.nxt = kPeerIss + 1;
  h.send(c, kAck);
  auto a = l->accept();
  ASSERT_TRUE(a.ok());
  // The peer's MSS 1000 was understood despite the unknown option before it.
  EXPECT_EQ((*a)->negotiated().mss, 1000);
}

// RFC9293: MUST-5, MUST-65
TEST(TcpOptions, MssOptionIgnoredOutsideSyn) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.mss = 1460, .ts = false});
  Seg s = c.seg(kPshAck, pattern(10));
  s.opts.mss = 100;  // a MSS option on a data segment: ignored (Linux honours it only on SYN)
  c.nxt += 10;
  h.send(s);
  EXPECT_EQ(c.s->rx_available(), 10u);
  h.run_for(Duration::ms(300));
  h.out(c);  // its ACK
  auto v = h.app_send(c, pattern(3000));
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.front().data.size(), 1460u);
}

// RFC9293: MUST-69, MUST-68
TEST(TcpOptions, EmittedOptionsArePaddedWithZeros) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  Out sa = h.syn_to_listener(c);
  // Walk the raw options of the SYN-ACK: every option has a length (but EOL/NOP), and after an
  // EOL only zero bytes follow.
  auto seg = std::span(sa.datagram).subspan(20);
  size_t hl = size_t{static_cast<uint8_t>(seg[12] >> 4)} * 4;
  ASSERT_EQ(hl % 4, 0u);
  auto o = seg.subspan(20, hl - 20);
  size_t i = 0;
  while (i < o.size()) {
    if (o[i] == 0) {
      for (size_t j = i; j < o.size(); ++j) EXPECT_EQ(o[j], 0) << "padding byte " << j;
      break;
    }
    if (o[i] == 1) {
      ++i;
      continue;
    }
    ASSERT_LT(i + 1, o.size());
    ASSERT_GE(o[i + 1], 2);
    i += o[i + 1];
  }
}

TEST(TcpOptions, AtMostThreeSackBlocksWithTimestamps) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.sack = true, .ts = true});
  uint32_t base = c.nxt;
  Out last;
  for (uint32_t i = 0; i < 4; ++i) {  // four islands: 100..110, 200..210, 300..310, 400..410
    Seg s = c.seg(kPshAck, pattern(10));
    s.seq = base + 100 * (i + 1);
    h.send(s);
    last = h.one(c);
  }
  // 40 option bytes: timestamps (12 with NOPs) leave room for 3 blocks; the most recent first
  // (RFC 2018 §4).
  ASSERT_EQ(last.h.options.sack.size(), 3u);
  EXPECT_EQ(last.h.options.sack[0], (wire::SackBlock{SeqNum{base + 400}, SeqNum{base + 410}}));
  EXPECT_EQ(last.h.options.sack[1], (wire::SackBlock{SeqNum{base + 300}, SeqNum{base + 310}}));
  EXPECT_EQ(last.h.options.sack[2], (wire::SackBlock{SeqNum{base + 200}, SeqNum{base + 210}}));
}

}  // namespace
}  // namespace ustack::tcptest
