// tests/unit/stack/host_harness.h — one ustack Stack on a simulated cable whose other end is
// the test: it injects hand-built frames and inspects every frame the stack sends, in
// virtual time. The peer (192.0.2.1, 02:00:00:00:00:01) has a static neighbour entry so tests
// see IP behaviour without ARP unless they ask for it.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "ustack/dev/napi.h"
#include "ustack/dev/sim_nic.h"
#include "ustack/stack/stack.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/udp.h"

namespace ustack::stacktest {

using wire::Ipv4Addr;
using wire::MacAddr;

inline const Ipv4Addr kPeer = Ipv4Addr::from_octets(192, 0, 2, 1);
inline const Ipv4Addr kUs = Ipv4Addr::from_octets(192, 0, 2, 2);
inline const MacAddr kPeerMac{{0x02, 0, 0, 0, 0, 0x01}};
inline const MacAddr kUsMac{{0x02, 0, 0, 0, 0, 0x02}};

struct Captured : dev::RxSink {
  std::vector<std::vector<uint8_t>> frames;
  void netif_receive(Instant, dev::NetDevice&, PacketPtr f) override {
    frames.emplace_back(f->data().begin(), f->data().end());
  }
};

// An IPv4 packet to build: the fields tests vary.
struct Pkt {
  Ipv4Addr src = kPeer;
  Ipv4Addr dst = kUs;
  uint8_t proto = 17;
  uint8_t ttl = 64;
  uint16_t ident = 1;
  bool df = false;
  bool mf = false;
  uint16_t frag_offset = 0;
  MacAddr dst_mac = kUsMac;
  std::vector<uint8_t> payload;  // everything after the IPv4 header
};

inline std::vector<uint8_t> frame(const Pkt& p) {
  wire::Ipv4Repr ip;
  ip.src = p.src;
  ip.dst = p.dst;
  ip.protocol = p.proto;
  ip.ttl = p.ttl;
  ip.ident = p.ident;
  ip.dont_frag = p.df;
  ip.more_frags = p.mf;
  ip.frag_offset = p.frag_offset;
  ip.payload_len = static_cast<uint16_t>(p.payload.size());
  std::vector<uint8_t> f(14 + 20 + p.payload.size());
  wire::EthernetRepr{p.dst_mac, kPeerMac, 0x0800, std::nullopt}.emit(f);
  ip.emit(std::span(f).subspan(14));
  std::copy(p.payload.begin(), p.payload.end(), f.begin() + 34);
  return f;
}

inline std::vector<uint8_t> udp_payload(Ipv4Addr src, Ipv4Addr dst, uint16_t sport, uint16_t dport,
                                        std::span<const uint8_t> data) {
  std::vector<uint8_t> d(8 + data.size());
  std::copy(data.begin(), data.end(), d.begin() + 8);
  wire::UdpRepr{sport, dport}.emit(d, wire::Ipv4Pseudo{src, dst});
  return d;
}

inline std::vector<uint8_t> echo_payload(uint16_t ident, uint16_t seq,
                                         std::span<const uint8_t> data) {
  wire::IcmpRepr r{wire::IcmpEchoRequest{ident, seq, data}};
  std::vector<uint8_t> d(r.buffer_len());
  r.emit(d);
  return d;
}

// A frame the stack sent, parsed down to IPv4.
struct Sent {
  std::vector<uint8_t> bytes;
  wire::EthernetRepr eth;
  std::optional<wire::Ipv4Repr> ip;
  std::span<const uint8_t> l4() const { return std::span(bytes).subspan(34); }
  std::optional<wire::IcmpRepr> icmp() const {
    if (!ip || ip->protocol != 1) return std::nullopt;
    auto v = wire::IcmpView::parse(l4().first(ip->payload_len));
    if (!v) return std::nullopt;
    auto r = wire::IcmpRepr::parse(*v);
    if (!r) return std::nullopt;
    return *r;
  }
};

class HostHarness {
 public:
  explicit HostHarness(stack::StackConfig cfg = {}, uint32_t mtu = 1500)
      : owned_(std::make_unique<stack::Stack>(cfg)), stack_(*owned_) {
    dev::DeviceConfig us;
    us.name = "eth0";
    us.mac = kUsMac;
    us.mtu = mtu;
    dev::DeviceConfig peer;
    peer.name = "peer0";
    peer.mac = kPeerMac;
    peer.mtu = 9000;  // the test side accepts anything the stack sends
    nic_ = std::make_unique<dev::SimNic>(us, stack_.pool());
    peer_ = std::make_unique<dev::SimNic>(peer, *peer_pool_);
    link_.attach(*nic_);
    link_.attach(*peer_);
    peer_->set_up(true);
    peer_napi_.add(*peer_);
    auto& i = stack_.add_interface(*nic_);
    EXPECT_TRUE(stack_.add_address(now_, i.ifindex(), link::IfAddr{kUs, 24}).ok());
    stack_.neigh().add_static(now_, i.ifindex(), kPeer, kPeerMac);
    run_for(Duration::ms(1));
    rx_.frames.clear();  // the gratuitous ARP announcing our address
  }
  ~HostHarness() {
    peer_napi_.remove(*peer_);
    owned_.reset();  // the stack lets go of its device before the device goes
  }

  stack::Stack& stack() { return stack_; }
  Instant now() const { return now_; }

  void inject(const std::vector<uint8_t>& f) { peer_->xmit(now_, peer_pool_->alloc_copy(f, 64)); }
  void inject(const Pkt& p) { inject(frame(p)); }

  void run_until(Instant until) {
    for (int steps = 0; steps < 1'000'000; ++steps) {
      Instant next =
          earliest(link_.next_deadline(), earliest(stack_.next_deadline(), peer_->next_deadline()));
      if (next > until) break;
      step(next > now_ ? next : now_);
    }
    step(until);
  }
  void run_for(Duration d) { run_until(now_ + d); }

  // Frames the stack sent since the last call, parsed.
  std::vector<Sent> take() {
    std::vector<Sent> out;
    for (auto& b : rx_.frames) {
      Sent s;
      s.bytes = std::move(b);
      auto ev = wire::EthernetView::parse(s.bytes);
      EXPECT_TRUE(ev.ok());
      if (!ev) continue;
      s.eth = *wire::EthernetRepr::parse(*ev);
      if (s.eth.ethertype == 0x0800) {
        auto iv = wire::Ipv4View::parse(ev->payload());
        EXPECT_TRUE(iv.ok()) << "stack sent a malformed IPv4 packet";
        if (iv) {
          auto r = wire::Ipv4Repr::parse(*iv);
          EXPECT_TRUE(r.ok()) << "stack sent a bad IPv4 header";
          if (r) s.ip = *r;
        }
      }
      out.push_back(std::move(s));
    }
    rx_.frames.clear();
    return out;
  }

 private:
  void step(Instant t) {
    now_ = t;
    link_.advance(t);
    peer_->on_timer(t);
    for (int i = 0; i < 10'000; ++i) {
      bool a = stack_.poll(t);
      bool b = peer_napi_.run(t, rx_);
      if (!a && !b) return;
    }
    ADD_FAILURE() << "stack never went idle";
  }

  PoolHandle peer_pool_ = BufferPool::create();
  std::unique_ptr<stack::Stack> owned_;
  stack::Stack& stack_;
  dev::SimLink link_{dev::SimLinkConfig{.latency = Duration::us(5)}};
  std::unique_ptr<dev::SimNic> nic_;
  std::unique_ptr<dev::SimNic> peer_;
  dev::NapiContext peer_napi_;
  Captured rx_;
  Instant now_ = Instant::zero();
};

}  // namespace ustack::stacktest
