// bench/lwip/lwip_pair.h — lwIP <-> lwIP: two processes (lwIP keeps its state in globals: one
// instance per process), each one lwIP instance with a RingNetif, joined by two FrameRings in
// shared memory. The client process (side 0, 10.0.0.1) drives the workload; the server process
// (side 1, 10.0.0.2) listens and answers. They meet in PairShared, mapped before fork().
#pragma once

#include "lwip_common.h"
#include "lwip_link.h"

#include <atomic>
#include <cstdint>

namespace lwip_bench {

inline constexpr int kClient = 0;
inline constexpr int kServer = 1;

// What one side reports to the parent.
struct SideReport {
  char error[512] = {};     // set when the side failed
  int64_t heap_growth = 0;  // idle: heap in use after all connections minus before
  int64_t cpu_ns = 0;       // this process's CPU time during the run
  LinkStats link;
  uint64_t tw_retired = 0;  // crr client: TIME-WAIT pcbs retired early (see --tw-cap)
};

// The workload's numbers, written by the side that measures them (bulk: the receiving server;
// rr, crr, idle: the client).
struct PairResult {
  double value = 0;
  double p50_us = 0;
  double p99_us = 0;
  double elapsed_s = 0;
  uint64_t bytes = 0;      // bulk: bytes received and checked
  uint64_t completed = 0;  // rr: transactions; crr: connections; idle: connections held
};

struct PairShared {
  FrameRing to_server;  // client -> server
  FrameRing to_client;  // server -> client
  std::atomic<int> server_ready{0};
  std::atomic<int64_t> accepted{0};  // connections the server has accepted
  std::atomic<int> measure{0};       // idle: both sides record their heap growth now
  std::atomic<int> measured{0};      // idle: sides that have
  std::atomic<int> stop{0};          // the run is over: both loops end
  std::atomic<int> failed{0};        // a side failed: both loops end
  SideReport side[2];
  PairResult result;
};

// Runs side `side` of the workload in this (forked) process; returns the exit code.
int run_pair_side(const Options& opt, PairShared* shared, int side);

}  // namespace lwip_bench
