// wire/seq.h — SeqNum: a TCP sequence number, compared modulo 2^32 (RFC 9293 §3.4).
//
// Sequence numbers live on a circle: "a < b" means "b is less than 2^31 ahead of a". That is
// not a total order (a < b < c < a is possible), so there is deliberately no operator<=> and
// no conversion from or to uint32_t: code that wants the raw number says `.v`. Two numbers
// exactly 2^31 apart are each "less" than the other (RFC 1982 §3.2 leaves that case
// undefined); a correct TCP never compares numbers that far apart, because windows are at
// most 2^30 (RFC 7323 §2.3).
#pragma once

#include <cstdint>

namespace ustack::wire {

struct SeqNum {
  uint32_t v = 0;

  friend constexpr bool operator==(SeqNum, SeqNum) = default;
  friend constexpr bool operator<(SeqNum a, SeqNum b) {
    return static_cast<int32_t>(a.v - b.v) < 0;
  }
  friend constexpr bool operator>(SeqNum a, SeqNum b) { return b < a; }
  // Spelled out rather than !(b < a): at exactly 2^31 apart both a < b and b < a hold.
  friend constexpr bool operator<=(SeqNum a, SeqNum b) { return a == b || a < b; }
  friend constexpr bool operator>=(SeqNum a, SeqNum b) { return a == b || b < a; }

  // Advancing wraps modulo 2^32.
  friend constexpr SeqNum operator+(SeqNum a, uint32_t n) { return {a.v + n}; }
  constexpr SeqNum& operator+=(uint32_t n) {
    v += n;
    return *this;
  }
  // The distance from b forward to a, modulo 2^32 (how many octets a is ahead of b).
  friend constexpr uint32_t operator-(SeqNum a, SeqNum b) { return a.v - b.v; }
};

// RFC 9293 §3.4: left <= s < left + size, evaluated on the circle (one subtraction, no
// wrap special cases). An empty window (size 0) contains nothing.
constexpr bool in_window(SeqNum s, SeqNum left, uint32_t size) { return s - left < size; }

}  // namespace ustack::wire
