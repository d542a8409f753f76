// TCP between two whole ustack hosts in a sim::World, no syscalls: the cost of the stack's TCP.
//   BM_TcpBulk             one connection, a -> b, the application writing `chunk`-byte
//                          send()s and b's reader draining on every wakeup (bytes/s, Gbit/s).
//   BM_TcpRequestResponse  64-byte request, 64-byte response on one connection with
//                          TCP_NODELAY (items/s = round trips per wall-clock second).
//   BM_TcpConnect          connect, 64-byte request and response, close from both sides
//                          (items/s = connections per second); TIME-WAIT shortened to 1 ms of
//                          virtual time so the ephemeral ports recycle, as tcp_tw_reuse would.
// The link is instantaneous (1 us, no serialization delay): what is measured is CPU per byte and
// per segment in ring, NAPI, Ethernet, IP, TCP and the socket calls of both hosts.
#include <benchmark/benchmark.h>

#include <cerrno>
#include <vector>

#include "ustack/sim/world.h"
#include "ustack/transport/tcp.h"

namespace {

using namespace ustack;
using transport::TcpSocket;
using wire::Ipv4Addr;

constexpr uint16_t kPort = 5001;

struct Pair {
  explicit Pair(uint64_t seed) : w(seed) {
    w.add_host("a");
    w.add_host("b");
    w.connect("a", "b", dev::SimLinkConfig{.latency = Duration::us(1)});
    (void)w.add_address("a", "eth0", "10.0.0.1/24");
    (void)w.add_address("b", "eth0", "10.0.0.2/24");
  }
  transport::TcpLayer& a() { return w.host("a").tcp(); }
  transport::TcpLayer& b() { return w.host("b").tcp(); }
  TcpSocket* listen() {
    TcpSocket* l = b().open();
    (void)l->bind(Ipv4Addr::any(), kPort);
    (void)l->listen(1024);
    return l;
  }
  sim::World w;
};

// Reads everything a socket has, counting it (the data is copied out, as recv(2) copies it).
size_t drain(Instant now, TcpSocket* s, std::vector<uint8_t>& buf, bool* eof = nullptr) {
  size_t got = 0;
  while (true) {
    auto r = s->recv(now, buf);
    if (!r) break;
    if (*r == 0) {
      if (eof != nullptr) *eof = true;
      break;
    }
    got += *r;
  }
  return got;
}

void BM_TcpBulk(benchmark::State& state) {
  const size_t chunk = static_cast<size_t>(state.range(0));
  constexpr size_t kPerIter = 4 << 20;
  Pair p(1);
  TcpSocket* l = p.listen();
  TcpSocket* rx = nullptr;
  std::vector<uint8_t> rbuf(256 << 10);
  uint64_t received = 0;
  l->set_wakeup([&](Instant, uint32_t) {
    if (rx != nullptr) return;
    auto c = l->accept();
    if (!c) return;
    rx = *c;
    rx->set_wakeup([&](Instant now, uint32_t) { received += drain(now, rx, rbuf); });
  });
  TcpSocket* tx = p.a().open();
  (void)tx->connect(p.w.now(), *Ipv4Addr::parse("10.0.0.2"), kPort);
  const std::vector<uint8_t> data(chunk, 0x5a);
  uint64_t queued = 0, target = 0;
  const auto fill = [&](Instant now) {
    while (queued < target) {
      const size_t n = std::min<uint64_t>(chunk, target - queued);
      auto r = tx->send(now, std::span<const uint8_t>(data).first(n));
      if (!r || *r == 0) break;
      queued += *r;
    }
  };
  tx->set_wakeup([&](Instant now, uint32_t mask) {
    if ((mask & transport::kPollOut) != 0) fill(now);
  });
  if (!p.w.run_until([&] { return tx->state() == transport::TcpState::kEstablished; },
                     p.w.now() + Duration::ms(10))) {
    state.SkipWithError("no connection");
    return;
  }
  for (auto _ : state) {
    target += kPerIter;
    fill(p.w.now());
    if (!p.w.run_until([&] { return received == target; }, p.w.now() + Duration::s(10))) {
      state.SkipWithError("the transfer stalled");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(received));
  state.counters["Gbit"] =
      benchmark::Counter(static_cast<double>(received) * 8 / 1e9, benchmark::Counter::kIsRate);
  state.counters["retrans"] = static_cast<double>(p.a().mib().retrans_segs);
  state.counters["segs_out"] = static_cast<double>(p.a().mib().out_segs);
}
BENCHMARK(BM_TcpBulk)->Arg(1460)->Arg(16384)->Arg(65536)->UseRealTime();

void BM_TcpRequestResponse(benchmark::State& state) {
  constexpr size_t kMsg = 64;
  Pair p(2);
  TcpSocket* l = p.listen();
  TcpSocket* srv = nullptr;
  std::vector<uint8_t> sbuf(4096), cbuf(4096);
  l->set_wakeup([&](Instant, uint32_t) {
    if (srv != nullptr) return;
    auto c = l->accept();
    if (!c) return;
    srv = *c;
    srv->set_nodelay(true);
    // The server echoes whatever arrives (a 64-byte request, a 64-byte response).
    srv->set_wakeup([&](Instant now, uint32_t) {
      while (true) {
        auto r = srv->recv(now, sbuf);
        if (!r || *r == 0) break;
        (void)srv->send(now, std::span<const uint8_t>(sbuf).first(*r));
      }
    });
  });
  TcpSocket* cli = p.a().open();
  cli->set_nodelay(true);
  uint64_t got = 0;
  cli->set_wakeup([&](Instant now, uint32_t) { got += drain(now, cli, cbuf); });
  (void)cli->connect(p.w.now(), *Ipv4Addr::parse("10.0.0.2"), kPort);
  if (!p.w.run_until([&] { return srv != nullptr; }, p.w.now() + Duration::ms(10))) {
    state.SkipWithError("no connection");
    return;
  }
  const std::vector<uint8_t> req(kMsg, 0x42);
  uint64_t want = 0;
  for (auto _ : state) {
    (void)cli->send(p.w.now(), req);
    want += kMsg;
    if (!p.w.run_until([&] { return got == want; }, p.w.now() + Duration::s(1))) {
      state.SkipWithError("a response went missing");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["virtual_us/rt"] = (p.w.now() - Instant::zero()).seconds() * 1e6 /
                                    static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}
BENCHMARK(BM_TcpRequestResponse)->UseRealTime();

void BM_TcpConnect(benchmark::State& state) {
  constexpr size_t kMsg = 64;
  Pair p(3);
  for (transport::TcpLayer* t : {&p.a(), &p.b()}) t->config().time_wait = Duration::ms(1);
  TcpSocket* l = p.listen();
  std::vector<uint8_t> sbuf(4096), cbuf(4096);
  uint64_t served = 0;
  // Server: accept, echo the request, close (its FIN follows the response); the client reads
  // response and EOF and closes: the client holds TIME-WAIT.
  l->set_wakeup([&](Instant now, uint32_t) {
    while (auto c = l->accept()) {
      TcpSocket* s = *c;
      s->set_nodelay(true);
      const auto serve = [&, s](Instant t, uint32_t) {
        auto r = s->recv(t, sbuf);
        if (!r) return;
        if (*r > 0) {
          (void)s->send(t, std::span<const uint8_t>(sbuf).first(*r));
          ++served;
        }
        // Clearing the wakeup destroys this lambda: copy what is needed first.
        transport::TcpLayer& layer = p.b();
        TcpSocket* self = s;
        self->set_wakeup({});
        layer.close(t, self);
      };
      s->set_wakeup(serve);
      serve(now, 0);  // the request may have come with the handshake's last ACK
    }
  });
  const std::vector<uint8_t> req(kMsg, 0x42);
  const Ipv4Addr dst = *Ipv4Addr::parse("10.0.0.2");
  uint64_t done = 0, started = 0;
  for (auto _ : state) {
    TcpSocket* c = p.a().open();
    c->set_nodelay(true);
    size_t got = 0;
    bool sent = false, eof = false;
    ++started;
    c->set_wakeup([&, c](Instant now, uint32_t) {
      if (!sent && c->state() == transport::TcpState::kEstablished) {
        sent = c->send(now, req).ok();
      }
      got += drain(now, c, cbuf, &eof);
      if (eof || (c->poll_mask() & transport::kPollErr) != 0) {
        transport::TcpLayer& layer = p.a();
        TcpSocket* self = c;
        uint64_t& finished = done;
        self->set_wakeup({});  // destroys this lambda: only locals below
        layer.close(now, self);
        ++finished;
      }
    });
    if (!c->connect(p.w.now(), dst, kPort).ok()) {
      state.SkipWithError("connect failed");
      break;
    }
    if (!p.w.run_until([&] { return done == started; }, p.w.now() + Duration::s(1)) ||
        got != kMsg) {
      state.SkipWithError("a connection did not complete");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["served"] = static_cast<double>(served);
  state.counters["sockets_left"] = static_cast<double>(p.a().sockets() + p.b().sockets());
}
BENCHMARK(BM_TcpConnect)->UseRealTime();

}  // namespace
