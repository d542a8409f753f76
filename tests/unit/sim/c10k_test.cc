// tests/unit/sim/c10k_test.cc — C10K: 10 000 concurrent connections on a simulated link, served
// by the examples' epoll echo server (examples/echo_servers.h, the same template that runs over
// TAP and on Linux) on one application thread of a sim::World, in one process. Reports the
// memory of an idle established connection.
//
// Memory method: with all connections established and idle (every echo read, nothing in
// flight), heap in use (mallinfo2, with one malloc arena so the application threads' blocks
// are in it, and no mmap) less the buffer pools' slabs is M1. Then half of them close on both ends
// and the world runs past TIME-WAIT; the same figure is M2, taken while the client's epoll instance
// is still open (closing it frees the registrations of the connections that stay open too). The
// buffer pools keep their slabs and the slabs are not counted (the FIN burst of the closes
// grows them), so (M1 - M2) / closed is what one connection costs at both ends, all of it
// ustack's (TCP socket, socket-layer handle, hash-table entries, epoll registration) except
// the echo server's own per-connection state (its buffer and map entry), which is subtracted.
// Idle connections hold no packet buffers (they are allocated lazily, when data arrives or
// is sent): the number of buffers out does not drop when half of them close.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "examples/echo_servers.h"
#include "scenario.h"
#include "ustack/socket/socket.h"

namespace ustack::sim {
namespace {

using socket::Fd;
using socket::SocketLayer;

constexpr uint32_t kA = 0x0a000001;  // 10.0.0.1: the server
constexpr uint16_t kPort = 7;
constexpr size_t kConns = 10'000;
constexpr size_t kServerBuf = 512;  // the echo server's per-connection buffer (app memory)

sockaddr_in sin(uint32_t addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(addr);
  a.sin_port = htons(port);
  return a;
}

// Heap in use, less the slabs of the hosts' buffer pools.
size_t heap_in_use(World& w) {
  const size_t slabs =
      w.host("a").pool().stats().slab_bytes + w.host("b").pool().stats().slab_bytes;
  return mallinfo2().uordblks - slabs;
}
size_t buffers_out(World& w) {
  return w.host("a").pool().stats().buffers_out + w.host("b").pool().stats().buffers_out;
}

TEST(C10k, TenThousandConcurrentConnectionsOnTheEpollServer) {
  // One arena: mallinfo2() reports the main arena only, and the sim threads would otherwise
  // allocate from arenas of their own. No mmap: the pools' slabs (over the 128 KiB default
  // threshold) are then in uordblks too, where heap_in_use() takes them out exactly.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  WorldConfig cfg{.seed = 10'000};
  cfg.host_defaults.tcp.somaxconn = 4096;
  World w(cfg);
  // Server-class NICs (ethtool -G rx 4096, txqueuelen 10000): with the default 256-descriptor
  // rings a burst of 500 segments overflows them, and the test would measure retransmission.
  ConnectOptions link{.link = dev::SimLinkConfig{.latency = Duration::us(50)}};
  link.a.ring_size = link.b.ring_size = 4096;
  link.a.txqueuelen = link.b.txqueuelen = 10'000;
  test::two_hosts(w, link);
  SocketLayer& srv = w.host("a").sockets();
  SocketLayer& cli = w.host("b").sockets();

  // The server: the example's epoll echo server, its thread a sim thread on host a.
  examples::EchoOptions opt;
  opt.backlog = 4096;
  opt.buf_size = kServerBuf;
  opt.tick = Duration::ms(100);
  opt.threads.spawn = [&](std::function<void()> fn) { w.spawn("a", "epoll-echo", std::move(fn)); };
  opt.threads.wait_until = [&](const std::function<bool()>& done) {
    w.run_until(done, w.now() + Duration::s(10));
  };
  opt.threads.pause = [&](Duration d) { w.sleep_for(d); };
  examples::EpollEcho<SocketLayer> server(srv, opt);
  ASSERT_EQ(server.start(sin(INADDR_ANY, kPort)), 0);

  // The client: one thread on host b with its own epoll loop, connecting in batches (a burst
  // of 10 000 SYNs would only exercise the SYN-cookie path), then one echo per connection.
  std::vector<Fd> fds;
  size_t connected = 0, echoed = 0, failed = 0;
  bool client_done = false;
  size_t m1 = 0, m2 = 0, bufs1 = 0, bufs2 = 0;
  w.spawn("b", "clients", [&] {
    const Fd ep = cli.epoll_create1(0);
    std::vector<epoll_event> evs(1024);
    auto wait_all = [&](size_t target, size_t& counter, uint32_t want, auto on_ready) {
      while (counter + failed < target) {
        const int n = cli.epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 5000);
        if (n <= 0) {
          ADD_FAILURE() << "no progress for 5 s of virtual time at " << w.now().to_string() << ": "
                        << counter << " of " << target;
          break;
        }
        for (int i = 0; i < n; ++i) {
          const auto& e = evs[static_cast<size_t>(i)];
          if ((e.events & want) != 0) on_ready(static_cast<Fd>(e.data.u64), e.events);
        }
      }
    };
    for (size_t batch = 0; batch < kConns; batch += 500) {
      for (size_t i = batch; i < batch + 500; ++i) {
        const Fd s = cli.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ASSERT_GT(s, 0);
        ASSERT_EQ(cli.connect(s, sin(kA, kPort)), -EINPROGRESS);
        epoll_event ev{};
        ev.events = EPOLLOUT | EPOLLONESHOT;
        ev.data.u64 = static_cast<uint64_t>(s);
        ASSERT_EQ(cli.epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
        fds.push_back(s);
      }
      wait_all(batch + 500, connected, EPOLLOUT | EPOLLERR, [&](Fd s, uint32_t events) {
        int err = 0;
        socklen_t len = sizeof err;
        (void)cli.getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
        ((events & EPOLLERR) != 0 || err != 0 ? failed : connected)++;
      });
    }
    // One 16-byte request per connection, 500 connections at a time (10 000 requests at once
    // would overflow the NIC's queue, txqueuelen 1000, and measure retransmission instead).
    for (size_t batch = 0; batch < kConns; batch += 500) {
      for (size_t i = batch; i < batch + 500; ++i) {
        const Fd s = fds[i];
        char msg[16];
        std::snprintf(msg, sizeof msg, "%015lld", static_cast<long long>(s & 0xffffffff));
        ASSERT_EQ(cli.send(s, msg, 16, 0), 16);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.u64 = static_cast<uint64_t>(s);
        ASSERT_EQ(cli.epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev), 0);
      }
      wait_all(batch + 500, echoed, EPOLLIN, [&](Fd s, uint32_t) {
        char got[32] = {};
        char want[16];
        std::snprintf(want, sizeof want, "%015lld", static_cast<long long>(s & 0xffffffff));
        const ssize_t n = cli.recv(s, got, sizeof got, MSG_WAITALL | MSG_DONTWAIT);
        (n == 16 && std::string(got, 15) == std::string(want, 15) ? echoed : failed)++;
      });
    }
    // All idle and established now: memory at both ends.
    w.sleep_for(Duration::ms(500));  // delayed ACKs go out; nothing left in flight
    m1 = heap_in_use(w);
    bufs1 = buffers_out(w);
    // Half of them close (client first: its ends wait in TIME-WAIT, 60 s).
    for (size_t i = 0; i < kConns / 2; ++i) (void)cli.close(fds[i]);
    w.sleep_for(Duration::s(65));
    m2 = heap_in_use(w);
    bufs2 = buffers_out(w);
    (void)cli.close(ep);
    client_done = true;
  });
  ASSERT_TRUE(w.run_until([&] { return client_done; }, w.now() + Duration::s(600)))
      << w.describe_threads();

  EXPECT_EQ(connected, kConns);
  EXPECT_EQ(echoed, kConns);
  EXPECT_EQ(failed, 0u);
  EXPECT_EQ(server.stats().accepted.load(), kConns);
  EXPECT_EQ(w.host("a").tcp().sockets(), kConns / 2 + 1);  // the rest and the listener

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // A sanitizer's allocator does not report through mallinfo2: the functional part above is
  // what this build checks.
  (void)m1;
  (void)m2;
  (void)bufs1;
  (void)bufs2;
#else
  const double per_conn_both_ends =
      (static_cast<double>(m1) - static_cast<double>(m2)) / (kConns / 2);
  // The echo server's own state per connection: its buffer, the NbConn and the map node that
  // points at it (next, key, unique_ptr), as malloc's chunks (8 bytes of header, 16-byte
  // multiples).
  auto chunk = [](size_t n) { return std::max<size_t>(32, (n + 8 + 15) & ~size_t{15}); };
  const double app = static_cast<double>(chunk(kServerBuf) + chunk(sizeof(examples::NbConn)) +
                                         chunk(3 * sizeof(void*)));
  const double ustack_per_end = (per_conn_both_ends - app) / 2;
  std::printf(
      "[ info ] C10K: %zu connections served by the epoll server; idle established "
      "connection: %.0f bytes at both ends, %.0f of them the echo server's; ustack: %.0f bytes "
      "per end (sizeof TcpSocket %zu); packet buffers out %zu, then %zu\n",
      kConns, per_conn_both_ends, app, ustack_per_end, sizeof(transport::TcpSocket), bufs1, bufs2);
  // Issue 6's target: at most 1 KiB of ustack memory per idle established connection end.
  EXPECT_LE(ustack_per_end, 1024.0);
  EXPECT_GT(ustack_per_end, 512.0);  // and the measurement measured something
  // Buffers are allocated lazily: the closed connections' ends held none while idle.
  EXPECT_LE(bufs1, bufs2 + kConns / 100);
#endif
  server.stop();
}

}  // namespace
}  // namespace ustack::sim
