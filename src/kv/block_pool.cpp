#include "kv/block_pool.h"

#include <xxhash.h>

namespace tritium {

BlockPool::BlockPool(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching)
    : block_size_(block_size), prefix_caching_(enable_prefix_caching) {
  TRITIUM_CHECK(num_blocks > 0 && block_size > 0, "BlockPool needs positive num_blocks and block_size (got ",
                num_blocks, ", ", block_size, ")");
  const size_t n = size_t(num_blocks);
  ref_.assign(n, 0);
  prev_.assign(n, -1);
  next_.assign(n, -1);
  in_free_.assign(n, 0);
  key_.assign(n, 0);
  has_key_.assign(n, 0);
  for (int32_t i = 0; i < num_blocks; ++i) push_back(i);
}

void BlockPool::push_back(int32_t b) {
  prev_[size_t(b)] = tail_;
  next_[size_t(b)] = -1;
  if (tail_ >= 0) next_[size_t(tail_)] = b; else head_ = b;
  tail_ = b;
  in_free_[size_t(b)] = 1;
  ++num_free_;
}

void BlockPool::unlink(int32_t b) {
  int32_t p = prev_[size_t(b)], n = next_[size_t(b)];
  if (p >= 0) next_[size_t(p)] = n; else head_ = n;
  if (n >= 0) prev_[size_t(n)] = p; else tail_ = p;
  in_free_[size_t(b)] = 0;
  --num_free_;
}

int32_t BlockPool::allocate() {
  if (head_ < 0) return -1;
  int32_t b = head_;
  unlink(b);
  if (has_key_[size_t(b)]) {  // evict the stale cache entry
    auto it = cached_.find(key_[size_t(b)]);
    if (it != cached_.end() && it->second == b) cached_.erase(it);
    has_key_[size_t(b)] = 0;
  }
  ref_[size_t(b)] = 1;
  return b;
}

void BlockPool::retain(int32_t b) {
  TRITIUM_CHECK(b >= 0 && b < num_blocks() && ref_[size_t(b)] > 0, "retain of block ", b, " that is not in use");
  ++ref_[size_t(b)];
}

void BlockPool::release(int32_t b) {
  TRITIUM_CHECK(b >= 0 && b < num_blocks() && ref_[size_t(b)] > 0, "release of block ", b, " that is not in use");
  if (--ref_[size_t(b)] == 0) {
    if (!has_key_[size_t(b)]) {
      // Nothing worth keeping: reuse it before cached blocks.
      prev_[size_t(b)] = -1;
      next_[size_t(b)] = head_;
      if (head_ >= 0) prev_[size_t(head_)] = b; else tail_ = b;
      head_ = b;
      in_free_[size_t(b)] = 1;
      ++num_free_;
    } else {
      push_back(b);
    }
  }
}

uint64_t BlockPool::hash_block(uint64_t parent, std::span<const int32_t> tokens) {
  return XXH3_64bits_withSeed(tokens.data(), tokens.size_bytes(), parent);
}

int32_t BlockPool::lookup(uint64_t key) {
  ++queries_;
  auto it = cached_.find(key);
  if (it == cached_.end()) return -1;
  int32_t b = it->second;
  if (ref_[size_t(b)] == 0) {
    unlink(b);
    ref_[size_t(b)] = 1;
  } else {
    ++ref_[size_t(b)];
  }
  ++hits_;
  return b;
}

void BlockPool::register_block(int32_t b, uint64_t key) {
  if (!prefix_caching_) return;
  TRITIUM_CHECK(ref_[size_t(b)] > 0, "register_block: block ", b, " is not in use");
  if (has_key_[size_t(b)]) return;
  if (cached_.count(key)) return;  // an identical block is already cached; keep the first
  key_[size_t(b)] = key;
  has_key_[size_t(b)] = 1;
  cached_[key] = b;
}

bool BlockTable::reserve(BlockPool& pool, int64_t tokens) {
  int64_t need = pool.blocks_for(tokens) - int64_t(blocks_.size());
  if (need <= 0) return true;
  if (need > pool.num_free()) return false;
  for (int64_t i = 0; i < need; ++i) blocks_.push_back(pool.allocate());
  return true;
}

void BlockTable::release(BlockPool& pool) {
  // Release the tail first so a sequence's later blocks are evicted before its prefix.
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) pool.release(*it);
  blocks_.clear();
}

KVCache KVCache::allocate(int64_t num_layers, int64_t num_blocks, int64_t block_size, int64_t num_kv_heads,
                          int64_t head_dim, DType dtype, Device device) {
  KVCache c;
  for (int64_t l = 0; l < num_layers; ++l) {
    c.k.push_back(Tensor::zeros({num_blocks, block_size, num_kv_heads, head_dim}, dtype, device));
    c.v.push_back(Tensor::zeros({num_blocks, block_size, num_kv_heads, head_dim}, dtype, device));
  }
  return c;
}

int64_t KVCache::bytes() const {
  int64_t b = 0;
  for (auto& t : k) b += int64_t(t.nbytes());
  for (auto& t : v) b += int64_t(t.nbytes());
  return b;
}

}  // namespace tritium
