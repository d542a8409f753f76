// Fuzz target: Ethernet II / 802.1Q parsing, and emit(parse(x)) reproducing the header.
#include <cstdint>
#include <cstring>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/wire/ethernet.h"

using namespace ustack::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto v = EthernetView::parse(in);
  if (!v) return 0;
  USTACK_ASSERT(v->header_len() <= size, "header longer than input");
  (void)v->payload();
  auto r = EthernetRepr::parse(*v);
  if (!r) return 0;
  std::vector<uint8_t> out(r->header_len());
  r->emit(out);
  USTACK_ASSERT(std::memcmp(out.data(), data, out.size()) == 0, "emit(parse(x)) != x");
  return 0;
}
