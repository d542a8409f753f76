// bench/lwip/lwip_common.cc — clock, heap accounting, the bulk pattern and the tcpip-thread
// runner shared by bench_lwip's modes (see lwip_common.h).
#include "lwip_common.h"

#include <malloc.h>
#include <semaphore.h>
#include <time.h>
#include <unistd.h>

#include <lwip/tcpip.h>

#if defined(__SANITIZE_ADDRESS__)
// From <sanitizer/allocator_interface.h> (not shipped with every compiler's headers).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

#include <algorithm>
#include <array>

namespace lwip_bench {
namespace {

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct TcpipJob {
  std::function<void()> fn;
  sem_t done;
};

void tcpip_init_done(void* arg) {
  auto* job = static_cast<TcpipJob*>(arg);
  job->fn();
  ::sem_post(&job->done);
  // Never return to lwIP: the netifs and callback arguments fn used are gone, and lwIP's timers
  // (run by the tcpip thread when it gets back to its mailbox) would walk them. The thread
  // keeps the core lock and sleeps until the main thread exits the process.
  for (;;) ::pause();
}

}  // namespace

int64_t now_ns() { return clock_ns(CLOCK_MONOTONIC); }
int64_t cpu_ns() { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }
int64_t deadline_after(double seconds) { return now_ns() + static_cast<int64_t>(seconds * 1e9); }

double time_budget(const Options& opt) {
  const double s = opt.workload == "idle" ? std::max(opt.seconds, opt.count / 500.0) : opt.seconds;
  return s + 20;
}

int64_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  // ASan's allocator bypasses glibc's arenas (mallinfo2 stays flat): ask it instead (bytes
  // requested, without glibc's per-chunk overhead).
  return static_cast<int64_t>(__sanitizer_get_current_allocated_bytes());
#else
  const struct mallinfo2 mi = ::mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd);
#endif
}

const uint8_t* pattern() {
  static const auto table = [] {
    std::array<uint8_t, kPatternRun + kPatternPeriod> t{};
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<uint8_t>(i % kPatternPeriod);
    return t;
  }();
  return table.data();
}

void run_in_tcpip_thread(std::function<void()> fn) {
  static TcpipJob job;  // lwIP is one instance per process: tcpip_init runs once
  job.fn = std::move(fn);
  ::sem_init(&job.done, 0, 0);
  tcpip_init(&tcpip_init_done, &job);
  while (::sem_wait(&job.done) != 0) {
  }
}

}  // namespace lwip_bench
