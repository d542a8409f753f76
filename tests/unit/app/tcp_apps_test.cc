// app::TcpEcho, TcpSink and TcpSource on two ustack hosts in a sim::World (virtual time):
// the pattern and SHA-256 helpers, echo with flow control against a client that does not read,
// sink reports (numbering, peer, bytes, digest), source -> sink with and without 2 % loss, a
// refused source, and teardown (socket tables empty once TIME-WAIT has passed).
#include "ustack/app/tcp_apps.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>
#include <vector>

#include "ustack/app/sha256.h"
#include "ustack/app/tcp_pattern.h"
#include "ustack/sim/world.h"

namespace ustack::app {
namespace {

using transport::TcpSocket;
using wire::Ipv4Addr;

Ipv4Addr ip(const char* s) { return *Ipv4Addr::parse(s); }
std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// ---- pattern and digest ------------------------------------------------------------------------

TEST(Sha256, KnownAnswers) {
  // FIPS 180-4 examples.
  EXPECT_EQ(Sha256::hex_of({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::hex_of(bytes_of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Incremental updates equal one update; finish() resets.
  Sha256 h;
  h.update(bytes_of("a"));
  h.update(bytes_of("bc"));
  EXPECT_EQ(h.finish_hex(), Sha256::hex_of(bytes_of("abc")));
  EXPECT_EQ(h.finish_hex(), Sha256::hex_of({}));
}

TEST(Pattern, FillMatchesByteAtAnyOffset) {
  for (uint64_t off : {0ull, 1ull, 7ull, 8ull, 13ull, 4095ull, (1ull << 32) + 3}) {
    for (size_t len : {0u, 1u, 7u, 8u, 9u, 100u}) {
      std::vector<uint8_t> v(len);
      pattern_fill(off, v);
      for (size_t k = 0; k < len; ++k) ASSERT_EQ(v[k], pattern_byte(off + k)) << off << "+" << k;
    }
  }
}

TEST(Pattern, HasNoSmallPeriod) {
  constexpr size_t kN = 1 << 16;
  std::vector<uint8_t> v(2 * kN);
  pattern_fill(0, v);
  for (size_t p = 1; p <= kN; ++p) {
    size_t i = 0;
    while (i < kN && v[i] == v[i + p]) ++i;
    ASSERT_LT(i, 64u) << "the stream repeats itself at distance " << p;
  }
}

TEST(Pattern, Sha256OfTheStream) {
  std::vector<uint8_t> v(100'000);
  pattern_fill(0, v);
  EXPECT_EQ(pattern_sha256(v.size()), Sha256::hex_of(v));
  EXPECT_EQ(pattern_sha256(0), Sha256::hex_of({}));
}

TEST(ErrnoName, Names) {
  EXPECT_EQ(errno_name(ECONNREFUSED), "ECONNREFUSED");
  EXPECT_EQ(errno_name(ETIMEDOUT), "ETIMEDOUT");
  EXPECT_EQ(errno_name(0), "");
  EXPECT_EQ(errno_name(99999), "E99999");
}

TEST(TcpConnReport, Line) {
  TcpConnReport r;
  r.conn = 3;
  r.peer = ip("192.0.2.1");
  r.peer_port = 40000;
  r.bytes = 12;
  r.sha256 = "ab";
  EXPECT_EQ(r.line(), "conn 3 192.0.2.1:40000 bytes 12 sha256 ab");
  r.error = ECONNRESET;
  EXPECT_EQ(r.line(), "conn 3 192.0.2.1:40000 bytes 12 sha256 ab error ECONNRESET");
}

// ---- two hosts -------------------------------------------------------------------------------

std::string info(const TcpSocket* s) {
  const transport::TcpInfo i = s->info();
  return "snd_wnd " + std::to_string(i.snd_wnd) + " rcv_wnd " + std::to_string(i.rcv_wnd) +
         " cwnd " + std::to_string(i.snd_cwnd) + " unacked " + std::to_string(i.unacked) +
         " rto_us " + std::to_string(i.rto_us) + " backoff " + std::to_string(i.backoff) +
         " retrans " + std::to_string(i.total_retrans) + " rx_available " +
         std::to_string(s->rx_available()) + "\n";
}

// a (10.0.0.1) <-> b (10.0.0.2), 100 us each way, 1 Gbit/s; TIME-WAIT 1 s on both.
class TcpAppsTest : public ::testing::Test {
 protected:
  void SetUp() override { build({}); }
  void build(const sim::ConnectOptions& o) {
    w_ = std::make_unique<sim::World>(7);
    w_->add_host("a");
    w_->add_host("b");
    sim::ConnectOptions opts = o;
    opts.link.latency = Duration::us(100);
    opts.link.bits_per_second = 1'000'000'000;
    w_->connect("a", "b", opts);
    ASSERT_TRUE(w_->add_address("a", "eth0", "10.0.0.1/24").ok());
    ASSERT_TRUE(w_->add_address("b", "eth0", "10.0.0.2/24").ok());
    for (const char* h : {"a", "b"}) w_->host(h).tcp().config().time_wait = Duration::s(1);
  }
  stack::Stack& a() { return w_->host("a"); }
  stack::Stack& b() { return w_->host("b"); }
  bool run_until(const std::function<bool()>& done, Duration limit) {
    return w_->run_until(done, w_->now() + limit);
  }
  // The socket tables (TIME-WAIT included) hold only `a_left` and `b_left` sockets (listeners)
  // within `limit`.
  bool drained(Duration limit, size_t a_left = 0, size_t b_left = 0) {
    return run_until([&] { return a().tcp().sockets() == a_left && b().tcp().sockets() == b_left; },
                     limit);
  }
  // A raw client socket on a, connected to b:port.
  TcpSocket* connect(uint16_t port) {
    TcpSocket* s = a().tcp().open();
    EXPECT_TRUE(s->connect(w_->now(), ip("10.0.0.2"), port).ok());
    EXPECT_TRUE(
        run_until([&] { return s->state() == transport::TcpState::kEstablished; }, Duration::s(5)));
    return s;
  }
  // Reads what is there into `into`; true at EOF.
  bool drain(TcpSocket* s, std::vector<uint8_t>& into) {
    uint8_t buf[8192];
    for (;;) {
      auto r = s->recv(w_->now(), buf);
      if (!r) return false;
      if (*r == 0) return true;
      into.insert(into.end(), buf, buf + *r);
    }
  }

  std::unique_ptr<sim::World> w_;
};

TEST_F(TcpAppsTest, EchoReturnsEveryByteThenClosesAfterTheClientsFin) {
  TcpEcho echo(b());
  ASSERT_TRUE(echo.start(7).ok());
  EXPECT_EQ(echo.port(), 7);
  TcpSocket* c = connect(7);
  std::vector<uint8_t> sent(300'000);
  pattern_fill(0, sent);
  size_t off = 0;
  std::vector<uint8_t> got;
  bool eof = false;
  ASSERT_TRUE(run_until(
      [&] {
        if (off < sent.size()) {
          auto r = c->send(w_->now(), std::span<const uint8_t>(sent).subspan(off));
          if (r) off += *r;
          if (off == sent.size()) {
            EXPECT_TRUE(c->shutdown(w_->now(), transport::kShutWr).ok());
          }
        }
        eof = drain(c, got) || eof;
        return eof;
      },
      Duration::s(30)));
  EXPECT_EQ(got, sent);
  EXPECT_EQ(echo.stats().accepted, 1u);
  EXPECT_EQ(echo.stats().completed, 1u);
  EXPECT_EQ(echo.stats().errors, 0u);
  EXPECT_EQ(echo.stats().bytes, sent.size());
  EXPECT_EQ(echo.open_connections(), 0u);
  a().tcp().close(w_->now(), c);
  EXPECT_TRUE(drained(Duration::s(5), 0, 1)) << a().tcp().format() << b().tcp().format();
  EXPECT_EQ(echo.format(), "tcp-echo :7 accepted 1 completed 1 errors 0 open 0 bytes 300000\n");
}

// The client sends 4 MiB and reads nothing: the echo fills the client's receive window and its
// own send buffer, then stops reading, so the client's sends stall (EAGAIN) instead of the echo
// buffering without bound. Once the client reads, everything arrives in order.
TEST_F(TcpAppsTest, EchoStopsReadingWhileItCannotSend) {
  TcpEcho echo(b());
  ASSERT_TRUE(echo.start(7).ok());
  TcpSocket* c = connect(7);
  constexpr size_t kTotal = 4 << 20;
  std::vector<uint8_t> sent(kTotal);
  pattern_fill(0, sent);
  size_t off = 0;
  auto push = [&] {
    while (off < kTotal) {
      auto r = c->send(w_->now(), std::span<const uint8_t>(sent).subspan(off));
      if (!r) break;
      off += *r;
    }
  };
  run_until(
      [&] {
        push();
        return false;
      },
      Duration::s(5));
  // Stalled: everything in flight is bounded by the buffers on the way.
  EXPECT_LT(off, kTotal);
  const size_t bound = c->rcvbuf() + c->sndbuf() + b().tcp().config().rmem_max +
                       b().tcp().config().wmem_max + TcpEcho::kBufSize;
  EXPECT_LE(off, bound);
  const uint64_t echoed_while_stalled = echo.stats().bytes;
  run_until(
      [&] {
        push();
        return false;
      },
      Duration::s(2));
  EXPECT_EQ(echo.stats().bytes, echoed_while_stalled) << "the echo kept going without a reader";
  // Now read.
  std::vector<uint8_t> got;
  bool shut = false;
  ASSERT_TRUE(run_until(
      [&] {
        push();
        if (off == kTotal && !shut) shut = c->shutdown(w_->now(), transport::kShutWr).ok();
        return drain(c, got);
      },
      Duration::s(60)))
      << "sent " << off << " got " << got.size() << " echoed " << echo.stats().bytes << "\n"
      << a().tcp().format() << b().tcp().format() << "now " << w_->now().nanos() << " next event "
      << w_->next_event().nanos() << "\n"
      << a().format_drops() << b().format_drops() << info(c) << a().tcp().format_netstat()
      << b().tcp().format_netstat();
  EXPECT_EQ(got.size(), kTotal);
  EXPECT_TRUE(got == sent);
  EXPECT_EQ(echo.stats().completed, 1u);
}

TEST_F(TcpAppsTest, SinkReportsEachConnectionsBytesAndDigest) {
  std::vector<TcpConnReport> reports;
  TcpSink sink(b(), [&](const TcpConnReport& r) { reports.push_back(r); });
  ASSERT_TRUE(sink.start(9).ok());
  const size_t sizes[] = {0, 1, 200'000};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    const size_t n = sizes[i];
    TcpSocket* c = connect(9);
    std::vector<uint8_t> data(n);
    pattern_fill(0, data);
    size_t off = 0;
    bool shut = false;
    std::vector<uint8_t> got;
    ASSERT_TRUE(run_until(
        [&] {
          if (off < n) {
            auto r = c->send(w_->now(), std::span<const uint8_t>(data).subspan(off));
            if (r) off += *r;
          }
          if (off == n && !shut) shut = c->shutdown(w_->now(), transport::kShutWr).ok();
          return drain(c, got);  // the sink's FIN
        },
        Duration::s(30)));
    EXPECT_TRUE(got.empty());
    const uint16_t port = c->local_port();
    a().tcp().close(w_->now(), c);
    ASSERT_EQ(reports.size(), i + 1);
    const TcpConnReport& r = reports.back();
    EXPECT_EQ(r.conn, reports.size());
    EXPECT_EQ(r.peer, ip("10.0.0.1"));
    EXPECT_EQ(r.peer_port, port);
    EXPECT_EQ(r.bytes, n);
    EXPECT_EQ(r.sha256, pattern_sha256(n));
    EXPECT_EQ(r.error, 0);
    EXPECT_EQ(r.line(), "conn " + std::to_string(r.conn) + " 10.0.0.1:" + std::to_string(port) +
                            " bytes " + std::to_string(n) + " sha256 " + pattern_sha256(n));
  }
  EXPECT_EQ(sink.stats().accepted, 3u);
  EXPECT_EQ(sink.stats().completed, 3u);
  EXPECT_EQ(sink.stats().bytes, 200'001u);
}

TEST_F(TcpAppsTest, SinkReportsAResetConnectionWithItsError) {
  std::vector<TcpConnReport> reports;
  TcpSink sink(b(), [&](const TcpConnReport& r) { reports.push_back(r); });
  ASSERT_TRUE(sink.start(9).ok());
  TcpSocket* c = connect(9);
  ASSERT_TRUE(c->send(w_->now(), bytes_of("hello")).ok());
  run_until([] { return false; }, Duration::ms(50));
  a().tcp().abort(w_->now(), c);  // RST
  ASSERT_TRUE(run_until([&] { return !reports.empty(); }, Duration::s(1)));
  EXPECT_EQ(reports[0].bytes, 5u);
  EXPECT_EQ(reports[0].error, ECONNRESET);
  EXPECT_EQ(sink.stats().errors, 1u);
  EXPECT_EQ(sink.open_connections(), 0u);
}

TEST_F(TcpAppsTest, SourceToSinkDigestsAgree) {
  std::vector<TcpConnReport> sunk;
  TcpSink sink(b(), [&](const TcpConnReport& r) { sunk.push_back(r); });
  ASSERT_TRUE(sink.start(9).ok());
  std::optional<TcpConnReport> sent;
  TcpSource src(a(), [&](const TcpConnReport& r) { sent = r; });
  constexpr uint64_t kBytes = 5'000'000;
  ASSERT_TRUE(src.start(w_->now(), ip("10.0.0.2"), 9, kBytes).ok());
  ASSERT_TRUE(run_until([&] { return sent.has_value() && !sunk.empty(); }, Duration::s(60)));
  EXPECT_EQ(sent->error, 0) << errno_name(sent->error);
  EXPECT_EQ(sent->bytes, kBytes);
  EXPECT_EQ(sent->sha256, pattern_sha256(kBytes));
  EXPECT_EQ(sent->peer, ip("10.0.0.2"));
  EXPECT_EQ(sent->peer_port, 9);
  EXPECT_GT(sent->elapsed, Duration::zero());
  EXPECT_TRUE(src.done());
  ASSERT_EQ(sunk.size(), 1u);
  EXPECT_EQ(sunk[0].bytes, kBytes);
  EXPECT_EQ(sunk[0].sha256, sent->sha256);
  sink.stop(w_->now());
  EXPECT_TRUE(drained(Duration::s(5))) << a().tcp().format() << b().tcp().format();
}

// --tcp-count-only (a benchmark's peer): the source sends zeros, neither end hashes, and the
// byte counts still agree.
TEST_F(TcpAppsTest, CountOnlySourceSendsZerosAndNeitherEndHashes) {
  std::vector<TcpConnReport> sunk;
  TcpSink sink(b(), [&](const TcpConnReport& r) { sunk.push_back(r); });
  sink.set_count_only(true);
  ASSERT_TRUE(sink.start(9).ok());
  std::optional<TcpConnReport> sent;
  TcpSource src(a(), [&](const TcpConnReport& r) { sent = r; });
  src.set_count_only(true);
  constexpr uint64_t kBytes = 1'000'000;
  ASSERT_TRUE(src.start(w_->now(), ip("10.0.0.2"), 9, kBytes).ok());
  ASSERT_TRUE(run_until([&] { return sent.has_value() && !sunk.empty(); }, Duration::s(60)));
  EXPECT_EQ(sent->error, 0) << errno_name(sent->error);
  EXPECT_EQ(sent->bytes, kBytes);
  EXPECT_EQ(sent->sha256, "none");
  ASSERT_EQ(sunk.size(), 1u);
  EXPECT_EQ(sunk[0].bytes, kBytes);
  EXPECT_EQ(sunk[0].sha256, "none");
  sink.stop(w_->now());
}

TEST_F(TcpAppsTest, SourceToSinkThroughTwoPercentLossEachWay) {
  sim::ConnectOptions o;
  dev::FaultInjectorConfig f;
  f.rx.drop = f.tx.drop = 0.02;
  o.a.faults = f;
  build(o);
  std::vector<TcpConnReport> sunk;
  TcpSink sink(b(), [&](const TcpConnReport& r) { sunk.push_back(r); });
  ASSERT_TRUE(sink.start(9).ok());
  std::optional<TcpConnReport> sent;
  TcpSource src(a(), [&](const TcpConnReport& r) { sent = r; });
  constexpr uint64_t kBytes = 2'000'000;
  ASSERT_TRUE(src.start(w_->now(), ip("10.0.0.2"), 9, kBytes).ok());
  ASSERT_TRUE(run_until([&] { return sent.has_value() && !sunk.empty(); }, Duration::s(300)))
      << "sent " << src.sent() << "\n"
      << a().tcp().format() << b().tcp().format();
  EXPECT_EQ(sent->error, 0) << errno_name(sent->error);
  EXPECT_EQ(sunk[0].bytes, kBytes);
  EXPECT_EQ(sunk[0].sha256, pattern_sha256(kBytes));
  EXPECT_GT(w_->faults("a", "eth0")->rx_fault_stats().dropped, 0u);
  EXPECT_GT(w_->faults("a", "eth0")->tx_fault_stats().dropped, 0u);
}

// Zero bytes: the half-close must wait for ESTABLISHED (shutdown in SYN-SENT aborts).
TEST_F(TcpAppsTest, SourceOfZeroBytesConnectsAndCloses) {
  std::vector<TcpConnReport> sunk;
  TcpSink sink(b(), [&](const TcpConnReport& r) { sunk.push_back(r); });
  ASSERT_TRUE(sink.start(9).ok());
  std::optional<TcpConnReport> sent;
  TcpSource src(a(), [&](const TcpConnReport& r) { sent = r; });
  ASSERT_TRUE(src.start(w_->now(), ip("10.0.0.2"), 9, 0).ok());
  ASSERT_TRUE(run_until([&] { return sent.has_value() && !sunk.empty(); }, Duration::s(5)));
  EXPECT_EQ(sent->error, 0) << errno_name(sent->error);
  EXPECT_EQ(sent->sha256, pattern_sha256(0));
  EXPECT_EQ(sunk[0].bytes, 0u);
  EXPECT_EQ(sunk[0].error, 0);
}

TEST_F(TcpAppsTest, SourceToAClosedPortReportsEconnrefused) {
  std::optional<TcpConnReport> sent;
  TcpSource src(a(), [&](const TcpConnReport& r) { sent = r; });
  ASSERT_TRUE(src.start(w_->now(), ip("10.0.0.2"), 4444, 1000).ok());
  ASSERT_TRUE(run_until([&] { return sent.has_value(); }, Duration::s(5)));
  EXPECT_EQ(sent->error, ECONNREFUSED);
  EXPECT_EQ(sent->bytes, 0u);
  EXPECT_NE(sent->line().find(" error ECONNREFUSED"), std::string::npos);
  EXPECT_TRUE(drained(Duration::s(1)));
  // A second start is refused.
  EXPECT_EQ(src.start(w_->now(), ip("10.0.0.2"), 4444, 1).error(), EINVAL);
}

TEST_F(TcpAppsTest, PausedListenerKeepsConnectionsQueued) {
  TcpEcho echo(b());
  ASSERT_TRUE(echo.start(7, {.backlog = 4, .pause_accept = true}).ok());
  std::vector<TcpSocket*> cs;
  for (int i = 0; i < 3; ++i) cs.push_back(connect(7));
  w_->run_for(Duration::ms(1));  // the last handshake's ACK reaches b
  EXPECT_EQ(echo.listener()->accept_queue_len(), 3u);
  EXPECT_EQ(echo.stats().accepted, 0u);
  // stop() resets the queued connections.
  echo.stop(w_->now());
  EXPECT_TRUE(run_until(
      [&] {
        for (TcpSocket* c : cs)
          if (c->state() != transport::TcpState::kClosed) return false;
        return true;
      },
      Duration::s(1)));
  for (TcpSocket* c : cs) {
    EXPECT_EQ(c->take_error(), ECONNRESET);
    a().tcp().close(w_->now(), c);
  }
  EXPECT_TRUE(drained(Duration::s(2)));
}

TEST_F(TcpAppsTest, StartErrors) {
  TcpEcho e1(b()), e2(b());
  ASSERT_TRUE(e1.start(7).ok());
  EXPECT_EQ(e1.start(8).error(), EINVAL);
  EXPECT_EQ(e2.start(7).error(), EADDRINUSE);
  TcpSink s(b(), nullptr);
  EXPECT_EQ(s.start(7, {}, ip("10.9.9.9")).error(), EADDRNOTAVAIL);
}

}  // namespace
}  // namespace ustack::app
