#include "core/thread_pool.h"

#include <algorithm>
#include <exception>
#include <cstdlib>
#include <string>

namespace tritium {

namespace {
thread_local bool t_in_pool = false;  // nested parallel_for runs inline
}

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < std::max(1, num_threads); ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool([] {
    if (const char* e = std::getenv("TRITIUM_NUM_THREADS")) {
      int n = std::atoi(e);
      if (n > 0) return n;
    }
    return int(std::max(1u, std::thread::hardware_concurrency()));
  }());
  return pool;
}

void ThreadPool::worker_loop(int) {
  t_in_pool = true;
  uint64_t seen = 0;
  for (;;) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_work_.wait(lk, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    while (next_chunk_ < job_chunks_) {
      int64_t c = next_chunk_++;
      auto* job = job_;
      int64_t b = c * chunk_size_, e = std::min(job_n_, b + chunk_size_);
      lk.unlock();
      std::exception_ptr err;
      try {
        (*job)(b, e);
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      if (err && !error_) error_ = err;
      if (++done_chunks_ == job_chunks_) cv_done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_chunks = (n + grain - 1) / grain;
  int64_t chunks = std::min<int64_t>(max_chunks, int64_t(num_threads()) * 4);
  if (chunks <= 1 || workers_.empty() || t_in_pool) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> run(run_mu_);
  std::unique_lock<std::mutex> lk(mu_);
  job_ = &fn;
  job_n_ = n;
  chunk_size_ = (n + chunks - 1) / chunks;
  job_chunks_ = (n + chunk_size_ - 1) / chunk_size_;
  next_chunk_ = 0;
  done_chunks_ = 0;
  error_ = nullptr;
  ++generation_;
  cv_work_.notify_all();
  t_in_pool = true;
  while (next_chunk_ < job_chunks_) {
    int64_t c = next_chunk_++;
    int64_t b = c * chunk_size_, e = std::min(n, b + chunk_size_);
    lk.unlock();
    try {
      fn(b, e);
    } catch (...) {
      lk.lock();
      if (!error_) error_ = std::current_exception();
      lk.unlock();
    }
    lk.lock();
    ++done_chunks_;
  }
  t_in_pool = false;
  cv_done_.wait(lk, [&] { return done_chunks_ == job_chunks_; });
  job_ = nullptr;
  if (error_) {
    auto e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

}  // namespace tritium
