// app/tcp_pattern.h — the byte stream TcpSource sends (`ustack host --tcp-source`), defined in
// one place so tests and the CLI compute the same SHA-256.
//
// Byte i of the stream is byte (i mod 8) (little endian) of splitmix64(i / 8): every 8-byte
// word is a different 64-bit hash of its index. Unlike a counter (period 256) or a short
// repeated block, the stream has no small period, so a segment delivered at the wrong offset, a
// duplicated or a skipped segment changes the digest (a periodic pattern would hide a shift by a
// multiple of its period). Generating it costs one multiply-xorshift per 8 bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace ustack::app {

// splitmix64 (Steele, Lea, Flood 2014), the finaliser used by java.util.SplittableRandom.
constexpr uint64_t pattern_word(uint64_t index) {
  uint64_t z = (index + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Byte `i` of the stream.
constexpr uint8_t pattern_byte(uint64_t i) {
  return static_cast<uint8_t>(pattern_word(i / 8) >> (8 * (i % 8)));
}

// out[k] = pattern_byte(offset + k).
void pattern_fill(uint64_t offset, std::span<uint8_t> out);

// SHA-256 (64 hex digits) of the stream's first `bytes` bytes.
std::string pattern_sha256(uint64_t bytes);

}  // namespace ustack::app
