// wire/icmp.cc — ICMPv4 parsing and emission (see icmp.h for what is modelled).
#include "ustack/wire/icmp.h"

#include <cstring>

#include "ustack/base/assert.h"
#include "ustack/base/checksum.h"

namespace ustack::wire {

Result<IcmpView, WireError> IcmpView::parse(std::span<const uint8_t> message) {
  if (message.size() < kIcmpHeaderLen) return Err{WireError::kTruncated};
  return IcmpView(message);
}

bool IcmpView::verify_checksum() const { return csum_partial(b_) == 0xffff; }

Result<IcmpQuote, WireError> IcmpQuote::parse(std::span<const uint8_t> quoted) {
  // RFC 792: "Internet Header + 64 bits of Original Data Datagram". Only what is needed to
  // read the header and the transport ports is required; see icmp.h for what is not checked.
  if (quoted.size() < kIpv4MinHeaderLen + kIcmpQuoteMinDataLen) return Err{WireError::kMalformed};
  if ((quoted[0] >> 4) != 4) return Err{WireError::kMalformed};
  const size_t ihl = static_cast<size_t>(quoted[0] & 0x0f) * 4;
  if (ihl < kIpv4MinHeaderLen) return Err{WireError::kMalformed};
  if (ihl + kIcmpQuoteMinDataLen > quoted.size()) return Err{WireError::kMalformed};
  return IcmpQuote(Ipv4View(quoted));
}

namespace {

template <class Echo>
Echo parse_echo(const IcmpView& v) {
  return Echo{v.rest_hi(), v.rest_lo(), v.data()};
}

}  // namespace

Result<IcmpRepr, WireError> IcmpRepr::parse(const IcmpView& v, Checksum checksum) {
  // RFC 1122 §3.2.2: the checksum covers the whole message; a bad one is silently discarded.
  if (checksum == Checksum::kVerify && !v.verify_checksum()) return Err{WireError::kBadChecksum};
  const uint8_t code = v.code();
  switch (v.type()) {
    case to_u8(IcmpType::kEchoRequest):
      if (code == 0) return IcmpRepr{parse_echo<IcmpEchoRequest>(v)};  // RFC 792: code 0
      break;
    case to_u8(IcmpType::kEchoReply):
      if (code == 0) return IcmpRepr{parse_echo<IcmpEchoReply>(v)};
      break;
    case to_u8(IcmpType::kDstUnreachable):
      if (code <= kDstUnreachableMaxCode) {
        auto q = IcmpQuote::parse(v.data());
        if (!q) return Err{q.error()};
        const auto c = static_cast<DstUnreachable>(code);
        // RFC 1191 §4: the next-hop MTU sits in the low-order 16 bits of the unused word.
        const uint16_t mtu = c == DstUnreachable::kFragNeeded ? v.rest_lo() : 0;
        return IcmpRepr{IcmpDstUnreachable{c, mtu, *q}};
      }
      break;
    case to_u8(IcmpType::kTimeExceeded):
      if (code <= static_cast<uint8_t>(TimeExceeded::kFragReassembly)) {
        auto q = IcmpQuote::parse(v.data());
        if (!q) return Err{q.error()};
        return IcmpRepr{IcmpTimeExceeded{static_cast<TimeExceeded>(code), *q}};
      }
      break;
    default:
      break;
  }
  return IcmpRepr{IcmpOther{v.type(), code, v.rest_of_header(), v.data()}};
}

namespace {

struct Fields {
  uint8_t type;
  uint8_t code;
  uint32_t rest;
  std::span<const uint8_t> data;
};

Fields fields_of(const IcmpRepr& r) {
  struct Visitor {
    Fields operator()(const IcmpEchoRequest& m) const {
      return {to_u8(IcmpType::kEchoRequest), 0, uint32_t(m.ident) << 16 | m.seq_no, m.data};
    }
    Fields operator()(const IcmpEchoReply& m) const {
      return {to_u8(IcmpType::kEchoReply), 0, uint32_t(m.ident) << 16 | m.seq_no, m.data};
    }
    Fields operator()(const IcmpDstUnreachable& m) const {
      return {to_u8(IcmpType::kDstUnreachable), static_cast<uint8_t>(m.code), m.next_hop_mtu,
              m.quote.bytes()};
    }
    Fields operator()(const IcmpTimeExceeded& m) const {
      return {to_u8(IcmpType::kTimeExceeded), static_cast<uint8_t>(m.code), 0, m.quote.bytes()};
    }
    Fields operator()(const IcmpOther& m) const {
      return {m.type, m.code, m.rest_of_header, m.data};
    }
  };
  return std::visit(Visitor{}, r.msg);
}

}  // namespace

uint8_t IcmpRepr::type() const { return fields_of(*this).type; }
uint8_t IcmpRepr::code() const { return fields_of(*this).code; }

const IcmpQuote* IcmpRepr::quote() const {
  if (auto* m = std::get_if<IcmpDstUnreachable>(&msg)) return &m->quote;
  if (auto* m = std::get_if<IcmpTimeExceeded>(&msg)) return &m->quote;
  return nullptr;
}

size_t IcmpRepr::buffer_len() const { return kIcmpHeaderLen + fields_of(*this).data.size(); }

void IcmpRepr::emit(std::span<uint8_t> message) const {
  const Fields f = fields_of(*this);
  if (const auto* m = std::get_if<IcmpDstUnreachable>(&msg)) {
    USTACK_ASSERT(m->code == DstUnreachable::kFragNeeded || m->next_hop_mtu == 0,
                  "IcmpRepr::emit: next_hop_mtu is for kFragNeeded only");
  }
  USTACK_ASSERT(message.size() >= kIcmpHeaderLen + f.data.size(),
                "IcmpRepr::emit: buffer too small");
  // The data may already be in place (an echo reply built over its request) or overlap the
  // destination, hence memmove, and before the header so that the header cannot clobber it.
  uint8_t* dst = message.data() + kIcmpHeaderLen;
  if (!f.data.empty() && f.data.data() != dst) std::memmove(dst, f.data.data(), f.data.size());
  message[0] = f.type;
  message[1] = f.code;
  store_be16(message, 2, 0);
  store_be32(message, 4, f.rest);
  const auto whole = message.first(kIcmpHeaderLen + f.data.size());
  store_be16(message, 2, inet_checksum(whole));
}

}  // namespace ustack::wire
