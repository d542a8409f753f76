// SeqNum: modulo-2^32 order and arithmetic, especially across the wrap.
#include "ustack/wire/seq.h"

#include <gtest/gtest.h>

namespace ustack::wire {
namespace {

constexpr SeqNum kMax{0xffffffffu};

TEST(SeqNum, OrdersPlainNumbers) {
  const SeqNum a{100}, b{200};
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(a <= b);
  EXPECT_TRUE(b > a);
  EXPECT_TRUE(b >= a);
  EXPECT_FALSE(b < a);
  EXPECT_FALSE(a > b);
  EXPECT_TRUE(a <= a);
  EXPECT_TRUE(a >= a);
  EXPECT_FALSE(a < a);
  EXPECT_FALSE(a > a);
  EXPECT_EQ(b - a, 100u);
}

TEST(SeqNum, OrdersAcrossTheWrap) {
  const SeqNum before = kMax + 0;  // 2^32 - 1
  const SeqNum after = before + 1;
  EXPECT_EQ(after, SeqNum{0});
  EXPECT_TRUE(before < after);  // 0 is one ahead of 2^32 - 1
  EXPECT_TRUE(after > before);
  EXPECT_FALSE(after < before);
  EXPECT_TRUE(SeqNum{0xfffffff0u} < SeqNum{0x10});
  EXPECT_TRUE(SeqNum{0x10} > SeqNum{0xfffffff0u});
  EXPECT_EQ(SeqNum{0x10} - SeqNum{0xfffffff0u}, 0x20u);
  // The distance the other way round is the long way round the circle.
  EXPECT_EQ(SeqNum{0xfffffff0u} - SeqNum{0x10}, 0xffffffe0u);
}

TEST(SeqNum, AdditionWraps) {
  SeqNum s{0xfffffffeu};
  EXPECT_EQ(s + 3, SeqNum{1});
  s += 2;
  EXPECT_EQ(s, SeqNum{0});
  s += 0xffffffffu;  // adding 2^32 - 1 is subtracting one
  EXPECT_EQ(s, kMax);
  EXPECT_EQ((SeqNum{5} + 10) - SeqNum{5}, 10u);
}

TEST(SeqNum, HalfTheSpaceApartIsAmbiguous) {
  // RFC 1982 §3.2: undefined. Both directions answer "less", and <= agrees with <.
  const SeqNum a{0}, b{0x80000000u};
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(b < a);
  EXPECT_TRUE(a <= b);
  EXPECT_TRUE(b <= a);
  EXPECT_NE(a, b);
  // One short of half is unambiguous.
  EXPECT_TRUE(SeqNum{0} < SeqNum{0x7fffffffu});
  EXPECT_FALSE(SeqNum{0x7fffffffu} < SeqNum{0});
}

TEST(SeqNum, InWindowAcrossTheWrap) {
  const SeqNum left{0xfffffff0u};
  EXPECT_TRUE(in_window(left, left, 0x20));
  EXPECT_TRUE(in_window(SeqNum{0}, left, 0x20));
  EXPECT_TRUE(in_window(SeqNum{0xf}, left, 0x20));
  EXPECT_FALSE(in_window(SeqNum{0x10}, left, 0x20));  // right edge is exclusive
  EXPECT_FALSE(in_window(SeqNum{0xffffffefu}, left, 0x20));
  EXPECT_FALSE(in_window(left, left, 0));  // empty window holds nothing
}

TEST(SeqNum, IsConstexpr) {
  static_assert(SeqNum{1} < SeqNum{2});
  static_assert(SeqNum{0xffffffffu} + 2 == SeqNum{1});
  static_assert(SeqNum{1} - SeqNum{0xffffffffu} == 2u);
  static_assert(in_window(SeqNum{0}, SeqNum{0xffffffffu}, 2));
}

}  // namespace
}  // namespace ustack::wire
