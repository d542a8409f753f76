// stack/stack.cc — wiring one host together and driving it.
#include "ustack/stack/stack.h"

#include <fmt/format.h>

#include "ustack/dev/proc_view.h"

namespace ustack::stack {

Stack::Stack(StackConfig cfg)
    : tel_(cfg.name),
      rng_(cfg.seed),
      pool_(BufferPool::create(cfg.pool)),
      napi_(cfg.netdev_budget),
      link_(ifs_, tel_),
      arp_(link_, ifs_, *pool_, tel_, cfg.neigh, rng_.fork()),
      ip_(ip::Ipv4Layer::Deps{ifs_, arp_, nf_, fib_, *pool_, tel_}, link_, cfg.ip, rng_.fork()),
      udp_(ip_, *pool_, tel_, rng_.fork()),
      tcp_(ip_, *pool_, tel_, rng_.fork(), cfg.tcp),
      sockets_(tcp_, udp_, tel_, cfg.socket) {
  napi_.attach(tel_);
}

Stack::~Stack() {
  for (const auto& i : ifs_.all()) napi_.remove(i->dev());
}

link::Interface& Stack::add_interface(dev::NetDevice& dev) {
  link::Interface& i = ifs_.add(dev);
  dev.attach(tel_);
  napi_.add(dev);
  dev.set_up(true);
  return i;
}

Result<void, std::string> Stack::add_address(Instant now, int ifindex, link::IfAddr a) {
  link::Interface* i = ifs_.get(ifindex);
  if (i == nullptr) return Err{fmt::format("no interface {}", ifindex)};
  if (a.prefix_len < 0 || a.prefix_len > 32)
    return Err{fmt::format("bad prefix length {}", a.prefix_len)};
  if (a.addr.is_unspecified() || a.addr.is_multicast() || a.addr.is_broadcast())
    return Err{fmt::format("{} cannot be an interface address", a.addr.to_string())};
  if (!i->add_addr(a)) return Err{fmt::format("{} already on {}", a.addr.to_string(), i->name())};
  fib_.add_local(a.addr, ifindex);
  if (auto b = a.broadcast()) fib_.add_broadcast(*b, ifindex);
  ip::Route r;
  r.dst = a.network();
  r.prefix_len = a.prefix_len;
  r.ifindex = ifindex;
  r.proto = ip::RouteProto::kKernel;
  r.prefsrc = a.addr;
  if (a.prefix_len < 32) {
    // A second address in the same subnet reuses the connected route (EEXIST is fine).
    if (auto res = fib_.add(r); !res && res.error() != ip::FibError::kExists)
      return Err{std::string(ip::fib_error_name(res.error()))};
  }
  // RFC 5227 §3 / Linux arp_ifup: announce the new address so neighbours update caches.
  arp_.announce(now, *i, a.addr);
  return Ok();
}

Result<void, std::string> Stack::remove_address(int ifindex, wire::Ipv4Addr addr) {
  link::Interface* i = ifs_.get(ifindex);
  if (i == nullptr) return Err{fmt::format("no interface {}", ifindex)};
  std::optional<link::IfAddr> found;
  for (const link::IfAddr& x : i->addrs())
    if (x.addr == addr) found = x;
  if (!found) return Err{fmt::format("{} not on {}", addr.to_string(), i->name())};
  i->remove_addr(addr);
  fib_.remove_local(addr);
  if (auto b = found->broadcast()) fib_.remove_local(*b);
  bool subnet_still_used = false;
  for (const link::IfAddr& x : i->addrs())
    if (x.network() == found->network() && x.prefix_len == found->prefix_len)
      subnet_still_used = true;
  if (!subnet_still_used && found->prefix_len < 32)
    (void)fib_.remove(found->network(), found->prefix_len);
  return Ok();
}

Result<void, ip::FibError> Stack::add_default_route(wire::Ipv4Addr gw, uint32_t metric) {
  auto via = fib_.lookup(gw);
  if (!via || via->type != ip::RouteType::kUnicast || !via->route ||
      !via->route->gateway.is_unspecified())
    return Err{ip::FibError::kBadGateway};
  ip::Route r;
  r.gateway = gw;
  r.ifindex = via->ifindex;
  r.metric = metric;
  r.proto = ip::RouteProto::kStatic;
  return fib_.add(r);
}

bool Stack::poll(Instant now) {
  for (const auto& i : ifs_.all()) {
    dev::NetDevice& d = i->dev();
    if (d.next_deadline() <= now) d.on_timer(now);
  }
  bool more = napi_.run(now, link_);
  // Looped-back packets can answer each other (a ping to ourselves): a bounded number of
  // rounds per poll keeps one poll finite; the rest stays queued for the next.
  for (int round = 0; round < 8 && ip_.poll(now); ++round) {
  }
  if (arp_.next_deadline() <= now) arp_.on_timer(now);
  if (ip_.next_deadline() <= now) ip_.on_timer(now);
  if (tcp_.next_deadline() <= now) tcp_.on_timer(now);
  tcp_.run_wakeups(now);
  sockets_.poll(now);  // deferred socket work: async completions
  // Timers above may have sent (an ARP retry raises a TX-completion interrupt): report that
  // work too, so "false" really means idle.
  return more || napi_.has_work() || ip_.has_backlog() || sockets_.has_work();
}

Instant Stack::next_deadline() const {
  if (napi_.has_work() || ip_.has_backlog() || sockets_.has_work()) return Instant::zero();
  Instant t = earliest(arp_.next_deadline(), ip_.next_deadline());
  t = earliest(t, tcp_.next_deadline());
  for (const auto& i : ifs_.all()) t = earliest(t, i->dev().next_deadline());
  return t;
}

std::vector<std::string> Stack::ifnames() const {
  std::vector<std::string> names(ifs_.all().size() + 1, "lo");
  for (const auto& i : ifs_.all()) names[static_cast<size_t>(i->ifindex())] = i->name();
  return names;
}

std::string Stack::format_addrs() const {
  std::string out;
  for (const auto& i : ifs_.all()) {
    out += fmt::format("{}: {}: <{}> mtu {} link/ether {}\n", i->ifindex(), i->name(),
                       i->is_up() ? "UP" : "DOWN", i->mtu(), i->mac().to_string());
    for (const link::IfAddr& a : i->addrs()) {
      auto b = a.broadcast();
      out += fmt::format("    inet {}/{}{} scope global {}\n", a.addr.to_string(), a.prefix_len,
                         b ? " brd " + b->to_string() : std::string(), i->name());
    }
  }
  return out;
}

std::string Stack::format_routes() const { return fib_.format(ifnames()); }
std::string Stack::format_neigh() const { return arp_.neigh().format(ifnames()); }

std::string Stack::format_snmp() const {
  const ip::IpStats& s = ip_.stats();
  const ip::FragStats& f = ip_.frag_stats();
  const ip::ReasmStats& r = ip_.reassembler().stats();
  const ip::IcmpStats& c = ip_.icmp_stats();
  const transport::UdpStats& u = udp_.stats();
  std::string out;
  out +=
      "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams "
      "InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout "
      "ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates\n";
  out += fmt::format("Ip: {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n",
                     ip_.config_const().forwarding ? 1 : 2, ip_.config_const().default_ttl,
                     s.in_receives, s.in_hdr_errors, s.in_addr_errors, s.forw_datagrams,
                     s.in_unknown_protos, s.in_discards, s.in_delivers, s.out_requests,
                     s.out_discards, s.out_no_routes, r.reasm_timeout, r.reasm_reqds, r.reasm_oks,
                     r.reasm_fails, f.frag_oks, f.frag_fails, f.frag_creates);
  out +=
      "Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InEchos InEchoReps "
      "OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds "
      "OutEchos OutEchoReps\n";
  out +=
      fmt::format("Icmp: {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n", c.in_msgs, c.in_errors,
                  c.in_csum_errors, c.in_dest_unreachs, c.in_time_excds, c.in_echos, c.in_echo_reps,
                  c.out_msgs, c.out_errors, c.out_rate_limit_global, c.out_rate_limit_host,
                  c.out_dest_unreachs, c.out_time_excds, c.out_echos, c.out_echo_reps);
  out +=
      "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors "
      "InCsumErrors IgnoredMulti\n";
  out += fmt::format("Udp: {} {} {} {} {} {} {} {}\n", u.in_datagrams, u.no_ports, u.in_errors,
                     u.out_datagrams, u.rcvbuf_errors, u.sndbuf_errors, u.in_csum_errors,
                     u.ignored_multi);
  out += tcp_.format_snmp();
  out +=
      fmt::format("IpExt: InCsumErrors {} ReasmOverlaps {}\n", s.in_csum_errors, r.reasm_overlaps);
  out += tcp_.format_netstat();
  const link::ArpStats& a = arp_.stats();
  const link::NeighStats& n = arp_.neigh().stats();
  out += fmt::format(
      "Arp: RxRequests {} RxReplies {} TxRequests {} TxReplies {} TxGratuitous {} "
      "DuplicateAddress {} Lookups {} Hits {} ResFailed {} UnresDiscards {}\n",
      a.rx_requests, a.rx_replies, a.tx_requests, a.tx_replies, a.tx_gratuitous,
      a.duplicate_address, n.lookups, n.hits, n.res_failed, n.unres_discards);
  return out;
}

std::string Stack::format_drops() const {
  std::string out;
  const DropCounters& d = tel_.drops();
  for (size_t i = 1; i < kDropReasonCount; ++i) {
    auto r = static_cast<DropReason>(i);
    if (d.get(r) != 0)
      out +=
          fmt::format("  {:<20} {:>10}  {}\n", drop_reason_name(r), d.get(r), drop_reason_text(r));
  }
  return out.empty() ? "  (none)\n" : out;
}

std::string Stack::format_devs() const {
  std::vector<dev::NetDevice*> devs;
  for (const auto& i : ifs_.all()) devs.push_back(&i->dev());
  std::string out = dev::format_proc_net_dev(devs);
  for (dev::NetDevice* d : devs) out += dev::format_ring_stats(*d) + "\n";
  uint64_t dropped = 0;
  for (dev::NetDevice* d : devs) dropped += d->stats().rx_missed_errors;
  out += "softnet_stat: " + dev::format_softnet_stat(napi_.stats(), dropped) + "\n";
  return out;
}

std::string Stack::format_all() const {
  return fmt::format(
      "== {}: ip addr ==\n{}== ip route ==\n{}== ip neigh ==\n{}== /proc/net/dev ==\n{}"
      "== /proc/net/snmp ==\n{}== netfilter ==\n{}== udp sockets ==\n{}== tcp sockets ==\n{}"
      "== socket layer ==\n{}== drops ==\n{}",
      name(), format_addrs(), format_routes(), format_neigh(), format_devs(), format_snmp(),
      nf_.format(), udp_.format(), tcp_.format(), sockets_.format_stats(), format_drops());
}

}  // namespace ustack::stack
