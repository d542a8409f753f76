// Fib: LOCAL exact matches, MAIN longest-prefix match, validation, `ip route` printing, and a
// randomized comparison against a linear-scan reference. AddrMap is tested here too.
#include "ustack/ip/fib.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <new>

#include "ustack/base/rng.h"

#include "tools/count_new.h"  // g_news: counts global operator new

namespace ustack::ip {
namespace {

using wire::Ipv4Addr;

Ipv4Addr ip(const char* s) { return *Ipv4Addr::parse(s); }

Route connected(const char* dst, int len, int ifindex, const char* src = nullptr) {
  Route r;
  r.dst = ip(dst);
  r.prefix_len = len;
  r.ifindex = ifindex;
  r.proto = RouteProto::kKernel;
  if (src != nullptr) r.prefsrc = ip(src);
  return r;
}

Route via(const char* dst, int len, const char* gw, uint32_t metric = 0, int ifindex = 0) {
  Route r;
  r.dst = ip(dst);
  r.prefix_len = len;
  r.gateway = ip(gw);
  r.metric = metric;
  r.ifindex = ifindex;
  r.proto = RouteProto::kStatic;
  return r;
}

Route special(RouteType t, const char* dst, int len) {
  Route r;
  r.dst = ip(dst);
  r.prefix_len = len;
  r.type = t;
  return r;
}

TEST(Fib, EmptyTableHasNoRoute) {
  Fib fib;
  EXPECT_FALSE(fib.lookup(ip("192.0.2.1")).has_value());
  EXPECT_EQ(fib.size(), 0u);
  EXPECT_EQ(fib.format({}), "");
}

TEST(Fib, LimitedBroadcastIsAlwaysBroadcastOnNoInterface) {
  Fib fib;
  auto r = fib.lookup(Ipv4Addr::broadcast());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type, RouteType::kBroadcast);
  EXPECT_EQ(r->ifindex, 0);
  ASSERT_TRUE(fib.add(connected("0.0.0.0", 0, 1)).ok());  // even with a default route
  EXPECT_EQ(fib.lookup(Ipv4Addr::broadcast())->type, RouteType::kBroadcast);
  EXPECT_EQ(fib.lookup(Ipv4Addr::broadcast())->ifindex, 0);
}

TEST(Fib, LocalTableComesFirst) {
  Fib fib;
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 1, "192.0.2.2")).ok());
  fib.add_local(ip("192.0.2.2"), 1);
  fib.add_broadcast(ip("192.0.2.255"), 1);

  auto l = fib.lookup(ip("192.0.2.2"));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->type, RouteType::kLocal);
  EXPECT_EQ(l->ifindex, 1);
  EXPECT_EQ(l->prefsrc, ip("192.0.2.2"));
  ASSERT_NE(l->route, nullptr);
  EXPECT_EQ(l->route->prefix_len, 32);
  EXPECT_TRUE(fib.is_local(ip("192.0.2.2")));

  auto b = fib.lookup(ip("192.0.2.255"));
  EXPECT_EQ(b->type, RouteType::kBroadcast);
  EXPECT_EQ(b->ifindex, 1);
  EXPECT_FALSE(fib.is_local(ip("192.0.2.255")));  // ours to receive, not our address

  auto u = fib.lookup(ip("192.0.2.7"));
  EXPECT_EQ(u->type, RouteType::kUnicast);
  EXPECT_EQ(u->next_hop, ip("192.0.2.7"));

  fib.remove_local(ip("192.0.2.2"));
  EXPECT_FALSE(fib.is_local(ip("192.0.2.2")));
  EXPECT_EQ(fib.lookup(ip("192.0.2.2"))->type, RouteType::kUnicast);
  EXPECT_EQ(fib.size(), 1u);  // LOCAL entries are not MAIN routes
}

TEST(Fib, LongestPrefixWins) {
  Fib fib;
  ASSERT_TRUE(fib.add(connected("10.0.0.0", 8, 1)).ok());
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 2)).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "192.0.2.1")).ok());
  ASSERT_TRUE(fib.add(via("10.1.0.0", 16, "10.0.0.1")).ok());
  ASSERT_TRUE(fib.add(via("10.1.2.0", 24, "10.0.0.2")).ok());
  ASSERT_TRUE(fib.add(via("10.1.2.3", 32, "10.0.0.3")).ok());

  EXPECT_EQ(fib.lookup(ip("10.1.2.3"))->next_hop, ip("10.0.0.3"));
  EXPECT_EQ(fib.lookup(ip("10.1.2.4"))->next_hop, ip("10.0.0.2"));
  EXPECT_EQ(fib.lookup(ip("10.1.3.4"))->next_hop, ip("10.0.0.1"));
  EXPECT_EQ(fib.lookup(ip("10.2.3.4"))->next_hop, ip("10.2.3.4"));  // connected /8
  EXPECT_EQ(fib.lookup(ip("10.2.3.4"))->ifindex, 1);
  auto d = fib.lookup(ip("8.8.8.8"));
  EXPECT_EQ(d->next_hop, ip("192.0.2.1"));
  EXPECT_EQ(d->ifindex, 2);  // taken from the connected route the gateway is in
  ASSERT_NE(d->route, nullptr);
  EXPECT_EQ(d->route->prefix_len, 0);
  EXPECT_EQ(fib.size(), 6u);
}

TEST(Fib, EqualPrefixLowestMetricWins) {
  Fib fib;
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 1)).ok());
  ASSERT_TRUE(fib.add(connected("198.51.100.0", 24, 2)).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "192.0.2.1", 200)).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "198.51.100.1", 100)).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "192.0.2.9", 300)).ok());
  EXPECT_EQ(fib.lookup(ip("8.8.8.8"))->next_hop, ip("198.51.100.1"));
  // Same dst/len/metric: EEXIST.
  auto e = fib.add(via("0.0.0.0", 0, "192.0.2.5", 100));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error(), FibError::kExists);
  // Removing the best leaves the next best; without a metric, the best one goes.
  ASSERT_TRUE(fib.remove(ip("0.0.0.0"), 0, 100u).ok());
  EXPECT_EQ(fib.lookup(ip("8.8.8.8"))->next_hop, ip("192.0.2.1"));
  ASSERT_TRUE(fib.remove(ip("0.0.0.0"), 0).ok());
  EXPECT_EQ(fib.lookup(ip("8.8.8.8"))->next_hop, ip("192.0.2.9"));
  EXPECT_EQ(fib.remove(ip("0.0.0.0"), 0, 42u).error(), FibError::kNotFound);
  ASSERT_TRUE(fib.remove(ip("0.0.0.0"), 0).ok());
  EXPECT_FALSE(fib.lookup(ip("8.8.8.8")).has_value());
  EXPECT_EQ(fib.remove(ip("0.0.0.0"), 0).error(), FibError::kNotFound);
}

TEST(Fib, SpecialRoutesAreReturnedAsFound) {
  Fib fib;
  ASSERT_TRUE(fib.add(connected("0.0.0.0", 0, 1)).ok());
  ASSERT_TRUE(fib.add(special(RouteType::kUnreachable, "10.0.0.0", 8)).ok());
  ASSERT_TRUE(fib.add(special(RouteType::kBlackhole, "10.1.0.0", 16)).ok());
  ASSERT_TRUE(fib.add(special(RouteType::kProhibit, "10.1.2.0", 24)).ok());
  EXPECT_EQ(fib.lookup(ip("10.9.9.9"))->type, RouteType::kUnreachable);
  EXPECT_EQ(fib.lookup(ip("10.1.9.9"))->type, RouteType::kBlackhole);
  EXPECT_EQ(fib.lookup(ip("10.1.2.9"))->type, RouteType::kProhibit);
  EXPECT_EQ(fib.lookup(ip("11.0.0.1"))->type, RouteType::kUnicast);
}

TEST(Fib, BadPrefixIsRejected) {
  Fib fib;
  EXPECT_EQ(fib.add(connected("10.0.0.1", 8, 1)).error(), FibError::kBadPrefix);  // host bits
  EXPECT_EQ(fib.add(connected("10.0.0.0", 33, 1)).error(), FibError::kBadPrefix);
  EXPECT_EQ(fib.add(connected("10.0.0.0", -1, 1)).error(), FibError::kBadPrefix);
  EXPECT_EQ(fib.add(connected("0.0.0.1", 0, 1)).error(), FibError::kBadPrefix);
  EXPECT_EQ(fib.remove(ip("10.0.0.1"), 8).error(), FibError::kBadPrefix);
  EXPECT_EQ(fib.remove(ip("10.0.0.0"), 40).error(), FibError::kBadPrefix);
  EXPECT_EQ(fib.size(), 0u);
  EXPECT_EQ(fib.generation(), 0u);
}

TEST(Fib, GatewayMustBeOnAConnectedRoute) {
  Fib fib;
  EXPECT_EQ(fib.add(via("0.0.0.0", 0, "192.0.2.1")).error(), FibError::kBadGateway);
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 1)).ok());
  ASSERT_TRUE(fib.add(via("10.0.0.0", 8, "192.0.2.1")).ok());
  // 10.0.0.1 is reachable, but only via a gateway: not on-link.
  EXPECT_EQ(fib.add(via("0.0.0.0", 0, "10.0.0.1")).error(), FibError::kBadGateway);
  // On-link, but not through the device named.
  EXPECT_EQ(fib.add(via("0.0.0.0", 0, "192.0.2.1", 0, 2)).error(), FibError::kBadGateway);
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "192.0.2.1", 0, 1)).ok());
  // A special route is not a connected route.
  ASSERT_TRUE(fib.add(special(RouteType::kUnreachable, "172.16.0.0", 12)).ok());
  EXPECT_EQ(fib.add(via("172.16.0.0", 16, "172.16.0.1")).error(), FibError::kBadGateway);
  EXPECT_EQ(fib.size(), 4u);
}

TEST(Fib, RemoveInterfaceClearsBothTables) {
  Fib fib;
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 1)).ok());
  ASSERT_TRUE(fib.add(connected("198.51.100.0", 24, 2)).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "192.0.2.1")).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "198.51.100.1", 10)).ok());
  fib.add_local(ip("192.0.2.2"), 1);
  fib.add_local(ip("198.51.100.2"), 2);
  const uint64_t g = fib.generation();
  fib.remove_interface(1);
  EXPECT_GT(fib.generation(), g);
  EXPECT_EQ(fib.size(), 2u);
  EXPECT_FALSE(fib.is_local(ip("192.0.2.2")));
  EXPECT_TRUE(fib.is_local(ip("198.51.100.2")));
  EXPECT_EQ(fib.lookup(ip("8.8.8.8"))->next_hop, ip("198.51.100.1"));
  // The connected 192.0.2.0/24 went with its interface: the default through if 2 remains.
  EXPECT_EQ(fib.lookup(ip("192.0.2.9"))->ifindex, 2);
  EXPECT_EQ(fib.lookup(ip("192.0.2.9"))->next_hop, ip("198.51.100.1"));
  const uint64_t g2 = fib.generation();
  fib.remove_interface(1);  // nothing left on it: no change
  EXPECT_EQ(fib.generation(), g2);
}

TEST(Fib, GenerationBumpsOnEveryChangeOnly) {
  Fib fib;
  uint64_t g = fib.generation();
  auto bumped = [&] {
    const bool b = fib.generation() > g;
    g = fib.generation();
    return b;
  };
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 1)).ok());
  EXPECT_TRUE(bumped());
  EXPECT_FALSE(fib.add(connected("192.0.2.0", 24, 1)).ok());
  EXPECT_FALSE(bumped());
  fib.add_local(ip("192.0.2.2"), 1);
  EXPECT_TRUE(bumped());
  fib.add_broadcast(ip("192.0.2.255"), 1);
  EXPECT_TRUE(bumped());
  fib.remove_local(ip("192.0.2.2"));
  EXPECT_TRUE(bumped());
  fib.remove_local(ip("192.0.2.2"));
  EXPECT_FALSE(bumped());
  ASSERT_TRUE(fib.remove(ip("192.0.2.0"), 24).ok());
  EXPECT_TRUE(bumped());
  EXPECT_FALSE(fib.remove(ip("192.0.2.0"), 24).ok());
  EXPECT_FALSE(bumped());
}

TEST(Fib, RoutesInIpRouteOrder) {
  Fib fib;
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 1)).ok());
  ASSERT_TRUE(fib.add(connected("10.0.0.0", 8, 2)).ok());
  ASSERT_TRUE(fib.add(via("10.0.0.0", 24, "10.0.0.1")).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "192.0.2.1", 100)).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "10.0.0.1", 50)).ok());
  ASSERT_TRUE(fib.add(via("172.16.0.1", 32, "10.0.0.1")).ok());
  std::vector<std::pair<std::string, uint32_t>> got;
  for (const Route& r : fib.routes()) {
    got.emplace_back(r.dst.to_string() + "/" + std::to_string(r.prefix_len), r.metric);
  }
  const std::vector<std::pair<std::string, uint32_t>> want = {
      {"0.0.0.0/0", 50}, {"0.0.0.0/0", 100},   {"10.0.0.0/24", 0},
      {"10.0.0.0/8", 0}, {"172.16.0.1/32", 0}, {"192.0.2.0/24", 0}};
  EXPECT_EQ(got, want);
}

TEST(Fib, FormatLikeIproute2) {
  Fib fib;
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 1, "192.0.2.2")).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "192.0.2.1", 100)).ok());
  Route boot = connected("198.51.100.0", 24, 2);
  boot.proto = RouteProto::kBoot;
  ASSERT_TRUE(fib.add(boot).ok());
  ASSERT_TRUE(fib.add(special(RouteType::kUnreachable, "10.0.0.0", 8)).ok());
  Route bh = special(RouteType::kBlackhole, "10.1.0.0", 16);
  bh.proto = RouteProto::kStatic;
  bh.metric = 5;
  ASSERT_TRUE(fib.add(bh).ok());
  ASSERT_TRUE(fib.add(special(RouteType::kProhibit, "10.2.0.0", 16)).ok());
  ASSERT_TRUE(fib.add(via("203.0.113.7", 32, "192.0.2.1")).ok());
  ASSERT_TRUE(fib.add(via("203.0.113.0", 24, "198.51.100.1")).ok());
  EXPECT_EQ(fib.format({"lo", "tap0"}),
            "default via 192.0.2.1 dev tap0 proto static metric 100\n"
            "unreachable 10.0.0.0/8\n"
            "blackhole 10.1.0.0/16 proto static metric 5\n"
            "prohibit 10.2.0.0/16\n"
            "192.0.2.0/24 dev tap0 proto kernel scope link src 192.0.2.2\n"
            "198.51.100.0/24 dev if2 scope link\n"
            "203.0.113.0/24 via 198.51.100.1 dev if2 proto static\n"
            "203.0.113.7 via 192.0.2.1 dev tap0 proto static\n");
}

TEST(Fib, ManyLengthsThroughTheIndex) {
  // More than a handful of lengths: lookups go through the top-16-bit index.
  Fib fib;
  auto hop = [&](const char* a) {
    return fib.lookup(ip(a))->route->dst.to_string() + "/" +
           std::to_string(fib.lookup(ip(a))->route->prefix_len);
  };
  for (auto [dst, len] : std::vector<std::pair<const char*, int>>{{"0.0.0.0", 0},
                                                                  {"128.0.0.0", 1},
                                                                  {"10.0.0.0", 8},
                                                                  {"10.1.0.0", 16},
                                                                  {"10.1.2.0", 24},
                                                                  {"10.1.3.0", 24},
                                                                  {"10.1.3.128", 25},
                                                                  {"10.1.3.7", 32}}) {
    ASSERT_TRUE(fib.add(connected(dst, len, 1)).ok());
  }
  EXPECT_EQ(hop("200.1.1.1"), "128.0.0.0/1");
  EXPECT_EQ(hop("127.255.255.255"), "0.0.0.0/0");
  EXPECT_EQ(hop("10.2.0.1"), "10.0.0.0/8");
  EXPECT_EQ(hop("10.1.9.9"), "10.1.0.0/16");
  EXPECT_EQ(hop("10.1.2.9"), "10.1.2.0/24");
  EXPECT_EQ(hop("10.1.3.200"), "10.1.3.128/25");
  EXPECT_EQ(hop("10.1.3.7"), "10.1.3.7/32");
  EXPECT_EQ(hop("10.1.3.8"), "10.1.3.0/24");
  // Two /24s share 10.1/16: removing one keeps the other findable.
  ASSERT_TRUE(fib.remove(ip("10.1.2.0"), 24).ok());
  EXPECT_EQ(hop("10.1.2.9"), "10.1.0.0/16");
  EXPECT_EQ(hop("10.1.3.8"), "10.1.3.0/24");
  ASSERT_TRUE(fib.remove(ip("128.0.0.0"), 1).ok());
  EXPECT_EQ(hop("200.1.1.1"), "0.0.0.0/0");
  ASSERT_TRUE(fib.remove(ip("0.0.0.0"), 0).ok());
  EXPECT_FALSE(fib.lookup(ip("200.1.1.1")).has_value());
  fib.remove_interface(1);
  EXPECT_FALSE(fib.lookup(ip("10.1.3.7")).has_value());
  ASSERT_TRUE(fib.add(connected("10.1.3.0", 24, 2)).ok());
  EXPECT_EQ(hop("10.1.3.7"), "10.1.3.0/24");
}

// A linear-scan reference: the same answers as Linux's rules, computed the slow way.
struct RefFib {
  std::vector<Route> routes;  // in insertion order
  const Route* lookup(uint32_t a) const {
    const Route* best = nullptr;
    for (const Route& r : routes) {
      if ((a & wire::prefix_mask(r.prefix_len)) != r.dst.v) continue;
      if (best == nullptr || r.prefix_len > best->prefix_len ||
          (r.prefix_len == best->prefix_len && r.metric < best->metric)) {
        best = &r;
      }
    }
    return best;
  }
};

TEST(Fib, RandomTablesMatchALinearScan) {
  Rng rng(7);
  for (int round = 0; round < 20; ++round) {
    Fib fib;
    RefFib ref;
    // Addresses from a small space so prefixes nest and collide.
    auto addr = [&] {
      return static_cast<uint32_t>(0x0a000000u | (rng.below(4) << 16) | (rng.below(8) << 8) |
                                   rng.below(4));
    };
    // Some rounds use few prefix lengths (probed one by one), the others all 33 (through the
    // top-16-bit index); removals move tables between the two.
    const int few[] = {0, 16, 24, 32};
    for (int op = 0; op < 400; ++op) {
      const int len = round % 3 == 0 ? few[rng.below(4)] : static_cast<int>(rng.below(33));
      Route r;
      r.dst = Ipv4Addr{addr() & wire::prefix_mask(len)};
      r.prefix_len = len;
      r.metric = static_cast<uint32_t>(rng.below(3));
      r.ifindex = 1 + static_cast<int>(rng.below(3));
      if (rng.chance(0.7)) {
        const bool dup = std::any_of(ref.routes.begin(), ref.routes.end(), [&](const Route& o) {
          return o.dst == r.dst && o.prefix_len == r.prefix_len && o.metric == r.metric;
        });
        auto res = fib.add(r);
        ASSERT_EQ(res.ok(), !dup);
        if (!dup) ref.routes.push_back(r);
      } else {
        auto it = std::find_if(ref.routes.begin(), ref.routes.end(), [&](const Route& o) {
          return o.dst == r.dst && o.prefix_len == r.prefix_len && o.metric == r.metric;
        });
        auto res = fib.remove(r.dst, r.prefix_len, r.metric);
        ASSERT_EQ(res.ok(), it != ref.routes.end());
        if (it != ref.routes.end()) ref.routes.erase(it);
      }
      ASSERT_EQ(fib.size(), ref.routes.size());
      for (int k = 0; k < 20; ++k) {
        const uint32_t a = addr();
        const Route* want = ref.lookup(a);
        auto got = fib.lookup(Ipv4Addr{a});
        ASSERT_EQ(got.has_value(), want != nullptr) << Ipv4Addr{a}.to_string();
        if (want != nullptr) {
          ASSERT_EQ(*got->route, *want) << Ipv4Addr{a}.to_string();
        }
      }
    }
    if (round % 2 == 0) {
      fib.remove_interface(1);
      std::erase_if(ref.routes, [](const Route& r) { return r.ifindex == 1; });
      ASSERT_EQ(fib.size(), ref.routes.size());
      for (int k = 0; k < 200; ++k) {
        const uint32_t a = addr();
        const Route* want = ref.lookup(a);
        auto got = fib.lookup(Ipv4Addr{a});
        ASSERT_EQ(got.has_value(), want != nullptr);
        if (want != nullptr) {
          ASSERT_EQ(*got->route, *want);
        }
      }
    }
  }
}

TEST(Fib, LookupDoesNotAllocate) {
  Fib fib;
  ASSERT_TRUE(fib.add(connected("192.0.2.0", 24, 1)).ok());
  ASSERT_TRUE(fib.add(via("0.0.0.0", 0, "192.0.2.1")).ok());
  for (uint32_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(
        fib.add(via(Ipv4Addr{0x0a000000u | i << 8}.to_string().c_str(), 24, "192.0.2.1")).ok());
  }
  fib.add_local(ip("192.0.2.2"), 1);
  // More lengths, so lookups take the indexed path.
  for (auto [dst, len] : std::vector<std::pair<const char*, int>>{
           {"10.0.0.0", 8}, {"10.1.0.0", 16}, {"10.2.0.0", 20}, {"10.3.0.16", 28}}) {
    ASSERT_TRUE(fib.add(via(dst, len, "192.0.2.1")).ok());
  }
  const uint64_t before = g_news.load();
  uint64_t sum = 0;
  for (uint32_t i = 0; i < 100000; ++i) {
    auto r = fib.lookup(Ipv4Addr{0x0a000000u + i * 97});
    sum += r ? r->next_hop.v : 0;
  }
  EXPECT_EQ(g_news.load(), before);
  EXPECT_NE(sum, 0u);
}

TEST(AddrMap, RandomOperationsMatchStdMap) {
  Rng rng(11);
  AddrMap<int> m;
  std::map<uint32_t, int> ref;
  for (int op = 0; op < 200000; ++op) {
    // A small key space (and keys that differ only in high bits) forces long clusters.
    const uint32_t key = static_cast<uint32_t>(rng.below(300)) << (op % 2 == 0 ? 0 : 24);
    switch (rng.below(3)) {
      case 0:
        m[key] = op;
        ref[key] = op;
        break;
      case 1:
        ASSERT_EQ(m.erase(key), ref.erase(key) == 1);
        break;
      default: {
        const int* v = m.find(key);
        auto it = ref.find(key);
        ASSERT_EQ(v != nullptr, it != ref.end());
        if (v != nullptr) {
          ASSERT_EQ(*v, it->second);
        }
      }
    }
    ASSERT_EQ(m.size(), ref.size());
  }
  size_t n = 0;
  m.for_each([&](uint32_t k, int v) {
    ++n;
    EXPECT_EQ(ref.at(k), v);
  });
  EXPECT_EQ(n, ref.size());
}

}  // namespace
}  // namespace ustack::ip
