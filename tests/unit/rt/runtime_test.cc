// rt::Runtime on the real clock: post() hands work to the runtime thread, device timers fire on
// time and the loop sleeps in between (it does not spin), device fds are waited on only while
// the interrupt is enabled, a TAP refused by the kernel (EAGAIN) is resumed on EPOLLOUT, and
// stop() is prompt and idempotent. The TAP is an adopted SOCK_DGRAM socketpair (one frame per
// read/write, EAGAIN when full: what a tun fd does), so no test here needs root.
#include "ustack/rt/runtime.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "unit/rt/fake_device.h"
#include "ustack/dev/tap.h"
#include "ustack/stack/stack.h"

namespace ustack::rt {
namespace {

using namespace std::chrono_literals;
using test::FakeDevice;

// Waits (on the test thread) until pred() holds or `limit` passes.
template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = 2000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Runs fn on the runtime thread and waits for its result.
template <class Fn>
auto on_stack(Runtime& rt, Fn fn) {
  auto p = std::make_shared<std::promise<decltype(fn(Instant{}))>>();
  auto f = p->get_future();
  rt.post([p, fn](Instant now) { p->set_value(fn(now)); });
  EXPECT_EQ(f.wait_for(2s), std::future_status::ready) << "posted closure never ran";
  return f.get();
}

TEST(Runtime, PostRunsOnTheRuntimeThreadWithNow) {
  stack::Stack s;
  Runtime rt(s);
  rt.start();
  const Instant before = rt.now();
  struct Seen {
    std::thread::id thread;
    bool on_runtime;
    Instant now;
  };
  const Seen seen = on_stack(rt, [&](Instant now) {
    return Seen{std::this_thread::get_id(), rt.on_runtime_thread(), now};
  });
  EXPECT_NE(seen.thread, std::this_thread::get_id());
  EXPECT_TRUE(seen.on_runtime);
  EXPECT_FALSE(rt.on_runtime_thread());
  EXPECT_GE(seen.now, before);
  EXPECT_LE(seen.now, rt.now());
  EXPECT_EQ(rt.stats().posted, 1u);
}

TEST(Runtime, PostsFromManyThreadsRunInOrderPerThread) {
  stack::Stack s;
  Runtime rt(s);
  std::vector<int> got;                          // touched only on the runtime thread
  rt.post([&](Instant) { got.push_back(-1); });  // before start: waits for the loop
  rt.start();
  constexpr int kPer = 2000;
  auto producer = [&](int base) {
    for (int i = 0; i < kPer; ++i) rt.post([&got, v = base + i](Instant) { got.push_back(v); });
  };
  std::thread t1(producer, 0);
  std::thread t2(producer, 100000);
  t1.join();
  t2.join();
  const size_t n = on_stack(rt, [&](Instant) { return got.size(); });
  ASSERT_EQ(n, size_t{2 * kPer + 1});
  EXPECT_EQ(got[0], -1);
  int last1 = -1, last2 = 99999;
  for (size_t i = 1; i < got.size(); ++i) {
    int& last = got[i] < 100000 ? last1 : last2;
    EXPECT_EQ(got[i], last + 1);
    last = got[i];
  }
}

TEST(Runtime, IdleLoopSleeps) {
  stack::Stack s;
  Runtime rt(s);
  rt.start();
  std::this_thread::sleep_for(200ms);
  const RuntimeStats st = rt.stats();
  EXPECT_LE(st.wakeups, 3u) << "the loop spins while idle";
  EXPECT_GE(st.sleeps, 1u);
}

TEST(Runtime, StopIsPromptAndIdempotent) {
  stack::Stack s;
  Runtime rt(s);
  rt.start();
  std::this_thread::sleep_for(20ms);  // asleep in epoll_wait with nothing due
  EXPECT_TRUE(rt.running());
  const auto t0 = std::chrono::steady_clock::now();
  rt.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_FALSE(rt.running());
  rt.stop();  // again: nothing to do
  rt.stop();
  EXPECT_FALSE(rt.running());
  // And it starts again.
  rt.start();
  EXPECT_EQ(on_stack(rt, [](Instant) { return 7; }), 7);
}

TEST(Runtime, StopFromInsideTheLoop) {
  stack::Stack s;
  Runtime rt(s);
  rt.start();
  rt.post([&](Instant) { rt.stop(); });  // only asks: the thread cannot join itself
  EXPECT_TRUE(wait_for([&] { return !rt.running(); }));
  rt.stop();  // joins
}

TEST(Runtime, RunUntilStoppedUsesTheCallingThread) {
  stack::Stack s;
  Runtime rt(s);
  std::promise<std::thread::id> loop_id;
  std::thread t([&] {
    loop_id.set_value(std::this_thread::get_id());
    rt.run_until_stopped();
  });
  const std::thread::id expected = loop_id.get_future().get();
  EXPECT_EQ(on_stack(rt, [](Instant) { return std::this_thread::get_id(); }), expected);
  const auto t0 = std::chrono::steady_clock::now();
  rt.stop();  // not the loop's thread, not started by start(): asks, does not join
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
}

TEST(Runtime, DestructorStops) {
  stack::Stack s;
  auto rt = std::make_unique<Runtime>(s);
  rt->start();
  const auto t0 = std::chrono::steady_clock::now();
  rt.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
}

// ---- timers ------------------------------------------------------------------------------

TEST(Runtime, DeviceTimerFiresOnTimeAndTheLoopSleepsBetween) {
  FakeDevice d;  // before the stack: it must outlive it
  stack::Stack s;
  s.add_interface(d);
  Runtime rt(s);
  // Ten ticks, 20 ms apart, starting 20 ms from now.
  d.set_timer(rt.now() + Duration::ms(20), Duration::ms(20));
  rt.start();
  ASSERT_TRUE(wait_for([&] { return d.timers >= 10; }));
  rt.stop();
  EXPECT_FALSE(d.wrong_thread);
  std::lock_guard<std::mutex> g(d.mu);
  for (size_t i = 0; i < d.timer_at.size(); ++i) {
    EXPECT_GE(d.timer_at[i], d.due_at[i]) << "tick " << i << " ran early";
    EXPECT_LT(d.timer_at[i] - d.due_at[i], Duration::ms(50)) << "tick " << i << " ran late";
  }
  // One wake-up per tick (plus a few for start and stop), not a busy loop over 200 ms.
  const RuntimeStats st = rt.stats();
  EXPECT_GE(st.timer_fires, 9u);
  EXPECT_LE(st.wakeups, static_cast<uint64_t>(d.timers) * 2 + 4);
}

TEST(Runtime, NeverDeadlineDisarmsTheTimer) {
  FakeDevice d;  // before the stack: it must outlive it
  stack::Stack s;
  s.add_interface(d);
  Runtime rt(s);
  d.set_timer(rt.now() + Duration::ms(5));  // once
  rt.start();
  ASSERT_TRUE(wait_for([&] { return d.timers == 1; }));
  const uint64_t w = rt.stats().wakeups;
  std::this_thread::sleep_for(100ms);
  EXPECT_LE(rt.stats().wakeups, w + 1);
  EXPECT_EQ(d.timers, 1);
}

// ---- device fds: the runner contract of dev/tap.h ------------------------------------------

TEST(Runtime, ReadableFdRaisesTheInterruptAndNapiPolls) {
  FakeDevice d;  // before the stack: it must outlive it
  stack::Stack s;
  s.add_interface(d);
  Runtime rt(s);
  rt.start();
  d.runtime_thread = on_stack(rt, [](Instant) { return std::this_thread::get_id(); });
  for (int i = 1; i <= 3; ++i) {
    d.make_readable();
    ASSERT_TRUE(wait_for([&] { return d.polls >= i; })) << "poll " << i;
    EXPECT_EQ(d.interrupts, i);
  }
  EXPECT_TRUE(on_stack(rt, [&](Instant) { return d.irq_enabled(); }));
  EXPECT_EQ(rt.stats().irqs, 3u);
  EXPECT_FALSE(d.wrong_thread);
}

TEST(Runtime, MaskedInterruptIsNotWaitedOn) {
  FakeDevice d;  // before the stack: it must outlive it
  stack::Stack s;
  d.rearm = false;  // the poll leaves the fd readable and the interrupt masked
  s.add_interface(d);
  Runtime rt(s);
  rt.start();
  d.make_readable();
  ASSERT_TRUE(wait_for([&] { return d.polls >= 1; }));
  std::this_thread::sleep_for(10ms);
  const RuntimeStats st = rt.stats();
  std::this_thread::sleep_for(100ms);
  // A readable fd with a masked interrupt must not wake the loop (NAPI owns the device).
  EXPECT_LE(rt.stats().wakeups, st.wakeups + 1);
  EXPECT_EQ(d.interrupts, 1);
}

TEST(Runtime, DownDeviceIsNotWaitedOn) {
  FakeDevice d;  // before the stack: it must outlive it
  stack::Stack s;
  s.add_interface(d);
  d.set_up(false);
  Runtime rt(s);
  rt.start();
  d.make_readable();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(d.interrupts, 0);
  on_stack(rt, [&](Instant) {
    d.set_up(true);
    return 0;
  });
  EXPECT_TRUE(wait_for([&] { return d.polls >= 1; }));
}

// ---- a TAP (adopted socketpair) through the whole stack ------------------------------------

std::vector<uint8_t> test_frame(uint8_t tag) {
  std::vector<uint8_t> f(100, tag);
  for (int i = 0; i < 6; ++i) f[static_cast<size_t>(i)] = 0xff;
  f[12] = 0x88;  // local experimental EtherType 0x88b5: the stack drops it, counted
  f[13] = 0xb5;
  return f;
}

struct TapPair {
  TapPair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    // A small send buffer (the kernel doubles it): a few frames in flight, then EAGAIN until
    // the peer reads, as a TAP whose kernel side is busy.
    const int sndbuf = 4096;
    EXPECT_EQ(::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    dev::DeviceConfig c;
    c.name = "tap0";
    c.mac = wire::MacAddr{{2, 0, 0, 0, 0, 1}};
    tap = dev::TapDevice::adopt(c, *pool, sv[0], "tap0");
    peer = sv[1];
  }
  ~TapPair() { ::close(peer); }
  PoolHandle pool = BufferPool::create();
  std::unique_ptr<dev::TapDevice> tap;
  int peer = -1;
};

TEST(Runtime, TapFramesAreReceivedWhenTheFdIsReadable) {
  TapPair p;
  stack::Stack s;
  s.add_interface(*p.tap);
  Runtime rt(s);
  rt.start();
  for (uint8_t i = 0; i < 5; ++i) {
    const auto f = test_frame(i);
    ASSERT_EQ(::write(p.peer, f.data(), f.size()), static_cast<ssize_t>(f.size()));
  }
  EXPECT_TRUE(wait_for(
      [&] { return on_stack(rt, [&](Instant) { return p.tap->stats().rx_packets; }) == 5; }));
  EXPECT_GE(rt.stats().irqs, 1u);
}

TEST(Runtime, TapBlockedByTheKernelResumesOnPollout) {
  TapPair p;
  stack::Stack s;
  s.add_interface(*p.tap);
  Runtime rt(s);
  rt.start();
  // More frames than the send buffer holds: writes return EAGAIN and the rest waits in the TX
  // ring until the peer reads.
  constexpr int kFrames = 60;
  const bool blocked = on_stack(rt, [&](Instant now) {
    for (int i = 0; i < kFrames; ++i)
      p.tap->xmit(now, p.pool->alloc_copy(test_frame(static_cast<uint8_t>(i))));
    return p.tap->tx_blocked();
  });
  ASSERT_TRUE(blocked) << "the socketpair never refused a write; the test proves nothing";
  // Nothing else happens on the stack: only EPOLLOUT can get the rest out.
  int got = 0;
  std::vector<uint8_t> buf(2048);
  const auto end = std::chrono::steady_clock::now() + 2s;
  while (got < kFrames && std::chrono::steady_clock::now() < end) {
    const ssize_t n = ::recv(p.peer, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n > 0) {
      EXPECT_EQ(buf[14], static_cast<uint8_t>(got)) << "frames out of order";
      ++got;
    } else {
      std::this_thread::sleep_for(1ms);
    }
  }
  EXPECT_EQ(got, kFrames);
  EXPECT_EQ(on_stack(rt, [&](Instant) { return p.tap->stats().tx_packets; }), uint64_t{kFrames});
}

}  // namespace
}  // namespace ustack::rt
