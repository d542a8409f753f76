// filter/netfilter.h — netfilter for IPv4: the five hooks, chains of rules, verdicts
// (net/netfilter/core.c + iptables' filter table).
//
// IP calls `run(state, pkt)` at each hook (state.hook) with data() at the IPv4 header:
//   PRE_ROUTING (ip_rcv, before routing) -> LOCAL_IN (ip_local_deliver, after reassembly)
//                                        -> FORWARD (ip_forward)  -> POST_ROUTING
//   LOCAL_OUT (locally generated, after routing)                  -> POST_ROUTING
// and acts on the verdict: ACCEPT continues, DROP frees (counted kFilter), REJECT frees and
// makes IP answer with the ICMP error (or TCP RST) named by `reject_with`.
//
// Room for connection tracking and NAT: a hook runs an ordered list of hook functions
// (nf_hook_ops with priorities, as Linux: conntrack at -200, NAT at -100/100, the filter
// table at 0), and a hook function may modify the packet (it gets it mutable). Today the only
// registered function is the filter table.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ustack/base/result.h"
#include "ustack/buf/packet_buffer.h"
#include "ustack/wire/addr.h"

namespace ustack::filter {

enum class Hook : uint8_t { kPreRouting, kLocalIn, kForward, kLocalOut, kPostRouting, kCount };
inline constexpr size_t kHookCount = static_cast<size_t>(Hook::kCount);
std::string_view hook_name(Hook h);  // "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"
std::optional<Hook> parse_hook(std::string_view name);  // accepts the iptables chain names

enum class Verdict : uint8_t { kAccept, kDrop, kReject };
std::string_view verdict_name(Verdict v);  // "ACCEPT", "DROP", "REJECT"

// iptables' --reject-with. Default icmp-port-unreachable, as iptables.
enum class RejectWith : uint8_t {
  kIcmpNetUnreachable,
  kIcmpHostUnreachable,
  kIcmpPortUnreachable,
  kIcmpProtoUnreachable,
  kIcmpNetProhibited,
  kIcmpHostProhibited,
  kIcmpAdminProhibited,
  kTcpReset,
};
std::string_view reject_with_name(RejectWith r);  // "icmp-port-unreachable", "tcp-reset", ...

// Where the packet is: the interfaces are known by name (as iptables -i / -o match them).
struct HookState {
  Hook hook = Hook::kPreRouting;
  std::string_view in;   // input interface name, empty if none (LOCAL_OUT)
  std::string_view out;  // output interface name, empty if not yet routed (PRE_ROUTING, LOCAL_IN)
};

struct HookResult {
  Verdict verdict = Verdict::kAccept;
  RejectWith reject_with = RejectWith::kIcmpPortUnreachable;
  int rule = -1;  // index of the rule that decided, -1 for the chain policy
};

struct Prefix {
  wire::Ipv4Addr addr;
  int len = 32;
  bool operator==(const Prefix&) const = default;
};

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  bool operator==(const PortRange&) const = default;
};

// Everything a rule can match; unset fields match anything. A rule with ports, TCP flags or
// an ICMP type never matches a non-first fragment (as iptables: those headers are absent).
struct Match {
  std::string in_iface;             // -i; empty = any; "eth+" = any name starting "eth"
  std::string out_iface;            // -o
  std::optional<Prefix> src;        // -s
  std::optional<Prefix> dst;        // -d
  bool not_src = false;             // ! -s
  bool not_dst = false;             // ! -d
  std::optional<uint8_t> protocol;  // -p tcp|udp|icmp|<number>
  std::optional<PortRange> sport;   // --sport a[:b] (tcp/udp)
  std::optional<PortRange> dport;   // --dport a[:b]
  std::optional<uint8_t>
      tcp_flags_mask;  // --tcp-flags MASK COMP (SYN,ACK,FIN,RST,URG,PSH,ALL,NONE)
  uint8_t tcp_flags_comp = 0;
  std::optional<uint8_t> icmp_type;  // --icmp-type echo-request | 8 | 8/0
  std::optional<uint8_t> icmp_code;
  bool operator==(const Match&) const = default;
};

struct Rule {
  Match match;
  Verdict verdict = Verdict::kAccept;
  RejectWith reject_with = RejectWith::kIcmpPortUnreachable;
  uint64_t packets = 0;  // iptables -L -v counters
  uint64_t bytes = 0;
};

struct Chain {
  Verdict policy = Verdict::kAccept;  // ACCEPT or DROP (iptables forbids REJECT policies)
  uint64_t policy_packets = 0;
  uint64_t policy_bytes = 0;
  std::vector<Rule> rules;
};

// A parsed line of the rule language, a subset of iptables' (see parse_command).
struct Command {
  enum class Op : uint8_t { kAppend, kInsert, kDelete, kPolicy, kFlush } op = Op::kAppend;
  Hook hook = Hook::kForward;
  Rule rule;         // kAppend / kInsert / kDelete (by match+verdict)
  int position = 1;  // kInsert: 1-based
  Verdict policy = Verdict::kAccept;
  bool all_chains = false;  // kFlush without a chain name: every chain (iptables -F)
};

// Parses one iptables-style line, e.g.
//   -A FORWARD -i tap0 -s 192.0.2.0/24 -p icmp --icmp-type echo-request -j DROP
//   -I INPUT 1 -p udp --dport 7 -j REJECT --reject-with icmp-host-unreachable
//   -P FORWARD DROP        -F INPUT        -D OUTPUT -p tcp --dport 80 -j ACCEPT
// A leading "iptables" word and "-t filter" are allowed, as are long option names and
// iptables-save's "-m tcp|udp|icmp"; "-F" alone flushes every chain (Command::all_chains).
// Errors are a human sentence naming the bad token; the cross-option checks are iptables'
// (ports need -p tcp/udp, REJECT only in INPUT/FORWARD/OUTPUT, no -i in OUTPUT, ...).
Result<Command, std::string> parse_command(std::string_view line);

class Netfilter {
 public:
  // nf_hook_slow: run the hook's functions in priority order; the first non-ACCEPT verdict
  // wins. Counts the deciding rule's (or the policy's) packets and bytes. Allocates nothing.
  // The IPv4 header is parsed with Ipv4View; if it does not parse, only rules without
  // addresses, protocol or L4 fields can match. Returns the filter table's result when every
  // function accepts.
  HookResult run(const HookState& state, PacketBuffer& pkt);
  // nf_register_net_hook: a hook function run at `priority` (lower first; the filter table is
  // at 0 and runs before functions registered at 0; equal priorities run in registration
  // order). Conntrack and NAT will register here. Not from inside a hook function.
  using HookFn = std::function<HookResult(const HookState&, PacketBuffer&)>;
  void register_hook(Hook h, int priority, HookFn fn);
  // Cheap test IP uses to skip a hook entirely: false when the chain has no rules, an ACCEPT
  // policy and no hook function is registered (its policy counters then do not count).
  bool active(Hook h) const;

  Chain& chain(Hook h) { return chains_[static_cast<size_t>(h)]; }
  const Chain& chain(Hook h) const { return chains_[static_cast<size_t>(h)]; }
  // Applies a parsed command. Errors: "no such rule", "bad position", "REJECT policy".
  Result<void, std::string> apply(const Command& c);
  // Parses and applies every non-empty, non-# line of a rules file; errors carry "line N: ".
  Result<void, std::string> load(std::string_view text);
  // iptables -L -v -n style listing of all chains with counters.
  std::string format() const;

 private:
  struct HookOps {
    int priority;
    HookFn fn;
  };
  // ipt_do_table: the filter table, the hook function at priority 0.
  HookResult do_table(const HookState& state, const PacketBuffer& pkt);

  std::array<Chain, kHookCount> chains_{};
  // Per hook, sorted by priority; the filter table is not listed (it is always there).
  std::array<std::vector<HookOps>, kHookCount> ops_{};
};

}  // namespace ustack::filter
