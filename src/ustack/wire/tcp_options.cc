// wire/tcp_options.cc — walking, parsing and emitting TCP options (see tcp_options.h).
#include "ustack/wire/tcp_options.h"

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"

namespace ustack::wire {
namespace {

// Linux's names (include/net/tcp.h TCPOLEN_*).
constexpr size_t kLenMss = 4;
constexpr size_t kLenWindow = 3;
constexpr size_t kLenSackPerm = 2;
constexpr size_t kLenTimestamp = 10;
constexpr size_t kLenSackBase = 2;
constexpr size_t kLenSackPerBlock = 8;
// Word-aligned sizes as emitted (TCPOLEN_*_ALIGNED).
constexpr size_t kAlignedMss = 4;
constexpr size_t kAlignedTimestamp = 12;
constexpr size_t kAlignedSackPerm = 4;
constexpr size_t kAlignedWindow = 4;
constexpr size_t kAlignedSackBase = 4;

constexpr uint8_t kNop = to_u8(TcpOptionKind::kNop);

// Bytes everything but SACK blocks takes in the Linux layout.
size_t fixed_len(const TcpOptions& o) {
  size_t n = 0;
  if (o.mss) n += kAlignedMss;
  if (o.timestamps) {
    n += kAlignedTimestamp;  // SACK-permitted rides in its two NOPs
  } else if (o.sack_permitted) {
    n += kAlignedSackPerm;
  }
  if (o.window_scale) n += kAlignedWindow;
  return n;
}

}  // namespace

Result<std::optional<TcpOption>, WireError> TcpOptionReader::next() {
  if (failed_) return Err{WireError::kBadOption};
  if (off_ >= b_.size()) return std::optional<TcpOption>{};
  const uint8_t kind = b_[off_];
  if (kind == to_u8(TcpOptionKind::kEol)) {
    off_ = b_.size();  // the rest is padding (RFC 9293 §3.2)
    return std::optional<TcpOption>{};
  }
  if (kind == kNop) {
    ++off_;
    return std::optional<TcpOption>{TcpOption{kind, b_.subspan(off_, 0)}};
  }
  // MUST-7: a kind with no room for its length, a length < 2 (which would never advance), or
  // one past the end of the area are all illegal.
  const size_t left = b_.size() - off_;
  if (left < 2 || b_[off_ + 1] < 2 || b_[off_ + 1] > left) {
    failed_ = true;
    return Err{WireError::kBadOption};
  }
  const size_t len = b_[off_ + 1];
  TcpOption opt{kind, b_.subspan(off_ + 2, len - 2)};
  off_ += len;
  return std::optional<TcpOption>{opt};
}

SackBlocks::SackBlocks(std::initializer_list<SackBlock> blocks) {
  USTACK_ASSERT(blocks.size() <= kTcpMaxSackBlocks, "SackBlocks: more than 4 blocks");
  for (const SackBlock& b : blocks) b_[n_++] = b;
}

bool SackBlocks::push_back(SackBlock b) {
  if (n_ == kTcpMaxSackBlocks) return false;
  b_[n_++] = b;
  return true;
}

void SackBlocks::truncate(size_t n) {
  USTACK_ASSERT(n <= n_, "SackBlocks::truncate: growing");
  n_ = static_cast<uint8_t>(n);
}

const SackBlock& SackBlocks::operator[](size_t i) const {
  USTACK_ASSERT(i < n_, "SackBlocks: index out of range");
  return b_[i];
}

bool operator==(const SackBlocks& a, const SackBlocks& b) {
  if (a.n_ != b.n_) return false;
  for (size_t i = 0; i < a.n_; ++i) {
    if (!(a.b_[i] == b.b_[i])) return false;
  }
  return true;
}

Result<TcpOptions, WireError> TcpOptions::parse(std::span<const uint8_t> opts) {
  Result<TcpOptions, WireError> out(std::in_place);
  if (auto r = parse_into(opts, *out); !r) return Err{r.error()};
  return out;
}

Result<void, WireError> TcpOptions::parse_into(std::span<const uint8_t> opts, TcpOptions& o) {
  o = TcpOptions{};
  // Fast paths, as Linux's tcp_fast_parse_options(): no options, or exactly the aligned
  // NOP NOP Timestamps that every data segment of a timestamping connection carries.
  if (opts.empty()) return Ok();
  if (opts.size() == 12 && load_be32(opts, 0) == 0x0101080a) {
    o.timestamps = TcpTimestamps{load_be32(opts, 4), load_be32(opts, 8)};
    return Ok();
  }
  TcpOptionReader reader(opts);
  for (;;) {
    auto r = reader.next();
    if (!r) return Err{r.error()};
    if (!*r) return Ok();
    const TcpOption& opt = **r;
    const size_t len = opt.data.size() + 2;  // back to the on-wire length (NOP: unused)
    // Wrong lengths for known kinds are skipped, as Linux does (see the file comment).
    switch (static_cast<TcpOptionKind>(opt.kind)) {
      case TcpOptionKind::kMss:
        if (len == kLenMss) o.mss = load_be16(opt.data, 0);
        break;
      case TcpOptionKind::kWindowScale:
        if (len == kLenWindow) {
          // RFC 7323 §2.3: log and use 14. Linux: net_info_ratelimited + clamp.
          const uint8_t shift = opt.data[0];
          o.window_scale_clamped = shift > kTcpMaxWindowScale;
          o.window_scale = o.window_scale_clamped ? kTcpMaxWindowScale : shift;
        }
        break;
      case TcpOptionKind::kSackPermitted:
        if (len == kLenSackPerm) o.sack_permitted = true;
        break;
      case TcpOptionKind::kSack:
        // 2 + 8n; n <= 4 follows from the 40-byte area (2 + 8*5 = 42). Given a longer span
        // (not a TcpView's), blocks past the fourth are dropped by push_back().
        if (len >= kLenSackBase + kLenSackPerBlock &&
            (len - kLenSackBase) % kLenSackPerBlock == 0) {
          o.sack.clear();  // last one wins
          for (size_t i = 0; i + kLenSackPerBlock <= opt.data.size(); i += kLenSackPerBlock) {
            o.sack.push_back({SeqNum{load_be32(opt.data, i)}, SeqNum{load_be32(opt.data, i + 4)}});
          }
        }
        break;
      case TcpOptionKind::kTimestamps:
        if (len == kLenTimestamp) {
          o.timestamps = TcpTimestamps{load_be32(opt.data, 0), load_be32(opt.data, 4)};
        }
        break;
      default:
        break;  // NOP, and kinds we do not implement (MUST-6)
    }
  }
}

size_t TcpOptions::sack_blocks_that_fit() const {
  if (sack.empty()) return 0;
  const size_t room = kTcpMaxOptionsLen - fixed_len(*this);
  if (room < kAlignedSackBase + kLenSackPerBlock) return 0;
  const size_t fit = (room - kAlignedSackBase) / kLenSackPerBlock;
  return fit < sack.size() ? fit : sack.size();
}

size_t TcpOptions::len() const {
  const size_t n = sack_blocks_that_fit();
  return fixed_len(*this) + (n ? kAlignedSackBase + n * kLenSackPerBlock : 0);
}

TcpOptions TcpOptions::as_emitted() const {
  TcpOptions o = *this;
  o.sack.truncate(sack_blocks_that_fit());
  o.window_scale_clamped = false;
  return o;
}

void TcpOptions::emit(std::span<uint8_t> out) const {
  USTACK_ASSERT(out.size() >= len(), "TcpOptions::emit: buffer too small");
  USTACK_ASSERT(!window_scale || *window_scale <= kTcpMaxWindowScale,
                "TcpOptions::emit: window scale > 14");
  uint8_t* p = out.data();
  auto put4 = [&p](uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    p[0] = a;
    p[1] = b;
    p[2] = c;
    p[3] = d;
    p += 4;
  };
  // Order and packing follow Linux's tcp_options_write().
  if (mss) {
    put4(to_u8(TcpOptionKind::kMss), kLenMss, static_cast<uint8_t>(*mss >> 8),
         static_cast<uint8_t>(*mss));
  }
  if (timestamps) {
    if (sack_permitted) {
      put4(to_u8(TcpOptionKind::kSackPermitted), kLenSackPerm, to_u8(TcpOptionKind::kTimestamps),
           kLenTimestamp);
    } else {
      put4(kNop, kNop, to_u8(TcpOptionKind::kTimestamps), kLenTimestamp);
    }
    store_be32(p, timestamps->tsval);
    store_be32(p + 4, timestamps->tsecr);
    p += 8;
  } else if (sack_permitted) {
    put4(kNop, kNop, to_u8(TcpOptionKind::kSackPermitted), kLenSackPerm);
  }
  if (window_scale) put4(kNop, to_u8(TcpOptionKind::kWindowScale), kLenWindow, *window_scale);
  if (const size_t n = sack_blocks_that_fit(); n > 0) {
    put4(kNop, kNop, to_u8(TcpOptionKind::kSack),
         static_cast<uint8_t>(kLenSackBase + n * kLenSackPerBlock));
    for (size_t i = 0; i < n; ++i) {
      store_be32(p, sack[i].left.v);
      store_be32(p + 4, sack[i].right.v);
      p += 8;
    }
  }
  USTACK_ASSERT(static_cast<size_t>(p - out.data()) == len(), "TcpOptions::emit: length drift");
}

}  // namespace ustack::wire
