// FaultInjector on SimNic pairs in virtual time: each fault alone (rate 1.0 and fractional),
// exact delay/jitter/hold timing, reorder order, one-bit corruption, duplication, determinism,
// NAPI budget, leaks, reconfiguration, and stacking with PcapCapture.
#include "ustack/dev/fault_injector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <string>
#include <vector>

#include "sim_pair.h"
#include "tools/pcap_check.h"
#include "tools/scratch_dir.h"
#include "tools/test_frames.h"
#include "ustack/base/byteorder.h"
#include "ustack/dev/pcap.h"

namespace ustack::dev {
namespace {

using simtest::Collect;
using simtest::SimPair;

constexpr uint32_t kRing = 64;
constexpr size_t kPostedRx = 2 * kRing;  // buffers the two NICs keep posted on their RX rings

// A 64-byte broadcast frame carrying `n` right after the Ethernet header.
std::vector<uint8_t> tagged(uint32_t n, size_t len = 64) {
  std::vector<uint8_t> f(len);
  for (int i = 0; i < 6; ++i) f[i] = 0xff;
  f[6] = 0x02;
  f[11] = 0x01;
  store_be16(f.data() + 12, 0x88b5);  // IEEE 802 local experimental EtherType
  store_be32(f.data() + 14, n);
  for (size_t i = 18; i < len; ++i) f[i] = static_cast<uint8_t>(n * 7 + i);
  return f;
}
uint32_t tag(const std::vector<uint8_t>& f) { return load_be32(f.data() + 14); }
std::vector<uint32_t> tags(const Collect& c) {
  std::vector<uint32_t> t;
  for (const auto& f : c.frames) t.push_back(tag(f));
  return t;
}
std::vector<uint32_t> iota(uint32_t n) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

SimPair::Wrap inject(FaultInjectorConfig cfg) {
  return [cfg](std::unique_ptr<NetDevice> inner) -> std::unique_ptr<NetDevice> {
    return std::make_unique<FaultInjector>(std::move(inner), cfg);
  };
}
FaultInjectorConfig tx_faults(FaultConfig f, uint64_t seed = 1) { return {.tx = f, .seed = seed}; }
FaultInjectorConfig rx_faults(FaultConfig f, uint64_t seed = 1) { return {.rx = f, .seed = seed}; }

// a (TX faults) -> link (10us) -> b (RX faults).
struct Net {
  explicit Net(FaultInjectorConfig a_cfg = {}, FaultInjectorConfig b_cfg = {})
      : pair({.latency = Duration::us(10)}, inject(a_cfg), inject(b_cfg), kRing) {}
  FaultInjector& fa() { return static_cast<FaultInjector&>(pair.a()); }
  FaultInjector& fb() { return static_cast<FaultInjector&>(pair.b()); }
  // Send frames 0..n-1 from a, `burst` at a time, `gap` apart, then let everything land.
  void send(uint32_t n, uint32_t burst = 16, Duration gap = Duration::us(100)) {
    for (uint32_t i = 0; i < n; ++i) {
      pair.a().xmit(pair.now(), pair.make(tagged(i)));
      if ((i + 1) % burst == 0) pair.run_for(gap);
    }
    pair.run_for(Duration::ms(50));
  }
  SimPair pair;
};

// ---- each fault alone, rate 1.0 -------------------------------------------------------------

TEST(FaultInjector, NoFaultsIsTransparent) {
  Net net;
  net.send(100);
  EXPECT_EQ(tags(net.pair.rx_b()), iota(100));
  EXPECT_EQ(net.pair.rx_b().when[0], Instant::zero() + Duration::us(10));
  EXPECT_EQ(net.pair.rx_b().devs[0], &net.fb()) << "frames come up through the outer device";
  EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
}

TEST(FaultInjector, DropAllTx) {
  Telemetry tel("a");  // outlives the devices attached to it
  TraceLog log;
  Net net(tx_faults({.drop = 1.0}));
  tel.set_sink(&log);
  net.fa().attach(tel);
  EXPECT_EQ(net.pair.a().xmit(Instant::zero(), net.pair.make(tagged(0))), XmitStatus::kQueued)
      << "netem: a lossy wire is invisible to the sender";
  net.send(10);
  EXPECT_TRUE(net.pair.rx_b().frames.empty());
  EXPECT_EQ(net.fa().tx_fault_stats().frames, 11u);
  EXPECT_EQ(net.fa().tx_fault_stats().dropped, 11u);
  EXPECT_EQ(net.pair.nic_a().stats().tx_packets, 0u);
  EXPECT_EQ(tel.drops().get(DropReason::kFaultInjected), 11u);
  ASSERT_FALSE(log.events().empty());
  EXPECT_EQ(log.events()[0].reason, DropReason::kFaultInjected);
  EXPECT_EQ(log.events()[0].action, "drop");
  EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
}

TEST(FaultInjector, DropAllRx) {
  Net net({}, rx_faults({.drop = 1.0}));
  net.send(10);
  EXPECT_TRUE(net.pair.rx_b().frames.empty());
  EXPECT_EQ(net.pair.nic_b().stats().rx_packets, 10u) << "the NIC received them; we ate them";
  EXPECT_EQ(net.fb().rx_fault_stats().dropped, 10u);
  EXPECT_EQ(net.fb().rx_fault_stats().frames, 10u);
  EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
}

TEST(FaultInjector, DuplicateGivesTwoIdenticalFramesBothDirections) {
  for (bool rx : {false, true}) {
    SCOPED_TRACE(rx ? "rx" : "tx");
    Net net(rx ? FaultInjectorConfig{} : tx_faults({.duplicate = 1.0}),
            rx ? rx_faults({.duplicate = 1.0}) : FaultInjectorConfig{});
    net.send(20);
    const Collect& got = net.pair.rx_b();
    ASSERT_EQ(got.frames.size(), 40u);
    for (uint32_t i = 0; i < 20; ++i) {
      EXPECT_EQ(got.frames[2 * i], tagged(i));
      EXPECT_EQ(got.frames[2 * i + 1], tagged(i)) << "the copy follows the original";
    }
    const FaultStats& s = rx ? net.fb().rx_fault_stats() : net.fa().tx_fault_stats();
    EXPECT_EQ(s.duplicated, 20u);
    EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
  }
}

size_t bits_differing(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return SIZE_MAX;
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return n;
}

TEST(FaultInjector, CorruptFlipsExactlyOneBitBothDirections) {
  for (bool rx : {false, true}) {
    SCOPED_TRACE(rx ? "rx" : "tx");
    // Frames are sent to broadcast so a flipped destination-MAC bit still reaches b's sink
    // (nothing above the device filters here); 200 frames touch every byte position.
    Net net(rx ? FaultInjectorConfig{} : tx_faults({.corrupt = 1.0}),
            rx ? rx_faults({.corrupt = 1.0}) : FaultInjectorConfig{});
    net.send(200);
    const Collect& got = net.pair.rx_b();
    ASSERT_EQ(got.frames.size(), 200u);
    std::vector<bool> byte_hit(64);
    for (uint32_t i = 0; i < 200; ++i) {
      ASSERT_EQ(bits_differing(got.frames[i], tagged(i)), 1u) << "frame " << i;
      for (size_t k = 0; k < 64; ++k) byte_hit[k] = byte_hit[k] || got.frames[i][k] != tagged(i)[k];
    }
    EXPECT_GT(std::count(byte_hit.begin(), byte_hit.end(), true), 40) << "random byte positions";
    EXPECT_EQ((rx ? net.fb().rx_fault_stats() : net.fa().tx_fault_stats()).corrupted, 200u);
  }
}

TEST(FaultInjector, CorruptionNeverTouchesAClonesBytes) {
  // The sender keeps the original (as TCP keeps a segment for retransmission) and sends a clone;
  // corruption copies the shared block first.
  Net net(tx_faults({.corrupt = 1.0}));
  PacketPtr kept = net.pair.make(tagged(5));
  net.pair.a().xmit(Instant::zero(), kept->clone());
  net.pair.run_for(Duration::ms(1));
  ASSERT_EQ(net.pair.rx_b().frames.size(), 1u);
  EXPECT_EQ(bits_differing(net.pair.rx_b().frames[0], tagged(5)), 1u);
  EXPECT_EQ(std::vector<uint8_t>(kept->data().begin(), kept->data().end()), tagged(5));
}

TEST(FaultInjector, DuplicateAndCorruptLeaveTheCopyIndependent) {
  // Corrupt every frame, duplicate every frame: both copies get their own single-bit flip.
  Net net(tx_faults({.duplicate = 1.0, .corrupt = 1.0}));
  net.send(50);
  const Collect& got = net.pair.rx_b();
  ASSERT_EQ(got.frames.size(), 100u);
  int differ = 0;
  for (uint32_t i = 0; i < 50; ++i) {
    EXPECT_EQ(bits_differing(got.frames[2 * i], tagged(i)), 1u);
    EXPECT_EQ(bits_differing(got.frames[2 * i + 1], tagged(i)), 1u);
    differ += got.frames[2 * i] != got.frames[2 * i + 1];
  }
  EXPECT_GT(differ, 45);
  EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
}

TEST(FaultInjector, DelayIsExactInVirtualTimeBothDirections) {
  const Duration delay = Duration::ms(5);
  for (bool rx : {false, true}) {
    SCOPED_TRACE(rx ? "rx" : "tx");
    Net net(rx ? FaultInjectorConfig{} : tx_faults({.delay = delay}),
            rx ? rx_faults({.delay = delay}) : FaultInjectorConfig{});
    FaultInjector& fi = rx ? net.fb() : net.fa();
    const Instant t0 = Instant::zero() + Duration::us(3);
    net.pair.run_until(t0);
    for (uint32_t i = 0; i < 3; ++i) net.pair.a().xmit(t0, net.pair.make(tagged(i)));
    net.pair.run_until(t0 + Duration::us(20));
    EXPECT_EQ(fi.next_deadline(), t0 + (rx ? Duration::us(10) : Duration::zero()) + delay);
    EXPECT_EQ(rx ? fi.rx_held() : fi.tx_held(), 3u);
    net.pair.run_until(t0 + delay + Duration::us(10) - Duration::ns(1));
    EXPECT_TRUE(net.pair.rx_b().frames.empty()) << "not one nanosecond early";
    net.pair.run_until(t0 + delay + Duration::ms(1));
    ASSERT_EQ(tags(net.pair.rx_b()), iota(3)) << "no jitter: order kept";
    for (Instant w : net.pair.rx_b().when) EXPECT_EQ(w, t0 + delay + Duration::us(10));
    EXPECT_EQ(fi.next_deadline(), Instant::never());
    const FaultStats& s = rx ? fi.rx_fault_stats() : fi.tx_fault_stats();
    EXPECT_EQ(s.delayed, 3u);
    EXPECT_EQ(s.released, 3u);
    EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
  }
}

TEST(FaultInjector, JitterStaysInRangeAndLetsFramesOvertake) {
  const Duration delay = Duration::ms(1);
  const Duration jitter = Duration::ms(2);
  for (bool rx : {false, true}) {
    SCOPED_TRACE(rx ? "rx" : "tx");
    const FaultConfig f{.delay = delay, .jitter = jitter};
    Net net(rx ? FaultInjectorConfig{} : tx_faults(f), rx ? rx_faults(f) : FaultInjectorConfig{});
    // One frame every 100us: frame i leaves a at i * 100us.
    for (uint32_t i = 0; i < 400; ++i) {
      net.pair.run_until(Instant::zero() + Duration::us(100) * i);
      net.pair.a().xmit(net.pair.now(), net.pair.make(tagged(i)));
    }
    net.pair.run_for(Duration::ms(10));
    const Collect& got = net.pair.rx_b();
    ASSERT_EQ(got.frames.size(), 400u);
    int64_t lo = INT64_MAX, hi = 0, sum = 0;
    int overtaken = 0;
    for (size_t k = 0; k < got.frames.size(); ++k) {
      const uint32_t i = tag(got.frames[k]);
      const int64_t extra =
          (got.when[k] - (Instant::zero() + Duration::us(100) * i + Duration::us(10) + delay))
              .nanos();
      EXPECT_GE(extra, 0);
      EXPECT_LE(extra, jitter.nanos());
      lo = std::min(lo, extra);
      hi = std::max(hi, extra);
      sum += extra;
      if (k > 0 && i < tag(got.frames[k - 1])) ++overtaken;
      if (k > 0) {
        EXPECT_GE(got.when[k], got.when[k - 1]) << "delivered in time order";
      }
    }
    EXPECT_LT(lo, jitter.nanos() / 50);
    EXPECT_GT(hi, jitter.nanos() * 49 / 50);
    EXPECT_NEAR(static_cast<double>(sum) / 400, jitter.nanos() / 2.0, jitter.nanos() * 0.06);
    EXPECT_GT(overtaken, 50) << "jitter larger than the spacing reorders, as netem's does";
    EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
  }
}

TEST(FaultInjector, ReorderSwapsPairsAndReleasesALoneFrameAfterTheHold) {
  const Duration hold = Duration::us(700);
  for (bool rx : {false, true}) {
    SCOPED_TRACE(rx ? "rx" : "tx");
    const FaultConfig f{.reorder = 1.0, .reorder_hold = hold};
    Net net(rx ? FaultInjectorConfig{} : tx_faults(f), rx ? rx_faults(f) : FaultInjectorConfig{});
    for (uint32_t i = 0; i < 7; ++i) net.pair.a().xmit(Instant::zero(), net.pair.make(tagged(i)));
    net.pair.run_for(Duration::ms(5));
    EXPECT_EQ(tags(net.pair.rx_b()), (std::vector<uint32_t>{1, 0, 3, 2, 5, 4, 6}));
    const Instant arrive = Instant::zero() + Duration::us(10);
    for (size_t k = 0; k < 6; ++k) EXPECT_EQ(net.pair.rx_b().when[k], arrive);
    EXPECT_EQ(net.pair.rx_b().when[6], arrive + hold) << "lone frame: hold timeout, exactly";
    const FaultStats& s = rx ? net.fb().rx_fault_stats() : net.fa().tx_fault_stats();
    EXPECT_EQ(s.reordered, 4u);
    EXPECT_EQ(s.released, 4u);
    EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
  }
}

TEST(FaultInjector, ReorderWithDelayUsesTheReleaseOrder) {
  // Delay first, then the reorder stage: the swap partner is the next frame out of the delay.
  Net net(tx_faults({.reorder = 1.0, .delay = Duration::ms(1)}));
  for (uint32_t i = 0; i < 4; ++i) {
    net.pair.run_until(Instant::zero() + Duration::us(50) * i);
    net.pair.a().xmit(net.pair.now(), net.pair.make(tagged(i)));
  }
  net.pair.run_for(Duration::ms(5));
  EXPECT_EQ(tags(net.pair.rx_b()), (std::vector<uint32_t>{1, 0, 3, 2}));
  EXPECT_EQ(net.pair.rx_b().when[0], Instant::zero() + Duration::us(1060));
  EXPECT_EQ(net.pair.rx_b().when[1], Instant::zero() + Duration::us(1060));
}

// ---- fractional rates -------------------------------------------------------------------------

struct RateCase {
  const char* name;
  FaultConfig cfg;
  double expected;  // expected value of the measured fraction
};

TEST(FaultInjector, FractionalRatesMatchOverManyFrames) {
  constexpr uint32_t kFrames = 8000;
  const RateCase cases[] = {
      {"drop", {.drop = 0.3}, 0.3},
      {"duplicate", {.duplicate = 0.25}, 0.25},
      {"corrupt", {.corrupt = 0.1}, 0.1},
      // A frame arriving while the slot is full is never held: held = p * (1 - held).
      {"reorder", {.reorder = 0.2}, 0.2 / 1.2},
  };
  for (const RateCase& c : cases) {
    for (bool rx : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (rx ? " rx" : " tx"));
      Net net(rx ? FaultInjectorConfig{} : tx_faults(c.cfg, 42),
              rx ? rx_faults(c.cfg, 42) : FaultInjectorConfig{});
      net.send(kFrames);
      const FaultStats& s = rx ? net.fb().rx_fault_stats() : net.fa().tx_fault_stats();
      const Collect& got = net.pair.rx_b();
      double measured = 0;
      if (c.cfg.drop > 0) {
        measured = 1.0 - static_cast<double>(got.frames.size()) / kFrames;
        EXPECT_EQ(s.dropped, kFrames - got.frames.size());
      } else if (c.cfg.duplicate > 0) {
        measured = static_cast<double>(got.frames.size()) / kFrames - 1.0;
        EXPECT_EQ(s.duplicated, got.frames.size() - kFrames);
      } else if (c.cfg.corrupt > 0) {
        ASSERT_EQ(got.frames.size(), kFrames);
        uint64_t flipped = 0;  // corruption keeps the order: frame k is tagged(k)
        for (uint32_t k = 0; k < kFrames; ++k) flipped += got.frames[k] != tagged(k) ? 1 : 0;
        measured = static_cast<double>(flipped) / kFrames;
        EXPECT_EQ(s.corrupted, flipped);
      } else {
        ASSERT_EQ(got.frames.size(), kFrames);
        measured = static_cast<double>(s.reordered) / kFrames;
        uint64_t inversions = 0;
        for (size_t k = 1; k < got.frames.size(); ++k) {
          inversions += tag(got.frames[k]) < tag(got.frames[k - 1]) ? 1 : 0;
        }
        // Each held frame is one adjacent swap, except the very last frame if held (it leaves
        // alone when the hold expires).
        EXPECT_NEAR(static_cast<double>(inversions), static_cast<double>(s.reordered), 1.0);
      }
      // Binomial standard deviation at 8000 frames is <= 0.0056; 4 sigma.
      EXPECT_NEAR(measured, c.expected, 0.022);
      EXPECT_EQ(s.frames, kFrames);
      EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
    }
  }
}

// ---- determinism ------------------------------------------------------------------------------

const FaultConfig kMess{.drop = 0.1,
                        .duplicate = 0.1,
                        .reorder = 0.1,
                        .corrupt = 0.05,
                        .delay = Duration::us(300),
                        .jitter = Duration::us(400)};

struct Outcome {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<Instant> when;
  bool operator==(const Outcome&) const = default;
};

// a sends 1000 frames to b; both inject faults; b optionally sends its own traffic to a.
Outcome run_mess(uint64_t seed, uint32_t b_sends = 0) {
  Net net({.rx = kMess, .tx = kMess, .seed = seed}, {.rx = kMess, .tx = kMess, .seed = seed + 1});
  for (uint32_t i = 0; i < 1000; ++i) {
    net.pair.run_until(Instant::zero() + Duration::us(20) * i);
    net.pair.a().xmit(net.pair.now(), net.pair.make(tagged(i)));
    for (uint32_t k = 0; k < b_sends; ++k) {
      net.pair.b().xmit(net.pair.now(), net.pair.make(tagged(100000 + i)));
    }
  }
  net.pair.run_for(Duration::ms(20));
  EXPECT_EQ(net.pair.pool().outstanding(), kPostedRx);
  return {net.pair.rx_b().frames, net.pair.rx_b().when};
}

TEST(FaultInjector, SameSeedSameFaultsDifferentSeedDifferentFaults) {
  const Outcome first = run_mess(7);
  EXPECT_GT(first.frames.size(), 900u);
  EXPECT_TRUE(first == run_mess(7));
  EXPECT_FALSE(first == run_mess(8));
}

TEST(FaultInjector, RxFaultsDoNotDependOnTxTraffic) {
  // b's RX stream is forked from its seed on its own: b transmitting (through its own TX faults)
  // must not change a single RX decision.
  EXPECT_TRUE(run_mess(11, /*b_sends=*/0) == run_mess(11, /*b_sends=*/2));
}

// ---- NAPI budget and timers -------------------------------------------------------------------

TEST(FaultInjector, PollRespectsTheBudgetIncludingDuplicatesAndReleasedFrames) {
  Net net({}, rx_faults({.duplicate = 1.0}));
  SimPair& p = net.pair;
  FaultInjector& fb = net.fb();
  for (uint32_t i = 0; i < 10; ++i) p.a().xmit(Instant::zero(), p.make(tagged(i)));
  const Instant t = Instant::zero() + Duration::us(10);
  p.link().advance(t);  // 10 frames in b's ring, b's interrupt raised and masked
  EXPECT_FALSE(p.nic_b().irq_enabled());
  Collect sink;
  std::vector<int> rets;
  for (int i = 0; i < 8; ++i) {
    const size_t before = sink.frames.size();
    const int r = fb.poll(t, 4, sink);
    rets.push_back(r);
    EXPECT_LE(sink.frames.size() - before, 4u) << "never more than the budget";
    if (r < 4) {
      EXPECT_TRUE(p.nic_b().irq_enabled()) << "below budget only once the NIC unmasked";
      EXPECT_EQ(fb.rx_held(), 0u);
      break;
    }
  }
  // 20 frames (10 + 10 copies) in polls of 4: 4,4,4,4,4 then 0 < budget.
  EXPECT_EQ(rets, (std::vector<int>{4, 4, 4, 4, 4, 0}));
  EXPECT_EQ(sink.frames.size(), 20u);
  EXPECT_EQ(sink.devs[0], &fb);
}

TEST(FaultInjector, DroppedFramesCountAsWorkSoTheNicIsNotLeftMasked) {
  // Every frame is dropped: the sink sees nothing, but while the NIC still has frames (its
  // interrupt masked) poll must claim the whole budget or NAPI would forget the device.
  Net net({}, rx_faults({.drop = 1.0}));
  SimPair& p = net.pair;
  for (uint32_t i = 0; i < 10; ++i) p.a().xmit(Instant::zero(), p.make(tagged(i)));
  const Instant t = Instant::zero() + Duration::us(10);
  p.link().advance(t);
  Collect sink;
  EXPECT_EQ(net.fb().poll(t, 4, sink), 4);
  EXPECT_FALSE(p.nic_b().irq_enabled());
  EXPECT_EQ(net.fb().poll(t, 4, sink), 4);
  EXPECT_EQ(net.fb().poll(t, 4, sink), 0) << "2 left < 4: the NIC drained and unmasked";
  EXPECT_TRUE(p.nic_b().irq_enabled());
  EXPECT_TRUE(sink.frames.empty());
  EXPECT_EQ(net.fb().rx_fault_stats().dropped, 10u);

  // The same through NAPI with a small weight and half the frames dropped: all 40 are handled.
  Net half({}, rx_faults({.drop = 0.5}, 9));
  NapiContext small(/*netdev_budget=*/4);
  half.pair.napi_b().remove(half.pair.b());
  small.add(half.pair.b(), /*weight=*/4);
  for (uint32_t i = 0; i < 40; ++i) half.pair.a().xmit(Instant::zero(), half.pair.make(tagged(i)));
  half.pair.link().advance(t);
  int rounds = 0;
  Collect got;
  while (small.run(t, got)) ++rounds;
  EXPECT_EQ(half.pair.nic_b().stats().rx_packets, 40u);
  EXPECT_EQ(got.frames.size() + half.fb().rx_fault_stats().dropped, 40u);
  EXPECT_TRUE(half.pair.nic_b().irq_enabled());
  EXPECT_GE(rounds, 9);
  small.remove(half.pair.b());
  half.pair.napi_b().add(half.pair.b());
}

TEST(FaultInjector, HeldRxFramesAreTheTimersJobAndScheduleNapi) {
  Net net({}, rx_faults({.delay = Duration::ms(2)}));
  SimPair& p = net.pair;
  FaultInjector& fb = net.fb();
  p.a().xmit(Instant::zero(), p.make(tagged(1)));
  const Instant t = Instant::zero() + Duration::us(10);
  p.link().advance(t);
  Collect sink;
  EXPECT_TRUE(p.napi_b().has_work()) << "the NIC's interrupt scheduled the injector";
  EXPECT_FALSE(p.napi_b().run(t, sink)) << "polled once, below budget: done";
  EXPECT_TRUE(sink.frames.empty()) << "the frame went into the delay stage";
  EXPECT_EQ(fb.rx_held(), 1u);
  EXPECT_TRUE(p.nic_b().irq_enabled()) << "returned < budget: the NIC's interrupt is back on";
  EXPECT_EQ(fb.next_deadline(), t + Duration::ms(2));
  EXPECT_FALSE(p.napi_b().has_work());
  fb.on_timer(t + Duration::ms(1));
  EXPECT_FALSE(p.napi_b().has_work()) << "not due yet";
  fb.on_timer(t + Duration::ms(2));
  EXPECT_TRUE(p.napi_b().has_work()) << "due: NAPI scheduled for the injector";
  EXPECT_EQ(fb.next_deadline(), Instant::never());
  EXPECT_FALSE(p.napi_b().run(t + Duration::ms(2), sink));
  ASSERT_EQ(sink.frames.size(), 1u);
  EXPECT_EQ(sink.when[0], t + Duration::ms(2));
}

TEST(FaultInjector, NextDeadlineIncludesTheInnerDevice) {
  // An injector inside an injector: the outer one reports the inner one's held frames.
  PoolHandle pool = BufferPool::create();
  auto nic = std::make_unique<SimNic>(simtest::nic_config("x0", 9), *pool);
  auto inner =
      std::make_unique<FaultInjector>(std::move(nic), tx_faults({.delay = Duration::ms(3)}));
  FaultInjector* inner_raw = inner.get();
  FaultInjector outer(std::move(inner), {});
  outer.set_up(true);
  outer.xmit(Instant::zero(), pool->alloc_copy(tagged(1)));
  EXPECT_EQ(inner_raw->tx_held(), 1u);
  EXPECT_EQ(outer.next_deadline(), Instant::zero() + Duration::ms(3));
  outer.on_timer(Instant::zero() + Duration::ms(3));
  EXPECT_EQ(inner_raw->tx_held(), 0u);
  EXPECT_EQ(outer.next_deadline(), Instant::never());
}

// ---- lifetime, leaks, reconfiguration ----------------------------------------------------------

TEST(FaultInjector, HeldFramesAreFreedAndCountedWhenGoingDownOrDestroyed) {
  PoolHandle pool = BufferPool::create();
  {
    Telemetry tel("a");
    Net net({.rx = {.delay = Duration::ms(1)}, .tx = {.reorder = 1.0, .delay = Duration::ms(1)}});
    net.fa().attach(tel);
    for (uint32_t i = 0; i < 5; ++i) net.pair.a().xmit(Instant::zero(), net.pair.make(tagged(i)));
    net.pair.b().xmit(Instant::zero(), net.pair.make(tagged(9)));
    net.pair.run_until(Instant::zero() + Duration::us(100));
    EXPECT_EQ(net.fa().tx_held(), 5u);
    EXPECT_EQ(net.fa().rx_held(), 1u);
    net.fa().set_up(false);
    EXPECT_EQ(net.fa().tx_held() + net.fa().rx_held(), 0u);
    EXPECT_EQ(net.fa().tx_fault_stats().flushed, 5u);
    EXPECT_EQ(net.fa().rx_fault_stats().flushed, 1u);
    EXPECT_EQ(tel.drops().get(DropReason::kDevDown), 6u);
    EXPECT_EQ(net.pair.pool().outstanding(), kRing) << "only b's posted RX buffers are left";
  }
  {
    // Destroyed while holding frames: nothing leaks.
    auto nic = std::make_unique<SimNic>(simtest::nic_config("x0", 9), *pool);
    FaultInjector fi(std::move(nic), tx_faults({.delay = Duration::ms(1)}));
    fi.set_up(true);
    for (uint32_t i = 0; i < 3; ++i) fi.xmit(Instant::zero(), pool->alloc_copy(tagged(i)));
    EXPECT_EQ(fi.tx_held(), 3u);
  }
  EXPECT_EQ(pool->outstanding(), 0u);
}

TEST(FaultInjector, SetConfigAppliesToNewFrames) {
  Net net(tx_faults({.drop = 1.0}));
  net.send(10);
  EXPECT_TRUE(net.pair.rx_b().frames.empty());
  FaultInjectorConfig c = net.fa().config();
  c.tx = FaultConfig{.duplicate = 1.0};
  net.fa().set_config(c);
  net.send(10);
  EXPECT_EQ(net.pair.rx_b().frames.size(), 20u);
  EXPECT_EQ(net.fa().tx_fault_stats().dropped, 10u);
  EXPECT_EQ(net.fa().tx_fault_stats().duplicated, 10u);
  // Held frames keep their release time when the delay changes.
  c.tx = FaultConfig{.delay = Duration::ms(5)};
  net.fa().set_config(c);
  net.pair.a().xmit(net.pair.now(), net.pair.make(tagged(1)));
  const Instant due = net.pair.now() + Duration::ms(5);
  c.tx = FaultConfig{};
  net.fa().set_config(c);
  EXPECT_EQ(net.fa().next_deadline(), due);
}

TEST(FaultInjector, ReseedingRestartsTheStreams) {
  auto outcome = [](bool reseed) {
    PoolHandle pool = BufferPool::create();
    auto nic = std::make_unique<SimNic>(simtest::nic_config("x0", 9), *pool);
    FaultInjector fi(std::move(nic), tx_faults({.drop = 0.5}, 3));
    fi.set_up(true);
    if (reseed) {
      for (uint32_t i = 0; i < 50; ++i) fi.xmit(Instant::zero(), pool->alloc_copy(tagged(i)));
      FaultInjectorConfig c = fi.config();
      c.seed = 4;
      fi.set_config(c);
      c.seed = 3;
      fi.set_config(c);  // back to seed 3: the stream starts over
    }
    std::vector<bool> dropped;
    for (uint32_t i = 0; i < 100; ++i) {
      const uint64_t before = fi.tx_fault_stats().dropped;
      fi.xmit(Instant::zero(), pool->alloc_copy(tagged(i)));
      dropped.push_back(fi.tx_fault_stats().dropped > before);
    }
    return dropped;
  };
  EXPECT_EQ(outcome(false), outcome(true));
}

// ---- stacking with PcapCapture -----------------------------------------------------------------

TEST(FaultInjector, StacksWithPcapCaptureInEitherOrder) {
  testtools::ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string survived = dir.file("after_faults.pcap");
  const std::string wire = dir.file("wire.pcap");
  const FaultConfig f{.drop = 0.2, .duplicate = 0.2, .reorder = 0.2, .delay = Duration::us(50)};
  {
    // b: PcapCapture(FaultInjector(SimNic)) records what survived the faults;
    // a: FaultInjector(PcapCapture(SimNic)) records what went to the wire.
    SimPair net(
        {.latency = Duration::us(10)},
        [&](std::unique_ptr<NetDevice> nic) -> std::unique_ptr<NetDevice> {
          auto cap = PcapCapture::open(std::move(nic), wire);
          EXPECT_TRUE(cap.ok());
          return std::make_unique<FaultInjector>(std::move(*cap), tx_faults(f, 5));
        },
        [&](std::unique_ptr<NetDevice> nic) -> std::unique_ptr<NetDevice> {
          auto fi = std::make_unique<FaultInjector>(std::move(nic), rx_faults(f, 6));
          auto cap = PcapCapture::open(std::move(fi), survived);
          EXPECT_TRUE(cap.ok());
          return std::move(*cap);
        },
        kRing);
    testtools::FrameSpec s;
    for (uint16_t i = 0; i < 200; ++i) {
      s.ip_id = i;
      const std::vector<uint8_t> payload(20 + i % 50, static_cast<uint8_t>(i));
      net.run_until(Instant::zero() + Duration::us(30) * i);
      net.a().xmit(net.now(), net.make(testtools::udp4_frame(s, payload)));
    }
    net.run_for(Duration::ms(10));
    auto& fa = static_cast<FaultInjector&>(net.a());
    auto& cap_b = static_cast<PcapCapture&>(net.b());
    auto& fb = static_cast<FaultInjector&>(cap_b.inner());
    const FaultStats& ta = fa.tx_fault_stats();
    EXPECT_EQ(net.nic_a().stats().tx_packets, 200 - ta.dropped + ta.duplicated);
    EXPECT_EQ(cap_b.capture_stats().rx_frames, net.rx_b().frames.size());
    const FaultStats& rb = fb.rx_fault_stats();
    EXPECT_EQ(net.rx_b().frames.size(),
              net.nic_b().stats().rx_packets - rb.dropped + rb.duplicated);
  }
  auto wire_recs = PcapReader::open(wire)->read_all();
  auto surv_recs = PcapReader::open(survived)->read_all();
  ASSERT_TRUE(wire_recs.ok());
  ASSERT_TRUE(surv_recs.ok());
  EXPECT_GT(wire_recs->size(), 150u);
  EXPECT_GT(surv_recs->size(), 120u);
  EXPECT_TRUE(testtools::tshark_clean(wire));
  EXPECT_TRUE(testtools::tshark_clean(survived));
}

}  // namespace
}  // namespace ustack::dev
