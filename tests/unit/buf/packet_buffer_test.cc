// PacketBuffer: geometry, header offsets, misuse errors, clone/copy/copy-on-write.
#include "ustack/buf/packet_buffer.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "ustack/buf/pool.h"

namespace ustack {
namespace {

std::vector<uint8_t> bytes(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

class PacketBufferTest : public ::testing::Test {
 protected:
  PoolHandle pool_ = BufferPool::create();
};

TEST_F(PacketBufferTest, TxPathPushesHeadersIntoHeadroomWithoutCopies) {
  PacketPtr p = pool_->alloc(64, 100);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->headroom(), 64u);
  EXPECT_EQ(p->len(), 0u);
  EXPECT_GE(p->tailroom(), 100u);
  const std::vector<uint8_t> payload = {1, 2, 3, 4};
  ASSERT_TRUE(p->append(payload));
  const uint8_t* payload_at = p->data().data();

  auto tcp = p->push(20);
  ASSERT_TRUE(tcp);
  p->set_transport_header();
  std::fill(tcp->begin(), tcp->end(), 0xee);
  auto ip = p->push(20);
  ASSERT_TRUE(ip);
  p->set_network_header();
  auto eth = p->push(14);
  ASSERT_TRUE(eth);
  p->set_mac_header();

  EXPECT_EQ(p->len(), 58u);
  EXPECT_EQ(p->headroom(), 10u);
  EXPECT_EQ(p->data().data() + 54, payload_at) << "payload never moved";
  EXPECT_EQ(p->mac_offset(), 0);
  EXPECT_EQ(p->network_offset(), 14);
  EXPECT_EQ(p->transport_offset(), 34);
  EXPECT_EQ(p->transport_header().size(), 24u);
  EXPECT_EQ(p->transport_header()[0], 0xee);
}

TEST_F(PacketBufferTest, RxPathPullsHeadersAndRemembersOffsets) {
  std::vector<uint8_t> frame(60);
  std::iota(frame.begin(), frame.end(), 0);
  PacketPtr p = pool_->alloc_copy(frame);
  p->set_mac_header();
  auto eth = p->pull(14);
  ASSERT_TRUE(eth);
  EXPECT_EQ((*eth)[0], 0);
  p->set_network_header();
  ASSERT_TRUE(p->pull(20));
  p->set_transport_header();
  EXPECT_EQ(p->data()[0], 34);
  EXPECT_EQ(p->mac_offset(), -34);
  EXPECT_EQ(p->mac_header()[0], 0);
  EXPECT_EQ(p->network_header()[0], 14);
  // Trim away Ethernet padding.
  ASSERT_TRUE(p->trim(8));
  EXPECT_EQ(p->len(), 8u);
}

TEST_F(PacketBufferTest, MisuseIsAnErrorAndChangesNothing) {
  PacketPtr p = pool_->alloc(8, 16);
  ASSERT_TRUE(p->append(std::vector<uint8_t>(4, 7)));
  auto r = p->push(9);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), BufError::kNoHeadroom);
  EXPECT_EQ(p->headroom(), 8u);
  auto q = p->pull(5);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error(), BufError::kBeyondLength);
  EXPECT_EQ(p->len(), 4u);
  EXPECT_EQ(p->trim(5).error(), BufError::kBeyondLength);
  EXPECT_EQ(p->put(p->tailroom() + 1).error(), BufError::kNoTailroom);
  EXPECT_EQ(p->reserve(1).error(), BufError::kNotEmpty);
  EXPECT_EQ(bytes(p->data()), std::vector<uint8_t>(4, 7));
  EXPECT_FALSE(p->has_mac_header());
  EXPECT_TRUE(p->mac_header().empty());
}

TEST_F(PacketBufferTest, CloneSharesBytesCopyDoesNot) {
  PacketPtr p = pool_->alloc_copy(std::vector<uint8_t>{1, 2, 3}, 32);
  p->trace_id = 9;
  PacketPtr c = p->clone();
  EXPECT_TRUE(p->shared());
  EXPECT_TRUE(c->shared());
  EXPECT_EQ(c->data().data(), p->data().data());
  EXPECT_EQ(c->trace_id, 9u);
  auto d = p->copy();
  ASSERT_TRUE(d);
  EXPECT_NE((*d)->data().data(), p->data().data());
  EXPECT_EQ(bytes((*d)->data()), bytes(p->data()));
  EXPECT_FALSE((*d)->shared());
  c.reset();
  EXPECT_FALSE(p->shared());
}

TEST_F(PacketBufferTest, CopyExpandGivesFreshHeadroomAndKeepsMetadata) {
  PacketPtr p = pool_->alloc_copy(std::vector<uint8_t>{1, 2, 3, 4}, 0);  // no headroom at all
  p->ifindex = 3;
  p->protocol = 0x0800;
  p->pkt_type = PacketType::kBroadcast;
  p->mark = 7;
  p->timestamp = Instant::zero() + Duration::ms(5);
  p->trace_id = 42;
  p->set_network_header();
  EXPECT_FALSE(p->push(14).ok());
  auto c = p->copy_expand(64);
  ASSERT_TRUE(c);
  PacketBuffer& e = **c;
  EXPECT_EQ(e.headroom(), 64u);
  EXPECT_EQ(bytes(e.data()), bytes(p->data()));
  EXPECT_NE(e.data().data(), p->data().data());
  EXPECT_EQ(e.ifindex, 3);
  EXPECT_EQ(e.protocol, 0x0800);
  EXPECT_EQ(e.pkt_type, PacketType::kBroadcast);
  EXPECT_EQ(e.mark, 7u);
  EXPECT_EQ(e.timestamp, p->timestamp);
  EXPECT_EQ(e.trace_id, 42u);
  EXPECT_FALSE(e.has_network_header());  // the caller writes new headers
  EXPECT_TRUE(e.push(14).ok());
}

TEST_F(PacketBufferTest, TcpStyleCloneCanPushHeadersWithoutCopying) {
  // TCP keeps the payload on its retransmit queue and transmits clones (seed 000).
  PacketPtr orig = pool_->alloc_copy(std::vector<uint8_t>(100, 0xaa), 128);
  orig->release_header();  // the queued original never writes headers
  const uint64_t copies_before = pool_->stats().copies;
  PacketPtr tx = orig->clone();
  auto h = tx->push(54);
  ASSERT_TRUE(h);
  std::fill(h->begin(), h->end(), 0x11);
  EXPECT_EQ(pool_->stats().copies, copies_before) << "header push on the clone was zero-copy";
  EXPECT_EQ(tx->data().data() + 54, orig->data().data());
  EXPECT_EQ(bytes(orig->data()), std::vector<uint8_t>(100, 0xaa));

  // A retransmission while the first clone is still in flight must not overwrite its headers.
  PacketPtr rtx = orig->clone();
  auto h2 = rtx->push(54);
  ASSERT_TRUE(h2);
  std::fill(h2->begin(), h2->end(), 0x22);
  EXPECT_EQ(pool_->stats().copies, copies_before + 1) << "second header writer got a copy";
  EXPECT_EQ(tx->data()[0], 0x11);
  EXPECT_EQ(rtx->data()[0], 0x22);
  EXPECT_EQ(bytes(orig->data()), std::vector<uint8_t>(100, 0xaa));
}

TEST_F(PacketBufferTest, CloneThatPullsThenPushesCannotCorruptSibling) {
  // A forwarding path: a capture tap holds a clone while the original's Ethernet header is
  // pulled and a new one pushed. The tap's view must not change.
  PacketPtr p = pool_->alloc_copy(std::vector<uint8_t>(60, 0x33));
  PacketPtr tap = p->clone();
  ASSERT_TRUE(p->pull(14));
  auto eth = p->push(14);
  ASSERT_TRUE(eth);
  std::fill(eth->begin(), eth->end(), 0x44);
  EXPECT_EQ(bytes(tap->data()), std::vector<uint8_t>(60, 0x33));
  EXPECT_EQ(p->data()[0], 0x44);
}

TEST_F(PacketBufferTest, ReleasedSiblingViewIsNeverWrittenByAClone) {
  PacketPtr p = pool_->alloc_copy(std::vector<uint8_t>(40, 0x55), 64);
  p->release_header();
  PacketPtr c = p->clone();
  ASSERT_TRUE(c->pull(10));  // the clone's data now starts inside p's view
  auto h = c->push(10);      // writing there would corrupt p: must copy
  ASSERT_TRUE(h);
  std::fill(h->begin(), h->end(), 0x66);
  EXPECT_EQ(bytes(p->data()), std::vector<uint8_t>(40, 0x55));
}

TEST_F(PacketBufferTest, MutableDataAndPutOnSharedBufferCopyOnWrite) {
  PacketPtr p = pool_->alloc_copy(std::vector<uint8_t>{1, 2, 3, 4}, 16);
  PacketPtr c = p->clone();
  auto m = c->mutable_data();
  ASSERT_TRUE(m);
  (*m)[0] = 99;
  EXPECT_EQ(p->data()[0], 1);
  EXPECT_EQ(c->data()[0], 99);
  EXPECT_FALSE(p->shared());
  PacketPtr c2 = p->clone();
  ASSERT_TRUE(p->trim(2));
  ASSERT_TRUE(p->append(std::vector<uint8_t>{8, 8}));
  EXPECT_EQ(bytes(c2->data()), (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(bytes(p->data()), (std::vector<uint8_t>{1, 2, 8, 8}));
}

TEST_F(PacketBufferTest, ControlBlockHoldsPerLayerState) {
  struct TcpCb {
    uint32_t seq;
    uint32_t end_seq;
    uint8_t flags;
  };
  PacketPtr p = pool_->alloc(0, 10);
  EXPECT_EQ(p->cb<TcpCb>().seq, 0u) << "control block starts zeroed";
  p->cb<TcpCb>() = {100, 200, 3};
  PacketPtr c = p->clone();
  EXPECT_EQ(c->cb<TcpCb>().end_seq, 200u);
  p->clear_cb();
  EXPECT_EQ(p->cb<TcpCb>().seq, 0u);
  EXPECT_EQ(c->cb<TcpCb>().seq, 100u);
}

TEST_F(PacketBufferTest, MetadataSurvivesCloneAndCopy) {
  PacketPtr p = pool_->alloc_copy(std::vector<uint8_t>(20, 1));
  p->ifindex = 3;
  p->protocol = 0x0800;
  p->pkt_type = PacketType::kBroadcast;
  p->timestamp = Instant::zero() + Duration::ms(5);
  p->set_mac_header();
  ASSERT_TRUE(p->pull(14));
  auto c = p->copy();
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)->ifindex, 3);
  EXPECT_EQ((*c)->protocol, 0x0800);
  EXPECT_EQ((*c)->pkt_type, PacketType::kBroadcast);
  EXPECT_EQ((*c)->timestamp, p->timestamp);
  EXPECT_EQ((*c)->mac_offset(), -14);
  EXPECT_EQ(bytes((*c)->mac_header()), bytes(p->mac_header()));
}

}  // namespace
}  // namespace ustack
