// filter/rule_format.cc — Netfilter::format, the rule set as `iptables -L -v -n -x` lists it
// (iptables' print_header/print_firewall with the tcp, udp, icmp and REJECT print functions).
#include <fmt/format.h>

#include "ustack/filter/netfilter.h"

namespace ustack::filter {

namespace {

// xtables_chain_protos: the protocols iptables names even with -n.
std::string proto_text(const std::optional<uint8_t>& p) {
  if (!p) return "all";
  switch (*p) {
    case wire::to_u8(wire::IpProto::kTcp):
      return "tcp";
    case wire::to_u8(wire::IpProto::kUdp):
      return "udp";
    case wire::to_u8(wire::IpProto::kIcmp):
      return "icmp";
    default:
      return fmt::format("{}", *p);
  }
}

// xtables_ipaddr_to_numeric + xtables_ipmask_to_numeric: a /32 prints without its length.
std::string prefix_text(const std::optional<Prefix>& p) {
  if (!p) return "0.0.0.0/0";
  if (p->len >= 32) return p->addr.to_string();
  return fmt::format("{}/{}", p->addr.to_string(), p->len);
}

// libxt_tcp print_ports: nothing for the full range, "spt:N" for one port, "spts:N:M".
void append_ports(std::string& out, std::string_view name, const std::optional<PortRange>& r) {
  if (!r || (r->lo == 0 && r->hi == 65535)) return;
  if (r->lo == r->hi) {
    out += fmt::format(" {}:{}", name, r->lo);
  } else {
    out += fmt::format(" {}s:{}:{}", name, r->lo, r->hi);
  }
}

// The match and target columns after the destination: " tcp dpt:80 flags:0x17/0x02",
// " icmp type 8", " reject-with icmp-port-unreachable".
std::string extras_text(const Rule& rule) {
  const Match& m = rule.match;
  std::string out;
  const bool tcp = m.protocol == wire::to_u8(wire::IpProto::kTcp);
  const bool udp = m.protocol == wire::to_u8(wire::IpProto::kUdp);
  if ((tcp || udp) && (m.sport || m.dport || m.tcp_flags_mask)) {
    out += tcp ? " tcp" : " udp";
    append_ports(out, "spt", m.sport);
    append_ports(out, "dpt", m.dport);
    if (tcp && m.tcp_flags_mask && *m.tcp_flags_mask != 0) {
      out += fmt::format(" flags:0x{:02X}/0x{:02X}", *m.tcp_flags_mask, m.tcp_flags_comp);
    }
  }
  if (m.protocol == wire::to_u8(wire::IpProto::kIcmp) && m.icmp_type) {
    out += fmt::format(" icmp type {}", *m.icmp_type);
    if (m.icmp_code) out += fmt::format(" code {}", *m.icmp_code);
  }
  if (rule.verdict == Verdict::kReject) {
    out += fmt::format(" reject-with {}", reject_with_name(rule.reject_with));
  }
  return out;
}

std::string_view iface_text(const std::string& name) {
  return name.empty() ? std::string_view("*") : std::string_view(name);
}

void rtrim_line(std::string& s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  s += '\n';
}

}  // namespace

// Columns as iptables -L -v -n -x prints them (exact counters: -x, so nothing is rounded to
// K/M/G), trailing blanks trimmed. Chains in hook order, a blank line between them.
std::string Netfilter::format() const {
  std::string out;
  for (size_t i = 0; i < kHookCount; ++i) {
    const Hook h = static_cast<Hook>(i);
    const Chain& c = chains_[i];
    if (i != 0) out += '\n';
    out += fmt::format("Chain {} (policy {} {} packets, {} bytes)\n", hook_name(h),
                       verdict_name(c.policy), c.policy_packets, c.policy_bytes);
    std::string line = fmt::format("{:>8} {:>10} {:<9}  {:<5}opt {:<6} {:<6}  {:<19}  {}", "pkts",
                                   "bytes", "target", "prot", "in", "out", "source", "destination");
    rtrim_line(line);
    out += line;
    for (const Rule& r : c.rules) {
      const Match& m = r.match;
      line = fmt::format("{:>8} {:>10} {:<9}  {:<5}--  {:<6} {:<6} {}{:<19} {}{:<19} {}", r.packets,
                         r.bytes, verdict_name(r.verdict), proto_text(m.protocol),
                         iface_text(m.in_iface), iface_text(m.out_iface),
                         m.src && m.not_src ? '!' : ' ', prefix_text(m.src),
                         m.dst && m.not_dst ? '!' : ' ', prefix_text(m.dst), extras_text(r));
      rtrim_line(line);
      out += line;
    }
  }
  return out;
}

}  // namespace ustack::filter
