// The offload pieces of the vnet TAP path: the virtio-net header (parse/emit, to/from a
// PacketBuffer's checksum and GSO state), software checksum completion (skb_checksum_help) and
// software TCPv4 segmentation (skb_gso_segment: checksums, sequence numbers, flags, IP IDs).
#include "ustack/dev/gso.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"
#include "ustack/dev/virtio_net.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"

namespace ustack::dev {
namespace {

using wire::Ipv4Addr;
using wire::SeqNum;
using wire::TcpFlag;
using wire::TcpFlags;

const Ipv4Addr kSrc = Ipv4Addr::from_octets(10, 0, 0, 1);
const Ipv4Addr kDst = Ipv4Addr::from_octets(10, 0, 0, 2);
constexpr size_t kEth = 14, kIp = 20;

std::vector<uint8_t> payload(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + i / 251);
  return v;
}

wire::TcpRepr tcp_hdr(TcpFlags f, uint32_t seq) {
  wire::TcpRepr h;
  h.src_port = 5001;
  h.dst_port = 40000;
  h.seq = SeqNum{seq};
  h.ack = SeqNum{777};
  h.flags = f;
  h.window = 1000;
  h.options.timestamps = wire::TcpTimestamps{11, 22};  // 12 option bytes: a 32-byte header
  return h;
}

// An Ethernet + IPv4 (DF, id `id`) + TCP frame around `data`, with finished checksums.
std::vector<uint8_t> tcp_frame(const wire::TcpRepr& h, const std::vector<uint8_t>& data,
                               uint16_t id = 100) {
  const size_t tl = h.buffer_len(data.size());
  std::vector<uint8_t> f(kEth + kIp + tl);
  wire::EthernetRepr{wire::MacAddr{{2, 0, 0, 0, 0, 2}}, wire::MacAddr{{2, 0, 0, 0, 0, 1}}, 0x0800,
                     std::nullopt}
      .emit(std::span(f).first(kEth));
  wire::Ipv4Repr ip;
  ip.src = kSrc;
  ip.dst = kDst;
  ip.protocol = 6;
  ip.ident = id;
  ip.dont_frag = true;
  ip.payload_len = static_cast<uint16_t>(tl);
  ip.emit(std::span(f).subspan(kEth, kIp));
  std::copy(data.begin(), data.end(), f.begin() + static_cast<long>(kEth + kIp + h.header_len()));
  h.emit(std::span(f).subspan(kEth + kIp), wire::Ipv4Pseudo{kSrc, kDst});
  return f;
}

// The same frame with CHECKSUM_PARTIAL: the TCP checksum field holds the pseudo-header sum.
PacketPtr partial_frame(BufferPool& pool, const wire::TcpRepr& h,
                        const std::vector<uint8_t>& data) {
  auto f = tcp_frame(h, data);
  const size_t tl = f.size() - kEth - kIp;
  store_be16(f.data() + kEth + kIp + 16,
             wire::Ipv4Pseudo{kSrc, kDst}.sum(wire::IpProto::kTcp, static_cast<uint16_t>(tl)));
  PacketPtr p = pool.alloc_copy(f, 64);
  p->set_csum_partial(kEth + kIp, 16);
  return p;
}

// ---- the virtio-net header ----------------------------------------------------------------

TEST(VirtioNetHdr, ParsesAndEmitsLittleEndianFields) {
  const std::array<uint8_t, 10> golden{0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00};
  const VirtioNetHdr h = VirtioNetHdr::parse(golden);
  EXPECT_EQ(h.flags, kVirtioNetHdrFNeedsCsum);
  EXPECT_EQ(h.gso_type, kVirtioNetHdrGsoTcpV4);
  EXPECT_EQ(h.hdr_len, 66);
  EXPECT_EQ(h.gso_size, 1448);
  EXPECT_EQ(h.csum_start, 34);
  EXPECT_EQ(h.csum_offset, 16);
  std::array<uint8_t, 10> out{};
  h.emit(out);
  EXPECT_EQ(out, golden);
}

TEST(VirtioNetHdr, FromSkbDescribesTsoFrameWithPartialChecksum) {
  PoolHandle pool = BufferPool::create();
  PacketPtr p = partial_frame(*pool, tcp_hdr(TcpFlags{TcpFlag::kAck}, 1), payload(5000));
  p->gso_type = GsoType::kTcpV4;
  p->gso_size = 1448;
  const VirtioNetHdr h = vnet_hdr_from_skb(*p);
  EXPECT_EQ(h.flags, kVirtioNetHdrFNeedsCsum);
  EXPECT_EQ(h.gso_type, kVirtioNetHdrGsoTcpV4);
  EXPECT_EQ(h.gso_size, 1448);
  EXPECT_EQ(h.csum_start, 34);
  EXPECT_EQ(h.csum_offset, 16);
  EXPECT_EQ(h.hdr_len, 14 + 20 + 32);
}

TEST(VirtioNetHdr, FromPlainSkbIsAllZero) {
  PoolHandle pool = BufferPool::create();
  PacketPtr p = pool->alloc_copy(tcp_frame(tcp_hdr(TcpFlags{TcpFlag::kAck}, 1), payload(10)));
  EXPECT_EQ(vnet_hdr_from_skb(*p), VirtioNetHdr{});
  p->ip_summed = CsumState::kUnnecessary;
  EXPECT_EQ(vnet_hdr_from_skb(*p).flags, kVirtioNetHdrFDataValid);
}

TEST(VirtioNetHdr, ToSkbSetsChecksumAndGsoState) {
  PoolHandle pool = BufferPool::create();
  PacketPtr p = pool->alloc_copy(tcp_frame(tcp_hdr(TcpFlags{TcpFlag::kAck}, 1), payload(4000)));
  VirtioNetHdr h{.flags = kVirtioNetHdrFNeedsCsum,
                 .gso_type = kVirtioNetHdrGsoTcpV4 | kVirtioNetHdrGsoEcn,
                 .hdr_len = 66,
                 .gso_size = 1448,
                 .csum_start = 34,
                 .csum_offset = 16};
  ASSERT_TRUE(vnet_hdr_to_skb(h, *p).ok());
  EXPECT_EQ(p->ip_summed, CsumState::kPartial);
  EXPECT_TRUE(p->csum_unnecessary());
  EXPECT_EQ(p->csum_start(), 34);
  EXPECT_EQ(p->csum_offset(), 16);
  EXPECT_EQ(p->gso_type, GsoType::kTcpV4);
  EXPECT_EQ(p->gso_size, 1448);
  // The start survives the headers being pulled (it is kept from the block's start).
  ASSERT_TRUE(p->pull(14).ok());
  EXPECT_EQ(p->csum_start(), 20);

  PacketPtr q = pool->alloc_copy(tcp_frame(tcp_hdr(TcpFlags{TcpFlag::kAck}, 1), payload(10)));
  ASSERT_TRUE(vnet_hdr_to_skb(VirtioNetHdr{.flags = kVirtioNetHdrFDataValid}, *q).ok());
  EXPECT_EQ(q->ip_summed, CsumState::kUnnecessary);
  EXPECT_FALSE(q->is_gso());
}

TEST(VirtioNetHdr, ToSkbRefusesWhatItCannotHonour) {
  PoolHandle pool = BufferPool::create();
  PacketPtr p = pool->alloc_copy(tcp_frame(tcp_hdr(TcpFlags{TcpFlag::kAck}, 1), payload(100)));
  EXPECT_EQ(
      vnet_hdr_to_skb(VirtioNetHdr{.gso_type = kVirtioNetHdrGsoUdp, .gso_size = 1000}, *p).error(),
      VnetError::kUnsupportedGso);
  EXPECT_EQ(vnet_hdr_to_skb(VirtioNetHdr{.gso_type = kVirtioNetHdrGsoTcpV6, .gso_size = 1000}, *p)
                .error(),
            VnetError::kUnsupportedGso);
  EXPECT_EQ(
      vnet_hdr_to_skb(VirtioNetHdr{.gso_type = kVirtioNetHdrGsoTcpV4, .gso_size = 0}, *p).error(),
      VnetError::kUnsupportedGso);
  EXPECT_EQ(vnet_hdr_to_skb(VirtioNetHdr{.flags = kVirtioNetHdrFNeedsCsum,
                                         .csum_start = static_cast<uint16_t>(p->len() - 10),
                                         .csum_offset = 16},
                            *p)
                .error(),
            VnetError::kBadCsum);
  EXPECT_EQ(p->ip_summed, CsumState::kNone) << "unchanged on error";
  EXPECT_FALSE(p->is_gso());
}

// ---- skb_checksum_help -------------------------------------------------------------------------

TEST(ChecksumHelp, FinishesPartialChecksumExactlyAsSoftwareWould) {
  PoolHandle pool = BufferPool::create();
  for (size_t n : {0, 1, 999, 1448, 30001}) {
    const auto h = tcp_hdr(TcpFlags{TcpFlag::kAck, TcpFlag::kPsh}, 12345);
    const auto want = tcp_frame(h, payload(n));
    PacketPtr p = partial_frame(*pool, h, payload(n));
    ASSERT_TRUE(skb_checksum_help(*p).ok());
    EXPECT_EQ(p->ip_summed, CsumState::kNone);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), p->data().begin(), p->data().end())) << n;
  }
}

TEST(ChecksumHelp, CopiesSharedBytesAndLeavesOthersAlone) {
  PoolHandle pool = BufferPool::create();
  const auto h = tcp_hdr(TcpFlags{TcpFlag::kAck}, 1);
  PacketPtr p = partial_frame(*pool, h, payload(100));
  PacketPtr sibling = p->clone();
  const std::vector<uint8_t> before(sibling->data().begin(), sibling->data().end());
  ASSERT_TRUE(skb_checksum_help(*p).ok());
  EXPECT_TRUE(std::equal(before.begin(), before.end(), sibling->data().begin()));
  // Not partial: nothing to do. Offsets outside the frame: an error, not a write.
  PacketPtr plain = pool->alloc_copy(tcp_frame(h, payload(5)));
  EXPECT_TRUE(skb_checksum_help(*plain).ok());
  plain->set_csum_partial(plain->len() - 4, 16);
  EXPECT_EQ(skb_checksum_help(*plain).error(), GsoError::kMalformed);
}

// ---- skb_gso_segment -------------------------------------------------------------------------

struct Parsed {
  wire::Ipv4Repr ip;
  wire::TcpRepr tcp;
  std::vector<uint8_t> data;
};

Parsed parse_frame(const PacketBuffer& f) {
  Parsed r;
  auto d = f.data().subspan(kEth);
  auto iv = wire::Ipv4View::parse(d);
  EXPECT_TRUE(iv.ok());
  auto ip = wire::Ipv4Repr::parse(*iv);  // verifies the header checksum
  EXPECT_TRUE(ip.ok()) << "IP header checksum";
  r.ip = *ip;
  auto tv = wire::TcpView::parse(iv->payload());
  EXPECT_TRUE(tv.ok());
  auto t = wire::TcpRepr::parse(*tv, wire::Ipv4Pseudo{kSrc, kDst});  // verifies the checksum
  EXPECT_TRUE(t.ok()) << "TCP checksum";
  r.tcp = *t;
  r.data.assign(tv->payload().begin(), tv->payload().end());
  return r;
}

TEST(GsoSegment, CutsTcpV4SuperFrameIntoMssSegments) {
  PoolHandle pool = BufferPool::create();
  const auto data = payload(10000);
  const TcpFlags flags{TcpFlag::kAck, TcpFlag::kPsh, TcpFlag::kFin, TcpFlag::kCwr};
  PacketPtr big = partial_frame(*pool, tcp_hdr(flags, 0xfffff000u), data);  // seq wraps
  big->gso_type = GsoType::kTcpV4;
  big->gso_size = 1448;
  PacketQueue out;
  ASSERT_TRUE(skb_gso_segment(*big, *pool, 64, out).ok());
  ASSERT_EQ(out.size(), 7u);  // 6 * 1448 + 1312
  std::vector<uint8_t> joined;
  for (size_t i = 0; PacketPtr s = out.pop_front(); ++i) {
    const bool last = i == 6;
    EXPECT_FALSE(s->is_gso());
    EXPECT_EQ(s->ip_summed, CsumState::kNone);
    EXPECT_EQ(s->headroom(), 64u);
    const Parsed p = parse_frame(*s);
    EXPECT_EQ(p.data.size(), last ? 10000 - 6 * 1448 : 1448u) << i;
    EXPECT_EQ(p.ip.ident, 100 + i) << "consecutive IP IDs";
    EXPECT_TRUE(p.ip.dont_frag);
    EXPECT_EQ(p.tcp.seq.v, static_cast<uint32_t>(0xfffff000u + i * 1448)) << i;
    EXPECT_EQ(p.tcp.ack.v, 777u);
    EXPECT_EQ(p.tcp.flags.fin(), last) << "FIN only on the last segment";
    EXPECT_EQ(p.tcp.flags.psh(), last) << "PSH only on the last segment";
    EXPECT_EQ(p.tcp.flags.has(TcpFlag::kCwr), i == 0) << "CWR only on the first";
    EXPECT_TRUE(p.tcp.flags.ack());
    EXPECT_EQ(p.tcp.options.timestamps, (wire::TcpTimestamps{11, 22})) << "options copied";
    joined.insert(joined.end(), p.data.begin(), p.data.end());
  }
  EXPECT_EQ(joined, data);
  EXPECT_EQ(big->len(), kEth + kIp + 32 + 10000) << "the super-frame is untouched";
}

TEST(GsoSegment, AFullChecksumOnTheSuperFrameIsFineToo) {
  // A GSO frame whose checksum was finished (not partial): every segment is re-summed anyway.
  PoolHandle pool = BufferPool::create();
  const auto f = tcp_frame(tcp_hdr(TcpFlags{TcpFlag::kAck}, 5), payload(3000));
  PacketPtr big = pool->alloc_copy(f);
  big->gso_type = GsoType::kTcpV4;
  big->gso_size = 1000;
  PacketQueue out;
  ASSERT_TRUE(skb_gso_segment(*big, *pool, 0, out).ok());
  ASSERT_EQ(out.size(), 3u);
  for (uint32_t i = 0; PacketPtr s = out.pop_front(); ++i)
    EXPECT_EQ(parse_frame(*s).tcp.seq.v, 5 + 1000 * i);
}

TEST(GsoSegment, RefusesWhatIsNotTcpV4) {
  PoolHandle pool = BufferPool::create();
  auto f = tcp_frame(tcp_hdr(TcpFlags{TcpFlag::kAck}, 5), payload(3000));
  PacketQueue out;
  f[12] = 0x86;  // IPv6 EtherType
  f[13] = 0xdd;
  PacketPtr p = pool->alloc_copy(f);
  p->gso_type = GsoType::kTcpV4;
  p->gso_size = 1000;
  EXPECT_EQ(skb_gso_segment(*p, *pool, 0, out).error(), GsoError::kMalformed);
  PacketPtr q = pool->alloc_copy(std::span(f).first(30));
  q->gso_size = 1000;
  EXPECT_EQ(skb_gso_segment(*q, *pool, 0, out).error(), GsoError::kMalformed);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace ustack::dev
