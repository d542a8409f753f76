#include "ustack/base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace ustack {

void assert_fail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "ustack: invariant violated at %s:%d: %s (%s)\n", file, line, msg, expr);
  std::abort();
}

}  // namespace ustack
