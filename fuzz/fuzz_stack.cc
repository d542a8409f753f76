// Fuzz target: a whole host. A Stack with two interfaces (eth0 10.1.0.2/24, eth1 10.2.0.2/24),
// forwarding on, a default route, netfilter rules on three hooks, a UDP echo socket on port 7
// and static neighbours receives arbitrary and half-valid frames, sends its own traffic, and
// runs its timers, at increasing virtual times. Everything above the device is exercised:
// Ethernet filter, ARP, ip_rcv validation, routing, forwarding, fragmentation, reassembly,
// ICMP (echo, errors, rate limits, PMTU), netfilter, UDP.
// Invariants: no crash (ASan/UBSan), the loopback backlog drains, buffers in use stay bounded
// by what the stack may legitimately hold (queues, reassembly), and every buffer comes back
// when the stack is destroyed.
//
// Input: records, an op byte then operands (missing bytes read as 0):
//   op % 4 == 0  raw frame: len (2 bytes), bytes; to eth0 or eth1 (op & 0x80)
//   op % 4 == 1  an IPv4 packet with a valid header: proto sel, flags sel, ttl, dst sel,
//                len (2 bytes), payload; valid UDP/ICMP checksums when (flags & 0x80)
//   op % 4 == 2  time: advance byte * 7 ms, polling
//   op % 4 == 3  local output: a UDP datagram or an echo of len (2 bytes) to dst sel
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/base/checksum.h"
#include "ustack/dev/sim_nic.h"
#include "ustack/filter/netfilter.h"
#include "ustack/stack/stack.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/udp.h"

using namespace ustack;
using wire::Ipv4Addr;
using wire::MacAddr;

namespace {

struct Reader {
  std::span<const uint8_t> in;
  size_t pos = 0;
  bool more() const { return pos < in.size(); }
  uint8_t byte() { return pos < in.size() ? in[pos++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(byte() << 8 | byte()); }
  std::span<const uint8_t> take(size_t n) {
    n = std::min(n, in.size() - pos);
    auto s = in.subspan(pos, n);
    pos += n;
    return s;
  }
};

struct DiscardSink : TraceSink {
  size_t events = 0;
  void on_event(const TraceEvent& e) override { events += e.detail.empty() ? 0 : 1; }
};

const MacAddr kMac0{{0x02, 0, 0, 0, 1, 2}};
const MacAddr kMac1{{0x02, 0, 0, 0, 2, 2}};
const MacAddr kPeerMac{{0x02, 0, 0, 0, 1, 1}};

Ipv4Addr pick_dst(uint8_t sel) {
  switch (sel % 8) {
    case 0:
      return Ipv4Addr::from_octets(10, 1, 0, 2);  // us on eth0
    case 1:
      return Ipv4Addr::from_octets(10, 2, 0, 2);  // us on eth1
    case 2:
      return Ipv4Addr::from_octets(10, 2, 0, 9);  // forwarded to eth1
    case 3:
      return Ipv4Addr::from_octets(10, 1, 0, 255);  // subnet broadcast
    case 4:
      return Ipv4Addr::broadcast();
    case 5:
      return Ipv4Addr::from_octets(203, 0, 113, 5);  // default route
    case 6:
      return Ipv4Addr::from_octets(10, 2, 0, 77);  // unresolved neighbour
    default:
      return Ipv4Addr::from_octets(224, 0, 0, 1);
  }
}

class Harness {
 public:
  Harness() {
    stack::StackConfig cfg;
    cfg.name = "fuzz";
    cfg.ip.forwarding = true;
    cfg.ip.reasm.high_thresh = 64 * 1024;  // small, so eviction paths are reachable
    cfg.neigh.unres_qlen = 4;
    stack_ = std::make_unique<stack::Stack>(cfg);
    dev::DeviceConfig c0;
    c0.name = "eth0";
    c0.mac = kMac0;
    dev::DeviceConfig c1 = c0;
    c1.name = "eth1";
    c1.mac = kMac1;
    c1.mtu = 576;  // forwarding from eth0 must fragment or send frag-needed
    nic0_ = std::make_unique<dev::SimNic>(c0, stack_->pool());
    nic1_ = std::make_unique<dev::SimNic>(c1, stack_->pool());
    stack_->telemetry().set_sink(&sink_);
    int i0 = stack_->add_interface(*nic0_).ifindex();
    int i1 = stack_->add_interface(*nic1_).ifindex();
    USTACK_ASSERT(stack_->add_address(now_, i0, {Ipv4Addr::from_octets(10, 1, 0, 2), 24}).ok(), "");
    USTACK_ASSERT(stack_->add_address(now_, i1, {Ipv4Addr::from_octets(10, 2, 0, 2), 24}).ok(), "");
    USTACK_ASSERT(stack_->add_default_route(Ipv4Addr::from_octets(10, 1, 0, 1)).ok(), "");
    stack_->neigh().add_static(now_, i0, Ipv4Addr::from_octets(10, 1, 0, 1), kPeerMac);
    stack_->neigh().add_static(now_, i1, Ipv4Addr::from_octets(10, 2, 0, 9), kPeerMac);
    auto& nf = stack_->netfilter();
    for (const char* r : {"-A INPUT -p udp --dport 9 -j DROP",
                          "-A FORWARD -p icmp --icmp-type echo-request -d 10.2.0.9 -j REJECT",
                          "-A OUTPUT -p udp --sport 7 --dport 1:10 -j REJECT"}) {
      auto cmd = filter::parse_command(r);
      USTACK_ASSERT(cmd.ok(), "fixture rule parses");
      USTACK_ASSERT(nf.apply(*cmd).ok(), "fixture rule applies");
    }
    echo_ = stack_->udp().open();
    USTACK_ASSERT(echo_->bind(Ipv4Addr::any(), 7).ok(), "");
    echo_->on_readable([this](Instant now) {
      while (auto d = echo_->recv()) (void)echo_->sendto(now, d->payload(), d->from, d->from_port);
    });
    client_ = stack_->udp().open();
  }

  ~Harness() {
    stack_.reset();  // every buffer must come back: ASan's leak check and the pool agree
  }

  void run(std::span<const uint8_t> in) {
    Reader r{in};
    while (r.more()) {
      uint8_t op = r.byte();
      switch (op % 4) {
        case 0: {
          size_t len = r.u16() % 2000;
          deliver(op & 0x80, r.take(len));
          break;
        }
        case 1:
          structured(r, op);
          break;
        case 2:
          advance(Duration::ms(7) * r.byte());
          break;
        case 3:
          local(r, op);
          break;
      }
      advance(Duration::us(100));
    }
    advance(Duration::s(40));  // reassembly and neighbour timers all expire
  }

 private:
  void deliver(bool eth1, std::span<const uint8_t> bytes) {
    PacketPtr f = stack_->pool().alloc_copy(bytes, 64);
    if (!f) return;
    dev::NetDevice& d = eth1 ? static_cast<dev::NetDevice&>(*nic1_) : *nic0_;
    f->trace_id = stack_->telemetry().new_packet_id();
    stack_->link().netif_receive(now_, d, std::move(f));
  }

  void structured(Reader& r, uint8_t op) {
    uint8_t psel = r.byte();
    uint8_t flags = r.byte();
    uint8_t ttl = r.byte();
    Ipv4Addr dst = pick_dst(r.byte());
    size_t len = r.u16() % 9000;
    auto payload = r.take(len);
    static constexpr uint8_t kProtos[] = {1, 17, 6, 99};
    wire::Ipv4Repr ip;
    ip.src =
        (flags & 0x40) ? Ipv4Addr::from_octets(10, 2, 0, 9) : Ipv4Addr::from_octets(10, 1, 0, 1);
    ip.dst = dst;
    ip.protocol = kProtos[psel % 4];
    ip.ttl = ttl;
    ip.ident = static_cast<uint16_t>(psel >> 2);
    ip.dont_frag = (flags & 1) != 0;
    ip.more_frags = (flags & 2) != 0;
    ip.frag_offset = static_cast<uint16_t>(((flags >> 2) & 7) * 8 * 64);
    std::vector<uint8_t> body(payload.begin(), payload.end());
    if (ip.more_frags) body.resize(body.size() / 8 * 8);
    if (20 + ip.frag_offset + body.size() > 65535) return;
    ip.payload_len = static_cast<uint16_t>(body.size());
    if ((flags & 0x80) && ip.frag_offset == 0 && !ip.more_frags) {
      if (ip.protocol == 17 && body.size() >= 8) {
        store_be16(body, 4, static_cast<uint16_t>(body.size()));
        wire::UdpRepr{load_be16(body, 0), load_be16(body, 2)}.emit(body, {ip.src, ip.dst});
      } else if (ip.protocol == 1 && body.size() >= 8) {
        store_be16(body, 2, 0);
        store_be16(body, 2, inet_checksum(body));
      }
    }
    bool eth1 = (op & 0x80) != 0;
    std::vector<uint8_t> f(14 + 20 + body.size());
    MacAddr dmac = dst.is_broadcast() || dst.v == Ipv4Addr::from_octets(10, 1, 0, 255).v
                       ? MacAddr::broadcast()
                       : (eth1 ? kMac1 : kMac0);
    wire::EthernetRepr{dmac, kPeerMac, 0x0800, std::nullopt}.emit(f);
    ip.emit(std::span(f).subspan(14));
    std::copy(body.begin(), body.end(), f.begin() + 34);
    if (f.size() > 14 + (eth1 ? 576u : 1500u) + 4) return;  // the device would not take it
    deliver(eth1, f);
  }

  void local(Reader& r, uint8_t op) {
    size_t len = r.u16() % 4000;
    Ipv4Addr dst = pick_dst(r.byte());
    std::vector<uint8_t> data(len, static_cast<uint8_t>(op));
    if (op & 0x80) {
      (void)stack_->ip().send_echo(now_, dst, 1, op, data);
    } else {
      client_->set_broadcast(true);
      (void)client_->sendto(now_, data, dst, static_cast<uint16_t>(7 + (op & 3)));
      while (client_->recv()) {
      }
      (void)client_->take_error();
    }
  }

  void advance(Duration d) {
    Instant until = now_ + d;
    for (int guard = 0; guard < 100000; ++guard) {
      int rounds = 0;
      while (stack_->poll(now_)) USTACK_ASSERT(++rounds < 10000, "stack never goes idle");
      Instant next = stack_->next_deadline();
      // After an idle poll nothing may be due: a deadline at or before now would spin a runner.
      USTACK_ASSERT(next > now_, "a due timer was not run");
      if (next > until) break;
      now_ = next;
    }
    now_ = until;
    while (stack_->poll(now_)) {
    }
    // What the stack may hold: neighbour queues, reassembly memory, socket queues, rings.
    USTACK_ASSERT(stack_->pool().outstanding() < 4096, "buffers leak while running");
  }

  Instant now_ = Instant::zero();
  DiscardSink sink_;
  std::unique_ptr<stack::Stack> stack_;
  std::unique_ptr<dev::SimNic> nic0_;
  std::unique_ptr<dev::SimNic> nic1_;
  transport::UdpSocket* echo_ = nullptr;
  transport::UdpSocket* client_ = nullptr;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness h;
  h.run(std::span<const uint8_t>(data, size));
  return 0;
}
