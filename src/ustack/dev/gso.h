// dev/gso.h — software checksum completion and segmentation (net/core/dev.c's
// skb_checksum_help and skb_gso_segment with tcp_gso_segment): what the stack does itself when
// a frame carries offload state (CHECKSUM_PARTIAL, a TCPv4 GSO super-segment) that the device
// it leaves by cannot handle (validate_xmit_skb), e.g. a GSO frame received on a vnet TAP and
// forwarded out of a plain device, or a TCP segment built for TSO whose route changed.
//
// Frames start at the Ethernet header (no VLAN tag: ustack's link output adds none).
#pragma once

#include <cstdint>

#include "ustack/buf/packet_buffer.h"
#include "ustack/buf/packet_queue.h"
#include "ustack/buf/pool.h"

namespace ustack::dev {

enum class GsoError : uint8_t {
  kMalformed,  // not Ethernet + IPv4 + TCP, or the offsets point outside the frame
  kNoMemory,   // the pool refused a segment
};

// skb_checksum_help: finish a CHECKSUM_PARTIAL checksum in software (copy-on-write if the
// bytes are shared); ip_summed becomes kNone. A no-op for other states.
Result<void, GsoError> skb_checksum_help(PacketBuffer& pkt);

// skb_gso_segment for GsoType::kTcpV4: cut `frame` into frames of at most gso_size payload
// bytes each, appended to `out` in order, with finished IPv4 and TCP checksums, consecutive IP
// IDs and sequence numbers, FIN and PSH only on the last segment and CWR only on the first.
// `frame` is not changed. On error `out` holds nothing new.
Result<void, GsoError> skb_gso_segment(const PacketBuffer& frame, BufferPool& pool, size_t headroom,
                                       PacketQueue& out);

}  // namespace ustack::dev
