// filter/rule_parse.cc — the rule language: parse_command, a subset of the iptables command
// line (iptables' do_command4 with the tcp, udp and icmp matches of libxt_tcp/libxt_udp/
// libxt_icmp and libipt_REJECT), and Netfilter::load, a rules file of such lines (which also
// takes iptables-save output: "*filter", ":CHAIN POLICY [p:b]" and "COMMIT" lines).
//
// What iptables checks, we check, with a sentence naming the bad token instead of iptables'
// terse messages: ports only with -p tcp/udp, --tcp-flags only with -p tcp, --icmp-type only
// with -p icmp, tcp-reset only with -p tcp, REJECT only in INPUT/FORWARD/OUTPUT, no -i in
// OUTPUT/POSTROUTING, no -o in PREROUTING/INPUT, no REJECT policy.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <vector>

#include "ustack/filter/netfilter.h"

namespace ustack::filter {

namespace {

constexpr size_t kIfNameMax = 15;  // IFNAMSIZ - 1

char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  return true;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// Decimal digits only (no sign, no space), at most `max`.
std::optional<uint32_t> parse_uint(std::string_view s, uint32_t max) {
  if (s.empty()) return std::nullopt;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

// "a.b.c.d", "a.b.c.d/len" or "a.b.c.d/m.m.m.m" (a contiguous netmask). Host bits are
// cleared, as iptables does ("-s 10.1.2.3/8" lists as 10.0.0.0/8).
std::optional<Prefix> parse_prefix(std::string_view s) {
  const size_t slash = s.find('/');
  std::optional<wire::Ipv4Addr> addr = wire::Ipv4Addr::parse(s.substr(0, slash));
  if (!addr) return std::nullopt;
  int len = 32;
  if (slash != std::string_view::npos) {
    const std::string_view l = s.substr(slash + 1);
    if (std::optional<uint32_t> n = parse_uint(l, 32)) {
      len = static_cast<int>(*n);
    } else if (std::optional<wire::Ipv4Addr> mask = wire::Ipv4Addr::parse(l)) {
      len = std::popcount(mask->v);
      if (wire::prefix_mask(len) != mask->v) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  return Prefix{wire::Ipv4Addr{addr->v & wire::prefix_mask(len)}, len};
}

// "N", "N:M", ":M" (0:M), "N:" (N:65535), as libxt_tcp's parse_tcp_ports.
std::optional<PortRange> parse_ports(std::string_view s) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos) {
    std::optional<uint32_t> p = parse_uint(s, 65535);
    if (!p) return std::nullopt;
    return PortRange{static_cast<uint16_t>(*p), static_cast<uint16_t>(*p)};
  }
  const std::string_view a = s.substr(0, colon);
  const std::string_view b = s.substr(colon + 1);
  if (a.empty() && b.empty()) return std::nullopt;
  PortRange r;
  if (!a.empty()) {
    std::optional<uint32_t> p = parse_uint(a, 65535);
    if (!p) return std::nullopt;
    r.lo = static_cast<uint16_t>(*p);
  }
  if (!b.empty()) {
    std::optional<uint32_t> p = parse_uint(b, 65535);
    if (!p) return std::nullopt;
    r.hi = static_cast<uint16_t>(*p);
  }
  if (r.lo > r.hi) return std::nullopt;
  return r;
}

struct TcpFlagName {
  std::string_view name;
  uint8_t bits;
};
// libxt_tcp's tcp_flag_names; the bits of TCP header byte 13.
constexpr TcpFlagName kTcpFlagNames[] = {
    {"FIN", 0x01}, {"SYN", 0x02}, {"RST", 0x04}, {"PSH", 0x08},
    {"ACK", 0x10}, {"URG", 0x20}, {"ALL", 0x3f}, {"NONE", 0x00},
};

// A comma-separated list of flag names, case-insensitive: "SYN,ACK", "ALL", "NONE".
Result<uint8_t, std::string> parse_tcp_flags(std::string_view list) {
  uint8_t bits = 0;
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    const TcpFlagName* hit = nullptr;
    for (const TcpFlagName& f : kTcpFlagNames)
      if (iequals(name, f.name)) hit = &f;
    if (hit == nullptr) {
      return Err{
          fmt::format("unknown TCP flag '{}' in --tcp-flags (FIN, SYN, RST, PSH, ACK, URG, "
                      "ALL or NONE, separated by commas)",
                      name)};
    }
    bits |= hit->bits;
    if (comma == std::string_view::npos) return bits;
    list.remove_prefix(comma + 1);
  }
}

struct IcmpTypeName {
  std::string_view name;
  uint8_t type;
  int code;  // -1: any code
};
// libxt_icmp's icmp_codes, plus the short names "net-unreachable" and "ttl-exceeded".
constexpr IcmpTypeName kIcmpTypeNames[] = {
    {"echo-reply", 0, -1},
    {"pong", 0, -1},
    {"destination-unreachable", 3, -1},
    {"network-unreachable", 3, 0},
    {"net-unreachable", 3, 0},
    {"host-unreachable", 3, 1},
    {"protocol-unreachable", 3, 2},
    {"port-unreachable", 3, 3},
    {"fragmentation-needed", 3, 4},
    {"source-route-failed", 3, 5},
    {"network-unknown", 3, 6},
    {"host-unknown", 3, 7},
    {"network-prohibited", 3, 9},
    {"host-prohibited", 3, 10},
    {"TOS-network-unreachable", 3, 11},
    {"TOS-host-unreachable", 3, 12},
    {"communication-prohibited", 3, 13},
    {"host-precedence-violation", 3, 14},
    {"precedence-cutoff", 3, 15},
    {"source-quench", 4, -1},
    {"redirect", 5, -1},
    {"network-redirect", 5, 0},
    {"host-redirect", 5, 1},
    {"TOS-network-redirect", 5, 2},
    {"TOS-host-redirect", 5, 3},
    {"echo-request", 8, -1},
    {"ping", 8, -1},
    {"router-advertisement", 9, -1},
    {"router-solicitation", 10, -1},
    {"time-exceeded", 11, -1},
    {"ttl-exceeded", 11, -1},
    {"ttl-zero-during-transit", 11, 0},
    {"ttl-zero-during-reassembly", 11, 1},
    {"parameter-problem", 12, -1},
    {"ip-header-bad", 12, 0},
    {"required-option-missing", 12, 1},
    {"timestamp-request", 13, -1},
    {"timestamp-reply", 14, -1},
    {"address-mask-request", 17, -1},
    {"address-mask-reply", 18, -1},
};

struct RejectName {
  std::string_view name;
  std::string_view alias;  // libipt_REJECT's short form
  RejectWith with;
};
constexpr RejectName kRejectNames[] = {
    {"icmp-net-unreachable", "net-unreach", RejectWith::kIcmpNetUnreachable},
    {"icmp-host-unreachable", "host-unreach", RejectWith::kIcmpHostUnreachable},
    {"icmp-port-unreachable", "port-unreach", RejectWith::kIcmpPortUnreachable},
    {"icmp-proto-unreachable", "proto-unreach", RejectWith::kIcmpProtoUnreachable},
    {"icmp-net-prohibited", "net-prohib", RejectWith::kIcmpNetProhibited},
    {"icmp-host-prohibited", "host-prohib", RejectWith::kIcmpHostProhibited},
    {"icmp-admin-prohibited", "admin-prohib", RejectWith::kIcmpAdminProhibited},
    {"tcp-reset", "tcp-rst", RejectWith::kTcpReset},
};

std::optional<Verdict> parse_verdict(std::string_view s) {
  for (Verdict v : {Verdict::kAccept, Verdict::kDrop, Verdict::kReject})
    if (iequals(s, verdict_name(v))) return v;
  return std::nullopt;
}

// An option word: "-x" or "--xyz" (a lone "-" or a negative number is not).
bool is_option(std::string_view t) {
  return t.size() >= 2 && t[0] == '-' && !(t[1] >= '0' && t[1] <= '9');
}

constexpr uint8_t kTcp = wire::to_u8(wire::IpProto::kTcp);
constexpr uint8_t kUdp = wire::to_u8(wire::IpProto::kUdp);
constexpr uint8_t kIcmp = wire::to_u8(wire::IpProto::kIcmp);

class Parser {
 public:
  explicit Parser(std::string_view line) : toks_(split_words(line)) {}

  Result<Command, std::string> parse() {
    if (!at_end() && toks_[i_] == "iptables") ++i_;
    while (!at_end()) {
      const std::string_view tok = toks_[i_++];
      if (tok == "!") {
        if (negate_) return Err{std::string("'!' given twice in a row")};
        negate_ = true;
        continue;
      }
      if (negate_ && tok != "-s" && tok != "--source" && tok != "-d" && tok != "--destination") {
        return Err{fmt::format("'!' before '{}' is not supported (only before -s and -d)", tok)};
      }
      Result<void, std::string> r = option(tok);
      if (!r) return Err{r.error()};
    }
    if (negate_) return Err{std::string("'!' at the end of the line negates nothing")};
    return finish();
  }

 private:
  bool at_end() const { return i_ >= toks_.size(); }

  // The value of option `opt`: the next word, unless the line ends or another option follows.
  Result<std::string_view, std::string> value(std::string_view opt) {
    if (at_end() || is_option(toks_[i_])) {
      return Err{fmt::format("option '{}' needs a value", opt)};
    }
    return toks_[i_++];
  }

  // Records a rule option (for duplicates and for -P/-F, which take none).
  Result<void, std::string> rule_option(std::string_view canonical, std::string_view tok) {
    for (std::string_view s : seen_)
      if (s == canonical) return Err{fmt::format("option '{}' given twice", tok)};
    seen_.push_back(canonical);
    if (first_rule_opt_.empty()) first_rule_opt_ = tok;
    return Ok();
  }

  Result<Hook, std::string> chain(std::string_view opt) {
    Result<std::string_view, std::string> name = value(opt);
    if (!name) return Err{fmt::format("{} needs a chain name", opt)};
    std::optional<Hook> h = parse_hook(*name);
    if (!h) {
      return Err{fmt::format(
          "unknown chain '{}' (PREROUTING, INPUT, FORWARD, OUTPUT or POSTROUTING)", *name)};
    }
    return *h;
  }

  Result<void, std::string> command(Command::Op op, std::string_view tok) {
    if (have_cmd_)
      return Err{fmt::format("two commands on one line: '{}' and '{}'", cmd_tok_, tok)};
    have_cmd_ = true;
    cmd_tok_ = tok;
    cmd_.op = op;
    if (op == Command::Op::kFlush && (at_end() || is_option(toks_[i_]))) {
      cmd_.all_chains = true;  // iptables -F: every chain
      return Ok();
    }
    Result<Hook, std::string> h = chain(tok);
    if (!h) return Err{h.error()};
    cmd_.hook = *h;
    if (op == Command::Op::kDelete && !at_end() && !toks_[i_].empty() && toks_[i_][0] >= '0' &&
        toks_[i_][0] <= '9') {
      return Err{fmt::format("-D by rule number ('{}') is not supported: give the rule itself",
                             toks_[i_])};
    }
    if (op == Command::Op::kInsert && !at_end() && !toks_[i_].empty() && toks_[i_][0] >= '0' &&
        toks_[i_][0] <= '9') {
      const std::string_view pos = toks_[i_++];
      std::optional<uint32_t> n = parse_uint(pos, 1'000'000);
      if (!n || *n == 0) {
        return Err{fmt::format("bad rule position '{}' for -I (1 is the first rule)", pos)};
      }
      cmd_.position = static_cast<int>(*n);
    }
    if (op == Command::Op::kPolicy) {
      Result<std::string_view, std::string> target = value(tok);
      if (!target) return Err{std::string("-P needs a chain and a policy (ACCEPT or DROP)")};
      std::optional<Verdict> v = parse_verdict(*target);
      if (!v) return Err{fmt::format("unknown policy '{}' (ACCEPT or DROP)", *target)};
      if (*v == Verdict::kReject) {
        return Err{std::string("REJECT policy is not allowed: a policy is ACCEPT or DROP")};
      }
      cmd_.policy = *v;
    }
    return Ok();
  }

  Result<void, std::string> option(std::string_view tok) {
    using Op = Command::Op;
    Match& m = cmd_.rule.match;
    if (tok == "-A" || tok == "--append") return command(Op::kAppend, tok);
    if (tok == "-I" || tok == "--insert") return command(Op::kInsert, tok);
    if (tok == "-D" || tok == "--delete") return command(Op::kDelete, tok);
    if (tok == "-P" || tok == "--policy") return command(Op::kPolicy, tok);
    if (tok == "-F" || tok == "--flush") return command(Op::kFlush, tok);
    if (tok == "-t" || tok == "--table") {
      Result<std::string_view, std::string> t = value(tok);
      if (!t) return Err{t.error()};
      if (*t != "filter") return Err{fmt::format("table '{}' is not supported (only filter)", *t)};
      return Ok();
    }
    if (tok == "-i" || tok == "--in-interface" || tok == "-o" || tok == "--out-interface") {
      const bool in = tok == "-i" || tok == "--in-interface";
      if (auto r = rule_option(in ? "-i" : "-o", tok); !r) return r;
      Result<std::string_view, std::string> name = value(tok);
      if (!name) return Err{name.error()};
      if (name->size() > kIfNameMax || name->find('/') != std::string_view::npos) {
        return Err{fmt::format("bad interface name '{}' for {} (at most {} characters, no '/')",
                               *name, tok, kIfNameMax)};
      }
      (in ? m.in_iface : m.out_iface) = std::string(*name);
      return Ok();
    }
    if (tok == "-s" || tok == "--source" || tok == "-d" || tok == "--destination") {
      const bool src = tok == "-s" || tok == "--source";
      if (auto r = rule_option(src ? "-s" : "-d", tok); !r) return r;
      Result<std::string_view, std::string> text = value(tok);
      if (!text) return Err{text.error()};
      std::optional<Prefix> p = parse_prefix(*text);
      if (!p) {
        return Err{
            fmt::format("bad address '{}' for {} (a.b.c.d or a.b.c.d/len, len 0..32)", *text, tok)};
      }
      (src ? m.src : m.dst) = *p;
      (src ? m.not_src : m.not_dst) = negate_;
      negate_ = false;
      return Ok();
    }
    if (tok == "-p" || tok == "--protocol") {
      if (auto r = rule_option("-p", tok); !r) return r;
      Result<std::string_view, std::string> name = value(tok);
      if (!name) return Err{name.error()};
      if (iequals(*name, "tcp")) {
        m.protocol = kTcp;
      } else if (iequals(*name, "udp")) {
        m.protocol = kUdp;
      } else if (iequals(*name, "icmp")) {
        m.protocol = kIcmp;
      } else if (iequals(*name, "all")) {
        m.protocol.reset();
      } else if (std::optional<uint32_t> n = parse_uint(*name, 255)) {
        // Protocol 0 is iptables' "all".
        if (*n != 0) m.protocol = static_cast<uint8_t>(*n);
      } else {
        return Err{fmt::format("unknown protocol '{}' (tcp, udp, icmp, all or 0..255)", *name)};
      }
      return Ok();
    }
    if (tok == "-m" || tok == "--match") {
      Result<std::string_view, std::string> name = value(tok);
      if (!name) return Err{name.error()};
      if (*name != "tcp" && *name != "udp" && *name != "icmp") {
        return Err{fmt::format("match '{}' is not supported (tcp, udp or icmp)", *name)};
      }
      modules_.push_back(*name);
      return Ok();
    }
    if (tok == "--sport" || tok == "--source-port" || tok == "--dport" ||
        tok == "--destination-port") {
      const bool s = tok == "--sport" || tok == "--source-port";
      if (auto r = rule_option(s ? "--sport" : "--dport", tok); !r) return r;
      Result<std::string_view, std::string> text = value(tok);
      if (!text) return Err{text.error()};
      std::optional<PortRange> p = parse_ports(*text);
      if (!p) {
        return Err{
            fmt::format("bad port '{}' for {} (N or N:M with 0 <= N <= M <= 65535)", *text, tok)};
      }
      (s ? m.sport : m.dport) = *p;
      if (ports_tok_.empty()) ports_tok_ = tok;
      return Ok();
    }
    if (tok == "--tcp-flags") {
      if (auto r = rule_option("--tcp-flags", tok); !r) return r;
      Result<std::string_view, std::string> mask = value(tok);
      Result<std::string_view, std::string> comp = mask ? value(tok) : mask;
      if (!mask || !comp) return Err{std::string("--tcp-flags needs two values: MASK COMP")};
      Result<uint8_t, std::string> mb = parse_tcp_flags(*mask);
      if (!mb) return Err{mb.error()};
      Result<uint8_t, std::string> cb = parse_tcp_flags(*comp);
      if (!cb) return Err{cb.error()};
      m.tcp_flags_mask = *mb;
      m.tcp_flags_comp = *cb;
      return Ok();
    }
    if (tok == "--icmp-type") {
      if (auto r = rule_option("--icmp-type", tok); !r) return r;
      Result<std::string_view, std::string> text = value(tok);
      if (!text) return Err{text.error()};
      return icmp_type(*text);
    }
    if (tok == "-j" || tok == "--jump") {
      if (auto r = rule_option("-j", tok); !r) return r;
      Result<std::string_view, std::string> target = value(tok);
      if (!target) return Err{target.error()};
      std::optional<Verdict> v = parse_verdict(*target);
      if (!v) return Err{fmt::format("unknown target '{}' (ACCEPT, DROP or REJECT)", *target)};
      cmd_.rule.verdict = *v;
      have_target_ = true;
      return Ok();
    }
    if (tok == "--reject-with") {
      if (auto r = rule_option("--reject-with", tok); !r) return r;
      Result<std::string_view, std::string> name = value(tok);
      if (!name) return Err{name.error()};
      for (const RejectName& r : kRejectNames) {
        if (iequals(*name, r.name) || iequals(*name, r.alias)) {
          cmd_.rule.reject_with = r.with;
          return Ok();
        }
      }
      return Err{
          fmt::format("unknown --reject-with '{}' (icmp-net-unreachable, icmp-host-unreachable, "
                      "icmp-port-unreachable, icmp-proto-unreachable, icmp-net-prohibited, "
                      "icmp-host-prohibited, icmp-admin-prohibited or tcp-reset)",
                      *name)};
    }
    if (is_option(tok)) return Err{fmt::format("unknown option '{}'", tok)};
    return Err{fmt::format("unexpected word '{}'", tok)};
  }

  // "echo-request" (a name), "8" (any code) or "3/3" (type/code).
  Result<void, std::string> icmp_type(std::string_view text) {
    Match& m = cmd_.rule.match;
    if (iequals(text, "any")) return Ok();  // libxt_icmp's "any": every type
    for (const IcmpTypeName& n : kIcmpTypeNames) {
      if (iequals(text, n.name)) {
        m.icmp_type = n.type;
        if (n.code >= 0) m.icmp_code = static_cast<uint8_t>(n.code);
        return Ok();
      }
    }
    const size_t slash = text.find('/');
    std::optional<uint32_t> type = parse_uint(text.substr(0, slash), 255);
    std::optional<uint32_t> code;
    if (slash != std::string_view::npos) code = parse_uint(text.substr(slash + 1), 255);
    if (!type || (slash != std::string_view::npos && !code)) {
      return Err{fmt::format(
          "unknown ICMP type '{}' for --icmp-type (a name such as echo-request, N or N/M, "
          "0..255)",
          text)};
    }
    m.icmp_type = static_cast<uint8_t>(*type);
    if (code) m.icmp_code = static_cast<uint8_t>(*code);
    return Ok();
  }

  // Checks that need the whole line (iptables' checkentry functions).
  Result<Command, std::string> finish() {
    using Op = Command::Op;
    if (!have_cmd_) {
      return Err{std::string("no command: a line needs -A, -I, -D, -P or -F")};
    }
    if (cmd_.op == Op::kPolicy || cmd_.op == Op::kFlush) {
      if (!first_rule_opt_.empty() || !modules_.empty()) {
        return Err{fmt::format("option '{}' cannot be used with {}",
                               first_rule_opt_.empty() ? "-m" : first_rule_opt_, cmd_tok_)};
      }
      return cmd_;
    }
    const Match& m = cmd_.rule.match;
    const Rule& rule = cmd_.rule;
    if (!have_target_) {
      return Err{fmt::format("{} needs a target: -j ACCEPT, -j DROP or -j REJECT", cmd_tok_)};
    }
    const bool tcp = m.protocol == kTcp;
    const bool udp = m.protocol == kUdp;
    const bool icmp = m.protocol == kIcmp;
    for (std::string_view mod : modules_) {
      if ((mod == "tcp" && !tcp) || (mod == "udp" && !udp) || (mod == "icmp" && !icmp)) {
        return Err{fmt::format("-m {} needs -p {}", mod, mod)};
      }
    }
    if ((m.sport || m.dport) && !tcp && !udp) {
      return Err{fmt::format("{} needs -p tcp or -p udp", ports_tok_)};
    }
    if (m.tcp_flags_mask && !tcp) return Err{std::string("--tcp-flags needs -p tcp")};
    if ((m.icmp_type || m.icmp_code) && !icmp) return Err{std::string("--icmp-type needs -p icmp")};
    const bool rw_given = std::find(seen_.begin(), seen_.end(), "--reject-with") != seen_.end();
    if (rw_given && rule.verdict != Verdict::kReject) {
      return Err{std::string("--reject-with needs -j REJECT")};
    }
    if (rule.verdict == Verdict::kReject) {
      // libipt_REJECT: the REJECT target hooks only LOCAL_IN, FORWARD and LOCAL_OUT.
      if (cmd_.hook != Hook::kLocalIn && cmd_.hook != Hook::kForward &&
          cmd_.hook != Hook::kLocalOut) {
        return Err{fmt::format("REJECT is not valid in {} (only INPUT, FORWARD and OUTPUT)",
                               hook_name(cmd_.hook))};
      }
      if (rule.reject_with == RejectWith::kTcpReset && !tcp) {
        return Err{std::string("--reject-with tcp-reset needs -p tcp")};
      }
    }
    // iptables: "Can't use -i with OUTPUT" / "Can't use -o with INPUT".
    if (!m.in_iface.empty() && (cmd_.hook == Hook::kLocalOut || cmd_.hook == Hook::kPostRouting)) {
      return Err{fmt::format("-i cannot be used in {}: those packets have no input interface",
                             hook_name(cmd_.hook))};
    }
    if (!m.out_iface.empty() && (cmd_.hook == Hook::kPreRouting || cmd_.hook == Hook::kLocalIn)) {
      return Err{fmt::format("-o cannot be used in {}: those packets have no output interface",
                             hook_name(cmd_.hook))};
    }
    return cmd_;
  }

  std::vector<std::string_view> toks_;
  size_t i_ = 0;
  Command cmd_;
  bool have_cmd_ = false;
  std::string_view cmd_tok_;
  bool have_target_ = false;
  bool negate_ = false;
  std::vector<std::string_view> seen_;     // canonical names of the rule options given
  std::string_view first_rule_opt_;        // as written
  std::string_view ports_tok_;             // the first --sport/--dport, as written
  std::vector<std::string_view> modules_;  // -m tcp|udp|icmp (iptables-save writes them)
};

// iptables-save's chain line ":INPUT ACCEPT [12:1008]" sets the policy; counters are ignored
// (iptables-restore restores them only with -c).
Result<Command, std::string> parse_chain_line(std::string_view line) {
  std::vector<std::string_view> w = split_words(line.substr(1));
  if (w.size() < 2 || w.size() > 3 || (w.size() == 3 && w[2].front() != '[')) {
    return Err{fmt::format("bad chain line '{}' (expected ':CHAIN POLICY [packets:bytes]')", line)};
  }
  std::optional<Hook> h = parse_hook(w[0]);
  if (!h) return Err{fmt::format("unknown chain '{}' (user chains are not supported)", w[0])};
  std::optional<Verdict> v = parse_verdict(w[1]);
  if (!v || *v == Verdict::kReject) {
    return Err{fmt::format("bad policy '{}' for {} (ACCEPT or DROP)", w[1], w[0])};
  }
  Command c;
  c.op = Command::Op::kPolicy;
  c.hook = *h;
  c.policy = *v;
  return c;
}

}  // namespace

Result<Command, std::string> parse_command(std::string_view line) { return Parser(line).parse(); }

Result<void, std::string> Netfilter::load(std::string_view text) {
  // All or nothing, as iptables-restore: a bad line leaves the rules as they were.
  const std::array<Chain, kHookCount> saved = chains_;
  size_t line_no = 0;
  auto fail = [&](std::string_view why) -> Result<void, std::string> {
    chains_ = saved;
    return Err{fmt::format("line {}: {}", line_no, why)};
  };
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#' || line == "COMMIT") continue;
    if (line.front() == '*') {
      if (line != "*filter")
        return fail(fmt::format("table '{}' is not supported", line.substr(1)));
      continue;
    }
    Result<Command, std::string> cmd =
        line.front() == ':' ? parse_chain_line(line) : parse_command(line);
    if (!cmd) return fail(cmd.error());
    Result<void, std::string> r = apply(*cmd);
    if (!r) return fail(r.error());
  }
  return Ok();
}

}  // namespace ustack::filter
