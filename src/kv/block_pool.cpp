#include "kv/block_pool.h"

namespace tritium {

BlockPool::BlockPool(int64_t num_blocks, int64_t block_size) : block_size_(block_size) {
  TRITIUM_CHECK(num_blocks > 0 && block_size > 0, "BlockPool needs positive num_blocks and block_size (got ",
                num_blocks, ", ", block_size, ")");
  ref_.assign(size_t(num_blocks), 0);
  for (int32_t i = 0; i < num_blocks; ++i) free_.push_back(i);
}

int32_t BlockPool::allocate() {
  if (free_.empty()) return -1;
  int32_t b = free_.front();
  free_.pop_front();
  ref_[size_t(b)] = 1;
  return b;
}

void BlockPool::retain(int32_t b) {
  TRITIUM_CHECK(b >= 0 && b < num_blocks() && ref_[size_t(b)] > 0, "retain of block ", b, " that is not in use");
  ++ref_[size_t(b)];
}

void BlockPool::release(int32_t b) {
  TRITIUM_CHECK(b >= 0 && b < num_blocks() && ref_[size_t(b)] > 0, "release of block ", b, " that is not in use");
  if (--ref_[size_t(b)] == 0) free_.push_back(b);
}

bool BlockTable::reserve(BlockPool& pool, int64_t tokens) {
  int64_t need = pool.blocks_for(tokens) - int64_t(blocks_.size());
  if (need <= 0) return true;
  if (need > pool.num_free()) return false;
  for (int64_t i = 0; i < need; ++i) blocks_.push_back(pool.allocate());
  return true;
}

void BlockTable::release(BlockPool& pool) {
  for (auto b : blocks_) pool.release(b);
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
