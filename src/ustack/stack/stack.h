// stack/stack.h — Stack: one host (its interfaces, neighbour table, routing table, netfilter
// tables, sockets, counters, buffer pool, RNG and telemetry). No globals: two stacks in one
// process share nothing, so a simulated network holds as many hosts as memory allows.
//
// The stack is driven, never free-running (smoltcp's poll/poll_at shape):
//   poll(now)        device timers, NAPI (RX from every device), the loopback backlog, then
//                    every protocol timer that is due. Returns true while work remains at
//                    `now` (call again before sleeping).
//   next_deadline()  when poll must run next even if no device interrupts (Instant::zero()
//                    means "now"; Instant::never() means "only on an interrupt").
// The real-time runner (rt::Runtime) calls these with the monotonic clock from a thread that
// sleeps on device fds and a timer; tests and the simulator call them with virtual time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ustack/base/rng.h"
#include "ustack/base/telemetry.h"
#include "ustack/buf/pool.h"
#include "ustack/dev/napi.h"
#include "ustack/filter/netfilter.h"
#include "ustack/ip/fib.h"
#include "ustack/ip/ipv4.h"
#include "ustack/link/arp.h"
#include "ustack/link/interface.h"
#include "ustack/link/link_layer.h"
#include "ustack/socket/socket.h"
#include "ustack/transport/tcp.h"
#include "ustack/transport/udp.h"

namespace ustack::stack {

struct StackConfig {
  std::string name = "host";  // the Telemetry node name ("alice", "r1")
  uint64_t seed = 1;          // every random choice of the stack derives from it
  PoolConfig pool;
  ip::IpConfig ip;
  link::NeighConfig neigh;
  int netdev_budget = dev::NapiContext::kDefaultNetdevBudget;
  transport::TcpConfig tcp;
  socket::SocketConfig socket;
};

class Stack {
 public:
  explicit Stack(StackConfig cfg = {});
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  const std::string& name() const { return tel_.node(); }

  // ---- configuration (ip link / ip addr / ip route / sysctl) -------------------------------
  // Attaches a device (not owned; it must outlive the stack or be detached with it): NAPI,
  // telemetry, brings it up.
  link::Interface& add_interface(dev::NetDevice& dev);
  // ip addr add: the address, its LOCAL and broadcast FIB entries, the connected route (proto
  // kernel, scope link), and a gratuitous ARP announcing it. Errors are sentences.
  Result<void, std::string> add_address(Instant now, int ifindex, link::IfAddr a);
  Result<void, std::string> remove_address(int ifindex, wire::Ipv4Addr a);
  Result<void, ip::FibError> add_route(const ip::Route& r) { return fib_.add(r); }
  // ip route add default via GW [metric M]: the interface is the one reaching GW.
  Result<void, ip::FibError> add_default_route(wire::Ipv4Addr gw, uint32_t metric = 0);
  void set_forwarding(bool on) { ip_.config().forwarding = on; }
  bool forwarding() { return ip_.config().forwarding; }

  // ---- the event loop ---------------------------------------------------------------------
  bool poll(Instant now);
  Instant next_deadline() const;

  // ---- the parts -----------------------------------------------------------------------------
  link::InterfaceTable& interfaces() { return ifs_; }
  link::Interface* interface(int ifindex) { return ifs_.get(ifindex); }
  link::Interface* interface(std::string_view name) { return ifs_.by_name(name); }
  link::LinkLayer& link() { return link_; }
  link::Arp& arp() { return arp_; }
  link::NeighbourTable& neigh() { return arp_.neigh(); }
  ip::Fib& fib() { return fib_; }
  ip::Ipv4Layer& ip() { return ip_; }
  filter::Netfilter& netfilter() { return nf_; }
  transport::UdpLayer& udp() { return udp_; }
  transport::TcpLayer& tcp() { return tcp_; }
  // The BSD socket API and the five I/O models over tcp() and udp().
  socket::SocketLayer& sockets() { return sockets_; }
  dev::NapiContext& napi() { return napi_; }
  Telemetry& telemetry() { return tel_; }
  BufferPool& pool() { return *pool_; }

  // ---- views, in the formats of the Linux tools ------------------------------------------
  std::string format_addrs() const;   // ip -4 addr
  std::string format_routes() const;  // ip route
  std::string format_neigh() const;   // ip neigh
  std::string format_snmp() const;    // /proc/net/snmp (Ip, Icmp, Udp) + IpExt-like extras
  std::string format_drops() const;   // nonzero drop reasons
  std::string format_devs() const;    // /proc/net/dev + ring stats + softnet
  // Everything above plus the netfilter tables: what `ustack host` prints when it stops.
  std::string format_all() const;

 private:
  std::vector<std::string> ifnames() const;

  Telemetry tel_;
  Rng rng_;
  PoolHandle pool_;
  link::InterfaceTable ifs_;
  dev::NapiContext napi_;
  link::LinkLayer link_;
  filter::Netfilter nf_;
  ip::Fib fib_;
  link::Arp arp_;
  ip::Ipv4Layer ip_;
  transport::UdpLayer udp_;
  transport::TcpLayer tcp_;
  socket::SocketLayer sockets_;
};

}  // namespace ustack::stack
