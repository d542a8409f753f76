// wire/tcp.h — the TCP header (RFC 9293 §3.1): TcpFlags, TcpView over segment bytes, and
// TcpRepr, the validated header with its options (tcp_options.h).
//
// What is NOT judged here, on purpose:
//  - Flag combinations. SYN+FIN, SYN+RST, no flags at all (a "null scan") are all parsed and
//    emitted as given: RFC 9293 §3.10.7 says per state what such segments mean, so the state
//    machine decides (and counts the drop). Rejecting them here would hide them from it.
//  - The reserved bits (RFC 9293 §3.1 "must be zero in generated segments and must be
//    ignored in received segments"). TcpView::reserved() shows them; TcpRepr drops them and
//    emit writes zeros. The bit next to them, AE (RFC 3540's NS, now AccECN's AE), is kept
//    as the raw flag TcpFlag::kAe with no meaning attached.
//  - The urgent pointer and ACK number when URG/ACK are clear: carried as raw fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>

#include "ustack/base/result.h"
#include "ustack/wire/addr.h"
#include "ustack/wire/seq.h"
#include "ustack/wire/tcp_options.h"
#include "ustack/wire/wire.h"

namespace ustack::wire {

inline constexpr size_t kTcpHeaderLen = 20;     // without options
inline constexpr size_t kTcpMaxHeaderLen = 60;  // data offset 15

// One control bit; values are the bit positions in the 16-bit word at offset 12 (low 9 bits).
enum class TcpFlag : uint16_t {
  kFin = 0x001,
  kSyn = 0x002,
  kRst = 0x004,
  kPsh = 0x008,
  kAck = 0x010,
  kUrg = 0x020,
  kEce = 0x040,  // RFC 3168
  kCwr = 0x080,  // RFC 3168
  kAe = 0x100,   // RFC 9293 reserved bit 7 / RFC 3540 NS / AccECN AE: carried raw
};

// A set of TcpFlag.
class TcpFlags {
 public:
  static constexpr uint16_t kMask = 0x1ff;

  constexpr TcpFlags() = default;
  constexpr TcpFlags(std::initializer_list<TcpFlag> flags) {
    for (TcpFlag f : flags) bits_ |= static_cast<uint16_t>(f);
  }
  // Bits outside kMask are dropped.
  static constexpr TcpFlags from_bits(uint16_t bits) {
    TcpFlags f;
    f.bits_ = bits & kMask;
    return f;
  }

  constexpr uint16_t bits() const { return bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool has(TcpFlag f) const { return (bits_ & static_cast<uint16_t>(f)) != 0; }
  constexpr bool fin() const { return has(TcpFlag::kFin); }
  constexpr bool syn() const { return has(TcpFlag::kSyn); }
  constexpr bool rst() const { return has(TcpFlag::kRst); }
  constexpr bool psh() const { return has(TcpFlag::kPsh); }
  constexpr bool ack() const { return has(TcpFlag::kAck); }
  constexpr bool urg() const { return has(TcpFlag::kUrg); }
  constexpr bool ece() const { return has(TcpFlag::kEce); }
  constexpr bool cwr() const { return has(TcpFlag::kCwr); }
  constexpr bool ae() const { return has(TcpFlag::kAe); }
  constexpr TcpFlags& set(TcpFlag f, bool on = true) {
    if (on) {
      bits_ |= static_cast<uint16_t>(f);
    } else {
      bits_ &= static_cast<uint16_t>(~static_cast<uint16_t>(f));
    }
    return *this;
  }
  friend constexpr TcpFlags operator|(TcpFlags a, TcpFlag f) { return a.set(f); }

  // tcpdump's notation, so logs read like the captures next to them: "[S]", "[S.]", "[P.]",
  // "[F.]", "[R.]", "[none]". Letters in tcpdump's order F S R P . U E W, then "e" for AE
  // (tcpdump 4.99 does not print AE at all; newer tcpdump uses "e").
  std::string to_string() const;

  friend constexpr bool operator==(TcpFlags, TcpFlags) = default;

 private:
  uint16_t bits_ = 0;
};

class TcpView {
 public:
  // Needs 20 bytes (kTruncated), a data offset >= 5 (kBadHeaderLen) and data offset * 4 bytes
  // (kTruncated). TCP has no length field: the segment is everything it is given, so the IP
  // layer must already have cut link padding using the IP total length.
  static Result<TcpView, WireError> parse(std::span<const uint8_t> segment);

  uint16_t src_port() const;
  uint16_t dst_port() const;
  SeqNum seq() const;
  SeqNum ack() const;
  uint8_t data_offset() const { return static_cast<uint8_t>(b_[12] >> 4); }  // 32-bit words
  size_t header_len() const { return size_t{data_offset()} * 4; }
  uint8_t reserved() const { return static_cast<uint8_t>((b_[12] >> 1) & 0x7); }  // 3 bits
  TcpFlags flags() const;                                                         // includes AE
  uint16_t window() const;
  uint16_t checksum() const;
  uint16_t urgent() const;
  std::span<const uint8_t> options() const {
    return b_.subspan(kTcpHeaderLen, header_len() - kTcpHeaderLen);
  }
  std::span<const uint8_t> payload() const { return b_.subspan(header_len()); }
  std::span<const uint8_t> bytes() const { return b_; }

  // RFC 9293 §3.1: the checksum over pseudo-header + header + payload verifies. False for a
  // segment longer than 65535 bytes (the pseudo-header cannot describe it).
  bool checksum_ok(const Ipv4Pseudo& ph) const;

 private:
  explicit TcpView(std::span<const uint8_t> b) : b_(b) {}
  std::span<const uint8_t> b_;
};

struct TcpRepr {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  SeqNum seq;
  SeqNum ack;  // carried even when ACK is clear
  TcpFlags flags;
  uint16_t window = 0;  // the raw field: unscaled (RFC 7323 §2.2)
  uint16_t urgent = 0;
  TcpOptions options;

  // kBadLength if the segment is longer than 65535 bytes; kBadChecksum (unless kIgnore);
  // kBadOption for an illegal option length (tcp_options.h). Checksum first: a corrupted
  // segment is reported as corrupted, not as whatever the corruption made of its options.
  static Result<TcpRepr, WireError> parse(const TcpView& v, const Ipv4Pseudo& ph,
                                          Checksum check = Checksum::kVerify);

  // 20 + options.len(): a multiple of 4, at most 60 (see TcpOptions for what is dropped
  // when the options asked for do not fit).
  size_t header_len() const { return kTcpHeaderLen + options.len(); }
  size_t buffer_len(size_t payload_len) const { return header_len() + payload_len; }
  // `segment` is the whole segment, buffer_len(payload_len) bytes (<= 65535), with the
  // payload already in place after header_len() bytes. Writes the header and options and
  // the checksum over pseudo-header + segment.
  void emit(std::span<uint8_t> segment, const Ipv4Pseudo& ph) const;
  // The same with the header and the payload in separate spans (header_len() bytes for the
  // header): a sender whose payload lives in a buffer shared with its retransmission queue
  // writes only the header bytes it pushed. `payload_sum` is csum_partial(payload) if the
  // caller has it (TCP computes it once per skb), or nullopt to compute it here.
  void emit_header(std::span<uint8_t> header, std::span<const uint8_t> payload,
                   const Ipv4Pseudo& ph, std::optional<uint16_t> payload_sum = std::nullopt) const;

  bool operator==(const TcpRepr&) const = default;
};

}  // namespace ustack::wire
