// interop/host_process.h — a `ustack host` process inside a network namespace, and readers for
// what it prints when it stops.
//
// Interop tests run the real binary: `ip netns exec NS ustack host ARGS` (ip execs ustack in
// place, so the pid we hold is ustack's and a signal reaches it). The TAPs it creates live in
// NS, with all their traffic. The test waits for the "ustack host: ready" line on stderr
// (polled, bounded), drives Linux, then stop()s it with SIGINT and reads the tables the host
// printed to stdout: /proc/net/snmp groups, the netfilter listing, the echo counters, `ip
// addr`. The destructor SIGKILLs a host that is still running, so a failed assertion never
// leaves one behind (and Netns's destructor kills whatever else is inside).
//
// Linux-side helpers: in_netns() runs a function on a thread that switched into a namespace
// (setns applies per thread), so a test can use ordinary kernel sockets as a peer.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "interop/netns.h"
#include "tools/scratch_dir.h"

namespace ustack::interop {

// The `ustack` binary under test (the build's USTACK_BIN).
const std::string& ustack_bin();
// The whole file, or "" if it cannot be read.
std::string slurp(const std::string& path);

class HostProcess {
 public:
  // Starts `ip netns exec NS ustack host ARGS` with stdout and stderr written to the files.
  HostProcess(const Netns& ns, const std::vector<std::string>& args, const std::string& out_path,
              const std::string& err_path);
  ~HostProcess();  // SIGKILL if still running
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;

  // Polls stderr for "ustack host: ready" until `limit`; false if the process exited first or
  // the time ran out (ASan builds start slower: the default leaves room).
  bool wait_ready(std::chrono::milliseconds limit = std::chrono::milliseconds(10000));
  void signal(int sig);
  // True once the process has exited (its status is then in status()), waiting up to `limit`.
  bool exited(std::chrono::milliseconds limit);
  // Sends `sig` and waits up to `limit` for the exit. True if it exited.
  bool stop(int sig = SIGINT, std::chrono::milliseconds limit = std::chrono::milliseconds(5000));
  // Exit status; 128+N when killed by signal N; -1 while running.
  int status() const { return status_; }
  std::string out() const { return slurp(out_); }
  std::string err() const { return slurp(err_); }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// ---- a fixture: one host, Linux on the other end of its TAP --------------------------------

// A fresh namespace (IPv6 off) and a scratch directory; start_host() runs
//   ustack host --tap TAP --addr 192.0.2.2/24 --pcap DIR/host.pcap EXTRA...
// in it, waits for "ready" and gives the TAP's kernel side (Linux) 192.0.2.1/24 (and `mtu`
// if nonzero). stop_host() sends SIGINT, expects exit status 0 and a pcap that tshark finds
// clean, and returns what the host printed. Skips without root.
class OneHostTest : public ::testing::Test {
 protected:
  static constexpr const char* kLinux = "192.0.2.1";
  static constexpr const char* kUstack = "192.0.2.2";

  explicit OneHostTest(std::string tag = "uhost") : ns_(std::move(tag)) {}
  void SetUp() override;
  // Use with ASSERT_NO_FATAL_FAILURE.
  void start_host(const std::vector<std::string>& extra, int mtu = 0);
  // Use with ASSERT_NO_FATAL_FAILURE; the printed tables go to `out`.
  void stop_host(std::string* out);
  std::string pcap() const { return dir_.file("host.pcap"); }

  Netns ns_;
  testtools::ScratchDir dir_;
  std::string tap_ = unique_ifname('h');
  std::unique_ptr<HostProcess> host_;
};

// ---- reading the report --------------------------------------------------------------------

// A /proc/net/snmp group. Both layouts: a "Name: Col1 Col2 ..." header line followed by a
// "Name: v1 v2 ..." line (Ip, Icmp, Udp), or one "Name: Key v Key v ..." line (IpExt, Arp).
// Empty if the group is missing.
std::map<std::string, uint64_t> snmp_group(const std::string& text, const std::string& group);
// One counter of a group, or nullopt.
std::optional<uint64_t> snmp_value(const std::string& text, const std::string& group,
                                   const std::string& name);

// The packet counter of the first rule line in `chain` of the netfilter listing that contains
// `needle` (e.g. "udp dpt:9999"), or nullopt.
std::optional<uint64_t> rule_packets(const std::string& text, const std::string& chain,
                                     const std::string& needle);

// The MAC after "link/ether" on the `ip addr` line of interface `ifname`, or "".
std::string ustack_mac(const std::string& text, const std::string& ifname);

// The `udp-echo :PORT datagrams D bytes B ...` line's D and B, or nullopt.
struct EchoCounters {
  uint64_t datagrams = 0;
  uint64_t bytes = 0;
};
std::optional<EchoCounters> echo_counters(const std::string& text, uint16_t port);

// ---- Linux as the peer ---------------------------------------------------------------------

// Runs `fn` on a new thread that first enters namespace `ns` (setns on
// /var/run/netns/NAME: network namespace switches apply per thread), and joins it. Returns ""
// or why the switch failed (then `fn` did not run).
std::string in_netns(const Netns& ns, const std::function<void()>& fn);

// ping's summary: "N packets transmitted, M received". nullopt if not found.
struct PingSummary {
  int transmitted = 0;
  int received = 0;
  int errors = 0;
};
std::optional<PingSummary> ping_summary(const std::string& ping_output);

// Lines of `tshark -n -r PCAP -Y FILTER` (one per matching frame), or -1 if tshark failed.
int tshark_count(const std::string& pcap, const std::string& display_filter);

}  // namespace ustack::interop
