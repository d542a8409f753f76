// Whole ustack hosts in a sim::World, no syscalls: the cost of the stack itself.
//   BM_PingRoundTrip        ICMP echo round trips per second between two hosts on a SimLink
//                           (items/s = round trips/s): echo out, ARP-resolved Ethernet, DMA,
//                           NAPI, ip_rcv, icmp_echo's in-place reply, and back.
//   BM_RouterForwardUdp     small UDP datagrams a -> r -> b through a forwarding ustack router
//                           (items/s = datagrams b's socket received per wall-clock second).
#include <benchmark/benchmark.h>

#include <vector>

#include "ustack/sim/world.h"

namespace {

using namespace ustack;
using wire::Ipv4Addr;

Instant at_us(int64_t us) { return Instant::zero() + Duration::us(us); }

void BM_PingRoundTrip(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  sim::World w(1);
  w.add_host("a");
  w.add_host("b");
  w.connect("a", "b", dev::SimLinkConfig{.latency = Duration::us(1)});
  (void)w.add_address("a", "eth0", "10.0.0.1/24");
  (void)w.add_address("b", "eth0", "10.0.0.2/24");
  stack::Stack& a = w.host("a");
  uint64_t replies = 0;
  a.ip().set_echo_reply_handler(
      [&](Instant, Ipv4Addr, uint16_t, uint16_t, std::span<const uint8_t>) { ++replies; });
  const Ipv4Addr dst = *Ipv4Addr::parse("10.0.0.2");
  const std::vector<uint8_t> data(payload, 0x5a);
  // Resolve ARP outside the measurement.
  (void)a.ip().send_echo(w.now(), dst, 1, 0, data);
  w.run_until(at_us(100));
  replies = 0;
  uint64_t sent = 0;
  const auto got = [&] { return replies == sent; };
  for (auto _ : state) {
    (void)a.ip().send_echo(w.now(), dst, 1, static_cast<uint16_t>(sent), data);
    ++sent;
    if (!w.run_until(got, w.now() + Duration::ms(10))) {
      state.SkipWithError("an echo went unanswered");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["virtual_s"] = (w.now() - Instant::zero()).seconds();
}
BENCHMARK(BM_PingRoundTrip)->Arg(56)->Arg(1472)->UseRealTime();

void BM_RouterForwardUdp(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  const int burst = static_cast<int>(state.range(1));
  sim::World w(2);
  w.add_host("a");
  w.add_host("r");
  w.add_host("b");
  dev::SimLinkConfig lc{.latency = Duration::us(1)};
  w.connect("a", "r", lc);
  w.connect("r", "b", lc);
  (void)w.add_address("a", "eth0", "10.0.1.2/24");
  (void)w.add_address("r", "eth0", "10.0.1.1/24");
  (void)w.add_address("r", "eth1", "10.0.2.1/24");
  (void)w.add_address("b", "eth0", "10.0.2.2/24");
  (void)w.add_default_route("a", "10.0.1.1");
  (void)w.add_default_route("b", "10.0.2.1");
  w.host("r").set_forwarding(true);

  transport::UdpSocket* rx = w.host("b").udp().open();
  (void)rx->bind(Ipv4Addr::any(), 9000);
  rx->set_rcvbuf(64 << 20);
  transport::UdpSocket* tx = w.host("a").udp().open();
  (void)tx->connect(w.now(), *Ipv4Addr::parse("10.0.2.2"), 9000);
  const std::vector<uint8_t> data(payload, 0x33);
  uint64_t received = 0;
  const auto drain = [&] {
    while (rx->recv()) ++received;
  };
  // Resolve ARP on both hops outside the measurement.
  (void)tx->sendto(w.now(), data);
  w.run_until(at_us(100));
  drain();
  received = 0;
  uint64_t expected = 0;
  const auto all_in = [&] { return rx->rx_queued() + received == expected; };
  for (auto _ : state) {
    for (int i = 0; i < burst; ++i) (void)tx->sendto(w.now(), data);
    expected += static_cast<uint64_t>(burst);
    if (!w.run_until(all_in, w.now() + Duration::ms(10))) {
      state.SkipWithError("datagrams were lost");
      break;
    }
    drain();
  }
  state.SetItemsProcessed(static_cast<int64_t>(received));
  state.counters["forwarded"] = static_cast<double>(w.host("r").ip().stats().forw_datagrams);
}
BENCHMARK(BM_RouterForwardUdp)->Args({18, 1})->Args({18, 32})->Args({1472, 32})->UseRealTime();

}  // namespace
