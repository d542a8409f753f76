// rt/runtime.h — Runtime: the real-time runner. One thread drives one Stack on the monotonic
// clock (the stack's "softirq context"), sleeping in epoll until a device, a timer or another
// thread has work for it.
//
// Ownership and threads:
//   - The Runtime does not own the Stack (nor its devices); both must outlive it.
//   - It owns a clock origin (Instant::zero() is the moment the Runtime was constructed; this
//     and the CLI are the only places that read a clock), an epoll fd, a timerfd and an
//     eventfd, all closed by the destructor.
//   - Before start() (or run_until_stopped()) the creating thread configures the Stack freely.
//     From start() until stop() returns, the runtime thread owns the Stack, with two ways in
//     for other threads: post() (run a closure on the runtime thread), and the socket API
//     (stack.sockets()), whose calls take the stack lock that the loop holds whenever it runs
//     the stack and releases while it sleeps in epoll_wait. A socket call that has to wait
//     sleeps on a condition variable with the lock released; the stack thread's wakeup
//     callbacks signal it. After stop() the creating thread owns the Stack again (thread
//     start and join order the accesses).
//
// The loop (one iteration; cf. net_rx_action driven by a hardirq, and the hrtimer):
//   1. epoll_wait on: the eventfd (post()ed closures), the timerfd (the stack's next deadline),
//      each device fd() >= 0 that waits for an interrupt, and fds added with watch_fd().
//   2. Events: run the posted closures with `now`; call dev.interrupt(now) for a ready device
//      (the driver masks its interrupt and schedules NAPI); run watch callbacks.
//   3. stack.poll(now) until it returns false (bounded per iteration, so a flood of frames
//      cannot starve posted work: after kMaxPollRounds the loop goes round without sleeping).
//   4. Device interest, following dev/tap.h's runner contract: wait for EPOLLIN only while the
//      device is up, its interrupt is enabled and its medium is not gone; add EPOLLOUT while a
//      TapDevice is tx_blocked() (the kernel refused a write; the interrupt then schedules NAPI,
//      whose poll retries the write). While the interrupt is masked NAPI owns the device: the
//      fd is not watched at all.
//   5. Arm the timerfd to stack.next_deadline(): at or before `now` (Instant::zero() included)
//      means go round again without sleeping; Instant::never() disarms it (sleep until an fd).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ustack/base/time.h"

namespace ustack::stack {
class Stack;
}
namespace ustack::dev {
class NetDevice;
class TapDevice;
}  // namespace ustack::dev

namespace ustack::rt {

// What the loop did (read from any thread; a snapshot, each field exact on its own).
struct RuntimeStats {
  uint64_t wakeups = 0;      // epoll_wait returns (sleeps and zero-timeout checks alike)
  uint64_t sleeps = 0;       // epoll_wait calls that were allowed to block
  uint64_t timer_fires = 0;  // the timerfd expired (a stack deadline came due)
  uint64_t posted = 0;       // post()ed closures run
  uint64_t irqs = 0;         // device fds found ready (dev.interrupt(now) calls)
  uint64_t stack_polls = 0;  // stack.poll(now) calls
};

class Runtime {
 public:
  // stack.poll() rounds per loop iteration before the loop checks its fds again.
  static constexpr int kMaxPollRounds = 64;

  explicit Runtime(stack::Stack& stack);
  ~Runtime();  // stop(); closes the fds; closures still queued are destroyed without running
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Spawns the runtime thread ("ustack-<node>"), which runs the loop until stop().
  void start();
  // Asks the loop to exit (eventfd wake-up) and, from another thread, joins the thread that
  // start() spawned. Idempotent; callable from any thread, also from inside a posted closure
  // or watch callback (then it only asks: the loop exits after the current iteration).
  void stop();
  // Runs the loop on the calling thread until stop() (the CLI's main thread).
  void run_until_stopped();

  // Runs fn(now) on the runtime thread, soon. Thread-safe; the order of posts is kept. Before
  // the loop runs, closures wait for it.
  void post(std::function<void(Instant)> fn);
  // Calls on_readable(now) on the runtime thread whenever `fd` is readable (level-triggered:
  // the callback must consume what made it readable). Call before the loop runs, or on the
  // runtime thread. The fd stays the caller's.
  void watch_fd(int fd, std::function<void(Instant)> on_readable);

  // Nanoseconds since the Runtime was constructed (CLOCK_MONOTONIC). Thread-safe.
  Instant now() const;
  bool on_runtime_thread() const { return loop_thread_.load() == std::this_thread::get_id(); }
  bool running() const { return loop_thread_.load() != std::thread::id(); }
  RuntimeStats stats() const;

 private:
  // A device fd and what the loop currently waits for on it.
  struct DevWatch {
    dev::NetDevice* dev;
    dev::TapDevice* tap;  // the TapDevice under any middleware, or nullptr
    int fd;
    uint32_t events;  // registered epoll events (0: not in the epoll set)
  };
  struct FdWatch {
    int fd;
    std::function<void(Instant)> fn;
  };

  void loop();
  void handle(uint64_t tag, uint32_t events, Instant now);
  void run_posted(Instant now);
  void sync_devices();
  void arm_timer(Instant deadline);
  void epoll_set(int op, int fd, uint32_t events, uint64_t tag);

  class Env;  // the socket layer's SocketEnv for this runner (runtime.cc)

  stack::Stack& stack_;
  int64_t origin_ns_;  // CLOCK_MONOTONIC at construction
  std::unique_ptr<Env> env_;
  int epfd_ = -1;
  int timerfd_ = -1;
  int eventfd_ = -1;
  Instant armed_ = Instant::never();  // what the timerfd is set to (never: disarmed)
  std::vector<DevWatch> devs_;
  std::vector<FdWatch> watches_;

  std::mutex post_mu_;
  std::vector<std::function<void(Instant)>> posted_;   // guarded by post_mu_
  std::vector<std::function<void(Instant)>> running_;  // loop thread only: the batch being run

  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> loop_thread_{};
  std::mutex join_mu_;
  std::thread thread_;  // guarded by join_mu_

  struct AtomicStats {
    std::atomic<uint64_t> wakeups{0}, sleeps{0}, timer_fires{0}, posted{0}, irqs{0}, stack_polls{0};
  } stats_;
};

}  // namespace ustack::rt
