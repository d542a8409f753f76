// ip/reassembly.h — IPv4 reassembly (RFC 791 §3.2 "reassembly procedure", RFC 815, as Linux's
// ip_fragment.c / inet_fragment.c).
//
// Fragments are queued per (src, dst, id, protocol). Arrival in any order; an exact duplicate
// of a fragment already held (same offset and length) is dropped alone; any other overlap
// discards the whole datagram (RFC 5722's rule for IPv6, which Linux applies to IPv4 too) and
// the queue is kept as a tombstone until its timer so the datagram's remaining fragments are
// dropped too. A complete datagram is returned as ONE contiguous buffer (header from the
// first fragment, MF and offset cleared, total length and checksum recomputed; options of the
// first fragment kept). Each queue expires `timeout` after its first fragment (Linux: 30 s,
// ipfrag_time) and memory is bounded per stack (ipfrag_high_thresh = 4 MiB of queued buffer
// bytes: a fragment that would exceed it evicts the oldest queues first and, if still over,
// is dropped). Counters are Linux's /proc/net/snmp names.
//
// Discarding a datagram (overlap; a fragment past the known end, a second different end, an
// empty fragment or one that makes the datagram longer than max_datagram: kBadLength) frees
// its fragments and counts ReasmFails once; the tombstone then drops the datagram's later
// fragments with the same reason until it expires. Linux's ip_frag_queue rejects the same
// shapes. A completed datagram's queue goes away at once (as Linux): a late duplicate starts
// a new queue that times out.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ustack/base/telemetry.h"
#include "ustack/base/time.h"
#include "ustack/buf/pool.h"

namespace ustack::ip {

struct ReasmConfig {
  Duration timeout = Duration::s(30);  // net.ipv4.ipfrag_time
  size_t high_thresh = 4 << 20;        // net.ipv4.ipfrag_high_thresh (bytes)
  size_t max_datagram = 65535;         // reassembled total length limit (RFC 791)
};

struct ReasmStats {
  uint64_t reasm_reqds = 0;     // ReasmReqds: fragments received for reassembly
  uint64_t reasm_oks = 0;       // ReasmOKs: datagrams reassembled
  uint64_t reasm_fails = 0;     // ReasmFails: failures (timeouts, overlaps, memory, too long)
  uint64_t reasm_timeout = 0;   // ReasmTimeout: queues that timed out
  uint64_t reasm_overlaps = 0;  // ReasmOverlaps (Linux MIB): datagrams discarded for overlap
  uint64_t duplicates = 0;      // exact duplicate fragments dropped
};

class Reassembler {
 public:
  // Called when a queue times out and its first fragment (offset 0) had arrived: IP sends
  // ICMP time exceeded, code 1 (fragment reassembly time exceeded), quoting it (RFC 792,
  // RFC 1122 §3.3.2). The buffer is only borrowed.
  using TimeoutFn = std::function<void(Instant now, const PacketBuffer& first_fragment)>;

  // `hash_key` keys the queue hash (Linux keys its jhash with a random secret) so a remote
  // sender cannot aim every datagram at one chain; the stack passes a value from its seeded Rng.
  Reassembler(ReasmConfig cfg, BufferPool& pool, Telemetry& tel, uint64_t hash_key = 0);
  ~Reassembler();

  // What each queue (tombstones too) charges to mem() on top of its fragments, as Linux
  // charges sizeof(struct ipq): it bounds the number of queues, tombstones included.
  static constexpr size_t kQueueCost = 128;

  // ip_defrag: `frag` has data() at a valid IPv4 header (checksum verified by the caller) of
  // a fragment (MF or offset != 0) and len() == total length (longer is trimmed). Returns the
  // reassembled datagram when this fragment completes one, else null (the fragment is held or
  // dropped; drops are counted in Telemetry with kReasmDuplicate / kReasmOverlap /
  // kReasmMemory / kBadLength / kBadHeader, or kNoBuffer if the pool cannot hold the result).
  // A packet that is not a fragment is returned unchanged. Queues due at `now` expire first
  // (as on_timer, TimeoutFn included), so no fragment joins a datagram past its deadline.
  // `now` never goes backwards. Fragments are kept in offset order (a fragment after the last
  // held one is appended in O(1), others cost a walk over the datagram's fragments).
  PacketPtr insert(Instant now, PacketPtr frag);

  Instant next_deadline() const;  // the oldest queue's expiry: O(1)
  // Expires queues (kReasmTimeout) and calls the TimeoutFn; tombstones just go away.
  void on_timer(Instant now);
  void set_timeout_handler(TimeoutFn fn) { on_timeout_ = std::move(fn); }

  size_t queues() const { return count_; }  // datagrams being reassembled (tombstones too)
  // Bytes held, as Linux's truesize: each held fragment's block capacity() plus kQueueCost per
  // queue. Never exceeds high_thresh.
  size_t mem() const { return mem_; }
  const ReasmStats& stats() const { return stats_; }
  const ReasmConfig& config() const { return cfg_; }

 private:
  struct Queue;  // one datagram (Linux's struct ipq), defined in reassembly.cc

  Queue* find(uint32_t src, uint32_t dst, uint16_t id, uint8_t proto) const;
  Queue* create(Instant now, uint32_t src, uint32_t dst, uint16_t id, uint8_t proto);
  void release(Queue* q);  // unhash, unlink, recycle (fragments freed uncounted)
  // Frees the fragments (each dropped with `why`), counts ReasmFails, keeps a tombstone.
  void kill(Instant now, Queue* q, DropReason why);
  // Evicts the oldest queues but `keep` until `need` more bytes fit under high_thresh.
  bool make_room(Instant now, size_t need, const Queue* keep);
  void evict(Instant now, Queue* q);
  PacketPtr reassemble(Instant now, Queue* q);  // ip_frag_reasm
  void grow_buckets();
  size_t bucket(uint32_t src, uint32_t dst, uint16_t id, uint8_t proto) const;

  ReasmConfig cfg_;
  BufferPool& pool_;
  Telemetry& tel_;
  uint64_t hash_key_;
  TimeoutFn on_timeout_;
  ReasmStats stats_;

  std::vector<Queue*> buckets_;                  // hash chains by (src, dst, id, protocol)
  std::vector<std::unique_ptr<Queue>> storage_;  // every Queue ever made (reused)
  Queue* free_ = nullptr;                        // recycled queues
  // Queues by creation time, oldest first. All share one timeout, so this is also expiry
  // order: the head is the next deadline and the first to evict (inet_frag's LRU).
  Queue* oldest_ = nullptr;
  Queue* newest_ = nullptr;
  size_t count_ = 0;
  size_t mem_ = 0;
  bool in_timer_ = false;  // on_timer is running (a TimeoutFn may re-enter insert)
};

}  // namespace ustack::ip
