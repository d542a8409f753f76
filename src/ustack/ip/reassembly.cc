// ip/reassembly.cc — IPv4 reassembly queues (Linux's ip_defrag / ip_frag_queue /
// ip_frag_reasm / ip_expire, inet_frag's memory limit and LRU eviction).
#include "ustack/ip/reassembly.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"
#include "ustack/buf/packet_queue.h"
#include "ustack/wire/ipv4.h"

namespace ustack::ip {

namespace {

// Per held fragment, in the buffer's control block (skb->cb: Linux keeps FRAG_CB there too).
struct FragCb {
  uint32_t offset;  // payload bytes before this fragment in the datagram
  uint32_t end;     // offset + payload length
  uint32_t hlen;    // this fragment's IPv4 header length
};

FragCb& frag_cb(PacketBuffer* p) { return p->cb<FragCb>(); }

}  // namespace

struct Reassembler::Queue {
  // Key (ipq's saddr, daddr, id, protocol).
  uint32_t src = 0;
  uint32_t dst = 0;
  uint16_t id = 0;
  uint8_t proto = 0;
  bool last_in = false;  // the fragment with MF clear arrived: `len` is the datagram's length
  bool dead = false;     // tombstone: discarded, drops its remaining fragments until expiry
  DropReason dead_reason = DropReason::kNone;
  uint32_t len = 0;       // payload length: known (last_in) or the highest end seen so far
  uint32_t received = 0;  // payload bytes held (fragments never overlap, so no double count)
  size_t mem = 0;         // capacity() of the held fragments
  Instant expires;
  PacketQueue frags;       // held fragments, by offset
  Queue* hnext = nullptr;  // hash chain
  Queue* older = nullptr;  // creation-order list
  Queue* newer = nullptr;
};

Reassembler::Reassembler(ReasmConfig cfg, BufferPool& pool, Telemetry& tel, uint64_t hash_key)
    : cfg_(cfg), pool_(pool), tel_(tel), hash_key_(hash_key), buckets_(64, nullptr) {
  static_assert(sizeof(Queue) <= kQueueCost, "kQueueCost must cover a queue");
}

Reassembler::~Reassembler() = default;  // storage_ frees every queue and its fragments

// ---- queue table -------------------------------------------------------------------------

size_t Reassembler::bucket(uint32_t src, uint32_t dst, uint16_t id, uint8_t proto) const {
  // A keyed 64-bit multiply-xorshift mix of the whole key (Linux: a keyed jhash). The table
  // is also bounded by high_thresh, so even a flooded chain stays short enough to walk.
  uint64_t h = ((uint64_t{src} << 32 | dst) ^ hash_key_) * 0x9E3779B97F4A7C15ull;
  h ^= (uint64_t{id} << 8 | proto) * 0xC2B2AE3D27D4EB4Full;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 29;
  return static_cast<size_t>(h) & (buckets_.size() - 1);
}

Reassembler::Queue* Reassembler::find(uint32_t src, uint32_t dst, uint16_t id,
                                      uint8_t proto) const {
  for (Queue* q = buckets_[bucket(src, dst, id, proto)]; q != nullptr; q = q->hnext) {
    if (q->src == src && q->dst == dst && q->id == id && q->proto == proto) return q;
  }
  return nullptr;
}

void Reassembler::grow_buckets() {
  buckets_.assign(buckets_.size() * 2, nullptr);
  for (Queue* q = oldest_; q != nullptr; q = q->newer) {
    Queue*& head = buckets_[bucket(q->src, q->dst, q->id, q->proto)];
    q->hnext = head;
    head = q;
  }
}

Reassembler::Queue* Reassembler::create(Instant now, uint32_t src, uint32_t dst, uint16_t id,
                                        uint8_t proto) {
  Queue* q = free_;
  if (q != nullptr) {
    free_ = q->hnext;
  } else {
    storage_.push_back(std::make_unique<Queue>());
    q = storage_.back().get();
  }
  q->src = src;
  q->dst = dst;
  q->id = id;
  q->proto = proto;
  q->last_in = false;
  q->dead = false;
  q->dead_reason = DropReason::kNone;
  q->len = 0;
  q->received = 0;
  q->mem = 0;
  q->expires = now + cfg_.timeout;
  // Newest at the tail: with one timeout for all, the list stays sorted by expiry.
  q->older = newest_;
  q->newer = nullptr;
  (newest_ != nullptr ? newest_->newer : oldest_) = q;
  newest_ = q;
  ++count_;
  mem_ += kQueueCost;
  if (count_ > buckets_.size())
    grow_buckets();  // relinks q too
  else {
    Queue*& head = buckets_[bucket(src, dst, id, proto)];
    q->hnext = head;
    head = q;
  }
  return q;
}

void Reassembler::release(Queue* q) {
  Queue** link = &buckets_[bucket(q->src, q->dst, q->id, q->proto)];
  while (*link != q) link = &(*link)->hnext;
  *link = q->hnext;
  (q->older != nullptr ? q->older->newer : oldest_) = q->newer;
  (q->newer != nullptr ? q->newer->older : newest_) = q->older;
  q->frags.clear();
  mem_ -= q->mem + kQueueCost;
  q->mem = 0;
  --count_;
  q->hnext = free_;
  free_ = q;
}

void Reassembler::kill(Instant now, Queue* q, DropReason why) {
  // inet_frag_kill + inet_frag_rbtree_purge: every held fragment dies with the datagram.
  while (PacketPtr p = q->frags.pop_front()) {
    tel_.drop(now, Layer::kIp, why, p->trace_id,
              [&] { return fmt::format("fragment of id {} discarded with its datagram", q->id); });
  }
  mem_ -= q->mem;
  q->mem = 0;
  q->dead = true;
  q->dead_reason = why;
  ++stats_.reasm_fails;
}

void Reassembler::evict(Instant now, Queue* q) {
  if (!q->dead) {
    while (PacketPtr p = q->frags.pop_front()) {
      tel_.drop(now, Layer::kIp, DropReason::kReasmMemory, p->trace_id,
                [&] { return fmt::format("id {} evicted: over ipfrag_high_thresh", q->id); });
    }
    ++stats_.reasm_fails;
  }
  release(q);
}

bool Reassembler::make_room(Instant now, size_t need, const Queue* keep) {
  if (need > cfg_.high_thresh) return false;  // would not fit in an empty table either
  Queue* q = oldest_;
  while (mem_ + need > cfg_.high_thresh && q != nullptr) {
    Queue* next = q->newer;
    if (q != keep) evict(now, q);
    q = next;
  }
  return mem_ + need <= cfg_.high_thresh;
}

// ---- ip_defrag ---------------------------------------------------------------------------

PacketPtr Reassembler::insert(Instant now, PacketPtr frag) {
  ++stats_.reasm_reqds;
  // Not from inside on_timer (a TimeoutFn that re-enters): its loop is already expiring.
  if (oldest_ != nullptr && oldest_->expires <= now && !in_timer_) on_timer(now);
  const uint64_t pid = frag->trace_id;

  auto view = wire::Ipv4View::parse(frag->data());
  if (!view) {
    tel_.drop(now, Layer::kIp, wire::to_drop_reason(view.error()), pid,
              [] { return std::string("fragment without a valid IPv4 header"); });
    return nullptr;
  }
  if (!view->is_fragment()) return frag;  // nothing to reassemble
  if (frag->len() > view->total_len()) (void)frag->trim(view->total_len());
  const uint32_t hlen = static_cast<uint32_t>(view->header_len());
  const uint32_t offset = view->frag_offset();
  const uint32_t plen = view->total_len() - hlen;
  const uint32_t end = offset + plen;
  const bool mf = view->more_frags();
  // RFC 791 §3.2: the next fragment's offset counts 8-byte units, so a fragment with more to
  // follow carries a multiple of 8 (Ipv4Repr::parse rejects the rest; Linux trims them).
  if (mf && plen % 8 != 0) {
    tel_.drop(now, Layer::kIp, DropReason::kBadHeader, pid,
              [&] { return fmt::format("MF fragment of {} bytes (not a multiple of 8)", plen); });
    return nullptr;
  }
  const uint32_t src = view->src().v;
  const uint32_t dst = view->dst().v;
  const uint16_t id = view->ident();
  const uint8_t proto = view->protocol();
  const size_t cost = frag->capacity();

  Queue* q = find(src, dst, id, proto);
  if (q != nullptr && q->dead) {
    const DropReason why = q->dead_reason;
    tel_.drop(now, Layer::kIp, why, pid,
              [&] { return fmt::format("id {}: datagram already discarded", id); });
    return nullptr;
  }
  const bool fresh = q == nullptr;
  if (fresh) {
    // inet_frag_find: a new queue needs room for itself and this fragment.
    if (!make_room(now, kQueueCost + cost, nullptr)) {
      tel_.drop(now, Layer::kIp, DropReason::kReasmMemory, pid,
                [&] { return fmt::format("id {}: over ipfrag_high_thresh", id); });
      return nullptr;
    }
    q = create(now, src, dst, id, proto);
  }

  // ip_frag_queue's consistency checks; any failure discards the whole datagram.
  const char* bad = nullptr;
  if (wire::kIpv4MinHeaderLen + end > cfg_.max_datagram) {
    bad = "datagram too long";  // the ping of death
  } else if (plen == 0) {
    bad = "empty fragment";
  } else if (!mf) {
    // The last fragment fixes the length: nothing may lie beyond it, nor a different end.
    if (end < q->len || (q->last_in && end != q->len)) bad = "conflicting end";
  } else if (q->last_in && end > q->len) {
    bad = "fragment past the end";
  }
  if (bad != nullptr) {
    kill(now, q, DropReason::kBadLength);
    tel_.drop(now, Layer::kIp, DropReason::kBadLength, pid, [&] {
      return fmt::format("id {} [{}, {}): {}: datagram discarded", id, offset, end, bad);
    });
    return nullptr;
  }

  // Find the neighbours: `prev` is the last fragment starting at or before `offset`, `next`
  // the first after it. Fragments mostly arrive in order: try the tail first.
  PacketBuffer* prev = q->frags.back();
  PacketBuffer* next = nullptr;
  if (prev != nullptr && frag_cb(prev).offset > offset) {
    prev = nullptr;
    next = q->frags.front();
    while (frag_cb(next).offset <= offset) {
      prev = next;
      next = PacketQueue::next(next);
    }
  }
  if (prev != nullptr && frag_cb(prev).offset == offset && frag_cb(prev).end == end) {
    ++stats_.duplicates;  // a retransmitted or duplicated fragment: harmless, drop it alone
    tel_.drop(now, Layer::kIp, DropReason::kReasmDuplicate, pid,
              [&] { return fmt::format("id {} [{}, {}) again", id, offset, end); });
    return nullptr;
  }
  if ((prev != nullptr && frag_cb(prev).end > offset) ||
      (next != nullptr && frag_cb(next).offset < end)) {
    // RFC 5722 (applied to IPv4 as Linux does): overlaps are how fragment attacks rewrite
    // headers; never guess, discard the datagram.
    ++stats_.reasm_overlaps;
    kill(now, q, DropReason::kReasmOverlap);
    tel_.drop(now, Layer::kIp, DropReason::kReasmOverlap, pid, [&] {
      return fmt::format("id {} [{}, {}) overlaps: datagram discarded", id, offset, end);
    });
    return nullptr;
  }
  if (!fresh && !make_room(now, cost, q)) {
    tel_.drop(now, Layer::kIp, DropReason::kReasmMemory, pid,
              [&] { return fmt::format("id {}: over ipfrag_high_thresh", id); });
    return nullptr;
  }

  tel_.trace(now, Layer::kIp, "defrag_queue", pid,
             [&] { return fmt::format("id {} [{}, {}){}", id, offset, end, mf ? " MF" : ""); });
  frag_cb(frag.get()) = FragCb{offset, end, hlen};
  if (!mf) q->last_in = true;
  q->len = std::max(q->len, end);
  q->received += plen;
  q->mem += cost;
  mem_ += cost;
  if (next != nullptr) {
    q->frags.insert_before(next, std::move(frag));
  } else {
    q->frags.push_back(std::move(frag));
  }
  if (q->last_in && q->received == q->len) return reassemble(now, q);
  return nullptr;
}

PacketPtr Reassembler::reassemble(Instant now, Queue* q) {
  // Complete and non-overlapping, so the fragments tile [0, len) and the head has offset 0.
  PacketBuffer* first = q->frags.front();
  USTACK_ASSERT(frag_cb(first).offset == 0, "complete datagram without a first fragment");
  const size_t hlen = frag_cb(first).hlen;
  const size_t total = hlen + q->len;
  if (total > cfg_.max_datagram) {  // the first fragment's options pushed it over
    kill(now, q, DropReason::kBadLength);
    return nullptr;
  }
  PacketPtr out = pool_.alloc(BufferPool::kDefaultHeadroom, total);
  if (out == nullptr) {
    kill(now, q, DropReason::kNoBuffer);
    return nullptr;
  }
  std::span<uint8_t> b = *out->put(total);
  std::memcpy(b.data(), first->data().data(), hlen);
  for (PacketBuffer* p = first; p != nullptr; p = PacketQueue::next(p)) {
    const FragCb& c = frag_cb(p);
    std::memcpy(b.data() + hlen + c.offset, p->data().data() + c.hlen, c.end - c.offset);
    tel_.trace(now, Layer::kIp, "defrag", p->trace_id,
               [&] { return fmt::format("id {} [{}, {}) reassembled", q->id, c.offset, c.end); });
  }
  // ip_frag_reasm: one datagram again. MF and offset cleared (DF kept), length and checksum
  // recomputed; the first fragment's options stay.
  store_be16(b.data() + 2, static_cast<uint16_t>(total));
  store_be16(b.data() + 6, load_be16(b.data() + 6) & 0x4000);
  store_be16(b.data() + 10, 0);
  store_be16(b.data() + 10, inet_checksum(b.first(hlen)));
  out->copy_metadata_from(*first);
  out->set_network_header();
  ++stats_.reasm_oks;
  release(q);
  return out;
}

// ---- timers ------------------------------------------------------------------------------

Instant Reassembler::next_deadline() const {
  return oldest_ != nullptr ? oldest_->expires : Instant::never();
}

void Reassembler::on_timer(Instant now) {
  const bool outer = !in_timer_;
  in_timer_ = true;
  while (oldest_ != nullptr && oldest_->expires <= now) {
    Queue* q = oldest_;
    if (q->dead) {  // a tombstone's only job was to last this long
      release(q);
      continue;
    }
    // ip_expire. Take the fragments and forget the queue before calling out, so the handler
    // may re-enter insert().
    ++stats_.reasm_timeout;
    ++stats_.reasm_fails;
    PacketQueue frags = std::move(q->frags);
    const uint16_t id = q->id;
    release(q);
    PacketBuffer* head = frags.front();
    if (head != nullptr && frag_cb(head).offset == 0 && on_timeout_) on_timeout_(now, *head);
    while (PacketPtr p = frags.pop_front()) {
      tel_.drop(now, Layer::kIp, DropReason::kReasmTimeout, p->trace_id,
                [&] { return fmt::format("id {} timed out", id); });
    }
  }
  if (outer) in_timer_ = false;
}

}  // namespace ustack::ip
