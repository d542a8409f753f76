// cli/demo.h — `ustack demo`: Linux networking layer by layer, shown on real ustack stacks in a
// simulated network (demo_net.h describes it; demo*.cc hold the scenes).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace ustack::cli {

struct DemoOptions {
  uint64_t seed = 1;                 // the world's seed: stacks' random choices, faults
  int burst = 700;                   // scene 2: datagrams sent back to back
  uint32_t rx_ring = 512;            // scene 2: bob's eth0 RX ring size
  double loss = 0.1;                 // scene 3: drop probability on alice's eth0 TX
  double corrupt = 0.02;             // scene 3: bit-flip probability on alice's eth0 TX
  int lossy_frames = 200;            // scene 3: pings sent over the lossy cable
  std::string pcap_prefix = "demo";  // writes <prefix>-<host>-<ifname>.pcap
  bool quiet = false;                // no per-event journey lines
};

// Runs the six scenes, printing to `out`. Returns a process exit code: 0 if every self-check
// passed, 1 if one failed, 2 if a capture file cannot be written.
int run_demo(const DemoOptions& opt, std::FILE* out);

}  // namespace ustack::cli
