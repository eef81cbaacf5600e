// Never hang an allocation: a thread that aborts the whole job when the training
// loop makes no progress for timeout_s (a dead peer blocks MPI collectives forever,
// since MPI has no timeouts of its own), or when the previous rank in the heartbeat
// ring has been silent for peer_timeout_s (a frozen rank: dist/peer_heartbeat.h). The
// message names the rank, the step and the phase it was stuck in, or the frozen rank.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "elbo/dist/peer_heartbeat.h"

namespace elbo {

class MpiContext;

class Watchdog {
 public:
  // Collective when peer_timeout_s > 0 on several ranks: every rank builds its watchdog
  // at the same point. peer_timeout_s <= 0 turns the heartbeat off.
  Watchdog(const MpiContext& mpi, double timeout_s, double peer_timeout_s = 0);
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
  PeerHeartbeat heartbeat_;  // ticked by thread_ only
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace elbo
