// transport/tcp_ofo.cc — the out-of-order queue and its SACK blocks (see tcp_ofo.h).
#include "ustack/transport/tcp_ofo.h"

#include <algorithm>

#include "ustack/base/assert.h"

namespace ustack::transport {

using wire::SeqNum;

SeqNum TcpOfoQueue::first_seq() const { return empty() ? SeqNum{} : seq_of(st_->q.front()); }
SeqNum TcpOfoQueue::last_end_seq() const { return empty() ? SeqNum{} : end_of(st_->q.back()); }

PacketPtr TcpOfoQueue::unlink(PacketBuffer* p) {
  st_->bytes -= p->len();
  st_->mem -= p->capacity();
  return st_->q.unlink(p);
}

OfoInsert TcpOfoQueue::insert(SeqNum seq, PacketPtr payload, SeqNum rcv_nxt) {
  USTACK_ASSERT(payload != nullptr, "TcpOfoQueue::insert: null payload");
  if (payload->empty()) return OfoInsert::kOld;  // nothing to queue
  SeqNum end = seq + static_cast<uint32_t>(payload->len());
  // Octets before RCV.NXT were delivered already (RFC 9293 §3.10.7.4, "trim to the window").
  if (end <= rcv_nxt) return OfoInsert::kOld;
  if (st_ == nullptr) st_ = std::make_unique<State>();
  uint32_t head_cut = seq < rcv_nxt ? rcv_nxt - seq : 0;
  seq = seq + head_cut;

  // Find the neighbours: `prev` is the last segment starting before `seq`, `pos` the first at or
  // after it. Data nearly always arrives in order behind the last hole, so look at the tail
  // first (Linux's ooo_last_skb fast path) and walk from the front only otherwise.
  PacketBuffer* prev = st_->q.back();
  PacketBuffer* pos = nullptr;
  if (prev != nullptr && seq <= seq_of(prev)) {
    prev = nullptr;
    pos = st_->q.front();
    while (pos != nullptr && seq_of(pos) < seq) {
      prev = pos;
      pos = PacketQueue::next(pos);
    }
  }
  // tcp_data_queue_ofo: "All the bits are present" in the segment before us.
  if (prev != nullptr && end <= end_of(prev)) {
    ++stats_.ofo_merge;
    return OfoInsert::kDuplicate;
  }
  // Our head overlaps the previous segment's tail: keep only what is new.
  if (prev != nullptr && seq < end_of(prev)) {
    head_cut += end_of(prev) - seq;
    seq = end_of(prev);
  }
  // Segments we cover completely go (TCPOFOMerge); a partial overlap cuts our tail. Decide
  // first and change nothing until we know an octet is new and the memory check passed.
  size_t freed = 0;
  bool fresh = false;  // a hole in [seq, end) that we fill
  SeqNum cursor = seq;
  PacketBuffer* after = pos;
  while (after != nullptr && seq_of(after) < end && end_of(after) <= end) {
    fresh |= cursor < seq_of(after);
    cursor = end_of(after);
    freed += after->capacity();
    after = PacketQueue::next(after);
  }
  if (after != nullptr && seq_of(after) < end) {
    fresh |= cursor < seq_of(after);
    end = seq_of(after);
  } else {
    fresh |= cursor < end;
  }
  // Or in the segments after it, together: nothing new, nothing replaced.
  if (!fresh) {
    ++stats_.ofo_merge;
    return OfoInsert::kDuplicate;
  }
  // tcp_try_rmem_schedule: charge the whole buffer, as truesize.
  if (st_->mem - freed + payload->capacity() > mem_limit_) {
    ++stats_.ofo_drop;
    return OfoInsert::kNoMemory;
  }
  while (pos != after) {
    PacketBuffer* covered = pos;
    pos = PacketQueue::next(pos);
    unlink(covered);  // freed here
    ++stats_.ofo_merge;
  }
  if (head_cut != 0) {
    auto r = payload->pull(head_cut);
    USTACK_ASSERT(r.ok(), "TcpOfoQueue: head cut beyond the segment");
  }
  auto r = payload->trim(end - seq);
  USTACK_ASSERT(r.ok(), "TcpOfoQueue: tail cut beyond the segment");

  payload->cb<Cb>().seq = seq.v;
  st_->bytes += payload->len();
  st_->mem += payload->capacity();
  PacketBuffer* node = payload.get();
  if (after != nullptr) {
    st_->q.insert_before(after, std::move(payload));
  } else {
    st_->q.push_back(std::move(payload));
  }
  ++stats_.ofo_queue;
  sack_new_range(node, prev);
  return OfoInsert::kQueued;
}

PacketPtr TcpOfoQueue::pop_in_order(SeqNum& rcv_nxt) {
  if (st_ == nullptr) return nullptr;
  sack_remove(rcv_nxt);
  while (PacketBuffer* p = st_->q.front()) {
    if (rcv_nxt < seq_of(p)) return nullptr;  // a hole remains
    PacketPtr pkt = unlink(p);
    // tcp_ofo_queue: "ofo packet was already received" — RCV.NXT passed it meanwhile.
    if (end_of(p) <= rcv_nxt) continue;
    uint32_t dup = rcv_nxt - seq_of(p);
    if (dup != 0) {
      auto r = pkt->pull(dup);
      USTACK_ASSERT(r.ok(), "TcpOfoQueue: delivered head beyond the segment");
    }
    pkt->cb<Cb>().seq = rcv_nxt.v;
    rcv_nxt = rcv_nxt + static_cast<uint32_t>(pkt->len());
    sack_remove(rcv_nxt);
    return pkt;
  }
  return nullptr;
}

size_t TcpOfoQueue::sack_blocks(std::span<SackBlock> out, size_t max) const {
  if (st_ == nullptr) return 0;
  size_t n = std::min({st_->num_sacks, out.size(), max});
  for (size_t i = 0; i < n; ++i) out[i] = st_->sacks[i];
  return n;
}

void TcpOfoQueue::clear() { st_.reset(); }

// Where the contiguous run holding `node` begins. Walks from the front: only needed when the
// run is not in the SACK table (more than kMaxSackBlocks islands), so it is rare.
SeqNum TcpOfoQueue::run_start(PacketBuffer* node) const {
  SeqNum start = seq_of(st_->q.front());
  SeqNum run_end = start;
  for (PacketBuffer* p = st_->q.front(); p != nullptr; p = PacketQueue::next(p)) {
    if (seq_of(p) != run_end) start = seq_of(p);
    run_end = end_of(p);
    if (p == node) break;
  }
  return start;
}

void TcpOfoQueue::sack_erase(size_t i) {
  for (size_t j = i; j + 1 < st_->num_sacks; ++j) st_->sacks[j] = st_->sacks[j + 1];
  --st_->num_sacks;
}

// tcp_sack_new_ofo_skb + tcp_sack_maybe_coalesce: the range that now holds `node` (the new
// segment joined with any run it touches) becomes block 0; runs it absorbed leave the table.
// Invariant: every table entry is a maximal contiguous queued range.
void TcpOfoQueue::sack_new_range(PacketBuffer* node, PacketBuffer* prev) {
  SeqNum left = seq_of(node);
  SeqNum right = end_of(node);
  // Joined to the run before us: its start is in the table (an entry holding octet left-1), or
  // found by walking the queue when that run fell out of the table.
  if (prev != nullptr && end_of(prev) == left) {
    SeqNum start = left;
    for (size_t i = 0; i < st_->num_sacks; ++i) {
      if (st_->sacks[i].left < left && left <= st_->sacks[i].right) start = st_->sacks[i].left;
    }
    left = start != left ? start : run_start(prev);
  }
  // Joined to the run after us: likewise its end.
  PacketBuffer* next = PacketQueue::next(node);
  if (next != nullptr && seq_of(next) == right) {
    SeqNum stop = right;
    for (size_t i = 0; i < st_->num_sacks; ++i) {
      if (st_->sacks[i].left <= right && right < st_->sacks[i].right) stop = st_->sacks[i].right;
    }
    if (stop != right) {
      right = stop;
    } else {
      for (PacketBuffer* p = next; p != nullptr && seq_of(p) == right; p = PacketQueue::next(p)) {
        right = end_of(p);
      }
    }
  }
  // Entries now inside the joined run (including those of segments we replaced) merge into it.
  for (size_t i = 0; i < st_->num_sacks;) {
    if (st_->sacks[i].left <= right && left <= st_->sacks[i].right) {
      sack_erase(i);
    } else {
      ++i;
    }
  }
  // RFC 2018 §4: the first block reports the newest segment; the oldest report falls off.
  if (st_->num_sacks == kMaxSackBlocks) --st_->num_sacks;
  for (size_t j = st_->num_sacks; j > 0; --j) st_->sacks[j] = st_->sacks[j - 1];
  st_->sacks[0] = SackBlock{left, right};
  ++st_->num_sacks;
}

// tcp_sack_remove: ranges RCV.NXT has reached are delivered, not selectively acknowledged.
void TcpOfoQueue::sack_remove(SeqNum rcv_nxt) {
  for (size_t i = 0; i < st_->num_sacks;) {
    if (st_->sacks[i].left <= rcv_nxt) {
      sack_erase(i);
    } else {
      ++i;
    }
  }
}

}  // namespace ustack::transport
