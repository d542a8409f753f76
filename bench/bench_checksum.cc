// Internet checksum throughput next to memcpy of the same sizes (bytes/s reported by
// Google Benchmark; docs/performance.md converts to GB/s). Hot cache: the buffers fit in L1/L2,
// which is where a checksum over a just-received frame runs.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "ustack/base/checksum.h"
#include "ustack/base/rng.h"

namespace {

std::vector<uint8_t> random_bytes(size_t n) {
  ustack::Rng rng(1);
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng.next_u32());
  return b;
}

void BM_Checksum(benchmark::State& state) {
  const auto b = random_bytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.data());
    uint16_t s = ustack::csum_partial(b);
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Checksum)->Arg(20)->Arg(64)->Arg(1500)->Arg(9000)->Arg(65536);

void BM_Memcpy(benchmark::State& state) {
  const auto src = random_bytes(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> dst(src.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Memcpy)->Arg(20)->Arg(64)->Arg(1500)->Arg(9000)->Arg(65536);

void BM_ChecksumIncrementalTtl(benchmark::State& state) {
  uint16_t check = 0x26a7;
  uint16_t ttl_proto = 0x4001;
  for (auto _ : state) {
    const uint16_t next = static_cast<uint16_t>(ttl_proto - 0x0100);
    check = ustack::csum_replace16(check, ttl_proto, next);
    ttl_proto = next;
    benchmark::DoNotOptimize(check);
  }
}
BENCHMARK(BM_ChecksumIncrementalTtl);

}  // namespace
