#include "ustack/dev/proc_view.h"

#include <gtest/gtest.h>

#include <sstream>

#include "ustack/buf/pool.h"
#include "ustack/dev/sim_nic.h"

namespace ustack::dev {
namespace {

TEST(ProcView, ProcNetDevColumnsLineUpWithLinux) {
  PoolHandle pool = BufferPool::create();
  SimNic a(DeviceConfig{.name = "eth0"}, *pool);
  a.set_up(true);
  std::vector<uint8_t> f(60, 0);
  a.xmit(Instant::zero(), pool->alloc_copy(f));  // no link: a carrier error
  NetDevice* devs[] = {&a};
  const std::string s = format_proc_net_dev(devs);
  EXPECT_NE(s.find("Inter-|   Receive"), std::string::npos);
  // Fields after "eth0:": rx bytes packets errs drop fifo frame compressed multicast, then tx
  // bytes packets errs ...: the failed frame is one tx error.
  const auto line = s.substr(s.find("eth0:") + 5);
  std::istringstream in(line);
  std::vector<uint64_t> v;
  for (uint64_t x; in >> x;) v.push_back(x);
  ASSERT_EQ(v.size(), 16u);
  EXPECT_EQ(v[8], 0u);   // tx bytes
  EXPECT_EQ(v[10], 1u);  // tx errs
  EXPECT_NE(format_ring_stats(a).find("eth0: rx_ring_full=0"), std::string::npos);
  EXPECT_EQ(format_softnet_stat(SoftnetStats{.processed = 255, .time_squeeze = 1}, 2),
            "000000ff 00000002 00000001 00000000 00000000");
}

}  // namespace
}  // namespace ustack::dev
