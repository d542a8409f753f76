// base/timer_wheel.cc — the hierarchical timing wheel of timer_wheel.h.
//
// Invariants (clk_ = current tick, s = shift(level)):
//   level 0 holds ticks [clk_, clk_ + 255], slot tick & 255;
//   level l >= 1 holds ticks whose block tick >> s lies in (clk_ >> s, (clk_ >> s) + 64], slot
//   (tick >> s) & 63; when clk_ reaches a block's first tick, that block's slot is cascaded down
//   (Linux's cascade() in the pre-4.8 kernel/timer.c).
// advance() does not step tick by tick: it jumps to the next tick with a level-0 slot to fire or
// a higher slot to cascade, so a quiet two-hour gap costs a few bitmap scans.
#include "ustack/base/timer_wheel.h"

#include <bit>
#include <limits>

#include "ustack/base/assert.h"

namespace ustack {

namespace {

bool fires_before(Instant a_exp, uint64_t a_seq, Instant b_exp, uint64_t b_seq) {
  return a_exp < b_exp || (a_exp == b_exp && a_seq < b_seq);
}

}  // namespace

TimerNode::~TimerNode() {
  if (wheel_ != nullptr) wheel_->cancel(*this);
}

TimerWheel::TimerWheel(Duration granularity, Instant start)
    : granularity_(granularity), start_(start) {
  l0_min_.fill(Instant::never());
  USTACK_ASSERT(granularity.nanos() > 0, "timer wheel granularity must be positive");
}

TimerWheel::~TimerWheel() {
  for (TimerNode*& head : heads_) {
    for (TimerNode* n = head; n != nullptr;) {
      TimerNode* next = n->next_;
      n->next_ = nullptr;
      n->pprev_ = nullptr;
      n->wheel_ = nullptr;
      n = next;
    }
    head = nullptr;
  }
}

uint64_t TimerWheel::tick_of(Instant t) const {
  if (t <= start_) return 0;
  const uint64_t diff = static_cast<uint64_t>(t.nanos()) - static_cast<uint64_t>(start_.nanos());
  return diff / static_cast<uint64_t>(granularity_.nanos());
}

void TimerWheel::link(TimerNode& t, uint32_t slot) {
  t.next_ = heads_[slot];
  if (t.next_ != nullptr) t.next_->pprev_ = &t.next_;
  heads_[slot] = &t;
  t.pprev_ = &heads_[slot];
  t.slot_ = slot;
  if (slot < kL0Size) {
    l0_bits_[slot >> 6] |= uint64_t{1} << (slot & 63);
    if (t.expires_ < l0_min_[slot]) l0_min_[slot] = t.expires_;
  } else if (slot < kSlots) {
    ln_bits_[(slot - kL0Size) / kLnSize + 1] |= uint64_t{1} << ((slot - kL0Size) & 63);
  }
}

void TimerWheel::unlink(TimerNode& t) {
  *t.pprev_ = t.next_;
  if (t.next_ != nullptr) t.next_->pprev_ = t.pprev_;
  t.next_ = nullptr;
  t.pprev_ = nullptr;
  const uint32_t slot = t.slot_;
  if (slot >= kSlots || heads_[slot] != nullptr) return;
  if (slot < kL0Size) {
    l0_bits_[slot >> 6] &= ~(uint64_t{1} << (slot & 63));
    l0_min_[slot] = Instant::never();
  } else {
    ln_bits_[(slot - kL0Size) / kLnSize + 1] &= ~(uint64_t{1} << ((slot - kL0Size) & 63));
  }
}

// internal_add_timer(): level by distance from clk_; past expiries go to the current tick,
// expiries beyond the wheel's span to the top level's furthest block (re-placed on cascade).
void TimerWheel::place(TimerNode& t) {
  if (t.expires_ == Instant::never()) {
    link(t, kNeverList);
    return;
  }
  uint64_t tick = tick_of(t.expires_);
  if (tick < clk_) tick = clk_;
  uint64_t delta = tick - clk_;
  if (delta > kMaxDelta) {
    delta = kMaxDelta;
    tick = clk_ + kMaxDelta;
  }
  if (delta < kL0Size) {
    link(t, static_cast<uint32_t>(tick & (kL0Size - 1)));
    return;
  }
  const int level = (std::bit_width(delta) - kL0Bits - 1) / kLnBits + 1;
  link(t, base(level) + static_cast<uint32_t>((tick >> shift(level)) & (kLnSize - 1)));
}

void TimerWheel::arm(TimerNode& t, Instant expires) {
  if (t.wheel_ != nullptr && t.wheel_ != this) t.wheel_->cancel(t);
  if (t.wheel_ == this) {
    unlink(t);
    note_removed(t);
  } else {
    t.wheel_ = this;
    ++count_;
  }
  t.expires_ = expires;
  t.seq_ = seq_++;
  place(t);
  if (earliest_valid_ && expires < earliest_) earliest_ = expires;
}

void TimerWheel::cancel(TimerNode& t) {
  if (t.wheel_ != this) {
    if (t.wheel_ != nullptr) t.wheel_->cancel(t);
    return;
  }
  unlink(t);
  t.wheel_ = nullptr;
  --count_;
  note_removed(t);
}

int TimerWheel::first_slot(int level, uint64_t from) const {
  if (level == 0) {
    // Circular scan of the 256-bit map from tick `from`'s slot.
    const uint32_t p = static_cast<uint32_t>(from & (kL0Size - 1));
    uint32_t w = p >> 6;
    uint64_t m = l0_bits_[w] & (~uint64_t{0} << (p & 63));
    for (int i = 0; i < 5; ++i) {
      if (m != 0) {
        const uint32_t idx = w * 64 + static_cast<uint32_t>(std::countr_zero(m));
        return static_cast<int>((idx - p) & (kL0Size - 1));
      }
      w = (w + 1) & 3;
      m = l0_bits_[w];
    }
    return -1;
  }
  const uint64_t bits = ln_bits_[level];
  if (bits == 0) return -1;
  // Blocks after clk_'s: slot (cur + 1) comes first, clk_'s own slot (block + 64) last.
  const int first = static_cast<int>(((from >> shift(level)) + 1) & (kLnSize - 1));
  return std::countr_zero(std::rotr(bits, first)) + 1;
}

uint64_t TimerWheel::next_event_tick() const {
  uint64_t next = std::numeric_limits<uint64_t>::max();
  // Level 0 after the current slot (run_tick fired everything of the current tick).
  const int d0 = first_slot(0, clk_ + 1);
  if (d0 >= 0) next = clk_ + 1 + static_cast<uint64_t>(d0);
  for (int level = 1; level < kLevels; ++level) {
    const int k = first_slot(level, clk_);
    if (k < 0) continue;
    const uint64_t boundary = ((clk_ >> shift(level)) + static_cast<uint64_t>(k)) << shift(level);
    if (boundary < next) next = boundary;
  }
  return next;
}

void TimerWheel::cascade(int level) {
  const uint32_t slot = base(level) + static_cast<uint32_t>((clk_ >> shift(level)) & (kLnSize - 1));
  TimerNode* n = heads_[slot];
  heads_[slot] = nullptr;
  ln_bits_[level] &= ~(uint64_t{1} << (slot - base(level)));
  while (n != nullptr) {
    TimerNode* next = n->next_;
    place(*n);
    n = next;
  }
}

namespace {

// Stable merge sort of a singly linked (next_) list by (expires, seq): no allocation, and a
// tick's timers are usually few.
struct ListSort {
  static TimerNode* merge(TimerNode* a, TimerNode* b, TimerNode* (*next)(TimerNode*),
                          void (*set_next)(TimerNode*, TimerNode*),
                          bool (*less)(const TimerNode*, const TimerNode*)) {
    TimerNode* head = nullptr;
    TimerNode* tail = nullptr;
    while (a != nullptr && b != nullptr) {
      TimerNode* pick;
      if (less(b, a)) {
        pick = b;
        b = next(b);
      } else {
        pick = a;
        a = next(a);
      }
      if (tail == nullptr) {
        head = pick;
      } else {
        set_next(tail, pick);
      }
      tail = pick;
    }
    TimerNode* rest = a != nullptr ? a : b;
    if (tail == nullptr) return rest;
    set_next(tail, rest);
    return head;
  }
};

}  // namespace

// __run_timers() for one tick: detach the due timers, sort them, fire them one by one from the
// expiring list so callbacks can cancel the ones still waiting there; repeat for timers that
// callbacks armed into this tick.
void TimerWheel::run_tick(Instant now, bool all) {
  const uint32_t slot = static_cast<uint32_t>(clk_ & (kL0Size - 1));
  auto next = [](TimerNode* n) { return n->next_; };
  auto set_next = [](TimerNode* n, TimerNode* v) { n->next_ = v; };
  auto less = [](const TimerNode* a, const TimerNode* b) {
    return fires_before(a->expires_, a->seq_, b->expires_, b->seq_);
  };
  for (;;) {
    // Nothing due before the slot's earliest expiry: skip the walk (the common case when the
    // runner advances to a tick's first instant).
    if (!all && now < l0_min_[slot]) return;
    // Detach into runs of length 1, then merge bottom-up (runs[i] holds 2^i nodes).
    std::array<TimerNode*, 64> runs;  // runs[0, top) are set
    int top = 0;
    bool any = false;
    Instant rest_min = Instant::never();  // earliest expiry staying in the slot
    for (TimerNode* n = heads_[slot]; n != nullptr;) {
      TimerNode* following = n->next_;
      if (!all && n->expires_ > now) {
        if (n->expires_ < rest_min) rest_min = n->expires_;
      } else {
        unlink(*n);
        any = true;
        TimerNode* run = n;
        int i = 0;
        for (; i < top && runs[i] != nullptr; ++i) {
          run = ListSort::merge(runs[i], run, next, set_next, less);
          runs[i] = nullptr;
        }
        runs[i] = run;
        if (i == top) ++top;
      }
      n = following;
    }
    l0_min_[slot] = rest_min;
    if (!any) return;
    TimerNode* sorted = nullptr;
    for (int i = 0; i < top; ++i) {
      if (runs[i] != nullptr) sorted = ListSort::merge(runs[i], sorted, next, set_next, less);
    }
    // Link the sorted chain as the expiring list (fix the pprev_ back links).
    heads_[kExpiring] = sorted;
    TimerNode** pprev = &heads_[kExpiring];
    for (TimerNode* n = sorted; n != nullptr; n = n->next_) {
      n->pprev_ = pprev;
      n->slot_ = kExpiring;
      pprev = &n->next_;
    }
    while (TimerNode* n = heads_[kExpiring]) {
      unlink(*n);
      n->wheel_ = nullptr;
      --count_;
      note_removed(*n);
      USTACK_ASSERT(n->fn_ != nullptr, "timer fired without a callback");
      n->fn_(n->ctx_, now);
    }
  }
}

void TimerWheel::advance(Instant now) {
  USTACK_ASSERT(!in_advance_, "TimerWheel::advance is not reentrant");
  in_advance_ = true;
  uint64_t target = tick_of(now);
  if (target < clk_) target = clk_;
  for (;;) {
    run_tick(now, clk_ < target);
    if (clk_ >= target) break;
    const uint64_t next = next_event_tick();
    clk_ = next < target ? next : target;
    // Cascade every level whose block starts at clk_, lowest first (Linux's order).
    for (int level = 1; level < kLevels; ++level) {
      if ((clk_ & ((uint64_t{1} << shift(level)) - 1)) != 0) break;
      cascade(level);
    }
  }
  in_advance_ = false;
}

void TimerWheel::recompute_earliest() const {
  Instant best = Instant::never();
  const auto scan = [&best](const TimerNode* n) {
    for (; n != nullptr; n = n->next_) {
      if (n->expires_ < best) best = n->expires_;
    }
  };
  const int d0 = first_slot(0, clk_);
  if (d0 >= 0) scan(heads_[(clk_ + static_cast<uint64_t>(d0)) & (kL0Size - 1)]);
  for (int level = 1; level < kLevels; ++level) {
    const int k = first_slot(level, clk_);
    if (k < 0) continue;
    const uint64_t block = (clk_ >> shift(level)) + static_cast<uint64_t>(k);
    // Lower bound of the slot's expiries: its first tick (skip the scan when it cannot win).
    const __int128 lower = static_cast<__int128>(start_.nanos()) +
                           static_cast<__int128>(block << shift(level)) * granularity_.nanos();
    if (lower >= static_cast<__int128>(best.nanos())) continue;
    scan(heads_[base(level) + static_cast<uint32_t>(block & (kLnSize - 1))]);
  }
  earliest_ = best;
  earliest_valid_ = true;
}

Instant TimerWheel::next_deadline() const {
  if (!earliest_valid_) recompute_earliest();
  return earliest_;
}

}  // namespace ustack
