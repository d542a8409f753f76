// filter/netfilter.cc — the hook walk (nf_hook_slow), the filter table (ipt_do_table with
// ip_packet_match and the tcp/udp/icmp matches), and rule-set edits (iptables -A/-I/-D/-P/-F).
// Parsing and listing are in rule_parse.cc and rule_format.cc.
#include "ustack/filter/netfilter.h"

#include <fmt/format.h>

#include <algorithm>

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"
#include "ustack/wire/ipv4.h"

namespace ustack::filter {

namespace {

constexpr std::array<std::string_view, kHookCount> kHookNames = {"PREROUTING", "INPUT", "FORWARD",
                                                                 "OUTPUT", "POSTROUTING"};

// What the rules look at, taken from the packet once per table walk.
struct PacketInfo {
  bool ip_ok = false;  // the IPv4 header parsed; nothing below is meaningful otherwise
  uint8_t protocol = 0;
  wire::Ipv4Addr src;
  wire::Ipv4Addr dst;
  bool first_frag = false;      // fragment offset 0: the L4 header (or its start) is here
  std::span<const uint8_t> l4;  // the IP payload of a first fragment; may be truncated
};

PacketInfo packet_info(std::span<const uint8_t> bytes) {
  PacketInfo pi;
  auto ip = wire::Ipv4View::parse(bytes);
  if (!ip) return pi;
  pi.ip_ok = true;
  pi.protocol = ip->protocol();
  pi.src = ip->src();
  pi.dst = ip->dst();
  pi.first_frag = ip->frag_offset() == 0;
  if (pi.first_frag) pi.l4 = ip->payload();
  return pi;
}

// iptables -i/-o: exact name, or a prefix when the rule's name ends in '+' ("eth+").
bool iface_matches(std::string_view rule, std::string_view actual) {
  if (rule.empty()) return true;
  if (rule.back() == '+') return actual.starts_with(rule.substr(0, rule.size() - 1));
  return actual == rule;
}

bool prefix_matches(const Prefix& p, wire::Ipv4Addr a) {
  const uint32_t mask = wire::prefix_mask(p.len);
  return (a.v & mask) == (p.addr.v & mask);
}

bool in_range(const PortRange& r, uint16_t port) { return port >= r.lo && port <= r.hi; }

bool has_l4_match(const Match& m) {
  return m.sport || m.dport || m.tcp_flags_mask || m.icmp_type || m.icmp_code;
}

// ip_packet_match + the protocol matches (tcp_mt, udp_mt, icmp_match). Reads L4 bytes only
// where present: a header cut short matches no port, flag or type test (iptables would
// hot-drop the packet; the IP layer's own checks catch truncation anyway).
bool matches(const Match& m, const HookState& st, const PacketInfo& pi) {
  if (!iface_matches(m.in_iface, st.in) || !iface_matches(m.out_iface, st.out)) return false;
  if (!pi.ip_ok) return !(m.src || m.dst || m.protocol || has_l4_match(m));
  if (m.src && prefix_matches(*m.src, pi.src) == m.not_src) return false;
  if (m.dst && prefix_matches(*m.dst, pi.dst) == m.not_dst) return false;
  if (m.protocol && *m.protocol != pi.protocol) return false;
  if (!has_l4_match(m)) return true;
  // tcp_mt/udp_mt/icmp_match: "if (par->fragoff != 0) return false" — a later fragment has
  // no transport header, so a rule that needs one does not match it.
  if (!pi.first_frag) return false;
  const std::span<const uint8_t> l4 = pi.l4;
  if (m.sport || m.dport) {
    const bool ported = pi.protocol == wire::to_u8(wire::IpProto::kTcp) ||
                        pi.protocol == wire::to_u8(wire::IpProto::kUdp);
    if (!ported || l4.size() < 4) return false;
    if (m.sport && !in_range(*m.sport, load_be16(l4, 0))) return false;
    if (m.dport && !in_range(*m.dport, load_be16(l4, 2))) return false;
  }
  if (m.tcp_flags_mask) {
    // Byte 13 of the TCP header: CWR ECE URG ACK PSH RST SYN FIN (RFC 9293 §3.1).
    if (pi.protocol != wire::to_u8(wire::IpProto::kTcp) || l4.size() < 14) return false;
    if ((l4[13] & *m.tcp_flags_mask) != m.tcp_flags_comp) return false;
  }
  if (m.icmp_type || m.icmp_code) {
    if (pi.protocol != wire::to_u8(wire::IpProto::kIcmp)) return false;
    if (m.icmp_type && (l4.size() < 1 || l4[0] != *m.icmp_type)) return false;
    if (m.icmp_code && (l4.size() < 2 || l4[1] != *m.icmp_code)) return false;
  }
  return true;
}

}  // namespace

std::string_view hook_name(Hook h) {
  USTACK_ASSERT(h < Hook::kCount, "bad hook");
  return kHookNames[static_cast<size_t>(h)];
}

std::optional<Hook> parse_hook(std::string_view name) {
  for (size_t i = 0; i < kHookCount; ++i) {
    const std::string_view want = kHookNames[i];
    if (name.size() == want.size() &&
        std::equal(name.begin(), name.end(), want.begin(), [](char a, char b) {
          return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
        })) {
      return static_cast<Hook>(i);
    }
  }
  return std::nullopt;
}

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kAccept:
      return "ACCEPT";
    case Verdict::kDrop:
      return "DROP";
    case Verdict::kReject:
      return "REJECT";
  }
  return "?";
}

std::string_view reject_with_name(RejectWith r) {
  switch (r) {
    case RejectWith::kIcmpNetUnreachable:
      return "icmp-net-unreachable";
    case RejectWith::kIcmpHostUnreachable:
      return "icmp-host-unreachable";
    case RejectWith::kIcmpPortUnreachable:
      return "icmp-port-unreachable";
    case RejectWith::kIcmpProtoUnreachable:
      return "icmp-proto-unreachable";
    case RejectWith::kIcmpNetProhibited:
      return "icmp-net-prohibited";
    case RejectWith::kIcmpHostProhibited:
      return "icmp-host-prohibited";
    case RejectWith::kIcmpAdminProhibited:
      return "icmp-admin-prohibited";
    case RejectWith::kTcpReset:
      return "tcp-reset";
  }
  return "?";
}

// nf_hook_slow: hook functions below priority 0, the filter table, then the rest. All
// iteration is over vectors filled at configuration time: nothing here allocates.
HookResult Netfilter::run(const HookState& state, PacketBuffer& pkt) {
  USTACK_ASSERT(state.hook < Hook::kCount, "bad hook");
  const std::vector<HookOps>& ops = ops_[static_cast<size_t>(state.hook)];
  size_t i = 0;
  for (; i < ops.size() && ops[i].priority < 0; ++i) {
    HookResult r = ops[i].fn(state, pkt);
    if (r.verdict != Verdict::kAccept) return r;
  }
  HookResult table = do_table(state, pkt);
  if (table.verdict != Verdict::kAccept) return table;
  for (; i < ops.size(); ++i) {
    HookResult r = ops[i].fn(state, pkt);
    if (r.verdict != Verdict::kAccept) return r;
  }
  return table;
}

HookResult Netfilter::do_table(const HookState& state, const PacketBuffer& pkt) {
  Chain& c = chains_[static_cast<size_t>(state.hook)];
  if (!c.rules.empty()) {
    const PacketInfo pi = packet_info(pkt.data());
    for (size_t k = 0; k < c.rules.size(); ++k) {
      Rule& r = c.rules[k];
      if (!matches(r.match, state, pi)) continue;
      // Every target we have is terminal: the first matching rule decides.
      ++r.packets;
      r.bytes += pkt.len();
      return HookResult{r.verdict, r.reject_with, static_cast<int>(k)};
    }
  }
  ++c.policy_packets;
  c.policy_bytes += pkt.len();
  return HookResult{c.policy, RejectWith::kIcmpPortUnreachable, -1};
}

// nf_register_net_hook keeps each hook's list sorted, a new entry after those of equal
// priority. The filter table was there first, so a function at priority 0 runs after it.
void Netfilter::register_hook(Hook h, int priority, HookFn fn) {
  USTACK_ASSERT(h < Hook::kCount, "bad hook");
  USTACK_ASSERT(static_cast<bool>(fn), "empty hook function");
  std::vector<HookOps>& ops = ops_[static_cast<size_t>(h)];
  auto at = std::upper_bound(ops.begin(), ops.end(), priority,
                             [](int p, const HookOps& o) { return p < o.priority; });
  ops.insert(at, HookOps{priority, std::move(fn)});
}

bool Netfilter::active(Hook h) const {
  const size_t i = static_cast<size_t>(h);
  const Chain& c = chains_[i];
  return !c.rules.empty() || c.policy != Verdict::kAccept || !ops_[i].empty();
}

Result<void, std::string> Netfilter::apply(const Command& c) {
  USTACK_ASSERT(c.hook < Hook::kCount, "bad hook");
  Chain& chain = chains_[static_cast<size_t>(c.hook)];
  switch (c.op) {
    case Command::Op::kAppend:
      chain.rules.push_back(c.rule);
      return Ok();
    case Command::Op::kInsert: {
      const size_t n = chain.rules.size();
      if (c.position < 1 || static_cast<size_t>(c.position) > n + 1) {
        return Err{fmt::format("bad position {}: {} has {} rule{}, so 1..{} is possible",
                               c.position, hook_name(c.hook), n, n == 1 ? "" : "s", n + 1)};
      }
      chain.rules.insert(chain.rules.begin() + (c.position - 1), c.rule);
      return Ok();
    }
    case Command::Op::kDelete: {
      // iptables -D with a rule spec deletes the first rule that is the same rule.
      auto it = std::find_if(chain.rules.begin(), chain.rules.end(), [&](const Rule& r) {
        return r.match == c.rule.match && r.verdict == c.rule.verdict &&
               r.reject_with == c.rule.reject_with;
      });
      if (it == chain.rules.end()) {
        return Err{fmt::format("no such rule in {}", hook_name(c.hook))};
      }
      chain.rules.erase(it);
      return Ok();
    }
    case Command::Op::kPolicy:
      if (c.policy == Verdict::kReject) {
        return Err{std::string("REJECT policy is not allowed: a policy is ACCEPT or DROP")};
      }
      chain.policy = c.policy;
      return Ok();
    case Command::Op::kFlush:
      // iptables -F removes rules; policies and their counters stay.
      if (c.all_chains) {
        for (Chain& each : chains_) each.rules.clear();
      } else {
        chain.rules.clear();
      }
      return Ok();
  }
  return Err{std::string("unknown command")};
}

}  // namespace ustack::filter
