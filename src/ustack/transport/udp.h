// transport/udp.h — UDP (RFC 768, RFC 1122 §4.1) for one stack: datagram sockets, the port
// table, checksums, ICMP port unreachable, receive queues with Linux's accounting.
//
// Receive (udp_rcv): length and checksum (a zero checksum means "none", RFC 768), then the
// socket lookup (__udp4_lib_lookup): the best-scoring socket among those bound to the port,
// where an exact local address beats the wildcard and a connected socket must match the
// peer. No socket: ICMP port unreachable (RFC 1122 §4.1.3.1; never for broadcasts, icmp_send
// checks) and NoPorts. The datagram is queued on the socket (no copy: the payload stays in the
// received buffer) unless the queue's memory would exceed the receive buffer: then it is
// dropped and counted as RcvbufErrors (and InErrors), as Linux's __udp_enqueue_schedule_skb.
// Queue memory is charged per buffer capacity (Linux charges skb->truesize), so a flood of
// tiny datagrams fills the buffer as fast as in Linux.
//
// Send (udp_sendmsg): copy the payload once into a buffer with headroom for every header,
// write the UDP header with the checksum over the pseudo-header, and hand it to IP.
//
// Sockets here are the transport's object (struct udp_sock); the BSD-style socket API and
// the five I/O models over it come with the socket layer. Readiness is reported through a
// callback (sk_data_ready). Errors are Linux errno values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ustack/base/rng.h"
#include "ustack/base/telemetry.h"
#include "ustack/buf/packet_queue.h"
#include "ustack/ip/ipv4.h"
#include "ustack/transport/tcp_siphash.h"

namespace ustack::transport {

// /proc/net/snmp "Udp:".
struct UdpStats {
  uint64_t in_datagrams = 0;
  uint64_t no_ports = 0;
  uint64_t in_errors = 0;
  uint64_t out_datagrams = 0;
  uint64_t rcvbuf_errors = 0;
  uint64_t sndbuf_errors = 0;
  uint64_t in_csum_errors = 0;
  uint64_t ignored_multi = 0;  // broadcast/multicast with no socket
};

// A received datagram: the payload at pkt->data(), addresses from its headers.
struct UdpDatagram {
  PacketPtr pkt;
  wire::Ipv4Addr from;
  uint16_t from_port = 0;
  wire::Ipv4Addr to;  // the destination address it was sent to (IP_PKTINFO)
  int ifindex = 0;    // arrival interface, 0 if looped back
  std::span<const uint8_t> payload() const { return pkt->data(); }
};

class UdpLayer;

class UdpSocket {
 public:
  // Linux defaults: net.core.rmem_default / wmem_default.
  static constexpr size_t kDefaultRcvbuf = 212992;

  // bind(2): port 0 picks an ephemeral port. EADDRINUSE, EADDRNOTAVAIL (not a local
  // address), EINVAL (already bound).
  Result<void, int> bind(wire::Ipv4Addr addr, uint16_t port);
  // connect(2): fixes the peer (auto-binds). Datagrams from others are then not delivered,
  // and ICMP errors are reported (so_error) as Linux does for connected sockets only.
  Result<void, int> connect(Instant now, wire::Ipv4Addr addr, uint16_t port);
  // sendto(2); dst unspecified means the connected peer (EDESTADDRREQ if none). Auto-binds.
  // Errors: EMSGSIZE (> 65507 bytes), ENETUNREACH, EHOSTUNREACH, ENOBUFS, EPERM, ...
  Result<size_t, int> sendto(Instant now, std::span<const uint8_t> data, wire::Ipv4Addr dst = {},
                             uint16_t port = 0);
  // recvfrom(2) without the copy: the oldest datagram, or nullopt (EAGAIN).
  std::optional<UdpDatagram> recv();
  // recvfrom(2) with the copy into `out` (truncating like MSG_TRUNC semantics: returns the
  // datagram's full length); nullopt if nothing is queued.
  // `peek` (MSG_PEEK) copies without dequeuing.
  std::optional<size_t> recv_into(std::span<uint8_t> out, wire::Ipv4Addr* from = nullptr,
                                  uint16_t* from_port = nullptr, bool peek = false);

  // The pending error from an ICMP message (SO_ERROR): returned once, then cleared.
  int take_error();
  int pending_error() const { return error_; }  // without clearing it (poll's EPOLLERR)
  bool readable() const { return !rx_.empty(); }
  size_t rx_queued() const { return rx_.size(); }
  size_t rx_mem() const { return rx_mem_; }
  size_t rcvbuf() const { return rcvbuf_; }
  void set_rcvbuf(size_t bytes) { rcvbuf_ = bytes; }
  void set_ttl(uint8_t ttl) { ttl_ = ttl; }
  void set_tos(uint8_t tos) { tos_ = tos; }
  void set_no_check(bool v) { no_check_ = v; }  // SO_NO_CHECK: send without a checksum
  void set_bind_device(int ifindex) { oif_ = ifindex; }
  void set_broadcast(bool v) { broadcast_ = v; }  // SO_BROADCAST: needed to send to broadcasts
  // SO_REUSEPORT (before bind): sockets that all set it may bind the same address and port;
  // a datagram goes to one of those not connected, chosen by a keyed hash of its source
  // address and port (Linux udp4_lib_lookup2 -> reuseport_select_sock).
  void set_reuseport(bool v) { reuseport_ = v; }
  bool reuseport() const { return reuseport_; }

  // sk_data_ready / sk_error_report: called (on the stack thread) when a datagram is queued
  // or an error arrives. The socket layer hangs its wait queues here.
  void on_readable(std::function<void(Instant now)> fn) { on_readable_ = std::move(fn); }

  wire::Ipv4Addr local_addr() const { return laddr_; }
  uint16_t local_port() const { return lport_; }
  wire::Ipv4Addr peer_addr() const { return raddr_; }
  uint16_t peer_port() const { return rport_; }
  uint64_t drops() const { return drops_; }  // this socket's RcvbufErrors (ss -u "d")

 private:
  friend class UdpLayer;
  explicit UdpSocket(UdpLayer& layer) : layer_(layer) {}
  void enqueue(Instant now, UdpDatagram d);

  UdpLayer& layer_;
  wire::Ipv4Addr laddr_;
  uint16_t lport_ = 0;
  wire::Ipv4Addr raddr_;
  uint16_t rport_ = 0;
  bool connected_ = false;
  bool no_check_ = false;
  bool broadcast_ = false;
  bool reuseport_ = false;
  uint8_t ttl_ = 0;
  uint8_t tos_ = 0;
  int oif_ = 0;
  int error_ = 0;
  size_t rcvbuf_ = kDefaultRcvbuf;
  size_t rx_mem_ = 0;
  uint64_t drops_ = 0;
  struct Queued {
    wire::Ipv4Addr from;
    uint16_t from_port;
    wire::Ipv4Addr to;
    int ifindex;
  };
  PacketQueue rx_;  // each buffer's cb<Queued>() holds its addresses
  std::function<void(Instant)> on_readable_;
};

class UdpLayer final : public ip::L4Handler {
 public:
  // Linux's net.ipv4.ip_local_port_range.
  static constexpr uint16_t kEphemeralLo = 32768;
  static constexpr uint16_t kEphemeralHi = 60999;

  // Registers itself with `ip` for protocol 17.
  UdpLayer(ip::Ipv4Layer& ip, BufferPool& pool, Telemetry& tel, Rng rng);
  ~UdpLayer() override;

  UdpSocket* open();
  void close(UdpSocket* s);  // frees queued datagrams, releases the port

  void rcv(Instant now, PacketPtr pkt) override;
  void err(Instant now, const ip::IcmpError& e) override;

  const UdpStats& stats() const { return stats_; }
  size_t sockets() const { return socks_.size(); }
  // `ss -uan`-style listing.
  std::string format() const;

 private:
  friend class UdpSocket;
  Result<void, int> bind(UdpSocket& s, wire::Ipv4Addr addr, uint16_t port);
  uint16_t pick_ephemeral(wire::Ipv4Addr addr);
  // Another socket holds addr:port; `s` (the binder, or nullptr for an ephemeral search) may
  // share it with sockets that, like it, set SO_REUSEPORT.
  bool port_conflict(const UdpSocket* s, wire::Ipv4Addr addr, uint16_t port) const;
  UdpSocket* lookup(wire::Ipv4Addr saddr, uint16_t sport, wire::Ipv4Addr daddr, uint16_t dport);
  Result<size_t, int> send(Instant now, UdpSocket& s, std::span<const uint8_t> data,
                           wire::Ipv4Addr dst, uint16_t port);

  ip::Ipv4Layer& ip_;
  BufferPool& pool_;
  Telemetry& tel_;
  Rng rng_;
  std::vector<std::unique_ptr<UdpSocket>> socks_;
  std::unordered_map<uint16_t, std::vector<UdpSocket*>> ports_;  // bound sockets by port
  UdpStats stats_;
  // The reuseport hash secret (Linux udp_ehash_secret), drawn from rng_ at the first
  // SO_REUSEPORT bind so runs that never use the option draw exactly as before.
  SipKey reuseport_key_;
  bool reuseport_keyed_ = false;
};

}  // namespace ustack::transport
