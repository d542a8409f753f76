// link/neighbour.cc — the NUD state machine of Linux's net/core/neighbour.c for the ARP
// cache: __neigh_event_send (output), __neigh_update (update), neigh_timer_handler
// (on_timer), neigh_invalidate (fail), neigh_periodic_work / neigh_forced_gc (gc).
//
// Re-entrancy: every hook (solicit, xmit, unreachable) can call back into the table (IP
// answers an unreachable packet with an ICMP error that goes out through output()). So each
// operation finishes its changes to a slot before it calls a hook, hands hooks copies or
// detached queues, and never touches the slot afterwards.
#include "ustack/link/neighbour.h"

#include <fmt/format.h>

#include <algorithm>

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"

namespace ustack::link {
namespace {

// NUD_VALID minus PERMANENT: the dynamic states that hold a usable MAC.
bool valid_dynamic(NeighState s) {
  return s == NeighState::kReachable || s == NeighState::kStale || s == NeighState::kDelay ||
         s == NeighState::kProbe;
}

bool gc_candidate(NeighState s) { return s == NeighState::kStale || s == NeighState::kFailed; }

std::string describe(const NeighEntry& e) {
  return fmt::format("{} dev {}", e.ip.to_string(), e.ifindex);
}

}  // namespace

std::string_view neigh_state_name(NeighState s) {
  switch (s) {
    case NeighState::kIncomplete:
      return "INCOMPLETE";
    case NeighState::kReachable:
      return "REACHABLE";
    case NeighState::kStale:
      return "STALE";
    case NeighState::kDelay:
      return "DELAY";
    case NeighState::kProbe:
      return "PROBE";
    case NeighState::kFailed:
      return "FAILED";
    case NeighState::kPermanent:
      return "PERMANENT";
  }
  return "?";
}

NeighbourTable::NeighbourTable(NeighConfig cfg, Rng rng, Telemetry& tel, Hooks& hooks)
    : cfg_(cfg), rng_(rng), tel_(tel), hooks_(hooks) {
  map_.reserve(std::min<size_t>(cfg_.gc_thresh3, 4096));
  heap_.reserve(64);
}

// ---- entries --------------------------------------------------------------------------------

NeighbourTable::Slot* NeighbourTable::find(uint64_t key) {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : &it->second;
}

// neigh_create. PERMANENT entries are exempt from gc_thresh3 (Linux's exempt_from_gc).
NeighbourTable::Slot* NeighbourTable::create(Instant now, uint64_t key, int ifindex,
                                             wire::Ipv4Addr ip, NeighState state) {
  if (state != NeighState::kPermanent && map_.size() - permanent_ >= cfg_.gc_thresh3) {
    forced_gc(now);
    if (map_.size() - permanent_ >= cfg_.gc_thresh3) {
      ++stats_.table_fulls;
      tel_.trace(now, Layer::kArp, "neigh_table_full", 0, [&] {
        return fmt::format("{} dev {}: {} entries (gc_thresh3)", ip.to_string(), ifindex,
                           map_.size() - permanent_);
      });
      return nullptr;
    }
  }
  auto [it, inserted] = map_.try_emplace(key);
  USTACK_ASSERT(inserted, "neigh create: entry exists");
  Slot& s = it->second;
  s.e.ifindex = ifindex;
  s.e.ip = ip;
  s.e.state = state;
  s.e.updated = s.e.used = s.confirmed = now;
  if (gc_candidate(state)) ++gc_candidates_;
  if (state == NeighState::kPermanent) ++permanent_;
  ++stats_.allocs;
  tel_.trace(now, Layer::kArp, "neigh_create", 0,
             [&] { return fmt::format("{} {}", describe(s.e), neigh_state_name(state)); });
  return &s;
}

auto NeighbourTable::destroy(Instant now, Map::iterator it, std::string_view why) -> Map::iterator {
  Slot& s = it->second;
  USTACK_ASSERT(s.queue.empty(), "neigh destroy: queued packets must be dropped first");
  if (gc_candidate(s.e.state)) --gc_candidates_;
  if (s.e.state == NeighState::kPermanent) --permanent_;
  ++stats_.destroys;
  tel_.trace(now, Layer::kArp, "neigh_destroy", 0, [&] {
    return fmt::format("{} {} ({})", describe(s.e), neigh_state_name(s.e.state), why);
  });
  return map_.erase(it);
}

// neigh_forced_gc at gc_thresh3: free every STALE and FAILED entry (they hold no queue). The
// counter makes the "nothing to free" case O(1), so a flood of creations at a full table
// does not scan it once per packet.
bool NeighbourTable::forced_gc(Instant now) {
  if (gc_candidates_ == 0) return false;
  for (auto it = map_.begin(); it != map_.end();) {
    it = gc_candidate(it->second.e.state) ? destroy(now, it, "forced gc") : std::next(it);
  }
  return true;
}

void NeighbourTable::set_state(Instant now, Slot& s, NeighState state) {
  const NeighState old = s.e.state;
  s.e.updated = now;
  if (old == state) return;
  if (gc_candidate(old)) --gc_candidates_;
  if (gc_candidate(state)) ++gc_candidates_;
  if (old == NeighState::kPermanent) --permanent_;
  if (state == NeighState::kPermanent) ++permanent_;
  s.e.state = state;
  tel_.trace(now, Layer::kArp, "neigh_update", 0, [&] {
    return fmt::format("{} {} -> {}", describe(s.e), neigh_state_name(old),
                       neigh_state_name(state));
  });
}

// neigh_rand_reach_time: uniform in [base/2, 3*base/2), drawn each time the entry becomes
// REACHABLE.
void NeighbourTable::become_reachable(Instant now, uint64_t key, Slot& s) {
  const int64_t base = cfg_.base_reachable_time.nanos();
  const uint64_t span = base > 0 ? static_cast<uint64_t>(base) : 0;
  s.reachable_time = Duration::ns(base / 2 + static_cast<int64_t>(rng_.below(span)));
  s.confirmed = now;
  s.e.probes = 0;
  set_state(now, s, NeighState::kReachable);
  arm(key, s, now + s.reachable_time);
}

void NeighbourTable::become_stale(Instant now, uint64_t key, Slot& s) {
  set_state(now, s, NeighState::kStale);
  arm_gc(now, key, s);
}

// __neigh_event_send for NONE/FAILED: INCOMPLETE, queue, first broadcast request now.
void NeighbourTable::start_resolution(Instant now, uint64_t key, Slot& s) {
  s.e.mac = wire::MacAddr{};
  s.e.probes = 0;
  set_state(now, s, NeighState::kIncomplete);
  arm(key, s, now + cfg_.retrans_time);
  send_solicit(now, s, /*unicast=*/false);  // last: the hook may re-enter
}

// __neigh_event_send's queueing: bounded in packets and bytes; the oldest makes room.
void NeighbourTable::enqueue(Instant now, Slot& s, PacketPtr pkt) {
  if (cfg_.unres_qlen == 0) {
    ++stats_.unres_discards;
    tel_.drop(now, Layer::kArp, DropReason::kNeighQueueFull, pkt->trace_id,
              [&] { return fmt::format("{}: unres_qlen 0", describe(s.e)); });
    return;
  }
  while (!s.queue.empty() && (s.queue.size() >= cfg_.unres_qlen ||
                              s.queue.bytes() + pkt->len() > cfg_.unres_qlen_bytes)) {
    PacketPtr old = s.queue.pop_front();
    ++stats_.unres_discards;
    tel_.drop(now, Layer::kArp, DropReason::kNeighQueueFull, old->trace_id, [&] {
      return fmt::format("{}: queue full ({} packets, {} bytes), oldest dropped", describe(s.e),
                         s.queue.size() + 1, s.queue.bytes() + old->len());
    });
  }
  s.queue.push_back(std::move(pkt));
  s.e.queued = s.queue.size();
}

// neigh_probe -> arp_solicit. The hint is the newest queued packet's IPv4 source, as Linux's
// arp_solicit peeks at the tail of arp_queue.
void NeighbourTable::send_solicit(Instant now, Slot& s, bool unicast) {
  std::optional<wire::Ipv4Addr> hint;
  if (const PacketBuffer* last = s.queue.back(); last != nullptr && last->len() >= 20) {
    hint = wire::Ipv4Addr{load_be32(last->data(), 12)};
  }
  ++s.e.probes;
  ++stats_.requests_sent;
  tel_.trace(now, Layer::kArp, "neigh_solicit", 0, [&] {
    return fmt::format("{} {} {} #{}", describe(s.e), neigh_state_name(s.e.state),
                       unicast ? "unicast to " + s.e.mac.to_string() : std::string("broadcast"),
                       s.e.probes);
  });
  const NeighEntry copy = s.e;
  hooks_.solicit(now, copy, unicast, hint);
}

// The MAC is known: hand the queued packets to the link in FIFO order.
void NeighbourTable::flush_queue(Instant now, Slot& s) {
  if (s.queue.empty()) return;
  PacketQueue q = std::move(s.queue);
  s.e.queued = 0;
  const int ifindex = s.e.ifindex;
  const wire::MacAddr mac = s.e.mac;
  while (PacketPtr p = q.pop_front()) hooks_.xmit(now, ifindex, mac, std::move(p));
}

// neigh_invalidate: FAILED; each queued packet is reported (ICMP host unreachable) and freed.
void NeighbourTable::fail(Instant now, uint64_t key, Slot& s) {
  PacketQueue q = std::move(s.queue);
  s.e.queued = 0;
  ++stats_.res_failed;
  set_state(now, s, NeighState::kFailed);
  arm_gc(now, key, s);
  const int ifindex = s.e.ifindex;
  const wire::Ipv4Addr ip = s.e.ip;
  while (PacketPtr p = q.pop_front()) {
    ++stats_.unres_discards;
    tel_.drop(now, Layer::kArp, DropReason::kNeighFailed, p->trace_id,
              [&] { return fmt::format("{} dev {}: no ARP reply", ip.to_string(), ifindex); });
    hooks_.unreachable(now, ifindex, ip, *p);
  }  // each packet is freed only after its report
}

// Packets queued on an entry that is deleted by hand (ip neigh del / flush).
void NeighbourTable::drop_queue(Instant now, Slot& s, DropReason why) {
  while (PacketPtr p = s.queue.pop_front()) {
    ++stats_.unres_discards;
    tel_.drop(now, Layer::kArp, why, p->trace_id,
              [&] { return fmt::format("{}: entry deleted", describe(s.e)); });
  }
  s.e.queued = 0;
}

// ---- timers ---------------------------------------------------------------------------------

void NeighbourTable::arm(uint64_t key, Slot& s, Instant when) {
  s.timer = when;
  s.timer_seq = ++timer_seq_;
  heap_.push_back(TimerRef{when, key, s.timer_seq});
  std::push_heap(heap_.begin(), heap_.end(), TimerLater{});
}

// neigh_periodic_work's test, per entry: collectable once unused for gc_stale_time (a
// confirmation counts as use, as Linux moves `used` up to `confirmed`).
void NeighbourTable::arm_gc(Instant now, uint64_t key, Slot& s) {
  const Instant last = std::max(s.e.used, s.confirmed);
  arm(key, s, std::max(now, last + cfg_.gc_stale_time));
}

// Drop stale heap tops so next_deadline() is exact; rebuild the heap when dead elements
// outnumber live ones (amortized O(1) per arm).
void NeighbourTable::prune_timers() {
  while (!heap_.empty()) {
    const TimerRef& t = heap_.front();
    auto it = map_.find(t.key);
    if (it != map_.end() && it->second.timer_seq == t.seq) break;
    std::pop_heap(heap_.begin(), heap_.end(), TimerLater{});
    heap_.pop_back();
  }
  if (heap_.size() > 2 * map_.size() + 64) {
    heap_.clear();
    for (const auto& [key, s] : map_) {
      if (s.timer_seq != 0) heap_.push_back(TimerRef{s.timer, key, s.timer_seq});
    }
    std::make_heap(heap_.begin(), heap_.end(), TimerLater{});
  }
}

Instant NeighbourTable::next_deadline() const {
  return heap_.empty() ? Instant::never() : heap_.front().when;
}

void NeighbourTable::on_timer(Instant now) {
  now_ = std::max(now_, now);
  while (!heap_.empty() && heap_.front().when <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), TimerLater{});
    const TimerRef t = heap_.back();
    heap_.pop_back();
    auto it = map_.find(t.key);
    if (it == map_.end() || it->second.timer_seq != t.seq) continue;  // stale
    disarm(it->second);
    expire(now, t.key, it->second);
  }
  prune_timers();
}

// neigh_timer_handler (plus the periodic gc, per entry). Hooks are called last.
void NeighbourTable::expire(Instant now, uint64_t key, Slot& s) {
  switch (s.e.state) {
    case NeighState::kIncomplete:
      if (s.e.probes >= cfg_.mcast_solicit) return fail(now, key, s);
      arm(key, s, now + cfg_.retrans_time);
      return send_solicit(now, s, /*unicast=*/false);
    case NeighState::kReachable: {
      const Instant until = s.confirmed + s.reachable_time;
      if (now < until) return arm(key, s, until);  // confirmed since: still alive
      return become_stale(now, key, s);
    }
    case NeighState::kDelay:
      // No confirmation within delay_first_probe_time (confirm() would have left DELAY):
      // probe the cached MAC, the first probe right away.
      s.e.probes = 0;
      set_state(now, s, NeighState::kProbe);
      if (cfg_.ucast_solicit <= 0) return fail(now, key, s);
      arm(key, s, now + cfg_.retrans_time);
      return send_solicit(now, s, /*unicast=*/true);
    case NeighState::kProbe:
      if (s.e.probes >= cfg_.ucast_solicit) return fail(now, key, s);
      arm(key, s, now + cfg_.retrans_time);
      return send_solicit(now, s, /*unicast=*/true);
    case NeighState::kStale:
    case NeighState::kFailed: {
      const Instant until = std::max(s.e.used, s.confirmed) + cfg_.gc_stale_time;
      if (now < until) return arm(key, s, until);
      destroy(now, map_.find(key), "gc_stale_time");
      return;
    }
    case NeighState::kPermanent:
      return;
  }
}

// ---- operations -----------------------------------------------------------------------------

void NeighbourTable::output(Instant now, int ifindex, wire::Ipv4Addr next_hop, PacketPtr pkt) {
  now_ = std::max(now_, now);
  ++stats_.lookups;
  const uint64_t key = key_of(ifindex, next_hop);
  Slot* s = find(key);
  if (s != nullptr) {
    s->e.used = now;
    switch (s->e.state) {
      case NeighState::kReachable:
      case NeighState::kPermanent:
      case NeighState::kDelay:
      case NeighState::kProbe:
        ++stats_.hits;
        return hooks_.xmit(now, ifindex, s->e.mac, std::move(pkt));
      case NeighState::kStale: {
        // Use of an unconfirmed entry: send now, and probe unless confirmed meanwhile.
        ++stats_.hits;
        set_state(now, *s, NeighState::kDelay);
        arm(key, *s, now + cfg_.delay_first_probe_time);
        const wire::MacAddr mac = s->e.mac;
        prune_timers();
        return hooks_.xmit(now, ifindex, mac, std::move(pkt));
      }
      case NeighState::kIncomplete:
        return enqueue(now, *s, std::move(pkt));
      case NeighState::kFailed:
        break;  // restart resolution below
    }
  } else {
    s = create(now, key, ifindex, next_hop, NeighState::kIncomplete);
    if (s == nullptr) {
      tel_.drop(now, Layer::kArp, DropReason::kNeighFailed, pkt->trace_id, [&] {
        return fmt::format("{} dev {}: neighbour table full", next_hop.to_string(), ifindex);
      });
      return prune_timers();
    }
  }
  if (cfg_.mcast_solicit <= 0) {  // resolution disabled: fail at once (Linux drops the skb)
    ++stats_.unres_discards;
    ++stats_.res_failed;
    tel_.drop(now, Layer::kArp, DropReason::kNeighFailed, pkt->trace_id,
              [&] { return fmt::format("{}: mcast_solicit 0", describe(s->e)); });
    set_state(now, *s, NeighState::kFailed);
    arm_gc(now, key, *s);
    return prune_timers();
  }
  enqueue(now, *s, std::move(pkt));
  start_resolution(now, key, *s);
  prune_timers();
}

void NeighbourTable::update(Instant now, int ifindex, wire::Ipv4Addr ip, wire::MacAddr mac,
                            Update how) {
  now_ = std::max(now_, now);
  const uint64_t key = key_of(ifindex, ip);
  Slot* s = find(key);
  if (s == nullptr) {
    // arp_accept=0: only a request addressed to us creates an entry (neigh_event_ns).
    if (how != Update::kRequestToUs) return;
    s = create(now, key, ifindex, ip, NeighState::kStale);
    if (s != nullptr) {
      s->e.mac = mac;
      arm_gc(now, key, *s);
    }
    return prune_timers();
  }
  const NeighState old = s->e.state;
  if (old == NeighState::kPermanent) return;  // only the administrator changes those
  const bool changed = !valid_dynamic(old) || s->e.mac != mac;
  if (how == Update::kReply) {
    // A reply to us asserts reachability (__neigh_update with NUD_REACHABLE, override).
    s->e.mac = mac;
    if (old == NeighState::kReachable) {
      s->confirmed = now;  // the timer notices and extends (neigh_timer_handler)
      s->e.updated = now;
      if (changed) {
        tel_.trace(now, Layer::kArp, "neigh_update", 0, [&] {
          return fmt::format("{} REACHABLE lladdr {}", describe(s->e), mac.to_string());
        });
      }
    } else {
      become_reachable(now, key, *s);
    }
    prune_timers();
    if (old == NeighState::kIncomplete) flush_queue(now, *s);
    return;
  }
  // kRequestToUs / kOther: NUD_STALE. Same MAC on a valid entry: no change at all.
  if (!changed) return;
  s->e.mac = mac;
  const bool queued = !s->queue.empty();
  if (!queued) {
    become_stale(now, key, *s);
    return prune_timers();
  }
  // INCOMPLETE with packets waiting: Linux flushes them through neigh->output, which finds
  // the entry STALE and moves it to DELAY (__neigh_event_send). Do the same.
  set_state(now, *s, NeighState::kStale);
  s->e.used = now;
  set_state(now, *s, NeighState::kDelay);
  arm(key, *s, now + cfg_.delay_first_probe_time);
  prune_timers();
  flush_queue(now, *s);
}

void NeighbourTable::confirm(Instant now, int ifindex, wire::Ipv4Addr ip) {
  now_ = std::max(now_, now);
  const uint64_t key = key_of(ifindex, ip);
  Slot* s = find(key);
  if (s == nullptr) return;
  switch (s->e.state) {
    case NeighState::kReachable:
      // O(1) on TCP's hot path: no re-arm; the timer extends from `confirmed` when it fires.
      s->confirmed = now;
      s->e.updated = now;
      return;
    case NeighState::kDelay:
    case NeighState::kProbe:
      become_reachable(now, key, *s);
      return prune_timers();
    case NeighState::kStale:
      s->confirmed = now;  // postpones gc; the entry stays STALE until it is used
      return;
    case NeighState::kIncomplete:
    case NeighState::kFailed:
    case NeighState::kPermanent:
      return;  // nothing confirmed: no MAC, or one that never ages
  }
}

void NeighbourTable::add_static(Instant now, int ifindex, wire::Ipv4Addr ip, wire::MacAddr mac) {
  now_ = std::max(now_, now);
  const uint64_t key = key_of(ifindex, ip);
  Slot* s = find(key);
  if (s == nullptr) {
    s = create(now, key, ifindex, ip, NeighState::kPermanent);
  } else {
    set_state(now, *s, NeighState::kPermanent);
  }
  s->e.mac = mac;
  s->e.probes = 0;
  s->confirmed = now;
  disarm(*s);
  prune_timers();
  flush_queue(now, *s);
}

bool NeighbourTable::remove(int ifindex, wire::Ipv4Addr ip) {
  auto it = map_.find(key_of(ifindex, ip));
  if (it == map_.end()) return false;
  drop_queue(now_, it->second, DropReason::kNeighFailed);
  destroy(now_, it, "removed");
  prune_timers();
  return true;
}

void NeighbourTable::flush(int ifindex) {
  for (auto it = map_.begin(); it != map_.end();) {
    Slot& s = it->second;
    if (s.e.ifindex != ifindex || s.e.state == NeighState::kPermanent) {
      ++it;
      continue;
    }
    drop_queue(now_, s, DropReason::kNeighFailed);
    it = destroy(now_, it, "flushed");
  }
  prune_timers();
}

const NeighEntry* NeighbourTable::lookup(int ifindex, wire::Ipv4Addr ip) const {
  auto it = map_.find(key_of(ifindex, ip));
  return it == map_.end() ? nullptr : &it->second.e;
}

std::vector<NeighEntry> NeighbourTable::entries() const {
  std::vector<NeighEntry> out;
  out.reserve(map_.size());
  for (const auto& [key, s] : map_) out.push_back(s.e);
  std::sort(out.begin(), out.end(), [](const NeighEntry& a, const NeighEntry& b) {
    return a.ifindex != b.ifindex ? a.ifindex < b.ifindex : a.ip < b.ip;
  });
  return out;
}

std::string NeighbourTable::format(const std::vector<std::string>& ifnames_by_index) const {
  std::string out;
  for (const NeighEntry& e : entries()) {
    const auto i = static_cast<size_t>(e.ifindex);
    const std::string dev = i < ifnames_by_index.size() && !ifnames_by_index[i].empty()
                                ? ifnames_by_index[i]
                                : fmt::format("if{}", e.ifindex);
    // neigh_fill_info puts NDA_LLADDR only for NUD_VALID entries.
    const bool has_lladdr = e.state != NeighState::kIncomplete && e.state != NeighState::kFailed;
    out += fmt::format("{} dev {}", e.ip.to_string(), dev);
    if (has_lladdr) out += fmt::format(" lladdr {}", e.mac.to_string());
    out += fmt::format(" {}\n", neigh_state_name(e.state));
  }
  return out;
}

}  // namespace ustack::link
