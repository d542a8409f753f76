// dev/net_device.h — NetDevice: all the stack knows about "hardware" (cf. struct net_device
// and net_device_ops).
//
// A device moves Ethernet frames between a link and the stack:
//   TX: xmit() (dev_queue_xmit) -> qdisc -> TX descriptor ring -> hardware -> completion frees
//   RX: hardware fills posted RX descriptors -> raises its interrupt once, then stays masked ->
//       the stack's NapiContext calls poll(budget) (the NAPI poll), which hands up to `budget`
//       frames to an RxSink (netif_receive_skb) and re-enables the interrupt only when the ring
//       is drained (napi_complete_done).
// Devices never read a clock: `now` comes in, deadlines (next_deadline) go out.
//
// Drivers: SimNic (in-process link), TapDevice (Linux TAP). Middleware wraps any device and is
// a device itself: FaultInjector (seeded loss/dup/reorder/corrupt/delay), PcapCapture.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ustack/base/telemetry.h"
#include "ustack/base/time.h"
#include "ustack/buf/packet_buffer.h"
#include "ustack/wire/addr.h"

namespace ustack::dev {

// The /proc/net/dev columns (struct rtnl_link_stats64).
struct DevStats {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_errors = 0;         // frames that arrived broken (too long, I/O error)
  uint64_t rx_dropped = 0;        // dropped by the driver/stack after arrival
  uint64_t rx_missed_errors = 0;  // no RX descriptor posted: the ring was full ("fifo")
  uint64_t rx_length_errors = 0;
  uint64_t multicast = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_errors = 0;
  uint64_t tx_dropped = 0;  // device down, qdisc full, frame too long
};

// Ring and NAPI statistics (ethtool -S and /proc/net/softnet_stat in spirit).
struct RingStats {
  uint64_t rx_ring_full = 0;        // frames lost because no RX descriptor was posted
  uint64_t rx_refill_failures = 0;  // buffer pool empty when re-arming a descriptor
  uint64_t tx_ring_full = 0;        // times the TX ring filled and the queue stopped
  uint64_t tx_completions = 0;      // TX descriptors reclaimed (buffers freed)
  uint64_t irq_raised = 0;          // interrupts delivered (each schedules NAPI)
  uint64_t irq_reenabled = 0;       // napi_complete_done: ring drained, interrupt unmasked
  uint64_t napi_polls = 0;          // poll() calls
  uint64_t budget_exhausted = 0;    // polls that used their whole budget (stay scheduled)
};

// Offloads a device does for the stack (netdev_features_t, `ethtool -k`). None by default:
// the stack then hands every device finished checksums and frames no longer than the MTU.
enum NetdevFeature : uint32_t {
  kNetifHwCsum = 1u << 0,  // NETIF_F_HW_CSUM: finishes CHECKSUM_PARTIAL checksums
  kNetifTso = 1u << 1,     // NETIF_F_TSO: segments TCPv4 GSO frames (needs kNetifHwCsum)
};

// Largest GSO frame a device takes (netif_set_tso_max_size; GSO_MAX_SIZE for IPv4): the IP
// datagram of a GSO frame is at most this long.
inline constexpr uint32_t kGsoMaxSize = 65535;

enum class XmitStatus : uint8_t {
  kQueued,   // accepted: in the qdisc or the TX ring
  kDropped,  // refused and freed; the reason was counted and traced
};

class NetDevice;

// Where a NAPI poll delivers frames (netif_receive_skb). The frame's data() starts at the
// Ethernet header; ifindex, timestamp and trace_id are set.
class RxSink {
 public:
  virtual ~RxSink() = default;
  virtual void netif_receive(Instant now, NetDevice& dev, PacketPtr frame) = 0;
};

// Who hears a device's interrupt: the stack's NapiContext (napi_schedule).
class IrqHandler {
 public:
  virtual ~IrqHandler() = default;
  virtual void napi_schedule(NetDevice& dev) = 0;
};

class NetDevice {
 public:
  NetDevice() = default;
  NetDevice(const NetDevice&) = delete;
  NetDevice& operator=(const NetDevice&) = delete;
  virtual ~NetDevice() = default;

  // ---- identity and configuration (ip link) ---------------------------------------------
  virtual const std::string& name() const = 0;
  virtual wire::MacAddr mac() const = 0;
  virtual uint32_t mtu() const = 0;  // L3 MTU; frames may be mtu + 14 (+ 4 with 802.1Q)
  virtual bool set_mtu(uint32_t mtu) = 0;
  virtual bool is_up() const = 0;
  virtual void set_up(bool up) = 0;
  virtual int ifindex() const = 0;
  virtual void set_ifindex(int ifindex) = 0;
  // NetdevFeature bits (dev->features). A device that reports kNetifTso takes frames of up to
  // kGsoMaxSize + Ethernet header whose is_gso() is set, and segments them itself.
  virtual uint32_t features() const { return 0; }

  // ---- data path ------------------------------------------------------------------------
  // dev_queue_xmit: takes the frame (Ethernet header first) whatever the outcome.
  virtual XmitStatus xmit(Instant now, PacketPtr frame) = 0;
  // The NAPI poll: reclaim TX completions, deliver at most `budget` frames, and unmask the
  // interrupt if fewer than `budget` were delivered. Returns the number delivered.
  virtual int poll(Instant now, int budget, RxSink& sink) = 0;

  // ---- interrupts and event-loop integration --------------------------------------------
  virtual void set_irq_handler(IrqHandler* h) = 0;
  virtual bool irq_enabled() const = 0;
  // The medium signalled work (a TAP fd became readable): raise the interrupt if unmasked.
  virtual void interrupt(Instant now) = 0;
  // A file descriptor to wait on while the interrupt is enabled, or -1 (simulated devices).
  virtual int fd() const { return -1; }
  // The device's own timers (delayed frames in a fault injector); Instant::never() if none.
  virtual Instant next_deadline() const { return Instant::never(); }
  virtual void on_timer(Instant /*now*/) {}

  // ---- observability ----------------------------------------------------------------------
  virtual const DevStats& stats() const = 0;
  virtual const RingStats& ring_stats() const = 0;
  // Trace events and drop counters go to the owning node's Telemetry.
  virtual void attach(Telemetry& t) = 0;
};

// Maximum frame a device of this MTU sends or accepts: MTU + Ethernet header + one VLAN tag.
constexpr size_t max_frame_len(uint32_t mtu) { return size_t{mtu} + 14 + 4; }

}  // namespace ustack::dev
