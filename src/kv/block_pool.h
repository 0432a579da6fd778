// BlockPool: fixed-size KV blocks (block_size tokens each), a free list and ref counts.
// Sequences own block tables (lists of block ids); slot = block * block_size + offset.
#pragma once
#include <cstdint>
#include <deque>
#include <vector>

#include "core/tensor.h"

namespace tritium {

class BlockPool {
 public:
  BlockPool(int64_t num_blocks, int64_t block_size);

  int64_t num_blocks() const { return int64_t(ref_.size()); }
  int64_t block_size() const { return block_size_; }
  int64_t num_free() const { return int64_t(free_.size()); }
  int32_t ref_count(int32_t block) const { return ref_.at(size_t(block)); }

  // Takes a free block (ref count 1); -1 when none is left.
  int32_t allocate();
  // Adds a reference to a block already in use (sharing).
  void retain(int32_t block);
  // Drops a reference; the block returns to the free list at zero.
  void release(int32_t block);
  // Blocks needed to hold n tokens.
  int64_t blocks_for(int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }

 private:
  int64_t block_size_;
  std::vector<int32_t> ref_;
  std::deque<int32_t> free_;
};

// A sequence's blocks. Grows as tokens are added; returns every block on release.
class BlockTable {
 public:
  const std::vector<int32_t>& blocks() const { return blocks_; }
  // Makes room for `tokens` tokens in total; false (and no change) if the pool runs out.
  bool reserve(BlockPool& pool, int64_t tokens);
  // Slot of token position p.
  int32_t slot(const BlockPool& pool, int64_t p) const {
    return int32_t(blocks_[size_t(p / pool.block_size())] * pool.block_size() + p % pool.block_size());
  }
  void release(BlockPool& pool);

 private:
  std::vector<int32_t> blocks_;
};

// The per-layer K and V tensors: [num_blocks, block_size, num_kv_heads, head_dim].
struct KVCache {
  std::vector<Tensor> k, v;
  static KVCache allocate(int64_t num_layers, int64_t num_blocks, int64_t block_size, int64_t num_kv_heads,
                          int64_t head_dim, DType dtype, Device device);
  int64_t bytes() const;
};

}  // namespace tritium
