// tests/tools/test_frames.h — real Ethernet/IPv4 frames with correct checksums, built by hand.
//
// For device-layer tests that need frames tshark accepts (pcap tests) before the wire/ipv4 and
// wire/udp emitters exist, and as an independent reference for them afterwards. Only base/ is
// used: the bytes are laid out field by field as in RFC 791, RFC 768 and RFC 792.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace ustack::testtools {

struct FrameSpec {
  std::array<uint8_t, 6> dst_mac{0x02, 0, 0, 0, 0, 0x02};
  std::array<uint8_t, 6> src_mac{0x02, 0, 0, 0, 0, 0x01};
  uint32_t src_ip = 0x0a000001;  // 10.0.0.1
  uint32_t dst_ip = 0x0a000002;  // 10.0.0.2
  uint16_t ip_id = 1;
  uint8_t ttl = 64;
  uint16_t src_port = 40000;  // UDP; unassigned ports, so tshark applies no app dissector
  uint16_t dst_port = 40001;
};

// Ethernet + IPv4 (20 bytes, DF clear) + UDP + payload, every checksum right.
std::vector<uint8_t> udp4_frame(const FrameSpec& s, std::span<const uint8_t> payload);
// Ethernet + IPv4 + ICMP echo request (type 8) + payload.
std::vector<uint8_t> icmp4_echo_frame(const FrameSpec& s, uint16_t id, uint16_t seq,
                                      std::span<const uint8_t> payload);

// Byte offsets inside the frames above, for tests that break them on purpose.
constexpr size_t kEthLen = 14;
constexpr size_t kIpv4ChecksumOffset = kEthLen + 10;
constexpr size_t kL4Offset = kEthLen + 20;
constexpr size_t kUdpChecksumOffset = kL4Offset + 6;

}  // namespace ustack::testtools
