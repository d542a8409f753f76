// base/checksum.h — the Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Values are 16-bit numbers in host order that mean the big-endian word on the wire: store
// them with store_be16. Partial sums chain: csum_partial(b2, csum_partial(b1)) equals the sum
// over b1 followed by b2 as long as b1 has even length (true for every header we sum).
#pragma once

#include <cstdint>
#include <span>

namespace ustack {

// One's-complement sum of `b` added to `initial`, folded to 16 bits, not complemented.
uint16_t csum_partial(std::span<const uint8_t> b, uint16_t initial = 0);

// One's-complement addition with end-around carry.
constexpr uint16_t csum_add(uint16_t a, uint16_t b) {
  uint32_t s = uint32_t(a) + b;
  return static_cast<uint16_t>((s & 0xffff) + (s >> 16));
}

// The checksum field value for data whose partial sum is `sum`.
constexpr uint16_t csum_finish(uint16_t sum) { return static_cast<uint16_t>(~sum); }

// RFC 1071: the checksum of `b` (what goes in the header's checksum field).
inline uint16_t inet_checksum(std::span<const uint8_t> b) { return csum_finish(csum_partial(b)); }

// Partial sum of the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1) for UDP and TCP.
constexpr uint16_t pseudo_header_sum_v4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len) {
  uint16_t s = csum_add(static_cast<uint16_t>(src >> 16), static_cast<uint16_t>(src));
  s = csum_add(s, static_cast<uint16_t>(dst >> 16));
  s = csum_add(s, static_cast<uint16_t>(dst));
  s = csum_add(s, proto);
  return csum_add(s, len);
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), the update when one 16-bit field changes from `old`
// to `now` (IP TTL decrement, NAT rewrite). Never yields the -0 (0xffff -> 0x0000) trap of
// eqn. 2 that RFC 1624 §3 warns about.
constexpr uint16_t csum_replace16(uint16_t check, uint16_t old, uint16_t now) {
  uint16_t s = csum_add(static_cast<uint16_t>(~check), static_cast<uint16_t>(~old));
  return static_cast<uint16_t>(~csum_add(s, now));
}
constexpr uint16_t csum_replace32(uint16_t check, uint32_t old, uint32_t now) {
  check = csum_replace16(check, static_cast<uint16_t>(old >> 16), static_cast<uint16_t>(now >> 16));
  return csum_replace16(check, static_cast<uint16_t>(old), static_cast<uint16_t>(now));
}

}  // namespace ustack
