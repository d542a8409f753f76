// Fuzz target: IPv4 header parsing (view, options, repr with and without the checksum), emit
// and re-parse, and the incremental TTL decrement keeping the checksum valid.
#include <cstdint>
#include <cstring>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/wire/ipv4.h"

using namespace ustack::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  // The option walker on its own, over any bytes up to the largest option area.
  (void)ipv4_check_options(in.first(size < 40 ? size : 40));

  auto v = Ipv4View::parse(in);
  if (!v) return 0;
  // View invariants: every accessor is in bounds and the lengths agree.
  USTACK_ASSERT(v->header_len() >= kIpv4MinHeaderLen && v->header_len() <= kIpv4MaxHeaderLen,
                "header_len out of range");
  USTACK_ASSERT(v->bytes().size() == v->total_len() && v->total_len() <= size,
                "view not cut to total length");
  USTACK_ASSERT(v->header().size() + v->payload().size() == v->total_len(), "header + payload");
  USTACK_ASSERT(v->options().size() == v->header_len() - kIpv4MinHeaderLen, "options size");
  USTACK_ASSERT(ipv4_check_options(v->options()).ok(), "view accepted bad options");
  (void)v->dscp(), (void)v->ecn(), (void)v->ident(), (void)v->reserved_flag();
  (void)v->is_fragment(), (void)v->checksum(), (void)v->src(), (void)v->dst();
  const bool csum_ok = v->verify_checksum();

  auto checked = Ipv4Repr::parse(*v);
  auto r = Ipv4Repr::parse(*v, Checksum::kIgnore);
  USTACK_ASSERT(!checked || csum_ok, "kVerify accepted a bad checksum");
  if (checked) USTACK_ASSERT(r && *r == *checked, "kIgnore disagrees with kVerify");
  if (csum_ok) USTACK_ASSERT(checked.ok() == r.ok(), "a valid checksum changed the verdict");

  if (v->ttl() > 0) {
    std::vector<uint8_t> h(v->header().begin(), v->header().end());
    ipv4_decrement_ttl(h);
    USTACK_ASSERT(h[8] == v->ttl() - 1, "TTL not decremented");
    if (csum_ok) {
      // Only the TTL and checksum bytes change, and the checksum still verifies.
      USTACK_ASSERT(std::memcmp(h.data(), data, 8) == 0 && h[9] == data[9] &&
                        std::memcmp(h.data() + 12, data + 12, h.size() - 12) == 0,
                    "decrement touched other bytes");
      uint32_t sum = 0;
      for (size_t i = 0; i < h.size(); i += 2) sum += uint32_t(h[i]) << 8 | h[i + 1];
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      USTACK_ASSERT(sum == 0xffff, "decrement broke the checksum");
    }
  }

  if (!r) return 0;
  USTACK_ASSERT(r->payload_len == v->payload().size(), "payload_len");
  // emit(parse(x)), with x's payload after it, parses (checksum verified) back to the same repr.
  std::vector<uint8_t> out(r->buffer_len());
  r->emit(out);
  std::memcpy(out.data() + r->header_len(), v->payload().data(), v->payload().size());
  auto v2 = Ipv4View::parse(out);
  USTACK_ASSERT(v2.ok(), "emitted header does not parse");
  auto r2 = Ipv4Repr::parse(*v2);
  USTACK_ASSERT(r2.ok() && *r2 == *r, "parse(emit(repr)) != repr");
  // Without options or the reserved bit, the header is reproduced except maybe the checksum
  // (0x0000 and 0xffff both verify when the other words sum to -0).
  if (v->header_len() == kIpv4MinHeaderLen && !v->reserved_flag()) {
    USTACK_ASSERT(
        std::memcmp(out.data(), data, 10) == 0 && std::memcmp(out.data() + 12, data + 12, 8) == 0,
        "emit(parse(x)) != x");
  }
  return 0;
}
