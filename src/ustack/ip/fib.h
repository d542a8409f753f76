// ip/fib.h — the IPv4 forwarding information base (Linux's FIB: `ip route`, tables local and
// main).
//
// Two tables, consulted in Linux's order: LOCAL (our own addresses and the broadcast addresses
// of our subnets: exact matches, type local/broadcast) then MAIN (longest-prefix match; among
// equal prefixes the lowest metric wins; then the earliest added). A route is connected
// (no gateway: the next hop is the destination itself) or via a gateway (the next hop is the
// gateway, which must be reachable through a connected route when the route is added, as
// Linux's "Nexthop has invalid gateway"). Routes of type unreachable/blackhole/prohibit let
// an administrator make a prefix fail on purpose (ICMP net unreachable / silent drop / ICMP
// admin prohibited).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ustack/base/result.h"
#include "ustack/ip/addr_map.h"
#include "ustack/wire/addr.h"

namespace ustack::ip {

enum class RouteType : uint8_t {
  kUnicast,
  kLocal,
  kBroadcast,
  kUnreachable,
  kBlackhole,
  kProhibit
};
std::string_view route_type_name(RouteType t);  // "unicast", "local", ... as ip route

// Who installed the route (rtm_protocol): shown by `ip route` as "proto kernel" etc.
enum class RouteProto : uint8_t { kKernel, kBoot, kStatic };

struct Route {
  wire::Ipv4Addr dst;  // network (host bits zero)
  int prefix_len = 0;
  wire::Ipv4Addr gateway;  // unspecified: directly connected
  int ifindex = 0;
  uint32_t metric = 0;
  RouteType type = RouteType::kUnicast;
  RouteProto proto = RouteProto::kBoot;
  wire::Ipv4Addr prefsrc;  // preferred source ("src" in ip route), unspecified if none
  bool operator==(const Route&) const = default;
};

// The answer to "where does a packet for X go" (fib_result).
struct FibResult {
  RouteType type = RouteType::kUnicast;
  int ifindex = 0;
  wire::Ipv4Addr next_hop;       // gateway, or the destination itself when connected
  wire::Ipv4Addr prefsrc;        // unspecified if the route has none
  const Route* route = nullptr;  // valid until the table changes
};

enum class FibError : uint8_t {
  kExists,      // same dst/len/metric already present (EEXIST)
  kNotFound,    // remove: no such route (ESRCH)
  kBadPrefix,   // prefix_len outside 0..32, or host bits set in dst (EINVAL)
  kBadGateway,  // gateway not reachable through a connected route (ENETUNREACH)
};
std::string_view fib_error_name(FibError e);

class Fib {
 public:
  // ---- LOCAL table: maintained by the stack when addresses are added/removed ----------------
  void add_local(wire::Ipv4Addr addr, int ifindex);      // type local
  void add_broadcast(wire::Ipv4Addr addr, int ifindex);  // type broadcast (subnet broadcast)
  // One entry per address: adding an address again replaces its entry.
  void remove_local(wire::Ipv4Addr addr);    // either type
  bool is_local(wire::Ipv4Addr addr) const;  // type local only

  // ---- MAIN table -----------------------------------------------------------------------
  // A route with a gateway but ifindex 0 takes the device of the connected route the gateway
  // lies in (as Linux fills the nexthop's oif); with an ifindex, that connected route must be
  // on it. Other fields are stored as given.
  Result<void, FibError> add(const Route& r);
  // Removes the route with this dst/len (and metric, if given; else the best one, as
  // `ip route del` removes the first match).
  Result<void, FibError> remove(wire::Ipv4Addr dst, int prefix_len,
                                std::optional<uint32_t> metric = std::nullopt);
  // Interface went away or down: remove every route through it (both tables).
  void remove_interface(int ifindex);

  // fib_lookup: LOCAL first, then longest-prefix match in MAIN. 255.255.255.255 is always
  // broadcast (on ifindex 0: the caller picks the interface). No route: nullopt.
  std::optional<FibResult> lookup(wire::Ipv4Addr dst) const;

  // MAIN, in `ip route` order: Linux dumps its trie in key order, so by dst ascending (default
  // first), then prefix length descending, then metric ascending.
  std::vector<Route> routes() const;
  // `ip route` lines, one per route, each ending in '\n' (without iproute2's trailing space):
  // "default via 192.0.2.1 dev tap0 proto static metric 100",
  // "192.0.2.0/24 dev tap0 proto kernel scope link src 192.0.2.2", "unreachable 10.0.0.0/8".
  // "proto boot" is not printed (iproute2 omits it), nor a zero metric; an interface without a
  // name prints as "if<N>" (as ll_index_to_name).
  std::string format(const std::vector<std::string>& ifnames_by_index) const;
  size_t size() const { return main_count_; }   // MAIN routes
  uint64_t generation() const { return gen_; }  // bumps on every change (route caches)

 private:
  // One exact-match table per prefix length (dst & mask -> that prefix's routes, best first:
  // lowest metric, then earliest added) and a bit per non-empty length. Route vectors move
  // with their slots but their elements do not, so FibResult::route stays valid until the
  // table changes.
  //
  // Which lengths to probe: with few lengths in use, all of them, longest first. With more,
  // an index by the destination's top 16 bits (cf. DIR-16) narrows it down: bit L-1 of
  // by_top16_[a >> 16] is set iff a prefix of length L <= 16 covers a (exact: the first such
  // probe hits) or a prefix of length L > 16 starts with a's top 16 bits (a hint: may miss).
  // A lookup is then one index load plus, typically, one or two probes, whatever the table.
  const Route* best_connected(wire::Ipv4Addr addr, int ifindex) const;
  void bump() { ++gen_; }
  void index_add(uint32_t dst, int len);     // a prefix got its first route
  void index_remove(uint32_t dst, int len);  // a prefix lost its last route
  void rebuild_index();
  static constexpr int kIndexAbove = 4;  // use the index above this many lengths in use

  AddrMap<Route> local_;  // LOCAL: addr -> type local/broadcast (dst = addr, prefix_len 32)
  std::array<AddrMap<std::vector<Route>>, 33> main_;
  uint64_t lengths_ = 0;  // bit n set: main_[n] is not empty
  bool use_index_ = false;
  std::vector<uint32_t> by_top16_;  // 65536 entries once any prefix of length >= 1 exists
  AddrMap<uint32_t> long_counts_;   // (top16 << 4 | len - 17) -> prefixes of that length there
  size_t main_count_ = 0;
  uint64_t gen_ = 0;
};

}  // namespace ustack::ip
