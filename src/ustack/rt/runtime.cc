// rt/runtime.cc — the real-time runner's loop: epoll over an eventfd, a timerfd and the
// devices' fds; the monotonic clock; thread start/stop.
#include "ustack/rt/runtime.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <string>

#include "ustack/base/assert.h"
#include "ustack/dev/device_wrapper.h"
#include "ustack/dev/tap.h"
#include "ustack/stack/stack.h"

namespace ustack::rt {
namespace {

// epoll_event.data.u64: the kind in the high half, an index in the low half.
enum Kind : uint64_t { kEventFd = 1, kTimerFd = 2, kDevice = 3, kWatch = 4 };
constexpr uint64_t tag(Kind k, size_t index = 0) { return (uint64_t{k} << 32) | index; }

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The TapDevice at the bottom of a middleware stack (PcapCapture(FaultInjector(tap))), whose
// tx_blocked()/medium_gone() the runner contract needs; nullptr for other drivers.
dev::TapDevice* find_tap(dev::NetDevice& d) {
  dev::NetDevice* cur = &d;
  while (auto* w = dynamic_cast<dev::DeviceWrapper*>(cur)) cur = &w->inner();
  return dynamic_cast<dev::TapDevice*>(cur);
}

void bump(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

// The socket layer's view of this runner (socket/env.h): the stack lock is `mu_`, held by the
// loop whenever it runs the stack and by application threads inside a socket call. A sleeping
// application thread waits on a condition variable that lives on its own stack (the Waiter's
// runner pointer), with the deadline on CLOCK_MONOTONIC (steady_clock on Linux).
class Runtime::Env final : public socket::SocketEnv {
 public:
  explicit Env(Runtime& rt) : rt_(rt) {}
  Instant now() override { return rt_.now(); }
  void lock() override { mu_.lock(); }
  void unlock() override { mu_.unlock(); }
  bool can_sleep() override { return !rt_.on_runtime_thread(); }
  void sleep(socket::Waiter& w, Instant deadline) override {
    std::condition_variable_any cv;
    w.runner = &cv;
    if (!w.woken) {
      if (deadline == Instant::never()) {
        cv.wait(mu_);
      } else {
        const auto at = std::chrono::steady_clock::time_point(
            std::chrono::nanoseconds(rt_.origin_ns_ + deadline.nanos()));
        cv.wait_until(mu_, at);
      }
    }
    w.runner = nullptr;
  }
  void wake(socket::Waiter& w) override {
    if (w.runner != nullptr) static_cast<std::condition_variable_any*>(w.runner)->notify_one();
  }
  void kick() override {
    // Only a loop asleep in epoll_wait needs the eventfd: a running one re-reads the stack's
    // deadline before it sleeps (it needs this lock to get there).
    if (sleeping && !kicked) {
      kicked = true;
      const uint64_t one = 1;
      (void)!::write(rt_.eventfd_, &one, sizeof one);
    }
  }

  std::recursive_mutex mu_;
  bool sleeping = false;  // guarded by mu_: the loop is (about to be) in a blocking epoll_wait
  bool kicked = false;    // guarded by mu_: the eventfd was written since

 private:
  Runtime& rt_;
};

Runtime::Runtime(stack::Stack& stack)
    : stack_(stack), origin_ns_(monotonic_ns()), env_(std::make_unique<Env>(*this)) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  timerfd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  eventfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  USTACK_ASSERT(epfd_ >= 0 && timerfd_ >= 0 && eventfd_ >= 0,
                "rt::Runtime: cannot create epoll/timerfd/eventfd (out of file descriptors?)");
  epoll_set(EPOLL_CTL_ADD, eventfd_, EPOLLIN, tag(kEventFd));
  epoll_set(EPOLL_CTL_ADD, timerfd_, EPOLLIN, tag(kTimerFd));
  stack_.sockets().set_env(env_.get());
}

Runtime::~Runtime() {
  stop();
  stack_.sockets().set_env(nullptr);
  std::lock_guard<std::mutex> g(join_mu_);
  if (thread_.joinable()) thread_.join();  // stop() from the loop thread did not join
  ::close(epfd_);
  ::close(timerfd_);
  ::close(eventfd_);
}

void Runtime::epoll_set(int op, int fd, uint32_t events, uint64_t t) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = t;
  const int rc = ::epoll_ctl(epfd_, op, fd, &ev);
  // EBADF/ENOENT: a device closed its fd under us (a deleted TAP); it is no longer watched.
  USTACK_ASSERT(rc == 0 || errno == EBADF || errno == ENOENT || errno == EPERM,
                "rt::Runtime: epoll_ctl failed");
}

Instant Runtime::now() const { return Instant::from_nanos(monotonic_ns() - origin_ns_); }

RuntimeStats Runtime::stats() const {
  auto r = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return RuntimeStats{r(stats_.wakeups), r(stats_.sleeps), r(stats_.timer_fires),
                      r(stats_.posted),  r(stats_.irqs),   r(stats_.stack_polls)};
}

void Runtime::start() {
  std::lock_guard<std::mutex> g(join_mu_);
  USTACK_ASSERT(!thread_.joinable() && !running(), "rt::Runtime::start: already running");
  stop_.store(false);
  thread_ = std::thread([this] {
    // Thread names are at most 15 bytes (TASK_COMM_LEN).
    const std::string name = ("ustack-" + stack_.name()).substr(0, 15);
    ::pthread_setname_np(::pthread_self(), name.c_str());
    loop();
  });
}

void Runtime::stop() {
  stop_.store(true);
  const uint64_t one = 1;
  (void)!::write(eventfd_, &one, sizeof one);  // wake the loop (EAGAIN: already woken)
  if (on_runtime_thread()) return;             // a thread cannot join itself
  std::lock_guard<std::mutex> g(join_mu_);
  if (thread_.joinable()) thread_.join();
}

void Runtime::run_until_stopped() {
  USTACK_ASSERT(!running(), "rt::Runtime::run_until_stopped: already running");
  loop();
}

void Runtime::post(std::function<void(Instant)> fn) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> g(post_mu_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // One wake-up per batch: a closure queued behind another is found by the same drain (the
  // loop reads the eventfd before it takes the queue, so no closure is left behind).
  if (was_empty) {
    const uint64_t one = 1;
    (void)!::write(eventfd_, &one, sizeof one);
  }
}

void Runtime::watch_fd(int fd, std::function<void(Instant)> on_readable) {
  USTACK_ASSERT(!running() || on_runtime_thread(),
                "rt::Runtime::watch_fd: call before the loop runs or on the runtime thread");
  watches_.push_back(FdWatch{fd, std::move(on_readable)});
  epoll_set(EPOLL_CTL_ADD, fd, EPOLLIN, tag(kWatch, watches_.size() - 1));
}

void Runtime::run_posted(Instant now) {
  {
    std::lock_guard<std::mutex> g(post_mu_);
    running_.swap(posted_);
  }
  for (auto& fn : running_) {
    bump(stats_.posted);
    fn(now);
  }
  running_.clear();  // keeps its capacity: no allocation per batch once warm
}

void Runtime::handle(uint64_t t, uint32_t events, Instant now) {
  const size_t index = t & 0xffff'ffffu;
  switch (static_cast<Kind>(t >> 32)) {
    case kEventFd: {
      uint64_t n;
      (void)!::read(eventfd_, &n, sizeof n);  // reset the counter before taking the queue
      run_posted(now);
      break;
    }
    case kTimerFd: {
      uint64_t n;
      if (::read(timerfd_, &n, sizeof n) == sizeof n) bump(stats_.timer_fires);
      armed_ = Instant::never();  // a one-shot timer: it is disarmed once it expired
      break;
    }
    case kDevice:
      if (index < devs_.size()) {
        // Readable, writable after tx_blocked, or an error (a deleted TAP): the interrupt
        // schedules NAPI and the poll finds out which.
        (void)events;
        bump(stats_.irqs);
        devs_[index].dev->interrupt(now);
      }
      break;
    case kWatch:
      if (index < watches_.size()) watches_[index].fn(now);
      break;
  }
}

// Rebuilds the device list when interfaces were added, then sets each device's epoll interest
// from its state (step 4 of the loop).
void Runtime::sync_devices() {
  const auto& ifs = stack_.interfaces().all();
  if (ifs.size() != devs_.size()) {
    for (const DevWatch& w : devs_)
      if (w.events != 0) epoll_set(EPOLL_CTL_DEL, w.fd, 0, 0);
    devs_.clear();
    for (const auto& i : ifs) devs_.push_back(DevWatch{&i->dev(), find_tap(i->dev()), -1, 0});
  }
  for (size_t k = 0; k < devs_.size(); ++k) {
    DevWatch& w = devs_[k];
    const int fd = w.dev->fd();
    uint32_t want = 0;
    if (fd >= 0 && w.dev->is_up() && w.dev->irq_enabled() &&
        (w.tap == nullptr || !w.tap->medium_gone())) {
      want = EPOLLIN;
      if (w.tap != nullptr && w.tap->tx_blocked()) want |= EPOLLOUT;
    }
    if (want == w.events && fd == w.fd) continue;
    if (w.events != 0) epoll_set(EPOLL_CTL_DEL, w.fd, 0, 0);
    if (want != 0) epoll_set(EPOLL_CTL_ADD, fd, want, tag(kDevice, k));
    w.fd = fd;
    w.events = want;
  }
}

void Runtime::arm_timer(Instant deadline) {
  if (deadline == armed_) return;
  itimerspec its{};  // all zero: disarm
  if (deadline != Instant::never()) {
    const int64_t abs = origin_ns_ + deadline.nanos();
    its.it_value.tv_sec = abs / 1'000'000'000;
    its.it_value.tv_nsec = abs % 1'000'000'000;
  }
  ::timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &its, nullptr);
  armed_ = deadline;
}

void Runtime::loop() {
  loop_thread_.store(std::this_thread::get_id());
  std::array<epoll_event, 32> evs;
  bool sleep = false;  // the first round only checks what is already pending
  // The stack lock, held except while the loop waits in epoll_wait (application threads'
  // socket calls run in those gaps, and while the loop waits for the lock).
  std::unique_lock<std::recursive_mutex> lk(env_->mu_);
  while (!stop_.load(std::memory_order_relaxed)) {
    if (sleep) bump(stats_.sleeps);
    env_->sleeping = sleep;
    lk.unlock();
    const int n = ::epoll_wait(epfd_, evs.data(), static_cast<int>(evs.size()), sleep ? -1 : 0);
    lk.lock();
    env_->sleeping = false;
    env_->kicked = false;
    bump(stats_.wakeups);
    Instant now = this->now();
    for (int k = 0; k < n; ++k) handle(evs[static_cast<size_t>(k)].data.u64, evs[k].events, now);
    if (stop_.load(std::memory_order_relaxed)) break;

    // Softirq: until the stack has nothing left to do at `now` (bounded, see the header).
    bool more = true;
    for (int round = 0; more && round < kMaxPollRounds; ++round) {
      bump(stats_.stack_polls);
      more = stack_.poll(now);
      if (more) now = this->now();
    }

    sync_devices();
    const Instant deadline = stack_.next_deadline();
    if (more || deadline <= this->now()) {
      sleep = false;  // work is due already: look at the fds without blocking, go round
      continue;
    }
    arm_timer(deadline);
    sleep = true;
  }
  for (const DevWatch& w : devs_)
    if (w.events != 0) epoll_set(EPOLL_CTL_DEL, w.fd, 0, 0);
  devs_.clear();
  arm_timer(Instant::never());
  loop_thread_.store(std::thread::id());
}

}  // namespace ustack::rt
