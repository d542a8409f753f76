// TcpOfoQueue: holes filled in every order, overlaps of every shape, data before RCV.NXT, the
// memory limit, RFC 2018 §4 SACK blocks and their order, the 2^32 wrap, a randomized check
// against a byte-map model, and no allocation per segment once the pool is warm.
#include "ustack/transport/tcp_ofo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <numeric>
#include <vector>

#include "ustack/buf/pool.h"

#include "tools/count_new.h"  // g_news: counts global operator new

namespace ustack::transport {
namespace {

using wire::SackBlock;
using wire::SeqNum;

// Octet at sequence number s carries (s * 7 + 3) & 0xff: every delivered byte is checkable.
uint8_t octet(uint32_t s) { return static_cast<uint8_t>(s * 7 + 3); }

class TcpOfo : public ::testing::Test {
 protected:
  PoolHandle pool = BufferPool::create();
  TcpOfoQueue q;

  PacketPtr seg(uint32_t seq, uint32_t len) {
    std::vector<uint8_t> b(len);
    for (uint32_t i = 0; i < len; ++i) b[i] = octet(seq + i);
    return pool->alloc_copy(b, 64);
  }
  OfoInsert ins(uint32_t seq, uint32_t len, uint32_t rcv_nxt) {
    return q.insert(SeqNum{seq}, seg(seq, len), SeqNum{rcv_nxt});
  }
  std::vector<SackBlock> sacks(size_t max = 4) {
    std::array<SackBlock, 4> out{};
    size_t n = q.sack_blocks(out, max);
    return {out.begin(), out.begin() + n};
  }
  // The queued (seq, len) pairs in order.
  std::vector<std::pair<uint32_t, uint32_t>> layout() {
    std::vector<std::pair<uint32_t, uint32_t>> v;
    // Drained with pop_in_order and queued again (which rebuilds the SACK table).
    SeqNum nxt;
    std::vector<PacketPtr> held;
    while (!q.empty()) {
      nxt = q.first_seq();
      PacketPtr p = q.pop_in_order(nxt);
      v.emplace_back(nxt.v - static_cast<uint32_t>(p->len()), static_cast<uint32_t>(p->len()));
      held.push_back(std::move(p));
    }
    for (size_t i = 0; i < held.size(); ++i) {
      EXPECT_EQ(q.insert(SeqNum{v[i].first}, std::move(held[i]), SeqNum{v[0].first}),
                OfoInsert::kQueued);
    }
    return v;
  }
  // Checks every byte of a delivered buffer against the pattern.
  static void expect_bytes(const PacketBuffer& p, uint32_t seq) {
    auto d = p.data();
    for (size_t i = 0; i < d.size(); ++i) {
      ASSERT_EQ(d[i], octet(seq + static_cast<uint32_t>(i))) << "at seq " << seq + i;
    }
  }
};

SackBlock blk(uint32_t l, uint32_t r) { return {SeqNum{l}, SeqNum{r}}; }

// The engine's loop: in-order data is delivered, the rest queued, and every delivery drains the
// queue. Every one of the 120 arrival orders of 5 segments must deliver the stream exactly.
TEST_F(TcpOfo, HolesFilledInEveryOrder) {
  for (uint32_t base : {1000u, 0xffffff00u}) {  // the second crosses 2^32
    std::vector<int> order{0, 1, 2, 3, 4};
    do {
      uint32_t rcv_nxt = base;
      uint32_t delivered = 0;
      for (int i : order) {
        uint32_t s = base + 100u * static_cast<uint32_t>(i);
        if (SeqNum{s} == SeqNum{rcv_nxt}) {
          rcv_nxt += 100;
          delivered += 100;
          SeqNum nxt{rcv_nxt};
          while (PacketPtr p = q.pop_in_order(nxt)) {
            ASSERT_NO_FATAL_FAILURE(expect_bytes(*p, nxt.v - static_cast<uint32_t>(p->len())));
            EXPECT_EQ(nxt.v - static_cast<uint32_t>(p->len()), rcv_nxt);
            delivered += static_cast<uint32_t>(p->len());
            rcv_nxt = nxt.v;
          }
        } else {
          ASSERT_EQ(ins(s, 100, rcv_nxt), OfoInsert::kQueued);
        }
      }
      EXPECT_EQ(rcv_nxt, base + 500);
      EXPECT_EQ(delivered, 500u);
      EXPECT_TRUE(q.empty());
      EXPECT_EQ(q.bytes(), 0u);
      EXPECT_EQ(q.mem(), 0u);
      EXPECT_TRUE(sacks().empty());
    } while (std::next_permutation(order.begin(), order.end()));
  }
  EXPECT_EQ(pool->outstanding(), 0u);
}

// Old covers new, exact duplicate: the new segment is dropped and counted as TCPOFOMerge.
TEST_F(TcpOfo, DuplicatesAreDropped) {
  ASSERT_EQ(ins(1100, 200, 1000), OfoInsert::kQueued);
  EXPECT_EQ(ins(1100, 200, 1000), OfoInsert::kDuplicate);  // exact
  EXPECT_EQ(ins(1150, 50, 1000), OfoInsert::kDuplicate);   // inside
  EXPECT_EQ(ins(1100, 50, 1000), OfoInsert::kDuplicate);   // same start, shorter
  EXPECT_EQ(ins(1250, 50, 1000), OfoInsert::kDuplicate);   // same end
  EXPECT_EQ(q.stats().ofo_merge, 4u);
  EXPECT_EQ(q.stats().ofo_queue, 1u);
  EXPECT_EQ(q.segments(), 1u);
  EXPECT_EQ(q.bytes(), 200u);
  // Spanning two adjacent queued segments without a new octet is a duplicate too.
  ASSERT_EQ(ins(1300, 100, 1000), OfoInsert::kQueued);
  EXPECT_EQ(ins(1250, 100, 1000), OfoInsert::kDuplicate);
  EXPECT_EQ(q.stats().ofo_merge, 5u);
  EXPECT_EQ(q.bytes(), 300u);
  EXPECT_EQ(pool->outstanding(), 2u);  // dropped buffers were freed
}

// New covers old: the old segments go (each a TCPOFOMerge), the new one stays whole.
TEST_F(TcpOfo, NewCoversOld) {
  ASSERT_EQ(ins(1100, 50, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1200, 50, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1050, 250, 1000), OfoInsert::kQueued);
  EXPECT_EQ(q.stats().ofo_merge, 2u);
  EXPECT_EQ(q.segments(), 1u);
  EXPECT_EQ(q.bytes(), 250u);
  EXPECT_EQ(q.mem(), pool->config().frame_block_size);
  EXPECT_EQ(sacks(), (std::vector{blk(1050, 1300)}));
  // Same start, longer: replaces.
  ASSERT_EQ(ins(1050, 300, 1000), OfoInsert::kQueued);
  EXPECT_EQ(layout(), (std::vector<std::pair<uint32_t, uint32_t>>{{1050, 300}}));
  EXPECT_EQ(q.stats().ofo_merge, 3u);
}

// Partial overlaps: the new segment's head and tail are cut to what is new.
TEST_F(TcpOfo, PartialOverlapsAreTrimmed) {
  ASSERT_EQ(ins(1100, 100, 1000), OfoInsert::kQueued);  // [1100,1200)
  ASSERT_EQ(ins(1300, 100, 1000), OfoInsert::kQueued);  // [1300,1400)
  ASSERT_EQ(ins(1150, 100, 1000), OfoInsert::kQueued);  // head overlaps -> [1200,1250)
  ASSERT_EQ(ins(1280, 60, 1000), OfoInsert::kQueued);   // tail overlaps -> [1280,1300)
  ASSERT_EQ(ins(1240, 50, 1000), OfoInsert::kQueued);   // both -> [1250,1280)
  ASSERT_EQ(ins(1050, 400, 1000), OfoInsert::kQueued);  // covers all five...
  EXPECT_EQ(q.bytes(), 400u);
  EXPECT_EQ(q.stats().ofo_merge, 0u + 5u);  // ...replaces the five (covered) segments
  EXPECT_EQ(sacks(), (std::vector{blk(1050, 1450)}));
  SeqNum nxt{1050};
  PacketPtr p = q.pop_in_order(nxt);
  ASSERT_TRUE(p);
  expect_bytes(*p, 1050);
  EXPECT_EQ(nxt, SeqNum{1450});
}

TEST_F(TcpOfo, PartialOverlapsKeepOnlyNewOctets) {
  ASSERT_EQ(ins(1100, 100, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1300, 100, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1150, 100, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1280, 60, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1240, 50, 1000), OfoInsert::kQueued);
  EXPECT_EQ(layout(), (std::vector<std::pair<uint32_t, uint32_t>>{
                          {1100, 100}, {1200, 50}, {1250, 30}, {1280, 20}, {1300, 100}}));
  EXPECT_EQ(q.bytes(), 300u);
  EXPECT_EQ(sacks()[0], blk(1100, 1400));
  SeqNum nxt{1100};
  uint32_t total = 0;
  while (PacketPtr p = q.pop_in_order(nxt)) {
    uint32_t s = nxt.v - static_cast<uint32_t>(p->len());
    ASSERT_NO_FATAL_FAILURE(expect_bytes(*p, s));
    total += static_cast<uint32_t>(p->len());
  }
  EXPECT_EQ(total, 300u);
  EXPECT_EQ(nxt, SeqNum{1400});
}

// RFC 9293 §3.10.7.4: octets before RCV.NXT are not queued again.
TEST_F(TcpOfo, DataBeforeRcvNxt) {
  EXPECT_EQ(ins(900, 100, 1000), OfoInsert::kOld);
  EXPECT_EQ(ins(800, 50, 1000), OfoInsert::kOld);
  EXPECT_EQ(q.insert(SeqNum{1200}, pool->alloc(0, 10), SeqNum{1000}), OfoInsert::kOld);  // empty
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.stats().ofo_queue, 0u);
  ASSERT_EQ(ins(950, 200, 1000), OfoInsert::kQueued);  // straddles: head pulled
  EXPECT_EQ(layout(), (std::vector<std::pair<uint32_t, uint32_t>>{{1000, 150}}));
  EXPECT_EQ(pool->outstanding(), 1u);
}

// pop_in_order trims what an in-order segment already delivered and frees what it passed.
TEST_F(TcpOfo, PopTrimsAndSkipsDelivered) {
  ASSERT_EQ(ins(1100, 100, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1200, 100, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1400, 100, 1000), OfoInsert::kQueued);
  SeqNum nxt{1000};
  EXPECT_FALSE(q.pop_in_order(nxt));  // hole at 1000
  EXPECT_EQ(q.segments(), 3u);
  nxt = SeqNum{1250};  // an in-order segment [1000,1250) arrived
  PacketPtr p = q.pop_in_order(nxt);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->len(), 50u);
  expect_bytes(*p, 1250);
  EXPECT_EQ(nxt, SeqNum{1300});
  EXPECT_FALSE(q.pop_in_order(nxt));
  EXPECT_EQ(q.segments(), 1u);
  EXPECT_EQ(q.bytes(), 100u);
  EXPECT_EQ(sacks(), (std::vector{blk(1400, 1500)}));
  EXPECT_EQ(pool->outstanding(), 2u);  // [1100,1200) was freed
}

// tcp_try_rmem_schedule: each buffer is charged its capacity; past the limit the new segment
// is dropped (TCPOFODrop) and nothing queued changes.
TEST_F(TcpOfo, MemoryLimit) {
  const size_t cap = pool->config().frame_block_size;
  q.set_mem_limit(2 * cap);
  ASSERT_EQ(ins(1100, 10, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(1200, 10, 1000), OfoInsert::kQueued);
  EXPECT_EQ(q.mem(), 2 * cap);
  EXPECT_EQ(ins(1300, 10, 1000), OfoInsert::kNoMemory);
  EXPECT_EQ(q.stats().ofo_drop, 1u);
  EXPECT_EQ(q.segments(), 2u);
  EXPECT_EQ(sacks(), (std::vector{blk(1200, 1210), blk(1100, 1110)}));
  // Replacing a covered segment frees its charge first: allowed at the limit.
  EXPECT_EQ(ins(1190, 30, 1000), OfoInsert::kQueued);
  EXPECT_EQ(q.mem(), 2 * cap);
  EXPECT_EQ(q.stats().ofo_merge, 1u);
  EXPECT_EQ(q.stats().ofo_drop, 1u);
  // Duplicates are not memory drops.
  EXPECT_EQ(ins(1100, 10, 1000), OfoInsert::kDuplicate);
  EXPECT_EQ(q.stats().ofo_drop, 1u);
  q.clear();
  EXPECT_EQ(q.mem(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_TRUE(sacks().empty());
  EXPECT_EQ(pool->outstanding(), 0u);
}

// RFC 2018 §5 ("Examples"), case 3: left edge 5000, eight 500-byte segments, the 2nd, 4th, 6th
// and 8th lost; then the 4th and the 2nd arrive. Block lists exactly as the RFC gives them.
TEST_F(TcpOfo, Rfc2018Example) {
  uint32_t rcv_nxt = 5500;  // 5000 arrived in order
  ASSERT_EQ(ins(6000, 500, rcv_nxt), OfoInsert::kQueued);
  EXPECT_EQ(sacks(), (std::vector{blk(6000, 6500)}));
  ASSERT_EQ(ins(7000, 500, rcv_nxt), OfoInsert::kQueued);
  EXPECT_EQ(sacks(), (std::vector{blk(7000, 7500), blk(6000, 6500)}));
  ASSERT_EQ(ins(8000, 500, rcv_nxt), OfoInsert::kQueued);
  EXPECT_EQ(sacks(), (std::vector{blk(8000, 8500), blk(7000, 7500), blk(6000, 6500)}));
  // "the 4th segment is received out of order": 6000-7500 first, then 8000-8500.
  ASSERT_EQ(ins(6500, 500, rcv_nxt), OfoInsert::kQueued);
  EXPECT_EQ(sacks(), (std::vector{blk(6000, 7500), blk(8000, 8500)}));
  // "the 2nd segment is received": ACK 7500, SACK 8000-8500.
  rcv_nxt = 6000;
  SeqNum nxt{rcv_nxt};
  while (q.pop_in_order(nxt)) {
  }
  EXPECT_EQ(nxt, SeqNum{7500});
  EXPECT_EQ(sacks(), (std::vector{blk(8000, 8500)}));
}

// RFC 2018 §4: "following blocks ... the most recently reported"; at most `max` of them
// (3 with timestamps); a block that grows moves to the front; the oldest falls off at 4.
TEST_F(TcpOfo, SackRecencyAndLimit) {
  for (uint32_t s : {2000u, 3000u, 4000u}) ASSERT_EQ(ins(s, 100, 1000), OfoInsert::kQueued);
  ASSERT_EQ(ins(3100, 100, 1000), OfoInsert::kQueued);  // grows the middle one
  EXPECT_EQ(sacks(), (std::vector{blk(3000, 3200), blk(4000, 4100), blk(2000, 2100)}));
  ASSERT_EQ(ins(1950, 50, 1000), OfoInsert::kQueued);  // grows the oldest at its head
  EXPECT_EQ(sacks(), (std::vector{blk(1950, 2100), blk(3000, 3200), blk(4000, 4100)}));
  ASSERT_EQ(ins(5000, 100, 1000), OfoInsert::kQueued);
  EXPECT_EQ(sacks(3), (std::vector{blk(5000, 5100), blk(1950, 2100), blk(3000, 3200)}));
  EXPECT_EQ(sacks(4).size(), 4u);
  std::array<SackBlock, 2> two{};
  EXPECT_EQ(q.sack_blocks(two, 4), 2u);  // bounded by the span too
  EXPECT_EQ(two[1], blk(1950, 2100));
  // A fifth island pushes the oldest report (4000) out of the table...
  ASSERT_EQ(ins(6000, 100, 1000), OfoInsert::kQueued);
  EXPECT_EQ(sacks(),
            (std::vector{blk(6000, 6100), blk(5000, 5100), blk(1950, 2100), blk(3000, 3200)}));
  // ...and it is reported whole again once it grows, from either side.
  ASSERT_EQ(ins(4100, 50, 1000), OfoInsert::kQueued);
  EXPECT_EQ(sacks()[0], blk(4000, 4150));
  ASSERT_EQ(ins(1500, 100, 1000), OfoInsert::kQueued);  // evicts 3000 (oldest)
  ASSERT_EQ(ins(3200, 100, 1000), OfoInsert::kQueued);  // 3000 run untracked: head found by walk
  EXPECT_EQ(sacks()[0], blk(3000, 3300));
  ASSERT_EQ(ins(2950, 50, 1000), OfoInsert::kQueued);  // and from the other side
  EXPECT_EQ(sacks()[0], blk(2950, 3300));
  // Filling a hole merges two blocks into one, no duplicates left behind.
  ASSERT_EQ(ins(3300, 700, 1000), OfoInsert::kQueued);  // [3300,4000) joins 2950.. and 4000..
  std::vector<SackBlock> s = sacks();
  EXPECT_EQ(s[0], blk(2950, 4150));
  for (size_t i = 1; i < s.size(); ++i) {
    EXPECT_FALSE(s[i].left <= SeqNum{4150} && SeqNum{2950} <= s[i].right) << i;
  }
}

// The 2^32 wrap: blocks, trimming and delivery across it.
TEST_F(TcpOfo, Wraparound) {
  const uint32_t base = 0xfffffe00u;
  ASSERT_EQ(ins(base + 0x100, 0x200, base), OfoInsert::kQueued);  // [..ff00, 0x100)
  ASSERT_EQ(ins(0x180, 0x80, base), OfoInsert::kQueued);
  EXPECT_EQ(sacks(), (std::vector{blk(0x180, 0x200), blk(0xffffff00u, 0x100)}));
  ASSERT_EQ(ins(0xffffffc0u, 0x1c0, base),
            OfoInsert::kQueued);  // head dup, tail dup: [0x100,0x180)
  EXPECT_EQ(q.bytes(), 0x300u);
  EXPECT_EQ(sacks(), (std::vector{blk(0xffffff00u, 0x200)}));
  EXPECT_EQ(ins(base - 0x10, 0x20, base + 0x10), OfoInsert::kOld);
  SeqNum nxt{base};
  EXPECT_FALSE(q.pop_in_order(nxt));
  nxt = SeqNum{base + 0x100};
  uint32_t total = 0;
  while (PacketPtr p = q.pop_in_order(nxt)) {
    ASSERT_NO_FATAL_FAILURE(expect_bytes(*p, nxt.v - static_cast<uint32_t>(p->len())));
    total += static_cast<uint32_t>(p->len());
  }
  EXPECT_EQ(total, 0x300u);
  EXPECT_EQ(nxt, SeqNum{0x200});
  EXPECT_TRUE(q.empty());
}

// Random arrivals (overlapping, duplicated, old) against a byte-map model: the queue holds each
// octet once, bytes() is exact, the blocks are disjoint maximal runs with the newest first,
// and draining delivers the right bytes.
TEST_F(TcpOfo, RandomizedAgainstModel) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto rnd = [&x](uint32_t n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<uint32_t>(x % n);
  };
  for (int round = 0; round < 200; ++round) {
    const uint32_t base = 0xffffff00u + static_cast<uint32_t>(round) * 37u;
    uint32_t rcv_nxt = base;
    std::map<uint32_t, bool> have;  // offset from base -> queued
    for (int k = 0; k < 40; ++k) {
      uint32_t off = rnd(2000), len = 1 + rnd(300);
      OfoInsert r = ins(base + off, len, rcv_nxt);
      bool fresh = false;
      for (uint32_t i = off; i < off + len; ++i) fresh |= !have[i];
      EXPECT_EQ(r == OfoInsert::kQueued, fresh);
      if (!fresh) continue;
      for (uint32_t i = off; i < off + len; ++i) have[i] = true;
      size_t n = 0;
      for (auto& [o, h] : have) n += h;
      ASSERT_EQ(q.bytes(), n);
      std::vector<SackBlock> s = sacks();
      ASSERT_FALSE(s.empty());
      EXPECT_TRUE(s[0].left <= SeqNum{base + off} && SeqNum{base + off + len} <= s[0].right);
      for (const SackBlock& b : s) {  // maximal runs of the model
        uint32_t l = b.left - SeqNum{base}, rr = b.right - SeqNum{base};
        for (uint32_t i = l; i < rr; ++i) ASSERT_TRUE(have[i]);
        EXPECT_FALSE(l > 0 && have[l - 1]);
        EXPECT_FALSE(have[rr]);
      }
      for (size_t i = 0; i < s.size(); ++i) {
        for (size_t j = i + 1; j < s.size(); ++j) EXPECT_NE(s[i].left, s[j].left);
      }
    }
    SeqNum nxt{base};
    rcv_nxt = base;
    // Deliver [base, base+off0) in order, then drain whatever is contiguous.
    for (uint32_t i = 0; have[i]; ++i) rcv_nxt = base + i + 1;
    nxt = SeqNum{base};
    while (PacketPtr p = q.pop_in_order(nxt)) {
      ASSERT_NO_FATAL_FAILURE(expect_bytes(*p, nxt.v - static_cast<uint32_t>(p->len())));
    }
    EXPECT_EQ(nxt, SeqNum{rcv_nxt});
    q.clear();
  }
  EXPECT_EQ(pool->outstanding(), 0u);
}

// PacketQueue is intrusive and the block table fixed: once the pool is warm, queueing and
// draining segments allocates nothing.
TEST_F(TcpOfo, NoAllocationAfterWarmUp) {
  std::vector<uint8_t> payload(1000, 0x42);
  auto round = [&](uint32_t base) {
    for (uint32_t i = 1; i <= 32; ++i) {
      uint32_t s = base + 1000u * (i % 2 ? i : 34 - i);  // 1, 32, 3, 30, ...: every hole shape
      EXPECT_EQ(q.insert(SeqNum{s}, pool->alloc_copy(payload, 64), SeqNum{base}),
                OfoInsert::kQueued);
    }
    SeqNum nxt{base + 1000};
    while (q.pop_in_order(nxt)) {
    }
    EXPECT_TRUE(q.empty());
  };
  round(0);
  const uint64_t news = g_news.load();
  for (uint32_t r = 1; r < 200; ++r) round(r * 100000u);
  EXPECT_EQ(g_news.load(), news) << "operator new on the OFO path";
}

}  // namespace
}  // namespace ustack::transport
