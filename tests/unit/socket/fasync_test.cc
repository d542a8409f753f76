// Signal-driven I/O (model 4): O_ASYNC + F_SETOWN(_EX) + F_SETSIG deliver a real POSIX signal
// with Linux's siginfo (si_fd, si_band, POLL_IN/POLL_OUT) when a socket becomes ready.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unit/socket/rt_host.h"

namespace ustack::socket::test {
namespace {

// Blocks `sig` in this thread for the test's lifetime (so sigtimedwait collects it).
class BlockSignal {
 public:
  explicit BlockSignal(int sig) {
    sigemptyset(&set_);
    sigaddset(&set_, sig);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~BlockSignal() {
    // Drain anything still pending, then restore.
    timespec zero{};
    siginfo_t si;
    while (sigtimedwait(&set_, &si, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  const sigset_t& set() const { return set_; }

 private:
  sigset_t set_, old_;
};

pid_t gettid_() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

TEST(Fasync, RealtimeSignalCarriesTheHandleAndBand) {
  const int sig = SIGRTMIN + 2;
  BlockSignal block(sig);
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 9100)), 0);
  f_owner_ex owner{F_OWNER_TID, gettid_()};
  ASSERT_EQ(api.fcntl(u, F_SETOWN_EX, reinterpret_cast<intptr_t>(&owner)), 0);
  ASSERT_EQ(api.fcntl(u, F_SETSIG, sig), 0);
  ASSERT_EQ(api.fcntl(u, F_SETFL, O_ASYNC | O_NONBLOCK), 0);
  EXPECT_EQ(api.fcntl(u, F_GETFL), O_RDWR | O_ASYNC | O_NONBLOCK);
  EXPECT_EQ(api.fcntl(u, F_GETSIG), sig);

  const Fd c = api.socket(AF_INET, SOCK_DGRAM, 0);
  const auto to = sin(kHostAddr, 9100);
  ASSERT_EQ(api.sendto(c, "x", 1, 0, &to), 1);
  siginfo_t si{};
  const int got = api.sigwaitinfo(block.set(), &si, Duration::s(5));
  ASSERT_EQ(got, sig);
  EXPECT_EQ(si.si_code, SI_QUEUE);  // POLL_IN is the kernel's own (see fasync.cc)
  EXPECT_NE(si.si_band & EPOLLIN, 0);
  EXPECT_EQ(api.fasync_fd(si.si_fd), u);
  char b[4];
  EXPECT_EQ(api.recv(u, b, sizeof b, 0), 1);
  EXPECT_GE(api.stats().signals_sent, 1u);
}

TEST(Fasync, PlainSigioWithoutFSetsig) {
  BlockSignal block(SIGIO);
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 9101)), 0);
  ASSERT_EQ(api.fcntl(u, F_SETOWN, ::getpid()), 0);
  EXPECT_EQ(api.fcntl(u, F_GETOWN), ::getpid());
  int on = 1;
  ASSERT_EQ(api.ioctl(u, FIOASYNC, &on), 0);
  const Fd c = api.socket(AF_INET, SOCK_DGRAM, 0);
  const auto to = sin(kHostAddr, 9101);
  ASSERT_EQ(api.sendto(c, "x", 1, 0, &to), 1);
  siginfo_t si{};
  EXPECT_EQ(api.sigwaitinfo(block.set(), &si, Duration::s(5)), SIGIO);
}

TEST(Fasync, NoSignalWithoutOwnerOrWithoutOAsync) {
  const int sig = SIGRTMIN + 3;
  BlockSignal block(sig);
  RtHost h;
  SocketLayer& api = h.api();
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(u, sin(kHostAddr, 9102)), 0);
  ASSERT_EQ(api.fcntl(u, F_SETSIG, sig), 0);
  ASSERT_EQ(api.fcntl(u, F_SETFL, O_ASYNC), 0);  // async, but nobody owns it
  const Fd c = api.socket(AF_INET, SOCK_DGRAM, 0);
  const auto to = sin(kHostAddr, 9102);
  ASSERT_EQ(api.sendto(c, "x", 1, 0, &to), 1);
  siginfo_t si{};
  EXPECT_EQ(api.sigwaitinfo(block.set(), &si, Duration::ms(100)), -EAGAIN);
  // An owner but no O_ASYNC: still nothing.
  ASSERT_EQ(api.fcntl(u, F_SETFL, 0), 0);
  f_owner_ex owner{F_OWNER_TID, gettid_()};
  ASSERT_EQ(api.fcntl(u, F_SETOWN_EX, reinterpret_cast<intptr_t>(&owner)), 0);
  ASSERT_EQ(api.sendto(c, "y", 1, 0, &to), 1);
  EXPECT_EQ(api.sigwaitinfo(block.set(), &si, Duration::ms(100)), -EAGAIN);
}

TEST(Fasync, TcpConnectionSignalsAcceptDataAndEof) {
  const int sig = SIGRTMIN + 4;
  BlockSignal block(sig);
  RtHost h;
  SocketLayer& api = h.api();
  const Fd l = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_EQ(api.bind(l, sin(kHostAddr, 9103)), 0);
  ASSERT_EQ(api.listen(l, 8), 0);
  f_owner_ex owner{F_OWNER_TID, gettid_()};
  ASSERT_EQ(api.fcntl(l, F_SETOWN_EX, reinterpret_cast<intptr_t>(&owner)), 0);
  ASSERT_EQ(api.fcntl(l, F_SETSIG, sig), 0);
  ASSERT_EQ(api.fcntl(l, F_SETFL, O_ASYNC | O_NONBLOCK), 0);
  const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(api.connect(c, sin(kHostAddr, 9103)), 0);
  siginfo_t si{};
  ASSERT_EQ(api.sigwaitinfo(block.set(), &si, Duration::s(5)), sig);
  EXPECT_EQ(api.fasync_fd(si.si_fd), l);
  const Fd a = api.accept(l, nullptr, SOCK_NONBLOCK);
  ASSERT_GT(a, 0);
  ASSERT_EQ(api.fcntl(a, F_SETOWN_EX, reinterpret_cast<intptr_t>(&owner)), 0);
  ASSERT_EQ(api.fcntl(a, F_SETSIG, sig), 0);
  ASSERT_EQ(api.fcntl(a, F_SETFL, O_ASYNC | O_NONBLOCK), 0);
  ASSERT_EQ(api.send(c, "hello", 5, 0), 5);
  ASSERT_EQ(api.close(c), 0);
  // Collect until the accepted socket reports EOF (data then FIN; one signal may cover both).
  bool eof = false;
  std::string got;
  for (int i = 0; i < 10 && !eof; ++i) {
    const int r = api.sigwaitinfo(block.set(), &si, Duration::s(5));
    ASSERT_EQ(r, sig);
    ASSERT_EQ(api.fasync_fd(si.si_fd), a);
    char b[16];
    for (;;) {
      const ssize_t n = api.recv(a, b, sizeof b, 0);
      if (n == -EAGAIN) break;
      ASSERT_GE(n, 0);
      if (n == 0) {
        eof = true;
        break;
      }
      got.append(b, static_cast<size_t>(n));
    }
  }
  EXPECT_TRUE(eof);
  EXPECT_EQ(got, "hello");
}

}  // namespace
}  // namespace ustack::socket::test
