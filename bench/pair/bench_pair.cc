// bench/pair/bench_pair.cc — issue 6's workload program for ustack <-> ustack: two whole stacks
// in one process and one thread on a zero-latency SimLink, driven in real time (pair.h), using
// the native TCP API (TcpSocket with wakeup callbacks: the equivalent of lwIP's raw API).
//
//   bench_pair bulk|rr|crr|idle|pps [--seconds S] [--bytes N] [--mtu N] [--conns N]
//                                   [--count N] [--size N] [--buf N]
//
// Prints one JSON line on stdout ({"value", "unit", ...,"info": {...}}) and exits 0, or a
// sentence on stderr and a non-zero status. Every run gives up after --seconds + 20 s.
// The workloads are the contract of bench/compare (see bench/CMakeLists.txt); idle and pps are
// in workloads_idle_pps.cc.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bench/pair/pair.h"
#include "bench/pair/workloads.h"

namespace ustack::bench {

namespace {

using transport::kPollErr;
using transport::kPollOut;
using transport::TcpSocket;
using transport::TcpState;

constexpr uint16_t kPort = 5001;

// Reads everything a socket holds into `buf`, calling on_data for each chunk. Sets *eof on end
// of stream, *err on an error other than EAGAIN.
template <typename F>
void drain(Instant now, TcpSocket* s, std::span<uint8_t> buf, F&& on_data, bool* eof = nullptr,
           bool* err = nullptr) {
  while (true) {
    auto r = s->recv(now, buf);
    if (!r) {
      if (r.error() != EAGAIN && err != nullptr) *err = true;
      return;
    }
    if (*r == 0) {
      if (eof != nullptr) *eof = true;
      return;
    }
    on_data(buf.first(*r));
  }
}

std::string tcp_info_json(Pair& p) {
  const auto& ma = p.a().tcp().mib();
  const auto& mb = p.b().tcp().mib();
  return fmt::format(
      "\"a_out_segs\": {}, \"b_out_segs\": {}, \"retrans_segs\": {}, \"timeouts\": {}, "
      "\"loop_iterations\": {}, \"ring\": {}",
      ma.out_segs, mb.out_segs, ma.retrans_segs + mb.retrans_segs,
      ma.tcp_timeouts + mb.tcp_timeouts, p.iterations(), p.a().nic->config().rx_ring_size);
}

// ---- bulk: one connection a -> b, every byte checked ----------------------------------------

// The stream's bytes: a period that is no multiple of any MSS, so a segment boundary never
// lines up with the same bytes twice in a row.
constexpr size_t kPatternPeriod = (1u << 20) - 13;
constexpr size_t kChunk = 256 << 10;

int run_bulk(const Options& o) {
  HostOptions ho;
  ho.mtu = o.mtu;
  ho.ring_size = ring_for(o);
  Pair p(ho);
  std::vector<uint8_t> pattern(kPatternPeriod + kChunk);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (auto& b : pattern) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  for (size_t i = 0; i < kChunk; ++i) pattern[kPatternPeriod + i] = pattern[i];

  TcpSocket* l = p.b().tcp().open();
  if (!l->bind(wire::Ipv4Addr::any(), kPort) || !l->listen(16)) return fail("listen failed");
  TcpSocket* rx = nullptr;
  std::vector<uint8_t> rbuf(kChunk);
  uint64_t received = 0, first_chunk = 0;
  Instant t_first, t_last;
  bool corrupt = false, rx_err = false, eof = false;
  const auto on_rx = [&](Instant now) {
    drain(
        now, rx, rbuf,
        [&](std::span<uint8_t> d) {
          if (received == 0) {
            t_first = now;
            first_chunk = d.size();
          }
          const size_t off = received % kPatternPeriod;
          if (std::memcmp(d.data(), pattern.data() + off, d.size()) != 0) corrupt = true;
          received += d.size();
          t_last = now;
        },
        &eof, &rx_err);
  };
  l->set_wakeup([&](Instant, uint32_t) {
    if (rx != nullptr) return;
    auto c = l->accept();
    if (!c) return;
    rx = *c;
    if (o.buf != 0) rx->set_rcvbuf(o.buf);
    rx->set_wakeup([&](Instant now, uint32_t) { on_rx(now); });
  });

  TcpSocket* tx = p.a().tcp().open();
  if (o.buf != 0) {
    tx->set_sndbuf(o.buf);
    tx->set_rcvbuf(o.buf);
  }
  uint64_t queued = 0;
  bool tx_err = false;
  const auto fill = [&](Instant now) {
    while (queued < o.bytes) {
      const size_t off = queued % kPatternPeriod;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, o.bytes - queued));
      auto r = tx->send(now, std::span<const uint8_t>(pattern).subspan(off, n));
      if (!r) {
        if (r.error() != EAGAIN) tx_err = true;
        return;
      }
      if (*r == 0) return;
      queued += *r;
    }
  };
  tx->set_wakeup([&](Instant now, uint32_t mask) {
    if ((mask & kPollOut) != 0) fill(now);
  });
  if (!tx->connect(p.now(), p.b().addr, kPort)) return fail("connect failed");
  if (!p.run_until([&] { return rx != nullptr && tx->state() == TcpState::kEstablished; },
                   Duration::s(5)))
    return fail("the connection did not establish within 5 s");

  const double cpu0 = process_cpu_seconds();
  const Instant start = p.now();
  const Instant give_up = start + Duration::s(o.seconds + 20);
  const Duration measure = Duration::ns(static_cast<int64_t>(o.seconds * 1e9));
  fill(p.now());
  while (received < o.bytes && !corrupt && !rx_err && !tx_err && !eof) {
    p.step();
    if (received != 0 && p.now() - t_first >= measure) break;
    if (p.now() >= give_up) return fail("the transfer stalled");
  }
  const double cpu = process_cpu_seconds() - cpu0;
  if (corrupt) return fail("the receiver got a byte that differs from the pattern");
  if (rx_err || tx_err || eof) return fail("the connection failed during the transfer");
  const double secs = (t_last - t_first).seconds();
  if (secs <= 0 || received <= first_chunk) return fail("too little data to time the transfer");
  const double gbit = static_cast<double>(received - first_chunk) * 8 / secs / 1e9;
  const auto ti = tx->info();
  print_result(
      gbit, "gbit_s", "",
      fmt::format("\"bytes\": {}, \"seconds\": {:.3f}, \"cpu_seconds\": {:.3f}, "
                  "\"gbit_s_per_cpu_second\": {:.3f}, "
                  "\"mtu\": {}, \"mss\": {}, \"sndbuf\": {}, \"rcvbuf\": {}, "
                  "\"cwnd\": {}, {}",
                  received, secs, cpu, static_cast<double>(received) * 8 / cpu / 1e9, o.mtu,
                  ti.snd_mss, tx->sndbuf(), rx->rcvbuf(), ti.snd_cwnd, tcp_info_json(p)));
  return 0;
}

// ---- rr: --conns connections, one --size request outstanding on each ------------------------

struct RrConn {
  TcpSocket* s = nullptr;
  Instant sent;
  size_t got = 0;
};

int run_rr(const Options& o) {
  HostOptions ho;
  ho.mtu = o.mtu;
  ho.ring_size = ring_for(o);
  Pair p(ho);
  TcpSocket* l = p.b().tcp().open();
  if (!l->bind(wire::Ipv4Addr::any(), kPort) || !l->listen(1024)) return fail("listen failed");
  std::vector<uint8_t> sbuf(64 << 10), cbuf(64 << 10);
  size_t accepted = 0;
  bool err = false;
  // The server echoes whatever arrives: a --size request makes a --size response.
  l->set_wakeup([&](Instant, uint32_t) {
    while (auto c = l->accept()) {
      TcpSocket* s = *c;
      ++accepted;
      s->set_nodelay(true);
      s->set_wakeup([&, s](Instant now, uint32_t) {
        drain(
            now, s, sbuf,
            [&](std::span<uint8_t> d) {
              auto r = s->send(now, d);
              if (!r || *r != d.size()) err = true;  // 64 bytes always fit
            },
            nullptr, &err);
      });
    }
  });
  const std::vector<uint8_t> req(o.size, 0x42);
  std::vector<RrConn> conns(o.conns);
  std::vector<uint32_t> lat_ns;
  lat_ns.reserve(16 << 20);
  uint64_t done = 0;
  bool measuring = false, stop = false;
  for (RrConn& c : conns) {
    c.s = p.a().tcp().open();
    c.s->set_nodelay(true);
    RrConn* cp = &c;
    c.s->set_wakeup([&, cp](Instant now, uint32_t) {
      drain(
          now, cp->s, cbuf, [&](std::span<uint8_t> d) { cp->got += d.size(); }, nullptr, &err);
      while (cp->got >= o.size) {
        cp->got -= o.size;
        if (!measuring) continue;
        const int64_t ns = (now - cp->sent).nanos();
        lat_ns.push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
        ++done;
        if (stop) continue;
        cp->sent = now;
        auto r = cp->s->send(now, req);
        if (!r || *r != req.size()) err = true;
      }
    });
    if (!c.s->connect(p.now(), p.b().addr, kPort)) return fail("connect failed");
  }
  if (!p.run_until([&] { return accepted == conns.size(); }, Duration::s(5)))
    return fail("the connections did not establish within 5 s");
  p.settle();

  const double cpu0 = process_cpu_seconds();
  measuring = true;
  p.step();
  const Instant start = p.now();
  for (RrConn& c : conns) {
    c.sent = start;
    if (!c.s->send(start, req)) return fail("send failed");
  }
  const Duration measure = Duration::ns(static_cast<int64_t>(o.seconds * 1e9));
  while (!err && p.now() - start < measure) p.step();
  const Instant end = p.now();
  const uint64_t done_at_end = done;
  stop = true;
  const double cpu = process_cpu_seconds() - cpu0;
  if (err) return fail("a request/response connection failed");
  if (done_at_end == 0) return fail("no request completed");
  const double tps = static_cast<double>(done_at_end) / (end - start).seconds();
  std::vector<uint32_t> v(lat_ns.begin(), lat_ns.begin() + static_cast<ptrdiff_t>(done_at_end));
  const auto pct = [&](double q) {
    auto k = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]) / 1e3;
  };
  const double p50 = pct(0.50), p99 = pct(0.99);
  print_result(
      tps, "tps", fmt::format("\"p50_us\": {:.3f}, \"p99_us\": {:.3f}, ", p50, p99),
      fmt::format("\"transactions\": {}, \"seconds\": {:.3f}, \"cpu_seconds\": {:.3f}, "
                  "\"tps_per_cpu_second\": {:.0f}, "
                  "\"conns\": {}, \"size\": {}, \"latency_clock\": \"one "
                  "CLOCK_MONOTONIC read per loop iteration\", {}",
                  done_at_end, (end - start).seconds(), cpu, static_cast<double>(done_at_end) / cpu,
                  o.conns, o.size, tcp_info_json(p)));
  return 0;
}

// ---- crr: connect, request, response, close; --conns in flight ------------------------------

int run_crr(const Options& o) {
  HostOptions ho;
  ho.mtu = o.mtu;
  ho.ring_size = ring_for(o);
  // The client closes first and holds TIME-WAIT: 1 ms instead of 60 s (as bench_tcp does, and
  // as tcp_tw_reuse would let Linux reuse the port), or 28 232 ephemeral ports run out.
  ho.tcp.time_wait = Duration::ms(1);
  Pair p(ho);
  TcpSocket* l = p.b().tcp().open();
  if (!l->bind(wire::Ipv4Addr::any(), kPort) || !l->listen(4096)) return fail("listen failed");
  std::vector<uint8_t> sbuf(64 << 10), cbuf(64 << 10);
  bool err = false;
  uint64_t served = 0;
  // Server: echo the request; close when the client's FIN arrives (LAST-ACK, then CLOSED).
  l->set_wakeup([&](Instant now, uint32_t) {
    while (auto c = l->accept()) {
      TcpSocket* s = *c;
      s->set_nodelay(true);
      const auto serve = [&, s](Instant t, uint32_t) {
        bool eof = false;
        drain(
            t, s, sbuf,
            [&](std::span<uint8_t> d) {
              if (!s->send(t, d)) err = true;
              ++served;
            },
            &eof, &err);
        if (eof || (s->poll_mask() & kPollErr) != 0) {
          transport::TcpLayer& layer = p.b().tcp();
          TcpSocket* self = s;
          self->set_wakeup({});  // destroys this lambda: only locals below
          layer.close(t, self);
        }
      };
      s->set_wakeup(serve);
      serve(now, 0);  // the request may have come with the handshake's last ACK
    }
  });
  const std::vector<uint8_t> req(o.size, 0x42);
  uint64_t done = 0, started = 0, to_start = o.conns;
  bool stop = false;
  const auto start_one = [&](Instant now) {
    TcpSocket* c = p.a().tcp().open();
    c->set_nodelay(true);
    ++started;
    // Per-connection state lives in the lambda: bytes of the response received, request sent.
    c->set_wakeup([&, c, got = size_t{0}, sent = false](Instant t, uint32_t mask) mutable {
      if (!sent && c->state() == TcpState::kEstablished) {
        auto r = c->send(t, req);
        if (!r || *r != req.size()) err = true;
        sent = true;
      }
      drain(
          t, c, cbuf, [&](std::span<uint8_t> d) { got += d.size(); }, nullptr, &err);
      if ((mask & kPollErr) != 0) err = true;
      if (got >= o.size || err) {
        transport::TcpLayer& layer = p.a().tcp();
        TcpSocket* self = c;
        uint64_t& finished = done;
        uint64_t& again = to_start;
        const bool more = !stop;
        self->set_wakeup({});  // destroys this lambda: only locals below
        layer.close(t, self);  // FIN first: this end goes through TIME-WAIT
        ++finished;
        if (more) ++again;
      }
    });
    if (!c->connect(now, p.b().addr, kPort)) err = true;
  };

  const double cpu0 = process_cpu_seconds();
  p.step();
  const Instant start = p.now();
  const Duration measure = Duration::ns(static_cast<int64_t>(o.seconds * 1e9));
  while (!err && p.now() - start < measure) {
    while (to_start > 0) {
      --to_start;
      start_one(p.now());
    }
    p.step();
  }
  const Instant end = p.now();
  const uint64_t done_at_end = done;
  stop = true;
  const double cpu = process_cpu_seconds() - cpu0;
  if (err) return fail("a connection failed (connect, request, response or close)");
  if (done_at_end == 0) return fail("no connection completed");
  // Let the in-flight ones finish, so the socket count below says whether anything leaks.
  (void)p.run_until([&] { return done == started; }, Duration::s(2));
  p.settle();
  print_result(
      static_cast<double>(done_at_end) / (end - start).seconds(), "conn_s", "",
      fmt::format("\"connections\": {}, \"seconds\": {:.3f}, \"cpu_seconds\": {:.3f}, "
                  "\"conn_s_per_cpu_second\": {:.0f}, "
                  "\"conns_in_flight\": {}, \"size\": {}, \"served\": {}, "
                  "\"time_wait_ms\": 1, \"time_wait_holder\": \"client\", "
                  "\"time_waits\": {}, \"sockets_left\": {}, {}",
                  done_at_end, (end - start).seconds(), cpu, static_cast<double>(done_at_end) / cpu,
                  o.conns, o.size, served, p.a().tcp().mib().time_waits,
                  p.a().tcp().sockets() + p.b().tcp().sockets() - 1, tcp_info_json(p)));
  return 0;
}

void on_alarm(int) {
  static const char kMsg[] = "bench_pair: gave up: the run exceeded --seconds + 20 s\n";
  (void)!write(2, kMsg, sizeof(kMsg) - 1);
  _exit(3);
}

}  // namespace

int fail(const std::string& why) {
  fmt::print(stderr, "bench_pair: {}\n", why);
  return 1;
}

void print_result(double value, const char* unit, const std::string& extra,
                  const std::string& info) {
  fmt::print(
      "{{\"system\": \"ustack-pair\", \"value\": {:.6g}, \"unit\": \"{}\", {}\"info\": {{{}}}}}\n",
      value, unit, extra, info);
  std::fflush(stdout);
}

}  // namespace ustack::bench

int main(int argc, char** argv) {
  using namespace ustack::bench;
  Options o;
  CLI::App app{
      "ustack <-> ustack: two whole stacks in one process and one thread on a zero-latency "
      "simulated link, driven in real time (CLOCK_MONOTONIC), native TCP API. Prints one JSON "
      "line."};
  app.add_option("workload", o.workload, "bulk | rr | crr | idle | pps")
      ->required()
      ->check(CLI::IsMember({"bulk", "rr", "crr", "idle", "pps"}));
  app.add_option("--seconds", o.seconds, "measuring time");
  app.add_option("--bytes", o.bytes, "bulk: stop after this many bytes");
  app.add_option("--mtu", o.mtu, "link MTU (both NICs; the TCP MSS follows)")
      ->check(CLI::Range(576, 65535));
  app.add_option("--conns", o.conns, "rr: connections; crr: connections in flight")
      ->check(CLI::Range(1, 100000));
  app.add_option("--count", o.count, "idle: established connections to hold")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--size", o.size, "rr/crr message size")->check(CLI::Range(1, 65536));
  app.add_option("--buf", o.buf, "bulk: SO_SNDBUF/SO_RCVBUF of both ends (0: stack default)");
  app.add_option("--ring", o.ring,
                 "RX/TX ring descriptors per NIC (ethtool -G; default 256, 16 above MTU 1500)")
      ->check(CLI::Range(0, 4096));
  CLI11_PARSE(app, argc, argv);

  signal(SIGALRM, on_alarm);
  alarm(static_cast<unsigned>(o.seconds) + 20);
  if (o.workload == "bulk") return run_bulk(o);
  if (o.workload == "rr") return run_rr(o);
  if (o.workload == "crr") return run_crr(o);
  if (o.workload == "idle") return run_idle(o);
  return run_pps(o);
}
