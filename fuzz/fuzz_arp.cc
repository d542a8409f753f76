// Fuzz target: ARP parsing, and emit(parse(x)) reproducing the 28 bytes it was parsed from.
#include <cstdint>
#include <cstring>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/wire/arp.h"

using namespace ustack::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto v = ArpView::parse(in);
  if (!v) return 0;
  USTACK_ASSERT(v->bytes().size() == kArpLen, "view is not exactly 28 bytes");
  USTACK_ASSERT(v->bytes().data() == data, "view does not start at the input");
  auto r = ArpRepr::parse(*v);
  if (!r) return 0;
  (void)r->is_gratuitous();
  (void)r->is_probe();
  // Every accepted packet is fully described by the Repr: emitting it gives the same bytes.
  std::vector<uint8_t> out(r->buffer_len());
  r->emit(out);
  USTACK_ASSERT(std::memcmp(out.data(), data, kArpLen) == 0, "emit(parse(x)) != x");
  auto v2 = ArpView::parse(out);
  USTACK_ASSERT(v2.ok(), "emitted packet does not parse");
  auto r2 = ArpRepr::parse(*v2);
  USTACK_ASSERT(r2.ok() && *r2 == *r, "parse(emit(repr)) != repr");
  return 0;
}
