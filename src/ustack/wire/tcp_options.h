// wire/tcp_options.h — TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): a raw walker over
// the option bytes and TcpOptions, the set this stack understands, with Linux's layout on emit.
//
// Parsing rules (what a reviewer should hold next to RFC 9293 §3.2 and Linux's
// tcp_parse_options() in net/ipv4/tcp_input.c):
//  - Options are read byte by byte, never assuming word alignment (MUST-64).
//  - EOL (kind 0) ends the list; the bytes after it are padding and are not looked at.
//  - NOP (kind 1) is a single byte. Every other kind has a length byte counting kind and
//    length (MUST-68). Unknown kinds are skipped by that length (MUST-6).
//  - A length byte < 2, a length running past the options area, or a kind byte with no room
//    for its length byte is an illegal option length (MUST-7): the whole segment is rejected
//    with WireError::kBadOption. DEVIATION from Linux, which stops parsing there and keeps
//    the options seen so far; we drop instead, as RFC 9293 §3.2 suggests ("reset the
//    connection and log the error cause" is the suggested procedure; a drop is the
//    conservative wire-level half of that).
//  - A known kind with the wrong length (MSS != 4, WS != 3, SACK-permitted != 2,
//    Timestamps != 10, SACK not 2+8n with n >= 1) is skipped by its length and otherwise
//    ignored, exactly as Linux does.
//  - A duplicated option: the last one wins (Linux overwrites as it walks; for SACK it keeps
//    the offset of the last SACK option).
//  - Options are recorded whatever the segment's flags (MUST-5: options may appear in any
//    segment). Whether MSS/WS/SACK-permitted count outside a SYN is the state machine's call
//    (Linux honours them only on SYNs). Values are not judged either: MSS 0 is reported as 0.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>

#include "ustack/base/result.h"
#include "ustack/wire/seq.h"
#include "ustack/wire/wire.h"

namespace ustack::wire {

inline constexpr size_t kTcpMaxOptionsLen = 40;    // 60-byte header - 20 fixed bytes
inline constexpr uint8_t kTcpMaxWindowScale = 14;  // RFC 7323 §2.3
inline constexpr size_t kTcpMaxSackBlocks = 4;     // RFC 2018 §3: 2 + 8*4 = 34 <= 40

// Option kinds this file knows (IANA "TCP Option Kind Numbers"). Any other byte is a valid
// kind too: it is skipped by length.
enum class TcpOptionKind : uint8_t {
  kEol = 0,            // RFC 9293 §3.2
  kNop = 1,            // RFC 9293 §3.2
  kMss = 2,            // RFC 9293 §3.2, length 4
  kWindowScale = 3,    // RFC 7323 §2.2, length 3
  kSackPermitted = 4,  // RFC 2018 §2, length 2
  kSack = 5,           // RFC 2018 §3, length 2 + 8n
  kTimestamps = 8,     // RFC 7323 §3.2, length 10
};
constexpr uint8_t to_u8(TcpOptionKind k) { return static_cast<uint8_t>(k); }

// One option as it appears on the wire. `data` is what follows the kind and length bytes
// (empty for NOP) and always points inside the options area the reader was given.
struct TcpOption {
  uint8_t kind = 0;
  std::span<const uint8_t> data;
};

// Walks raw option bytes one option at a time (NOPs included). The reader never looks
// outside the span it was given: hand it TcpView::options().
class TcpOptionReader {
 public:
  explicit TcpOptionReader(std::span<const uint8_t> opts) : b_(opts) {}
  // The next option; nullopt at EOL or at the end of the area; kBadOption on an illegal
  // length (see the file comment). After nullopt or an error, keeps returning the same.
  Result<std::optional<TcpOption>, WireError> next();

 private:
  std::span<const uint8_t> b_;
  size_t off_ = 0;
  bool failed_ = false;
};

// RFC 2018 §3: a SACK block is [left, right), right being the sequence number after the
// last octet received.
struct SackBlock {
  SeqNum left;
  SeqNum right;
  bool operator==(const SackBlock&) const = default;
};

// Up to four SACK blocks, in wire order (RFC 2018 §4: the first is the most recent).
// Equality looks only at the blocks in use.
class SackBlocks {
 public:
  SackBlocks() = default;
  SackBlocks(std::initializer_list<SackBlock> blocks);  // asserts <= kTcpMaxSackBlocks

  // False (and no change) when already full.
  bool push_back(SackBlock b);
  void clear() { n_ = 0; }
  // Keeps the first `n` blocks (n <= size()).
  void truncate(size_t n);
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const SackBlock& operator[](size_t i) const;
  std::span<const SackBlock> blocks() const { return std::span(b_).first(n_); }
  auto begin() const { return blocks().begin(); }
  auto end() const { return blocks().end(); }

  friend bool operator==(const SackBlocks& a, const SackBlocks& b);

 private:
  std::array<SackBlock, kTcpMaxSackBlocks> b_{};
  uint8_t n_ = 0;
};

// RFC 7323 §3.2.
struct TcpTimestamps {
  uint32_t tsval = 0;
  uint32_t tsecr = 0;
  bool operator==(const TcpTimestamps&) const = default;
};

// The options this stack understands, in host order.
//
// Emit layout is Linux's tcp_options_write() (net/ipv4/tcp_output.c), so that what we send
// looks like what Linux sends and Linux captures round-trip byte for byte. Every piece is a
// whole 32-bit word, so no trailing padding is ever needed (MUST-69 holds trivially):
//   MSS                          02 04 mm mm
//   SACK-permitted + Timestamps  04 02 08 0a <tsval> <tsecr>   ("sackOK,TS" on SYNs)
//   Timestamps alone             01 01 08 0a <tsval> <tsecr>
//   SACK-permitted alone         01 01 04 02
//   Window scale                 01 03 03 ss
//   SACK blocks                  01 01 05 len <left right>...
// Only SACK blocks can fail to fit: everything else takes at most 20 of the 40 bytes. Blocks
// that do not fit are dropped from the end, keeping the most recent ones (RFC 2018 §4), as
// Linux does in tcp_established_options(); sack_blocks_that_fit() and as_emitted() say what
// will be written. With Timestamps at most 3 blocks fit; without, 4.
struct TcpOptions {
  std::optional<uint16_t> mss;
  // Shift count, always <= kTcpMaxWindowScale after parse: RFC 7323 §2.3 says a larger value
  // "MUST use 14 instead", and window_scale_clamped records that the peer sent one (input
  // only: emit ignores it and asserts window_scale <= 14).
  std::optional<uint8_t> window_scale;
  bool window_scale_clamped = false;
  bool sack_permitted = false;
  SackBlocks sack;
  std::optional<TcpTimestamps> timestamps;

  // Parses an options area (TcpView::options()); see the file comment for the rules.
  static Result<TcpOptions, WireError> parse(std::span<const uint8_t> opts);
  // The same, filling `out` (reset first): no TcpOptions temporary on the hot path.
  static Result<void, WireError> parse_into(std::span<const uint8_t> opts, TcpOptions& out);

  // Bytes emit() writes: a multiple of 4, at most kTcpMaxOptionsLen.
  size_t len() const;
  // How many of `sack` emit() writes.
  size_t sack_blocks_that_fit() const;
  // What parse(emit()) gives back: SACK blocks trimmed to fit, window_scale_clamped false.
  TcpOptions as_emitted() const;
  // Writes exactly len() bytes at the start of `out` (out.size() >= len()).
  void emit(std::span<uint8_t> out) const;

  bool operator==(const TcpOptions&) const = default;
};

}  // namespace ustack::wire
