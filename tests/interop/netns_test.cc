// interop/netns_test.cc — the test helpers themselves: namespaces and veth pairs are created,
// usable, and always removed.
#include "interop/netns.h"

#include <gtest/gtest.h>

namespace ustack::interop {
namespace {

bool link_exists(const std::string& ifname) { return run_cmd("ip link show dev " + ifname).ok(); }
bool netns_exists(const std::string& name) {
  // Lines are "NAME" or "NAME (id: N)": match the whole name, not a prefix of a longer one.
  const std::string list = "\n" + run_cmd("ip netns list").output;
  return list.find("\n" + name + " ") != std::string::npos ||
         list.find("\n" + name + "\n") != std::string::npos;
}

TEST(NetnsHelper, QuotesForTheShell) {
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(run_cmd("echo " + shell_quote("it's $HOME")).output, "it's $HOME\n");
  EXPECT_EQ(run_cmd("exit 3").status, 3);
}

TEST(NetnsHelper, UniqueInterfaceNamesFitIfnamsiz) {
  const std::string a = unique_ifname('a');
  const std::string b = unique_ifname('a');
  EXPECT_NE(a, b);
  EXPECT_LE(a.size(), 15u);
  EXPECT_EQ(a.rfind("utap", 0), 0u);
}

TEST(NetnsHelper, JsonValues) {
  const std::string j = R"([{"ifname":"utap0","address":"02:00:00:00:00:01","mtu":1500}])";
  EXPECT_EQ(json_value(j, "address"), "02:00:00:00:00:01");
  EXPECT_EQ(json_value(j, "mtu"), "1500");
  EXPECT_EQ(json_value(j, "nope"), std::nullopt);
}

TEST(NetnsHelper, VethPairBetweenTwoNamespacesCarriesPingAndIsRemoved) {
  if (std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
  std::string ns1_name, ns2_name, a, b;
  {
    Netns ns1;
    Netns ns2;
    ASSERT_TRUE(ns1.ok()) << ns1.error();
    ASSERT_TRUE(ns2.ok()) << ns2.error();
    ns1_name = ns1.name();
    ns2_name = ns2.name();
    EXPECT_NE(ns1_name, ns2_name);
    EXPECT_TRUE(netns_exists(ns1_name));
    VethPair veth;
    ASSERT_TRUE(veth.ok()) << veth.error();
    a = veth.a();
    b = veth.b();
    EXPECT_TRUE(link_exists(a));
    CmdResult r = ns1.adopt_link_as(a, "eth0", "198.51.100.1/24");
    ASSERT_TRUE(r.ok()) << r.output;
    r = ns2.adopt_link_as(b, "eth0", "198.51.100.2/24");
    ASSERT_TRUE(r.ok()) << r.output;
    EXPECT_FALSE(link_exists(a)) << "moved out of the root namespace";
    r = ns1.exec("ping -n -c 1 -W 2 198.51.100.2");
    EXPECT_TRUE(r.ok()) << r.output;
    EXPECT_TRUE(ns2.link_mac("eth0").has_value());
    const auto c = ns2.link_counters("eth0");
    ASSERT_TRUE(c.has_value());
    EXPECT_GE(c->rx_packets, 2u) << "ARP request + echo request";
  }
  EXPECT_FALSE(netns_exists(ns1_name));
  EXPECT_FALSE(netns_exists(ns2_name));
  EXPECT_FALSE(link_exists(a));
  EXPECT_FALSE(link_exists(b));
}

TEST(NetnsHelper, VethPairLeftInRootNamespaceIsDeleted) {
  if (std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
  std::string a;
  {
    VethPair veth;
    ASSERT_TRUE(veth.ok()) << veth.error();
    a = veth.a();
    EXPECT_TRUE(link_exists(a));
  }
  EXPECT_FALSE(link_exists(a));
}

}  // namespace
}  // namespace ustack::interop
