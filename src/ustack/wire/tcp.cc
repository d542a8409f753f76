// wire/tcp.cc — TCP header parse/emit and checksum (RFC 9293 §3.1).
#include "ustack/wire/tcp.h"

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"

namespace ustack::wire {
namespace {

constexpr size_t kMaxSegmentLen = 0xffff;

}  // namespace

std::string TcpFlags::to_string() const {
  // tcpdump print-tcp.c tcp_flag_values order.
  static constexpr struct {
    TcpFlag f;
    char c;
  } kLetters[] = {{TcpFlag::kFin, 'F'}, {TcpFlag::kSyn, 'S'}, {TcpFlag::kRst, 'R'},
                  {TcpFlag::kPsh, 'P'}, {TcpFlag::kAck, '.'}, {TcpFlag::kUrg, 'U'},
                  {TcpFlag::kEce, 'E'}, {TcpFlag::kCwr, 'W'}, {TcpFlag::kAe, 'e'}};
  if (empty()) return "[none]";
  std::string s = "[";
  for (const auto& l : kLetters) {
    if (has(l.f)) s += l.c;
  }
  s += ']';
  return s;
}

Result<TcpView, WireError> TcpView::parse(std::span<const uint8_t> segment) {
  if (segment.size() < kTcpHeaderLen) return Err{WireError::kTruncated};
  const size_t doff = segment[12] >> 4;
  if (doff < kTcpHeaderLen / 4) return Err{WireError::kBadHeaderLen};
  if (doff * 4 > segment.size()) return Err{WireError::kTruncated};
  return TcpView(segment);
}

uint16_t TcpView::src_port() const { return load_be16(b_, 0); }
uint16_t TcpView::dst_port() const { return load_be16(b_, 2); }
SeqNum TcpView::seq() const { return SeqNum{load_be32(b_, 4)}; }
SeqNum TcpView::ack() const { return SeqNum{load_be32(b_, 8)}; }
TcpFlags TcpView::flags() const { return TcpFlags::from_bits(load_be16(b_, 12)); }
uint16_t TcpView::window() const { return load_be16(b_, 14); }
uint16_t TcpView::checksum() const { return load_be16(b_, 16); }
uint16_t TcpView::urgent() const { return load_be16(b_, 18); }

bool TcpView::checksum_ok(const Ipv4Pseudo& ph) const {
  if (b_.size() > kMaxSegmentLen) return false;
  // Summing the segment with its checksum in place gives 0xffff (negative zero) when it
  // verifies. The sum cannot be +0: the pseudo-header's protocol word is non-zero.
  const uint16_t len = static_cast<uint16_t>(b_.size());
  return csum_partial(b_, ph.sum(IpProto::kTcp, len)) == 0xffff;
}

Result<TcpRepr, WireError> TcpRepr::parse(const TcpView& v, const Ipv4Pseudo& ph, Checksum check) {
  if (v.bytes().size() > kMaxSegmentLen) return Err{WireError::kBadLength};
  if (check == Checksum::kVerify && !v.checksum_ok(ph)) return Err{WireError::kBadChecksum};
  Result<TcpRepr, WireError> out(std::in_place);  // filled in place: no Repr copies
  TcpRepr& r = *out;
  if (auto ok = TcpOptions::parse_into(v.options(), r.options); !ok) return Err{ok.error()};
  r.src_port = v.src_port();
  r.dst_port = v.dst_port();
  r.seq = v.seq();
  r.ack = v.ack();
  r.flags = v.flags();
  r.window = v.window();
  r.urgent = v.urgent();
  return out;
}

void TcpRepr::emit(std::span<uint8_t> segment, const Ipv4Pseudo& ph) const {
  const size_t hlen = header_len();
  USTACK_ASSERT(segment.size() >= hlen, "TcpRepr::emit: buffer smaller than the header");
  USTACK_ASSERT(segment.size() <= kMaxSegmentLen, "TcpRepr::emit: segment over 65535 bytes");
  store_be16(segment, 0, src_port);
  store_be16(segment, 2, dst_port);
  store_be32(segment, 4, seq.v);
  store_be32(segment, 8, ack.v);
  // Data offset in the top 4 bits; reserved bits zero (RFC 9293 §3.1); AE and the rest.
  store_be16(segment, 12, static_cast<uint16_t>((hlen / 4) << 12 | flags.bits()));
  store_be16(segment, 14, window);
  store_be16(segment, 16, 0);
  store_be16(segment, 18, urgent);
  options.emit(segment.subspan(kTcpHeaderLen, hlen - kTcpHeaderLen));
  const uint16_t len = static_cast<uint16_t>(segment.size());
  store_be16(segment, 16, csum_finish(csum_partial(segment, ph.sum(IpProto::kTcp, len))));
}

void TcpRepr::emit_header(std::span<uint8_t> header, std::span<const uint8_t> payload,
                          const Ipv4Pseudo& ph, std::optional<uint16_t> payload_sum) const {
  const size_t hlen = header_len();
  USTACK_ASSERT(header.size() == hlen, "TcpRepr::emit_header: span is not the header");
  USTACK_ASSERT(hlen + payload.size() <= kMaxSegmentLen, "TcpRepr::emit_header: over 65535 bytes");
  store_be16(header, 0, src_port);
  store_be16(header, 2, dst_port);
  store_be32(header, 4, seq.v);
  store_be32(header, 8, ack.v);
  store_be16(header, 12, static_cast<uint16_t>((hlen / 4) << 12 | flags.bits()));
  store_be16(header, 14, window);
  store_be16(header, 16, 0);
  store_be16(header, 18, urgent);
  options.emit(header.subspan(kTcpHeaderLen, hlen - kTcpHeaderLen));
  // The header is a multiple of 4 bytes, so its sum and the payload's add up (RFC 1071 §2).
  const uint16_t len = static_cast<uint16_t>(hlen + payload.size());
  const uint16_t psum = payload_sum ? *payload_sum : csum_partial(payload);
  const uint16_t sum = csum_add(csum_partial(header, ph.sum(IpProto::kTcp, len)), psum);
  store_be16(header, 16, csum_finish(sum));
}

}  // namespace ustack::wire
