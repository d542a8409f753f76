// dev/fault_injector.cc — the fault pipeline (drop, duplicate, corrupt, delay, reorder) and its
// NAPI/timer integration. See fault_injector.h for the semantics and how they compare to netem.
#include "ustack/dev/fault_injector.h"

#include <fmt/format.h>

#include <algorithm>

namespace ustack::dev {
namespace {
constexpr const char* kDirName[] = {"rx", "tx"};
}  // namespace

// Sits between the inner device's poll and the injector: every frame the inner device hands up
// enters the RX pipeline instead of going straight to the stack.
class FaultInjector::RxTap final : public RxSink {
 public:
  explicit RxTap(FaultInjector& fi) : fi_(fi) {}
  void netif_receive(Instant now, NetDevice& /*inner*/, PacketPtr frame) override {
    fi_.ingress(now, kRx, std::move(frame), nullptr);
  }

 private:
  FaultInjector& fi_;
};

FaultInjector::FaultInjector(std::unique_ptr<NetDevice> inner, FaultInjectorConfig cfg)
    : DeviceWrapper(std::move(inner)),
      cfg_(cfg),
      dir_{Direction(Rng(0)), Direction(Rng(0))},
      own_tel_(name()) {
  seed_streams(cfg_.seed);
}

FaultInjector::~FaultInjector() {
  // The Telemetry we were attached to may already be gone: count, do not trace.
  flush(last_now_, /*trace=*/false);
}

void FaultInjector::seed_streams(uint64_t seed) {
  // One child stream per direction: RX decisions never depend on how much TX traffic there was.
  Rng root(seed);
  dir_[kRx].rng = root.fork();
  dir_[kTx].rng = root.fork();
}

void FaultInjector::set_config(const FaultInjectorConfig& cfg) {
  if (cfg.seed != cfg_.seed) seed_streams(cfg.seed);
  cfg_ = cfg;
}

size_t FaultInjector::rx_held() const {
  const Direction& s = dir_[kRx];
  return s.delayed.size() + (s.slot ? 1 : 0) + rx_ready_.size();
}

size_t FaultInjector::tx_held() const {
  const Direction& s = dir_[kTx];
  return s.delayed.size() + (s.slot ? 1 : 0);
}

void FaultInjector::set_up(bool up) {
  DeviceWrapper::set_up(up);
  if (!up) flush(last_now_, /*trace=*/true);  // ndo_stop: held frames die with the queues
}

void FaultInjector::drop(Instant now, Dir d, PacketPtr frame, DropReason why, const char* what) {
  tel_ref().drop(now, Layer::kDev, why, frame->trace_id, [&] {
    return fmt::format("{} {} {} len={}", name(), kDirName[d], what, frame->len());
  });
}

void FaultInjector::flush(Instant now, bool trace) {
  for (Dir d : {kRx, kTx}) {
    Direction& s = dir_[d];
    std::vector<PacketPtr> doomed;
    for (Held& h : s.delayed) doomed.push_back(std::move(h.frame));
    s.delayed.clear();
    if (s.slot) doomed.push_back(std::move(s.slot));
    s.slot_deadline = Instant::never();
    if (d == kRx) {
      while (PacketPtr f = rx_ready_.pop_front()) doomed.push_back(std::move(f));
    }
    s.stats.flushed += doomed.size();
    for (PacketPtr& f : doomed) {
      if (trace) drop(now, d, std::move(f), DropReason::kDevDown, "flushed held frame");
    }
  }
}

XmitStatus FaultInjector::xmit(Instant now, PacketPtr frame) {
  last_now_ = now;
  // A down device refuses the frame itself (kDevDown, counted by it); holding it would only
  // delay that.
  if (!is_up()) return inner().xmit(now, std::move(frame));
  release_due(now, kTx);  // frames due by now leave before this one (the loop may be late)
  // Held or dropped by a fault: the sender cannot tell a lossy wire from a good one (netem).
  XmitStatus status = XmitStatus::kQueued;
  ingress(now, kTx, std::move(frame), &status);
  return status;
}

void FaultInjector::ingress(Instant now, Dir d, PacketPtr frame, XmitStatus* status) {
  const FaultConfig& c = fcfg(d);
  Direction& s = dir_[d];
  if (frame->trace_id == 0) frame->trace_id = tel_ref().new_packet_id();
  ++s.stats.frames;
  if (s.rng.chance(c.drop)) {
    ++s.stats.dropped;
    drop(now, d, std::move(frame), DropReason::kFaultInjected, "fault drop");
    return;
  }
  if (s.rng.chance(c.duplicate)) {
    PacketPtr copy = frame->clone();  // shares the bytes; corrupting either copies first
    copy->trace_id = tel_ref().new_packet_id();
    ++s.stats.duplicated;
    tel_ref().trace(now, Layer::kDev, "fault_dup", frame->trace_id, [&] {
      return fmt::format("{} {} copy=#{}", name(), kDirName[d], copy->trace_id);
    });
    stage(now, d, std::move(frame), status);
    stage(now, d, std::move(copy), nullptr);
    return;
  }
  stage(now, d, std::move(frame), status);
}

void FaultInjector::stage(Instant now, Dir d, PacketPtr frame, XmitStatus* status) {
  const FaultConfig& c = fcfg(d);
  Direction& s = dir_[d];
  if (s.rng.chance(c.corrupt) && !frame->empty()) {
    const size_t byte = s.rng.below(frame->len());
    const unsigned bit = static_cast<unsigned>(s.rng.below(8));
    auto bytes = frame->mutable_data();  // copy-on-write: a clone sharing the block is safe
    if (!bytes) {
      drop(now, d, std::move(frame), DropReason::kNoBuffer, "corrupt: no memory to unshare");
      return;
    }
    (*bytes)[byte] ^= static_cast<uint8_t>(1u << bit);
    frame->ip_summed = CsumState::kNone;  // what the medium vouched for no longer holds
    ++s.stats.corrupted;
    tel_ref().trace(now, Layer::kDev, "fault_corrupt", frame->trace_id, [&] {
      return fmt::format("{} {} byte={} bit={}", name(), kDirName[d], byte, bit);
    });
  }
  Duration hold = c.delay > Duration::zero() ? c.delay : Duration::zero();
  if (c.jitter > Duration::zero()) {
    hold += Duration::ns(static_cast<int64_t>(s.rng.below(uint64_t(c.jitter.nanos()) + 1)));
  }
  const bool reorder = s.rng.chance(c.reorder);
  if (hold > Duration::zero()) {
    ++s.stats.delayed;
    tel_ref().trace(now, Layer::kDev, "fault_delay", frame->trace_id, [&] {
      return fmt::format("{} {} hold={}", name(), kDirName[d], hold.to_string());
    });
    s.delayed.push_back({now + hold, s.seq++, reorder, std::move(frame)});
    std::push_heap(s.delayed.begin(), s.delayed.end(), Later{});
    return;
  }
  reorder_stage(now, d, std::move(frame), reorder, status);
}

void FaultInjector::reorder_stage(Instant now, Dir d, PacketPtr frame, bool reorder,
                                  XmitStatus* status) {
  Direction& s = dir_[d];
  if (s.slot) {  // this frame overtakes the held one; the held one follows right behind it
    PacketPtr held = std::move(s.slot);
    s.slot_deadline = Instant::never();
    emit(now, d, std::move(frame), status);
    ++s.stats.released;
    tel_ref().trace(now, Layer::kDev, "fault_release", held->trace_id,
                    [&] { return fmt::format("{} {} reordered", name(), kDirName[d]); });
    emit(now, d, std::move(held), nullptr);
    return;
  }
  if (reorder) {
    ++s.stats.reordered;
    tel_ref().trace(now, Layer::kDev, "fault_reorder", frame->trace_id,
                    [&] { return fmt::format("{} {} held back", name(), kDirName[d]); });
    s.slot = std::move(frame);
    s.slot_deadline = now + fcfg(d).reorder_hold;
    return;
  }
  emit(now, d, std::move(frame), status);
}

void FaultInjector::release_due(Instant now, Dir d) {
  Direction& s = dir_[d];
  for (;;) {
    const Instant next_delayed = s.delayed.empty() ? Instant::never() : s.delayed.front().release;
    if (next_delayed <= now && next_delayed <= s.slot_deadline) {
      // A frame whose delay is over goes on to the reorder stage (it may release the slot).
      std::pop_heap(s.delayed.begin(), s.delayed.end(), Later{});
      Held h = std::move(s.delayed.back());
      s.delayed.pop_back();
      ++s.stats.released;
      tel_ref().trace(now, Layer::kDev, "fault_release", h.frame->trace_id, [&] {
        return fmt::format("{} {} delayed until {}", name(), kDirName[d], h.release.to_string());
      });
      reorder_stage(now, d, std::move(h.frame), h.reorder, nullptr);
    } else if (s.slot_deadline <= now) {
      // No next frame came in time: the reordered frame leaves alone.
      PacketPtr held = std::move(s.slot);
      s.slot_deadline = Instant::never();
      ++s.stats.released;
      tel_ref().trace(now, Layer::kDev, "fault_release", held->trace_id, [&] {
        return fmt::format("{} {} reorder hold expired", name(), kDirName[d]);
      });
      emit(now, d, std::move(held), nullptr);
    } else {
      return;
    }
  }
}

void FaultInjector::emit(Instant now, Dir d, PacketPtr frame, XmitStatus* status) {
  if (d == kRx) {
    rx_ready_.push_back(std::move(frame));
    return;
  }
  const XmitStatus st = inner().xmit(now, std::move(frame));
  if (status != nullptr) *status = st;
}

int FaultInjector::deliver(Instant now, int max, RxSink& sink) {
  int n = 0;
  while (n < max && !rx_ready_.empty()) {
    sink.netif_receive(now, *this, rx_ready_.pop_front());
    ++n;
  }
  return n;
}

int FaultInjector::poll(Instant now, int budget, RxSink& sink) {
  last_now_ = now;
  release_due(now, kRx);
  int done = deliver(now, budget, sink);  // frames released earlier go first: they are older
  bool inner_busy = true;                 // not polled: its interrupt state is unchanged
  if (done < budget) {
    const int quota = budget - done;
    RxTap tap(*this);
    inner_busy = inner().poll(now, quota, tap) >= quota;
    done += deliver(now, budget - done, sink);
  }
  // Less than `budget` tells NAPI we are finished, which is only true when the inner device
  // re-enabled its interrupt and nothing is ready; otherwise stay scheduled.
  return inner_busy || !rx_ready_.empty() ? budget : done;
}

Instant FaultInjector::next_deadline() const {
  Instant t = inner().next_deadline();
  for (const Direction& s : dir_) {
    if (!s.delayed.empty()) t = earliest(t, s.delayed.front().release);
    t = earliest(t, s.slot_deadline);
  }
  return t;
}

void FaultInjector::on_timer(Instant now) {
  last_now_ = now;
  inner().on_timer(now);
  release_due(now, kTx);
  release_due(now, kRx);
  if (!rx_ready_.empty()) schedule_napi();  // the "interrupt" for frames whose time has come
}

}  // namespace ustack::dev
