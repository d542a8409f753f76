// PacketBuffer pool costs: alloc+free, clone+free (TCP's retransmit-queue pattern), a full
// TX header build (reserve, put payload, push three headers), and queue push/pop.
#include <benchmark/benchmark.h>

#include <vector>

#include "ustack/buf/packet_queue.h"
#include "ustack/buf/pool.h"

namespace {

using ustack::BufferPool;
using ustack::PacketPtr;

// A full-sized segment's payload as TCP keeps it on its retransmit queue: header rights
// released, so clones can push headers without copying.
PacketPtr retransmit_queue_payload(BufferPool& pool) {
  PacketPtr p = pool.alloc(128, 1460);
  (void)p->put(1460);
  p->release_header();
  return p;
}

void BM_PoolAllocFree(benchmark::State& state) {
  auto pool = BufferPool::create();
  { PacketPtr warm = pool->alloc(128, 1514); }
  for (auto _ : state) {
    PacketPtr p = pool->alloc(128, 1514);
    benchmark::DoNotOptimize(p.get());
  }
}
BENCHMARK(BM_PoolAllocFree);

void BM_MallocFree2K(benchmark::State& state) {  // the baseline a pool must beat
  for (auto _ : state) {
    auto* p = new uint8_t[2048];
    benchmark::DoNotOptimize(p);
    delete[] p;
  }
}
BENCHMARK(BM_MallocFree2K);

void BM_CloneFree(benchmark::State& state) {
  auto pool = BufferPool::create();
  PacketPtr orig = retransmit_queue_payload(*pool);
  for (auto _ : state) {
    PacketPtr c = orig->clone();
    benchmark::DoNotOptimize(c.get());
  }
}
BENCHMARK(BM_CloneFree);

void BM_CloneAndPushHeaders(benchmark::State& state) {
  // What TCP transmit does per segment: clone the queued payload, push TCP+IP+Ethernet.
  auto pool = BufferPool::create();
  PacketPtr orig = retransmit_queue_payload(*pool);
  for (auto _ : state) {
    PacketPtr c = orig->clone();
    auto tcp = c->push(32);
    auto ip = c->push(20);
    auto eth = c->push(14);
    benchmark::DoNotOptimize(tcp->data());
    benchmark::DoNotOptimize(ip->data());
    benchmark::DoNotOptimize(eth->data());
  }
}
BENCHMARK(BM_CloneAndPushHeaders);

void BM_CopyDeep1500(benchmark::State& state) {
  auto pool = BufferPool::create();
  PacketPtr orig = pool->alloc(128, 1500);
  (void)orig->put(1500);
  for (auto _ : state) {
    auto c = orig->copy();
    benchmark::DoNotOptimize(c->get());
  }
}
BENCHMARK(BM_CopyDeep1500);

void BM_QueuePushPop(benchmark::State& state) {
  auto pool = BufferPool::create();
  ustack::PacketQueue q;
  for (int i = 0; i < 64; ++i) q.push_back(pool->alloc(0, 64));
  for (auto _ : state) {
    q.push_back(q.pop_front());
  }
}
BENCHMARK(BM_QueuePushPop);

}  // namespace
