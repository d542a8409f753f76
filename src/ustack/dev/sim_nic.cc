#include "ustack/dev/sim_nic.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace ustack::dev {

SimNic::~SimNic() {
  if (link_ != nullptr) link_->detach(*this);
}

void SimNic::hw_tx(Instant now) {
  bool finished = false;
  while (Descriptor* d = tx_ring_hw().hw_peek()) {
    if (link_ == nullptr) {
      tx_hw_finish(now, false, DropReason::kNoCarrier);
    } else {
      link_->transmit(now, *this, d->buf->clone());
      tx_hw_finish(now, true);
    }
    finished = true;
  }
  if (finished) raise_irq(now);  // TX completion interrupt: NAPI will reclaim the ring
}

SimLink::~SimLink() {
  for (Port& p : ports_) p.nic->link_ = nullptr;
}

void SimLink::attach(SimNic& nic) {
  if (nic.link_ == this) return;
  if (nic.link_ != nullptr) nic.link_->detach(nic);
  nic.link_ = this;
  ports_.push_back({&nic, Instant::zero()});
}

void SimLink::detach(SimNic& nic) {
  std::erase_if(ports_, [&](const Port& p) { return p.nic == &nic; });
  // Frames in flight from a detached NIC still arrive (they are on the wire already).
  for (InFlight& f : wire_) {
    if (f.from == &nic) f.from = nullptr;
  }
  nic.link_ = nullptr;
}

void SimLink::transmit(Instant now, SimNic& from, PacketPtr frame) {
  auto port =
      std::find_if(ports_.begin(), ports_.end(), [&](const Port& p) { return p.nic == &from; });
  if (port == ports_.end()) return;
  const size_t wire_len = std::max<size_t>(frame->len(), cfg_.pad_short_frames ? 60 : 0);
  Instant leaves = now;
  if (cfg_.bits_per_second != 0) {
    // Serialization: a port sends one frame at a time. +24 bytes: preamble, SFD, FCS, IFG.
    const Instant start = std::max(now, port->tx_free_at);
    const int64_t bits = static_cast<int64_t>(wire_len + 24) * 8;
    const int64_t ns = bits * 1'000'000'000 / static_cast<int64_t>(cfg_.bits_per_second);
    port->tx_free_at = start + Duration::ns(ns);
    leaves = port->tx_free_at;
  }
  ++stats_.frames;
  stats_.bytes += frame->len();
  wire_.push_back({leaves + cfg_.latency, seq_++, &from, std::move(frame)});
  std::push_heap(wire_.begin(), wire_.end(), Later{});
}

Instant SimLink::next_deadline() const {
  return wire_.empty() ? Instant::never() : wire_.front().arrival;
}

int SimLink::advance(Instant now) {
  int n = 0;
  while (!wire_.empty() && wire_.front().arrival <= now) {
    std::pop_heap(wire_.begin(), wire_.end(), Later{});
    InFlight f = std::move(wire_.back());
    wire_.pop_back();
    std::span<const uint8_t> bytes = f.frame->data();
    std::array<uint8_t, 60> padded{};
    if (cfg_.pad_short_frames && bytes.size() < padded.size()) {
      std::memcpy(padded.data(), bytes.data(), bytes.size());
      bytes = padded;
    }
    // Iterate by index: a receiver's NAPI work cannot run here (it is only scheduled), but
    // attach/detach from a callback would invalidate iterators.
    for (size_t i = 0; i < ports_.size(); ++i) {
      if (ports_[i].nic == f.from) continue;
      ports_[i].nic->link_deliver(f.arrival, bytes, f.frame->trace_id);
      ++stats_.deliveries;
    }
    ++n;
  }
  return n;
}

}  // namespace ustack::dev
