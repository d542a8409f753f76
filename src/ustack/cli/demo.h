// cli/demo.h — `ustack demo`: the end-to-end demonstration of the device layer.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace ustack::cli {

struct DemoOptions {
  uint64_t seed = 1;
  int burst = 700;                   // scene 3: datagrams sent back to back
  uint32_t rx_ring = 512;            // scene 3: bob's RX ring size
  double loss = 0.1;                 // scene 4: drop probability on alice's TX
  double corrupt = 0.02;             // scene 4: bit-flip probability on alice\'s TX
  int lossy_frames = 200;            // scene 4: datagrams sent over the lossy cable
  std::string pcap_prefix = "demo";  // writes <prefix>-alice.pcap and <prefix>-bob.pcap
  bool quiet = false;                // no per-event journey lines
};

// Runs the four scenes, printing to `out`. Returns a process exit code.
int run_demo(const DemoOptions& opt, std::FILE* out);

}  // namespace ustack::cli
