// transport/tcp_syncookie.h — SYN cookies (RFC 4987 §3.6) encoded as Linux encodes them
// (net/ipv4/syncookies.c).
//
// When a listener's SYN queue is full, it answers a SYN without keeping any state: the
// SYN-ACK's ISN is a cookie from which the final ACK of the handshake proves that the peer
// received our SYN-ACK and lets us rebuild the connection. Linux's layout
// (secure_tcp_syn_cookie):
//
//   cookie = H1(saddr, daddr, sport, dport)          (key 1, count 0)
//          + client ISN
//          + (count << 24)
//          + ((H2(saddr, daddr, sport, dport, count) + mss_index) & 0xFFFFFF)   (key 2)
//
// `count` is a coarse clock; its low 8 bits ride in the top byte. check_tcp_syn_cookie()
// subtracts H1 + ISN, reads the count back from the top byte, rejects it unless it is less than
// MAX_SYNCOOKIE_AGE (2) periods old (the difference is taken mod 2^8, so the counter may wrap),
// and then recovers mss_index by subtracting H2 of that count: a tampered or forged cookie
// yields a garbage 24-bit value that is almost never a valid index (4 out of 2^24).
//
// The period: Linux's tcp_cookie_time() counts jiffies / TCP_SYNCOOKIE_PERIOD with
// TCP_SYNCOOKIE_PERIOD = 60 * HZ, i.e. whole minutes; we count now / 60 s. With the check
// "diff < 2" a cookie therefore lives between 60 and 120 s (the counter may have ticked just
// after it was made).
//
// Only MSS survives in the sequence number (two bits: Linux's msstab). When timestamps were
// negotiated, Linux hides the other options in the low 6 bits of the SYN-ACK's TSval
// (cookie_init_timestamp) and reads them back from the ACK's TSecr (cookie_timestamp_decode);
// both are here too.
//
// Keys: two 128-bit SipHash keys from the stack's seeded Rng (Linux's syncookie_secret[2]).
// The 4-tuple is taken from the listener's side (local = the SYN's destination), like the ISN's.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "ustack/base/rng.h"
#include "ustack/base/time.h"
#include "ustack/transport/tcp_isn.h"
#include "ustack/transport/tcp_siphash.h"

namespace ustack::transport {

// The options a timestamp cookie carries (Linux: snd_wscale/wscale_ok, sack_ok, ecn_ok).
struct SynCookieOptions {
  std::optional<uint8_t> wscale;  // peer's window scale 0..14; nullopt: no window scaling
  bool sack_ok = false;
  bool ecn_ok = false;

  friend constexpr bool operator==(const SynCookieOptions&, const SynCookieOptions&) = default;
};

class SynCookies {
 public:
  // Linux COOKIEBITS / COOKIEMASK: the count lives above bit 24.
  static constexpr int kCookieBits = 24;
  static constexpr uint32_t kCookieMask = (uint32_t{1} << kCookieBits) - 1;
  // Linux TCP_SYNCOOKIE_PERIOD (60 * HZ) and MAX_SYNCOOKIE_AGE.
  static constexpr Duration kPeriod = Duration::s(60);
  static constexpr uint32_t kMaxAge = 2;
  // Linux msstab: 1440 and 1452 are PPPoE, 1460 Ethernet, 536 the RFC 9293 default.
  static constexpr std::array<uint16_t, 4> kMssTable = {536, 1300, 1440, 1460};
  // cookie_init_timestamp's TSBITS and the option bits in TSval's low 6 bits.
  static constexpr int kTsBits = 6;
  static constexpr uint32_t kTsOptWscaleMask = 0xf;
  static constexpr uint32_t kTsOptSack = 1u << 4;
  static constexpr uint32_t kTsOptEcn = 1u << 5;
  static constexpr uint8_t kMaxWscale = 14;  // RFC 7323 §2.3, Linux TCP_MAX_WSCALE

  struct Cookie {
    uint32_t isn = 0;       // our SYN-ACK's sequence number
    uint16_t mss_used = 0;  // the MSS the cookie encodes (what we must honour)
  };

  // Draws the two keys from `rng` (key 1 for H1, key 2 for H2).
  explicit SynCookies(Rng& rng);

  // tcp_cookie_time(): `now` in periods, modulo 2^32 (only the low 8 bits reach the cookie).
  static uint32_t cookie_time(Instant now);

  // __cookie_v4_init_sequence: the cookie for a SYN with sequence `client_isn` whose MSS option
  // said `mss` (536 if absent); encodes the largest table MSS <= mss (536 if mss is smaller).
  Cookie generate(Instant now, const TcpFourTuple& t, uint32_t client_isn, uint16_t mss) const;

  // __cookie_v4_check: for the handshake's ACK, `client_isn` = its SEG.SEQ - 1 and `cookie` =
  // its SEG.ACK - 1. Returns the encoded MSS, or nullopt if the cookie is forged, tampered
  // with, for another 4-tuple or ISN, or MAX_SYNCOOKIE_AGE periods old or more. As in Linux,
  // moving cookie or ISN by one to three only changes the MSS index: whoever can do that saw
  // the SYN-ACK, and could have asked for any MSS in the SYN.
  std::optional<uint16_t> check(Instant now, const TcpFourTuple& t, uint32_t client_isn,
                                uint32_t cookie) const;

  // cookie_init_timestamp: TSval for the SYN-ACK, `ts_now` (our timestamp clock) with its low
  // 6 bits replaced by the options, never greater than ts_now (mod 2^32) so later timestamps
  // stay monotonic.
  static uint32_t init_timestamp(uint32_t ts_now, const SynCookieOptions& opts);
  // cookie_timestamp_decode: the options from the ACK's TSecr (its low 6 bits; wscale 15 means
  // none). Whether the stack still allows SACK, window scaling and ECN is the caller's check,
  // as Linux's sysctl tests in the same function.
  static SynCookieOptions decode_timestamp(uint32_t tsecr);

 private:
  // cookie_hash(): siphash_4u32(saddr, daddr, sport << 16 | dport, count) under key c.
  uint32_t cookie_hash(const TcpFourTuple& t, uint32_t count, int c) const;

  std::array<SipKey, 2> keys_;  // Linux syncookie_secret[2]
};

}  // namespace ustack::transport
