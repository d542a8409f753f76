// dev/proc_view.h — device counters in the formats people already read: /proc/net/dev,
// `ethtool -S`-style ring statistics, and /proc/net/softnet_stat.
#pragma once

#include <span>
#include <string>

#include "ustack/dev/napi.h"
#include "ustack/dev/net_device.h"

namespace ustack::dev {

// The two header lines and one line per device, column for column as Linux prints them.
std::string format_proc_net_dev(std::span<NetDevice* const> devs);
// "eth0: rx_ring_full=0 rx_refill_failures=0 ... budget_exhausted=0"
std::string format_ring_stats(const NetDevice& dev);
// One softnet_stat line: processed, dropped (ring-full drops of the given devices),
// time_squeeze, then our extra columns (rounds, schedules), in hex as the kernel prints.
std::string format_softnet_stat(const SoftnetStats& s, uint64_t dropped);

}  // namespace ustack::dev
