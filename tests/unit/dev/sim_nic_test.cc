// RingDevice + SimNic + SimLink + NapiContext: frames through rings and NAPI polls.
#include "ustack/dev/sim_nic.h"

#include <gtest/gtest.h>

#include <vector>

#include "unit/dev/sim_pair.h"
#include "ustack/buf/pool.h"
#include "ustack/dev/napi.h"

namespace ustack::dev {
namespace {

using simtest::Collect;

DeviceConfig cfg(const char* name, uint8_t last, uint32_t rx = 16, uint32_t tx = 16) {
  DeviceConfig c = simtest::nic_config(name, last, rx);
  c.tx_ring_size = tx;
  return c;
}

std::vector<uint8_t> frame(uint8_t tag, size_t len = 64) {
  std::vector<uint8_t> f(std::max<size_t>(len, 14), tag);
  for (int i = 0; i < 6; ++i) f[i] = 0xff;  // broadcast dst
  f[12] = 0x08;
  f[13] = 0x00;
  f.resize(len);  // shorter than a header on purpose when len < 14
  return f;
}

class SimNicTest : public ::testing::Test {
 protected:
  SimNicTest() : a_(cfg("a0", 1), *pool_), b_(cfg("b0", 2), *pool_) {
    link_.attach(a_);
    link_.attach(b_);
    a_.set_up(true);
    b_.set_up(true);
    napi_a_.add(a_);
    napi_b_.add(b_);
  }
  PacketPtr make(uint8_t tag, size_t len = 64) { return pool_->alloc_copy(frame(tag, len), 32); }
  // One event-loop step at `t`: deliver, then run both stacks' softirqs until idle.
  void step(Instant t) {
    link_.advance(t);
    while (napi_a_.run(t, sink_a_) || napi_b_.run(t, sink_b_)) {
    }
    napi_a_.run(t, sink_a_);
    napi_b_.run(t, sink_b_);
  }

  PoolHandle pool_ = BufferPool::create();
  SimLink link_{SimLinkConfig{.latency = Duration::us(10)}};
  SimNic a_, b_;
  NapiContext napi_a_, napi_b_;
  Collect sink_a_, sink_b_;
  Instant t0_ = Instant::zero();
};

TEST_F(SimNicTest, FrameCrossesLinkAfterLatencyThroughRingsAndNapi) {
  EXPECT_EQ(a_.xmit(t0_, make(7)), XmitStatus::kQueued);
  EXPECT_EQ(link_.in_flight(), 1u);
  EXPECT_EQ(link_.next_deadline(), t0_ + Duration::us(10));
  step(t0_ + Duration::us(9));
  EXPECT_TRUE(sink_b_.frames.empty()) << "not before the latency has passed";
  step(t0_ + Duration::us(10));
  ASSERT_EQ(sink_b_.frames.size(), 1u);
  EXPECT_EQ(sink_b_.frames[0], frame(7));
  EXPECT_EQ(sink_b_.when[0], t0_ + Duration::us(10));
  EXPECT_TRUE(sink_a_.frames.empty()) << "a hub never echoes to the sender";
  EXPECT_EQ(a_.stats().tx_packets, 1u);
  EXPECT_EQ(a_.stats().tx_bytes, 64u);
  EXPECT_EQ(b_.stats().rx_packets, 1u);
  EXPECT_EQ(b_.stats().multicast, 1u);
  EXPECT_EQ(b_.ring_stats().irq_raised, 1u);
  EXPECT_EQ(b_.ring_stats().irq_reenabled, 1u);
  EXPECT_TRUE(b_.irq_enabled());
  EXPECT_EQ(a_.ring_stats().tx_completions, 1u) << "TX completion reclaimed the descriptor";
  EXPECT_EQ(pool_->outstanding(), 16u + 16u) << "only the posted RX buffers remain";
}

TEST_F(SimNicTest, ShortFramesArePaddedToSixtyBytes) {
  a_.xmit(t0_, make(1, 42));
  step(t0_ + Duration::ms(1));
  ASSERT_EQ(sink_b_.frames.size(), 1u);
  EXPECT_EQ(sink_b_.frames[0].size(), 60u);
  EXPECT_EQ(sink_b_.frames[0][41], 1);
  EXPECT_EQ(sink_b_.frames[0][42], 0);
}

TEST_F(SimNicTest, InterruptIsMaskedWhilePollingAndBudgetIsHonoured) {
  // 10 frames land in b's ring while its interrupt is masked: one interrupt, polls of 4.
  NapiContext small(/*netdev_budget=*/4);
  napi_b_.remove(b_);
  small.add(b_, /*weight=*/4);
  for (uint8_t i = 0; i < 10; ++i) a_.xmit(t0_, make(i));
  const Instant t = t0_ + Duration::us(10);
  link_.advance(t);
  EXPECT_EQ(b_.ring_stats().irq_raised, 1u) << "one interrupt for a burst (NAPI)";
  EXPECT_FALSE(b_.irq_enabled());
  EXPECT_TRUE(small.run(t, sink_b_)) << "budget spent, more work";
  EXPECT_EQ(sink_b_.frames.size(), 4u);
  EXPECT_EQ(small.stats().time_squeeze, 1u);
  EXPECT_TRUE(small.run(t, sink_b_));
  EXPECT_FALSE(small.run(t, sink_b_)) << "2 left < weight: ring drained";
  EXPECT_EQ(sink_b_.frames.size(), 10u);
  EXPECT_EQ(b_.ring_stats().napi_polls, 3u);
  EXPECT_EQ(b_.ring_stats().budget_exhausted, 2u);
  EXPECT_TRUE(b_.irq_enabled());
  for (uint8_t i = 0; i < 10; ++i) EXPECT_EQ(sink_b_.frames[i][20], i) << "in order";
  small.remove(b_);
}

TEST_F(SimNicTest, FullRxRingDropsAreCountedAsMissed) {
  // b's ring has 16 descriptors and nobody polls: frames 17..20 find none posted.
  for (uint8_t i = 0; i < 20; ++i) {
    a_.xmit(t0_, make(i));
    napi_a_.run(t0_, sink_a_);  // a's NAPI reclaims its TX ring; b's never runs
  }
  link_.advance(t0_ + Duration::us(10));
  EXPECT_EQ(b_.stats().rx_missed_errors, 4u);
  EXPECT_EQ(b_.ring_stats().rx_ring_full, 4u);
  step(t0_ + Duration::us(10));
  EXPECT_EQ(sink_b_.frames.size(), 16u);
}

TEST_F(SimNicTest, QdiscAbsorbsTxRingFullAndDropsBeyondTxqueuelen) {
  DeviceConfig c = cfg("q0", 3, 16, /*tx=*/2);
  c.txqueuelen = 3;
  SimNic q(c, *pool_);
  SimNic sink_nic(cfg("s0", 4), *pool_);
  SimLink l;
  l.attach(q);
  l.attach(sink_nic);
  q.set_up(true);
  sink_nic.set_up(true);
  // No NAPI on q: TX completions are never reclaimed, so the 2-slot ring fills and stays full.
  int queued = 0;
  for (uint8_t i = 0; i < 10; ++i) queued += q.xmit(t0_, make(i)) == XmitStatus::kQueued;
  EXPECT_EQ(queued, 5) << "2 in the ring + 3 in the qdisc";
  EXPECT_EQ(q.stats().tx_dropped, 5u);
  EXPECT_EQ(q.ring_stats().tx_ring_full, 1u) << "one stop transition";
  EXPECT_EQ(q.qdisc_len(), 3u);
  Collect c2;
  q.poll(t0_, 64, c2);  // reclaim -> qdisc drains into the ring
  EXPECT_EQ(q.qdisc_len(), 1u);
  q.poll(t0_, 64, c2);
  EXPECT_EQ(q.qdisc_len(), 0u);
  EXPECT_EQ(q.stats().tx_packets, 5u);
}

TEST_F(SimNicTest, DownDeviceAndOversizeFramesAreDroppedWithReasons) {
  a_.set_up(false);
  EXPECT_EQ(a_.xmit(t0_, make(1)), XmitStatus::kDropped);
  a_.set_up(true);
  EXPECT_EQ(a_.xmit(t0_, make(1, 1519)), XmitStatus::kDropped);
  EXPECT_EQ(a_.xmit(t0_, make(1, 13)), XmitStatus::kDropped);
  EXPECT_EQ(a_.stats().tx_dropped, 3u);
  ASSERT_TRUE(a_.set_mtu(9000));
  ASSERT_TRUE(b_.set_mtu(9000));
  EXPECT_EQ(a_.xmit(t0_, make(2, 9014)), XmitStatus::kQueued);
  step(t0_ + Duration::ms(1));
  ASSERT_EQ(sink_b_.frames.size(), 1u);
  EXPECT_EQ(sink_b_.frames[0].size(), 9014u);
  // b back at 1500: a jumbo frame is a length error on receive.
  ASSERT_TRUE(b_.set_mtu(1500));
  a_.xmit(t0_ + Duration::ms(1), make(3, 9014));
  step(t0_ + Duration::ms(2));
  EXPECT_EQ(b_.stats().rx_length_errors, 1u);
  EXPECT_FALSE(a_.set_mtu(67));
}

TEST_F(SimNicTest, BitRateSerializesFramesBackToBack) {
  SimLink slow(SimLinkConfig{.latency = Duration::zero(), .bits_per_second = 1'000'000'000});
  SimNic x(cfg("x0", 5), *pool_), y(cfg("y0", 6), *pool_);
  slow.attach(x);
  slow.attach(y);
  x.set_up(true);
  y.set_up(true);
  x.xmit(t0_, make(1, 1514));
  x.xmit(t0_, make(2, 1514));
  // (1514 + 24) bytes * 8 bits at 1 Gbit/s = 12.304 us per frame.
  EXPECT_EQ(slow.next_deadline(), t0_ + Duration::ns(12304));
  slow.advance(t0_ + Duration::ns(12304));
  EXPECT_EQ(y.stats().rx_packets, 0u) << "counted when NAPI hands it up";
  EXPECT_EQ(slow.next_deadline(), t0_ + Duration::ns(24608));
}

TEST_F(SimNicTest, HubDeliversToEveryOtherPort) {
  SimNic c(cfg("c0", 7), *pool_);
  link_.attach(c);
  c.set_up(true);
  Collect sc;
  a_.xmit(t0_, make(9));
  link_.advance(t0_ + Duration::us(10));
  c.poll(t0_, 64, sc);
  b_.poll(t0_, 64, sink_b_);
  EXPECT_EQ(sc.frames.size(), 1u);
  EXPECT_EQ(sink_b_.frames.size(), 1u);
  EXPECT_EQ(link_.stats().deliveries, 2u);
}

TEST_F(SimNicTest, TraceShowsTheJourney) {
  TraceLog log;
  Telemetry ta("A"), tb("B");
  uint64_t ids = 0;
  ta.share_packet_ids(&ids);
  tb.share_packet_ids(&ids);
  ta.set_sink(&log);
  tb.set_sink(&log);
  a_.attach(ta);
  b_.attach(tb);
  a_.xmit(t0_, make(5));
  step(t0_ + Duration::us(10));
  std::vector<std::string> seen;
  for (const TraceEvent& e : log.journey(1))
    seen.push_back(std::string(e.node) + ":" + std::string(e.action));
  EXPECT_EQ(seen, (std::vector<std::string>{"A:xmit", "A:tx_ring", "B:rx_dma", "B:netif_receive"}));
}

TEST_F(SimNicTest, SameInputsSameTimeline) {
  auto run = [&](uint64_t) {
    PoolHandle p = BufferPool::create();
    SimLink l(SimLinkConfig{.latency = Duration::us(3), .bits_per_second = 100'000'000});
    SimNic x(cfg("x0", 1), *p), y(cfg("y0", 2), *p), z(cfg("z0", 3), *p);
    for (SimNic* n : {&x, &y, &z}) {
      l.attach(*n);
      n->set_up(true);
    }
    Collect s;
    for (int i = 0; i < 30; ++i) {
      (i % 2 ? x : y)
          .xmit(Instant::zero() + Duration::us(i), p->alloc_copy(frame(uint8_t(i), 100 + i)));
    }
    for (Instant t = Instant::zero(); l.in_flight() > 0; t = l.next_deadline()) {
      l.advance(t);
      z.poll(t, 64, s);
    }
    return s.when;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_EQ(run(1).size(), 30u);
}

}  // namespace
}  // namespace ustack::dev
