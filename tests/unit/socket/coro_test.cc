// coro.h: Task<T> and the I/O awaitables over the asynchronous socket calls, on one host over
// its loopback path on a virtual clock (async_host.h), plus one run under the real-time runner.
#include "ustack/socket/coro.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include "unit/socket/async_host.h"
#include "unit/socket/rt_host.h"

namespace ustack::socket::test {
namespace {

// Counts live coroutine frames (a local of type Alive lives in the frame).
struct Alive {
  explicit Alive(int& n) : n_(n) { ++n_; }
  ~Alive() { --n_; }
  int& n_;
};

Task<> echo_session(SocketLayer& api, Fd c) {
  std::array<uint8_t, 4096> buf;
  for (;;) {
    const int64_t n = co_await async_recv(api, c, buf);
    if (n <= 0) break;
    if (co_await async_send(api, c, std::span(buf).first(size_t(n))) < 0) break;
  }
  api.close(c);
}

Task<> echo_server(SocketLayer& api, Fd l, int* frames, int* sessions) {
  Alive alive(*frames);
  for (;;) {
    const int64_t c = co_await async_accept(api, l);
    if (c < 0) co_return;  // -ECANCELED once l is closed
    ++*sessions;
    spawn(api, echo_session(api, c));
  }
}

// Connects, sends `msg`, reads the echo back; returns the echo (empty on error).
Task<std::vector<uint8_t>> echo_client(SocketLayer& api, uint16_t port, std::vector<uint8_t> msg) {
  const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
  if (co_await async_connect(api, c, addr_in(kLoopAddr, port)) != 0) co_return {};
  if (co_await async_send(api, c, msg) != int64_t(msg.size())) co_return {};
  std::vector<uint8_t> back(msg.size());
  const int64_t n = co_await async_recv(api, c, back, MSG_WAITALL);
  api.close(c);
  if (n != int64_t(msg.size())) co_return {};
  co_return back;
}

Fd listen_on(SocketLayer& api, uint16_t port) {
  const Fd l = api.socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(api.bind(l, addr_in(kLoopAddr, port)), 0);
  EXPECT_EQ(api.listen(l, 128), 0);
  return l;
}

std::vector<uint8_t> pattern(size_t n, int seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 13 + size_t(seed) + (i >> 11));
  return v;
}

TEST(Coro, EchoServerAndClients) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd l = listen_on(api, 8000);
  int frames = 0, sessions = 0;
  spawn(api, echo_server(api, l, &frames, &sessions));
  EXPECT_EQ(frames, 1);  // started: suspended in its first accept

  // Many clients at once, owned by the test.
  std::vector<Task<std::vector<uint8_t>>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(echo_client(api, 8000, pattern(5000, i)));
  for (auto& t : clients) t.start();
  ASSERT_TRUE(h.run_until([&] {
    for (auto& t : clients)
      if (!t.done()) return false;
    return true;
  }));
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(clients[size_t(i)].result() == pattern(5000, i));
  EXPECT_EQ(sessions, 20);

  // Closing the listener ends the server: its accept completes with -ECANCELED.
  EXPECT_EQ(api.close(l), 0);
  ASSERT_TRUE(h.run_until([&] { return frames == 0; }));
}

TEST(Coro, TasksAreLazyAndComposeByValue) {
  int ran = 0;
  auto leaf = [&](int v) -> Task<int> {
    ++ran;
    co_return v * 2;
  };
  auto parent = [&]() -> Task<int> {
    const int a = co_await leaf(1);
    const int b = co_await leaf(20);
    co_return a + b;
  };
  Task<int> t = parent();
  EXPECT_EQ(ran, 0);  // lazy: nothing ran yet
  EXPECT_FALSE(t.done());
  t.start();
  EXPECT_TRUE(t.done());
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(t.result(), 42);
  // A task that is never started is simply freed.
  {
    Task<int> never = leaf(5);
    EXPECT_TRUE(never.valid());
  }
  EXPECT_EQ(ran, 2);
}

TEST(Coro, LargeTransferByteIdentical) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd l = listen_on(api, 8001);
  const std::vector<uint8_t> sent = pattern(1 << 20, 3);
  std::vector<uint8_t> got;
  auto receiver = [&]() -> Task<size_t> {
    const int64_t c = co_await async_accept(api, l);
    if (c < 0) co_return 0;
    std::vector<uint8_t> buf(32768);
    for (;;) {
      const int64_t n = co_await async_recv(api, c, buf);
      if (n <= 0) break;
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    }
    api.close(c);
    co_return got.size();
  };
  auto sender = [&]() -> Task<int64_t> {
    const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
    if (int64_t r = co_await async_connect(api, c, addr_in(kLoopAddr, 8001)); r != 0) co_return r;
    const int64_t n = co_await async_send(api, c, sent);  // one call: all of it
    api.shutdown(c, SHUT_WR);
    api.close(c);
    co_return n;
  };
  Task<size_t> rx = receiver();
  Task<int64_t> tx = sender();
  rx.start();
  tx.start();
  ASSERT_TRUE(h.run_until([&] { return rx.done() && tx.done(); }));
  EXPECT_EQ(tx.result(), int64_t(sent.size()));
  EXPECT_EQ(rx.result(), sent.size());
  EXPECT_TRUE(got == sent);
}

TEST(Coro, ErrorsComeBackAsValues) {
  ManualHost h;
  SocketLayer& api = h.api();
  int64_t stale = 1, refused = 1;
  auto body = [&]() -> Task<> {
    std::array<uint8_t, 8> buf;
    stale = co_await async_recv(api, 999, buf);  // invalid: returns at once, no suspension
    const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
    refused = co_await async_connect(api, c, addr_in(kLoopAddr, 9));
    api.close(c);
  };
  Task<> t = body();
  t.start();
  EXPECT_EQ(stale, -EBADF);
  EXPECT_FALSE(t.done());  // waiting for the connect
  ASSERT_TRUE(h.run_until([&] { return t.done(); }));
  EXPECT_EQ(refused, -ECONNREFUSED);
}

TEST(Coro, DestroyingARunningTaskDetachesIt) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd l = listen_on(api, 8002);
  int frames = 0, sessions = 0;
  {
    Task<> t = echo_server(api, l, &frames, &sessions);
    t.start();
    EXPECT_EQ(frames, 1);
  }  // suspended on accept: detached, not freed under the pending completion
  EXPECT_EQ(frames, 1);
  EXPECT_EQ(api.close(l), 0);
  ASSERT_TRUE(h.run_until([&] { return frames == 0; }));  // ended on -ECANCELED, freed
}

TEST(Coro, StackTeardownFinishesSpawnedTasks) {
  int frames = 0, sessions = 0;
  {
    ManualHost h;
    SocketLayer& api = h.api();
    const Fd l = listen_on(api, 8003);
    spawn(api, echo_server(api, l, &frames, &sessions));
    h.run_for(Duration::ms(5));
    EXPECT_EQ(frames, 1);
  }
  EXPECT_EQ(frames, 0);  // the destructor's -ECANCELED resumed it to its end
}

TEST(Coro, EchoUnderTheRealTimeRunner) {
  int frames = 0, sessions = 0;  // outlive the host: its teardown may end the server
  RtHost h;
  SocketLayer& api = h.api();
  const Fd l = api.socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(api.bind(l, sin(kHostAddr, 8004)), 0);
  ASSERT_EQ(api.listen(l, 16), 0);
  spawn(api, echo_server(api, l, &frames, &sessions));
  std::atomic<bool> done{false};
  std::vector<uint8_t> echoed;
  const std::vector<uint8_t> msg = pattern(100'000, 9);
  auto client = [&]() -> Task<> {
    echoed = co_await echo_client(api, 8004, msg);
    done = true;
  };
  spawn(api, client());
  const auto t0 = std::chrono::steady_clock::now();
  while (!done && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(done);
  LockedCall lk(api.env());
  EXPECT_TRUE(echoed == msg);
  EXPECT_EQ(sessions, 1);
  EXPECT_EQ(api.close(l), 0);
}

}  // namespace
}  // namespace ustack::socket::test
