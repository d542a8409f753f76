// buf/packet_buffer.h — PacketBuffer, ustack's sk_buff.
//
// One PacketBuffer describes one packet at every layer, so no layer copies it: on transmit the
// payload is written once into a buffer reserved with headroom and every layer `push`es its
// header in front; on receive every layer records where its header starts and `pull`s it off.
//
//   block:  [ head ............ data ========= tail ............ end ]
//             <-- headroom() -->  <-- len() -->  <-- tailroom() -->
//
// The bytes live in a DataBlock owned by a BufferPool and shared by clones (reference counted):
// TCP keeps the original on its retransmit queue and hands a clone to IP (seed 000: "实际上传递
// 出去的是 sk_buff 的一个拷贝"). As in Linux, a clone may write headers into the headroom only if
// it is the one buffer with header rights (skb_header_cloned); any other write to shared bytes
// first gets a private copy (copy-on-write), so a clone can never corrupt its siblings.
//
// Misuse (push beyond headroom, pull beyond length, ...) returns a BufError and changes
// nothing: it never corrupts memory.
//
// Threading: a pool and its buffers belong to one thread (one stack's softirq context).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>

#include "ustack/base/result.h"
#include "ustack/base/time.h"

namespace ustack {

class BufferPool;
class PacketBuffer;
class PacketQueue;

enum class BufError : uint8_t {
  kNoHeadroom,    // push() wants more than headroom()
  kNoTailroom,    // put() wants more than tailroom()
  kBeyondLength,  // pull()/trim() past the end of the data
  kNotEmpty,      // reserve() on a buffer that already holds data
  kNoMemory,      // the pool is at its limit (or a copy-on-write could not allocate)
};
std::string_view buf_error_name(BufError e);

// Packet classification by destination MAC, as Linux's skb->pkt_type.
enum class PacketType : uint8_t { kHost, kBroadcast, kMulticast, kOtherHost, kOutgoing };

// What is known about the transport checksum (Linux's skb->ip_summed).
//   kNone         nothing: receive verifies it; transmit has finished it in software.
//   kUnnecessary  receive: the device (or the kernel behind a vnet TAP) verified it.
//   kPartial      transmit (and receive from a vnet TAP): the field at csum_start + csum_offset
//                 holds only the pseudo-header sum; whoever sends it on finishes the sum over
//                 [csum_start, tail) (a NETIF_F_HW_CSUM device, or skb_checksum_help).
enum class CsumState : uint8_t { kNone, kUnnecessary, kPartial };

// Generic segmentation offload type (skb_shinfo(skb)->gso_type).
enum class GsoType : uint8_t { kNone, kTcpV4 };

// The shared data area: the header is followed by `size` bytes (cf. skb->head + shinfo).
struct DataBlock {
  BufferPool* pool;
  DataBlock* next_free;  // pool free list link
  uint32_t size;         // usable bytes after this header
  uint16_t refs;         // PacketBuffers pointing here (1 + clones)
  uint16_t hdr_refs;     // of those, the ones that may still write headers (skb dataref)
  uint8_t size_class;    // pool class index; kOversize for one-off allocations
  // Lowest data offset of any buffer that released its header rights: a clone with header
  // rights may write only below this (and its own data), never into a sibling's view.
  uint32_t payload_start;
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }
};

struct PacketDeleter {
  void operator()(PacketBuffer* p) const;
};
// Exactly one owner at any time. Moving it is handing the packet on; destroying it frees it.
using PacketPtr = std::unique_ptr<PacketBuffer, PacketDeleter>;

class PacketBuffer {
 public:
  static constexpr size_t kCbSize = 48;  // per-layer scratch space, as skb->cb[48]
  static constexpr uint32_t kNoOffset = 0xffffffffu;

  PacketBuffer(const PacketBuffer&) = delete;
  PacketBuffer& operator=(const PacketBuffer&) = delete;

  // ---- geometry -------------------------------------------------------------------------
  size_t len() const { return tail_ - data_; }
  size_t headroom() const { return data_; }
  size_t tailroom() const { return blk_->size - tail_; }
  size_t capacity() const { return blk_->size; }
  bool empty() const { return tail_ == data_; }

  // The packet bytes [data, tail). Read-only: writes go through mutable_data().
  std::span<const uint8_t> data() const { return {blk_->bytes() + data_, len()}; }
  // Writable view of [data, tail); copies the block first if it is shared (copy-on-write).
  Result<std::span<uint8_t>, BufError> mutable_data();

  // Empty buffer only: move data and tail forward by n, leaving headroom for headers.
  Result<void, BufError> reserve(size_t n);
  // Extend the data at the tail by n bytes and return them (skb_put).
  Result<std::span<uint8_t>, BufError> put(size_t n);
  // put(bytes.size()) and copy bytes in.
  Result<void, BufError> append(std::span<const uint8_t> bytes);
  // Extend the data at the head by n bytes and return them: prepend a header (skb_push).
  Result<std::span<uint8_t>, BufError> push(size_t n);
  // Remove n bytes from the head and return them: strip a header (skb_pull). The bytes stay
  // readable through the returned span while this buffer lives.
  Result<std::span<const uint8_t>, BufError> pull(size_t n);
  // Cut the data to `len` bytes (skb_trim): drops link padding and trailers.
  Result<void, BufError> trim(size_t len);

  // ---- header offsets (skb->mac_header / network_header / transport_header) ------------
  // Each records the current data() position; the layer that parses the header sets it.
  void set_mac_header() { mac_ = data_; }
  void set_network_header() { network_ = data_; }
  void set_transport_header() { transport_ = data_; }
  bool has_mac_header() const { return mac_ != kNoOffset; }
  bool has_network_header() const { return network_ != kNoOffset; }
  bool has_transport_header() const { return transport_ != kNoOffset; }
  // From the recorded offset to the tail; empty if the offset was never set.
  std::span<const uint8_t> mac_header() const { return from(mac_); }
  std::span<const uint8_t> network_header() const { return from(network_); }
  std::span<const uint8_t> transport_header() const { return from(transport_); }
  // Offsets relative to data(); negative once the header has been pulled.
  ptrdiff_t mac_offset() const { return rel(mac_); }
  ptrdiff_t network_offset() const { return rel(network_); }
  ptrdiff_t transport_offset() const { return rel(transport_); }

  // ---- sharing ------------------------------------------------------------------------
  // A new buffer sharing this one's bytes (skb_clone): O(1), no copy.
  PacketPtr clone();
  // A new buffer with a private copy of the bytes and the same metadata (skb_copy).
  Result<PacketPtr, BufError> copy() const;
  // A new buffer holding a copy of data() with `headroom` free bytes in front, from the same
  // pool, carrying the packet metadata (skb_copy_expand): for a layer that must push a header
  // and finds no headroom, or the bytes shared. Header offsets are not carried: the caller is
  // about to write new headers.
  Result<PacketPtr, BufError> copy_expand(size_t headroom) const;
  // The packet metadata of `o` (ifindex, protocol, pkt_type, mark, timestamp, trace_id), as
  // Linux's ip_copy_metadata: a fragment or a reassembled datagram is still "that packet".
  void copy_metadata_from(const PacketBuffer& o);
  bool shared() const { return blk_->refs > 1; }
  // This buffer will never write headers again (__skb_header_release): lets the clones it
  // hands out push their headers without copying. TCP calls it on retransmit-queue buffers.
  void release_header();
  // Give this buffer a private copy of its bytes if it shares them.
  Result<void, BufError> unshare();

  // ---- checksum offload and GSO (skb->ip_summed, csum_start/offset, skb_shinfo gso_*) ---
  // CHECKSUM_PARTIAL: the checksum field `csum_offset` bytes after `start` (an offset from
  // data(), the transport header) holds the pseudo-header sum; the rest is left to the device.
  void set_csum_partial(size_t start, uint16_t csum_offset) {
    ip_summed = CsumState::kPartial;
    csum_start_ = data_ + static_cast<uint32_t>(start);
    csum_offset_ = csum_offset;
  }
  // Offset of the checksummed area from data() (negative once pulled past), and of the field
  // within it. Meaningful only while ip_summed == kPartial.
  ptrdiff_t csum_start() const { return static_cast<ptrdiff_t>(csum_start_) - data_; }
  uint16_t csum_offset() const { return csum_offset_; }
  // skb_csum_unnecessary: the transport checksum need not be verified on receive.
  bool csum_unnecessary() const { return ip_summed != CsumState::kNone; }
  bool is_gso() const { return gso_size != 0; }
  // (The fields are declared with the metadata below, where they fill alignment holes.)

  // ---- metadata -----------------------------------------------------------------------
  int ifindex = 0;        // device the packet arrived on / leaves by
  uint16_t protocol = 0;  // EtherType of the payload (skb->protocol)
  PacketType pkt_type = PacketType::kHost;
  CsumState ip_summed = CsumState::kNone;
  uint32_t mark = 0;  // netfilter mark
  // GSO: this one buffer stands for segments of gso_size payload bytes each (an MSS); 0: not GSO.
  uint16_t gso_size = 0;
  GsoType gso_type = GsoType::kNone;
  Instant timestamp;      // RX: when the device received it
  uint64_t trace_id = 0;  // journey id (Telemetry::new_packet_id)

  // Per-layer control block (skb->cb): the layer that owns the packet right now keeps its
  // private per-packet state here. T must be trivially copyable and fit in kCbSize bytes.
  template <class T>
  T& cb() {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= kCbSize &&
                  alignof(T) <= alignof(std::max_align_t));
    return *std::launder(reinterpret_cast<T*>(cb_.data()));
  }
  void clear_cb() { cb_.fill(0); }

  BufferPool& pool() const { return *blk_->pool; }

 private:
  friend class BufferPool;
  friend class PacketQueue;
  friend struct PacketDeleter;
  PacketBuffer() = default;

  std::span<const uint8_t> from(uint32_t off) const {
    if (off == kNoOffset || off > tail_) return {};
    return {blk_->bytes() + off, tail_ - off};
  }
  ptrdiff_t rel(uint32_t off) const {
    return off == kNoOffset ? PTRDIFF_MIN : static_cast<ptrdiff_t>(off) - data_;
  }
  bool may_write_headers() const;
  void copy_meta_from(const PacketBuffer& o);
  void copy_offload_from(const PacketBuffer& o, int64_t shift);
  void reset(DataBlock* blk, uint32_t headroom);
  uint32_t lowest_used() const;  // lowest offset holding bytes this buffer can see

  DataBlock* blk_ = nullptr;
  uint32_t data_ = 0;
  uint32_t tail_ = 0;
  uint32_t mac_ = kNoOffset;
  uint32_t network_ = kNoOffset;
  uint32_t transport_ = kNoOffset;
  bool hdr_released_ = false;
  uint16_t csum_offset_ = 0;
  // Intrusive queue links (PacketQueue); a buffer sits in at most one queue.
  PacketBuffer* next_ = nullptr;
  PacketBuffer* prev_ = nullptr;
  bool queued_ = false;
  uint32_t queued_len_ = 0;  // len() when queued: keeps PacketQueue::bytes() exact
  uint32_t csum_start_ = 0;  // from the block's start, like Linux's (from skb->head)
  alignas(std::max_align_t) std::array<unsigned char, kCbSize> cb_{};
};

}  // namespace ustack
