// Liveness of the other ranks, independent of what their training loops are doing.
//
// The watchdog's progress timeout (dist.timeout_s) must outlast the longest legitimate
// phase of any rank (a checkpoint of a large model, a validation pass, the first step's
// graph capture), so it is minutes long. A rank that is frozen (SIGSTOP, a debugger, a
// node swapping itself to death or unreachable) would hold the whole allocation that
// long, and the ranks waiting for it could only say that "another rank" hangs.
//
// So each rank's watchdog thread sends a small heartbeat to the next rank in a ring
// every tick and listens for the previous rank's. A busy rank still beats (its watchdog
// thread is not the training loop); a frozen one does not, and its successor names it
// after dist.peer_timeout_s, one message for the job. A rank that leaves (training
// finished, or it stops with an error) says so with its last beat, so its successor does
// not mistake the silence for a freeze. A rank killed outright is the launcher's to
// report (mpirun and srun end the job when a task dies).
//
// Needs MPI_THREAD_MULTIPLE (the watchdog thread calls MPI while the main thread is in a
// collective); without it, and on one rank, the heartbeat is off.
#pragma once
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <memory>

namespace elbo {

class MpiContext;

// The clock that PeerHeartbeat::tick and PauseDetector are given: steady, in nanoseconds.
inline int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class PeerHeartbeat {
 public:
  // Constructed on the main thread; ticks run on one other thread only. timeout_s <= 0
  // turns it off. The silence clock starts at the first tick, after the collective that
  // lines the ranks up.
  PeerHeartbeat(const MpiContext& mpi, double timeout_s);
  // Sends the "leaving" beat and cancels the pending receive (main thread, after the
  // ticking thread has stopped). Never blocks for long: MPI_Finalize does not line the
  // ranks up, so the next rank may already have exited, and a send to it (or a new TCP
  // connection to it) would never complete. After kGoodbyeSeconds the requests are
  // abandoned to MPI together with their buffers.
  ~PeerHeartbeat();
  static constexpr double kGoodbyeSeconds = 1.0;
  PeerHeartbeat(const PeerHeartbeat&) = delete;
  PeerHeartbeat& operator=(const PeerHeartbeat&) = delete;

  bool enabled() const { return enabled_; }
  int previous_rank() const { return prev_; }
  double timeout_s() const { return timeout_s_; }

  // Sends this rank's beat and takes the previous rank's (now_ns: steady clock). Returns
  // the seconds since the previous rank was last heard from when that exceeds the
  // timeout (it is frozen), else 0.
  // forgiven_ns: time this process itself was not running (dist/pause_detector.h), which
  // is not the previous rank's silence: it may have been paused with us.
  double tick(int64_t now_ns, int64_t forgiven_ns = 0);

 private:
  void post_receive();

  MPI_Comm comm_;
  int tag_;
  bool enabled_ = false;
  bool sending_ = true;
  double timeout_s_;
  int next_ = 0, prev_ = 0;
  MPI_Request send_ = MPI_REQUEST_NULL, recv_ = MPI_REQUEST_NULL;
  // On the heap: MPI may still own them when the heartbeat is gone (see the destructor).
  struct Beats {
    int64_t out = 0, in = 0, leaving = 0;
  };
  std::unique_ptr<Beats> beats_ = std::make_unique<Beats>();
  bool prev_left_ = false;
  int64_t last_heard_ns_ = 0;
  bool ticked_ = false;
  bool buffers_lent_ = false;  // a failed request may still hold them: never freed
};

}  // namespace elbo
