// socket/socket_calls.cc — the BSD calls (sys_socket ... sys_close), blocking and not.
//
// Every call: take the stack lock, resolve the handle (a stale one is -EBADF), pin the socket
// (refs) so a close() from another thread cannot free it under a sleeping caller, do the
// work, and kick the driver (the call may have queued data or armed a timer).
//
// A blocking call is a loop: try the non-blocking operation; on EAGAIN link a Waiter on the
// socket's wait queue and sleep (SocketEnv::sleep releases the lock); the socket's wakeup
// callback (run on the stack thread) wakes it; try again. The Waiter is linked before the lock
// is released, so no wakeup is lost between the check and the sleep (prepare_to_wait()).
#include <algorithm>

#include "ustack/socket/socket_internal.h"

namespace ustack::socket {

using transport::TcpState;
using wire::Ipv4Addr;

namespace {

Ipv4Addr addr_of(const sockaddr_in& a) { return Ipv4Addr{ntohl(a.sin_addr.s_addr)}; }

void fill(sockaddr_in* out, Ipv4Addr a, uint16_t port) {
  if (out == nullptr) return;
  *out = sockaddr_in{};
  out->sin_family = AF_INET;
  out->sin_addr.s_addr = htonl(a.v);
  out->sin_port = htons(port);
}

bool valid_sin(const sockaddr_in& a) { return a.sin_family == AF_INET; }

}  // namespace

// ---- waiting --------------------------------------------------------------------------------

int SocketLayer::wait_for(Socket* s, uint32_t mask, Instant deadline) {
  if (!env_->can_sleep()) {
    ++stats_.cannot_sleep;
    return -EAGAIN;
  }
  if (env_->now() >= deadline) return -EAGAIN;
  Waiter w;
  {
    ScopedWait link(s->wq, w);
    // Re-check under the lock with the waiter linked: a change between the caller's attempt
    // and here is either visible now or will wake us.
    if ((poll_mask(*s) & (mask | EPOLLERR | EPOLLHUP)) == 0 && !s->closed) {
      ++stats_.sleeps;
      env_->kick();  // what this call queued must not wait for our wakeup
      env_->sleep(w, deadline);
    }
  }
  if (s->closed) return -EBADF;
  return 0;
}

void SocketLayer::wake(Socket* s, Instant now, uint32_t mask) {
  (void)now;
  ++stats_.wakeups;
  s->wq.wake_all(*env_);
  if (s->ep_items != nullptr) ep_poll_callback(s, mask);
  if ((s->file_flags & O_ASYNC) != 0) send_sigio(s, mask);
  if (s->async_ops != nullptr) async_kick(s);
}

void SocketLayer::attach_tcp(Socket* s) {
  s->tcp->set_wakeup([this, s](Instant now, uint32_t mask) { wake(s, now, mask); });
}

void SocketLayer::attach_udp(Socket* s) {
  s->udp->on_readable([this, s](Instant now) { wake(s, now, poll_mask(*s)); });
}

// ---- socket / bind / listen -----------------------------------------------------------------

Fd SocketLayer::socket(int domain, int type, int protocol) {
  SocketCall call(*env_);
  // __sys_socket: flag bits other than SOCK_NONBLOCK/SOCK_CLOEXEC, or a type beyond
  // SOCK_MAX, are EINVAL before the family is looked at.
  constexpr int kSockTypeMask = 0xf;
  constexpr int kSockMax = SOCK_PACKET + 1;
  const int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (((type & ~kSockTypeMask) & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return -EINVAL;
  const int kind = type & kSockTypeMask;
  if (kind >= kSockMax) return -EINVAL;
  if (domain != AF_INET) return -EAFNOSUPPORT;
  if (open_ >= cfg_.max_sockets) return -EMFILE;
  auto s = std::make_unique<Socket>();
  if (kind == SOCK_STREAM) {
    if (protocol != 0 && protocol != IPPROTO_TCP) return -EPROTONOSUPPORT;
    s->kind = SockKind::kTcp;
    s->tcp = tcp_.open();
    attach_tcp(s.get());
  } else if (kind == SOCK_DGRAM) {
    if (protocol != 0 && protocol != IPPROTO_UDP) return -EPROTONOSUPPORT;
    s->kind = SockKind::kUdp;
    s->udp = udp_.open();
    attach_udp(s.get());
  } else {
    return -ESOCKTNOSUPPORT;
  }
  if ((flags & SOCK_NONBLOCK) != 0) s->file_flags |= O_NONBLOCK;
  if ((flags & SOCK_CLOEXEC) != 0) s->fd_flags |= FD_CLOEXEC;
  return install(std::move(s));
}

int SocketLayer::bind(Fd fd, const sockaddr_in& addr) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  if (!valid_sin(addr)) return -EAFNOSUPPORT;
  const uint16_t port = ntohs(addr.sin_port);
  Result<void, int> r = Err{ENOTSOCK};
  if (s->kind == SockKind::kTcp) {
    r = s->tcp->bind(addr_of(addr), port);
  } else if (s->kind == SockKind::kUdp) {
    r = s->udp->bind(addr_of(addr), port);
  }
  return r ? 0 : -r.error();
}

int SocketLayer::listen(Fd fd, int backlog) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  if (s->kind != SockKind::kTcp) return s->kind == SockKind::kUdp ? -EOPNOTSUPP : -ENOTSOCK;
  auto r = s->tcp->listen(backlog);
  return r ? 0 : -r.error();
}

// ---- accept / connect -----------------------------------------------------------------------

Fd SocketLayer::do_accept(Socket* s, sockaddr_in* peer, int flags, bool may_block) {
  if (s->kind != SockKind::kTcp) return s->kind == SockKind::kUdp ? -EOPNOTSUPP : -ENOTSOCK;
  if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return -EINVAL;
  const Instant deadline = deadline_after(env_->now(), s->rcvtimeo());
  for (;;) {
    auto r = s->tcp->accept();
    if (r) {
      if (open_ >= cfg_.max_sockets) {
        // The connection was established for nothing: reset it, as a full fd table would.
        tcp_.abort(env_->now(), *r);
        return -EMFILE;
      }
      auto child = std::make_unique<Socket>();
      child->kind = SockKind::kTcp;
      child->tcp = *r;
      if ((flags & SOCK_NONBLOCK) != 0) child->file_flags |= O_NONBLOCK;
      if ((flags & SOCK_CLOEXEC) != 0) child->fd_flags |= FD_CLOEXEC;
      attach_tcp(child.get());
      fill(peer, child->tcp->peer_addr(), child->tcp->peer_port());
      return install(std::move(child));
    }
    if (r.error() != EAGAIN || !may_block || s->nonblocking(0)) return -r.error();
    if (int w = wait_for(s, EPOLLIN, deadline); w != 0) return w;
  }
}

Fd SocketLayer::accept(Fd fd, sockaddr_in* peer, int flags) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  return do_accept(s.get(), peer, flags, true);
}

int SocketLayer::connect(Fd fd, const sockaddr_in& addr) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  if (s->kind == SockKind::kUdp) {
    if (addr.sin_family == AF_UNSPEC) return -EINVAL;  // dissolving an association: not done
    if (!valid_sin(addr)) return -EAFNOSUPPORT;
    auto r = s->udp->connect(env_->now(), addr_of(addr), ntohs(addr.sin_port));
    return r ? 0 : -r.error();
  }
  if (s->kind != SockKind::kTcp) return -ENOTSOCK;
  if (!valid_sin(addr)) return -EAFNOSUPPORT;
  auto r = s->tcp->connect(env_->now(), addr_of(addr), ntohs(addr.sin_port));
  if (!r) {
    // A non-blocking connect that already failed reports the error through SO_ERROR once;
    // calling connect() again gets it too (Linux returns the sk_err of a failed attempt).
    return -r.error();
  }
  if (s->nonblocking(0)) return -EINPROGRESS;
  // inet_wait_for_connect: until the handshake ends, an error, or SO_SNDTIMEO.
  const Instant deadline = deadline_after(env_->now(), s->sndtimeo());
  for (;;) {
    const TcpState st = s->tcp->state();
    if (st != TcpState::kSynSent && st != TcpState::kSynReceived) {
      if (int e = s->tcp->take_error(); e != 0) return -e;
      return st == TcpState::kClosed ? -ECONNREFUSED : 0;
    }
    if (int w = wait_for(s.get(), EPOLLOUT, deadline); w != 0) {
      return w == -EAGAIN ? -EINPROGRESS : w;
    }
  }
}

// ---- data -----------------------------------------------------------------------------------

ssize_t SocketLayer::do_send(Socket* s, std::span<const uint8_t> data, int flags) {
  if (s->kind == SockKind::kEpoll) return -ENOTSOCK;
  if (s->kind == SockKind::kUdp) return -EINVAL;  // UDP goes through sendto paths
  const Instant deadline = deadline_after(env_->now(), s->sndtimeo());
  size_t done = 0;
  for (;;) {
    auto r = s->tcp->send(env_->now(), data.subspan(done));
    if (r) {
      done += *r;
      if (done == data.size() || s->nonblocking(flags)) return static_cast<ssize_t>(done);
      continue;  // the buffer took part: try again, then wait for space
    }
    if (done > 0 && r.error() != EAGAIN) return static_cast<ssize_t>(done);
    if (r.error() != EAGAIN) {
      // sk_stream_wait_connect: a socket that is neither connected nor connecting (never
      // connected, or a listener) is EPIPE, as one whose connection is gone.
      const int e = r.error() == ENOTCONN ? EPIPE : r.error();
      if (e == EPIPE) raise_sigpipe(flags);
      return -e;
    }
    if (s->nonblocking(flags)) return done > 0 ? static_cast<ssize_t>(done) : -EAGAIN;
    if (int w = wait_for(s, EPOLLOUT, deadline); w != 0) {
      return done > 0 ? static_cast<ssize_t>(done) : w;
    }
  }
}

ssize_t SocketLayer::do_recv(Socket* s, std::span<uint8_t> out, int flags, sockaddr_in* from,
                             int* msg_flags) {
  if ((flags & ~(MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_TRUNC | MSG_NOSIGNAL)) != 0) {
    return -EOPNOTSUPP;  // MSG_OOB and friends: urgent data is not implemented
  }
  const bool peek = (flags & MSG_PEEK) != 0;
  const Instant deadline = deadline_after(env_->now(), s->rcvtimeo());
  if (s->kind == SockKind::kEpoll) return -ENOTSOCK;
  if (s->kind == SockKind::kUdp) {
    for (;;) {
      if (int e = s->udp->take_error(); e != 0) return -e;
      Ipv4Addr a;
      uint16_t port = 0;
      auto n = s->udp->recv_into(out, &a, &port, peek);
      if (n) {
        fill(from, a, port);
        if (*n > out.size() && msg_flags != nullptr) *msg_flags |= MSG_TRUNC;
        // MSG_TRUNC asks for the datagram's real length.
        const size_t ret = (flags & MSG_TRUNC) != 0 ? *n : std::min(*n, out.size());
        return static_cast<ssize_t>(ret);
      }
      if (s->nonblocking(flags)) return -EAGAIN;
      if (int w = wait_for(s, EPOLLIN, deadline); w != 0) return w;
    }
  }
  if (s->tcp->state() == TcpState::kListen) return -ENOTCONN;  // recv on a listener
  // tcp_recvmsg: copy until the target (SO_RCVLOWAT, or everything with MSG_WAITALL) is met;
  // a non-blocking call returns whatever it got.
  const bool waitall = (flags & MSG_WAITALL) != 0 && !peek;
  const size_t target =
      waitall ? out.size() : std::min<size_t>(static_cast<size_t>(s->rcvlowat), out.size());
  size_t copied = 0;
  for (;;) {
    auto r = s->tcp->recv(env_->now(), out.subspan(copied), peek);
    if (r) {
      if (*r == 0) return static_cast<ssize_t>(copied);  // end of stream
      copied += *r;
      if (peek || copied >= target || copied == out.size()) return static_cast<ssize_t>(copied);
      if (s->nonblocking(flags)) return static_cast<ssize_t>(copied);
      continue;
    }
    if (r.error() != EAGAIN) return copied > 0 ? static_cast<ssize_t>(copied) : -r.error();
    if (s->nonblocking(flags)) return copied > 0 ? static_cast<ssize_t>(copied) : -EAGAIN;
    if (int w = wait_for(s, EPOLLIN | EPOLLRDHUP, deadline); w != 0) {
      return copied > 0 ? static_cast<ssize_t>(copied) : w;
    }
  }
}

ssize_t SocketLayer::send(Fd fd, const void* buf, size_t len, int flags) {
  return sendto(fd, buf, len, flags, nullptr);
}

ssize_t SocketLayer::recv(Fd fd, void* buf, size_t len, int flags) {
  return recvfrom(fd, buf, len, flags, nullptr);
}

ssize_t SocketLayer::sendto(Fd fd, const void* buf, size_t len, int flags, const sockaddr_in* to) {
  iovec iov{const_cast<void*>(buf), len};
  msghdr m{};
  m.msg_name = const_cast<sockaddr_in*>(to);
  m.msg_namelen = to != nullptr ? sizeof(*to) : 0;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  return sendmsg(fd, &m, flags);
}

ssize_t SocketLayer::recvfrom(Fd fd, void* buf, size_t len, int flags, sockaddr_in* from) {
  iovec iov{buf, len};
  msghdr m{};
  m.msg_name = from;
  m.msg_namelen = from != nullptr ? sizeof(*from) : 0;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  return recvmsg(fd, &m, flags);
}

ssize_t SocketLayer::sendmsg(Fd fd, const msghdr* msg, int flags) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  if (msg == nullptr || (msg->msg_iovlen > 0 && msg->msg_iov == nullptr)) return -EFAULT;
  if ((flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_EOR)) != 0) return -EOPNOTSUPP;
  const auto* to = static_cast<const sockaddr_in*>(msg->msg_name);
  if (to != nullptr && msg->msg_namelen < sizeof(sockaddr_in)) return -EINVAL;
  if (s->kind == SockKind::kUdp) {
    // One datagram from all the iovecs (gathered: UDP needs the whole payload to checksum).
    std::vector<uint8_t> dgram;
    for (size_t i = 0; i < msg->msg_iovlen; ++i) {
      const auto* p = static_cast<const uint8_t*>(msg->msg_iov[i].iov_base);
      dgram.insert(dgram.end(), p, p + msg->msg_iov[i].iov_len);
    }
    Ipv4Addr dst;
    uint16_t port = 0;
    if (to != nullptr) {
      if (!valid_sin(*to)) return -EAFNOSUPPORT;
      dst = addr_of(*to);
      port = ntohs(to->sin_port);
    }
    auto r = s->udp->sendto(env_->now(), dgram, dst, port);
    return r ? static_cast<ssize_t>(*r) : -r.error();
  }
  if (s->kind != SockKind::kTcp) return -ENOTSOCK;
  // TCP ignores a destination once connected (Linux: EISCONN only for TFO); each iovec is
  // copied in turn straight into the send buffer.
  ssize_t total = 0;
  for (size_t i = 0; i < msg->msg_iovlen; ++i) {
    const auto* p = static_cast<const uint8_t*>(msg->msg_iov[i].iov_base);
    const size_t n = msg->msg_iov[i].iov_len;
    if (n == 0) continue;
    ssize_t r = do_send(s.get(), {p, n}, flags);
    if (r < 0) return total > 0 ? total : r;
    total += r;
    if (static_cast<size_t>(r) < n) break;  // the buffer is full (non-blocking) or timed out
  }
  return total;
}

ssize_t SocketLayer::recvmsg(Fd fd, msghdr* msg, int flags) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  if (msg == nullptr || (msg->msg_iovlen > 0 && msg->msg_iov == nullptr)) return -EFAULT;
  auto* from = static_cast<sockaddr_in*>(msg->msg_name);
  if (from != nullptr && msg->msg_namelen < sizeof(sockaddr_in)) return -EINVAL;
  msg->msg_flags = 0;
  msg->msg_controllen = 0;
  if (msg->msg_iovlen == 1 || s->kind == SockKind::kUdp) {
    if (s->kind == SockKind::kUdp && msg->msg_iovlen > 1) {
      // Scatter one datagram over the iovecs: receive into a bounce buffer of their total size.
      size_t cap = 0;
      for (size_t i = 0; i < msg->msg_iovlen; ++i) cap += msg->msg_iov[i].iov_len;
      std::vector<uint8_t> tmp(cap);
      ssize_t n = do_recv(s.get(), tmp, flags, from, &msg->msg_flags);
      if (n < 0) return n;
      size_t off = 0;
      const size_t have = std::min(static_cast<size_t>(n), cap);
      for (size_t i = 0; i < msg->msg_iovlen && off < have; ++i) {
        const size_t k = std::min(msg->msg_iov[i].iov_len, have - off);
        std::copy_n(tmp.data() + off, k, static_cast<uint8_t*>(msg->msg_iov[i].iov_base));
        off += k;
      }
      if (from != nullptr) msg->msg_namelen = sizeof(sockaddr_in);
      return n;
    }
    std::span<uint8_t> out;
    if (msg->msg_iovlen == 1) {
      out = {static_cast<uint8_t*>(msg->msg_iov[0].iov_base), msg->msg_iov[0].iov_len};
    }
    ssize_t n = do_recv(s.get(), out, flags, from, &msg->msg_flags);
    if (n >= 0 && from != nullptr) {
      if (s->kind == SockKind::kTcp) fill(from, s->tcp->peer_addr(), s->tcp->peer_port());
      msg->msg_namelen = sizeof(sockaddr_in);
    }
    return n;
  }
  // TCP over several iovecs: fill them in order; only the first may wait (later ones take
  // what is there), unless MSG_WAITALL asks for all of it.
  ssize_t total = 0;
  for (size_t i = 0; i < msg->msg_iovlen; ++i) {
    const size_t n = msg->msg_iov[i].iov_len;
    if (n == 0) continue;
    int f = flags;
    if (total > 0 && (flags & MSG_WAITALL) == 0) f |= MSG_DONTWAIT;
    ssize_t r = do_recv(s.get(), {static_cast<uint8_t*>(msg->msg_iov[i].iov_base), n}, f, nullptr,
                        &msg->msg_flags);
    if (r < 0) {
      if (total > 0) break;
      return r;
    }
    total += r;
    if (static_cast<size_t>(r) < n || (flags & MSG_PEEK) != 0) break;
  }
  if (from != nullptr) {
    fill(from, s->tcp->peer_addr(), s->tcp->peer_port());
    msg->msg_namelen = sizeof(sockaddr_in);
  }
  return total;
}

// ---- shutdown / close -----------------------------------------------------------------------

int SocketLayer::shutdown(Fd fd, int how) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  if (how < SHUT_RD || how > SHUT_RDWR) return -EINVAL;
  if (s->kind == SockKind::kUdp) {
    // Linux lets a connected UDP socket shut down (recv then returns 0); unconnected: ENOTCONN.
    return s->udp->peer_port() != 0 ? 0 : -ENOTCONN;
  }
  if (s->kind != SockKind::kTcp) return -ENOTSOCK;
  auto r = s->tcp->shutdown(env_->now(), how);
  return r ? 0 : -r.error();
}

int SocketLayer::do_close(Socket* s) {
  // The handle dies first (as close(2) removes the fd before the file is released): a second
  // close() is -EBADF, and callers sleeping on the socket wake up to -EBADF.
  release(s);
  async_cancel_all(s);
  if (s->ep_items != nullptr) ep_remove_all(s);
  int ret = 0;
  switch (s->kind) {
    case SockKind::kEpoll:
      ep_release(s);
      break;
    case SockKind::kUdp:
      s->udp->on_readable(nullptr);
      udp_.close(s->udp);
      s->udp = nullptr;
      break;
    case SockKind::kTcp: {
      transport::TcpSocket* t = s->tcp;
      // SO_LINGER with a time: a blocking close sends FIN and waits until everything sent is
      // acknowledged (sk_stream_wait_close), unless unread data makes the close an abort.
      const auto linger = t->linger();
      if (linger && *linger > Duration::zero() && !s->nonblocking(0) && env_->can_sleep() &&
          t->rx_available() == 0 && t->state() != TcpState::kListen) {
        (void)t->shutdown(env_->now(), SHUT_WR);
        const Instant deadline = env_->now() + *linger;
        while (!t->linger_done() && env_->now() < deadline) {
          Waiter w;
          ScopedWait link(s->wq, w);
          ++stats_.sleeps;
          env_->kick();  // what this call queued must not wait for our wakeup
          env_->sleep(w, deadline);
        }
        if (!t->linger_done()) ret = -EWOULDBLOCK;
      }
      t->set_wakeup(nullptr);
      s->tcp = nullptr;
      tcp_.close(env_->now(), t);
      break;
    }
  }
  return ret;
}

int SocketLayer::close(Fd fd) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  return do_close(s.get());
}

int SocketLayer::getsockname(Fd fd, sockaddr_in* addr) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  if (addr == nullptr) return -EFAULT;
  if (s->kind == SockKind::kTcp) {
    fill(addr, s->tcp->local_addr(), s->tcp->local_port());
  } else if (s->kind == SockKind::kUdp) {
    fill(addr, s->udp->local_addr(), s->udp->local_port());
  } else {
    return -ENOTSOCK;
  }
  return 0;
}

int SocketLayer::getpeername(Fd fd, sockaddr_in* addr) {
  SocketCall call(*env_);
  SocketPin s(lookup(fd));
  if (!s) return -EBADF;
  if (addr == nullptr) return -EFAULT;
  if (s->kind == SockKind::kTcp) {
    const TcpState st = s->tcp->state();
    if (st == TcpState::kClosed || st == TcpState::kListen || st == TcpState::kSynSent) {
      return -ENOTCONN;
    }
    fill(addr, s->tcp->peer_addr(), s->tcp->peer_port());
  } else if (s->kind == SockKind::kUdp) {
    if (s->udp->peer_port() == 0) return -ENOTCONN;
    fill(addr, s->udp->peer_addr(), s->udp->peer_port());
  } else {
    return -ENOTSOCK;
  }
  return 0;
}

}  // namespace ustack::socket
