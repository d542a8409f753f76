// tests/unit/socket/manual_host.h — one ustack host driven by hand on one thread (the socket
// layer's ManualEnv follows Stack::poll's `now`), with the helpers the epoll, poll and select
// tests share: UDP sockets, a datagram to a port, a connected TCP pair on loopback.
#pragma once

#include <sys/epoll.h>

#include <cstring>
#include <utility>
#include <vector>

#include "unit/rt/fake_device.h"
#include "unit/socket/rt_host.h"

namespace ustack::socket::test {

// One host driven by hand: the socket layer's ManualEnv follows Stack::poll's `now`.
struct ManualHost {
  ManualHost() {
    auto& i = stack.add_interface(dev);
    (void)stack.add_address(now, i.ifindex(), link::IfAddr{wire::Ipv4Addr{kHostAddr}, 24});
  }
  SocketLayer& api() { return stack.sockets(); }
  // Runs the stack until it is idle (looped-back packets, wakeups), time standing still.
  void settle() {
    for (int i = 0; i < 100 && stack.poll(now); ++i) {
    }
    stack.poll(now);
  }
  void advance(Duration d) {
    now += d;
    settle();
  }
  Fd udp(uint16_t port) {
    const Fd u = api().socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT_GT(u, 0);
    EXPECT_EQ(api().bind(u, sin(kHostAddr, port)), 0);
    return u;
  }
  void send_to(Fd from, uint16_t port, const char* msg = "x") {
    const auto to = sin(kHostAddr, port);
    EXPECT_EQ(api().sendto(from, msg, std::strlen(msg), 0, &to),
              static_cast<ssize_t>(std::strlen(msg)));
    settle();
  }
  // A connected TCP pair on loopback: {client, accepted server side}, both non-blocking.
  std::pair<Fd, Fd> tcp_pair(uint16_t port) {
    const Fd l = api().socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    EXPECT_EQ(api().bind(l, sin(kHostAddr, port)), 0);
    EXPECT_EQ(api().listen(l, 8), 0);
    const Fd c = api().socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    EXPECT_EQ(api().connect(c, sin(kHostAddr, port)), -EINPROGRESS);
    settle();
    const Fd a = api().accept(l, nullptr, SOCK_NONBLOCK);
    EXPECT_GT(a, 0);
    EXPECT_EQ(api().close(l), 0);
    return {c, a};
  }
  int wait(Fd ep, std::vector<epoll_event>& out, int maxevents = 16, int timeout = 0) {
    out.assign(static_cast<size_t>(maxevents), epoll_event{});
    const int n = api().epoll_wait(ep, out.data(), maxevents, timeout);
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return n;
  }

  Instant now = Instant::zero() + Duration::ms(1);
  rt::test::FakeDevice dev;
  stack::Stack stack;
};

}  // namespace ustack::socket::test
