// base/byteorder.h — big-endian (network order) loads and stores on byte pointers.
//
// Wire code never casts a struct over packet bytes (alignment and strict-aliasing UB, the lwIP
// and Seastar trap): it loads fields with these helpers. memcpy + bswap compiles to one mov and
// one bswap. Bounds are the caller's job: a wire View checks them once in parse().
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

namespace ustack {

inline uint16_t load_be16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap16(v);
  return v;
}
inline uint32_t load_be32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
  return v;
}
inline uint64_t load_be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}
inline void store_be16(uint8_t* p, uint16_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline void store_be64(uint8_t* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

// Span + offset forms, for Views that already validated the span's length.
inline uint16_t load_be16(std::span<const uint8_t> b, size_t off) {
  return load_be16(b.data() + off);
}
inline uint32_t load_be32(std::span<const uint8_t> b, size_t off) {
  return load_be32(b.data() + off);
}
inline void store_be16(std::span<uint8_t> b, size_t off, uint16_t v) {
  store_be16(b.data() + off, v);
}
inline void store_be32(std::span<uint8_t> b, size_t off, uint32_t v) {
  store_be32(b.data() + off, v);
}

}  // namespace ustack
