// tests/unit/ip/frag_test_util.h — hand-built IPv4 datagrams and fragments for the
// fragmentation and reassembly tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"
#include "ustack/buf/pool.h"

namespace ustack::ip::testing {

inline constexpr uint32_t kSrc = 0xc0000201;  // 192.0.2.1
inline constexpr uint32_t kDst = 0xc6336402;  // 198.51.100.2

struct Hdr {
  uint16_t id = 0x1234;
  uint8_t proto = 17;
  bool df = false;
  bool mf = false;
  bool reserved = false;
  uint16_t offset = 0;  // bytes
  uint32_t src = kSrc;
  uint32_t dst = kDst;
  std::vector<uint8_t> options;  // a multiple of 4 bytes
};

// An IPv4 header (valid checksum) followed by `payload`.
inline std::vector<uint8_t> ipv4(const Hdr& h, std::span<const uint8_t> payload) {
  const size_t hlen = 20 + h.options.size();
  std::vector<uint8_t> b(hlen + payload.size());
  b[0] = static_cast<uint8_t>(0x40 | hlen / 4);
  store_be16(&b[2], static_cast<uint16_t>(b.size()));
  store_be16(&b[4], h.id);
  store_be16(&b[6], static_cast<uint16_t>((h.reserved ? 0x8000 : 0) | (h.df ? 0x4000 : 0) |
                                          (h.mf ? 0x2000 : 0) | h.offset / 8));
  b[8] = 64;
  b[9] = h.proto;
  store_be32(&b[12], h.src);
  store_be32(&b[16], h.dst);
  std::copy(h.options.begin(), h.options.end(), b.begin() + 20);
  store_be16(&b[10], inet_checksum(std::span<const uint8_t>(b).first(hlen)));
  std::copy(payload.begin(), payload.end(), b.begin() + static_cast<ptrdiff_t>(hlen));
  return b;
}

// Recognisable payload bytes: byte i of datagram `seed`.
inline std::vector<uint8_t> pattern(size_t n, uint32_t seed = 1) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i * 131 + seed * 7 + (i >> 8));
  return p;
}

inline PacketPtr packet(BufferPool& pool, std::span<const uint8_t> bytes, uint64_t trace = 0) {
  PacketPtr p = pool.alloc_copy(bytes, 64);
  p->set_network_header();
  p->trace_id = trace;
  return p;
}

// The fragment [off, off + len) of `payload` (the whole datagram's payload) with header `h`.
inline PacketPtr fragment(BufferPool& pool, Hdr h, std::span<const uint8_t> payload, size_t off,
                          size_t len, bool mf, uint64_t trace = 0) {
  h.offset = static_cast<uint16_t>(off);
  h.mf = mf;
  return packet(pool, ipv4(h, payload.subspan(off, len)), trace);
}

inline bool checksum_ok(std::span<const uint8_t> b) {
  const size_t hlen = static_cast<size_t>(b[0] & 0x0f) * 4;
  return csum_partial(b.first(hlen)) == 0xffff;
}
inline uint16_t total_len(std::span<const uint8_t> b) { return load_be16(&b[2]); }
inline uint16_t frag_off(std::span<const uint8_t> b) {
  return static_cast<uint16_t>((load_be16(&b[6]) & 0x1fff) * 8);
}
inline bool mf(std::span<const uint8_t> b) { return (b[6] & 0x20) != 0; }
inline bool df(std::span<const uint8_t> b) { return (b[6] & 0x40) != 0; }
inline size_t hlen(std::span<const uint8_t> b) { return static_cast<size_t>(b[0] & 0x0f) * 4; }

}  // namespace ustack::ip::testing
