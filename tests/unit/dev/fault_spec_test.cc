// parse_fault_spec / format_fault_spec: `ustack host --impair` syntax, every error sentence,
// both directions and one, and the round trip through the printed form.
#include "ustack/dev/fault_spec.h"

#include <gtest/gtest.h>

namespace ustack::dev {
namespace {

TEST(FaultSpec, BothDirectionsByDefault) {
  auto c = parse_fault_spec("loss=2%,reorder=5%,dup=1%,corrupt=0.1%,delay=1ms,jitter=250us");
  ASSERT_TRUE(c) << c.error();
  for (const FaultConfig* d : {&c->rx, &c->tx}) {
    EXPECT_DOUBLE_EQ(d->drop, 0.02);
    EXPECT_DOUBLE_EQ(d->reorder, 0.05);
    EXPECT_DOUBLE_EQ(d->duplicate, 0.01);
    EXPECT_DOUBLE_EQ(d->corrupt, 0.001);
    EXPECT_EQ(d->delay, Duration::ms(1));
    EXPECT_EQ(d->jitter, Duration::us(250));
    EXPECT_EQ(d->reorder_hold, Duration::ms(1));  // default kept
  }
  EXPECT_EQ(c->seed, 1u);
}

TEST(FaultSpec, OneDirectionSeedAndFractions) {
  auto c = parse_fault_spec("rx.loss=10%,tx.delay=1.5ms,reorder-hold=2ms,seed=42");
  ASSERT_TRUE(c) << c.error();
  EXPECT_DOUBLE_EQ(c->rx.drop, 0.10);
  EXPECT_DOUBLE_EQ(c->tx.drop, 0.0);
  EXPECT_EQ(c->rx.delay, Duration::zero());
  EXPECT_EQ(c->tx.delay, Duration::us(1500));
  EXPECT_EQ(c->rx.reorder_hold, Duration::ms(2));
  EXPECT_EQ(c->tx.reorder_hold, Duration::ms(2));
  EXPECT_EQ(c->seed, 42u);
  // rx.X and tx.X are different keys: both allowed.
  EXPECT_TRUE(parse_fault_spec("rx.loss=1%,tx.loss=2%"));
  auto s = parse_fault_spec("delay=2s,jitter=100ns,loss=0%,dup=100%");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->rx.delay, Duration::s(2));
  EXPECT_EQ(s->tx.jitter, Duration::ns(100));
  EXPECT_DOUBLE_EQ(s->rx.duplicate, 1.0);
}

TEST(FaultSpec, BaseValuesAreKept) {
  FaultInjectorConfig base;
  base.seed = 9;
  base.rx.drop = 0.5;
  auto c = parse_fault_spec("tx.loss=1%", base);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->seed, 9u);
  EXPECT_DOUBLE_EQ(c->rx.drop, 0.5);
  EXPECT_DOUBLE_EQ(c->tx.drop, 0.01);
}

TEST(FaultSpec, ErrorsNameTheItem) {
  struct Case {
    const char* spec;
    const char* needle;
  };
  const Case cases[] = {
      {"", "empty impairment"},
      {"loss", "'loss': expected KEY=VALUE"},
      {"loss=", "'loss=': expected KEY=VALUE"},
      {"=2%", "'=2%': expected KEY=VALUE"},
      {"loss=2%,", "'': expected KEY=VALUE"},
      {"loss=2", "'loss=2': give a percentage such as 2%"},
      {"loss=x%", "'loss=x%': the percentage must be a number from 0% to 100%"},
      {"loss=101%", "from 0% to 100%"},
      {"loss=-1%", "from 0% to 100%"},
      {"delay=5", "'delay=5': give a duration with a unit"},
      {"delay=5m", "give a duration with a unit"},
      {"delay=-1ms", "from 0 to 1 hour"},
      {"delay=2h", "give a duration with a unit"},
      {"jitter=xms", "from 0 to 1 hour"},
      {"drop=2%", "'drop=2%': unknown key 'drop'"},
      {"up.loss=2%", "unknown key 'up.loss'"},
      {"loss=1%,loss=2%", "'loss=2%': loss given twice for the same direction"},
      {"loss=1%,rx.loss=2%", "'rx.loss=2%': loss given twice"},
      {"seed=abc", "'seed=abc': the seed must be an unsigned integer"},
      {"seed=1,seed=2", "'seed=2': seed given twice"},
  };
  for (const Case& c : cases) {
    auto r = parse_fault_spec(c.spec);
    ASSERT_FALSE(r) << c.spec;
    EXPECT_NE(r.error().find(c.needle), std::string::npos)
        << "spec '" << c.spec << "' gave: " << r.error();
  }
}

TEST(FaultSpec, FormatRoundTrips) {
  EXPECT_EQ(format_fault_spec({}), "none");
  for (const char* spec :
       {"loss=2%,reorder=5%", "loss=2%,dup=1%,corrupt=0.1%,delay=1ms,jitter=250us",
        "rx.loss=10%,tx.delay=1500us", "reorder-hold=2ms"}) {
    auto c = parse_fault_spec(spec);
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(format_fault_spec(*c), spec);
    auto again = parse_fault_spec(format_fault_spec(*c));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->rx, c->rx);
    EXPECT_EQ(again->tx, c->tx);
  }
}

}  // namespace
}  // namespace ustack::dev
