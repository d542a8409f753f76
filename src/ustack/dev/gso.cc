// dev/gso.cc — software checksum completion and TCPv4 segmentation.
#include "ustack/dev/gso.h"

#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"

namespace ustack::dev {
namespace {
constexpr size_t kEthLen = 14;
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;

// Where the headers of an Ethernet + IPv4 + TCP frame are, checked against its length.
struct TcpV4Layout {
  size_t ip = kEthLen;
  size_t tcp = 0;      // offset of the TCP header
  size_t payload = 0;  // offset of the payload (= header length of every segment)
};

Result<TcpV4Layout, GsoError> layout(std::span<const uint8_t> d) {
  TcpV4Layout l;
  if (d.size() < kEthLen + 20 || load_be16(d, 12) != 0x0800 || (d[kEthLen] >> 4) != 4)
    return Err{GsoError::kMalformed};
  l.tcp = l.ip + size_t{d[kEthLen] & 0x0fu} * 4;
  if (d[kEthLen + 9] != 6 || l.tcp + 20 > d.size()) return Err{GsoError::kMalformed};
  l.payload = l.tcp + static_cast<size_t>(d[l.tcp + 12] >> 4) * 4;
  if (l.payload < l.tcp + 20 || l.payload > d.size()) return Err{GsoError::kMalformed};
  return l;
}
}  // namespace

Result<void, GsoError> skb_checksum_help(PacketBuffer& pkt) {
  if (pkt.ip_summed != CsumState::kPartial) return Ok();
  const ptrdiff_t start = pkt.csum_start();
  const size_t off = pkt.csum_offset();
  if (start < 0 || static_cast<size_t>(start) + off + 2 > pkt.len())
    return Err{GsoError::kMalformed};
  auto d = pkt.mutable_data();
  if (!d) return Err{GsoError::kNoMemory};
  // The field holds the pseudo-header sum: summing over it adds that in (as a NIC does).
  const auto area = d->subspan(static_cast<size_t>(start));
  uint16_t c = csum_finish(csum_partial(area));
  if (c == 0 && off == 6) c = 0xffff;  // UDP: 0 means "no checksum" (RFC 768)
  store_be16(area, off, c);
  pkt.ip_summed = CsumState::kNone;
  return Ok();
}

Result<void, GsoError> skb_gso_segment(const PacketBuffer& frame, BufferPool& pool, size_t headroom,
                                       PacketQueue& out) {
  const auto d = frame.data();
  auto l = layout(d);
  if (!l || frame.gso_size == 0) return Err{GsoError::kMalformed};
  const size_t mss = frame.gso_size;
  const size_t hlen = l->payload;
  const size_t plen = d.size() - hlen;
  const uint16_t id0 = load_be16(d, l->ip + 4);
  const uint32_t seq0 = load_be32(d, l->tcp + 4);
  const uint8_t flags0 = d[l->tcp + 13];
  const uint32_t src = load_be32(d, l->ip + 12);
  const uint32_t dst = load_be32(d, l->ip + 16);
  PacketQueue segs;
  size_t i = 0;
  for (size_t off = 0; off < plen || (plen == 0 && off == 0); off += mss, ++i) {
    const size_t n = std::min(mss, plen - off);
    const bool last = off + n >= plen;
    PacketPtr s = pool.alloc(headroom, hlen + n);
    if (!s) return Err{GsoError::kNoMemory};  // `segs` frees what was made
    auto b = s->put(hlen + n);
    std::memcpy(b->data(), d.data(), hlen);
    std::memcpy(b->data() + hlen, d.data() + hlen + off, n);
    std::span<uint8_t> f = *b;
    // IPv4: length, a fresh ID per segment (as tcp_gso_segment without FIXEDID), checksum.
    const size_t ihl = l->tcp - l->ip;
    store_be16(f, l->ip + 2, static_cast<uint16_t>(ihl + (hlen - l->tcp) + n));
    store_be16(f, l->ip + 4, static_cast<uint16_t>(id0 + i));
    store_be16(f, l->ip + 10, 0);
    store_be16(f, l->ip + 10, inet_checksum(f.subspan(l->ip, ihl)));
    // TCP: sequence number, flags (FIN/PSH end the burst, CWR starts it), full checksum.
    store_be32(f, l->tcp + 4, static_cast<uint32_t>(seq0 + off));
    uint8_t fl = flags0;
    if (!last) fl &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i > 0) fl &= static_cast<uint8_t>(~kTcpCwr);
    f[l->tcp + 13] = fl;
    const size_t tlen = f.size() - l->tcp;
    store_be16(f, l->tcp + 16, 0);
    const uint16_t ph = pseudo_header_sum_v4(src, dst, 6, static_cast<uint16_t>(tlen));
    store_be16(f, l->tcp + 16, csum_finish(csum_partial(f.subspan(l->tcp), ph)));
    s->copy_metadata_from(frame);
    s->set_mac_header();
    segs.push_back(std::move(s));
    if (plen == 0) break;
  }
  out.splice_back(segs);
  return Ok();
}

}  // namespace ustack::dev
