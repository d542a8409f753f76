#include "ustack/dev/proc_view.h"

#include <fmt/format.h>

namespace ustack::dev {

std::string format_proc_net_dev(std::span<NetDevice* const> devs) {
  // net/core/net-procfs.c: dev_seq_printf_stats(). "fifo" is rx_fifo_errors + rx_missed.
  std::string out =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n";
  for (const NetDevice* d : devs) {
    const DevStats& s = d->stats();
    out += fmt::format(
        "{:>6}: {:>7} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} "
        "{:>5} {:>7} {:>10}\n",
        d->name(), s.rx_bytes, s.rx_packets, s.rx_errors, s.rx_dropped, s.rx_missed_errors,
        s.rx_length_errors, 0, s.multicast, s.tx_bytes, s.tx_packets, s.tx_errors, s.tx_dropped, 0,
        0, 0, 0);
  }
  return out;
}

std::string format_ring_stats(const NetDevice& dev) {
  const RingStats& r = dev.ring_stats();
  return fmt::format(
      "{}: rx_ring_full={} rx_refill_failures={} tx_ring_full={} tx_completions={} "
      "irq_raised={} irq_reenabled={} napi_polls={} budget_exhausted={}",
      dev.name(), r.rx_ring_full, r.rx_refill_failures, r.tx_ring_full, r.tx_completions,
      r.irq_raised, r.irq_reenabled, r.napi_polls, r.budget_exhausted);
}

std::string format_softnet_stat(const SoftnetStats& s, uint64_t dropped) {
  return fmt::format("{:08x} {:08x} {:08x} {:08x} {:08x}", s.processed, dropped, s.time_squeeze,
                     s.rounds, s.schedules);
}

}  // namespace ustack::dev
