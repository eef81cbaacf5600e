// Worker threads of the CPU backend: they run the element-wise loops and the blocks of
// each GEMM (partitioned_gemm.h), so a rank given several cores uses all of them with
// one pool (OpenBLAS itself runs single-threaded inside each block).
//
// Waiting: a worker that finishes a loop spins on the job counter for a short while
// (kSpinMicros) before it sleeps on a condition variable. A training step issues a few
// dozen loops back to back, microseconds apart, and waking a sleeping thread through
// the kernel costs tens of microseconds on a VM; spinning only within that window keeps
// the workers hot during a step and off the cores between steps. Work is split into
// contiguous ranges fixed by (n, parts) alone and every loop writes disjoint elements,
// so results never depend on the thread count.
#pragma once
#include <atomic>
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
  // so short loops stay on the calling thread. Not reentrant: one caller at a time.
  void parallel_for(size_t n, size_t min_part, const std::function<void(size_t, size_t)>& fn);

  // How long an idle worker polls for the next loop before it sleeps.
  static constexpr int kSpinMicros = 200;

 private:
  void worker_main(int index);
  // Waits until generation_ differs from seen (spinning first); false when stopping.
  bool await_job(unsigned long long seen);

  int threads_;
  std::vector<std::thread> workers_;
  // The job: written by parallel_for before generation_ is advanced (release), read by
  // workers after they see the new generation (acquire).
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  size_t job_n_ = 0;
  int job_parts_ = 0;
  std::atomic<unsigned long long> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  // Sleeping workers wait here; parallel_for notifies under the mutex, so no wake-up is lost.
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace elbo
