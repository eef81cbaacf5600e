// Worker threads for the CPU backend's element-wise loops, so that a rank given
// several cores uses them beyond the GEMMs (OpenBLAS has its own pool, which elbo
// cannot borrow). Workers sleep on a condition variable between loops rather than
// spinning: a spinning pool beside OpenBLAS's spinning threads fights it for the
// same cores. Work is split into contiguous ranges fixed by (n, threads) alone and
// every loop writes disjoint elements, so results never depend on the thread count.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace elbo {

class WorkerPool {
 public:
  // threads: the caller plus threads - 1 workers (1: no workers, loops run inline).
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return threads_; }

  // Calls fn(begin, end) on contiguous parts of [0, n) and returns when all are done.
  // Fewer parts than threads when n is small: each part gets at least min_part items,
  // so short loops stay on the calling thread (waking a worker costs microseconds).
  void parallel_for(size_t n, size_t min_part, const std::function<void(size_t, size_t)>& fn);

 private:
  void worker_main(int index);

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  size_t job_n_ = 0;
  int job_parts_ = 0;
  unsigned long long generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
};

}  // namespace elbo
