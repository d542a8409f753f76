// Netfilter::format: the `iptables -L -v -n -x` listing, column by column, with counters.
#include <gtest/gtest.h>

#include <string>

#include "unit/filter/filter_packets.h"
#include "ustack/filter/netfilter.h"

namespace ustack::filter {
namespace {

using namespace testpkt;  // NOLINT: the packet builders

TEST(RuleFormat, EmptyTable) {
  Netfilter nf;
  EXPECT_EQ(nf.format(),
            "Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)\n"
            "    pkts      bytes target     prot opt in     out     source               "
            "destination\n"
            "\n"
            "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n"
            "    pkts      bytes target     prot opt in     out     source               "
            "destination\n"
            "\n"
            "Chain FORWARD (policy ACCEPT 0 packets, 0 bytes)\n"
            "    pkts      bytes target     prot opt in     out     source               "
            "destination\n"
            "\n"
            "Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)\n"
            "    pkts      bytes target     prot opt in     out     source               "
            "destination\n"
            "\n"
            "Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)\n"
            "    pkts      bytes target     prot opt in     out     source               "
            "destination\n");
}

// The FORWARD chain's part of the listing.
std::string forward_listing(const Netfilter& nf) {
  const std::string all = nf.format();
  const size_t from = all.find("Chain FORWARD");
  const size_t to = all.find("\n\nChain OUTPUT");
  return all.substr(from, to - from + 1);
}

TEST(RuleFormat, EveryColumnAndMatchText) {
  Netfilter nf;
  ASSERT_TRUE(nf.load("-P FORWARD DROP\n"
                      "-A FORWARD -i tap0 -s 192.0.2.0/24 -p icmp --icmp-type echo-request -j "
                      "DROP\n"
                      "-A FORWARD -p icmp --icmp-type port-unreachable -j ACCEPT\n"
                      "-A FORWARD -p udp --dport 7 -j REJECT\n"
                      "-A FORWARD -p udp --sport 1024:65535 --dport 0:65535 -j ACCEPT\n"
                      "-A FORWARD -o eth1 ! -d 10.0.0.1 -p tcp --tcp-flags SYN,RST,ACK,FIN SYN "
                      "-j REJECT --reject-with tcp-reset\n"
                      "-A FORWARD ! -s 10.1.2.3/16 -p tcp --sport 22 --dport 1000:2000 -j "
                      "ACCEPT\n"
                      "-A FORWARD -i eth+ -p 47 -j ACCEPT\n"
                      "-A FORWARD -p tcp --tcp-flags ALL NONE -j DROP\n"
                      "-A FORWARD -p icmp -j ACCEPT\n")
                  .ok());
  // Count some traffic: two echo requests hit rule 0, one UDP datagram the policy.
  PoolHandle pool = BufferPool::create();
  PacketPtr echo = echo_request(*pool, "192.0.2.5", "10.0.0.1");
  const uint64_t echo_len = echo->len();
  ASSERT_EQ(echo_len, 32u);
  nf.run(HookState{Hook::kForward, "tap0", "eth1"}, *echo);
  nf.run(HookState{Hook::kForward, "tap0", "eth1"}, *echo);
  PacketPtr other = udp(*pool, "10.9.9.9", "10.0.0.1", 1, 2, 1000);
  nf.run(HookState{Hook::kForward, "tap1", "eth1"}, *other);
  EXPECT_EQ(
      forward_listing(nf),
      "Chain FORWARD (policy DROP 1 packets, 1028 bytes)\n"
      "    pkts      bytes target     prot opt in     out     source               destination\n"
      "       2         64 DROP       icmp --  tap0   *       192.0.2.0/24         0.0.0.0/0   "
      "         icmp type 8\n"
      "       0          0 ACCEPT     icmp --  *      *       0.0.0.0/0            0.0.0.0/0   "
      "         icmp type 3 code 3\n"
      "       0          0 REJECT     udp  --  *      *       0.0.0.0/0            0.0.0.0/0   "
      "         udp dpt:7 reject-with icmp-port-unreachable\n"
      "       0          0 ACCEPT     udp  --  *      *       0.0.0.0/0            0.0.0.0/0   "
      "         udp spts:1024:65535\n"
      "       0          0 REJECT     tcp  --  *      eth1    0.0.0.0/0           !10.0.0.1    "
      "         tcp flags:0x17/0x02 reject-with tcp-reset\n"
      "       0          0 ACCEPT     tcp  --  *      *      !10.1.0.0/16          0.0.0.0/0   "
      "         tcp spt:22 dpts:1000:2000\n"
      "       0          0 ACCEPT     47   --  eth+   *       0.0.0.0/0            0.0.0.0/0\n"
      "       0          0 DROP       tcp  --  *      *       0.0.0.0/0            0.0.0.0/0   "
      "         tcp flags:0x3F/0x00\n"
      "       0          0 ACCEPT     icmp --  *      *       0.0.0.0/0            0.0.0.0/0\n");
}

TEST(RuleFormat, LargeCountersAreExact) {
  Netfilter nf;
  ASSERT_TRUE(nf.load("-A INPUT -j ACCEPT").ok());
  nf.chain(Hook::kLocalIn).rules[0].packets = 123456789;
  nf.chain(Hook::kLocalIn).rules[0].bytes = 9876543210;
  nf.chain(Hook::kLocalIn).policy_packets = 100000;
  const std::string all = nf.format();
  EXPECT_NE(all.find("Chain INPUT (policy ACCEPT 100000 packets, 0 bytes)\n"), std::string::npos);
  EXPECT_NE(all.find("\n123456789 9876543210 ACCEPT     all  --  *      *       0.0.0.0/0   "
                     "         0.0.0.0/0\n"),
            std::string::npos)
      << all;
}

// A listed rule set, loaded again, is the same rule set (format shows everything parse keeps).
TEST(RuleFormat, DistinctRulesListDistinctly) {
  Netfilter a;
  Netfilter b;
  ASSERT_TRUE(a.load("-A INPUT -p icmp --icmp-type 3 -j DROP").ok());
  ASSERT_TRUE(b.load("-A INPUT -p icmp --icmp-type 3/0 -j DROP").ok());
  EXPECT_NE(a.format(), b.format());
}

}  // namespace
}  // namespace ustack::filter
