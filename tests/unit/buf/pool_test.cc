// BufferPool: size classes, limits, lifetime, and no malloc in the steady state.
#include "ustack/buf/pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "ustack/buf/packet_queue.h"

#include "tools/count_new.h"  // g_news: counts global operator new

namespace ustack {
namespace {

TEST(BufferPool, SteadyStateAllocFreeCloneNeverMallocs) {
  PoolHandle pool = BufferPool::create();
  const std::vector<uint8_t> frame(1514, 0x5a);
  {  // warm up: one slab of each kind
    PacketQueue q;
    for (int i = 0; i < 256; ++i) q.push_back(pool->alloc_copy(frame, 64));
  }
  const uint64_t slabs = pool->stats().slab_mallocs;
  const uint64_t news = g_news.load();
  PacketQueue q;
  for (int i = 0; i < 1'000'000; ++i) {
    PacketPtr p = pool->alloc_copy(frame, 64);
    PacketPtr c = p->clone();
    q.push_back(std::move(c));
    if (q.size() > 100) q.pop_front();
  }
  q.clear();
  EXPECT_EQ(pool->stats().slab_mallocs, slabs);
  EXPECT_EQ(g_news.load(), news) << "operator new was called on the data path";
  EXPECT_EQ(pool->outstanding(), 0u);
}

TEST(BufferPool, SizeClassesAndOversize) {
  PoolHandle pool = BufferPool::create();
  PacketPtr small = pool->alloc(128, 1514);
  EXPECT_EQ(small->capacity(), 2048u);
  PacketPtr jumbo = pool->alloc(128, 9000);
  EXPECT_EQ(jumbo->capacity(), 65536u + 512u);
  PacketPtr huge = pool->alloc(0, 200000);
  ASSERT_TRUE(huge);
  EXPECT_GE(huge->capacity(), 200000u);
  EXPECT_EQ(pool->stats().oversize, 1u);
  huge.reset();
  EXPECT_EQ(pool->stats().bytes_in_use, 2048u + 65536u + 512u);
}

TEST(BufferPool, ByteLimitRefusesAllocationsAndRecovers) {
  PoolHandle pool = BufferPool::create(PoolConfig{.max_bytes = 4 * 2048});
  std::vector<PacketPtr> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(pool->alloc(0, 1000));
    ASSERT_TRUE(held.back());
  }
  EXPECT_FALSE(pool->alloc(0, 1000));
  EXPECT_EQ(pool->stats().alloc_failures, 1u);
  // Copy-on-write under pressure is an error value, not a crash.
  PacketPtr c = held[0]->clone();
  auto r = c->mutable_data();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), BufError::kNoMemory);
  held.pop_back();
  EXPECT_TRUE(pool->alloc(0, 1000));
}

TEST(BufferPool, RetiredPoolLivesUntilLastBufferReturns) {
  PacketPtr survivor;
  {
    PoolHandle pool = BufferPool::create();
    survivor = pool->alloc_copy(std::vector<uint8_t>{1, 2, 3});
  }  // handle gone, buffer still out: the pool must stay valid
  EXPECT_EQ(survivor->len(), 3u);
  EXPECT_EQ(survivor->data()[2], 3);
  PacketPtr c = survivor->clone();
  survivor.reset();
  c.reset();  // last buffer back: the pool frees itself (ASan/valgrind would see a leak otherwise)
}

TEST(PacketQueue, FifoWithByteAccountingAndUnlink) {
  PoolHandle pool = BufferPool::create();
  PacketQueue q;
  for (uint8_t i = 1; i <= 4; ++i) q.push_back(pool->alloc_copy(std::vector<uint8_t>(i, i)));
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(q.bytes(), 10u);
  PacketBuffer* third = PacketQueue::next(PacketQueue::next(q.front()));
  ASSERT_TRUE(q.front()->pull(1));  // changing a queued buffer's length keeps bytes() exact
  PacketPtr t = q.unlink(third);
  EXPECT_EQ(t->len(), 3u);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.bytes(), 7u);
  q.push_front(std::move(t));
  EXPECT_EQ(q.front()->len(), 3u);
  EXPECT_EQ(q.pop_back()->len(), 4u);
  PacketQueue other;
  other.push_back(pool->alloc_copy(std::vector<uint8_t>(9, 9)));
  q.insert_before(PacketQueue::next(q.front()), other.pop_front());
  EXPECT_EQ(PacketQueue::next(q.front())->len(), 9u);
  other.push_back(pool->alloc(0, 1));
  q.splice_back(other);
  EXPECT_TRUE(other.empty());
  EXPECT_EQ(q.size(), 5u);
  std::vector<size_t> lens;
  while (PacketPtr p = q.pop_front()) lens.push_back(p->len());
  EXPECT_EQ(lens, (std::vector<size_t>{3, 9, 0, 2, 0}));
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(pool->outstanding(), 0u);
}

TEST(PacketQueueDeathTest, DoubleQueueingAborts) {
  PoolHandle pool = BufferPool::create();
  PacketQueue a;
  a.push_back(pool->alloc(0, 1));
  PacketBuffer* p = a.front();
  EXPECT_DEATH(a.push_back(PacketPtr(p)), "already on a queue");
}

}  // namespace
}  // namespace ustack
