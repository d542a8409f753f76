// interop/linux_ping_test.cc — Linux's ping against `ustack host` (network-layer acceptance).
//
// ustack runs in a fresh namespace on a TAP whose kernel side is Linux (192.0.2.1/24; ustack
// is 192.0.2.2/24). Linux pings at 100 per second: small echoes, then 4000- and 60000-byte
// ones that both sides must fragment (Linux's requests, ustack's replies) and reassemble. We
// check ping's verdict (0% loss, no "wrong data"), then the fragment counters on BOTH sides,
// which are exact: each echo of S data bytes is an IPv4 datagram of S + 28 bytes, cut into
// ceil((S + 8) / 1480) fragments on a 1500-byte MTU. Linux's counters come from the
// namespace's own /proc/net/snmp. tshark, which reassembles IPv4 itself, checks the capture.
#include <gtest/gtest.h>

#include <string>

#include "interop/host_process.h"

namespace ustack::interop {
namespace {

class LinuxPing : public OneHostTest {
 protected:
  LinuxPing() : OneHostTest("uping") {}

  // ping -c COUNT -i 0.01 -s SIZE with a deadline; expects every echo answered, intact.
  void ping_all(int count, int size) {
    const std::string cmd = "ping -q -c " + std::to_string(count) + " -i 0.01 -s " +
                            std::to_string(size) + " -w 20 " + kUstack;
    const CmdResult r = ns_.exec(cmd);
    const auto s = ping_summary(r.output);
    ASSERT_TRUE(s.has_value()) << cmd << "\n" << r.output;
    EXPECT_EQ(s->transmitted, count) << r.output;
    EXPECT_EQ(s->received, count) << r.output;
    EXPECT_NE(r.output.find(" 0% packet loss"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("wrong data"), std::string::npos) << r.output;
    EXPECT_EQ(r.status, 0) << r.output;
  }

  std::string linux_snmp() const { return ns_.exec("cat /proc/net/snmp").output; }

  // One run: `count` echoes of `size` bytes, each `frags` fragments long each way.
  void fragmented_echoes(int count, int size, uint64_t frags) {
    ASSERT_NO_FATAL_FAILURE(start_host({}));
    ASSERT_NO_FATAL_FAILURE(ping_all(count, size));
    const std::string lx = linux_snmp();
    std::string out;
    ASSERT_NO_FATAL_FAILURE(stop_host(&out));

    const uint64_t n = static_cast<uint64_t>(count);
    // ustack reassembled Linux's requests and fragmented its replies.
    EXPECT_EQ(snmp_value(out, "Ip", "ReasmReqds"), n * frags) << out;
    EXPECT_EQ(snmp_value(out, "Ip", "ReasmOKs"), n) << out;
    EXPECT_EQ(snmp_value(out, "Ip", "ReasmFails"), 0u) << out;
    EXPECT_EQ(snmp_value(out, "Ip", "FragOKs"), n) << out;
    EXPECT_EQ(snmp_value(out, "Ip", "FragCreates"), n * frags) << out;
    EXPECT_EQ(snmp_value(out, "Ip", "FragFails"), 0u) << out;
    EXPECT_EQ(snmp_value(out, "Icmp", "InEchos"), n) << out;
    EXPECT_EQ(snmp_value(out, "Icmp", "OutEchoReps"), n) << out;
    // ... and Linux did the same with ustack's fragments.
    EXPECT_EQ(snmp_value(lx, "Ip", "ReasmOKs"), n) << lx;
    EXPECT_EQ(snmp_value(lx, "Ip", "ReasmFails"), 0u) << lx;
    EXPECT_EQ(snmp_value(lx, "Ip", "FragCreates"), n * frags) << lx;
    // Every fragment went out and came in whole, as frames on the capture.
    EXPECT_EQ(tshark_count(pcap(), "ip.flags.mf == 1 || ip.frag_offset > 0"),
              static_cast<int>(2 * n * frags));
  }
};

TEST_F(LinuxPing, TwoHundredAtHundredPerSecondNoLoss) {
  ASSERT_NO_FATAL_FAILURE(start_host({}));
  ASSERT_NO_FATAL_FAILURE(ping_all(200, 56));
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop_host(&out));
  EXPECT_EQ(snmp_value(out, "Icmp", "InEchos"), 200u) << out;
  EXPECT_EQ(snmp_value(out, "Icmp", "OutEchoReps"), 200u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "ReasmReqds"), 0u) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "FragCreates"), 0u) << out;
  EXPECT_EQ(tshark_count(pcap(), "icmp.type == 0"), 200);
}

// 4028-byte datagrams: 1480 + 1480 + 1048 data bytes.
TEST_F(LinuxPing, FourThousandBytesFragmentedBothWays) { fragmented_echoes(200, 4000, 3); }

// 60028-byte datagrams: 40 fragments of 1480 data bytes and one of 808.
TEST_F(LinuxPing, SixtyThousandBytesFragmentedBothWays) { fragmented_echoes(100, 60000, 41); }

}  // namespace
}  // namespace ustack::interop
