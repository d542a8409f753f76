// wire/addr.h — link and network addresses: MacAddr (EUI-48) and Ipv4Addr.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ustack/base/checksum.h"

namespace ustack::wire {

struct MacAddr {
  std::array<uint8_t, 6> b{};

  static constexpr MacAddr broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  static MacAddr from_bytes(std::span<const uint8_t> six) {
    MacAddr m;
    std::memcpy(m.b.data(), six.data(), 6);
    return m;
  }
  // "02:00:00:00:00:01" (also accepts '-' separators); nullopt if malformed.
  static std::optional<MacAddr> parse(std::string_view s);

  constexpr bool is_broadcast() const { return *this == broadcast(); }
  constexpr bool is_multicast() const { return (b[0] & 0x01) != 0; }  // includes broadcast
  constexpr bool is_unicast() const { return !is_multicast(); }
  constexpr bool is_zero() const { return *this == MacAddr{}; }
  constexpr bool is_local() const { return (b[0] & 0x02) != 0; }  // locally administered
  void write(uint8_t* out) const;
  std::string to_string() const;

  constexpr auto operator<=>(const MacAddr&) const = default;
};

struct Ipv4Addr {
  uint32_t v = 0;  // host order: 10.0.0.1 == 0x0a000001

  static constexpr Ipv4Addr from_octets(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return {uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | d};
  }
  static constexpr Ipv4Addr any() { return {0}; }
  static constexpr Ipv4Addr broadcast() { return {0xffffffffu}; }
  // Dotted quad, strict: four decimal octets 0..255, no leading '+', no empty parts.
  static std::optional<Ipv4Addr> parse(std::string_view s);

  constexpr bool is_unspecified() const { return v == 0; }
  constexpr bool is_broadcast() const { return v == 0xffffffffu; }
  constexpr bool is_multicast() const { return (v >> 28) == 0xe; }      // 224.0.0.0/4
  constexpr bool is_loopback() const { return (v >> 24) == 127; }       // 127.0.0.0/8
  constexpr bool is_link_local() const { return (v >> 16) == 0xa9fe; }  // 169.254.0.0/16
  constexpr std::array<uint8_t, 4> octets() const {
    return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  }
  std::string to_string() const;

  constexpr auto operator<=>(const Ipv4Addr&) const = default;
};

// IP protocol numbers (IANA); the protocol field stays a uint8_t so any byte is representable.
enum class IpProto : uint8_t { kIcmp = 1, kTcp = 6, kUdp = 17 };
constexpr uint8_t to_u8(IpProto p) { return static_cast<uint8_t>(p); }

// The IPv4 pseudo-header UDP and TCP checksums cover (RFC 768, RFC 9293 §3.1).
struct Ipv4Pseudo {
  Ipv4Addr src;
  Ipv4Addr dst;
  // Partial sum for `proto` and the transport length (header + payload).
  constexpr uint16_t sum(uint8_t proto, uint16_t len) const {
    return pseudo_header_sum_v4(src.v, dst.v, proto, len);
  }
  constexpr uint16_t sum(IpProto proto, uint16_t len) const { return sum(to_u8(proto), len); }
};

// Netmask for a prefix length (0..32) in host order.
constexpr uint32_t prefix_mask(int prefix_len) {
  return prefix_len <= 0 ? 0 : prefix_len >= 32 ? 0xffffffffu : ~((1u << (32 - prefix_len)) - 1);
}

}  // namespace ustack::wire
