#include "worker_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ELBO_CPU_RELAX() _mm_pause()
#else
#define ELBO_CPU_RELAX() std::atomic_signal_fence(std::memory_order_seq_cst)
#endif

namespace elbo {
namespace {

// Part p of n items split into parts contiguous ranges (the first n % parts one longer).
void part_range(size_t n, int parts, int p, size_t& begin, size_t& end) {
  const size_t base = n / size_t(parts), extra = n % size_t(parts);
  begin = size_t(p) * base + std::min(size_t(p), extra);
  end = begin + base + (size_t(p) < extra ? 1 : 0);
}

using Clock = std::chrono::steady_clock;

}  // namespace

WorkerPool::WorkerPool(int threads) : threads_(std::max(1, threads)) {
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true, std::memory_order_release);
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
  job_ = &fn;
  job_n_ = n;
  job_parts_ = parts;
  // Every worker acknowledges every generation (those beyond the split with no work),
  // so that none can still be reading job_ when the next loop overwrites it.
  pending_.store(threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  size_t begin, end;
  part_range(n, parts, 0, begin, end);
  fn(begin, end);
  // The workers' parts are as long as this one: spin, and yield the core if a worker
  // was descheduled.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4096)
      ELBO_CPU_RELAX();
    else
      std::this_thread::yield();
  }
}

bool WorkerPool::await_job(unsigned long long seen) {
  const Clock::time_point deadline = Clock::now() + std::chrono::microseconds(kSpinMicros);
  for (int spins = 1;; ++spins) {
    if (generation_.load(std::memory_order_acquire) != seen) return true;
    if (stopping_.load(std::memory_order_acquire)) return false;
    ELBO_CPU_RELAX();
    if (spins % 256 == 0 && Clock::now() > deadline) break;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait(lock, [&] {
    return stopping_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
  });
  return !stopping_.load(std::memory_order_acquire);
}

void WorkerPool::worker_main(int index) {
  unsigned long long seen = 0;
  while (await_job(seen)) {
    seen = generation_.load(std::memory_order_acquire);
    const int parts = job_parts_;
    if (index < parts) {
      size_t begin, end;
      part_range(job_n_, parts, index, begin, end);
      (*job_)(begin, end);
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace elbo
