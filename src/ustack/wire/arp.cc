// wire/arp.cc — ARP (RFC 826) parse and emit for IPv4 over Ethernet.
#include "ustack/wire/arp.h"

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"

namespace ustack::wire {

Result<ArpView, WireError> ArpView::parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < kArpFixedLen) return Err{WireError::kTruncated};
  // RFC 826: the address fields' sizes come from ar$hln and ar$pln, so the length a packet
  // needs is known only after reading them. Check it before judging the types, so that a cut
  // packet is reported as truncated whatever it carries.
  const size_t hlen = bytes[4];
  const size_t plen = bytes[5];
  if (bytes.size() < kArpFixedLen + 2 * (hlen + plen)) return Err{WireError::kTruncated};
  if (load_be16(bytes, 0) != kArpHtypeEthernet || load_be16(bytes, 2) != kArpPtypeIpv4 ||
      hlen != 6 || plen != 4) {
    return Err{WireError::kUnsupported};
  }
  return ArpView(bytes.first(kArpLen));  // Ethernet padding after the packet is not ours
}

uint16_t ArpView::op() const { return load_be16(b_, 6); }
Ipv4Addr ArpView::sender_ip() const { return Ipv4Addr{load_be32(b_, 14)}; }
Ipv4Addr ArpView::target_ip() const { return Ipv4Addr{load_be32(b_, 24)}; }

Result<ArpRepr, WireError> ArpRepr::parse(const ArpView& v) {
  const uint16_t op = v.op();
  if (op != to_u16(ArpOp::kRequest) && op != to_u16(ArpOp::kReply)) {
    return Err{WireError::kUnsupported};  // RARP, InARP, or garbage: see ArpOp
  }
  return ArpRepr{static_cast<ArpOp>(op), v.sender_hw(), v.sender_ip(), v.target_hw(),
                 v.target_ip()};
}

void ArpRepr::emit(std::span<uint8_t> out) const {
  USTACK_ASSERT(out.size() >= kArpLen, "ArpRepr::emit: buffer too small");
  store_be16(out, 0, kArpHtypeEthernet);
  store_be16(out, 2, kArpPtypeIpv4);
  out[4] = 6;  // ar$hln
  out[5] = 4;  // ar$pln
  store_be16(out, 6, to_u16(op));
  sender_hw.write(out.data() + 8);
  store_be32(out, 14, sender_ip.v);
  target_hw.write(out.data() + 18);
  store_be32(out, 24, target_ip.v);
}

}  // namespace ustack::wire
