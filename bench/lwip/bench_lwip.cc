// bench/lwip/bench_lwip.cc — the lwIP workload program of issue 6's comparison (bench/compare
// drives it): lwIP 2.1.3 from Debian's liblwip-dev, raw TCP API, no ustack code. One run, one
// JSON line on stdout, exit 0; on failure a sentence on stderr and a non-zero exit.
//
// Pair mode (`bench_lwip bulk|rr|crr|idle`): lwIP <-> lwIP. lwIP keeps its state in globals, so
// the two instances are two processes (forked from this one, which only supervises and prints),
// joined by a shared-memory frame ring each way (lwip_pair.h). TAP mode (`bench_lwip
// tap-rx|tap-tx`): one lwIP instance on an existing TAP device, the kernel as the peer.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "json_line.h"
#include "lwip_pair.h"
#include "lwip_tap.h"

namespace lwip_bench {
namespace {

constexpr char kUsage[] =
    R"(usage: bench_lwip <workload> [flags]
lwIP 2.1.3 (Debian liblwip-dev, raw TCP API) as a system under test; prints one JSON line.

Pair workloads: two lwIP instances (two processes, shared-memory frame rings, MTU 1500):
  bulk   one connection, goodput at the receiver (every byte checked)   -> gbit_s
  rr     --conns connections, one --size request/response each          -> tps, p50_us, p99_us
  crr    connect, request, response, close; --conns in flight           -> conn_s
  idle   --count established connections; heap growth / (2*count)       -> bytes_per_conn
TAP workloads: one lwIP instance on an existing TAP device, Linux as the peer:
  tap-rx --tap NAME --addr A/len --port N [--bytes B]: listen on A:N, count what Linux sends
         (gbit_s from first byte to last; B, when given, must arrive exactly)
  tap-tx --tap NAME --addr A/len --peer P --port N --bytes B: connect to P:N, send B zeros
         (gbit_s until all is ACKed and Linux has closed)

Flags:
  --seconds S   measuring time (default 10); bulk/tap-tx stop sending after S. Every run gives
                up after S + 20 s; idle after max(S, count/500) + 20 s (lwIP walks its linked
                pcb lists on each bind, connect and SYN: opening N connections costs O(N^2))
  --bytes N     bulk/tap-tx: stop after N bytes if that comes first (default 1 GiB)
  --mtu N       1500 only: Debian's build has TCP_MSS 1460 compiled in
  --conns N     rr: connections (default 1); crr: connections in flight (default 1)
  --count N     idle: connections to open and hold (default 100000)
  --size N      rr/crr message size (default 64)
  --port N      server port (default 5001; idle uses one more per 60000 connections)
  --tw-cap N    crr: TIME-WAIT pcbs the client keeps, N..2N (default 256; -1: lwIP's own
                120 s TIME-WAIT, which runs out of its 16384 ephemeral ports)
  --tap NAME, --addr A/len, --peer P: the TAP workloads' device and addresses
)";

int usage_error(const char* what) {
  std::fprintf(stderr, "bench_lwip: %s\n%s", what, kUsage);
  return 2;
}

bool parse(int argc, char** argv, Options* o, std::string* err) {
  if (argc < 2) return *err = "no workload given", false;
  o->workload = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string f = argv[i];
    if (i + 1 >= argc) return *err = "flag " + f + " needs a value", false;
    const char* v = argv[++i];
    char* end = nullptr;
    const double d = std::strtod(v, &end);
    const bool numeric = end != v && *end == '\0';
    if (f == "--tap") {
      o->tap = v;
    } else if (f == "--addr") {
      o->addr = v;
    } else if (f == "--peer") {
      o->peer = v;
    } else if (!numeric) {
      return *err = "unknown flag or bad value: " + f + " " + v, false;
    } else if (f == "--seconds") {
      o->seconds = d;
    } else if (f == "--bytes") {
      o->bytes = static_cast<uint64_t>(d);
      o->bytes_given = true;
    } else if (f == "--mtu") {
      o->mtu = static_cast<int>(d);
    } else if (f == "--conns") {
      o->conns = static_cast<int>(d);
    } else if (f == "--count") {
      o->count = static_cast<int>(d);
    } else if (f == "--size") {
      o->size = static_cast<int>(d);
    } else if (f == "--port") {
      o->port = static_cast<int>(d);
    } else if (f == "--tw-cap") {
      o->tw_cap = static_cast<int>(d);
    } else {
      return *err = "unknown flag " + f, false;
    }
  }
  if (o->conns == 0) o->conns = 1;
  if (!(o->seconds > 0) || o->seconds > 3600) return *err = "--seconds out of range", false;
  if (o->bytes == 0) return *err = "--bytes must be positive", false;
  if (o->conns < 1 || o->conns > 10000) return *err = "--conns out of range (1..10000)", false;
  if (o->count < 1 || o->count > 1000000) return *err = "--count out of range", false;
  if (o->size < 1 || o->size > 16384) return *err = "--size out of range (1..16384)", false;
  if (o->port < 1 || o->port > 65000) return *err = "--port out of range", false;
  return true;
}

void pair_info(JsonLine& j, const Options& o, const PairShared& sh) {
  const SideReport& c = sh.side[kClient];
  const SideReport& s = sh.side[kServer];
  j.begin("info");
  j.str("link", "shm-ring").str("threading", "tcpip-thread-polls");
  j.num("mtu", 1500).num("mss", TCP_MSS).num("tcp_wnd", TCP_WND).num("tcp_snd_buf", TCP_SND_BUF);
  j.num("seconds", sh.result.elapsed_s);
  if (o.workload == "bulk") j.num("bytes", static_cast<double>(sh.result.bytes));
  if (o.workload == "rr" || o.workload == "crr") {
    j.num("conns", o.conns).num("size", o.size);
    j.num("completed", static_cast<double>(sh.result.completed));
  }
  if (o.workload == "crr") {
    j.num("tcp_msl_ms", static_cast<double>(TCP_MSL)).num("tw_cap", o.tw_cap);
    j.num("tw_retired", static_cast<double>(c.tw_retired));
  }
  if (o.workload == "idle") {
    j.num("count", o.count);
    j.num("heap_client", static_cast<double>(c.heap_growth));
    j.num("heap_server", static_cast<double>(s.heap_growth));
    j.num("sizeof_tcp_pcb", sizeof(tcp_pcb)).num("sizeof_tcp_pcb_listen", sizeof(tcp_pcb_listen));
  }
  j.num("frames_c2s", static_cast<double>(c.link.tx_frames));
  j.num("frames_s2c", static_cast<double>(s.link.tx_frames));
  j.num("drops",
        static_cast<double>(c.link.tx_drops + c.link.rx_drops + s.link.tx_drops + s.link.rx_drops));
  j.num("cpu_s_client", static_cast<double>(c.cpu_ns) / 1e9);
  j.num("cpu_s_server", static_cast<double>(s.cpu_ns) / 1e9);
  j.end();
}

int run_pair(const Options& o) {
  void* mem = ::mmap(nullptr, sizeof(PairShared), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("bench_lwip: mmap");
    return 1;
  }
  auto* sh = new (mem) PairShared();
  std::fflush(nullptr);
  pid_t pids[2] = {-1, -1};
  for (const int side : {kServer, kClient}) {
    pids[side] = ::fork();
    if (pids[side] < 0) {
      std::perror("bench_lwip: fork");
      if (pids[kServer] > 0) ::kill(pids[kServer], SIGKILL);
      return 1;
    }
    if (pids[side] == 0) std::exit(run_pair_side(o, sh, side));
  }
  // Supervise: the sides give up after time_budget() themselves; this is the backstop.
  const int64_t give_up = deadline_after(time_budget(o) + 5);
  int status[2] = {-1, -1};
  int running = 2;
  while (running > 0) {
    int st = 0;
    const pid_t p = ::waitpid(-1, &st, WNOHANG);
    if (p > 0) {
      const int side = p == pids[kClient] ? kClient : kServer;
      status[side] = st;
      --running;
      if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) sh->failed.store(1);
      continue;
    }
    if (now_ns() > give_up) {
      for (const pid_t q : pids) ::kill(q, SIGKILL);
      while (::waitpid(-1, nullptr, 0) > 0) {
      }
      std::fprintf(stderr, "bench_lwip %s: the lwIP processes did not finish in %.0f s\n",
                   o.workload.c_str(), time_budget(o) + 5);
      return 1;
    }
    ::usleep(2000);
  }
  bool ok = true;
  for (const int side : {kClient, kServer}) {
    const char* name = side == kClient ? "client" : "server";
    if (sh->side[side].error[0] != '\0') {
      std::fprintf(stderr, "bench_lwip %s: %s: %s\n", o.workload.c_str(), name,
                   sh->side[side].error);
      ok = false;
    } else if (!(WIFEXITED(status[side]) && WEXITSTATUS(status[side]) == 0)) {
      std::fprintf(stderr, "bench_lwip %s: the %s process died (status %#x)\n", o.workload.c_str(),
                   name, status[side]);
      ok = false;
    }
  }
  if (ok && !(sh->result.value > 0)) {
    std::fprintf(stderr, "bench_lwip %s: no result\n", o.workload.c_str());
    ok = false;
  }
  if (ok) {
    static const char* const kUnits[][2] = {
        {"bulk", "gbit_s"}, {"rr", "tps"}, {"crr", "conn_s"}, {"idle", "bytes_per_conn"}};
    const char* unit = "";
    for (const auto& u : kUnits)
      if (o.workload == u[0]) unit = u[1];
    JsonLine j;
    j.str("system", "lwip-pair").str("workload", o.workload);
    j.num("value", sh->result.value).str("unit", unit);
    if (o.workload == "rr") j.num("p50_us", sh->result.p50_us).num("p99_us", sh->result.p99_us);
    pair_info(j, o, *sh);
    std::printf("%s\n", j.text().c_str());
  }
  sh->~PairShared();
  ::munmap(mem, sizeof(PairShared));
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace lwip_bench

int main(int argc, char** argv) {
  using namespace lwip_bench;
  if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Options o;
  std::string err;
  if (!parse(argc, argv, &o, &err)) return usage_error(err.c_str());
  if (o.workload == "tap-rx" || o.workload == "tap-tx") {
    if (o.tap.empty() || o.addr.empty() || (o.workload == "tap-tx" && o.peer.empty()))
      return usage_error("tap-rx needs --tap and --addr; tap-tx also --peer");
    return run_tap(o);
  }
  if (o.workload == "pps") {
    std::fprintf(stderr, "bench_lwip: pps is a ustack-only workload\n");
    return 2;
  }
  if (o.workload != "bulk" && o.workload != "rr" && o.workload != "crr" && o.workload != "idle")
    return usage_error(("unknown workload " + o.workload).c_str());
  if (o.mtu != 1500) {
    std::fprintf(stderr,
                 "bench_lwip: --mtu %d is not supported: Debian's liblwip has TCP_MSS %d compiled "
                 "in (an lwIP segment never carries more), so only --mtu 1500 is measured\n",
                 o.mtu, TCP_MSS);
    return 2;
  }
  return run_pair(o);
}
