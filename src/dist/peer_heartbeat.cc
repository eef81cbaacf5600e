#include "elbo/dist/peer_heartbeat.h"

#include "elbo/dist/mpi_context.h"

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
  if (!enabled_) {
    delete beats_;
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(kGoodbyeSeconds));
  // The last beat must be done with its buffer before the buffer is reused.
  bool clean = send_ == MPI_REQUEST_NULL || complete_before(&send_, deadline);
  if (clean && sending_) {
    beats_->out = kLeaving;
    if (MPI_Isend(&beats_->out, 1, MPI_INT64_T, next_, tag_, comm_, &send_) != MPI_SUCCESS)
      send_ = MPI_REQUEST_NULL;
    else
      clean = complete_before(&send_, deadline);
  }
  if (recv_ != MPI_REQUEST_NULL) {
    MPI_Cancel(&recv_);
    clean = complete_before(&recv_, deadline) && clean;
  }
  if (clean) {
    delete beats_;
    return;
  }
  // A peer that has gone: leave the requests to MPI and their 16 bytes with them.
  if (send_ != MPI_REQUEST_NULL) MPI_Request_free(&send_);
  if (recv_ != MPI_REQUEST_NULL) MPI_Request_free(&recv_);
}

void PeerHeartbeat::post_receive() {
  if (MPI_Irecv(&beats_->in, 1, MPI_INT64_T, prev_, tag_, comm_, &recv_) != MPI_SUCCESS) {
    recv_ = MPI_REQUEST_NULL;
    prev_left_ = true;  // cannot listen: judge nothing rather than raise a false alarm
  }
}

double PeerHeartbeat::tick(int64_t now_ns) {
  if (!enabled_) return 0;
  if (last_tick_ns_ == 0) {
    last_heard_ns_ = now_ns;
  } else if (const int64_t gap = now_ns - last_tick_ns_; double(gap) * 1e-9 > kPausedAfterSeconds) {
    last_heard_ns_ += gap;  // we were paused: that time is nobody's silence
  }
  last_tick_ns_ = now_ns;
  int done = 0;
  if (send_ != MPI_REQUEST_NULL && MPI_Test(&send_, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) sending_ = false;
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
