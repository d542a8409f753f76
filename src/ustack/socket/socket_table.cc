// socket/socket_table.cc — the handle table (generational slots), wait queues, readiness, and
// the SocketLayer's plumbing to its driver.
#include <algorithm>
#include <deque>

#include <fmt/format.h>

#include "ustack/socket/socket_internal.h"

namespace ustack::socket {

// ---- wait queues ----------------------------------------------------------------------------

WaitQueue::~WaitQueue() {
  while (!empty()) remove(*head_.next);
}

void WaitQueue::add(WaitLink& l, Waiter& w) {
  l.waiter = &w;
  l.prev = head_.prev;
  l.next = &head_;
  head_.prev->next = &l;
  head_.prev = &l;
}

void WaitQueue::remove(WaitLink& l) {
  if (!l.linked()) return;
  l.prev->next = l.next;
  l.next->prev = l.prev;
  l.prev = l.next = nullptr;
}

void WaitQueue::wake_all(SocketEnv& env) {
  for (WaitLink* l = head_.next; l != &head_; l = l->next) {
    l->waiter->woken = true;
    env.wake(*l->waiter);
  }
}

// ---- FdSet ----------------------------------------------------------------------------------

void FdSet::set(Fd fd) {
  auto it = std::lower_bound(fds_.begin(), fds_.end(), fd);
  if (it == fds_.end() || *it != fd) fds_.insert(it, fd);
}

void FdSet::clr(Fd fd) {
  auto it = std::lower_bound(fds_.begin(), fds_.end(), fd);
  if (it != fds_.end() && *it == fd) fds_.erase(it);
}

bool FdSet::isset(Fd fd) const { return std::binary_search(fds_.begin(), fds_.end(), fd); }

// ---- sockets --------------------------------------------------------------------------------

uint32_t poll_mask(const Socket& s) {
  switch (s.kind) {
    case SockKind::kTcp:
      return s.tcp != nullptr ? s.tcp->poll_mask() : (EPOLLERR | EPOLLHUP);
    case SockKind::kUdp: {
      // udp_poll: writable always (the send path never blocks), readable with a datagram
      // queued, EPOLLERR with an ICMP error pending.
      uint32_t m = EPOLLOUT | EPOLLWRNORM;
      if (s.udp->readable()) m |= EPOLLIN | EPOLLRDNORM;
      if (s.udp->pending_error() != 0) m |= EPOLLERR;
      return m;
    }
    case SockKind::kEpoll:
      return 0;  // epoll.cc answers for instances (ep_poll_mask)
  }
  return 0;
}

// Slots hold sockets; a handle is (generation << 32) | slot. Freed slots are reused oldest
// first, each reuse with the next generation; a slot whose 31-bit generation is spent is
// never reused, so no handle ever names two sockets.
class SocketLayer::Table {
 public:
  static constexpr uint32_t kMaxGen = 0x7fffffffu;

  struct Slot {
    Socket* s = nullptr;
    uint32_t gen = 0;
  };

  Socket* get(Fd fd) const {
    if (fd <= 0) return nullptr;
    const uint64_t v = static_cast<uint64_t>(fd);
    const uint32_t slot = static_cast<uint32_t>(v & 0xffffffffu);
    const uint32_t gen = static_cast<uint32_t>(v >> 32);
    if (slot >= slots_.size()) return nullptr;
    const Slot& sl = slots_[slot];
    return sl.gen == gen ? sl.s : nullptr;
  }

  Fd put(Socket* s) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.front();
      free_.pop_front();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.push_back(Slot{});
    }
    Slot& sl = slots_[slot];
    ++sl.gen;
    sl.s = s;
    return static_cast<Fd>((static_cast<uint64_t>(sl.gen) << 32) | slot);
  }

  void drop(Fd fd) {
    const uint32_t slot = static_cast<uint32_t>(static_cast<uint64_t>(fd) & 0xffffffffu);
    Slot& sl = slots_[slot];
    sl.s = nullptr;
    if (sl.gen < kMaxGen) free_.push_back(slot);  // else retired for good
  }

  Socket* at_slot(uint32_t slot) const { return slot < slots_.size() ? slots_[slot].s : nullptr; }

  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& sl : slots_)
      if (sl.s != nullptr) f(*sl.s);
  }

 private:
  std::vector<Slot> slots_;
  std::deque<uint32_t> free_;
};

SocketLayer::SocketLayer(transport::TcpLayer& tcp, transport::UdpLayer& udp, Telemetry& tel,
                         SocketConfig cfg)
    : tcp_(tcp),
      udp_(udp),
      tel_(tel),
      cfg_(cfg),
      env_(&manual_),
      table_(std::make_unique<Table>()) {}

SocketLayer::~SocketLayer() {
  // Close what the application left open, as process exit does (the stack goes with us).
  std::vector<Socket*> left;
  table_->for_each([&](const Socket& s) { left.push_back(const_cast<Socket*>(&s)); });
  for (Socket* s : left) {
    ++s->refs;
    do_close(s);
    --s->refs;
    if (s->refs == 0) delete s;
  }
}

void SocketLayer::set_env(SocketEnv* env) { env_ = env != nullptr ? env : &manual_; }

void SocketLayer::poll(Instant now) {
  manual_.set_now(now);
  async_run(now);
}

bool SocketLayer::has_work() const { return !async_ready_.empty() || !completions_.empty(); }

Socket* SocketLayer::lookup(Fd fd) {
  Socket* s = table_->get(fd);
  if (s == nullptr) ++stats_.ebadf;
  return s;
}

Fd SocketLayer::install(std::unique_ptr<Socket> s) {
  Socket* raw = s.release();
  raw->fd = table_->put(raw);
  ++open_;
  ++stats_.opened;
  return raw->fd;
}

void SocketLayer::release(Socket* s) {
  table_->drop(s->fd);
  --open_;
  ++stats_.closed;
  s->closed = true;
  s->wq.wake_all(*env_);  // a caller sleeping on it wakes and returns -EBADF
}

Fd SocketLayer::fasync_fd(int sig_fd) const {
  LockedCall call(*env_);  // the table is the stack's: another thread may be growing it
  // si_fd carries the slot; the live generation of that slot completes the handle.
  const Socket* s = sig_fd >= 0 ? table_->at_slot(static_cast<uint32_t>(sig_fd)) : nullptr;
  return s != nullptr ? s->fd : -EBADF;
}

std::string SocketLayer::format_stats() const {
  size_t tcp = 0, udp = 0, ep = 0;
  table_->for_each([&](const Socket& s) {
    switch (s.kind) {
      case SockKind::kTcp:
        ++tcp;
        break;
      case SockKind::kUdp:
        ++udp;
        break;
      case SockKind::kEpoll:
        ++ep;
        break;
    }
  });
  const SocketStats& st = stats_;
  return fmt::format(
      "Sockets: used {} tcp {} udp {} epoll {}\n"
      "SockCalls: opened {} closed {} sleeps {} wakeups {} ebadf {} cannot_sleep {}\n"
      "SockAsync: signals {} signals_failed {} completed {} cancelled {} epoll_events {}\n",
      open_, tcp, udp, ep, st.opened, st.closed, st.sleeps, st.wakeups, st.ebadf, st.cannot_sleep,
      st.signals_sent, st.signals_failed, st.async_completed, st.async_cancelled, st.epoll_events);
}

}  // namespace ustack::socket
