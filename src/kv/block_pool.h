// BlockPool: fixed-size KV blocks (block_size tokens each), ref counts, and a prefix cache.
// Sequences own block tables (lists of block ids); slot = block * block_size + offset.
//
// Prefix cache: a full block is keyed by hash(parent block's hash, its token ids), so equal
// keys mean equal prefixes. A freed block keeps its key and stays findable until the
// allocator reuses it; free blocks are reused least recently freed first (LRU eviction).
#pragma once
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace tritium {

class BlockPool {
 public:
  BlockPool(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching = false);

  int64_t num_blocks() const { return int64_t(ref_.size()); }
  int64_t block_size() const { return block_size_; }
  int64_t num_free() const { return num_free_; }  // includes cached blocks nobody uses
  int64_t num_cached() const { return int64_t(cached_.size()); }
  int32_t ref_count(int32_t block) const { return ref_.at(size_t(block)); }
  bool prefix_caching() const { return prefix_caching_; }

  // Takes the least recently freed block (ref count 1), evicting its cache entry; -1 if none.
  int32_t allocate();
  // Adds a reference to a block already in use (sharing).
  void retain(int32_t block);
  // Drops a reference; at zero the block joins the free list (keeping its cache key).
  void release(int32_t block);
  // Blocks needed to hold n tokens.
  int64_t blocks_for(int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }

  // Prefix cache.
  static uint64_t hash_block(uint64_t parent, std::span<const int32_t> tokens);
  // The cached block with this key, retained for the caller (taken off the free list if
  // nobody used it); -1 on a miss.
  int32_t lookup(uint64_t key);
  // Records that `block` (full, computed) holds the prefix with this key.
  void register_block(int32_t block, uint64_t key);

  // Hit statistics (blocks).
  int64_t hits() const { return hits_; }
  int64_t queries() const { return queries_; }

 private:
  void unlink(int32_t b);
  void push_back(int32_t b);

  int64_t block_size_;
  bool prefix_caching_;
  std::vector<int32_t> ref_;
  // Free list as a doubly linked list over block ids: O(1) removal of a cache hit.
  std::vector<int32_t> prev_, next_;
  std::vector<char> in_free_;
  int32_t head_ = -1, tail_ = -1;
  int64_t num_free_ = 0;
  std::vector<uint64_t> key_;
  std::vector<char> has_key_;
  std::unordered_map<uint64_t, int32_t> cached_;
  int64_t hits_ = 0, queries_ = 0;
};

// A sequence's blocks. Grows as tokens are added; returns every block on release.
class BlockTable {
 public:
  const std::vector<int32_t>& blocks() const { return blocks_; }
  std::vector<int32_t>& mutable_blocks() { return blocks_; }
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
