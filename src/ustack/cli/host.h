// cli/host.h — `ustack host`: one ustack host on real links (Linux TAP interfaces), driven by
// rt::Runtime on the monotonic clock until SIGINT/SIGTERM.
//
//   ustack host --tap tap0 --addr 192.0.2.2/24 [--tap tap1 --addr 198.51.100.1/24 ...]
//               [--gateway G] [--route "PREFIX via G [metric M]" ...] [--forward]
//               [--udp-echo PORT] [--pcap FILE] [--rule "IPTABLES RULE" ...] [--rules FILE]
//               [--seed N] [--mtu N] [--neigh-reachable-ms N] [--neigh-delay-probe-ms N]
//               [--trace LAYERS] [--quiet]
//               [--tcp-echo PORT] [--tcp-sink PORT] [--tcp-source HOST:PORT:BYTES]
//               [--tcp-backlog N] [--tcp-pause-accept] [--tcp-time-wait-ms N]
//               [--impair [TAP:]SPEC ...] [--pcap-snaplen N] [--tap-offload]
//
// Each --addr belongs to the --tap before it (one or more per tap); so does an --mtu given
// after a --tap (an --mtu before the first --tap is every other tap's). Bad arguments print one
// line to stderr and exit 2; a clean stop prints the stack's tables to stdout and exits 0.
// README.md ("ustack host") documents every option.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "ustack/base/result.h"
#include "ustack/dev/fault_injector.h"
#include "ustack/link/interface.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace ustack::cli {

// --tcp-source HOST:PORT:BYTES.
struct TcpSourceTarget {
  wire::Ipv4Addr addr;
  uint16_t port = 0;
  uint64_t bytes = 0;
};

// --impair [TAP:]SPEC: a FaultInjector on one tap (or on every tap when `tap` is empty).
struct Impairment {
  std::string tap;
  dev::FaultInjectorConfig cfg;
};

// A validated `ustack host` configuration.
struct HostConfig {
  struct Tap {
    std::string name;                 // the kernel interface name, and ours
    std::vector<link::IfAddr> addrs;  // at least one
    std::optional<uint32_t> mtu;      // an --mtu after this --tap; else HostConfig::mtu
  };
  struct StaticRoute {
    wire::Ipv4Addr dst;
    int prefix_len = 0;
    wire::Ipv4Addr gateway;
    uint32_t metric = 0;
  };
  std::vector<Tap> taps;
  std::optional<wire::Ipv4Addr> gateway;  // default route
  std::vector<StaticRoute> routes;
  bool forward = false;
  // --tap-offload: every TAP with IFF_VNET_HDR + TUNSETOFFLOAD (TSO/GSO frames up to 64 KiB,
  // partial checksums; dev/tap.h). Off by default: plain MTU-sized frames, as before.
  bool tap_offload = false;
  std::optional<uint16_t> udp_echo;
  std::string pcap;                // empty: no capture
  std::vector<std::string> rules;  // iptables-style lines, applied in order
  std::string rules_file;
  uint64_t seed = 1;
  uint32_t mtu = 1500;  // an --mtu before any --tap: every tap without its own
  std::optional<int64_t> neigh_reachable_ms;
  std::optional<int64_t> neigh_delay_probe_ms;
  uint32_t trace_mask = 0;  // Layer bits; 0: no tracing
  bool quiet = false;
  uint32_t pcap_snaplen = 65535;  // bytes of each frame kept in the capture
  // TCP services (app/tcp_apps.h) and the sysctls they need in tests.
  std::optional<uint16_t> tcp_echo;
  std::optional<uint16_t> tcp_sink;
  std::optional<TcpSourceTarget> tcp_source;  // the host exits when the transfer ends
  int tcp_backlog = 128;                      // listen(2) backlog of --tcp-echo/--tcp-sink
  bool tcp_count_only = false;                // --tcp-sink/--tcp-source: no SHA-256, zeros
  bool tcp_pause_accept = false;              // the listeners never accept()
  std::optional<int64_t> tcp_time_wait_ms;    // TIME-WAIT length (default 60 s, as Linux)
  std::vector<Impairment> impairs;            // at most one per tap, plus one for all taps
};

// The `host` subcommand: its options are registered on construction; after parsing, config()
// pairs each --addr with its --tap and validates everything.
class HostCommand {
 public:
  explicit HostCommand(CLI::App& parent);
  bool selected() const;
  // A sentence naming the bad argument on error.
  Result<HostConfig, std::string> config() const;

 private:
  CLI::App* sub_;
  CLI::Option* tap_opt_;
  CLI::Option* addr_opt_;
  CLI::Option* mtu_opt_;
  std::vector<std::string> taps_;
  std::vector<std::string> addrs_;
  std::string gateway_;
  std::vector<std::string> routes_;
  bool forward_ = false;
  bool tap_offload_ = false;
  int udp_echo_ = -1;
  std::string pcap_;
  std::vector<std::string> rules_;
  std::string rules_file_;
  uint64_t seed_ = 1;
  std::vector<uint32_t> mtus_;
  int64_t neigh_reachable_ms_ = -1;
  int64_t neigh_delay_probe_ms_ = -1;
  std::string trace_;
  bool quiet_ = false;
  uint32_t pcap_snaplen_ = 65535;
  int tcp_echo_ = -1;
  int tcp_sink_ = -1;
  std::string tcp_source_;
  int tcp_backlog_ = 128;
  bool tcp_count_only_ = false;
  bool tcp_pause_accept_ = false;
  int64_t tcp_time_wait_ms_ = -1;
  std::vector<std::string> impairs_;
};

// Helpers, exposed for tests. "192.0.2.2/24" (no "/P" means /32, as `ip addr add`).
Result<link::IfAddr, std::string> parse_cidr(std::string_view s);
// "198.51.100.0/24 via 192.0.2.1 [metric 10]" or "default via 192.0.2.1".
Result<HostConfig::StaticRoute, std::string> parse_route(std::string_view s);
// "ip,udp" or "all" -> Layer bits.
Result<uint32_t, std::string> parse_trace_layers(std::string_view s);
// "192.0.2.1:5001:256M": an address, a port 1..65535 and a byte count with an optional K, M or
// G suffix (powers of 1024).
Result<TcpSourceTarget, std::string> parse_tcp_source(std::string_view s);
// "[TAP:]SPEC" with SPEC as dev/fault_spec.h; the injector's seed is `seed` unless SPEC sets it.
Result<Impairment, std::string> parse_impair(std::string_view s, uint64_t seed);

// Opens the TAPs, configures the stack, prints "ustack host: ready (...)" to `err` and runs
// until SIGINT or SIGTERM (or, with --tcp-source, until the transfer ends); then prints the
// tables to `out`. Returns the exit code: 0 after a clean stop or a successful transfer, 1 when
// the transfer failed (its errno name is on `err`) or was interrupted, 2 if a TAP, capture,
// address, route, rule or service could not be set up.
int run_host(const HostConfig& cfg, std::FILE* out, std::FILE* err);

}  // namespace ustack::cli
