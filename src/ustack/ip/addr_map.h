// ip/addr_map.h — AddrMap<V>: an open-addressing hash map keyed by a 32-bit IPv4 address (or
// a masked prefix), for the FIB's exact-match tables.
//
// Linear probing in a power-of-two slot array kept at most half full, Fibonacci hashing of the
// key, and backward-shift deletion (no tombstones, so a lookup never walks more than the
// cluster it lands in). find() never allocates; insert() grows the array (control path only).
// Values move when the array grows or a neighbour is deleted: pointers returned by find() are
// valid until the next insert() or erase().
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace ustack::ip {

template <class V>
class AddrMap {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  V* find(uint32_t key) { return const_cast<V*>(static_cast<const AddrMap*>(this)->find(key)); }
  const V* find(uint32_t key) const {
    if (size_ == 0) return nullptr;
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.val;
    }
  }

  // The value for `key`, default-constructed if absent.
  V& operator[](uint32_t key) {
    if (V* v = find(key)) return *v;
    if ((size_ + 1) * 2 > slots_.size()) grow();
    size_t i = home(key);
    while (slots_[i].used) i = (i + 1) & mask_;
    slots_[i].used = true;
    slots_[i].key = key;
    slots_[i].val = V();
    ++size_;
    return slots_[i].val;
  }

  bool erase(uint32_t key) {
    if (size_ == 0) return false;
    size_t i = home(key);
    while (true) {
      if (!slots_[i].used) return false;
      if (slots_[i].key == key) break;
      i = (i + 1) & mask_;
    }
    // Backward-shift deletion (Knuth 6.4 algorithm R): pull later members of the cluster into
    // the hole unless that would move them before their home slot.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; slots_[j].used; j = (j + 1) & mask_) {
      const size_t h = home(slots_[j].key);
      // Move j into the hole if its home is not cyclically in (hole, j].
      const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (stays) continue;
      slots_[hole].key = slots_[j].key;
      slots_[hole].val = std::move(slots_[j].val);
      hole = j;
    }
    slots_[hole].used = false;
    slots_[hole].val = V();
    --size_;
    return true;
  }

  // Calls fn(key, value) for every entry, in slot order (unspecified).
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.used) fn(s.key, s.val);
  }
  template <class Fn>
  void for_each(Fn&& fn) {
    for (Slot& s : slots_)
      if (s.used) fn(s.key, s.val);
  }

  void clear() {
    slots_.clear();
    mask_ = 0;
    size_ = 0;
  }

 private:
  struct Slot {
    uint32_t key = 0;
    bool used = false;
    V val{};
  };

  size_t home(uint32_t key) const {
    // Fibonacci hashing: the high bits of key * 2^64/phi, so prefixes whose low bits are all
    // zero still spread over the whole table.
    return static_cast<size_t>((uint64_t{key} * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    const size_t n = old.empty() ? 8 : old.size() * 2;
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(n));
    size_ = 0;
    for (Slot& s : old) {
      if (!s.used) continue;
      size_t i = home(s.key);
      while (slots_[i].used) i = (i + 1) & mask_;
      slots_[i].used = true;
      slots_[i].key = s.key;
      slots_[i].val = std::move(s.val);
      ++size_;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  unsigned shift_ = 63;
  size_t size_ = 0;
};

}  // namespace ustack::ip
