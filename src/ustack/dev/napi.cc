// dev/napi.cc — NapiContext: the poll list and net_rx_action's budgeted round.
#include "ustack/dev/napi.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "ustack/base/assert.h"

namespace ustack::dev {

NapiContext::~NapiContext() {
  for (Entry& e : devs_) e.dev->set_irq_handler(nullptr);
}

NapiContext::Entry* NapiContext::find(NetDevice& dev) {
  for (Entry& e : devs_) {
    if (e.dev == &dev) return &e;
  }
  return nullptr;
}

void NapiContext::list_push(NetDevice* dev) {
  USTACK_ASSERT(listed_ < poll_ring_.size(), "NapiContext: a device listed twice");
  poll_ring_[(head_ + listed_) % poll_ring_.size()] = dev;
  ++listed_;
}

NetDevice* NapiContext::list_pop() {
  NetDevice* dev = poll_ring_[head_];
  head_ = (head_ + 1) % poll_ring_.size();
  --listed_;
  return dev;
}

void NapiContext::list_rebuild(const NetDevice* except) {
  std::vector<NetDevice*> ring(devs_.size(), nullptr);
  size_t n = 0;
  while (listed_ > 0) {
    NetDevice* dev = list_pop();
    if (dev != except) ring[n++] = dev;
  }
  poll_ring_ = std::move(ring);
  head_ = 0;
  listed_ = n;
}

void NapiContext::add(NetDevice& dev, int weight) {
  if (find(dev) == nullptr) {
    devs_.push_back({&dev, std::max(1, weight), false});
    list_rebuild(nullptr);
  }
  dev.set_irq_handler(this);
}

void NapiContext::remove(NetDevice& dev) {
  dev.set_irq_handler(nullptr);
  if (find(dev) == nullptr) return;
  std::erase_if(devs_, [&](const Entry& e) { return e.dev == &dev; });
  list_rebuild(&dev);
}

void NapiContext::napi_schedule(NetDevice& dev) {
  Entry* e = find(dev);
  if (e == nullptr || e->listed) return;  // NAPI_STATE_SCHED: already on the list
  e->listed = true;
  list_push(&dev);
  ++stats_.schedules;
}

bool NapiContext::run(Instant now, RxSink& sink) {
  if (listed_ == 0) return false;
  ++stats_.rounds;
  int budget = budget_;
  while (listed_ > 0 && budget > 0) {
    NetDevice* dev = list_pop();
    Entry* e = find(*dev);
    const int weight = e->weight;
    e->listed = false;
    const int done = dev->poll(now, weight, sink);
    budget -= done;
    stats_.processed += static_cast<uint64_t>(done);
    // A device that used its whole weight keeps its interrupt masked: it goes back on the
    // list, at the tail so the other devices get their turn.
    if (done >= weight && !e->listed) {
      e->listed = true;
      list_push(dev);
    }
  }
  if (listed_ > 0) {
    ++stats_.time_squeeze;
    if (tel_ != nullptr) {
      tel_->trace(now, Layer::kDev, "time_squeeze", 0, [&] {
        return fmt::format("netdev_budget {} spent, {} devices still scheduled", budget_, listed_);
      });
    }
    return true;
  }
  return false;
}

}  // namespace ustack::dev
