// parse_command and Netfilter::load: every option of the iptables subset, the checks iptables
// makes across options, every error path (with its sentence), and rules files.
#include <gtest/gtest.h>

#include <string>

#include "unit/filter/filter_packets.h"
#include "ustack/filter/netfilter.h"

namespace ustack::filter {
namespace {

using testpkt::ip;

Command ok(std::string_view line) {
  auto c = parse_command(line);
  EXPECT_TRUE(c.ok()) << line << ": " << (c.ok() ? "" : c.error());
  return c.ok() ? *c : Command{};
}

std::string error(std::string_view line) {
  auto c = parse_command(line);
  EXPECT_FALSE(c.ok()) << line;
  return c.ok() ? std::string("(parsed)") : c.error();
}

TEST(RuleParse, AppendWithEveryAddressAndInterfaceOption) {
  Command c = ok("-A FORWARD -i tap0 -o eth1 -s 192.0.2.0/24 -d 198.51.100.7 -j DROP");
  EXPECT_EQ(c.op, Command::Op::kAppend);
  EXPECT_EQ(c.hook, Hook::kForward);
  const Match& m = c.rule.match;
  EXPECT_EQ(m.in_iface, "tap0");
  EXPECT_EQ(m.out_iface, "eth1");
  EXPECT_EQ(m.src, (Prefix{ip("192.0.2.0"), 24}));
  EXPECT_EQ(m.dst, (Prefix{ip("198.51.100.7"), 32}));
  EXPECT_FALSE(m.not_src);
  EXPECT_FALSE(m.not_dst);
  EXPECT_FALSE(m.protocol);
  EXPECT_EQ(c.rule.verdict, Verdict::kDrop);
  EXPECT_EQ(c.rule.reject_with, RejectWith::kIcmpPortUnreachable);
  EXPECT_EQ(c.rule.packets, 0u);
}

TEST(RuleParse, LongOptionNamesAndLeadingWords) {
  Command a =
      ok("iptables -t filter --append INPUT --in-interface eth0 --source 10.0.0.0/8 "
         "--destination 10.0.0.1 --protocol udp --source-port 53 --destination-port "
         "1024:65535 --jump ACCEPT");
  Command b =
      ok("-A INPUT -i eth0 -s 10.0.0.0/8 -d 10.0.0.1 -p udp --sport 53 --dport 1024: "
         "-j ACCEPT");
  EXPECT_EQ(a.rule.match, b.rule.match);
  EXPECT_EQ(a.rule.verdict, b.rule.verdict);
  Command o = ok("--table filter --insert OUTPUT --out-interface eth0 --jump DROP");
  EXPECT_EQ(o.op, Command::Op::kInsert);
  EXPECT_EQ(o.rule.match.out_iface, "eth0");
  EXPECT_EQ(ok("\t -A   INPUT\t-j  DROP \r").hook, Hook::kLocalIn);
}

TEST(RuleParse, ChainNamesInEitherCase) {
  EXPECT_EQ(ok("-A PREROUTING -j DROP").hook, Hook::kPreRouting);
  EXPECT_EQ(ok("-A prerouting -j DROP").hook, Hook::kPreRouting);
  EXPECT_EQ(ok("-A input -j DROP").hook, Hook::kLocalIn);
  EXPECT_EQ(ok("-A forward -j DROP").hook, Hook::kForward);
  EXPECT_EQ(ok("-A output -j DROP").hook, Hook::kLocalOut);
  EXPECT_EQ(ok("-A POSTROUTING -j DROP").hook, Hook::kPostRouting);
  EXPECT_EQ(ok("-A postrouting -j DROP").hook, Hook::kPostRouting);
}

TEST(RuleParse, NegatedAddressesAndHostBitsMasked) {
  Command c = ok("-A INPUT ! -s 10.1.2.3/8 ! -d 192.168.7.9/255.255.255.0 -j DROP");
  EXPECT_EQ(c.rule.match.src, (Prefix{ip("10.0.0.0"), 8}));
  EXPECT_TRUE(c.rule.match.not_src);
  EXPECT_EQ(c.rule.match.dst, (Prefix{ip("192.168.7.0"), 24}));
  EXPECT_TRUE(c.rule.match.not_dst);
  EXPECT_EQ(ok("-A INPUT -s 1.2.3.4/0 -j DROP").rule.match.src, (Prefix{ip("0.0.0.0"), 0}));
  EXPECT_EQ(ok("-A INPUT -s 1.2.3.4/32 -j DROP").rule.match.src, (Prefix{ip("1.2.3.4"), 32}));
  EXPECT_EQ(ok("-A INPUT -s 1.2.3.4/31 -j DROP").rule.match.src, (Prefix{ip("1.2.3.4"), 31}));
  EXPECT_EQ(ok("-A INPUT -s 1.2.3.5/31 -j DROP").rule.match.src, (Prefix{ip("1.2.3.4"), 31}));
  EXPECT_EQ(ok("-A INPUT -s 1.2.3.4/0.0.0.0 -j DROP").rule.match.src, (Prefix{ip("0.0.0.0"), 0}));
  EXPECT_FALSE(ok("-A INPUT -s 1.2.3.4 -j DROP").rule.match.not_src);
}

TEST(RuleParse, Protocols) {
  EXPECT_EQ(ok("-A INPUT -p tcp -j DROP").rule.match.protocol, 6);
  EXPECT_EQ(ok("-A INPUT -p TCP -j DROP").rule.match.protocol, 6);
  EXPECT_EQ(ok("-A INPUT -p udp -j DROP").rule.match.protocol, 17);
  EXPECT_EQ(ok("-A INPUT -p icmp -j DROP").rule.match.protocol, 1);
  EXPECT_EQ(ok("-A INPUT -p 47 -j DROP").rule.match.protocol, 47);
  EXPECT_EQ(ok("-A INPUT -p 255 -j DROP").rule.match.protocol, 255);
  EXPECT_EQ(ok("-A INPUT -p all -j DROP").rule.match.protocol, std::nullopt);
  EXPECT_EQ(ok("-A INPUT -p 0 -j DROP").rule.match.protocol, std::nullopt);
}

TEST(RuleParse, Ports) {
  const Match m = ok("-A INPUT -p tcp --sport 1000:2000 --dport 80 -j ACCEPT").rule.match;
  EXPECT_EQ(m.sport, (PortRange{1000, 2000}));
  EXPECT_EQ(m.dport, (PortRange{80, 80}));
  EXPECT_EQ(ok("-A INPUT -p udp --dport :1023 -j DROP").rule.match.dport, (PortRange{0, 1023}));
  EXPECT_EQ(ok("-A INPUT -p udp --dport 1024: -j DROP").rule.match.dport, (PortRange{1024, 65535}));
  EXPECT_EQ(ok("-A INPUT -p udp --dport 0 -j DROP").rule.match.dport, (PortRange{0, 0}));
  EXPECT_EQ(ok("-A INPUT -p udp --dport 65535 -j DROP").rule.match.dport,
            (PortRange{65535, 65535}));
  EXPECT_EQ(ok("-A INPUT -p udp --dport 7:7 -j DROP").rule.match.dport, (PortRange{7, 7}));
  EXPECT_EQ(ok("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT").rule.match.dport,
            (PortRange{22, 22}));
  EXPECT_EQ(ok("-A INPUT -p udp -m udp --sport 53 -j ACCEPT").rule.match.sport,
            (PortRange{53, 53}));
}

TEST(RuleParse, TcpFlags) {
  const Match m = ok("-A INPUT -p tcp --tcp-flags SYN,RST,ACK,FIN SYN -j DROP").rule.match;
  EXPECT_EQ(m.tcp_flags_mask, 0x17);
  EXPECT_EQ(m.tcp_flags_comp, 0x02);
  const Match all = ok("-A INPUT -p tcp --tcp-flags ALL NONE -j DROP").rule.match;
  EXPECT_EQ(all.tcp_flags_mask, 0x3f);
  EXPECT_EQ(all.tcp_flags_comp, 0x00);
  const Match each =
      ok("-A INPUT -p tcp --tcp-flags fin,syn,rst,psh,ack,urg URG,PSH -j DROP").rule.match;
  EXPECT_EQ(each.tcp_flags_mask, 0x3f);
  EXPECT_EQ(each.tcp_flags_comp, 0x28);
}

TEST(RuleParse, IcmpTypes) {
  struct Case {
    const char* text;
    std::optional<uint8_t> type;
    std::optional<uint8_t> code;
  };
  const Case cases[] = {
      {"echo-reply", 0, std::nullopt},
      {"destination-unreachable", 3, std::nullopt},
      {"net-unreachable", 3, 0},
      {"network-unreachable", 3, 0},
      {"host-unreachable", 3, 1},
      {"port-unreachable", 3, 3},
      {"fragmentation-needed", 3, 4},
      {"echo-request", 8, std::nullopt},
      {"ECHO-REQUEST", 8, std::nullopt},
      {"time-exceeded", 11, std::nullopt},
      {"ttl-zero-during-reassembly", 11, 1},
      {"address-mask-reply", 18, std::nullopt},
      {"8", 8, std::nullopt},
      {"0", 0, std::nullopt},
      {"3/3", 3, 3},
      {"255/255", 255, 255},
      {"any", std::nullopt, std::nullopt},
  };
  for (const Case& k : cases) {
    const Match m =
        ok(std::string("-A INPUT -p icmp --icmp-type ") + k.text + " -j DROP").rule.match;
    EXPECT_EQ(m.icmp_type, k.type) << k.text;
    EXPECT_EQ(m.icmp_code, k.code) << k.text;
  }
  EXPECT_EQ(ok("-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT").rule.match.icmp_type, 8);
}

TEST(RuleParse, TargetsAndRejectWith) {
  EXPECT_EQ(ok("-A INPUT -j ACCEPT").rule.verdict, Verdict::kAccept);
  EXPECT_EQ(ok("-A INPUT -j DROP").rule.verdict, Verdict::kDrop);
  EXPECT_EQ(ok("-A INPUT -j accept").rule.verdict, Verdict::kAccept);
  Command r = ok("-A INPUT -j REJECT");
  EXPECT_EQ(r.rule.verdict, Verdict::kReject);
  EXPECT_EQ(r.rule.reject_with, RejectWith::kIcmpPortUnreachable);  // iptables' default
  struct Case {
    const char* name;
    RejectWith with;
  };
  const Case cases[] = {
      {"icmp-net-unreachable", RejectWith::kIcmpNetUnreachable},
      {"icmp-host-unreachable", RejectWith::kIcmpHostUnreachable},
      {"icmp-port-unreachable", RejectWith::kIcmpPortUnreachable},
      {"icmp-proto-unreachable", RejectWith::kIcmpProtoUnreachable},
      {"icmp-net-prohibited", RejectWith::kIcmpNetProhibited},
      {"icmp-host-prohibited", RejectWith::kIcmpHostProhibited},
      {"icmp-admin-prohibited", RejectWith::kIcmpAdminProhibited},
      {"net-unreach", RejectWith::kIcmpNetUnreachable},
      {"admin-prohib", RejectWith::kIcmpAdminProhibited},
  };
  for (const Case& k : cases) {
    Command c = ok(std::string("-A FORWARD -j REJECT --reject-with ") + k.name);
    EXPECT_EQ(c.rule.reject_with, k.with) << k.name;
    EXPECT_EQ(reject_with_name(k.with).substr(0, 5), "icmp-");
  }
  EXPECT_EQ(ok("-A INPUT -p tcp -j REJECT --reject-with tcp-reset").rule.reject_with,
            RejectWith::kTcpReset);
  // Option order does not matter.
  EXPECT_EQ(ok("-A INPUT --reject-with tcp-rst -j REJECT -p tcp").rule.reject_with,
            RejectWith::kTcpReset);
}

TEST(RuleParse, InsertDeletePolicyFlush) {
  Command i = ok("-I INPUT -j DROP");
  EXPECT_EQ(i.op, Command::Op::kInsert);
  EXPECT_EQ(i.position, 1);
  Command i3 = ok("-I INPUT 3 -p udp --dport 7 -j REJECT --reject-with icmp-host-unreachable");
  EXPECT_EQ(i3.position, 3);
  EXPECT_EQ(i3.rule.match.dport, (PortRange{7, 7}));
  Command d = ok("-D OUTPUT -p tcp --dport 80 -j ACCEPT");
  EXPECT_EQ(d.op, Command::Op::kDelete);
  EXPECT_EQ(d.hook, Hook::kLocalOut);
  Command p = ok("-P FORWARD DROP");
  EXPECT_EQ(p.op, Command::Op::kPolicy);
  EXPECT_EQ(p.hook, Hook::kForward);
  EXPECT_EQ(p.policy, Verdict::kDrop);
  EXPECT_EQ(ok("iptables --policy input ACCEPT").policy, Verdict::kAccept);
  Command f = ok("-F INPUT");
  EXPECT_EQ(f.op, Command::Op::kFlush);
  EXPECT_EQ(f.hook, Hook::kLocalIn);
  EXPECT_FALSE(f.all_chains);
  EXPECT_TRUE(ok("-F").all_chains);
  EXPECT_TRUE(ok("iptables -F -t filter").all_chains);
  EXPECT_TRUE(ok("--flush").all_chains);
}

struct BadLine {
  const char* line;
  const char* error;
};

// Every error path, with the exact sentence (each names the offending token).
const BadLine kBadLines[] = {
    {"", "no command: a line needs -A, -I, -D, -P or -F"},
    {"iptables", "no command: a line needs -A, -I, -D, -P or -F"},
    {"-s 10.0.0.1 -j DROP", "no command: a line needs -A, -I, -D, -P or -F"},
    {"-A INPUT -j DROP -A OUTPUT", "two commands on one line: '-A' and '-A'"},
    {"-A INPUT -P INPUT DROP", "two commands on one line: '-A' and '-P'"},
    {"-A", "-A needs a chain name"},
    {"-A -j DROP", "-A needs a chain name"},
    {"-A mangle -j DROP",
     "unknown chain 'mangle' (PREROUTING, INPUT, FORWARD, OUTPUT or "
     "POSTROUTING)"},
    {"-F nope", "unknown chain 'nope' (PREROUTING, INPUT, FORWARD, OUTPUT or POSTROUTING)"},
    {"-t nat -A PREROUTING -j DROP", "table 'nat' is not supported (only filter)"},
    {"-t", "option '-t' needs a value"},
    {"-A INPUT", "-A needs a target: -j ACCEPT, -j DROP or -j REJECT"},
    {"-I INPUT 2 -s 10.0.0.1", "-I needs a target: -j ACCEPT, -j DROP or -j REJECT"},
    {"-D INPUT -p tcp", "-D needs a target: -j ACCEPT, -j DROP or -j REJECT"},
    {"-A INPUT -j", "option '-j' needs a value"},
    {"-A INPUT -j LOG", "unknown target 'LOG' (ACCEPT, DROP or REJECT)"},
    {"-A INPUT -j DROP -j ACCEPT", "option '-j' given twice"},
    {"-A INPUT -s 1.2.3.4 --source 5.6.7.8 -j DROP", "option '--source' given twice"},
    {"-I INPUT 0 -j DROP", "bad rule position '0' for -I (1 is the first rule)"},
    {"-I INPUT 99999999999 -j DROP",
     "bad rule position '99999999999' for -I (1 is the first rule)"},
    {"-I INPUT 1x -j DROP", "bad rule position '1x' for -I (1 is the first rule)"},
    {"-D INPUT 1", "-D by rule number ('1') is not supported: give the rule itself"},
    {"-P FORWARD", "-P needs a chain and a policy (ACCEPT or DROP)"},
    {"-P FORWARD REJECT", "REJECT policy is not allowed: a policy is ACCEPT or DROP"},
    {"-P FORWARD MAYBE", "unknown policy 'MAYBE' (ACCEPT or DROP)"},
    {"-P FORWARD DROP -s 10.0.0.1", "option '-s' cannot be used with -P"},
    {"-F INPUT -j DROP", "option '-j' cannot be used with -F"},
    {"-F INPUT -m tcp", "option '-m' cannot be used with -F"},
    {"-A INPUT -x -j DROP", "unknown option '-x'"},
    {"-A INPUT --syn -j DROP", "unknown option '--syn'"},
    {"-A INPUT DROP", "unexpected word 'DROP'"},
    {"-A INPUT -i -j DROP", "option '-i' needs a value"},
    {"-A INPUT -i abcdefghijklmnop -j DROP",
     "bad interface name 'abcdefghijklmnop' for -i (at most 15 characters, no '/')"},
    {"-A FORWARD -o a/b -j DROP",
     "bad interface name 'a/b' for -o (at most 15 characters, no '/')"},
    {"-A OUTPUT -i eth0 -j DROP",
     "-i cannot be used in OUTPUT: those packets have no input interface"},
    {"-A POSTROUTING -i eth0 -j DROP",
     "-i cannot be used in POSTROUTING: those packets have no input interface"},
    {"-A INPUT -o eth0 -j DROP",
     "-o cannot be used in INPUT: those packets have no output interface"},
    {"-A PREROUTING -o eth0 -j DROP",
     "-o cannot be used in PREROUTING: those packets have no output interface"},
    {"-A INPUT -s -j DROP", "option '-s' needs a value"},
    {"-A INPUT -s 10.0.0.256 -j DROP",
     "bad address '10.0.0.256' for -s (a.b.c.d or a.b.c.d/len, len 0..32)"},
    {"-A INPUT -d 10.0.0.0/33 -j DROP",
     "bad address '10.0.0.0/33' for -d (a.b.c.d or a.b.c.d/len, len 0..32)"},
    {"-A INPUT -d 10.0.0.0/ -j DROP",
     "bad address '10.0.0.0/' for -d (a.b.c.d or a.b.c.d/len, len 0..32)"},
    {"-A INPUT -d 10.0.0.0/255.0.255.0 -j DROP",
     "bad address '10.0.0.0/255.0.255.0' for -d (a.b.c.d or a.b.c.d/len, len 0..32)"},
    {"-A INPUT -s example.com -j DROP",
     "bad address 'example.com' for -s (a.b.c.d or a.b.c.d/len, len 0..32)"},
    {"-A INPUT ! -p tcp -j DROP", "'!' before '-p' is not supported (only before -s and -d)"},
    {"-A INPUT ! -i eth0 -j DROP", "'!' before '-i' is not supported (only before -s and -d)"},
    {"-A INPUT ! ! -s 10.0.0.1 -j DROP", "'!' given twice in a row"},
    {"-A INPUT -j DROP !", "'!' at the end of the line negates nothing"},
    {"-A INPUT -p", "option '-p' needs a value"},
    {"-A INPUT -p sctp2 -j DROP", "unknown protocol 'sctp2' (tcp, udp, icmp, all or 0..255)"},
    {"-A INPUT -p 256 -j DROP", "unknown protocol '256' (tcp, udp, icmp, all or 0..255)"},
    {"-A INPUT -p tcp -p udp -j DROP", "option '-p' given twice"},
    {"-A INPUT -m", "option '-m' needs a value"},
    {"-A INPUT -m state -j DROP", "match 'state' is not supported (tcp, udp or icmp)"},
    {"-A INPUT -m tcp -j DROP", "-m tcp needs -p tcp"},
    {"-A INPUT -p udp -m tcp -j DROP", "-m tcp needs -p tcp"},
    {"-A INPUT -p tcp -m icmp -j DROP", "-m icmp needs -p icmp"},
    {"-A INPUT -p tcp -m udp -j DROP", "-m udp needs -p udp"},
    {"-A INPUT --dport 80 -j DROP", "--dport needs -p tcp or -p udp"},
    {"-A INPUT -p icmp --destination-port 80 -j DROP", "--destination-port needs -p tcp or -p udp"},
    {"-A INPUT -p 6 --sport 80 -j DROP x", "unexpected word 'x'"},
    {"-A INPUT -p all --sport 80 -j DROP", "--sport needs -p tcp or -p udp"},
    {"-A INPUT -p tcp --dport -j DROP", "option '--dport' needs a value"},
    {"-A INPUT -p tcp --dport http -j DROP",
     "bad port 'http' for --dport (N or N:M with 0 <= N <= M <= 65535)"},
    {"-A INPUT -p tcp --dport 65536 -j DROP",
     "bad port '65536' for --dport (N or N:M with 0 <= N <= M <= 65535)"},
    {"-A INPUT -p tcp --sport 20:10 -j DROP",
     "bad port '20:10' for --sport (N or N:M with 0 <= N <= M <= 65535)"},
    {"-A INPUT -p tcp --sport : -j DROP",
     "bad port ':' for --sport (N or N:M with 0 <= N <= M <= 65535)"},
    {"-A INPUT -p tcp --sport 1:2:3 -j DROP",
     "bad port '1:2:3' for --sport (N or N:M with 0 <= N <= M <= 65535)"},
    {"-A INPUT -p tcp --sport +5 -j DROP",
     "bad port '+5' for --sport (N or N:M with 0 <= N <= M <= 65535)"},
    {"-A INPUT -p tcp --dport 1 --destination-port 2 -j DROP",
     "option '--destination-port' given twice"},
    {"-A INPUT -p udp --tcp-flags SYN SYN -j DROP", "--tcp-flags needs -p tcp"},
    {"-A INPUT -p tcp --tcp-flags SYN -j DROP", "--tcp-flags needs two values: MASK COMP"},
    {"-A INPUT -p tcp --tcp-flags -j DROP", "--tcp-flags needs two values: MASK COMP"},
    {"-A INPUT -p tcp --tcp-flags SYN,FOO SYN -j DROP",
     "unknown TCP flag 'FOO' in --tcp-flags (FIN, SYN, RST, PSH, ACK, URG, ALL or NONE, "
     "separated by commas)"},
    {"-A INPUT -p tcp --tcp-flags SYN SYN, -j DROP",
     "unknown TCP flag '' in --tcp-flags (FIN, SYN, RST, PSH, ACK, URG, ALL or NONE, separated "
     "by commas)"},
    {"-A INPUT -p tcp --tcp-flags ECE ECE -j DROP",
     "unknown TCP flag 'ECE' in --tcp-flags (FIN, SYN, RST, PSH, ACK, URG, ALL or NONE, "
     "separated by commas)"},
    {"-A INPUT --icmp-type 8 -j DROP", "--icmp-type needs -p icmp"},
    {"-A INPUT -p udp --icmp-type echo-request -j DROP", "--icmp-type needs -p icmp"},
    {"-A INPUT -p icmp --icmp-type -j DROP", "option '--icmp-type' needs a value"},
    {"-A INPUT -p icmp --icmp-type echo -j DROP",
     "unknown ICMP type 'echo' for --icmp-type (a name such as echo-request, N or N/M, 0..255)"},
    {"-A INPUT -p icmp --icmp-type 256 -j DROP",
     "unknown ICMP type '256' for --icmp-type (a name such as echo-request, N or N/M, 0..255)"},
    {"-A INPUT -p icmp --icmp-type 3/256 -j DROP",
     "unknown ICMP type '3/256' for --icmp-type (a name such as echo-request, N or N/M, "
     "0..255)"},
    {"-A INPUT -p icmp --icmp-type 3/ -j DROP",
     "unknown ICMP type '3/' for --icmp-type (a name such as echo-request, N or N/M, 0..255)"},
    {"-A INPUT -p icmp --icmp-type /3 -j DROP",
     "unknown ICMP type '/3' for --icmp-type (a name such as echo-request, N or N/M, 0..255)"},
    {"-A INPUT -j DROP --reject-with tcp-reset", "--reject-with needs -j REJECT"},
    {"-A INPUT --reject-with icmp-host-unreachable -j ACCEPT", "--reject-with needs -j REJECT"},
    {"-A INPUT -j REJECT --reject-with", "option '--reject-with' needs a value"},
    {"-A INPUT -j REJECT --reject-with icmp-echo-reply",
     "unknown --reject-with 'icmp-echo-reply' (icmp-net-unreachable, icmp-host-unreachable, "
     "icmp-port-unreachable, icmp-proto-unreachable, icmp-net-prohibited, icmp-host-prohibited, "
     "icmp-admin-prohibited or tcp-reset)"},
    {"-A INPUT -j REJECT --reject-with tcp-reset", "--reject-with tcp-reset needs -p tcp"},
    {"-A INPUT -p udp -j REJECT --reject-with tcp-reset", "--reject-with tcp-reset needs -p tcp"},
    {"-A PREROUTING -j REJECT",
     "REJECT is not valid in PREROUTING (only INPUT, FORWARD and OUTPUT)"},
    {"-A POSTROUTING -j REJECT",
     "REJECT is not valid in POSTROUTING (only INPUT, FORWARD and OUTPUT)"},
};

TEST(RuleParse, ErrorsNameTheBadToken) {
  for (const BadLine& b : kBadLines) EXPECT_EQ(error(b.line), b.error) << b.line;
}

// ---- load ------------------------------------------------------------------------------

TEST(RuleLoad, LinesCommentsAndBlanks) {
  Netfilter nf;
  auto r = nf.load(
      "# a firewall for the router\n"
      "\n"
      "-P FORWARD DROP\n"
      "   # indented comment\n"
      "-A FORWARD -i tap0 -p icmp --icmp-type echo-request -j ACCEPT\r\n"
      "iptables -A FORWARD -p udp --dport 7 -j REJECT\n"
      "  \t \n"
      "-I FORWARD 1 -s 192.0.2.0/24 -j DROP");  // no final newline
  ASSERT_TRUE(r.ok()) << r.error();
  const Chain& c = nf.chain(Hook::kForward);
  EXPECT_EQ(c.policy, Verdict::kDrop);
  ASSERT_EQ(c.rules.size(), 3u);
  EXPECT_EQ(c.rules[0].match.src, (Prefix{ip("192.0.2.0"), 24}));
  EXPECT_EQ(c.rules[1].match.icmp_type, 8);
  EXPECT_EQ(c.rules[2].verdict, Verdict::kReject);
  EXPECT_TRUE(nf.load("").ok());
  EXPECT_TRUE(nf.load("\n\n# only comments\n").ok());
  EXPECT_EQ(nf.chain(Hook::kForward).rules.size(), 3u);
}

TEST(RuleLoad, ErrorsCarryTheLineNumberAndChangeNothing) {
  Netfilter nf;
  ASSERT_TRUE(nf.load("-A INPUT -j ACCEPT\n").ok());
  nf.chain(Hook::kLocalIn).rules[0].packets = 9;
  auto r = nf.load(
      "-P INPUT DROP\n"
      "# two good lines, then a bad one\n"
      "-A INPUT -p tcp --dport 22 -j ACCEPT\n"
      "-A INPUT -p tcp --dport ssh -j ACCEPT\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "line 4: bad port 'ssh' for --dport (N or N:M with 0 <= N <= M <= 65535)");
  // All or nothing: the policy and the first rule of the failed load are gone again.
  EXPECT_EQ(nf.chain(Hook::kLocalIn).policy, Verdict::kAccept);
  ASSERT_EQ(nf.chain(Hook::kLocalIn).rules.size(), 1u);
  EXPECT_EQ(nf.chain(Hook::kLocalIn).rules[0].packets, 9u);

  r = nf.load("\n\n-D INPUT -j DROP\n");  // parses, but apply fails
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "line 3: no such rule in INPUT");
  r = nf.load("-I OUTPUT 2 -j DROP");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "line 1: bad position 2: OUTPUT has 0 rules, so 1..1 is possible");
}

// iptables-save output loads as it is.
TEST(RuleLoad, IptablesSaveFormat) {
  Netfilter nf;
  auto r = nf.load(
      "# Generated by iptables-save v1.8.9 on Thu Jan  1 00:00:00 2024\n"
      "*filter\n"
      ":INPUT DROP [12:1008]\n"
      ":FORWARD ACCEPT [0:0]\n"
      ":OUTPUT ACCEPT\n"
      "-A INPUT -i lo -j ACCEPT\n"
      "-A INPUT -p tcp -m tcp --dport 22 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT\n"
      "-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT\n"
      "-A INPUT ! -s 10.0.0.0/8 -p udp -m udp --dport 53 -j REJECT --reject-with "
      "icmp-port-unreachable\n"
      "COMMIT\n"
      "# Completed on Thu Jan  1 00:00:00 2024\n");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(nf.chain(Hook::kLocalIn).policy, Verdict::kDrop);
  EXPECT_EQ(nf.chain(Hook::kLocalIn).policy_packets, 0u);  // counters are not restored
  EXPECT_EQ(nf.chain(Hook::kLocalIn).rules.size(), 4u);
  EXPECT_EQ(nf.chain(Hook::kForward).policy, Verdict::kAccept);

  const BadLine bad[] = {
      {"*nat", "line 1: table 'nat' is not supported"},
      {":INPUT", "line 1: bad chain line ':INPUT' (expected ':CHAIN POLICY [packets:bytes]')"},
      {":INPUT ACCEPT 0:0",
       "line 1: bad chain line ':INPUT ACCEPT 0:0' (expected ':CHAIN POLICY [packets:bytes]')"},
      {":INPUT ACCEPT [0:0] x",
       "line 1: bad chain line ':INPUT ACCEPT [0:0] x' (expected ':CHAIN POLICY "
       "[packets:bytes]')"},
      {":MYCHAIN - [0:0]", "line 1: unknown chain 'MYCHAIN' (user chains are not supported)"},
      {":INPUT REJECT [0:0]", "line 1: bad policy 'REJECT' for INPUT (ACCEPT or DROP)"},
      {":INPUT SOMETIMES", "line 1: bad policy 'SOMETIMES' for INPUT (ACCEPT or DROP)"},
  };
  for (const BadLine& b : bad) {
    auto e = nf.load(b.line);
    ASSERT_FALSE(e.ok()) << b.line;
    EXPECT_EQ(e.error(), b.error);
  }
}

}  // namespace
}  // namespace ustack::filter
