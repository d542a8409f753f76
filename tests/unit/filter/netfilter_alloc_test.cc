// Netfilter::run allocates nothing: a warm rule set with every kind of match, and hook
// functions around the table, run a million packets with global operator new counted.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "unit/filter/filter_packets.h"
#include "ustack/filter/netfilter.h"

#include "tools/count_new.h"  // g_news: counts global operator new

namespace ustack::filter {
namespace {

using namespace testpkt;  // NOLINT: the packet builders

TEST(NetfilterAlloc, RunNeverAllocates) {
  Netfilter nf;
  ASSERT_TRUE(nf.load("-A FORWARD -i tap+ -o eth1 -s 192.0.2.0/24 ! -d 10.0.0.0/8 -j DROP\n"
                      "-A FORWARD -p tcp --tcp-flags SYN,RST,ACK,FIN SYN --dport 1:100 -j DROP\n"
                      "-A FORWARD -p icmp --icmp-type 3/3 -j DROP\n"
                      "-A FORWARD -p udp --sport 9 -j REJECT\n"
                      "-A FORWARD -p udp --dport 7 -j ACCEPT\n"
                      "-P FORWARD DROP\n")
                  .ok());
  uint64_t marks = 0;
  nf.register_hook(Hook::kForward, -100, [](const HookState&, PacketBuffer& pkt) {
    ++pkt.mark;
    return HookResult{};
  });
  nf.register_hook(Hook::kForward, 100, [&marks](const HookState&, PacketBuffer& pkt) {
    marks += pkt.mark;
    return HookResult{};
  });
  PoolHandle pool = BufferPool::create();
  PacketPtr pkts[] = {
      udp(*pool, "10.0.0.1", "10.0.1.1", 1000, 7),
      udp(*pool, "10.0.0.1", "10.0.1.1", 1000, 8),
      tcp(*pool, "10.0.0.1", "10.0.1.1", 1000, 80, {wire::TcpFlag::kSyn}),
      echo_request(*pool, "192.0.2.1", "198.51.100.1"),
  };
  const HookState st{Hook::kForward, "tap0", "eth1"};
  const uint64_t news = g_news.load();
  int accepted = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    if (nf.run(st, *pkts[i % 4]).verdict == Verdict::kAccept) ++accepted;
  }
  EXPECT_EQ(g_news.load(), news) << "operator new was called on the data path";
  EXPECT_EQ(accepted, 250'000);                       // the UDP datagram to port 7
  EXPECT_EQ(marks, uint64_t{250'000} * 250'001 / 2);  // only accepted packets reach the late hook
  EXPECT_EQ(nf.chain(Hook::kForward).rules[0].packets, 250'000u);  // the echo request
  EXPECT_EQ(nf.chain(Hook::kForward).rules[1].packets, 250'000u);  // the SYN
  EXPECT_EQ(nf.chain(Hook::kForward).policy_packets, 250'000u);    // UDP to port 8
}

}  // namespace
}  // namespace ustack::filter
