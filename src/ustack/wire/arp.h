// wire/arp.h — ARP (RFC 826) for IPv4 over Ethernet, the only combination we speak.
//
// The packet is 28 bytes: hardware type, protocol type, their address lengths, the opcode, and
// sender/target hardware and protocol addresses. A frame carrying it is usually padded to the
// Ethernet minimum (60 bytes), so ArpView ignores whatever follows the 28 bytes.
//
// Only the wire format lives here. Policy that Linux applies in arp_process() (drop a sender
// that is multicast or loopback, answer a probe, update the cache on a gratuitous ARP) belongs
// to the neighbour layer, which gets the packet as an ArpRepr.
#pragma once

#include <cstdint>
#include <span>

#include "ustack/base/result.h"
#include "ustack/wire/addr.h"
#include "ustack/wire/wire.h"

namespace ustack::wire {

inline constexpr size_t kArpFixedLen = 8;  // htype, ptype, hlen, plen, op
inline constexpr size_t kArpLen = 28;      // Ethernet + IPv4: 8 + 2 * (6 + 4)
inline constexpr uint16_t kArpHtypeEthernet = 1;
inline constexpr uint16_t kArpPtypeIpv4 = 0x0800;  // an EtherType (RFC 826 "ar$pro")

// RFC 826 and RFC 5227 use only these two. RARP (3/4, RFC 903) and InARP (8/9, RFC 2390) share
// the format but not the meaning, so ArpRepr::parse rejects them (and any other value) as
// WireError::kUnsupported rather than let the neighbour layer mistake them for a request.
enum class ArpOp : uint16_t { kRequest = 1, kReply = 2 };
constexpr uint16_t to_u16(ArpOp op) { return static_cast<uint16_t>(op); }

class ArpView {
 public:
  // Needs the 8-byte fixed part, then 8 + 2 * (hlen + plen) bytes (kTruncated otherwise). A
  // complete packet for anything but Ethernet (htype 1, hlen 6) and IPv4 (ptype 0x0800, plen 4)
  // is kUnsupported. The view covers exactly 28 bytes; trailing link padding is dropped. The
  // opcode is not checked here (see ArpRepr::parse).
  static Result<ArpView, WireError> parse(std::span<const uint8_t> bytes);

  uint16_t op() const;  // raw opcode, possibly neither request nor reply
  MacAddr sender_hw() const { return MacAddr::from_bytes(b_.subspan(8, 6)); }
  Ipv4Addr sender_ip() const;
  MacAddr target_hw() const { return MacAddr::from_bytes(b_.subspan(18, 6)); }
  Ipv4Addr target_ip() const;
  std::span<const uint8_t> bytes() const { return b_; }  // exactly kArpLen bytes

 private:
  explicit ArpView(std::span<const uint8_t> b) : b_(b) {}
  std::span<const uint8_t> b_;
};

struct ArpRepr {
  ArpOp op = ArpOp::kRequest;
  MacAddr sender_hw;
  Ipv4Addr sender_ip;
  MacAddr target_hw;  // RFC 826: "don't care" in a request; Linux sends zeros (arping: ff..ff)
  Ipv4Addr target_ip;

  // kUnsupported for an opcode other than request or reply.
  static Result<ArpRepr, WireError> parse(const ArpView& v);
  size_t header_len() const { return kArpLen; }
  size_t buffer_len() const { return kArpLen; }
  // Writes exactly kArpLen bytes at the start of `out` (out.size() >= kArpLen); no padding.
  void emit(std::span<uint8_t> out) const;

  // A gratuitous ARP (RFC 826 "gratuitous", RFC 5227 §2.3 announcement): the sender states
  // its own binding, so sender and target protocol addresses are equal. Either opcode counts
  // (`arping -U` sends a request, `arping -A` a reply). 0.0.0.0 announces nothing, so a
  // packet with both addresses unspecified is not gratuitous (it may be a probe).
  bool is_gratuitous() const { return sender_ip == target_ip && !sender_ip.is_unspecified(); }
  // An RFC 5227 §2.1.1 address probe: a request whose sender protocol address is all zeros so
  // that no peer caches it (`arping -D`). The target is the address being checked.
  bool is_probe() const { return op == ArpOp::kRequest && sender_ip.is_unspecified(); }

  bool operator==(const ArpRepr&) const = default;
};

}  // namespace ustack::wire
