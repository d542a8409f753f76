// transport/tcp_isn.cc — RFC 6528 ISNs, RFC 6056 port offsets, timestamp offsets (Linux
// net/core/secure_seq.c).
#include "ustack/transport/tcp_isn.h"

namespace ustack::transport {

TcpIsnGenerator::TcpIsnGenerator(Rng& rng)
    : isn_key_(SipKey::from_rng(rng)),
      port_key_(SipKey::from_rng(rng)),
      ts_key_(SipKey::from_rng(rng)) {}

uint32_t TcpIsnGenerator::isn_hash(const TcpFourTuple& t) const {
  // secure_tcp_seq: siphash_3u32(saddr, daddr, sport << 16 | dport, &net_secret), truncated.
  const uint32_t ports = static_cast<uint32_t>(t.lport) << 16 | t.rport;
  return static_cast<uint32_t>(siphash_3u32(t.laddr.v, t.raddr.v, ports, isn_key_));
}

uint32_t TcpIsnGenerator::port_offset(wire::Ipv4Addr laddr, wire::Ipv4Addr raddr,
                                      uint16_t rport) const {
  // secure_ipv4_port_ephemeral: siphash_3u32(saddr, daddr, dport, &secret).
  return static_cast<uint32_t>(siphash_3u32(laddr.v, raddr.v, rport, port_key_));
}

uint32_t TcpIsnGenerator::ts_offset(wire::Ipv4Addr laddr, wire::Ipv4Addr raddr) const {
  // secure_tcp_ts_off: siphash_2u32(saddr, daddr, &ts_secret); a 3rd word keeps one helper.
  return static_cast<uint32_t>(siphash_3u32(laddr.v, raddr.v, 0, ts_key_));
}

}  // namespace ustack::transport
