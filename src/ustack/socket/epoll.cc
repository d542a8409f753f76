// socket/epoll.cc — I/O multiplexing (model 3): select(2), poll(2) and epoll(7).
//
// select and poll are the classic scan (fs/select.c): look at every handle (O(n)); if none is
// ready and the caller may wait, link one WaitLink per socket on each socket's wait queue
// (poll_wqueues), sleep once, unlink everything and scan again.
//
// epoll keeps state between calls (fs/eventpoll.c): each registration (EpItem) hangs on its
// socket's list, and SocketLayer::wake calls ep_poll_callback whenever the socket's readiness
// changes; the callback queues the item on its instance's ready list and wakes epoll_wait.
// epoll_wait (ep_send_events) then re-polls only what is on the ready list, so a wait costs
// O(ready), never O(registered):
//   - an item no longer ready is dropped from the list (the wakeup is stale);
//   - level-triggered items go back on the list (at its tail: round robin), so they are
//     reported again until the condition goes away;
//   - EPOLLET items are not re-queued: the next report needs a new wakeup;
//   - EPOLLONESHOT items are disabled once reported (only the private bits remain) until
//     EPOLL_CTL_MOD re-arms them.
// EPOLLERR and EPOLLHUP are always part of the interest. EPOLLRDHUP is reported only when
// asked for. EPOLLEXCLUSIVE is accepted with Linux's restrictions and has no effect (every
// waiter is woken; a woken waiter that finds nothing sleeps again). EPOLLWAKEUP is ignored.
//
// Deviations from Linux, by design:
//   - An epoll instance cannot be added to another (nested epoll): -EINVAL. poll() and
//     select() on an instance handle do work (readable while events are ready).
//   - A wakeup callback gets the socket's whole current mask, not only the bits that changed,
//     so an EPOLLET item may be reported again for an event it already saw (a spurious edge,
//     e.g. EPOLLOUT on a data arrival). Edge-triggered users read/write until EAGAIN anyway.
//   - Where nothing may sleep (ManualEnv, the stack thread) a wait that would block returns
//     -EAGAIN (SocketStats::cannot_sleep) instead; a zero timeout never blocks.
//
// epoll_notify_fd bridges to the kernel: a Linux eventfd that is readable exactly while the
// ready list is non-empty (written on empty -> non-empty, drained on non-empty -> empty), so
// a kernel epoll loop can watch a whole ustack socket set through one fd. The application
// must not read it: it calls epoll_wait (timeout 0), which drains it when the list empties.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "ustack/socket/epoll_internal.h"

namespace ustack::socket {

namespace {

// The interest bits select(2) maps each set to (fs/select.c POLLIN_SET etc.).
constexpr uint32_t kSelectIn = EPOLLRDNORM | EPOLLRDBAND | EPOLLIN | EPOLLHUP | EPOLLERR;
constexpr uint32_t kSelectOut = EPOLLWRBAND | EPOLLWRNORM | EPOLLOUT | EPOLLERR;
constexpr uint32_t kSelectEx = EPOLLPRI;

// EPOLLEXCLUSIVE may only come with these (EPOLLEXCLUSIVE_OK_BITS).
constexpr uint32_t kExclusiveOk =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

// poll(2) on Linux has the same bit values as epoll: POLLIN == EPOLLIN, and so on.
static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLERR == EPOLLERR &&
              POLLHUP == EPOLLHUP && POLLPRI == EPOLLPRI && POLLRDNORM == EPOLLRDNORM &&
              POLLWRNORM == EPOLLWRNORM && POLLRDHUP == EPOLLRDHUP);

Instant deadline_ms(Instant now, int timeout_ms) {
  return timeout_ms < 0 ? Instant::never() : now + Duration::ms(timeout_ms);
}

// What an item's socket offers that the item asked for (ep_item_poll).
uint32_t ep_item_poll(const EpItem& epi) { return poll_mask(*epi.sock) & epi.events; }

// The socket's list (hlist_add_head / hlist_del).
void sock_link(Socket* s, EpItem* epi) {
  epi->s_next = s->ep_items;
  if (s->ep_items != nullptr) s->ep_items->s_pprev = &epi->s_next;
  s->ep_items = epi;
  epi->s_pprev = &s->ep_items;
}

void sock_unlink(EpItem* epi) {
  *epi->s_pprev = epi->s_next;
  if (epi->s_next != nullptr) epi->s_next->s_pprev = epi->s_pprev;
  epi->s_next = nullptr;
  epi->s_pprev = nullptr;
}

// Keeps the eventfd's readability equal to "the ready list is non-empty". Called after each
// change of the ready list; a syscall only on a transition.
void ep_sync_notify(EpollFile& ep) {
  if (ep.notify_fd < 0) return;
  const bool want = !ep.rdllist.empty();
  if (want == ep.notified) return;
  if (want) {
    const uint64_t one = 1;
    (void)!::write(ep.notify_fd, &one, sizeof one);
  } else {
    uint64_t v = 0;
    (void)!::read(ep.notify_fd, &v, sizeof v);  // non-semaphore: resets the count to 0
  }
  ep.notified = want;
}

// Drops ready items that are no longer ready, and says whether any remain (the
// ep_read_events_proc scan behind polling an epoll fd): O(ready).
bool ep_events_available(EpollFile& ep) {
  RdList txlist;
  txlist.splice_front(ep.rdllist);
  while (RdLink* l = txlist.front()) {
    RdList::remove(*l);
    if (ep_item_poll(*static_cast<EpItem*>(l)) != 0) ep.rdllist.push_back(*l);
  }
  ep_sync_notify(ep);
  return !ep.rdllist.empty();
}

// The readiness of any handle for poll() and select(): an instance is readable while it has
// ready events (ep_eventpoll_poll); sockets add the RDNORM/WRNORM aliases tcp_poll sets.
uint32_t mux_mask(Socket& s) {
  if (s.kind == SockKind::kEpoll) {
    return ep_events_available(*s.ep) ? (EPOLLIN | EPOLLRDNORM) : 0;
  }
  uint32_t m = poll_mask(s);
  if ((m & EPOLLIN) != 0) m |= EPOLLRDNORM;
  if ((m & EPOLLOUT) != 0) m |= EPOLLWRNORM;
  return m;
}

}  // namespace

EpollFile::~EpollFile() {
  if (notify_fd >= 0) ::close(notify_fd);
}

// Here, where EpollFile is complete.
Socket::Socket() = default;
Socket::~Socket() = default;

// ---- epoll ----------------------------------------------------------------------------------

Fd SocketLayer::epoll_create1(int flags) {
  SocketCall call(*env_);
  if ((flags & ~EPOLL_CLOEXEC) != 0) return -EINVAL;
  if (open_ >= cfg_.max_sockets) return -EMFILE;
  auto s = std::make_unique<Socket>();
  s->kind = SockKind::kEpoll;
  s->ep = std::make_unique<EpollFile>(s.get());
  if ((flags & EPOLL_CLOEXEC) != 0) s->fd_flags |= FD_CLOEXEC;
  return install(std::move(s));
}

int SocketLayer::epoll_ctl(Fd epfd, int op, Fd fd, epoll_event* ev) {
  SocketCall call(*env_);
  // do_epoll_ctl's order of checks.
  const bool has_event = op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD;
  if (has_event && ev == nullptr) return -EFAULT;
  SocketPin eps(lookup(epfd));
  if (!eps) return -EBADF;
  SocketPin tgt(lookup(fd));
  if (!tgt) return -EBADF;
  if (eps.get() == tgt.get() || eps->kind != SockKind::kEpoll) return -EINVAL;
  if (tgt->kind == SockKind::kEpoll) return -EINVAL;  // nested epoll: not supported
  uint32_t events = has_event ? ev->events : 0;
  if (has_event && (events & EPOLLEXCLUSIVE) != 0) {
    if (op == EPOLL_CTL_MOD) return -EINVAL;
    if ((events & ~kExclusiveOk) != 0) return -EINVAL;
  }
  events &= ~static_cast<uint32_t>(EPOLLWAKEUP);  // needs CAP_BLOCK_SUSPEND; silently cleared
  EpollFile& ep = *eps->ep;
  auto it = ep.items.find(fd);
  EpItem* epi = it != ep.items.end() ? &it->second : nullptr;
  switch (op) {
    case EPOLL_CTL_ADD: {
      if (epi != nullptr) return -EEXIST;
      epi = &ep.items.try_emplace(fd).first->second;
      epi->ep = &ep;
      epi->sock = tgt.get();
      epi->fd = fd;
      epi->events = events | EPOLLERR | EPOLLHUP;
      epi->data = ev->data.u64;
      sock_link(tgt.get(), epi);
      // ep_insert: an already-ready socket is queued at once.
      if (ep_item_poll(*epi) != 0) {
        ep.rdllist.push_back(*epi);
        eps->wq.wake_all(*env_);
      }
      break;
    }
    case EPOLL_CTL_MOD: {
      if (epi == nullptr) return -ENOENT;
      if ((epi->events & EPOLLEXCLUSIVE) != 0) return -EINVAL;
      epi->events = events | EPOLLERR | EPOLLHUP;
      epi->data = ev->data.u64;
      // ep_modify: re-poll, so a MOD re-arms ONESHOT and EPOLLET items that are ready now.
      if (ep_item_poll(*epi) != 0 && !epi->linked()) {
        ep.rdllist.push_back(*epi);
        eps->wq.wake_all(*env_);
      }
      break;
    }
    case EPOLL_CTL_DEL: {
      if (epi == nullptr) return -ENOENT;
      sock_unlink(epi);
      if (epi->linked()) RdList::remove(*epi);
      ep.items.erase(it);
      break;
    }
    default:
      return -EINVAL;
  }
  ep_sync_notify(ep);
  return 0;
}

int EpollFile::send_events(SocketLayer& sl, EpollFile& ep, epoll_event* events, int maxevents) {
  // Take the whole ready list (the kernel splices it to a private txlist so callbacks can go
  // on queueing; here the lock keeps them out, but the order logic is the same).
  RdList txlist;
  txlist.splice_front(ep.rdllist);
  int n = 0;
  while (n < maxevents && !txlist.empty()) {
    auto* epi = static_cast<EpItem*>(txlist.front());
    RdList::remove(*epi);
    const uint32_t revents = ep_item_poll(*epi);
    if (revents == 0) continue;  // a stale wakeup: the condition went away
    events[n].events = revents;
    events[n].data.u64 = epi->data;
    ++n;
    if ((epi->events & EPOLLONESHOT) != 0) {
      epi->events &= kEpPrivateBits;  // disabled until EPOLL_CTL_MOD
    } else if ((epi->events & EPOLLET) == 0) {
      ep.rdllist.push_back(*epi);  // level-triggered: report again next time if still ready
    }
  }
  // What we did not get to goes back in front of the re-queued level-triggered items.
  ep.rdllist.splice_front(txlist);
  ep_sync_notify(ep);
  sl.stats_.epoll_events += static_cast<uint64_t>(n);
  return n;
}

int SocketLayer::epoll_wait(Fd epfd, epoll_event* events, int maxevents, int timeout_ms) {
  SocketCall call(*env_);
  SocketPin eps(lookup(epfd));
  if (!eps) return -EBADF;
  if (eps->kind != SockKind::kEpoll || maxevents <= 0) return -EINVAL;
  if (events == nullptr) return -EFAULT;
  EpollFile& ep = *eps->ep;
  const Instant deadline = deadline_ms(env_->now(), timeout_ms);
  for (;;) {
    if (!ep.rdllist.empty()) {
      const int n = EpollFile::send_events(*this, ep, events, maxevents);
      if (n > 0) return n;
    }
    if (timeout_ms == 0) return 0;
    if (!env_->can_sleep()) {
      ++stats_.cannot_sleep;
      return -EAGAIN;
    }
    if (env_->now() >= deadline) return 0;
    Waiter w;
    {
      // Linked before the lock is released: a callback between the check and the sleep
      // either is visible now or wakes us.
      ScopedWait link(eps->wq, w);
      if (ep.rdllist.empty() && !eps->closed) {
        ++stats_.sleeps;
        env_->kick();  // what this call's ctl queued must not wait for our wakeup
        env_->sleep(w, deadline);
      }
    }
    if (eps->closed) return -EBADF;
  }
}

int SocketLayer::epoll_notify_fd(Fd epfd) {
  SocketCall call(*env_);
  SocketPin eps(lookup(epfd));
  if (!eps) return -EBADF;
  if (eps->kind != SockKind::kEpoll) return -EINVAL;
  EpollFile& ep = *eps->ep;
  if (ep.notify_fd < 0) {
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return -errno;
    ep.notify_fd = fd;
    ep.notified = false;
    ep_sync_notify(ep);
  }
  return ep.notify_fd;
}

void SocketLayer::ep_poll_callback(Socket* s, uint32_t mask) {
  for (EpItem* epi = s->ep_items; epi != nullptr; epi = epi->s_next) {
    // A disabled ONESHOT item, or a wakeup for events this item did not ask for: nothing to
    // do. The socket layer's callbacks pass the socket's whole mask now (tcp_poll's result),
    // so a zero mask means nothing is ready (Linux's "key 0: unknown" never happens here).
    if ((epi->events & ~kEpPrivateBits) == 0) continue;
    if ((mask & epi->events) == 0) continue;
    EpollFile& ep = *epi->ep;
    if (!epi->linked()) {
      ep.rdllist.push_back(*epi);
      ep_sync_notify(ep);
    }
    ep.self->wq.wake_all(*env_);  // epoll_wait sleepers and poll()/select() on the instance
  }
}

void SocketLayer::ep_remove_all(Socket* s) {
  // eventpoll_release: the socket is gone from every instance that watched it.
  while (EpItem* epi = s->ep_items) {
    sock_unlink(epi);
    EpollFile& ep = *epi->ep;
    if (epi->linked()) RdList::remove(*epi);
    ep.items.erase(epi->fd);  // frees epi
    ep_sync_notify(ep);
  }
}

void SocketLayer::ep_release(Socket* s) {
  // ep_free: unhook every registration from its socket; the eventfd goes with the instance.
  EpollFile& ep = *s->ep;
  for (auto& [fd, epi] : ep.items) {
    sock_unlink(&epi);
    if (epi.linked()) RdList::remove(epi);
  }
  ep.items.clear();
  if (ep.notify_fd >= 0) {
    ::close(ep.notify_fd);
    ep.notify_fd = -1;
    ep.notified = false;
  }
}

// ---- poll / select --------------------------------------------------------------------------

namespace {

// One socket a poll()/select() sleeper is linked on (poll_table_entry), pinned while linked.
struct PollEntry {
  Socket* s = nullptr;
  WaitLink link;
};

}  // namespace

int EpollFile::mux_sleep(SocketLayer& sl, std::span<const Fd> fds, Instant deadline) {
  SocketEnv& env = *sl.env_;
  if (!env.can_sleep()) {
    ++sl.stats_.cannot_sleep;
    return -EAGAIN;
  }
  if (env.now() >= deadline) return -ETIMEDOUT;
  // poll_wqueues: one link per socket, all to the same waiter; allocated only to sleep. The
  // lock is held from the caller's scan until sleep() releases it, so no wakeup is lost.
  auto entries = std::make_unique<PollEntry[]>(fds.size());
  Waiter w;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i] < 0) continue;
    Socket* s = sl.lookup(fds[i]);
    if (s == nullptr) continue;
    ++s->refs;
    entries[i].s = s;
    s->wq.add(entries[i].link, w);
  }
  ++sl.stats_.sleeps;
  env.kick();  // what this call queued must not wait for our wakeup
  env.sleep(w, deadline);
  for (size_t i = 0; i < fds.size(); ++i) {
    if (entries[i].s == nullptr) continue;
    WaitQueue::remove(entries[i].link);
    SocketPin::unpin(entries[i].s);
  }
  return 0;
}

int SocketLayer::poll(std::span<PollFd> fds, int timeout_ms) {
  SocketCall call(*env_);
  const Instant deadline = deadline_ms(env_->now(), timeout_ms);
  std::vector<Fd> handles;  // filled only if we have to sleep
  for (;;) {
    // do_pollfd over every entry: O(n).
    int count = 0;
    for (PollFd& p : fds) {
      p.revents = 0;
      if (p.fd < 0) continue;  // ignored, as a negative fd is
      Socket* s = lookup(p.fd);
      if (s == nullptr) {
        p.revents = POLLNVAL;
        ++count;
        continue;
      }
      const uint32_t want = static_cast<uint16_t>(p.events) | EPOLLERR | EPOLLHUP;
      p.revents = static_cast<int16_t>(mux_mask(*s) & want);
      if (p.revents != 0) ++count;
    }
    if (count > 0 || timeout_ms == 0) return count;
    if (handles.empty()) {
      handles.reserve(fds.size());
      for (const PollFd& p : fds) handles.push_back(p.fd);
    }
    const int r = EpollFile::mux_sleep(*this, handles, deadline);
    if (r == -ETIMEDOUT) return 0;
    if (r != 0) return r;
  }
}

int SocketLayer::select(FdSet* rd, FdSet* wr, FdSet* ex, std::optional<Duration> timeout) {
  SocketCall call(*env_);
  const Instant deadline = timeout ? env_->now() + *timeout : Instant::never();
  const bool no_wait = timeout && *timeout <= Duration::zero();
  // Every handle named in any set, once (the sets are sorted).
  std::vector<Fd> all;
  for (const FdSet* set : {rd, wr, ex}) {
    if (set != nullptr) all.insert(all.end(), set->fds().begin(), set->fds().end());
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  FdSet out_rd, out_wr, out_ex;
  for (;;) {
    // do_select: O(n) over the handles.
    int count = 0;
    for (Fd fd : all) {
      Socket* s = lookup(fd);
      if (s == nullptr) return -EBADF;  // the sets are left as they were
      const uint32_t m = mux_mask(*s);
      if (rd != nullptr && (m & kSelectIn) != 0 && rd->isset(fd)) {
        out_rd.set(fd);
        ++count;
      }
      if (wr != nullptr && (m & kSelectOut) != 0 && wr->isset(fd)) {
        out_wr.set(fd);
        ++count;
      }
      if (ex != nullptr && (m & kSelectEx) != 0 && ex->isset(fd)) {
        out_ex.set(fd);
        ++count;
      }
    }
    int r = 0;
    if (count == 0 && !no_wait) r = EpollFile::mux_sleep(*this, all, deadline);
    if (count > 0 || no_wait || r == -ETIMEDOUT) {
      if (rd != nullptr) *rd = std::move(out_rd);
      if (wr != nullptr) *wr = std::move(out_wr);
      if (ex != nullptr) *ex = std::move(out_ex);
      return count;
    }
    if (r != 0) return r;
  }
}

}  // namespace ustack::socket
