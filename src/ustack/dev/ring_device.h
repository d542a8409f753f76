// dev/ring_device.h — RingDevice: the part every NIC driver shares.
//
// A real driver owns an RX and a TX descriptor ring, a transmit queue (qdisc) in front of the
// TX ring, interrupt masking and the NAPI poll routine; only "the hardware" differs. RingDevice
// implements all of that once; a driver (SimNic, TapDevice) implements hw_tx() (send what the
// TX ring holds) and, if its medium is polled rather than pushing, hw_rx() (fill posted RX
// descriptors), and calls the protected rx_hw_*()/tx_hw_finish()/raise_irq() helpers.
//
//   xmit ──> qdisc (pfifo, txqueuelen) ──qdisc_run──> TX ring ──hw_tx──> medium
//                                                       └── done ──poll: reclaim, free
//   medium ──rx_hw_receive──> posted RX descriptor ──raise_irq (masks)──> napi_schedule
//   poll(budget): reclaim TX, hw_rx, hand ≤ budget frames up, re-arm descriptors,
//                 napi_complete_done (unmask) when the ring is drained
#pragma once

#include <span>
#include <string>

#include "ustack/buf/packet_queue.h"
#include "ustack/buf/pool.h"
#include "ustack/dev/desc_ring.h"
#include "ustack/dev/net_device.h"

namespace ustack::dev {

struct DeviceConfig {
  std::string name = "eth0";
  wire::MacAddr mac;
  uint32_t mtu = 1500;
  uint32_t rx_ring_size = 256;  // ethtool -G rx
  uint32_t tx_ring_size = 256;  // ethtool -G tx
  uint32_t txqueuelen = 1000;   // qdisc limit, packets (ip link set txqueuelen)
  uint32_t rx_headroom = 64;    // NET_SKB_PAD: room for a forwarded frame's bigger header
};

class RingDevice : public NetDevice {
 public:
  RingDevice(DeviceConfig cfg, BufferPool& pool);
  ~RingDevice() override;

  const std::string& name() const override { return cfg_.name; }
  wire::MacAddr mac() const override { return cfg_.mac; }
  uint32_t mtu() const override { return cfg_.mtu; }
  bool set_mtu(uint32_t mtu) override;
  bool is_up() const override { return up_; }
  void set_up(bool up) override;
  int ifindex() const override { return ifindex_; }
  void set_ifindex(int ifindex) override { ifindex_ = ifindex; }

  XmitStatus xmit(Instant now, PacketPtr frame) override;
  int poll(Instant now, int budget, RxSink& sink) override;

  void set_irq_handler(IrqHandler* h) override { irq_handler_ = h; }
  bool irq_enabled() const override { return irq_enabled_; }
  void interrupt(Instant now) override { raise_irq(now); }

  const DevStats& stats() const override { return stats_; }
  const RingStats& ring_stats() const override { return ring_stats_; }
  void attach(Telemetry& t) override { tel_ = &t; }

  const DeviceConfig& config() const { return cfg_; }
  const DescRing& rx_ring() const { return rx_; }
  const DescRing& tx_ring() const { return tx_; }
  size_t qdisc_len() const { return qdisc_.size(); }
  BufferPool& pool() const { return pool_; }

 protected:
  // ---- driver hooks ----
  // Send what the TX ring holds (tx_ring_hw().hw_peek()), finishing each descriptor with
  // tx_hw_finish(). May stop early (medium busy): the rest stays in the ring, and the next
  // NAPI poll calls hw_tx() again even when no new descriptor was posted (as does the next
  // xmit that posts one).
  virtual void hw_tx(Instant now) = 0;
  // Polled media (TAP) pull frames into posted RX descriptors here; pushing media do nothing.
  virtual void hw_rx(Instant /*now*/) {}
  // Bytes each posted RX buffer must hold: the largest frame the medium may deliver (larger
  // than the MTU allows when the medium delivers GSO super-frames).
  virtual size_t rx_buf_len() const { return max_frame_len(cfg_.mtu); }

  // ---- helpers for the hardware side ----
  DescRing& tx_ring_hw() { return tx_; }
  void tx_hw_finish(Instant now, bool ok, DropReason why = DropReason::kDevIoError);
  // Copy a frame from the medium into the next posted RX descriptor (DMA) and interrupt.
  // Returns false (counted, traced) when the ring is full, the frame too long, or down.
  bool rx_hw_receive(Instant now, std::span<const uint8_t> frame, uint64_t trace_id = 0);
  // Zero-copy form for media that read straight into buffers (TAP): the posted buffer to
  // fill (nullptr when the ring is full); put() the room to write into, write, then commit
  // how many bytes were written (the rest is trimmed).
  PacketBuffer* rx_hw_buffer();
  void rx_hw_commit(Instant now, uint32_t len, uint64_t trace_id = 0);
  // The medium delivered a broken frame or failed to deliver one (I/O error, too short, too
  // long): counted in rx_errors (and rx_length_errors for a bad length) and traced with `why`.
  // `len` is what the medium reported, `err` an errno (0 if none). The posted descriptor is
  // left posted: the driver must not have committed it.
  void rx_hw_error(Instant now, DropReason why, size_t len, int err = 0, uint64_t trace_id = 0);
  // Raise the interrupt: if unmasked, mask it and schedule NAPI (once per poll cycle).
  void raise_irq(Instant now);
  Telemetry& tel() { return *tel_; }

 private:
  bool qdisc_run(Instant now);  // true if it posted descriptors (and rang hw_tx)
  void reclaim_tx(Instant now);
  void refill_rx();
  void drain_rings();
  XmitStatus drop_tx(Instant now, PacketPtr frame, DropReason why);

  DeviceConfig cfg_;
  BufferPool& pool_;
  DescRing rx_;
  DescRing tx_;
  PacketQueue qdisc_;
  DevStats stats_;
  RingStats ring_stats_;
  Telemetry own_tel_;
  Telemetry* tel_;
  IrqHandler* irq_handler_ = nullptr;
  int ifindex_ = 0;
  bool up_ = false;
  bool irq_enabled_ = true;
  bool queue_stopped_ = false;  // netif_stop_queue: TX ring full, qdisc holds frames
};

}  // namespace ustack::dev
