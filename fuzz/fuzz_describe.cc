// Fuzz target: the whole decoder chain behind describe_frame (Ethernet -> ARP | IPv4 ->
// ICMP | UDP | TCP). Any bytes must yield a string, never a crash or an out-of-bounds read.
#include <cstdint>
#include <span>

#include "ustack/base/assert.h"
#include "ustack/wire/describe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s = ustack::wire::describe_frame(std::span<const uint8_t>(data, size));
  USTACK_ASSERT(!s.empty(), "describe_frame returned nothing");
  return 0;
}
