// Fuzz target: ARP input and the neighbour state machine behind it. A LinkLayer + Arp stack
// (tap0, 02:00:5e:10:00:0b, 10.77.0.2/24, a SimNic that is up) receives arbitrary Ethernet
// frames interleaved with IPv4 output, timer runs and administrative changes, at increasing
// virtual times. Invariants: no crash (ASan/UBSan), the table never holds more than gc_thresh3
// dynamic entries, no queue exceeds unres_qlen, INCOMPLETE entries hold no MAC, and after
// on_timer(now) no timer is overdue.
//
// Input: a sequence of records, each an op byte and its operands (missing bytes read as 0):
//   op % 5 == 0  frame: len byte, then len bytes handed to netif_receive as one frame
//   op % 5 == 1  output: host byte h, tag byte: an IPv4 packet to 10.77.0.h (op & 0x80: to
//                224.0.0.h; op & 0x40: from 10.77.0.h instead of from us)
//   op % 5 == 2  time: byte n, advance n * 50 ms running every timer on the way
//   op % 5 == 3  admin: byte s: add_static / remove / flush / confirm / announce on 10.77.0.x
//   op % 5 == 4  ARP: flags byte, host byte: a well-formed request or reply from 10.77.0.h
//                (MAC 02:00:00:00:00:h), to us or to someone else, unicast or broadcast
// Every record also advances time by 1 ms.
#include <cstdint>
#include <span>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/buf/pool.h"
#include "ustack/dev/napi.h"
#include "ustack/dev/sim_nic.h"
#include "ustack/link/arp.h"
#include "ustack/link/interface.h"
#include "ustack/link/link_layer.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/ethernet.h"

using namespace ustack;
using wire::Ipv4Addr;
using wire::MacAddr;

namespace {

const MacAddr kOurMac{{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b}};
const Ipv4Addr kOurIp = Ipv4Addr::from_octets(10, 77, 0, 2);

link::NeighConfig fuzz_config() {
  link::NeighConfig c;
  c.gc_thresh3 = 8;  // small, so the full-table paths are reachable
  c.unres_qlen = 4;
  c.unres_qlen_bytes = 256;
  return c;
}

// Listens to every layer so each trace detail lambda runs (and formats fuzzed values).
struct DiscardSink : TraceSink {
  size_t events = 0;
  void on_event(const TraceEvent& e) override { events += e.detail.size() > 0 ? 1 : 0; }
};

struct Reader {
  std::span<const uint8_t> in;
  size_t pos = 0;
  bool more() const { return pos < in.size(); }
  uint8_t byte() { return pos < in.size() ? in[pos++] : 0; }
  std::span<const uint8_t> take(size_t n) {
    n = std::min(n, in.size() - pos);
    auto s = in.subspan(pos, n);
    pos += n;
    return s;
  }
};

class Harness {
 public:
  Harness() {
    dev::DeviceConfig c;
    c.name = "tap0";
    c.mac = kOurMac;
    c.rx_ring_size = c.tx_ring_size = 16;
    c.txqueuelen = 16;
    nic_ = std::make_unique<dev::SimNic>(c, *pool_);  // on no wire: TX completes, goes nowhere
    tel_.set_sink(&sink_);
    nic_->attach(tel_);
    nic_->set_up(true);
    napi_.add(*nic_);
    iface_ = &ifs_.add(*nic_);
    iface_->add_addr({kOurIp, 24});
    link_ = std::make_unique<link::LinkLayer>(ifs_, tel_);
    arp_ = std::make_unique<link::Arp>(*link_, ifs_, *pool_, tel_, fuzz_config(), Rng(1));
    arp_->set_unreachable_handler([this](Instant, int, Ipv4Addr, const PacketBuffer& p) {
      USTACK_ASSERT(p.len() >= 1, "reported packet is alive");
      ++unreachable_;
    });
  }
  ~Harness() { napi_.remove(*nic_); }

  void run(std::span<const uint8_t> data) {
    Reader r{data};
    while (r.more()) {
      const uint8_t op = r.byte();
      now_ += Duration::ms(1);
      switch (op % 5) {
        case 0: {
          const size_t len = r.byte();
          rx(r.take(len));
          break;
        }
        case 1:
          output(op, r.byte(), r.byte());
          break;
        case 2:
          advance(now_ + Duration::ms(50) * r.byte());
          break;
        case 3:
          admin(r.byte());
          break;
        case 4:
          crafted(r.byte(), r.byte());
          break;
      }
      drain();
      check();
    }
    advance(now_ + Duration::s(120));  // every resolution ends, every entry ages out
    check();
    USTACK_ASSERT(arp_->neigh().entries().size() == statics(), "gc left dynamic entries");
  }

 private:
  void rx(std::span<const uint8_t> frame) {
    PacketPtr p = pool_->alloc_copy(frame, 64);
    if (p == nullptr) return;
    p->trace_id = tel_.new_packet_id();
    link_->netif_receive(now_, *nic_, std::move(p));
  }

  void output(uint8_t op, uint8_t host, uint8_t tag) {
    const Ipv4Addr hop = (op & 0x80) != 0 ? Ipv4Addr::from_octets(224, 0, 0, host)
                                          : Ipv4Addr::from_octets(10, 77, 0, host);
    const Ipv4Addr src = (op & 0x40) != 0 ? Ipv4Addr::from_octets(10, 77, 0, host) : kOurIp;
    std::vector<uint8_t> b(20 + tag % 64, tag);
    b[0] = 0x45;
    auto s = src.octets(), d = hop.octets();
    std::copy(s.begin(), s.end(), b.begin() + 12);
    std::copy(d.begin(), d.end(), b.begin() + 16);
    PacketPtr p = pool_->alloc(BufferPool::kDefaultHeadroom, b.size());
    if (p == nullptr || !p->append(b).ok()) return;
    arp_->output(now_, *iface_, hop, std::move(p));
  }

  void admin(uint8_t s) {
    const Ipv4Addr ip = Ipv4Addr::from_octets(10, 77, 0, s & 0x0f);
    const MacAddr mac{{0x02, 0, 0, 0, 0, static_cast<uint8_t>(s)}};
    link::NeighbourTable& t = arp_->neigh();
    switch ((s >> 4) % 5) {
      case 0:
        t.add_static(now_, iface_->ifindex(), ip, mac);
        break;
      case 1:
        t.remove(iface_->ifindex(), ip);
        break;
      case 2:
        t.flush(iface_->ifindex());
        break;
      case 3:
        t.confirm(now_, iface_->ifindex(), ip);
        break;
      case 4:
        arp_->announce(now_, *iface_, kOurIp);
        break;
    }
  }

  void crafted(uint8_t flags, uint8_t host) {
    const Ipv4Addr sip = Ipv4Addr::from_octets(10, 77, 0, host);
    const MacAddr smac{{0x02, 0, 0, 0, 0, host}};
    const bool reply = (flags & 1) != 0;
    const Ipv4Addr tip = (flags & 2) != 0 ? kOurIp : Ipv4Addr::from_octets(10, 77, 0, flags);
    const MacAddr dst = (flags & 4) != 0 ? kOurMac : MacAddr::broadcast();
    const wire::ArpRepr a{reply ? wire::ArpOp::kReply : wire::ArpOp::kRequest, smac, sip,
                          reply ? kOurMac : MacAddr{}, tip};
    std::vector<uint8_t> f(wire::kEthHeaderLen + wire::kArpLen);
    wire::EthernetRepr{dst, smac, wire::to_u16(wire::EtherType::kArp), std::nullopt}.emit(f);
    a.emit(std::span(f).subspan(wire::kEthHeaderLen));
    rx(f);
  }

  // Run every timer due up to `until`, in order.
  void advance(Instant until) {
    for (int i = 0; i < 100000; ++i) {
      const Instant next = arp_->next_deadline();
      if (next > until) break;
      now_ = std::max(now_, next);
      arp_->on_timer(now_);
      USTACK_ASSERT(arp_->next_deadline() > now_, "a timer is overdue after on_timer");
      drain();
      check();
    }
    now_ = until;
    arp_->on_timer(now_);
    USTACK_ASSERT(arp_->next_deadline() > now_, "a timer is overdue after on_timer");
    drain();
  }

  void drain() {
    for (int i = 0; i < 100 && napi_.run(now_, *link_); ++i) {
    }
  }

  size_t statics() const {
    size_t n = 0;
    for (const link::NeighEntry& e : arp_->neigh().entries())
      n += e.state == link::NeighState::kPermanent;
    return n;
  }

  void check() const {
    const link::NeighConfig& c = arp_->neigh().config();
    size_t dynamic = 0;
    for (const link::NeighEntry& e : arp_->neigh().entries()) {
      USTACK_ASSERT(e.queued <= c.unres_qlen, "queue above unres_qlen");
      if (e.state == link::NeighState::kPermanent) continue;
      ++dynamic;
      USTACK_ASSERT(e.state != link::NeighState::kIncomplete || e.mac.is_zero(),
                    "INCOMPLETE entry with a MAC");
      USTACK_ASSERT(e.state == link::NeighState::kIncomplete || e.queued == 0,
                    "packets queued on a resolved entry");
    }
    USTACK_ASSERT(dynamic <= c.gc_thresh3, "table above gc_thresh3");
  }

  PoolHandle pool_ = BufferPool::create(PoolConfig{.max_bytes = 4 << 20});
  DiscardSink sink_;
  Telemetry tel_;
  std::unique_ptr<dev::SimNic> nic_;
  dev::NapiContext napi_;
  link::InterfaceTable ifs_;
  link::Interface* iface_ = nullptr;
  std::unique_ptr<link::LinkLayer> link_;
  std::unique_ptr<link::Arp> arp_;
  Instant now_ = Instant::zero();
  uint64_t unreachable_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness h;
  h.run(std::span<const uint8_t>(data, size));
  return 0;
}
