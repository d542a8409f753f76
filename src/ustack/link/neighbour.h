// link/neighbour.h — NeighbourTable: the ARP cache as Linux's neighbour subsystem keeps it
// (net/core/neighbour.c; `ip neigh`), a state machine per (interface, IPv4 address).
//
// States (NUD_*): INCOMPLETE (request sent, packets queued), REACHABLE (confirmed recently),
// STALE (usable but unconfirmed), DELAY (used while stale: wait for a confirmation before
// probing), PROBE (unicast requests to the known MAC), FAILED (resolution gave up), PERMANENT
// (static, never ages). Transitions, as Linux:
//   none --output--> INCOMPLETE (broadcast request; retries every retrans_time; after
//       mcast_solicit requests with no reply: FAILED, queued packets handed to `unreachable`)
//   INCOMPLETE --reply--> REACHABLE (flush the queue)
//   REACHABLE --reachable_time elapsed--> STALE  (reachable_time is a random value in
//       [base/2, 3*base/2) from the stack's seeded Rng, re-drawn: see below)
//   STALE --output--> DELAY --delay_first_probe_time, no confirmation--> PROBE
//       --ucast_solicit unicast requests, no reply--> FAILED
//   DELAY/PROBE --reply or confirm()--> REACHABLE
//   a request addressed to us from X creates/updates X as STALE (RFC 826 "merge" step);
//   a changed MAC for a known entry: updated, state STALE (unless the update is a reply).
//   STALE/FAILED entries unused for gc_stale_time are garbage collected.
// Where this differs from Linux (documented so nobody mistakes it for a bug):
//   - reachable_time is drawn per entry each time it becomes REACHABLE (Linux redraws the
//     table-wide value every 300 s in neigh_periodic_work); a confirmation of a REACHABLE
//     entry extends it from the confirmation time without a new draw.
//   - REACHABLE always ages to STALE (Linux goes to DELAY instead if the entry was used in
//     the last delay_first_probe_time); there is no locktime: a newer ARP always overrides.
//   - confirm() takes DELAY and PROBE straight to REACHABLE (Linux only records the time and
//     lets the DELAY timer notice it; PROBE ignores it).
//   - the forced gc at gc_thresh3 frees every STALE/FAILED entry (Linux frees entries not
//     updated in 5 s down to gc_thresh2); PERMANENT entries do not count toward the limit.
// Timers: one per entry, in a min-heap with lazy invalidation: next_deadline() is O(1), each
// arm O(log n).
// Every time comes in as `now`; next_deadline()/on_timer() drive the timers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ustack/base/drop_reason.h"
#include "ustack/base/rng.h"
#include "ustack/base/telemetry.h"
#include "ustack/base/time.h"
#include "ustack/buf/packet_queue.h"
#include "ustack/wire/addr.h"

namespace ustack::link {

enum class NeighState : uint8_t {
  kIncomplete,
  kReachable,
  kStale,
  kDelay,
  kProbe,
  kFailed,
  kPermanent
};
std::string_view neigh_state_name(NeighState s);  // "INCOMPLETE", "REACHABLE", ... as ip neigh

// Defaults are Linux's (net.ipv4.neigh.default.*).
struct NeighConfig {
  Duration base_reachable_time = Duration::s(30);
  Duration retrans_time = Duration::s(1);
  Duration delay_first_probe_time = Duration::s(5);
  Duration gc_stale_time = Duration::s(60);
  int mcast_solicit = 3;             // broadcast requests while INCOMPLETE
  int ucast_solicit = 3;             // unicast probes in PROBE
  size_t unres_qlen = 101;           // packets queued per unresolved neighbour
  size_t unres_qlen_bytes = 212992;  // ... and bytes (SK_WMEM_MAX)
  size_t gc_thresh3 = 1024;          // hard limit on entries
};

struct NeighEntry {
  int ifindex = 0;
  wire::Ipv4Addr ip;
  wire::MacAddr mac;  // zero while INCOMPLETE
  NeighState state = NeighState::kIncomplete;
  Instant updated;    // last state change / confirmation
  Instant used;       // last output through the entry
  int probes = 0;     // requests sent in the current INCOMPLETE/PROBE episode
  size_t queued = 0;  // packets waiting for resolution
};

// ARP cache statistics (/proc/net/stat/arp_cache, `ip -s ntable`).
struct NeighStats {
  uint64_t allocs = 0;          // entries created
  uint64_t destroys = 0;        // entries removed (gc, flush, delete)
  uint64_t lookups = 0;         // output() calls
  uint64_t hits = 0;            // output() found a usable MAC
  uint64_t res_failed = 0;      // resolutions that ended in FAILED
  uint64_t unres_discards = 0;  // packets dropped: queue full or resolution failed
  uint64_t requests_sent = 0;   // broadcast requests and unicast probes
  uint64_t table_fulls = 0;     // creations refused at gc_thresh3
};

class NeighbourTable {
 public:
  // What the table needs from the link layer (implemented by Arp).
  class Hooks {
   public:
    virtual ~Hooks() = default;
    // Send an ARP request for `e.ip` on `e.ifindex`: broadcast, or unicast to `e.mac` when
    // `unicast` (PROBE). `saddr_hint` is the source of a packet waiting for this neighbour,
    // if any (Linux's arp_solicit prefers it as the request's sender address).
    virtual void solicit(Instant now, const NeighEntry& e, bool unicast,
                         std::optional<wire::Ipv4Addr> saddr_hint) = 0;
    // Transmit a resolved packet (data() at the L3 header) to `mac` on `ifindex`.
    virtual void xmit(Instant now, int ifindex, wire::MacAddr mac, PacketPtr pkt) = 0;
    // Resolution failed for a packet that was queued: it is dropped (already counted as
    // kNeighFailed); the owner may report it (IP sends ICMP host unreachable to local senders).
    virtual void unreachable(Instant now, int ifindex, wire::Ipv4Addr next_hop,
                             const PacketBuffer& pkt) = 0;
  };

  NeighbourTable(NeighConfig cfg, Rng rng, Telemetry& tel, Hooks& hooks);

  // neigh_resolve_output: send `pkt` (L3 packet at data()) to `next_hop` on `ifindex`.
  // Usable entry: xmit now (STALE starts DELAY). Otherwise queue (bounded; overflow drops the
  // oldest queued packet, counted kNeighQueueFull, as Linux's __neigh_event_send) and solicit.
  // A FAILED entry restarts resolution (as Linux does on the next packet).
  void output(Instant now, int ifindex, wire::Ipv4Addr next_hop, PacketPtr pkt);

  enum class Update : uint8_t {
    kReply,        // an ARP reply to us: entry becomes REACHABLE (created if INCOMPLETE)
    kRequestToUs,  // a request for one of our addresses: create or refresh as STALE
    kOther,        // any other ARP with this sender (gratuitous, requests for others):
                   // update an existing entry's MAC (STALE if it changed); never create
  };
  // neigh_update from ARP input. Never touches PERMANENT entries.
  void update(Instant now, int ifindex, wire::Ipv4Addr ip, wire::MacAddr mac, Update how);
  // Upper-layer reachability confirmation (neigh_confirm; TCP calls it on forward progress).
  void confirm(Instant now, int ifindex, wire::Ipv4Addr ip);

  // Static entries (ip neigh add ... nud permanent); replace any dynamic entry and flush its
  // queue through xmit.
  void add_static(Instant now, int ifindex, wire::Ipv4Addr ip, wire::MacAddr mac);
  bool remove(int ifindex, wire::Ipv4Addr ip);  // drops queued packets (counted)
  void flush(int ifindex);                      // all non-permanent entries of an interface

  const NeighEntry* lookup(int ifindex, wire::Ipv4Addr ip) const;
  std::vector<NeighEntry> entries() const;  // sorted by (ifindex, ip): stable output
  // `ip neigh` lines: "192.0.2.2 dev tap0 lladdr 02:00:00:00:00:02 REACHABLE", one per
  // entry, each ending in '\n'. The name of ifindex i is ifnames_by_index[i] (index 0 unused,
  // as ifindex 0 is "no interface"); a missing or empty name prints as "if<i>".
  std::string format(const std::vector<std::string>& ifnames_by_index) const;

  Instant next_deadline() const;
  void on_timer(Instant now);

  const NeighConfig& config() const { return cfg_; }
  void set_config(const NeighConfig& c) { cfg_ = c; }
  const NeighStats& stats() const { return stats_; }

 private:
  // One entry plus what only the table needs. Slots live in an unordered_map (node based:
  // references stay valid across inserts), keyed by (ifindex << 32 | ip).
  struct Slot {
    NeighEntry e;
    PacketQueue queue;        // arp_queue: unresolved packets, FIFO
    Instant confirmed;        // last reachability confirmation (neigh->confirmed)
    Duration reachable_time;  // drawn when the entry last became REACHABLE
    Instant timer = Instant::never();
    uint64_t timer_seq = 0;  // 0: no timer armed; else matches one TimerRef in heap_
  };
  // A min-heap element. Re-arming pushes a new element and leaves the old one behind; an
  // element whose seq no longer matches its slot's is stale and skipped (lazy invalidation).
  struct TimerRef {
    Instant when;
    uint64_t key;
    uint64_t seq;
  };
  struct TimerLater {
    bool operator()(const TimerRef& a, const TimerRef& b) const {
      if (a.when != b.when) return a.when > b.when;
      return a.key > b.key;  // ties in (ifindex, ip) order: deterministic, readable traces
    }
  };
  using Map = std::unordered_map<uint64_t, Slot>;

  static uint64_t key_of(int ifindex, wire::Ipv4Addr ip) {
    return uint64_t(uint32_t(ifindex)) << 32 | ip.v;
  }
  Slot* find(uint64_t key);
  Slot* create(Instant now, uint64_t key, int ifindex, wire::Ipv4Addr ip, NeighState state);
  Map::iterator destroy(Instant now, Map::iterator it, std::string_view why);
  bool forced_gc(Instant now);
  void set_state(Instant now, Slot& s, NeighState state);
  void become_reachable(Instant now, uint64_t key, Slot& s);
  void become_stale(Instant now, uint64_t key, Slot& s);
  void start_resolution(Instant now, uint64_t key, Slot& s);
  void enqueue(Instant now, Slot& s, PacketPtr pkt);
  void send_solicit(Instant now, Slot& s, bool unicast);
  void flush_queue(Instant now, Slot& s);
  void fail(Instant now, uint64_t key, Slot& s);
  void drop_queue(Instant now, Slot& s, DropReason why);
  void expire(Instant now, uint64_t key, Slot& s);
  void arm(uint64_t key, Slot& s, Instant when);
  void arm_gc(Instant now, uint64_t key, Slot& s);
  static void disarm(Slot& s) {
    s.timer = Instant::never();
    s.timer_seq = 0;
  }
  void prune_timers();

  NeighConfig cfg_;
  Rng rng_;
  Telemetry& tel_;
  Hooks& hooks_;
  NeighStats stats_;
  Map map_;
  std::vector<TimerRef> heap_;  // min-heap on (when, key); top is never stale (prune_timers)
  uint64_t timer_seq_ = 0;
  size_t gc_candidates_ = 0;  // STALE + FAILED entries: what forced gc could free
  size_t permanent_ = 0;      // PERMANENT entries (exempt from gc_thresh3)
  Instant now_;               // latest `now` seen: the time of events from remove()/flush()
};

}  // namespace ustack::link
