// sim/world.cc — the simulated network: hosts, cables, middleware and the event loop.
#include "ustack/sim/world.h"

#include <fmt/format.h>

#include <charconv>

#include "ustack/base/assert.h"

namespace ustack::sim {

namespace {

// "10.0.1.2/24" (a bare address means /32).
std::optional<link::IfAddr> parse_cidr(std::string_view s) {
  link::IfAddr a;
  size_t slash = s.find('/');
  auto ip = wire::Ipv4Addr::parse(s.substr(0, slash));
  if (!ip) return std::nullopt;
  a.addr = *ip;
  a.prefix_len = 32;
  if (slash != std::string_view::npos) {
    std::string_view len = s.substr(slash + 1);
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), a.prefix_len);
    if (ec != std::errc() || end != len.data() + len.size() || len.empty() || a.prefix_len < 0 ||
        a.prefix_len > 32)
      return std::nullopt;
  }
  return a;
}

// Locally administered, unicast, readable in a capture: 02:00:HH:HH:NN:NN (host, NIC; 1-based).
wire::MacAddr make_mac(uint16_t host_no, uint16_t nic_no) {
  return wire::MacAddr{{0x02, 0x00, static_cast<uint8_t>(host_no >> 8),
                        static_cast<uint8_t>(host_no & 0xff), static_cast<uint8_t>(nic_no >> 8),
                        static_cast<uint8_t>(nic_no & 0xff)}};
}

}  // namespace

World::World(WorldConfig cfg)
    : cfg_(std::move(cfg)), rng_(cfg_.seed), host_seeds_(rng_.fork()), fault_seeds_(rng_.fork()) {}

World::~World() {
  // Threads first: one unwinding may still call its host's sockets.
  sched_.cancel_all();
  // Hosts next (each destroys its stack, then its devices, which unplug from their links),
  // then the links: the member order says so, this only makes it explicit.
  hosts_.clear();
  links_.clear();
}

// ---- topology ------------------------------------------------------------------------------

stack::Stack& World::add_host(std::string name) {
  return add_host(std::move(name), cfg_.host_defaults);
}

stack::Stack& World::add_host(std::string name, stack::StackConfig cfg) {
  for (const auto& h : hosts_) USTACK_ASSERT(h->name != name, "host names are unique");
  cfg.name = name;
  // One forked stream per host, in creation order: a host added later never shifts the seeds
  // of those before it.
  cfg.seed = host_seeds_.fork().next_u64();
  auto h = std::make_unique<Host>();
  h->name = std::move(name);
  h->stack = std::make_unique<stack::Stack>(std::move(cfg));
  h->stack->telemetry().share_packet_ids(&packet_ids_);
  h->env = std::make_unique<SimEnv>(sched_, now_);
  h->stack->sockets().set_env(h->env.get());
  if (sink_ != nullptr) h->stack->telemetry().set_sink(sink_, sink_mask_);
  hosts_.push_back(std::move(h));
  return *hosts_.back()->stack;
}

World::Host& World::host_ref(std::string_view name) {
  for (const auto& h : hosts_)
    if (h->name == name) return *h;
  assert_fail("host(name)", __FILE__, __LINE__, "no host by that name in this world");
}

stack::Stack& World::host(std::string_view name) { return *host_ref(name).stack; }

link::Interface& World::add_nic(Host& h, uint16_t host_no, dev::SimLink& link, uint32_t mtu,
                                const NicOptions& o) {
  stack::Stack& st = *h.stack;
  const auto nic_no = static_cast<uint16_t>(h.nics.size() + 1);
  dev::DeviceConfig dc;
  dc.name = fmt::format("eth{}", h.nics.size());
  dc.mac = make_mac(host_no, nic_no);
  dc.mtu = mtu;
  dc.rx_ring_size = o.ring_size;
  dc.tx_ring_size = o.ring_size;
  dc.txqueuelen = o.txqueuelen;
  // RX buffers come from the receiving stack's pool: the frame is that host's from the DMA on.
  auto sim = std::make_unique<dev::SimNic>(std::move(dc), st.pool());
  Nic n;
  n.nic = sim.get();
  link.attach(*sim);
  std::unique_ptr<dev::NetDevice> dev = std::move(sim);

  auto wrap_pcap = [&] {
    auto w = dev::PcapWriter::open(o.pcap_path, o.pcap_options);
    USTACK_ASSERT(w.ok(), "cannot open the pcap file");
    auto cap = std::make_unique<dev::PcapCapture>(std::move(dev), std::move(*w));
    n.pcap = cap.get();
    dev = std::move(cap);
  };
  auto wrap_faults = [&] {
    dev::FaultInjectorConfig fc = *o.faults;
    fc.seed ^= fault_seeds_.fork().next_u64();
    auto fi = std::make_unique<dev::FaultInjector>(std::move(dev), fc);
    n.faults = fi.get();
    dev = std::move(fi);
  };
  const bool pcap = !o.pcap_path.empty();
  if (pcap && o.capture_at == CaptureAt::kWire) wrap_pcap();
  if (o.faults) wrap_faults();
  if (pcap && o.capture_at == CaptureAt::kStack) wrap_pcap();

  n.outer = std::move(dev);
  n.iface = &st.add_interface(*n.outer);
  h.nics.push_back(std::move(n));
  return *h.nics.back().iface;
}

Connection World::connect(std::string_view a, std::string_view b, dev::SimLinkConfig link,
                          uint32_t mtu) {
  ConnectOptions o;
  o.link = link;
  o.mtu = mtu;
  return connect(a, b, o);
}

Connection World::connect(std::string_view a, std::string_view b, const ConnectOptions& opts) {
  USTACK_ASSERT(a != b, "a cable joins two different hosts");
  Host& ha = host_ref(a);
  Host& hb = host_ref(b);
  auto host_no = [&](const Host& h) {
    for (size_t i = 0; i < hosts_.size(); ++i)
      if (hosts_[i].get() == &h) return static_cast<uint16_t>(i + 1);
    return uint16_t{0};
  };
  links_.push_back(std::make_unique<dev::SimLink>(opts.link));
  dev::SimLink& l = *links_.back();
  link::Interface& ia = add_nic(ha, host_no(ha), l, opts.mtu, opts.a);
  link::Interface& ib = add_nic(hb, host_no(hb), l, opts.mtu, opts.b);
  return Connection{ia, ib, l};
}

World::Nic* World::find_nic(std::string_view host, std::string_view ifname) {
  for (const auto& h : hosts_) {
    if (h->name != host) continue;
    for (Nic& n : h->nics)
      if (n.iface->name() == ifname) return &n;
  }
  return nullptr;
}

dev::SimNic* World::nic(std::string_view host, std::string_view ifname) {
  Nic* n = find_nic(host, ifname);
  return n != nullptr ? n->nic : nullptr;
}

dev::FaultInjector* World::faults(std::string_view host, std::string_view ifname) {
  Nic* n = find_nic(host, ifname);
  return n != nullptr ? n->faults : nullptr;
}

dev::PcapCapture* World::pcap(std::string_view host, std::string_view ifname) {
  Nic* n = find_nic(host, ifname);
  return n != nullptr ? n->pcap : nullptr;
}

void World::flush_pcaps() {
  for (const auto& h : hosts_)
    for (Nic& n : h->nics)
      if (n.pcap != nullptr) (void)n.pcap->flush();
}

void World::close_pcaps() {
  for (const auto& h : hosts_)
    for (Nic& n : h->nics)
      if (n.pcap != nullptr) (void)n.pcap->close();
}

// ---- configuration helpers -----------------------------------------------------------------

Result<void, std::string> World::add_address(std::string_view host, std::string_view ifname,
                                             std::string_view cidr) {
  auto a = parse_cidr(cidr);
  if (!a) return Err{fmt::format("bad address {}", cidr)};
  stack::Stack& st = this->host(host);
  link::Interface* i = st.interface(ifname);
  if (i == nullptr) return Err{fmt::format("{} has no interface {}", host, ifname)};
  return st.add_address(now_, i->ifindex(), *a);
}

Result<void, std::string> World::add_default_route(std::string_view host, std::string_view gw) {
  auto g = wire::Ipv4Addr::parse(gw);
  if (!g) return Err{fmt::format("bad gateway {}", gw)};
  auto r = this->host(host).add_default_route(*g);
  if (!r) return Err{fmt::format("default via {}: {}", gw, ip::fib_error_name(r.error()))};
  return Ok();
}

Result<void, std::string> World::add_route(std::string_view host, std::string_view prefix,
                                           std::string_view gw) {
  auto p = parse_cidr(prefix);
  auto g = wire::Ipv4Addr::parse(gw);
  if (!p || !g) return Err{fmt::format("bad route {} via {}", prefix, gw)};
  stack::Stack& st = this->host(host);
  auto via = st.fib().lookup(*g);
  if (!via) return Err{fmt::format("gateway {} is not reachable", gw)};
  ip::Route r;
  r.dst = p->network();
  r.prefix_len = p->prefix_len;
  r.gateway = *g;
  r.ifindex = via->ifindex;
  r.proto = ip::RouteProto::kStatic;
  auto res = st.add_route(r);
  if (!res) return Err{fmt::format("{} via {}: {}", prefix, gw, ip::fib_error_name(res.error()))};
  return Ok();
}

wire::Ipv4Addr World::addr(std::string_view host, std::string_view ifname) {
  link::Interface* i = this->host(host).interface(ifname);
  USTACK_ASSERT(i != nullptr && !i->addrs().empty(), "the interface has an address");
  return i->addrs().front().addr;
}

void World::set_trace_sink(TraceSink* sink, uint32_t layer_mask) {
  sink_ = sink;
  sink_mask_ = layer_mask;
  for (const auto& h : hosts_) h->stack->telemetry().set_sink(sink, layer_mask);
}

// ---- the event loop ------------------------------------------------------------------------

Instant World::next_event() const {
  Instant t = Instant::never();
  for (const auto& l : links_) t = earliest(t, l->next_deadline());
  for (const auto& h : hosts_) {
    // A busy host's work (even "now") waits until its CPU is free.
    const Instant d = h->stack->next_deadline();
    t = earliest(t, d == Instant::never() ? d : std::max(d, h->busy_until));
  }
  // A runnable sim thread is work now; a sleeping one's deadline is an event.
  return earliest(t, sched_.next_deadline(now_));
}

// Everything that happens at instant t: frames land, then every stack runs until it is idle.
// A stack's poll can put frames on a zero-latency link (due at t too) or hand another stack
// work, so the round repeats until nobody has anything left at t.
//
// Sim threads run when the network is quiescent at t: those runnable (deadline expired,
// woken by a wakeup callback, just spawned) run one after the other, each until it sleeps or
// returns; what their calls did (segments sent, timers armed, sockets closed) is then picked
// up by the next polling round, and threads that round wakes run after it.
void World::step(Instant t) {
  USTACK_ASSERT(!sched_.on_sim_thread(), "a sim thread cannot run its own world");
  now_ = t;
  ++stats_.steps;
  sched_.expire(t);
  for (int round = 0;; ++round) {
    USTACK_ASSERT(round < cfg_.max_rounds_per_instant, "livelock: the world never went idle");
    ++stats_.rounds;
    for (const auto& l : links_) stats_.deliveries += static_cast<uint64_t>(l->advance(t));
    bool more = false;
    for (const auto& h : hosts_)
      if (h->busy_until <= t) more |= h->stack->poll(t);
    if (!more) {
      bool landed = false;
      for (const auto& l : links_) landed |= l->next_deadline() <= t;
      if (landed) continue;
      if (!sched_.has_runnable()) return;
      stats_.thread_runs += sched_.run_ready();
    }
  }
}

bool World::step_next(Instant limit) {
  Instant t = next_event();
  if (t > limit || t == Instant::never()) return false;
  if (t <= now_) {
    // A deadline that is already due and still pending after a step did not move: something
    // reports work it never does. Stop loudly instead of spinning.
    USTACK_ASSERT(++stalled_ < cfg_.max_rounds_per_instant, "livelock: a deadline never moves");
    t = now_;
  } else {
    stalled_ = 0;
  }
  step(t);
  return true;
}

void World::run_until(Instant until) {
  while (step_next(until)) {
  }
  // Instant::never(): run until nothing is left; the clock stays at the last event.
  if (until > now_ && until != Instant::never()) now_ = until;
}

bool World::run_until(const std::function<bool()>& done, Instant deadline) {
  if (done()) return true;
  while (step_next(deadline)) {
    if (done()) return true;
  }
  if (deadline > now_ && deadline != Instant::never()) now_ = deadline;
  return done();
}

// ---- application threads -------------------------------------------------------------------

SimThreadId World::spawn(std::string_view host, std::string thread_name, std::function<void()> fn) {
  const Host& h = host_ref(host);  // asserts that the host exists
  return sched_.spawn(fmt::format("{}/{}", h.name, thread_name), std::move(fn));
}

bool World::join_threads(Instant deadline) {
  return run_until([this] { return sched_.live() == 0; }, deadline);
}

void World::sleep_until(Instant t) {
  USTACK_ASSERT(sched_.on_sim_thread(), "World::sleep_until is for sim threads");
  // can_sleep() turns false when the world is tearing the thread down (then sleep throws).
  while (now_ < t && sched_.can_sleep()) {
    socket::Waiter w;  // nobody wakes it: only the deadline ends this sleep
    sched_.sleep(w, t, now_);
  }
}

}  // namespace ustack::sim
