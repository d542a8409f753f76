#include "ustack/base/time.h"

#include <cinttypes>
#include <cstdio>

namespace ustack {

std::string Duration::to_string() const {
  char buf[48];
  const int64_t a = ns_ < 0 ? -ns_ : ns_;
  if (a != 0 && a % 1'000'000'000 == 0) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "s", ns_ / 1'000'000'000);
  } else if (a >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(ns_) / 1e6);
  } else if (a >= 1'000) {
    std::snprintf(buf, sizeof buf, "%.3fus", static_cast<double>(ns_) / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64 "ns", ns_);
  }
  return buf;
}

std::string Instant::to_string() const {
  if (*this == never()) return "never";
  char buf[48];
  const int64_t sec = ns_ / 1'000'000'000;
  const int64_t usec = (ns_ % 1'000'000'000) / 1'000;
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%06" PRId64, sec, usec < 0 ? -usec : usec);
  return buf;
}

}  // namespace ustack
