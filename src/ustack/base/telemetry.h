// base/telemetry.h — structured trace events and drop accounting for one node (host, switch).
//
// Each layer reports what it did to a packet as a TraceEvent (node, layer, action, detail,
// drop reason, packet id). Following one packet id through the events is the "journey" view
// that `ustack demo` prints. Tracing is cheap when off: `trace()` takes a callable that builds
// the detail string, and it is only called when a sink listens to that layer. Drop counting is
// always on, tracing or not.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "ustack/base/drop_reason.h"
#include "ustack/base/time.h"

namespace ustack {

// Where in the stack an event happened. The names match the folders (and Linux's subsystems).
enum class Layer : uint8_t {
  kDev,
  kLink,
  kArp,
  kIp,
  kIcmp,
  kUdp,
  kTcp,
  kSocket,
  kApp,
  kSim,
  kCount
};
std::string_view layer_name(Layer l);

constexpr uint32_t kAllLayers = (1u << static_cast<unsigned>(Layer::kCount)) - 1;
constexpr uint32_t layer_bit(Layer l) { return 1u << static_cast<unsigned>(l); }

struct TraceEvent {
  Instant time;
  std::string_view node;  // "client", "r1": the Telemetry's node name
  Layer layer = Layer::kDev;
  std::string_view action;  // a string literal: "rx_dma", "napi_poll", "xmit", "drop"
  std::string detail;       // free text, built only when someone listens
  DropReason reason = DropReason::kNone;
  uint64_t packet = 0;  // journey id; 0 when the event is not about one packet
};

// One line per event: "   0.000012 hostB    dev   napi_poll    eth0 budget=64 done=1  #3"
std::string format_event(const TraceEvent& e);

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void on_event(const TraceEvent& e) = 0;
};

// Keeps every event (tests, journey reconstruction).
class TraceLog : public TraceSink {
 public:
  void on_event(const TraceEvent& e) override;
  const std::vector<TraceEvent>& events() const { return events_; }
  std::vector<TraceEvent> journey(uint64_t packet) const;  // events of one packet, in order
  void clear() { events_.clear(); }

 private:
  std::vector<TraceEvent> events_;
  std::deque<std::string> nodes_;  // owns node names (deque: stable addresses) so events
                                   // outlive the Telemetry that produced them
};

// Prints each event as one line to a FILE*.
class TracePrinter : public TraceSink {
 public:
  explicit TracePrinter(std::FILE* out) : out_(out) {}
  void on_event(const TraceEvent& e) override;

 private:
  std::FILE* out_;
};

class Telemetry {
 public:
  explicit Telemetry(std::string node = "host") : node_(std::move(node)) {}
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  const std::string& node() const { return node_; }
  void set_sink(TraceSink* sink, uint32_t layer_mask = kAllLayers) {
    sink_ = sink;
    mask_ = layer_mask;
  }
  bool tracing(Layer l) const { return sink_ != nullptr && (mask_ & layer_bit(l)) != 0; }

  // A fresh journey id, starting at 1 so runs are reproducible. Nodes that exchange frames in
  // one process (a simulated network) share one counter so a journey keeps its id across
  // hosts: the simulated wire carries it along with the bytes.
  uint64_t new_packet_id() { return ++*packet_ids_; }
  void share_packet_ids(uint64_t* counter) {
    packet_ids_ = counter != nullptr ? counter : &own_ids_;
  }

  template <class DetailFn>
  void trace(Instant t, Layer l, std::string_view action, uint64_t packet, DetailFn&& detail) {
    if (!tracing(l)) [[likely]]
      return;
    emit(TraceEvent{t, node_, l, action, detail(), DropReason::kNone, packet});
  }
  void trace(Instant t, Layer l, std::string_view action, uint64_t packet) {
    if (!tracing(l)) [[likely]]
      return;
    emit(TraceEvent{t, node_, l, action, {}, DropReason::kNone, packet});
  }

  // Counts the drop (always) and traces it (when listened to).
  template <class DetailFn>
  void drop(Instant t, Layer l, DropReason why, uint64_t packet, DetailFn&& detail) {
    drops_.count(why);
    if (!tracing(l)) [[likely]]
      return;
    emit(TraceEvent{t, node_, l, "drop", detail(), why, packet});
  }
  void drop(Instant t, Layer l, DropReason why, uint64_t packet) {
    drop(t, l, why, packet, [] { return std::string(); });
  }

  DropCounters& drops() { return drops_; }
  const DropCounters& drops() const { return drops_; }

 private:
  void emit(TraceEvent&& e) { sink_->on_event(e); }

  std::string node_;
  TraceSink* sink_ = nullptr;
  uint32_t mask_ = kAllLayers;
  uint64_t own_ids_ = 0;
  uint64_t* packet_ids_ = &own_ids_;
  DropCounters drops_;
};

}  // namespace ustack
