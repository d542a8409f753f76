// NapiContext on its own: poll list order, weights, netdev_budget, time_squeeze, removal, and
// that scheduling and polling never allocate (this binary counts operator new).
#include "ustack/dev/napi.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "tools/count_new.h"  // g_news: counts global operator new

namespace ustack::dev {
namespace {

// A device whose poll() delivers `pending` frames up to the budget (no real frames: the sink
// is not called) and records the order it was polled in.
class FakeDevice final : public NetDevice {
 public:
  FakeDevice(std::string name, std::vector<std::string>* log) : name_(std::move(name)), log_(log) {}

  int pending = 0;

  const std::string& name() const override { return name_; }
  wire::MacAddr mac() const override { return {}; }
  uint32_t mtu() const override { return 1500; }
  bool set_mtu(uint32_t) override { return false; }
  bool is_up() const override { return true; }
  void set_up(bool) override {}
  int ifindex() const override { return 0; }
  void set_ifindex(int) override {}
  XmitStatus xmit(Instant, PacketPtr) override { return XmitStatus::kQueued; }
  int poll(Instant, int budget, RxSink&) override {
    if (log_ != nullptr) log_->push_back(name_);
    const int done = pending < budget ? pending : budget;
    pending -= done;
    if (done < budget) irq_enabled_ = true;
    return done;
  }
  void set_irq_handler(IrqHandler* h) override { irq_ = h; }
  bool irq_enabled() const override { return irq_enabled_; }
  void interrupt(Instant) override {
    if (!irq_enabled_ || irq_ == nullptr) return;
    irq_enabled_ = false;
    irq_->napi_schedule(*this);
  }
  const DevStats& stats() const override { return stats_; }
  const RingStats& ring_stats() const override { return ring_stats_; }
  void attach(Telemetry&) override {}

  // Frames arrive and the interrupt fires.
  void rx(int frames) {
    pending += frames;
    interrupt(Instant::zero());
  }

 private:
  std::string name_;
  std::vector<std::string>* log_;
  IrqHandler* irq_ = nullptr;
  bool irq_enabled_ = true;
  DevStats stats_;
  RingStats ring_stats_;
};

struct NullSink final : RxSink {
  void netif_receive(Instant, NetDevice&, PacketPtr) override {}
};

const Instant kNow = Instant::zero();

TEST(Napi, PollsInScheduleOrderAndListsADeviceOnce) {
  std::vector<std::string> log;
  FakeDevice a("a", &log), b("b", &log), c("c", &log);
  NapiContext napi;
  napi.add(a);
  napi.add(b);
  napi.add(c);
  NullSink sink;
  EXPECT_FALSE(napi.has_work());
  c.rx(1);
  a.rx(1);
  napi.napi_schedule(c);  // already listed (NAPI_STATE_SCHED)
  EXPECT_TRUE(napi.has_work());
  EXPECT_FALSE(napi.run(kNow, sink));
  EXPECT_EQ(log, (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(napi.stats().schedules, 2u);
  EXPECT_EQ(napi.stats().processed, 2u);
  EXPECT_FALSE(napi.has_work());
}

TEST(Napi, FullWeightGoesToTheTailAndBudgetExhaustionSqueezes) {
  std::vector<std::string> log;
  FakeDevice a("a", &log), b("b", &log);
  NapiContext napi(/*netdev_budget=*/100);
  napi.add(a, /*weight=*/40);
  napi.add(b, /*weight=*/40);
  NullSink sink;
  a.rx(190);
  b.rx(10);
  // a: 40 (its whole weight: back to the tail), b: 10 (drained), a: 40, a: 40; the budget of
  // 100 is spent (130) with a still listed: time_squeeze, and run() asks to be called again.
  EXPECT_TRUE(napi.run(kNow, sink));
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "a", "a"}));
  EXPECT_EQ(napi.stats().processed, 130u);
  EXPECT_EQ(napi.stats().time_squeeze, 1u);
  EXPECT_TRUE(napi.has_work());
  EXPECT_FALSE(a.irq_enabled());
  log.clear();
  EXPECT_FALSE(napi.run(kNow, sink));  // a: 40, a: 20 (drained)
  EXPECT_EQ(log, (std::vector<std::string>{"a", "a"}));
  EXPECT_EQ(napi.stats().time_squeeze, 1u);
  EXPECT_EQ(a.pending, 0);
  EXPECT_TRUE(a.irq_enabled());
}

TEST(Napi, RemovedDeviceLeavesTheListAndAddKeepsTheOrder) {
  std::vector<std::string> log;
  FakeDevice a("a", &log), b("b", &log), c("c", &log), d("d", &log);
  NapiContext napi;
  napi.add(a);
  napi.add(b);
  napi.add(c);
  NullSink sink;
  c.rx(1);
  a.rx(1);
  b.rx(1);
  napi.remove(a);
  napi.add(d);  // grows the ring with c, b listed
  d.rx(1);
  EXPECT_FALSE(napi.run(kNow, sink));
  EXPECT_EQ(log, (std::vector<std::string>{"c", "b", "d"}));
}

TEST(Napi, ScheduleAndRunNeverAllocate) {
  FakeDevice a("a", nullptr), b("b", nullptr), c("c", nullptr);
  NapiContext napi(/*netdev_budget=*/300);
  napi.add(a);
  napi.add(b);
  napi.add(c);
  NullSink sink;
  const uint64_t news = g_news.load();
  for (int i = 0; i < 10'000; ++i) {
    a.rx(1 + i % 100);
    if (i % 3 == 0) c.rx(70);
    b.rx(1);
    while (napi.run(kNow, sink)) {
    }
  }
  EXPECT_EQ(g_news.load(), news);
  EXPECT_GE(napi.stats().schedules, 20'000u);
}

}  // namespace
}  // namespace ustack::dev
