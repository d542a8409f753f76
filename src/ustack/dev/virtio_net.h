// dev/virtio_net.h — the virtio-net header (struct virtio_net_hdr, include/uapi/linux/
// virtio_net.h) that a TAP opened with IFF_VNET_HDR puts in front of every frame.
//
// It carries the offload state of the frame that follows, so that a whole TSO/GSO frame (up to
// 64 KiB) crosses the TAP in one read() or write() and checksums need not be computed twice:
//   flags      NEEDS_CSUM: the transport checksum is partial (CHECKSUM_PARTIAL): the field at
//              csum_start + csum_offset (from the Ethernet header) holds the pseudo-header sum
//              and the rest is to be summed by whoever needs it finished;
//              DATA_VALID: the checksum was verified (CHECKSUM_UNNECESSARY).
//   gso_type   NONE, or TCPV4 (the frame is a TCPv4 super-segment to cut into gso_size-byte
//              payloads; ECN (0x80) says CWR may be set on the first one only).
//   hdr_len    the length of the headers in front of the payload (Ethernet + IP + TCP).
// Fields are little-endian: the legacy format is the host's byte order, and TapDevice sets
// TUNSETVNETLE so that it is little-endian on every host.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "ustack/base/result.h"
#include "ustack/buf/packet_buffer.h"

namespace ustack::dev {

inline constexpr uint8_t kVirtioNetHdrFNeedsCsum = 1;
inline constexpr uint8_t kVirtioNetHdrFDataValid = 2;
inline constexpr uint8_t kVirtioNetHdrGsoNone = 0;
inline constexpr uint8_t kVirtioNetHdrGsoTcpV4 = 1;
inline constexpr uint8_t kVirtioNetHdrGsoUdp = 3;
inline constexpr uint8_t kVirtioNetHdrGsoTcpV6 = 4;
inline constexpr uint8_t kVirtioNetHdrGsoEcn = 0x80;

struct VirtioNetHdr {
  static constexpr size_t kLen = 10;  // sizeof(struct virtio_net_hdr)
  uint8_t flags = 0;
  uint8_t gso_type = kVirtioNetHdrGsoNone;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;

  static VirtioNetHdr parse(std::span<const uint8_t, kLen> b);
  void emit(std::span<uint8_t, kLen> b) const;
  bool operator==(const VirtioNetHdr&) const = default;
};

enum class VnetError : uint8_t {
  kBadCsum,         // NEEDS_CSUM with the checksum field outside the frame
  kUnsupportedGso,  // a GSO type other than TCPV4 (UDP, TCPv6), or gso_size 0
};

// virtio_net_hdr_from_skb: the header describing `frame` (data() = Ethernet header).
VirtioNetHdr vnet_hdr_from_skb(const PacketBuffer& frame);
// virtio_net_hdr_to_skb: apply `h` to a received `frame` (its ip_summed, csum_start/offset,
// gso_type/size). The frame is left unchanged on error.
Result<void, VnetError> vnet_hdr_to_skb(const VirtioNetHdr& h, PacketBuffer& frame);

}  // namespace ustack::dev
