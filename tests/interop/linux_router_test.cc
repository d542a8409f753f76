// interop/linux_router_test.cc — `ustack host --forward` as the router between two Linux hosts
// (network-layer acceptance).
//
//   namespace A: Linux 192.0.2.1/24, mtu 9000 ── tapA ── ustack 192.0.2.2/24 (mtu 9000)
//                                                         ustack 198.51.100.2/24 (mtu 1500)
//   namespace B: Linux 198.51.100.1/24, mtu 1500 ── tapB ─┘
//
// One ustack process owns both TAPs. It runs in namespace A, where it creates both; then the
// kernel side of tapB moves to namespace B (`ip link set tapB netns B`): a TAP's file
// descriptor stays attached to its interface whichever namespace the interface is in, so the
// cable keeps working and each Linux host sees only its own side. Both Linux hosts route by
// default via ustack. Each test builds the whole set-up afresh.
//
// The checks: pings both ways; traceroute names ustack as hop 1; a FORWARD rule drops one UDP
// flow and lets another through, and its counter says how many it dropped; a DF datagram too
// big for B's link gets "Frag needed and DF set (mtu = 1500)" from ustack, and Linux learns the
// path MTU from it; a datagram without DF is fragmented for B's link instead.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "interop/host_process.h"
#include "tools/pcap_check.h"
#include "tools/scratch_dir.h"

namespace ustack::interop {
namespace {

using namespace std::chrono_literals;

constexpr const char* kLinuxA = "192.0.2.1";
constexpr const char* kUstackA = "192.0.2.2";
constexpr const char* kUstackB = "198.51.100.2";
constexpr const char* kLinuxB = "198.51.100.1";

class LinuxRouter : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
    for (const Netns* ns : {&a_, &b_}) {
      ASSERT_TRUE(ns->ok()) << ns->error();
      ASSERT_TRUE(ns->disable_ipv6().ok());
    }
    ASSERT_TRUE(dir_.ok());
    host_ = std::make_unique<HostProcess>(
        a_,
        std::vector<std::string>{"--tap", tap_a_, "--addr", std::string(kUstackA) + "/24", "--mtu",
                                 "9000", "--tap", tap_b_, "--addr", std::string(kUstackB) + "/24",
                                 "--forward", "--rule", "-A FORWARD -p udp --dport 9999 -j DROP",
                                 "--pcap", pcap_a()},
        dir_.file("out"), dir_.file("err"));
    ASSERT_TRUE(host_->wait_ready()) << host_->err();
    const CmdResult move = a_.exec("ip link set " + tap_b_ + " netns " + b_.name());
    ASSERT_TRUE(move.ok()) << move.output;
    const CmdResult la = a_.exec("ip link set " + tap_a_ + " mtu 9000 && ip addr add " + kLinuxA +
                                 "/24 dev " + tap_a_ + " && ip link set " + tap_a_ +
                                 " up && ip route add default via " + kUstackA);
    ASSERT_TRUE(la.ok()) << la.output;
    const CmdResult lb =
        b_.exec("ip addr add " + std::string(kLinuxB) + "/24 dev " + tap_b_ + " && ip link set " +
                tap_b_ + " up && ip route add default via " + kUstackB);
    ASSERT_TRUE(lb.ok()) << lb.output;
  }

  // SIGINT; exit 0; both captures clean. Returns what the host printed.
  void stop(std::string* out) {
    ASSERT_TRUE(host_->stop(SIGINT)) << "ustack host ignored SIGINT";
    *out = host_->out();
    EXPECT_EQ(host_->status(), 0) << host_->err();
    EXPECT_EQ(host_->err().find("Sanitizer"), std::string::npos) << host_->err();
    EXPECT_TRUE(testtools::tshark_clean(pcap_a()));
    EXPECT_TRUE(testtools::tshark_clean(pcap_b()));
  }

  std::string pcap_a() const { return dir_.file("router.pcap"); }
  std::string pcap_b() const { return pcap_a() + "." + tap_b_; }  // --pcap's naming

  // ping -c 20 -i 0.01 from `ns` to `dst`: all answered.
  static void ping_all(const Netns& ns, const std::string& dst, const std::string& extra = "") {
    const std::string cmd = "ping -c 20 -i 0.01 -w 10 " + extra + " " + dst;
    const CmdResult r = ns.exec(cmd);
    const auto s = ping_summary(r.output);
    ASSERT_TRUE(s.has_value()) << cmd << "\n" << r.output;
    EXPECT_EQ(s->received, 20) << cmd << "\n" << r.output;
    EXPECT_NE(r.output.find(" 0% packet loss"), std::string::npos) << r.output;
    // One router on the way: Linux's 64 arrives as 63.
    EXPECT_NE(r.output.find("ttl=63"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("wrong data"), std::string::npos) << r.output;
  }

  Netns a_{"urtra"};
  Netns b_{"urtrb"};
  testtools::ScratchDir dir_;
  std::string tap_a_ = unique_ifname('A');
  std::string tap_b_ = unique_ifname('B');
  std::unique_ptr<HostProcess> host_;
};

TEST_F(LinuxRouter, PingsBothWays) {
  ASSERT_NO_FATAL_FAILURE(ping_all(a_, kLinuxB));
  ASSERT_NO_FATAL_FAILURE(ping_all(b_, kLinuxA));
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop(&out));
  // 20 requests and 20 replies each way; nothing for ustack itself but ARP.
  EXPECT_EQ(snmp_value(out, "Ip", "ForwDatagrams"), 80u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "InDelivers"), 0u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "Forwarding"), 1u) << out;
  EXPECT_EQ(tshark_count(pcap_a(), "icmp.type == 8 && ip.src == 192.0.2.1"), 20);
  EXPECT_EQ(tshark_count(pcap_b(), "icmp.type == 8 && ip.src == 192.0.2.1 && ip.ttl == 63"), 20);
}

TEST_F(LinuxRouter, TracerouteShowsUstackAsHopOne) {
  const CmdResult tr = a_.exec(std::string("traceroute -n -q 1 -w 1 ") + kLinuxB);
  ASSERT_TRUE(tr.ok()) << tr.output;
  // " 1  192.0.2.2  0.061 ms" / " 2  198.51.100.1  0.040 ms", and nothing after hop 2.
  std::istringstream in(tr.output);
  std::string line;
  std::vector<std::pair<std::string, std::string>> hops;
  while (std::getline(in, line)) {
    std::istringstream w(line);
    std::string n, addr;
    if (w >> n >> addr && n.find_first_not_of("0123456789") == std::string::npos)
      hops.emplace_back(n, addr);
  }
  ASSERT_EQ(hops.size(), 2u) << tr.output;
  EXPECT_EQ(hops[0], std::make_pair(std::string("1"), std::string(kUstackA))) << tr.output;
  EXPECT_EQ(hops[1], std::make_pair(std::string("2"), std::string(kLinuxB))) << tr.output;
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop(&out));
  EXPECT_GE(snmp_value(out, "Icmp", "OutTimeExcds"), 1u) << out;
  // ustack's Time Exceeded carries the probe's headers back (RFC 792) from its A-side address.
  EXPECT_GE(tshark_count(pcap_a(),
                         "icmp.type == 11 && icmp.code == 0 && ip.src == 192.0.2.2 && "
                         "udp.dstport >= 33434"),
            1);
}

TEST_F(LinuxRouter, ForwardRuleDropsOneUdpFlowOnly) {
  // Listeners in B (bounded by `timeout`), one file per port.
  const std::string drop_file = dir_.file("9999.txt"), pass_file = dir_.file("9998.txt");
  for (const auto& [port, file] : {std::pair{9999, drop_file}, std::pair{9998, pass_file}}) {
    const CmdResult r = b_.exec("timeout 20 socat -u UDP4-RECV:" + std::to_string(port) + " - >" +
                                file + " 2>&1 </dev/null &");
    ASSERT_TRUE(r.ok()) << r.output;
  }
  // Wait until both are bound.
  bool bound = false;
  for (int i = 0; i < 200 && !bound; ++i) {
    const std::string ss = b_.exec("ss -Hlun").output;
    bound = ss.find(":9999") != std::string::npos && ss.find(":9998") != std::string::npos;
    if (!bound) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(bound);

  constexpr int kEach = 5;
  const CmdResult send =
      a_.exec("for i in $(seq " + std::to_string(kEach) +
              "); do printf \"drop-$i\\n\" | socat -u - UDP4-SENDTO:" + kLinuxB +
              ":9999 && printf \"pass-$i\\n\" | socat -u - UDP4-SENDTO:" + kLinuxB + ":9998; done");
  ASSERT_TRUE(send.ok()) << send.output;
  // The passing flow arrives; ustack handles frames in order, so once the last "pass" is in, every
  // "drop" datagram (sent before it) has met the rule.
  std::string passed;
  for (int i = 0; i < 500 && passed.find("pass-" + std::to_string(kEach)) == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(10ms);
    passed = slurp(pass_file);
  }
  EXPECT_EQ(passed, "pass-1\npass-2\npass-3\npass-4\npass-5\n");
  EXPECT_EQ(slurp(drop_file), "");

  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop(&out));
  EXPECT_EQ(rule_packets(out, "FORWARD", "udp dpt:9999"), static_cast<uint64_t>(kEach)) << out;
  EXPECT_NE(out.find("DROP       udp"), std::string::npos) << out;
  EXPECT_EQ(tshark_count(pcap_a(), "udp.dstport == 9999"), kEach);
  EXPECT_EQ(tshark_count(pcap_b(), "udp.dstport == 9999"), 0);
  EXPECT_EQ(tshark_count(pcap_b(), "udp.dstport == 9998"), kEach);
}

TEST_F(LinuxRouter, DontFragmentTooBigGetsFragNeeded) {
  const CmdResult ping = a_.exec(std::string("ping -M do -s 2000 -c 3 -i 0.2 -W 1 ") + kLinuxB);
  EXPECT_NE(ping.output.find("From 192.0.2.2 icmp_seq=1 Frag needed and DF set (mtu = 1500)"),
            std::string::npos)
      << ping.output;
  const auto s = ping_summary(ping.output);
  ASSERT_TRUE(s.has_value()) << ping.output;
  EXPECT_EQ(s->received, 0) << ping.output;
  // Linux learned the path MTU from ustack's message.
  const CmdResult route = a_.exec(std::string("ip route get ") + kLinuxB);
  EXPECT_NE(route.output.find("mtu 1500"), std::string::npos) << route.output;

  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop(&out));
  // The later pings never left A: Linux refused them locally, knowing the path MTU.
  EXPECT_EQ(snmp_value(out, "Icmp", "OutDestUnreachs"), 1u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "FragFails"), 1u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "ForwDatagrams"), 0u) << out;
  EXPECT_EQ(tshark_count(pcap_a(),
                         "icmp.type == 3 && icmp.code == 4 && icmp.mtu == 1500 && "
                         "ip.src == 192.0.2.2"),
            1);
  EXPECT_EQ(tshark_count(pcap_b(), "icmp"), 0);
}

// Without DF the same datagram is fragmented for B's 1500-byte link (ip_fragment on the forward
// path); B's fragmented replies are forwarded as they are and reassembled by A.
TEST_F(LinuxRouter, ForwardedDatagramsFragmentedForTheSmallerMtu) {
  ASSERT_NO_FATAL_FAILURE(ping_all(a_, kLinuxB, "-M dont -s 4000"));
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop(&out));
  // 20 requests of 4028 bytes, 3 fragments each; 20 replies arrive as 3 fragments each.
  EXPECT_EQ(snmp_value(out, "Ip", "FragOKs"), 20u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "FragCreates"), 60u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "ForwDatagrams"), 80u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "ReasmReqds"), 0u) << out;  // a router does not reassemble
  EXPECT_EQ(tshark_count(pcap_a(), "ip.src == 192.0.2.1 && ip.len == 4028"), 20);
  EXPECT_EQ(
      tshark_count(pcap_b(), "ip.src == 192.0.2.1 && (ip.flags.mf == 1 || ip.frag_offset > 0)"),
      60);
}

}  // namespace
}  // namespace ustack::interop
