// link/interface.h — Interface: one device as the stack sees it (struct net_device plus its
// struct in_device: IPv4 addresses, promiscuous mode, joined multicast groups).
//
// The Stack owns its interfaces; lower layers (the device) know nothing of addresses, upper
// layers (ARP, IP) look them up here. ifindex 0 is never used (as in Linux): it means "no
// interface" (traffic to our own addresses, which IP loops back internally).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ustack/dev/net_device.h"
#include "ustack/wire/addr.h"

namespace ustack::link {

// One IPv4 address on an interface (struct in_ifaddr): 192.0.2.1/24.
struct IfAddr {
  wire::Ipv4Addr addr;
  int prefix_len = 32;

  uint32_t mask() const { return wire::prefix_mask(prefix_len); }
  wire::Ipv4Addr network() const { return wire::Ipv4Addr{addr.v & mask()}; }
  // The subnet's directed broadcast (none for /31 and /32: RFC 3021).
  std::optional<wire::Ipv4Addr> broadcast() const {
    if (prefix_len >= 31) return std::nullopt;
    return wire::Ipv4Addr{addr.v | ~mask()};
  }
  bool contains(wire::Ipv4Addr a) const { return (a.v & mask()) == (addr.v & mask()); }
  bool operator==(const IfAddr&) const = default;
};

// Per-interface link counters (the stack-side view; the device keeps /proc/net/dev).
struct LinkStats {
  uint64_t rx_host = 0;       // frames to our MAC
  uint64_t rx_broadcast = 0;  // frames to ff:ff:ff:ff:ff:ff
  uint64_t rx_multicast = 0;  // frames to a joined group (or any group in allmulti/promisc)
  uint64_t rx_otherhost = 0;  // accepted only because promiscuous (then not delivered to L3)
  uint64_t rx_dropped = 0;    // filtered (not ours), malformed, or no EtherType handler
  uint64_t tx_frames = 0;     // frames handed to the device
};

class Interface {
 public:
  Interface(int ifindex, dev::NetDevice& dev) : ifindex_(ifindex), dev_(&dev) {
    dev.set_ifindex(ifindex);
  }
  int ifindex() const { return ifindex_; }
  dev::NetDevice& dev() const { return *dev_; }
  const std::string& name() const { return dev_->name(); }
  wire::MacAddr mac() const { return dev_->mac(); }
  uint32_t mtu() const { return dev_->mtu(); }
  bool is_up() const { return dev_->is_up(); }

  // ---- IPv4 addresses (ip addr) -----------------------------------------------------------
  const std::vector<IfAddr>& addrs() const { return addrs_; }
  // Returns false if the address is already configured on this interface.
  bool add_addr(IfAddr a);
  bool remove_addr(wire::Ipv4Addr a);
  bool has_addr(wire::Ipv4Addr a) const;
  // The primary address (first configured) of the subnet containing `dst`, else the first
  // address, else none: the source address Linux picks for traffic leaving here
  // (inet_select_addr).
  std::optional<wire::Ipv4Addr> select_src(wire::Ipv4Addr dst) const;
  // One of our subnets' directed broadcasts?
  bool is_subnet_broadcast(wire::Ipv4Addr a) const;

  // ---- receive filter (ip link set promisc / ip maddr) -----------------------------------
  bool promiscuous() const { return promisc_; }
  void set_promiscuous(bool v) { promisc_ = v; }
  bool allmulti() const { return allmulti_; }
  void set_allmulti(bool v) { allmulti_ = v; }
  void join_multicast(wire::MacAddr group);
  void leave_multicast(wire::MacAddr group);
  bool joined(wire::MacAddr group) const;

  LinkStats& stats() { return stats_; }
  const LinkStats& stats() const { return stats_; }

 private:
  int ifindex_;
  dev::NetDevice* dev_;
  bool promisc_ = false;
  bool allmulti_ = false;
  std::vector<IfAddr> addrs_;
  std::vector<wire::MacAddr> mcast_;
  LinkStats stats_;
};

// All interfaces of one stack, by ifindex (dev_get_by_index). Owns the Interface objects, not
// the devices.
class InterfaceTable {
 public:
  Interface& add(dev::NetDevice& dev);  // next free ifindex, starting at 1
  Interface* get(int ifindex);
  const Interface* get(int ifindex) const;
  Interface* by_name(std::string_view name);
  // The interface that holds `a` as one of its addresses (for "is this address local").
  Interface* owner_of(wire::Ipv4Addr a);
  const std::vector<std::unique_ptr<Interface>>& all() const { return ifs_; }

 private:
  std::vector<std::unique_ptr<Interface>> ifs_;
};

}  // namespace ustack::link
