// describe_frame: tcpdump-style summaries, and safety on every truncation of real frames.
#include "ustack/wire/describe.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "ustack/wire/arp.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

namespace ustack::wire {
namespace {

const MacAddr kA = *MacAddr::parse("02:00:00:00:00:01");
const MacAddr kB = *MacAddr::parse("02:00:00:00:00:02");
const Ipv4Addr kIpA = *Ipv4Addr::parse("10.0.0.1");
const Ipv4Addr kIpB = *Ipv4Addr::parse("10.0.0.2");

std::vector<uint8_t> udp_frame(std::string_view payload) {
  std::vector<uint8_t> f(14 + 20 + 8 + payload.size());
  EthernetRepr{kB, kA, to_u16(EtherType::kIpv4), std::nullopt}.emit(f);
  Ipv4Repr ip{.src = kIpA,
              .dst = kIpB,
              .protocol = to_u8(IpProto::kUdp),
              .payload_len = static_cast<uint16_t>(8 + payload.size())};
  ip.emit(std::span(f).subspan(14));
  std::copy(payload.begin(), payload.end(), f.begin() + 42);
  UdpRepr{5000, 53}.emit(std::span(f).subspan(34), Ipv4Pseudo{kIpA, kIpB});
  return f;
}

TEST(Describe, ArpRequest) {
  std::vector<uint8_t> f(42);
  EthernetRepr{MacAddr::broadcast(), kA, to_u16(EtherType::kArp), std::nullopt}.emit(f);
  ArpRepr{ArpOp::kRequest, kA, kIpA, MacAddr{}, kIpB}.emit(std::span(f).subspan(14));
  EXPECT_EQ(describe_frame(f),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.0.0.2 tell 10.0.0.1");
}

TEST(Describe, UdpInIpv4AndBadChecksum) {
  auto f = udp_frame("hello");
  EXPECT_EQ(
      describe_frame(f),
      "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 5");
  f.back() ^= 1;
  EXPECT_EQ(describe_frame(f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 10.0.0.1 > 10.0.0.2: UDP [bad checksum]");
  f[14 + 10] ^= 1;  // IPv4 header checksum
  EXPECT_EQ(describe_frame(f), "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 [bad checksum]");
}

TEST(Describe, TcpSynWithOptions) {
  std::vector<uint8_t> f(14 + 20 + 40);
  TcpRepr t;
  t.src_port = 40000;
  t.dst_port = 80;
  t.seq = SeqNum{1};
  t.flags = TcpFlags{TcpFlag::kSyn};
  t.window = 64240;
  t.options.mss = 1460;
  t.options.sack_permitted = true;
  t.options.window_scale = 7;
  f.resize(14 + 20 + t.header_len());
  EthernetRepr{kB, kA, to_u16(EtherType::kIpv4), std::nullopt}.emit(f);
  Ipv4Repr{.src = kIpA,
           .dst = kIpB,
           .protocol = to_u8(IpProto::kTcp),
           .payload_len = static_cast<uint16_t>(t.header_len())}
      .emit(std::span(f).subspan(14));
  t.emit(std::span(f).subspan(34), Ipv4Pseudo{kIpA, kIpB});
  EXPECT_EQ(describe_frame(f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], "
            "seq 1, win 64240, options [mss 1460,sackOK,wscale 7], length 0");
}

TEST(Describe, EveryPrefixOfEveryCorpusFrameIsSafe) {
  // The fuzz corpus holds real Linux frames; every truncation must give a string.
  const std::filesystem::path dir =
      std::filesystem::path(USTACK_SOURCE_DIR) / "fuzz/corpus/describe";
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), {});
    for (size_t len = 0; len <= b.size(); ++len) {
      EXPECT_FALSE(describe_frame(std::span(b).first(len)).empty());
    }
    const std::string whole = describe_frame(b);
    if (e.path().filename() == "vlan") continue;  // a deliberately short tagged frame
    for (const char* err : {"[truncated]", "[bad ", "[malformed]", "[unsupported]"}) {
      EXPECT_EQ(whole.find(err), std::string::npos) << e.path() << ": " << whole;
    }
    ++n;
  }
  EXPECT_GT(n, 20u);
}

}  // namespace
}  // namespace ustack::wire
