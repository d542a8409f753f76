// cli/host.cc — `ustack host`: open the TAPs, configure one Stack, run it on rt::Runtime until
// SIGINT/SIGTERM, print its tables.
//
// Object lifetimes (declaration order matters): the devices' buffer pool, then the devices,
// then the Stack (it refers to the devices, and its destructor detaches them), then the
// Runtime and the services (they refer to the Stack). Destruction runs the other way.
//
// Devices: TapDevice, wrapped in a FaultInjector when an --impair applies to it, wrapped in a
// PcapCapture when capturing. The capture is outermost, so it records what the stack sent and
// what reached it (after RX faults, before TX faults): every segment in the file was really
// seen or sent by ustack, which keeps tshark's TCP analysis meaningful under loss.
//
// Signals: SIGINT and SIGTERM are blocked and read from a signalfd that the Runtime watches
// like any other fd, so a signal wakes the loop at once and is handled on the loop's thread
// (no async-signal-safety concerns, no global state).
#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "ustack/app/tcp_apps.h"
#include "ustack/app/udp_echo.h"
#include "ustack/base/rng.h"
#include "ustack/cli/host.h"
#include "ustack/dev/fault_injector.h"
#include "ustack/dev/fault_spec.h"
#include "ustack/dev/pcap.h"
#include "ustack/dev/tap.h"
#include "ustack/rt/runtime.h"
#include "ustack/stack/stack.h"

namespace ustack::cli {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitTransferFailed = 1;

// ustack's end of the cable: a locally administered unicast MAC (first octet 0x02) that depends
// only on the seed and the interface's position, so a rerun with the same seed keeps its MACs
// (the kernel's neighbour cache stays valid).
wire::MacAddr derive_mac(uint64_t seed, size_t index) {
  Rng rng(seed);
  uint64_t bits = 0;
  for (size_t i = 0; i <= index; ++i) bits = rng.next_u64();
  wire::MacAddr m;
  m.b[0] = 0x02;
  for (size_t i = 1; i < 6; ++i) m.b[i] = static_cast<uint8_t>(bits >> (8 * (i - 1)));
  return m;
}

std::string pcap_path(const std::string& base, size_t index, const std::string& ifname) {
  return index == 0 ? base : base + "." + ifname;
}

// The --impair that applies to tap `name`: its own, else the one for every tap, else none.
const Impairment* impairment_for(const HostConfig& cfg, const std::string& name) {
  const Impairment* all = nullptr;
  for (const Impairment& i : cfg.impairs) {
    if (i.tap == name) return &i;
    if (i.tap.empty()) all = &i;
  }
  return all;
}

std::string fault_stats_line(const std::string& ifname, const char* dir, const dev::FaultStats& s) {
  return fmt::format(
      "impair {} {}: frames {} dropped {} duplicated {} reordered {} corrupted {} delayed {}\n",
      ifname, dir, s.frames, s.dropped, s.duplicated, s.reordered, s.corrupted, s.delayed);
}

int fail(std::FILE* err, const std::string& msg) {
  std::fprintf(err, "ustack host: %s\n", msg.c_str());
  return kExitUsage;
}

// Blocks SIGINT/SIGTERM for this thread (and threads it starts) and returns a signalfd for
// them, or -1. The old mask is restored by the caller.
int block_stop_signals(sigset_t* old) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (::pthread_sigmask(SIG_BLOCK, &set, old) != 0) return -1;
  return ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

// Consumes the SIGINT/SIGTERM pending on the signalfd, so that restoring the old mask does not
// deliver them.
void drain_stop_signals(int sfd) {
  signalfd_siginfo si{};
  while (::read(sfd, &si, sizeof si) == sizeof si) {
  }
}

}  // namespace

int run_host(const HostConfig& cfg, std::FILE* out, std::FILE* err) {
  // 1. Devices: TapDevice, wrapped in PcapCapture when capturing.
  PoolHandle dev_pool = BufferPool::create();
  std::vector<std::unique_ptr<dev::NetDevice>> devs;
  std::vector<dev::PcapCapture*> captures;
  std::vector<const dev::TapDevice*> taps;
  std::vector<std::pair<std::string, dev::FaultInjector*>> injectors;
  for (size_t i = 0; i < cfg.taps.size(); ++i) {
    dev::DeviceConfig dc;
    dc.name = cfg.taps[i].name;
    dc.mac = derive_mac(cfg.seed, i);
    dc.mtu = cfg.taps[i].mtu.value_or(cfg.mtu);
    auto tap = dev::TapDevice::open(dc, *dev_pool, cfg.taps[i].name, dev::TapDevice::kCloneDevice,
                                    dev::TapOptions{.offload = cfg.tap_offload});
    if (!tap) return fail(err, fmt::format("--tap {}: {}", dc.name, tap.error().to_string()));
    taps.push_back(tap->get());
    std::unique_ptr<dev::NetDevice> d = std::move(*tap);
    if (const Impairment* imp = impairment_for(cfg, dc.name)) {
      dev::FaultInjectorConfig fc = imp->cfg;
      fc.seed += i;  // one spec for every tap still draws independent faults on each
      auto fi = std::make_unique<dev::FaultInjector>(std::move(d), fc);
      injectors.emplace_back(dc.name, fi.get());
      d = std::move(fi);
    }
    if (!cfg.pcap.empty()) {
      const std::string path = pcap_path(cfg.pcap, i, cfg.taps[i].name);
      dev::PcapWriterOptions po;
      po.snaplen = cfg.pcap_snaplen;
      auto w = dev::PcapWriter::open(path, po);
      if (!w) return fail(err, fmt::format("--pcap {}: {}", path, w.error().message));
      auto cap = std::make_unique<dev::PcapCapture>(std::move(d), std::move(*w));
      captures.push_back(cap.get());
      d = std::move(cap);
    }
    devs.push_back(std::move(d));
  }

  // 2. The stack.
  stack::StackConfig sc;
  sc.name = "host";
  sc.seed = cfg.seed;
  sc.ip.forwarding = cfg.forward;
  if (cfg.neigh_reachable_ms) sc.neigh.base_reachable_time = Duration::ms(*cfg.neigh_reachable_ms);
  if (cfg.neigh_delay_probe_ms)
    sc.neigh.delay_first_probe_time = Duration::ms(*cfg.neigh_delay_probe_ms);
  if (cfg.tcp_time_wait_ms) sc.tcp.time_wait = Duration::ms(*cfg.tcp_time_wait_ms);
  stack::Stack stack(sc);
  TracePrinter printer(err);
  if (cfg.trace_mask != 0) stack.telemetry().set_sink(&printer, cfg.trace_mask);
  rt::Runtime runtime(stack);

  std::string ready;
  for (size_t i = 0; i < devs.size(); ++i) {
    link::Interface& ifc = stack.add_interface(*devs[i]);
    for (const link::IfAddr& a : cfg.taps[i].addrs) {
      if (auto r = stack.add_address(runtime.now(), ifc.ifindex(), a); !r)
        return fail(err, fmt::format("--addr {}/{} on {}: {}", a.addr.to_string(), a.prefix_len,
                                     ifc.name(), r.error()));
      ready += fmt::format("{}{} {}/{}", ready.empty() ? "" : ", ", ifc.name(), a.addr.to_string(),
                           a.prefix_len);
    }
  }
  for (const auto& [name, fi] : injectors)
    ready += fmt::format(", impair {} {}", name, dev::format_fault_spec(fi->config()));
  if (cfg.tap_offload) ready += ", tap offload";
  // 3. Routes (after the addresses: a gateway must be on a connected subnet).
  if (cfg.gateway) {
    if (auto r = stack.add_default_route(*cfg.gateway); !r)
      return fail(err, fmt::format("--gateway {}: {}", cfg.gateway->to_string(),
                                   ip::fib_error_name(r.error())));
  }
  for (const HostConfig::StaticRoute& sr : cfg.routes) {
    auto via = stack.fib().lookup(sr.gateway);
    if (!via || via->type != ip::RouteType::kUnicast || via->route == nullptr ||
        !via->route->gateway.is_unspecified())
      return fail(err, fmt::format("--route via {}: the gateway is not on a connected subnet",
                                   sr.gateway.to_string()));
    ip::Route r;
    r.dst = sr.dst;
    r.prefix_len = sr.prefix_len;
    r.gateway = sr.gateway;
    r.ifindex = via->ifindex;
    r.metric = sr.metric;
    r.proto = ip::RouteProto::kStatic;
    if (auto res = stack.add_route(r); !res)
      return fail(err, fmt::format("--route {}/{} via {}: {}", sr.dst.to_string(), sr.prefix_len,
                                   sr.gateway.to_string(), ip::fib_error_name(res.error())));
  }
  // 4. Netfilter rules: --rule lines in order, then the --rules file.
  for (const std::string& line : cfg.rules) {
    auto c = filter::parse_command(line);
    if (!c) return fail(err, fmt::format("--rule \"{}\": {}", line, c.error()));
    if (auto r = stack.netfilter().apply(*c); !r)
      return fail(err, fmt::format("--rule \"{}\": {}", line, r.error()));
  }
  if (!cfg.rules_file.empty()) {
    std::ifstream in(cfg.rules_file);
    if (!in) return fail(err, fmt::format("--rules {}: cannot read the file", cfg.rules_file));
    std::stringstream text;
    text << in.rdbuf();
    if (auto r = stack.netfilter().load(text.str()); !r)
      return fail(err, fmt::format("--rules {}: {}", cfg.rules_file, r.error()));
  }
  // 5. Applications.
  std::unique_ptr<app::UdpEcho> echo;
  if (cfg.udp_echo) {
    echo = std::make_unique<app::UdpEcho>(stack);
    if (auto r = echo->start(*cfg.udp_echo); !r)
      return fail(err, fmt::format("--udp-echo {}: bind failed: {}", *cfg.udp_echo,
                                   std::strerror(r.error())));
  }

  const app::TcpServiceOptions tcp_opt{.backlog = cfg.tcp_backlog,
                                       .pause_accept = cfg.tcp_pause_accept};
  std::unique_ptr<app::TcpEcho> tcp_echo;
  if (cfg.tcp_echo) {
    tcp_echo = std::make_unique<app::TcpEcho>(stack);
    if (auto r = tcp_echo->start(*cfg.tcp_echo, tcp_opt); !r)
      return fail(err, fmt::format("--tcp-echo {}: {}", *cfg.tcp_echo, std::strerror(r.error())));
  }
  std::unique_ptr<app::TcpSink> tcp_sink;
  if (cfg.tcp_sink) {
    // One line per finished connection, at once (tests and users watch stdout while we run).
    tcp_sink = std::make_unique<app::TcpSink>(stack, [out](const app::TcpConnReport& r) {
      std::fprintf(out, "%s\n", r.line().c_str());
      std::fflush(out);
    });
    tcp_sink->set_count_only(cfg.tcp_count_only);
    if (auto r = tcp_sink->start(*cfg.tcp_sink, tcp_opt); !r)
      return fail(err, fmt::format("--tcp-sink {}: {}", *cfg.tcp_sink, std::strerror(r.error())));
  }
  // The source starts on the loop's thread once it runs, and stops the loop when it is done.
  int exit_code = 0;
  std::unique_ptr<app::TcpSource> tcp_source;
  if (cfg.tcp_source) {
    const TcpSourceTarget t = *cfg.tcp_source;
    tcp_source = std::make_unique<app::TcpSource>(stack, [&, t](const app::TcpConnReport& r) {
      std::fprintf(out, "%s\n", r.line().c_str());
      std::fflush(out);
      const double s = r.elapsed.seconds();
      if (r.error != 0) {
        std::fprintf(err, "ustack host: --tcp-source %s:%u: %s (%s) after %llu bytes\n",
                     t.addr.to_string().c_str(), t.port, app::errno_name(r.error).c_str(),
                     std::strerror(r.error), static_cast<unsigned long long>(r.bytes));
        exit_code = kExitTransferFailed;
      } else {
        std::fprintf(err, "ustack host: --tcp-source sent %llu bytes in %.3f s (%.1f MB/s)\n",
                     static_cast<unsigned long long>(r.bytes), s,
                     s > 0 ? static_cast<double>(r.bytes) / s / 1e6 : 0.0);
      }
      runtime.stop();
    });
    tcp_source->set_count_only(cfg.tcp_count_only);
    runtime.post([&, t](Instant now) {
      if (auto r = tcp_source->start(now, t.addr, t.port, t.bytes); !r) {
        std::fprintf(err, "ustack host: --tcp-source %s:%u: %s (%s)\n", t.addr.to_string().c_str(),
                     t.port, app::errno_name(r.error()).c_str(), std::strerror(r.error()));
        exit_code = kExitTransferFailed;
        runtime.stop();
      }
    });
  }

  // 6. Run until a stop signal (or the end of the --tcp-source transfer).
  sigset_t old_mask;
  const int sfd = block_stop_signals(&old_mask);
  if (sfd < 0) return fail(err, fmt::format("signalfd: {}", std::strerror(errno)));
  int stop_signal = 0;
  runtime.watch_fd(sfd, [&](Instant) {
    signalfd_siginfo si{};
    if (::read(sfd, &si, sizeof si) == sizeof si) stop_signal = static_cast<int>(si.ssi_signo);
    runtime.stop();
  });
  std::fprintf(err, "ustack host: ready (%s)\n", ready.c_str());
  std::fflush(err);
  runtime.run_until_stopped();

  // 7. Report, with the stop signals still blocked: a second one may be on its way (timeout(1)
  // sends its signal to the process and then to its process group; a user presses Ctrl-C
  // twice), and unblocking it before the report is out would kill us with stdout unflushed.
  for (dev::PcapCapture* c : captures) (void)c->flush();
  if (!cfg.quiet) std::fputs(stack.format_all().c_str(), out);
  // format_all() has the TCP MIB (Tcp:, TcpExt:) and the `ss` listing; the totals too.
  std::fprintf(out, "tcp sockets %zu requests %zu\n", stack.tcp().sockets(),
               stack.tcp().requests());
  if (echo) std::fputs(echo->format().c_str(), out);
  if (tcp_echo) std::fputs(tcp_echo->format().c_str(), out);
  if (tcp_sink) std::fputs(tcp_sink->format().c_str(), out);
  for (const dev::TapDevice* t : taps)
    std::fprintf(out, "%s\n", dev::format_tap_stats(t->name(), t->tap_stats()).c_str());
  for (const auto& [name, fi] : injectors) {
    std::fputs(fault_stats_line(name, "rx", fi->rx_fault_stats()).c_str(), out);
    std::fputs(fault_stats_line(name, "tx", fi->tx_fault_stats()).c_str(), out);
  }
  if (cfg.quiet) std::fprintf(out, "== drops ==\n%s", stack.format_drops().c_str());
  if (tcp_source && !tcp_source->done() && exit_code == 0) {
    std::fprintf(err, "ustack host: --tcp-source interrupted after %llu bytes\n",
                 static_cast<unsigned long long>(tcp_source->sent()));
    exit_code = kExitTransferFailed;
  }
  if (stop_signal != 0 || !tcp_source)
    std::fprintf(err, "ustack host: stopped by %s\n",
                 stop_signal != 0 ? strsignal(stop_signal) : "request");
  else
    std::fprintf(err, "ustack host: stopped: --tcp-source %s\n",
                 exit_code == 0 ? "done" : "failed");
  std::fflush(out);
  std::fflush(err);
  drain_stop_signals(sfd);  // the signals that came while we stopped are answered by stopping
  ::close(sfd);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return exit_code;
}

}  // namespace ustack::cli
