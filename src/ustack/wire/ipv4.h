// wire/ipv4.h — the IPv4 header (RFC 791 §3.1, RFC 1122 §3.2.1): Ipv4View, Ipv4Repr, and the
// forwarding helper ipv4_decrement_ttl.
//
// What is a wire error here and what is left to the IP layer:
//  - Wire errors (Ipv4View::parse, Ipv4Repr::parse): anything RFC 791/1122/1812 make impossible
//    (version, IHL, total length, option lengths, checksum, a fragment reaching past 65535).
//  - Policy (IP layer): addresses (a multicast or broadcast source is a martian, RFC 1122
//    §3.2.1.3, but it is a well-formed packet; see ipv4_src_is_martian), TTL, options semantics.
//  - The reserved flag bit (RFC 791 §3.1 "must be zero", RFC 3514's "evil bit") is exposed but
//    never rejected: Linux's ip_rcv_core does not look at it, and a capture (ipv4_test.cc,
//    kReservedBitEcho) shows Linux answering an echo request that has it set. RFC 1122 §1.2.2
//    (be liberal in what you accept) agrees. Ipv4Repr drops it, and emit always writes zero.
#pragma once

#include <cstdint>
#include <span>

#include "ustack/base/byteorder.h"
#include "ustack/base/result.h"
#include "ustack/wire/addr.h"
#include "ustack/wire/wire.h"

namespace ustack::wire {

inline constexpr size_t kIpv4MinHeaderLen = 20;
inline constexpr size_t kIpv4MaxHeaderLen = 60;  // IHL is 4 bits of 32-bit words
inline constexpr size_t kIpv4MaxTotalLen = 65535;

class IcmpQuote;

class Ipv4View {
 public:
  // RFC 791 §3.1 / RFC 1122 §3.2.1.1-.2, in the order of Linux's ip_rcv_core (options last,
  // where ip_options_compile checks them):
  //   < 20 bytes                    -> kTruncated
  //   version != 4                  -> kBadVersion
  //   IHL < 5                       -> kBadHeaderLen
  //   IHL*4 > bytes                 -> kTruncated
  //   total length < IHL*4          -> kBadLength
  //   total length > bytes          -> kTruncated
  //   an option running past IHL*4  -> kBadOption
  // The view is cut to the total length: link padding (Ethernet's 60-byte minimum) is dropped.
  // The checksum is not checked here (Ipv4Repr::parse does, or verify_checksum()).
  static Result<Ipv4View, WireError> parse(std::span<const uint8_t> packet);

  size_t header_len() const { return static_cast<size_t>(b_[0] & 0x0f) * 4; }
  uint16_t total_len() const { return load16(2); }
  uint8_t dscp() const { return b_[1] >> 2; }   // RFC 2474
  uint8_t ecn() const { return b_[1] & 0x03; }  // RFC 3168
  uint16_t ident() const { return load16(4); }
  bool reserved_flag() const { return (b_[6] & 0x80) != 0; }  // see the file comment
  bool dont_frag() const { return (b_[6] & 0x40) != 0; }
  bool more_frags() const { return (b_[6] & 0x20) != 0; }
  // In bytes (the field counts 8-byte units): 0..65528.
  uint16_t frag_offset() const { return static_cast<uint16_t>((load16(6) & 0x1fff) * 8); }
  bool is_fragment() const { return more_frags() || frag_offset() != 0; }
  uint8_t ttl() const { return b_[8]; }
  uint8_t protocol() const { return b_[9]; }
  uint16_t checksum() const { return load16(10); }
  Ipv4Addr src() const { return Ipv4Addr{load32(12)}; }
  Ipv4Addr dst() const { return Ipv4Addr{load32(16)}; }
  // RFC 1071: the header, checksum field included, sums to 0xffff.
  bool verify_checksum() const;

  // Bytes 20..header_len(): length-validated options, EOL padding included.
  std::span<const uint8_t> options() const { return b_.subspan(20, header_len() - 20); }
  std::span<const uint8_t> header() const { return b_.first(header_len()); }
  std::span<const uint8_t> payload() const { return b_.subspan(header_len()); }
  // Header + payload: exactly total_len() bytes (for a quoted header, see IcmpQuote).
  std::span<const uint8_t> bytes() const { return b_; }

 private:
  friend class IcmpQuote;  // builds a lenient view of the header an ICMP error quotes
  explicit Ipv4View(std::span<const uint8_t> b) : b_(b) {}
  uint16_t load16(size_t off) const { return load_be16(b_, off); }
  uint32_t load32(size_t off) const { return load_be32(b_, off); }
  std::span<const uint8_t> b_;
};

// RFC 791 §3.2: options are EOL (0, ends the list), NOP (1, one byte), or type, length (>= 2,
// counting the type and length bytes), data. Returns kBadOption if one runs past `options` or
// has a length below 2. Exposed for the IP layer and the tests.
Result<void, WireError> ipv4_check_options(std::span<const uint8_t> options);

struct Ipv4Repr {
  Ipv4Addr src;
  Ipv4Addr dst;
  uint8_t protocol = 0;  // IpProto, or any other byte
  uint8_t ttl = 64;
  uint8_t dscp = 0;  // 6 bits
  uint8_t ecn = 0;   // 2 bits
  uint16_t ident = 0;
  bool dont_frag = false;
  bool more_frags = false;
  uint16_t frag_offset = 0;  // bytes, a multiple of 8
  uint16_t payload_len = 0;  // bytes after the header

  // Verifies the header checksum (kBadChecksum) unless told not to, then rejects what no
  // correct sender can produce:
  //  - kBadLength: this fragment ends past what a datagram can hold: the reassembled datagram is
  //    at least 20 + frag_offset + payload_len bytes, and RFC 791's total length is 16 bits
  //    (the "ping of death"; Linux catches it later, in ip_frag_reasm).
  //  - kMalformed: a fragment with more to follow whose data is not a multiple of 8 bytes (RFC
  //    791 §3.2 fragmentation procedure: the next offset is in 8-byte units). DEVIATION: Linux
  //    trims such a fragment to a multiple of 8 (ip_frag_queue) instead of dropping it.
  // Options are skipped (the view validated their lengths; the IP layer reads view.options()).
  // A fragment with DF also set is accepted: Linux tracks it (max_df_size) rather than drop it.
  static Result<Ipv4Repr, WireError> parse(const Ipv4View& v,
                                           Checksum checksum = Checksum::kVerify);

  size_t header_len() const { return kIpv4MinHeaderLen; }  // we emit no options
  size_t buffer_len() const { return header_len() + payload_len; }
  // Writes exactly header_len() bytes at the start of `out`: total length 20 + payload_len,
  // reserved flag zero, computed checksum. Asserts the fields fit (dscp < 64, ecn < 4,
  // frag_offset a multiple of 8, 20 + payload_len <= 65535).
  void emit(std::span<uint8_t> out) const;

  bool operator==(const Ipv4Repr&) const = default;
};

// RFC 1122 §3.2.1.3 / RFC 1812 §5.3.7: a source address that no host may use (multicast or the
// limited broadcast). The IP layer drops such packets as a policy matter; the wire accepts them.
// A directed-broadcast source needs the interface's prefix, so the IP layer checks that.
constexpr bool ipv4_src_is_martian(Ipv4Addr src) {
  return src.is_multicast() || src.is_broadcast();
}

// RFC 1812 §5.3.1 forwarding: decrement the TTL of the header at the start of `header` (>= 20
// bytes, TTL > 0: the caller sends Time Exceeded instead of forwarding a TTL that would reach
// zero) and update the checksum incrementally (RFC 1624 eqn. 3, csum_replace16 over the
// TTL/protocol word) instead of recomputing it, as Linux's ip_decrease_ttl does.
void ipv4_decrement_ttl(std::span<uint8_t> header);

}  // namespace ustack::wire
