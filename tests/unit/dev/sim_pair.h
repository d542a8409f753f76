// tests/unit/dev/sim_pair.h — two SimNics on a cable, optionally wrapped in middleware, driven
// by a tiny discrete-event loop in virtual time (the part of sim::World that device tests need).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

#include "ustack/buf/pool.h"
#include "ustack/dev/napi.h"
#include "ustack/dev/sim_nic.h"

namespace ustack::dev::simtest {

// Keeps every frame handed up, with when and through which device it came.
struct Collect : RxSink {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<Instant> when;
  std::vector<NetDevice*> devs;
  void netif_receive(Instant now, NetDevice& dev, PacketPtr f) override {
    frames.emplace_back(f->data().begin(), f->data().end());
    when.push_back(now);
    devs.push_back(&dev);
  }
};

inline DeviceConfig nic_config(const char* name, uint8_t last, uint32_t ring = 64) {
  DeviceConfig c;
  c.name = name;
  c.mac = wire::MacAddr{{0x02, 0, 0, 0, 0, last}};
  c.rx_ring_size = ring;
  c.tx_ring_size = ring;
  return c;
}

class SimPair {
 public:
  using Wrap = std::function<std::unique_ptr<NetDevice>(std::unique_ptr<NetDevice>)>;

  // a and b are SimNics on one link; wrap_a/wrap_b (if set) put middleware around them.
  explicit SimPair(SimLinkConfig lc = {.latency = Duration::us(10)}, Wrap wrap_a = {},
                   Wrap wrap_b = {}, uint32_t ring = 64)
      : link_(lc) {
    auto na = std::make_unique<SimNic>(nic_config("a0", 1, ring), *pool_);
    auto nb = std::make_unique<SimNic>(nic_config("b0", 2, ring), *pool_);
    nic_a_ = na.get();
    nic_b_ = nb.get();
    link_.attach(*nic_a_);
    link_.attach(*nic_b_);
    a_ = wrap_a ? wrap_a(std::move(na)) : std::move(na);
    b_ = wrap_b ? wrap_b(std::move(nb)) : std::move(nb);
    a_->set_up(true);
    b_->set_up(true);
    napi_a_.add(*a_);
    napi_b_.add(*b_);
  }
  ~SimPair() {
    napi_a_.remove(*a_);
    napi_b_.remove(*b_);
  }

  NetDevice& a() { return *a_; }
  NetDevice& b() { return *b_; }
  SimNic& nic_a() { return *nic_a_; }
  SimNic& nic_b() { return *nic_b_; }
  BufferPool& pool() { return *pool_; }
  SimLink& link() { return link_; }
  NapiContext& napi_b() { return napi_b_; }
  Collect& rx_a() { return rx_a_; }
  Collect& rx_b() { return rx_b_; }
  Instant now() const { return now_; }

  PacketPtr make(std::span<const uint8_t> bytes) { return pool_->alloc_copy(bytes, 64); }

  // Run every event due up to `until` in time order, then stop at `until`.
  void run_until(Instant until) {
    for (int steps = 0;; ++steps) {
      ASSERT_LT(steps, 1'000'000) << "event loop does not make progress";
      const Instant next =
          earliest(link_.next_deadline(), earliest(a_->next_deadline(), b_->next_deadline()));
      if (next > until) break;
      step(next > now_ ? next : now_);
    }
    step(until);
  }
  void run_for(Duration d) { run_until(now_ + d); }

 private:
  void step(Instant t) {
    now_ = t;
    link_.advance(t);
    a_->on_timer(t);
    b_->on_timer(t);
    for (int i = 0; i < 10'000; ++i) {  // softirq until idle
      const bool more_a = napi_a_.run(t, rx_a_);
      const bool more_b = napi_b_.run(t, rx_b_);
      if (!more_a && !more_b) return;
    }
    ADD_FAILURE() << "NAPI never went idle";
  }

  PoolHandle pool_ = BufferPool::create();
  SimLink link_;
  SimNic* nic_a_ = nullptr;
  SimNic* nic_b_ = nullptr;
  std::unique_ptr<NetDevice> a_;
  std::unique_ptr<NetDevice> b_;
  NapiContext napi_a_;
  NapiContext napi_b_;
  Collect rx_a_;
  Collect rx_b_;
  Instant now_ = Instant::zero();
};

}  // namespace ustack::dev::simtest
