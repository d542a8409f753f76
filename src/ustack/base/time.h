// base/time.h — Instant and Duration: integer nanoseconds, no clock reads.
//
// Protocol code never asks what time it is: every entry point takes `now` as an Instant and
// reports its next deadline (smoltcp's poll(now)/poll_at()). Only runners own a clock: the
// simulator's virtual one or the real-time runner's CLOCK_MONOTONIC. Integer nanoseconds keep
// arithmetic exact and runs byte-identical across machines.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>
#include <string>

namespace ustack {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration ns(int64_t v) { return Duration(v); }
  static constexpr Duration us(int64_t v) { return Duration(v * 1'000); }
  static constexpr Duration ms(int64_t v) { return Duration(v * 1'000'000); }
  static constexpr Duration s(int64_t v) { return Duration(v * 1'000'000'000); }
  static constexpr Duration zero() { return Duration(0); }
  static constexpr Duration max() { return Duration(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t nanos() const { return ns_; }
  constexpr int64_t micros() const { return ns_ / 1'000; }
  constexpr int64_t millis() const { return ns_ / 1'000'000; }
  constexpr double seconds() const { return static_cast<double>(ns_) / 1e9; }

  constexpr Duration operator+(Duration o) const { return Duration(ns_ + o.ns_); }
  constexpr Duration operator-(Duration o) const { return Duration(ns_ - o.ns_); }
  constexpr Duration operator*(int64_t k) const { return Duration(ns_ * k); }
  constexpr Duration operator/(int64_t k) const { return Duration(ns_ / k); }
  constexpr Duration& operator+=(Duration o) {
    ns_ += o.ns_;
    return *this;
  }
  constexpr Duration& operator-=(Duration o) {
    ns_ -= o.ns_;
    return *this;
  }
  constexpr auto operator<=>(const Duration&) const = default;

  std::string to_string() const;  // "1.500ms", "2s", "250ns": the unit that reads best

 private:
  constexpr explicit Duration(int64_t v) : ns_(v) {}
  int64_t ns_ = 0;
};

// A point on a clock: nanoseconds since that clock's origin (virtual time starts at 0).
class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant from_nanos(int64_t v) { return Instant(v); }
  static constexpr Instant zero() { return Instant(0); }
  // "Never": a deadline that does not exist compares after every real one.
  static constexpr Instant never() { return Instant(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t nanos() const { return ns_; }
  constexpr Instant operator+(Duration d) const { return Instant(ns_ + d.nanos()); }
  constexpr Instant operator-(Duration d) const { return Instant(ns_ - d.nanos()); }
  constexpr Duration operator-(Instant o) const { return Duration::ns(ns_ - o.ns_); }
  constexpr Instant& operator+=(Duration d) {
    ns_ += d.nanos();
    return *this;
  }
  constexpr auto operator<=>(const Instant&) const = default;

  std::string to_string() const;  // seconds with microsecond precision: "12.000345"

 private:
  constexpr explicit Instant(int64_t v) : ns_(v) {}
  int64_t ns_ = 0;
};

// Earliest of two deadlines; Instant::never() is the identity.
constexpr Instant earliest(Instant a, Instant b) { return a < b ? a : b; }

}  // namespace ustack
