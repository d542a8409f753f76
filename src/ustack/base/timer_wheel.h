// base/timer_wheel.h — hierarchical timing wheel with intrusive timers (TCP's RTO, delayed ACK,
// persist, keepalive, TIME-WAIT... across 100 000 connections).
//
// Shape of Linux's classic timer wheel (kernel/timer.c before 4.8: tv1..tv5 with cascading):
// level 0 has 256 slots of one tick, levels 1..5 have 64 slots each 64 times coarser, so the
// wheel spans 2^38 ticks (8.7 years at 1 ms). Expiries further out sit in the top level and are
// re-cascaded until they come into range; Instant::never() sits on a list of its own.
//
// Unlike Linux (which fires a whole jiffy's bucket, possibly early relative to the exact
// expiry), a timer here fires exactly when advance(now) reaches its expiry: never earlier, and at
// the first advance(now) with now >= expires. Within a tick, due timers fire in (expires, arm
// order), so runs are deterministic. next_deadline() is exact, not rounded to the tick: it is
// cached and recomputed lazily (only after the earliest timer fired or was cancelled) by scanning
// the first non-empty slot of each level.
//
// The wheel never reads a clock: time comes in through advance(now).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "ustack/base/time.h"

namespace ustack {

class TimerWheel;

// Embedded in its owner (cf. Linux struct timer_list). Not copyable or movable: the wheel links
// to it. Destroying an armed TimerNode cancels it, so owners may die with timers armed.
class TimerNode {
 public:
  // Called with the ctx given at construction/bind() and the `now` of the advance() firing it.
  using Callback = void (*)(void* ctx, Instant now);

  TimerNode() = default;
  TimerNode(Callback fn, void* ctx) : fn_(fn), ctx_(ctx) {}
  ~TimerNode();
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;

  void set_callback(Callback fn, void* ctx) {
    fn_ = fn;
    ctx_ = ctx;
  }
  // Binds a member function `void T::f(Instant now)`: node.bind<&Conn::on_rto>(this).
  template <auto Method, class T>
  void bind(T* obj) {
    set_callback([](void* c, Instant now) { (static_cast<T*>(c)->*Method)(now); }, obj);
  }

  bool armed() const { return wheel_ != nullptr; }
  // The expiry of the last arm() (meaningful while armed()).
  Instant expires() const { return expires_; }

 private:
  friend class TimerWheel;
  // hlist links (Linux include/linux/list.h): pprev_ points at the previous node's next_ or at
  // the slot head, so unlinking needs no head and heads are one pointer.
  TimerNode* next_ = nullptr;
  TimerNode** pprev_ = nullptr;
  Instant expires_;
  Callback fn_ = nullptr;
  void* ctx_ = nullptr;
  TimerWheel* wheel_ = nullptr;  // non-null iff armed
  // Arm order, the tie-break among equal expiries, and the list that holds the node, in one
  // word (every TCP connection embeds three nodes). 54 bits of arms last 5 years at 10^8 arms
  // a second; slot_ needs 10 bits (static_assert in TimerWheel).
  uint64_t seq_ : 54 = 0;
  uint64_t slot_ : 10 = 0;  // which list holds the node (TimerWheel::kSlots etc.)
};

class TimerWheel {
 public:
  explicit TimerWheel(Duration granularity = Duration::ms(1), Instant start = Instant::zero());
  ~TimerWheel();  // disarms every timer still armed (their owners may outlive the wheel)
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms `t` to fire at `expires` (mod_timer). Re-arming an armed timer moves it, also from
  // another wheel. An expiry at or before the current time fires on the next advance();
  // Instant::never() keeps the timer armed but it never fires.
  void arm(TimerNode& t, Instant expires);
  // Disarms `t` if armed (del_timer), O(1). Safe from callbacks, also on timers due in the same
  // advance() (they then do not fire).
  void cancel(TimerNode& t);
  // Number of armed timers (including those armed for never()).
  size_t armed() const { return count_; }

  // Fires, in expiry order, every timer with expires <= now, including those armed by callbacks
  // during this call with expires <= now (a callback re-arming itself at <= now forever loops;
  // one armed behind the tick being fired runs right after the current batch of that tick).
  // Callbacks may arm and cancel any timer, including their own. Not reentrant.
  void advance(Instant now);
  // The earliest expiry among armed timers, exactly; Instant::never() if none.
  Instant next_deadline() const;

  Duration granularity() const { return granularity_; }

 private:
  static constexpr int kLevels = 6;
  static constexpr int kL0Bits = 8;  // level 0: 256 slots of one tick
  static constexpr int kLnBits = 6;  // levels 1..5: 64 slots
  static constexpr uint32_t kL0Size = 1u << kL0Bits;
  static constexpr uint32_t kLnSize = 1u << kLnBits;
  static constexpr uint32_t kSlots = kL0Size + (kLevels - 1) * kLnSize;
  static constexpr uint32_t kNeverList = kSlots;     // slot_ of timers armed for never()
  static constexpr uint32_t kExpiring = kSlots + 1;  // slot_ of timers detached to fire
  static_assert(kExpiring < (1u << 10), "TimerNode::slot_ is 10 bits");
  // Ticks ahead the wheel can hold; further expiries are clamped into the top level.
  static constexpr uint64_t kMaxDelta = (uint64_t{1} << (kL0Bits + (kLevels - 1) * kLnBits)) - 1;

  static constexpr int shift(int level) { return level == 0 ? 0 : kL0Bits + (level - 1) * kLnBits; }
  static constexpr uint32_t base(int level) {
    return level == 0 ? 0 : kL0Size + (level - 1) * kLnSize;
  }

  uint64_t tick_of(Instant t) const;
  void place(TimerNode& t);  // links into the slot for expires_ relative to clk_
  void link(TimerNode& t, uint32_t slot);
  void unlink(TimerNode& t);
  void run_tick(Instant now, bool all);  // fires the due timers of slot clk_
  void cascade(int level);
  uint64_t next_event_tick() const;  // earliest tick > clk_ with a slot to fire or cascade
  // First non-empty slot of `level` in tick order, as a distance 0..255 (level 0, in ticks
  // from `from`) or 1..64 (levels >= 1, in blocks after `from`'s block); -1 if empty.
  int first_slot(int level, uint64_t from) const;
  void recompute_earliest() const;
  void note_removed(const TimerNode& t) {
    if (t.expires_ == earliest_) earliest_valid_ = false;
  }

  Duration granularity_;
  Instant start_;
  uint64_t clk_ = 0;  // the current tick: every earlier tick has been fired
  uint64_t seq_ = 0;
  size_t count_ = 0;
  bool in_advance_ = false;
  std::array<TimerNode*, kSlots + 2> heads_{};  // wheel slots, never list, expiring list
  std::array<uint64_t, kL0Size / 64> l0_bits_{};
  std::array<uint64_t, kLevels> ln_bits_{};  // [1..5] used
  // Lower bound of each level-0 slot's expiries (exact after a walk), so advance() to a time
  // before a tick's first expiry does not walk the tick's list.
  std::array<Instant, kL0Size> l0_min_;
  mutable Instant earliest_ = Instant::never();
  mutable bool earliest_valid_ = true;
};

}  // namespace ustack
