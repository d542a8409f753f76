// TimerWheel tests: exact expiry, ordering across levels and cascades, callbacks that arm and
// cancel, far-future and never(), RAII unlink, and 100 000 random timers against a
// std::multimap reference.
#include "ustack/base/timer_wheel.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "ustack/base/rng.h"

namespace ustack {
namespace {

const Instant t0 = Instant::zero();
Instant at_ms(int64_t ms) { return t0 + Duration::ms(ms); }
Instant at_ns(int64_t ns) { return t0 + Duration::ns(ns); }

// A timer that records (id, now) when it fires into a shared log.
struct Fired {
  int id;
  Instant now;
  bool operator==(const Fired&) const = default;
};

struct Probe {
  int id = 0;
  std::vector<Fired>* log = nullptr;
  TimerNode node;
  Probe(int i, std::vector<Fired>* l) : id(i), log(l) { node.bind<&Probe::fire>(this); }
  void fire(Instant now) { log->push_back({id, now}); }
};

TEST(TimerWheel, FiresExactlyAtExpiryNeverEarly) {
  TimerWheel w;  // 1 ms ticks
  std::vector<Fired> log;
  Probe p(1, &log);
  const Instant exp = at_ns(5'300'000);  // 5.3 ms: inside tick 5
  w.arm(p.node, exp);
  EXPECT_TRUE(p.node.armed());
  EXPECT_EQ(w.armed(), 1u);
  EXPECT_EQ(w.next_deadline(), exp);
  w.advance(at_ms(5));  // tick 5 reached, but 5.0 ms < 5.3 ms
  EXPECT_TRUE(log.empty());
  w.advance(exp - Duration::ns(1));
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(w.next_deadline(), exp);
  w.advance(exp);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], (Fired{1, exp}));
  EXPECT_FALSE(p.node.armed());
  EXPECT_EQ(w.armed(), 0u);
  EXPECT_EQ(w.next_deadline(), Instant::never());
}

TEST(TimerWheel, PartialTickKeepsLaterTimersAndTakesNewEarlierOnes) {
  TimerWheel w;
  std::vector<Fired> log;
  Probe a(1, &log), b(2, &log), c(3, &log);
  w.arm(b.node, at_ns(5'700'000));
  w.arm(a.node, at_ns(5'300'000));
  w.advance(at_ns(5'500'000));  // inside tick 5: only `a` is due
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].id, 1);
  EXPECT_EQ(w.next_deadline(), at_ns(5'700'000));
  w.arm(c.node, at_ns(5'400'000));  // behind now, same tick
  EXPECT_EQ(w.next_deadline(), at_ns(5'400'000));
  w.advance(at_ns(5'500'000));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].id, 3);
  w.advance(at_ns(5'699'999));
  EXPECT_EQ(log.size(), 2u);
  w.advance(at_ns(5'700'000));
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[2].id, 2);
}

TEST(TimerWheel, LateAdvanceFiresAllInExpiryOrderAcrossLevels) {
  TimerWheel w;
  std::vector<Fired> log;
  // Expiries spanning level 0 (< 256 ms), level 1 (< 16.4 s), level 2, level 3 (2 h).
  const int64_t ms[] = {7'200'000, 3, 300, 20'000, 255, 256, 16'383, 16'384, 1'000'000, 0};
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < 10; ++i) {
    probes.push_back(std::make_unique<Probe>(i, &log));
    w.arm(probes.back()->node, at_ms(ms[i]));
  }
  EXPECT_EQ(w.next_deadline(), at_ms(0));
  w.advance(at_ms(7'200'000));
  const std::vector<int> order = {9, 1, 4, 5, 2, 6, 7, 3, 8, 0};
  ASSERT_EQ(log.size(), order.size());
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(log[i].id, order[i]) << i;
}

TEST(TimerWheel, CascadedTimersFireOnTimeWithSmallSteps) {
  // Step 1 ms at a time through two level-1 and one level-2 boundary: each timer fires at the
  // first advance(now) with now >= expiry, not one step earlier or later.
  TimerWheel w;
  std::vector<Fired> log;
  const int64_t ms[] = {255, 256, 257, 511, 512, 16'383, 16'384, 16'385, 20'000};
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < 9; ++i) {
    probes.push_back(std::make_unique<Probe>(i, &log));
    w.arm(probes.back()->node, at_ms(ms[i]) - Duration::us(500));
  }
  for (int64_t t = 1; t <= 20'000; ++t) {
    const size_t before = log.size();
    w.advance(at_ms(t));
    for (size_t i = before; i < log.size(); ++i) {
      EXPECT_EQ(ms[log[i].id], t) << "timer " << log[i].id;
    }
  }
  EXPECT_EQ(log.size(), 9u);
}

TEST(TimerWheel, EqualExpiriesFireInArmOrder) {
  TimerWheel w;
  std::vector<Fired> log;
  Probe a(1, &log), b(2, &log), c(3, &log);
  w.arm(b.node, at_ms(10));
  w.arm(a.node, at_ms(10));
  w.arm(c.node, at_ms(10));
  w.arm(b.node, at_ms(10));  // re-arm: now the last
  w.advance(at_ms(10));
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].id, 1);
  EXPECT_EQ(log[1].id, 3);
  EXPECT_EQ(log[2].id, 2);
}

TEST(TimerWheel, ReArmMovesAndCancelUnlinks) {
  TimerWheel w;
  std::vector<Fired> log;
  Probe a(1, &log), b(2, &log);
  w.arm(a.node, at_ms(100));
  w.arm(b.node, at_ms(50));
  EXPECT_EQ(w.next_deadline(), at_ms(50));
  w.arm(b.node, at_ms(20'000));  // moved out to level 1: earliest recomputed
  EXPECT_EQ(w.armed(), 2u);
  EXPECT_EQ(w.next_deadline(), at_ms(100));
  w.cancel(a.node);
  EXPECT_FALSE(a.node.armed());
  w.cancel(a.node);  // cancelling a disarmed timer is a no-op
  EXPECT_EQ(w.armed(), 1u);
  EXPECT_EQ(w.next_deadline(), at_ms(20'000));
  w.advance(at_ms(19'999));
  EXPECT_TRUE(log.empty());
  w.advance(at_ms(20'000));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].id, 2);
}

TEST(TimerWheel, PastExpiryFiresOnNextAdvance) {
  TimerWheel w;
  w.advance(at_ms(1'000));
  std::vector<Fired> log;
  Probe p(1, &log);
  w.arm(p.node, at_ms(10));  // long past
  EXPECT_EQ(w.next_deadline(), at_ms(10));
  w.advance(at_ms(1'000));  // same now: still fires
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].now, at_ms(1'000));
  // Before the wheel's start, too.
  TimerWheel w2(Duration::ms(1), at_ms(500));
  Probe q(2, &log);
  w2.arm(q.node, at_ms(100));
  w2.advance(at_ms(100));
  EXPECT_EQ(log.size(), 2u);
}

TEST(TimerWheel, NeverAndFarFuture) {
  TimerWheel w;
  std::vector<Fired> log;
  Probe never(1, &log), keepalive(2, &log), far(3, &log);
  w.arm(never.node, Instant::never());
  EXPECT_TRUE(never.node.armed());
  EXPECT_EQ(w.next_deadline(), Instant::never());
  const Instant ka = at_ms(7'200'000) + Duration::ns(1);             // 2 h and 1 ns
  const Instant beyond = at_ms(int64_t{1} << 40) + Duration::ns(7);  // past the wheel's span
  w.arm(keepalive.node, ka);
  w.arm(far.node, beyond);
  EXPECT_EQ(w.next_deadline(), ka);
  w.advance(at_ms(7'200'000));
  EXPECT_TRUE(log.empty());
  w.advance(ka);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(w.next_deadline(), beyond);
  w.advance(beyond - Duration::ns(1));
  EXPECT_EQ(log.size(), 1u);
  EXPECT_EQ(w.next_deadline(), beyond);
  w.advance(beyond);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1], (Fired{3, beyond}));
  w.advance(Instant::never() - Duration::ns(1));
  EXPECT_EQ(log.size(), 2u);
  EXPECT_TRUE(never.node.armed());
  EXPECT_EQ(w.armed(), 1u);
  w.cancel(never.node);
  EXPECT_EQ(w.armed(), 0u);
}

TEST(TimerWheel, DestroyingArmedNodeUnlinks) {
  TimerWheel w;
  std::vector<Fired> log;
  Probe keep(1, &log);
  w.arm(keep.node, at_ms(30));
  {
    Probe gone(2, &log);
    w.arm(gone.node, at_ms(10));
    Probe gone2(3, &log);
    w.arm(gone2.node, at_ms(10));  // same slot: unlinking one must keep the other linked
    EXPECT_EQ(w.armed(), 3u);
    EXPECT_EQ(w.next_deadline(), at_ms(10));
  }
  EXPECT_EQ(w.armed(), 1u);
  EXPECT_EQ(w.next_deadline(), at_ms(30));
  w.advance(at_ms(100));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].id, 1);
}

TEST(TimerWheel, DestroyingWheelDisarmsNodes) {
  std::vector<Fired> log;
  Probe p(1, &log);
  {
    TimerWheel w;
    w.arm(p.node, at_ms(5));
  }
  EXPECT_FALSE(p.node.armed());  // and p's destructor must not touch the dead wheel
}

TEST(TimerWheel, ArmOnAnotherWheelMoves) {
  TimerWheel a, b;
  std::vector<Fired> log;
  Probe p(1, &log);
  a.arm(p.node, at_ms(5));
  b.arm(p.node, at_ms(6));
  EXPECT_EQ(a.armed(), 0u);
  EXPECT_EQ(b.armed(), 1u);
  a.advance(at_ms(10));
  EXPECT_TRUE(log.empty());
  b.advance(at_ms(10));
  EXPECT_EQ(log.size(), 1u);
}

// Callbacks that re-arm themselves, cancel a timer due in the same advance, and arm a new one
// due within the same advance.
struct Chain {
  TimerWheel* w = nullptr;
  std::vector<std::pair<int, Instant>> log;
  TimerNode periodic, victim, spawned, late;
  int periodic_runs = 0;
  void on_periodic(Instant now) {
    log.push_back({0, now});
    if (++periodic_runs < 5) w->arm(periodic, periodic.expires() + Duration::ms(10));
  }
  void on_victim(Instant now) { log.push_back({1, now}); }
  void on_spawned(Instant now) { log.push_back({2, now}); }
  void on_late(Instant now) {
    log.push_back({3, now});
    w->cancel(victim);
    // Behind the tick being fired: runs right after this callback, within the same advance.
    w->arm(spawned, at_ms(1));
  }
};

TEST(TimerWheel, CallbacksArmAndCancelSafely) {
  TimerWheel w;
  Chain c;
  c.w = &w;
  c.periodic.bind<&Chain::on_periodic>(&c);
  c.victim.bind<&Chain::on_victim>(&c);
  c.spawned.bind<&Chain::on_spawned>(&c);
  c.late.bind<&Chain::on_late>(&c);
  w.arm(c.periodic, at_ms(10));
  w.arm(c.late, at_ns(25'100'000));
  w.arm(c.victim, at_ns(25'200'000));  // same tick as `late`, cancelled by it
  w.advance(at_ms(100));
  const std::vector<std::pair<int, Instant>> want = {
      {0, at_ms(100)}, {0, at_ms(100)}, {3, at_ms(100)}, {2, at_ms(100)},
      {0, at_ms(100)}, {0, at_ms(100)}, {0, at_ms(100)}};
  EXPECT_EQ(c.log, want);
  EXPECT_EQ(w.armed(), 0u);
  EXPECT_FALSE(c.victim.armed());
  EXPECT_EQ(w.next_deadline(), Instant::never());
}

TEST(TimerWheel, NonMsGranularity) {
  TimerWheel w(Duration::us(100), at_ms(3));
  std::vector<Fired> log;
  Probe p(1, &log);
  w.arm(p.node, at_ns(3'123'456));
  w.advance(at_ns(3'123'455));
  EXPECT_TRUE(log.empty());
  w.advance(at_ns(3'123'456));
  EXPECT_EQ(log.size(), 1u);
}

// 100 000 timers with random expiries (ns resolution, from sub-tick to hours), random advances,
// random re-arms and cancels (also from callbacks), against a std::multimap keyed by
// (expires, arm sequence).
struct RandomHarness {
  struct Entry {
    RandomHarness* h = nullptr;
    int id = 0;
    TimerNode node;
    std::multimap<std::pair<Instant, uint64_t>, int>::iterator ref;
    bool in_ref = false;
    void fire(Instant now) { h->on_fire(*this, now); }
  };
  TimerWheel w;
  Rng rng{42};
  uint64_t seq = 0;
  std::multimap<std::pair<Instant, uint64_t>, int> ref;
  std::vector<std::unique_ptr<Entry>> entries;
  std::vector<int> fired;
  Instant now = t0;

  Instant random_expiry() {
    switch (rng.below(6)) {
      case 0:
        return now + Duration::ns(static_cast<int64_t>(rng.below(2'000'000)));  // < 2 ticks
      case 1:
        return now + Duration::ns(static_cast<int64_t>(rng.below(300'000'000)));
      case 2:
        return now + Duration::ns(static_cast<int64_t>(rng.below(20'000'000'000)));
      case 3:
        return now + Duration::ms(static_cast<int64_t>(rng.below(8'000'000)));  // ~2 h
      case 4:
        return now - Duration::ns(static_cast<int64_t>(rng.below(5'000'000)));  // past
      default:
        return now + Duration::ns(static_cast<int64_t>(rng.below(60'000'000'000)));
    }
  }
  void arm(Entry& e, Instant exp) {
    if (e.in_ref) ref.erase(e.ref);
    e.ref = ref.insert({{exp, seq++}, e.id});
    e.in_ref = true;
    w.arm(e.node, exp);
  }
  void cancel(Entry& e) {
    if (e.in_ref) ref.erase(e.ref);
    e.in_ref = false;
    w.cancel(e.node);
  }
  void on_fire(Entry& e, Instant fire_now) {
    EXPECT_TRUE(e.in_ref);
    EXPECT_LE(e.node.expires(), fire_now);
    // The reference's first entry must be this one: exact global order.
    ASSERT_FALSE(ref.empty());
    EXPECT_EQ(ref.begin()->second, e.id);
    if (e.in_ref) ref.erase(e.ref);
    e.in_ref = false;
    fired.push_back(e.id);
    // Some callbacks re-arm themselves or cancel/re-arm another timer.
    const uint64_t r = rng.below(10);
    if (r == 0) {
      arm(e,
          fire_now + Duration::ns(static_cast<int64_t>(rng.below(50'000'000))) + Duration::ns(1));
    } else if (r == 1) {
      cancel(*entries[rng.below(entries.size())]);
    } else if (r == 2) {
      Entry& other = *entries[rng.below(entries.size())];
      if (&other != &e) arm(other, fire_now + Duration::ns(1 + int64_t(rng.below(10'000'000))));
    }
  }
};

TEST(TimerWheel, RandomAgainstMultimapReference) {
  RandomHarness h;
  const int n = 100'000;
  for (int i = 0; i < n; ++i) {
    auto e = std::make_unique<RandomHarness::Entry>();
    e->h = &h;
    e->id = i;
    e->node.bind<&RandomHarness::Entry::fire>(e.get());
    h.entries.push_back(std::move(e));
  }
  for (auto& e : h.entries) h.arm(*e, h.random_expiry());
  for (int step = 0; step < 20'000; ++step) {
    // Mostly small steps, sometimes jumps of minutes, sometimes exactly to the next deadline.
    const uint64_t r = h.rng.below(100);
    const Instant deadline = h.w.next_deadline();
    const Instant want = h.ref.empty() ? Instant::never() : h.ref.begin()->first.first;
    ASSERT_EQ(deadline, want) << "step " << step;
    if (r < 60) {
      h.now += Duration::ns(static_cast<int64_t>(h.rng.below(3'000'000)));
    } else if (r < 80 && deadline != Instant::never()) {
      h.now = deadline > h.now ? deadline : h.now;
    } else if (r < 95) {
      h.now += Duration::ns(static_cast<int64_t>(h.rng.below(2'000'000'000)));
    } else {
      h.now += Duration::s(static_cast<int64_t>(h.rng.below(600)));
    }
    const size_t before = h.fired.size();
    h.w.advance(h.now);
    // Nothing due is left behind, and the just-reached deadline fired.
    if (!h.ref.empty()) {
      ASSERT_GT(h.ref.begin()->first.first, h.now) << "step " << step;
    }
    if (deadline <= h.now && deadline != Instant::never()) {
      ASSERT_GT(h.fired.size(), before);
    }
    // Random arms and cancels between advances.
    for (int k = 0; k < 20; ++k) {
      auto& e = *h.entries[h.rng.below(h.entries.size())];
      if (h.rng.below(4) == 0) {
        h.cancel(e);
      } else {
        h.arm(e, h.random_expiry());
      }
    }
    ASSERT_EQ(h.w.armed(), h.ref.size());
  }
  EXPECT_GT(h.fired.size(), 100'000u);
}

}  // namespace
}  // namespace ustack
