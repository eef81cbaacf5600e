#include "elbo/dist/peer_heartbeat.h"

#include "elbo/dist/mpi_context.h"

namespace elbo {
namespace {

// Heartbeats travel on MPI_COMM_WORLD with tags of their own (nothing in elbo receives
// with MPI_ANY_TAG). Each heartbeat of a process gets the next tag: every rank builds
// them in the same order, so a "leaving" beat that reached a rank after its heartbeat
// had stopped listening is never taken for the next one's.
constexpr int kFirstTag = 20000, kTagCount = 10000;
constexpr int64_t kLeaving = -1;

int next_tag() {
  static int generation = 0;  // constructed on the main thread only
  return kFirstTag + generation++ % kTagCount;
}

}  // namespace

PeerHeartbeat::PeerHeartbeat(const MpiContext& mpi, double timeout_s, int64_t now_ns)
    : comm_(mpi.comm()), tag_(next_tag()), timeout_s_(timeout_s), last_heard_ns_(now_ns) {
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
  // The last beat must be done with its buffer before the buffer is reused (a few
  // bytes, sent eagerly: complete at once in practice).
  if (send_ != MPI_REQUEST_NULL) MPI_Wait(&send_, MPI_STATUS_IGNORE);
  if (sending_) {
    out_beat_ = kLeaving;
    if (MPI_Isend(&out_beat_, 1, MPI_INT64_T, next_, tag_, comm_, &send_) == MPI_SUCCESS)
      MPI_Wait(&send_, MPI_STATUS_IGNORE);
  }
  if (recv_ != MPI_REQUEST_NULL) {
    MPI_Cancel(&recv_);
    MPI_Wait(&recv_, MPI_STATUS_IGNORE);
  }
}

void PeerHeartbeat::post_receive() {
  if (MPI_Irecv(&in_beat_, 1, MPI_INT64_T, prev_, tag_, comm_, &recv_) != MPI_SUCCESS) {
    recv_ = MPI_REQUEST_NULL;
    prev_left_ = true;  // cannot listen: judge nothing rather than raise a false alarm
  }
}

double PeerHeartbeat::tick(int64_t now_ns) {
  if (!enabled_) return 0;
  int done = 0;
  if (send_ != MPI_REQUEST_NULL && MPI_Test(&send_, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) sending_ = false;
  if (sending_ && send_ == MPI_REQUEST_NULL) {
    ++out_beat_;  // the buffer is ours again once the last send completed
    if (MPI_Isend(&out_beat_, 1, MPI_INT64_T, next_, tag_, comm_, &send_) != MPI_SUCCESS) {
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
    if (in_beat_ == kLeaving) prev_left_ = true;
    else post_receive();
  }
  if (prev_left_) return 0;
  const double silent_s = double(now_ns - last_heard_ns_) * 1e-9;
  return silent_s > timeout_s_ ? silent_s : 0;
}

}  // namespace elbo
