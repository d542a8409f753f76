// bench/kernel/client.h — the client role of bench_kernel: one function per workload, each
// running one measurement against a server (in-process with --local, or in another namespace)
// and returning the JSON line of the contract (bench/kernel/main.cc prints it).
#pragma once

#include <string>
#include <vector>

#include "kernel_common.h"

namespace bench_kernel {

struct Target {
  std::string addr;
  std::vector<int> ports;  // the server's listening ports; ports[0] serves bulk, rr and crr
};

// Blocking connect to target port `port_index`, retrying while the server is not listening yet
// (ECONNREFUSED) for up to 5 s; exits with a clear error otherwise.
int connect_with_retry(const Target& t, size_t port_index);
// Writes all of `data`, waiting for POLLOUT on a non-blocking socket; exits on error.
void write_all(int fd, const void* data, size_t len, const char* what);
// Fields every workload puts in "info": the kernel, mode, and TCP counters of this namespace.
struct CommonInfo {
  int64_t retrans0 = 0;
  int64_t loss_probes0 = 0;
  int64_t out_segs0 = 0;
  int64_t in_segs0 = 0;
  int64_t cpu0 = 0;
  int64_t server_cpu0 = 0;  // --local: the server process's CPU time (/proc/PID/schedstat)
  void start(const Options& o);
  void finish(const Options& o, const Target& t, Json& info) const;
};

Json run_bulk(const Options& o, const Target& t);
Json run_rr(const Options& o, const Target& t);
Json run_crr(const Options& o, const Target& t);
Json run_idle(const Options& o, const Target& t);

}  // namespace bench_kernel
