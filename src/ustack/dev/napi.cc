#include "ustack/dev/napi.h"

#include <fmt/format.h>

#include <algorithm>

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

void NapiContext::add(NetDevice& dev, int weight) {
  if (find(dev) == nullptr) devs_.push_back({&dev, std::max(1, weight), false});
  dev.set_irq_handler(this);
}

void NapiContext::remove(NetDevice& dev) {
  dev.set_irq_handler(nullptr);
  std::erase_if(devs_, [&](const Entry& e) { return e.dev == &dev; });
  std::erase(poll_list_, &dev);
}

void NapiContext::napi_schedule(NetDevice& dev) {
  Entry* e = find(dev);
  if (e == nullptr || e->listed) return;  // NAPI_STATE_SCHED: already on the list
  e->listed = true;
  poll_list_.push_back(&dev);
  ++stats_.schedules;
}

bool NapiContext::run(Instant now, RxSink& sink) {
  if (poll_list_.empty()) return false;
  ++stats_.rounds;
  int budget = budget_;
  while (!poll_list_.empty() && budget > 0) {
    NetDevice* dev = poll_list_.front();
    poll_list_.pop_front();
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
      poll_list_.push_back(dev);
    }
  }
  if (!poll_list_.empty()) {
    ++stats_.time_squeeze;
    if (tel_ != nullptr) {
      tel_->trace(now, Layer::kDev, "time_squeeze", 0, [&] {
        return fmt::format("netdev_budget {} spent, {} devices still scheduled", budget_,
                           poll_list_.size());
      });
    }
    return true;
  }
  return false;
}

}  // namespace ustack::dev
