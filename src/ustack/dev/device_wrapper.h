// dev/device_wrapper.h — DeviceWrapper: a device that wraps another (middleware).
//
// Middleware sits between the stack and a driver and is a NetDevice itself, so it stacks in
// any order (smoltcp's phy middleware): PcapCapture(FaultInjector(TapDevice)) records what the
// stack sent and what survived the faults; FaultInjector(PcapCapture(...)) records the wire.
// This base forwards everything to the inner device; subclasses override what they change
// (usually xmit, poll, next_deadline, on_timer). The inner device's interrupt is re-routed so
// that NAPI schedules the wrapper, which is what the stack polls.
#pragma once

#include <memory>

#include "ustack/dev/net_device.h"

namespace ustack::dev {

class DeviceWrapper : public NetDevice, private IrqHandler {
 public:
  explicit DeviceWrapper(std::unique_ptr<NetDevice> inner) : inner_(std::move(inner)) {
    inner_->set_irq_handler(this);
  }
  ~DeviceWrapper() override { inner_->set_irq_handler(nullptr); }

  const std::string& name() const override { return inner_->name(); }
  wire::MacAddr mac() const override { return inner_->mac(); }
  uint32_t mtu() const override { return inner_->mtu(); }
  bool set_mtu(uint32_t mtu) override { return inner_->set_mtu(mtu); }
  bool is_up() const override { return inner_->is_up(); }
  void set_up(bool up) override { inner_->set_up(up); }
  int ifindex() const override { return inner_->ifindex(); }
  void set_ifindex(int ifindex) override { inner_->set_ifindex(ifindex); }
  uint32_t features() const override { return inner_->features(); }

  XmitStatus xmit(Instant now, PacketPtr frame) override {
    return inner_->xmit(now, std::move(frame));
  }
  int poll(Instant now, int budget, RxSink& sink) override {
    return inner_->poll(now, budget, sink);
  }

  void set_irq_handler(IrqHandler* h) override { outer_handler_ = h; }
  bool irq_enabled() const override { return inner_->irq_enabled(); }
  void interrupt(Instant now) override { inner_->interrupt(now); }
  int fd() const override { return inner_->fd(); }
  Instant next_deadline() const override { return inner_->next_deadline(); }
  void on_timer(Instant now) override { inner_->on_timer(now); }

  const DevStats& stats() const override { return inner_->stats(); }
  const RingStats& ring_stats() const override { return inner_->ring_stats(); }
  void attach(Telemetry& t) override {
    tel_ = &t;
    inner_->attach(t);
  }

  NetDevice& inner() { return *inner_; }
  const NetDevice& inner() const { return *inner_; }

 protected:
  // Schedule NAPI for this (outer) device, e.g. when delayed frames become due.
  void schedule_napi() {
    if (outer_handler_ != nullptr) outer_handler_->napi_schedule(*this);
  }
  Telemetry* tel() const { return tel_; }

 private:
  // The inner device's interrupt: NAPI must poll the outermost device.
  void napi_schedule(NetDevice& /*inner*/) override { schedule_napi(); }

  std::unique_ptr<NetDevice> inner_;
  IrqHandler* outer_handler_ = nullptr;
  Telemetry* tel_ = nullptr;
};

}  // namespace ustack::dev
