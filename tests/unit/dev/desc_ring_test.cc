// DescRing: ownership cycle driver -> hardware -> driver, and exact full/empty accounting.
#include "ustack/dev/desc_ring.h"

#include <gtest/gtest.h>

#include "ustack/buf/pool.h"

namespace ustack::dev {
namespace {

TEST(DescRing, OwnershipCycle) {
  PoolHandle pool = BufferPool::create();
  DescRing r(4);
  EXPECT_EQ(r.free_count(), 4u);
  EXPECT_EQ(r.hw_peek(), nullptr) << "hardware has nothing until the driver posts";
  for (int i = 0; i < 4; ++i) r.post(pool->alloc(0, 64), 0);
  EXPECT_FALSE(r.can_post());
  EXPECT_EQ(r.hw_count(), 4u);
  EXPECT_FALSE(r.can_clean()) << "nothing finished yet";
  ASSERT_NE(r.hw_peek(), nullptr);
  r.hw_done(60);
  r.hw_done(61);
  EXPECT_EQ(r.done_count(), 2u);
  EXPECT_EQ(r.hw_count(), 2u);
  uint32_t len = 0;
  PacketPtr a = r.clean(&len);
  EXPECT_EQ(len, 60u);
  EXPECT_TRUE(a);
  EXPECT_TRUE(r.can_post()) << "the cleaned slot is free again";
  EXPECT_EQ(r.free_count(), 1u);
  r.post(pool->alloc(0, 64), 0);  // wraps around to slot 0
  EXPECT_EQ(r.clean_slot(), 1u);
  r.clean(&len);
  EXPECT_EQ(len, 61u);
  EXPECT_EQ(r.reset(), 3u) << "three descriptors were still hardware-owned";
  EXPECT_EQ(r.free_count(), 4u);
  a.reset();
  EXPECT_EQ(pool->outstanding(), 0u);
}

TEST(DescRingDeathTest, MisuseAborts) {
  DescRing r(2);
  EXPECT_DEATH(r.hw_done(1), "does not own");
  EXPECT_DEATH(r.clean(), "not finished");
}

}  // namespace
}  // namespace ustack::dev
