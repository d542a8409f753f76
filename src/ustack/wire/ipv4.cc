// wire/ipv4.cc — IPv4 header parsing and emission (see ipv4.h for what is rejected where).
#include "ustack/wire/ipv4.h"

#include "ustack/base/assert.h"
#include "ustack/base/checksum.h"

namespace ustack::wire {

namespace {
constexpr uint8_t kOptEol = 0;  // RFC 791 §3.1 "End of Option List"
constexpr uint8_t kOptNop = 1;  // "No Operation"
}  // namespace

Result<void, WireError> ipv4_check_options(std::span<const uint8_t> options) {
  size_t i = 0;
  while (i < options.size()) {
    const uint8_t type = options[i];
    if (type == kOptEol) break;  // the rest is padding (Linux rewrites it to EOL; we skip it)
    if (type == kOptNop) {
      ++i;
      continue;
    }
    // Every other option: type, length (covering type and length), data.
    if (options.size() - i < 2) return Err{WireError::kBadOption};
    const uint8_t len = options[i + 1];
    if (len < 2 || len > options.size() - i) return Err{WireError::kBadOption};
    i += len;
  }
  return Ok();
}

Result<Ipv4View, WireError> Ipv4View::parse(std::span<const uint8_t> packet) {
  // RFC 1122 §3.2.1.1-.2 and Linux's ip_rcv_core, check by check.
  if (packet.size() < kIpv4MinHeaderLen) return Err{WireError::kTruncated};
  if ((packet[0] >> 4) != 4) return Err{WireError::kBadVersion};
  const size_t ihl = static_cast<size_t>(packet[0] & 0x0f) * 4;
  if (ihl < kIpv4MinHeaderLen) return Err{WireError::kBadHeaderLen};
  if (ihl > packet.size()) return Err{WireError::kTruncated};
  const size_t total = load_be16(packet, 2);
  if (total < ihl) return Err{WireError::kBadLength};
  if (total > packet.size()) return Err{WireError::kTruncated};
  auto opts = ipv4_check_options(packet.subspan(kIpv4MinHeaderLen, ihl - kIpv4MinHeaderLen));
  if (!opts) return Err{opts.error()};
  return Ipv4View(packet.first(total));  // cut link padding
}

bool Ipv4View::verify_checksum() const { return csum_partial(header()) == 0xffff; }

Result<Ipv4Repr, WireError> Ipv4Repr::parse(const Ipv4View& v, Checksum checksum) {
  // RFC 1122 §3.2.1.2: a host MUST silently discard a datagram that fails the checksum.
  if (checksum == Checksum::kVerify && !v.verify_checksum()) return Err{WireError::kBadChecksum};
  const size_t payload_len = v.total_len() - v.header_len();
  // The reassembled datagram holds at least a minimal header, everything before this fragment,
  // and this fragment; RFC 791's total length cannot count past 65535.
  if (kIpv4MinHeaderLen + v.frag_offset() + payload_len > kIpv4MaxTotalLen) {
    return Err{WireError::kBadLength};
  }
  // RFC 791 §3.2: all fragments but the last carry a multiple of 8 data bytes.
  if (v.more_frags() && payload_len % 8 != 0) return Err{WireError::kMalformed};
  Ipv4Repr r;
  r.src = v.src();
  r.dst = v.dst();
  r.protocol = v.protocol();
  r.ttl = v.ttl();
  r.dscp = v.dscp();
  r.ecn = v.ecn();
  r.ident = v.ident();
  r.dont_frag = v.dont_frag();
  r.more_frags = v.more_frags();
  r.frag_offset = v.frag_offset();
  r.payload_len = static_cast<uint16_t>(payload_len);
  return r;
}

void Ipv4Repr::emit(std::span<uint8_t> out) const {
  USTACK_ASSERT(out.size() >= kIpv4MinHeaderLen, "Ipv4Repr::emit: buffer too small");
  USTACK_ASSERT(dscp < 64 && ecn < 4, "Ipv4Repr::emit: dscp/ecn out of range");
  USTACK_ASSERT(frag_offset % 8 == 0, "Ipv4Repr::emit: frag_offset not a multiple of 8");
  USTACK_ASSERT(payload_len <= kIpv4MaxTotalLen - kIpv4MinHeaderLen,
                "Ipv4Repr::emit: datagram longer than 65535");
  out[0] = 0x45;  // version 4, IHL 5
  out[1] = static_cast<uint8_t>(dscp << 2 | ecn);
  store_be16(out, 2, static_cast<uint16_t>(kIpv4MinHeaderLen + payload_len));
  store_be16(out, 4, ident);
  // Reserved bit always zero (RFC 791 §3.1).
  store_be16(out, 6,
             static_cast<uint16_t>((dont_frag ? 0x4000 : 0) | (more_frags ? 0x2000 : 0) |
                                   frag_offset / 8));
  out[8] = ttl;
  out[9] = protocol;
  store_be16(out, 10, 0);
  store_be32(out, 12, src.v);
  store_be32(out, 16, dst.v);
  store_be16(out, 10, inet_checksum(out.first(kIpv4MinHeaderLen)));
}

void ipv4_decrement_ttl(std::span<uint8_t> header) {
  USTACK_ASSERT(header.size() >= kIpv4MinHeaderLen, "ipv4_decrement_ttl: short header");
  USTACK_ASSERT(header[8] > 0, "ipv4_decrement_ttl: TTL already zero");
  // TTL and protocol share the 16-bit word at offset 8 (RFC 791 §3.1).
  const uint16_t old_word = load_be16(header, 8);
  const uint16_t new_word = static_cast<uint16_t>(old_word - 0x0100);
  store_be16(header, 8, new_word);
  store_be16(header, 10, csum_replace16(load_be16(header, 10), old_word, new_word));
}

}  // namespace ustack::wire
