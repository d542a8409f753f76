// transport/tcp_siphash.h — SipHash-2-4, the keyed pseudorandom function behind TCP's secrets.
//
// RFC 6528 (ISNs), RFC 6056 (ephemeral ports) and RFC 4987 (SYN cookies) each need a keyed
// hash that an off-path attacker cannot predict or invert. Linux uses SipHash-2-4 for all three
// (lib/siphash.c: secure_tcp_seq, secure_ipv4_port_ephemeral, cookie_hash); so do we. This is
// the reference algorithm of Aumasson and Bernstein ("SipHash: a fast short-input PRF", 2012):
// 128-bit key, 64-bit output, little-endian message words, 2 compression and 4 finalization
// rounds. No allocation: the fixed-width helpers build their message on the stack, the way
// Linux's siphash_3u32()/siphash_4u32() hash 12 or 16 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ustack/base/rng.h"

namespace ustack::transport {

// A 128-bit SipHash key (Linux's siphash_key_t): k0 is key bytes 0..7, k1 bytes 8..15, each
// read little-endian.
struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;

  // Sixteen key bytes, as the SipHash paper writes keys.
  static SipKey from_bytes(std::span<const uint8_t, 16> b);
  // A fresh secret from the stack's seeded Rng (Linux: net_get_random_once).
  static SipKey from_rng(Rng& rng) { return SipKey{rng.next_u64(), rng.next_u64()}; }

  friend constexpr bool operator==(const SipKey&, const SipKey&) = default;
};

// SipHash-2-4 of `msg` under `key`.
uint64_t siphash24(const SipKey& key, std::span<const uint8_t> msg);

// Linux's siphash_3u32(a, b, c): the 12 bytes a, b, c, each little-endian.
uint64_t siphash_3u32(uint32_t a, uint32_t b, uint32_t c, const SipKey& key);
// Linux's siphash_4u32(a, b, c, d): the 16 bytes a, b, c, d, each little-endian.
uint64_t siphash_4u32(uint32_t a, uint32_t b, uint32_t c, uint32_t d, const SipKey& key);

}  // namespace ustack::transport
