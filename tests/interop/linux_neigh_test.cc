// interop/linux_neigh_test.cc — ARP between `ustack host` and Linux (network-layer acceptance).
//
// Linux's neighbour table must hold ustack's MAC for ustack's address in a valid state after an
// exchange; ustack's table must hold Linux's. And ustack's entry for Linux must age the way
// Linux's own do (the NUD machine): with base_reachable_time 300 ms (reachable for 150..450
// ms) and delay_first_probe_time 200 ms, an entry that was confirmed by one ping is STALE at
// the next one a second later; answering that ping moves it to DELAY and, 200 ms on, to PROBE,
// which sends an ARP request unicast to the MAC on record (Linux's neigh_probe). So every ping
// after the first makes ustack ask again, and the pcap shows one request per ping (the first
// ping's exchange also gets one: ustack learned Linux from Linux's own request, which leaves
// the entry STALE, like arp_process does).
#include <gtest/gtest.h>

#include <string>

#include "interop/host_process.h"

namespace ustack::interop {
namespace {

class LinuxNeigh : public OneHostTest {
 protected:
  LinuxNeigh() : OneHostTest("uneigh") {}
};

// The "state":["REACHABLE"] of `ip -j neigh` output (first state word), or "".
std::string neigh_state(const std::string& json) {
  const std::string key = "\"state\":[\"";
  const size_t at = json.find(key);
  if (at == std::string::npos) return "";
  const size_t end = json.find('"', at + key.size());
  return json.substr(at + key.size(), end - at - key.size());
}

TEST_F(LinuxNeigh, LinuxLearnsUstackAndUstackReResolvesAfterAgeing) {
  ASSERT_NO_FATAL_FAILURE(
      start_host({"--neigh-reachable-ms", "300", "--neigh-delay-probe-ms", "200"}));
  const auto linux_mac = ns_.link_mac(tap_);
  ASSERT_TRUE(linux_mac.has_value());

  // Four pings a second apart: each waits out ustack's reachable time plus its DELAY.
  constexpr int kPings = 4;
  const CmdResult ping =
      ns_.exec("ping -c " + std::to_string(kPings) + " -i 1 -w 10 " + std::string(kUstack));
  const auto s = ping_summary(ping.output);
  ASSERT_TRUE(s.has_value()) << ping.output;
  EXPECT_EQ(s->received, kPings) << ping.output;
  // Let the last DELAY run out so that its probe is on the capture too.
  const CmdResult lx_neigh = ns_.exec("sleep 0.4; ip -j neigh show dev " + tap_);

  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop_host(&out));
  const std::string mac = ustack_mac(out, tap_);
  ASSERT_EQ(mac.size(), 17u) << out;

  // Linux: ustack's address -> ustack's MAC, in a state that means "resolved".
  EXPECT_EQ(json_value(lx_neigh.output, "dst"), kUstack) << lx_neigh.output;
  EXPECT_EQ(json_value(lx_neigh.output, "lladdr"), mac) << lx_neigh.output;
  const std::string state = neigh_state(lx_neigh.output);
  EXPECT_TRUE(state == "REACHABLE" || state == "STALE" || state == "DELAY") << lx_neigh.output;

  // ustack: Linux's address -> Linux's MAC.
  EXPECT_NE(out.find(std::string(kLinux) + " dev " + tap_ + " lladdr " + *linux_mac),
            std::string::npos)
      << out;

  // ARP requests from ustack for Linux (not its gratuitous announcement, which asks for its own
  // address): one per ping, each a unicast probe to Linux's MAC.
  const std::string from_us =
      "arp.opcode == 1 && eth.src == " + mac + " && arp.dst.proto_ipv4 == " + std::string(kLinux);
  const int requests = tshark_count(pcap(), from_us);
  EXPECT_GE(requests, 2);
  EXPECT_EQ(requests, kPings);
  EXPECT_EQ(tshark_count(pcap(), from_us + " && eth.dst == " + *linux_mac), requests);
  // Linux answered each of them, and ustack never had to broadcast (the entry never failed).
  EXPECT_EQ(tshark_count(pcap(), "arp.opcode == 2 && eth.src == " + *linux_mac), requests);
  EXPECT_EQ(snmp_value(out, "Arp", "ResFailed"), 0u) << out;
  EXPECT_EQ(snmp_value(out, "Arp", "TxRequests"), static_cast<uint64_t>(requests)) << out;
}

}  // namespace
}  // namespace ustack::interop
