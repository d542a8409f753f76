// Blocking calls under the real-time runner: application threads sleep on a socket's wait
// queue and the stack thread wakes them (model 1), and the same calls with O_NONBLOCK /
// MSG_DONTWAIT return -EAGAIN (model 2).
#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <thread>
#include <vector>

#include "unit/socket/rt_host.h"

namespace ustack::socket::test {
namespace {

TEST(Blocking, AcceptConnectSendRecvOnLoopback) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd l = api.socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(l, 0);
  ASSERT_EQ(api.bind(l, sin(kHostAddr, 7000)), 0);
  ASSERT_EQ(api.listen(l, 16), 0);

  std::vector<uint8_t> sent(1 << 20);
  std::iota(sent.begin(), sent.end(), 0);
  std::vector<uint8_t> got;
  std::thread server([&] {
    sockaddr_in peer{};
    const Fd c = api.accept(l, &peer, 0);
    ASSERT_GT(c, 0);
    EXPECT_EQ(ntohl(peer.sin_addr.s_addr), kHostAddr);
    std::vector<uint8_t> buf(65536);
    for (;;) {
      const ssize_t n = api.recv(c, buf.data(), buf.size(), 0);
      ASSERT_GE(n, 0);
      if (n == 0) break;
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    }
    EXPECT_EQ(api.close(c), 0);
  });
  const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(api.connect(c, sin(kHostAddr, 7000)), 0);
  EXPECT_EQ(api.send(c, sent.data(), sent.size(), 0), static_cast<ssize_t>(sent.size()));
  EXPECT_EQ(api.shutdown(c, SHUT_WR), 0);
  server.join();
  EXPECT_EQ(got, sent);
  EXPECT_EQ(api.close(c), 0);
  EXPECT_EQ(api.close(l), 0);
  EXPECT_GT(api.stats().sleeps, 0u);
}

TEST(Blocking, RecvTimesOutWithSoRcvtimeo) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 9000)), 0);
  timeval tv{0, 50'000};
  ASSERT_EQ(api.setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  char b[8];
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(api.recv(u, b, sizeof b, 0), -EAGAIN);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(45));
  EXPECT_EQ(api.recv(u, b, sizeof b, MSG_DONTWAIT), -EAGAIN);
}

TEST(Blocking, CloseFromAnotherThreadWakesASleeperWithEbadf) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 9001)), 0);
  std::atomic<ssize_t> r{1};
  std::thread t([&] {
    char b[8];
    r = api.recv(u, b, sizeof b, 0);
  });
  auto sleeps = [&] {
    LockedCall lk(api.env());  // stats are guarded by the stack lock
    return api.stats().sleeps;
  };
  while (sleeps() == 0) std::this_thread::yield();
  EXPECT_EQ(api.close(u), 0);
  t.join();
  EXPECT_EQ(r.load(), -EBADF);
}

TEST(Blocking, UdpEchoAcrossThreads) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd srv = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(srv, sin(kHostAddr, 9002)), 0);
  std::thread t([&] {
    char b[64];
    sockaddr_in from{};
    const ssize_t n = api.recvfrom(srv, b, sizeof b, 0, &from);
    ASSERT_GT(n, 0);
    EXPECT_EQ(api.sendto(srv, b, static_cast<size_t>(n), 0, &from), n);
  });
  const Fd c = api.socket(AF_INET, SOCK_DGRAM, 0);
  const auto to = sin(kHostAddr, 9002);
  EXPECT_EQ(api.sendto(c, "hello", 5, 0, &to), 5);
  char b[16] = {};
  EXPECT_EQ(api.recv(c, b, sizeof b, 0), 5);
  EXPECT_STREQ(b, "hello");
  t.join();
}

TEST(Blocking, ConnectRefusedAndNonblockingInProgress) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(api.connect(c, sin(kHostAddr, 1)), -ECONNREFUSED);
  const Fd n = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  EXPECT_EQ(api.connect(n, sin(kHostAddr, 1)), -EINPROGRESS);
}

}  // namespace
}  // namespace ustack::socket::test
