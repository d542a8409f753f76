// TimerWheel against a std::multimap<Instant, timer*> baseline (what a straightforward timer
// queue looks like): arm+cancel, re-arm of an armed timer (TCP restarting its RTO on every ACK),
// and advance() in 1 ms steps with 100 000 armed timers that re-arm themselves when they fire
// (a stack with 100 000 connections), each step followed by next_deadline() as a runner does.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <vector>

#include "ustack/base/rng.h"
#include "ustack/base/timer_wheel.h"

namespace {

using ustack::Duration;
using ustack::Instant;
using ustack::Rng;
using ustack::TimerNode;
using ustack::TimerWheel;

constexpr size_t kDelays = 1 << 16;

// Random delays from 200 ms to 1.2 s (RTO-like), at ns resolution.
std::vector<Duration> random_delays() {
  Rng rng(7);
  std::vector<Duration> d(kDelays);
  for (auto& x : d) x = Duration::ms(200) + Duration::ns(int64_t(rng.below(1'000'000'000)));
  return d;
}

void noop(void*, Instant) {}

// Background timers so the structures are not trivially empty (state.range(0) of them).
void BM_WheelArmCancel(benchmark::State& state) {
  const auto delays = random_delays();
  TimerWheel w;
  std::vector<TimerNode> bg(static_cast<size_t>(state.range(0)));
  for (size_t i = 0; i < bg.size(); ++i) {
    bg[i].set_callback(noop, nullptr);
    w.arm(bg[i], Instant::zero() + delays[i % kDelays]);
  }
  TimerNode t(noop, nullptr);
  size_t i = 0;
  for (auto _ : state) {
    w.arm(t, Instant::zero() + delays[i++ & (kDelays - 1)]);
    w.cancel(t);
  }
  benchmark::DoNotOptimize(w.armed());
}
BENCHMARK(BM_WheelArmCancel)->Arg(0)->Arg(100'000);

void BM_MultimapArmCancel(benchmark::State& state) {
  const auto delays = random_delays();
  std::multimap<Instant, int> q;
  for (int64_t i = 0; i < state.range(0); ++i) {
    q.emplace(Instant::zero() + delays[size_t(i) % kDelays], int(i));
  }
  size_t i = 0;
  for (auto _ : state) {
    auto it = q.emplace(Instant::zero() + delays[i++ & (kDelays - 1)], -1);
    q.erase(it);
  }
  benchmark::DoNotOptimize(q.size());
}
BENCHMARK(BM_MultimapArmCancel)->Arg(0)->Arg(100'000);

// Re-arming an armed timer (mod_timer on an ACK) among 100 000 armed timers.
void BM_WheelRearm(benchmark::State& state) {
  const auto delays = random_delays();
  TimerWheel w;
  std::vector<TimerNode> timers(100'000);
  for (size_t i = 0; i < timers.size(); ++i) {
    timers[i].set_callback(noop, nullptr);
    w.arm(timers[i], Instant::zero() + delays[i % kDelays]);
  }
  size_t i = 0;
  for (auto _ : state) {
    w.arm(timers[(i * 7919) % timers.size()], Instant::zero() + delays[i & (kDelays - 1)]);
    ++i;
  }
}
BENCHMARK(BM_WheelRearm);

void BM_MultimapRearm(benchmark::State& state) {
  const auto delays = random_delays();
  std::multimap<Instant, int> q;
  std::vector<std::multimap<Instant, int>::iterator> pos(100'000);
  for (size_t i = 0; i < pos.size(); ++i) {
    pos[i] = q.emplace(Instant::zero() + delays[i % kDelays], int(i));
  }
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = (i * 7919) % pos.size();
    q.erase(pos[k]);
    pos[k] = q.emplace(Instant::zero() + delays[i & (kDelays - 1)], int(k));
    ++i;
  }
}
BENCHMARK(BM_MultimapRearm);

// 100 000 connections whose timers re-arm themselves on expiry; one iteration = advance 1 ms +
// next_deadline(). items/s counts fired timers.
struct Conn {
  TimerNode node;
  TimerWheel* w = nullptr;
  const std::vector<Duration>* delays = nullptr;
  size_t* cursor = nullptr;
  void on_timer(Instant now) { w->arm(node, now + (*delays)[(*cursor)++ & (kDelays - 1)]); }
};

void BM_WheelAdvance(benchmark::State& state) {
  const auto delays = random_delays();
  TimerWheel w;
  size_t cursor = 0;
  std::vector<Conn> conns(static_cast<size_t>(state.range(0)));
  for (auto& c : conns) {
    c.w = &w;
    c.delays = &delays;
    c.cursor = &cursor;
    c.node.bind<&Conn::on_timer>(&c);
    w.arm(c.node, Instant::zero() + delays[cursor++ & (kDelays - 1)]);
  }
  Instant now = Instant::zero();
  const size_t start = cursor;
  for (auto _ : state) {
    now += Duration::ms(1);
    w.advance(now);
    benchmark::DoNotOptimize(w.next_deadline());
  }
  state.SetItemsProcessed(static_cast<int64_t>(cursor - start));
}
BENCHMARK(BM_WheelAdvance)->Arg(100'000);

void BM_MultimapAdvance(benchmark::State& state) {
  const auto delays = random_delays();
  std::multimap<Instant, int> q;
  size_t cursor = 0;
  for (int64_t i = 0; i < state.range(0); ++i) {
    q.emplace(Instant::zero() + delays[cursor++ & (kDelays - 1)], int(i));
  }
  Instant now = Instant::zero();
  const size_t start = cursor;
  for (auto _ : state) {
    now += Duration::ms(1);
    while (!q.empty() && q.begin()->first <= now) {
      const int id = q.begin()->second;
      q.erase(q.begin());
      q.emplace(now + delays[cursor++ & (kDelays - 1)], id);  // the callback re-arms
    }
    benchmark::DoNotOptimize(q.empty() ? Instant::never() : q.begin()->first);
  }
  state.SetItemsProcessed(static_cast<int64_t>(cursor - start));
}
BENCHMARK(BM_MultimapAdvance)->Arg(100'000);

}  // namespace
