#include "ustack/base/drop_reason.h"

namespace ustack {
namespace {

constexpr std::string_view kNames[] = {
#define USTACK_X(name, text) std::string_view(#name).substr(1),
    USTACK_DROP_REASONS(USTACK_X)
#undef USTACK_X
};
constexpr std::string_view kTexts[] = {
#define USTACK_X(name, text) text,
    USTACK_DROP_REASONS(USTACK_X)
#undef USTACK_X
};
static_assert(std::size(kNames) == kDropReasonCount);

}  // namespace

std::string_view drop_reason_name(DropReason r) {
  const auto i = static_cast<size_t>(r);
  return i < kDropReasonCount ? kNames[i] : "Invalid";
}

std::string_view drop_reason_text(DropReason r) {
  const auto i = static_cast<size_t>(r);
  return i < kDropReasonCount ? kTexts[i] : "invalid drop reason";
}

uint64_t DropCounters::total() const {
  uint64_t t = 0;
  for (size_t i = 1; i < kDropReasonCount; ++i) t += n_[i];
  return t;
}

}  // namespace ustack
