// cli/host_args.cc — `ustack host`'s options: registration with CLI11, pairing each --addr
// with its --tap, and validation into a HostConfig (every error is one sentence).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <sstream>

#include "ustack/base/telemetry.h"
#include "ustack/cli/host.h"
#include "ustack/dev/fault_spec.h"

namespace ustack::cli {
namespace {

template <class T>
std::optional<T> to_number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string> words(std::string_view s) {
  std::istringstream in{std::string(s)};
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

}  // namespace

Result<link::IfAddr, std::string> parse_cidr(std::string_view s) {
  const size_t slash = s.find('/');
  auto a = wire::Ipv4Addr::parse(s.substr(0, slash));
  if (!a) return Err{fmt::format("bad address '{}'", s)};
  link::IfAddr r{*a, 32};
  if (slash != std::string_view::npos) {
    auto p = to_number<int>(s.substr(slash + 1));
    if (!p || *p < 0 || *p > 32) return Err{fmt::format("bad prefix length in '{}'", s)};
    r.prefix_len = *p;
  }
  return r;
}

Result<HostConfig::StaticRoute, std::string> parse_route(std::string_view s) {
  const std::vector<std::string> w = words(s);
  const auto bad = [&](std::string_view why) {
    return Err{
        fmt::format("bad route '{}': {} (expected \"PREFIX via GATEWAY [metric N]\")", s, why)};
  };
  if (w.size() != 3 && w.size() != 5) return bad("wrong number of words");
  HostConfig::StaticRoute r;
  if (w[0] != "default") {
    auto p = parse_cidr(w[0]);
    if (!p) return bad(p.error());
    if (w[0].find('/') == std::string::npos) return bad("the prefix needs a /length");
    if ((p->addr.v & ~p->mask()) != 0) return bad("host bits set in the prefix");
    r.dst = p->addr;
    r.prefix_len = p->prefix_len;
  }
  if (w[1] != "via") return bad("'via' missing");
  auto gw = wire::Ipv4Addr::parse(w[2]);
  if (!gw || gw->is_unspecified() || gw->is_broadcast() || gw->is_multicast())
    return bad(fmt::format("bad gateway '{}'", w[2]));
  r.gateway = *gw;
  if (w.size() == 5) {
    auto m = to_number<uint32_t>(w[4]);
    if (w[3] != "metric" || !m) return bad("expected 'metric N' after the gateway");
    r.metric = *m;
  }
  return r;
}

Result<uint32_t, std::string> parse_trace_layers(std::string_view s) {
  uint32_t mask = 0;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = std::min(s.find(',', start), s.size());
    const std::string_view name = s.substr(start, comma - start);
    start = comma + 1;
    if (name == "all") {
      mask = kAllLayers;
      continue;
    }
    bool found = false;
    for (size_t i = 0; i < static_cast<size_t>(Layer::kCount); ++i) {
      if (layer_name(static_cast<Layer>(i)) == name) {
        mask |= layer_bit(static_cast<Layer>(i));
        found = true;
      }
    }
    if (!found) {
      std::string known = "all";
      for (size_t i = 0; i < static_cast<size_t>(Layer::kCount); ++i)
        known += fmt::format(", {}", layer_name(static_cast<Layer>(i)));
      return Err{fmt::format("unknown trace layer '{}' (known: {})", name, known)};
    }
  }
  return mask;
}

Result<TcpSourceTarget, std::string> parse_tcp_source(std::string_view s) {
  const auto bad = [&](std::string_view why) {
    return Err{
        fmt::format("bad target '{}': {} (expected HOST:PORT:BYTES, e.g. "
                    "192.0.2.1:5001:256M)",
                    s, why)};
  };
  const size_t c1 = s.find(':');
  const size_t c2 = c1 == std::string_view::npos ? c1 : s.find(':', c1 + 1);
  if (c2 == std::string_view::npos || s.find(':', c2 + 1) != std::string_view::npos)
    return bad("three fields separated by ':'");
  TcpSourceTarget t;
  auto a = wire::Ipv4Addr::parse(s.substr(0, c1));
  if (!a || a->is_unspecified() || a->is_broadcast() || a->is_multicast())
    return bad("the host must be a unicast IPv4 address");
  t.addr = *a;
  auto p = to_number<uint32_t>(s.substr(c1 + 1, c2 - c1 - 1));
  if (!p || *p == 0 || *p > 65535) return bad("the port must be 1..65535");
  t.port = static_cast<uint16_t>(*p);
  std::string_view n = s.substr(c2 + 1);
  uint64_t mult = 1;
  if (!n.empty()) {
    switch (n.back()) {
      case 'K':
      case 'k':
        mult = uint64_t{1} << 10;
        break;
      case 'M':
        mult = uint64_t{1} << 20;
        break;
      case 'G':
        mult = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (mult != 1) n.remove_suffix(1);
  }
  auto b = to_number<uint64_t>(n);
  if (!b || *b > (uint64_t{1} << 50) / mult)
    return bad("the byte count must be a number with an optional K, M or G suffix");
  t.bytes = *b * mult;
  return t;
}

Result<Impairment, std::string> parse_impair(std::string_view s, uint64_t seed) {
  Impairment imp;
  // A TAP prefix is the text before the first ':' when it holds no '=' (SPEC has no ':').
  const size_t colon = s.find(':');
  if (colon != std::string_view::npos) {
    imp.tap = std::string(s.substr(0, colon));
    if (imp.tap.empty() || imp.tap.find('=') != std::string::npos)
      return Err{fmt::format("bad impairment '{}': expected [TAP:]SPEC", s)};
    s.remove_prefix(colon + 1);
  }
  dev::FaultInjectorConfig base;
  base.seed = seed;
  auto c = dev::parse_fault_spec(s, base);
  if (!c) return Err{fmt::format("bad impairment {}", c.error())};
  imp.cfg = *c;
  return imp;
}

HostCommand::HostCommand(CLI::App& parent) {
  sub_ = parent.add_subcommand("host",
                               "run one ustack host on Linux TAP interfaces until SIGINT/SIGTERM");
  tap_opt_ = sub_->add_option("--tap", taps_,
                              "TAP interface to open (created if missing); repeat for more")
                 ->allow_extra_args(false)
                 ->required();
  addr_opt_ = sub_->add_option("--addr", addrs_,
                               "A.B.C.D/P for the --tap before it; repeat for more addresses")
                  ->allow_extra_args(false);
  sub_->add_option("--gateway", gateway_, "default route via this address");
  sub_->add_option("--route", routes_, "\"PREFIX via GATEWAY [metric N]\" (one quoted string)")
      ->allow_extra_args(false);
  sub_->add_flag("--forward", forward_, "forward packets between interfaces (ip_forward=1)");
  sub_->add_flag("--tap-offload", tap_offload_,
                 "open the TAPs with IFF_VNET_HDR and TSO/checksum offload: TCP frames of up to "
                 "64 KiB cross each TAP in one read/write");
  sub_->add_option("--udp-echo", udp_echo_, "echo UDP datagrams on this port (RFC 862)")
      ->check(CLI::Range(1, 65535));
  sub_->add_option("--pcap", pcap_, "capture to FILE (first tap), FILE.<ifname> (every other tap)");
  sub_->add_option("--rule", rules_, "an iptables-style rule, e.g. \"-A INPUT -p icmp -j DROP\"")
      ->allow_extra_args(false);
  sub_->add_option("--rules", rules_file_, "a file of iptables-style rules, one per line");
  sub_->add_option("--seed", seed_, "seed for every random choice (and our MAC addresses)");
  mtu_opt_ = sub_->add_option("--mtu", mtus_,
                              "MTU of the --tap before it, or of every tap if given before the "
                              "first --tap (set the kernel side to match)")
                 ->allow_extra_args(false)
                 ->check(CLI::Range(68, 65535));
  sub_->add_option("--neigh-reachable-ms", neigh_reachable_ms_,
                   "ARP base_reachable_time in milliseconds (default 30000)")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  sub_->add_option("--neigh-delay-probe-ms", neigh_delay_probe_ms_,
                   "ARP delay_first_probe_time in milliseconds (default 5000)")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  sub_->add_option("--trace", trace_,
                   "print trace events of these layers to stderr: "
                   "all, or a comma list of dev,link,arp,ip,icmp,udp,...");
  sub_->add_flag("--quiet", quiet_, "at exit print only the echo and drop counters");
  sub_->add_option("--pcap-snaplen", pcap_snaplen_,
                   "keep at most N bytes of each captured frame (default 65535)")
      ->check(CLI::Range(64, 65535));
  sub_->add_option("--tcp-echo", tcp_echo_, "echo TCP connections on this port (RFC 862)")
      ->check(CLI::Range(1, 65535));
  sub_->add_option("--tcp-sink", tcp_sink_,
                   "discard TCP data on this port; print bytes and SHA-256 per connection")
      ->check(CLI::Range(1, 65535));
  sub_->add_option("--tcp-source", tcp_source_,
                   "HOST:PORT:BYTES: send BYTES (K/M/G suffix) of a fixed pattern, then exit")
      ->allow_extra_args(false);
  sub_->add_flag("--tcp-count-only", tcp_count_only_,
                 "--tcp-sink counts bytes without SHA-256, --tcp-source sends zeros (benchmarks)");
  sub_->add_option("--tcp-backlog", tcp_backlog_,
                   "listen backlog of --tcp-echo/--tcp-sink (SYN and accept queues; default 128)")
      ->check(CLI::Range(1, 65535));
  sub_->add_flag("--tcp-pause-accept", tcp_pause_accept_,
                 "the --tcp-echo/--tcp-sink listeners never accept (connections queue up)");
  sub_->add_option("--tcp-time-wait-ms", tcp_time_wait_ms_,
                   "TIME-WAIT length in milliseconds (default 60000, as Linux)")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  sub_->add_option("--impair", impairs_,
                   "[TAP:]SPEC fault injection on the TAPs, e.g. loss=2%,reorder=5%,dup=1%,"
                   "corrupt=0.1%,delay=1ms,jitter=200us (rx./tx. prefix: one direction)")
      ->allow_extra_args(false);
}

bool HostCommand::selected() const { return sub_->parsed(); }

Result<HostConfig, std::string> HostCommand::config() const {
  HostConfig c;
  // CLI11 keeps every option's values in order and, in parse_order(), which option came when:
  // walking it pairs each --addr with the latest --tap.
  size_t ti = 0;
  size_t ai = 0;
  size_t mi = 0;
  bool global_mtu = false;
  for (const CLI::Option* o : sub_->parse_order()) {
    if (o == tap_opt_) {
      const std::string& name = taps_.at(ti++);
      if (name.find('%') != std::string::npos)
        return Err{fmt::format("--tap '{}': give a literal interface name", name)};
      for (const HostConfig::Tap& t : c.taps)
        if (t.name == name) return Err{fmt::format("--tap '{}' given twice", name)};
      c.taps.push_back(HostConfig::Tap{name, {}});
    } else if (o == addr_opt_) {
      const std::string& text = addrs_.at(ai++);
      if (c.taps.empty()) return Err{fmt::format("--addr {} comes before any --tap", text)};
      auto a = parse_cidr(text);
      if (!a) return Err{"--addr: " + a.error()};
      c.taps.back().addrs.push_back(*a);
    } else if (o == mtu_opt_) {
      const uint32_t mtu = mtus_.at(mi++);
      if (c.taps.empty()) {
        if (global_mtu) return Err(fmt::format("--mtu given twice before the first --tap"));
        global_mtu = true;
        c.mtu = mtu;
      } else {
        if (c.taps.back().mtu)
          return Err(fmt::format("--mtu given twice for --tap {}", c.taps.back().name));
        c.taps.back().mtu = mtu;
      }
    }
  }
  for (const HostConfig::Tap& t : c.taps)
    if (t.addrs.empty()) return Err{fmt::format("--tap {} has no --addr after it", t.name)};
  if (!gateway_.empty()) {
    auto g = wire::Ipv4Addr::parse(gateway_);
    if (!g || g->is_unspecified() || g->is_broadcast() || g->is_multicast())
      return Err{fmt::format("--gateway: bad address '{}'", gateway_)};
    c.gateway = *g;
  }
  for (const std::string& r : routes_) {
    auto rt = parse_route(r);
    if (!rt) return Err{"--route: " + rt.error()};
    c.routes.push_back(*rt);
  }
  c.forward = forward_;
  c.tap_offload = tap_offload_;
  if (udp_echo_ > 0) c.udp_echo = static_cast<uint16_t>(udp_echo_);
  c.pcap = pcap_;
  c.rules = rules_;
  c.rules_file = rules_file_;
  c.seed = seed_;
  if (neigh_reachable_ms_ > 0) c.neigh_reachable_ms = neigh_reachable_ms_;
  if (neigh_delay_probe_ms_ > 0) c.neigh_delay_probe_ms = neigh_delay_probe_ms_;
  if (!trace_.empty()) {
    auto m = parse_trace_layers(trace_);
    if (!m) return Err{"--trace: " + m.error()};
    c.trace_mask = *m;
  }
  c.quiet = quiet_;
  c.pcap_snaplen = pcap_snaplen_;
  if (tcp_echo_ > 0) c.tcp_echo = static_cast<uint16_t>(tcp_echo_);
  if (tcp_sink_ > 0) c.tcp_sink = static_cast<uint16_t>(tcp_sink_);
  if (c.tcp_echo && c.tcp_sink && *c.tcp_echo == *c.tcp_sink)
    return Err{fmt::format("--tcp-echo and --tcp-sink both use port {}", *c.tcp_echo)};
  if (!tcp_source_.empty()) {
    auto t = parse_tcp_source(tcp_source_);
    if (!t) return Err{"--tcp-source: " + t.error()};
    c.tcp_source = *t;
  }
  c.tcp_backlog = tcp_backlog_;
  c.tcp_count_only = tcp_count_only_;
  c.tcp_pause_accept = tcp_pause_accept_;
  if (tcp_time_wait_ms_ > 0) c.tcp_time_wait_ms = tcp_time_wait_ms_;
  for (const std::string& text : impairs_) {
    auto imp = parse_impair(text, seed_);
    if (!imp) return Err{"--impair: " + imp.error()};
    bool known = imp->tap.empty();
    for (const HostConfig::Tap& t : c.taps) known = known || t.name == imp->tap;
    if (!known) return Err{fmt::format("--impair '{}': no --tap {}", text, imp->tap)};
    for (const Impairment& other : c.impairs)
      if (other.tap == imp->tap)
        return Err{
            imp->tap.empty()
                ? fmt::format("--impair '{}': a second impairment for every tap", text)
                : fmt::format("--impair '{}': a second impairment for tap {}", text, imp->tap)};
    c.impairs.push_back(std::move(*imp));
  }
  return c;
}

}  // namespace ustack::cli
