// interop/host_cli_test.cc — the `ustack host` command, run as a real process.
//
// Argument errors (no root needed): every bad argument is one line on stderr and exit status 2,
// before any TAP exists.
// With root: `ustack host` runs INSIDE a fresh network namespace (`ip netns exec`), so the TAP
// it creates, and all traffic, stay there. Linux on the kernel side of the TAP pings us and
// sends UDP datagrams to our echo port; then SIGINT stops the host, which prints its counters
// and exits 0. The capture it wrote must decode cleanly in tshark.

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <vector>

#include "interop/host_process.h"
#include "interop/netns.h"
#include "tools/pcap_check.h"
#include "tools/scratch_dir.h"

namespace ustack::interop {
namespace {

using namespace std::chrono_literals;

const std::string& kBin = ustack_bin();

// `ustack ARGS`, stdout and stderr captured separately.
struct CliRun {
  int status = -1;
  std::string out;
  std::string err;
};
CliRun run_ustack(const std::string& args, const std::string& prefix = "") {
  testtools::ScratchDir dir;
  const std::string o = dir.file("out"), e = dir.file("err");
  const CmdResult r =
      run_cmd(prefix + shell_quote(kBin) + " " + args + " >" + o + " 2>" + e + " </dev/null");
  return CliRun{r.status, slurp(o), slurp(e)};
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// ---- argument errors: exit 2, one line ----------------------------------------------------

TEST(HostCli, ArgumentErrorsExitTwoWithOneLine) {
  const char* cases[] = {
      "host",                                               // --tap is required
      "host --addr 192.0.2.2/24 --tap utapx",               // --addr before any --tap
      "host --tap utapx",                                   // no --addr for the tap
      "host --tap utapx --addr 192.0.2.300/24",             // bad address
      "host --tap utapx --addr 192.0.2.2/33",               // bad prefix
      "host --tap utapx --addr 192.0.2.2/",                 // empty prefix
      "host --tap utapx --addr 192.0.2.2/24 --bogus",       // unknown option
      "host --tap utapx --addr 192.0.2.2/24 --udp-echo 0",  // port out of range
      "host --tap utapx --addr 192.0.2.2/24 --mtu 20",      // MTU out of range
      "host --tap utapx --addr 192.0.2.2/24 --gateway 1.2.3",
      "host --tap utapx --addr 192.0.2.2/24 --route '198.51.100.0/24 via'",
      "host --tap utapx --addr 192.0.2.2/24 --route '198.51.100.1/24 via 192.0.2.1'",
      "host --tap utapx --addr 192.0.2.2/24 --route '198.51.100.0/24 by 192.0.2.1'",
      "host --tap utapx --addr 192.0.2.2/24 --trace ip,bogus",
      "host --tap utapx --addr 192.0.2.2/24 --tap utapx --addr 192.0.2.3/24",  // same tap twice
      "host --tap 'utap%d' --addr 192.0.2.2/24",                               // not a literal name
      "host --tap a/b --addr 192.0.2.2/24",                          // TAP open: invalid name
      "host --mtu 9000 --mtu 1500 --tap utapx --addr 192.0.2.2/24",  // two global MTUs
      "host --tap utapx --addr 192.0.2.2/24 --mtu 9000 --mtu 1500",  // two MTUs for one tap
      "host --tap utapx --addr 192.0.2.2/24 --neigh-delay-probe-ms 0",
  };
  for (const char* args : cases) {
    const CliRun r = run_ustack(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("ustack"), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(r.out, "") << args;
  }
}

TEST(HostCli, MessagesNameTheBadArgument) {
  EXPECT_NE(run_ustack("host --tap utapx --addr 10.0.0.300/8").err.find("10.0.0.300/8"),
            std::string::npos);
  EXPECT_NE(run_ustack("host --tap utapx --addr 10.0.0.1/8 --trace bogus").err.find("bogus"),
            std::string::npos);
  EXPECT_NE(run_ustack("host --tap a/b --addr 10.0.0.1/8").err.find("a/b"), std::string::npos);
}

TEST(HostCli, HelpExitsZero) {
  const CliRun r = run_ustack("host --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--udp-echo"), std::string::npos);
}

// ---- a running host in a namespace ---------------------------------------------------------

class HostCliNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(ns_.ok()) << ns_.error();
    ASSERT_TRUE(ns_.disable_ipv6().ok());
    ASSERT_TRUE(dir_.ok());
  }
  Netns ns_{"uhost"};
  testtools::ScratchDir dir_;
  std::string tap_ = unique_ifname('h');
};

TEST_F(HostCliNetns, PingAndUdpEchoThenSigintPrintsCounters) {
  const std::string pcap = dir_.file("host.pcap");
  HostProcess host(ns_,
                   {"--tap", tap_, "--addr", "192.0.2.2/24", "--udp-echo", "7", "--pcap", pcap},
                   dir_.file("out"), dir_.file("err"));
  ASSERT_TRUE(host.wait_ready()) << host.err();
  EXPECT_NE(host.err().find("ready (" + tap_ + " 192.0.2.2/24)"), std::string::npos) << host.err();
  // The TAP was created inside the namespace: configure its kernel side there.
  ASSERT_TRUE(
      ns_.exec("ip addr add 192.0.2.1/24 dev " + tap_ + " && ip link set " + tap_ + " up").ok());

  const CmdResult ping = ns_.exec("ping -c 3 -i 0.2 -W 2 192.0.2.2");
  EXPECT_NE(ping.output.find("3 received"), std::string::npos) << ping.output;
  EXPECT_EQ(ping.output.find("wrong data"), std::string::npos) << ping.output;

  const CmdResult udp1 = ns_.exec("printf hello-ustack | socat -t 2 - UDP4:192.0.2.2:7");
  EXPECT_EQ(udp1.output, "hello-ustack") << udp1.output;
  const CmdResult udp2 = ns_.exec("printf 0123456789 | socat -t 2 - UDP4:192.0.2.2:7,sp=4000");
  EXPECT_EQ(udp2.output, "0123456789") << udp2.output;
  // A closed port: Linux gets ICMP port unreachable, socat reports "Connection refused".
  const CmdResult closed = ns_.exec("printf x | socat -t 1 - UDP4:192.0.2.2:9 2>&1; true");

  const auto t0 = std::chrono::steady_clock::now();
  host.signal(SIGINT);
  ASSERT_TRUE(host.exited(2000ms)) << "ustack host ignored SIGINT";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);
  EXPECT_EQ(host.status(), 0) << host.err();
  const std::string out = host.out();
  EXPECT_NE(out.find("udp-echo :7 datagrams 2 bytes 22 send_errors 0"), std::string::npos) << out;
  EXPECT_NE(out.find("inet 192.0.2.2/24"), std::string::npos) << out;
  const auto icmp = snmp_group(out, "Icmp");
  EXPECT_EQ(icmp.at("InEchos"), 3u) << out;
  EXPECT_EQ(icmp.at("OutEchoReps"), 3u) << out;
  const auto udp = snmp_group(out, "Udp");
  EXPECT_EQ(udp.at("InDatagrams"), 2u) << out;
  EXPECT_EQ(udp.at("OutDatagrams"), 2u) << out;
  EXPECT_EQ(udp.at("NoPorts"), 1u) << out << closed.output;
  EXPECT_NE(host.err().find("stopped by"), std::string::npos) << host.err();
  EXPECT_TRUE(testtools::tshark_clean(pcap));
}

TEST_F(HostCliNetns, SigtermStopsPromptly) {
  HostProcess host(ns_, {"--tap", tap_, "--addr", "192.0.2.2/24", "--quiet"}, dir_.file("out"),
                   dir_.file("err"));
  ASSERT_TRUE(host.wait_ready()) << host.err();
  const auto t0 = std::chrono::steady_clock::now();
  host.signal(SIGTERM);
  ASSERT_TRUE(host.exited(2000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_EQ(host.status(), 0) << host.err();
  EXPECT_NE(host.out().find("== drops =="), std::string::npos) << host.out();
}

// timeout(1) signals the process and then its process group, so the host gets a second stop
// signal while it stops: it must still print its report and exit 0, not die of the signal.
TEST_F(HostCliNetns, SecondStopSignalWhileStoppingStillPrintsReport) {
  HostProcess host(ns_, {"--tap", tap_, "--addr", "192.0.2.2/24", "--quiet"}, dir_.file("out"),
                   dir_.file("err"));
  ASSERT_TRUE(host.wait_ready()) << host.err();
  host.signal(SIGINT);
  host.signal(SIGTERM);  // a different signal: it cannot merge with the pending SIGINT
  ASSERT_TRUE(host.exited(2000ms));
  EXPECT_EQ(host.status(), 0) << host.err();
  EXPECT_NE(host.out().find("== drops =="), std::string::npos) << host.out();
  EXPECT_NE(host.err().find("stopped by"), std::string::npos) << host.err();
}

// An --mtu before the first --tap is every tap's; one after a --tap is that tap's only.
TEST_F(HostCliNetns, MtuPerTap) {
  const std::string tap2 = unique_ifname('i'), tap3 = unique_ifname('j');
  HostProcess host(
      ns_,
      {"--mtu", "2000", "--tap", tap_, "--addr", "192.0.2.2/24", "--tap", tap2, "--addr",
       "198.51.100.2/24", "--mtu", "9000", "--tap", tap3, "--addr", "203.0.113.2/24"},
      dir_.file("out"), dir_.file("err"));
  ASSERT_TRUE(host.wait_ready()) << host.err();
  ASSERT_TRUE(host.stop());
  EXPECT_EQ(host.status(), 0) << host.err();
  const std::string out = host.out();
  EXPECT_NE(out.find(tap_ + ": <UP> mtu 2000 "), std::string::npos) << out;
  EXPECT_NE(out.find(tap2 + ": <UP> mtu 9000 "), std::string::npos) << out;
  EXPECT_NE(out.find(tap3 + ": <UP> mtu 2000 "), std::string::npos) << out;
}

TEST_F(HostCliNetns, SetupErrorsExitTwo) {
  // "lo" is not a TAP: the kernel refuses to attach (EBUSY/EINVAL). A bad rule and an
  // unreachable gateway fail after the TAP opened, which is why they run in the namespace.
  const std::string in_ns = "ip netns exec " + ns_.name() + " ";
  const std::string tap = "--tap " + tap_ + " --addr 192.0.2.2/24 ";
  const char* cases[] = {
      "--tap lo --addr 192.0.2.2/24", "--rule '-A NOWHERE -j DROP'",
      "--gateway 203.0.113.1",        "--route '198.51.100.0/24 via 203.0.113.1'",
      "--rules /nonexistent/rules",   "--pcap /nonexistent/dir/x.pcap"};
  for (const char* extra : cases) {
    const std::string args =
        std::string(extra).rfind("--tap", 0) == 0 ? std::string(extra) : tap + extra;
    const CliRun r = run_ustack("host " + args, in_ns);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace ustack::interop
