// base/assert.h — invariants. Always on, also in release builds: a broken invariant in a
// network stack is memory corruption waiting to happen, so we stop loudly instead.
// Bad *input* is never asserted on: it is a counted drop (see drop_reason.h).
#pragma once

namespace ustack {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg);
}  // namespace ustack

#define USTACK_ASSERT(cond, msg) \
  ((cond) ? static_cast<void>(0) : ::ustack::assert_fail(#cond, __FILE__, __LINE__, (msg)))
