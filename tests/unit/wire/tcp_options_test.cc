// TCP options: the raw walker, parse rules (illegal lengths, wrong lengths of known kinds,
// unknown kinds, duplicates, alignment, window-scale clamp) and Linux's emit layout.
#include "ustack/wire/tcp_options.h"

#include <gtest/gtest.h>

#include <vector>

namespace ustack::wire {
namespace {

using Bytes = std::vector<uint8_t>;

// The options of the golden SYN in tcp_test.cc (Linux 6.18: mss 1460, sackOK, TS val
// 4026007768 ecr 0, nop, wscale 10).
const Bytes kLinuxSynOptions = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xef, 0xf8,
                                0x00, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a};

Bytes emit(const TcpOptions& o) {
  Bytes out(o.len(), 0xcc);
  o.emit(out);
  return out;
}

WireError parse_error(const Bytes& b) {
  auto r = TcpOptions::parse(b);
  EXPECT_FALSE(r);
  return r ? WireError::kMalformed : r.error();
}

TEST(TcpOptionReader, WalksLinuxSynOptions) {
  TcpOptionReader rd(kLinuxSynOptions);
  std::vector<std::pair<uint8_t, size_t>> seen;
  for (;;) {
    auto o = rd.next();
    ASSERT_TRUE(o);
    if (!*o) break;
    seen.emplace_back((*o)->kind, (*o)->data.size());
    // Every option's data lies inside the area.
    EXPECT_GE((*o)->data.data(), kLinuxSynOptions.data());
    EXPECT_LE((*o)->data.data() + (*o)->data.size(),
              kLinuxSynOptions.data() + kLinuxSynOptions.size());
  }
  EXPECT_EQ(seen,
            (std::vector<std::pair<uint8_t, size_t>>{{2, 2}, {4, 0}, {8, 8}, {1, 0}, {3, 1}}));
  // Stays at the end.
  EXPECT_FALSE(*rd.next());
}

TEST(TcpOptionReader, IllegalLengthsAreBadOption) {
  for (const Bytes& b : {
           Bytes{0x02},                          // kind with no room for its length
           Bytes{0x01, 0x01, 0x01, 0x1e},        // the same after NOPs (unknown kind 30)
           Bytes{0x02, 0x00, 0x05, 0xb4},        // length 0 (RFC 9293 §3.2's example)
           Bytes{0x02, 0x01, 0x05, 0xb4},        // length 1
           Bytes{0x02, 0x05, 0x05, 0xb4},        // runs one past the area
           Bytes{0x08, 0x0a, 0, 0, 0, 0, 0, 0},  // timestamps cut short
           Bytes{0xfe, 0xff, 0x00, 0x00},        // unknown kind, huge length
       }) {
    TcpOptionReader rd(b);
    Result<std::optional<TcpOption>, WireError> r = rd.next();
    while (r && *r) r = rd.next();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), WireError::kBadOption);
    EXPECT_FALSE(rd.next());  // and stays failed
    EXPECT_EQ(parse_error(b), WireError::kBadOption);
  }
}

TEST(TcpOptionReader, EolEndsTheListAndHidesWhatFollows) {
  const Bytes b = {0x01, 0x00, 0x02, 0x00, 0xff};  // NOP EOL <illegal garbage>
  TcpOptionReader rd(b);
  auto nop = rd.next();
  ASSERT_TRUE(nop && *nop);
  EXPECT_EQ((*nop)->kind, 1);
  auto end = rd.next();
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
  EXPECT_EQ(*TcpOptions::parse(b), TcpOptions{});
  EXPECT_EQ(*TcpOptions::parse(Bytes{}), TcpOptions{});
  EXPECT_EQ(*TcpOptions::parse(Bytes(40, 0x00)), TcpOptions{});
  EXPECT_EQ(*TcpOptions::parse(Bytes(40, 0x01)), TcpOptions{});
}

TEST(TcpOptions, ParsesLinuxSyn) {
  auto o = TcpOptions::parse(kLinuxSynOptions);
  ASSERT_TRUE(o);
  TcpOptions want;
  want.mss = 1460;
  want.sack_permitted = true;
  want.timestamps = TcpTimestamps{4026007768u, 0};
  want.window_scale = 10;
  EXPECT_EQ(*o, want);
  EXPECT_EQ(emit(want), kLinuxSynOptions);
}

TEST(TcpOptions, NoAlignmentAssumed) {
  // MUST-64: WS, MSS, TS and SACK-permitted packed with no NOPs, then EOL padding.
  const Bytes b = {0x03, 0x03, 0x07, 0x02, 0x04, 0x05, 0xb4, 0x08, 0x0a, 0x11,
                   0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x04, 0x02, 0x00};
  auto o = TcpOptions::parse(b);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->window_scale, 7);
  EXPECT_EQ(o->mss, 1460);
  EXPECT_EQ(o->timestamps, (TcpTimestamps{0x11223344u, 0x55667788u}));
  EXPECT_TRUE(o->sack_permitted);
}

TEST(TcpOptions, UnknownKindsAreSkippedByLength) {
  // MUST-6: MPTCP (30), TCP-AO (29), Fast Open (34) and an experiment (254) around an MSS.
  const Bytes b = {0x1e, 0x04, 0x00, 0x81, 0x1d, 0x03, 0xaa, 0x22, 0x0a, 1,    2,    3,   4,
                   5,    6,    7,    8,    0x02, 0x04, 0x02, 0x18, 0xfe, 0x02, 0x01, 0x00};
  auto o = TcpOptions::parse(b);
  ASSERT_TRUE(o);
  TcpOptions want;
  want.mss = 536;
  EXPECT_EQ(*o, want);
}

TEST(TcpOptions, KnownKindsWithWrongLengthsAreIgnoredLikeLinux) {
  // Each malformed option is skipped by its length, and the MSS after it still counts.
  for (const Bytes& bad : {
           Bytes{0x02, 0x03, 0x05},                                   // MSS len 3
           Bytes{0x02, 0x06, 0x05, 0xb4, 0x00, 0x00},                 // MSS len 6
           Bytes{0x03, 0x02},                                         // WS len 2
           Bytes{0x03, 0x04, 0x07, 0x00},                             // WS len 4
           Bytes{0x04, 0x03, 0x00},                                   // SACK-perm len 3
           Bytes{0x08, 0x08, 1, 2, 3, 4, 5, 6},                       // TS len 8
           Bytes{0x08, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9},              // TS len 11
           Bytes{0x05, 0x02},                                         // SACK, no blocks
           Bytes{0x05, 0x09, 1, 2, 3, 4, 5, 6, 7},                    // SACK len 9
           Bytes{0x05, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9},              // SACK len 11
           Bytes{0x05, 0x0e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},  // SACK len 14
       }) {
    Bytes b = bad;
    b.insert(b.end(), {0x02, 0x04, 0x02, 0x18});
    auto o = TcpOptions::parse(b);
    ASSERT_TRUE(o) << int{bad[0]} << "/" << int{bad[1]};
    TcpOptions want;
    want.mss = 536;
    EXPECT_EQ(*o, want) << int{bad[0]} << "/" << int{bad[1]};
  }
}

TEST(TcpOptions, DuplicatesLastWins) {
  const Bytes b = {
      0x02, 0x04, 0x03, 0xe8,                    // MSS 1000
      0x03, 0x03, 0x0f,                          // WS 15 (clamped)
      0x08, 0x0a, 0,    0,    0, 1, 0, 0, 0, 2,  // TS 1/2
      0x02, 0x04, 0x05, 0xb4,                    // MSS 1460
      0x03, 0x03, 0x02,                          // WS 2
      0x08, 0x0a, 0,    0,    0, 3, 0, 0, 0, 4,  // TS 3/4
  };
  ASSERT_LE(b.size(), kTcpMaxOptionsLen);
  auto o = TcpOptions::parse(b);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->mss, 1460);
  EXPECT_EQ(o->window_scale, 2);
  EXPECT_FALSE(o->window_scale_clamped);  // the flag follows the option that won
  EXPECT_EQ(o->timestamps, (TcpTimestamps{3, 4}));
  // A second SACK option replaces the first one's blocks, it does not add to them.
  const Bytes two = {0x05, 0x12, 0, 0, 0,    1,    0, 0, 0, 2, 0, 0, 0, 3,
                     0,    0,    0, 4, 0x05, 0x0a, 0, 0, 0, 5, 0, 0, 0, 6};
  EXPECT_EQ(TcpOptions::parse(two)->sack, (SackBlocks{{SeqNum{5}, SeqNum{6}}}));
}

TEST(TcpOptions, WindowScaleOver14IsClampedAndFlagged) {
  for (uint8_t shift : {0, 7, 14, 15, 200, 255}) {
    auto o = TcpOptions::parse(Bytes{0x01, 0x03, 0x03, shift});
    ASSERT_TRUE(o);
    EXPECT_EQ(o->window_scale, shift > 14 ? 14 : shift);
    EXPECT_EQ(o->window_scale_clamped, shift > 14);
    // What is emitted is the clamped value, and the flag is input-only.
    TcpOptions back = *TcpOptions::parse(emit(*o));
    EXPECT_EQ(back, o->as_emitted());
    EXPECT_FALSE(back.window_scale_clamped);
  }
}

TEST(TcpOptions, MssZeroIsReportedNotJudged) {
  EXPECT_EQ(TcpOptions::parse(Bytes{0x02, 0x04, 0x00, 0x00})->mss, 0);
}

TEST(TcpOptions, FourSackBlocksWithoutTimestamps) {
  TcpOptions o;
  o.sack = {{SeqNum{1}, SeqNum{2}},
            {SeqNum{3}, SeqNum{4}},
            {SeqNum{5}, SeqNum{6}},
            {SeqNum{0xfffffff0u}, SeqNum{0x10}}};
  EXPECT_EQ(o.sack_blocks_that_fit(), 4u);
  EXPECT_EQ(o.len(), 36u);
  const Bytes b = emit(o);
  EXPECT_EQ(Bytes(b.begin(), b.begin() + 4), (Bytes{0x01, 0x01, 0x05, 0x22}));
  EXPECT_EQ(*TcpOptions::parse(b), o);
}

TEST(TcpOptions, SackBlocksThatDoNotFitAreDroppedFromTheEnd) {
  TcpOptions o;
  o.sack = {{SeqNum{1}, SeqNum{2}},
            {SeqNum{3}, SeqNum{4}},
            {SeqNum{5}, SeqNum{6}},
            {SeqNum{7}, SeqNum{8}}};
  o.timestamps = TcpTimestamps{9, 10};
  EXPECT_EQ(o.sack_blocks_that_fit(), 3u);  // 12 + 4 + 24 = 40, as in Linux
  EXPECT_EQ(o.len(), 40u);
  TcpOptions want = o;
  want.sack.truncate(3);
  EXPECT_EQ(o.as_emitted(), want);
  EXPECT_EQ(*TcpOptions::parse(emit(o)), want);

  o.mss = 1460;
  o.window_scale = 7;
  o.sack_permitted = true;  // 20 bytes of SYN options leave room for 2 blocks
  EXPECT_EQ(o.sack_blocks_that_fit(), 2u);
  EXPECT_EQ(o.len(), 40u);
  EXPECT_EQ(TcpOptions::parse(emit(o))->sack.size(), 2u);

  o.timestamps.reset();  // 12 bytes leave room for 3
  EXPECT_EQ(o.sack_blocks_that_fit(), 3u);
  EXPECT_EQ(o.len(), 40u);
  EXPECT_EQ(*TcpOptions::parse(emit(o)), o.as_emitted());
}

TEST(TcpOptions, EmitsLinuxLayoutForEachCombination) {
  TcpOptions o;
  EXPECT_EQ(o.len(), 0u);
  EXPECT_EQ(emit(o), Bytes{});
  o.mss = 1460;
  EXPECT_EQ(emit(o), (Bytes{0x02, 0x04, 0x05, 0xb4}));
  o = {};
  o.window_scale = 7;
  EXPECT_EQ(emit(o), (Bytes{0x01, 0x03, 0x03, 0x07}));
  o = {};
  o.sack_permitted = true;
  EXPECT_EQ(emit(o), (Bytes{0x01, 0x01, 0x04, 0x02}));
  o.mss = 1460;
  o.window_scale = 7;  // Linux SYN with timestamps off: mss,nop,nop,sackOK,nop,wscale 7
  EXPECT_EQ(emit(o),
            (Bytes{0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x07}));
  o = {};
  o.timestamps = TcpTimestamps{0x01020304, 0x05060708};
  EXPECT_EQ(emit(o), (Bytes{0x01, 0x01, 0x08, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8}));
  o.sack = {{SeqNum{0x11111111}, SeqNum{0x22222222}}};
  EXPECT_EQ(emit(o),
            (Bytes{0x01, 0x01, 0x08, 0x0a, 1,    2,    3,    4,    5,    6,    7,    8,
                   0x01, 0x01, 0x05, 0x0a, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22}));
  for (const TcpOptions& x : {o}) EXPECT_EQ(*TcpOptions::parse(emit(x)), x);
}

TEST(TcpOptions, EmitRejectsAnOutOfRangeWindowScale) {
  TcpOptions o;
  o.window_scale = 15;
  Bytes out(o.len());
  EXPECT_DEATH(o.emit(out), "window scale");
}

TEST(SackBlocks, CapacityAndEquality) {
  SackBlocks s;
  EXPECT_TRUE(s.empty());
  for (uint32_t i = 0; i < kTcpMaxSackBlocks; ++i) {
    EXPECT_TRUE(s.push_back({SeqNum{i}, SeqNum{i + 1}}));
  }
  EXPECT_FALSE(s.push_back({SeqNum{9}, SeqNum{10}}));
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s[3], (SackBlock{SeqNum{3}, SeqNum{4}}));
  s.truncate(1);
  // Blocks past size() do not take part in ==.
  EXPECT_EQ(s, (SackBlocks{{SeqNum{0}, SeqNum{1}}}));
  EXPECT_NE(s, SackBlocks{});
  s.clear();
  EXPECT_EQ(s, SackBlocks{});
  EXPECT_EQ(s.begin(), s.end());
}

}  // namespace
}  // namespace ustack::wire
