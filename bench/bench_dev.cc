// Frames per second through the device layer: a SimNic transmits (qdisc -> TX ring ->
// simulated wire), the peer SimNic's RX ring is filled by DMA copy, its interrupt schedules
// NAPI, and NapiContext polls frames up to a sink. Reported as items/s = frames/s.
#include <benchmark/benchmark.h>

#include <vector>

#include "ustack/buf/pool.h"
#include "ustack/dev/napi.h"
#include "ustack/dev/sim_nic.h"

namespace {

using namespace ustack;
using namespace ustack::dev;

struct CountSink : RxSink {
  uint64_t frames = 0;
  uint64_t bytes = 0;
  void netif_receive(Instant, NetDevice&, PacketPtr f) override {
    ++frames;
    bytes += f->len();
  }
};

void BM_RingNapiFramesPerSecond(benchmark::State& state) {
  const size_t frame_len = static_cast<size_t>(state.range(0));
  const int burst = static_cast<int>(state.range(1));
  auto pool = BufferPool::create();
  DeviceConfig ca{
      .name = "a0", .mac = {{2, 0, 0, 0, 0, 1}}, .rx_ring_size = 512, .tx_ring_size = 512};
  DeviceConfig cb{
      .name = "b0", .mac = {{2, 0, 0, 0, 0, 2}}, .rx_ring_size = 512, .tx_ring_size = 512};
  SimNic a(ca, *pool), b(cb, *pool);
  SimLink link(SimLinkConfig{.latency = Duration::zero()});
  link.attach(a);
  link.attach(b);
  a.set_up(true);
  b.set_up(true);
  NapiContext napi_a, napi_b;
  napi_a.add(a);
  napi_b.add(b);
  CountSink sink_a, sink_b;
  std::vector<uint8_t> frame(frame_len, 0x42);
  Instant now = Instant::zero();
  for (auto _ : state) {
    for (int i = 0; i < burst; ++i) {
      PacketPtr p = pool->alloc(64, frame_len);
      (void)p->append(frame);
      a.xmit(now, std::move(p));
    }
    link.advance(now);
    while (napi_b.run(now, sink_b)) {
    }
    while (napi_a.run(now, sink_a)) {  // TX completions
    }
    now += Duration::us(1);
  }
  if (sink_b.frames != static_cast<uint64_t>(state.iterations()) * burst) {
    state.SkipWithError("frames were lost");
  }
  state.SetItemsProcessed(static_cast<int64_t>(sink_b.frames));
  state.SetBytesProcessed(static_cast<int64_t>(sink_b.bytes));
  state.counters["napi_polls_per_frame"] =
      static_cast<double>(b.ring_stats().napi_polls) / static_cast<double>(sink_b.frames);
}
BENCHMARK(BM_RingNapiFramesPerSecond)
    ->Args({64, 1})
    ->Args({64, 64})
    ->Args({1514, 1})
    ->Args({1514, 64})
    ->Args({1514, 256});

}  // namespace
