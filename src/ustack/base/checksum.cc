#include "ustack/base/checksum.h"

#include <bit>
#include <cstring>

namespace ustack {

// Sums native-order 32-bit words into a 64-bit accumulator (no carry can be lost before 2^32
// words), then folds. The one's-complement sum is byte-order independent (RFC 1071 §2(B)), so
// summing little-endian words and swapping once at the end equals summing big-endian words.
// The plain loop is what g++ vectorizes (paddq over zero-extended lanes) at -O2.
uint16_t csum_partial(std::span<const uint8_t> b, uint16_t initial) {
  const uint8_t* p = b.data();
  size_t n = b.size();
  uint64_t sum = 0;
  for (; n >= 4; n -= 4, p += 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    sum += w;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    n -= 2;
    p += 2;
  }
  if (n == 1) {
    // A lone last byte is the high byte of a zero-padded big-endian word (RFC 1071 §4.1).
    if constexpr (std::endian::native == std::endian::little) {
      sum += *p;
    } else {
      sum += uint32_t(*p) << 8;
    }
  }
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  uint32_t s32 = static_cast<uint32_t>(sum);
  s32 = (s32 & 0xffff) + (s32 >> 16);
  s32 = (s32 & 0xffff) + (s32 >> 16);
  uint16_t s16 = static_cast<uint16_t>(s32);
  if constexpr (std::endian::native == std::endian::little) s16 = __builtin_bswap16(s16);
  return csum_add(s16, initial);
}

}  // namespace ustack
