// dev/desc_ring.h — a NIC descriptor ring (seed 004: "ring buffer 本身不存储数据 ... 队列里存放的是
// 描述符"): a fixed array of descriptors that point at buffers and are owned in turn by the
// driver and by the hardware.
//
// Three cursors walk the ring in order (clean <= hw <= use, modulo size):
//   use   driver posts a buffer and hands the descriptor to hardware (OWN bit set)
//   hw    hardware finishes the descriptor: RX filled it, TX sent it (DD bit set)
//   clean driver reclaims finished descriptors: RX hands the frame up, TX frees the buffer
// Every slot is in exactly one state, so "ring full" and "nothing to do" are exact.
#pragma once

#include <cstdint>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/buf/packet_buffer.h"

namespace ustack::dev {

enum class DescState : uint8_t {
  kFree,  // driver owns it, no buffer attached
  kHw,    // hardware owns it (RX: empty buffer posted; TX: frame waiting to be sent)
  kDone,  // hardware finished; driver must clean it
};

struct Descriptor {
  PacketPtr buf;
  uint32_t len = 0;  // bytes hardware wrote (RX) or will send (TX)
  DescState state = DescState::kFree;
};

class DescRing {
 public:
  explicit DescRing(uint32_t size) : slots_(size) {
    USTACK_ASSERT(size > 0, "descriptor ring of size 0");
  }

  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  uint32_t free_count() const { return size() - hw_count_ - done_count_; }
  uint32_t hw_count() const { return hw_count_; }
  uint32_t done_count() const { return done_count_; }

  // ---- driver side ----
  bool can_post() const { return slots_[use_].state == DescState::kFree; }
  // Attach a buffer to the next free descriptor and give it to hardware. Returns its slot.
  uint32_t post(PacketPtr buf, uint32_t len) {
    USTACK_ASSERT(can_post(), "posting to a full descriptor ring");
    const uint32_t slot = use_;
    Descriptor& d = slots_[slot];
    d.buf = std::move(buf);
    d.len = len;
    d.state = DescState::kHw;
    ++hw_count_;
    use_ = next(use_);
    return slot;
  }
  bool can_clean() const { return slots_[clean_].state == DescState::kDone; }
  uint32_t clean_slot() const { return clean_; }
  // Take the buffer back from the oldest finished descriptor; the slot becomes free.
  PacketPtr clean(uint32_t* len = nullptr) {
    USTACK_ASSERT(can_clean(), "cleaning a descriptor hardware has not finished");
    Descriptor& d = slots_[clean_];
    if (len != nullptr) *len = d.len;
    d.state = DescState::kFree;
    --done_count_;
    clean_ = next(clean_);
    return std::move(d.buf);
  }

  // Free every buffer and rewind (ndo_stop / ring resize). Returns how many descriptors
  // hardware still owned (for TX: frames that were never sent).
  uint32_t reset() {
    const uint32_t pending = hw_count_;
    for (Descriptor& d : slots_) d = Descriptor{};
    use_ = hw_ = clean_ = hw_count_ = done_count_ = 0;
    return pending;
  }

  // ---- hardware side ----
  // The descriptor hardware works on next, or null if the driver has given it none.
  Descriptor* hw_peek() {
    Descriptor& d = slots_[hw_];
    return d.state == DescState::kHw ? &d : nullptr;
  }
  uint32_t hw_slot() const { return hw_; }
  void hw_done(uint32_t len) {
    Descriptor& d = slots_[hw_];
    USTACK_ASSERT(d.state == DescState::kHw, "hardware finishing a descriptor it does not own");
    d.len = len;
    d.state = DescState::kDone;
    --hw_count_;
    ++done_count_;
    hw_ = next(hw_);
  }

 private:
  uint32_t next(uint32_t i) const { return i + 1 == size() ? 0 : i + 1; }
  std::vector<Descriptor> slots_;
  uint32_t use_ = 0;
  uint32_t hw_ = 0;
  uint32_t clean_ = 0;
  uint32_t hw_count_ = 0;
  uint32_t done_count_ = 0;
};

}  // namespace ustack::dev
