// bench/kernel/main.cc — bench_kernel: the Linux-kernel system under test of issue 6's
// side-by-side comparison (bench/compare drives it). Kernel sockets only, no ustack code. Two
// roles, one binary, so the driver can put each end in its own namespace (veth) or both on
// loopback:
//   bench_kernel server --port P [--bind ADDR] [--ports K] [--seconds-limit S] [--cpu C]
//   bench_kernel <bulk|rr|crr|idle> --addr SERVER --port P [contract flags]   (the client)
//   bench_kernel <bulk|rr|crr|idle> --local [contract flags]  (server process on 127.0.0.1)
// The client prints the contract's one JSON line on stdout and exits 0, or a sentence on stderr
// and exits 1; it gives up after --seconds + 20 s (SIGALRM). The server prints one line when it
// listens ({"server": "listening", ...}) and serves until SIGTERM/SIGINT or --seconds-limit.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client.h"
#include "server.h"

namespace {

using namespace bench_kernel;

constexpr const char* kUsage = R"(usage:
  bench_kernel server [--port P] [--bind ADDR] [--ports K] [--seconds-limit S] [--cpu C]
  bench_kernel WORKLOAD (--addr SERVER_ADDR [--port P] | --local) [flags]

The Linux-kernel workload program of the benchmark comparison (kernel TCP sockets only). The
client runs one measurement and prints one JSON line: {"value": ..., "unit": ..., "info": {...}}.

workloads:
  bulk   one connection, 64 KiB write()s of a pattern for --seconds or --bytes; the server
         verifies every byte; value = goodput at the receiver, first byte to last (gbit_s)
  rr     --conns connections, TCP_NODELAY, one --size request outstanding on each (tps, with
         p50_us and p99_us per request)
  crr    connect, --size request, --size response, close (client first); --conns in flight
         (conn_s; EADDRNOTAVAIL = TIME-WAIT ports exhausted: set net.ipv4.tcp_tw_reuse)
  idle   --count connections held open and idle; kernel slab growth / (2 x count), both ends
         being in this kernel (bytes_per_conn; per-cache breakdown in info; needs root for
         /proc/slabinfo and RLIMIT_NOFILE; the slab is machine-wide: other activity is noise)
  (pps is ustack-only: not supported here)

flags:
  --seconds S        measuring time (default 10)
  --bytes N          bulk: stop after N bytes if that comes first (default 1 GiB)
  --mtu N            accepted and reported in info; not applied (the driver sets the link MTU)
  --conns N          rr: connections (default 1); crr: connections in flight (default 1)
  --count N          idle: connections (default 100000)
  --size N           rr/crr message size, 1..65536 (default 64)
  --addr A           server address (default 127.0.0.1)
  --port P           server's first port (default 5601; with --local: ephemeral unless given)
  --ports K          server listens on P..P+K-1 (default 4; idle spreads over as many as
                     --count needs, ~28 000 connections per port with the default port range)
  --local            start the server as a child process, on 127.0.0.1
  --bind A           server: address to listen on (default 0.0.0.0)
  --seconds-limit S  server: exit 0 after S seconds (default: until SIGTERM or SIGINT)
  --cpu C            pin the client (or the server role) to CPU C
  --server-cpu C     --local: pin the server to CPU C
)";

[[noreturn]] void usage_error(const char* what, const char* arg) {
  std::fprintf(stderr, "bench_kernel: %s%s\n\n%s", what, arg, kUsage);
  std::exit(2);
}

char g_alarm_msg[160];
void on_alarm(int) {
  ::write(STDERR_FILENO, g_alarm_msg, std::strlen(g_alarm_msg));
  ::_exit(1);
}

Options parse(int argc, char** argv, bool* port_given) {
  Options o;
  if (argc < 2) usage_error("missing workload", "");
  o.workload = argv[1];
  if (o.workload == "--help" || o.workload == "-h") {
    std::fputs(kUsage, stdout);
    std::exit(0);
  }
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--local") {
      o.local = true;
      continue;
    }
    if (i + 1 >= argc) usage_error("missing value for ", argv[i]);
    const char* v = argv[++i];
    char* end = nullptr;
    const double num = std::strtod(v, &end);
    const bool numeric = end != v && *end == '\0';
    auto need_int = [&](double lo, double hi) {
      if (!numeric || num < lo || num > hi || num != std::floor(num))
        usage_error("bad value for ", flag.c_str());
      return static_cast<int>(num);
    };
    if (flag == "--seconds") {
      if (!numeric || num <= 0 || num > 86400) usage_error("bad value for ", "--seconds");
      o.seconds = num;
    } else if (flag == "--seconds-limit") {
      if (!numeric || num < 0) usage_error("bad value for ", "--seconds-limit");
      o.seconds_limit = num;
    } else if (flag == "--bytes") {
      if (!numeric || num < 1) usage_error("bad value for ", "--bytes");
      o.bytes = static_cast<uint64_t>(num);
    } else if (flag == "--mtu") {
      o.mtu = need_int(68, 65536);
    } else if (flag == "--conns") {
      o.conns = need_int(1, 10000);
    } else if (flag == "--count") {
      o.count = need_int(1, 1000000);
    } else if (flag == "--size") {
      o.size = need_int(1, static_cast<double>(kPatternSlack));
    } else if (flag == "--port") {
      o.port = need_int(0, 65535);
      *port_given = true;
    } else if (flag == "--ports") {
      o.ports = need_int(1, 64);
    } else if (flag == "--cpu") {
      o.cpu = need_int(0, 4095);
    } else if (flag == "--server-cpu") {
      o.server_cpu = need_int(0, 4095);
    } else if (flag == "--addr") {
      o.addr = v;
    } else if (flag == "--bind") {
      o.bind = v;
    } else {
      usage_error("unknown flag ", flag.c_str());
    }
  }
  return o;
}

// The server role. `stop_fd` (-1: SIGTERM/SIGINT through a signalfd) ends it; `ready_fd` (-1:
// stdout, as a JSON line) receives the listening ports once they listen.
int serve(const Options& o, int stop_fd, int ready_fd) {
  pin_to_cpu(o.cpu);
  const int64_t nr_open = read_sysctl_int("/proc/sys/fs/nr_open");
  const uint64_t nofile = raise_nofile(static_cast<uint64_t>(std::max<int64_t>(nr_open, 65536)));
  if (stop_fd < 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    stop_fd = ::signalfd(-1, &set, SFD_CLOEXEC);
    if (stop_fd < 0) fatal_errno(errno, "server: signalfd");
  }
  Server server(o.bind, o.port, o.ports);
  server.enable_spill(nofile > 256 ? nofile - 64 : nofile / 2);
  std::string ports;
  for (const int p : server.ports()) {
    if (!ports.empty()) ports += ' ';
    ports.append(std::to_string(p));
  }
  if (ready_fd >= 0) {
    ports += '\n';
    if (::write(ready_fd, ports.data(), ports.size()) < 0) fatal_errno(errno, "server: ready");
    ::close(ready_fd);
  } else {
    std::printf("{\"server\": \"listening\", \"bind\": \"%s\", \"port\": %d, \"ports\": %d}\n",
                o.bind.c_str(), server.ports()[0], o.ports);
    std::fflush(stdout);
  }
  const int64_t deadline =
      o.seconds_limit > 0 ? monotonic_ns() + static_cast<int64_t>(o.seconds_limit * 1e9) : 0;
  server.run(stop_fd, deadline);
  return 0;
}

// --local: the server in a child process on 127.0.0.1, as it would run in another namespace.
// It stops when `*stop_w` is closed (or this process dies). Returns its ports.
std::vector<int> start_local_server(const Options& o, bool port_given, int* stop_w, int* pid_out) {
  int ready[2];
  int stop[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(stop, O_CLOEXEC) != 0) fatal_errno(errno, "pipe");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) fatal_errno(errno, "fork");
  if (pid == 0) {
    ::close(ready[0]);
    ::close(stop[1]);
    Options so = o;
    so.bind = "127.0.0.1";
    so.port = port_given ? o.port : 0;
    so.cpu = o.server_cpu;
    ::_exit(serve(so, stop[0], ready[1]));
  }
  ::close(ready[1]);
  ::close(stop[0]);
  std::string line;
  char buf[256];
  ssize_t n = 0;
  while ((n = ::read(ready[0], buf, sizeof buf)) > 0) line.append(buf, static_cast<size_t>(n));
  ::close(ready[0]);
  std::vector<int> ports;
  size_t pos = 0;
  while (pos < line.size()) {
    char* end = nullptr;
    const long p = std::strtol(line.c_str() + pos, &end, 10);
    if (end == line.c_str() + pos) break;
    ports.push_back(static_cast<int>(p));
    pos = static_cast<size_t>(end - line.c_str());
  }
  if (ports.empty()) fatal("--local: the server process did not start (see above)");
  *stop_w = stop[1];
  *pid_out = pid;
  return ports;
}

}  // namespace

int main(int argc, char** argv) {
  bool port_given = false;
  Options o = parse(argc, argv, &port_given);
  ::signal(SIGPIPE, SIG_IGN);  // a peer's RST is an error to report, not a silent death
  if (o.workload == "server") return serve(o, -1, -1);
  if (o.workload == "pps")
    fatal("pps (simulated-link frames per second) is ustack-only: the kernel has no such path");
  if (o.workload != "bulk" && o.workload != "rr" && o.workload != "crr" && o.workload != "idle")
    usage_error("unknown workload ", o.workload.c_str());

  // Bounded in time, whatever happens (contract: --seconds + 20 s at most).
  const unsigned limit = static_cast<unsigned>(std::ceil(o.seconds)) + 20;
  std::snprintf(g_alarm_msg, sizeof g_alarm_msg,
                "bench_kernel: %s: gave up after %u s (time limit: --seconds + 20)\n",
                o.workload.c_str(), limit);
  ::signal(SIGALRM, on_alarm);
  ::alarm(limit);

  Target target{o.local ? std::string("127.0.0.1") : o.addr, {}};
  int stop_w = -1;
  if (o.local) {
    target.ports = start_local_server(o, port_given, &stop_w, &o.server_pid);
  } else {
    for (int i = 0; i < o.ports; ++i) target.ports.push_back(o.port + i);
  }
  pin_to_cpu(o.cpu);

  Json j;
  if (o.workload == "bulk")
    j = run_bulk(o, target);
  else if (o.workload == "rr")
    j = run_rr(o, target);
  else if (o.workload == "crr")
    j = run_crr(o, target);
  else
    j = run_idle(o, target);

  if (o.local) {
    ::close(stop_w);  // the server process sees EOF, closes its connections and exits
    ::waitpid(o.server_pid, nullptr, 0);
  }
  std::printf("%s\n", j.text().c_str());
  std::fflush(stdout);
  return 0;
}
