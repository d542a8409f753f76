// bench/lwip/lwip_common.h — what bench_lwip's pair and TAP modes share: the options, the clock,
// the bulk data pattern, heap accounting, and running a function inside lwIP's tcpip thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace lwip_bench {

struct Options {
  std::string workload;  // bulk | rr | crr | idle | tap-rx | tap-tx
  double seconds = 10;
  uint64_t bytes = 1ull << 30;
  bool bytes_given = false;  // --bytes was on the command line
  int mtu = 1500;
  int conns = 0;  // 0: the workload's default (rr 1, crr 1)
  int count = 100000;
  int size = 64;
  int port = 5001;
  int tw_cap = 256;  // crr: TIME-WAIT pcbs the client keeps (see bench_lwip.cc's usage)
  std::string tap;   // tap-*: device name
  std::string addr;  // tap-*: our address A/len
  std::string peer;  // tap-*: the kernel's address
};

int64_t now_ns();                // CLOCK_MONOTONIC
int64_t cpu_ns();                // CLOCK_PROCESS_CPUTIME_ID
int64_t heap_in_use();           // mallinfo2(): bytes in use in all malloc arenas
int64_t deadline_after(double);  // now_ns() + seconds

// Seconds after which a run gives up: --seconds + 20, except that idle allows count/500 s for
// opening its connections (lwIP walks its linked pcb lists on every bind, connect and SYN, so
// opening N connections costs O(N^2): 50k took 8-12 s of CPU per side here, 100k ~4x that).
double time_budget(const Options& opt);

// The bulk pattern: byte i of the stream is i % kPatternPeriod. pattern() is long enough for a
// 64 KiB run starting at any phase.
inline constexpr uint32_t kPatternPeriod = 251;  // prime: no alignment hides a shifted stream
const uint8_t* pattern();
inline constexpr uint32_t kPatternRun = 65536;

// Starts lwIP (tcpip_init) and runs `fn` in its tcpip thread, with the core lock held, as the
// tcpip_init_done callback: the whole benchmark is the tcpip thread's work, driving the links
// and lwIP's timers itself. Returns when `fn` returns; lwIP stays frozen from then on (the
// process is expected to exit).
void run_in_tcpip_thread(std::function<void()> fn);

}  // namespace lwip_bench
