// link/interface.cc — addresses and receive filter of one interface.
#include "ustack/link/interface.h"

#include <algorithm>

namespace ustack::link {

bool Interface::add_addr(IfAddr a) {
  if (has_addr(a.addr)) return false;
  addrs_.push_back(a);
  return true;
}

bool Interface::remove_addr(wire::Ipv4Addr a) {
  auto it =
      std::find_if(addrs_.begin(), addrs_.end(), [&](const IfAddr& x) { return x.addr == a; });
  if (it == addrs_.end()) return false;
  addrs_.erase(it);
  return true;
}

bool Interface::has_addr(wire::Ipv4Addr a) const {
  return std::any_of(addrs_.begin(), addrs_.end(), [&](const IfAddr& x) { return x.addr == a; });
}

std::optional<wire::Ipv4Addr> Interface::select_src(wire::Ipv4Addr dst) const {
  for (const IfAddr& a : addrs_)
    if (a.contains(dst)) return a.addr;
  if (addrs_.empty()) return std::nullopt;
  return addrs_.front().addr;
}

bool Interface::is_subnet_broadcast(wire::Ipv4Addr a) const {
  return std::any_of(addrs_.begin(), addrs_.end(),
                     [&](const IfAddr& x) { return x.broadcast() == a; });
}

void Interface::join_multicast(wire::MacAddr group) {
  if (!joined(group)) mcast_.push_back(group);
}

void Interface::leave_multicast(wire::MacAddr group) { std::erase(mcast_, group); }

bool Interface::joined(wire::MacAddr group) const {
  return std::find(mcast_.begin(), mcast_.end(), group) != mcast_.end();
}

Interface& InterfaceTable::add(dev::NetDevice& dev) {
  int ifindex = static_cast<int>(ifs_.size()) + 1;
  ifs_.push_back(std::make_unique<Interface>(ifindex, dev));
  return *ifs_.back();
}

Interface* InterfaceTable::get(int ifindex) {
  if (ifindex < 1 || static_cast<size_t>(ifindex) > ifs_.size()) return nullptr;
  return ifs_[static_cast<size_t>(ifindex) - 1].get();
}

const Interface* InterfaceTable::get(int ifindex) const {
  if (ifindex < 1 || static_cast<size_t>(ifindex) > ifs_.size()) return nullptr;
  return ifs_[static_cast<size_t>(ifindex) - 1].get();
}

Interface* InterfaceTable::by_name(std::string_view name) {
  for (auto& i : ifs_)
    if (i->name() == name) return i.get();
  return nullptr;
}

Interface* InterfaceTable::owner_of(wire::Ipv4Addr a) {
  for (auto& i : ifs_)
    if (i->has_addr(a)) return i.get();
  return nullptr;
}

}  // namespace ustack::link
