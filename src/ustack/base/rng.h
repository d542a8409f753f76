// base/rng.h — the one source of randomness: a seeded xoshiro256** generator.
//
// ISNs, ephemeral ports, DNS ids and fault injection all draw from an Rng that a runner seeds.
// Same seed, same sequence, on every machine: that is what makes simulated runs (and their
// pcaps) byte-identical. Never std::random_device or rand() in protocol code.
#pragma once

#include <cstdint>

namespace ustack {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t next_u64();
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  // Uniform in [0, bound) without modulo bias (Lemire's multiply-shift with rejection).
  uint64_t below(uint64_t bound);
  // Uniform in [lo, hi], inclusive.
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability p (clamped to [0, 1]); 53 random bits, so deterministic and exact
  // enough for fault injection rates down to 1e-15.
  bool chance(double p);
  // A child generator with an independent stream, so adding a consumer (say, a second fault
  // injector) does not shift every other consumer's sequence.
  Rng fork();

 private:
  uint64_t s_[4];
};

}  // namespace ustack
