// socket/async.cc — the asynchronous model (model 5): submit an accept, connect, recv or send
// and get one completion once the operation has finished, the data already copied (POSIX aio,
// io_uring). coro.h wraps the calls as C++20 awaitables.
//
// How it runs (io_uring's "try, then arm a poll" without the poll):
//   - submit_*() links an AsyncOp on its socket (Socket::async_ops, oldest first) and queues
//     the socket on async_ready_ (async_kick). Nothing is tried and nothing completes inside
//     submit: the caller may hold locks or be in the middle of a state change of its own.
//   - The socket's wakeup (SocketLayer::wake: data arrived, space freed, the handshake ended, a
//     connection is ready to accept, an error) queues it again.
//   - SocketLayer::poll, the last step of Stack::poll (stack thread, lock held), runs
//     async_run: every queued socket's operations are tried with the non-blocking internal
//     paths (do_recv / do_send / do_accept with MSG_DONTWAIT); those that finished are unlinked
//     and their callbacks queued on completions_; then the callbacks are called. A callback
//     may submit, cancel or close: that only queues more work, which has_work() reports, so
//     Stack::poll says "more" and the driver comes back at once (one round per poll keeps a
//     callback that always resubmits from starving packet processing).
//   - Per direction, operations complete in submission order: receives and accepts are one
//     queue, connects and sends the other; the first that cannot finish blocks the later ones
//     of its direction (a send never overtakes an earlier partly queued send).
//
// Results (res of CompletionFn):
//   recv    > 0 bytes copied; 0 at end of stream; -errno. MSG_PEEK completes with what is
//           queued, leaving it queued. MSG_WAITALL completes when the buffer is full (earlier
//           only at end of stream or on an error, with the bytes so far). Otherwise the
//           operation waits for SO_RCVLOWAT bytes (default 1), as a blocking recv would.
//           UDP: one datagram (MSG_TRUNC: its full length).
//   send    every byte queued in the send buffer: res = the length. Partial progress is kept
//           across wakeups; an error after partial progress reports the bytes queued (as
//           send(2) does), else -errno (-EPIPE, -ECONNRESET...). Never raises SIGPIPE: a
//           signal on the stack thread would hit the wrong thread. UDP: one datagram.
//   accept  the new connection's Fd (always O_NONBLOCK; SOCK_CLOEXEC in flags is kept), *peer
//           filled.
//   connect 0 once established; -ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH... The SYN is sent
//           when the operation is first tried (the next Stack::poll).
//   MSG_DONTWAIT makes an operation complete with -EAGAIN (or its partial bytes) when its
//   first attempt cannot finish, io_uring's behaviour for the flag.
//   cancel(id) and close() complete pending operations with -ECANCELED, or with the bytes
//   already moved if a send / MSG_WAITALL receive had made progress (no byte is lost silently).
//
// Operation ids are generational like socket handles, (generation << 32) | slot, so cancel()
// of a finished operation is -ENOENT even once its slot serves another. Slots are reused, so
// a steady stream of operations allocates nothing (std::function keeps a small callback, such
// as coro.h's one pointer, inline).
#include <algorithm>
#include <deque>

#include "ustack/base/assert.h"
#include "ustack/socket/socket_internal.h"

namespace ustack::socket {

using transport::TcpState;
using wire::Ipv4Addr;

struct AsyncOp {
  enum class Kind : uint8_t { kAccept, kConnect, kRecv, kSend };

  // Socket::async_ops: next towards the newest; the head's prev is the tail.
  AsyncOp* next = nullptr;
  AsyncOp* prev = nullptr;
  Socket* s = nullptr;  // nullptr: the slot is free
  uint32_t gen = 0;     // the slot's generation (the id's high half)
  uint32_t slot = 0;
  Kind kind = Kind::kRecv;
  bool started = false;  // connect: the SYN has been sent
  int flags = 0;
  uint8_t* rbuf = nullptr;        // recv
  const uint8_t* sbuf = nullptr;  // send
  size_t len = 0;
  size_t done = 0;              // bytes moved so far (send; recv with MSG_WAITALL / SO_RCVLOWAT)
  sockaddr_in* peer = nullptr;  // accept
  sockaddr_in addr{};           // connect
  CompletionFn fn;

  int64_t id() const { return static_cast<int64_t>((uint64_t{gen} << 32) | slot); }
  bool input() const { return kind == Kind::kRecv || kind == Kind::kAccept; }
};

// The operation table and the engine. A nested class of SocketLayer: it reaches the layer's
// internal paths (do_recv, do_send, do_accept) and queues.
struct SocketLayer::AsyncSlots {
  static constexpr uint32_t kMaxGen = 0x7fffffffu;  // ids stay positive

  explicit AsyncSlots(SocketLayer* l) : layer(l) {}

  static AsyncSlots& of(SocketLayer& l) {
    if (!l.async_) l.async_.reset(new AsyncSlots(&l));
    return *l.async_;
  }

  AsyncOp* alloc(Socket* s, AsyncOp::Kind kind, int flags, CompletionFn fn);
  AsyncOp* find(int64_t id);
  void finish(AsyncOp* op, int64_t res, bool cancelled);
  bool attempt(AsyncOp& op, Instant now, int64_t* res);
  void try_ops(Socket* s, Instant now);

  SocketLayer* layer;
  std::deque<AsyncOp> ops;     // stable addresses; index = slot
  std::vector<uint32_t> free;  // reusable slots (most recently freed first: warm in cache)
  std::vector<Socket*> batch;  // async_run's copy of async_ready_
  std::vector<std::pair<CompletionFn, int64_t>> deliver;  // async_run's copy of completions_
  bool running = false;
};

void SocketLayer::async_free(AsyncSlots* a) {
  // Teardown: ~SocketLayer closed every socket, which queued -ECANCELED for each pending
  // operation. Deliver them, so that coroutines waiting on them resume, see the error and
  // finish (their frames are freed). A callback may submit again: that fails with -EBADF now.
  SocketLayer& l = *a->layer;
  for (int round = 0; round < 16 && !l.completions_.empty(); ++round) {
    a->deliver.swap(l.completions_);
    for (auto& [fn, res] : a->deliver) fn(res);
    a->deliver.clear();
  }
  delete a;
}

namespace {

void link_op(Socket* s, AsyncOp* op) {
  op->next = nullptr;
  if (s->async_ops == nullptr) {
    op->prev = op;
    s->async_ops = op;
    return;
  }
  AsyncOp* tail = s->async_ops->prev;
  tail->next = op;
  op->prev = tail;
  s->async_ops->prev = op;
}

void unlink_op(Socket* s, AsyncOp* op) {
  AsyncOp* head = s->async_ops;
  if (op == head) {
    s->async_ops = op->next;
    if (op->next != nullptr) op->next->prev = op->prev;  // the tail
  } else {
    op->prev->next = op->next;
    if (op->next != nullptr) {
      op->next->prev = op->prev;
    } else {
      head->prev = op->prev;  // op was the tail
    }
  }
  op->next = op->prev = nullptr;
}

Ipv4Addr addr_of(const sockaddr_in& a) { return Ipv4Addr{ntohl(a.sin_addr.s_addr)}; }

// Bytes moved so far, or `err` if none: what send(2) and recv(2) report after partial progress.
int64_t progress_or(const AsyncOp& op, int64_t err) {
  return op.done > 0 ? static_cast<int64_t>(op.done) : err;
}

}  // namespace

// ---- the operation table --------------------------------------------------------------------

AsyncOp* SocketLayer::AsyncSlots::alloc(Socket* s, AsyncOp::Kind kind, int flags, CompletionFn fn) {
  AsyncOp* op;
  if (!free.empty()) {
    op = &ops[free.back()];
    free.pop_back();
  } else {
    USTACK_ASSERT(ops.size() < 0xffffffffu, "async: 2^32 operations pending");
    op = &ops.emplace_back();
    op->slot = static_cast<uint32_t>(ops.size() - 1);
  }
  ++op->gen;
  op->s = s;
  op->kind = kind;
  op->started = false;
  op->flags = flags;
  op->rbuf = nullptr;
  op->sbuf = nullptr;
  op->len = op->done = 0;
  op->peer = nullptr;
  op->fn = std::move(fn);
  link_op(s, op);
  return op;
}

AsyncOp* SocketLayer::AsyncSlots::find(int64_t id) {
  if (id <= 0) return nullptr;
  const uint64_t v = static_cast<uint64_t>(id);
  const uint32_t slot = static_cast<uint32_t>(v & 0xffffffffu);
  if (slot >= ops.size()) return nullptr;
  AsyncOp& op = ops[slot];
  return op.s != nullptr && op.gen == static_cast<uint32_t>(v >> 32) ? &op : nullptr;
}

// The operation is over: off its socket, its callback queued for async_run, its slot free.
void SocketLayer::AsyncSlots::finish(AsyncOp* op, int64_t res, bool cancelled) {
  unlink_op(op->s, op);
  layer->completions_.emplace_back(std::move(op->fn), res);
  op->fn = nullptr;
  op->s = nullptr;
  if (cancelled) {
    ++layer->stats_.async_cancelled;
  } else {
    ++layer->stats_.async_completed;
  }
  if (op->gen < kMaxGen) free.push_back(op->slot);  // else retired: its ids stay unique
}

// One non-blocking try of `op`. True when it finished (*res set); false when it must wait for
// the socket's next wakeup.
bool SocketLayer::AsyncSlots::attempt(AsyncOp& op, Instant now, int64_t* res) {
  Socket* s = op.s;
  SocketLayer& l = *layer;
  const bool dontwait = (op.flags & MSG_DONTWAIT) != 0;
  switch (op.kind) {
    case AsyncOp::Kind::kAccept: {
      const int flags = SOCK_NONBLOCK | (op.flags & SOCK_CLOEXEC);
      const Fd fd = l.do_accept(s, op.peer, flags, false);
      if (fd == -EAGAIN && !dontwait) return false;
      *res = fd;
      return true;
    }
    case AsyncOp::Kind::kConnect: {
      const uint16_t port = ntohs(op.addr.sin_port);
      if (s->kind == SockKind::kUdp) {
        auto r = s->udp->connect(now, addr_of(op.addr), port);
        *res = r ? 0 : -r.error();
        return true;
      }
      if (!op.started) {
        // inet_stream_connect: the SYN goes out now; the outcome comes with a wakeup.
        op.started = true;
        auto r = s->tcp->connect(now, addr_of(op.addr), port);
        if (!r) {
          *res = -r.error();
          return true;
        }
      }
      const TcpState st = s->tcp->state();
      if (st == TcpState::kSynSent || st == TcpState::kSynReceived) {
        if (!dontwait) return false;
        *res = -EINPROGRESS;
        return true;
      }
      if (int e = s->tcp->take_error(); e != 0) {
        *res = -e;
      } else {
        *res = st == TcpState::kClosed ? -ECONNREFUSED : 0;
      }
      return true;
    }
    case AsyncOp::Kind::kRecv: {
      const bool peek = (op.flags & MSG_PEEK) != 0;
      const bool stream = s->kind == SockKind::kTcp;
      // tcp_recvmsg's target: the whole buffer with MSG_WAITALL, else SO_RCVLOWAT.
      size_t target = 1;
      if (stream && !peek) {
        target = (op.flags & MSG_WAITALL) != 0
                     ? op.len
                     : std::min(static_cast<size_t>(std::max(s->rcvlowat, 1)), op.len);
      }
      const int flags = (op.flags & ~MSG_WAITALL) | MSG_DONTWAIT;
      const ssize_t n =
          l.do_recv(s, {op.rbuf + op.done, op.len - op.done}, flags, nullptr, nullptr);
      if (n > 0) {
        if (!stream || peek) {
          *res = n;
          return true;
        }
        op.done += static_cast<size_t>(n);
        if (op.done >= target || dontwait) {
          *res = static_cast<int64_t>(op.done);
          return true;
        }
        return false;  // below the target: wait for more
      }
      if (n == -EAGAIN && !dontwait) return false;
      *res = n == 0 ? static_cast<int64_t>(op.done) : progress_or(op, n);
      return true;
    }
    case AsyncOp::Kind::kSend: {
      if (s->kind == SockKind::kUdp) {
        // One datagram to the connected peer (udp_sendmsg never waits for space).
        auto r = s->udp->sendto(now, {op.sbuf, op.len});
        *res = r ? static_cast<int64_t>(*r) : -r.error();
        return true;
      }
      const int flags = op.flags | MSG_DONTWAIT | MSG_NOSIGNAL;
      const ssize_t n = l.do_send(s, {op.sbuf + op.done, op.len - op.done}, flags);
      if (n >= 0) {
        op.done += static_cast<size_t>(n);
        if (op.done == op.len) {
          *res = static_cast<int64_t>(op.len);
          return true;
        }
        if (!dontwait) return false;  // the send buffer is full: wait for space
        *res = progress_or(op, -EAGAIN);
        return true;
      }
      if (n == -EAGAIN && !dontwait) return false;
      *res = progress_or(op, n);
      return true;
    }
  }
  return false;
}

// Tries s's operations oldest first; per direction, the first that must wait blocks the rest.
void SocketLayer::AsyncSlots::try_ops(Socket* s, Instant now) {
  bool in_blocked = false, out_blocked = false;
  for (AsyncOp* op = s->async_ops; op != nullptr && !(in_blocked && out_blocked);) {
    AsyncOp* next = op->next;
    bool& blocked = op->input() ? in_blocked : out_blocked;
    if (!blocked) {
      int64_t res = 0;
      if (attempt(*op, now, &res)) {
        finish(op, res, false);
      } else {
        blocked = true;
      }
    }
    op = next;
  }
}

// ---- submission -----------------------------------------------------------------------------

int64_t SocketLayer::submit_accept(Fd fd, sockaddr_in* peer, CompletionFn done) {
  SocketCall call(*env_);
  Socket* s = lookup(fd);
  if (s == nullptr) return -EBADF;
  if (s->kind != SockKind::kTcp) return s->kind == SockKind::kUdp ? -EOPNOTSUPP : -ENOTSOCK;
  if (!done) return -EINVAL;
  AsyncOp* op = AsyncSlots::of(*this).alloc(s, AsyncOp::Kind::kAccept, 0, std::move(done));
  op->peer = peer;
  async_kick(s);
  return op->id();
}

int64_t SocketLayer::submit_connect(Fd fd, const sockaddr_in& addr, CompletionFn done) {
  SocketCall call(*env_);
  Socket* s = lookup(fd);
  if (s == nullptr) return -EBADF;
  if (s->kind == SockKind::kEpoll) return -ENOTSOCK;
  if (addr.sin_family != AF_INET) return -EAFNOSUPPORT;
  if (!done) return -EINVAL;
  AsyncOp* op = AsyncSlots::of(*this).alloc(s, AsyncOp::Kind::kConnect, 0, std::move(done));
  op->addr = addr;
  async_kick(s);
  return op->id();
}

int64_t SocketLayer::submit_recv(Fd fd, std::span<uint8_t> buf, int flags, CompletionFn done) {
  SocketCall call(*env_);
  Socket* s = lookup(fd);
  if (s == nullptr) return -EBADF;
  if (s->kind == SockKind::kEpoll) return -ENOTSOCK;
  if ((flags & ~(MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_TRUNC | MSG_NOSIGNAL)) != 0) {
    return -EOPNOTSUPP;  // as recv(2): MSG_OOB is not implemented
  }
  if (!done) return -EINVAL;
  AsyncOp* op = AsyncSlots::of(*this).alloc(s, AsyncOp::Kind::kRecv, flags, std::move(done));
  op->rbuf = buf.data();
  op->len = buf.size();
  async_kick(s);
  return op->id();
}

int64_t SocketLayer::submit_send(Fd fd, std::span<const uint8_t> buf, int flags,
                                 CompletionFn done) {
  SocketCall call(*env_);
  Socket* s = lookup(fd);
  if (s == nullptr) return -EBADF;
  if (s->kind == SockKind::kEpoll) return -ENOTSOCK;
  if ((flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_EOR)) != 0) return -EOPNOTSUPP;
  if (!done) return -EINVAL;
  AsyncOp* op = AsyncSlots::of(*this).alloc(s, AsyncOp::Kind::kSend, flags, std::move(done));
  op->sbuf = buf.data();
  op->len = buf.size();
  async_kick(s);
  return op->id();
}

int SocketLayer::cancel(int64_t id) {
  SocketCall call(*env_);
  if (!async_) return -ENOENT;
  AsyncOp* op = async_->find(id);
  if (op == nullptr) return -ENOENT;
  async_->finish(op, progress_or(*op, -ECANCELED), true);
  return 0;
}

// ---- the engine -----------------------------------------------------------------------------

void SocketLayer::async_kick(Socket* s) {
  if (s->async_queued || s->closed) return;
  s->async_queued = true;
  async_ready_.push_back(s);
}

void SocketLayer::async_run(Instant now) {
  if (!async_ || async_->running) return;  // nothing ever submitted / re-entered
  AsyncSlots& a = *async_;
  a.running = true;
  // 1. Try the queued sockets' operations (a wakeup during this queues for the next round).
  a.batch.swap(async_ready_);
  for (Socket* s : a.batch) {
    s->async_queued = false;
    if (!s->closed) a.try_ops(s, now);
  }
  a.batch.clear();
  // 2. Deliver. Callbacks may submit, cancel or close: that lands in async_ready_ and
  //    completions_, reported by has_work() and handled at the next poll.
  a.deliver.swap(completions_);
  for (auto& [fn, res] : a.deliver) fn(res);
  a.deliver.clear();
  a.running = false;
}

void SocketLayer::async_cancel_all(Socket* s) {
  if (s->async_queued) {
    // Off the ready list: the socket may be freed as soon as close() returns.
    auto it = std::find(async_ready_.begin(), async_ready_.end(), s);
    if (it != async_ready_.end()) async_ready_.erase(it);
    s->async_queued = false;
  }
  while (s->async_ops != nullptr) {
    AsyncOp* op = s->async_ops;
    async_->finish(op, progress_or(*op, -ECANCELED), true);
  }
}

}  // namespace ustack::socket
