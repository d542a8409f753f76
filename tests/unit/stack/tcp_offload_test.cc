// TCP over an offloading device: one Stack whose NIC is a TapDevice with offload, adopted on a
// socketpair whose other end is the test (speaking the vnet protocol: a virtio_net_hdr before
// every frame). Covers the receive of one large GSO segment (taken whole, its checksum
// trusted when the header says NEEDS_CSUM/DATA_VALID and verified otherwise) and TSO output
// (segments larger than the MSS, a partial checksum, gso_size = MSS, cwnd respected, FIN/PSH
// handling left to the segmenter), and a GSO frame forwarded out of a plain device (segmented
// in software).
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "tcp_harness.h"
#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"
#include "ustack/dev/gso.h"
#include "ustack/dev/sim_nic.h"
#include "ustack/dev/tap.h"
#include "ustack/dev/virtio_net.h"

namespace ustack::tcptest {
namespace {

using dev::VirtioNetHdr;

struct Frame {
  VirtioNetHdr vh;
  std::vector<uint8_t> bytes;  // from the Ethernet header
  wire::TcpRepr h;
  std::vector<uint8_t> data;
};

class TcpOffload : public ::testing::Test {
 protected:
  TcpOffload() {
    std::array<int, 2> sv{};
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv.data()), 0);
    int big = 4 << 20;
    for (int fd : sv) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    peer_ = sv[1];
    dev::DeviceConfig c;
    c.name = "tap0";
    c.mac = stacktest::kUsMac;
    tap_ =
        dev::TapDevice::adopt(c, stack_.pool(), sv[0], "peer0", dev::TapOptions{.offload = true});
    auto& i = stack_.add_interface(*tap_);
    EXPECT_TRUE(stack_.add_address(now_, i.ifindex(), link::IfAddr{kUs, 24}).ok());
    stack_.neigh().add_static(now_, i.ifindex(), kPeer, kPeerMac);
    run();
    (void)take();  // the gratuitous ARP
  }
  ~TcpOffload() override {
    owned_.reset();  // the stack lets go of its device before the device goes
    ::close(peer_);
  }

  void run() {
    for (int i = 0; i < 1000; ++i) {
      if (tap_->irq_enabled()) tap_->interrupt(now_);
      if (!stack_.poll(now_)) return;
    }
  }
  void send(const VirtioNetHdr& vh, const std::vector<uint8_t>& f) {
    std::vector<uint8_t> m(VirtioNetHdr::kLen);
    vh.emit(std::span<uint8_t, VirtioNetHdr::kLen>(m.data(), VirtioNetHdr::kLen));
    m.insert(m.end(), f.begin(), f.end());
    ASSERT_EQ(::send(peer_, m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
    run();
  }
  void send(const Seg& s, const VirtioNetHdr& vh = {}) { send(vh, tcp_frame(s)); }
  // TCP frames the stack wrote since the last call.
  std::vector<Frame> take() {
    std::vector<Frame> out;
    std::vector<uint8_t> b(1 << 17);
    ssize_t n;
    while ((n = ::recv(peer_, b.data(), b.size(), MSG_DONTWAIT)) >= 0) {
      Frame f;
      f.vh = VirtioNetHdr::parse(std::span<const uint8_t, VirtioNetHdr::kLen>(b.data(), 10));
      f.bytes.assign(b.begin() + 10, b.begin() + n);
      if (f.bytes.size() < 54 || f.bytes[23] != 6) continue;  // not TCP (ARP)
      auto tv = wire::TcpView::parse(std::span(f.bytes).subspan(34));
      EXPECT_TRUE(tv.ok());
      auto r = wire::TcpRepr::parse(*tv, wire::Ipv4Pseudo{kUs, kPeer}, wire::Checksum::kIgnore);
      EXPECT_TRUE(r.ok());
      f.h = *r;
      f.data.assign(tv->payload().begin(), tv->payload().end());
      out.push_back(std::move(f));
    }
    return out;
  }
  // LISTEN, SYN (MSS 1460, wscale 7, no timestamps), SYN-ACK, ACK, accept.
  Conn open() {
    Conn c;
    c.nxt = kPeerIss;
    TcpSocket* l = stack_.tcp().open();
    EXPECT_TRUE(l->bind(kUs, kPort).ok());
    EXPECT_TRUE(l->listen(8).ok());
    Seg syn = c.seg(kSyn);
    syn.opts = syn_options(SynOpts{.ts = false}, 0);
    send(syn);
    c.nxt = kPeerIss + 1;
    auto sa = take();
    EXPECT_EQ(sa.size(), 1u);
    if (sa.empty()) return c;
    c.iss = sa[0].h.seq.v;
    c.rcv = c.iss + 1;
    c.win = 65535;
    send(c.seg(kAck));
    auto a = l->accept();
    EXPECT_TRUE(a.ok());
    c.s = *a;
    return c;
  }

  Instant now_ = Instant::zero() + Duration::ms(1);
  std::unique_ptr<stack::Stack> owned_ = std::make_unique<stack::Stack>();
  stack::Stack& stack_ = *owned_;
  std::unique_ptr<dev::TapDevice> tap_;
  int peer_ = -1;
};

// The segment's bytes with the checksum field holding only the pseudo-header sum (what the
// kernel sends over a vnet TAP with NEEDS_CSUM).
std::vector<uint8_t> partial(std::vector<uint8_t> f, Ipv4Addr src = kPeer, Ipv4Addr dst = kUs) {
  const size_t tl = f.size() - 34;
  store_be16(f.data() + 34 + 16,
             wire::Ipv4Pseudo{src, dst}.sum(wire::IpProto::kTcp, static_cast<uint16_t>(tl)));
  return f;
}

TEST_F(TcpOffload, RouteThroughTheTapUsesTsoAndPartialChecksums) {
  EXPECT_EQ(tap_->features(), dev::kNetifHwCsum | dev::kNetifTso);
  auto r = stack_.ip().route_output(now_, kPeer);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->features, dev::kNetifHwCsum | dev::kNetifTso);
}

TEST_F(TcpOffload, ReceivesOneLargeGsoSegmentWhole) {
  Conn c = open();
  ASSERT_NE(c.s, nullptr);
  const auto data = pattern(40000);
  const auto f = partial(tcp_frame(c.seg(kPshAck, data)));
  ASSERT_GT(f.size(), 1514u);
  send(VirtioNetHdr{.flags = dev::kVirtioNetHdrFNeedsCsum,
                    .gso_type = dev::kVirtioNetHdrGsoTcpV4,
                    .hdr_len = 54,
                    .gso_size = 1460,
                    .csum_start = 34,
                    .csum_offset = 16},
       f);
  std::vector<uint8_t> got(50000);
  auto n = c.s->recv(now_, got);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, data.size());
  got.resize(*n);
  EXPECT_EQ(got, data);
  // ACKed at once: more than two full-sized segments' worth arrived.
  auto acks = take();
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back().h.ack.v, kPeerIss + 1 + 40000);
  EXPECT_EQ(tap_->tap_stats().rx_gso_frames, 1u);
}

TEST_F(TcpOffload, TrustsDataValidButVerifiesPlainFrames) {
  Conn c = open();
  ASSERT_NE(c.s, nullptr);
  Seg s = c.seg(kPshAck, pattern(100));
  s.bad_checksum = true;
  // No offload flags: the checksum is verified and the segment dropped.
  send(s);
  std::vector<uint8_t> got(1000);
  EXPECT_FALSE(c.s->recv(now_, got).ok());
  EXPECT_EQ(stack_.tcp().mib().in_csum_errors, 1u);
  // DATA_VALID: the sender vouches for it (CHECKSUM_UNNECESSARY): not verified again.
  send(s, VirtioNetHdr{.flags = dev::kVirtioNetHdrFDataValid});
  auto n = c.s->recv(now_, got);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 100u);
}

TEST_F(TcpOffload, SendsTsoFramesWithinCwndWithPartialChecksum) {
  Conn c = open();
  ASSERT_NE(c.s, nullptr);
  const auto data = pattern(200000);
  auto w = c.s->send(now_, data);
  ASSERT_TRUE(w.ok());
  run();
  auto out = take();
  ASSERT_FALSE(out.empty());
  // The initial window (10 MSS) goes as one TSO frame of 10 segments.
  const Frame& f = out[0];
  EXPECT_EQ(f.vh.gso_type, dev::kVirtioNetHdrGsoTcpV4);
  EXPECT_EQ(f.vh.gso_size, 1460);
  EXPECT_EQ(f.vh.flags, dev::kVirtioNetHdrFNeedsCsum);
  EXPECT_EQ(f.vh.csum_start, 34);
  EXPECT_EQ(f.vh.csum_offset, 16);
  EXPECT_EQ(f.vh.hdr_len, 54);
  EXPECT_EQ(f.data.size(), 10u * 1460);
  EXPECT_EQ(f.h.seq.v, c.iss + 1);
  EXPECT_TRUE(std::equal(f.data.begin(), f.data.end(), data.begin()));
  size_t sent = 0;
  for (const Frame& x : out) sent += x.data.size();
  EXPECT_EQ(sent, 10u * 1460) << "no more than cwnd in flight";
  // The checksum field holds the pseudo-header sum; finishing it gives a valid segment.
  PacketPtr p = stack_.pool().alloc_copy(f.bytes);
  p->set_csum_partial(34, 16);
  ASSERT_TRUE(dev::skb_checksum_help(*p).ok());
  auto tv = wire::TcpView::parse(p->data().subspan(34));
  ASSERT_TRUE(tv.ok());
  EXPECT_TRUE(wire::TcpRepr::parse(*tv, wire::Ipv4Pseudo{kUs, kPeer}).ok());
  // ACK it all: slow start doubles cwnd, and the next frames are TSO frames too.
  c.nxt = kPeerIss + 1;
  c.rcv = c.iss + 1 + 10 * 1460;
  c.win = 65535;
  send(c.seg(kAck));
  auto more = take();
  ASSERT_FALSE(more.empty());
  size_t sent2 = 0;
  for (const Frame& x : more) {
    EXPECT_LE(x.data.size(), 65535u - 40);
    if (x.data.size() > 1460) {
      EXPECT_EQ(x.vh.gso_type, dev::kVirtioNetHdrGsoTcpV4);
    }
    sent2 += x.data.size();
  }
  EXPECT_GT(sent2, 10u * 1460);
  EXPECT_LE(sent2, 20u * 1460 + 1460);
  EXPECT_GE(tap_->tap_stats().tx_gso_frames, 2u);
}

// A GSO frame received on the offloading TAP and forwarded out of a plain device (no TSO, no
// checksum offload) is segmented and checksummed in software first (validate_xmit_skb).
TEST_F(TcpOffload, ForwardedGsoFrameIsSegmentedForAPlainDevice) {
  const Ipv4Addr far = Ipv4Addr::from_octets(198, 51, 100, 1);
  const wire::MacAddr far_mac{{0x02, 0, 0, 0, 0, 0x77}};
  dev::DeviceConfig a;
  a.name = "eth1";
  a.mac = wire::MacAddr{{0x02, 0, 0, 0, 0, 0x66}};
  dev::DeviceConfig b;
  b.name = "far0";
  b.mac = far_mac;
  b.mtu = 9000;
  dev::SimLink link;
  dev::SimNic nic(a, stack_.pool());
  PoolHandle far_pool = BufferPool::create();
  dev::SimNic far_nic(b, *far_pool);
  link.attach(nic);
  link.attach(far_nic);
  far_nic.set_up(true);
  dev::NapiContext far_napi;
  far_napi.add(far_nic);
  stacktest::Captured got;
  auto& i = stack_.add_interface(nic);
  ASSERT_TRUE(
      stack_
          .add_address(now_, i.ifindex(), link::IfAddr{Ipv4Addr::from_octets(198, 51, 100, 2), 24})
          .ok());
  stack_.neigh().add_static(now_, i.ifindex(), far, far_mac);
  stack_.set_forwarding(true);
  auto pump = [&] {
    for (int k = 0; k < 50; ++k) {
      now_ = now_ + Duration::us(10);
      link.advance(now_);
      run();
      far_napi.run(now_, got);
    }
  };
  pump();
  got.frames.clear();
  const auto data = pattern(5000);
  Seg s{.flags = kPshAck, .seq = 7000, .ack = 1, .data = data, .src = kPeer, .dst = far};
  send(VirtioNetHdr{.flags = dev::kVirtioNetHdrFNeedsCsum,
                    .gso_type = dev::kVirtioNetHdrGsoTcpV4,
                    .hdr_len = 54,
                    .gso_size = 1448,
                    .csum_start = 34,
                    .csum_offset = 16},
       partial(tcp_frame(s), kPeer, far));
  pump();
  std::vector<uint8_t> joined;
  std::vector<std::vector<uint8_t>> tcp;
  for (auto& f : got.frames)
    if (f.size() > 34 && f[12] == 0x08 && f[23] == 6) tcp.push_back(f);
  ASSERT_EQ(tcp.size(), 4u);  // 3 * 1448 + 656
  for (size_t k = 0; k < tcp.size(); ++k) {
    auto iv = wire::Ipv4View::parse(std::span(tcp[k]).subspan(14));
    ASSERT_TRUE(iv.ok());
    auto ip = wire::Ipv4Repr::parse(*iv);
    ASSERT_TRUE(ip.ok()) << "IP checksum of segment " << k;
    EXPECT_EQ(ip->ttl, 63) << "forwarded";
    auto tv = wire::TcpView::parse(iv->payload());
    ASSERT_TRUE(tv.ok());
    auto h = wire::TcpRepr::parse(*tv, wire::Ipv4Pseudo{kPeer, far});
    ASSERT_TRUE(h.ok()) << "TCP checksum of segment " << k;
    EXPECT_EQ(h->seq.v, 7000 + 1448 * k);
    EXPECT_EQ(h->flags.psh(), k == 3);
    joined.insert(joined.end(), tv->payload().begin(), tv->payload().end());
  }
  EXPECT_EQ(joined, data);
  far_napi.remove(far_nic);
  owned_.reset();  // before the SimNics on this stack frame go
}

}  // namespace
}  // namespace ustack::tcptest
