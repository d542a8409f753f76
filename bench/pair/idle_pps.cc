// bench/pair/idle_pps.cc — bench_pair's idle and pps workloads.
//   idle  --count established connections between the two stacks, both ends in this process:
//         heap growth (mallinfo2().uordblks) / (2 * count) bytes per connection end.
//   pps   minimum-size TCP segments (pure ACKs of an established connection, no options)
//         through host b's RX side the way the link delivers them: SimLink transmit + advance
//         (the DMA copy into a posted RX descriptor), NAPI, Ethernet, IPv4, TCP receive.
//         Frames per second of process CPU time; "info" also has what a plain memcpy of the
//         same bytes into RX-ring-like buffers reaches.
#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bench/pair/pair.h"
#include "bench/pair/workloads.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"

namespace ustack::bench {

namespace {

using transport::TcpSocket;
using transport::TcpState;

// Ephemeral ports per (client address, server address, server port): 32768..60999.
constexpr uint32_t kPortsPerPair =
    transport::TcpLayer::kEphemeralHi - transport::TcpLayer::kEphemeralLo + 1;

}  // namespace

// ---- idle ---------------------------------------------------------------------------------

int run_idle(const Options& o) {
  HostOptions ho;
  ho.mtu = o.mtu;
  ho.ring_size = ring_for(o);
  Pair p(ho);
  // One address pair gives 28 232 4-tuples per server port: listen on enough ports (leaving a
  // margin, as the port picker probes from a hashed offset).
  const uint32_t per_port = kPortsPerPair * 3 / 4;
  const uint32_t nports = (o.count + per_port - 1) / per_port;
  std::vector<TcpSocket*> listeners;
  std::vector<TcpSocket*> servers, clients;
  servers.reserve(o.count);
  clients.reserve(o.count);
  bool err = false;
  for (uint32_t i = 0; i < nports; ++i) {
    TcpSocket* l = p.b().tcp().open();
    const auto port = static_cast<uint16_t>(5001 + i);
    if (!l->bind(wire::Ipv4Addr::any(), port) || !l->listen(4096)) return fail("listen failed");
    l->set_wakeup([&, l](Instant, uint32_t) {
      while (auto c = l->accept()) servers.push_back(*c);
    });
    listeners.push_back(l);
  }
  // Resolve ARP and warm the pools with one connection that is then closed.
  {
    TcpSocket* c = p.a().tcp().open();
    if (!c->connect(p.now(), p.b().addr, 5001)) return fail("connect failed");
    if (!p.run_until([&] { return servers.size() == 1; }, Duration::s(5)))
      return fail("the warm-up connection did not establish");
    p.a().tcp().abort(p.now(), c);
    p.b().tcp().abort(p.now(), servers.back());
    servers.clear();
    p.settle();
  }
  const size_t sock0 = p.a().tcp().sockets() + p.b().tcp().sockets();
  const size_t heap0 = mallinfo2().uordblks;
  const Instant start = monotonic_now();
  constexpr uint32_t kInFlight = 256;  // handshakes at once: below every backlog
  uint32_t started = 0;
  const Instant give_up = start + Duration::s(static_cast<int64_t>(o.seconds) + 20);
  while (servers.size() < o.count) {
    while (started < o.count && started - servers.size() < kInFlight) {
      TcpSocket* c = p.a().tcp().open();
      const auto port = static_cast<uint16_t>(5001 + started % nports);
      auto r = c->connect(p.now(), p.b().addr, port);
      if (!r) return fail(fmt::format("connect #{} failed: errno {}", started, r.error()));
      clients.push_back(c);
      ++started;
    }
    p.step();
    if (p.now() >= give_up) return fail("the connections did not establish in time");
  }
  p.settle();
  const double secs = (monotonic_now() - start).seconds();
  for (TcpSocket* c : clients)
    if (c->state() != TcpState::kEstablished) err = true;
  for (TcpSocket* s : servers)
    if (s->state() != TcpState::kEstablished) err = true;
  if (err) return fail("a connection is not ESTABLISHED");
  const size_t heap1 = mallinfo2().uordblks;
  const double growth = static_cast<double>(heap1) - static_cast<double>(heap0);
  const double per_end = growth / (2.0 * o.count);
  const auto& pa = p.a().st->pool().stats();
  const auto& pb = p.b().st->pool().stats();
  print_result(
      per_end, "bytes_per_conn", "",
      fmt::format("\"count\": {}, \"server_ports\": {}, \"client_addrs\": 1, "
                  "\"heap_growth_bytes\": {:.0f}, \"sizeof_TcpSocket\": {}, "
                  "\"sockets\": {}, \"establish_seconds\": {:.3f}, "
                  "\"pool_bytes_in_use\": {}, \"note\": \"heap growth includes the 4-tuple "
                  "hash tables and the pools' slabs; the benchmark's own pointer vectors were "
                  "reserved before the baseline\"",
                  o.count, nports, growth, sizeof(TcpSocket),
                  p.a().tcp().sockets() + p.b().tcp().sockets() - sock0, secs,
                  pa.bytes_in_use + pb.bytes_in_use));
  return 0;
}

// ---- pps ----------------------------------------------------------------------------------

namespace {

// Frames/s a plain memcpy of `frame` into a ring of RX-buffer-sized slots reaches.
double memcpy_fps(std::span<const uint8_t> frame, double seconds) {
  constexpr size_t kSlots = 256, kSlot = 2048;
  std::vector<uint8_t> ring(kSlots * kSlot);
  uint64_t n = 0;
  const double cpu0 = process_cpu_seconds();
  const Instant end = monotonic_now() + Duration::ns(static_cast<int64_t>(seconds * 1e9));
  while (monotonic_now() < end) {
    for (int k = 0; k < 4096; ++k, ++n) {
      uint8_t* dst = ring.data() + (n % kSlots) * kSlot;
      std::memcpy(dst, frame.data(), frame.size());
      asm volatile("" : : "r"(dst) : "memory");  // the copy must happen
    }
  }
  return static_cast<double>(n) / (process_cpu_seconds() - cpu0);
}

}  // namespace

int run_pps(const Options& o) {
  HostOptions ho;
  ho.mtu = o.mtu;
  ho.ring_size = ring_for(o);
  // No TCP options: a pure ACK is 20 + 20 bytes, the minimum frame (54 bytes, padded to 60).
  ho.tcp.timestamps = false;
  Pair p(ho);
  TcpSocket* l = p.b().tcp().open();
  constexpr uint16_t kPort = 5001;
  if (!l->bind(wire::Ipv4Addr::any(), kPort) || !l->listen(16)) return fail("listen failed");
  TcpSocket* srv = nullptr;
  l->set_wakeup([&](Instant, uint32_t) {
    if (auto c = l->accept()) srv = *c;
  });
  TcpSocket* c = p.a().tcp().open();
  if (!c->connect(p.now(), p.b().addr, kPort)) return fail("connect failed");
  if (!p.run_until([&] { return srv != nullptr; }, Duration::s(5)))
    return fail("the connection did not establish within 5 s");
  p.settle();

  // The ACK a's socket would send now: same sequence numbers and window, so b takes every copy
  // as a duplicate of the last ACK with nothing in flight (tcp_ack's "old news" path).
  wire::TcpRepr th;
  th.src_port = c->local_port();
  th.dst_port = kPort;
  th.seq = c->snd().nxt;
  th.ack = c->rcv().nxt;
  th.flags = wire::TcpFlags{wire::TcpFlag::kAck};
  th.window = static_cast<uint16_t>(std::min<uint32_t>(c->rcv().wnd >> c->rcv().wscale, 0xffff));
  wire::Ipv4Repr ih;
  ih.src = p.a().addr;
  ih.dst = p.b().addr;
  ih.protocol = wire::to_u8(wire::IpProto::kTcp);
  ih.dont_frag = true;
  ih.payload_len = static_cast<uint16_t>(th.header_len());
  wire::EthernetRepr eh;
  eh.dst = p.b().nic->mac();
  eh.src = p.a().nic->mac();
  eh.ethertype = static_cast<uint16_t>(wire::EtherType::kIpv4);
  std::vector<uint8_t> bytes(eh.header_len() + ih.buffer_len());
  eh.emit(bytes);
  ih.emit(std::span<uint8_t>(bytes).subspan(eh.header_len()));
  th.emit(std::span<uint8_t>(bytes).subspan(eh.header_len() + ih.header_len()),
          wire::Ipv4Pseudo{ih.src, ih.dst});
  PacketPtr frame = p.b().st->pool().alloc(64, bytes.size());
  if (!frame || !frame->append(bytes)) return fail("cannot build the frame");

  // From now on host a is off the wire: an injector NIC (with a's MAC) sends the frames.
  dev::DeviceConfig dc;
  dc.name = "inj0";
  dc.mac = p.a().nic->mac();
  dev::SimNic injector(dc, p.b().st->pool());
  p.link().detach(*p.a().nic);
  p.link().attach(injector);

  const auto& mib = p.b().tcp().mib();
  const uint64_t in0 = mib.in_segs, out0 = mib.out_segs;
  // A batch fits the RX ring with room to spare; NAPI polls 64 per round.
  const int batch = static_cast<int>(std::min<uint32_t>(128, ring_for(o) / 2));
  uint64_t sent = 0;
  const Duration measure = Duration::ns(static_cast<int64_t>(o.seconds * 1e9));
  const double cpu0 = process_cpu_seconds();
  const Instant start = monotonic_now();
  Instant now = start;
  while (now - start < measure) {
    for (int i = 0; i < batch; ++i) p.link().transmit(now, injector, frame->clone());
    p.link().advance(now);
    while (p.b().st->poll(now)) {
    }
    sent += batch;
    now = monotonic_now();
  }
  const double cpu = process_cpu_seconds() - cpu0;
  const double wall = (now - start).seconds();
  const uint64_t processed = mib.in_segs - in0;
  if (processed < sent) {
    return fail(fmt::format("host b's TCP saw {} of {} frames (drops: {})", processed, sent,
                            p.b().st->format_drops()));
  }
  std::vector<uint8_t> wire_frame(60, 0);  // what the link delivers: padded to 60 bytes
  std::memcpy(wire_frame.data(), bytes.data(), bytes.size());
  const double mfps = memcpy_fps(wire_frame, std::min(o.seconds, 1.0));
  print_result(static_cast<double>(processed) / cpu, "fps", "",
               fmt::format("\"frames\": {}, \"cpu_seconds\": {:.3f}, \"wall_fps\": {:.0f}, "
                           "\"frame_bytes\": {}, \"wire_bytes\": 60, \"b_out_segs\": {}, "
                           "\"batch\": {}, \"segment\": \"pure ACK, no options, of an "
                           "established connection (duplicate, nothing in flight)\", "
                           "\"memcpy_fps\": {:.0f}, \"memcpy_note\": \"60-byte memcpy into a "
                           "ring of 256 2 KiB slots, same core\"",
                           processed, cpu, static_cast<double>(processed) / wall, bytes.size(),
                           mib.out_segs - out0, batch, mfps));
  p.link().detach(injector);
  return 0;
}

}  // namespace ustack::bench
