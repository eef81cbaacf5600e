#include "elbo/dist/peer_heartbeat.h"

#include "elbo/dist/mpi_context.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace elbo {
namespace {

// Heartbeats travel on MPI_COMM_WORLD with tags of their own (nothing in elbo receives
// with MPI_ANY_TAG). Each heartbeat of a process gets the next tag: every rank builds
// them in the same order, so a "leaving" beat that reached a rank after its heartbeat
// had stopped listening is never taken for the next one's.
constexpr int kFirstTag = 20000, kTagCount = 10000;
constexpr int64_t kLeaving = -1;

// Tests *request until it completes (true) or the deadline passes or MPI reports an error
// (false: its buffer may still be in MPI's hands).
bool complete_before(MPI_Request* request, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int done = 0;
    if (MPI_Test(request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      *request = MPI_REQUEST_NULL;  // no longer waited on; its buffer may still be MPI's
      return false;
    }
    if (done) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

int next_tag() {
  static int generation = 0;  // constructed on the main thread only
  return kFirstTag + generation++ % kTagCount;
}

}  // namespace

PeerHeartbeat::PeerHeartbeat(const MpiContext& mpi, double timeout_s)
    : comm_(mpi.comm()), tag_(next_tag()), timeout_s_(timeout_s) {
  // Agreed, not decided per rank: MPI grants the thread level per process, and a rank
  // listening to one that never beats would take it for frozen. The collective also lines
  // the ranks up, so that no rank's silence clock starts long before its neighbour's.
  // (timeout and world are the same on every rank: the config is compared at start.)
  enabled_ = timeout_s > 0 && mpi.world() > 1 && mpi.allreduce_max(mpi.thread_multiple() ? 0 : 1) == 0;
  if (!enabled_) return;
  next_ = (mpi.rank() + 1) % mpi.world();
  prev_ = (mpi.rank() + mpi.world() - 1) % mpi.world();
  post_receive();
}

PeerHeartbeat::~PeerHeartbeat() {
  if (!enabled_) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                                std::chrono::duration<double>(kGoodbyeSeconds));
  // The leaving beat has a buffer of its own, so it goes out even while the last regular
  // beat is still in flight (a slow successor would otherwise take this rank for frozen).
  MPI_Request leaving = MPI_REQUEST_NULL;
  beats_->leaving = kLeaving;
  if (sending_ && MPI_Isend(&beats_->leaving, 1, MPI_INT64_T, next_, tag_, comm_, &leaving) != MPI_SUCCESS)
    leaving = MPI_REQUEST_NULL;
  if (recv_ != MPI_REQUEST_NULL) MPI_Cancel(&recv_);
  bool clean = !buffers_lent_;
  for (MPI_Request* request : {&send_, &leaving, &recv_})
    if (*request != MPI_REQUEST_NULL && !complete_before(request, deadline)) clean = false;
  if (clean) return;
  // A peer that has gone: leave the requests to MPI, and their bytes with them.
  for (MPI_Request* request : {&send_, &leaving, &recv_})
    if (*request != MPI_REQUEST_NULL) MPI_Request_free(request);
  beats_.release();  // NOLINT: deliberately leaked, MPI may still write or read it
}

void PeerHeartbeat::post_receive() {
  if (MPI_Irecv(&beats_->in, 1, MPI_INT64_T, prev_, tag_, comm_, &recv_) != MPI_SUCCESS) {
    recv_ = MPI_REQUEST_NULL;
    prev_left_ = true;  // cannot listen: judge nothing rather than raise a false alarm
  }
}

double PeerHeartbeat::tick(int64_t now_ns, int64_t forgiven_ns) {
  if (!enabled_) return 0;
  if (!ticked_) {
    last_heard_ns_ = now_ns;  // the clock starts here, after the collective that lined the ranks up
    ticked_ = true;
  }
  last_heard_ns_ = std::min(now_ns, last_heard_ns_ + forgiven_ns);  // we were paused: nobody's silence
  int done = 0;
  if (send_ != MPI_REQUEST_NULL && MPI_Test(&send_, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
    send_ = MPI_REQUEST_NULL;  // not waited on again, and its buffer never freed
    sending_ = false;
    buffers_lent_ = true;
  }
  if (sending_ && send_ == MPI_REQUEST_NULL) {
    ++beats_->out;  // the buffer is ours again once the last send completed
    if (MPI_Isend(&beats_->out, 1, MPI_INT64_T, next_, tag_, comm_, &send_) != MPI_SUCCESS) {
      send_ = MPI_REQUEST_NULL;
      sending_ = false;  // the next rank is gone; the launcher reports that
    }
  }
  while (!prev_left_) {
    int arrived = 0;
    if (MPI_Test(&recv_, &arrived, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      recv_ = MPI_REQUEST_NULL;
      prev_left_ = true;
      break;
    }
    if (!arrived) break;
    last_heard_ns_ = now_ns;
    if (beats_->in == kLeaving) prev_left_ = true;
    else post_receive();
  }
  if (prev_left_) return 0;
  const double silent_s = double(now_ns - last_heard_ns_) * 1e-9;
  return silent_s > timeout_s_ ? silent_s : 0;
}

}  // namespace elbo
