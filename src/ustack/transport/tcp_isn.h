// transport/tcp_isn.h — per-connection secrets: initial sequence numbers (RFC 6528), the
// ephemeral port search offset (RFC 6056) and the timestamp offset (Linux secure_tcp_ts_off).
//
// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a
// timer ticking every 4 microseconds and F a keyed pseudorandom function. The timer keeps a
// reincarnated connection's ISN ahead of the old one's sequence space (RFC 9293 §3.4.1); F
// makes every 4-tuple start at a different, unguessable point of the circle, so an off-path
// attacker cannot predict a sequence number (RFC 6528 §2). F is SipHash-2-4 over the 4-tuple,
// as Linux's secure_tcp_seq (net/core/secure_seq.c). Linux's seq_scale() ticks every 64 ns; we
// keep RFC 6528's 4 us, so an ISN advances 250,000 per second and wraps every ~4.77 hours.
//
// RFC 6056 §3.3.3 (algorithm 3, "simple hash-based"): connect() starts its search for a free
// ephemeral port at offset F(localip, remoteip, remoteport, secretkey2), so different
// destinations see unrelated port sequences while one destination's ports still walk the
// range in order (Linux __inet_hash_connect with secure_ipv4_port_ephemeral). The caller adds
// its own per-search counter and reduces modulo the range size.
//
// The keys come from the stack's seeded Rng at construction (Linux draws them once, lazily,
// with net_get_random_once): same seed, same ISNs, which keeps simulated runs reproducible.
// No clock is read: `now` comes in.
#pragma once

#include <cstdint>

#include "ustack/base/rng.h"
#include "ustack/base/time.h"
#include "ustack/transport/tcp_siphash.h"
#include "ustack/wire/addr.h"
#include "ustack/wire/seq.h"

namespace ustack::transport {

// A connection's addresses seen from this host (local first, as secure_tcp_seq takes them:
// for an incoming SYN, local = its destination).
struct TcpFourTuple {
  wire::Ipv4Addr laddr;
  uint16_t lport = 0;
  wire::Ipv4Addr raddr;
  uint16_t rport = 0;

  friend constexpr bool operator==(const TcpFourTuple&, const TcpFourTuple&) = default;
};

class TcpIsnGenerator {
 public:
  // RFC 6528's M: one tick every 4 microseconds.
  static constexpr int64_t kTickNanos = 4'000;

  // Draws three independent 128-bit keys from `rng`: ISN, port offset, timestamp offset.
  explicit TcpIsnGenerator(Rng& rng);

  // RFC 6528 §3: ISN = M + F(4-tuple, key) (Linux secure_tcp_seq).
  wire::SeqNum isn(Instant now, const TcpFourTuple& t) const {
    return wire::SeqNum{clock_ticks(now) + isn_hash(t)};
  }
  // F alone: the time-independent part of the ISN.
  uint32_t isn_hash(const TcpFourTuple& t) const;
  // RFC 6056 §3.3.3: where connect() starts its ephemeral port search for this destination
  // (Linux secure_ipv4_port_ephemeral). Independent of the local port, which is being chosen.
  uint32_t port_offset(wire::Ipv4Addr laddr, wire::Ipv4Addr raddr, uint16_t rport) const;
  // RFC 7323 §7.1 / Linux secure_tcp_ts_off: a per-address-pair offset added to TSval, so the
  // timestamp clock does not reveal the host's uptime and each peer sees a monotonic clock.
  uint32_t ts_offset(wire::Ipv4Addr laddr, wire::Ipv4Addr raddr) const;

  // M: `now` in 4 us ticks, modulo 2^32 (floor division, so monotonic also before zero).
  static constexpr uint32_t clock_ticks(Instant now) {
    const int64_t n = now.nanos();
    int64_t q = n / kTickNanos;
    if (n % kTickNanos < 0) --q;
    return static_cast<uint32_t>(static_cast<uint64_t>(q));
  }

  const SipKey& isn_key() const { return isn_key_; }
  const SipKey& port_key() const { return port_key_; }

 private:
  SipKey isn_key_;   // Linux net_secret
  SipKey port_key_;  // RFC 6056's secret_key2: unrelated to the ISN key
  SipKey ts_key_;    // Linux ts_secret
};

}  // namespace ustack::transport
