// sim/sim_thread.h — application threads on the virtual clock: the Scheduler that runs them
// one at a time under sim::World's loop, and SimEnv, the socket layer's SocketEnv for a host
// of the world (socket/env.h is the contract).
//
// An application "thread" is a real std::thread, so the same blocking code (accept, recv,
// connect, sigwaitinfo...) runs unchanged under rt::Runtime and under the World. But it only
// runs while it holds the world's baton: at any moment exactly one of {the world loop, one sim
// thread} runs, and every handoff goes through one mutex and per-party condition variables
// (so ThreadSanitizer sees the happens-before edges, and the stacks need no other lock). The
// OS scheduler therefore never decides anything: the order of events is a function of the
// program and the seed, and runs are deterministic (same events, byte-identical pcaps).
//
// A thread runs until it sleeps (SimEnv::sleep: a socket call that must wait, or
// World::sleep_for) or returns; then the loop has the baton again. A sleeping thread becomes
// runnable when a socket's wakeup callback wakes its Waiter, or when its deadline (a world
// event, counted in World::next_event) comes. Runnable threads run in FIFO order: at each
// instant the world polls its stacks until quiescent, then runs the threads that are runnable
// (each until it sleeps or finishes), polls again, and so on until neither has anything left;
// only then does the clock move. Consequences:
//   - A call that completes without waiting does not yield: a thread that never blocks (a
//     busy loop of non-blocking calls) keeps the baton forever and virtual time stalls (the
//     test hangs). Such a loop must block somewhere (a blocking recv, sleep_for...).
//   - Threads are not CPUs: they run in zero virtual time, whatever they compute, and run even
//     on a host that World::set_busy_until made busy.
//
// Teardown. ~World (Scheduler::cancel_all) ends threads that have not finished: a thread that
// never ran never runs; a thread asleep (blocked forever in accept, say) is resumed and its
// sleep throws sim::ThreadCancelled, which unwinds its stack (destructors only: no more
// application code runs, so nothing it captured by reference from a test that is already
// gone is touched) up to the thread's entry, where it is caught. This is pthread_cancel's
// forced unwind. From then on SimEnv::can_sleep() is false on that thread, so a socket call in
// a destructor returns at once (-EAGAIN) instead of sleeping. Application code must not
// swallow ThreadCancelled (catch (...) without rethrow).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ustack/base/time.h"
#include "ustack/socket/env.h"

namespace ustack::sim {

// Thrown out of a sleep when the world ends under a blocked thread (see the header comment).
// Deliberately not a std::exception: `catch (const std::exception&)` does not stop it.
struct ThreadCancelled {};

using SimThreadId = uint64_t;

class Scheduler {
 public:
  Scheduler() = default;
  ~Scheduler();  // cancel_all()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // ---- either side, holding the baton ---------------------------------------------------
  // A new thread, runnable now (at the end of the run queue). Callable from the loop's side
  // (outside World::run*) or from a sim thread. Ids count from 1 in spawn order.
  SimThreadId spawn(std::string name, std::function<void()> fn);
  // The calling OS thread is one of this scheduler's threads (then it holds the baton).
  bool on_sim_thread() const;
  // Makes w's sleeper runnable (a no-op if it is not asleep: w.woken covers that case).
  void wake(socket::Waiter& w);

  // ---- a sim thread ---------------------------------------------------------------------
  // Hands the baton back to the loop until wake(w) or `deadline` (Instant::never(): none);
  // returns at once if w.woken is already set. `now` is the world's clock: a deadline at or
  // before it makes the thread runnable again at this instant (a spurious return).
  void sleep(socket::Waiter& w, Instant deadline, Instant now);
  // False once the world is tearing this thread down (and off sim threads).
  bool can_sleep() const;

  // ---- the world loop -------------------------------------------------------------------
  // Sleepers whose deadline is at or before `now` become runnable (deadline order).
  void expire(Instant now);
  bool has_runnable() const { return !ready_.empty(); }
  // Runs the threads runnable when called, in FIFO order, each until it sleeps or finishes
  // (threads they wake or spawn wait for the next call). Returns how many ran.
  size_t run_ready();
  // `now` if a thread is runnable, else the earliest sleep deadline, else Instant::never().
  Instant next_deadline(Instant now) const;
  // Ends every unfinished thread (see the header comment) and joins it.
  void cancel_all();

  // ---- views ----------------------------------------------------------------------------
  size_t live() const { return threads_.size(); }  // spawned and not finished
  bool finished(SimThreadId id) const;
  uint64_t spawned() const { return next_id_ - 1; }
  uint64_t switches() const { return switches_; }  // baton handoffs to threads
  // "name (sleeping until 1.5s)" for every live thread, for failure messages.
  std::string describe() const;

 private:
  enum class State : uint8_t { kReady, kRunning, kSleeping, kDone };
  struct Thread {
    SimThreadId id = 0;
    std::string name;
    std::function<void()> fn;
    State state = State::kReady;
    bool started = false;
    bool go = false;         // guarded by mu_: the baton was handed to this thread
    bool cancelled = false;  // cancel_all: sleeps throw ThreadCancelled, can_sleep() is false
    std::condition_variable cv;
    std::thread os;
    std::thread::id os_id;  // set by the thread itself before it first waits for the baton
    socket::Waiter* waiter = nullptr;  // while sleeping
    Instant deadline = Instant::never();
    uint64_t sleep_seq = 0;  // key in sleepers_ with the deadline
  };

  void body(Thread* t);
  // Loop side: hand the baton to t and wait until it comes back.
  void run_one(Thread* t);
  // Thread side: give the baton back; if `park`, wait until it is handed back again.
  void yield_to_loop(Thread* t, bool park);
  void reap(Thread* t);

  std::mutex mu_;
  std::condition_variable loop_cv_;
  bool loop_go_ = false;       // guarded by mu_: the baton came back to the loop
  Thread* current_ = nullptr;  // the thread holding the baton (read only by the baton holder)
  bool cancelling_ = false;
  SimThreadId next_id_ = 1;
  uint64_t sleep_seq_ = 0;
  uint64_t switches_ = 0;
  std::vector<std::unique_ptr<Thread>> threads_;              // live threads, spawn order
  std::deque<Thread*> ready_;                                 // the run queue (FIFO)
  std::map<std::pair<Instant, uint64_t>, Thread*> sleepers_;  // finite deadlines, in order
};

// The socket layer's environment for one host of a World.
class SimEnv final : public socket::SocketEnv {
 public:
  // `now` is the world's clock (read at each call).
  SimEnv(Scheduler& sched, const Instant& now) : sched_(sched), now_(now) {}
  Instant now() override { return now_; }
  // The baton already serialises the world loop and every sim thread: nothing to lock.
  void lock() override {}
  void unlock() override {}
  bool can_sleep() override { return sched_.can_sleep(); }
  void sleep(socket::Waiter& w, Instant deadline) override { sched_.sleep(w, deadline, now_); }
  void wake(socket::Waiter& w) override { sched_.wake(w); }
  // The world polls every stack after each batch of thread runs and re-reads its deadlines
  // before moving the clock, so a call's changes are always seen: only counted.
  void kick() override { ++kicks_; }
  bool virtual_time() const override { return true; }
  uint64_t kicks() const { return kicks_; }

 private:
  Scheduler& sched_;
  const Instant& now_;
  uint64_t kicks_ = 0;
};

}  // namespace ustack::sim
