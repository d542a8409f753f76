// dev/fault_injector.h — FaultInjector: seeded loss, duplication, corruption, reordering, delay
// and jitter on any device (middleware, like Linux's netem qdisc or smoltcp's FaultInjector).
//
// It wraps a device and perturbs each direction on its own:
//   TX: frames given to xmit() before they reach the inner device;
//   RX: frames the inner device hands up in poll() before they reach the stack.
// Every decision comes from a seeded Rng stream per direction (forked from one seed), drawn when
// the frame enters the injector, so the same seed and the same frames give exactly the same
// faults on every run and machine, and RX faults do not shift when TX traffic changes.
//
// What happens to one frame, in this order (netem's, except that netem draws duplication before
// loss, so there a lost frame that was to be duplicated still yields one copy):
//   drop       freed at once; counted and traced as DropReason::kFaultInjected.
//   duplicate  a clone (shared bytes, no copy) goes on as well. The copy is corrupted, delayed
//              and reordered independently, but never dropped or duplicated again (netem also
//              disables duplication for the copy; netem can still drop it).
//   corrupt    flips one random bit of one random byte of the frame (netem: one bit of the linear
//              data). mutable_data() copies a shared block first, so a duplicate stays intact.
//   delay      held until now + delay + jitter, jitter uniform in [0, jitter] (nanoseconds).
//              With jitter, a later frame can leave first, as with netem (whose jitter
//              distributions and correlation are not modelled here).
//   reorder    DEVIATION from netem: netem's "reorder P" sends P of the frames immediately while
//              the rest wait for the delay (so it does nothing without a delay). Here a chosen
//              frame is held in a one-frame slot and leaves right after the next frame of that
//              direction, i.e. the two swap; at rate 1.0 frames leave as 2 1 4 3 6 5 ... A frame
//              that arrives while the slot is full is the one that overtakes and is never held.
//              If no next frame comes within reorder_hold, the held frame leaves alone, so a lone
//              frame (the last of a burst, a SYN) is late but not lost. Reordering happens after
//              the delay stage: "the next frame" is the next one released by it.
//
// Held RX frames: when they become due, on_timer(now) moves them to a ready queue and schedules
// NAPI for this device; the next poll() delivers them ahead of new frames. next_deadline() is the
// earliest release (RX or TX) or the inner device's deadline. Held TX frames are xmit()ed to the
// inner device by on_timer(now) (and by any xmit() at or after their due time, so order holds
// even if the loop is late). Frames still held when the device goes down or is destroyed are
// freed and counted (FaultStats::flushed; going down also traces kDevDown drops).
//
// NAPI: poll(now, budget) delivers at most `budget` frames, ready ones first, then the inner
// device's (polled with what is left of the budget). It returns `budget` whenever work remains
// (the inner device used its whole quota and keeps its interrupt masked, or ready frames are
// left), so a return below `budget` always means the inner device re-enabled its interrupt;
// frames still held in the delay or reorder stage are then the timer's job. Frames eaten by the
// injector count as work done, as a driver counts the frames it dropped.
//
// xmit() reports netem's answer for faults: a frame dropped or held by the injector is kQueued
// (a lossy wire is invisible to the sender); a frame passed on reports the inner device's status.
// While the device is down, frames go straight to the inner device, which refuses them.
// Fault counts live in rx_fault_stats()/tx_fault_stats(); stats() stays the inner device's (as
// netem's drops show in the qdisc's counters, not in the device's).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "ustack/base/rng.h"
#include "ustack/buf/packet_queue.h"
#include "ustack/dev/device_wrapper.h"

namespace ustack::dev {

// Faults for one direction. Probabilities are per frame, in [0, 1].
struct FaultConfig {
  double drop = 0.0;
  double duplicate = 0.0;
  double reorder = 0.0;
  double corrupt = 0.0;
  Duration delay = Duration::zero();
  Duration jitter = Duration::zero();       // extra delay, uniform in [0, jitter]
  Duration reorder_hold = Duration::ms(1);  // longest a reordered frame waits for a next one
  bool operator==(const FaultConfig&) const = default;
};

struct FaultInjectorConfig {
  FaultConfig rx;
  FaultConfig tx;
  uint64_t seed = 1;
};

struct FaultStats {
  uint64_t frames = 0;      // frames that entered the injector in this direction
  uint64_t dropped = 0;     // freed by the drop fault
  uint64_t duplicated = 0;  // extra copies made
  uint64_t reordered = 0;   // frames held back to swap with the next one
  uint64_t corrupted = 0;   // frames with one bit flipped
  uint64_t delayed = 0;     // frames held by delay/jitter
  uint64_t released = 0;    // held frames (delay or reorder) that went on later
  uint64_t flushed = 0;     // held frames freed because the device went down or was destroyed
};

class FaultInjector final : public DeviceWrapper {
 public:
  FaultInjector(std::unique_ptr<NetDevice> inner, FaultInjectorConfig cfg);
  ~FaultInjector() override;

  // Runtime reconfiguration: new rates apply to frames entering from now on; frames already held
  // keep their release times. The Rng streams restart only if the seed changes.
  void set_config(const FaultInjectorConfig& cfg);
  const FaultInjectorConfig& config() const { return cfg_; }

  const FaultStats& rx_fault_stats() const { return dir_[kRx].stats; }
  const FaultStats& tx_fault_stats() const { return dir_[kTx].stats; }
  // Frames held right now (delay stage + reorder slot; RX also counts ready frames).
  size_t rx_held() const;
  size_t tx_held() const;

  void set_up(bool up) override;
  // No offloads while TX corruption is on: a frame left with a partial checksum would get a
  // valid checksum over the flipped bit from whoever finishes it, so the stack finishes
  // checksums (and segments) before the injector instead. RX: a corrupted frame loses any
  // "checksum verified/partial" state and is verified (and dropped) by the stack.
  uint32_t features() const override { return cfg_.tx.corrupt > 0 ? 0 : inner().features(); }
  XmitStatus xmit(Instant now, PacketPtr frame) override;
  int poll(Instant now, int budget, RxSink& sink) override;
  Instant next_deadline() const override;
  void on_timer(Instant now) override;

 private:
  enum Dir : uint8_t { kRx = 0, kTx = 1 };
  struct Held {
    Instant release;
    uint64_t seq;  // entry order: equal release times leave in order
    bool reorder;  // decided at entry: take the reorder slot when released
    PacketPtr frame;
  };
  struct Later {
    bool operator()(const Held& a, const Held& b) const {
      return a.release != b.release ? a.release > b.release : a.seq > b.seq;
    }
  };
  struct Direction {
    explicit Direction(Rng r) : rng(r) {}
    Rng rng;
    std::vector<Held> delayed;  // min-heap on (release, seq)
    PacketPtr slot;             // the reorder slot
    Instant slot_deadline = Instant::never();
    uint64_t seq = 0;
    FaultStats stats;
  };
  class RxTap;

  Telemetry& tel_ref() { return tel() != nullptr ? *tel() : own_tel_; }
  const FaultConfig& fcfg(Dir d) const { return d == kRx ? cfg_.rx : cfg_.tx; }
  void seed_streams(uint64_t seed);

  // A frame enters direction d: draw its fate, then drop, hold or pass it on.
  void ingress(Instant now, Dir d, PacketPtr frame, XmitStatus* status);
  // Copies and originals after drop/duplicate: corrupt, then delay or go to the reorder stage.
  void stage(Instant now, Dir d, PacketPtr frame, XmitStatus* status);
  void reorder_stage(Instant now, Dir d, PacketPtr frame, bool reorder, XmitStatus* status);
  // Release what is due at `now` (delay stage, then reorder timeouts) in direction d.
  void release_due(Instant now, Dir d);
  // The frame leaves the injector: RX to the ready queue, TX to the inner device.
  void emit(Instant now, Dir d, PacketPtr frame, XmitStatus* status);
  int deliver(Instant now, int max, RxSink& sink);
  void flush(Instant now, bool trace);
  void drop(Instant now, Dir d, PacketPtr frame, DropReason why, const char* what);

  FaultInjectorConfig cfg_;
  std::array<Direction, 2> dir_;
  PacketQueue rx_ready_;  // released RX frames waiting for the next poll
  Telemetry own_tel_;     // drop counting works before attach()
  Instant last_now_ = Instant::zero();
};

}  // namespace ustack::dev
