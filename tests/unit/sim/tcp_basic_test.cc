// tests/unit/sim/tcp_basic_test.cc — TCP between two ustack hosts on a simulated link, driven
// by polling the non-blocking calls: handshake, a transfer both ways, the four-way close, the
// socket tables empty after TIME-WAIT; a connection to a closed port is refused.
#include <gtest/gtest.h>

#include <cerrno>

#include "scenario.h"

namespace ustack::sim {
namespace {

using test::ip;
using transport::TcpSocket;
using transport::TcpState;

struct Pair {
  World w{7};
  TcpSocket* listener = nullptr;
  TcpSocket* client = nullptr;
  TcpSocket* server = nullptr;
  explicit Pair(const ConnectOptions& o = {}) {
    test::two_hosts(w, o);
    if (getenv("TCP_TRACE")) {
      static TracePrinter tp(stderr);
      w.host("a").telemetry().set_sink(&tp, layer_bit(Layer::kTcp));
      w.host("b").telemetry().set_sink(&tp, layer_bit(Layer::kTcp));
    }
    listener = w.host("b").tcp().open();
    EXPECT_TRUE(listener->bind(wire::Ipv4Addr::any(), 80).ok());
    EXPECT_TRUE(listener->listen(16).ok());
    client = w.host("a").tcp().open();
    EXPECT_TRUE(client->connect(w.now(), ip("10.0.0.2"), 80).ok());
    EXPECT_TRUE(w.run_until(
        [&] {
          if (server == nullptr) {
            auto r = listener->accept();
            if (r.ok()) server = *r;
          }
          return server != nullptr && client->state() == TcpState::kEstablished;
        },
        w.now() + Duration::s(5)));
  }
};

// Moves `n` bytes a -> b through the two sockets, reading as it goes.
std::vector<uint8_t> transfer(World& w, TcpSocket* tx, TcpSocket* rx,
                              const std::vector<uint8_t>& data, Duration limit) {
  size_t sent = 0;
  std::vector<uint8_t> got;
  std::vector<uint8_t> buf(65536);
  w.run_until(
      [&] {
        while (sent < data.size()) {
          auto r = tx->send(w.now(), std::span(data).subspan(sent));
          if (!r.ok()) break;
          sent += *r;
        }
        for (;;) {
          auto r = rx->recv(w.now(), buf);
          if (!r.ok() || *r == 0) break;
          got.insert(got.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*r));
        }
        return got.size() >= data.size();
      },
      w.now() + limit);
  return got;
}

TEST(TcpBasic, HandshakeTransferAndCloseLeaveNoSockets) {
  Pair p;
  ASSERT_NE(p.server, nullptr);
  EXPECT_EQ(p.server->state(), TcpState::kEstablished);
  const auto data = test::pattern(1 << 20, 3);
  EXPECT_EQ(transfer(p.w, p.client, p.server, data, Duration::s(30)), data);
  const auto back = test::pattern(100'000, 9);
  EXPECT_EQ(transfer(p.w, p.server, p.client, back, Duration::s(30)), back);

  ASSERT_TRUE(p.client->shutdown(p.w.now(), transport::kShutWr).ok());
  std::vector<uint8_t> buf(16);
  ASSERT_TRUE(p.w.run_until(
      [&] {
        auto r = p.server->recv(p.w.now(), buf);
        return r.ok() && *r == 0;
      },
      p.w.now() + Duration::s(5)));
  EXPECT_EQ(p.server->state(), TcpState::kCloseWait);
  p.w.host("b").tcp().close(p.w.now(), p.server);
  ASSERT_TRUE(p.w.run_until([&] { return p.client->state() == TcpState::kTimeWait; },
                            p.w.now() + Duration::s(5)));
  p.w.host("a").tcp().close(p.w.now(), p.client);
  p.w.host("b").tcp().close(p.w.now(), p.listener);
  p.w.run_for(Duration::s(61));
  EXPECT_EQ(p.w.host("a").tcp().sockets(), 0u);
  EXPECT_EQ(p.w.host("b").tcp().sockets(), 0u);
  EXPECT_EQ(p.w.host("a").tcp().mib().active_opens, 1u);
  EXPECT_EQ(p.w.host("b").tcp().mib().passive_opens, 1u);
  EXPECT_EQ(p.w.host("a").tcp().mib().curr_estab, 0u);
}

TEST(TcpBasic, ClosedPortIsRefused) {
  World w(3);
  test::two_hosts(w);
  TcpSocket* c = w.host("a").tcp().open();
  ASSERT_TRUE(c->connect(w.now(), ip("10.0.0.2"), 81).ok());
  ASSERT_TRUE(
      w.run_until([&] { return c->state() == TcpState::kClosed; }, w.now() + Duration::s(5)));
  EXPECT_EQ(c->take_error(), ECONNREFUSED);
  EXPECT_EQ(w.host("b").tcp().mib().out_rsts, 1u);
}

}  // namespace
}  // namespace ustack::sim
