// select(2) and poll(2) over ustack handles (model 3, the scanning half): readiness bits as
// Linux maps them, POLLNVAL and -EBADF for stale handles, zero and finite timeouts, and
// sleepers woken from another thread. ManualEnv tests first, then real time (rt_host.h).
#include <gtest/gtest.h>
#include <poll.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "unit/rt/fake_device.h"
#include "unit/socket/manual_host.h"
#include "unit/socket/rt_host.h"

namespace ustack::socket::test {
namespace {

TEST(Poll, ReportsReadinessAndNval) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  const Fd dead = h.udp(4002);
  ASSERT_EQ(api.close(dead), 0);
  std::array<PollFd, 4> fds{};
  fds[0] = {u, POLLIN, 0};
  fds[1] = {tx, POLLOUT | POLLWRNORM, 0};
  fds[2] = {-1, POLLIN, 77};  // negative: ignored, revents cleared
  fds[3] = {dead, POLLIN, 0};
  EXPECT_EQ(api.poll(fds, 0), 2);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, POLLOUT | POLLWRNORM);
  EXPECT_EQ(fds[2].revents, 0);
  EXPECT_EQ(fds[3].revents, POLLNVAL);

  h.send_to(tx, 4000);
  fds[0].events = POLLIN | POLLRDNORM;
  EXPECT_EQ(api.poll(fds, 0), 3);
  EXPECT_EQ(fds[0].revents, POLLIN | POLLRDNORM);
}

TEST(Poll, TcpErrAndHupAreReportedUnasked) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd c = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_EQ(api.connect(c, sin(kHostAddr, 1)), -EINPROGRESS);
  std::array<PollFd, 1> fds{{{c, 0, 0}}};
  EXPECT_EQ(api.poll(fds, 0), 0);
  h.settle();  // RST: refused
  EXPECT_EQ(api.poll(fds, 0), 1);
  EXPECT_EQ(fds[0].revents & (POLLERR | POLLHUP), POLLERR | POLLHUP);
}

TEST(Poll, PollOnAnEpollInstance) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(api.epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev), 0);
  std::array<PollFd, 1> fds{{{ep, POLLIN, 0}}};
  EXPECT_EQ(api.poll(fds, 0), 0);
  h.send_to(tx, 4000);
  EXPECT_EQ(api.poll(fds, 0), 1);
  EXPECT_EQ(fds[0].revents, POLLIN);  // only what was asked for (RDNORM is set too)
  char b[4];
  ASSERT_EQ(api.recv(u, b, sizeof b, 0), 1);
  EXPECT_EQ(api.poll(fds, 0), 0);  // the stale entry is pruned
}

TEST(Poll, WaitWhereNothingMaySleepIsEagain) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd u = h.udp(4000);
  std::array<PollFd, 1> fds{{{u, POLLIN, 0}}};
  const uint64_t before = api.stats().cannot_sleep;
  EXPECT_EQ(api.poll(fds, 10), -EAGAIN);
  EXPECT_EQ(api.poll(fds, -1), -EAGAIN);
  EXPECT_EQ(api.stats().cannot_sleep, before + 2);
  FdSet rd;
  rd.set(u);
  EXPECT_EQ(api.select(&rd, nullptr, nullptr, std::nullopt), -EAGAIN);
  EXPECT_TRUE(rd.isset(u));  // unchanged on error
}

TEST(Select, RewritesTheSets) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  FdSet rd, wr, ex;
  rd.set(u);
  rd.set(tx);
  wr.set(u);
  ex.set(u);
  EXPECT_EQ(api.select(&rd, &wr, &ex, Duration::zero()), 1);  // u writable only
  EXPECT_TRUE(rd.empty());
  EXPECT_TRUE(wr.isset(u));
  EXPECT_TRUE(ex.empty());

  h.send_to(tx, 4000);
  rd.zero();
  rd.set(u);
  rd.set(tx);
  wr.zero();
  wr.set(u);
  EXPECT_EQ(api.select(&rd, &wr, nullptr, Duration::zero()), 2);  // u readable and writable
  EXPECT_TRUE(rd.isset(u));
  EXPECT_FALSE(rd.isset(tx));
  EXPECT_TRUE(wr.isset(u));

  // Nothing ready: the sets come back empty.
  FdSet only_tx;
  only_tx.set(tx);
  EXPECT_EQ(api.select(&only_tx, nullptr, nullptr, Duration::zero()), 0);
  EXPECT_TRUE(only_tx.empty());
}

TEST(Select, StaleHandleIsEbadfAndLeavesTheSets) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd u = h.udp(4000);
  const Fd dead = h.udp(4001);
  ASSERT_EQ(api.close(dead), 0);
  FdSet rd, wr;
  rd.set(u);
  wr.set(dead);
  EXPECT_EQ(api.select(&rd, &wr, nullptr, Duration::zero()), -EBADF);
  EXPECT_TRUE(rd.isset(u));
  EXPECT_TRUE(wr.isset(dead));
  EXPECT_EQ(api.select(nullptr, nullptr, nullptr, Duration::zero()), 0);
}

// ---- real time ------------------------------------------------------------------------------

TEST(PollRt, TimesOutAndWakesOnData) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 6100)), 0);
  const Fd v = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(v, sin(kHostAddr, 6101)), 0);
  std::array<PollFd, 2> fds{{{u, POLLIN, 0}, {v, POLLIN, 0}}};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(api.poll(fds, 50), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(45));

  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const Fd tx = api.socket(AF_INET, SOCK_DGRAM, 0);
    const auto to = sin(kHostAddr, 6101);
    EXPECT_EQ(api.sendto(tx, "p", 1, 0, &to), 1);
  });
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(api.poll(fds, 5000), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(4000));
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, POLLIN);
  sender.join();
}

TEST(PollRt, CloseOfAPolledSocketWakesWithNval) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 6102)), 0);
  std::array<PollFd, 1> fds{{{u, POLLIN, 0}}};
  std::atomic<int> got{-100};
  std::thread poller([&] { got = api.poll(fds, -1); });
  auto sleeps = [&] {
    LockedCall lk(api.env());
    return api.stats().sleeps;
  };
  while (sleeps() == 0) std::this_thread::yield();
  ASSERT_EQ(api.close(u), 0);
  poller.join();
  EXPECT_EQ(got.load(), 1);
  EXPECT_EQ(fds[0].revents, POLLNVAL);
}

TEST(SelectRt, TimesOutAndWakesOnData) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 6103)), 0);
  FdSet rd;
  rd.set(u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(api.select(&rd, nullptr, nullptr, Duration::ms(50)), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(45));
  EXPECT_TRUE(rd.empty());

  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const Fd tx = api.socket(AF_INET, SOCK_DGRAM, 0);
    const auto to = sin(kHostAddr, 6103);
    EXPECT_EQ(api.sendto(tx, "s", 1, 0, &to), 1);
  });
  rd.set(u);
  EXPECT_EQ(api.select(&rd, nullptr, nullptr, std::nullopt), 1);
  EXPECT_TRUE(rd.isset(u));
  sender.join();
}

}  // namespace
}  // namespace ustack::socket::test
