// link/arp.h — ARP (RFC 826) for one stack: arp_rcv, arp_solicit, gratuitous ARP, and the
// neighbour table behind IPv4 output.
//
// Receive (RFC 826 "packet reception", as Linux's arp_process):
//  - validate (Ethernet/IPv4 only, opcode request or reply); drop with a reason otherwise;
//  - ignore frames whose sender is one of our addresses on this interface (a duplicate
//    address: counted) or whose sender IP is multicast/broadcast;
//  - a request whose target is an address of the receiving interface (arp_ignore=0 would
//    also answer for any local address; we answer for the receiving interface's addresses,
//    Linux's arp_ignore=1, because a router with two legs must not leak the other leg's
//    addresses): update the sender as kRequestToUs and reply (unicast, our MAC);
//  - a reply: kReply; anything else with a known sender: kOther (gratuitous ARP updates);
//  - probes (sender 0.0.0.0, RFC 5227) are answered if for us but never create entries.
// Details, each as Linux unless marked:
//  - ignored (counted kArpIgnored): hardware/protocol other than Ethernet/IPv4, opcodes other
//    than request/reply, a sender MAC that is ours (looped back) or a group address, a sender
//    IP that is multicast, broadcast (limited or our subnet's) or loopback, a target IP that
//    is multicast or loopback. Malformed: the wire parser's reason (kTruncated).
//  - a request for an address we do not hold on this interface is consumed silently (no
//    drop): it still refreshes an entry we already have for the sender (kOther).
//  - a reply to a broadcast MAC does not confirm reachability: kOther, like a request.
//  - a duplicate of our address is dropped as kDuplicateAddress (Linux just ignores it).
//  - the reply to a request for us is sent even when the table is too full to learn the
//    requester (Linux then stays silent); the reply to a probe goes to the prober's MAC with
//    target IP 0.0.0.0, byte for byte what Linux sends.
//  - requests (arp_solicit): sender IP is the waiting packet's source if it is ours on this
//    interface, else Interface::select_src; an interface without IPv4 address sends nothing
//    (traced "arp_solicit_skip"; the entry fails after its retries, so its packets end as
//    kNeighFailed). tx_requests counts only requests the device accepted.
// Output: `output()` resolves the next hop and sends through the LinkLayer.
#pragma once

#include <functional>

#include "ustack/buf/pool.h"
#include "ustack/link/link_layer.h"
#include "ustack/link/neighbour.h"
#include "ustack/wire/arp.h"

namespace ustack::link {

struct ArpStats {
  uint64_t rx_requests = 0;
  uint64_t rx_replies = 0;
  uint64_t tx_requests = 0;
  uint64_t tx_replies = 0;
  uint64_t tx_gratuitous = 0;
  uint64_t rx_dropped = 0;         // malformed or ignored (each also a traced drop with a reason)
  uint64_t duplicate_address = 0;  // someone else claims one of our addresses
};

class Arp final : public EtherHandler, private NeighbourTable::Hooks {
 public:
  // Called for each queued packet whose resolution failed (IP reports host unreachable).
  using UnreachableFn = std::function<void(Instant now, int ifindex, wire::Ipv4Addr next_hop,
                                           const PacketBuffer& pkt)>;

  // Registers itself with `link` for EtherType 0x0806.
  Arp(LinkLayer& link, InterfaceTable& ifs, BufferPool& pool, Telemetry& tel, NeighConfig cfg,
      Rng rng);

  void rcv(Instant now, Interface& iface, PacketPtr pkt) override;  // arp_rcv

  // neigh_output for IPv4: deliver `pkt` (data() at the IPv4 header) to `next_hop` on
  // `iface`. Broadcast and multicast next hops need no resolution (the MAC is derived:
  // ff:ff:ff:ff:ff:ff, or 01:00:5e + low 23 bits per RFC 1112 §6.4).
  void output(Instant now, Interface& iface, wire::Ipv4Addr next_hop, PacketPtr pkt);

  // Gratuitous ARP (a request with sender == target == addr, broadcast) announcing `addr` on
  // `iface`: sent when an address is added, so neighbours update stale caches.
  void announce(Instant now, Interface& iface, wire::Ipv4Addr addr);

  void set_unreachable_handler(UnreachableFn fn) { unreachable_ = std::move(fn); }
  NeighbourTable& neigh() { return neigh_; }
  const NeighbourTable& neigh() const { return neigh_; }
  const ArpStats& stats() const { return stats_; }

  Instant next_deadline() const { return neigh_.next_deadline(); }
  void on_timer(Instant now) { neigh_.on_timer(now); }

 private:
  void solicit(Instant now, const NeighEntry& e, bool unicast,
               std::optional<wire::Ipv4Addr> saddr_hint) override;
  void xmit(Instant now, int ifindex, wire::MacAddr mac, PacketPtr pkt) override;
  void unreachable(Instant now, int ifindex, wire::Ipv4Addr next_hop,
                   const PacketBuffer& pkt) override;
  // Builds one ARP packet and hands it to the link; false if it was not queued.
  bool send(Instant now, Interface& iface, const wire::ArpRepr& r, wire::MacAddr dst);

  LinkLayer& link_;
  InterfaceTable& ifs_;
  BufferPool& pool_;
  Telemetry& tel_;
  NeighbourTable neigh_;
  UnreachableFn unreachable_;
  ArpStats stats_;
};

}  // namespace ustack::link
