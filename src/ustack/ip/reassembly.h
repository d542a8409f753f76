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
#pragma once

#include <cstdint>
#include <functional>

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

  Reassembler(ReasmConfig cfg, BufferPool& pool, Telemetry& tel);
  ~Reassembler();

  // ip_defrag: `frag` has data() at a valid IPv4 header (checksum verified by the caller) of
  // a fragment (MF or offset != 0) and len() == total length. Returns the reassembled
  // datagram when this fragment completes one, else null (the fragment is held or dropped;
  // drops are counted in Telemetry with kReasmOverlap / kReasmMemory / kBadLength).
  PacketPtr insert(Instant now, PacketPtr frag);

  Instant next_deadline() const;
  void on_timer(Instant now);  // expires queues (kReasmTimeout) and calls the TimeoutFn
  void set_timeout_handler(TimeoutFn fn) { on_timeout_ = std::move(fn); }

  size_t queues() const;  // datagrams being reassembled
  size_t mem() const;     // queued buffer bytes (what high_thresh bounds)
  const ReasmStats& stats() const { return stats_; }
  const ReasmConfig& config() const { return cfg_; }

 private:
  // Implementation-defined (helper).
  ReasmConfig cfg_;
  BufferPool& pool_;
  Telemetry& tel_;
  TimeoutFn on_timeout_;
  ReasmStats stats_;
};

}  // namespace ustack::ip
