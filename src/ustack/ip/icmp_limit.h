// ip/icmp_limit.h — ICMP error rate limiting as Linux does it (net/ipv4/icmp.c).
//
// Two token buckets, both must allow:
//  - global (icmp_global_allow): refills icmp_msgs_per_sec tokens per second up to
//    icmp_msgs_burst; protects the host's CPU and links from an error storm.
//  - per destination (inet_peer_xrlim_allow): one message per icmp_ratelimit, with a burst of
//    6 (XRLIM_BURST_FACTOR); protects each victim from reflected floods.
// Only the types in icmp_ratemask are limited (destination unreachable, source quench, time
// exceeded, parameter problem; never echo replies), and never fragmentation-needed: rate
// limiting it would break path MTU discovery (Linux's icmpv4_mask_allow).
#pragma once

#include <cstdint>
#include <unordered_map>

#include "ustack/base/time.h"
#include "ustack/wire/addr.h"

namespace ustack::ip {

struct IcmpLimitConfig {
  Duration ratelimit = Duration::ms(1000);  // net.ipv4.icmp_ratelimit (per destination)
  uint32_t msgs_per_sec = 1000;             // net.ipv4.icmp_msgs_per_sec
  uint32_t msgs_burst = 50;                 // net.ipv4.icmp_msgs_burst
  uint32_t ratemask = 0x1818;               // net.ipv4.icmp_ratemask: types 3, 4, 11, 12
  size_t max_peers = 4096;                  // bound on per-destination state
};

class IcmpLimiter {
 public:
  enum class Verdict : uint8_t { kAllow, kGlobal, kHost };
  explicit IcmpLimiter(IcmpLimitConfig cfg) : cfg_(cfg), global_tokens_(cfg.msgs_burst) {}

  Verdict allow(Instant now, wire::Ipv4Addr dst, uint8_t type, uint8_t code);
  void set_config(const IcmpLimitConfig& c) { cfg_ = c; }
  size_t peers() const { return peers_.size(); }

 private:
  static constexpr int64_t kBurstFactor = 6;  // XRLIM_BURST_FACTOR
  struct Peer {
    Duration tokens;
    Instant last;
  };
  IcmpLimitConfig cfg_;
  uint32_t global_tokens_;
  Instant global_last_ = Instant::zero();
  int64_t global_frac_ns_ = 0;  // refill remainder, so slow callers are not starved by rounding
  std::unordered_map<uint32_t, Peer> peers_;
};

}  // namespace ustack::ip
