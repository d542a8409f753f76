// tests/unit/sim/socket_sim_test.cc — blocking socket calls on the virtual clock: application
// threads spawned into a sim::World (sim_thread.h) run the same blocking code as under
// rt::Runtime (accept, connect, recv/send loops, SO_RCVTIMEO, sigwaitinfo), sleep as world
// events, and give deterministic runs (byte-identical pcaps, identical virtual times).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tcp_scenario.h"
#include "tools/scratch_dir.h"
#include "ustack/socket/socket.h"

namespace ustack::sim {
namespace {

using socket::Fd;
using socket::SocketLayer;
using test::at;
using test::first_difference;
using test::random_bytes;

constexpr uint32_t kA = 0x0a000001;  // 10.0.0.1 (test::two_hosts)
constexpr uint32_t kB = 0x0a000002;  // 10.0.0.2

sockaddr_in sin(uint32_t addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(addr);
  a.sin_port = htons(port);
  return a;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A blocking TCP listener on `port` (the usual socket/bind/listen prologue).
Fd listen_on(SocketLayer& api, uint16_t port, int backlog = 16) {
  const Fd l = api.socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GT(l, 0);
  EXPECT_EQ(api.bind(l, sin(INADDR_ANY, port)), 0);
  EXPECT_EQ(api.listen(l, backlog), 0);
  return l;
}

// Echo everything read on `c` until EOF, then close it (the classic blocking echo loop).
void echo_until_eof(SocketLayer& api, Fd c) {
  std::vector<uint8_t> buf(16384);
  for (;;) {
    const ssize_t n = api.recv(c, buf.data(), buf.size(), 0);
    ASSERT_GE(n, 0) << "server recv";
    if (n == 0) break;
    ASSERT_EQ(api.send(c, buf.data(), static_cast<size_t>(n), 0), n) << "server send";
  }
  EXPECT_EQ(api.close(c), 0);
}

// Read until EOF into `out`.
void read_all(SocketLayer& api, Fd c, std::vector<uint8_t>& out) {
  std::vector<uint8_t> buf(16384);
  for (;;) {
    const ssize_t n = api.recv(c, buf.data(), buf.size(), 0);
    ASSERT_GE(n, 0) << "client recv";
    if (n == 0) return;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
}

// ---- a blocking echo between two hosts ------------------------------------------------------

struct EchoRun {
  bool joined = false;
  Instant done_at = Instant::never();  // the client's reader saw EOF
  std::vector<uint8_t> sent, echoed;
  uint64_t thread_runs = 0;
  uint64_t sleeps_a = 0, sleeps_b = 0;
  std::string pcap;  // the capture's bytes (when a path was given)
};

// b runs a one-connection echo server (accept, recv/send until EOF); a's client connects,
// sends `bytes` in one blocking send, shuts down its write side; a second client thread reads
// the echo concurrently (one thread that sent everything before reading would deadlock on
// full windows, with Linux as with ustack).
EchoRun run_echo(uint64_t seed, size_t bytes, const std::string& pcap_path = {}) {
  EchoRun r;
  r.sent = random_bytes(bytes, seed);
  World w(seed);
  ConnectOptions o;
  o.link.latency = Duration::ms(5);
  o.link.bits_per_second = 100'000'000;
  o.a.pcap_path = pcap_path;
  test::two_hosts(w, o);
  SocketLayer& sa = w.host("a").sockets();
  SocketLayer& sb = w.host("b").sockets();

  w.spawn("b", "server", [&] {
    const Fd l = listen_on(sb, 7);
    sockaddr_in peer{};
    const Fd c = sb.accept(l, &peer, 0);
    ASSERT_GT(c, 0);
    EXPECT_EQ(ntohl(peer.sin_addr.s_addr), kA);
    echo_until_eof(sb, c);
    EXPECT_EQ(sb.close(l), 0);
  });
  w.spawn("a", "client", [&] {
    const Fd c = sa.socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(sa.connect(c, sin(kB, 7)), 0);
    w.spawn("a", "reader", [&, c] {
      read_all(sa, c, r.echoed);
      r.done_at = w.now();
      EXPECT_EQ(sa.close(c), 0);
    });
    EXPECT_EQ(sa.send(c, r.sent.data(), r.sent.size(), 0), static_cast<ssize_t>(r.sent.size()));
    EXPECT_EQ(sa.shutdown(c, SHUT_WR), 0);
  });
  r.joined = w.join_threads(at(Duration::s(120)));
  EXPECT_TRUE(r.joined) << w.describe_threads();
  r.thread_runs = w.stats().thread_runs;
  r.sleeps_a = sa.stats().sleeps;
  r.sleeps_b = sb.stats().sleeps;
  w.close_pcaps();
  if (!pcap_path.empty()) r.pcap = slurp(pcap_path);
  return r;
}

TEST(SocketSim, BlockingEchoOfOneMebibyteOverALink) {
  const auto wall = std::chrono::steady_clock::now();
  EchoRun r = run_echo(11, 1 << 20);
  ASSERT_TRUE(r.joined);
  EXPECT_EQ(first_difference(r.sent, r.echoed), "");
  // 2 MiB crossed a 100 Mbit/s link (each way 1 MiB: > 84 ms of serialization) with a 10 ms
  // RTT: the virtual clock says so, however fast the test ran.
  EXPECT_GT(r.done_at, at(Duration::ms(84)));
  EXPECT_LT(r.done_at, at(Duration::s(5)));
  EXPECT_GT(r.sleeps_a, 0u);  // the client really blocked (send on a full buffer, recv)
  EXPECT_GT(r.sleeps_b, 0u);
  EXPECT_GT(r.thread_runs, 3u);
  EXPECT_LT(std::chrono::steady_clock::now() - wall, std::chrono::seconds(60));
}

TEST(SocketSim, SameSeedSameRunByteIdenticalPcap) {
  testtools::ScratchDir dir;
  const EchoRun one = run_echo(5, 256 << 10, dir.file("one.pcap"));
  const EchoRun two = run_echo(5, 256 << 10, dir.file("two.pcap"));
  ASSERT_TRUE(one.joined && two.joined);
  EXPECT_EQ(first_difference(one.sent, one.echoed), "");
  EXPECT_GT(one.pcap.size(), 256u << 10);
  EXPECT_TRUE(one.pcap == two.pcap) << "captures differ";
  EXPECT_EQ(one.done_at, two.done_at);
  EXPECT_EQ(one.thread_runs, two.thread_runs);
  EXPECT_EQ(one.sleeps_a, two.sleeps_a);
  EXPECT_EQ(one.sleeps_b, two.sleeps_b);
  // A different seed changes the run (ISNs, ports: other bytes on the wire).
  const EchoRun other = run_echo(6, 256 << 10, dir.file("other.pcap"));
  EXPECT_FALSE(one.pcap == other.pcap);
}

// ---- timeouts in virtual time ------------------------------------------------------------------

TEST(SocketSim, RcvtimeoExpiresAtExactlyTwoVirtualSeconds) {
  World w(3);
  test::two_hosts(w);
  SocketLayer& sb = w.host("b").sockets();
  w.run_until(at(Duration::ms(7)));  // start off the origin: the timeout counts from the call
  const Instant t0 = w.now();
  Instant udp_done = Instant::never(), accept_done = Instant::never();
  ssize_t udp_ret = 1;
  Fd accept_ret = 1;
  const auto wall = std::chrono::steady_clock::now();
  const SimThreadId udp = w.spawn("b", "udp", [&] {
    const Fd u = sb.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(sb.bind(u, sin(kB, 9000)), 0);
    timeval tv{2, 0};
    ASSERT_EQ(sb.setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char b[8];
    udp_ret = sb.recv(u, b, sizeof b, 0);
    udp_done = w.now();
    EXPECT_EQ(sb.close(u), 0);
  });
  w.spawn("b", "accept", [&] {
    const Fd l = listen_on(sb, 80);
    timeval tv{3, 500'000};
    ASSERT_EQ(sb.setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    accept_ret = sb.accept(l, nullptr, 0);
    accept_done = w.now();
  });
  // Both threads ran and went to sleep at t0; the earliest event is the UDP timeout.
  w.run_until(t0 + Duration::s(1));
  EXPECT_FALSE(w.thread_finished(udp));
  EXPECT_EQ(w.threads_live(), 2u);
  EXPECT_EQ(w.next_event(), t0 + Duration::s(2));
  ASSERT_TRUE(w.join_threads());
  EXPECT_EQ(udp_ret, -EAGAIN);
  EXPECT_EQ(udp_done, t0 + Duration::s(2));
  EXPECT_EQ(accept_ret, -EAGAIN);
  EXPECT_EQ(accept_done, t0 + Duration::ms(3500));
  EXPECT_EQ(w.now(), t0 + Duration::ms(3500));
  EXPECT_TRUE(w.thread_finished(udp));
  // 3.5 virtual seconds took next to no real time.
  EXPECT_LT(std::chrono::steady_clock::now() - wall, std::chrono::seconds(1));
}

TEST(SocketSim, SleepForRunsThreadsInVirtualTimeInDeadlineThenFifoOrder) {
  World w(4);
  w.add_host("a");
  std::vector<std::pair<std::string, Instant>> log;
  auto sleeper = [&](std::string name, Duration d) {
    return [&, name, d] {
      log.emplace_back(name + "-start", w.now());
      w.sleep_for(d);
      log.emplace_back(name + "-end", w.now());
    };
  };
  w.spawn("a", "x", sleeper("x", Duration::ms(30)));
  w.spawn("a", "y", sleeper("y", Duration::ms(10)));
  w.spawn("a", "z", sleeper("z", Duration::ms(30)));
  ASSERT_TRUE(w.join_threads());
  const std::vector<std::pair<std::string, Instant>> want = {
      {"x-start", at(Duration::zero())}, {"y-start", at(Duration::zero())},
      {"z-start", at(Duration::zero())}, {"y-end", at(Duration::ms(10))},
      {"x-end", at(Duration::ms(30))},   {"z-end", at(Duration::ms(30))},
  };
  EXPECT_EQ(log, want);
  EXPECT_EQ(w.stats().thread_runs, 6u);
}

// ---- many threads ------------------------------------------------------------------------------

TEST(SocketSim, FiftyClientThreadsAgainstAThreadPerConnectionServer) {
  constexpr int kClients = 50;
  World w(8);
  ConnectOptions o;
  o.link.latency = Duration::ms(2);
  test::two_hosts(w, o);
  SocketLayer& sa = w.host("a").sockets();
  SocketLayer& sb = w.host("b").sockets();
  int served = 0;
  w.spawn("b", "acceptor", [&] {
    const Fd l = listen_on(sb, 8080, 64);
    for (int i = 0; i < kClients; ++i) {
      const Fd c = sb.accept(l, nullptr, 0);
      ASSERT_GT(c, 0) << "accept " << i;
      w.spawn("b", "conn" + std::to_string(i), [&, c] {
        echo_until_eof(sb, c);
        ++served;
      });
    }
    EXPECT_EQ(sb.close(l), 0);
  });
  std::vector<std::vector<uint8_t>> sent(kClients), got(kClients);
  int ok = 0;
  for (int i = 0; i < kClients; ++i) {
    // Sizes from one byte to ~50 KB: each fits the buffers, so one thread can send then read.
    sent[i] = random_bytes(1 + static_cast<size_t>(i) * 997, 100 + static_cast<uint64_t>(i));
    w.spawn("a", "client" + std::to_string(i), [&, i] {
      const Fd c = sa.socket(AF_INET, SOCK_STREAM, 0);
      ASSERT_EQ(sa.connect(c, sin(kB, 8080)), 0) << "client " << i;
      ASSERT_EQ(sa.send(c, sent[i].data(), sent[i].size(), 0),
                static_cast<ssize_t>(sent[i].size()));
      ASSERT_EQ(sa.shutdown(c, SHUT_WR), 0);
      read_all(sa, c, got[i]);
      EXPECT_EQ(sa.close(c), 0);
      ++ok;
    });
  }
  ASSERT_TRUE(w.join_threads(at(Duration::s(60)))) << w.describe_threads();
  EXPECT_EQ(ok, kClients);
  EXPECT_EQ(served, kClients);
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(first_difference(sent[i], got[i]), "") << i;
  EXPECT_EQ(sa.open_count(), 0u);
  EXPECT_EQ(sb.open_count(), 0u);
}

// ---- multiplexing: one epoll thread serves many clients ---------------------------------------

TEST(SocketSim, EpollEchoServerOnOneThreadAndEpollWaitTimeoutInVirtualTime) {
  constexpr int kClients = 12;
  World w(16);
  ConnectOptions o;
  o.link.latency = Duration::ms(3);
  test::two_hosts(w, o);
  SocketLayer& sa = w.host("a").sockets();
  SocketLayer& sb = w.host("b").sockets();
  w.run_until(at(Duration::ms(100)));
  int idle_ret = 1;
  Instant idle_done = Instant::never();
  int closed = 0;
  w.spawn("b", "epoll", [&] {
    const Fd ep = sb.epoll_create1(0);
    ASSERT_GT(ep, 0);
    // Nothing registered: the wait ends by its timeout, 1.5 virtual seconds later.
    epoll_event evs[16];
    idle_ret = sb.epoll_wait(ep, evs, 16, 1500);
    idle_done = w.now();
    const Fd l = listen_on(sb, 9999, 64);
    ASSERT_EQ(sb.fcntl(l, F_SETFL, O_NONBLOCK), 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(l);
    ASSERT_EQ(sb.epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
    std::vector<uint8_t> buf(4096);
    while (closed < kClients) {
      const int n = sb.epoll_wait(ep, evs, 16, -1);
      ASSERT_GT(n, 0);
      for (int i = 0; i < n; ++i) {
        const auto fd = static_cast<Fd>(evs[i].data.u64);
        if (fd == l) {
          for (Fd c; (c = sb.accept(l, nullptr, SOCK_NONBLOCK)) > 0;) {
            epoll_event cev{};
            cev.events = EPOLLIN;
            cev.data.u64 = static_cast<uint64_t>(c);
            ASSERT_EQ(sb.epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev), 0);
          }
          continue;
        }
        for (;;) {  // level-triggered: read what is there now, echo it (small: it fits)
          const ssize_t r = sb.recv(fd, buf.data(), buf.size(), 0);
          if (r == -EAGAIN) break;
          if (r <= 0) {
            EXPECT_EQ(sb.close(fd), 0);  // close() also leaves the epoll set
            ++closed;
            break;
          }
          EXPECT_EQ(sb.send(fd, buf.data(), static_cast<size_t>(r), 0), r);
        }
      }
    }
    EXPECT_EQ(sb.close(l), 0);
    EXPECT_EQ(sb.close(ep), 0);
  });
  std::vector<std::vector<uint8_t>> sent(kClients), got(kClients);
  for (int i = 0; i < kClients; ++i) {
    sent[i] = random_bytes(100 + static_cast<size_t>(i) * 1000, 300 + static_cast<uint64_t>(i));
    w.spawn("a", "client" + std::to_string(i), [&, i] {
      w.sleep_for(Duration::s(2) + Duration::ms(10) * i);  // after the idle wait
      const Fd c = sa.socket(AF_INET, SOCK_STREAM, 0);
      ASSERT_EQ(sa.connect(c, sin(kB, 9999)), 0);
      ASSERT_EQ(sa.send(c, sent[i].data(), sent[i].size(), 0),
                static_cast<ssize_t>(sent[i].size()));
      ASSERT_EQ(sa.shutdown(c, SHUT_WR), 0);
      read_all(sa, c, got[i]);
      EXPECT_EQ(sa.close(c), 0);
    });
  }
  ASSERT_TRUE(w.join_threads(at(Duration::s(60)))) << w.describe_threads();
  EXPECT_EQ(idle_ret, 0);
  EXPECT_EQ(idle_done, at(Duration::ms(1600)));
  EXPECT_EQ(closed, kClients);
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(first_difference(sent[i], got[i]), "") << i;
  EXPECT_GT(sb.stats().epoll_events, 0u);
}

// ---- errors ------------------------------------------------------------------------------------

TEST(SocketSim, ConnectToAClosedPortIsRefusedAfterOneRoundTrip) {
  World w(9);
  ConnectOptions o;
  o.link.latency = Duration::ms(10);
  test::two_hosts(w, o);
  SocketLayer& sa = w.host("a").sockets();
  // Past the hosts' gratuitous ARP announcements (one would resolve b early).
  w.run_until(at(Duration::s(1)));
  int ret = 1;
  Instant when = Instant::never();
  w.spawn("a", "client", [&] {
    const Fd c = sa.socket(AF_INET, SOCK_STREAM, 0);
    ret = sa.connect(c, sin(kB, 4444));
    when = w.now();
    EXPECT_EQ(sa.close(c), 0);
  });
  ASSERT_TRUE(w.join_threads(at(Duration::s(10))));
  EXPECT_EQ(ret, -ECONNREFUSED);
  // ARP request/reply, then SYN and RST: two round trips of 20 ms.
  EXPECT_EQ(when, at(Duration::ms(1040)));
  EXPECT_GT(w.host("b").tcp().mib().out_rsts, 0u);
}

TEST(SocketSim, CloseFromAnotherThreadWakesASleeperWithEbadf) {
  World w(10);
  test::two_hosts(w);
  SocketLayer& sa = w.host("a").sockets();
  const Fd u = sa.socket(AF_INET, SOCK_DGRAM, 0);  // made by the world's thread: fine
  ASSERT_EQ(sa.bind(u, sin(kA, 5000)), 0);
  ssize_t r = 1;
  Instant when = Instant::never();
  w.spawn("a", "reader", [&] {
    char b[4];
    r = sa.recv(u, b, sizeof b, 0);
    when = w.now();
  });
  w.spawn("a", "closer", [&] {
    w.sleep_for(Duration::ms(250));
    EXPECT_EQ(sa.close(u), 0);
  });
  ASSERT_TRUE(w.join_threads());
  EXPECT_EQ(r, -EBADF);
  EXPECT_EQ(when, at(Duration::ms(250)));
}

TEST(SocketSim, TheWorldsOwnThreadNeverSleeps) {
  World w(12);
  test::two_hosts(w);
  SocketLayer& sa = w.host("a").sockets();
  const Fd u = sa.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(sa.bind(u, sin(kA, 5001)), 0);
  EXPECT_FALSE(w.on_sim_thread());
  EXPECT_FALSE(sa.env().can_sleep());
  EXPECT_TRUE(sa.env().virtual_time());
  char b[4];
  EXPECT_EQ(sa.recv(u, b, sizeof b, 0), -EAGAIN);  // would block: cannot, on the loop's thread
  EXPECT_EQ(sa.stats().cannot_sleep, 1u);
  bool inside = false;
  w.spawn("a", "t", [&] { inside = w.on_sim_thread() && sa.env().can_sleep(); });
  ASSERT_TRUE(w.join_threads());
  EXPECT_TRUE(inside);
  // Another world's thread is not this world's: it may not sleep on this world's sockets.
  World other(13);
  other.add_host("x");
  bool foreign = true;
  other.spawn("x", "t", [&] { foreign = sa.env().can_sleep(); });
  ASSERT_TRUE(other.join_threads());
  EXPECT_FALSE(foreign);
}

// ---- teardown -----------------------------------------------------------------------------------

TEST(SocketSim, DestroyingTheWorldUnwindsBlockedThreads) {
  struct Guard {
    SocketLayer* api;
    Fd fd;
    ssize_t* ret;
    bool* ran;
    ~Guard() {
      // A destructor that calls a blocking recv while the thread is cancelled: it must not
      // sleep again (it returns at once).
      char b[4];
      *ret = api->recv(fd, b, sizeof b, 0);
      *ran = true;
    }
  };
  bool guard_ran = false, after_accept = false, never_started_ran = false;
  ssize_t guard_ret = 1;
  bool joined = true;
  {
    World w(14);
    test::two_hosts(w);
    SocketLayer& sb = w.host("b").sockets();
    w.spawn("b", "server", [&] {
      const Fd u = sb.socket(AF_INET, SOCK_DGRAM, 0);
      ASSERT_EQ(sb.bind(u, sin(kB, 6000)), 0);
      Guard g{&sb, u, &guard_ret, &guard_ran};
      const Fd l = listen_on(sb, 81);
      (void)sb.accept(l, nullptr, 0);  // nobody ever connects
      after_accept = true;
    });
    joined = w.join_threads(at(Duration::s(5)));
    EXPECT_EQ(w.threads_live(), 1u);
    EXPECT_NE(w.describe_threads().find("b/server (sleeping)"), std::string::npos)
        << w.describe_threads();
    w.spawn("b", "late", [&] { never_started_ran = true; });  // the world never runs again
  }
  EXPECT_FALSE(joined);
  EXPECT_FALSE(after_accept);  // unwound from inside accept: no application code ran after it
  EXPECT_TRUE(guard_ran);
  EXPECT_EQ(guard_ret, -EAGAIN);
  EXPECT_FALSE(never_started_ran);
}

// ---- signal-driven I/O: sigwaitinfo on the virtual clock --------------------------------------

TEST(SocketSim, SigwaitinfoYieldsTheVirtualClock) {
  const int sig = SIGRTMIN + 3;
  World w(15);
  ConnectOptions o;
  o.link.latency = Duration::ms(4);
  test::two_hosts(w, o);
  SocketLayer& sa = w.host("a").sockets();
  SocketLayer& sb = w.host("b").sockets();
  int timeout_ret = 1, got = 0;
  Instant timed_out_at = Instant::never(), signalled_at = Instant::never();
  siginfo_t info{};
  w.spawn("b", "owner", [&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);
    // Nothing pending: the wait ends by its timeout, in virtual time.
    timeout_ret = sb.sigwaitinfo(set, &info, Duration::ms(500));
    timed_out_at = w.now();
    const Fd u = sb.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(sb.bind(u, sin(kB, 7777)), 0);
    f_owner_ex owner{F_OWNER_TID, static_cast<pid_t>(::gettid())};
    ASSERT_EQ(sb.fcntl(u, F_SETOWN_EX, reinterpret_cast<intptr_t>(&owner)), 0);
    ASSERT_EQ(sb.fcntl(u, F_SETSIG, sig), 0);
    ASSERT_EQ(sb.fcntl(u, F_SETFL, O_ASYNC | O_NONBLOCK), 0);
    got = sb.sigwaitinfo(set, &info, Duration::s(10));
    signalled_at = w.now();
    EXPECT_EQ(sb.fasync_fd(info.si_fd), u);  // si_fd names the socket that became readable
    char b[16];
    EXPECT_EQ(sb.recv(u, b, sizeof b, 0), 5);
    EXPECT_EQ(sb.close(u), 0);
  });
  w.spawn("a", "sender", [&] {
    w.sleep_for(Duration::s(1));
    const Fd s = sa.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in to = sin(kB, 7777);
    EXPECT_EQ(sa.sendto(s, "hello", 5, 0, &to), 5);
    EXPECT_EQ(sa.close(s), 0);
  });
  ASSERT_TRUE(w.join_threads(at(Duration::s(20)))) << w.describe_threads();
  EXPECT_EQ(timeout_ret, -EAGAIN);
  EXPECT_EQ(timed_out_at, at(Duration::ms(500)));
  EXPECT_EQ(got, sig);
  // POLL_IN when the kernel lets a positive si_code through; a thread signalling another
  // thread gets SI_QUEUE (rt_tgsigqueueinfo's rule), si_band and si_fd still filled in.
  EXPECT_TRUE(info.si_code == POLL_IN || info.si_code == SI_QUEUE) << info.si_code;
  EXPECT_NE(info.si_band & EPOLLIN, 0);
  // ARP resolution (one round trip) and the datagram: 1 s + 3 x 4 ms.
  EXPECT_EQ(signalled_at, at(Duration::ms(1012)));
  EXPECT_GE(sb.stats().signals_sent, 1u);
}

}  // namespace
}  // namespace ustack::sim
