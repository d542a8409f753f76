// epoll (model 3): the ready list and its level-triggered, edge-triggered and one-shot
// semantics, the Linux errors of epoll_ctl, what closing a socket or an instance does, the
// eventfd bridge to a kernel epoll loop, and a multi-client echo server across threads.
// Single-thread tests drive the stack with its built-in ManualEnv (nothing sleeps); the
// real-time ones use rt_host.h.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "unit/rt/fake_device.h"
#include "unit/socket/manual_host.h"
#include "unit/socket/rt_host.h"
#include "ustack/socket/epoll_internal.h"

namespace ustack::socket::test {
namespace {

int ctl(SocketLayer& api, Fd ep, int op, Fd fd, uint32_t events, uint64_t data = 0) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return api.epoll_ctl(ep, op, fd, &ev);
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

// ---- errors ---------------------------------------------------------------------------------

TEST(Epoll, CreateAndCtlErrorsAreLinuxs) {
  ManualHost h;
  SocketLayer& api = h.api();
  EXPECT_EQ(api.epoll_create1(O_NONBLOCK), -EINVAL);
  const Fd ep = api.epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GT(ep, 0);
  EXPECT_EQ(api.fcntl(ep, F_GETFD), FD_CLOEXEC);
  const Fd ep2 = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd v = h.udp(4001);

  EXPECT_EQ(api.epoll_ctl(ep, EPOLL_CTL_ADD, u, nullptr), -EFAULT);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, ep, EPOLLIN), -EINVAL);   // itself
  EXPECT_EQ(ctl(api, u, EPOLL_CTL_ADD, v, EPOLLIN), -EINVAL);     // epfd is not an instance
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, ep2, EPOLLIN), -EINVAL);  // nested: not supported
  EXPECT_EQ(ctl(api, ep, 99, u, EPOLLIN), -EINVAL);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_MOD, u, EPOLLIN), -ENOENT);
  EXPECT_EQ(api.epoll_ctl(ep, EPOLL_CTL_DEL, u, nullptr), -ENOENT);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN), 0);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN), -EEXIST);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_MOD, u, EPOLLIN | EPOLLEXCLUSIVE), -EINVAL);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, v, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT), -EINVAL);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, v, EPOLLIN | EPOLLEXCLUSIVE), 0);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_MOD, v, EPOLLIN), -EINVAL);  // an exclusive item: no MOD
  EXPECT_EQ(api.epoll_ctl(ep, EPOLL_CTL_DEL, v, nullptr), 0);

  std::array<epoll_event, 4> evs{};
  EXPECT_EQ(api.epoll_wait(ep, evs.data(), 0, 0), -EINVAL);
  EXPECT_EQ(api.epoll_wait(ep, nullptr, 4, 0), -EFAULT);
  EXPECT_EQ(api.epoll_wait(u, evs.data(), 4, 0), -EINVAL);
  EXPECT_EQ(api.epoll_notify_fd(u), -EINVAL);

  // Stale handles: the instance and the target.
  EXPECT_EQ(api.close(v), 0);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, v, EPOLLIN), -EBADF);
  EXPECT_EQ(api.close(ep), 0);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN), -EBADF);
  EXPECT_EQ(api.epoll_wait(ep, evs.data(), 4, 0), -EBADF);
  EXPECT_EQ(api.epoll_notify_fd(ep), -EBADF);
  EXPECT_EQ(api.close(ep), -EBADF);
}

TEST(Epoll, WaitThatWouldBlockWhereNothingMaySleepIsEagain) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN), 0);
  std::vector<epoll_event> evs;
  EXPECT_EQ(h.wait(ep, evs, 4, 0), 0);
  const uint64_t before = api.stats().cannot_sleep;
  EXPECT_EQ(h.wait(ep, evs, 4, -1), -EAGAIN);
  EXPECT_EQ(h.wait(ep, evs, 4, 10), -EAGAIN);
  EXPECT_EQ(api.stats().cannot_sleep, before + 2);
}

// ---- trigger modes --------------------------------------------------------------------------

TEST(Epoll, LevelTriggeredReportsUntilTheConditionGoesAway) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN, 42), 0);
  std::vector<epoll_event> evs;
  EXPECT_EQ(h.wait(ep, evs), 0);
  h.send_to(tx, 4000, "a");
  h.send_to(tx, 4000, "b");
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(h.wait(ep, evs), 1) << round;
    EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN));
    EXPECT_EQ(evs[0].data.u64, 42u);
  }
  char b[8];
  EXPECT_EQ(api.recv(u, b, sizeof b, 0), 1);
  EXPECT_EQ(h.wait(ep, evs), 1);  // one datagram left
  EXPECT_EQ(api.recv(u, b, sizeof b, 0), 1);
  EXPECT_EQ(h.wait(ep, evs), 0);  // the stale entry is dropped
  EXPECT_EQ(api.stats().epoll_events, 4u);
}

TEST(Epoll, EdgeTriggeredReportsOncePerWakeup) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN | EPOLLET, 7), 0);
  std::vector<epoll_event> evs;
  h.send_to(tx, 4000);
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN));
  EXPECT_EQ(h.wait(ep, evs), 0);  // still readable, but no new edge
  h.send_to(tx, 4000);            // a new datagram is a new edge
  EXPECT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(h.wait(ep, evs), 0);
  // MOD re-arms: a socket ready now is queued again.
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_MOD, u, EPOLLIN | EPOLLET, 8), 0);
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].data.u64, 8u);
}

TEST(Epoll, OneShotDisablesTheItemUntilMod) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN | EPOLLONESHOT), 0);
  std::vector<epoll_event> evs;
  h.send_to(tx, 4000);
  EXPECT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(h.wait(ep, evs), 0);
  h.send_to(tx, 4000);  // disabled: the wakeup queues nothing
  EXPECT_EQ(h.wait(ep, evs), 0);
  EXPECT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN), -EEXIST);  // still registered
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_MOD, u, EPOLLIN | EPOLLONESHOT), 0);
  EXPECT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(h.wait(ep, evs), 0);
}

TEST(Epoll, AddOfAReadySocketQueuesItAtOnce) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLOUT | EPOLLET, 5), 0);  // UDP: always writable
  std::vector<epoll_event> evs;
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLOUT));
  EXPECT_EQ(h.wait(ep, evs), 0);
  // RDNORM / WRNORM asked for are reported as UDP's poll sets them.
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_MOD, u, EPOLLOUT | EPOLLWRNORM), 0);
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLOUT | EPOLLWRNORM));
}

TEST(Epoll, MaxeventsAndRoundRobin) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  std::vector<Fd> us;
  for (uint16_t i = 0; i < 3; ++i) {
    us.push_back(h.udp(static_cast<uint16_t>(4000 + i)));
    ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, us.back(), EPOLLOUT, i), 0);
  }
  std::vector<epoll_event> evs;
  ASSERT_EQ(h.wait(ep, evs, 2), 2);
  EXPECT_EQ(evs[0].data.u64, 0u);
  EXPECT_EQ(evs[1].data.u64, 1u);
  // The one not reported goes first; the reported level-triggered ones queue behind it.
  ASSERT_EQ(h.wait(ep, evs, 2), 2);
  EXPECT_EQ(evs[0].data.u64, 2u);
  EXPECT_EQ(evs[1].data.u64, 0u);
  ASSERT_EQ(h.wait(ep, evs, 8), 3);
  EXPECT_EQ(evs[0].data.u64, 1u);
}

// ---- removal --------------------------------------------------------------------------------

TEST(Epoll, DelAndMod) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN), 0);
  h.send_to(tx, 4000);
  std::vector<epoll_event> evs;
  ASSERT_EQ(api.epoll_ctl(ep, EPOLL_CTL_DEL, u, nullptr), 0);  // ready, then removed
  EXPECT_EQ(h.wait(ep, evs), 0);
  h.send_to(tx, 4000);  // no item: the wakeup finds nothing
  EXPECT_EQ(h.wait(ep, evs), 0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLOUT, 1), 0);
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLOUT));  // not EPOLLIN: not asked for
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_MOD, u, EPOLLIN, 2), 0);
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN));
  EXPECT_EQ(evs[0].data.u64, 2u);
}

TEST(Epoll, ClosingASocketRemovesItFromEveryInstance) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep1 = api.epoll_create1(0);
  const Fd ep2 = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd w = h.udp(4002);
  ASSERT_EQ(ctl(api, ep1, EPOLL_CTL_ADD, u, EPOLLOUT), 0);
  ASSERT_EQ(ctl(api, ep2, EPOLL_CTL_ADD, u, EPOLLOUT), 0);
  ASSERT_EQ(ctl(api, ep2, EPOLL_CTL_ADD, w, EPOLLIN), 0);
  ASSERT_EQ(api.close(u), 0);
  std::vector<epoll_event> evs;
  EXPECT_EQ(h.wait(ep1, evs), 0);
  EXPECT_EQ(h.wait(ep2, evs), 0);
  EXPECT_EQ(ctl(api, ep1, EPOLL_CTL_MOD, u, EPOLLIN), -EBADF);
  EXPECT_EQ(api.epoll_ctl(ep2, EPOLL_CTL_DEL, u, nullptr), -EBADF);
  // w's item survives: a datagram still reaches ep2.
  const Fd tx = h.udp(4001);
  h.send_to(tx, 4002);
  EXPECT_EQ(h.wait(ep2, evs), 1);
}

TEST(Epoll, ClosingAnInstanceUnhooksItsSockets) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd keep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN), 0);
  ASSERT_EQ(ctl(api, keep, EPOLL_CTL_ADD, u, EPOLLIN), 0);
  ASSERT_EQ(api.close(ep), 0);
  h.send_to(tx, 4000);  // the socket's wakeup must not reach the freed instance (ASan)
  std::vector<epoll_event> evs;
  EXPECT_EQ(h.wait(keep, evs), 1);
  ASSERT_EQ(api.close(keep), 0);
  h.send_to(tx, 4000);
  EXPECT_EQ(api.close(u), 0);
}

// ---- TCP events -----------------------------------------------------------------------------

TEST(Epoll, OutOnConnectCompletion) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd l = api.socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(api.bind(l, sin(kHostAddr, 5000)), 0);
  ASSERT_EQ(api.listen(l, 8), 0);
  const Fd ep = api.epoll_create1(0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, l, EPOLLIN, 100), 0);
  const Fd c = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, c, EPOLLOUT | EPOLLET, 200), 0);
  ASSERT_EQ(api.connect(c, sin(kHostAddr, 5000)), -EINPROGRESS);
  std::vector<epoll_event> evs;
  EXPECT_EQ(h.wait(ep, evs), 0);  // SYN-SENT: not writable yet
  h.settle();
  ASSERT_EQ(h.wait(ep, evs), 2);
  std::map<uint64_t, uint32_t> got;
  for (auto& e : evs) got[e.data.u64] = e.events;
  EXPECT_EQ(got[100], static_cast<uint32_t>(EPOLLIN));   // a connection to accept
  EXPECT_EQ(got[200], static_cast<uint32_t>(EPOLLOUT));  // the handshake completed
  int err = -1;
  socklen_t len = sizeof err;
  EXPECT_EQ(api.getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, 0);
}

TEST(Epoll, ConnectRefusedIsErrAndHup) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd c = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, c, EPOLLOUT), 0);
  ASSERT_EQ(api.connect(c, sin(kHostAddr, 1)), -EINPROGRESS);
  h.settle();
  std::vector<epoll_event> evs;
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].events & (EPOLLERR | EPOLLHUP), static_cast<uint32_t>(EPOLLERR | EPOLLHUP));
}

TEST(Epoll, RdhupOnPeerShutdownOnlyWhenAskedFor) {
  ManualHost h;
  SocketLayer& api = h.api();
  auto [c, a] = h.tcp_pair(5000);
  const Fd ep = api.epoll_create1(0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLRDHUP | EPOLLET, 1), 0);
  const Fd ep2 = api.epoll_create1(0);
  ASSERT_EQ(ctl(api, ep2, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLET, 2), 0);
  std::vector<epoll_event> evs;
  EXPECT_EQ(h.wait(ep, evs), 0);
  ASSERT_EQ(api.shutdown(c, SHUT_WR), 0);
  h.settle();
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN | EPOLLRDHUP));
  ASSERT_EQ(h.wait(ep2, evs), 1);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN));
  char b[4];
  EXPECT_EQ(api.recv(a, b, sizeof b, 0), 0);  // EOF
}

TEST(Epoll, ResetIsHupAndErr) {
  ManualHost h;
  SocketLayer& api = h.api();
  auto [c, a] = h.tcp_pair(5000);
  const Fd ep = api.epoll_create1(0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLET), 0);  // ERR/HUP: always
  std::vector<epoll_event> evs;
  EXPECT_EQ(h.wait(ep, evs), 0);
  const linger lg{1, 0};
  ASSERT_EQ(api.setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  ASSERT_EQ(api.close(c), 0);  // RST
  h.settle();
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(evs[0].events & (EPOLLERR | EPOLLHUP), static_cast<uint32_t>(EPOLLERR | EPOLLHUP));
  char b[4];
  EXPECT_EQ(api.recv(a, b, sizeof b, 0), -ECONNRESET);
}

TEST(Epoll, EdgeTriggeredTcpDataArrivals) {
  ManualHost h;
  SocketLayer& api = h.api();
  auto [c, a] = h.tcp_pair(5000);
  const Fd ep = api.epoll_create1(0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLET), 0);
  std::vector<epoll_event> evs;
  ASSERT_EQ(api.send(c, "hello", 5, 0), 5);
  h.settle();
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_EQ(h.wait(ep, evs), 0);
  ASSERT_EQ(api.send(c, "again", 5, 0), 5);
  h.settle();
  ASSERT_EQ(h.wait(ep, evs), 1);
  char b[16];
  EXPECT_EQ(api.recv(a, b, sizeof b, 0), 10);
  EXPECT_EQ(h.wait(ep, evs), 0);
}

// A slow reader: the writer's buffer fills (EAGAIN); once the reader drains its side, the
// ACKs free space and an edge-triggered EPOLLOUT comes back (flow control reaches the sender).
TEST(Epoll, OutReturnsWhenTheSendBufferDrains) {
  ManualHost h;
  SocketLayer& api = h.api();
  auto [c, a] = h.tcp_pair(5000);
  const Fd ep = api.epoll_create1(0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, c, EPOLLOUT | EPOLLET), 0);
  std::vector<epoll_event> evs;
  EXPECT_EQ(h.wait(ep, evs), 1);
  std::vector<uint8_t> chunk(65536, 0x5a);
  size_t sent = 0;
  for (int round = 0; round < 1000; ++round) {
    const ssize_t n = api.send(c, chunk.data(), chunk.size(), 0);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else {
      ASSERT_EQ(n, -EAGAIN);
      h.advance(Duration::ms(10));
      if (api.send(c, chunk.data(), 1, 0) == -EAGAIN) break;  // stuck: the reader is full
      ++sent;
    }
  }
  ASSERT_GT(sent, 0u);
  ASSERT_EQ(api.send(c, chunk.data(), 1, 0), -EAGAIN);
  while (h.wait(ep, evs) > 0) {
  }  // edges seen while filling
  EXPECT_EQ(h.wait(ep, evs), 0);
  // The reader drains everything; ACKs and window updates flow back.
  size_t got = 0;
  std::vector<uint8_t> buf(65536);
  for (int round = 0; round < 1000 && got < sent; ++round) {
    const ssize_t n = api.recv(a, buf.data(), buf.size(), 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else {
      h.advance(Duration::ms(10));
    }
  }
  h.advance(Duration::ms(500));
  ASSERT_GE(h.wait(ep, evs), 1);
  EXPECT_NE(evs[0].events & EPOLLOUT, 0u);
}

// ---- the eventfd bridge ---------------------------------------------------------------------

TEST(Epoll, NotifyFdIsReadableExactlyWhileEventsAreReady) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  const Fd tx = h.udp(4001);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN), 0);
  const int nfd = api.epoll_notify_fd(ep);
  ASSERT_GE(nfd, 0);
  EXPECT_EQ(api.epoll_notify_fd(ep), nfd);  // one per instance
  EXPECT_EQ(::fcntl(nfd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  EXPECT_EQ(::fcntl(nfd, F_GETFD), FD_CLOEXEC);

  // A real kernel epoll watching it, as an application's main loop would.
  const int kep = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(kep, 0);
  epoll_event kev{};
  kev.events = EPOLLIN;
  ASSERT_EQ(::epoll_ctl(kep, EPOLL_CTL_ADD, nfd, &kev), 0);
  EXPECT_EQ(::epoll_wait(kep, &kev, 1, 0), 0);
  EXPECT_FALSE(readable(nfd));

  h.send_to(tx, 4000);
  EXPECT_EQ(::epoll_wait(kep, &kev, 1, 0), 1);
  EXPECT_TRUE(readable(nfd));
  std::vector<epoll_event> evs;
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_TRUE(readable(nfd));  // level-triggered: still on the ready list
  char b[4];
  ASSERT_EQ(api.recv(u, b, sizeof b, 0), 1);
  EXPECT_TRUE(readable(nfd));     // the list holds a stale entry until the next wait
  EXPECT_EQ(h.wait(ep, evs), 0);  // ... which drops it and drains the eventfd
  EXPECT_FALSE(readable(nfd));
  EXPECT_EQ(::epoll_wait(kep, &kev, 1, 0), 0);

  // Edge-triggered: readable after the edge, drained once reported.
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_MOD, u, EPOLLIN | EPOLLET), 0);
  h.send_to(tx, 4000);
  EXPECT_TRUE(readable(nfd));
  ASSERT_EQ(h.wait(ep, evs), 1);
  EXPECT_FALSE(readable(nfd));
  // DEL of the only ready item empties the list too.
  h.send_to(tx, 4000);
  EXPECT_TRUE(readable(nfd));
  ASSERT_EQ(api.epoll_ctl(ep, EPOLL_CTL_DEL, u, nullptr), 0);
  EXPECT_FALSE(readable(nfd));
  // Closing a ready socket empties it as well.
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, tx, EPOLLOUT), 0);
  EXPECT_TRUE(readable(nfd));
  ASSERT_EQ(api.close(tx), 0);
  EXPECT_FALSE(readable(nfd));

  // The instance closes its eventfd.
  ASSERT_EQ(api.close(ep), 0);
  errno = 0;
  EXPECT_EQ(::fcntl(nfd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
  ::close(kep);
}

TEST(Epoll, NotifyFdCreatedOnAReadyInstanceIsReadable) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = h.udp(4000);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLOUT), 0);
  const int nfd = api.epoll_notify_fd(ep);
  ASSERT_GE(nfd, 0);
  EXPECT_TRUE(readable(nfd));
}

// ---- real time: threads ---------------------------------------------------------------------

TEST(EpollRt, WaitSleepsUntilADatagramArrives) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 6000)), 0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN, 9), 0);
  std::array<epoll_event, 4> evs{};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(api.epoll_wait(ep, evs.data(), 4, 50), 0);  // timeout
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(45));

  std::atomic<int> got{-1};
  std::thread waiter([&] { got = api.epoll_wait(ep, evs.data(), 4, -1); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(got.load(), -1);
  const Fd tx = api.socket(AF_INET, SOCK_DGRAM, 0);
  const auto to = sin(kHostAddr, 6000);
  ASSERT_EQ(api.sendto(tx, "x", 1, 0, &to), 1);
  waiter.join();
  EXPECT_EQ(got.load(), 1);
  EXPECT_EQ(evs[0].data.u64, 9u);
}

TEST(EpollRt, ClosingTheInstanceWakesAWaiterWithEbadf) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  std::atomic<int> got{1};
  std::thread waiter([&] {
    epoll_event ev{};
    got = api.epoll_wait(ep, &ev, 1, -1);
  });
  auto sleeps = [&] {
    LockedCall lk(api.env());
    return api.stats().sleeps;
  };
  while (sleeps() == 0) std::this_thread::yield();
  ASSERT_EQ(api.close(ep), 0);
  waiter.join();
  EXPECT_EQ(got.load(), -EBADF);
}

TEST(EpollRt, KernelEpollLoopWakesThroughTheNotifyFd) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 6001)), 0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, u, EPOLLIN, 3), 0);
  const int nfd = api.epoll_notify_fd(ep);
  const int kep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event kev{};
  kev.events = EPOLLIN;
  ASSERT_EQ(::epoll_ctl(kep, EPOLL_CTL_ADD, nfd, &kev), 0);
  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const Fd tx = api.socket(AF_INET, SOCK_DGRAM, 0);
    const auto to = sin(kHostAddr, 6001);
    EXPECT_EQ(api.sendto(tx, "k", 1, 0, &to), 1);
  });
  ASSERT_EQ(::epoll_wait(kep, &kev, 1, 5000), 1);  // the kernel wakes us
  epoll_event ev{};
  ASSERT_EQ(api.epoll_wait(ep, &ev, 1, 0), 1);
  EXPECT_EQ(ev.data.u64, 3u);
  sender.join();
  ::close(kep);
}

// The epoll echo server (model 3) with several client threads: a listener and its
// connections in one level-triggered instance, non-blocking I/O, many messages each way.
TEST(EpollRt, MultiClientEchoAcrossThreads) {
  RtHost h;
  SocketLayer& api = h.api();
  constexpr int kClients = 8;
  constexpr int kMsgs = 50;
  const Fd l = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_EQ(api.bind(l, sin(kHostAddr, 7100)), 0);
  ASSERT_EQ(api.listen(l, 64), 0);
  const Fd ep = api.epoll_create1(0);
  ASSERT_EQ(ctl(api, ep, EPOLL_CTL_ADD, l, EPOLLIN, static_cast<uint64_t>(l)), 0);
  std::atomic<int> done{0};

  std::thread server([&] {
    std::map<Fd, std::string> pending;  // bytes to echo back per connection
    std::array<epoll_event, 32> evs{};
    int closed = 0;
    while (closed < kClients) {
      const int n = api.epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 5000);
      ASSERT_GT(n, 0);
      for (int i = 0; i < n; ++i) {
        const Fd fd = static_cast<Fd>(evs[i].data.u64);
        if (fd == l) {
          for (Fd c; (c = api.accept(l, nullptr, SOCK_NONBLOCK)) > 0;) {
            ASSERT_EQ(
                ctl(api, ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP, static_cast<uint64_t>(c)), 0);
          }
          continue;
        }
        char buf[4096];
        for (;;) {
          const ssize_t r = api.recv(fd, buf, sizeof buf, 0);
          if (r > 0) {
            pending[fd].append(buf, static_cast<size_t>(r));
            continue;
          }
          if (r == 0) {
            ASSERT_EQ(api.close(fd), 0);  // its item goes with it
            pending.erase(fd);
            ++closed;
          } else {
            ASSERT_EQ(r, -EAGAIN);
          }
          break;
        }
        auto it = pending.find(fd);
        if (it == pending.end()) continue;
        while (!it->second.empty()) {
          const ssize_t w = api.send(fd, it->second.data(), it->second.size(), 0);
          if (w == -EAGAIN) break;
          ASSERT_GT(w, 0);
          it->second.erase(0, static_cast<size_t>(w));
        }
        const uint32_t want =
            EPOLLIN | EPOLLRDHUP | (it->second.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
        ASSERT_EQ(ctl(api, ep, EPOLL_CTL_MOD, fd, want, static_cast<uint64_t>(fd)), 0);
      }
    }
  });

  std::vector<std::thread> clients;
  for (int k = 0; k < kClients; ++k) {
    clients.emplace_back([&, k] {
      const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
      ASSERT_EQ(api.connect(c, sin(kHostAddr, 7100)), 0);
      for (int m = 0; m < kMsgs; ++m) {
        const std::string msg =
            std::string(static_cast<size_t>(1 + (m * 37 + k) % 3000), static_cast<char>('a' + k));
        ASSERT_EQ(api.send(c, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
        std::string back(msg.size(), '\0');
        ASSERT_EQ(api.recv(c, back.data(), back.size(), MSG_WAITALL),
                  static_cast<ssize_t>(back.size()));
        ASSERT_EQ(back, msg);
      }
      ASSERT_EQ(api.close(c), 0);
      ++done;
    });
  }
  for (auto& t : clients) t.join();
  server.join();
  EXPECT_EQ(done.load(), kClients);
  {
    LockedCall lk(api.env());  // stats are guarded by the stack lock
    EXPECT_GT(api.stats().epoll_events, static_cast<uint64_t>(kClients));
  }
  EXPECT_EQ(api.close(ep), 0);
  EXPECT_EQ(api.close(l), 0);
}

}  // namespace
}  // namespace ustack::socket::test
