#include "elbo/train/watchdog.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "elbo/dist/mpi_context.h"
#include "elbo/dist/pause_detector.h"

namespace elbo {
Watchdog::Watchdog(const MpiContext& mpi, double timeout_s, double peer_timeout_s)
    : mpi_(mpi), timeout_s_(timeout_s), last_beat_ns_(steady_now_ns()), heartbeat_(mpi, peer_timeout_s) {
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::beat(int64_t step, const char* phase) {
  step_ = step;
  phase_ = phase;
  last_beat_ns_ = steady_now_ns();
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mu_);
  PauseDetector pauses(steady_now_ns());
  // The no-progress clock runs from the last beat, moved on by the pauses of this process
  // since (as the heartbeat's silence clock is).
  int64_t beat_seen = last_beat_ns_.load(), counted_from = beat_seen;
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (stop_) break;
    const int64_t now = steady_now_ns(), forgiven = pauses.begin_tick(now);
    if (const double silent = heartbeat_.tick(now, forgiven)) {
      std::fprintf(stderr,
                   "elbo: rank %d: rank %d has sent no heartbeat for %.0f s: it is frozen (stopped by SIGSTOP or a "
                   "debugger, swapped out) or its node is unreachable. Aborting the job (dist.peer_timeout_s = %.0f; "
                   "this rank was at step %lld, phase: %s).\n",
                   mpi_.rank(), heartbeat_.previous_rank(), silent, heartbeat_.timeout_s(),
                   static_cast<long long>(step_.load()), phase_.load());
      std::fflush(stderr);
      mpi_.abort(3);
    }
    if (const int64_t beat = last_beat_ns_.load(); beat != beat_seen) beat_seen = counted_from = beat;
    counted_from = std::min(now, counted_from + forgiven);
    const double idle = double(now - counted_from) * 1e-9;
    if (idle > timeout_s_) {
      std::fprintf(stderr,
                   "elbo: rank %d: no progress for %.0f s at step %lld (phase: %s); another rank has probably died "
                   "or hangs. Aborting the job (no-progress limit %.0f s, from dist.timeout_s).\n",
                   mpi_.rank(), idle, static_cast<long long>(step_.load()), phase_.load(), timeout_s_);
      std::fflush(stderr);
      mpi_.abort(3);
    }
    pauses.end_tick(steady_now_ns());
  }
}

}  // namespace elbo
