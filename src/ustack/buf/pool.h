// buf/pool.h — BufferPool: where every PacketBuffer and its bytes come from.
//
// The steady-state data path never calls malloc per packet: blocks are carved out of slabs,
// freed blocks go on a per-size-class free list and are handed out again. Slabs are only
// allocated while the pool warms up (or grows toward its limit); a test checks this by
// counting global operator new calls across a million alloc/free cycles.
//
// Size classes: "frame" blocks (2 KiB: a 1514-byte frame plus headroom) and "jumbo" blocks
// (64 KiB + headroom: reassembled datagrams, jumbo frames). Larger requests get one-off heap
// blocks (counted as oversize). An optional byte limit models memory pressure: past it,
// alloc() returns null and the caller counts a kNoBuffer drop.
//
// Lifetime: create pools with BufferPool::create(). When the owning handle goes away while
// buffers are still out (a frame in flight on a simulated link), the pool retires and frees
// itself when the last buffer comes back, so buffers never outlive their memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ustack/buf/packet_buffer.h"

namespace ustack {

struct PoolConfig {
  size_t frame_block_size = 2048;         // usable bytes per frame-class block
  size_t jumbo_block_size = 65536 + 512;  // usable bytes per jumbo-class block
  size_t frame_blocks_per_slab = 64;
  size_t jumbo_blocks_per_slab = 2;
  size_t headers_per_slab = 128;  // PacketBuffer descriptors per slab
  size_t max_bytes = 0;           // block bytes in use, all classes; 0 = unlimited
};

struct PoolStats {
  uint64_t allocs = 0;          // alloc() successes
  uint64_t alloc_failures = 0;  // alloc() refused at the limit
  uint64_t clones = 0;
  uint64_t copies = 0;        // copy() and copy-on-write
  uint64_t slab_mallocs = 0;  // slabs taken from the heap (warm-up / growth)
  uint64_t slab_bytes = 0;    // their bytes (memory accounting subtracts the pool's own)
  uint64_t oversize = 0;      // one-off blocks beyond the jumbo class
  uint64_t buffers_out = 0;   // PacketBuffers currently alive
  uint64_t bytes_in_use = 0;  // block bytes currently referenced
};

class BufferPool;
struct PoolDeleter {
  void operator()(BufferPool* p) const;
};
// Owning handle: destroying it retires the pool (freed once every buffer is back).
using PoolHandle = std::unique_ptr<BufferPool, PoolDeleter>;

class BufferPool {
 public:
  // Room for Ethernet (14) + 802.1Q (4) + IPv4 with options (60) + TCP with options (60),
  // rounded up; what a socket reserves before writing payload.
  static constexpr size_t kDefaultHeadroom = 160;

  static PoolHandle create(PoolConfig cfg = {});
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // An empty buffer with `headroom` reserved and at least `size` bytes of tailroom;
  // null when the pool is at its byte limit.
  [[nodiscard]] PacketPtr alloc(size_t headroom, size_t size);
  // A buffer holding a copy of `bytes`, with `headroom` in front.
  [[nodiscard]] PacketPtr alloc_copy(std::span<const uint8_t> bytes, size_t headroom = 0);

  const PoolStats& stats() const { return stats_; }
  const PoolConfig& config() const { return cfg_; }
  size_t outstanding() const { return stats_.buffers_out; }

 private:
  friend class PacketBuffer;
  friend struct PacketDeleter;
  friend struct PoolDeleter;
  static constexpr uint8_t kOversize = 0xff;
  static constexpr int kClasses = 2;

  explicit BufferPool(PoolConfig cfg);
  ~BufferPool();

  PacketBuffer* new_header();
  void free_header(PacketBuffer* p);
  DataBlock* new_block(size_t min_size);
  void unref_block(DataBlock* b);
  void free_buffer(PacketBuffer* p);  // PacketDeleter
  void grow_headers();
  bool grow_blocks(int cls);
  void maybe_self_destruct();

  PoolConfig cfg_;
  PoolStats stats_;
  std::array<size_t, kClasses> block_size_{};
  std::array<size_t, kClasses> blocks_per_slab_{};
  std::array<DataBlock*, kClasses> free_blocks_{};
  PacketBuffer* free_headers_ = nullptr;
  std::vector<void*> slabs_;  // every slab, freed in the destructor
  bool retired_ = false;
};

}  // namespace ustack
