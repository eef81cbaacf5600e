// Never hang an allocation: a thread that aborts the whole job when the training
// loop makes no progress for timeout_s (a dead peer blocks MPI collectives forever,
// since MPI has no timeouts of its own). The message names the rank, the step and
// the phase it was stuck in.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace elbo {

class MpiContext;

class Watchdog {
 public:
  Watchdog(const MpiContext& mpi, double timeout_s);
  ~Watchdog();
  // Marks progress; `phase` must be a string literal.
  void beat(int64_t step, const char* phase);

 private:
  void run();
  const MpiContext& mpi_;
  double timeout_s_;
  std::atomic<int64_t> last_beat_ns_;
  std::atomic<int64_t> step_{0};
  std::atomic<const char*> phase_{"start"};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace elbo
