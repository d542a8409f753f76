// bench/lwip/lwip_tap.h — lwIP <-> Linux over an existing TAP device (bench_lwip tap-rx|tap-tx).
#pragma once

#include "lwip_common.h"

namespace lwip_bench {

// Runs one TAP workload in this process, prints its JSON line; returns the exit code.
int run_tap(const Options& opt);

}  // namespace lwip_bench
