// Misuse of the socket API returns Linux's errno and never crashes. Each scenario is written
// once as a template over the API and run twice with the same call sequence: over ustack (one
// rt::Runtime host, traffic on its own address through the loopback path) and over the Linux
// kernel on 127.0.0.1 (examples/kernel_api.h). Both must give the results Linux gives.
// Results are compared as strings of errno names ("0 EINPROGRESS EALREADY").
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "examples/kernel_api.h"
#include "unit/socket/rt_host.h"

namespace ustack::socket::test {
namespace {

using examples::KernelApi;

std::string name_of(int64_t r) {
  if (r >= 0) return std::to_string(r);
  const char* n = ::strerrorname_np(static_cast<int>(-r));
  return n != nullptr ? n : "E?" + std::to_string(-r);
}

// Collects results as errno names (non-negative results as numbers, or "ok" when only the
// fact of success matters).
struct Log {
  std::vector<std::string> v;
  void add(int64_t r) { v.push_back(name_of(r)); }
  void ok(int64_t r) { v.push_back(r >= 0 ? "ok" : name_of(r)); }
  std::string str() const {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
  }
};

template <class Api>
struct Ctx {
  Api& api;
  uint32_t addr;  // host order: the host's own address (ustack) or 127.0.0.1 (Linux)
  std::vector<Fd> opened;

  sockaddr_in at(uint16_t port) const { return sin(addr, port); }
  Fd tcp(int flags = 0) {
    const Fd s = api.socket(AF_INET, SOCK_STREAM | flags, 0);
    if (s >= 0) opened.push_back(s);
    return s;
  }
  uint16_t port_of(Fd s) {
    sockaddr_in a{};
    return api.getsockname(s, &a) == 0 ? ntohs(a.sin_port) : 0;
  }
  // A listener on an ephemeral port.
  Fd listener(int backlog = 16) {
    const Fd l = tcp();
    if (api.bind(l, at(0)) != 0 || api.listen(l, backlog) != 0) return -1;
    return l;
  }
  // A connected pair (client, server side) over listener l.
  std::pair<Fd, Fd> pair(Fd l) {
    const Fd c = tcp();
    if (api.connect(c, at(port_of(l))) != 0) return {-1, -1};
    const Fd a = api.accept(l, nullptr, 0);
    if (a >= 0) opened.push_back(a);
    return {c, a};
  }
  // A non-blocking client left in SYN-SENT: listener l's accept queue is full (nobody
  // accepts), so its SYN is dropped (ListenOverflows) and retransmitted. Clients before it
  // connect and fill the queue (how many fit differs: Linux's backlog check is ">").
  Fd stalled_client(Fd l) {
    for (int i = 0; i < 8; ++i) {
      const Fd c = tcp(SOCK_NONBLOCK);
      if (api.connect(c, at(port_of(l))) != -EINPROGRESS) return -1;
      // Still not connected after 60 ms, and again 200 ms later (a loopback handshake on a
      // loaded machine can take a while; a dropped SYN is not retried before 1 s).
      sockaddr_in p{};
      std::this_thread::sleep_for(std::chrono::milliseconds(60));
      if (api.getpeername(c, &p) != -ENOTCONN) continue;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (api.getpeername(c, &p) == -ENOTCONN) return c;
    }
    return -1;
  }
  int so_error(Fd s) {
    int e = -1;
    socklen_t len = sizeof e;
    const int r = api.getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len);
    return r != 0 ? r : -e;
  }
  ~Ctx() {
    for (Fd s : opened) (void)api.close(s);
  }
};

// Runs `scenario(ctx)` over ustack (a host built with `cfg`) and over Linux; returns both logs.
template <class F>
std::pair<std::string, std::string> both(F&& scenario, stack::StackConfig cfg = {}) {
  std::string us, lx;
  {
    RtHost h(std::move(cfg));
    Ctx<SocketLayer> c{h.api(), kHostAddr, {}};
    Log log;
    scenario(c, log);
    us = log.str();
  }
  {
    KernelApi k;
    Ctx<KernelApi> c{k, INADDR_LOOPBACK, {}};
    Log log;
    scenario(c, log);
    lx = log.str();
  }
  return {us, lx};
}

// Both backends must give `expected`, Linux's results.
template <class F>
void expect_linux(F&& scenario, const std::string& expected) {
  auto [us, lx] = both(std::forward<F>(scenario));
  EXPECT_EQ(lx, expected) << "(the Linux kernel)";
  EXPECT_EQ(us, expected) << "(ustack)";
}

TEST(Misuse, RecvOnAListenerIsEnotconn) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd l = c.listener();
        char b[4];
        log.add(c.api.recv(l, b, sizeof b, MSG_DONTWAIT));
        log.add(c.api.recv(l, b, sizeof b, 0));  // would block forever if it waited
      },
      "ENOTCONN ENOTCONN");
}

TEST(Misuse, RecvAndSendOnAFreshSocket) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd s = c.tcp();
        char b[4] = {};
        log.add(c.api.recv(s, b, sizeof b, MSG_DONTWAIT));
        log.add(c.api.shutdown(s, SHUT_WR));
        sockaddr_in a{};
        log.add(c.api.getpeername(s, &a));
      },
      "ENOTCONN ENOTCONN ENOTCONN");
}

TEST(Misuse, ConnectTwiceOnceConnectedIsEisconn) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd l = c.listener();
        const Fd s = c.tcp();
        log.add(c.api.connect(s, c.at(c.port_of(l))));
        log.add(c.api.connect(s, c.at(c.port_of(l))));
      },
      "0 EISCONN");
}

TEST(Misuse, ConnectAgainWhileConnectingIsEalready) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd l = c.listener(1);
        const Fd s = c.stalled_client(l);
        log.ok(s);
        log.add(c.api.connect(s, c.at(c.port_of(l))));
        log.add(c.so_error(s));  // nothing to report yet
      },
      "ok EALREADY 0");
}

TEST(Misuse, BlockingConnectBoundedBySoSndtimeoIsEinprogress) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd l = c.listener(1);
        log.ok(c.stalled_client(l));  // the queue is full from here on
        const Fd s = c.tcp();
        timeval tv{0, 100'000};
        log.add(c.api.setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
        log.add(c.api.connect(s, c.at(c.port_of(l))));
        log.add(c.api.connect(s, c.at(c.port_of(l))));
      },
      "ok 0 EINPROGRESS EALREADY");
}

TEST(Misuse, RefusedNonBlockingConnectReportsEconnrefusedThroughSoError) {
  expect_linux(
      [](auto& c, Log& log) {
        // A port that is bound but not listening: its SYN gets a RST.
        const Fd b = c.tcp();
        log.add(c.api.bind(b, c.at(0)));
        const Fd s = c.tcp(SOCK_NONBLOCK);
        log.add(c.api.connect(s, c.at(c.port_of(b))));
        int e = 0;
        for (int i = 0; i < 400 && e == 0; ++i) {
          e = c.so_error(s);
          if (e == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        log.add(e);
        log.add(c.so_error(s));  // read once, then cleared
      },
      "0 EINPROGRESS ECONNREFUSED 0");
}

TEST(Misuse, SendAfterShutdownWrIsEpipe) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd l = c.listener();
        auto [s, a] = c.pair(l);
        log.ok(s);
        log.add(c.api.shutdown(s, SHUT_WR));
        log.add(c.api.send(s, "x", 1, MSG_NOSIGNAL));
        char b[4];
        log.add(c.api.recv(a, b, sizeof b, 0));        // the peer sees EOF
        log.add(c.api.send(a, "y", 1, MSG_NOSIGNAL));  // and may still talk back
        log.add(c.api.recv(s, b, sizeof b, 0));
      },
      "ok 0 EPIPE 0 1 1");
}

// SIGPIPE: Linux raises it on EPIPE unless MSG_NOSIGNAL; ustack only with
// SocketConfig::sigpipe (an embedded stack must not kill its host by default). The signal is
// blocked here and looked for with sigpending.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &s, &old_);
  }
  ~SigpipeBlocked() {
    (void)take();
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  // Whether SIGPIPE was pending (and consumes it).
  static bool take() {
    sigset_t p;
    sigpending(&p);
    if (sigismember(&p, SIGPIPE) == 0) return false;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    timespec zero{};
    return ::sigtimedwait(&s, nullptr, &zero) == SIGPIPE;
  }

 private:
  sigset_t old_;
};

auto sigpipe_scenario = [](auto& c, Log& log) {
  const Fd l = c.listener();
  auto [s, a] = c.pair(l);
  log.add(c.api.shutdown(s, SHUT_WR));
  (void)SigpipeBlocked::take();
  log.add(c.api.send(s, "x", 1, MSG_NOSIGNAL));
  log.v.push_back(SigpipeBlocked::take() ? "SIGPIPE" : "-");
  log.add(c.api.send(s, "x", 1, 0));
  log.v.push_back(SigpipeBlocked::take() ? "SIGPIPE" : "-");
};

TEST(Misuse, SigpipeOnlyWhenAskedForUnlessMsgNosignal) {
  SigpipeBlocked blocked;
  stack::StackConfig linux_like;
  linux_like.socket.sigpipe = true;
  auto [us, lx] = both(sigpipe_scenario, linux_like);
  EXPECT_EQ(lx, "0 EPIPE - EPIPE SIGPIPE");
  EXPECT_EQ(us, lx) << "SocketConfig::sigpipe = true behaves as Linux";
  auto [us_default, lx2] = both(sigpipe_scenario);
  EXPECT_EQ(us_default, "0 EPIPE - EPIPE -") << "ustack's default: EPIPE, no signal";
}

TEST(Misuse, StaleHandleIsEbadfForEveryCall) {
  expect_linux(
      [](auto& c, Log& log) {
        auto& api = c.api;
        const Fd s = api.socket(AF_INET, SOCK_STREAM, 0);
        log.add(api.close(s));
        char b[4] = {};
        int v = 1;
        socklen_t len = sizeof v;
        sockaddr_in a = c.at(0);
        iovec iov{b, sizeof b};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        log.add(api.bind(s, a));
        log.add(api.listen(s, 1));
        log.add(api.accept(s, nullptr, 0));
        log.add(api.connect(s, a));
        log.add(api.send(s, b, 1, MSG_NOSIGNAL));
        log.add(api.recv(s, b, 1, MSG_DONTWAIT));
        log.add(api.sendto(s, b, 1, MSG_NOSIGNAL, &a));
        log.add(api.recvfrom(s, b, 1, MSG_DONTWAIT, &a));
        log.add(api.sendmsg(s, &m, MSG_NOSIGNAL));
        log.add(api.recvmsg(s, &m, MSG_DONTWAIT));
        log.add(api.shutdown(s, SHUT_RDWR));
        log.add(api.getsockname(s, &a));
        log.add(api.getpeername(s, &a));
        log.add(api.setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
        log.add(api.getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len));
        log.add(api.fcntl(s, F_GETFL));
        log.add(api.ioctl(s, FIONREAD, &v));
        log.add(api.close(s));
      },
      "0 EBADF EBADF EBADF EBADF EBADF EBADF EBADF EBADF EBADF EBADF EBADF EBADF EBADF EBADF "
      "EBADF EBADF EBADF EBADF");
}

// Generational handles (ustack only: Linux hands the lowest free number to the next socket, so
// a stale fd there silently reaches whatever was opened next).
TEST(Misuse, ANewSocketNeverGetsAClosedHandle) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd old = api.socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(old, 0);
  ASSERT_EQ(api.close(old), 0);
  std::vector<Fd> seen{old};
  for (int i = 0; i < 2000; ++i) {
    const Fd s = api.socket(AF_INET, i % 2 ? SOCK_STREAM : SOCK_DGRAM, 0);
    ASSERT_GT(s, 0);
    seen.push_back(s);
    EXPECT_EQ(api.recv(old, nullptr, 0, MSG_DONTWAIT), -EBADF);
    ASSERT_EQ(api.close(s), 0);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a handle came back";
  EXPECT_EQ(api.close(old), -EBADF);
}

TEST(Misuse, BindTwiceIsEinvalAndABusyPortIsEaddrinuse) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd s = c.tcp();
        log.add(c.api.bind(s, c.at(0)));
        log.add(c.api.bind(s, c.at(0)));
        const uint16_t port = c.port_of(s);
        const Fd t = c.tcp();
        log.add(c.api.bind(t, c.at(port)));  // s is only bound
        log.add(c.api.listen(s, 4));
        log.add(c.api.bind(t, c.at(port)));  // s listens
        const int one = 1;
        log.add(c.api.setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
        log.add(c.api.bind(t, c.at(port)));  // SO_REUSEADDR does not share a listener's port
      },
      "0 EINVAL EADDRINUSE 0 EADDRINUSE 0 EADDRINUSE");
}

TEST(Misuse, UdpCannotListenOrAccept) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd u = c.api.socket(AF_INET, SOCK_DGRAM, 0);
        c.opened.push_back(u);
        log.add(c.api.listen(u, 1));
        log.add(c.api.accept(u, nullptr, 0));
      },
      "EOPNOTSUPP EOPNOTSUPP");
}

TEST(Misuse, AcceptOnANonListenerIsEinval) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd s = c.tcp();
        log.add(c.api.accept(s, nullptr, 0));
        log.add(c.api.bind(s, c.at(0)));
        log.add(c.api.accept(s, nullptr, SOCK_NONBLOCK));
      },
      "EINVAL 0 EINVAL");
}

TEST(Misuse, BadFamilyIsEafnosupport) {
  expect_linux(
      [](auto& c, Log& log) {
        log.add(c.api.socket(12345, SOCK_STREAM, 0));
        const Fd s = c.tcp();
        sockaddr_in a = c.at(0);
        a.sin_family = 12345;
        log.add(c.api.bind(s, a));
        log.add(c.api.connect(s, a));
      },
      "EAFNOSUPPORT EAFNOSUPPORT EAFNOSUPPORT");
}

TEST(Misuse, BadTypeOrProtocol) {
  expect_linux(
      [](auto& c, Log& log) {
        log.add(c.api.socket(AF_INET, SOCK_SEQPACKET, 0));
        log.add(c.api.socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
        log.add(c.api.socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
      },
      "ESOCKTNOSUPPORT EPROTONOSUPPORT EPROTONOSUPPORT");
}

TEST(Misuse, SockoptErrors) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd s = c.tcp();
        int v = 1;
        socklen_t len = sizeof v;
        log.add(c.api.getsockopt(s, SOL_SOCKET, 9999, &v, &len));
        len = sizeof v;
        log.add(c.api.getsockopt(s, IPPROTO_TCP, 9999, &v, &len));
        log.add(c.api.setsockopt(s, SOL_SOCKET, 9999, &v, sizeof v));
        log.add(c.api.setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, 2));  // short optlen
        log.add(c.api.setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, 2));
      },
      "ENOPROTOOPT ENOPROTOOPT ENOPROTOOPT EINVAL EINVAL");
}

// ---- corner cases where ustack differed from Linux (fixed on main in 0d49f65) -------------

// Linux's tcp_sendmsg -> sk_stream_wait_connect: a socket that is neither connected nor
// connecting gets EPIPE (and SIGPIPE without MSG_NOSIGNAL), a listener too.
TEST(Misuse, SendOnANeverConnectedSocketOrAListenerIsEpipe) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd s = c.tcp();
        log.add(c.api.send(s, "x", 1, MSG_NOSIGNAL));
        const Fd l = c.listener();
        log.add(c.api.send(l, "x", 1, MSG_NOSIGNAL));
      },
      "EPIPE EPIPE");
}

// __sys_socket: bits of `type` beyond SOCK_TYPE_MASK other than SOCK_NONBLOCK/SOCK_CLOEXEC
// are EINVAL, and a type >= SOCK_MAX is EINVAL.
TEST(Misuse, SocketWithUnknownTypeBitsIsEinval) {
  expect_linux(
      [](auto& c, Log& log) {
        log.add(c.api.socket(AF_INET, 99, 0));
        log.add(c.api.socket(AF_INET, SOCK_STREAM | 0x40000000, 0));
      },
      "EINVAL EINVAL");
}

// sk_getsockopt / do_tcp_getsockopt: a negative *optlen is EINVAL; a short one gets what fits
// (len = min(len, sizeof(int))) and succeeds; an unknown level on a TCP socket falls through
// to ip_getsockopt: EOPNOTSUPP.
TEST(Misuse, GetsockoptOptlenAndLevelAsLinux) {
  expect_linux(
      [](auto& c, Log& log) {
        const Fd s = c.tcp();
        int v = 1;
        socklen_t len = static_cast<socklen_t>(-1);
        log.add(c.api.getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len));
        len = 2;
        log.add(c.api.getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len));
        log.add(len);
        len = sizeof v;
        log.add(c.api.getsockopt(s, 9999, 1, &v, &len));
      },
      "EINVAL 0 2 EOPNOTSUPP");
}

// Found by ThreadSanitizer on the signal-driven echo server: fasync_fd() read the socket table
// without the stack lock (src/ustack/socket/socket_table.cc), so mapping si_fd while another
// thread opens sockets raced with the slot vector's growth (a read of freed memory once it
// reallocates). Passes in a normal build either way; under TSan (make test) it catches the race.
TEST(Misuse, FasyncFdIsSafeWhileAnotherThreadOpensSockets) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd first = api.socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(first, 0);
  const int sig_fd = static_cast<int>(static_cast<uint64_t>(first) & 0x7fffffffu);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread mapper([&] {
    while (!stop.load()) {
      if (api.fasync_fd(sig_fd) != first) ++wrong;
    }
  });
  std::vector<Fd> many;
  for (int i = 0; i < 5000; ++i) many.push_back(api.socket(AF_INET, SOCK_DGRAM, 0));
  stop = true;
  mapper.join();
  for (Fd s : many) EXPECT_EQ(api.close(s), 0);
  EXPECT_EQ(wrong.load(), 0);
}

// connect() to a listener whose queue stays full: the SYN is retransmitted until the retries
// are spent. ustack: tcp.syn_retries = 1 with a 100 ms initial RTO (~300 ms). Linux has no
// such knob per process; TCP_USER_TIMEOUT bounds the SYN retries there (~1 s: its first RTO).
TEST(Misuse, ConnectNobodyAnswersIsEtimedout) {
  stack::StackConfig cfg;
  cfg.tcp.syn_retries = 1;
  cfg.tcp.rtt.initial_rto = Duration::ms(100);
  RtHost h(cfg);
  Ctx<SocketLayer> us{h.api(), kHostAddr, {}};
  const Fd ul = us.listener(1);
  ASSERT_GE(us.stalled_client(ul), 0);
  const Fd s = us.tcp();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(name_of(us.api.connect(s, us.at(us.port_of(ul)))), "ETIMEDOUT");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(us.so_error(s), 0);  // reported by connect, so not again

  KernelApi k;
  Ctx<KernelApi> lx{k, INADDR_LOOPBACK, {}};
  const Fd kl = lx.listener(1);
  ASSERT_GE(lx.stalled_client(kl), 0);
  const Fd ks = lx.tcp();
  const int ms = 100;
  ASSERT_EQ(k.setsockopt(ks, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms), 0);
  EXPECT_EQ(name_of(k.connect(ks, lx.at(lx.port_of(kl)))), "ETIMEDOUT");
  EXPECT_EQ(lx.so_error(ks), 0);
}

}  // namespace
}  // namespace ustack::socket::test
