// socket/socket.h — SocketLayer: the BSD socket API over one stack's TCP and UDP, and the five
// ways an application can wait for it (seed 001/003; Stevens' UNP ch. 6):
//   1. blocking       recv() sleeps on the socket's wait queue until data is there and copied;
//   2. non-blocking   O_NONBLOCK / MSG_DONTWAIT: -EAGAIN instead of sleeping;
//   3. multiplexing   select(), poll(), epoll_*() (epoll.cc): wait for readiness of many;
//   4. signal-driven  O_ASYNC + F_SETOWN(_EX) + F_SETSIG (fasync.cc): a real POSIX signal;
//   5. asynchronous   submit_*() (async.cc, coro.h): completion once the data is copied.
//
// Conventions (the kernel's, so BSD-shaped code ports line by line):
//   - Calls return >= 0 on success and -errno on failure (Linux values: -EAGAIN, -EBADF...).
//   - Addresses are Linux's struct sockaddr_in; msghdr/iovec/epoll_event/tcp_info are the
//     Linux structs. Options are the Linux SOL_SOCKET / IPPROTO_TCP constants.
//   - A socket handle (Fd) is generational: 32 bits of slot and 31 of generation, never reused
//     (a slot whose generation is spent is retired). A handle kept after close() gets -EBADF
//     forever; it can never reach a newer socket that happens to sit in the same slot.
//   - No SIGPIPE unless asked: an embedded stack must not kill its host. EPIPE is returned;
//     SocketConfig::sigpipe = true raises SIGPIPE too (then MSG_NOSIGNAL suppresses it), as
//     Linux does by default.
//
// Threads (docs/architecture.md, "Threads: who owns what"): every call takes the stack lock
// (SocketEnv::lock). Under rt::Runtime application threads call in directly: the calling thread
// does the copy (phase two of a receive) and any transmission its call causes, as in Linux process
// context; the stack thread does everything driven by packets and timers. A blocking call sleeps
// with the lock released. Under sim::World the same calls run on cooperative threads on the virtual
// clock. Wakeup callbacks (epoll's ready list, wait queues, signals, completions) run on the
// stack thread with the lock held; completion callbacks may call the API again.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ustack/base/telemetry.h"
#include "ustack/base/time.h"
#include "ustack/socket/env.h"

namespace ustack::transport {
class TcpLayer;
class UdpLayer;
}  // namespace ustack::transport

namespace ustack::socket {

using Fd = int64_t;

struct SocketConfig {
  bool sigpipe = false;             // raise SIGPIPE on EPIPE (unless MSG_NOSIGNAL)
  uint32_t max_sockets = 1u << 24;  // EMFILE beyond (handles of every kind, epoll included)
};

// poll(2)'s struct pollfd with a ustack handle.
struct PollFd {
  Fd fd = -1;
  int16_t events = 0;
  int16_t revents = 0;
};

// select(2)'s fd_set for ustack handles: a small set (handles are sparse 63-bit numbers).
class FdSet {
 public:
  void set(Fd fd);
  void clr(Fd fd);
  bool isset(Fd fd) const;
  void zero() { fds_.clear(); }
  bool empty() const { return fds_.empty(); }
  const std::vector<Fd>& fds() const { return fds_; }

 private:
  std::vector<Fd> fds_;  // sorted, unique
};

// The counters `ustack host` prints (per layer, like /proc/net/sockstat plus wait statistics).
struct SocketStats {
  uint64_t opened = 0, closed = 0;
  uint64_t sleeps = 0;          // times a caller slept
  uint64_t wakeups = 0;         // socket wakeup callbacks fanned out
  uint64_t ebadf = 0;           // calls with a stale or unknown handle
  uint64_t cannot_sleep = 0;    // blocking calls made where nothing may sleep (-EAGAIN)
  uint64_t signals_sent = 0;    // fasync signals delivered (kill/tgkill)
  uint64_t signals_failed = 0;  // ... that the kernel refused (owner gone)
  uint64_t async_completed = 0, async_cancelled = 0;
  uint64_t epoll_events = 0;  // events reported by epoll_wait
};

class SocketLayer;
struct Socket;     // socket_internal.h
struct EpollFile;  // epoll.cc
struct AsyncOp;    // async.cc

// What a completion callback gets: the call's result (bytes, a new Fd for accept, 0 for
// connect) or -errno.
using CompletionFn = std::function<void(int64_t res)>;

class SocketLayer {
 public:
  SocketLayer(transport::TcpLayer& tcp, transport::UdpLayer& udp, Telemetry& tel,
              SocketConfig cfg = {});
  ~SocketLayer();
  SocketLayer(const SocketLayer&) = delete;
  SocketLayer& operator=(const SocketLayer&) = delete;

  // ---- the driver -------------------------------------------------------------------------
  // Runners install their env (rt::Runtime, sim::World); nullptr restores the built-in
  // ManualEnv. Not thread-safe: install before application threads start.
  void set_env(SocketEnv* env);
  SocketEnv& env() { return *env_; }
  // Stack::poll calls this last, on the stack thread with the lock held: the ManualEnv's clock
  // follows `now`, and deferred work (async completions) runs.
  void poll(Instant now);
  // True when poll() has deferred work at the stack's current instant.
  bool has_work() const;

  // ---- sockets (socket_calls.cc) ----------------------------------------------------------
  // socket(AF_INET, SOCK_STREAM | SOCK_DGRAM [| SOCK_NONBLOCK | SOCK_CLOEXEC], 0 or the
  // protocol). EAFNOSUPPORT, ESOCKTNOSUPPORT/EPROTONOSUPPORT, EINVAL for unknown flags, EMFILE.
  Fd socket(int domain, int type, int protocol);
  int bind(Fd fd, const sockaddr_in& addr);
  int listen(Fd fd, int backlog);
  // accept4(2): flags SOCK_NONBLOCK / SOCK_CLOEXEC. Blocks unless the listener is non-blocking.
  Fd accept(Fd fd, sockaddr_in* peer = nullptr, int flags = 0);
  // Blocking: waits for the handshake (-ECONNREFUSED, -ETIMEDOUT, ...; SO_SNDTIMEO bounds the
  // wait: -EINPROGRESS then, as Linux). Non-blocking: -EINPROGRESS, then POLLOUT and SO_ERROR.
  // Again while connecting: -EALREADY; once connected: -EISCONN. UDP: sets the peer.
  int connect(Fd fd, const sockaddr_in& addr);
  ssize_t send(Fd fd, const void* buf, size_t len, int flags = 0);
  ssize_t recv(Fd fd, void* buf, size_t len, int flags = 0);
  ssize_t sendto(Fd fd, const void* buf, size_t len, int flags, const sockaddr_in* to);
  ssize_t recvfrom(Fd fd, void* buf, size_t len, int flags, sockaddr_in* from);
  // msg_name (a sockaddr_in) and msg_iov are used; msg_flags reports MSG_TRUNC for a
  // datagram longer than the iovecs.
  ssize_t sendmsg(Fd fd, const msghdr* msg, int flags);
  ssize_t recvmsg(Fd fd, msghdr* msg, int flags);
  int shutdown(Fd fd, int how);
  // close(2): the handle dies at once. TCP goes on (FIN, TIME-WAIT) as an orphan; SO_LINGER
  // with a positive time makes a blocking close wait for the ACK of everything sent (then
  // -EWOULDBLOCK on timeout, as Linux's close returns 0 but we say it); {0} sends RST.
  int close(Fd fd);
  int getsockname(Fd fd, sockaddr_in* addr);
  int getpeername(Fd fd, sockaddr_in* addr);
  // sockopt.cc. SOL_SOCKET: SO_TYPE SO_ERROR SO_RCVBUF SO_SNDBUF SO_REUSEADDR SO_REUSEPORT
  // SO_KEEPALIVE SO_LINGER SO_RCVLOWAT SO_RCVTIMEO SO_SNDTIMEO SO_ACCEPTCONN; IPPROTO_TCP:
  // TCP_NODELAY TCP_MAXSEG TCP_KEEPIDLE TCP_KEEPINTVL TCP_KEEPCNT TCP_INFO TCP_CONGESTION.
  // -ENOPROTOOPT for others, -EINVAL for a short optlen.
  int setsockopt(Fd fd, int level, int name, const void* val, socklen_t len);
  int getsockopt(Fd fd, int level, int name, void* val, socklen_t* len);
  // fcntl(2): F_GETFL / F_SETFL (O_NONBLOCK, O_ASYNC), F_GETOWN / F_SETOWN (a pid, or -pgid),
  // F_GETOWN_EX / F_SETOWN_EX (arg: f_owner_ex*), F_GETSIG / F_SETSIG, F_GETFD / F_SETFD.
  int fcntl(Fd fd, int cmd, intptr_t arg = 0);
  // ioctl(2): FIONREAD (int*), FIONBIO (int*), FIOASYNC (int*), SIOCATMARK (int*: always 0).
  int ioctl(Fd fd, unsigned long req, void* arg);

  // ---- multiplexing (epoll.cc) -------------------------------------------------------------
  // select(2) and poll(2): scan every handle (O(n)), link a wait on each socket, sleep.
  // timeout: nullopt waits forever; zero polls. select returns the number of bits set and
  // rewrites the sets; -EBADF if any handle is stale.
  int select(FdSet* rd, FdSet* wr, FdSet* ex, std::optional<Duration> timeout);
  int poll(std::span<PollFd> fds, int timeout_ms);
  // epoll(7). An epoll instance is a handle in the same table (close() it). EPOLLIN, EPOLLOUT,
  // EPOLLRDHUP, EPOLLHUP, EPOLLERR (always reported), EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE
  // (accepted, no effect). The ready list is fed by the sockets' wakeup callbacks, so a wait
  // costs O(ready), not O(registered).
  Fd epoll_create1(int flags);
  int epoll_ctl(Fd epfd, int op, Fd fd, epoll_event* ev);
  int epoll_wait(Fd epfd, epoll_event* events, int maxevents, int timeout_ms);
  // A Linux eventfd that is readable exactly while the instance has ready events: add it to an
  // ordinary kernel epoll/poll loop to mix kernel fds and ustack sockets. Owned by the instance
  // (closed with it); created on first call. -EBADF, -EINVAL if epfd is not an epoll instance.
  int epoll_notify_fd(Fd epfd);

  // ---- signal-driven I/O (fasync.cc) -------------------------------------------------------
  // With O_ASYNC set, a socket whose readiness changes sends its owner (F_SETOWN) the signal
  // F_SETSIG chose (SIGIO if 0). With a signal number set, the siginfo carries si_fd (the
  // handle's slot bits: use fasync_fd() to map back) and si_band (the poll mask, EPOLLIN...);
  // si_code is SI_QUEUE (Linux reserves POLL_IN.. codes for the kernel's own signals).
  // The waiting half, usable under every runner: sigtimedwait() with the set blocked in the
  // caller; under sim::World it yields the virtual clock instead of blocking the process.
  // -EAGAIN on timeout, -EINTR never (the set must be blocked).
  int sigwaitinfo(const sigset_t& set, siginfo_t* info, std::optional<Duration> timeout);
  // The handle whose low 32 bits are si_fd (-EBADF if none is open).
  Fd fasync_fd(int sig_fd) const;

  // ---- asynchronous I/O (async.cc; coro.h wraps these as C++20 awaitables) -----------------
  // Submit, and get `done(res)` once the operation has finished: received bytes already in
  // `buf`, sent bytes all queued (a send completes when every byte is in the send buffer), a
  // new connection accepted (res = its Fd, nonblocking), a connect established (0). Returns a
  // nonzero id, or -errno when the submission itself is invalid (-EBADF...). Operations on one
  // socket complete in submission order per direction. The buffer must stay valid until done.
  // `done` runs on the stack thread (lock held) from Stack::poll, never inside submit; it may
  // submit again. Closing the socket completes its operations with -ECANCELED.
  int64_t submit_accept(Fd fd, sockaddr_in* peer, CompletionFn done);
  int64_t submit_connect(Fd fd, const sockaddr_in& addr, CompletionFn done);
  int64_t submit_recv(Fd fd, std::span<uint8_t> buf, int flags, CompletionFn done);
  int64_t submit_send(Fd fd, std::span<const uint8_t> buf, int flags, CompletionFn done);
  // Completes the operation with -ECANCELED if it has not finished (0), else -ENOENT.
  int cancel(int64_t id);

  // ---- views --------------------------------------------------------------------------------
  const SocketStats& stats() const { return stats_; }
  size_t open_count() const { return open_; }
  std::string format_stats() const;  // "Sockets: used N tcp M udp K epoll E" + SocketStats
  const SocketConfig& config() const { return cfg_; }
  transport::TcpLayer& tcp() { return tcp_; }
  transport::UdpLayer& udp() { return udp_; }

 private:
  friend struct Socket;
  friend struct EpollFile;
  friend struct AsyncOp;
  class Table;

  // socket_table.cc
  Socket* lookup(Fd fd);  // nullptr (and ebadf counted) for a stale or unknown handle
  Fd install(std::unique_ptr<Socket> s);
  void release(Socket* s);  // frees the slot, retires it if its generation is spent
  // socket_calls.cc
  int do_close(Socket* s);
  ssize_t do_send(Socket* s, std::span<const uint8_t> data, int flags);
  ssize_t do_recv(Socket* s, std::span<uint8_t> out, int flags, sockaddr_in* from, int* msg_flags);
  Fd do_accept(Socket* s, sockaddr_in* peer, int flags, bool may_block);
  void attach_tcp(Socket* s);  // wakeup callback -> wake()
  void attach_udp(Socket* s);
  // Wait for `mask` on s, until `deadline`. 0: ready; -EAGAIN: deadline passed or cannot
  // sleep here.
  int wait_for(Socket* s, uint32_t mask, Instant deadline);
  // The fan-out of one socket's readiness change (sk_data_ready / sk_write_space /
  // sk_state_change): its wait queue, its epoll items, fasync, async operations.
  void wake(Socket* s, Instant now, uint32_t mask);
  // fasync.cc
  void send_sigio(Socket* s, uint32_t mask);
  void raise_sigpipe(int flags);
  // epoll.cc
  void ep_poll_callback(Socket* s, uint32_t mask);
  void ep_remove_all(Socket* s);  // close(): drop the socket from every epoll instance
  void ep_release(Socket* s);     // close() of an epoll instance
  // async.cc
  void async_kick(Socket* s);   // the socket changed: try its pending operations (deferred)
  void async_run(Instant now);  // Stack::poll: complete what can complete
  void async_cancel_all(Socket* s);

  transport::TcpLayer& tcp_;
  transport::UdpLayer& udp_;
  Telemetry& tel_;
  SocketConfig cfg_;
  ManualEnv manual_;
  SocketEnv* env_;
  std::unique_ptr<Table> table_;
  size_t open_ = 0;
  SocketStats stats_;
  WaitQueue sig_waiters_;             // sigwaitinfo() sleepers under a cooperative runner
  std::vector<Socket*> async_ready_;  // sockets whose pending operations may now complete
  std::vector<std::pair<CompletionFn, int64_t>> completions_;  // finished, not yet delivered
  // async.cc: the operation slots (ids, the free list, scratch vectors), created on first
  // submit. Declared last so it is destroyed first: its deleter delivers the -ECANCELED that
  // ~SocketLayer's closes queued (coroutines run to their end) while the rest is still alive.
  struct AsyncSlots;
  static void async_free(AsyncSlots* a);
  std::unique_ptr<AsyncSlots, void (*)(AsyncSlots*)> async_{nullptr, &SocketLayer::async_free};
};

// RAII for the stack lock around one call.
class LockedCall {
 public:
  explicit LockedCall(SocketEnv& env) : env_(env) { env_.lock(); }
  ~LockedCall() { env_.unlock(); }
  LockedCall(const LockedCall&) = delete;
  LockedCall& operator=(const LockedCall&) = delete;

 private:
  SocketEnv& env_;
};

}  // namespace ustack::socket
