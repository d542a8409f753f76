// ip/fragment.cc — IPv4 fragmentation (RFC 791 §3.2 fragmentation procedure; Linux's
// ip_do_fragment slow path: every fragment is a fresh buffer, payload copied once).
#include "ustack/ip/fragment.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"
#include "ustack/wire/ipv4.h"

namespace ustack::ip {

namespace {

constexpr uint8_t kOptEol = 0;
constexpr uint8_t kOptNop = 1;
constexpr uint8_t kOptCopied = 0x80;  // RFC 791 §3.1: "copied flag" of the option type
constexpr uint16_t kFlagDf = 0x4000;
constexpr uint16_t kFlagMf = 0x2000;

// The header of fragments after the first: the fixed 20 bytes and only the options whose
// copied flag is set, padded with EOL to a multiple of 4 (RFC 791 §3.1, "copied flag";
// RFC 791 §3.2 step 6 of the fragmentation procedure). DEVIATION from Linux, which keeps the
// header length and overwrites non-copied options with NOP (ip_options_fragment): we drop them,
// as the RFC's procedure does, so later fragments carry more payload. Returns its length.
size_t later_header(std::span<const uint8_t> header, std::array<uint8_t, 60>& out) {
  std::memcpy(out.data(), header.data(), wire::kIpv4MinHeaderLen);
  size_t n = wire::kIpv4MinHeaderLen;
  std::span<const uint8_t> opts = header.subspan(wire::kIpv4MinHeaderLen);
  size_t i = 0;
  while (i < opts.size()) {
    const uint8_t type = opts[i];
    if (type == kOptEol) break;
    if (type == kOptNop) {  // NOP has the copied flag clear: not copied
      ++i;
      continue;
    }
    const size_t len = opts[i + 1];  // lengths were validated by Ipv4View::parse
    if ((type & kOptCopied) != 0) {
      std::memcpy(out.data() + n, opts.data() + i, len);
      n += len;
    }
    i += len;
  }
  while (n % 4 != 0) out[n++] = kOptEol;
  out[0] = static_cast<uint8_t>(0x40 | n / 4);
  return n;
}

// Total length, flags/offset and checksum of one fragment's header (already in `h`).
void finish_header(std::span<uint8_t> h, size_t hlen, size_t total, uint16_t flags, size_t offset) {
  store_be16(h.data() + 2, static_cast<uint16_t>(total));
  store_be16(h.data() + 6, static_cast<uint16_t>(flags | offset / 8));
  store_be16(h.data() + 10, 0);
  store_be16(h.data() + 10, inet_checksum(h.first(hlen)));
}

PacketPtr new_buffer(const PacketBuffer& orig, BufferPool& pool, size_t headroom, size_t len) {
  PacketPtr p = pool.alloc(headroom, len);
  if (p == nullptr) return nullptr;
  // ip_copy_metadata: the fragment is still the original packet as far as the stack cares.
  p->copy_metadata_from(orig);
  p->set_network_header();
  return p;
}

}  // namespace

Result<void, FragError> ip_fragment(const PacketBuffer& pkt, uint32_t mtu, BufferPool& pool,
                                    size_t headroom, FragStats& stats,
                                    const std::function<void(PacketPtr)>& emit, bool ignore_df) {
  auto view = wire::Ipv4View::parse(pkt.data());
  if (!view || view->total_len() != pkt.len()) return Err{FragError::kMalformed};
  const std::span<const uint8_t> header = view->header();
  const std::span<const uint8_t> payload = view->payload();
  const size_t orig_offset = view->frag_offset();
  // A fragment reaching past 65535 cannot be re-fragmented: its offsets would not fit.
  if (wire::kIpv4MinHeaderLen + orig_offset + payload.size() > wire::kIpv4MaxTotalLen) {
    return Err{FragError::kMalformed};
  }

  if (pkt.len() <= mtu) {
    // Nothing to do: one copy, so the caller gets the same kind of buffer either way.
    PacketPtr p = new_buffer(pkt, pool, headroom, pkt.len());
    if (p == nullptr) {
      ++stats.frag_fails;
      return Err{FragError::kNoMemory};
    }
    (void)p->append(pkt.data());
    emit(std::move(p));
    return Ok();
  }
  if (view->dont_frag() && !ignore_df) {
    ++stats.frag_fails;  // ip_fragment: IPSTATS_MIB_FRAGFAILS, then ICMP frag needed
    return Err{FragError::kDontFragment};
  }

  std::array<uint8_t, 60> later{};
  const size_t later_len = later_header(header, later);
  const size_t first_len = header.size();
  // Every fragment must carry at least 8 bytes (RFC 791: 68 = 60-byte header + 8).
  if (mtu < first_len + 8) {
    ++stats.frag_fails;
    return Err{FragError::kMtuTooSmall};
  }
  const uint16_t keep_flags = view->dont_frag() ? kFlagDf : 0;  // reserved bit cleared
  const bool orig_mf = view->more_frags();

  size_t pos = 0;
  bool first = true;
  while (pos < payload.size()) {
    const size_t hlen = first ? first_len : later_len;
    const size_t room = (mtu - hlen) / 8 * 8;  // all but the last: a multiple of 8 bytes
    const size_t n = std::min(room, payload.size() - pos);
    const bool last = pos + n == payload.size();
    PacketPtr f = new_buffer(pkt, pool, headroom, hlen + n);
    if (f == nullptr) {
      ++stats.frag_fails;
      return Err{FragError::kNoMemory};
    }
    std::span<uint8_t> out = *f->put(hlen + n);
    std::memcpy(out.data(), first ? header.data() : later.data(), hlen);
    std::memcpy(out.data() + hlen, payload.data() + pos, n);
    // MF on all but the last, and on the last too when the original was itself not the last
    // fragment of its datagram.
    const uint16_t flags = keep_flags | (!last || orig_mf ? kFlagMf : 0);
    finish_header(out, hlen, hlen + n, flags, orig_offset + pos);
    ++stats.frag_creates;
    emit(std::move(f));
    pos += n;
    first = false;
  }
  ++stats.frag_oks;
  return Ok();
}

}  // namespace ustack::ip
