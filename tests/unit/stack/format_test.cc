// tests/unit/stack/format_test.cc — Stack's table views: what `ustack host` prints at exit must
// be whole lines (scripts and the interop tests parse it line by line).
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "host_harness.h"

namespace ustack::stacktest {
namespace {

// Every line of /proc/net/dev-style output ends in '\n', including the per-device ring line and
// the softnet line (they used to run into each other and into the next section's title).
TEST(StackFormat, DevsIsWholeLines) {
  HostHarness h;
  const std::string devs = h.stack().format_devs();
  ASSERT_FALSE(devs.empty());
  EXPECT_EQ(devs.back(), '\n') << devs;
  std::istringstream in(devs);
  std::string line;
  int ring_lines = 0, softnet_lines = 0;
  while (std::getline(in, line)) {
    if (line.rfind("eth0: rx_ring_full=", 0) == 0) {
      ++ring_lines;
      EXPECT_EQ(line.find("softnet"), std::string::npos) << line;
    }
    if (line.rfind("softnet_stat: ", 0) == 0) ++softnet_lines;
  }
  EXPECT_EQ(ring_lines, 1) << devs;
  EXPECT_EQ(softnet_lines, 1) << devs;
}

TEST(StackFormat, AllStartsEverySectionOnItsOwnLine) {
  HostHarness h;
  const std::string all = h.stack().format_all();
  for (const char* title :
       {"== ip route ==", "== ip neigh ==", "== /proc/net/dev ==", "== /proc/net/snmp ==",
        "== netfilter ==", "== udp sockets ==", "== drops =="}) {
    EXPECT_NE(all.find(std::string("\n") + title + "\n"), std::string::npos) << title << "\n"
                                                                             << all;
  }
}

}  // namespace
}  // namespace ustack::stacktest
