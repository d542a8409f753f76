// ip_fragment: sizes and offsets per MTU, header rewriting (length, flags, offset, checksum,
// copied options), DF, tiny MTUs, re-fragmenting a fragment, memory exhaustion, statistics.
#include "ustack/ip/fragment.h"

#include <gtest/gtest.h>

#include "frag_test_util.h"

namespace ustack::ip {
namespace {

using namespace testing;

struct Emitted {
  std::vector<PacketPtr> frags;
  std::function<void(PacketPtr)> fn() {
    return [this](PacketPtr p) { frags.push_back(std::move(p)); };
  }
  std::span<const uint8_t> bytes(size_t i) const { return frags[i]->data(); }
};

class Fragment : public ::testing::Test {
 protected:
  PoolHandle pool_ = BufferPool::create();
  FragStats st_;
  Emitted out_;
};

TEST_F(Fragment, SplitsIntoMtuSizedPiecesOnEightByteBoundaries) {
  const auto payload = pattern(4000);
  PacketPtr p = packet(*pool_, ipv4(Hdr{}, payload), 77);
  p->ifindex = 3;
  p->mark = 9;
  p->protocol = 0x0800;
  ASSERT_TRUE(ip_fragment(*p, 1500, *pool_, 40, st_, out_.fn()).ok());
  ASSERT_EQ(out_.frags.size(), 3u);
  const size_t sizes[] = {1480, 1480, 1040};
  size_t off = 0;
  for (size_t i = 0; i < 3; ++i) {
    auto b = out_.bytes(i);
    EXPECT_EQ(b.size(), 20 + sizes[i]);
    EXPECT_EQ(total_len(b), b.size());
    EXPECT_EQ(frag_off(b), off);
    EXPECT_EQ(mf(b), i < 2);
    EXPECT_FALSE(df(b));
    EXPECT_TRUE(checksum_ok(b));
    EXPECT_EQ(load_be16(&b[4]), 0x1234);  // same id, protocol, addresses, TTL
    EXPECT_EQ(b[9], 17);
    EXPECT_EQ(b[8], 64);
    EXPECT_EQ(load_be32(&b[12]), kSrc);
    EXPECT_EQ(load_be32(&b[16]), kDst);
    EXPECT_TRUE(std::equal(b.begin() + 20, b.end(), payload.begin() + off));
    EXPECT_GE(out_.frags[i]->headroom(), 40u);
    EXPECT_EQ(out_.frags[i]->network_offset(), 0);
    EXPECT_EQ(out_.frags[i]->ifindex, 3);
    EXPECT_EQ(out_.frags[i]->mark, 9u);
    EXPECT_EQ(out_.frags[i]->protocol, 0x0800);
    EXPECT_EQ(out_.frags[i]->trace_id, 77u);
    off += sizes[i];
  }
  EXPECT_EQ(st_.frag_oks, 1u);
  EXPECT_EQ(st_.frag_creates, 3u);
  EXPECT_EQ(st_.frag_fails, 0u);
}

TEST_F(Fragment, PayloadPerFragmentRoundsDownToEightBytes) {
  const auto payload = pattern(1000);
  PacketPtr p = packet(*pool_, ipv4(Hdr{}, payload));
  ASSERT_TRUE(ip_fragment(*p, 300, *pool_, 0, st_, out_.fn()).ok());
  // (300 - 20) / 8 * 8 = 280: 280, 280, 280, 160.
  ASSERT_EQ(out_.frags.size(), 4u);
  EXPECT_EQ(out_.bytes(0).size(), 300u);
  EXPECT_EQ(out_.bytes(3).size(), 180u);
  EXPECT_EQ(frag_off(out_.bytes(3)), 840u);
  PacketPtr p2 = packet(*pool_, ipv4(Hdr{}, pattern(1001)));
  out_.frags.clear();
  ASSERT_TRUE(ip_fragment(*p2, 307, *pool_, 0, st_, out_.fn()).ok());
  EXPECT_EQ(out_.bytes(0).size(), 20u + 280u);  // 287 rounds down to 280
  EXPECT_EQ(st_.frag_creates, 8u);
  EXPECT_EQ(st_.frag_oks, 2u);
}

TEST_F(Fragment, DatagramThatFitsIsOneCopyAndCountsNothing) {
  const auto bytes = ipv4(Hdr{.df = true}, pattern(100));
  PacketPtr p = packet(*pool_, bytes, 5);
  ASSERT_TRUE(ip_fragment(*p, 120, *pool_, 32, st_, out_.fn()).ok());
  ASSERT_EQ(out_.frags.size(), 1u);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), out_.bytes(0).begin(), out_.bytes(0).end()));
  EXPECT_NE(out_.frags[0].get(), p.get());
  EXPECT_GE(out_.frags[0]->headroom(), 32u);
  EXPECT_EQ(out_.frags[0]->trace_id, 5u);
  EXPECT_EQ(st_.frag_oks + st_.frag_creates + st_.frag_fails, 0u);
}

TEST_F(Fragment, DontFragmentFailsUnlessIgnored) {
  PacketPtr p = packet(*pool_, ipv4(Hdr{.df = true, .reserved = true}, pattern(2000)));
  auto r = ip_fragment(*p, 1500, *pool_, 0, st_, out_.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), FragError::kDontFragment);
  EXPECT_TRUE(out_.frags.empty());
  EXPECT_EQ(st_.frag_fails, 1u);
  EXPECT_EQ(st_.frag_oks, 0u);

  ASSERT_TRUE(ip_fragment(*p, 1500, *pool_, 0, st_, out_.fn(), /*ignore_df=*/true).ok());
  ASSERT_EQ(out_.frags.size(), 2u);
  for (auto& f : out_.frags) {
    EXPECT_TRUE(df(f->data()));         // DF is kept (ip_frag_next)
    EXPECT_EQ(f->data()[6] & 0x80, 0);  // the reserved bit is not
    EXPECT_TRUE(checksum_ok(f->data()));
  }
  EXPECT_EQ(st_.frag_oks, 1u);
}

TEST_F(Fragment, MtuMustHoldHeaderAndEightBytes) {
  PacketPtr p = packet(*pool_, ipv4(Hdr{}, pattern(64)));
  auto r = ip_fragment(*p, 27, *pool_, 0, st_, out_.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), FragError::kMtuTooSmall);
  EXPECT_EQ(st_.frag_fails, 1u);
  ASSERT_TRUE(ip_fragment(*p, 28, *pool_, 0, st_, out_.fn()).ok());
  EXPECT_EQ(out_.frags.size(), 8u);  // 8 bytes each
  for (auto& f : out_.frags) EXPECT_EQ(f->len(), 28u);
}

TEST_F(Fragment, Mtu68WithAFullOptionHeader) {
  // 40 bytes of options: record route (7, not copied) fills them all.
  std::vector<uint8_t> opts(40, 0);
  opts[0] = 7;
  opts[1] = 39;
  opts[2] = 4;
  PacketPtr p = packet(*pool_, ipv4(Hdr{.options = opts}, pattern(200)));
  auto r = ip_fragment(*p, 67, *pool_, 0, st_, out_.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), FragError::kMtuTooSmall);
  ASSERT_TRUE(ip_fragment(*p, 68, *pool_, 0, st_, out_.fn()).ok());
  // First: 60-byte header + 8. Later: 20-byte header (nothing copied) + 48.
  EXPECT_EQ(out_.bytes(0).size(), 68u);
  EXPECT_EQ(hlen(out_.bytes(0)), 60u);
  EXPECT_EQ(hlen(out_.bytes(1)), 20u);
  EXPECT_EQ(out_.bytes(1).size(), 68u);
  EXPECT_EQ(frag_off(out_.bytes(1)), 8u);
  size_t total = 0;
  for (auto& f : out_.frags) {
    EXPECT_LE(f->len(), 68u);
    total += f->len() - hlen(f->data());
  }
  EXPECT_EQ(total, 200u);
}

TEST_F(Fragment, LaterFragmentsKeepOnlyCopiedOptions) {
  // NOP, security (130: copied, 11 bytes), record route (7: not copied, 7 bytes), loose source
  // route (131: copied, 7 bytes), EOL, padding: 1 + 11 + 7 + 7 + 1 + 1 = 28 bytes.
  std::vector<uint8_t> opts = {1,                                    // NOP
                               130, 11, 1, 2,  3, 4, 5, 6, 7, 8, 9,  // security
                               7,   7,  4, 0,  0, 0, 0,              // record route
                               131, 7,  4, 10, 0, 0, 1,              // LSRR
                               0,   0};                              // EOL + pad
  ASSERT_EQ(opts.size(), 28u);
  const auto payload = pattern(600);
  PacketPtr p = packet(*pool_, ipv4(Hdr{.options = opts}, payload));
  ASSERT_TRUE(ip_fragment(*p, 256, *pool_, 0, st_, out_.fn()).ok());
  auto first = out_.bytes(0);
  ASSERT_EQ(hlen(first), 48u);
  EXPECT_TRUE(std::equal(opts.begin(), opts.end(), first.begin() + 20));
  EXPECT_EQ(first.size(), 48u + 208u);                                       // (256 - 48) / 8 * 8
  const std::vector<uint8_t> copied = {130, 11, 1, 2,  3, 4, 5, 6, 7, 8, 9,  //
                                       131, 7,  4, 10, 0, 0, 1,              //
                                       0,   0};  // EOL-padded to 20 bytes
  size_t off = 208;
  for (size_t i = 1; i < out_.frags.size(); ++i) {
    auto b = out_.bytes(i);
    ASSERT_EQ(hlen(b), 40u);
    EXPECT_TRUE(std::equal(copied.begin(), copied.end(), b.begin() + 20));
    EXPECT_TRUE(checksum_ok(b));
    EXPECT_EQ(frag_off(b), off);
    EXPECT_TRUE(std::equal(b.begin() + 40, b.end(), payload.begin() + off));
    off += b.size() - 40;
    if (i + 1 < out_.frags.size()) {
      EXPECT_EQ(b.size(), 40u + 216u);
    }
  }
  EXPECT_EQ(off, 600u);
}

TEST_F(Fragment, RefragmentingAFragmentKeepsItsOffsetAndMf) {
  // A middle fragment (offset 800, MF) re-fragmented on a smaller link: every piece keeps MF.
  const auto payload = pattern(1200);
  PacketPtr mid = packet(*pool_, ipv4(Hdr{.mf = true, .offset = 800}, payload));
  ASSERT_TRUE(ip_fragment(*mid, 576, *pool_, 0, st_, out_.fn()).ok());
  ASSERT_EQ(out_.frags.size(), 3u);
  EXPECT_EQ(frag_off(out_.bytes(0)), 800u);
  EXPECT_EQ(frag_off(out_.bytes(1)), 800u + 552u);
  EXPECT_EQ(frag_off(out_.bytes(2)), 800u + 1104u);
  for (auto& f : out_.frags) EXPECT_TRUE(mf(f->data()));
  // The last fragment (offset 800, no MF): only its last piece has MF clear.
  out_.frags.clear();
  PacketPtr last = packet(*pool_, ipv4(Hdr{.offset = 800}, payload));
  ASSERT_TRUE(ip_fragment(*last, 576, *pool_, 0, st_, out_.fn()).ok());
  ASSERT_EQ(out_.frags.size(), 3u);
  EXPECT_TRUE(mf(out_.bytes(0)));
  EXPECT_TRUE(mf(out_.bytes(1)));
  EXPECT_FALSE(mf(out_.bytes(2)));
}

TEST_F(Fragment, PoolExhaustionKeepsWhatWasEmittedAndFails) {
  // Room for two frame blocks only; the original lives in another pool.
  PoolHandle small = BufferPool::create(PoolConfig{.max_bytes = 2 * 2048});
  PacketPtr p = packet(*pool_, ipv4(Hdr{}, pattern(4000)));
  auto r = ip_fragment(*p, 1500, *small, 0, st_, out_.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), FragError::kNoMemory);
  EXPECT_EQ(out_.frags.size(), 2u);
  EXPECT_EQ(st_.frag_creates, 2u);
  EXPECT_EQ(st_.frag_fails, 1u);
  EXPECT_EQ(st_.frag_oks, 0u);
  // Same for a datagram that fits but cannot be copied.
  PacketPtr tiny = packet(*pool_, ipv4(Hdr{}, pattern(10)));
  r = ip_fragment(*tiny, 1500, *small, 0, st_, out_.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), FragError::kNoMemory);
  EXPECT_EQ(st_.frag_fails, 2u);
}

TEST_F(Fragment, MalformedInputIsRejectedUncounted) {
  auto bytes = ipv4(Hdr{}, pattern(2000));
  bytes.push_back(0);  // len() != total length
  PacketPtr p = packet(*pool_, bytes);
  auto r = ip_fragment(*p, 1500, *pool_, 0, st_, out_.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), FragError::kMalformed);
  std::vector<uint8_t> junk(100, 0x11);
  PacketPtr q = packet(*pool_, junk);
  EXPECT_EQ(ip_fragment(*q, 60, *pool_, 0, st_, out_.fn()).error(), FragError::kMalformed);
  // A fragment reaching past 65535 (ping of death) cannot be re-fragmented.
  PacketPtr pod = packet(*pool_, ipv4(Hdr{.offset = 65528}, pattern(100)));
  EXPECT_EQ(ip_fragment(*pod, 68, *pool_, 0, st_, out_.fn()).error(), FragError::kMalformed);
  EXPECT_TRUE(out_.frags.empty());
  EXPECT_EQ(st_.frag_fails + st_.frag_oks + st_.frag_creates, 0u);
}

}  // namespace
}  // namespace ustack::ip
