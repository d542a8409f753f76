// tests/unit/rt/fake_device.h — a NetDevice whose "hardware" the test controls from outside
// the runtime thread: an eventfd the test makes readable (the medium has work) and a deadline
// for the device's own timer. It records what the runner did to it, so tests can check the
// runner contract (wait on fd() only while the interrupt is enabled; interrupt(now), then
// NAPI) and that timers fire on time without spinning.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ustack/dev/net_device.h"

namespace ustack::rt::test {

class FakeDevice final : public dev::NetDevice {
 public:
  FakeDevice() : efd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~FakeDevice() override { ::close(efd_); }

  // ---- test side (any thread) ----
  void make_readable() {
    const uint64_t one = 1;
    (void)!::write(efd_, &one, sizeof one);
  }
  // The device's timer: due at `t`, then every `period` (zero: once). Set before start().
  void set_timer(Instant t, Duration period = Duration::zero()) {
    deadline_ = t;
    period_ = period;
  }
  // false: the NAPI poll leaves the medium readable and the interrupt masked (a driver that
  // never completes); the runner must then stop waiting on the fd.
  bool rearm = true;

  std::atomic<int> interrupts{0};  // interrupt() calls
  std::atomic<int> polls{0};       // NAPI polls
  std::atomic<int> timers{0};      // on_timer() calls
  std::atomic<bool> wrong_thread{false};
  std::atomic<std::thread::id> runtime_thread{};
  std::mutex mu;
  std::vector<Instant> timer_at;  // `now` of each on_timer (guarded by mu)
  std::vector<Instant> due_at;    // the deadline each on_timer served (guarded by mu)

  // ---- NetDevice ----
  const std::string& name() const override { return name_; }
  wire::MacAddr mac() const override { return wire::MacAddr{{2, 0, 0, 0, 0, 9}}; }
  uint32_t mtu() const override { return 1500; }
  bool set_mtu(uint32_t) override { return false; }
  bool is_up() const override { return up_; }
  void set_up(bool up) override { up_ = up; }
  int ifindex() const override { return ifindex_; }
  void set_ifindex(int i) override { ifindex_ = i; }
  dev::XmitStatus xmit(Instant, PacketPtr) override { return dev::XmitStatus::kDropped; }
  int poll(Instant, int, dev::RxSink&) override {
    check_thread();
    ++polls;
    if (rearm) {
      uint64_t n;
      (void)!::read(efd_, &n, sizeof n);  // the "ring" is drained
      irq_enabled_ = true;                // napi_complete_done
    }
    return 0;
  }
  void set_irq_handler(dev::IrqHandler* h) override { handler_ = h; }
  bool irq_enabled() const override { return irq_enabled_; }
  void interrupt(Instant) override {
    check_thread();
    ++interrupts;
    if (!irq_enabled_ || handler_ == nullptr) return;
    irq_enabled_ = false;
    handler_->napi_schedule(*this);
  }
  int fd() const override { return efd_; }
  Instant next_deadline() const override { return deadline_; }
  void on_timer(Instant now) override {
    check_thread();
    if (now < deadline_) return;
    {
      std::lock_guard<std::mutex> g(mu);
      timer_at.push_back(now);
      due_at.push_back(deadline_);
    }
    ++timers;
    deadline_ = period_ > Duration::zero() ? deadline_ + period_ : Instant::never();
  }
  const dev::DevStats& stats() const override { return stats_; }
  const dev::RingStats& ring_stats() const override { return ring_stats_; }
  void attach(Telemetry&) override {}

 private:
  void check_thread() {
    const std::thread::id rt = runtime_thread.load();
    if (rt != std::thread::id() && rt != std::this_thread::get_id()) wrong_thread = true;
  }

  int efd_;
  std::string name_ = "fake0";
  bool up_ = false;
  int ifindex_ = 0;
  bool irq_enabled_ = true;
  dev::IrqHandler* handler_ = nullptr;
  Instant deadline_ = Instant::never();
  Duration period_ = Duration::zero();
  dev::DevStats stats_;
  dev::RingStats ring_stats_;
};

}  // namespace ustack::rt::test
