// The echo servers of the five I/O models (examples/echo_servers.h) against one test suite:
// many concurrent clients, tiny and large messages byte-identical, half-close, peer reset,
// slow reader (flow control reaches the sender). The suite runs each model over ustack (one
// rt::Runtime host: clients and server share it through ustack's loopback path) and, to keep
// the suite honest, over the Linux kernel on 127.0.0.1 with the same server code (KernelApi).
// A model whose ustack backend still says -ENOSYS (epoll, async before their branches land)
// is skipped with the reason; model 5 has no Linux backend (no io_uring here).
#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "examples/echo_servers.h"
#include "examples/kernel_api.h"
#include "unit/socket/rt_host.h"

namespace ustack::socket::test {
namespace {

using examples::EchoServer;
using examples::KernelApi;
using examples::Model;

struct Param {
  Model model;
  bool linux_kernel;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << examples::model_name(p.model) << (p.linux_kernel ? " over Linux" : " over ustack");
}

std::string param_name(const ::testing::TestParamInfo<Param>& p) {
  return std::string(examples::model_name(p.param.model)) +
         (p.param.linux_kernel ? "_linux" : "_ustack");
}

// Deterministic content: byte i of stream `seed`.
std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    v[i] = static_cast<uint8_t>(x >> 16);
  }
  return v;
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// One backend: the API, its server, the address clients connect to.
template <class Api>
struct Side {
  Api& api;
  EchoServer<Api>& server;
  sockaddr_in addr;

  // A connected blocking client whose every wait is bounded (a stuck server fails the test
  // instead of hanging it).
  Fd client() {
    const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0) return c;
    timeval tv{20, 0};
    (void)api.setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)api.setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int r = api.connect(c, addr);
    if (r != 0) {
      (void)api.close(c);
      return r;
    }
    return c;
  }

  // Sends all of `data` (loops over partial sends). 0 or -errno.
  int64_t send_all(Fd c, const uint8_t* p, size_t n) {
    size_t off = 0;
    while (off < n) {
      const ssize_t w = api.send(c, p + off, n - off, MSG_NOSIGNAL);
      if (w < 0) return w;
      off += static_cast<size_t>(w);
    }
    return 0;
  }

  // Receives exactly n bytes into out. The count received, or -errno / short count on EOF.
  int64_t recv_all(Fd c, uint8_t* out, size_t n) {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = api.recv(c, out + got, n - got, 0);
      if (r < 0) return r;
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return static_cast<int64_t>(got);
  }

  // Sends `data` from a second thread while this one receives its echo.
  std::vector<uint8_t> echo(Fd c, const std::vector<uint8_t>& data) {
    std::atomic<int64_t> sent{1};
    std::thread w([&] { sent = send_all(c, data.data(), data.size()); });
    std::vector<uint8_t> got(data.size());
    const int64_t n = recv_all(c, got.data(), got.size());
    w.join();
    EXPECT_EQ(sent.load(), 0);
    EXPECT_EQ(n, static_cast<int64_t>(data.size()));
    got.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return got;
  }

  bool settled() const {  // every accepted connection has been closed by the server
    return server.stats().closed.load() == server.stats().accepted.load();
  }
};

class EchoSuite : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    // Before any thread starts: model 4's real-time signal must never reach a thread that
    // does not wait for it (see SignalEcho::block_signals).
    examples::SignalEcho<SocketLayer>::block_signals();
    const Param p = GetParam();
    if (p.linux_kernel) {
      kserver_ = examples::make_echo_server(p.model, kapi_);
      kaddr_ = sin(INADDR_LOOPBACK, 0);
      const int r = kserver_->start(kaddr_);
      if (r == -ENOSYS)
        GTEST_SKIP() << "model 5 over Linux needs io_uring (liburing not installed)";
      ASSERT_EQ(r, 0) << std::strerror(-r);
      kaddr_.sin_port = htons(kserver_->port());
    } else {
      host_ = std::make_unique<RtHost>();
      userver_ = examples::make_echo_server(p.model, host_->api());
      uaddr_ = sin(kHostAddr, 0);
      const int r = userver_->start(uaddr_);
      if (r == -ENOSYS) {
        GTEST_SKIP() << examples::model_name(p.model)
                     << ": the ustack backend says ENOSYS on this branch (not merged yet)";
      }
      ASSERT_EQ(r, 0) << std::strerror(-r);
      uaddr_.sin_port = htons(userver_->port());
    }
  }
  void TearDown() override {
    if (userver_) userver_->stop();
    if (kserver_) kserver_->stop();
    userver_.reset();
    kserver_.reset();
    host_.reset();
  }

  // Runs `body(side)` on the backend of this instance.
  template <class F>
  void run(F&& body) {
    if (GetParam().linux_kernel) {
      Side<KernelApi> s{kapi_, *kserver_, kaddr_};
      body(s);
    } else {
      Side<SocketLayer> s{host_->api(), *userver_, uaddr_};
      body(s);
    }
  }

  std::unique_ptr<RtHost> host_;
  std::unique_ptr<EchoServer<SocketLayer>> userver_;
  sockaddr_in uaddr_{};
  KernelApi kapi_;
  std::unique_ptr<EchoServer<KernelApi>> kserver_;
  sockaddr_in kaddr_{};
};

// 32 clients at once, each a conversation of messages of varied sizes.
TEST_P(EchoSuite, ManyConcurrentClients) {
  run([](auto& s) {
    constexpr int kClients = 32;
    std::atomic<int> ok{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < kClients; ++i) {
      ts.emplace_back([&, i] {
        const Fd c = s.client();
        ASSERT_GE(c, 0) << std::strerror(static_cast<int>(-c));
        bool good = true;
        for (int k = 0; k < 8; ++k) {
          const auto msg = pattern(static_cast<size_t>(1 + (i * 977 + k * 4093) % 20000),
                                   static_cast<uint32_t>(i * 100 + k));
          ASSERT_EQ(s.send_all(c, msg.data(), msg.size()), 0);
          std::vector<uint8_t> got(msg.size());
          ASSERT_EQ(s.recv_all(c, got.data(), got.size()), static_cast<int64_t>(msg.size()));
          good &= got == msg;
        }
        EXPECT_EQ(s.api.close(c), 0);
        if (good) ++ok;
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(ok.load(), kClients);
    EXPECT_TRUE(wait_until([&] { return s.server.stats().closed.load() >= kClients; },
                           std::chrono::seconds(10)));
    EXPECT_EQ(s.server.stats().accepted.load(), uint64_t{kClients});
    EXPECT_EQ(s.server.stats().eofs.load(), uint64_t{kClients});
    EXPECT_EQ(s.server.stats().errors.load(), 0u);
  });
}

// One-byte messages (each waits for its echo: no coalescing can hide a lost byte), then one
// 4 MiB message sent while its echo is read.
TEST_P(EchoSuite, TinyAndLargeMessagesAreByteIdentical) {
  run([](auto& s) {
    const Fd c = s.client();
    ASSERT_GE(c, 0);
    for (int i = 0; i < 200; ++i) {
      const uint8_t b = static_cast<uint8_t>(i * 7 + 1);
      ASSERT_EQ(s.api.send(c, &b, 1, MSG_NOSIGNAL), 1);
      uint8_t r = 0;
      ASSERT_EQ(s.api.recv(c, &r, 1, 0), 1);
      ASSERT_EQ(r, b) << "byte " << i;
    }
    const auto big = pattern(4 << 20, 42);
    EXPECT_TRUE(s.echo(c, big) == big);
    EXPECT_EQ(s.api.close(c), 0);
    EXPECT_TRUE(wait_until([&] { return s.settled(); }, std::chrono::seconds(10)));
    EXPECT_EQ(s.server.stats().bytes.load(), 200u + (4u << 20));
  });
}

// The client shuts its sending side: every echo still arrives, then EOF.
TEST_P(EchoSuite, HalfCloseStillDeliversAllEchoesThenEof) {
  run([](auto& s) {
    const Fd c = s.client();
    ASSERT_GE(c, 0);
    const auto msg = pattern(300'000, 7);
    // Less than the buffers along the path hold, so the whole message is sent before reading.
    ASSERT_EQ(s.send_all(c, msg.data(), msg.size()), 0);
    ASSERT_EQ(s.api.shutdown(c, SHUT_WR), 0);
    std::vector<uint8_t> got(msg.size());
    ASSERT_EQ(s.recv_all(c, got.data(), got.size()), static_cast<int64_t>(msg.size()));
    EXPECT_TRUE(got == msg);
    uint8_t b;
    EXPECT_EQ(s.api.recv(c, &b, 1, 0), 0);  // the server's FIN after the last echo
    EXPECT_EQ(s.api.close(c), 0);
    EXPECT_TRUE(wait_until([&] { return s.settled(); }, std::chrono::seconds(10)));
    EXPECT_EQ(s.server.stats().eofs.load(), 1u);
  });
}

// Clients abort (SO_LINGER {1, 0}: close sends RST), some with echoes still in flight. The
// server sees ECONNRESET (or EOF) on each, closes it, and serves the next clients.
TEST_P(EchoSuite, PeerResetLeavesTheServerHealthy) {
  run([](auto& s) {
    constexpr int kAborts = 8;
    for (int i = 0; i < kAborts; ++i) {
      const Fd c = s.client();
      ASSERT_GE(c, 0);
      const auto msg = pattern(1000, static_cast<uint32_t>(i));
      ASSERT_EQ(s.send_all(c, msg.data(), msg.size()), 0);
      std::vector<uint8_t> got(msg.size());
      ASSERT_EQ(s.recv_all(c, got.data(), got.size()), 1000);  // the server is engaged
      if (i % 2 == 1) {
        // More data the server is echoing back right now, unread: the RST crosses it.
        const auto more = pattern(200'000, static_cast<uint32_t>(i + 100));
        ASSERT_EQ(s.send_all(c, more.data(), more.size()), 0);
      }
      linger lg{1, 0};
      ASSERT_EQ(s.api.setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
      EXPECT_EQ(s.api.close(c), 0);
    }
    EXPECT_TRUE(wait_until([&] { return s.server.stats().closed.load() >= kAborts; },
                           std::chrono::seconds(10)));
    EXPECT_EQ(s.server.stats().resets.load() + s.server.stats().eofs.load(), uint64_t{kAborts});
    EXPECT_GE(s.server.stats().resets.load(), 1u);  // the ones with data in flight, at least
    EXPECT_EQ(s.server.stats().errors.load(), 0u);
    // Still serving.
    for (int i = 0; i < 4; ++i) {
      const Fd c = s.client();
      ASSERT_GE(c, 0);
      const auto msg = pattern(50'000, static_cast<uint32_t>(i + 1000));
      EXPECT_TRUE(s.echo(c, msg) == msg);
      EXPECT_EQ(s.api.close(c), 0);
    }
  });
}

// The client sends 8 MiB without reading. The echoes fill its receive buffer, the server stops
// reading, the server's receive window closes, and the client's send buffer fills: its
// non-blocking send says EAGAIN long before 8 MiB. Then it drains and every byte matches.
TEST_P(EchoSuite, SlowReaderFlowControlReachesTheSender) {
  run([](auto& s) {
    const Fd c = s.client();
    ASSERT_GE(c, 0);
    // Linux autotunes loopback buffers up to tcp_rmem[2]/tcp_wmem[2] (6 + 4 MiB per socket):
    // its path holds more than 8 MiB, so the kernel run sends more.
    const bool kernel = std::is_same_v<std::decay_t<decltype(s.api)>, KernelApi>;
    const auto data = pattern(kernel ? 48 << 20 : 8 << 20, 99);
    ASSERT_EQ(s.api.fcntl(c, F_SETFL, O_NONBLOCK), 0);
    size_t sent = 0;
    int stalls = 0;
    // Push until the window stays shut: EAGAIN again after giving the path 20 ms to move.
    while (sent < data.size() && stalls < 5) {
      const ssize_t w = s.api.send(c, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (w == -EAGAIN) {
        ++stalls;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      ASSERT_GT(w, 0) << std::strerror(static_cast<int>(-w));
      sent += static_cast<size_t>(w);
      stalls = 0;
    }
    EXPECT_EQ(stalls, 5) << "the sender never blocked";
    EXPECT_LT(sent, data.size());
    std::fprintf(stderr, "slow reader: the sender stalled after %zu bytes\n", sent);
    EXPECT_LT(s.server.stats().bytes.load(), sent);  // the server is stuck behind us
    // Drain: blocking again, the rest from a second thread while this one reads.
    ASSERT_EQ(s.api.fcntl(c, F_SETFL, 0), 0);
    std::atomic<int64_t> rest{1};
    std::thread w([&] { rest = s.send_all(c, data.data() + sent, data.size() - sent); });
    std::vector<uint8_t> got(data.size());
    EXPECT_EQ(s.recv_all(c, got.data(), got.size()), static_cast<int64_t>(data.size()));
    w.join();
    EXPECT_EQ(rest.load(), 0);
    EXPECT_TRUE(got == data);
    EXPECT_EQ(s.api.close(c), 0);
    EXPECT_TRUE(wait_until([&] { return s.settled(); }, std::chrono::seconds(10)));
  });
}

std::vector<Param> all_params() {
  std::vector<Param> v;
  for (bool k : {false, true}) {
    for (Model m : examples::kAllModels) v.push_back(Param{m, k});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Models, EchoSuite, ::testing::ValuesIn(all_params()), param_name);

}  // namespace
}  // namespace ustack::socket::test
