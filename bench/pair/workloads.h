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
};

// A sentence on stderr; returns the exit status (1).
int fail(const std::string& why);
// The one JSON line: `extra` is more top-level keys, each followed by ", "; `info` the body
// of the "info" object.
void print_result(double value, const char* unit, const std::string& extra,
                  const std::string& info);

int run_idle(const Options& o);
int run_pps(const Options& o);

}  // namespace ustack::bench
