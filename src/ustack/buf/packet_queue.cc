#include "ustack/buf/packet_queue.h"

#include <utility>

#include "ustack/base/assert.h"

namespace ustack {

PacketQueue::PacketQueue(PacketQueue&& o) noexcept
    : head_(std::exchange(o.head_, nullptr)),
      tail_(std::exchange(o.tail_, nullptr)),
      count_(std::exchange(o.count_, 0)),
      bytes_(std::exchange(o.bytes_, 0)) {}

PacketQueue& PacketQueue::operator=(PacketQueue&& o) noexcept {
  if (this != &o) {
    clear();
    head_ = std::exchange(o.head_, nullptr);
    tail_ = std::exchange(o.tail_, nullptr);
    count_ = std::exchange(o.count_, 0);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void PacketQueue::take(PacketBuffer* p) {
  USTACK_ASSERT(p != nullptr, "queueing a null PacketPtr");
  USTACK_ASSERT(!p->queued_, "PacketBuffer is already on a queue");
  p->queued_ = true;
  ++count_;
  p->queued_len_ = static_cast<uint32_t>(p->len());
  bytes_ += p->queued_len_;
}

void PacketQueue::push_back(PacketPtr pp) {
  PacketBuffer* p = pp.release();
  take(p);
  p->next_ = nullptr;
  p->prev_ = tail_;
  if (tail_ != nullptr) {
    tail_->next_ = p;
  } else {
    head_ = p;
  }
  tail_ = p;
}

void PacketQueue::push_front(PacketPtr pp) {
  PacketBuffer* p = pp.release();
  take(p);
  p->prev_ = nullptr;
  p->next_ = head_;
  if (head_ != nullptr) {
    head_->prev_ = p;
  } else {
    tail_ = p;
  }
  head_ = p;
}

void PacketQueue::insert_before(PacketBuffer* pos, PacketPtr pp) {
  if (pos == nullptr) return push_back(std::move(pp));
  USTACK_ASSERT(pos->queued_, "insert_before: position is not on a queue");
  PacketBuffer* p = pp.release();
  take(p);
  p->next_ = pos;
  p->prev_ = pos->prev_;
  if (pos->prev_ != nullptr) {
    pos->prev_->next_ = p;
  } else {
    head_ = p;
  }
  pos->prev_ = p;
}

PacketPtr PacketQueue::unlink(PacketBuffer* p) {
  USTACK_ASSERT(p != nullptr && p->queued_, "unlink: buffer is not on a queue");
  if (p->prev_ != nullptr) {
    p->prev_->next_ = p->next_;
  } else {
    head_ = p->next_;
  }
  if (p->next_ != nullptr) {
    p->next_->prev_ = p->prev_;
  } else {
    tail_ = p->prev_;
  }
  p->next_ = p->prev_ = nullptr;
  p->queued_ = false;
  --count_;
  bytes_ -= p->queued_len_;  // what was counted at enqueue, even if len() changed since
  return PacketPtr(p);
}

PacketPtr PacketQueue::pop_front() { return head_ ? unlink(head_) : nullptr; }
PacketPtr PacketQueue::pop_back() { return tail_ ? unlink(tail_) : nullptr; }

void PacketQueue::splice_back(PacketQueue& other) {
  if (other.empty() || &other == this) return;
  if (tail_ != nullptr) {
    tail_->next_ = other.head_;
    other.head_->prev_ = tail_;
  } else {
    head_ = other.head_;
  }
  tail_ = other.tail_;
  count_ += other.count_;
  bytes_ += other.bytes_;
  other.head_ = other.tail_ = nullptr;
  other.count_ = other.bytes_ = 0;
}

void PacketQueue::clear() {
  while (PacketPtr p = pop_front()) {
  }
}

}  // namespace ustack
