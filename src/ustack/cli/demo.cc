// `ustack demo`: two simulated hosts on one cable, every frame's journey through the device
// layer printed step by step, on a virtual clock (same seed: same output, same pcap bytes).
//
//   1. ARP: alice broadcasts who-has, bob answers. Each frame: xmit -> qdisc -> TX ring slot
//      -> the wire -> DMA into a posted RX descriptor -> interrupt (then masked) -> NAPI poll
//      -> netif_receive -> NAPI complete (interrupt unmasked) -> TX completion frees it.
//   2. Echo: alice sends an ICMP echo request; bob turns the *same buffer* into the reply
//      (headers rewritten in place, payload never moves) and sends it back.
//   3. A burst into a small RX ring: one interrupt, NAPI polls of 64 that exhaust their
//      budget, and ring-full drops (rx_missed) once the ring overflows.
//   4. A lossy cable: a seeded fault injector drops, duplicates and corrupts alice's frames.
// Bob's answers come from a few lines of demo code (Host::netif_receive); the stack's real
// ARP, IPv4 and ICMP layers are built on this device layer by the network layer.
#include "ustack/cli/demo.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <memory>

#include "ustack/base/telemetry.h"
#include "ustack/buf/pool.h"
#include "ustack/dev/fault_injector.h"
#include "ustack/dev/napi.h"
#include "ustack/dev/pcap.h"
#include "ustack/dev/proc_view.h"
#include "ustack/dev/sim_nic.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/describe.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/udp.h"

namespace ustack::cli {
namespace {

using dev::NetDevice;
using wire::Ipv4Addr;
using wire::MacAddr;

// Prints each event, or only counts them (scenes 3 and 4 would print thousands of lines).
class DemoSink : public TraceSink {
 public:
  explicit DemoSink(std::FILE* out) : out_(out) {}
  void on_event(const TraceEvent& e) override {
    ++by_action[fmt::format("{} {}", e.node, e.action)];
    if (e.reason != DropReason::kNone) ++by_reason[std::string(drop_reason_name(e.reason))];
    if (print) std::fprintf(out_, "  %s\n", format_event(e).c_str());
  }
  void note(const std::string& s) {
    if (print) std::fprintf(out_, "  %12s %s\n", "", s.c_str());
  }
  void reset_counts() {
    by_action.clear();
    by_reason.clear();
  }
  bool print = true;
  std::map<std::string, uint64_t> by_action;
  std::map<std::string, uint64_t> by_reason;

 private:
  std::FILE* out_;
};

struct Host : dev::RxSink {
  Host(std::string n, uint8_t id, BufferPool& p, DemoSink& s)
      : name(n),
        mac{{0x02, 0, 0, 0, 0, id}},
        ip(Ipv4Addr::from_octets(10, 0, 0, id)),
        tel(std::move(n)),
        pool(p),
        sink(s) {}

  std::string name;
  MacAddr mac;
  Ipv4Addr ip;
  Telemetry tel;
  BufferPool& pool;
  DemoSink& sink;
  dev::NapiContext napi;
  std::unique_ptr<NetDevice> dev;  // outermost: FaultInjector(PcapCapture(SimNic))
  dev::SimNic* nic = nullptr;
  dev::FaultInjector* faults = nullptr;
  dev::PcapCapture* capture = nullptr;
  uint64_t udp_received = 0;
  uint64_t echo_replies = 0;
  uint64_t arp_replies = 0;
  uint64_t undecodable = 0;
  // The host's CPU is busy with something else until then: its softirq (NAPI) cannot run,
  // so arriving frames pile up in the RX ring, as they do on a loaded machine.
  Instant busy_until = Instant::zero();

  // Demo protocol handling: answer ARP for our address, answer echo requests in place.
  void netif_receive(Instant now, NetDevice& d, PacketPtr f) override {
    sink.note(wire::describe_frame(f->data()));
    auto eth = wire::EthernetView::parse(f->data());
    if (!eth) return (void)++undecodable;
    if (eth->ethertype() == wire::to_u16(wire::EtherType::kArp)) {
      auto av = wire::ArpView::parse(eth->payload());
      auto a = av ? wire::ArpRepr::parse(*av) : Err{av.error()};
      if (!a) return (void)++undecodable;
      if (a->op == wire::ArpOp::kReply) return (void)++arp_replies;
      if (a->target_ip == ip) d.xmit(now, arp(wire::ArpOp::kReply, a->sender_hw, a->sender_ip));
      return;
    }
    if (eth->ethertype() != wire::to_u16(wire::EtherType::kIpv4)) return;
    auto ipv = wire::Ipv4View::parse(eth->payload());
    auto ipr = ipv ? wire::Ipv4Repr::parse(*ipv) : Err{ipv.error()};
    if (!ipr) return (void)++undecodable;
    if (ipr->dst != ip) return;
    if (ipr->protocol == wire::to_u8(wire::IpProto::kUdp)) {
      auto uv = wire::UdpView::parse(ipv->payload());
      auto ur = uv ? wire::UdpRepr::parse(*uv, {ipr->src, ipr->dst}) : Err{uv.error()};
      if (!ur) return (void)++undecodable;
      return (void)++udp_received;
    }
    if (ipr->protocol != wire::to_u8(wire::IpProto::kIcmp)) return;
    auto iv = wire::IcmpView::parse(ipv->payload());
    auto ir = iv ? wire::IcmpRepr::parse(*iv) : Err{iv.error()};
    if (!ir) return (void)++undecodable;
    if (std::holds_alternative<wire::IcmpEchoReply>(ir->msg)) return (void)++echo_replies;
    const auto* req = std::get_if<wire::IcmpEchoRequest>(&ir->msg);
    if (req == nullptr || ipv->header_len() != wire::kIpv4MinHeaderLen) return;
    // The reply is written over the request, in the same buffer (cf. Linux's icmp_reply):
    // ICMP header, IPv4 header and Ethernet header are rewritten where they are; the echo
    // data is already in place and is not copied.
    const wire::IcmpRepr reply{wire::IcmpEchoReply{req->ident, req->seq_no, req->data}};
    const wire::Ipv4Repr ip_reply{.src = ip,
                                  .dst = ipr->src,
                                  .protocol = wire::to_u8(wire::IpProto::kIcmp),
                                  .payload_len = static_cast<uint16_t>(reply.buffer_len())};
    const wire::EthernetRepr eth_reply{eth->src(), mac, wire::to_u16(wire::EtherType::kIpv4),
                                       std::nullopt};
    const size_t len = wire::kEthHeaderLen + wire::kIpv4MinHeaderLen + reply.buffer_len();
    if (!f->trim(len)) return;     // cut the Ethernet padding the request arrived with
    auto out = f->mutable_data();  // we hold the only reference: no copy-on-write happens
    if (!out) return;
    reply.emit(out->subspan(wire::kEthHeaderLen + wire::kIpv4MinHeaderLen));
    ip_reply.emit(out->subspan(wire::kEthHeaderLen));
    eth_reply.emit(*out);
    f->trace_id = 0;  // a new frame on the wire: a new journey
    d.xmit(now, std::move(f));
  }

  PacketPtr arp(wire::ArpOp op, MacAddr tha, Ipv4Addr tpa) {
    PacketPtr p = pool.alloc(BufferPool::kDefaultHeadroom, wire::kArpLen);
    const bool req = op == wire::ArpOp::kRequest;
    wire::ArpRepr{op, mac, ip, req ? MacAddr{} : tha, tpa}.emit(*p->put(wire::kArpLen));
    const wire::EthernetRepr eth{req ? MacAddr::broadcast() : tha, mac,
                                 wire::to_u16(wire::EtherType::kArp), std::nullopt};
    eth.emit(*p->push(eth.header_len()));
    return p;
  }

  // An IPv4 datagram built the way the stack will: payload first, then each layer pushes.
  PacketPtr ipv4(const Host& to, uint8_t proto, std::span<const uint8_t> l4) {
    PacketPtr p = pool.alloc(BufferPool::kDefaultHeadroom, l4.size());
    (void)p->append(l4);
    p->set_transport_header();
    const wire::Ipv4Repr ipr{.src = ip,
                             .dst = to.ip,
                             .protocol = proto,
                             .payload_len = static_cast<uint16_t>(l4.size())};
    ipr.emit(*p->push(ipr.header_len()));
    p->set_network_header();
    const wire::EthernetRepr eth{to.mac, mac, wire::to_u16(wire::EtherType::kIpv4), std::nullopt};
    eth.emit(*p->push(eth.header_len()));
    p->set_mac_header();
    return p;
  }

  PacketPtr echo_request(const Host& to, uint16_t seq) {
    const std::string data = "ustack demo ping";
    std::vector<uint8_t> icmp(wire::kIcmpHeaderLen + data.size());
    std::memcpy(icmp.data() + wire::kIcmpHeaderLen, data.data(), data.size());
    const wire::IcmpRepr r{wire::IcmpEchoRequest{
        0x4242, seq, std::span<const uint8_t>(icmp).subspan(wire::kIcmpHeaderLen)}};
    r.emit(icmp);
    return ipv4(to, wire::to_u8(wire::IpProto::kIcmp), icmp);
  }

  PacketPtr udp(const Host& to, uint16_t seq) {
    std::vector<uint8_t> d(wire::kUdpHeaderLen + 64, static_cast<uint8_t>(seq));
    wire::UdpRepr{40000, 40001}.emit(d, {ip, to.ip});
    return ipv4(to, wire::to_u8(wire::IpProto::kUdp), d);
  }
};

class Demo {
 public:
  Demo(const DemoOptions& opt, std::FILE* out)
      : opt_(opt),
        out_(out),
        sink_(out),
        link_(dev::SimLinkConfig{.latency = Duration::us(5), .bits_per_second = 1'000'000'000}),
        alice_("alice", 1, *pool_, sink_),
        bob_("bob", 2, *pool_, sink_) {
    sink_.print = !opt.quiet;
    setup(alice_, 256, /*faults=*/true);
    setup(bob_, opt.rx_ring, /*faults=*/false);
  }
  ~Demo() {
    for (Host* h : {&alice_, &bob_}) h->napi.remove(*h->dev);
  }

  int run() {
    title("ustack demo: two hosts, one simulated cable (1 Gbit/s, 5 us), virtual time");
    say(fmt::format("  alice {} {}  <-- cable -->  bob {} {}   seed {}", alice_.ip.to_string(),
                    alice_.mac.to_string(), bob_.ip.to_string(), bob_.mac.to_string(), opt_.seed));
    scene1();
    scene2();
    scene3();
    scene4();
    summary();
    return failures_ == 0 ? 0 : 1;
  }

 private:
  void setup(Host& h, uint32_t rx_ring, bool faults) {
    uint64_t* ids = &packet_ids_;
    h.tel.share_packet_ids(ids);
    h.tel.set_sink(&sink_);
    dev::DeviceConfig c{.name = "eth0", .mac = h.mac, .rx_ring_size = rx_ring};
    auto nic = std::make_unique<dev::SimNic>(c, *pool_);
    h.nic = nic.get();
    link_.attach(*h.nic);
    std::unique_ptr<NetDevice> d = std::move(nic);
    const std::string path = fmt::format("{}-{}.pcap", opt_.pcap_prefix, h.name);
    auto cap = dev::PcapCapture::open(std::move(d), path);
    if (!cap) {
      std::fprintf(stderr, "ustack demo: cannot write %s: %s\n", path.c_str(),
                   cap.error().message.c_str());
      std::exit(2);
    }
    h.capture = cap->get();
    d = std::move(*cap);
    if (faults) {
      auto fi = std::make_unique<dev::FaultInjector>(std::move(d),
                                                     dev::FaultInjectorConfig{.seed = opt_.seed});
      h.faults = fi.get();
      d = std::move(fi);
    }
    h.dev = std::move(d);
    h.dev->attach(h.tel);
    h.dev->set_up(true);
    h.napi.attach(h.tel);
    h.napi.add(*h.dev);
  }

  // The event loop a simulator runs: deliver what the wire has due, fire device timers, let
  // each host's NAPI drain its devices, then jump the clock to the next deadline.
  void run_until_idle() {
    for (int steps = 0; steps < 10'000'000; ++steps) {
      for (Host* h : {&alice_, &bob_}) {
        if (h->dev->next_deadline() <= now_) h->dev->on_timer(now_);
        if (h->busy_until > now_) continue;
        while (h->napi.run(now_, *h)) {
        }
      }
      Instant next = link_.next_deadline();
      for (Host* h : {&alice_, &bob_}) {
        next = earliest(next, h->dev->next_deadline());
        if (h->busy_until > now_ && h->napi.has_work()) next = earliest(next, h->busy_until);
      }
      if (next == Instant::never()) return;
      now_ = std::max(now_, next);
      link_.advance(now_);
    }
  }

  void scene1() {
    title("Scene 1. ARP: one frame each way, every step");
    say("  alice: who-has 10.0.0.2? (broadcast). bob answers. Watch the rings, the interrupt\n"
        "  that masks itself, the NAPI poll that unmasks it, and the TX completion.");
    alice_.dev->xmit(now_, alice_.arp(wire::ArpOp::kRequest, MacAddr{}, bob_.ip));
    run_until_idle();
    check(alice_.arp_replies == 1, "alice got bob's ARP reply");
  }

  void scene2() {
    title("Scene 2. ICMP echo: bob replies in the same buffer");
    alice_.dev->xmit(now_, alice_.echo_request(bob_, 1));
    run_until_idle();
    check(alice_.echo_replies == 1, "alice got the echo reply");
    check(pool_->stats().copies == 0, "no buffer was copied (copy-on-write never triggered)");
  }

  void scene3() {
    title(fmt::format("Scene 3. A burst of {} datagrams while bob's CPU is busy for 1 ms",
                      opt_.burst));
    say(fmt::format(
        "  bob's RX ring has {} descriptors; NAPI weight 64, netdev_budget 300.\n"
        "  Frames pile up in the ring: one interrupt, then polls of 64. Counting events\n"
        "  instead of printing them.",
        opt_.rx_ring));
    sink_.print = false;
    sink_.reset_counts();
    const dev::RingStats bob0 = bob_.dev->ring_stats();
    const dev::RingStats alice0 = alice_.dev->ring_stats();
    const dev::SoftnetStats soft0 = bob_.napi.stats();
    const uint64_t udp0 = bob_.udp_received;
    bob_.busy_until = now_ + Duration::ms(1);
    for (int i = 0; i < opt_.burst; ++i) alice_.dev->xmit(now_, alice_.udp(bob_, uint16_t(i)));
    run_until_idle();
    sink_.print = !opt_.quiet;
    const dev::RingStats& r = bob_.dev->ring_stats();
    const uint64_t missed = r.rx_ring_full - bob0.rx_ring_full;
    say(fmt::format("  bob: {} datagrams up the stack, {} lost to a full RX ring (rx_missed)",
                    bob_.udp_received - udp0, missed));
    say(
        fmt::format("  bob: {} interrupt(s), {} NAPI polls, {} used their whole budget, "
                    "{} softirq round(s) ran out of netdev_budget (time_squeeze)",
                    r.irq_raised - bob0.irq_raised, r.napi_polls - bob0.napi_polls,
                    r.budget_exhausted - bob0.budget_exhausted,
                    bob_.napi.stats().time_squeeze - soft0.time_squeeze));
    say(fmt::format("  alice: {} frames moved qdisc -> TX ring, {} TX ring stops, {} completions",
                    sink_.by_action["alice tx_ring"],
                    alice_.dev->ring_stats().tx_ring_full - alice0.tx_ring_full,
                    alice_.dev->ring_stats().tx_completions - alice0.tx_completions));
    check(bob_.udp_received - udp0 + missed == static_cast<uint64_t>(opt_.burst),
          "every datagram was either delivered or counted as a ring-full drop");
  }

  void scene4() {
    title(
        fmt::format("Scene 4. A lossy cable: {:.0f}% drop, 5% duplicate, {:.0f}% corrupt (seed {})",
                    opt_.loss * 100, opt_.corrupt * 100, opt_.seed));
    sink_.print = false;
    sink_.reset_counts();
    auto cfg = alice_.faults->config();
    cfg.tx.drop = opt_.loss;
    cfg.tx.duplicate = 0.05;
    cfg.tx.corrupt = opt_.corrupt;
    alice_.faults->set_config(cfg);
    const dev::FaultStats f0 = alice_.faults->tx_fault_stats();
    const uint64_t udp0 = bob_.udp_received;
    const uint64_t bad0 = bob_.undecodable;
    const uint64_t rx0 = bob_.dev->stats().rx_packets;
    for (int i = 0; i < opt_.lossy_frames; ++i) {
      alice_.dev->xmit(now_, alice_.udp(bob_, uint16_t(i)));
      now_ += Duration::us(20);  // paced, so bob's ring plays no part in this scene
      run_until_idle();
    }
    sink_.print = !opt_.quiet;
    const dev::FaultStats& f = alice_.faults->tx_fault_stats();
    const uint64_t sent = f.frames - f0.frames, dropped = f.dropped - f0.dropped;
    const uint64_t dup = f.duplicated - f0.duplicated, corrupt = f.corrupted - f0.corrupted;
    say(fmt::format("  injector: {} frames in, {} dropped, {} duplicated, {} corrupted", sent,
                    dropped, dup, corrupt));
    say(fmt::format(
        "  bob: {} frames received, {} datagrams accepted, {} rejected by a parser\n"
        "       (a flipped bit broke a checksum or a header; a flip inside a MAC address\n"
        "       goes unnoticed here: on a real cable the Ethernet FCS would catch it)",
        bob_.dev->stats().rx_packets - rx0, bob_.udp_received - udp0, bob_.undecodable - bad0));
    for (const auto& [reason, n] : sink_.by_reason) {
      say(fmt::format("  drop reason {}: {}", reason, n));
    }
    check(bob_.dev->stats().rx_packets - rx0 == sent - dropped + dup,
          "frames bob received = sent - dropped + duplicated");
  }

  void summary() {
    title("Counters");
    NetDevice* alice_dev[] = {alice_.dev.get()};
    NetDevice* bob_dev[] = {bob_.dev.get()};
    say("alice /proc/net/dev:\n" + dev::format_proc_net_dev(alice_dev));
    say("bob /proc/net/dev:\n" + dev::format_proc_net_dev(bob_dev));
    say(dev::format_ring_stats(*bob_.dev));
    say("bob /proc/net/softnet_stat: " +
        dev::format_softnet_stat(bob_.napi.stats(), bob_.dev->ring_stats().rx_ring_full));
    const auto& ps = pool_->stats();
    say(
        fmt::format("buffer pool: {} allocs, {} clones, {} copies, {} slab mallocs, {} buffers out "
                    "(the RX rings' posted descriptors)",
                    ps.allocs, ps.clones, ps.copies, ps.slab_mallocs, ps.buffers_out));
    for (Host* h : {&alice_, &bob_}) (void)h->capture->flush();
    say(fmt::format("pcap: {0}-alice.pcap {0}-bob.pcap (try: tshark -r {0}-bob.pcap)",
                    opt_.pcap_prefix));
    say(failures_ == 0 ? "demo: all checks passed"
                       : fmt::format("demo: {} checks FAILED", failures_));
  }

  void title(const std::string& s) { std::fprintf(out_, "\n== %s\n", s.c_str()); }
  void say(const std::string& s) { std::fprintf(out_, "%s\n", s.c_str()); }
  void check(bool ok, const std::string& what) {
    std::fprintf(out_, "  [%s] %s\n", ok ? "ok" : "FAILED", what.c_str());
    if (!ok) ++failures_;
  }

  DemoOptions opt_;
  std::FILE* out_;
  DemoSink sink_;
  PoolHandle pool_ = BufferPool::create();
  dev::SimLink link_;
  uint64_t packet_ids_ = 0;
  Host alice_;
  Host bob_;
  Instant now_ = Instant::zero();
  int failures_ = 0;
};

}  // namespace

int run_demo(const DemoOptions& opt, std::FILE* out) {
  Demo demo(opt, out);
  return demo.run();
}

}  // namespace ustack::cli
