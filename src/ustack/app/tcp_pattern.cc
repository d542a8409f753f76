// app/tcp_pattern.cc — filling buffers with the TcpSource stream, and its digest.
#include "ustack/app/tcp_pattern.h"

#include <algorithm>
#include <array>

#include "ustack/app/sha256.h"

namespace ustack::app {

void pattern_fill(uint64_t offset, std::span<uint8_t> out) {
  size_t k = 0;
  // Up to the next word boundary byte by byte, then whole words.
  while (k < out.size() && (offset + k) % 8 != 0) {
    out[k] = pattern_byte(offset + k);
    ++k;
  }
  for (; k + 8 <= out.size(); k += 8) {
    const uint64_t w = pattern_word((offset + k) / 8);
    for (size_t b = 0; b < 8; ++b) out[k + b] = static_cast<uint8_t>(w >> (8 * b));
  }
  for (; k < out.size(); ++k) out[k] = pattern_byte(offset + k);
}

std::string pattern_sha256(uint64_t bytes) {
  Sha256 h;
  std::array<uint8_t, 65536> buf;
  for (uint64_t off = 0; off < bytes;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), bytes - off));
    pattern_fill(off, std::span<uint8_t>(buf.data(), n));
    h.update(std::span<const uint8_t>(buf.data(), n));
    off += n;
  }
  return h.finish_hex();
}

}  // namespace ustack::app
