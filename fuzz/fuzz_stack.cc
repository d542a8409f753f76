// Fuzz target: a whole host. A Stack with two interfaces (eth0 10.1.0.2/24, eth1 10.2.0.2/24),
// forwarding on, a default route, netfilter rules on three hooks, a UDP echo socket on port 7
// and static neighbours receives arbitrary and half-valid frames, sends its own traffic, and
// runs its timers, at increasing virtual times. Everything above the device is exercised:
// Ethernet filter, ARP, ip_rcv validation, routing, forwarding, fragmentation, reassembly,
// ICMP (echo, errors, rate limits, PMTU), netfilter, UDP, TCP (a listener on port 80 that
// echoes, active opens to the peer, and segments built to land near the connection's real
// sequence numbers, so the state machine is reached beyond the first check).
// Invariants: no crash (ASan/UBSan), the loopback backlog drains, buffers in use stay bounded
// by what the stack may legitimately hold (queues, reassembly), and every buffer comes back
// when the stack is destroyed.
//
// Input: records, an op byte then operands (missing bytes read as 0):
//   op % 4 == 0  raw frame: len (2 bytes), bytes; to eth0 or eth1 (op & 0x80)
//   op % 4 == 1  an IPv4 packet with a valid header: proto sel, flags sel, ttl, dst sel,
//                len (2 bytes), payload; valid UDP/ICMP checksums when (flags & 0x80)
//   op % 4 == 2  time: advance byte * 7 ms, polling
//   op % 4 == 3  local output: a UDP datagram or an echo of len (2 bytes) to dst sel, or
//                (op & 0x40) TCP: a segment from peer port 40000 + (sel & 3) to port 80 or to
//                an active open (sel & 4), seq/ack near what the stack last sent, flags,
//                window, options and payload from the input; or (sel & 0xf0) == 0xf0 an
//                active open / a send / a close on the stack's side
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
#include "ustack/wire/tcp.h"
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

// Keeps, per peer port, what the stack last sent (its next sequence number and its ACK) by
// reading the TCP layer's transmit events: the fuzzer's segments then aim near real numbers.
struct DiscardSink : TraceSink {
  size_t events = 0;
  struct Seen {
    uint32_t next_seq = 0;
    uint32_t ack = 0;
    uint16_t port = 0;  // the stack's port
  };
  std::array<Seen, 4> seen{};
  bool print = std::getenv("FUZZ_TRACE") != nullptr;  // replaying a crash: show the journey
  void on_event(const TraceEvent& e) override {
    events += e.detail.empty() ? 0 : 1;
    if (print) std::fprintf(stderr, "%s\n", format_event(e).c_str());
    if (e.layer != Layer::kTcp || e.action != "tcp_transmit_skb") return;
    unsigned a[4], b[4], sport = 0, dport = 0, win = 0, len = 0;
    unsigned long seq = 0, ack = 0;
    char flags[16] = {};
    if (std::sscanf(e.detail.c_str(),
                    "%u.%u.%u.%u:%u > %u.%u.%u.%u:%u %15s seq %lu ack %lu win %u len %u", &a[0],
                    &a[1], &a[2], &a[3], &sport, &b[0], &b[1], &b[2], &b[3], &dport, flags, &seq,
                    &ack, &win, &len) != 15)
      return;
    if (dport < 40000 || dport > 40003) return;
    Seen& s = seen[dport - 40000];
    std::string_view f(flags);
    s.next_seq =
        static_cast<uint32_t>(seq + len + (f.find('S') != f.npos) + (f.find('F') != f.npos));
    s.ack = static_cast<uint32_t>(ack);
    s.port = static_cast<uint16_t>(sport);
  }
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
    listener_ = stack_->tcp().open();
    USTACK_ASSERT(listener_->bind(Ipv4Addr::any(), 80).ok(), "");
    USTACK_ASSERT(listener_->listen(2).ok(), "");  // tiny: overflow and cookie paths
    listener_->set_wakeup([this](Instant now, uint32_t) { accept_all(now); });
  }

  void accept_all(Instant now) {
    while (auto c = listener_->accept()) {
      transport::TcpSocket* s = *c;
      if (accepted_.size() >= 4) {
        stack_->tcp().close(now, s);
        continue;
      }
      accepted_.push_back(s);
      s->set_rcvbuf(4096);  // small: zero windows and SWS are reachable
      s->set_wakeup([this, s](Instant t, uint32_t) { echo(t, s); });
      echo(now, s);
    }
  }

  void echo(Instant now, transport::TcpSocket* s) {
    uint8_t buf[2048];
    for (;;) {
      auto r = s->recv(now, buf);
      if (!r.ok() || *r == 0) break;
      (void)s->send(now, std::span<const uint8_t>(buf, *r));
    }
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
    // Then every connection goes away: closed, and after TIME-WAIT (and the longest
    // retransmission back-off: 15 retries up to 120 s each) the socket table holds only the
    // listener.
    for (auto* s : accepted_) stack_->tcp().close(now_, s);
    for (auto* s : active_) stack_->tcp().close(now_, s);
    accepted_.clear();
    active_.clear();
    advance(Duration::s(2000));
    USTACK_ASSERT(stack_->tcp().sockets() == 1, "TCP sockets outlive every timer");
    USTACK_ASSERT(stack_->tcp().requests() == 0, "SYN queue entries outlive their timers");
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

  void tcp_segment(Reader& r, uint8_t op) {
    const uint8_t sel = r.byte();
    if ((sel & 0xf0) == 0xf0) {
      tcp_call(r, sel);
      return;
    }
    const uint8_t flags = r.byte();
    const int8_t dseq = static_cast<int8_t>(r.byte());
    const int8_t dack = static_cast<int8_t>(r.byte());
    const uint16_t window = r.u16();
    const uint8_t osel = r.byte();
    const size_t len = r.u16() % 3000;
    auto payload = r.take(len);
    const uint16_t pport = static_cast<uint16_t>(40000 + (sel & 3));
    DiscardSink::Seen& seen = sink_.seen[sel & 3];
    wire::TcpRepr h;
    h.src_port = pport;
    h.dst_port = (sel & 4) && seen.port != 0 ? seen.port : 80;
    // Scaled deltas: small steps around the edges, big ones now and then.
    const int32_t scale = (op & 0x20) ? 4096 : 1;
    h.seq = wire::SeqNum{seen.ack + static_cast<uint32_t>(dseq * scale)};
    h.ack = wire::SeqNum{seen.next_seq + static_cast<uint32_t>(dack * scale)};
    h.flags = wire::TcpFlags::from_bits(flags & 0x3f);
    h.window = window;
    if (osel & 1) h.options.mss = static_cast<uint16_t>(window % 1500);
    if (osel & 2) h.options.window_scale = static_cast<uint8_t>((osel >> 4) % 15);
    if (osel & 4) h.options.sack_permitted = true;
    if (osel & 8)
      h.options.timestamps =
          wire::TcpTimestamps{static_cast<uint32_t>(now_.nanos() / 1'000'000) + (osel >> 6), 0};
    if ((osel & 0x30) == 0x30) h.options.sack.push_back({h.ack, h.ack + 1000});
    const Ipv4Addr src = Ipv4Addr::from_octets(10, 1, 0, 1);
    const Ipv4Addr dst = Ipv4Addr::from_octets(10, 1, 0, 2);
    const size_t hlen = h.header_len();
    std::vector<uint8_t> f(14 + 20 + hlen + payload.size());
    wire::EthernetRepr{kMac0, kPeerMac, 0x0800, std::nullopt}.emit(f);
    wire::Ipv4Repr ip;
    ip.src = src;
    ip.dst = dst;
    ip.protocol = 6;
    ip.ttl = 64;
    ip.payload_len = static_cast<uint16_t>(hlen + payload.size());
    ip.emit(std::span(f).subspan(14));
    std::copy(payload.begin(), payload.end(), f.begin() + 34 + static_cast<ptrdiff_t>(hlen));
    h.emit(std::span(f).subspan(34), {src, dst});
    if (f.size() > 14 + 1500) return;
    deliver(false, f);
  }

  // The stack's side of TCP: connect to the peer, send, close.
  void tcp_call(Reader& r, uint8_t sel) {
    const uint8_t what = r.byte();
    auto& tcp = stack_->tcp();
    switch (what % 4) {
      case 0:
        if (active_.size() < 4) {
          transport::TcpSocket* s = tcp.open();
          (void)s->connect(now_, Ipv4Addr::from_octets(10, 1, 0, 1),
                           static_cast<uint16_t>(40000 + (sel & 3)));
          active_.push_back(s);
        }
        break;
      case 1: {
        std::vector<uint8_t> data(r.u16() % 20000, what);
        for (auto* s : active_) (void)s->send(now_, data);
        for (auto* s : accepted_) (void)s->send(now_, data);
        break;
      }
      case 2:
        for (auto* s : active_) (void)s->shutdown(now_, transport::kShutWr);
        break;
      default: {
        auto& v = (what & 0x80) ? accepted_ : active_;
        if (!v.empty()) {
          if (what & 0x40)
            tcp.abort(now_, v.back());
          else
            tcp.close(now_, v.back());
          v.pop_back();
        }
        break;
      }
    }
  }

  void local(Reader& r, uint8_t op) {
    if (op & 0x40) {
      tcp_segment(r, op);
      return;
    }
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
  transport::TcpSocket* listener_ = nullptr;
  std::vector<transport::TcpSocket*> accepted_;
  std::vector<transport::TcpSocket*> active_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness h;
  h.run(std::span<const uint8_t>(data, size));
  return 0;
}
