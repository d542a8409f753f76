// socket/socket_internal.h — struct Socket (Linux's struct socket + struct file in one) and
// the pieces the socket layer's files share. Not part of the API.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <memory>

#include "ustack/socket/socket.h"
#include "ustack/transport/tcp.h"
#include "ustack/transport/udp.h"

namespace ustack::socket {

enum class SockKind : uint8_t { kTcp, kUdp, kEpoll };

struct EpItem;  // epoll.cc: one (instance, socket) registration

// Ordered by size so that nothing is padding, and the timeouts out of line (every connection
// has one of these): 104 bytes.
struct Socket {
  // SO_RCVTIMEO / SO_SNDTIMEO (zero: wait forever), allocated by the first setsockopt that
  // sets one: most sockets never do.
  struct Timeouts {
    Duration rcv = Duration::zero();
    Duration snd = Duration::zero();
  };

  Fd fd = -1;
  std::unique_ptr<Timeouts> timeo;

  transport::TcpSocket* tcp = nullptr;
  transport::UdpSocket* udp = nullptr;
  std::unique_ptr<EpollFile> ep;  // kind == kEpoll

  WaitQueue wq;                  // blocking callers, poll() and select() sleepers
  EpItem* ep_items = nullptr;    // epoll registrations of this socket (epoll.cc's list)
  AsyncOp* async_ops = nullptr;  // pending submissions, oldest first (async.cc's list)

  int refs = 0;             // calls in progress on this socket (freed at 0 once closed)
  int file_flags = O_RDWR;  // f_flags: O_NONBLOCK, O_ASYNC
  int rcvlowat = 1;         // SO_RCVLOWAT
  // fasync owner (F_SETOWN / F_SETOWN_EX) and signal (F_SETSIG; 0 means SIGIO).
  pid_t owner = 0;
  uint8_t owner_type = 0;  // F_OWNER_TID / F_OWNER_PID / F_OWNER_PGRP (0..2)
  uint8_t sig = 0;         // F_SETSIG checks 0..SIGRTMAX (64)
  uint8_t fd_flags = 0;    // FD_CLOEXEC (kept for F_GETFD; there is no exec)
  SockKind kind = SockKind::kTcp;
  bool closed = false;        // close() ran: the handle is dead, waiters must return -EBADF
  bool reuseport = false;     // SO_REUSEPORT as set (TCP/UDP binding honours it)
  bool async_queued = false;  // in SocketLayer::async_ready_

  Socket();
  ~Socket();

  Duration rcvtimeo() const { return timeo ? timeo->rcv : Duration::zero(); }
  Duration sndtimeo() const { return timeo ? timeo->snd : Duration::zero(); }
  bool nonblocking(int msg_flags) const {
    return (file_flags & O_NONBLOCK) != 0 || (msg_flags & MSG_DONTWAIT) != 0;
  }
};

// The readiness of a socket now (tcp_poll / udp_poll / ep_eventpoll_poll), EPOLL* bits.
uint32_t poll_mask(const Socket& s);

// One public call: the stack lock for its duration, and a kick of the driver on the way out
// (the call may have queued data or armed a timer; SocketEnv::kick).
class SocketCall {
 public:
  explicit SocketCall(SocketEnv& env) : env_(env) { env_.lock(); }
  ~SocketCall() {
    env_.kick();
    env_.unlock();
  }
  SocketCall(const SocketCall&) = delete;
  SocketCall& operator=(const SocketCall&) = delete;

 private:
  SocketEnv& env_;
};

// A socket pinned for the duration of one call (refs), so a close() from another thread cannot
// free it under a sleeping caller: the last unpin of a closed socket frees it.
class SocketPin {
 public:
  explicit SocketPin(Socket* s) : s_(s) {
    if (s_ != nullptr) ++s_->refs;
  }
  ~SocketPin() { unpin(s_); }
  SocketPin(const SocketPin&) = delete;
  SocketPin& operator=(const SocketPin&) = delete;
  Socket* get() const { return s_; }
  Socket* operator->() const { return s_; }
  explicit operator bool() const { return s_ != nullptr; }
  static void unpin(Socket* s) {
    if (s != nullptr && --s->refs == 0 && s->closed) delete s;
  }

 private:
  Socket* s_;
};

// A deadline from a SO_RCVTIMEO/SO_SNDTIMEO value (zero: none).
inline Instant deadline_after(Instant now, Duration timeo) {
  return timeo == Duration::zero() ? Instant::never() : now + timeo;
}

}  // namespace ustack::socket
