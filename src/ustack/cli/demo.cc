// `ustack demo`: how Linux networking works, layer by layer, shown on ustack's real code. Three
// hosts (each a stack::Stack: devices, NAPI, Ethernet, ARP, IPv4, ICMP, UDP, TCP, netfilter) on
// the simulated cables of a sim::World, on a virtual clock: the same seed gives the same output
// and byte-identical pcaps. The scenes (demo_lan.cc, demo_router.cc, demo_tcp.cc) print the stacks'
// own trace events and counters; the demo itself speaks no protocol. This file holds what the
// scenes share (demo_net.h) and the final scene: every host's counters in Linux's formats.
#include "ustack/cli/demo.h"

#include <fmt/format.h>

#include "ustack/cli/demo_net.h"
#include "ustack/dev/proc_view.h"
#include "ustack/wire/describe.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/ipv4.h"

namespace ustack::cli {
namespace demo {

std::string ms(Duration d) { return fmt::format("{:.3f} ms", d.seconds() * 1e3); }

std::string indent(const std::string& text, int n) {
  const std::string pad(static_cast<size_t>(n), ' ');
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size() - 1;
    if (end > start) out += pad;  // no trailing blanks on empty lines
    out += text.substr(start, end - start + 1);
    start = end + 1;
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// ---- Narrator ------------------------------------------------------------------------------

void Narrator::on_event(const TraceEvent& e) {
  if (keep_ && !keep_(e)) return;
  ++printed_;
  std::fprintf(out_, "  %s\n", format_event(e).c_str());
  for (Note& n : notes_) {
    if (n.done || n.action != e.action || (!n.node.empty() && n.node != e.node) ||
        e.detail.find(n.detail_has) == std::string::npos)
      continue;
    n.done = true;
    size_t start = 0;
    while (start <= n.text.size()) {
      size_t end = n.text.find('\n', start);
      if (end == std::string::npos) end = n.text.size();
      std::fprintf(out_, "  %12s   ^ %s\n", "", n.text.substr(start, end - start).c_str());
      start = end + 1;
    }
    break;
  }
}

void Narrator::explain(std::string node, std::string action, std::string text,
                       std::string detail_has) {
  notes_.push_back(
      Note{std::move(node), std::move(action), std::move(text), std::move(detail_has)});
}

// ---- Pinger --------------------------------------------------------------------------------

namespace {
// ping's payload: bytes 0, 1, 2, ... so a reply can be checked byte for byte.
std::vector<uint8_t> ping_data(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i);
  return v;
}
}  // namespace

Pinger::Pinger(stack::Stack& st, uint16_t ident) : st_(st), ident_(ident) {
  st_.ip().set_echo_reply_handler(
      [this](Instant now, Ipv4Addr from, uint16_t id, uint16_t seq, std::span<const uint8_t> data) {
        if (id != ident_) return;  // another ping's reply (ping matches on its ident, too)
        auto it = probes_.find(seq);
        if (it == probes_.end()) return;
        Probe& p = it->second;
        if (p.replies++ != 0) return;
        p.first_reply = now;
        p.from = from;
        p.bytes = wire::kIcmpHeaderLen + data.size();
        const std::vector<uint8_t> sent = ping_data(data.size());
        p.intact = std::equal(data.begin(), data.end(), sent.begin(), sent.end());
      });
}

Pinger::~Pinger() { st_.ip().set_echo_reply_handler({}); }

Result<void, ip::IpError> Pinger::send(Instant now, Ipv4Addr dst, uint16_t seq, size_t size,
                                       uint8_t ttl, bool dont_frag) {
  probes_[seq] = Probe{.sent = now};
  auto r = st_.ip().send_echo(now, dst, ident_, seq, ping_data(size), ttl, dont_frag);
  if (r) ++transmitted_;
  return r;
}

const Pinger::Probe* Pinger::probe(uint16_t seq) const {
  auto it = probes_.find(seq);
  return it == probes_.end() ? nullptr : &it->second;
}

uint64_t Pinger::received() const {
  uint64_t n = 0;
  for (const auto& [seq, p] : probes_) n += p.replies != 0 ? 1 : 0;
  return n;
}

uint64_t Pinger::duplicates() const {
  uint64_t n = 0;
  for (const auto& [seq, p] : probes_) n += p.replies > 1 ? p.replies - 1 : 0;
  return n;
}

std::string Pinger::reply_line(uint16_t seq) const {
  const Probe* p = probe(seq);
  if (p == nullptr || p->replies == 0) return fmt::format("no reply to icmp_seq={}", seq);
  return fmt::format("{} bytes from {}: icmp_seq={} time={}", p->bytes, p->from.to_string(), seq,
                     ms(p->first_reply - p->sent));
}

std::string Pinger::statistics(Ipv4Addr dst) const {
  const uint64_t rx = received();
  const double loss =
      transmitted_ == 0 ? 0.0 : 100.0 * static_cast<double>(transmitted_ - rx) / transmitted_;
  const uint64_t dup = duplicates();
  return fmt::format(
      "--- {} ping statistics ---\n{} packets transmitted, {} received{}, {:g}% "
      "packet loss",
      dst.to_string(), transmitted_, rx,
      dup != 0 ? fmt::format(", +{} duplicates", dup) : std::string(), loss);
}

void Pinger::reset() {
  probes_.clear();
  transmitted_ = 0;
}

// ---- DemoNet -------------------------------------------------------------------------------

DemoNet::DemoNet(const DemoOptions& opt, std::FILE* out)
    : opt_(opt), out_(out), narrator_(out), world_(sim::WorldConfig{.seed = opt.seed}) {
  world_.add_host("alice");
  world_.add_host("bob");
  world_.add_host("r1");
  const dev::SimLinkConfig cable{.latency = Duration::us(5), .bits_per_second = 1'000'000'000};

  // Scenes 1-3: alice and bob on one cable. A fault injector sits on alice's NIC (idle until
  // scene 3), below the capture's view of the wire; bob's RX ring is --rx-ring descriptors.
  sim::ConnectOptions lan;
  lan.link = cable;
  lan.a.faults = dev::FaultInjectorConfig{.seed = opt.seed};
  lan.b.ring_size = opt.rx_ring;
  add_nic_paths(lan.a, "alice", "eth0");
  add_nic_paths(lan.b, "bob", "eth0");
  world_.connect("alice", "bob", lan);
  // Scene 4: alice - r1 - bob, the second hop with an MTU of 1000.
  sim::ConnectOptions left;
  left.link = cable;
  add_nic_paths(left.a, "alice", "eth1");
  add_nic_paths(left.b, "r1", "eth0");
  world_.connect("alice", "r1", left);
  sim::ConnectOptions right;
  right.link = cable;
  right.mtu = 1000;
  add_nic_paths(right.a, "r1", "eth1");
  add_nic_paths(right.b, "bob", "eth1");
  world_.connect("r1", "bob", right);
  // Scene 5: alice and bob on a cable of their own for TCP (created last, so the NICs, MACs
  // and fault seeds of scenes 1-4 stay what they were).
  sim::ConnectOptions tcp;
  tcp.link = cable;
  add_nic_paths(tcp.a, "alice", "eth2");
  add_nic_paths(tcp.b, "bob", "eth2");
  world_.connect("alice", "bob", tcp);

  // ip addr add / ip route add default via / sysctl net.ipv4.ip_forward=1
  for (auto [host, ifname, cidr] : {std::tuple{"alice", "eth0", "10.0.0.1/24"},
                                    {"bob", "eth0", "10.0.0.2/24"},
                                    {"alice", "eth1", "10.0.1.2/24"},
                                    {"r1", "eth0", "10.0.1.1/24"},
                                    {"r1", "eth1", "10.0.2.1/24"},
                                    {"bob", "eth1", "10.0.2.2/24"},
                                    {"alice", "eth2", "10.0.3.1/24"},
                                    {"bob", "eth2", "10.0.3.2/24"}}) {
    auto r = world_.add_address(host, ifname, cidr);
    USTACK_ASSERT(r.ok(), "the demo's addresses are valid");
  }
  USTACK_ASSERT(world_.add_default_route("alice", "10.0.1.1").ok(), "r1 is on alice's eth1");
  USTACK_ASSERT(world_.add_default_route("bob", "10.0.2.1").ok(), "r1 is on bob's eth1");
  world_.host("r1").set_forwarding(true);
  ping_ = std::make_unique<Pinger>(world_.host("alice"), 0x4242);
  // The gratuitous ARPs announcing the new addresses go out and land before scene 1.
  world_.run_until(Instant::zero() + Duration::ms(1));
}

DemoNet::~DemoNet() {
  world_.set_trace_sink(nullptr);
  for (auto& r : receivers_) r->sock->on_readable({});
}

void DemoNet::add_nic_paths(sim::NicOptions& o, std::string_view host, std::string_view ifname) {
  o.pcap_path = pcap_path(host, ifname);
}

std::string DemoNet::pcap_path(std::string_view host, std::string_view ifname) const {
  return fmt::format("{}-{}-{}.pcap", opt_.pcap_prefix, host, ifname);
}

void DemoNet::trace(uint32_t layer_mask) {
  if (opt_.quiet) return trace_off();
  world_.set_trace_sink(&narrator_, layer_mask);
}

UdpReceiver& DemoNet::udp_receiver(std::string_view host, uint16_t port) {
  auto r = std::make_unique<UdpReceiver>();
  r->sock = world_.host(host).udp().open();
  USTACK_ASSERT(r->sock->bind(Ipv4Addr::any(), port).ok(), "the demo's ports are free");
  UdpReceiver* self = r.get();
  r->sock->on_readable([self](Instant) {
    while (auto d = self->sock->recv()) {
      ++self->datagrams;
      self->bytes += d->payload().size();
    }
  });
  receivers_.push_back(std::move(r));
  return *self;
}

dev::NetDevice& DemoNet::dev(std::string_view host, std::string_view ifname) {
  link::Interface* i = world_.host(host).interface(ifname);
  USTACK_ASSERT(i != nullptr, "the demo's interfaces exist");
  return i->dev();
}

std::vector<dev::PcapRecord> DemoNet::captured(std::string_view host, std::string_view ifname,
                                               Instant since) {
  world_.flush_pcaps();
  std::vector<dev::PcapRecord> out;
  auto r = dev::PcapReader::open(pcap_path(host, ifname));
  if (!r) return out;
  auto all = r->read_all();
  if (!all) return out;
  for (dev::PcapRecord& rec : *all)
    if (rec.ts >= since) out.push_back(std::move(rec));
  return out;
}

void DemoNet::tcpdump(std::string_view host, std::string_view ifname, Instant since) {
  say(fmt::format("  tcpdump -e -n -i {} on {}:", ifname, host));
  for (const dev::PcapRecord& rec : captured(host, ifname, since)) {
    std::string line = wire::describe_frame(rec.data);
    auto eth = wire::EthernetView::parse(rec.data);
    if (eth && eth->ethertype() == wire::to_u16(wire::EtherType::kIpv4)) {
      auto ip = wire::Ipv4View::parse(eth->payload());
      if (ip && ip->ttl() > 1) line += fmt::format(" (ttl {})", ip->ttl());
    }
    say(fmt::format("    {} {}", rec.ts.to_string(), line));
  }
}

void DemoNet::title(const std::string& s) { std::fprintf(out_, "\n== %s\n", s.c_str()); }
void DemoNet::say(const std::string& s) { std::fprintf(out_, "%s\n", s.c_str()); }

bool DemoNet::check(bool ok, const std::string& what) {
  std::fprintf(out_, "  [%s] %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures_;
  return ok;
}

// ---- Scene 6: every host's counters ----------------------------------------------------------

void scene_counters(DemoNet& net) {
  net.title("Scene 6. What each host counted, in Linux's formats");
  net.say(
      "  Every packet above is accounted for somewhere below: /proc/net/snmp's counters, the\n"
      "  devices' /proc/net/dev and ring statistics, and drops by reason (the stack's\n"
      "  SKB_DROP_REASON list).");
  net.run_for(Duration::ms(10));  // TX completions reclaimed, nothing left in flight
  for (const char* name : {"alice", "r1", "bob"}) {
    stack::Stack& st = net.host(name);
    std::string text = fmt::format(
        "\n--- {} ---\n$ ip route\n{}$ ip neigh\n{}$ cat /proc/net/snmp\n{}"
        "$ cat /proc/net/dev; ethtool -S; cat /proc/net/softnet_stat\n{}"
        "drops by reason:\n{}",
        name, st.format_routes(), st.format_neigh(), st.format_snmp(), st.format_devs(),
        st.format_drops());
    text.pop_back();  // say() ends the line
    net.say(text);
  }
  net.say("");
  // The router's books balance: what came in was forwarded, delivered, or dropped (its links
  // are clean, so every drop it counted happened in IP: TTL, DF, FORWARD rule).
  stack::Stack& r1 = net.host("r1");
  const ip::IpStats& ip = r1.ip().stats();
  const uint64_t r1_drops = r1.telemetry().drops().total();
  net.check(
      ip.in_receives == ip.forw_datagrams + ip.in_delivers + r1_drops,
      fmt::format("r1: every datagram it received (InReceives {}) was forwarded "
                  "(ForwDatagrams {}), delivered (InDelivers {}) or dropped with a reason ({})",
                  ip.in_receives, ip.forw_datagrams, ip.in_delivers, r1_drops));
  // Leak check: once idle, a host's buffers are its RX rings' posted descriptors, nothing
  // else (no socket, neighbour or reassembly queue holds one, every TX buffer was reclaimed).
  for (const char* name : {"alice", "r1", "bob"}) {
    stack::Stack& st = net.host(name);
    uint64_t posted = 0;
    for (const auto& i : st.interfaces().all())
      posted += net.world().nic(name, i->name())->config().rx_ring_size;
    net.check(st.pool().stats().buffers_out == posted,
              fmt::format("{}: no buffer leaked ({} out = the RX rings' posted descriptors)", name,
                          st.pool().stats().buffers_out));
  }
}

}  // namespace demo

namespace {
constexpr const char* kPcapFiles[] = {"alice-eth0", "alice-eth1", "alice-eth2", "r1-eth0",
                                      "r1-eth1",    "bob-eth0",   "bob-eth1",   "bob-eth2"};
}  // namespace

int run_demo(const DemoOptions& opt, std::FILE* out) {
  // The capture files must be writable before the world opens them (it asserts).
  for (const char* f : kPcapFiles) {
    const std::string path = fmt::format("{}-{}.pcap", opt.pcap_prefix, f);
    if (auto w = dev::PcapWriter::open(path); !w) {
      std::fprintf(stderr, "ustack demo: cannot write %s: %s\n", path.c_str(),
                   w.error().message.c_str());
      return 2;
    }
  }
  demo::DemoNet net(opt, out);
  net.title(fmt::format(
      "ustack demo: three hosts, real ustack stacks, simulated cables, virtual time (seed {})",
      opt.seed));
  net.say(
      "\n"
      "  alice eth0 10.0.0.1/24 ----------------------------------------------- 10.0.0.2/24 "
      "eth0 bob\n"
      "  alice eth1 10.0.1.2/24 --- 10.0.1.1/24 eth0 r1 eth1 10.0.2.1/24 --- 10.0.2.2/24 eth1 "
      "bob\n"
      "                                                (MTU 1000)\n"
      "  alice eth2 10.0.3.1/24 ----------------------------------------------- 10.0.3.2/24 "
      "eth2 bob\n"
      "\n"
      "  Each host is a stack::Stack: NICs with descriptor rings and NAPI, Ethernet, ARP, IPv4,\n"
      "  ICMP, UDP, TCP and netfilter. The cables are 1 Gbit/s with 5 us of latency. Every event "
      "line\n"
      "  below comes from the stacks' own code: time (s), host, layer, action, detail, #packet.");
  demo::scene_arp_and_first_ping(net);
  demo::scene_burst(net);
  demo::scene_lossy_cable(net);
  demo::scene_router(net);
  demo::scene_tcp(net);
  demo::scene_counters(net);
  net.world().close_pcaps();
  std::string files;
  for (const char* f : kPcapFiles) files += fmt::format(" {}-{}.pcap", opt.pcap_prefix, f);
  net.say(
      fmt::format("\npcap (one per interface, as seen on the wire):{}\n  (try: tshark -r "
                  "{}-r1-eth1.pcap)",
                  files, opt.pcap_prefix));
  net.say(net.failures() == 0 ? "demo: all checks passed"
                              : fmt::format("demo: {} checks FAILED", net.failures()));
  return net.failures() == 0 ? 0 : 1;
}

}  // namespace ustack::cli
