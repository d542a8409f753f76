// bench/pair/workloads.h — bench_pair's options and the workloads split across its files
// (bench_pair.cc: bulk, rr, crr and main; idle_pps.cc: idle and pps).
#pragma once

#include <cstdint>
#include <string>

namespace ustack::bench {

struct Options {
  std::string workload;
  double seconds = 10;
  uint64_t bytes = 1ull << 30;
  uint32_t mtu = 1500;
  uint32_t conns = 1;
  uint32_t count = 100000;
  uint32_t size = 64;
  size_t buf = 0;
  uint32_t ring = 0;  // RX and TX descriptors per NIC (ethtool -G); 0: ring_for(mtu)
};

// The default ring: 256 descriptors up to MTU 1500 (frames in the pool's 2 KiB class); 16 for
// jumbo frames, whose receive buffers are 64 KiB jumbo-class blocks: 256 of them (16 MiB) cycle
// through the RX ring in FIFO order and every DMA copy lands in memory long evicted from the
// caches (bulk at MTU 65535 measured 27 Gbit/s per CPU second with 256, 40 with 16); 16 still
// holds a full default receive window (128 KiB) of 9000-byte frames.
inline uint32_t ring_for(const Options& o) {
  if (o.ring != 0) return o.ring;
  return o.mtu <= 1500 ? 256 : 16;
}

// A sentence on stderr; returns the exit status (1).
int fail(const std::string& why);
// The one JSON line: `extra` is more top-level keys, each followed by ", "; `info` the body
// of the "info" object.
void print_result(double value, const char* unit, const std::string& extra,
                  const std::string& info);

int run_idle(const Options& o);
int run_pps(const Options& o);

}  // namespace ustack::bench
