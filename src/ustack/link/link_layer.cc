// link/link_layer.cc — Ethernet receive filter, EtherType demux, and header output.
#include "ustack/link/link_layer.h"

#include <fmt/format.h>

#include "ustack/base/assert.h"
#include "ustack/dev/gso.h"

namespace ustack::link {

void LinkLayer::register_handler(wire::EtherType type, EtherHandler* h) {
  uint16_t t = wire::to_u16(type);
  for (Slot& s : handlers_) {
    if (s.h == nullptr || s.type == t) {
      s = Slot{t, h};
      return;
    }
  }
  USTACK_ASSERT(false, "too many EtherType handlers");
}

EtherHandler* LinkLayer::handler(uint16_t type) const {
  for (const Slot& s : handlers_)
    if (s.h != nullptr && s.type == type) return s.h;
  return nullptr;
}

void LinkLayer::netif_receive(Instant now, dev::NetDevice& dev, PacketPtr frame) {
  Interface* iface = ifs_.get(dev.ifindex());
  uint64_t id = frame->trace_id;
  if (iface == nullptr) {  // a device the stack does not know: nothing can own the frame
    tel_.drop(now, Layer::kLink, DropReason::kNotSpecified, id,
              [&] { return fmt::format("{} is not an interface of this stack", dev.name()); });
    return;
  }
  LinkStats& st = iface->stats();
  auto eth = wire::EthernetView::parse(frame->data());
  if (!eth) {
    ++st.rx_dropped;
    tel_.drop(now, Layer::kLink, wire::to_drop_reason(eth.error()), id, [&] {
      return fmt::format("{}: {}", dev.name(), wire::wire_error_name(eth.error()));
    });
    return;
  }
  // eth_type_trans: classify by destination MAC.
  wire::MacAddr dst = eth->dst();
  PacketType type;
  if (dst == iface->mac()) {
    type = PacketType::kHost;
    ++st.rx_host;
  } else if (dst.is_broadcast()) {
    type = PacketType::kBroadcast;
    ++st.rx_broadcast;
  } else if (dst.is_multicast()) {
    if (!iface->joined(dst) && !iface->allmulti() && !iface->promiscuous()) {
      ++st.rx_dropped;
      tel_.drop(now, Layer::kLink, DropReason::kOtherHost, id, [&] {
        return fmt::format("{}: multicast {} not joined", dev.name(), dst.to_string());
      });
      return;
    }
    type = PacketType::kMulticast;
    ++st.rx_multicast;
  } else {
    // PACKET_OTHERHOST: a promiscuous interface sees it (taps, bridges) but L3 never does.
    ++st.rx_otherhost;
    if (!iface->promiscuous()) ++st.rx_dropped;
    tel_.drop(now, Layer::kLink, DropReason::kOtherHost, id, [&] {
      return fmt::format("{}: dst {} is not {}", dev.name(), dst.to_string(),
                         iface->mac().to_string());
    });
    return;
  }
  uint16_t proto = eth->ethertype();
  EtherHandler* h = handler(proto);
  if (h == nullptr) {
    ++st.rx_dropped;
    tel_.drop(now, Layer::kLink, DropReason::kUnknownEtherType, id,
              [&] { return fmt::format("{}: ethertype 0x{:04x}", dev.name(), proto); });
    return;
  }
  size_t hlen = eth->header_len();
  frame->set_mac_header();
  frame->pkt_type = type;
  frame->protocol = proto;
  frame->ifindex = iface->ifindex();
  USTACK_ASSERT(frame->pull(hlen).ok(), "parsed header is in the frame");
  frame->set_network_header();
  tel_.trace(now, Layer::kLink, "eth_rcv", id, [&] {
    return fmt::format("{} {} > {} type 0x{:04x}", dev.name(), eth->src().to_string(),
                       dst.to_string(), proto);
  });
  h->rcv(now, *iface, std::move(frame));
}

bool LinkLayer::output(Instant now, Interface& iface, wire::MacAddr dst, wire::EtherType type,
                       PacketPtr pkt) {
  // skb_cow_head: we need headroom for the header and must not write bytes a sibling reads.
  auto hdr = pkt->push(wire::kEthHeaderLen);
  if (!hdr) {
    auto copy = pkt->copy_expand(BufferPool::kDefaultHeadroom);
    if (!copy) {
      tel_.drop(now, Layer::kLink, DropReason::kNoBuffer, pkt->trace_id);
      return false;
    }
    pkt = std::move(*copy);
    hdr = pkt->push(wire::kEthHeaderLen);
    USTACK_ASSERT(hdr.ok(), "fresh buffer has headroom");
  }
  wire::EthernetRepr{dst, iface.mac(), wire::to_u16(type), std::nullopt}.emit(*hdr);
  pkt->set_mac_header();
  pkt->protocol = wire::to_u16(type);
  pkt->ifindex = iface.ifindex();
  ++iface.stats().tx_frames;
  tel_.trace(now, Layer::kLink, "eth_xmit", pkt->trace_id, [&] {
    return fmt::format("{} {} > {} type 0x{:04x} len {}", iface.name(), iface.mac().to_string(),
                       dst.to_string(), wire::to_u16(type), pkt->len());
  });
  dev::NetDevice& dev = iface.dev();
  if ((pkt->is_gso() || pkt->ip_summed == CsumState::kPartial) &&
      (dev.features() & (dev::kNetifTso | dev::kNetifHwCsum)) !=
          (dev::kNetifTso | dev::kNetifHwCsum)) [[unlikely]]
    return validate_xmit(now, dev, std::move(pkt));
  return dev.xmit(now, std::move(pkt)) == dev::XmitStatus::kQueued;
}

// validate_xmit_skb: what the device cannot do for this frame is done here, in software,
// before the device (and any capture tap on it) sees it: a GSO frame is cut into MSS-sized
// segments (skb_gso_segment) if the device has no TSO, a partial checksum is finished
// (skb_checksum_help) if it has no checksum offload.
bool LinkLayer::validate_xmit(Instant now, dev::NetDevice& dev, PacketPtr pkt) {
  const uint32_t f = dev.features();
  if (pkt->is_gso() && (f & dev::kNetifTso) == 0) {
    PacketQueue segs;
    if (auto r = dev::skb_gso_segment(*pkt, pkt->pool(), BufferPool::kDefaultHeadroom, segs); !r) {
      tel_.drop(
          now, Layer::kLink,
          r.error() == dev::GsoError::kNoMemory ? DropReason::kNoBuffer : DropReason::kBadOffload,
          pkt->trace_id, [&] { return fmt::format("{} gso segment", dev.name()); });
      return false;
    }
    tel_.trace(now, Layer::kLink, "gso_segment", pkt->trace_id, [&] {
      return fmt::format("{} len {} gso_size {} into {}", dev.name(), pkt->len(), pkt->gso_size,
                         segs.size());
    });
    bool ok = true;
    while (PacketPtr s = segs.pop_front())
      ok = dev.xmit(now, std::move(s)) == dev::XmitStatus::kQueued && ok;
    return ok;
  }
  if (pkt->ip_summed == CsumState::kPartial && (f & dev::kNetifHwCsum) == 0) {
    if (auto r = dev::skb_checksum_help(*pkt); !r) {
      tel_.drop(
          now, Layer::kLink,
          r.error() == dev::GsoError::kNoMemory ? DropReason::kNoBuffer : DropReason::kBadOffload,
          pkt->trace_id, [&] { return fmt::format("{} checksum help", dev.name()); });
      return false;
    }
  }
  return dev.xmit(now, std::move(pkt)) == dev::XmitStatus::kQueued;
}

}  // namespace ustack::link
