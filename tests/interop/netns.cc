// interop/netns.cc — Netns, VethPair and command helpers (see netns.h).
#include "interop/netns.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace ustack::interop {
namespace {

std::atomic<unsigned> g_counter{0};  // test-helper state only: makes names unique per process

bool pid_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// Effective capability bit `cap` from /proc/self/status (CapEff is hex).
bool has_cap(int cap) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      const unsigned long long eff = std::stoull(line.substr(7), nullptr, 16);
      return (eff >> cap) & 1u;
    }
  }
  return false;
}

std::optional<uint64_t> json_u64(std::string_view json, std::string_view key, size_t from) {
  auto v = json_value(json, key, from);
  if (!v || v->empty() || v->find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoull(*v);
}

}  // namespace

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

CmdResult run_cmd(const std::string& cmd) {
  CmdResult r;
  const std::string full = "sh -c " + shell_quote(cmd) + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) {
    r.output = "popen failed";
    return r;
  }
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = ::pclose(p);
  if (st == -1) {
    r.status = -1;
  } else if (WIFEXITED(st)) {
    r.status = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    r.status = 128 + WTERMSIG(st);
  }
  return r;
}

std::string skip_reason() {
  if (::geteuid() != 0) {
    return "interop tests need root (network namespaces and TAP devices); run as root";
  }
  constexpr int kCapNetAdmin = 12;
  constexpr int kCapSysAdmin = 21;
  if (!has_cap(kCapNetAdmin) || !has_cap(kCapSysAdmin)) {
    return "interop tests need CAP_NET_ADMIN and CAP_SYS_ADMIN (an unprivileged container?)";
  }
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
    return "/dev/net/tun is missing (no tun module): cannot create TAP devices";
  }
  if (!run_cmd("ip -V").ok()) return "iproute2's `ip` command is not installed";
  return "";
}

std::string unique_ifname(char side) {
  // "utap" (4) + pid as 7 digits (pid_max <= 4194304; fixed width keeps names of different
  // processes apart) + n (<= 3 digits) + side (1) <= 15 bytes (IFNAMSIZ - 1).
  std::string pid = std::to_string(::getpid() % 10000000);
  pid.insert(0, 7 - pid.size(), '0');
  const unsigned n = g_counter.fetch_add(1) % 1000;
  return "utap" + pid + std::to_string(n) + side;
}

std::optional<std::string> json_value(std::string_view json, std::string_view key, size_t from) {
  const std::string needle = "\"" + std::string(key) + "\":";
  const size_t at = json.find(needle, from);
  if (at == std::string_view::npos) return std::nullopt;
  size_t i = at + needle.size();
  if (i < json.size() && json[i] == '"') {
    const size_t end = json.find('"', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(json.substr(i + 1, end - i - 1));
  }
  const size_t end = json.find_first_of(",}]", i);
  if (end == std::string_view::npos) return std::nullopt;
  return std::string(json.substr(i, end - i));
}

// ---- Netns --------------------------------------------------------------------------------

void Netns::sweep_stale(const std::string& tag) {
  const CmdResult list = run_cmd("ip netns list");
  std::istringstream in(list.output);
  std::string line;
  const std::string prefix = tag + "-";
  while (std::getline(in, line)) {
    const std::string name = line.substr(0, line.find(' '));  // "name (id: 3)"
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "<pid>-<n>"
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos) continue;
    const std::string pid = rest.substr(0, dash);
    const std::string num = rest.substr(dash + 1);
    if (pid.find_first_not_of("0123456789") != std::string::npos || num.empty() ||
        num.find_first_not_of("0123456789") != std::string::npos) {
      continue;  // not one of ours (someone else's "<tag>-..." naming)
    }
    if (pid_alive(std::stol(pid))) continue;  // a test running in parallel owns it
    (void)run_cmd("ip netns pids " + name + " | xargs -r kill -9; ip netns delete " + name);
  }
}

Netns::Netns(std::string tag) {
  sweep_stale(tag);
  name_ = tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter.fetch_add(1));
  const CmdResult r = run_cmd("ip netns add " + name_);
  if (!r.ok()) {
    error_ = "ip netns add " + name_ + " failed: " + r.output;
    name_.clear();
    return;
  }
  ok_ = true;
  const CmdResult lo = exec("ip link set lo up");
  if (!lo.ok()) {
    ok_ = false;
    error_ = "ip link set lo up in " + name_ + " failed: " + lo.output;
  }
}

Netns::~Netns() {
  if (name_.empty()) return;
  // Processes left inside (a ping still running after a failed assertion) would keep the
  // namespace alive after its name is gone: kill them first.
  (void)run_cmd("ip netns pids " + name_ + " | xargs -r kill -9");
  (void)run_cmd("ip netns delete " + name_);
}

CmdResult Netns::exec(const std::string& cmd) const {
  if (name_.empty()) return CmdResult{-1, "no namespace: " + error_};
  return run_cmd("ip netns exec " + name_ + " sh -c " + shell_quote(cmd));
}

CmdResult Netns::adopt_link(const std::string& ifname) const {
  return run_cmd("ip link set dev " + ifname + " netns " + name_);
}

CmdResult Netns::adopt_link_as(const std::string& ifname, const std::string& new_name,
                               const std::string& cidr) const {
  CmdResult r = adopt_link(ifname);
  if (!r.ok()) return r;
  std::string cmd = "ip link set dev " + ifname + " name " + new_name;
  if (!cidr.empty()) cmd += " && ip addr add " + cidr + " dev " + new_name;
  cmd += " && ip link set dev " + new_name + " up";
  return exec(cmd);
}

CmdResult Netns::disable_ipv6() const {
  return exec(
      "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && "
      "sysctl -qw net.ipv6.conf.default.disable_ipv6=1");
}

std::optional<std::string> Netns::link_mac(const std::string& ifname) const {
  const CmdResult r = exec("ip -j link show dev " + ifname);
  if (!r.ok()) return std::nullopt;
  return json_value(r.output, "address");
}

std::optional<LinkCounters> Netns::link_counters(const std::string& ifname) const {
  const CmdResult r = exec("ip -s -j link show dev " + ifname);
  if (!r.ok()) return std::nullopt;
  const std::string& j = r.output;
  const size_t rx = j.find("\"rx\":{");
  const size_t tx = j.find("\"tx\":{");
  if (rx == std::string::npos || tx == std::string::npos) return std::nullopt;
  auto rp = json_u64(j, "packets", rx), rb = json_u64(j, "bytes", rx),
       rd = json_u64(j, "dropped", rx);
  auto tp = json_u64(j, "packets", tx), tb = json_u64(j, "bytes", tx),
       td = json_u64(j, "dropped", tx);
  if (!rp || !rb || !rd || !tp || !tb || !td) return std::nullopt;
  return LinkCounters{*rp, *rb, *rd, *tp, *tb, *td};
}

// ---- VethPair -------------------------------------------------------------------------------

VethPair::VethPair() : a_(unique_ifname('a')), b_(unique_ifname('b')) {
  const CmdResult r = run_cmd("ip link add " + a_ + " type veth peer name " + b_);
  ok_ = r.ok();
  if (!ok_) error_ = "ip link add " + a_ + " type veth peer " + b_ + " failed: " + r.output;
}

VethPair::~VethPair() {
  if (!ok_) return;
  // Deleting either end deletes both; an end already in a namespace is not found here.
  (void)run_cmd("ip link del " + a_ + " 2>/dev/null || ip link del " + b_ + " 2>/dev/null");
}

}  // namespace ustack::interop
