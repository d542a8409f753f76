// transport/tcp_siphash.cc — SipHash-2-4 (Aumasson and Bernstein 2012; Linux lib/siphash.c).
#include "ustack/transport/tcp_siphash.h"

#include <bit>

namespace ustack::transport {
namespace {

constexpr uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

constexpr void store_le32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v >> 16);
  p[3] = uint8_t(v >> 24);
}

// One SipRound (paper §2, "SipRound"); Linux's SIPROUND macro.
struct SipState {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  // Compression: c = 2 rounds per message word.
  void compress(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace

SipKey SipKey::from_bytes(std::span<const uint8_t, 16> b) {
  return SipKey{load_le64(b.data()), load_le64(b.data() + 8)};
}

uint64_t siphash24(const SipKey& key, std::span<const uint8_t> msg) {
  // Initialization: the key xored into the constants "somepseudorandomlygeneratedbytes".
  SipState s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
             key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
  const size_t len = msg.size();
  const uint8_t* p = msg.data();
  const size_t whole = len & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) s.compress(load_le64(p + i));
  // The last word: the remaining 0..7 bytes, and the message length mod 256 in the top byte.
  uint64_t b = static_cast<uint64_t>(len) << 56;
  for (size_t i = 0; i < (len & 7); ++i) b |= static_cast<uint64_t>(p[whole + i]) << (8 * i);
  s.compress(b);
  // Finalization: d = 4 rounds.
  s.v2 ^= 0xff;
  s.round();
  s.round();
  s.round();
  s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t siphash_3u32(uint32_t a, uint32_t b, uint32_t c, const SipKey& key) {
  uint8_t m[12];
  store_le32(m, a);
  store_le32(m + 4, b);
  store_le32(m + 8, c);
  return siphash24(key, m);
}

uint64_t siphash_4u32(uint32_t a, uint32_t b, uint32_t c, uint32_t d, const SipKey& key) {
  uint8_t m[16];
  store_le32(m, a);
  store_le32(m + 4, b);
  store_le32(m + 8, c);
  store_le32(m + 12, d);
  return siphash24(key, m);
}

}  // namespace ustack::transport
