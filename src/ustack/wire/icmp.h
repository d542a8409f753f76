// wire/icmp.h — ICMPv4 messages (RFC 792): IcmpView over a message, IcmpRepr for what it means.
//
// Modelled: echo request/reply (8/0, code 0), destination unreachable (3, codes 0..15, with the
// RFC 1191 next-hop MTU for code 4) and time exceeded (11, codes 0..1). Errors carry the quoted
// original datagram as an IcmpQuote (its IPv4 header parsed leniently, RFC 792 / RFC 1812
// §4.3.2.3). Everything else (redirect, parameter problem, timestamp, router discovery, an echo
// with a nonzero code, an unreachable code above 15, ...) parses to IcmpOther, which carries
// type, code, rest-of-header and data verbatim. The choice over kUnsupported: the message is
// well-formed, so dropping it is the ICMP layer's policy decision (RFC 1122 §3.2.2: silently
// discard unknown types), with its own counter, not a wire error; and a faithful Other lets
// tests and tools see and re-emit any message byte for byte.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <variant>

#include "ustack/base/byteorder.h"
#include "ustack/base/result.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/wire.h"

namespace ustack::wire {

inline constexpr size_t kIcmpHeaderLen = 8;  // type, code, checksum, 4 bytes rest-of-header
// RFC 792: an error quotes the original IP header and at least its first 64 data bits.
inline constexpr size_t kIcmpQuoteMinDataLen = 8;
// RFC 1812 §4.3.2.3 (and RFC 1122 §3.2.2): an ICMP error datagram, IP header included, carries
// as much of the offending datagram as fits in 576 bytes.
inline constexpr size_t kIcmpErrorMaxDatagramLen = 576;

// How many bytes of the offending datagram an error may quote when our own IP header is
// `ip_header_len` bytes: 576 - 20 - 8 = 548 with no options (as Linux's icmp_send computes).
constexpr size_t icmp_error_max_quote_len(size_t ip_header_len = kIpv4MinHeaderLen) {
  return kIcmpErrorMaxDatagramLen - ip_header_len - kIcmpHeaderLen;
}
// The part of `offending` (the datagram that caused the error, IP header first) to quote.
inline std::span<const uint8_t> icmp_error_quote(std::span<const uint8_t> offending,
                                                 size_t ip_header_len = kIpv4MinHeaderLen) {
  return offending.first(std::min(offending.size(), icmp_error_max_quote_len(ip_header_len)));
}

enum class IcmpType : uint8_t {
  kEchoReply = 0,
  kDstUnreachable = 3,
  kSourceQuench = 4,  // deprecated by RFC 6633
  kRedirect = 5,
  kEchoRequest = 8,
  kRouterAdvert = 9,
  kRouterSolicit = 10,
  kTimeExceeded = 11,
  kParamProblem = 12,
  kTimestamp = 13,
  kTimestampReply = 14,
};
constexpr uint8_t to_u8(IcmpType t) { return static_cast<uint8_t>(t); }

// Destination unreachable codes: RFC 792 (0..5), RFC 1122 §3.2.2.1 (6..12), RFC 1812 §5.2.7.1
// (13..15).
enum class DstUnreachable : uint8_t {
  kNetUnreachable = 0,
  kHostUnreachable = 1,
  kProtoUnreachable = 2,
  kPortUnreachable = 3,
  kFragNeeded = 4,  // and DF set: carries the next-hop MTU (RFC 1191 §4)
  kSourceRouteFailed = 5,
  kDstNetUnknown = 6,
  kDstHostUnknown = 7,
  kSrcHostIsolated = 8,
  kNetProhibited = 9,
  kHostProhibited = 10,
  kNetUnreachableForTos = 11,
  kHostUnreachableForTos = 12,
  kAdminProhibited = 13,
  kHostPrecedenceViolation = 14,
  kPrecedenceCutoff = 15,
};
inline constexpr uint8_t kDstUnreachableMaxCode = 15;

enum class TimeExceeded : uint8_t {
  kTtlExceeded = 0,     // in transit (RFC 1812 §5.3.1)
  kFragReassembly = 1,  // reassembly timer ran out (RFC 1122 §3.3.2)
};

class IcmpView {
 public:
  // Needs the 8-byte header (kTruncated). ICMP has no length field: the message is everything
  // the IP payload holds. The checksum is not checked here (IcmpRepr::parse does).
  static Result<IcmpView, WireError> parse(std::span<const uint8_t> message);

  uint8_t type() const { return b_[0]; }
  uint8_t code() const { return b_[1]; }
  uint16_t checksum() const { return load_be16(b_, 2); }
  uint32_t rest_of_header() const { return load_be32(b_, 4); }  // bytes 4..7
  // Bytes 4..5: echo identifier, parameter-problem pointer (high byte).
  uint16_t rest_hi() const { return load_be16(b_, 4); }
  // Bytes 6..7: echo sequence number, next-hop MTU of "fragmentation needed" (RFC 1191 §4).
  uint16_t rest_lo() const { return load_be16(b_, 6); }
  std::span<const uint8_t> data() const { return b_.subspan(kIcmpHeaderLen); }
  std::span<const uint8_t> bytes() const { return b_; }
  // RFC 792: the checksum covers the whole message, header and data.
  bool verify_checksum() const;

 private:
  explicit IcmpView(std::span<const uint8_t> b) : b_(b) {}
  std::span<const uint8_t> b_;
};

// The original datagram an ICMP error quotes: its IP header and at least 8 bytes of its data
// (enough for the transport ports), often less than the whole datagram.
class IcmpQuote {
 public:
  // Lenient on purpose: version 4, IHL >= 5, and IHL*4 + 8 bytes present, else kMalformed.
  // The quoted total length and checksum are NOT checked: the sender may have cut the datagram
  // (RFC 1812 §4.3.2.3) and routers may have rewritten it. Bytes past the quoted datagram's
  // total length (RFC 4884 extensions, padding) are kept: the quote is what the message holds.
  static Result<IcmpQuote, WireError> parse(std::span<const uint8_t> quoted);

  // The quoted header's fields: src(), dst(), protocol(), ident(), ttl(), frag_offset(), ...
  // On this view total_len() is what the original header claimed (it may exceed bytes().size())
  // and payload() is the quoted part of the original data (at least 8 bytes).
  const Ipv4View& ip() const { return ip_; }
  Ipv4Addr src() const { return ip_.src(); }
  Ipv4Addr dst() const { return ip_.dst(); }
  uint8_t protocol() const { return ip_.protocol(); }
  std::span<const uint8_t> bytes() const { return ip_.bytes(); }  // header + quoted data

  friend bool operator==(const IcmpQuote& a, const IcmpQuote& b) {
    return std::ranges::equal(a.bytes(), b.bytes());
  }

 private:
  explicit IcmpQuote(Ipv4View ip) : ip_(ip) {}
  Ipv4View ip_;
};

// Echo data is borrowed from the packet it was parsed from (or the caller's buffer for emit);
// equality compares its contents.
struct IcmpEchoRequest {
  uint16_t ident = 0;
  uint16_t seq_no = 0;
  std::span<const uint8_t> data;
  friend bool operator==(const IcmpEchoRequest& a, const IcmpEchoRequest& b) {
    return a.ident == b.ident && a.seq_no == b.seq_no && std::ranges::equal(a.data, b.data);
  }
};
struct IcmpEchoReply {
  uint16_t ident = 0;
  uint16_t seq_no = 0;
  std::span<const uint8_t> data;
  friend bool operator==(const IcmpEchoReply& a, const IcmpEchoReply& b) {
    return a.ident == b.ident && a.seq_no == b.seq_no && std::ranges::equal(a.data, b.data);
  }
};
struct IcmpDstUnreachable {
  DstUnreachable code;
  // kFragNeeded only (RFC 1191 §4: the low 16 bits of the unused word); 0 for the other codes.
  // 0 with kFragNeeded means a pre-RFC 1191 router that did not say (RFC 1191 §5: guess).
  uint16_t next_hop_mtu = 0;
  IcmpQuote quote;
  bool operator==(const IcmpDstUnreachable&) const = default;
};
struct IcmpTimeExceeded {
  TimeExceeded code;
  IcmpQuote quote;
  bool operator==(const IcmpTimeExceeded&) const = default;
};
// Any message the variants above do not model, verbatim. Parse never produces it for a
// type/code they model, so parse(emit(x)) == x holds for every parsed x.
struct IcmpOther {
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t rest_of_header = 0;
  std::span<const uint8_t> data;
  friend bool operator==(const IcmpOther& a, const IcmpOther& b) {
    return a.type == b.type && a.code == b.code && a.rest_of_header == b.rest_of_header &&
           std::ranges::equal(a.data, b.data);
  }
};

struct IcmpRepr {
  std::variant<IcmpEchoRequest, IcmpEchoReply, IcmpDstUnreachable, IcmpTimeExceeded, IcmpOther> msg;

  // Verifies the checksum over the whole message (kBadChecksum) unless told not to; an error
  // whose quote is not an IPv4 header + 8 bytes is kMalformed. Unused rest-of-header bits of
  // errors are ignored (RFC 792 "unused": senders must zero them, receivers need not check).
  static Result<IcmpRepr, WireError> parse(const IcmpView& v,
                                           Checksum checksum = Checksum::kVerify);

  uint8_t type() const;
  uint8_t code() const;
  // The quoted datagram of an error message; nullptr for echo and other messages.
  const IcmpQuote* quote() const;
  // Header + data (echo data, quote bytes, or other data).
  size_t buffer_len() const;
  // Writes exactly buffer_len() bytes at the start of `message`: header, data (copied unless it
  // already sits at message[8..]), computed checksum. Unused rest-of-header bits are zero. An
  // error's quote is written as given: cut it first with icmp_error_quote() to stay within 576.
  void emit(std::span<uint8_t> message) const;

  bool operator==(const IcmpRepr&) const = default;
};

}  // namespace ustack::wire
