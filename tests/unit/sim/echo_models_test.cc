// tests/unit/sim/echo_models_test.cc — the five I/O models' echo servers (examples/
// echo_servers.h), unchanged, on the simulator's virtual clock: the server's threads are
// World::spawn threads (EchoOptions::threads), clients are sim threads on another host across a
// simulated link. Each model serves 8 concurrent clients (tiny and 256 KiB messages, half-close)
// and the runs are deterministic: the same seed gives the same virtual completion time.
#include <gtest/gtest.h>
#include <signal.h>

#include <vector>

#include "examples/echo_servers.h"
#include "scenario.h"
#include "ustack/socket/socket.h"

namespace ustack::sim {
namespace {

using examples::Model;
using socket::Fd;
using socket::SocketLayer;

constexpr uint32_t kA = 0x0a000001;  // 10.0.0.1: the server
constexpr uint16_t kPort = 7;

sockaddr_in sin(uint32_t addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(addr);
  a.sin_port = htons(port);
  return a;
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    v[i] = static_cast<uint8_t>(x >> 16);
  }
  return v;
}

struct Outcome {
  int ok = 0;
  Instant finished;
};

// One run: the model's server on host a, `clients` client threads on host b. Client i sends
// its message (tiny for even i, 256 KiB for odd i) while a second thread reads the echo, then
// half-closes and expects the whole echo and EOF.
Outcome run(Model model, uint64_t seed, int clients) {
  World w(seed);
  test::two_hosts(w, ConnectOptions{.link = dev::SimLinkConfig{.latency = Duration::us(200)}});
  SocketLayer& srv = w.host("a").sockets();
  SocketLayer& cli = w.host("b").sockets();
  examples::EchoOptions opt;
  opt.buf_size = 16 * 1024;
  opt.threads.spawn = [&](std::function<void()> fn) { w.spawn("a", "server", std::move(fn)); };
  opt.threads.wait_until = [&](const std::function<bool()>& done) {
    w.run_until(done, w.now() + Duration::s(5));
  };
  opt.threads.pause = [&](Duration d) { w.sleep_for(d); };
  if (model == Model::kSignal) examples::SignalEcho<SocketLayer>::block_signals(opt);
  auto server = examples::make_echo_server(model, srv, opt);
  EXPECT_EQ(server->start(sin(INADDR_ANY, kPort)), 0);

  Outcome out;
  int finished = 0;
  for (int i = 0; i < clients; ++i) {
    w.spawn("b", "client", [&, i] {
      const auto msg = pattern(i % 2 == 0 ? 1 : 256 * 1024, static_cast<uint32_t>(i));
      const Fd s = cli.socket(AF_INET, SOCK_STREAM, 0);
      if (cli.connect(s, sin(kA, kPort)) != 0) {
        ++finished;
        return;
      }
      std::vector<uint8_t> got;
      bool eof = false;
      bool reader_done = false;
      w.spawn("b", "reader", [&] {
        std::vector<uint8_t> buf(32 * 1024);
        for (;;) {
          const ssize_t n = cli.recv(s, buf.data(), buf.size(), 0);
          if (n <= 0) {
            eof = n == 0;
            break;
          }
          got.insert(got.end(), buf.begin(), buf.begin() + n);
        }
        reader_done = true;
      });
      const bool sent = cli.send(s, msg.data(), msg.size(), 0) == static_cast<ssize_t>(msg.size());
      (void)cli.shutdown(s, SHUT_WR);
      while (!reader_done) w.sleep_for(Duration::ms(1));
      if (sent && eof && got == msg) ++out.ok;
      (void)cli.close(s);
      ++finished;
    });
  }
  EXPECT_TRUE(w.run_until([&] { return finished == clients; }, w.now() + Duration::s(120)))
      << examples::model_name(model) << ": " << w.describe_threads();
  out.finished = w.now();
  server->stop();
  return out;
}

class EchoModelsSim : public ::testing::TestWithParam<Model> {};

TEST_P(EchoModelsSim, ServesConcurrentClientsOnTheVirtualClockDeterministically) {
  const Outcome a = run(GetParam(), 7, 8);
  EXPECT_EQ(a.ok, 8);
  const Outcome b = run(GetParam(), 7, 8);
  EXPECT_EQ(b.ok, 8);
  EXPECT_EQ(a.finished, b.finished) << "same seed, same virtual completion time";
}

INSTANTIATE_TEST_SUITE_P(Models, EchoModelsSim, ::testing::ValuesIn(examples::kAllModels),
                         [](const ::testing::TestParamInfo<Model>& p) {
                           return std::string(examples::model_name(p.param));
                         });

}  // namespace
}  // namespace ustack::sim
