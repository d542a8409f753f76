// transport/tcp_ofo.h — TcpOfoQueue: the receive side's out-of-order queue (Linux's
// tp->out_of_order_queue, tcp_data_queue_ofo / tcp_ofo_queue) and the SACK blocks it implies
// (RFC 2018 §4; Linux's tp->selective_acks, tcp_sack_new_ofo_skb / tcp_sack_remove).
//
// Segments that arrive beyond RCV.NXT wait here, their payloads (PacketBuffer::data()) kept in
// sequence order with their first sequence number in the buffer's cb<>(). The queue never holds
// the same octet twice: a new segment's head or tail that overlaps queued data is cut off
// (pull/trim), queued segments it covers completely are dropped (TCPOFOMerge), and a segment
// whose every octet is already queued is dropped (TCPOFOMerge). Linux lets partial overlaps sit
// side by side and trims at delivery; trimming on entry keeps bytes() exact instead.
//
// Memory: every queued buffer is charged its capacity() (Linux's skb->truesize) against a byte
// limit (the caller's receive buffer); a segment that would exceed it is dropped (TCPOFODrop).
// Linux first tries to prune (tcp_prune_ofo_queue); the caller can clear() to do the same.
//
// SACK (RFC 2018 §4): the queue tracks up to kTcpMaxSackBlocks maximal contiguous queued ranges,
// most recently grown first. The range containing the newest segment is always block 0; the
// others follow in the order they last grew (the order in which they were reported), a range
// that merges with the new one disappears into it, and ranges RCV.NXT reaches are forgotten.
// A range pushed out of the table (more than four islands) is reported again once it grows.
//
// Sequence arithmetic is wire::SeqNum throughout (modulo 2^32). Memory: most connections never
// see a segment out of order, so the queue's state (the queue, the byte counts and the block
// table) is allocated by the first insert() and kept until clear() (connection teardown): a
// queue that was never used costs a pointer, the limit and the counters. Otherwise nothing
// allocates: the queue is intrusive and the block table a fixed array, so a lossy connection
// does not allocate per recovery episode.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>

#include "ustack/buf/packet_queue.h"
#include "ustack/wire/seq.h"
#include "ustack/wire/tcp_options.h"

namespace ustack::transport {

// TcpExt counters (Linux names) kept by the queue; the engine adds them to TcpMib.
// Per queue, 32 bits (they wrap): the stack-wide TcpMib counters are the 64-bit ones.
struct TcpOfoStats {
  uint32_t ofo_queue = 0;  // TCPOFOQueue: segments put on the queue
  uint32_t ofo_drop = 0;   // TCPOFODrop: segments dropped because the memory limit was hit
  uint32_t ofo_merge = 0;  // TCPOFOMerge: segments dropped because their data was all queued
};

// What insert() did with the segment (the engine picks a drop reason / D-SACK from it).
enum class OfoInsert : uint8_t {
  kQueued,     // queued (possibly trimmed, possibly replacing segments it covered)
  kOld,        // every octet is before RCV.NXT (or there are none): nothing queued
  kDuplicate,  // every new octet was already queued: dropped, TCPOFOMerge
  kNoMemory,   // over the memory limit: dropped, TCPOFODrop
};

class TcpOfoQueue {
 public:
  using SackBlock = wire::SackBlock;
  static constexpr size_t kMaxSackBlocks = wire::kTcpMaxSackBlocks;

  explicit TcpOfoQueue(size_t mem_limit = std::numeric_limits<size_t>::max()) {
    set_mem_limit(mem_limit);
  }
  TcpOfoQueue(const TcpOfoQueue&) = delete;
  TcpOfoQueue& operator=(const TcpOfoQueue&) = delete;

  // tcp_data_queue_ofo: queue `payload` (its data() starts at sequence number `seq`), after
  // cutting off what lies before `rcv_nxt` and what is already queued.
  OfoInsert insert(wire::SeqNum seq, PacketPtr payload, wire::SeqNum rcv_nxt);

  // tcp_ofo_queue: the next queued segment that starts at or before `rcv_nxt`, with octets
  // already received pulled off, advancing `rcv_nxt` past it; null when there is none.
  // Segments that lie wholly before `rcv_nxt` are freed on the way. Call it in a loop after
  // an in-order segment advanced RCV.NXT. SACK blocks RCV.NXT reached are removed.
  PacketPtr pop_in_order(wire::SeqNum& rcv_nxt);

  // RFC 2018 §4: up to min(max, out.size()) blocks, most recent first; returns how many.
  // `max` is 3 when the segment carries timestamps, 4 otherwise.
  size_t sack_blocks(std::span<SackBlock> out, size_t max = kMaxSackBlocks) const;

  bool empty() const { return st_ == nullptr || st_->q.empty(); }
  size_t bytes() const { return st_ ? st_->bytes : 0; }        // payload octets queued
  size_t segments() const { return st_ ? st_->q.size() : 0; }  // buffers queued
  size_t mem() const { return st_ ? st_->mem : 0; }            // capacity charged (truesize)
  size_t mem_limit() const { return mem_limit_; }
  // Kept in 32 bits (saturating): no queue holds 4 GiB, a receive buffer is at most 2 GiB.
  void set_mem_limit(size_t limit) {
    mem_limit_ = static_cast<uint32_t>(std::min<size_t>(limit, UINT32_MAX));
  }
  // First and one-past-last queued sequence numbers; only meaningful when !empty().
  wire::SeqNum first_seq() const;
  wire::SeqNum last_end_seq() const;
  const TcpOfoStats& stats() const { return stats_; }
  // Free everything and forget the SACK blocks (tcp_prune_ofo_queue, connection teardown).
  void clear();

 private:
  struct Cb {
    uint32_t seq;  // sequence number of data()[0]
  };
  static wire::SeqNum seq_of(PacketBuffer* p) { return {p->cb<Cb>().seq}; }
  static wire::SeqNum end_of(PacketBuffer* p) {
    return seq_of(p) + static_cast<uint32_t>(p->len());
  }
  // What a used queue holds (allocated by the first insert(), freed by clear()).
  struct State {
    PacketQueue q;
    size_t bytes = 0;
    size_t mem = 0;
    std::array<SackBlock, kMaxSackBlocks> sacks{};  // maximal queued ranges, most recent first
    size_t num_sacks = 0;
  };
  PacketPtr unlink(PacketBuffer* p);
  wire::SeqNum run_start(PacketBuffer* node) const;
  void sack_new_range(PacketBuffer* node, PacketBuffer* prev);
  void sack_erase(size_t i);
  void sack_remove(wire::SeqNum rcv_nxt);

  std::unique_ptr<State> st_;
  uint32_t mem_limit_ = 0;
  TcpOfoStats stats_;
};

}  // namespace ustack::transport
