// wire/udp.h — UDP datagrams over IPv4 (RFC 768, RFC 1122 §4.1.3.4).
//
// An 8-byte header (ports, length, checksum) and the payload. The checksum covers the IPv4
// pseudo-header, the header and the payload; over IPv4 a checksum field of 0 means the sender
// computed none (RFC 768), and a computed checksum of 0 is sent as 0xffff instead.
#pragma once

#include <cstdint>
#include <span>

#include "ustack/base/result.h"
#include "ustack/wire/addr.h"
#include "ustack/wire/wire.h"

namespace ustack::wire {

inline constexpr size_t kUdpHeaderLen = 8;
inline constexpr size_t kUdpMaxPayload = 0xffff - kUdpHeaderLen;  // the length field is 16 bits

class UdpView {
 public:
  // Needs 8 bytes and then as many as the length field says (kTruncated otherwise); a length
  // field below 8 cannot be (kBadLength). The view is cut to the length field: bytes after it
  // (Ethernet padding, or an IP payload longer than the datagram) are dropped, as Linux trims
  // them in __udp4_lib_rcv().
  static Result<UdpView, WireError> parse(std::span<const uint8_t> bytes);

  uint16_t src_port() const;
  uint16_t dst_port() const;
  uint16_t length() const;    // header + payload, == bytes().size()
  uint16_t checksum() const;  // the raw field; 0 = none
  std::span<const uint8_t> payload() const { return b_.subspan(kUdpHeaderLen); }
  std::span<const uint8_t> bytes() const { return b_; }

  // RFC 1122 §4.1.3.4: true if the checksum field is 0 (none sent, allowed over IPv4) or the
  // one's-complement sum over pseudo-header, header and payload verifies.
  bool checksum_ok(const Ipv4Pseudo& ph) const;

 private:
  explicit UdpView(std::span<const uint8_t> b) : b_(b) {}
  std::span<const uint8_t> b_;
};

struct UdpRepr {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;

  // kBadChecksum unless the checksum is absent (0) or verifies over `ph`, header and payload;
  // Checksum::kIgnore skips the check. Port 0 is accepted here: refusing it is socket policy.
  static Result<UdpRepr, WireError> parse(const UdpView& v, const Ipv4Pseudo& ph,
                                          Checksum check = Checksum::kVerify);
  size_t header_len() const { return kUdpHeaderLen; }
  size_t buffer_len(size_t payload_len) const { return kUdpHeaderLen + payload_len; }

  // `datagram` is the whole datagram with the payload already in place after 8 bytes of
  // room: datagram.size() == buffer_len(payload_len) <= 65535. Writes exactly the 8-byte
  // header, with the length and the checksum over `ph`, header and payload; a computed 0 is
  // sent as 0xffff (RFC 768), since 0 would mean "no checksum".
  void emit(std::span<uint8_t> datagram, const Ipv4Pseudo& ph) const;
  // The same with the checksum field 0, "no checksum" (RFC 768; Linux SO_NO_CHECK). Only for
  // IPv4 (RFC 8200 §8.1 forbids it over IPv6) and only when something below already protects
  // the payload, or to build test input; emit() is the default.
  void emit_without_checksum(std::span<uint8_t> datagram) const;

  bool operator==(const UdpRepr&) const = default;
};

}  // namespace ustack::wire
