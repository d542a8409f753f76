// ip/ipv4.h — Ipv4Layer: IPv4 input, local delivery, forwarding and output for one stack, with
// ICMP (net/ipv4/ip_input.c, ip_forward.c, ip_output.c, icmp.c).
//
// The packet's road through this layer (seed 000, "IP 层的处理"):
//   ip_rcv: validate version, header length, total length, checksum (InHdrErrors); trim link
//     padding; drop martian sources and source-routed packets -> PRE_ROUTING ->
//   route (Fib): local (one of our addresses, a subnet or the limited broadcast)
//       -> ip_local_deliver: reassembly -> LOCAL_IN -> protocol handler (or ICMP protocol
//          unreachable)
//     not local and ip_forward on -> ip_forward: TTL (time exceeded), route (net unreachable),
//          FORWARD hook, DF vs MTU (fragmentation needed), TTL-1 with an incremental checksum,
//          POST_ROUTING, fragment, neighbour output (a new MAC at every hop, same IP addresses)
//     not local, forwarding off -> dropped (kNotForwarding, InAddrErrors)
//   output (transports): route, source address, header, LOCAL_OUT, POST_ROUTING, fragment,
//     neighbour output; packets to our own addresses are looped back through a backlog that
//     poll() drains (Linux's loopback device), never delivered re-entrantly.
// Counters carry /proc/net/snmp's names.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "ustack/base/rng.h"
#include "ustack/base/telemetry.h"
#include "ustack/buf/packet_queue.h"
#include "ustack/buf/pool.h"
#include "ustack/filter/netfilter.h"
#include "ustack/ip/fib.h"
#include "ustack/ip/fragment.h"
#include "ustack/ip/icmp_limit.h"
#include "ustack/ip/reassembly.h"
#include "ustack/link/arp.h"
#include "ustack/link/interface.h"
#include "ustack/link/link_layer.h"
#include "ustack/wire/icmp.h"

namespace ustack::ip {

struct IpConfig {
  bool forwarding = false;                   // net.ipv4.ip_forward
  uint8_t default_ttl = 64;                  // net.ipv4.ip_default_ttl
  bool echo_ignore_broadcasts = true;        // net.ipv4.icmp_echo_ignore_broadcasts
  bool echo_ignore_all = false;              // net.ipv4.icmp_echo_ignore_all
  IcmpLimitConfig icmp_limit;                // icmp_ratelimit / icmp_msgs_per_sec / icmp_msgs_burst
  Duration pmtu_expires = Duration::s(600);  // net.ipv4.route.mtu_expires
  uint32_t min_pmtu = 552;                   // net.ipv4.route.min_pmtu
  ReasmConfig reasm;                         // ipfrag_time, ipfrag_high_thresh
};

// /proc/net/snmp "Ip:" (reassembly and fragmentation counters live in ReasmStats/FragStats).
struct IpStats {
  uint64_t in_receives = 0;
  uint64_t in_hdr_errors = 0;
  uint64_t in_addr_errors = 0;
  uint64_t forw_datagrams = 0;
  uint64_t in_unknown_protos = 0;
  uint64_t in_discards = 0;
  uint64_t in_delivers = 0;
  uint64_t out_requests = 0;
  uint64_t out_discards = 0;
  uint64_t out_no_routes = 0;
  uint64_t in_csum_errors = 0;  // IpExt InCsumErrors
};

// /proc/net/snmp "Icmp:" plus Linux's rate-limit counters.
struct IcmpStats {
  uint64_t in_msgs = 0;
  uint64_t in_errors = 0;
  uint64_t in_csum_errors = 0;
  uint64_t in_dest_unreachs = 0;
  uint64_t in_time_excds = 0;
  uint64_t in_echos = 0;
  uint64_t in_echo_reps = 0;
  uint64_t out_msgs = 0;
  uint64_t out_errors = 0;
  uint64_t out_dest_unreachs = 0;
  uint64_t out_time_excds = 0;
  uint64_t out_echos = 0;
  uint64_t out_echo_reps = 0;
  uint64_t out_rate_limit_global = 0;  // OutRateLimitGlobal
  uint64_t out_rate_limit_host = 0;    // OutRateLimitHost
};

// An ICMP error about a datagram we sent, handed to the transport that sent it (err_handler).
struct IcmpError {
  uint8_t type = 0;
  uint8_t code = 0;
  uint16_t mtu = 0;         // fragmentation needed: the next-hop MTU
  wire::Ipv4Addr reporter;  // who sent the ICMP error
  wire::Ipv4Addr src;       // the quoted datagram's addresses (our address, the peer's)
  wire::Ipv4Addr dst;
  uint8_t protocol = 0;
  std::span<const uint8_t> l4;  // the quoted transport header (at least 8 bytes)
};

// A transport protocol (struct net_protocol).
class L4Handler {
 public:
  virtual ~L4Handler() = default;
  // data() at the transport header; network_header() is the IPv4 header; ifindex is the
  // arrival interface (0 for looped-back packets), pkt_type says unicast/broadcast/multicast.
  virtual void rcv(Instant now, PacketPtr pkt) = 0;
  virtual void err(Instant /*now*/, const IcmpError& /*e*/) {}
};

// What output() needs to know (the flow, as Linux's flowi4 + ipcm_cookie).
struct OutArgs {
  wire::Ipv4Addr src;  // unspecified: chosen from the route
  wire::Ipv4Addr dst;
  uint8_t protocol = 0;
  uint8_t ttl = 0;  // 0: default_ttl
  uint8_t tos = 0;
  bool dont_frag = false;  // DF: fail with EMSGSIZE instead of fragmenting
  int oif = 0;             // SO_BINDTODEVICE / IP_PKTINFO: the interface to leave by
};

enum class IpError : uint8_t {
  kNetUnreachable,   // ENETUNREACH: no route
  kHostUnreachable,  // EHOSTUNREACH: unreachable/prohibit route
  kMsgSize,          // EMSGSIZE: DF and too big, or beyond 65535
  kNoBuffer,         // ENOBUFS
  kFiltered,         // EPERM: LOCAL_OUT dropped it
  kNoAddress,        // EADDRNOTAVAIL: no source address
};
std::string_view ip_error_name(IpError e);
int ip_error_errno(IpError e);

// Where a locally generated packet to `dst` goes (ip_route_output).
struct RouteInfo {
  RouteType type = RouteType::kUnicast;
  int ifindex = 0;  // 0: local (loopback)
  wire::Ipv4Addr next_hop;
  wire::Ipv4Addr src;     // the source address to use
  uint32_t mtu = 0;       // path MTU (device MTU, or lower from an ICMP fragmentation needed)
  uint32_t features = 0;  // the output device's dev::NetdevFeature bits (TSO, checksum)
};

// The longest datagram `pkt` (data() = IPv4 header) puts on the wire: its length, or for a GSO
// packet the length of one segment (skb_gso_network_seglen), which is what must fit the MTU.
size_t ip_wire_len(const PacketBuffer& pkt);

class Ipv4Layer final : public link::EtherHandler {
 public:
  struct Deps {
    link::InterfaceTable& ifs;
    link::Arp& arp;
    filter::Netfilter& nf;
    Fib& fib;
    BufferPool& pool;
    Telemetry& tel;
  };
  // Registers itself with `link` for EtherType 0x0800 and with Arp for resolution failures.
  Ipv4Layer(Deps deps, link::LinkLayer& link, IpConfig cfg, Rng rng);

  // ip_rcv: data() at the IPv4 header.
  void rcv(Instant now, link::Interface& iface, PacketPtr pkt) override;

  // inet_add_protocol.
  void register_protocol(uint8_t protocol, L4Handler* h) { protos_[protocol] = h; }

  // One of our addresses (the LOCAL table)?
  bool is_local(wire::Ipv4Addr a) const { return fib_.is_local(a); }
  // ip_route_output_key.
  Result<RouteInfo, IpError> route_output(Instant now, wire::Ipv4Addr dst, int oif = 0) const;
  // ip_queue_xmit / ip_send_skb: data() at the transport header (checksum complete). Pushes
  // the IPv4 header, runs LOCAL_OUT and POST_ROUTING, fragments, resolves the next hop.
  Result<void, IpError> output(Instant now, PacketPtr pkt, const OutArgs& a);

  // icmp_send: an error about `offending` (data() at its IPv4 header), following RFC 1122
  // §3.2.2 / RFC 1812 §4.3.2.7: never about an ICMP error, a non-first fragment, a
  // link-level or IP broadcast/multicast, or an invalid source; rate-limited.
  void icmp_send(Instant now, const PacketBuffer& offending, uint8_t type, uint8_t code,
                 uint16_t mtu = 0);

  // nf_send_reset (REJECT --reject-with tcp-reset): the RST answering the TCP segment
  // `offending` (data() at its IPv4 header) as RFC 9293 §3.10.7.1 builds it.
  void send_tcp_reset(Instant now, const PacketBuffer& offending);
  // ---- ping (an ICMP echo client: tests, benchmarks, `ustack` tools) ---------------------
  using EchoReplyFn = std::function<void(Instant now, wire::Ipv4Addr from, uint16_t ident,
                                         uint16_t seq, std::span<const uint8_t> data)>;
  void set_echo_reply_handler(EchoReplyFn fn) { echo_reply_ = std::move(fn); }
  // `dont_frag`: ping -M do (DF set; a datagram beyond the path MTU fails with kMsgSize here,
  // or earns fragmentation needed from the router whose next hop is too small).
  Result<void, IpError> send_echo(Instant now, wire::Ipv4Addr dst, uint16_t ident, uint16_t seq,
                                  std::span<const uint8_t> data, uint8_t ttl = 0,
                                  bool dont_frag = false);

  // Drains the loopback backlog; returns true if it delivered anything.
  bool poll(Instant now);
  Instant next_deadline() const;
  void on_timer(Instant now);

  IpConfig& config() { return cfg_; }
  const IpConfig& config_const() const { return cfg_; }
  bool has_backlog() const { return !backlog_.empty(); }
  const IpStats& stats() const { return stats_; }
  const IcmpStats& icmp_stats() const { return icmp_stats_; }
  const FragStats& frag_stats() const { return frag_stats_; }
  const Reassembler& reassembler() const { return reasm_; }
  // The learned path MTU to `dst` (RFC 1191), if any and not expired.
  std::optional<uint32_t> pmtu(Instant now, wire::Ipv4Addr dst) const;

 private:
  enum class Dest : uint8_t { kLocal, kForward, kDrop };
  // input path (ipv4_input.cc)
  void rcv_finish(Instant now, link::Interface* iface, PacketPtr pkt);
  bool is_local_dest(const link::Interface* iface, wire::Ipv4Addr dst) const;
  void local_deliver(Instant now, link::Interface* iface, PacketPtr pkt);
  void forward(Instant now, link::Interface& in, PacketPtr pkt);
  bool run_hook(Instant now, filter::Hook h, std::string_view in, std::string_view out,
                PacketPtr& pkt);
  // output path (ipv4_output.cc)
  // `mtu`: what to fragment to: the route's path MTU for our own packets (ip_skb_dst_mtu), the
  // device MTU for forwarded ones (ip_dst_mtu_maybe_forward).
  void finish_output(Instant now, link::Interface& out, wire::Ipv4Addr next_hop, uint32_t mtu,
                     PacketPtr pkt, std::string_view in_name);
  void xmit_one(Instant now, link::Interface& out, wire::Ipv4Addr next_hop, PacketPtr pkt);
  void loopback(Instant now, PacketPtr pkt);
  // icmp.cc
  void icmp_rcv(Instant now, PacketPtr pkt);
  void icmp_echo(Instant now, PacketPtr pkt);
  void icmp_error_rcv(Instant now, const PacketBuffer& pkt, const wire::IcmpView& v);
  void learn_pmtu(Instant now, wire::Ipv4Addr dst, uint16_t mtu);
  void count_out(uint8_t type);

  link::InterfaceTable& ifs_;
  link::Arp& arp_;
  filter::Netfilter& nf_;
  Fib& fib_;
  BufferPool& pool_;
  Telemetry& tel_;
  IpConfig cfg_;
  Rng rng_;
  Reassembler reasm_;
  IcmpLimiter icmp_limit_;
  std::array<L4Handler*, 256> protos_{};
  PacketQueue backlog_;  // looped-back packets (to our own addresses)
  uint16_t ident_;       // IP ID counter, randomly seeded
  struct Pmtu {
    uint32_t mtu;
    Instant expires;
  };
  std::unordered_map<uint32_t, Pmtu> pmtu_;  // dst -> learned path MTU (fib exceptions)
  EchoReplyFn echo_reply_;
  IpStats stats_;
  IcmpStats icmp_stats_;
  FragStats frag_stats_;
};

}  // namespace ustack::ip
