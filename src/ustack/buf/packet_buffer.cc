#include "ustack/buf/packet_buffer.h"

#include <algorithm>

#include "ustack/buf/pool.h"

namespace ustack {

std::string_view buf_error_name(BufError e) {
  switch (e) {
    case BufError::kNoHeadroom:
      return "no headroom";
    case BufError::kNoTailroom:
      return "no tailroom";
    case BufError::kBeyondLength:
      return "beyond data length";
    case BufError::kNotEmpty:
      return "buffer not empty";
    case BufError::kNoMemory:
      return "buffer pool exhausted";
  }
  return "?";
}

void PacketDeleter::operator()(PacketBuffer* p) const {
  USTACK_ASSERT(!p->queued_, "freeing a PacketBuffer that is still on a PacketQueue");
  p->blk_->pool->free_buffer(p);
}

void PacketBuffer::reset(DataBlock* blk, uint32_t headroom) {
  blk_ = blk;
  data_ = tail_ = headroom;
  mac_ = network_ = transport_ = kNoOffset;
  hdr_released_ = false;
  ip_summed = CsumState::kNone;
  gso_type = GsoType::kNone;
  gso_size = 0;
  csum_start_ = 0;
  csum_offset_ = 0;
  next_ = prev_ = nullptr;
  queued_ = false;
  ifindex = 0;
  protocol = 0;
  pkt_type = PacketType::kHost;
  mark = 0;
  timestamp = Instant();
  trace_id = 0;
  cb_.fill(0);
}

void PacketBuffer::copy_meta_from(const PacketBuffer& o) {
  data_ = o.data_;
  tail_ = o.tail_;
  mac_ = o.mac_;
  network_ = o.network_;
  transport_ = o.transport_;
  copy_metadata_from(o);
  copy_offload_from(o, 0);
  cb_ = o.cb_;
}

uint32_t PacketBuffer::lowest_used() const {
  uint32_t lo = data_;
  for (uint32_t off : {mac_, network_, transport_}) {
    if (off != kNoOffset) lo = std::min(lo, off);
  }
  return lo;
}

bool PacketBuffer::may_write_headers() const {
  if (!shared()) return true;
  // Shared: only the single buffer holding header rights may write, and only below every
  // released sibling's view (cf. skb_header_cloned()).
  return !hdr_released_ && blk_->hdr_refs == 1 && data_ <= blk_->payload_start;
}

Result<void, BufError> PacketBuffer::unshare() {
  if (!shared()) return Ok();
  BufferPool& pool = *blk_->pool;
  DataBlock* nb = pool.new_block(blk_->size);
  if (nb == nullptr) return Err{BufError::kNoMemory};
  const uint32_t lo = lowest_used();
  std::memcpy(nb->bytes() + lo, blk_->bytes() + lo, tail_ - lo);
  ++pool.stats_.copies;
  DataBlock* old = blk_;
  const bool was_released = hdr_released_;
  blk_ = nb;
  hdr_released_ = false;  // a private block: full rights again
  // Drop our reference to the old block, as free_buffer() would.
  if (!was_released) --old->hdr_refs;
  pool.unref_block(old);
  return Ok();
}

Result<std::span<uint8_t>, BufError> PacketBuffer::mutable_data() {
  if (shared()) {
    if (auto r = unshare(); !r) return Err{r.error()};
  }
  return std::span<uint8_t>(blk_->bytes() + data_, len());
}

Result<void, BufError> PacketBuffer::reserve(size_t n) {
  if (!empty()) return Err{BufError::kNotEmpty};
  if (n > tailroom()) return Err{BufError::kNoTailroom};
  data_ += static_cast<uint32_t>(n);
  tail_ = data_;
  return Ok();
}

Result<std::span<uint8_t>, BufError> PacketBuffer::put(size_t n) {
  if (n > tailroom()) return Err{BufError::kNoTailroom};
  // A sibling may see bytes past our tail (we trimmed, it did not): write privately.
  if (shared()) {
    if (auto r = unshare(); !r) return Err{r.error()};
  }
  uint8_t* p = blk_->bytes() + tail_;
  tail_ += static_cast<uint32_t>(n);
  return std::span<uint8_t>(p, n);
}

Result<void, BufError> PacketBuffer::append(std::span<const uint8_t> bytes) {
  auto r = put(bytes.size());
  if (!r) return Err{r.error()};
  if (!bytes.empty()) std::memcpy(r->data(), bytes.data(), bytes.size());
  return Ok();
}

Result<std::span<uint8_t>, BufError> PacketBuffer::push(size_t n) {
  if (n > headroom()) return Err{BufError::kNoHeadroom};
  if (!may_write_headers()) {
    if (auto r = unshare(); !r) return Err{r.error()};
  }
  data_ -= static_cast<uint32_t>(n);
  return std::span<uint8_t>(blk_->bytes() + data_, n);
}

Result<std::span<const uint8_t>, BufError> PacketBuffer::pull(size_t n) {
  if (n > len()) return Err{BufError::kBeyondLength};
  const uint8_t* p = blk_->bytes() + data_;
  data_ += static_cast<uint32_t>(n);
  return std::span<const uint8_t>(p, n);
}

Result<void, BufError> PacketBuffer::trim(size_t new_len) {
  if (new_len > len()) return Err{BufError::kBeyondLength};
  tail_ = data_ + static_cast<uint32_t>(new_len);
  return Ok();
}

PacketPtr PacketBuffer::clone() {
  USTACK_ASSERT(blk_->refs < 0xfffe, "too many clones of one PacketBuffer");
  BufferPool& pool = *blk_->pool;
  PacketBuffer* c = pool.new_header();
  c->reset(blk_, 0);
  c->copy_meta_from(*this);
  ++blk_->refs;
  ++blk_->hdr_refs;  // the clone may write headers (if it ends up the only one that can)
  ++pool.stats_.clones;
  return PacketPtr(c);
}

Result<PacketPtr, BufError> PacketBuffer::copy() const {
  BufferPool& pool = *blk_->pool;
  DataBlock* nb = pool.new_block(blk_->size);
  if (nb == nullptr) return Err{BufError::kNoMemory};
  const uint32_t lo = lowest_used();
  std::memcpy(nb->bytes() + lo, blk_->bytes() + lo, tail_ - lo);
  PacketBuffer* c = pool.new_header();
  c->reset(nb, 0);
  c->copy_meta_from(*this);
  ++pool.stats_.copies;
  return PacketPtr(c);
}

Result<PacketPtr, BufError> PacketBuffer::copy_expand(size_t headroom) const {
  PacketPtr c = blk_->pool->alloc(headroom, len());
  if (!c) return Err{BufError::kNoMemory};
  if (auto r = c->append(data()); !r) return Err{r.error()};
  c->copy_metadata_from(*this);
  // Same bytes at a new place: the partial checksum's start moves with them.
  c->copy_offload_from(*this, static_cast<int64_t>(c->data_) - data_);
  return c;
}

void PacketBuffer::copy_metadata_from(const PacketBuffer& o) {
  ifindex = o.ifindex;
  protocol = o.protocol;
  pkt_type = o.pkt_type;
  mark = o.mark;
  timestamp = o.timestamp;
  trace_id = o.trace_id;
}

void PacketBuffer::copy_offload_from(const PacketBuffer& o, int64_t shift) {
  ip_summed = o.ip_summed;
  gso_type = o.gso_type;
  gso_size = o.gso_size;
  csum_start_ = static_cast<uint32_t>(o.csum_start_ + shift);
  csum_offset_ = o.csum_offset_;
}

void PacketBuffer::release_header() {
  if (hdr_released_) return;
  hdr_released_ = true;
  --blk_->hdr_refs;
  blk_->payload_start = std::min(blk_->payload_start, lowest_used());
}

}  // namespace ustack
