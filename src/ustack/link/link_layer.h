// link/link_layer.h — LinkLayer: Ethernet input and output for one stack (eth_type_trans,
// __netif_receive_skb's protocol demux, and dev_hard_header + dev_queue_xmit).
//
// RX (netif_receive, called by the NAPI poll): parse the Ethernet header, classify the frame
// by destination MAC as Linux's pkt_type (host, broadcast, multicast, otherhost) and keep it
// if it is ours, broadcast, a joined multicast group (any group in allmulti), or anything in
// promiscuous mode; otherhost frames accepted only for promiscuity are counted and not handed
// to L3 (as ip_rcv drops PACKET_OTHERHOST). Then demultiplex on the EtherType to a handler an
// upper layer registered (dev_add_pack); no handler: counted drop. The handler gets the packet
// with data() at the L3 header, mac_header set, protocol/pkt_type/ifindex filled in.
//
// TX: `output` pushes an Ethernet header in the buffer's headroom (no copy) and hands the
// frame to the device; the device queues, rings and completes it.
#pragma once

#include <array>
#include <cstdint>

#include "ustack/base/telemetry.h"
#include "ustack/buf/pool.h"
#include "ustack/dev/net_device.h"
#include "ustack/link/interface.h"
#include "ustack/wire/ethernet.h"

namespace ustack::link {

// An upper layer's receive function for one EtherType (struct packet_type).
class EtherHandler {
 public:
  virtual ~EtherHandler() = default;
  virtual void rcv(Instant now, Interface& iface, PacketPtr pkt) = 0;
};

class LinkLayer final : public dev::RxSink {
 public:
  LinkLayer(InterfaceTable& ifs, Telemetry& tel) : ifs_(ifs), tel_(tel) {}

  // dev_add_pack / dev_remove_pack. One handler per EtherType.
  void register_handler(wire::EtherType type, EtherHandler* h);

  // netif_receive_skb: see the file comment.
  void netif_receive(Instant now, dev::NetDevice& dev, PacketPtr frame) override;

  // dev_hard_header + dev_queue_xmit. `pkt` holds the L3 packet at data(); the Ethernet
  // header is pushed in front (a copy is made only if there is no headroom or the header
  // bytes are shared, as skb_cow_head). Returns false if
  // the frame was dropped (device down, ring full; counted by the device or here).
  bool output(Instant now, Interface& iface, wire::MacAddr dst, wire::EtherType type,
              PacketPtr pkt);

 private:
  bool validate_xmit(Instant now, dev::NetDevice& dev, PacketPtr pkt);
  struct Slot {
    uint16_t type = 0;
    EtherHandler* h = nullptr;
  };
  EtherHandler* handler(uint16_t type) const;

  InterfaceTable& ifs_;
  Telemetry& tel_;
  std::array<Slot, 4> handlers_{};  // a handful of EtherTypes: a linear scan is fastest
};

}  // namespace ustack::link
