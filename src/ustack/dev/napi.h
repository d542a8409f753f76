// dev/napi.h — NapiContext: one stack's softirq poll loop (softnet_data + net_rx_action).
//
// Seed 000: "首先采用中断唤醒数据接收的服务程序，然后 poll 的方法来轮询数据". A device's interrupt
// calls napi_schedule(), which puts the device on the poll list; run() then polls listed
// devices in turn, each up to its weight (64), the whole round up to netdev_budget (300).
// A device that used its whole weight stays listed (moved to the tail, for fairness); one
// that did not has unmasked its interrupt and leaves the list. When the round's budget runs
// out with devices still listed, time_squeeze counts it and run() reports more work (in
// Linux, ksoftirqd takes over). Single-threaded: the stack's thread calls run().
//
// The poll list is a ring of one slot per added device (a device is listed at most once, as
// NAPI_STATE_SCHED guarantees in Linux, whose list is intrusive): scheduling and polling never
// allocate. (A std::deque here allocated and freed a node every 64 schedules.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ustack/dev/net_device.h"

namespace ustack::dev {

struct SoftnetStats {         // /proc/net/softnet_stat columns
  uint64_t processed = 0;     // frames handed up
  uint64_t time_squeeze = 0;  // rounds that ended with work left (budget exhausted)
  uint64_t rounds = 0;        // run() calls that polled anything
  uint64_t schedules = 0;     // napi_schedule() calls that listed a device
};

class NapiContext final : public IrqHandler {
 public:
  static constexpr int kDefaultWeight = 64;         // NAPI_POLL_WEIGHT
  static constexpr int kDefaultNetdevBudget = 300;  // net.core.netdev_budget

  explicit NapiContext(int netdev_budget = kDefaultNetdevBudget) : budget_(netdev_budget) {}
  ~NapiContext() override;

  // netif_napi_add: the device's interrupt now schedules it here.
  void add(NetDevice& dev, int weight = kDefaultWeight);
  void remove(NetDevice& dev);

  void napi_schedule(NetDevice& dev) override;
  // net_rx_action. Returns true if devices remain scheduled (call again).
  bool run(Instant now, RxSink& sink);
  bool has_work() const { return listed_ != 0; }
  const SoftnetStats& stats() const { return stats_; }
  void attach(Telemetry& t) { tel_ = &t; }

 private:
  struct Entry {
    NetDevice* dev;
    int weight;
    bool listed;
  };
  Entry* find(NetDevice& dev);
  // The poll list (FIFO) in poll_ring_[head_ .. head_ + listed_), modulo its size.
  void list_push(NetDevice* dev);
  NetDevice* list_pop();
  // Rebuilds the ring at devs_.size() slots without `except` (add/remove: not the data path).
  void list_rebuild(const NetDevice* except);

  int budget_;
  std::vector<Entry> devs_;
  std::vector<NetDevice*> poll_ring_;  // devs_.size() slots
  size_t head_ = 0;
  size_t listed_ = 0;
  SoftnetStats stats_;
  Telemetry* tel_ = nullptr;
};

}  // namespace ustack::dev
