// bench/bench_models.cc — request/response rate and latency of the five echo servers
// (examples/echo_servers.h), ustack against the Linux kernel, with the SAME server and client
// code (templates over the socket API: socket::SocketLayer or examples::KernelApi).
//
//   ustack: one process, one ustack host driven by rt::Runtime in real time (its stack
//           thread); client and server are application threads on that host, and their
//           traffic to the host's own address (10.0.0.1) takes ustack's loopback path.
//   Linux:  kernel sockets on 127.0.0.1 in the same process.
//
// A cell = (model, N connections, stack). The client is closed-loop: T = min(N, 4) threads
// each own N/T connections; a round sends one request (--size bytes, default 64) on each of its
// connections, then reads each echo in the same order, so every connection has exactly one
// request outstanding. Latency = from the send of a request to the last byte of its echo, as
// the client thread sees it (it includes waiting behind the echoes read before it). After a
// warm-up the cell runs for --seconds (default 1; --quick: 0.25) and reports requests/s, p50
// and p99. Model 5 has no Linux backend (no io_uring here); a ustack backend that is not
// merged yet (-ENOSYS) shows as "n/a".
//
//   bench_models [--quick] [--seconds S] [--size B] [--models blocking,epoll,...]
//                [--conns 1,64,1024]
// Plain program (not Google Benchmark): the output is one table with ustack/Linux ratios.
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "examples/echo_servers.h"
#include "examples/example_host.h"
#include "examples/kernel_api.h"

namespace ustack::examples {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchConfig {
  double seconds = 1.0;
  double warmup = 0.2;
  size_t size = 64;
  int tick_ms = 200;  // EchoOptions::tick: how often idle server threads wake
  std::vector<Model> models{std::begin(kAllModels), std::end(kAllModels)};
  std::vector<int> conns{1, 64, 1024};
};

struct CellResult {
  bool ran = false;
  std::string why;  // when !ran
  double rate = 0;  // requests per second
  double p50_us = 0, p99_us = 0;
  uint64_t requests = 0;
};

double percentile(std::vector<uint32_t>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

template <class Api>
int64_t read_exact(Api& api, int64_t fd, uint8_t* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = api.recv(fd, p + got, n - got, 0);
    if (r <= 0) return r == 0 ? -EPIPE : r;
    got += static_cast<size_t>(r);
  }
  return 0;
}

template <class Api>
CellResult run_cell(Api& api, uint32_t addr, Model m, int nconn, const BenchConfig& bc) {
  CellResult res;
  EchoOptions opt;
  opt.tick = Duration::ms(bc.tick_ms);  // idle blocking threads wake this often, no more
  auto server = make_echo_server(m, api, opt);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(addr);
  if (int r = server->start(sa); r != 0) {
    res.why = r == -ENOSYS ? "n/a" : std::string("start: ") + std::strerror(-r);
    return res;
  }
  sa.sin_port = htons(server->port());

  std::vector<int64_t> fds;
  for (int i = 0; i < nconn; ++i) {
    const int64_t c = api.socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    timeval tv{5, 0};
    int r = c < 0 ? static_cast<int>(c) : 0;
    if (r == 0) r = api.setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (r == 0) r = api.setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (r == 0) r = api.connect(c, sa);
    if (c >= 0) fds.push_back(c);
    if (r != 0) {
      res.why = std::string("connect: ") + std::strerror(-r);
      for (int64_t fd : fds) (void)api.close(fd);
      server->stop();
      return res;
    }
  }

  const int nthreads = std::min(nconn, 4);
  std::atomic<bool> measuring{false}, done{false}, failed{false};
  std::atomic<int> warm{0};  // client threads that got every echo of one round
  std::vector<std::vector<uint32_t>> lat(static_cast<size_t>(nthreads));
  std::vector<std::thread> ts;
  for (int t = 0; t < nthreads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<int64_t> mine;
      for (size_t i = static_cast<size_t>(t); i < fds.size(); i += static_cast<size_t>(nthreads)) {
        mine.push_back(fds[i]);
      }
      std::vector<uint8_t> req(bc.size, static_cast<uint8_t>('a' + t)), resp(bc.size);
      std::vector<Clock::time_point> sent(mine.size());
      auto& out = lat[static_cast<size_t>(t)];
      out.reserve(1 << 20);
      bool first = true;
      while (!done.load(std::memory_order_relaxed)) {
        for (size_t k = 0; k < mine.size(); ++k) {
          sent[k] = Clock::now();
          size_t off = 0;
          while (off < req.size()) {
            const ssize_t w = api.send(mine[k], req.data() + off, req.size() - off, MSG_NOSIGNAL);
            if (w <= 0) {
              failed = true;
              return;
            }
            off += static_cast<size_t>(w);
          }
        }
        const bool rec = measuring.load(std::memory_order_relaxed);
        for (size_t k = 0; k < mine.size(); ++k) {
          if (read_exact(api, mine[k], resp.data(), resp.size()) != 0) {
            failed = true;
            return;
          }
          if (rec) {
            const auto ns =
                std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent[k]);
            out.push_back(static_cast<uint32_t>(std::min<int64_t>(ns.count(), UINT32_MAX)));
          }
        }
        if (first) {
          first = false;
          ++warm;
        }
      }
    });
  }
  // Warm-up: every connection answered once (1024 new server threads, or accept backlogs,
  // take a while), then --warmup more.
  const auto limit = Clock::now() + std::chrono::seconds(20);
  while (warm.load() + (failed ? nthreads : 0) < nthreads && Clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(bc.warmup));
  measuring = true;
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(bc.seconds));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  done = true;
  for (auto& th : ts) th.join();
  for (int64_t fd : fds) (void)api.close(fd);
  server->stop();
  if (failed) {
    res.why = "client error";
    return res;
  }
  std::vector<uint32_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  res.ran = true;
  res.requests = all.size();
  res.rate = static_cast<double>(all.size()) / elapsed;
  res.p50_us = percentile(all, 0.50);
  res.p99_us = percentile(all, 0.99);
  return res;
}

std::string cell_text(const CellResult& r) {
  char b[96];
  if (!r.ran) {
    std::snprintf(b, sizeof b, "%10s %8s %8s", r.why.c_str(), "", "");
  } else {
    std::snprintf(b, sizeof b, "%10.0f %8.1f %8.1f", r.rate, r.p50_us, r.p99_us);
  }
  return b;
}

std::string ratio(double a, double b, bool ok) {
  char buf[16];
  if (!ok || b <= 0) return "     -";
  std::snprintf(buf, sizeof buf, "%6.2f", a / b);
  return buf;
}

std::optional<Model> parse_model(const std::string& s) {
  for (Model m : kAllModels) {
    if (model_name(m) == s) return m;
  }
  return std::nullopt;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int usage(const char* msg) {
  std::fprintf(
      stderr,
      "bench_models: %s\nusage: bench_models [--quick] [--seconds S] [--size B] [--tick-ms T] "
      "[--models blocking,nonblocking,epoll,signal,async] [--conns 1,64,1024]\n",
      msg);
  return 2;
}

int run(int argc, char** argv) {
  BenchConfig bc;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_val = i + 1 < argc;
    if (a == "--quick") {
      bc.seconds = 0.25;
      bc.warmup = 0.05;
    } else if (a == "--seconds" && has_val) {
      bc.seconds = std::atof(argv[++i]);
      if (bc.seconds <= 0) return usage("bad --seconds");
    } else if (a == "--tick-ms" && has_val) {
      bc.tick_ms = std::atoi(argv[++i]);
      if (bc.tick_ms <= 0) return usage("bad --tick-ms");
    } else if (a == "--size" && has_val) {
      bc.size = static_cast<size_t>(std::atol(argv[++i]));
      if (bc.size == 0) return usage("bad --size");
    } else if (a == "--models" && has_val) {
      bc.models.clear();
      for (const auto& s : split(argv[++i])) {
        auto m = parse_model(s);
        if (!m) return usage(("unknown model " + s).c_str());
        bc.models.push_back(*m);
      }
    } else if (a == "--conns" && has_val) {
      bc.conns.clear();
      for (const auto& s : split(argv[++i])) {
        const int n = std::atoi(s.c_str());
        if (n <= 0) return usage(("bad connection count " + s).c_str());
        bc.conns.push_back(n);
      }
    } else {
      return usage(("unknown option " + a).c_str());
    }
  }
  // 1024 connections are 2048 kernel fds (both ends), plus the threads' and the runtime's.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Model 4's signal must never reach a thread that does not wait for it; SIGPIPE is moot
  // (MSG_NOSIGNAL everywhere) but a reset must not kill the benchmark.
  SignalEcho<KernelApi>::block_signals();
  ::signal(SIGPIPE, SIG_IGN);

  auto host = ExampleHost::loopback(link::IfAddr{wire::Ipv4Addr{0x0a000001}, 24});
  KernelApi kapi;

  std::printf(
      "bench_models: request/response, %zu-byte messages, %.2f s per cell "
      "(ustack: one rt host, loopback path; Linux: 127.0.0.1)\n",
      bc.size, bc.seconds);
  std::printf("%-12s %6s | %-28s | %-28s | %-20s\n", "", "", "ustack", "Linux", "ustack / Linux");
  std::printf("%-12s %6s | %10s %8s %8s | %10s %8s %8s | %6s %6s %6s\n", "model", "conns", "req/s",
              "p50 us", "p99 us", "req/s", "p50 us", "p99 us", "rate", "p50", "p99");
  std::fflush(stdout);
  for (Model m : bc.models) {
    for (int n : bc.conns) {
      const CellResult u = run_cell(host->api(), 0x0a000001, m, n, bc);
      const CellResult k = run_cell(kapi, INADDR_LOOPBACK, m, n, bc);
      const bool both = u.ran && k.ran;
      std::printf("%-12s %6d | %s | %s | %s %s %s\n", std::string(model_name(m)).c_str(), n,
                  cell_text(u).c_str(), cell_text(k).c_str(), ratio(u.rate, k.rate, both).c_str(),
                  ratio(u.p50_us, k.p50_us, both).c_str(), ratio(u.p99_us, k.p99_us, both).c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace ustack::examples

int main(int argc, char** argv) { return ustack::examples::run(argc, argv); }
