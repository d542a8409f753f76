// SO_REUSEPORT through the socket API under the real-time runner: sockets that all set the
// option before bind() share an address and port (-EADDRINUSE otherwise), TCP listeners of
// one port split the incoming connections, UDP sockets split datagrams by their source, and a
// closed listener leaves its group.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "unit/socket/rt_host.h"

namespace ustack::socket::test {
namespace {

constexpr int kOne = 1;

// SO_RCVTIMEO bounds blocking accept/recv, so a broken lookup fails the test instead of hanging.
void blocking_with_timeout(SocketLayer& api, Fd s) {
  const int fl = api.fcntl(s, F_GETFL);
  ASSERT_EQ(api.fcntl(s, F_SETFL, fl & ~O_NONBLOCK), 0);
  timeval tv{5, 0};
  ASSERT_EQ(api.setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

Fd reuseport_socket(SocketLayer& api, int type) {
  const Fd s = api.socket(AF_INET, type, 0);
  EXPECT_GT(s, 0);
  EXPECT_EQ(api.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &kOne, sizeof kOne), 0);
  return s;
}

TEST(Reuseport, BindTwiceNeedsTheOptionOnBothSockets) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd a = reuseport_socket(api, SOCK_STREAM);
  const Fd b = reuseport_socket(api, SOCK_STREAM);
  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(api.getsockopt(a, SOL_SOCKET, SO_REUSEPORT, &v, &len), 0);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(api.bind(a, sin(kHostAddr, 7100)), 0);
  EXPECT_EQ(api.bind(b, sin(kHostAddr, 7100)), 0);
  EXPECT_EQ(api.listen(a, 8), 0);
  EXPECT_EQ(api.listen(b, 8), 0);
  // Without the option: -EADDRINUSE, as before.
  const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(api.bind(c, sin(kHostAddr, 7100)), -EADDRINUSE);
  const Fd d = api.socket(AF_INET, SOCK_STREAM, 0);
  const Fd e = api.socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(api.bind(d, sin(kHostAddr, 7101)), 0);
  EXPECT_EQ(api.bind(e, sin(kHostAddr, 7101)), -EADDRINUSE);
  // The option on one side only is not enough.
  const Fd f = reuseport_socket(api, SOCK_STREAM);
  EXPECT_EQ(api.bind(f, sin(kHostAddr, 7101)), -EADDRINUSE);
  // UDP alike.
  const Fd u1 = reuseport_socket(api, SOCK_DGRAM);
  const Fd u2 = reuseport_socket(api, SOCK_DGRAM);
  const Fd u3 = api.socket(AF_INET, SOCK_DGRAM, 0);
  EXPECT_EQ(api.bind(u1, sin(kHostAddr, 9100)), 0);
  EXPECT_EQ(api.bind(u2, sin(0, 9100)), 0);  // the wildcard overlaps: shared too
  EXPECT_EQ(api.bind(u3, sin(kHostAddr, 9100)), -EADDRINUSE);
  for (Fd s : {a, b, c, d, e, f, u1, u2, u3}) EXPECT_EQ(api.close(s), 0);
}

TEST(Reuseport, SixtyFourConnectionsSpreadOverTwoListeners) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd l1 = reuseport_socket(api, SOCK_STREAM | SOCK_NONBLOCK);
  const Fd l2 = reuseport_socket(api, SOCK_STREAM | SOCK_NONBLOCK);
  ASSERT_EQ(api.bind(l1, sin(kHostAddr, 7200)), 0);
  ASSERT_EQ(api.bind(l2, sin(kHostAddr, 7200)), 0);
  ASSERT_EQ(api.listen(l1, 128), 0);
  ASSERT_EQ(api.listen(l2, 128), 0);

  std::vector<Fd> clients;
  for (int i = 0; i < 64; ++i) {
    const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(api.connect(c, sin(kHostAddr, 7200)), 0) << "connection " << i;
    clients.push_back(c);
  }
  // connect() returns at the SYN-ACK; the server side queues each child once the handshake's
  // ACK is through, so accept until all 64 are in.
  std::map<Fd, std::vector<Fd>> accepted;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  size_t total = 0;
  while (total < 64 && std::chrono::steady_clock::now() < deadline) {
    bool got = false;
    for (Fd l : {l1, l2}) {
      const Fd s = api.accept(l, nullptr, 0);
      if (s == -EAGAIN) continue;
      ASSERT_GT(s, 0);
      accepted[l].push_back(s);
      ++total;
      got = true;
    }
    if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(total, 64u);
  EXPECT_GT(accepted[l1].size(), 0u);
  EXPECT_GT(accepted[l2].size(), 0u);
  // Every accepted socket talks to its client: a byte each way.
  for (auto& [l, socks] : accepted) {
    for (Fd s : socks) {
      EXPECT_EQ(api.send(s, "x", 1, 0), 1);
      EXPECT_EQ(api.close(s), 0);
    }
  }
  for (Fd c : clients) {
    char b = 0;
    EXPECT_EQ(api.recv(c, &b, 1, 0), 1);
    EXPECT_EQ(b, 'x');
    EXPECT_EQ(api.close(c), 0);
  }

  // A closed listener leaves the group: every new connection reaches the other one.
  EXPECT_EQ(api.close(l2), 0);
  blocking_with_timeout(api, l1);
  for (int i = 0; i < 16; ++i) {
    const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(api.connect(c, sin(kHostAddr, 7200)), 0);
    const Fd s = api.accept(l1, nullptr, 0);  // blocks until this very connection is in
    EXPECT_GT(s, 0) << "connection " << i;
    EXPECT_EQ(api.close(s), 0);
    EXPECT_EQ(api.close(c), 0);
  }
  EXPECT_EQ(api.close(l1), 0);
}

TEST(Reuseport, UdpDatagramsSpreadBySource) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u1 = reuseport_socket(api, SOCK_DGRAM | SOCK_NONBLOCK);
  const Fd u2 = reuseport_socket(api, SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_EQ(api.bind(u1, sin(kHostAddr, 9200)), 0);
  ASSERT_EQ(api.bind(u2, sin(kHostAddr, 9200)), 0);
  const auto to = sin(kHostAddr, 9200);
  std::vector<Fd> clients;
  for (int i = 0; i < 32; ++i) {
    const Fd c = api.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(api.sendto(c, "hi", 2, 0, &to), 2);
    clients.push_back(c);
  }
  std::map<Fd, std::vector<uint16_t>> sources;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  size_t total = 0;
  while (total < 32 && std::chrono::steady_clock::now() < deadline) {
    bool got = false;
    for (Fd u : {u1, u2}) {
      char b[8];
      sockaddr_in from{};
      const ssize_t n = api.recvfrom(u, b, sizeof b, 0, &from);
      if (n == -EAGAIN) continue;
      ASSERT_EQ(n, 2);
      sources[u].push_back(ntohs(from.sin_port));
      ++total;
      got = true;
    }
    if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(total, 32u);
  EXPECT_GT(sources[u1].size(), 0u);
  EXPECT_GT(sources[u2].size(), 0u);
  // One source keeps reaching the same socket: the first client's second datagram goes where
  // its first went.
  sockaddr_in me{};
  ASSERT_EQ(api.getsockname(clients[0], &me), 0);
  const uint16_t port0 = ntohs(me.sin_port);
  const Fd owner =
      std::find(sources[u1].begin(), sources[u1].end(), port0) != sources[u1].end() ? u1 : u2;
  ASSERT_EQ(api.sendto(clients[0], "hi", 2, 0, &to), 2);
  blocking_with_timeout(api, owner);
  char b[8];
  sockaddr_in from{};
  EXPECT_EQ(api.recvfrom(owner, b, sizeof b, 0, &from), 2);
  EXPECT_EQ(ntohs(from.sin_port), port0);
  for (Fd c : clients) EXPECT_EQ(api.close(c), 0);
  EXPECT_EQ(api.close(u1), 0);
  EXPECT_EQ(api.close(u2), 0);
}

}  // namespace
}  // namespace ustack::socket::test
