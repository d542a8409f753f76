// Reassembler: arrival orders, duplicates, every overlap shape, length conflicts, timeouts and
// the TimeoutFn, the memory limit, interleaved datagrams, 65535-byte datagrams, the ping of
// death, ip_fragment round trips, statistics and drop reasons, and no allocation when warm.
#include "ustack/ip/reassembly.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "frag_test_util.h"
#include "ustack/base/rng.h"
#include "ustack/ip/fragment.h"

#include "tools/count_new.h"  // g_news: counts global operator new

namespace ustack::ip {
namespace {

using namespace testing;

constexpr Instant kT0 = Instant::zero() + Duration::s(100);
constexpr size_t kFrame = 2048;  // capacity() of a frame-class block: what a fragment costs
constexpr size_t kQ = Reassembler::kQueueCost;

class Reasm : public ::testing::Test {
 protected:
  explicit Reasm(ReasmConfig cfg = {}) : reasm_(cfg, *pool_, tel_) {
    reasm_.set_timeout_handler([this](Instant now, const PacketBuffer& first) {
      timeouts_.push_back({now, std::vector<uint8_t>(first.data().begin(), first.data().end())});
    });
  }
  uint64_t drops(DropReason r) const { return tel_.drops().get(r); }
  // Fragments [off, off + len) of `payload` (datagram `h`) at time `t`.
  PacketPtr add(const Hdr& h, std::span<const uint8_t> payload, size_t off, size_t len, bool mf,
                Instant t = kT0, uint64_t trace = 0) {
    return reasm_.insert(t, fragment(*pool_, h, payload, off, len, mf, trace));
  }
  // Splits `datagram` with ip_fragment.
  std::vector<PacketPtr> split(std::span<const uint8_t> datagram, uint32_t mtu) {
    std::vector<PacketPtr> out;
    PacketPtr p = packet(*pool_, datagram);
    FragStats st;
    auto r = ip_fragment(
        *p, mtu, *pool_, 16, st, [&](PacketPtr f) { out.push_back(std::move(f)); }, true);
    EXPECT_TRUE(r.ok());
    return out;
  }
  static std::vector<uint8_t> bytes(const PacketPtr& p) {
    return std::vector<uint8_t>(p->data().begin(), p->data().end());
  }

  PoolHandle pool_ = BufferPool::create();
  Telemetry tel_;
  Reassembler reasm_;
  struct Timeout {
    Instant at;
    std::vector<uint8_t> first;
  };
  std::vector<Timeout> timeouts_;
};

TEST_F(Reasm, InOrderRebuildsTheDatagram) {
  const auto payload = pattern(4000);
  const auto orig = ipv4(Hdr{}, payload);
  auto frags = split(orig, 1500);
  ASSERT_EQ(frags.size(), 3u);
  frags[0]->ifindex = 4;
  frags[0]->mark = 6;
  frags[0]->trace_id = 11;
  frags[0]->protocol = 0x0800;
  frags[0]->pkt_type = PacketType::kBroadcast;
  frags[0]->timestamp = kT0 - Duration::ms(1);
  frags[1]->trace_id = 12;
  frags[2]->trace_id = 13;
  EXPECT_EQ(reasm_.insert(kT0, std::move(frags[0])), nullptr);
  EXPECT_EQ(reasm_.queues(), 1u);
  EXPECT_EQ(reasm_.insert(kT0, std::move(frags[1])), nullptr);
  EXPECT_EQ(reasm_.mem(), kQ + 2 * kFrame);
  PacketPtr whole = reasm_.insert(kT0, std::move(frags[2]));
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(bytes(whole), orig);
  EXPECT_GE(whole->headroom(), BufferPool::kDefaultHeadroom);
  EXPECT_EQ(whole->network_offset(), 0);
  EXPECT_EQ(whole->ifindex, 4);
  EXPECT_EQ(whole->mark, 6u);
  EXPECT_EQ(whole->trace_id, 11u);
  EXPECT_EQ(whole->protocol, 0x0800);
  EXPECT_EQ(whole->pkt_type, PacketType::kBroadcast);
  EXPECT_EQ(whole->timestamp, kT0 - Duration::ms(1));
  EXPECT_EQ(reasm_.queues(), 0u);
  EXPECT_EQ(reasm_.mem(), 0u);
  EXPECT_EQ(reasm_.next_deadline(), Instant::never());
  EXPECT_EQ(reasm_.stats().reasm_reqds, 3u);
  EXPECT_EQ(reasm_.stats().reasm_oks, 1u);
  EXPECT_EQ(reasm_.stats().reasm_fails, 0u);
  EXPECT_EQ(tel_.drops().total(), 0u);
}

TEST_F(Reasm, ReverseOrderTakesMetadataFromTheFirstFragment) {
  const auto orig = ipv4(Hdr{}, pattern(5000));
  auto frags = split(orig, 1000);
  ASSERT_EQ(frags.size(), 6u);
  for (size_t i = 0; i < frags.size(); ++i) frags[i]->trace_id = 100 + i;
  PacketPtr whole;
  for (size_t i = frags.size(); i-- > 0;) {
    whole = reasm_.insert(kT0, std::move(frags[i]));
    if (i > 0) {
      ASSERT_EQ(whole, nullptr);
    }
  }
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(bytes(whole), orig);
  EXPECT_EQ(whole->trace_id, 100u);
}

TEST_F(Reasm, RandomOrders) {
  Rng rng(2024);
  for (int round = 0; round < 200; ++round) {
    const size_t n = 1 + rng.below(9000);
    const uint32_t mtu = static_cast<uint32_t>(68 + rng.below(1500));
    const auto orig = ipv4(Hdr{.id = static_cast<uint16_t>(round)}, pattern(n, round));
    auto frags = split(orig, mtu);
    for (size_t i = frags.size(); i > 1; --i) std::swap(frags[i - 1], frags[rng.below(i)]);
    PacketPtr whole;
    for (size_t i = 0; i < frags.size(); ++i) {
      whole = reasm_.insert(kT0, std::move(frags[i]));
      if (i + 1 < frags.size()) {
        ASSERT_EQ(whole, nullptr);
      }
    }
    if (frags.size() == 1) {  // fitted: not a fragment, passed through unchanged
      ASSERT_NE(whole, nullptr);
      continue;
    }
    ASSERT_NE(whole, nullptr) << "round " << round;
    ASSERT_EQ(bytes(whole), orig) << "round " << round;
  }
  EXPECT_EQ(reasm_.queues(), 0u);
  EXPECT_EQ(reasm_.mem(), 0u);
  EXPECT_EQ(tel_.drops().total(), 0u);
}

TEST_F(Reasm, ExactDuplicatesAreDroppedAlone) {
  const auto payload = pattern(48);
  EXPECT_EQ(add(Hdr{}, payload, 0, 16, true, kT0, 1), nullptr);
  EXPECT_EQ(add(Hdr{}, payload, 0, 16, true, kT0, 2), nullptr);
  EXPECT_EQ(add(Hdr{}, payload, 32, 16, false), nullptr);
  EXPECT_EQ(add(Hdr{}, payload, 32, 16, false), nullptr);  // the last one again
  EXPECT_EQ(reasm_.stats().duplicates, 2u);
  EXPECT_EQ(drops(DropReason::kReasmDuplicate), 2u);
  EXPECT_EQ(reasm_.mem(), kQ + 2 * kFrame);
  PacketPtr whole = add(Hdr{}, payload, 16, 16, true);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(bytes(whole), ipv4(Hdr{}, payload));
  EXPECT_EQ(whole->trace_id, 1u);
  EXPECT_EQ(reasm_.stats().reasm_fails, 0u);
  EXPECT_EQ(reasm_.stats().reasm_overlaps, 0u);
}

struct OverlapCase {
  const char* name;
  size_t off, len;
  bool mf;
};

class ReasmOverlap : public Reasm, public ::testing::WithParamInterface<OverlapCase> {};

TEST_P(ReasmOverlap, DiscardsTheDatagramAndKeepsATombstone) {
  const auto payload = pattern(64);
  // Held: [16, 32) and [48, 64) (the last).
  ASSERT_EQ(add(Hdr{}, payload, 16, 16, true), nullptr);
  ASSERT_EQ(add(Hdr{}, payload, 48, 16, false), nullptr);
  const OverlapCase& c = GetParam();
  EXPECT_EQ(add(Hdr{}, payload, c.off, c.len, c.mf), nullptr);
  EXPECT_EQ(reasm_.stats().reasm_overlaps, 1u);
  EXPECT_EQ(reasm_.stats().reasm_fails, 1u);
  EXPECT_EQ(drops(DropReason::kReasmOverlap), 3u);  // both held + the new one
  EXPECT_EQ(reasm_.queues(), 1u);                   // the tombstone
  EXPECT_EQ(reasm_.mem(), kQ);
  // The rest of the datagram dies on the tombstone, even what would have completed it.
  EXPECT_EQ(add(Hdr{}, payload, 0, 16, true), nullptr);
  EXPECT_EQ(add(Hdr{}, payload, 32, 16, true), nullptr);
  EXPECT_EQ(drops(DropReason::kReasmOverlap), 5u);
  EXPECT_EQ(reasm_.stats().reasm_fails, 1u);
  EXPECT_EQ(reasm_.mem(), kQ);
  // A tombstone expires silently: no timeout counted, no ICMP.
  reasm_.on_timer(kT0 + Duration::s(30));
  EXPECT_EQ(reasm_.queues(), 0u);
  EXPECT_EQ(reasm_.mem(), 0u);
  EXPECT_EQ(reasm_.stats().reasm_timeout, 0u);
  EXPECT_TRUE(timeouts_.empty());
  // Afterwards the same key starts afresh.
  const Instant t = kT0 + Duration::s(31);
  ASSERT_EQ(add(Hdr{}, payload, 0, 32, true, t), nullptr);
  ASSERT_NE(add(Hdr{}, payload, 32, 32, false, t), nullptr);
  EXPECT_EQ(reasm_.stats().reasm_oks, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ReasmOverlap,
    ::testing::Values(OverlapCase{"PartialFront", 8, 16, true},      // [8, 24) into [16, 32)
                      OverlapCase{"PartialBack", 24, 16, true},      // [24, 40) over [16, 32)'s end
                      OverlapCase{"SameStartShorter", 16, 8, true},  // [16, 24) inside
                      OverlapCase{"SameStartLonger", 16, 24, true},  // [16, 40) contains
                      OverlapCase{"Contained", 48, 8, true},         // [48, 56) inside the last
                      OverlapCase{"Containing", 8, 32, true},        // [8, 40) contains [16, 32)
                      OverlapCase{"SameEndLater", 24, 8, true},      // [24, 32) inside, same end
                      OverlapCase{"Spanning", 0, 56, true}),         // [0, 56) over both
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(Reasm, LengthConflictsDiscardTheDatagram) {
  const auto payload = pattern(64);
  // A fragment past the known end.
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 16, 16, false), nullptr);  // last: end 32
  EXPECT_EQ(add(Hdr{.id = 1}, payload, 32, 16, true), nullptr);   // [32, 48): past the end
  EXPECT_EQ(reasm_.stats().reasm_fails, 1u);
  EXPECT_EQ(drops(DropReason::kBadLength), 2u);
  EXPECT_EQ(add(Hdr{.id = 1}, payload, 0, 16, true), nullptr);  // tombstone: same reason
  EXPECT_EQ(drops(DropReason::kBadLength), 3u);
  // A second, different end.
  ASSERT_EQ(add(Hdr{.id = 2}, payload, 16, 16, false), nullptr);
  EXPECT_EQ(add(Hdr{.id = 2}, payload, 32, 16, false), nullptr);
  EXPECT_EQ(reasm_.stats().reasm_fails, 2u);
  // A last fragment ending before data already held.
  ASSERT_EQ(add(Hdr{.id = 3}, payload, 32, 16, true), nullptr);
  EXPECT_EQ(add(Hdr{.id = 3}, payload, 8, 8, false), nullptr);
  EXPECT_EQ(reasm_.stats().reasm_fails, 3u);
  // An empty fragment (Linux: end == offset discards the queue).
  ASSERT_EQ(add(Hdr{.id = 4}, payload, 0, 16, true), nullptr);
  EXPECT_EQ(add(Hdr{.id = 4}, payload, 16, 0, true), nullptr);
  EXPECT_EQ(reasm_.stats().reasm_fails, 4u);
  EXPECT_EQ(reasm_.stats().reasm_overlaps, 0u);
  EXPECT_EQ(reasm_.mem(), 4 * kQ);  // four tombstones
  EXPECT_EQ(drops(DropReason::kBadLength), 3u + 3 * 2u);
}

TEST_F(Reasm, MfFragmentNotAMultipleOfEightIsDroppedAlone) {
  const auto payload = pattern(64);
  ASSERT_EQ(add(Hdr{}, payload, 0, 16, true), nullptr);
  EXPECT_EQ(add(Hdr{}, payload, 16, 12, true), nullptr);
  EXPECT_EQ(drops(DropReason::kBadHeader), 1u);
  EXPECT_EQ(reasm_.stats().reasm_fails, 0u);
  EXPECT_NE(add(Hdr{}, payload, 16, 48, false), nullptr);  // the datagram still completes
}

TEST_F(Reasm, NotAFragmentPassesThroughAndGarbageIsDropped) {
  const auto d = ipv4(Hdr{}, pattern(100));
  PacketPtr p = reasm_.insert(kT0, packet(*pool_, d));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(bytes(p), d);
  EXPECT_EQ(reasm_.queues(), 0u);
  std::vector<uint8_t> junk(10, 0x45);
  EXPECT_EQ(reasm_.insert(kT0, packet(*pool_, junk)), nullptr);
  EXPECT_EQ(drops(DropReason::kTruncated), 1u);
  EXPECT_EQ(reasm_.stats().reasm_reqds, 2u);
}

TEST_F(Reasm, LinkPaddingIsTrimmed) {
  const auto payload = pattern(24);
  auto first = ipv4(Hdr{.mf = true}, std::span(payload).first(16));
  first.resize(first.size() + 10, 0xee);  // padding after the total length
  ASSERT_EQ(reasm_.insert(kT0, packet(*pool_, first)), nullptr);
  PacketPtr whole = add(Hdr{}, payload, 16, 8, false);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(bytes(whole), ipv4(Hdr{}, payload));
}

TEST_F(Reasm, TimeoutCallsTheHandlerWithTheFirstFragment) {
  const auto payload = pattern(48);
  EXPECT_EQ(reasm_.next_deadline(), Instant::never());
  ASSERT_EQ(add(Hdr{}, payload, 32, 16, false, kT0), nullptr);
  ASSERT_EQ(add(Hdr{}, payload, 0, 16, true, kT0 + Duration::s(5)), nullptr);
  // The deadline runs from the first fragment, not the latest.
  EXPECT_EQ(reasm_.next_deadline(), kT0 + Duration::s(30));
  reasm_.on_timer(kT0 + Duration::s(30) - Duration::ns(1));
  EXPECT_EQ(reasm_.queues(), 1u);
  EXPECT_TRUE(timeouts_.empty());
  reasm_.on_timer(kT0 + Duration::s(30));
  EXPECT_EQ(reasm_.queues(), 0u);
  EXPECT_EQ(reasm_.mem(), 0u);
  ASSERT_EQ(timeouts_.size(), 1u);
  EXPECT_EQ(timeouts_[0].at, kT0 + Duration::s(30));
  const auto want_first = ipv4(Hdr{.mf = true}, std::span(payload).first(16));
  EXPECT_EQ(timeouts_[0].first, want_first);
  EXPECT_EQ(reasm_.stats().reasm_timeout, 1u);
  EXPECT_EQ(reasm_.stats().reasm_fails, 1u);
  EXPECT_EQ(drops(DropReason::kReasmTimeout), 2u);
  EXPECT_EQ(reasm_.next_deadline(), Instant::never());
}

TEST_F(Reasm, TimeoutWithoutTheFirstFragmentSendsNothing) {
  const auto payload = pattern(48);
  ASSERT_EQ(add(Hdr{}, payload, 16, 16, true), nullptr);
  reasm_.on_timer(kT0 + Duration::s(31));
  EXPECT_TRUE(timeouts_.empty());
  EXPECT_EQ(reasm_.stats().reasm_timeout, 1u);
  EXPECT_EQ(drops(DropReason::kReasmTimeout), 1u);
}

TEST_F(Reasm, DeadlineIsTheOldestQueuesAndQueuesExpireInOrder) {
  const auto payload = pattern(48);
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 0, 16, true, kT0), nullptr);
  ASSERT_EQ(add(Hdr{.id = 2}, payload, 0, 16, true, kT0 + Duration::s(10)), nullptr);
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 16, 16, true, kT0 + Duration::s(20)), nullptr);
  EXPECT_EQ(reasm_.next_deadline(), kT0 + Duration::s(30));
  reasm_.on_timer(kT0 + Duration::s(30));
  ASSERT_EQ(timeouts_.size(), 1u);
  EXPECT_EQ(load_be16(&timeouts_[0].first[4]), 1);
  EXPECT_EQ(reasm_.next_deadline(), kT0 + Duration::s(40));
  reasm_.on_timer(kT0 + Duration::s(40));
  ASSERT_EQ(timeouts_.size(), 2u);
  EXPECT_EQ(load_be16(&timeouts_[1].first[4]), 2);
  EXPECT_EQ(reasm_.stats().reasm_timeout, 2u);
}

TEST_F(Reasm, InsertAfterTheDeadlineExpiresFirst) {
  // The runner has not called on_timer yet: the fragment must not join a dead datagram.
  const auto payload = pattern(32);
  ASSERT_EQ(add(Hdr{}, payload, 0, 16, true, kT0), nullptr);
  EXPECT_EQ(add(Hdr{}, payload, 16, 16, false, kT0 + Duration::s(30)), nullptr);
  EXPECT_EQ(timeouts_.size(), 1u);
  EXPECT_EQ(reasm_.stats().reasm_timeout, 1u);
  EXPECT_EQ(reasm_.queues(), 1u);  // the late fragment started a new queue
  EXPECT_EQ(reasm_.next_deadline(), kT0 + Duration::s(60));
}

TEST_F(Reasm, LateDuplicateAfterCompletionStartsANewQueue) {
  // As Linux: a completed queue is gone at once; a straggler waits alone and times out.
  const auto payload = pattern(32);
  ASSERT_EQ(add(Hdr{}, payload, 0, 16, true), nullptr);
  ASSERT_NE(add(Hdr{}, payload, 16, 16, false), nullptr);
  ASSERT_EQ(add(Hdr{}, payload, 0, 16, true), nullptr);
  EXPECT_EQ(reasm_.queues(), 1u);
  reasm_.on_timer(kT0 + Duration::s(30));
  EXPECT_EQ(timeouts_.size(), 1u);
  EXPECT_EQ(reasm_.stats().reasm_timeout, 1u);
}

TEST_F(Reasm, TimeoutHandlerMayReenterInsert) {
  const auto payload = pattern(32);
  reasm_.set_timeout_handler([&](Instant now, const PacketBuffer&) {
    EXPECT_EQ(add(Hdr{.id = 9}, payload, 0, 16, true, now), nullptr);
  });
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 0, 16, true), nullptr);
  ASSERT_EQ(add(Hdr{.id = 2}, payload, 0, 16, true), nullptr);
  reasm_.on_timer(kT0 + Duration::s(30));
  EXPECT_EQ(reasm_.queues(), 1u);  // two id-9 inserts: one queue, one duplicate
  EXPECT_EQ(reasm_.stats().duplicates, 1u);
  EXPECT_EQ(reasm_.next_deadline(), kT0 + Duration::s(60));
}

class ReasmSmallMemory : public Reasm {
 protected:
  ReasmSmallMemory() : Reasm(ReasmConfig{.high_thresh = 4 * kFrame + 2 * kQ}) {}
};

TEST_F(ReasmSmallMemory, EvictsTheOldestQueues) {
  const auto payload = pattern(64);
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 0, 16, true), nullptr);
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 16, 16, true), nullptr);
  const Instant t1 = kT0 + Duration::s(1);
  ASSERT_EQ(add(Hdr{.id = 2}, payload, 0, 16, true, t1), nullptr);
  ASSERT_EQ(add(Hdr{.id = 2}, payload, 16, 16, true, t1), nullptr);
  EXPECT_EQ(reasm_.mem(), reasm_.config().high_thresh);
  // A third datagram evicts the oldest (id 1).
  ASSERT_EQ(add(Hdr{.id = 3}, payload, 0, 16, true, t1), nullptr);
  EXPECT_EQ(reasm_.queues(), 2u);
  EXPECT_EQ(drops(DropReason::kReasmMemory), 2u);
  EXPECT_EQ(reasm_.stats().reasm_fails, 1u);
  EXPECT_LE(reasm_.mem(), reasm_.config().high_thresh);
  EXPECT_EQ(reasm_.next_deadline(), kT0 + Duration::s(31));  // id 2 is the oldest now
  // id 2 still completes; id 1's rest starts a new queue.
  EXPECT_NE(add(Hdr{.id = 2}, payload, 32, 32, false, t1), nullptr);
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 32, 32, false, t1), nullptr);
  EXPECT_EQ(reasm_.queues(), 2u);
  EXPECT_EQ(reasm_.stats().reasm_oks, 1u);
  EXPECT_TRUE(timeouts_.empty());  // eviction sends no ICMP
}

TEST_F(ReasmSmallMemory, FragmentThatCannotFitIsDroppedAlone) {
  const auto payload = pattern(64);
  for (size_t off = 0; off < 32; off += 8) {
    ASSERT_EQ(add(Hdr{}, payload, off, 8, true), nullptr);
  }
  EXPECT_EQ(reasm_.mem(), kQ + 4 * kFrame);
  // The queue cannot evict itself: the fifth fragment is dropped, the datagram kept.
  EXPECT_EQ(add(Hdr{}, payload, 32, 8, true), nullptr);
  EXPECT_EQ(drops(DropReason::kReasmMemory), 1u);
  EXPECT_EQ(reasm_.stats().reasm_fails, 0u);
  EXPECT_EQ(reasm_.queues(), 1u);
  // A fragment bigger than the whole budget never evicts anything.
  std::vector<uint8_t> big_payload = pattern(70000);
  PacketPtr big = pool_->alloc(0, 4 * kFrame + 2 * kQ);
  (void)big->append(ipv4(Hdr{.id = 7, .mf = true}, std::span(big_payload).first(1000)));
  ASSERT_GT(big->capacity(), reasm_.config().high_thresh);
  EXPECT_EQ(reasm_.insert(kT0, std::move(big)), nullptr);
  EXPECT_EQ(drops(DropReason::kReasmMemory), 2u);
  EXPECT_EQ(reasm_.queues(), 1u);
  EXPECT_EQ(reasm_.mem(), kQ + 4 * kFrame);
}

TEST_F(Reasm, TwoInterleavedDatagrams) {
  const auto a = ipv4(Hdr{.id = 7}, pattern(3000, 1));
  const auto b = ipv4(Hdr{.id = 7, .proto = 6}, pattern(2500, 2));  // same id, other protocol
  const auto c = ipv4(Hdr{.id = 7, .src = 0x0a000001}, pattern(2000, 3));  // other source
  auto fa = split(a, 1000), fb = split(b, 1000), fc = split(c, 1000);
  std::vector<std::vector<uint8_t>> done;
  for (size_t i = 0; i < 4; ++i) {
    for (auto* fs : {&fa, &fb, &fc}) {
      if (i >= fs->size()) continue;
      if (PacketPtr p = reasm_.insert(kT0, std::move((*fs)[fs->size() - 1 - i]))) {
        done.push_back(bytes(p));
      }
    }
  }
  // Last fragments first: b (3 fragments) and c (3) complete in round 2, a (4) in round 3.
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0], b);
  EXPECT_EQ(done[1], c);
  EXPECT_EQ(done[2], a);
}

TEST_F(Reasm, LargestDatagram) {
  const auto orig = ipv4(Hdr{}, pattern(65535 - 20));
  auto frags = split(orig, 1500);
  PacketPtr whole;
  for (auto& f : frags) whole = reasm_.insert(kT0, std::move(f));
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->len(), 65535u);
  EXPECT_EQ(bytes(whole), orig);
  EXPECT_TRUE(checksum_ok(whole->data()));
}

TEST_F(Reasm, OptionsPushingPast65535FailAtCompletion) {
  // The first fragment has a 60-byte header: 60 + 65515 payload bytes > 65535. Each fragment
  // is fine on its own, and 20 + end fits, so only reassembly can tell.
  std::vector<uint8_t> opts(40, 1);  // 40 NOPs
  const auto payload = pattern(65535 - 20);
  EXPECT_EQ(add(Hdr{.options = opts}, payload, 0, 8, true), nullptr);
  EXPECT_EQ(add(Hdr{}, payload, 8, payload.size() - 8, false), nullptr);
  EXPECT_EQ(reasm_.stats().reasm_fails, 1u);
  EXPECT_EQ(drops(DropReason::kBadLength), 2u);
  EXPECT_EQ(reasm_.stats().reasm_oks, 0u);
}

TEST_F(Reasm, PingOfDeath) {
  // Fragments adding up to more than 65535 bytes: the last one reaches past the limit.
  std::vector<uint8_t> payload = pattern(65528 + 100);
  for (size_t off = 0; off < 65528; off += 1480) {
    const size_t n = std::min<size_t>(1480, 65528 - off);
    ASSERT_EQ(add(Hdr{}, payload, off, n, true), nullptr);
  }
  EXPECT_EQ(add(Hdr{}, payload, 65528, 100, false), nullptr);
  EXPECT_EQ(reasm_.stats().reasm_fails, 1u);
  EXPECT_EQ(reasm_.stats().reasm_oks, 0u);
  EXPECT_EQ(drops(DropReason::kBadLength), 45u + 1u);  // 45 held + the offender
  EXPECT_EQ(reasm_.mem(), kQ);
  // The offender alone, first: a tombstone from the start.
  EXPECT_EQ(add(Hdr{.id = 2}, payload, 65528, 100, false), nullptr);
  EXPECT_EQ(add(Hdr{.id = 2}, payload, 0, 1480, true), nullptr);
  EXPECT_EQ(reasm_.stats().reasm_fails, 2u);
  EXPECT_EQ(drops(DropReason::kBadLength), 48u);
}

TEST_F(Reasm, PoolExhaustedAtCompletion) {
  PoolHandle small = BufferPool::create(PoolConfig{.max_bytes = 2 * kFrame});
  Reassembler r(ReasmConfig{}, *small, tel_);
  const auto payload = pattern(32);
  ASSERT_EQ(r.insert(kT0, fragment(*small, Hdr{}, payload, 0, 16, true)), nullptr);
  EXPECT_EQ(r.insert(kT0, fragment(*small, Hdr{}, payload, 16, 16, false)), nullptr);
  EXPECT_EQ(r.stats().reasm_fails, 1u);
  EXPECT_EQ(drops(DropReason::kNoBuffer), 2u);
  EXPECT_EQ(r.mem(), kQ);
}

TEST_F(Reasm, RoundTripThroughIpFragment) {
  Rng rng(5);
  const uint32_t mtus[] = {68, 69, 75, 100, 296, 576, 1006, 1280, 1500};
  std::vector<uint8_t> opts = {130, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1,  // security (copied), NOP
                               7,   7,  4, 0, 0, 0, 0, 0};             // record route, EOL
  uint16_t id = 0;
  for (uint32_t mtu : mtus) {
    for (size_t n : {1u, 7u, 8u, 9u, 47u, 48u, 1000u, 1473u, 1481u, 4096u, 9000u}) {
      for (bool with_opts : {false, true}) {
        Hdr h{.id = ++id, .df = n % 2 == 1};
        if (with_opts) h.options = opts;
        const auto orig = ipv4(h, pattern(n, id));
        auto frags = split(orig, mtu);
        // Re-fragment every fragment on a smaller link half of the time.
        if (rng.chance(0.5)) {
          std::vector<PacketPtr> again;
          for (auto& f : frags) {
            auto more = split(f->data(), 68);
            for (auto& m : more) again.push_back(std::move(m));
          }
          frags = std::move(again);
        }
        for (size_t i = frags.size(); i > 1; --i) std::swap(frags[i - 1], frags[rng.below(i)]);
        PacketPtr whole;
        for (auto& f : frags) {
          ASSERT_EQ(whole, nullptr);
          whole = reasm_.insert(kT0, std::move(f));
        }
        ASSERT_NE(whole, nullptr) << "mtu " << mtu << " n " << n;
        ASSERT_EQ(bytes(whole), orig) << "mtu " << mtu << " n " << n;
      }
    }
  }
  EXPECT_EQ(reasm_.queues(), 0u);
  EXPECT_EQ(tel_.drops().total(), 0u);
}

TEST_F(Reasm, StatsAddUp) {
  const auto payload = pattern(48);
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 0, 16, true), nullptr);    // reqd
  ASSERT_EQ(add(Hdr{.id = 1}, payload, 0, 16, true), nullptr);    // reqd, duplicate
  ASSERT_NE(add(Hdr{.id = 1}, payload, 16, 32, false), nullptr);  // reqd, ok
  ASSERT_EQ(add(Hdr{.id = 2}, payload, 0, 16, true), nullptr);    // reqd
  ASSERT_EQ(add(Hdr{.id = 2}, payload, 8, 16, true), nullptr);    // reqd, overlap, fail
  ASSERT_EQ(add(Hdr{.id = 3}, payload, 16, 16, true), nullptr);   // reqd
  reasm_.on_timer(kT0 + Duration::s(30));                         // timeout, fail
  const ReasmStats& s = reasm_.stats();
  EXPECT_EQ(s.reasm_reqds, 6u);
  EXPECT_EQ(s.reasm_oks, 1u);
  EXPECT_EQ(s.duplicates, 1u);
  EXPECT_EQ(s.reasm_overlaps, 1u);
  EXPECT_EQ(s.reasm_timeout, 1u);
  EXPECT_EQ(s.reasm_fails, 2u);
  EXPECT_EQ(tel_.drops().total(), 1u + 2u + 1u);
  EXPECT_EQ(reasm_.queues(), 0u);
}

TEST_F(Reasm, TracesDropsWithTheFragmentsId) {
  TraceLog log;
  tel_.set_sink(&log);
  const auto payload = pattern(48);
  ASSERT_EQ(add(Hdr{}, payload, 0, 16, true, kT0, 41), nullptr);
  ASSERT_EQ(add(Hdr{}, payload, 8, 16, true, kT0, 42), nullptr);
  auto j = log.journey(41);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0].action, "defrag_queue");
  EXPECT_EQ(j[1].action, "drop");
  EXPECT_EQ(j[1].reason, DropReason::kReasmOverlap);
  ASSERT_EQ(log.journey(42).size(), 1u);
  EXPECT_EQ(log.journey(42)[0].reason, DropReason::kReasmOverlap);
}

TEST_F(Reasm, WarmPathDoesNotAllocate) {
  const auto payload = pattern(3000);
  // Bytes built up front: only the pool (warm) and the reassembler may run while counting.
  std::vector<std::vector<uint8_t>> wire[8];
  for (uint16_t id = 0; id < 8; ++id) {
    Hdr h{.id = id};
    h.mf = true;
    h.offset = 1000;
    wire[id].push_back(ipv4(h, std::span(payload).subspan(1000, 1000)));
    h.offset = 0;
    wire[id].push_back(ipv4(h, std::span(payload).first(1000)));
    h.mf = false;
    h.offset = 2000;
    wire[id].push_back(ipv4(h, std::span(payload).subspan(2000)));
  }
  auto run = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      for (auto& w : wire) {
        ASSERT_EQ(reasm_.insert(kT0, packet(*pool_, w[0])), nullptr);
        ASSERT_EQ(reasm_.insert(kT0, packet(*pool_, w[1])), nullptr);
      }
      for (auto& w : wire) ASSERT_NE(reasm_.insert(kT0, packet(*pool_, w[2])), nullptr);
    }
  };
  run(10);  // warm up: pool slabs, queue objects, hash buckets
  const uint64_t before = g_news.load();
  run(1000);
  EXPECT_EQ(g_news.load(), before);
  EXPECT_EQ(reasm_.stats().reasm_oks, 8u * 1010u);
}

}  // namespace
}  // namespace ustack::ip
