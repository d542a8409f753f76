// Netfilter: matching every rule field (negation, prefix lengths, port ranges, TCP flags, ICMP
// type/code, later fragments, truncated L4 headers), verdict order, rule and policy counters,
// hook-function priorities (with a function that marks the packet), and rule-set edits.
#include "ustack/filter/netfilter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/filter/filter_packets.h"

namespace ustack::filter {
namespace {

using namespace testpkt;  // NOLINT: the packet builders
using wire::TcpFlag;
using wire::TcpFlags;

class NetfilterTest : public ::testing::Test {
 protected:
  // Runs `pkt` through `hook` arriving on `in`, leaving by `out`.
  HookResult run(PacketBuffer& pkt, Hook hook = Hook::kForward, std::string_view in = "eth0",
                 std::string_view out = "eth1") {
    return nf_.run(HookState{hook, in, out}, pkt);
  }
  // True if the packet hits rule 0 of FORWARD (whose only rule is `line`).
  bool hits(std::string_view line, PacketBuffer& pkt, std::string_view in = "eth0",
            std::string_view out = "eth1") {
    Netfilter nf;
    must_apply(nf, line);
    HookResult r = nf.run(HookState{Hook::kForward, in, out}, pkt);
    return r.rule == 0;
  }

  PoolHandle pool_ = BufferPool::create();
  Netfilter nf_;
};

TEST_F(NetfilterTest, EmptyTableAcceptsAndCountsThePolicy) {
  PacketPtr p = udp(*pool_, "10.0.0.1", "10.0.1.1", 1000, 7);
  HookResult r = run(*p);
  EXPECT_EQ(r.verdict, Verdict::kAccept);
  EXPECT_EQ(r.rule, -1);
  EXPECT_EQ(nf_.chain(Hook::kForward).policy_packets, 1u);
  EXPECT_EQ(nf_.chain(Hook::kForward).policy_bytes, p->len());
  EXPECT_EQ(nf_.chain(Hook::kLocalIn).policy_packets, 0u);
}

TEST_F(NetfilterTest, ActiveOnlyWithRulesDropPolicyOrHookFunctions) {
  for (size_t i = 0; i < kHookCount; ++i) EXPECT_FALSE(nf_.active(static_cast<Hook>(i)));
  must_apply(nf_, "-A INPUT -j ACCEPT");
  must_apply(nf_, "-P FORWARD DROP");
  nf_.register_hook(Hook::kPostRouting, -100,
                    [](const HookState&, PacketBuffer&) { return HookResult{}; });
  EXPECT_FALSE(nf_.active(Hook::kPreRouting));
  EXPECT_TRUE(nf_.active(Hook::kLocalIn));
  EXPECT_TRUE(nf_.active(Hook::kForward));
  EXPECT_FALSE(nf_.active(Hook::kLocalOut));
  EXPECT_TRUE(nf_.active(Hook::kPostRouting));
  must_apply(nf_, "-F INPUT");
  must_apply(nf_, "-P FORWARD ACCEPT");
  EXPECT_FALSE(nf_.active(Hook::kLocalIn));
  EXPECT_FALSE(nf_.active(Hook::kForward));
}

TEST_F(NetfilterTest, InterfacesExactAndWildcard) {
  PacketPtr p = udp(*pool_, "10.0.0.1", "10.0.1.1", 1000, 7);
  EXPECT_TRUE(hits("-A FORWARD -i eth0 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -i eth1 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -i eth -j DROP", *p));  // not a prefix match without '+'
  EXPECT_TRUE(hits("-A FORWARD -i eth+ -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -i tap+ -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -o eth1 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -o eth0 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -i eth0 -o eth1 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -i eth0 -o eth2 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -i eth0 -j DROP", *p, "", "eth1"));  // no input interface
}

TEST_F(NetfilterTest, SourceAndDestinationPrefixes) {
  PacketPtr p = udp(*pool_, "192.0.2.77", "198.51.100.9", 1000, 7);
  EXPECT_TRUE(hits("-A FORWARD -s 192.0.2.0/24 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -s 192.0.3.0/24 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -s 192.0.2.77 -j DROP", *p));     // /32
  EXPECT_TRUE(hits("-A FORWARD -s 192.0.2.77/32 -j DROP", *p));  // /32 written out
  EXPECT_FALSE(hits("-A FORWARD -s 192.0.2.76/32 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -s 0.0.0.0/0 -j DROP", *p));  // /0 matches everything
  EXPECT_TRUE(hits("-A FORWARD -s 1.2.3.4/0 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -s 192.0.2.64/26 -j DROP", *p));  // 64..127
  EXPECT_FALSE(hits("-A FORWARD -s 192.0.2.0/26 -j DROP", *p));  // 0..63
  EXPECT_TRUE(hits("-A FORWARD -d 198.51.100.0/24 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -d 192.0.2.0/24 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -s 192.0.2.0/24 -d 198.51.100.9 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -s 192.0.2.0/24 -d 198.51.100.8 -j DROP", *p));
}

TEST_F(NetfilterTest, NegatedPrefixes) {
  PacketPtr p = udp(*pool_, "192.0.2.77", "198.51.100.9", 1000, 7);
  EXPECT_FALSE(hits("-A FORWARD ! -s 192.0.2.0/24 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD ! -s 10.0.0.0/8 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD ! -d 198.51.100.9 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD ! -d 198.51.100.10 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD ! -s 0.0.0.0/0 -j DROP", *p));  // "not anything" is nothing
  EXPECT_TRUE(hits("-A FORWARD ! -s 10.0.0.0/8 ! -d 10.0.0.0/8 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD ! -s 10.0.0.0/8 -d 10.0.0.0/8 -j DROP", *p));
}

TEST_F(NetfilterTest, Protocol) {
  PacketPtr u = udp(*pool_, "10.0.0.1", "10.0.1.1", 1000, 7);
  PacketPtr t = tcp(*pool_, "10.0.0.1", "10.0.1.1", 1000, 80, {TcpFlag::kSyn});
  PacketPtr i = echo_request(*pool_, "10.0.0.1", "10.0.1.1");
  EXPECT_TRUE(hits("-A FORWARD -p udp -j DROP", *u));
  EXPECT_FALSE(hits("-A FORWARD -p udp -j DROP", *t));
  EXPECT_TRUE(hits("-A FORWARD -p tcp -j DROP", *t));
  EXPECT_TRUE(hits("-A FORWARD -p icmp -j DROP", *i));
  EXPECT_FALSE(hits("-A FORWARD -p icmp -j DROP", *u));
  EXPECT_TRUE(hits("-A FORWARD -p 17 -j DROP", *u));
  EXPECT_FALSE(hits("-A FORWARD -p 47 -j DROP", *u));
  EXPECT_TRUE(hits("-A FORWARD -p all -j DROP", *i));
}

TEST_F(NetfilterTest, PortsAndRanges) {
  PacketPtr p = udp(*pool_, "10.0.0.1", "10.0.1.1", 40000, 7);
  EXPECT_TRUE(hits("-A FORWARD -p udp --dport 7 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -p udp --dport 8 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -p udp --sport 40000 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -p udp --sport 7 -j DROP", *p));  // sport is not dport
  EXPECT_TRUE(hits("-A FORWARD -p udp --dport 7:7 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -p udp --dport 5:7 -j DROP", *p));   // upper edge
  EXPECT_TRUE(hits("-A FORWARD -p udp --dport 7:9 -j DROP", *p));   // lower edge
  EXPECT_FALSE(hits("-A FORWARD -p udp --dport 8:9 -j DROP", *p));  // just above
  EXPECT_FALSE(hits("-A FORWARD -p udp --dport 1:6 -j DROP", *p));  // just below
  EXPECT_TRUE(hits("-A FORWARD -p udp --dport :7 -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -p udp --sport 40000: -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -p udp --sport 40001: -j DROP", *p));
  EXPECT_TRUE(hits("-A FORWARD -p udp --sport 1024:65535 --dport 7 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -p udp --sport 1024:65535 --dport 9 -j DROP", *p));
  PacketPtr t = tcp(*pool_, "10.0.0.1", "10.0.1.1", 40000, 80, {TcpFlag::kSyn});
  EXPECT_TRUE(hits("-A FORWARD -p tcp --dport 80 -j DROP", *t));
  EXPECT_FALSE(hits("-A FORWARD -p udp --dport 80 -j DROP", *t));  // the protocol decides
}

TEST_F(NetfilterTest, PortMatchNeedsTcpOrUdpEvenWithoutProtocol) {
  // parse_command refuses --dport without -p, but a Rule built in code may lack it: the ports
  // are read only from TCP and UDP headers, never from an ICMP message's bytes.
  PacketPtr i = echo_request(*pool_, "10.0.0.1", "10.0.1.1");
  Rule r;
  r.verdict = Verdict::kDrop;
  r.match.dport = PortRange{0, 65535};
  nf_.chain(Hook::kForward).rules.push_back(r);
  EXPECT_EQ(run(*i).rule, -1);
  PacketPtr u = udp(*pool_, "10.0.0.1", "10.0.1.1", 1, 2);
  EXPECT_EQ(run(*u).rule, 0);
}

TEST_F(NetfilterTest, TcpFlagsMaskAndCompare) {
  PacketPtr syn = tcp(*pool_, "10.0.0.1", "10.0.1.1", 40000, 80, {TcpFlag::kSyn});
  PacketPtr synack = tcp(*pool_, "10.0.0.1", "10.0.1.1", 40000, 80, {TcpFlag::kSyn, TcpFlag::kAck});
  PacketPtr null = tcp(*pool_, "10.0.0.1", "10.0.1.1", 40000, 80, TcpFlags{});
  PacketPtr xmas =
      tcp(*pool_, "10.0.0.1", "10.0.1.1", 40000, 80, {TcpFlag::kFin, TcpFlag::kPsh, TcpFlag::kUrg});
  // iptables' --syn: SYN set, RST, ACK and FIN clear.
  const char* syn_only = "-A FORWARD -p tcp --tcp-flags SYN,RST,ACK,FIN SYN -j DROP";
  EXPECT_TRUE(hits(syn_only, *syn));
  EXPECT_FALSE(hits(syn_only, *synack));
  EXPECT_FALSE(hits(syn_only, *null));
  const char* null_scan = "-A FORWARD -p tcp --tcp-flags ALL NONE -j DROP";
  EXPECT_TRUE(hits(null_scan, *null));
  EXPECT_FALSE(hits(null_scan, *syn));
  const char* xmas_scan = "-A FORWARD -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP";
  EXPECT_TRUE(hits(xmas_scan, *xmas));
  EXPECT_FALSE(hits(xmas_scan, *syn));
  // Bits outside the mask are ignored.
  EXPECT_TRUE(hits("-A FORWARD -p tcp --tcp-flags SYN SYN -j DROP", *synack));
  EXPECT_TRUE(hits("-A FORWARD -p tcp --tcp-flags ACK NONE -j DROP", *syn));
  EXPECT_FALSE(hits("-A FORWARD -p tcp --tcp-flags ACK NONE -j DROP", *synack));
  // A comparison bit outside the mask can never match (iptables does not forbid it).
  EXPECT_FALSE(hits("-A FORWARD -p tcp --tcp-flags ACK SYN -j DROP", *syn));
}

TEST_F(NetfilterTest, IcmpTypeWithAndWithoutCode) {
  PacketPtr echo = echo_request(*pool_, "10.0.0.1", "10.0.1.1");
  PacketPtr port =
      dst_unreachable(*pool_, "10.0.0.1", "10.0.1.1", wire::DstUnreachable::kPortUnreachable);
  PacketPtr host =
      dst_unreachable(*pool_, "10.0.0.1", "10.0.1.1", wire::DstUnreachable::kHostUnreachable);
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type echo-request -j DROP", *echo));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type 8 -j DROP", *echo));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type 8/0 -j DROP", *echo));
  EXPECT_FALSE(hits("-A FORWARD -p icmp --icmp-type 8/1 -j DROP", *echo));
  EXPECT_FALSE(hits("-A FORWARD -p icmp --icmp-type echo-reply -j DROP", *echo));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type destination-unreachable -j DROP", *port));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type destination-unreachable -j DROP", *host));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type port-unreachable -j DROP", *port));
  EXPECT_FALSE(hits("-A FORWARD -p icmp --icmp-type port-unreachable -j DROP", *host));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type host-unreachable -j DROP", *host));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type 3/3 -j DROP", *port));
  EXPECT_FALSE(hits("-A FORWARD -p icmp --icmp-type 3/3 -j DROP", *echo));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type any -j DROP", *echo));
}

// A later fragment has no transport header: rules that need one never match it, rules that
// do not still do (iptables: tcp_mt/udp_mt/icmp_match return false when fragoff != 0).
TEST_F(NetfilterTest, NonFirstFragmentsMatchNoTransportFields) {
  wire::Ipv4Repr h = ip_repr("10.0.0.1", "10.0.1.1", wire::IpProto::kUdp);
  h.frag_offset = 8;
  // The payload looks exactly like a UDP header 40000 -> 7, to prove it is not read.
  std::vector<uint8_t> bytes = udp_bytes(h, 40000, 7);
  PacketPtr frag = packet(*pool_, h, bytes);
  EXPECT_FALSE(hits("-A FORWARD -p udp --dport 7 -j DROP", *frag));
  EXPECT_FALSE(hits("-A FORWARD -p udp --sport 0:65535 -j DROP", *frag));
  EXPECT_TRUE(hits("-A FORWARD -p udp -s 10.0.0.1 -j DROP", *frag));
  EXPECT_TRUE(hits("-A FORWARD -i eth0 -j DROP", *frag));

  wire::Ipv4Repr th = ip_repr("10.0.0.1", "10.0.1.1", wire::IpProto::kTcp);
  th.frag_offset = 1480;
  PacketPtr tfrag = packet(*pool_, th, tcp_bytes(th, 1, 80, {TcpFlag::kSyn}));
  EXPECT_FALSE(hits("-A FORWARD -p tcp --tcp-flags SYN SYN -j DROP", *tfrag));
  EXPECT_TRUE(hits("-A FORWARD -p tcp -j DROP", *tfrag));

  wire::Ipv4Repr ih = ip_repr("10.0.0.1", "10.0.1.1", wire::IpProto::kIcmp);
  ih.frag_offset = 16;
  const std::vector<uint8_t> echo = {8, 0, 0, 0, 0, 0, 0, 0};
  PacketPtr ifrag = packet(*pool_, ih, echo);
  EXPECT_FALSE(hits("-A FORWARD -p icmp --icmp-type 8 -j DROP", *ifrag));
}

TEST_F(NetfilterTest, FirstFragmentWithMoreFragmentsMatchesPorts) {
  wire::Ipv4Repr h = ip_repr("10.0.0.1", "10.0.1.1", wire::IpProto::kUdp);
  h.more_frags = true;
  PacketPtr first = packet(*pool_, h, udp_bytes(h, 40000, 7, 16));
  EXPECT_TRUE(hits("-A FORWARD -p udp --dport 7 -j DROP", *first));
}

TEST_F(NetfilterTest, TruncatedTransportHeadersMatchOnlyWhatIsPresent) {
  wire::Ipv4Repr uh = ip_repr("10.0.0.1", "10.0.1.1", wire::IpProto::kUdp);
  const std::vector<uint8_t> udp_full = udp_bytes(uh, 40000, 7);
  for (size_t n = 0; n < 4; ++n) {  // fewer than 4 bytes: no ports
    PacketPtr p = packet(*pool_, uh, std::span(udp_full).first(n));
    EXPECT_FALSE(hits("-A FORWARD -p udp --sport 0:65535 -j DROP", *p)) << n;
    EXPECT_TRUE(hits("-A FORWARD -p udp -j DROP", *p)) << n;
  }
  PacketPtr four = packet(*pool_, uh, std::span(udp_full).first(4));
  EXPECT_TRUE(hits("-A FORWARD -p udp --dport 7 -j DROP", *four));

  wire::Ipv4Repr th = ip_repr("10.0.0.1", "10.0.1.1", wire::IpProto::kTcp);
  const std::vector<uint8_t> tcp_full = tcp_bytes(th, 40000, 80, {TcpFlag::kSyn});
  PacketPtr t13 = packet(*pool_, th, std::span(tcp_full).first(13));  // flags are byte 13
  EXPECT_TRUE(hits("-A FORWARD -p tcp --dport 80 -j DROP", *t13));
  EXPECT_FALSE(hits("-A FORWARD -p tcp --tcp-flags SYN SYN -j DROP", *t13));
  EXPECT_FALSE(hits("-A FORWARD -p tcp --tcp-flags ALL NONE -j DROP", *t13));
  PacketPtr t14 = packet(*pool_, th, std::span(tcp_full).first(14));
  EXPECT_TRUE(hits("-A FORWARD -p tcp --tcp-flags SYN SYN -j DROP", *t14));

  wire::Ipv4Repr ih = ip_repr("10.0.0.1", "10.0.1.1", wire::IpProto::kIcmp);
  const std::vector<uint8_t> icmp = {3, 3};
  PacketPtr i0 = packet(*pool_, ih, std::span(icmp).first(0));
  EXPECT_FALSE(hits("-A FORWARD -p icmp --icmp-type 3 -j DROP", *i0));
  PacketPtr i1 = packet(*pool_, ih, std::span(icmp).first(1));
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type 3 -j DROP", *i1));
  EXPECT_FALSE(hits("-A FORWARD -p icmp --icmp-type 3/3 -j DROP", *i1));
  PacketPtr i2 = packet(*pool_, ih, icmp);
  EXPECT_TRUE(hits("-A FORWARD -p icmp --icmp-type 3/3 -j DROP", *i2));
}

TEST_F(NetfilterTest, UnparsableIpHeaderMatchesOnlyInterfaceRules) {
  const std::vector<uint8_t> junk = {0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  PacketPtr p = pool_->alloc_copy(junk);
  EXPECT_TRUE(hits("-A FORWARD -i eth0 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -s 0.0.0.0/0 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD ! -s 10.0.0.0/8 -j DROP", *p));
  EXPECT_FALSE(hits("-A FORWARD -p udp -j DROP", *p));
  PacketPtr empty = pool_->alloc(0, 0);
  EXPECT_TRUE(hits("-A FORWARD -j DROP", *empty));
  EXPECT_FALSE(hits("-A FORWARD -d 0.0.0.0/0 -j DROP", *empty));
}

TEST_F(NetfilterTest, FirstMatchingRuleDecidesAndIsCounted) {
  must_apply(nf_, "-A FORWARD -p udp --dport 9 -j DROP");
  must_apply(nf_, "-A FORWARD -p udp --dport 7 -j REJECT --reject-with icmp-host-prohibited");
  must_apply(nf_, "-A FORWARD -p udp -j DROP");
  must_apply(nf_, "-A FORWARD -p tcp -j ACCEPT");
  PacketPtr seven = udp(*pool_, "10.0.0.1", "10.0.1.1", 1000, 7, 10);
  HookResult r = run(*seven);
  EXPECT_EQ(r.verdict, Verdict::kReject);
  EXPECT_EQ(r.reject_with, RejectWith::kIcmpHostProhibited);
  EXPECT_EQ(r.rule, 1);
  run(*seven);
  PacketPtr other = udp(*pool_, "10.0.0.1", "10.0.1.1", 1000, 53, 100);
  r = run(*other);
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.rule, 2);
  PacketPtr t = tcp(*pool_, "10.0.0.1", "10.0.1.1", 1, 2, {TcpFlag::kAck});
  r = run(*t);
  EXPECT_EQ(r.verdict, Verdict::kAccept);
  EXPECT_EQ(r.rule, 3);
  const std::vector<Rule>& rules = nf_.chain(Hook::kForward).rules;
  EXPECT_EQ(rules[0].packets, 0u);
  EXPECT_EQ(rules[1].packets, 2u);
  EXPECT_EQ(rules[1].bytes, 2 * seven->len());
  EXPECT_EQ(rules[2].packets, 1u);
  EXPECT_EQ(rules[2].bytes, other->len());
  EXPECT_EQ(rules[3].packets, 1u);
  EXPECT_EQ(rules[3].bytes, t->len());
  EXPECT_EQ(nf_.chain(Hook::kForward).policy_packets, 0u);
  // Only the hook's own chain is consulted.
  r = run(*seven, Hook::kLocalIn, "eth0", "");
  EXPECT_EQ(r.verdict, Verdict::kAccept);
  EXPECT_EQ(r.rule, -1);
  EXPECT_EQ(nf_.chain(Hook::kLocalIn).policy_packets, 1u);
}

TEST_F(NetfilterTest, PolicyDecidesWhenNoRuleMatches) {
  must_apply(nf_, "-P INPUT DROP");
  must_apply(nf_, "-A INPUT -p tcp --dport 22 -j ACCEPT");
  PacketPtr ssh = tcp(*pool_, "10.0.0.1", "10.0.1.1", 5000, 22, {TcpFlag::kSyn});
  PacketPtr web = tcp(*pool_, "10.0.0.1", "10.0.1.1", 5000, 80, {TcpFlag::kSyn});
  EXPECT_EQ(run(*ssh, Hook::kLocalIn, "eth0", "").verdict, Verdict::kAccept);
  HookResult r = run(*web, Hook::kLocalIn, "eth0", "");
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.rule, -1);
  run(*web, Hook::kLocalIn, "eth0", "");
  const Chain& c = nf_.chain(Hook::kLocalIn);
  EXPECT_EQ(c.policy_packets, 2u);
  EXPECT_EQ(c.policy_bytes, 2 * web->len());
  EXPECT_EQ(c.rules[0].packets, 1u);
}

// nf_hook_slow: functions run by priority, the filter table at 0, the first non-ACCEPT wins.
TEST_F(NetfilterTest, HookFunctionsRunInPriorityOrderAroundTheTable) {
  std::vector<std::string> order;
  auto log = [&order](std::string name) {
    return [&order, name](const HookState&, PacketBuffer&) {
      order.push_back(name);
      return HookResult{};
    };
  };
  nf_.register_hook(Hook::kForward, 100, log("nat-post"));
  nf_.register_hook(Hook::kForward, -200, log("conntrack"));
  nf_.register_hook(Hook::kForward, 0, log("zero"));  // after the table, registered first
  nf_.register_hook(Hook::kForward, -100, log("nat-pre"));
  nf_.register_hook(Hook::kForward, -100, log("nat-pre-2"));  // same priority: in order
  nf_.register_hook(Hook::kLocalIn, -300, log("other-hook"));
  // The table logs itself through a rule that only counts (ACCEPT).
  must_apply(nf_, "-A FORWARD -j ACCEPT");
  PacketPtr p = udp(*pool_, "10.0.0.1", "10.0.1.1", 1, 2);
  HookResult r = run(*p);
  EXPECT_EQ(r.verdict, Verdict::kAccept);
  EXPECT_EQ(r.rule, 0);  // the table's answer
  EXPECT_EQ(order,
            (std::vector<std::string>{"conntrack", "nat-pre", "nat-pre-2", "zero", "nat-post"}));
  EXPECT_EQ(nf_.chain(Hook::kForward).rules[0].packets, 1u);
}

TEST_F(NetfilterTest, FirstNonAcceptVerdictStopsTheWalk) {
  int later = 0;
  nf_.register_hook(Hook::kForward, -100, [](const HookState&, PacketBuffer&) {
    return HookResult{Verdict::kDrop, RejectWith::kIcmpPortUnreachable, -1};
  });
  nf_.register_hook(Hook::kForward, 100, [&later](const HookState&, PacketBuffer&) {
    ++later;
    return HookResult{};
  });
  must_apply(nf_, "-A FORWARD -j ACCEPT");
  PacketPtr p = udp(*pool_, "10.0.0.1", "10.0.1.1", 1, 2);
  EXPECT_EQ(run(*p).verdict, Verdict::kDrop);
  EXPECT_EQ(later, 0);
  EXPECT_EQ(nf_.chain(Hook::kForward).rules[0].packets, 0u);  // the table never ran
}

TEST_F(NetfilterTest, HookFunctionAfterTheTableCanStillDrop) {
  nf_.register_hook(Hook::kForward, 50, [](const HookState& st, PacketBuffer&) {
    EXPECT_EQ(st.hook, Hook::kForward);
    EXPECT_EQ(st.in, "eth0");
    EXPECT_EQ(st.out, "eth1");
    return HookResult{Verdict::kReject, RejectWith::kTcpReset, -1};
  });
  PacketPtr p = udp(*pool_, "10.0.0.1", "10.0.1.1", 1, 2);
  HookResult r = run(*p);
  EXPECT_EQ(r.verdict, Verdict::kReject);
  EXPECT_EQ(r.reject_with, RejectWith::kTcpReset);
  EXPECT_EQ(nf_.chain(Hook::kForward).policy_packets, 1u);  // the table ran first
}

// Room for conntrack and NAT: a function before the table changes the packet (its mark and
// its destination address, as DNAT would) and the table sees the change.
TEST_F(NetfilterTest, HookFunctionModifiesThePacketBeforeTheTable) {
  nf_.register_hook(Hook::kPreRouting, -100, [](const HookState&, PacketBuffer& pkt) {
    pkt.mark = 0x42;
    auto bytes = pkt.mutable_data();
    EXPECT_TRUE(bytes.ok());
    // DNAT-like rewrite of the destination 10.0.1.1 -> 10.0.2.2 (checksum left alone here).
    (*bytes)[18] = 2;
    (*bytes)[19] = 2;
    return HookResult{};
  });
  uint32_t seen_mark = 0;
  nf_.register_hook(Hook::kPreRouting, 100, [&seen_mark](const HookState&, PacketBuffer& pkt) {
    seen_mark = pkt.mark;
    return HookResult{};
  });
  must_apply(nf_, "-A PREROUTING -d 10.0.2.2 -j DROP");
  PacketPtr p = udp(*pool_, "10.0.0.1", "10.0.1.1", 1, 2);
  HookResult r = run(*p, Hook::kPreRouting, "eth0", "");
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.rule, 0);
  EXPECT_EQ(p->mark, 0x42u);
  EXPECT_EQ(seen_mark, 0u);  // dropped by the table: the later function never ran

  PacketPtr q = udp(*pool_, "10.0.0.1", "10.0.1.1", 1, 2);
  must_apply(nf_, "-F PREROUTING");
  EXPECT_EQ(run(*q, Hook::kPreRouting, "eth0", "").verdict, Verdict::kAccept);
  EXPECT_EQ(seen_mark, 0x42u);
}

// ---- rule-set edits (apply) ------------------------------------------------------------

std::vector<int> dports(const Netfilter& nf, Hook h) {
  std::vector<int> out;
  for (const Rule& r : nf.chain(h).rules) out.push_back(r.match.dport ? r.match.dport->lo : -1);
  return out;
}

TEST_F(NetfilterTest, InsertAtPositions) {
  must_apply(nf_, "-A INPUT -p udp --dport 1 -j DROP");
  must_apply(nf_, "-I INPUT -p udp --dport 2 -j DROP");    // default position 1
  must_apply(nf_, "-I INPUT 3 -p udp --dport 3 -j DROP");  // size + 1: the end
  must_apply(nf_, "-I INPUT 2 -p udp --dport 4 -j DROP");
  EXPECT_EQ(dports(nf_, Hook::kLocalIn), (std::vector<int>{2, 4, 1, 3}));
  auto c = parse_command("-I INPUT 6 -p udp --dport 5 -j DROP");
  ASSERT_TRUE(c.ok());
  auto r = nf_.apply(*c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "bad position 6: INPUT has 4 rules, so 1..5 is possible");
  Command zero = *c;
  zero.position = 0;
  EXPECT_FALSE(nf_.apply(zero).ok());
  EXPECT_EQ(dports(nf_, Hook::kLocalIn), (std::vector<int>{2, 4, 1, 3}));
  Command empty_chain = *c;
  empty_chain.hook = Hook::kForward;
  empty_chain.position = 2;
  r = nf_.apply(empty_chain);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "bad position 2: FORWARD has 0 rules, so 1..1 is possible");
}

TEST_F(NetfilterTest, DeleteRemovesTheFirstEqualRule) {
  must_apply(nf_, "-A INPUT -p udp --dport 7 -j DROP");
  must_apply(nf_, "-A INPUT -p udp --dport 7 -j REJECT");
  must_apply(nf_, "-A INPUT -p udp --dport 7 -j REJECT --reject-with icmp-net-prohibited");
  must_apply(nf_, "-A INPUT -p udp --dport 7 -j DROP");
  nf_.chain(Hook::kLocalIn).rules[0].packets = 5;  // counters do not take part
  must_apply(nf_, "-D INPUT -p udp --dport 7 -j REJECT --reject-with icmp-net-prohibited");
  ASSERT_EQ(nf_.chain(Hook::kLocalIn).rules.size(), 3u);
  EXPECT_EQ(nf_.chain(Hook::kLocalIn).rules[1].reject_with, RejectWith::kIcmpPortUnreachable);
  must_apply(nf_, "-D INPUT -p udp --dport 7 -j DROP");
  ASSERT_EQ(nf_.chain(Hook::kLocalIn).rules.size(), 2u);
  EXPECT_EQ(nf_.chain(Hook::kLocalIn).rules[0].verdict, Verdict::kReject);
  EXPECT_EQ(nf_.chain(Hook::kLocalIn).rules[1].verdict, Verdict::kDrop);
  for (const char* line : {"-D INPUT -p udp --dport 8 -j DROP", "-D INPUT -p udp -j DROP",
                           "-D INPUT -p udp --dport 7 -j ACCEPT",
                           "-D INPUT -p udp --dport 7 -j REJECT --reject-with icmp-net-prohibited",
                           "-D OUTPUT -p udp --dport 7 -j DROP"}) {
    auto c = parse_command(line);
    ASSERT_TRUE(c.ok()) << line;
    auto r = nf_.apply(*c);
    ASSERT_FALSE(r.ok()) << line;
    EXPECT_EQ(r.error().rfind("no such rule in ", 0), 0u) << r.error();
  }
  EXPECT_EQ(nf_.chain(Hook::kLocalIn).rules.size(), 2u);
}

TEST_F(NetfilterTest, PolicyAndFlush) {
  must_apply(nf_, "-P FORWARD DROP");
  EXPECT_EQ(nf_.chain(Hook::kForward).policy, Verdict::kDrop);
  Command reject;
  reject.op = Command::Op::kPolicy;
  reject.hook = Hook::kForward;
  reject.policy = Verdict::kReject;
  auto r = nf_.apply(reject);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().rfind("REJECT policy", 0), 0u);
  EXPECT_EQ(nf_.chain(Hook::kForward).policy, Verdict::kDrop);

  must_apply(nf_, "-A INPUT -j ACCEPT");
  must_apply(nf_, "-A FORWARD -j ACCEPT");
  must_apply(nf_, "-A OUTPUT -j ACCEPT");
  PacketPtr p = udp(*pool_, "10.0.0.1", "10.0.1.1", 1, 2);
  must_apply(nf_, "-F FORWARD");
  run(*p);
  EXPECT_EQ(nf_.chain(Hook::kForward).policy_packets, 1u);
  EXPECT_TRUE(nf_.chain(Hook::kForward).rules.empty());
  EXPECT_EQ(nf_.chain(Hook::kLocalIn).rules.size(), 1u);
  must_apply(nf_, "-F");
  for (size_t i = 0; i < kHookCount; ++i) {
    EXPECT_TRUE(nf_.chain(static_cast<Hook>(i)).rules.empty());
  }
  // Flushing keeps policies and their counters, as iptables -F.
  EXPECT_EQ(nf_.chain(Hook::kForward).policy, Verdict::kDrop);
  EXPECT_EQ(nf_.chain(Hook::kForward).policy_packets, 1u);
}

TEST_F(NetfilterTest, HookAndVerdictNames) {
  const char* names[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
  for (size_t i = 0; i < kHookCount; ++i) {
    const Hook h = static_cast<Hook>(i);
    EXPECT_EQ(hook_name(h), names[i]);
    EXPECT_EQ(parse_hook(names[i]), h);
    std::string lower(names[i]);
    for (char& ch : lower) ch = static_cast<char>(ch - 'A' + 'a');
    EXPECT_EQ(parse_hook(lower), h);
  }
  EXPECT_EQ(parse_hook("Input"), Hook::kLocalIn);
  EXPECT_EQ(parse_hook("INPUTS"), std::nullopt);
  EXPECT_EQ(parse_hook(""), std::nullopt);
  EXPECT_EQ(parse_hook("nat"), std::nullopt);
  EXPECT_EQ(verdict_name(Verdict::kAccept), "ACCEPT");
  EXPECT_EQ(verdict_name(Verdict::kDrop), "DROP");
  EXPECT_EQ(verdict_name(Verdict::kReject), "REJECT");
  EXPECT_EQ(reject_with_name(RejectWith::kIcmpAdminProhibited), "icmp-admin-prohibited");
  EXPECT_EQ(reject_with_name(RejectWith::kTcpReset), "tcp-reset");
}

}  // namespace
}  // namespace ustack::filter
