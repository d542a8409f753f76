// tests/unit/sim/scenario.h — helpers the sim scenario tests share: topologies, a ping client,
// and decoding of the frames a pcap holds.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "tools/pcap_check.h"
#include "ustack/dev/pcap.h"
#include "ustack/sim/world.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/udp.h"

namespace ustack::sim::test {

using wire::Ipv4Addr;

inline Instant at(Duration d) { return Instant::zero() + d; }
inline Ipv4Addr ip(const char* s) { return *Ipv4Addr::parse(s); }

inline std::vector<uint8_t> pattern(size_t n, uint8_t salt = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + salt);
  return v;
}

// Two hosts on one subnet: a (10.0.0.1/24, eth0) <-> b (10.0.0.2/24, eth0).
inline Connection two_hosts(World& w, const ConnectOptions& o = {}) {
  w.add_host("a");
  w.add_host("b");
  Connection c = w.connect("a", "b", o);
  EXPECT_TRUE(w.add_address("a", "eth0", "10.0.0.1/24").ok());
  EXPECT_TRUE(w.add_address("b", "eth0", "10.0.0.2/24").ok());
  return c;
}

// a (10.0.1.2/24) -- r (10.0.1.1/24 eth0, 10.0.2.1/24 eth1) -- b (10.0.2.2/24); forwarding on
// r, default routes on a and b through r.
struct RouterOptions {
  ConnectOptions left;   // a <-> r
  ConnectOptions right;  // r <-> b
};
inline void router_topology(World& w, const RouterOptions& o = {}) {
  w.add_host("a");
  w.add_host("r");
  w.add_host("b");
  w.connect("a", "r", o.left);
  w.connect("r", "b", o.right);
  ASSERT_TRUE(w.add_address("a", "eth0", "10.0.1.2/24").ok());
  ASSERT_TRUE(w.add_address("r", "eth0", "10.0.1.1/24").ok());
  ASSERT_TRUE(w.add_address("r", "eth1", "10.0.2.1/24").ok());
  ASSERT_TRUE(w.add_address("b", "eth0", "10.0.2.2/24").ok());
  ASSERT_TRUE(w.add_default_route("a", "10.0.1.1").ok());
  ASSERT_TRUE(w.add_default_route("b", "10.0.2.1").ok());
  w.host("r").set_forwarding(true);
}

// A ping client on one host (the stack's echo-reply hook), keeping every reply.
class Pinger {
 public:
  struct Reply {
    Instant when;
    Ipv4Addr from;
    uint16_t seq;
    std::vector<uint8_t> data;
  };
  Pinger(World& w, std::string_view host, uint16_t ident = 0x1234)
      : w_(w), st_(w.host(host)), ident_(ident) {
    st_.ip().set_echo_reply_handler([this](Instant now, Ipv4Addr from, uint16_t id, uint16_t seq,
                                           std::span<const uint8_t> data) {
      if (id != ident_) return;
      replies_.push_back({now, from, seq, {data.begin(), data.end()}});
    });
  }
  ~Pinger() { st_.ip().set_echo_reply_handler({}); }
  Result<void, ip::IpError> send(Ipv4Addr dst, uint16_t seq, std::span<const uint8_t> data,
                                 uint8_t ttl = 0) {
    return st_.ip().send_echo(w_.now(), dst, ident_, seq, data, ttl);
  }
  const std::vector<Reply>& replies() const { return replies_; }

 private:
  World& w_;
  stack::Stack& st_;
  uint16_t ident_;
  std::vector<Reply> replies_;
};

// ---- what a pcap holds ---------------------------------------------------------------------

// tshark's second opinion on a capture; skipped (with a note) where tshark is not installed.
inline void expect_tshark_clean(const std::string& path) {
  if (!testtools::tshark_available()) {
    std::printf("tshark not installed: %s not checked\n", path.c_str());
    return;
  }
  EXPECT_TRUE(testtools::tshark_clean(path));
}

inline std::vector<dev::PcapRecord> read_pcap(const std::string& path) {
  auto r = dev::PcapReader::open(path);
  EXPECT_TRUE(r.ok()) << path;
  if (!r) return {};
  auto all = r->read_all();
  EXPECT_TRUE(all.ok());
  return all ? std::move(*all) : std::vector<dev::PcapRecord>{};
}

struct ArpSeen {
  Instant ts;
  wire::MacAddr eth_dst;
  wire::ArpRepr arp;
};
inline std::vector<ArpSeen> arp_frames(const std::vector<dev::PcapRecord>& recs) {
  std::vector<ArpSeen> out;
  for (const auto& r : recs) {
    auto e = wire::EthernetView::parse(r.data);
    if (!e || e->ethertype() != wire::to_u16(wire::EtherType::kArp)) continue;
    auto v = wire::ArpView::parse(e->payload());
    if (!v) continue;
    auto a = wire::ArpRepr::parse(*v);
    if (a) out.push_back({r.ts, e->dst(), *a});
  }
  return out;
}

struct IcmpSeen {
  Instant ts;
  Ipv4Addr src;
  Ipv4Addr dst;
  uint8_t type;
  uint8_t code;
  uint16_t rest_lo;  // echo sequence, or the next-hop MTU of fragmentation needed
  std::optional<Ipv4Addr> quoted_dst;
  uint8_t quoted_protocol = 0;
};
// ICMP messages that are whole (not fragments) in the capture.
inline std::vector<IcmpSeen> icmp_frames(const std::vector<dev::PcapRecord>& recs) {
  std::vector<IcmpSeen> out;
  for (const auto& r : recs) {
    auto e = wire::EthernetView::parse(r.data);
    if (!e || e->ethertype() != wire::to_u16(wire::EtherType::kIpv4)) continue;
    auto v = wire::Ipv4View::parse(e->payload());
    if (!v || v->protocol() != 1 || v->is_fragment()) continue;
    auto m = wire::IcmpView::parse(v->payload());
    if (!m) continue;
    IcmpSeen s{r.ts, v->src(), v->dst(), m->type(), m->code(), m->rest_lo(), std::nullopt, 0};
    if (m->type() == 3 || m->type() == 11) {
      if (auto q = wire::IcmpQuote::parse(m->data())) {
        s.quoted_dst = q->dst();
        s.quoted_protocol = q->protocol();
      }
    }
    out.push_back(s);
  }
  return out;
}

// IPv4 packets (whole or fragments) in the capture.
struct IpSeen {
  Instant ts;
  Ipv4Addr src;
  Ipv4Addr dst;
  uint8_t protocol;
  uint8_t ttl;
  uint16_t total_len;
  bool df;
  bool fragment;
};
inline std::vector<IpSeen> ip_frames(const std::vector<dev::PcapRecord>& recs) {
  std::vector<IpSeen> out;
  for (const auto& r : recs) {
    auto e = wire::EthernetView::parse(r.data);
    if (!e || e->ethertype() != wire::to_u16(wire::EtherType::kIpv4)) continue;
    auto v = wire::Ipv4View::parse(e->payload());
    if (!v) continue;
    out.push_back({r.ts, v->src(), v->dst(), v->protocol(), v->ttl(), v->total_len(),
                   v->dont_frag(), v->is_fragment()});
  }
  return out;
}

}  // namespace ustack::sim::test
