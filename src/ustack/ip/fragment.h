// ip/fragment.h — IPv4 fragmentation on output (RFC 791 §3.2 "fragmentation procedure", as
// Linux's ip_do_fragment slow path).
//
// The datagram is split into fragments whose total length fits the MTU: each carries the
// original header (options: only those with the copied flag in fragments after the first,
// RFC 791 §3.1), a payload that is a multiple of 8 bytes except in the last, its offset, and
// MF set in all but the last (or in the last too if the original had MF: re-fragmenting a
// fragment). Every fragment is a new buffer with `headroom` bytes free for the link header;
// payload bytes are copied once. Metadata (ifindex, mark, trace_id, protocol) is copied.
#pragma once

#include <cstdint>
#include <functional>

#include "ustack/base/result.h"
#include "ustack/buf/pool.h"

namespace ustack::ip {

struct FragStats {
  uint64_t frag_oks = 0;      // FragOKs: datagrams fragmented
  uint64_t frag_fails = 0;    // FragFails: datagrams that needed it and could not be (DF, memory)
  uint64_t frag_creates = 0;  // FragCreates: fragments generated
};

enum class FragError : uint8_t {
  kDontFragment,  // DF set: the caller sends ICMP fragmentation needed (RFC 1191)
  kMtuTooSmall,   // MTU below header + 8 bytes (RFC 791 requires 68)
  kNoMemory,      // pool exhausted: fragments already emitted stay emitted, the rest dropped
  kMalformed,     // data() does not hold a valid IPv4 header with total_len == len()
};

// Splits the IPv4 datagram at pkt.data() (header checksum valid) into fragments of at most
// `mtu` bytes and calls `emit` for each, in offset order. Counts into `stats`. `ignore_df`
// fragments even with DF set (used for locally generated packets larger than the PMTU only
// when the socket allows it; the forwarding path never sets it).
// Details: fragment payload = floor((mtu - that fragment's header length) / 8) * 8; fragments
// after the first carry only the copied options, EOL-padded to a multiple of 4 (RFC 791's
// procedure; Linux instead NOPs the others out in place); DF is kept, the reserved bit cleared.
// A datagram that already fits is emitted as one copy and counts nothing. FragFails counts
// kDontFragment, kMtuTooSmall and kNoMemory; kMalformed counts nothing.
Result<void, FragError> ip_fragment(const PacketBuffer& pkt, uint32_t mtu, BufferPool& pool,
                                    size_t headroom, FragStats& stats,
                                    const std::function<void(PacketPtr)>& emit,
                                    bool ignore_df = false);

}  // namespace ustack::ip
