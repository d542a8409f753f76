// Flow control (RFC 9293 §3.8.6, RFC 7323 §2, RFC 896): window scaling, the window ustack
// advertises (receiver SWS avoidance, never shrinking), honouring the peer's window, sender SWS
// avoidance and Nagle with TCP_NODELAY.
#include <gtest/gtest.h>

#include <cerrno>

#include "tcp_harness.h"

namespace ustack::tcptest {
namespace {

// RFC9293: MUST-1, REC-1
TEST(TcpWindow, WindowScalingNegotiatedBothWays) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  Out sa = h.syn_to_listener(c, SynOpts{.ws = 7, .ts = false});
  ASSERT_TRUE(sa.h.options.window_scale);
  uint8_t our = *sa.h.options.window_scale;
  EXPECT_GT(sa.h.window, 0);  // the SYN-ACK's window is never scaled (RFC 7323 §2.2)
  c.win = 100;                // x 128 = 12800 bytes
  h.send(c, kAck);
  auto s = l->accept();
  ASSERT_TRUE(s.ok());
  c.s = *s;
  EXPECT_EQ(c.s->snd().wscale, 7);
  EXPECT_EQ(c.s->snd().wnd, 12800u);
  EXPECT_EQ(c.s->rcv().wscale, our);
  EXPECT_TRUE(c.s->negotiated().wscale_ok);
  // Our windows after the handshake are scaled by our shift.
  h.send(c, kPshAck, pattern(10));
  h.run_for(Duration::ms(300));
  auto v = h.out(c);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(static_cast<uint32_t>(v.back().h.window) << our, c.s->rcv().wnd);
  // The sender keeps to 12800 bytes in flight.
  auto sent = h.app_send(c, pattern(20000));
  uint32_t bytes = 0;
  for (const auto& o : sent) bytes += static_cast<uint32_t>(o.data.size());
  EXPECT_LE(bytes, 12800u);
  EXPECT_GE(bytes, 12800u - 1460u);
}

TEST(TcpWindow, NoWindowScaleWithoutPeerOption) {
  TcpHarness h;
  TcpSocket* l = h.listen();
  Conn c;
  c.listener = l;
  Out sa = h.syn_to_listener(c, SynOpts{.ws = std::nullopt});
  EXPECT_FALSE(sa.h.options.window_scale);
  h.send(c, kAck);
  auto s = l->accept();
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->negotiated().wscale_ok);
  EXPECT_EQ((*s)->snd().wscale, 0);
  EXPECT_EQ((*s)->rcv().wscale, 0);
  EXPECT_EQ((*s)->snd().wnd, 65535u);
}

TEST(TcpWindow, PeerWindowScaleAbove14IsClamped) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ws = 14, .ts = false});
  EXPECT_EQ(c.s->snd().wscale, 14);
}

// RFC9293: MUST-39
TEST(TcpWindow, ReceiverSwsWindowNotOpenedByTinyAmounts) {
  TcpHarness h;
  TcpSocket* l = h.tcp().open();
  l->set_rcvbuf(16384);
  ASSERT_TRUE(l->bind(kUs, kPort).ok());
  ASSERT_TRUE(l->listen(4).ok());
  Conn c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false}, l);
  // Fill the window completely.
  uint32_t wnd = c.s->rcv().wnd;
  ASSERT_GT(wnd, 0u);
  while (c.s->rcv().wnd > 0) {
    uint32_t n = std::min<uint32_t>(c.s->rcv().wnd, 1460);
    h.send(c, kAck, pattern(n));
    h.run_for(Duration::ms(250));
    h.out(c);
  }
  EXPECT_EQ(c.s->rcv().wnd, 0u);
  // Reading one byte must not advertise a one-byte window (RFC 9293 §3.8.6.2.2).
  std::array<uint8_t, 1> one{};
  ASSERT_TRUE(c.s->recv(h.now(), one).ok());
  h.run_for(Duration::ms(250));
  for (const auto& o : h.out(c)) EXPECT_EQ(o.h.window, 0) << o.str();
  // Reading half the buffer (well over one MSS) opens it with an update.
  std::vector<uint8_t> half(8192);
  ASSERT_TRUE(c.s->recv(h.now(), half).ok());
  h.run_for(Duration::ms(250));
  auto v = h.out(c);
  ASSERT_FALSE(v.empty()) << "a window update must be sent when the window opens";
  EXPECT_GE(v.back().h.window, 1460);
}

// RFC9293: SHLD-14
TEST(TcpWindow, AdvertisedRightEdgeNeverShrinks) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false});
  uint32_t right = c.nxt + c.s->rcv().wnd;
  for (int i = 0; i < 20; ++i) {
    h.send(c, kAck, pattern(1000));
    h.run_for(Duration::ms(250));
    for (const auto& o : h.out(c)) {
      uint32_t r = o.ack() + o.h.window;
      EXPECT_TRUE(SeqNum{r} >= SeqNum{right}) << "right edge moved left: " << o.str();
      right = r;
    }
  }
}

// RFC9293: SHLD-7, MUST-17
TEST(TcpWindow, NagleHoldsSmallSegmentUntilAck) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  EXPECT_FALSE(c.s->nodelay());
  auto v1 = h.app_send(c, pattern(10));
  ASSERT_EQ(v1.size(), 1u);  // nothing in flight: sent
  auto v2 = h.app_send(c, pattern(10, 5));
  EXPECT_TRUE(v2.empty()) << "Nagle: a small segment waits while data is unacknowledged"
                          << describe(v2);
  auto v3 = h.app_send(c, pattern(10, 9));
  EXPECT_TRUE(v3.empty());
  // The ACK releases both small writes in one segment.
  h.send(c, kAck);
  auto v4 = h.out(c);
  ASSERT_EQ(v4.size(), 1u) << describe(v4);
  EXPECT_EQ(v4[0].data.size(), 20u);
  EXPECT_EQ(v4[0].seq(), c.iss + 1 + 10);
}

// RFC9293: MUST-17
TEST(TcpWindow, NodelaySendsAtOnce) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  c.s->set_nodelay(true);
  EXPECT_TRUE(c.s->nodelay());
  EXPECT_EQ(h.app_send(c, pattern(10)).size(), 1u);
  EXPECT_EQ(h.app_send(c, pattern(10)).size(), 1u);
  EXPECT_EQ(h.app_send(c, pattern(10)).size(), 1u);
}

// DISABLED: contract/engine mismatch. tcp.h documents set_nodelay as "TCP_NODELAY (pushes
// pending data at once)", but TcpSocket::set_nodelay(bool) has no `now` and only sets the flag
// (tcp_socket.cc); data held by Nagle waits for the ACK. Expected (Linux do_tcp_setsockopt:
// tcp_push_pending_frames when TCP_NODELAY is set): the held segment leaves at once. Fix: take
// `now` (set_nodelay(Instant now, bool on)) or push on the next poll.
TEST(TcpWindow, SettingNodelayPushesPendingData) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  h.app_send(c, pattern(10));
  EXPECT_TRUE(h.app_send(c, pattern(10)).empty());
  c.s->set_nodelay(true);
  h.run_for(Duration::us(100));
  auto v = h.out(c);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].data.size(), 10u);
}

// RFC9293: MUST-38, SHLD-28
TEST(TcpWindow, NagleStillSendsFullSegments) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  h.app_send(c, pattern(10));
  // Full-sized segments are sent regardless; only the small tail waits.
  auto v = h.app_send(c, pattern(1460 * 2 + 100));
  ASSERT_EQ(v.size(), 2u) << describe(v);
  EXPECT_EQ(v[0].data.size(), 1460u);
  EXPECT_EQ(v[1].data.size(), 1460u);
}

// RFC9293: MUST-38
TEST(TcpWindow, SenderSwsNoTinySegmentIntoTinyWindow) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false});
  c.s->set_nodelay(true);
  // The peer has shown a large window, then offers 10 bytes: with 5000 bytes to send, a
  // 10-byte segment would be silly (RFC 9293 §3.8.6.2.1: send only when a full segment or
  // at least Fs * max window fits, or everything left fits).
  c.win = 10;
  h.send(c, kAck);
  auto v = h.app_send(c, pattern(5000));
  for (const auto& o : v) EXPECT_GE(o.data.size(), 1460u) << "silly segment " << o.str();
  // When the window opens the data flows.
  c.win = 65535;
  h.send(c, kAck);
  EXPECT_FALSE(h.out(c).empty());
}

// RFC9293: MUST-34, SHLD-15, SHLD-17
TEST(TcpWindow, RobustAgainstShrinkingPeerWindow) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false});
  c.s->set_nodelay(true);
  auto v = h.app_send(c, pattern(4000));
  ASSERT_EQ(v.size(), 3u);
  // The peer ACKs the first segment and shrinks its window to zero: the bytes beyond the right
  // edge are not timed out as a failure and no new data goes out.
  Seg a = c.seg(kAck);
  a.ack = c.iss + 1 + 1460;
  a.win = 0;
  h.send(a);
  h.out(c);
  h.run_for(Duration::s(5));
  h.out(c);
  EXPECT_EQ(c.s->state(), TcpState::kEstablished);
  // Window opens: everything is delivered.
  Seg b = c.seg(kAck);
  b.ack = c.iss + 1 + 1460;
  b.win = 65535;
  h.send(b);
  h.run_for(Duration::s(1));
  auto w = h.out(c);
  ASSERT_FALSE(w.empty());
  Seg done = c.seg(kAck);
  done.ack = c.iss + 1 + 4000;
  h.send(done);
  EXPECT_EQ(c.s->tx_queued(), 0u);
}

TEST(TcpWindow, SendBufferFullReturnsEagainThenWritable) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  c.s->set_sndbuf(4096);
  c.win = 0;
  h.send(c, kAck);
  size_t total = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = c.s->send(h.now(), pattern(1000));
    if (!r.ok()) {
      EXPECT_EQ(r.error(), EAGAIN);
      break;
    }
    total += *r;
  }
  EXPECT_GT(total, 0u);
  EXPECT_EQ(c.s->tx_space(), 0u);
  EXPECT_EQ(c.s->poll_mask() & transport::kPollOut, 0u);
}

// RFC9293: MUST-61, MUST-60, SHLD-27
TEST(TcpWindow, LastSegmentOfAWriteCarriesPsh) {
  TcpHarness h;
  Conn c = h.passive_open(SynOpts{.ts = false});
  // The API has no PUSH flag (MAY-15 not offered): every write is pushed, its last segment
  // carries PSH, and nothing is held back without an ACK to wait for (MUST-60).
  c.s->set_nodelay(true);
  auto v = h.app_send(c, pattern(4000));
  ASSERT_EQ(v.size(), 3u);
  EXPECT_FALSE(v[0].flags().psh());
  EXPECT_TRUE(v[2].flags().psh()) << v[2].str();
  EXPECT_EQ(v[2].data.size(), 4000u - 2 * 1460u);
}

TEST(TcpWindow, DataIntoZeroWindowDroppedAndAcked) {
  TcpHarness h;
  TcpSocket* l = h.tcp().open();
  l->set_rcvbuf(2048);
  ASSERT_TRUE(l->bind(kUs, kPort).ok());
  ASSERT_TRUE(l->listen(4).ok());
  Conn c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false}, l);
  for (int i = 0; i < 64 && c.s->rcv().wnd > 0; ++i) {
    h.send(c, kPshAck, pattern(std::min<uint32_t>(c.s->rcv().wnd, 536)));
    h.run_for(Duration::ms(250));
    h.out(c);
  }
  ASSERT_EQ(c.s->rcv().wnd, 0u);
  size_t have = c.s->rx_available();
  // RFC 9293 §3.10.7.4: with RCV.WND = 0 only a zero-length segment at RCV.NXT is acceptable;
  // data is dropped and ACKed (the peer's zero-window probe gets its answer).
  Seg s = c.seg(kPshAck, pattern(1));
  h.send(s);
  Out a = h.one(c);
  EXPECT_EQ(a.flags(), kAck);
  EXPECT_EQ(a.ack(), c.nxt);
  EXPECT_EQ(a.h.window, 0);
  EXPECT_EQ(c.s->rx_available(), have);
  EXPECT_EQ(h.drops(DropReason::kSocketRcvBuff) + h.drops(DropReason::kTcpOutOfWindow), 1u);
}

// RFC9293: MUST-38
TEST(TcpWindow, SenderSwsSendsASmallPeersWholeWindow) {
  TcpHarness h;
  Conn c;
  c.win = 1000;  // a small host: its window never exceeds 1000 bytes
  c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false}, nullptr, c);
  c.s->set_nodelay(true);
  // RFC 9293 §3.8.6.2.1: a segment smaller than the MSS may go when it fills at least
  // Fs * max(SND.WND) (Fs = 1/2): here the whole 1000-byte window.
  auto v = h.app_send(c, pattern(3000));
  ASSERT_EQ(v.size(), 1u) << describe(v);
  EXPECT_EQ(v[0].data.size(), 1000u);
}

// RFC9293: MUST-38
// DISABLED: after the first 1000 bytes are ACKed the engine sends only the 460-byte remainder
// of the 1460-byte write-queue skb it split, and holds the next 540 bytes because
// tcp_output.cc TcpSocket::write_xmit splits an skb to the window only when nothing is in flight
// (`in_flight == 0`). Expected (RFC 9293 §3.8.6.2.1: send when the usable window
// U = SND.UNA + SND.WND - SND.NXT >= Fs * Max(SND.WND); Linux tcp_write_xmit +
// tcp_mss_split_point): the whole 1000-byte window in flight per round trip (460 + 540), not
// 460. A small-window peer gets half the throughput.
TEST(TcpWindow, SenderFillsASmallPeersWindowEveryRoundTrip) {
  TcpHarness h;
  Conn c;
  c.win = 1000;
  c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false}, nullptr, c);
  c.s->set_nodelay(true);
  h.app_send(c, pattern(3000));
  h.send(c, kAck);
  uint32_t bytes = 0;
  for (const auto& o : h.out(c)) bytes += static_cast<uint32_t>(o.data.size());
  EXPECT_EQ(bytes, 1000u);
}

// RFC9293: MUST-66
TEST(TcpWindow, AckFieldProcessedWhileOurWindowIsZero) {
  TcpHarness h;
  TcpSocket* l = h.tcp().open();
  l->set_rcvbuf(2048);
  ASSERT_TRUE(l->bind(kUs, kPort).ok());
  ASSERT_TRUE(l->listen(4).ok());
  Conn c = h.passive_open(SynOpts{.ws = std::nullopt, .ts = false}, l);
  for (int i = 0; i < 64 && c.s->rcv().wnd > 0; ++i) {
    h.send(c, kPshAck, pattern(std::min<uint32_t>(c.s->rcv().wnd, 536)));
    h.run_for(Duration::ms(250));
    h.out(c);
  }
  ASSERT_EQ(c.s->rcv().wnd, 0u);
  c.s->set_nodelay(true);
  auto v = h.app_send(c, pattern(100));
  ASSERT_EQ(v.size(), 1u);
  // The peer's next segment carries data (unacceptable: our window is zero) and acknowledges
  // ours: "special allowance should be made to accept valid ACKs" (RFC 9293 §3.10.7.4).
  Seg s = c.seg(kPshAck, pattern(10));
  h.send(s);
  EXPECT_EQ(c.s->tx_queued(), 0u) << "the ACK was ignored because the text did not fit";
  EXPECT_EQ(c.s->snd().una.v, c.iss + 1 + 100);
}

}  // namespace
}  // namespace ustack::tcptest
