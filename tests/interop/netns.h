// interop/netns.h — network namespaces, veth pairs and shell commands for interop tests.
//
// Interop tests put Linux on the other end of a cable and check what it sees. Everything they
// create lives in a throw-away network namespace so that no frame ever leaves the test: a TAP
// interface or a veth end is moved into a Netns, configured there with `ip`, and Linux's
// answers (ARP, ICMP, TCP) stay inside. RAII guarantees the cleanup even when an assertion
// fails: a Netns destructor kills the processes left inside and deletes the namespace, which
// also destroys the virtual links still in it.
//
// Names are unique per process and call ("utap-<pid>-<n>"; the tag is the caller's, default
// "utap"), so tests can run in parallel (ctest -j). A crashed run leaves namespaces behind;
// each new Netns sweeps the ones with its tag whose pid no longer exists.
//
// Typical use:
//   if (std::string why = interop::skip_reason(); !why.empty()) GTEST_SKIP() << why;
//   interop::Netns ns;
//   ASSERT_TRUE(ns.ok()) << ns.error();
//   ASSERT_TRUE(ns.adopt_link(tap.kernel_ifname()).ok());
//   ASSERT_TRUE(ns.exec("ip addr add 10.9.0.1/24 dev utap0 && ip link set utap0 up").ok());
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ustack::interop {

struct CmdResult {
  int status = -1;     // exit status; 128+N when killed by signal N; -1 if it could not start
  std::string output;  // stdout and stderr, interleaved
  bool ok() const { return status == 0; }
};

// Runs `sh -c cmd` in the test's own (root) namespace and captures its output.
CmdResult run_cmd(const std::string& cmd);
// Single-quotes `s` for sh ("it's" -> 'it'\''s').
std::string shell_quote(std::string_view s);

// Empty when interop tests can run here, else the reason they cannot (not root, no
// /dev/net/tun, no `ip`): tests pass it to GTEST_SKIP().
std::string skip_reason();

// A process-unique interface name containing "utap", at most 15 bytes: "utap<pid:7><n><side>".
std::string unique_ifname(char side = 'x');

// The counters of `ip -s -j link show` (struct rtnl_link_stats64).
struct LinkCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_dropped = 0;
};

class Netns {
 public:
  // Creates "<tag>-<pid>-<n>" with `ip netns add` (brings its loopback up), after sweeping
  // stale "<tag>-<deadpid>-*" namespaces. Check ok() before use.
  explicit Netns(std::string tag = "utap");
  ~Netns();  // kills processes still inside, then `ip netns delete`: always
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }

  // `ip netns exec NAME sh -c CMD`, output captured. Thread-safe (a background ping).
  CmdResult exec(const std::string& cmd) const;
  // Moves interface `ifname` from the root namespace into this one (a TAP fd stays valid).
  CmdResult adopt_link(const std::string& ifname) const;
  // Moves `ifname` in, names it `new_name` there, optionally adds `cidr` and brings it up.
  CmdResult adopt_link_as(const std::string& ifname, const std::string& new_name,
                          const std::string& cidr = "") const;
  // Turns IPv6 off for the whole namespace: no router solicitations, MLD or DAD frames, so a
  // test sees only the traffic it provokes.
  CmdResult disable_ipv6() const;

  // From `ip -j link show dev IFNAME` in this namespace.
  std::optional<std::string> link_mac(const std::string& ifname) const;
  std::optional<LinkCounters> link_counters(const std::string& ifname) const;

 private:
  static void sweep_stale(const std::string& tag);

  std::string name_;
  std::string error_;
  bool ok_ = false;
};

// A veth pair created in the root namespace (names from unique_ifname, so they contain
// "utap"); move either end into a Netns with adopt_link. The destructor deletes the pair if an
// end is still in the root namespace (ends inside a namespace die with it).
class VethPair {
 public:
  VethPair();
  ~VethPair();
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

 private:
  std::string a_;
  std::string b_;
  std::string error_;
  bool ok_ = false;
};

// Pulls `"key":<number>` or `"key":"<string>"` out of `json` at or after `from` (ip's JSON is
// flat enough for this; no JSON library needed). Returns the raw value text.
std::optional<std::string> json_value(std::string_view json, std::string_view key, size_t from = 0);

}  // namespace ustack::interop
