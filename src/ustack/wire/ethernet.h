// wire/ethernet.h — Ethernet II frames (IEEE 802.3 with EtherType) and one 802.1Q tag.
//
// Frames here exclude the FCS (devices strip it, as Linux does unless NETIF_F_RXFCS). A
// frame shorter than 60 bytes is legal on input (a peer may not pad, and TAP never pads);
// output pads to 60 at the device, not here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "ustack/base/result.h"
#include "ustack/wire/addr.h"
#include "ustack/wire/wire.h"

namespace ustack::wire {

inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kVlanTagLen = 4;
inline constexpr size_t kEthMinFrameLen = 60;   // without FCS
inline constexpr size_t kEthMaxPayload = 1500;  // default MTU

enum class EtherType : uint16_t {
  kIpv4 = 0x0800,
  kArp = 0x0806,
  kVlan = 0x8100,  // 802.1Q customer tag
  kIpv6 = 0x86dd,
  kQinQ = 0x88a8,  // 802.1ad service tag
};
constexpr uint16_t to_u16(EtherType t) { return static_cast<uint16_t>(t); }

// IEEE 802.1Q tag control information.
struct VlanTag {
  uint8_t pcp = 0;   // priority code point, 3 bits
  bool dei = false;  // drop eligible indicator
  uint16_t vid = 0;  // VLAN id, 12 bits (0 = priority tag only, 4095 reserved)
  bool operator==(const VlanTag&) const = default;
};

class EthernetView {
 public:
  // Needs 14 bytes, or 18 when the outer EtherType is 802.1Q. Values below 0x0600 are 802.3
  // length fields (LLC/SNAP), not EtherTypes: rejected as kUnsupported.
  static Result<EthernetView, WireError> parse(std::span<const uint8_t> frame);

  MacAddr dst() const { return MacAddr::from_bytes(b_.first(6)); }
  MacAddr src() const { return MacAddr::from_bytes(b_.subspan(6, 6)); }
  // The EtherType of the payload (after the VLAN tag, if any).
  uint16_t ethertype() const;
  std::optional<VlanTag> vlan() const;
  size_t header_len() const { return tagged_ ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen; }
  std::span<const uint8_t> payload() const { return b_.subspan(header_len()); }
  std::span<const uint8_t> bytes() const { return b_; }

 private:
  EthernetView(std::span<const uint8_t> b, bool tagged) : b_(b), tagged_(tagged) {}
  std::span<const uint8_t> b_;
  bool tagged_;
};

struct EthernetRepr {
  MacAddr dst;
  MacAddr src;
  uint16_t ethertype = 0;       // payload EtherType
  std::optional<VlanTag> vlan;  // emitted as an 802.1Q tag when present

  static Result<EthernetRepr, WireError> parse(const EthernetView& v);
  size_t header_len() const { return vlan ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen; }
  size_t buffer_len(size_t payload_len) const { return header_len() + payload_len; }
  // Writes exactly header_len() bytes at the start of `out` (out.size() >= header_len()).
  void emit(std::span<uint8_t> out) const;

  bool operator==(const EthernetRepr&) const = default;
};

}  // namespace ustack::wire
