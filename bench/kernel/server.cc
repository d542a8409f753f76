// bench/kernel/server.cc — bench_kernel's server: accepts on every listening port, reads the
// first byte of each connection to learn its workload, then sinks and verifies (bulk), echoes
// (rr, crr) or holds (idle). See server.h for the threading and kernel_common.h for the protocol.
#include "server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kernel_common.h"

namespace bench_kernel {

namespace {
constexpr size_t kReadBuf = 256 * 1024;  // bulk: fewer, larger reads (loopback moves 64 KiB skbs)
constexpr int kMaxEvents = 256;
}  // namespace

struct Server::Conn {
  enum class Kind { kListener, kStop, kStream, kClosed };
  Kind kind = Kind::kStream;
  int fd = -1;
  char mode = 0;  // 0 until the first byte arrived
  // Bulk sink.
  uint64_t offset = 0;
  int64_t first_ns = 0;
  int64_t last_ns = 0;
  int64_t cpu_ns = 0;  // this thread's CPU time spent on this connection's reads
  int64_t bad_at = -1;
  // Echo: bytes the socket did not take yet (then reading pauses until they are gone).
  std::vector<uint8_t> pending;
};

Server::Server(const std::string& bind_addr, int first_port, int nports) : buf_(kReadBuf) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) fatal_errno(errno, "server: epoll_create1");
  for (int i = 0; i < nports; ++i) {
    const int port = first_port == 0 ? 0 : first_port + i;
    socklen_t len = 0;
    sockaddr_storage sa = make_addr(bind_addr, port, &len);
    const int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fatal_errno(errno, "server: socket");
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // restart over TIME-WAIT
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0)
      fatal_errno(errno, "server: bind %s port %d", bind_addr.c_str(), port);
    // The backlog is capped by net.core.somaxconn; clients keep their connects in flight below.
    if (::listen(fd, 65535) != 0) fatal_errno(errno, "server: listen");
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ports_.push_back(ntohs(sa.ss_family == AF_INET
                               ? reinterpret_cast<sockaddr_in*>(&sa)->sin_port
                               : reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port));
    auto* c = new Conn;
    c->kind = Conn::Kind::kListener;
    c->fd = fd;
    epoll_event ev{.events = EPOLLIN, .data = {.ptr = c}};
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) fatal_errno(errno, "server: epoll_ctl");
    listen_fds_.push_back(fd);
    if (conns_.size() <= static_cast<size_t>(fd)) conns_.resize(fd + 1, nullptr);
    conns_[fd] = c;
  }
}

Server::~Server() {
  for (Conn* c : closed_) delete c;
  delete family_stop_;
  for (Conn* c : conns_) {
    if (c == nullptr) continue;
    ::close(c->fd);
    delete c;
  }
  if (epfd_ >= 0) ::close(epfd_);
}

void Server::enable_spill(size_t max_open) {
  max_open_ = max_open;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fatal_errno(errno, "server: pipe");
  family_r_ = fds[0];
  family_w_ = fds[1];
  ::signal(SIGCHLD, SIG_IGN);  // spilled children are reaped by the kernel
}

void Server::run(int stop_fd, int64_t deadline_ns) {
  stop_fd_ = stop_fd;
  Conn stop;
  stop.kind = Conn::Kind::kStop;
  stop.fd = stop_fd;
  if (stop_fd >= 0) {
    epoll_event ev{.events = EPOLLIN, .data = {.ptr = &stop}};
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, stop_fd, &ev) != 0)
      fatal_errno(errno, "server: epoll_ctl (stop)");
  }
  epoll_event events[kMaxEvents];
  bool running = true;
  while (running) {
    int timeout_ms = -1;
    if (deadline_ns > 0) {
      const int64_t left = deadline_ns - monotonic_ns();
      if (left <= 0) break;
      timeout_ms = static_cast<int>(std::min<int64_t>(left / 1'000'000 + 1, 1000));
    }
    const int n = ::epoll_wait(epfd_, events, kMaxEvents, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal_errno(errno, "server: epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(events[i].data.ptr);
      switch (c->kind) {
        case Conn::Kind::kStop:
          running = false;
          break;
        case Conn::Kind::kListener:
          accept_all(c->fd);
          break;
        case Conn::Kind::kClosed:
          break;  // closed earlier in this batch; freed after it (closed_)
        case Conn::Kind::kStream:
          if ((events[i].events & EPOLLOUT) != 0)
            on_writable(c);
          else
            on_readable(c);
          break;
      }
    }
    for (Conn* c : closed_) delete c;
    closed_.clear();
    if (!first_ && !accepting_ && open_ == 0) break;  // a spilled process with nothing left
  }
  if (stop_fd_ >= 0) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, stop_fd_, nullptr);
  for (Conn*& c : conns_) {
    if (c == nullptr || c->kind != Conn::Kind::kStream) continue;
    ::close(c->fd);
    delete c;
    c = nullptr;
  }
}

void Server::accept_all(int listen_fd) {
  while (accepting_) {
    if (max_open_ > 0 && open_ >= max_open_) {
      spill();
      return;
    }
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
      if ((errno == EMFILE || errno == ENFILE) && !warned_emfile_) {
        warned_emfile_ = true;  // the client times out with its own error; say why here
        std::fprintf(stderr, "bench_kernel server: accept: %s (RLIMIT_NOFILE / fs.file-max)\n",
                     std::strerror(errno));
      }
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // echo replies go out now
    auto* c = new Conn;
    c->fd = fd;
    epoll_event ev{.events = EPOLLIN, .data = {.ptr = c}};
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) fatal_errno(errno, "server: epoll_ctl");
    if (conns_.size() <= static_cast<size_t>(fd)) conns_.resize(fd + 1 + fd / 2, nullptr);
    conns_[fd] = c;
    ++open_;
  }
}

void Server::spill() {
  for (const int fd : listen_fds_) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  accepting_ = false;
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "bench_kernel server: fork at %zu connections: %s\n", open_,
                 std::strerror(errno));
    return;  // clients beyond this time out with their own error
  }
  if (pid > 0) return;  // the parent keeps serving what it holds
  // The child: the new acceptor, holding none of the parent's connections.
  first_ = false;
  if (family_w_ >= 0) ::close(family_w_);
  family_w_ = -1;
  if (stop_fd_ >= 0) ::close(stop_fd_);  // the signalfd or --local pipe is the first's business
  stop_fd_ = -1;
  ::close(epfd_);
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) fatal_errno(errno, "server: epoll_create1");
  for (Conn*& c : conns_) {
    if (c == nullptr || c->kind != Conn::Kind::kStream) continue;
    ::close(c->fd);
    c->kind = Conn::Kind::kClosed;  // events of the current batch may still point at it
    closed_.push_back(c);
    c = nullptr;
  }
  open_ = 0;
  for (const int fd : listen_fds_) {
    epoll_event ev{.events = EPOLLIN, .data = {.ptr = conns_[fd]}};
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) fatal_errno(errno, "server: epoll_ctl");
  }
  if (family_stop_ == nullptr) family_stop_ = new Conn;
  family_stop_->kind = Conn::Kind::kStop;
  family_stop_->fd = family_r_;
  epoll_event ev{.events = EPOLLIN, .data = {.ptr = family_stop_}};
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, family_r_, &ev) != 0)
    fatal_errno(errno, "server: epoll_ctl");
  accepting_ = true;
}

void Server::on_readable(Conn* c) {
  // The bulk sink drains the socket (a short read means it is empty); the others read once.
  while (true) {
    const int64_t cpu0 = c->mode == kModeBulk ? thread_cpu_ns() : 0;
    const ssize_t n = ::read(c->fd, buf_.data(), buf_.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      close_conn(c);  // ECONNRESET (idle clients abort with RST): nothing to report
      return;
    }
    if (n == 0) {
      if (c->mode == kModeBulk) finish_bulk(c);
      close_conn(c);
      return;
    }
    const uint8_t* data = buf_.data();
    size_t len = static_cast<size_t>(n);
    if (c->mode == 0) {
      c->mode = static_cast<char>(data[0]);
      ++data;
      --len;
      if (c->mode == kModeIdle) {
        const char ack = kIdleAck;
        if (::write(c->fd, &ack, 1) != 1) {
          close_conn(c);
          return;
        }
      } else if (c->mode != kModeBulk && c->mode != kModeEcho) {
        close_conn(c);  // not one of ours: drop it
        return;
      }
    }
    if (c->mode == kModeBulk) {
      const int64_t now = monotonic_ns();
      handle_bulk(c, data, len, now);
      c->cpu_ns += thread_cpu_ns() - cpu0;
      if (static_cast<size_t>(n) < buf_.size()) return;
      continue;
    }
    if (c->mode == kModeEcho) handle_echo(c, data, len);
    return;
  }
}

void Server::handle_bulk(Conn* c, const uint8_t* data, size_t n, int64_t now) {
  if (n == 0) return;
  if (c->first_ns == 0) c->first_ns = now;
  c->last_ns = now;
  if (c->bad_at < 0) {
    size_t done = 0;
    while (done < n) {
      const size_t piece = std::min(n - done, kPatternSlack);
      if (std::memcmp(data + done, pattern_at(c->offset + done), piece) != 0) {
        size_t k = 0;
        while (data[done + k] == pattern_at(c->offset + done)[k]) ++k;
        c->bad_at = static_cast<int64_t>(c->offset + done + k);
        break;
      }
      done += piece;
    }
  }
  c->offset += n;
}

void Server::finish_bulk(Conn* c) {
  char report[160];
  const int len = std::snprintf(
      report, sizeof report, "bytes=%llu ns=%lld cpu_ns=%lld bad_at=%lld\n",
      static_cast<unsigned long long>(c->offset), static_cast<long long>(c->last_ns - c->first_ns),
      static_cast<long long>(c->cpu_ns), static_cast<long long>(c->bad_at));
  // The send buffer is empty (the sink never wrote): a short line always fits at once.
  if (::write(c->fd, report, static_cast<size_t>(len)) != len)
    std::fprintf(stderr, "bench_kernel server: bulk report not sent: %s\n", std::strerror(errno));
}

void Server::handle_echo(Conn* c, const uint8_t* data, size_t n) {
  if (n == 0) return;
  const ssize_t w = ::write(c->fd, data, n);
  if (w < 0 && errno != EAGAIN) {
    close_conn(c);
    return;
  }
  const size_t sent = w < 0 ? 0 : static_cast<size_t>(w);
  if (sent == n) return;
  c->pending.assign(data + sent, data + n);
  epoll_event ev{.events = EPOLLOUT, .data = {.ptr = c}};
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd, &ev);
}

void Server::on_writable(Conn* c) {
  const ssize_t w = ::write(c->fd, c->pending.data(), c->pending.size());
  if (w < 0) {
    if (errno != EAGAIN) close_conn(c);
    return;
  }
  c->pending.erase(c->pending.begin(), c->pending.begin() + w);
  if (!c->pending.empty()) return;
  epoll_event ev{.events = EPOLLIN, .data = {.ptr = c}};
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd, &ev);
}

void Server::close_conn(Conn* c) {
  conns_[c->fd] = nullptr;
  --open_;
  ::close(c->fd);  // also removes it from the epoll set
  c->kind = Conn::Kind::kClosed;
  closed_.push_back(c);  // this epoll_wait batch may still hold an event pointing at it
}

}  // namespace bench_kernel
