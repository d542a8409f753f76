// transport/tcp_syncookie.cc — SYN cookies, Linux's encoding (net/ipv4/syncookies.c).
#include "ustack/transport/tcp_syncookie.h"

#include <algorithm>

namespace ustack::transport {

SynCookies::SynCookies(Rng& rng) : keys_{SipKey::from_rng(rng), SipKey::from_rng(rng)} {}

uint32_t SynCookies::cookie_time(Instant now) {
  const int64_t n = now.nanos();
  const int64_t p = kPeriod.nanos();
  int64_t q = n / p;
  if (n % p < 0) --q;  // floor, so the count never runs backwards
  return static_cast<uint32_t>(static_cast<uint64_t>(q));
}

uint32_t SynCookies::cookie_hash(const TcpFourTuple& t, uint32_t count, int c) const {
  // The SYN's source is the remote end: saddr = raddr, daddr = laddr, as Linux hashes the
  // incoming header.
  const uint32_t ports = static_cast<uint32_t>(t.rport) << 16 | t.lport;
  return static_cast<uint32_t>(siphash_4u32(t.raddr.v, t.laddr.v, ports, count, keys_[c]));
}

SynCookies::Cookie SynCookies::generate(Instant now, const TcpFourTuple& t, uint32_t client_isn,
                                        uint16_t mss) const {
  // __cookie_v4_init_sequence: the largest table entry not above the peer's MSS; index 0
  // (536) when the peer's is smaller still (RFC 9293 §3.7.1: 536 is every host's floor).
  uint32_t mssind = kMssTable.size() - 1;
  for (; mssind > 0; --mssind)
    if (mss >= kMssTable[mssind]) break;
  // secure_tcp_syn_cookie.
  const uint32_t count = cookie_time(now);
  const uint32_t isn = cookie_hash(t, 0, 0) + client_isn + (count << kCookieBits) +
                       ((cookie_hash(t, count, 1) + mssind) & kCookieMask);
  return Cookie{isn, kMssTable[mssind]};
}

std::optional<uint16_t> SynCookies::check(Instant now, const TcpFourTuple& t, uint32_t client_isn,
                                          uint32_t cookie) const {
  // check_tcp_syn_cookie: strip H1 + ISN, leaving (count << 24) + (H2 + data) mod 2^24.
  const uint32_t count = cookie_time(now);
  cookie -= cookie_hash(t, 0, 0) + client_isn;
  // Age in periods, modulo 2^8: the count only has the top byte, so it wraps every 256 periods.
  const uint32_t diff = (count - (cookie >> kCookieBits)) & (~uint32_t{0} >> kCookieBits);
  if (diff >= kMaxAge) return std::nullopt;
  const uint32_t mssind = (cookie - cookie_hash(t, count - diff, 1)) & kCookieMask;
  if (mssind >= kMssTable.size()) return std::nullopt;
  return kMssTable[mssind];
}

uint32_t SynCookies::init_timestamp(uint32_t ts_now, const SynCookieOptions& opts) {
  // RFC 7323 §2.3: a received shift above 14 is used as 14 (and 15 here would read "none").
  uint32_t options = opts.wscale ? std::min<uint32_t>(*opts.wscale, kMaxWscale) : kTsOptWscaleMask;
  if (opts.sack_ok) options |= kTsOptSack;
  if (opts.ecn_ok) options |= kTsOptEcn;
  uint32_t ts = (ts_now >> kTsBits) << kTsBits;
  ts |= options;
  // Never ahead of our clock: the next real TSval must not look older (RFC 7323 §5.3 PAWS).
  if (static_cast<int32_t>(ts - ts_now) > 0) ts -= uint32_t{1} << kTsBits;
  return ts;
}

SynCookieOptions SynCookies::decode_timestamp(uint32_t tsecr) {
  SynCookieOptions o;
  o.sack_ok = (tsecr & kTsOptSack) != 0;
  o.ecn_ok = (tsecr & kTsOptEcn) != 0;
  const uint32_t w = tsecr & kTsOptWscaleMask;
  if (w == kTsOptWscaleMask) return o;  // no window scaling
  // 0..14: a valid shift (init_timestamp never encodes more; 15 is "none").
  o.wscale = static_cast<uint8_t>(w);
  return o;
}

}  // namespace ustack::transport
