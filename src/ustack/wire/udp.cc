// wire/udp.cc — UDP (RFC 768) parse, checksum verification and emit.
#include "ustack/wire/udp.h"

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"

namespace ustack::wire {
namespace {

// One's-complement sum over pseudo-header, header and payload. The pseudo-header length is
// the UDP length (RFC 768), which is datagram.size() for a parsed view or an emit buffer.
uint16_t udp_sum(std::span<const uint8_t> datagram, const Ipv4Pseudo& ph) {
  return csum_partial(datagram, ph.sum(IpProto::kUdp, static_cast<uint16_t>(datagram.size())));
}

// Writes everything but the checksum field, which is left 0.
void emit_header(const UdpRepr& r, std::span<uint8_t> datagram) {
  USTACK_ASSERT(datagram.size() >= kUdpHeaderLen, "UdpRepr::emit: buffer shorter than header");
  USTACK_ASSERT(datagram.size() <= kUdpHeaderLen + kUdpMaxPayload,
                "UdpRepr::emit: datagram longer than the length field can say");
  store_be16(datagram, 0, r.src_port);
  store_be16(datagram, 2, r.dst_port);
  store_be16(datagram, 4, static_cast<uint16_t>(datagram.size()));
  store_be16(datagram, 6, 0);
}

}  // namespace

Result<UdpView, WireError> UdpView::parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < kUdpHeaderLen) return Err{WireError::kTruncated};
  const uint16_t len = load_be16(bytes, 4);
  if (len < kUdpHeaderLen) return Err{WireError::kBadLength};  // shorter than its own header
  if (len > bytes.size()) return Err{WireError::kTruncated};
  return UdpView(bytes.first(len));  // trailing padding is not part of the datagram
}

uint16_t UdpView::src_port() const { return load_be16(b_, 0); }
uint16_t UdpView::dst_port() const { return load_be16(b_, 2); }
uint16_t UdpView::length() const { return load_be16(b_, 4); }
uint16_t UdpView::checksum() const { return load_be16(b_, 6); }

bool UdpView::checksum_ok(const Ipv4Pseudo& ph) const {
  if (checksum() == 0) return true;  // RFC 768: the sender generated no checksum
  // Summing the received checksum field along with the rest gives 0xffff (-0) exactly when it
  // verifies; an odd-length payload is padded with a zero byte by csum_partial (RFC 1071 §4.1).
  return udp_sum(b_, ph) == 0xffff;
}

Result<UdpRepr, WireError> UdpRepr::parse(const UdpView& v, const Ipv4Pseudo& ph, Checksum check) {
  if (check == Checksum::kVerify && !v.checksum_ok(ph)) return Err{WireError::kBadChecksum};
  return UdpRepr{v.src_port(), v.dst_port()};
}

void UdpRepr::emit(std::span<uint8_t> datagram, const Ipv4Pseudo& ph) const {
  emit_header(*this, datagram);
  uint16_t check = csum_finish(udp_sum(datagram, ph));
  // RFC 768: "If the computed checksum is zero, it is transmitted as all ones"; 0xffff is the
  // same value in one's complement, and 0 would tell the receiver there is no checksum.
  if (check == 0) check = 0xffff;
  store_be16(datagram, 6, check);
}

void UdpRepr::emit_without_checksum(std::span<uint8_t> datagram) const {
  emit_header(*this, datagram);
}

}  // namespace ustack::wire
