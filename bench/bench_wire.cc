// Parse + emit cost per Ethernet/IPv4/TCP frame: a pure ACK (66 bytes with timestamps) and a
// full data segment (1514 bytes). "verify" parses with checksum verification (what RX does);
// "nocsum" skips it, isolating the header logic. Emit writes all three headers and computes
// both checksums over the payload already in place (what TX does).
#include <benchmark/benchmark.h>

#include <vector>

#include "ustack/wire/ethernet.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"

namespace {

using namespace ustack::wire;

const MacAddr kA{{2, 0, 0, 0, 0, 1}};
const MacAddr kB{{2, 0, 0, 0, 0, 2}};
const Ipv4Addr kIpA = Ipv4Addr::from_octets(10, 0, 0, 1);
const Ipv4Addr kIpB = Ipv4Addr::from_octets(10, 0, 0, 2);

TcpRepr data_segment() {
  TcpRepr t;
  t.src_port = 40000;
  t.dst_port = 80;
  t.seq = SeqNum{1000};
  t.ack = SeqNum{2000};
  t.flags = TcpFlags{TcpFlag::kAck, TcpFlag::kPsh};
  t.window = 502;
  t.options.timestamps = TcpTimestamps{123456, 654321};
  return t;
}

// Emits a whole frame into `f` (sized to fit); returns its length.
size_t emit_frame(std::vector<uint8_t>& f, const TcpRepr& t, size_t payload) {
  const size_t tcp_len = t.header_len() + payload;
  const size_t len = 14 + 20 + tcp_len;
  EthernetRepr{kB, kA, to_u16(EtherType::kIpv4), std::nullopt}.emit(f);
  Ipv4Repr ip{.src = kIpA,
              .dst = kIpB,
              .protocol = to_u8(IpProto::kTcp),
              .dont_frag = true,
              .payload_len = static_cast<uint16_t>(tcp_len)};
  ip.emit(std::span(f).subspan(14));
  t.emit(std::span(f).subspan(34, tcp_len), Ipv4Pseudo{kIpA, kIpB});
  return len;
}

template <Checksum kCk>
void BM_ParseFrame(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> f(1600, 0x61);
  const size_t len = emit_frame(f, data_segment(), payload);
  std::span<const uint8_t> frame(f.data(), len);
  for (auto _ : state) {
    auto eth = EthernetView::parse(frame);
    auto er = EthernetRepr::parse(*eth);
    auto ip = Ipv4View::parse(eth->payload());
    auto ir = Ipv4Repr::parse(*ip, kCk);
    auto tcp = TcpView::parse(ip->payload());
    auto tr = TcpRepr::parse(*tcp, Ipv4Pseudo{ir->src, ir->dst}, kCk);
    benchmark::DoNotOptimize(er->ethertype);
    benchmark::DoNotOptimize(tr->seq);
    if (!tr) state.SkipWithError("parse failed");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * len));
}
BENCHMARK(BM_ParseFrame<Checksum::kVerify>)->Name("BM_ParseFrame/verify")->Arg(0)->Arg(1448);
BENCHMARK(BM_ParseFrame<Checksum::kIgnore>)->Name("BM_ParseFrame/nocsum")->Arg(0)->Arg(1448);

void BM_EmitFrame(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> f(1600, 0x61);
  TcpRepr t = data_segment();
  size_t len = 0;
  for (auto _ : state) {
    t.seq = t.seq + 1;
    len = emit_frame(f, t, payload);
    benchmark::DoNotOptimize(f.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * len));
}
BENCHMARK(BM_EmitFrame)->Arg(0)->Arg(1448);

}  // namespace
