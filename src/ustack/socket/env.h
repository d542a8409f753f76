// socket/env.h — what the socket layer needs from whoever drives its stack: a clock, the stack
// lock, and a way to put a caller to sleep and wake it (Linux's wait queues and schedule()).
//
// The protocol core below never sleeps and never reads a clock. The socket layer is where
// application calls meet it, and an application call may have to wait (a blocking recv, an
// epoll_wait with a timeout). How a wait is done depends on the runner:
//   - rt::Runtime (real time): application threads take the stack lock, and sleep on a
//     condition variable that the stack thread signals from a socket's wakeup callback;
//     deadlines are CLOCK_MONOTONIC.
//   - sim::World (virtual time): application "threads" are OS threads that run one at a time,
//     handing a baton back to the world when they sleep; a deadline is a world event. Runs
//     stay deterministic.
//   - ManualEnv (below): tests that drive Stack::poll themselves on one thread. Nothing can
//     sleep: a blocking call that would wait returns EAGAIN after counting it.
//
// Waiter / WaitQueue are wait_queue_entry / wait_queue_head: a Waiter lives on the sleeping
// caller's stack for one wait; it is linked into one queue (a blocking call) or many (poll and
// select link one WaitLink per socket, as poll_wqueues does). Waking a queue wakes every
// waiter on it (no exclusive wakeups: a woken waiter re-checks and sleeps again).
#pragma once

#include <cstdint>

#include "ustack/base/time.h"

namespace ustack::socket {

struct Waiter {
  bool woken = false;
  void* runner = nullptr;  // the runner's state for this wait (its condition variable, thread)
};

// One registration of a waiter on a WaitQueue (intrusive, no allocation).
struct WaitLink {
  WaitLink* prev = nullptr;
  WaitLink* next = nullptr;
  Waiter* waiter = nullptr;
  bool linked() const { return prev != nullptr; }
};

class SocketEnv;

class WaitQueue {
 public:
  WaitQueue() { head_.prev = head_.next = &head_; }
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  ~WaitQueue();  // unlinks whoever is still queued (their wait ends by deadline or re-check)

  bool empty() const { return head_.next == &head_; }
  void add(WaitLink& l, Waiter& w);
  static void remove(WaitLink& l);
  void wake_all(SocketEnv& env);  // sets `woken` and asks the env to wake each waiter

 private:
  WaitLink head_;
};

// Adds a WaitLink for `w` on `q` for as long as the guard lives (the common case: one queue).
class ScopedWait {
 public:
  ScopedWait(WaitQueue& q, Waiter& w) { q.add(link_, w); }
  ~ScopedWait() { WaitQueue::remove(link_); }
  ScopedWait(const ScopedWait&) = delete;
  ScopedWait& operator=(const ScopedWait&) = delete;

 private:
  WaitLink link_;
};

class SocketEnv {
 public:
  virtual ~SocketEnv() = default;

  // The stack's clock (the same one Stack::poll gets).
  virtual Instant now() = 0;

  // The stack lock (recursive: a wakeup callback running on the stack thread may call the
  // socket API). Every socket call holds it; the stack's driver holds it while it runs the
  // stack. BasicLockable, so std::lock_guard works.
  virtual void lock() = 0;
  virtual void unlock() = 0;

  // Whether the calling context may sleep. False on the stack's own thread (sleeping there
  // would stop the very thing that must wake it) and in single-threaded tests.
  virtual bool can_sleep() = 0;
  // Called with the lock held (once, not recursively). Releases it, sleeps until wake(w) (or
  // `w.woken` is already true) or `deadline` (Instant::never(): no deadline), re-takes it.
  // Spurious returns are allowed: callers re-check their condition.
  virtual void sleep(Waiter& w, Instant deadline) = 0;
  // Called with the lock held (usually on the stack thread): make w's sleeper runnable.
  virtual void wake(Waiter& w) = 0;

  // An application call changed the stack (queued data, armed a timer, closed a socket):
  // the driver must run Stack::poll soon and re-read next_deadline(). Called with the lock held.
  virtual void kick() = 0;

  // True under a virtual clock (sim::World): waits that would block the OS thread outside the
  // stack (sigwaitinfo) must yield to the runner instead.
  virtual bool virtual_time() const { return false; }
};

// Single-threaded driving (unit tests, benchmarks that call Stack::poll themselves): the clock
// is whatever the driver last set; nothing sleeps.
class ManualEnv final : public SocketEnv {
 public:
  void set_now(Instant t) { now_ = t; }
  Instant now() override { return now_; }
  void lock() override {}
  void unlock() override {}
  bool can_sleep() override { return false; }
  void sleep(Waiter&, Instant) override {}
  void wake(Waiter&) override {}
  void kick() override { ++kicks_; }
  uint64_t kicks() const { return kicks_; }

 private:
  Instant now_ = Instant::zero();
  uint64_t kicks_ = 0;
};

}  // namespace ustack::socket
