#include "ustack/base/telemetry.h"

#include <algorithm>

namespace ustack {
namespace {
constexpr std::string_view kLayerNames[] = {"dev", "link", "arp",  "ip",  "icmp",
                                            "udp", "tcp",  "sock", "app", "sim"};
static_assert(std::size(kLayerNames) == static_cast<size_t>(Layer::kCount));
}  // namespace

std::string_view layer_name(Layer l) {
  const auto i = static_cast<size_t>(l);
  return i < std::size(kLayerNames) ? kLayerNames[i] : "?";
}

std::string format_event(const TraceEvent& e) {
  char head[128];
  std::snprintf(head, sizeof head, "%12s %-8.*s %-4.*s %-14.*s ", e.time.to_string().c_str(),
                static_cast<int>(e.node.size()), e.node.data(),
                static_cast<int>(layer_name(e.layer).size()), layer_name(e.layer).data(),
                static_cast<int>(e.action.size()), e.action.data());
  std::string line(head);
  line += e.detail;
  if (e.reason != DropReason::kNone) {
    line += " [";
    line += drop_reason_name(e.reason);
    line += ": ";
    line += drop_reason_text(e.reason);
    line += "]";
  }
  if (e.packet != 0) line += "  #" + std::to_string(e.packet);
  return line;
}

void TraceLog::on_event(const TraceEvent& e) {
  // Node names are interned here: the Telemetry that produced an event may die first.
  auto it = std::find(nodes_.begin(), nodes_.end(), e.node);
  const std::string& name = it != nodes_.end() ? *it : nodes_.emplace_back(e.node);
  events_.push_back(e);
  events_.back().node = name;
}

std::vector<TraceEvent> TraceLog::journey(uint64_t packet) const {
  std::vector<TraceEvent> out;
  for (const TraceEvent& e : events_) {
    if (e.packet == packet) out.push_back(e);
  }
  return out;
}

void TracePrinter::on_event(const TraceEvent& e) {
  std::fprintf(out_, "%s\n", format_event(e).c_str());
}

}  // namespace ustack
