// Fuzz target: UDP parsing and checksums. The first 8 input bytes are the pseudo-header's source
// and destination addresses, the rest is the datagram, so the fuzzer can reach (and keep) inputs
// whose checksum verifies as well as ones it can only get past with Checksum::kIgnore.
#include <cstdint>
#include <cstring>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"
#include "ustack/wire/udp.h"

using namespace ustack::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  const Ipv4Pseudo ph{Ipv4Addr{ustack::load_be32(data)}, Ipv4Addr{ustack::load_be32(data + 4)}};
  std::span<const uint8_t> in(data + 8, size - 8);
  auto v = UdpView::parse(in);
  if (!v) return 0;
  USTACK_ASSERT(v->length() == v->bytes().size(), "view not cut to the length field");
  USTACK_ASSERT(v->bytes().size() <= in.size(), "view longer than input");
  USTACK_ASSERT(v->payload().size() + kUdpHeaderLen == v->bytes().size(), "payload size");

  auto loose = UdpRepr::parse(*v, ph, Checksum::kIgnore);
  USTACK_ASSERT(loose.ok(), "kIgnore rejected a valid view");
  auto strict = UdpRepr::parse(*v, ph);
  USTACK_ASSERT(strict.ok() == v->checksum_ok(ph), "parse disagrees with checksum_ok");
  if (strict) USTACK_ASSERT(*strict == *loose, "kVerify and kIgnore disagree");

  // Re-emit over the same payload. The result must verify and parse to the same Repr; when
  // the original carried a checksum that verified, the bytes must be identical (the only other
  // field value that could verify is the 0 that means "none", which emit never writes).
  std::vector<uint8_t> out(v->bytes().begin(), v->bytes().end());
  loose->emit(out, ph);
  USTACK_ASSERT(ustack::load_be16(out.data() + 6) != 0, "emit wrote checksum 0");
  auto v2 = UdpView::parse(out);
  USTACK_ASSERT(v2.ok(), "emitted datagram does not parse");
  auto r2 = UdpRepr::parse(*v2, ph);
  USTACK_ASSERT(r2.ok() && *r2 == *loose, "parse(emit(repr)) != repr");
  if (strict && v->checksum() != 0) {
    USTACK_ASSERT(std::memcmp(out.data(), v->bytes().data(), out.size()) == 0,
                  "emit(parse(x)) != x for a verified datagram");
  }

  loose->emit_without_checksum(out);
  auto v3 = UdpView::parse(out);
  USTACK_ASSERT(v3.ok() && v3->checksum() == 0, "emit_without_checksum");
  auto r3 = UdpRepr::parse(*v3, ph);
  USTACK_ASSERT(r3.ok() && *r3 == *loose, "zero checksum not accepted");
  return 0;
}
