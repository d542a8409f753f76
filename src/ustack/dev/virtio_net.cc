// dev/virtio_net.cc — building and applying virtio-net headers (what a vnet TAP exchanges).
#include "ustack/dev/virtio_net.h"

namespace ustack::dev {
namespace {
uint16_t load_le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void store_le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
}  // namespace

VirtioNetHdr VirtioNetHdr::parse(std::span<const uint8_t, kLen> b) {
  VirtioNetHdr h;
  h.flags = b[0];
  h.gso_type = b[1];
  h.hdr_len = load_le16(&b[2]);
  h.gso_size = load_le16(&b[4]);
  h.csum_start = load_le16(&b[6]);
  h.csum_offset = load_le16(&b[8]);
  return h;
}

void VirtioNetHdr::emit(std::span<uint8_t, kLen> b) const {
  b[0] = flags;
  b[1] = gso_type;
  store_le16(&b[2], hdr_len);
  store_le16(&b[4], gso_size);
  store_le16(&b[6], csum_start);
  store_le16(&b[8], csum_offset);
}

VirtioNetHdr vnet_hdr_from_skb(const PacketBuffer& frame) {
  VirtioNetHdr h;
  if (frame.ip_summed == CsumState::kPartial && frame.csum_start() >= 0) {
    h.flags = kVirtioNetHdrFNeedsCsum;
    h.csum_start = static_cast<uint16_t>(frame.csum_start());
    h.csum_offset = frame.csum_offset();
  } else if (frame.ip_summed == CsumState::kUnnecessary) {
    h.flags = kVirtioNetHdrFDataValid;
  }
  if (frame.is_gso() && frame.gso_type == GsoType::kTcpV4) {
    h.gso_type = kVirtioNetHdrGsoTcpV4;
    h.gso_size = frame.gso_size;
    // hdr_len: up to the end of the TCP header (its data offset, in 32-bit words).
    const auto d = frame.data();
    const size_t th = static_cast<size_t>(frame.csum_start());
    h.hdr_len = static_cast<uint16_t>(
        th + 12 < d.size() ? th + static_cast<size_t>(d[th + 12] >> 4) * 4 : d.size());
  }
  return h;
}

Result<void, VnetError> vnet_hdr_to_skb(const VirtioNetHdr& h, PacketBuffer& frame) {
  const uint8_t gso = h.gso_type & static_cast<uint8_t>(~kVirtioNetHdrGsoEcn);
  if (gso != kVirtioNetHdrGsoNone && (gso != kVirtioNetHdrGsoTcpV4 || h.gso_size == 0))
    return Err{VnetError::kUnsupportedGso};
  if ((h.flags & kVirtioNetHdrFNeedsCsum) != 0 &&
      size_t{h.csum_start} + h.csum_offset + 2 > frame.len())
    return Err{VnetError::kBadCsum};
  if ((h.flags & kVirtioNetHdrFNeedsCsum) != 0) {
    frame.set_csum_partial(h.csum_start, h.csum_offset);
  } else if ((h.flags & kVirtioNetHdrFDataValid) != 0) {
    frame.ip_summed = CsumState::kUnnecessary;
  }
  if (gso == kVirtioNetHdrGsoTcpV4) {
    frame.gso_type = GsoType::kTcpV4;
    frame.gso_size = h.gso_size;
  }
  return Ok();
}

}  // namespace ustack::dev
