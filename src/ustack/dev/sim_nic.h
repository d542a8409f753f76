// dev/sim_nic.h — SimNic and SimLink: NICs wired together inside one process.
//
// A SimLink is a cable (two NICs) or a hub (more): a frame one NIC sends reaches every other
// NIC on the link after the link's latency, plus serialization time when a bit rate is set.
// In flight, the link holds a clone of the frame (no copy); at arrival it is DMA-copied into
// each receiver's posted RX descriptor, exactly where a real NIC would write it. Short frames
// are zero-padded to Ethernet's 60-byte minimum on the wire, as NIC hardware does.
//
// The link is driven like everything else here: advance(now) delivers what is due,
// next_deadline() says when the next frame lands. Deterministic: equal arrival times are
// delivered in send order.
#pragma once

#include <cstdint>
#include <vector>

#include "ustack/dev/ring_device.h"

namespace ustack::dev {

class SimLink;

class SimNic final : public RingDevice {
 public:
  SimNic(DeviceConfig cfg, BufferPool& pool) : RingDevice(std::move(cfg), pool) {}
  ~SimNic() override;
  SimLink* link() const { return link_; }

 protected:
  void hw_tx(Instant now) override;

 private:
  friend class SimLink;
  void link_deliver(Instant at, std::span<const uint8_t> frame, uint64_t trace_id) {
    rx_hw_receive(at, frame, trace_id);
  }
  SimLink* link_ = nullptr;
};

struct SimLinkConfig {
  Duration latency = Duration::us(1);  // propagation delay
  uint64_t bits_per_second = 0;        // 0: infinitely fast (no serialization delay)
  bool pad_short_frames = true;        // pad to 60 bytes like Ethernet hardware
};

struct SimLinkStats {
  uint64_t frames = 0;  // frames put on the wire
  uint64_t bytes = 0;
  uint64_t deliveries = 0;  // frame copies handed to receiving NICs
};

class SimLink {
 public:
  explicit SimLink(SimLinkConfig cfg = {}) : cfg_(cfg) {}
  ~SimLink();
  SimLink(const SimLink&) = delete;
  SimLink& operator=(const SimLink&) = delete;

  void attach(SimNic& nic);
  void detach(SimNic& nic);

  // Called by a NIC's hardware: the frame (a clone) leaves `from` at `now`.
  void transmit(Instant now, SimNic& from, PacketPtr frame);
  // Deliver every frame that has arrived by `now`; returns how many frames landed.
  int advance(Instant now);
  Instant next_deadline() const;
  size_t in_flight() const { return wire_.size(); }
  const SimLinkStats& stats() const { return stats_; }

 private:
  struct InFlight {
    Instant arrival;
    uint64_t seq;  // send order: ties on arrival keep it
    SimNic* from;
    PacketPtr frame;
  };
  struct Later {
    bool operator()(const InFlight& a, const InFlight& b) const {
      return a.arrival != b.arrival ? a.arrival > b.arrival : a.seq > b.seq;
    }
  };
  struct Port {
    SimNic* nic;
    Instant tx_free_at;  // when this port's transmitter finishes its current frame
  };

  SimLinkConfig cfg_;
  std::vector<Port> ports_;
  std::vector<InFlight> wire_;  // min-heap on (arrival, seq)
  uint64_t seq_ = 0;
  SimLinkStats stats_;
};

}  // namespace ustack::dev
