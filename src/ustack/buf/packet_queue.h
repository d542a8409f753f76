// buf/packet_queue.h — PacketQueue: an intrusive FIFO of owned PacketBuffers (sk_buff_head).
//
// Socket receive queues, device backlogs, neighbour queues and retransmit queues are all
// PacketQueues. The links live inside PacketBuffer, so queueing never allocates. The queue
// owns what it holds: destroying it frees every buffer. It tracks bytes as well as packets
// because socket buffers and qdiscs are limited in bytes.
#pragma once

#include <cstddef>

#include "ustack/buf/packet_buffer.h"

namespace ustack {

class PacketQueue {
 public:
  PacketQueue() = default;
  PacketQueue(const PacketQueue&) = delete;
  PacketQueue& operator=(const PacketQueue&) = delete;
  PacketQueue(PacketQueue&& o) noexcept;
  PacketQueue& operator=(PacketQueue&& o) noexcept;
  ~PacketQueue() { clear(); }

  bool empty() const { return head_ == nullptr; }
  size_t size() const { return count_; }   // packets (skb_queue_len)
  size_t bytes() const { return bytes_; }  // sum of len() at enqueue time

  void push_back(PacketPtr p);                   // __skb_queue_tail
  void push_front(PacketPtr p);                  // __skb_queue_head
  PacketPtr pop_front();                         // __skb_dequeue; null when empty
  PacketPtr pop_back();                          // __skb_dequeue_tail; null when empty
  PacketBuffer* front() const { return head_; }  // peek (skb_peek); still owned by the queue
  PacketBuffer* back() const { return tail_; }
  // Remove a buffer that is on this queue (__skb_unlink) and hand back ownership.
  PacketPtr unlink(PacketBuffer* p);
  // Insert before `pos` (which must be on this queue); used by ordered queues (TCP OOO).
  void insert_before(PacketBuffer* pos, PacketPtr p);
  // Move every buffer of `other` to our tail (skb_queue_splice_tail).
  void splice_back(PacketQueue& other);
  void clear();  // free everything (skb_queue_purge)

  // Iteration without ownership transfer: for (PacketBuffer* p = q.front(); p; p = q.next(p))
  static PacketBuffer* next(const PacketBuffer* p) { return p->next_; }

 private:
  void take(PacketBuffer* p);
  PacketBuffer* head_ = nullptr;
  PacketBuffer* tail_ = nullptr;
  // 32 bits: a queue never holds 4 Gi packets or 4 GiB (and every TCP connection has two).
  uint32_t count_ = 0;
  uint32_t bytes_ = 0;
};

}  // namespace ustack
