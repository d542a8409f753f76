// ip/fib.cc — the FIB: LOCAL exact matches, MAIN longest-prefix match by one hash table per
// prefix length, and `ip route` printing.
#include "ustack/ip/fib.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

namespace ustack::ip {

using wire::Ipv4Addr;
using wire::prefix_mask;

std::string_view route_type_name(RouteType t) {
  switch (t) {
    case RouteType::kUnicast:
      return "unicast";
    case RouteType::kLocal:
      return "local";
    case RouteType::kBroadcast:
      return "broadcast";
    case RouteType::kUnreachable:
      return "unreachable";
    case RouteType::kBlackhole:
      return "blackhole";
    case RouteType::kProhibit:
      return "prohibit";
  }
  return "unknown";
}

std::string_view fib_error_name(FibError e) {
  switch (e) {
    case FibError::kExists:
      return "route exists";
    case FibError::kNotFound:
      return "no such route";
    case FibError::kBadPrefix:
      return "invalid prefix";
    case FibError::kBadGateway:
      return "nexthop has invalid gateway";
  }
  return "unknown";
}

namespace {

std::string_view proto_name(RouteProto p) {
  switch (p) {
    case RouteProto::kKernel:
      return "kernel";
    case RouteProto::kBoot:
      return "boot";
    case RouteProto::kStatic:
      return "static";
  }
  return "unknown";
}

Route local_route(Ipv4Addr addr, int ifindex, RouteType type) {
  Route r;
  r.dst = addr;
  r.prefix_len = 32;
  r.ifindex = ifindex;
  r.type = type;
  r.proto = RouteProto::kKernel;
  // Linux's local routes carry the address itself as preferred source ("local X ... src X").
  if (type == RouteType::kLocal) r.prefsrc = addr;
  return r;
}

FibResult main_result(const Route& r, Ipv4Addr dst) {
  return FibResult{r.type, r.ifindex, r.gateway.is_unspecified() ? dst : r.gateway, r.prefsrc, &r};
}

bool valid_prefix(Ipv4Addr dst, int len) {
  return len >= 0 && len <= 32 && (dst.v & ~prefix_mask(len)) == 0;
}

// The connected routes a gateway may sit in: unicast, no gateway of their own (Linux's
// fib_check_nh_v4_gw wants the gateway's own route to be scope link).
bool is_connected(const Route& r) {
  return r.type == RouteType::kUnicast && r.gateway.is_unspecified();
}

}  // namespace

// ---- LOCAL -----------------------------------------------------------------------------

void Fib::add_local(Ipv4Addr addr, int ifindex) {
  local_[addr.v] = local_route(addr, ifindex, RouteType::kLocal);
  bump();
}

void Fib::add_broadcast(Ipv4Addr addr, int ifindex) {
  local_[addr.v] = local_route(addr, ifindex, RouteType::kBroadcast);
  bump();
}

void Fib::remove_local(Ipv4Addr addr) {
  if (local_.erase(addr.v)) bump();
}

bool Fib::is_local(Ipv4Addr addr) const {
  const Route* r = local_.find(addr.v);
  return r != nullptr && r->type == RouteType::kLocal;
}

// ---- MAIN ------------------------------------------------------------------------------

const Route* Fib::best_connected(Ipv4Addr addr, int ifindex) const {
  for (int len = 32; len >= 0; --len) {
    if ((lengths_ >> len & 1) == 0) continue;
    const std::vector<Route>* rs = main_[len].find(addr.v & prefix_mask(len));
    if (rs == nullptr) continue;
    for (const Route& r : *rs) {
      if (is_connected(r) && (ifindex == 0 || r.ifindex == ifindex)) return &r;
    }
  }
  return nullptr;
}

Result<void, FibError> Fib::add(const Route& in) {
  if (!valid_prefix(in.dst, in.prefix_len)) return Err{FibError::kBadPrefix};
  Route r = in;
  if (!r.gateway.is_unspecified()) {
    // fib_check_nh_v4_gw: the gateway must be on a link we are attached to, through the
    // route's device if one is named. A route without a device takes the connected route's.
    const Route* via = best_connected(r.gateway, r.ifindex);
    if (via == nullptr) return Err{FibError::kBadGateway};
    if (r.ifindex == 0) r.ifindex = via->ifindex;
  }
  std::vector<Route>& rs = main_[r.prefix_len][r.dst.v];
  for (const Route& o : rs) {
    if (o.metric == r.metric) return Err{FibError::kExists};
  }
  // Best first: lowest metric; equal metrics cannot coexist (kExists), so "earliest added"
  // among equals holds trivially.
  auto pos = std::upper_bound(rs.begin(), rs.end(), r.metric,
                              [](uint32_t m, const Route& o) { return m < o.metric; });
  if (rs.empty()) index_add(r.dst.v, r.prefix_len);
  rs.insert(pos, r);
  lengths_ |= uint64_t{1} << r.prefix_len;
  use_index_ = std::popcount(lengths_) > kIndexAbove;
  ++main_count_;
  bump();
  return Ok();
}

Result<void, FibError> Fib::remove(Ipv4Addr dst, int prefix_len, std::optional<uint32_t> metric) {
  if (!valid_prefix(dst, prefix_len)) return Err{FibError::kBadPrefix};
  AddrMap<std::vector<Route>>& table = main_[prefix_len];
  std::vector<Route>* rs = table.find(dst.v);
  if (rs == nullptr) return Err{FibError::kNotFound};
  // Without a metric, `ip route del` removes the first match: the best route.
  auto it = metric ? std::find_if(rs->begin(), rs->end(),
                                  [&](const Route& r) { return r.metric == *metric; })
                   : rs->begin();
  if (it == rs->end()) return Err{FibError::kNotFound};
  rs->erase(it);
  --main_count_;
  if (rs->empty()) {
    table.erase(dst.v);
    index_remove(dst.v, prefix_len);
    if (table.empty()) lengths_ &= ~(uint64_t{1} << prefix_len);
    use_index_ = std::popcount(lengths_) > kIndexAbove;
  }
  bump();
  return Ok();
}

void Fib::remove_interface(int ifindex) {
  bool changed = false;
  std::vector<uint32_t> gone;
  local_.for_each([&](uint32_t key, const Route& r) {
    if (r.ifindex == ifindex) gone.push_back(key);
  });
  for (uint32_t key : gone) changed |= local_.erase(key);
  for (int len = 0; len <= 32; ++len) {
    AddrMap<std::vector<Route>>& table = main_[len];
    gone.clear();
    table.for_each([&](uint32_t key, std::vector<Route>& rs) {
      const size_t before = rs.size();
      std::erase_if(rs, [&](const Route& r) { return r.ifindex == ifindex; });
      main_count_ -= before - rs.size();
      changed |= before != rs.size();
      if (rs.empty()) gone.push_back(key);
    });
    for (uint32_t key : gone) table.erase(key);
    if (table.empty()) lengths_ &= ~(uint64_t{1} << len);
  }
  if (changed) {
    rebuild_index();
    bump();
  }
}

// ---- the top-16-bit length index -------------------------------------------------------

void Fib::index_add(uint32_t dst, int len) {
  if (len == 0) return;  // the default route is found through lengths_
  if (by_top16_.empty()) by_top16_.assign(1u << 16, 0);
  const uint32_t bit = 1u << (len - 1);
  const uint32_t top = dst >> 16;
  if (len <= 16) {
    // The prefix covers 2^(16-len) top-16 values, and no other prefix of its length does.
    for (uint32_t t = top; t < top + (1u << (16 - len)); ++t) by_top16_[t] |= bit;
  } else if (++long_counts_[top << 4 | static_cast<uint32_t>(len - 17)] == 1) {
    by_top16_[top] |= bit;
  }
}

void Fib::index_remove(uint32_t dst, int len) {
  if (len == 0) return;
  const uint32_t bit = 1u << (len - 1);
  const uint32_t top = dst >> 16;
  if (len <= 16) {
    for (uint32_t t = top; t < top + (1u << (16 - len)); ++t) by_top16_[t] &= ~bit;
    return;
  }
  const uint32_t key = top << 4 | static_cast<uint32_t>(len - 17);
  uint32_t* n = long_counts_.find(key);
  if (n != nullptr && --*n == 0) {
    long_counts_.erase(key);
    by_top16_[top] &= ~bit;
  }
}

void Fib::rebuild_index() {
  std::fill(by_top16_.begin(), by_top16_.end(), 0);
  long_counts_.clear();
  for (int len = 1; len <= 32; ++len) {
    main_[len].for_each([&](uint32_t key, const std::vector<Route>&) { index_add(key, len); });
  }
  use_index_ = std::popcount(lengths_) > kIndexAbove;
}

// ---- lookup ----------------------------------------------------------------------------

std::optional<FibResult> Fib::lookup(Ipv4Addr dst) const {
  // The limited broadcast never leaves the link it is sent on; the caller picks the link.
  if (dst.is_broadcast()) [[unlikely]]
    return FibResult{RouteType::kBroadcast, 0, dst, {}, nullptr};
  // fib_lookup: the LOCAL table first (our addresses, our subnets' broadcasts).
  if (!local_.empty()) {
    if (const Route* r = local_.find(dst.v))
      return FibResult{r->type, r->ifindex, dst, r->prefsrc, r};
  }
  // MAIN: longest prefix first, over the lengths that may match.
  if (use_index_) {
    uint32_t m = by_top16_[dst.v >> 16];
    while (m != 0) {
      const int len = 32 - __builtin_clz(m);
      m &= ~(1u << (len - 1));
      const std::vector<Route>* rs = main_[len].find(dst.v & prefix_mask(len));
      if (rs == nullptr) continue;
      return main_result(rs->front(), dst);
    }
    if ((lengths_ & 1) == 0) return std::nullopt;
    return main_result(main_[0].find(0)->front(), dst);
  }
  uint64_t m = lengths_;
  while (m != 0) {
    const int len = 63 - __builtin_clzll(m);
    m &= ~(uint64_t{1} << len);
    const std::vector<Route>* rs = main_[len].find(dst.v & prefix_mask(len));
    if (rs == nullptr) continue;
    return main_result(rs->front(), dst);
  }
  return std::nullopt;
}

// ---- ip route ----------------------------------------------------------------------------

std::vector<Route> Fib::routes() const {
  std::vector<Route> out;
  out.reserve(main_count_);
  for (const auto& table : main_) {
    table.for_each([&](uint32_t, const std::vector<Route>& rs) {
      out.insert(out.end(), rs.begin(), rs.end());
    });
  }
  // fib_trie dumps leaves in key order; a leaf's aliases go longest prefix first, then by
  // priority. stable_sort keeps each prefix's best-first order for equal metrics.
  std::stable_sort(out.begin(), out.end(), [](const Route& a, const Route& b) {
    if (a.dst != b.dst) return a.dst < b.dst;
    if (a.prefix_len != b.prefix_len) return a.prefix_len > b.prefix_len;
    return a.metric < b.metric;
  });
  return out;
}

std::string Fib::format(const std::vector<std::string>& ifnames_by_index) const {
  auto ifname = [&](int ifindex) -> std::string {
    if (ifindex >= 0 && static_cast<size_t>(ifindex) < ifnames_by_index.size() &&
        !ifnames_by_index[static_cast<size_t>(ifindex)].empty()) {
      return ifnames_by_index[static_cast<size_t>(ifindex)];
    }
    return fmt::format("if{}", ifindex);
  };
  std::string out;
  for (const Route& r : routes()) {
    // iproute2's print_route, field by field.
    if (r.type != RouteType::kUnicast)
      fmt::format_to(std::back_inserter(out), "{} ", route_type_name(r.type));
    if (r.prefix_len == 0) {
      out += "default";
    } else if (r.prefix_len == 32) {
      out += r.dst.to_string();
    } else {
      fmt::format_to(std::back_inserter(out), "{}/{}", r.dst.to_string(), r.prefix_len);
    }
    if (!r.gateway.is_unspecified()) out += " via " + r.gateway.to_string();
    // Unreachable/blackhole/prohibit routes have no nexthop device in Linux's dump.
    if (r.ifindex != 0 && r.type == RouteType::kUnicast) out += " dev " + ifname(r.ifindex);
    if (r.proto != RouteProto::kBoot)
      fmt::format_to(std::back_inserter(out), " proto {}", proto_name(r.proto));
    // Scope: connected unicast routes are "scope link" (iproute2's default without a gateway);
    // the rest are scope universe, which is not printed.
    if (is_connected(r)) out += " scope link";
    if (!r.prefsrc.is_unspecified()) out += " src " + r.prefsrc.to_string();
    // The kernel sends RTA_PRIORITY only for a nonzero metric.
    if (r.metric != 0) fmt::format_to(std::back_inserter(out), " metric {}", r.metric);
    out += '\n';
  }
  return out;
}

}  // namespace ustack::ip
