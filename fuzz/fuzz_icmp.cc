// Fuzz target: ICMPv4 message parsing (with the checksum ignored too, to reach the quote
// parsing), accessors of every variant, emit (also in place) and re-parse.
#include <cstdint>
#include <cstring>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/wire/icmp.h"

using namespace ustack::wire;

namespace {

void touch_quote(const IcmpQuote& q) {
  const Ipv4View& ip = q.ip();
  USTACK_ASSERT(ip.header_len() >= kIpv4MinHeaderLen &&
                    ip.header_len() + kIcmpQuoteMinDataLen <= q.bytes().size(),
                "quote shorter than header + 8");
  USTACK_ASSERT(ip.payload().size() >= kIcmpQuoteMinDataLen, "quote payload < 8");
  (void)ip.total_len(), (void)ip.ident(), (void)ip.ttl(), (void)ip.frag_offset();
  (void)ip.options().size(), (void)q.src(), (void)q.dst(), (void)q.protocol();
  (void)ip.payload()[0], (void)ip.payload()[7];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  (void)IcmpQuote::parse(in);
  auto v = IcmpView::parse(in);
  if (!v) return 0;
  USTACK_ASSERT(v->data().size() + kIcmpHeaderLen == size, "view length");
  (void)v->type(), (void)v->code(), (void)v->checksum(), (void)v->rest_of_header();
  const bool csum_ok = v->verify_checksum();

  auto checked = IcmpRepr::parse(*v);
  auto r = IcmpRepr::parse(*v, Checksum::kIgnore);
  USTACK_ASSERT(!checked || csum_ok, "kVerify accepted a bad checksum");
  if (checked) USTACK_ASSERT(r && *r == *checked, "kIgnore disagrees with kVerify");
  if (!r) {
    USTACK_ASSERT(r.error() == WireError::kMalformed, "only a bad quote fails past the checksum");
    return 0;
  }
  if (const IcmpQuote* q = r->quote()) touch_quote(*q);
  USTACK_ASSERT(r->type() == v->type() && r->code() == v->code(), "type/code");
  USTACK_ASSERT(r->buffer_len() == size, "buffer_len != message length");

  // parse(emit(repr)) == repr, with a checksum that verifies.
  std::vector<uint8_t> out(r->buffer_len());
  r->emit(out);
  auto v2 = IcmpView::parse(out);
  USTACK_ASSERT(v2.ok() && v2->verify_checksum(), "emitted checksum does not verify");
  auto r2 = IcmpRepr::parse(*v2);
  USTACK_ASSERT(r2.ok() && *r2 == *r, "parse(emit(repr)) != repr");
  // Type, code and data are reproduced; so is the rest-of-header except unused bits of errors.
  USTACK_ASSERT(out[0] == data[0] && out[1] == data[1], "type/code bytes");
  USTACK_ASSERT(std::memcmp(out.data() + 8, data + 8, size - 8) == 0, "data bytes");
  if (!r->quote()) USTACK_ASSERT(std::memcmp(out.data() + 4, data + 4, 4) == 0, "rest bytes");

  // Emitting over the buffer the repr was parsed from (data already in place) gives the same.
  std::vector<uint8_t> inplace(in.begin(), in.end());
  auto r3 = IcmpRepr::parse(*IcmpView::parse(inplace), Checksum::kIgnore);
  USTACK_ASSERT(r3.ok(), "copy parses differently");
  r3->emit(inplace);
  USTACK_ASSERT(inplace == out, "in-place emit differs");
  return 0;
}
