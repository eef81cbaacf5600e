#include "worker_pool.h"

#include <algorithm>

namespace elbo {
namespace {

// Part p of n items split into parts contiguous ranges (the first n % parts one longer).
void part_range(size_t n, int parts, int p, size_t& begin, size_t& end) {
  const size_t base = n / size_t(parts), extra = n % size_t(parts);
  begin = size_t(p) * base + std::min(size_t(p), extra);
  end = begin + base + (size_t(p) < extra ? 1 : 0);
}

}  // namespace

WorkerPool::WorkerPool(int threads) : threads_(std::max(1, threads)) {
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void WorkerPool::parallel_for(size_t n, size_t min_part, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  const size_t by_size = std::max<size_t>(1, n / std::max<size_t>(1, min_part));
  const int parts = int(std::min<size_t>(size_t(threads_), by_size));
  if (parts <= 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    job_parts_ = parts;
    pending_ = parts - 1;
    ++generation_;
  }
  wake_.notify_all();
  size_t begin, end;
  part_range(n, parts, 0, begin, end);
  fn(begin, end);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void WorkerPool::worker_main(int index) {
  unsigned long long seen = 0;
  for (;;) {
    const std::function<void(size_t, size_t)>* job;
    size_t n;
    int parts;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
      parts = job_parts_;
    }
    if (index >= parts) continue;  // this loop was split into fewer parts
    size_t begin, end;
    part_range(n, parts, index, begin, end);
    (*job)(begin, end);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

}  // namespace elbo
