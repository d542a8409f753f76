// Fuzz target: TCP header and options. Input: 8 bytes of pseudo-header addresses (source,
// destination), then the segment. Checks that options are never read outside the header,
// that kVerify and kIgnore agree, and that parse(emit(repr)) == repr.options.as_emitted().
#include <cstdint>
#include <cstring>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"
#include "ustack/wire/tcp.h"

using namespace ustack;
using namespace ustack::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  const Ipv4Pseudo ph{Ipv4Addr{load_be32(data)}, Ipv4Addr{load_be32(data + 4)}};
  std::span<const uint8_t> seg(data + 8, size - 8);

  auto v = TcpView::parse(seg);
  if (!v) return 0;
  USTACK_ASSERT(v->header_len() <= seg.size(), "header longer than input");
  USTACK_ASSERT(v->options().data() == seg.data() + kTcpHeaderLen, "options misplaced");
  USTACK_ASSERT(v->options().size() + kTcpHeaderLen == v->header_len(), "options size");
  USTACK_ASSERT(v->payload().size() + v->header_len() == seg.size(), "payload size");

  // The walker stays inside the options area.
  const uint8_t* lo = v->options().data();
  const uint8_t* hi = lo + v->options().size();
  TcpOptionReader rd(v->options());
  for (int steps = 0;; ++steps) {
    USTACK_ASSERT(steps <= 40, "option walk does not advance");
    auto o = rd.next();
    if (!o || !*o) break;
    USTACK_ASSERT((*o)->data.empty() || ((*o)->data.data() >= lo && (*o)->data.data() < hi &&
                                         (*o)->data.data() + (*o)->data.size() <= hi),
                  "option data outside the options area");
  }
  // The same options parsed from a heap copy of exactly the options area: any read past the
  // header would hit the ASan redzone, and the result must not depend on what follows.
  std::vector<uint8_t> opts_copy(v->options().begin(), v->options().end());
  auto from_copy = TcpOptions::parse(opts_copy);
  auto from_view = TcpOptions::parse(v->options());
  USTACK_ASSERT(from_copy.ok() == from_view.ok(), "options parse depends on the payload");
  if (from_copy) USTACK_ASSERT(*from_copy == *from_view, "options parse depends on the payload");

  auto verified = TcpRepr::parse(*v, ph, Checksum::kVerify);
  auto ignored = TcpRepr::parse(*v, ph, Checksum::kIgnore);
  if (verified) {
    USTACK_ASSERT(ignored && *ignored == *verified, "kVerify and kIgnore disagree");
    USTACK_ASSERT(v->checksum_ok(ph), "verified without a good checksum");
  }
  if (!ignored) return 0;
  const TcpRepr& r = *ignored;
  USTACK_ASSERT(!r.options.window_scale || *r.options.window_scale <= kTcpMaxWindowScale,
                "window scale not clamped");
  USTACK_ASSERT(r.header_len() <= kTcpMaxHeaderLen && r.header_len() % 4 == 0, "header_len");

  const size_t payload_len = v->payload().size();
  if (r.buffer_len(payload_len) > 0xffff) return 0;
  std::vector<uint8_t> out(r.buffer_len(payload_len));
  if (payload_len) std::memcpy(out.data() + r.header_len(), v->payload().data(), payload_len);
  r.emit(out, ph);
  auto v2 = TcpView::parse(out);
  USTACK_ASSERT(v2.ok(), "emitted segment does not parse");
  USTACK_ASSERT(v2->header_len() == r.header_len(), "emitted header_len");
  auto r2 = TcpRepr::parse(*v2, ph, Checksum::kVerify);
  USTACK_ASSERT(r2.ok(), "emitted segment fails to parse or verify");
  TcpRepr want = r;
  want.options = r.options.as_emitted();
  USTACK_ASSERT(*r2 == want, "parse(emit(repr)) != repr");
  // Emitting is a fixed point: the re-parsed repr emits the same bytes.
  std::vector<uint8_t> again(out.size());
  if (payload_len) std::memcpy(again.data() + r.header_len(), v->payload().data(), payload_len);
  r2->emit(again, ph);
  USTACK_ASSERT(again == out, "emit(parse(emit(repr))) != emit(repr)");
  return 0;
}
