#include "ustack/wire/ethernet.h"

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"

namespace ustack::wire {

Result<EthernetView, WireError> EthernetView::parse(std::span<const uint8_t> frame) {
  if (frame.size() < kEthHeaderLen) return Err{WireError::kTruncated};
  const uint16_t outer = load_be16(frame, 12);
  if (outer < 0x0600) return Err{WireError::kUnsupported};  // 802.3 length: LLC, not Ethernet II
  if (outer != to_u16(EtherType::kVlan)) return EthernetView(frame, false);
  if (frame.size() < kEthHeaderLen + kVlanTagLen) return Err{WireError::kTruncated};
  if (load_be16(frame, 16) < 0x0600) return Err{WireError::kUnsupported};
  return EthernetView(frame, true);
}

uint16_t EthernetView::ethertype() const { return load_be16(b_, tagged_ ? 16 : 12); }

std::optional<VlanTag> EthernetView::vlan() const {
  if (!tagged_) return std::nullopt;
  const uint16_t tci = load_be16(b_, 14);
  return VlanTag{static_cast<uint8_t>(tci >> 13), (tci & 0x1000) != 0,
                 static_cast<uint16_t>(tci & 0x0fff)};
}

Result<EthernetRepr, WireError> EthernetRepr::parse(const EthernetView& v) {
  return EthernetRepr{v.dst(), v.src(), v.ethertype(), v.vlan()};
}

void EthernetRepr::emit(std::span<uint8_t> out) const {
  USTACK_ASSERT(out.size() >= header_len(), "EthernetRepr::emit: buffer too small");
  dst.write(out.data());
  src.write(out.data() + 6);
  if (vlan) {
    store_be16(out, 12, to_u16(EtherType::kVlan));
    const uint16_t tci = static_cast<uint16_t>((vlan->pcp & 0x7) << 13 | (vlan->dei ? 0x1000 : 0) |
                                               (vlan->vid & 0x0fff));
    store_be16(out, 14, tci);
    store_be16(out, 16, ethertype);
  } else {
    store_be16(out, 12, ethertype);
  }
}

}  // namespace ustack::wire
