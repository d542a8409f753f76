// ip/icmp_limit.cc — the two ICMP token buckets.
#include "ustack/ip/icmp_limit.h"

#include <algorithm>

namespace ustack::ip {

IcmpLimiter::Verdict IcmpLimiter::allow(Instant now, wire::Ipv4Addr dst, uint8_t type,
                                        uint8_t code) {
  if (type > 31 || (cfg_.ratemask & (1u << type)) == 0) return Verdict::kAllow;
  if (type == 3 && code == 4) return Verdict::kAllow;  // fragmentation needed: PMTUD
  // Global bucket: refill by elapsed time (integer arithmetic, remainder carried).
  if (cfg_.msgs_per_sec > 0) {
    int64_t ns = (now - global_last_).nanos() + global_frac_ns_;
    global_last_ = now;
    int64_t per_token = 1'000'000'000 / cfg_.msgs_per_sec;
    int64_t add = per_token > 0 ? ns / per_token : 0;
    global_frac_ns_ = per_token > 0 ? ns % per_token : 0;
    global_tokens_ =
        static_cast<uint32_t>(std::min<int64_t>(cfg_.msgs_burst, int64_t{global_tokens_} + add));
    if (global_tokens_ == 0) return Verdict::kGlobal;
  }
  // Per-destination bucket (inet_peer_xrlim_allow).
  if (cfg_.ratelimit > Duration::zero()) {
    auto it = peers_.find(dst.v);
    if (it == peers_.end()) {
      if (peers_.size() >= cfg_.max_peers) {
        // Forget peers idle long enough to have a full bucket again; if none, forget all.
        Duration full = cfg_.ratelimit * kBurstFactor;
        std::erase_if(peers_, [&](const auto& p) { return now - p.second.last >= full; });
        if (peers_.size() >= cfg_.max_peers) peers_.clear();
      }
      it = peers_.emplace(dst.v, Peer{cfg_.ratelimit * kBurstFactor, now}).first;
    }
    Peer& p = it->second;
    p.tokens = std::min(p.tokens + (now - p.last), cfg_.ratelimit * kBurstFactor);
    p.last = now;
    if (p.tokens < cfg_.ratelimit) return Verdict::kHost;
    p.tokens = p.tokens - cfg_.ratelimit;
  }
  if (cfg_.msgs_per_sec > 0) --global_tokens_;
  return Verdict::kAllow;
}

}  // namespace ustack::ip
