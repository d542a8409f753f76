// TapDevice with offload (IFF_VNET_HDR) driven through an adopted socketpair that speaks the
// vnet protocol (a 10-byte virtio_net_hdr in front of every frame): a GSO super-frame is read
// whole into one buffer and handed up with its checksum and GSO state; a TSO frame longer than
// the MTU is written whole with the header describing it; a bad header is a counted drop; a
// device without offload still refuses frames longer than its MTU.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "ustack/buf/pool.h"
#include "ustack/dev/napi.h"
#include "ustack/dev/tap.h"
#include "ustack/dev/virtio_net.h"

namespace ustack::dev {
namespace {

struct Keep : RxSink {
  std::vector<PacketPtr> frames;
  void netif_receive(Instant, NetDevice&, PacketPtr f) override { frames.push_back(std::move(f)); }
};

std::vector<uint8_t> frame(size_t len, uint8_t tag = 1) {
  std::vector<uint8_t> f(len, tag);
  for (size_t i = 0; i < len; ++i) f[i] = static_cast<uint8_t>(tag + i * 13);
  f[12] = 0x08;  // IPv4 (the contents do not matter to the driver)
  f[13] = 0x00;
  return f;
}

class TapOffloadTest : public ::testing::Test {
 protected:
  void open(bool offload) {
    std::array<int, 2> sv{};
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv.data()), 0);
    int big = 1 << 20;
    for (int fd : sv) {
      ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big), 0);
      ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big), 0);
    }
    peer_ = sv[1];
    DeviceConfig c;
    c.name = "tap0";
    c.rx_ring_size = 8;
    c.tx_ring_size = 8;
    dev_ = TapDevice::adopt(std::move(c), *pool_, sv[0], "peer0", TapOptions{.offload = offload});
    dev_->attach(tel_);
    dev_->set_up(true);
    napi_.add(*dev_);
  }
  ~TapOffloadTest() override {
    if (dev_) napi_.remove(*dev_);
    if (peer_ >= 0) ::close(peer_);
  }
  void peer_send(const VirtioNetHdr& h, const std::vector<uint8_t>& f) {
    std::vector<uint8_t> m(VirtioNetHdr::kLen);
    h.emit(std::span<uint8_t, VirtioNetHdr::kLen>(m.data(), VirtioNetHdr::kLen));
    m.insert(m.end(), f.begin(), f.end());
    ASSERT_EQ(::send(peer_, m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
  }
  std::vector<std::vector<uint8_t>> peer_drain() {
    std::vector<std::vector<uint8_t>> out;
    std::vector<uint8_t> b(1 << 17);
    ssize_t n;
    while ((n = ::recv(peer_, b.data(), b.size(), MSG_DONTWAIT)) >= 0)
      out.emplace_back(b.begin(), b.begin() + n);
    return out;
  }
  void irq_and_napi() {
    if (dev_->irq_enabled()) dev_->interrupt(t_);
    while (napi_.run(t_, sink_)) {
    }
  }

  PoolHandle pool_ = BufferPool::create();
  Telemetry tel_{"host"};
  std::unique_ptr<TapDevice> dev_;
  int peer_ = -1;
  NapiContext napi_;
  Keep sink_;
  Instant t_ = Instant::zero() + Duration::ms(1);
};

TEST_F(TapOffloadTest, ReportsOffloadFeaturesOnlyWhenAsked) {
  open(false);
  EXPECT_EQ(dev_->features(), 0u);
  EXPECT_FALSE(dev_->offload());
  napi_.remove(*dev_);
  dev_.reset();
  ::close(peer_);
  open(true);
  EXPECT_EQ(dev_->features(), kNetifHwCsum | kNetifTso);
  EXPECT_TRUE(dev_->offload());
}

TEST_F(TapOffloadTest, ReadsGsoSuperFrameWholeWithItsOffloadState) {
  open(true);
  const auto big = frame(14 + 65535);  // the largest: a 64 KiB IPv4 datagram
  peer_send(VirtioNetHdr{.flags = kVirtioNetHdrFNeedsCsum,
                         .gso_type = kVirtioNetHdrGsoTcpV4,
                         .hdr_len = 66,
                         .gso_size = 1448,
                         .csum_start = 34,
                         .csum_offset = 16},
            big);
  peer_send(VirtioNetHdr{.flags = kVirtioNetHdrFDataValid}, frame(60, 2));
  peer_send(VirtioNetHdr{}, frame(1514, 3));
  irq_and_napi();
  ASSERT_EQ(sink_.frames.size(), 3u);
  const PacketBuffer& g = *sink_.frames[0];
  EXPECT_TRUE(std::equal(big.begin(), big.end(), g.data().begin(), g.data().end()));
  EXPECT_EQ(g.gso_type, GsoType::kTcpV4);
  EXPECT_EQ(g.gso_size, 1448);
  EXPECT_EQ(g.ip_summed, CsumState::kPartial);
  EXPECT_EQ(g.csum_start(), 34);
  EXPECT_EQ(sink_.frames[1]->ip_summed, CsumState::kUnnecessary);
  EXPECT_FALSE(sink_.frames[1]->is_gso());
  EXPECT_EQ(sink_.frames[2]->ip_summed, CsumState::kNone);
  EXPECT_EQ(sink_.frames[2]->len(), 1514u);
  const TapStats& s = dev_->tap_stats();
  EXPECT_EQ(s.rx_gso_frames, 1u);
  EXPECT_EQ(s.rx_gso_bytes, big.size());
  EXPECT_EQ(s.rx_csum_partial, 1u);
  EXPECT_EQ(dev_->stats().rx_bytes, big.size() + 60 + 1514) << "frame bytes, no vnet header";
}

TEST_F(TapOffloadTest, BadVnetHeaderIsCountedDrop) {
  open(true);
  peer_send(VirtioNetHdr{.gso_type = kVirtioNetHdrGsoTcpV6, .gso_size = 1428}, frame(3000));
  peer_send(VirtioNetHdr{.flags = kVirtioNetHdrFNeedsCsum, .csum_start = 100, .csum_offset = 16},
            frame(64));
  peer_send(VirtioNetHdr{}, frame(64, 9));
  irq_and_napi();
  ASSERT_EQ(sink_.frames.size(), 1u);
  EXPECT_EQ(sink_.frames[0]->data()[0], frame(64, 9)[0]);
  EXPECT_EQ(dev_->tap_stats().rx_vnet_errors, 2u);
  EXPECT_EQ(tel_.drops().get(DropReason::kBadOffload), 2u);
  EXPECT_EQ(dev_->stats().rx_errors, 2u);
}

TEST_F(TapOffloadTest, WritesTsoFrameWholeAfterItsHeader) {
  open(true);
  const auto big = frame(14 + 20 + 32 + 40000);
  PacketPtr p = pool_->alloc_copy(big, 64);
  p->set_csum_partial(34, 16);
  p->gso_type = GsoType::kTcpV4;
  p->gso_size = 1448;
  // The TCP data offset (the header length in words) is what hdr_len is computed from.
  (*p->mutable_data())[34 + 12] = 8 << 4;
  EXPECT_EQ(dev_->xmit(t_, std::move(p)), XmitStatus::kQueued);
  EXPECT_EQ(dev_->xmit(t_, pool_->alloc_copy(frame(100), 64)), XmitStatus::kQueued);
  irq_and_napi();
  auto got = peer_drain();
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].size(), VirtioNetHdr::kLen + big.size());
  const VirtioNetHdr h = VirtioNetHdr::parse(std::span<const uint8_t, 10>(got[0].data(), 10));
  EXPECT_EQ(h.flags, kVirtioNetHdrFNeedsCsum);
  EXPECT_EQ(h.gso_type, kVirtioNetHdrGsoTcpV4);
  EXPECT_EQ(h.gso_size, 1448);
  EXPECT_EQ(h.csum_start, 34);
  EXPECT_EQ(h.csum_offset, 16);
  EXPECT_EQ(h.hdr_len, 66);
  EXPECT_TRUE(std::equal(got[0].begin() + 10 + 47, got[0].end(), big.begin() + 47));
  EXPECT_EQ(VirtioNetHdr::parse(std::span<const uint8_t, 10>(got[1].data(), 10)), VirtioNetHdr{});
  EXPECT_EQ(got[1].size(), 10u + 100);
  EXPECT_EQ(dev_->tap_stats().tx_gso_frames, 1u);
  EXPECT_EQ(dev_->tap_stats().tx_gso_bytes, big.size());
  EXPECT_EQ(dev_->tap_stats().tx_csum_partial, 1u);
  EXPECT_EQ(dev_->stats().tx_packets, 2u);
}

TEST_F(TapOffloadTest, PlainDeviceRefusesGsoFrameLongerThanMtu) {
  open(false);
  PacketPtr p = pool_->alloc_copy(frame(20000), 64);
  p->gso_type = GsoType::kTcpV4;
  p->gso_size = 1448;
  EXPECT_EQ(dev_->xmit(t_, std::move(p)), XmitStatus::kDropped);
  EXPECT_EQ(tel_.drops().get(DropReason::kFrameTooLong), 1u);
}

}  // namespace
}  // namespace ustack::dev
