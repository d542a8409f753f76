#include "ustack/dev/ring_device.h"

#include <fmt/format.h>

namespace ustack::dev {

RingDevice::RingDevice(DeviceConfig cfg, BufferPool& pool)
    : cfg_(std::move(cfg)),
      pool_(pool),
      rx_(cfg_.rx_ring_size),
      tx_(cfg_.tx_ring_size),
      own_tel_(cfg_.name),
      tel_(&own_tel_) {}

RingDevice::~RingDevice() { drain_rings(); }

bool RingDevice::set_mtu(uint32_t mtu) {
  // 68: the IPv4 minimum (RFC 791); 65535: an IPv4 datagram cannot be longer.
  if (mtu < 68 || mtu > 65535) return false;
  cfg_.mtu = mtu;
  if (up_) {  // posted RX buffers were sized for the old MTU: re-arm the ring (as drivers do)
    rx_.reset();
    refill_rx();
  }
  return true;
}

void RingDevice::set_up(bool up) {
  if (up == up_) return;
  up_ = up;
  if (up) {  // ndo_open: arm the RX ring, unmask the interrupt
    irq_enabled_ = true;
    refill_rx();
  } else {  // ndo_stop: free the rings, purge the qdisc
    drain_rings();
  }
}

void RingDevice::drain_rings() {
  rx_.reset();
  const uint32_t unsent = tx_.reset();
  stats_.tx_dropped += unsent + qdisc_.size();
  qdisc_.clear();
  queue_stopped_ = false;
}

XmitStatus RingDevice::drop_tx(Instant now, PacketPtr frame, DropReason why) {
  ++stats_.tx_dropped;
  tel_->drop(now, Layer::kDev, why, frame->trace_id,
             [&] { return fmt::format("{} tx len={}", cfg_.name, frame->len()); });
  return XmitStatus::kDropped;
}

XmitStatus RingDevice::xmit(Instant now, PacketPtr frame) {
  if (frame->trace_id == 0) frame->trace_id = tel_->new_packet_id();
  if (!up_) return drop_tx(now, std::move(frame), DropReason::kDevDown);
  if (frame->len() < 14) return drop_tx(now, std::move(frame), DropReason::kFrameTooShort);
  if (frame->len() > max_frame_len(cfg_.mtu) &&
      !(frame->is_gso() && (features() & kNetifTso) != 0 &&
        frame->len() <= max_frame_len(kGsoMaxSize))) {
    return drop_tx(now, std::move(frame), DropReason::kFrameTooLong);
  }
  if (qdisc_.size() >= cfg_.txqueuelen) {
    return drop_tx(now, std::move(frame), DropReason::kQdiscDrop);
  }
  tel_->trace(now, Layer::kDev, "xmit", frame->trace_id, [&] {
    return fmt::format("{} len={} qdisc_len={}", cfg_.name, frame->len(), qdisc_.size());
  });
  frame->ifindex = ifindex_;
  qdisc_.push_back(std::move(frame));
  qdisc_run(now);
  return XmitStatus::kQueued;
}

// Move frames from the qdisc into free TX descriptors, then ring the doorbell (hw_tx).
bool RingDevice::qdisc_run(Instant now) {
  bool posted = false;
  while (!qdisc_.empty()) {
    // Completed descriptors are reclaimed only by the NAPI poll (as e1000e/ixgbe clean TX in
    // their poll routine), so a burst larger than the ring fills it until NAPI runs.
    if (!tx_.can_post()) {
      if (!queue_stopped_) {  // netif_stop_queue: count each transition, not each attempt
        queue_stopped_ = true;
        ++ring_stats_.tx_ring_full;
      }
      break;
    }
    queue_stopped_ = false;
    PacketPtr f = qdisc_.pop_front();
    const uint64_t id = f->trace_id;
    const uint32_t len = static_cast<uint32_t>(f->len());
    const uint32_t slot = tx_.post(std::move(f), len);
    tel_->trace(now, Layer::kDev, "tx_ring", id,
                [&] { return fmt::format("{} slot={} len={}", cfg_.name, slot, len); });
    posted = true;
  }
  if (posted) hw_tx(now);
  return posted;
}

void RingDevice::tx_hw_finish(Instant now, bool ok, DropReason why) {
  Descriptor* d = tx_.hw_peek();
  USTACK_ASSERT(d != nullptr, "tx_hw_finish without a TX descriptor in flight");
  if (ok) {
    ++stats_.tx_packets;
    stats_.tx_bytes += d->len;
  } else {
    ++stats_.tx_errors;
    tel_->drop(now, Layer::kDev, why, d->buf->trace_id,
               [&] { return fmt::format("{} slot={} tx failed", cfg_.name, tx_.hw_slot()); });
  }
  tx_.hw_done(d->len);
}

// TX completion: free what hardware has finished with (the seed's "硬中断来释放内存").
void RingDevice::reclaim_tx(Instant now) {
  uint32_t n = 0;
  while (tx_.can_clean()) {
    tx_.clean();  // the returned PacketPtr dies here: buffer (or clone reference) freed
    ++n;
  }
  if (n == 0) return;
  ring_stats_.tx_completions += n;
  tel_->trace(now, Layer::kDev, "tx_clean", 0,
              [&] { return fmt::format("{} freed={}", cfg_.name, n); });
}

void RingDevice::refill_rx() {
  if (!up_) return;
  while (rx_.can_post()) {
    PacketPtr b = pool_.alloc(cfg_.rx_headroom, rx_buf_len());
    if (!b) {  // descriptors stay unposted; a later poll retries
      ++ring_stats_.rx_refill_failures;
      return;
    }
    rx_.post(std::move(b), 0);
  }
}

PacketBuffer* RingDevice::rx_hw_buffer() {
  if (!up_) return nullptr;
  Descriptor* d = rx_.hw_peek();
  return d != nullptr ? d->buf.get() : nullptr;
}

void RingDevice::rx_hw_commit(Instant now, uint32_t len, uint64_t trace_id) {
  Descriptor* d = rx_.hw_peek();
  USTACK_ASSERT(d != nullptr, "rx_hw_commit without a posted RX descriptor");
  PacketBuffer& b = *d->buf;
  // The medium put() the bytes it might write (TAP: the whole tailroom, then read()); keep
  // the `len` it actually wrote.
  USTACK_ASSERT(b.len() >= len, "rx_hw_commit: more bytes than the medium put()");
  (void)b.trim(len);
  b.trace_id = trace_id != 0 ? trace_id : tel_->new_packet_id();
  b.timestamp = now;
  const uint32_t slot = rx_.hw_slot();
  rx_.hw_done(len);
  tel_->trace(now, Layer::kDev, "rx_dma", b.trace_id,
              [&] { return fmt::format("{} slot={} len={}", cfg_.name, slot, len); });
  raise_irq(now);
}

void RingDevice::rx_hw_error(Instant now, DropReason why, size_t len, int err, uint64_t trace_id) {
  ++stats_.rx_errors;
  if (why == DropReason::kFrameTooLong || why == DropReason::kFrameTooShort) {
    ++stats_.rx_length_errors;
  }
  tel_->drop(now, Layer::kDev, why, trace_id, [&] {
    return err != 0 ? fmt::format("{} rx len={} mtu={} errno={}", cfg_.name, len, cfg_.mtu, err)
                    : fmt::format("{} rx len={} mtu={}", cfg_.name, len, cfg_.mtu);
  });
}

bool RingDevice::rx_hw_receive(Instant now, std::span<const uint8_t> frame, uint64_t trace_id) {
  if (!up_) {
    tel_->drop(now, Layer::kDev, DropReason::kDevDown, trace_id,
               [&] { return fmt::format("{} rx len={}", cfg_.name, frame.size()); });
    return false;
  }
  PacketBuffer* b = rx_hw_buffer();
  if (b == nullptr) {  // no descriptor posted: the frame is lost (rx_missed / fifo)
    ++stats_.rx_missed_errors;
    ++ring_stats_.rx_ring_full;
    tel_->drop(now, Layer::kDev, DropReason::kRxRingFull, trace_id,
               [&] { return fmt::format("{} rx len={}", cfg_.name, frame.size()); });
    return false;
  }
  if (frame.size() > max_frame_len(cfg_.mtu) || frame.size() > b->tailroom()) {
    rx_hw_error(now, DropReason::kFrameTooLong, frame.size(), 0, trace_id);
    return false;
  }
  auto dst = b->put(frame.size());
  std::memcpy(dst->data(), frame.data(), frame.size());
  rx_hw_commit(now, static_cast<uint32_t>(frame.size()), trace_id);
  return true;
}

void RingDevice::raise_irq(Instant now) {
  if (!irq_enabled_ || irq_handler_ == nullptr) return;  // masked: NAPI will see the work
  irq_enabled_ = false;
  ++ring_stats_.irq_raised;
  tel_->trace(now, Layer::kDev, "irq", 0,
              [&] { return fmt::format("{} irq masked, napi scheduled", cfg_.name); });
  irq_handler_->napi_schedule(*this);
}

int RingDevice::poll(Instant now, int budget, RxSink& sink) {
  ++ring_stats_.napi_polls;
  reclaim_tx(now);
  refill_rx();  // descriptors left unposted by an empty pool get another chance
  const bool kicked = !qdisc_.empty() && qdisc_run(now);
  // A busy medium (a TAP write that returned EAGAIN) left descriptors unsent and nothing new
  // was posted to ring the doorbell: kick the hardware again, once per poll, or a ring full
  // of them would never drain.
  if (!kicked && tx_.hw_count() > 0) hw_tx(now);
  hw_rx(now);
  int done = 0;
  while (done < budget && rx_.can_clean()) {
    const uint32_t slot = rx_.clean_slot();
    PacketPtr f = rx_.clean();
    refill_rx();  // re-arm the descriptor before handing the frame up
    f->ifindex = ifindex_;
    ++stats_.rx_packets;
    stats_.rx_bytes += f->len();
    if (f->len() >= 6 && (f->data()[0] & 0x01) != 0) ++stats_.multicast;
    tel_->trace(now, Layer::kDev, "netif_receive", f->trace_id,
                [&] { return fmt::format("{} slot={} len={}", cfg_.name, slot, f->len()); });
    sink.netif_receive(now, *this, std::move(f));
    ++done;
  }
  tel_->trace(now, Layer::kDev, "napi_poll", 0,
              [&] { return fmt::format("{} budget={} done={}", cfg_.name, budget, done); });
  if (done < budget) {
    // napi_complete_done: the ring is drained; unmask. Work that raced in while masked
    // would otherwise wait for the next interrupt, so re-check (as Linux does).
    irq_enabled_ = true;
    ++ring_stats_.irq_reenabled;
    tel_->trace(now, Layer::kDev, "napi_complete", 0,
                [&] { return fmt::format("{} irq unmasked", cfg_.name); });
    if (rx_.can_clean() || tx_.can_clean()) raise_irq(now);
  } else {
    ++ring_stats_.budget_exhausted;  // stay scheduled: more frames may be waiting
  }
  return done;
}

}  // namespace ustack::dev
