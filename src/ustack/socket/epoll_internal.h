// socket/epoll_internal.h — the epoll instance (Linux's struct eventpoll) and one registration
// (struct epitem), shared by epoll.cc and its tests. Not part of the API.
//
// An EpItem sits on up to three intrusive lists, so that nothing is allocated per event:
//   - its socket's list (Socket::ep_items; s_next / s_pprev): every instance watching that
//     socket, walked by ep_poll_callback when the socket's readiness changes, and by
//     ep_remove_all when it is closed (Linux: file->f_ep);
//   - its instance's ready list (rdllist; RdLink): queued by the callback, consumed by
//     epoll_wait, which re-polls only what is on it — O(ready), never O(registered);
//   - its instance's lookup table (`items`, the red-black tree's role), keyed by the handle.
// Everything here is guarded by the stack lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>

#include "ustack/socket/socket_internal.h"

namespace ustack::socket {

// A link on a ready list (list_head rdllink).
struct RdLink {
  RdLink* prev = nullptr;
  RdLink* next = nullptr;
  bool linked() const { return next != nullptr; }
};

// A circular intrusive list with a sentinel (struct list_head).
class RdList {
 public:
  RdList() { head_.prev = head_.next = &head_; }
  RdList(const RdList&) = delete;
  RdList& operator=(const RdList&) = delete;

  bool empty() const { return head_.next == &head_; }
  RdLink* front() const { return empty() ? nullptr : head_.next; }
  void push_back(RdLink& l) { insert_before(head_, l); }
  void push_front(RdLink& l) { insert_before(*head_.next, l); }
  static void remove(RdLink& l) {
    l.prev->next = l.next;
    l.next->prev = l.prev;
    l.prev = l.next = nullptr;
  }
  // Moves all of `from` to the front of this list (list_splice), keeping its order.
  void splice_front(RdList& from) {
    if (from.empty()) return;
    RdLink* first = from.head_.next;
    RdLink* last = from.head_.prev;
    from.head_.prev = from.head_.next = &from.head_;
    first->prev = &head_;
    last->next = head_.next;
    head_.next->prev = last;
    head_.next = first;
  }
  size_t size() const {
    size_t n = 0;
    for (const RdLink* l = head_.next; l != &head_; l = l->next) ++n;
    return n;
  }

 private:
  static void insert_before(RdLink& pos, RdLink& l) {
    l.prev = pos.prev;
    l.next = &pos;
    pos.prev->next = &l;
    pos.prev = &l;
  }
  RdLink head_;
};

struct EpollFile;

// One (instance, socket) registration: struct epitem.
struct EpItem : RdLink {
  EpollFile* ep = nullptr;
  Socket* sock = nullptr;
  Fd fd = -1;
  uint32_t events = 0;         // interest, with EPOLLERR | EPOLLHUP added, and the private bits
  uint64_t data = 0;           // epoll_data, returned as is
  EpItem* s_next = nullptr;    // the socket's list (Socket::ep_items)
  EpItem** s_pprev = nullptr;  // the pointer that points at us (hlist_node pprev)
};

// The instance: struct eventpoll, owned by its Socket (kind kEpoll).
struct EpollFile {
  explicit EpollFile(Socket* s) : self(s) {}
  ~EpollFile();  // closes the notify eventfd
  EpollFile(const EpollFile&) = delete;
  EpollFile& operator=(const EpollFile&) = delete;

  Socket* self;  // its handle; self->wq is epoll_wait's wait queue (ep->wq and ep->poll_wait)
  // The items live in the map's nodes (which never move): one allocation per registration.
  std::unordered_map<Fd, EpItem> items;
  RdList rdllist;
  int notify_fd = -1;     // epoll_notify_fd's eventfd (-1: none yet)
  bool notified = false;  // the eventfd holds a count (readable)

  // epoll.cc's pieces that need the layer's private state (EpollFile is its friend).
  // ep_send_events: up to `maxevents` ready events into `events`; O(ready).
  static int send_events(SocketLayer& sl, EpollFile& ep, epoll_event* events, int maxevents);
  // poll()/select()'s one sleep: a WaitLink on each live handle's wait queue until a wakeup or
  // `deadline`. 0 after sleeping, -ETIMEDOUT if the deadline has passed, -EAGAIN if the caller
  // cannot sleep.
  static int mux_sleep(SocketLayer& sl, std::span<const Fd> fds, Instant deadline);
};

// Bits of EpItem::events that are not poll events (EP_PRIVATE_BITS): a ONESHOT item that fired
// keeps only these, so no callback queues it until EPOLL_CTL_MOD.
inline constexpr uint32_t kEpPrivateBits = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;

}  // namespace ustack::socket
