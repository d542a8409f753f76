#include "ustack/buf/pool.h"

#include <new>

#include "ustack/base/assert.h"

namespace ustack {
namespace {

constexpr std::align_val_t kAlign{64};
constexpr size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }
void* slab_alloc(size_t bytes) { return ::operator new(bytes, kAlign); }
void slab_free(void* p) { ::operator delete(p, kAlign); }

}  // namespace

void PoolDeleter::operator()(BufferPool* p) const {
  p->retired_ = true;
  p->maybe_self_destruct();
}

PoolHandle BufferPool::create(PoolConfig cfg) { return PoolHandle(new BufferPool(cfg)); }

BufferPool::BufferPool(PoolConfig cfg) : cfg_(cfg) {
  USTACK_ASSERT(cfg.frame_block_size > 0 && cfg.frame_block_size <= cfg.jumbo_block_size,
                "PoolConfig: block sizes must be positive and ascending");
  USTACK_ASSERT(cfg.jumbo_block_size < PacketBuffer::kNoOffset, "PoolConfig: jumbo too large");
  block_size_ = {cfg.frame_block_size, cfg.jumbo_block_size};
  blocks_per_slab_ = {std::max<size_t>(1, cfg.frame_blocks_per_slab),
                      std::max<size_t>(1, cfg.jumbo_blocks_per_slab)};
}

BufferPool::~BufferPool() {
  for (void* s : slabs_) slab_free(s);
}

void BufferPool::maybe_self_destruct() {
  if (retired_ && stats_.buffers_out == 0) delete this;
}

void BufferPool::grow_headers() {
  const size_t n = std::max<size_t>(1, cfg_.headers_per_slab);
  auto* slab = static_cast<PacketBuffer*>(slab_alloc(n * sizeof(PacketBuffer)));
  slabs_.push_back(slab);
  ++stats_.slab_mallocs;
  stats_.slab_bytes += n * sizeof(PacketBuffer);
  for (size_t i = 0; i < n; ++i) {
    PacketBuffer* p = new (slab + i) PacketBuffer();
    p->next_ = free_headers_;
    free_headers_ = p;
  }
}

PacketBuffer* BufferPool::new_header() {
  if (free_headers_ == nullptr) grow_headers();
  PacketBuffer* p = free_headers_;
  free_headers_ = p->next_;
  ++stats_.buffers_out;
  return p;
}

void BufferPool::free_header(PacketBuffer* p) {
  p->blk_ = nullptr;
  p->next_ = free_headers_;
  free_headers_ = p;
  --stats_.buffers_out;
}

bool BufferPool::grow_blocks(int cls) {
  const size_t stride = round_up(sizeof(DataBlock) + block_size_[cls], 64);
  const size_t n = blocks_per_slab_[cls];
  auto* slab = static_cast<uint8_t*>(slab_alloc(stride * n));
  slabs_.push_back(slab);
  ++stats_.slab_mallocs;
  stats_.slab_bytes += stride * n;
  for (size_t i = 0; i < n; ++i) {
    auto* b = reinterpret_cast<DataBlock*>(slab + i * stride);
    b->pool = this;
    b->size = static_cast<uint32_t>(block_size_[cls]);
    b->size_class = static_cast<uint8_t>(cls);
    b->next_free = free_blocks_[cls];
    free_blocks_[cls] = b;
  }
  return true;
}

DataBlock* BufferPool::new_block(size_t min_size) {
  int cls = -1;
  for (int c = 0; c < kClasses; ++c) {
    if (min_size <= block_size_[c]) {
      cls = c;
      break;
    }
  }
  const size_t size = cls >= 0 ? block_size_[cls] : min_size;
  if (cfg_.max_bytes != 0 && stats_.bytes_in_use + size > cfg_.max_bytes) {
    ++stats_.alloc_failures;
    return nullptr;
  }
  DataBlock* b;
  if (cls < 0) {
    // Beyond the jumbo class: a one-off block, returned to the heap when freed.
    if (min_size >= PacketBuffer::kNoOffset) {
      ++stats_.alloc_failures;
      return nullptr;
    }
    b = static_cast<DataBlock*>(slab_alloc(sizeof(DataBlock) + size));
    b->pool = this;
    b->size = static_cast<uint32_t>(size);
    b->size_class = kOversize;
    ++stats_.oversize;
  } else {
    if (free_blocks_[cls] == nullptr) grow_blocks(cls);
    b = free_blocks_[cls];
    free_blocks_[cls] = b->next_free;
  }
  b->next_free = nullptr;
  b->refs = 1;
  b->hdr_refs = 1;
  b->payload_start = PacketBuffer::kNoOffset;
  stats_.bytes_in_use += b->size;
  return b;
}

void BufferPool::unref_block(DataBlock* b) {
  USTACK_ASSERT(b->refs > 0, "DataBlock reference count underflow");
  if (--b->refs != 0) return;
  stats_.bytes_in_use -= b->size;
  if (b->size_class == kOversize) {
    slab_free(b);
    return;
  }
  b->next_free = free_blocks_[b->size_class];
  free_blocks_[b->size_class] = b;
}

void BufferPool::free_buffer(PacketBuffer* p) {
  DataBlock* b = p->blk_;
  if (!p->hdr_released_) --b->hdr_refs;
  unref_block(b);
  free_header(p);
  maybe_self_destruct();  // may delete this: nothing may follow
}

PacketPtr BufferPool::alloc(size_t headroom, size_t size) {
  DataBlock* b = new_block(headroom + size);
  if (b == nullptr) return nullptr;
  PacketBuffer* p = new_header();
  p->reset(b, static_cast<uint32_t>(headroom));
  ++stats_.allocs;
  return PacketPtr(p);
}

PacketPtr BufferPool::alloc_copy(std::span<const uint8_t> bytes, size_t headroom) {
  PacketPtr p = alloc(headroom, bytes.size());
  if (p && !bytes.empty()) {
    auto r = p->put(bytes.size());
    std::memcpy(r->data(), bytes.data(), bytes.size());
  }
  return p;
}

}  // namespace ustack
