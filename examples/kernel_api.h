// examples/kernel_api.h — KernelApi: the Linux kernel's socket calls behind the member names and
// signatures of socket::SocketLayer, so the echo servers (echo_servers.h), the echo test suite
// and bench_models run the SAME template code over ustack and over the kernel.
//
// Conventions (SocketLayer's, see src/ustack/socket/socket.h):
//   - results are >= 0 or -errno (the libc wrappers' -1/errno folded into one value);
//   - a handle is an Fd (int64_t) holding the kernel's fd number;
//   - fasync_fd(si_fd) is the identity (the kernel's si_fd IS the fd);
//   - sigwaitinfo() is sigtimedwait(2);
//   - the asynchronous model (submit_*) would need io_uring. liburing is not installed on the
//     build machine, so the submissions report -ENOSYS and the callers skip model 5 for Linux.
// The adapter is stateless: one instance can serve any number of threads.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "ustack/base/time.h"

namespace ustack::examples {

class KernelApi {
 public:
  using Fd = int64_t;
  using CompletionFn = std::function<void(int64_t res)>;

  // The model-5 backend (io_uring) is not built: see the header comment.
  static constexpr bool kHasAsync = false;

  Fd socket(int domain, int type, int protocol) { return ret(::socket(domain, type, protocol)); }
  int bind(Fd fd, const sockaddr_in& a) { return ret(::bind(k(fd), sa(&a), sizeof a)); }
  int listen(Fd fd, int backlog) { return ret(::listen(k(fd), backlog)); }
  Fd accept(Fd fd, sockaddr_in* peer = nullptr, int flags = 0) {
    socklen_t len = sizeof(sockaddr_in);
    return ret(::accept4(k(fd), reinterpret_cast<sockaddr*>(peer), peer ? &len : nullptr, flags));
  }
  int connect(Fd fd, const sockaddr_in& a) { return ret(::connect(k(fd), sa(&a), sizeof a)); }
  ssize_t send(Fd fd, const void* buf, size_t len, int flags = 0) {
    return retz(::send(k(fd), buf, len, flags));
  }
  ssize_t recv(Fd fd, void* buf, size_t len, int flags = 0) {
    return retz(::recv(k(fd), buf, len, flags));
  }
  ssize_t sendto(Fd fd, const void* buf, size_t len, int flags, const sockaddr_in* to) {
    return retz(::sendto(k(fd), buf, len, flags, sa(to), to ? sizeof *to : 0));
  }
  ssize_t recvfrom(Fd fd, void* buf, size_t len, int flags, sockaddr_in* from) {
    socklen_t l = sizeof(sockaddr_in);
    return retz(
        ::recvfrom(k(fd), buf, len, flags, reinterpret_cast<sockaddr*>(from), from ? &l : nullptr));
  }
  ssize_t sendmsg(Fd fd, const msghdr* msg, int flags) {
    return retz(::sendmsg(k(fd), msg, flags));
  }
  ssize_t recvmsg(Fd fd, msghdr* msg, int flags) { return retz(::recvmsg(k(fd), msg, flags)); }
  int shutdown(Fd fd, int how) { return ret(::shutdown(k(fd), how)); }
  int close(Fd fd) { return ret(::close(k(fd))); }
  int getsockname(Fd fd, sockaddr_in* a) {
    socklen_t l = sizeof *a;
    return ret(::getsockname(k(fd), reinterpret_cast<sockaddr*>(a), &l));
  }
  int getpeername(Fd fd, sockaddr_in* a) {
    socklen_t l = sizeof *a;
    return ret(::getpeername(k(fd), reinterpret_cast<sockaddr*>(a), &l));
  }
  int setsockopt(Fd fd, int level, int name, const void* val, socklen_t len) {
    return ret(::setsockopt(k(fd), level, name, val, len));
  }
  int getsockopt(Fd fd, int level, int name, void* val, socklen_t* len) {
    return ret(::getsockopt(k(fd), level, name, val, len));
  }
  int fcntl(Fd fd, int cmd, intptr_t arg = 0) { return ret(::fcntl(k(fd), cmd, arg)); }
  int ioctl(Fd fd, unsigned long req, void* arg) { return ret(::ioctl(k(fd), req, arg)); }

  // ---- multiplexing ---------------------------------------------------------------------------
  Fd epoll_create1(int flags) { return ret(::epoll_create1(flags)); }
  int epoll_ctl(Fd epfd, int op, Fd fd, epoll_event* ev) {
    return ret(::epoll_ctl(k(epfd), op, k(fd), ev));
  }
  int epoll_wait(Fd epfd, epoll_event* events, int maxevents, int timeout_ms) {
    for (;;) {
      const int n = ::epoll_wait(k(epfd), events, maxevents, timeout_ms);
      if (n >= 0 || errno != EINTR) return ret(n);
    }
  }

  // ---- signal-driven I/O ----------------------------------------------------------------------
  int sigwaitinfo(const sigset_t& set, siginfo_t* info, std::optional<Duration> timeout) {
    timespec ts{};
    if (timeout) {
      ts.tv_sec = timeout->nanos() / 1'000'000'000;
      ts.tv_nsec = timeout->nanos() % 1'000'000'000;
    }
    return ret(::sigtimedwait(&set, info, timeout ? &ts : nullptr));
  }
  Fd fasync_fd(int sig_fd) const { return sig_fd; }

  // ---- asynchronous I/O (not available: no liburing) ------------------------------------------
  int64_t submit_accept(Fd, sockaddr_in*, CompletionFn) { return -ENOSYS; }
  int64_t submit_connect(Fd, const sockaddr_in&, CompletionFn) { return -ENOSYS; }
  int64_t submit_recv(Fd, std::span<uint8_t>, int, CompletionFn) { return -ENOSYS; }
  int64_t submit_send(Fd, std::span<const uint8_t>, int, CompletionFn) { return -ENOSYS; }
  int cancel(int64_t) { return -ENOSYS; }

 private:
  static int k(Fd fd) { return static_cast<int>(fd); }
  static const sockaddr* sa(const sockaddr_in* a) { return reinterpret_cast<const sockaddr*>(a); }
  static int ret(int r) { return r >= 0 ? r : -errno; }
  static ssize_t retz(ssize_t r) { return r >= 0 ? r : -errno; }
};

}  // namespace ustack::examples
